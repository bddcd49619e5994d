/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-rng-pci (virtio 1.x, 5.4): the guest posts writable buffers, the
 * device fills them with random bytes. The source is the host kernel's
 * (getrandom, what QEMU's rng-builtin and rng-random with /dev/urandom
 * give); max-bytes per period limits the rate as QEMU's properties do.
 * Runs on the thread that is notified; a buffer waits (in the ring) while
 * the rate limit holds, and a timer picks it up.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/random.h>

#include "error.h"
#include "migration/vmstate.h"
#include "virtio/virtio-pci.h"
#include "virtio/virtio-rng.h"
#include "virtio/virtio.h"

#define PCI_CLASS_OTHERS        0xff0000
#define RNG_QUEUE_SIZE          8
#define RNG_CHUNK               4096    /* bytes per getrandom call */
#define RNG_MAX_PER_KICK        (1u << 20)

typedef struct {
    Device dev;                         /* first: a Device* is ours */
    char *rng;                          /* rng= object id (its source) */
    uint64_t max_bytes;                 /* per period; 0: unlimited */
    uint32_t period_ms;
    uint32_t max_bytes_prop;            /* as given (u32 property) */
    bool no_ioeventfd;

    VirtioDevice vdev;
    VirtioPci *pci;

    /* Host side; vdev.lock covers it. */
    int64_t window_start;               /* monotonic us */
    uint64_t window_bytes;
    guint timer;
    bool paused;
    uint64_t served;                    /* bytes given, for tests */
} VirtioRng;

#define VDEV_RNG(v) ((VirtioRng *)((char *)(v) - offsetof(VirtioRng, vdev)))

static void rng_fill(VirtioRng *r);

static gboolean rng_timer_cb(gpointer opaque)
{
    VirtioRng *r = opaque;

    g_mutex_lock(&r->vdev.lock);
    r->timer = 0;
    if (!r->paused && virtio_device_live(&r->vdev)) {
        rng_fill(r);
    }
    g_mutex_unlock(&r->vdev.lock);
    return G_SOURCE_REMOVE;
}

/* How many bytes the rate limit allows now (device lock held). */
static uint64_t rng_budget(VirtioRng *r)
{
    int64_t now = g_get_monotonic_time();

    if (!r->max_bytes) {
        return RNG_MAX_PER_KICK;
    }
    if (now - r->window_start >= (int64_t)r->period_ms * 1000) {
        r->window_start = now;
        r->window_bytes = 0;
    }
    return r->max_bytes - MIN(r->window_bytes, r->max_bytes);
}

static void rng_fill(VirtioRng *r)
{
    VirtioDevice *vdev = &r->vdev;
    VirtQueue *vq = &vdev->vq[0];
    VirtqElem *elem = vdev->elem;
    uint8_t buf[RNG_CHUNK];
    uint64_t given = 0;
    bool pushed = false;

    for (;;) {
        g_autoptr(GError) err = NULL;
        uint64_t budget = rng_budget(r);
        uint64_t want, off = 0;
        VirtqPop rc;

        if (!budget || given >= RNG_MAX_PER_KICK) {
            /* Later: when the period ends, or on the next iteration of
             * the main loop. */
            if (!r->timer && !r->paused) {
                r->timer = g_timeout_add(budget ? 1 : MAX(r->period_ms, 1),
                                         rng_timer_cb, r);
            }
            break;
        }
        rc = virtqueue_pop(vq, elem, &err);
        if (rc == VIRTQ_EMPTY) {
            break;
        }
        if (rc == VIRTQ_BROKEN) {
            g_autofree char *why = g_strdup_printf("request queue: %s",
                                                   err->message);

            virtio_set_broken(vdev, why);
            break;
        }
        /* Device-readable buffers carry nothing for us: ignored, as the
         * spec lets the device do; only the writable part is filled. */
        want = MIN(elem->in_len, budget);
        while (off < want) {
            size_t k = (size_t)MIN(want - off, sizeof(buf));
            ssize_t n = getrandom(buf, k, 0);

            if (n <= 0) {
                if (n < 0 && errno == EINTR) {
                    continue;
                }
                break;
            }
            virtqueue_elem_write(vdev->mem, elem, off, buf, (uint64_t)n);
            off += (uint64_t)n;
        }
        virtqueue_push(vq, elem->head, (uint32_t)off);
        pushed = true;
        given += off;
        r->window_bytes += off;
        r->served += off;
    }
    if (pushed) {
        virtio_queue_notify_guest(vdev, 0);
    }
}

static void rng_queue_notify(VirtioDevice *vdev, unsigned int q)
{
    (void)q;
    rng_fill(VDEV_RNG(vdev));
}

static uint32_t rng_config_size(VirtioDevice *vdev)
{
    (void)vdev;
    return 0;
}

static void rng_config_read(VirtioDevice *vdev, uint32_t off, uint8_t *data,
                            uint32_t len)
{
    (void)vdev;
    (void)off;
    memset(data, 0, len);
}

static void rng_reset(VirtioDevice *vdev)
{
    VirtioRng *r = VDEV_RNG(vdev);

    if (r->timer) {
        g_source_remove(r->timer);
        r->timer = 0;
    }
}

static const VirtioDeviceOps rng_ops = {
    .name = "virtio-rng",
    .device_id = VIRTIO_ID_RNG,
    .queue_size = RNG_QUEUE_SIZE,
    .config_size = rng_config_size,
    .config_read = rng_config_read,
    .queue_notify = rng_queue_notify,
    .reset = rng_reset,
};

static bool rng_realize(Device *dev, const DeviceContext *ctx, GError **errp)
{
    VirtioRng *r = (VirtioRng *)dev;
    int devfn = dev->devfn;
    VirtioPciConfig pc = { .class_code = PCI_CLASS_OTHERS };

    if (r->rng && (!ctx->rng_exists ||
                   !ctx->rng_exists(ctx->opaque, r->rng))) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Property 'virtio-rng-pci.rng' can't find value '%s'",
                    r->rng);
        return false;
    }
    if (r->max_bytes_prop && !r->period_ms) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "'period' parameter expects a positive integer");
        return false;
    }
    r->max_bytes = r->max_bytes_prop;
    if (devfn < 0) {
        int slot = pci_host_free_slot(ctx->pci);

        if (slot < 0) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "no free PCI slot left for virtio-rng-pci");
            return false;
        }
        devfn = slot << 3;
    }
    r->window_start = g_get_monotonic_time();
    virtio_init(&r->vdev, &rng_ops, dev->id, ctx->mem, 1, 0);
    pc.devfn = (uint8_t)devfn;
    pc.bar_addr = devices_pci_window((unsigned int)devfn);
    pc.kvm = r->no_ioeventfd ? NULL : ctx->kvm;
    r->pci = virtio_pci_new(&r->vdev, ctx->pci, "virtio-rng-pci", &pc, errp);
    return r->pci != NULL;
}

static void rng_unrealize(Device *dev)
{
    VirtioRng *r = (VirtioRng *)dev;

    if (r->timer) {
        g_source_remove(r->timer);
        r->timer = 0;
    }
    virtio_pci_free(r->pci);
    r->pci = NULL;
    if (r->vdev.ops) {
        virtio_cleanup(&r->vdev);
        r->vdev.ops = NULL;
    }
}

static void rng_class_reset(Device *dev)
{
    virtio_pci_reset(((VirtioRng *)dev)->pci);
}

static void rng_pause(Device *dev)
{
    VirtioRng *r = (VirtioRng *)dev;

    virtio_pci_pause(r->pci);
    g_mutex_lock(&r->vdev.lock);
    r->paused = true;
    if (r->timer) {
        g_source_remove(r->timer);
        r->timer = 0;
    }
    g_mutex_unlock(&r->vdev.lock);
}

static void rng_resume(Device *dev)
{
    VirtioRng *r = (VirtioRng *)dev;

    g_mutex_lock(&r->vdev.lock);
    r->paused = false;
    /* What the guest posted while we were stopped. */
    if (virtio_device_live(&r->vdev) && !r->timer) {
        r->timer = g_idle_add(rng_timer_cb, r);
    }
    g_mutex_unlock(&r->vdev.lock);
    virtio_pci_resume(r->pci);
}

/* Wire names: never rename. */
static const VmsDesc rng_vmsd = {
    .name = "virtio-rng",
    .version = 1,
    .min_version = 1,
    .fields = (const VmsField[]) {
        VMS_STRUCT(VirtioRng, vdev, virtio_device_vmsd, VirtioDevice),
        VMS_STRUCT_PTR(VirtioRng, pci, virtio_pci_vmsd, VirtioPci),
        VMS_END_OF_LIST,
    },
};

#define MODERN_ONLY "kestrel's virtio devices are modern (virtio 1.x) only"

static const DeviceProp rng_props[] = {
    { "addr", DEVICE_PROP_PCI_ADDR, offsetof(Device, devfn) },
    { "bus", DEVICE_PROP_PCI_BUS, 0 },
    { "disable-legacy", DEVICE_PROP_MUST_BE_ON, 0, MODERN_ONLY },
    { "disable-modern", DEVICE_PROP_MUST_BE_OFF, 0, MODERN_ONLY },
    { "ioeventfd", DEVICE_PROP_BOOL_NEG, offsetof(VirtioRng, no_ioeventfd) },
    { "max-bytes", DEVICE_PROP_U32, offsetof(VirtioRng, max_bytes_prop),
      NULL, 0, UINT32_MAX },
    { "period", DEVICE_PROP_U32, offsetof(VirtioRng, period_ms), NULL, 1,
      UINT32_MAX },
    { "rng", DEVICE_PROP_STR, offsetof(VirtioRng, rng) },
    { NULL },
};

static void rng_instance_init(Device *dev)
{
    ((VirtioRng *)dev)->period_ms = 1000;
}

const DeviceClass virtio_rng_pci_class = {
    .name = "virtio-rng-pci",
    .instance_size = sizeof(VirtioRng),
    .props = rng_props,
    .instance_init = rng_instance_init,
    .realize = rng_realize,
    .reset = rng_class_reset,
    .unrealize = rng_unrealize,
    .vmsd = &rng_vmsd,
    .pause = rng_pause,
    .resume = rng_resume,
};
