/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The one GError domain of the VMM. Messages are whole sentences that name
 * what was wrong ("kernel '/x' is truncated"), never glued fragments. */
#ifndef KESTREL_ERROR_H
#define KESTREL_ERROR_H

#include <glib.h>

#define KESTREL_ERROR kestrel_error_quark()
GQuark kestrel_error_quark(void);

typedef enum {
    KESTREL_ERROR_FAILED,       /* generic */
    KESTREL_ERROR_INVALID,      /* bad user input: option, value, file */
    KESTREL_ERROR_UNSUPPORTED,  /* valid QEMU spelling we do not implement */
    KESTREL_ERROR_KVM,          /* /dev/kvm missing, refused, or lacking */
    KESTREL_ERROR_NOMEM,        /* the host cannot provide what was asked */
} KestrelError;

#endif /* KESTREL_ERROR_H */
