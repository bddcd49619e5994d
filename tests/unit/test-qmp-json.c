/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * JSON framing and output.  The expected error texts and outputs are what
 * QEMU 7.2 (Debian 12) answered for the same bytes on its QMP socket.
 */
#include <string.h>

#include "json-stream.h"

/* Every value as its compact text, every error as "ERR:" + message. */
static void collect_cb(JsonNode *value, const GError *err, void *opaque)
{
    GPtrArray *out = opaque;

    if (err) {
        g_ptr_array_add(out, g_strdup_printf("ERR:%s", err->message));
        return;
    }
    g_ptr_array_add(out, json_stream_to_string(value, false));
    json_node_unref(value);
}

static char *frame(const char *input, size_t len, size_t chunk)
{
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(JsonStream) s = json_stream_new(collect_cb, out);

    for (size_t off = 0; off < len; off += chunk) {
        json_stream_feed(s, input + off, MIN(chunk, len - off));
    }
    g_ptr_array_add(out, NULL);
    return g_strjoinv("|", (char **)out->pdata);
}

typedef struct {
    const char *input;
    const char *expect;         /* outputs joined by '|' */
} FrameCase;

static const FrameCase frame_cases[] = {
    /* framing */
    { "{\"execute\":\"query-kvm\"} {\"execute\":\"query-name\"}",
      "{\"execute\": \"query-kvm\"}|{\"execute\": \"query-name\"}" },
    { "{\"execute\":\n \"cont\"\n   }\n", "{\"execute\": \"cont\"}" },
    { "\n\n  \t\r\n", "" },
    { "42", "" },                               /* needs lookahead */
    { "42 ", "42" },
    { "true\n", "true" },
    { "\"abc\"", "\"abc\"" },
    /* QEMU extensions */
    { "{'execute':'query-name','id':'it\\'s \"q\"'}",
      "{\"execute\": \"query-name\", \"id\": \"it's \\\"q\\\"\"}" },
    /* numbers as QEMU prints them */
    { "[-0, -0.0, 0.1, 1E2, 1.5, 9223372036854775807]",
      "[0, -0, 0.10000000000000001, 100, 1.5, 9223372036854775807]" },
    { "[-9223372036854775809]", "[-9.2233720368547758e+18]" },
    /* strings: escapes in, \u upper case out */
    { "[\"\\u00e9\\ud83d\\ude00\"]", "[\"\\u00E9\\uD83D\\uDE00\"]" },
    { "[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"]",
      "[\"\\u00E9\\u20AC\\uD83D\\uDE00\"]" },
    { "[\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"]",
      "[\"/\\b\\f\\n\\r\\t\\\"\\\\\"]" },
    { "[\"\x7f\\u001f\"]", "[\"\\u007F\\u001F\"]" },
    /* U+0000 keeps the string whole (QEMU: modified UTF-8, C0 80) */
    { "{\"execute\": \"quit\\u0000-not-quit\"}",
      "{\"execute\": \"quit\\u0000-not-quit\"}" },
    { "{\"execute\": \"quit\xc0\x80-not-quit\"}",
      "{\"execute\": \"quit\\u0000-not-quit\"}" },
    { "{\"a\\u0000b\": \"\\u0000\", \"a\": 1}",        /* QEMU's order */
      "{\"a\": 1, \"a\\u0000b\": \"\\u0000\"}" },
    /* grammar errors */
    { "{\"execute\":\"query-kvm\",}", "ERR:JSON parse error, expecting value" },
    { "{\"a\":1,\"a\":2}", "ERR:JSON parse error, duplicate key" },
    { "{\"execute\" \"x\"}",
      "ERR:JSON parse error, missing : in object pair" },
    { "{1:2}", "ERR:JSON parse error, key is not a string in object" },
    { "[1 2]", "ERR:JSON parse error, expected separator in list" },
    { "{\"a\":1 \"b\":2}", "ERR:JSON parse error, expected separator in dict" },
    { "{\"execute\":\"query-kvm\":1}",
      "ERR:JSON parse error, expected separator in dict" },
    { "[1,]", "ERR:JSON parse error, expecting value" },
    { "{,}", "ERR:JSON parse error, expecting value" },
    { "}", "ERR:JSON parse error, expecting value" },
    { "]", "ERR:JSON parse error, expecting value" },
    { "[tru]", "ERR:JSON parse error, invalid keyword 'tru'" },
    { "[\"\\q\"]", "ERR:JSON parse error, invalid escape sequence in string" },
    { "[\"\\ud800\"]",
      "ERR:JSON parse error, \\ud800 is not a valid Unicode character" },
    { "[\"\\ude00\"]",
      "ERR:JSON parse error, \\ude00 is not a valid Unicode character" },
    { "[\"\\u12\"]",
      "ERR:JSON parse error, \\u12\" is not a valid Unicode character" },
    { "[\"\xc3\"]", "ERR:JSON parse error, invalid UTF-8 sequence in string" },
    { "[\"\xed\xa0\x80\"]",
      "ERR:JSON parse error, invalid UTF-8 sequence in string" },
    { "[\"\xf4\x90\x80\x80\"]",
      "ERR:JSON parse error, invalid UTF-8 sequence in string" },
    /* lexical errors and resynchronisation */
    { "\x01{\"a\":1}", "ERR:JSON parse error, stray '\x01'|{\"a\": 1}" },
    { "{\"id\":\"a\x01" "b\"}",
      "ERR:JSON parse error, stray '\"a\x01'|"
      "ERR:JSON parse error, expecting value" },
    { "{\"id\":%d}",
      "ERR:JSON parse error, stray '%'|ERR:JSON parse error, expecting value" },
    { "{\"x\":\"query\\\\x01{\"execute\":\"query-kvm\"}",
      "ERR:JSON parse error, stray '-k'|ERR:JSON parse error, expecting value" },
    { "{bad json\n{\"execute\":\"q\"}\n\x01{\"a\":1}",
      "ERR:JSON parse error, stray '\x01'|{\"a\": 1}" },
    { "{\"a\":\\\xff{\"a\":2}",
      "ERR:JSON parse error, stray '\\'|ERR:JSON parse error, stray '\xff'|"
      "{\"a\": 2}" },
    { "[01]", "ERR:JSON parse error, stray '01'|ERR:JSON parse error, expecting value" },
};

static void test_frame_cases(void)
{
    for (gsize i = 0; i < G_N_ELEMENTS(frame_cases); i++) {
        const FrameCase *c = &frame_cases[i];
        size_t len = strlen(c->input);
        g_autofree char *whole = frame(c->input, len, len ? len : 1);

        if (g_strcmp0(whole, c->expect)) {
            g_test_message("input %zu: %s", i, c->input);
        }
        g_assert_cmpstr(whole, ==, c->expect);
        /* any split gives the same result */
        for (size_t chunk = 1; chunk < 4; chunk++) {
            g_autofree char *split = frame(c->input, len, chunk);

            g_assert_cmpstr(split, ==, c->expect);
        }
    }
}

/* The error for an invalid byte in a stray token is printed as U+FFFD. */
static void test_stray_invalid_utf8_output(void)
{
    g_autoptr(JsonNode) n = json_node_new(JSON_NODE_VALUE);
    g_autofree char *s = NULL;

    json_node_set_string(n, "JSON parse error, stray '\xff'");
    s = json_stream_to_string(n, false);
    g_assert_cmpstr(s, ==, "\"JSON parse error, stray '\\uFFFD'\"");
}

static char *nested(unsigned depth)
{
    GString *s = g_string_new("{\"id\":");

    for (unsigned i = 0; i < depth; i++) {
        g_string_append_c(s, '[');
    }
    for (unsigned i = 0; i < depth; i++) {
        g_string_append_c(s, ']');
    }
    g_string_append(s, "}\n");
    return g_string_free(s, FALSE);
}

static void test_nesting_limit(void)
{
    g_autofree char *ok = nested(JSON_STREAM_MAX_NESTING - 1);
    g_autofree char *bad = nested(JSON_STREAM_MAX_NESTING);
    g_autofree char *r1 = frame(ok, strlen(ok), strlen(ok));
    g_autofree char *r2 = frame(bad, strlen(bad), 4096);
    g_autofree char *again = g_strconcat(bad, "\x01{\"a\":1}", NULL);
    g_autofree char *r3 = NULL;
    g_auto(GStrv) parts = g_strsplit(r2, "|", -1);
    const char *garbage = "[[[[[[\n{\"a\":1}\x01{\"b\":2}";

    g_assert_true(g_str_has_prefix(r1, "{\"id\": [[[["));
    /* like QEMU: the limit error, then one "expecting value" per closing
     * bracket left over (1024 of them and the brace) */
    g_assert_cmpstr(parts[0], ==, "ERR:JSON nesting depth limit exceeded");
    g_assert_cmpuint(g_strv_length(parts), ==, 1 + 1025);
    g_assert_cmpstr(parts[1], ==, "ERR:JSON parse error, expecting value");

    /* a control character resynchronises after unbalanced garbage */
    r3 = frame(garbage, strlen(garbage), 7);
    g_assert_cmpstr(r3, ==, "ERR:JSON parse error, stray '\x01'|{\"b\": 2}");
}

static void test_token_count_limit(void)
{
    GString *s = g_string_new("[");
    g_autofree char *r = NULL;

    for (unsigned i = 0; i < JSON_STREAM_MAX_TOKENS / 2 + 1; i++) {
        g_string_append(s, "1,");
    }
    g_string_append(s, "1]\n");
    r = frame(s->str, s->len, 65536);
    g_assert_true(g_str_has_prefix(r, "ERR:JSON token count limit exceeded"));
    g_string_free(s, TRUE);
}

static void test_token_size_limit(void)
{
    size_t len = JSON_STREAM_MAX_SIZE + 16;
    g_autofree char *big = g_malloc(len + 16);
    g_autofree char *r = NULL;

    memcpy(big, "[\"", 2);
    memset(big + 2, 'x', len - 2);
    strcpy(big + len, "\"]{\"a\":1}");
    r = frame(big, strlen(big), 1 << 20);
    /* the rest of the string is skipped up to the next '{' */
    g_assert_cmpstr(r, ==, "ERR:JSON token size limit exceeded|"
                    "ERR:JSON parse error, expecting value|{\"a\": 1}");
}

static void test_parse_one(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) n = json_stream_parse("{'a': [1, 2.5, null]}", 21,
                                              &err);
    g_autofree char *s = NULL;

    g_assert_no_error(err);
    s = json_stream_to_string(n, false);
    g_assert_cmpstr(s, ==, "{\"a\": [1, 2.5, null]}");
    g_assert_null(json_stream_parse("1 2", 3, &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
    g_assert_null(json_stream_parse("", 0, &err));
    g_assert_nonnull(err);
}

static JsonNode *parse(const char *text)
{
    g_autoptr(GError) err = NULL;
    JsonNode *n = json_stream_parse(text, strlen(text), &err);

    g_assert_no_error(err);
    return n;
}

/* Member order is QEMU's QDict order, so lines equal QEMU's. */
static void test_qemu_member_order(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        { "{\"QMP\": {\"version\": {\"qemu\": {\"major\": 7, \"minor\": 2, "
          "\"micro\": 0}, \"package\": \"\"}, \"capabilities\": []}}",
          "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, "
          "\"major\": 7}, \"package\": \"\"}, \"capabilities\": []}}" },
        { "{\"id\": 1, \"return\": {}}", "{\"return\": {}, \"id\": 1}" },
        { "{\"error\": {\"desc\": \"d\", \"class\": \"c\"}, \"id\": 5}",
          "{\"id\": 5, \"error\": {\"class\": \"c\", \"desc\": \"d\"}}" },
        { "{\"event\": \"STOP\", \"timestamp\": {\"microseconds\": 1, "
          "\"seconds\": 2}}",
          "{\"timestamp\": {\"seconds\": 2, \"microseconds\": 1}, "
          "\"event\": \"STOP\"}" },
        { "{\"running\": true, \"singlestep\": false, \"status\": \"running\"}",
          "{\"status\": \"running\", \"singlestep\": false, "
          "\"running\": true}" },
        { "{\"present\": true, \"enabled\": false}",
          "{\"enabled\": false, \"present\": true}" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(JsonNode) n = parse(cases[i].in);
        g_autofree char *s = json_stream_to_string(n, false);

        g_assert_cmpstr(s, ==, cases[i].out);
    }
}

static void test_pretty(void)
{
    g_autoptr(JsonNode) n = parse("{\"return\": {\"running\": true, "
                                  "\"status\": \"running\"}, "
                                  "\"id\": [1, {}], \"x\": []}");
    g_autofree char *s = json_stream_to_string(n, true);

    /* QEMU's -qmp-pretty layout, empty containers included */
    g_assert_cmpstr(s, ==,
                    "{\n"
                    "    \"x\": [\n"
                    "    ],\n"
                    "    \"return\": {\n"
                    "        \"status\": \"running\",\n"
                    "        \"running\": true\n"
                    "    },\n"
                    "    \"id\": [\n"
                    "        1,\n"
                    "        {\n"
                    "        }\n"
                    "    ]\n"
                    "}");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qmp/json/frame-cases", test_frame_cases);
    g_test_add_func("/qmp/json/stray-invalid-utf8", test_stray_invalid_utf8_output);
    g_test_add_func("/qmp/json/nesting-limit", test_nesting_limit);
    g_test_add_func("/qmp/json/token-count-limit", test_token_count_limit);
    g_test_add_func("/qmp/json/token-size-limit", test_token_size_limit);
    g_test_add_func("/qmp/json/parse-one", test_parse_one);
    g_test_add_func("/qmp/json/qemu-member-order", test_qemu_member_order);
    g_test_add_func("/qmp/json/pretty", test_pretty);
    return g_test_run();
}
