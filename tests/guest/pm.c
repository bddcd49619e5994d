/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Power management the way Linux does it, minus the AML interpreter: the
 * power button is PM1 status PWRBTN, seen by polling in the busy modes and
 * through the SCI (IOAPIC -> LAPIC -> kernel.c) when halted; power off is
 * \_S5's SLP_TYP written with SLP_EN to PM1a control (or to the FADT sleep
 * control register on a HW-reduced platform), else a keyboard-controller
 * reset.
 */
#include "tg.h"

#define PM1_STS_PWRBTN      (1u << 8)
#define PM1_EN_PWRBTN       (1u << 8)
#define PM1_CNT_SCI_EN      (1u << 0)
#define PM1_CNT_SLP_TYP     (7u << 10)
#define PM1_CNT_SLP_EN      (1u << 13)
#define SLEEP_CTL_SLP_EN    (1u << 5)

#define LAPIC_ID            0x20
#define LAPIC_TPR           0x80
#define LAPIC_SVR           0xf0
#define LAPIC_LVT_TIMER     0x320
#define LAPIC_LVT_LINT0     0x350
#define LAPIC_TIMER_INIT    0x380
#define LAPIC_TIMER_DIV     0x3e0
#define LAPIC_SVR_ENABLE    (1u << 8)
#define LAPIC_LVT_MASKED    (1u << 16)
#define LAPIC_TIMER_DEADLINE (2u << 17)
#define LAPIC_TIMER_DIV_1   0x0b
#define MSR_TSC             0x010
#define MSR_TSC_DEADLINE    0x6e0
#define CPUID1_ECX_TSC_DEADLINE (1u << 24)

/* The one-shot fallback assumes KVM's 1 GHz APIC timer and re-arms in
 * slices of at most this, so another frequency only costs extra wakes. */
#define LAPIC_TIMER_SLICE_NS 10000000ULL

#define IOAPIC_REGSEL       0x00
#define IOAPIC_WIN          0x10
#define IOREDTBL(pin)       (0x10 + 2 * (pin))
#define IOREDTBL_LEVEL      (1u << 15)
#define IOREDTBL_LOW        (1u << 13)
#define IOREDTBL_MASKED     (1u << 16)

static bool sci_routed;
static uint64_t sci_seen;
static bool tsc_deadline;

static void ioapic_write(uint32_t reg, uint32_t v)
{
    mmio_write32(acpi.ioapic + IOAPIC_REGSEL, reg);
    mmio_write32(acpi.ioapic + IOAPIC_WIN, v);
}

/* Enable ACPI mode if the firmware left the chipset in legacy mode. */
static void acpi_mode_enable(void)
{
    uint64_t deadline;

    if (!acpi.pm1a_cnt || (inw(acpi.pm1a_cnt) & PM1_CNT_SCI_EN) ||
        !acpi.smi_cmd || !acpi.acpi_enable) {
        return;
    }
    outb(acpi.smi_cmd, acpi.acpi_enable);
    deadline = clock_ns() + NS_PER_SEC;
    while (!(inw(acpi.pm1a_cnt) & PM1_CNT_SCI_EN) && clock_ns() < deadline) {
        cpu_relax();
    }
}

static void sci_route(void)
{
    uint32_t pin, redir, apic_id;

    if (!acpi.ioapic || acpi.sci_gsi < acpi.ioapic_gsi_base) {
        return;
    }
    pin = acpi.sci_gsi - acpi.ioapic_gsi_base;
    apic_id = mmio_read32(acpi.lapic + LAPIC_ID) >> 24;

    redir = VEC_SCI | (acpi.sci_level ? IOREDTBL_LEVEL : 0) |
            (acpi.sci_low ? IOREDTBL_LOW : 0);
    irq_ioapic_base = acpi.ioapic;
    sci_ioapic_pin = pin;
    sci_ioapic_redir = redir;
    ioapic_write(IOREDTBL(pin) + 1, apic_id << 24);
    ioapic_write(IOREDTBL(pin), redir);
    sci_routed = true;
}

static void lapic_init(void)
{
    uint32_t a, b, c, d;

    mmio_write32(acpi.lapic + LAPIC_SVR, LAPIC_SVR_ENABLE | VEC_SPURIOUS);
    mmio_write32(acpi.lapic + LAPIC_TPR, 0);
    mmio_write32(acpi.lapic + LAPIC_LVT_LINT0, LAPIC_LVT_MASKED);
    guest_cpuid(1, &a, &b, &c, &d);
    tsc_deadline = c & CPUID1_ECX_TSC_DEADLINE;
    mmio_write32(acpi.lapic + LAPIC_LVT_TIMER, VEC_TIMER |
                 (tsc_deadline ? LAPIC_TIMER_DEADLINE : 0));
    mmio_write32(acpi.lapic + LAPIC_TIMER_DIV, LAPIC_TIMER_DIV_1);
    irq_lapic_base = acpi.lapic;
}

bool pm_tsc_deadline(void)
{
    return tsc_deadline;
}

void pm_timer_arm(uint64_t ns)
{
    if (tsc_deadline) {
        /* The deadline is compared with the TSC as KVM sees it, which
         * rdtsc at CPL3 (native here) need not match: ask the MSR. */
        wrmsr(MSR_TSC_DEADLINE, rdmsr(MSR_TSC) + clock_ns_to_tsc(ns));
        return;
    }
    if (ns > LAPIC_TIMER_SLICE_NS) {
        ns = LAPIC_TIMER_SLICE_NS;
    }
    mmio_write32(acpi.lapic + LAPIC_TIMER_INIT, ns ? (uint32_t)ns : 1);
}

void pm_init(void)
{
    /* The legacy PICs stay masked: the firmware may have left the PIT
     * ticking into vectors we use for exceptions. */
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
    lapic_init();

    if (!acpi.fadt || acpi.hw_reduced || !acpi.pm1a_evt) {
        return;
    }
    acpi_mode_enable();
    outw(acpi.pm1a_evt, PM1_STS_PWRBTN);           /* write 1 to clear */
    outw(acpi.pm1a_evt + acpi.pm1_evt_len / 2, PM1_EN_PWRBTN);
    sci_route();
}

void pm_poll(void)
{
    uint16_t sts;

    if (!acpi.pm1a_evt || acpi.hw_reduced) {
        return;
    }
    sts = inw(acpi.pm1a_evt);
    if (sts & PM1_STS_PWRBTN) {
        outw(acpi.pm1a_evt, PM1_STS_PWRBTN);
        con_printf("TG POWERBUTTON\n");
        pm_poweroff();
    }
}

void pm_wait_event(void)
{
    cpu_halt();
    pm_poll();
    if (sci_routed && sci_count != sci_seen) {
        /* The handler masked the level-triggered SCI; its cause is
         * handled (or was not ours), so let it in again. */
        sci_seen = sci_count;
        ioapic_write(IOREDTBL(sci_ioapic_pin), sci_ioapic_redir);
    }
}

static void reg_write8(const AcpiReg *r, uint8_t v)
{
    if (r->space == 0 && r->addr < TG_MAPPED_LIMIT) {
        *(volatile uint8_t *)(uintptr_t)r->addr = v;
    } else if (r->space == 1) {
        outb((uint16_t)r->addr, v);
    }
}

void pm_poweroff(void)
{
    uint16_t cnt;

    if (acpi.fadt && acpi.hw_reduced && acpi.sleep_ctl.addr) {
        reg_write8(&acpi.sleep_ctl,
                   (uint8_t)((acpi.s5_slp_typ << 2) | SLEEP_CTL_SLP_EN));
        clock_delay_ns(500000000ULL);
    } else if (acpi.fadt && acpi.pm1a_cnt) {
        cnt = inw(acpi.pm1a_cnt) & ~(PM1_CNT_SLP_TYP | PM1_CNT_SLP_EN);
        cnt |= (uint16_t)(acpi.s5_slp_typ << 10);
        outw(acpi.pm1a_cnt, cnt);
        outw(acpi.pm1a_cnt, cnt | PM1_CNT_SLP_EN);
        clock_delay_ns(500000000ULL);
    }
    /* Still here: no ACPI, or it did not take. Pulse the reset line. */
    outb(0x64, 0xfe);
    clock_delay_ns(100000000ULL);
    /*
     * No keyboard controller either (microvm with acpi=off): a triple
     * fault, which every VMM turns into a reset, or an exit with
     * -no-reboot. The IDT is ordinary user-writable memory here.
     */
    memset(idt, 0, sizeof(idt));
    __asm__ volatile("ud2");
    for (;;) {
        cpu_halt();
    }
}

void tg_fatal(const char *fmt, ...)
{
    char buf[200];
    va_list ap;

    va_start(ap, fmt);
    tg_vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    con_printf("TG ERROR %s\n", buf);
    pm_poweroff();
}
