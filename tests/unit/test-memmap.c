/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "layout.h"
#include "memmap.h"

static void test_layout_small(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(MemMap) map = memmap_new(128 * MiB, &err);

    g_assert_no_error(err);
    g_assert_cmpuint(map->nr_regions, ==, 1);
    g_assert_cmpuint(map->regions[0].gpa, ==, 0);
    g_assert_cmpuint(map->regions[0].size, ==, 128 * MiB);
    g_assert_cmpuint(memmap_low_ram_end(map), ==, 128 * MiB);
    g_assert_nonnull(memmap_hva(map, 128 * MiB - 8, 8));
    g_assert_null(memmap_hva(map, 128 * MiB - 8, 9));
    g_assert_null(memmap_hva(map, 128 * MiB, 1));
}

static void test_layout_split(void)
{
    g_autoptr(GError) err = NULL;
    /* Sparse memfd: nothing is touched, so 5 GiB costs nothing. */
    g_autoptr(MemMap) map = memmap_new(5 * GiB, &err);

    g_assert_no_error(err);
    g_assert_cmpuint(map->nr_regions, ==, 2);
    g_assert_cmpuint(map->regions[0].size, ==, LAYOUT_LOW_RAM_MAX);
    g_assert_cmpuint(map->regions[1].gpa, ==, LAYOUT_HIGH_RAM_START);
    g_assert_cmpuint(map->regions[1].size, ==, 2 * GiB);
    /* The hole below 4 GiB is not RAM. */
    g_assert_null(memmap_hva(map, LAYOUT_ECAM_START, 1));
    g_assert_nonnull(memmap_hva(map, LAYOUT_HIGH_RAM_START, 4096));
    /* Both regions are windows on one contiguous mapping. */
    g_assert_true((uint8_t *)memmap_hva(map, LAYOUT_HIGH_RAM_START, 1) ==
                  (uint8_t *)memmap_hva(map, 0, 1) + LAYOUT_LOW_RAM_MAX);
    /* A range crossing the hole is refused. */
    g_assert_null(memmap_hva(map, LAYOUT_LOW_RAM_MAX - 4, 8));
}

static void test_write_marks_dirty(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(MemMap) map = memmap_new(16 * MiB, &err);
    uint8_t buf[8192], out[8192];
    unsigned long *bm;

    memset(buf, 0x5a, sizeof(buf));
    /* 8 KiB starting mid-page touches three pages: 1, 2 and 3. */
    g_assert_true(memmap_write(map, 0x1800, buf, sizeof(buf)));
    g_assert_true(memmap_read(map, 0x1800, out, sizeof(out)));
    g_assert_cmpmem(buf, sizeof(buf), out, sizeof(out));
    bm = map->regions[0].dirty;
    g_assert_cmphex(bm[0] & 0xff, ==, 0x0e);
    g_assert_false(memmap_write(map, 16 * MiB - 4, buf, 8));
    g_assert_false(memmap_read(map, 16 * MiB, out, 1));
}

#define BPL (8 * sizeof(unsigned long))

static bool bit(const unsigned long *bm, uint64_t page)
{
    return (bm[page / BPL] >> (page % BPL)) & 1;
}

/* memmap_dirty_take: KVM_GET_DIRTY_LOG's layout per region (= slot),
 * ORed into the caller's bitmap, cleared behind. */
static void test_dirty_take(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(MemMap) map = memmap_new(LAYOUT_LOW_RAM_MAX + 64 * MiB, &err);
    uint64_t hi_pages = 64 * MiB / 4096;
    g_autofree unsigned long *lo = g_new0(unsigned long,
                                          LAYOUT_LOW_RAM_MAX / 4096 / BPL);
    g_autofree unsigned long *hi = g_new0(unsigned long, hi_pages / BPL);
    uint8_t b = 1;

    g_assert_no_error(err);
    g_assert_cmpuint(map->nr_regions, ==, 2);
    g_assert_true(memmap_write(map, 0x5000, &b, 1));
    g_assert_true(memmap_write(map, LAYOUT_HIGH_RAM_START + 0x3000, &b, 1));
    memmap_mark_dirty(map, LAYOUT_HIGH_RAM_START + 64 * MiB - 4096, 4096);
    g_assert_nonnull(memmap_hva_mut(map, 0x7000, 2));
    hi[0] = 1;                              /* the caller's bits stay */
    memmap_dirty_take(map, 1, hi);
    g_assert_true(bit(hi, 0));
    g_assert_true(bit(hi, 3));
    g_assert_true(bit(hi, hi_pages - 1));
    g_assert_false(bit(hi, 5));
    memmap_dirty_take(map, 0, lo);
    g_assert_true(bit(lo, 5));
    g_assert_true(bit(lo, 7));
    g_assert_false(bit(lo, 3));
    g_assert_false(bit(lo, 6));
    /* cleared: a second take adds nothing */
    memset(lo, 0, LAYOUT_LOW_RAM_MAX / 4096 / 8);
    memmap_dirty_take(map, 0, lo);
    g_assert_false(bit(lo, 5));
    /* no such region (slot): nothing happens */
    memmap_dirty_take(map, 2, lo);
    /* a discarded page is dirty: migration sends it as a zero page */
    g_assert_true(memmap_discard(map, 0x10000, 0x2000));
    memmap_dirty_take(map, 0, lo);
    g_assert_true(bit(lo, 0x10));
    g_assert_true(bit(lo, 0x11));
    g_assert_false(bit(lo, 0x12));
    /* the read-only accessor marks nothing */
    g_assert_nonnull(memmap_hva(map, 0x20000, 1));
    memset(lo, 0, LAYOUT_LOW_RAM_MAX / 4096 / 8);
    memmap_dirty_take(map, 0, lo);
    g_assert_false(bit(lo, 0x20));
}

/* Concurrent marking and taking lose no page. */
typedef struct {
    MemMap *map;
    uint64_t pages;
} MarkJob;

static gpointer mark_thread(gpointer opaque)
{
    MarkJob *j = opaque;

    for (uint64_t p = 0; p < j->pages; p++) {
        memmap_mark_dirty(j->map, p * 4096, 1);
    }
    return NULL;
}

static void test_dirty_take_concurrent(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(MemMap) map = memmap_new(64 * MiB, &err);
    MarkJob job = { .map = map, .pages = 64 * MiB / 4096 };
    g_autofree unsigned long *bm = g_new0(unsigned long,
                                          job.pages / BPL);
    GThread *t;

    g_assert_no_error(err);
    t = g_thread_new("mark", mark_thread, &job);
    for (int i = 0; i < 1000; i++) {
        memmap_dirty_take(map, 0, bm);
    }
    g_thread_join(t);
    memmap_dirty_take(map, 0, bm);
    for (uint64_t p = 0; p < job.pages; p++) {
        g_assert_true(bit(bm, p));
    }
}

static void test_invalid_sizes(void)
{
    g_autoptr(GError) err = NULL;

    g_assert_null(memmap_new(1 * MiB, &err));
    g_assert_nonnull(strstr(err->message, "at least 2 MiB"));
    g_clear_error(&err);
    g_assert_null(memmap_new(16 * MiB + 1, &err));
    g_assert_nonnull(strstr(err->message, "multiple of 4 KiB"));
    g_clear_error(&err);
    /* More than the address space can map: a clear error, not a crash. */
    g_assert_null(memmap_new(UINT64_C(1) << 52, &err));
    g_assert_nonnull(strstr(err->message, "cannot set up guest memory"));
}

/* --- backends -------------------------------------------------------------- */

#define BK_SIZE (16 * MiB)
#define BK_WORDS (BK_SIZE / 4096 / (8 * sizeof(unsigned long)))

typedef struct {
    const char *name;
    MemBackendType type;
    bool share;
    int file;                   /* 0 none, 1 a directory, 2 a file with data */
} BackendCase;

static const BackendCase backend_cases[] = {
    { "ram", MEM_BACKEND_RAM, false, 0 },
    { "ram-share", MEM_BACKEND_RAM, true, 0 },
    { "memfd", MEM_BACKEND_MEMFD, true, 0 },
    { "memfd-private", MEM_BACKEND_MEMFD, false, 0 },
    { "file-dir-private", MEM_BACKEND_FILE, false, 1 },
    { "file-dir-shared", MEM_BACKEND_FILE, true, 1 },
    { "file-data-private", MEM_BACKEND_FILE, false, 2 },
    { "file-data-shared", MEM_BACKEND_FILE, true, 2 },
};

static bool page_populated(const unsigned long *bm, uint64_t gpa)
{
    uint64_t p = gpa >> 12;

    return bm[p / (8 * sizeof(unsigned long))] >>
           (p % (8 * sizeof(unsigned long))) & 1;
}

static uint64_t count_populated(MemMap *map)
{
    g_autofree unsigned long *bm = g_new0(unsigned long, BK_WORDS);
    uint64_t n = 0;

    g_assert_true(memmap_populated(map, 0, bm));
    for (size_t i = 0; i < BK_WORDS; i++) {
        n += (uint64_t)__builtin_popcountl(bm[i]);
    }
    return n;
}

static MemMap *backend_map(const BackendCase *c, const char *dir,
                           bool prealloc)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *file = g_build_filename(dir, "ram", NULL);
    MemBackendConfig mb = {
        .id = (char *)c->name, .type = c->type, .size = BK_SIZE,
        .share = c->share, .prealloc = prealloc, .prealloc_threads = 3,
        .seal = true,
    };
    MemMap *map;

    if (c->file == 2) {
        /* Someone's file, with data at 4 MiB. */
        g_autofree char *data = g_malloc(4096);
        int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0600);

        memset(data, 0xee, 4096);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(pwrite(fd, data, 4096, 4 * MiB), ==, 4096);
        close(fd);
    }
    mb.mem_path = c->file == 1 ? (char *)dir : file;
    map = memmap_new_backend(&mb, BK_SIZE, &err);
    g_assert_no_error(err);
    g_assert_nonnull(map);
    return map;
}

/* Each backend: RAM reads what was written; memmap_populated() finds the
 * written pages and not the untouched ones; memmap_discard() gives pages
 * back so they read zeros (not a file's data) and are gone from the
 * populated set; memmap_clear() leaves zero pages and holes alone. */
static void test_backend(gconstpointer data)
{
    const BackendCase *c = data;
    g_autofree char *dir = g_dir_make_tmp("memmap-XXXXXX", NULL);
    g_autoptr(MemMap) map = backend_map(c, dir, false);
    g_autofree unsigned long *bm = g_new0(unsigned long, BK_WORDS);
    uint8_t page[4096], got[4096];
    uint64_t before;

    g_assert_cmpint(map->kind, ==, c->type == MEM_BACKEND_RAM && !c->share ?
                    MEMMAP_ANON : MEMMAP_FD);
    g_assert_cmpint(map->shared, ==, c->share);
    if (map->kind == MEMMAP_ANON) {
        /* 2 MiB aligned: every 2 MiB of the guest can be one THP. */
        g_assert_cmphex((uintptr_t)map->regions[0].hva & (2 * MiB - 1), ==,
                        0);
    }
    memset(page, 0x5a, sizeof(page));
    g_assert_true(memmap_write(map, 0x3000, page, 4096));
    g_assert_true(memmap_write(map, 0x4000, page, 4096));
    g_assert_true(memmap_write(map, 10 * MiB, page, 4096));
    g_assert_true(memmap_populated(map, 0, bm));
    g_assert_true(page_populated(bm, 0x3000));
    g_assert_true(page_populated(bm, 10 * MiB));
    /* Far from any write (THP may fill in the written 2 MiB). */
    g_assert_false(page_populated(bm, 8 * MiB));
    g_assert_false(page_populated(bm, 14 * MiB));
    /* The file's own data is data, and what the guest sees there. */
    if (c->file == 2) {
        g_assert_true(page_populated(bm, 4 * MiB));
        g_assert_true(memmap_read(map, 4 * MiB, got, 1));
        g_assert_cmphex(got[0], ==, 0xee);
        g_assert_true(memmap_write(map, 4 * MiB, page, 4096));
    }

    before = count_populated(map);
    g_assert_true(memmap_discard(map, 10 * MiB, 2 * MiB));
    if (c->file != 2 || c->share) {
        /* Given back: no longer populated (checked before reading it,
         * which may map a page again). */
        g_assert_cmpuint(count_populated(map), <, before);
        memset(bm, 0, BK_WORDS * sizeof(unsigned long));
        g_assert_true(memmap_populated(map, 0, bm));
        g_assert_false(page_populated(bm, 10 * MiB));
    }
    g_assert_true(memmap_read(map, 10 * MiB, got, 4096));
    g_assert_cmphex(got[0], ==, 0);
    g_assert_cmphex(got[4095], ==, 0);
    g_assert_true(memmap_read(map, 0x3000, got, 4096));
    g_assert_cmphex(got[0], ==, 0x5a);
    /* Someone's file beneath a private mapping: zeros, not its data. */
    g_assert_true(memmap_discard(map, 4 * MiB, 4096));
    g_assert_true(memmap_read(map, 4 * MiB, got, 4096));
    g_assert_cmphex(got[0], ==, 0);
    /* Usable again. */
    g_assert_true(memmap_write(map, 10 * MiB, page, 4096));
    g_assert_true(memmap_read(map, 10 * MiB, got, 4096));
    g_assert_cmphex(got[100], ==, 0x5a);

    /* memmap_clear: data goes, holes stay holes. */
    g_assert_true(memmap_clear(map, 0x3000, 4096));
    g_assert_true(memmap_read(map, 0x3000, got, 4096));
    g_assert_cmphex(got[0], ==, 0);
    g_assert_true(memmap_read(map, 0x4000, got, 4096));
    g_assert_cmphex(got[0], ==, 0x5a);
    memset(bm, 0, BK_WORDS * sizeof(unsigned long));
    g_assert_true(memmap_clear(map, 12 * MiB, 2 * MiB));
    g_assert_true(memmap_populated(map, 0, bm));
    if (c->file != 2 || c->share) {
        /* (someone's file is read to see whether it holds zeros) */
        g_assert_false(page_populated(bm, 12 * MiB));
    }

    g_clear_pointer(&map, memmap_free);
    if (c->file == 2) {
        g_autofree char *file = g_build_filename(dir, "ram", NULL);

        g_unlink(file);
    }
    g_assert_cmpint(g_rmdir(dir), ==, 0);   /* no temporary file left */
}

/* prealloc=on: every page is allocated before anything runs. */
static void test_backend_prealloc(gconstpointer data)
{
    const BackendCase *c = data;
    g_autofree char *dir = g_dir_make_tmp("memmap-XXXXXX", NULL);
    g_autoptr(MemMap) map = backend_map(c, dir, true);

    g_assert_cmpuint(count_populated(map), ==, BK_SIZE / 4096);
    g_clear_pointer(&map, memmap_free);
    if (c->file == 2) {
        g_autofree char *file = g_build_filename(dir, "ram", NULL);

        g_unlink(file);
    }
    g_rmdir(dir);
}

static void test_backend_errors(void)
{
    g_autoptr(GError) err = NULL;
    MemBackendConfig mb = {
        .id = (char *)"m", .type = MEM_BACKEND_FILE, .size = BK_SIZE,
        .mem_path = (char *)"/nonexistent/dir/ram",
    };

    g_assert_null(memmap_new_backend(&mb, BK_SIZE, &err));
    g_assert_error(err, KESTREL_ERROR, KESTREL_ERROR_INVALID);
    g_assert_cmpstr(err->message, ==, "memory backend 'm': cannot open "
                    "mem-path '/nonexistent/dir/ram': No such file or "
                    "directory");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/memmap/layout-small", test_layout_small);
    g_test_add_func("/memmap/dirty-take", test_dirty_take);
    g_test_add_func("/memmap/dirty-take-concurrent",
                    test_dirty_take_concurrent);
    g_test_add_func("/memmap/layout-split", test_layout_split);
    g_test_add_func("/memmap/write-marks-dirty", test_write_marks_dirty);
    g_test_add_func("/memmap/invalid-sizes", test_invalid_sizes);
    for (size_t i = 0; i < G_N_ELEMENTS(backend_cases); i++) {
        g_autofree char *path = g_strdup_printf("/memmap/backend/%s",
                                                backend_cases[i].name);
        g_autofree char *pre = g_strdup_printf("/memmap/prealloc/%s",
                                               backend_cases[i].name);

        g_test_add_data_func(path, &backend_cases[i], test_backend);
        g_test_add_data_func(pre, &backend_cases[i], test_backend_prealloc);
    }
    g_test_add_func("/memmap/backend-errors", test_backend_errors);
    return g_test_run();
}
