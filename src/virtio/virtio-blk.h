/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-blk-pci (virtio 1.x, 5.2): a disk on a block backend. Requests
 * are taken from the queues on the thread that is notified and carried
 * out by a pool of I/O threads, each synchronously on the block layer;
 * the completion goes back into the used ring under the device lock.
 * While the VM is paused nothing is in flight (pause waits for every
 * request), so the rings are consistent for migration.
 */
#ifndef KESTREL_VIRTIO_BLK_H
#define KESTREL_VIRTIO_BLK_H

#include "device.h"

#define VIRTIO_ID_BLOCK             2

/* Feature bits (virtio 1.x, 5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX       1
#define VIRTIO_BLK_F_SEG_MAX        2
#define VIRTIO_BLK_F_GEOMETRY       4
#define VIRTIO_BLK_F_RO             5
#define VIRTIO_BLK_F_BLK_SIZE       6
#define VIRTIO_BLK_F_FLUSH          9
#define VIRTIO_BLK_F_TOPOLOGY       10
#define VIRTIO_BLK_F_CONFIG_WCE     11
#define VIRTIO_BLK_F_MQ             12
#define VIRTIO_BLK_F_DISCARD        13
#define VIRTIO_BLK_F_WRITE_ZEROES   14

/* Request types and status. */
#define VIRTIO_BLK_T_IN             0
#define VIRTIO_BLK_T_OUT            1
#define VIRTIO_BLK_T_FLUSH          4
#define VIRTIO_BLK_T_GET_ID         8
#define VIRTIO_BLK_T_DISCARD        11
#define VIRTIO_BLK_T_WRITE_ZEROES   13
#define VIRTIO_BLK_S_OK             0
#define VIRTIO_BLK_S_IOERR          1
#define VIRTIO_BLK_S_UNSUPP         2
#define VIRTIO_BLK_WZ_FLAG_UNMAP    1
#define VIRTIO_BLK_ID_BYTES         20

#define VIRTIO_BLK_CONFIG_SIZE      60

extern const DeviceClass virtio_blk_pci_class;

#endif /* KESTREL_VIRTIO_BLK_H */
