/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Live migration between two virtkestreld daemons: libvirt's migration
 * protocol v3 with extensible parameters, as libvirt 9.0 clients drive it
 * (virsh migrate, virDomainMigrate3):
 *
 *   source        Begin3Params    the migratable XML and a cookie; the
 *                                 domain's async job (MIGRATION_OUT)
 *                                 starts here (change protection)
 *   destination   Prepare3Params  a transient domain from that XML, kestrel
 *                                 started with -incoming defer listening on
 *                                 tcp:ADDR:PORT (migrate-incoming); returns
 *                                 uri_out tcp:HOST:PORT
 *   source        Perform3Params  migrate to that URI, wait for completion
 *                                 (domjobinfo answers meanwhile); on
 *                                 failure the domain runs on, job ended
 *   destination   Finish3Params   wait for the stream's end, resume (unless
 *                                 PAUSED), persist (PERSIST_DEST); or, if
 *                                 cancelled, kill the VMM and forget it
 *   source        Confirm3Params  stop the VMM (shut off, migrated), drop
 *                                 or undefine the domain; or, if
 *                                 cancelled, resume it
 *
 * Offline migration (OFFLINE, a shut-off domain, with PERSIST_DEST) only
 * defines the domain on the destination.  Cookies are short text notes
 * (domain name and uuid, host): the client carries them, nobody needs
 * them yet.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "dispatch.h"
#include "monitor.h"
#include "process.h"
#include "virerror.h"

/* virDomainMigrateFlags (wire values). */
#define MIGRATE_LIVE                (1u << 0)
#define MIGRATE_PEER2PEER           (1u << 1)
#define MIGRATE_TUNNELLED           (1u << 2)
#define MIGRATE_PERSIST_DEST        (1u << 3)
#define MIGRATE_UNDEFINE_SOURCE     (1u << 4)
#define MIGRATE_PAUSED              (1u << 5)
#define MIGRATE_CHANGE_PROTECTION   (1u << 8)
#define MIGRATE_UNSAFE              (1u << 9)
#define MIGRATE_NON_SHARED_DISK     (1u << 6)
#define MIGRATE_NON_SHARED_INC      (1u << 7)
#define MIGRATE_OFFLINE             (1u << 10)
#define MIGRATE_COMPRESSED          (1u << 11)
#define MIGRATE_ABORT_ON_ERROR      (1u << 12)
#define MIGRATE_AUTO_CONVERGE       (1u << 13)
#define MIGRATE_RDMA_PIN_ALL        (1u << 14)
#define MIGRATE_POSTCOPY            (1u << 15)
#define MIGRATE_TLS                 (1u << 16)
#define MIGRATE_PARALLEL            (1u << 17)
#define MIGRATE_NON_SHARED_SYNC     (1u << 18)
#define MIGRATE_POSTCOPY_RESUME     (1u << 19)
#define MIGRATE_ZEROCOPY            (1u << 20)

/* What kestrel's migration honours; everything else is refused by name
 * before anything moves. */
#define MIGRATE_SUPPORTED \
    (MIGRATE_LIVE | MIGRATE_PERSIST_DEST | MIGRATE_UNDEFINE_SOURCE | \
     MIGRATE_PAUSED | MIGRATE_CHANGE_PROTECTION | MIGRATE_UNSAFE | \
     MIGRATE_OFFLINE | MIGRATE_ABORT_ON_ERROR | MIGRATE_COMPRESSED | \
     MIGRATE_AUTO_CONVERGE | MIGRATE_PARALLEL)

/* Flags kestrel cannot honour, with virsh's option and the reason. */
static const struct {
    unsigned int flag;
    const char *option;
    const char *what;
} unsupported_flags[] = {
    { MIGRATE_PEER2PEER, "--p2p", "peer-to-peer migration" },
    { MIGRATE_TUNNELLED, "--tunnelled", "tunnelled migration" },
    { MIGRATE_NON_SHARED_DISK, "--copy-storage-all",
      "storage migration (kestrel has no block migration: disks move "
      "over shared storage)" },
    { MIGRATE_NON_SHARED_INC, "--copy-storage-inc",
      "storage migration (kestrel has no block migration)" },
    { MIGRATE_NON_SHARED_SYNC, "--copy-storage-synchronous-writes",
      "storage migration (kestrel has no block migration)" },
    { MIGRATE_RDMA_PIN_ALL, "--rdma-pin-all",
      "RDMA migration (kestrel migrates over tcp only)" },
    { MIGRATE_POSTCOPY, "--postcopy",
      "post-copy migration (kestrel has no postcopy-ram)" },
    { MIGRATE_POSTCOPY_RESUME, "--postcopy-resume",
      "post-copy migration (kestrel has no postcopy-ram)" },
    { MIGRATE_TLS, "--tls", "TLS migration (kestrel refuses TLS)" },
    { MIGRATE_ZEROCOPY, "--zerocopy", "zero-copy migration" },
};

/* virTypedParameterType (wire values). */
enum {
    TP_INT = 1,
    TP_UINT = 2,
    TP_LLONG = 3,
    TP_ULLONG = 4,
    TP_STRING = 7,
};

/* VIR_MIGRATE_PARAM_* we take. */
#define PARAM_URI "migrate_uri"
#define PARAM_DEST_NAME "destination_name"
#define PARAM_DEST_XML "destination_xml"
#define PARAM_PERSIST_XML "persistent_xml"
#define PARAM_BANDWIDTH "bandwidth"
#define PARAM_LISTEN_ADDRESS "listen_address"
#define PARAM_COMPRESSION "compression"
#define PARAM_COMPRESSION_ZSTD_LEVEL "compression.zstd.level"
#define PARAM_AUTO_CONVERGE_INITIAL "auto_converge.initial"
#define PARAM_AUTO_CONVERGE_INCREMENT "auto_converge.increment"
#define PARAM_PARALLEL_CONNECTIONS "parallel.connections"

/* virDomainJobOperation */
#define JOB_OPERATION_MIGRATION_IN 4
#define JOB_OPERATION_MIGRATION_OUT 5

/* Detail of SUSPENDED and RESUMED for a migration. */
#define EVENT_SUSPENDED_MIGRATED 1
#define EVENT_RESUMED_MIGRATED 1

#define MIGRATE_POLL_MS 50
#define FINISH_WAIT_MS 30000

static const char *const known_params[] = {
    PARAM_URI, PARAM_DEST_NAME, PARAM_DEST_XML, PARAM_PERSIST_XML,
    PARAM_BANDWIDTH, PARAM_LISTEN_ADDRESS, PARAM_COMPRESSION,
    PARAM_COMPRESSION_ZSTD_LEVEL, PARAM_AUTO_CONVERGE_INITIAL,
    PARAM_AUTO_CONVERGE_INCREMENT, PARAM_PARALLEL_CONNECTIONS, NULL
};

/*
 * Disks move by shared storage only (kestrel has no block migration): the
 * destination's kestrel opens the same paths while the source still runs;
 * at the switch the source flushes and stops writing and the destination
 * reads a qcow2 image's metadata again before its guest runs.  The page
 * cache of two hosts is not coherent, so, as libvirt: a writable disk
 * whose host page cache is not bypassed (cache='none') is refused unless
 * --unsafe.  Read-only disks always move.  The destination checks that
 * the paths exist (prepare_def).
 */
static bool check_disks(const DomainDef *def, unsigned int flags,
                        GError **errp)
{
    for (guint i = 0; i < def->disks->len; i++) {
        const DomainDisk *d = g_ptr_array_index(def->disks, i);

        if (!d->readonly && g_strcmp0(d->cache, "none") &&
            !(flags & MIGRATE_UNSAFE)) {
            g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_UNSAFE,
                        "Migration may lead to data corruption if disks "
                        "use cache other than none (disk '%s'); use "
                        "cache='none' or --unsafe", d->target);
            return false;
        }
    }
    return true;
}

static bool check_flags(unsigned int flags, const char *api, GError **errp)
{
    for (size_t i = 0; i < G_N_ELEMENTS(unsupported_flags); i++) {
        if (flags & unsupported_flags[i].flag & ~MIGRATE_SUPPORTED) {
            g_set_error(errp, VIR_ERROR, VIR_ERR_ARGUMENT_UNSUPPORTED,
                        "unsupported migration flag %s: %s is not "
                        "supported by kestrel", unsupported_flags[i].option,
                        unsupported_flags[i].what);
            return false;
        }
    }
    if (flags & ~MIGRATE_SUPPORTED) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                    "unsupported flags (0x%x) in function %s",
                    flags & ~MIGRATE_SUPPORTED, api);
        return false;
    }
    if ((flags & MIGRATE_OFFLINE) && !(flags & MIGRATE_PERSIST_DEST)) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                    "offline migration requires persistent destination "
                    "domain");
        return false;
    }
    return true;
}

/* Refuse parameters we do not know, by name, as libvirt's
 * virTypedParamsValidate does. */
static bool check_params(const remote_typed_param *p, unsigned int n,
                         GError **errp)
{
    for (unsigned int i = 0; i < n; i++) {
        if (!g_strv_contains(known_params, p[i].field)) {
            g_set_error(errp, VIR_ERROR, VIR_ERR_ARGUMENT_UNSUPPORTED,
                        "parameter '%s' not supported", p[i].field);
            return false;
        }
    }
    return true;
}

static const char *param_string(const remote_typed_param *p, unsigned int n,
                                const char *field)
{
    for (unsigned int i = 0; i < n; i++) {
        if (g_str_equal(p[i].field, field) && p[i].value.type == TP_STRING) {
            return p[i].value.remote_typed_param_value_u.s;
        }
    }
    return NULL;
}

static bool param_ullong(const remote_typed_param *p, unsigned int n,
                         const char *field, guint64 *v)
{
    for (unsigned int i = 0; i < n; i++) {
        if (!g_str_equal(p[i].field, field)) {
            continue;
        }
        switch (p[i].value.type) {
        case TP_ULLONG:
            *v = p[i].value.remote_typed_param_value_u.ul;
            return true;
        case TP_LLONG:
            *v = p[i].value.remote_typed_param_value_u.l;
            return true;
        case TP_UINT:
            *v = p[i].value.remote_typed_param_value_u.ui;
            return true;
        case TP_INT:
            *v = p[i].value.remote_typed_param_value_u.i;
            return true;
        default:
            return false;
        }
    }
    return false;
}

static bool param_int(const remote_typed_param *p, unsigned int n,
                      const char *field, guint64 *v, GError **errp)
{
    for (unsigned int i = 0; i < n; i++) {
        if (g_str_equal(p[i].field, field) &&
            (p[i].value.type == TP_STRING ||
             !param_ullong(p + i, 1, field, v))) {
            g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                        "invalid type for parameter '%s'", field);
            return false;
        }
    }
    return true;
}

/*
 * What a migration asks of kestrel's migration set-up, from the flags and
 * parameters, checked with libvirt's rules (qemu_migration_params.c):
 * capabilities to turn on and off, parameters to set.  The source turns on
 * events (MIGRATION_PASS for the iteration event), auto-converge and
 * multifd; the destination multifd.
 */
typedef struct {
    const char *caps_on[4];
    const char *caps_off[4];
    MonitorMigrationParams params;
} MigrationSetup;

static void setup_cap(MigrationSetup *ms, const char *cap, bool on)
{
    const char **list = on ? ms->caps_on : ms->caps_off;

    while (*list) {
        list++;
    }
    *list = cap;
}

static bool migration_setup_parse(unsigned int flags,
                                  const remote_typed_param *p,
                                  unsigned int n, bool source,
                                  MigrationSetup *ms, GError **errp)
{
    guint64 v = 0;
    bool zstd = false;
    unsigned int ncomp = 0;

    memset(ms, 0, sizeof(*ms));
    if (!param_int(p, n, PARAM_AUTO_CONVERGE_INITIAL, &v, errp) ||
        !param_int(p, n, PARAM_AUTO_CONVERGE_INCREMENT, &v, errp) ||
        !param_int(p, n, PARAM_PARALLEL_CONNECTIONS, &v, errp) ||
        !param_int(p, n, PARAM_COMPRESSION_ZSTD_LEVEL, &v, errp)) {
        return false;
    }

    /* Compression methods (libvirt: xbzrle when none is named). */
    for (unsigned int i = 0; i < n; i++) {
        const char *m;

        if (!g_str_equal(p[i].field, PARAM_COMPRESSION)) {
            continue;
        }
        if (p[i].value.type != TP_STRING) {
            g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                        "invalid type for parameter '%s'",
                        PARAM_COMPRESSION);
            return false;
        }
        m = p[i].value.remote_typed_param_value_u.s;
        ncomp++;
        if (!g_str_equal(m, "xbzrle") && !g_str_equal(m, "mt") &&
            !g_str_equal(m, "zlib") && !g_str_equal(m, "zstd")) {
            g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                        "Unsupported compression method '%s'", m);
            return false;
        }
        if (g_str_equal(m, "zstd") && zstd) {
            g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                        "Compression method '%s' is specified twice", m);
            return false;
        }
        if ((g_str_equal(m, "xbzrle") || g_str_equal(m, "mt")) &&
            (flags & MIGRATE_PARALLEL)) {
            g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                        "Compression method '%s' isn't supported with "
                        "parallel migration", m);
            return false;
        }
        if ((g_str_equal(m, "zlib") || g_str_equal(m, "zstd")) &&
            !(flags & MIGRATE_PARALLEL)) {
            g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                        "Compression method '%s' is only supported with "
                        "parallel migration", m);
            return false;
        }
        if (!g_str_equal(m, "zstd")) {
            g_set_error(errp, VIR_ERROR, VIR_ERR_ARGUMENT_UNSUPPORTED,
                        "Compression method '%s' is not supported by "
                        "kestrel (only zstd, with parallel migration)", m);
            return false;
        }
        zstd = true;
    }
    if (!(flags & MIGRATE_COMPRESSED) &&
        (ncomp || param_ullong(p, n, PARAM_COMPRESSION_ZSTD_LEVEL, &v))) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                    "Turn compression on to tune it");
        return false;
    }
    if ((flags & MIGRATE_COMPRESSED) && !ncomp) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_ARGUMENT_UNSUPPORTED,
                    "Compression method 'xbzrle' is not supported by "
                    "kestrel (only zstd, with parallel migration: "
                    "--parallel --comp-methods zstd)");
        return false;
    }
    if (param_ullong(p, n, PARAM_COMPRESSION_ZSTD_LEVEL, &v)) {
        ms->params.has_multifd_zstd_level = true;
        ms->params.multifd_zstd_level = v;
    }

    /* libvirt's clients strip AUTO_CONVERGE from the destination's
     * flags (virDomainMigrateVersion3Full): check it on the source. */
    if (source && !(flags & MIGRATE_AUTO_CONVERGE) &&
        (param_ullong(p, n, PARAM_AUTO_CONVERGE_INITIAL, &v) ||
         param_ullong(p, n, PARAM_AUTO_CONVERGE_INCREMENT, &v))) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                    "Turn auto convergence on to tune it");
        return false;
    }
    if (!(flags & MIGRATE_PARALLEL) &&
        param_ullong(p, n, PARAM_PARALLEL_CONNECTIONS, &v)) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                    "Turn parallel migration on to tune it");
        return false;
    }

    if (source) {
        setup_cap(ms, "events", true);
        setup_cap(ms, "auto-converge", flags & MIGRATE_AUTO_CONVERGE);
        if (param_ullong(p, n, PARAM_AUTO_CONVERGE_INITIAL, &v)) {
            ms->params.has_cpu_throttle_initial = true;
            ms->params.cpu_throttle_initial = v;
        }
        if (param_ullong(p, n, PARAM_AUTO_CONVERGE_INCREMENT, &v)) {
            ms->params.has_cpu_throttle_increment = true;
            ms->params.cpu_throttle_increment = v;
        }
    }
    setup_cap(ms, "multifd", flags & MIGRATE_PARALLEL);
    if (flags & MIGRATE_PARALLEL) {
        ms->params.has_multifd_compression = true;
        g_strlcpy(ms->params.multifd_compression, zstd ? "zstd" : "none",
                  sizeof(ms->params.multifd_compression));
        if (param_ullong(p, n, PARAM_PARALLEL_CONNECTIONS, &v)) {
            ms->params.has_multifd_channels = true;
            ms->params.multifd_channels = v;
        }
    }
    return true;
}

static bool migration_params_any(const MonitorMigrationParams *p)
{
    return p->has_downtime_limit || p->has_max_bandwidth ||
           p->has_cpu_throttle_initial || p->has_cpu_throttle_increment ||
           p->has_multifd_channels || p->has_multifd_compression ||
           p->has_multifd_zstd_level;
}

/* Apply @ms to @dom's kestrel (capabilities, then parameters), then
 * @done. */
typedef struct {
    MigrationSetup ms;
    int step;
    MonitorDoneFunc done;
    void *opaque;
} MigrationSetupOp;

static void migration_setup_step(DomainObj *dom, const GError *err,
                                 void *opaque)
{
    MigrationSetupOp *op = opaque;

    for (;;) {
        if (err) {
            g_autoptr(GError) e = g_error_new(VIR_ERROR,
                                              VIR_ERR_OPERATION_FAILED,
                                              "cannot set up migration: %s",
                                              err->message);

            op->done(dom, e, op->opaque);
            g_free(op);
            return;
        }
        switch (op->step++) {
        case 0:
            if (op->ms.caps_on[0]) {
                monitor_migrate_set_capabilities(dom, op->ms.caps_on, true,
                                                 migration_setup_step, op);
                return;
            }
            break;
        case 1:
            if (op->ms.caps_off[0]) {
                monitor_migrate_set_capabilities(dom, op->ms.caps_off, false,
                                                 migration_setup_step, op);
                return;
            }
            break;
        case 2:
            if (migration_params_any(&op->ms.params)) {
                monitor_migrate_set_parameters(dom, &op->ms.params,
                                               migration_setup_step, op);
                return;
            }
            break;
        default:
            op->done(dom, NULL, op->opaque);
            g_free(op);
            return;
        }
    }
}

static void migration_setup_apply(DomainObj *dom, const MigrationSetup *ms,
                                  MonitorDoneFunc done, void *opaque)
{
    MigrationSetupOp *op = g_new0(MigrationSetupOp, 1);

    op->ms = *ms;
    op->done = done;
    op->opaque = opaque;
    migration_setup_step(dom, NULL, op);
}

/* A cookie: a short note for the other side (and for debugging). */
static void make_cookie(DomainObj *dom, const char *step, u_int *len,
                        char **val)
{
    char *s = g_strdup_printf("<kestrel-migration step='%s'>"
                              "<name>%s</name><uuid>%s</uuid>"
                              "<hostname>%s</hostname></kestrel-migration>",
                              step, dom->name, dom->uuidstr,
                              g_get_host_name());

    *len = strlen(s);
    *val = s;
}

/* kestrel's form of a tcp migration URI: tcp:HOST:PORT (libvirt's users
 * also write tcp://HOST:PORT). */
static char *kestrel_uri(const char *uri, GError **errp)
{
    g_autofree char *u = NULL;

    if (g_str_has_prefix(uri, "tcp://")) {
        u = g_strconcat("tcp:", uri + 6, NULL);
    } else if (g_str_has_prefix(uri, "tcp:")) {
        u = g_strdup(uri);
    } else {
        g_set_error(errp, VIR_ERROR, VIR_ERR_ARGUMENT_UNSUPPORTED,
                    "unsupported scheme in migration URI %s", uri);
        return NULL;
    }
    if (g_str_has_suffix(u, "/")) {
        u[strlen(u) - 1] = '\0';
    }
    if (!strrchr(u + 4, ':')) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                    "migration URI %s has no port", uri);
        return NULL;
    }
    return g_steal_pointer(&u);
}

/*
 * Migrations waiting for the client's next call (source between Begin and
 * Perform or Perform and Confirm; destination between Prepare and
 * Finish), by the connection that drives them: if it closes first, the
 * migration is called off as libvirt's close callbacks do it (the source
 * runs on, the destination VMM goes).
 */
static GHashTable *parked;      /* DomainObj * (ref) -> DrvConn * */

static void park(DomainObj *dom, RpcCall *call)
{
    if (!parked) {
        parked = g_hash_table_new_full(NULL, NULL,
                                       (GDestroyNotify)domain_obj_unref,
                                       NULL);
    }
    g_hash_table_replace(parked, domain_obj_ref(dom),
                         rpc_conn_get_data(rpc_call_get_conn(call)));
}

static void unpark(DomainObj *dom)
{
    if (parked) {
        g_hash_table_remove(parked, dom);
    }
}

static void abandoned_resumed(DomainObj *dom, const GError *err,
                              void *opaque)
{
    if (!err && domain_obj_is_active(dom)) {
        domain_set_state(dom, DOMAIN_STATE_RUNNING,
                         DOMAIN_RUNNING_MIGRATION_CANCELED);
        domain_emit(dom, DOMAIN_EVENT_RESUMED, 1);
    }
    domain_async_job_end(dom, DOMAIN_JOB_INFO_FAILED);
    if (!dom->persistent && !domain_obj_is_active(dom)) {
        domain_remove(dom);
    }
}

static void abandoned_gone(DomainObj *dom, const GError *err, void *opaque)
{
    domain_async_job_end(dom, DOMAIN_JOB_INFO_FAILED);
    if (!dom->persistent && !domain_obj_is_active(dom)) {
        domain_remove(dom);
    }
}

void dispatch_migrate_conn_closed(DrvConn *conn)
{
    g_autoptr(GPtrArray) doms = g_ptr_array_new_with_free_func(
        (GDestroyNotify)domain_obj_unref);
    GHashTableIter it;
    void *k, *v;

    if (!parked) {
        return;
    }
    g_hash_table_iter_init(&it, parked);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        if (v == conn) {
            g_ptr_array_add(doms, domain_obj_ref(k));
        }
    }
    for (guint i = 0; i < doms->len; i++) {
        DomainObj *dom = doms->pdata[i];

        unpark(dom);
        g_debug("migration of '%s' abandoned by its client", dom->name);
        if (dom->async_job == DOMAIN_ASYNC_JOB_MIGRATION_OUT) {
            if (domain_obj_is_active(dom) &&
                dom->state == DOMAIN_STATE_PAUSED &&
                dom->reason == DOMAIN_PAUSED_MIGRATION) {
                monitor_cont(dom, abandoned_resumed, NULL);
            } else {
                abandoned_resumed(dom, NULL, NULL);
            }
        } else if (dom->async_job == DOMAIN_ASYNC_JOB_MIGRATION_IN) {
            if (domain_obj_is_active(dom)) {
                process_destroy(dom, false, abandoned_gone, NULL);
            } else {
                abandoned_gone(dom, NULL, NULL);
            }
        }
    }
}

/* ---- source: Begin ----------------------------------------------------- */

static RpcResult proc_begin(RpcCall *call, void *a, void *r, GError **errp)
{
    remote_domain_migrate_begin3_params_args *args = a;
    remote_domain_migrate_begin3_params_ret *ret = r;
    g_autoptr(DomainObj) dom = NULL;
    const char *dxml;
    RpcResult jr;

    MigrationSetup ms;

    if (!check_flags(args->flags, "virDomainMigrateBegin3Params", errp) ||
        !check_params(args->params.params_val, args->params.params_len,
                      errp) ||
        !migration_setup_parse(args->flags, args->params.params_val,
                               args->params.params_len, true, &ms, errp) ||
        !(dom = dispatch_get_domain(&args->dom, errp))) {
        return RPC_RESULT_ERROR;
    }
    dxml = param_string(args->params.params_val, args->params.params_len,
                        PARAM_DEST_XML);
    if (dxml) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_ARGUMENT_UNSUPPORTED,
                    "an alternative destination XML is not supported");
        return RPC_RESULT_ERROR;
    }
    if (args->flags & MIGRATE_OFFLINE) {
        if (domain_obj_is_active(dom)) {
            g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                        "domain is active");
            return RPC_RESULT_ERROR;
        }
        if (!dom->persistent) {
            g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                        "cannot migrate a transient domain offline");
            return RPC_RESULT_ERROR;
        }
        ret->xml = domain_def_format(domain_obj_get_persistent_def(dom),
                                     NULL, DOMAIN_DEF_FORMAT_INACTIVE |
                                     DOMAIN_DEF_FORMAT_SECURE |
                                     DOMAIN_DEF_FORMAT_MIGRATABLE);
        make_cookie(dom, "begin", &ret->cookie_out.cookie_out_len,
                    &ret->cookie_out.cookie_out_val);
        return RPC_RESULT_OK;
    }
    jr = dispatch_job_begin(call, dom, "migrate");
    if (jr != RPC_RESULT_OK) {
        return jr;
    }
    if (!domain_check_active(dom, errp) ||
        !check_disks(dom->def, args->flags, errp)) {
        domain_job_end(dom);
        return RPC_RESULT_ERROR;
    }
    ret->xml = domain_def_format(dom->def, NULL, DOMAIN_DEF_FORMAT_INACTIVE |
                                 DOMAIN_DEF_FORMAT_SECURE |
                                 DOMAIN_DEF_FORMAT_MIGRATABLE);
    make_cookie(dom, "begin", &ret->cookie_out.cookie_out_len,
                &ret->cookie_out.cookie_out_val);
    /* The job holds the domain until Confirm (change protection), or
     * until Perform fails. */
    domain_async_job_start(dom, DOMAIN_ASYNC_JOB_MIGRATION_OUT,
                           "remoteDispatchDomainMigrateBegin3Params");
    dom->job_stats.operation = JOB_OPERATION_MIGRATION_OUT;
    park(dom, call);
    return RPC_RESULT_OK;
}

/* ---- source: Perform --------------------------------------------------- */

typedef struct {
    RpcCall *call;
    DomainObj *dom;
    char *uri;
    bool was_running;
    guint timer;
    GError *err;
} PerformOp;

static void perform_op_free(PerformOp *op)
{
    g_clear_handle_id(&op->timer, g_source_remove);
    domain_obj_unref(op->dom);
    g_free(op->uri);
    g_clear_error(&op->err);
    g_free(op);
}

static void perform_end_failed(PerformOp *op)
{
    DomainObj *dom = op->dom;

    domain_async_job_end(dom, op->err->code == VIR_ERR_OPERATION_ABORTED ?
                         DOMAIN_JOB_INFO_CANCELLED : DOMAIN_JOB_INFO_FAILED);
    if (!dom->persistent && !domain_obj_is_active(dom)) {
        domain_remove(dom);
    }
    rpc_call_finish(op->call, op->err);
    perform_op_free(op);
}

static void perform_resumed(DomainObj *dom, const GError *err, void *opaque)
{
    PerformOp *op = opaque;

    if (!err && domain_obj_is_active(dom)) {
        domain_set_state(dom, DOMAIN_STATE_RUNNING,
                         DOMAIN_RUNNING_MIGRATION_CANCELED);
        domain_emit(dom, DOMAIN_EVENT_RESUMED, EVENT_RESUMED_MIGRATED);
    }
    perform_end_failed(op);
}

static void perform_status(DomainObj *dom, bool running, const char *status,
                           const GError *err, void *opaque)
{
    PerformOp *op = opaque;

    if (!err && !running && op->was_running) {
        monitor_cont(dom, perform_resumed, op);
        return;
    }
    if (!err && running && domain_obj_is_active(dom) &&
        dom->state != DOMAIN_STATE_RUNNING) {
        domain_set_state(dom, DOMAIN_STATE_RUNNING,
                         DOMAIN_RUNNING_MIGRATION_CANCELED);
    }
    perform_end_failed(op);
}

/* The migration did not happen: the domain runs on as before, the job
 * ends (the client calls no Confirm after a failed Perform). */
static void perform_failed(PerformOp *op, GError *err)
{
    DomainObj *dom = op->dom;

    g_clear_handle_id(&op->timer, g_source_remove);
    op->err = err;
    g_debug("migration of '%s' failed: %s", dom->name, err->message);
    if (domain_obj_is_active(dom)) {
        monitor_query_status(dom, perform_status, op);
        return;
    }
    perform_end_failed(op);
}

static gboolean perform_poll(void *opaque);

static void perform_progress(DomainObj *dom, const MonitorMigrationStats *st,
                             const GError *err, void *opaque)
{
    PerformOp *op = opaque;
    remote_domain_migrate_perform3_params_ret *ret;

    if (err || !domain_obj_is_active(dom)) {
        perform_failed(op, g_error_new(VIR_ERROR, VIR_ERR_OPERATION_FAILED,
                                       "migration out job: %s",
                                       !domain_obj_is_active(dom) ?
                                       "domain is not running" :
                                       err->message));
        return;
    }
    monitor_migration_stats_to_job(st, &dom->job_stats);
    dom->job_stats.time_elapsed = g_get_real_time() / 1000 -
                                  dom->async_start;
    switch (st->status) {
    case MONITOR_MIGRATION_COMPLETED:
        /* kestrel stopped the vCPUs for the switch-over: the domain waits,
         * paused, for Confirm to stop it (or resume it). */
        domain_async_job_set_phase(dom, DOMAIN_JOB_PHASE_FINISH);
        if (dom->state != DOMAIN_STATE_PAUSED) {
            /* (--timeout-suspend may have paused it already) */
            domain_set_state(dom, DOMAIN_STATE_PAUSED,
                             DOMAIN_PAUSED_MIGRATION);
            domain_emit(dom, DOMAIN_EVENT_SUSPENDED,
                        EVENT_SUSPENDED_MIGRATED);
        }
        ret = rpc_call_get_ret(op->call);
        make_cookie(dom, "perform", &ret->cookie_out.cookie_out_len,
                    &ret->cookie_out.cookie_out_val);
        park(dom, op->call);
        rpc_call_finish(op->call, NULL);
        perform_op_free(op);
        return;
    case MONITOR_MIGRATION_CANCELLED:
    case MONITOR_MIGRATION_FAILED:
        perform_failed(op, monitor_migration_job_error(st,
                                                       "migration out job"));
        return;
    default:
        op->timer = g_timeout_add(MIGRATE_POLL_MS, perform_poll, op);
        return;
    }
}

static gboolean perform_poll(void *opaque)
{
    PerformOp *op = opaque;

    op->timer = 0;
    monitor_query_migrate(op->dom, perform_progress, op);
    return G_SOURCE_REMOVE;
}

static void perform_migrating(DomainObj *dom, const GError *err,
                              void *opaque)
{
    PerformOp *op = opaque;

    if (err) {
        perform_failed(op, g_error_new(VIR_ERROR, VIR_ERR_OPERATION_FAILED,
                                       "migration out job: %s",
                                       err->message));
        return;
    }
    domain_async_job_set_phase(dom, DOMAIN_JOB_PHASE_TRANSFER);
    perform_poll(op);
}

static void perform_start(DomainObj *dom, const GError *err, void *opaque)
{
    PerformOp *op = opaque;

    if (err) {
        perform_failed(op, g_error_copy(err));
        return;
    }
    if (dom->async_abort) {
        perform_failed(op, g_error_new(VIR_ERROR, VIR_ERR_OPERATION_ABORTED,
                                       "migration out job: canceled by "
                                       "client"));
        return;
    }
    g_debug("migrating '%s' to %s", dom->name, op->uri);
    monitor_migrate(dom, op->uri, perform_migrating, op);
}

static RpcResult proc_perform(RpcCall *call, void *a, void *r, GError **errp)
{
    remote_domain_migrate_perform3_params_args *args = a;
    const remote_typed_param *params = args->params.params_val;
    unsigned int nparams = args->params.params_len;
    g_autoptr(DomainObj) dom = NULL;
    g_autofree char *kuri = NULL;
    const char *uri;
    guint64 bandwidth = 0;
    PerformOp *op;
    RpcResult jr;

    MigrationSetup ms;

    if (!check_flags(args->flags, "virDomainMigratePerform3Params", errp) ||
        !check_params(params, nparams, errp) ||
        !migration_setup_parse(args->flags, params, nparams, true, &ms,
                               errp) ||
        !(dom = dispatch_get_domain(&args->dom, errp))) {
        return RPC_RESULT_ERROR;
    }
    if (args->flags & MIGRATE_OFFLINE) {
        return RPC_RESULT_OK;       /* nothing moves */
    }
    unpark(dom);
    uri = param_string(params, nparams, PARAM_URI);
    if (!uri) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                    "migration URI was not given (no '%s' parameter)",
                    PARAM_URI);
        goto fail;
    }
    if (!(kuri = kestrel_uri(uri, errp))) {
        goto fail;
    }
    if (dom->async_job != DOMAIN_ASYNC_JOB_MIGRATION_OUT) {
        /* No Begin with change protection: the job starts here. */
        jr = dispatch_job_begin(call, dom, "migrate");
        if (jr != RPC_RESULT_OK) {
            return jr;
        }
        domain_async_job_start(dom, DOMAIN_ASYNC_JOB_MIGRATION_OUT,
                               "remoteDispatchDomainMigratePerform3Params");
        dom->job_stats.operation = JOB_OPERATION_MIGRATION_OUT;
    } else if (dom->async_phase != DOMAIN_JOB_PHASE_SETUP) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                    "domain '%s' is already being migrated", dom->name);
        return RPC_RESULT_ERROR;
    }
    if (!domain_check_active(dom, errp)) {
        domain_async_job_end(dom, DOMAIN_JOB_INFO_FAILED);
        return RPC_RESULT_ERROR;
    }

    op = g_new0(PerformOp, 1);
    op->call = call;
    op->dom = domain_obj_ref(dom);
    op->uri = g_steal_pointer(&kuri);
    op->was_running = dom->state == DOMAIN_STATE_RUNNING;
    if (param_ullong(params, nparams, PARAM_BANDWIDTH, &bandwidth) &&
        bandwidth) {
        ms.params.has_max_bandwidth = true;
        ms.params.max_bandwidth = bandwidth * 1024 * 1024;
    }
    migration_setup_apply(dom, &ms, perform_start, op);
    return RPC_RESULT_PENDING;

fail:
    /* Nothing moved: the job Begin took ends, the domain runs on. */
    if (dom->async_job == DOMAIN_ASYNC_JOB_MIGRATION_OUT &&
        dom->async_phase == DOMAIN_JOB_PHASE_SETUP) {
        domain_async_job_end(dom, DOMAIN_JOB_INFO_FAILED);
    }
    return RPC_RESULT_ERROR;
}

/* ---- source: Confirm --------------------------------------------------- */

typedef struct {
    RpcCall *call;
    DomainObj *dom;
    unsigned int flags;
} ConfirmOp;

static void confirm_done(ConfirmOp *op, int info_type, const GError *err)
{
    rpc_call_finish(op->call, err);
    domain_obj_unref(op->dom);
    g_free(op);
    (void)info_type;
}

static void confirm_stopped(DomainObj *dom, const GError *err, void *opaque)
{
    ConfirmOp *op = opaque;
    g_autoptr(GError) e = NULL;

    domain_async_job_end(dom, DOMAIN_JOB_INFO_COMPLETED);
    domain_emit_job_completed(dom);
    if ((op->flags & MIGRATE_UNDEFINE_SOURCE) && dom->persistent) {
        if (domain_undefine(dom, &e)) {
            domain_emit(dom, DOMAIN_EVENT_UNDEFINED,
                        DOMAIN_EVENT_UNDEFINED_REMOVED);
        } else {
            g_warning("migrated domain '%s' stays defined: %s", dom->name,
                      e->message);
        }
    }
    if (!dom->persistent && !domain_obj_is_active(dom)) {
        domain_remove(dom);
    }
    confirm_done(op, DOMAIN_JOB_INFO_COMPLETED, NULL);
}

static void confirm_resumed(DomainObj *dom, const GError *err, void *opaque)
{
    ConfirmOp *op = opaque;

    if (!err && domain_obj_is_active(dom)) {
        domain_set_state(dom, DOMAIN_STATE_RUNNING,
                         DOMAIN_RUNNING_MIGRATION_CANCELED);
        domain_emit(dom, DOMAIN_EVENT_RESUMED, EVENT_RESUMED_MIGRATED);
    }
    domain_async_job_end(dom, DOMAIN_JOB_INFO_FAILED);
    confirm_done(op, DOMAIN_JOB_INFO_FAILED, err);
}

static RpcResult proc_confirm(RpcCall *call, void *a, void *r, GError **errp)
{
    remote_domain_migrate_confirm3_params_args *args = a;
    g_autoptr(DomainObj) dom = NULL;
    ConfirmOp *op;

    if (!check_flags(args->flags, "virDomainMigrateConfirm3Params", errp) ||
        !(dom = dispatch_get_domain(&args->dom, errp))) {
        return RPC_RESULT_ERROR;
    }
    if (args->flags & MIGRATE_OFFLINE) {
        if (!args->cancelled && (args->flags & MIGRATE_UNDEFINE_SOURCE) &&
            dom->persistent && !domain_obj_is_active(dom)) {
            if (!domain_undefine(dom, errp)) {
                return RPC_RESULT_ERROR;
            }
            domain_emit(dom, DOMAIN_EVENT_UNDEFINED,
                        DOMAIN_EVENT_UNDEFINED_REMOVED);
        }
        return RPC_RESULT_OK;
    }
    if (dom->async_job != DOMAIN_ASYNC_JOB_MIGRATION_OUT) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                    "domain '%s' is not being migrated", dom->name);
        return RPC_RESULT_ERROR;
    }
    unpark(dom);
    op = g_new0(ConfirmOp, 1);
    op->call = call;
    op->dom = domain_obj_ref(dom);
    op->flags = args->flags;
    if (args->cancelled) {
        /* Prepare or Finish failed: the domain runs on here. */
        if (domain_obj_is_active(dom) &&
            dom->state == DOMAIN_STATE_PAUSED &&
            dom->reason == DOMAIN_PAUSED_MIGRATION) {
            monitor_cont(dom, confirm_resumed, op);
        } else {
            domain_async_job_end(dom, DOMAIN_JOB_INFO_FAILED);
            confirm_done(op, DOMAIN_JOB_INFO_FAILED, NULL);
        }
        return RPC_RESULT_PENDING;
    }
    if (!domain_obj_is_active(dom)) {
        confirm_stopped(dom, NULL, op);
        return RPC_RESULT_PENDING;
    }
    /* The domain runs on the destination: the VMM here goes. */
    dom->stop_reason = DOMAIN_SHUTOFF_MIGRATED;
    dom->stop_detail = DOMAIN_EVENT_STOPPED_MIGRATED;
    process_destroy(dom, false, confirm_stopped, op);
    return RPC_RESULT_PENDING;
}

/* ---- destination: Prepare ---------------------------------------------- */

/* A free tcp port on @addr (a numeric address), or 0 with @errp set. */
static int pick_port(const char *addr, GError **errp)
{
    struct sockaddr_storage ss = { 0 };
    socklen_t len;
    int fd, port = 0;

    if (strchr(addr, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

        s6->sin6_family = AF_INET6;
        len = sizeof(*s6);
        if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1) {
            goto bad;
        }
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

        s4->sin_family = AF_INET;
        len = sizeof(*s4);
        if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1) {
            goto bad;
        }
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_SYSTEM_ERROR,
                    "cannot find a free port for incoming migration on "
                    "%s: %s", addr, g_strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return 0;
    }
    port = ntohs(ss.ss_family == AF_INET6 ?
                 ((struct sockaddr_in6 *)&ss)->sin6_port :
                 ((struct sockaddr_in *)&ss)->sin_port);
    close(fd);
    return port;

bad:
    g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                "listen address '%s' is not a numeric IP address", addr);
    return 0;
}

static char *uri_host(const char *host)
{
    return strchr(host, ':') ? g_strdup_printf("[%s]", host)
                             : g_strdup(host);
}

typedef struct {
    RpcCall *call;
    char *uri_out;
    MigrationSetup ms;
} PrepareOp;

/* Before migrate-incoming: multifd as the source will use it. */
static void prepare_setup(DomainObj *dom,
                          void (*next)(DomainObj *dom, const GError *err,
                                       void *next_opaque),
                          void *next_opaque, void *opaque)
{
    PrepareOp *op = opaque;

    migration_setup_apply(dom, &op->ms, next, next_opaque);
}

static void prepare_started(DomainObj *dom, const GError *err, void *opaque)
{
    PrepareOp *op = opaque;

    if (err) {
        domain_async_job_end(dom, DOMAIN_JOB_INFO_FAILED);
        if (!dom->persistent && !domain_obj_is_active(dom)) {
            domain_remove(dom);
        }
    } else {
        remote_domain_migrate_prepare3_params_ret *ret =
            rpc_call_get_ret(op->call);

        g_debug("incoming migration of '%s' on %s", dom->name, op->uri_out);
        ret->uri_out = g_new0(char *, 1);
        *ret->uri_out = g_steal_pointer(&op->uri_out);
        make_cookie(dom, "prepare", &ret->cookie_out.cookie_out_len,
                    &ret->cookie_out.cookie_out_val);
        park(dom, op->call);
    }
    rpc_call_finish(op->call, err);
    g_free(op->uri_out);
    g_free(op);
}

static DomainDef *prepare_def(const remote_typed_param *params,
                              unsigned int nparams, const char *param,
                              GError **errp)
{
    const char *xml = param_string(params, nparams, param);
    const char *dname = param_string(params, nparams, PARAM_DEST_NAME);
    DomainDef *def;

    if (!xml) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                    "no domain XML passed (parameter '%s')", param);
        return NULL;
    }
    def = domain_def_parse_string(xml, DOMAIN_DEF_PARSE_INACTIVE, errp);
    if (!def) {
        return NULL;
    }
    if (dname && *dname && !g_str_equal(dname, def->name)) {
        g_free(def->name);
        def->name = g_strdup(dname);
    }
    if (!def->emulator && dispatch_driver()->emulator) {
        def->emulator = g_strdup(dispatch_driver()->emulator);
    }
    /* shared storage: the images must be here under the same paths */
    for (guint i = 0; i < def->disks->len; i++) {
        const DomainDisk *d = g_ptr_array_index(def->disks, i);

        if (!g_file_test(d->path, G_FILE_TEST_EXISTS)) {
            g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                        "disk '%s' of domain '%s' is '%s', which does not "
                        "exist on the destination: the kestrel driver "
                        "migrates disks over shared storage only (the same "
                        "paths on both hosts)", d->target, def->name,
                        d->path);
            domain_def_free(def);
            return NULL;
        }
    }
    return def;
}

static RpcResult proc_prepare(RpcCall *call, void *a, void *r, GError **errp)
{
    remote_domain_migrate_prepare3_params_args *args = a;
    remote_domain_migrate_prepare3_params_ret *ret = r;
    const remote_typed_param *params = args->params.params_val;
    unsigned int nparams = args->params.params_len;
    g_autoptr(DomainObj) dom = NULL;
    g_autofree char *listen = NULL;
    g_autofree char *host = NULL;
    g_autofree char *kuri = NULL;
    const char *uri, *laddr;
    DomainDef *def;
    PrepareOp *op;
    int port = 0;
    RpcResult jr;

    MigrationSetup ms;

    if (!check_flags(args->flags, "virDomainMigratePrepare3Params", errp) ||
        !check_params(params, nparams, errp) ||
        !migration_setup_parse(args->flags, params, nparams, false, &ms,
                               errp) ||
        !(def = prepare_def(params, nparams, PARAM_DEST_XML, errp))) {
        return RPC_RESULT_ERROR;
    }

    if (args->flags & MIGRATE_OFFLINE) {
        bool added;

        dom = domain_define(dispatch_driver(), def, &added, errp);
        if (!dom) {
            return RPC_RESULT_ERROR;
        }
        domain_emit(dom, DOMAIN_EVENT_DEFINED,
                    added ? DOMAIN_EVENT_DEFINED_ADDED
                          : DOMAIN_EVENT_DEFINED_UPDATED);
        make_cookie(dom, "prepare", &ret->cookie_out.cookie_out_len,
                    &ret->cookie_out.cookie_out_val);
        /* The client wants a URI even though nothing moves. */
        ret->uri_out = g_new0(char *, 1);
        *ret->uri_out = g_strdup_printf("tcp:%s:0", g_get_host_name());
        return RPC_RESULT_OK;
    }

    /* Where kestrel listens, and what the source is told. */
    laddr = param_string(params, nparams, PARAM_LISTEN_ADDRESS);
    uri = param_string(params, nparams, PARAM_URI);
    if (uri) {
        char *colon;

        if (!(kuri = kestrel_uri(uri, errp))) {
            domain_def_free(def);
            return RPC_RESULT_ERROR;
        }
        colon = strrchr(kuri + 4, ':');
        port = (int)g_ascii_strtoll(colon + 1, NULL, 10);
        host = g_strndup(kuri + 4, colon - (kuri + 4));
        if (port <= 0 || port > 65535) {
            g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                        "invalid port in migration URI %s", uri);
            domain_def_free(def);
            return RPC_RESULT_ERROR;
        }
    }
    listen = g_strdup(laddr && *laddr ? laddr : "0.0.0.0");
    if (listen[0] == '[') {
        listen[strlen(listen) - 1] = '\0';
        memmove(listen, listen + 1, strlen(listen));
    }
    if (!port && !(port = pick_port(listen, errp))) {
        domain_def_free(def);
        return RPC_RESULT_ERROR;
    }
    if (!host) {
        if (laddr && *laddr && !g_str_equal(listen, "0.0.0.0") &&
            !g_str_equal(listen, "::")) {
            host = uri_host(listen);
        } else {
            host = g_strdup(g_get_host_name());
        }
    }

    dom = domain_add_transient(dispatch_driver(), def, errp);
    if (!dom) {
        return RPC_RESULT_ERROR;
    }
    jr = dispatch_job_begin(call, dom, "migrate-incoming");
    if (jr != RPC_RESULT_OK) {
        return jr;
    }
    if (!domain_check_inactive(dom, errp)) {
        domain_job_end(dom);
        return RPC_RESULT_ERROR;
    }
    {
        g_autofree char *lhost = uri_host(listen);
        g_autofree char *incoming = g_strdup_printf("tcp:%s:%d", lhost,
                                                    port);
        ProcessStartOptions o = { .paused = true, .incoming_uri = incoming,
                                  .migration = true,
                                  .incoming_setup = prepare_setup };

        op = g_new0(PrepareOp, 1);
        op->ms = ms;
        o.incoming_setup_opaque = op;
        op->call = call;
        op->uri_out = g_strdup_printf("tcp:%s:%d", host, port);
        domain_async_job_start(dom, DOMAIN_ASYNC_JOB_MIGRATION_IN,
                               "remoteDispatchDomainMigratePrepare3Params");
        dom->job_stats.operation = JOB_OPERATION_MIGRATION_IN;
        process_start_full(dom, &o, prepare_started, op);
    }
    return RPC_RESULT_PENDING;
}

/* ---- destination: Finish ----------------------------------------------- */

typedef struct {
    RpcCall *call;
    DomainObj *dom;
    unsigned int flags;
    DomainDef *persist_def;     /* PERSIST_DEST: the config to keep */
    gint64 deadline;            /* monotonic µs */
    guint timer;
    GError *err;
} FinishOp;

static void finish_op_free(FinishOp *op)
{
    g_clear_handle_id(&op->timer, g_source_remove);
    domain_obj_unref(op->dom);
    g_clear_pointer(&op->persist_def, domain_def_free);
    g_clear_error(&op->err);
    g_free(op);
}

/* The incoming domain is gone: end its job, forget it, report @op->err. */
static void finish_gone(DomainObj *dom, const GError *err, void *opaque)
{
    FinishOp *op = opaque;

    domain_async_job_end(dom, DOMAIN_JOB_INFO_FAILED);
    if (!dom->persistent && !domain_obj_is_active(dom)) {
        domain_remove(dom);
    }
    rpc_call_finish(op->call, op->err);
    finish_op_free(op);
}

static void finish_failed(FinishOp *op, GError *err)
{
    DomainObj *dom = op->dom;

    g_clear_handle_id(&op->timer, g_source_remove);
    op->err = err;
    if (domain_obj_is_active(dom)) {
        process_destroy(dom, false, finish_gone, op);
        return;
    }
    finish_gone(dom, NULL, op);
}

static void finish_success(FinishOp *op)
{
    DomainObj *dom = op->dom;
    remote_domain_migrate_finish3_params_ret *ret =
        rpc_call_get_ret(op->call);

    domain_emit(dom, DOMAIN_EVENT_STARTED, DOMAIN_EVENT_STARTED_MIGRATED);
    if (op->flags & MIGRATE_PAUSED) {
        domain_set_state(dom, DOMAIN_STATE_PAUSED, DOMAIN_PAUSED_USER);
        domain_emit(dom, DOMAIN_EVENT_SUSPENDED,
                    DOMAIN_EVENT_SUSPENDED_PAUSED);
    } else {
        domain_emit(dom, DOMAIN_EVENT_RESUMED, EVENT_RESUMED_MIGRATED);
    }
    if (op->persist_def) {
        g_autoptr(GError) e = NULL;
        g_autoptr(DomainObj) pdom = NULL;
        bool added;

        pdom = domain_define(dom->drv, g_steal_pointer(&op->persist_def),
                             &added, &e);
        if (pdom) {
            domain_emit(dom, DOMAIN_EVENT_DEFINED,
                        added ? DOMAIN_EVENT_DEFINED_ADDED
                              : DOMAIN_EVENT_DEFINED_UPDATED);
        } else {
            g_warning("migrated domain '%s' could not be made persistent: "
                      "%s", dom->name, e->message);
        }
    }
    domain_async_job_end(dom, DOMAIN_JOB_INFO_COMPLETED);
    domain_emit_job_completed(dom);
    dispatch_make_domain(&ret->dom, dom);
    make_cookie(dom, "finish", &ret->cookie_out.cookie_out_len,
                &ret->cookie_out.cookie_out_val);
    rpc_call_finish(op->call, NULL);
    finish_op_free(op);
}

static void finish_resumed(DomainObj *dom, const GError *err, void *opaque)
{
    FinishOp *op = opaque;

    if (err) {
        finish_failed(op, g_error_new(VIR_ERROR, VIR_ERR_OPERATION_FAILED,
                                      "cannot resume the migrated domain "
                                      "'%s': %s", dom->name, err->message));
        return;
    }
    domain_set_state(dom, DOMAIN_STATE_RUNNING, DOMAIN_RUNNING_MIGRATED);
    finish_success(op);
}

static gboolean finish_poll(void *opaque);

static void finish_progress(DomainObj *dom, const MonitorMigrationStats *st,
                            const GError *err, void *opaque)
{
    FinishOp *op = opaque;

    if (err || !domain_obj_is_active(dom)) {
        finish_failed(op, g_error_new(VIR_ERROR, VIR_ERR_OPERATION_FAILED,
                                      "incoming migration of '%s' failed: "
                                      "%s", dom->name,
                                      err ? err->message
                                      : "domain is not running"));
        return;
    }
    monitor_migration_stats_to_job(st, &dom->job_stats);
    switch (st->status) {
    case MONITOR_MIGRATION_COMPLETED:
        domain_async_job_set_phase(dom, DOMAIN_JOB_PHASE_FINISH);
        if (op->flags & MIGRATE_PAUSED) {
            finish_success(op);
        } else {
            monitor_cont(dom, finish_resumed, op);
        }
        return;
    case MONITOR_MIGRATION_FAILED:
    case MONITOR_MIGRATION_CANCELLED:
        finish_failed(op, g_error_new(VIR_ERROR, VIR_ERR_OPERATION_FAILED,
                                      "incoming migration of '%s' failed: "
                                      "%s", dom->name,
                                      st->error_desc ? st->error_desc
                                      : "no reason given"));
        return;
    default:
        if (g_get_monotonic_time() > op->deadline) {
            finish_failed(op, g_error_new(VIR_ERROR,
                                          VIR_ERR_OPERATION_TIMEOUT,
                                          "incoming migration of '%s' did "
                                          "not complete", dom->name));
            return;
        }
        op->timer = g_timeout_add(MIGRATE_POLL_MS, finish_poll, op);
        return;
    }
}

static gboolean finish_poll(void *opaque)
{
    FinishOp *op = opaque;

    op->timer = 0;
    monitor_query_migrate(op->dom, finish_progress, op);
    return G_SOURCE_REMOVE;
}

static RpcResult proc_finish(RpcCall *call, void *a, void *r, GError **errp)
{
    remote_domain_migrate_finish3_params_args *args = a;
    remote_domain_migrate_finish3_params_ret *ret = r;
    const remote_typed_param *params = args->params.params_val;
    unsigned int nparams = args->params.params_len;
    g_autoptr(DomainObj) dom = NULL;
    g_autoptr(DomainDef) def = NULL;
    FinishOp *op;
    const char *name;

    if (!check_flags(args->flags, "virDomainMigrateFinish3Params", errp)) {
        return RPC_RESULT_ERROR;
    }
    name = param_string(params, nparams, PARAM_DEST_NAME);
    if (!name) {
        def = prepare_def(params, nparams, PARAM_DEST_XML, errp);
        if (!def) {
            return RPC_RESULT_ERROR;
        }
        name = def->name;
    }
    dom = domain_lookup_by_name(dispatch_driver(), name, errp);
    if (!dom) {
        return RPC_RESULT_ERROR;
    }
    if (args->flags & MIGRATE_OFFLINE) {
        if (args->cancelled) {
            g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_FAILED,
                        "offline migration of domain '%s' was cancelled",
                        name);
            return RPC_RESULT_ERROR;
        }
        dispatch_make_domain(&ret->dom, dom);
        make_cookie(dom, "finish", &ret->cookie_out.cookie_out_len,
                    &ret->cookie_out.cookie_out_val);
        return RPC_RESULT_OK;
    }
    if (dom->async_job != DOMAIN_ASYNC_JOB_MIGRATION_IN) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                    "domain '%s' is not processing incoming migration",
                    name);
        return RPC_RESULT_ERROR;
    }
    unpark(dom);
    op = g_new0(FinishOp, 1);
    op->call = call;
    op->dom = domain_obj_ref(dom);
    op->flags = args->flags;
    op->deadline = g_get_monotonic_time() + FINISH_WAIT_MS * 1000LL;
    if (args->cancelled) {
        finish_failed(op, g_error_new(VIR_ERROR, VIR_ERR_OPERATION_FAILED,
                                      "migration of domain '%s' was "
                                      "cancelled", name));
        return RPC_RESULT_PENDING;
    }
    if (args->flags & MIGRATE_PERSIST_DEST) {
        g_autoptr(GError) e = NULL;

        op->persist_def = param_string(params, nparams, PARAM_PERSIST_XML) ?
                          prepare_def(params, nparams, PARAM_PERSIST_XML, &e)
                          : domain_def_copy(dom->def);
        if (!op->persist_def) {
            finish_failed(op, g_steal_pointer(&e));
            return RPC_RESULT_PENDING;
        }
    }
    finish_poll(op);
    return RPC_RESULT_PENDING;
}

const RpcProc dispatch_migrate_procs[] = {
    PROC(DOMAIN_MIGRATE_BEGIN3_PARAMS, "virDomainMigrateBegin3Params",
         remote_domain_migrate_begin3_params_args,
         remote_domain_migrate_begin3_params_ret, proc_begin, RW),
    PROC(DOMAIN_MIGRATE_PREPARE3_PARAMS, "virDomainMigratePrepare3Params",
         remote_domain_migrate_prepare3_params_args,
         remote_domain_migrate_prepare3_params_ret, proc_prepare, RW),
    PROC(DOMAIN_MIGRATE_PERFORM3_PARAMS, "virDomainMigratePerform3Params",
         remote_domain_migrate_perform3_params_args,
         remote_domain_migrate_perform3_params_ret, proc_perform, RW),
    PROC(DOMAIN_MIGRATE_FINISH3_PARAMS, "virDomainMigrateFinish3Params",
         remote_domain_migrate_finish3_params_args,
         remote_domain_migrate_finish3_params_ret, proc_finish, RW),
    PROC(DOMAIN_MIGRATE_CONFIRM3_PARAMS, "virDomainMigrateConfirm3Params",
         remote_domain_migrate_confirm3_params_args, VOID_T, proc_confirm,
         RW),
};

const size_t dispatch_migrate_nprocs = G_N_ELEMENTS(dispatch_migrate_procs);
