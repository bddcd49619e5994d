/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-balloon (virtio 1.x, 5.5) on virtio-pci: -device
 * virtio-balloon-pci. Inflated pages go back to the host at once (hole
 * punched in the RAM memfd); deflated ones are simply used again. Stats
 * queue with QEMU's polling semantics, DEFLATE_ON_OOM, free page reporting.
 *
 * The API below is for the monitor (QMP balloon, query-balloon, qom-get/set
 * of guest-stats and guest-stats-polling-interval, BALLOON_CHANGE). All of
 * it is called on the main thread; it takes the device lock itself.
 * Sizes are QEMU's "logical VM size": RAM minus the balloon, in bytes.
 */
#ifndef KESTREL_VIRTIO_BALLOON_H
#define KESTREL_VIRTIO_BALLOON_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "device.h"
#include "memmap.h"
#include "pci.h"

#define VIRTIO_ID_BALLOON                   5

#define VIRTIO_BALLOON_F_MUST_TELL_HOST     0
#define VIRTIO_BALLOON_F_STATS_VQ           1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM     2
#define VIRTIO_BALLOON_F_REPORTING          5

#define BALLOON_PAGE_SHIFT                  12

/* Stat tags 0..15 (virtio 1.3, 5.5.6.3). QEMU before 9.2 knows the first
 * BALLOON_STAT_NR_LEGACY; report only those unless mirroring a newer
 * schema. */
#define BALLOON_STAT_NR                     16
#define BALLOON_STAT_NR_LEGACY              10
/* A stat the guest did not report: QEMU prints it as 18446744073709551615
 * (libvirt also accepts -1). */
#define BALLOON_STAT_UNSET                  UINT64_MAX

/* QEMU's guest-stats key for each tag: wire names, never rename. */
extern const char *const balloon_stat_names[BALLOON_STAT_NR];

typedef struct VirtioBalloon VirtioBalloon;

typedef struct {
    uint64_t stats[BALLOON_STAT_NR];    /* BALLOON_STAT_UNSET if not given */
    int64_t last_update;                /* Unix seconds, 0: never */
} BalloonStats;

/* Called on the main thread after the guest changed `actual`, with the new
 * logical size in bytes. Not rate-limited (the monitor does that). */
typedef void (*BalloonChangeFn)(void *opaque, uint64_t actual_bytes);

/* -device virtio-balloon-pci (alias virtio-balloon). */
extern const DeviceClass virtio_balloon_pci_class;

/* The VM's balloon, or NULL (QMP: "No balloon device has been
 * activated"). */
VirtioBalloon *balloon_find(Vm *vm);

/* -device id= of the balloon (NULL if none was given). */
const char *balloon_id(VirtioBalloon *b);

/*
 * balloon_set_target: QMP `balloon value=`. @value is the logical size the
 * guest should shrink or grow to; above RAM it is clamped to RAM (balloon
 * empty). The caller refuses value <= 0 ("Parameter 'target' expects a
 * size"). Sets num_pages = (ram - value) / 4 KiB and interrupts the guest.
 */
void balloon_set_target(VirtioBalloon *b, uint64_t value);

/* query-balloon `actual`: RAM minus the pages the guest reports in its
 * balloon, in bytes. */
uint64_t balloon_get_actual(VirtioBalloon *b);

/* qom-get guest-stats. */
void balloon_get_stats(VirtioBalloon *b, BalloonStats *out);

/* qom-get / qom-set guest-stats-polling-interval (seconds, 0 = off).
 * Errors as QEMU's: "timer value must be greater than zero", "timer value
 * is too big". */
int64_t balloon_get_poll_interval(VirtioBalloon *b);
bool balloon_set_poll_interval(VirtioBalloon *b, int64_t secs,
                               GError **errp);

/* BALLOON_CHANGE: @fn (NULL to remove) runs on the main thread. */
void balloon_set_change_hook(VirtioBalloon *b, BalloonChangeFn fn,
                             void *opaque);

/* For tests and tools: a balloon on @mem plugged into @host at @devfn
 * without a Vm (no KVM: notifications handled inline). */
typedef struct {
    bool deflate_on_oom;
    bool free_page_reporting;
    uint8_t devfn;
    uint64_t bar_addr;
} BalloonTestConfig;
VirtioBalloon *balloon_new_for_test(MemMap *mem, PciHost *host,
                                    const BalloonTestConfig *cfg,
                                    GError **errp);
void balloon_free_for_test(VirtioBalloon *b);
/* Pages discarded so far (inflate + reporting), for tests. */
uint64_t balloon_discarded_pages(VirtioBalloon *b);

#endif /* KESTREL_VIRTIO_BALLOON_H */
