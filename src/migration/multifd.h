/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * multifd: RAM over several connections at once (capability "multifd",
 * parameter multifd-channels), optionally zstd-compressed
 * (multifd-compression). Each channel is its own connection to the same
 * address, with its own thread that reads guest RAM, detects zero pages,
 * compresses and writes; the main channel keeps the control records.
 *
 * A page always travels on the same channel (channel = 2 MiB chunk of
 * its address modulo the channel count), so a newer copy can never be
 * overtaken by an older one on another connection: no barrier between
 * passes is needed for correctness, only before the device state.
 */
#ifndef KESTREL_MIGRATION_MULTIFD_H
#define KESTREL_MIGRATION_MULTIFD_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "memmap.h"
#include "migration/channel.h"
#include "migration/ram.h"

typedef struct MultifdSend MultifdSend;

/* Connect @n channels to @u; @zstd_level < 0: no compression. */
MultifdSend *multifd_send_new(const MigUri *u, unsigned int n,
                              int zstd_level, const volatile int *cancel,
                              GError **errp);
void multifd_send_free(MultifdSend *s);

/* Shut every channel's connection down (any thread): blocked writes
 * return at once; used by migrate_cancel. */
void multifd_send_shutdown(MultifdSend *s);

/* Queue @npages pages of @r from page @first (split across channels). */
void multifd_send_queue(MultifdSend *s, const MemRegion *r, uint64_t first,
                        uint64_t npages);

/* Wait until everything queued is written; false (with @errp) if a
 * channel failed. */
bool multifd_send_flush(MultifdSend *s, GError **errp);

/* Write a SYNC @seq record on every channel and flush. */
bool multifd_send_sync(MultifdSend *s, uint32_t seq, GError **errp);

/* Write every channel's END record and flush. */
bool multifd_send_finish(MultifdSend *s, GError **errp);

/* Bytes written by all channels; their page counts. */
uint64_t multifd_send_bytes(MultifdSend *s);
void multifd_send_stats(MultifdSend *s, RamStats *add);

/*
 * Destination: one channel's records (RAM, ZERO, compressed RAM, SYNC:
 * @on_sync is called once all before it is in RAM) until its END. @r has
 * read the channel's header already.
 */
bool multifd_receive_channel(MemMap *mem, MigReader *r, RamStats *stats,
                             void (*on_sync)(void *opaque, uint32_t seq),
                             void *opaque, GError **errp);

#endif /* KESTREL_MIGRATION_MULTIFD_H */
