/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <string.h>

#include "qmp-error.h"

G_DEFINE_QUARK(qmp-error-quark, qmp_error)

static const char *const qmp_error_classes[] = {
    [QMP_ERROR_GENERIC] = "GenericError",
    [QMP_ERROR_COMMAND_NOT_FOUND] = "CommandNotFound",
    [QMP_ERROR_DEVICE_NOT_ACTIVE] = "DeviceNotActive",
    [QMP_ERROR_DEVICE_NOT_FOUND] = "DeviceNotFound",
    [QMP_ERROR_KVM_MISSING_CAP] = "KVMMissingCap",
};

const char *qmp_error_class(const GError *err)
{
    if (err && err->domain == QMP_ERROR && err->code >= 0
        && (gsize)err->code < G_N_ELEMENTS(qmp_error_classes)) {
        return qmp_error_classes[err->code];
    }
    return qmp_error_classes[QMP_ERROR_GENERIC];
}

QmpErrorCode qmp_error_code_from_class(const char *name)
{
    for (gsize i = 0; name && i < G_N_ELEMENTS(qmp_error_classes); i++) {
        if (!strcmp(name, qmp_error_classes[i])) {
            return (QmpErrorCode)i;
        }
    }
    return QMP_ERROR_GENERIC;
}
