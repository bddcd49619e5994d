/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libvirt's remote protocol, server side: UNIX listening sockets, message
 * framing, the keepalive program, and calls that may be answered later and
 * in any order.  Everything runs on the glib main loop of the daemon; a
 * call whose work waits for a VMM (QMP) stays pending while the
 * connection keeps reading, answering keepalive and other calls (up to
 * max_client_requests calls in flight, see RpcServerLimits).
 *
 * What a procedure does is not known here: driver/dispatch.c gives the
 * table of procedures (see RpcProc).
 */
#ifndef DRIVER_RPC_H
#define DRIVER_RPC_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include <rpc/rpc.h>

#include "remote_protocol.h"

typedef struct RpcServer RpcServer;
typedef struct RpcConn RpcConn;
typedef struct RpcCall RpcCall;
typedef struct RpcStream RpcStream;

typedef enum {
    RPC_RESULT_OK,          /* the ret struct is filled: reply now */
    RPC_RESULT_ERROR,       /* @errp is set: reply with the error */
    RPC_RESULT_PENDING,     /* the handler keeps @call, finishes it later */
} RpcResult;

/*
 * One procedure of REMOTE_PROGRAM.  @handler gets decoded @args and a
 * zeroed @ret of ret_size bytes, both freed (xdr_free) with the call.
 */
typedef RpcResult (*RpcHandler)(RpcCall *call, void *args, void *ret,
                                GError **errp);

typedef enum {
    RPC_PROC_BEFORE_OPEN = 1 << 0,  /* allowed before CONNECT_OPEN */
    RPC_PROC_READONLY_OK = 1 << 1,  /* allowed on read-only connections */
} RpcProcFlags;

typedef struct {
    int proc;
    const char *name;           /* libvirt API name, for messages */
    xdrproc_t args_filter;
    size_t args_size;
    xdrproc_t ret_filter;
    size_t ret_size;
    RpcHandler handler;
    unsigned int flags;         /* RpcProcFlags */
} RpcProc;

/* The XDR filter of a void argument or result (encodes nothing). */
bool_t rpc_xdr_void(XDR *xdr, void *unused);

/* Connection life cycle hooks for the layer above (per-connection data). */
typedef struct {
    const RpcProc *(*find_proc)(int proc);
    void *(*conn_new)(RpcConn *conn);
    void (*conn_free)(void *data);
    /* libvirt's error number (and domain) for an error not in VIR_ERROR. */
    int (*error_code)(const GError *err, int *domain);
    /* May @conn call @proc now (opened, read-only)?  Before decoding. */
    bool (*check_call)(RpcConn *conn, const RpcProc *proc, GError **errp);
} RpcServerOps;

RpcServer *rpc_server_new(const RpcServerOps *ops);
void rpc_server_free(RpcServer *srv);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RpcServer, rpc_server_free)

/*
 * What one client, or many, may hold of the daemon (libvirt's daemon
 * settings of the same names, with its defaults).  Each listening socket
 * counts its own clients, so a flood of the world-accessible read-only
 * socket does not lock root out of the read-write one.  A client over a
 * limit is accepted and closed at once.
 */
typedef struct {
    unsigned int max_clients;           /* per socket */
    unsigned int max_anonymous_clients; /* per socket, before CONNECT_OPEN */
    unsigned int max_client_requests;   /* calls in flight per client */
    unsigned int client_timeout;        /* s to send CONNECT_OPEN, and to
                                         * finish a message begun */
} RpcServerLimits;

#define RPC_SERVER_LIMITS_DEFAULT { 5000, 20, 5, 30 }

void rpc_server_set_limits(RpcServer *srv, const RpcServerLimits *limits);

/*
 * Listen on the UNIX socket @path (replacing a stale socket file) with
 * permissions @mode; connections accepted there are read-only if
 * @readonly.
 */
bool rpc_server_add_unix(RpcServer *srv, const char *path, int mode,
                         bool readonly, GError **errp);

/* Listen on an already bound and listening socket (systemd activation). */
bool rpc_server_add_fd(RpcServer *srv, int fd, bool readonly,
                       GError **errp);

/* Call @func for every open connection (event delivery). */
void rpc_server_foreach_conn(RpcServer *srv,
                             void (*func)(RpcConn *conn, void *opaque),
                             void *opaque);

/* The data given by RpcServerOps.conn_new for @conn. */
void *rpc_conn_get_data(RpcConn *conn);

/* Connection came through a read-only socket. */
bool rpc_conn_socket_readonly(RpcConn *conn);

/* The client has opened its connection (CONNECT_OPEN): it no longer
 * counts as anonymous and has no deadline to do so. */
void rpc_conn_set_opened(RpcConn *conn);

/* The client asked for keepalive: ping it when it goes silent. */
void rpc_conn_start_keepalive(RpcConn *conn);

/* Close once the reply of the current call is written (CONNECT_CLOSE). */
void rpc_conn_close_after_flush(RpcConn *conn);

/* Send a MESSAGE (event) of REMOTE_PROGRAM; @msg is encoded with @filter. */
void rpc_conn_send_event(RpcConn *conn, int proc, xdrproc_t filter,
                         void *msg);

/* Calls. */
RpcConn *rpc_call_get_conn(RpcCall *call);
const RpcProc *rpc_call_get_proc(RpcCall *call);

/* The ret struct of a pending call, to fill before rpc_call_finish. */
void *rpc_call_get_ret(RpcCall *call);

/*
 * Run the handler of a pending call again, from the start, with the same
 * arguments (a call that waited for a domain's job).
 */
void rpc_call_redispatch(RpcCall *call);

/*
 * Finish a call left pending: reply with its ret struct if @err is NULL,
 * else with @err.  The reply is dropped if the connection has gone.
 * Frees @call.
 */
void rpc_call_finish(RpcCall *call, const GError *err);

/*
 * Streams (reference/libvirt-rpc.md section 11): STREAM packets carrying
 * the proc and serial of the call that opened them.  The connection owns
 * its streams; the layer above keeps a pointer until @close is called or
 * it ends the stream itself with rpc_stream_abort().
 */
typedef struct {
    /* Data from the client (a CONTINUE packet, never empty). */
    void (*recv)(RpcStream *st, const guint8 *data, gsize len,
                 void *opaque);
    /* The stream is gone: the client finished it (@abort false, after a
     * finish confirmation is queued), aborted it, or its connection
     * closed (@abort true).  @st is freed once this returns. */
    void (*close)(RpcStream *st, bool abort, void *opaque);
    /* The client caught up after rpc_stream_send() returned false. */
    void (*writable)(RpcStream *st, void *opaque);
} RpcStreamOps;

/*
 * Open a stream on the proc and serial of @call, before the call is
 * finished (its OK reply then precedes any data).  NULL if the client
 * has gone already.
 */
RpcStream *rpc_stream_open(RpcCall *call, const RpcStreamOps *ops,
                           void *opaque);

/*
 * Queue @len bytes (at most RPC_STREAM_CHUNK) for the client.  Returns
 * false when the client is behind (too much queued): the caller should
 * produce nothing more until ops->writable is called.
 */
#define RPC_STREAM_CHUNK 262120     /* libvirtd's largest data packet */
bool rpc_stream_send(RpcStream *st, const void *data, gsize len);

/* End of data: the stream stays until the client finishes it. */
void rpc_stream_send_eof(RpcStream *st);

/* Fail the stream with @err now; @st is freed, ops->close not called. */
void rpc_stream_abort(RpcStream *st, const GError *err);

#endif /* DRIVER_RPC_H */
