/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <glib-unix.h>

#include "error.h"
#include "migration/vmstate.h"
#include "virtio/virtio-pci.h"

typedef struct {
    VirtioPci *vp;
    unsigned int q;
    int fd;
    guint source;
    bool assigned;
} VirtioPciNotifier;

struct VirtioPci {
    PciDevice pci;                      /* first: pci.c hands it back */
    VirtioDevice *vdev;
    Kvm *kvm;
    bool paused;                        /* notifier sources detached */
    /* Guest-visible (virtio_pci_vmsd), with pci. */
    uint32_t dfselect, gfselect;
    uint16_t queue_sel;
    uint8_t cfg_cap;                    /* VIRTIO_PCI_CAP_PCI_CFG offset */
    VirtioPciNotifier notifier[VIRTIO_MAX_QUEUES];
};

/* --- interrupts ---------------------------------------------------------- */

static void vp_notify(void *transport, uint16_t vector)
{
    VirtioPci *vp = transport;

    if (pci_msix_enabled(&vp->pci)) {
        if (vector != VIRTQ_NO_VECTOR) {
            pci_msix_notify(&vp->pci, vector);
        }
        return;
    }
    pci_set_intx(&vp->pci, true);
}

static void vp_isr_cleared(void *transport)
{
    VirtioPci *vp = transport;

    pci_set_intx(&vp->pci, false);
}

static const VirtioTransportOps vp_transport_ops = {
    .notify = vp_notify,
    .isr_cleared = vp_isr_cleared,
};

/* --- common configuration ------------------------------------------------ */

static uint16_t vp_vector(VirtioPci *vp, uint16_t v)
{
    /* A vector the table does not have reads back as NO_VECTOR, which is
     * how the driver learns that the mapping failed (4.1.4.3.1). */
    return v < vp->pci.msix.nr ? v : VIRTQ_NO_VECTOR;
}

static uint64_t vp_common_read(VirtioPci *vp, uint64_t off, uint32_t len)
{
    VirtioDevice *vdev = vp->vdev;
    VirtQueue *vq = vp->queue_sel < vdev->nr_queues
                    ? &vdev->vq[vp->queue_sel] : NULL;

    switch (off) {
    case VIRTIO_PCI_COMMON_DFSELECT:
        return vp->dfselect;
    case VIRTIO_PCI_COMMON_DF:
        return vp->dfselect < 2
               ? (uint32_t)(vdev->host_features >> (32 * vp->dfselect)) : 0;
    case VIRTIO_PCI_COMMON_GFSELECT:
        return vp->gfselect;
    case VIRTIO_PCI_COMMON_GF:
        return vp->gfselect < 2
               ? (uint32_t)(vdev->guest_features >> (32 * vp->gfselect)) : 0;
    case VIRTIO_PCI_COMMON_MSIX:
        return vdev->config_vector;
    case VIRTIO_PCI_COMMON_NUMQ:
        return vdev->nr_queues;
    case VIRTIO_PCI_COMMON_STATUS:
        return vdev->status;
    case VIRTIO_PCI_COMMON_CFGGEN:
        return vdev->config_generation;
    case VIRTIO_PCI_COMMON_Q_SELECT:
        return vp->queue_sel;
    case VIRTIO_PCI_COMMON_Q_SIZE:
        return vq ? vq->num : 0;
    case VIRTIO_PCI_COMMON_Q_MSIX:
        return vq ? vq->msix_vector : VIRTQ_NO_VECTOR;
    case VIRTIO_PCI_COMMON_Q_ENABLE:
        return vq ? vq->ready : 0;
    case VIRTIO_PCI_COMMON_Q_NOFF:
        return vp->queue_sel;
    case VIRTIO_PCI_COMMON_Q_DESCLO:
        return vq ? (len == 8 ? vq->desc_gpa : (uint32_t)vq->desc_gpa) : 0;
    case VIRTIO_PCI_COMMON_Q_DESCHI:
        return vq ? vq->desc_gpa >> 32 : 0;
    case VIRTIO_PCI_COMMON_Q_AVAILLO:
        return vq ? (len == 8 ? vq->avail_gpa : (uint32_t)vq->avail_gpa) : 0;
    case VIRTIO_PCI_COMMON_Q_AVAILHI:
        return vq ? vq->avail_gpa >> 32 : 0;
    case VIRTIO_PCI_COMMON_Q_USEDLO:
        return vq ? (len == 8 ? vq->used_gpa : (uint32_t)vq->used_gpa) : 0;
    case VIRTIO_PCI_COMMON_Q_USEDHI:
        return vq ? vq->used_gpa >> 32 : 0;
    default:
        return 0;
    }
}

static void set_half(uint64_t *reg, bool high, uint32_t len, uint64_t v)
{
    if (len == 8) {
        *reg = v;
    } else if (high) {
        *reg = (*reg & 0xffffffffULL) | (v << 32);
    } else {
        *reg = (*reg & ~0xffffffffULL) | (uint32_t)v;
    }
}

static void vp_common_write(VirtioPci *vp, uint64_t off, uint32_t len,
                            uint64_t v)
{
    VirtioDevice *vdev = vp->vdev;
    VirtQueue *vq = vp->queue_sel < vdev->nr_queues
                    ? &vdev->vq[vp->queue_sel] : NULL;

    /* Queue registers are frozen while the queue is enabled. */
    bool q_frozen = !vq || vq->ready;

    switch (off) {
    case VIRTIO_PCI_COMMON_DFSELECT:
        vp->dfselect = (uint32_t)v;
        break;
    case VIRTIO_PCI_COMMON_GFSELECT:
        vp->gfselect = (uint32_t)v;
        break;
    case VIRTIO_PCI_COMMON_GF:
        virtio_set_driver_features(vdev, vp->gfselect, (uint32_t)v);
        break;
    case VIRTIO_PCI_COMMON_MSIX:
        vdev->config_vector = vp_vector(vp, (uint16_t)v);
        break;
    case VIRTIO_PCI_COMMON_STATUS:
        virtio_set_status(vdev, (uint8_t)v);
        break;
    case VIRTIO_PCI_COMMON_Q_SELECT:
        vp->queue_sel = (uint16_t)v;
        break;
    case VIRTIO_PCI_COMMON_Q_SIZE:
        if (!q_frozen) {
            vq->num = (uint16_t)v;      /* checked when enabled */
        }
        break;
    case VIRTIO_PCI_COMMON_Q_MSIX:
        if (vq) {
            vq->msix_vector = vp_vector(vp, (uint16_t)v);
        }
        break;
    case VIRTIO_PCI_COMMON_Q_ENABLE:
        /* Writing 0 is forbidden to the driver (4.1.4.3.2): ignored. */
        if (vq && v == 1) {
            virtio_queue_enable(vdev, vp->queue_sel);
        }
        break;
    case VIRTIO_PCI_COMMON_Q_DESCLO:
    case VIRTIO_PCI_COMMON_Q_DESCHI:
        if (!q_frozen) {
            set_half(&vq->desc_gpa, off == VIRTIO_PCI_COMMON_Q_DESCHI, len,
                     v);
        }
        break;
    case VIRTIO_PCI_COMMON_Q_AVAILLO:
    case VIRTIO_PCI_COMMON_Q_AVAILHI:
        if (!q_frozen) {
            set_half(&vq->avail_gpa, off == VIRTIO_PCI_COMMON_Q_AVAILHI, len,
                     v);
        }
        break;
    case VIRTIO_PCI_COMMON_Q_USEDLO:
    case VIRTIO_PCI_COMMON_Q_USEDHI:
        if (!q_frozen) {
            set_half(&vq->used_gpa, off == VIRTIO_PCI_COMMON_Q_USEDHI, len,
                     v);
        }
        break;
    default:
        break;                          /* read-only or nothing there */
    }
}

/* Register widths; an access of another width or alignment is ignored
 * (reads as zero), as the spec lets the device do. */
static bool vp_common_width_ok(uint64_t off, uint32_t len)
{
    if (off >= VIRTIO_PCI_COMMON_LEN || (off & (len - 1))) {
        return false;
    }
    if (off == VIRTIO_PCI_COMMON_STATUS || off == VIRTIO_PCI_COMMON_CFGGEN) {
        return len == 1;
    }
    if (off >= VIRTIO_PCI_COMMON_Q_DESCLO) {
        return len == 4 || len == 8;
    }
    if (off >= VIRTIO_PCI_COMMON_MSIX) {
        return len == 2;
    }
    return len == 4;
}

/* --- BAR 0 --------------------------------------------------------------- */

static void vp_bar_io(void *opaque, uint64_t off, uint8_t *data,
                      uint32_t len, bool is_write)
{
    VirtioPci *vp = opaque;
    VirtioDevice *vdev = vp->vdev;

    if (off >= VIRTIO_PCI_MSIX_TABLE_OFF && off < VIRTIO_PCI_MSIX_PBA_OFF) {
        pci_msix_table_io(&vp->pci, off - VIRTIO_PCI_MSIX_TABLE_OFF, data,
                          len, is_write);
        return;
    }
    if (off >= VIRTIO_PCI_MSIX_PBA_OFF) {
        pci_msix_pba_io(&vp->pci, off - VIRTIO_PCI_MSIX_PBA_OFF, data, len,
                        is_write);
        return;
    }
    if (!is_write) {
        memset(data, 0, len);
    }
    g_mutex_lock(&vdev->lock);
    if (off < VIRTIO_PCI_ISR_OFF) {
        if (vp_common_width_ok(off, len)) {
            if (is_write) {
                vp_common_write(vp, off, len, io_data_get(data, len));
            } else {
                io_data_set(data, len, vp_common_read(vp, off, len));
            }
        }
    } else if (off < VIRTIO_PCI_DEVICE_OFF) {
        if (off == VIRTIO_PCI_ISR_OFF && !is_write) {
            data[0] = virtio_read_isr(vdev);
        }
    } else if (off < VIRTIO_PCI_NOTIFY_OFF) {
        virtio_config_access(vdev, (uint32_t)(off - VIRTIO_PCI_DEVICE_OFF),
                             data, len, is_write);
    } else if (is_write) {
        uint64_t q = (off - VIRTIO_PCI_NOTIFY_OFF) / VIRTIO_PCI_NOTIFY_MULT;

        /* Reached only without an ioeventfd for this queue. */
        if (q < vdev->nr_queues) {
            virtio_queue_kick(vdev, (unsigned int)q);
        }
    }
    g_mutex_unlock(&vdev->lock);
}

/* --- ioeventfds ---------------------------------------------------------- */

static gboolean vp_notifier_cb(gint fd, GIOCondition cond, gpointer opaque)
{
    VirtioPciNotifier *n = opaque;
    VirtioDevice *vdev = n->vp->vdev;
    uint64_t cnt;

    if (read(fd, &cnt, sizeof(cnt)) < 0) {
        return G_SOURCE_CONTINUE;       /* EAGAIN: someone else drained it */
    }
    g_mutex_lock(&vdev->lock);
    virtio_queue_kick(vdev, n->q);
    g_mutex_unlock(&vdev->lock);
    return G_SOURCE_CONTINUE;
}

/* The notify addresses move with the BAR. Host lock held. */
static void vp_bar_moved(PciDevice *dev, unsigned int bar, uint64_t old,
                         uint64_t addr)
{
    VirtioPci *vp = (VirtioPci *)dev;

    for (unsigned int q = 0; q < vp->vdev->nr_queues && vp->kvm; q++) {
        VirtioPciNotifier *n = &vp->notifier[q];
        uint64_t qoff = VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT * q;
        g_autoptr(GError) err = NULL;

        if (n->fd < 0) {
            continue;
        }
        if (n->assigned) {
            kvm_ioeventfd(vp->kvm, n->fd, old + qoff, 2, false, NULL);
            n->assigned = false;
        }
        if (addr != UINT64_MAX) {
            /* On failure the write exits to us and is handled inline. */
            n->assigned = kvm_ioeventfd(vp->kvm, n->fd, addr + qoff, 2, true,
                                        &err);
            if (!n->assigned) {
                fprintf(stderr, "kestrel: %s: %s\n", dev->name,
                        err->message);
            }
        }
    }
}

/* --- the PCI_CFG window (4.1.4.8) ---------------------------------------- */

/* The window's target, if the driver set a valid one: BAR 0, an access of
 * 1, 2 or 4 bytes, naturally aligned, inside the BAR. */
static bool vp_cfg_window(VirtioPci *vp, uint32_t *off, uint32_t *len)
{
    PciDevice *d = &vp->pci;
    uint8_t c = vp->cfg_cap;

    *off = pci_get(d, c + 8, 4);
    *len = pci_get(d, c + 12, 4);
    return pci_get(d, c + 4, 1) == 0 &&
           (*len == 1 || *len == 2 || *len == 4) && !(*off & (*len - 1)) &&
           *off < VIRTIO_PCI_BAR_SIZE;
}

static void vp_config_written(PciDevice *d, uint32_t reg, uint32_t len)
{
    VirtioPci *vp = (VirtioPci *)d;
    uint32_t off, n;

    if (reg < vp->cfg_cap + 16u + 4 && vp->cfg_cap + 16u < reg + len &&
        vp_cfg_window(vp, &off, &n)) {
        vp_bar_io(vp, off, &d->config[vp->cfg_cap + 16], n, true);
    }
}

static void vp_config_read(PciDevice *d, uint32_t reg, uint32_t len)
{
    VirtioPci *vp = (VirtioPci *)d;
    uint32_t off, n;

    if (reg < vp->cfg_cap + 16u + 4 && vp->cfg_cap + 16u < reg + len &&
        vp_cfg_window(vp, &off, &n)) {
        vp_bar_io(vp, off, &d->config[vp->cfg_cap + 16], n, false);
    }
}

/* --- capabilities -------------------------------------------------------- */

static uint8_t vp_add_cap(VirtioPci *vp, uint8_t type, uint32_t off,
                          uint32_t len)
{
    uint8_t size = type == VIRTIO_PCI_CAP_NOTIFY_CFG ||
                   type == VIRTIO_PCI_CAP_PCI_CFG ? 20 : 16;
    uint8_t c = pci_add_capability(&vp->pci, PCI_CAP_ID_VNDR, size);

    pci_set_u8(&vp->pci, c + 2, size);          /* cap_len */
    pci_set_u8(&vp->pci, c + 3, type);          /* cfg_type */
    pci_set_u8(&vp->pci, c + 4, 0);             /* bar */
    pci_set_u32(&vp->pci, c + 8, off);
    pci_set_u32(&vp->pci, c + 12, len);
    if (type == VIRTIO_PCI_CAP_NOTIFY_CFG) {
        pci_set_u32(&vp->pci, c + 16, VIRTIO_PCI_NOTIFY_MULT);
    }
    return c;
}

VirtioPci *virtio_pci_new(VirtioDevice *vdev, PciHost *host,
                          const char *name, const VirtioPciConfig *cfg,
                          GError **errp)
{
    VirtioPci *vp = g_new0(VirtioPci, 1);
    PciDevice *d = &vp->pci;

    vp->vdev = vdev;
    vp->kvm = cfg->kvm;
    for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++) {
        vp->notifier[q] = (VirtioPciNotifier) { .vp = vp, .q = q, .fd = -1 };
    }
    d->name = name;
    d->devfn = cfg->devfn;
    d->opaque = vp;
    d->bar_moved = vp_bar_moved;
    pci_set_u16(d, PCI_VENDOR_ID, VIRTIO_PCI_VENDOR_ID);
    pci_set_u16(d, PCI_DEVICE_ID,
                VIRTIO_PCI_DEVICE_ID_BASE + vdev->ops->device_id);
    pci_set_u8(d, PCI_REVISION_ID, 1);          /* modern only */
    pci_set_u8(d, PCI_CLASS_PROG, (uint8_t)cfg->class_code);
    pci_set_u16(d, PCI_CLASS_DEVICE, (uint16_t)(cfg->class_code >> 8));
    pci_set_u16(d, PCI_SUBSYSTEM_VENDOR_ID, VIRTIO_PCI_VENDOR_ID);
    pci_set_u16(d, PCI_SUBSYSTEM_ID, 0x1100);   /* as QEMU's modern ones */
    pci_set_u8(d, PCI_INTERRUPT_PIN, 1);        /* INTA# */

    if (cfg->kvm) {
        for (unsigned int q = 0; q < vdev->nr_queues; q++) {
            VirtioPciNotifier *n = &vp->notifier[q];

            n->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
            if (n->fd < 0) {
                g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                            "%s: cannot create an eventfd: %s", name,
                            g_strerror(errno));
                virtio_pci_free(vp);
                return NULL;
            }
            n->source = g_unix_fd_add(n->fd, G_IO_IN, vp_notifier_cb, n);
        }
    }
    if (!pci_host_plug(host, d, errp)) {
        virtio_pci_free(vp);
        return NULL;
    }
    pci_register_bar(d, 0, VIRTIO_PCI_BAR_SIZE, true, cfg->bar_addr,
                     vp_bar_io, vp);
    vp_add_cap(vp, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFF,
               VIRTIO_PCI_COMMON_LEN);
    vp_add_cap(vp, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFF, 1);
    vp_add_cap(vp, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_OFF,
               VIRTIO_PCI_DEVICE_LEN);
    vp_add_cap(vp, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFF,
               VIRTIO_PCI_NOTIFY_MULT * vdev->nr_queues);
    /* The window: bar, offset, length and data are the driver's. */
    vp->cfg_cap = vp_add_cap(vp, VIRTIO_PCI_CAP_PCI_CFG, 0, 0);
    d->wmask[vp->cfg_cap + 4] = 0xff;
    memset(&d->wmask[vp->cfg_cap + 8], 0xff, 8);
    memset(&d->wmask[vp->cfg_cap + 16], 0xff, 4);
    d->config_written = vp_config_written;
    d->config_read = vp_config_read;
    /* One vector per queue plus the config vector. */
    pci_msix_init(d, vdev->nr_queues + 1, 0, VIRTIO_PCI_MSIX_TABLE_OFF,
                  VIRTIO_PCI_MSIX_PBA_OFF);
    vdev->transport_ops = &vp_transport_ops;
    vdev->transport = vp;
    pci_device_reset(d);
    return vp;
}

void virtio_pci_free(VirtioPci *vp)
{
    if (!vp) {
        return;
    }
    if (vp->pci.host) {
        pci_host_unplug(vp->pci.host, &vp->pci);
    }
    for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++) {
        VirtioPciNotifier *n = &vp->notifier[q];

        if (n->source) {
            g_source_remove(n->source);
        }
        if (n->fd >= 0) {
            close(n->fd);
        }
    }
    if (vp->vdev && vp->vdev->transport == vp) {
        vp->vdev->transport_ops = NULL;
        vp->vdev->transport = NULL;
    }
    g_free(vp);
}

void virtio_pci_reset(VirtioPci *vp)
{
    VirtioDevice *vdev = vp->vdev;

    g_mutex_lock(&vdev->lock);
    vp->dfselect = vp->gfselect = 0;
    vp->queue_sel = 0;
    virtio_reset(vdev);
    g_mutex_unlock(&vdev->lock);
    pci_device_reset(&vp->pci);
}

PciDevice *virtio_pci_dev(VirtioPci *vp)
{
    return &vp->pci;
}

/* --- pause, migration ------------------------------------------------------ */

void virtio_pci_pause(VirtioPci *vp)
{
    if (vp->paused) {
        return;
    }
    vp->paused = true;
    /* The eventfds stay assigned in KVM: a write while paused (none
     * should come, the vCPUs are stopped) only bumps the counter. */
    for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++) {
        VirtioPciNotifier *n = &vp->notifier[q];

        if (n->source) {
            g_source_remove(n->source);
            n->source = 0;
        }
    }
    pci_device_pause(&vp->pci);
}

void virtio_pci_resume(VirtioPci *vp)
{
    if (!vp->paused) {
        return;
    }
    vp->paused = false;
    pci_device_resume(&vp->pci);
    /* A counter that went up meanwhile makes the fd readable: the main
     * loop processes that queue on its next iteration. */
    for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++) {
        VirtioPciNotifier *n = &vp->notifier[q];

        if (n->fd >= 0 && !n->source) {
            n->source = g_unix_fd_add(n->fd, G_IO_IN, vp_notifier_cb, n);
        }
    }
}

static bool vp_check_vector(VirtioPci *vp, uint16_t v, const char *field,
                            GError **errp)
{
    if (v != VIRTQ_NO_VECTOR && v >= vp->pci.msix.nr) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "%s: field '%s': MSI-X vector %u, the table has %u",
                    vp->pci.name, field, v, vp->pci.msix.nr);
        return false;
    }
    return true;
}

static bool virtio_pci_post_load(void *opaque, uint32_t version,
                                 GError **errp)
{
    VirtioPci *vp = opaque;
    VirtioDevice *vdev = vp->vdev;

    /* The PciDevice (config, BARs, MSI-X) was checked and mapped by its
     * own post_load; the vectors the device uses must exist in it. */
    if (!vp_check_vector(vp, vdev->config_vector, "config_vector", errp)) {
        return false;
    }
    for (unsigned int q = 0; q < vdev->nr_queues; q++) {
        if (!vp_check_vector(vp, vdev->vq[q].msix_vector, "msix_vector",
                             errp)) {
            g_prefix_error(errp, "queue %u: ", q);
            return false;
        }
    }
    return true;
}

/* Wire names: never rename. */
const VmsDesc virtio_pci_vmsd = {
    .name = "virtio-pci",
    .version = 1,
    .min_version = 1,
    .post_load = virtio_pci_post_load,
    .fields = (const VmsField[]) {
        VMS_STRUCT(VirtioPci, pci, pci_device_vmsd, PciDevice),
        VMS_U32(VirtioPci, dfselect),
        VMS_U32(VirtioPci, gfselect),
        VMS_U16(VirtioPci, queue_sel),
        VMS_END_OF_LIST,
    },
};
