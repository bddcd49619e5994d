/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * JSON output exactly as QEMU's monitor writes it (see json-stream.h).
 *
 * Member order: QEMU keeps objects in a 512-bucket hash table and prints
 * bucket by bucket, newest entry first within a bucket.  Replicating that
 * order makes our replies byte-identical to QEMU's ({"return": ..., "id"},
 * {"micro", "minor", "major"}), which lets tests diff against real QEMU.
 */
#include <stdlib.h>
#include <string.h>

#include "json-stream.h"

#define QDICT_BUCKETS 512

/* The hash QEMU's QDict uses (a TDB hash); the function is a fact of the
 * wire order, our own implementation. */
static unsigned qdict_bucket(const char *name)
{
    size_t n = strlen(name);
    guint32 v = 0x238F13AFu * (guint32)n;

    for (size_t i = 0; i < n; i++) {
        v += (guint32)(unsigned char)name[i] << (i * 5 % 24);
    }
    return (1103515243u * v + 12345u) % QDICT_BUCKETS;
}

typedef struct {
    const char *name;
    unsigned bucket;
    unsigned index;
} MemberOrder;

static int member_order_cmp(const void *a, const void *b)
{
    const MemberOrder *x = a, *y = b;

    if (x->bucket != y->bucket) {
        return x->bucket < y->bucket ? -1 : 1;
    }
    return x->index > y->index ? -1 : x->index < y->index;
}

GPtrArray *json_stream_member_order(JsonObject *obj)
{
    GList *names = json_object_get_members(obj);
    guint n = g_list_length(names);
    g_autofree MemberOrder *order = g_new(MemberOrder, n ? n : 1);
    GPtrArray *out = g_ptr_array_sized_new(n);
    guint i = 0;

    for (GList *l = names; l; l = l->next, i++) {
        order[i].name = l->data;
        order[i].bucket = qdict_bucket(l->data);
        order[i].index = i;
    }
    g_list_free(names);
    qsort(order, n, sizeof(*order), member_order_cmp);
    for (i = 0; i < n; i++) {
        g_ptr_array_add(out, (char *)order[i].name);
    }
    return out;
}

static void write_indent(GString *out, bool pretty, int level)
{
    if (pretty) {
        g_string_append_c(out, '\n');
        for (int i = 0; i < level; i++) {
            g_string_append(out, "    ");
        }
    }
}

static void write_string(GString *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    g_string_append_c(out, '"');
    while (*p) {
        unsigned char c = *p;
        gunichar cp;

        switch (c) {
        case '"':
            g_string_append(out, "\\\"");
            p++;
            continue;
        case '\\':
            g_string_append(out, "\\\\");
            p++;
            continue;
        case '\b':
            g_string_append(out, "\\b");
            p++;
            continue;
        case '\f':
            g_string_append(out, "\\f");
            p++;
            continue;
        case '\n':
            g_string_append(out, "\\n");
            p++;
            continue;
        case '\r':
            g_string_append(out, "\\r");
            p++;
            continue;
        case '\t':
            g_string_append(out, "\\t");
            p++;
            continue;
        default:
            break;
        }
        if (c >= 0x20 && c < 0x7F) {
            g_string_append_c(out, c);
            p++;
            continue;
        }
        if (c == 0xC0 && p[1] == 0x80) {
            cp = 0;                     /* modified UTF-8's U+0000 */
            p += 2;
        } else {
            cp = g_utf8_get_char_validated((const char *)p, -1);
            if (cp == (gunichar)-1 || cp == (gunichar)-2) {
                cp = 0xFFFD;            /* like QEMU: one per bad byte */
                p++;
            } else {
                p = (const unsigned char *)g_utf8_next_char(p);
            }
        }
        if (cp >= 0x10000) {
            cp -= 0x10000;
            g_string_append_printf(out, "\\u%04X\\u%04X", 0xD800 + (cp >> 10),
                                   0xDC00 + (cp & 0x3FF));
        } else {
            g_string_append_printf(out, "\\u%04X", cp);
        }
    }
    g_string_append_c(out, '"');
}

static void write_node(GString *out, JsonNode *node, bool pretty, int level);

static void write_object(GString *out, JsonObject *obj, bool pretty,
                         int level)
{
    g_autoptr(GPtrArray) order = json_stream_member_order(obj);

    g_string_append_c(out, '{');
    for (guint i = 0; i < order->len; i++) {
        const char *name = g_ptr_array_index(order, i);

        if (i) {
            g_string_append_c(out, ',');
            if (!pretty) {
                g_string_append_c(out, ' ');
            }
        }
        write_indent(out, pretty, level + 1);
        write_string(out, name);
        g_string_append(out, ": ");
        write_node(out, json_object_get_member(obj, name), pretty, level + 1);
    }
    write_indent(out, pretty, level);
    g_string_append_c(out, '}');
}

static void write_array(GString *out, JsonArray *arr, bool pretty, int level)
{
    guint n = json_array_get_length(arr);

    g_string_append_c(out, '[');
    for (guint i = 0; i < n; i++) {
        if (i) {
            g_string_append_c(out, ',');
            if (!pretty) {
                g_string_append_c(out, ' ');
            }
        }
        write_indent(out, pretty, level + 1);
        write_node(out, json_array_get_element(arr, i), pretty, level + 1);
    }
    write_indent(out, pretty, level);
    g_string_append_c(out, ']');
}

static void write_node(GString *out, JsonNode *node, bool pretty, int level)
{
    if (!node) {
        g_string_append(out, "null");
        return;
    }
    switch (json_node_get_node_type(node)) {
    case JSON_NODE_OBJECT:
        write_object(out, json_node_get_object(node), pretty, level);
        return;
    case JSON_NODE_ARRAY:
        write_array(out, json_node_get_array(node), pretty, level);
        return;
    case JSON_NODE_NULL:
        g_string_append(out, "null");
        return;
    case JSON_NODE_VALUE:
        break;
    }
    switch (json_node_get_value_type(node)) {
    case G_TYPE_INT64:
        g_string_append_printf(out, "%" G_GINT64_FORMAT,
                               json_node_get_int(node));
        break;
    case G_TYPE_DOUBLE: {
        char buf[G_ASCII_DTOSTR_BUF_SIZE];
        double d = json_node_get_double(node);

        /* json-glib has no unsigned 64-bit integers: UINT64_MAX (QEMU's
         * "unset" balloon stat, or a client's id) is held as the double
         * 2^64, the nearest, and printed as QEMU prints the integer. */
        if (d == JSON_UINT64_MAX_AS_DOUBLE) {
            g_string_append(out, "18446744073709551615");
            break;
        }
        /* QEMU prints doubles with %.17g, e.g. 0.10000000000000001 */
        g_ascii_formatd(buf, sizeof(buf), "%.17g", d);
        g_string_append(out, buf);
        break;
    }
    case G_TYPE_BOOLEAN:
        g_string_append(out, json_node_get_boolean(node) ? "true" : "false");
        break;
    case G_TYPE_STRING:
        write_string(out, json_node_get_string(node));
        break;
    default:
        g_string_append(out, "null");
        break;
    }
}

void json_stream_write(GString *out, JsonNode *node, bool pretty)
{
    write_node(out, node, pretty, 0);
}

char *json_stream_to_string(JsonNode *node, bool pretty)
{
    GString *out = g_string_sized_new(128);

    json_stream_write(out, node, pretty);
    return g_string_free(out, FALSE);
}

JsonNode *json_node_new_uint64(guint64 v)
{
    JsonNode *n = json_node_new(JSON_NODE_VALUE);

    if (v <= G_MAXINT64) {
        json_node_set_int(n, (gint64)v);
    } else {
        /* Above INT64_MAX only the double nearest survives; UINT64_MAX
         * (2^64 as a double) is printed exactly by the writer. */
        json_node_set_double(n, (double)v);
    }
    return n;
}
