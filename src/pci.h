/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * PCI host bridge: configuration mechanism #1 (ports 0xcf8/0xcfc) and
 * ECAM (MMIO at LAYOUT_ECAM_START), both reaching the same functions on
 * bus 0. Devices provide config-space read/write; a generic config space
 * with write masks serves those with nothing special to do.
 */
#ifndef KESTREL_PCI_H
#define KESTREL_PCI_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define PCI_CONFIG_SIZE 4096
#define PCI_MAX_DEVICES 32

#define PCI_VENDOR_ID       0x00
#define PCI_DEVICE_ID       0x02
#define PCI_COMMAND         0x04
#define PCI_STATUS          0x06
#define PCI_REVISION_ID     0x08
#define PCI_CLASS_PROG      0x09
#define PCI_CLASS_DEVICE    0x0a
#define PCI_HEADER_TYPE     0x0e
#define PCI_BAR0            0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID    0x2e
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE  0x3c
#define PCI_INTERRUPT_PIN   0x3d

typedef struct PciDevice PciDevice;

struct PciDevice {
    const char *name;
    uint8_t devfn;                      /* slot << 3 | function */
    uint8_t config[PCI_CONFIG_SIZE];
    uint8_t wmask[PCI_CONFIG_SIZE];     /* writable bits */
    /* Optional hooks after a config write (BAR moves, MSI-X enable). */
    void (*config_written)(PciDevice *dev, uint32_t offset, uint32_t len);
    void *opaque;
};

typedef struct PciHost PciHost;

PciHost *pci_host_new(void);
void pci_host_free(PciHost *host);

/* Plug @dev at its devfn; false if the slot is taken. */
bool pci_host_plug(PciHost *host, PciDevice *dev, GError **errp);

/* Lowest free slot (1..31), or -1. */
int pci_host_free_slot(PciHost *host);

void pci_config_io(void *opaque, uint64_t offset, uint8_t *data,
                   uint32_t len, bool is_write);    /* 0xcf8..0xcff */
void pci_ecam_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
                 bool is_write);

/* Config-space helpers. */
void pci_set_u8(PciDevice *d, uint32_t off, uint8_t v);
void pci_set_u16(PciDevice *d, uint32_t off, uint16_t v);
void pci_set_u32(PciDevice *d, uint32_t off, uint32_t v);
uint32_t pci_get(const PciDevice *d, uint32_t off, uint32_t len);

#endif /* KESTREL_PCI_H */
