/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QMP error classes as a GError domain.  A handler fails with
 *   g_set_error(errp, QMP_ERROR, QMP_ERROR_DEVICE_NOT_FOUND,
 *               "Device '%s' not found", path);
 * and the client sees {"class": "DeviceNotFound", "desc": "..."}.  Errors
 * of any other domain are sent as GenericError with their message.
 */
#ifndef QMP_ERROR_H
#define QMP_ERROR_H

#include <glib.h>

#define QMP_ERROR qmp_error_quark()
GQuark qmp_error_quark(void);

/* QEMU's QapiErrorClass, qapi/error.json; the wire names never change. */
typedef enum {
    QMP_ERROR_GENERIC,              /* "GenericError" */
    QMP_ERROR_COMMAND_NOT_FOUND,    /* "CommandNotFound" */
    QMP_ERROR_DEVICE_NOT_ACTIVE,    /* "DeviceNotActive" */
    QMP_ERROR_DEVICE_NOT_FOUND,     /* "DeviceNotFound" */
    QMP_ERROR_KVM_MISSING_CAP,      /* "KVMMissingCap" */
} QmpErrorCode;

/* The wire class name of @err ("GenericError" for foreign domains). */
const char *qmp_error_class(const GError *err);

/* The code for a wire class name; QMP_ERROR_GENERIC if unknown. */
QmpErrorCode qmp_error_code_from_class(const char *name);

#endif /* QMP_ERROR_H */
