/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-blk-pci. See virtio-blk.h.
 *
 * A request is checked completely before any I/O: its header, that its
 * sectors lie inside the disk, and that every buffer lies inside guest
 * RAM. A malformed chain (no header, no status byte) breaks the device,
 * as the spec allows; a well-formed request for something impossible
 * (beyond the end, misaligned, read-only disk) answers IOERR or UNSUPP.
 * Nothing the guest posts can make kestrel touch memory outside guest RAM
 * or bytes outside the disk.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <liburing.h>

#include "block/blockdev.h"
#include "bytes.h"
#include "error.h"
#include "migration/vmstate.h"
#include "virtio/virtio-blk.h"
#include "virtio/virtio-pci.h"
#include "virtio/virtio.h"

#define PCI_CLASS_STORAGE_SCSI  0x010000
#define BLK_QUEUE_SIZE          256
#define BLK_SECTOR              512u
#define BLK_IO_THREADS          8
/* One discard/write-zeroes segment per request, as QEMU offers. */
#define BLK_MAX_DISCARD_SECTORS (UINT32_MAX / BLK_SECTOR)

typedef struct VirtioBlk VirtioBlk;

typedef struct {
    VirtioBlk *blk;
    unsigned int q;
    uint16_t head;
    uint32_t epoch;                     /* the device's, when popped */
    uint32_t type;
    uint64_t offset;                    /* bytes */
    uint64_t len;                       /* data bytes */
    uint64_t status_gpa;
    uint32_t in_len;                    /* the writable part, status incl. */
    bool unmap;                         /* write-zeroes: may unmap */
    unsigned int niov;
    struct iovec *iov;
    /* The writable data buffers, marked dirty once written. */
    unsigned int n_in;
    VirtqSeg *in;
    int64_t start_ns;
    uint8_t status;
} BlkReq;

struct VirtioBlk {
    Device dev;                         /* first: a Device* is ours */
    /* Properties. */
    char *drive;
    char *serial;
    char *werror_prop, *rerror_prop;
    uint32_t num_queues;
    uint32_t logical_block_size;
    bool no_ioeventfd;
    bool no_discard, no_write_zeroes;

    VirtioDevice vdev;
    VirtioPci *pci;
    BlockBackend *blk;
    BlockNode *bs;
    bool read_only;
    BlockErrorPolicy werror, rerror;
    uint64_t capacity;                  /* sectors, config */
    char *qdev;

    /* Host side. vdev.lock covers these. */
    GThreadPool *pool;
    unsigned int inflight;
    GCond drained;
    uint32_t epoch;                     /* bumped by every reset */
    GQueue retry;                       /* BlkReq* stopped by werror=stop */
    bool stopped_for_error;
    /* io_uring, for raw images (aio=io_uring in QEMU's words). */
    bool uring;
    bool no_uring;                      /* property x-uring=off */
    struct io_uring ring;
    int uring_fd;
    unsigned int uring_pending;         /* prepared, not yet submitted */
    GThread *uring_thread;

    void (*emit_event)(void *opaque, const char *name, JsonObject *data);
    void (*io_error_stop)(void *opaque);
    void *ctx_opaque;
};

#define VDEV_BLK(v) ((VirtioBlk *)((char *)(v) - offsetof(VirtioBlk, vdev)))

/* --- requests ----------------------------------------------------------- */

static void req_free(BlkReq *r)
{
    g_free(r->iov);
    g_free(r->in);
    g_free(r);
}

/* Host addresses for @len bytes of @elem's segments from @first, skipping
 * @skip bytes of it. False if a buffer is not inside one RAM region. */
static bool req_map(VirtioBlk *b, BlkReq *r, const VirtqElem *elem,
                    unsigned int first, unsigned int count, uint64_t skip,
                    uint64_t len, bool writable)
{
    r->iov = g_new(struct iovec, count ? count : 1);
    if (writable) {
        r->in = g_new(VirtqSeg, count ? count : 1);
    }
    for (unsigned int i = first; i < first + count && len; i++) {
        uint64_t gpa = elem->seg[i].gpa, n = elem->seg[i].len;
        const void *hva;

        if (skip >= n) {
            skip -= n;
            continue;
        }
        gpa += skip;
        n -= skip;
        skip = 0;
        n = MIN(n, len);
        hva = memmap_hva(b->vdev.mem, gpa, n);
        if (!hva) {
            return false;
        }
        /* Written by the I/O thread, and marked dirty after (not now: a
         * migration pass in between would copy the page unwritten and
         * clear its bit). */
        r->iov[r->niov].iov_base = (void *)hva;
        r->iov[r->niov].iov_len = n;
        r->niov++;
        if (writable) {
            r->in[r->n_in].gpa = gpa;
            r->in[r->n_in].len = (uint32_t)n;
            r->n_in++;
        }
        len -= n;
    }
    return len == 0;
}

/* Whether [offset, offset+len) lies inside the disk, block aligned. */
static bool req_range_ok(VirtioBlk *b, uint64_t sector, uint64_t len)
{
    uint64_t lbs = b->logical_block_size;

    if (sector > b->capacity || (sector * BLK_SECTOR) % lbs || len % lbs) {
        return false;
    }
    return len / BLK_SECTOR <= b->capacity - sector;
}

static BlockAcctType req_acct_type(uint32_t type)
{
    switch (type) {
    case VIRTIO_BLK_T_IN:
        return BLOCK_ACCT_READ;
    case VIRTIO_BLK_T_FLUSH:
        return BLOCK_ACCT_FLUSH;
    case VIRTIO_BLK_T_DISCARD:
        return BLOCK_ACCT_UNMAP;
    default:
        return BLOCK_ACCT_WRITE;
    }
}

/* Return a finished request to the guest (device lock held). */
static void req_complete_locked(VirtioBlk *b, BlkReq *r)
{
    VirtioDevice *vdev = &b->vdev;
    VirtQueue *vq = &vdev->vq[r->q];

    /* A reset since the request was taken: the ring is gone. */
    if (r->epoch == b->epoch && vq->ready && !vdev->broken) {
        memmap_write(vdev->mem, r->status_gpa, &r->status, 1);
        virtqueue_push(vq, r->head, r->in_len);
        virtio_queue_notify_guest(vdev, r->q);
    }
}

static void req_emit_error(VirtioBlk *b, BlkReq *r, int err,
                           BlockErrorPolicy action)
{
    JsonObject *data;
    const char *act = action == BLOCK_ERROR_IGNORE ? "ignore" :
                      action == BLOCK_ERROR_REPORT ? "report" : "stop";

    if (!b->emit_event) {
        return;
    }
    data = json_object_new();
    json_object_set_string_member(data, "device", blk_name(b->blk));
    json_object_set_string_member(data, "node-name",
                                  block_node_name(b->bs) ?
                                  block_node_name(b->bs) : "");
    json_object_set_string_member(data, "operation",
                                  r->type == VIRTIO_BLK_T_IN ? "read" :
                                                               "write");
    json_object_set_string_member(data, "action", act);
    json_object_set_boolean_member(data, "nospace", err == ENOSPC);
    json_object_set_string_member(data, "reason", g_strerror(err));
    b->emit_event(b->ctx_opaque, "BLOCK_IO_ERROR", data);
}

static int req_do_io(VirtioBlk *b, BlkReq *r)
{
    switch (r->type) {
    case VIRTIO_BLK_T_IN:
        return block_preadv(b->bs, r->offset, r->iov, (int)r->niov);
    case VIRTIO_BLK_T_OUT:
        return block_pwritev(b->bs, r->offset, r->iov, (int)r->niov);
    case VIRTIO_BLK_T_FLUSH:
        return block_flush(b->bs);
    case VIRTIO_BLK_T_DISCARD:
        return block_discard(b->bs, r->offset, r->len);
    case VIRTIO_BLK_T_WRITE_ZEROES:
        return block_write_zeroes(b->bs, r->offset, r->len, r->unmap);
    default:
        return 0;
    }
}

/* A request is done with @rc (0 or -errno): any thread. */
static void req_finish(BlkReq *r, int rc)
{
    VirtioBlk *b = r->blk;
    int64_t ns = (g_get_monotonic_time() * 1000) - r->start_ns;
    BlockAcctType acct = req_acct_type(r->type);

    if (r->type == VIRTIO_BLK_T_IN) {
        for (unsigned int i = 0; i < r->n_in; i++) {
            memmap_mark_dirty(b->vdev.mem, r->in[i].gpa, r->in[i].len);
        }
    }
    blk_account(b->blk, acct, r->len, r->offset, ns, rc < 0);
    r->status = VIRTIO_BLK_S_OK;
    if (rc < 0) {
        bool is_read = r->type == VIRTIO_BLK_T_IN;
        BlockErrorPolicy p = is_read ? b->rerror : b->werror;

        if (p == BLOCK_ERROR_ENOSPC) {
            p = rc == -ENOSPC ? BLOCK_ERROR_STOP : BLOCK_ERROR_REPORT;
        }
        req_emit_error(b, r, -rc, p);
        blk_set_io_status(b->blk, -rc);
        if (p == BLOCK_ERROR_STOP) {
            /* Kept until the VM runs again (cont), then retried. */
            g_mutex_lock(&b->vdev.lock);
            g_queue_push_tail(&b->retry, r);
            if (!b->stopped_for_error && b->io_error_stop) {
                b->stopped_for_error = true;
                b->io_error_stop(b->ctx_opaque);
            }
            b->inflight--;
            g_cond_broadcast(&b->drained);
            g_mutex_unlock(&b->vdev.lock);
            return;
        }
        r->status = p == BLOCK_ERROR_IGNORE ? VIRTIO_BLK_S_OK :
                                              VIRTIO_BLK_S_IOERR;
    }
    g_mutex_lock(&b->vdev.lock);
    req_complete_locked(b, r);
    b->inflight--;
    g_cond_broadcast(&b->drained);
    g_mutex_unlock(&b->vdev.lock);
    req_free(r);
}

/* I/O thread of the pool: carry out one request synchronously. */
static void req_run(gpointer data, gpointer user_data)
{
    BlkReq *r = data;

    (void)user_data;
    req_finish(r, req_do_io(r->blk, r));
}

/* --- io_uring (raw images) ------------------------------------------------ */

/*
 * A raw image on a file or block device takes its reads, writes and
 * flushes through one io_uring per disk: submitted where the request is
 * taken (no thread hop), completed by the disk's completion thread. The
 * formats, and discard and write-zeroes, go to the pool.
 */
static void uring_finish_short(BlkReq *r, int64_t done)
{
    uint64_t left = r->len - (uint64_t)done;
    struct iovec *iov = r->iov;
    int niov = (int)r->niov;
    uint64_t skip = (uint64_t)done;
    int rc;

    /* Short transfers only happen at the end of the file: what is left
     * goes through the block layer, which reads zeroes past the end. */
    while (niov && skip >= iov->iov_len) {
        skip -= iov->iov_len;
        iov++;
        niov--;
    }
    if (niov) {
        struct iovec first = *iov;
        g_autofree struct iovec *copy = g_new(struct iovec, niov);

        memcpy(copy, iov, sizeof(*copy) * (size_t)niov);
        first.iov_base = (char *)first.iov_base + skip;
        first.iov_len -= skip;
        copy[0] = first;
        rc = r->type == VIRTIO_BLK_T_IN
            ? block_preadv(r->blk->bs, r->offset + (uint64_t)done, copy, niov)
            : block_pwritev(r->blk->bs, r->offset + (uint64_t)done, copy,
                            niov);
    } else {
        rc = -EIO;
    }
    (void)left;
    req_finish(r, rc);
}

static gpointer uring_thread(gpointer opaque)
{
    VirtioBlk *b = opaque;

    for (;;) {
        struct io_uring_cqe *cqe;
        BlkReq *r;
        int res;

        if (io_uring_wait_cqe(&b->ring, &cqe) < 0) {
            continue;
        }
        r = io_uring_cqe_get_data(cqe);
        res = cqe->res;
        io_uring_cqe_seen(&b->ring, cqe);
        if (!r) {
            return NULL;                /* the stop marker */
        }
        if (res >= 0 && (r->type == VIRTIO_BLK_T_IN ||
                         r->type == VIRTIO_BLK_T_OUT) &&
            (uint64_t)res < r->len) {
            uring_finish_short(r, res);
        } else {
            req_finish(r, res < 0 ? res : 0);
        }
    }
}

static bool uring_setup(VirtioBlk *b)
{
    if (block_raw_fd(b->bs) < 0 ||
        io_uring_queue_init(BLK_QUEUE_SIZE * 2, &b->ring, 0) < 0) {
        return false;
    }
    b->uring_fd = block_raw_fd(b->bs);
    b->uring = true;
    b->uring_thread = g_thread_new("blk-uring", uring_thread, b);
    return true;
}

static void uring_teardown(VirtioBlk *b)
{
    struct io_uring_sqe *sqe;

    if (!b->uring) {
        return;
    }
    sqe = io_uring_get_sqe(&b->ring);
    if (sqe) {
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data(sqe, NULL);
        io_uring_submit(&b->ring);
        g_thread_join(b->uring_thread);
    }
    io_uring_queue_exit(&b->ring);
    b->uring = false;
}

/* Submit @r on the ring; false: not a ring request (device lock held). */
static bool uring_submit_locked(VirtioBlk *b, BlkReq *r)
{
    struct io_uring_sqe *sqe;

    /* Flushes go to the pool too: the block layer knows cache modes
     * (cache=unsafe does not flush) and they are rare. */
    if (!b->uring || (r->type != VIRTIO_BLK_T_IN &&
                      r->type != VIRTIO_BLK_T_OUT)) {
        return false;
    }
    sqe = io_uring_get_sqe(&b->ring);
    if (!sqe) {
        io_uring_submit(&b->ring);
        sqe = io_uring_get_sqe(&b->ring);
        if (!sqe) {
            return false;
        }
    }
    switch (r->type) {
    case VIRTIO_BLK_T_IN:
        io_uring_prep_readv(sqe, b->uring_fd, r->iov, r->niov, r->offset);
        break;
    default:
        io_uring_prep_writev(sqe, b->uring_fd, r->iov, r->niov, r->offset);
        break;
    }
    io_uring_sqe_set_data(sqe, r);
    return true;
}

/* Answer at once, without I/O (device lock held). */
static void req_answer_now(VirtioBlk *b, BlkReq *r, uint8_t status)
{
    r->status = status;
    req_complete_locked(b, r);
    req_free(r);
}

/* Parse the one discard / write-zeroes segment. */
static bool req_parse_ranges(VirtioBlk *b, BlkReq *r, const VirtqElem *elem,
                             uint8_t *status)
{
    uint8_t seg[16];
    uint64_t sector;
    uint32_t nsect, flags;

    if (elem->out_len != 16 + sizeof(seg) ||
        virtqueue_elem_read(b->vdev.mem, elem, 16, seg, sizeof(seg)) !=
            sizeof(seg)) {
        /* Zero or several segments: we offer max_*_seg = 1. */
        *status = VIRTIO_BLK_S_UNSUPP;
        return false;
    }
    sector = le64_load(seg);
    nsect = le32_load(seg + 8);
    flags = le32_load(seg + 12);
    if ((r->type == VIRTIO_BLK_T_DISCARD && flags) ||
        (flags & ~(uint32_t)VIRTIO_BLK_WZ_FLAG_UNMAP)) {
        *status = VIRTIO_BLK_S_UNSUPP;
        return false;
    }
    if (nsect > BLK_MAX_DISCARD_SECTORS ||
        !req_range_ok(b, sector, (uint64_t)nsect * BLK_SECTOR)) {
        blk_account_invalid(b->blk, req_acct_type(r->type));
        *status = VIRTIO_BLK_S_IOERR;
        return false;
    }
    r->offset = sector * BLK_SECTOR;
    r->len = (uint64_t)nsect * BLK_SECTOR;
    r->unmap = flags & VIRTIO_BLK_WZ_FLAG_UNMAP;
    return true;
}

/*
 * Turn a popped chain into a request. Returns NULL after answering it
 * (bad request) or breaking the device (malformed chain).
 */
static BlkReq *req_prepare(VirtioBlk *b, unsigned int q,
                           const VirtqElem *elem)
{
    VirtioDevice *vdev = &b->vdev;
    BlkReq *r;
    uint8_t hdr[16];
    uint64_t sector;
    uint8_t status = VIRTIO_BLK_S_OK;
    const VirtqSeg *last;

    if (elem->out_len < sizeof(hdr) || elem->in_len < 1) {
        virtio_set_broken(vdev, "request without header or status byte");
        return NULL;
    }
    virtqueue_elem_read(vdev->mem, elem, 0, hdr, sizeof(hdr));
    last = &elem->seg[elem->n_out + elem->n_in - 1];
    r = g_new0(BlkReq, 1);
    r->blk = b;
    r->q = q;
    r->head = elem->head;
    r->epoch = b->epoch;
    r->type = le32_load(hdr);
    r->status_gpa = last->gpa + last->len - 1;
    r->in_len = (uint32_t)MIN(elem->in_len, UINT32_MAX);
    r->start_ns = g_get_monotonic_time() * 1000;
    sector = le64_load(hdr + 8);

    switch (r->type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT: {
        bool in = r->type == VIRTIO_BLK_T_IN;

        r->len = in ? elem->in_len - 1 : elem->out_len - sizeof(hdr);
        if (!in && b->read_only) {
            status = VIRTIO_BLK_S_IOERR;
            break;
        }
        if (!req_range_ok(b, sector, r->len)) {
            blk_account_invalid(b->blk, req_acct_type(r->type));
            status = VIRTIO_BLK_S_IOERR;
            break;
        }
        r->offset = sector * BLK_SECTOR;
        if (!(in ? req_map(b, r, elem, elem->n_out, elem->n_in, 0, r->len,
                           true)
                 : req_map(b, r, elem, 0, elem->n_out, sizeof(hdr), r->len,
                           false))) {
            status = VIRTIO_BLK_S_IOERR;
        }
        if (in) {
            r->in_len = (uint32_t)MIN(r->len + 1, UINT32_MAX);
        } else {
            r->in_len = 1;
        }
        break;
    }
    case VIRTIO_BLK_T_FLUSH:
        r->in_len = 1;
        break;
    case VIRTIO_BLK_T_GET_ID: {
        char id[VIRTIO_BLK_ID_BYTES] = { 0 };
        VirtqElem *e = (VirtqElem *)elem;

        if (b->serial) {
            memcpy(id, b->serial, MIN(strlen(b->serial), sizeof(id)));
        }
        /* The id goes before the status byte, as much as fits. */
        r->in_len = (uint32_t)virtqueue_elem_write(
            vdev->mem, e, 0, id, MIN(sizeof(id), elem->in_len - 1)) + 1;
        break;
    }
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES:
        r->in_len = 1;
        if (b->read_only) {
            status = VIRTIO_BLK_S_IOERR;
            break;
        }
        if ((r->type == VIRTIO_BLK_T_DISCARD && b->no_discard) ||
            (r->type == VIRTIO_BLK_T_WRITE_ZEROES && b->no_write_zeroes)) {
            status = VIRTIO_BLK_S_UNSUPP;
            break;
        }
        req_parse_ranges(b, r, elem, &status);
        break;
    default:
        r->in_len = 1;
        status = VIRTIO_BLK_S_UNSUPP;
        break;
    }
    if (status != VIRTIO_BLK_S_OK || r->type == VIRTIO_BLK_T_GET_ID) {
        req_answer_now(b, r, status);
        return NULL;
    }
    return r;
}

static void blk_submit_locked(VirtioBlk *b, BlkReq *r)
{
    b->inflight++;
    if (uring_submit_locked(b, r)) {
        b->uring_pending++;
        return;
    }
    g_thread_pool_push(b->pool, r, NULL);
}

/* One io_uring_enter for everything one kick brought (lock held). */
static void blk_submit_flush_locked(VirtioBlk *b)
{
    if (b->uring_pending) {
        io_uring_submit(&b->ring);
        b->uring_pending = 0;
    }
}

/* --- virtio device ops (device lock held) ------------------------------ */

static void blk_queue_notify(VirtioDevice *vdev, unsigned int q)
{
    VirtioBlk *b = VDEV_BLK(vdev);
    VirtQueue *vq = &vdev->vq[q];
    VirtqElem *elem = vdev->elem;

    while (!vdev->broken) {
        g_autoptr(GError) err = NULL;
        VirtqPop rc = virtqueue_pop(vq, elem, &err);
        BlkReq *r;

        if (rc == VIRTQ_EMPTY) {
            break;
        }
        if (rc == VIRTQ_BROKEN) {
            g_autofree char *why = g_strdup_printf("queue %u: %s", q,
                                                   err->message);

            virtio_set_broken(vdev, why);
            break;
        }
        r = req_prepare(b, q, elem);
        if (r) {
            blk_submit_locked(b, r);
        }
    }
    /* What was taken runs, even when a later chain broke the device. */
    blk_submit_flush_locked(b);
}

static uint32_t blk_config_size(VirtioDevice *vdev)
{
    (void)vdev;
    return VIRTIO_BLK_CONFIG_SIZE;
}

static void blk_config_image(VirtioBlk *b, uint8_t *cfg)
{
    uint32_t lbs = b->logical_block_size;
    uint32_t lbs_sectors = lbs / BLK_SECTOR;

    memset(cfg, 0, VIRTIO_BLK_CONFIG_SIZE);
    le64_store(cfg + 0, b->capacity);
    le32_store(cfg + 12, BLK_QUEUE_SIZE - 2);             /* seg_max */
    le32_store(cfg + 20, lbs);                           /* blk_size */
    cfg[24] = 0;                                         /* physical exp */
    le16_store(cfg + 26, (uint16_t)lbs_sectors);         /* min_io_size */
    cfg[32] = 1;                                         /* writeback */
    le16_store(cfg + 34, (uint16_t)b->num_queues);
    le32_store(cfg + 36, BLK_MAX_DISCARD_SECTORS / lbs_sectors *
                         lbs_sectors);                   /* discard */
    le32_store(cfg + 40, 1);
    le32_store(cfg + 44, lbs_sectors);
    le32_store(cfg + 48, BLK_MAX_DISCARD_SECTORS / lbs_sectors *
                         lbs_sectors);                   /* write zeroes */
    le32_store(cfg + 52, 1);
    cfg[56] = 1;                                         /* may unmap */
}

static void blk_config_read(VirtioDevice *vdev, uint32_t off, uint8_t *data,
                            uint32_t len)
{
    uint8_t cfg[VIRTIO_BLK_CONFIG_SIZE];

    blk_config_image(VDEV_BLK(vdev), cfg);
    memcpy(data, cfg + off, len);
}

/* A reset while requests run: they finish, but nothing goes back into
 * the rings that the reset took away (the epoch). */
static void blk_reset(VirtioDevice *vdev)
{
    VirtioBlk *b = VDEV_BLK(vdev);

    b->epoch++;
    while (!g_queue_is_empty(&b->retry)) {
        req_free(g_queue_pop_head(&b->retry));
    }
}

static const VirtioDeviceOps blk_ops = {
    .name = "virtio-blk",
    .device_id = VIRTIO_ID_BLOCK,
    .queue_size = BLK_QUEUE_SIZE,
    .config_size = blk_config_size,
    .config_read = blk_config_read,
    .queue_notify = blk_queue_notify,
    .reset = blk_reset,
};

/* --- construction ------------------------------------------------------ */

static void blk_resized(void *opaque)
{
    VirtioBlk *b = opaque;

    g_mutex_lock(&b->vdev.lock);
    b->capacity = block_length(b->bs) / BLK_SECTOR;
    virtio_config_changed(&b->vdev);
    g_mutex_unlock(&b->vdev.lock);
}

static bool blk_realize(Device *dev, const DeviceContext *ctx, GError **errp)
{
    VirtioBlk *b = (VirtioBlk *)dev;
    uint64_t features;
    int devfn = dev->devfn;
    uint32_t align;
    VirtioPciConfig pc = { .class_code = PCI_CLASS_STORAGE_SCSI };

    if (!b->drive) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "virtio-blk-pci: drive property not set");
        return false;
    }
    if (!ctx->blocks) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Property 'drive' can't find value '%s'", b->drive);
        return false;
    }
    if (b->logical_block_size % BLK_SECTOR ||
        (b->logical_block_size & (b->logical_block_size - 1))) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "virtio-blk-pci: logical_block_size must be a power "
                    "of 2 of at least 512, not %u", b->logical_block_size);
        return false;
    }
    if (b->serial && strlen(b->serial) > VIRTIO_BLK_ID_BYTES) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "virtio-blk-pci: serial '%s' is longer than %u bytes",
                    b->serial, VIRTIO_BLK_ID_BYTES);
        return false;
    }
    b->werror = BLOCK_ERROR_ENOSPC;
    b->rerror = BLOCK_ERROR_REPORT;
    if (b->werror_prop &&
        !block_error_policy_parse(b->werror_prop, &b->werror)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "'%s' invalid write error action", b->werror_prop);
        return false;
    }
    if (b->rerror_prop &&
        (!block_error_policy_parse(b->rerror_prop, &b->rerror) ||
         b->rerror == BLOCK_ERROR_ENOSPC)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "'%s' invalid read error action", b->rerror_prop);
        return false;
    }
    b->qdev = device_context_qom_path(ctx, dev, "/virtio-backend");
    b->blk = block_graph_attach(ctx->blocks, b->drive, b->qdev, errp);
    if (!b->blk) {
        return false;
    }
    b->werror = blk_error_policy(b->blk, false, b->werror);
    b->rerror = blk_error_policy(b->blk, true, b->rerror);
    b->bs = blk_node(b->blk);
    b->read_only = block_read_only(b->bs);
    align = block_alignment(b->bs);
    if (align > b->logical_block_size) {
        /* A guest request must be something the host can do directly. */
        b->logical_block_size = align;
    }
    b->capacity = block_length(b->bs) / BLK_SECTOR;
    blk_set_resize_cb(b->blk, blk_resized, b);
    b->emit_event = ctx->emit_event;
    b->io_error_stop = ctx->io_error_stop;
    b->ctx_opaque = ctx->opaque;

    if (devfn < 0) {
        int slot = pci_host_free_slot(ctx->pci);

        if (slot < 0) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "no free PCI slot left for virtio-blk-pci");
            return false;
        }
        devfn = slot << 3;
    }
    features = 1ULL << VIRTIO_BLK_F_SEG_MAX | 1ULL << VIRTIO_BLK_F_BLK_SIZE |
               1ULL << VIRTIO_BLK_F_FLUSH | 1ULL << VIRTIO_BLK_F_TOPOLOGY;
    if (b->read_only) {
        features |= 1ULL << VIRTIO_BLK_F_RO;
    } else {
        if (!b->no_discard) {
            features |= 1ULL << VIRTIO_BLK_F_DISCARD;
        }
        if (!b->no_write_zeroes) {
            features |= 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
        }
    }
    if (b->num_queues > 1) {
        features |= 1ULL << VIRTIO_BLK_F_MQ;
    }
    g_cond_init(&b->drained);
    g_queue_init(&b->retry);
    b->pool = g_thread_pool_new(req_run, NULL, BLK_IO_THREADS, FALSE, NULL);
    if (!b->no_uring) {
        uring_setup(b);
    }
    virtio_init(&b->vdev, &blk_ops, dev->id, ctx->mem, b->num_queues,
                features);
    pc.devfn = (uint8_t)devfn;
    pc.bar_addr = devices_pci_window((unsigned int)devfn);
    pc.kvm = b->no_ioeventfd ? NULL : ctx->kvm;
    b->pci = virtio_pci_new(&b->vdev, ctx->pci, "virtio-blk-pci", &pc, errp);
    return b->pci != NULL;
}

/* Wait until no request is in flight (device lock held). */
static void blk_drain_locked(VirtioBlk *b)
{
    while (b->inflight) {
        g_cond_wait(&b->drained, &b->vdev.lock);
    }
}

static void blk_unrealize(Device *dev)
{
    VirtioBlk *b = (VirtioBlk *)dev;

    if (b->pool) {
        g_mutex_lock(&b->vdev.lock);
        blk_drain_locked(b);
        g_mutex_unlock(&b->vdev.lock);
        g_thread_pool_free(b->pool, FALSE, TRUE);
        b->pool = NULL;
        uring_teardown(b);
        while (!g_queue_is_empty(&b->retry)) {
            req_free(g_queue_pop_head(&b->retry));
        }
        g_cond_clear(&b->drained);
    }
    virtio_pci_free(b->pci);
    b->pci = NULL;
    if (b->vdev.ops) {
        virtio_cleanup(&b->vdev);
        b->vdev.ops = NULL;
    }
    g_free(b->qdev);
}

static void blk_class_reset(Device *dev)
{
    VirtioBlk *b = (VirtioBlk *)dev;

    /* System reset: let what runs finish first, as QEMU drains. */
    g_mutex_lock(&b->vdev.lock);
    blk_drain_locked(b);
    g_mutex_unlock(&b->vdev.lock);
    virtio_pci_reset(b->pci);
}

static void blk_pause(Device *dev)
{
    VirtioBlk *b = (VirtioBlk *)dev;

    /* No new request, interrupts held; then the ones in flight finish,
     * so that the rings (and RAM) are final while the VM is stopped. */
    virtio_pci_pause(b->pci);
    g_mutex_lock(&b->vdev.lock);
    blk_drain_locked(b);
    g_mutex_unlock(&b->vdev.lock);
}

static void blk_resume(Device *dev)
{
    VirtioBlk *b = (VirtioBlk *)dev;

    g_mutex_lock(&b->vdev.lock);
    b->stopped_for_error = false;
    while (!g_queue_is_empty(&b->retry)) {
        BlkReq *r = g_queue_pop_head(&b->retry);

        if (r->epoch == b->epoch) {
            blk_submit_locked(b, r);
        } else {
            req_free(r);
        }
    }
    blk_submit_flush_locked(b);
    g_mutex_unlock(&b->vdev.lock);
    virtio_pci_resume(b->pci);
}

static bool blk_post_load(void *opaque, uint32_t version, GError **errp)
{
    VirtioBlk *b = opaque;

    (void)version;
    if (b->capacity != block_length(b->bs) / BLK_SECTOR) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "field 'capacity': %" G_GUINT64_FORMAT " sectors, the "
                    "disk here has %" G_GUINT64_FORMAT, b->capacity,
                    block_length(b->bs) / BLK_SECTOR);
        return false;
    }
    return true;
}

/* Wire names: never rename. No request is in flight at a save (pause
 * drained them), so the rings are the whole state. */
static const VmsDesc blk_vmsd = {
    .name = "virtio-blk",
    .version = 1,
    .min_version = 1,
    .post_load = blk_post_load,
    .fields = (const VmsField[]) {
        VMS_STRUCT(VirtioBlk, vdev, virtio_device_vmsd, VirtioDevice),
        VMS_STRUCT_PTR(VirtioBlk, pci, virtio_pci_vmsd, VirtioPci),
        VMS_U64(VirtioBlk, capacity),
        VMS_END_OF_LIST,
    },
};

#define MODERN_ONLY "kestrel's virtio devices are modern (virtio 1.x) only"

static const DeviceProp blk_props[] = {
    { "addr", DEVICE_PROP_PCI_ADDR, offsetof(Device, devfn) },
    { "bus", DEVICE_PROP_PCI_BUS, 0 },
    { "disable-legacy", DEVICE_PROP_MUST_BE_ON, 0, MODERN_ONLY },
    { "disable-modern", DEVICE_PROP_MUST_BE_OFF, 0, MODERN_ONLY },
    { "discard", DEVICE_PROP_BOOL_NEG, offsetof(VirtioBlk, no_discard) },
    { "drive", DEVICE_PROP_STR, offsetof(VirtioBlk, drive) },
    { "ioeventfd", DEVICE_PROP_BOOL_NEG, offsetof(VirtioBlk, no_ioeventfd) },
    { "logical_block_size", DEVICE_PROP_U32,
      offsetof(VirtioBlk, logical_block_size), NULL, 512, 4096 },
    { "num-queues", DEVICE_PROP_U32, offsetof(VirtioBlk, num_queues), NULL,
      1, VIRTIO_MAX_QUEUES },
    { "rerror", DEVICE_PROP_STR, offsetof(VirtioBlk, rerror_prop) },
    { "serial", DEVICE_PROP_STR, offsetof(VirtioBlk, serial) },
    { "werror", DEVICE_PROP_STR, offsetof(VirtioBlk, werror_prop) },
    { "write-zeroes", DEVICE_PROP_BOOL_NEG,
      offsetof(VirtioBlk, no_write_zeroes) },
    /* off: every request through the thread pool (for comparison) */
    { "x-uring", DEVICE_PROP_BOOL_NEG, offsetof(VirtioBlk, no_uring) },
    { NULL },
};

static void blk_instance_init(Device *dev)
{
    VirtioBlk *b = (VirtioBlk *)dev;

    b->num_queues = 1;
    b->logical_block_size = BLK_SECTOR;
}

const DeviceClass virtio_blk_pci_class = {
    .name = "virtio-blk-pci",
    .instance_size = sizeof(VirtioBlk),
    .props = blk_props,
    .instance_init = blk_instance_init,
    .realize = blk_realize,
    .reset = blk_class_reset,
    .unrealize = blk_unrealize,
    .vmsd = &blk_vmsd,
    .pause = blk_pause,
    .resume = blk_resume,
};
