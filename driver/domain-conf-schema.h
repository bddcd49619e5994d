/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to domain-conf*.c: libvirt's domain schema (stage 3 of parsing,
 * see domain-conf.c) and the policy table (stage 4).
 */
#ifndef DRIVER_DOMAIN_CONF_SCHEMA_H
#define DRIVER_DOMAIN_CONF_SCHEMA_H

#include <stdbool.h>
#include <glib.h>
#include <libxml/tree.h>

/* The document name libvirt gives domain XML in parser messages. */
#define XML_DOC_NAME "(domain_definition)"

#define NOT_SUPPORTED "is not supported by the kestrel driver"

/* libvirt0's schema; VIRTKESTRELD_DOMAIN_RNG overrides it (tests). */
#ifndef DOMAIN_RNG_PATH
#define DOMAIN_RNG_PATH "/usr/share/libvirt/schemas/domain.rng"
#endif

typedef struct Schema Schema;

/*
 * The schema, loaded on first use; thread-safe.  NULL with
 * DRV_ERR_INTERNAL_ERROR if libvirt's schema cannot be loaded.
 */
const Schema *domain_conf_schema_get(GError **errp);

/* RelaxNG validation of @doc: DRV_ERR_XML_INVALID_SCHEMA, libvirt's text. */
bool domain_conf_schema_validate(const Schema *s, xmlDocPtr doc,
                                 GError **errp);

/*
 * Stage 4: walk @root (a <domain> valid against the schema) through the
 * policy table.  Every element, attribute and value the table does not
 * accept is collected; if any, one DRV_ERR_CONFIG_UNSUPPORTED error lists
 * them all, each with its XPath and what to write instead.
 */
bool domain_conf_policy_check(xmlNodePtr root, GError **errp);

#endif /* DRIVER_DOMAIN_CONF_SCHEMA_H */
