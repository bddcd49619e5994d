/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The domain schema is libvirt's own (ARCHITECTURE.md decision 8):
 * /usr/share/libvirt/schemas/domain.rng from Debian's libvirt0, loaded and
 * compiled once.  Every document libvirt accepts therefore parses, and a
 * document libvirt's schema rejects is refused in libvirt's words
 * (virXMLValidateAgainstSchema: VIR_ERR_XML_INVALID_SCHEMA, "Unable to
 * validate doc against PATH" and libxml2's messages, one a line).  What
 * kestrel does with a valid document is domain-conf-policy.c's business.
 */
#include "config.h"

#include <string.h>

#include <libxml/parser.h>
#include <libxml/relaxng.h>
#include <libxml/tree.h>

#include "domain-conf.h"
#include "domain-conf-schema.h"
#include "drv-error.h"

struct Schema {
    char *path;
    xmlRelaxNGPtr rng;
};

static void rng_collect_error(void *data, xmlErrorPtr e)
{
    GString *msg = data;

    if (msg->len > 4096 || !e->message) {
        return;                         /* enough to go on */
    }
    g_string_append_printf(msg, "\n%s", e->message);
    while (msg->len && msg->str[msg->len - 1] == '\n') {
        g_string_truncate(msg, msg->len - 1);
    }
}

const char *domain_conf_schema_path(void)
{
    const char *env = g_getenv("VIRTKESTRELD_DOMAIN_RNG");

    return env && *env ? env : DOMAIN_RNG_PATH;
}

static gpointer schema_load(gpointer errp)
{
    g_autoptr(GString) msg = g_string_new(NULL);
    Schema *s = g_new0(Schema, 1);
    xmlRelaxNGParserCtxtPtr pctxt;

    xmlInitParser();
    s->path = g_strdup(domain_conf_schema_path());
    pctxt = xmlRelaxNGNewParserCtxt(s->path);
    xmlRelaxNGSetParserStructuredErrors(pctxt, rng_collect_error, msg);
    s->rng = xmlRelaxNGParse(pctxt);
    xmlRelaxNGFreeParserCtxt(pctxt);
    if (!s->rng) {
        /* a broken installation: every define says so, with the cause */
        g_set_error(errp, DRV_ERROR, DRV_ERR_INTERNAL_ERROR,
                    "cannot load libvirt's domain schema '%s' (package "
                    "libvirt0)%s", s->path, msg->str);
        g_free(s->path);
        g_free(s);
        return NULL;
    }
    return s;
}

const Schema *domain_conf_schema_get(GError **errp)
{
    static GMutex lock;
    static const Schema *schema;
    static GError *load_error;
    const Schema *s;

    /* g_once cannot return the error; a mutex keeps both */
    g_mutex_lock(&lock);
    if (!schema && !load_error) {
        schema = schema_load(&load_error);
    }
    s = schema;
    if (!s) {
        g_propagate_error(errp, g_error_copy(load_error));
    }
    g_mutex_unlock(&lock);
    return s;
}

bool domain_conf_schema_validate(const Schema *s, xmlDocPtr doc,
                                 GError **errp)
{
    xmlRelaxNGValidCtxtPtr vctxt = xmlRelaxNGNewValidCtxt(s->rng);
    g_autoptr(GString) msg = g_string_new(NULL);
    int rc;

    xmlRelaxNGSetValidStructuredErrors(vctxt, rng_collect_error, msg);
    rc = xmlRelaxNGValidateDoc(vctxt, doc);
    xmlRelaxNGFreeValidCtxt(vctxt);
    if (rc != 0) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_INVALID_SCHEMA,
                    "Unable to validate doc against %s%s", s->path,
                    msg->str);
        return false;
    }
    return true;
}
