/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The typed monitor (monitor.h): QMP commands as C calls.  Spelling of
 * commands and members follows QEMU 7.2's schema, which kestrel implements
 * (man/kestrel-qmp.7).
 */
#include "config.h"

#include <string.h>

#include "monitor.h"
#include "virerror.h"

#define MONITOR_TIMEOUT_MS 10000

typedef enum {
    REPLY_NONE,
    REPLY_STATUS,
    REPLY_MIGRATION,
    REPLY_MIGRATION_PARAMS,
} MonitorReplyKind;

typedef struct {
    DomainObj *dom;
    MonitorReplyKind kind;
    union {
        MonitorDoneFunc done;
        MonitorStatusFunc status;
        MonitorMigrationFunc migration;
        MonitorMigrationParamsFunc params;
    } cb;
    void *opaque;
    GError *err;                /* set before the call: fail from idle */
} MonitorCall;

static const char *const status_names[] = {
    [MONITOR_MIGRATION_NONE] = "none",
    [MONITOR_MIGRATION_SETUP] = "setup",
    [MONITOR_MIGRATION_ACTIVE] = "active",
    [MONITOR_MIGRATION_PRE_SWITCHOVER] = "pre-switchover",
    [MONITOR_MIGRATION_DEVICE] = "device",
    [MONITOR_MIGRATION_COMPLETED] = "completed",
    [MONITOR_MIGRATION_FAILED] = "failed",
    [MONITOR_MIGRATION_CANCELLING] = "cancelling",
    [MONITOR_MIGRATION_CANCELLED] = "cancelled",
};

const char *monitor_migration_status_name(MonitorMigrationStatus st)
{
    return (guint)st < G_N_ELEMENTS(status_names) ? status_names[st] : "?";
}

bool monitor_migration_status_is_final(MonitorMigrationStatus st)
{
    return st == MONITOR_MIGRATION_COMPLETED ||
           st == MONITOR_MIGRATION_FAILED ||
           st == MONITOR_MIGRATION_CANCELLED;
}

GError *monitor_migration_job_error(const MonitorMigrationStats *st,
                                    const char *job)
{
    switch (st->status) {
    case MONITOR_MIGRATION_CANCELLED:
        return g_error_new(VIR_ERROR, VIR_ERR_OPERATION_ABORTED,
                           "%s: canceled by client", job);
    case MONITOR_MIGRATION_FAILED:
        return g_error_new(VIR_ERROR, VIR_ERR_OPERATION_FAILED, "%s: %s",
                           job, st->error_desc ? st->error_desc
                                               : "unexpectedly failed");
    default:
        return NULL;
    }
}

void monitor_migration_stats_clear(MonitorMigrationStats *st)
{
    g_clear_pointer(&st->error_desc, g_free);
    memset(st, 0, sizeof(*st));
}

static guint64 get_u64(JsonObject *o, const char *member)
{
    JsonNode *n = json_object_get_member(o, member);
    gint64 v;

    if (!n || !JSON_NODE_HOLDS_VALUE(n)) {
        return 0;
    }
    if (json_node_get_value_type(n) == G_TYPE_DOUBLE) {
        return (guint64)json_node_get_double(n);
    }
    v = json_node_get_int(n);
    return v < 0 ? 0 : (guint64)v;
}

bool monitor_parse_migration_stats(JsonNode *node, MonitorMigrationStats *st)
{
    JsonObject *o, *ram;
    const char *status;

    memset(st, 0, sizeof(*st));
    if (!node || !JSON_NODE_HOLDS_OBJECT(node)) {
        return false;
    }
    o = json_node_get_object(node);
    status = json_object_get_string_member_with_default(o, "status", "none");
    st->status = MONITOR_MIGRATION_NONE;
    for (guint i = 0; i < G_N_ELEMENTS(status_names); i++) {
        if (g_str_equal(status, status_names[i])) {
            st->status = i;
        }
    }
    st->total_time = get_u64(o, "total-time");
    st->setup_time = get_u64(o, "setup-time");
    st->has_expected_downtime = json_object_has_member(o,
                                                       "expected-downtime");
    st->expected_downtime = get_u64(o, "expected-downtime");
    st->has_downtime = json_object_has_member(o, "downtime");
    st->downtime = get_u64(o, "downtime");
    if (json_object_has_member(o, "error-desc")) {
        st->error_desc = g_strdup(json_object_get_string_member_with_default(
            o, "error-desc", ""));
    }
    if (json_object_has_member(o, "ram") &&
        (ram = json_object_get_object_member(o, "ram"))) {
        JsonNode *mbps = json_object_get_member(ram, "mbps");

        st->has_ram = true;
        st->ram_transferred = get_u64(ram, "transferred");
        st->ram_remaining = get_u64(ram, "remaining");
        st->ram_total = get_u64(ram, "total");
        st->ram_duplicate = get_u64(ram, "duplicate");
        st->ram_normal = get_u64(ram, "normal");
        st->ram_normal_bytes = get_u64(ram, "normal-bytes");
        st->ram_dirty_pages_rate = get_u64(ram, "dirty-pages-rate");
        st->ram_dirty_sync_count = get_u64(ram, "dirty-sync-count");
        st->ram_page_size = get_u64(ram, "page-size");
        st->ram_mbps = mbps && JSON_NODE_HOLDS_VALUE(mbps) ?
                       json_node_get_double(mbps) : 0;
    }
    return true;
}

bool monitor_parse_migration_params(JsonNode *node, MonitorMigrationParams *p)
{
    JsonObject *o;

    memset(p, 0, sizeof(*p));
    if (!node || !JSON_NODE_HOLDS_OBJECT(node)) {
        return false;
    }
    o = json_node_get_object(node);
    p->has_downtime_limit = json_object_has_member(o, "downtime-limit");
    p->downtime_limit = get_u64(o, "downtime-limit");
    p->has_max_bandwidth = json_object_has_member(o, "max-bandwidth");
    p->max_bandwidth = get_u64(o, "max-bandwidth");
    p->has_cpu_throttle_initial = json_object_has_member(
        o, "cpu-throttle-initial");
    p->cpu_throttle_initial = get_u64(o, "cpu-throttle-initial");
    p->has_cpu_throttle_increment = json_object_has_member(
        o, "cpu-throttle-increment");
    p->cpu_throttle_increment = get_u64(o, "cpu-throttle-increment");
    p->has_multifd_channels = json_object_has_member(o, "multifd-channels");
    p->multifd_channels = get_u64(o, "multifd-channels");
    p->has_multifd_compression = json_object_has_member(
        o, "multifd-compression");
    g_strlcpy(p->multifd_compression,
              json_object_get_string_member_with_default(
                  o, "multifd-compression", ""),
              sizeof(p->multifd_compression));
    p->has_multifd_zstd_level = json_object_has_member(o,
                                                       "multifd-zstd-level");
    p->multifd_zstd_level = get_u64(o, "multifd-zstd-level");
    return true;
}

static void monitor_call_finish(MonitorCall *mc, JsonNode *ret,
                                const GError *err)
{
    DomainObj *dom = mc->dom;

    switch (mc->kind) {
    case REPLY_NONE:
        if (mc->cb.done) {
            mc->cb.done(dom, err, mc->opaque);
        }
        break;
    case REPLY_STATUS: {
        JsonObject *o = !err && ret && JSON_NODE_HOLDS_OBJECT(ret) ?
                        json_node_get_object(ret) : NULL;

        mc->cb.status(dom, o && json_object_get_boolean_member_with_default(
                          o, "running", false),
                      o ? json_object_get_string_member_with_default(
                          o, "status", "") : "", err, mc->opaque);
        break;
    }
    case REPLY_MIGRATION: {
        MonitorMigrationStats st;

        if (err) {
            mc->cb.migration(dom, NULL, err, mc->opaque);
            break;
        }
        monitor_parse_migration_stats(ret, &st);
        mc->cb.migration(dom, &st, NULL, mc->opaque);
        monitor_migration_stats_clear(&st);
        break;
    }
    case REPLY_MIGRATION_PARAMS: {
        MonitorMigrationParams p;

        if (err) {
            mc->cb.params(dom, NULL, err, mc->opaque);
            break;
        }
        monitor_parse_migration_params(ret, &p);
        mc->cb.params(dom, &p, NULL, mc->opaque);
        break;
    }
    }
    domain_obj_unref(dom);
    g_clear_error(&mc->err);
    g_free(mc);
}

static void monitor_reply(QmpClient *mon, JsonNode *ret, const GError *err,
                          void *opaque)
{
    MonitorCall *mc = opaque;

    if (err) {
        g_autoptr(GError) e = g_error_new(VIR_ERROR, VIR_ERR_OPERATION_FAILED,
                                          "domain '%s': %s", mc->dom->name,
                                          err->message);
        monitor_call_finish(mc, NULL, e);
        return;
    }
    monitor_call_finish(mc, ret, NULL);
}

static gboolean monitor_fail_idle(void *opaque)
{
    MonitorCall *mc = opaque;
    GError *err = g_steal_pointer(&mc->err);

    monitor_call_finish(mc, NULL, err);
    g_error_free(err);
    return G_SOURCE_REMOVE;
}

/* Send @command (@args taken, may be NULL) for @mc. */
static void monitor_send(MonitorCall *mc, const char *command,
                         JsonObject *args)
{
    DomainObj *dom = mc->dom;

    if (!dom->mon) {
        mc->err = g_error_new(VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                              "domain is not running");
        g_idle_add(monitor_fail_idle, mc);
    } else {
        qmp_client_execute(dom->mon, command, args, MONITOR_TIMEOUT_MS,
                           monitor_reply, mc);
    }
    if (args) {
        json_object_unref(args);
    }
}

static MonitorCall *monitor_call_new(DomainObj *dom, MonitorReplyKind kind,
                                     void *opaque)
{
    MonitorCall *mc = g_new0(MonitorCall, 1);

    mc->dom = domain_obj_ref(dom);
    mc->kind = kind;
    mc->opaque = opaque;
    return mc;
}

static void monitor_simple(DomainObj *dom, const char *command,
                           JsonObject *args, MonitorDoneFunc done,
                           void *opaque)
{
    MonitorCall *mc = monitor_call_new(dom, REPLY_NONE, opaque);

    mc->cb.done = done;
    monitor_send(mc, command, args);
}

void monitor_stop(DomainObj *dom, MonitorDoneFunc done, void *opaque)
{
    monitor_simple(dom, "stop", NULL, done, opaque);
}

void monitor_cont(DomainObj *dom, MonitorDoneFunc done, void *opaque)
{
    monitor_simple(dom, "cont", NULL, done, opaque);
}

void monitor_quit(DomainObj *dom, MonitorDoneFunc done, void *opaque)
{
    monitor_simple(dom, "quit", NULL, done, opaque);
}

void monitor_query_status(DomainObj *dom, MonitorStatusFunc done,
                          void *opaque)
{
    MonitorCall *mc = monitor_call_new(dom, REPLY_STATUS, opaque);

    mc->cb.status = done;
    monitor_send(mc, "query-status", NULL);
}

void monitor_migrate(DomainObj *dom, const char *uri, MonitorDoneFunc done,
                     void *opaque)
{
    JsonObject *args = json_object_new();

    json_object_set_string_member(args, "uri", uri);
    monitor_simple(dom, "migrate", args, done, opaque);
}

void monitor_migrate_incoming(DomainObj *dom, const char *uri,
                              MonitorDoneFunc done, void *opaque)
{
    JsonObject *args = json_object_new();

    json_object_set_string_member(args, "uri", uri);
    monitor_simple(dom, "migrate-incoming", args, done, opaque);
}

void monitor_migrate_cancel(DomainObj *dom, MonitorDoneFunc done,
                            void *opaque)
{
    monitor_simple(dom, "migrate_cancel", NULL, done, opaque);
}

void monitor_query_migrate(DomainObj *dom, MonitorMigrationFunc done,
                           void *opaque)
{
    MonitorCall *mc = monitor_call_new(dom, REPLY_MIGRATION, opaque);

    mc->cb.migration = done;
    monitor_send(mc, "query-migrate", NULL);
}

void monitor_migrate_set_capabilities(DomainObj *dom,
                                      const char *const *names, bool state,
                                      MonitorDoneFunc done, void *opaque)
{
    JsonObject *args = json_object_new();
    JsonArray *caps = json_array_new();

    for (; names && *names; names++) {
        JsonObject *c = json_object_new();

        json_object_set_string_member(c, "capability", *names);
        json_object_set_boolean_member(c, "state", state);
        json_array_add_object_element(caps, c);
    }
    json_object_set_array_member(args, "capabilities", caps);
    monitor_simple(dom, "migrate-set-capabilities", args, done, opaque);
}

void monitor_migrate_set_parameters(DomainObj *dom,
                                    const MonitorMigrationParams *p,
                                    MonitorDoneFunc done, void *opaque)
{
    JsonObject *args = json_object_new();

    if (p->has_downtime_limit) {
        json_object_set_int_member(args, "downtime-limit",
                                   (gint64)p->downtime_limit);
    }
    if (p->has_max_bandwidth) {
        json_object_set_int_member(args, "max-bandwidth",
                                   (gint64)p->max_bandwidth);
    }
    if (p->has_cpu_throttle_initial) {
        json_object_set_int_member(args, "cpu-throttle-initial",
                                   (gint64)p->cpu_throttle_initial);
    }
    if (p->has_cpu_throttle_increment) {
        json_object_set_int_member(args, "cpu-throttle-increment",
                                   (gint64)p->cpu_throttle_increment);
    }
    if (p->has_multifd_channels) {
        json_object_set_int_member(args, "multifd-channels",
                                   (gint64)p->multifd_channels);
    }
    if (p->has_multifd_compression) {
        json_object_set_string_member(args, "multifd-compression",
                                      p->multifd_compression);
    }
    if (p->has_multifd_zstd_level) {
        json_object_set_int_member(args, "multifd-zstd-level",
                                   (gint64)p->multifd_zstd_level);
    }
    monitor_simple(dom, "migrate-set-parameters", args, done, opaque);
}

void monitor_query_migrate_parameters(DomainObj *dom,
                                      MonitorMigrationParamsFunc done,
                                      void *opaque)
{
    MonitorCall *mc = monitor_call_new(dom, REPLY_MIGRATION_PARAMS, opaque);

    mc->cb.params = done;
    monitor_send(mc, "query-migrate-parameters", NULL);
}

void monitor_migration_stats_to_job(const MonitorMigrationStats *st,
                                    DomainJobStats *job)
{
    guint64 page = st->ram_page_size ? st->ram_page_size : 4096;

    job->setup_time = st->setup_time;
    job->data_total = st->ram_total;
    job->data_processed = st->ram_transferred;
    job->data_remaining = st->ram_remaining;
    job->mem_total = st->ram_total;
    job->mem_processed = st->ram_transferred;
    job->mem_remaining = st->ram_remaining;
    job->mem_constant = st->ram_duplicate;
    job->mem_normal = st->ram_normal;
    job->mem_normal_bytes = st->ram_normal_bytes ? st->ram_normal_bytes
                                                 : st->ram_normal * page;
    /* mbps is megabits per second (QEMU's unit). */
    job->mem_bps = (guint64)(st->ram_mbps * 1000000.0 / 8.0);
    job->mem_dirty_rate = st->ram_dirty_pages_rate;
    job->mem_iteration = st->ram_dirty_sync_count;
    job->mem_page_size = page;
    job->has_downtime = st->has_downtime;
    job->downtime = st->downtime;
    job->has_expected_downtime = st->has_expected_downtime;
    job->expected_downtime = st->expected_downtime;
}
