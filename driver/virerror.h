/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libvirt's error numbers and domains as they travel in remote_error
 * (virErrorNumber, virErrorDomain of libvirt 9.0: wire values, never
 * renumber), and the GError domain VIR_ERROR whose codes are those numbers.
 */
#ifndef DRIVER_VIRERROR_H
#define DRIVER_VIRERROR_H

#include <glib.h>

typedef enum {
    VIR_ERR_OK = 0,
    VIR_ERR_INTERNAL_ERROR = 1,
    VIR_ERR_NO_MEMORY = 2,
    VIR_ERR_NO_SUPPORT = 3,
    VIR_ERR_NO_CONNECT = 5,
    VIR_ERR_INVALID_CONN = 6,
    VIR_ERR_INVALID_DOMAIN = 7,
    VIR_ERR_INVALID_ARG = 8,
    VIR_ERR_OPERATION_FAILED = 9,
    VIR_ERR_XML_ERROR = 27,
    VIR_ERR_DOM_EXIST = 28,
    VIR_ERR_OPERATION_DENIED = 29,
    VIR_ERR_SYSTEM_ERROR = 38,
    VIR_ERR_RPC = 39,
    VIR_ERR_NO_DOMAIN = 42,
    VIR_ERR_AUTH_FAILED = 45,
    VIR_ERR_OPERATION_INVALID = 55,
    VIR_ERR_CONFIG_UNSUPPORTED = 67,
    VIR_ERR_OPERATION_TIMEOUT = 68,
    VIR_ERR_ARGUMENT_UNSUPPORTED = 74,
    VIR_ERR_OPERATION_ABORTED = 78,
    VIR_ERR_NO_DOMAIN_METADATA = 80,
    VIR_ERR_OPERATION_UNSAFE = 81,
    VIR_ERR_XML_DETAIL = 35,
    VIR_ERR_OVERFLOW = 82,
    VIR_ERR_OPERATION_UNSUPPORTED = 84,
    VIR_ERR_XML_INVALID_SCHEMA = 92,
} VirErrorNumber;

typedef enum {
    VIR_FROM_NONE = 0,
    VIR_FROM_RPC = 7,
    VIR_FROM_CONF = 9,
    VIR_FROM_REMOTE = 13,
    VIR_FROM_STORAGE = 18,
    VIR_FROM_NETWORK = 19,
    VIR_FROM_DOMAIN = 20,
    VIR_FROM_NODEDEV = 22,
    VIR_FROM_INTERFACE = 26,
    VIR_FROM_SECRET = 30,
    VIR_FROM_NWFILTER = 33,
    VIR_FROM_DOMAIN_SNAPSHOT = 35,
    VIR_FROM_DOMAIN_CHECKPOINT = 69,
} VirErrorDomain;

#define VIR_ERR_LEVEL_ERROR 2

#define VIR_ERROR vir_error_quark()
GQuark vir_error_quark(void);

/*
 * The text libvirt puts before the detail for @code ("Domain not found",
 * "Requested operation is not valid", ...); NULL when libvirt prints the
 * detail alone.
 */
const char *vir_error_prefix(int code);

#endif /* DRIVER_VIRERROR_H */
