/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The typed monitor: every QMP command the driver sends to a domain's
 * kestrel, with its arguments and reply as C types.  QMP JSON is built and
 * read here only (as libvirt's qemu_monitor.c -> qemu_monitor_json.c), so
 * dispatch code never spells a command name or a member.
 *
 * Each call runs on @dom's monitor (dom->mon); on a domain without one the
 * callback gets VIR_ERR_OPERATION_INVALID "domain is not running" from an
 * idle callback.  Errors from kestrel come as VIR_ERR_OPERATION_FAILED
 * naming the domain and kestrel's own message.  The callback always runs
 * once, later, from the main loop; @dom is referenced until then.
 */
#ifndef DRIVER_MONITOR_H
#define DRIVER_MONITOR_H

#include <stdbool.h>
#include <glib.h>

#include "domain.h"

/* Completion of a command with no interesting reply. */
typedef void (*MonitorDoneFunc)(DomainObj *dom, const GError *err,
                                void *opaque);

/* QEMU's MigrationInfo, as kestrel's query-migrate reports it. */
typedef enum {
    MONITOR_MIGRATION_NONE = 0,
    MONITOR_MIGRATION_SETUP,
    MONITOR_MIGRATION_ACTIVE,
    MONITOR_MIGRATION_PRE_SWITCHOVER,
    MONITOR_MIGRATION_DEVICE,
    MONITOR_MIGRATION_COMPLETED,
    MONITOR_MIGRATION_FAILED,
    MONITOR_MIGRATION_CANCELLING,
    MONITOR_MIGRATION_CANCELLED,
} MonitorMigrationStatus;

typedef struct {
    MonitorMigrationStatus status;
    guint64 total_time;             /* ms */
    guint64 setup_time;             /* ms */
    bool has_expected_downtime;
    guint64 expected_downtime;      /* ms, while active */
    bool has_downtime;
    guint64 downtime;               /* ms, once completed */
    bool has_ram;
    guint64 ram_transferred;        /* bytes */
    guint64 ram_remaining;
    guint64 ram_total;
    guint64 ram_duplicate;          /* pages */
    guint64 ram_normal;             /* pages */
    guint64 ram_normal_bytes;
    guint64 ram_dirty_pages_rate;   /* pages/s */
    guint64 ram_dirty_sync_count;   /* iterations */
    guint64 ram_page_size;
    double ram_mbps;
    char *error_desc;               /* failed: kestrel's reason, or NULL */
} MonitorMigrationStats;

void monitor_migration_stats_clear(MonitorMigrationStats *st);
/* True for completed, failed and cancelled. */
bool monitor_migration_status_is_final(MonitorMigrationStatus st);
const char *monitor_migration_status_name(MonitorMigrationStatus st);
/* The libvirt error of an outgoing job (@job: "domain save job") that
 * kestrel reports cancelled or failed, in libvirt's words; NULL for any
 * other status. */
GError *monitor_migration_job_error(const MonitorMigrationStats *st,
                                    const char *job);

/* @stats is borrowed (NULL on error). */
typedef void (*MonitorMigrationFunc)(DomainObj *dom,
                                     const MonitorMigrationStats *stats,
                                     const GError *err, void *opaque);

/* The migration parameters the driver sets; has_*: send it. */
typedef struct {
    bool has_downtime_limit;
    guint64 downtime_limit;         /* ms */
    bool has_max_bandwidth;
    guint64 max_bandwidth;          /* bytes/s, 0: no limit */
    bool has_cpu_throttle_initial;  /* auto-converge: percent */
    guint64 cpu_throttle_initial;
    bool has_cpu_throttle_increment;
    guint64 cpu_throttle_increment;
    bool has_multifd_channels;
    guint64 multifd_channels;
    bool has_multifd_compression;
    char multifd_compression[8];    /* "none" or "zstd" */
    bool has_multifd_zstd_level;
    guint64 multifd_zstd_level;
} MonitorMigrationParams;

typedef void (*MonitorMigrationParamsFunc)(DomainObj *dom,
                                           const MonitorMigrationParams *p,
                                           const GError *err, void *opaque);

/* query-status: @running is whether the vCPUs run. */
typedef void (*MonitorStatusFunc)(DomainObj *dom, bool running,
                                  const char *status, const GError *err,
                                  void *opaque);

void monitor_stop(DomainObj *dom, MonitorDoneFunc done, void *opaque);
void monitor_cont(DomainObj *dom, MonitorDoneFunc done, void *opaque);
void monitor_quit(DomainObj *dom, MonitorDoneFunc done, void *opaque);
void monitor_query_status(DomainObj *dom, MonitorStatusFunc done,
                          void *opaque);

/* Start an outgoing migration to @uri (returns once it has begun). */
void monitor_migrate(DomainObj *dom, const char *uri, MonitorDoneFunc done,
                     void *opaque);
/* With -incoming defer: take the incoming stream from @uri. */
void monitor_migrate_incoming(DomainObj *dom, const char *uri,
                              MonitorDoneFunc done, void *opaque);
void monitor_migrate_cancel(DomainObj *dom, MonitorDoneFunc done,
                            void *opaque);
void monitor_query_migrate(DomainObj *dom, MonitorMigrationFunc done,
                           void *opaque);

/* migrate-set-capabilities: turn each of @names (NULL-terminated) to
 * @state. */
void monitor_migrate_set_capabilities(DomainObj *dom,
                                      const char *const *names, bool state,
                                      MonitorDoneFunc done, void *opaque);
void monitor_migrate_set_parameters(DomainObj *dom,
                                    const MonitorMigrationParams *p,
                                    MonitorDoneFunc done, void *opaque);
void monitor_query_migrate_parameters(DomainObj *dom,
                                      MonitorMigrationParamsFunc done,
                                      void *opaque);

/* The job figures libvirt reports (virDomainJobInfo, job stats) from
 * @st; @job->type and ->operation are left alone. */
void monitor_migration_stats_to_job(const MonitorMigrationStats *st,
                                    DomainJobStats *job);

/* Parsers, exposed for the unit tests: false if @node is not a
 * MigrationInfo / MigrationParameters object. */
bool monitor_parse_migration_stats(JsonNode *node,
                                   MonitorMigrationStats *st);
bool monitor_parse_migration_params(JsonNode *node,
                                    MonitorMigrationParams *p);

#endif /* DRIVER_MONITOR_H */
