/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Device models without KVM: UART, ACPI PM, i8042, PCI host, RTC. */
#include <glib.h>
#include <string.h>

#include "device.h"
#include "i8042.h"
#include "layout.h"
#include "migration/vmstate.h"
#include "pci.h"
#include "pm.h"
#include "rtc.h"
#include "serial.h"

/* --- UART --------------------------------------------------------------- */

static int irq_changes;
static bool irq_level;

static void fake_irq(void *opaque, bool level)
{
    (void)opaque;
    irq_changes++;
    irq_level = level;
}

static uint8_t rd(void (*io)(void *, uint64_t, uint8_t *, uint32_t, bool),
                  void *dev, uint64_t off)
{
    uint8_t v = 0;

    io(dev, off, &v, 1, false);
    return v;
}

static void wr(void (*io)(void *, uint64_t, uint8_t *, uint32_t, bool),
               void *dev, uint64_t off, uint8_t v)
{
    io(dev, off, &v, 1, true);
}

static void test_serial_tx_interrupt(void)
{
    Serial *s = serial_new(NULL, fake_irq, NULL);

    irq_changes = 0;
    irq_level = false;
    g_assert_cmphex(rd(serial_io, s, 5) & 0x60, ==, 0x60);  /* THRE|TEMT */
    g_assert_cmphex(rd(serial_io, s, 2), ==, 0x01);          /* no irq */
    /* Enabling THRI with an empty holding register interrupts at once. */
    wr(serial_io, s, 1, 0x02);
    g_assert_true(irq_level);
    g_assert_cmphex(rd(serial_io, s, 2), ==, 0x02);
    /* Reading IIR acknowledged it. */
    g_assert_false(irq_level);
    g_assert_cmphex(rd(serial_io, s, 2), ==, 0x01);
    /* Every byte sent raises it again. */
    wr(serial_io, s, 0, 'x');
    g_assert_true(irq_level);
    /* OUT2 low gates the line off. */
    wr(serial_io, s, 4, 0x00);
    g_assert_false(irq_level);
    serial_free(s);
}

static void test_serial_loopback_rx(void)
{
    Serial *s = serial_new(NULL, fake_irq, NULL);

    wr(serial_io, s, 2, 0x01);              /* FIFO on */
    wr(serial_io, s, 4, 0x10 | 0x08);       /* loopback, OUT2 */
    wr(serial_io, s, 1, 0x01);              /* RDI */
    g_assert_false(irq_level);
    wr(serial_io, s, 0, 'a');
    wr(serial_io, s, 0, 'b');
    g_assert_true(irq_level);
    g_assert_cmphex(rd(serial_io, s, 2) & 0x0f, ==, 0x04);   /* RDI */
    g_assert_cmphex(rd(serial_io, s, 2) & 0xc0, ==, 0xc0);   /* FIFO on */
    g_assert_cmphex(rd(serial_io, s, 5) & 0x01, ==, 0x01);   /* DR */
    g_assert_cmpint(rd(serial_io, s, 0), ==, 'a');
    g_assert_cmpint(rd(serial_io, s, 0), ==, 'b');
    g_assert_cmphex(rd(serial_io, s, 5) & 0x01, ==, 0x00);
    g_assert_false(irq_level);
    serial_free(s);
}

static void test_serial_overrun_and_dlab(void)
{
    Serial *s = serial_new(NULL, fake_irq, NULL);

    /* Divisor latch. */
    wr(serial_io, s, 3, 0x83);
    wr(serial_io, s, 0, 0x01);
    wr(serial_io, s, 1, 0x00);
    g_assert_cmpint(rd(serial_io, s, 0), ==, 1);
    wr(serial_io, s, 3, 0x03);
    g_assert_cmpint(rd(serial_io, s, 1), ==, 0);    /* IER again */
    /* Without FIFO the receiver holds one byte: the second overruns. */
    wr(serial_io, s, 4, 0x10);
    wr(serial_io, s, 0, '1');
    wr(serial_io, s, 0, '2');
    g_assert_cmphex(rd(serial_io, s, 5) & 0x02, ==, 0x02);   /* OE */
    g_assert_cmphex(rd(serial_io, s, 5) & 0x02, ==, 0x00);   /* cleared */
    g_assert_cmpint(rd(serial_io, s, 0), ==, '1');
    /* Scratch register. */
    wr(serial_io, s, 7, 0x5a);
    g_assert_cmphex(rd(serial_io, s, 7), ==, 0x5a);
    serial_free(s);
}

/* --- ACPI PM ------------------------------------------------------------ */

static bool sci;
static int poweroffs, resets;

static void pm_sci(void *o, bool l)
{
    (void)o;
    sci = l;
}

static void pm_off(void *o)
{
    (void)o;
    poweroffs++;
}

static void pm_rst(void *o)
{
    (void)o;
    resets++;
}

static void test_pm_power_button(void)
{
    PmOps ops = { pm_sci, pm_off, pm_rst, NULL };
    Pm *pm = pm_new(&ops);
    uint8_t d[4];

    sci = false;
    pm_press_power_button(pm);
    g_assert_false(sci);                     /* not enabled yet */
    pm_evt_io(pm, 0, d, 2, false);
    g_assert_cmphex(d[1] & 0x01, ==, 0x01); /* PWRBTN_STS (bit 8) */
    /* Enable PWRBTN_EN: the pending status raises the SCI. */
    d[0] = 0x00;
    d[1] = 0x01;
    pm_evt_io(pm, 2, d, 2, true);
    g_assert_true(sci);
    /* Write-one-to-clear drops it. */
    d[0] = 0x00;
    d[1] = 0x01;
    pm_evt_io(pm, 0, d, 2, true);
    g_assert_false(sci);
    pm_evt_io(pm, 0, d, 4, false);
    g_assert_cmphex(d[1], ==, 0x00);
    g_assert_cmphex(d[3], ==, 0x01);        /* enable still set */
    pm_free(pm);
}

static void test_pm_sleep_and_reset(void)
{
    PmOps ops = { pm_sci, pm_off, pm_rst, NULL };
    Pm *pm = pm_new(&ops);
    uint8_t d[2];
    uint16_t v;

    poweroffs = resets = 0;
    pm_cnt_io(pm, 0, d, 2, false);
    g_assert_cmphex(d[0] & 0x01, ==, 0x01); /* SCI_EN: ACPI mode */
    /* S3 is not offered: ignored. */
    v = (3 << 10) | (1 << 13);
    d[0] = (uint8_t)v;
    d[1] = (uint8_t)(v >> 8);
    pm_cnt_io(pm, 0, d, 2, true);
    g_assert_cmpint(poweroffs, ==, 0);
    v = (ACPI_S5_SLP_TYP << 10) | (1 << 13);
    d[0] = (uint8_t)v;
    d[1] = (uint8_t)(v >> 8);
    pm_cnt_io(pm, 0, d, 2, true);
    g_assert_cmpint(poweroffs, ==, 1);
    /* A byte write of the high half works too (Linux writes 16 bits). */
    d[0] = (uint8_t)(v >> 8);
    pm_cnt_io(pm, 1, d, 1, true);
    g_assert_cmpint(poweroffs, ==, 2);

    d[0] = 0x02;
    pm_reset_io(pm, 0, d, 1, true);
    g_assert_cmpint(resets, ==, 0);
    d[0] = 0x06;
    pm_reset_io(pm, 0, d, 1, true);
    g_assert_cmpint(resets, ==, 1);
    pm_free(pm);
}

static void test_pm_timer_advances(void)
{
    uint8_t a[4], b[4];

    pm_tmr_io(NULL, 0, a, 4, false);
    g_usleep(2000);
    pm_tmr_io(NULL, 0, b, 4, false);
    /* 2 ms at 3.58 MHz is about 7000 ticks; 24 bits wrap rarely. */
    g_assert_cmpuint(((*(uint32_t *)b - *(uint32_t *)a) & 0xffffff), >=,
                     6000);
    g_assert_cmpuint(*(uint32_t *)b >> 24, ==, 0);
}

/* --- i8042 -------------------------------------------------------------- */

static void i8042_reset_cb(void *o)
{
    (*(int *)o)++;
}

static void test_i8042(void)
{
    int n = 0;
    I8042 *k = i8042_new(i8042_reset_cb, &n);

    wr(i8042_io, k, 4, 0xaa);
    g_assert_cmphex(rd(i8042_io, k, 4) & 0x01, ==, 0x01);
    g_assert_cmphex(rd(i8042_io, k, 0), ==, 0x55);
    g_assert_cmphex(rd(i8042_io, k, 4) & 0x01, ==, 0x00);
    wr(i8042_io, k, 4, 0xfe);
    g_assert_cmpint(n, ==, 1);
    /* Output port write with bit 0 clear also resets. */
    wr(i8042_io, k, 4, 0xd1);
    wr(i8042_io, k, 0, 0xfe);
    g_assert_cmpint(n, ==, 2);
    i8042_free(k);
}

/* --- PCI host ------------------------------------------------------------ */

static uint32_t cf8_read(PciHost *h, unsigned dev, unsigned reg, unsigned len)
{
    uint8_t d[4];
    uint32_t addr = 0x80000000u | (dev << 11) | (reg & 0xfc);

    memcpy(d, &addr, 4);
    pci_config_io(h, 0, d, 4, true);
    pci_config_io(h, 4 + (reg & 3), d, len, false);
    return len == 4 ? *(uint32_t *)d : len == 2 ? *(uint16_t *)d : d[0];
}

static void test_pci_host(void)
{
    PciHost *h = pci_host_new();
    uint8_t d[4];

    g_assert_cmphex(cf8_read(h, 0, 0, 4), ==, 0x00081b36);
    g_assert_cmphex(cf8_read(h, 0, 0x0a, 2), ==, 0x0600);   /* host bridge */
    g_assert_cmphex(cf8_read(h, 3, 0, 4), ==, 0xffffffff);  /* empty slot */
    /* ECAM reaches the same space. */
    pci_ecam_io(h, 0, d, 4, false);
    g_assert_cmphex(*(uint32_t *)d, ==, 0x00081b36);
    pci_ecam_io(h, (5 << 15), d, 2, false);
    g_assert_cmphex(*(uint16_t *)d, ==, 0xffff);
    /* Vendor id is read-only. */
    *(uint32_t *)d = 0;
    pci_ecam_io(h, 0, d, 4, true);
    pci_ecam_io(h, 0, d, 4, false);
    g_assert_cmphex(*(uint32_t *)d, ==, 0x00081b36);
    g_assert_cmpint(pci_host_free_slot(h), ==, 1);
    pci_host_free(h);
}

/* --- RTC ------------------------------------------------------------------ */

static void test_rtc(void)
{
    Rtc *rtc = rtc_new(128 * MiB, 0);
    uint8_t sec;

    wr(rtc_io, rtc, 0, 0x0b);
    g_assert_cmphex(rd(rtc_io, rtc, 1) & 0x02, ==, 0x02);   /* 24 hour */
    wr(rtc_io, rtc, 0, 0x0d);
    g_assert_cmphex(rd(rtc_io, rtc, 1), ==, 0x80);          /* valid */
    wr(rtc_io, rtc, 0, 0x00);
    sec = rd(rtc_io, rtc, 1);
    g_assert_cmpuint(sec & 0x0f, <=, 9);                    /* BCD */
    g_assert_cmpuint(sec >> 4, <=, 5);
    /* Extended memory above 16 MiB in 64 KiB units: (128-16) MiB. */
    wr(rtc_io, rtc, 0, 0x34);
    g_assert_cmphex(rd(rtc_io, rtc, 1), ==, 0x00);
    wr(rtc_io, rtc, 0, 0x35);
    g_assert_cmphex(rd(rtc_io, rtc, 1), ==, 0x07);
    rtc_free(rtc);
}

/* --- state: round trips and hostile values ------------------------------- */

static GByteArray *save_dev(void *dev)
{
    const DeviceClass *cls = ((Device *)dev)->cls;
    GByteArray *out = g_byte_array_new();
    g_autoptr(GError) err = NULL;

    g_assert_nonnull(cls->vmsd);
    g_assert_true(vms_save(cls->vmsd, dev, out, &err));
    g_assert_no_error(err);
    return out;
}

static bool load_dev(void *dev, GByteArray *bytes, GError **errp)
{
    const DeviceClass *cls = ((Device *)dev)->cls;
    VmsReader r = vms_reader(bytes->data, bytes->len);

    return vms_load(cls->vmsd, dev, &r, errp) && r.pos == r.len;
}

static void expect_refused(void *dev, GByteArray *bytes, const char *what)
{
    g_autoptr(GError) err = NULL;

    g_assert_false(load_dev(dev, bytes, &err));
    g_assert_nonnull(err);
    if (!strstr(err->message, what)) {
        g_error("'%s' does not contain '%s'", err->message, what);
    }
}

/* A UART with bytes in its FIFO and an interrupt pending: the copy reads
 * the same bytes and raises its line on load. */
static void test_serial_state(void)
{
    Serial *s = serial_new(NULL, fake_irq, NULL);
    Serial *t = serial_new(NULL, fake_irq, NULL);
    g_autoptr(GByteArray) st = NULL;

    wr(serial_io, s, 2, 0x01);              /* FIFO on */
    wr(serial_io, s, 4, 0x10 | 0x08);       /* loopback, OUT2 */
    wr(serial_io, s, 1, 0x01);              /* RDI */
    wr(serial_io, s, 7, 0x42);
    wr(serial_io, s, 0, 'x');
    wr(serial_io, s, 0, 'y');
    wr(serial_io, s, 0, 'z');
    g_assert_cmpint(rd(serial_io, s, 0), ==, 'x');  /* head moves on */
    st = save_dev(s);
    irq_level = false;
    g_assert_true(load_dev(t, st, NULL));
    g_assert_true(irq_level);                /* pending RDI, line up */
    g_assert_cmphex(rd(serial_io, t, 2) & 0x0f, ==, 0x04);
    g_assert_cmphex(rd(serial_io, t, 7), ==, 0x42);
    g_assert_cmpint(rd(serial_io, t, 0), ==, 'y');
    g_assert_cmpint(rd(serial_io, t, 0), ==, 'z');
    g_assert_cmphex(rd(serial_io, t, 5) & 0x01, ==, 0);
    g_assert_false(irq_level);
    /* the source is untouched by saving */
    g_assert_cmpint(rd(serial_io, s, 0), ==, 'y');

    /* hostile: more bytes than the FIFO holds, a head outside it */
    st->data[st->len - 1 - 4] = 17;          /* rx_count */
    expect_refused(t, st, "do not fit the receive FIFO");
    st->data[st->len - 1 - 4] = 1;
    st->data[st->len - 1 - 8] = 16;          /* rx_head */
    expect_refused(t, st, "do not fit the receive FIFO");
    st->data[st->len - 1 - 8] = 0;
    st->data[4] = 0xff;                      /* ier */
    expect_refused(t, st, "field 'ier'");
    serial_free(s);
    serial_free(t);
}

/* Paused, a UART drives no interrupt; resume raises what is pending. */
static void test_serial_pause(void)
{
    Serial *s = serial_new(NULL, fake_irq, NULL);

    irq_level = false;
    serial_class.pause((Device *)s);
    wr(serial_io, s, 1, 0x02);               /* THRI: would interrupt */
    g_assert_false(irq_level);
    serial_class.resume((Device *)s);
    g_assert_true(irq_level);
    serial_free(s);
}

static void test_i8042_state(void)
{
    int n = 0;
    I8042 *k = i8042_new(i8042_reset_cb, &n);
    I8042 *l = i8042_new(i8042_reset_cb, &n);
    g_autoptr(GByteArray) st = NULL;

    wr(i8042_io, k, 4, 0x60);                /* write config: awaits data */
    st = save_dev(k);
    g_assert_true(load_dev(l, st, NULL));
    wr(i8042_io, l, 0, 0x31);
    wr(i8042_io, l, 4, 0x20);
    g_assert_cmphex(rd(i8042_io, l, 0), ==, 0x31);
    /* reset: back to power-on, no data byte awaited */
    wr(i8042_io, l, 4, 0x60);
    i8042_class.reset((Device *)l);
    wr(i8042_io, l, 4, 0x20);
    g_assert_cmphex(rd(i8042_io, l, 0), ==, 0x45);
    /* hostile: an output byte that is not one, a bogus command */
    st->data[4 + 3] = 0x99;                  /* pending_cmd */
    expect_refused(l, st, "field 'pending_cmd'");
    st->data[4 + 3] = 0;
    st->data[4 + 4] = 0x00;                  /* out = 0x1000 */
    st->data[4 + 5] = 0x10;
    st->data[4 + 6] = 0x00;
    st->data[4 + 7] = 0x00;
    expect_refused(l, st, "field 'out'");
    g_assert_cmpint(n, ==, 0);
    i8042_free(k);
    i8042_free(l);
}

static void test_rtc_state(void)
{
    Rtc *a = rtc_new(128 * MiB, 0);
    Rtc *b = rtc_new(64 * MiB, 0);
    g_autoptr(GByteArray) st = NULL;

    wr(rtc_io, a, 0, 0x40);
    wr(rtc_io, a, 1, 0x5a);                  /* a CMOS byte */
    wr(rtc_io, a, 0, 0x0b);
    wr(rtc_io, a, 1, 0x02 | 0x40);           /* PIE on */
    wr(rtc_io, a, 0, 0x40);
    st = save_dev(a);
    g_assert_true(load_dev(b, st, NULL));
    g_assert_cmphex(rd(rtc_io, b, 1), ==, 0x5a);     /* index kept */
    wr(rtc_io, b, 0, 0x35);
    g_assert_cmphex(rd(rtc_io, b, 1), ==, 0x07);     /* a's memory size */
    /* reset: CMOS kept, interrupt enables cleared, index 0 */
    rtc_class.reset((Device *)b);
    wr(rtc_io, b, 0, 0x0b);
    g_assert_cmphex(rd(rtc_io, b, 1), ==, 0x02);
    wr(rtc_io, b, 0, 0x40);
    g_assert_cmphex(rd(rtc_io, b, 1), ==, 0x5a);
    st->data[4] = 0x80;                      /* index */
    expect_refused(b, st, "field 'index'");
    /* fuzz-vmstate: an offset of 2^62 seconds overflowed the host's time
     * plus the offset, and its year made to_bcd shift a negative value */
    st = save_dev(a);
    st->data[4 + 1 + 128 + 7] = 0x40;        /* offset, little-endian */
    expect_refused(b, st, "field 'offset'");
    rtc_free(a);
    rtc_free(b);
}

/* A year before 1900 (century 0), as a guest may set it: the registers
 * read back what was written (was: a negative year % 100 into to_bcd). */
static void test_rtc_early_year(void)
{
    Rtc *rtc = rtc_new(128 * MiB, 0);

    wr(rtc_io, rtc, 0, 0x0b);
    wr(rtc_io, rtc, 1, 0x02 | 0x80);         /* 24 hour, SET: frozen */
    wr(rtc_io, rtc, 0, 0x32);
    wr(rtc_io, rtc, 1, 0x00);                /* century 0 */
    wr(rtc_io, rtc, 0, 0x09);
    wr(rtc_io, rtc, 1, 0x50);                /* year 50 */
    wr(rtc_io, rtc, 0, 0x08);
    wr(rtc_io, rtc, 1, 0x06);                /* June: no month wrap */
    wr(rtc_io, rtc, 0, 0x0b);
    wr(rtc_io, rtc, 1, 0x02);                /* run */
    wr(rtc_io, rtc, 0, 0x09);
    g_assert_cmphex(rd(rtc_io, rtc, 1), ==, 0x50);
    wr(rtc_io, rtc, 0, 0x32);
    g_assert_cmphex(rd(rtc_io, rtc, 1), ==, 0x00);
    /* latching it again (SET) keeps the same registers */
    wr(rtc_io, rtc, 0, 0x0b);
    wr(rtc_io, rtc, 1, 0x02 | 0x80);
    wr(rtc_io, rtc, 0, 0x09);
    g_assert_cmphex(rd(rtc_io, rtc, 1), ==, 0x50);
    rtc_free(rtc);
}

static void test_pm_state(void)
{
    PmOps ops = { pm_sci, pm_off, pm_rst, NULL };
    Pm *a = pm_new(&ops), *b = pm_new(&ops);
    g_autoptr(GByteArray) st = NULL;
    uint8_t d[2] = { 0x00, 0x01 };

    poweroffs = 0;
    pm_evt_io(a, 2, d, 2, true);             /* PWRBTN_EN */
    sci = false;
    pm_press_power_button(a);
    g_assert_true(sci);
    st = save_dev(a);
    sci = false;
    g_assert_true(load_dev(b, st, NULL));
    g_assert_true(sci);                      /* the loaded SCI is raised */
    /* paused, a power button press waits for resume */
    pm_class.pause((Device *)a);
    d[1] = 0x01;
    pm_evt_io(a, 0, d, 2, true);             /* clear: line would drop */
    g_assert_true(sci);
    pm_class.resume((Device *)a);
    g_assert_false(sci);
    /* hostile: SCI_EN clear, SLP_EN set */
    st->data[4 + 4] = 0;
    expect_refused(b, st, "field 'cnt'");
    st->data[4 + 4] = 1;
    st->data[4 + 5] = 0x20;
    expect_refused(b, st, "field 'cnt'");
    g_assert_cmpint(poweroffs, ==, 0);
    pm_free(a);
    pm_free(b);
}

static void test_pci_host_state(void)
{
    PciHost *a = pci_host_new(), *b = pci_host_new();
    g_autoptr(GByteArray) st = NULL;
    uint8_t d[4];
    uint32_t addr = 0x80000000u | 0x0c;

    memcpy(d, &addr, 4);
    pci_config_io(a, 0, d, 4, true);         /* latch an address */
    *(uint16_t *)d = 0x0006;
    pci_ecam_io(a, PCI_COMMAND, d, 2, true); /* the bridge's command */
    st = save_dev(a);
    g_assert_true(load_dev(b, st, NULL));
    pci_config_io(b, 0, d, 4, false);
    g_assert_cmphex(*(uint32_t *)d, ==, addr);
    pci_ecam_io(b, PCI_COMMAND, d, 2, false);
    g_assert_cmphex(*(uint16_t *)d, ==, 0x0006);
    /* hostile: reserved latch bits; a read-only config byte (device id) */
    st->data[4 + 3] = 0x7f;
    expect_refused(b, st, "field 'config_addr'");
    st->data[4 + 3] = 0x80;
    st->data[4 + 4 + 4 + PCI_DEVICE_ID] ^= 1;
    expect_refused(b, st, "read-only byte 0x002");
    pci_host_free(a);
    pci_host_free(b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/serial/tx-interrupt", test_serial_tx_interrupt);
    g_test_add_func("/serial/loopback-rx", test_serial_loopback_rx);
    g_test_add_func("/serial/overrun-dlab", test_serial_overrun_and_dlab);
    g_test_add_func("/pm/power-button", test_pm_power_button);
    g_test_add_func("/pm/sleep-reset", test_pm_sleep_and_reset);
    g_test_add_func("/pm/timer", test_pm_timer_advances);
    g_test_add_func("/i8042/self-test-reset", test_i8042);
    g_test_add_func("/pci/host", test_pci_host);
    g_test_add_func("/rtc/registers", test_rtc);
    g_test_add_func("/state/serial", test_serial_state);
    g_test_add_func("/state/serial-pause", test_serial_pause);
    g_test_add_func("/state/i8042", test_i8042_state);
    g_test_add_func("/state/rtc", test_rtc_state);
    g_test_add_func("/rtc/early-year", test_rtc_early_year);
    g_test_add_func("/state/pm", test_pm_state);
    g_test_add_func("/state/pci-host", test_pci_host_state);
    return g_test_run();
}
