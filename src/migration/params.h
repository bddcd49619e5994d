/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Migration capabilities and parameters, as QEMU 7.2 names, defaults,
 * validates and reports them (migrate-set-capabilities,
 * migrate-set-parameters and their queries). Which capabilities kestrel
 * honours is decided here: query-migrate-capabilities lists only those,
 * since libvirt sends back every capability the query listed and turns
 * on only what it found there.
 */
#ifndef KESTREL_MIGRATION_PARAMS_H
#define KESTREL_MIGRATION_PARAMS_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>

/* QEMU 7.2's MigrationCapability, in its order: never rename. */
typedef enum {
    MIG_CAP_XBZRLE,
    MIG_CAP_RDMA_PIN_ALL,
    MIG_CAP_AUTO_CONVERGE,
    MIG_CAP_ZERO_BLOCKS,
    MIG_CAP_COMPRESS,
    MIG_CAP_EVENTS,
    MIG_CAP_POSTCOPY_RAM,
    MIG_CAP_X_COLO,
    MIG_CAP_RELEASE_RAM,
    MIG_CAP_BLOCK,
    MIG_CAP_RETURN_PATH,
    MIG_CAP_PAUSE_BEFORE_SWITCHOVER,
    MIG_CAP_MULTIFD,
    MIG_CAP_DIRTY_BITMAPS,
    MIG_CAP_POSTCOPY_BLOCKTIME,
    MIG_CAP_LATE_BLOCK_ACTIVATE,
    MIG_CAP_X_IGNORE_SHARED,
    MIG_CAP_VALIDATE_UUID,
    MIG_CAP_BACKGROUND_SNAPSHOT,
    MIG_CAP_ZERO_COPY_SEND,
    MIG_CAP_POSTCOPY_PREEMPT,
    MIG_CAP__MAX,
} MigrationCapability;

typedef enum {
    MIG_COMPRESS_NONE,
    MIG_COMPRESS_ZLIB,
    MIG_COMPRESS_ZSTD,
} MigrationCompression;

typedef struct {
    bool caps[MIG_CAP__MAX];

    int64_t announce_initial, announce_max, announce_rounds, announce_step;
    int64_t compress_level, compress_threads, decompress_threads;
    bool compress_wait_thread;
    int64_t throttle_trigger_threshold;     /* % */
    int64_t cpu_throttle_initial;           /* % */
    int64_t cpu_throttle_increment;         /* % */
    bool cpu_throttle_tailslow;
    char *tls_creds, *tls_hostname, *tls_authz;
    int64_t max_bandwidth;                  /* bytes/s */
    int64_t downtime_limit;                 /* ms */
    int64_t x_checkpoint_delay;
    bool block_incremental;
    int64_t multifd_channels;
    int64_t xbzrle_cache_size;
    int64_t max_postcopy_bandwidth;
    int64_t max_cpu_throttle;               /* % */
    MigrationCompression multifd_compression;
    int64_t multifd_zlib_level, multifd_zstd_level;
} MigrationParams;

/* QEMU 7.2's defaults. */
void migration_params_init(MigrationParams *p);
void migration_params_clear(MigrationParams *p);

/* Capability name (wire) of @cap. */
const char *migration_cap_name(MigrationCapability cap);

/* Whether kestrel implements @cap (listed by the query, settable). */
bool migration_cap_supported(MigrationCapability cap);

/* migrate-set-capabilities: all or nothing; refuses turning on what is
 * not implemented, naming it. */
bool migration_params_set_caps(MigrationParams *p, JsonArray *caps,
                               GError **errp);
JsonNode *migration_params_query_caps(const MigrationParams *p);

/* migrate-set-parameters: validated as a whole (QEMU's texts) before
 * anything changes. */
bool migration_params_set(MigrationParams *p, JsonObject *args,
                          GError **errp);
JsonNode *migration_params_query(const MigrationParams *p);

#endif /* KESTREL_MIGRATION_PARAMS_H */
