/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmdline-devices: -device (isa-serial included), -object, -audiodev and
 * -global.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cmdline-internal.h"
#include "device.h"
#include "error.h"
#include "keyval.h"

/* -device, -object, -audiodev: like QEMU, a value starting with '{' is
 * JSON, anything else KEY=VALUE with @implied_key first. */
static KeyvalList *cmdline_parse_json_or_keyval(const char *arg,
                                                const char *implied_key,
                                                GError **errp)
{
    return arg[0] == '{' ? keyval_parse_json(arg, errp)
                         : keyval_parse(arg, implied_key, errp);
}

bool cmdline_opt_audiodev(CmdlineState *s, const char *arg, GError **errp)
{
    static const char *const none[] = { "none", NULL };
    g_autoptr(KeyvalList) kv = cmdline_parse_json_or_keyval(arg, "driver",
                                                             errp);
    const char *driver;
    const char *id;

    if (!kv) {
        return false;
    }
    driver = keyval_get_str(kv, "driver");
    id = keyval_get_str(kv, "id");
    if (!driver) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Parameter 'driver' is missing");
        return false;
    }
    if (!id) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Parameter 'id' is missing");
        return false;
    }
    /* Without sound devices, the null backend is all there is to have:
     * it takes nothing and plays nothing. */
    if (!cmdline_only_str(kv, "driver", none,
                          "kestrel has no sound device", errp) ||
        !cmdline_check_id(id, errp) || !keyval_check_unused(kv, errp)) {
        return false;
    }
    return true;
}

/*
 * -device isa-serial,chardev=ID[,index=N]: the COM port N (0 to 3; the
 * first free one by default) on chardev ID, the same port -serial makes.
 */
static bool cmdline_isa_serial(CmdlineState *s, KeyvalList *kv,
                               GError **errp)
{
    GPtrArray *serials = s->cfg->serials;
    const char *chardev = keyval_get_str(kv, "chardev");
    uint64_t index;
    guint free_slot = 0;

    s->serial_given = true;             /* as QEMU: no default serial then */
    while (free_slot < serials->len &&
           g_ptr_array_index(serials, free_slot)) {
        free_slot++;
    }
    if (!keyval_get_uint(kv, "index", free_slot, CMDLINE_MAX_SERIALS - 1,
                         &index, errp)) {
        return false;
    }
    if (!chardev) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Property 'isa-serial.chardev' is missing: kestrel's "
                    "serial ports need a chardev");
        return false;
    }
    if (keyval_first_unused(kv)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Property 'isa-serial.%s' not found",
                    keyval_first_unused(kv));
        return false;
    }
    while (serials->len <= index) {
        g_ptr_array_add(serials, NULL);
    }
    if (g_ptr_array_index(serials, index)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "serial port %" G_GUINT64_FORMAT " (COM%" G_GUINT64_FORMAT
                    ") is already in use", index, index + 1);
        return false;
    }
    g_ptr_array_index(serials, index) = g_strdup(chardev);
    cmdline_add_ref(s, s->loc, chardev);
    return true;
}

bool cmdline_opt_device(CmdlineState *s, const char *arg, GError **errp)
{
    g_autoptr(KeyvalList) kv = NULL;
    const char *driver;
    const char *id;
    DeviceConfig *dev;

    kv = cmdline_parse_json_or_keyval(arg, "driver", errp);
    if (!kv) {
        return false;
    }
    driver = keyval_get_str(kv, "driver");
    if (keyval_is_help(driver)) {
        size_t n;
        const DeviceDriver *drv = devices_drivers(&n);
        const char *category = NULL;

        /* QEMU's layout: drivers grouped by category. */
        for (size_t i = 0; i < n; i++) {
            if (!category || !g_str_equal(category, drv[i].category)) {
                category = drv[i].category;
                fprintf(s->out, "%s%s:\n", i ? "\n" : "", category);
            }
            fprintf(s->out, "name \"%s\", bus %s\n", drv[i].name,
                    drv[i].bus);
        }
        s->exit = true;
        return true;
    }
    if (!driver || !*driver) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Parameter 'driver' is missing");
        return false;
    }
    if (g_str_has_prefix(driver, "usb-")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "device '%s' is not supported by kestrel: it has no USB",
                    driver);
        return false;
    }
    if (keyval_has(kv, "help")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "kestrel cannot list the properties of device '%s'",
                    driver);
        return false;
    }
    id = keyval_get_str(kv, "id");
    if (id) {
        if (!cmdline_check_id(id, errp)) {
            return false;
        }
        if (g_hash_table_contains(s->device_ids, id)) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "Duplicate ID '%s' for device", id);
            return false;
        }
        g_hash_table_add(s->device_ids, g_strdup(id));
    }
    if (g_str_equal(driver, "isa-serial")) {
        return cmdline_isa_serial(s, kv, errp);
    }

    dev = g_new0(DeviceConfig, 1);
    dev->driver = g_strdup(driver);
    dev->id = g_strdup(id);
    dev->props = keyval_take_unused(kv);
    g_ptr_array_add(s->cfg->devices, dev);
    return true;
}

/*
 * -global DRIVER.PROP=VALUE: the defaults of devices kestrel has. Only the
 * ones that state what kestrel does anyway are accepted.
 */
bool cmdline_opt_global(CmdlineState *s, const char *arg, GError **errp)
{
    static const struct {
        const char *name;               /* DRIVER.PROP */
        const char *value;
    } accepted[] = {
        /* the in-kernel PIT reinjects lost ticks: QEMU's "delay" */
        { "kvm-pit.lost_tick_policy", "delay" },
        /* libvirt's <pm> with S3/S4 off: the machine has neither (its
         * DSDT describes _S5 only), so "disabled" is what it is */
        { "PIIX4_PM.disable_s3", "1" },
        { "PIIX4_PM.disable_s4", "1" },
    };
    const char *eq = strchr(arg, '=');
    g_autofree char *name = NULL;

    if (!eq || !strchr(arg, '.') || strchr(arg, '.') > eq) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "'%s' is not of the form DRIVER.PROPERTY=VALUE", arg);
        return false;
    }
    name = g_strndup(arg, eq - arg);
    for (guint i = 0; i < G_N_ELEMENTS(accepted); i++) {
        if (g_str_equal(accepted[i].name, name)) {
            if (g_str_equal(accepted[i].value, eq + 1)) {
                return true;
            }
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                        "global property '%s' only takes '%s' in kestrel",
                        name, accepted[i].value);
            return false;
        }
    }
    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                "global property '%s' is not supported by kestrel", name);
    return false;
}

/*
 * -object rng-random,id=ID[,filename=/dev/urandom|/dev/random] and
 * rng-builtin,id=ID: a virtio-rng's source. Both are the host kernel's
 * random generator, which kestrel reads with getrandom(); another file
 * (a hardware RNG device) is refused rather than silently replaced.
 */
static bool cmdline_object_rng(CmdlineState *s, KeyvalList *kv,
                               const char *type, const char *id,
                               GError **errp)
{
    const char *file = g_str_equal(type, "rng-random")
        ? keyval_get_str(kv, "filename") : NULL;

    if (file && !g_str_equal(file, "/dev/urandom") &&
        !g_str_equal(file, "/dev/random")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "rng-random '%s': filename '%s' is not supported: kestrel "
                    "takes its random bytes from the kernel (/dev/urandom, "
                    "/dev/random)", id, file);
        return false;
    }
    if (!keyval_check_unused(kv, errp)) {
        return false;
    }
    g_ptr_array_add(s->cfg->rngs, g_strdup(id));
    return true;
}

bool cmdline_opt_object(CmdlineState *s, const char *arg, GError **errp)
{
    static const char *const formats[] = { "raw", "base64", NULL };
    g_autoptr(KeyvalList) kv = cmdline_parse_json_or_keyval(arg, "qom-type",
                                                             errp);
    const char *type;
    const char *id;
    const char *format;
    SecretConfig *sec;

    if (!kv) {
        return false;
    }
    type = keyval_get_str(kv, "qom-type");
    if (keyval_is_help(type)) {
        fprintf(s->out, "List of user creatable objects:\n"
                "  memory-backend-file\n  memory-backend-memfd\n"
                "  memory-backend-ram\n  rng-builtin\n  rng-random\n"
                "  secret\n");
        s->exit = true;
        return true;
    }
    if (!type) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Parameter 'qom-type' is missing");
        return false;
    }
    if (!g_str_equal(type, "secret") &&
        !g_str_has_prefix(type, "memory-backend-") &&
        !g_str_equal(type, "rng-random") && !g_str_equal(type, "rng-builtin")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "object type '%s' is not supported by kestrel: -object "
                    "takes 'secret', 'memory-backend-ram', "
                    "'memory-backend-memfd', 'memory-backend-file', "
                    "'rng-random' and 'rng-builtin'", type);
        return false;
    }
    id = keyval_get_str(kv, "id");
    if (!id) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Parameter 'id' is missing");
        return false;
    }
    if (!cmdline_check_id(id, errp)) {
        return false;
    }
    /* One name space for every object, as QEMU's /objects container. */
    for (guint i = 0; i < s->cfg->secrets->len; i++) {
        SecretConfig *other = g_ptr_array_index(s->cfg->secrets, i);

        if (g_str_equal(other->id, id)) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "attempt to add duplicate property '%s' to object "
                        "(type 'container')", id);
            return false;
        }
    }
    for (guint i = 0; i < s->cfg->mem_backends->len; i++) {
        MemBackendConfig *other = g_ptr_array_index(s->cfg->mem_backends, i);

        if (g_str_equal(other->id, id)) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "attempt to add duplicate property '%s' to object "
                        "(type 'container')", id);
            return false;
        }
    }
    for (guint i = 0; i < s->cfg->rngs->len; i++) {
        if (g_str_equal(g_ptr_array_index(s->cfg->rngs, i), id)) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "attempt to add duplicate property '%s' to object "
                        "(type 'container')", id);
            return false;
        }
    }
    if (g_str_has_prefix(type, "rng-")) {
        return cmdline_object_rng(s, kv, type, id, errp);
    }
    if (!g_str_equal(type, "secret")) {
        return cmdline_object_memory_backend(s, kv, type, id, errp);
    }
    if (keyval_has(kv, "keyid") || keyval_has(kv, "iv")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "secret '%s': encrypted secrets (keyid, iv) are not "
                    "supported by kestrel", id);
        return false;
    }
    format = keyval_get_str(kv, "format");
    if (format && !g_strv_contains(formats, format)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Parameter 'format' does not accept value '%s'", format);
        return false;
    }
    if (keyval_has(kv, "data") == keyval_has(kv, "file")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "secret '%s' needs exactly one of 'data' and 'file'",
                    id);
        return false;
    }
    sec = g_new0(SecretConfig, 1);
    sec->id = g_strdup(id);
    sec->base64 = format && g_str_equal(format, "base64");
    sec->data = g_strdup(keyval_get_str(kv, "data"));
    sec->file = g_strdup(keyval_get_str(kv, "file"));
    if (!keyval_check_unused(kv, errp)) {
        vm_config_secret_free(sec);
        return false;
    }
    g_ptr_array_add(s->cfg->secrets, sec);
    return true;
}
