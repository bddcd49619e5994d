/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ACPI tables of the `kestrel` machine: RSDP, XSDT, FADT (+FACS), MADT, MCFG
 * and a DSDT with \_S5, the PCI root and COM1. Pure: builds bytes into a
 * buffer, never touches KVM or guest memory directly.
 */
#ifndef KESTREL_ACPI_H
#define KESTREL_ACPI_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    unsigned int nr_cpus;       /* one MADT Local APIC entry each, APIC id = index */
    uint64_t ram_size;          /* informational only */
} AcpiParams;

/*
 * acpi_build: lay out every table in @buf, which the caller copies to
 * guest-physical @base (LAYOUT_ACPI_START). The RSDP is at offset 0 (so at
 * @base: inside the BIOS area a kernel scans). Returns the number of bytes
 * used, or 0 with @errp set if @buflen is too small.
 */
size_t acpi_build(const AcpiParams *p, uint8_t *buf, size_t buflen,
                  uint64_t base, GError **errp);

/* 8-bit checksum helper: the value that makes @len bytes sum to zero. */
uint8_t acpi_checksum(const uint8_t *data, size_t len);

#endif /* KESTREL_ACPI_H */
