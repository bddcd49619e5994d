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

/* This thread's kvm_run, for the kick handler; NULL off vCPU threads. */
static __thread struct kvm_run *vcpu_own_run;

/*
 * The kick handler marks immediate_exit in the kvm_run of the thread it
 * interrupts. A requester posts its request (under cpu->lock) and then
 * signals the vCPU thread, which checks for requests before each KVM_RUN:
 * - a kick landing before that check changes nothing: the check sees the
 *   request, posted before the signal was sent;
 * - a kick landing inside KVM_RUN makes it return -EINTR;
 * - a kick landing after the check but before the ioctl reaches KVM would
 *   be lost (the handler consumed the signal, so KVM sees none pending)
 *   and the guest would run on with a request waiting. immediate_exit
 *   closes that window: KVM reads it on entry and returns -EINTR at once.
 * The flag is set here, on the vCPU's own thread, and cleared by that same
 * thread after KVM_RUN returns, so no store from another thread can be
 * undone by the clear; that is why the requester no longer sets it and
 * why no re-kick polling is needed. A store to a byte is async-signal-safe.
 */
static void vcpu_kick_handler(int sig)
{
    struct kvm_run *run = vcpu_own_run;

    (void)sig;
    if (run) {
        __atomic_store_n(&run->immediate_exit, 1, __ATOMIC_RELAXED);
    }
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
    cpu->io_pending = false;            /* KVM completed it on entry */
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
        cpu->io_pending = true;
        return vcpu_handle_io(cpu, run);
    case KVM_EXIT_MMIO:
        cpu->io_pending = true;
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

/*
 * Before a vCPU that left KVM_RUN on an I/O exit may be reported paused,
 * re-enter KVM_RUN once with immediate_exit set. The KVM API documentation
 * (api.rst, "NOTE: For KVM_EXIT_IO, KVM_EXIT_MMIO, ..."): "the
 * corresponding operations are complete (and guest state is consistent)
 * only after userspace has re-entered the kernel with KVM_RUN. The kernel
 * side will first finish incomplete operations and then check for pending
 * signals. [...] userspace should ensure that the operation is completed
 * before performing a live migration. Userspace can re-enter the guest
 * with an unmasked signal pending or with the immediate_exit field set to
 * complete pending operations without allowing any further instructions
 * to be executed." Until then the data of an IN or MMIO read is not in
 * the guest's registers and RIP still points at the instruction: a
 * destination would execute it again, and a second read of a
 * read-to-clear register (the virtio ISR) loses an interrupt.
 * String I/O may need more than one trip, hence the loop.
 */
static VcpuExit vcpu_complete_io(Vcpu *cpu)
{
    while (cpu->io_pending) {
        __atomic_store_n(&cpu->kvm.run->immediate_exit, 1, __ATOMIC_RELAXED);
        if (vcpu_enter_guest(cpu) == VCPU_EXIT_STOP) {
            return VCPU_EXIT_STOP;
        }
    }
    return VCPU_EXIT_OK;
}

/* Sleep @ns (throttling), cut short by any request. */
static void vcpu_throttle_sleep(Vcpu *cpu, gint64 ns)
{
    gint64 deadline = g_get_monotonic_time() + ns / 1000;

    g_mutex_lock(&cpu->lock);
    while (cpu->req == VCPU_REQ_NONE &&
           g_cond_wait_until(&cpu->cond, &cpu->lock, deadline)) {
        /* woken early: re-check for a request */
    }
    g_mutex_unlock(&cpu->lock);
}

static void vcpu_refuse_transfer(Vcpu *cpu, VcpuRequest req)
{
    g_mutex_lock(&cpu->lock);
    g_set_error(&cpu->xfer_err, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                "vCPU state can only be %s while paused",
                req == VCPU_REQ_SAVE ? "saved" : "restored");
    g_mutex_unlock(&cpu->lock);
}

/* RUNNING: enter the guest until a request arrives. */
static VcpuState vcpu_running(Vcpu *cpu)
{
    VcpuRequest req;

    for (;;) {
        gint64 nap;

        if (vcpu_request_pending(cpu)) {
            break;
        }
        nap = __atomic_exchange_n(&cpu->throttle_ns, 0, __ATOMIC_ACQ_REL);
        if (nap > 0) {
            vcpu_throttle_sleep(cpu, nap);
            continue;
        }
        if (vcpu_enter_guest(cpu) == VCPU_EXIT_STOP) {
            /* The main loop will pause everyone; wait here for it. */
            vcpu_ack(cpu, VCPU_PAUSED);
            return VCPU_PAUSED;
        }
    }
    req = vcpu_take_request(cpu);
    switch (req) {
    case VCPU_REQ_EXIT:
        return VCPU_EXITED;
    case VCPU_REQ_PAUSE:
        if (vcpu_complete_io(cpu) == VCPU_EXIT_STOP) {
            return VCPU_PAUSED;
        }
        /* Tell the guest's kvmclock it was stopped by the host, or its
         * soft-lockup detector fires on resume. -EINVAL: the guest does
         * not use kvmclock; anything else only costs that warning. */
        kvm_vcpu_kvmclock_ctrl(&cpu->kvm);
        return VCPU_PAUSED;
    case VCPU_REQ_SAVE:
    case VCPU_REQ_RESTORE:
        vcpu_refuse_transfer(cpu, req);
        return VCPU_RUNNING;
    default:
        return VCPU_RUNNING;
    }
}

/* SAVE and RESTORE, on this thread, while paused. */
static void vcpu_transfer(Vcpu *cpu, VcpuRequest req)
{
    GError *err = NULL;

    if (req == VCPU_REQ_SAVE) {
        x86_vcpu_state_get(cpu->vm->kvm, &cpu->kvm, cpu->save_to, &err);
    } else {
        x86_vcpu_state_put(cpu->vm->kvm, &cpu->kvm, cpu->restore_from, &err);
    }
    g_mutex_lock(&cpu->lock);
    cpu->xfer_err = err;
    g_mutex_unlock(&cpu->lock);
}

/* PAUSED: sleep until told to run or exit; answer SAVE and RESTORE. */
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
        /* A throttle tick that came while paused is stale. */
        __atomic_store_n(&cpu->throttle_ns, 0, __ATOMIC_RELEASE);
        return VCPU_RUNNING;
    case VCPU_REQ_EXIT:
        return VCPU_EXITED;
    case VCPU_REQ_SAVE:
    case VCPU_REQ_RESTORE:
        vcpu_transfer(cpu, req);
        return VCPU_PAUSED;
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
    vcpu_own_run = cpu->kvm.run;            /* before the first kick */
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
    return cpu->thread != NULL;
}

void vcpu_init_wait(Vcpu *cpu)
{
    if (cpu->ready || !cpu->thread) {
        return;
    }
    /* Nothing is posted before this returns, so the first state the
     * thread acknowledges is PAUSED. */
    g_mutex_lock(&cpu->lock);
    while (cpu->state != VCPU_PAUSED) {
        g_cond_wait(&cpu->cond, &cpu->lock);
    }
    g_mutex_unlock(&cpu->lock);
    cpu->ready = true;
}

static VcpuState vcpu_target(VcpuRequest req)
{
    return req == VCPU_REQ_RUN ? VCPU_RUNNING :
           req == VCPU_REQ_PAUSE ? VCPU_PAUSED : VCPU_EXITED;
}

/* Post under cpu->lock; the kick follows the post (see the handler). */
static guint64 vcpu_post_locked(Vcpu *cpu, VcpuRequest req)
{
    cpu->req = req;
    g_cond_broadcast(&cpu->cond);
    if (cpu->state == VCPU_RUNNING) {
        pthread_kill(cpu->tid, VCPU_KICK_SIGNAL);
    }
    return ++cpu->req_seq;
}

guint64 vcpu_post(Vcpu *cpu, VcpuRequest req)
{
    guint64 seq = 0;

    if (!cpu->thread) {
        return 0;
    }
    g_mutex_lock(&cpu->lock);
    if (cpu->state != vcpu_target(req) && cpu->state != VCPU_EXITED) {
        seq = vcpu_post_locked(cpu, req);
    }
    g_mutex_unlock(&cpu->lock);
    return seq;
}

void vcpu_wait(Vcpu *cpu, guint64 seq)
{
    if (!seq) {
        return;
    }
    g_mutex_lock(&cpu->lock);
    while (cpu->ack_seq < seq && cpu->state != VCPU_EXITED) {
        g_cond_wait(&cpu->cond, &cpu->lock);
    }
    g_mutex_unlock(&cpu->lock);
}

void vcpu_request(Vcpu *cpu, VcpuRequest req)
{
    vcpu_wait(cpu, vcpu_post(cpu, req));
}

void vcpu_request_all(Vcpu *cpus, unsigned int n, VcpuRequest req)
{
    g_autofree guint64 *seq = g_new0(guint64, n);

    for (unsigned int i = 0; i < n; i++) {
        seq[i] = vcpu_post(&cpus[i], req);
    }
    for (unsigned int i = 0; i < n; i++) {
        vcpu_wait(&cpus[i], seq[i]);
    }
}

static bool vcpu_xfer(Vcpu *cpu, VcpuRequest req, X86VcpuState *to,
                      const X86VcpuState *from, GError **errp)
{
    GError *err;
    guint64 seq;
    bool done;

    if (!cpu->thread) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "vCPU %u has no thread", cpu->index);
        return false;
    }
    g_mutex_lock(&cpu->lock);
    if (cpu->state == VCPU_EXITED) {
        g_mutex_unlock(&cpu->lock);
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "vCPU %u has exited", cpu->index);
        return false;
    }
    cpu->save_to = to;
    cpu->restore_from = from;
    g_clear_error(&cpu->xfer_err);
    seq = vcpu_post_locked(cpu, req);
    while (cpu->ack_seq < seq && cpu->state != VCPU_EXITED) {
        g_cond_wait(&cpu->cond, &cpu->lock);
    }
    done = cpu->ack_seq >= seq;
    err = g_steal_pointer(&cpu->xfer_err);
    cpu->save_to = NULL;
    cpu->restore_from = NULL;
    g_mutex_unlock(&cpu->lock);
    if (err) {
        g_propagate_error(errp, err);
        return false;
    }
    if (!done) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "vCPU %u exited before answering", cpu->index);
        return false;
    }
    return true;
}

bool vcpu_save_state(Vcpu *cpu, X86VcpuState *st, GError **errp)
{
    return vcpu_xfer(cpu, VCPU_REQ_SAVE, st, NULL, errp);
}

bool vcpu_restore_state(Vcpu *cpu, const X86VcpuState *st, GError **errp)
{
    return vcpu_xfer(cpu, VCPU_REQ_RESTORE, NULL, st, errp);
}

void vcpu_throttle(Vcpu *cpu, gint64 sleep_ns)
{
    gint64 none = 0;

    if (!cpu->thread || sleep_ns <= 0 ||
        !__atomic_compare_exchange_n(&cpu->throttle_ns, &none, sleep_ns,
                                     false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        return;
    }
    /* Under the lock, so the thread cannot exit meanwhile. */
    g_mutex_lock(&cpu->lock);
    if (cpu->state == VCPU_RUNNING) {
        pthread_kill(cpu->tid, VCPU_KICK_SIGNAL);
    }
    g_mutex_unlock(&cpu->lock);
}

void vcpu_destroy(Vcpu *cpu)
{
    if (cpu->thread) {
        vcpu_init_wait(cpu);        /* an EXIT before hello would be lost */
        vcpu_request(cpu, VCPU_REQ_EXIT);
        g_thread_join(cpu->thread);
        cpu->thread = NULL;
    }
    kvm_vcpu_destroy(&cpu->kvm);
    g_clear_error(&cpu->xfer_err);
    g_mutex_clear(&cpu->lock);
    g_cond_clear(&cpu->cond);
}
