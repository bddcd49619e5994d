/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Split virtqueues (virtio 1.x, 2.7), device side. The rings live in guest
 * RAM and the guest may change them at any time, so every descriptor is
 * copied out before it is checked, and every check that fails makes the
 * caller mark the device broken: nothing here trusts the guest or touches
 * host memory outside guest RAM. Writes into the used ring go through the
 * dirty-marking helpers of memmap.h.
 *
 * Not thread-safe: the owning device's lock covers a queue.
 */
#ifndef KESTREL_VIRTQUEUE_H
#define KESTREL_VIRTQUEUE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "memmap.h"

#define VIRTQ_MAX_SIZE          1024    /* largest queue, longest chain */
#define VIRTQ_NO_VECTOR         0xffff

#define VIRTQ_DESC_F_NEXT       1
#define VIRTQ_DESC_F_WRITE      2
#define VIRTQ_DESC_F_INDIRECT   4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY  1

/* One guest buffer: checked to lie inside guest RAM. */
typedef struct {
    uint64_t gpa;
    uint32_t len;
} VirtqSeg;

/* One descriptor chain: device-readable segments first, then writable. */
typedef struct {
    uint16_t head;
    unsigned int n_out;
    unsigned int n_in;
    uint64_t out_len;
    uint64_t in_len;
    VirtqSeg seg[VIRTQ_MAX_SIZE];
} VirtqElem;

typedef struct {
    MemMap *mem;                /* NULL: no such queue on this device */
    uint16_t num_max;           /* size offered by the device */
    /* Guest-visible state (virtqueue_vmsd) from here to the pointers,
     * except event_idx and indirect, derived from the features. */
    uint16_t num;               /* size chosen by the driver */
    bool ready;                 /* enabled by the driver and checked */
    bool event_idx;             /* VIRTIO_F_RING_EVENT_IDX negotiated */
    bool indirect;              /* VIRTIO_F_RING_INDIRECT_DESC negotiated */
    uint16_t msix_vector;
    uint64_t desc_gpa, avail_gpa, used_gpa;
    uint16_t last_avail;        /* next avail entry to take */
    uint16_t used_idx;          /* next used entry to fill */
    uint16_t signalled_used;    /* used_idx at the last interrupt check */
    bool signalled_valid;
    /* Host pointers to the rings, valid while ready (derived from the
     * addresses above: rebuilt by virtqueue_enable and on load). */
    const uint8_t *desc, *avail;
    uint8_t *used;
} VirtQueue;

typedef enum {
    VIRTQ_EMPTY,                /* nothing available */
    VIRTQ_POPPED,               /* *elem holds one chain */
    VIRTQ_BROKEN,               /* the guest broke the rules; errp says how */
} VirtqPop;

/* A queue's state: size, enable, vector, ring addresses, indices.
 * Loading checks an enabled queue as virtqueue_enable does, plus the
 * number of buffers in flight, and maps its rings; the vector is the
 * transport's to check. */
typedef struct VmsDesc VmsDesc;
extern const VmsDesc virtqueue_vmsd;

/* Back to the state after a device reset. */
void virtqueue_reset(VirtQueue *vq, MemMap *mem, uint16_t num_max);

/* The driver enabled the queue: check size and ring placement. False with
 * @errp set if they are invalid (the device is then broken). */
bool virtqueue_enable(VirtQueue *vq, GError **errp);

/* Take the next available chain. */
VirtqPop virtqueue_pop(VirtQueue *vq, VirtqElem *elem, GError **errp);

/* Return chain @head with @written bytes written into its writable part
 * (at most what the chain had: the caller clamps to elem->in_len). */
void virtqueue_push(VirtQueue *vq, uint16_t head, uint32_t written);

/* Whether the driver wants an interrupt for what was pushed since the
 * last call (VIRTQ_AVAIL_F_NO_INTERRUPT or the used_event index). */
bool virtqueue_should_notify(VirtQueue *vq);

/* Copy up to @len bytes from offset @off of the readable part of @elem
 * in guest RAM @mem; returns the number of bytes copied. */
uint64_t virtqueue_elem_read(const MemMap *mem, const VirtqElem *elem,
                             uint64_t off, void *buf, uint64_t len);

/* Copy up to @len bytes of @buf to offset @off of the writable part of
 * @elem, marking the pages dirty; returns the number of bytes copied
 * (what the caller reports to virtqueue_push). */
uint64_t virtqueue_elem_write(MemMap *mem, const VirtqElem *elem,
                              uint64_t off, const void *buf, uint64_t len);

#endif /* KESTREL_VIRTQUEUE_H */
