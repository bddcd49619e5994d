/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The transport-independent part of a virtio 1.x device: features, the
 * status state machine, queues, the broken state, interrupts. A device
 * embeds VirtioDevice and describes itself with a const VirtioDeviceOps;
 * a transport (virtio-pci.c) drives it through the functions below and
 * receives interrupts through VirtioTransportOps. Neither patches the
 * other's ops.
 *
 * Locking: VirtioDevice.lock covers all of it (status, features, queues,
 * device config and device state). Transports take it around register
 * accesses; the main loop takes it around queue processing and timers.
 * Device ops are called with it held.
 */
#ifndef KESTREL_VIRTIO_H
#define KESTREL_VIRTIO_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "memmap.h"
#include "virtio/virtqueue.h"

/* Device status bits (virtio 1.x, 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE   0x01
#define VIRTIO_STATUS_DRIVER        0x02
#define VIRTIO_STATUS_DRIVER_OK     0x04
#define VIRTIO_STATUS_FEATURES_OK   0x08
#define VIRTIO_STATUS_NEEDS_RESET   0x40
#define VIRTIO_STATUS_FAILED        0x80

/* Feature bits common to all devices (virtio 1.x, 6). */
#define VIRTIO_F_RING_INDIRECT_DESC 28
#define VIRTIO_F_RING_EVENT_IDX     29
#define VIRTIO_F_VERSION_1          32

#define VIRTIO_ISR_QUEUE            0x01
#define VIRTIO_ISR_CONFIG           0x02

#define VIRTIO_MAX_QUEUES           8

typedef struct VirtioDevice VirtioDevice;

typedef struct {
    const char *name;                   /* "virtio-balloon", for messages */
    uint16_t device_id;                 /* virtio device id (5: balloon) */
    uint16_t queue_size;                /* offered size of every queue */
    /* Device config space: size, and accesses already bounds-checked. */
    uint32_t (*config_size)(VirtioDevice *vdev);
    void (*config_read)(VirtioDevice *vdev, uint32_t off, uint8_t *data,
                        uint32_t len);
    void (*config_write)(VirtioDevice *vdev, uint32_t off,
                         const uint8_t *data, uint32_t len);
    /* The driver kicked queue @q (only while DRIVER_OK and not broken). */
    void (*queue_notify)(VirtioDevice *vdev, unsigned int q);
    /* Features were accepted (FEATURES_OK): optional. */
    void (*features_ok)(VirtioDevice *vdev);
    /* The driver is ready (DRIVER_OK): optional. */
    void (*driver_ok)(VirtioDevice *vdev);
    /* Device reset (status 0, or system reset): optional. */
    void (*reset)(VirtioDevice *vdev);
} VirtioDeviceOps;

typedef struct {
    /* Raise an interrupt for @vector (queue or config vector, already
     * chosen); ISR bits are set before. Device lock held. */
    void (*notify)(void *transport, uint16_t vector);
    /* ISR was cleared (read, or reset): drop INTx. Device lock held. */
    void (*isr_cleared)(void *transport);
} VirtioTransportOps;

struct VirtioDevice {
    const VirtioDeviceOps *ops;
    const char *id;                     /* user id (may be NULL) */
    MemMap *mem;
    GMutex lock;

    uint64_t host_features;             /* the device's configuration */
    /* Guest-visible state (virtio_device_vmsd): down to vq. */
    uint64_t guest_features;            /* what the driver wrote */
    uint8_t status;
    uint8_t isr;
    uint8_t config_generation;
    uint16_t config_vector;
    bool broken;                        /* until the next reset */

    unsigned int nr_queues;
    VirtQueue vq[VIRTIO_MAX_QUEUES];
    VirtqElem *elem;                    /* scratch for queue processing */

    const VirtioTransportOps *transport_ops;
    void *transport;
};

/* The transport-independent state: features, status, ISR, config
 * generation and vector, broken, and every queue. Loading checks the
 * features against this device's and the status against the virtio state
 * machine, and re-derives each queue's ring options. */
typedef struct VmsDesc VmsDesc;
extern const VmsDesc virtio_device_vmsd;

/* Set up @vdev (before a transport attaches). */
void virtio_init(VirtioDevice *vdev, const VirtioDeviceOps *ops,
                 const char *id, MemMap *mem, unsigned int nr_queues,
                 uint64_t features);
void virtio_cleanup(VirtioDevice *vdev);

/* Whether feature @bit was negotiated. */
bool virtio_has_feature(const VirtioDevice *vdev, unsigned int bit);

/* Transport side (device lock held). */
void virtio_reset(VirtioDevice *vdev);
void virtio_set_status(VirtioDevice *vdev, uint8_t status);
void virtio_set_driver_features(VirtioDevice *vdev, unsigned int sel,
                                uint32_t val);
bool virtio_queue_enable(VirtioDevice *vdev, unsigned int q);
void virtio_queue_kick(VirtioDevice *vdev, unsigned int q);
uint8_t virtio_read_isr(VirtioDevice *vdev);
void virtio_config_access(VirtioDevice *vdev, uint32_t off, uint8_t *data,
                          uint32_t len, bool is_write);

/*
 * Device side (device lock held).
 * virtio_set_broken: the guest broke the rules. Logs one line naming the
 * device, sets DEVICE_NEEDS_RESET, sends a config interrupt and stops all
 * queue processing until the driver resets the device.
 */
void virtio_set_broken(VirtioDevice *vdev, const char *why);
/* Interrupt for queue @q if the driver wants one. */
void virtio_queue_notify_guest(VirtioDevice *vdev, unsigned int q);
/* The device config changed: bump the generation, config interrupt. */
void virtio_config_changed(VirtioDevice *vdev);
/* Whether queue processing is allowed (DRIVER_OK, not broken). */
bool virtio_device_live(const VirtioDevice *vdev);

#endif /* KESTREL_VIRTIO_H */
