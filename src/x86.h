/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * x86 CPU set-up: CPUID (topology, hypervisor leaves), MSRs, and the
 * register state each boot protocol expects. Pure where it can be
 * (CPUID is computed from KVM's supported list without touching KVM).
 */
#ifndef KESTREL_X86_H
#define KESTREL_X86_H

#include <glib.h>
#include <linux/kvm.h>
#include <stdbool.h>

#include "kvm.h"
#include "loader.h"
#include "memmap.h"
#include "migration/vmstate.h"

typedef struct {
    unsigned int cpus;          /* vCPUs present */
    unsigned int sockets, dies, cores, threads;
} X86Topology;

/* APIC id of vCPU @index: packed from the topology, as hardware does. */
uint32_t x86_apic_id(const X86Topology *topo, unsigned int index);

/*
 * x86_cpuid_for_vcpu: a copy of @supported adjusted for vCPU @index:
 * APIC ids, topology leaves (1, 4, 0xb, 0x80000008, 0x8000001e), the
 * hypervisor bit. KVM's own leaves (0x40000000...) are kept.
 */
struct kvm_cpuid2 *x86_cpuid_for_vcpu(const struct kvm_cpuid2 *supported,
                                      const X86Topology *topo,
                                      unsigned int index);

/* Set the architectural MSRs to their reset values; only MSRs KVM lists
 * are touched. A refusal is an error naming the MSR. */
bool x86_init_msrs(Kvm *kvm, KvmVcpu *cpu, GError **errp);

/* FPU/SSE reset state and the LAPIC's LINT0 (ExtINT) / LINT1 (NMI). */
bool x86_init_fpu_lapic(KvmVcpu *cpu, bool bsp, GError **errp);

/*
 * x86_setup_boot: write the boot GDT and identity page tables into guest
 * RAM and load the boot processor's registers for @entry's protocol.
 */
bool x86_setup_boot(MemMap *map, KvmVcpu *cpu, const BootEntry *entry,
                    GError **errp);

/* --- vCPU and VM state: system reset and migration -------------------- */

/* More than KVM_GET_MSR_INDEX_LIST lists today (about 150 on 6.x). */
#define X86_MAX_MSRS 512

typedef struct {
    uint32_t index;
    uint64_t data;
} X86Msr;

/*
 * X86VcpuState: everything KVM holds for one x86 vCPU, as plain data.
 * Saved state, kept apart from the live vCPU: a failed or cancelled
 * migration leaves the source untouched.
 */
typedef struct {
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    bool has_xsave;                 /* xsave holds the FPU/SSE/AVX state */
    struct kvm_xsave xsave;
    bool has_fpu;                   /* no XSAVE: the legacy FPU state */
    struct kvm_fpu fpu;
    bool has_xcrs;
    struct kvm_xcrs xcrs;
    struct kvm_lapic_state lapic;
    struct kvm_vcpu_events events;
    uint32_t mp_state;              /* KVM_MP_STATE_* */
    struct kvm_debugregs debugregs;
    uint32_t tsc_khz;               /* 0: KVM did not say */
    uint32_t nr_msrs;               /* IA32_TSC among them */
    X86Msr msrs[X86_MAX_MSRS];
} X86VcpuState;

/*
 * x86_vcpu_state_get: read @cpu's whole state into @st: registers, FPU
 * (XSAVE, or the legacy FPU without it), XCRs, every MSR of kvm->msrs
 * that KVM lets us read (refused ones are skipped), LAPIC, events, MP
 * state, debug registers, TSC frequency. The vCPU must not be running;
 * call it on the vCPU's thread (vcpu_save_state does).
 */
bool x86_vcpu_state_get(Kvm *kvm, KvmVcpu *cpu, X86VcpuState *st,
                        GError **errp);

/*
 * x86_vcpu_state_put: load @st into @cpu, in the order KVM needs (that of
 * QEMU's kvm_arch_put_registers). An MSR KVM refuses is an error naming
 * it, unless the vCPU already holds the saved value. Same threading rule
 * as x86_vcpu_state_get.
 */
bool x86_vcpu_state_put(Kvm *kvm, KvmVcpu *cpu, const X86VcpuState *st,
                        GError **errp);

/* VM-level state: the in-kernel irqchip, the PIT, and kvmclock. */
typedef struct {
    struct kvm_irqchip pic_master;
    struct kvm_irqchip pic_slave;
    struct kvm_irqchip ioapic;
    struct kvm_pit_state2 pit;
    uint64_t clock;                 /* kvmclock (ns) when the VM stopped */
} X86VmState;

/* Read or load the irqchip and PIT of @kvm (not the clock: vm.c keeps it
 * across stop and cont). Main thread, vCPUs paused. */
bool x86_vm_state_get(Kvm *kvm, X86VmState *st, GError **errp);
bool x86_vm_state_put(Kvm *kvm, const X86VmState *st, GError **errp);

/* Their migration descriptions; wire names "x86-cpu" and "kvm-vm". */
extern const VmsDesc x86_cpu_vmsd;
extern const VmsDesc kvm_vm_vmsd;

#endif /* KESTREL_X86_H */
