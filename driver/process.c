/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kestrel processes.  kestrel runs with -daemonize: the process we spawn
 * exits once the VM is set up (QMP socket listening, pidfile written), so
 * its exit status tells whether the start worked, and the VM itself is
 * nobody's child: the daemon may restart and find it again.  The end of a
 * VM is seen as the QMP connection closing.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <glib/gstdio.h>
#include <glib-unix.h>

#include "command.h"
#include "logfile.h"
#include "monitor.h"
#include "netdev.h"
#include "process.h"
#include "process-ident.h"
#include "virerror.h"

#define PROCESS_QMP_TIMEOUT_MS 10000
/* As libvirt's QEMU driver (virProcessKillPainfully): SIGTERM, SIGKILL
 * after 10 s, then up to 30 s for a process stuck in the kernel to go. */
#define PROCESS_KILL_GRACE_MS 10000

typedef struct {
    DomainObj *dom;
    bool paused;
    char *incoming_uri;         /* restore: migrate-incoming from there */
    bool migration;             /* incoming migration: done once listening */
    void (*incoming_setup)(DomainObj *dom,
                           void (*next)(DomainObj *dom, const GError *err,
                                        void *next_opaque),
                           void *next_opaque, void *opaque);
    void *incoming_setup_opaque;
    int started_detail;         /* STARTED event detail */
    int running_reason;         /* RUNNING reason once up */
    guint poll_timer;           /* incoming: query-migrate polling */
    GError *err;                /* a failed start's error, kept until the
                                 * VMM is gone */
    ProcessDoneFunc done;
    void *opaque;
} ProcessOp;

/* Callbacks to run when the domain has stopped (destroy). */
typedef struct {
    ProcessDoneFunc done;
    void *opaque;
    bool graceful;              /* SIGTERM only: fails if it lingers */
} ProcessStopWaiter;

static GHashTable *stop_waiters;    /* DomainObj * -> GSList of waiters */
static GHashTable *kill_timers;     /* DomainObj * -> timer id */

static void process_stopped(DomainObj *dom, DomainState reason_state,
                            int reason, int event_detail);
static void process_guest_stats_stop(DomainObj *dom);

static ProcessOp *process_op_new(DomainObj *dom, bool paused,
                                 ProcessDoneFunc done, void *opaque)
{
    ProcessOp *op = g_new0(ProcessOp, 1);

    op->dom = domain_obj_ref(dom);
    op->paused = paused;
    op->started_detail = DOMAIN_EVENT_STARTED_BOOTED;
    op->running_reason = DOMAIN_RUNNING_BOOTED;
    op->done = done;
    op->opaque = opaque;
    return op;
}

static void process_op_finish(ProcessOp *op, const GError *err)
{
    if (op->done) {
        op->done(op->dom, err, op->opaque);
    }
    domain_obj_unref(op->dom);
    g_free(op->incoming_uri);
    g_free(op);
}

/* What the VMM wrote to its log since it was started, to explain a
 * failed start (the last lines of it). */
static char *process_log_tail(DomainObj *dom)
{
    g_autofree char *text = NULL;
    gsize len = 0;
    char *p, *end;
    int lines = 0;

    if (!dom->log_path ||
        !g_file_get_contents(dom->log_path, &text, &len, NULL) ||
        (goffset)len <= dom->log_start) {
        return g_strdup("");
    }
    p = text + dom->log_start;
    end = text + len;
    while (end > p && end[-1] == '\n') {
        *--end = '\0';
    }
    for (; end > p; end--) {
        if (end[-1] == '\n' && ++lines == 3) {
            break;
        }
    }
    return g_strdup(end);
}

static void process_remove_files(DomainObj *dom)
{
    Driver *drv = dom->drv;
    g_autofree char *status = g_strdup_printf("%s/%s.status", drv->state_dir,
                                              dom->name);
    g_autofree char *xml = g_strdup_printf("%s/%s.xml", drv->state_dir,
                                           dom->name);

    unlink(status);
    unlink(xml);
    if (dom->qmp_path) {
        unlink(dom->qmp_path);
    }
    if (dom->pid_path) {
        unlink(dom->pid_path);
    }
    if (dom->drv->accel_qtest) {
        g_autofree char *qt = g_strdup_printf("%s/%s.qtest", drv->state_dir,
                                              dom->name);

        unlink(qt);
    }
}

/* ---- QMP monitor events ------------------------------------------------ */

static void process_ignore_reply(QmpClient *mon, JsonNode *ret,
                                 const GError *err, void *opaque)
{
}

static void process_qmp_event(QmpClient *mon, const char *name,
                              JsonObject *data, gint64 secs, gint64 usecs,
                              void *opaque)
{
    DomainObj *dom = opaque;

    if (g_str_equal(name, "SHUTDOWN")) {
        bool guest = data && json_object_has_member(data, "guest") &&
                     json_object_get_boolean_member(data, "guest");

        /* Our own SIGTERM (destroy) is no guest shutdown. */
        if (dom->shutdown_seen || dom->destroying) {
            return;
        }
        dom->shutdown_seen = true;
        domain_set_state(dom, DOMAIN_STATE_SHUTDOWN, DOMAIN_SHUTDOWN_USER);
        domain_emit(dom, DOMAIN_EVENT_SHUTDOWN,
                    !guest ? DOMAIN_EVENT_SHUTDOWN_FINISHED
                    : dom->shutdown_requested ? DOMAIN_EVENT_SHUTDOWN_HOST
                    : DOMAIN_EVENT_SHUTDOWN_GUEST);
        /* With -no-shutdown the VMM waits for us: end it. */
        qmp_client_execute(mon, "quit", NULL, PROCESS_QMP_TIMEOUT_MS,
                           process_ignore_reply, NULL);
    } else if (g_str_equal(name, "MIGRATION_PASS") && data &&
               json_object_has_member(data, "pass")) {
        domain_emit_migration_iteration(
            dom, (int)json_object_get_int_member(data, "pass"));
    } else if (g_str_equal(name, "RESET")) {
        domain_emit_reboot(dom);
    } else if (g_str_equal(name, "BALLOON_CHANGE") && data &&
               json_object_has_member(data, "actual")) {
        dom->balloon_kib = json_object_get_int_member(data, "actual") / 1024;
        domain_emit_balloon(dom, dom->balloon_kib);
    } else if (g_str_equal(name, "STOP") && !dom->job &&
               dom->state == DOMAIN_STATE_RUNNING) {
        domain_set_state(dom, DOMAIN_STATE_PAUSED, DOMAIN_PAUSED_UNKNOWN);
        domain_emit(dom, DOMAIN_EVENT_SUSPENDED,
                    DOMAIN_EVENT_SUSPENDED_PAUSED);
    } else if (g_str_equal(name, "RESUME") && !dom->job &&
               dom->state == DOMAIN_STATE_PAUSED) {
        domain_set_state(dom, DOMAIN_STATE_RUNNING, DOMAIN_RUNNING_UNPAUSED);
        domain_emit(dom, DOMAIN_EVENT_RESUMED,
                    DOMAIN_EVENT_RESUMED_UNPAUSED);
    }
}

static void process_qmp_closed(QmpClient *mon, const GError *reason,
                               void *opaque)
{
    DomainObj *dom = opaque;

    if (dom->destroying) {
        process_stopped(dom, DOMAIN_STATE_SHUTOFF, DOMAIN_SHUTOFF_DESTROYED,
                        DOMAIN_EVENT_STOPPED_DESTROYED);
    } else if (dom->shutdown_seen) {
        process_stopped(dom, DOMAIN_STATE_SHUTOFF, DOMAIN_SHUTOFF_SHUTDOWN,
                        DOMAIN_EVENT_STOPPED_SHUTDOWN);
    } else {
        process_stopped(dom, DOMAIN_STATE_SHUTOFF, DOMAIN_SHUTOFF_CRASHED,
                        DOMAIN_EVENT_STOPPED_FAILED);
    }
}

static void process_monitor_attach(DomainObj *dom, QmpClient *mon)
{
    dom->mon = mon;
    qmp_client_set_event_handler(mon, process_qmp_event, dom);
    qmp_client_set_closed_handler(mon, process_qmp_closed, dom);
}

/* Freeing the client from inside its own callback is allowed (header). */
static gboolean process_free_monitor(void *opaque)
{
    qmp_client_free(opaque);
    return G_SOURCE_REMOVE;
}

/*
 * The VMM is gone (or never came up): make sure the process is dead, drop
 * the live state, go back to the persistent definition, tell the clients
 * and anyone waiting for the stop.
 */
/* True once @pid has exited: no such process, or a zombie (its memory
 * and KVM VM are released by then). */
#define PROCESS_KILL_WAIT_MS 30000

static bool process_pid_gone(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *stat = NULL;
    const char *close_paren;

    if (!g_file_get_contents(path, &stat, NULL, NULL)) {
        return true;
    }
    close_paren = strrchr(stat, ')');
    return close_paren && close_paren[1] == ' ' && close_paren[2] == 'Z';
}

/*
 * Wait, boundedly, for a killed VMM to be gone, as libvirt's QEMU driver
 * does: a destroy that returns while the process still holds the guest's
 * memory would let a quick restart find it in use.  The VMM is not our
 * child (-daemonize): a pidfd tells when it exits, else /proc is polled;
 * either way from the main loop, which goes on serving everyone else.
 */
typedef void (*ProcessGoneFunc)(void *opaque);

typedef struct {
    pid_t pid;
    gint64 deadline;            /* monotonic µs */
    int pidfd;
    guint fd_source;
    guint timer;
    ProcessGoneFunc func;
    void *opaque;
} ProcessGoneWait;

static void process_gone_finish(ProcessGoneWait *w)
{
    if (w->fd_source) {
        g_source_remove(w->fd_source);
    }
    if (w->timer) {
        g_source_remove(w->timer);
    }
    if (w->pidfd >= 0) {
        close(w->pidfd);
    }
    w->func(w->opaque);
    g_free(w);
}

static gboolean process_gone_fd(int fd, GIOCondition cond, void *opaque)
{
    ProcessGoneWait *w = opaque;

    w->fd_source = 0;
    process_gone_finish(w);
    return G_SOURCE_REMOVE;
}

static gboolean process_gone_tick(void *opaque)
{
    ProcessGoneWait *w = opaque;

    if (w->fd_source == 0 && !process_pid_gone(w->pid) &&
        g_get_monotonic_time() < w->deadline) {
        return G_SOURCE_CONTINUE;
    }
    if (w->fd_source && g_get_monotonic_time() < w->deadline) {
        return G_SOURCE_CONTINUE;       /* the pidfd will tell */
    }
    w->timer = 0;
    process_gone_finish(w);
    return G_SOURCE_REMOVE;
}

static void process_when_gone(pid_t pid, unsigned int timeout_ms,
                              ProcessGoneFunc func, void *opaque)
{
    ProcessGoneWait *w = g_new0(ProcessGoneWait, 1);

    w->pid = pid;
    w->deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    w->func = func;
    w->opaque = opaque;
    w->pidfd = -1;
    if (pid <= 0 || process_pid_gone(pid)) {
        process_gone_finish(w);
        return;
    }
#ifdef SYS_pidfd_open
    w->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (w->pidfd >= 0) {
        w->fd_source = g_unix_fd_add(w->pidfd, G_IO_IN, process_gone_fd, w);
    }
#endif
    /* The deadline, and the polling when there is no pidfd. */
    w->timer = g_timeout_add(w->fd_source ? 100 : 2, process_gone_tick, w);
}

/* What process_stopped() does once the VMM is gone. */
typedef struct {
    DomainObj *dom;
    GSList *waiters;            /* ProcessStopWaiter */
    ProcessGoneFunc then;
    void *then_opaque;
} ProcessStoppedNotify;

static void process_stopped_notify(void *opaque)
{
    ProcessStoppedNotify *n = opaque;
    DomainObj *dom = n->dom;

    for (GSList *l = n->waiters; l; l = l->next) {
        ProcessStopWaiter *w = l->data;

        w->done(dom, NULL, w->opaque);
        domain_obj_unref(dom);
        g_free(w);
    }
    g_slist_free(n->waiters);
    if (n->then) {
        n->then(n->then_opaque);
    }
    domain_obj_unref(dom);
    g_free(n);
}

/* Stop as process_stopped(), then call @then once the VMM is gone. */
static void process_stopped_then(DomainObj *dom, DomainState state,
                                 int reason, int event_detail,
                                 ProcessGoneFunc then, void *then_opaque)
{
    ProcessStoppedNotify *n = g_new0(ProcessStoppedNotify, 1);
    guint timer;
    bool was_active = domain_obj_is_active(dom);
    pid_t pid = dom->pid;

    domain_obj_ref(dom);
    if (pid > 0) {
        kill(pid, SIGKILL);
    }
    if (dom->stop_reason > 0) {
        reason = dom->stop_reason;
        event_detail = dom->stop_detail;
        dom->stop_reason = 0;
        dom->stop_detail = 0;
    }
    if (dom->mon) {
        qmp_client_set_closed_handler(dom->mon, NULL, NULL);
        qmp_client_set_event_handler(dom->mon, NULL, NULL);
        g_idle_add(process_free_monitor, dom->mon);
        dom->mon = NULL;
    }
    if (kill_timers &&
        (timer = GPOINTER_TO_UINT(g_hash_table_lookup(kill_timers, dom)))) {
        g_source_remove(timer);
        g_hash_table_remove(kill_timers, dom);
        domain_obj_unref(dom);
    }
    process_remove_files(dom);
    dom->pid = -1;
    domain_obj_clear_ptys(dom);
    process_guest_stats_stop(dom);
    /* A second report of the same stop (the monitor closing, then a start
     * step failing) changes nothing more. */
    if (was_active) {
        dom->id = -1;
        dom->shutdown_seen = false;
        dom->shutdown_requested = false;
        dom->destroying = false;
        dom->state = state;
        dom->reason = reason;
        if (dom->newdef) {
            domain_def_free(dom->def);
            dom->def = g_steal_pointer(&dom->newdef);
        }
        domain_emit(dom, DOMAIN_EVENT_STOPPED, event_detail);
    }
    if (!dom->persistent && !dom->job) {
        domain_remove(dom);
    }

    n->dom = dom;               /* our reference */
    if (stop_waiters) {
        n->waiters = g_hash_table_lookup(stop_waiters, dom);
        g_hash_table_remove(stop_waiters, dom);
    }
    n->then = then;
    n->then_opaque = then_opaque;
    process_when_gone(pid, PROCESS_KILL_WAIT_MS, process_stopped_notify, n);
}

static void process_stopped(DomainObj *dom, DomainState state, int reason,
                            int event_detail)
{
    process_stopped_then(dom, state, reason, event_detail, NULL, NULL);
}

/* ---- start ------------------------------------------------------------- */

static void process_start_failed_gone(void *opaque)
{
    ProcessOp *op = opaque;
    GError *err = g_steal_pointer(&op->err);

    process_op_finish(op, err);
    g_clear_error(&err);
}

/* The start failed: back to shut off, and @done once the VMM is gone, so
 * that a retry does not find its memory still taken. */
static void process_start_failed(ProcessOp *op, const GError *err)
{
    DomainObj *dom = op->dom;

    g_clear_handle_id(&op->poll_timer, g_source_remove);
    if (dom->destroying) {
        op->err = g_error_new(VIR_ERROR, VIR_ERR_OPERATION_FAILED,
                              "domain '%s' was destroyed while starting",
                              dom->name);
        process_stopped_then(dom, DOMAIN_STATE_SHUTOFF,
                             DOMAIN_SHUTOFF_DESTROYED,
                             DOMAIN_EVENT_STOPPED_DESTROYED,
                             process_start_failed_gone, op);
        return;
    }
    op->err = err ? g_error_copy(err) : NULL;
    process_stopped_then(dom, DOMAIN_STATE_SHUTOFF, DOMAIN_SHUTOFF_FAILED,
                         DOMAIN_EVENT_STOPPED_FAILED,
                         process_start_failed_gone, op);
}

static void process_start_resumed(DomainObj *dom, const GError *err,
                                  void *opaque)
{
    ProcessOp *op = opaque;

    if (err) {
        g_autoptr(GError) e = g_error_new(VIR_ERROR, VIR_ERR_OPERATION_FAILED,
                                          "cannot start the vCPUs of "
                                          "domain '%s': %s", dom->name,
                                          err->message);
        process_start_failed(op, e);
        return;
    }
    if (op->paused) {
        domain_set_state(dom, DOMAIN_STATE_PAUSED, DOMAIN_PAUSED_USER);
    } else {
        domain_set_state(dom, DOMAIN_STATE_RUNNING, op->running_reason);
    }
    domain_emit(dom, DOMAIN_EVENT_STARTED, op->started_detail);
    if (op->paused) {
        domain_emit(dom, DOMAIN_EVENT_SUSPENDED,
                    DOMAIN_EVENT_SUSPENDED_PAUSED);
    }
    process_op_finish(op, NULL);
}

static void process_start_status(DomainObj *dom, bool running,
                                 const char *status, const GError *err,
                                 void *opaque)
{
    ProcessOp *op = opaque;

    /* The command line may or may not hold the vCPUs (-S): ask, then act. */
    if (op->paused && running) {
        monitor_stop(dom, process_start_resumed, op);
    } else if (!op->paused && !running) {
        monitor_cont(dom, process_start_resumed, op);
    } else {
        process_start_resumed(dom, NULL, op);
    }
}

/* ---- incoming state (restore) ------------------------------------------ */

#define PROCESS_INCOMING_POLL_MS 20

static gboolean process_incoming_poll(void *opaque);

static void process_incoming_progress(DomainObj *dom,
                                      const MonitorMigrationStats *st,
                                      const GError *err, void *opaque)
{
    ProcessOp *op = opaque;

    if (err) {
        process_start_failed(op, err);
        return;
    }
    if (dom->async_job) {
        monitor_migration_stats_to_job(st, &dom->job_stats);
    }
    switch (st->status) {
    case MONITOR_MIGRATION_COMPLETED:
        if (dom->async_job) {
            domain_async_job_set_phase(dom, DOMAIN_JOB_PHASE_FINISH);
        }
        monitor_query_status(dom, process_start_status, op);
        return;
    case MONITOR_MIGRATION_FAILED:
    case MONITOR_MIGRATION_CANCELLED: {
        g_autofree char *tail = process_log_tail(dom);
        g_autoptr(GError) e = g_error_new(
            VIR_ERROR, VIR_ERR_OPERATION_FAILED,
            "domain '%s': loading the saved state failed: %s%s%s",
            dom->name, st->error_desc ? st->error_desc : "no reason given",
            *tail ? ": " : "", tail);

        process_start_failed(op, e);
        return;
    }
    default:
        op->poll_timer = g_timeout_add(PROCESS_INCOMING_POLL_MS,
                                       process_incoming_poll, op);
        return;
    }
}

static gboolean process_incoming_poll(void *opaque)
{
    ProcessOp *op = opaque;

    op->poll_timer = 0;
    monitor_query_migrate(op->dom, process_incoming_progress, op);
    return G_SOURCE_REMOVE;
}

static void process_incoming_started(DomainObj *dom, const GError *err,
                                     void *opaque)
{
    ProcessOp *op = opaque;

    if (err) {
        process_start_failed(op, err);
        return;
    }
    if (dom->async_job) {
        domain_async_job_set_phase(dom, DOMAIN_JOB_PHASE_TRANSFER);
    }
    if (op->migration) {
        domain_set_state(dom, DOMAIN_STATE_PAUSED, DOMAIN_PAUSED_MIGRATION);
        process_op_finish(op, NULL);
        return;
    }
    process_incoming_poll(op);
}

static void process_incoming_setup_done(DomainObj *dom, const GError *err,
                                        void *opaque)
{
    ProcessOp *op = opaque;

    if (err) {
        process_start_failed(op, err);
        return;
    }
    monitor_migrate_incoming(dom, op->incoming_uri, process_incoming_started,
                             op);
}

/* query-chardev: remember where each serial port's pty is, for the live
 * XML (<serial><source path>, <console tty>). */
static void process_chardev_reply(QmpClient *mon, JsonNode *ret,
                                  const GError *err, void *opaque)
{
    DomainObj *dom = opaque;
    JsonArray *arr;

    if (!err && ret && JSON_NODE_HOLDS_ARRAY(ret) &&
        domain_obj_is_active(dom)) {
        arr = json_node_get_array(ret);
        for (guint i = 0; i < json_array_get_length(arr); i++) {
            JsonObject *o = json_array_get_object_element(arr, i);
            const char *label, *file;
            unsigned int port;

            if (!o) {
                continue;
            }
            label = json_object_get_string_member_with_default(o, "label",
                                                               NULL);
            file = json_object_get_string_member_with_default(o, "filename",
                                                              NULL);
            if (label && file && sscanf(label, "charserial%u", &port) == 1 &&
                port < DOMAIN_MAX_SERIALS && g_str_has_prefix(file, "pty:")) {
                g_free(dom->serial_ptys[port]);
                dom->serial_ptys[port] = g_strdup(file + 4);
            }
        }
    }
    domain_obj_unref(dom);
}

static void process_query_ptys(DomainObj *dom, QmpClient *mon)
{
    qmp_client_execute(mon, "query-chardev", NULL, PROCESS_QMP_TIMEOUT_MS,
                       process_chardev_reply, domain_obj_ref(dom));
}

/*
 * The guest's balloon statistics, fetched every few seconds while the
 * domain runs, so that the stats group of virConnectGetAllDomainStats
 * (what virt-manager and monitoring poll) answers without a monitor call.
 */
#define PROCESS_GUEST_STATS_PERIOD_S 2

static void process_guest_stats_reply(DomainObj *dom, JsonNode *ret,
                                      const GError *err, void *opaque)
{
    JsonObject *o;
    JsonNode *stats;

    if (err || !ret || !JSON_NODE_HOLDS_OBJECT(ret) ||
        !domain_obj_is_active(dom)) {
        return;     /* no stats yet (no polling period): keep none */
    }
    o = json_node_get_object(ret);
    stats = json_object_get_member(o, "stats");
    if (!stats || !JSON_NODE_HOLDS_OBJECT(stats)) {
        return;
    }
    g_clear_pointer(&dom->guest_stats, json_object_unref);
    dom->guest_stats = json_object_ref(json_node_get_object(stats));
    dom->guest_stats_update =
        json_object_get_int_member_with_default(o, "last-update", 0);
}

static gboolean process_guest_stats_tick(gpointer opaque)
{
    DomainObj *dom = opaque;
    g_autoptr(JsonObject) args = NULL;
    g_autofree char *path = NULL;

    if (!dom->mon) {
        return G_SOURCE_CONTINUE;
    }
    args = json_object_new();
    path = process_balloon_path(dom);
    json_object_set_string_member(args, "path", path);
    json_object_set_string_member(args, "property", "guest-stats");
    process_qmp_call(dom, "qom-get", args, process_guest_stats_reply, NULL);
    return G_SOURCE_CONTINUE;
}

static void process_guest_stats_start(DomainObj *dom)
{
    /* Only a domain whose guest reports (a stats period is set) is asked:
     * the others would answer nothing, and an idle daemon with many
     * domains would wake for each of them every period. */
    if (dom->def->balloon.model == DOMAIN_BALLOON_VIRTIO &&
        dom->def->balloon.stats_period && !dom->guest_stats_timer) {
        dom->guest_stats_timer = g_timeout_add_seconds(
            PROCESS_GUEST_STATS_PERIOD_S, process_guest_stats_tick, dom);
    }
}

static void process_guest_stats_stop(DomainObj *dom)
{
    g_clear_handle_id(&dom->guest_stats_timer, g_source_remove);
    g_clear_pointer(&dom->guest_stats, json_object_unref);
    dom->guest_stats_update = 0;
}

void process_guest_stats_update(DomainObj *dom)
{
    if (dom->def->balloon.stats_period) {
        process_guest_stats_start(dom);
    } else {
        process_guest_stats_stop(dom);
    }
}

static void process_start_monitor_ready(QmpClient *mon, const GError *err,
                                        void *opaque)
{
    ProcessOp *op = opaque;
    DomainObj *dom = op->dom;

    if (err) {
        g_autofree char *tail = process_log_tail(dom);
        g_autoptr(GError) e = g_error_new(VIR_ERROR, VIR_ERR_INTERNAL_ERROR,
                                          "cannot connect to the monitor of "
                                          "domain '%s': %s%s%s", dom->name,
                                          err->message, *tail ? ": " : "",
                                          tail);
        process_start_failed(op, e);
        return;
    }
    dom->balloon_kib = dom->def->current_kib;
    process_query_ptys(dom, mon);
    process_guest_stats_start(dom);
    if (dom->def->balloon.model == DOMAIN_BALLOON_VIRTIO &&
        dom->def->balloon.stats_period) {
        /* Not a -device property: set over QMP, as libvirt does. */
        g_autoptr(JsonObject) args = json_object_new();
        g_autofree char *path = process_balloon_path(dom);

        json_object_set_string_member(args, "path", path);
        json_object_set_string_member(args, "property",
                                      "guest-stats-polling-interval");
        json_object_set_int_member(args, "value",
                                   dom->def->balloon.stats_period);
        qmp_client_execute(mon, "qom-set", args, PROCESS_QMP_TIMEOUT_MS,
                           process_ignore_reply, NULL);
    }
    if (op->incoming_uri && op->incoming_setup) {
        op->incoming_setup(dom, process_incoming_setup_done, op,
                           op->incoming_setup_opaque);
        return;
    }
    if (op->incoming_uri) {
        monitor_migrate_incoming(dom, op->incoming_uri,
                                 process_incoming_started, op);
        return;
    }
    monitor_query_status(dom, process_start_status, op);
}

static void process_start_spawned(GPid pid, int status, void *opaque)
{
    ProcessOp *op = opaque;
    DomainObj *dom = op->dom;
    g_autofree char *pidtext = NULL;
    g_autoptr(GError) err = NULL;
    QmpClient *mon;

    g_spawn_close_pid(pid);
    if (!g_spawn_check_wait_status(status, NULL)) {
        g_autofree char *tail = process_log_tail(dom);

        g_set_error(&err, VIR_ERROR, VIR_ERR_INTERNAL_ERROR,
                    "process exited while starting domain '%s': %s",
                    dom->name, *tail ? tail : "no message in its log");
        process_start_failed(op, err);
        return;
    }
    if (!g_file_get_contents(dom->pid_path, &pidtext, NULL, &err) ||
        (dom->pid = (pid_t)g_ascii_strtoll(pidtext, NULL, 10)) <= 0) {
        g_autoptr(GError) e = g_error_new(VIR_ERROR, VIR_ERR_INTERNAL_ERROR,
                                          "no process id for domain '%s' "
                                          "in '%s'", dom->name,
                                          dom->pid_path);
        dom->pid = -1;
        process_start_failed(op, e);
        return;
    }
    /* With the pid, what proves it later (process-ident.h). */
    if (!process_ident_start_time(dom->pid, &dom->pid_start_time)) {
        dom->pid_start_time = 0;
    }
    if (dom->destroying) {
        /* Destroyed while kestrel was setting up. */
        kill(dom->pid, SIGKILL);
        process_start_failed(op, NULL);
        return;
    }
    domain_save_status(dom);

    mon = qmp_client_new();
    process_monitor_attach(dom, mon);
    if (!qmp_client_connect_unix(mon, dom->qmp_path, PROCESS_QMP_TIMEOUT_MS,
                                 process_start_monitor_ready, op, &err)) {
        process_start_monitor_ready(mon, err, op);
    }
}

void process_start(DomainObj *dom, bool paused, ProcessDoneFunc done,
                   void *opaque)
{
    ProcessStartOptions o = { .paused = paused };

    process_start_full(dom, &o, done, opaque);
}

void process_start_full(DomainObj *dom, const ProcessStartOptions *o,
                        ProcessDoneFunc done, void *opaque)
{
    Driver *drv = dom->drv;
    ProcessOp *op = process_op_new(dom, o->paused, done, opaque);
    DomainCommandPaths paths = { 0 };
    g_autofree char *qtest_path = NULL;
    unsigned int flags = DOMAIN_COMMAND_PAUSED | DOMAIN_COMMAND_DAEMONIZE;
    g_auto(GStrv) argv = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *cmdline = NULL;
    g_autoptr(GArray) taps = NULL;      /* closed once kestrel has them */
    g_autofree int *tap_targets = NULL;
    g_autoptr(LogFile) log = NULL;
    int logfd;
    GPid pid;

    g_free(dom->qmp_path);
    g_free(dom->pid_path);
    g_free(dom->log_path);
    dom->qmp_path = g_strdup_printf("%s/%s.qmp", drv->state_dir, dom->name);
    dom->pid_path = g_strdup_printf("%s/%s.pid", drv->state_dir, dom->name);
    dom->log_path = g_strdup_printf("%s/%s.log", drv->log_dir, dom->name);
    dom->shutdown_seen = false;
    dom->shutdown_requested = false;
    dom->destroying = false;

    paths.emulator = drv->emulator;
    paths.qmp_socket = dom->qmp_path;
    paths.pidfile = dom->pid_path;
    paths.logfile = dom->log_path;
    if (o->incoming_uri) {
        op->incoming_uri = g_strdup(o->incoming_uri);
        op->started_detail = DOMAIN_EVENT_STARTED_RESTORED;
        op->running_reason = DOMAIN_RUNNING_RESTORED;
        op->migration = o->migration;
        op->incoming_setup = o->incoming_setup;
        op->incoming_setup_opaque = o->incoming_setup_opaque;
        flags |= DOMAIN_COMMAND_INCOMING;
    }
    if (drv->accel_qtest) {
        /* The test facility (virtkestreld(8)): the qtest socket lets a
         * test read and write the guest's memory. */
        qtest_path = g_strdup_printf("%s/%s.qtest", drv->state_dir,
                                     dom->name);
        paths.qtest_socket = qtest_path;
        flags |= DOMAIN_COMMAND_QTEST;
    }
    /* The taps are the daemon's to open (kestrel needs no privileges for
     * them): kestrel inherits tap i as fd 3 + i. */
    taps = netdev_domain_open_taps(dom, &err);
    if (!taps) {
        process_op_finish(op, err);
        return;
    }
    tap_targets = g_new0(int, taps->len + 1);
    for (guint i = 0; i < taps->len; i++) {
        tap_targets[i] = 3 + (int)i;
    }
    paths.net_fds = tap_targets;
    paths.n_net_fds = taps->len;
    argv = domain_command_build(dom->def, &paths, flags, &err);
    if (!argv) {
        process_op_finish(op, err);
        return;
    }

    if (g_mkdir_with_parents(drv->state_dir, DOMAIN_DIR_MODE) < 0 ||
        g_mkdir_with_parents(drv->log_dir, DOMAIN_DIR_MODE) < 0) {
        g_set_error(&err, VIR_ERROR, VIR_ERR_SYSTEM_ERROR,
                    "cannot create the state or log directory: %s",
                    g_strerror(errno));
        process_op_finish(op, err);
        return;
    }
    /* Capped and rotated as virtlogd does (kestrel -D does the same for
     * what it writes). */
    log = logfile_open(dom->log_path, LOGFILE_MAX_SIZE, LOGFILE_MAX_BACKUPS,
                       &err);
    if (!log) {
        g_autoptr(GError) e = g_error_new(VIR_ERROR, VIR_ERR_SYSTEM_ERROR,
                                          "%s", err->message);
        process_op_finish(op, e);
        return;
    }
    cmdline = g_strjoinv(" ", argv);
    {
        g_autoptr(GDateTime) now = g_date_time_new_now_utc();
        g_autofree char *stamp = g_date_time_format_iso8601(now);
        g_autofree char *line = g_strdup_printf("%s: starting up\n%s\n",
                                                stamp, cmdline);

        /* The log is a courtesy; the start goes on. */
        logfile_write(log, line, strlen(line), NULL);
        dom->log_start = logfile_get_size(log);
    }
    logfd = logfile_get_fd(log);
    if (logfd < 0) {
        g_autoptr(GError) e = g_error_new(VIR_ERROR, VIR_ERR_SYSTEM_ERROR,
                                          "cannot write log file '%s'",
                                          dom->log_path);
        process_op_finish(op, e);
        return;
    }
    unlink(dom->pid_path);
    unlink(dom->qmp_path);

    /* Its own session (kestrel calls setsid): signals to the daemon's
     * process group never reach a VM. */
    if (!g_spawn_async_with_pipes_and_fds(NULL, (const char *const *)argv,
                                          NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                          NULL, NULL, -1, logfd, logfd,
                                          (const int *)taps->data,
                                          tap_targets, taps->len, &pid,
                                          NULL, NULL, NULL, &err)) {
        g_autoptr(GError) e = g_error_new(VIR_ERROR, VIR_ERR_INTERNAL_ERROR,
                                          "cannot run '%s': %s", argv[0],
                                          err->message);
        process_op_finish(op, e);
        return;
    }

    dom->id = drv->next_id++;
    dom->start_time = g_get_monotonic_time();
    domain_set_state(dom, DOMAIN_STATE_PAUSED, DOMAIN_PAUSED_STARTING_UP);
    g_child_watch_add(pid, process_start_spawned, op);
}

/* ---- stop -------------------------------------------------------------- */

/*
 * Destroy, as libvirt's QEMU driver does it: SIGTERM, and when the grace
 * period is over SIGKILL (a forced destroy) or failure (graceful only);
 * after SIGKILL up to PROCESS_KILL_WAIT_MS for the process to go.  All of it
 * from the main loop, by timers and the pidfd: the daemon goes on serving.
 * The end is normally seen as the monitor closing; a VMM stuck in the
 * kernel keeps it open, so once the wait is over the domain is stopped
 * anyway: it can never run guest code again.
 */
typedef struct {
    DomainObj *dom;             /* a reference */
    pid_t pid;
} ProcessKillWait;

static void process_killed_gone(void *opaque)
{
    ProcessKillWait *k = opaque;
    DomainObj *dom = k->dom;

    if (dom->pid == k->pid && dom->destroying &&
        domain_obj_is_active(dom)) {
        if (!process_pid_gone(k->pid)) {
            g_warning("domain '%s': kestrel %d still there %d s after "
                      "SIGKILL; stopping the domain anyway", dom->name,
                      (int)k->pid, PROCESS_KILL_WAIT_MS / 1000);
            dom->pid = -1;      /* waited enough: not once more */
        }
        process_stopped(dom, DOMAIN_STATE_SHUTOFF, DOMAIN_SHUTOFF_DESTROYED,
                        DOMAIN_EVENT_STOPPED_DESTROYED);
    }
    domain_obj_unref(dom);
    g_free(k);
}

/* Only graceful destroys are waiting and the VMM is still there: they fail
 * (libvirt: "Failed to terminate process N with SIGTERM: Device or resource
 * busy") and the domain goes on running. */
static void process_destroy_graceful_failed(DomainObj *dom)
{
    GSList *list = g_hash_table_lookup(stop_waiters, dom);
    g_autoptr(GError) err = g_error_new(
        VIR_ERROR, VIR_ERR_SYSTEM_ERROR,
        "Failed to terminate process %d with SIGTERM: %s", (int)dom->pid,
        g_strerror(EBUSY));

    g_hash_table_remove(stop_waiters, dom);
    dom->destroying = false;
    for (GSList *l = list; l; l = l->next) {
        ProcessStopWaiter *w = l->data;

        w->done(dom, err, w->opaque);
        domain_obj_unref(dom);
        g_free(w);
    }
    g_slist_free(list);
}

static gboolean process_kill_hard(void *opaque)
{
    DomainObj *dom = opaque;
    bool forced = false;

    g_hash_table_remove(kill_timers, dom);
    for (GSList *l = g_hash_table_lookup(stop_waiters, dom); l; l = l->next) {
        forced |= !((ProcessStopWaiter *)l->data)->graceful;
    }
    if (dom->pid > 0 && dom->destroying && domain_obj_is_active(dom)) {
        if (forced) {
            ProcessKillWait *k = g_new0(ProcessKillWait, 1);

            kill(dom->pid, SIGKILL);
            k->dom = domain_obj_ref(dom);
            k->pid = dom->pid;
            process_when_gone(k->pid, PROCESS_KILL_WAIT_MS,
                              process_killed_gone, k);
        } else {
            process_destroy_graceful_failed(dom);
        }
    }
    domain_obj_unref(dom);
    return G_SOURCE_REMOVE;
}

void process_destroy(DomainObj *dom, bool graceful, ProcessDoneFunc done,
                     void *opaque)
{
    ProcessStopWaiter *w = g_new0(ProcessStopWaiter, 1);
    GSList *list;

    if (!stop_waiters) {
        stop_waiters = g_hash_table_new(NULL, NULL);
        kill_timers = g_hash_table_new(NULL, NULL);
    }
    w->done = done;
    w->opaque = opaque;
    w->graceful = graceful;
    domain_obj_ref(dom);
    list = g_hash_table_lookup(stop_waiters, dom);
    g_hash_table_insert(stop_waiters, dom, g_slist_append(list, w));

    dom->destroying = true;
    if (dom->pid <= 0) {
        /* Still starting: the start sees the flag once kestrel is up. */
        return;
    }
    if (!dom->mon) {
        process_stopped(dom, DOMAIN_STATE_SHUTOFF, DOMAIN_SHUTOFF_DESTROYED,
                        DOMAIN_EVENT_STOPPED_DESTROYED);
        return;
    }
    kill(dom->pid, SIGTERM);
    /* One timer per domain: when it fires, any forced destroy among the
     * waiters makes it SIGKILL. */
    if (!g_hash_table_contains(kill_timers, dom)) {
        guint id = g_timeout_add(PROCESS_KILL_GRACE_MS, process_kill_hard,
                                 domain_obj_ref(dom));

        g_hash_table_insert(kill_timers, dom, GUINT_TO_POINTER(id));
    }
}

/* ---- monitor commands -------------------------------------------------- */

static void process_qmp_reply(QmpClient *mon, JsonNode *ret,
                              const GError *err, void *opaque)
{
    ProcessOp *op = opaque;

    if (err) {
        g_autoptr(GError) e = g_error_new(VIR_ERROR, VIR_ERR_OPERATION_FAILED,
                                          "domain '%s': %s", op->dom->name,
                                          err->message);
        process_op_finish(op, e);
        return;
    }
    process_op_finish(op, NULL);
}

void process_qmp(DomainObj *dom, const char *command, ProcessDoneFunc done,
                 void *opaque)
{
    ProcessOp *op = process_op_new(dom, false, done, opaque);

    if (!dom->mon) {
        g_autoptr(GError) e = g_error_new(VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                                          "domain is not running");
        process_op_finish(op, e);
        return;
    }
    qmp_client_execute(dom->mon, command, NULL, PROCESS_QMP_TIMEOUT_MS,
                       process_qmp_reply, op);
}

typedef struct {
    DomainObj *dom;
    ProcessReplyFunc func;
    void *opaque;
} ProcessCall;

static void process_qmp_call_reply(QmpClient *mon, JsonNode *ret,
                                   const GError *err, void *opaque)
{
    ProcessCall *pc = opaque;

    if (err) {
        g_autoptr(GError) e = g_error_new(VIR_ERROR, VIR_ERR_OPERATION_FAILED,
                                          "domain '%s': %s", pc->dom->name,
                                          err->message);
        pc->func(pc->dom, NULL, e, pc->opaque);
    } else {
        pc->func(pc->dom, ret, NULL, pc->opaque);
    }
    domain_obj_unref(pc->dom);
    g_free(pc);
}

void process_qmp_call(DomainObj *dom, const char *command, JsonObject *args,
                      ProcessReplyFunc func, void *opaque)
{
    ProcessCall *pc = g_new0(ProcessCall, 1);

    pc->dom = domain_obj_ref(dom);
    pc->func = func;
    pc->opaque = opaque;
    if (!dom->mon) {
        g_autoptr(GError) e = g_error_new(VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                                          "domain is not running");
        process_qmp_call_reply(NULL, NULL, e, pc);
        return;
    }
    qmp_client_execute(dom->mon, command, args, PROCESS_QMP_TIMEOUT_MS,
                       process_qmp_call_reply, pc);
}

char *process_balloon_path(DomainObj *dom)
{
    const char *alias = dom->def->balloon.alias;

    return g_strdup_printf("/machine/peripheral/%s",
                           alias ? alias : "balloon0");
}

guint64 process_rss_kib(DomainObj *dom)
{
    g_autofree char *path = NULL;
    g_autofree char *text = NULL;
    const char *p;

    if (dom->pid <= 0) {
        return 0;
    }
    path = g_strdup_printf("/proc/%d/status", (int)dom->pid);
    if (!g_file_get_contents(path, &text, NULL, NULL) ||
        !(p = strstr(text, "\nVmRSS:"))) {
        return 0;
    }
    return g_ascii_strtoull(p + strlen("\nVmRSS:"), NULL, 10);
}

guint64 process_cpu_time(DomainObj *dom)
{
    g_autofree char *path = NULL;
    g_autofree char *text = NULL;
    g_auto(GStrv) fields = NULL;
    const char *p;
    long tick = sysconf(_SC_CLK_TCK);

    if (dom->pid <= 0 || tick <= 0) {
        return 0;
    }
    path = g_strdup_printf("/proc/%d/stat", (int)dom->pid);
    if (!g_file_get_contents(path, &text, NULL, NULL) ||
        !(p = strrchr(text, ')'))) {
        return 0;
    }
    /* After "pid (comm)": field 3 is state; utime, stime are 14, 15. */
    fields = g_strsplit(p + 2, " ", 0);
    if (g_strv_length(fields) < 13) {
        return 0;
    }
    return (g_ascii_strtoull(fields[11], NULL, 10) +
            g_ascii_strtoull(fields[12], NULL, 10)) *
           (G_GUINT64_CONSTANT(1000000000) / tick);
}

/* Fields of /proc/PID/task/TID/stat after "(comm)": utime, stime and the
 * last CPU are fields 14, 15 and 39 of the line. */
static bool process_task_stat(int pid, const char *tid, guint64 *ns,
                              int *cpu)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/task/%s/stat", pid,
                                            tid);
    g_autofree char *text = NULL;
    g_auto(GStrv) f = NULL;
    const char *p;
    long tick = sysconf(_SC_CLK_TCK);

    if (tick <= 0 || !g_file_get_contents(path, &text, NULL, NULL) ||
        !(p = strrchr(text, ')'))) {
        return false;
    }
    f = g_strsplit(p + 2, " ", 0);
    if (g_strv_length(f) < 37) {
        return false;
    }
    *ns = (g_ascii_strtoull(f[11], NULL, 10) +
           g_ascii_strtoull(f[12], NULL, 10)) *
          (G_GUINT64_CONSTANT(1000000000) / tick);
    *cpu = (int)g_ascii_strtoll(f[36], NULL, 10);
    return true;
}

void process_vcpu_times(DomainObj *dom, guint64 *times, int *cpus,
                        unsigned int n)
{
    g_autofree char *dirpath = NULL;
    g_autoptr(GDir) dir = NULL;
    const char *tid;
    unsigned int i;

    for (i = 0; i < n; i++) {
        times[i] = 0;
        cpus[i] = -1;
    }
    if (dom->pid <= 0) {
        return;
    }
    dirpath = g_strdup_printf("/proc/%d/task", (int)dom->pid);
    dir = g_dir_open(dirpath, 0, NULL);
    while (dir && (tid = g_dir_read_name(dir))) {
        g_autofree char *commpath = g_strdup_printf("%s/%s/comm", dirpath,
                                                    tid);
        g_autofree char *comm = NULL;
        unsigned int index;
        char tail[8];

        if (!g_file_get_contents(commpath, &comm, NULL, NULL) ||
            sscanf(comm, "CPU %u/KV%1[M]", &index, tail) != 2 ||
            index >= n) {
            continue;
        }
        process_task_stat(dom->pid, tid, &times[index], &cpus[index]);
    }
}

/* ---- reconnection ------------------------------------------------------ */

/*
 * Is the pid of a status file provably this domain's VMM, and not a
 * recycled pid or a process a tampered file names?  Only then may the
 * daemon talk to it or signal it: else dom->pid is -1 on return.  A
 * status file that fails leaves the VM to kestrel's own pid file, if the
 * process that names passes the same test.  Logs every mismatch.
 */
static bool process_pid_alive(DomainObj *dom)
{
    Driver *drv = dom->drv;
    g_autofree char *qmp = g_strdup_printf("%s/%s.qmp", drv->state_dir,
                                           dom->name);
    ProcessIdent want = {
        .pid = dom->pid,
        .start_time = dom->pid_start_time,
        .emulator = dom->def->emulator ? dom->def->emulator : drv->emulator,
        .name = dom->name,
        .qmp_path = qmp,
    };
    g_autoptr(GError) err = NULL;
    g_autofree char *pidtext = NULL;

    if (g_strcmp0(dom->qmp_path, qmp)) {
        g_warning("domain '%s': its status file names the monitor socket "
                  "'%s', not '%s': using '%s'", dom->name,
                  dom->qmp_path ? dom->qmp_path : "", qmp, qmp);
        g_free(dom->qmp_path);
        dom->qmp_path = g_strdup(qmp);
    }
    if (process_ident_verify(&want, &err)) {
        return true;
    }
    if (!g_error_matches(err, PROCESS_IDENT_ERROR, ESRCH)) {
        g_warning("domain '%s': process %d of its status file is not its "
                  "VMM, leaving it alone: %s", dom->name, (int)dom->pid,
                  err->message);
    }
    dom->pid = -1;
    g_clear_error(&err);
    if (!g_file_get_contents(dom->pid_path, &pidtext, NULL, NULL)) {
        return false;
    }
    want.pid = (pid_t)g_ascii_strtoll(pidtext, NULL, 10);
    want.start_time = 0;
    if (want.pid <= 0 || !process_ident_verify(&want, &err) ||
        !process_ident_start_time(want.pid, &dom->pid_start_time)) {
        return false;
    }
    g_warning("domain '%s': its VMM is process %d, as its pid file says",
              dom->name, (int)want.pid);
    dom->pid = want.pid;
    return true;
}

/*
 * Reconnection runs in two steps.  At start-up, before the main loop
 * serves any client, every domain of the state dir is put back in the
 * list as its status file left it (running or paused, its id and pid)
 * with a job "reconnect" held; then, from the main loop, its QMP monitor
 * is connected and asked for the status.  Until that ends the domain is
 * active and busy: lists show its last known state, never shut off, and
 * whatever needs the job (start, undefine, setmem...) waits for the job
 * and then finds the domain running, so nothing starts a second kestrel
 * for it.  As in libvirt, destroy needs no job: it kills the verified pid.
 */
typedef struct {
    DomainObj *dom;
    pid_t pid;                  /* the VMM being reconnected */
    QmpClient *mon;             /* ours until attached to @dom */
} ProcessReconnect;

static void process_reconnect_autostart_done(DomainObj *dom,
                                             const GError *err, void *opaque)
{
    domain_job_end(dom);
    if (err) {
        g_warning("cannot autostart domain '%s': %s", dom->name,
                  err->message);
    }
}

/* The VMM that would not answer is gone: end the job, or autostart the
 * domain as start-up would have done, had it known. */
static void process_reconnect_failed_gone(void *opaque)
{
    DomainObj *dom = opaque;

    if (dom->autostart && dom->persistent && !dom->removed &&
        !domain_obj_is_active(dom)) {
        process_start(dom, false, process_reconnect_autostart_done, NULL);
    } else {
        domain_job_end(dom);
        if (!dom->persistent && !domain_obj_is_active(dom)) {
            domain_remove(dom);
        }
    }
    domain_obj_unref(dom);
}

static void process_reconnect_finish(ProcessReconnect *r, const GError *err)
{
    DomainObj *dom = r->dom;

    if (r->mon) {
        qmp_client_set_closed_handler(r->mon, NULL, NULL);
        g_idle_add(process_free_monitor, g_steal_pointer(&r->mon));
    }
    if (dom->pid != r->pid || !domain_obj_is_active(dom)) {
        /* Destroyed meanwhile: nothing is left to take back. */
        g_message("domain '%s' stopped while it was reconnected",
                  dom->name);
    } else if (err) {
        g_message("domain '%s' ended while the daemon was away: %s",
                  dom->name, err->message);
        /* The job stays until the VMM is gone: nothing starts another
         * one meanwhile.  Our reference goes with it. */
        process_stopped_then(dom, DOMAIN_STATE_SHUTOFF, DOMAIN_SHUTOFF_DAEMON,
                             DOMAIN_EVENT_STOPPED_FAILED,
                             process_reconnect_failed_gone, dom);
        g_free(r);
        return;
    }
    domain_job_end(dom);
    if (!dom->persistent && !domain_obj_is_active(dom)) {
        domain_remove(dom);
    }
    domain_obj_unref(dom);
    g_free(r);
}

static void process_reconnect_status(QmpClient *mon, JsonNode *status,
                                     const GError *err, void *opaque)
{
    ProcessReconnect *r = opaque;
    DomainObj *dom = r->dom;

    if (err || dom->pid != r->pid || !domain_obj_is_active(dom)) {
        process_reconnect_finish(r, err);
        return;
    }
    if (JSON_NODE_HOLDS_OBJECT(status)) {
        JsonObject *o = json_node_get_object(status);
        bool running = json_object_get_boolean_member_with_default(
            o, "running", false);
        const char *st = json_object_get_string_member_with_default(
            o, "status", "");

        if (running && dom->state != DOMAIN_STATE_RUNNING) {
            dom->state = DOMAIN_STATE_RUNNING;
            dom->reason = DOMAIN_RUNNING_UNPAUSED;
        } else if (!running && dom->state == DOMAIN_STATE_RUNNING) {
            dom->state = DOMAIN_STATE_PAUSED;
            dom->reason = DOMAIN_PAUSED_UNKNOWN;
        }
        if (g_str_equal(st, "shutdown")) {
            dom->shutdown_seen = true;
            qmp_client_execute(mon, "quit", NULL, PROCESS_QMP_TIMEOUT_MS,
                               process_ignore_reply, NULL);
        }
    }
    qmp_client_set_closed_handler(mon, NULL, NULL);
    process_monitor_attach(dom, g_steal_pointer(&r->mon));
    process_query_ptys(dom, dom->mon);
    process_guest_stats_start(dom);
    domain_save_status(dom);
    g_message("domain '%s' (id %d, pid %d) reconnected", dom->name, dom->id,
              (int)dom->pid);
    process_reconnect_finish(r, NULL);
}

static void process_reconnect_closed(QmpClient *mon, const GError *reason,
                                     void *opaque)
{
    /* Between the greeting and the status reply: the reply callback gets
     * the error too, and finishes. */
}

static void process_reconnect_ready(QmpClient *mon, const GError *err,
                                    void *opaque)
{
    ProcessReconnect *r = opaque;

    if (err || r->dom->pid != r->pid) {
        process_reconnect_finish(r, err);
        return;
    }
    qmp_client_set_closed_handler(mon, process_reconnect_closed, r);
    qmp_client_execute(mon, "query-status", NULL, PROCESS_QMP_TIMEOUT_MS,
                       process_reconnect_status, r);
}

/* Step one for one status file: back in the list, job held, monitor
 * connecting.  Nothing here waits or runs the main loop. */
static void process_reconnect_one(Driver *drv, const char *status_path)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) err = NULL;
    g_autofree char *name = NULL;
    g_autofree char *xmlpath = NULL;
    g_autofree char *xml = NULL;
    ProcessReconnect *r;
    DomainDef *def;
    DomainObj *dom;
    bool persistent;

    if (!g_key_file_load_from_file(kf, status_path, 0, &err) ||
        !(name = g_key_file_get_string(kf, "domain", "name", &err))) {
        g_warning("ignoring '%s': %s", status_path, err->message);
        return;
    }
    xmlpath = g_strdup_printf("%s/%s.xml", drv->state_dir, name);
    if (!g_file_get_contents(xmlpath, &xml, NULL, &err) ||
        !(def = domain_def_parse_string(xml, 0, &err))) {
        g_warning("domain '%s': cannot read its live XML: %s", name,
                  err->message);
        unlink(status_path);
        return;
    }
    persistent = g_key_file_get_boolean(kf, "domain", "persistent", NULL);

    dom = domain_add_transient(drv, def, &err);
    if (!dom) {
        g_warning("domain '%s': %s", name, err->message);
        return;
    }
    /* domain_add_transient put a loaded config aside in newdef. */
    dom->persistent = persistent && dom->newdef;
    dom->id = g_key_file_get_integer(kf, "domain", "id", NULL);
    dom->pid = g_key_file_get_integer(kf, "domain", "pid", NULL);
    dom->pid_start_time = g_key_file_get_uint64(kf, "domain",
                                                "pid-start-time", NULL);
    dom->state = g_key_file_get_integer(kf, "domain", "state", NULL);
    dom->reason = g_key_file_get_integer(kf, "domain", "reason", NULL);
    dom->shutdown_requested =
        g_key_file_get_boolean(kf, "domain", "shutdown-requested", NULL);
    dom->qmp_path = g_key_file_get_string(kf, "domain", "qmp", NULL);
    dom->log_path = g_key_file_get_string(kf, "domain", "log", NULL);
    dom->pid_path = g_strdup_printf("%s/%s.pid", drv->state_dir, name);
    dom->start_time = g_get_monotonic_time();
    dom->balloon_kib = dom->def->current_kib;
    drv->next_id = MAX(drv->next_id, dom->id + 1);
    if (!domain_obj_is_active(dom)) {
        dom->id = drv->next_id++;   /* a status file without an id */
    }

    /* Only a process proven to be this domain's VMM is reconnected (and,
     * if it then does not answer, killed); anything else is left alone
     * and the domain is off for a reason nobody knows. */
    if (!process_pid_alive(dom)) {
        g_message("domain '%s' ended while the daemon was away", name);
        dom->pid = -1;
        process_stopped(dom, DOMAIN_STATE_SHUTOFF, DOMAIN_SHUTOFF_UNKNOWN,
                        DOMAIN_EVENT_STOPPED_FAILED);
        domain_obj_unref(dom);
        return;
    }
    if (!domain_job_begin(dom, "reconnect", &err)) {
        /* A domain just added: nobody else can hold its job. */
        g_warning("domain '%s': %s", name, err->message);
        domain_obj_unref(dom);
        return;
    }
    r = g_new0(ProcessReconnect, 1);
    r->dom = dom;                       /* our reference */
    r->pid = dom->pid;
    r->mon = qmp_client_new();
    if (!qmp_client_connect_unix(r->mon, dom->qmp_path,
                                 PROCESS_QMP_TIMEOUT_MS,
                                 process_reconnect_ready, r, &err)) {
        process_reconnect_finish(r, err);
    }
}

void process_reconnect_all(Driver *drv)
{
    g_autoptr(GDir) dir = g_dir_open(drv->state_dir, 0, NULL);
    const char *ent;

    while (dir && (ent = g_dir_read_name(dir))) {
        g_autofree char *path = NULL;

        if (!g_str_has_suffix(ent, ".status")) {
            continue;
        }
        path = g_build_filename(drv->state_dir, ent, NULL);
        process_reconnect_one(drv, path);
    }
}
