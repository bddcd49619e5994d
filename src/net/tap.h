/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Tap devices: opened here by name (/dev/net/tun), or handed over already
 * open by whoever started kestrel (libvirt's fd=). A tap with IFF_VNET_HDR
 * carries a virtio-net header before every frame, both ways, which lets
 * the guest's checksum and segmentation offloads pass straight through.
 */
#ifndef KESTREL_TAP_H
#define KESTREL_TAP_H

#include <glib.h>
#include <stdbool.h>

/* Open (creating if needed) tap @ifname, or a new "tap%d" when NULL;
 * with IFF_VNET_HDR when @vnet_hdr and the kernel has it. Non-blocking.
 * Returns the fd, its name in @name_out, whether it has the header in
 * @has_vnet_hdr; -1 with @errp set (naming the device) otherwise. */
int tap_open(const char *ifname, bool vnet_hdr, char **name_out,
             bool *has_vnet_hdr, GError **errp);

/* Check that @fd is a tap (TUNGETIFF) and make it non-blocking; its name
 * and whether it has IFF_VNET_HDR. */
bool tap_adopt(int fd, char **name_out, bool *has_vnet_hdr, GError **errp);

/* The virtio-net header length the tap reads and writes (12 for virtio
 * 1.x). False when the kernel refuses. */
bool tap_set_vnet_hdr_len(int fd, int len);

/* Tell the tap which offloads the guest accepts (TUN_F_* of the guest's
 * GUEST_CSUM/TSO4/TSO6/ECN/UFO); frames it hands us are then within them. */
bool tap_set_offload(int fd, bool csum, bool tso4, bool tso6, bool ecn,
                     bool ufo);

#endif /* KESTREL_TAP_H */
