/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Live migration, driven by QEMU's QMP commands (migrate, -incoming,
 * migrate-incoming, migrate_cancel, migrate-continue, query-migrate and
 * the capability and parameter commands), with QEMU's status strings,
 * transitions and events.
 *
 * Source: a migration thread sends RAM in passes while the guest runs,
 * then asks the main thread to stop the VM (finish-migrate), save device
 * and CPU state, and sends the rest. Where the channel is a socket the
 * destination answers with its verdict (a return path): the source ends
 * in postmigrate only once the destination has loaded everything; on any
 * failure, cancel included, the source VM runs on as if nothing happened.
 *
 * Destination: a thread reads the stream straight into guest RAM; the
 * main thread loads devices and CPUs at the end and starts the VM (or
 * leaves it paused under -S). A stream it cannot load ends the process
 * with status 1, as QEMU's does.
 */
#ifndef KESTREL_MIGRATION_H
#define KESTREL_MIGRATION_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>

typedef struct Vm Vm;
typedef struct Migration Migration;

/* QEMU's MigrationStatus, in its order: never renumber. */
typedef enum {
    MIG_STATUS_NONE,
    MIG_STATUS_SETUP,
    MIG_STATUS_CANCELLING,
    MIG_STATUS_CANCELLED,
    MIG_STATUS_ACTIVE,
    MIG_STATUS_POSTCOPY_ACTIVE,
    MIG_STATUS_POSTCOPY_PAUSED,
    MIG_STATUS_POSTCOPY_RECOVER,
    MIG_STATUS_COMPLETED,
    MIG_STATUS_FAILED,
    MIG_STATUS_COLO,
    MIG_STATUS_PRE_SWITCHOVER,
    MIG_STATUS_DEVICE,
    MIG_STATUS_WAIT_UNPLUG,
    MIG_STATUS__MAX,
} MigrationStatus;

const char *migration_status_name(MigrationStatus s);

/* The VM's migration state (created with the VM, main thread). */
Migration *migration_new(Vm *vm);
void migration_free(Migration *m);

/* Whether migration events are on (capability "events"). */
bool migration_events_enabled(const Migration *m);

/* -incoming URI (not "defer"): start listening or reading now. */
bool migration_incoming_start(Vm *vm, const char *uri, GError **errp);

/*
 * migration_config_check: compare the configuration section of an
 * incoming stream (@text, @len bytes, untrusted) with @vm's; the error
 * says what differs and which option must change. @check_uuid: the
 * validate-uuid capability. On success *@channels is the number of
 * multifd channels the source announced.
 */
bool migration_config_check(Vm *vm, const char *text, size_t len,
                            bool check_uuid, unsigned int *channels,
                            GError **errp);

/* 'cont' during inmigrate: run as soon as the migration is in. */
void migration_set_autostart(Vm *vm);

/* Whether a migration (either direction) is under way. */
bool migration_in_progress(const Migration *m);

/* QMP handlers (qmp-cmds.c's table points at them). */
bool qmp_migrate(void *ctx, JsonObject *args, JsonNode **ret, GError **errp);
bool qmp_migrate_incoming(void *ctx, JsonObject *args, JsonNode **ret,
                          GError **errp);
bool qmp_migrate_cancel(void *ctx, JsonObject *args, JsonNode **ret,
                        GError **errp);
bool qmp_migrate_continue(void *ctx, JsonObject *args, JsonNode **ret,
                          GError **errp);
bool qmp_query_migrate(void *ctx, JsonObject *args, JsonNode **ret,
                       GError **errp);
bool qmp_migrate_set_capabilities(void *ctx, JsonObject *args,
                                  JsonNode **ret, GError **errp);
bool qmp_query_migrate_capabilities(void *ctx, JsonObject *args,
                                    JsonNode **ret, GError **errp);
bool qmp_migrate_set_parameters(void *ctx, JsonObject *args, JsonNode **ret,
                                GError **errp);
bool qmp_query_migrate_parameters(void *ctx, JsonObject *args,
                                  JsonNode **ret, GError **errp);

#endif /* KESTREL_MIGRATION_H */
