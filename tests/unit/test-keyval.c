/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * keyval: parsing "key=value,..." strings and JSON objects, and the typed
 * conversions with their error messages.
 */
#include <glib.h>
#include <inttypes.h>

#include "error.h"
#include "keyval.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

/*
 * Render a list as "k=v|k=v|... (N)": each distinct key once, in the order
 * of first appearance, with its last value, and N the number of items
 * (duplicates included).
 */
static char *kv_render(const char *str, const char *implied, char **err)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(KeyvalList) kv = keyval_parse(str, implied, &local);
    GString *s;
    guint n;

    if (!kv) {
        *err = g_strdup(local->message);
        return NULL;
    }
    *err = NULL;
    s = g_string_new(NULL);
    n = keyval_length(kv);
    /* getting a key marks all its items used: the next unused is a new key */
    for (const char *key; (key = keyval_first_unused(kv)) != NULL;) {
        g_autofree char *k = g_strdup(key);
        const char *v = keyval_get_str(kv, k);

        g_string_append_printf(s, "%s%s=%s", s->len ? "|" : "", k, v);
    }
    g_string_append_printf(s, " (%u)", n);
    return g_string_free(s, FALSE);
}

typedef struct {
    const char *str;
    const char *implied;
    const char *expect;         /* rendered, or NULL for an error */
    const char *error;
} ParseCase;

static const ParseCase parse_cases[] = {
    { "", NULL, " (0)", NULL },
    { "a=1", NULL, "a=1 (1)", NULL },
    { "a=1,b=2", NULL, "a=1|b=2 (2)", NULL },
    { "a=1,b=2,", NULL, "a=1|b=2 (2)", NULL },
    { "1G", "size", "size=1G (1)", NULL },
    { "size=1G", "size", "size=1G (1)", NULL },
    { "socket,id=c,path=/tmp/x", "backend",
      "backend=socket|id=c|path=/tmp/x (3)", NULL },
    /* the implied key only names the first item */
    { "id=c,socket", "backend", "id=c|socket=on (2)", NULL },
    /* ",," is a literal comma, in values and implied values */
    { "file,path=/a,,b,id=f", "backend", "backend=file|path=/a,b|id=f (3)",
      NULL },
    { "a,,b,id=x", "driver", "driver=a,b|id=x (2)", NULL },
    { "p=,,,,", NULL, "p=,, (1)", NULL },
    { "p=x,,", NULL, "p=x, (1)", NULL },
    { "p=a=b", NULL, "p=a=b (1)", NULL },
    { "p=", NULL, "p= (1)", NULL },
    /* legacy flags */
    { "socket,server,nowait", "backend",
      "backend=socket|server=on|wait=off (3)", NULL },
    { "server", NULL, "server=on (1)", NULL },
    { "nodelay", NULL, "delay=off (1)", NULL },
    { "no", NULL, "no=on (1)", NULL },
    /* a key given twice: the last wins */
    { "cpus=2,cpus=3", NULL, "cpus=3 (2)", NULL },
    { "4,cpus=8", "cpus", "cpus=8 (2)", NULL },
    /* empty first item with an implied key: an empty value */
    { ",accel=kvm", "type", "type=|accel=kvm (2)", NULL },
    { "=x", NULL, NULL, "Invalid parameter ''" },
    { "a=1,=2", NULL, NULL, "Invalid parameter ''" },
    { ",a=1", NULL, NULL, "Invalid parameter ''" },
};

static void test_parse(gconstpointer data)
{
    const ParseCase *c = data;
    g_autofree char *err = NULL;
    g_autofree char *got = kv_render(c->str, c->implied, &err);

    if (c->expect) {
        g_assert_null(err);
        g_assert_cmpstr(got, ==, c->expect);
    } else {
        g_assert_null(got);
        g_assert_cmpstr(err, ==, c->error);
    }
}

typedef struct {
    const char *value;
    int expect;                 /* 0, 1, or -1 for an error */
} BoolCase;

static const BoolCase bool_cases[] = {
    { "on", 1 }, { "yes", 1 }, { "true", 1 }, { "y", 1 },
    { "off", 0 }, { "no", 0 }, { "false", 0 }, { "n", 0 },
    { "ON", -1 }, { "1", -1 }, { "0", -1 }, { "", -1 }, { "maybe", -1 },
    { "onn", -1 },
};

static void test_bool(gconstpointer data)
{
    const BoolCase *c = data;
    g_autoptr(GError) err = NULL;
    bool out = false;
    bool ok = keyval_parse_bool("wait", c->value, &out, &err);

    if (c->expect < 0) {
        g_assert_false(ok);
        g_assert_error(err, KESTREL_ERROR, KESTREL_ERROR_INVALID);
        g_assert_cmpstr(err->message, ==,
                        "Parameter 'wait' expects 'on' or 'off'");
    } else {
        g_assert_no_error(err);
        g_assert_true(ok);
        g_assert_cmpint(out, ==, c->expect);
    }
}

#define SIZE_BAD "Parameter 'size' expects a non-negative number below " \
    "2^64, optionally suffixed with k, M, G, T, P or E"
#define SIZE_RANGE(v) "Value '" v "' is out of range for parameter 'size'"

typedef struct {
    const char *value;
    uint64_t unit;
    uint64_t expect;
    const char *error;
} SizeCase;

static const SizeCase size_cases[] = {
    { "0", 1, 0, NULL },
    { "1", 1, 1, NULL },
    { "4096", 1, 4096, NULL },
    { "1k", 1, KiB, NULL },
    { "1K", 1, KiB, NULL },
    { "2m", 1, 2 * MiB, NULL },
    { "2M", 1, 2 * MiB, NULL },
    { "1g", 1, GiB, NULL },
    { "1G", 1, GiB, NULL },
    { "3T", 1, UINT64_C(3) << 40, NULL },
    { "1P", 1, UINT64_C(1) << 50, NULL },
    { "1E", 1, UINT64_C(1) << 60, NULL },
    { "15E", 1, UINT64_C(15) << 60, NULL },
    { "1b", 1, 1, NULL },
    { "1B", MiB, 1, NULL },
    { "1.5G", 1, GiB + GiB / 2, NULL },
    { "0.5k", 1, 512, NULL },
    { "0x10", 1, 16, NULL },
    { "0x1b", 1, 27, NULL },
    { "18446744073709551615", 1, UINT64_MAX, NULL },
    /* a plain number counts @unit: -m's MiB */
    { "512", MiB, 512 * MiB, NULL },
    { "0x10", MiB, 16 * MiB, NULL },
    { "1G", MiB, GiB, NULL },
    { "16E", 1, 0, SIZE_RANGE("16E") },
    { "18446744073709551616", 1, 0, SIZE_RANGE("18446744073709551616") },
    { "17592186044416", MiB, 0, SIZE_RANGE("17592186044416") },
    { "99999999999999999999999", 1, 0, SIZE_RANGE("99999999999999999999999") },
    { "", 1, 0, SIZE_BAD },
    { "-1", 1, 0, SIZE_BAD },
    { " 1", 1, 0, SIZE_BAD },
    { "+1", 1, 0, SIZE_BAD },
    { "1X", 1, 0, SIZE_BAD },
    { "1KB", 1, 0, SIZE_BAD },
    { "1 G", 1, 0, SIZE_BAD },
    { "1.5", 1, 0, SIZE_BAD },
    { "1.5", MiB, 0, SIZE_BAD },
    { "1.5b", 1, 0, SIZE_BAD },
    { "1.", 1, 0, SIZE_BAD },
    { ".5G", 1, 0, SIZE_BAD },
    { "0x", 1, 0, SIZE_BAD },
    { "0x1G", 1, 0, SIZE_BAD },
    { "G", 1, 0, SIZE_BAD },
};

static void test_size(gconstpointer data)
{
    const SizeCase *c = data;
    g_autoptr(GError) err = NULL;
    uint64_t out = 0;
    bool ok = keyval_parse_size("size", c->value, c->unit, &out, &err);

    if (c->error) {
        g_assert_false(ok);
        g_assert_error(err, KESTREL_ERROR, KESTREL_ERROR_INVALID);
        g_assert_cmpstr(err->message, ==, c->error);
    } else {
        g_assert_no_error(err);
        g_assert_true(ok);
        g_assert_cmpuint(out, ==, c->expect);
    }
}

typedef struct {
    const char *value;
    uint64_t max;
    uint64_t expect;
    const char *error;
} UintCase;

static const UintCase uint_cases[] = {
    { "0", 10, 0, NULL },
    { "10", 10, 10, NULL },
    { "0x10", 100, 16, NULL },
    { "010", 100, 8, NULL },            /* base 0, as QEMU */
    { "18446744073709551615", UINT64_MAX, UINT64_MAX, NULL },
    { "11", 10, 0, "Value '11' is out of range for parameter 'n'" },
    { "18446744073709551616", UINT64_MAX, 0,
      "Value '18446744073709551616' is out of range for parameter 'n'" },
    { "", 10, 0, "Parameter 'n' expects a number" },
    { "-1", 10, 0, "Parameter 'n' expects a number" },
    { " 1", 10, 0, "Parameter 'n' expects a number" },
    { "1x", 10, 0, "Parameter 'n' expects a number" },
    { "1k", 10, 0, "Parameter 'n' expects a number" },
    { "two", 10, 0, "Parameter 'n' expects a number" },
};

static void test_uint(gconstpointer data)
{
    const UintCase *c = data;
    g_autoptr(GError) err = NULL;
    uint64_t out = 0;
    bool ok = keyval_parse_uint("n", c->value, c->max, &out, &err);

    if (c->error) {
        g_assert_false(ok);
        g_assert_cmpstr(err->message, ==, c->error);
    } else {
        g_assert_no_error(err);
        g_assert_true(ok);
        g_assert_cmpuint(out, ==, c->expect);
    }
}

static void test_getters(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(KeyvalList) kv =
        keyval_parse("socket,id=c,server,wait=no,size=2M,n=7,x=1,x=2",
                     "backend", &err);
    bool b = false;
    uint64_t u = 0;

    g_assert_no_error(err);
    g_assert_cmpuint(keyval_length(kv), ==, 8);
    g_assert_true(keyval_has(kv, "server"));
    g_assert_false(keyval_has(kv, "path"));
    g_assert_cmpstr(keyval_get_str(kv, "backend"), ==, "socket");
    g_assert_null(keyval_get_str(kv, "path"));

    g_assert_true(keyval_get_bool(kv, "server", false, &b, &err));
    g_assert_true(b);
    g_assert_true(keyval_get_bool(kv, "wait", true, &b, &err));
    g_assert_false(b);
    g_assert_true(keyval_get_bool(kv, "absent", true, &b, &err));
    g_assert_true(b);
    g_assert_true(keyval_get_size(kv, "size", 0, &u, &err));
    g_assert_cmpuint(u, ==, 2 * MiB);
    g_assert_true(keyval_get_size(kv, "nosize", 42, &u, &err));
    g_assert_cmpuint(u, ==, 42);
    g_assert_true(keyval_get_uint(kv, "n", 0, 10, &u, &err));
    g_assert_cmpuint(u, ==, 7);
    g_assert_true(keyval_get_uint(kv, "non", 5, 10, &u, &err));
    g_assert_cmpuint(u, ==, 5);
    g_assert_no_error(err);

    /* id and x are left: the first unused is reported */
    g_assert_cmpstr(keyval_first_unused(kv), ==, "id");
    g_assert_false(keyval_check_unused(kv, &err));
    g_assert_error(err, KESTREL_ERROR, KESTREL_ERROR_INVALID);
    g_assert_cmpstr(err->message, ==, "Invalid parameter 'id'");
    g_clear_error(&err);

    g_assert_cmpstr(keyval_get_str(kv, "id"), ==, "c");
    g_assert_false(keyval_check_unused(kv, &err));
    g_assert_cmpstr(err->message, ==, "Invalid parameter 'x'");
    g_clear_error(&err);

    /* take_unused moves the rest out, last value winning */
    {
        g_autoptr(GHashTable) rest = keyval_take_unused(kv);

        g_assert_cmpuint(g_hash_table_size(rest), ==, 1);
        g_assert_cmpstr(g_hash_table_lookup(rest, "x"), ==, "2");
    }
    g_assert_true(keyval_check_unused(kv, &err));
    g_assert_null(keyval_first_unused(kv));
}

static void test_getter_errors(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(KeyvalList) kv =
        keyval_parse("wait=maybe,size=1X,n=x", NULL, &err);
    bool b;
    uint64_t u;

    g_assert_false(keyval_get_bool(kv, "wait", false, &b, &err));
    g_assert_cmpstr(err->message, ==, "Parameter 'wait' expects 'on' or 'off'");
    g_clear_error(&err);
    g_assert_false(keyval_get_size(kv, "size", 0, &u, &err));
    g_assert_cmpstr(err->message, ==, SIZE_BAD);
    g_clear_error(&err);
    g_assert_false(keyval_get_uint(kv, "n", 0, 10, &u, &err));
    g_assert_cmpstr(err->message, ==, "Parameter 'n' expects a number");
    g_clear_error(&err);
    /* the failing getters marked their keys used all the same */
    g_assert_true(keyval_check_unused(kv, &err));
}

static void test_help(void)
{
    g_assert_true(keyval_is_help("help"));
    g_assert_true(keyval_is_help("?"));
    g_assert_false(keyval_is_help("Help"));
    g_assert_false(keyval_is_help("helpme"));
    g_assert_false(keyval_is_help(NULL));
}

static char *json_render(const char *str, char **err)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(KeyvalList) kv = keyval_parse_json(str, &local);
    GString *s;

    if (!kv) {
        *err = g_strdup(local->message);
        return NULL;
    }
    *err = NULL;
    s = g_string_new(NULL);
    for (const char *key; (key = keyval_first_unused(kv)) != NULL;) {
        g_autofree char *k = g_strdup(key);
        const char *v = keyval_get_str(kv, k);

        g_string_append_printf(s, "%s%s=%s", s->len ? "|" : "", k, v);
    }
    return g_string_free(s, FALSE);
}

typedef struct {
    const char *json;
    const char *expect;
    const char *error;          /* exact, or prefix when it ends in '*' */
} JsonCase;

static const JsonCase json_cases[] = {
    { "{}", "", NULL },
    { "{\"driver\":\"virtio-balloon-pci\",\"id\":\"b0\"}",
      "driver=virtio-balloon-pci|id=b0", NULL },
    { " { \"driver\" : \"isa-serial\", \"index\": 0 } ",
      "driver=isa-serial|index=0", NULL },
    { "{\"a\":true,\"b\":false,\"c\":-5,\"d\":1.5,\"e\":\"x,y\"}",
      "a=on|b=off|c=-5|d=1.5|e=x,y", NULL },
    { "{\"file\":{\"driver\":\"file\",\"filename\":\"/x\"},\"n\":[1,2]}",
      "file.driver=file|file.filename=/x|n.0=1|n.1=2", NULL },
    { "{\"a\":null}", NULL, "Parameter 'a' must not be null" },
    { "{\"a\":{\"b\":null}}", NULL, "Parameter 'a.b' must not be null" },
    { "{\"a\":{}}", NULL, "Parameter 'a' is an empty object" },
    { "{\"a\":[]}", NULL, "Parameter 'a' is an empty array" },
    { "{\"\":1}", NULL, "Invalid parameter ''" },
    { "[1]", NULL, "JSON value must be an object" },
    { "\"x\"", NULL, "JSON value must be an object" },
    { "{bad", NULL, "JSON parse error: *" },
    { "{\"a\":1", NULL, "JSON parse error: *" },
    { "", NULL, "JSON value must be an object" },
};

static void test_json(gconstpointer data)
{
    const JsonCase *c = data;
    g_autofree char *err = NULL;
    g_autofree char *got = json_render(c->json, &err);

    if (c->expect) {
        g_assert_null(err);
        g_assert_cmpstr(got, ==, c->expect);
    } else if (g_str_has_suffix(c->error, "*")) {
        g_assert_nonnull(err);
        g_assert_true(g_str_has_prefix(err, "JSON parse error: "));
    } else {
        g_assert_cmpstr(err, ==, c->error);
    }
}

/* One test per table row, so TAP names the case that fails. */
#define ADD_CASES(prefix, table, func)                                     \
    for (guint i = 0; i < G_N_ELEMENTS(table); i++) {                      \
        g_autofree char *path = g_strdup_printf(prefix "/%02u", i);        \
                                                                            \
        g_test_add_data_func(path, &table[i], func);                       \
    }

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    ADD_CASES("/keyval/parse", parse_cases, test_parse);
    ADD_CASES("/keyval/bool", bool_cases, test_bool);
    ADD_CASES("/keyval/size", size_cases, test_size);
    ADD_CASES("/keyval/uint", uint_cases, test_uint);
    ADD_CASES("/keyval/json", json_cases, test_json);
    g_test_add_func("/keyval/getters", test_getters);
    g_test_add_func("/keyval/getter-errors", test_getter_errors);
    g_test_add_func("/keyval/help", test_help);
    return g_test_run();
}
