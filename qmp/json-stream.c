/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * JSON framing: a byte-at-a-time lexer, a token accumulator that finds the
 * end of each top-level value by counting braces and brackets, and a
 * recursive-descent parser that turns the tokens into json-glib nodes.
 * Behaviour and error texts follow QEMU 7.2 as observed on its QMP socket.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json-stream.h"

G_DEFINE_QUARK(json-stream-error-quark, json_stream_error)

typedef enum {
    LEX_START,
    LEX_DQ,             /* in "string" */
    LEX_DQ_ESC,
    LEX_SQ,             /* in 'string' */
    LEX_SQ_ESC,
    LEX_ZERO,           /* "0" or "-0" */
    LEX_NONZERO,        /* integer digits */
    LEX_NEG,            /* after '-' */
    LEX_MANT,           /* after '.' */
    LEX_MANT_DIGITS,
    LEX_EXP_E,          /* after 'e' */
    LEX_EXP_SIGN,
    LEX_EXP_DIGITS,
    LEX_KEYWORD,        /* [a-z]+ */
    LEX_RECOVERY,       /* skipping after an error */
} LexState;

typedef enum {
    TOK_LCURLY,
    TOK_RCURLY,
    TOK_LSQUARE,
    TOK_RSQUARE,
    TOK_COLON,
    TOK_COMMA,
    TOK_INTEGER,
    TOK_FLOAT,
    TOK_KEYWORD,
    TOK_STRING,
} TokType;

typedef struct {
    TokType type;
    size_t start;       /* offset in JsonStream.text */
    size_t len;
} Token;

struct JsonStream {
    JsonStreamFunc func;
    void *opaque;
    LexState state;
    GString *tok;       /* the token being lexed */
    GString *text;      /* texts of the tokens of the current value */
    GArray *tokens;     /* of Token */
    int braces;
    int brackets;
};

/* ---- parser --------------------------------------------------------- */

typedef struct {
    const Token *toks;
    size_t n;
    size_t pos;
    const char *text;
    GError *err;
} Parser;

static void G_GNUC_PRINTF(2, 3) parser_error(Parser *p, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    if (p->err) {
        return;
    }
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    p->err = g_error_new(JSON_STREAM_ERROR, JSON_STREAM_ERROR_SYNTAX,
                         "JSON parse error, %s", msg);
}

static const Token *parser_peek(Parser *p)
{
    return p->pos < p->n ? &p->toks[p->pos] : NULL;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Four hex digits at @s (within [s, end)), or -1. */
static int parse_hex4(const char *s, const char *end)
{
    int v = 0;

    if (end - s < 4) {
        return -1;
    }
    for (int i = 0; i < 4; i++) {
        int h = hex_value(s[i]);

        if (h < 0) {
            return -1;
        }
        v = (v << 4) | h;
    }
    return v;
}

/*
 * Decode one UTF-8 sequence at @s.  Like QEMU this is "modified UTF-8":
 * the overlong C0 80 stands for U+0000.  Returns the length or 0.
 */
static int utf8_decode(const unsigned char *s, const unsigned char *end,
                       gunichar *out)
{
    unsigned char c = s[0];
    int len;
    gunichar cp, min;

    if (c < 0x80) {
        *out = c;
        return 1;
    }
    if (c == 0xC0 && end - s >= 2 && s[1] == 0x80) {
        *out = 0;
        return 2;
    }
    if ((c & 0xE0) == 0xC0) {
        len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (end - s < len) {
        return 0;
    }
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    *out = cp;
    return len;
}

/*
 * Append code point @cp; U+0000 as the overlong C0 80 ("modified UTF-8",
 * as QEMU does), so a string with an escaped NUL stays whole as a C string
 * instead of ending there.  json-stream.h: JSON_STRING_NUL.
 */
static void append_cp(GString *out, gunichar cp)
{
    if (!cp) {
        g_string_append_len(out, JSON_STRING_NUL, 2);
        return;
    }
    g_string_append_unichar(out, cp);
}

/* A string token (with its quotes) to modified UTF-8; NULL on error. */
static char *parse_string(Parser *p, const char *s, size_t len)
{
    g_autoptr(GString) out = g_string_sized_new(len);
    const char *end = s + len - 1;      /* the closing quote */

    for (s++; s < end;) {
        if (*s != '\\') {
            gunichar cp;
            int n = utf8_decode((const unsigned char *)s,
                                (const unsigned char *)end, &cp);

            if (!n) {
                parser_error(p, "invalid UTF-8 sequence in string");
                return NULL;
            }
            append_cp(out, cp);
            s += n;
            continue;
        }
        s++;
        switch (*s) {
        case '"':
        case '\'':
        case '\\':
        case '/':
            g_string_append_c(out, *s);
            s++;
            break;
        case 'b':
            g_string_append_c(out, '\b');
            s++;
            break;
        case 'f':
            g_string_append_c(out, '\f');
            s++;
            break;
        case 'n':
            g_string_append_c(out, '\n');
            s++;
            break;
        case 'r':
            g_string_append_c(out, '\r');
            s++;
            break;
        case 't':
            g_string_append_c(out, '\t');
            s++;
            break;
        case 'u': {
            const char *esc = s - 1;
            int cp = parse_hex4(s + 1, end);

            s += 5;
            if (cp >= 0xD800 && cp <= 0xDBFF && end - s >= 6
                && s[0] == '\\' && s[1] == 'u') {
                int lo = parse_hex4(s + 2, end);

                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    s += 6;
                }
            }
            if (cp < 0 || (cp >= 0xD800 && cp <= 0xDFFF)) {
                /* QEMU quotes the escape: backslash, 'u', 4 more chars */
                int avail = (int)MIN(4, end + 1 - (esc + 2));

                parser_error(p, "\\u%.*s is not a valid Unicode character",
                             avail, esc + 2);
                return NULL;
            }
            append_cp(out, cp);
            break;
        }
        default:
            parser_error(p, "invalid escape sequence in string");
            return NULL;
        }
    }
    return g_string_free(g_steal_pointer(&out), FALSE);
}

static JsonNode *parse_value(Parser *p);

static JsonNode *parse_object(Parser *p)
{
    g_autoptr(JsonObject) obj = json_object_new();
    JsonNode *node;
    const Token *t;

    p->pos++;                           /* '{' */
    t = parser_peek(p);
    if (t && t->type == TOK_RCURLY) {
        p->pos++;
        goto done;
    }
    for (;;) {
        g_autoptr(JsonNode) key = parse_value(p);
        g_autoptr(JsonNode) val = NULL;
        const char *name;

        if (!key) {
            return NULL;
        }
        if (!JSON_NODE_HOLDS_VALUE(key)
            || json_node_get_value_type(key) != G_TYPE_STRING) {
            parser_error(p, "key is not a string in object");
            return NULL;
        }
        t = parser_peek(p);
        if (!t || t->type != TOK_COLON) {
            parser_error(p, "missing : in object pair");
            return NULL;
        }
        p->pos++;
        val = parse_value(p);
        if (!val) {
            return NULL;
        }
        name = json_node_get_string(key);
        if (json_object_has_member(obj, name)) {
            parser_error(p, "duplicate key");
            return NULL;
        }
        json_object_set_member(obj, name, g_steal_pointer(&val));
        t = parser_peek(p);
        if (t && t->type == TOK_RCURLY) {
            p->pos++;
            break;
        }
        if (!t || t->type != TOK_COMMA) {
            parser_error(p, "expected separator in dict");
            return NULL;
        }
        p->pos++;
    }
done:
    node = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(node, g_steal_pointer(&obj));
    return node;
}

static JsonNode *parse_array(Parser *p)
{
    g_autoptr(JsonArray) arr = json_array_new();
    JsonNode *node;
    const Token *t;

    p->pos++;                           /* '[' */
    t = parser_peek(p);
    if (t && t->type == TOK_RSQUARE) {
        p->pos++;
        goto done;
    }
    for (;;) {
        JsonNode *elt = parse_value(p);

        if (!elt) {
            return NULL;
        }
        json_array_add_element(arr, elt);
        t = parser_peek(p);
        if (t && t->type == TOK_RSQUARE) {
            p->pos++;
            break;
        }
        if (!t || t->type != TOK_COMMA) {
            parser_error(p, "expected separator in list");
            return NULL;
        }
        p->pos++;
    }
done:
    node = json_node_new(JSON_NODE_ARRAY);
    json_node_take_array(node, g_steal_pointer(&arr));
    return node;
}

static JsonNode *parse_number(const Token *t, const char *s)
{
    g_autofree char *str = g_strndup(s, t->len);
    JsonNode *node = json_node_new(JSON_NODE_VALUE);

    if (t->type == TOK_INTEGER) {
        gint64 v;

        errno = 0;
        v = g_ascii_strtoll(str, NULL, 10);
        if (errno == 0) {
            json_node_set_int(node, v);
            return node;
        }
        /* out of range: QEMU keeps uint64 exactly, we fall to a double */
    }
    json_node_set_double(node, g_ascii_strtod(str, NULL));
    return node;
}

static JsonNode *parse_value(Parser *p)
{
    const Token *t = parser_peek(p);
    const char *s;
    JsonNode *node;

    if (!t) {
        parser_error(p, "premature EOI");
        return NULL;
    }
    s = p->text + t->start;
    switch (t->type) {
    case TOK_LCURLY:
        return parse_object(p);
    case TOK_LSQUARE:
        return parse_array(p);
    case TOK_STRING: {
        char *str = parse_string(p, s, t->len);

        if (!str) {
            return NULL;
        }
        p->pos++;
        node = json_node_new(JSON_NODE_VALUE);
        json_node_set_string(node, str);
        g_free(str);
        return node;
    }
    case TOK_INTEGER:
    case TOK_FLOAT:
        p->pos++;
        return parse_number(t, s);
    case TOK_KEYWORD:
        p->pos++;
        if (t->len == 4 && !memcmp(s, "true", 4)) {
            node = json_node_new(JSON_NODE_VALUE);
            json_node_set_boolean(node, TRUE);
            return node;
        }
        if (t->len == 5 && !memcmp(s, "false", 5)) {
            node = json_node_new(JSON_NODE_VALUE);
            json_node_set_boolean(node, FALSE);
            return node;
        }
        if (t->len == 4 && !memcmp(s, "null", 4)) {
            return json_node_new(JSON_NODE_NULL);
        }
        parser_error(p, "invalid keyword '%.*s'", (int)t->len, s);
        return NULL;
    default:
        parser_error(p, "expecting value");
        return NULL;
    }
}

static JsonNode *parse_tokens(const Token *toks, size_t n, const char *text,
                              GError **errp)
{
    Parser p = { .toks = toks, .n = n, .text = text };
    JsonNode *node = parse_value(&p);

    if (!node) {
        g_propagate_error(errp, p.err);
        return NULL;
    }
    return node;
}

/* ---- token accumulator ---------------------------------------------- */

static void stream_clear_value(JsonStream *s)
{
    g_string_truncate(s->text, 0);
    g_array_set_size(s->tokens, 0);
    s->braces = 0;
    s->brackets = 0;
    /* a huge value leaves a huge buffer behind: give it back */
    if (s->text->allocated_len > 65536) {
        g_string_free(s->text, TRUE);
        s->text = g_string_sized_new(256);
    }
}

static void G_GNUC_PRINTF(3, 4)
stream_emit_error(JsonStream *s, JsonStreamError code, const char *fmt, ...)
{
    va_list ap;
    g_autoptr(GError) err = NULL;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    err = g_error_new_literal(JSON_STREAM_ERROR, code, msg);
    stream_clear_value(s);
    s->func(NULL, err, s->opaque);
}

static void stream_token(JsonStream *s, TokType type)
{
    Token t = { .type = type, .start = s->text->len, .len = s->tok->len };
    g_autoptr(GError) err = NULL;
    JsonNode *node;

    switch (type) {
    case TOK_LCURLY:
        s->braces++;
        break;
    case TOK_RCURLY:
        s->braces--;
        break;
    case TOK_LSQUARE:
        s->brackets++;
        break;
    case TOK_RSQUARE:
        s->brackets--;
        break;
    default:
        break;
    }
    g_string_append_len(s->text, s->tok->str, s->tok->len);
    g_array_append_val(s->tokens, t);
    g_string_truncate(s->tok, 0);

    if (s->braces < 0 || s->brackets < 0
        || (s->braces == 0 && s->brackets == 0)) {
        node = parse_tokens((const Token *)(void *)s->tokens->data,
                            s->tokens->len, s->text->str, &err);
        stream_clear_value(s);
        s->func(node, err, s->opaque);
        return;
    }
    if (s->text->len > JSON_STREAM_MAX_SIZE) {
        stream_emit_error(s, JSON_STREAM_ERROR_LIMIT,
                          "JSON token size limit exceeded");
    } else if (s->tokens->len > JSON_STREAM_MAX_TOKENS) {
        stream_emit_error(s, JSON_STREAM_ERROR_LIMIT,
                          "JSON token count limit exceeded");
    } else if (s->braces + s->brackets > JSON_STREAM_MAX_NESTING) {
        stream_emit_error(s, JSON_STREAM_ERROR_LIMIT,
                          "JSON nesting depth limit exceeded");
    }
}

/* ---- lexer ---------------------------------------------------------- */

static void lex_error(JsonStream *s, unsigned char c)
{
    g_autofree char *text = NULL;

    g_string_append_c(s->tok, c);
    text = g_strndup(s->tok->str, s->tok->len);
    g_string_truncate(s->tok, 0);
    s->state = LEX_RECOVERY;
    stream_emit_error(s, JSON_STREAM_ERROR_SYNTAX,
                      "JSON parse error, stray '%s'", text);
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* End a number or keyword token; @c is then looked at again. */
static void lex_finish(JsonStream *s, TokType type)
{
    s->state = LEX_START;
    stream_token(s, type);
}

static void lex_char(JsonStream *s, unsigned char c)
{
    for (;;) {
        switch (s->state) {
        case LEX_START:
            switch (c) {
            case ' ': case '\t': case '\r': case '\n':
                return;
            case '{':
            case '}':
            case '[':
            case ']':
            case ',':
            case ':': {
                static const TokType punct[128] = {
                    ['{'] = TOK_LCURLY, ['}'] = TOK_RCURLY,
                    ['['] = TOK_LSQUARE, [']'] = TOK_RSQUARE,
                    [','] = TOK_COMMA, [':'] = TOK_COLON,
                };

                g_string_append_c(s->tok, c);
                stream_token(s, punct[c]);
                return;
            }
            case '"':
                s->state = LEX_DQ;
                break;
            case '\'':
                s->state = LEX_SQ;
                break;
            case '0':
                s->state = LEX_ZERO;
                break;
            case '-':
                s->state = LEX_NEG;
                break;
            default:
                if (c >= '1' && c <= '9') {
                    s->state = LEX_NONZERO;
                } else if (c >= 'a' && c <= 'z') {
                    s->state = LEX_KEYWORD;
                } else {
                    lex_error(s, c);
                    return;
                }
            }
            g_string_append_c(s->tok, c);
            return;
        case LEX_DQ:
        case LEX_SQ:
            if (c < 0x20 || c > 0xFD) {
                lex_error(s, c);
                return;
            }
            g_string_append_c(s->tok, c);
            if (c == '\\') {
                s->state = s->state == LEX_DQ ? LEX_DQ_ESC : LEX_SQ_ESC;
            } else if (c == (s->state == LEX_DQ ? '"' : '\'')) {
                s->state = LEX_START;
                stream_token(s, TOK_STRING);
            }
            return;
        case LEX_DQ_ESC:
        case LEX_SQ_ESC:
            if (c < 0x20 || c > 0xFD) {
                lex_error(s, c);
                return;
            }
            g_string_append_c(s->tok, c);
            s->state = s->state == LEX_DQ_ESC ? LEX_DQ : LEX_SQ;
            return;
        case LEX_NEG:
            if (c == '0') {
                s->state = LEX_ZERO;
            } else if (is_digit(c)) {
                s->state = LEX_NONZERO;
            } else {
                lex_error(s, c);
                return;
            }
            g_string_append_c(s->tok, c);
            return;
        case LEX_ZERO:
        case LEX_NONZERO:
            if (c == '.') {
                s->state = LEX_MANT;
            } else if (s->state == LEX_NONZERO && (is_digit(c) || c == 'e'
                                                   || c == 'E')) {
                if (!is_digit(c)) {
                    s->state = LEX_EXP_E;
                }
            } else if (c >= 0x80 || is_digit(c)) {
                lex_error(s, c);
                return;
            } else {
                lex_finish(s, TOK_INTEGER);
                continue;
            }
            g_string_append_c(s->tok, c);
            return;
        case LEX_MANT:
        case LEX_EXP_SIGN:
            if (!is_digit(c)) {
                lex_error(s, c);
                return;
            }
            s->state = s->state == LEX_MANT ? LEX_MANT_DIGITS
                                            : LEX_EXP_DIGITS;
            g_string_append_c(s->tok, c);
            return;
        case LEX_EXP_E:
            if (c == '+' || c == '-') {
                s->state = LEX_EXP_SIGN;
            } else if (is_digit(c)) {
                s->state = LEX_EXP_DIGITS;
            } else {
                lex_error(s, c);
                return;
            }
            g_string_append_c(s->tok, c);
            return;
        case LEX_MANT_DIGITS:
        case LEX_EXP_DIGITS:
            if (is_digit(c)) {
                /* stay */
            } else if (s->state == LEX_MANT_DIGITS && (c == 'e' || c == 'E')) {
                s->state = LEX_EXP_E;
            } else if (c >= 0x80) {
                lex_error(s, c);
                return;
            } else {
                lex_finish(s, TOK_FLOAT);
                continue;
            }
            g_string_append_c(s->tok, c);
            return;
        case LEX_KEYWORD:
            if (c >= 'a' && c <= 'z') {
                g_string_append_c(s->tok, c);
                return;
            }
            if (c >= 0x80) {
                lex_error(s, c);
                return;
            }
            lex_finish(s, TOK_KEYWORD);
            continue;
        case LEX_RECOVERY:
            if ((c < 0x20 && c != '\t') || c >= 0xFE || c == '{' || c == '}'
                || c == '[' || c == ']') {
                s->state = LEX_START;
                continue;
            }
            return;
        }
    }
}

JsonStream *json_stream_new(JsonStreamFunc func, void *opaque)
{
    JsonStream *s = g_new0(JsonStream, 1);

    s->func = func;
    s->opaque = opaque;
    s->state = LEX_START;
    s->tok = g_string_sized_new(64);
    s->text = g_string_sized_new(256);
    s->tokens = g_array_new(FALSE, FALSE, sizeof(Token));
    return s;
}

void json_stream_feed(JsonStream *s, const void *buf, size_t len)
{
    const unsigned char *p = buf;

    for (size_t i = 0; i < len; i++) {
        lex_char(s, p[i]);
        /* one token must not grow without bound either */
        if (s->tok->len > JSON_STREAM_MAX_SIZE) {
            g_string_truncate(s->tok, 0);
            s->state = LEX_RECOVERY;
            stream_emit_error(s, JSON_STREAM_ERROR_LIMIT,
                              "JSON token size limit exceeded");
        }
    }
}

bool json_stream_is_idle(const JsonStream *s)
{
    return s->tokens->len == 0 && s->tok->len == 0
        && (s->state == LEX_START || s->state == LEX_RECOVERY);
}

void json_stream_reset(JsonStream *s)
{
    g_string_truncate(s->tok, 0);
    s->state = LEX_START;
    stream_clear_value(s);
}

void json_stream_free(JsonStream *s)
{
    if (!s) {
        return;
    }
    g_string_free(s->tok, TRUE);
    g_string_free(s->text, TRUE);
    g_array_free(s->tokens, TRUE);
    g_free(s);
}

typedef struct {
    JsonNode *value;
    GError *err;
    unsigned count;
} ParseOne;

static void parse_one_cb(JsonNode *value, const GError *err, void *opaque)
{
    ParseOne *po = opaque;

    if (po->count++ == 0) {
        po->value = value;
        po->err = err ? g_error_copy(err) : NULL;
    } else if (value) {
        json_node_unref(value);
    }
}

JsonNode *json_stream_parse(const char *text, size_t len, GError **errp)
{
    ParseOne po = { 0 };
    g_autoptr(JsonStream) s = json_stream_new(parse_one_cb, &po);

    json_stream_feed(s, text, len);
    /* a trailing number or keyword needs one byte of lookahead */
    json_stream_feed(s, " ", 1);
    if (po.err) {
        g_propagate_error(errp, po.err);
        return NULL;
    }
    if (po.count != 1 || !json_stream_is_idle(s)) {
        if (po.value) {
            json_node_unref(po.value);
        }
        g_set_error_literal(errp, JSON_STREAM_ERROR, JSON_STREAM_ERROR_SYNTAX,
                            po.count ? "JSON parse error, expecting end of "
                                       "input"
                                     : "JSON parse error, expecting value");
        return NULL;
    }
    return po.value;
}
