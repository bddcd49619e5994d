/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Domain XML in and out.  Parsing runs in stages, each with its own class
 * of error, so that a user learns the most precise thing that is wrong:
 *
 *   1. libxml2 reads the text               -> DRV_ERR_XML_DETAIL
 *   2. the root must be <domain>            -> DRV_ERR_XML_ERROR
 *   3. every element, attribute and enumerated value must occur in
 *      schemas/domain.rng (the vocabulary)  -> DRV_ERR_CONFIG_UNSUPPORTED
 *   4. RelaxNG validation against it        -> DRV_ERR_XML_INVALID_SCHEMA
 *   5. values: numbers, units, names, and what kestrel cannot do
 *
 * Stage 3 exists because libxml2's RelaxNG messages name the parent that
 * "failed to validate content", not the element it did not expect; stage 3
 * derives the vocabulary from the same grammar, so the schema stays the one
 * place that says what we accept.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/relaxng.h>
#include <libxml/tree.h>

#include "domain-conf.h"
#include "drv-error.h"

/* driver/domain-rng.c, generated from schemas/domain.rng */
extern const char domain_rng_text[];

#define RNG_NS "http://relaxng.org/ns/structure/1.0"

/* The document name libvirt gives domain XML in parser messages. */
#define XML_DOC_NAME "(domain_definition)"

const char *domain_conf_schema_text(void)
{
    return domain_rng_text;
}

/* ---- the schema, compiled once --------------------------------------- */

typedef struct {
    xmlDocPtr doc;              /* the grammar as a tree: the vocabulary */
    xmlRelaxNGPtr rng;          /* the grammar compiled: the validator */
    GHashTable *defines;        /* define name -> <define> node */
    xmlNodePtr start;           /* <start> */
} Schema;

static bool rng_is(xmlNodePtr n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && n->ns &&
           g_str_equal((const char *)n->ns->href, RNG_NS) &&
           g_str_equal((const char *)n->name, name);
}

static void rng_silent_error(void *ctx, const char *msg, ...)
{
}

static gpointer schema_load(gpointer unused)
{
    Schema *s = g_new0(Schema, 1);
    xmlRelaxNGParserCtxtPtr pctxt;
    size_t len = strlen(domain_rng_text);

    xmlInitParser();
    s->doc = xmlReadMemory(domain_rng_text, (int)len, "domain.rng", NULL,
                           XML_PARSE_NONET | XML_PARSE_NOBLANKS |
                           XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    pctxt = xmlRelaxNGNewMemParserCtxt(domain_rng_text, (int)len);
    xmlRelaxNGSetParserErrors(pctxt, rng_silent_error, rng_silent_error,
                              NULL);
    s->rng = xmlRelaxNGParse(pctxt);
    xmlRelaxNGFreeParserCtxt(pctxt);
    if (!s->doc || !s->rng) {
        return NULL;                    /* a broken build; tests catch it */
    }

    s->defines = g_hash_table_new(g_str_hash, g_str_equal);
    for (xmlNodePtr n = xmlDocGetRootElement(s->doc)->children; n;
         n = n->next) {
        if (rng_is(n, "define")) {
            g_hash_table_insert(s->defines, xmlGetProp(n, BAD_CAST "name"),
                                n);
        } else if (rng_is(n, "start")) {
            s->start = n;
        }
    }
    return s;
}

static const Schema *schema_get(GError **errp)
{
    static GOnce once = G_ONCE_INIT;
    const Schema *s = g_once(&once, schema_load, NULL);

    if (!s) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_INTERNAL_ERROR,
                    "the compiled-in domain schema (domain.rng) is invalid");
    }
    return s;
}

/* ---- stage 3: the vocabulary ------------------------------------------ */

/* What a set of patterns allows directly (one element level). */
typedef struct {
    GHashTable *attrs;          /* name -> GPtrArray of <attribute> */
    GHashTable *elems;          /* name -> GPtrArray of <element> */
    GPtrArray *values;          /* <value> texts */
    bool free_text;             /* <text> or <data> somewhere */
} Vocab;

static void vocab_init(Vocab *v)
{
    v->attrs = g_hash_table_new_full(g_str_hash, g_str_equal, xmlFree,
                                     (GDestroyNotify)g_ptr_array_unref);
    v->elems = g_hash_table_new_full(g_str_hash, g_str_equal, xmlFree,
                                     (GDestroyNotify)g_ptr_array_unref);
    v->values = g_ptr_array_new_with_free_func(xmlFree);
    v->free_text = false;
}

static void vocab_clear(Vocab *v)
{
    g_hash_table_unref(v->attrs);
    g_hash_table_unref(v->elems);
    g_ptr_array_unref(v->values);
}

static void vocab_add(GHashTable *table, xmlNodePtr pattern)
{
    char *name = (char *)xmlGetProp(pattern, BAD_CAST "name");
    GPtrArray *list = g_hash_table_lookup(table, name);

    if (!list) {
        list = g_ptr_array_new();
        g_hash_table_insert(table, name, list);
    } else {
        xmlFree(name);
    }
    g_ptr_array_add(list, pattern);
}

/* Collect what the sibling patterns from @first on allow, through refs. */
static void vocab_collect(const Schema *s, xmlNodePtr first, Vocab *v,
                          GHashTable *seen)
{
    for (xmlNodePtr n = first; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE) {
            continue;
        }
        if (rng_is(n, "element")) {
            vocab_add(v->elems, n);
        } else if (rng_is(n, "attribute")) {
            vocab_add(v->attrs, n);
        } else if (rng_is(n, "value")) {
            g_ptr_array_add(v->values, xmlNodeGetContent(n));
        } else if (rng_is(n, "text") || rng_is(n, "data")) {
            v->free_text = true;
        } else if (rng_is(n, "ref")) {
            g_autofree char *name = NULL;
            xmlChar *x = xmlGetProp(n, BAD_CAST "name");
            xmlNodePtr def;

            name = g_strdup((const char *)x);
            xmlFree(x);
            def = g_hash_table_lookup(s->defines, name);
            if (def && g_hash_table_add(seen, def)) {
                vocab_collect(s, def->children, v, seen);
                g_hash_table_remove(seen, def);
            }
        } else if (!rng_is(n, "empty") && !rng_is(n, "notAllowed")) {
            /* choice, group, interleave, optional, zeroOrMore, ... */
            vocab_collect(s, n->children, v, seen);
        }
    }
}

/* The allowed values of @patterns (their content), or NULL if free. */
static GPtrArray *vocab_values(const Schema *s, GPtrArray *patterns)
{
    GPtrArray *values = g_ptr_array_new_with_free_func(xmlFree);

    for (guint i = 0; i < patterns->len; i++) {
        xmlNodePtr p = g_ptr_array_index(patterns, i);
        g_autoptr(GHashTable) seen = g_hash_table_new(NULL, NULL);
        bool has_pattern = false;
        Vocab v;

        for (xmlNodePtr c = p->children; c; c = c->next) {
            has_pattern |= c->type == XML_ELEMENT_NODE;
        }
        if (!has_pattern) {             /* <attribute name="x"/>: text */
            g_ptr_array_unref(values);
            return NULL;
        }
        vocab_init(&v);
        vocab_collect(s, p->children, &v, seen);
        if (v.free_text || !v.values->len) {
            vocab_clear(&v);
            g_ptr_array_unref(values);
            return NULL;
        }
        for (guint j = 0; j < v.values->len; j++) {
            g_ptr_array_add(values, xmlStrdup(g_ptr_array_index(v.values,
                                                                 j)));
        }
        vocab_clear(&v);
    }
    return values;
}

static bool value_in(GPtrArray *values, const char *text)
{
    g_autofree char *t = g_strstrip(g_strdup(text));

    for (guint i = 0; i < values->len; i++) {
        if (g_str_equal(t, g_ptr_array_index(values, i))) {
            return true;
        }
    }
    return false;
}

/* The text directly inside @node (not in its child elements). */
static char *node_own_text(xmlNodePtr node)
{
    GString *s = g_string_new(NULL);

    for (xmlNodePtr c = node->children; c; c = c->next) {
        if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
            g_string_append(s, (const char *)c->content);
        }
    }
    return g_string_free(s, FALSE);
}

#define NOT_SUPPORTED "is not supported by the kestrel driver"

static bool vocab_check(const Schema *s, xmlNodePtr node, GPtrArray *patterns,
                        GError **errp)
{
    const char *ename = (const char *)node->name;
    g_autoptr(GHashTable) seen = g_hash_table_new(NULL, NULL);
    bool ok = false;
    Vocab v;

    vocab_init(&v);
    for (guint i = 0; i < patterns->len; i++) {
        xmlNodePtr p = g_ptr_array_index(patterns, i);

        vocab_collect(s, p->children, &v, seen);
    }

    for (xmlAttrPtr a = node->properties; a; a = a->next) {
        const char *aname = (const char *)a->name;
        GPtrArray *pats = g_hash_table_lookup(v.attrs, aname);
        g_autoptr(GPtrArray) values = NULL;
        xmlChar *val;

        if (a->ns || !pats) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                        "attribute '%s' of element '%s' " NOT_SUPPORTED,
                        aname, ename);
            goto out;
        }
        values = vocab_values(s, pats);
        val = xmlNodeGetContent((xmlNodePtr)a);
        if (values && !value_in(values, (const char *)val)) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                        "value '%s' of attribute '%s' of element '%s' "
                        NOT_SUPPORTED, (const char *)val, aname, ename);
            xmlFree(val);
            goto out;
        }
        xmlFree(val);
    }

    if (v.values->len && !v.free_text) {
        g_autofree char *text = node_own_text(node);

        if (!value_in(v.values, text)) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                        "value '%s' of element '%s' " NOT_SUPPORTED,
                        g_strstrip(text), ename);
            goto out;
        }
    }

    for (xmlNodePtr c = node->children; c; c = c->next) {
        GPtrArray *pats;

        if (c->type != XML_ELEMENT_NODE) {
            continue;
        }
        pats = g_hash_table_lookup(v.elems, (const char *)c->name);
        if (c->ns || !pats) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                        "element '%s' " NOT_SUPPORTED, (const char *)c->name);
            goto out;
        }
        if (!vocab_check(s, c, pats, errp)) {
            goto out;
        }
    }
    ok = true;

 out:
    vocab_clear(&v);
    return ok;
}

/* ---- stage 4: RelaxNG ------------------------------------------------- */

static void rng_collect_error(void *data, xmlErrorPtr e)
{
    GString *msg = data;
    long line = e->line;

    if (msg->len > 4096) {
        return;                         /* enough to go on */
    }
    if (line <= 0 && e->node) {
        line = xmlGetLineNo(e->node);
    }
    g_string_append_printf(msg, "\n%s", XML_DOC_NAME);
    if (line > 0) {
        g_string_append_printf(msg, ":%ld", line);
    }
    g_string_append_printf(msg, ": %s", e->message ? e->message : "invalid");
    while (msg->len && msg->str[msg->len - 1] == '\n') {
        g_string_truncate(msg, msg->len - 1);
    }
}

static bool schema_validate(const Schema *s, xmlDocPtr doc, GError **errp)
{
    xmlRelaxNGValidCtxtPtr vctxt = xmlRelaxNGNewValidCtxt(s->rng);
    g_autoptr(GString) msg = g_string_new(NULL);
    int rc;

    xmlRelaxNGSetValidStructuredErrors(vctxt, rng_collect_error, msg);
    rc = xmlRelaxNGValidateDoc(vctxt, doc);
    xmlRelaxNGFreeValidCtxt(vctxt);
    if (rc != 0) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_INVALID_SCHEMA,
                    "Unable to validate doc against domain.rng%s", msg->str);
        return false;
    }
    return true;
}

/* ---- stage 5: values -------------------------------------------------- */

static xmlNodePtr child(xmlNodePtr node, const char *name)
{
    for (xmlNodePtr c = node ? node->children : NULL; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE &&
            g_str_equal((const char *)c->name, name)) {
            return c;
        }
    }
    return NULL;
}

static char *attr(xmlNodePtr node, const char *name)
{
    xmlChar *x = node ? xmlGetNoNsProp(node, BAD_CAST name) : NULL;
    char *s = x ? g_strdup((const char *)x) : NULL;

    xmlFree(x);
    return s;
}

static char *text(xmlNodePtr node)
{
    xmlChar *x = node ? xmlNodeGetContent(node) : NULL;
    char *s = x ? g_strdup((const char *)x) : NULL;

    xmlFree(x);
    return s;
}

static bool parse_uint(const char *str, uint64_t max, uint64_t *out,
                       const char *what, GError **errp)
{
    g_autofree char *t = g_strstrip(g_strdup(str));
    const char *digits = t[0] == '+' ? t + 1 : t;
    g_autoptr(GError) local = NULL;
    guint64 v;

    if (!g_ascii_string_to_unsigned(digits, 10, 0, max, &v, &local)) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                    "invalid value '%s' for %s", str, what);
        return false;
    }
    *out = v;
    return true;
}

/* libvirt's units: case-insensitive b/byte/bytes, k/KiB/KB, M/MiB/MB, ... */
static bool unit_scale(const char *unit, uint64_t *scale)
{
    static const char prefixes[] = "kmgtpe";
    const char *p;
    uint64_t base;

    if (!unit || !*unit) {
        *scale = 1024;                  /* libvirt's default: KiB */
        return true;
    }
    if (!g_ascii_strcasecmp(unit, "b") || !g_ascii_strcasecmp(unit, "byte") ||
        !g_ascii_strcasecmp(unit, "bytes")) {
        *scale = 1;
        return true;
    }
    p = strchr(prefixes, g_ascii_tolower(unit[0]));
    if (!unit[0] || !p) {
        return false;
    }
    if (!unit[1] || !g_ascii_strcasecmp(unit + 1, "ib")) {
        base = 1024;
    } else if (!g_ascii_strcasecmp(unit + 1, "b")) {
        base = 1000;
    } else {
        return false;
    }
    *scale = 1;
    for (const char *q = prefixes; q <= p; q++) {
        *scale *= base;
    }
    return true;
}

/* <memory unit='U'>N</memory> and its kin, in KiB rounded up. */
static bool parse_memory(xmlNodePtr node, uint64_t *kib, GError **errp)
{
    const char *ename = (const char *)node->name;
    g_autofree char *unit = attr(node, "unit");
    g_autofree char *val = text(node);
    g_autofree char *what = g_strdup_printf("element '%s'", ename);
    uint64_t n, scale;

    if (!parse_uint(val, UINT64_MAX, &n, what, errp)) {
        return false;
    }
    if (!unit_scale(unit, &scale)) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                    "unknown unit '%s' for element '%s'", unit, ename);
        return false;
    }
    /* libvirt's bound: the byte count fits in a signed 64-bit integer */
    if (n > (uint64_t)INT64_MAX / scale) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_OVERFLOW,
                    "the size %s %s of element '%s' is too large",
                    g_strstrip(val), unit ? unit : "KiB", ename);
        return false;
    }
    *kib = (n * scale + 1023) / 1024;
    return true;
}

static bool parse_uuid(const char *str, unsigned char uuid[16],
                       GError **errp)
{
    unsigned int n = 0;

    for (const char *p = str; *p; p++) {
        int hi, lo;

        if (*p == '-' || g_ascii_isspace(*p)) {
            continue;
        }
        hi = g_ascii_xdigit_value(p[0]);
        lo = p[1] ? g_ascii_xdigit_value(p[1]) : -1;
        if (hi < 0 || lo < 0 || n == 16) {
            n = 17;
            break;
        }
        uuid[n++] = (unsigned char)(hi << 4 | lo);
        p++;
    }
    if (n != 16) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                    "malformed uuid '%s'", str);
        return false;
    }
    return true;
}

void domain_conf_uuid_format(const unsigned char uuid[16], char out[37])
{
    g_snprintf(out, 37,
               "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
               "%02x%02x%02x%02x%02x%02x",
               uuid[0], uuid[1], uuid[2], uuid[3], uuid[4], uuid[5],
               uuid[6], uuid[7], uuid[8], uuid[9], uuid[10], uuid[11],
               uuid[12], uuid[13], uuid[14], uuid[15]);
}

static void uuid_generate(unsigned char uuid[16])
{
    g_autofree char *s = g_uuid_string_random();

    (void)parse_uuid(s, uuid, NULL);
}

static const char *const lifecycle_names[] = {
    [DOMAIN_LIFECYCLE_DESTROY] = "destroy",
    [DOMAIN_LIFECYCLE_RESTART] = "restart",
    [DOMAIN_LIFECYCLE_PRESERVE] = "preserve",
};

const char *domain_lifecycle_action_name(DomainLifecycleAction a)
{
    return lifecycle_names[a];
}

static const char *const chr_type_names[] = {
    [DOMAIN_CHR_PTY] = "pty",
    [DOMAIN_CHR_FILE] = "file",
    [DOMAIN_CHR_UNIX] = "unix",
};

const char *domain_chr_type_name(DomainChrType t)
{
    return chr_type_names[t];
}

static void parse_lifecycle(xmlNodePtr root, const char *name,
                            DomainLifecycleAction *out)
{
    g_autofree char *v = text(child(root, name));

    if (!v) {
        return;                         /* keep the default */
    }
    g_strstrip(v);
    for (size_t i = 0; i < G_N_ELEMENTS(lifecycle_names); i++) {
        if (g_str_equal(v, lifecycle_names[i])) {
            *out = (DomainLifecycleAction)i;
        }
    }
}

static DomainTristate parse_onoff(xmlNodePtr node, const char *name)
{
    g_autofree char *v = attr(node, name);

    if (!v) {
        return DOMAIN_TRISTATE_ABSENT;
    }
    return g_str_equal(g_strstrip(v), "on") ? DOMAIN_TRISTATE_ON
                                            : DOMAIN_TRISTATE_OFF;
}

/* A user alias is kept; the names we assign at run time are dropped. */
static char *parse_user_alias(xmlNodePtr dev)
{
    g_autofree char *name = attr(child(dev, "alias"), "name");

    if (name && g_str_has_prefix(name, "ua-")) {
        return g_steal_pointer(&name);
    }
    return NULL;
}

static void chr_free(gpointer p)
{
    DomainChr *c = p;

    if (!c) {
        return;
    }
    g_free(c->path);
    g_free(c->alias);
    g_free(c);
}

static DomainChr *chr_copy(const DomainChr *src)
{
    DomainChr *c = g_new(DomainChr, 1);

    *c = *src;
    c->path = g_strdup(src->path);
    c->alias = g_strdup(src->alias);
    return c;
}

/* The source part shared by <serial> and <console>. */
static DomainChr *parse_chr(xmlNodePtr node)
{
    g_autofree char *type = attr(node, "type");
    xmlNodePtr source = child(node, "source");
    DomainChr *c = g_new0(DomainChr, 1);
    g_autofree char *mode = NULL;

    for (size_t i = 0; i < G_N_ELEMENTS(chr_type_names); i++) {
        if (g_str_equal(type, chr_type_names[i])) {
            c->type = (DomainChrType)i;
        }
    }
    if (c->type != DOMAIN_CHR_PTY) {    /* a pty's path is live state */
        c->path = attr(source, "path");
    }
    c->append = c->type == DOMAIN_CHR_FILE ? parse_onoff(source, "append")
                                           : DOMAIN_TRISTATE_ABSENT;
    mode = attr(source, "mode");
    c->listen = c->type == DOMAIN_CHR_UNIX && mode &&
                g_str_equal(mode, "bind");
    c->alias = parse_user_alias(node);
    return c;
}

static bool chr_same_source(const DomainChr *a, const DomainChr *b)
{
    return a->type == b->type && g_strcmp0(a->path, b->path) == 0 &&
           a->append == b->append && a->listen == b->listen;
}

static bool parse_serials(DomainDef *def, xmlNodePtr devices, GError **errp)
{
    bool taken[DOMAIN_MAX_SERIALS] = { false };
    g_autoptr(GPtrArray) unnumbered =
        g_ptr_array_new_with_free_func(chr_free);
    g_autoptr(GPtrArray) byport = g_ptr_array_new_with_free_func(chr_free);
    xmlNodePtr console = NULL;
    guint nserial = 0;

    g_ptr_array_set_size(byport, DOMAIN_MAX_SERIALS);
    for (xmlNodePtr n = devices ? devices->children : NULL; n; n = n->next) {
        g_autofree char *port = NULL;
        DomainChr *c;
        uint64_t p;

        if (n->type != XML_ELEMENT_NODE) {
            continue;
        }
        if (g_str_equal((const char *)n->name, "console")) {
            if (console) {
                g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                            "a second console " NOT_SUPPORTED ": the only "
                            "console is serial port 0");
                return false;
            }
            console = n;
            continue;
        }
        if (!g_str_equal((const char *)n->name, "serial")) {
            continue;
        }
        if (++nserial > DOMAIN_MAX_SERIALS) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                        "a fifth serial port " NOT_SUPPORTED ": the "
                        "machine has four (COM1 to COM4)");
            return false;
        }
        c = parse_chr(n);
        port = attr(child(n, "target"), "port");
        if (!port) {
            g_ptr_array_add(unnumbered, c);
            continue;
        }
        if (!parse_uint(port, UINT_MAX, &p, "attribute 'port' of a serial "
                        "target", errp)) {
            chr_free(c);
            return false;
        }
        if (p >= DOMAIN_MAX_SERIALS) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                        "serial port %" PRIu64 " " NOT_SUPPORTED ": the "
                        "machine has ports 0 to 3 (COM1 to COM4)", p);
            chr_free(c);
            return false;
        }
        if (taken[p]) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                        "serial port %" PRIu64 " is defined twice", p);
            chr_free(c);
            return false;
        }
        taken[p] = true;
        c->port = (unsigned int)p;
        g_ptr_array_index(byport, p) = c;
    }

    /* as libvirt: a serial without a port takes the lowest free one */
    for (guint i = 0, p = 0; i < unnumbered->len; i++) {
        DomainChr *c = g_steal_pointer(&g_ptr_array_index(unnumbered, i));

        while (taken[p]) {
            p++;
        }
        taken[p] = true;
        c->port = p;
        g_ptr_array_index(byport, p) = c;
    }
    for (guint p = 0; p < nserial; p++) {
        if (!taken[p]) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                        "serial port %u is missing: the kestrel driver "
                        "needs serial ports numbered from 0 without gaps",
                        p);
            return false;
        }
    }
    for (guint p = 0; p < nserial; p++) {
        g_ptr_array_add(def->serials, g_steal_pointer(
                            &g_ptr_array_index(byport, p)));
    }

    /* The console is serial port 0 (x86 libvirt): it creates the port when
     * there is none, and otherwise must say the same thing about it. */
    if (console) {
        g_autoptr(GPtrArray) one = g_ptr_array_new_with_free_func(chr_free);
        DomainChr *c = parse_chr(console);

        g_ptr_array_add(one, c);
        if (!def->serials->len) {
            g_ptr_array_add(def->serials, g_ptr_array_steal_index(one, 0));
        } else if (!chr_same_source(c, g_ptr_array_index(def->serials, 0))) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                        "the console (type '%s') must have the source of "
                        "serial port 0 (type '%s'): the kestrel driver's "
                        "console is that port", chr_type_names[c->type],
                        chr_type_names[((DomainChr *)g_ptr_array_index(
                            def->serials, 0))->type]);
            return false;
        }
    }
    return true;
}

static bool parse_pci_number(const char *str, const char *name,
                             uint64_t *out, GError **errp)
{
    g_autofree char *what = NULL;
    g_autoptr(GError) local = NULL;
    g_autofree char *t = g_strstrip(g_strdup(str));
    bool hex = g_str_has_prefix(t, "0x");
    guint64 v;

    if (!g_ascii_string_to_unsigned(hex ? t + 2 : t, hex ? 16 : 10, 0,
                                    UINT32_MAX, &v, &local)) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                    "invalid value '%s' for attribute '%s' of a PCI "
                    "address", str, name);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_balloon(DomainDef *def, xmlNodePtr devices, GError **errp)
{
    xmlNodePtr mb = child(devices, "memballoon");
    DomainBalloon *b = &def->balloon;
    g_autofree char *model = attr(mb, "model");
    g_autofree char *period = attr(child(mb, "stats"), "period");
    xmlNodePtr addr = child(mb, "address");
    uint64_t v;

    b->model = DOMAIN_BALLOON_VIRTIO;   /* as libvirt's QEMU driver */
    if (!mb) {
        return true;
    }
    if (g_str_equal(model, "none")) {
        b->model = DOMAIN_BALLOON_NONE;
        return true;
    }
    b->autodeflate = parse_onoff(mb, "autodeflate");
    b->free_page_reporting = parse_onoff(mb, "freePageReporting");
    b->alias = parse_user_alias(mb);
    if (period) {
        if (!parse_uint(period, INT_MAX, &v, "attribute 'period' of the "
                        "memballoon stats", errp)) {
            return false;
        }
        b->stats_period = (unsigned int)v;
    }
    if (addr) {
        static const char *const keys[] = { "domain", "bus", "slot",
                                            "function" };
        uint64_t a[4] = { 0, 0, 0, 0 };

        for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
            g_autofree char *s = attr(addr, keys[i]);

            if (s && !parse_pci_number(s, keys[i], &a[i], errp)) {
                return false;
            }
        }
        if (a[0] || a[1] || a[3] || a[2] < 1 || a[2] > 31) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                        "PCI address %04" PRIx64 ":%02" PRIx64 ":%02" PRIx64
                        ".%" PRIx64 " of the memballoon " NOT_SUPPORTED
                        ": kestrel has one PCI bus (0000:00), slots 1 to "
                        "31 and function 0", a[0], a[1], a[2], a[3]);
            return false;
        }
        b->has_address = true;
        b->pci_slot = (unsigned int)a[2];
    }
    return true;
}

static bool parse_vcpu(DomainDef *def, xmlNodePtr node, GError **errp)
{
    g_autofree char *count = text(node);
    g_autofree char *current = attr(node, "current");
    uint64_t n, cur;

    def->vcpus = 1;
    if (!node) {
        return true;
    }
    if (!parse_uint(count, UINT_MAX, &n, "element 'vcpu'", errp)) {
        return false;
    }
    if (n == 0) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                    "the vcpu count must be at least 1");
        return false;
    }
    if (n > DOMAIN_MAX_VCPUS) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                    "%" PRIu64 " vcpus " NOT_SUPPORTED ": the most is %d",
                    n, DOMAIN_MAX_VCPUS);
        return false;
    }
    if (current) {
        if (!parse_uint(current, UINT_MAX, &cur,
                        "attribute 'current' of element 'vcpu'", errp)) {
            return false;
        }
        if (cur > n) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                        "the current vcpu count %" PRIu64 " exceeds the "
                        "vcpu count %" PRIu64, cur, n);
            return false;
        }
        if (cur < n) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                        "vcpu hotplug (current='%" PRIu64 "' below %"
                        PRIu64 " vcpus) " NOT_SUPPORTED, cur, n);
            return false;
        }
    }
    def->vcpus = (unsigned int)n;
    return true;
}

static bool check_name(const char *name, GError **errp)
{
    if (strchr(name, '/')) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                    "name '%s' cannot contain '/'", name);
        return false;
    }
    for (const char *p = name; *p; p++) {
        if (g_ascii_iscntrl(*p)) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                        "name '%s' cannot contain control characters",
                        name);
            return false;
        }
    }
    return true;
}

static bool parse_os(DomainDef *def, xmlNodePtr os, GError **errp)
{
    def->os.kernel = text(child(os, "kernel"));
    def->os.initrd = text(child(os, "initrd"));
    def->os.cmdline = text(child(os, "cmdline"));
    if (def->os.kernel) {
        g_strstrip(def->os.kernel);
    }
    if (def->os.initrd) {
        g_strstrip(def->os.initrd);
    }
    if (!def->os.kernel) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                    "domain '%s' has no kernel: the kestrel driver boots "
                    "a kernel directly, without firmware, so element "
                    "'kernel' is required in 'os'", def->name);
        return false;
    }
    return true;
}

static DomainDef *domain_def_new(void)
{
    DomainDef *def = g_new0(DomainDef, 1);

    def->serials = g_ptr_array_new_with_free_func(chr_free);
    def->on_poweroff = DOMAIN_LIFECYCLE_DESTROY;
    def->on_reboot = DOMAIN_LIFECYCLE_RESTART;
    def->on_crash = DOMAIN_LIFECYCLE_DESTROY;
    def->acpi = true;
    return def;
}

static DomainDef *def_from_tree(xmlNodePtr root, GError **errp)
{
    g_autoptr(DomainDef) def = domain_def_new();
    xmlNodePtr features = child(root, "features");
    xmlNodePtr devices = child(root, "devices");
    xmlNodePtr cur = child(root, "currentMemory");
    g_autofree char *uuid = text(child(root, "uuid"));

    def->name = text(child(root, "name"));
    if (!check_name(def->name, errp)) {
        return NULL;
    }
    if (uuid) {
        if (!parse_uuid(uuid, def->uuid, errp)) {
            return NULL;
        }
    } else {
        uuid_generate(def->uuid);
    }
    def->title = text(child(root, "title"));
    if (def->title && strchr(def->title, '\n')) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                    "the title of domain '%s' cannot contain newlines",
                    def->name);
        return NULL;
    }
    def->description = text(child(root, "description"));

    if (!parse_memory(child(root, "memory"), &def->memory_kib, errp)) {
        return NULL;
    }
    if (def->memory_kib == 0) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                    "the memory size of domain '%s' must not be zero",
                    def->name);
        return NULL;
    }
    def->current_kib = def->memory_kib;
    if (cur && !parse_memory(cur, &def->current_kib, errp)) {
        return NULL;
    }
    /* as libvirt: a balloon target of 0 or above the memory means all */
    if (def->current_kib == 0 || def->current_kib > def->memory_kib) {
        def->current_kib = def->memory_kib;
    }

    if (!parse_vcpu(def, child(root, "vcpu"), errp) ||
        !parse_os(def, child(root, "os"), errp)) {
        return NULL;
    }
    def->apic = child(features, "apic") != NULL;
    def->pae = child(features, "pae") != NULL;
    parse_lifecycle(root, "on_poweroff", &def->on_poweroff);
    parse_lifecycle(root, "on_reboot", &def->on_reboot);
    parse_lifecycle(root, "on_crash", &def->on_crash);

    def->emulator = text(child(devices, "emulator"));
    if (def->emulator) {
        g_strstrip(def->emulator);
    }
    if (!parse_serials(def, devices, errp) ||
        !parse_balloon(def, devices, errp)) {
        return NULL;
    }
    if (def->balloon.alias) {
        for (guint i = 0; i < def->serials->len; i++) {
            DomainChr *c = g_ptr_array_index(def->serials, i);

            if (!g_strcmp0(c->alias, def->balloon.alias)) {
                g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                            "alias '%s' is used by two devices", c->alias);
                return NULL;
            }
        }
    }
    return g_steal_pointer(&def);
}

DomainDef *domain_def_parse_string(const char *xml, unsigned int flags,
                                   GError **errp)
{
    const unsigned int known = DOMAIN_DEF_PARSE_VALIDATE |
                               DOMAIN_DEF_PARSE_INACTIVE;
    xmlParserCtxtPtr pctxt;
    xmlDocPtr doc;
    xmlNodePtr root;
    const Schema *s;
    DomainDef *def = NULL;
    g_autoptr(GPtrArray) top = g_ptr_array_new();
    Vocab v;
    g_autoptr(GHashTable) seen = g_hash_table_new(NULL, NULL);

    if (flags & ~known) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_INVALID_ARG,
                    "unsupported flags (0x%x) in function %s",
                    flags & ~known, G_STRFUNC);
        return NULL;
    }
    if (!(s = schema_get(errp))) {
        return NULL;
    }
    if (strlen(xml) > INT_MAX) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                    "the domain XML is too large");
        return NULL;
    }

    pctxt = xmlNewParserCtxt();
    doc = xmlCtxtReadMemory(pctxt, xml, (int)strlen(xml), NULL, NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR |
                            XML_PARSE_NOWARNING);
    if (!doc) {
        xmlErrorPtr e = xmlCtxtGetLastError(pctxt);
        g_autofree char *msg = g_strdup(e && e->message ? e->message
                                        : "failed to parse the document");

        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_DETAIL, "%s:%d: %s",
                    XML_DOC_NAME, e ? e->line : 0, g_strchomp(msg));
        xmlFreeParserCtxt(pctxt);
        return NULL;
    }
    xmlFreeParserCtxt(pctxt);

    root = xmlDocGetRootElement(doc);
    if (doc->intSubset || doc->extSubset) {
        /* entities would let a small document expand without bound */
        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                    "a document type declaration (<!DOCTYPE>) is not "
                    "accepted in domain XML");
        goto out;
    }
    if (!root || root->ns || !g_str_equal((const char *)root->name,
                                          "domain")) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                    "unexpected root element <%s>, expecting <domain>",
                    root ? (const char *)root->name : "");
        goto out;
    }

    vocab_init(&v);
    vocab_collect(s, s->start->children, &v, seen);
    g_ptr_array_extend(top, g_hash_table_lookup(v.elems, "domain"), NULL,
                       NULL);
    vocab_clear(&v);
    if (!vocab_check(s, root, top, errp) || !schema_validate(s, doc, errp)) {
        goto out;
    }
    def = def_from_tree(root, errp);

 out:
    xmlFreeDoc(doc);
    return def;
}

/* ---- formatting -------------------------------------------------------- */

static void put(GString *out, int indent, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static void put(GString *out, int indent, const char *fmt, ...)
{
    va_list ap;

    g_string_append_printf(out, "%*s", indent * 2, "");
    va_start(ap, fmt);
    g_string_append_vprintf(out, fmt, ap);
    va_end(ap);
    g_string_append_c(out, '\n');
}

/* libvirt's escaping, in text and in attributes quoted with ' */
static char *xml_escape(const char *s)
{
    GString *out = g_string_sized_new(strlen(s) + 8);

    for (const char *p = s; *p; p++) {
        switch (*p) {
        case '&':
            g_string_append(out, "&amp;");
            break;
        case '<':
            g_string_append(out, "&lt;");
            break;
        case '>':
            g_string_append(out, "&gt;");
            break;
        case '\'':
            g_string_append(out, "&apos;");
            break;
        case '"':
            g_string_append(out, "&quot;");
            break;
        default:
            g_string_append_c(out, *p);
        }
    }
    return g_string_free(out, FALSE);
}

static void put_text(GString *out, int indent, const char *name,
                     const char *value)
{
    g_autofree char *esc = NULL;

    if (value) {
        esc = xml_escape(value);
        put(out, indent, "<%s>%s</%s>", name, esc, name);
    }
}

/* source and target of a serial port or the console */
static void format_chr(GString *out, const DomainChr *c, bool console,
                       const char *pty, const char *alias)
{
    const char *elem = console ? "console" : "serial";
    const char *type = chr_type_names[c->type];
    g_autofree char *path = xml_escape(
        c->type == DOMAIN_CHR_PTY ? (pty ? pty : "") : c->path);

    if (console && c->type == DOMAIN_CHR_PTY && pty) {
        put(out, 2, "<%s type='%s' tty='%s'>", elem, type, path);
    } else {
        put(out, 2, "<%s type='%s'>", elem, type);
    }
    switch (c->type) {
    case DOMAIN_CHR_PTY:
        if (pty) {
            put(out, 3, "<source path='%s'/>", path);
        }
        break;
    case DOMAIN_CHR_FILE:
        put(out, 3, "<source path='%s'%s/>", path,
            c->append == DOMAIN_TRISTATE_ON ? " append='on'"
            : c->append == DOMAIN_TRISTATE_OFF ? " append='off'" : "");
        break;
    case DOMAIN_CHR_UNIX:
        put(out, 3, "<source mode='%s' path='%s'/>",
            c->listen ? "bind" : "connect", path);
        break;
    }
    if (console) {
        put(out, 3, "<target type='serial' port='0'/>");
    } else {
        put(out, 3, "<target type='isa-serial' port='%u'>", c->port);
        put(out, 4, "<model name='isa-serial'/>");
        put(out, 3, "</target>");
    }
    if (alias) {
        put(out, 3, "<alias name='%s'/>", alias);
    }
    put(out, 2, "</%s>", elem);
}

static const char *onoff(DomainTristate t)
{
    return t == DOMAIN_TRISTATE_ON ? "on" : "off";
}

static void format_balloon(GString *out, const DomainBalloon *b, bool live)
{
    const char *alias = b->alias ? b->alias : live ? "balloon0" : NULL;
    GString *attrs = g_string_new(NULL);

    if (b->model == DOMAIN_BALLOON_NONE) {
        put(out, 2, "<memballoon model='none'/>");
        g_string_free(attrs, TRUE);
        return;
    }
    if (b->autodeflate) {
        g_string_append_printf(attrs, " autodeflate='%s'",
                               onoff(b->autodeflate));
    }
    if (b->free_page_reporting) {
        g_string_append_printf(attrs, " freePageReporting='%s'",
                               onoff(b->free_page_reporting));
    }
    if (!b->stats_period && !alias && !b->has_address) {
        put(out, 2, "<memballoon model='virtio'%s/>", attrs->str);
        g_string_free(attrs, TRUE);
        return;
    }
    put(out, 2, "<memballoon model='virtio'%s>", attrs->str);
    g_string_free(attrs, TRUE);
    if (b->stats_period) {
        put(out, 3, "<stats period='%u'/>", b->stats_period);
    }
    if (alias) {
        put(out, 3, "<alias name='%s'/>", alias);
    }
    if (b->has_address) {
        put(out, 3, "<address type='pci' domain='0x0000' bus='0x00' "
            "slot='0x%02x' function='0x0'/>", b->pci_slot);
    }
    put(out, 2, "</memballoon>");
}

char *domain_def_format(const DomainDef *def, const DomainLive *live,
                        unsigned int flags)
{
    GString *out = g_string_new(NULL);
    bool inactive = flags & DOMAIN_DEF_FORMAT_INACTIVE;
    bool migratable = flags & DOMAIN_DEF_FORMAT_MIGRATABLE;
    /* run-time names (id, aliases, ptys): a running domain's own XML */
    bool runtime = live && !inactive && !migratable;
    uint64_t current = def->current_kib;
    char uuid[37];

    if (live && !inactive && live->current_kib) {
        current = live->current_kib;
    }
    domain_conf_uuid_format(def->uuid, uuid);
    if (runtime && live->id > 0) {
        put(out, 0, "<domain type='kvm' id='%d'>", live->id);
    } else {
        put(out, 0, "<domain type='kvm'>");
    }
    put_text(out, 1, "name", def->name);
    put(out, 1, "<uuid>%s</uuid>", uuid);
    put_text(out, 1, "title", def->title);
    put_text(out, 1, "description", def->description);
    put(out, 1, "<memory unit='KiB'>%" PRIu64 "</memory>", def->memory_kib);
    put(out, 1, "<currentMemory unit='KiB'>%" PRIu64 "</currentMemory>",
        current);
    put(out, 1, "<vcpu placement='static'>%u</vcpu>", def->vcpus);

    put(out, 1, "<os>");
    put(out, 2, "<type arch='x86_64' machine='kestrel'>hvm</type>");
    put_text(out, 2, "kernel", def->os.kernel);
    put_text(out, 2, "initrd", def->os.initrd);
    put_text(out, 2, "cmdline", def->os.cmdline);
    put(out, 1, "</os>");

    put(out, 1, "<features>");
    put(out, 2, "<acpi/>");
    if (def->apic) {
        put(out, 2, "<apic/>");
    }
    if (def->pae) {
        put(out, 2, "<pae/>");
    }
    put(out, 1, "</features>");
    put(out, 1, "<clock offset='utc'/>");
    put(out, 1, "<on_poweroff>%s</on_poweroff>",
        lifecycle_names[def->on_poweroff]);
    put(out, 1, "<on_reboot>%s</on_reboot>", lifecycle_names[def->on_reboot]);
    put(out, 1, "<on_crash>%s</on_crash>", lifecycle_names[def->on_crash]);

    put(out, 1, "<devices>");
    put_text(out, 2, "emulator", def->emulator);
    for (guint i = 0; i < def->serials->len; i++) {
        const DomainChr *c = g_ptr_array_index(def->serials, i);
        g_autofree char *alias = NULL;
        const char *pty = runtime && i < DOMAIN_MAX_SERIALS
                          ? live->serial_ptys[i] : NULL;

        alias = c->alias ? g_strdup(c->alias)
                : runtime ? g_strdup_printf("serial%u", i) : NULL;
        format_chr(out, c, false, pty, alias);
    }
    if (def->serials->len) {
        const DomainChr *c = g_ptr_array_index(def->serials, 0);
        g_autofree char *alias = c->alias ? g_strdup(c->alias)
                                 : runtime ? g_strdup("serial0") : NULL;

        format_chr(out, c, true, runtime ? live->serial_ptys[0] : NULL,
                   alias);
    }
    format_balloon(out, &def->balloon, runtime);
    put(out, 1, "</devices>");
    put(out, 0, "</domain>");
    return g_string_free(out, FALSE);
}

/* ---- copy, compare, free ---------------------------------------------- */

DomainDef *domain_def_copy(const DomainDef *src)
{
    DomainDef *def = g_new(DomainDef, 1);

    *def = *src;
    def->name = g_strdup(src->name);
    def->title = g_strdup(src->title);
    def->description = g_strdup(src->description);
    def->os.kernel = g_strdup(src->os.kernel);
    def->os.initrd = g_strdup(src->os.initrd);
    def->os.cmdline = g_strdup(src->os.cmdline);
    def->emulator = g_strdup(src->emulator);
    def->serials = g_ptr_array_new_with_free_func(chr_free);
    for (guint i = 0; i < src->serials->len; i++) {
        g_ptr_array_add(def->serials,
                        chr_copy(g_ptr_array_index(src->serials, i)));
    }
    def->balloon.alias = g_strdup(src->balloon.alias);
    return def;
}

static bool chr_equal(const DomainChr *a, const DomainChr *b)
{
    return chr_same_source(a, b) && a->port == b->port &&
           g_strcmp0(a->alias, b->alias) == 0;
}

static bool balloon_equal(const DomainBalloon *a, const DomainBalloon *b)
{
    return a->model == b->model && a->stats_period == b->stats_period &&
           a->autodeflate == b->autodeflate &&
           a->free_page_reporting == b->free_page_reporting &&
           g_strcmp0(a->alias, b->alias) == 0 &&
           a->has_address == b->has_address &&
           (!a->has_address || a->pci_slot == b->pci_slot);
}

bool domain_def_equal(const DomainDef *a, const DomainDef *b)
{
    if (g_strcmp0(a->name, b->name) || memcmp(a->uuid, b->uuid, 16) ||
        g_strcmp0(a->title, b->title) ||
        g_strcmp0(a->description, b->description) ||
        a->memory_kib != b->memory_kib || a->current_kib != b->current_kib ||
        a->vcpus != b->vcpus || g_strcmp0(a->os.kernel, b->os.kernel) ||
        g_strcmp0(a->os.initrd, b->os.initrd) ||
        g_strcmp0(a->os.cmdline, b->os.cmdline) || a->acpi != b->acpi ||
        a->apic != b->apic || a->pae != b->pae ||
        a->on_poweroff != b->on_poweroff || a->on_reboot != b->on_reboot ||
        a->on_crash != b->on_crash || g_strcmp0(a->emulator, b->emulator) ||
        a->serials->len != b->serials->len ||
        !balloon_equal(&a->balloon, &b->balloon)) {
        return false;
    }
    for (guint i = 0; i < a->serials->len; i++) {
        if (!chr_equal(g_ptr_array_index(a->serials, i),
                       g_ptr_array_index(b->serials, i))) {
            return false;
        }
    }
    return true;
}

void domain_def_free(DomainDef *def)
{
    if (!def) {
        return;
    }
    g_free(def->name);
    g_free(def->title);
    g_free(def->description);
    g_free(def->os.kernel);
    g_free(def->os.initrd);
    g_free(def->os.cmdline);
    g_free(def->emulator);
    g_ptr_array_unref(def->serials);
    g_free(def->balloon.alias);
    g_free(def);
}
