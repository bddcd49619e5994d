/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <string.h>

#include "error.h"
#include "iobus.h"
#include "pci.h"

struct PciHost {
    GMutex lock;
    uint32_t config_addr;               /* last value written to 0xcf8 */
    PciDevice *devices[PCI_MAX_DEVICES * 8];
    PciDevice bridge;                   /* 00:00.0, the host bridge itself */
};

void pci_set_u8(PciDevice *d, uint32_t off, uint8_t v)
{
    d->config[off] = v;
}

void pci_set_u16(PciDevice *d, uint32_t off, uint16_t v)
{
    d->config[off] = (uint8_t)v;
    d->config[off + 1] = (uint8_t)(v >> 8);
}

void pci_set_u32(PciDevice *d, uint32_t off, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        d->config[off + i] = (uint8_t)(v >> (8 * i));
    }
}

uint32_t pci_get(const PciDevice *d, uint32_t off, uint32_t len)
{
    uint32_t v = 0;

    for (uint32_t i = 0; i < len && off + i < PCI_CONFIG_SIZE; i++) {
        v |= (uint32_t)d->config[off + i] << (8 * i);
    }
    return v;
}

PciHost *pci_host_new(void)
{
    PciHost *host = g_new0(PciHost, 1);
    PciDevice *b = &host->bridge;

    g_mutex_init(&host->lock);
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
    return host;
}

void pci_host_free(PciHost *host)
{
    if (host) {
        g_mutex_clear(&host->lock);
        g_free(host);
    }
}

bool pci_host_plug(PciHost *host, PciDevice *dev, GError **errp)
{
    if (host->devices[dev->devfn]) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "PCI: slot %d function %d not available for %s, in use "
                    "by %s", dev->devfn >> 3, dev->devfn & 7, dev->name,
                    host->devices[dev->devfn]->name);
        return false;
    }
    host->devices[dev->devfn] = dev;
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
        io_data_set(data, len, pci_get(d, reg, len));
        return;
    }
    for (uint32_t i = 0; i < len; i++) {
        uint8_t m = d->wmask[reg + i];

        d->config[reg + i] = (uint8_t)((d->config[reg + i] & ~m) |
                                       (data[i] & m));
    }
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
