/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The guest-physical layout of the `kestrel` machine. One place, so the
 * ACPI tables, the e820 map, the loader and the devices cannot disagree.
 */
#ifndef KESTREL_LAYOUT_H
#define KESTREL_LAYOUT_H

#include <stdint.h>

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

/* Low memory: real-mode era structures, all inside the first 640 KiB. */
#define LAYOUT_GDT              0x0500ULL   /* boot GDT */
#define LAYOUT_BOOT_PARAMS      0x7000ULL   /* Linux zero page, or PVH start_info */
#define LAYOUT_BOOT_STACK       0x8ff0ULL
#define LAYOUT_PML4             0x9000ULL   /* identity page tables: 4 pages */
#define LAYOUT_PDPT             0xa000ULL
#define LAYOUT_PD               0xb000ULL   /* 4 pages: 4 GiB of 2 MiB pages */
#define LAYOUT_CMDLINE          0x20000ULL
#define LAYOUT_CMDLINE_MAX      0x10000ULL  /* 64 KiB, more than any kernel takes */
#define LAYOUT_PVH_MEMMAP       0x30000ULL  /* PVH hvm_memmap_table_entry array */
#define LAYOUT_EBDA_START       0x9fc00ULL  /* end of usable base memory */

/* 0xe0000..0xfffff: BIOS area, reserved. ACPI tables live here so a
 * kernel scanning for the RSDP (as Linux and the test guest do) finds it. */
#define LAYOUT_ACPI_START       0xe0000ULL
#define LAYOUT_ACPI_SIZE        0x20000ULL
#define LAYOUT_HIGH_MEM_START   0x100000ULL /* 1 MiB: kernels load from here */

/* The 32-bit hole: below 4 GiB, above the low RAM. */
#define LAYOUT_LOW_RAM_MAX      0xc0000000ULL   /* 3 GiB */
#define LAYOUT_PCI_MMIO_START   0xc0000000ULL
#define LAYOUT_PCI_MMIO_SIZE    0x20000000ULL   /* 512 MiB window for BARs */
#define LAYOUT_ECAM_START       0xe0000000ULL
#define LAYOUT_ECAM_BUSES       1               /* bus 0 only */
#define LAYOUT_ECAM_SIZE        (LAYOUT_ECAM_BUSES * MiB)
#define LAYOUT_IOAPIC           0xfec00000ULL
#define LAYOUT_LAPIC            0xfee00000ULL
#define LAYOUT_KVM_IDENTITY_MAP 0xfeffc000ULL   /* KVM_SET_IDENTITY_MAP_ADDR, 1 page */
#define LAYOUT_KVM_TSS          0xfeffd000ULL   /* KVM_SET_TSS_ADDR, 3 pages */
#define LAYOUT_HIGH_RAM_START   0x100000000ULL  /* RAM above 3 GiB continues at 4 GiB */

/* Port I/O. */
#define PORT_COM1               0x3f8
#define IRQ_COM1                4
#define PORT_COM2               0x2f8
#define IRQ_COM2                3
#define PORT_I8042_DATA         0x60
#define PORT_I8042_CMD          0x64
#define PORT_CMOS               0x70    /* index at 0x70, data at 0x71 */
#define IRQ_RTC                 8
#define PORT_PCI_CONFIG_ADDR    0xcf8
#define PORT_PCI_CONFIG_DATA    0xcfc
#define PORT_RESET              0xcf9   /* FADT RESET_REG: write 0x06 resets */
#define ACPI_RESET_VALUE        0x06

/* ACPI fixed hardware (ICH9-like addresses). */
#define PORT_PM1A_EVT           0x600   /* PM1a status (2 bytes) + enable (2 bytes) */
#define PORT_PM1A_EVT_LEN       4
#define PORT_PM1A_CNT           0x604   /* PM1a control, 2 bytes */
#define PORT_PM1A_CNT_LEN       2
#define PORT_PM_TMR             0x608   /* 24-bit PM timer at 3.579545 MHz */
#define PORT_PM_TMR_LEN         4
#define IRQ_SCI                 9       /* level triggered, active high */
#define ACPI_S5_SLP_TYP         5       /* value of _S5 in the DSDT */

/* PM1 register bits (ACPI 6.x, 4.8.3). */
#define PM1_STS_TMR             (1u << 0)
#define PM1_STS_PWRBTN          (1u << 8)
#define PM1_STS_WAK             (1u << 15)
#define PM1_EN_TMR              (1u << 0)
#define PM1_EN_PWRBTN           (1u << 8)
#define PM1_CNT_SCI_EN          (1u << 0)
#define PM1_CNT_SLP_TYP_SHIFT   10
#define PM1_CNT_SLP_TYP_MASK    (7u << 10)
#define PM1_CNT_SLP_EN          (1u << 13)

#endif /* KESTREL_LAYOUT_H */
