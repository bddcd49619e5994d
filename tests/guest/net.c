/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * net: drive the first virtio-net device (virtio 1.2 section 5.1) from
 * user mode, polled. A static IPv4 address (tg.ip=ADDR/PREFIX) that answers
 * ARP, ICMP echo and UDP echo (port 7), so the host can ping it and time
 * round trips; with tg.net=stream, a UDP stream of 1400-byte datagrams to
 * tg.peer:tg.port for tg.secs seconds.
 *
 * Only VERSION_1, MAC and STATUS are negotiated: no checksum offload, no
 * GSO, no mergeable buffers, one queue pair, no control queue. So every
 * frame is one buffer: the 12-byte virtio_net_hdr (all zero on transmit),
 * then the Ethernet frame.
 */
#include "tg.h"

#define VIRTIO_ID_NET           0x1041
#define VIRTIO_ID_NET_LEGACY    0x1000

#define NET_F_MAC               5
#define NET_F_STATUS            16
#define NET_CFG_MAC             0
#define NET_CFG_STATUS          6
#define NET_S_LINK_UP           1

#define NET_HDR                 12          /* virtio_net_hdr, VERSION_1 */
#define BUF_BYTES               2048        /* one frame with its header */
#define MAX_BUFS                128         /* per queue */
#define ETH_HLEN                14
#define ETH_ZLEN                60          /* shortest frame, padded */
#define ETH_P_IP                0x0800
#define ETH_P_ARP               0x0806
#define IP_HLEN                 20
#define UDP_HLEN                8
#define IPPROTO_ICMP            1
#define IPPROTO_UDP             17
#define ICMP_ECHO_REPLY         0
#define ICMP_ECHO_REQUEST       8
#define UDP_ECHO_PORT           7
#define STREAM_PAYLOAD          1400
#define STREAM_SRC_PORT         40000
#define STREAM_DEFAULT_SECS     10

#define POLL_NS                 (NS_PER_SEC / 10)
#define ARP_RETRY_NS            (NS_PER_SEC / 2)
#define ARP_TIMEOUT_NS          (10 * NS_PER_SEC)
#define IDLE_AFTER_NS           (20 * 1000 * 1000ULL)
#define IDLE_NAP_NS             (2 * 1000 * 1000ULL)
#define TX_TIMEOUT_NS           (10 * NS_PER_SEC)

typedef struct {
    VirtioDev vd;
    Virtq rxq, txq;
    unsigned int nr_rx, nr_tx;
    uint64_t rx_mem, tx_mem;            /* buffer i at mem + i * BUF_BYTES */
    uint16_t tx_free[MAX_BUFS];
    unsigned int nr_tx_free;
    uint8_t mac[6];
    uint32_t ip, mask;
    bool status;                        /* STATUS negotiated */
    bool link;
    uint8_t peer_mac[6];
    bool peer_known;
    uint16_t ip_id;
    uint64_t rx, tx, arp, icmp, udp_echo;
    uint64_t stream_pkts;
    uint64_t last_activity;
} Net;

static Net net;

static const uint8_t broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

/* The Internet checksum (RFC 1071) of @len bytes. */
static uint16_t csum(const uint8_t *p, size_t len)
{
    uint32_t sum = 0;
    size_t i;

    for (i = 0; i + 1 < len; i += 2) {
        sum += get16(p + i);
    }
    if (len & 1) {
        sum += (uint32_t)p[len - 1] << 8;
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)~sum;
}

static uint8_t *rx_buf(const Net *n, unsigned int i)
{
    return phys(n->rx_mem + (uint64_t)i * BUF_BYTES);
}

static uint8_t *tx_buf(const Net *n, unsigned int i)
{
    return phys(n->tx_mem + (uint64_t)i * BUF_BYTES);
}

static void rx_post(Net *n, unsigned int i)
{
    virtq_desc(&n->rxq, (uint16_t)i, n->rx_mem + (uint64_t)i * BUF_BYTES,
               BUF_BYTES, VIRTQ_DESC_F_WRITE, 0);
    virtq_post(&n->rxq, (uint16_t)i);
}

/* Take back the transmit buffers the device is done with. */
static void tx_reclaim(Net *n)
{
    uint16_t id;
    uint32_t len;

    while (virtq_pop(&n->txq, &id, &len)) {
        if (id >= n->nr_tx) {
            tg_fatal("net: the device used tx descriptor %u", id);
        }
        n->tx_free[n->nr_tx_free++] = id;
    }
}

/* A free transmit buffer (its frame starts after the header); waits for
 * one if the ring is full. */
static unsigned int tx_get(Net *n)
{
    uint64_t deadline = 0;

    for (;;) {
        tx_reclaim(n);
        if (n->nr_tx_free) {
            return n->tx_free[--n->nr_tx_free];
        }
        virtq_kick(&n->txq);
        if (!deadline) {
            deadline = clock_ns() + TX_TIMEOUT_NS;
        } else if (clock_ns() > deadline) {
            tg_fatal("net: the device sent nothing for %lu s",
                     TX_TIMEOUT_NS / NS_PER_SEC);
        }
        cpu_relax();
    }
}

/* Queue transmit buffer @i holding a frame of @len bytes (kick later). */
static void tx_post(Net *n, unsigned int i, size_t len)
{
    uint8_t *b = tx_buf(n, i);

    memset(b, 0, NET_HDR);
    if (len < ETH_ZLEN) {
        memset(b + NET_HDR + len, 0, ETH_ZLEN - len);
        len = ETH_ZLEN;
    }
    virtq_desc(&n->txq, (uint16_t)i, n->tx_mem + (uint64_t)i * BUF_BYTES,
               (uint32_t)(NET_HDR + len), 0, 0);
    virtq_post(&n->txq, (uint16_t)i);
    n->tx++;
}

static void eth_header(const Net *n, uint8_t *f, const uint8_t *dst,
                       uint16_t type)
{
    memcpy(f, dst, 6);
    memcpy(f + 6, n->mac, 6);
    put16(f + 12, type);
}

static void arp_send(Net *n, uint16_t op, const uint8_t *tha, uint32_t tpa)
{
    unsigned int i = tx_get(n);
    uint8_t *f = tx_buf(n, i) + NET_HDR;
    uint8_t *a = f + ETH_HLEN;

    eth_header(n, f, op == 1 ? broadcast : tha, ETH_P_ARP);
    put16(a, 1);                        /* Ethernet */
    put16(a + 2, ETH_P_IP);
    a[4] = 6;
    a[5] = 4;
    put16(a + 6, op);
    memcpy(a + 8, n->mac, 6);
    put32(a + 14, n->ip);
    memcpy(a + 18, op == 1 ? (const uint8_t *)"\0\0\0\0\0\0" : tha, 6);
    put32(a + 24, tpa);
    tx_post(n, i, ETH_HLEN + 28);
}

static void arp_input(Net *n, const uint8_t *a, size_t len)
{
    uint16_t op;
    uint32_t spa, tpa;

    if (len < 28 || get16(a) != 1 || get16(a + 2) != ETH_P_IP ||
        a[4] != 6 || a[5] != 4) {
        return;
    }
    op = get16(a + 6);
    spa = get32(a + 14);
    tpa = get32(a + 24);
    if (tg_args.peer && spa == tg_args.peer) {
        memcpy(n->peer_mac, a + 8, 6);
        n->peer_known = true;
    }
    if (op == 1 && tpa == n->ip) {
        n->arp++;
        arp_send(n, 2, a + 8, spa);
    }
}

/* Send @f's IPv4 packet (@ip, @iplen bytes) back where it came from, with
 * the addresses swapped and a fresh header checksum. */
static void ip_reply(Net *n, const uint8_t *f, const uint8_t *ip,
                     size_t iplen, uint8_t **out_ip, unsigned int *slot)
{
    unsigned int i = tx_get(n);
    uint8_t *o = tx_buf(n, i) + NET_HDR;
    uint8_t *oip = o + ETH_HLEN;
    unsigned int ihl = (ip[0] & 0xf) * 4u;

    eth_header(n, o, f + 6, ETH_P_IP);
    memcpy(oip, ip, iplen);
    memcpy(oip + 12, ip + 16, 4);
    memcpy(oip + 16, ip + 12, 4);
    oip[8] = 64;                        /* TTL */
    put16(oip + 10, 0);
    put16(oip + 10, csum(oip, ihl));
    *out_ip = oip;
    *slot = i;
}

static void ip_input(Net *n, const uint8_t *f, const uint8_t *ip, size_t len)
{
    unsigned int ihl, slot;
    size_t total;
    uint8_t *oip;

    if (len < IP_HLEN || (ip[0] >> 4) != 4) {
        return;
    }
    ihl = (ip[0] & 0xf) * 4u;
    total = get16(ip + 2);
    if (ihl < IP_HLEN || total < ihl || total > len ||
        get32(ip + 16) != n->ip || (get16(ip + 6) & 0x3fff)) {
        return;                         /* not ours, or a fragment */
    }
    if (ip[9] == IPPROTO_ICMP && total - ihl >= 8 &&
        ip[ihl] == ICMP_ECHO_REQUEST) {
        n->icmp++;
        ip_reply(n, f, ip, total, &oip, &slot);
        oip[ihl] = ICMP_ECHO_REPLY;
        put16(oip + ihl + 2, 0);
        put16(oip + ihl + 2, csum(oip + ihl, total - ihl));
        tx_post(n, slot, ETH_HLEN + total);
    } else if (ip[9] == IPPROTO_UDP && total - ihl >= UDP_HLEN &&
               get16(ip + ihl + 2) == UDP_ECHO_PORT) {
        n->udp_echo++;
        ip_reply(n, f, ip, total, &oip, &slot);
        put16(oip + ihl, UDP_ECHO_PORT);
        put16(oip + ihl + 2, get16(ip + ihl));
        put16(oip + ihl + 6, 0);        /* no UDP checksum (IPv4) */
        tx_post(n, slot, ETH_HLEN + total);
    }
}

/* Handle every frame received; true if there was any. */
static bool net_rx(Net *n)
{
    uint16_t id;
    uint32_t len;
    bool any = false;

    while (virtq_pop(&n->rxq, &id, &len)) {
        const uint8_t *f;

        if (id >= n->nr_rx) {
            tg_fatal("net: the device used rx descriptor %u", id);
        }
        any = true;
        n->rx++;
        f = rx_buf(n, id) + NET_HDR;
        if (len >= NET_HDR + ETH_HLEN && len <= BUF_BYTES) {
            size_t flen = len - NET_HDR;

            if (memcmp(f, n->mac, 6) && memcmp(f, broadcast, 6)) {
                /* not for us */
            } else if (get16(f + 12) == ETH_P_ARP) {
                arp_input(n, f + ETH_HLEN, flen - ETH_HLEN);
            } else if (get16(f + 12) == ETH_P_IP) {
                ip_input(n, f, f + ETH_HLEN, flen - ETH_HLEN);
            }
        }
        rx_post(n, id);
    }
    if (any) {
        virtq_kick(&n->rxq);
        virtq_kick(&n->txq);
    }
    return any;
}

static void print_ip(char *buf, size_t size, uint32_t ip)
{
    tg_snprintf(buf, size, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff,
                (ip >> 8) & 0xff, ip & 0xff);
}

static void net_show_link(Net *n)
{
    char ip[16];

    print_ip(ip, sizeof(ip), n->ip);
    con_printf("TG NET mac=%02x:%02x:%02x:%02x:%02x:%02x ip=%s link=%s\n",
               n->mac[0], n->mac[1], n->mac[2], n->mac[3], n->mac[4],
               n->mac[5], ip, n->link ? "up" : "down");
}

static void net_show_stats(const Net *n)
{
    con_printf("TG NET rx=%lu tx=%lu arp=%lu icmp=%lu udp_echo=%lu\n",
               n->rx, n->tx, n->arp, n->icmp, n->udp_echo);
}

/* Once a second: the link status (one exit) and the counters. */
static void net_tick(Net *n)
{
    if (n->status) {
        bool link = virtio_config_read16(&n->vd, NET_CFG_STATUS) &
                    NET_S_LINK_UP;

        (void)virtio_isr(&n->vd);   /* a config interrupt must not stay up */
        if (link != n->link) {
            n->link = link;
            net_show_link(n);
        }
    }
    net_show_stats(n);
}

static void net_setup(Net *n)
{
    uint64_t offered, want, mem;
    unsigned int i;

    if (!tg_args.ip) {
        tg_fatal("net: tg.ip=ADDR/PREFIX is required");
    }
    n->ip = tg_args.ip;
    n->mask = tg_args.prefix ? ~0u << (32 - tg_args.prefix) : 0;
    if (!virtio_pci_probe(&n->vd, VIRTIO_ID_NET, VIRTIO_ID_NET_LEGACY)) {
        tg_fatal("net: %s", n->vd.found
                 ? "the virtio-net device lacks a modern virtio-pci "
                   "capability or BAR"
                 : "no virtio-net PCI device");
    }
    offered = virtio_begin(&n->vd);
    if (!(offered & (1ULL << VIRTIO_F_VERSION_1))) {
        tg_fatal("net: the device does not offer VIRTIO_F_VERSION_1");
    }
    want = (1ULL << VIRTIO_F_VERSION_1) |
           (offered & ((1ULL << NET_F_MAC) | (1ULL << NET_F_STATUS)));
    if (!virtio_set_features(&n->vd, want)) {
        tg_fatal("net: the device refused features %#lx", want);
    }
    if (want & (1ULL << NET_F_MAC)) {
        for (i = 0; i < 6; i++) {
            n->mac[i] = virtio_config_read8(&n->vd, NET_CFG_MAC + i);
        }
    } else {
        /* A locally administered address of our own. */
        static const uint8_t own[6] = { 0x02, 0x54, 0x47, 0x00, 0x00, 0x01 };

        memcpy(n->mac, own, 6);
    }
    n->status = want & (1ULL << NET_F_STATUS);
    n->link = !n->status ||
              (virtio_config_read16(&n->vd, NET_CFG_STATUS) & NET_S_LINK_UP);

    if (!virtq_setup(&n->vd, &n->rxq, 0) || !virtq_setup(&n->vd, &n->txq, 1)) {
        tg_fatal("net: cannot set up the receive and transmit queues");
    }
    n->nr_rx = n->rxq.size < MAX_BUFS ? n->rxq.size : MAX_BUFS;
    n->nr_tx = n->txq.size < MAX_BUFS ? n->txq.size : MAX_BUFS;
    if (!ram_alloc((uint64_t)(n->nr_rx + n->nr_tx) * BUF_BYTES, &mem)) {
        tg_fatal("net: out of memory for buffers");
    }
    n->rx_mem = mem;
    n->tx_mem = mem + (uint64_t)n->nr_rx * BUF_BYTES;
    for (i = 0; i < n->nr_tx; i++) {
        n->tx_free[n->nr_tx_free++] = (uint16_t)(n->nr_tx - 1 - i);
    }
    virtio_ready(&n->vd);
    for (i = 0; i < n->nr_rx; i++) {
        rx_post(n, i);
    }
    virtq_kick(&n->rxq);
    net_show_link(n);
}

/* One UDP datagram of the stream, sequence number first. */
static void stream_send(Net *n)
{
    unsigned int i = tx_get(n);
    uint8_t *f = tx_buf(n, i) + NET_HDR;
    uint8_t *ip = f + ETH_HLEN;
    uint8_t *udp = ip + IP_HLEN;
    uint8_t *payload = udp + UDP_HLEN;

    eth_header(n, f, n->peer_mac, ETH_P_IP);
    ip[0] = 0x45;
    ip[1] = 0;
    put16(ip + 2, IP_HLEN + UDP_HLEN + STREAM_PAYLOAD);
    put16(ip + 4, n->ip_id++);
    put16(ip + 6, 0x4000);              /* don't fragment */
    ip[8] = 64;
    ip[9] = IPPROTO_UDP;
    put16(ip + 10, 0);
    put32(ip + 12, n->ip);
    put32(ip + 16, tg_args.peer);
    put16(ip + 10, csum(ip, IP_HLEN));
    put16(udp, STREAM_SRC_PORT);
    put16(udp + 2, tg_args.port);
    put16(udp + 4, UDP_HLEN + STREAM_PAYLOAD);
    put16(udp + 6, 0);
    put32(payload, (uint32_t)(n->stream_pkts >> 32));
    put32(payload + 4, (uint32_t)n->stream_pkts);
    /* The rest of the payload is whatever the buffer held: not checked. */
    tx_post(n, i, ETH_HLEN + IP_HLEN + UDP_HLEN + STREAM_PAYLOAD);
    n->stream_pkts++;
}

/* The peer's MAC address, by ARP (answering others meanwhile). */
static void stream_resolve(Net *n)
{
    uint64_t start = clock_ns(), next = 0, now;

    if ((tg_args.peer & n->mask) != (n->ip & n->mask)) {
        tg_fatal("net: tg.peer is not on our subnet (no gateway)");
    }
    while (!n->peer_known) {
        now = clock_ns();
        if (now - start > ARP_TIMEOUT_NS) {
            tg_fatal("net: no ARP reply from tg.peer within %lu s",
                     ARP_TIMEOUT_NS / NS_PER_SEC);
        }
        if (now >= next) {
            pm_poll();
            arp_send(n, 1, NULL, tg_args.peer);
            virtq_kick(&n->txq);
            next = now + ARP_RETRY_NS;
        }
        net_rx(n);
        cpu_relax();
    }
}

static void net_stream(Net *n)
{
    uint64_t secs = tg_args.secs ? tg_args.secs : STREAM_DEFAULT_SECS;
    uint64_t t0, end, now, next_tick, next_poll, ns, kb_s;

    if (!tg_args.peer || !tg_args.port) {
        tg_fatal("net: tg.net=stream needs tg.peer= and tg.port=");
    }
    stream_resolve(n);
    t0 = clock_ns();
    end = t0 + secs * NS_PER_SEC;
    next_tick = t0 + NS_PER_SEC;
    next_poll = t0 + POLL_NS;
    for (;;) {
        unsigned int k;

        now = clock_ns();
        if (now >= end) {
            break;
        }
        if (now >= next_poll) {
            pm_poll();
            next_poll = now + POLL_NS;
        }
        if (now >= next_tick) {
            net_tick(n);
            next_tick += NS_PER_SEC;
        }
        /* A batch per notification; the ring has room for it. */
        for (k = 0; k < n->nr_tx / 2; k++) {
            stream_send(n);
        }
        virtq_kick(&n->txq);
        net_rx(n);
    }
    ns = clock_ns() - t0;
    kb_s = n->stream_pkts * STREAM_PAYLOAD * 1000000ULL / ns * 1000 / 1024;
    con_printf("TG NET stream mb_s=%lu.%02lu pkts=%lu\n", kb_s / 1024,
               kb_s % 1024 * 100 / 1024, n->stream_pkts);
}

/* Answer ARP, ping and UDP echo for tg.secs (0: until powered off). */
static void net_serve(Net *n)
{
    uint64_t now = clock_ns(), end = 0, next_tick, next_poll;

    if (tg_args.secs) {
        end = now + tg_args.secs * NS_PER_SEC;
    }
    next_tick = now + NS_PER_SEC;
    next_poll = now + POLL_NS;
    n->last_activity = now;
    for (;;) {
        now = clock_ns();
        if (end && now >= end) {
            break;
        }
        if (now >= next_poll) {
            pm_poll();
            tx_reclaim(n);
            next_poll = now + POLL_NS;
        }
        if (now >= next_tick) {
            net_tick(n);
            next_tick += NS_PER_SEC;
        }
        if (net_rx(n)) {
            n->last_activity = now;
        } else if (now - n->last_activity > IDLE_AFTER_NS) {
            /* Quiet for a while: nap, so an idle guest costs little. */
            pm_timer_arm(IDLE_NAP_NS);
            pm_wait_event();
        } else {
            cpu_relax();
        }
    }
}

void mode_net(void)
{
    Net *n = &net;

    net_setup(n);
    if (!memcmp(tg_args.net, "stream", 7)) {
        net_stream(n);
    } else if (tg_args.net[0]) {
        tg_fatal("net: unknown tg.net=%s", tg_args.net);
    } else {
        net_serve(n);
    }
    /* Let the last frames go before powering off. */
    virtq_kick(&n->txq);
    clock_delay_ns(10 * 1000 * 1000ULL);
    net_show_stats(n);
}
