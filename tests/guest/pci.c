/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * PCI, just enough to drive one device: configuration space through the
 * ECAM the MCFG describes (q35, kestrel: one MMIO exit an access), else
 * the 0xcf8/0xcfc ports (QEMU pc: two port exits, ~50 us); a scan of bus
 * 0 and the buses behind bridges the firmware numbered (a few ms); the
 * capability list; and memory BARs, which the guest assigns itself when
 * no firmware did.
 */
#include "tg.h"

#define PCI_CFG_ADDR        0xcf8
#define PCI_CFG_DATA        0xcfc
#define PCI_CFG_ENABLE      0x80000000u

#define PCI_VENDOR_ID       0x00
#define PCI_COMMAND         0x04
#define PCI_STATUS          0x06
#define PCI_HEADER_TYPE     0x0e
#define PCI_BAR0            0x10
#define PCI_SECONDARY_BUS   0x19
#define PCI_CAP_PTR         0x34

#define PCI_COMMAND_MEMORY  (1u << 1)
#define PCI_COMMAND_MASTER  (1u << 2)
#define PCI_STATUS_CAP_LIST (1u << 4)
#define PCI_HEADER_MULTIFN  0x80
#define PCI_HEADER_BRIDGE   0x01
#define PCI_BAR_IO          0x1u
#define PCI_BAR_TYPE_MASK   0x6u
#define PCI_BAR_TYPE_64     0x4u
#define PCI_NUM_BARS        6

/*
 * Where BARs go when the guest assigns them: kestrel's PCI window
 * (src/layout.h: 0xc0000000-0xdfffffff, the ECAM follows). On QEMU the
 * firmware has assigned everything already; if not, the same window is
 * inside QEMU's 32-bit PCI hole for up to 3 GiB of RAM.
 */
#define PCI_WINDOW_START    0xc0000000ULL
#define PCI_WINDOW_END      0xe0000000ULL

#define PCI_MAX_FUNCS       64
#define PCI_MAX_BUS_DEPTH   4

static PciAddr pci_funcs[PCI_MAX_FUNCS];    /* every function the scan met */
static unsigned int pci_nr_funcs;

static uint32_t cfg_addr(PciAddr a, unsigned int off)
{
    return PCI_CFG_ENABLE | (uint32_t)a.bus << 16 | (uint32_t)a.dev << 11 |
           (uint32_t)a.fn << 8 | (off & 0xfc);
}

/* The ECAM address of a function's register, or 0 to use the ports. */
static uint64_t ecam_addr(PciAddr a, unsigned int off)
{
    if (!acpi.ecam || a.bus < acpi.ecam_bus_start ||
        a.bus > acpi.ecam_bus_end) {
        return 0;
    }
    return acpi.ecam + ((uint64_t)(a.bus - acpi.ecam_bus_start) << 20) +
           ((uint64_t)a.dev << 15) + ((uint64_t)a.fn << 12) + (off & 0xffc);
}

uint32_t pci_read32(PciAddr a, unsigned int off)
{
    uint64_t ecam = ecam_addr(a, off);

    if (ecam) {
        return mmio_read32(ecam);
    }
    outl(PCI_CFG_ADDR, cfg_addr(a, off));
    return inl(PCI_CFG_DATA);
}

uint16_t pci_read16(PciAddr a, unsigned int off)
{
    return (uint16_t)(pci_read32(a, off) >> ((off & 2) * 8));
}

uint8_t pci_read8(PciAddr a, unsigned int off)
{
    return (uint8_t)(pci_read32(a, off) >> ((off & 3) * 8));
}

void pci_write32(PciAddr a, unsigned int off, uint32_t v)
{
    uint64_t ecam = ecam_addr(a, off);

    if (ecam) {
        mmio_write32(ecam, v);
        return;
    }
    outl(PCI_CFG_ADDR, cfg_addr(a, off));
    outl(PCI_CFG_DATA, v);
}

void pci_write16(PciAddr a, unsigned int off, uint16_t v)
{
    uint64_t ecam = ecam_addr(a, off);

    if (ecam) {
        *(volatile uint16_t *)(uintptr_t)(ecam + (off & 2)) = v;
        return;
    }
    outl(PCI_CFG_ADDR, cfg_addr(a, off));
    outw((uint16_t)(PCI_CFG_DATA + (off & 2)), v);
}

static bool id_matches(uint32_t id, uint16_t vendor, const uint16_t *ids,
                       size_t nr_ids)
{
    size_t i;

    if ((id & 0xffff) != vendor) {
        return false;
    }
    for (i = 0; i < nr_ids; i++) {
        if (id >> 16 == ids[i]) {
            return true;
        }
    }
    return false;
}

/* Records every function in pci_funcs (BAR assignment needs them all)
 * and the first one matching in *out. */
static void scan_bus(uint8_t bus, unsigned int depth, uint16_t vendor,
                     const uint16_t *ids, size_t nr_ids, PciAddr *out,
                     bool *found)
{
    unsigned int dev, fn, nr_fn;

    for (dev = 0; dev < 32; dev++) {
        PciAddr a = { bus, (uint8_t)dev, 0 };

        if ((pci_read32(a, PCI_VENDOR_ID) & 0xffff) == 0xffff) {
            continue;
        }
        nr_fn = pci_read8(a, PCI_HEADER_TYPE) & PCI_HEADER_MULTIFN ? 8 : 1;
        for (fn = 0; fn < nr_fn; fn++) {
            uint32_t id;
            uint8_t sec;

            a.fn = (uint8_t)fn;
            id = pci_read32(a, PCI_VENDOR_ID);
            if ((id & 0xffff) == 0xffff) {
                continue;
            }
            if (pci_nr_funcs < PCI_MAX_FUNCS) {
                pci_funcs[pci_nr_funcs++] = a;
            }
            if (!*found && id_matches(id, vendor, ids, nr_ids)) {
                *out = a;
                *found = true;
            }
            if ((pci_read8(a, PCI_HEADER_TYPE) & 0x7f) != PCI_HEADER_BRIDGE ||
                depth >= PCI_MAX_BUS_DEPTH) {
                continue;
            }
            sec = pci_read8(a, PCI_SECONDARY_BUS);
            if (sec > bus) {
                scan_bus(sec, depth + 1, vendor, ids, nr_ids, out, found);
            }
        }
    }
}

bool pci_find(uint16_t vendor, const uint16_t *ids, size_t nr_ids,
              PciAddr *out)
{
    bool found = false;

    pci_nr_funcs = 0;
    scan_bus(0, 0, vendor, ids, nr_ids, out, &found);
    return found;
}

uint8_t pci_cap_first(PciAddr a)
{
    if (!(pci_read16(a, PCI_STATUS) & PCI_STATUS_CAP_LIST)) {
        return 0;
    }
    return pci_read8(a, PCI_CAP_PTR) & 0xfc;
}

uint8_t pci_cap_next(PciAddr a, uint8_t cap)
{
    return pci_read8(a, cap + 1u) & 0xfc;
}

/*
 * A memory BAR's address and size. Sizing writes all-ones to it, so
 * decoding is off meanwhile (the device would otherwise answer at
 * 0xfffff000 for a moment). False for an I/O BAR or none.
 */
static bool bar_probe(PciAddr a, unsigned int bar, uint64_t *base,
                      uint64_t *size, bool *is64)
{
    unsigned int off = PCI_BAR0 + 4 * bar;
    uint16_t cmd = pci_read16(a, PCI_COMMAND);
    uint32_t lo = pci_read32(a, off), hi = 0, mlo, mhi = 0xffffffffu;
    uint64_t mask;

    if (lo & PCI_BAR_IO) {
        return false;
    }
    *is64 = (lo & PCI_BAR_TYPE_MASK) == PCI_BAR_TYPE_64;
    if (*is64 && bar + 1 >= PCI_NUM_BARS) {
        return false;
    }
    if (*is64) {
        hi = pci_read32(a, off + 4);
    }
    pci_write16(a, PCI_COMMAND, cmd & (uint16_t)~PCI_COMMAND_MEMORY);
    pci_write32(a, off, 0xffffffffu);
    mlo = pci_read32(a, off);
    pci_write32(a, off, lo);
    if (*is64) {
        pci_write32(a, off + 4, 0xffffffffu);
        mhi = pci_read32(a, off + 4);
        pci_write32(a, off + 4, hi);
    }
    pci_write16(a, PCI_COMMAND, cmd);

    mask = ((uint64_t)mhi << 32) | (mlo & ~0xfu);
    *base = ((uint64_t)hi << 32) | (lo & ~0xfu);
    *size = mask ? ~mask + 1 : 0;
    return *size != 0;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b,
                           uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

/* True if [addr, addr+size) is clear of RAM, firmware ranges and every
 * other memory BAR the scan met. */
static bool bar_space_free(PciAddr self, uint64_t addr, uint64_t size)
{
    unsigned int i, bar;

    for (i = 0; i < boot_info.nr_e820; i++) {
        if (ranges_overlap(addr, size, boot_info.e820[i].addr,
                           boot_info.e820[i].size)) {
            return false;
        }
    }
    for (i = 0; i < pci_nr_funcs; i++) {
        PciAddr o = pci_funcs[i];

        if (o.bus == self.bus && o.dev == self.dev && o.fn == self.fn) {
            continue;
        }
        for (bar = 0; bar < PCI_NUM_BARS; bar++) {
            uint64_t b, s;
            bool is64 = false;

            if (bar_probe(o, bar, &b, &s, &is64) && b &&
                ranges_overlap(addr, size, b, s)) {
                return false;
            }
            bar += is64;
        }
    }
    return true;
}

bool pci_bar_map(PciAddr a, unsigned int bar, uint64_t *addr)
{
    unsigned int off = PCI_BAR0 + 4 * bar;
    uint64_t base, size, cand;
    bool is64;

    if (bar >= PCI_NUM_BARS || !bar_probe(a, bar, &base, &size, &is64)) {
        return false;
    }
    if (!base || base + size > TG_MAPPED_LIMIT) {
        /* Unassigned (no firmware), or where our page tables do not
         * reach: put it in the window, naturally aligned. */
        for (cand = ALIGN_UP(PCI_WINDOW_START, size);
             cand + size <= PCI_WINDOW_END; cand += size) {
            if (bar_space_free(a, cand, size)) {
                break;
            }
        }
        if (cand + size > PCI_WINDOW_END) {
            return false;
        }
        pci_write32(a, off, (uint32_t)cand);
        if (is64) {
            pci_write32(a, off + 4, (uint32_t)(cand >> 32));
        }
        base = cand;
    }
    pci_write16(a, PCI_COMMAND, pci_read16(a, PCI_COMMAND) |
                PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    *addr = base;
    return true;
}
