/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-net-pci. See virtio-net.h.
 *
 * Receive: the tap is read into one bounce buffer, the frame is filtered
 * as the guest asked, then the chains that hold it are taken all at once
 * (a mergeable frame may need several): if there are not enough, none is
 * kept (the queue is rewound), the frame waits, and the tap is not read
 * again until the guest posts buffers. So a frame is never split between
 * a full queue and a later one.
 *
 * Transmit: a chain is the 12-byte header and the frame; with a tap that
 * takes virtio-net headers both go out as they are (one writev from guest
 * RAM), otherwise the header is dropped. A chain without a whole header
 * breaks the device.
 */
#include "config.h"

#include <errno.h>
#include <glib-unix.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bytes.h"
#include "error.h"
#include "migration/vmstate.h"
#include "net/net.h"
#include "net/tap.h"
#include "virtio/virtio-net.h"
#include "virtio/virtio-pci.h"
#include "virtio/virtio.h"

#define PCI_CLASS_NETWORK_ETHERNET 0x020000
#define NET_QUEUE_SIZE          256
#define NET_RXQ                 0
#define NET_TXQ                 1
#define NET_CTRLQ               2
#define NET_MAC_TABLE           64      /* entries, as QEMU */
/* A 64 KiB GSO frame, its Ethernet and VLAN headers, our header. */
#define NET_RXBUF               (65536 + 14 + 4 + VIRTIO_NET_HDR_LEN)
#define NET_RX_BATCH            64      /* frames per wakeup */

#define VIRTIO_NET_OK           0
#define VIRTIO_NET_ERR          1
#define CTRL_RX                 0
#define CTRL_MAC                1
#define CTRL_ANNOUNCE           3
#define CTRL_MQ                 4
#define CTRL_GUEST_OFFLOADS     5

typedef struct VirtioNet VirtioNet;

struct VirtioNet {
    Device dev;                         /* first: a Device* is ours */
    /* Properties. */
    char *netdev;
    char *mac_prop;
    char *romfile;
    bool no_ioeventfd;
    bool no_mrg_rxbuf, no_csum, no_guest_csum, no_ctrl_vq, no_ctrl_rx;
    bool no_status, no_guest_announce;
    uint32_t host_mtu;

    VirtioDevice vdev;
    VirtioPci *pci;
    NetClient *nc;
    char *qdev;

    /* Guest-visible state (net_vmsd), with vdev and pci. */
    uint8_t mac[6];
    uint16_t status;
    bool promisc, allmulti, alluni, nomulti, nouni, nobcast;
    uint32_t uni_count, multi_count;
    bool uni_overflow, multi_overflow;
    uint8_t mac_table[NET_MAC_TABLE * 6];
    uint64_t guest_offloads;
    bool nic_link_down;                 /* set_link on the NIC itself */

    /* Host side; vdev.lock covers it. */
    guint rx_watch;
    bool paused;
    uint8_t *rxbuf;
    size_t rx_stash;                    /* a frame waiting for buffers */
    bool rxfilter_notify;               /* NIC_RX_FILTER_CHANGED armed */
    bool announce_on_resume;            /* loaded from a migration */
    guint announce_timer;
    unsigned int announce_left, announce_next, announce_max, announce_step;
    uint64_t rx_dropped, tx_dropped;

    void (*emit_event)(void *opaque, const char *name, JsonObject *data);
    void *ctx_opaque;
};

#define VDEV_NET(v) ((VirtioNet *)((char *)(v) - offsetof(VirtioNet, vdev)))

static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static void net_rx_arm(VirtioNet *n);

static bool net_link_up(VirtioNet *n)
{
    return !n->nic_link_down && !n->nc->link_down;
}

static uint16_t net_status(VirtioNet *n)
{
    return (net_link_up(n) ? VIRTIO_NET_S_LINK_UP : 0) |
           (n->status & VIRTIO_NET_S_ANNOUNCE);
}

/* --- receive ---------------------------------------------------------------- */

/* Whether the guest wants frame @f (QEMU's receive_filter rules). */
static bool net_rx_wanted(VirtioNet *n, const uint8_t *f, size_t len)
{
    if (len < 14) {
        return false;
    }
    if (n->promisc) {
        return true;
    }
    if (f[0] & 1) {
        if (!memcmp(f, bcast, 6)) {
            return !n->nobcast;
        }
        if (n->nomulti) {
            return false;
        }
        if (n->allmulti || n->multi_overflow) {
            return true;
        }
        for (uint32_t i = n->uni_count; i < n->uni_count + n->multi_count;
             i++) {
            if (!memcmp(f, &n->mac_table[i * 6], 6)) {
                return true;
            }
        }
        return false;
    }
    if (n->nouni) {
        return false;
    }
    if (n->alluni || n->uni_overflow || !memcmp(f, n->mac, 6)) {
        return true;
    }
    for (uint32_t i = 0; i < n->uni_count; i++) {
        if (!memcmp(f, &n->mac_table[i * 6], 6)) {
            return true;
        }
    }
    return false;
}

/*
 * Put the frame in rxbuf (header first, @len bytes in all) into guest
 * buffers. Returns false when the queue lacks room (nothing taken).
 */
static bool net_rx_deliver(VirtioNet *n, size_t len)
{
    VirtioDevice *vdev = &n->vdev;
    VirtQueue *vq = &vdev->vq[NET_RXQ];
    VirtqElem *elem = vdev->elem;
    bool mrg = virtio_has_feature(vdev, VIRTIO_NET_F_MRG_RXBUF);
    uint16_t saved_avail = vq->last_avail;
    g_autoptr(GArray) chains = g_array_new(FALSE, FALSE, sizeof(uint32_t));
    g_autoptr(GArray) segs = g_array_new(FALSE, FALSE, sizeof(VirtqSeg));
    g_autoptr(GArray) heads = g_array_new(FALSE, FALSE, sizeof(uint16_t));
    uint64_t room = 0;
    size_t off = 0;

    while (room < len) {
        g_autoptr(GError) err = NULL;
        VirtqPop rc = virtqueue_pop(vq, elem, &err);
        uint32_t first = segs->len;

        if (rc == VIRTQ_EMPTY) {
            vq->last_avail = saved_avail;
            return false;
        }
        if (rc == VIRTQ_BROKEN) {
            g_autofree char *why = g_strdup_printf("receive queue: %s",
                                                   err->message);

            virtio_set_broken(vdev, why);
            return true;
        }
        if (elem->n_out || elem->in_len < VIRTIO_NET_HDR_LEN) {
            virtio_set_broken(vdev, "receive buffer device-readable or "
                                    "smaller than the header");
            return true;
        }
        if (!mrg && elem->in_len < len) {
            /* A frame larger than the guest's buffers (an MTU it did not
             * expect): dropped, the buffer stays the guest's. */
            vq->last_avail = saved_avail;
            n->rx_dropped++;
            return true;
        }
        for (unsigned int i = 0; i < elem->n_in; i++) {
            g_array_append_val(segs, elem->seg[i]);
        }
        g_array_append_val(chains, first);
        g_array_append_val(heads, elem->head);
        room += elem->in_len;
        if (!mrg) {
            break;
        }
    }
    /* num_buffers: how many chains the frame took. */
    le16_store(n->rxbuf + 10, mrg ? (uint16_t)heads->len : 0);
    for (guint c = 0; c < heads->len; c++) {
        uint32_t s = g_array_index(chains, uint32_t, c);
        uint32_t e = c + 1 < heads->len ? g_array_index(chains, uint32_t,
                                                        c + 1) : segs->len;
        uint32_t written = 0;

        for (; s < e && off < len; s++) {
            const VirtqSeg *sg = &g_array_index(segs, VirtqSeg, s);
            size_t k = MIN((size_t)sg->len, len - off);

            memmap_write(vdev->mem, sg->gpa, n->rxbuf + off, k);
            off += k;
            written += (uint32_t)k;
        }
        virtqueue_push(vq, g_array_index(heads, uint16_t, c), written);
    }
    return true;
}

/* Read and deliver what the tap has (device lock held). */
static void net_rx_pump(VirtioNet *n)
{
    VirtioDevice *vdev = &n->vdev;
    bool pushed = false;
    size_t hdr = n->nc->vnet_hdr ? 0 : VIRTIO_NET_HDR_LEN;

    for (int i = 0; i < NET_RX_BATCH; i++) {
        size_t len = n->rx_stash;

        if (!virtio_device_live(vdev) || !vdev->vq[NET_RXQ].ready) {
            break;
        }
        if (!len) {
            ssize_t r = read(n->nc->fd, n->rxbuf + hdr, NET_RXBUF - hdr);

            if (r < 0) {
                break;                  /* EAGAIN, or the tap is gone */
            }
            if (hdr) {
                memset(n->rxbuf, 0, VIRTIO_NET_HDR_LEN);
            }
            len = (size_t)r + hdr;
            if (len <= VIRTIO_NET_HDR_LEN || !net_link_up(n) ||
                !net_rx_wanted(n, n->rxbuf + VIRTIO_NET_HDR_LEN,
                               len - VIRTIO_NET_HDR_LEN)) {
                continue;
            }
        }
        if (!net_rx_deliver(n, len)) {
            /* No room: keep the frame; the guest's kick resumes. */
            n->rx_stash = len;
            break;
        }
        n->rx_stash = 0;
        pushed = true;
        if (vdev->broken) {
            break;
        }
    }
    if (pushed) {
        virtio_queue_notify_guest(vdev, NET_RXQ);
    }
}

static gboolean net_rx_cb(gint fd, GIOCondition cond, gpointer opaque)
{
    VirtioNet *n = opaque;

    (void)fd;
    (void)cond;
    g_mutex_lock(&n->vdev.lock);
    net_rx_pump(n);
    if (n->rx_stash || n->paused || !virtio_device_live(&n->vdev) ||
        !n->vdev.vq[NET_RXQ].ready) {
        /* Until the guest posts buffers (its kick re-arms us). */
        n->rx_watch = 0;
        g_mutex_unlock(&n->vdev.lock);
        return G_SOURCE_REMOVE;
    }
    g_mutex_unlock(&n->vdev.lock);
    return G_SOURCE_CONTINUE;
}

/* Watch the tap again (device lock held). */
static void net_rx_arm(VirtioNet *n)
{
    if (n->paused || n->rx_watch || !virtio_device_live(&n->vdev)) {
        return;
    }
    n->rx_watch = g_unix_fd_add(n->nc->fd, G_IO_IN, net_rx_cb, n);
}

/* --- transmit --------------------------------------------------------------- */

static void net_tx(VirtioNet *n)
{
    VirtioDevice *vdev = &n->vdev;
    VirtQueue *vq = &vdev->vq[NET_TXQ];
    VirtqElem *elem = vdev->elem;
    bool pushed = false;
    struct iovec *iov = g_new(struct iovec, VIRTQ_MAX_SIZE);

    for (;;) {
        g_autoptr(GError) err = NULL;
        VirtqPop rc = virtqueue_pop(vq, elem, &err);
        uint64_t skip = n->nc->vnet_hdr ? 0 : VIRTIO_NET_HDR_LEN;
        int niov = 0;
        bool ok = true;

        if (rc == VIRTQ_EMPTY) {
            break;
        }
        if (rc == VIRTQ_BROKEN) {
            g_autofree char *why = g_strdup_printf("transmit queue: %s",
                                                   err->message);

            virtio_set_broken(vdev, why);
            break;
        }
        if (elem->out_len < VIRTIO_NET_HDR_LEN) {
            virtio_set_broken(vdev, "transmit chain without a whole "
                                    "virtio-net header");
            break;
        }
        for (unsigned int i = 0; i < elem->n_out; i++) {
            uint64_t gpa = elem->seg[i].gpa, len = elem->seg[i].len;
            const void *p;

            if (skip >= len) {
                skip -= len;
                continue;
            }
            gpa += skip;
            len -= skip;
            skip = 0;
            p = memmap_hva(vdev->mem, gpa, len);
            if (!p) {
                ok = false;
                break;
            }
            iov[niov].iov_base = (void *)p;
            iov[niov].iov_len = len;
            niov++;
        }
        if (ok && net_link_up(n) && niov) {
            ssize_t w;

            do {
                w = writev(n->nc->fd, iov, niov);
            } while (w < 0 && errno == EINTR);
            if (w < 0) {
                n->tx_dropped++;
            }
        } else {
            n->tx_dropped++;
        }
        virtqueue_push(vq, elem->head, 0);
        pushed = true;
    }
    g_free(iov);
    if (pushed) {
        virtio_queue_notify_guest(vdev, NET_TXQ);
    }
}

/* --- control queue ---------------------------------------------------------- */

static void net_rx_filter_changed(VirtioNet *n)
{
    JsonObject *data;

    /* Once, until query-rx-filter reads the new state (as QEMU). */
    if (!n->rxfilter_notify || !n->emit_event) {
        return;
    }
    n->rxfilter_notify = false;
    data = json_object_new();
    if (n->dev.id) {
        json_object_set_string_member(data, "name", n->dev.id);
    }
    json_object_set_string_member(data, "path", n->qdev);
    n->emit_event(n->ctx_opaque, "NIC_RX_FILTER_CHANGED", data);
}

static void net_apply_offloads(VirtioNet *n)
{
    uint64_t o = n->guest_offloads;

    if (!n->nc->vnet_hdr) {
        return;
    }
    tap_set_offload(n->nc->fd, o & (1ULL << VIRTIO_NET_F_GUEST_CSUM),
                    o & (1ULL << VIRTIO_NET_F_GUEST_TSO4),
                    o & (1ULL << VIRTIO_NET_F_GUEST_TSO6),
                    o & (1ULL << VIRTIO_NET_F_GUEST_ECN),
                    o & (1ULL << VIRTIO_NET_F_GUEST_UFO));
}

static uint8_t net_ctrl_mac_table(VirtioNet *n, const uint8_t *d, size_t len)
{
    uint32_t nu, nm;
    uint8_t table[NET_MAC_TABLE * 6];
    uint32_t in = 0;
    bool uo = false, mo = false;

    if (len < 4) {
        return VIRTIO_NET_ERR;
    }
    nu = le32_load(d);
    if (nu > (len - 4) / 6) {
        return VIRTIO_NET_ERR;
    }
    if (len - 4 - (size_t)nu * 6 < 4) {
        return VIRTIO_NET_ERR;
    }
    nm = le32_load(d + 4 + (size_t)nu * 6);
    if (nm > (len - 8 - (size_t)nu * 6) / 6 ||
        len != 8 + ((size_t)nu + nm) * 6) {
        return VIRTIO_NET_ERR;
    }
    if (nu <= NET_MAC_TABLE) {
        memcpy(table, d + 4, (size_t)nu * 6);
        in = nu;
    } else {
        uo = true;
        nu = 0;
    }
    if (in + nm <= NET_MAC_TABLE) {
        memcpy(table + in * 6, d + 8 + (size_t)le32_load(d) * 6,
               (size_t)nm * 6);
    } else {
        mo = true;
        nm = 0;
    }
    memcpy(n->mac_table, table, (size_t)(in + nm) * 6);
    n->uni_count = in;
    n->multi_count = nm;
    n->uni_overflow = uo;
    n->multi_overflow = mo;
    return VIRTIO_NET_OK;
}

static uint8_t net_ctrl_cmd(VirtioNet *n, uint8_t cls, uint8_t cmd,
                            const uint8_t *d, size_t len)
{
    VirtioDevice *vdev = &n->vdev;

    switch (cls) {
    case CTRL_RX: {
        bool *flags[] = { &n->promisc, &n->allmulti, &n->alluni,
                          &n->nomulti, &n->nouni, &n->nobcast };

        if (cmd >= G_N_ELEMENTS(flags) || len != 1) {
            return VIRTIO_NET_ERR;
        }
        *flags[cmd] = d[0] != 0;
        net_rx_filter_changed(n);
        return VIRTIO_NET_OK;
    }
    case CTRL_MAC:
        if (cmd == 0) {
            uint8_t r = net_ctrl_mac_table(n, d, len);

            if (r == VIRTIO_NET_OK) {
                net_rx_filter_changed(n);
            }
            return r;
        }
        if (cmd == 1 && len == 6) {
            memcpy(n->mac, d, 6);
            net_rx_filter_changed(n);
            return VIRTIO_NET_OK;
        }
        return VIRTIO_NET_ERR;
    case CTRL_ANNOUNCE:
        if (cmd == 0 && (n->status & VIRTIO_NET_S_ANNOUNCE)) {
            n->status &= ~VIRTIO_NET_S_ANNOUNCE;
            return VIRTIO_NET_OK;
        }
        return VIRTIO_NET_ERR;
    case CTRL_MQ:
        /* One queue pair: VQ_PAIRS_SET 1 is all there is to set. */
        return cmd == 0 && len == 2 && le16_load(d) == 1 ? VIRTIO_NET_OK
                                                          : VIRTIO_NET_ERR;
    case CTRL_GUEST_OFFLOADS: {
        uint64_t allowed = vdev->guest_features &
            (1ULL << VIRTIO_NET_F_GUEST_CSUM | 1ULL << VIRTIO_NET_F_GUEST_TSO4 |
             1ULL << VIRTIO_NET_F_GUEST_TSO6 | 1ULL << VIRTIO_NET_F_GUEST_ECN |
             1ULL << VIRTIO_NET_F_GUEST_UFO);
        uint64_t v;

        if (cmd != 0 || len != 8) {
            return VIRTIO_NET_ERR;
        }
        v = le64_load(d);
        if (v & ~allowed) {
            return VIRTIO_NET_ERR;
        }
        n->guest_offloads = v;
        net_apply_offloads(n);
        return VIRTIO_NET_OK;
    }
    default:
        return VIRTIO_NET_ERR;
    }
}

static void net_ctrl(VirtioNet *n)
{
    VirtioDevice *vdev = &n->vdev;
    VirtQueue *vq = &vdev->vq[NET_CTRLQ];
    VirtqElem *elem = vdev->elem;
    bool pushed = false;

    for (;;) {
        g_autoptr(GError) err = NULL;
        VirtqPop rc = virtqueue_pop(vq, elem, &err);
        uint8_t hdr[2], ack;
        g_autofree uint8_t *data = NULL;
        size_t len;

        if (rc == VIRTQ_EMPTY) {
            break;
        }
        if (rc == VIRTQ_BROKEN) {
            g_autofree char *why = g_strdup_printf("control queue: %s",
                                                   err->message);

            virtio_set_broken(vdev, why);
            return;
        }
        if (elem->out_len < sizeof(hdr) || elem->in_len < 1 ||
            elem->out_len > 8 + (NET_MAC_TABLE + 1) * 6 * 2) {
            virtio_set_broken(vdev, "control command without header or "
                                    "ack, or too long");
            return;
        }
        len = elem->out_len - sizeof(hdr);
        data = g_malloc(len + 1);
        virtqueue_elem_read(vdev->mem, elem, 0, hdr, sizeof(hdr));
        virtqueue_elem_read(vdev->mem, elem, sizeof(hdr), data, len);
        ack = net_ctrl_cmd(n, hdr[0], hdr[1], data, len);
        virtqueue_elem_write(vdev->mem, elem, elem->in_len - 1, &ack, 1);
        virtqueue_push(vq, elem->head, 1);
        pushed = true;
    }
    if (pushed) {
        virtio_queue_notify_guest(vdev, NET_CTRLQ);
    }
}

/* --- virtio device ops (device lock held) ------------------------------ */

static void net_queue_notify(VirtioDevice *vdev, unsigned int q)
{
    VirtioNet *n = VDEV_NET(vdev);

    switch (q) {
    case NET_RXQ:
        /* New buffers: what waited goes in, and the tap is read again. */
        net_rx_pump(n);
        if (!vdev->broken && !n->rx_stash) {
            net_rx_arm(n);
        }
        break;
    case NET_TXQ:
        net_tx(n);
        break;
    case NET_CTRLQ:
        if (virtio_has_feature(vdev, VIRTIO_NET_F_CTRL_VQ)) {
            net_ctrl(n);
        }
        break;
    default:
        break;
    }
}

static uint32_t net_config_size(VirtioDevice *vdev)
{
    (void)vdev;
    return 12;
}

static void net_config_read(VirtioDevice *vdev, uint32_t off, uint8_t *data,
                            uint32_t len)
{
    VirtioNet *n = VDEV_NET(vdev);
    uint8_t cfg[12];

    memcpy(cfg, n->mac, 6);
    le16_store(cfg + 6, net_status(n));
    le16_store(cfg + 8, 1);                     /* max_virtqueue_pairs */
    le16_store(cfg + 10, (uint16_t)n->host_mtu);
    memcpy(data, cfg + off, len);
}

static void net_features_ok(VirtioDevice *vdev)
{
    VirtioNet *n = VDEV_NET(vdev);

    /* The guest's offloads start as what it negotiated. */
    n->guest_offloads = vdev->guest_features &
        (1ULL << VIRTIO_NET_F_GUEST_CSUM | 1ULL << VIRTIO_NET_F_GUEST_TSO4 |
         1ULL << VIRTIO_NET_F_GUEST_TSO6 | 1ULL << VIRTIO_NET_F_GUEST_ECN |
         1ULL << VIRTIO_NET_F_GUEST_UFO);
    net_apply_offloads(n);
}

static void net_driver_ok(VirtioDevice *vdev)
{
    net_rx_arm(VDEV_NET(vdev));
}

static void net_reset(VirtioDevice *vdev)
{
    VirtioNet *n = VDEV_NET(vdev);

    /* As QEMU: promiscuous until the driver says otherwise. */
    n->promisc = true;
    n->allmulti = n->alluni = n->nomulti = n->nouni = n->nobcast = false;
    n->uni_count = n->multi_count = 0;
    n->uni_overflow = n->multi_overflow = false;
    n->status &= ~VIRTIO_NET_S_ANNOUNCE;
    n->guest_offloads = 0;
    n->rx_stash = 0;
    if (n->nc) {
        net_apply_offloads(n);
    }
    if (n->rx_watch) {
        g_source_remove(n->rx_watch);
        n->rx_watch = 0;
    }
}

static const VirtioDeviceOps net_ops = {
    .name = "virtio-net",
    .device_id = VIRTIO_ID_NET,
    .queue_size = NET_QUEUE_SIZE,
    .config_size = net_config_size,
    .config_read = net_config_read,
    .queue_notify = net_queue_notify,
    .features_ok = net_features_ok,
    .driver_ok = net_driver_ok,
    .reset = net_reset,
};

/* --- announce ----------------------------------------------------------- */

static void net_send_rarp(VirtioNet *n)
{
    uint8_t f[VIRTIO_NET_HDR_LEN + 60] = { 0 };
    uint8_t *e = f + VIRTIO_NET_HDR_LEN;
    size_t off = n->nc->vnet_hdr ? 0 : VIRTIO_NET_HDR_LEN;
    ssize_t w;

    memcpy(e, bcast, 6);
    memcpy(e + 6, n->mac, 6);
    e[12] = 0x80;                       /* RARP */
    e[13] = 0x35;
    e[15] = 1;                          /* Ethernet */
    e[16] = 0x08;                       /* IPv4 */
    e[18] = 6;
    e[19] = 4;
    e[21] = 3;                          /* reverse request */
    memcpy(e + 22, n->mac, 6);
    memcpy(e + 32, n->mac, 6);
    do {
        w = write(n->nc->fd, f + off, sizeof(f) - off);
    } while (w < 0 && errno == EINTR);
}

static gboolean net_announce_cb(gpointer opaque)
{
    VirtioNet *n = opaque;
    VirtioDevice *vdev = &n->vdev;

    g_mutex_lock(&vdev->lock);
    n->announce_timer = 0;
    if (n->paused) {
        g_mutex_unlock(&vdev->lock);
        return G_SOURCE_REMOVE;
    }
    if (net_link_up(n)) {
        net_send_rarp(n);
    }
    /* A driver that can announce itself is asked to (gratuitous ARP for
     * its addresses, which only it knows). */
    if (virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_ANNOUNCE) &&
        virtio_has_feature(vdev, VIRTIO_NET_F_CTRL_VQ) &&
        (vdev->status & VIRTIO_STATUS_DRIVER_OK)) {
        n->status |= VIRTIO_NET_S_ANNOUNCE;
        virtio_config_changed(vdev);
    }
    if (n->announce_left > 1) {
        n->announce_left--;
        n->announce_timer = g_timeout_add(n->announce_next, net_announce_cb,
                                          n);
        n->announce_next = MIN(n->announce_next + n->announce_step,
                               n->announce_max);
    } else {
        n->announce_left = 0;
    }
    g_mutex_unlock(&vdev->lock);
    return G_SOURCE_REMOVE;
}

/* Device lock held. */
static void net_announce_start(VirtioNet *n, unsigned int initial,
                               unsigned int max, unsigned int rounds,
                               unsigned int step)
{
    if (n->announce_timer) {
        g_source_remove(n->announce_timer);
        n->announce_timer = 0;
    }
    if (!rounds) {
        return;
    }
    n->announce_left = rounds;
    n->announce_next = MIN(initial + step, max);
    n->announce_max = max;
    n->announce_step = step;
    n->announce_timer = g_timeout_add(initial, net_announce_cb, n);
}

/* --- construction ------------------------------------------------------ */

static bool net_parse_mac(const char *s, uint8_t mac[6])
{
    unsigned int b[6];
    char tail;

    if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
               &b[4], &b[5], &tail) != 6) {
        return false;
    }
    for (int i = 0; i < 6; i++) {
        mac[i] = (uint8_t)b[i];
    }
    return true;
}

static bool net_realize(Device *dev, const DeviceContext *ctx, GError **errp)
{
    VirtioNet *n = (VirtioNet *)dev;
    static unsigned int nic_count;
    uint64_t features;
    int devfn = dev->devfn;
    VirtioPciConfig pc = { .class_code = PCI_CLASS_NETWORK_ETHERNET };

    if (!n->netdev) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "virtio-net-pci without netdev=: kestrel has no "
                    "unconnected NICs, give -netdev tap,id=ID and netdev=ID");
        return false;
    }
    if (n->mac_prop) {
        if (!net_parse_mac(n->mac_prop, n->mac) || (n->mac[0] & 1)) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "Property 'virtio-net-pci.mac' doesn't take value "
                        "'%s': expected a unicast address like "
                        "52:54:00:12:34:56", n->mac_prop);
            return false;
        }
    } else {
        /* QEMU's default: 52:54:00:12:34:56, then :57 for the next. */
        static const uint8_t base[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

        memcpy(n->mac, base, 6);
        n->mac[5] = (uint8_t)(base[5] + nic_count++);
    }
    if (n->romfile && *n->romfile) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "virtio-net-pci: romfile '%s': kestrel boots kernels "
                    "directly and loads no option ROM (give romfile=)",
                    n->romfile);
        return false;
    }
    if (n->host_mtu && (n->host_mtu < 68 || n->host_mtu > 65535)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "virtio-net-pci: host_mtu %u is out of range (68 to "
                    "65535)", n->host_mtu);
        return false;
    }
    n->nc = net_graph_attach(ctx->nets, n->netdev, errp);
    if (!n->nc) {
        return false;
    }
    n->qdev = device_context_qom_path(ctx, dev, "/virtio-backend");
    n->emit_event = ctx->emit_event;
    n->ctx_opaque = ctx->opaque;
    n->rxbuf = g_malloc(NET_RXBUF);
    n->promisc = true;
    n->rxfilter_notify = true;
    if (devfn < 0) {
        int slot = pci_host_free_slot(ctx->pci);

        if (slot < 0) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "no free PCI slot left for virtio-net-pci");
            return false;
        }
        devfn = slot << 3;
    }
    features = 1ULL << VIRTIO_NET_F_MAC;
    if (!n->no_status) {
        features |= 1ULL << VIRTIO_NET_F_STATUS;
    }
    if (!n->no_mrg_rxbuf) {
        features |= 1ULL << VIRTIO_NET_F_MRG_RXBUF;
    }
    if (!n->no_ctrl_vq) {
        features |= 1ULL << VIRTIO_NET_F_CTRL_VQ |
                    1ULL << VIRTIO_NET_F_CTRL_MAC_ADDR |
                    1ULL << VIRTIO_NET_F_CTRL_GUEST_OFFLOADS;
        if (!n->no_ctrl_rx) {
            features |= 1ULL << VIRTIO_NET_F_CTRL_RX;
        }
        if (!n->no_guest_announce) {
            features |= 1ULL << VIRTIO_NET_F_GUEST_ANNOUNCE;
        }
    }
    if (n->host_mtu) {
        features |= 1ULL << VIRTIO_NET_F_MTU;
    }
    /* Offloads travel in the tap's header; without one, none. */
    if (n->nc->vnet_hdr) {
        if (!n->no_csum) {
            features |= 1ULL << VIRTIO_NET_F_CSUM |
                        1ULL << VIRTIO_NET_F_HOST_TSO4 |
                        1ULL << VIRTIO_NET_F_HOST_TSO6 |
                        1ULL << VIRTIO_NET_F_HOST_ECN;
        }
        if (!n->no_guest_csum) {
            features |= 1ULL << VIRTIO_NET_F_GUEST_CSUM |
                        1ULL << VIRTIO_NET_F_GUEST_TSO4 |
                        1ULL << VIRTIO_NET_F_GUEST_TSO6 |
                        1ULL << VIRTIO_NET_F_GUEST_ECN;
        }
    }
    virtio_init(&n->vdev, &net_ops, dev->id, ctx->mem, 3, features);
    net_apply_offloads(n);
    pc.devfn = (uint8_t)devfn;
    pc.bar_addr = devices_pci_window((unsigned int)devfn);
    pc.kvm = n->no_ioeventfd ? NULL : ctx->kvm;
    n->pci = virtio_pci_new(&n->vdev, ctx->pci, "virtio-net-pci", &pc, errp);
    return n->pci != NULL;
}

static void net_unrealize(Device *dev)
{
    VirtioNet *n = (VirtioNet *)dev;

    if (n->rx_watch) {
        g_source_remove(n->rx_watch);
        n->rx_watch = 0;
    }
    if (n->announce_timer) {
        g_source_remove(n->announce_timer);
        n->announce_timer = 0;
    }
    virtio_pci_free(n->pci);
    n->pci = NULL;
    if (n->vdev.ops) {
        virtio_cleanup(&n->vdev);
        n->vdev.ops = NULL;
    }
    g_free(n->rxbuf);
    g_free(n->qdev);
}

static void net_class_reset(Device *dev)
{
    virtio_pci_reset(((VirtioNet *)dev)->pci);
}

static void net_pause(Device *dev)
{
    VirtioNet *n = (VirtioNet *)dev;

    virtio_pci_pause(n->pci);
    g_mutex_lock(&n->vdev.lock);
    n->paused = true;
    if (n->rx_watch) {
        g_source_remove(n->rx_watch);
        n->rx_watch = 0;
    }
    g_mutex_unlock(&n->vdev.lock);
}

static void net_resume(Device *dev)
{
    VirtioNet *n = (VirtioNet *)dev;

    g_mutex_lock(&n->vdev.lock);
    n->paused = false;
    if (n->announce_on_resume) {
        /* Arrived by migration: tell the network where we are now (QEMU's
         * announce-* defaults: 50 ms, then +100 ms, 5 rounds). */
        n->announce_on_resume = false;
        net_announce_start(n, 50, 550, 5, 100);
    }
    net_rx_arm(n);
    g_mutex_unlock(&n->vdev.lock);
    virtio_pci_resume(n->pci);
}

static bool net_post_load(void *opaque, uint32_t version, GError **errp)
{
    VirtioNet *n = opaque;

    (void)version;
    if (n->uni_count + (uint64_t)n->multi_count > NET_MAC_TABLE) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "field 'uni_count': %u + %u MAC entries, at most %u",
                    n->uni_count, n->multi_count, NET_MAC_TABLE);
        return false;
    }
    if (n->status & ~(uint16_t)(VIRTIO_NET_S_LINK_UP |
                                VIRTIO_NET_S_ANNOUNCE)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "field 'status': 0x%x", n->status);
        return false;
    }
    net_apply_offloads(n);
    n->announce_on_resume = true;
    return true;
}

/* Wire names: never rename. */
static const VmsDesc net_vmsd = {
    .name = "virtio-net",
    .version = 1,
    .min_version = 1,
    .post_load = net_post_load,
    .fields = (const VmsField[]) {
        VMS_STRUCT(VirtioNet, vdev, virtio_device_vmsd, VirtioDevice),
        VMS_STRUCT_PTR(VirtioNet, pci, virtio_pci_vmsd, VirtioPci),
        VMS_U8_ARRAY(VirtioNet, mac, 6),
        VMS_U16(VirtioNet, status),
        VMS_BOOL(VirtioNet, promisc),
        VMS_BOOL(VirtioNet, allmulti),
        VMS_BOOL(VirtioNet, alluni),
        VMS_BOOL(VirtioNet, nomulti),
        VMS_BOOL(VirtioNet, nouni),
        VMS_BOOL(VirtioNet, nobcast),
        VMS_U32(VirtioNet, uni_count),
        VMS_U32(VirtioNet, multi_count),
        VMS_BOOL(VirtioNet, uni_overflow),
        VMS_BOOL(VirtioNet, multi_overflow),
        VMS_U8_ARRAY(VirtioNet, mac_table, NET_MAC_TABLE * 6),
        VMS_U64(VirtioNet, guest_offloads),
        VMS_BOOL(VirtioNet, nic_link_down),
        VMS_END_OF_LIST,
    },
};

#define MODERN_ONLY "kestrel's virtio devices are modern (virtio 1.x) only"

static const DeviceProp net_props[] = {
    { "addr", DEVICE_PROP_PCI_ADDR, offsetof(Device, devfn) },
    { "bus", DEVICE_PROP_PCI_BUS, 0 },
    { "csum", DEVICE_PROP_BOOL_NEG, offsetof(VirtioNet, no_csum) },
    { "ctrl_rx", DEVICE_PROP_BOOL_NEG, offsetof(VirtioNet, no_ctrl_rx) },
    { "ctrl_vq", DEVICE_PROP_BOOL_NEG, offsetof(VirtioNet, no_ctrl_vq) },
    { "disable-legacy", DEVICE_PROP_MUST_BE_ON, 0, MODERN_ONLY },
    { "disable-modern", DEVICE_PROP_MUST_BE_OFF, 0, MODERN_ONLY },
    { "guest_announce", DEVICE_PROP_BOOL_NEG,
      offsetof(VirtioNet, no_guest_announce) },
    { "guest_csum", DEVICE_PROP_BOOL_NEG, offsetof(VirtioNet, no_guest_csum) },
    { "host_mtu", DEVICE_PROP_U32, offsetof(VirtioNet, host_mtu), NULL, 68,
      65535 },
    { "ioeventfd", DEVICE_PROP_BOOL_NEG, offsetof(VirtioNet, no_ioeventfd) },
    { "mac", DEVICE_PROP_STR, offsetof(VirtioNet, mac_prop) },
    { "mq", DEVICE_PROP_MUST_BE_OFF, 0,
      "kestrel's virtio-net has one queue pair" },
    { "mrg_rxbuf", DEVICE_PROP_BOOL_NEG, offsetof(VirtioNet, no_mrg_rxbuf) },
    { "netdev", DEVICE_PROP_STR, offsetof(VirtioNet, netdev) },
    /* libvirt's <rom enabled='no'/>: romfile="" (no option ROM). */
    { "romfile", DEVICE_PROP_STR, offsetof(VirtioNet, romfile) },
    { "status", DEVICE_PROP_BOOL_NEG, offsetof(VirtioNet, no_status) },
    { NULL },
};

const DeviceClass virtio_net_pci_class = {
    .name = "virtio-net-pci",
    .instance_size = sizeof(VirtioNet),
    .props = net_props,
    .realize = net_realize,
    .reset = net_class_reset,
    .unrealize = net_unrealize,
    .vmsd = &net_vmsd,
    .pause = net_pause,
    .resume = net_resume,
};

/* --- QMP ----------------------------------------------------------------- */

static bool net_matches(VirtioNet *n, const char *name)
{
    return (n->dev.id && g_str_equal(n->dev.id, name)) ||
           g_str_equal(n->nc->id, name);
}

static char *mac_str(const uint8_t *m)
{
    return g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2],
                           m[3], m[4], m[5]);
}

static JsonArray *mac_list(const uint8_t *t, uint32_t from, uint32_t count)
{
    JsonArray *a = json_array_new();

    for (uint32_t i = from; i < from + count; i++) {
        g_autofree char *s = mac_str(t + (size_t)i * 6);

        json_array_add_string_element(a, s);
    }
    return a;
}

static const char *rx_state(bool none, bool all)
{
    return none ? "none" : all ? "all" : "normal";
}

JsonArray *virtio_net_query_rx_filter(GPtrArray *devices, const char *name,
                                      GError **errp)
{
    JsonArray *arr = json_array_new();
    bool found = false;

    for (guint i = 0; devices && i < devices->len; i++) {
        Device *d = g_ptr_array_index(devices, i);
        VirtioNet *n = (VirtioNet *)d;
        JsonObject *o;
        g_autofree char *mac = NULL;

        if (d->cls != &virtio_net_pci_class) {
            continue;
        }
        if (name && !(d->id && g_str_equal(d->id, name))) {
            continue;
        }
        found = true;
        g_mutex_lock(&n->vdev.lock);
        o = json_object_new();
        mac = mac_str(n->mac);
        json_object_set_string_member(o, "name", d->id ? d->id : "");
        json_object_set_boolean_member(o, "promiscuous", n->promisc);
        json_object_set_string_member(o, "multicast",
                                      rx_state(n->nomulti, n->allmulti));
        json_object_set_string_member(o, "unicast",
                                      rx_state(n->nouni, n->alluni));
        json_object_set_string_member(o, "vlan", "all");
        json_object_set_boolean_member(o, "broadcast-allowed", !n->nobcast);
        json_object_set_boolean_member(o, "multicast-overflow",
                                       n->multi_overflow);
        json_object_set_boolean_member(o, "unicast-overflow",
                                       n->uni_overflow);
        json_object_set_string_member(o, "main-mac", mac);
        json_object_set_array_member(o, "vlan-table", json_array_new());
        json_object_set_array_member(o, "unicast-table",
                                     mac_list(n->mac_table, 0,
                                              n->uni_count));
        json_object_set_array_member(o, "multicast-table",
                                     mac_list(n->mac_table, n->uni_count,
                                              n->multi_count));
        /* Read: the next change is worth an event again. */
        n->rxfilter_notify = true;
        g_mutex_unlock(&n->vdev.lock);
        json_array_add_object_element(arr, o);
    }
    if (name && !found) {
        json_array_unref(arr);
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "net client(%s) isn't a NIC", name);
        return NULL;
    }
    return arr;
}

bool virtio_net_set_link(GPtrArray *devices, const char *name, bool up,
                         GError **errp)
{
    bool found = false;

    for (guint i = 0; devices && i < devices->len; i++) {
        Device *d = g_ptr_array_index(devices, i);
        VirtioNet *n = (VirtioNet *)d;
        uint16_t before;

        if (d->cls != &virtio_net_pci_class || !net_matches(n, name)) {
            continue;
        }
        found = true;
        g_mutex_lock(&n->vdev.lock);
        before = net_status(n);
        if (d->id && g_str_equal(d->id, name)) {
            n->nic_link_down = !up;
        } else {
            n->nc->link_down = !up;
        }
        if (net_status(n) != before &&
            virtio_has_feature(&n->vdev, VIRTIO_NET_F_STATUS)) {
            virtio_config_changed(&n->vdev);
        }
        g_mutex_unlock(&n->vdev.lock);
    }
    if (!found) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Device '%s' not found", name);
        return false;
    }
    return true;
}

void virtio_net_announce(GPtrArray *devices, const char *const *ifaces,
                         unsigned int initial, unsigned int max,
                         unsigned int rounds, unsigned int step)
{
    for (guint i = 0; devices && i < devices->len; i++) {
        Device *d = g_ptr_array_index(devices, i);
        VirtioNet *n = (VirtioNet *)d;
        bool want = !ifaces;

        if (d->cls != &virtio_net_pci_class) {
            continue;
        }
        for (size_t k = 0; ifaces && ifaces[k]; k++) {
            want |= net_matches(n, ifaces[k]);
        }
        if (want) {
            g_mutex_lock(&n->vdev.lock);
            net_announce_start(n, initial, max, rounds, step);
            g_mutex_unlock(&n->vdev.lock);
        }
    }
}
