/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Oracle test: the same bytes go to a real QEMU (Debian 12: 7.2) and to
 * our server with the stub table; error replies must be identical lines,
 * successful ones the same shape; and our query-qmp-schema must describe
 * every command and event exactly as QEMU's does.  Skipped when
 * qemu-system-x86_64 is not installed.
 */
#include <string.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "json-stream.h"
#include "qmp-client.h"
#include "test-qmp-common.h"

typedef struct {
    GSubprocess *qemu;
    char *dir;
    char *path;
} Qemu;

static bool qemu_start(Qemu *q)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *bin = g_find_program_in_path("qemu-system-x86_64");
    g_autofree char *qmparg = NULL;

    if (!bin) {
        return false;
    }
    q->dir = g_dir_make_tmp("qmpq-XXXXXX", &err);
    q->path = g_build_filename(q->dir, "qmp.sock", NULL);
    qmparg = g_strdup_printf("unix:%s,server=on,wait=off", q->path);
    q->qemu = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE
                               | G_SUBPROCESS_FLAGS_STDERR_SILENCE, &err,
                               bin, "-machine", "none", "-nodefaults",
                               "-display", "none", "-qmp", qmparg, NULL);
    g_assert_no_error(err);
    for (int i = 0; i < 3000 && !g_file_test(q->path, G_FILE_TEST_EXISTS);
         i++) {
        g_usleep(10000);
    }
    g_assert_true(g_file_test(q->path, G_FILE_TEST_EXISTS));
    return true;
}

static void qemu_stop(Qemu *q)
{
    g_subprocess_force_exit(q->qemu);
    g_subprocess_wait(q->qemu, NULL, NULL);
    g_object_unref(q->qemu);
    g_unlink(q->path);
    g_rmdir(q->dir);
    g_free(q->path);
    g_free(q->dir);
}

typedef enum {
    SAME_LINE,          /* byte for byte */
    SAME_SHAPE,         /* both a return, same id */
} Compare;

typedef struct {
    const char *input;
    Compare how;
} Probe;

static const Probe negotiation_probes[] = {
    { "{\"execute\":\"query-status\"}", SAME_LINE },
    { "{\"id\":5,\"execute\":\"query-kvm\"}", SAME_LINE },
    { "{\"id\":5,\"bar\":1}", SAME_LINE },
    { "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[\"foo\"]}}",
      SAME_LINE },
    { "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":\"foo\"}}",
      SAME_LINE },
    { "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"x\":1}}",
      SAME_LINE },
    { "[1]", SAME_LINE },
    { "\"abc\"", SAME_LINE },
    { "{\"id\":5,\"exec-oob\":\"query-kvm\"}", SAME_LINE },
    { "{\"id\":5,\"execute\":1}", SAME_LINE },
    { "{\"id\":5}", SAME_LINE },
    { "{\"execute\":\"qmp_capabilities\",\"id\":\"n\"}", SAME_LINE },
};

static const Probe command_probes[] = {
    { "{\"execute\":\"qmp_capabilities\",\"id\":{\"a\":[1]}}", SAME_LINE },
    { "{\"execute\":\"nope\",\"id\":\"x\"}", SAME_LINE },
    { "{\"execute\":\"human-monitor-command\",\"arguments\":{}}", SAME_LINE },
    { "{\"execute\":\"human-monitor-command\",\"arguments\":"
      "{\"command-line\":1}}", SAME_LINE },
    { "{\"execute\":\"human-monitor-command\",\"arguments\":"
      "{\"command-line\":null}}", SAME_LINE },
    { "{\"execute\":\"human-monitor-command\",\"arguments\":"
      "{\"command-line\":\"info kvm\",\"cpu-index\":\"a\"}}", SAME_LINE },
    { "{\"execute\":\"human-monitor-command\",\"arguments\":"
      "{\"command-line\":\"info kvm\",\"cpu-index\":1.5}}", SAME_LINE },
    { "{\"execute\":\"human-monitor-command\",\"arguments\":"
      "{\"command-line\":\"bogus\"},\"id\":[1,2.5,\"\xc3\xa9\"]}",
      SAME_LINE },
    { "{\"id\":5,\"execute\":\"query-kvm\",\"arguments\":{\"a\":1}}",
      SAME_LINE },
    { "{\"id\":5,\"execute\":\"x\",\"arguments\":1}", SAME_LINE },
    { "{\"execute\":\"query-status\",\"arguments\":null}", SAME_LINE },
    { "{\"id\":5,\"execute\":\"query-kvm\",\"exec-oob\":\"query-kvm\"}",
      SAME_LINE },
    { "{\"execute\":\"qom-set\",\"arguments\":{\"path\":\"/machine\","
      "\"property\":\"x\"}}", SAME_LINE },
    { "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/nope\","
      "\"property\":\"x\"}}", SAME_LINE },
    { "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/nope\"}}",
      SAME_LINE },
    { "{\"execute\":\"query-kvm\",}", SAME_LINE },
    { "{\"execute\":\"query-kvm\",\"execute\":\"query-name\"}", SAME_LINE },
    { "{\"execute\" \"x\"}", SAME_LINE },
    { "{1:2}", SAME_LINE },
    { "[1 2]", SAME_LINE },
    { "{\"a\":1 \"b\":2}", SAME_LINE },
    { "{\"execute\":\"query-kvm\",\"id\":\"\\q\"}", SAME_LINE },
    { "{\"execute\":\"query-kvm\",\"id\":\"\\ud800\"}", SAME_LINE },
    { "{\"execute\":\"query-kvm\",\"id\":\"\xc3\"}", SAME_LINE },
    { "{\"execute\":\"query-kvm\",\"id\":tru}", SAME_LINE },
    { "}", SAME_LINE },
    { "\x01", SAME_LINE },
    { "{\"execute\":\"query-kvm\",\"id\":0.1}", SAME_SHAPE },
    { "{'execute':'query-kvm','id':'it\\'s'}", SAME_SHAPE },
    { "{\"execute\":\"query-status\",\"id\":1}", SAME_SHAPE },
    { "{\"execute\":\"stop\"}", SAME_SHAPE },
};

static char *next_reply(TestPeer *p)
{
    for (;;) {
        char *line = test_peer_recv(p, 30000);

        g_assert_nonnull(line);
        if (!strstr(line, "\"event\": ")) {
            return line;
        }
        g_free(line);
    }
}

static void run_probes(TestPeer *qemu, TestPeer *ours, const Probe *probes,
                       size_t n)
{
    for (size_t i = 0; i < n; i++) {
        g_autofree char *a = NULL, *b = NULL;

        test_peer_send(qemu, probes[i].input, -1);
        test_peer_send(qemu, "\n", 1);
        test_peer_send(ours, probes[i].input, -1);
        test_peer_send(ours, "\n", 1);
        a = next_reply(qemu);
        b = next_reply(ours);
        g_test_message("in:   %s\nqemu: %s\nours: %s", probes[i].input, a, b);
        if (probes[i].how == SAME_LINE) {
            g_assert_cmpstr(b, ==, a);
        } else {
            const char *ida = strstr(a, "\"id\": ");
            const char *idb = strstr(b, "\"id\": ");

            g_assert_true(g_str_has_prefix(a, "{\"return\": "));
            g_assert_true(g_str_has_prefix(b, "{\"return\": "));
            g_assert_cmpstr(idb, ==, ida);
        }
    }
}

static void test_error_texts_match_qemu(void)
{
    Qemu q = { 0 };
    TestVm vm = { .state = TEST_STATE_RUNNING };
    g_autoptr(QmpServer) server = NULL;
    TestPeer *qp, *op;
    g_autofree char *qg = NULL, *og = NULL;

    if (!qemu_start(&q)) {
        g_test_message("missing prerequisite (./dev.sh setup installs it): "
                       "qemu-system-x86_64 not installed");
        g_test_fail();
        return;
    }
    server = test_qmp_server_new(&vm);
    qp = test_peer_new_unix(q.path);
    op = test_peer_new_pair(server);
    qg = test_peer_recv(qp, 30000);
    og = test_peer_recv(op, 30000);
    g_test_message("qemu greeting: %s\nour greeting:  %s", qg, og);
    g_assert_true(g_str_has_prefix(qg, "{\"QMP\": {\"version\": {\"qemu\": "
                                   "{\"micro\": "));
    g_assert_true(g_str_has_prefix(og, "{\"QMP\": {\"version\": {\"qemu\": "
                                   "{\"micro\": "));
    run_probes(qp, op, negotiation_probes, G_N_ELEMENTS(negotiation_probes));
    run_probes(qp, op, command_probes, G_N_ELEMENTS(command_probes));
    test_peer_free(qp);
    test_peer_free(op);
    qemu_stop(&q);
}

/* ---- schema comparison ---------------------------------------------- */

static GHashTable *index_schema(JsonNode *schema)
{
    GHashTable *h = g_hash_table_new(g_str_hash, g_str_equal);
    JsonArray *a = json_node_get_array(schema);

    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);

        g_hash_table_insert(h, (char *)json_object_get_string_member(o,
                                                                     "name"),
                            o);
    }
    return h;
}

static void append_features(GString *out, JsonObject *o)
{
    if (json_object_has_member(o, "features")) {
        JsonArray *f = json_object_get_array_member(o, "features");

        g_string_append(out, " features(");
        for (guint i = 0; i < json_array_get_length(f); i++) {
            g_string_append_printf(out, "%s,",
                                   json_array_get_string_element(f, i));
        }
        g_string_append(out, ")");
    }
}

/* A name-free rendering of a type, so masked names do not matter. */
static void canon(GHashTable *h, const char *name, GString *out, int depth)
{
    JsonObject *o = g_hash_table_lookup(h, name);
    const char *meta;

    if (!o || depth > 12) {
        g_string_append_printf(out, "?%s", o ? "deep" : name);
        return;
    }
    meta = json_object_get_string_member(o, "meta-type");
    if (!strcmp(meta, "builtin")) {
        g_string_append(out, name);
    } else if (!strcmp(meta, "array")) {
        g_string_append_c(out, '[');
        canon(h, json_object_get_string_member(o, "element-type"), out,
              depth + 1);
        g_string_append_c(out, ']');
    } else if (!strcmp(meta, "enum")) {
        JsonArray *v = json_object_get_array_member(o, "values");

        g_string_append(out, "enum(");
        for (guint i = 0; i < json_array_get_length(v); i++) {
            g_string_append_printf(out, "%s,",
                                   json_array_get_string_element(v, i));
        }
        g_string_append_c(out, ')');
    } else if (!strcmp(meta, "object")) {
        JsonArray *m = json_object_get_array_member(o, "members");

        g_string_append_c(out, '{');
        for (guint i = 0; i < json_array_get_length(m); i++) {
            JsonObject *mo = json_array_get_object_element(m, i);

            g_string_append_printf(out, "%s%s:",
                                   json_object_get_string_member(mo, "name"),
                                   json_object_has_member(mo, "default")
                                       ? "?" : "");
            canon(h, json_object_get_string_member(mo, "type"), out,
                  depth + 1);
            append_features(out, mo);
            g_string_append_c(out, ',');
        }
        if (json_object_has_member(o, "tag")) {
            JsonArray *v = json_object_get_array_member(o, "variants");

            g_string_append_printf(out, " tag=%s",
                                   json_object_get_string_member(o, "tag"));
            for (guint i = 0; i < json_array_get_length(v); i++) {
                JsonObject *vo = json_array_get_object_element(v, i);

                g_string_append_printf(out, " %s=",
                                       json_object_get_string_member(vo,
                                                                     "case"));
                canon(h, json_object_get_string_member(vo, "type"), out,
                      depth + 1);
            }
        }
        g_string_append_c(out, '}');
    } else {
        g_string_append_printf(out, "?%s", meta);
    }
    append_features(out, o);
}

static char *canon_entity(GHashTable *h, JsonObject *e)
{
    GString *out = g_string_new(json_object_get_string_member(e,
                                                              "meta-type"));

    g_string_append(out, " args=");
    canon(h, json_object_get_string_member(e, "arg-type"), out, 0);
    if (json_object_has_member(e, "ret-type")) {
        g_string_append(out, " ret=");
        canon(h, json_object_get_string_member(e, "ret-type"), out, 0);
    }
    if (json_object_has_member(e, "allow-oob")) {
        g_string_append(out, " oob");
    }
    append_features(out, e);
    return g_string_free(out, FALSE);
}

/*
 * Commands and events whose schema must equal QEMU 7.2's exactly: the
 * control surface clients use as QEMU defines it. Others (the answers to
 * libvirt's probe, e.g. object-add with only qom-type 'secret', block
 * queries without block devices) are narrowed on purpose to what kestrel
 * implements; for them QEMU need only have the same command.
 */
static const char *const exact_entities[] = {
    "BALLOON_CHANGE", "MIGRATION", "MIGRATION_PASS", "POWERDOWN", "RESET",
    "RESUME", "SHUTDOWN", "STOP",
    "balloon", "closefd", "cont", "getfd", "human-monitor-command",
    "migrate", "migrate-continue", "migrate-incoming",
    "migrate-set-capabilities", "migrate_cancel", "qmp_capabilities",
    "qom-get", "qom-list", "qom-set", "query-balloon", "query-commands",
    "query-migrate", "query-migrate-capabilities",
    "query-migrate-parameters",
    "query-cpus-fast", "query-kvm", "query-machines", "query-name",
    "query-status", "query-uuid", "query-version", "quit", "stop",
    "system_powerdown", "system_reset",
};

static bool must_be_exact(const char *name)
{
    for (gsize i = 0; i < G_N_ELEMENTS(exact_entities); i++) {
        if (!strcmp(exact_entities[i], name)) {
            return true;
        }
    }
    return false;
}

static void test_schema_matches_qemu(void)
{
    Qemu q = { 0 };
    g_autoptr(QmpClient) c = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) theirs = NULL;
    g_autoptr(JsonNode) ours = qmp_schema_introspect(qmp_schema_get_default());
    g_autoptr(GHashTable) th = NULL, oh = NULL;
    JsonArray *a = json_node_get_array(ours);
    unsigned compared = 0;

    if (!qemu_start(&q)) {
        g_test_message("missing prerequisite (./dev.sh setup installs it): "
                       "qemu-system-x86_64 not installed");
        g_test_fail();
        return;
    }
    c = qmp_client_new();
    g_assert_true(qmp_client_connect_unix_sync(c, q.path, 30000, &err));
    g_assert_no_error(err);
    theirs = qmp_client_execute_sync(c, "query-qmp-schema", NULL, 10000,
                                     &err);
    g_assert_no_error(err);
    th = index_schema(theirs);
    oh = index_schema(ours);

    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *e = json_array_get_object_element(a, i);
        const char *name = json_object_get_string_member(e, "name");
        const char *meta = json_object_get_string_member(e, "meta-type");
        JsonObject *te;
        g_autofree char *co = NULL, *ct = NULL;

        if (strcmp(meta, "command") && strcmp(meta, "event")) {
            continue;
        }
        if (!strcmp(name, "query-qmp-schema")) {
            continue;   /* we describe SchemaInfo's common members only */
        }
        te = g_hash_table_lookup(th, name);
        g_assert_nonnull(te);
        if (!must_be_exact(name)) {
            continue;       /* QEMU has it; ours may be narrower */
        }
        co = canon_entity(oh, e);
        ct = canon_entity(th, te);
        if (strcmp(co, ct)) {
            g_test_message("%s\nqemu: %s\nours: %s", name, ct, co);
        }
        g_assert_cmpstr(co, ==, ct);
        compared++;
    }
    g_assert_cmpuint(compared, >=, 23);
    qmp_client_free(g_steal_pointer(&c));
    qemu_stop(&q);
}

/* The client works against QEMU, events included. */
static void test_client_against_qemu(void)
{
    Qemu q = { 0 };
    g_autoptr(QmpClient) c = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) v = NULL, st = NULL, bad = NULL, stop = NULL;
    JsonObject *qemu;

    if (!qemu_start(&q)) {
        g_test_message("missing prerequisite (./dev.sh setup installs it): "
                       "qemu-system-x86_64 not installed");
        g_test_fail();
        return;
    }
    c = qmp_client_new();
    g_assert_true(qmp_client_connect_unix_sync(c, q.path, 30000, &err));
    v = qmp_client_execute_sync(c, "query-version", NULL, 30000, &err);
    g_assert_no_error(err);
    qemu = json_object_get_object_member(json_node_get_object(v), "qemu");
    g_assert_cmpint(json_object_get_int_member(qemu, "major"), >=, 7);
    st = qmp_client_execute_sync(c, "query-status", NULL, 5000, &err);
    g_assert_no_error(err);
    g_assert_true(json_object_has_member(json_node_get_object(st), "status"));
    bad = qmp_client_execute_sync(c, "no-such-command", NULL, 5000, &err);
    g_assert_error(err, QMP_ERROR, QMP_ERROR_COMMAND_NOT_FOUND);
    g_assert_cmpstr(err->message, ==,
                    "The command no-such-command has not been found");
    g_clear_error(&err);
    stop = qmp_client_execute_sync(c, "stop", NULL, 5000, &err);
    g_assert_no_error(err);
    qmp_client_free(g_steal_pointer(&c));
    qemu_stop(&q);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qmp/qemu/error-texts", test_error_texts_match_qemu);
    g_test_add_func("/qmp/qemu/schema", test_schema_matches_qemu);
    g_test_add_func("/qmp/qemu/client", test_client_against_qemu);
    return g_test_run();
}
