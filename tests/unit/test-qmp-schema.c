/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The schema: it parses, the command table check works, arguments are
 * checked with QEMU 7.2's texts (as answered by its QMP socket), and
 * introspection has QEMU's shape.
 */
#include <string.h>

#include "json-stream.h"
#include "qmp-dispatch.h"
#include "test-qmp-common.h"

static JsonObject *obj(const char *text)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) n = json_stream_parse(text, strlen(text), &err);

    g_assert_no_error(err);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(n));
    return json_object_ref(json_node_get_object(n));
}

static JsonNode *node(const char *text)
{
    g_autoptr(GError) err = NULL;
    JsonNode *n = json_stream_parse(text, strlen(text), &err);

    g_assert_no_error(err);
    return n;
}

static void test_default_parses(void)
{
    const QmpSchema *s = qmp_schema_get_default();
    static const char *const commands[] = {
        "qmp_capabilities", "query-version", "query-commands",
        "query-qmp-schema", "query-status", "stop", "cont", "system_reset",
        "system_powerdown", "quit", "query-name", "query-uuid", "query-kvm",
        "query-cpus-fast", "query-machines", "human-monitor-command",
        "qom-list", "qom-get", "qom-set",
    };
    static const char *const events[] = {
        "STOP", "RESUME", "RESET", "POWERDOWN", "SHUTDOWN",
    };
    g_autoptr(GPtrArray) cl = qmp_schema_list_commands(s);
    g_autoptr(GPtrArray) el = qmp_schema_list_events(s);

    for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
        g_assert_true(qmp_schema_has_command(s, commands[i]));
    }
    for (gsize i = 0; i < G_N_ELEMENTS(events); i++) {
        g_assert_true(qmp_schema_has_event(s, events[i]));
    }
    /* The VMM's schema grows issue by issue: at least these. */
    g_assert_cmpuint(cl->len, >=, G_N_ELEMENTS(commands));
    g_assert_cmpuint(el->len, >=, G_N_ELEMENTS(events));
}

/* The stub table of the tests must cover the schema exactly; so must the
 * VMM's own table (src/ has its own copy of this check). */
static void test_table_matches_schema(void)
{
    g_autoptr(GError) err = NULL;
    const QmpSchema *s = qmp_schema_get_default();
    size_t n;
    const QmpCommand *table = test_qmp_table(&n);
    g_autofree QmpCommand *bad = g_new0(QmpCommand, n + 1);
    g_autofree char *missing = NULL;

    g_assert_true(qmp_dispatch_check_table(s, table, n, &err));
    g_assert_no_error(err);

    /* one missing */
    g_assert_false(qmp_dispatch_check_table(s, table + 1, n - 1, &err));
    missing = g_strdup_printf("schema command '%s' has no handler",
                              table[0].name);
    g_assert_nonnull(strstr(err->message, missing));
    g_clear_error(&err);

    /* one extra, out of order */
    memcpy(bad, table, sizeof(QmpCommand) * n);
    bad[n] = bad[0];
    bad[n].name = "aaa-bogus";
    g_assert_false(qmp_dispatch_check_table(s, bad, n + 1, &err));
    g_assert_nonnull(strstr(err->message, "'aaa-bogus' is out of order"));
    g_assert_nonnull(strstr(err->message, "'aaa-bogus' is not in the "
                                          "schema"));
    g_clear_error(&err);
}

typedef struct {
    const char *command;
    const char *args;           /* NULL: none */
    const char *error;          /* NULL: valid */
} ArgCase;

static const ArgCase default_cases[] = {
    { "query-status", NULL, NULL },
    { "query-status", "{}", NULL },
    { "query-kvm", "{\"a\": 1}", "Parameter 'a' is unexpected" },
    { "human-monitor-command", "{}", "Parameter 'command-line' is missing" },
    { "human-monitor-command", "{\"command-line\": 1}",
      "Invalid parameter type for 'command-line', expected: string" },
    { "human-monitor-command", "{\"command-line\": null}",
      "Invalid parameter type for 'command-line', expected: string" },
    { "human-monitor-command", "{\"command-line\": \"x\", \"cpu-index\": \"a\"}",
      "Invalid parameter type for 'cpu-index', expected: integer" },
    { "human-monitor-command", "{\"command-line\": \"x\", \"cpu-index\": 1.5}",
      "Invalid parameter type for 'cpu-index', expected: integer" },
    { "human-monitor-command", "{\"command-line\": \"x\", \"cpu-index\": 1}",
      NULL },
    { "qmp_capabilities", "{\"x\": 1}", "Parameter 'x' is unexpected" },
    { "qmp_capabilities", "{\"enable\": \"foo\"}",
      "Invalid parameter type for 'enable', expected: array" },
    /* QEMU names enum values inside arrays 'null' */
    { "qmp_capabilities", "{\"enable\": [\"foo\"]}",
      "Parameter 'null' does not accept value 'foo'" },
    { "qmp_capabilities", "{\"enable\": [\"oob\"]}", NULL },
    { "qom-set", "{\"path\": \"/machine\", \"property\": \"x\"}",
      "Parameter 'value' is missing" },
    { "qom-set", "{\"path\": \"/machine\", \"property\": \"x\", "
      "\"value\": null}", NULL },
    /* missing comes before unexpected, in member order */
    { "qom-get", "{\"zzz\": 1}", "Parameter 'path' is missing" },
};

static void test_args_default(void)
{
    const QmpSchema *s = qmp_schema_get_default();

    for (gsize i = 0; i < G_N_ELEMENTS(default_cases); i++) {
        const ArgCase *c = &default_cases[i];
        g_autoptr(GError) err = NULL;
        g_autoptr(JsonObject) args = c->args ? obj(c->args) : NULL;
        bool ok = qmp_schema_check_args(s, c->command, args, &err);

        if (!c->error) {
            g_assert_no_error(err);
            g_assert_true(ok);
        } else {
            g_assert_false(ok);
            g_assert_error(err, QMP_ERROR, QMP_ERROR_GENERIC);
            g_assert_cmpstr(err->message, ==, c->error);
        }
    }
}

/* Nested structs in arrays, like migrate-set-capabilities (texts from
 * QEMU 7.2 for that command), in QAPI syntax with comments. */
static const char nested_schema[] =
    "# a comment\n"
    "{ 'enum': 'Cap', 'data': [ 'events', 'xbzrle' ] }\n"
    "{ 'struct': 'CapStatus', 'data': { 'capability': 'Cap', "
    "  'state': 'bool' } }\n"
    "{ 'struct': 'Inner', 'data': { 'n': 'number', '*o': 'Obj' } }\n"
    "{ 'struct': 'Obj', 'data': { 'any': 'any' } }\n"
    "{ 'command': 'set-caps', 'data': { 'capabilities': [ 'CapStatus' ] } }\n"
    "{ 'command': 'deep', 'data': { 'inner': 'Inner', '*u': 'uint64' } }\n"
    "{ 'event': 'EV', 'data': { 'c': 'Cap' } }\n";

static const ArgCase nested_cases[] = {
    { "set-caps", "{\"capabilities\": [{\"capability\": \"xx\", "
      "\"state\": true}]}", "Parameter 'capability' does not accept value 'xx'" },
    { "set-caps", "{\"capabilities\": [{\"capability\": \"events\", "
      "\"state\": 1}]}",
      "Invalid parameter type for 'capabilities[0].state', expected: boolean" },
    { "set-caps", "{\"capabilities\": [{\"capability\": \"events\"}]}",
      "Parameter 'capabilities[0].state' is missing" },
    { "set-caps", "{\"capabilities\": [{\"capability\": \"events\", "
      "\"state\": true, \"z\": 1}]}",
      "Parameter 'capabilities[0].z' is unexpected" },
    { "set-caps", "{\"capabilities\": [1]}",
      "Invalid parameter type for 'capabilities[0]', expected: object" },
    { "set-caps", "{\"capabilities\": [{\"capability\": \"events\", "
      "\"state\": true}, {\"capability\": \"xbzrle\", \"state\": false}]}",
      NULL },
    { "deep", "{\"inner\": {\"n\": \"1\"}}",
      "Invalid parameter type for 'inner.n', expected: number" },
    { "deep", "{\"inner\": {\"n\": 1, \"o\": []}}",
      "Invalid parameter type for 'inner.o', expected: object" },
    { "deep", "{\"inner\": {\"n\": 1.5, \"o\": {\"any\": [1]}}, \"u\": 3}",
      NULL },
};

static void test_args_nested(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(QmpSchema) s = qmp_schema_new(nested_schema, &err);
    g_autoptr(JsonObject) ev = obj("{\"c\": \"nope\"}");

    g_assert_no_error(err);
    for (gsize i = 0; i < G_N_ELEMENTS(nested_cases); i++) {
        const ArgCase *c = &nested_cases[i];
        g_autoptr(GError) e = NULL;
        g_autoptr(JsonObject) args = obj(c->args);
        bool ok = qmp_schema_check_args(s, c->command, args, &e);

        if (!c->error) {
            g_assert_no_error(e);
            g_assert_true(ok);
        } else {
            g_assert_false(ok);
            g_assert_cmpstr(e->message, ==, c->error);
        }
    }
    g_assert_false(qmp_schema_check_event(s, "EV", ev, &err));
    g_clear_error(&err);
    g_assert_false(qmp_schema_check_event(s, "EV", NULL, &err));
    g_assert_cmpstr(err->message, ==, "Parameter 'c' is missing");
}

static void test_bad_schemas(void)
{
    static const char *const bad[] = {
        "{ 'command': 'x', 'data': 'Nope' }",
        "{ 'struct': 'A', 'data': { 'b': 'A' } }",
        "{ 'enum': 'E', 'data': [ 'a' ] } { 'enum': 'E', 'data': [] }",
        "{ 'command': 'x' } { 'command': 'x' }",
        "{ 'command': 'x', 'data': { 'a': 'str' }",
        "[ 1 ]",
    };

    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(QmpSchema) s = qmp_schema_new(bad[i], &err);

        if (s) {
            g_test_message("accepted: %s", bad[i]);
        }
        g_assert_null(s);
        g_assert_nonnull(err);
    }
}

static JsonObject *find_entry(JsonArray *a, const char *name)
{
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);

        if (!strcmp(json_object_get_string_member(o, "name"), name)) {
            return o;
        }
    }
    g_assert_not_reached();
}

static void test_introspect_shape(void)
{
    g_autoptr(JsonNode) n = qmp_schema_introspect(qmp_schema_get_default());
    JsonArray *a = json_node_get_array(n);
    JsonObject *qs = find_entry(a, "query-status");
    JsonObject *ret, *empty, *status, *cpus, *elt, *caps, *capargs, *stop;
    JsonArray *members;

    g_assert_cmpstr(json_object_get_string_member(qs, "meta-type"), ==,
                    "command");
    empty = find_entry(a, json_object_get_string_member(qs, "arg-type"));
    g_assert_cmpstr(json_object_get_string_member(empty, "meta-type"), ==,
                    "object");
    g_assert_cmpuint(json_array_get_length(
        json_object_get_array_member(empty, "members")), ==, 0);
    /* masked names, like QEMU */
    g_assert_cmpstr(json_object_get_string_member(qs, "arg-type"), ==, "0");

    ret = find_entry(a, json_object_get_string_member(qs, "ret-type"));
    members = json_object_get_array_member(ret, "members");
    g_assert_cmpuint(json_array_get_length(members), ==, 3);
    g_assert_cmpstr(json_object_get_string_member(
        json_array_get_object_element(members, 0), "type"), ==, "bool");
    status = find_entry(a, json_object_get_string_member(
        json_array_get_object_element(members, 2), "type"));
    g_assert_cmpstr(json_object_get_string_member(status, "meta-type"), ==,
                    "enum");
    g_assert_cmpuint(json_array_get_length(
        json_object_get_array_member(status, "values")), ==, 16);
    g_assert_cmpuint(json_array_get_length(
        json_object_get_array_member(status, "members")), ==, 16);

    cpus = find_entry(a, "query-cpus-fast");
    g_assert_true(g_str_has_prefix(json_object_get_string_member(cpus,
                                                                 "ret-type"),
                                   "["));
    elt = find_entry(a, json_object_get_string_member(
        find_entry(a, json_object_get_string_member(cpus, "ret-type")),
        "element-type"));
    g_assert_cmpstr(json_object_get_string_member(elt, "tag"), ==, "target");
    g_assert_cmpuint(json_array_get_length(
        json_object_get_array_member(elt, "variants")), ==, 31);

    caps = find_entry(a, "qmp_capabilities");
    capargs = find_entry(a, json_object_get_string_member(caps, "arg-type"));
    members = json_object_get_array_member(capargs, "members");
    g_assert_true(json_object_has_member(
        json_array_get_object_element(members, 0), "default"));

    stop = find_entry(a, "STOP");
    g_assert_cmpstr(json_object_get_string_member(stop, "meta-type"), ==,
                    "event");
    g_assert_false(json_object_has_member(stop, "ret-type"));
    g_assert_cmpstr(json_object_get_string_member(find_entry(a, "str"),
                                                  "json-type"), ==, "string");
    g_assert_cmpstr(json_object_get_string_member(
                        find_entry(a, "human-monitor-command"), "ret-type"),
                    ==, "str");
}

static void test_check_return(void)
{
    const QmpSchema *s = qmp_schema_get_default();
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) good = node(
        "{\"running\": true, \"singlestep\": false, \"status\": \"running\"}");
    g_autoptr(JsonNode) bad = node(
        "{\"running\": true, \"status\": \"going\"}");
    g_autoptr(JsonNode) cpus = node(
        "[{\"cpu-index\": 0, \"qom-path\": \"/machine/unattached/device[0]\", "
        "\"thread-id\": 42, \"props\": {\"core-id\": 0}, "
        "\"target\": \"x86_64\"}]");

    g_assert_true(qmp_schema_check_return(s, "query-status", good, &err));
    g_assert_false(qmp_schema_check_return(s, "query-status", bad, &err));
    g_clear_error(&err);
    g_assert_true(qmp_schema_check_return(s, "stop", NULL, &err));
    g_assert_true(qmp_schema_check_return(s, "query-cpus-fast", cpus, &err));
    g_assert_no_error(err);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qmp/schema/default-parses", test_default_parses);
    g_test_add_func("/qmp/schema/table-matches-schema",
                    test_table_matches_schema);
    g_test_add_func("/qmp/schema/args-default", test_args_default);
    g_test_add_func("/qmp/schema/args-nested", test_args_nested);
    g_test_add_func("/qmp/schema/bad-schemas", test_bad_schemas);
    g_test_add_func("/qmp/schema/introspect-shape", test_introspect_shape);
    g_test_add_func("/qmp/schema/check-return", test_check_return);
    return g_test_run();
}
