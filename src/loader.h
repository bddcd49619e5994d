/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Kernel loading: Linux x86-64 boot protocol (bzImage, 64-bit entry),
 * ELF vmlinux (64-bit entry at e_entry, Linux boot_params in RSI),
 * PVH ELF note (32-bit entry, hvm_start_info in EBX), initrd, command
 * line, e820. Works on a MemMap; never touches KVM.
 */
#ifndef KESTREL_LOADER_H
#define KESTREL_LOADER_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "memmap.h"

#define E820_RAM        1
#define E820_RESERVED   2
#define E820_ACPI       3
#define E820_MAX        128

typedef struct {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
} E820Entry;

typedef enum {
    BOOT_LINUX64,   /* 64-bit mode, paging on (identity), RSI = boot_params */
    BOOT_PVH,       /* 32-bit protected mode, paging off, EBX = start_info */
} BootMode;

typedef enum {
    KERNEL_BZIMAGE,
    KERNEL_ELF,
} KernelFormat;

typedef struct {
    const char *kernel_path;
    const char *initrd_path;    /* NULL: none */
    const char *cmdline;        /* NULL: empty */
    uint64_t rsdp_gpa;          /* 0: none */
    bool prefer_pvh;            /* ELF with a PVH note: use it (else 64-bit entry) */
} BootSpec;

typedef struct {
    BootMode mode;
    KernelFormat format;
    uint64_t entry;             /* RIP (LINUX64) or EIP (PVH) */
    uint64_t boot_info;         /* RSI (LINUX64: zero page) or EBX (PVH: start_info) */
    uint64_t kernel_start, kernel_end;  /* guest-physical, for messages/tests */
    uint64_t initrd_start, initrd_size;
} BootEntry;

/*
 * e820 of @map: base memory, the BIOS/ACPI hole (reserved), RAM from 1 MiB,
 * the ECAM window (reserved), RAM above 4 GiB. Returns the number of entries.
 */
unsigned int loader_build_e820(const MemMap *map, E820Entry *out,
                               unsigned int max);

/*
 * loader_load_kernel_buf: load a kernel image held in memory into guest RAM
 * and fill the boot data for it. @initrd may be NULL. Errors name the kernel
 * by @name ("kernel 'NAME' is truncated", "... is not an x86-64 kernel",
 * "initrd 'NAME' does not fit ...").
 */
bool loader_load_buf(MemMap *map, const char *name,
                     const uint8_t *kernel, size_t kernel_len,
                     const char *initrd_name,
                     const uint8_t *initrd, size_t initrd_len,
                     const BootSpec *spec, BootEntry *out, GError **errp);

/*
 * What a file of st_mode @mode is, for messages: "a FIFO", "a directory",
 * "a character device", ... ("kernel 'F' is a FIFO, not a regular file").
 */
const char *loader_file_kind(unsigned int mode);

/*
 * loader_load: read the files named in @spec and call loader_load_buf.
 * Anything but a regular file (a FIFO, a device, a directory) is refused
 * at once, without reading from it or waiting on it.
 */
bool loader_load(MemMap *map, const BootSpec *spec, BootEntry *out,
                 GError **errp);

#endif /* KESTREL_LOADER_H */
