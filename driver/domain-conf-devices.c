/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * <disk> and <interface>: virtio-blk-pci on a raw or qcow2 image, and
 * virtio-net-pci on a tap the daemon opens.  The policy table has already
 * refused what kestrel cannot do (other buses, models, device kinds); here
 * are the values and the consistency checks, the PCI slots libvirt would
 * assign, and the XML written back.
 */
#include "config.h"

#include <inttypes.h>
#include <limits.h>
#include <string.h>

#include <libxml/tree.h>

#include "domain-conf.h"
#include "domain-conf-schema.h"
#include "drv-error.h"

#define PCI_SLOTS 32
/* libvirt's first slot for devices on an i440FX root bus: 1 is the
 * PIIX3, 2 the primary video.  kestrel has neither, but a guest moved
 * between the two roads sees the same addresses. */
#define PCI_FIRST_AUTO_SLOT 3

/* Device attributes are taken with surrounding blanks removed (paths,
 * names), as libvirt does for these. */
static char *attr(xmlNodePtr node, const char *name)
{
    char *s = domain_conf_attr(node, name);

    return s ? g_strstrip(s) : NULL;
}

static const char *const disk_format_names[] = {
    [DOMAIN_DISK_RAW] = "raw",
    [DOMAIN_DISK_QCOW2] = "qcow2",
};

const char *domain_disk_format_name(DomainDiskFormat f)
{
    return disk_format_names[f];
}

static const char *const net_type_names[] = {
    [DOMAIN_NET_ETHERNET] = "ethernet",
    [DOMAIN_NET_BRIDGE] = "bridge",
    [DOMAIN_NET_NETWORK] = "network",
};

const char *domain_net_type_name(DomainNetType t)
{
    return net_type_names[t];
}

void domain_conf_mac_format(const unsigned char mac[6], char out[18])
{
    g_snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x",
               mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

/* vda -> 0, vdz -> 25, vdaa -> 26: libvirt's disk index. */
static int disk_target_index(const char *target)
{
    int idx = 0;

    if (!target || !g_str_has_prefix(target, "vd") || !target[2]) {
        return -1;
    }
    for (const char *p = target + 2; *p; p++) {
        if (!g_ascii_islower(*p) || idx > INT_MAX / 26 - 26) {
            return -1;
        }
        idx = idx * 26 + (*p - 'a' + 1);
    }
    return idx - 1;
}

char *domain_disk_alias(const DomainDisk *d)
{
    if (d->alias) {
        return g_strdup(d->alias);
    }
    return g_strdup_printf("virtio-disk%d", disk_target_index(d->target));
}

char *domain_net_alias(const DomainNet *n, guint i)
{
    return n->alias ? g_strdup(n->alias) : g_strdup_printf("net%u", i);
}

char *domain_disk_node_name(guint i, bool format)
{
    return g_strdup_printf("libvirt-%u-%s", i + 1,
                           format ? "format" : "storage");
}

int domain_def_find_disk(const DomainDef *def, const char *name)
{
    for (guint i = 0; name && i < def->disks->len; i++) {
        const DomainDisk *d = g_ptr_array_index(def->disks, i);

        if (!g_strcmp0(d->target, name) || !g_strcmp0(d->path, name)) {
            return (int)i;
        }
    }
    return -1;
}

void domain_disk_free(gpointer p)
{
    DomainDisk *d = p;

    if (!d) {
        return;
    }
    g_free(d->path);
    g_free(d->cache);
    g_free(d->discard);
    g_free(d->error_policy);
    g_free(d->rerror_policy);
    g_free(d->serial);
    g_free(d->target);
    g_free(d->alias);
    g_free(d);
}

void domain_net_free(gpointer p)
{
    DomainNet *n = p;

    if (!n) {
        return;
    }
    g_free(n->source);
    g_free(n->ifname);
    g_free(n->alias);
    g_free(n);
}

DomainDisk *domain_disk_copy(const DomainDisk *src)
{
    DomainDisk *d = g_new(DomainDisk, 1);

    *d = *src;
    d->path = g_strdup(src->path);
    d->cache = g_strdup(src->cache);
    d->discard = g_strdup(src->discard);
    d->error_policy = g_strdup(src->error_policy);
    d->rerror_policy = g_strdup(src->rerror_policy);
    d->serial = g_strdup(src->serial);
    d->target = g_strdup(src->target);
    d->alias = g_strdup(src->alias);
    return d;
}

DomainNet *domain_net_copy(const DomainNet *src)
{
    DomainNet *n = g_new(DomainNet, 1);

    *n = *src;
    n->source = g_strdup(src->source);
    n->ifname = g_strdup(src->ifname);
    n->alias = g_strdup(src->alias);
    return n;
}

static bool disk_equal(const DomainDisk *a, const DomainDisk *b)
{
    return a->type == b->type && a->format == b->format &&
           !g_strcmp0(a->path, b->path) && !g_strcmp0(a->cache, b->cache) &&
           !g_strcmp0(a->discard, b->discard) &&
           !g_strcmp0(a->error_policy, b->error_policy) &&
           !g_strcmp0(a->rerror_policy, b->rerror_policy) &&
           a->readonly == b->readonly && a->shareable == b->shareable &&
           !g_strcmp0(a->serial, b->serial) &&
           !g_strcmp0(a->target, b->target) &&
           a->boot_order == b->boot_order && !g_strcmp0(a->alias, b->alias) &&
           a->pci_slot == b->pci_slot;
}

static bool net_equal(const DomainNet *a, const DomainNet *b)
{
    return a->type == b->type && !memcmp(a->mac, b->mac, 6) &&
           !g_strcmp0(a->source, b->source) &&
           !g_strcmp0(a->ifname, b->ifname) &&
           a->boot_order == b->boot_order && !g_strcmp0(a->alias, b->alias) &&
           a->pci_slot == b->pci_slot;
}

bool domain_devices_equal(const DomainDef *a, const DomainDef *b)
{
    if (a->disks->len != b->disks->len || a->nets->len != b->nets->len) {
        return false;
    }
    for (guint i = 0; i < a->disks->len; i++) {
        if (!disk_equal(g_ptr_array_index(a->disks, i),
                        g_ptr_array_index(b->disks, i))) {
            return false;
        }
    }
    for (guint i = 0; i < a->nets->len; i++) {
        if (!net_equal(g_ptr_array_index(a->nets, i),
                       g_ptr_array_index(b->nets, i))) {
            return false;
        }
    }
    return true;
}

/* ---- parsing ----------------------------------------------------------- */

static bool parse_number(const char *str, uint64_t max, uint64_t *out)
{
    bool hex = g_str_has_prefix(str, "0x");
    guint64 v;

    if (!g_ascii_string_to_unsigned(hex ? str + 2 : str, hex ? 16 : 10, 0,
                                    max, &v, NULL)) {
        return false;
    }
    *out = v;
    return true;
}

/* <address type='pci'>: bus 0, function 0, slots 1..31; 0 if absent. */
static bool parse_address(xmlNodePtr dev, const char *what,
                          unsigned int *slot, GError **errp)
{
    static const char *const keys[] = { "domain", "bus", "slot",
                                        "function" };
    xmlNodePtr addr = domain_conf_child(dev, "address");
    uint64_t a[4] = { 0, 0, 0, 0 };

    *slot = 0;
    if (!addr) {
        return true;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
        g_autofree char *s = attr(addr, keys[i]);

        if (s && !parse_number(s, UINT32_MAX, &a[i])) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                        "invalid value '%s' for attribute '%s' of the PCI "
                        "address of %s", s, keys[i], what);
            return false;
        }
    }
    if (a[0] || a[1] || a[3] || a[2] < 1 || a[2] >= PCI_SLOTS) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                    "PCI address %04" PRIx64 ":%02" PRIx64 ":%02" PRIx64
                    ".%" PRIx64 " of %s " NOT_SUPPORTED ": kestrel has one "
                    "PCI bus (0000:00), slots 1 to 31 and function 0",
                    a[0], a[1], a[2], a[3], what);
        return false;
    }
    *slot = (unsigned int)a[2];
    return true;
}

static bool parse_boot(xmlNodePtr dev, const char *what, unsigned int *order,
                       GError **errp)
{
    g_autofree char *s = attr(domain_conf_child(dev, "boot"), "order");
    uint64_t v;

    *order = 0;
    if (!s) {
        return true;
    }
    if (!parse_number(s, INT_MAX, &v) || v == 0) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                    "incorrect boot order '%s' of %s, expecting a positive "
                    "integer", s, what);
        return false;
    }
    *order = (unsigned int)v;
    return true;
}

static DomainDisk *parse_disk(xmlNodePtr node, GError **errp)
{
    g_autoptr(GPtrArray) hold = g_ptr_array_new_with_free_func(
        domain_disk_free);
    DomainDisk *d = g_new0(DomainDisk, 1);
    xmlNodePtr drv = domain_conf_child(node, "driver");
    g_autofree char *type = attr(node, "type");
    g_autofree char *fmt = attr(drv, "type");
    g_autofree char *what = NULL;

    g_ptr_array_add(hold, d);
    d->type = g_strcmp0(type, "block") ? DOMAIN_DISK_FILE : DOMAIN_DISK_BLOCK;
    d->format = g_strcmp0(fmt, "qcow2") ? DOMAIN_DISK_RAW : DOMAIN_DISK_QCOW2;
    d->target = attr(domain_conf_child(node, "target"), "dev");
    d->path = attr(domain_conf_child(node, "source"),
                   d->type == DOMAIN_DISK_FILE ? "file" : "dev");
    what = g_strdup_printf("disk '%s'", d->target);
    if (disk_target_index(d->target) < 0) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                    "disk target '%s' " NOT_SUPPORTED ": the targets of "
                    "virtio disks are vda, vdb, ... (kestrel has only "
                    "virtio disks)", d->target);
        return NULL;
    }
    if (!d->path || !*d->path) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                    "disk '%s' has no source " NOT_SUPPORTED ": kestrel "
                    "has no removable media; give <source %s='...'/>",
                    d->target, d->type == DOMAIN_DISK_FILE ? "file" : "dev");
        return NULL;
    }
    if (!g_path_is_absolute(d->path)) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                    "the source path '%s' of disk '%s' must be absolute",
                    d->path, d->target);
        return NULL;
    }
    d->cache = attr(drv, "cache");
    if (d->cache && g_str_equal(d->cache, "default")) {
        g_clear_pointer(&d->cache, g_free);
    }
    d->discard = attr(drv, "discard");
    if (d->discard && g_str_equal(d->discard, "default")) {
        g_clear_pointer(&d->discard, g_free);
    }
    d->error_policy = attr(drv, "error_policy");
    if (d->error_policy && g_str_equal(d->error_policy, "default")) {
        g_clear_pointer(&d->error_policy, g_free);
    }
    d->rerror_policy = attr(drv, "rerror_policy");
    if (d->rerror_policy && g_str_equal(d->rerror_policy, "default")) {
        g_clear_pointer(&d->rerror_policy, g_free);
    }
    d->readonly = domain_conf_child(node, "readonly") != NULL;
    d->shareable = domain_conf_child(node, "shareable") != NULL;
    if (d->shareable && d->format == DOMAIN_DISK_QCOW2) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                    "shareable qcow2 disk '%s' " NOT_SUPPORTED ": two "
                    "guests writing one qcow2 image corrupt it; share a "
                    "raw image", d->target);
        return NULL;
    }
    d->serial = domain_conf_text(domain_conf_child(node, "serial"));
    d->alias = domain_conf_user_alias(node);
    if (!parse_boot(node, what, &d->boot_order, errp) ||
        !parse_address(node, what, &d->pci_slot, errp)) {
        return NULL;
    }
    return g_ptr_array_steal_index(hold, 0);
}

static bool parse_mac(const char *s, unsigned char mac[6])
{
    unsigned int b[6];
    char end;

    if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
               &b[4], &b[5], &end) != 6) {
        return false;
    }
    for (int i = 0; i < 6; i++) {
        mac[i] = (unsigned char)b[i];
    }
    return true;
}

/* A libvirt-style generated address: QEMU's (and KVM's) OUI 52:54:00. */
static void mac_generate(unsigned char mac[6])
{
    mac[0] = 0x52;
    mac[1] = 0x54;
    mac[2] = 0x00;
    for (int i = 3; i < 6; i++) {
        mac[i] = (unsigned char)g_random_int_range(0, 256);
    }
}

static bool ifname_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= 16 || g_str_equal(s, ".") || g_str_equal(s, "..")) {
        return false;
    }
    for (const char *p = s; *p; p++) {
        if (*p == '/' || *p == '%' || *p == ':' || g_ascii_isspace(*p) ||
            g_ascii_iscntrl(*p)) {
            return false;
        }
    }
    return true;
}

static DomainNet *parse_net(xmlNodePtr node, guint index, GError **errp)
{
    g_autoptr(GPtrArray) hold = g_ptr_array_new_with_free_func(
        domain_net_free);
    DomainNet *n = g_new0(DomainNet, 1);
    g_autofree char *type = attr(node, "type");
    g_autofree char *mac = attr(domain_conf_child(node, "mac"), "address");
    xmlNodePtr source = domain_conf_child(node, "source");
    g_autofree char *what = g_strdup_printf("interface %u", index);

    g_ptr_array_add(hold, n);
    for (size_t i = 0; type && i < G_N_ELEMENTS(net_type_names); i++) {
        if (g_str_equal(type, net_type_names[i])) {
            n->type = (DomainNetType)i;
        }
    }
    if (mac) {
        if (!parse_mac(mac, n->mac)) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                        "unable to parse mac address '%s'", mac);
            return NULL;
        }
        if (n->mac[0] & 1) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                        "expected unicast mac address, found multicast "
                        "'%s'", mac);
            return NULL;
        }
    } else {
        mac_generate(n->mac);
    }
    switch (n->type) {
    case DOMAIN_NET_BRIDGE:
        n->source = attr(source, "bridge");
        if (!n->source || !ifname_valid(n->source)) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                        "%s of type 'bridge' needs <source bridge='NAME'/> "
                        "with a valid interface name", what);
            return NULL;
        }
        break;
    case DOMAIN_NET_NETWORK:
        n->source = attr(source, "network");
        if (!n->source || !*n->source) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                        "%s of type 'network' needs <source "
                        "network='NAME'/>", what);
            return NULL;
        }
        break;
    case DOMAIN_NET_ETHERNET:
        break;
    }
    n->ifname = attr(domain_conf_child(node, "target"), "dev");
    if (n->ifname && !ifname_valid(n->ifname)) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                    "target dev '%s' of %s is not a valid interface name "
                    "(at most 15 characters, no '/', '%%', ':' or spaces)",
                    n->ifname, what);
        return NULL;
    }
    /* As libvirt: vnetN names are handed out at start, never kept. */
    if (n->ifname && g_str_has_prefix(n->ifname, "vnet")) {
        g_clear_pointer(&n->ifname, g_free);
    }
    n->alias = domain_conf_user_alias(node);
    if (!parse_boot(node, what, &n->boot_order, errp) ||
        !parse_address(node, what, &n->pci_slot, errp)) {
        return NULL;
    }
    return g_ptr_array_steal_index(hold, 0);
}

static bool slot_take(bool used[PCI_SLOTS], unsigned int slot,
                      const char *what, GError **errp)
{
    if (used[slot]) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                    "PCI address 0000:00:%02x.0 of %s is in use by another "
                    "device", slot, what);
        return false;
    }
    used[slot] = true;
    return true;
}

static bool slot_assign(bool used[PCI_SLOTS], unsigned int *slot,
                        const char *what, GError **errp)
{
    for (unsigned int s = PCI_FIRST_AUTO_SLOT; s < PCI_SLOTS; s++) {
        if (!used[s]) {
            used[s] = true;
            *slot = s;
            return true;
        }
    }
    g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                "no free PCI slot for %s: kestrel has one PCI bus of 32 "
                "slots", what);
    return false;
}

bool domain_conf_parse_devices(DomainDef *def, xmlNodePtr devices,
                               GError **errp)
{
    bool used[PCI_SLOTS] = { true };        /* 0: the host bridge */

    for (xmlNodePtr c = devices ? devices->children : NULL; c; c = c->next) {
        const char *name = (const char *)c->name;

        if (c->type != XML_ELEMENT_NODE) {
            continue;
        }
        if (g_str_equal(name, "disk")) {
            DomainDisk *d = parse_disk(c, errp);

            if (!d) {
                return false;
            }
            g_ptr_array_add(def->disks, d);
        } else if (g_str_equal(name, "interface")) {
            DomainNet *n = parse_net(c, def->nets->len, errp);

            if (!n) {
                return false;
            }
            g_ptr_array_add(def->nets, n);
        }
    }
    for (guint i = 0; i < def->disks->len; i++) {
        DomainDisk *d = g_ptr_array_index(def->disks, i);

        for (guint j = 0; j < i; j++) {
            DomainDisk *e = g_ptr_array_index(def->disks, j);

            if (g_str_equal(d->target, e->target)) {
                g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                            "target '%s' duplicated for disk sources '%s' "
                            "and '%s'", d->target, e->path, d->path);
                return false;
            }
        }
    }

    /* Explicit addresses first (the balloon's too), then libvirt's order
     * for the others: interfaces, then disks. */
    if (def->balloon.model == DOMAIN_BALLOON_VIRTIO &&
        def->balloon.has_address) {
        used[def->balloon.pci_slot] = true;
    }
    for (guint i = 0; i < def->nets->len; i++) {
        DomainNet *n = g_ptr_array_index(def->nets, i);
        g_autofree char *what = g_strdup_printf("interface %u", i);

        if (n->pci_slot && !slot_take(used, n->pci_slot, what, errp)) {
            return false;
        }
    }
    for (guint i = 0; i < def->disks->len; i++) {
        DomainDisk *d = g_ptr_array_index(def->disks, i);
        g_autofree char *what = g_strdup_printf("disk '%s'", d->target);

        if (d->pci_slot && !slot_take(used, d->pci_slot, what, errp)) {
            return false;
        }
    }
    for (guint i = 0; i < def->nets->len; i++) {
        DomainNet *n = g_ptr_array_index(def->nets, i);
        g_autofree char *what = g_strdup_printf("interface %u", i);

        if (!n->pci_slot && !slot_assign(used, &n->pci_slot, what, errp)) {
            return false;
        }
    }
    for (guint i = 0; i < def->disks->len; i++) {
        DomainDisk *d = g_ptr_array_index(def->disks, i);
        g_autofree char *what = g_strdup_printf("disk '%s'", d->target);

        if (!d->pci_slot && !slot_assign(used, &d->pci_slot, what, errp)) {
            return false;
        }
    }
    return true;
}

/* ---- formatting -------------------------------------------------------- */

static void put(GString *out, int indent, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static void put(GString *out, int indent, const char *fmt, ...)
{
    va_list ap;

    g_string_append_printf(out, "%*s", indent * 2, "");
    va_start(ap, fmt);
    g_string_append_vprintf(out, fmt, ap);
    va_end(ap);
    g_string_append_c(out, '\n');
}

static void put_address(GString *out, unsigned int slot)
{
    if (slot) {
        put(out, 3, "<address type='pci' domain='0x0000' bus='0x00' "
            "slot='0x%02x' function='0x0'/>", slot);
    }
}

static void put_alias(GString *out, const char *alias)
{
    g_autofree char *esc = alias ? domain_conf_xml_escape(alias) : NULL;

    if (esc) {
        put(out, 3, "<alias name='%s'/>", esc);
    }
}

void domain_conf_format_disks(GString *out, const DomainDef *def,
                              bool runtime)
{
    for (guint i = 0; i < def->disks->len; i++) {
        const DomainDisk *d = g_ptr_array_index(def->disks, i);
        g_autoptr(GString) drv = g_string_new(NULL);
        g_autofree char *path = domain_conf_xml_escape(d->path);
        g_autofree char *alias = runtime ? domain_disk_alias(d)
                                         : g_strdup(d->alias);

        g_string_append_printf(drv, "<driver name='qemu' type='%s'",
                               domain_disk_format_name(d->format));
        if (d->cache) {
            g_string_append_printf(drv, " cache='%s'", d->cache);
        }
        if (d->error_policy) {
            g_string_append_printf(drv, " error_policy='%s'",
                                   d->error_policy);
        }
        if (d->rerror_policy) {
            g_string_append_printf(drv, " rerror_policy='%s'",
                                   d->rerror_policy);
        }
        if (d->discard) {
            g_string_append_printf(drv, " discard='%s'", d->discard);
        }
        put(out, 2, "<disk type='%s' device='disk'>",
            d->type == DOMAIN_DISK_FILE ? "file" : "block");
        put(out, 3, "%s/>", drv->str);
        put(out, 3, "<source %s='%s'/>",
            d->type == DOMAIN_DISK_FILE ? "file" : "dev", path);
        put(out, 3, "<target dev='%s' bus='virtio'/>", d->target);
        if (d->boot_order) {
            put(out, 3, "<boot order='%u'/>", d->boot_order);
        }
        if (d->readonly) {
            put(out, 3, "<readonly/>");
        }
        if (d->shareable) {
            put(out, 3, "<shareable/>");
        }
        if (d->serial) {
            g_autofree char *serial = domain_conf_xml_escape(d->serial);

            put(out, 3, "<serial>%s</serial>", serial);
        }
        put_alias(out, alias);
        put_address(out, d->pci_slot);
        put(out, 2, "</disk>");
    }
}

void domain_conf_format_nets(GString *out, const DomainDef *def,
                             const DomainLive *live, bool runtime)
{
    for (guint i = 0; i < def->nets->len; i++) {
        const DomainNet *n = g_ptr_array_index(def->nets, i);
        g_autofree char *source = n->source
                                  ? domain_conf_xml_escape(n->source) : NULL;
        g_autofree char *alias = runtime ? domain_net_alias(n, i)
                                         : g_strdup(n->alias);
        const char *ifname = n->ifname;
        const char *bridge = NULL;
        char mac[18];

        if (runtime && live && i < live->n_net_ifnames) {
            ifname = live->net_ifnames ? live->net_ifnames[i] : ifname;
            bridge = live->net_bridges ? live->net_bridges[i] : NULL;
        }
        domain_conf_mac_format(n->mac, mac);
        put(out, 2, "<interface type='%s'>", domain_net_type_name(n->type));
        put(out, 3, "<mac address='%s'/>", mac);
        if (n->type == DOMAIN_NET_BRIDGE) {
            put(out, 3, "<source bridge='%s'/>", source);
        } else if (n->type == DOMAIN_NET_NETWORK && bridge) {
            g_autofree char *b = domain_conf_xml_escape(bridge);

            put(out, 3, "<source network='%s' bridge='%s'/>", source, b);
        } else if (n->type == DOMAIN_NET_NETWORK) {
            put(out, 3, "<source network='%s'/>", source);
        }
        if (ifname) {
            g_autofree char *t = domain_conf_xml_escape(ifname);

            put(out, 3, "<target dev='%s'/>", t);
        }
        put(out, 3, "<model type='virtio'/>");
        if (n->boot_order) {
            put(out, 3, "<boot order='%u'/>", n->boot_order);
        }
        put_alias(out, alias);
        put_address(out, n->pci_slot);
        put(out, 2, "</interface>");
    }
}
