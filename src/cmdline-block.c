/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmdline-block: -drive and -blockdev. Both only record what was asked;
 * the images are opened when the machine is built (block/blockdev.c), so
 * an error about a file names the file and comes from one place.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "cmdline-internal.h"
#include "error.h"
#include "keyval.h"

/* The -drive options we have, besides the ones handled by name below. */
static bool drive_cache_mode(DriveConfig *d, const char *mode,
                             GError **errp)
{
    /* QEMU's cache= shorthands: writeback is the default; "direct"
     * bypasses the host page cache; "unsafe" never flushes. The
     * writethrough modes differ only in the guest-visible write cache,
     * which kestrel always reports as writeback (flush works). */
    static const struct {
        const char *name;
        bool direct, no_flush;
    } modes[] = {
        { "writeback", false, false },
        { "writethrough", false, false },
        { "none", true, false },
        { "directsync", true, false },
        { "unsafe", false, true },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(modes); i++) {
        if (g_str_equal(modes[i].name, mode)) {
            d->cache_direct = modes[i].direct;
            d->cache_no_flush = modes[i].no_flush;
            return true;
        }
    }
    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                "invalid cache option '%s': use none, writeback, "
                "writethrough, directsync or unsafe", mode);
    return false;
}

static bool drive_error_policy(const char *key, const char *value,
                               GError **errp)
{
    static const char *const policies[] = {
        "report", "ignore", "stop", "enospc", NULL,
    };

    if (!g_strv_contains(policies, value) ||
        (g_str_equal(key, "rerror") && g_str_equal(value, "enospc"))) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "'%s' invalid %s action", value,
                    g_str_equal(key, "rerror") ? "read error" :
                                                 "write error");
        return false;
    }
    return true;
}

static bool drive_parse(CmdlineState *s, KeyvalList *kv, DriveConfig *d,
                        GError **errp)
{
    static const char *const no[] = { "off", "false", "no", NULL };
    const char *iface = keyval_get_str(kv, "if");
    const char *v;
    bool b;
    uint64_t index;

    d->file = g_strdup(keyval_get_str(kv, "file"));
    if (!d->file || !*d->file) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "a drive without a medium (file=) is not supported: "
                    "kestrel has no removable media");
        return false;
    }
    if (!iface) {
        /* QEMU's default is the machine's: IDE on pc. */
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "drive '%s': kestrel has no IDE controller, give "
                    "if=virtio (a virtio-blk-pci disk) or if=none (with "
                    "-device virtio-blk-pci,drive=ID)", d->file);
        return false;
    }
    if (g_str_equal(iface, "virtio")) {
        d->virtio = true;
    } else if (!g_str_equal(iface, "none")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "drive interface '%s' is not supported by kestrel: use "
                    "if=virtio or if=none", iface);
        return false;
    }
    v = keyval_get_str(kv, "format");
    if (v) {
        if (!g_str_equal(v, "raw") && !g_str_equal(v, "qcow2")) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                        "'%s' is not a supported image format: kestrel "
                        "reads raw and qcow2", v);
            return false;
        }
        d->format = g_strdup(v);
    }
    v = keyval_get_str(kv, "media");
    if (v && !g_str_equal(v, "disk")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "media '%s' is not supported: kestrel's virtio disks "
                    "are media=disk", v);
        return false;
    }
    v = keyval_get_str(kv, "cache");
    if (v && !drive_cache_mode(d, v, errp)) {
        return false;
    }
    if (!keyval_get_bool(kv, "cache.direct", d->cache_direct,
                         &d->cache_direct, errp) ||
        !keyval_get_bool(kv, "cache.no-flush", d->cache_no_flush,
                         &d->cache_no_flush, errp) ||
        !keyval_get_bool(kv, "readonly", false, &d->read_only, errp) ||
        !keyval_get_bool(kv, "read-only", d->read_only, &d->read_only,
                         errp)) {
        return false;
    }
    v = keyval_get_str(kv, "discard");
    if (v) {
        if (g_str_equal(v, "unmap") || g_str_equal(v, "on")) {
            d->discard_unmap = true;
        } else if (!g_str_equal(v, "ignore") && !g_str_equal(v, "off")) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "Invalid discard option '%s'", v);
            return false;
        }
    }
    /* aio= picks QEMU's engine; kestrel has its own, any is fine. */
    v = keyval_get_str(kv, "aio");
    if (v && !g_str_equal(v, "threads") && !g_str_equal(v, "native") &&
        !g_str_equal(v, "io_uring")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "invalid aio option '%s'", v);
        return false;
    }
    v = keyval_get_str(kv, "werror");
    if (v) {
        if (!drive_error_policy("werror", v, errp)) {
            return false;
        }
        d->werror = g_strdup(v);
    }
    v = keyval_get_str(kv, "rerror");
    if (v) {
        if (!drive_error_policy("rerror", v, errp)) {
            return false;
        }
        d->rerror = g_strdup(v);
    }
    if (!cmdline_only_str(kv, "snapshot", no,
                          "kestrel has no temporary snapshots", errp) ||
        !cmdline_only_str(kv, "detect-zeroes", no,
                          "kestrel does not detect zero writes", errp) ||
        !keyval_get_bool(kv, "auto-read-only", false, &b, errp) ||
        !keyval_get_uint(kv, "index", 0, 1023, &index, errp)) {
        return false;
    }
    v = keyval_get_str(kv, "id");
    if (v) {
        if (!cmdline_check_id(v, errp)) {
            return false;
        }
        d->id = g_strdup(v);
    } else if (d->virtio) {
        /* QEMU's name for the n-th virtio drive. */
        unsigned int n = keyval_has(kv, "index") ? (unsigned int)index : 0;

        for (;;) {
            g_autofree char *id = g_strdup_printf("virtio%u", n);
            bool used = false;

            for (guint i = 0; i < s->cfg->drives->len; i++) {
                DriveConfig *o = g_ptr_array_index(s->cfg->drives, i);

                used |= g_strcmp0(o->id, id) == 0;
            }
            if (!used) {
                d->id = g_steal_pointer(&id);
                break;
            }
            n++;
        }
    } else {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "drive '%s' with if=none needs an id=, for -device "
                    "virtio-blk-pci,drive=ID", d->file);
        return false;
    }
    for (guint i = 0; i < s->cfg->drives->len; i++) {
        DriveConfig *o = g_ptr_array_index(s->cfg->drives, i);

        if (g_str_equal(o->id, d->id)) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "Duplicate ID '%s' for drive", d->id);
            return false;
        }
    }
    return keyval_check_unused(kv, errp);
}

bool cmdline_opt_drive(CmdlineState *s, const char *arg, GError **errp)
{
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "file", errp);
    DriveConfig *d;

    if (!kv) {
        return false;
    }
    d = g_new0(DriveConfig, 1);
    if (!drive_parse(s, kv, d, errp)) {
        vm_config_drive_free(d);
        return false;
    }
    g_ptr_array_add(s->cfg->drives, d);
    return true;
}

/* A drive with if=virtio is a virtio-blk-pci of its own, created after
 * every -device as QEMU does. */
bool cmdline_finish_drives(CmdlineState *s, GError **errp)
{
    for (guint i = 0; i < s->cfg->drives->len; i++) {
        DriveConfig *d = g_ptr_array_index(s->cfg->drives, i);
        DeviceConfig *dev;

        if (!d->virtio) {
            continue;
        }
        dev = g_new0(DeviceConfig, 1);
        dev->driver = g_strdup("virtio-blk-pci");
        dev->props = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                           g_free);
        g_hash_table_insert(dev->props, g_strdup("drive"),
                            g_strdup(d->id));
        g_ptr_array_add(s->cfg->devices, dev);
    }
    (void)errp;
    return true;
}

/*
 * -blockdev KEY=VALUE,...: the dotted keys of QEMU's keyval syntax nest
 * ("file.filename=x" is {"file": {"filename": "x"}}), every value stays a
 * string, and an empty "backing=" is JSON's null, as QEMU reads it.
 */
static int blockdev_cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static JsonNode *blockdev_from_keyval(const char *arg, GError **errp)
{
    g_autoptr(GHashTable) kv = NULL;
    g_autoptr(KeyvalList) list = keyval_parse(arg, "driver", errp);
    g_autoptr(JsonNode) root = NULL;
    g_autofree const char **keys = NULL;
    guint n = 0;

    if (!list) {
        return NULL;
    }
    kv = keyval_take_unused(list);
    root = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(root, json_object_new());
    keys = (const char **)g_hash_table_get_keys_as_array(kv, &n);
    /* Sorted: the same option gives the same object, member for member. */
    qsort(keys, n, sizeof(*keys), blockdev_cmp_str);
    for (guint i = 0; i < n; i++) {
        const char *value = g_hash_table_lookup(kv, keys[i]);
        g_auto(GStrv) parts = g_strsplit(keys[i], ".", -1);
        JsonObject *o = json_node_get_object(root);
        guint np = g_strv_length(parts);

        for (guint k = 0; k + 1 < np; k++) {
            JsonNode *child = json_object_get_member(o, parts[k]);

            if (!child) {
                json_object_set_object_member(o, parts[k],
                                              json_object_new());
                child = json_object_get_member(o, parts[k]);
            } else if (!JSON_NODE_HOLDS_OBJECT(child)) {
                g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                            "Parameters '%s' and '%s' conflict", parts[k],
                            keys[i]);
                return NULL;
            }
            o = json_node_get_object(child);
        }
        if (json_object_has_member(o, parts[np - 1])) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "Parameters '%s' and '%s.*' conflict", keys[i],
                        keys[i]);
            return NULL;
        }
        if (g_str_equal(parts[np - 1], "backing") && !*value) {
            json_object_set_null_member(o, parts[np - 1]);
        } else {
            json_object_set_string_member(o, parts[np - 1],
                                          value ? value : "on");
        }
    }
    return g_steal_pointer(&root);
}

bool cmdline_opt_blockdev(CmdlineState *s, const char *arg, GError **errp)
{
    JsonNode *node;

    if (arg[0] == '{') {
        g_autoptr(JsonParser) parser = json_parser_new();
        g_autoptr(GError) err = NULL;

        if (!json_parser_load_from_data(parser, arg, -1, &err)) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "-blockdev: invalid JSON: %s", err->message);
            return false;
        }
        node = json_parser_get_root(parser);
        if (!node || !JSON_NODE_HOLDS_OBJECT(node)) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "-blockdev: expected a JSON object");
            return false;
        }
        node = json_node_copy(node);
    } else {
        node = blockdev_from_keyval(arg, errp);
        if (!node) {
            return false;
        }
    }
    if (!json_object_has_member(json_node_get_object(node), "driver")) {
        json_node_unref(node);
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Parameter 'driver' is missing");
        return false;
    }
    g_ptr_array_add(s->cfg->blockdevs, node);
    return true;
}
