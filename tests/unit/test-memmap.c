/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <glib.h>
#include <string.h>

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
    return g_test_run();
}
