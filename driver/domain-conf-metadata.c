/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virDomainGetMetadata / virDomainSetMetadata on a DomainDef: <title>,
 * <description>, and the elements of <metadata>, one per namespace, as
 * libvirt's domain_conf.c treats them.  <metadata> is kept as text
 * (DomainDef.metadata) and parsed here only when an element is read or
 * written.
 */
#include "config.h"

#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "domain-conf.h"
#include "drv-error.h"

static xmlDocPtr xml_read(const char *text, const char *name, int options,
                          GError **errp)
{
    xmlParserCtxtPtr pctxt = xmlNewParserCtxt();
    xmlDocPtr doc = xmlCtxtReadMemory(pctxt, text, (int)strlen(text), name,
                                      NULL, options | XML_PARSE_NONET |
                                      XML_PARSE_NOERROR |
                                      XML_PARSE_NOWARNING);

    if (!doc || doc->intSubset || !xmlDocGetRootElement(doc)) {
        xmlErrorPtr e = xmlCtxtGetLastError(pctxt);
        g_autofree char *msg = g_strdup(e && e->message ? e->message
                                        : "not an XML element");

        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_DETAIL, "%s:%d: %s", name,
                    e ? e->line : 0, g_strchomp(msg));
        xmlFreeDoc(doc);
        doc = NULL;
    }
    xmlFreeParserCtxt(pctxt);
    return doc;
}

static char *node_string(xmlDocPtr doc, xmlNodePtr node)
{
    xmlBufferPtr buf = xmlBufferCreate();
    char *out;

    xmlNodeDump(buf, doc, node, 0, 1);
    out = g_strdup((const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
    return out;
}

/* The child of <metadata> in namespace @uri. */
static xmlNodePtr metadata_find(xmlNodePtr metadata, const char *uri)
{
    for (xmlNodePtr c = metadata->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE && c->ns && c->ns->href &&
            g_str_equal((const char *)c->ns->href, uri)) {
            return c;
        }
    }
    return NULL;
}

static bool check_type(int type, const char *uri, GError **errp)
{
    if (type < DOMAIN_METADATA_DESCRIPTION ||
        type > DOMAIN_METADATA_ELEMENT) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_INVALID_ARG,
                    "unknown metadata type '%d'", type);
        return false;
    }
    if (type == DOMAIN_METADATA_ELEMENT && !uri) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_INVALID_ARG,
                    "a namespace URI is required for metadata of type "
                    "element");
        return false;
    }
    return true;
}

static void not_present(GError **errp)
{
    g_set_error(errp, DRV_ERROR, DRV_ERR_NO_DOMAIN_METADATA,
                "Requested metadata element is not present");
}

char *domain_def_get_metadata(const DomainDef *def, int type,
                              const char *uri, GError **errp)
{
    xmlDocPtr doc;
    xmlNodePtr node;
    char *out = NULL;

    if (!check_type(type, uri, errp)) {
        return NULL;
    }
    if (type != DOMAIN_METADATA_ELEMENT) {
        const char *v = type == DOMAIN_METADATA_TITLE ? def->title
                                                      : def->description;

        if (!v) {
            not_present(errp);
            return NULL;
        }
        return g_strdup(v);
    }
    if (!def->metadata) {
        not_present(errp);
        return NULL;
    }
    /* re-indented from its own level, as libvirt returns it */
    if (!(doc = xml_read(def->metadata, "(metadata)", XML_PARSE_NOBLANKS,
                         errp))) {
        return NULL;
    }
    node = metadata_find(xmlDocGetRootElement(doc), uri);
    if (node) {
        out = node_string(doc, node);
    } else {
        not_present(errp);
    }
    xmlFreeDoc(doc);
    return out;
}

/* @node and its descendants into namespace @ns (libvirt puts them all). */
static void set_ns_deep(xmlNodePtr node, xmlNsPtr ns)
{
    for (xmlNodePtr c = node; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE) {
            xmlSetNs(c, ns);
            set_ns_deep(c->children, ns);
        }
    }
}

static bool set_element(DomainDef *def, const char *metadata,
                        const char *key, const char *uri, GError **errp)
{
    xmlDocPtr doc = NULL, add = NULL;
    xmlNodePtr root, old, node;
    xmlBufferPtr buf;
    bool empty;

    if (metadata && *metadata) {
        xmlNsPtr ns;

        if (!key || xmlValidateNCName(BAD_CAST key, 0) != 0) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_INVALID_ARG,
                        "failed to validate prefix for a new XML "
                        "namespace");
            return false;
        }
        if (!(add = xml_read(metadata, "(metadata_xml)", XML_PARSE_NOBLANKS,
                              errp))) {
            return false;
        }
        node = xmlDocGetRootElement(add);
        /* the element's own namespace declarations give way to @uri */
        xmlFreeNsList(node->nsDef);
        node->nsDef = NULL;
        ns = xmlNewNs(node, BAD_CAST uri, BAD_CAST key);
        node->ns = NULL;
        set_ns_deep(node, ns);
    }

    doc = def->metadata ? xml_read(def->metadata, "(metadata)", 0, errp)
                        : xmlNewDoc(BAD_CAST "1.0");
    if (!doc) {
        xmlFreeDoc(add);
        return false;
    }
    root = xmlDocGetRootElement(doc);
    if (!root) {
        root = xmlNewDocNode(doc, NULL, BAD_CAST "metadata", NULL);
        xmlDocSetRootElement(doc, root);
    }
    old = metadata_find(root, uri);
    if (old) {
        xmlNodePtr ws = old->prev;

        if (ws && xmlIsBlankNode(ws)) {  /* its indentation goes too */
            xmlUnlinkNode(ws);
            xmlFreeNode(ws);
        }
        xmlUnlinkNode(old);
        xmlFreeNode(old);
    }
    if (add) {
        xmlNodePtr last = root->last;

        /* indented as dumpxml writes <metadata>: children at 4 spaces */
        node = xmlDocCopyNode(xmlDocGetRootElement(add), doc, 1);
        if (!last || !xmlIsBlankNode(last)) {
            last = xmlAddChild(root, xmlNewDocText(doc, BAD_CAST "\n  "));
        }
        /* (a text node added next to a text node merges into it) */
        xmlAddPrevSibling(last, node);
        xmlAddPrevSibling(node, xmlNewDocText(doc, BAD_CAST "\n    "));
    }

    /* an empty <metadata> is no metadata */
    empty = true;
    for (xmlNodePtr c = root->children; c; c = c->next) {
        empty &= c->type != XML_ELEMENT_NODE;
    }
    g_free(def->metadata);
    def->metadata = NULL;
    if (!empty) {
        buf = xmlBufferCreate();
        xmlNodeDump(buf, doc, root, 1, 0);
        def->metadata = g_strdup((const char *)xmlBufferContent(buf));
        xmlBufferFree(buf);
    }
    xmlFreeDoc(doc);
    xmlFreeDoc(add);
    return true;
}

bool domain_def_set_metadata(DomainDef *def, int type, const char *metadata,
                             const char *key, const char *uri,
                             GError **errp)
{
    const char *v = metadata && *metadata ? metadata : NULL;

    if (!check_type(type, uri, errp)) {
        return false;
    }
    switch (type) {
    case DOMAIN_METADATA_TITLE:
        if (v && strchr(v, '\n')) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_INVALID_ARG,
                        "title can't contain newlines");
            return false;
        }
        g_free(def->title);
        def->title = g_strdup(v);
        return true;
    case DOMAIN_METADATA_DESCRIPTION:
        g_free(def->description);
        def->description = g_strdup(v);
        return true;
    default:
        return set_element(def, metadata, key, uri, errp);
    }
}
