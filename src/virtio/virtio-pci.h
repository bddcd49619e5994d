/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The modern virtio-pci transport (virtio 1.x, 4.1): PCI id 0x1040 + the
 * device id, one 64-bit memory BAR holding the common, ISR, device and
 * notify structures and the MSI-X table and PBA, vendor capabilities
 * pointing at them. No legacy I/O BAR.
 *
 * Notifications: with KVM, one ioeventfd per queue on the notify address,
 * watched from the main loop (GMainContext default); without (unit tests,
 * or ioeventfd=off) a notify write is processed on the writing thread.
 * Interrupts: MSI-X through pci.c (irqfd when the board offers routes),
 * else INTx with the ISR.
 */
#ifndef KESTREL_VIRTIO_PCI_H
#define KESTREL_VIRTIO_PCI_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "kvm.h"
#include "pci.h"
#include "virtio/virtio.h"

/* BAR 0 layout. */
#define VIRTIO_PCI_BAR_SIZE         0x8000
#define VIRTIO_PCI_COMMON_OFF       0x0000
#define VIRTIO_PCI_COMMON_LEN       0x38
#define VIRTIO_PCI_ISR_OFF          0x1000
#define VIRTIO_PCI_DEVICE_OFF       0x2000
#define VIRTIO_PCI_DEVICE_LEN       0x1000
#define VIRTIO_PCI_NOTIFY_OFF       0x3000
#define VIRTIO_PCI_NOTIFY_MULT      4
#define VIRTIO_PCI_MSIX_TABLE_OFF   0x4000
#define VIRTIO_PCI_MSIX_PBA_OFF     0x5000

/* Common configuration registers (virtio 1.x, 4.1.4.3). */
#define VIRTIO_PCI_COMMON_DFSELECT  0x00
#define VIRTIO_PCI_COMMON_DF        0x04
#define VIRTIO_PCI_COMMON_GFSELECT  0x08
#define VIRTIO_PCI_COMMON_GF        0x0c
#define VIRTIO_PCI_COMMON_MSIX      0x10
#define VIRTIO_PCI_COMMON_NUMQ      0x12
#define VIRTIO_PCI_COMMON_STATUS    0x14
#define VIRTIO_PCI_COMMON_CFGGEN    0x15
#define VIRTIO_PCI_COMMON_Q_SELECT  0x16
#define VIRTIO_PCI_COMMON_Q_SIZE    0x18
#define VIRTIO_PCI_COMMON_Q_MSIX    0x1a
#define VIRTIO_PCI_COMMON_Q_ENABLE  0x1c
#define VIRTIO_PCI_COMMON_Q_NOFF    0x1e
#define VIRTIO_PCI_COMMON_Q_DESCLO  0x20
#define VIRTIO_PCI_COMMON_Q_DESCHI  0x24
#define VIRTIO_PCI_COMMON_Q_AVAILLO 0x28
#define VIRTIO_PCI_COMMON_Q_AVAILHI 0x2c
#define VIRTIO_PCI_COMMON_Q_USEDLO  0x30
#define VIRTIO_PCI_COMMON_Q_USEDHI  0x34

/* Capability cfg_type values. */
#define VIRTIO_PCI_CAP_COMMON_CFG   1
#define VIRTIO_PCI_CAP_NOTIFY_CFG   2
#define VIRTIO_PCI_CAP_ISR_CFG      3
#define VIRTIO_PCI_CAP_DEVICE_CFG   4
#define VIRTIO_PCI_CAP_PCI_CFG      5

#define VIRTIO_PCI_VENDOR_ID        0x1af4
#define VIRTIO_PCI_DEVICE_ID_BASE   0x1040

typedef struct VirtioPci VirtioPci;

typedef struct {
    uint8_t devfn;
    uint32_t class_code;                /* 24 bits: class, subclass, prog */
    uint64_t bar_addr;                  /* where "firmware" puts BAR 0 */
    Kvm *kvm;                           /* NULL: no ioeventfd */
} VirtioPciConfig;

/* The transport's state: its PCI function (config space, MSI-X) and the
 * common config selectors. Loading maps the BAR (ioeventfds follow) and
 * checks every vector of the device against the MSI-X table size: load
 * the VirtioDevice first. */
typedef struct VmsDesc VmsDesc;
extern const VmsDesc virtio_pci_vmsd;

/* Plug @vdev into @host. The BAR is enabled at @cfg->bar_addr. */
VirtioPci *virtio_pci_new(VirtioDevice *vdev, PciHost *host,
                          const char *name, const VirtioPciConfig *cfg,
                          GError **errp);
/* Unplug and free (vCPUs stopped). */
void virtio_pci_free(VirtioPci *vp);
/* System reset: transport and device. */
void virtio_pci_reset(VirtioPci *vp);
PciDevice *virtio_pci_dev(VirtioPci *vp);

/* Stop watching the queue notifiers and hold interrupts back; on resume
 * watch again (a notification that came meanwhile is processed then) and
 * deliver what was held. Main thread. */
void virtio_pci_pause(VirtioPci *vp);
void virtio_pci_resume(VirtioPci *vp);

#endif /* KESTREL_VIRTIO_PCI_H */
