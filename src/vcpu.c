/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "error.h"
#include "vcpu.h"
#include "vm.h"

/* The kick: a signal whose only job is to make KVM_RUN return -EINTR. */
#define VCPU_KICK_SIGNAL SIGUSR1

static void vcpu_kick_handler(int sig)
{
    (void)sig;
}

void vcpu_signals_init(void)
{
    struct sigaction sa = { .sa_handler = vcpu_kick_handler };
    sigset_t set;

    sigemptyset(&sa.sa_mask);
    sigaction(VCPU_KICK_SIGNAL, &sa, NULL);     /* no SA_RESTART */
    /* Only vCPU threads take the kick; everyone else blocks it. */
    sigemptyset(&set);
    sigaddset(&set, VCPU_KICK_SIGNAL);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static bool vcpu_request_pending(Vcpu *cpu)
{
    return __atomic_load_n(&cpu->req, __ATOMIC_ACQUIRE) != VCPU_REQ_NONE;
}

typedef enum {
    VCPU_EXIT_OK,           /* handled; enter the guest again */
    VCPU_EXIT_KICKED,       /* a request is waiting */
    VCPU_EXIT_STOP,         /* the VM must stop this vCPU (error, shutdown) */
} VcpuExit;

static VcpuExit vcpu_handle_io(Vcpu *cpu, struct kvm_run *run)
{
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    bool is_write = run->io.direction == KVM_EXIT_IO_OUT;

    /* String I/O arrives as count back-to-back items. */
    for (uint32_t i = 0; i < run->io.count; i++) {
        vm_pio(cpu->vm, run->io.port, data, run->io.size, is_write);
        data += run->io.size;
    }
    return VCPU_EXIT_OK;
}

static VcpuExit vcpu_enter_guest(Vcpu *cpu)
{
    struct kvm_run *run = cpu->kvm.run;
    g_autofree char *what = NULL;
    int rc;

    rc = kvm_vcpu_run(&cpu->kvm);
    if (rc == -EINTR || rc == -EAGAIN) {
        __atomic_store_n(&run->immediate_exit, 0, __ATOMIC_RELAXED);
        return VCPU_EXIT_KICKED;
    }
    if (rc < 0) {
        what = g_strdup_printf("KVM_RUN failed: %s", g_strerror(-rc));
        vm_request_internal_error(cpu->vm, cpu->index, what);
        return VCPU_EXIT_STOP;
    }

    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        return vcpu_handle_io(cpu, run);
    case KVM_EXIT_MMIO:
        vm_mmio(cpu->vm, run->mmio.phys_addr, run->mmio.data,
                run->mmio.len, run->mmio.is_write);
        return VCPU_EXIT_OK;
    case KVM_EXIT_INTR:
        return VCPU_EXIT_KICKED;
    case KVM_EXIT_HLT:
        /* Only without an in-kernel LAPIC; we always have one. */
        return VCPU_EXIT_OK;
    case KVM_EXIT_SHUTDOWN:
        /* Triple fault: a reset, as on real hardware. */
        vm_request_reset(cpu->vm, SHUTDOWN_CAUSE_GUEST_RESET);
        return VCPU_EXIT_STOP;
    case KVM_EXIT_SYSTEM_EVENT:
        if (run->system_event.type == KVM_SYSTEM_EVENT_RESET) {
            vm_request_reset(cpu->vm, SHUTDOWN_CAUSE_GUEST_RESET);
        } else {
            vm_request_shutdown(cpu->vm, SHUTDOWN_CAUSE_GUEST_SHUTDOWN);
        }
        return VCPU_EXIT_STOP;
    case KVM_EXIT_INTERNAL_ERROR:
        what = g_strdup_printf("KVM internal error. Suberror: %u",
                               run->internal.suberror);
        vm_request_internal_error(cpu->vm, cpu->index, what);
        return VCPU_EXIT_STOP;
    case KVM_EXIT_FAIL_ENTRY:
        what = g_strdup_printf("KVM failed to enter the guest: hardware "
                               "entry failure reason 0x%" PRIx64,
                               (uint64_t)run->fail_entry.hardware_entry_failure_reason);
        vm_request_internal_error(cpu->vm, cpu->index, what);
        return VCPU_EXIT_STOP;
    default:
        what = g_strdup_printf("unhandled KVM exit reason %u",
                               run->exit_reason);
        vm_request_internal_error(cpu->vm, cpu->index, what);
        return VCPU_EXIT_STOP;
    }
}

static VcpuRequest vcpu_take_request(Vcpu *cpu)
{
    VcpuRequest req;

    g_mutex_lock(&cpu->lock);
    req = cpu->req;
    cpu->req = VCPU_REQ_NONE;
    cpu->taken_seq = cpu->req_seq;
    g_mutex_unlock(&cpu->lock);
    return req;
}

static void vcpu_ack(Vcpu *cpu, VcpuState state)
{
    g_mutex_lock(&cpu->lock);
    cpu->state = state;
    cpu->ack_seq = cpu->taken_seq;
    g_cond_broadcast(&cpu->cond);
    g_mutex_unlock(&cpu->lock);
}

/* RUNNING: enter the guest until a request arrives. */
static VcpuState vcpu_running(Vcpu *cpu)
{
    for (;;) {
        VcpuExit rc;

        if (vcpu_request_pending(cpu)) {
            break;
        }
        rc = vcpu_enter_guest(cpu);
        if (rc == VCPU_EXIT_STOP) {
            /* The main loop will pause everyone; wait here for it. */
            vcpu_ack(cpu, VCPU_PAUSED);
            return VCPU_PAUSED;
        }
    }
    switch (vcpu_take_request(cpu)) {
    case VCPU_REQ_EXIT:
        return VCPU_EXITED;
    case VCPU_REQ_PAUSE:
        return VCPU_PAUSED;
    default:
        return VCPU_RUNNING;
    }
}

/* PAUSED: sleep until told to run or exit. */
static VcpuState vcpu_paused(Vcpu *cpu)
{
    VcpuRequest req;

    g_mutex_lock(&cpu->lock);
    while (cpu->req == VCPU_REQ_NONE) {
        g_cond_wait(&cpu->cond, &cpu->lock);
    }
    req = cpu->req;
    cpu->req = VCPU_REQ_NONE;
    cpu->taken_seq = cpu->req_seq;
    g_mutex_unlock(&cpu->lock);

    switch (req) {
    case VCPU_REQ_RUN:
        return VCPU_RUNNING;
    case VCPU_REQ_EXIT:
        return VCPU_EXITED;
    default:
        return VCPU_PAUSED;
    }
}

static gpointer vcpu_thread(gpointer opaque)
{
    Vcpu *cpu = opaque;
    VcpuState state = VCPU_PAUSED;
    sigset_t set;

    cpu->thread_id = (pid_t)syscall(SYS_gettid);
    cpu->tid = pthread_self();
    if (cpu->vm->cfg->debug_threads) {
        /* -name debug-threads=on: QEMU's thread names, as top and
         * libvirt's logs show them (15 characters at most). */
        char name[16];

        snprintf(name, sizeof(name), "CPU %u/KVM", cpu->index);
        pthread_setname_np(cpu->tid, name);
    }
    sigemptyset(&set);
    sigaddset(&set, VCPU_KICK_SIGNAL);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    vcpu_ack(cpu, VCPU_PAUSED);

    while (state != VCPU_EXITED) {
        switch (state) {
        case VCPU_PAUSED:
            state = vcpu_paused(cpu);
            break;
        case VCPU_RUNNING:
            state = vcpu_running(cpu);
            break;
        case VCPU_EXITED:
            break;
        }
        vcpu_ack(cpu, state);
    }
    return NULL;
}

bool vcpu_init(Vcpu *cpu, Vm *vm, unsigned int index, GError **errp)
{
    g_autofree char *name = NULL;

    cpu->vm = vm;
    cpu->index = index;
    cpu->kvm.fd = -1;
    g_mutex_init(&cpu->lock);
    g_cond_init(&cpu->cond);
    cpu->state = VCPU_EXITED;               /* until the thread says hello */
    if (!kvm_vcpu_create(vm->kvm, (int)index, &cpu->kvm, errp)) {
        return false;
    }
    name = g_strdup_printf("CPU %u/KVM", index);
    cpu->thread = g_thread_try_new(name, vcpu_thread, cpu, errp);
    if (!cpu->thread) {
        return false;
    }
    g_mutex_lock(&cpu->lock);
    while (cpu->state != VCPU_PAUSED) {
        g_cond_wait(&cpu->cond, &cpu->lock);
    }
    g_mutex_unlock(&cpu->lock);
    return true;
}

void vcpu_request(Vcpu *cpu, VcpuRequest req)
{
    VcpuState want = req == VCPU_REQ_RUN ? VCPU_RUNNING :
                     req == VCPU_REQ_PAUSE ? VCPU_PAUSED : VCPU_EXITED;
    guint64 seq;

    if (!cpu->thread) {
        return;
    }
    g_mutex_lock(&cpu->lock);
    if (cpu->state == want || cpu->state == VCPU_EXITED) {
        g_mutex_unlock(&cpu->lock);
        return;
    }
    cpu->req = req;
    seq = ++cpu->req_seq;
    g_cond_broadcast(&cpu->cond);
    if (cpu->state == VCPU_RUNNING) {
        /* Make a KVM_RUN that has not started yet return at once, and
         * interrupt one in progress. */
        __atomic_store_n(&cpu->kvm.run->immediate_exit, 1, __ATOMIC_RELEASE);
        pthread_kill(cpu->tid, VCPU_KICK_SIGNAL);
    }
    while (cpu->ack_seq < seq && cpu->state != VCPU_EXITED) {
        gint64 deadline = g_get_monotonic_time() + 10 * G_TIME_SPAN_MILLISECOND;

        if (!g_cond_wait_until(&cpu->cond, &cpu->lock, deadline) &&
            cpu->state == VCPU_RUNNING) {
            /* The kick can land just before KVM_RUN is entered: repeat. */
            pthread_kill(cpu->tid, VCPU_KICK_SIGNAL);
        }
    }
    g_mutex_unlock(&cpu->lock);
}

void vcpu_destroy(Vcpu *cpu)
{
    if (cpu->thread) {
        vcpu_request(cpu, VCPU_REQ_EXIT);
        g_thread_join(cpu->thread);
        cpu->thread = NULL;
    }
    kvm_vcpu_destroy(&cpu->kvm);
    g_mutex_clear(&cpu->lock);
    g_cond_clear(&cpu->cond);
}
