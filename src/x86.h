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

#endif /* KESTREL_X86_H */
