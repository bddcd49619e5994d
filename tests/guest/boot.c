/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Boot data: the Linux zero page (64-bit entry) or the PVH start_info
 * (32-bit entry). Both are copied into boot_info first thing, before the
 * workloads may reuse the memory they were in.
 */
#include "tg.h"

/* struct boot_params offsets (Linux Documentation/arch/x86/zero-page.rst). */
#define BP_ACPI_RSDP_ADDR       0x070   /* u64 */
#define BP_EXT_CMD_LINE_PTR     0x0c8   /* u32: cmd_line_ptr bits 63:32 */
#define BP_E820_ENTRIES         0x1e8   /* u8 */
#define BP_CMD_LINE_PTR         0x228   /* u32 */
#define BP_E820_TABLE           0x2d0   /* 128 x {u64 addr, size; u32 type} */
#define BP_E820_MAX             128

/* struct hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h). */
#define HVM_START_MAGIC         0x336ec578
#define HVM_VERSION             4       /* u32 */
#define HVM_CMDLINE_PADDR       24      /* u64 */
#define HVM_RSDP_PADDR          32      /* u64 */
#define HVM_MEMMAP_PADDR        40      /* u64, version >= 1 */
#define HVM_MEMMAP_ENTRIES      48      /* u32 */
#define HVM_MEMMAP_ENTRY_SIZE   24      /* {u64 addr, size; u32 type, pad} */

BootInfo boot_info;

static uint32_t rd32(uint64_t addr)
{
    uint32_t v;

    memcpy(&v, (const void *)(uintptr_t)addr, sizeof(v));
    return v;
}

static uint64_t rd64(uint64_t addr)
{
    uint64_t v;

    memcpy(&v, (const void *)(uintptr_t)addr, sizeof(v));
    return v;
}

static bool mapped(uint64_t addr, uint64_t len)
{
    return addr && addr < TG_MAPPED_LIMIT && len <= TG_MAPPED_LIMIT - addr;
}

static void copy_cmdline(uint64_t addr)
{
    size_t n;

    if (!mapped(addr, sizeof(boot_info.cmdline))) {
        return;
    }
    for (n = 0; n < sizeof(boot_info.cmdline) - 1; n++) {
        char c = *(const char *)(uintptr_t)(addr + n);

        if (!c) {
            break;
        }
        boot_info.cmdline[n] = c;
    }
    boot_info.cmdline[n] = '\0';
}

static void add_e820(uint64_t addr, uint64_t size, uint32_t type)
{
    E820Entry *e;

    if (boot_info.nr_e820 >= E820_MAX || !size) {
        return;                 /* qboot's PVH map ends with an empty entry */
    }
    e = &boot_info.e820[boot_info.nr_e820++];
    e->addr = addr;
    e->size = size;
    e->type = type;
    if (type == E820_RAM) {
        boot_info.ram_bytes += size;
    }
}

static void parse_linux(uint64_t bp)
{
    unsigned int i, n;

    boot_info.rsdp = rd64(bp + BP_ACPI_RSDP_ADDR);
    copy_cmdline(rd32(bp + BP_CMD_LINE_PTR) |
                 ((uint64_t)rd32(bp + BP_EXT_CMD_LINE_PTR) << 32));
    n = *(const uint8_t *)(uintptr_t)(bp + BP_E820_ENTRIES);
    if (n > BP_E820_MAX) {
        n = BP_E820_MAX;
    }
    for (i = 0; i < n; i++) {
        uint64_t e = bp + BP_E820_TABLE + i * 20;

        add_e820(rd64(e), rd64(e + 8), rd32(e + 16));
    }
}

static void parse_pvh(uint64_t si)
{
    uint64_t map;
    unsigned int i, n;

    if (rd32(si) != HVM_START_MAGIC) {
        con_printf("TG ERROR bad hvm_start_info magic %#x\n", rd32(si));
        return;
    }
    boot_info.rsdp = rd64(si + HVM_RSDP_PADDR);
    copy_cmdline(rd64(si + HVM_CMDLINE_PADDR));
    if (rd32(si + HVM_VERSION) < 1) {
        return;                 /* no memory map before version 1 */
    }
    map = rd64(si + HVM_MEMMAP_PADDR);
    n = rd32(si + HVM_MEMMAP_ENTRIES);
    if (!mapped(map, (uint64_t)n * HVM_MEMMAP_ENTRY_SIZE)) {
        return;
    }
    for (i = 0; i < n; i++) {
        uint64_t e = map + (uint64_t)i * HVM_MEMMAP_ENTRY_SIZE;

        add_e820(rd64(e), rd64(e + 8), rd32(e + 16));
    }
}

void boot_parse(int kind, uint64_t info)
{
    boot_info.kind = kind;
    if (!mapped(info, PAGE_SIZE)) {
        con_printf("TG ERROR boot data at %#lx is not mapped\n", info);
        return;
    }
    if (kind == BOOT_LINUX64) {
        parse_linux(info);
    } else {
        parse_pvh(info);
    }
}

const char *boot_name(int kind)
{
    return kind == BOOT_LINUX64 ? "linux64" : "pvh";
}
