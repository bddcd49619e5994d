/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <glib.h>
#include <string.h>

#include "iobus.h"

typedef struct {
    uint64_t last_offset;
    uint32_t last_len;
    bool last_write;
    uint64_t value;
    int calls;
} Probe;

static void probe_io(void *opaque, uint64_t offset, uint8_t *data,
                     uint32_t len, bool is_write)
{
    Probe *p = opaque;

    p->calls++;
    p->last_offset = offset;
    p->last_len = len;
    p->last_write = is_write;
    if (is_write) {
        p->value = io_data_get(data, len);
    } else {
        io_data_set(data, len, p->value);
    }
}

static void test_dispatch_offsets(void)
{
    g_autoptr(IoBus) bus = iobus_new("pio");
    Probe a = { 0 }, b = { 0 };
    uint8_t data[4];

    g_assert_true(iobus_register(bus, 0x3f8, 8, probe_io, &a, "com1", NULL));
    g_assert_true(iobus_register(bus, 0x60, 5, probe_io, &b, "kbd", NULL));

    io_data_set(data, 1, 0x41);
    g_assert_true(iobus_access(bus, 0x3f8, data, 1, true));
    g_assert_cmpint(a.calls, ==, 1);
    g_assert_cmpuint(a.last_offset, ==, 0);
    g_assert_cmpuint(a.value, ==, 0x41);

    b.value = 0x1c;
    g_assert_true(iobus_access(bus, 0x64, data, 1, false));
    g_assert_cmpuint(b.last_offset, ==, 4);
    g_assert_cmpuint(data[0], ==, 0x1c);
    g_assert_cmpint(a.calls, ==, 1);
}

static void test_unassigned(void)
{
    g_autoptr(IoBus) bus = iobus_new("mmio");
    Probe a = { 0 };
    uint8_t data[4] = { 0 };

    g_assert_true(iobus_register(bus, 0x1000, 0x100, probe_io, &a, "dev",
                                 NULL));
    g_assert_false(iobus_access(bus, 0xfff, data, 4, false));
    g_assert_cmpuint(io_data_get(data, 4), ==, 0xffffffff);
    g_assert_false(iobus_access(bus, 0x1100, data, 1, true));
    g_assert_cmpint(a.calls, ==, 0);
}

static void test_overlap_refused(void)
{
    g_autoptr(IoBus) bus = iobus_new("pio");
    g_autoptr(GError) err = NULL;
    Probe a = { 0 };

    g_assert_true(iobus_register(bus, 0x100, 0x10, probe_io, &a, "a", NULL));
    g_assert_false(iobus_register(bus, 0x10f, 1, probe_io, &a, "b", &err));
    g_assert_nonnull(strstr(err->message, "overlaps 'a'"));
    g_clear_error(&err);
    g_assert_false(iobus_register(bus, 0xf8, 0x10, probe_io, &a, "c", &err));
    g_clear_error(&err);
    g_assert_false(iobus_register(bus, 0x200, 0, probe_io, &a, "d", &err));
    /* Adjacent ranges are fine. */
    g_assert_true(iobus_register(bus, 0xf0, 0x10, probe_io, &a, "e", NULL));
    g_assert_true(iobus_register(bus, 0x110, 0x10, probe_io, &a, "f", NULL));
}

static void test_straddle_and_unregister(void)
{
    g_autoptr(IoBus) bus = iobus_new("pio");
    Probe a = { .value = 0xaabb };
    uint8_t data[4];

    g_assert_true(iobus_register(bus, 0x600, 2, probe_io, &a, "pm", NULL));
    /* A 4-byte read at the last two bytes: handler sees 2, rest is ones. */
    g_assert_true(iobus_access(bus, 0x600, data, 4, false));
    g_assert_cmpuint(a.last_len, ==, 2);
    g_assert_cmpuint(io_data_get(data, 4), ==, 0xffffaabb);

    g_assert_true(iobus_unregister(bus, 0x600, &a));
    g_assert_false(iobus_unregister(bus, 0x600, &a));
    g_assert_false(iobus_access(bus, 0x600, data, 1, false));
}

static void test_many_ranges_sorted(void)
{
    g_autoptr(IoBus) bus = iobus_new("pio");
    Probe p[64] = { 0 };

    /* Register in a scrambled order; every lookup must find its own. */
    for (int i = 0; i < 64; i++) {
        int k = (i * 37) % 64;

        g_assert_true(iobus_register(bus, 0x1000 + k * 0x10, 0x8, probe_io,
                                     &p[k], "x", NULL));
    }
    for (int k = 0; k < 64; k++) {
        uint8_t data[1] = { (uint8_t)k };

        g_assert_true(iobus_access(bus, 0x1000 + k * 0x10 + 7, data, 1,
                                   true));
        g_assert_cmpint(p[k].calls, ==, 1);
        g_assert_cmpuint(p[k].last_offset, ==, 7);
        /* The gaps between ranges are unassigned. */
        g_assert_false(iobus_access(bus, 0x1000 + k * 0x10 + 8, data, 1,
                                    true));
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/iobus/dispatch-offsets", test_dispatch_offsets);
    g_test_add_func("/iobus/unassigned", test_unassigned);
    g_test_add_func("/iobus/overlap-refused", test_overlap_refused);
    g_test_add_func("/iobus/straddle-unregister", test_straddle_and_unregister);
    g_test_add_func("/iobus/many-ranges", test_many_ranges_sorted);
    return g_test_run();
}
