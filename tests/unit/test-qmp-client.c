/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The QMP client against our own server on a temporary UNIX socket.
 */
#include <string.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "json-stream.h"
#include "qmp-client.h"
#include "test-qmp-common.h"

typedef struct {
    TestVm vm;
    QmpServer *server;
    char *dir;
    char *path;
    QmpClient *client;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;

    f->vm.state = TEST_STATE_RUNNING;
    f->server = test_qmp_server_new(&f->vm);
    f->dir = g_dir_make_tmp("qmpc-XXXXXX", &err);
    f->path = g_build_filename(f->dir, "qmp.sock", NULL);
    g_assert_true(qmp_server_listen_unix(f->server, f->path, false, &err));
    f->client = qmp_client_new();
    g_assert_true(qmp_client_connect_unix_sync(f->client, f->path, 5000,
                                               &err));
    g_assert_no_error(err);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    qmp_client_free(f->client);
    qmp_server_free(f->server);
    g_unlink(f->path);
    g_rmdir(f->dir);
    g_free(f->path);
    g_free(f->dir);
}

static void test_basic(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) st = NULL;
    g_autoptr(JsonNode) none = NULL;
    g_autoptr(JsonObject) args = json_object_new();
    JsonObject *greeting = qmp_client_get_greeting(f->client);
    JsonObject *v;

    g_assert_nonnull(greeting);
    v = json_object_get_object_member(
        json_object_get_object_member(greeting, "version"), "qemu");
    g_assert_cmpint(json_object_get_int_member(v, "major"), ==, 7);

    st = qmp_client_execute_sync(f->client, "query-status", NULL, 5000, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(json_object_get_string_member(json_node_get_object(st),
                                                  "status"), ==, "running");

    none = qmp_client_execute_sync(f->client, "no-such", NULL, 5000, &err);
    g_assert_null(none);
    g_assert_error(err, QMP_ERROR, QMP_ERROR_COMMAND_NOT_FOUND);
    g_assert_cmpstr(err->message, ==, "The command no-such has not been found");
    g_clear_error(&err);

    json_object_set_int_member(args, "command-line", 1);
    g_assert_null(qmp_client_execute_sync(f->client, "human-monitor-command",
                                          args, 5000, &err));
    g_assert_error(err, QMP_ERROR, QMP_ERROR_GENERIC);
    g_assert_cmpstr(err->message, ==, "Invalid parameter type for "
                    "'command-line', expected: string");
}

typedef struct {
    int events;
    char *last_event;
    bool had_data;
} Counter;

static void on_event(QmpClient *c, const char *name, JsonObject *data,
                     gint64 sec, gint64 usec, void *opaque)
{
    Counter *ct = opaque;

    ct->events++;
    g_free(ct->last_event);
    ct->last_event = g_strdup(name);
    ct->had_data = data != NULL;
    g_assert_cmpint(sec, >, 0);
}


static void test_events_and_pipelining(Fixture *f, gconstpointer data)
{
    Counter ct = { 0 };
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) r = NULL;

    qmp_client_set_event_handler(f->client, on_event, &ct);
    r = qmp_client_execute_sync(f->client, "stop", NULL, 5000, &err);
    g_assert_no_error(err);
    /* the event came before the reply */
    g_assert_cmpint(ct.events, ==, 1);
    g_assert_cmpstr(ct.last_event, ==, "STOP");
    g_assert_false(ct.had_data);
    g_clear_pointer(&r, json_node_unref);
    r = qmp_client_execute_sync(f->client, "system_reset", NULL, 5000, &err);
    g_assert_cmpstr(ct.last_event, ==, "RESET");
    g_assert_true(ct.had_data);
    g_free(ct.last_event);
}

typedef struct {
    bool done;
    GError *err;
} Wait;

static void wait_reply(QmpClient *c, JsonNode *ret, const GError *err,
                       void *opaque)
{
    Wait *w = opaque;

    w->done = true;
    w->err = err ? g_error_copy(err) : NULL;
}

static void test_timeout(Fixture *f, gconstpointer data)
{
    Wait w = { 0 };
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) r = NULL;

    f->vm.defer_cont = true;
    qmp_client_execute(f->client, "cont", NULL, 100, wait_reply, &w);
    while (!w.done) {
        g_main_context_iteration(NULL, TRUE);
    }
    g_assert_error(w.err, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
    g_clear_error(&w.err);
    g_assert_nonnull(f->vm.deferred);
    /* the late reply is dropped, the next command gets its own */
    qmp_request_complete(g_steal_pointer(&f->vm.deferred), NULL, NULL);
    r = qmp_client_execute_sync(f->client, "query-kvm", NULL, 5000, &err);
    g_assert_no_error(err);
    g_assert_nonnull(r);
}

typedef struct {
    bool closed;
    GError *reason;
} Closed;

static void on_closed(QmpClient *c, const GError *reason, void *opaque)
{
    Closed *cl = opaque;

    cl->closed = true;
    cl->reason = g_error_copy(reason);
}

static void test_server_goes_away(Fixture *f, gconstpointer data)
{
    Closed cl = { 0 };
    Wait w = { 0 }, w2 = { 0 };

    f->vm.defer_cont = true;
    qmp_client_set_closed_handler(f->client, on_closed, &cl);
    qmp_client_execute(f->client, "cont", NULL, 0, wait_reply, &w);
    while (!f->vm.deferred) {
        g_main_context_iteration(NULL, TRUE);
    }
    qmp_server_free(f->server);
    f->server = NULL;
    while (!cl.closed) {
        g_main_context_iteration(NULL, TRUE);
    }
    g_assert_true(w.done);
    g_assert_error(w.err, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
    g_assert_error(cl.reason, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
    g_assert_false(qmp_client_is_connected(f->client));
    qmp_request_complete(g_steal_pointer(&f->vm.deferred), NULL, NULL);

    qmp_client_execute(f->client, "query-kvm", NULL, 0, wait_reply, &w2);
    while (!w2.done) {
        g_main_context_iteration(NULL, TRUE);
    }
    g_assert_error(w2.err, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
    g_clear_error(&w.err);
    g_clear_error(&w2.err);
    g_clear_error(&cl.reason);
}

static void free_in_callback(QmpClient *c, JsonNode *ret, const GError *err,
                             void *opaque)
{
    *(bool *)opaque = true;
    qmp_client_free(c);
}

static void test_free_in_callback(Fixture *f, gconstpointer data)
{
    bool done = false;

    qmp_client_execute(f->client, "query-kvm", NULL, 0, free_in_callback,
                       &done);
    while (!done) {
        g_main_context_iteration(NULL, TRUE);
    }
    f->client = NULL;
}

static void test_connect_refused(void)
{
    g_autoptr(QmpClient) c = qmp_client_new();
    g_autoptr(GError) err = NULL;

    g_assert_false(qmp_client_connect_unix_sync(c, "/nonexistent/qmp.sock",
                                                1000, &err));
    g_assert_nonnull(err);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/qmp/client/basic", Fixture, NULL, fixture_setup, test_basic,
               fixture_teardown);
    g_test_add("/qmp/client/events", Fixture, NULL, fixture_setup,
               test_events_and_pipelining, fixture_teardown);
    g_test_add("/qmp/client/timeout", Fixture, NULL, fixture_setup,
               test_timeout, fixture_teardown);
    g_test_add("/qmp/client/server-goes-away", Fixture, NULL, fixture_setup,
               test_server_goes_away, fixture_teardown);
    g_test_add("/qmp/client/free-in-callback", Fixture, NULL, fixture_setup,
               test_free_in_callback, fixture_teardown);
    g_test_add_func("/qmp/client/connect-refused", test_connect_refused);
    return g_test_run();
}
