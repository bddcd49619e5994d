/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blockdev: from -blockdev/-drive options to open nodes, and the
 * backends devices attach to. See blockdev.h.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "block/blockdev.h"
#include "error.h"

typedef struct {
    gint64 bytes, ops, failed, invalid, total_ns;
} BlockAcct;

struct BlockBackend {
    char *name;                 /* -drive id, or "" for a -blockdev node */
    BlockNode *root;
    char *qdev;                 /* NULL until a device attaches */
    bool has_werror, has_rerror;
    BlockErrorPolicy werror, rerror;
    GMutex lock;                /* stats, io_status */
    BlockAcct acct[BLOCK_ACCT__MAX];
    uint64_t wr_highest_offset;
    int io_error;               /* 0, or the errno behind io-status */
    void (*resize_cb)(void *opaque);
    void *resize_opaque;
};

struct BlockGraph {
    GPtrArray *roots;           /* BlockNode*, owned: not a child of another */
    GPtrArray *backends;        /* BlockBackend*, -drive first */
    GHashTable *names;          /* node-name -> BlockNode*, every named node */
    GHashTable *used;           /* BlockNode* that a parent or backend holds */
    bool inactive;              /* handed to a migration's destination */
};

static void backend_free(BlockBackend *blk)
{
    g_free(blk->name);
    g_free(blk->qdev);
    g_mutex_clear(&blk->lock);
    g_free(blk);
}

bool block_error_policy_parse(const char *s, BlockErrorPolicy *out)
{
    static const char *const names[] = { "report", "ignore", "stop",
                                         "enospc" };

    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        if (g_str_equal(names[i], s)) {
            *out = (BlockErrorPolicy)i;
            return true;
        }
    }
    return false;
}

const char *block_error_policy_name(BlockErrorPolicy p)
{
    static const char *const names[] = { "report", "ignore", "stop",
                                         "enospc" };

    return names[p];
}

/* --- options ------------------------------------------------------------- */

/* A member that is a string; the keyval form gives every value so. */
static bool opt_str(JsonObject *o, const char *key, const char **out,
                    GError **errp)
{
    JsonNode *n = json_object_get_member(o, key);

    *out = NULL;
    if (!n) {
        return true;
    }
    if (!JSON_NODE_HOLDS_VALUE(n) ||
        json_node_get_value_type(n) != G_TYPE_STRING) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Invalid parameter type for '%s', expected: string", key);
        return false;
    }
    *out = json_node_get_string(n);
    return true;
}

/* A boolean: JSON true/false, or the keyval form's on/off. */
static bool opt_bool(JsonObject *o, const char *key, bool def, bool *out,
                     GError **errp)
{
    JsonNode *n = json_object_get_member(o, key);

    *out = def;
    if (!n) {
        return true;
    }
    if (JSON_NODE_HOLDS_VALUE(n) &&
        json_node_get_value_type(n) == G_TYPE_BOOLEAN) {
        *out = json_node_get_boolean(n);
        return true;
    }
    if (JSON_NODE_HOLDS_VALUE(n) &&
        json_node_get_value_type(n) == G_TYPE_STRING) {
        const char *s = json_node_get_string(n);

        if (g_str_equal(s, "on") || g_str_equal(s, "true")) {
            *out = true;
            return true;
        }
        if (g_str_equal(s, "off") || g_str_equal(s, "false")) {
            *out = false;
            return true;
        }
    }
    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                "Invalid parameter type for '%s', expected: boolean", key);
    return false;
}

/* Every member of @o must be one of @known. */
static bool opt_check_members(JsonObject *o, const char *driver,
                              const char *const *known, GError **errp)
{
    g_autoptr(GList) members = json_object_get_members(o);

    for (GList *l = members; l; l = l->next) {
        if (!g_strv_contains(known, l->data)) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "Parameter '%s' is unexpected (driver '%s')",
                        (const char *)l->data, driver);
            return false;
        }
    }
    return true;
}

typedef struct {
    bool direct, no_flush, read_only, discard_unmap;
} Inherit;

static BlockNode *open_node(BlockGraph *g, JsonObject *o, Inherit inh,
                            GError **errp);

/* A child given as a node-name (taken from the graph) or an object
 * (opened here). */
static BlockNode *open_child(BlockGraph *g, JsonNode *n, const char *what,
                             Inherit inh, GError **errp)
{
    if (JSON_NODE_HOLDS_OBJECT(n)) {
        return open_node(g, json_node_get_object(n), inh, errp);
    }
    if (JSON_NODE_HOLDS_VALUE(n) &&
        json_node_get_value_type(n) == G_TYPE_STRING) {
        const char *name = json_node_get_string(n);
        BlockNode *bs = g_hash_table_lookup(g->names, name);

        if (!bs) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "Cannot find device='' nor node-name='%s' (the %s "
                        "child)", name, what);
            return NULL;
        }
        if (g_hash_table_contains(g->used, bs)) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "node '%s' is already in use: kestrel gives a node "
                        "one parent", name);
            return NULL;
        }
        g_hash_table_add(g->used, bs);
        g_ptr_array_remove(g->roots, bs);
        return bs;
    }
    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                "Invalid parameter type for '%s', expected: a node-name or "
                "an object", what);
    return NULL;
}

/* Name every node under @bs that has one, so references and the
 * queries find them. */
static void register_names(BlockGraph *g, BlockNode *bs)
{
    for (; bs; bs = block_backing(bs)) {
        const char *name = block_node_name(bs);

        if (name && !g_hash_table_contains(g->names, name)) {
            g_hash_table_insert(g->names, g_strdup(name), bs);
        }
        if (block_file_child(bs)) {
            register_names(g, block_file_child(bs));
        }
    }
}

/* Undo open_child after a failure: a child opened here (an object) is
 * closed, one taken by name goes back to the graph. */
static void release_child(BlockGraph *g, JsonObject *o, const char *key,
                          BlockNode *child)
{
    if (!child) {
        return;
    }
    if (JSON_NODE_HOLDS_OBJECT(json_object_get_member(o, key))) {
        block_close(child);
        return;
    }
    g_hash_table_remove(g->used, child);
    g_ptr_array_add(g->roots, child);
}

static BlockNode *open_node(BlockGraph *g, JsonObject *o, Inherit inh,
                            GError **errp)
{
    static const char *const protocol_keys[] = {
        "driver", "node-name", "filename", "cache", "aio", "locking",
        "discard", "read-only", "auto-read-only", "detect-zeroes",
        "force-share", NULL,
    };
    static const char *const format_keys[] = {
        "driver", "node-name", "file", "backing", "cache", "discard",
        "read-only", "auto-read-only", "detect-zeroes", "force-share", NULL,
    };
    BlockOpenOptions opts = { 0 };
    const char *driver, *node_name, *discard, *dz;
    JsonNode *cache = json_object_get_member(o, "cache");
    BlockNode *bs;
    bool protocol, ignored;

    if (!opt_str(o, "driver", &driver, errp) ||
        !opt_str(o, "node-name", &node_name, errp) ||
        !opt_str(o, "discard", &discard, errp) ||
        !opt_str(o, "detect-zeroes", &dz, errp)) {
        return NULL;
    }
    if (!driver) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Parameter 'driver' is missing");
        return NULL;
    }
    protocol = g_str_equal(driver, "file") ||
               g_str_equal(driver, "host_device");
    if (!protocol && !g_str_equal(driver, "raw") &&
        !g_str_equal(driver, "qcow2")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "Block driver '%s' is not supported by kestrel: it has "
                    "file, host_device, raw and qcow2", driver);
        return NULL;
    }
    if (!opt_check_members(o, driver, protocol ? protocol_keys : format_keys,
                           errp)) {
        return NULL;
    }
    if (node_name && (g_hash_table_contains(g->names, node_name) ||
                      !*node_name)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    *node_name ? "Duplicate nodes with node-name='%s'" :
                                 "Invalid node-name: '%s'", node_name);
        return NULL;
    }
    if (dz && !g_str_equal(dz, "off")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "detect-zeroes=%s is not supported by kestrel", dz);
        return NULL;
    }
    if (discard) {
        if (g_str_equal(discard, "unmap") || g_str_equal(discard, "on")) {
            inh.discard_unmap = true;
        } else if (g_str_equal(discard, "ignore") ||
                   g_str_equal(discard, "off")) {
            inh.discard_unmap = false;
        } else {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "Invalid discard option '%s'", discard);
            return NULL;
        }
    }
    if (cache) {
        static const char *const cache_keys[] = { "direct", "no-flush",
                                                  NULL };
        JsonObject *c;

        if (!JSON_NODE_HOLDS_OBJECT(cache)) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "Invalid parameter type for 'cache', expected: "
                        "object");
            return NULL;
        }
        c = json_node_get_object(cache);
        if (!opt_check_members(c, driver, cache_keys, errp) ||
            !opt_bool(c, "direct", inh.direct, &inh.direct, errp) ||
            !opt_bool(c, "no-flush", inh.no_flush, &inh.no_flush, errp)) {
            return NULL;
        }
    }
    /* auto-read-only: libvirt's way of saying "read-only if you must";
     * kestrel opens what read-only says. */
    if (!opt_bool(o, "read-only", inh.read_only, &inh.read_only, errp) ||
        !opt_bool(o, "auto-read-only", false, &ignored, errp) ||
        !opt_bool(o, "force-share", false, &ignored, errp)) {
        return NULL;
    }
    opts.node_name = node_name;
    opts.driver = driver;
    opts.cache_direct = inh.direct;
    opts.cache_no_flush = inh.no_flush;
    opts.read_only = inh.read_only;
    opts.discard_unmap = inh.discard_unmap;
    if (protocol) {
        const char *aio, *locking;

        if (!opt_str(o, "filename", &opts.filename, errp) ||
            !opt_str(o, "aio", &aio, errp) ||
            !opt_str(o, "locking", &locking, errp)) {
            return NULL;
        }
        if (!opts.filename) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "Parameter 'filename' is missing");
            return NULL;
        }
        if (aio && !g_str_equal(aio, "threads") &&
            !g_str_equal(aio, "native") && !g_str_equal(aio, "io_uring")) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "Parameter 'aio' does not accept value '%s'", aio);
            return NULL;
        }
    } else {
        JsonNode *file = json_object_get_member(o, "file");
        JsonNode *backing = json_object_get_member(o, "backing");

        if (!file) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "A block device must be specified for \"file\"");
            return NULL;
        }
        if (backing && g_str_equal(driver, "raw")) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "Parameter 'backing' is unexpected (driver 'raw')");
            return NULL;
        }
        opts.file = open_child(g, file, "file", inh, errp);
        if (!opts.file) {
            return NULL;
        }
        if (backing && JSON_NODE_HOLDS_NULL(backing)) {
            opts.backing_none = true;
        } else if (backing) {
            Inherit binh = inh;

            /* A backing image is only ever read. */
            binh.read_only = true;
            opts.backing = open_child(g, backing, "backing", binh, errp);
            if (!opts.backing) {
                release_child(g, o, "file", opts.file);
                return NULL;
            }
        }
    }
    bs = block_open(&opts, errp);
    if (!bs) {
        release_child(g, o, "file", opts.file);
        release_child(g, o, "backing", opts.backing);
        if (errp && *errp && node_name) {
            g_prefix_error(errp, "node '%s': ", node_name);
        }
        return NULL;
    }
    register_names(g, bs);
    return bs;
}

static bool open_drive(BlockGraph *g, const DriveConfig *d, GError **errp)
{
    BlockBackend *blk;
    BlockNode *bs;

    if (g_hash_table_contains(g->names, d->id)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "drive '%s': the id is also a node-name", d->id);
        return false;
    }
    bs = block_open_image(d->file, d->format, d->read_only, d->cache_direct,
                          d->cache_no_flush, d->discard_unmap, errp);
    if (!bs) {
        return false;
    }
    register_names(g, bs);
    g_hash_table_add(g->used, bs);
    g_ptr_array_add(g->roots, bs);
    blk = g_new0(BlockBackend, 1);
    g_mutex_init(&blk->lock);
    blk->name = g_strdup(d->id);
    blk->root = bs;
    if (d->werror) {
        blk->has_werror = block_error_policy_parse(d->werror, &blk->werror);
    }
    if (d->rerror) {
        blk->has_rerror = block_error_policy_parse(d->rerror, &blk->rerror);
    }
    g_ptr_array_add(g->backends, blk);
    return true;
}

BlockGraph *block_graph_new(const VmConfig *cfg, GError **errp)
{
    BlockGraph *g = g_new0(BlockGraph, 1);

    g->roots = g_ptr_array_new();
    g->backends = g_ptr_array_new_with_free_func(
        (GDestroyNotify)backend_free);
    g->names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g->used = g_hash_table_new(NULL, NULL);
    for (guint i = 0; i < cfg->blockdevs->len; i++) {
        JsonNode *n = g_ptr_array_index(cfg->blockdevs, i);
        Inherit inh = { 0 };
        BlockNode *bs;
        const char *name = NULL;
        g_autoptr(GError) err = NULL;

        opt_str(json_node_get_object(n), "node-name", &name, NULL);
        if (!name) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "-blockdev: a top-level node needs a node-name");
            block_graph_free(g);
            return NULL;
        }
        bs = open_node(g, json_node_get_object(n), inh, &err);
        if (!bs) {
            g_propagate_prefixed_error(errp, g_steal_pointer(&err),
                                       "-blockdev: ");
            block_graph_free(g);
            return NULL;
        }
        g_ptr_array_add(g->roots, bs);
    }
    for (guint i = 0; i < cfg->drives->len; i++) {
        const DriveConfig *d = g_ptr_array_index(cfg->drives, i);
        g_autoptr(GError) err = NULL;

        if (!open_drive(g, d, &err)) {
            g_propagate_prefixed_error(errp, g_steal_pointer(&err),
                                       "-drive %s: ", d->id);
            block_graph_free(g);
            return NULL;
        }
    }
    return g;
}

void block_graph_free(BlockGraph *g)
{
    if (!g) {
        return;
    }
    g_ptr_array_unref(g->backends);
    for (guint i = 0; i < g->roots->len; i++) {
        block_close(g_ptr_array_index(g->roots, i));
    }
    g_ptr_array_unref(g->roots);
    g_hash_table_unref(g->names);
    g_hash_table_unref(g->used);
    g_free(g);
}

BlockBackend *block_graph_attach(BlockGraph *g, const char *ref,
                                 const char *qdev, GError **errp)
{
    BlockNode *bs;
    BlockBackend *blk;

    for (guint i = 0; i < g->backends->len; i++) {
        blk = g_ptr_array_index(g->backends, i);
        if (*blk->name && g_str_equal(blk->name, ref)) {
            if (blk->qdev) {
                g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                            "Property 'drive': drive '%s' is already in "
                            "use by another device", ref);
                return NULL;
            }
            blk->qdev = g_strdup(qdev);
            return blk;
        }
    }
    bs = g_hash_table_lookup(g->names, ref);
    if (!bs) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Property 'drive' can't find value '%s'", ref);
        return NULL;
    }
    if (g_hash_table_contains(g->used, bs)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Property 'drive': node '%s' is already in use", ref);
        return NULL;
    }
    g_hash_table_add(g->used, bs);
    blk = g_new0(BlockBackend, 1);
    g_mutex_init(&blk->lock);
    blk->name = g_strdup("");
    blk->root = bs;
    blk->qdev = g_strdup(qdev);
    g_ptr_array_add(g->backends, blk);
    return blk;
}

BlockNode *blk_node(BlockBackend *blk)
{
    return blk->root;
}

BlockErrorPolicy blk_error_policy(BlockBackend *blk, bool is_read,
                                  BlockErrorPolicy def)
{
    if (is_read) {
        return blk->has_rerror ? blk->rerror : def;
    }
    return blk->has_werror ? blk->werror : def;
}

const char *blk_name(BlockBackend *blk)
{
    return blk->name;
}

const char *blk_qdev(BlockBackend *blk)
{
    return blk->qdev;
}

void blk_set_resize_cb(BlockBackend *blk, void (*cb)(void *opaque),
                       void *opaque)
{
    blk->resize_cb = cb;
    blk->resize_opaque = opaque;
}

/* --- accounting ---------------------------------------------------------- */

void blk_account(BlockBackend *blk, BlockAcctType type, uint64_t bytes,
                 uint64_t offset, int64_t ns, bool failed)
{
    BlockAcct *a = &blk->acct[type];

    g_mutex_lock(&blk->lock);
    if (failed) {
        a->failed++;
    } else {
        a->ops++;
        a->bytes += (gint64)bytes;
        a->total_ns += ns;
        if (type == BLOCK_ACCT_WRITE &&
            offset + bytes > blk->wr_highest_offset) {
            blk->wr_highest_offset = offset + bytes;
        }
    }
    g_mutex_unlock(&blk->lock);
}

void blk_account_invalid(BlockBackend *blk, BlockAcctType type)
{
    g_mutex_lock(&blk->lock);
    blk->acct[type].invalid++;
    g_mutex_unlock(&blk->lock);
}

void blk_set_io_status(BlockBackend *blk, int err)
{
    g_mutex_lock(&blk->lock);
    blk->io_error = err;
    g_mutex_unlock(&blk->lock);
}

/* --- migration ----------------------------------------------------------- */

bool block_graph_flush_all(BlockGraph *g, GError **errp)
{
    for (guint i = 0; g && i < g->roots->len; i++) {
        BlockNode *bs = g_ptr_array_index(g->roots, i);
        int rc = block_handover(bs);

        if (rc < 0) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                        "flushing disk '%s' failed: %s", block_filename(bs),
                        g_strerror(-rc));
            return false;
        }
    }
    return true;
}

bool block_graph_invalidate_all(BlockGraph *g, GError **errp)
{
    for (guint i = 0; g && i < g->roots->len; i++) {
        BlockNode *bs = g_ptr_array_index(g->roots, i);
        int rc = block_invalidate_cache(bs);

        if (rc < 0) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                        "re-reading disk '%s' after the migration failed: "
                        "%s", block_filename(bs), g_strerror(-rc));
            return false;
        }
    }
    return true;
}

void block_graph_inactivate_all(BlockGraph *g)
{
    for (guint i = 0; g && i < g->roots->len; i++) {
        block_inactivate(g_ptr_array_index(g->roots, i));
    }
    if (g) {
        g->inactive = true;
    }
}

bool block_graph_activate_all(BlockGraph *g, GError **errp)
{
    if (!g || !g->inactive) {
        return true;
    }
    g->inactive = false;
    for (guint i = 0; i < g->roots->len; i++) {
        block_activate(g_ptr_array_index(g->roots, i));
    }
    return block_graph_invalidate_all(g, errp);
}

/* --- queries ------------------------------------------------------------- */

static const char *node_display_name(BlockNode *bs)
{
    const char *n = block_node_name(bs);

    return n ? n : "";
}

static JsonObject *image_info(BlockNode *bs)
{
    JsonObject *o = json_object_new();
    BlockNode *backing = block_backing(bs);

    json_object_set_int_member(o, "virtual-size", (gint64)block_length(bs));
    json_object_set_string_member(o, "filename", block_filename(bs));
    json_object_set_string_member(o, "format", block_driver_name(bs));
    json_object_set_int_member(o, "actual-size",
                               (gint64)block_allocated(bs));
    json_object_set_boolean_member(o, "dirty-flag", false);
    if (backing) {
        json_object_set_string_member(o, "backing-filename",
                                      block_filename(backing));
        json_object_set_string_member(o, "full-backing-filename",
                                      block_filename(backing));
        json_object_set_string_member(o, "backing-filename-format",
                                      block_driver_name(backing));
    }
    return o;
}

/* QEMU's BlockDeviceInfo for one node. */
static JsonObject *node_info(BlockNode *bs)
{
    static const char *const zero[] = {
        "iops_rd", "iops_wr", "iops", "bps_wr", "bps", "bps_rd",
        "write_threshold",
    };
    JsonObject *o = json_object_new();
    JsonObject *cache = json_object_new();
    unsigned int depth = 0;

    for (BlockNode *b = block_backing(bs); b; b = block_backing(b)) {
        depth++;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(zero); i++) {
        json_object_set_int_member(o, zero[i], 0);
    }
    json_object_set_string_member(o, "detect_zeroes", "off");
    json_object_set_object_member(o, "image", image_info(bs));
    json_object_set_boolean_member(o, "ro", block_read_only(bs));
    json_object_set_string_member(o, "node-name", node_display_name(bs));
    json_object_set_int_member(o, "backing_file_depth", depth);
    json_object_set_string_member(o, "drv", block_driver_name(bs));
    json_object_set_boolean_member(o, "encrypted", false);
    json_object_set_boolean_member(cache, "no-flush", false);
    json_object_set_boolean_member(cache, "direct", block_cache_direct(bs));
    json_object_set_boolean_member(cache, "writeback", true);
    json_object_set_object_member(o, "cache", cache);
    json_object_set_string_member(o, "file", block_filename(bs));
    if (block_backing(bs)) {
        json_object_set_string_member(o, "backing_file",
                                      block_filename(block_backing(bs)));
    }
    return o;
}

JsonArray *block_graph_query_block(BlockGraph *g)
{
    JsonArray *arr = json_array_new();

    for (guint i = 0; i < g->backends->len; i++) {
        BlockBackend *blk = g_ptr_array_index(g->backends, i);
        JsonObject *o = json_object_new();
        int err;

        g_mutex_lock(&blk->lock);
        err = blk->io_error;
        g_mutex_unlock(&blk->lock);
        json_object_set_string_member(o, "io-status",
                                      !err ? "ok" :
                                      err == ENOSPC ? "nospace" : "failed");
        json_object_set_string_member(o, "device", blk->name);
        json_object_set_boolean_member(o, "locked", false);
        json_object_set_boolean_member(o, "removable", false);
        json_object_set_object_member(o, "inserted", node_info(blk->root));
        if (blk->qdev) {
            json_object_set_string_member(o, "qdev", blk->qdev);
        }
        json_object_set_string_member(o, "type", "unknown");
        json_array_add_object_element(arr, o);
    }
    return arr;
}

static JsonObject *stats_object(BlockBackend *blk)
{
    static const char *const names[BLOCK_ACCT__MAX] = {
        "rd", "wr", "flush", "unmap",
    };
    JsonObject *o = json_object_new();

    g_mutex_lock(&blk->lock);
    for (int t = 0; t < BLOCK_ACCT__MAX; t++) {
        const BlockAcct *a = &blk->acct[t];
        char key[64];

        if (t != BLOCK_ACCT_FLUSH) {
            g_snprintf(key, sizeof(key), "%s_bytes", names[t]);
            json_object_set_int_member(o, key, a->bytes);
            g_snprintf(key, sizeof(key), "%s_merged", names[t]);
            json_object_set_int_member(o, key, 0);
        }
        g_snprintf(key, sizeof(key), "%s_operations", names[t]);
        json_object_set_int_member(o, key, a->ops);
        g_snprintf(key, sizeof(key), "%s_total_time_ns", names[t]);
        json_object_set_int_member(o, key, a->total_ns);
        g_snprintf(key, sizeof(key), "failed_%s_operations", names[t]);
        json_object_set_int_member(o, key, a->failed);
        g_snprintf(key, sizeof(key), "invalid_%s_operations", names[t]);
        json_object_set_int_member(o, key, a->invalid);
    }
    json_object_set_int_member(o, "wr_highest_offset",
                               (gint64)blk->wr_highest_offset);
    g_mutex_unlock(&blk->lock);
    json_object_set_array_member(o, "timed_stats", json_array_new());
    json_object_set_boolean_member(o, "account_invalid", true);
    json_object_set_boolean_member(o, "account_failed", true);
    return o;
}

JsonArray *block_graph_query_blockstats(BlockGraph *g)
{
    JsonArray *arr = json_array_new();

    for (guint i = 0; i < g->backends->len; i++) {
        BlockBackend *blk = g_ptr_array_index(g->backends, i);
        JsonObject *o = json_object_new();

        json_object_set_string_member(o, "device", blk->name);
        json_object_set_object_member(o, "stats", stats_object(blk));
        json_object_set_string_member(o, "node-name",
                                      node_display_name(blk->root));
        if (blk->qdev) {
            json_object_set_string_member(o, "qdev", blk->qdev);
        }
        json_array_add_object_element(arr, o);
    }
    return arr;
}

static void nodes_walk(JsonArray *arr, BlockNode *bs)
{
    for (; bs; bs = block_backing(bs)) {
        json_array_add_object_element(arr, node_info(bs));
        if (block_file_child(bs)) {
            nodes_walk(arr, block_file_child(bs));
        }
    }
}

JsonArray *block_graph_query_nodes(BlockGraph *g)
{
    JsonArray *arr = json_array_new();

    for (guint i = 0; i < g->roots->len; i++) {
        nodes_walk(arr, g_ptr_array_index(g->roots, i));
    }
    return arr;
}

bool block_graph_resize(BlockGraph *g, const char *device,
                        const char *node_name, uint64_t size, GError **errp)
{
    BlockBackend *found = NULL;
    BlockNode *bs = NULL;
    int rc;

    if (device) {
        for (guint i = 0; i < g->backends->len; i++) {
            BlockBackend *blk = g_ptr_array_index(g->backends, i);

            if (*blk->name && g_str_equal(blk->name, device)) {
                found = blk;
                bs = blk->root;
            }
        }
    } else if (node_name) {
        bs = g_hash_table_lookup(g->names, node_name);
    }
    if (!bs) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Cannot find device='%s' nor node-name='%s'",
                    device ? device : "", node_name ? node_name : "");
        return false;
    }
    if (!found) {
        for (guint i = 0; i < g->backends->len; i++) {
            BlockBackend *blk = g_ptr_array_index(g->backends, i);

            if (blk->root == bs) {
                found = blk;
            }
        }
    }
    if (block_read_only(bs)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Cannot resize a read-only node '%s'",
                    node_display_name(bs));
        return false;
    }
    if (size % 512) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "The new size must be a multiple of 512");
        return false;
    }
    rc = block_truncate(bs, size);
    if (rc < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Could not resize: %s", g_strerror(-rc));
        return false;
    }
    if (found && found->resize_cb) {
        found->resize_cb(found->resize_opaque);
    }
    return true;
}
