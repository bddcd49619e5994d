/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The compiled-in domain schema, private to domain-conf*.c: stages 3 and 4
 * of parsing domain XML (see domain-conf.c).
 */
#ifndef DRIVER_DOMAIN_CONF_SCHEMA_H
#define DRIVER_DOMAIN_CONF_SCHEMA_H

#include <stdbool.h>
#include <glib.h>
#include <libxml/tree.h>

/* The document name libvirt gives domain XML in parser messages. */
#define XML_DOC_NAME "(domain_definition)"

#define NOT_SUPPORTED "is not supported by the kestrel driver"

typedef struct Schema Schema;

/*
 * The schema, loaded on first use; thread-safe. NULL with an error if the
 * compiled-in grammar is broken.
 */
const Schema *domain_conf_schema_get(GError **errp);

/*
 * Check @doc, whose root element is the <domain> @root, against @s: every
 * element, attribute and enumerated value must be in the vocabulary
 * (DRV_ERR_CONFIG_UNSUPPORTED), then the document must validate
 * (DRV_ERR_XML_INVALID_SCHEMA).
 */
bool domain_conf_schema_check(const Schema *s, xmlDocPtr doc, xmlNodePtr root,
                              GError **errp);

#endif /* DRIVER_DOMAIN_CONF_SCHEMA_H */
