/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kernel-mode part of the test guest: TSS and IDT set-up, then the
 * trap handlers. This is all the CPL0 C code there is; it runs emulated
 * (about 2 MIPS here), so every path is a handful of instructions and all
 * policy lives in user mode.
 */
#include "tg.h"

/* entry.S */
extern uint8_t tss[];
extern char trap_stubs[];
extern const char idt_ptr[];

#define TRAP_STUB_SIZE  16
#define GATE_INTR       0x8e    /* present, DPL 0, 64-bit interrupt gate */

#define LAPIC_EOI       0xb0
#define IOAPIC_REGSEL   0x00
#define IOAPIC_WIN      0x10
#define IOAPIC_MASKED   (1u << 16)

volatile uint32_t sci_ioapic_redir;
volatile uint32_t sci_ioapic_pin;
volatile uint64_t sci_count;
volatile uint64_t irq_lapic_base;
volatile uint64_t irq_ioapic_base;

static void idt_set_gate(unsigned int vec, uint64_t handler, uint8_t type)
{
    uint64_t *g = (uint64_t *)(idt + vec * 16);

    g[0] = (handler & 0xffff) | ((uint64_t)SEL_KCODE << 16) |
           ((uint64_t)type << 40) | (((handler >> 16) & 0xffff) << 48);
    g[1] = handler >> 32;
}

/*
 * CPUID as the VMM configured it. On this platform CPUID at CPL3 is not
 * intercepted and reports the host's CPU, so the leaves user mode needs
 * are read here, in (emulated) kernel mode. Initialised, so in .data, which
 * user mode does not clear.
 */
static CpuidLeaf cpuid_snapshot[] = {
    { .leaf = 0x00000001 },
    { .leaf = 0x40000000 },             /* hypervisor signature */
    { .leaf = 0x40000001 },             /* KVM features */
};

bool guest_cpuid(uint32_t leaf, uint32_t *a, uint32_t *b, uint32_t *c,
                 uint32_t *d)
{
    size_t i;

    for (i = 0; i < ARRAY_SIZE(cpuid_snapshot); i++) {
        if (cpuid_snapshot[i].leaf == leaf) {
            *a = cpuid_snapshot[i].eax;
            *b = cpuid_snapshot[i].ebx;
            *c = cpuid_snapshot[i].ecx;
            *d = cpuid_snapshot[i].edx;
            return true;
        }
    }
    *a = *b = *c = *d = 0;
    return false;
}

void kernel_setup(uint64_t kind, uint64_t info)
{
    uint64_t base = (uint64_t)(uintptr_t)tss;
    uint64_t stubs = (uint64_t)(uintptr_t)trap_stubs;
    unsigned int v;

    /* TSS: RSP0 for traps from user mode, and the I/O bitmap (entry.S). */
    *(uint64_t *)(tss + 4) = (uint64_t)(uintptr_t)kstack_top;
    *(uint16_t *)(tss + 102) = TSS_IOMAP;
    gdt_set_tss(0, base);
    __asm__ volatile("ltr %w0" : : "r"(SEL_TSS));

    for (v = 0; v < 256; v++) {
        idt_set_gate(v, stubs + v * TRAP_STUB_SIZE, GATE_INTR);
    }
    __asm__ volatile("lidt (%0)" : : "r"(idt_ptr) : "memory");

    for (v = 0; v < ARRAY_SIZE(cpuid_snapshot); v++) {
        CpuidLeaf *l = &cpuid_snapshot[v];

        cpuid(l->leaf, &l->eax, &l->ebx, &l->ecx, &l->edx);
    }

    enter_user(kind, info, (uint64_t)(uintptr_t)user_main,
               (uint64_t)(uintptr_t)ustack_top);
}

/*
 * User mode asks for what it cannot do by simply doing it: hlt, rdmsr and
 * wrmsr at CPL3 raise #GP(0), and this handler performs the instruction
 * for it and steps over it. (This platform gives neither int $n nor
 * syscall a way into CPL0: the first raises #UD, the second stays at
 * CPL3; exceptions are delivered properly.) Returns false for any other
 * #GP, which is then fatal.
 */
static bool emulate_privileged(TrapFrame *f)
{
    const uint8_t *ip = (const uint8_t *)(uintptr_t)f->rip;
    uint32_t lo, hi;

    if ((f->cs & 3) != 3 || f->error) {
        return false;
    }
    if (ip[0] == 0xf4) {                        /* hlt */
        /* sti's one-instruction shadow closes the check-then-sleep race:
         * an interrupt already pending is taken after hlt, waking it. */
        __asm__ volatile("sti; hlt; cli" ::: "memory");
        f->rip += 1;
        return true;
    }
    if (ip[0] == 0x0f && ip[1] == 0x32) {       /* rdmsr */
        __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"((uint32_t)f->rcx));
        f->rax = lo;
        f->rdx = hi;
        f->rip += 2;
        return true;
    }
    if (ip[0] == 0x0f && ip[1] == 0x30) {       /* wrmsr */
        __asm__ volatile("wrmsr"
                         : : "c"((uint32_t)f->rcx), "a"((uint32_t)f->rax),
                             "d"((uint32_t)f->rdx));
        f->rip += 2;
        return true;
    }
    return false;
}

static void lapic_eoi(void)
{
    if (irq_lapic_base) {
        mmio_write32(irq_lapic_base + LAPIC_EOI, 0);
    }
}

static void trap_fatal(TrapFrame *f)
{
    uint64_t cr2;

    __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    con_printf("TG ERROR exception %lu error=%#lx rip=%#lx cs=%#lx cr2=%#lx\n",
               f->vector, f->error, f->rip, f->cs, cr2);
    pm_poweroff();
}

void trap_dispatch(TrapFrame *f)
{
    switch (f->vector) {
    case VEC_SCI:
        /* The SCI is level triggered: mask it until user mode has read and
         * cleared the PM1 status (it unmasks then), or it would fire again
         * right after the EOI. */
        sci_count++;
        if (irq_ioapic_base) {
            mmio_write32(irq_ioapic_base + IOAPIC_REGSEL,
                         0x10 + 2 * sci_ioapic_pin);
            mmio_write32(irq_ioapic_base + IOAPIC_WIN,
                         sci_ioapic_redir | IOAPIC_MASKED);
        }
        lapic_eoi();
        return;
    case VEC_SPURIOUS:
        return;                 /* spurious interrupts take no EOI */
    case 13:                    /* #GP */
        if (!emulate_privileged(f)) {
            trap_fatal(f);
        }
        return;
    default:
        if (f->vector < 32) {
            trap_fatal(f);
        }
        lapic_eoi();            /* a stray device interrupt: drop it */
        return;
    }
}
