/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Prefixes as libvirt 9.0's virErrorMsg words them, so that clients print
 * the same sentences as with libvirt's own drivers.
 */
#include "config.h"

#include "virerror.h"

G_DEFINE_QUARK(virtkestreld-libvirt-error, vir_error)

const char *vir_error_prefix(int code)
{
    switch ((VirErrorNumber)code) {
    case VIR_ERR_INTERNAL_ERROR:
        return "internal error";
    case VIR_ERR_NO_MEMORY:
        return "out of memory";
    case VIR_ERR_NO_SUPPORT:
        return "this function is not supported by the connection driver";
    case VIR_ERR_NO_CONNECT:
        return "no connection driver available for";
    case VIR_ERR_INVALID_CONN:
        return "invalid connection pointer in";
    case VIR_ERR_INVALID_DOMAIN:
        return "invalid domain pointer in";
    case VIR_ERR_INVALID_ARG:
        return "invalid argument";
    case VIR_ERR_OPERATION_FAILED:
        return "operation failed";
    case VIR_ERR_XML_ERROR:
        return "XML error";
    case VIR_ERR_DOM_EXIST:
        return "this domain exists already";
    case VIR_ERR_OPERATION_DENIED:
        return "operation forbidden";
    case VIR_ERR_NO_DOMAIN:
        return "Domain not found";
    case VIR_ERR_AUTH_FAILED:
        return "authentication failed";
    case VIR_ERR_OPERATION_INVALID:
        return "Requested operation is not valid";
    case VIR_ERR_CONFIG_UNSUPPORTED:
        return "unsupported configuration";
    case VIR_ERR_OPERATION_TIMEOUT:
        return "Timed out during operation";
    case VIR_ERR_ARGUMENT_UNSUPPORTED:
        return "argument unsupported";
    case VIR_ERR_OPERATION_ABORTED:
        return "operation aborted";
    case VIR_ERR_OPERATION_UNSUPPORTED:
        return "Operation not supported";
    case VIR_ERR_NO_DOMAIN_METADATA:
        return "metadata not found";
    case VIR_ERR_OPERATION_UNSAFE:
        return "Requested operation is not safe";
    case VIR_ERR_OVERFLOW:
        return "numerical overflow";
    case VIR_ERR_XML_INVALID_SCHEMA:
        return "XML document failed to validate against schema";
    case VIR_ERR_OK:
    case VIR_ERR_SYSTEM_ERROR:
    case VIR_ERR_XML_DETAIL:
    case VIR_ERR_RPC:               /* libvirt prints the detail alone */
        break;
    }
    return NULL;
}
