/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Streaming JSON framing for QMP: bytes in, complete top-level JSON values
 * out, with QEMU's lexical rules, error texts and resynchronisation.
 *
 * QEMU's input extensions are accepted: strings in single quotes and the
 * escape \' in both kinds of strings.  Values come out as json-glib nodes.
 *
 * Limits (QEMU's numbers, qobject/json-streamer.c and json-lexer.c):
 *   JSON_STREAM_MAX_SIZE    64 MiB  bytes of tokens in one value (and in one
 *                                   token): "JSON token size limit exceeded"
 *   JSON_STREAM_MAX_TOKENS  2 Mi    tokens in one value:
 *                                   "JSON token count limit exceeded"
 *   JSON_STREAM_MAX_NESTING 1024    open braces + brackets:
 *                                   "JSON nesting depth limit exceeded"
 *
 * Errors and recovery, as QEMU 7.2 behaves on the wire:
 *   - a byte that cannot continue the current token is a lexical error,
 *     reported as "JSON parse error, stray '<token text so far>'"; the
 *     partial value is dropped and input is skipped up to the next
 *     resynchronisation byte: any of { } [ ], an ASCII control character
 *     other than TAB (so also CR and LF), or 0xFE/0xFF;
 *   - a value is handed to the parser as soon as its braces and brackets
 *     balance (or go negative: a stray '}' gives "expecting value");
 *   - a grammar error reports "JSON parse error, <what>" with QEMU's
 *     texts ("expecting value", "missing : in object pair", ...).
 * Top-level scalars are values too (the dispatcher rejects them); a number
 * or keyword ends only at the next byte, like QEMU (needs lookahead).
 *
 * Strings are "modified UTF-8", as in QEMU: U+0000 (\u0000 in the input)
 * is held as the two bytes C0 80, so json-glib's C strings keep it and
 * nothing is cut at an embedded NUL; the writer prints it back as \u0000.
 * Where a string must become a real C string for the system (a path, a
 * command), check json_string_has_nul() and refuse it.
 *
 * Known difference from QEMU: integers above INT64_MAX become doubles
 * (json-glib has no unsigned integers).
 */
#ifndef QMP_JSON_STREAM_H
#define QMP_JSON_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#define JSON_STREAM_MAX_SIZE (64u << 20)
#define JSON_STREAM_MAX_TOKENS (2u << 20)
#define JSON_STREAM_MAX_NESTING 1024

#define JSON_STREAM_ERROR json_stream_error_quark()
GQuark json_stream_error_quark(void);

typedef enum {
    JSON_STREAM_ERROR_SYNTAX,   /* lexical or grammar error */
    JSON_STREAM_ERROR_LIMIT,    /* one of the limits above */
} JsonStreamError;

typedef struct JsonStream JsonStream;

/* How a parsed string holds U+0000 (modified UTF-8's overlong form). */
#define JSON_STRING_NUL "\xC0\x80"

/* True if @s (a string from the parser) holds a U+0000. */
static inline bool json_string_has_nul(const char *s)
{
    return s && strstr(s, JSON_STRING_NUL) != NULL;
}

/*
 * Called once per complete top-level value: exactly one of @value (owned
 * by the callee: json_node_unref it) and @err (borrowed) is set.  The
 * callback must not free the stream.
 */
typedef void (*JsonStreamFunc)(JsonNode *value, const GError *err,
                               void *opaque);

/* A new framer delivering values to @func. */
JsonStream *json_stream_new(JsonStreamFunc func, void *opaque);

/* Feed @len bytes (any split: values may span calls and share one). */
void json_stream_feed(JsonStream *stream, const void *buf, size_t len);

/* True when no partial value is buffered (all input was framed). */
bool json_stream_is_idle(const JsonStream *stream);

/* Drop partial input (e.g. the peer reconnected). */
void json_stream_reset(JsonStream *stream);

void json_stream_free(JsonStream *stream);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(JsonStream, json_stream_free)

/*
 * Parse one whole text holding exactly one value (QEMU syntax, with the
 * extensions).  Returns a new node or NULL with @errp set.
 */
JsonNode *json_stream_parse(const char *text, size_t len, GError **errp);

/*
 * Serialise @node the way QEMU's monitor does: compact "{"a": 1, "b": []}"
 * (", " and ": " separators), or indented by 4 spaces when @pretty; only
 * ASCII out, everything else as \uXXXX with upper-case hex; object members
 * in QEMU's QDict iteration order so replies match QEMU byte for byte.
 * No line terminator is added.  Appends to @out.
 */
void json_stream_write(GString *out, JsonNode *node, bool pretty);

/*
 * The member names of @obj in the order QEMU would iterate them (the
 * order json_stream_write prints them).  Free with g_ptr_array_unref; the
 * strings belong to @obj.
 */
GPtrArray *json_stream_member_order(JsonObject *obj);

/* Same, as a new string. */
/* 2^64: how UINT64_MAX is held in a json-glib double (see the writer). */
#define JSON_UINT64_MAX_AS_DOUBLE 18446744073709551616.0

/* A number node for an unsigned 64-bit value; UINT64_MAX prints exactly. */
JsonNode *json_node_new_uint64(guint64 v);

char *json_stream_to_string(JsonNode *node, bool pretty);

#endif /* QMP_JSON_STREAM_H */
