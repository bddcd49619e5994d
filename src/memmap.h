/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * MemMap: guest RAM as a list of regions, each a window on one memfd.
 * Every access from the VMM goes through memmap_hva() (bounds-checked,
 * read-only); every VMM write into guest RAM goes through memmap_write(),
 * memmap_hva_mut() or memmap_mark_dirty(), so dirty tracking sees it
 * (ARCHITECTURE.md, 4). The dirty bitmaps are updated with atomic ORs:
 * vCPU threads and the main thread mark pages concurrently, and
 * memmap_dirty_take() fetches and clears them word by word.
 * This file never touches /dev/kvm.
 */
#ifndef KESTREL_MEMMAP_H
#define KESTREL_MEMMAP_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define MEMMAP_MAX_REGIONS 4

typedef struct {
    uint64_t gpa;               /* guest-physical start */
    uint64_t size;              /* bytes, page multiple */
    uint64_t fd_offset;         /* offset of this region in the memfd */
    uint8_t *hva;               /* host mapping */
    /* VMM dirty bitmap, one bit per 4 KiB page (bit n = page n of the
     * region, KVM_GET_DIRTY_LOG's layout); atomic access only. */
    unsigned long *dirty;
} MemRegion;

typedef struct MemMap {
    int fd;                     /* memfd backing all regions, -1 for anonymous */
    uint64_t ram_size;          /* total RAM, bytes */
    unsigned int nr_regions;
    /* regions[i] is KVM memory slot i (vm.c registers them so): a region
     * index and a slot id are the same number everywhere. */
    MemRegion regions[MEMMAP_MAX_REGIONS];
} MemMap;

/*
 * memmap_new: allocate @ram_size bytes of guest RAM (memfd, MAP_SHARED) and
 * lay it out: [0, min(ram, 3 GiB)) and, for the rest, from 4 GiB up.
 * Returns NULL with @errp set when the host cannot provide it.
 */
MemMap *memmap_new(uint64_t ram_size, GError **errp);

/*
 * memmap_new_from_buffer: a MemMap over caller-owned memory, one region at
 * gpa 0 (unit tests, and the loader's tests, use this). Not freed.
 */
MemMap *memmap_new_from_buffer(uint8_t *buf, uint64_t size);

void memmap_free(MemMap *map);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MemMap, memmap_free)

/* Read-only host pointer for [gpa, gpa+len), or NULL if any byte is
 * outside RAM or the range crosses a region boundary. */
const void *memmap_hva(const MemMap *map, uint64_t gpa, uint64_t len);

/*
 * memmap_hva_mut: a writable host pointer for [gpa, gpa+len) (NULL as for
 * memmap_hva), and the range is marked dirty now, before the caller
 * writes. A caller that keeps the pointer, or writes while a migration
 * may be taking dirty bits, calls memmap_mark_dirty() after each write.
 */
void *memmap_hva_mut(MemMap *map, uint64_t gpa, uint64_t len);

/* Copy into guest RAM and mark the pages dirty. False if out of range. */
bool memmap_write(MemMap *map, uint64_t gpa, const void *src, uint64_t len);

/* Copy out of guest RAM. False if out of range. */
bool memmap_read(const MemMap *map, uint64_t gpa, void *dst, uint64_t len);

/* Mark [gpa, gpa+len) written by the VMM. Any thread. */
void memmap_mark_dirty(MemMap *map, uint64_t gpa, uint64_t len);

/*
 * memmap_dirty_take: OR region @region's VMM dirty bitmap into @out and
 * clear it, atomically word by word (a page marked concurrently is either
 * in @out or still marked, never lost). @region is the KVM slot id, and
 * @out has KVM_GET_DIRTY_LOG's layout for that slot: bit n = page n of
 * the region, in unsigned long words, (size / 4 KiB + BITS_PER_LONG - 1)
 * / BITS_PER_LONG of them. Any thread. Out-of-range @region: nothing.
 */
void memmap_dirty_take(MemMap *map, unsigned int region, unsigned long *out);

/* End of RAM below 4 GiB (exclusive). */
uint64_t memmap_low_ram_end(const MemMap *map);

/*
 * memmap_discard: give [gpa, gpa+len) back to the host (the balloon, free
 * page reporting): the pages read as zeros afterwards and are allocated
 * again when written. @gpa and @len must be 4 KiB aligned and inside one
 * region. The pages are marked dirty (a migration re-sends them as zero
 * pages, and the destination discards them too). Returns false if the
 * range is invalid or the host refused; a buffer-backed map (unit tests)
 * zeroes the range instead.
 */
bool memmap_discard(MemMap *map, uint64_t gpa, uint64_t len);

#endif /* KESTREL_MEMMAP_H */
