/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The only file that issues KVM ioctls. Everything above it deals in
 * plain structs (the <linux/kvm.h> ones) and GErrors.
 */
#ifndef KESTREL_KVM_H
#define KESTREL_KVM_H

#include <glib.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct Kvm {
    int fd;                         /* /dev/kvm */
    int vm_fd;
    int vcpu_mmap_size;
    struct kvm_cpuid2 *cpuid;       /* KVM_GET_SUPPORTED_CPUID */
    struct kvm_msr_list *msrs;      /* KVM_GET_MSR_INDEX_LIST */
    int max_vcpus;
    bool has_xsave;                 /* KVM_CAP_XSAVE: else KVM_GET_FPU */
    bool has_xcrs;                  /* KVM_CAP_XCRS */
} Kvm;

typedef struct {
    int fd;
    int id;
    struct kvm_run *run;
    int mmap_size;
} KvmVcpu;

/*
 * kvm_open: open @path (normally /dev/kvm), create a VM and check every
 * capability kestrel relies on; kvm_create_irqchip() adds the in-kernel
 * irqchip and PIT, after the memory slots (vm.c says why). Errors say
 * which step failed, worded like QEMU's ("Could not access KVM kernel
 * module: ...").
 */
Kvm *kvm_open(const char *path, GError **errp);
bool kvm_create_irqchip(Kvm *kvm, GError **errp);
void kvm_close(Kvm *kvm);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Kvm, kvm_close)

bool kvm_set_memory_region(Kvm *kvm, uint32_t slot, uint64_t gpa,
                           uint64_t size, void *hva, uint32_t flags,
                           GError **errp);
bool kvm_irq_line(Kvm *kvm, uint32_t irq, bool level);
bool kvm_signal_msi(Kvm *kvm, uint64_t addr, uint32_t data);
int kvm_check_extension(Kvm *kvm, long cap);
bool kvm_get_clock(Kvm *kvm, struct kvm_clock_data *clock);
bool kvm_set_clock(Kvm *kvm, const struct kvm_clock_data *clock);
bool kvm_get_dirty_log(Kvm *kvm, uint32_t slot, void *bitmap);

bool kvm_vcpu_create(Kvm *kvm, int id, KvmVcpu *cpu, GError **errp);
void kvm_vcpu_destroy(KvmVcpu *cpu);
/* KVM_RUN: 0, or -errno (-EINTR when kicked). */
int kvm_vcpu_run(KvmVcpu *cpu);

bool kvm_vcpu_get_regs(KvmVcpu *cpu, struct kvm_regs *r);
bool kvm_vcpu_set_regs(KvmVcpu *cpu, const struct kvm_regs *r);
bool kvm_vcpu_get_sregs(KvmVcpu *cpu, struct kvm_sregs *s);
bool kvm_vcpu_set_sregs(KvmVcpu *cpu, const struct kvm_sregs *s);
bool kvm_vcpu_get_fpu(KvmVcpu *cpu, struct kvm_fpu *f);
bool kvm_vcpu_set_fpu(KvmVcpu *cpu, const struct kvm_fpu *f);
bool kvm_vcpu_get_lapic(KvmVcpu *cpu, struct kvm_lapic_state *l);
bool kvm_vcpu_set_lapic(KvmVcpu *cpu, const struct kvm_lapic_state *l);
bool kvm_vcpu_set_cpuid(KvmVcpu *cpu, const struct kvm_cpuid2 *c,
                        GError **errp);
/* Returns the number of MSRs processed (KVM stops at the first refused). */
int kvm_vcpu_get_msrs(KvmVcpu *cpu, struct kvm_msrs *m);
int kvm_vcpu_set_msrs(KvmVcpu *cpu, const struct kvm_msrs *m);
bool kvm_vcpu_get_mp_state(KvmVcpu *cpu, struct kvm_mp_state *s);
bool kvm_vcpu_set_mp_state(KvmVcpu *cpu, const struct kvm_mp_state *s);
bool kvm_vcpu_get_events(KvmVcpu *cpu, struct kvm_vcpu_events *e);
bool kvm_vcpu_set_events(KvmVcpu *cpu, const struct kvm_vcpu_events *e);
bool kvm_vcpu_get_xcrs(KvmVcpu *cpu, struct kvm_xcrs *x);
bool kvm_vcpu_set_xcrs(KvmVcpu *cpu, const struct kvm_xcrs *x);
bool kvm_vcpu_get_xsave(KvmVcpu *cpu, struct kvm_xsave *x);
bool kvm_vcpu_set_xsave(KvmVcpu *cpu, const struct kvm_xsave *x);
bool kvm_vcpu_get_debugregs(KvmVcpu *cpu, struct kvm_debugregs *d);
bool kvm_vcpu_set_debugregs(KvmVcpu *cpu, const struct kvm_debugregs *d);
bool kvm_vcpu_set_tsc_khz(KvmVcpu *cpu, uint32_t khz);
int kvm_vcpu_get_tsc_khz(KvmVcpu *cpu);

/*
 * kvm_vcpu_kvmclock_ctrl: tell KVM the guest was paused by the host, so
 * its soft-lockup watchdog does not fire on resume. 0, or -errno:
 * -EINVAL when the guest has not enabled kvmclock (not an error).
 */
int kvm_vcpu_kvmclock_ctrl(KvmVcpu *cpu);

/* The in-kernel irqchip (@chip->chip_id: KVM_IRQCHIP_PIC_MASTER,
 * KVM_IRQCHIP_PIC_SLAVE, KVM_IRQCHIP_IOAPIC) and PIT. */
bool kvm_get_irqchip(Kvm *kvm, struct kvm_irqchip *chip);
bool kvm_set_irqchip(Kvm *kvm, const struct kvm_irqchip *chip);
bool kvm_get_pit2(Kvm *kvm, struct kvm_pit_state2 *pit);
bool kvm_set_pit2(Kvm *kvm, const struct kvm_pit_state2 *pit);

/*
 * Notifications and interrupts without a trip through userspace.
 * kvm_ioeventfd: writes of any length (or of @len bytes where KVM cannot
 * match any length) to MMIO @addr signal @fd instead of exiting.
 * kvm_irqfd: writing to @fd injects GSI @gsi.
 */
bool kvm_ioeventfd(Kvm *kvm, int fd, uint64_t addr, uint32_t len,
                   bool assign, GError **errp);
bool kvm_irqfd(Kvm *kvm, int fd, uint32_t gsi, bool assign, GError **errp);

/*
 * GSI routing: KVM_SET_GSI_ROUTING replaces the whole table, so the
 * default irqchip routes (GSI 0-23 to the IOAPIC, 0-15 also to the PIC)
 * are kept here beside the MSI routes added for irqfds. MSI routes take
 * GSIs from 24 up. Not thread-safe: callers serialise (device.c does).
 */
typedef struct KvmIrqRouting KvmIrqRouting;

KvmIrqRouting *kvm_irq_routing_new(Kvm *kvm);
void kvm_irq_routing_free(KvmIrqRouting *r);
/* Add (@gsi < 0: allocate) or change an MSI route; returns the GSI or -1. */
int kvm_irq_routing_set_msi(KvmIrqRouting *r, int gsi, uint64_t addr,
                            uint32_t data, GError **errp);
void kvm_irq_routing_remove(KvmIrqRouting *r, int gsi);

#endif /* KESTREL_KVM_H */
