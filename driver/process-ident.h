/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Proof that a process is a domain's VMM, before the daemon trusts or
 * signals it.  A pid alone proves nothing: pids are recycled, and a status
 * file may be stale or tampered with.  As libvirt's QEMU driver does on
 * reconnection, the process must match on every count: the start time
 * recorded when it was spawned (/proc/PID/stat field 22), the emulator
 * binary it runs (/proc/PID/exe) and the domain on its command line
 * (exactly the -name and monitor -chardev the daemon gave it).
 */
#ifndef DRIVER_PROCESS_IDENT_H
#define DRIVER_PROCESS_IDENT_H

#include <stdbool.h>
#include <sys/types.h>
#include <glib.h>

/* Error codes: errno values; ESRCH: no such process (it ended). */
#define PROCESS_IDENT_ERROR process_ident_error_quark()
GQuark process_ident_error_quark(void);

typedef struct {
    pid_t pid;
    guint64 start_time;         /* clock ticks after boot; 0: unrecorded */
    const char *emulator;       /* the binary it was started from */
    const char *name;           /* domain name (-name guest=NAME,...) */
    const char *qmp_path;       /* its monitor socket (-chardev ...) */
} ProcessIdent;

/*
 * process_ident_start_time: when @pid started, in clock ticks after boot
 * (field 22 of /proc/PID/stat).  Returns false if there is no such
 * process.
 */
bool process_ident_start_time(pid_t pid, guint64 *ticks);

/*
 * process_ident_verify: true if @want->pid is the process @want describes.
 * A start time of 0 (a status file written before it was recorded) is not
 * checked; everything else is.  Returns false with @errp saying what did
 * not match (for the log).
 */
bool process_ident_verify(const ProcessIdent *want, GError **errp);

#endif /* DRIVER_PROCESS_IDENT_H */
