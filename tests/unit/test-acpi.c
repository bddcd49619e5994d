/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ACPI tables: structure checked in C (checksums, lengths, pointers, FADT
 * fields, MADT entries), and every table handed to the ACPICA disassembler
 * (iasl -d) when it is installed (Debian: acpica-tools).
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "bytes.h"
#include "acpi.h"
#include "error.h"
#include "layout.h"

#define BASE LAYOUT_ACPI_START

static uint8_t tables[LAYOUT_ACPI_SIZE];

static size_t build(unsigned int nr_cpus)
{
    AcpiParams p = { .nr_cpus = nr_cpus, .ram_size = 128 * MiB };
    g_autoptr(GError) err = NULL;
    size_t len;

    memset(tables, 0xa5, sizeof(tables));
    len = acpi_build(&p, tables, sizeof(tables), BASE, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(len, >, 0);
    g_assert_cmpuint(len, <=, sizeof(tables));
    return len;
}

static uint8_t sum(const uint8_t *p, size_t len)
{
    uint8_t s = 0;

    for (size_t i = 0; i < len; i++) {
        s += p[i];
    }
    return s;
}

/* The table at guest-physical @gpa, checked: inside the blob, signature,
 * length, checksum, OEM fields. */
static const uint8_t *table_at(uint64_t gpa, size_t used, const char *sig)
{
    const uint8_t *t;
    uint32_t len;

    g_assert_cmpuint(gpa, >=, BASE);
    g_assert_cmpuint(gpa - BASE + 36, <=, used);
    g_assert_cmpuint(gpa % 16, ==, 0);
    t = tables + (gpa - BASE);
    g_assert_cmpmem(t, 4, sig, 4);
    len = le32_load(t + 4);
    g_assert_cmpuint(len, >=, 36);
    g_assert_cmpuint(gpa - BASE + len, <=, used);
    g_assert_cmpuint(sum(t, len), ==, 0);
    g_assert_cmpmem(t + 10, 6, "KESTRL", 6);
    g_assert_cmpmem(t + 16, 8, "KESTREL ", 8);
    g_assert_cmpmem(t + 28, 4, "KSTR", 4);
    return t;
}

static const uint8_t *xsdt_find(size_t used, const char *sig)
{
    const uint8_t *rsdp = tables;
    const uint8_t *xsdt = table_at(le64_load(rsdp + 24), used, "XSDT");
    uint32_t n = (le32_load(xsdt + 4) - 36) / 8;

    for (uint32_t i = 0; i < n; i++) {
        uint64_t gpa = le64_load(xsdt + 36 + 8 * i);

        g_assert_cmpuint(gpa - BASE, <, used);
        if (!memcmp(tables + (gpa - BASE), sig, 4)) {
            return table_at(gpa, used, sig);
        }
    }
    return NULL;
}

static void test_checksum(void)
{
    uint8_t data[] = { 1, 2, 3, 0 };

    g_assert_cmpuint(acpi_checksum(data, 0), ==, 0);
    data[3] = acpi_checksum(data, 3);
    g_assert_cmpuint(data[3], ==, 0xfa);
    g_assert_cmpuint(sum(data, 4), ==, 0);
}

static void test_rsdp_xsdt(void)
{
    size_t used = build(1);
    const uint8_t *xsdt;

    g_assert_cmpmem(tables, 8, "RSD PTR ", 8);
    g_assert_cmpuint(sum(tables, 20), ==, 0);
    g_assert_cmpuint(tables[15], ==, 2);            /* revision */
    g_assert_cmpuint(le32_load(tables + 20), ==, 36);    /* length */
    g_assert_cmpuint(sum(tables, 36), ==, 0);
    g_assert_cmpmem(tables + 9, 6, "KESTRL", 6);

    xsdt = table_at(le64_load(tables + 24), used, "XSDT");
    g_assert_cmpuint(le32_load(xsdt + 4), ==, 36 + 3 * 8);
    g_assert_nonnull(xsdt_find(used, "FACP"));
    g_assert_nonnull(xsdt_find(used, "APIC"));
    g_assert_nonnull(xsdt_find(used, "MCFG"));
    g_assert_null(xsdt_find(used, "HPET"));
    /* Everything fits in the BIOS area the RSDP scan covers. */
    g_assert_cmpuint(used, <=, LAYOUT_ACPI_SIZE);
    /* Bytes past the end are untouched. */
    g_assert_cmpuint(tables[used], ==, 0xa5);
}

static void assert_gas_io(const uint8_t *g, unsigned int bits, uint64_t port)
{
    g_assert_cmpuint(g[0], ==, 1);                  /* system I/O */
    g_assert_cmpuint(g[1], ==, bits);
    g_assert_cmpuint(g[2], ==, 0);
    g_assert_cmpuint(le64_load(g + 4), ==, port);
}

static void test_fadt(void)
{
    size_t used = build(2);
    const uint8_t *f = xsdt_find(used, "FACP");
    const uint8_t *facs, *dsdt;
    uint32_t flags;

    g_assert_nonnull(f);
    g_assert_cmpuint(le32_load(f + 4), ==, 276);
    g_assert_cmpuint(f[8], ==, 6);

    /* FACS: the 32-bit pointer only (the 64-bit one must then be zero),
     * 64-byte aligned, no checksum */
    g_assert_cmpuint(le64_load(f + 132), ==, 0);
    g_assert_cmpuint(le32_load(f + 36), !=, 0);
    g_assert_cmpuint(le32_load(f + 36) % 64, ==, 0);
    facs = tables + (le32_load(f + 36) - BASE);
    g_assert_cmpmem(facs, 4, "FACS", 4);
    g_assert_cmpuint(le32_load(facs + 4), ==, 64);

    g_assert_cmpuint(le32_load(f + 40), ==, le64_load(f + 140));
    dsdt = table_at(le32_load(f + 40), used, "DSDT");
    g_assert_cmpuint(dsdt[8], ==, 2);

    g_assert_cmpuint(le16_load(f + 46), ==, IRQ_SCI);
    g_assert_cmpuint(le32_load(f + 48), ==, 0);          /* SMI_CMD */
    g_assert_cmpuint(le32_load(f + 56), ==, PORT_PM1A_EVT);
    g_assert_cmpuint(le32_load(f + 64), ==, PORT_PM1A_CNT);
    g_assert_cmpuint(le32_load(f + 76), ==, PORT_PM_TMR);
    g_assert_cmpuint(le32_load(f + 80), ==, 0);          /* no GPE0 */
    g_assert_cmpuint(f[88], ==, 4);
    g_assert_cmpuint(f[89], ==, 2);
    g_assert_cmpuint(f[91], ==, 4);
    g_assert_cmpuint(le16_load(f + 109), ==, 0x3);       /* legacy + 8042 */

    flags = le32_load(f + 112);
    g_assert_true(flags & (1u << 0));               /* WBINVD */
    g_assert_true(flags & (1u << 2));               /* PROC_C1 */
    g_assert_false(flags & (1u << 4));              /* fixed power button */
    g_assert_true(flags & (1u << 5));               /* no sleep button */
    g_assert_false(flags & (1u << 8));              /* 24-bit timer */
    g_assert_true(flags & (1u << 10));              /* RESET_REG_SUP */
    g_assert_false(flags & (1u << 20));             /* not HW-reduced */

    assert_gas_io(f + 116, 8, PORT_RESET);
    g_assert_cmpuint(f[128], ==, ACPI_RESET_VALUE);

    assert_gas_io(f + 148, 32, PORT_PM1A_EVT);
    assert_gas_io(f + 172, 16, PORT_PM1A_CNT);
    assert_gas_io(f + 208, 32, PORT_PM_TMR);
    g_assert_cmpuint(le64_load(f + 160 + 4), ==, 0);     /* no PM1b */
}

static void count_madt(unsigned int nr_cpus)
{
    size_t used = build(nr_cpus);
    const uint8_t *m = xsdt_find(used, "APIC");
    unsigned int count[16] = { 0 };
    uint32_t len, off;

    g_assert_nonnull(m);
    len = le32_load(m + 4);
    g_assert_cmpuint(le32_load(m + 36), ==, LAYOUT_LAPIC);
    g_assert_cmpuint(le32_load(m + 40), ==, 1);          /* PCAT_COMPAT */

    for (off = 44; off < len; off += m[off + 1]) {
        const uint8_t *e = m + off;

        g_assert_cmpuint(e[1], >=, 2);
        g_assert_cmpuint(off + e[1], <=, len);
        g_assert_cmpuint(e[0], <, G_N_ELEMENTS(count));
        switch (e[0]) {
        case 0:
            g_assert_cmpuint(e[1], ==, 8);
            g_assert_cmpuint(e[2], ==, count[0]);   /* UID */
            g_assert_cmpuint(e[3], ==, count[0]);   /* APIC id */
            g_assert_cmpuint(le32_load(e + 4), ==, 1);
            break;
        case 1:
            g_assert_cmpuint(e[1], ==, 12);
            g_assert_cmpuint(e[2], ==, 0);
            g_assert_cmpuint(le32_load(e + 4), ==, LAYOUT_IOAPIC);
            g_assert_cmpuint(le32_load(e + 8), ==, 0);
            break;
        case 2:
            g_assert_cmpuint(e[1], ==, 10);
            g_assert_cmpuint(e[2], ==, 0);
            if (e[3] == 0) {
                g_assert_cmpuint(le32_load(e + 4), ==, 2);
                g_assert_cmpuint(le16_load(e + 8), ==, 0);
            } else {
                g_assert_cmpuint(e[3], ==, IRQ_SCI);
                g_assert_cmpuint(le32_load(e + 4), ==, IRQ_SCI);
                g_assert_cmpuint(le16_load(e + 8), ==, 0x000d);
            }
            break;
        case 4:
            g_assert_cmpuint(e[1], ==, 6);
            g_assert_cmpuint(e[2], ==, 0xff);
            g_assert_cmpuint(le16_load(e + 3), ==, 0);
            g_assert_cmpuint(e[5], ==, 1);
            break;
        default:
            g_assert_not_reached();
        }
        count[e[0]]++;
    }
    g_assert_cmpuint(off, ==, len);
    g_assert_cmpuint(count[0], ==, nr_cpus);
    g_assert_cmpuint(count[1], ==, 1);
    g_assert_cmpuint(count[2], ==, 2);
    g_assert_cmpuint(count[4], ==, 1);
}

static void test_madt(void)
{
    count_madt(1);
    count_madt(2);
    count_madt(8);
    count_madt(255);
}

static void test_mcfg(void)
{
    size_t used = build(1);
    const uint8_t *m = xsdt_find(used, "MCFG");

    g_assert_nonnull(m);
    g_assert_cmpuint(le32_load(m + 4), ==, 60);
    g_assert_cmpuint(le64_load(m + 44), ==, LAYOUT_ECAM_START);
    g_assert_cmpuint(le16_load(m + 52), ==, 0);
    g_assert_cmpuint(m[54], ==, 0);
    g_assert_cmpuint(m[55], ==, LAYOUT_ECAM_BUSES - 1);
}

static bool contains(const uint8_t *hay, size_t len, const void *needle,
                     size_t nlen)
{
    for (size_t i = 0; i + nlen <= len; i++) {
        if (!memcmp(hay + i, needle, nlen)) {
            return true;
        }
    }
    return false;
}

static void test_dsdt_bytes(void)
{
    size_t used = build(1);
    const uint8_t *f = xsdt_find(used, "FACP");
    const uint8_t *d = table_at(le32_load(f + 40), used, "DSDT");
    uint32_t len = le32_load(d + 4);
    /* Name (\_S5_, Package (4) { 5, 5, 0, 0 }) */
    static const uint8_t s5[] = {
        0x08, '\\', '_', 'S', '5', '_', 0x12, 0x08, 0x04,
        0x0a, ACPI_S5_SLP_TYP, 0x0a, ACPI_S5_SLP_TYP, 0x00, 0x00,
    };
    /* Name (_HID, EisaId ("PNP0A08")) */
    static const uint8_t hid[] = {
        0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x08,
    };
    /* IO (Decode16, 0x3f8, 0x3f8, 1, 8), IRQNoFlags () { 4 } */
    static const uint8_t com1[] = {
        0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08, 0x22, 0x10, 0x00,
    };

    g_assert_true(contains(d, len, s5, sizeof(s5)));
    g_assert_true(contains(d, len, hid, sizeof(hid)));
    g_assert_true(contains(d, len, com1, sizeof(com1)));
    g_assert_true(contains(d, len, "PCI0", 4));
    g_assert_true(contains(d, len, "COM1", 4));
}

static void test_errors(void)
{
    AcpiParams p = { .nr_cpus = 1 };
    g_autoptr(GError) err = NULL;
    uint8_t small[64];

    g_assert_cmpuint(acpi_build(&p, small, sizeof(small), BASE, &err), ==, 0);
    g_assert_error(err, KESTREL_ERROR, KESTREL_ERROR_FAILED);
    g_assert_true(strstr(err->message, "ACPI tables need"));
    g_clear_error(&err);

    p.nr_cpus = 0;
    g_assert_cmpuint(acpi_build(&p, tables, sizeof(tables), BASE, &err), ==,
                     0);
    g_assert_error(err, KESTREL_ERROR, KESTREL_ERROR_INVALID);
    g_clear_error(&err);

    p.nr_cpus = 256;
    g_assert_cmpuint(acpi_build(&p, tables, sizeof(tables), BASE, &err), ==,
                     0);
    g_assert_error(err, KESTREL_ERROR, KESTREL_ERROR_INVALID);
}

/* Whether iasl's output reports a problem ("0 Errors, 0 Warnings" does not). */
static bool iasl_complains(const char *text)
{
    g_auto(GStrv) parts = g_strsplit(text, "0 Errors, 0 Warnings", -1);
    g_autofree char *rest = g_strjoinv("", parts);

    return strstr(rest, "Error") || strstr(rest, "Warning") ||
           strstr(rest, "does not contain a valid");
}

/* Runs iasl in @dir; fails the test on a non-zero exit or any complaint. */
static void run_iasl(const char *dir, const char *const *args)
{
    g_autofree char *out = NULL;
    g_autofree char *errout = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    int status;

    g_ptr_array_add(argv, (gpointer)"iasl");
    for (; *args; args++) {
        g_ptr_array_add(argv, (gpointer)*args);
    }
    g_ptr_array_add(argv, NULL);
    g_assert_true(g_spawn_sync(dir, (char **)argv->pdata, NULL,
                               G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &errout,
                               &status, &err));
    g_assert_no_error(err);
    if (!g_spawn_check_wait_status(status, NULL) ||
        iasl_complains(out) || iasl_complains(errout)) {
        g_test_message("iasl %s:\n%s\n%s", (const char *)argv->pdata[1],
                       out, errout);
        g_test_fail();
    }
}

static void iasl_check(unsigned int nr_cpus)
{
    static const char *const sigs[] = { "FACP", "APIC", "MCFG", "DSDT" };
    g_autofree char *dir = g_dir_make_tmp("kestrel-acpi-XXXXXX", NULL);
    size_t used = build(nr_cpus);
    const uint8_t *xsdt = table_at(le64_load(tables + 24), used, "XSDT");
    const uint8_t *fadt = xsdt_find(used, "FACP");
    const uint8_t *facs = tables + (le32_load(fadt + 36) - BASE);

    g_assert_nonnull(dir);
    for (unsigned int i = 0; i < G_N_ELEMENTS(sigs) + 2; i++) {
        const char *sig = i < G_N_ELEMENTS(sigs) ? sigs[i] :
                          i == G_N_ELEMENTS(sigs) ? "XSDT" : "FACS";
        const uint8_t *t;
        g_autofree char *file = g_strdup_printf("%s.dat", sig);
        g_autofree char *path = g_build_filename(dir, file, NULL);
        g_autofree char *dsl = g_strdup_printf("%s/%s.dsl", dir, sig);
        g_autofree char *text = NULL;
        const char *const dis[] = { "-d", file, NULL };

        if (!strcmp(sig, "XSDT")) {
            t = xsdt;
        } else if (!strcmp(sig, "FACS")) {
            t = facs;
        } else if (!strcmp(sig, "DSDT")) {
            t = tables + (le32_load(fadt + 40) - BASE);
        } else {
            t = xsdt_find(used, sig);
        }
        g_assert_true(g_file_set_contents(path, (const char *)t,
                                          le32_load(t + 4), NULL));
        run_iasl(dir, dis);
        g_assert_true(g_file_get_contents(dsl, &text, NULL, NULL));
        g_assert_null(strstr(text, "****"));    /* unknown or bad field */
        g_unlink(dsl);
        g_unlink(path);
    }

    /* The disassembled DSDT must compile back without errors or warnings. */
    {
        g_autofree char *path = g_build_filename(dir, "DSDT.dat", NULL);
        g_autofree char *dsl = g_build_filename(dir, "DSDT.dsl", NULL);
        g_autofree char *aml = g_build_filename(dir, "DSDT.aml", NULL);
        const uint8_t *d = tables + (le32_load(fadt + 40) - BASE);
        const char *const dis[] = { "-d", "DSDT.dat", NULL };
        const char *const comp[] = { "DSDT.dsl", NULL };

        g_assert_true(g_file_set_contents(path, (const char *)d,
                                          le32_load(d + 4), NULL));
        run_iasl(dir, dis);
        run_iasl(dir, comp);
        g_assert_true(g_file_test(aml, G_FILE_TEST_EXISTS));
        g_unlink(aml);
        g_unlink(dsl);
        g_unlink(path);
    }
    g_rmdir(dir);
}

static void test_iasl(void)
{
    g_autofree char *iasl = g_find_program_in_path("iasl");

    if (!iasl) {
        g_test_message("missing prerequisite (./dev.sh setup installs it): "
                       "iasl is not installed (Debian package acpica-tools)");
        g_test_fail();
        return;
    }
    iasl_check(1);
    iasl_check(2);
    iasl_check(8);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/acpi/checksum", test_checksum);
    g_test_add_func("/acpi/rsdp-xsdt", test_rsdp_xsdt);
    g_test_add_func("/acpi/fadt", test_fadt);
    g_test_add_func("/acpi/madt", test_madt);
    g_test_add_func("/acpi/mcfg", test_mcfg);
    g_test_add_func("/acpi/dsdt-bytes", test_dsdt_bytes);
    g_test_add_func("/acpi/errors", test_errors);
    g_test_add_func("/acpi/iasl", test_iasl);
    return g_test_run();
}
