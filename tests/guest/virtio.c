/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A virtio 1.x driver core for user mode: the modern virtio-pci transport
 * (vendor capabilities pointing into memory BARs, virtio 1.2 section
 * 4.1.4) and split virtqueues in guest RAM (section 2.7), polled rather
 * than interrupt driven: the guest spins on the used index, which lives in
 * RAM and costs no exit. Every register access through a BAR is an exit
 * (~30 us here), so the hot paths touch registers only to notify.
 */
#include "tg.h"

#define VIRTIO_PCI_VENDOR       0x1af4

/* virtio_pci_cap (4.1.4) and its cfg_type values. */
#define PCI_CAP_ID_VNDR         0x09
#define VIRTIO_CAP_CFG_TYPE     3
#define VIRTIO_CAP_BAR          4
#define VIRTIO_CAP_OFFSET       8
#define VIRTIO_CAP_NOTIFY_MULT  16
#define VIRTIO_PCI_CAP_COMMON   1
#define VIRTIO_PCI_CAP_NOTIFY   2
#define VIRTIO_PCI_CAP_ISR      3
#define VIRTIO_PCI_CAP_DEVICE   4

/* virtio_pci_common_cfg (4.1.4.3). */
#define COMMON_DFSELECT         0
#define COMMON_DF               4
#define COMMON_GFSELECT         8
#define COMMON_GF               12
#define COMMON_NUM_QUEUES       18
#define COMMON_STATUS           20
#define COMMON_CONFIG_GEN       21
#define COMMON_Q_SELECT         22
#define COMMON_Q_SIZE           24
#define COMMON_Q_ENABLE         28
#define COMMON_Q_NOTIFY_OFF     30
#define COMMON_Q_DESC           32
#define COMMON_Q_DRIVER         40
#define COMMON_Q_DEVICE         48

/* Device status (2.1). */
#define STATUS_ACKNOWLEDGE      1
#define STATUS_DRIVER           2
#define STATUS_DRIVER_OK        4
#define STATUS_FEATURES_OK      8
#define STATUS_FAILED           0x80

#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY  1
#define VIRTQ_MAX_SIZE          256

/* How long the device may take to use a buffer before we give up. */
#define VIRTQ_TIMEOUT_NS        (10 * NS_PER_SEC)

static inline void mmio_write8(uint64_t addr, uint8_t v)
{
    *(volatile uint8_t *)(uintptr_t)addr = v;
}

static inline uint8_t mmio_read8(uint64_t addr)
{
    return *(volatile uint8_t *)(uintptr_t)addr;
}

static inline void mmio_write16(uint64_t addr, uint16_t v)
{
    *(volatile uint16_t *)(uintptr_t)addr = v;
}

static inline uint16_t mmio_read16(uint64_t addr)
{
    return *(volatile uint16_t *)(uintptr_t)addr;
}

static inline void mmio_write64(uint64_t addr, uint64_t v)
{
    /* Two 32-bit halves, low first: what the spec lets a driver do. */
    mmio_write32(addr, (uint32_t)v);
    mmio_write32(addr + 4, (uint32_t)(v >> 32));
}

/* The region a virtio capability points at, mapping its BAR. */
static bool cap_region(VirtioDev *vd, uint8_t cap, uint64_t *addr)
{
    uint8_t bar = pci_read8(vd->pci, cap + VIRTIO_CAP_BAR);
    uint64_t base;

    if (bar >= 6) {
        return false;
    }
    if (!(vd->bars_mapped & (1u << bar))) {
        if (!pci_bar_map(vd->pci, bar, &vd->bar_addr[bar])) {
            return false;
        }
        vd->bars_mapped |= 1u << bar;
    }
    base = vd->bar_addr[bar];
    *addr = base + pci_read32(vd->pci, cap + VIRTIO_CAP_OFFSET);
    return true;
}

bool virtio_pci_probe(VirtioDev *vd, uint16_t modern_id,
                      uint16_t transitional_id)
{
    const uint16_t ids[] = { modern_id, transitional_id };
    bool have[5] = { false };
    uint8_t cap;

    memset(vd, 0, sizeof(*vd));
    if (!pci_find(VIRTIO_PCI_VENDOR, ids, ARRAY_SIZE(ids), &vd->pci)) {
        return false;
    }
    /* The first capability of each type is the one to use (4.1.4). */
    for (cap = pci_cap_first(vd->pci); cap; cap = pci_cap_next(vd->pci, cap)) {
        uint8_t type;
        uint64_t *where;

        if (pci_read8(vd->pci, cap) != PCI_CAP_ID_VNDR) {
            continue;
        }
        type = pci_read8(vd->pci, cap + VIRTIO_CAP_CFG_TYPE);
        switch (type) {
        case VIRTIO_PCI_CAP_COMMON:
            where = &vd->common;
            break;
        case VIRTIO_PCI_CAP_NOTIFY:
            where = &vd->notify;
            vd->notify_mult = pci_read32(vd->pci, cap + VIRTIO_CAP_NOTIFY_MULT);
            break;
        case VIRTIO_PCI_CAP_ISR:
            where = &vd->isr;
            break;
        case VIRTIO_PCI_CAP_DEVICE:
            where = &vd->device;
            break;
        default:
            continue;
        }
        if (!have[type] && cap_region(vd, cap, where)) {
            have[type] = true;
        }
    }
    vd->found = true;
    return have[VIRTIO_PCI_CAP_COMMON] && have[VIRTIO_PCI_CAP_NOTIFY] &&
           have[VIRTIO_PCI_CAP_ISR] && have[VIRTIO_PCI_CAP_DEVICE];
}

uint64_t virtio_begin(VirtioDev *vd)
{
    uint64_t deadline = clock_ns() + NS_PER_SEC;
    uint64_t features;

    /* Reset, and wait for it to complete (4.1.4.3.2). */
    mmio_write8(vd->common + COMMON_STATUS, 0);
    while (mmio_read8(vd->common + COMMON_STATUS) && clock_ns() < deadline) {
        cpu_relax();
    }
    mmio_write8(vd->common + COMMON_STATUS, STATUS_ACKNOWLEDGE);
    mmio_write8(vd->common + COMMON_STATUS,
                STATUS_ACKNOWLEDGE | STATUS_DRIVER);

    mmio_write32(vd->common + COMMON_DFSELECT, 0);
    features = mmio_read32(vd->common + COMMON_DF);
    mmio_write32(vd->common + COMMON_DFSELECT, 1);
    features |= (uint64_t)mmio_read32(vd->common + COMMON_DF) << 32;
    vd->num_queues = mmio_read16(vd->common + COMMON_NUM_QUEUES);
    return features;
}

bool virtio_set_features(VirtioDev *vd, uint64_t features)
{
    uint8_t status = STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK;

    mmio_write32(vd->common + COMMON_GFSELECT, 0);
    mmio_write32(vd->common + COMMON_GF, (uint32_t)features);
    mmio_write32(vd->common + COMMON_GFSELECT, 1);
    mmio_write32(vd->common + COMMON_GF, (uint32_t)(features >> 32));
    mmio_write8(vd->common + COMMON_STATUS, status);
    if (!(mmio_read8(vd->common + COMMON_STATUS) & STATUS_FEATURES_OK)) {
        mmio_write8(vd->common + COMMON_STATUS, status | STATUS_FAILED);
        return false;
    }
    vd->features = features;
    return true;
}

bool virtq_setup(VirtioDev *vd, Virtq *vq, uint16_t index)
{
    uint64_t desc_bytes, mem;
    uint16_t size;

    memset(vq, 0, sizeof(*vq));
    if (index >= vd->num_queues) {
        return false;
    }
    mmio_write16(vd->common + COMMON_Q_SELECT, index);
    size = mmio_read16(vd->common + COMMON_Q_SIZE);
    if (!size) {
        return false;
    }
    /* The driver may shrink a queue (keeping a power of two); one short
     * request in flight never needs more than 256 entries. */
    if (size > VIRTQ_MAX_SIZE) {
        size = VIRTQ_MAX_SIZE;
        mmio_write16(vd->common + COMMON_Q_SIZE, size);
    }
    /* Descriptors, then the driver area and the device area, each on
     * its own page: simpler than packing, and alignment is met. */
    desc_bytes = ALIGN_UP(16ULL * size, PAGE_SIZE);
    if (!ram_alloc(desc_bytes + 2 * PAGE_SIZE, &mem)) {
        return false;
    }
    memset(phys(mem), 0, desc_bytes + 2 * PAGE_SIZE);
    vq->index = index;
    vq->size = size;
    vq->desc = phys(mem);
    vq->avail = phys(mem + desc_bytes);
    vq->used = phys(mem + desc_bytes + PAGE_SIZE);
    /* We poll the used ring: no interrupts for used buffers, please. */
    vq->avail[0] = VIRTQ_AVAIL_F_NO_INTERRUPT;

    mmio_write64(vd->common + COMMON_Q_DESC, mem);
    mmio_write64(vd->common + COMMON_Q_DRIVER, mem + desc_bytes);
    mmio_write64(vd->common + COMMON_Q_DEVICE, mem + desc_bytes + PAGE_SIZE);
    vq->notify_addr = vd->notify + (uint64_t)vd->notify_mult *
                      mmio_read16(vd->common + COMMON_Q_NOTIFY_OFF);
    mmio_write16(vd->common + COMMON_Q_ENABLE, 1);
    return true;
}

void virtio_ready(VirtioDev *vd)
{
    mmio_write8(vd->common + COMMON_STATUS, STATUS_ACKNOWLEDGE |
                STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);
}

uint8_t virtio_isr(VirtioDev *vd)
{
    return mmio_read8(vd->isr);
}

uint8_t virtio_config_read8(VirtioDev *vd, unsigned int off)
{
    return mmio_read8(vd->device + off);
}

uint16_t virtio_config_read16(VirtioDev *vd, unsigned int off)
{
    return mmio_read16(vd->device + off);
}

/* Two halves: read again while the device changes its configuration
 * (config_generation, 4.1.4.3). */
uint64_t virtio_config_read64(VirtioDev *vd, unsigned int off)
{
    uint32_t lo, hi;
    uint8_t gen;

    do {
        gen = mmio_read8(vd->common + COMMON_CONFIG_GEN);
        lo = mmio_read32(vd->device + off);
        hi = mmio_read32(vd->device + off + 4);
    } while (gen != mmio_read8(vd->common + COMMON_CONFIG_GEN));
    return ((uint64_t)hi << 32) | lo;
}

uint32_t virtio_config_read32(VirtioDev *vd, unsigned int off)
{
    return mmio_read32(vd->device + off);
}

void virtio_config_write32(VirtioDev *vd, unsigned int off, uint32_t v)
{
    mmio_write32(vd->device + off, v);
}

void virtq_submit(Virtq *vq, const VirtqBuf *bufs, unsigned int n)
{
    volatile uint16_t *ring = vq->avail + 2;
    unsigned int i;

    /* One request in flight per queue: it always starts at descriptor 0
     * and the caller waits for it before the next. */
    for (i = 0; i < n; i++) {
        vq->desc[i].addr = bufs[i].addr;
        vq->desc[i].len = bufs[i].len;
        vq->desc[i].flags = (uint16_t)((bufs[i].device_writes ?
                                        VIRTQ_DESC_F_WRITE : 0) |
                                       (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
        vq->desc[i].next = (uint16_t)(i + 1);
    }
    ring[vq->avail_idx % vq->size] = 0;
    __asm__ volatile("" ::: "memory");     /* ring entry before the index */
    vq->avail_idx++;
    vq->avail[1] = vq->avail_idx;
    /* x86 keeps stores in order, the uncached notify store included. */
    __asm__ volatile("mfence" ::: "memory");
    mmio_write16(vq->notify_addr, vq->index);
}

/*
 * Several requests in flight. The caller owns the descriptor table: it
 * gives each request slot fixed descriptors (virtq_desc()), posts the
 * chain's head (virtq_post()), publishes a batch with one notification
 * (virtq_kick()) and collects completions from the used ring
 * (virtq_pop()). Not to be mixed with virtq_submit() on one queue.
 */
void virtq_desc(Virtq *vq, uint16_t i, uint64_t addr, uint32_t len,
                uint16_t flags, uint16_t next)
{
    vq->desc[i].addr = addr;
    vq->desc[i].len = len;
    vq->desc[i].flags = flags;
    vq->desc[i].next = next;
}

void virtq_post(Virtq *vq, uint16_t head)
{
    volatile uint16_t *ring = vq->avail + 2;

    ring[(uint16_t)(vq->avail_idx + vq->pending) % vq->size] = head;
    vq->pending++;
}

void virtq_kick(Virtq *vq)
{
    if (!vq->pending) {
        return;
    }
    __asm__ volatile("" ::: "memory");     /* ring entries before the index */
    vq->avail_idx = (uint16_t)(vq->avail_idx + vq->pending);
    vq->pending = 0;
    vq->avail[1] = vq->avail_idx;
    /* The index must be visible before we read the device's flags: a
     * device that just cleared NO_NOTIFY re-reads the index after. */
    __asm__ volatile("mfence" ::: "memory");
    if (!(vq->used[0] & VIRTQ_USED_F_NO_NOTIFY)) {
        mmio_write16(vq->notify_addr, vq->index);
    }
}

bool virtq_pop(Virtq *vq, uint16_t *id, uint32_t *len)
{
    volatile uint32_t *elem;

    if (vq->used[1] == vq->used_seen) {
        return false;
    }
    __asm__ volatile("" ::: "memory");     /* the index before the entry */
    elem = (volatile uint32_t *)(vq->used + 2) + 2 * (vq->used_seen % vq->size);
    *id = (uint16_t)elem[0];
    *len = elem[1];
    vq->used_seen++;
    return true;
}

bool virtq_done(const Virtq *vq)
{
    return vq->used[1] == vq->avail_idx;
}

void virtq_wait(Virtq *vq)
{
    uint64_t deadline = clock_ns() + VIRTQ_TIMEOUT_NS;

    while (!virtq_done(vq)) {
        if (clock_ns() > deadline) {
            tg_fatal("virtio: queue %u: the device did not use a buffer "
                     "within %lu s", vq->index, VIRTQ_TIMEOUT_NS / NS_PER_SEC);
        }
        cpu_relax();
    }
    __asm__ volatile("" ::: "memory");
}
