/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-net-pci (virtio 1.x, 5.1) on a tap backend: one queue pair and
 * the control queue, mergeable receive buffers, the guest's offloads
 * passed through the tap's virtio-net header, receive filtering (modes,
 * MAC tables) as the guest sets it, link state, and self-announcement
 * (RARP, and GUEST_ANNOUNCE) after a migration or on announce-self.
 * Everything runs on the main loop; while the VM is paused the tap is not
 * read and no guest buffer is touched.
 */
#ifndef KESTREL_VIRTIO_NET_H
#define KESTREL_VIRTIO_NET_H

#include <json-glib/json-glib.h>

#include "device.h"

#define VIRTIO_ID_NET               1

#define VIRTIO_NET_F_CSUM           0
#define VIRTIO_NET_F_GUEST_CSUM     1
#define VIRTIO_NET_F_CTRL_GUEST_OFFLOADS 2
#define VIRTIO_NET_F_MTU            3
#define VIRTIO_NET_F_MAC            5
#define VIRTIO_NET_F_GUEST_TSO4     7
#define VIRTIO_NET_F_GUEST_TSO6     8
#define VIRTIO_NET_F_GUEST_ECN      9
#define VIRTIO_NET_F_GUEST_UFO      10
#define VIRTIO_NET_F_HOST_TSO4      11
#define VIRTIO_NET_F_HOST_TSO6      12
#define VIRTIO_NET_F_HOST_ECN       13
#define VIRTIO_NET_F_HOST_UFO       14
#define VIRTIO_NET_F_MRG_RXBUF      15
#define VIRTIO_NET_F_STATUS         16
#define VIRTIO_NET_F_CTRL_VQ        17
#define VIRTIO_NET_F_CTRL_RX        18
#define VIRTIO_NET_F_CTRL_VLAN      19
#define VIRTIO_NET_F_GUEST_ANNOUNCE 21
#define VIRTIO_NET_F_CTRL_MAC_ADDR  23

#define VIRTIO_NET_S_LINK_UP        1
#define VIRTIO_NET_S_ANNOUNCE       2

#define VIRTIO_NET_HDR_LEN          12

extern const DeviceClass virtio_net_pci_class;

/* QMP (main thread). @name: a NIC id or a -netdev id (NULL: every NIC
 * for query-rx-filter). */
JsonArray *virtio_net_query_rx_filter(GPtrArray *devices, const char *name,
                                      GError **errp);
bool virtio_net_set_link(GPtrArray *devices, const char *name, bool up,
                         GError **errp);
/* Announce every NIC (or those in @ifaces, by id or netdev): @rounds
 * RARPs, @initial ms then growing by @step up to @max. */
void virtio_net_announce(GPtrArray *devices, const char *const *ifaces,
                         unsigned int initial, unsigned int max,
                         unsigned int rounds, unsigned int step);

#endif /* KESTREL_VIRTIO_NET_H */
