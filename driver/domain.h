/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Domains known to the daemon: the list, their run state, persistent
 * configuration (config dir) and live state (state dir), jobs.
 *
 * Everything runs on the daemon's main loop: no locks.  A domain is
 * looked up by UUID (what libvirt clients send back), name or id.
 */
#ifndef DRIVER_DOMAIN_H
#define DRIVER_DOMAIN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#include "domain-conf.h"
#include "qmp-client.h"

/* virDomainState and reasons (libvirt wire values, never renumber). */
typedef enum {
    DOMAIN_STATE_NOSTATE = 0,
    DOMAIN_STATE_RUNNING = 1,
    DOMAIN_STATE_BLOCKED = 2,
    DOMAIN_STATE_PAUSED = 3,
    DOMAIN_STATE_SHUTDOWN = 4,
    DOMAIN_STATE_SHUTOFF = 5,
    DOMAIN_STATE_CRASHED = 6,
    DOMAIN_STATE_PMSUSPENDED = 7,
} DomainState;

enum {
    DOMAIN_RUNNING_UNKNOWN = 0,
    DOMAIN_RUNNING_BOOTED = 1,
    DOMAIN_RUNNING_MIGRATED = 2,
    DOMAIN_RUNNING_RESTORED = 3,
    DOMAIN_RUNNING_UNPAUSED = 5,
    DOMAIN_RUNNING_MIGRATION_CANCELED = 6,
    DOMAIN_RUNNING_SAVE_CANCELED = 7,
    DOMAIN_PAUSED_UNKNOWN = 0,
    DOMAIN_PAUSED_USER = 1,
    DOMAIN_PAUSED_MIGRATION = 2,
    DOMAIN_PAUSED_SAVE = 3,
    DOMAIN_PAUSED_SHUTTING_DOWN = 8,
    DOMAIN_PAUSED_STARTING_UP = 11,
    DOMAIN_SHUTDOWN_USER = 1,
    DOMAIN_SHUTOFF_UNKNOWN = 0,
    DOMAIN_SHUTOFF_SHUTDOWN = 1,
    DOMAIN_SHUTOFF_DESTROYED = 2,
    DOMAIN_SHUTOFF_CRASHED = 3,
    DOMAIN_SHUTOFF_MIGRATED = 4,
    DOMAIN_SHUTOFF_SAVED = 5,
    DOMAIN_SHUTOFF_FAILED = 6,
    DOMAIN_SHUTOFF_DAEMON = 8,
};

/* virDomainEventType and details (wire values). */
enum {
    DOMAIN_EVENT_DEFINED = 0,
    DOMAIN_EVENT_UNDEFINED = 1,
    DOMAIN_EVENT_STARTED = 2,
    DOMAIN_EVENT_SUSPENDED = 3,
    DOMAIN_EVENT_RESUMED = 4,
    DOMAIN_EVENT_STOPPED = 5,
    DOMAIN_EVENT_SHUTDOWN = 6,
};

enum {
    DOMAIN_EVENT_DEFINED_ADDED = 0,
    DOMAIN_EVENT_DEFINED_UPDATED = 1,
    DOMAIN_EVENT_UNDEFINED_REMOVED = 0,
    DOMAIN_EVENT_STARTED_BOOTED = 0,
    DOMAIN_EVENT_STARTED_MIGRATED = 1,
    DOMAIN_EVENT_STARTED_RESTORED = 2,
    DOMAIN_EVENT_SUSPENDED_PAUSED = 0,
    DOMAIN_EVENT_SUSPENDED_MIGRATED = 1,
    DOMAIN_EVENT_RESUMED_UNPAUSED = 0,
    DOMAIN_EVENT_STOPPED_SHUTDOWN = 0,
    DOMAIN_EVENT_STOPPED_DESTROYED = 1,
    DOMAIN_EVENT_STOPPED_CRASHED = 2,
    DOMAIN_EVENT_STOPPED_MIGRATED = 3,
    DOMAIN_EVENT_STOPPED_SAVED = 4,
    DOMAIN_EVENT_STOPPED_FAILED = 5,
    DOMAIN_EVENT_SHUTDOWN_FINISHED = 0,
    DOMAIN_EVENT_SHUTDOWN_GUEST = 1,
    DOMAIN_EVENT_SHUTDOWN_HOST = 2,
};

typedef struct Driver Driver;
typedef struct DomainObj DomainObj;

/*
 * Jobs, after libvirt's QEMU driver (qemu_domainjob.h):
 * - QUERY: reads the daemon's own state (dominfo, list, domstats,
 *   domjobinfo).  Answered at once from the main loop; takes no job and so
 *   never waits, also during an asynchronous job.
 * - MODIFY: changes the domain (start, suspend, setmem, define...): one at
 *   a time, a second one waits for the first (DOMAIN_JOB_WAIT_MS); during
 *   an asynchronous job it is refused at once.
 * - DESTROY: takes no job, works whatever runs (destroy ends the async
 *   job too: it fails).
 * - ASYNC (save, restore, migration): a MODIFY job held until kestrel has
 *   moved the state, with a phase; the only calls allowed alongside are the
 *   queries and the job's own controls (domjobabort, migrate-setspeed,
 *   migrate-setmaxdowntime), which talk to the monitor directly.
 */
typedef enum {
    DOMAIN_JOB_NONE = 0,
    DOMAIN_JOB_QUERY,
    DOMAIN_JOB_MODIFY,
    DOMAIN_JOB_DESTROY,
    DOMAIN_JOB_ASYNC,
} DomainJobType;

typedef enum {
    DOMAIN_ASYNC_JOB_NONE = 0,
    DOMAIN_ASYNC_JOB_MIGRATION_OUT,
    DOMAIN_ASYNC_JOB_MIGRATION_IN,
    DOMAIN_ASYNC_JOB_SAVE,
    DOMAIN_ASYNC_JOB_RESTORE,
} DomainAsyncJob;

typedef enum {
    DOMAIN_JOB_PHASE_NONE = 0,
    DOMAIN_JOB_PHASE_SETUP,         /* pausing, configuring the monitor */
    DOMAIN_JOB_PHASE_TRANSFER,      /* kestrel is moving the state */
    DOMAIN_JOB_PHASE_FINISH,        /* stream done: stopping the source,
                                     * or resuming the destination */
} DomainJobPhase;

/* virDomainJobType (wire values). */
enum {
    DOMAIN_JOB_INFO_NONE = 0,
    DOMAIN_JOB_INFO_BOUNDED = 1,
    DOMAIN_JOB_INFO_UNBOUNDED = 2,
    DOMAIN_JOB_INFO_COMPLETED = 3,
    DOMAIN_JOB_INFO_FAILED = 4,
    DOMAIN_JOB_INFO_CANCELLED = 5,
};

/* Figures of an async job, from kestrel's query-migrate. */
typedef struct {
    int type;                       /* DOMAIN_JOB_INFO_* */
    int operation;                  /* virDomainJobOperation */
    guint64 time_elapsed;           /* ms */
    guint64 setup_time;             /* ms */
    guint64 data_total, data_processed, data_remaining;    /* bytes */
    guint64 mem_total, mem_processed, mem_remaining;       /* bytes */
    guint64 mem_constant, mem_normal, mem_normal_bytes;    /* pages, bytes */
    guint64 mem_bps;                /* bytes/s */
    guint64 mem_dirty_rate;         /* pages/s */
    guint64 mem_iteration;
    guint64 mem_page_size;
    bool has_downtime;
    guint64 downtime;               /* ms, completed */
    bool has_expected_downtime;
    guint64 expected_downtime;      /* ms, while active */
} DomainJobStats;

/* virDomainEventID (wire values). */
typedef enum {
    DOMAIN_EVENT_ID_LIFECYCLE = 0,
    DOMAIN_EVENT_ID_REBOOT = 1,
    DOMAIN_EVENT_ID_BALLOON_CHANGE = 13,
    DOMAIN_EVENT_ID_MIGRATION_ITERATION = 20,
    DOMAIN_EVENT_ID_JOB_COMPLETED = 21,
} DomainEventId;

/*
 * Called for every domain event: @id says which; LIFECYCLE has @event and
 * @detail as above, BALLOON_CHANGE the new size in KiB in @value,
 * MIGRATION_ITERATION the pass in @value; JOB_COMPLETED reads the
 * domain's completed_stats.
 */
typedef void (*DomainEventFunc)(Driver *drv, DomainObj *dom,
                                DomainEventId id, int event, int detail,
                                guint64 value);

/*
 * Modes of what the daemon creates, as libvirt has them: configs, status,
 * pid files and logs are root's alone (they name images, sockets and
 * secrets); so are the config, state and log directories.
 */
#define DOMAIN_FILE_MODE 0600
#define DOMAIN_DIR_MODE 0700

struct Driver {
    char *config_dir;           /* NAME.xml, autostart/NAME.xml */
    char *state_dir;            /* NAME.xml (live), NAME.status, NAME.qmp */
    char *log_dir;              /* NAME.log */
    char *save_dir;             /* NAME.save: managed save images */
    char *emulator;             /* kestrel binary when the XML names none */
    char *uri;                  /* kestrel:///system or kestrel:///session */
    bool accel_qtest;           /* VIRTKESTRELD_ACCEL=qtest: domains run
                                 * under kestrel's qtest accelerator (test
                                 * hosts without /dev/kvm) */
    GHashTable *domains;        /* uuid string -> DomainObj (owned) */
    int next_id;
    DomainEventFunc event_func;
    void *event_opaque;
};

struct DomainObj {
    int refs;
    Driver *drv;
    char *name;                 /* == def->name */
    unsigned char uuid[16];
    char uuidstr[37];
    int id;                     /* -1 when inactive */
    DomainDef *def;             /* live definition while active */
    DomainDef *newdef;          /* config to apply at next start, or NULL */
    bool persistent;
    bool autostart;
    DomainState state;
    int reason;

    /* Process, valid while active. */
    pid_t pid;
    guint64 pid_start_time;     /* /proc/PID/stat starttime: proves pid */
    QmpClient *mon;
    char *qmp_path;
    char *pid_path;
    char *log_path;
    goffset log_start;          /* size of the log when the VMM started */
    gint64 start_time;          /* monotonic µs, for cpu time estimates */
    guint64 balloon_kib;        /* guest memory now; 0: not known */
    char *serial_ptys[DOMAIN_MAX_SERIALS];  /* from query-chardev; NULL */
    JsonObject *guest_stats;    /* last guest-stats "stats", NULL: none */
    gint64 guest_stats_update;  /* its "last-update", Unix seconds */
    guint guest_stats_timer;    /* refreshes guest_stats while active */

    /* Job: one state-changing operation at a time (see "Jobs" below). */
    bool job;
    const char *job_name;
    DomainJobType job_type;
    GQueue job_waiters;         /* DomainJobWaiter, first come first */

    /* Asynchronous job (save, restore, migration): held across many main
     * loop turns while kestrel moves the state; job stays true. */
    DomainAsyncJob async_job;
    DomainJobPhase async_phase;
    const char *async_owner;    /* the API that began it, libvirt style */
    gint64 async_start;         /* real time, ms */
    bool async_abort;           /* domjobabort asked for it to stop */
    DomainJobStats job_stats;   /* of the async job, refreshed while it
                                 * runs */
    bool has_completed_stats;
    DomainJobStats completed_stats;     /* of the last async job */

    bool shutdown_requested;    /* by the API: SHUTDOWN event detail HOST */
    bool shutdown_seen;         /* guest powered off (QMP SHUTDOWN) */
    bool destroying;            /* the stop is ours (destroy) */
    /* > 0: the shut off reason and STOPPED detail the coming stop
     * reports (saved, migrated), whatever else it looks like. */
    int stop_reason;
    int stop_detail;
    bool removed;               /* no longer in the list */
};

DomainObj *domain_obj_ref(DomainObj *dom);
void domain_obj_unref(DomainObj *dom);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DomainObj, domain_obj_unref)

bool domain_obj_is_active(const DomainObj *dom);

/* The definition a new start uses (newdef if any). */
DomainDef *domain_obj_get_persistent_def(DomainObj *dom);

/* Lookups return a new reference or NULL with VIR_ERR_NO_DOMAIN. */
DomainObj *domain_lookup_by_uuid(Driver *drv, const unsigned char *uuid,
                                 GError **errp);
DomainObj *domain_lookup_by_name(Driver *drv, const char *name,
                                 GError **errp);
DomainObj *domain_lookup_by_id(Driver *drv, int id, GError **errp);

/* All domains, sorted by name (new references). */
GPtrArray *domain_list_all(Driver *drv);

/*
 * Add @def (taken) as a persistent domain or update the config of the
 * existing one with the same name and uuid; writes the config file.
 * *@added says which.  Returns a new reference.
 */
DomainObj *domain_define(Driver *drv, DomainDef *def, bool *added,
                         GError **errp);

/* Add @def (taken) as a new transient domain, still inactive. */
DomainObj *domain_add_transient(Driver *drv, DomainDef *def, GError **errp);

/* Remove the persistent config: an inactive domain disappears. */
bool domain_undefine(DomainObj *dom, GError **errp);

/* Drop an inactive domain from the list. */
void domain_remove(DomainObj *dom);

/*
 * The persistent definition of @dom, to change in place and then save
 * with domain_save_config(): while @dom runs, a copy split from the live
 * definition.
 */
DomainDef *domain_obj_edit_config(DomainObj *dom);
bool domain_save_config(Driver *drv, DomainDef *def, GError **errp);

/* The live definition of @dom, to change in place, split first from the
 * persistent one if they were shared. */
DomainDef *domain_obj_edit_live(DomainObj *dom);

bool domain_set_autostart(DomainObj *dom, bool autostart, GError **errp);

/* Run state; the live state file follows every change while active. */
void domain_set_state(DomainObj *dom, DomainState state, int reason);
void domain_save_status(DomainObj *dom);
void domain_emit(DomainObj *dom, int event, int detail);
void domain_emit_reboot(DomainObj *dom);
void domain_emit_balloon(DomainObj *dom, guint64 kib);
void domain_emit_migration_iteration(DomainObj *dom, int iteration);
/* The async job just ended with completed_stats: job-completed. */
void domain_emit_job_completed(DomainObj *dom);

/* Jobs: false with VIR_ERR_OPERATION_TIMEOUT if another job runs (at
 * once during an async job, in libvirt's words naming its API). */
bool domain_job_begin(DomainObj *dom, const char *name, GError **errp);
void domain_job_end(DomainObj *dom);

/*
 * Turn the MODIFY job the caller holds into async job @type, begun by API
 * @owner (a static string, "remoteDispatchDomainSaveFlags"); phase SETUP.
 */
void domain_async_job_start(DomainObj *dom, DomainAsyncJob type,
                            const char *owner);
void domain_async_job_set_phase(DomainObj *dom, DomainJobPhase phase);
/* End the async job (and the job): its last figures become the completed
 * ones with @info_type (DOMAIN_JOB_INFO_COMPLETED, FAILED, CANCELLED). */
void domain_async_job_end(DomainObj *dom, int info_type);
/* Error for a MODIFY job refused during the async job. */
void domain_async_job_busy_error(DomainObj *dom, GError **errp);

/*
 * Wait for the job of @dom to end: @func runs (from the main loop) once
 * it has, with @timed_out false, or after DOMAIN_JOB_WAIT_MS with
 * @timed_out true.  It should then try domain_job_begin() again.
 */
#define DOMAIN_JOB_WAIT_MS 30000
typedef void (*DomainJobWaitFunc)(void *opaque, bool timed_out);
void domain_job_wait(DomainObj *dom, DomainJobWaitFunc func, void *opaque);

/* State checks with libvirt's messages. */
bool domain_check_active(DomainObj *dom, GError **errp);
bool domain_check_inactive(DomainObj *dom, GError **errp);

/* The domain XML (live or inactive) for GET_XML_DESC. */
char *domain_format_xml(DomainObj *dom, unsigned int flags, GError **errp);

/* Read the configs of the config dir at start-up. */
void domain_load_configs(Driver *drv);

/* Paths of per-domain files. */
char *domain_config_path(Driver *drv, const char *name);

/* Forget the pty paths of a domain that stopped. */
void domain_obj_clear_ptys(DomainObj *dom);

#endif /* DRIVER_DOMAIN_H */
