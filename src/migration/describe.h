/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The migration format as data: the stream's record types and every
 * state section (devices, vCPU, VM) with its fields. schemas/vmstate.json
 * is this description, frozen; a unit test fails when the code drifts
 * from it, so a wire change is always a deliberate one (bump the section
 * version, regenerate with "kestrel -dump-vmstate schemas/vmstate.json").
 */
#ifndef KESTREL_MIGRATION_DESCRIBE_H
#define KESTREL_MIGRATION_DESCRIBE_H

#include <glib.h>
#include <json-glib/json-glib.h>

/* The whole description, as pretty-printed JSON text ending in '\n'. */
char *migration_describe(void);

#endif /* KESTREL_MIGRATION_DESCRIBE_H */
