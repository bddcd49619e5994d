/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Kernel loader: bzImage (Linux boot protocol, 64-bit entry), ELF vmlinux
 * and PVH ELF kernels; initrd, command line and e820 map.
 *
 * Every offset and length read from an image is untrusted. Loading is in
 * two steps: a plan (parse and validate everything, decide every address)
 * and then the writes into guest memory, so a rejected image leaves guest
 * RAM untouched.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "layout.h"
#include "bytes.h"
#include "loader.h"

#define PAGE_SIZE               0x1000ULL
#define ALIGN_UP(x, a)          (((x) + (a) - 1) & ~((uint64_t)(a) - 1))
#define ALIGN_DOWN(x, a)        ((x) & ~((uint64_t)(a) - 1))

/* Linux boot protocol (Documentation/arch/x86/boot.rst): offsets in the
 * image and in struct boot_params ("the zero page"). */
#define ZP_SIZE                 4096
#define ZP_ACPI_RSDP_ADDR       0x070
#define ZP_EXT_RAMDISK_IMAGE    0x0c0
#define ZP_EXT_RAMDISK_SIZE     0x0c4
#define ZP_EXT_CMD_LINE_PTR     0x0c8
#define ZP_E820_ENTRIES         0x1e8
#define ZP_HDR                  0x1f1   /* struct setup_header */
#define ZP_HDR_LIMIT            0x290   /* where boot_params goes on after it */
#define ZP_E820_TABLE           0x2d0
#define ZP_E820_ENTRY_SIZE      20

#define HDR_SETUP_SECTS         0x1f1
#define HDR_VID_MODE            0x1fa
#define HDR_BOOT_FLAG           0x1fe
#define HDR_JUMP                0x200
#define HDR_HEADER              0x202
#define HDR_VERSION             0x206
#define HDR_TYPE_OF_LOADER      0x210
#define HDR_LOADFLAGS           0x211
#define HDR_CODE32_START        0x214
#define HDR_RAMDISK_IMAGE       0x218
#define HDR_RAMDISK_SIZE        0x21c
#define HDR_HEAP_END_PTR        0x224
#define HDR_CMD_LINE_PTR        0x228
#define HDR_INITRD_ADDR_MAX     0x22c
#define HDR_KERNEL_ALIGNMENT    0x230
#define HDR_RELOCATABLE         0x234
#define HDR_XLOADFLAGS          0x236
#define HDR_CMDLINE_SIZE        0x238
#define HDR_PREF_ADDRESS        0x258
#define HDR_INIT_SIZE           0x260

#define HDR_MAGIC               0x53726448u     /* "HdrS" */
#define BOOT_FLAG_MAGIC         0xaa55
#define LOADED_HIGH             (1u << 0)
#define CAN_USE_HEAP            (1u << 7)
#define XLF_KERNEL_64           (1u << 0)
#define LOADER_TYPE_UNDEFINED   0xff
#define VID_MODE_NORMAL         0xffff
#define HEAP_END_PTR            0xfe00
#define INITRD_ADDR_MAX_OLD     0x37ffffffULL
#define BZIMAGE_ENTRY64_OFFSET  0x200
#define SYNTH_VERSION           0x020f
#define SYNTH_HDR_END           0x26c
#define SYNTH_KERNEL_ALIGNMENT  0x200000

/* PVH (xen/include/public/arch-x86/hvm/start_info.h). */
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define PVH_START_MAGIC         0x336ec578u
#define PVH_START_INFO_SIZE     56
#define PVH_MODLIST             (LAYOUT_BOOT_PARAMS + 64)
#define PVH_MODLIST_ENTRY_SIZE  32
#define PVH_MEMMAP_ENTRY_SIZE   24

/* What the first pass decides; the second pass only writes. */
typedef struct {
    const char *name;
    const uint8_t *img;
    size_t len;

    KernelFormat format;
    BootMode mode;
    uint64_t entry;
    uint64_t kernel_start, kernel_end;
    uint64_t cmdline_max;       /* characters, NUL excluded */
    uint64_t initrd_limit;      /* the initrd must end at or below this */

    /* bzImage */
    uint16_t version;
    size_t setup_size;
    size_t hdr_end;

    /* ELF */
    bool elf64;
    uint64_t phoff;
    unsigned int phnum, phentsize;
} KernelPlan;

typedef struct {
    uint32_t type;
    uint64_t offset, vaddr, paddr, filesz, memsz, align;
} ElfPhdr;

/* ------------------------------------------------------------------ */
/* Byte access; callers check bounds first                              */

/* Whether [off, off+n) lies inside a buffer of @len bytes. */
static bool in_bounds(size_t len, uint64_t off, uint64_t n)
{
    return off <= len && n <= len - off;
}

static bool error_truncated(const KernelPlan *k, GError **errp)
{
    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                "kernel '%s' is truncated", k->name);
    return false;
}

static bool error_too_large(const KernelPlan *k, GError **errp)
{
    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                "kernel '%s' is too large for guest memory", k->name);
    return false;
}

/* ------------------------------------------------------------------ */
/* e820                                                                 */

static void e820_add(E820Entry *out, unsigned int *n, unsigned int max,
                     uint64_t start, uint64_t end, uint32_t type)
{
    if (end <= start || *n >= max) {
        return;
    }
    out[*n] = (E820Entry) { .addr = start, .size = end - start, .type = type };
    (*n)++;
}

unsigned int loader_build_e820(const MemMap *map, E820Entry *out,
                               unsigned int max)
{
    uint64_t low_end = MIN(memmap_low_ram_end(map), LAYOUT_LOW_RAM_MAX);
    unsigned int n = 0;

    e820_add(out, &n, max, 0, MIN(low_end, LAYOUT_EBDA_START), E820_RAM);
    /* EBDA, VGA hole, option ROMs and the BIOS area with the ACPI tables */
    e820_add(out, &n, max, LAYOUT_EBDA_START, LAYOUT_HIGH_MEM_START,
             E820_RESERVED);
    e820_add(out, &n, max, LAYOUT_HIGH_MEM_START, low_end, E820_RAM);
    e820_add(out, &n, max, LAYOUT_ECAM_START,
             LAYOUT_ECAM_START + LAYOUT_ECAM_SIZE, E820_RESERVED);
    /* KVM's identity-map page and real-mode TSS (4 pages in all): not
     * RAM, and nothing may be mapped there. */
    e820_add(out, &n, max, LAYOUT_KVM_IDENTITY_MAP,
             LAYOUT_KVM_TSS + 3 * 4096, E820_RESERVED);
    for (unsigned int i = 1; i < map->nr_regions; i++) {
        const MemRegion *r = &map->regions[i];

        e820_add(out, &n, max, r->gpa, r->gpa + r->size, E820_RAM);
    }
    return n;
}

/* ------------------------------------------------------------------ */
/* bzImage                                                              */

static bool bzimage_plan(const MemMap *map, KernelPlan *k, GError **errp)
{
    const uint8_t *img = k->img;
    uint64_t low_end = memmap_low_ram_end(map);
    unsigned int setup_sects;
    uint64_t payload, need, pref = 0, init_size = 0;
    bool relocatable;

    setup_sects = img[HDR_SETUP_SECTS] ? img[HDR_SETUP_SECTS] : 4;
    k->setup_size = (setup_sects + 1) * 512;
    k->hdr_end = HDR_HEADER + img[HDR_JUMP + 1];
    /* setup_sects >= 1 puts the setup header wholly before the payload */
    if (k->len <= k->setup_size || k->hdr_end > k->len) {
        return error_truncated(k, errp);
    }

    k->version = le16_load(img + HDR_VERSION);
    if (k->version < 0x0206) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "kernel '%s' uses boot protocol %u.%02u, older than the "
                    "2.06 this loader requires", k->name, k->version >> 8,
                    k->version & 0xff);
        return false;
    }
    if (!(img[HDR_LOADFLAGS] & LOADED_HIGH)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "kernel '%s' is a zImage, which is not supported: only "
                    "bzImage kernels (loaded high) are", k->name);
        return false;
    }
    if (k->version < 0x020c ||
        !(le16_load(img + HDR_XLOADFLAGS) & XLF_KERNEL_64)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "kernel '%s' has no 64-bit entry point (boot protocol "
                    "2.12 or later with XLF_KERNEL_64 is required)", k->name);
        return false;
    }

    k->format = KERNEL_BZIMAGE;
    k->mode = BOOT_LINUX64;
    k->cmdline_max = MIN(le32_load(img + HDR_CMDLINE_SIZE), LAYOUT_CMDLINE_MAX - 1);
    k->initrd_limit = le32_load(img + HDR_INITRD_ADDR_MAX);
    if (k->initrd_limit == 0) {
        k->initrd_limit = INITRD_ADDR_MAX_OLD;
    }
    k->initrd_limit += 1;

    relocatable = img[HDR_RELOCATABLE] != 0;
    if (k->version >= 0x020a) {
        pref = le64_load(img + HDR_PREF_ADDRESS);
        init_size = le32_load(img + HDR_INIT_SIZE);
    }
    payload = k->len - k->setup_size;
    need = MAX(payload, init_size);

    /* The preferred address when the kernel may be moved there and it
     * fits, else the classic 1 MiB. */
    if (relocatable && pref >= LAYOUT_HIGH_MEM_START &&
        pref < low_end && need <= low_end - pref) {
        k->kernel_start = pref;
    } else {
        k->kernel_start = LAYOUT_HIGH_MEM_START;
    }
    if (k->kernel_start >= low_end || need > low_end - k->kernel_start) {
        return error_too_large(k, errp);
    }
    k->kernel_end = k->kernel_start + need;
    k->entry = k->kernel_start + BZIMAGE_ENTRY64_OFFSET;
    return true;
}

/* ------------------------------------------------------------------ */
/* ELF                                                                  */

static void elf_phdr(const KernelPlan *k, unsigned int i, ElfPhdr *ph)
{
    const uint8_t *p = k->img + k->phoff + (uint64_t)i * k->phentsize;

    if (k->elf64) {
        ph->type = le32_load(p + 0);
        ph->offset = le64_load(p + 8);
        ph->vaddr = le64_load(p + 16);
        ph->paddr = le64_load(p + 24);
        ph->filesz = le64_load(p + 32);
        ph->memsz = le64_load(p + 40);
        ph->align = le64_load(p + 48);
    } else {
        ph->type = le32_load(p + 0);
        ph->offset = le32_load(p + 4);
        ph->vaddr = le32_load(p + 8);
        ph->paddr = le32_load(p + 12);
        ph->filesz = le32_load(p + 16);
        ph->memsz = le32_load(p + 20);
        ph->align = le32_load(p + 28);
    }
}

/*
 * Looks for the XEN_ELFNOTE_PHYS32_ENTRY note in the PT_NOTE segments.
 * Returns false with @errp set on a malformed segment; *@found tells
 * whether the note was there.
 */
static bool elf_find_pvh_entry(const KernelPlan *k, bool *found,
                               uint64_t *entry, GError **errp)
{
    *found = false;
    for (unsigned int i = 0; i < k->phnum; i++) {
        ElfPhdr ph;
        uint64_t pos, end, align;

        elf_phdr(k, i, &ph);
        if (ph.type != PT_NOTE) {
            continue;
        }
        if (!in_bounds(k->len, ph.offset, ph.filesz)) {
            return error_truncated(k, errp);
        }
        align = ph.align == 8 ? 8 : 4;
        pos = ph.offset;
        end = ph.offset + ph.filesz;
        while (end - pos >= 12) {
            uint32_t namesz = le32_load(k->img + pos);
            uint32_t descsz = le32_load(k->img + pos + 4);
            uint32_t type = le32_load(k->img + pos + 8);
            uint64_t name = pos + 12;
            uint64_t desc = name + ALIGN_UP((uint64_t)namesz, align);
            uint64_t next = desc + ALIGN_UP((uint64_t)descsz, align);

            if (desc > end || descsz > end - desc) {
                break;                  /* a torn note: stop looking */
            }
            if (namesz == 4 && !memcmp(k->img + name, "Xen", 4) &&
                type == XEN_ELFNOTE_PHYS32_ENTRY &&
                (descsz == 4 || descsz == 8)) {
                *entry = descsz == 4 ? le32_load(k->img + desc) :
                                       le64_load(k->img + desc);
                if (*entry > UINT32_MAX) {
                    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                                "kernel '%s' has a PVH entry point above "
                                "4 GiB (0x%" PRIx64 ")", k->name, *entry);
                    return false;
                }
                *found = true;
                return true;
            }
            if (next >= end) {
                break;
            }
            pos = next;
        }
    }
    return true;
}

/* Translates @addr to guest-physical through the loadable segments:
 * a physical address inside one stays; a virtual one is moved by the
 * segment's vaddr - paddr offset. */
static bool elf_phys_addr(const KernelPlan *k, uint64_t addr, uint64_t *phys)
{
    for (int pass = 0; pass < 2; pass++) {
        for (unsigned int i = 0; i < k->phnum; i++) {
            ElfPhdr ph;
            uint64_t base;

            elf_phdr(k, i, &ph);
            base = pass == 0 ? ph.paddr : ph.vaddr;
            if (ph.type == PT_LOAD && addr >= base &&
                addr - base < ph.memsz) {
                *phys = addr - base + ph.paddr;
                return true;
            }
        }
    }
    return false;
}

static bool elf_plan(const MemMap *map, const BootSpec *spec, KernelPlan *k,
                     GError **errp)
{
    const uint8_t *img = k->img;
    uint64_t e_entry, pvh_entry = 0;
    unsigned int machine, nr_load = 0;
    bool has_pvh;

    if (k->len <= EI_DATA) {
        return error_truncated(k, errp);
    }
    if (img[EI_CLASS] != ELFCLASS64 && img[EI_CLASS] != ELFCLASS32) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "kernel '%s' is not an x86-64 kernel (ELF class %u)",
                    k->name, img[EI_CLASS]);
        return false;
    }
    if (img[EI_DATA] != ELFDATA2LSB) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "kernel '%s' is not an x86-64 kernel (big-endian ELF)",
                    k->name);
        return false;
    }
    k->elf64 = img[EI_CLASS] == ELFCLASS64;
    if (k->len < (k->elf64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr))) {
        return error_truncated(k, errp);
    }
    machine = le16_load(img + 18);
    if (k->elf64 ? machine != EM_X86_64 :
                   machine != EM_386 && machine != EM_X86_64) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "kernel '%s' is not an x86-64 kernel (ELF machine %u)",
                    k->name, machine);
        return false;
    }
    if (le16_load(img + 16) != ET_EXEC && le16_load(img + 16) != ET_DYN) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "kernel '%s' is not an executable ELF file (ELF type %u)",
                    k->name, le16_load(img + 16));
        return false;
    }
    if (k->elf64) {
        e_entry = le64_load(img + 24);
        k->phoff = le64_load(img + 32);
        k->phentsize = le16_load(img + 54);
        k->phnum = le16_load(img + 56);
    } else {
        e_entry = le32_load(img + 24);
        k->phoff = le32_load(img + 28);
        k->phentsize = le16_load(img + 42);
        k->phnum = le16_load(img + 44);
    }
    if (k->phentsize < (k->elf64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr))) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "kernel '%s' has an invalid ELF program header size (%u)",
                    k->name, k->phentsize);
        return false;
    }
    if (!in_bounds(k->len, k->phoff, (uint64_t)k->phnum * k->phentsize)) {
        return error_truncated(k, errp);
    }

    k->kernel_start = UINT64_MAX;
    k->kernel_end = 0;
    for (unsigned int i = 0; i < k->phnum; i++) {
        ElfPhdr ph;

        elf_phdr(k, i, &ph);
        if (ph.type != PT_LOAD || ph.memsz == 0) {
            continue;
        }
        if (ph.filesz > ph.memsz) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "kernel '%s' has an invalid segment at 0x%" PRIx64
                        ": its file size exceeds its memory size",
                        k->name, ph.paddr);
            return false;
        }
        if (!in_bounds(k->len, ph.offset, ph.filesz)) {
            return error_truncated(k, errp);
        }
        if (ph.paddr < LAYOUT_HIGH_MEM_START) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "kernel '%s' has a segment at 0x%" PRIx64 ", below "
                        "1 MiB where the boot data lives", k->name, ph.paddr);
            return false;
        }
        if (!memmap_hva(map, ph.paddr, ph.memsz)) {
            return error_too_large(k, errp);
        }
        k->kernel_start = MIN(k->kernel_start, ph.paddr);
        k->kernel_end = MAX(k->kernel_end, ph.paddr + ph.memsz);
        nr_load++;
    }
    if (nr_load == 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "kernel '%s' has no loadable ELF segments", k->name);
        return false;
    }

    if (!elf_find_pvh_entry(k, &has_pvh, &pvh_entry, errp)) {
        return false;
    }
    k->format = KERNEL_ELF;
    if (has_pvh && (spec->prefer_pvh || !k->elf64)) {
        k->mode = BOOT_PVH;
        e_entry = pvh_entry;
    } else if (k->elf64) {
        k->mode = BOOT_LINUX64;
    } else {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "kernel '%s' is not an x86-64 kernel (32-bit ELF without "
                    "a PVH entry note)", k->name);
        return false;
    }
    if (!elf_phys_addr(k, e_entry, &k->entry)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "kernel '%s' has its entry point 0x%" PRIx64 " outside "
                    "its loadable segments", k->name, e_entry);
        return false;
    }
    if (k->mode == BOOT_PVH && k->entry != e_entry) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "kernel '%s' has a PVH entry point 0x%" PRIx64 " that is "
                    "not a physical address it loads", k->name, e_entry);
        return false;
    }
    k->cmdline_max = LAYOUT_CMDLINE_MAX - 1;
    k->initrd_limit = 4 * GiB;
    return true;
}

static void elf_copy(MemMap *map, const KernelPlan *k)
{
    for (unsigned int i = 0; i < k->phnum; i++) {
        ElfPhdr ph;
        uint8_t *dst;

        elf_phdr(k, i, &ph);
        if (ph.type != PT_LOAD || ph.memsz == 0) {
            continue;
        }
        dst = memmap_hva_mut(map, ph.paddr, ph.memsz); /* checked in plan */
        memcpy(dst, k->img + ph.offset, ph.filesz);
        memset(dst + ph.filesz, 0, ph.memsz - ph.filesz);
        memmap_mark_dirty(map, ph.paddr, ph.memsz);
    }
}

/* ------------------------------------------------------------------ */
/* Boot data                                                            */

/* The setup header a bzImage would carry, for a kernel loaded as ELF. */
static void zero_page_synth_header(uint8_t *zp)
{
    le16_store(zp + HDR_BOOT_FLAG, BOOT_FLAG_MAGIC);
    /* "jmp short" over a protocol 2.15 header, which ends at 0x26c */
    zp[HDR_JUMP] = 0xeb;
    zp[HDR_JUMP + 1] = SYNTH_HDR_END - HDR_HEADER;
    le32_store(zp + HDR_HEADER, HDR_MAGIC);
    le16_store(zp + HDR_VERSION, SYNTH_VERSION);
    zp[HDR_LOADFLAGS] = LOADED_HIGH;
    le32_store(zp + HDR_KERNEL_ALIGNMENT, SYNTH_KERNEL_ALIGNMENT);
    le16_store(zp + HDR_XLOADFLAGS, XLF_KERNEL_64);
    le32_store(zp + HDR_INITRD_ADDR_MAX, UINT32_MAX);
    le32_store(zp + HDR_CMDLINE_SIZE, LAYOUT_CMDLINE_MAX - 1);
}

static bool write_zero_page(MemMap *map, const KernelPlan *k,
                            const BootSpec *spec, uint64_t initrd_addr,
                            uint64_t initrd_size, GError **errp)
{
    g_autofree uint8_t *zp = g_malloc0(ZP_SIZE);
    E820Entry e820[E820_MAX];
    unsigned int n;

    if (k->format == KERNEL_BZIMAGE) {
        /* The header as the image has it, up to where it says it ends. */
        size_t end = MIN(k->hdr_end, (size_t)ZP_HDR_LIMIT);

        memcpy(zp + ZP_HDR, k->img + ZP_HDR, end - ZP_HDR);
        le32_store(zp + HDR_CODE32_START, k->kernel_start);
    } else {
        zero_page_synth_header(zp);
    }

    le16_store(zp + HDR_VID_MODE, VID_MODE_NORMAL);
    zp[HDR_TYPE_OF_LOADER] = LOADER_TYPE_UNDEFINED;
    zp[HDR_LOADFLAGS] |= LOADED_HIGH | CAN_USE_HEAP;
    le16_store(zp + HDR_HEAP_END_PTR, HEAP_END_PTR);
    le32_store(zp + HDR_CMD_LINE_PTR, (uint32_t)LAYOUT_CMDLINE);
    le32_store(zp + ZP_EXT_CMD_LINE_PTR, (uint32_t)(LAYOUT_CMDLINE >> 32));
    le32_store(zp + HDR_RAMDISK_IMAGE, (uint32_t)initrd_addr);
    le32_store(zp + HDR_RAMDISK_SIZE, (uint32_t)initrd_size);
    le32_store(zp + ZP_EXT_RAMDISK_IMAGE, (uint32_t)(initrd_addr >> 32));
    le32_store(zp + ZP_EXT_RAMDISK_SIZE, (uint32_t)(initrd_size >> 32));
    if (spec->rsdp_gpa && (k->format != KERNEL_BZIMAGE ||
                           k->version >= 0x020e)) {
        le64_store(zp + ZP_ACPI_RSDP_ADDR, spec->rsdp_gpa);
    }

    n = loader_build_e820(map, e820, E820_MAX);
    zp[ZP_E820_ENTRIES] = n;
    for (unsigned int i = 0; i < n; i++) {
        uint8_t *e = zp + ZP_E820_TABLE + i * ZP_E820_ENTRY_SIZE;

        le64_store(e, e820[i].addr);
        le64_store(e + 8, e820[i].size);
        le32_store(e + 16, e820[i].type);
    }

    if (!memmap_write(map, LAYOUT_BOOT_PARAMS, zp, ZP_SIZE)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "guest memory is too small for the boot parameters of "
                    "kernel '%s'", k->name);
        return false;
    }
    return true;
}

static bool write_pvh_start_info(MemMap *map, const KernelPlan *k,
                                 const BootSpec *spec, uint64_t initrd_addr,
                                 uint64_t initrd_size, GError **errp)
{
    uint8_t info[PVH_START_INFO_SIZE] = { 0 };
    uint8_t mod[PVH_MODLIST_ENTRY_SIZE] = { 0 };
    uint8_t memmap[E820_MAX * PVH_MEMMAP_ENTRY_SIZE] = { 0 };
    E820Entry e820[E820_MAX];
    unsigned int n = loader_build_e820(map, e820, E820_MAX);
    bool ok;

    for (unsigned int i = 0; i < n; i++) {
        uint8_t *e = memmap + i * PVH_MEMMAP_ENTRY_SIZE;

        le64_store(e, e820[i].addr);
        le64_store(e + 8, e820[i].size);
        le32_store(e + 16, e820[i].type);
    }
    le32_store(info + 0, PVH_START_MAGIC);
    le32_store(info + 4, 1);                          /* version */
    if (initrd_size) {
        le32_store(info + 12, 1);                     /* nr_modules */
        le64_store(info + 16, PVH_MODLIST);
        le64_store(mod + 0, initrd_addr);
        le64_store(mod + 8, initrd_size);
    }
    le64_store(info + 24, LAYOUT_CMDLINE);
    le64_store(info + 32, spec->rsdp_gpa);
    le64_store(info + 40, LAYOUT_PVH_MEMMAP);
    le32_store(info + 48, n);

    ok = memmap_write(map, LAYOUT_BOOT_PARAMS, info, sizeof(info)) &&
         memmap_write(map, PVH_MODLIST, mod, sizeof(mod)) &&
         memmap_write(map, LAYOUT_PVH_MEMMAP, memmap,
                      n * PVH_MEMMAP_ENTRY_SIZE);
    if (!ok) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "guest memory is too small for the boot parameters of "
                    "kernel '%s'", k->name);
    }
    return ok;
}

/* The highest page-aligned place for the initrd, above the kernel. */
static bool place_initrd(const MemMap *map, const KernelPlan *k,
                         const char *name, size_t size, uint64_t *addr,
                         GError **errp)
{
    uint64_t limit = MIN(k->initrd_limit, memmap_low_ram_end(map));
    uint64_t lowest = ALIGN_UP(k->kernel_end, PAGE_SIZE);
    uint64_t room = limit > lowest ? limit - lowest : 0;

    if (size > room) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "initrd '%s' is too large for guest memory (%zu bytes, "
                    "at most %" PRIu64 " fit)", name, size, room);
        return false;
    }
    *addr = ALIGN_DOWN(limit - size, PAGE_SIZE);
    return true;
}

/* ------------------------------------------------------------------ */
/* Entry points                                                         */

static bool kernel_plan(const MemMap *map, const BootSpec *spec,
                        KernelPlan *k, GError **errp)
{
    if (k->len == 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "kernel '%s' is empty", k->name);
        return false;
    }
    if (k->len >= SELFMAG && !memcmp(k->img, ELFMAG, SELFMAG)) {
        return elf_plan(map, spec, k, errp);
    }
    if (k->len >= HDR_HEADER + 4 && le32_load(k->img + HDR_HEADER) == HDR_MAGIC) {
        return bzimage_plan(map, k, errp);
    }
    if (k->len >= HDR_BOOT_FLAG + 2 && k->len < HDR_HEADER + 4 &&
        le16_load(k->img + HDR_BOOT_FLAG) == BOOT_FLAG_MAGIC) {
        return error_truncated(k, errp);
    }
    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                "kernel '%s' is not a Linux kernel: no bzImage header or "
                "ELF magic", k->name);
    return false;
}

bool loader_load_buf(MemMap *map, const char *name,
                     const uint8_t *kernel, size_t kernel_len,
                     const char *initrd_name,
                     const uint8_t *initrd, size_t initrd_len,
                     const BootSpec *spec, BootEntry *out, GError **errp)
{
    KernelPlan k = { .name = name, .img = kernel, .len = kernel_len };
    const char *cmdline = spec->cmdline ? spec->cmdline : "";
    size_t cmdline_len = strlen(cmdline);
    uint64_t initrd_addr = 0;
    bool ok;

    if (!initrd) {
        initrd_len = 0;
    }
    if (!kernel_plan(map, spec, &k, errp)) {
        return false;
    }
    if (cmdline_len > k.cmdline_max) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "the kernel command line is too long for kernel '%s' "
                    "(%zu bytes, at most %" PRIu64 ")", name, cmdline_len,
                    k.cmdline_max);
        return false;
    }
    if (initrd_len &&
        !place_initrd(map, &k, initrd_name ? initrd_name : "(initrd)",
                      initrd_len, &initrd_addr, errp)) {
        return false;
    }

    /* Everything is decided: write. */
    if (k.format == KERNEL_BZIMAGE) {
        ok = memmap_write(map, k.kernel_start, kernel + k.setup_size,
                          kernel_len - k.setup_size);
        g_assert(ok);                           /* checked in the plan */
    } else {
        elf_copy(map, &k);
    }
    if (!memmap_write(map, LAYOUT_CMDLINE, cmdline, cmdline_len + 1)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "guest memory is too small for the command line of "
                    "kernel '%s'", name);
        return false;
    }
    if (initrd_len) {
        ok = memmap_write(map, initrd_addr, initrd, initrd_len);
        g_assert(ok);                           /* checked in place_initrd */
    }
    if (k.mode == BOOT_PVH) {
        ok = write_pvh_start_info(map, &k, spec, initrd_addr, initrd_len,
                                  errp);
    } else {
        ok = write_zero_page(map, &k, spec, initrd_addr, initrd_len, errp);
    }
    if (!ok) {
        return false;
    }

    *out = (BootEntry) {
        .mode = k.mode,
        .format = k.format,
        .entry = k.entry,
        .boot_info = LAYOUT_BOOT_PARAMS,
        .kernel_start = k.kernel_start,
        .kernel_end = k.kernel_end,
        .initrd_start = initrd_addr,
        .initrd_size = initrd_len,
    };
    return true;
}

const char *loader_file_kind(unsigned int mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG:
        return "a regular file";
    case S_IFDIR:
        return "a directory";
    case S_IFIFO:
        return "a FIFO";
    case S_IFCHR:
        return "a character device";
    case S_IFBLK:
        return "a block device";
    case S_IFSOCK:
        return "a socket";
    case S_IFLNK:
        return "a symbolic link";
    default:
        return "a file of unknown type";
    }
}

/*
 * Reads all of @path. @what ("kernel", "initrd") names it in messages;
 * files larger than @max are refused before anything is read.
 */
static uint8_t *read_image(const char *what, const char *path, uint64_t max,
                           size_t *len, GError **errp)
{
    g_autofree uint8_t *data = NULL;
    struct stat st;
    size_t done = 0;
    int fd;

    /* O_NONBLOCK: opening a FIFO with no writer (or a tty, a tape) must
     * not hang; what it is gets refused just below. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        int saved = errno;

        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "could not open %s '%s': %s", what, path,
                    g_strerror(saved));
        return NULL;
    }
    if (fstat(fd, &st) < 0) {
        int saved = errno;

        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "could not read %s '%s': %s", what, path,
                    g_strerror(saved));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "%s '%s' is %s, not a regular file", what, path,
                    loader_file_kind(st.st_mode));
        close(fd);
        return NULL;
    }
    /* A regular file: plain blocking reads from here on. */
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
        int saved = errno;

        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "could not read %s '%s': %s", what, path,
                    g_strerror(saved));
        close(fd);
        return NULL;
    }
    if ((uint64_t)st.st_size > max) {
        if (!strcmp(what, "kernel")) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "kernel '%s' is too large for guest memory", path);
        } else {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "%s '%s' is too large for guest memory (%" PRIu64
                        " bytes, at most %" PRIu64 " fit)", what, path,
                        (uint64_t)st.st_size, max);
        }
        close(fd);
        return NULL;
    }
    data = g_try_malloc(MAX(st.st_size, 1));
    if (!data) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_NOMEM,
                    "could not read %s '%s': out of memory", what, path);
        close(fd);
        return NULL;
    }
    while (done < (size_t)st.st_size) {
        ssize_t r = read(fd, data + done, st.st_size - done);

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "could not read %s '%s': %s", what, path,
                        r < 0 ? g_strerror(errno) :
                        "it became shorter while being read");
            close(fd);
            return NULL;
        }
        done += r;
    }
    close(fd);
    *len = done;
    return g_steal_pointer(&data);
}

bool loader_load(MemMap *map, const BootSpec *spec, BootEntry *out,
                 GError **errp)
{
    g_autofree uint8_t *kernel = NULL;
    g_autofree uint8_t *initrd = NULL;
    size_t kernel_len = 0, initrd_len = 0;

    kernel = read_image("kernel", spec->kernel_path, map->ram_size,
                        &kernel_len, errp);
    if (!kernel) {
        return false;
    }
    if (spec->initrd_path) {
        initrd = read_image("initrd", spec->initrd_path,
                            memmap_low_ram_end(map), &initrd_len, errp);
        if (!initrd) {
            return false;
        }
    }
    return loader_load_buf(map, spec->kernel_path, kernel, kernel_len,
                           spec->initrd_path, initrd, initrd_len, spec, out,
                           errp);
}
