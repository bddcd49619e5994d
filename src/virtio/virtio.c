/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "migration/vmstate.h"
#include "virtio/virtio.h"

void virtio_init(VirtioDevice *vdev, const VirtioDeviceOps *ops,
                 const char *id, MemMap *mem, unsigned int nr_queues,
                 uint64_t features)
{
    g_assert(nr_queues <= VIRTIO_MAX_QUEUES);
    vdev->ops = ops;
    vdev->id = id;
    vdev->mem = mem;
    vdev->nr_queues = nr_queues;
    vdev->host_features = features | (1ULL << VIRTIO_F_VERSION_1) |
                          (1ULL << VIRTIO_F_RING_EVENT_IDX) |
                          (1ULL << VIRTIO_F_RING_INDIRECT_DESC);
    vdev->elem = g_new0(VirtqElem, 1);
    g_mutex_init(&vdev->lock);
    virtio_reset(vdev);
}

void virtio_cleanup(VirtioDevice *vdev)
{
    g_free(vdev->elem);
    vdev->elem = NULL;
    g_mutex_clear(&vdev->lock);
}

bool virtio_has_feature(const VirtioDevice *vdev, unsigned int bit)
{
    return (vdev->guest_features >> bit) & 1;
}

bool virtio_device_live(const VirtioDevice *vdev)
{
    return (vdev->status & VIRTIO_STATUS_DRIVER_OK) && !vdev->broken;
}

void virtio_reset(VirtioDevice *vdev)
{
    vdev->status = 0;
    vdev->guest_features = 0;
    vdev->isr = 0;
    vdev->config_vector = VIRTQ_NO_VECTOR;
    vdev->broken = false;
    for (unsigned int q = 0; q < vdev->nr_queues; q++) {
        virtqueue_reset(&vdev->vq[q], vdev->mem, vdev->ops->queue_size);
    }
    if (vdev->ops->reset) {
        vdev->ops->reset(vdev);
    }
    if (vdev->transport_ops && vdev->transport_ops->isr_cleared) {
        vdev->transport_ops->isr_cleared(vdev->transport);
    }
}

void virtio_set_driver_features(VirtioDevice *vdev, unsigned int sel,
                                uint32_t val)
{
    /* Frozen once FEATURES_OK is set (virtio 1.x, 3.1.1). */
    if (sel > 1 || (vdev->status & VIRTIO_STATUS_FEATURES_OK)) {
        return;
    }
    vdev->guest_features &= ~(0xffffffffULL << (32 * sel));
    vdev->guest_features |= (uint64_t)val << (32 * sel);
}

void virtio_set_status(VirtioDevice *vdev, uint8_t status)
{
    uint8_t old = vdev->status;

    if (status == 0) {
        virtio_reset(vdev);
        return;
    }
    /* NEEDS_RESET is ours to set; the driver cannot clear it either. */
    status = (uint8_t)((status & ~VIRTIO_STATUS_NEEDS_RESET) |
                       (old & VIRTIO_STATUS_NEEDS_RESET));
    if ((status & VIRTIO_STATUS_FEATURES_OK) &&
        !(old & VIRTIO_STATUS_FEATURES_OK)) {
        uint64_t f = vdev->guest_features;

        /* A subset of ours, and VERSION_1: we have no legacy interface.
         * Otherwise FEATURES_OK does not stick and the driver gives up. */
        if ((f & ~vdev->host_features) ||
            !(f & (1ULL << VIRTIO_F_VERSION_1))) {
            status &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
        } else {
            for (unsigned int q = 0; q < vdev->nr_queues; q++) {
                vdev->vq[q].event_idx =
                    virtio_has_feature(vdev, VIRTIO_F_RING_EVENT_IDX);
                vdev->vq[q].indirect =
                    virtio_has_feature(vdev, VIRTIO_F_RING_INDIRECT_DESC);
            }
            if (vdev->ops->features_ok) {
                vdev->ops->features_ok(vdev);
            }
        }
    }
    vdev->status = status;
    if ((status & VIRTIO_STATUS_DRIVER_OK) &&
        !(old & VIRTIO_STATUS_DRIVER_OK)) {
        if (!(status & VIRTIO_STATUS_FEATURES_OK)) {
            virtio_set_broken(vdev, "DRIVER_OK set without FEATURES_OK");
            return;
        }
        if (vdev->ops->driver_ok) {
            vdev->ops->driver_ok(vdev);
        }
        /* Buffers may have been made available, and kicked, before
         * DRIVER_OK (Linux's balloon does so with its first stats
         * buffer); we could not take them then, so take them now. */
        for (unsigned int q = 0; q < vdev->nr_queues; q++) {
            virtio_queue_kick(vdev, q);
        }
    }
}

bool virtio_queue_enable(VirtioDevice *vdev, unsigned int q)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *why = NULL;

    if (q >= vdev->nr_queues || vdev->vq[q].ready) {
        return false;
    }
    if (virtqueue_enable(&vdev->vq[q], &err)) {
        return true;
    }
    why = g_strdup_printf("queue %u: %s", q, err->message);
    virtio_set_broken(vdev, why);
    return false;
}

void virtio_queue_kick(VirtioDevice *vdev, unsigned int q)
{
    if (q < vdev->nr_queues && vdev->vq[q].ready &&
        virtio_device_live(vdev)) {
        vdev->ops->queue_notify(vdev, q);
    }
}

uint8_t virtio_read_isr(VirtioDevice *vdev)
{
    uint8_t v = vdev->isr;

    /* Reading acknowledges (virtio 1.x, 4.1.4.5): the INTx line drops. */
    vdev->isr = 0;
    if (v && vdev->transport_ops && vdev->transport_ops->isr_cleared) {
        vdev->transport_ops->isr_cleared(vdev->transport);
    }
    return v;
}

void virtio_config_access(VirtioDevice *vdev, uint32_t off, uint8_t *data,
                          uint32_t len, bool is_write)
{
    uint32_t size = vdev->ops->config_size ? vdev->ops->config_size(vdev) : 0;

    if (off >= size || len > size - off) {
        if (!is_write) {
            memset(data, 0, len);
        }
        return;
    }
    if (is_write) {
        if (vdev->ops->config_write) {
            vdev->ops->config_write(vdev, off, data, len);
        }
    } else {
        vdev->ops->config_read(vdev, off, data, len);
    }
}

static void virtio_interrupt(VirtioDevice *vdev, uint8_t isr,
                             uint16_t vector)
{
    vdev->isr |= isr;
    if (vdev->transport_ops) {
        vdev->transport_ops->notify(vdev->transport, vector);
    }
}

void virtio_set_broken(VirtioDevice *vdev, const char *why)
{
    if (vdev->broken) {
        return;
    }
    vdev->broken = true;
    /* One line, then silence until the driver resets the device: a
     * misbehaving guest must not flood the host's log. */
    fprintf(stderr, "kestrel: %s%s%s%s: guest driver error, device needs "
            "reset: %s\n", vdev->ops->name, vdev->id ? " '" : "",
            vdev->id ? vdev->id : "", vdev->id ? "'" : "", why);
    if (vdev->status & VIRTIO_STATUS_DRIVER_OK) {
        vdev->status |= VIRTIO_STATUS_NEEDS_RESET;
        vdev->config_generation++;
        virtio_interrupt(vdev, VIRTIO_ISR_CONFIG, vdev->config_vector);
    } else {
        /* Not yet running: the driver sees NEEDS_RESET when it looks. */
        vdev->status |= VIRTIO_STATUS_NEEDS_RESET;
    }
}

void virtio_queue_notify_guest(VirtioDevice *vdev, unsigned int q)
{
    if (q < vdev->nr_queues && virtqueue_should_notify(&vdev->vq[q])) {
        virtio_interrupt(vdev, VIRTIO_ISR_QUEUE, vdev->vq[q].msix_vector);
    }
}

void virtio_config_changed(VirtioDevice *vdev)
{
    vdev->config_generation++;
    if (vdev->status & VIRTIO_STATUS_DRIVER_OK) {
        virtio_interrupt(vdev, VIRTIO_ISR_CONFIG, vdev->config_vector);
    }
}

/* --- migration ------------------------------------------------------------ */

#define VIRTIO_STATUS_VALID (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER \
                             | VIRTIO_STATUS_DRIVER_OK |                      \
                             VIRTIO_STATUS_FEATURES_OK |                      \
                             VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)

static bool virtio_device_post_load(void *opaque, uint32_t version,
                                    GError **errp)
{
    VirtioDevice *vdev = opaque;
    uint64_t f = vdev->guest_features;

    if (vdev->status & ~VIRTIO_STATUS_VALID) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "field 'status': 0x%02x has undefined bits", vdev->status);
        return false;
    }
    if (vdev->status & VIRTIO_STATUS_FEATURES_OK) {
        /* What virtio_set_status accepted on the source. */
        if ((f & ~vdev->host_features) ||
            !(f & (1ULL << VIRTIO_F_VERSION_1))) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "field 'guest_features': 0x%" G_GINT64_MODIFIER
                        "x is not a subset of this device's 0x%"
                        G_GINT64_MODIFIER "x with VERSION_1", f,
                        vdev->host_features);
            return false;
        }
    } else if ((vdev->status & VIRTIO_STATUS_DRIVER_OK) && !vdev->broken) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "field 'status': DRIVER_OK without FEATURES_OK");
        return false;
    }
    if (vdev->isr & ~(VIRTIO_ISR_QUEUE | VIRTIO_ISR_CONFIG)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "field 'isr': 0x%02x has undefined bits", vdev->isr);
        return false;
    }
    /* virtqueue_vmsd refused ready queues this device lacks; derived
     * ring options follow the features, as at FEATURES_OK. */
    for (unsigned int q = 0; q < vdev->nr_queues; q++) {
        bool negotiated = vdev->status & VIRTIO_STATUS_FEATURES_OK;

        vdev->vq[q].event_idx = negotiated &&
            virtio_has_feature(vdev, VIRTIO_F_RING_EVENT_IDX);
        vdev->vq[q].indirect = negotiated &&
            virtio_has_feature(vdev, VIRTIO_F_RING_INDIRECT_DESC);
    }
    return true;
}

/* Wire names: never rename. All VIRTIO_MAX_QUEUES queues are on the wire;
 * those beyond nr_queues must be disabled. */
const VmsDesc virtio_device_vmsd = {
    .name = "virtio-device",
    .version = 1,
    .min_version = 1,
    .post_load = virtio_device_post_load,
    .fields = (const VmsField[]) {
        VMS_U64(VirtioDevice, guest_features),
        VMS_U8(VirtioDevice, status),
        VMS_U8(VirtioDevice, isr),
        VMS_U8(VirtioDevice, config_generation),
        VMS_U16(VirtioDevice, config_vector),
        VMS_BOOL(VirtioDevice, broken),
        VMS_STRUCT_ARRAY(VirtioDevice, vq, VIRTIO_MAX_QUEUES, virtqueue_vmsd,
                         VirtQueue),
        VMS_END_OF_LIST,
    },
};
