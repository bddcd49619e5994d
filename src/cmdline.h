/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KESTREL_CMDLINE_H
#define KESTREL_CMDLINE_H

#include "vmconfig.h"

/*
 * cmdline_parse: parse argv (QEMU's spelling) into @cfg.
 * -help, -version and "-machine help" print to @out and return CMDLINE_EXIT.
 * Any option or value we do not support fails with an error naming it
 * (KESTREL_ERROR_INVALID or KESTREL_ERROR_UNSUPPORTED): nothing is ignored.
 * Returns the action, or -1 with @errp set.
 */
int cmdline_parse(int argc, char **argv, VmConfig *cfg, FILE *out,
                  GError **errp);

#endif /* KESTREL_CMDLINE_H */
