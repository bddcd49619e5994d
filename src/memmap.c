/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Guest RAM, from one memory backend mapped once; the regions are windows
 * on that mapping.
 *
 * The default is private anonymous memory: on a stock host that is the
 * only kind transparent huge pages back (shmem_enabled is "never" on
 * Debian, so a memfd never gets them). A memfd, or a file, only when
 * something asks for it: share=on (another process maps the same pages),
 * hugetlbfs, a file the user names.
 *
 * Each kind gives pages back differently (memmap_discard) and tells
 * differently which pages hold data (memmap_populated):
 *
 *   backend                     discard              populated pages
 *   private anonymous           MADV_DONTNEED        pagemap
 *   shared memfd / file         fallocate punch      SEEK_DATA
 *   hugetlbfs or hugetlb memfd  punch / DONTNEED,    pagemap (hugetlbfs
 *                               whole huge pages     says "all data")
 *   private, our own temp file  MADV_DONTNEED        pagemap
 *   private, someone's file     zeroes (no return)   SEEK_DATA + pagemap
 *
 * MADV_DONTNEED on a private file mapping drops our copy and shows the
 * file again: zeros only if the file is a hole there, which it is for our
 * own temporary files and memfds and not for a file the user gave us.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <linux/memfd.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "error.h"
#include "layout.h"
#include "memmap.h"

#define PAGE_SHIFT 12
#define PAGE_SIZE (1ULL << PAGE_SHIFT)
#define BITS_PER_LONG (8 * sizeof(unsigned long))
#define THP_SIZE (2 * MiB)

#define PAGEMAP_PRESENT (1ULL << 63)
#define PAGEMAP_SWAPPED (1ULL << 62)

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

static void memmap_layout(MemMap *map, uint8_t *base)
{
    uint64_t low = MIN(map->ram_size, LAYOUT_LOW_RAM_MAX);
    uint64_t high = map->ram_size - low;

    memmap_add_region(map, 0, low, 0, base);
    if (high) {
        memmap_add_region(map, LAYOUT_HIGH_RAM_START, high, low, base + low);
    }
}

static const char *memmap_name(const MemBackendConfig *mb)
{
    return mb->id ? mb->id : "pc.ram";
}

/* Private anonymous memory, aligned to a huge page so that the guest's
 * first 2 MiB and every later 2 MiB can each be one THP. */
static uint8_t *memmap_map_anon(uint64_t size, GError **errp)
{
    uint8_t *raw, *base;
    uint64_t head, tail;

    raw = mmap(NULL, size + THP_SIZE, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_NOMEM,
                    "cannot set up guest memory of %" PRIu64 " MiB: %s",
                    size / MiB, g_strerror(errno));
        return NULL;
    }
    base = (uint8_t *)(((uintptr_t)raw + THP_SIZE - 1) & ~(THP_SIZE - 1));
    head = (uint64_t)(base - raw);
    tail = THP_SIZE - head;
    if (head) {
        munmap(raw, head);
    }
    if (tail) {
        munmap(base + size, tail);
    }
    return base;
}

static int memmap_memfd(const MemBackendConfig *mb, uint64_t *page_size,
                        GError **errp)
{
    unsigned int flags = MFD_CLOEXEC | (mb->seal ? MFD_ALLOW_SEALING : 0);
    int fd;

    *page_size = PAGE_SIZE;
    if (mb->hugetlb) {
        uint64_t hp = mb->hugetlbsize ? mb->hugetlbsize : 2 * MiB;

        flags |= MFD_HUGETLB;
        if (mb->hugetlbsize) {
            flags |= (unsigned int)__builtin_ctzll(hp) << MFD_HUGE_SHIFT;
        }
        *page_size = hp;
    }
    fd = memfd_create(memmap_name(mb), flags);
    if (fd < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_NOMEM,
                    "memory backend '%s': cannot create a%s memfd: %s",
                    memmap_name(mb), mb->hugetlb ? " hugetlb" : "",
                    g_strerror(errno));
    }
    return fd;
}

/* mem-path: a directory gets an unlinked temporary file of ours; anything
 * else is the file itself, created if absent and kept. */
static int memmap_open_path(const MemBackendConfig *mb, bool *own,
                            GError **errp)
{
    struct stat st;
    int fd;

    *own = false;
    if (stat(mb->mem_path, &st) == 0 && S_ISDIR(st.st_mode)) {
        g_autofree char *tmpl = g_build_filename(mb->mem_path,
                                                 "kestrel_ram.XXXXXX", NULL);

        fd = g_mkstemp_full(tmpl, O_RDWR | O_CLOEXEC, 0600);
        if (fd >= 0) {
            unlink(tmpl);
            *own = true;
        }
    } else {
        fd = open(mb->mem_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    }
    if (fd < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "memory backend '%s': cannot open mem-path '%s': %s",
                    memmap_name(mb), mb->mem_path, g_strerror(errno));
    }
    return fd;
}

typedef struct {
    uint8_t *start;
    uint64_t len;
    int err;
} PreallocJob;

static gpointer memmap_prealloc_thread(gpointer opaque)
{
    PreallocJob *job = opaque;

    /* One call allocates the whole range, huge pages included, and
     * reports a shortage as an error where touching would SIGBUS. */
    if (madvise(job->start, job->len, MADV_POPULATE_WRITE) < 0) {
        job->err = errno;
    }
    return NULL;
}

static bool memmap_prealloc(MemMap *map, uint8_t *base,
                            const MemBackendConfig *mb, GError **errp)
{
    unsigned int n = CLAMP(mb->prealloc_threads, 1u, 64u);
    uint64_t pages = map->ram_size / map->page_size;
    uint64_t per = (pages + n - 1) / n;
    g_autofree PreallocJob *jobs = g_new0(PreallocJob, n);
    g_autofree GThread **threads = g_new0(GThread *, n);

    for (unsigned int i = 0; i < n; i++) {
        uint64_t first = MIN(pages, i * per);
        uint64_t last = MIN(pages, first + per);

        jobs[i].start = base + first * map->page_size;
        jobs[i].len = (last - first) * map->page_size;
        if (!jobs[i].len) {
            continue;
        }
        if (i + 1 == n) {
            memmap_prealloc_thread(&jobs[i]);
        } else {
            threads[i] = g_thread_new("prealloc", memmap_prealloc_thread,
                                      &jobs[i]);
        }
    }
    for (unsigned int i = 0; i < n; i++) {
        if (threads[i]) {
            g_thread_join(threads[i]);
        }
    }
    for (unsigned int i = 0; i < n; i++) {
        if (jobs[i].err) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_NOMEM,
                        "memory backend '%s': cannot preallocate %" PRIu64
                        " MiB of guest memory%s: %s", memmap_name(mb),
                        map->ram_size / MiB,
                        map->hugetlb ? " (not enough free huge pages?)" : "",
                        g_strerror(jobs[i].err));
            return false;
        }
    }
    return true;
}

MemMap *memmap_new(uint64_t ram_size, GError **errp)
{
    return memmap_new_backend(NULL, ram_size, errp);
}

MemMap *memmap_new_backend(const MemBackendConfig *mb, uint64_t ram_size,
                           GError **errp)
{
    static const MemBackendConfig anon = { .type = MEM_BACKEND_RAM };
    g_autoptr(MemMap) map = g_new0(MemMap, 1);
    uint8_t *base;

    map->fd = -1;
    mb = mb ? mb : &anon;
    if (ram_size < 2 * MiB || (ram_size & (PAGE_SIZE - 1))) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "guest memory size %" PRIu64 " bytes is invalid: it must "
                    "be a multiple of 4 KiB and at least 2 MiB", ram_size);
        return NULL;
    }
    map->ram_size = ram_size;
    map->page_size = PAGE_SIZE;
    if (mb->type == MEM_BACKEND_RAM && !mb->share) {
        map->kind = MEMMAP_ANON;
        base = memmap_map_anon(ram_size, errp);
        if (!base) {
            return NULL;
        }
    } else {
        struct statfs fs;
        int flags;

        map->kind = MEMMAP_FD;
        map->shared = mb->share;
        if (mb->type == MEM_BACKEND_FILE) {
            map->fd = memmap_open_path(mb, &map->own_file, errp);
        } else {
            /* memory-backend-ram,share=on is shared anonymous memory,
             * which is what a memfd is, with an fd to pass on. */
            map->fd = memmap_memfd(mb, &map->page_size, errp);
            map->own_file = true;
        }
        if (map->fd < 0) {
            return NULL;
        }
        if (fstatfs(map->fd, &fs) == 0 &&
            fs.f_type == (typeof(fs.f_type))HUGETLBFS_MAGIC) {
            map->hugetlb = true;
            map->page_size = (uint64_t)fs.f_bsize;
        }
        if (ram_size % map->page_size) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "memory backend '%s': size %" PRIu64 " bytes is not "
                        "a multiple of its page size (%" PRIu64 " KiB)",
                        memmap_name(mb), ram_size, map->page_size / KiB);
            return NULL;
        }
        if (ftruncate(map->fd, (off_t)ram_size) < 0) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_NOMEM,
                        "memory backend '%s': cannot size it to %" PRIu64
                        " MiB: %s", memmap_name(mb), ram_size / MiB,
                        g_strerror(errno));
            return NULL;
        }
        if (mb->type == MEM_BACKEND_MEMFD && mb->seal) {
            /* The guest's RAM never changes size under the mapping. */
            fcntl(map->fd, F_ADD_SEALS,
                  F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
        }
        /* Huge pages are reserved at mmap() unless MAP_NORESERVE: a host
         * without enough fails here, not with SIGBUS in a guest fault. */
        flags = (map->shared ? MAP_SHARED : MAP_PRIVATE) |
                (map->hugetlb ? 0 : MAP_NORESERVE);
        base = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, flags, map->fd,
                    0);
        if (base == MAP_FAILED) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_NOMEM,
                        "memory backend '%s': cannot map %" PRIu64
                        " MiB%s: %s", memmap_name(mb), ram_size / MiB,
                        map->hugetlb ? " of huge pages (are enough "
                        "reserved? see /proc/sys/vm/nr_hugepages)" : "",
                        g_strerror(errno));
            return NULL;
        }
        map->discard_data = mb->discard_data;
    }
    memmap_layout(map, base);
    if (!map->hugetlb) {
        /* THP for the host's TLB (a memfd gets them only where shmem THP
         * is enabled); failure is harmless. */
        madvise(base, ram_size, MADV_HUGEPAGE);
    }
    if (mb->merge) {
        madvise(base, ram_size, MADV_MERGEABLE);
    }
    /* The machine's dump-guest-core=off: a core of kestrel without the
     * guest's memory (which may be large, and is the guest's). */
    madvise(base, ram_size, MADV_DONTDUMP);
    if (mb->prealloc && !memmap_prealloc(map, base, mb, errp)) {
        return NULL;
    }
    return g_steal_pointer(&map);
}

MemMap *memmap_new_from_buffer(uint8_t *buf, uint64_t size)
{
    MemMap *map = g_new0(MemMap, 1);

    map->fd = -1;
    map->kind = MEMMAP_BUFFER;
    map->page_size = PAGE_SIZE;
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
    if (map->kind != MEMMAP_BUFFER && map->nr_regions) {
        munmap(map->regions[0].hva, map->ram_size);
    }
    if (map->fd >= 0) {
        if (map->discard_data) {
            /* discard-data=on: the guest's RAM dies with the guest, even
             * in a file that outlives it. */
            fallocate(map->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      0, (off_t)map->ram_size);
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

/* Whether the page at @hva is allocated (in our page tables or swap). */
static bool memmap_page_resident(const uint8_t *hva)
{
    unsigned char vec;

    return mincore((void *)((uintptr_t)hva & ~(PAGE_SIZE - 1)), PAGE_SIZE,
                   &vec) < 0 || (vec & 1);
}

/* Whether a page we never touched reads as zeros: not so for a private
 * mapping of a file that is not ours. */
static bool memmap_holes_are_zero(const MemMap *map)
{
    return map->kind != MEMMAP_FD || map->shared || map->own_file;
}

/* Zero [hva, hva+len) without allocating pages that read as zeros
 * already. */
static void memmap_zero_range(const MemMap *map, uint8_t *hva, uint64_t len)
{
    bool holes_zero = memmap_holes_are_zero(map);

    for (uint64_t off = 0; off < len; off += PAGE_SIZE) {
        if (!holes_zero || memmap_page_resident(hva + off)) {
            memset(hva + off, 0, PAGE_SIZE);
        }
    }
}

/* Give back whole backing pages [off, off+len) of region @r. */
static bool memmap_release(MemMap *map, MemRegion *r, uint64_t off,
                           uint64_t len)
{
    uint8_t *hva = r->hva + off;

    if (map->kind == MEMMAP_ANON) {
        return madvise(hva, len, MADV_DONTNEED) == 0;
    }
    if (map->shared) {
        /* KEEP_SIZE: the file must not shrink under the other regions.
         * KVM's MMU notifier drops the guest's mapping of the punched
         * pages. */
        return fallocate(map->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                         (off_t)(r->fd_offset + off), (off_t)len) == 0;
    }
    if (map->own_file) {
        /* Our private copy goes. The file beneath holds zeros only (our
         * faults may have filled it with them): punch those too. */
        fallocate(map->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  (off_t)(r->fd_offset + off), (off_t)len);
        return madvise(hva, len, MADV_DONTNEED) == 0;
    }
    /* Someone's file beneath a private mapping: dropping our copy would
     * show their data, not zeros. Keep the page, zeroed. */
    memmap_zero_range(map, hva, len);
    return true;
}

bool memmap_discard(MemMap *map, uint64_t gpa, uint64_t len)
{
    MemRegion *r;
    uint64_t off, first, last;

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
    off = gpa - r->gpa;
    if (map->kind == MEMMAP_BUFFER) {
        memset(r->hva + off, 0, len);
        return true;
    }
    /* Huge pages go back whole: the parts of one the range covers only
     * partly are zeroed instead (the guest may have more of it in use). */
    first = (off + map->page_size - 1) & ~(map->page_size - 1);
    last = (off + len) & ~(map->page_size - 1);
    if (first >= last) {
        memmap_zero_range(map, r->hva + off, len);
        return true;
    }
    memmap_zero_range(map, r->hva + off, first - off);
    memmap_zero_range(map, r->hva + last, off + len - last);
    return memmap_release(map, r, first, last - first);
}

static void set_bits(unsigned long *bm, uint64_t first, uint64_t n)
{
    for (uint64_t p = first; p < first + n; p++) {
        bm[p / BITS_PER_LONG] |= 1UL << (p % BITS_PER_LONG);
    }
}

/* Pages of @r with data in the backing file (SEEK_DATA/SEEK_HOLE). */
static bool memmap_file_extents(const MemMap *map, const MemRegion *r,
                                unsigned long *out)
{
    off_t off = (off_t)r->fd_offset, end = (off_t)(r->fd_offset + r->size);

    while (off < end) {
        off_t data = lseek(map->fd, off, SEEK_DATA), hole;

        if (data < 0) {
            return errno == ENXIO;      /* ENXIO: no data after off */
        }
        if (data >= end) {
            return true;
        }
        hole = lseek(map->fd, data, SEEK_HOLE);
        if (hole < 0 || hole > end) {
            hole = end;
        }
        data &= ~(off_t)(PAGE_SIZE - 1);
        set_bits(out, (uint64_t)(data - (off_t)r->fd_offset) >> PAGE_SHIFT,
                 (uint64_t)(hole - data + (off_t)PAGE_SIZE - 1) >>
                 PAGE_SHIFT);
        off = hole;
    }
    return true;
}

/* Bit i of @out for each page i of [hva, hva + pages * 4 KiB) in this
 * process's page tables or in swap (/proc/self/pagemap). */
static bool memmap_pagemap(const uint8_t *hva, uint64_t pages,
                           unsigned long *out)
{
    enum { CHUNK = 4096 };
    g_autofree uint64_t *ent = g_new(uint64_t, CHUNK);
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        return false;
    }
    for (uint64_t p = 0; p < pages; p += CHUNK) {
        uint64_t n = MIN((uint64_t)CHUNK, pages - p);
        off_t at = (off_t)((((uintptr_t)hva) >> PAGE_SHIFT) + p) * 8;
        ssize_t got = pread(fd, ent, n * 8, at);

        if (got != (ssize_t)(n * 8)) {
            close(fd);
            return false;
        }
        for (uint64_t i = 0; i < n; i++) {
            if (ent[i] & (PAGEMAP_PRESENT | PAGEMAP_SWAPPED)) {
                out[(p + i) / BITS_PER_LONG] |=
                    1UL << ((p + i) % BITS_PER_LONG);
            }
        }
    }
    close(fd);
    return true;
}

static bool page_is_zero(const uint8_t *p)
{
    const uint64_t *w = (const uint64_t *)p;

    for (size_t i = 0; i < PAGE_SIZE / 8; i++) {
        if (w[i]) {
            return false;
        }
    }
    return true;
}

bool memmap_clear(MemMap *map, uint64_t gpa, uint64_t len)
{
    g_autofree unsigned long *present = NULL;
    MemRegion *r;
    uint64_t pages, run = 0;

    if (len == 0 || ((gpa | len) & (PAGE_SIZE - 1)) ||
        !(r = memmap_find(map, gpa, len))) {
        return false;
    }
    pages = len >> PAGE_SHIFT;
    present = g_new0(unsigned long, (pages + BITS_PER_LONG - 1) /
                                    BITS_PER_LONG);
    if (!memmap_holes_are_zero(map)) {
        /* Someone's file beneath: any page may read its data. */
        memset(present, 0xff, ((pages + BITS_PER_LONG - 1) / BITS_PER_LONG) *
                              sizeof(unsigned long));
    } else if (map->kind != MEMMAP_ANON ||
               !memmap_pagemap(r->hva + (gpa - r->gpa), pages, present)) {
        return memmap_discard(map, gpa, len);
    }
    /* Runs of allocated pages that are not zeros yet go; a page already
     * zero stays, so a huge page is not split for it. */
    for (uint64_t p = 0; p <= pages; p++) {
        bool stale = p < pages &&
                     (present[p / BITS_PER_LONG] >> (p % BITS_PER_LONG) & 1) &&
                     !page_is_zero(r->hva + (gpa - r->gpa) +
                                   (p << PAGE_SHIFT));

        if (stale) {
            run++;
        } else if (run) {
            if (!memmap_discard(map, gpa + ((p - run) << PAGE_SHIFT),
                                run << PAGE_SHIFT)) {
                return false;
            }
            run = 0;
        }
    }
    return true;
}

bool memmap_populated(const MemMap *map, unsigned int region,
                      unsigned long *out)
{
    const MemRegion *r;
    bool ok = true;

    if (region >= map->nr_regions) {
        return false;
    }
    r = &map->regions[region];
    if (map->kind == MEMMAP_BUFFER) {
        ok = false;
    } else if (map->kind == MEMMAP_ANON || map->hugetlb ||
               (map->own_file && !map->shared)) {
        /* hugetlbfs answers SEEK_DATA with "all of it"; a private
         * mapping of our own file has its data in our copies only. */
        ok = memmap_pagemap(r->hva, r->size >> PAGE_SHIFT, out);
    } else {
        ok = memmap_file_extents(map, r, out);
        if (ok && !map->shared) {
            /* Our copies of pages, beside the file's. */
            ok = memmap_pagemap(r->hva, r->size >> PAGE_SHIFT, out);
        }
    }
    if (!ok) {
        set_bits(out, 0, r->size >> PAGE_SHIFT);
    }
    return ok;
}
