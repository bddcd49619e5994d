/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The application processors. The boot CPU, in user mode, finds them in
 * the MADT (else the MP table), prepares for each a TSS, a GDT slot and
 * two stacks, copies the real-mode trampoline (entry.S) below 1 MiB and
 * sends INIT-SIPI-SIPI through its LAPIC. One AP at a time: it reads
 * ap_boot_* on its short emulated CPL0 path, drops to user mode in
 * ap_main() and says so; then the next one is started.
 *
 * An AP then waits in user mode for work: its mailbox (a work function
 * and a sequence number) and a wake-up IPI. In between it halts (the
 * kernel's hlt path, like the boot CPU's idle mode), so idle APs cost
 * nothing.
 */
#include "tg.h"

#define LAPIC_ID            0x20
#define LAPIC_TPR           0x80
#define LAPIC_SVR           0xf0
#define LAPIC_ICR_LO        0x300
#define LAPIC_ICR_HI        0x310
#define LAPIC_SVR_ENABLE    (1u << 8)
#define ICR_BUSY            (1u << 12)
#define ICR_ASSERT          (1u << 14)
#define ICR_FIXED           (0u << 8)
#define ICR_INIT            (5u << 8)
#define ICR_STARTUP         (6u << 8)

/* Below 1 MiB, RAM in every e820 map we meet, and free once boot.c has
 * copied the boot data: kestrel's boot stack page (layout.h), below its
 * page tables; QEMU's firmware leaves nothing there either. */
#define TRAMPOLINE_PAGE     0x8000ULL
#define TRAMPOLINE_LIMIT    0x9f000ULL

/* Per AP, from the workload pool: TSS (with its 8 KiB I/O bitmap), kernel
 * stack (trap frames only), user stack. */
#define AP_TSS_BYTES        ALIGN_UP(TSS_SIZE, PAGE_SIZE)
#define AP_KSTACK           (8 * KIB)
#define AP_USTACK           (32 * KIB)
#define AP_BYTES            (AP_TSS_BYTES + AP_KSTACK + AP_USTACK)

#define INIT_DELAY_NS       10000000ULL     /* MP spec: 10 ms after INIT */
#define SIPI_DELAY_NS       200000ULL       /* 200 us between SIPIs */
#define START_TIMEOUT_NS    (2 * NS_PER_SEC)

typedef struct {
    uint8_t apic_id;
    volatile uint32_t up;               /* reached user mode */
    volatile SmpWork work;
    volatile uint32_t seq;              /* bumped by the boot CPU per call */
    volatile uint32_t done;             /* seq of the last call finished */
} __attribute__((aligned(64))) Percpu;

static Percpu percpu[TG_MAX_CPUS];
static unsigned int nr_cpus = 1;

volatile uint64_t ap_boot_kstack, ap_boot_ustack;
volatile uint32_t ap_boot_cpu;
volatile uint16_t ap_boot_tss;

unsigned int smp_cpus(void)
{
    return nr_cpus;
}

static void icr_send(uint8_t apic_id, uint32_t lo)
{
    while (mmio_read32(acpi.lapic + LAPIC_ICR_LO) & ICR_BUSY) {
        cpu_relax();
    }
    mmio_write32(acpi.lapic + LAPIC_ICR_HI, (uint32_t)apic_id << 24);
    mmio_write32(acpi.lapic + LAPIC_ICR_LO, lo);
}

static bool e820_ram(uint64_t addr, uint64_t len)
{
    unsigned int i;

    for (i = 0; i < boot_info.nr_e820; i++) {
        const E820Entry *e = &boot_info.e820[i];

        if (e->type == E820_RAM && addr >= e->addr &&
            addr + len <= e->addr + e->size) {
            return true;
        }
    }
    return false;
}

/* The trampoline's page: the usual one, else any RAM page below the EBDA. */
static uint64_t trampoline_page(void)
{
    uint64_t a;

    if (e820_ram(TRAMPOLINE_PAGE, PAGE_SIZE)) {
        return TRAMPOLINE_PAGE;
    }
    for (a = TRAMPOLINE_LIMIT - PAGE_SIZE; a >= 0x1000; a -= PAGE_SIZE) {
        if (e820_ram(a, PAGE_SIZE)) {
            return a;
        }
    }
    return 0;
}

static bool wait_up(unsigned int cpu, uint64_t ns)
{
    uint64_t end = clock_ns() + ns;

    while (!percpu[cpu].up) {
        if (clock_ns() >= end) {
            return false;
        }
        cpu_relax();
    }
    return true;
}

/* Start AP @cpu, whose TSS and stacks are at @mem; true once it is up. */
static bool ap_start(unsigned int cpu, uint64_t page, uint64_t mem)
{
    uint8_t *tss = phys(mem);
    uint64_t kstack_top = mem + AP_TSS_BYTES + AP_KSTACK;
    uint64_t ustack_top = kstack_top + AP_USTACK;
    uint8_t apic_id = percpu[cpu].apic_id;

    /* What kernel_setup() does for the boot CPU, here in user mode, where
     * it runs natively: TSS with RSP0 and an all-zero I/O bitmap. */
    memset(tss, 0, TSS_SIZE);
    memcpy(tss + 4, &kstack_top, 8);
    tss[102] = TSS_IOMAP & 0xff;
    tss[103] = TSS_IOMAP >> 8;
    tss[TSS_LIMIT] = 0xff;
    gdt_set_tss(cpu, mem);

    ap_boot_kstack = kstack_top;
    ap_boot_ustack = ustack_top - 8;    /* as if called: rsp + 8 aligned */
    ap_boot_cpu = cpu;
    ap_boot_tss = (uint16_t)(SEL_TSS + 16 * cpu);
    __asm__ volatile("mfence" ::: "memory");

    icr_send(apic_id, ICR_INIT | ICR_ASSERT);
    clock_delay_ns(INIT_DELAY_NS);
    icr_send(apic_id, ICR_STARTUP | ICR_ASSERT | (uint32_t)(page >> 12));
    if (wait_up(cpu, SIPI_DELAY_NS)) {
        return true;
    }
    /* A second SIPI, as the MP spec asks; ignored if the first took. */
    icr_send(apic_id, ICR_STARTUP | ICR_ASSERT | (uint32_t)(page >> 12));
    return wait_up(cpu, START_TIMEOUT_NS);
}

unsigned int smp_init(void)
{
    const uint8_t *ids = acpi.apic_ids;
    uint8_t mp_ids[TG_MAX_CPUS];
    unsigned int n = acpi.nr_apic_ids, i, aps = 0;
    uint8_t bsp = (uint8_t)(mmio_read32(acpi.lapic + LAPIC_ID) >> 24);
    uint64_t page, mem, t0;

    if (!acpi.cpus) {
        n = mptable_cpus(mp_ids, TG_MAX_CPUS);
        n = n < TG_MAX_CPUS ? n : TG_MAX_CPUS;
        ids = mp_ids;
    }
    percpu[0].apic_id = bsp;
    percpu[0].up = 1;
    for (i = 0; i < n; i++) {
        aps += ids[i] != bsp;
    }
    if (!aps) {
        return nr_cpus;
    }
    page = trampoline_page();
    if (!page) {
        con_printf("TG ERROR smp: no RAM page below 1 MiB for the "
                   "trampoline\n");
        return nr_cpus;
    }
    if (!ram_alloc(aps * AP_BYTES, &mem)) {
        con_printf("TG ERROR smp: no memory for %u APs\n", aps);
        return nr_cpus;
    }
    memcpy(phys(page), ap_trampoline,
           (size_t)(ap_trampoline_end - ap_trampoline));

    for (i = 0; i < n; i++) {
        unsigned int cpu = nr_cpus;

        if (ids[i] == bsp) {
            continue;
        }
        percpu[cpu].apic_id = ids[i];
        t0 = clock_ns();
        if (!ap_start(cpu, page, mem + (cpu - 1) * AP_BYTES)) {
            /* It may still come up later, on these stacks: start no
             * other AP after it. */
            con_printf("TG ERROR smp: cpu %u (APIC id %u) did not start\n",
                       cpu, ids[i]);
            break;
        }
        if (tg_args.debug) {
            con_printf("TG INFO cpu %u apic %u up in %lu us\n", cpu, ids[i],
                       (clock_ns() - t0) / 1000);
        }
        nr_cpus++;
    }
    return nr_cpus;
}

void smp_call(unsigned int cpu, SmpWork fn)
{
    Percpu *p = &percpu[cpu];

    p->work = fn;
    __asm__ volatile("" ::: "memory");
    p->seq = p->seq + 1;
    __asm__ volatile("mfence" ::: "memory");
    icr_send(p->apic_id, ICR_FIXED | ICR_ASSERT | VEC_WAKE);
}

bool smp_wait(unsigned int cpu, uint64_t ns)
{
    Percpu *p = &percpu[cpu];
    uint64_t end = clock_ns() + ns;

    while (p->done != p->seq) {
        if (clock_ns() >= end) {
            return false;
        }
        cpu_relax();
    }
    return true;
}

/*
 * An AP in user mode, from entry.S. Interrupts reach it only while it
 * halts (IF=0 in user mode, as on the boot CPU), so a wake-up IPI sent
 * between the mailbox check and the hlt stays pending and ends the hlt.
 */
void ap_main(uint64_t cpu, uint64_t unused)
{
    Percpu *p = &percpu[cpu];

    (void)unused;
    mmio_write32(acpi.lapic + LAPIC_SVR, LAPIC_SVR_ENABLE | VEC_SPURIOUS);
    mmio_write32(acpi.lapic + LAPIC_TPR, 0);
    p->up = 1;
    for (;;) {
        uint32_t seq = p->seq;

        if (seq != p->done) {
            __asm__ volatile("" ::: "memory");
            p->work((unsigned int)cpu);
            __asm__ volatile("" ::: "memory");
            p->done = seq;
        } else {
            cpu_halt();
        }
    }
}
