/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Migration capabilities and parameters: QEMU 7.2's names, defaults,
 * ranges and error texts (checked against QEMU 7.2 itself), and the line
 * between what kestrel honours and what it refuses.
 */
#include <string.h>

#include "migration/params.h"
#include "qmp-error.h"

static const char *const cap_names[MIG_CAP__MAX] = {
    [MIG_CAP_XBZRLE] = "xbzrle",
    [MIG_CAP_RDMA_PIN_ALL] = "rdma-pin-all",
    [MIG_CAP_AUTO_CONVERGE] = "auto-converge",
    [MIG_CAP_ZERO_BLOCKS] = "zero-blocks",
    [MIG_CAP_COMPRESS] = "compress",
    [MIG_CAP_EVENTS] = "events",
    [MIG_CAP_POSTCOPY_RAM] = "postcopy-ram",
    [MIG_CAP_X_COLO] = "x-colo",
    [MIG_CAP_RELEASE_RAM] = "release-ram",
    [MIG_CAP_BLOCK] = "block",
    [MIG_CAP_RETURN_PATH] = "return-path",
    [MIG_CAP_PAUSE_BEFORE_SWITCHOVER] = "pause-before-switchover",
    [MIG_CAP_MULTIFD] = "multifd",
    [MIG_CAP_DIRTY_BITMAPS] = "dirty-bitmaps",
    [MIG_CAP_POSTCOPY_BLOCKTIME] = "postcopy-blocktime",
    [MIG_CAP_LATE_BLOCK_ACTIVATE] = "late-block-activate",
    [MIG_CAP_X_IGNORE_SHARED] = "x-ignore-shared",
    [MIG_CAP_VALIDATE_UUID] = "validate-uuid",
    [MIG_CAP_BACKGROUND_SNAPSHOT] = "background-snapshot",
    [MIG_CAP_ZERO_COPY_SEND] = "zero-copy-send",
    [MIG_CAP_POSTCOPY_PREEMPT] = "postcopy-preempt",
};

/*
 * What kestrel honours. zero-blocks and late-block-activate concern disks,
 * which kestrel has none of yet: honoured trivially. return-path: kestrel
 * always has one where the channel is a socket (the destination
 * acknowledges the whole load before the source lets the guest go).
 * xbzrle, compress, postcopy and the rest are not implemented: left out
 * of the query, and refused when turned on.
 */
static const bool cap_supported[MIG_CAP__MAX] = {
    [MIG_CAP_AUTO_CONVERGE] = true,
    [MIG_CAP_ZERO_BLOCKS] = true,
    [MIG_CAP_EVENTS] = true,
    [MIG_CAP_RETURN_PATH] = true,
    [MIG_CAP_PAUSE_BEFORE_SWITCHOVER] = true,
    [MIG_CAP_MULTIFD] = true,
    [MIG_CAP_LATE_BLOCK_ACTIVATE] = true,
    [MIG_CAP_VALIDATE_UUID] = true,
};

const char *migration_cap_name(MigrationCapability cap)
{
    return cap < MIG_CAP__MAX ? cap_names[cap] : "";
}

bool migration_cap_supported(MigrationCapability cap)
{
    return cap < MIG_CAP__MAX && cap_supported[cap];
}

void migration_params_init(MigrationParams *p)
{
    memset(p, 0, sizeof(*p));
    p->announce_initial = 50;
    p->announce_max = 550;
    p->announce_rounds = 5;
    p->announce_step = 100;
    p->compress_level = 1;
    p->compress_threads = 8;
    p->compress_wait_thread = true;
    p->decompress_threads = 2;
    p->throttle_trigger_threshold = 50;
    p->cpu_throttle_initial = 20;
    p->cpu_throttle_increment = 10;
    p->tls_creds = g_strdup("");
    p->tls_hostname = g_strdup("");
    p->tls_authz = g_strdup("");
    p->max_bandwidth = 128 << 20;
    p->downtime_limit = 300;
    p->x_checkpoint_delay = 20000;
    p->multifd_channels = 2;
    p->xbzrle_cache_size = 64 << 20;
    p->max_cpu_throttle = 99;
    p->multifd_compression = MIG_COMPRESS_NONE;
    p->multifd_zlib_level = 1;
    p->multifd_zstd_level = 1;
}

void migration_params_clear(MigrationParams *p)
{
    g_free(p->tls_creds);
    g_free(p->tls_hostname);
    g_free(p->tls_authz);
    memset(p, 0, sizeof(*p));
}

static int cap_from_name(const char *name)
{
    for (int i = 0; i < MIG_CAP__MAX; i++) {
        if (!strcmp(cap_names[i], name)) {
            return i;
        }
    }
    return -1;
}

bool migration_params_set_caps(MigrationParams *p, JsonArray *caps,
                               GError **errp)
{
    bool next[MIG_CAP__MAX];

    memcpy(next, p->caps, sizeof(next));
    for (guint i = 0; i < json_array_get_length(caps); i++) {
        JsonObject *c = json_array_get_object_element(caps, i);
        const char *name = json_object_get_string_member(c, "capability");
        bool on = json_object_get_boolean_member(c, "state");
        int cap = cap_from_name(name);

        if (cap < 0) {
            /* The schema's enum check runs first; keep QEMU's words. */
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "Parameter 'capability' does not accept value '%s'",
                        name);
            return false;
        }
        if (on && !cap_supported[cap]) {
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "Migration capability '%s' is not supported by "
                        "kestrel", name);
            return false;
        }
        next[cap] = on;
    }
    memcpy(p->caps, next, sizeof(next));
    return true;
}

JsonNode *migration_params_query_caps(const MigrationParams *p)
{
    JsonArray *a = json_array_new();
    JsonNode *n = json_node_new(JSON_NODE_ARRAY);

    for (int i = 0; i < MIG_CAP__MAX; i++) {
        JsonObject *o;

        if (!cap_supported[i]) {
            continue;
        }
        o = json_object_new();
        json_object_set_string_member(o, "capability", cap_names[i]);
        json_object_set_boolean_member(o, "state", p->caps[i]);
        json_array_add_object_element(a, o);
    }
    json_node_take_array(n, a);
    return n;
}

/* --- parameters ---------------------------------------------------------- */

typedef struct {
    const char *name;           /* wire name: never rename */
    size_t offset;              /* of an int64_t in MigrationParams */
    int64_t min, max;
    const char *range;          /* QEMU's error text */
} IntParam;

#define P(f) offsetof(MigrationParams, f)

static const IntParam int_params[] = {
    { "announce-initial", P(announce_initial), 1, 100000,
      "Parameter 'announce_initial' expects a value between 1 and 100000" },
    { "announce-max", P(announce_max), 1, 100000,
      "Parameter 'announce_max' expects a value between 1 and 100000" },
    { "announce-rounds", P(announce_rounds), 1, 1000,
      "Parameter 'announce_rounds' expects a value between 1 and 1000" },
    { "announce-step", P(announce_step), 1, 10000,
      "Parameter 'announce_step' expects a value between 1 and 10000" },
    { "compress-level", P(compress_level), 0, 9,
      "Parameter 'compress_level' expects an integer in the range of 0 "
      "to 9" },
    { "compress-threads", P(compress_threads), 1, 255,
      "Parameter 'compress_threads' expects a value between 1 and 255" },
    { "decompress-threads", P(decompress_threads), 1, 255,
      "Parameter 'decompress_threads' expects a value between 1 and 255" },
    { "throttle-trigger-threshold", P(throttle_trigger_threshold), 1, 100,
      "Parameter 'throttle_trigger_threshold' expects an integer in the "
      "range of 1 to 100" },
    { "cpu-throttle-initial", P(cpu_throttle_initial), 1, 99,
      "Parameter 'cpu_throttle_initial' expects an integer in the range of "
      "1 to 99" },
    { "cpu-throttle-increment", P(cpu_throttle_increment), 1, 99,
      "Parameter 'cpu_throttle_increment' expects an integer in the range "
      "of 1 to 99" },
    { "max-bandwidth", P(max_bandwidth), G_MININT64, G_MAXINT64, NULL },
    { "downtime-limit", P(downtime_limit), 0, 2000 * 1000,
      "Parameter 'downtime_limit' expects an integer in the range of 0 to "
      "(2000 * 1000) ms" },
    { "x-checkpoint-delay", P(x_checkpoint_delay), 0, G_MAXUINT32, NULL },
    { "multifd-channels", P(multifd_channels), 1, 255,
      "Parameter 'multifd_channels' expects a value between 1 and 255" },
    { "xbzrle-cache-size", P(xbzrle_cache_size), 4096, G_MAXINT64,
      "Parameter 'xbzrle_cache_size' expects a power of two no less than "
      "the target page size" },
    { "max-postcopy-bandwidth", P(max_postcopy_bandwidth), 0, G_MAXINT64,
      NULL },
    { "max-cpu-throttle", P(max_cpu_throttle), 1, 99,
      "Parameter 'max_cpu_throttle' expects an integer in the range of "
      "cpu_throttle_initial to 99" },
    { "multifd-zlib-level", P(multifd_zlib_level), 0, 9,
      "Parameter 'multifd_zlib_level' expects a value between 0 and 9" },
    { "multifd-zstd-level", P(multifd_zstd_level), 0, 20,
      "Parameter 'multifd_zstd_level' expects a value between 0 and 20" },
};

static int64_t *int_field(MigrationParams *p, const IntParam *ip)
{
    return (int64_t *)((char *)p + ip->offset);
}

static bool range_error(const IntParam *ip, GError **errp)
{
    g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC, "%s", ip->range);
    return false;
}

static bool set_ints(MigrationParams *n, JsonObject *args, GError **errp)
{
    for (size_t i = 0; i < G_N_ELEMENTS(int_params); i++) {
        const IntParam *ip = &int_params[i];
        gint64 v;

        if (!json_object_has_member(args, ip->name)) {
            continue;
        }
        v = json_object_get_int_member(args, ip->name);
        if (!strcmp(ip->name, "multifd-channels") && v > 255) {
            /* QEMU's visitor words this one (uint8 on the wire). */
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "Parameter 'multifd-channels' expects uint8_t");
            return false;
        }
        if (v < ip->min || v > ip->max) {
            return range_error(ip, errp);
        }
        if (!strcmp(ip->name, "xbzrle-cache-size") && (v & (v - 1))) {
            return range_error(ip, errp);
        }
        *int_field(n, ip) = v;
    }
    if (n->max_cpu_throttle < n->cpu_throttle_initial) {
        for (size_t i = 0; i < G_N_ELEMENTS(int_params); i++) {
            if (!strcmp(int_params[i].name, "max-cpu-throttle")) {
                return range_error(&int_params[i], errp);
            }
        }
    }
    return true;
}

static bool set_strings(MigrationParams *n, JsonObject *args, GError **errp)
{
    static const struct {
        const char *name;
        size_t offset;
    } strs[] = {
        { "tls-creds", P(tls_creds) },
        { "tls-hostname", P(tls_hostname) },
        { "tls-authz", P(tls_authz) },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(strs); i++) {
        char **f = (char **)((char *)n + strs[i].offset);
        const char *v;

        if (!json_object_has_member(args, strs[i].name)) {
            continue;
        }
        v = json_object_get_string_member(args, strs[i].name);
        if (v && *v) {
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "Parameter '%s': TLS is not supported by kestrel "
                        "(only \"\" is accepted)", strs[i].name);
            return false;
        }
        g_free(*f);
        *f = g_strdup("");
    }
    return true;
}

bool migration_params_set(MigrationParams *p, JsonObject *args,
                          GError **errp)
{
    MigrationParams n = *p;
    const char *comp;

    /* Validate a copy; commit only when all of it holds. */
    n.tls_creds = g_strdup(p->tls_creds);
    n.tls_hostname = g_strdup(p->tls_hostname);
    n.tls_authz = g_strdup(p->tls_authz);
    if (!set_ints(&n, args, errp) || !set_strings(&n, args, errp)) {
        migration_params_clear(&n);
        return false;
    }
    if (json_object_has_member(args, "compress-wait-thread")) {
        n.compress_wait_thread =
            json_object_get_boolean_member(args, "compress-wait-thread");
    }
    if (json_object_has_member(args, "cpu-throttle-tailslow")) {
        n.cpu_throttle_tailslow =
            json_object_get_boolean_member(args, "cpu-throttle-tailslow");
    }
    if (json_object_has_member(args, "block-incremental") &&
        json_object_get_boolean_member(args, "block-incremental")) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "Parameter 'block-incremental': block migration is not "
                    "supported by kestrel");
        migration_params_clear(&n);
        return false;
    }
    if (json_object_has_member(args, "block-bitmap-mapping") &&
        json_array_get_length(json_object_get_array_member(
            args, "block-bitmap-mapping")) > 0) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "Parameter 'block-bitmap-mapping': kestrel has no block "
                    "dirty bitmaps to map");
        migration_params_clear(&n);
        return false;
    }
    comp = json_object_has_member(args, "multifd-compression") ?
           json_object_get_string_member(args, "multifd-compression") : NULL;
    if (comp) {
        if (!strcmp(comp, "none")) {
            n.multifd_compression = MIG_COMPRESS_NONE;
        } else if (!strcmp(comp, "zstd")) {
            n.multifd_compression = MIG_COMPRESS_ZSTD;
        } else {
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "Parameter 'multifd-compression': '%s' is not "
                        "supported by kestrel (none and zstd are)", comp);
            migration_params_clear(&n);
            return false;
        }
    }
    migration_params_clear(p);
    *p = n;
    return true;
}

JsonNode *migration_params_query(const MigrationParams *p)
{
    static const char *const comp[] = { "none", "zlib", "zstd" };
    JsonObject *o = json_object_new();
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);

    for (size_t i = 0; i < G_N_ELEMENTS(int_params); i++) {
        json_object_set_int_member(o, int_params[i].name,
                                   *int_field((MigrationParams *)p,
                                              &int_params[i]));
    }
    json_object_set_boolean_member(o, "compress-wait-thread",
                                   p->compress_wait_thread);
    json_object_set_boolean_member(o, "cpu-throttle-tailslow",
                                   p->cpu_throttle_tailslow);
    json_object_set_boolean_member(o, "block-incremental",
                                   p->block_incremental);
    json_object_set_string_member(o, "tls-creds", p->tls_creds);
    json_object_set_string_member(o, "tls-hostname", p->tls_hostname);
    json_object_set_string_member(o, "tls-authz", p->tls_authz);
    json_object_set_string_member(o, "multifd-compression",
                                  comp[p->multifd_compression]);
    json_node_take_object(n, o);
    return n;
}
