/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The domain schema: schemas/domain.rng, compiled in, loaded once, and the
 * two parse stages that check a document against it (see domain-conf.c):
 *
 *   3. every element, attribute and enumerated value must occur in the
 *      grammar (the vocabulary)         -> DRV_ERR_CONFIG_UNSUPPORTED
 *   4. RelaxNG validation against it    -> DRV_ERR_XML_INVALID_SCHEMA
 */
#include "config.h"

#include <string.h>

#include <libxml/parser.h>
#include <libxml/relaxng.h>
#include <libxml/tree.h>

#include "domain-conf.h"
#include "domain-conf-schema.h"
#include "drv-error.h"

/* driver/domain-rng.c, generated from schemas/domain.rng */
extern const char domain_rng_text[];

#define RNG_NS "http://relaxng.org/ns/structure/1.0"

const char *domain_conf_schema_text(void)
{
    return domain_rng_text;
}

/* ---- the schema, compiled once --------------------------------------- */

struct Schema {
    xmlDocPtr doc;              /* the grammar as a tree: the vocabulary */
    xmlRelaxNGPtr rng;          /* the grammar compiled: the validator */
    GHashTable *defines;        /* define name -> <define> node */
    xmlNodePtr start;           /* <start> */
};

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

const Schema *domain_conf_schema_get(GError **errp)
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

/*
 * Stages 3 and 4 for @doc, whose root element is the <domain> @root: the
 * vocabulary, then RelaxNG.
 */
bool domain_conf_schema_check(const Schema *s, xmlDocPtr doc, xmlNodePtr root,
                              GError **errp)
{
    g_autoptr(GPtrArray) top = g_ptr_array_new();
    g_autoptr(GHashTable) seen = g_hash_table_new(NULL, NULL);
    Vocab v;

    vocab_init(&v);
    vocab_collect(s, s->start->children, &v, seen);
    g_ptr_array_extend(top, g_hash_table_lookup(v.elems, "domain"), NULL,
                       NULL);
    vocab_clear(&v);
    return vocab_check(s, root, top, errp) && schema_validate(s, doc, errp);
}
