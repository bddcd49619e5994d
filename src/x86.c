/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "error.h"
#include "layout.h"
#include "x86.h"

#define CPUID_1_ECX_HYPERVISOR  (1u << 31)
#define CPUID_1_EDX_HTT         (1u << 28)

#define X86_CR0_PE  (1u << 0)
#define X86_CR0_MP  (1u << 1)
#define X86_CR0_ET  (1u << 4)
#define X86_CR0_NE  (1u << 5)
#define X86_CR0_WP  (1u << 16)
#define X86_CR0_AM  (1u << 18)
#define X86_CR0_PG  (1u << 31)
#define X86_CR4_PAE (1u << 5)
#define X86_EFER_LME (1u << 8)
#define X86_EFER_LMA (1u << 10)

#define MSR_IA32_TSC            0x10
#define MSR_IA32_SYSENTER_CS    0x174
#define MSR_IA32_SYSENTER_ESP   0x175
#define MSR_IA32_SYSENTER_EIP   0x176
#define MSR_IA32_MISC_ENABLE    0x1a0
#define MSR_MTRR_DEF_TYPE       0x2ff
#define MSR_STAR                0xc0000081
#define MSR_LSTAR               0xc0000082
#define MSR_CSTAR               0xc0000083
#define MSR_SYSCALL_MASK        0xc0000084
#define MSR_KERNEL_GS_BASE      0xc0000102
#define MSR_K7_HWCR             0xc0010015
#define HWCR_TSC_FREQ_SEL       (1ULL << 24)

static unsigned int bits_for(unsigned int n)
{
    unsigned int b = 0;

    while ((1u << b) < n) {
        b++;
    }
    return b;
}

uint32_t x86_apic_id(const X86Topology *t, unsigned int index)
{
    unsigned int thread = index % t->threads;
    unsigned int core = (index / t->threads) % t->cores;
    unsigned int die = (index / (t->threads * t->cores)) % t->dies;
    unsigned int socket = index / (t->threads * t->cores * t->dies);
    unsigned int tb = bits_for(t->threads), cb = bits_for(t->cores);
    unsigned int db = bits_for(t->dies);

    return thread | (core << tb) | (die << (tb + cb)) |
           (socket << (tb + cb + db));
}

static struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c,
                                           uint32_t fn, uint32_t idx)
{
    for (uint32_t i = 0; i < c->nent; i++) {
        if (c->entries[i].function == fn &&
            (!(c->entries[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) ||
             c->entries[i].index == idx)) {
            return &c->entries[i];
        }
    }
    return NULL;
}

static void cpuid_remove(struct kvm_cpuid2 *c, uint32_t fn)
{
    uint32_t j = 0;

    for (uint32_t i = 0; i < c->nent; i++) {
        if (c->entries[i].function != fn) {
            c->entries[j++] = c->entries[i];
        }
    }
    c->nent = j;
}

struct kvm_cpuid2 *x86_cpuid_for_vcpu(const struct kvm_cpuid2 *supported,
                                      const X86Topology *t,
                                      unsigned int index)
{
    size_t sz = sizeof(struct kvm_cpuid2) +
                (supported->nent + 8) * sizeof(struct kvm_cpuid_entry2);
    struct kvm_cpuid2 *c = g_malloc0(sz);
    struct kvm_cpuid_entry2 *e;
    uint32_t apic = x86_apic_id(t, index);
    unsigned int per_pkg = t->threads * t->cores * t->dies;
    unsigned int tb = bits_for(t->threads);
    unsigned int cb = bits_for(t->cores * t->dies);
    uint32_t max_basic = 0;

    memcpy(c, supported, sizeof(struct kvm_cpuid2) +
           supported->nent * sizeof(struct kvm_cpuid_entry2));
    if ((e = cpuid_find(c, 0, 0))) {
        max_basic = e->eax;
    }
    if ((e = cpuid_find(c, 1, 0))) {
        e->ebx = (e->ebx & 0x0000ffffu) | (apic << 24) |
                 (MIN(per_pkg, 255u) << 16);
        e->ecx |= CPUID_1_ECX_HYPERVISOR;
        if (per_pkg > 1) {
            e->edx |= CPUID_1_EDX_HTT;
        } else {
            e->edx &= ~CPUID_1_EDX_HTT;
        }
    }
    /* Deterministic cache parameters (Intel): cores per package. */
    for (uint32_t i = 0; i < c->nent; i++) {
        e = &c->entries[i];
        if (e->function == 4 && (e->eax & 0x1f)) {
            e->eax = (e->eax & 0x3ffu) |
                     ((t->threads - 1) << 14) |
                     ((t->cores * t->dies - 1) << 26);
        }
    }
    /* Extended topology: rebuild leaf 0xb for our topology; drop 0x1f,
     * which would describe the host's. */
    cpuid_remove(c, 0x1f);
    if (max_basic >= 0xb) {
        cpuid_remove(c, 0xb);
        for (uint32_t sub = 0; sub < 3; sub++) {
            e = &c->entries[c->nent++];
            memset(e, 0, sizeof(*e));
            e->function = 0xb;
            e->index = sub;
            e->flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
            e->edx = apic;
            if (sub == 0) {
                e->eax = tb;
                e->ebx = t->threads;
                e->ecx = sub | (1u << 8);       /* SMT level */
            } else if (sub == 1) {
                e->eax = tb + cb;
                e->ebx = t->threads * t->cores * t->dies;
                e->ecx = sub | (2u << 8);       /* core level */
            } else {
                e->ecx = sub;                   /* invalid: end of list */
            }
        }
    }
    /* AMD: logical processors per package and the APIC id size. */
    if ((e = cpuid_find(c, 0x80000008, 0))) {
        e->ecx = (e->ecx & ~0xf0ffu) | (MIN(per_pkg, 256u) - 1) |
                 ((tb + cb) << 12);
    }
    if ((e = cpuid_find(c, 0x8000001e, 0))) {
        e->eax = apic;
        e->ebx = ((t->threads - 1) << 8) | ((apic >> tb) & 0xff);
        e->ecx = 0;
    }
    return c;
}

/*
 * AMD: with an invariant TSC in CPUID, Linux expects HWCR.TscFreqSel (the
 * TSC counts at P0 frequency), as firmware sets it, and otherwise warns of
 * a firmware bug. KVM accepts the bit on recent kernels; an older KVM that
 * refuses it only costs the warning, so a refusal is not an error.
 */
static void x86_init_hwcr(KvmVcpu *cpu)
{
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e;
    } m = { .hdr.nmsrs = 1, .e.index = MSR_K7_HWCR };

    if (kvm_vcpu_get_msrs(cpu, &m.hdr) != 1) {
        return;
    }
    m.e.data |= HWCR_TSC_FREQ_SEL;
    kvm_vcpu_set_msrs(cpu, &m.hdr);
}

bool x86_init_msrs(Kvm *kvm, KvmVcpu *cpu, GError **errp)
{
    static const struct {
        uint32_t index;
        uint64_t value;
    } want[] = {
        { MSR_IA32_SYSENTER_CS, 0 },
        { MSR_IA32_SYSENTER_ESP, 0 },
        { MSR_IA32_SYSENTER_EIP, 0 },
        { MSR_STAR, 0 },
        { MSR_CSTAR, 0 },
        { MSR_KERNEL_GS_BASE, 0 },
        { MSR_SYSCALL_MASK, 0 },
        { MSR_LSTAR, 0 },
        { MSR_IA32_TSC, 0 },
        { MSR_IA32_MISC_ENABLE, 1 },            /* fast strings */
        { MSR_MTRR_DEF_TYPE, (1u << 11) | 6 },  /* MTRRs on, default WB */
    };
    g_autofree struct kvm_msrs *m = NULL;
    uint32_t n = 0;
    int rc;

    m = g_malloc0(sizeof(*m) + G_N_ELEMENTS(want) * sizeof(m->entries[0]));
    for (size_t i = 0; i < G_N_ELEMENTS(want); i++) {
        bool listed = false;

        for (uint32_t j = 0; j < kvm->msrs->nmsrs; j++) {
            if (kvm->msrs->indices[j] == want[i].index) {
                listed = true;
                break;
            }
        }
        if (listed) {
            m->entries[n].index = want[i].index;
            m->entries[n].data = want[i].value;
            n++;
        }
    }
    m->nmsrs = n;
    rc = kvm_vcpu_set_msrs(cpu, m);
    if (rc < 0 || (uint32_t)rc != n) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                    "KVM refused to set MSR 0x%x on vCPU %d",
                    rc >= 0 ? m->entries[rc].index : 0, cpu->id);
        return false;
    }
    x86_init_hwcr(cpu);
    return true;
}

/* LVT entries in the LAPIC register page. */
#define APIC_LVT0       0x350
#define APIC_LVT1       0x360
#define APIC_MODE_EXTINT 0x7
#define APIC_MODE_NMI   0x4

static void lapic_set_mode(struct kvm_lapic_state *l, int reg, uint32_t mode)
{
    uint32_t v;

    memcpy(&v, &l->regs[reg], 4);
    v = (v & ~0x700u) | (mode << 8);
    memcpy(&l->regs[reg], &v, 4);
}

bool x86_init_fpu_lapic(KvmVcpu *cpu, bool bsp, GError **errp)
{
    struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
    struct kvm_lapic_state lapic;

    if (!kvm_vcpu_set_fpu(cpu, &fpu)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                    "failed to reset the FPU of vCPU %d: %s", cpu->id,
                    g_strerror(errno));
        return false;
    }
    /* Virtual-wire mode, as firmware leaves it: PIC interrupts come in
     * through LINT0, NMIs through LINT1. */
    if (!kvm_vcpu_get_lapic(cpu, &lapic)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                    "failed to read the LAPIC of vCPU %d: %s", cpu->id,
                    g_strerror(errno));
        return false;
    }
    (void)bsp;
    lapic_set_mode(&lapic, APIC_LVT0, APIC_MODE_EXTINT);
    lapic_set_mode(&lapic, APIC_LVT1, APIC_MODE_NMI);
    if (!kvm_vcpu_set_lapic(cpu, &lapic)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                    "failed to set the LAPIC of vCPU %d: %s", cpu->id,
                    g_strerror(errno));
        return false;
    }
    return true;
}

/* GDT: null, 32-bit code (0x08), 64-bit code (0x10, Linux's __BOOT_CS),
 * data (0x18, __BOOT_DS), a TSS placeholder (0x20). */
static const uint64_t boot_gdt[] = {
    0,
    0x00cf9b000000ffffULL,
    0x00af9b000000ffffULL,
    0x00cf93000000ffffULL,
    0x00008b0000000067ULL,
};

static struct kvm_segment gdt_to_segment(uint64_t d, uint16_t sel)
{
    struct kvm_segment s = {
        .base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24),
        .limit = (uint32_t)((d & 0xffff) | (((d >> 48) & 0xf) << 16)),
        .selector = sel,
        .type = (d >> 40) & 0xf,
        .present = (d >> 47) & 1,
        .dpl = (d >> 45) & 3,
        .db = (d >> 54) & 1,
        .s = (d >> 44) & 1,
        .l = (d >> 53) & 1,
        .g = (d >> 55) & 1,
    };

    if (s.g) {
        s.limit = (s.limit << 12) | 0xfff;
    }
    s.unusable = !s.present;
    return s;
}

static bool write_page_tables(MemMap *map)
{
    uint64_t pml4[512] = { 0 }, pdpt[512] = { 0 }, pd[512];

    pml4[0] = LAYOUT_PDPT | 0x03;               /* present, writable */
    for (uint64_t g = 0; g < 4; g++) {
        pdpt[g] = (LAYOUT_PD + g * 0x1000) | 0x03;
        for (uint64_t i = 0; i < 512; i++) {
            pd[i] = ((g << 30) | (i << 21)) | 0x83; /* 2 MiB page */
        }
        if (!memmap_write(map, LAYOUT_PD + g * 0x1000, pd, sizeof(pd))) {
            return false;
        }
    }
    return memmap_write(map, LAYOUT_PML4, pml4, sizeof(pml4)) &&
           memmap_write(map, LAYOUT_PDPT, pdpt, sizeof(pdpt));
}

bool x86_setup_boot(MemMap *map, KvmVcpu *cpu, const BootEntry *entry,
                    GError **errp)
{
    struct kvm_sregs s;
    struct kvm_regs r = { .rflags = 2 };
    struct kvm_segment code, data;

    if (!memmap_write(map, LAYOUT_GDT, boot_gdt, sizeof(boot_gdt)) ||
        !write_page_tables(map)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "guest memory is too small for the boot page tables");
        return false;
    }
    if (!kvm_vcpu_get_sregs(cpu, &s)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                    "KVM_GET_SREGS failed: %s", g_strerror(errno));
        return false;
    }
    s.gdt.base = LAYOUT_GDT;
    s.gdt.limit = sizeof(boot_gdt) - 1;
    s.idt.base = 0;
    s.idt.limit = 0;
    s.tr = gdt_to_segment(boot_gdt[4], 0x20);
    s.tr.type = 11;                             /* busy 32-bit TSS */
    s.tr.present = 1;
    s.tr.unusable = 0;
    s.ldt = (struct kvm_segment) { .type = 2, .present = 1, .limit = 0xffff,
                                   .unusable = 1 };
    data = gdt_to_segment(boot_gdt[3], 0x18);

    if (entry->mode == BOOT_LINUX64) {
        code = gdt_to_segment(boot_gdt[2], 0x10);
        s.cr3 = LAYOUT_PML4;
        s.cr4 |= X86_CR4_PAE;
        s.cr0 |= X86_CR0_PE | X86_CR0_PG | X86_CR0_ET | X86_CR0_NE;
        s.efer |= X86_EFER_LME | X86_EFER_LMA;
        r.rip = entry->entry;
        r.rsi = entry->boot_info;
        r.rsp = LAYOUT_BOOT_STACK;
    } else {
        code = gdt_to_segment(boot_gdt[1], 0x08);
        s.cr0 = (s.cr0 & ~X86_CR0_PG) | X86_CR0_PE | X86_CR0_ET;
        s.cr4 = 0;
        s.efer = 0;
        r.rip = entry->entry;
        r.rbx = entry->boot_info;
    }
    s.cs = code;
    s.ds = s.es = s.fs = s.gs = s.ss = data;

    if (!kvm_vcpu_set_sregs(cpu, &s) || !kvm_vcpu_set_regs(cpu, &r)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                    "failed to load the boot registers: %s",
                    g_strerror(errno));
        return false;
    }
    return true;
}

/* --- vCPU and VM state ---------------------------------------------------- */

#define MSR_IA32_TSC_DEADLINE   0x6e0

static bool x86_state_error(GError **errp, KvmVcpu *cpu, const char *what)
{
    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                "failed to %s of vCPU %d: %s", what, cpu->id,
                g_strerror(errno));
    return false;
}

/*
 * KVM_GET_MSRS stops at the first MSR it refuses and returns how many it
 * read. KVM_GET_MSR_INDEX_LIST names MSRs a given CPUID may not have
 * (PMU, MCE banks...), so skip the refused one and go on from the next.
 */
static bool x86_get_msrs(Kvm *kvm, KvmVcpu *cpu, X86VcpuState *st,
                         GError **errp)
{
    uint32_t total = kvm->msrs->nmsrs, start = 0;
    g_autofree struct kvm_msrs *m = NULL;

    m = g_malloc0(sizeof(*m) + total * sizeof(m->entries[0]));
    st->nr_msrs = 0;
    while (start < total) {
        int rc;

        m->nmsrs = total - start;
        for (uint32_t i = 0; i < m->nmsrs; i++) {
            m->entries[i] = (struct kvm_msr_entry) {
                .index = kvm->msrs->indices[start + i],
            };
        }
        rc = kvm_vcpu_get_msrs(cpu, m);
        if (rc < 0) {
            return x86_state_error(errp, cpu, "read the MSRs");
        }
        if (st->nr_msrs + (uint32_t)rc > X86_MAX_MSRS) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                        "vCPU %d has more than %d MSRs", cpu->id,
                        X86_MAX_MSRS);
            return false;
        }
        for (int i = 0; i < rc; i++) {
            st->msrs[st->nr_msrs++] = (X86Msr) {
                .index = m->entries[i].index, .data = m->entries[i].data,
            };
        }
        start += (uint32_t)rc + 1;          /* past the refused one */
    }
    return true;
}

bool x86_vcpu_state_get(Kvm *kvm, KvmVcpu *cpu, X86VcpuState *st,
                        GError **errp)
{
    struct kvm_mp_state mp;
    int khz;

    memset(st, 0, sizeof(*st));
    /* QEMU's kvm_arch_get_registers order: KVM_GET_MP_STATE may update
     * CS and RIP (a pending INIT/SIPI), so it comes before the registers;
     * events first of all. */
    if (!kvm_vcpu_get_events(cpu, &st->events)) {
        return x86_state_error(errp, cpu, "read the events");
    }
    if (!kvm_vcpu_get_mp_state(cpu, &mp)) {
        return x86_state_error(errp, cpu, "read the MP state");
    }
    st->mp_state = mp.mp_state;
    if (!kvm_vcpu_get_regs(cpu, &st->regs)) {
        return x86_state_error(errp, cpu, "read the registers");
    }
    if (kvm->has_xsave) {
        if (!kvm_vcpu_get_xsave(cpu, &st->xsave)) {
            return x86_state_error(errp, cpu, "read the XSAVE state");
        }
        st->has_xsave = true;
    } else {
        if (!kvm_vcpu_get_fpu(cpu, &st->fpu)) {
            return x86_state_error(errp, cpu, "read the FPU state");
        }
        st->has_fpu = true;
    }
    if (kvm->has_xcrs) {
        if (!kvm_vcpu_get_xcrs(cpu, &st->xcrs)) {
            return x86_state_error(errp, cpu, "read the XCRs");
        }
        st->has_xcrs = true;
    }
    if (!kvm_vcpu_get_sregs(cpu, &st->sregs)) {
        return x86_state_error(errp, cpu, "read the special registers");
    }
    if (!x86_get_msrs(kvm, cpu, st, errp)) {
        return false;
    }
    if (!kvm_vcpu_get_lapic(cpu, &st->lapic)) {
        return x86_state_error(errp, cpu, "read the LAPIC");
    }
    if (!kvm_vcpu_get_debugregs(cpu, &st->debugregs)) {
        return x86_state_error(errp, cpu, "read the debug registers");
    }
    khz = kvm_vcpu_get_tsc_khz(cpu);
    st->tsc_khz = khz > 0 ? (uint32_t)khz : 0;
    return true;
}

/*
 * Set @n MSRs from @msrs, skipping TSC_DEADLINE unless @deadline (it goes
 * last, see x86_vcpu_state_put). KVM_SET_MSRS stops at the first MSR it
 * refuses; a refusal is only harmless when the vCPU already holds that
 * value (a read-only MSR written back unchanged), so check, then go on.
 */
static bool x86_put_msrs(KvmVcpu *cpu, const X86VcpuState *st,
                         bool deadline, GError **errp)
{
    g_autofree struct kvm_msrs *m = NULL;
    uint32_t n = 0, start = 0;

    m = g_malloc0(sizeof(*m) + st->nr_msrs * sizeof(m->entries[0]));
    for (uint32_t i = 0; i < st->nr_msrs; i++) {
        if ((st->msrs[i].index == MSR_IA32_TSC_DEADLINE) == deadline) {
            m->entries[n++] = (struct kvm_msr_entry) {
                .index = st->msrs[i].index, .data = st->msrs[i].data,
            };
        }
    }
    while (start < n) {
        struct {
            struct kvm_msrs hdr;
            struct kvm_msr_entry e;
        } one = { .hdr.nmsrs = 1 };
        g_autofree struct kvm_msrs *part = NULL;
        int rc;

        part = g_malloc0(sizeof(*part) + (n - start) * sizeof(m->entries[0]));
        part->nmsrs = n - start;
        memcpy(part->entries, &m->entries[start],
               part->nmsrs * sizeof(m->entries[0]));
        rc = kvm_vcpu_set_msrs(cpu, part);
        if (rc < 0) {
            return x86_state_error(errp, cpu, "set the MSRs");
        }
        start += (uint32_t)rc;
        if (start >= n) {
            break;
        }
        one.e.index = m->entries[start].index;
        if (kvm_vcpu_get_msrs(cpu, &one.hdr) != 1 ||
            one.e.data != m->entries[start].data) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                        "KVM refused to set MSR 0x%x to 0x%" PRIx64
                        " on vCPU %d", m->entries[start].index,
                        (uint64_t)m->entries[start].data, cpu->id);
            return false;
        }
        start++;
    }
    return true;
}

bool x86_vcpu_state_put(Kvm *kvm, KvmVcpu *cpu, const X86VcpuState *st,
                        GError **errp)
{
    struct kvm_mp_state mp = { .mp_state = st->mp_state };
    struct kvm_vcpu_events events = st->events;

    (void)kvm;
    /*
     * The order of QEMU's kvm_arch_put_registers, which KVM's checks
     * depend on:
     * - special registers first: EFER, CR0/CR4 and the APIC base decide
     *   how everything after them is checked (x2APIC mode changes how
     *   KVM reads the LAPIC page);
     * - the TSC frequency before the MSRs, so IA32_TSC is scaled right;
     * - the LAPIC before the MSRs and events (a pending interrupt needs
     *   it), the MP state after the events: setting the events rewrites
     *   the LAPIC's pending INIT (smi.latched_init), and the MP state
     *   may say INIT or SIPI received;
     * - TSC_DEADLINE only once the LAPIC timer is in deadline mode and
     *   the TSC is back, or KVM arms the timer wrongly or drops it.
     */
    if (!kvm_vcpu_set_sregs(cpu, &st->sregs)) {
        return x86_state_error(errp, cpu, "set the special registers");
    }
    /* As QEMU: a frequency KVM cannot scale to does not fail the load;
     * without TSC scaling the guest keeps running at the host's rate. */
    if (st->tsc_khz && kvm_vcpu_get_tsc_khz(cpu) != (int)st->tsc_khz) {
        kvm_vcpu_set_tsc_khz(cpu, st->tsc_khz);
    }
    if (!kvm_vcpu_set_regs(cpu, &st->regs)) {
        return x86_state_error(errp, cpu, "set the registers");
    }
    if (st->has_xsave) {
        if (!kvm_vcpu_set_xsave(cpu, &st->xsave)) {
            return x86_state_error(errp, cpu, "set the XSAVE state");
        }
    } else if (st->has_fpu && !kvm_vcpu_set_fpu(cpu, &st->fpu)) {
        return x86_state_error(errp, cpu, "set the FPU state");
    }
    if (st->has_xcrs && !kvm_vcpu_set_xcrs(cpu, &st->xcrs)) {
        return x86_state_error(errp, cpu, "set the XCRs");
    }
    if (!kvm_vcpu_set_lapic(cpu, &st->lapic)) {
        return x86_state_error(errp, cpu, "set the LAPIC");
    }
    if (!x86_put_msrs(cpu, st, false, errp)) {
        return false;
    }
    /* What GET left out of the flags: the NMI and SIPI fields are valid
     * too, and are to be loaded. */
    events.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING |
                    KVM_VCPUEVENT_VALID_SIPI_VECTOR;
    if (!kvm_vcpu_set_events(cpu, &events)) {
        return x86_state_error(errp, cpu, "set the events");
    }
    if (!kvm_vcpu_set_mp_state(cpu, &mp)) {
        return x86_state_error(errp, cpu, "set the MP state");
    }
    if (!x86_put_msrs(cpu, st, true, errp)) {
        return false;
    }
    if (!kvm_vcpu_set_debugregs(cpu, &st->debugregs)) {
        return x86_state_error(errp, cpu, "set the debug registers");
    }
    return true;
}

bool x86_vm_state_get(Kvm *kvm, X86VmState *st, GError **errp)
{
    st->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
    st->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
    st->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
    if (!kvm_get_irqchip(kvm, &st->pic_master) ||
        !kvm_get_irqchip(kvm, &st->pic_slave) ||
        !kvm_get_irqchip(kvm, &st->ioapic) ||
        !kvm_get_pit2(kvm, &st->pit)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                    "failed to read the irqchip and PIT state: %s",
                    g_strerror(errno));
        return false;
    }
    return true;
}

bool x86_vm_state_put(Kvm *kvm, const X86VmState *st, GError **errp)
{
    if (!kvm_set_irqchip(kvm, &st->pic_master) ||
        !kvm_set_irqchip(kvm, &st->pic_slave) ||
        !kvm_set_irqchip(kvm, &st->ioapic) ||
        !kvm_set_pit2(kvm, &st->pit)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                    "failed to load the irqchip and PIT state: %s",
                    g_strerror(errno));
        return false;
    }
    return true;
}

/* --- their VmsDesc tables ---------------------------------------------------
 * Wire names (sections, subsections, fields) are an ABI: never rename.
 * Kernel UAPI structs travel as raw bytes: their layout is the kernel's
 * ABI, fixed for x86-64. */

static const VmsDesc x86_msr_vmsd = {
    .name = "x86-msr",
    .version = 1,
    .min_version = 1,
    .fields = (const VmsField[]) {
        VMS_U32(X86Msr, index),
        VMS_U64(X86Msr, data),
        VMS_END_OF_LIST,
    },
};

static bool x86_cpu_xsave_needed(void *opaque)
{
    return ((X86VcpuState *)opaque)->has_xsave;
}

static bool x86_cpu_xsave_post_load(void *opaque, uint32_t version,
                                    GError **errp)
{
    (void)version;
    (void)errp;
    ((X86VcpuState *)opaque)->has_xsave = true;
    return true;
}

static const VmsDesc x86_cpu_xsave_vmsd = {
    .name = "x86-cpu/xsave",
    .version = 1,
    .min_version = 1,
    .needed = x86_cpu_xsave_needed,
    .post_load = x86_cpu_xsave_post_load,
    .fields = (const VmsField[]) {
        VMS_BUFFER(X86VcpuState, xsave, struct kvm_xsave),
        VMS_END_OF_LIST,
    },
};

static bool x86_cpu_fpu_needed(void *opaque)
{
    return ((X86VcpuState *)opaque)->has_fpu;
}

static bool x86_cpu_fpu_post_load(void *opaque, uint32_t version,
                                  GError **errp)
{
    (void)version;
    (void)errp;
    ((X86VcpuState *)opaque)->has_fpu = true;
    return true;
}

static const VmsDesc x86_cpu_fpu_vmsd = {
    .name = "x86-cpu/fpu",
    .version = 1,
    .min_version = 1,
    .needed = x86_cpu_fpu_needed,
    .post_load = x86_cpu_fpu_post_load,
    .fields = (const VmsField[]) {
        VMS_BUFFER(X86VcpuState, fpu, struct kvm_fpu),
        VMS_END_OF_LIST,
    },
};

static bool x86_cpu_xcrs_needed(void *opaque)
{
    return ((X86VcpuState *)opaque)->has_xcrs;
}

static bool x86_cpu_xcrs_post_load(void *opaque, uint32_t version,
                                   GError **errp)
{
    X86VcpuState *st = opaque;

    (void)version;
    if (st->xcrs.nr_xcrs > KVM_MAX_XCRS) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "%u XCRs, at most %d allowed", st->xcrs.nr_xcrs,
                    KVM_MAX_XCRS);
        return false;
    }
    st->has_xcrs = true;
    return true;
}

static const VmsDesc x86_cpu_xcrs_vmsd = {
    .name = "x86-cpu/xcrs",
    .version = 1,
    .min_version = 1,
    .needed = x86_cpu_xcrs_needed,
    .post_load = x86_cpu_xcrs_post_load,
    .fields = (const VmsField[]) {
        VMS_BUFFER(X86VcpuState, xcrs, struct kvm_xcrs),
        VMS_END_OF_LIST,
    },
};

/* What KVM_SET_MP_STATE accepts on x86 with the in-kernel LAPIC. */
static bool x86_mp_state_known(uint32_t s)
{
    return s == KVM_MP_STATE_RUNNABLE || s == KVM_MP_STATE_UNINITIALIZED ||
           s == KVM_MP_STATE_INIT_RECEIVED || s == KVM_MP_STATE_HALTED ||
           s == KVM_MP_STATE_SIPI_RECEIVED;
}

/* Validate what the stream says before any of it reaches KVM; KVM checks
 * the register contents itself. */
static bool x86_cpu_post_load(void *opaque, uint32_t version, GError **errp)
{
    X86VcpuState *st = opaque;

    (void)version;
    if (st->nr_msrs > X86_MAX_MSRS) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "%u MSRs, at most %d allowed", st->nr_msrs,
                    X86_MAX_MSRS);
        return false;
    }
    if (!x86_mp_state_known(st->mp_state)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "unknown MP state %u", st->mp_state);
        return false;
    }
    if (st->has_xsave == st->has_fpu) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "the FPU state must come either as XSAVE or as legacy "
                    "FPU state");
        return false;
    }
    /* Each MSR once: a repeated index would be loaded twice in an order
     * the sender never saw. */
    for (uint32_t i = 0; i < st->nr_msrs; i++) {
        for (uint32_t j = 0; j < i; j++) {
            if (st->msrs[i].index == st->msrs[j].index) {
                g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                            "MSR 0x%x appears twice", st->msrs[i].index);
                return false;
            }
        }
    }
    return true;
}

const VmsDesc x86_cpu_vmsd = {
    .name = "x86-cpu",                  /* wire name: never rename */
    .version = 1,
    .min_version = 1,
    .post_load = x86_cpu_post_load,
    .fields = (const VmsField[]) {
        VMS_BUFFER(X86VcpuState, regs, struct kvm_regs),
        VMS_BUFFER(X86VcpuState, sregs, struct kvm_sregs),
        VMS_BUFFER(X86VcpuState, lapic, struct kvm_lapic_state),
        VMS_BUFFER(X86VcpuState, events, struct kvm_vcpu_events),
        VMS_U32(X86VcpuState, mp_state),
        VMS_BUFFER(X86VcpuState, debugregs, struct kvm_debugregs),
        VMS_U32(X86VcpuState, tsc_khz),
        VMS_U32(X86VcpuState, nr_msrs),
        VMS_STRUCT_VARRAY(X86VcpuState, msrs, X86_MAX_MSRS, nr_msrs,
                          x86_msr_vmsd, X86Msr),
        VMS_END_OF_LIST,
    },
    .subsections = (const VmsDesc *const[]) {
        &x86_cpu_xsave_vmsd, &x86_cpu_fpu_vmsd, &x86_cpu_xcrs_vmsd, NULL,
    },
};

static bool kvm_vm_post_load(void *opaque, uint32_t version, GError **errp)
{
    X86VmState *st = opaque;

    (void)version;
    /* KVM_SET_IRQCHIP picks the chip by chip_id: a stream must not be
     * able to load the IOAPIC's bytes into a PIC. */
    if (st->pic_master.chip_id != KVM_IRQCHIP_PIC_MASTER ||
        st->pic_slave.chip_id != KVM_IRQCHIP_PIC_SLAVE ||
        st->ioapic.chip_id != KVM_IRQCHIP_IOAPIC) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "irqchip ids %u/%u/%u, expected %u/%u/%u",
                    st->pic_master.chip_id, st->pic_slave.chip_id,
                    st->ioapic.chip_id, KVM_IRQCHIP_PIC_MASTER,
                    KVM_IRQCHIP_PIC_SLAVE, KVM_IRQCHIP_IOAPIC);
        return false;
    }
    return true;
}

const VmsDesc kvm_vm_vmsd = {
    .name = "kvm-vm",                   /* wire name: never rename */
    .version = 1,
    .min_version = 1,
    .post_load = kvm_vm_post_load,
    .fields = (const VmsField[]) {
        VMS_BUFFER(X86VmState, pic_master, struct kvm_irqchip),
        VMS_BUFFER(X86VmState, pic_slave, struct kvm_irqchip),
        VMS_BUFFER(X86VmState, ioapic, struct kvm_irqchip),
        VMS_BUFFER(X86VmState, pit, struct kvm_pit_state2),
        VMS_U64(X86VmState, clock),
        VMS_END_OF_LIST,
    },
};
