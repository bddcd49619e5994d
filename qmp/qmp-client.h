/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Asynchronous QMP client on the glib main loop (the thread-default
 * GMainContext at creation), for virtkestreld and tests.  It speaks to
 * kestrel and to QEMU alike: reads the greeting, negotiates with
 * qmp_capabilities, then sends commands with ids of its own ("kestrel-N")
 * and matches replies by id, so several commands may be in flight.
 *
 * Errors given to callbacks: a QMP error reply is QMP_ERROR with the code
 * of its class and its desc as message; local failures are G_IO_ERROR
 * (G_IO_ERROR_TIMED_OUT, G_IO_ERROR_CONNECTION_CLOSED, G_IO_ERROR_FAILED
 * for a reply that is not QMP).
 *
 * Callbacks may call any function of the client, qmp_client_free
 * included.
 */
#ifndef QMP_CLIENT_H
#define QMP_CLIENT_H

#include <stdbool.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#include "qmp-error.h"

typedef struct QmpClient QmpClient;

/* The reply of one command: @ret (borrowed) on success, else @err. */
typedef void (*QmpClientReplyFunc)(QmpClient *client, JsonNode *ret,
                                   const GError *err, void *opaque);

/* An event; @data borrowed, NULL when the event has none. */
typedef void (*QmpClientEventFunc)(QmpClient *client, const char *name,
                                   JsonObject *data, gint64 seconds,
                                   gint64 microseconds, void *opaque);

/* Negotiation finished (@err NULL) or failed (the client is closed). */
typedef void (*QmpClientReadyFunc)(QmpClient *client, const GError *err,
                                   void *opaque);

/* The connection ended (@reason says why); pending commands have already
 * been failed with G_IO_ERROR_CONNECTION_CLOSED. */
typedef void (*QmpClientClosedFunc)(QmpClient *client, const GError *reason,
                                    void *opaque);

QmpClient *qmp_client_new(void);

/* Close (pending callbacks get G_IO_ERROR_CANCELLED) and free. */
void qmp_client_free(QmpClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QmpClient, qmp_client_free)

void qmp_client_set_event_handler(QmpClient *client, QmpClientEventFunc func,
                                  void *opaque);
void qmp_client_set_closed_handler(QmpClient *client,
                                   QmpClientClosedFunc func, void *opaque);

/*
 * Connect to the UNIX socket @path and negotiate; @ready is called when
 * done or failed, at most @timeout_ms (0: no limit) later.  False with
 * @errp set if the socket cannot be connected at all.
 */
bool qmp_client_connect_unix(QmpClient *client, const char *path,
                             guint timeout_ms, QmpClientReadyFunc ready,
                             void *opaque, GError **errp);

/* Same on a connected socket @fd (taken). */
bool qmp_client_attach_fd(QmpClient *client, int fd, guint timeout_ms,
                          QmpClientReadyFunc ready, void *opaque,
                          GError **errp);

/*
 * Send @command with @args (borrowed, NULL for none); @func gets the reply
 * or an error after @timeout_ms (0: no limit).  On a closed client @func
 * is called from an idle callback with G_IO_ERROR_NOT_CONNECTED.
 */
void qmp_client_execute(QmpClient *client, const char *command,
                        JsonObject *args, guint timeout_ms,
                        QmpClientReplyFunc func, void *opaque);

/*
 * Blocking helpers that iterate the client's main context (tests, daemon
 * start-up): connect and negotiate; run one command and return its value
 * (new ref) or NULL with @errp set.
 */
bool qmp_client_connect_unix_sync(QmpClient *client, const char *path,
                                  guint timeout_ms, GError **errp);
JsonNode *qmp_client_execute_sync(QmpClient *client, const char *command,
                                  JsonObject *args, guint timeout_ms,
                                  GError **errp);

/* The greeting's "QMP" object, or NULL before it arrived.  Borrowed. */
JsonObject *qmp_client_get_greeting(QmpClient *client);

/* True from connect until the connection ends. */
bool qmp_client_is_connected(const QmpClient *client);

/* Close now: pending commands fail with G_IO_ERROR_CANCELLED; the closed
 * handler is not called. */
void qmp_client_close(QmpClient *client);

#endif /* QMP_CLIENT_H */
