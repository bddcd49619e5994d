/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * MemMap: guest RAM as a list of regions, each a window on one memfd.
 * Every access from the VMM goes through memmap_hva() (bounds-checked);
 * every VMM write into guest RAM goes through memmap_write() or
 * memmap_mark_dirty(), so dirty tracking sees it (ARCHITECTURE.md, 4).
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
    unsigned long *dirty;       /* VMM dirty bitmap, one bit per 4 KiB page */
} MemRegion;

typedef struct MemMap {
    int fd;                     /* memfd backing all regions, -1 for anonymous */
    uint64_t ram_size;          /* total RAM, bytes */
    unsigned int nr_regions;
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

/* Host pointer for [gpa, gpa+len), or NULL if any byte is outside RAM or
 * the range crosses a region boundary. */
void *memmap_hva(const MemMap *map, uint64_t gpa, uint64_t len);

/* Copy into guest RAM and mark the pages dirty. False if out of range. */
bool memmap_write(MemMap *map, uint64_t gpa, const void *src, uint64_t len);

/* Copy out of guest RAM. False if out of range. */
bool memmap_read(const MemMap *map, uint64_t gpa, void *dst, uint64_t len);

/* Mark [gpa, gpa+len) written by the VMM. */
void memmap_mark_dirty(MemMap *map, uint64_t gpa, uint64_t len);

/* End of RAM below 4 GiB (exclusive). */
uint64_t memmap_low_ram_end(const MemMap *map);

/*
 * memmap_discard: give [gpa, gpa+len) back to the host (the balloon, free
 * page reporting): the pages read as zeros afterwards and are allocated
 * again when written. @gpa and @len must be 4 KiB aligned and inside one
 * region. Returns false if the range is invalid or the host refused; a
 * buffer-backed map (unit tests) zeroes the range instead.
 */
bool memmap_discard(MemMap *map, uint64_t gpa, uint64_t len);

#endif /* KESTREL_MEMMAP_H */
