/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Statistics: CONNECT_GET_ALL_DOMAIN_STATS (virsh domstats, virt-manager's
 * polling), DOMAIN_GET_VCPUS with NODE_GET_CPU_MAP (virsh vcpuinfo,
 * python dom.vcpus()).  Everything here
 * comes from the daemon's state, /proc and /sys, except the block counters
 * of running domains: one query-blockstats per domain with disks, all
 * sent at once, the reply made when the last answers (or times out).
 */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include "dispatch.h"
#include "netdev.h"
#include "process.h"
#include "virerror.h"

/* virDomainStatsTypes we serve (wire values). */
#define STATS_STATE 1u
#define STATS_CPU_TOTAL 2u
#define STATS_BALLOON 4u
#define STATS_VCPU 8u
#define STATS_INTERFACE 16u
#define STATS_BLOCK 32u
#define STATS_SERVED (STATS_STATE | STATS_CPU_TOTAL | STATS_BALLOON | \
                      STATS_VCPU | STATS_INTERFACE | STATS_BLOCK)

/* virConnectGetAllDomainStatsFlags (wire values). */
#define STATS_FILTERS 0xffu             /* LIST_ALL_DOMAINS' first groups */
#define STATS_NOWAIT (1u << 29)
#define STATS_BACKING (1u << 30)
#define STATS_ENFORCE (1u << 31)

/* virTypedParameterType (wire values). */
enum {
    TP_INT = 1,
    TP_UINT = 2,
    TP_ULLONG = 4,
    TP_STRING = 7,
};

/* Same filter rules as CONNECT_LIST_ALL_DOMAINS for bits 0..7. */
static bool stats_match(DomainObj *dom, unsigned int flags)
{
    bool active = domain_obj_is_active(dom);
    unsigned int st;

    if ((flags & 3) && !((flags & 1 && active) || (flags & 2 && !active))) {
        return false;
    }
    if ((flags & 12) && !((flags & 4 && dom->persistent) ||
                          (flags & 8 && !dom->persistent))) {
        return false;
    }
    st = dom->state == DOMAIN_STATE_RUNNING ? 16
       : dom->state == DOMAIN_STATE_PAUSED ? 32
       : dom->state == DOMAIN_STATE_SHUTOFF ? 64 : 128;
    return !(flags & 0xf0) || (flags & st);
}

static remote_typed_param *stats_param(GArray *params, const char *field,
                                       int type)
{
    remote_typed_param p = { 0 };

    p.field = g_strdup(field);
    p.value.type = type;
    g_array_append_val(params, p);
    return &g_array_index(params, remote_typed_param, params->len - 1);
}

static void stats_int(GArray *params, const char *field, int v)
{
    stats_param(params, field, TP_INT)->value.remote_typed_param_value_u.i =
        v;
}

static void stats_uint(GArray *params, const char *field, unsigned int v)
{
    stats_param(params, field, TP_UINT)->value.remote_typed_param_value_u.ui
        = v;
}

static void stats_ullong(GArray *params, const char *field, guint64 v)
{
    stats_param(params, field, TP_ULLONG)->value.remote_typed_param_value_u
        .ul = v;
}

static void stats_string(GArray *params, const char *field, const char *v)
{
    stats_param(params, field, TP_STRING)->value.remote_typed_param_value_u
        .s = g_strdup(v);
}

static void stats_indexed(GArray *params, const char *group, guint i,
                          const char *key, guint64 v)
{
    g_autofree char *field = g_strdup_printf("%s.%u.%s", group, i, key);

    stats_ullong(params, field, v);
}

/* libvirt's block.* group: per disk its name and source, the counters of
 * query-blockstats (@blockstats: its reply, or NULL when the domain is not
 * running), and the sizes of the image. */
static void stats_block(GArray *params, DomainObj *dom, JsonNode *blockstats)
{
    GPtrArray *disks = dom->def->disks;

    stats_uint(params, "block.count", disks->len);
    for (guint i = 0; i < disks->len; i++) {
        const DomainDisk *d = g_ptr_array_index(disks, i);
        g_autofree char *name = g_strdup_printf("block.%u.name", i);
        g_autofree char *path = g_strdup_printf("block.%u.path", i);
        JsonObject *st = dispatch_blockstats_of(blockstats, dom, i);
        guint64 cap, alloc, phys;

        stats_string(params, name, d->target);
        stats_string(params, path, d->path);
        if (st) {
            static const char *const keys[][2] = {
                { "rd.reqs", "rd_operations" },
                { "rd.bytes", "rd_bytes" },
                { "rd.times", "rd_total_time_ns" },
                { "wr.reqs", "wr_operations" },
                { "wr.bytes", "wr_bytes" },
                { "wr.times", "wr_total_time_ns" },
                { "fl.reqs", "flush_operations" },
                { "fl.times", "flush_total_time_ns" },
            };

            for (size_t k = 0; k < G_N_ELEMENTS(keys); k++) {
                stats_indexed(params, "block", i, keys[k][0],
                              (guint64)json_object_get_int_member_with_default(
                                  st, keys[k][1], 0));
            }
        }
        if (dispatch_disk_image_info(d, &cap, &alloc, &phys, NULL)) {
            stats_indexed(params, "block", i, "allocation", alloc);
            stats_indexed(params, "block", i, "capacity", cap);
            stats_indexed(params, "block", i, "physical", phys);
        }
    }
}

/* libvirt's net.* group: the taps' counters, seen from the guest. */
static void stats_net(GArray *params, DomainObj *dom)
{
    guint n = 0;

    if (!domain_obj_is_active(dom)) {
        return;                         /* as libvirt: running domains */
    }
    stats_uint(params, "net.count", dom->def->nets->len);
    for (guint i = 0; i < dom->def->nets->len; i++) {
        const char *tap = netdev_domain_ifname(dom, i);
        g_autofree char *name = g_strdup_printf("net.%u.name", n);
        NetdevStats st;

        if (!tap || !netdev_guest_stats(tap, &st, NULL)) {
            continue;
        }
        stats_string(params, name, tap);
        stats_indexed(params, "net", n, "rx.bytes", st.rx_bytes);
        stats_indexed(params, "net", n, "rx.pkts", st.rx_packets);
        stats_indexed(params, "net", n, "rx.errs", st.rx_errs);
        stats_indexed(params, "net", n, "rx.drop", st.rx_drop);
        stats_indexed(params, "net", n, "tx.bytes", st.tx_bytes);
        stats_indexed(params, "net", n, "tx.pkts", st.tx_packets);
        stats_indexed(params, "net", n, "tx.errs", st.tx_errs);
        stats_indexed(params, "net", n, "tx.drop", st.tx_drop);
        n++;
    }
}

static void stats_guest_param(const char *field, guint64 v, void *opaque)
{
    stats_ullong(opaque, field, v);
}

static void stats_record(remote_domain_stats_record *rec, DomainObj *dom,
                         unsigned int stats, JsonNode *blockstats)
{
    GArray *params = g_array_new(false, true, sizeof(remote_typed_param));
    bool active = domain_obj_is_active(dom);
    unsigned int i, n = dom->def->vcpus;

    dispatch_make_domain(&rec->dom, dom);
    if (stats & STATS_STATE) {
        stats_int(params, "state.state", dom->state);
        stats_int(params, "state.reason", dom->reason);
    }
    if ((stats & STATS_CPU_TOTAL) && active) {
        stats_ullong(params, "cpu.time", process_cpu_time(dom));
    }
    if (stats & STATS_BALLOON) {
        guint64 cur = active && dom->balloon_kib ? dom->balloon_kib
                    : dom->def->current_kib;

        stats_ullong(params, "balloon.current", cur);
        stats_ullong(params, "balloon.maximum", dom->def->memory_kib);
        if (active && dom->guest_stats) {
            /* From the cache process.c refreshes: no monitor call here. */
            guint64 rss = process_rss_kib(dom);

            memory_guest_stats_foreach(dom->guest_stats, stats_guest_param,
                                       params);
            if (rss) {
                stats_ullong(params, "balloon.rss", rss);
            }
            if (dom->guest_stats_update > 0) {
                stats_ullong(params, "balloon.last-update",
                             (guint64)dom->guest_stats_update);
            }
        }
    }
    if (stats & STATS_VCPU) {
        stats_uint(params, "vcpu.current", n);
        stats_uint(params, "vcpu.maximum", n);
        if (active) {
            g_autofree guint64 *times = g_new0(guint64, n);
            g_autofree int *cpus = g_new0(int, n);

            process_vcpu_times(dom, times, cpus, n);
            for (i = 0; i < n; i++) {
                g_autofree char *state = g_strdup_printf("vcpu.%u.state", i);
                g_autofree char *time = g_strdup_printf("vcpu.%u.time", i);

                stats_int(params, state, 1);        /* RUNNING */
                stats_ullong(params, time, times[i]);
            }
        }
    }
    if (stats & STATS_INTERFACE) {
        stats_net(params, dom);
    }
    if (stats & STATS_BLOCK) {
        stats_block(params, dom, blockstats);
    }
    rec->params.params_len = params->len;
    rec->params.params_val = (remote_typed_param *)
        g_array_free(params, params->len == 0);
}

static void stats_fill(remote_connect_get_all_domain_stats_ret *ret,
                       GPtrArray *doms, unsigned int stats,
                       JsonNode **blockstats)
{
    ret->retStats.retStats_len = doms->len;
    ret->retStats.retStats_val = g_new0(remote_domain_stats_record,
                                        MAX(doms->len, 1));
    for (guint i = 0; i < doms->len; i++) {
        stats_record(&ret->retStats.retStats_val[i], doms->pdata[i], stats,
                     blockstats ? blockstats[i] : NULL);
    }
}

/* domstats --block of running domains: their query-blockstats replies. */
typedef struct {
    RpcCall *call;
    GPtrArray *doms;
    unsigned int stats;
    JsonNode **replies;         /* per domain, NULL: none */
    guint pending;
} StatsGather;

typedef struct {
    StatsGather *g;
    guint index;
} StatsGatherOne;

static void stats_gather_finish(StatsGather *g)
{
    stats_fill(rpc_call_get_ret(g->call), g->doms, g->stats, g->replies);
    rpc_call_finish(g->call, NULL);
    for (guint i = 0; i < g->doms->len; i++) {
        g_clear_pointer(&g->replies[i], json_node_unref);
    }
    g_free(g->replies);
    g_ptr_array_unref(g->doms);
    g_free(g);
}

static void stats_gather_reply(DomainObj *dom, JsonNode *ret,
                               const GError *err, void *opaque)
{
    StatsGatherOne *one = opaque;
    StatsGather *g = one->g;

    /* a domain that stopped meanwhile just has no counters */
    if (!err && ret) {
        g->replies[one->index] = json_node_copy(ret);
    }
    g_free(one);
    if (--g->pending == 0) {
        stats_gather_finish(g);
    }
}

static RpcResult stats_gather_block(RpcCall *call, GPtrArray *doms,
                                    unsigned int stats)
{
    StatsGather *g = g_new0(StatsGather, 1);

    g->call = call;
    g->doms = doms;
    g->stats = stats;
    g->replies = g_new0(JsonNode *, MAX(doms->len, 1));
    g->pending = 1;                     /* held until all are sent */
    for (guint i = 0; i < doms->len; i++) {
        DomainObj *dom = doms->pdata[i];
        StatsGatherOne *one;

        if (!domain_obj_is_active(dom) || !dom->mon ||
            !dom->def->disks->len) {
            continue;
        }
        one = g_new0(StatsGatherOne, 1);
        one->g = g;
        one->index = i;
        g->pending++;
        process_qmp_call(dom, "query-blockstats", NULL, stats_gather_reply,
                         one);
    }
    if (--g->pending == 0) {
        stats_gather_finish(g);
    }
    return RPC_RESULT_PENDING;
}

static RpcResult proc_get_all_domain_stats(RpcCall *call, void *a, void *r,
                                           GError **errp)
{
    remote_connect_get_all_domain_stats_args *args = a;
    remote_connect_get_all_domain_stats_ret *ret = r;
    g_autoptr(GPtrArray) doms = NULL;
    unsigned int stats = args->stats ? args->stats : STATS_SERVED;
    unsigned int allowed = STATS_FILTERS | STATS_NOWAIT | STATS_BACKING |
                           STATS_ENFORCE;
    guint i;

    if (args->flags & ~allowed) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                    "unsupported flags (0x%x) in function "
                    "virConnectGetAllDomainStats", args->flags & ~allowed);
        return RPC_RESULT_ERROR;
    }
    if ((args->flags & STATS_ENFORCE) && (stats & ~STATS_SERVED)) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_ARGUMENT_UNSUPPORTED,
                    "Stats types bits 0x%x are not supported by this daemon",
                    stats & ~STATS_SERVED);
        return RPC_RESULT_ERROR;
    }

    if (args->doms.doms_len) {
        doms = g_ptr_array_new_with_free_func(
            (GDestroyNotify)domain_obj_unref);
        for (i = 0; i < args->doms.doms_len; i++) {
            DomainObj *dom = dispatch_get_domain(&args->doms.doms_val[i],
                                                 errp);

            if (!dom) {
                return RPC_RESULT_ERROR;
            }
            g_ptr_array_add(doms, dom);
        }
    } else {
        doms = domain_list_all(dispatch_driver());
        for (i = doms->len; i-- > 0;) {
            if (!stats_match(doms->pdata[i], args->flags & STATS_FILTERS)) {
                g_ptr_array_remove_index(doms, i);
            }
        }
    }

    if (stats & STATS_BLOCK) {
        return stats_gather_block(call, g_steal_pointer(&doms), stats);
    }
    stats_fill(ret, doms, stats, NULL);
    return RPC_RESULT_OK;
}

static int stats_host_cpus(void)
{
    return (int)sysconf(_SC_NPROCESSORS_CONF);
}

static RpcResult proc_node_get_cpu_map(RpcCall *call, void *a, void *r,
                                       GError **errp)
{
    remote_node_get_cpu_map_args *args = a;
    remote_node_get_cpu_map_ret *ret = r;
    int n = stats_host_cpus(), i;

    if (args->flags) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                    "unsupported flags (0x%x) in function virNodeGetCPUMap",
                    args->flags);
        return RPC_RESULT_ERROR;
    }
    if (args->need_map) {
        ret->cpumap.cpumap_len = (n + 7) / 8;
        ret->cpumap.cpumap_val = g_new0(char, ret->cpumap.cpumap_len);
        for (i = 0; i < n; i++) {
            ret->cpumap.cpumap_val[i / 8] |= 1 << (i % 8);
        }
    }
    if (args->need_online) {
        ret->online = (unsigned int)sysconf(_SC_NPROCESSORS_ONLN);
    }
    ret->ret = n;
    return RPC_RESULT_OK;
}

static RpcResult proc_domain_get_vcpus(RpcCall *call, void *a, void *r,
                                       GError **errp)
{
    remote_domain_get_vcpus_args *args = a;
    remote_domain_get_vcpus_ret *ret = r;
    g_autoptr(DomainObj) dom = dispatch_get_domain(&args->dom, errp);
    g_autofree guint64 *times = NULL;
    g_autofree int *cpus = NULL;
    int n, i, j, host = stats_host_cpus();

    if (!dom || !domain_check_active(dom, errp)) {
        return RPC_RESULT_ERROR;
    }
    if (args->maxinfo < 0 || args->maxinfo > REMOTE_VCPUINFO_MAX ||
        args->maplen < 0 ||
        (gint64)args->maxinfo * args->maplen > REMOTE_CPUMAPS_MAX) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_RPC,
                    "maxinfo * maplen > REMOTE_CPUMAPS_MAX");
        return RPC_RESULT_ERROR;
    }
    n = MIN((int)dom->def->vcpus, args->maxinfo);
    times = g_new0(guint64, MAX(n, 1));
    cpus = g_new0(int, MAX(n, 1));
    process_vcpu_times(dom, times, cpus, n);

    ret->info.info_len = n;
    ret->info.info_val = g_new0(remote_vcpu_info, MAX(n, 1));
    ret->cpumaps.cpumaps_len = args->maxinfo * args->maplen;
    ret->cpumaps.cpumaps_val = g_new0(char, MAX(ret->cpumaps.cpumaps_len,
                                                1));
    for (i = 0; i < n; i++) {
        ret->info.info_val[i].number = i;
        ret->info.info_val[i].state = 1;            /* VIR_VCPU_RUNNING */
        ret->info.info_val[i].cpu_time = times[i];
        ret->info.info_val[i].cpu = cpus[i];
        /* Not pinned: every host CPU. */
        for (j = 0; j < host && j < args->maplen * 8; j++) {
            ret->cpumaps.cpumaps_val[i * args->maplen + j / 8] |=
                1 << (j % 8);
        }
    }
    return RPC_RESULT_OK;
}

const RpcProc dispatch_stats_procs[] = {
    PROC(DOMAIN_GET_VCPUS, "virDomainGetVcpus", remote_domain_get_vcpus_args,
         remote_domain_get_vcpus_ret, proc_domain_get_vcpus, RO),
    PROC(NODE_GET_CPU_MAP, "virNodeGetCPUMap", remote_node_get_cpu_map_args,
         remote_node_get_cpu_map_ret, proc_node_get_cpu_map, RO),
    PROC(CONNECT_GET_ALL_DOMAIN_STATS, "virConnectGetAllDomainStats",
         remote_connect_get_all_domain_stats_args,
         remote_connect_get_all_domain_stats_ret, proc_get_all_domain_stats,
         RO),
};

const size_t dispatch_stats_nprocs = G_N_ELEMENTS(dispatch_stats_procs);
