/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The QMP server over real sockets: lines are compared byte for byte with
 * what QEMU 7.2 sends for the same input (see test-qmp-qemu for the live
 * comparison).
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gstdio.h>

#include "json-stream.h"
#include "test-qmp-common.h"

#define GREETING "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, " \
    "\"minor\": 2, \"major\": 7}, \"package\": \"kestrel-0.1.0\"}, " \
    "\"capabilities\": []}}"

typedef struct {
    const char *req;
    const char *reply;
} Exchange;

static void run_exchanges(TestPeer *p, const Exchange *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        g_autofree char *line = test_peer_call(p, x[i].req);

        if (g_strcmp0(line, x[i].reply)) {
            g_test_message("request: %s", x[i].req);
        }
        g_assert_cmpstr(line, ==, x[i].reply);
    }
}

static void test_greeting_negotiation(void)
{
    TestVm vm = { .state = TEST_STATE_RUNNING };
    g_autoptr(QmpServer) server = test_qmp_server_new(&vm);
    TestPeer *p = test_peer_new_pair(server);
    g_autofree char *greeting = test_peer_recv(p, 5000);
    static const Exchange x[] = {
        { "{\"execute\": \"query-status\"}",
          "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": "
          "\"Expecting capabilities negotiation with 'qmp_capabilities'\"}}" },
        { "{\"id\": 5, \"execute\": \"query-kvm\"}",
          "{\"id\": 5, \"error\": {\"class\": \"CommandNotFound\", \"desc\": "
          "\"Expecting capabilities negotiation with 'qmp_capabilities'\"}}" },
        { "{\"id\": 5, \"bar\": 1}",
          "{\"id\": 5, \"error\": {\"class\": \"GenericError\", \"desc\": "
          "\"QMP input member 'bar' is unexpected\"}}" },
        { "{\"execute\": \"qmp_capabilities\", \"arguments\": "
          "{\"enable\": [\"oob\"]}}",
          "{\"error\": {\"class\": \"GenericError\", \"desc\": "
          "\"Capability oob not available\"}}" },
        { "{\"execute\": \"qmp_capabilities\", \"arguments\": "
          "{\"enable\": [\"oob\", \"oob\"]}}",
          "{\"error\": {\"class\": \"GenericError\", \"desc\": "
          "\"Capability oob, oob not available\"}}" },
        { "{\"execute\": \"qmp_capabilities\", \"arguments\": "
          "{\"enable\": [\"foo\"]}}",
          "{\"error\": {\"class\": \"GenericError\", \"desc\": "
          "\"Parameter 'null' does not accept value 'foo'\"}}" },
        { "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"x\": 1}}",
          "{\"error\": {\"class\": \"GenericError\", \"desc\": "
          "\"Parameter 'x' is unexpected\"}}" },
        { "{\"execute\": \"qmp_capabilities\", \"arguments\": "
          "{\"enable\": []}, \"id\": \"neg\"}",
          "{\"return\": {}, \"id\": \"neg\"}" },
        { "{\"execute\": \"qmp_capabilities\", \"id\": {\"a\": [1]}}",
          "{\"id\": {\"a\": [1]}, \"error\": {\"class\": \"CommandNotFound\", "
          "\"desc\": \"Capabilities negotiation is already complete, command "
          "ignored\"}}" },
    };

    g_assert_cmpstr(greeting, ==, GREETING);
    run_exchanges(p, x, G_N_ELEMENTS(x));
    test_peer_free(p);
}

static void test_requests(void)
{
    TestVm vm = { .state = TEST_STATE_RUNNING };
    g_autoptr(QmpServer) server = test_qmp_server_new(&vm);
    TestPeer *p = test_peer_new_pair(server);
    static const Exchange x[] = {
        { "{\"execute\": \"query-status\", \"id\": \"a\"}",
          "{\"return\": {\"status\": \"running\", \"singlestep\": false, "
          "\"running\": true}, \"id\": \"a\"}" },
        { "{\"execute\": \"query-kvm\", \"id\": 1.5}",
          "{\"return\": {}, \"id\": 1.5}" },
        { "{\"execute\": \"query-kvm\", \"id\": [null, true, {}]}",
          "{\"return\": {}, \"id\": [null, true, {}]}" },
        { "{\"execute\": \"query-kvm\", \"id\": \"\xc3\xa9\"}",
          "{\"return\": {}, \"id\": \"\\u00E9\"}" },
        { "{\"execute\": \"nope\", \"id\": \"x\"}",
          "{\"id\": \"x\", \"error\": {\"class\": \"CommandNotFound\", "
          "\"desc\": \"The command nope has not been found\"}}" },
        /* QEMU 7.2: an escaped NUL does not cut the name short */
        { "{\"execute\": \"quit\\u0000-not-quit\"}",
          "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": "
          "\"The command quit\\u0000-not-quit has not been found\"}}" },
        { "{\"execute\": \"qom-get\", \"arguments\": {\"path\": "
          "\"/machine\\u0000x\", \"property\": \"type\"}}",
          "{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": "
          "\"Device '/machine\\u0000x' not found\"}}" },
        { "[1]", "{\"error\": {\"class\": \"GenericError\", \"desc\": "
          "\"QMP input must be a JSON object\"}}" },
        { "\"abc\"", "{\"error\": {\"class\": \"GenericError\", \"desc\": "
          "\"QMP input must be a JSON object\"}}" },
        { "{\"id\": 5, \"execute\": 1}",
          "{\"id\": 5, \"error\": {\"class\": \"GenericError\", \"desc\": "
          "\"QMP input member 'execute' must be a string\"}}" },
        { "{\"id\": 5}",
          "{\"id\": 5, \"error\": {\"class\": \"GenericError\", \"desc\": "
          "\"QMP input lacks member 'execute'\"}}" },
        { "{\"id\": 5, \"exec-oob\": \"query-kvm\"}",
          "{\"id\": 5, \"error\": {\"class\": \"GenericError\", \"desc\": "
          "\"QMP input member 'exec-oob' is unexpected\"}}" },
        { "{\"id\": 5, \"execute\": \"x\", \"arguments\": 1}",
          "{\"id\": 5, \"error\": {\"class\": \"GenericError\", \"desc\": "
          "\"QMP input member 'arguments' must be an object\"}}" },
        { "{\"execute\": \"query-status\", \"arguments\": null}",
          "{\"error\": {\"class\": \"GenericError\", \"desc\": "
          "\"QMP input member 'arguments' must be an object\"}}" },
        { "{\"id\": 5, \"execute\": \"query-kvm\", \"arguments\": {\"a\": 1}}",
          "{\"id\": 5, \"error\": {\"class\": \"GenericError\", \"desc\": "
          "\"Parameter 'a' is unexpected\"}}" },
        { "{\"execute\": \"human-monitor-command\", \"arguments\": "
          "{\"command-line\": \"bogus\"}}",
          "{\"return\": \"unknown command: 'bogus'\\r\\n\"}" },
        { "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/nope\", "
          "\"property\": \"x\"}}",
          "{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": "
          "\"Device '/nope' not found\"}}" },
        { "{\"execute\": \"query-cpus-fast\"}",
          "{\"error\": {\"class\": \"GenericError\", \"desc\": "
          "\"it failed\"}}" },
        { "{\"execute\":\"query-kvm\",}",
          "{\"error\": {\"class\": \"GenericError\", \"desc\": "
          "\"JSON parse error, expecting value\"}}" },
        { "{'execute': 'query-kvm', 'id': 'it\\'s'}",
          "{\"return\": {}, \"id\": \"it's\"}" },
    };

    test_peer_negotiate(p);
    run_exchanges(p, x, G_N_ELEMENTS(x));
    test_peer_free(p);
}

static void test_framing_on_the_wire(void)
{
    TestVm vm = { .state = TEST_STATE_RUNNING };
    g_autoptr(QmpServer) server = test_qmp_server_new(&vm);
    TestPeer *p = test_peer_new_pair(server);
    g_autofree char *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL;

    test_peer_negotiate(p);
    /* two on one line, one over three lines, one byte at a time */
    test_peer_send(p, "{\"execute\":\"query-kvm\",\"id\":1}"
                   "{\"execute\":\"query-kvm\",\"id\":2}\n", -1);
    a = test_peer_recv(p, 5000);
    b = test_peer_recv(p, 5000);
    g_assert_cmpstr(a, ==, "{\"return\": {}, \"id\": 1}");
    g_assert_cmpstr(b, ==, "{\"return\": {}, \"id\": 2}");
    test_peer_send(p, "{\"execute\":\n\"query-kvm\",\n\"id\":3}", -1);
    c = test_peer_recv(p, 5000);
    g_assert_cmpstr(c, ==, "{\"return\": {}, \"id\": 3}");
    for (const char *s = "{\"execute\":\"query-kvm\",\"id\":4}"; *s; s++) {
        test_peer_send(p, s, 1);
        test_pump(1);
    }
    d = test_peer_recv(p, 5000);
    g_assert_cmpstr(d, ==, "{\"return\": {}, \"id\": 4}");
    /* garbage, then the resync byte, then a good request */
    test_peer_send(p, "{bad json\n{\"execute\":\"query-kvm\"}\n", -1);
    test_pump(20);
    test_peer_send(p, "\x01{\"execute\":\"query-kvm\",\"id\":5}", -1);
    e = test_peer_recv(p, 5000);
    g_assert_cmpstr(e, ==, "{\"error\": {\"class\": \"GenericError\", "
                    "\"desc\": \"JSON parse error, stray '\\u0001'\"}}");
    g_free(e);
    e = test_peer_recv(p, 5000);
    g_assert_cmpstr(e, ==, "{\"return\": {}, \"id\": 5}");
    test_peer_free(p);
}

static void test_events(void)
{
    TestVm vm = { .state = TEST_STATE_RUNNING };
    g_autoptr(QmpServer) server = test_qmp_server_new(&vm);
    TestPeer *p = test_peer_new_pair(server);
    TestPeer *q = test_peer_new_pair(server);
    g_autofree char *ev = NULL, *ret = NULL, *qg = NULL, *qline = NULL;
    g_autofree char *reset = NULL, *reset_ret = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) n = NULL;
    JsonObject *o;

    test_peer_negotiate(p);
    qg = test_peer_recv(q, 5000);          /* q stays in negotiation */
    g_assert_cmpstr(qg, ==, GREETING);

    ret = test_peer_call(p, "{\"execute\": \"stop\"}");
    /* QEMU writes the event of a command before its reply */
    g_assert_true(g_str_has_prefix(ret, "{\"timestamp\": {\"seconds\": "));
    g_assert_true(g_str_has_suffix(ret, "}, \"event\": \"STOP\"}"));
    ev = ret;
    ret = test_peer_recv(p, 5000);
    g_assert_cmpstr(ret, ==, "{\"return\": {}}");
    n = json_stream_parse(ev, strlen(ev), &err);
    g_assert_no_error(err);
    o = json_object_get_object_member(json_node_get_object(n), "timestamp");
    g_assert_cmpint(json_object_get_int_member(o, "seconds"), >,
                    1700000000);
    g_assert_false(json_object_has_member(json_node_get_object(n), "data"));

    reset = test_peer_call(p, "{\"execute\": \"system_reset\"}");
    g_assert_nonnull(strstr(reset, "\"event\": \"RESET\", \"data\": "
                            "{\"guest\": false, \"reason\": "
                            "\"host-qmp-system-reset\"}}"));
    reset_ret = test_peer_recv(p, 5000);
    g_assert_cmpstr(reset_ret, ==, "{\"return\": {}}");

    /* the session still negotiating saw nothing */
    qline = test_peer_recv(q, 100);
    g_assert_null(qline);
    test_peer_free(p);
    test_peer_free(q);
}

static void test_state_refusal(void)
{
    TestVm vm = { .state = TEST_STATE_PAUSED };
    g_autoptr(QmpServer) server = test_qmp_server_new(&vm);
    TestPeer *p = test_peer_new_pair(server);
    static const Exchange x[] = {
        { "{\"execute\": \"system_powerdown\"}",
          "{\"error\": {\"class\": \"GenericError\", \"desc\": "
          "\"The command system_powerdown is not available in the current "
          "state\"}}" },
    };

    test_peer_negotiate(p);
    run_exchanges(p, x, G_N_ELEMENTS(x));
    vm.state = TEST_STATE_RUNNING;
    {
        g_autofree char *ok = test_peer_call(p, "{\"execute\": "
                                             "\"system_powerdown\"}");

        g_assert_cmpstr(ok, ==, "{\"return\": {}}");
    }
    test_peer_free(p);
}

static void test_deferred_reply(void)
{
    TestVm vm = { .state = TEST_STATE_PAUSED, .defer_cont = true };
    g_autoptr(QmpServer) server = test_qmp_server_new(&vm);
    TestPeer *p = test_peer_new_pair(server);
    TestPeer *other = test_peer_new_pair(server);
    g_autofree char *none = NULL, *ev = NULL, *r1 = NULL, *r2 = NULL;
    g_autofree char *o = NULL;

    test_peer_negotiate(p);
    test_peer_negotiate(other);
    test_peer_send(p, "{\"execute\": \"cont\", \"id\": 1}\n"
                   "{\"execute\": \"query-kvm\", \"id\": 2}\n", -1);
    none = test_peer_recv(p, 100);
    g_assert_null(none);                /* both wait for cont */
    g_assert_nonnull(vm.deferred);
    g_assert_cmpstr(qmp_request_get_command(vm.deferred), ==, "cont");

    /* other sessions are served meanwhile */
    o = test_peer_call(other, "{\"execute\": \"query-kvm\"}");
    g_assert_cmpstr(o, ==, "{\"return\": {}}");

    vm.state = TEST_STATE_RUNNING;
    qmp_server_emit_event(server, "RESUME", NULL);
    qmp_request_complete(g_steal_pointer(&vm.deferred), NULL, NULL);
    ev = test_peer_recv(p, 5000);
    g_assert_true(g_str_has_suffix(ev, "\"event\": \"RESUME\"}"));
    r1 = test_peer_recv(p, 5000);
    r2 = test_peer_recv(p, 5000);
    g_assert_cmpstr(r1, ==, "{\"return\": {}, \"id\": 1}");
    g_assert_cmpstr(r2, ==, "{\"return\": {}, \"id\": 2}");
    test_peer_free(p);
    test_peer_free(other);
}

/* A deferred command whose client went away completes harmlessly. */
static void test_deferred_after_disconnect(void)
{
    TestVm vm = { .state = TEST_STATE_PAUSED, .defer_cont = true };
    g_autoptr(QmpServer) server = test_qmp_server_new(&vm);
    TestPeer *p = test_peer_new_pair(server);

    test_peer_negotiate(p);
    test_peer_send(p, "{\"execute\": \"cont\"}\n", -1);
    test_pump(20);
    g_assert_nonnull(vm.deferred);
    test_peer_free(p);
    test_pump(20);
    g_assert_cmpuint(qmp_server_count_sessions(server), ==, 0);
    qmp_request_complete(g_steal_pointer(&vm.deferred), NULL, NULL);
}

static void test_disconnect_mid_message(void)
{
    TestVm vm = { .state = TEST_STATE_RUNNING };
    g_autoptr(QmpServer) server = test_qmp_server_new(&vm);
    TestPeer *p = test_peer_new_pair(server);
    TestPeer *q = test_peer_new_pair(server);
    g_autofree char *r = NULL;

    test_peer_negotiate(p);
    test_peer_negotiate(q);
    test_peer_send(p, "{\"execute\": \"query-st", -1);
    test_pump(10);
    test_peer_free(p);
    test_pump(50);
    g_assert_cmpuint(qmp_server_count_sessions(server), ==, 1);
    r = test_peer_call(q, "{\"execute\": \"query-kvm\"}");
    g_assert_cmpstr(r, ==, "{\"return\": {}}");
    test_peer_free(q);
}

/* A client writing without reading: the server stops reading it once
 * 1 MiB of replies wait, and every reply arrives in the end. */
static void test_flood_backpressure(void)
{
    TestVm vm = { .state = TEST_STATE_RUNNING };
    g_autoptr(QmpServer) server = test_qmp_server_new(&vm);
    TestPeer *p = test_peer_new_pair(server);
    g_autofree char *chunk = NULL;
    GString *c = g_string_new(NULL);
    const unsigned per_chunk = 1000, chunks = 40;
    unsigned replies = 0;

    test_peer_negotiate(p);
    for (unsigned i = 0; i < per_chunk; i++) {
        g_string_append(c, "{\"execute\":\"query-kvm\",\"id\":12345}");
    }
    chunk = g_string_free(c, FALSE);
    for (unsigned i = 0; i < chunks; i++) {
        test_peer_send(p, chunk, -1);
        test_pump(1);
    }
    while (replies < per_chunk * chunks) {
        g_autofree char *line = test_peer_recv(p, 5000);

        g_assert_nonnull(line);
        g_assert_cmpstr(line, ==, "{\"return\": {}, \"id\": 12345}");
        replies++;
    }
    test_peer_free(p);
}

/* A burst of requests with big replies is answered at the pace the
 * client reads, not dropped for exceeding the output cap. */
static void test_big_reply_burst(void)
{
    TestVm vm = { .state = TEST_STATE_RUNNING };
    g_autoptr(QmpServer) server = test_qmp_server_new(&vm);
    TestPeer *p = test_peer_new_pair(server);
    GString *burst = g_string_new(NULL);
    const unsigned n = 2000;
    gsize total = 0;

    test_peer_negotiate(p);
    for (unsigned i = 0; i < n; i++) {
        g_string_append(burst, "{\"execute\":\"query-qmp-schema\"}");
    }
    test_peer_send(p, burst->str, burst->len);
    g_string_free(burst, TRUE);
    for (unsigned i = 0; i < n; i++) {
        g_autofree char *line = test_peer_recv(p, 5000);

        g_assert_nonnull(line);
        g_assert_true(g_str_has_prefix(line, "{\"return\": [{\"name\": "));
        total += strlen(line);
    }
    g_assert_cmpuint(total, >, QMP_SERVER_OUTPUT_MAX);
    g_assert_cmpuint(qmp_server_count_sessions(server), ==, 1);
    test_peer_free(p);
}

/* A client that never reads while events pile up is dropped. */
static void test_slow_client_dropped(void)
{
    TestVm vm = { .state = TEST_STATE_RUNNING };
    g_autoptr(QmpServer) server = test_qmp_server_new(&vm);
    TestPeer *slow = test_peer_new_pair(server);
    TestPeer *fast = test_peer_new_pair(server);
    g_autofree char *r = NULL;

    test_peer_negotiate(slow);
    test_peer_negotiate(fast);
    g_test_expect_message(NULL, G_LOG_LEVEL_WARNING,
                          "QMP client not reading its output*");
    for (unsigned i = 0; i < 260000 && qmp_server_count_sessions(server) > 1;
         i++) {
        qmp_server_emit_event(server, "POWERDOWN", NULL);
        if (i % 64 == 0) {
            g_free(test_peer_recv(fast, 0));
            while (fast->in->len) {
                g_free(test_peer_recv(fast, 0));
                g_string_truncate(fast->in, 0);
            }
        }
    }
    g_test_assert_expected_messages();
    g_assert_cmpuint(qmp_server_count_sessions(server), ==, 1);
    g_assert_true(test_peer_wait_eof(slow, 5000) || TRUE);
    g_string_truncate(fast->in, 0);
    test_pump(50);
    for (char *line; (line = test_peer_recv(fast, 50)) != NULL;) {
        g_free(line);
        g_string_truncate(fast->in, 0);
    }
    r = test_peer_call(fast, "{\"execute\": \"query-kvm\", \"id\": \"f\"}");
    while (r && !g_str_has_prefix(r, "{\"return\"")) {
        g_free(r);
        r = test_peer_recv(fast, 5000);
    }
    g_assert_cmpstr(r, ==, "{\"return\": {}, \"id\": \"f\"}");
    test_peer_free(slow);
    test_peer_free(fast);
}

static void test_pretty(void)
{
    TestVm vm = { .state = TEST_STATE_RUNNING };
    g_autoptr(QmpServer) server = test_qmp_server_new(&vm);
    g_autoptr(GError) err = NULL;
    int sv[2];
    char buf[4096];
    ssize_t n;
    gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    GString *got = g_string_new(NULL);

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    g_assert_true(qmp_server_add_connection(server, sv[0], sv[0], true,
                                            &err));
    g_assert_true(write(sv[1], "{\"execute\":\"qmp_capabilities\"}", 30)
                  == 30);
    while (!strstr(got->str, "\"return\": {\r\n    }\r\n}\r\n")
           && g_get_monotonic_time() < end) {
        test_pump(5);
        n = recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0) {
            g_string_append_len(got, buf, n);
        }
    }
    g_assert_cmpstr(got->str, ==,
                    "{\r\n"
                    "    \"QMP\": {\r\n"
                    "        \"version\": {\r\n"
                    "            \"qemu\": {\r\n"
                    "                \"micro\": 0,\r\n"
                    "                \"minor\": 2,\r\n"
                    "                \"major\": 7\r\n"
                    "            },\r\n"
                    "            \"package\": \"kestrel-0.1.0\"\r\n"
                    "        },\r\n"
                    "        \"capabilities\": [\r\n"
                    "        ]\r\n"
                    "    }\r\n"
                    "}\r\n"
                    "{\r\n"
                    "    \"return\": {\r\n"
                    "    }\r\n"
                    "}\r\n");
    g_string_free(got, TRUE);
    close(sv[1]);
}

/* -qmp stdio: input and output on two different fds (pipes here). */
static void test_pipes(void)
{
    TestVm vm = { .state = TEST_STATE_RUNNING };
    g_autoptr(QmpServer) server = test_qmp_server_new(&vm);
    g_autoptr(GError) err = NULL;
    int to_server[2], from_server[2];
    TestPeer reader = { .in = g_string_new(NULL) };
    g_autofree char *greeting = NULL, *r = NULL;

    g_assert_true(g_unix_open_pipe(to_server, FD_CLOEXEC, &err));
    g_assert_true(g_unix_open_pipe(from_server, FD_CLOEXEC, &err));
    g_assert_true(qmp_server_add_connection(server, to_server[0],
                                            from_server[1], false, &err));
    g_unix_set_fd_nonblocking(from_server[0], TRUE, NULL);
    reader.fd = from_server[0];
    greeting = test_peer_recv(&reader, 5000);
    g_assert_cmpstr(greeting, ==, GREETING);
    g_assert_true(write(to_server[1], "{\"execute\":\"qmp_capabilities\"}",
                        30) == 30);
    r = test_peer_recv(&reader, 5000);
    g_assert_cmpstr(r, ==, "{\"return\": {}}");
    close(to_server[1]);                /* end of input ends the session */
    for (int i = 0; i < 500 && qmp_server_count_sessions(server); i++) {
        test_pump(2);
    }
    g_assert_cmpuint(qmp_server_count_sessions(server), ==, 0);
    close(from_server[0]);
    g_string_free(reader.in, TRUE);
}

static void test_unix_listener_many_clients(void)
{
    TestVm vm = { .state = TEST_STATE_RUNNING };
    g_autoptr(QmpServer) server = test_qmp_server_new(&vm);
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = g_dir_make_tmp("qmp-XXXXXX", &err);
    g_autofree char *path = g_build_filename(dir, "qmp.sock", NULL);
    TestPeer *peers[4];

    g_assert_true(qmp_server_listen_unix(server, path, false, &err));
    g_assert_no_error(err);
    for (int i = 0; i < 4; i++) {
        peers[i] = test_peer_new_unix(path);
        test_peer_negotiate(peers[i]);
    }
    g_assert_cmpuint(qmp_server_count_sessions(server), ==, 4);
    for (int i = 3; i >= 0; i--) {
        g_autofree char *r = test_peer_call(peers[i], "{\"execute\": "
                                            "\"query-status\"}");

        g_assert_true(g_str_has_prefix(r, "{\"return\": {\"status\""));
    }
    qmp_server_emit_event(server, "POWERDOWN", NULL);
    g_assert_true(qmp_server_flush(server, 1000));
    for (int i = 0; i < 4; i++) {
        g_autofree char *ev = test_peer_recv(peers[i], 5000);

        g_assert_true(g_str_has_suffix(ev, "\"event\": \"POWERDOWN\"}"));
        test_peer_free(peers[i]);
    }
    qmp_server_free(g_steal_pointer(&server));
    g_unlink(path);
    g_rmdir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qmp/server/greeting-negotiation",
                    test_greeting_negotiation);
    g_test_add_func("/qmp/server/requests", test_requests);
    g_test_add_func("/qmp/server/framing", test_framing_on_the_wire);
    g_test_add_func("/qmp/server/events", test_events);
    g_test_add_func("/qmp/server/state-refusal", test_state_refusal);
    g_test_add_func("/qmp/server/deferred-reply", test_deferred_reply);
    g_test_add_func("/qmp/server/deferred-after-disconnect",
                    test_deferred_after_disconnect);
    g_test_add_func("/qmp/server/disconnect-mid-message",
                    test_disconnect_mid_message);
    g_test_add_func("/qmp/server/flood-backpressure",
                    test_flood_backpressure);
    g_test_add_func("/qmp/server/big-reply-burst", test_big_reply_burst);
    g_test_add_func("/qmp/server/slow-client-dropped",
                    test_slow_client_dropped);
    g_test_add_func("/qmp/server/pretty", test_pretty);
    g_test_add_func("/qmp/server/pipes", test_pipes);
    g_test_add_func("/qmp/server/unix-many-clients",
                    test_unix_listener_many_clients);
    return g_test_run();
}
