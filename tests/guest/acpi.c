/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ACPI, read-only and just enough: the RSDP (from the boot data, else the
 * EBDA and BIOS area scan every OS does), the XSDT or RSDT, the MADT (CPU
 * count, IOAPIC, how the SCI is wired), the FADT (PM1 blocks, SCI, sleep
 * registers) and \_S5 from the DSDT's AML, for powering off.
 */
#include "tg.h"

#define SDT_HEADER_LEN      36

/* MADT entry types. */
#define MADT_LAPIC          0
#define MADT_IOAPIC         1
#define MADT_ISO            2
#define MADT_LAPIC_ADDR     5
#define MADT_X2APIC         9
#define MADT_ENABLED        1u

/* FADT field offsets (ACPI 6.x, table 5.9). */
#define FADT_DSDT           40
#define FADT_SCI_INT        46
#define FADT_SMI_CMD        48
#define FADT_ACPI_ENABLE    52
#define FADT_PM1A_EVT_BLK   56
#define FADT_PM1A_CNT_BLK   64
#define FADT_PM_TMR_BLK     76
#define FADT_PM1_EVT_LEN    88
#define FADT_FLAGS          112
#define FADT_X_DSDT         140
#define FADT_X_PM1A_EVT     148
#define FADT_X_PM1A_CNT     172
#define FADT_X_PM_TMR       208
#define FADT_SLEEP_CTL      244
#define FADT_SLEEP_STS      256
#define FADT_HW_REDUCED     (1u << 20)

/* AML opcodes met on the way to \_S5's first element. */
#define AML_NAME_OP         0x08
#define AML_PACKAGE_OP      0x12
#define AML_ZERO_OP         0x00
#define AML_ONE_OP          0x01
#define AML_BYTE_PREFIX     0x0a
#define AML_WORD_PREFIX     0x0b
#define AML_DWORD_PREFIX    0x0c

AcpiInfo acpi;

static uint8_t rd8(uint64_t a)
{
    return *(const volatile uint8_t *)(uintptr_t)a;
}

static uint16_t rd16(uint64_t a)
{
    uint16_t v;

    memcpy(&v, (const void *)(uintptr_t)a, sizeof(v));
    return v;
}

static uint32_t rd32(uint64_t a)
{
    uint32_t v;

    memcpy(&v, (const void *)(uintptr_t)a, sizeof(v));
    return v;
}

static uint64_t rd64(uint64_t a)
{
    uint64_t v;

    memcpy(&v, (const void *)(uintptr_t)a, sizeof(v));
    return v;
}

static bool mapped(uint64_t addr, uint64_t len)
{
    return addr && addr < TG_MAPPED_LIMIT && len <= TG_MAPPED_LIMIT - addr;
}

static uint8_t checksum(uint64_t a, uint64_t len)
{
    uint8_t sum = 0;

    while (len--) {
        sum += rd8(a++);
    }
    return sum;
}

static bool rsdp_valid(uint64_t a)
{
    if (memcmp((const void *)(uintptr_t)a, "RSD PTR ", 8) || checksum(a, 20)) {
        return false;
    }
    return rd8(a + 15) < 2 || !checksum(a, rd32(a + 20));
}

static uint64_t rsdp_scan(uint64_t start, uint64_t len)
{
    uint64_t a;

    for (a = start; a + 36 <= start + len; a += 16) {
        if (rsdp_valid(a)) {
            return a;
        }
    }
    return 0;
}

static uint64_t rsdp_find(uint64_t hint)
{
    uint64_t ebda = (uint64_t)rd16(0x40e) << 4;
    uint64_t a;

    if (mapped(hint, 36) && rsdp_valid(hint)) {
        return hint;
    }
    if (ebda >= 0x80000 && ebda < 0xa0000 && (a = rsdp_scan(ebda, 1024))) {
        return a;
    }
    return rsdp_scan(0xe0000, 0x20000);
}

/* A table header we can read whole, or 0. */
static uint64_t sdt_check(uint64_t a, const char *sig)
{
    if (!mapped(a, SDT_HEADER_LEN) || !mapped(a, rd32(a + 4))) {
        return 0;
    }
    if (sig && memcmp((const void *)(uintptr_t)a, sig, 4)) {
        return 0;
    }
    return rd32(a + 4) >= SDT_HEADER_LEN ? a : 0;
}

/* Counted in any case; started (smp.c) only if the xAPIC can address it. */
static void madt_add_cpu(uint32_t apic_id)
{
    acpi.cpus++;
    if (apic_id < 0xff && acpi.nr_apic_ids < TG_MAX_CPUS) {
        acpi.apic_ids[acpi.nr_apic_ids++] = (uint8_t)apic_id;
    }
}

static void madt_parse(uint64_t t)
{
    uint64_t end = t + rd32(t + 4);
    uint64_t p;

    acpi.lapic = rd32(t + 36);
    for (p = t + 44; p + 2 <= end && rd8(p + 1) >= 2; p += rd8(p + 1)) {
        switch (rd8(p)) {
        case MADT_LAPIC:
            if (rd32(p + 4) & MADT_ENABLED) {
                madt_add_cpu(rd8(p + 3));
            }
            break;
        case MADT_X2APIC:
            if (rd32(p + 8) & MADT_ENABLED) {
                madt_add_cpu(rd32(p + 4));
            }
            break;
        case MADT_IOAPIC:
            if (!acpi.ioapic) {
                acpi.ioapic = rd32(p + 4);
                acpi.ioapic_gsi_base = rd32(p + 8);
            }
            break;
        case MADT_LAPIC_ADDR:
            acpi.lapic = rd64(p + 4);
            break;
        default:
            break;
        }
    }
}

/* Second pass, once the FADT told us the SCI's IRQ. */
static void madt_sci_override(uint64_t t)
{
    uint64_t end = t + rd32(t + 4);
    uint64_t p;

    /* Without an override the SCI is a shareable, level, active-low ISA
     * interrupt on the same-numbered GSI (ACPI 6.x, 5.2.9, SCI_INT). */
    acpi.sci_gsi = acpi.sci_irq;
    acpi.sci_level = true;
    acpi.sci_low = true;
    if (!t) {
        return;
    }
    for (p = t + 44; p + 2 <= end && rd8(p + 1) >= 2; p += rd8(p + 1)) {
        uint16_t flags;

        if (rd8(p) != MADT_ISO || rd8(p + 3) != acpi.sci_irq) {
            continue;
        }
        acpi.sci_gsi = rd32(p + 4);
        flags = rd16(p + 8);
        if ((flags & 3) == 1) {
            acpi.sci_low = false;
        }
        if (((flags >> 2) & 3) == 1) {
            acpi.sci_level = false;
        }
    }
}

static void gas_read(uint64_t a, AcpiReg *r)
{
    r->space = rd8(a);
    r->width = rd8(a + 1);
    r->addr = rd64(a + 4);
}

static uint16_t fadt_port(uint64_t t, uint32_t len, unsigned int off32,
                          unsigned int off_gas)
{
    AcpiReg r;

    if (rd32(t + off32)) {
        return (uint16_t)rd32(t + off32);
    }
    if (len >= off_gas + 12) {
        gas_read(t + off_gas, &r);
        if (r.space == 1) {
            return (uint16_t)r.addr;
        }
    }
    return 0;
}

/*
 * \_S5's SLP_TYPa: find the NameOp "_S5_" in the AML, step over the
 * PackageOp and its PkgLength and NumElements, read the first element.
 * This is what every small kernel does without an AML interpreter.
 */
static void dsdt_find_s5(uint64_t t)
{
    uint64_t end = t + rd32(t + 4);
    uint64_t p;

    for (p = t + SDT_HEADER_LEN + 1; p + 8 <= end; p++) {
        uint8_t op;

        if (rd8(p) != '_' || memcmp((const void *)(uintptr_t)p, "_S5_", 4)) {
            continue;
        }
        if (rd8(p - 1) != AML_NAME_OP &&
            !(rd8(p - 1) == '\\' && rd8(p - 2) == AML_NAME_OP)) {
            continue;
        }
        if (rd8(p + 4) != AML_PACKAGE_OP) {
            continue;
        }
        p += 5;
        p += 1 + (rd8(p) >> 6);         /* PkgLength: lead byte + 0..3 more */
        p += 1;                         /* NumElements */
        op = rd8(p);
        switch (op) {
        case AML_ZERO_OP:
        case AML_ONE_OP:
            acpi.s5_slp_typ = op;
            break;
        case AML_BYTE_PREFIX:
        case AML_WORD_PREFIX:
        case AML_DWORD_PREFIX:
            acpi.s5_slp_typ = rd8(p + 1);
            break;
        default:
            return;
        }
        acpi.s5_slp_typ &= 7;
        acpi.s5_found = true;
        return;
    }
}

/* MCFG: the ECAM window of PCI segment 0 (PCI Firmware 3.2, 4.1.2). */
static void mcfg_parse(uint64_t t)
{
    uint64_t end = t + rd32(t + 4);
    uint64_t p;

    for (p = t + SDT_HEADER_LEN + 8; p + 16 <= end; p += 16) {
        if (rd16(p + 8) == 0 && mapped(rd64(p), MIB)) {
            acpi.ecam = rd64(p);
            acpi.ecam_bus_start = rd8(p + 10);
            acpi.ecam_bus_end = rd8(p + 11);
            return;
        }
    }
}

static void fadt_parse(uint64_t t)
{
    uint32_t len = rd32(t + 4);
    uint64_t dsdt = 0;

    acpi.fadt = true;
    acpi.sci_irq = rd16(t + FADT_SCI_INT);
    acpi.smi_cmd = (uint16_t)rd32(t + FADT_SMI_CMD);
    acpi.acpi_enable = rd8(t + FADT_ACPI_ENABLE);
    acpi.pm1a_evt = fadt_port(t, len, FADT_PM1A_EVT_BLK, FADT_X_PM1A_EVT);
    acpi.pm1a_cnt = fadt_port(t, len, FADT_PM1A_CNT_BLK, FADT_X_PM1A_CNT);
    acpi.pm_tmr = fadt_port(t, len, FADT_PM_TMR_BLK, FADT_X_PM_TMR);
    acpi.pm1_evt_len = rd8(t + FADT_PM1_EVT_LEN);
    if (len > FADT_FLAGS + 4) {
        acpi.hw_reduced = rd32(t + FADT_FLAGS) & FADT_HW_REDUCED;
    }
    if (len >= FADT_SLEEP_STS + 12) {
        gas_read(t + FADT_SLEEP_CTL, &acpi.sleep_ctl);
        gas_read(t + FADT_SLEEP_STS, &acpi.sleep_sts);
    }
    if (len >= FADT_X_DSDT + 8) {
        dsdt = rd64(t + FADT_X_DSDT);
    }
    if (!dsdt) {
        dsdt = rd32(t + FADT_DSDT);
    }
    if (sdt_check(dsdt, "DSDT")) {
        dsdt_find_s5(dsdt);
    }
}

void acpi_parse(uint64_t rsdp_hint)
{
    uint64_t rsdp = rsdp_find(rsdp_hint);
    uint64_t root, madt = 0, entries, esize, p;

    acpi.lapic = 0xfee00000;
    if (!rsdp) {
        return;
    }
    root = rd8(rsdp + 15) >= 2 ? sdt_check(rd64(rsdp + 24), "XSDT") : 0;
    esize = 8;
    if (!root) {
        root = sdt_check(rd32(rsdp + 16), "RSDT");
        esize = 4;
    }
    if (!root) {
        return;
    }
    acpi.found = true;
    entries = root + SDT_HEADER_LEN;
    for (p = entries; p + esize <= root + rd32(root + 4); p += esize) {
        uint64_t t = sdt_check(esize == 8 ? rd64(p) : rd32(p), NULL);

        if (!t) {
            continue;
        }
        if (!memcmp((const void *)(uintptr_t)t, "APIC", 4)) {
            madt = t;
            madt_parse(t);
        } else if (!memcmp((const void *)(uintptr_t)t, "FACP", 4)) {
            fadt_parse(t);
        } else if (!memcmp((const void *)(uintptr_t)t, "MCFG", 4)) {
            mcfg_parse(t);
        }
    }
    if (acpi.fadt) {
        madt_sci_override(madt);
    }
}
