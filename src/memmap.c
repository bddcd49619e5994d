/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Guest RAM. One memfd holds all of it (MAP_SHARED), so the balloon can punch
 * holes and migration can read it directly; regions are windows on that fd.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "error.h"
#include "layout.h"
#include "memmap.h"

#define PAGE_SHIFT 12
#define PAGE_SIZE (1ULL << PAGE_SHIFT)
#define BITS_PER_LONG (8 * sizeof(unsigned long))

static unsigned long *dirty_bitmap_new(uint64_t size)
{
    uint64_t pages = size >> PAGE_SHIFT;

    return g_new0(unsigned long, (pages + BITS_PER_LONG - 1) / BITS_PER_LONG);
}

static void memmap_add_region(MemMap *map, uint64_t gpa, uint64_t size,
                              uint64_t fd_offset, uint8_t *hva)
{
    MemRegion *r = &map->regions[map->nr_regions++];

    r->gpa = gpa;
    r->size = size;
    r->fd_offset = fd_offset;
    r->hva = hva;
    r->dirty = dirty_bitmap_new(size);
}

MemMap *memmap_new(uint64_t ram_size, GError **errp)
{
    g_autoptr(MemMap) map = g_new0(MemMap, 1);
    uint64_t low, high;
    uint8_t *base;

    map->fd = -1;
    if (ram_size < 2 * MiB || (ram_size & (PAGE_SIZE - 1))) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "guest memory size %" PRIu64 " bytes is invalid: it must "
                    "be a multiple of 4 KiB and at least 2 MiB", ram_size);
        return NULL;
    }
    map->ram_size = ram_size;
    map->fd = memfd_create("kestrel-ram", MFD_CLOEXEC);
    if (map->fd < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_NOMEM,
                    "cannot set up guest memory: memfd_create: %s",
                    g_strerror(errno));
        return NULL;
    }
    if (ftruncate(map->fd, (off_t)ram_size) < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_NOMEM,
                    "cannot set up guest memory of %" PRIu64 " MiB: %s",
                    ram_size / MiB, g_strerror(errno));
        return NULL;
    }
    /* One mapping for the whole file: the regions are slices of it. */
    base = mmap(NULL, ram_size, PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_NORESERVE, map->fd, 0);
    if (base == MAP_FAILED) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_NOMEM,
                    "cannot set up guest memory of %" PRIu64 " MiB: %s",
                    ram_size / MiB, g_strerror(errno));
        return NULL;
    }
    /* Transparent huge pages help the host's TLB; failure is harmless. */
    madvise(base, ram_size, MADV_HUGEPAGE);

    low = MIN(ram_size, LAYOUT_LOW_RAM_MAX);
    high = ram_size - low;
    memmap_add_region(map, 0, low, 0, base);
    if (high) {
        memmap_add_region(map, LAYOUT_HIGH_RAM_START, high, low, base + low);
    }
    return g_steal_pointer(&map);
}

MemMap *memmap_new_from_buffer(uint8_t *buf, uint64_t size)
{
    MemMap *map = g_new0(MemMap, 1);

    map->fd = -1;
    map->ram_size = size;
    memmap_add_region(map, 0, size, 0, buf);
    return map;
}

void memmap_free(MemMap *map)
{
    if (!map) {
        return;
    }
    for (unsigned int i = 0; i < map->nr_regions; i++) {
        g_free(map->regions[i].dirty);
    }
    if (map->fd >= 0) {
        if (map->nr_regions) {
            munmap(map->regions[0].hva, map->ram_size);
        }
        close(map->fd);
    }
    g_free(map);
}

static MemRegion *memmap_find(const MemMap *map, uint64_t gpa, uint64_t len)
{
    for (unsigned int i = 0; i < map->nr_regions; i++) {
        const MemRegion *r = &map->regions[i];

        if (gpa >= r->gpa && gpa - r->gpa < r->size &&
            len <= r->size - (gpa - r->gpa)) {
            return (MemRegion *)r;
        }
    }
    return NULL;
}

const void *memmap_hva(const MemMap *map, uint64_t gpa, uint64_t len)
{
    const MemRegion *r = memmap_find(map, gpa, len);

    return r ? r->hva + (gpa - r->gpa) : NULL;
}

void *memmap_hva_mut(MemMap *map, uint64_t gpa, uint64_t len)
{
    MemRegion *r = memmap_find(map, gpa, len);

    if (!r) {
        return NULL;
    }
    memmap_mark_dirty(map, gpa, len);
    return r->hva + (gpa - r->gpa);
}

void memmap_mark_dirty(MemMap *map, uint64_t gpa, uint64_t len)
{
    MemRegion *r;
    uint64_t first, last;

    if (len == 0 || !(r = memmap_find(map, gpa, len))) {
        return;
    }
    first = (gpa - r->gpa) >> PAGE_SHIFT;
    last = (gpa - r->gpa + len - 1) >> PAGE_SHIFT;
    for (uint64_t p = first; p <= last; p++) {
        /* Release: the data written before is visible to a sender that
         * takes this bit (memmap_dirty_take). */
        __atomic_fetch_or(&r->dirty[p / BITS_PER_LONG],
                          1UL << (p % BITS_PER_LONG), __ATOMIC_RELEASE);
    }
}

void memmap_dirty_take(MemMap *map, unsigned int region, unsigned long *out)
{
    MemRegion *r;
    uint64_t words;

    if (region >= map->nr_regions) {
        return;
    }
    r = &map->regions[region];
    words = ((r->size >> PAGE_SHIFT) + BITS_PER_LONG - 1) / BITS_PER_LONG;
    for (uint64_t i = 0; i < words; i++) {
        /* Exchange, not load-then-store: a bit set between the two by a
         * vCPU thread would be cleared without being reported. */
        out[i] |= __atomic_exchange_n(&r->dirty[i], 0UL, __ATOMIC_ACQ_REL);
    }
}

bool memmap_write(MemMap *map, uint64_t gpa, const void *src, uint64_t len)
{
    MemRegion *r = memmap_find(map, gpa, len);

    if (!r) {
        return false;
    }
    memcpy(r->hva + (gpa - r->gpa), src, len);
    /* After the copy: a sender that takes the bit sees the new bytes. */
    memmap_mark_dirty(map, gpa, len);
    return true;
}

bool memmap_read(const MemMap *map, uint64_t gpa, void *dst, uint64_t len)
{
    const void *src = memmap_hva(map, gpa, len);

    if (!src) {
        return false;
    }
    memcpy(dst, src, len);
    return true;
}

uint64_t memmap_low_ram_end(const MemMap *map)
{
    return map->nr_regions ? map->regions[0].gpa + map->regions[0].size : 0;
}

bool memmap_discard(MemMap *map, uint64_t gpa, uint64_t len)
{
    MemRegion *r;

    if (len == 0 || ((gpa | len) & (PAGE_SIZE - 1)) ||
        !(r = memmap_find(map, gpa, len))) {
        return false;
    }
    /*
     * A discarded page changed (to zeros) behind KVM's dirty log, which
     * only sees guest writes. Migration: marking it dirty makes the sender
     * re-send it, and a zero page it sends as a zero/discard record, so
     * the destination punches the same hole instead of keeping stale data
     * or allocating the page. Marked even if the host refuses the discard:
     * the contents are then unchanged and re-sending is merely redundant.
     */
    memmap_mark_dirty(map, gpa, len);
    if (map->fd < 0) {
        memset(r->hva + (gpa - r->gpa), 0, len);
        return true;
    }
    /* KEEP_SIZE: the file must not shrink under the other regions. KVM's
     * MMU notifier drops the guest's mapping of the punched pages. */
    return fallocate(map->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                     (off_t)(r->fd_offset + (gpa - r->gpa)),
                     (off_t)len) == 0;
}
