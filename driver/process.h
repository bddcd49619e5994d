/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One kestrel process per running domain: start (argv from the pure
 * domain_command_build()), QMP connection and its events, stop, and the
 * reconnection of a restarted daemon to the domains that kept running.
 */
#ifndef DRIVER_PROCESS_H
#define DRIVER_PROCESS_H

#include <stdbool.h>
#include <glib.h>

#include "domain.h"

/* Completion of an asynchronous operation on @dom; @err NULL on success. */
typedef void (*ProcessDoneFunc)(DomainObj *dom, const GError *err,
                                void *opaque);

/*
 * Start @dom (inactive, job held by the caller): spawn kestrel, connect to
 * its QMP socket, then run the vCPUs unless @paused.  @done is called once,
 * with the domain running (or paused) and the STARTED event sent, or with
 * the domain back to shut off.
 */
void process_start(DomainObj *dom, bool paused, ProcessDoneFunc done,
                   void *opaque);

typedef struct {
    bool paused;
    /* Restore: kestrel starts with -incoming defer and loads its state
     * from this migration URI (file:PATH,offset=N) before the vCPUs run;
     * STARTED detail RESTORED, RUNNING reason RESTORED.  While @dom holds
     * an async job, its figures follow the load. */
    const char *incoming_uri;
    /* Incoming migration (with @incoming_uri, tcp:ADDR:PORT): @done is
     * called as soon as kestrel listens, the domain paused (reason
     * migration) and no event sent; the caller follows the stream with
     * query-migrate, then resumes it and reports STARTED/MIGRATED. */
    bool migration;
    /* Incoming: run before migrate-incoming (capabilities, parameters);
     * it calls @next(dom, err, next_opaque) once, an error fails the
     * start. */
    void (*incoming_setup)(DomainObj *dom,
                           void (*next)(DomainObj *dom, const GError *err,
                                        void *next_opaque),
                           void *next_opaque, void *opaque);
    void *incoming_setup_opaque;
} ProcessStartOptions;

void process_start_full(DomainObj *dom, const ProcessStartOptions *o,
                        ProcessDoneFunc done, void *opaque);

/*
 * Stop @dom (active, job held): SIGTERM, then after 10 s SIGKILL (or,
 * if @graceful, @done with an error and the domain left running), and call
 * @done once it is gone (at most 30 s more) and shut off with reason
 * DESTROYED. Never blocks the main loop.
 */
void process_destroy(DomainObj *dom, bool graceful, ProcessDoneFunc done,
                     void *opaque);

/* Run one QMP command on @dom's monitor; @done gets its error, if any. */
void process_qmp(DomainObj *dom, const char *command, ProcessDoneFunc done,
                 void *opaque);

/* The reply of a QMP command: @ret borrowed, NULL on error. */
typedef void (*ProcessReplyFunc)(DomainObj *dom, JsonNode *ret,
                                 const GError *err, void *opaque);

/* Run @command with @args (borrowed, may be NULL) on @dom's monitor. */
/* Poll the guest's balloon statistics for domstats while a stats period
 * is set (the live definition's), and not otherwise. */
void process_guest_stats_update(DomainObj *dom);

void process_qmp_call(DomainObj *dom, const char *command, JsonObject *args,
                      ProcessReplyFunc func, void *opaque);

/* The QOM path of @dom's balloon: its alias, else balloon0 (as the
 * command line names it). */
char *process_balloon_path(DomainObj *dom);

/* Resident memory of @dom's VMM in KiB (0 if unknown). */
guint64 process_rss_kib(DomainObj *dom);

/*
 * Per-vCPU thread times (ns) and the host CPU each last ran on, for the
 * first @n vCPUs of @dom (kestrel names its threads "CPU N/KVM").  Entries
 * not found stay 0 / -1.
 */
void process_vcpu_times(DomainObj *dom, guint64 *times, int *cpus,
                        unsigned int n);

/* Guest CPU time of @dom in nanoseconds (0 if unknown). */
guint64 process_cpu_time(DomainObj *dom);

/*
 * At start-up, before the main loop runs: take back the domains the state
 * dir says are running.  Returns at once with each of them listed as its
 * status file says (never shut off) and holding the job "reconnect" until
 * the main loop has reached its monitor, or found the VMM gone.
 */
void process_reconnect_all(Driver *drv);

#endif /* DRIVER_PROCESS_H */
