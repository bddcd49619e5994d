/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * keyval: QEMU-style "key=value,..." option strings and their JSON form.
 * The rules are described in keyval.h.
 */
#include <errno.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "error.h"
#include "keyval.h"

typedef struct {
    char *key;
    char *value;
    bool used;
} KeyvalPair;

struct KeyvalList {
    GArray *pairs;              /* KeyvalPair, in the order given */
};

static void keyval_pair_clear(gpointer data)
{
    KeyvalPair *pair = data;

    g_free(pair->key);
    g_free(pair->value);
}

static KeyvalList *keyval_list_new(void)
{
    KeyvalList *kv = g_new0(KeyvalList, 1);

    kv->pairs = g_array_new(FALSE, TRUE, sizeof(KeyvalPair));
    g_array_set_clear_func(kv->pairs, keyval_pair_clear);
    return kv;
}

void keyval_list_free(KeyvalList *kv)
{
    if (!kv) {
        return;
    }
    g_array_unref(kv->pairs);
    g_free(kv);
}

/* Takes ownership of @key and @value. */
static void keyval_append(KeyvalList *kv, char *key, char *value)
{
    KeyvalPair pair = { .key = key, .value = value, .used = false };

    g_array_append_val(kv->pairs, pair);
}

static KeyvalPair *keyval_pair(const KeyvalList *kv, guint i)
{
    return &g_array_index(kv->pairs, KeyvalPair, i);
}

/*
 * Copy a value starting at @p up to the first single comma (or the end),
 * turning ",," into ",". Returns where the value stopped: at that comma or
 * at the terminating NUL.
 */
static const char *keyval_scan_value(const char *p, char **value)
{
    GString *s = g_string_new(NULL);

    for (;;) {
        if (*p == ',') {
            if (p[1] != ',') {
                break;
            }
            p++;                /* ",," is one literal comma */
        } else if (*p == '\0') {
            break;
        }
        g_string_append_c(s, *p);
        p++;
    }
    *value = g_string_free(s, FALSE);
    return p;
}

KeyvalList *keyval_parse(const char *str, const char *implied_key,
                         GError **errp)
{
    g_autoptr(KeyvalList) kv = keyval_list_new();
    const char *p = str;
    bool first = true;

    while (*p) {
        size_t len = strcspn(p, "=,");
        char *key;
        char *value;

        if (p[len] == '=') {
            key = g_strndup(p, len);
            p = keyval_scan_value(p + len + 1, &value);
        } else if (first && implied_key) {
            key = g_strdup(implied_key);
            p = keyval_scan_value(p, &value);
        } else if (len > 2 && g_str_has_prefix(p, "no")) {
            /* legacy "nokey" flag: key=off */
            key = g_strndup(p + 2, len - 2);
            value = g_strdup("off");
            p += len;
        } else {
            /* legacy bare "key" flag: key=on */
            key = g_strndup(p, len);
            value = g_strdup("on");
            p += len;
        }
        keyval_append(kv, key, value);
        if (key[0] == '\0') {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "Invalid parameter ''");
            return NULL;
        }
        if (*p == ',') {
            p++;
        }
        first = false;
    }
    return g_steal_pointer(&kv);
}

static bool keyval_add_json(KeyvalList *kv, const char *key, JsonNode *node,
                            GError **errp);

static bool keyval_add_json_object(KeyvalList *kv, const char *prefix,
                                   JsonObject *obj, GError **errp)
{
    g_autoptr(GList) members = json_object_get_members(obj);

    if (!members && prefix) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Parameter '%s' is an empty object", prefix);
        return false;
    }
    for (GList *l = members; l; l = l->next) {
        const char *name = l->data;
        g_autofree char *key = prefix ? g_strdup_printf("%s.%s", prefix, name)
                                      : g_strdup(name);

        if (name[0] == '\0') {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "Invalid parameter ''");
            return false;
        }
        if (!keyval_add_json(kv, key, json_object_get_member(obj, name),
                             errp)) {
            return false;
        }
    }
    return true;
}

static bool keyval_add_json(KeyvalList *kv, const char *key, JsonNode *node,
                            GError **errp)
{
    char buf[G_ASCII_DTOSTR_BUF_SIZE];

    switch (json_node_get_node_type(node)) {
    case JSON_NODE_OBJECT:
        return keyval_add_json_object(kv, key, json_node_get_object(node),
                                      errp);
    case JSON_NODE_ARRAY: {
        JsonArray *arr = json_node_get_array(node);
        guint n = json_array_get_length(arr);

        if (n == 0) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "Parameter '%s' is an empty array", key);
            return false;
        }
        for (guint i = 0; i < n; i++) {
            g_autofree char *sub = g_strdup_printf("%s.%u", key, i);

            if (!keyval_add_json(kv, sub, json_array_get_element(arr, i),
                                 errp)) {
                return false;
            }
        }
        return true;
    }
    case JSON_NODE_NULL:
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Parameter '%s' must not be null", key);
        return false;
    case JSON_NODE_VALUE:
        break;
    }

    switch (json_node_get_value_type(node)) {
    case G_TYPE_STRING:
        keyval_append(kv, g_strdup(key), json_node_dup_string(node));
        break;
    case G_TYPE_BOOLEAN:
        keyval_append(kv, g_strdup(key),
                      g_strdup(json_node_get_boolean(node) ? "on" : "off"));
        break;
    case G_TYPE_INT64:
        keyval_append(kv, g_strdup(key),
                      g_strdup_printf("%" G_GINT64_FORMAT,
                                      json_node_get_int(node)));
        break;
    case G_TYPE_DOUBLE:
        g_ascii_dtostr(buf, sizeof(buf), json_node_get_double(node));
        keyval_append(kv, g_strdup(key), g_strdup(buf));
        break;
    default:
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Parameter '%s' has a JSON value of an unknown type", key);
        return false;
    }
    return true;
}

KeyvalList *keyval_parse_json(const char *str, GError **errp)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(KeyvalList) kv = keyval_list_new();
    g_autoptr(GError) local = NULL;
    JsonNode *root;

    if (!json_parser_load_from_data(parser, str, -1, &local)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "JSON parse error: %s", local->message);
        return NULL;
    }
    root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "JSON value must be an object");
        return NULL;
    }
    if (!keyval_add_json_object(kv, NULL, json_node_get_object(root),
                                errp)) {
        return NULL;
    }
    return g_steal_pointer(&kv);
}

guint keyval_length(const KeyvalList *kv)
{
    return kv->pairs->len;
}

bool keyval_has(const KeyvalList *kv, const char *key)
{
    for (guint i = 0; i < kv->pairs->len; i++) {
        if (g_str_equal(keyval_pair(kv, i)->key, key)) {
            return true;
        }
    }
    return false;
}

const char *keyval_get_str(KeyvalList *kv, const char *key)
{
    const char *value = NULL;

    for (guint i = 0; i < kv->pairs->len; i++) {
        KeyvalPair *pair = keyval_pair(kv, i);

        if (g_str_equal(pair->key, key)) {
            pair->used = true;
            value = pair->value;        /* the last one wins */
        }
    }
    return value;
}

bool keyval_is_help(const char *value)
{
    return value && (g_str_equal(value, "help") || g_str_equal(value, "?"));
}

bool keyval_parse_bool(const char *key, const char *value, bool *out,
                       GError **errp)
{
    static const char *const yes[] = { "on", "yes", "true", "y", NULL };
    static const char *const no[] = { "off", "no", "false", "n", NULL };

    if (g_strv_contains(yes, value)) {
        *out = true;
        return true;
    }
    if (g_strv_contains(no, value)) {
        *out = false;
        return true;
    }
    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                "Parameter '%s' expects 'on' or 'off'", key);
    return false;
}

bool keyval_parse_uint(const char *key, const char *value, uint64_t max,
                       uint64_t *out, GError **errp)
{
    char *end = NULL;
    guint64 v;

    /* strtoull would accept leading blanks and a minus sign */
    if (!g_ascii_isdigit(value[0])) {
        goto bad;
    }
    errno = 0;
    v = g_ascii_strtoull(value, &end, 0);
    if (*end != '\0') {
        goto bad;
    }
    if (errno == ERANGE || v > max) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Value '%s' is out of range for parameter '%s'",
                    value, key);
        return false;
    }
    *out = v;
    return true;

 bad:
    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                "Parameter '%s' expects a number", key);
    return false;
}

static int keyval_size_shift(char suffix)
{
    switch (g_ascii_tolower(suffix)) {
    case 'b':
        return 0;
    case 'k':
        return 10;
    case 'm':
        return 20;
    case 'g':
        return 30;
    case 't':
        return 40;
    case 'p':
        return 50;
    case 'e':
        return 60;
    default:
        return -1;
    }
}

bool keyval_parse_size(const char *key, const char *value,
                       uint64_t default_unit, uint64_t *out, GError **errp)
{
    const char *p = value;
    uint64_t whole = 0;
    uint64_t mul = default_unit;
    double frac = 0;
    bool has_frac = false;
    bool hex = false;
    bool overflow = false;

    if (!g_ascii_isdigit(*p)) {
        goto bad;
    }
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        hex = true;
        p += 2;
        if (!g_ascii_isxdigit(*p)) {
            goto bad;
        }
        for (; g_ascii_isxdigit(*p); p++) {
            if (whole > (UINT64_MAX >> 4)) {
                overflow = true;
            }
            whole = (whole << 4) | (uint64_t)g_ascii_xdigit_value(*p);
        }
    } else {
        for (; g_ascii_isdigit(*p); p++) {
            uint64_t d = (uint64_t)(*p - '0');

            if (whole > (UINT64_MAX - d) / 10) {
                overflow = true;
            }
            whole = whole * 10 + d;
        }
        if (*p == '.') {
            double scale = 0.1;

            p++;
            if (!g_ascii_isdigit(*p)) {
                goto bad;
            }
            for (; g_ascii_isdigit(*p); p++) {
                frac += (*p - '0') * scale;
                scale /= 10;
            }
            has_frac = true;
        }
    }

    if (*p) {
        int shift = keyval_size_shift(*p);

        /* one suffix letter, and none after hex digits (QEMU deprecated
         * "0x1G"; the digits would also swallow a 'b' or 'e') */
        if (shift < 0 || p[1] != '\0' || hex) {
            goto bad;
        }
        mul = UINT64_C(1) << shift;
    }
    /* a fraction needs an explicit multiplier: no "1.5" or "1.5b" */
    if (has_frac && (*p == '\0' || mul == 1)) {
        goto bad;
    }
    if (overflow || (mul && whole > UINT64_MAX / mul)) {
        goto range;
    }
    whole *= mul;
    if (has_frac) {
        double extra = frac * (double)mul;

        if ((double)(UINT64_MAX - whole) < extra) {
            goto range;
        }
        whole += (uint64_t)extra;
    }
    *out = whole;
    return true;

 bad:
    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                "Parameter '%s' expects a non-negative number below 2^64, "
                "optionally suffixed with k, M, G, T, P or E", key);
    return false;
 range:
    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                "Value '%s' is out of range for parameter '%s'", value, key);
    return false;
}

bool keyval_get_bool(KeyvalList *kv, const char *key, bool def, bool *out,
                     GError **errp)
{
    const char *value = keyval_get_str(kv, key);

    if (!value) {
        *out = def;
        return true;
    }
    return keyval_parse_bool(key, value, out, errp);
}

bool keyval_get_size(KeyvalList *kv, const char *key, uint64_t def,
                     uint64_t *out, GError **errp)
{
    const char *value = keyval_get_str(kv, key);

    if (!value) {
        *out = def;
        return true;
    }
    return keyval_parse_size(key, value, 1, out, errp);
}

bool keyval_get_uint(KeyvalList *kv, const char *key, uint64_t def,
                     uint64_t max, uint64_t *out, GError **errp)
{
    const char *value = keyval_get_str(kv, key);

    if (!value) {
        *out = def;
        return true;
    }
    return keyval_parse_uint(key, value, max, out, errp);
}

GHashTable *keyval_take_unused(KeyvalList *kv)
{
    GHashTable *table = g_hash_table_new_full(g_str_hash, g_str_equal,
                                              g_free, g_free);

    for (guint i = 0; i < kv->pairs->len; i++) {
        KeyvalPair *pair = keyval_pair(kv, i);

        if (!pair->used) {
            /* insert replaces: the last value of a key wins */
            g_hash_table_insert(table, g_strdup(pair->key),
                                g_strdup(pair->value));
            pair->used = true;
        }
    }
    return table;
}

const char *keyval_first_unused(const KeyvalList *kv)
{
    for (guint i = 0; i < kv->pairs->len; i++) {
        const KeyvalPair *pair = keyval_pair(kv, i);

        if (!pair->used) {
            return pair->key;
        }
    }
    return NULL;
}

bool keyval_check_unused(const KeyvalList *kv, GError **errp)
{
    const char *key = keyval_first_unused(kv);

    if (key) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Invalid parameter '%s'", key);
        return false;
    }
    return true;
}
