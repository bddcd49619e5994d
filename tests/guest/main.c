/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The user-mode half of the test guest: entered from kernel_setup() at
 * CPL3 with IOPL=3 and interrupts off. Reads the boot data and ACPI,
 * starts the other CPUs (they wait for work), prints READY, runs the mode,
 * powers off.
 */
#include "tg.h"

/* Sorted by name; the I/O modes slot in here. */
static const TgMode tg_modes[] = {
    { "balloon", mode_balloon },
    { "blk", mode_blk },
    { "dirty", mode_dirty },
    { "hello", mode_hello },
    { "idle", mode_idle },
    { "mmio", mode_mmio },
    { "net", mode_net },
    { "pio", mode_pio },
};

/*
 * Free RAM for the workloads: the largest e820 RAM range below the mapped
 * limit, minus the image. Allocations are bumped from its start; nothing
 * is ever freed.
 */
static uint64_t ram_next, ram_end;

static void ram_init(void)
{
    uint64_t lo = ALIGN_UP((uint64_t)(uintptr_t)__image_end, 2 * MIB);
    unsigned int i;

    for (i = 0; i < boot_info.nr_e820; i++) {
        const E820Entry *e = &boot_info.e820[i];
        uint64_t start = ALIGN_UP(e->addr, PAGE_SIZE);
        uint64_t end = (e->addr + e->size) & ~(PAGE_SIZE - 1);

        if (e->type != E820_RAM) {
            continue;
        }
        if (start < lo) {
            start = lo;
        }
        if (end > TG_MAPPED_LIMIT) {
            end = TG_MAPPED_LIMIT;
        }
        if (end > start && end - start > ram_end - ram_next) {
            ram_next = start;
            ram_end = end;
        }
    }
}

uint64_t ram_free_bytes(void)
{
    return ram_end - ram_next;
}

bool ram_alloc(uint64_t bytes, uint64_t *addr)
{
    bytes = ALIGN_UP(bytes, PAGE_SIZE);
    if (bytes > ram_free_bytes()) {
        return false;
    }
    *addr = ram_next;
    ram_next += bytes;
    return true;
}

/* tg.debug=1: what the guest learnt from the boot data and ACPI. */
static void print_info(void)
{
    unsigned int i;

    con_printf("TG INFO cmdline=\"%s\" rsdp=%#lx clock=%s\n",
               boot_info.cmdline, boot_info.rsdp, clock_source());
    for (i = 0; i < boot_info.nr_e820; i++) {
        con_printf("TG INFO e820 %#014lx-%#014lx type %u\n",
                   boot_info.e820[i].addr,
                   boot_info.e820[i].addr + boot_info.e820[i].size - 1,
                   boot_info.e820[i].type);
    }
    con_printf("TG INFO acpi=%d fadt=%d hw_reduced=%d pm1a_evt=%#x "
               "pm1a_cnt=%#x pm_tmr=%#x smi_cmd=%#x sci=%u gsi=%u level=%d "
               "low=%d s5=%u/%d ioapic=%#lx lapic=%#lx sleep_ctl=%u:%#lx\n",
               acpi.found, acpi.fadt, acpi.hw_reduced, acpi.pm1a_evt,
               acpi.pm1a_cnt, acpi.pm_tmr, acpi.smi_cmd, acpi.sci_irq,
               acpi.sci_gsi, acpi.sci_level, acpi.sci_low, acpi.s5_slp_typ,
               acpi.s5_found, acpi.ioapic, acpi.lapic, acpi.sleep_ctl.space,
               acpi.sleep_ctl.addr);
    if (acpi.ecam) {
        con_printf("TG INFO ecam=%#lx buses %u-%u\n", acpi.ecam,
                   acpi.ecam_bus_start, acpi.ecam_bus_end);
    }
    con_printf("TG INFO free ram %lu MiB, tsc %lu Hz, timer %s\n",
               ram_free_bytes() / MIB, clock_ns_to_tsc(NS_PER_SEC),
               pm_tsc_deadline() ? "tsc-deadline" : "one-shot");
}

static const TgMode *mode_find(const char *name)
{
    size_t i;

    for (i = 0; i < ARRAY_SIZE(tg_modes); i++) {
        if (!memcmp(tg_modes[i].name, name, strlen(tg_modes[i].name) + 1)) {
            return &tg_modes[i];
        }
    }
    return NULL;
}

void user_main(uint64_t kind, uint64_t info)
{
    const TgMode *mode;
    unsigned int cpus;

    memset(__bss_start, 0, (size_t)(__bss_end - __bss_start));
    con_init();
    boot_parse((int)kind, info);
    cmdline_parse(boot_info.cmdline);
    acpi_parse(boot_info.rsdp);
    clock_init();
    pm_init();
    ram_init();
    smp_init();

    /* mem= is the e820 RAM total rounded up to a whole MiB. Firmware keeps
     * a little of -m for itself (the EBDA, SeaBIOS 128 KiB for its tables)
     * and the 384 KiB below 1 MiB are a hole, so -m 128 gives 127.5 MiB
     * under QEMU pc and 127.6 MiB under microvm or kestrel: all print 128. */
    if (tg_args.debug) {
        print_info();
    }
    /* Without a MADT, the MP table; without either, the CPU we run on. */
    cpus = acpi.cpus ? acpi.cpus : mptable_cpus(NULL, 0);
    con_printf("TG READY mem=%lu cpus=%u boot=%s mode=%s\n",
               (boot_info.ram_bytes + MIB - 1) / MIB, cpus ? cpus : 1,
               boot_name(boot_info.kind), tg_args.mode);
    mode = mode_find(tg_args.mode);
    if (!mode) {
        tg_fatal("unknown mode %s", tg_args.mode);
    }
    mode->run();
    con_printf("TG DONE\n");
    pm_poweroff();
}
