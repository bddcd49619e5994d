/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stddef.h>
#include <string.h>

#include "error.h"
#include "layout.h"
#include "migration/vmstate.h"
#include "vm.h"
#include "virtio/virtio-balloon.h"
#include "virtio/virtio-pci.h"
#include "virtio/virtio.h"

#define BALLOON_CONFIG_SIZE     8       /* num_pages, actual */
#define BALLOON_QUEUE_SIZE      128
#define BALLOON_PFN_BATCH       256
#define BALLOON_STAT_RECORD     10      /* le16 tag, le64 value, packed */
#define BALLOON_STAT_MAX_RECORDS 64
#define PCI_CLASS_OTHERS        0xff0000

const char *const balloon_stat_names[BALLOON_STAT_NR] = {
    "stat-swap-in", "stat-swap-out", "stat-major-faults",
    "stat-minor-faults", "stat-free-memory", "stat-total-memory",
    "stat-available-memory", "stat-disk-caches", "stat-htlb-pgalloc",
    "stat-htlb-pgfail", "stat-oom-kills", "stat-alloc-stalls",
    "stat-async-scans", "stat-direct-scans", "stat-async-reclaims",
    "stat-direct-reclaims",
};

typedef enum {
    BALLOON_Q_INFLATE,
    BALLOON_Q_DEFLATE,
    BALLOON_Q_STATS,
    BALLOON_Q_REPORTING,
    BALLOON_Q_NONE,
} BalloonQueue;

/* All state of one balloon; vdev.lock covers everything below vdev. */
struct VirtioBalloon {
    Device dev;                         /* first: a Device* is ours */
    bool deflate_on_oom;                /* properties */
    bool free_page_reporting;
    bool no_ioeventfd;                  /* ioeventfd=off */

    VirtioDevice vdev;
    VirtioPci *pci;
    uint64_t ram_size;

    /* Guest-visible state (balloon_vmsd), with vdev and pci. */
    uint32_t num_pages;                 /* config: host's target */
    uint32_t actual;                    /* config: guest's balloon */
    uint64_t stats[BALLOON_STAT_NR];
    int64_t last_update;
    int64_t poll_interval;              /* seconds, 0: off */
    bool stats_held;                    /* the guest's buffer is with us */
    uint16_t stats_head;

    /* Derived: queue index -> role, from the negotiated features. Linux
     * numbers queues densely, so the reporting queue is 2 when the stats
     * queue was not negotiated. */
    BalloonQueue role[VIRTIO_MAX_QUEUES];

    /* Host side: main-loop sources. While paused none is attached; what
     * was due waits in the *_pending flags for resume. */
    guint stats_timer;
    int64_t stats_timer_secs;           /* what stats_timer was armed with */
    bool paused;
    bool stats_timer_pending;
    bool change_pending;
    BalloonChangeFn on_change;
    void *on_change_opaque;
    guint change_idle;

    uint64_t discarded;                 /* pages, for tests */
};

#define VDEV_BALLOON(v) \
    ((VirtioBalloon *)((char *)(v) - offsetof(VirtioBalloon, vdev)))

/* --- inflate, deflate, free page reporting ----------------------------- */

static void balloon_discard(VirtioBalloon *b, uint64_t gpa, uint64_t len)
{
    if (len && memmap_discard(b->vdev.mem, gpa, len)) {
        b->discarded += len >> BALLOON_PAGE_SHIFT;
    }
}

/* One inflate or deflate buffer: an array of le32 page frame numbers. PFNs
 * outside RAM are ignored, as QEMU does. Contiguous runs are discarded
 * with one call. */
static void balloon_pfns(VirtioBalloon *b, const VirtqElem *elem,
                         bool inflate)
{
    uint32_t pfns[BALLOON_PFN_BATCH];
    uint64_t run_start = 0, run_len = 0;
    uint64_t off = 0;
    /* A buffer listing more pages than the guest has is nonsense; stop
     * there rather than keep the main loop busy. */
    uint64_t max_bytes = (b->ram_size >> BALLOON_PAGE_SHIFT) * sizeof(pfns[0]);

    while (off < max_bytes) {
        uint64_t n = virtqueue_elem_read(b->vdev.mem, elem, off, pfns,
                                         MIN(sizeof(pfns), max_bytes - off));

        if (n < sizeof(pfns[0])) {
            break;
        }
        off += n;
        for (uint64_t i = 0; i < n / sizeof(pfns[0]); i++) {
            uint64_t gpa = (uint64_t)GUINT32_FROM_LE(pfns[i]) <<
                           BALLOON_PAGE_SHIFT;

            if (!memmap_hva(b->vdev.mem, gpa, 1ULL << BALLOON_PAGE_SHIFT)) {
                continue;
            }
            if (!inflate) {
                continue;               /* usable again on first touch */
            }
            if (run_len && gpa == run_start + run_len &&
                memmap_hva(b->vdev.mem, run_start,
                           run_len + (1ULL << BALLOON_PAGE_SHIFT))) {
                run_len += 1ULL << BALLOON_PAGE_SHIFT;
                continue;
            }
            balloon_discard(b, run_start, run_len);
            run_start = gpa;
            run_len = 1ULL << BALLOON_PAGE_SHIFT;
        }
    }
    balloon_discard(b, run_start, run_len);
}

/* Free page reporting: each buffer is a free range; only its whole pages
 * are discarded. */
static void balloon_report(VirtioBalloon *b, const VirtqElem *elem)
{
    const uint64_t page = 1ULL << BALLOON_PAGE_SHIFT;

    for (unsigned int i = 0; i < elem->n_out + elem->n_in; i++) {
        uint64_t start = (elem->seg[i].gpa + page - 1) & ~(page - 1);
        uint64_t end = (elem->seg[i].gpa + elem->seg[i].len) & ~(page - 1);

        if (end > start) {
            balloon_discard(b, start, end - start);
        }
    }
}

/* --- stats --------------------------------------------------------------- */

static gboolean balloon_stats_timer_cb(gpointer opaque);

/* The index of the queue playing @role, or VIRTIO_MAX_QUEUES. */
static unsigned int balloon_queue_of(VirtioBalloon *b, BalloonQueue role)
{
    unsigned int q = 0;

    while (q < VIRTIO_MAX_QUEUES && b->role[q] != role) {
        q++;
    }
    return q;
}

static void balloon_stats_arm(VirtioBalloon *b, int64_t secs)
{
    if (b->stats_timer) {
        g_source_remove(b->stats_timer);
        b->stats_timer = 0;
    }
    b->stats_timer_secs = secs;
    if (b->paused) {
        b->stats_timer_pending = true;      /* armed by resume */
        return;
    }
    b->stats_timer = secs ? g_timeout_add_seconds((guint)secs,
                                                  balloon_stats_timer_cb, b)
                          : g_timeout_add(0, balloon_stats_timer_cb, b);
}

/* The guest's answer: a buffer of stat records, kept until the next
 * poll, when giving it back asks for fresh numbers. */
static void balloon_stats_receive(VirtioBalloon *b, unsigned int q,
                                  const VirtqElem *elem)
{
    VirtQueue *vq = &b->vdev.vq[q];
    const MemMap *mem = b->vdev.mem;
    uint8_t rec[BALLOON_STAT_RECORD];

    if (b->stats_held) {
        /* A driver following the spec never sends a second buffer;
         * return the first rather than leak it. */
        virtqueue_push(vq, b->stats_head, 0);
        virtio_queue_notify_guest(&b->vdev, q);
    }
    for (unsigned int i = 0; i < BALLOON_STAT_NR; i++) {
        b->stats[i] = BALLOON_STAT_UNSET;
    }
    /* Drivers send one record per tag; a longer buffer is read only as
     * far as a driver could mean it. */
    for (uint64_t off = 0;
         off < BALLOON_STAT_MAX_RECORDS * sizeof(rec) &&
         virtqueue_elem_read(mem, elem, off, rec, sizeof(rec)) == sizeof(rec);
         off += sizeof(rec)) {
        uint16_t tag = (uint16_t)(rec[0] | rec[1] << 8);
        uint64_t val = 0;

        for (int k = 7; k >= 0; k--) {
            val = val << 8 | rec[2 + k];
        }
        if (tag < BALLOON_STAT_NR) {
            b->stats[tag] = val;        /* unknown tags are ignored */
        }
    }
    b->last_update = g_get_real_time() / G_USEC_PER_SEC;
    b->stats_held = true;
    b->stats_head = elem->head;
    if (b->poll_interval > 0) {
        balloon_stats_arm(b, b->poll_interval);
    }
}

static gboolean balloon_stats_timer_cb(gpointer opaque)
{
    VirtioBalloon *b = opaque;
    VirtioDevice *vdev = &b->vdev;
    unsigned int q;

    g_mutex_lock(&vdev->lock);
    /* Re-armed from a vCPU thread meanwhile? Then that timer is current
     * and this one is stale. */
    if (b->stats_timer != g_source_get_id(g_main_current_source())) {
        g_mutex_unlock(&vdev->lock);
        return G_SOURCE_REMOVE;
    }
    b->stats_timer = 0;
    /*
     * Ours is a host-clock timer (QEMU's runs on the virtual clock, which
     * stops with the VM). Returning the held buffer writes the used ring
     * and interrupts: done after the vCPUs stopped for a migration, that
     * write misses the last RAM pass while the saved state says the
     * buffer went back, and the guest's stats driver waits forever. So
     * pause removes this timer, and should a stale one still fire while
     * paused it only leaves the poll for resume.
     */
    if (b->paused) {
        b->stats_timer_pending = true;
        g_mutex_unlock(&vdev->lock);
        return G_SOURCE_REMOVE;
    }
    if (!b->stats_held || !virtio_device_live(vdev)) {
        if (b->poll_interval > 0) {
            balloon_stats_arm(b, b->poll_interval);
        }
        g_mutex_unlock(&vdev->lock);
        return G_SOURCE_REMOVE;
    }
    q = balloon_queue_of(b, BALLOON_Q_STATS);
    if (q < vdev->nr_queues) {
        virtqueue_push(&vdev->vq[q], b->stats_head, 0);
        virtio_queue_notify_guest(vdev, q);
    }
    b->stats_held = false;
    g_mutex_unlock(&vdev->lock);
    return G_SOURCE_REMOVE;
}

/* --- virtio device ops (device lock held) ------------------------------- */

static void balloon_queue_notify(VirtioDevice *vdev, unsigned int q)
{
    VirtioBalloon *b = VDEV_BALLOON(vdev);
    VirtQueue *vq = &vdev->vq[q];
    VirtqElem *elem = vdev->elem;
    bool pushed = false;

    for (;;) {
        g_autoptr(GError) err = NULL;
        g_autofree char *why = NULL;
        VirtqPop rc = virtqueue_pop(vq, elem, &err);

        if (rc == VIRTQ_EMPTY) {
            break;
        }
        if (rc == VIRTQ_BROKEN) {
            why = g_strdup_printf("queue %u: %s", q, err->message);
            virtio_set_broken(vdev, why);
            return;
        }
        switch (b->role[q]) {
        case BALLOON_Q_INFLATE:
        case BALLOON_Q_DEFLATE:
            balloon_pfns(b, elem, b->role[q] == BALLOON_Q_INFLATE);
            virtqueue_push(vq, elem->head, 0);
            pushed = true;
            break;
        case BALLOON_Q_REPORTING:
            balloon_report(b, elem);
            virtqueue_push(vq, elem->head, 0);
            pushed = true;
            break;
        case BALLOON_Q_STATS:
            balloon_stats_receive(b, q, elem);
            break;
        default:
            virtqueue_push(vq, elem->head, 0);
            pushed = true;
            break;
        }
    }
    if (pushed) {
        virtio_queue_notify_guest(vdev, q);
    }
}

static uint32_t balloon_config_size(VirtioDevice *vdev)
{
    return BALLOON_CONFIG_SIZE;
}

static void balloon_config_image(VirtioBalloon *b, uint8_t *cfg)
{
    for (unsigned int i = 0; i < 4; i++) {
        cfg[i] = (uint8_t)(b->num_pages >> (8 * i));
        cfg[4 + i] = (uint8_t)(b->actual >> (8 * i));
    }
}

static void balloon_config_read(VirtioDevice *vdev, uint32_t off,
                                uint8_t *data, uint32_t len)
{
    uint8_t cfg[BALLOON_CONFIG_SIZE];

    balloon_config_image(VDEV_BALLOON(vdev), cfg);
    memcpy(data, cfg + off, len);
}

static gboolean balloon_change_cb(gpointer opaque)
{
    VirtioBalloon *b = opaque;
    BalloonChangeFn fn;
    void *fn_opaque;
    uint64_t value;

    g_mutex_lock(&b->vdev.lock);
    b->change_idle = 0;
    fn = b->on_change;
    fn_opaque = b->on_change_opaque;
    g_mutex_unlock(&b->vdev.lock);
    /* Outside the lock: the hook may call back into the balloon API. */
    value = balloon_get_actual(b);
    if (fn) {
        fn(fn_opaque, value);
    }
    return G_SOURCE_REMOVE;
}

static void balloon_config_write(VirtioDevice *vdev, uint32_t off,
                                 const uint8_t *data, uint32_t len)
{
    VirtioBalloon *b = VDEV_BALLOON(vdev);
    uint8_t cfg[BALLOON_CONFIG_SIZE];
    uint32_t actual;

    balloon_config_image(b, cfg);
    memcpy(cfg + off, data, len);
    /* Only `actual` is the driver's to write. */
    actual = (uint32_t)cfg[4] | (uint32_t)cfg[5] << 8 |
             (uint32_t)cfg[6] << 16 | (uint32_t)cfg[7] << 24;
    if (actual == b->actual) {
        return;
    }
    b->actual = actual;
    /* The hook belongs to the main thread, and this is a vCPU. */
    if (b->paused) {
        b->change_pending = true;
    } else if (!b->change_idle) {
        b->change_idle = g_idle_add(balloon_change_cb, b);
    }
}

static void balloon_features_ok(VirtioDevice *vdev)
{
    VirtioBalloon *b = VDEV_BALLOON(vdev);
    unsigned int q = 0;

    for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++) {
        b->role[i] = BALLOON_Q_NONE;
    }
    b->role[q++] = BALLOON_Q_INFLATE;
    b->role[q++] = BALLOON_Q_DEFLATE;
    if (virtio_has_feature(vdev, VIRTIO_BALLOON_F_STATS_VQ)) {
        b->role[q++] = BALLOON_Q_STATS;
    }
    if (virtio_has_feature(vdev, VIRTIO_BALLOON_F_REPORTING)) {
        b->role[q++] = BALLOON_Q_REPORTING;
    }
}

static void balloon_reset(VirtioDevice *vdev)
{
    VirtioBalloon *b = VDEV_BALLOON(vdev);

    /* As QEMU: num_pages and actual survive a reset, the stats buffer
     * does not (the queue is gone); the poll timer keeps running. */
    b->stats_held = false;
    balloon_features_ok(vdev);
}

static const VirtioDeviceOps balloon_ops = {
    .name = "virtio-balloon",
    .device_id = VIRTIO_ID_BALLOON,
    .queue_size = BALLOON_QUEUE_SIZE,
    .config_size = balloon_config_size,
    .config_read = balloon_config_read,
    .config_write = balloon_config_write,
    .queue_notify = balloon_queue_notify,
    .features_ok = balloon_features_ok,
    .reset = balloon_reset,
};

/* --- construction -------------------------------------------------------- */

static bool balloon_setup(VirtioBalloon *b, MemMap *mem, PciHost *host,
                          Kvm *kvm, uint8_t devfn, uint64_t bar_addr,
                          GError **errp)
{
    VirtioPciConfig pc = {
        .devfn = devfn, .class_code = PCI_CLASS_OTHERS,
        .bar_addr = bar_addr, .kvm = kvm,
    };
    uint64_t features = 1ULL << VIRTIO_BALLOON_F_STATS_VQ;

    if (b->deflate_on_oom) {
        features |= 1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM;
    }
    if (b->free_page_reporting) {
        features |= 1ULL << VIRTIO_BALLOON_F_REPORTING;
    }
    b->ram_size = mem->ram_size;
    for (unsigned int i = 0; i < BALLOON_STAT_NR; i++) {
        b->stats[i] = BALLOON_STAT_UNSET;
    }
    virtio_init(&b->vdev, &balloon_ops, b->dev.id, mem,
                b->free_page_reporting ? 4 : 3, features);
    b->pci = virtio_pci_new(&b->vdev, host, "virtio-balloon-pci", &pc, errp);
    return b->pci != NULL;
}

static void balloon_teardown(VirtioBalloon *b)
{
    virtio_pci_free(b->pci);
    b->pci = NULL;
    if (b->stats_timer) {
        g_source_remove(b->stats_timer);
        b->stats_timer = 0;
    }
    if (b->change_idle) {
        g_source_remove(b->change_idle);
        b->change_idle = 0;
    }
    if (b->vdev.ops) {
        virtio_cleanup(&b->vdev);
        b->vdev.ops = NULL;
    }
}

static bool balloon_realize(Device *dev, const DeviceContext *ctx,
                            GError **errp)
{
    VirtioBalloon *b = (VirtioBalloon *)dev;
    Device *other = device_context_find_class(ctx,
                                              &virtio_balloon_pci_class);
    int devfn = dev->devfn;

    if (other && other != dev) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Only one balloon device is supported");
        return false;
    }
    if (devfn < 0) {
        int slot = pci_host_free_slot(ctx->pci);

        if (slot < 0) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "no free PCI slot left for virtio-balloon-pci");
            return false;
        }
        devfn = slot << 3;
    }
    return balloon_setup(b, ctx->mem, ctx->pci,
                         b->no_ioeventfd ? NULL : ctx->kvm, (uint8_t)devfn,
                         devices_pci_window((unsigned int)devfn), errp);
}

static void balloon_class_reset(Device *dev)
{
    virtio_pci_reset(((VirtioBalloon *)dev)->pci);
}

static void balloon_pause(Device *dev)
{
    VirtioBalloon *b = (VirtioBalloon *)dev;

    g_mutex_lock(&b->vdev.lock);
    b->paused = true;
    if (b->stats_timer) {
        g_source_remove(b->stats_timer);
        b->stats_timer = 0;
        b->stats_timer_pending = true;
    }
    if (b->change_idle) {
        g_source_remove(b->change_idle);
        b->change_idle = 0;
        b->change_pending = true;
    }
    g_mutex_unlock(&b->vdev.lock);
    virtio_pci_pause(b->pci);
}

static void balloon_resume(Device *dev)
{
    VirtioBalloon *b = (VirtioBalloon *)dev;

    virtio_pci_resume(b->pci);
    g_mutex_lock(&b->vdev.lock);
    b->paused = false;
    /* A whole interval again, not what was left of it: the guest was
     * stopped meanwhile and its numbers did not age. */
    if (b->stats_timer_pending) {
        b->stats_timer_pending = false;
        balloon_stats_arm(b, b->stats_timer_secs);
    }
    if (b->change_pending && !b->change_idle) {
        b->change_idle = g_idle_add(balloon_change_cb, b);
    }
    b->change_pending = false;
    g_mutex_unlock(&b->vdev.lock);
}

static bool balloon_post_load(void *opaque, uint32_t version, GError **errp)
{
    VirtioBalloon *b = opaque;
    VirtioDevice *vdev = &b->vdev;
    unsigned int q;

    if ((uint64_t)b->num_pages > b->ram_size >> BALLOON_PAGE_SHIFT) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "field 'num_pages': %u pages, the guest has %"
                    G_GUINT64_FORMAT, b->num_pages,
                    b->ram_size >> BALLOON_PAGE_SHIFT);
        return false;
    }
    if (b->poll_interval < 0 || b->poll_interval > UINT32_MAX) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "field 'poll_interval': %" G_GINT64_FORMAT " seconds",
                    b->poll_interval);
        return false;
    }
    /* Roles follow the negotiated features (virtio_device_vmsd checked
     * them against ours); before FEATURES_OK, those of a reset. */
    if (vdev->status & VIRTIO_STATUS_FEATURES_OK) {
        balloon_features_ok(vdev);
    } else {
        uint64_t written = vdev->guest_features;

        vdev->guest_features = 0;
        balloon_features_ok(vdev);
        vdev->guest_features = written;
    }
    q = balloon_queue_of(b, BALLOON_Q_STATS);
    if (b->stats_held &&
        (q >= vdev->nr_queues || !vdev->vq[q].ready ||
         b->stats_head >= vdev->vq[q].num)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "field 'stats_head': buffer %u held for a stats queue "
                    "that is not enabled or smaller", b->stats_head);
        return false;
    }
    g_mutex_lock(&vdev->lock);
    if (b->stats_timer) {
        g_source_remove(b->stats_timer);
        b->stats_timer = 0;
    }
    b->stats_timer_pending = false;
    if (b->poll_interval > 0) {
        /* Armed now, or by resume if paused (a migration destination). */
        balloon_stats_arm(b, b->poll_interval);
    }
    g_mutex_unlock(&vdev->lock);
    return true;
}

/* Wire names: never rename. The device before its transport: the
 * transport checks the device's vectors against its MSI-X table. */
static const VmsDesc balloon_vmsd = {
    .name = "virtio-balloon",
    .version = 1,
    .min_version = 1,
    .post_load = balloon_post_load,
    .fields = (const VmsField[]) {
        VMS_STRUCT(VirtioBalloon, vdev, virtio_device_vmsd, VirtioDevice),
        VMS_STRUCT_PTR(VirtioBalloon, pci, virtio_pci_vmsd, VirtioPci),
        VMS_U32(VirtioBalloon, num_pages),
        VMS_U32(VirtioBalloon, actual),
        VMS_U64_ARRAY(VirtioBalloon, stats, BALLOON_STAT_NR),
        VMS_I64(VirtioBalloon, last_update),
        VMS_I64(VirtioBalloon, poll_interval),
        VMS_BOOL(VirtioBalloon, stats_held),
        VMS_U16(VirtioBalloon, stats_head),
        VMS_END_OF_LIST,
    },
};

static void balloon_unrealize(Device *dev)
{
    balloon_teardown((VirtioBalloon *)dev);
}

#define MODERN_ONLY "kestrel's virtio devices are modern (virtio 1.x) only"

static const DeviceProp balloon_props[] = {
    { "addr", DEVICE_PROP_PCI_ADDR, offsetof(Device, devfn) },
    { "bus", DEVICE_PROP_PCI_BUS, 0 },
    { "deflate-on-oom", DEVICE_PROP_BOOL,
      offsetof(VirtioBalloon, deflate_on_oom) },
    { "disable-legacy", DEVICE_PROP_MUST_BE_ON, 0, MODERN_ONLY },
    { "disable-modern", DEVICE_PROP_MUST_BE_OFF, 0, MODERN_ONLY },
    { "free-page-reporting", DEVICE_PROP_BOOL,
      offsetof(VirtioBalloon, free_page_reporting) },
    /* off: notify writes exit to us and are handled on the vCPU thread */
    { "ioeventfd", DEVICE_PROP_BOOL_NEG,
      offsetof(VirtioBalloon, no_ioeventfd) },
    { NULL },
};

const DeviceClass virtio_balloon_pci_class = {
    .name = "virtio-balloon-pci",
    .instance_size = sizeof(VirtioBalloon),
    .props = balloon_props,
    .realize = balloon_realize,
    .reset = balloon_class_reset,
    .unrealize = balloon_unrealize,
    .vmsd = &balloon_vmsd,
    .pause = balloon_pause,
    .resume = balloon_resume,
};

VirtioBalloon *balloon_new_for_test(MemMap *mem, PciHost *host,
                                    const BalloonTestConfig *cfg,
                                    GError **errp)
{
    VirtioBalloon *b = g_new0(VirtioBalloon, 1);

    b->dev.cls = &virtio_balloon_pci_class;
    b->dev.devfn = cfg->devfn;
    b->deflate_on_oom = cfg->deflate_on_oom;
    b->free_page_reporting = cfg->free_page_reporting;
    if (!balloon_setup(b, mem, host, NULL, cfg->devfn, cfg->bar_addr,
                       errp)) {
        balloon_free_for_test(b);
        return NULL;
    }
    return b;
}

void balloon_free_for_test(VirtioBalloon *b)
{
    if (b) {
        balloon_teardown(b);
        g_free(b);
    }
}

/* --- the monitor's API --------------------------------------------------- */

VirtioBalloon *balloon_find(Vm *vm)
{
    return (VirtioBalloon *)devices_find_class(vm,
                                               &virtio_balloon_pci_class);
}

const char *balloon_id(VirtioBalloon *b)
{
    return b->dev.id;
}

void balloon_set_target(VirtioBalloon *b, uint64_t value)
{
    g_mutex_lock(&b->vdev.lock);
    value = MIN(value, b->ram_size);
    b->num_pages = (uint32_t)MIN((b->ram_size - value) >> BALLOON_PAGE_SHIFT,
                                 UINT32_MAX);
    virtio_config_changed(&b->vdev);
    g_mutex_unlock(&b->vdev.lock);
}

uint64_t balloon_get_actual(VirtioBalloon *b)
{
    uint64_t inflated;

    g_mutex_lock(&b->vdev.lock);
    inflated = (uint64_t)b->actual << BALLOON_PAGE_SHIFT;
    g_mutex_unlock(&b->vdev.lock);
    return inflated < b->ram_size ? b->ram_size - inflated : 0;
}

void balloon_get_stats(VirtioBalloon *b, BalloonStats *out)
{
    g_mutex_lock(&b->vdev.lock);
    memcpy(out->stats, b->stats, sizeof(out->stats));
    out->last_update = b->last_update;
    g_mutex_unlock(&b->vdev.lock);
}

int64_t balloon_get_poll_interval(VirtioBalloon *b)
{
    int64_t v;

    g_mutex_lock(&b->vdev.lock);
    v = b->poll_interval;
    g_mutex_unlock(&b->vdev.lock);
    return v;
}

bool balloon_set_poll_interval(VirtioBalloon *b, int64_t secs, GError **errp)
{
    if (secs < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "timer value must be greater than zero");
        return false;
    }
    if (secs > UINT32_MAX) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "timer value is too big");
        return false;
    }
    g_mutex_lock(&b->vdev.lock);
    if (secs == b->poll_interval) {
        /* nothing */
    } else if (secs == 0) {
        if (b->stats_timer) {
            g_source_remove(b->stats_timer);
            b->stats_timer = 0;
        }
        b->stats_timer_pending = false;
        b->poll_interval = 0;
    } else if (b->poll_interval > 0) {
        b->poll_interval = secs;        /* only re-arms */
        balloon_stats_arm(b, secs);
    } else {
        b->poll_interval = secs;        /* first poll at once */
        balloon_stats_arm(b, 0);
    }
    g_mutex_unlock(&b->vdev.lock);
    return true;
}

void balloon_set_change_hook(VirtioBalloon *b, BalloonChangeFn fn,
                             void *opaque)
{
    g_mutex_lock(&b->vdev.lock);
    b->on_change = fn;
    b->on_change_opaque = opaque;
    g_mutex_unlock(&b->vdev.lock);
}

uint64_t balloon_discarded_pages(VirtioBalloon *b)
{
    uint64_t n;

    g_mutex_lock(&b->vdev.lock);
    n = b->discarded;
    g_mutex_unlock(&b->vdev.lock);
    return n;
}
