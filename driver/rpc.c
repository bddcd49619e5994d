/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libvirt remote protocol server: sockets, framing, keepalive, calls.
 *
 * Each connection reads whole messages (length word first, never assuming
 * one read is one message) and dispatches calls as they arrive; a call may
 * stay pending while later ones are answered, so replies go out in any
 * order, as the libvirt client allows.  Writes are queued per connection
 * and always whole messages, so events and replies never interleave
 * inside a message.
 *
 * No client can take the daemon from the others: each has a few of its
 * messages handled per turn of the main loop, is not read while it has
 * max_client_requests calls in flight or leaves replies unread, and holds
 * input buffers only as large as what it has really sent.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <glib-unix.h>
#include <gio/gio.h>
#include <glib/gstdio.h>

#include "libvirt-procs.h"
#include "rpc.h"
#include "virerror.h"

#define RPC_HEADER_LEN 28           /* length word + 6 header words */
#define RPC_KEEPALIVE_INTERVAL 5    /* seconds of silence before a ping */
#define RPC_KEEPALIVE_COUNT 5       /* unanswered pings before closing */
#define RPC_OUT_MAX (64 << 20)      /* queued bytes of a client that does
                                     * not read before we give up on it */
#define RPC_STREAM_HIGH (1 << 20)   /* queued bytes that pause streams */
#define RPC_STREAM_LOW (256 << 10)  /* ... and that resume them */
#define RPC_OUT_HIGH (4 << 20)      /* queued bytes that stop reading */
#define RPC_OUT_COMPACT (1 << 20)   /* written bytes dropped from the queue */
#define RPC_IN_CHUNK 65536          /* bytes read at a time, at least */
#define RPC_IN_ANON_MAX RPC_IN_CHUNK    /* message size before CONNECT_OPEN */
#define RPC_IN_FREE (512 << 10)     /* input buffer a client always may have */
#define RPC_IN_BUDGET (2 * REMOTE_MESSAGE_MAX)  /* shared by buffers past
                                                 * RPC_IN_FREE */
#define RPC_ACCEPT_RETRY_MS 1000    /* out of descriptors: pause accepting */
#define RPC_LOG_INTERVAL 10         /* s between two refusal messages */

/* A message that may repeat at the rate a hostile client chooses: logged
 * at most once every RPC_LOG_INTERVAL seconds, with the count left out. */
typedef struct {
    gint64 last;                    /* monotonic µs of the last message */
    unsigned int suppressed;
} RpcRateLimit;

struct RpcServer {
    const RpcServerOps *ops;
    RpcServerLimits limits;
    GList *listeners;               /* RpcListener */
    GList *conns;                   /* RpcConn */
    guint tick;                     /* deadlines, while there are clients */
    guint accept_retry;             /* accepting paused: out of fds */
    gsize in_charged;               /* of RPC_IN_BUDGET, by input buffers */
    bool accept_failing;            /* since the last accept that worked */
    RpcRateLimit refused_log;
};

typedef struct {
    RpcServer *srv;
    int fd;
    bool readonly;
    char *path;                     /* unlinked on free, NULL if inherited */
    guint watch;                    /* 0 while accepting is paused */
    unsigned int clients;           /* connections accepted here, open */
    unsigned int anonymous;         /* ... of which before CONNECT_OPEN */
} RpcListener;

struct RpcConn {
    RpcServer *srv;
    RpcListener *listener;          /* outlives its connections */
    int refs;                       /* the server's + one per pending call */
    int fd;
    bool socket_readonly;
    bool opened;                    /* CONNECT_OPEN done: not anonymous */
    gint64 accepted;                /* monotonic µs */
    bool closed;
    bool close_after_flush;
    bool overflow;                  /* too much queued: closing */
    guint in_watch;                 /* reading: 0 while held back */
    guint in_idle;                  /* handling messages already read */
    bool in_busy;                   /* handling messages now */
    guint out_watch;
    guint ka_timer;
    gint64 last_rx;                 /* monotonic µs */
    int ka_unanswered;
    unsigned int calls;             /* RpcCall not yet finished */
    /*
     * Input: bytes [in_pos, in_len) of @in are read and not yet handled.
     * The buffer grows as bytes arrive, towards the announced length of
     * the message being read (a chunk past it at most), and goes once
     * empty.
     */
    guint8 *in;
    gsize in_pos, in_len, in_cap;
    gint64 in_since;                /* monotonic µs: unfinished message */
    GByteArray *out;
    gsize out_pos;                  /* bytes of @out already written */
    GList *streams;                 /* RpcStream */
    void *data;                     /* RpcServerOps.conn_new */
};

struct RpcStream {
    RpcConn *conn;                  /* not a reference: the conn owns us */
    remote_message_header hdr;      /* of the opening call */
    const RpcStreamOps *ops;
    void *opaque;
    bool blocked;                   /* told to pause: call ops->writable */
};

struct RpcCall {
    RpcConn *conn;
    const RpcProc *proc;
    remote_message_header hdr;
    void *args;
    void *ret;
};

static void rpc_conn_close(RpcConn *conn);
static void rpc_conn_unref(RpcConn *conn);
static void rpc_conn_update_input(RpcConn *conn);
static void rpc_server_resume_accept(RpcServer *srv);
static gboolean rpc_conn_writable(int fd, GIOCondition cond, void *opaque);

/* Log @fmt unless it was logged less than RPC_LOG_INTERVAL s ago. */
static void G_GNUC_PRINTF(2, 3) rpc_log_limited(RpcRateLimit *rl,
                                                const char *fmt, ...)
{
    gint64 now = g_get_monotonic_time();
    g_autofree char *msg = NULL;
    va_list ap;

    if (rl->last && now - rl->last < RPC_LOG_INTERVAL * G_USEC_PER_SEC) {
        rl->suppressed++;
        return;
    }
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (rl->suppressed) {
        g_message("%s (and %u more times since the last report)", msg,
                  rl->suppressed);
    } else {
        g_message("%s", msg);
    }
    rl->last = now;
    rl->suppressed = 0;
}

static gboolean rpc_conn_close_idle(void *opaque)
{
    RpcConn *conn = opaque;

    rpc_conn_close(conn);
    rpc_conn_unref(conn);
    return G_SOURCE_REMOVE;
}

bool_t rpc_xdr_void(XDR *xdr, void *unused)
{
    return TRUE;
}

static RpcConn *rpc_conn_ref(RpcConn *conn)
{
    conn->refs++;
    return conn;
}

static void rpc_conn_unref(RpcConn *conn)
{
    if (--conn->refs > 0) {
        return;
    }
    g_free(conn->in);
    g_byte_array_unref(conn->out);
    g_free(conn);
}

/* Bytes queued for the client, not yet written. */
static gsize rpc_conn_queued(RpcConn *conn)
{
    return conn->out->len - conn->out_pos;
}

/* Queue one message: header, then @body encoded by @filter (may be NULL). */
static void rpc_conn_queue(RpcConn *conn, const remote_message_header *hdr,
                           xdrproc_t filter, void *body)
{
    XDR xdr;
    guint start, len;
    bool ok;

    if (conn->closed || conn->overflow) {
        return;
    }
    start = conn->out->len;
    /* Encode straight into the queue; grow until the body fits. */
    for (len = 65536;; len *= 2) {
        g_byte_array_set_size(conn->out, start + len);
        xdrmem_create(&xdr, (char *)conn->out->data + start, len, XDR_ENCODE);
        ok = xdr_u_int(&xdr, &len) &&
             xdr_remote_message_header(&xdr,
                                       (remote_message_header *)hdr) &&
             (!filter || filter(&xdr, body, 0));
        if (ok) {
            guint used = xdr_getpos(&xdr);
            guint32 be = GUINT32_TO_BE(used);

            xdr_destroy(&xdr);
            memcpy(conn->out->data + start, &be, 4);
            g_byte_array_set_size(conn->out, start + used);
            break;
        }
        xdr_destroy(&xdr);
        if (len >= REMOTE_MESSAGE_MAX) {
            g_warning("reply to procedure %d does not fit in a message",
                      hdr->proc);
            g_byte_array_set_size(conn->out, start);
            return;
        }
    }
    if (rpc_conn_queued(conn) > RPC_OUT_MAX && !conn->overflow) {
        /* Not now: our caller may be walking this connection's state. */
        g_message("closing a client that does not read its replies");
        conn->overflow = true;
        g_idle_add(rpc_conn_close_idle, rpc_conn_ref(conn));
        return;
    }
    if (!conn->out_watch) {
        conn->out_watch = g_unix_fd_add(conn->fd, G_IO_OUT,
                                        rpc_conn_writable, conn);
    }
}

/* Reply to @call with @err, in libvirt error domain @from (-1: the
 * domain that goes with the error's code). */
static void rpc_conn_queue_error_from(RpcConn *conn,
                                      const remote_message_header *call,
                                      const GError *err, int from)
{
    remote_message_header hdr = *call;
    remote_error rerr = { 0 };
    g_autofree char *message = NULL;
    const char *prefix;
    int code = VIR_ERR_INTERNAL_ERROR;
    int domain = VIR_FROM_NONE;

    if (err->domain == VIR_ERROR) {
        code = err->code;
    } else if (conn->srv->ops->error_code) {
        code = conn->srv->ops->error_code(err, &domain);
    }
    if (err->domain == VIR_ERROR) {
        domain = code == VIR_ERR_RPC ? VIR_FROM_RPC : VIR_FROM_DOMAIN;
    }
    if (from >= 0) {
        domain = from;
    }
    prefix = vir_error_prefix(code);
    if (!prefix) {
        message = g_strdup(err->message);
    } else if (g_str_has_suffix(prefix, " for") ||
               g_str_has_suffix(prefix, " in")) {
        message = g_strdup_printf("%s %s", prefix, err->message);
    } else {
        message = g_strdup_printf("%s: %s", prefix, err->message);
    }

    hdr.type = hdr.type == REMOTE_STREAM ? REMOTE_STREAM : REMOTE_REPLY;
    hdr.status = REMOTE_ERROR;
    rerr.code = code;
    rerr.domain = domain;
    rerr.message = &message;
    rerr.level = VIR_ERR_LEVEL_ERROR;
    rerr.int1 = -1;
    rerr.int2 = -1;
    rpc_conn_queue(conn, &hdr, (xdrproc_t)xdr_remote_error, &rerr);
}

static void rpc_conn_queue_error(RpcConn *conn,
                                 const remote_message_header *call,
                                 const GError *err)
{
    rpc_conn_queue_error_from(conn, call, err, -1);
}

static void rpc_call_free(RpcCall *call)
{
    if (call->args) {
        xdr_free(call->proc->args_filter, call->args);
        g_free(call->args);
    }
    if (call->ret) {
        xdr_free(call->proc->ret_filter, call->ret);
        g_free(call->ret);
    }
    /* One call fewer in flight: reading may go on. */
    call->conn->calls--;
    rpc_conn_update_input(call->conn);
    rpc_conn_unref(call->conn);
    g_free(call);
}

void rpc_call_finish(RpcCall *call, const GError *err)
{
    RpcConn *conn = call->conn;

    if (err) {
        rpc_conn_queue_error(conn, &call->hdr, err);
    } else {
        remote_message_header hdr = call->hdr;

        hdr.type = REMOTE_REPLY;
        hdr.status = REMOTE_OK;
        rpc_conn_queue(conn, &hdr, call->proc->ret_filter, call->ret);
    }
    rpc_call_free(call);
}

RpcConn *rpc_call_get_conn(RpcCall *call)
{
    return call->conn;
}

const RpcProc *rpc_call_get_proc(RpcCall *call)
{
    return call->proc;
}

void *rpc_call_get_ret(RpcCall *call)
{
    return call->ret;
}

/* Call the handler and reply unless it keeps the call. */
static void rpc_call_run(RpcCall *call)
{
    const RpcProc *proc = call->proc;
    g_autoptr(GError) err = NULL;

    switch (proc->handler(call, call->args, call->ret, &err)) {
    case RPC_RESULT_OK:
        rpc_call_finish(call, NULL);
        break;
    case RPC_RESULT_ERROR:
        if (!err) {
            g_set_error(&err, VIR_ERROR, VIR_ERR_INTERNAL_ERROR,
                        "%s failed without saying why", proc->name);
        }
        rpc_call_finish(call, err);
        break;
    case RPC_RESULT_PENDING:
        break;
    }
}

void rpc_call_redispatch(RpcCall *call)
{
    xdr_free(call->proc->ret_filter, call->ret);
    memset(call->ret, 0, MAX(call->proc->ret_size, 1));
    rpc_call_run(call);
}

static void rpc_conn_dispatch_call(RpcConn *conn,
                                   const remote_message_header *hdr,
                                   XDR *xdr)
{
    const RpcProc *proc = conn->srv->ops->find_proc(hdr->proc);
    g_autoptr(GError) err = NULL;
    RpcCall *call;

    if (!proc) {
        /* What libvirt's daemon says when its driver lacks the API. */
        VirErrorDomain from;

        err = libvirt_proc_unserved_error(hdr->prog, hdr->proc, &from);
        rpc_conn_queue_error_from(conn, hdr, err, from);
        return;
    }

    if (conn->srv->ops->check_call &&
        !conn->srv->ops->check_call(conn, proc, &err)) {
        rpc_conn_queue_error(conn, hdr, err);
        return;
    }

    call = g_new0(RpcCall, 1);
    call->conn = rpc_conn_ref(conn);
    conn->calls++;
    call->proc = proc;
    call->hdr = *hdr;
    call->args = g_malloc0(MAX(proc->args_size, 1));
    call->ret = g_malloc0(MAX(proc->ret_size, 1));
    if (!proc->args_filter(xdr, call->args, 0)) {
        g_set_error(&err, VIR_ERROR, VIR_ERR_RPC,
                    "Unable to decode the arguments of %s", proc->name);
        rpc_call_finish(call, err);
        return;
    }

    rpc_call_run(call);
}

/* ---- streams ---------------------------------------------------------- */

RpcStream *rpc_stream_open(RpcCall *call, const RpcStreamOps *ops,
                           void *opaque)
{
    RpcConn *conn = call->conn;
    RpcStream *st;

    if (conn->closed) {
        return NULL;
    }
    st = g_new0(RpcStream, 1);
    st->conn = conn;
    st->hdr = call->hdr;
    st->hdr.type = REMOTE_STREAM;
    st->ops = ops;
    st->opaque = opaque;
    conn->streams = g_list_append(conn->streams, st);
    return st;
}

static void rpc_stream_free(RpcStream *st)
{
    st->conn->streams = g_list_remove(st->conn->streams, st);
    g_free(st);
}

/* STREAM data is raw bytes after the header: no length word, no padding
 * (so what follows in the queue may be unaligned: encode without inline). */
static void rpc_stream_queue(RpcStream *st, int status, const void *data,
                             gsize len)
{
    RpcConn *conn = st->conn;
    remote_message_header hdr = st->hdr;
    guint start = conn->out->len;
    guint32 be;

    hdr.status = status;
    rpc_conn_queue(conn, &hdr, NULL, NULL);
    if (conn->out->len != start + RPC_HEADER_LEN) {
        return;                 /* dropped: the connection is going */
    }
    g_byte_array_append(conn->out, data, len);
    be = GUINT32_TO_BE(RPC_HEADER_LEN + len);
    memcpy(conn->out->data + start, &be, 4);
}

bool rpc_stream_send(RpcStream *st, const void *data, gsize len)
{
    g_return_val_if_fail(len > 0 && len <= RPC_STREAM_CHUNK, true);
    rpc_stream_queue(st, REMOTE_CONTINUE, data, len);
    if (rpc_conn_queued(st->conn) > RPC_STREAM_HIGH) {
        st->blocked = true;
        return false;
    }
    return true;
}

void rpc_stream_send_eof(RpcStream *st)
{
    rpc_stream_queue(st, REMOTE_CONTINUE, NULL, 0);
}

void rpc_stream_abort(RpcStream *st, const GError *err)
{
    rpc_conn_queue_error(st->conn, &st->hdr, err);
    rpc_stream_free(st);
}

/* Streams told to pause go on once the queue is short again. */
static void rpc_conn_wake_streams(RpcConn *conn)
{
    GList *l;

    while (!conn->closed && rpc_conn_queued(conn) <= RPC_STREAM_LOW) {
        RpcStream *st = NULL;

        for (l = conn->streams; l; l = l->next) {
            if (((RpcStream *)l->data)->blocked) {
                st = l->data;
                break;
            }
        }
        if (!st) {
            return;
        }
        st->blocked = false;
        if (st->ops->writable) {
            st->ops->writable(st, st->opaque);
        }
    }
}

static RpcStream *rpc_conn_find_stream(RpcConn *conn,
                                       const remote_message_header *hdr)
{
    GList *l;

    for (l = conn->streams; l; l = l->next) {
        RpcStream *st = l->data;

        if (st->hdr.serial == hdr->serial && st->hdr.proc == hdr->proc &&
            st->hdr.prog == hdr->prog && st->hdr.vers == hdr->vers) {
            return st;
        }
    }
    return NULL;
}

/*
 * A STREAM packet from the client: data, finish (OK) or abort (ERROR).
 * The client waits for a confirmation of finish and abort, so those are
 * confirmed even for a stream we no longer know (ended on our side);
 * stray data for such a stream is dropped.
 */
static void rpc_conn_handle_stream(RpcConn *conn,
                                   const remote_message_header *hdr,
                                   const guint8 *data, guint len)
{
    RpcStream *st = rpc_conn_find_stream(conn, hdr);
    remote_message_header ack = *hdr;

    if (hdr->status == REMOTE_CONTINUE) {
        if (st && len > 0) {
            st->ops->recv(st, data, len, st->opaque);
        }
        return;
    }
    ack.status = REMOTE_OK;
    rpc_conn_queue(conn, &ack, NULL, NULL);
    if (st) {
        st->ops->close(st, hdr->status != REMOTE_OK, st->opaque);
        rpc_stream_free(st);
    }
}

/* ---- messages --------------------------------------------------------- */

static void rpc_conn_handle_message(RpcConn *conn, const guint8 *buf,
                                    guint len)
{
    remote_message_header hdr;
    XDR xdr;

    xdrmem_create(&xdr, (char *)buf + 4, len - 4, XDR_DECODE);
    if (!xdr_remote_message_header(&xdr, &hdr)) {
        xdr_destroy(&xdr);
        rpc_conn_close(conn);
        return;
    }

    if (hdr.prog == KKEEPALIVE_PROGRAM) {
        if (hdr.vers == KKEEPALIVE_PROTOCOL_VERSION &&
            hdr.type == REMOTE_MESSAGE && hdr.proc == KEEPALIVE_PROC_PING) {
            remote_message_header pong = hdr;

            pong.proc = KEEPALIVE_PROC_PONG;
            pong.serial = 0;
            pong.status = REMOTE_OK;
            rpc_conn_queue(conn, &pong, NULL, NULL);
        }
        /* PONG: last_rx is already refreshed, nothing else to do. */
    } else if (hdr.type == REMOTE_STREAM) {
        rpc_conn_handle_stream(conn, &hdr, buf + RPC_HEADER_LEN,
                               len - RPC_HEADER_LEN);
    } else if (hdr.type != REMOTE_CALL) {
        /* Replies, holes, calls with FDs: never sent to us. */
    } else if (hdr.prog == LIBVIRT_QEMU_PROGRAM && hdr.vers == 1 &&
               hdr.status == REMOTE_OK) {
        /* libvirtd always has the QEMU program; we serve none of it. */
        g_autoptr(GError) err = NULL;
        VirErrorDomain from;

        err = libvirt_proc_unserved_error(hdr.prog, hdr.proc, &from);
        rpc_conn_queue_error_from(conn, &hdr, err, from);
    } else if (hdr.prog != KREMOTE_PROGRAM ||
               hdr.vers != KREMOTE_PROTOCOL_VERSION) {
        g_autoptr(GError) err =
            g_error_new(VIR_ERROR, VIR_ERR_RPC,
                        "Cannot find program %u version %u", hdr.prog,
                        hdr.vers);
        rpc_conn_queue_error(conn, &hdr, err);
    } else if (hdr.status != REMOTE_OK) {
        g_autoptr(GError) err =
            g_error_new(VIR_ERROR, VIR_ERR_RPC,
                        "Unexpected status %d in a call", hdr.status);
        rpc_conn_queue_error(conn, &hdr, err);
    } else {
        rpc_conn_dispatch_call(conn, &hdr, &xdr);
    }
    xdr_destroy(&xdr);
}

/* ---- input: fairness, back-pressure, bounded buffers ------------------ */

/*
 * May @conn have more of its messages handled now?  Not with
 * max_client_requests calls of it in flight, nor while the replies it
 * has not read pile up: what it sends meanwhile stays unread in the
 * socket, whose buffer then stops it (libvirt's daemon does the same).
 */
static bool rpc_conn_can_dispatch(RpcConn *conn)
{
    return !conn->closed && !conn->overflow &&
           conn->calls < conn->srv->limits.max_client_requests &&
           rpc_conn_queued(conn) < RPC_OUT_HIGH;
}

/* The length word of the next message, 0 if not all read yet. */
static guint32 rpc_conn_next_len(RpcConn *conn)
{
    guint32 be;

    if (conn->in_len - conn->in_pos < 4) {
        return 0;
    }
    memcpy(&be, conn->in + conn->in_pos, 4);
    return GUINT32_FROM_BE(be);
}

/* Is the next message in the buffer whole (or its length word bad)? */
static bool rpc_conn_has_message(RpcConn *conn)
{
    gsize avail = conn->in_len - conn->in_pos;
    guint32 len = rpc_conn_next_len(conn);

    return avail >= 4 && (len < RPC_HEADER_LEN || avail >= len);
}

/* A length libvirt's client could send: at most REMOTE_MESSAGE_MAX after
 * the length word, and small until the connection is open (all a client
 * sends before CONNECT_OPEN is a few words). */
static bool rpc_conn_check_len(RpcConn *conn, guint32 len)
{
    if (len >= RPC_HEADER_LEN && len - 4 <= REMOTE_MESSAGE_MAX &&
        (conn->opened || len <= RPC_IN_ANON_MAX)) {
        return true;
    }
    rpc_log_limited(&conn->srv->refused_log,
                    "closing a client that sent a %u-byte message%s", len,
                    conn->opened ? "" : " before opening its connection");
    return false;
}

static gsize rpc_in_charge(gsize cap)
{
    return cap > RPC_IN_FREE ? cap - RPC_IN_FREE : 0;
}

static void rpc_conn_in_resize(RpcConn *conn, gsize cap)
{
    RpcServer *srv = conn->srv;

    srv->in_charged -= rpc_in_charge(conn->in_cap);
    srv->in_charged += rpc_in_charge(cap);
    if (cap) {
        conn->in = g_realloc(conn->in, cap);
    } else {
        g_clear_pointer(&conn->in, g_free);
    }
    conn->in_cap = cap;
}

/*
 * Room to read into: what was handled goes first; then the buffer grows
 * towards the end of the unfinished message (and a chunk more), doubling
 * at most, so a client that announces 32 MiB and sends little holds
 * little.  Buffers past RPC_IN_FREE share RPC_IN_BUDGET: a client that
 * would need more than is left is closed.  False (logged) if @conn must
 * be closed.
 */
static bool rpc_conn_in_reserve(RpcConn *conn)
{
    RpcServer *srv = conn->srv;
    gsize end, cap;
    guint32 len;

    if (conn->in_pos) {
        memmove(conn->in, conn->in + conn->in_pos,
                conn->in_len - conn->in_pos);
        conn->in_len -= conn->in_pos;
        conn->in_pos = 0;
    }
    len = rpc_conn_next_len(conn);
    if (conn->in_len >= 4 && !rpc_conn_check_len(conn, len)) {
        return false;
    }
    end = conn->in_len >= 4 ? MAX(len, conn->in_len + 1)
                            : conn->in_len + RPC_IN_CHUNK;
    if (conn->in_cap > conn->in_len &&
        conn->in_cap - conn->in_len >= MIN(RPC_IN_CHUNK, end - conn->in_len)) {
        return true;
    }
    /* A chunk past the end at most: several small messages per read. */
    cap = MIN(MAX(end, conn->in_len + RPC_IN_CHUNK),
              MAX(conn->in_cap * 2, conn->in_len + RPC_IN_CHUNK));
    if (rpc_in_charge(cap) > rpc_in_charge(conn->in_cap) &&
        srv->in_charged - rpc_in_charge(conn->in_cap) + rpc_in_charge(cap) >
        RPC_IN_BUDGET) {
        rpc_log_limited(&srv->refused_log, "closing a client: unfinished "
                        "messages of clients hold %zu bytes already",
                        srv->in_charged + RPC_IN_FREE);
        return false;
    }
    rpc_conn_in_resize(conn, cap);
    return true;
}

/*
 * Handle the whole messages read, at most max_client_requests of them:
 * then it is the other clients' turn, and an idle source comes back for
 * the rest (rpc_conn_update_input).
 */
static void rpc_conn_process(RpcConn *conn)
{
    unsigned int n;

    conn->in_busy = true;
    for (n = 0; n < conn->srv->limits.max_client_requests &&
                rpc_conn_can_dispatch(conn) && rpc_conn_has_message(conn);
         n++) {
        guint32 len = rpc_conn_next_len(conn);
        const guint8 *msg = conn->in + conn->in_pos;

        if (!rpc_conn_check_len(conn, len)) {
            rpc_conn_close(conn);
            break;
        }
        conn->in_pos += len;
        conn->in_since = g_get_monotonic_time();
        rpc_conn_handle_message(conn, msg, len);
    }
    conn->in_busy = false;
    if (conn->in_pos == conn->in_len && !conn->closed) {
        conn->in_pos = conn->in_len = 0;
        rpc_conn_in_resize(conn, 0);
    }
}

static gboolean rpc_conn_readable(int fd, GIOCondition cond, void *opaque);

static gboolean rpc_conn_process_idle(void *opaque)
{
    RpcConn *conn = opaque;

    conn->in_idle = 0;
    if (!conn->closed) {
        rpc_conn_process(conn);
        rpc_conn_update_input(conn);
    }
    rpc_conn_unref(conn);
    return G_SOURCE_REMOVE;
}

/*
 * After anything that changes what @conn may do next (a message handled,
 * a call finished, replies written): handle the messages already read,
 * read more, or neither.
 */
static void rpc_conn_update_input(RpcConn *conn)
{
    bool go = rpc_conn_can_dispatch(conn);
    bool buffered = rpc_conn_has_message(conn);

    if (conn->closed || conn->in_busy) {
        return;
    }
    if (go && buffered && !conn->in_idle) {
        conn->in_idle = g_idle_add_full(G_PRIORITY_DEFAULT,
                                        rpc_conn_process_idle,
                                        rpc_conn_ref(conn), NULL);
    }
    if (go && !buffered && !conn->in_watch) {
        /* The deadline of a message held back starts again. */
        conn->in_since = g_get_monotonic_time();
        conn->in_watch = g_unix_fd_add(conn->fd, G_IO_IN | G_IO_HUP | G_IO_ERR,
                                       rpc_conn_readable, conn);
    } else if (!(go && !buffered) && conn->in_watch) {
        g_source_remove(conn->in_watch);
        conn->in_watch = 0;
    }
}

static gboolean rpc_conn_readable(int fd, GIOCondition cond, void *opaque)
{
    RpcConn *conn = opaque;
    bool fresh;
    ssize_t n;

    if (!rpc_conn_in_reserve(conn)) {
        conn->in_watch = 0;
        rpc_conn_close(conn);
        return G_SOURCE_REMOVE;
    }
    n = read(fd, conn->in + conn->in_len, conn->in_cap - conn->in_len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        return G_SOURCE_CONTINUE;
    }
    if (n <= 0) {
        conn->in_watch = 0;
        rpc_conn_close(conn);
        return G_SOURCE_REMOVE;
    }
    fresh = conn->in_len == 0;
    conn->in_len += n;
    conn->last_rx = g_get_monotonic_time();
    conn->ka_unanswered = 0;
    if (fresh) {
        conn->in_since = conn->last_rx;
    }

    rpc_conn_ref(conn);
    rpc_conn_process(conn);
    if (conn->closed) {
        conn->in_watch = 0;
        rpc_conn_unref(conn);
        return G_SOURCE_REMOVE;
    }
    if (!rpc_conn_can_dispatch(conn) || rpc_conn_has_message(conn)) {
        /* Held back, or more to handle first: not reading for now. */
        conn->in_watch = 0;
        rpc_conn_update_input(conn);
        rpc_conn_unref(conn);
        return G_SOURCE_REMOVE;
    }
    rpc_conn_unref(conn);
    return G_SOURCE_CONTINUE;
}

static gboolean rpc_conn_writable(int fd, GIOCondition cond, void *opaque)
{
    RpcConn *conn = opaque;

    while (rpc_conn_queued(conn) > 0) {
        ssize_t n = write(fd, conn->out->data + conn->out_pos,
                          rpc_conn_queued(conn));

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            /* Written bytes go now and then, not at every write: moving
             * the rest each time would cost the length of the queue. */
            if (conn->out_pos >= RPC_OUT_COMPACT) {
                g_byte_array_remove_range(conn->out, 0, conn->out_pos);
                conn->out_pos = 0;
            }
            /* Still watched: what the streams queue goes out later. */
            rpc_conn_wake_streams(conn);
            rpc_conn_update_input(conn);
            return G_SOURCE_CONTINUE;
        }
        if (n < 0) {
            conn->out_watch = 0;
            rpc_conn_close(conn);
            return G_SOURCE_REMOVE;
        }
        conn->out_pos += n;
    }
    conn->out_watch = 0;
    if (conn->out_pos > RPC_OUT_COMPACT) {
        /* A large queue is written: give its memory back. */
        g_byte_array_unref(conn->out);
        conn->out = g_byte_array_new();
    } else {
        g_byte_array_set_size(conn->out, 0);
    }
    conn->out_pos = 0;
    if (conn->close_after_flush) {
        rpc_conn_close(conn);
        return G_SOURCE_REMOVE;
    }
    /* Queueing adds a new watch: ours is gone. */
    rpc_conn_wake_streams(conn);
    rpc_conn_update_input(conn);
    return G_SOURCE_REMOVE;
}

static gboolean rpc_conn_keepalive(void *opaque)
{
    RpcConn *conn = opaque;
    gint64 silent = g_get_monotonic_time() - conn->last_rx;
    remote_message_header ping = {
        .prog = KKEEPALIVE_PROGRAM,
        .vers = KKEEPALIVE_PROTOCOL_VERSION,
        .proc = KEEPALIVE_PROC_PING,
        .type = REMOTE_MESSAGE,
        .serial = 0,
        .status = REMOTE_OK,
    };

    if (!conn->in_watch) {
        /* We hold its input back: its pongs wait unread. */
        conn->last_rx = g_get_monotonic_time();
        return G_SOURCE_CONTINUE;
    }
    if (silent < RPC_KEEPALIVE_INTERVAL * G_USEC_PER_SEC) {
        return G_SOURCE_CONTINUE;
    }
    if (conn->ka_unanswered >= RPC_KEEPALIVE_COUNT) {
        g_message("closing a client that stopped answering keepalive");
        conn->ka_timer = 0;
        rpc_conn_close(conn);
        return G_SOURCE_REMOVE;
    }
    conn->ka_unanswered++;
    rpc_conn_queue(conn, &ping, NULL, NULL);
    return G_SOURCE_CONTINUE;
}

void rpc_conn_start_keepalive(RpcConn *conn)
{
    if (!conn->ka_timer && !conn->closed) {
        conn->ka_timer = g_timeout_add_seconds(RPC_KEEPALIVE_INTERVAL,
                                               rpc_conn_keepalive, conn);
    }
}

void rpc_conn_close_after_flush(RpcConn *conn)
{
    /* The reply of the current call is queued next; closing follows
     * once it is written. */
    conn->close_after_flush = true;
}

/*
 * Drop the connection: stop reading and writing, free the upper layer's
 * data (event registrations); pending calls keep the struct alive and
 * their replies are discarded.
 */
static void rpc_conn_close(RpcConn *conn)
{
    RpcServer *srv = conn->srv;

    if (conn->closed) {
        return;
    }
    conn->closed = true;
    if (conn->in_watch) {
        g_source_remove(conn->in_watch);
        conn->in_watch = 0;
    }
    if (conn->in_idle) {
        g_source_remove(conn->in_idle);
        conn->in_idle = 0;
        rpc_conn_unref(conn);   /* the idle source's; the server's remains */
    }
    if (conn->out_watch) {
        g_source_remove(conn->out_watch);
        conn->out_watch = 0;
    }
    if (conn->ka_timer) {
        g_source_remove(conn->ka_timer);
        conn->ka_timer = 0;
    }
    close(conn->fd);
    conn->fd = -1;
    /* The budget is given back now; the buffer too unless a message in
     * it is being handled (then it goes with the struct). */
    conn->srv->in_charged -= rpc_in_charge(conn->in_cap);
    conn->in_cap = 0;
    conn->in_pos = conn->in_len = 0;
    if (!conn->in_busy) {
        g_clear_pointer(&conn->in, g_free);
    }
    while (conn->streams) {
        RpcStream *st = conn->streams->data;

        st->ops->close(st, true, st->opaque);
        rpc_stream_free(st);
    }
    srv->conns = g_list_remove(srv->conns, conn);
    conn->listener->clients--;
    if (!conn->opened) {
        conn->listener->anonymous--;
    }
    if (srv->ops->conn_free) {
        srv->ops->conn_free(conn->data);
    }
    conn->data = NULL;
    rpc_conn_unref(conn);
    /* A descriptor is free again: try now rather than at the timer. */
    if (srv->accept_retry) {
        rpc_server_resume_accept(srv);
    }
}

/*
 * Once a second while there are clients: close those that have not opened
 * their connection (CONNECT_OPEN) within the client timeout.  What else
 * has a deadline is checked here too.
 */
static gboolean rpc_server_tick(void *opaque)
{
    RpcServer *srv = opaque;
    gint64 now = g_get_monotonic_time();
    gint64 limit = (gint64)srv->limits.client_timeout * G_USEC_PER_SEC;
    GList *l, *next;

    for (l = srv->conns; l; l = next) {
        RpcConn *conn = l->data;

        next = l->next;
        if (!conn->opened && now - conn->accepted > limit) {
            rpc_log_limited(&srv->refused_log, "closing a client that did "
                            "not open its connection within %u s",
                            srv->limits.client_timeout);
            rpc_conn_close(conn);
        } else if (conn->in_watch && conn->in_len > conn->in_pos &&
                   now - conn->in_since > limit) {
            /* Reading, and a message begun: it holds its buffer. */
            rpc_log_limited(&srv->refused_log, "closing a client that did "
                            "not finish a message within %u s",
                            srv->limits.client_timeout);
            rpc_conn_close(conn);
        }
    }
    if (!srv->conns) {
        srv->tick = 0;
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static gboolean rpc_listener_accept(int fd, GIOCondition cond,
                                    void *opaque);

static void rpc_server_resume_accept(RpcServer *srv)
{
    GList *l;

    if (srv->accept_retry) {
        g_source_remove(srv->accept_retry);
        srv->accept_retry = 0;
    }
    for (l = srv->listeners; l; l = l->next) {
        RpcListener *li = l->data;

        if (!li->watch) {
            li->watch = g_unix_fd_add(li->fd, G_IO_IN, rpc_listener_accept,
                                      li);
        }
    }
}

static gboolean rpc_server_accept_retry(void *opaque)
{
    RpcServer *srv = opaque;

    srv->accept_retry = 0;
    rpc_server_resume_accept(srv);
    return G_SOURCE_REMOVE;
}

/*
 * accept() failed for want of descriptors or memory: the pending
 * connection stays in the backlog and the socket stays readable, so
 * watching it now would spin.  Stop watching every listening socket until
 * a client goes or RPC_ACCEPT_RETRY_MS have passed.  Called from the
 * accept callback of @current, whose watch its caller removes.
 */
static void rpc_server_pause_accept(RpcServer *srv, RpcListener *current,
                                    int err)
{
    GList *l;

    if (!srv->accept_failing) {
        g_warning("cannot accept clients: %s; %u clients connected, "
                  "retrying every %d ms", g_strerror(err),
                  g_list_length(srv->conns), RPC_ACCEPT_RETRY_MS);
        srv->accept_failing = true;
    }
    for (l = srv->listeners; l; l = l->next) {
        RpcListener *li = l->data;

        if (li->watch && li != current) {
            g_source_remove(li->watch);
        }
        li->watch = 0;
    }
    if (!srv->accept_retry) {
        srv->accept_retry = g_timeout_add(RPC_ACCEPT_RETRY_MS,
                                          rpc_server_accept_retry, srv);
    }
}

static gboolean rpc_listener_accept(int fd, GIOCondition cond, void *opaque)
{
    RpcListener *l = opaque;
    RpcServer *srv = l->srv;
    RpcConn *conn;
    int cfd;

    cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (cfd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
            errno == ENOMEM) {
            rpc_server_pause_accept(srv, l, errno);
            return G_SOURCE_REMOVE;
        }
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
            rpc_log_limited(&srv->refused_log, "accept on %s: %s",
                            l->path ? l->path : "socket", g_strerror(errno));
        }
        return G_SOURCE_CONTINUE;
    }
    if (srv->accept_failing) {
        g_message("accepting clients again");
        srv->accept_failing = false;
    }
    /* Over a limit the client goes at once: left in the backlog it would
     * keep the socket readable (a spin) and hold a place in it. */
    if (l->clients >= srv->limits.max_clients ||
        l->anonymous >= srv->limits.max_anonymous_clients) {
        rpc_log_limited(&srv->refused_log,
                        "refusing a client on %s: %u clients, %u of them "
                        "not yet open (limits %u and %u)",
                        l->path ? l->path : "socket", l->clients, l->anonymous,
                        srv->limits.max_clients,
                        srv->limits.max_anonymous_clients);
        close(cfd);
        return G_SOURCE_CONTINUE;
    }

    conn = g_new0(RpcConn, 1);
    conn->srv = srv;
    conn->listener = l;
    conn->refs = 1;
    conn->fd = cfd;
    conn->socket_readonly = l->readonly;
    conn->accepted = g_get_monotonic_time();
    conn->last_rx = conn->accepted;
    conn->out = g_byte_array_new();
    conn->in_watch = g_unix_fd_add(cfd, G_IO_IN | G_IO_HUP | G_IO_ERR,
                                   rpc_conn_readable, conn);
    srv->conns = g_list_prepend(srv->conns, conn);
    l->clients++;
    l->anonymous++;
    if (!srv->tick) {
        srv->tick = g_timeout_add_seconds(1, rpc_server_tick, srv);
    }
    if (srv->ops->conn_new) {
        conn->data = srv->ops->conn_new(conn);
    }
    return G_SOURCE_CONTINUE;
}

void rpc_conn_set_opened(RpcConn *conn)
{
    if (!conn->opened) {
        conn->opened = true;
        conn->listener->anonymous--;
    }
}

RpcServer *rpc_server_new(const RpcServerOps *ops)
{
    RpcServer *srv = g_new0(RpcServer, 1);
    RpcServerLimits limits = RPC_SERVER_LIMITS_DEFAULT;

    srv->ops = ops;
    srv->limits = limits;
    return srv;
}

void rpc_server_set_limits(RpcServer *srv, const RpcServerLimits *limits)
{
    srv->limits = *limits;
    srv->limits.max_client_requests = MAX(limits->max_client_requests, 1);
    srv->limits.client_timeout = MAX(limits->client_timeout, 1);
}

static void rpc_listener_free(void *opaque)
{
    RpcListener *l = opaque;

    if (l->watch) {
        g_source_remove(l->watch);
    }
    close(l->fd);
    if (l->path) {
        unlink(l->path);
    }
    g_free(l->path);
    g_free(l);
}

void rpc_server_free(RpcServer *srv)
{
    while (srv->conns) {
        rpc_conn_close(srv->conns->data);
    }
    if (srv->tick) {
        g_source_remove(srv->tick);
    }
    if (srv->accept_retry) {
        g_source_remove(srv->accept_retry);
    }
    g_list_free_full(srv->listeners, rpc_listener_free);
    g_free(srv);
}

static void rpc_server_listen(RpcServer *srv, int fd, const char *path,
                              bool readonly)
{
    RpcListener *l = g_new0(RpcListener, 1);

    l->srv = srv;
    l->fd = fd;
    l->readonly = readonly;
    l->path = g_strdup(path);
    l->watch = g_unix_fd_add(fd, G_IO_IN, rpc_listener_accept, l);
    srv->listeners = g_list_append(srv->listeners, l);
}

bool rpc_server_add_unix(RpcServer *srv, const char *path, int mode,
                         bool readonly, GError **errp)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    g_autofree char *dir = g_path_get_dirname(path);
    int fd;

    if (strlen(path) >= sizeof(sun.sun_path)) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "socket path '%s' is too long", path);
        return false;
    }
    strcpy(sun.sun_path, path);
    if (g_mkdir_with_parents(dir, 0755) < 0) {
        g_set_error(errp, G_IO_ERROR, g_io_error_from_errno(errno),
                    "cannot create directory '%s': %s", dir,
                    g_strerror(errno));
        return false;
    }

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        g_set_error(errp, G_IO_ERROR, g_io_error_from_errno(errno),
                    "cannot create a socket: %s", g_strerror(errno));
        return false;
    }
    /* A socket file left by a daemon that died is stale: nobody listens. */
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
        close(fd);
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
                    "another daemon is already listening on '%s'", path);
        return false;
    }
    unlink(path);
    /* SOMAXCONN (the kernel caps it at net.core.somaxconn): a burst of
     * clients queues instead of failing with EAGAIN. */
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
        chmod(path, mode) < 0 || listen(fd, SOMAXCONN) < 0) {
        int saved = errno;

        close(fd);
        g_set_error(errp, G_IO_ERROR, g_io_error_from_errno(saved),
                    "cannot listen on '%s': %s", path, g_strerror(saved));
        return false;
    }
    rpc_server_listen(srv, fd, path, readonly);
    return true;
}

bool rpc_server_add_fd(RpcServer *srv, int fd, bool readonly, GError **errp)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        g_set_error(errp, G_IO_ERROR, g_io_error_from_errno(errno),
                    "inherited socket %d: %s", fd, g_strerror(errno));
        return false;
    }
    rpc_server_listen(srv, fd, NULL, readonly);
    return true;
}

void rpc_server_foreach_conn(RpcServer *srv,
                             void (*func)(RpcConn *conn, void *opaque),
                             void *opaque)
{
    GList *l, *next;

    for (l = srv->conns; l; l = next) {
        next = l->next;
        func(l->data, opaque);
    }
}

void *rpc_conn_get_data(RpcConn *conn)
{
    return conn->data;
}

bool rpc_conn_socket_readonly(RpcConn *conn)
{
    return conn->socket_readonly;
}

void rpc_conn_send_event(RpcConn *conn, int proc, xdrproc_t filter,
                         void *msg)
{
    remote_message_header hdr = {
        .prog = KREMOTE_PROGRAM,
        .vers = KREMOTE_PROTOCOL_VERSION,
        .proc = proc,
        .type = REMOTE_MESSAGE,
        .serial = 1,
        .status = REMOTE_OK,
    };

    rpc_conn_queue(conn, &hdr, filter, msg);
}
