/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <string.h>

#include "error.h"
#include "migration/vmstate.h"
#include "virtio/virtqueue.h"

/* Ring layouts (virtio 1.x, 2.7.5-2.7.8), little endian. */
#define DESC_SIZE       16
#define AVAIL_HDR       4       /* flags, idx */
#define USED_HDR        4
#define USED_ELEM_SIZE  8       /* le32 id, le32 len */

typedef struct {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
} Desc;

static inline uint16_t ld16(const uint8_t *p)
{
    /* One atomic load: the guest writes these concurrently. */
    return GUINT16_FROM_LE(__atomic_load_n((const uint16_t *)p,
                                           __ATOMIC_RELAXED));
}

static inline void st16(uint8_t *p, uint16_t v)
{
    __atomic_store_n((uint16_t *)p, GUINT16_TO_LE(v), __ATOMIC_RELAXED);
}

static inline void st32(uint8_t *p, uint32_t v)
{
    __atomic_store_n((uint32_t *)p, GUINT32_TO_LE(v), __ATOMIC_RELAXED);
}

static uint64_t avail_size(uint16_t num)
{
    return AVAIL_HDR + 2ULL * num + 2;          /* + used_event */
}

static uint64_t used_size(uint16_t num)
{
    return USED_HDR + (uint64_t)USED_ELEM_SIZE * num + 2;   /* + avail_event */
}

void virtqueue_reset(VirtQueue *vq, MemMap *mem, uint16_t num_max)
{
    memset(vq, 0, sizeof(*vq));
    vq->mem = mem;
    vq->num_max = num_max;
    vq->num = num_max;
    vq->msix_vector = VIRTQ_NO_VECTOR;
}

/* Check size and ring placement, and point at the rings. */
static bool virtqueue_map(VirtQueue *vq, GError **errp)
{
    if (vq->num == 0 || vq->num > vq->num_max || (vq->num & (vq->num - 1))) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "queue size %u is invalid", vq->num);
        return false;
    }
    if ((vq->desc_gpa & 15) || (vq->avail_gpa & 1) || (vq->used_gpa & 3)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "misaligned ring (desc 0x%" G_GINT64_MODIFIER "x avail 0x%"
                    G_GINT64_MODIFIER "x used 0x%" G_GINT64_MODIFIER "x)",
                    vq->desc_gpa, vq->avail_gpa, vq->used_gpa);
        return false;
    }
    vq->desc = memmap_hva(vq->mem, vq->desc_gpa, (uint64_t)DESC_SIZE * vq->num);
    vq->avail = memmap_hva(vq->mem, vq->avail_gpa, avail_size(vq->num));
    /* Writes through it are marked one by one (virtqueue_push). */
    vq->used = memmap_hva_mut(vq->mem, vq->used_gpa, used_size(vq->num));
    if (!vq->desc || !vq->avail || !vq->used) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "ring outside guest RAM (desc 0x%" G_GINT64_MODIFIER "x "
                    "avail 0x%" G_GINT64_MODIFIER "x used 0x%"
                    G_GINT64_MODIFIER "x, size %u)", vq->desc_gpa,
                    vq->avail_gpa, vq->used_gpa, vq->num);
        vq->desc = vq->avail = NULL;
        vq->used = NULL;
        return false;
    }
    return true;
}

bool virtqueue_enable(VirtQueue *vq, GError **errp)
{
    if (!virtqueue_map(vq, errp)) {
        return false;
    }
    vq->last_avail = 0;
    vq->used_idx = 0;
    vq->signalled_valid = false;
    vq->ready = true;
    return true;
}

static bool virtqueue_post_load(void *opaque, uint32_t version,
                                GError **errp)
{
    VirtQueue *vq = opaque;

    vq->desc = vq->avail = NULL;
    vq->used = NULL;
    if (!vq->ready) {
        return true;
    }
    if (!vq->mem) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "field 'ready': the device has no such queue");
        return false;
    }
    /* The same checks as when the driver enabled it: the stream is as
     * untrusted as the guest. */
    if (!virtqueue_map(vq, errp)) {
        g_prefix_error(errp, "field 'num'/ring addresses: ");
        vq->ready = false;
        return false;
    }
    if ((uint16_t)(vq->last_avail - vq->used_idx) > vq->num) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "field 'last_avail': %u buffers in flight (used %u) in "
                    "a queue of %u", (uint16_t)(vq->last_avail -
                                                vq->used_idx),
                    vq->used_idx, vq->num);
        vq->ready = false;
        return false;
    }
    return true;
}

/* Wire names: never rename. */
const VmsDesc virtqueue_vmsd = {
    .name = "virtqueue",
    .version = 1,
    .min_version = 1,
    .post_load = virtqueue_post_load,
    .fields = (const VmsField[]) {
        VMS_U16(VirtQueue, num),
        VMS_BOOL(VirtQueue, ready),
        VMS_U16(VirtQueue, msix_vector),
        VMS_U64(VirtQueue, desc_gpa),
        VMS_U64(VirtQueue, avail_gpa),
        VMS_U64(VirtQueue, used_gpa),
        VMS_U16(VirtQueue, last_avail),
        VMS_U16(VirtQueue, used_idx),
        VMS_U16(VirtQueue, signalled_used),
        VMS_BOOL(VirtQueue, signalled_valid),
        VMS_END_OF_LIST,
    },
};

static Desc desc_load(const uint8_t *table, unsigned int i)
{
    Desc d;

    /* A copy: the guest cannot change what was checked. */
    memcpy(&d, table + (size_t)i * DESC_SIZE, sizeof(d));
    d.addr = GUINT64_FROM_LE(d.addr);
    d.len = GUINT32_FROM_LE(d.len);
    d.flags = GUINT16_FROM_LE(d.flags);
    d.next = GUINT16_FROM_LE(d.next);
    return d;
}

static bool elem_add(VirtQueue *vq, VirtqElem *elem, const Desc *d,
                     GError **errp)
{
    if (elem->n_out + elem->n_in >= VIRTQ_MAX_SIZE) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "descriptor chain %u is longer than %u", elem->head,
                    VIRTQ_MAX_SIZE);
        return false;
    }
    if (d->len && !memmap_hva(vq->mem, d->addr, d->len)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "descriptor chain %u: buffer 0x%" G_GINT64_MODIFIER
                    "x+0x%x is outside guest RAM", elem->head, d->addr,
                    d->len);
        return false;
    }
    if (d->flags & VIRTQ_DESC_F_WRITE) {
        elem->in_len += d->len;
        elem->seg[elem->n_out + elem->n_in++] = (VirtqSeg) {
            .gpa = d->addr, .len = d->len };
    } else {
        if (elem->n_in) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "descriptor chain %u: readable buffer after a "
                        "writable one", elem->head);
            return false;
        }
        elem->out_len += d->len;
        elem->seg[elem->n_out++] = (VirtqSeg) {
            .gpa = d->addr, .len = d->len };
    }
    return true;
}

/* Walk one chain from @head; every index, address and length checked. */
static bool chain_walk(VirtQueue *vq, VirtqElem *elem, GError **errp)
{
    const uint8_t *table = vq->desc;
    unsigned int size = vq->num;
    unsigned int i = elem->head;
    unsigned int seen = 0;
    bool in_indirect = false;

    for (;;) {
        Desc d = desc_load(table, i);

        if (d.flags & VIRTQ_DESC_F_INDIRECT) {
            if (!vq->indirect || in_indirect || seen ||
                (d.flags & VIRTQ_DESC_F_NEXT)) {
                g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                            "descriptor chain %u: indirect descriptor not "
                            "allowed here", elem->head);
                return false;
            }
            if (d.len == 0 || d.len % DESC_SIZE ||
                d.len / DESC_SIZE > VIRTQ_MAX_SIZE) {
                g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                            "descriptor chain %u: indirect table of %u "
                            "bytes", elem->head, d.len);
                return false;
            }
            table = memmap_hva(vq->mem, d.addr, d.len);
            if (!table) {
                g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                            "descriptor chain %u: indirect table 0x%"
                            G_GINT64_MODIFIER "x+0x%x is outside guest RAM",
                            elem->head, d.addr, d.len);
                return false;
            }
            size = d.len / DESC_SIZE;
            i = 0;
            seen = 0;
            in_indirect = true;
            continue;
        }
        if (!elem_add(vq, elem, &d, errp)) {
            return false;
        }
        if (!(d.flags & VIRTQ_DESC_F_NEXT)) {
            return true;
        }
        /* A chain can visit each descriptor of its table once: more
         * means a loop. */
        if (++seen >= size || d.next >= size) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "descriptor chain %u: %s", elem->head,
                        d.next >= size ? "next index out of range"
                                       : "loop or chain too long");
            return false;
        }
        i = d.next;
    }
}

VirtqPop virtqueue_pop(VirtQueue *vq, VirtqElem *elem, GError **errp)
{
    uint16_t avail_idx, pending, head;

    if (!vq->ready) {
        return VIRTQ_EMPTY;
    }
    if (vq->event_idx) {
        /* Our avail_event store (last pop) before this load of the
         * index: else the driver may read the old avail_event, skip its
         * kick, and we see an empty ring, both waiting for the other. */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    }
    avail_idx = ld16(vq->avail + 2);
    /* Ring entries written before idx are visible after this fence. */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    pending = (uint16_t)(avail_idx - vq->last_avail);
    if (pending > vq->num) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "available index moved from %u to %u, beyond the queue "
                    "size %u", vq->last_avail, avail_idx, vq->num);
        return VIRTQ_BROKEN;
    }
    if (pending == 0) {
        return VIRTQ_EMPTY;
    }
    head = ld16(vq->avail + AVAIL_HDR + 2u * (vq->last_avail % vq->num));
    if (head >= vq->num) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "available ring entry %u is out of range", head);
        return VIRTQ_BROKEN;
    }
    elem->head = head;
    elem->n_out = elem->n_in = 0;
    elem->out_len = elem->in_len = 0;
    if (!chain_walk(vq, elem, errp)) {
        return VIRTQ_BROKEN;
    }
    vq->last_avail++;
    if (vq->event_idx) {
        /* avail_event: ask to be notified when the driver passes it. */
        uint64_t off = USED_HDR + (uint64_t)USED_ELEM_SIZE * vq->num;

        st16(vq->used + off, vq->last_avail);
        memmap_mark_dirty(vq->mem, vq->used_gpa + off, 2);
    }
    return VIRTQ_POPPED;
}

void virtqueue_push(VirtQueue *vq, uint16_t head, uint32_t written)
{
    uint64_t off = USED_HDR + (uint64_t)USED_ELEM_SIZE * (vq->used_idx %
                                                          vq->num);

    if (!vq->ready) {
        return;
    }
    st32(vq->used + off, head);
    st32(vq->used + off + 4, written);
    memmap_mark_dirty(vq->mem, vq->used_gpa + off, USED_ELEM_SIZE);
    /* The element must be visible before the index that publishes it. */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    vq->used_idx++;
    st16(vq->used + 2, vq->used_idx);
    memmap_mark_dirty(vq->mem, vq->used_gpa + 2, 2);
}

bool virtqueue_should_notify(VirtQueue *vq)
{
    uint16_t old, event;
    bool valid;

    if (!vq->ready) {
        return false;
    }
    /* Our used idx store must be ordered before we read the driver's
     * flags or used_event (the driver does the mirror image). */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!vq->event_idx) {
        return !(ld16(vq->avail) & VIRTQ_AVAIL_F_NO_INTERRUPT);
    }
    old = vq->signalled_used;
    valid = vq->signalled_valid;
    vq->signalled_used = vq->used_idx;
    vq->signalled_valid = true;
    if (!valid) {
        return true;
    }
    event = ld16(vq->avail + AVAIL_HDR + 2u * vq->num);
    /* virtio 1.x 2.7.10: interrupt if used_event lies in (old, new]. */
    return (uint16_t)(vq->used_idx - event - 1) <
           (uint16_t)(vq->used_idx - old);
}

uint64_t virtqueue_elem_read(const MemMap *mem, const VirtqElem *elem,
                             uint64_t off, void *buf, uint64_t len)
{
    uint8_t *out = buf;
    uint64_t done = 0;

    for (unsigned int i = 0; i < elem->n_out && done < len; i++) {
        const VirtqSeg *s = &elem->seg[i];
        uint64_t n;

        if (off >= s->len) {
            off -= s->len;
            continue;
        }
        n = MIN(s->len - off, len - done);
        /* Checked at pop time; checked again, RAM never shrinks but it
         * costs nothing. */
        if (!memmap_read(mem, s->gpa + off, out + done, n)) {
            break;
        }
        done += n;
        off = 0;
    }
    return done;
}

uint64_t virtqueue_elem_write(MemMap *mem, const VirtqElem *elem,
                              uint64_t off, const void *buf, uint64_t len)
{
    const uint8_t *in = buf;
    uint64_t done = 0;

    for (unsigned int i = elem->n_out; i < elem->n_out + elem->n_in &&
         done < len; i++) {
        const VirtqSeg *s = &elem->seg[i];
        uint64_t n;

        if (off >= s->len) {
            off -= s->len;
            continue;
        }
        n = MIN(s->len - off, len - done);
        /* memmap_write marks the pages dirty: the sender re-sends them. */
        if (!memmap_write(mem, s->gpa + off, in + done, n)) {
            break;
        }
        done += n;
        off = 0;
    }
    return done;
}
