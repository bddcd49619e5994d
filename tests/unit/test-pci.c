/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The virtio-pci transport and the balloon, driven the way a guest driver
 * drives them: ECAM config accesses, BAR sizing, the capability list,
 * feature negotiation through the common config, queue set-up, notify
 * writes, MSI-X programming and masking, the INTx fallback, over guest
 * memory that is a plain buffer (memmap_new_from_buffer). No KVM: notify
 * writes are processed inline and interrupts land in a recorder.
 */
#include <glib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "device.h"
#include "iobus.h"
#include "memmap.h"
#include "migration/vmstate.h"
#include "pci.h"
#include "serial.h"
#include "vm.h"
#include "virtio/virtio-balloon.h"
#include "virtio/virtio-pci.h"
#include "virtio/virtio.h"

#define RAM_SIZE    (8 * 1024 * 1024)
#define DEVFN       (5 << 3)
#define BAR_ADDR    0xc0500000ULL
#define QSIZE       64
#define RING_GPA(q) (0x10000 + (uint64_t)(q) * 0x4000)
#define BUF_GPA     0x100000
#define MSI_ADDR    0xfee00000ULL
#define NO_VECTOR   0xffff

typedef struct {
    unsigned int msi_count[8];          /* per vector, by data - 0x40 */
    uint64_t last_msi_addr;
    unsigned int intx_gsi;
    bool intx_level;
    unsigned int intx_changes;
} IrqLog;

typedef struct {
    uint8_t *ram;
    MemMap *mem;
    PciHost *host;
    IoBus *mmio;
    IrqLog irq;
    VirtioBalloon *b;
    uint64_t bar;
    uint32_t common, isr, device, notify, notify_mult;
    uint8_t msix_cap;
    uint8_t cfg_cap;
    uint16_t avail_idx[4];
    uint64_t changes;                   /* BALLOON_CHANGE hook calls */
    uint64_t last_change;
} Drv;

/* --- interrupt recorder ----------------------------------------------------- */

static void rec_msi(void *opaque, uint64_t addr, uint32_t data)
{
    IrqLog *l = opaque;

    g_assert_cmpuint(data, >=, 0x40);
    g_assert_cmpuint(data, <, 0x48);
    l->msi_count[data - 0x40]++;
    l->last_msi_addr = addr;
}

static void rec_intx(void *opaque, unsigned int gsi, bool level)
{
    IrqLog *l = opaque;

    l->intx_gsi = gsi;
    if (l->intx_level != level) {
        l->intx_changes++;
    }
    l->intx_level = level;
}

static const PciIrqOps rec_ops = { .msi = rec_msi, .intx = rec_intx };

/* A fake irqfd router: counts routes, remembers the last fd bound. */
typedef struct {
    IrqLog log;
    int routes, unroutes;
    int fd;
    bool fail;
} Router;

static bool fake_route(void *opaque, int *gsi, int fd, uint64_t addr,
                       uint32_t data)
{
    Router *r = opaque;

    if (r->fail) {
        return false;
    }
    r->routes++;
    r->fd = fd;
    if (*gsi < 0) {
        *gsi = 24;
    }
    return true;
}

static void fake_unroute(void *opaque, int gsi, int fd)
{
    Router *r = opaque;

    r->unroutes++;
}

static void router_msi(void *opaque, uint64_t addr, uint32_t data)
{
    rec_msi(&((Router *)opaque)->log, addr, data);
}

static const PciIrqOps router_ops = {
    .msi = router_msi, .route = fake_route, .unroute = fake_unroute,
};

/* --- config space and BAR accessors ----------------------------------------- */

static uint32_t cfg_rd(Drv *d, uint32_t reg, uint32_t len)
{
    uint8_t v[4] = { 0 };

    pci_ecam_io(d->host, ((uint64_t)DEVFN << 12) | reg, v, len, false);
    return (uint32_t)io_data_get(v, len);
}

static void cfg_wr(Drv *d, uint32_t reg, uint32_t len, uint32_t val)
{
    uint8_t v[4];

    io_data_set(v, len, val);
    pci_ecam_io(d->host, ((uint64_t)DEVFN << 12) | reg, v, len, true);
}

static uint64_t bar_rd(Drv *d, uint64_t off, uint32_t len)
{
    uint8_t v[8] = { 0 };

    iobus_access(d->mmio, d->bar + off, v, len, false);
    return io_data_get(v, len);
}

static void bar_wr(Drv *d, uint64_t off, uint32_t len, uint64_t val)
{
    uint8_t v[8];

    io_data_set(v, len, val);
    iobus_access(d->mmio, d->bar + off, v, len, true);
}

static void put16(Drv *d, uint64_t gpa, uint16_t v)
{
    d->ram[gpa] = (uint8_t)v;
    d->ram[gpa + 1] = (uint8_t)(v >> 8);
}

static uint16_t get16(Drv *d, uint64_t gpa)
{
    return (uint16_t)(d->ram[gpa] | d->ram[gpa + 1] << 8);
}

static void put32(Drv *d, uint64_t gpa, uint32_t v)
{
    put16(d, gpa, (uint16_t)v);
    put16(d, gpa + 2, (uint16_t)(v >> 16));
}

/* --- the fake driver --------------------------------------------------------- */

static void on_change(void *opaque, uint64_t actual)
{
    Drv *d = opaque;

    d->changes++;
    d->last_change = actual;
}

static void drv_find_caps(Drv *d)
{
    unsigned int seen = 0;

    g_assert_true(cfg_rd(d, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
    for (uint32_t c = cfg_rd(d, PCI_CAPABILITY_LIST, 1); c;
         c = cfg_rd(d, c + 1, 1)) {
        g_assert_cmpuint(c, >=, 0x40);
        g_assert_cmpuint(++seen, <, 16);
        if (cfg_rd(d, c, 1) == PCI_CAP_ID_MSIX) {
            d->msix_cap = (uint8_t)c;
            continue;
        }
        g_assert_cmpuint(cfg_rd(d, c, 1), ==, PCI_CAP_ID_VNDR);
        g_assert_cmpuint(cfg_rd(d, c + 4, 1), ==, 0);       /* BAR 0 */
        switch (cfg_rd(d, c + 3, 1)) {
        case VIRTIO_PCI_CAP_COMMON_CFG:
            d->common = cfg_rd(d, c + 8, 4);
            g_assert_cmpuint(cfg_rd(d, c + 12, 4), >=, 0x38);
            break;
        case VIRTIO_PCI_CAP_ISR_CFG:
            d->isr = cfg_rd(d, c + 8, 4);
            break;
        case VIRTIO_PCI_CAP_DEVICE_CFG:
            d->device = cfg_rd(d, c + 8, 4);
            break;
        case VIRTIO_PCI_CAP_PCI_CFG:
            d->cfg_cap = (uint8_t)c;
            break;
        case VIRTIO_PCI_CAP_NOTIFY_CFG:
            g_assert_cmpuint(cfg_rd(d, c + 2, 1), ==, 20);
            d->notify = cfg_rd(d, c + 8, 4);
            d->notify_mult = cfg_rd(d, c + 16, 4);
            break;
        default:
            g_assert_not_reached();
        }
    }
    g_assert_cmpuint(seen, ==, 6);
    g_assert_cmpuint(d->msix_cap, !=, 0);
}

static Drv *drv_new(bool reporting)
{
    Drv *d = g_new0(Drv, 1);
    BalloonTestConfig bc = {
        .devfn = DEVFN, .bar_addr = BAR_ADDR,
        .free_page_reporting = reporting, .deflate_on_oom = true,
    };
    g_autoptr(GError) err = NULL;

    d->ram = g_malloc0(RAM_SIZE);
    d->mem = memmap_new_from_buffer(d->ram, RAM_SIZE);
    d->host = pci_host_new();
    d->mmio = iobus_new("mmio");
    pci_host_set_mmio(d->host, d->mmio);
    pci_host_set_irq_ops(d->host, &rec_ops, &d->irq);
    d->b = balloon_new_for_test(d->mem, d->host, &bc, &err);
    g_assert_no_error(err);
    balloon_set_change_hook(d->b, on_change, d);
    d->bar = BAR_ADDR;
    drv_find_caps(d);
    return d;
}

static void drv_free(Drv *d)
{
    balloon_free_for_test(d->b);
    /* the slot is free again */
    g_assert_cmphex(cfg_rd(d, 0, 4), ==, 0xffffffff);
    pci_host_free(d->host);
    iobus_free(d->mmio);
    memmap_free(d->mem);
    g_free(d->ram);
    g_free(d);
}

static uint8_t status(Drv *d)
{
    return (uint8_t)bar_rd(d, d->common + VIRTIO_PCI_COMMON_STATUS, 1);
}

static void set_status(Drv *d, uint8_t s)
{
    bar_wr(d, d->common + VIRTIO_PCI_COMMON_STATUS, 1, s);
}

static uint64_t device_features(Drv *d)
{
    uint64_t f;

    bar_wr(d, d->common + VIRTIO_PCI_COMMON_DFSELECT, 4, 0);
    f = bar_rd(d, d->common + VIRTIO_PCI_COMMON_DF, 4);
    bar_wr(d, d->common + VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
    return f | bar_rd(d, d->common + VIRTIO_PCI_COMMON_DF, 4) << 32;
}

static bool negotiate(Drv *d, uint64_t features)
{
    set_status(d, 0);
    g_assert_cmpuint(status(d), ==, 0);
    set_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
    set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    bar_wr(d, d->common + VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
    bar_wr(d, d->common + VIRTIO_PCI_COMMON_GF, 4, (uint32_t)features);
    bar_wr(d, d->common + VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
    bar_wr(d, d->common + VIRTIO_PCI_COMMON_GF, 4,
           (uint32_t)(features >> 32));
    set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
               VIRTIO_STATUS_FEATURES_OK);
    return status(d) & VIRTIO_STATUS_FEATURES_OK;
}

static void msix_program(Drv *d, unsigned int nvec)
{
    uint32_t table = cfg_rd(d, d->msix_cap + PCI_MSIX_TABLE, 4);

    g_assert_cmpuint(table & 7, ==, 0);                     /* BIR 0 */
    cfg_wr(d, d->msix_cap + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
    for (unsigned int v = 0; v < nvec; v++) {
        uint64_t e = (table & ~7u) + 16ULL * v;

        bar_wr(d, e, 4, (uint32_t)MSI_ADDR);
        bar_wr(d, e + 4, 4, 0);
        bar_wr(d, e + 8, 4, 0x40 + v);
        bar_wr(d, e + 12, 4, 0);                            /* unmask */
    }
}

static void queue_setup(Drv *d, unsigned int q, uint16_t vector)
{
    uint32_t c = d->common;

    memset(d->ram + RING_GPA(q), 0, 0x4000);        /* fresh rings */
    bar_wr(d, c + VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
    g_assert_cmpuint(bar_rd(d, c + VIRTIO_PCI_COMMON_Q_SIZE, 2), ==, 128);
    bar_wr(d, c + VIRTIO_PCI_COMMON_Q_SIZE, 2, QSIZE);
    bar_wr(d, c + VIRTIO_PCI_COMMON_Q_MSIX, 2, vector);
    g_assert_cmpuint(bar_rd(d, c + VIRTIO_PCI_COMMON_Q_MSIX, 2), ==, vector);
    /* 64-bit registers as two halves, as Linux writes them */
    bar_wr(d, c + VIRTIO_PCI_COMMON_Q_DESCLO, 4, (uint32_t)RING_GPA(q));
    bar_wr(d, c + VIRTIO_PCI_COMMON_Q_DESCHI, 4, 0);
    bar_wr(d, c + VIRTIO_PCI_COMMON_Q_AVAILLO, 4,
           (uint32_t)RING_GPA(q) + 0x1000);
    bar_wr(d, c + VIRTIO_PCI_COMMON_Q_AVAILHI, 4, 0);
    bar_wr(d, c + VIRTIO_PCI_COMMON_Q_USEDLO, 8, RING_GPA(q) + 0x2000);
    bar_wr(d, c + VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
    g_assert_cmpuint(bar_rd(d, c + VIRTIO_PCI_COMMON_Q_ENABLE, 2), ==, 1);
    g_assert_cmpuint(bar_rd(d, c + VIRTIO_PCI_COMMON_Q_NOFF, 2), ==, q);
    g_assert_cmphex(bar_rd(d, c + VIRTIO_PCI_COMMON_Q_AVAILLO, 8), ==,
                    RING_GPA(q) + 0x1000);
}

/* The usual bring-up: features, MSI-X, queues, DRIVER_OK. */
static void drv_start(Drv *d, uint64_t features, unsigned int nq)
{
    g_assert_true(negotiate(d, features));
    msix_program(d, nq + 1);
    bar_wr(d, d->common + VIRTIO_PCI_COMMON_MSIX, 2, 0);
    g_assert_cmpuint(bar_rd(d, d->common + VIRTIO_PCI_COMMON_MSIX, 2), ==,
                     0);
    for (unsigned int q = 0; q < nq; q++) {
        queue_setup(d, q, (uint16_t)(q + 1));
        d->avail_idx[q] = 0;
    }
    set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
               VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
    g_assert_cmpuint(status(d), ==, 0x0f);
}

/* Put a one-descriptor buffer on queue @q and kick it. */
static void submit(Drv *d, unsigned int q, uint16_t slot, uint64_t gpa,
                   uint32_t len, bool writable)
{
    uint64_t desc = RING_GPA(q) + 16ULL * slot;
    uint64_t avail = RING_GPA(q) + 0x1000;

    for (int k = 0; k < 8; k++) {
        d->ram[desc + k] = (uint8_t)(gpa >> (8 * k));
    }
    put32(d, desc + 8, len);
    put16(d, desc + 12, writable ? VIRTQ_DESC_F_WRITE : 0);
    put16(d, desc + 14, 0);
    put16(d, avail + 4 + 2 * (d->avail_idx[q] % QSIZE), slot);
    d->avail_idx[q]++;
    put16(d, avail + 2, d->avail_idx[q]);
    bar_wr(d, d->notify + (uint64_t)d->notify_mult * q, 2, q);
}

static uint16_t used_idx(Drv *d, unsigned int q)
{
    return get16(d, RING_GPA(q) + 0x2000 + 2);
}

static uint32_t dev_cfg(Drv *d, uint32_t off)
{
    return (uint32_t)bar_rd(d, d->device + off, 4);
}

static const uint64_t base_features =
    (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_BALLOON_F_STATS_VQ);

/* --- tests ------------------------------------------------------------------- */

static void test_identity(void)
{
    Drv *d = drv_new(false);

    g_assert_cmphex(cfg_rd(d, PCI_VENDOR_ID, 2), ==, 0x1af4);
    g_assert_cmphex(cfg_rd(d, PCI_DEVICE_ID, 2), ==, 0x1045);
    g_assert_cmpuint(cfg_rd(d, PCI_REVISION_ID, 1), >=, 1);
    g_assert_cmphex(cfg_rd(d, PCI_SUBSYSTEM_VENDOR_ID, 2), ==, 0x1af4);
    g_assert_cmphex(cfg_rd(d, PCI_CLASS_DEVICE, 2), ==, 0xff00);
    g_assert_cmpuint(cfg_rd(d, PCI_INTERRUPT_PIN, 1), ==, 1);
    g_assert_cmpuint(cfg_rd(d, PCI_INTERRUPT_LINE, 1), ==,
                     PCI_INTX_GSI_ODD);                     /* slot 5 */
    /* MSI-X: 4 vectors (3 queues + config), table and PBA in BAR 0 */
    g_assert_cmpuint((cfg_rd(d, d->msix_cap + PCI_MSIX_FLAGS, 2) & 0x7ff) +
                     1, ==, 4);
    g_assert_cmphex(cfg_rd(d, d->msix_cap + PCI_MSIX_PBA, 4), ==,
                    VIRTIO_PCI_MSIX_PBA_OFF);
    /* the BAR decodes from the start, where "firmware" put it */
    g_assert_true(cfg_rd(d, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY);
    g_assert_cmpuint(bar_rd(d, d->common + VIRTIO_PCI_COMMON_NUMQ, 2), ==,
                     3);
    drv_free(d);
}

static void test_bar_sizing_and_moving(void)
{
    Drv *d = drv_new(false);
    uint64_t newbar = 0xd0000000ULL;

    cfg_wr(d, PCI_COMMAND, 2, 0);                   /* decode off */
    g_assert_cmpuint(bar_rd(d, d->common + VIRTIO_PCI_COMMON_NUMQ, 2), ==,
                     0xffff);                        /* unmapped: ones */
    cfg_wr(d, PCI_BAR0, 4, 0xffffffff);
    cfg_wr(d, PCI_BAR0 + 4, 4, 0xffffffff);
    g_assert_cmphex(cfg_rd(d, PCI_BAR0, 4), ==,
                    (uint32_t)~(VIRTIO_PCI_BAR_SIZE - 1) |
                    PCI_BAR_MEM_TYPE_64);
    g_assert_cmphex(cfg_rd(d, PCI_BAR0 + 4, 4), ==, 0xffffffff);
    /* enabling decode on a sizing pattern maps nothing */
    cfg_wr(d, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    g_assert_cmpuint(d->mmio->ranges->len, ==, 0);
    cfg_wr(d, PCI_COMMAND, 2, 0);
    cfg_wr(d, PCI_BAR0, 4, (uint32_t)newbar);
    cfg_wr(d, PCI_BAR0 + 4, 4, 0);
    cfg_wr(d, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    d->bar = newbar;
    g_assert_cmpuint(bar_rd(d, d->common + VIRTIO_PCI_COMMON_NUMQ, 2), ==,
                     3);
    d->bar = BAR_ADDR;
    g_assert_cmpuint(bar_rd(d, d->common + VIRTIO_PCI_COMMON_NUMQ, 2), ==,
                     0xffff);
    /* a system reset puts it back */
    virtio_balloon_pci_class.reset((Device *)d->b);
    g_assert_cmpuint(bar_rd(d, d->common + VIRTIO_PCI_COMMON_NUMQ, 2), ==,
                     3);
    drv_free(d);
}

static void test_pci_cfg_window(void)
{
    Drv *d = drv_new(false);

    /* read num_queues through config space alone */
    cfg_wr(d, d->cfg_cap + 4, 1, 0);
    cfg_wr(d, d->cfg_cap + 8, 4, d->common + VIRTIO_PCI_COMMON_NUMQ);
    cfg_wr(d, d->cfg_cap + 12, 4, 2);
    g_assert_cmpuint(cfg_rd(d, d->cfg_cap + 16, 2), ==, 3);
    /* write device_status through it */
    cfg_wr(d, d->cfg_cap + 8, 4, d->common + VIRTIO_PCI_COMMON_STATUS);
    cfg_wr(d, d->cfg_cap + 12, 4, 1);
    cfg_wr(d, d->cfg_cap + 16, 1, VIRTIO_STATUS_ACKNOWLEDGE);
    g_assert_cmpuint(status(d), ==, VIRTIO_STATUS_ACKNOWLEDGE);
    /* invalid windows do nothing */
    cfg_wr(d, d->cfg_cap + 12, 4, 3);
    cfg_wr(d, d->cfg_cap + 16, 1, 0);
    g_assert_cmpuint(status(d), ==, VIRTIO_STATUS_ACKNOWLEDGE);
    cfg_wr(d, d->cfg_cap + 4, 1, 2);
    cfg_wr(d, d->cfg_cap + 12, 4, 1);
    cfg_wr(d, d->cfg_cap + 16, 1, 0);
    g_assert_cmpuint(status(d), ==, VIRTIO_STATUS_ACKNOWLEDGE);
    cfg_wr(d, d->cfg_cap + 4, 1, 0);
    cfg_wr(d, d->cfg_cap + 8, 4, 0xffffff00);
    cfg_wr(d, d->cfg_cap + 16, 1, 0);
    g_assert_cmpuint(status(d), ==, VIRTIO_STATUS_ACKNOWLEDGE);
    drv_free(d);
}

static void test_features(void)
{
    Drv *d = drv_new(false);
    uint64_t f = device_features(d);

    g_assert_true(f & (1ULL << VIRTIO_F_VERSION_1));
    g_assert_true(f & (1ULL << VIRTIO_F_RING_EVENT_IDX));
    g_assert_true(f & (1ULL << VIRTIO_F_RING_INDIRECT_DESC));
    g_assert_true(f & (1ULL << VIRTIO_BALLOON_F_STATS_VQ));
    g_assert_true(f & (1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
    g_assert_false(f & (1ULL << VIRTIO_BALLOON_F_REPORTING));
    g_assert_false(f & (1ULL << VIRTIO_BALLOON_F_MUST_TELL_HOST));
    /* no VERSION_1: we have no legacy interface, FEATURES_OK won't stick */
    g_assert_false(negotiate(d, 1ULL << VIRTIO_BALLOON_F_STATS_VQ));
    /* a feature we did not offer */
    g_assert_false(negotiate(d, base_features |
                             (1ULL << VIRTIO_BALLOON_F_REPORTING)));
    g_assert_true(negotiate(d, base_features));
    /* features are frozen after FEATURES_OK */
    bar_wr(d, d->common + VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
    bar_wr(d, d->common + VIRTIO_PCI_COMMON_GF, 4, 0);
    g_assert_cmphex(bar_rd(d, d->common + VIRTIO_PCI_COMMON_GF, 4), ==,
                    (uint32_t)base_features);
    /* reset clears everything */
    set_status(d, 0);
    g_assert_cmpuint(status(d), ==, 0);
    g_assert_cmphex(bar_rd(d, d->common + VIRTIO_PCI_COMMON_GF, 4), ==, 0);
    /* odd widths are ignored */
    g_assert_cmpuint(bar_rd(d, d->common + VIRTIO_PCI_COMMON_NUMQ, 4), ==,
                     0);
    drv_free(d);
}

static void test_inflate_deflate(void)
{
    Drv *d = drv_new(false);
    uint64_t ram = RAM_SIZE;
    uint32_t *pfns = (uint32_t *)(d->ram + BUF_GPA);
    unsigned int cfg_msi;

    drv_start(d, base_features, 3);
    cfg_msi = d->irq.msi_count[0];

    /* QMP balloon: the target is the logical size */
    balloon_set_target(d->b, ram - 16 * 4096);
    g_assert_cmpuint(dev_cfg(d, 0), ==, 16);
    g_assert_cmpuint(d->irq.msi_count[0], ==, cfg_msi + 1);
    g_assert_cmphex(d->irq.last_msi_addr, ==, MSI_ADDR);
    balloon_set_target(d->b, ram * 2);                  /* clamped */
    g_assert_cmpuint(dev_cfg(d, 0), ==, 0);
    balloon_set_target(d->b, ram - 16 * 4096);

    /* the guest inflates 16 pages, which held data */
    for (unsigned int i = 0; i < 16; i++) {
        memset(d->ram + (0x200 + i) * 4096ULL, 0xaa, 4096);
        pfns[i] = GUINT32_TO_LE(0x200 + (i ^ 1));       /* not in order */
    }
    pfns[16] = GUINT32_TO_LE(RAM_SIZE / 4096 + 5);       /* outside: ignored */
    submit(d, 0, 0, BUF_GPA, 17 * 4, false);
    g_assert_cmpuint(used_idx(d, 0), ==, 1);
    g_assert_cmpuint(d->irq.msi_count[1], ==, 1);
    g_assert_cmpuint(balloon_discarded_pages(d->b), ==, 16);
    for (unsigned int i = 0; i < 16; i++) {
        g_assert_cmpuint(d->ram[(0x200 + i) * 4096ULL + 7], ==, 0);
    }
    g_assert_cmpuint(d->ram[0x210 * 4096ULL], ==, 0);

    /* the guest reports it in `actual`; the hook runs on the main loop */
    bar_wr(d, d->device + 4, 4, 16);
    g_assert_cmpuint(d->changes, ==, 0);
    while (g_main_context_iteration(NULL, FALSE)) {
    }
    g_assert_cmpuint(d->changes, ==, 1);
    g_assert_cmpuint(d->last_change, ==, ram - 16 * 4096);
    g_assert_cmpuint(balloon_get_actual(d->b), ==, ram - 16 * 4096);
    /* num_pages is not the driver's to write */
    bar_wr(d, d->device, 4, 999);
    g_assert_cmpuint(dev_cfg(d, 0), ==, 16);

    /* deflate: the pages come back, nothing is discarded */
    balloon_set_target(d->b, ram);
    submit(d, 1, 0, BUF_GPA, 16 * 4, false);
    g_assert_cmpuint(used_idx(d, 1), ==, 1);
    g_assert_cmpuint(d->irq.msi_count[2], ==, 1);
    g_assert_cmpuint(balloon_discarded_pages(d->b), ==, 16);
    bar_wr(d, d->device + 4, 4, 0);
    while (g_main_context_iteration(NULL, FALSE)) {
    }
    g_assert_cmpuint(balloon_get_actual(d->b), ==, ram);
    g_assert_cmpuint(d->last_change, ==, ram);
    drv_free(d);
}

static void put_stat(Drv *d, uint64_t gpa, uint16_t tag, uint64_t val)
{
    put16(d, gpa, tag);
    for (int k = 0; k < 8; k++) {
        d->ram[gpa + 2 + k] = (uint8_t)(val >> (8 * k));
    }
}

static void test_stats(void)
{
    Drv *d = drv_new(false);
    BalloonStats st;
    g_autoptr(GError) err = NULL;
    gint64 deadline;

    balloon_get_stats(d->b, &st);
    g_assert_cmpint(st.last_update, ==, 0);
    g_assert_cmphex(st.stats[4], ==, BALLOON_STAT_UNSET);
    g_assert_cmpstr(balloon_stat_names[4], ==, "stat-free-memory");
    g_assert_cmpstr(balloon_stat_names[9], ==, "stat-htlb-pgfail");

    /* As Linux does: the first stats buffer is queued and kicked before
     * DRIVER_OK; the device takes it when the driver is ready. */
    g_assert_true(negotiate(d, base_features));
    msix_program(d, 4);
    for (unsigned int q = 0; q < 3; q++) {
        queue_setup(d, q, (uint16_t)(q + 1));
        d->avail_idx[q] = 0;
    }
    put_stat(d, BUF_GPA, 4, 123456789);                 /* free memory */
    put_stat(d, BUF_GPA + 10, 0, 7);                    /* swap in */
    put_stat(d, BUF_GPA + 20, 99, 1);                   /* unknown: ignored */
    submit(d, 2, 0, BUF_GPA, 30, false);
    balloon_get_stats(d->b, &st);
    g_assert_cmpint(st.last_update, ==, 0);
    set_status(d, 0x0f);
    /* the device keeps the buffer until it wants new stats */
    g_assert_cmpuint(used_idx(d, 2), ==, 0);
    balloon_get_stats(d->b, &st);
    g_assert_cmpuint(st.stats[4], ==, 123456789);
    g_assert_cmpuint(st.stats[0], ==, 7);
    g_assert_cmphex(st.stats[1], ==, BALLOON_STAT_UNSET);
    g_assert_cmpint(st.last_update, >, 1700000000);

    g_assert_false(balloon_set_poll_interval(d->b, -1, &err));
    g_assert_cmpstr(err->message, ==, "timer value must be greater than zero");
    g_clear_error(&err);
    g_assert_false(balloon_set_poll_interval(d->b, 1LL << 32, &err));
    g_assert_cmpstr(err->message, ==, "timer value is too big");
    g_clear_error(&err);
    g_assert_cmpint(balloon_get_poll_interval(d->b), ==, 0);

    /* enabling polls at once: the buffer goes back to the guest */
    g_assert_true(balloon_set_poll_interval(d->b, 1, &err));
    deadline = g_get_monotonic_time() + 3 * G_USEC_PER_SEC;
    while (used_idx(d, 2) == 0 && g_get_monotonic_time() < deadline) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    g_assert_cmpuint(used_idx(d, 2), ==, 1);
    g_assert_cmpuint(d->irq.msi_count[3], ==, 1);
    /* the guest answers with fresh numbers; the timer re-arms (1 s) */
    put_stat(d, BUF_GPA, 5, 555);
    submit(d, 2, 0, BUF_GPA, 10, false);
    balloon_get_stats(d->b, &st);
    g_assert_cmphex(st.stats[4], ==, BALLOON_STAT_UNSET);
    g_assert_cmpuint(st.stats[5], ==, 555);
    deadline = g_get_monotonic_time() + 3 * G_USEC_PER_SEC;
    while (used_idx(d, 2) == 1 && g_get_monotonic_time() < deadline) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    g_assert_cmpuint(used_idx(d, 2), ==, 2);
    g_assert_true(balloon_set_poll_interval(d->b, 0, &err));
    g_assert_cmpint(balloon_get_poll_interval(d->b), ==, 0);
    drv_free(d);
}

static void test_free_page_reporting(void)
{
    Drv *d = drv_new(true);
    uint64_t f = device_features(d);

    g_assert_true(f & (1ULL << VIRTIO_BALLOON_F_REPORTING));
    g_assert_cmpuint(bar_rd(d, d->common + VIRTIO_PCI_COMMON_NUMQ, 2), ==,
                     4);
    drv_start(d, base_features | (1ULL << VIRTIO_BALLOON_F_REPORTING), 4);
    memset(d->ram + 0x300000, 0x55, 3 * 4096);
    /* a writable buffer, as Linux sends them; the unaligned edges stay */
    submit(d, 3, 0, 0x300000 - 100, 3 * 4096 + 200, true);
    g_assert_cmpuint(used_idx(d, 3), ==, 1);
    g_assert_cmpuint(balloon_discarded_pages(d->b), ==, 3);
    g_assert_cmpuint(d->ram[0x300000], ==, 0);
    g_assert_cmpuint(d->ram[0x300000 - 1], ==, 0);      /* never written */
    g_assert_cmpuint(d->irq.msi_count[4], ==, 1);

    /* without STATS_VQ, Linux numbers the reporting queue 2 */
    drv_start(d, (1ULL << VIRTIO_F_VERSION_1) |
              (1ULL << VIRTIO_BALLOON_F_REPORTING), 3);
    memset(d->ram + 0x400000, 0x55, 4096);
    submit(d, 2, 0, 0x400000, 4096, true);
    g_assert_cmpuint(used_idx(d, 2), ==, 1);
    g_assert_cmpuint(balloon_discarded_pages(d->b), ==, 4);
    g_assert_cmpuint(d->ram[0x400000], ==, 0);
    drv_free(d);
}

static void test_msix_masking(void)
{
    Drv *d = drv_new(false);
    uint32_t table = VIRTIO_PCI_MSIX_TABLE_OFF;
    uint32_t pba = VIRTIO_PCI_MSIX_PBA_OFF;

    drv_start(d, base_features, 3);
    /* mask vector 1 (inflate queue): the interrupt is held pending */
    bar_wr(d, table + 16 + 12, 4, 1);
    submit(d, 0, 0, BUF_GPA, 0, false);
    g_assert_cmpuint(used_idx(d, 0), ==, 1);
    g_assert_cmpuint(d->irq.msi_count[1], ==, 0);
    g_assert_cmphex(bar_rd(d, pba, 8), ==, 1u << 1);
    /* unmask: delivered, pending cleared */
    bar_wr(d, table + 16 + 12, 4, 0);
    g_assert_cmpuint(d->irq.msi_count[1], ==, 1);
    g_assert_cmphex(bar_rd(d, pba, 8), ==, 0);
    /* the function mask works the same way */
    cfg_wr(d, d->msix_cap + PCI_MSIX_FLAGS, 2,
           PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
    submit(d, 0, 1, BUF_GPA, 0, false);
    g_assert_cmpuint(d->irq.msi_count[1], ==, 1);
    g_assert_cmphex(bar_rd(d, pba, 4), ==, 1u << 1);
    cfg_wr(d, d->msix_cap + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
    g_assert_cmpuint(d->irq.msi_count[1], ==, 2);
    /* a vector beyond the table reads back as NO_VECTOR */
    bar_wr(d, d->common + VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
    bar_wr(d, d->common + VIRTIO_PCI_COMMON_Q_MSIX, 2, 50);
    g_assert_cmphex(bar_rd(d, d->common + VIRTIO_PCI_COMMON_Q_MSIX, 2), ==,
                    NO_VECTOR);
    /* queue with no vector: no interrupt at all */
    submit(d, 0, 2, BUF_GPA, 0, false);
    g_assert_cmpuint(used_idx(d, 0), ==, 3);
    g_assert_cmpuint(d->irq.msi_count[1], ==, 2);
    /* the table reads back what was written */
    g_assert_cmphex(bar_rd(d, table + 32 + 8, 4), ==, 0x42);
    g_assert_cmphex(bar_rd(d, table + 32, 8), ==, MSI_ADDR);
    drv_free(d);
}

static void test_msix_irqfd(void)
{
    Drv *d = drv_new(false);
    Router r = { .fd = -1 };
    uint64_t cnt = 0;

    pci_host_set_irq_ops(d->host, &router_ops, &r);
    drv_start(d, base_features, 3);
    /* the first interrupt routes the vector and goes through the fd */
    submit(d, 0, 0, BUF_GPA, 0, false);
    g_assert_cmpint(r.routes, ==, 1);
    g_assert_cmpint(r.fd, >=, 0);
    g_assert_cmpint(read(r.fd, &cnt, sizeof(cnt)), ==, sizeof(cnt));
    g_assert_cmpuint(cnt, ==, 1);
    g_assert_cmpuint(r.log.msi_count[1], ==, 0);
    /* same message: no new route */
    submit(d, 0, 1, BUF_GPA, 0, false);
    g_assert_cmpint(r.routes, ==, 1);
    /* the guest retargets the vector: re-routed on the next interrupt */
    bar_wr(d, VIRTIO_PCI_MSIX_TABLE_OFF + 16 + 8, 4, 0x45);
    submit(d, 0, 2, BUF_GPA, 0, false);
    g_assert_cmpint(r.routes, ==, 2);
    /* routing fails for another vector: plain MSI, and no retries */
    r.fail = true;
    submit(d, 1, 0, BUF_GPA, 0, false);
    submit(d, 1, 1, BUF_GPA, 0, false);
    g_assert_cmpuint(r.log.msi_count[2], ==, 2);
    g_assert_cmpint(r.routes, ==, 2);
    /* unplug releases the routes */
    balloon_free_for_test(d->b);
    g_assert_cmpint(r.unroutes, ==, 1);
    d->b = balloon_new_for_test(d->mem, d->host,
                                &(BalloonTestConfig) {
                                    .devfn = DEVFN, .bar_addr = BAR_ADDR },
                                NULL);
    drv_free(d);
}

static void test_intx_fallback(void)
{
    Drv *d = drv_new(false);

    g_assert_true(negotiate(d, base_features));
    /* no MSI-X enable: INTx and the ISR */
    for (unsigned int q = 0; q < 3; q++) {
        queue_setup(d, q, NO_VECTOR);
    }
    set_status(d, 0x0f);
    submit(d, 0, 0, BUF_GPA, 0, false);
    g_assert_cmpuint(used_idx(d, 0), ==, 1);
    g_assert_true(d->irq.intx_level);
    g_assert_cmpuint(d->irq.intx_gsi, ==, PCI_INTX_GSI_ODD);
    g_assert_true(cfg_rd(d, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    /* INTx disable in the command register gates the line */
    cfg_wr(d, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE);
    g_assert_false(d->irq.intx_level);
    cfg_wr(d, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    g_assert_true(d->irq.intx_level);
    /* reading the ISR acknowledges */
    g_assert_cmpuint(bar_rd(d, d->isr, 1), ==, VIRTIO_ISR_QUEUE);
    g_assert_false(d->irq.intx_level);
    g_assert_cmpuint(bar_rd(d, d->isr, 1), ==, 0);
    /* config change: ISR bit 1 */
    balloon_set_target(d->b, RAM_SIZE - 4096);
    g_assert_true(d->irq.intx_level);
    g_assert_cmpuint(bar_rd(d, d->isr, 1), ==, VIRTIO_ISR_CONFIG);
    g_assert_cmpuint(d->irq.msi_count[0], ==, 0);
    drv_free(d);
}

static void test_broken_driver(void)
{
    Drv *d = drv_new(false);
    uint64_t desc = RING_GPA(0);
    uint32_t gen;

    drv_start(d, base_features, 3);
    gen = (uint32_t)bar_rd(d, d->common + VIRTIO_PCI_COMMON_CFGGEN, 1);
    /* a looping chain on the inflate queue */
    put16(d, desc + 12, VIRTQ_DESC_F_NEXT);
    put16(d, desc + 14, 0);
    put16(d, RING_GPA(0) + 0x1000 + 4, 0);
    put16(d, RING_GPA(0) + 0x1000 + 2, 1);
    bar_wr(d, d->notify, 2, 0);
    g_assert_true(status(d) & VIRTIO_STATUS_NEEDS_RESET);
    g_assert_cmpuint(d->irq.msi_count[0], ==, 1);       /* config irq */
    g_assert_cmpuint(used_idx(d, 0), ==, 0);
    g_assert_cmpuint(bar_rd(d, d->common + VIRTIO_PCI_COMMON_CFGGEN, 1), !=,
                     gen);
    /* nothing is processed until a reset, not even good buffers */
    submit(d, 1, 0, BUF_GPA, 0, false);
    g_assert_cmpuint(used_idx(d, 1), ==, 0);
    /* the driver cannot clear NEEDS_RESET, only reset */
    set_status(d, 0x0f);
    g_assert_true(status(d) & VIRTIO_STATUS_NEEDS_RESET);
    drv_start(d, base_features, 3);
    submit(d, 1, 0, BUF_GPA, 0, false);
    g_assert_cmpuint(used_idx(d, 1), ==, 1);
    /* a ring outside RAM breaks the device at enable */
    g_assert_true(negotiate(d, base_features));
    bar_wr(d, d->common + VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
    bar_wr(d, d->common + VIRTIO_PCI_COMMON_Q_DESCLO, 8, RAM_SIZE - 16);
    bar_wr(d, d->common + VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
    g_assert_cmpuint(bar_rd(d, d->common + VIRTIO_PCI_COMMON_Q_ENABLE, 2),
                     ==, 0);
    g_assert_true(status(d) & VIRTIO_STATUS_NEEDS_RESET);
    drv_free(d);
}

/* A driver gone mad: random register accesses over random guest memory.
 * Nothing may crash or touch memory outside RAM (run under ASan). */
static void test_fuzz_registers(void)
{
    Drv *d = drv_new(true);
    GRand *rnd = g_rand_new_with_seed(42);
    static const uint32_t lens[] = { 1, 2, 4, 8 };

    for (uint32_t i = 0; i < RAM_SIZE / 4; i++) {
        ((uint32_t *)d->ram)[i] = g_rand_int(rnd);
    }
    for (int iter = 0; iter < 200000; iter++) {
        uint32_t len = lens[g_rand_int_range(rnd, 0, 4)];
        uint64_t val = (uint64_t)g_rand_int(rnd) << 32 | g_rand_int(rnd);
        uint64_t off;

        switch (g_rand_int_range(rnd, 0, 8)) {
        case 0:                         /* anywhere in the BAR */
            off = (uint64_t)g_rand_int_range(rnd, 0, VIRTIO_PCI_BAR_SIZE);
            break;
        case 1:                         /* a notify */
            off = VIRTIO_PCI_NOTIFY_OFF + 4 * g_rand_int_range(rnd, 0, 5);
            len = 2;
            break;
        case 2:                         /* plausible ring addresses */
            val = (uint64_t)g_rand_int_range(rnd, 0, RAM_SIZE / 64) * 64;
            /* fall through */
        default:                        /* common config registers */
            off = (uint64_t)g_rand_int_range(rnd, 0, 0x38) & ~(len - 1);
            break;
        }
        if (iter % 2000 == 0) {
            /* a proper bring-up, then garbage in the rings */
            uint64_t f = base_features;

            f |= g_rand_boolean(rnd) ? 1ULL << VIRTIO_F_RING_EVENT_IDX : 0;
            f |= g_rand_boolean(rnd) ? 1ULL << VIRTIO_F_RING_INDIRECT_DESC
                                     : 0;
            f |= g_rand_boolean(rnd) ? 1ULL << VIRTIO_BALLOON_F_REPORTING : 0;
            drv_start(d, f, 4);
            for (unsigned int q = 0; q < 4; q++) {
                uint8_t *r = d->ram + RING_GPA(q);

                for (unsigned int k = 0; k < QSIZE * 16; k += 4) {
                    /* descriptors mostly pointing into RAM */
                    uint32_t v = g_rand_int(rnd);

                    if (k % 16 == 0 || k % 16 == 8) {
                        v %= g_rand_boolean(rnd) ? RAM_SIZE : 0x10000;
                    }
                    memcpy(r + k, &v, 4);
                }
                for (unsigned int k = 0; k < QSIZE; k++) {
                    put16(d, RING_GPA(q) + 0x1000 + 4 + 2 * k,
                          (uint16_t)g_rand_int_range(rnd, 0, QSIZE + 2));
                }
                put16(d, RING_GPA(q) + 0x1000 + 2,
                      (uint16_t)g_rand_int_range(rnd, 0, QSIZE + 4));
                bar_wr(d, d->notify + 4ULL * q, 2, q);
            }
            continue;
        }
        if (g_rand_int_range(rnd, 0, 20) == 0) {
            /* status: mostly sensible values, sometimes a reset */
            val = g_rand_boolean(rnd) ? 0x0f : g_rand_int_range(rnd, 0, 16);
            bar_wr(d, VIRTIO_PCI_COMMON_STATUS, 1, val);
            continue;
        }
        if (g_rand_int_range(rnd, 0, 50) == 0) {
            /* config space, but leave the BAR and command alone */
            uint32_t reg = (uint32_t)g_rand_int_range(rnd, 0x34, 0x100);

            cfg_wr(d, reg & ~3u, 4, (uint32_t)val);
            cfg_rd(d, reg & ~3u, 4);
            continue;
        }
        if (g_rand_boolean(rnd)) {
            bar_wr(d, off, len, val);
        } else {
            bar_rd(d, off, len);
        }
        if (iter % 1000 == 0) {
            balloon_set_target(d->b, (uint64_t)g_rand_int(rnd) << 8);
            while (g_main_context_iteration(NULL, FALSE)) {
            }
        }
    }
    g_rand_free(rnd);
    drv_free(d);
}

static void test_system_reset(void)
{
    Drv *d = drv_new(false);

    drv_start(d, base_features, 3);
    cfg_wr(d, PCI_COMMAND, 2, 0);
    cfg_wr(d, PCI_BAR0, 4, 0xd0000000);
    cfg_wr(d, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    g_assert_cmpuint(bar_rd(d, d->common + VIRTIO_PCI_COMMON_NUMQ, 2), ==,
                     0xffff);
    virtio_balloon_pci_class.reset((Device *)d->b);
    /* back where firmware put it, decoding, device and MSI-X reset */
    g_assert_cmphex(cfg_rd(d, PCI_BAR0, 4), ==,
                    (uint32_t)BAR_ADDR | PCI_BAR_MEM_TYPE_64);
    g_assert_cmpuint(status(d), ==, 0);
    g_assert_false(cfg_rd(d, d->msix_cap + PCI_MSIX_FLAGS, 2) &
                   PCI_MSIX_FLAGS_ENABLE);
    g_assert_cmpuint(bar_rd(d, VIRTIO_PCI_MSIX_TABLE_OFF + 12, 4), ==, 1);
    drv_start(d, base_features, 3);
    submit(d, 0, 0, BUF_GPA, 0, false);
    g_assert_cmpuint(used_idx(d, 0), ==, 1);
    drv_free(d);
}

/* The -device table: sorted, every class reachable under its own name,
 * property tables sorted too (error messages name the first bad one). */
static void test_device_table(void)
{
    size_t n;
    const DeviceDriver *t = devices_drivers(&n);

    g_assert_cmpuint(n, >=, 2);
    for (size_t i = 0; i < n; i++) {
        const DeviceProp *p = t[i].cls->props;

        if (i > 0) {
            g_assert_cmpint(strcmp(t[i - 1].name, t[i].name), <, 0);
        }
        g_assert_true(devices_find_driver(t[i].name) == t[i].cls);
        g_assert_true(devices_find_driver(t[i].cls->name) == t[i].cls);
        for (; p && p->name && p[1].name; p++) {
            g_assert_cmpint(strcmp(p->name, p[1].name), <, 0);
        }
    }
    g_assert_true(devices_find_driver("virtio-balloon") ==
                  &virtio_balloon_pci_class);
    g_assert_null(devices_find_driver("e1000"));
}

/* The balloon's backend on a real (shared) memfd: pages go back to the
 * host. (tests/unit/test-memmap covers every backend.) */
static void test_memmap_discard(void)
{
    g_autoptr(GError) err = NULL;
    MemBackendConfig mb = {
        .type = MEM_BACKEND_MEMFD, .share = true, .size = 4 * 1024 * 1024,
    };
    g_autoptr(MemMap) mem = memmap_new_backend(&mb, mb.size, &err);
    uint8_t *p;
    struct stat before, after;

    g_assert_no_error(err);
    p = memmap_hva_mut(mem, 0, 4 * 1024 * 1024);
    memset(p, 0x5a, 4 * 1024 * 1024);
    g_assert_cmpint(fstat(mem->fd, &before), ==, 0);
    g_assert_true(memmap_discard(mem, 0x100000, 0x200000));
    g_assert_cmpint(fstat(mem->fd, &after), ==, 0);
    /* the file keeps its size, loses the blocks */
    g_assert_cmpint(after.st_size, ==, before.st_size);
    g_assert_cmpint(after.st_blocks, <=,
                    before.st_blocks - 0x200000 / 512);
    g_assert_cmpuint(p[0x100000], ==, 0);
    g_assert_cmpuint(p[0x2fffff], ==, 0);
    g_assert_cmpuint(p[0xfffff], ==, 0x5a);
    g_assert_cmpuint(p[0x300000], ==, 0x5a);
    /* usable again */
    p[0x100000] = 1;
    g_assert_cmpuint(p[0x100000], ==, 1);
    /* refused: unaligned, empty, outside RAM, wrapping */
    g_assert_false(memmap_discard(mem, 0x100001, 0x1000));
    g_assert_false(memmap_discard(mem, 0x100000, 0x800));
    g_assert_false(memmap_discard(mem, 0x100000, 0));
    g_assert_false(memmap_discard(mem, 0x3ff000, 0x2000));
    g_assert_false(memmap_discard(mem, UINT64_MAX & ~0xfffULL, 0x2000));
}

/* --- migration state ----------------------------------------------------- */

static GByteArray *balloon_save(Drv *d)
{
    GByteArray *out = g_byte_array_new();
    g_autoptr(GError) err = NULL;

    g_assert_true(vms_save(virtio_balloon_pci_class.vmsd, d->b, out, &err));
    g_assert_no_error(err);
    return out;
}

static bool balloon_load(Drv *d, GByteArray *st, GError **errp)
{
    VmsReader r = vms_reader(st->data, st->len);

    return vms_load(virtio_balloon_pci_class.vmsd, d->b, &r, errp) &&
           r.pos == r.len;
}

/* A migration's destination: same device, RAM copied, state loaded. */
static Drv *drv_clone(Drv *src, GByteArray *st)
{
    Drv *d = drv_new(false);
    g_autoptr(GError) err = NULL;

    memcpy(d->ram, src->ram, RAM_SIZE);
    memcpy(d->avail_idx, src->avail_idx, sizeof(d->avail_idx));
    g_assert_true(balloon_load(d, st, &err));
    g_assert_no_error(err);
    return d;
}

/* Offsets in the balloon's section (see the tables): its version, then
 * the VirtioDevice (version, guest_features, status, isr, generation,
 * config_vector, broken) and its queues of 41 bytes each (version, num,
 * ready, msix_vector, desc, avail, used, ...). */
#define ST_VDEV         4
#define ST_VQ(q)        (ST_VDEV + 18 + 41 * (q))
#define ST_VQ_NUM(q)    (ST_VQ(q) + 4)
#define ST_VQ_READY(q)  (ST_VQ(q) + 6)
#define ST_VQ_MSIX(q)   (ST_VQ(q) + 7)
#define ST_VQ_DESC(q)   (ST_VQ(q) + 9)
#define ST_VQ_LAST(q)   (ST_VQ(q) + 33)

/* A balloon mid-inflate (one buffer done, the stats buffer held, a
 * target set) continues on the copy: same config, the next buffer lands
 * after the first in the used ring, MSI-X as the guest programmed it. */
static void test_state_round_trip(void)
{
    Drv *a = drv_new(false);
    g_autoptr(GByteArray) st = NULL;
    uint32_t *pfns = (uint32_t *)(a->ram + BUF_GPA);
    BalloonStats stats;
    Drv *b;

    drv_start(a, base_features, 3);
    balloon_set_target(a->b, RAM_SIZE - 8 * 4096);
    for (unsigned int i = 0; i < 4; i++) {
        pfns[i] = GUINT32_TO_LE(0x300 + i);
    }
    submit(a, 0, 0, BUF_GPA, 16, false);
    g_assert_cmpuint(used_idx(a, 0), ==, 1);
    put_stat(a, BUF_GPA + 0x1000, 4, 4242);
    submit(a, 2, 0, BUF_GPA + 0x1000, 10, false);
    g_assert_cmpuint(used_idx(a, 2), ==, 0);        /* held */
    bar_wr(a, a->device + 4, 4, 4);                 /* actual */
    st = balloon_save(a);
    b = drv_clone(a, st);

    g_assert_cmpuint(status(b), ==, 0x0f);
    g_assert_cmpuint(dev_cfg(b, 0), ==, 8);
    g_assert_cmpuint(dev_cfg(b, 4), ==, 4);
    g_assert_cmpuint(balloon_get_actual(b->b), ==, RAM_SIZE - 4 * 4096);
    balloon_get_stats(b->b, &stats);
    g_assert_cmpuint(stats.stats[4], ==, 4242);
    g_assert_cmphex(device_features(b), ==, device_features(a));
    /* the next inflate buffer: used entry 1, vector 1 */
    for (unsigned int i = 0; i < 4; i++) {
        pfns = (uint32_t *)(b->ram + BUF_GPA);
        pfns[i] = GUINT32_TO_LE(0x304 + i);
    }
    memset(b->ram + 0x304 * 4096ULL, 0x11, 4 * 4096);
    submit(b, 0, 1, BUF_GPA, 16, false);
    g_assert_cmpuint(used_idx(b, 0), ==, 2);
    g_assert_cmpuint(get16(b, RING_GPA(0) + 0x2000 + 4 + 8), ==, 1);
    g_assert_cmpuint(b->ram[0x304 * 4096ULL], ==, 0);
    g_assert_cmpuint(b->irq.msi_count[1], ==, 1);
    g_assert_cmphex(b->irq.last_msi_addr, ==, MSI_ADDR);
    /* the held stats buffer goes back on the copy's first poll */
    g_assert_true(balloon_set_poll_interval(b->b, 1, NULL));
    for (gint64 end = g_get_monotonic_time() + 3 * G_USEC_PER_SEC;
         used_idx(b, 2) == 0 && g_get_monotonic_time() < end;) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    g_assert_cmpuint(used_idx(b, 2), ==, 1);
    g_assert_cmpuint(get16(b, RING_GPA(2) + 0x2000 + 4), ==, 0);   /* head */
    g_assert_true(balloon_set_poll_interval(b->b, 0, NULL));
    /* the source did not change by being saved */
    g_assert_cmpuint(used_idx(a, 2), ==, 0);
    drv_free(b);
    drv_free(a);
}

static void expect_load_refused(Drv *src, GByteArray *st, const char *what)
{
    Drv *d = drv_new(false);
    g_autoptr(GError) err = NULL;

    memcpy(d->ram, src->ram, RAM_SIZE);
    g_assert_false(balloon_load(d, st, &err));
    g_assert_nonnull(err);
    if (!strstr(err->message, what)) {
        g_error("'%s' does not contain '%s'", err->message, what);
    }
    drv_free(d);
}

static void patch(GByteArray *st, size_t off, uint64_t v, unsigned int n)
{
    for (unsigned int i = 0; i < n; i++) {
        st->data[off + i] = (uint8_t)(v >> (8 * i));
    }
}

/* Forged streams: refused with the device and field named, no crash. */
static void test_state_hostile(void)
{
    Drv *a = drv_new(false);
    g_autoptr(GByteArray) good = NULL;
    g_autoptr(GByteArray) st = g_byte_array_new();

    drv_start(a, base_features, 3);
    good = balloon_save(a);
#define RESET_ST() \
    (g_byte_array_set_size(st, 0), \
     g_byte_array_append(st, good->data, good->len))

    RESET_ST();
    patch(st, ST_VQ_NUM(0), 48, 2);             /* not a power of two */
    expect_load_refused(a, st, "queue size 48 is invalid");
    RESET_ST();
    patch(st, ST_VQ_NUM(1), 256, 2);            /* above what we offer */
    expect_load_refused(a, st, "queue size 256 is invalid");
    RESET_ST();
    patch(st, ST_VQ_DESC(0), RAM_SIZE - 16, 8); /* ring leaves RAM */
    expect_load_refused(a, st, "ring outside guest RAM");
    RESET_ST();
    patch(st, ST_VQ_DESC(0), 0x10008, 8);       /* misaligned */
    expect_load_refused(a, st, "misaligned ring");
    RESET_ST();
    patch(st, ST_VQ_MSIX(2), 9, 2);             /* the table has 4 */
    expect_load_refused(a, st, "MSI-X vector 9, the table has 4");
    RESET_ST();
    patch(st, ST_VQ_LAST(0), 1000, 2);          /* 1000 in flight */
    expect_load_refused(a, st, "buffers in flight");
    RESET_ST();
    patch(st, ST_VQ_READY(5), 1, 1);            /* no queue 5 */
    expect_load_refused(a, st, "the device has no such queue");
    RESET_ST();
    patch(st, ST_VDEV + 4, 1ULL << 40, 8);      /* a feature we lack */
    expect_load_refused(a, st, "field 'guest_features'");
    RESET_ST();
    patch(st, ST_VDEV + 4 + 8, 0x20, 1);        /* undefined status bit */
    expect_load_refused(a, st, "field 'status'");
    RESET_ST();
    g_byte_array_set_size(st, st->len - 3);     /* truncated */
    expect_load_refused(a, st, "truncated");
#undef RESET_ST
    drv_free(a);
}

/* While paused the balloon neither returns the stats buffer nor
 * interrupts, even with its timer due; resume catches up. */
static void test_pause(void)
{
    Drv *d = drv_new(false);
    Device *dev = (Device *)d->b;
    unsigned int cfg_msi;
    gint64 end;

    drv_start(d, base_features, 3);
    put_stat(d, BUF_GPA, 4, 1);
    submit(d, 2, 0, BUF_GPA, 10, false);
    g_assert_true(balloon_set_poll_interval(d->b, 1, NULL));
    end = g_get_monotonic_time() + 3 * G_USEC_PER_SEC;
    while (used_idx(d, 2) == 0 && g_get_monotonic_time() < end) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    g_assert_cmpuint(used_idx(d, 2), ==, 1);
    submit(d, 2, 1, BUF_GPA, 10, false);        /* held; timer armed, 1 s */
    cfg_msi = d->irq.msi_count[0];

    virtio_balloon_pci_class.pause(dev);
    balloon_set_target(d->b, RAM_SIZE - 4096);  /* config irq: held */
    bar_wr(d, d->device + 4, 4, 1);             /* BALLOON_CHANGE: held */
    end = g_get_monotonic_time() + 1500 * 1000;
    while (g_get_monotonic_time() < end) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    g_assert_cmpuint(used_idx(d, 2), ==, 1);
    g_assert_cmpuint(d->irq.msi_count[3], ==, 1);
    g_assert_cmpuint(d->irq.msi_count[0], ==, cfg_msi);
    g_assert_cmpuint(d->changes, ==, 0);
    /* the held interrupt is pending in the PBA meanwhile */
    g_assert_cmphex(bar_rd(d, VIRTIO_PCI_MSIX_PBA_OFF, 8) & 1, ==, 1);

    virtio_balloon_pci_class.resume(dev);
    g_assert_cmpuint(d->irq.msi_count[0], ==, cfg_msi + 1);
    end = g_get_monotonic_time() + 3 * G_USEC_PER_SEC;
    while ((used_idx(d, 2) == 1 || !d->changes) &&
           g_get_monotonic_time() < end) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    g_assert_cmpuint(used_idx(d, 2), ==, 2);
    g_assert_cmpuint(d->irq.msi_count[3], ==, 2);
    g_assert_cmpuint(d->changes, ==, 1);
    g_assert_true(balloon_set_poll_interval(d->b, 0, NULL));
    drv_free(d);
}

/* devices_save_state/load_state over a device list (a Vm with only its
 * devices: no KVM needed): sections matched by name and instance. */
static void test_devices_state(void)
{
    Drv *a = drv_new(false), *b = drv_new(false), *c = drv_new(true);
    Serial *sa = serial_new(NULL, NULL, NULL), *sb = serial_new(NULL, NULL,
                                                                NULL);
    Vm va = { 0 }, vb = { 0 }, vc = { 0 };
    g_autoptr(GByteArray) st = g_byte_array_new();
    g_autoptr(GByteArray) bad = g_byte_array_new();
    g_autoptr(GError) err = NULL;
    const VmsDesc *const *list;
    size_t n;
    uint8_t v = 0x5a;

    va.devices = g_ptr_array_new();
    vb.devices = g_ptr_array_new();
    vc.devices = g_ptr_array_new();
    g_ptr_array_add(va.devices, sa);
    g_ptr_array_add(va.devices, a->b);
    g_ptr_array_add(vb.devices, sb);
    g_ptr_array_add(vb.devices, b->b);
    g_ptr_array_add(vc.devices, c->b);          /* no serial */
    drv_start(a, base_features, 3);
    serial_io(sa, 7, &v, 1, true);
    g_assert_true(devices_save_state(&va, st, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(st->data[0], ==, strlen("serial"));
    g_assert_cmpmem(st->data + 1, 6, "serial", 6);
    memcpy(b->ram, a->ram, RAM_SIZE);
    g_assert_true(devices_load_state(&vb, st->data, st->len, &err));
    g_assert_no_error(err);
    v = 0;
    serial_io(sb, 7, &v, 1, false);
    g_assert_cmphex(v, ==, 0x5a);
    g_assert_cmpuint(status(b), ==, 0x0f);

    /* a device the stream lacks, one it has extra */
    g_assert_false(devices_load_state(&vc, st->data, st->len, &err));
    g_assert_cmpstr(err->message, ==, "device 'serial' instance 0: unknown "
                    "section, this VM has no such device");
    g_clear_error(&err);
    g_ptr_array_add(vc.devices, sb);
    g_byte_array_append(bad, st->data, 1 + 6 + 8 + 10 + 1 + 4 + 1);
    bad->data[bad->len - 1] = 0;            /* end after the serial */
    g_assert_false(devices_load_state(&vc, bad->data, bad->len, &err));
    g_assert_nonnull(strstr(err->message, "truncated"));
    g_clear_error(&err);
    /* unknown section name */
    g_byte_array_set_size(bad, 0);
    g_byte_array_append(bad, st->data, st->len);
    bad->data[1] = 'S';
    g_assert_false(devices_load_state(&vb, bad->data, bad->len, &err));
    g_assert_cmpstr(err->message, ==, "device 'Serial' instance 0: unknown "
                    "section, this VM has no such device");
    g_clear_error(&err);
    /* only the serial: the balloon is missing */
    g_byte_array_set_size(bad, 0);
    g_byte_array_append(bad, st->data, st->len);
    g_byte_array_set_size(bad, 1 + 6 + 4 + 4 +
                          (bad->data[11] | bad->data[12] << 8));
    g_byte_array_append(bad, (const guint8 *)"", 1);
    g_assert_false(devices_load_state(&vb, bad->data, bad->len, &err));
    g_assert_cmpstr(err->message, ==, "device 'virtio-balloon' instance 0: "
                    "missing from the stream");
    g_clear_error(&err);
    /* a section length beyond the buffer; trailing bytes */
    g_byte_array_set_size(bad, 0);
    g_byte_array_append(bad, st->data, st->len);
    bad->data[1 + 6 + 4 + 3] = 0x7f;
    g_assert_false(devices_load_state(&vb, bad->data, bad->len, &err));
    g_assert_nonnull(strstr(err->message, "truncated or too large"));
    g_clear_error(&err);
    g_byte_array_set_size(bad, 0);
    g_byte_array_append(bad, st->data, st->len);
    g_byte_array_append(bad, (const guint8 *)"x", 1);
    g_assert_false(devices_load_state(&vb, bad->data, bad->len, &err));
    g_assert_nonnull(strstr(err->message, "after the end marker"));
    g_clear_error(&err);

    list = devices_vmsd_list(&n);
    g_assert_cmpuint(n, ==, 9);
    g_assert_null(list[n]);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < i; j++) {
            g_assert_cmpstr(list[i]->name, !=, list[j]->name);
        }
    }
    g_ptr_array_unref(va.devices);
    g_ptr_array_unref(vb.devices);
    g_ptr_array_unref(vc.devices);
    serial_free(sa);
    serial_free(sb);
    drv_free(a);
    drv_free(b);
    drv_free(c);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/virtio-pci/identity", test_identity);
    g_test_add_func("/virtio-pci/bar-sizing-and-moving",
                    test_bar_sizing_and_moving);
    g_test_add_func("/virtio-pci/features", test_features);
    g_test_add_func("/virtio-pci/pci-cfg-window", test_pci_cfg_window);
    g_test_add_func("/virtio-pci/msix-masking", test_msix_masking);
    g_test_add_func("/virtio-pci/msix-irqfd", test_msix_irqfd);
    g_test_add_func("/virtio-pci/intx-fallback", test_intx_fallback);
    g_test_add_func("/virtio-pci/broken-driver", test_broken_driver);
    g_test_add_func("/virtio-pci/system-reset", test_system_reset);
    g_test_add_func("/virtio-pci/fuzz-registers", test_fuzz_registers);
    g_test_add_func("/balloon/inflate-deflate", test_inflate_deflate);
    g_test_add_func("/balloon/stats", test_stats);
    g_test_add_func("/balloon/free-page-reporting",
                    test_free_page_reporting);
    g_test_add_func("/memmap/discard", test_memmap_discard);
    g_test_add_func("/device/table", test_device_table);
    g_test_add_func("/state/balloon-round-trip", test_state_round_trip);
    g_test_add_func("/state/balloon-hostile", test_state_hostile);
    g_test_add_func("/state/balloon-pause", test_pause);
    g_test_add_func("/state/devices", test_devices_state);
    return g_test_run();
}
