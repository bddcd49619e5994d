/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The small modes: hello, pio, mmio, idle. (dirty has its own file; so
 * will balloon and the I/O modes.)
 */
#include "tg.h"

/*
 * The exit targets. Nothing may answer at either address on any machine
 * the guest is compared on, so that both VMMs take the same "unassigned"
 * path:
 * - port 0x700: unused on QEMU pc, q35 and microvm (0x510 is fw_cfg, 0x501
 *   isa-debug-exit, 0x505 pvpanic, 0x600 the q35 PM block, 0xb000 the
 *   PIIX4 PM block, 0x80 the POST port) and in kestrel's layout.h.
 * - 0xe8000000: in kestrel, between the ECAM (0xe0000000, 1 MiB) and the
 *   IOAPIC; in QEMU, inside the 32-bit PCI hole above q35's ECAM
 *   (0xb0000000-0xbfffffff), where no device or BAR sits with -nodefaults
 *   (firmware assigns BARs from the top of the window). Mapped uncached.
 */
#define PIO_PORT        0x700
#define MMIO_ADDR       0xe8000000ULL

/* Polling the power button costs one exit; do it once per this many. */
#define POLL_EVERY      4096

void mode_hello(void)
{
}

static void report_exits(const char *what, uint64_t count, uint64_t ns)
{
    con_printf("TG %s count=%lu ns_per_exit=%lu\n", what, count,
               count ? ns / count : 0);
}

void mode_pio(void)
{
    uint64_t i, t0 = 0, ns = 0;

    for (i = 0; i < tg_args.count; i++) {
        if (!(i % POLL_EVERY)) {
            ns += i ? clock_ns() - t0 : 0;
            pm_poll();
            t0 = clock_ns();
        }
        outb(PIO_PORT, (uint8_t)i);
    }
    if (tg_args.count) {
        ns += clock_ns() - t0;
    }
    report_exits("PIO", tg_args.count, ns);
}

void mode_mmio(void)
{
    uint64_t i, t0 = 0, ns = 0;

    for (i = 0; i < tg_args.count; i++) {
        if (!(i % POLL_EVERY)) {
            ns += i ? clock_ns() - t0 : 0;
            pm_poll();
            t0 = clock_ns();
        }
        (void)mmio_read32(MMIO_ADDR);
    }
    if (tg_args.count) {
        ns += clock_ns() - t0;
    }
    report_exits("MMIO", tg_args.count, ns);
}

/*
 * Halted with nothing to wake it but the SCI (the power button), or with
 * tg.secs, the LAPIC timer at the end.
 */
void mode_idle(void)
{
    uint64_t now, end = 0;

    if (tg_args.secs) {
        end = clock_ns() + tg_args.secs * NS_PER_SEC;
    }

    for (;;) {
        if (end) {
            now = clock_ns();
            if (now >= end) {
                return;
            }
            pm_timer_arm(end - now);
        }
        pm_wait_event();
    }
}
