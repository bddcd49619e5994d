/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Sessions and listeners of the QMP server.
 *
 * Lifetime: a session is reference counted.  The server's list holds one
 * reference, a read callback in progress holds one (the framer calls us
 * back in the middle of json_stream_feed), and a deferred command holds
 * one until it completes.  Closing detaches the session from the server
 * and its fds at once; the memory goes with the last reference.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>

#include "json-stream.h"
#include "qmp-server.h"

#define QMP_READ_CHUNK 65536

typedef struct {
    JsonNode *value;
    GError *err;
} QmpInput;

typedef struct QmpSession {
    QmpServer *server;          /* NULL once closed */
    int refs;
    int in_fd;
    int out_fd;
    bool pretty;
    bool negotiated;
    bool busy;                  /* a deferred command is running */
    bool dispatching;           /* inside qmp_dispatch */
    bool replied;               /* ... and it answered already */
    GSource *in_src;
    GIOCondition in_cond;       /* what in_src waits for */
    GSource *out_src;
    JsonStream *stream;
    GString *out;
    gsize out_pos;              /* written part of out */
    GQueue inputs;              /* QmpInput, waiting while busy */
    bool not_socket;            /* recvmsg said ENOTSOCK: plain reads */
    int passed_fd;              /* last fd sent with SCM_RIGHTS, or -1 */
} QmpSession;

typedef struct {
    QmpServer *server;
    int fd;
    bool pretty;
    GSource *src;
} QmpListener;

struct QmpServer {
    QmpDispatcher *dispatcher;
    GMainContext *context;
    GPtrArray *sessions;        /* QmpSession *, one reference each */
    GPtrArray *listeners;       /* QmpListener * */
    QmpSession *current;        /* the session whose command runs now */
};

static void session_update_sources(QmpSession *sess);
static void session_process(QmpSession *sess);

static QmpSession *session_ref(QmpSession *sess)
{
    sess->refs++;
    return sess;
}

static void qmp_input_free(QmpInput *in)
{
    if (in->value) {
        json_node_unref(in->value);
    }
    if (in->err) {
        g_error_free(in->err);
    }
    g_free(in);
}

static void session_unref(QmpSession *sess)
{
    if (--sess->refs) {
        return;
    }
    json_stream_free(sess->stream);
    g_string_free(sess->out, TRUE);
    g_queue_clear_full(&sess->inputs, (GDestroyNotify)qmp_input_free);
    g_free(sess);
}

static void source_drop(GSource **src)
{
    if (*src) {
        g_source_destroy(*src);
        g_source_unref(*src);
        *src = NULL;
    }
}

static void session_close(QmpSession *sess)
{
    QmpServer *server = sess->server;

    if (!server) {
        return;
    }
    sess->server = NULL;
    if (sess->passed_fd >= 0) {
        close(sess->passed_fd);
        sess->passed_fd = -1;
    }
    source_drop(&sess->in_src);
    source_drop(&sess->out_src);
    if (sess->in_fd > 2) {
        close(sess->in_fd);
    }
    if (sess->out_fd > 2 && sess->out_fd != sess->in_fd) {
        close(sess->out_fd);
    }
    sess->in_fd = sess->out_fd = -1;
    g_ptr_array_remove(server->sessions, sess);   /* drops the list's ref */
}

/* Write what we can without blocking; false if the session died. */
static bool session_write(QmpSession *sess)
{
    while (sess->out_pos < sess->out->len) {
        const char *p = sess->out->str + sess->out_pos;
        size_t len = sess->out->len - sess->out_pos;
        ssize_t n = send(sess->out_fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0 && errno == ENOTSOCK) {
            n = write(sess->out_fd, p, len);
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                break;
            }
            session_close(sess);
            return false;
        }
        sess->out_pos += n;
    }
    if (sess->out_pos == sess->out->len) {
        g_string_truncate(sess->out, 0);
        sess->out_pos = 0;
    } else if (sess->out_pos > QMP_SERVER_OUTPUT_HIGH) {
        g_string_erase(sess->out, 0, sess->out_pos);
        sess->out_pos = 0;
    }
    return true;
}

static void session_send(QmpSession *sess, JsonNode *msg)
{
    g_autoptr(GString) text = g_string_sized_new(128);

    if (!sess->server) {
        return;
    }
    json_stream_write(text, msg, sess->pretty);
    if (sess->pretty) {
        /* strings never hold a raw newline, so these are all line ends */
        for (gsize i = 0; i < text->len; i++) {
            if (text->str[i] == '\n') {
                g_string_append_c(sess->out, '\r');
            }
            g_string_append_c(sess->out, text->str[i]);
        }
    } else {
        g_string_append_len(sess->out, text->str, text->len);
    }
    g_string_append(sess->out, "\r\n");
    if (sess->out->len - sess->out_pos > QMP_SERVER_OUTPUT_MAX) {
        g_warning("QMP client not reading its output (%zu bytes pending), "
                  "dropping it", sess->out->len - sess->out_pos);
        session_close(sess);
        return;
    }
    if (session_write(sess)) {
        session_update_sources(sess);
    }
}

static void session_reply(JsonNode *reply, void *opaque)
{
    QmpSession *sess = opaque;

    session_send(sess, reply);
    json_node_unref(reply);
}

/*
 * Every reply comes here.  During qmp_dispatch it is an immediate answer;
 * otherwise it completes a deferred command, whose request held a
 * reference to the session.
 */
static void session_reply_cb(JsonNode *reply, void *opaque)
{
    QmpSession *sess = opaque;

    if (sess->dispatching) {
        sess->replied = true;
        session_reply(reply, sess);
        return;
    }
    sess->busy = false;
    session_reply(reply, sess);
    if (sess->server) {
        session_process(sess);
        if (sess->server) {
            session_update_sources(sess);
        }
    }
    session_unref(sess);
}

static void session_dispatch(QmpSession *sess, JsonNode *value,
                             const GError *err)
{
    QmpServer *server = sess->server;

    sess->dispatching = true;
    sess->replied = false;
    server->current = sess;
    qmp_dispatch(server->dispatcher, &sess->negotiated, value, err,
                 session_reply_cb, sess);
    server->current = NULL;
    sess->dispatching = false;
    if (!sess->replied) {
        /* deferred: reads stop until qmp_request_complete */
        sess->busy = true;
        session_ref(sess);
    }
}

static gsize session_pending_output(const QmpSession *sess)
{
    return sess->out->len - sess->out_pos;
}

/*
 * Run queued inputs until one defers, the client is behind on reading
 * (then the rest waits for POLLOUT: a burst of big replies must not hit
 * the output cap), or the session closes.
 */
static void session_process(QmpSession *sess)
{
    while (sess->server && !sess->busy && !g_queue_is_empty(&sess->inputs)
           && session_pending_output(sess) <= QMP_SERVER_OUTPUT_HIGH) {
        QmpInput *in = g_queue_pop_head(&sess->inputs);

        session_dispatch(sess, in->value, in->err);
        qmp_input_free(in);
    }
}

static void session_input(JsonNode *value, const GError *err, void *opaque)
{
    QmpSession *sess = opaque;
    QmpInput *in;

    if (!sess->server) {
        if (value) {
            json_node_unref(value);
        }
        return;
    }
    in = g_new0(QmpInput, 1);
    in->value = value;
    in->err = err ? g_error_copy(err) : NULL;
    g_queue_push_tail(&sess->inputs, in);
    session_process(sess);
}

/*
 * Read from the session; on a socket, keep a descriptor the client passed
 * with SCM_RIGHTS (libvirt's getfd), as QEMU does: the newest one wins.
 */
static ssize_t session_recv(QmpSession *sess, int fd, char *buf, size_t len)
{
    union {
        char buf[CMSG_SPACE(16 * sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = ctl.buf,
                          .msg_controllen = sizeof(ctl.buf) };
    ssize_t n;

    if (sess->not_socket) {
        return read(fd, buf, len);
    }
    n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == ENOTSOCK) {
        sess->not_socket = true;
        return read(fd, buf, len);
    }
    for (struct cmsghdr *c = n >= 0 ? CMSG_FIRSTHDR(&msg) : NULL; c;
         c = CMSG_NXTHDR(&msg, c)) {
        size_t nfds;
        int *fds;

        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        fds = (int *)CMSG_DATA(c);
        for (size_t i = 0; i < nfds; i++) {
            if (sess->passed_fd >= 0) {
                close(sess->passed_fd);
            }
            sess->passed_fd = fds[i];
        }
    }
    return n;
}

int qmp_server_take_passed_fd(QmpServer *server)
{
    QmpSession *sess = server->current;
    int fd;

    if (!sess) {
        return -1;
    }
    fd = sess->passed_fd;
    sess->passed_fd = -1;
    return fd;
}

static gboolean session_readable(int fd, GIOCondition cond, void *opaque)
{
    QmpSession *sess = opaque;
    char buf[QMP_READ_CHUNK];
    ssize_t n;

    if (!(sess->in_cond & G_IO_IN)) {
        /* not reading (busy or backed up), but the peer is gone */
        session_ref(sess);
        session_close(sess);
        session_unref(sess);
        return G_SOURCE_CONTINUE;
    }
    n = session_recv(sess, fd, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
        return G_SOURCE_CONTINUE;
    }
    session_ref(sess);
    if (n <= 0) {
        /* EOF or error: a partial message is simply dropped */
        session_close(sess);
    } else {
        json_stream_feed(sess->stream, buf, n);
        if (sess->server) {
            session_update_sources(sess);
        }
    }
    session_unref(sess);
    return G_SOURCE_CONTINUE;
}

static gboolean session_writable(int fd, GIOCondition cond, void *opaque)
{
    QmpSession *sess = opaque;

    session_ref(sess);
    if (session_write(sess)) {
        session_process(sess);
        if (sess->server) {
            session_update_sources(sess);
        }
    }
    session_unref(sess);
    return G_SOURCE_CONTINUE;
}

static GSource *fd_source(QmpServer *server, int fd, GIOCondition cond,
                          GUnixFDSourceFunc func, void *opaque)
{
    GSource *src = g_unix_fd_source_new(fd, cond);

    g_source_set_callback(src, G_SOURCE_FUNC(func), opaque, NULL);
    g_source_attach(src, server->context);
    return src;
}

/* Read when idle and not backed up; wait for POLLOUT while output waits. */
static void session_update_sources(QmpSession *sess)
{
    gsize pending = session_pending_output(sess);
    bool want_in = !sess->busy && pending <= QMP_SERVER_OUTPUT_HIGH
        && g_queue_is_empty(&sess->inputs);
    bool want_out = pending > 0;

    /* while not reading, still watch for hang-up so a vanished client
     * is noticed even during a long deferred command */
    GIOCondition in_cond = (want_in ? G_IO_IN : 0) | G_IO_HUP | G_IO_ERR;

    if (sess->in_src && sess->in_cond != in_cond) {
        source_drop(&sess->in_src);
    }
    if (!sess->in_src) {
        sess->in_cond = in_cond;
        sess->in_src = fd_source(sess->server, sess->in_fd, in_cond,
                                 session_readable, sess);
    }
    if (want_out && !sess->out_src) {
        sess->out_src = fd_source(sess->server, sess->out_fd,
                                  G_IO_OUT | G_IO_ERR, session_writable, sess);
    } else if (!want_out) {
        source_drop(&sess->out_src);
    }
}

static void session_free_from_list(void *p)
{
    session_unref(p);
}

static bool session_start(QmpServer *server, int in_fd, int out_fd,
                          bool pretty, GError **errp)
{
    QmpSession *sess;
    g_autoptr(JsonNode) greeting = NULL;

    if (!g_unix_set_fd_nonblocking(in_fd, TRUE, errp)
        || !g_unix_set_fd_nonblocking(out_fd, TRUE, errp)) {
        return false;
    }
    sess = g_new0(QmpSession, 1);
    sess->refs = 1;
    sess->server = server;
    sess->in_fd = in_fd;
    sess->out_fd = out_fd;
    sess->passed_fd = -1;
    sess->pretty = pretty;
    sess->stream = json_stream_new(session_input, sess);
    sess->out = g_string_sized_new(4096);
    g_queue_init(&sess->inputs);
    g_ptr_array_add(server->sessions, sess);

    greeting = qmp_dispatcher_greeting(server->dispatcher);
    session_ref(sess);
    session_send(sess, greeting);
    if (sess->server) {
        session_update_sources(sess);
    }
    session_unref(sess);
    return true;
}

static gboolean listener_accept(int fd, GIOCondition cond, void *opaque)
{
    QmpListener *l = opaque;
    g_autoptr(GError) err = NULL;
    int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

    if (conn < 0) {
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
            g_warning("QMP: accept failed: %s", g_strerror(errno));
        }
        return G_SOURCE_CONTINUE;
    }
    if (!session_start(l->server, conn, conn, l->pretty, &err)) {
        g_warning("QMP: cannot serve a connection: %s", err->message);
        close(conn);
    }
    return G_SOURCE_CONTINUE;
}

static void listener_free(QmpListener *l)
{
    source_drop(&l->src);
    close(l->fd);
    g_free(l);
}

QmpServer *qmp_server_new(const QmpDispatchConfig *cfg, GError **errp)
{
    QmpServer *server;
    QmpDispatcher *d = qmp_dispatcher_new(cfg, errp);

    if (!d) {
        return NULL;
    }
    server = g_new0(QmpServer, 1);
    server->dispatcher = d;
    server->context = g_main_context_ref_thread_default();
    server->sessions = g_ptr_array_new_with_free_func(session_free_from_list);
    server->listeners = g_ptr_array_new_with_free_func(
        (GDestroyNotify)listener_free);
    return server;
}

void qmp_server_free(QmpServer *server)
{
    if (!server) {
        return;
    }
    while (server->sessions->len) {
        session_close(g_ptr_array_index(server->sessions, 0));
    }
    g_ptr_array_unref(server->sessions);
    g_ptr_array_unref(server->listeners);
    qmp_dispatcher_free(server->dispatcher);
    g_main_context_unref(server->context);
    g_free(server);
}

bool qmp_server_add_listener(QmpServer *server, int fd, bool pretty,
                             GError **errp)
{
    QmpListener *l;

    if (!g_unix_set_fd_nonblocking(fd, TRUE, errp)) {
        close(fd);
        return false;
    }
    l = g_new0(QmpListener, 1);
    l->server = server;
    l->fd = fd;
    l->pretty = pretty;
    l->src = fd_source(server, fd, G_IO_IN, listener_accept, l);
    g_ptr_array_add(server->listeners, l);
    return true;
}

bool qmp_server_listen_unix(QmpServer *server, const char *path, bool pretty,
                            GError **errp)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    struct stat st;
    int fd;

    if (strlen(path) >= sizeof(addr.sun_path)) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "UNIX socket path '%s' is too long", path);
        return false;
    }
    strcpy(addr.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "Failed to create socket: %s", g_strerror(errno));
        return false;
    }
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        unlink(path);
    }
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0
        || listen(fd, 8) < 0) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "Failed to bind socket to %s: %s", path,
                    g_strerror(errno));
        close(fd);
        return false;
    }
    return qmp_server_add_listener(server, fd, pretty, errp);
}

bool qmp_server_add_connection(QmpServer *server, int in_fd, int out_fd,
                               bool pretty, GError **errp)
{
    return session_start(server, in_fd, out_fd, pretty, errp);
}

void qmp_server_emit_event(QmpServer *server, const char *name,
                           JsonObject *data)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) event = NULL;
    g_autoptr(GPtrArray) targets = NULL;

    if (!qmp_schema_check_event(qmp_dispatcher_get_schema(server->dispatcher),
                                name, data, &err)) {
        g_critical("QMP event %s does not match the schema: %s", name,
                   err->message);
    }
    event = qmp_event_new(name, data);
    /* sending may drop a session: walk a snapshot */
    targets = g_ptr_array_new_with_free_func(session_free_from_list);
    for (guint i = 0; i < server->sessions->len; i++) {
        QmpSession *sess = g_ptr_array_index(server->sessions, i);

        if (sess->negotiated) {
            g_ptr_array_add(targets, session_ref(sess));
        }
    }
    for (guint i = 0; i < targets->len; i++) {
        session_send(g_ptr_array_index(targets, i), event);
    }
}

bool qmp_server_flush(QmpServer *server, int timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + timeout_ms * 1000LL;

    for (;;) {
        g_autofree struct pollfd *fds = NULL;
        guint n = 0;
        gint64 left;

        for (guint i = 0; i < server->sessions->len;) {
            QmpSession *sess = g_ptr_array_index(server->sessions, i);

            if (session_write(sess)) {
                i++;                    /* else it was removed */
            }
        }
        fds = g_new0(struct pollfd, server->sessions->len + 1);
        for (guint i = 0; i < server->sessions->len; i++) {
            QmpSession *sess = g_ptr_array_index(server->sessions, i);

            if (sess->out->len > sess->out_pos) {
                fds[n].fd = sess->out_fd;
                fds[n].events = POLLOUT;
                n++;
            }
        }
        if (!n) {
            return true;
        }
        left = (deadline - g_get_monotonic_time()) / 1000;
        if (left <= 0) {
            return false;
        }
        if (poll(fds, n, (int)left) < 0 && errno != EINTR) {
            return false;
        }
    }
}

guint qmp_server_count_sessions(const QmpServer *server)
{
    return server->sessions->len;
}

QmpDispatcher *qmp_server_get_dispatcher(QmpServer *server)
{
    return server->dispatcher;
}
