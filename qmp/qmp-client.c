/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QMP client: one connection, replies matched by our ids.
 *
 * Lifetime: the client is reference counted internally so that a callback
 * may free it; every entry point that calls back holds a reference.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib-unix.h>

#include "json-stream.h"
#include "qmp-client.h"

typedef struct {
    QmpClient *client;
    char *id;
    char *command;
    QmpClientReplyFunc func;
    void *opaque;
    GSource *timer;
} QmpPending;

struct QmpClient {
    int refs;
    bool freed;                 /* qmp_client_free was called */
    GMainContext *context;
    int fd;
    GSource *in_src;
    GSource *out_src;
    JsonStream *stream;
    GString *out;
    JsonObject *greeting;
    bool negotiated;
    guint64 next_id;
    GHashTable *pending;        /* id -> QmpPending */
    GSource *connect_timer;
    QmpClientReadyFunc ready;
    void *ready_opaque;
    QmpClientEventFunc event;
    void *event_opaque;
    QmpClientClosedFunc closed;
    void *closed_opaque;
};

static void client_update_sources(QmpClient *c);

static QmpClient *client_ref(QmpClient *c)
{
    c->refs++;
    return c;
}

static void source_drop(GSource **src)
{
    if (*src) {
        g_source_destroy(*src);
        g_source_unref(*src);
        *src = NULL;
    }
}

static void pending_free(QmpPending *p)
{
    source_drop(&p->timer);
    g_free(p->id);
    g_free(p->command);
    g_free(p);
}

static void client_unref(QmpClient *c)
{
    if (--c->refs) {
        return;
    }
    g_hash_table_unref(c->pending);
    json_stream_free(c->stream);
    g_string_free(c->out, TRUE);
    if (c->greeting) {
        json_object_unref(c->greeting);
    }
    g_main_context_unref(c->context);
    g_free(c);
}

QmpClient *qmp_client_new(void)
{
    QmpClient *c = g_new0(QmpClient, 1);

    c->refs = 1;
    c->fd = -1;
    c->context = g_main_context_ref_thread_default();
    c->out = g_string_new(NULL);
    c->pending = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                       (GDestroyNotify)pending_free);
    return c;
}

void qmp_client_set_event_handler(QmpClient *c, QmpClientEventFunc func,
                                  void *opaque)
{
    c->event = func;
    c->event_opaque = opaque;
}

void qmp_client_set_closed_handler(QmpClient *c, QmpClientClosedFunc func,
                                   void *opaque)
{
    c->closed = func;
    c->closed_opaque = opaque;
}

/* Fail every pending command with @err. */
static void client_fail_pending(QmpClient *c, const GError *err)
{
    GHashTableIter it;
    void *value;
    g_autoptr(GPtrArray) list =
        g_ptr_array_new_with_free_func((GDestroyNotify)pending_free);

    g_hash_table_iter_init(&it, c->pending);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        g_hash_table_iter_steal(&it);
        g_ptr_array_add(list, value);
    }
    for (guint i = 0; i < list->len; i++) {
        QmpPending *p = g_ptr_array_index(list, i);

        source_drop(&p->timer);
        p->func(c, NULL, err, p->opaque);
    }
}

/* Tear the connection down; callbacks as @err says (NULL: none). */
static void client_shutdown(QmpClient *c, const GError *err, bool notify)
{
    QmpClientReadyFunc ready = c->ready;

    if (c->fd < 0) {
        return;
    }
    client_ref(c);
    source_drop(&c->in_src);
    source_drop(&c->out_src);
    source_drop(&c->connect_timer);
    close(c->fd);
    c->fd = -1;
    c->ready = NULL;
    g_string_truncate(c->out, 0);
    json_stream_reset(c->stream);
    if (ready) {
        ready(c, err, c->ready_opaque);
    }
    client_fail_pending(c, err);
    if (notify && c->closed) {
        c->closed(c, err, c->closed_opaque);
    }
    client_unref(c);
}

void qmp_client_close(QmpClient *c)
{
    g_autoptr(GError) err = g_error_new_literal(G_IO_ERROR,
                                                G_IO_ERROR_CANCELLED,
                                                "QMP connection closed");

    client_shutdown(c, err, false);
}

void qmp_client_free(QmpClient *c)
{
    if (!c || c->freed) {
        return;
    }
    c->freed = true;
    qmp_client_close(c);
    client_unref(c);
}

static void client_lost(QmpClient *c, const char *why)
{
    g_autoptr(GError) err = g_error_new(G_IO_ERROR,
                                        G_IO_ERROR_CONNECTION_CLOSED,
                                        "QMP connection closed: %s", why);

    client_shutdown(c, err, true);
}

static bool client_flush(QmpClient *c)
{
    while (c->out->len) {
        ssize_t n = send(c->fd, c->out->str, c->out->len,
                         MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return true;
            }
            client_lost(c, g_strerror(errno));
            return false;
        }
        g_string_erase(c->out, 0, n);
    }
    return true;
}

static gboolean pending_timeout(void *opaque)
{
    QmpPending *p = opaque;
    QmpClient *c = client_ref(p->client);
    g_autoptr(GError) err = g_error_new(G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                        "QMP command '%s' timed out",
                                        p->command);

    /* a late reply will find no pending entry and be ignored */
    g_hash_table_steal(c->pending, p->id);
    g_source_unref(p->timer);
    p->timer = NULL;
    p->func(c, NULL, err, p->opaque);
    pending_free(p);
    client_unref(c);
    return G_SOURCE_REMOVE;
}

typedef struct {
    QmpClientReplyFunc func;
    void *opaque;
    QmpClient *client;
} DeferredFailure;

static gboolean fail_not_connected(void *opaque)
{
    DeferredFailure *f = opaque;
    g_autoptr(GError) err = g_error_new_literal(G_IO_ERROR,
                                                G_IO_ERROR_NOT_CONNECTED,
                                                "QMP client is not connected");

    f->func(f->client, NULL, err, f->opaque);
    client_unref(f->client);
    g_free(f);
    return G_SOURCE_REMOVE;
}

void qmp_client_execute(QmpClient *c, const char *command, JsonObject *args,
                        guint timeout_ms, QmpClientReplyFunc func,
                        void *opaque)
{
    g_autoptr(JsonObject) req = json_object_new();
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
    QmpPending *p;

    if (c->fd < 0) {
        DeferredFailure *f = g_new0(DeferredFailure, 1);
        GSource *src = g_idle_source_new();

        f->func = func;
        f->opaque = opaque;
        f->client = client_ref(c);
        g_source_set_callback(src, fail_not_connected, f, NULL);
        g_source_attach(src, c->context);
        g_source_unref(src);
        return;
    }
    p = g_new0(QmpPending, 1);
    p->client = c;
    p->id = g_strdup_printf("kestrel-%" G_GUINT64_FORMAT, ++c->next_id);
    p->command = g_strdup(command);
    p->func = func;
    p->opaque = opaque;
    if (timeout_ms) {
        p->timer = g_timeout_source_new(timeout_ms);
        g_source_set_callback(p->timer, pending_timeout, p, NULL);
        g_source_attach(p->timer, c->context);
    }
    g_hash_table_insert(c->pending, p->id, p);

    json_object_set_string_member(req, "execute", command);
    if (args) {
        json_object_set_object_member(req, "arguments", json_object_ref(args));
    }
    json_object_set_string_member(req, "id", p->id);
    json_node_set_object(node, req);
    json_stream_write(c->out, node, false);
    g_string_append(c->out, "\r\n");
    client_ref(c);
    if (client_flush(c)) {
        client_update_sources(c);
    }
    client_unref(c);
}

static void negotiated_cb(QmpClient *c, JsonNode *ret, const GError *err,
                          void *opaque)
{
    QmpClientReadyFunc ready = c->ready;

    if (err) {
        g_autoptr(GError) e = g_error_copy(err);

        g_prefix_error(&e, "QMP capabilities negotiation failed: ");
        client_shutdown(c, e, false);
        return;
    }
    c->negotiated = true;
    c->ready = NULL;
    source_drop(&c->connect_timer);
    if (ready) {
        ready(c, NULL, c->ready_opaque);
    }
}

static void client_message(QmpClient *c, JsonObject *msg)
{
    JsonNode *idn = json_object_get_member(msg, "id");
    JsonNode *ev = json_object_get_member(msg, "event");
    QmpPending *p;

    if (!c->greeting) {
        JsonNode *qmp = json_object_get_member(msg, "QMP");

        if (!qmp || !JSON_NODE_HOLDS_OBJECT(qmp)) {
            client_lost(c, "the server did not greet with QMP");
            return;
        }
        c->greeting = json_object_ref(json_node_get_object(qmp));
        qmp_client_execute(c, "qmp_capabilities", NULL, 0, negotiated_cb,
                           NULL);
        return;
    }
    if (ev && JSON_NODE_HOLDS_VALUE(ev)
        && json_node_get_value_type(ev) == G_TYPE_STRING) {
        JsonNode *data = json_object_get_member(msg, "data");
        JsonNode *ts = json_object_get_member(msg, "timestamp");
        gint64 sec = -1, usec = -1;

        if (ts && JSON_NODE_HOLDS_OBJECT(ts)) {
            JsonObject *t = json_node_get_object(ts);

            sec = json_object_get_int_member_with_default(t, "seconds", -1);
            usec = json_object_get_int_member_with_default(t, "microseconds",
                                                           -1);
        }
        if (c->event) {
            c->event(c, json_node_get_string(ev),
                     data && JSON_NODE_HOLDS_OBJECT(data)
                         ? json_node_get_object(data) : NULL,
                     sec, usec, c->event_opaque);
        }
        return;
    }
    if (!idn || !JSON_NODE_HOLDS_VALUE(idn)
        || json_node_get_value_type(idn) != G_TYPE_STRING) {
        /* e.g. the error for input we never sent; nothing waits for it */
        g_debug("QMP client: ignoring a message without our id");
        return;
    }
    p = g_hash_table_lookup(c->pending, json_node_get_string(idn));
    if (!p) {
        return;                         /* timed out already */
    }
    g_hash_table_steal(c->pending, p->id);
    source_drop(&p->timer);
    if (json_object_has_member(msg, "return")) {
        p->func(c, json_object_get_member(msg, "return"), NULL, p->opaque);
    } else {
        JsonNode *e = json_object_get_member(msg, "error");
        g_autoptr(GError) err = NULL;

        if (e && JSON_NODE_HOLDS_OBJECT(e)) {
            JsonObject *eo = json_node_get_object(e);
            const char *cls = json_object_get_string_member_with_default(
                eo, "class", "GenericError");
            const char *desc = json_object_get_string_member_with_default(
                eo, "desc", "");

            err = g_error_new_literal(QMP_ERROR,
                                      qmp_error_code_from_class(cls), desc);
        } else {
            err = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_FAILED,
                                      "QMP reply has neither return nor "
                                      "error");
        }
        p->func(c, NULL, err, p->opaque);
    }
    pending_free(p);
}

static void client_input(JsonNode *value, const GError *err, void *opaque)
{
    QmpClient *c = opaque;

    if (c->fd < 0) {
        if (value) {
            json_node_unref(value);
        }
        return;
    }
    if (err || !JSON_NODE_HOLDS_OBJECT(value)) {
        g_warning("QMP client: bad message from the server: %s",
                  err ? err->message : "not an object");
    } else {
        client_message(c, json_node_get_object(value));
    }
    if (value) {
        json_node_unref(value);
    }
}

static gboolean client_readable(int fd, GIOCondition cond, void *opaque)
{
    QmpClient *c = client_ref(opaque);
    char buf[65536];
    ssize_t n = read(fd, buf, sizeof(buf));

    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        /* try again */
    } else if (n <= 0) {
        client_lost(c, n ? g_strerror(errno) : "end of file");
    } else {
        json_stream_feed(c->stream, buf, n);
    }
    client_unref(c);
    return G_SOURCE_CONTINUE;
}

static gboolean client_writable(int fd, GIOCondition cond, void *opaque)
{
    QmpClient *c = client_ref(opaque);

    if (client_flush(c)) {
        client_update_sources(c);
    }
    client_unref(c);
    return G_SOURCE_CONTINUE;
}

static void client_update_sources(QmpClient *c)
{
    if (c->fd < 0) {
        return;
    }
    if (!c->in_src) {
        c->in_src = g_unix_fd_source_new(c->fd, G_IO_IN | G_IO_HUP
                                         | G_IO_ERR);
        g_source_set_callback(c->in_src, G_SOURCE_FUNC(client_readable), c,
                              NULL);
        g_source_attach(c->in_src, c->context);
    }
    if (c->out->len && !c->out_src) {
        c->out_src = g_unix_fd_source_new(c->fd, G_IO_OUT | G_IO_ERR);
        g_source_set_callback(c->out_src, G_SOURCE_FUNC(client_writable), c,
                              NULL);
        g_source_attach(c->out_src, c->context);
    } else if (!c->out->len) {
        source_drop(&c->out_src);
    }
}

static gboolean connect_timeout(void *opaque)
{
    QmpClient *c = opaque;
    g_autoptr(GError) err = g_error_new_literal(G_IO_ERROR,
                                                G_IO_ERROR_TIMED_OUT,
                                                "QMP negotiation timed out");

    g_source_unref(c->connect_timer);
    c->connect_timer = NULL;
    client_shutdown(c, err, false);
    return G_SOURCE_REMOVE;
}

bool qmp_client_attach_fd(QmpClient *c, int fd, guint timeout_ms,
                          QmpClientReadyFunc ready, void *opaque,
                          GError **errp)
{
    if (c->fd >= 0) {
        g_set_error_literal(errp, G_IO_ERROR, G_IO_ERROR_EXISTS,
                            "QMP client is already connected");
        close(fd);
        return false;
    }
    if (!g_unix_set_fd_nonblocking(fd, TRUE, errp)) {
        close(fd);
        return false;
    }
    c->fd = fd;
    c->negotiated = false;
    if (c->greeting) {
        json_object_unref(c->greeting);
        c->greeting = NULL;
    }
    json_stream_free(c->stream);
    c->stream = json_stream_new(client_input, c);
    c->ready = ready;
    c->ready_opaque = opaque;
    if (timeout_ms) {
        c->connect_timer = g_timeout_source_new(timeout_ms);
        g_source_set_callback(c->connect_timer, connect_timeout, c, NULL);
        g_source_attach(c->connect_timer, c->context);
    }
    client_update_sources(c);
    return true;
}

bool qmp_client_connect_unix(QmpClient *c, const char *path, guint timeout_ms,
                             QmpClientReadyFunc ready, void *opaque,
                             GError **errp)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd;

    if (strlen(path) >= sizeof(addr.sun_path)) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "UNIX socket path '%s' is too long", path);
        return false;
    }
    strcpy(addr.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        int e = errno;

        g_set_error(errp, G_IO_ERROR, g_io_error_from_errno(e),
                    "Failed to connect to QMP socket %s: %s", path,
                    g_strerror(e));
        if (fd >= 0) {
            close(fd);
        }
        return false;
    }
    return qmp_client_attach_fd(c, fd, timeout_ms, ready, opaque, errp);
}

typedef struct {
    bool done;
    JsonNode *ret;
    GError *err;
} SyncWait;

static void sync_ready(QmpClient *c, const GError *err, void *opaque)
{
    SyncWait *w = opaque;

    w->done = true;
    w->err = err ? g_error_copy(err) : NULL;
}

static void sync_reply(QmpClient *c, JsonNode *ret, const GError *err,
                       void *opaque)
{
    SyncWait *w = opaque;

    w->done = true;
    w->ret = ret ? json_node_ref(ret) : NULL;
    w->err = err ? g_error_copy(err) : NULL;
}

bool qmp_client_connect_unix_sync(QmpClient *c, const char *path,
                                  guint timeout_ms, GError **errp)
{
    SyncWait w = { 0 };

    if (!qmp_client_connect_unix(c, path, timeout_ms, sync_ready, &w, errp)) {
        return false;
    }
    while (!w.done) {
        g_main_context_iteration(c->context, TRUE);
    }
    if (w.err) {
        g_propagate_error(errp, w.err);
        return false;
    }
    return true;
}

JsonNode *qmp_client_execute_sync(QmpClient *c, const char *command,
                                  JsonObject *args, guint timeout_ms,
                                  GError **errp)
{
    SyncWait w = { 0 };

    qmp_client_execute(c, command, args, timeout_ms, sync_reply, &w);
    while (!w.done) {
        g_main_context_iteration(c->context, TRUE);
    }
    if (w.err) {
        g_propagate_error(errp, w.err);
        return NULL;
    }
    return w.ret;
}

JsonObject *qmp_client_get_greeting(QmpClient *c)
{
    return c->greeting;
}

bool qmp_client_is_connected(const QmpClient *c)
{
    return c->fd >= 0;
}
