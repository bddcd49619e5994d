/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A vCPU is a thread running an explicit state machine. Other threads talk
 * to it only through its mailbox: post a request, kick, wait for the ack.
 *
 *     PAUSED --RUN--> RUNNING --PAUSE--> PAUSED
 *        \                \
 *         +----EXIT--------+--> EXITED (thread ends)
 *
 * vCPUs start PAUSED: that is -S.
 */
#ifndef KESTREL_VCPU_H
#define KESTREL_VCPU_H

#include <glib.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "kvm.h"

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
} VcpuRequest;

typedef struct Vcpu {
    Vm *vm;
    unsigned int index;
    KvmVcpu kvm;
    GThread *thread;
    pthread_t tid;
    pid_t thread_id;            /* gettid(), for query-cpus-fast */

    GMutex lock;                /* protects everything below */
    GCond cond;
    VcpuRequest req;            /* posted, not yet taken */
    VcpuState state;            /* last state the thread acknowledged */
    /* Requests are numbered: a requester waits for its own number to be
     * acknowledged, not for a state, since the vCPU may move on (a guest
     * that resets itself at once) before the requester looks. */
    guint64 req_seq;            /* number of the last request posted */
    guint64 taken_seq;          /* ... of the last one the thread took */
    guint64 ack_seq;            /* ... of the last one acknowledged */
} Vcpu;

/* Create the KVM vCPU and its (paused) thread. */
bool vcpu_init(Vcpu *cpu, Vm *vm, unsigned int index, GError **errp);

/* Post @req, kick the thread out of KVM_RUN and wait until it has reached
 * the matching state. Must not be called from a vCPU thread. */
void vcpu_request(Vcpu *cpu, VcpuRequest req);

/* Join the thread (after VCPU_REQ_EXIT) and close the vCPU. */
void vcpu_destroy(Vcpu *cpu);

/* Install the kick signal handler (once per process). */
void vcpu_signals_init(void);

#endif /* KESTREL_VCPU_H */
