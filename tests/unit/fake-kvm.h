/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A stand-in for KVM_RUN, for testing the vCPU thread's protocol on a
 * machine without /dev/kvm. Linked with -Wl,--wrap=<symbol>: vcpu.c's
 * calls into kvm.c, x86.c and vm.c land here instead.
 *
 * It keeps KVM's rules that matter to the protocol: a pending I/O is
 * completed on entry, before immediate_exit is looked at; immediate_exit
 * or a pending signal makes KVM_RUN return -EINTR without running the
 * guest; otherwise the "guest" either exits at once on a port write
 * (FAKE_PIO) or runs until a signal arrives (FAKE_SPIN).
 */
#ifndef KESTREL_FAKE_KVM_H
#define KESTREL_FAKE_KVM_H

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "vcpu.h"
#include "vm.h"

#define FAKE_MAX_CPUS 16
#define FAKE_RUN_SIZE 8192

typedef enum {
    FAKE_SPIN,              /* run until kicked */
    FAKE_PIO,               /* exit on a port write at once, again and again */
} FakeMode;

typedef struct {
    FakeMode mode;
    bool io_pending;            /* KVM's view: an I/O awaits completion */
    guint64 entries;
    guint64 completed;          /* I/Os completed on re-entry */
    guint64 pio;                /* exits handed to vm_pio */
    bool last_immediate;        /* immediate_exit at the last entry */
    gint64 run_us;              /* time spent "in the guest" */
    pthread_t saved_on;         /* thread of the last state get/put */
    guint64 saves, restores;
} FakeCpu;

static FakeCpu fake_cpus[FAKE_MAX_CPUS];

bool __wrap_kvm_vcpu_create(Kvm *kvm, int id, KvmVcpu *cpu, GError **errp);
void __wrap_kvm_vcpu_destroy(KvmVcpu *cpu);
int __wrap_kvm_vcpu_run(KvmVcpu *cpu);
int __wrap_kvm_vcpu_kvmclock_ctrl(KvmVcpu *cpu);
bool __wrap_x86_vcpu_state_get(Kvm *kvm, KvmVcpu *cpu, X86VcpuState *st,
                               GError **errp);
bool __wrap_x86_vcpu_state_put(Kvm *kvm, KvmVcpu *cpu,
                               const X86VcpuState *st, GError **errp);
void __wrap_vm_pio(Vm *vm, uint16_t port, uint8_t *data, uint32_t len,
                   bool is_write);
void __wrap_vm_mmio(Vm *vm, uint64_t addr, uint8_t *data, uint32_t len,
                    bool is_write);
void __wrap_vm_request_shutdown(Vm *vm, ShutdownCause cause);
void __wrap_vm_request_reset(Vm *vm, ShutdownCause cause);
void __wrap_vm_request_internal_error(Vm *vm, unsigned int cpu,
                                      const char *what);

bool __wrap_kvm_vcpu_create(Kvm *kvm, int id, KvmVcpu *cpu, GError **errp)
{
    (void)kvm;
    (void)errp;
    g_assert_cmpint(id, <, FAKE_MAX_CPUS);
    memset(&fake_cpus[id], 0, sizeof(fake_cpus[id]));
    cpu->id = id;
    cpu->fd = -1;
    cpu->run = g_malloc0(FAKE_RUN_SIZE);
    cpu->mmap_size = FAKE_RUN_SIZE;
    return true;
}

void __wrap_kvm_vcpu_destroy(KvmVcpu *cpu)
{
    g_free(cpu->run);
    cpu->run = NULL;
}

int __wrap_kvm_vcpu_run(KvmVcpu *cpu)
{
    FakeCpu *f = &fake_cpus[cpu->id];
    struct kvm_run *run = cpu->run;
    sigset_t kick, old, pending;
    gint64 t0;
    int rc = 0;

    /* Entry, as KVM does it: signals cannot slip in between the checks. */
    sigemptyset(&kick);
    sigaddset(&kick, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &kick, &old);
    f->entries++;
    if (f->io_pending) {
        f->io_pending = false;
        f->completed++;
    }
    f->last_immediate = __atomic_load_n(&run->immediate_exit,
                                        __ATOMIC_RELAXED);
    sigpending(&pending);
    if (f->last_immediate || sigismember(&pending, SIGUSR1)) {
        rc = -EINTR;
    } else if (f->mode == FAKE_PIO) {
        run->exit_reason = KVM_EXIT_IO;
        run->io.direction = KVM_EXIT_IO_OUT;
        run->io.size = 1;
        run->io.port = 0x80;
        run->io.count = 1;
        run->io.data_offset = 4096;
        f->io_pending = true;
    } else {
        t0 = g_get_monotonic_time();
        sigsuspend(&old);                   /* returns after the handler */
        f->run_us += g_get_monotonic_time() - t0;
        rc = -EINTR;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);   /* a pending kick runs now */
    return rc;
}

int __wrap_kvm_vcpu_kvmclock_ctrl(KvmVcpu *cpu)
{
    (void)cpu;
    return -EINVAL;                         /* guest without kvmclock */
}

bool __wrap_x86_vcpu_state_get(Kvm *kvm, KvmVcpu *cpu, X86VcpuState *st,
                               GError **errp)
{
    (void)kvm;
    (void)errp;
    fake_cpus[cpu->id].saved_on = pthread_self();
    fake_cpus[cpu->id].saves++;
    st->regs.rip = 0x1000 + (uint64_t)cpu->id;
    return true;
}

bool __wrap_x86_vcpu_state_put(Kvm *kvm, KvmVcpu *cpu,
                               const X86VcpuState *st, GError **errp)
{
    (void)kvm;
    (void)errp;
    (void)st;
    fake_cpus[cpu->id].saved_on = pthread_self();
    fake_cpus[cpu->id].restores++;
    return true;
}

void __wrap_vm_pio(Vm *vm, uint16_t port, uint8_t *data, uint32_t len,
                   bool is_write)
{
    (void)port;
    (void)data;
    (void)len;
    (void)is_write;
    for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
        if (pthread_equal(vm->vcpus[i].tid, pthread_self())) {
            fake_cpus[i].pio++;
        }
    }
}

void __wrap_vm_mmio(Vm *vm, uint64_t addr, uint8_t *data, uint32_t len,
                    bool is_write)
{
    (void)vm;
    (void)addr;
    (void)data;
    (void)len;
    (void)is_write;
}

void __wrap_vm_request_shutdown(Vm *vm, ShutdownCause cause)
{
    (void)vm;
    (void)cause;
}

void __wrap_vm_request_reset(Vm *vm, ShutdownCause cause)
{
    (void)vm;
    (void)cause;
}

void __wrap_vm_request_internal_error(Vm *vm, unsigned int cpu,
                                      const char *what)
{
    (void)vm;
    g_error("vCPU %u: %s", cpu, what);
}

/* A Vm with @n fake vCPUs, paused; only the fields vcpu.c reads. */
static Vm *fake_vm_new(unsigned int n, const VmConfig *cfg)
{
    Vm *vm = g_new0(Vm, 1);

    vm->cfg = cfg;
    vm->nr_vcpus = n;
    vm->vcpus = g_new0(Vcpu, n);
    for (unsigned int i = 0; i < n; i++) {
        g_assert_true(vcpu_init(&vm->vcpus[i], vm, i, NULL));
    }
    for (unsigned int i = 0; i < n; i++) {
        vcpu_init_wait(&vm->vcpus[i]);      /* as vm_new() does */
    }
    return vm;
}

static void fake_vm_free(Vm *vm)
{
    for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
        vcpu_destroy(&vm->vcpus[i]);
    }
    g_free(vm->vcpus);
    g_free(vm);
}

#endif /* KESTREL_FAKE_KVM_H */
