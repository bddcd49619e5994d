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
    g_test_add_func("/memmap/layout-split", test_layout_split);
    g_test_add_func("/memmap/write-marks-dirty", test_write_marks_dirty);
    g_test_add_func("/memmap/invalid-sizes", test_invalid_sizes);
    return g_test_run();
}
