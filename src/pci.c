/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bytes.h"
#include "device.h"
#include "error.h"
#include "iobus.h"
#include "layout.h"
#include "migration/vmstate.h"
#include "bytes.h"
#include "pci.h"

/*
 * Locking: host->lock serialises config space (both access paths), BAR
 * mapping and plugging. A device's msix.lock is a leaf under it and under
 * the owner's own lock: it covers the MSI-X table, the PBA, the INTx line
 * and interrupt delivery.
 */
struct PciHost {
    Device dev;                         /* first: a Device* is a PciHost* */
    GMutex lock;
    bool initialized;
    uint32_t config_addr;               /* last value written to 0xcf8 */
    PciDevice *devices[PCI_MAX_DEVICES * 8];
    PciDevice bridge;                   /* 00:00.0, the host bridge itself */
    IoBus *mmio;                        /* where BARs appear; may be NULL */
    PciIrqOps irq_ops;
    void *irq_opaque;
};

void pci_set_u8(PciDevice *d, uint32_t off, uint8_t v)
{
    d->config[off] = v;
}

void pci_set_u16(PciDevice *d, uint32_t off, uint16_t v)
{
    le16_store(d->config + off, v);
}

void pci_set_u32(PciDevice *d, uint32_t off, uint32_t v)
{
    le32_store(d->config + off, v);
}

uint32_t pci_get(const PciDevice *d, uint32_t off, uint32_t len)
{
    if (off >= PCI_CONFIG_SIZE) {
        return 0;
    }
    return (uint32_t)le_load(d->config + off,
                             MIN(len, PCI_CONFIG_SIZE - off));
}

static void pci_host_init(PciHost *host)
{
    PciDevice *b = &host->bridge;

    g_mutex_init(&host->lock);
    host->initialized = true;
    /* A generic PCIe host bridge (Red Hat's id, as QEMU's gpex uses):
     * guests need no driver for it. */
    b->name = "pcie-host-bridge";
    b->devfn = 0;
    pci_set_u16(b, PCI_VENDOR_ID, 0x1b36);
    pci_set_u16(b, PCI_DEVICE_ID, 0x0008);
    pci_set_u8(b, PCI_CLASS_DEVICE + 1, 0x06);  /* bridge */
    pci_set_u8(b, PCI_CLASS_DEVICE, 0x00);      /* host */
    pci_set_u16(b, PCI_SUBSYSTEM_VENDOR_ID, 0x1af4);
    pci_set_u16(b, PCI_SUBSYSTEM_ID, 0x1100);
    pci_set_u16(b, PCI_STATUS, 0);
    b->wmask[PCI_COMMAND] = 0xff;
    host->devices[0] = b;
}

PciHost *pci_host_new(void)
{
    PciHost *host = g_new0(PciHost, 1);

    host->dev.cls = &pci_host_class;
    pci_host_init(host);
    return host;
}

static void pci_host_unrealize(Device *dev)
{
    PciHost *host = (PciHost *)dev;

    if (host->initialized) {
        g_mutex_clear(&host->lock);
        host->initialized = false;
    }
}

void pci_host_free(PciHost *host)
{
    if (host) {
        pci_host_unrealize(&host->dev);
        g_free(host);
    }
}

bool pci_host_plug(PciHost *host, PciDevice *dev, GError **errp)
{
    g_mutex_lock(&host->lock);
    if (host->devices[dev->devfn]) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "PCI: slot %d function %d not available for %s, in use "
                    "by %s", dev->devfn >> 3, dev->devfn & 7, dev->name,
                    host->devices[dev->devfn]->name);
        g_mutex_unlock(&host->lock);
        return false;
    }
    g_mutex_init(&dev->msix.lock);
    dev->host = host;
    dev->next_cap = 0x40;
    dev->intx_gsi = (dev->devfn >> 3) & 1 ? PCI_INTX_GSI_ODD
                                          : PCI_INTX_GSI_EVEN;
    if (dev->config[PCI_INTERRUPT_PIN]) {
        dev->config[PCI_INTERRUPT_LINE] = (uint8_t)dev->intx_gsi;
        dev->wmask[PCI_INTERRUPT_LINE] = 0xff;
    }
    host->devices[dev->devfn] = dev;
    g_mutex_unlock(&host->lock);
    return true;
}

int pci_host_free_slot(PciHost *host)
{
    for (int slot = 1; slot < PCI_MAX_DEVICES; slot++) {
        if (!host->devices[slot << 3]) {
            return slot;
        }
    }
    return -1;
}

static bool overlaps(uint32_t reg, uint32_t len, uint32_t start,
                     uint32_t size)
{
    return reg < start + size && start < reg + len;
}

static uint64_t pci_bar_addr(const PciDevice *d, unsigned int bar)
{
    uint64_t a = pci_get(d, PCI_BAR0 + 4 * bar, 4) & ~0xfULL;

    if (d->bars[bar].flags & PCI_BAR_MEM_TYPE_64) {
        a |= (uint64_t)pci_get(d, PCI_BAR0 + 4 * bar + 4, 4) << 32;
    }
    return a;
}

/* Map each BAR where the guest put it, if memory decoding is on and the
 * address is a real one (not a sizing pattern that wraps). Host lock. */
static void pci_update_bars(PciDevice *d)
{
    PciHost *host = d->host;
    bool decode = pci_get(d, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY;

    for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
        PciBar *b = &d->bars[i];
        uint64_t addr = pci_bar_addr(d, i);
        uint64_t want = UINT64_MAX, old = b->mapped;

        if (!b->size) {
            continue;
        }
        if (decode && addr && addr + b->size > addr) {
            want = addr;
        }
        if (want == b->mapped || !host || !host->mmio) {
            continue;
        }
        if (b->mapped != UINT64_MAX) {
            iobus_unregister(host->mmio, b->mapped, b->opaque);
            b->mapped = UINT64_MAX;
        }
        if (want != UINT64_MAX) {
            g_autoptr(GError) err = NULL;

            if (iobus_register(host->mmio, want, b->size, b->handler,
                               b->opaque, d->name, &err)) {
                b->mapped = want;
            } else if (!b->warned) {
                /* Once: the guest may retry as often as it likes. */
                fprintf(stderr, "kestrel: %s: BAR %u not mapped: %s\n",
                        d->name, i, err->message);
                b->warned = true;
            }
        }
        if (b->mapped != old && d->bar_moved) {
            d->bar_moved(d, i, old, b->mapped);
        }
    }
}

static void pci_msix_flush_pending(PciDevice *d);
static void pci_intx_update(PciDevice *d);

/* What pci.c itself does after the guest wrote config space. */
static void pci_config_written(PciDevice *d, uint32_t reg, uint32_t len)
{
    if (overlaps(reg, len, PCI_COMMAND, 2) ||
        overlaps(reg, len, PCI_BAR0, 4 * PCI_NUM_BARS)) {
        pci_update_bars(d);
    }
    if (overlaps(reg, len, PCI_COMMAND, 2) && d->host) {
        g_mutex_lock(&d->msix.lock);
        pci_intx_update(d);
        g_mutex_unlock(&d->msix.lock);
    }
    if (d->msix.nr && overlaps(reg, len, d->msix.cap + PCI_MSIX_FLAGS, 2)) {
        g_mutex_lock(&d->msix.lock);
        pci_msix_flush_pending(d);
        g_mutex_unlock(&d->msix.lock);
    }
}

static void pci_access(PciHost *host, unsigned int bus, unsigned int devfn,
                       uint32_t reg, uint8_t *data, uint32_t len,
                       bool is_write)
{
    PciDevice *d = bus == 0 && devfn < G_N_ELEMENTS(host->devices)
                   ? host->devices[devfn] : NULL;

    if (!d || reg + len > PCI_CONFIG_SIZE) {
        if (!is_write) {
            memset(data, 0xff, len);    /* no device: all ones */
        }
        return;
    }
    if (!is_write) {
        if (d->config_read) {
            d->config_read(d, reg, len);
        }
        io_data_set(data, len, pci_get(d, reg, len));
        return;
    }
    for (uint32_t i = 0; i < len; i++) {
        uint8_t m = d->wmask[reg + i];

        d->config[reg + i] = (uint8_t)((d->config[reg + i] & ~m) |
                                       (data[i] & m));
    }
    pci_config_written(d, reg, len);
    if (d->config_written) {
        d->config_written(d, reg, len);
    }
}

void pci_config_io(void *opaque, uint64_t offset, uint8_t *data,
                   uint32_t len, bool is_write)
{
    PciHost *host = opaque;
    uint32_t a;

    g_mutex_lock(&host->lock);
    if (offset == 0 && len == 4) {
        if (is_write) {
            host->config_addr = (uint32_t)io_data_get(data, 4) & 0x8fffffffu;
        } else {
            io_data_set(data, 4, host->config_addr);
        }
    } else if (offset >= 4) {
        a = host->config_addr;
        if (a & 0x80000000u) {
            /* Bits 27:24 extend the register number (AMD's extension). */
            uint32_t reg = ((a & 0xfc) | ((a >> 16) & 0xf00)) +
                           (uint32_t)(offset - 4);

            pci_access(host, (a >> 16) & 0xff, (a >> 8) & 0xff, reg, data,
                       MIN(len, 8 - (uint32_t)offset), is_write);
        } else if (!is_write) {
            memset(data, 0xff, len);
        }
    } else if (!is_write) {
        memset(data, 0xff, len);
    }
    g_mutex_unlock(&host->lock);
}

void pci_ecam_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
                 bool is_write)
{
    PciHost *host = opaque;

    g_mutex_lock(&host->lock);
    pci_access(host, (unsigned int)(offset >> 20),
               (unsigned int)(offset >> 12) & 0xff,
               (uint32_t)(offset & 0xfff), data, len, is_write);
    g_mutex_unlock(&host->lock);
}

/* --- board wiring, plugging --------------------------------------------- */

void pci_host_set_mmio(PciHost *host, IoBus *mmio)
{
    host->mmio = mmio;
}

void pci_host_set_irq_ops(PciHost *host, const PciIrqOps *ops, void *opaque)
{
    host->irq_ops = *ops;
    host->irq_opaque = opaque;
}

void pci_host_unplug(PciHost *host, PciDevice *dev)
{
    g_mutex_lock(&host->lock);
    if (host->devices[dev->devfn] != dev) {
        g_mutex_unlock(&host->lock);
        return;
    }
    for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
        PciBar *b = &dev->bars[i];

        if (b->size && b->mapped != UINT64_MAX) {
            uint64_t old = b->mapped;

            if (host->mmio) {
                iobus_unregister(host->mmio, b->mapped, b->opaque);
            }
            b->mapped = UINT64_MAX;
            if (dev->bar_moved) {
                dev->bar_moved(dev, i, old, UINT64_MAX);
            }
        }
    }
    host->devices[dev->devfn] = NULL;
    g_mutex_unlock(&host->lock);
    g_clear_pointer(&dev->load_shadow, g_free);     /* a failed load */
    pci_msix_uninit(dev);
    g_mutex_clear(&dev->msix.lock);
    dev->host = NULL;
}

void pci_device_reset(PciDevice *dev)
{
    PciHost *host = dev->host;

    if (host) {
        g_mutex_lock(&host->lock);
    }
    pci_set_u16(dev, PCI_COMMAND, 0);
    for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
        PciBar *b = &dev->bars[i];

        if (b->size) {
            pci_set_u32(dev, PCI_BAR0 + 4 * i,
                        (uint32_t)b->reset_addr | b->flags);
            if (b->flags & PCI_BAR_MEM_TYPE_64) {
                pci_set_u32(dev, PCI_BAR0 + 4 * i + 4,
                            (uint32_t)(b->reset_addr >> 32));
            }
        }
    }
    /* As firmware leaves it: BARs assigned, memory decoding on. */
    pci_set_u16(dev, PCI_COMMAND, PCI_COMMAND_MEMORY);
    pci_update_bars(dev);
    if (dev->msix.nr) {
        g_mutex_lock(&dev->msix.lock);
        pci_set_u16(dev, dev->msix.cap + PCI_MSIX_FLAGS,
                    (uint16_t)(dev->msix.nr - 1));
        for (unsigned int v = 0; v < dev->msix.nr; v++) {
            PciMsixVector *e = &dev->msix.vec[v];

            e->addr_lo = e->addr_hi = e->data = 0;
            e->ctrl = PCI_MSIX_ENTRY_CTRL_MASKBIT;
        }
        dev->msix.pending = 0;
        g_mutex_unlock(&dev->msix.lock);
    }
    if (host) {
        g_mutex_lock(&dev->msix.lock);
        dev->intx_level = false;
        pci_intx_update(dev);
        g_mutex_unlock(&dev->msix.lock);
        g_mutex_unlock(&host->lock);
    }
}

/* --- BARs and capabilities --------------------------------------------- */

void pci_register_bar(PciDevice *dev, unsigned int bar, uint64_t size,
                      bool is64, uint64_t addr, IoHandler handler,
                      void *opaque)
{
    PciBar *b = &dev->bars[bar];
    uint64_t mask = ~(size - 1);

    g_assert(bar < PCI_NUM_BARS - (is64 ? 1 : 0));
    g_assert(size >= 4096 && !(size & (size - 1)) && !(addr & (size - 1)));
    b->size = size;
    b->flags = is64 ? PCI_BAR_MEM_TYPE_64 : 0;
    b->mapped = UINT64_MAX;
    b->reset_addr = addr;
    b->handler = handler;
    b->opaque = opaque;
    /* Writable address bits only: writing all ones reads back the size. */
    pci_set_u32(dev, PCI_BAR0 + 4 * bar, (uint32_t)addr | b->flags);
    for (unsigned int i = 0; i < 4; i++) {
        dev->wmask[PCI_BAR0 + 4 * bar + i] = (uint8_t)((mask & ~0xfULL) >>
                                                       (8 * i));
    }
    if (is64) {
        pci_set_u32(dev, PCI_BAR0 + 4 * bar + 4, (uint32_t)(addr >> 32));
        for (unsigned int i = 0; i < 4; i++) {
            dev->wmask[PCI_BAR0 + 4 * bar + 4 + i] =
                (uint8_t)(mask >> (32 + 8 * i));
        }
    }
    dev->wmask[PCI_COMMAND] |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
    dev->wmask[PCI_COMMAND + 1] |= PCI_COMMAND_INTX_DISABLE >> 8;
}

uint8_t pci_add_capability(PciDevice *dev, uint8_t id, uint8_t size)
{
    uint8_t off = dev->next_cap ? dev->next_cap : 0x40;
    uint8_t *link = &dev->config[PCI_CAPABILITY_LIST];

    g_assert((unsigned int)off + size <= 0x100);
    /* Append: walk to the end of the list. */
    while (*link) {
        link = &dev->config[*link + 1];
    }
    *link = off;
    dev->config[off] = id;
    dev->config[off + 1] = 0;
    dev->config[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
    dev->next_cap = (uint8_t)((off + size + 3) & ~3);
    return off;
}

/* --- MSI-X and INTx ----------------------------------------------------- */

void pci_msix_init(PciDevice *dev, unsigned int nr, unsigned int bar,
                   uint32_t table_off, uint32_t pba_off)
{
    PciMsix *m = &dev->msix;

    g_assert(nr > 0 && nr <= PCI_MSIX_MAX_VECTORS);
    m->nr = nr;
    m->bar = bar;
    m->table_off = table_off;
    m->pba_off = pba_off;
    m->cap = pci_add_capability(dev, PCI_CAP_ID_MSIX, PCI_MSIX_CAP_SIZE);
    pci_set_u16(dev, m->cap + PCI_MSIX_FLAGS, (uint16_t)(nr - 1));
    pci_set_u32(dev, m->cap + PCI_MSIX_TABLE, table_off | bar);
    pci_set_u32(dev, m->cap + PCI_MSIX_PBA, pba_off | bar);
    dev->wmask[m->cap + PCI_MSIX_FLAGS + 1] =
        (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8;
    for (unsigned int v = 0; v < nr; v++) {
        m->vec[v] = (PciMsixVector) {
            .ctrl = PCI_MSIX_ENTRY_CTRL_MASKBIT, .irqfd = -1, .gsi = -1,
        };
    }
}

void pci_msix_uninit(PciDevice *dev)
{
    PciMsix *m = &dev->msix;
    PciHost *host = dev->host;

    for (unsigned int v = 0; v < m->nr; v++) {
        PciMsixVector *e = &m->vec[v];

        if (e->gsi >= 0 && host && host->irq_ops.unroute) {
            host->irq_ops.unroute(host->irq_opaque, e->gsi, e->irqfd);
        }
        if (e->irqfd >= 0) {
            close(e->irqfd);
        }
        e->irqfd = e->gsi = -1;
    }
    m->nr = 0;
}

bool pci_msix_enabled(PciDevice *dev)
{
    return dev->msix.nr &&
           (pci_get(dev, dev->msix.cap + PCI_MSIX_FLAGS, 2) &
            PCI_MSIX_FLAGS_ENABLE);
}

static bool msix_masked(PciDevice *dev, unsigned int v)
{
    return (pci_get(dev, dev->msix.cap + PCI_MSIX_FLAGS, 2) &
            PCI_MSIX_FLAGS_MASKALL) ||
           (dev->msix.vec[v].ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

/* Send vector @v's message. msix.lock held. */
static void msix_deliver(PciDevice *dev, unsigned int v)
{
    PciMsixVector *e = &dev->msix.vec[v];
    PciHost *host = dev->host;
    uint64_t addr = (uint64_t)e->addr_hi << 32 | e->addr_lo;
    static const uint64_t one = 1;

    if (!host) {
        return;
    }
    if (host->irq_ops.route && !e->no_route) {
        if (e->irqfd < 0) {
            e->irqfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
            e->no_route = e->irqfd < 0;
        }
        /* The route follows the table lazily: reprogrammed only when a
         * message actually goes out with a changed address or data. */
        if (e->irqfd >= 0 &&
            (e->gsi < 0 || e->routed_addr != addr ||
             e->routed_data != e->data)) {
            if (host->irq_ops.route(host->irq_opaque, &e->gsi, e->irqfd,
                                    addr, e->data)) {
                e->routed_addr = addr;
                e->routed_data = e->data;
            } else {
                /* Don't retry (and log) on every interrupt. */
                e->no_route = true;
                if (e->gsi < 0) {
                    close(e->irqfd);
                    e->irqfd = -1;
                }
            }
        }
        if (e->irqfd >= 0 && e->gsi >= 0 && e->routed_addr == addr &&
            e->routed_data == e->data &&
            write(e->irqfd, &one, sizeof(one)) == sizeof(one)) {
            return;
        }
    }
    if (host->irq_ops.msi) {
        host->irq_ops.msi(host->irq_opaque, addr, e->data);
    }
}

static void pci_msix_flush_pending(PciDevice *d)
{
    if (!pci_msix_enabled(d) || d->paused) {
        return;
    }
    for (unsigned int v = 0; v < d->msix.nr; v++) {
        if ((d->msix.pending & (1ULL << v)) && !msix_masked(d, v)) {
            d->msix.pending &= ~(1ULL << v);
            msix_deliver(d, v);
        }
    }
}

void pci_msix_notify(PciDevice *dev, unsigned int vector)
{
    PciMsix *m = &dev->msix;

    if (vector >= m->nr) {
        return;
    }
    g_mutex_lock(&m->lock);
    if (pci_msix_enabled(dev)) {
        /* Paused: the message waits in the PBA, as for a masked vector
         * (and migrates with it); resume sends it. */
        if (msix_masked(dev, vector) || dev->paused) {
            m->pending |= 1ULL << vector;
        } else {
            msix_deliver(dev, vector);
        }
    }
    g_mutex_unlock(&m->lock);
}

void pci_msix_table_io(PciDevice *dev, uint64_t off, uint8_t *data,
                       uint32_t len, bool is_write)
{
    PciMsix *m = &dev->msix;
    uint64_t entry = off / PCI_MSIX_ENTRY_SIZE;
    uint32_t field = (uint32_t)(off % PCI_MSIX_ENTRY_SIZE);
    uint8_t raw[PCI_MSIX_ENTRY_SIZE];
    PciMsixVector *e;

    /* Aligned accesses within one entry only (4 or 8 bytes). */
    if (entry >= m->nr || (len != 4 && len != 8) || (field & (len - 1))) {
        if (!is_write) {
            memset(data, 0, len);
        }
        return;
    }
    g_mutex_lock(&m->lock);
    e = &m->vec[entry];
    for (unsigned int i = 0; i < 4; i++) {
        raw[i] = (uint8_t)(e->addr_lo >> (8 * i));
        raw[4 + i] = (uint8_t)(e->addr_hi >> (8 * i));
        raw[8 + i] = (uint8_t)(e->data >> (8 * i));
        raw[12 + i] = (uint8_t)(e->ctrl >> (8 * i));
    }
    if (!is_write) {
        memcpy(data, raw + field, len);
    } else {
        memcpy(raw + field, data, len);
        e->addr_lo = (uint32_t)io_data_get(raw, 4);
        e->addr_hi = (uint32_t)io_data_get(raw + 4, 4);
        e->data = (uint32_t)io_data_get(raw + 8, 4);
        e->ctrl = (uint32_t)io_data_get(raw + 12, 4) &
                  PCI_MSIX_ENTRY_CTRL_MASKBIT;
        pci_msix_flush_pending(dev);
    }
    g_mutex_unlock(&m->lock);
}

void pci_msix_pba_io(PciDevice *dev, uint64_t off, uint8_t *data,
                     uint32_t len, bool is_write)
{
    uint64_t pending;

    if (is_write) {
        return;                         /* read-only */
    }
    g_mutex_lock(&dev->msix.lock);
    pending = dev->msix.pending;
    g_mutex_unlock(&dev->msix.lock);
    for (uint32_t i = 0; i < len; i++) {
        data[i] = off + i < 8 ? (uint8_t)(pending >> (8 * (off + i))) : 0;
    }
}

/* Drive the line from intx_level and the command register. msix.lock. */
static void pci_intx_update(PciDevice *d)
{
    PciHost *host = d->host;
    bool level = d->intx_level &&
                 !(pci_get(d, PCI_COMMAND, 2) & PCI_COMMAND_INTX_DISABLE);

    if (d->intx_level) {
        d->config[PCI_STATUS] |= PCI_STATUS_INTERRUPT;
    } else {
        d->config[PCI_STATUS] &= (uint8_t)~PCI_STATUS_INTERRUPT;
    }
    /* Paused: the pin keeps its level until resume drives it. */
    if (host && host->irq_ops.intx && d->config[PCI_INTERRUPT_PIN] &&
        !d->paused) {
        host->irq_ops.intx(host->irq_opaque, d->intx_gsi, level);
    }
}

void pci_set_intx(PciDevice *dev, bool level)
{
    g_mutex_lock(&dev->msix.lock);
    if (dev->intx_level != level) {
        dev->intx_level = level;
        pci_intx_update(dev);
    }
    g_mutex_unlock(&dev->msix.lock);
}

/* --- pause, migration ------------------------------------------------------ */

void pci_device_pause(PciDevice *dev)
{
    g_mutex_lock(&dev->msix.lock);
    dev->paused = true;
    g_mutex_unlock(&dev->msix.lock);
}

void pci_device_resume(PciDevice *dev)
{
    g_mutex_lock(&dev->msix.lock);
    dev->paused = false;
    pci_msix_flush_pending(dev);
    if (dev->host) {
        pci_intx_update(dev);
    }
    g_mutex_unlock(&dev->msix.lock);
}

static bool pci_device_pre_load(void *opaque, GError **errp)
{
    PciDevice *d = opaque;

    g_free(d->load_shadow);
    d->load_shadow = g_memdup2(d->config, PCI_CONFIG_SIZE);
    return true;
}

/* Bits the guest cannot write must be this device's: a stream from
 * another device model (ids, capability layout, MSI-X size, BAR types)
 * or a forged one is refused here. */
static bool pci_check_read_only(PciDevice *d, GError **errp)
{
    for (uint32_t i = 0; i < PCI_CONFIG_SIZE; i++) {
        uint8_t ro = (uint8_t)~d->wmask[i];

        if (i == PCI_STATUS) {
            ro &= (uint8_t)~PCI_STATUS_INTERRUPT;   /* pci.c drives it */
        }
        if ((d->config[i] ^ d->load_shadow[i]) & ro) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "%s: field 'config': read-only byte 0x%03x is "
                        "0x%02x, this device has 0x%02x", d->name, i,
                        d->config[i], d->load_shadow[i]);
            return false;
        }
    }
    return true;
}

static bool pci_device_post_load(void *opaque, uint32_t version,
                                 GError **errp)
{
    PciDevice *d = opaque;
    PciMsix *m = &d->msix;
    bool ok = d->load_shadow && pci_check_read_only(d, errp);
    bool decode;

    g_clear_pointer(&d->load_shadow, g_free);
    if (!ok) {
        if (errp && !*errp) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                        "%s: field 'config': loaded without pre_load",
                        d->name);
        }
        return false;
    }
    if (m->nr < 64 && (m->pending >> m->nr)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "%s: field 'pending': 0x%" G_GINT64_MODIFIER "x names "
                    "vectors beyond the table of %u", d->name, m->pending,
                    m->nr);
        return false;
    }
    for (unsigned int v = 0; v < PCI_MSIX_MAX_VECTORS; v++) {
        const PciMsixVector *e = &m->vec[v];

        if ((e->ctrl & ~PCI_MSIX_ENTRY_CTRL_MASKBIT) ||
            (v >= m->nr && (e->addr_lo || e->addr_hi || e->data))) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "%s: field 'vec': entry %u is invalid for a table "
                        "of %u", d->name, v, m->nr);
            return false;
        }
    }
    if (!d->host) {
        return true;                    /* the bridge: nothing mapped */
    }
    /* BARs where the loaded registers put them (ioeventfds follow, via
     * bar_moved); one that cannot be mapped is a forged or mismatched
     * stream: a real guest's BARs were mapped on the source. */
    g_mutex_lock(&d->host->lock);
    pci_update_bars(d);
    decode = pci_get(d, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY;
    for (unsigned int i = 0; i < PCI_NUM_BARS && d->host->mmio; i++) {
        uint64_t addr = pci_bar_addr(d, i);

        if (d->bars[i].size && decode && addr &&
            addr + d->bars[i].size > addr && d->bars[i].mapped != addr) {
            g_mutex_unlock(&d->host->lock);
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "%s: field 'config': BAR %u at 0x%"
                        G_GINT64_MODIFIER "x cannot be mapped", d->name, i,
                        addr);
            return false;
        }
    }
    g_mutex_lock(&m->lock);
    pci_intx_update(d);
    g_mutex_unlock(&m->lock);
    g_mutex_unlock(&d->host->lock);
    return true;
}

/* Wire names: never rename. */
static const VmsDesc pci_msix_vector_vmsd = {
    .name = "pci-msix-vector",
    .version = 1,
    .min_version = 1,
    .fields = (const VmsField[]) {
        VMS_U32(PciMsixVector, addr_lo),
        VMS_U32(PciMsixVector, addr_hi),
        VMS_U32(PciMsixVector, data),
        VMS_U32(PciMsixVector, ctrl),
        VMS_END_OF_LIST,
    },
};

/* All 64 entries, whatever the table size: the size is the device's (a
 * read-only config field checked on load), not the stream's. */
static const VmsDesc pci_msix_vmsd = {
    .name = "pci-msix",
    .version = 1,
    .min_version = 1,
    .fields = (const VmsField[]) {
        VMS_U64(PciMsix, pending),
        VMS_STRUCT_ARRAY(PciMsix, vec, PCI_MSIX_MAX_VECTORS,
                         pci_msix_vector_vmsd, PciMsixVector),
        VMS_END_OF_LIST,
    },
};

const VmsDesc pci_device_vmsd = {
    .name = "pci-device",
    .version = 1,
    .min_version = 1,
    .pre_load = pci_device_pre_load,
    .post_load = pci_device_post_load,
    .fields = (const VmsField[]) {
        VMS_U8_ARRAY(PciDevice, config, PCI_CONFIG_SIZE),
        VMS_BOOL(PciDevice, intx_level),
        VMS_STRUCT(PciDevice, msix, pci_msix_vmsd, PciMsix),
        VMS_END_OF_LIST,
    },
};

/* --- the board device ----------------------------------------------------- */

static bool pci_host_realize(Device *dev, const DeviceContext *ctx,
                             GError **errp)
{
    PciHost *host = (PciHost *)dev;

    pci_host_init(host);
    pci_host_set_mmio(host, ctx->mmio);
    if (ctx->pci_irq_ops) {
        pci_host_set_irq_ops(host, ctx->pci_irq_ops, ctx->pci_irq_opaque);
    }
    return iobus_register(ctx->mmio, LAYOUT_ECAM_START, LAYOUT_ECAM_SIZE,
                          pci_ecam_io, host, "pci-ecam", errp);
}

static void pci_host_reset(Device *dev)
{
    PciHost *host = (PciHost *)dev;

    g_mutex_lock(&host->lock);
    host->config_addr = 0;
    pci_set_u16(&host->bridge, PCI_COMMAND, 0);
    g_mutex_unlock(&host->lock);
}

static bool pci_host_post_load(void *opaque, uint32_t version, GError **errp)
{
    PciHost *host = opaque;

    if (host->config_addr & ~0x8fffffffu) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "field 'config_addr': reserved bits set (0x%08x)",
                    host->config_addr);
        return false;
    }
    return true;
}

/* Wire names: never rename. */
static const VmsDesc pci_host_vmsd = {
    .name = "pci-host",
    .version = 1,
    .min_version = 1,
    .post_load = pci_host_post_load,
    .fields = (const VmsField[]) {
        VMS_U32(PciHost, config_addr),
        VMS_STRUCT(PciHost, bridge, pci_device_vmsd, PciDevice),
        VMS_END_OF_LIST,
    },
};

const DeviceClass pci_host_class = {
    .name = "pcie-host-bridge",
    .instance_size = sizeof(PciHost),
    .realize = pci_host_realize,
    .reset = pci_host_reset,
    .unrealize = pci_host_unrealize,
    .vmsd = &pci_host_vmsd,
};
