/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ACPI tables of the `kestrel` machine (ACPI 6.4 layouts).
 *
 * Everything is built into one growing byte array with offsets relative to
 * the start of the blob; @base turns offsets into guest-physical addresses.
 * Order in the blob: RSDP (offset 0, where the BIOS-area scan finds it),
 * FACS (64-byte aligned), XSDT, DSDT, FADT, MADT, MCFG; tables start on
 * 16-byte boundaries.
 *
 * The DSDT is hand-encoded AML. It only declares named objects (no control
 * methods), which keeps the encoder small: names, integers, strings,
 * packages, buffers, scopes and devices.
 */
#include <inttypes.h>
#include <string.h>

#include "acpi.h"
#include "bytes.h"
#include "error.h"
#include "layout.h"

#define ACPI_OEM_ID             "KESTRL"
#define ACPI_OEM_TABLE_ID       "KESTREL "
#define ACPI_OEM_REVISION       1
#define ACPI_CREATOR_ID         "KSTR"
#define ACPI_CREATOR_REVISION   1

#define ACPI_HEADER_SIZE        36
#define ACPI_RSDP_SIZE          36
#define ACPI_FACS_SIZE          64
#define ACPI_FADT_SIZE          276     /* revision 6 */

/* The largest CPU count whose APIC ids fit the xAPIC MADT entry:
 * 0xff is the broadcast id. */
#define ACPI_MAX_CPUS           255

/* FADT flags (ACPI 6.4, table 5.10). */
#define FADT_F_WBINVD           (1u << 0)
#define FADT_F_PROC_C1          (1u << 2)
#define FADT_F_PWR_BUTTON       (1u << 4)   /* set = no fixed power button */
#define FADT_F_SLP_BUTTON       (1u << 5)   /* set = no fixed sleep button */
#define FADT_F_RESET_REG_SUP    (1u << 10)

/* IA-PC boot architecture flags (table 5.11). */
#define FADT_BOOT_LEGACY_DEVICES (1u << 0)
#define FADT_BOOT_8042          (1u << 1)

/* Generic Address Structure fields. */
#define GAS_SPACE_IO            1
#define GAS_ACCESS_BYTE         1
#define GAS_ACCESS_WORD         2
#define GAS_ACCESS_DWORD        3

/* MADT (table 5.43 and following). */
#define MADT_PCAT_COMPAT        (1u << 0)
#define MADT_LOCAL_APIC         0
#define MADT_IO_APIC            1
#define MADT_INT_OVERRIDE       2
#define MADT_LOCAL_APIC_NMI     4
#define MADT_LAPIC_ENABLED      (1u << 0)
#define MPS_INTI_ACTIVE_HIGH    0x1
#define MPS_INTI_LEVEL          (0x3 << 2)

/* ------------------------------------------------------------------ */
/* Little-endian byte helpers                                           */

static void put_u8(GByteArray *b, uint8_t v)
{
    g_byte_array_append(b, &v, 1);
}

static void put_u16(GByteArray *b, uint16_t v)
{
    bytes_append_le(b, v, 2);
}

static void put_u32(GByteArray *b, uint32_t v)
{
    bytes_append_le(b, v, 4);
}

static void put_u64(GByteArray *b, uint64_t v)
{
    bytes_append_le(b, v, 8);
}

static void put_bytes(GByteArray *b, const void *data, size_t len)
{
    g_byte_array_append(b, data, len);
}

static void put_zeros(GByteArray *b, size_t len)
{
    static const uint8_t zeros[64];

    while (len) {
        size_t n = MIN(len, sizeof(zeros));

        g_byte_array_append(b, zeros, n);
        len -= n;
    }
}

static void pad_to(GByteArray *b, size_t align)
{
    put_zeros(b, (align - b->len % align) % align);
}

static void patch_u32(GByteArray *b, size_t off, uint32_t v)
{
    le32_store(b->data + off, v);
}

static void patch_u64(GByteArray *b, size_t off, uint64_t v)
{
    le64_store(b->data + off, v);
}

uint8_t acpi_checksum(const uint8_t *data, size_t len)
{
    uint8_t sum = 0;

    for (size_t i = 0; i < len; i++) {
        sum += data[i];
    }
    return (uint8_t)(0 - sum);
}

/* ------------------------------------------------------------------ */
/* System description table header                                      */

/* Starts a table at the (16-byte aligned) end of @b; returns its offset. */
static size_t table_begin(GByteArray *b, const char *sig, uint8_t rev)
{
    size_t start;

    pad_to(b, 16);
    start = b->len;
    put_bytes(b, sig, 4);
    put_u32(b, 0);                      /* length, patched by table_end */
    put_u8(b, rev);
    put_u8(b, 0);                       /* checksum, patched by table_end */
    put_bytes(b, ACPI_OEM_ID, 6);
    put_bytes(b, ACPI_OEM_TABLE_ID, 8);
    put_u32(b, ACPI_OEM_REVISION);
    put_bytes(b, ACPI_CREATOR_ID, 4);
    put_u32(b, ACPI_CREATOR_REVISION);
    return start;
}

/* Recomputes the checksum of the table at @start from its length field. */
static void table_checksum(GByteArray *b, size_t start)
{
    const uint8_t *p = b->data + start + 4;
    uint32_t len = p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;

    b->data[start + 9] = 0;
    b->data[start + 9] = acpi_checksum(b->data + start, len);
}

/* Ends the table at @start: it spans to the current end of @b. */
static void table_end(GByteArray *b, size_t start)
{
    patch_u32(b, start + 4, b->len - start);
    table_checksum(b, start);
}

/* Generic Address Structure in system I/O space. */
static void put_gas_io(GByteArray *b, uint8_t bit_width, uint8_t access,
                       uint64_t port)
{
    put_u8(b, GAS_SPACE_IO);
    put_u8(b, bit_width);
    put_u8(b, 0);                       /* bit offset */
    put_u8(b, access);
    put_u64(b, port);
}

static void put_gas_none(GByteArray *b)
{
    put_zeros(b, 12);
}

/* ------------------------------------------------------------------ */
/* AML encoder (ACPI 6.4, chapter 20)                                   */

#define AML_ZERO_OP         0x00
#define AML_ONE_OP          0x01
#define AML_NAME_OP         0x08
#define AML_BYTE_PREFIX     0x0a
#define AML_WORD_PREFIX     0x0b
#define AML_DWORD_PREFIX    0x0c
#define AML_STRING_PREFIX   0x0d
#define AML_QWORD_PREFIX    0x0e
#define AML_SCOPE_OP        0x10
#define AML_BUFFER_OP       0x11
#define AML_PACKAGE_OP      0x12
#define AML_DUAL_NAME       0x2e
#define AML_MULTI_NAME      0x2f
#define AML_EXT_OP          0x5b
#define AML_DEVICE_OP       0x82    /* after AML_EXT_OP */
#define AML_ROOT_CHAR       '\\'

/*
 * PkgLength: the length of what follows the opcode, counting the PkgLength
 * bytes themselves. One byte holds up to 63; longer values put the byte
 * count minus one in bits 7:6 of the lead byte, its low nibble in bits 3:0
 * and the rest, 8 bits at a time, in the following bytes.
 */
static void aml_put_pkglength(GByteArray *b, size_t body_len)
{
    size_t total;
    unsigned int nbytes;

    if (body_len + 1 <= 0x3f) {
        put_u8(b, body_len + 1);
        return;
    }
    for (nbytes = 2; nbytes <= 4; nbytes++) {
        total = body_len + nbytes;
        if (total < (1u << (4 + 8 * (nbytes - 1)))) {
            break;
        }
    }
    g_assert(nbytes <= 4);              /* 256 MiB of AML: never */
    put_u8(b, ((nbytes - 1) << 6) | (total & 0xf));
    for (unsigned int i = 1; i < nbytes; i++) {
        put_u8(b, (total >> (4 + 8 * (i - 1))) & 0xff);
    }
}

/* Appends @body wrapped as "@op PkgLength body" and frees @body. */
static void aml_put_pkg(GByteArray *b, const uint8_t *op, size_t oplen,
                        GByteArray *body)
{
    put_bytes(b, op, oplen);
    aml_put_pkglength(b, body->len);
    put_bytes(b, body->data, body->len);
    g_byte_array_unref(body);
}

/*
 * NameString from ASL spelling: "\\_SB.PCI0", "_HID", "_S5". Segments
 * shorter than four characters are padded with '_'.
 */
static void aml_put_namestring(GByteArray *b, const char *name)
{
    g_auto(GStrv) segs = NULL;
    guint n;

    if (*name == AML_ROOT_CHAR) {
        put_u8(b, AML_ROOT_CHAR);
        name++;
    }
    segs = g_strsplit(name, ".", -1);
    n = g_strv_length(segs);
    g_assert(n >= 1 && n <= 255);
    if (n == 2) {
        put_u8(b, AML_DUAL_NAME);
    } else if (n > 2) {
        put_u8(b, AML_MULTI_NAME);
        put_u8(b, n);
    }
    for (guint i = 0; i < n; i++) {
        char seg[4] = { '_', '_', '_', '_' };
        size_t len = strlen(segs[i]);

        g_assert(len >= 1 && len <= 4);
        memcpy(seg, segs[i], len);
        put_bytes(b, seg, 4);
    }
}

static void aml_put_integer(GByteArray *b, uint64_t v)
{
    if (v == 0) {
        put_u8(b, AML_ZERO_OP);
    } else if (v == 1) {
        put_u8(b, AML_ONE_OP);
    } else if (v <= 0xff) {
        put_u8(b, AML_BYTE_PREFIX);
        put_u8(b, v);
    } else if (v <= 0xffff) {
        put_u8(b, AML_WORD_PREFIX);
        put_u16(b, v);
    } else if (v <= 0xffffffff) {
        put_u8(b, AML_DWORD_PREFIX);
        put_u32(b, v);
    } else {
        put_u8(b, AML_QWORD_PREFIX);
        put_u64(b, v);
    }
}

/*
 * EisaId("PNP0A08"): three letters of five bits each and four hex digits,
 * stored big-endian in a DWord.
 */
static uint32_t aml_eisaid(const char *id)
{
    uint32_t v;

    g_assert(strlen(id) == 7);
    v = ((uint32_t)(id[0] - 0x40) & 0x1f) << 26 |
        ((uint32_t)(id[1] - 0x40) & 0x1f) << 21 |
        ((uint32_t)(id[2] - 0x40) & 0x1f) << 16 |
        (uint32_t)g_ascii_strtoull(id + 3, NULL, 16);
    return GUINT32_SWAP_LE_BE(v);
}

/* Name (NAME, Integer) */
static void aml_name_int(GByteArray *b, const char *name, uint64_t v)
{
    put_u8(b, AML_NAME_OP);
    aml_put_namestring(b, name);
    aml_put_integer(b, v);
}

/* Name (NAME, EisaId ("ID")): always the DWord form, as iasl emits it. */
static void aml_name_eisaid(GByteArray *b, const char *name, const char *id)
{
    put_u8(b, AML_NAME_OP);
    aml_put_namestring(b, name);
    put_u8(b, AML_DWORD_PREFIX);
    put_u32(b, aml_eisaid(id));
}

/* Name (NAME, Buffer () { @data }) */
static void aml_name_buffer(GByteArray *b, const char *name,
                            GByteArray *data)
{
    static const uint8_t op[] = { AML_BUFFER_OP };
    GByteArray *body = g_byte_array_new();

    aml_put_integer(body, data->len);   /* BufferSize */
    put_bytes(body, data->data, data->len);
    g_byte_array_unref(data);

    put_u8(b, AML_NAME_OP);
    aml_put_namestring(b, name);
    aml_put_pkg(b, op, sizeof(op), body);
}

/* Name (NAME, Package () { integers }) */
static void aml_name_package(GByteArray *b, const char *name,
                             const uint64_t *elems, unsigned int n)
{
    static const uint8_t op[] = { AML_PACKAGE_OP };
    GByteArray *body = g_byte_array_new();

    g_assert(n <= 255);
    put_u8(body, n);                    /* NumElements */
    for (unsigned int i = 0; i < n; i++) {
        aml_put_integer(body, elems[i]);
    }
    put_u8(b, AML_NAME_OP);
    aml_put_namestring(b, name);
    aml_put_pkg(b, op, sizeof(op), body);
}

/* Scope (NAME) { @body } */
static void aml_scope(GByteArray *b, const char *name, GByteArray *body)
{
    static const uint8_t op[] = { AML_SCOPE_OP };
    GByteArray *full = g_byte_array_new();

    aml_put_namestring(full, name);
    put_bytes(full, body->data, body->len);
    g_byte_array_unref(body);
    aml_put_pkg(b, op, sizeof(op), full);
}

/* Device (NAME) { @body } */
static void aml_device(GByteArray *b, const char *name, GByteArray *body)
{
    static const uint8_t op[] = { AML_EXT_OP, AML_DEVICE_OP };
    GByteArray *full = g_byte_array_new();

    aml_put_namestring(full, name);
    put_bytes(full, body->data, body->len);
    g_byte_array_unref(body);
    aml_put_pkg(b, op, sizeof(op), full);
}

/* Resource descriptors (ACPI 6.4, 6.4.2 and 6.4.3) */

#define RES_IRQ_NOFLAGS     0x22    /* small item 0x4, length 2 */
#define RES_IO              0x47    /* small item 0x8, length 7 */
#define RES_END_TAG         0x79    /* small item 0xf, length 1 */
#define RES_MEMORY32_FIXED  0x86
#define RES_DWORD_ADDRESS   0x87
#define RES_WORD_ADDRESS    0x88

#define RES_TYPE_MEMORY     0
#define RES_TYPE_IO         1
#define RES_TYPE_BUS        2

/* General flags: producer, positive decode, minimum and maximum fixed. */
#define RES_FLAGS_PRODUCER_FIXED    ((1u << 3) | (1u << 2))
#define RES_IO_ENTIRE_RANGE         0x3
#define RES_MEM_READ_WRITE          0x1     /* non-cacheable */

/* IO (Decode16, base, base, align, len) */
static void res_io(GByteArray *b, uint16_t base, uint8_t align, uint8_t len)
{
    put_u8(b, RES_IO);
    put_u8(b, 0x01);                    /* 16-bit decode */
    put_u16(b, base);
    put_u16(b, base);
    put_u8(b, align);
    put_u8(b, len);
}

static void res_irq_noflags(GByteArray *b, unsigned int irq)
{
    put_u8(b, RES_IRQ_NOFLAGS);
    put_u16(b, 1u << irq);
}

static void res_word_address(GByteArray *b, uint8_t type, uint8_t tflags,
                             uint16_t min, uint16_t max)
{
    put_u8(b, RES_WORD_ADDRESS);
    put_u16(b, 13);
    put_u8(b, type);
    put_u8(b, RES_FLAGS_PRODUCER_FIXED);
    put_u8(b, tflags);
    put_u16(b, 0);                      /* granularity */
    put_u16(b, min);
    put_u16(b, max);
    put_u16(b, 0);                      /* translation offset */
    put_u16(b, max - min + 1);
}

static void res_dword_memory(GByteArray *b, uint32_t base, uint32_t size)
{
    put_u8(b, RES_DWORD_ADDRESS);
    put_u16(b, 23);
    put_u8(b, RES_TYPE_MEMORY);
    put_u8(b, RES_FLAGS_PRODUCER_FIXED);
    put_u8(b, RES_MEM_READ_WRITE);
    put_u32(b, 0);                      /* granularity */
    put_u32(b, base);
    put_u32(b, base + size - 1);
    put_u32(b, 0);                      /* translation offset */
    put_u32(b, size);
}

static void res_memory32_fixed(GByteArray *b, uint32_t base, uint32_t size)
{
    put_u8(b, RES_MEMORY32_FIXED);
    put_u16(b, 9);
    put_u8(b, 0x01);                    /* read-write */
    put_u32(b, base);
    put_u32(b, size);
}

static void res_end(GByteArray *b)
{
    put_u8(b, RES_END_TAG);
    put_u8(b, 0);                       /* 0: checksum not computed */
}

static void dsdt_pci_root(GByteArray *scope)
{
    GByteArray *dev = g_byte_array_new();
    GByteArray *crs = g_byte_array_new();

    aml_name_eisaid(dev, "_HID", "PNP0A08");
    aml_name_eisaid(dev, "_CID", "PNP0A03");
    /* No _ADR: a device has either _HID or _ADR (ACPI 6.4, 6.1). */
    aml_name_int(dev, "_SEG", 0);
    aml_name_int(dev, "_BBN", 0);
    aml_name_int(dev, "_UID", 0);

    res_word_address(crs, RES_TYPE_BUS, 0, 0, LAYOUT_ECAM_BUSES - 1);
    /* The config ports are consumed by the bridge itself ... */
    res_io(crs, PORT_PCI_CONFIG_ADDR, 1, 8);
    /* ... and everything else in I/O space is routed downstream. */
    res_word_address(crs, RES_TYPE_IO, RES_IO_ENTIRE_RANGE,
                     0x0000, PORT_PCI_CONFIG_ADDR - 1);
    res_word_address(crs, RES_TYPE_IO, RES_IO_ENTIRE_RANGE,
                     0x0d00, 0xffff);
    res_dword_memory(crs, LAYOUT_PCI_MMIO_START, LAYOUT_PCI_MMIO_SIZE);
    res_end(crs);
    aml_name_buffer(dev, "_CRS", crs);

    aml_device(scope, "PCI0", dev);
}

static void dsdt_com1(GByteArray *scope)
{
    GByteArray *dev = g_byte_array_new();
    GByteArray *crs = g_byte_array_new();

    aml_name_eisaid(dev, "_HID", "PNP0501");
    aml_name_int(dev, "_UID", 1);
    aml_name_int(dev, "_STA", 0xf);
    res_io(crs, PORT_COM1, 1, 8);
    res_irq_noflags(crs, IRQ_COM1);
    res_end(crs);
    aml_name_buffer(dev, "_CRS", crs);

    aml_device(scope, "COM1", dev);
}

/*
 * The ECAM window as a motherboard resource: Linux checks that the MCFG
 * area is reserved by a PNP0C02 device before it trusts it for all buses
 * (the e820 reservation alone is accepted only early in boot).
 */
static void dsdt_ecam_reservation(GByteArray *scope)
{
    GByteArray *dev = g_byte_array_new();
    GByteArray *crs = g_byte_array_new();

    aml_name_eisaid(dev, "_HID", "PNP0C02");
    aml_name_int(dev, "_UID", 1);
    res_memory32_fixed(crs, LAYOUT_ECAM_START, LAYOUT_ECAM_SIZE);
    res_end(crs);
    aml_name_buffer(dev, "_CRS", crs);

    aml_device(scope, "MRES", dev);
}

static size_t build_dsdt(GByteArray *b)
{
    static const uint64_t s5[] = { ACPI_S5_SLP_TYP, ACPI_S5_SLP_TYP, 0, 0 };
    size_t start = table_begin(b, "DSDT", 2);   /* 2: 64-bit integers */
    GByteArray *sb = g_byte_array_new();

    aml_name_package(b, "\\_S5", s5, G_N_ELEMENTS(s5));
    dsdt_pci_root(sb);
    dsdt_com1(sb);
    dsdt_ecam_reservation(sb);
    aml_scope(b, "\\_SB", sb);
    table_end(b, start);
    return start;
}

/* ------------------------------------------------------------------ */
/* Tables                                                               */

static size_t build_facs(GByteArray *b)
{
    size_t start;

    pad_to(b, 64);
    start = b->len;
    put_bytes(b, "FACS", 4);
    put_u32(b, ACPI_FACS_SIZE);
    put_u32(b, 0);                      /* hardware signature */
    put_u32(b, 0);                      /* firmware waking vector */
    put_u32(b, 0);                      /* global lock */
    put_u32(b, 0);                      /* flags */
    put_u64(b, 0);                      /* X firmware waking vector */
    put_u8(b, 2);                       /* version */
    put_zeros(b, 3);
    put_u32(b, 0);                      /* OSPM flags */
    put_zeros(b, 24);
    return start;
}

static size_t build_fadt(GByteArray *b, uint64_t facs, uint64_t dsdt)
{
    size_t start = table_begin(b, "FACP", 6);

    put_u32(b, facs);                   /* FIRMWARE_CTRL */
    put_u32(b, dsdt);                   /* DSDT */
    put_u8(b, 0);                       /* reserved (INT_MODEL) */
    put_u8(b, 0);                       /* preferred PM profile: unspecified */
    put_u16(b, IRQ_SCI);
    put_u32(b, 0);                      /* SMI_CMD: no SMM, ACPI always on */
    put_u8(b, 0);                       /* ACPI_ENABLE */
    put_u8(b, 0);                       /* ACPI_DISABLE */
    put_u8(b, 0);                       /* S4BIOS_REQ */
    put_u8(b, 0);                       /* PSTATE_CNT */
    put_u32(b, PORT_PM1A_EVT);
    put_u32(b, 0);                      /* PM1b_EVT_BLK */
    put_u32(b, PORT_PM1A_CNT);
    put_u32(b, 0);                      /* PM1b_CNT_BLK */
    put_u32(b, 0);                      /* PM2_CNT_BLK */
    put_u32(b, PORT_PM_TMR);
    put_u32(b, 0);                      /* GPE0_BLK */
    put_u32(b, 0);                      /* GPE1_BLK */
    put_u8(b, PORT_PM1A_EVT_LEN);
    put_u8(b, PORT_PM1A_CNT_LEN);
    put_u8(b, 0);                       /* PM2_CNT_LEN */
    put_u8(b, PORT_PM_TMR_LEN);
    put_u8(b, 0);                       /* GPE0_BLK_LEN */
    put_u8(b, 0);                       /* GPE1_BLK_LEN */
    put_u8(b, 0);                       /* GPE1_BASE */
    put_u8(b, 0);                       /* CST_CNT */
    put_u16(b, 0xfff);                  /* P_LVL2_LAT: C2 not supported */
    put_u16(b, 0xffff);                 /* P_LVL3_LAT: C3 not supported */
    put_u16(b, 0);                      /* FLUSH_SIZE */
    put_u16(b, 0);                      /* FLUSH_STRIDE */
    put_u8(b, 0);                       /* DUTY_OFFSET */
    put_u8(b, 0);                       /* DUTY_WIDTH */
    put_u8(b, 0);                       /* DAY_ALRM */
    put_u8(b, 0);                       /* MON_ALRM */
    put_u8(b, 0);                       /* CENTURY */
    put_u16(b, FADT_BOOT_LEGACY_DEVICES | FADT_BOOT_8042);
    put_u8(b, 0);                       /* reserved */
    /* PWR_BUTTON clear: the power button is the fixed-feature one. */
    put_u32(b, FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON |
            FADT_F_RESET_REG_SUP);
    put_gas_io(b, 8, GAS_ACCESS_BYTE, PORT_RESET);
    put_u8(b, ACPI_RESET_VALUE);
    put_u16(b, 0);                      /* ARM_BOOT_ARCH */
    put_u8(b, 4);                       /* FADT minor version: 6.4 */
    /* X_FIRMWARE_CTRL must be zero when FIRMWARE_CTRL is set (ACPI 6.4,
     * 5.2.9): with both, Linux lists and reserves the FACS twice. */
    put_u64(b, 0);                      /* X_FIRMWARE_CTRL */
    put_u64(b, dsdt);                   /* X_DSDT */
    put_gas_io(b, PORT_PM1A_EVT_LEN * 8, GAS_ACCESS_WORD, PORT_PM1A_EVT);
    put_gas_none(b);                    /* X_PM1b_EVT_BLK */
    put_gas_io(b, PORT_PM1A_CNT_LEN * 8, GAS_ACCESS_WORD, PORT_PM1A_CNT);
    put_gas_none(b);                    /* X_PM1b_CNT_BLK */
    put_gas_none(b);                    /* X_PM2_CNT_BLK */
    put_gas_io(b, PORT_PM_TMR_LEN * 8, GAS_ACCESS_DWORD, PORT_PM_TMR);
    put_gas_none(b);                    /* X_GPE0_BLK */
    put_gas_none(b);                    /* X_GPE1_BLK */
    put_gas_none(b);                    /* SLEEP_CONTROL_REG */
    put_gas_none(b);                    /* SLEEP_STATUS_REG */
    put_u64(b, 0);                      /* hypervisor vendor identity */
    g_assert(b->len - start == ACPI_FADT_SIZE);
    table_end(b, start);
    return start;
}

static size_t build_madt(GByteArray *b, unsigned int nr_cpus)
{
    size_t start = table_begin(b, "APIC", 5);

    put_u32(b, LAYOUT_LAPIC);
    put_u32(b, MADT_PCAT_COMPAT);

    for (unsigned int i = 0; i < nr_cpus; i++) {
        put_u8(b, MADT_LOCAL_APIC);
        put_u8(b, 8);
        put_u8(b, i);                   /* ACPI processor UID */
        put_u8(b, i);                   /* APIC id */
        put_u32(b, MADT_LAPIC_ENABLED);
    }

    put_u8(b, MADT_IO_APIC);
    put_u8(b, 12);
    put_u8(b, 0);                       /* I/O APIC id */
    put_u8(b, 0);
    put_u32(b, LAYOUT_IOAPIC);
    put_u32(b, 0);                      /* GSI base */

    /* The PIT is wired to pin 2 of the I/O APIC, as on every PC. */
    put_u8(b, MADT_INT_OVERRIDE);
    put_u8(b, 10);
    put_u8(b, 0);                       /* bus: ISA */
    put_u8(b, 0);                       /* source IRQ */
    put_u32(b, 2);                      /* GSI */
    put_u16(b, 0);                      /* conforms to the bus */

    /* The SCI is level triggered, active high. */
    put_u8(b, MADT_INT_OVERRIDE);
    put_u8(b, 10);
    put_u8(b, 0);
    put_u8(b, IRQ_SCI);
    put_u32(b, IRQ_SCI);
    put_u16(b, MPS_INTI_ACTIVE_HIGH | MPS_INTI_LEVEL);

    put_u8(b, MADT_LOCAL_APIC_NMI);
    put_u8(b, 6);
    put_u8(b, 0xff);                    /* all processors */
    put_u16(b, 0);                      /* conforms to the bus */
    put_u8(b, 1);                       /* LINT1 */

    table_end(b, start);
    return start;
}

static size_t build_mcfg(GByteArray *b)
{
    size_t start = table_begin(b, "MCFG", 1);

    put_u64(b, 0);                      /* reserved */
    put_u64(b, LAYOUT_ECAM_START);
    put_u16(b, 0);                      /* PCI segment group */
    put_u8(b, 0);                       /* first bus */
    put_u8(b, LAYOUT_ECAM_BUSES - 1);   /* last bus */
    put_u32(b, 0);                      /* reserved */
    table_end(b, start);
    return start;
}

/* XSDT with @n entries, patched in once the tables exist. */
static size_t build_xsdt(GByteArray *b, unsigned int n)
{
    size_t start = table_begin(b, "XSDT", 1);

    put_zeros(b, 8 * n);
    table_end(b, start);
    return start;
}

static void build_rsdp(GByteArray *b, uint64_t xsdt)
{
    g_assert(b->len == 0);
    put_bytes(b, "RSD PTR ", 8);
    put_u8(b, 0);                       /* checksum of the first 20 bytes */
    put_bytes(b, ACPI_OEM_ID, 6);
    put_u8(b, 2);                       /* revision: ACPI 2.0+ */
    put_u32(b, 0);                      /* RSDT address: none, XSDT only */
    put_u32(b, ACPI_RSDP_SIZE);
    put_u64(b, xsdt);
    put_u8(b, 0);                       /* extended checksum */
    put_zeros(b, 3);
}

size_t acpi_build(const AcpiParams *p, uint8_t *buf, size_t buflen,
                  uint64_t base, GError **errp)
{
    g_autoptr(GByteArray) b = g_byte_array_new();
    size_t facs, xsdt, fadt, madt, mcfg, dsdt;

    if (p->nr_cpus == 0 || p->nr_cpus > ACPI_MAX_CPUS) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "the ACPI tables cannot describe %u CPUs: between 1 and "
                    "%u are supported", p->nr_cpus, ACPI_MAX_CPUS);
        return 0;
    }

    build_rsdp(b, 0);
    facs = build_facs(b);
    xsdt = build_xsdt(b, 3);
    dsdt = build_dsdt(b);
    fadt = build_fadt(b, base + facs, base + dsdt);
    madt = build_madt(b, p->nr_cpus);
    mcfg = build_mcfg(b);
    pad_to(b, 16);

    if (base + b->len > UINT32_MAX) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "the ACPI tables cannot be placed at 0x%" PRIx64
                    ": they must lie below 4 GiB", base);
        return 0;
    }
    if (b->len > buflen) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "the ACPI tables need %u bytes but only %zu bytes are "
                    "available for them", b->len, buflen);
        return 0;
    }

    patch_u64(b, xsdt + ACPI_HEADER_SIZE + 0, base + fadt);
    patch_u64(b, xsdt + ACPI_HEADER_SIZE + 8, base + madt);
    patch_u64(b, xsdt + ACPI_HEADER_SIZE + 16, base + mcfg);
    table_checksum(b, xsdt);

    patch_u64(b, 24, base + xsdt);
    b->data[8] = acpi_checksum(b->data, 20);
    b->data[32] = acpi_checksum(b->data, ACPI_RSDP_SIZE);

    memcpy(buf, b->data, b->len);
    return b->len;
}
