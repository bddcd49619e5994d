/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QMP server on the glib main loop (the thread-default GMainContext at
 * creation time).  A QmpServer serves any number of monitors: listening
 * sockets (each accepted connection is its own session), already
 * connected sockets, or a pair of stdio-like fds.  Every session gets the
 * greeting, negotiates on its own, then receives replies in request order
 * and every event.  QEMU serves one client per monitor at a time; serving
 * several at once is a harmless extension.
 *
 * I/O is non-blocking.  A session stops reading while one of its commands
 * is deferred or while more than QMP_SERVER_OUTPUT_HIGH bytes wait to be
 * written (back-pressure on a flooding client); a session whose pending
 * output passes QMP_SERVER_OUTPUT_MAX (events to a client that never
 * reads) is dropped, with one g_warning line.  Bad input never closes a
 * session: it is answered as QEMU does.  Writes use MSG_NOSIGNAL on
 * sockets; for pipes the VMM should ignore SIGPIPE.
 *
 * Output lines are compact JSON ending in "\r\n" (libvirt needs the CR),
 * or QEMU's pretty form for monitors added with @pretty.
 */
#ifndef QMP_SERVER_H
#define QMP_SERVER_H

#include <stdbool.h>
#include <glib.h>

#include "qmp-dispatch.h"

#define QMP_SERVER_OUTPUT_HIGH (1u << 20)
#define QMP_SERVER_OUTPUT_MAX (16u << 20)

typedef struct QmpServer QmpServer;

/* A server dispatching with @cfg (see qmp-dispatch.h). */
QmpServer *qmp_server_new(const QmpDispatchConfig *cfg, GError **errp);

/* Close every session and listener, then free.  Not from inside a
 * handler: schedule it (the quit path: reply, flush, then exit). */
void qmp_server_free(QmpServer *server);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QmpServer, qmp_server_free)

/* Serve connections accepted on listening socket @fd (taken). */
bool qmp_server_add_listener(QmpServer *server, int fd, bool pretty,
                             GError **errp);

/* Bind and listen on a UNIX socket at @path (a stale file is replaced),
 * the -qmp unix:PATH,server=on,wait=off case. */
bool qmp_server_listen_unix(QmpServer *server, const char *path, bool pretty,
                            GError **errp);

/*
 * Serve one already-connected session: a socket (@in_fd == @out_fd) or
 * stdio (0, 1) or pipes.  The fds are taken and closed at the end,
 * except 0-2, and made non-blocking (for stdio that flag is shared with
 * whoever else holds the terminal).  End of input ends the session.
 */
bool qmp_server_add_connection(QmpServer *server, int in_fd, int out_fd,
                               bool pretty, GError **errp);

/*
 * Send event @name with @data (borrowed; NULL for an event without
 * members) to every session in command mode.  The event is checked
 * against the schema; a mismatch is a g_critical (a bug), sent anyway.
 * Main-loop thread only, like every function here: a vCPU thread posts
 * its event with g_main_context_invoke().  No rate limiting is done here
 * (QEMU throttles BALLOON_CHANGE & co. to one per second: the caller's
 * job).
 */
void qmp_server_emit_event(QmpServer *server, const char *name,
                           JsonObject *data);

/*
 * Block until all pending output is written or @timeout_ms passed (for
 * quit: reply and SHUTDOWN event must reach the client before exit).
 * Returns true if everything was written.
 */
bool qmp_server_flush(QmpServer *server, int timeout_ms);

/* Number of connected sessions (negotiated or not). */
guint qmp_server_count_sessions(const QmpServer *server);

QmpDispatcher *qmp_server_get_dispatcher(QmpServer *server);

/*
 * The descriptor the client of the command being dispatched passed with
 * SCM_RIGHTS (the newest), now owned by the caller; -1 if none. Only
 * from inside a command handler (getfd).
 */
int qmp_server_take_passed_fd(QmpServer *server);

#endif /* QMP_SERVER_H */
