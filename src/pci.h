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

#include "iobus.h"

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

#define PCI_COMMAND_MEMORY  0x0002
#define PCI_COMMAND_MASTER  0x0004
#define PCI_COMMAND_INTX_DISABLE 0x0400
#define PCI_STATUS_INTERRUPT 0x0008
#define PCI_STATUS_CAP_LIST 0x0010
#define PCI_BAR_MEM_TYPE_64 0x04
#define PCI_BAR_MEM_PREFETCH 0x08
#define PCI_NUM_BARS        6

#define PCI_CAP_ID_VNDR     0x09
#define PCI_CAP_ID_MSIX     0x11
#define PCI_MSIX_FLAGS      2           /* offsets inside the capability */
#define PCI_MSIX_TABLE      4
#define PCI_MSIX_PBA        8
#define PCI_MSIX_CAP_SIZE   12
#define PCI_MSIX_FLAGS_ENABLE   0x8000
#define PCI_MSIX_FLAGS_MASKALL  0x4000
#define PCI_MSIX_ENTRY_SIZE 16
#define PCI_MSIX_ENTRY_CTRL_MASKBIT 1
#define PCI_MSIX_MAX_VECTORS 64

/* INTx: no _PRT in the DSDT yet, so the pins go to fixed IOAPIC inputs,
 * written into PCI_INTERRUPT_LINE: pin A of even slots to GSI 10, of odd
 * slots to GSI 11. Only a fallback for drivers without MSI-X. */
#define PCI_INTX_GSI_EVEN   10
#define PCI_INTX_GSI_ODD    11

/* How interrupts leave the PCI world; set once by the board. */
typedef struct {
    void (*msi)(void *opaque, uint64_t addr, uint32_t data);
    void (*intx)(void *opaque, unsigned int gsi, bool level);
    /*
     * Optional irqfd fast path: route @addr/@data to a GSI (allocated when
     * *@gsi < 0) and bind @fd to it; afterwards writing to @fd delivers
     * the message. False: use msi() instead.
     */
    bool (*route)(void *opaque, int *gsi, int fd, uint64_t addr,
                  uint32_t data);
    void (*unroute)(void *opaque, int gsi, int fd);
} PciIrqOps;

typedef struct PciHost PciHost;

/* One MSI-X vector: guest table entry plus the irqfd route behind it. */
typedef struct {
    /* Guest-visible (pci_device_vmsd). */
    uint32_t addr_lo, addr_hi, data, ctrl;
    /* Host side, rebuilt lazily: the route follows the entry on the
     * next delivery (msix_deliver). */
    int irqfd;                          /* eventfd, -1 until first use */
    int gsi;                            /* -1: no route */
    uint64_t routed_addr;
    uint32_t routed_data;
    bool no_route;                      /* routing failed: use msi() */
} PciMsixVector;

typedef struct {
    GMutex lock;                        /* leaf lock: table, PBA, delivery */
    uint32_t nr;                        /* 0: no MSI-X */
    uint8_t cap;                        /* config offset of the capability */
    unsigned int bar;
    uint32_t table_off, pba_off;        /* inside the BAR */
    PciMsixVector vec[PCI_MSIX_MAX_VECTORS];
    uint64_t pending;                   /* PBA */
} PciMsix;

typedef struct {
    uint64_t size;                      /* 0: the device has no such BAR */
    uint8_t flags;                      /* low bits of the BAR register */
    uint64_t mapped;                    /* address on the bus, or UINT64_MAX */
    uint64_t reset_addr;                /* where the "firmware" put it */
    IoHandler handler;
    void *opaque;
    bool warned;                        /* a mapping failure was logged */
} PciBar;

typedef struct PciDevice PciDevice;

struct PciDevice {
    const char *name;
    uint8_t devfn;                      /* slot << 3 | function */
    uint8_t config[PCI_CONFIG_SIZE];
    uint8_t wmask[PCI_CONFIG_SIZE];     /* writable bits */
    /* Optional hooks after a config write (BAR moves, MSI-X enable). */
    void (*config_written)(PciDevice *dev, uint32_t offset, uint32_t len);
    /* Optional hook before a config read, to refresh dev->config (windows
     * such as virtio's PCI_CFG capability). Host lock held. */
    void (*config_read)(PciDevice *dev, uint32_t offset, uint32_t len);
    void *opaque;

    /* Filled by pci_register_bar / pci_msix_init; all-zero is fine for
     * devices with neither. */
    PciHost *host;                      /* set by pci_host_plug */
    PciBar bars[PCI_NUM_BARS];
    /* Called after a BAR was mapped, unmapped or moved (ioeventfds follow
     * the BAR); @addr is UINT64_MAX when unmapped. Host lock held. */
    void (*bar_moved)(PciDevice *dev, unsigned int bar, uint64_t old,
                      uint64_t addr);
    uint8_t next_cap;                   /* where the next capability goes */
    unsigned int intx_gsi;
    bool intx_level;
    PciMsix msix;
    /* Paused: interrupts wait (MSI-X in the PBA, INTx unchanged on the
     * pin) until pci_device_resume. msix.lock. */
    bool paused;
    uint8_t *load_shadow;               /* config before a vms_load */
};

/* The guest-visible state of one PCI function: config space (BARs,
 * command, capabilities), INTx level, MSI-X table and PBA. Loading checks
 * that read-only bits match this device and maps the BARs. */
extern const struct VmsDesc pci_device_vmsd;

/* The board's PCI host bridge (0xcf8 is the machine's: it shares the
 * port with the reset register; ECAM is registered here). */
typedef struct DeviceClass DeviceClass;
extern const DeviceClass pci_host_class;

/* A host outside any board (unit tests); freed with pci_host_free. */
PciHost *pci_host_new(void);
void pci_host_free(PciHost *host);

/* Stop delivering @dev's interrupts (they wait: MSI-X as pending in the
 * PBA), and deliver what waits on resume. Main thread. */
void pci_device_pause(PciDevice *dev);
void pci_device_resume(PciDevice *dev);

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

/*
 * Board wiring: the bus where BARs appear, and where interrupts go. Both
 * optional (unit tests leave them unset: BARs are then never mapped and
 * interrupts dropped unless a test sets its own ops).
 */
void pci_host_set_mmio(PciHost *host, IoBus *mmio);
void pci_host_set_irq_ops(PciHost *host, const PciIrqOps *ops,
                          void *opaque);

/* Remove @dev: its BARs are unmapped and MSI-X routes released. */
void pci_host_unplug(PciHost *host, PciDevice *dev);

/* Reset the config space parts pci.c owns: command, BARs back to their
 * initial addresses, MSI-X off and masked, INTx low. */
void pci_device_reset(PciDevice *dev);

/*
 * pci_register_bar: BAR @bar (the lower half for 64-bit ones) of @size
 * bytes (a power of two, >= 4 KiB), memory space, 64-bit if @is64. It is
 * placed at @addr (firmware's job; we have none) and decodes once the
 * guest enables memory space. Accesses reach @handler with offsets
 * relative to the BAR.
 */
void pci_register_bar(PciDevice *dev, unsigned int bar, uint64_t size,
                      bool is64, uint64_t addr, IoHandler handler,
                      void *opaque);

/* Append a capability of @size bytes with id @id; returns its offset. */
uint8_t pci_add_capability(PciDevice *dev, uint8_t id, uint8_t size);

/* MSI-X with @nr vectors; table and PBA at the given BAR offsets. */
void pci_msix_init(PciDevice *dev, unsigned int nr, unsigned int bar,
                   uint32_t table_off, uint32_t pba_off);
void pci_msix_uninit(PciDevice *dev);
bool pci_msix_enabled(PciDevice *dev);
/* Table and PBA accesses (from the owner's BAR handler). */
void pci_msix_table_io(PciDevice *dev, uint64_t off, uint8_t *data,
                       uint32_t len, bool is_write);
void pci_msix_pba_io(PciDevice *dev, uint64_t off, uint8_t *data,
                     uint32_t len, bool is_write);
/* Signal @vector, or mark it pending while masked. */
void pci_msix_notify(PciDevice *dev, unsigned int vector);

/* Drive the device's INTx pin (level triggered). */
void pci_set_intx(PciDevice *dev, bool level);

#endif /* KESTREL_PCI_H */
