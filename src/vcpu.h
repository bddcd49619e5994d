/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A vCPU is a thread running an explicit state machine. Other threads talk
 * to it only through its mailbox: post a request, kick, wait for the ack.
 *
 *     PAUSED --RUN--> RUNNING --PAUSE--> PAUSED
 *        \                \
 *         +----EXIT--------+--> EXITED (thread ends)
 *
 * SAVE and RESTORE copy the vCPU's state out or in, on its own thread;
 * they are answered only while PAUSED (a running vCPU refuses them).
 * vCPUs start PAUSED: that is -S.
 *
 * Mailbox requests (vcpu_request, vcpu_post, vcpu_save_state, ...) come
 * from one thread at a time, the main thread; vcpu_throttle may come from
 * any thread, it does not use the mailbox.
 */
#ifndef KESTREL_VCPU_H
#define KESTREL_VCPU_H

#include <glib.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "kvm.h"
#include "x86.h"

typedef struct Vm Vm;

typedef enum {
    VCPU_PAUSED,
    VCPU_RUNNING,
    VCPU_EXITED,
} VcpuState;

typedef enum {
    VCPU_REQ_NONE,
    VCPU_REQ_RUN,
    VCPU_REQ_PAUSE,
    VCPU_REQ_EXIT,
    VCPU_REQ_SAVE,              /* state -> *save_to (paused only) */
    VCPU_REQ_RESTORE,           /* *restore_from -> state (paused only) */
} VcpuRequest;

typedef struct Vcpu {
    Vm *vm;
    unsigned int index;
    KvmVcpu kvm;
    GThread *thread;
    pthread_t tid;
    pid_t thread_id;            /* gettid(), for query-cpus-fast */
    /* vCPU thread only: the last exit was MMIO or PIO, and KVM finishes
     * that instruction only when KVM_RUN is entered again. */
    bool io_pending;

    GMutex lock;                /* protects everything below but the last */
    GCond cond;
    VcpuRequest req;            /* posted, not yet taken */
    VcpuState state;            /* last state the thread acknowledged */
    /* Requests are numbered: a requester waits for its own number to be
     * acknowledged, not for a state, since the vCPU may move on (a guest
     * that resets itself at once) before the requester looks. */
    guint64 req_seq;            /* number of the last request posted */
    guint64 taken_seq;          /* ... of the last one the thread took */
    guint64 ack_seq;            /* ... of the last one acknowledged */
    /* SAVE and RESTORE: where to, where from, and the answer. */
    X86VcpuState *save_to;
    const X86VcpuState *restore_from;
    GError *xfer_err;

    /* Atomic, outside the mailbox: nanoseconds to sleep before entering
     * the guest again (vcpu_throttle); 0 when none is pending. */
    gint64 throttle_ns;

    bool ready;                 /* the thread said hello (vcpu_init_wait) */
} Vcpu;

/*
 * vcpu_init: create the KVM vCPU and start its thread, without waiting
 * for it: vcpu_init_wait() does, so that a VM's vCPU threads start
 * together rather than one handshake each. vcpu_destroy() waits too.
 */
bool vcpu_init(Vcpu *cpu, Vm *vm, unsigned int index, GError **errp);

/* Wait until @cpu's thread is up and paused (once; then immediate). */
void vcpu_init_wait(Vcpu *cpu);

/*
 * vcpu_post: post @req (RUN, PAUSE or EXIT) and kick the thread out of
 * KVM_RUN, without waiting. Returns the number to pass to vcpu_wait, or 0
 * when the vCPU is already there. Main thread, never a vCPU thread.
 */
guint64 vcpu_post(Vcpu *cpu, VcpuRequest req);

/* vcpu_wait: wait until the request numbered @seq (from vcpu_post; 0 does
 * not wait) is acknowledged, or the thread has exited. */
void vcpu_wait(Vcpu *cpu, guint64 seq);

/* Post @req, kick the thread out of KVM_RUN and wait until it has reached
 * the matching state. Must not be called from a vCPU thread. */
void vcpu_request(Vcpu *cpu, VcpuRequest req);

/*
 * vcpu_request_all: post @req to each of the @n vCPUs at @cpus first,
 * then wait for them all, so that pausing takes as long as the slowest
 * vCPU, not the sum of them. Same rules as vcpu_request.
 */
void vcpu_request_all(Vcpu *cpus, unsigned int n, VcpuRequest req);

/*
 * vcpu_save_state / vcpu_restore_state: copy @cpu's whole state into @st,
 * or load it from @st, on the vCPU's own thread (x86_vcpu_state_get/put).
 * Only while the vCPU is paused: a running vCPU refuses ("vCPU state can
 * only be saved while paused"). Main thread; blocks until answered.
 */
bool vcpu_save_state(Vcpu *cpu, X86VcpuState *st, GError **errp);
bool vcpu_restore_state(Vcpu *cpu, const X86VcpuState *st, GError **errp);

/*
 * vcpu_throttle: make a running vCPU sleep @sleep_ns outside KVM_RUN
 * before it enters the guest again (auto-converge). Does not block and
 * does not use the mailbox: any thread may call it, and a pause or exit
 * request cuts the sleep short. A throttle still pending is not renewed.
 */
void vcpu_throttle(Vcpu *cpu, gint64 sleep_ns);

/* Join the thread (after VCPU_REQ_EXIT) and close the vCPU. */
void vcpu_destroy(Vcpu *cpu);

/* Install the kick signal handler (once per process). */
void vcpu_signals_init(void);

#endif /* KESTREL_VCPU_H */
