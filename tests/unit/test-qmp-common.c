/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>

#include "test-qmp-common.h"

static bool stub_ok(void *ctx, JsonObject *args, JsonNode **ret,
                    GError **errp)
{
    TestVm *vm = ctx;

    vm->calls++;
    return true;
}

static bool stub_query_status(void *ctx, JsonObject *args, JsonNode **ret,
                              GError **errp)
{
    static const char *const names[] = {
        "prelaunch", "running", "paused", "shutdown",
    };
    TestVm *vm = ctx;
    JsonObject *o = json_object_new();

    json_object_set_boolean_member(o, "running",
                                   vm->state == TEST_STATE_RUNNING);
    json_object_set_boolean_member(o, "singlestep", FALSE);
    json_object_set_string_member(o, "status", names[vm->state]);
    *ret = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(*ret, o);
    return true;
}

static bool stub_stop(void *ctx, JsonObject *args, JsonNode **ret,
                      GError **errp)
{
    TestVm *vm = ctx;

    if (vm->state == TEST_STATE_RUNNING) {
        vm->state = TEST_STATE_PAUSED;
        qmp_server_emit_event(vm->server, "STOP", NULL);
    }
    return true;
}

static void stub_cont(void *ctx, JsonObject *args, QmpRequest *req)
{
    TestVm *vm = ctx;

    if (vm->defer_cont) {
        vm->deferred = req;
        return;
    }
    vm->state = TEST_STATE_RUNNING;
    qmp_server_emit_event(vm->server, "RESUME", NULL);
    qmp_request_complete(req, NULL, NULL);
}

static bool stub_system_reset(void *ctx, JsonObject *args, JsonNode **ret,
                              GError **errp)
{
    TestVm *vm = ctx;
    g_autoptr(JsonObject) data = json_object_new();

    json_object_set_boolean_member(data, "guest", FALSE);
    json_object_set_string_member(data, "reason", "host-qmp-system-reset");
    qmp_server_emit_event(vm->server, "RESET", data);
    return true;
}

static bool stub_hmp(void *ctx, JsonObject *args, JsonNode **ret,
                     GError **errp)
{
    const char *line = json_object_get_string_member(args, "command-line");
    g_autofree char *out = g_strdup_printf("unknown command: '%s'\r\n", line);

    *ret = json_node_new(JSON_NODE_VALUE);
    json_node_set_string(*ret, out);
    return true;
}

static bool stub_qom_get(void *ctx, JsonObject *args, JsonNode **ret,
                         GError **errp)
{
    g_set_error(errp, QMP_ERROR, QMP_ERROR_DEVICE_NOT_FOUND,
                "Device '%s' not found",
                json_object_get_string_member(args, "path"));
    return false;
}

static bool stub_fail(void *ctx, JsonObject *args, JsonNode **ret,
                      GError **errp)
{
    g_set_error_literal(errp, G_IO_ERROR, G_IO_ERROR_FAILED, "it failed");
    return false;
}

#define RUNNING_ONLY QMP_STATE(TEST_STATE_RUNNING)

/* Handlers with behaviour the tests check, sorted by name. */
static const QmpCommand test_qmp_stubs[] = {
    { "cont", .async_handler = stub_cont },
    { "human-monitor-command", stub_hmp },
    { "qom-get", stub_qom_get },
    { "qom-list", stub_qom_get },
    { "qom-set", stub_qom_get },
    { "query-cpus-fast", stub_fail },
    { "query-kvm", stub_ok },
    { "query-machines", stub_ok },
    { "query-name", stub_ok },
    { "query-status", stub_query_status },
    { "query-uuid", stub_ok },
    { "quit", stub_ok },
    { "stop", stub_stop },
    { "system_powerdown", stub_ok, .allowed_states = RUNNING_ONLY },
    { "system_reset", stub_system_reset },
};

static int command_cmp(const void *a, const void *b)
{
    return strcmp(((const QmpCommand *)a)->name,
                  ((const QmpCommand *)b)->name);
}

/*
 * The table the tests serve: the stubs above, plus a plain stub_ok for
 * every other command of the embedded schema, so the library's tests do
 * not break whenever the VMM's schema grows.
 */
const QmpCommand *test_qmp_table(size_t *n)
{
    static GArray *table;
    static const char *const builtin[] = {
        "qmp_capabilities", "query-commands", "query-qmp-schema",
        "query-version",
    };

    if (!table) {
        g_autoptr(GPtrArray) names =
            qmp_schema_list_commands(qmp_schema_get_default());

        table = g_array_new(FALSE, TRUE, sizeof(QmpCommand));
        g_array_append_vals(table, test_qmp_stubs,
                            G_N_ELEMENTS(test_qmp_stubs));
        for (guint i = 0; i < names->len; i++) {
            const char *name = g_ptr_array_index(names, i);
            bool have = false;

            for (gsize j = 0; j < G_N_ELEMENTS(builtin); j++) {
                have = have || !strcmp(builtin[j], name);
            }
            for (gsize j = 0; j < G_N_ELEMENTS(test_qmp_stubs); j++) {
                have = have || !strcmp(test_qmp_stubs[j].name, name);
            }
            if (!have) {
                QmpCommand c = { g_strdup(name), stub_ok, NULL, 0 };

                g_array_append_val(table, c);
            }
        }
        g_array_sort(table, command_cmp);
    }
    if (n) {
        *n = table->len;
    }
    return (const QmpCommand *)(void *)table->data;
}

static guint32 test_state(void *ctx)
{
    return ((TestVm *)ctx)->state;
}

QmpServer *test_qmp_server_new(TestVm *vm)
{
    g_autoptr(GError) err = NULL;
    size_t n;
    const QmpCommand *table = test_qmp_table(&n);
    QmpDispatchConfig cfg = {
        .commands = table,
        .n_commands = n,
        .ctx = vm,
        .current_state = test_state,
        .version_major = 7,
        .version_minor = 2,
        .version_micro = 0,
        .package = "kestrel-0.1.0",
    };
    QmpServer *server = qmp_server_new(&cfg, &err);

    g_assert_no_error(err);
    vm->server = server;
    return server;
}

static TestPeer *peer_new(int fd)
{
    TestPeer *p = g_new0(TestPeer, 1);

    g_unix_set_fd_nonblocking(fd, TRUE, NULL);
    p->fd = fd;
    p->in = g_string_new(NULL);
    return p;
}

TestPeer *test_peer_new_pair(QmpServer *server)
{
    int sv[2];
    g_autoptr(GError) err = NULL;

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                    ==, 0);
    g_assert_true(qmp_server_add_connection(server, sv[0], sv[0], false,
                                            &err));
    g_assert_no_error(err);
    return peer_new(sv[1]);
}

TestPeer *test_peer_new_unix(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
    g_assert_cmpint(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), ==,
                    0);
    return peer_new(fd);
}

void test_peer_free(TestPeer *p)
{
    if (!p) {
        return;
    }
    if (p->fd >= 0) {
        close(p->fd);
    }
    g_string_free(p->in, TRUE);
    g_free(p);
}

void test_peer_send(TestPeer *p, const char *bytes, gssize len)
{
    size_t off = 0;

    if (len < 0) {
        len = strlen(bytes);
    }
    while (off < (size_t)len) {
        ssize_t n = send(p->fd, bytes + off, len - off, MSG_NOSIGNAL);

        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            g_main_context_iteration(NULL, FALSE);
            continue;
        }
        g_assert_cmpint(n, >, 0);
        off += n;
    }
}

static gboolean flag_timeout(void *opaque)
{
    *(bool *)opaque = true;
    return G_SOURCE_REMOVE;
}

/* Read what is there; false on EOF. */
static bool peer_fill(TestPeer *p)
{
    char buf[65536];

    for (;;) {
        ssize_t n = read(p->fd, buf, sizeof(buf));

        if (n > 0) {
            g_string_append_len(p->in, buf, n);
            continue;
        }
        return !(n == 0 || (errno != EAGAIN && errno != EINTR));
    }
}

char *test_peer_recv(TestPeer *p, int timeout_ms)
{
    bool expired = false;
    guint timer = g_timeout_add(timeout_ms, flag_timeout, &expired);
    char *line = NULL;

    for (;;) {
        char *crlf = strstr(p->in->str, "\r\n");
        bool alive;

        if (crlf) {
            line = g_strndup(p->in->str, crlf - p->in->str);
            g_string_erase(p->in, 0, crlf - p->in->str + 2);
            break;
        }
        alive = peer_fill(p);
        if (strstr(p->in->str, "\r\n")) {
            continue;
        }
        if (!alive || expired) {
            break;
        }
        g_main_context_iteration(NULL, FALSE);
        g_usleep(200);
    }
    if (!expired) {
        g_source_remove(timer);
    }
    return line;
}

bool test_peer_wait_eof(TestPeer *p, int timeout_ms)
{
    gint64 end = g_get_monotonic_time() + timeout_ms * 1000LL;

    while (g_get_monotonic_time() < end) {
        if (!peer_fill(p)) {
            return true;
        }
        g_main_context_iteration(NULL, FALSE);
        g_usleep(200);
    }
    return false;
}

void test_peer_negotiate(TestPeer *p)
{
    g_autofree char *greeting = test_peer_recv(p, 5000);
    g_autofree char *reply = NULL;

    g_assert_nonnull(greeting);
    g_assert_true(g_str_has_prefix(greeting, "{\"QMP\": "));
    reply = test_peer_call(p, "{\"execute\": \"qmp_capabilities\"}");
    g_assert_cmpstr(reply, ==, "{\"return\": {}}");
}

char *test_peer_call(TestPeer *p, const char *req)
{
    test_peer_send(p, req, -1);
    test_peer_send(p, "\n", 1);
    return test_peer_recv(p, 5000);
}

void test_pump(int ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000LL;

    while (g_get_monotonic_time() < end) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(500);
    }
}
