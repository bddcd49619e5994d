/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Memory procedures: balloon size (virsh setmem / setmaxmem), guest
 * memory statistics (virsh dommemstat) and their polling period.  The
 * balloon is kestrel's virtio-balloon, driven with QEMU's QMP commands.
 */
#include "config.h"

#include <string.h>

#include "dispatch.h"
#include "process.h"
#include "virerror.h"

/* virDomainMemoryModFlags (wire values). */
#define MEM_LIVE 1u
#define MEM_CONFIG 2u
#define MEM_MAXIMUM 4u

/* virDomainMemoryStatTags (wire values). */
enum {
    STAT_SWAP_IN = 0,
    STAT_SWAP_OUT = 1,
    STAT_MAJOR_FAULT = 2,
    STAT_MINOR_FAULT = 3,
    STAT_UNUSED = 4,
    STAT_AVAILABLE = 5,
    STAT_ACTUAL_BALLOON = 6,
    STAT_RSS = 7,
    STAT_USABLE = 8,
    STAT_LAST_UPDATE = 9,
    STAT_DISK_CACHES = 10,
    STAT_HUGETLB_PGALLOC = 11,
    STAT_HUGETLB_PGFAIL = 12,
};

/* QEMU's guest-stats names, the tag and the divisor libvirt applies, and
 * the field of the domstats "balloon" group (wire names: never rename). */
static const struct {
    const char *name;
    int tag;
    guint64 div;
    const char *field;
} balloon_stats[] = {
    { "stat-swap-in", STAT_SWAP_IN, 1024, "balloon.swap_in" },
    { "stat-swap-out", STAT_SWAP_OUT, 1024, "balloon.swap_out" },
    { "stat-major-faults", STAT_MAJOR_FAULT, 1, "balloon.major_fault" },
    { "stat-minor-faults", STAT_MINOR_FAULT, 1, "balloon.minor_fault" },
    { "stat-free-memory", STAT_UNUSED, 1024, "balloon.unused" },
    { "stat-total-memory", STAT_AVAILABLE, 1024, "balloon.available" },
    { "stat-available-memory", STAT_USABLE, 1024, "balloon.usable" },
    { "stat-disk-caches", STAT_DISK_CACHES, 1024, "balloon.disk_caches" },
    { "stat-htlb-pgalloc", STAT_HUGETLB_PGALLOC, 1,
      "balloon.hugetlb_pgalloc" },
    { "stat-htlb-pgfail", STAT_HUGETLB_PGFAIL, 1, "balloon.hugetlb_pgfail" },
};

/* A guest stat QEMU reported, in libvirt's units; false if unset (QEMU's
 * all-ones, or not a number). */
static bool guest_stat_value(JsonObject *stats, size_t i, guint64 *v)
{
    JsonNode *n = json_object_get_member(stats, balloon_stats[i].name);
    gint64 raw;

    if (!n || !JSON_NODE_HOLDS_VALUE(n) ||
        json_node_get_value_type(n) != G_TYPE_INT64) {
        return false;
    }
    raw = json_node_get_int(n);
    if (raw < 0) {
        return false;
    }
    *v = (guint64)raw / balloon_stats[i].div;
    return true;
}

void memory_guest_stats_foreach(JsonObject *stats,
                                void (*fn)(const char *field, guint64 v,
                                           void *opaque),
                                void *opaque)
{
    for (size_t i = 0; stats && i < G_N_ELEMENTS(balloon_stats); i++) {
        guint64 v;

        if (guest_stat_value(stats, i, &v)) {
            fn(balloon_stats[i].field, v, opaque);
        }
    }
}

/* CURRENT (0) means LIVE on a running domain, else CONFIG. */
static bool memory_resolve_flags(DomainObj *dom, unsigned int *flags,
                                 GError **errp)
{
    if (!(*flags & (MEM_LIVE | MEM_CONFIG))) {
        *flags |= domain_obj_is_active(dom) ? MEM_LIVE : MEM_CONFIG;
    }
    if ((*flags & MEM_LIVE) && !domain_check_active(dom, errp)) {
        return false;
    }
    if ((*flags & MEM_CONFIG) && !dom->persistent) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                    "cannot change persistent config of a transient domain");
        return false;
    }
    return true;
}

typedef struct {
    RpcCall *call;
    guint64 kib;
} MemoryOp;

static void memory_balloon_done(DomainObj *dom, JsonNode *ret,
                                const GError *err, void *opaque)
{
    MemoryOp *op = opaque;

    if (!err) {
        domain_obj_edit_live(dom)->current_kib = op->kib;
        domain_save_status(dom);
    }
    domain_job_end(dom);
    rpc_call_finish(op->call, err);
    g_free(op);
}

static RpcResult memory_set(RpcCall *call, const remote_nonnull_domain *rdom,
                            guint64 kib, unsigned int flags, GError **errp)
{
    g_autoptr(DomainObj) dom = NULL;
    DomainDef *conf;
    RpcResult jr;

    if (flags & ~(MEM_LIVE | MEM_CONFIG | MEM_MAXIMUM)) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                    "unsupported flags (0x%x) in function "
                    "virDomainSetMemoryFlags",
                    flags & ~(MEM_LIVE | MEM_CONFIG | MEM_MAXIMUM));
        return RPC_RESULT_ERROR;
    }
    dom = dispatch_get_domain(rdom, errp);
    if (!dom) {
        return RPC_RESULT_ERROR;
    }
    jr = dispatch_job_begin(call, dom, "setmem");
    if (jr != RPC_RESULT_OK) {
        return jr;
    }
    if (!memory_resolve_flags(dom, &flags, errp)) {
        goto error;
    }

    if (flags & MEM_MAXIMUM) {
        if (flags & MEM_LIVE) {
            g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                        "cannot resize the maximum memory on an active "
                        "domain");
            goto error;
        }
        conf = domain_obj_edit_config(dom);
        conf->memory_kib = kib;
        if (conf->current_kib > kib) {
            conf->current_kib = kib;
        }
        if (!domain_save_config(dom->drv, conf, errp)) {
            goto error;
        }
        domain_job_end(dom);
        return RPC_RESULT_OK;
    }

    if (flags & MEM_CONFIG) {
        conf = domain_obj_get_persistent_def(dom);
        if (kib > conf->memory_kib) {
            g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                        "cannot set memory higher than max memory");
            goto error;
        }
    }
    if ((flags & MEM_LIVE) && kib > dom->def->memory_kib) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                    "cannot set memory higher than max memory");
        goto error;
    }
    if (flags & MEM_CONFIG) {
        conf = domain_obj_edit_config(dom);
        conf->current_kib = kib;
        if (!domain_save_config(dom->drv, conf, errp)) {
            goto error;
        }
    }
    if (flags & MEM_LIVE) {
        g_autoptr(JsonObject) args = json_object_new();
        MemoryOp *op;

        if (dom->def->balloon.model != DOMAIN_BALLOON_VIRTIO) {
            g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                        "unable to change memory of active domain without "
                        "the balloon device");
            goto error;
        }
        op = g_new0(MemoryOp, 1);
        op->call = call;
        op->kib = kib;
        json_object_set_int_member(args, "value", (gint64)(kib * 1024));
        process_qmp_call(dom, "balloon", args, memory_balloon_done, op);
        return RPC_RESULT_PENDING;
    }
    domain_job_end(dom);
    return RPC_RESULT_OK;

 error:
    domain_job_end(dom);
    return RPC_RESULT_ERROR;
}

static RpcResult proc_set_memory_flags(RpcCall *call, void *a, void *r,
                                       GError **errp)
{
    remote_domain_set_memory_flags_args *args = a;

    return memory_set(call, &args->dom, args->memory, args->flags, errp);
}

static RpcResult proc_set_memory(RpcCall *call, void *a, void *r,
                                 GError **errp)
{
    remote_domain_set_memory_args *args = a;

    return memory_set(call, &args->dom, args->memory, MEM_LIVE, errp);
}

static RpcResult proc_set_max_memory(RpcCall *call, void *a, void *r,
                                     GError **errp)
{
    remote_domain_set_memory_args *args = a;

    return memory_set(call, &args->dom, args->memory, MEM_MAXIMUM, errp);
}

/* ---- statistics -------------------------------------------------------- */

typedef struct {
    RpcCall *call;
    unsigned int max;
    guint64 actual_kib;
} StatsOp;

static void stats_add(remote_domain_memory_stats_ret *ret, unsigned int max,
                      int tag, guint64 val)
{
    guint n = ret->stats.stats_len;

    if (n < max) {
        ret->stats.stats_val[n].tag = tag;
        ret->stats.stats_val[n].val = val;
        ret->stats.stats_len++;
    }
}

static void stats_guest_done(DomainObj *dom, JsonNode *node,
                             const GError *err, void *opaque)
{
    StatsOp *op = opaque;
    remote_domain_memory_stats_ret *ret = rpc_call_get_ret(op->call);
    JsonObject *o = node && JSON_NODE_HOLDS_OBJECT(node)
                    ? json_node_get_object(node) : NULL;
    JsonObject *stats = o && json_object_has_member(o, "stats")
                        ? json_object_get_object_member(o, "stats") : NULL;
    guint64 rss = process_rss_kib(dom);
    size_t i;

    /* The guest's own numbers are optional: without them, libvirt reports
     * the balloon size and RSS only. */
    ret->stats.stats_val = g_new0(remote_domain_memory_stat,
                                  G_N_ELEMENTS(balloon_stats) + 3);
    for (i = 0; stats && i < G_N_ELEMENTS(balloon_stats); i++) {
        guint64 v;

        if (guest_stat_value(stats, i, &v)) {
            stats_add(ret, op->max, balloon_stats[i].tag, v);
        }
    }
    stats_add(ret, op->max, STAT_ACTUAL_BALLOON, op->actual_kib);
    if (stats && json_object_has_member(o, "last-update") &&
        json_object_get_int_member(o, "last-update") > 0) {
        stats_add(ret, op->max, STAT_LAST_UPDATE,
                  json_object_get_int_member(o, "last-update"));
    }
    if (rss) {
        stats_add(ret, op->max, STAT_RSS, rss);
    }
    rpc_call_finish(op->call, NULL);
    g_free(op);
}

static void stats_balloon_done(DomainObj *dom, JsonNode *node,
                               const GError *err, void *opaque)
{
    StatsOp *op = opaque;
    g_autoptr(JsonObject) args = json_object_new();
    g_autofree char *path = process_balloon_path(dom);

    op->actual_kib = dom->def->current_kib;
    if (node && JSON_NODE_HOLDS_OBJECT(node) &&
        json_object_has_member(json_node_get_object(node), "actual")) {
        op->actual_kib = json_object_get_int_member(
            json_node_get_object(node), "actual") / 1024;
    }
    json_object_set_string_member(args, "path", path);
    json_object_set_string_member(args, "property", "guest-stats");
    process_qmp_call(dom, "qom-get", args, stats_guest_done, op);
}

static RpcResult proc_memory_stats(RpcCall *call, void *a, void *r,
                                   GError **errp)
{
    remote_domain_memory_stats_args *args = a;
    g_autoptr(DomainObj) dom = NULL;
    StatsOp *op;

    if (args->flags) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                    "unsupported flags (0x%x) in function "
                    "virDomainMemoryStats", args->flags);
        return RPC_RESULT_ERROR;
    }
    if (args->maxStats > REMOTE_DOMAIN_MEMORY_STATS_MAX) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_RPC,
                    "maxStats > REMOTE_DOMAIN_MEMORY_STATS_MAX");
        return RPC_RESULT_ERROR;
    }
    dom = dispatch_get_domain(&args->dom, errp);
    if (!dom || !domain_check_active(dom, errp)) {
        return RPC_RESULT_ERROR;
    }
    op = g_new0(StatsOp, 1);
    op->call = call;
    op->max = args->maxStats;
    if (dom->def->balloon.model != DOMAIN_BALLOON_VIRTIO) {
        op->actual_kib = dom->def->current_kib;
        stats_guest_done(dom, NULL, NULL, op);
        return RPC_RESULT_PENDING;
    }
    process_qmp_call(dom, "query-balloon", NULL, stats_balloon_done, op);
    return RPC_RESULT_PENDING;
}

static void period_done(DomainObj *dom, JsonNode *ret, const GError *err,
                        void *opaque)
{
    domain_job_end(dom);
    rpc_call_finish(opaque, err);
}

static RpcResult proc_set_memory_stats_period(RpcCall *call, void *a,
                                              void *r, GError **errp)
{
    remote_domain_set_memory_stats_period_args *args = a;
    g_autoptr(DomainObj) dom = NULL;
    unsigned int flags = args->flags;
    RpcResult jr;

    if (flags & ~(MEM_LIVE | MEM_CONFIG)) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                    "unsupported flags (0x%x) in function "
                    "virDomainSetMemoryStatsPeriod", flags);
        return RPC_RESULT_ERROR;
    }
    if (args->period < 0) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                    "invalid value for collection period");
        return RPC_RESULT_ERROR;
    }
    dom = dispatch_get_domain(&args->dom, errp);
    if (!dom) {
        return RPC_RESULT_ERROR;
    }
    jr = dispatch_job_begin(call, dom, "memstat-period");
    if (jr != RPC_RESULT_OK) {
        return jr;
    }
    if (!memory_resolve_flags(dom, &flags, errp)) {
        domain_job_end(dom);
        return RPC_RESULT_ERROR;
    }
    if (domain_obj_get_persistent_def(dom)->balloon.model !=
        DOMAIN_BALLOON_VIRTIO) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                    "no balloon device for domain '%s'", dom->name);
        domain_job_end(dom);
        return RPC_RESULT_ERROR;
    }
    if (flags & MEM_CONFIG) {
        DomainDef *conf = domain_obj_edit_config(dom);

        conf->balloon.stats_period = args->period;
        if (!domain_save_config(dom->drv, conf, errp)) {
            domain_job_end(dom);
            return RPC_RESULT_ERROR;
        }
    }
    if (flags & MEM_LIVE) {
        g_autoptr(JsonObject) qargs = json_object_new();
        g_autofree char *path = process_balloon_path(dom);

        domain_obj_edit_live(dom)->balloon.stats_period = args->period;
        process_guest_stats_update(dom);
        json_object_set_string_member(qargs, "path", path);
        json_object_set_string_member(qargs, "property",
                                      "guest-stats-polling-interval");
        json_object_set_int_member(qargs, "value", args->period);
        process_qmp_call(dom, "qom-set", qargs, period_done, call);
        return RPC_RESULT_PENDING;
    }
    domain_job_end(dom);
    return RPC_RESULT_OK;
}

const RpcProc dispatch_memory_procs[] = {
    PROC(DOMAIN_SET_MAX_MEMORY, "virDomainSetMaxMemory",
         remote_domain_set_memory_args, VOID_T, proc_set_max_memory, RW),
    PROC(DOMAIN_SET_MEMORY, "virDomainSetMemory",
         remote_domain_set_memory_args, VOID_T, proc_set_memory, RW),
    PROC(DOMAIN_MEMORY_STATS, "virDomainMemoryStats",
         remote_domain_memory_stats_args, remote_domain_memory_stats_ret,
         proc_memory_stats, RO),
    PROC(DOMAIN_SET_MEMORY_FLAGS, "virDomainSetMemoryFlags",
         remote_domain_set_memory_flags_args, VOID_T, proc_set_memory_flags,
         RW),
    PROC(DOMAIN_SET_MEMORY_STATS_PERIOD, "virDomainSetMemoryStatsPeriod",
         remote_domain_set_memory_stats_period_args, VOID_T,
         proc_set_memory_stats_period, RW),
};

const size_t dispatch_memory_nprocs = G_N_ELEMENTS(dispatch_memory_procs);
