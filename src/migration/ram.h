/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Pre-copy RAM: which pages to send (KVM's dirty log merged with the VMM's
 * own writes, ARCHITECTURE.md 4), sending them as RAM or ZERO records, and
 * applying them on the destination.
 *
 * Holes stay holes: the first pass sends only the memfd's data extents
 * (SEEK_DATA), so ballooned-out memory costs nothing on the wire; a page
 * that reads as zeros travels as a ZERO record, which the destination
 * turns into a punched hole (memmap_discard), never an allocated page.
 */
#ifndef KESTREL_MIGRATION_RAM_H
#define KESTREL_MIGRATION_RAM_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "kvm.h"
#include "memmap.h"
#include "migration/stream.h"

typedef struct {
    uint64_t normal;            /* pages sent whole */
    uint64_t duplicate;         /* zero pages sent as markers */
    uint64_t skipped_holes;     /* pages never sent: holes on pass 1 */
} RamStats;

/* The sender's rate limit: max-bandwidth, read at each window so a
 * change during the migration takes effect at once. */
typedef struct {
    const volatile int64_t *max_bandwidth;  /* bytes/s, <= 0: unlimited */
    gint64 window_start;                    /* µs */
    uint64_t window_bytes;
} RamRateLimit;

/* Whether the 4 KiB page at @p reads as zeros (sent as a marker). */
bool ram_page_is_zero(const uint8_t *p);

typedef struct RamSender RamSender;
typedef struct MultifdSend MultifdSend;

/* @kvm may be NULL (no KVM: only the VMM's own writes dirty RAM). */
RamSender *ram_sender_new(Kvm *kvm, MemMap *mem);
void ram_sender_free(RamSender *s);

/* Turn on KVM dirty logging and mark every data extent of RAM pending. */
bool ram_sender_start(RamSender *s, GError **errp);

/* Fold what was dirtied since the last sync into the pending set;
 * returns the number of pending pages. */
uint64_t ram_sender_sync(RamSender *s);

uint64_t ram_sender_pending(const RamSender *s);

/*
 * Send every pending page through @w, or queue it to the multifd
 * channels @mfd when that is not NULL (rate-limited by @rl, may be
 * NULL); returns false when the writer failed or was cancelled. @stats
 * counts what went through @w.
 */
bool ram_sender_pass(RamSender *s, MigWriter *w, MultifdSend *mfd,
                     RamRateLimit *rl, RamStats *stats);

/* Turn KVM dirty logging off again (also after a failure). */
void ram_sender_stop(RamSender *s);

/*
 * Destination: apply a RAM or ZERO record whose head was just read (its
 * payload still in @r, length @len, checksum state @sum). Every address
 * is bounded by @mem; the error names what was out of range.
 */
bool ram_receive(MemMap *mem, MigReader *r, uint32_t type, uint32_t len,
                 MigSum *sum, RamStats *stats, GError **errp);

#endif /* KESTREL_MIGRATION_RAM_H */
