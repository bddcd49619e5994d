/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QMP request dispatch, free of I/O: one parsed request in, one reply out.
 *
 * The user (src/qmp-cmds.c) supplies a const command table sorted by name,
 * a context pointer handed to every handler, and optionally a run-state
 * hook.  Before a handler runs the dispatcher has checked, with QEMU's
 * error texts: the request shape, negotiation mode, that the command
 * exists (table and schema), the run state, and the arguments against
 * schemas/ (names, required/optional, JSON types, enums, nested structs).
 *
 * Answered by the library itself: qmp_capabilities, query-version,
 * query-commands, query-qmp-schema.  They must not be in the table.
 *
 * Threading: everything runs on the thread of the main loop.
 */
#ifndef QMP_DISPATCH_H
#define QMP_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#include "qmp-error.h"
#include "qmp-schema.h"

/*
 * A synchronous handler.  @args is the validated "arguments" object
 * (never NULL; empty when the request had none), borrowed.  On success
 * return true and set *@ret to a new node, or leave it NULL for
 * "return": {}.  On failure return false and set @errp: QMP_ERROR codes
 * give the class, any other domain is GenericError.
 */
typedef bool (*QmpHandler)(void *ctx, JsonObject *args, JsonNode **ret,
                           GError **errp);

/* A command being answered later; see qmp_request_complete. */
typedef struct QmpRequest QmpRequest;

/*
 * An asynchronous handler: it owns @req and must complete it exactly once,
 * now or later, with qmp_request_complete.  Until then the session reads
 * no further requests (replies stay in request order, as in QEMU).
 */
typedef void (*QmpAsyncHandler)(void *ctx, JsonObject *args,
                                QmpRequest *req);

/* Bit for run state @n in QmpCommand.allowed_states. */
#define QMP_STATE(n) (1u << (n))

typedef struct QmpCommand {
    const char *name;               /* wire name: never rename */
    QmpHandler handler;             /* exactly one of handler, */
    QmpAsyncHandler async_handler;  /* ... async_handler */
    guint32 allowed_states;         /* QMP_STATE() mask; 0 = any state */
} QmpCommand;

typedef struct QmpDispatchConfig {
    const QmpCommand *commands;     /* sorted by strcmp on name */
    size_t n_commands;
    const QmpSchema *schema;        /* NULL: the embedded schema */
    void *ctx;                      /* first argument of every hook */
    /* Current run state as a number 0..31; NULL: no state checks. */
    guint32 (*current_state)(void *ctx);
    /* Word the refusal of @cmd in @state (set @errp).  NULL: GenericError
     * "The command NAME is not available in the current state". */
    void (*refuse)(void *ctx, const QmpCommand *cmd, guint32 state,
                   GError **errp);
    /* Advertised in the greeting and query-version. */
    int version_major, version_minor, version_micro;
    const char *package;
} QmpDispatchConfig;

typedef struct QmpDispatcher QmpDispatcher;

/* Receives one reply (owned by the callee). */
typedef void (*QmpReplyFunc)(JsonNode *reply, void *opaque);

/*
 * Check a command table against a schema: sorted, no duplicates, every
 * entry has one handler and is a schema command, every schema command is
 * in the table or answered by the library.  The error names all
 * differences.
 */
bool qmp_dispatch_check_table(const QmpSchema *schema,
                              const QmpCommand *commands, size_t n,
                              GError **errp);

/* A dispatcher for @cfg (copied; the table must outlive it).  Fails if
 * qmp_dispatch_check_table does. */
QmpDispatcher *qmp_dispatcher_new(const QmpDispatchConfig *cfg,
                                  GError **errp);
void qmp_dispatcher_free(QmpDispatcher *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QmpDispatcher, qmp_dispatcher_free)

const QmpSchema *qmp_dispatcher_get_schema(const QmpDispatcher *d);

/* {"QMP": {"version": ..., "capabilities": []}}: we never offer oob.
 * New node. */
JsonNode *qmp_dispatcher_greeting(const QmpDispatcher *d);

/*
 * Handle one input value of a session.  @request is the parsed value
 * (borrowed) or NULL with @parse_err set (a framing error, answered as
 * GenericError without id).  *@negotiated is the session's mode; a
 * successful qmp_capabilities sets it.  The reply goes to @reply, either
 * before this returns (returns true) or later from qmp_request_complete
 * (returns false).
 */
bool qmp_dispatch(QmpDispatcher *d, bool *negotiated, JsonNode *request,
                  const GError *parse_err, QmpReplyFunc reply, void *opaque);

/*
 * Finish a deferred command: @ret (new ref or NULL for {}) on success, or
 * @err (taken) on failure.  Frees @req.
 */
void qmp_request_complete(QmpRequest *req, JsonNode *ret, GError *err);

/* The command name of a pending request. */
const char *qmp_request_get_command(const QmpRequest *req);

/* {"error": {"class", "desc"}, "id"?}; @id borrowed, may be NULL. */
JsonNode *qmp_reply_error(const GError *err, JsonNode *id);

/* {"return": @ret, "id"?}; @ret taken (NULL: {}), @id borrowed. */
JsonNode *qmp_reply_return(JsonNode *ret, JsonNode *id);

/*
 * {"event": @name, "data": @data, "timestamp": {"seconds", "microseconds"}}
 * with the host's wall clock now; "data" is left out when @data is NULL,
 * as QEMU does for events without members.  @data borrowed.
 */
JsonNode *qmp_event_new(const char *name, JsonObject *data);

#endif /* QMP_DISPATCH_H */
