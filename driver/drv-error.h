/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Errors of the driver's configuration code (domain XML, command line) as
 * libvirt clients will see them: the GError code is libvirt's
 * virErrorNumber (values of libvirt 9.0, see
 * shared/reference/libvirt-enums-9.0.0.txt: wire values, never renumber),
 * and the message is the detail only, without libvirt's per-code prefix
 * ("unsupported configuration: "), which the RPC layer adds when it builds
 * remote_error.
 *
 * DRV_ERROR is the very quark of driver/virerror.h's VIR_ERROR (same
 * registered name), so errors from libkestreldrv-conf.a travel through the
 * daemon unchanged; the conf library does not link virerror.c.
 *
 * virErrorDomain: configuration errors belong to VIR_FROM_DOMAIN (20,
 * "Domain Config"), which is what libvirt's own domain_conf.c reports and
 * what libvirt-rpc.md section 5.3 recommends for us.
 */
#ifndef DRIVER_DRV_ERROR_H
#define DRIVER_DRV_ERROR_H

#include <glib.h>

/* Must stay equal to the name G_DEFINE_QUARK gives in driver/virerror.c. */
#define DRV_ERROR_QUARK_NAME "virtkestreld-libvirt-error"

static inline GQuark drv_error_quark(void)
{
    return g_quark_from_static_string(DRV_ERROR_QUARK_NAME);
}

#define DRV_ERROR drv_error_quark()

/* virErrorNumber values the conf code sets (libvirt 9.0). */
typedef enum {
    DRV_ERR_INTERNAL_ERROR = 1,         /* "internal error: %s" */
    DRV_ERR_INVALID_ARG = 8,            /* "invalid argument: %s" */
    DRV_ERR_XML_ERROR = 27,             /* "XML error: %s" */
    DRV_ERR_XML_DETAIL = 35,            /* "%s": libxml2's parser message */
    DRV_ERR_CONFIG_UNSUPPORTED = 67,    /* "unsupported configuration: %s" */
    DRV_ERR_NO_DOMAIN_METADATA = 80,    /* "metadata not found: %s" */
    DRV_ERR_OVERFLOW = 82,              /* "numerical overflow: %s" */
    DRV_ERR_XML_INVALID_SCHEMA = 92,    /* "XML document failed to validate
                                         * against schema: %s" */
} DrvErrorCode;

/* virErrorDomain of every error set by the conf code. */
#define DRV_ERROR_FROM_DOMAIN 20        /* VIR_FROM_DOMAIN */

/*
 * libvirt's text before the detail for @code, as printf format with one %s
 * for the detail; NULL for codes this header does not list.
 */
static inline const char *drv_error_format(int code)
{
    switch (code) {
    case DRV_ERR_INTERNAL_ERROR:
        return "internal error: %s";
    case DRV_ERR_INVALID_ARG:
        return "invalid argument: %s";
    case DRV_ERR_XML_ERROR:
        return "XML error: %s";
    case DRV_ERR_XML_DETAIL:
        return "%s";
    case DRV_ERR_CONFIG_UNSUPPORTED:
        return "unsupported configuration: %s";
    case DRV_ERR_NO_DOMAIN_METADATA:
        return "metadata not found: %s";
    case DRV_ERR_OVERFLOW:
        return "numerical overflow: %s";
    case DRV_ERR_XML_INVALID_SCHEMA:
        return "XML document failed to validate against schema: %s";
    default:
        return NULL;
    }
}

#endif /* DRIVER_DRV_ERROR_H */
