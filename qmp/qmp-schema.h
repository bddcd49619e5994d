/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The QMP schema: schemas/ JSON files (QAPI syntax, QEMU's member names) is
 * embedded at build time (qmp/gen-schema.py writes qmp_schema_text) and
 * parsed at run time.  It is the contract: the dispatcher checks command
 * arguments against it before any handler runs, query-qmp-schema and
 * query-commands are answered from it, and tests check replies and events
 * against it.
 *
 * Supported QAPI expressions: enum, struct (with 'base'), union (with
 * 'base', 'discriminator' and 'data'), command ('data', 'returns',
 * 'features', 'allow-oob'), event ('data', 'features').  Other keys
 * ('allow-preconfig', 'gen', 'if', 'prefix', ...) are accepted and
 * ignored.  All integer types collapse to 'int' as in QEMU's introspection.
 */
#ifndef QMP_SCHEMA_H
#define QMP_SCHEMA_H

#include <stdbool.h>
#include <glib.h>
#include <json-glib/json-glib.h>

/* The embedded text of schemas/ JSON files, comments stripped (generated). */
extern const char qmp_schema_text[];

typedef struct QmpSchema QmpSchema;

/* Parse a schema text (QAPI syntax, comments allowed); NULL with @errp
 * set on any inconsistency. */
QmpSchema *qmp_schema_new(const char *text, GError **errp);
void qmp_schema_free(QmpSchema *schema);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QmpSchema, qmp_schema_free)

/* The embedded schema, parsed once; aborts if it is broken (a build bug,
 * which test-qmp-schema catches).  Never freed. */
const QmpSchema *qmp_schema_get_default(void);

bool qmp_schema_has_command(const QmpSchema *schema, const char *name);
bool qmp_schema_has_event(const QmpSchema *schema, const char *name);

/* Names of all commands (or events) in schema order; free the array with
 * g_ptr_array_unref, the strings belong to the schema. */
GPtrArray *qmp_schema_list_commands(const QmpSchema *schema);
GPtrArray *qmp_schema_list_events(const QmpSchema *schema);

/*
 * Check the arguments of @command (@args may be NULL: no arguments) with
 * QEMU's texts, GenericError:
 *   "Parameter 'x' is missing", "Parameter 'x' is unexpected",
 *   "Invalid parameter type for 'x', expected: integer" (also number,
 *   string, boolean, object, array, null),
 *   "Parameter 'x' does not accept value 'y'" (enums).
 * Nested names are spelled like QEMU: "caps[0].state".  The command must
 * exist.
 */
bool qmp_schema_check_args(const QmpSchema *schema, const char *command,
                           JsonObject *args, GError **errp);

/* Check an event's data (NULL: none) against its declaration. */
bool qmp_schema_check_event(const QmpSchema *schema, const char *event,
                            JsonObject *data, GError **errp);

/* Check a command's return value (for tests): @ret NULL means {}. */
bool qmp_schema_check_return(const QmpSchema *schema, const char *command,
                             JsonNode *ret, GError **errp);

/*
 * The value of query-qmp-schema: SchemaInfo entries in QEMU's format
 * (meta-type builtin/enum/array/object/command/event; commands with
 * arg-type and ret-type; enums with members and values; objects with
 * members, "default": null for optional ones, tag and variants for unions),
 * non-builtin type names masked as "0", "1", ... like QEMU.  New ref.
 */
JsonNode *qmp_schema_introspect(const QmpSchema *schema);

#endif /* QMP_SCHEMA_H */
