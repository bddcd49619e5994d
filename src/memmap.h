/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * MemMap: guest RAM as a list of regions, windows on one mapping of one
 * memory backend (anonymous memory, a memfd or a file: vmconfig.h).
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

#include "vmconfig.h"

#define MEMMAP_MAX_REGIONS 4

typedef struct {
    uint64_t gpa;               /* guest-physical start */
    uint64_t size;              /* bytes, page multiple */
    uint64_t fd_offset;         /* offset of this region in the backend */
    uint8_t *hva;               /* host mapping */
    /* VMM dirty bitmap, one bit per 4 KiB page (bit n = page n of the
     * region, KVM_GET_DIRTY_LOG's layout); atomic access only. */
    unsigned long *dirty;
} MemRegion;

typedef enum {
    MEMMAP_BUFFER,              /* caller's memory (unit tests) */
    MEMMAP_ANON,                /* private anonymous memory */
    MEMMAP_FD,                  /* a memfd or a file, fd set */
} MemMapKind;

typedef struct MemMap {
    MemMapKind kind;
    int fd;                     /* the memfd or file, -1 for anonymous */
    bool shared;                /* MAP_SHARED (else MAP_PRIVATE) */
    bool own_file;              /* fd is ours alone: its contents are what
                                 * we wrote (memfd, unlinked temp file) */
    bool hugetlb;               /* hugetlbfs or a hugetlb memfd */
    bool discard_data;          /* punch the file at exit */
    uint64_t page_size;         /* the backing page size (4 KiB, 2 MiB...) */
    uint64_t ram_size;          /* total RAM, bytes */
    unsigned int nr_regions;
    /* regions[i] is KVM memory slot i (vm.c registers them so): a region
     * index and a slot id are the same number everywhere. */
    MemRegion regions[MEMMAP_MAX_REGIONS];
} MemMap;

/*
 * memmap_new: allocate @ram_size bytes of guest RAM from the default
 * backend (private anonymous memory, transparent huge pages where the
 * host allows them) and lay it out: [0, min(ram, 3 GiB)) and, for the
 * rest, from 4 GiB up. Returns NULL with @errp set when the host cannot
 * provide it.
 */
MemMap *memmap_new(uint64_t ram_size, GError **errp);

/*
 * memmap_new_backend: the same from backend @mb (NULL: the default), of
 * @mb->size bytes: a memfd, a file (or a temporary file in a directory)
 * on any file system, hugetlbfs included; preallocated with
 * @mb->prealloc_threads threads if @mb->prealloc. Errors name the backend
 * and what the host refused (no huge pages, no such directory...).
 */
MemMap *memmap_new_backend(const MemBackendConfig *mb, uint64_t ram_size,
                           GError **errp);

/*
 * memmap_populated: OR into @out (the layout of memmap_dirty_take) the
 * pages of region @region that may hold data: those the host has
 * allocated, in memory or swap, or in the backing file. A page left out
 * reads as zeros (never touched, or discarded). Reading RAM to find out
 * would allocate it; this does not. Returns false (and marks every page)
 * if the host cannot say.
 */
bool memmap_populated(const MemMap *map, unsigned int region,
                      unsigned long *out);

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
 * zeroes the range instead, and so does a backend that cannot give the
 * pages back (a private mapping of someone else's file, the part of a
 * huge page the range does not cover).
 */
bool memmap_discard(MemMap *map, uint64_t gpa, uint64_t len);

/*
 * memmap_clear: make [gpa, gpa+len) read as zeros (a migration's zero
 * pages on the destination), as memmap_discard does, but leaving alone
 * pages that are not allocated or are zeros already: only pages with
 * data go back to the host, and a huge page is not split for a page that
 * needs nothing. Same rules for @gpa and @len as memmap_discard.
 */
bool memmap_clear(MemMap *map, uint64_t gpa, uint64_t len);

#endif /* KESTREL_MEMMAP_H */
