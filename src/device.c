/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "device.h"
#include "error.h"
#include "i8042.h"
#include "keyval.h"
#include "layout.h"
#include "migration/vmstate.h"
#include "pci.h"
#include "pm.h"
#include "rtc.h"
#include "serial.h"
#include "vm.h"
#include "virtio/virtio-balloon.h"
#include "virtio/virtio-blk.h"
#include "virtio/virtio-net.h"
#include "virtio/virtio-rng.h"

#define DEVICE_MAX_SECTION (16 * MiB)   /* a device's state, bounded */

/*
 * The board: what the machine is made of besides -device, created in this
 * order (before any -device), reset, paused and saved in it. UARTs exist
 * as many as -serial asks for, in port order.
 */
static const struct {
    const DeviceClass *cls;
    unsigned int index;
} board_table[] = {
    { &serial_class, 0 },
    { &serial_class, 1 },
    { &serial_class, 2 },
    { &serial_class, 3 },
    { &i8042_class, 0 },
    { &rtc_class, 0 },
    { &pm_class, 0 },
    { &pci_host_class, 0 },
};

/* -device driver names, sorted; aliases point at the same class. */
static const DeviceDriver device_drivers[] = {
    { "virtio-balloon", &virtio_balloon_pci_class, "PCI", "Misc devices" },
    { "virtio-balloon-pci", &virtio_balloon_pci_class, "PCI",
      "Misc devices" },
    { "virtio-blk", &virtio_blk_pci_class, "PCI", "Storage devices" },
    { "virtio-blk-pci", &virtio_blk_pci_class, "PCI", "Storage devices" },
    { "virtio-net", &virtio_net_pci_class, "PCI", "Network devices" },
    { "virtio-net-pci", &virtio_net_pci_class, "PCI", "Network devices" },
    { "virtio-rng", &virtio_rng_pci_class, "PCI", "Misc devices" },
    { "virtio-rng-pci", &virtio_rng_pci_class, "PCI", "Misc devices" },
};

const DeviceDriver *devices_drivers(size_t *n)
{
    *n = G_N_ELEMENTS(device_drivers);
    return device_drivers;
}

const DeviceClass *devices_find_driver(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(device_drivers); i++) {
        if (g_str_equal(device_drivers[i].name, name)) {
            return device_drivers[i].cls;
        }
    }
    return NULL;
}

char *device_context_qom_path(const DeviceContext *ctx, Device *dev,
                              const char *suffix)
{
    unsigned int n = 0;

    if (dev->id) {
        return g_strdup_printf("/machine/peripheral/%s%s", dev->id, suffix);
    }
    /* The board's devices are not -device entries: not counted. */
    for (guint i = 0; ctx->devices && i < ctx->devices->len; i++) {
        Device *d = g_ptr_array_index(ctx->devices, i);

        if (d != dev && !d->id && devices_find_driver(d->cls->name)) {
            n++;
        }
    }
    return g_strdup_printf("/machine/peripheral-anon/device[%u]%s", n,
                           suffix);
}

uint64_t devices_pci_window(unsigned int devfn)
{
    return LAYOUT_PCI_MMIO_START + (uint64_t)devfn * MiB;
}

/* --- properties ---------------------------------------------------------- */

static int device_cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool prop_bad_value(const DeviceClass *cls, const char *prop,
                           const char *value, const char *hint,
                           GError **errp)
{
    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                "Property '%s.%s' doesn't take value '%s'%s", cls->name,
                prop, value, hint);
    return false;
}

/* QEMU's addr=: SLOT[.FUNCTION], both hexadecimal ("0x5", "05.0"). */
static bool prop_parse_devfn(const char *value, int *devfn)
{
    char *end = NULL;
    guint64 slot, fn = 0;

    if (!g_ascii_isxdigit(value[0])) {
        return false;
    }
    slot = g_ascii_strtoull(value, &end, 16);
    if (end == value || slot > 31) {
        return false;
    }
    if (*end == '.') {
        const char *f = end + 1;

        if (!g_ascii_isxdigit(f[0])) {
            return false;
        }
        fn = g_ascii_strtoull(f, &end, 16);
        if (end == f || fn > 7) {
            return false;
        }
    }
    if (*end) {
        return false;
    }
    *devfn = (int)(slot << 3 | fn);
    return true;
}

static bool device_set_prop(Device *dev, const char *name,
                            const char *value, GError **errp)
{
    const DeviceClass *cls = dev->cls;
    const DeviceProp *p = cls->props;
    char *field;
    int devfn;

    while (p && p->name && !g_str_equal(p->name, name)) {
        p++;
    }
    if (!p || !p->name) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Property '%s.%s' not found", cls->name, name);
        return false;
    }
    field = (char *)dev + p->offset;
    switch (p->type) {
    case DEVICE_PROP_BOOL:
    case DEVICE_PROP_BOOL_NEG:
        if (!keyval_parse_bool(name, value, (bool *)field, NULL)) {
            return prop_bad_value(cls, name, value, ": use 'on' or 'off'",
                                  errp);
        }
        if (p->type == DEVICE_PROP_BOOL_NEG) {
            *(bool *)field = !*(bool *)field;
        }
        return true;
    case DEVICE_PROP_PCI_BUS:
        /* Our one root bus, under the names libvirt uses for it. */
        if (!g_str_equal(value, "pci.0") && !g_str_equal(value, "pcie.0")) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "Bus '%s' not found (%s.%s): kestrel has one PCI "
                        "bus, pci.0 (also called pcie.0)", value, cls->name,
                        name);
            return false;
        }
        return true;
    case DEVICE_PROP_MUST_BE_ON:
    case DEVICE_PROP_MUST_BE_OFF: {
        bool v;

        if (!keyval_parse_bool(name, value, &v, NULL)) {
            return prop_bad_value(cls, name, value, ": use 'on' or 'off'",
                                  errp);
        }
        if (v != (p->type == DEVICE_PROP_MUST_BE_ON)) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                        "Property '%s.%s' doesn't take value '%s': %s",
                        cls->name, name, value, p->why);
            return false;
        }
        return true;
    }
    case DEVICE_PROP_PCI_ADDR:
        if (!prop_parse_devfn(value, &devfn)) {
            return prop_bad_value(cls, name, value,
                                  ": expected SLOT[.FUNCTION] in "
                                  "hexadecimal, slot at most 0x1f", errp);
        }
        if (devfn & 7) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                        "Property '%s.%s' doesn't take value '%s': kestrel "
                        "has no multifunction devices, use function 0",
                        cls->name, name, value);
            return false;
        }
        if (devfn == 0) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "PCI: slot 0 function 0 not available for %s, in "
                        "use by pcie-host-bridge", cls->name);
            return false;
        }
        *(int *)field = devfn;
        return true;
    case DEVICE_PROP_STR:
        g_free(*(char **)field);
        *(char **)field = g_strdup(value);
        return true;
    case DEVICE_PROP_U32: {
        uint64_t v;

        if (!keyval_parse_uint(name, value, UINT32_MAX, &v, NULL)) {
            return prop_bad_value(cls, name, value, ": expected a number",
                                  errp);
        }
        if (v < p->min || v > p->max) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "Property '%s.%s' doesn't take value '%s': the "
                        "range is %u to %u", cls->name, name, value, p->min,
                        p->max);
            return false;
        }
        *(uint32_t *)field = (uint32_t)v;
        return true;
    }
    }
    return true;
}

static bool device_set_props(Device *dev, const DeviceConfig *dc,
                             GError **errp)
{
    g_autofree const char **keys = NULL;
    guint n = 0;

    if (!dc->props) {
        return true;
    }
    /* Sorted, so that of several bad properties the same one is named
     * every time. */
    keys = (const char **)g_hash_table_get_keys_as_array(dc->props, &n);
    qsort(keys, n, sizeof(*keys), device_cmp_str);
    for (guint i = 0; i < n; i++) {
        const char *value = g_hash_table_lookup(dc->props, keys[i]);

        if (!device_set_prop(dev, keys[i], value ? value : "on", errp)) {
            return false;
        }
    }
    return true;
}

/* --- the device list ----------------------------------------------------- */

static void device_free(Device *dev)
{
    if (dev->cls->unrealize) {
        dev->cls->unrealize(dev);
    }
    for (const DeviceProp *p = dev->cls->props; p && p->name; p++) {
        if (p->type == DEVICE_PROP_STR) {
            g_free(*(char **)((char *)dev + p->offset));
        }
    }
    g_free(dev->id);
    g_free(dev);
}

/* How MSI-X messages and INTx lines reach KVM (PciIrqOps). */
static void devices_msi(void *opaque, uint64_t addr, uint32_t data)
{
    Vm *vm = opaque;

    kvm_signal_msi(vm->kvm, addr, data);
}

static void devices_intx(void *opaque, unsigned int gsi, bool level)
{
    Vm *vm = opaque;

    /* What vm_set_irq() does; called directly so that device.o does not
     * drag vm.o (and the whole VMM) into the unit tests. */
    kvm_irq_line(vm->kvm, gsi, level);
}

static bool devices_route(void *opaque, int *gsi, int fd, uint64_t addr,
                          uint32_t data)
{
    Vm *vm = opaque;
    g_autoptr(GError) err = NULL;
    bool ok = false;
    int g;

    /* The routing table is the VM's, shared by every device. */
    g_mutex_lock(&vm->irq_lock);
    g = kvm_irq_routing_set_msi(vm->irq_routing, *gsi, addr, data, &err);
    if (g >= 0 && *gsi < 0) {
        if (kvm_irqfd(vm->kvm, fd, (uint32_t)g, true, &err)) {
            *gsi = g;
            ok = true;
        } else {
            kvm_irq_routing_remove(vm->irq_routing, g);
        }
    } else {
        ok = g >= 0;
    }
    g_mutex_unlock(&vm->irq_lock);
    if (!ok) {
        /* Delivery still works through KVM_SIGNAL_MSI. */
        fprintf(stderr, "kestrel: MSI route: %s\n", err->message);
    }
    return ok;
}

static void devices_unroute(void *opaque, int gsi, int fd)
{
    Vm *vm = opaque;

    g_mutex_lock(&vm->irq_lock);
    kvm_irqfd(vm->kvm, fd, (uint32_t)gsi, false, NULL);
    kvm_irq_routing_remove(vm->irq_routing, gsi);
    g_mutex_unlock(&vm->irq_lock);
}

static const PciIrqOps devices_irq_ops = {
    .msi = devices_msi,
    .intx = devices_intx,
    .route = devices_route,
    .unroute = devices_unroute,
};

static Device *device_alloc(const DeviceClass *cls)
{
    Device *dev = g_malloc0(cls->instance_size);

    dev->cls = cls;
    dev->devfn = -1;
    if (cls->instance_init) {
        cls->instance_init(dev);
    }
    return dev;
}

bool devices_realize(Vm *vm, const DeviceContext *board, GError **errp)
{
    const VmConfig *cfg = vm->cfg;
    DeviceContext ctx = *board;

    g_mutex_init(&vm->irq_lock);
    vm->devices = g_ptr_array_new_with_free_func((GDestroyNotify)device_free);
    vm->irq_routing = kvm_irq_routing_new(vm->kvm);
    ctx.devices = vm->devices;
    ctx.pci_irq_ops = &devices_irq_ops;
    ctx.pci_irq_opaque = vm;

    for (size_t i = 0; i < G_N_ELEMENTS(board_table); i++) {
        const DeviceClass *cls = board_table[i].cls;
        Device *dev;

        if (cls == &serial_class && board_table[i].index >= ctx.nr_serials) {
            continue;
        }
        dev = device_alloc(cls);
        dev->index = board_table[i].index;
        /* In the list before realize: unrealize cleans up a failure. */
        g_ptr_array_add(vm->devices, dev);
        if (!cls->realize(dev, &ctx, errp)) {
            return false;
        }
        if (cls == &pci_host_class) {
            ctx.pci = (PciHost *)dev;
        }
    }

    for (guint i = 0; i < cfg->devices->len; i++) {
        const DeviceConfig *dc = g_ptr_array_index(cfg->devices, i);
        const DeviceClass *cls = devices_find_driver(dc->driver);
        Device *dev;

        if (!cls) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                        "'%s' is not a valid device model name", dc->driver);
            return false;
        }
        dev = device_alloc(cls);
        dev->id = g_strdup(dc->id);
        if (!device_set_props(dev, dc, errp)) {
            g_free(dev->id);
            g_free(dev);
            return false;
        }
        /* In the list before realize: unrealize cleans up a failure. */
        g_ptr_array_add(vm->devices, dev);
        if (!cls->realize(dev, &ctx, errp)) {
            return false;
        }
    }
    return true;
}

void devices_unrealize(Vm *vm)
{
    if (!vm->devices) {
        return;
    }
    /* Reverse order of creation. */
    while (vm->devices->len) {
        g_ptr_array_remove_index(vm->devices, vm->devices->len - 1);
    }
    g_ptr_array_free(vm->devices, TRUE);
    vm->devices = NULL;
    kvm_irq_routing_free(vm->irq_routing);
    vm->irq_routing = NULL;
    g_mutex_clear(&vm->irq_lock);
}

void devices_reset(Vm *vm)
{
    for (guint i = 0; vm->devices && i < vm->devices->len; i++) {
        Device *dev = g_ptr_array_index(vm->devices, i);

        if (dev->cls->reset) {
            dev->cls->reset(dev);
        }
    }
}

Device *devices_find(Vm *vm, const char *id)
{
    for (guint i = 0; id && vm->devices && i < vm->devices->len; i++) {
        Device *dev = g_ptr_array_index(vm->devices, i);

        if (g_strcmp0(dev->id, id) == 0) {
            return dev;
        }
    }
    return NULL;
}

static Device *device_list_find(GPtrArray *devices, const DeviceClass *cls,
                                int index)
{
    for (guint i = 0; devices && i < devices->len; i++) {
        Device *dev = g_ptr_array_index(devices, i);

        if (dev->cls == cls && (index < 0 || dev->index == (guint)index)) {
            return dev;
        }
    }
    return NULL;
}

Device *devices_find_class(Vm *vm, const DeviceClass *cls)
{
    return device_list_find(vm->devices, cls, -1);
}

Device *devices_find_board(Vm *vm, const DeviceClass *cls,
                           unsigned int index)
{
    return device_list_find(vm->devices, cls, (int)index);
}

Device *device_context_find_class(const DeviceContext *ctx,
                                  const DeviceClass *cls)
{
    return device_list_find(ctx->devices, cls, -1);
}

/* --- pause, state ------------------------------------------------------- */

void devices_pause(Vm *vm)
{
    /* Reverse order: -device first, the board (which they use) last. */
    for (guint i = vm->devices ? vm->devices->len : 0; i > 0; i--) {
        Device *dev = g_ptr_array_index(vm->devices, i - 1);

        if (dev->cls->pause) {
            dev->cls->pause(dev);
        }
    }
}

void devices_resume(Vm *vm)
{
    for (guint i = 0; vm->devices && i < vm->devices->len; i++) {
        Device *dev = g_ptr_array_index(vm->devices, i);

        if (dev->cls->resume) {
            dev->cls->resume(dev);
        }
    }
}

const VmsDesc *const *devices_vmsd_list(size_t *n)
{
    /* Every class that can exist: the board's and the -device drivers'
     * (a class's vmsd is not a constant expression: built once). */
    static const VmsDesc *list[G_N_ELEMENTS(board_table) +
                               G_N_ELEMENTS(device_drivers) + 1];
    static gsize done;

    if (g_once_init_enter(&done)) {
        size_t k = 0;

        for (size_t i = 0; i < G_N_ELEMENTS(board_table) +
             G_N_ELEMENTS(device_drivers); i++) {
            const DeviceClass *cls = i < G_N_ELEMENTS(board_table)
                ? board_table[i].cls
                : device_drivers[i - G_N_ELEMENTS(board_table)].cls;
            bool seen = false;

            for (size_t j = 0; j < k; j++) {
                seen |= list[j] == cls->vmsd;
            }
            if (cls->vmsd && !seen) {
                list[k++] = cls->vmsd;
            }
        }
        list[k] = NULL;
        g_once_init_leave(&done, k + 1);
    }
    *n = done - 1;
    return list;
}

/* Device @upto's instance id: how many before it have its section name. */
static guint device_instance_id(Vm *vm, guint upto)
{
    Device *dev = g_ptr_array_index(vm->devices, upto);
    guint id = 0;

    for (guint i = 0; i < upto; i++) {
        Device *o = g_ptr_array_index(vm->devices, i);

        if (o->cls->vmsd && g_str_equal(o->cls->vmsd->name,
                                        dev->cls->vmsd->name)) {
            id++;
        }
    }
    return id;
}

static void put_u32(GByteArray *out, uint32_t v)
{
    bytes_append_le(out, v, 4);
}

bool devices_save_state(Vm *vm, GByteArray *out, GError **errp)
{
    for (guint i = 0; vm->devices && i < vm->devices->len; i++) {
        Device *dev = g_ptr_array_index(vm->devices, i);
        const VmsDesc *d = dev->cls->vmsd;
        size_t name_len, len_at;
        uint32_t len;
        uint8_t nl;

        if (!d) {
            continue;
        }
        name_len = strlen(d->name);
        g_assert(name_len > 0 && name_len < 256);
        nl = (uint8_t)name_len;
        g_byte_array_append(out, &nl, 1);
        g_byte_array_append(out, (const guint8 *)d->name, (guint)name_len);
        put_u32(out, device_instance_id(vm, i));
        len_at = out->len;
        put_u32(out, 0);
        if (!vms_save(d, dev, out, errp)) {
            g_prefix_error(errp, "device '%s' instance %u: ", d->name,
                           device_instance_id(vm, i));
            return false;
        }
        len = (uint32_t)(out->len - len_at - 4);
        for (int k = 0; k < 4; k++) {
            out->data[len_at + k] = (uint8_t)(len >> (8 * k));
        }
    }
    g_byte_array_append(out, (const guint8 *)"", 1);
    return true;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

bool devices_load_state(Vm *vm, const uint8_t *buf, size_t len,
                        GError **errp)
{
    guint n = vm->devices ? vm->devices->len : 0;
    g_autofree bool *loaded = g_new0(bool, n + 1);
    size_t pos = 0;

    for (;;) {
        char name[256];
        uint32_t inst, slen;
        size_t nl;
        Device *dev = NULL;
        guint idx = 0;
        VmsReader r;

        if (pos >= len) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "device state: truncated (no end marker)");
            return false;
        }
        nl = buf[pos++];
        if (nl == 0) {
            break;
        }
        if (len - pos < nl + 8) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "device state: truncated section header");
            return false;
        }
        memcpy(name, buf + pos, nl);
        name[nl] = '\0';
        g_strcanon(name, G_CSET_a_2_z G_CSET_A_2_Z G_CSET_DIGITS "-_/.",
                   '?');
        pos += nl;
        inst = get_u32(buf + pos);
        slen = get_u32(buf + pos + 4);
        pos += 8;
        if (slen > len - pos || slen > DEVICE_MAX_SECTION) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "device '%s' instance %u: section of %u bytes is "
                        "truncated or too large", name, inst, slen);
            return false;
        }
        for (guint i = 0; i < n; i++) {
            Device *o = g_ptr_array_index(vm->devices, i);

            if (o->cls->vmsd && g_str_equal(o->cls->vmsd->name, name) &&
                device_instance_id(vm, i) == inst) {
                dev = o;
                idx = i;
                break;
            }
        }
        if (!dev) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "device '%s' instance %u: unknown section, this VM "
                        "has no such device", name, inst);
            return false;
        }
        if (loaded[idx]) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "device '%s' instance %u: section repeated", name,
                        inst);
            return false;
        }
        loaded[idx] = true;
        r = vms_reader(buf + pos, slen);
        if (!vms_load(dev->cls->vmsd, dev, &r, errp)) {
            g_prefix_error(errp, "device '%s' instance %u: ", name, inst);
            return false;
        }
        if (r.pos != r.len) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "device '%s' instance %u: %zu unexpected bytes at "
                        "the end of its section", name, inst, r.len - r.pos);
            return false;
        }
        pos += slen;
    }
    if (pos != len) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "device state: %zu bytes after the end marker",
                    len - pos);
        return false;
    }
    for (guint i = 0; i < n; i++) {
        Device *dev = g_ptr_array_index(vm->devices, i);

        if (dev->cls->vmsd && !loaded[i]) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "device '%s' instance %u: missing from the stream",
                        dev->cls->vmsd->name, device_instance_id(vm, i));
            return false;
        }
    }
    return true;
}
