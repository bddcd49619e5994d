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

#include "domain-conf.h"

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

/* XML helpers of the parser (domain-conf.c), for its other files: the
 * first child element named @name; an attribute's or a node's text
 * (newly allocated, NULL if absent); a device's user alias ("ua-...")
 * from its <alias name>, or NULL. */
xmlNodePtr domain_conf_child(xmlNodePtr node, const char *name);
char *domain_conf_attr(xmlNodePtr node, const char *name);
char *domain_conf_text(xmlNodePtr node);
char *domain_conf_user_alias(xmlNodePtr dev);

/*
 * <disk> and <interface> (domain-conf-devices.c): parsed from @devices
 * into @def after the balloon, whose PCI slot they must not take, with
 * the PCI slots of those without an address assigned as libvirt does
 * (from slot 3: interfaces, then disks).
 */
bool domain_conf_parse_devices(DomainDef *def, xmlNodePtr devices,
                               GError **errp);
void domain_disk_free(gpointer p);
void domain_net_free(gpointer p);
DomainDisk *domain_disk_copy(const DomainDisk *d);
DomainNet *domain_net_copy(const DomainNet *n);
bool domain_devices_equal(const DomainDef *a, const DomainDef *b);

/* The <disk> (resp. <interface>) elements of @def, at indent level 2,
 * where libvirt puts them; @runtime: a running domain's own XML (aliases,
 * tap names). */
void domain_conf_format_disks(GString *out, const DomainDef *def,
                              bool runtime);
void domain_conf_format_nets(GString *out, const DomainDef *def,
                             const DomainLive *live, bool runtime);

/* libvirt's escaping, in text and in attributes quoted with ' */
char *domain_conf_xml_escape(const char *s);

#endif /* DRIVER_DOMAIN_CONF_SCHEMA_H */
