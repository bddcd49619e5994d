/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Kernel loader with synthetic images built here: a minimal bzImage, ELF64
 * and ELF32 kernels with and without a PVH note, broken and hostile
 * variants, and e820 maps for small and large guests (hand-made MemMaps,
 * nothing of GiB size is allocated).
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "bytes.h"
#include "error.h"
#include "layout.h"
#include "loader.h"
#include "memmap.h"

#define RAM_SIZE        (64 * MiB)
#define CANARY          0xaa

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

typedef struct {
    uint8_t *ram;
    uint64_t size;
    MemMap *map;
} Guest;

static void guest_init(Guest *g, uint64_t size)
{
    g->size = size;
    g->ram = g_malloc(size);
    memset(g->ram, CANARY, size);
    g->map = memmap_new_from_buffer(g->ram, size);
}

static void guest_fini(Guest *g)
{
    memmap_free(g->map);
    g_free(g->ram);
}

static bool all_canary(const Guest *g)
{
    for (uint64_t i = 0; i < g->size; i++) {
        if (g->ram[i] != CANARY) {
            return false;
        }
    }
    return true;
}

static uint8_t pattern(size_t i)
{
    return (i * 7 + 3) & 0xff;
}

/* ------------------------------------------------------------------ */
/* Synthetic bzImage                                                    */

typedef struct {
    uint16_t version;
    uint8_t setup_sects;
    uint8_t loadflags;
    uint16_t xloadflags;
    uint8_t relocatable;
    uint64_t pref_address;
    uint32_t init_size;
    uint32_t cmdline_size;
    uint32_t initrd_addr_max;
    size_t payload;
} BzParams;

static const BzParams bz_default = {
    .version = 0x020f,
    .setup_sects = 4,
    .loadflags = 0x01,
    .xloadflags = 0x01,
    .relocatable = 1,
    .pref_address = 0x1000000,
    .init_size = 0x10000,
    .cmdline_size = 2047,
    .initrd_addr_max = 0x7fffffff,
    .payload = 8192,
};

static uint8_t *make_bzimage(const BzParams *p, size_t *len)
{
    size_t setup = ((p->setup_sects ? p->setup_sects : 4) + 1) * 512;
    uint8_t *img = g_malloc0(setup + p->payload);

    img[0x1f1] = p->setup_sects;
    le16_store(img + 0x1fe, 0xaa55);
    img[0x200] = 0xeb;
    img[0x201] = 0x6a;                          /* header ends at 0x26c */
    memcpy(img + 0x202, "HdrS", 4);
    le16_store(img + 0x206, p->version);
    img[0x211] = p->loadflags;
    le32_store(img + 0x22c, p->initrd_addr_max);
    le32_store(img + 0x230, 0x200000);
    img[0x234] = p->relocatable;
    le16_store(img + 0x236, p->xloadflags);
    le32_store(img + 0x238, p->cmdline_size);
    le64_store(img + 0x258, p->pref_address);
    le32_store(img + 0x260, p->init_size);
    for (size_t i = 0; i < p->payload; i++) {
        img[setup + i] = pattern(i);
    }
    *len = setup + p->payload;
    return img;
}

/* ------------------------------------------------------------------ */
/* Synthetic ELF                                                        */

typedef struct {
    uint64_t paddr, vaddr, filesz, memsz;
} SegParams;

typedef struct {
    bool elf64;
    uint16_t machine;
    uint64_t entry;
    unsigned int nr_segs;
    SegParams segs[2];
    bool pvh;
    uint64_t pvh_entry;
    unsigned int pvh_descsz;
} ElfParams;

static const ElfParams elf_default = {
    .elf64 = true,
    .machine = 62,                              /* EM_X86_64 */
    .entry = 0x1000000,
    .nr_segs = 2,
    .segs = {
        { 0x1000000, 0xffffffff81000000ULL, 0x3000, 0x3000 },
        { 0x1004000, 0xffffffff81004000ULL, 0x1000, 0x5000 },  /* bss */
    },
    .pvh = true,
    .pvh_entry = 0x1000040,
    .pvh_descsz = 8,
};

/* An unrelated note before the PVH one, as real kernels have. */
static size_t put_note(uint8_t *p, const char *name, uint32_t type,
                       const uint8_t *desc, uint32_t descsz)
{
    uint32_t namesz = strlen(name) + 1;
    size_t off = 12;

    le32_store(p, namesz);
    le32_store(p + 4, descsz);
    le32_store(p + 8, type);
    memcpy(p + off, name, namesz);
    off += (namesz + 3) & ~3u;
    memcpy(p + off, desc, descsz);
    off += (descsz + 3) & ~3u;
    return off;
}

static uint8_t *make_elf(const ElfParams *e, size_t *len)
{
    size_t ehsize = e->elf64 ? 64 : 52;
    size_t phsize = e->elf64 ? 56 : 32;
    unsigned int phnum = e->nr_segs + 1;        /* + PT_NOTE */
    size_t note_off = ehsize + phnum * phsize;
    size_t data_off = note_off + 256;
    size_t total = data_off;
    size_t note_len = 0;
    uint8_t *img;
    uint8_t desc[8];

    for (unsigned int i = 0; i < e->nr_segs; i++) {
        total += e->segs[i].filesz;
    }
    img = g_malloc0(total);
    memcpy(img, "\x7f" "ELF", 4);
    img[4] = e->elf64 ? 2 : 1;
    img[5] = 1;
    img[6] = 1;
    le16_store(img + 16, 2);                          /* ET_EXEC */
    le16_store(img + 18, e->machine);
    le32_store(img + 20, 1);

    /* Notes */
    le64_store(desc, 0x1234);
    note_len += put_note(img + note_off, "GNU", 3, desc, 4);
    if (e->pvh) {
        le64_store(desc, e->pvh_entry);
        note_len += put_note(img + note_off + note_len, "Xen", 18, desc,
                             e->pvh_descsz);
    }

    if (e->elf64) {
        le64_store(img + 24, e->entry);
        le64_store(img + 32, ehsize);
        le16_store(img + 52, ehsize);
        le16_store(img + 54, phsize);
        le16_store(img + 56, phnum);
    } else {
        le32_store(img + 24, e->entry);
        le32_store(img + 28, ehsize);
        le16_store(img + 40, ehsize);
        le16_store(img + 42, phsize);
        le16_store(img + 44, phnum);
    }

    for (unsigned int i = 0; i < phnum; i++) {
        uint8_t *ph = img + ehsize + i * phsize;
        bool note = i == e->nr_segs;
        uint32_t type = note ? 4 : 1;           /* PT_NOTE : PT_LOAD */
        uint64_t off = note ? note_off : data_off;
        uint64_t paddr = note ? 0 : e->segs[i].paddr;
        uint64_t vaddr = note ? 0 : e->segs[i].vaddr;
        uint64_t filesz = note ? note_len : e->segs[i].filesz;
        uint64_t memsz = note ? 0 : e->segs[i].memsz;

        if (e->elf64) {
            le32_store(ph, type);
            le32_store(ph + 4, 5);
            le64_store(ph + 8, off);
            le64_store(ph + 16, vaddr);
            le64_store(ph + 24, paddr);
            le64_store(ph + 32, filesz);
            le64_store(ph + 40, memsz);
            le64_store(ph + 48, note ? 4 : 0x200000);
        } else {
            le32_store(ph, type);
            le32_store(ph + 4, off);
            le32_store(ph + 8, vaddr);
            le32_store(ph + 12, paddr);
            le32_store(ph + 16, filesz);
            le32_store(ph + 20, memsz);
            le32_store(ph + 24, 5);
            le32_store(ph + 28, note ? 4 : 0x1000);
        }
        if (!note) {
            for (uint64_t j = 0; j < filesz; j++) {
                img[data_off + j] = pattern(j + i);
            }
            data_off += filesz;
        }
    }
    *len = total;
    return img;
}

/* ------------------------------------------------------------------ */
/* e820                                                                 */

static void fake_map(MemMap *map, uint64_t ram)
{
    memset(map, 0, sizeof(*map));
    map->fd = -1;
    map->ram_size = ram;
    map->nr_regions = 1;
    map->regions[0].size = MIN(ram, LAYOUT_LOW_RAM_MAX);
    if (ram > LAYOUT_LOW_RAM_MAX) {
        map->nr_regions = 2;
        map->regions[1].gpa = LAYOUT_HIGH_RAM_START;
        map->regions[1].size = ram - LAYOUT_LOW_RAM_MAX;
    }
}

static void assert_e820(const E820Entry *e, uint64_t addr, uint64_t size,
                        uint32_t type)
{
    g_assert_cmphex(e->addr, ==, addr);
    g_assert_cmphex(e->size, ==, size);
    g_assert_cmpuint(e->type, ==, type);
}

static void assert_sorted(const E820Entry *e, unsigned int n)
{
    for (unsigned int i = 1; i < n; i++) {
        g_assert_cmphex(e[i - 1].addr + e[i - 1].size, <=, e[i].addr);
    }
}

static void test_e820(void)
{
    E820Entry e[E820_MAX];
    MemMap map;
    unsigned int n;

    fake_map(&map, 128 * MiB);
    n = loader_build_e820(&map, e, E820_MAX);
    g_assert_cmpuint(n, ==, 5);
    assert_e820(&e[0], 0, LAYOUT_EBDA_START, E820_RAM);
    assert_e820(&e[1], LAYOUT_EBDA_START, MiB - LAYOUT_EBDA_START,
                E820_RESERVED);
    assert_e820(&e[2], MiB, 127 * MiB, E820_RAM);
    assert_e820(&e[3], LAYOUT_ECAM_START, LAYOUT_ECAM_SIZE, E820_RESERVED);
    assert_e820(&e[4], LAYOUT_KVM_IDENTITY_MAP, 4 * 4096, E820_RESERVED);
    assert_sorted(e, n);

    fake_map(&map, 3 * GiB);
    n = loader_build_e820(&map, e, E820_MAX);
    g_assert_cmpuint(n, ==, 5);
    assert_e820(&e[2], MiB, 3 * GiB - MiB, E820_RAM);
    assert_sorted(e, n);

    fake_map(&map, 5 * GiB);
    n = loader_build_e820(&map, e, E820_MAX);
    g_assert_cmpuint(n, ==, 6);
    assert_e820(&e[2], MiB, 3 * GiB - MiB, E820_RAM);
    assert_e820(&e[3], LAYOUT_ECAM_START, LAYOUT_ECAM_SIZE, E820_RESERVED);
    assert_e820(&e[4], LAYOUT_KVM_IDENTITY_MAP, 4 * 4096, E820_RESERVED);
    assert_e820(&e[5], 4 * GiB, 2 * GiB, E820_RAM);
    assert_sorted(e, n);

    /* A short output array is filled, never overrun. */
    n = loader_build_e820(&map, e, 2);
    g_assert_cmpuint(n, ==, 2);
}

/* ------------------------------------------------------------------ */
/* bzImage                                                              */

static bool load(Guest *g, const uint8_t *img, size_t len,
                 const uint8_t *initrd, size_t initrd_len,
                 const BootSpec *spec, BootEntry *be, GError **errp)
{
    return loader_load_buf(g->map, "/k", img, len, "/i", initrd, initrd_len,
                           spec, be, errp);
}

static void assert_zero_page_common(const Guest *g, const char *cmdline)
{
    const uint8_t *zp = g->ram + LAYOUT_BOOT_PARAMS;
    E820Entry e[E820_MAX];
    unsigned int n = loader_build_e820(g->map, e, E820_MAX);

    g_assert_cmpuint(zp[0x210], ==, 0xff);              /* type_of_loader */
    g_assert_true(zp[0x211] & 0x01);                    /* LOADED_HIGH */
    g_assert_true(zp[0x211] & 0x80);                    /* CAN_USE_HEAP */
    g_assert_cmphex(le32_load(zp + 0x228), ==, LAYOUT_CMDLINE);
    g_assert_cmphex(le32_load(zp + 0x0c8), ==, 0);
    g_assert_cmpstr((const char *)g->ram + LAYOUT_CMDLINE, ==, cmdline);
    g_assert_cmphex(le16_load(zp + 0x1fe), ==, 0xaa55);
    g_assert_cmpmem(zp + 0x202, 4, "HdrS", 4);
    g_assert_cmpuint(le16_load(zp + 0x1fa), ==, 0xffff);     /* vid_mode */
    g_assert_cmpuint(zp[0x1e8], ==, n);
    for (unsigned int i = 0; i < n; i++) {
        const uint8_t *ent = zp + 0x2d0 + 20 * i;

        g_assert_cmphex(le64_load(ent), ==, e[i].addr);
        g_assert_cmphex(le64_load(ent + 8), ==, e[i].size);
        g_assert_cmpuint(le32_load(ent + 16), ==, e[i].type);
    }
}

static void test_bzimage(void)
{
    Guest g;
    size_t len;
    g_autofree uint8_t *img = make_bzimage(&bz_default, &len);
    g_autofree uint8_t *initrd = g_malloc(100000);
    BootSpec spec = { .cmdline = "console=ttyS0 root=/dev/vda",
                      .rsdp_gpa = LAYOUT_ACPI_START };
    g_autoptr(GError) err = NULL;
    BootEntry be;
    const uint8_t *zp;
    uint64_t expect_initrd;

    for (size_t i = 0; i < 100000; i++) {
        initrd[i] = i * 13;
    }
    guest_init(&g, RAM_SIZE);
    g_assert_true(load(&g, img, len, initrd, 100000, &spec, &be, &err));
    g_assert_no_error(err);

    g_assert_cmpuint(be.mode, ==, BOOT_LINUX64);
    g_assert_cmpuint(be.format, ==, KERNEL_BZIMAGE);
    g_assert_cmphex(be.kernel_start, ==, 0x1000000);    /* pref_address */
    g_assert_cmphex(be.entry, ==, 0x1000000 + 0x200);
    g_assert_cmphex(be.boot_info, ==, LAYOUT_BOOT_PARAMS);
    g_assert_cmphex(be.kernel_end, ==, 0x1000000 + 0x10000); /* init_size */
    g_assert_cmpmem(g.ram + 0x1000000, 8192, img + 5 * 512, 8192);

    /* initrd: page-aligned, as high as possible in low RAM */
    expect_initrd = (RAM_SIZE - 100000) & ~0xfffULL;
    g_assert_cmphex(be.initrd_start, ==, expect_initrd);
    g_assert_cmpuint(be.initrd_size, ==, 100000);
    g_assert_cmpmem(g.ram + expect_initrd, 100000, initrd, 100000);

    zp = g.ram + LAYOUT_BOOT_PARAMS;
    assert_zero_page_common(&g, spec.cmdline);
    g_assert_cmpuint(zp[0x1f1], ==, 4);                 /* copied header */
    g_assert_cmphex(le16_load(zp + 0x206), ==, 0x020f);
    g_assert_cmphex(le32_load(zp + 0x238), ==, 2047);
    g_assert_cmphex(le32_load(zp + 0x218), ==, expect_initrd);
    g_assert_cmpuint(le32_load(zp + 0x21c), ==, 100000);
    g_assert_cmphex(le32_load(zp + 0x0c0), ==, 0);
    g_assert_cmphex(le64_load(zp + 0x070), ==, LAYOUT_ACPI_START);
    g_assert_cmpuint(zp[0x1e8], ==, 5);
    /* Nothing of the image past the header end leaks into the zero page */
    g_assert_cmpuint(zp[0x26c], ==, 0);
    guest_fini(&g);
}

static void test_bzimage_low(void)
{
    Guest g;
    BzParams p = bz_default;
    size_t len;
    g_autofree uint8_t *img = NULL;
    g_autoptr(GError) err = NULL;
    BootSpec spec = { 0 };
    BootEntry be;

    /* Not relocatable: at 1 MiB. */
    p.relocatable = 0;
    img = make_bzimage(&p, &len);
    guest_init(&g, RAM_SIZE);
    g_assert_true(load(&g, img, len, NULL, 0, &spec, &be, &err));
    g_assert_cmphex(be.kernel_start, ==, MiB);
    g_assert_cmphex(be.entry, ==, MiB + 0x200);
    g_assert_cmpuint(be.initrd_size, ==, 0);
    assert_zero_page_common(&g, "");
    /* Protocol 2.14+ only gets the RSDP, and only when there is one. */
    g_assert_cmphex(le64_load(g.ram + LAYOUT_BOOT_PARAMS + 0x70), ==, 0);
    guest_fini(&g);
    g_free(img);

    /* pref_address + init_size beyond RAM: at 1 MiB too. */
    p = bz_default;
    p.init_size = 60 * MiB;
    img = make_bzimage(&p, &len);
    guest_init(&g, RAM_SIZE);
    g_assert_true(load(&g, img, len, NULL, 0, &spec, &be, &err));
    g_assert_cmphex(be.kernel_start, ==, MiB);
    guest_fini(&g);
    g_free(img);

    /* setup_sects 0 means 4; protocol 2.12 gets no RSDP field */
    p = bz_default;
    p.setup_sects = 0;
    p.version = 0x020c;
    img = make_bzimage(&p, &len);
    guest_init(&g, RAM_SIZE);
    spec.rsdp_gpa = LAYOUT_ACPI_START;
    g_assert_true(load(&g, img, len, NULL, 0, &spec, &be, &err));
    g_assert_cmpmem(g.ram + be.kernel_start, 8192, img + 5 * 512, 8192);
    g_assert_cmphex(le64_load(g.ram + LAYOUT_BOOT_PARAMS + 0x70), ==, 0);
    guest_fini(&g);
}

/* Loading @img must fail with @msg, leaving guest memory untouched. */
static void expect_error(const uint8_t *img, size_t len, const uint8_t *initrd,
                         size_t initrd_len, const BootSpec *spec,
                         uint64_t ram, const char *msg)
{
    Guest g;
    g_autoptr(GError) err = NULL;
    BootEntry be;

    guest_init(&g, ram);
    g_assert_false(load(&g, img, len, initrd, initrd_len, spec, &be, &err));
    g_assert_nonnull(err);
    g_assert_true(err->domain == KESTREL_ERROR);
    if (strcmp(err->message, msg)) {
        g_test_message("got \"%s\", expected \"%s\"", err->message, msg);
        g_test_fail();
    }
    g_assert_true(all_canary(&g));
    guest_fini(&g);
}

static void expect_bz_error(const BzParams *p, const BootSpec *spec,
                            const char *msg)
{
    size_t len;
    g_autofree uint8_t *img = make_bzimage(p, &len);

    expect_error(img, len, NULL, 0, spec, RAM_SIZE, msg);
}

static void test_bzimage_errors(void)
{
    BootSpec spec = { 0 };
    BzParams p;
    size_t len;
    g_autofree uint8_t *img = NULL;

    p = bz_default;
    p.version = 0x0205;
    expect_bz_error(&p, &spec, "kernel '/k' uses boot protocol 2.05, older "
                    "than the 2.06 this loader requires");

    p = bz_default;
    p.loadflags = 0;
    expect_bz_error(&p, &spec, "kernel '/k' is a zImage, which is not "
                    "supported: only bzImage kernels (loaded high) are");

    p = bz_default;
    p.xloadflags = 0;
    expect_bz_error(&p, &spec, "kernel '/k' has no 64-bit entry point (boot "
                    "protocol 2.12 or later with XLF_KERNEL_64 is required)");

    p = bz_default;
    p.version = 0x020b;
    expect_bz_error(&p, &spec, "kernel '/k' has no 64-bit entry point (boot "
                    "protocol 2.12 or later with XLF_KERNEL_64 is required)");

    /* Nothing after the setup code */
    p = bz_default;
    p.payload = 0;
    expect_bz_error(&p, &spec, "kernel '/k' is truncated");

    /* Larger than RAM */
    p = bz_default;
    p.relocatable = 0;
    p.payload = 8 * MiB;
    img = make_bzimage(&p, &len);
    expect_error(img, len, NULL, 0, &spec, 4 * MiB,
                 "kernel '/k' is too large for guest memory");

    /* Cut inside the boot sector */
    expect_error(img, 0x204, NULL, 0, &spec, RAM_SIZE,
                 "kernel '/k' is truncated");
    expect_error(img, 0, NULL, 0, &spec, RAM_SIZE, "kernel '/k' is empty");
}

static void test_cmdline(void)
{
    BzParams p = bz_default;
    g_autofree char *max = g_strnfill(16, 'x');
    g_autofree char *over = g_strnfill(17, 'x');
    g_autofree char *huge = g_strnfill(LAYOUT_CMDLINE_MAX, 'y');
    g_autofree uint8_t *img = NULL;
    g_autofree uint8_t *elf = NULL;
    BootSpec spec = { .cmdline = max };
    g_autoptr(GError) err = NULL;
    size_t len, elf_len;
    BootEntry be;
    Guest g;

    p.cmdline_size = 16;
    img = make_bzimage(&p, &len);
    guest_init(&g, RAM_SIZE);
    g_assert_true(load(&g, img, len, NULL, 0, &spec, &be, &err));
    g_assert_cmpstr((const char *)g.ram + LAYOUT_CMDLINE, ==, max);
    guest_fini(&g);

    spec.cmdline = over;
    expect_error(img, len, NULL, 0, &spec, RAM_SIZE,
                 "the kernel command line is too long for kernel '/k' "
                 "(17 bytes, at most 16)");

    /* ELF kernels: the layout's limit */
    elf = make_elf(&elf_default, &elf_len);
    spec.cmdline = huge;
    expect_error(elf, elf_len, NULL, 0, &spec, RAM_SIZE,
                 "the kernel command line is too long for kernel '/k' "
                 "(65536 bytes, at most 65535)");
    huge[LAYOUT_CMDLINE_MAX - 1] = '\0';
    guest_init(&g, RAM_SIZE);
    g_assert_true(load(&g, elf, elf_len, NULL, 0, &spec, &be, &err));
    g_assert_no_error(err);
    g_assert_cmpstr((const char *)g.ram + LAYOUT_CMDLINE, ==, huge);
    guest_fini(&g);
}

static void test_initrd(void)
{
    BzParams p = bz_default;
    g_autofree uint8_t *img = NULL;
    g_autofree uint8_t *initrd = g_malloc0(64 * MiB);
    BootSpec spec = { 0 };
    g_autoptr(GError) err = NULL;
    g_autofree char *msg = NULL;
    size_t len;
    BootEntry be;
    Guest g;
    uint64_t room;

    /* initrd_addr_max below the end of RAM bounds the placement */
    p.initrd_addr_max = 0x2000000 - 1;
    img = make_bzimage(&p, &len);
    guest_init(&g, RAM_SIZE);
    g_assert_true(load(&g, img, len, initrd, 5000, &spec, &be, &err));
    g_assert_cmphex(be.initrd_start, ==, 0x2000000 - 0x2000);
    g_assert_cmpuint(be.initrd_start % 4096, ==, 0);
    g_assert_cmphex(be.initrd_start, >=, be.kernel_end);
    guest_fini(&g);

    /* Exactly the room between the kernel's end and the limit fits ... */
    room = 0x2000000 - (0x1000000 + 0x10000);
    guest_init(&g, RAM_SIZE);
    g_assert_true(load(&g, img, len, initrd, room, &spec, &be, &err));
    g_assert_cmphex(be.initrd_start, ==, 0x1010000);
    guest_fini(&g);

    /* ... a byte more does not. */
    msg = g_strdup_printf("initrd '/i' is too large for guest memory "
                          "(%" G_GUINT64_FORMAT " bytes, at most %"
                          G_GUINT64_FORMAT " fit)", room + 1, room);
    expect_error(img, len, initrd, room + 1, &spec, RAM_SIZE, msg);

    /* An initrd as large as RAM */
    g_free(img);
    img = make_bzimage(&bz_default, &len);
    g_free(msg);
    msg = g_strdup_printf("initrd '/i' is too large for guest memory "
                          "(%" G_GUINT64_FORMAT " bytes, at most %"
                          G_GUINT64_FORMAT " fit)", 64 * MiB,
                          RAM_SIZE - 0x1010000);
    expect_error(img, len, initrd, 64 * MiB, &spec, RAM_SIZE, msg);
}

/* ------------------------------------------------------------------ */
/* ELF                                                                  */

static void assert_elf_segments(const Guest *g, const ElfParams *e,
                                const uint8_t *img)
{
    size_t data_off = (e->elf64 ? 64 + 3 * 56 : 52 + 3 * 32) + 256;

    for (unsigned int i = 0; i < e->nr_segs; i++) {
        const SegParams *s = &e->segs[i];

        g_assert_cmpmem(g->ram + s->paddr, s->filesz, img + data_off,
                        s->filesz);
        for (uint64_t j = s->filesz; j < s->memsz; j++) {
            g_assert_cmpuint(g->ram[s->paddr + j], ==, 0);   /* bss */
        }
        data_off += s->filesz;
    }
}

static void test_elf_vmlinux(void)
{
    ElfParams e = elf_default;
    g_autofree uint8_t *img = NULL;
    g_autofree uint8_t *initrd = g_malloc0(8192);
    BootSpec spec = { .cmdline = "quiet", .rsdp_gpa = LAYOUT_ACPI_START };
    g_autoptr(GError) err = NULL;
    const uint8_t *zp;
    size_t len;
    BootEntry be;
    Guest g;

    /* Linux's vmlinux: e_entry is physical */
    e.pvh = false;
    img = make_elf(&e, &len);
    guest_init(&g, RAM_SIZE);
    g_assert_true(load(&g, img, len, initrd, 8192, &spec, &be, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(be.mode, ==, BOOT_LINUX64);
    g_assert_cmpuint(be.format, ==, KERNEL_ELF);
    g_assert_cmphex(be.entry, ==, 0x1000000);
    g_assert_cmphex(be.kernel_start, ==, 0x1000000);
    g_assert_cmphex(be.kernel_end, ==, 0x1009000);
    g_assert_cmphex(be.initrd_start, ==, RAM_SIZE - 8192);
    assert_elf_segments(&g, &e, img);

    zp = g.ram + LAYOUT_BOOT_PARAMS;
    assert_zero_page_common(&g, "quiet");
    g_assert_cmphex(le16_load(zp + 0x206), >=, 0x020e);
    g_assert_cmphex(le64_load(zp + 0x070), ==, LAYOUT_ACPI_START);
    g_assert_cmphex(le32_load(zp + 0x218), ==, RAM_SIZE - 8192);
    g_assert_cmpuint(le32_load(zp + 0x21c), ==, 8192);
    g_assert_cmpuint(le32_load(zp + 0x230), !=, 0);         /* kernel_alignment */
    guest_fini(&g);
    g_free(img);

    /* A virtual e_entry is translated through its segment; PVH preferred
     * but no note: the 64-bit entry. */
    e.entry = 0xffffffff81000100ULL;
    img = make_elf(&e, &len);
    guest_init(&g, RAM_SIZE);
    spec.prefer_pvh = true;
    g_assert_true(load(&g, img, len, NULL, 0, &spec, &be, &err));
    g_assert_cmpuint(be.mode, ==, BOOT_LINUX64);
    g_assert_cmphex(be.entry, ==, 0x1000100);
    spec.prefer_pvh = false;
    guest_fini(&g);
    g_free(img);

    /* A PVH note is ignored unless PVH is preferred */
    e = elf_default;
    img = make_elf(&e, &len);
    guest_init(&g, RAM_SIZE);
    g_assert_true(load(&g, img, len, NULL, 0, &spec, &be, &err));
    g_assert_cmpuint(be.mode, ==, BOOT_LINUX64);
    g_assert_cmphex(be.entry, ==, 0x1000000);
    guest_fini(&g);
}

static void assert_pvh(const Guest *g, const BootEntry *be, uint64_t entry,
                       uint64_t initrd_size)
{
    const uint8_t *si = g->ram + LAYOUT_BOOT_PARAMS;
    E820Entry e[E820_MAX];
    unsigned int n = loader_build_e820(g->map, e, E820_MAX);

    g_assert_cmpuint(be->mode, ==, BOOT_PVH);
    g_assert_cmphex(be->entry, ==, entry);
    g_assert_cmphex(be->boot_info, ==, LAYOUT_BOOT_PARAMS);
    g_assert_cmphex(le32_load(si), ==, 0x336ec578);
    g_assert_cmpuint(le32_load(si + 4), ==, 1);
    g_assert_cmphex(le64_load(si + 24), ==, LAYOUT_CMDLINE);
    g_assert_cmphex(le64_load(si + 32), ==, LAYOUT_ACPI_START);
    g_assert_cmphex(le64_load(si + 40), ==, LAYOUT_PVH_MEMMAP);
    g_assert_cmpuint(le32_load(si + 48), ==, n);
    for (unsigned int i = 0; i < n; i++) {
        const uint8_t *m = g->ram + LAYOUT_PVH_MEMMAP + 24 * i;

        g_assert_cmphex(le64_load(m), ==, e[i].addr);
        g_assert_cmphex(le64_load(m + 8), ==, e[i].size);
        g_assert_cmpuint(le32_load(m + 16), ==, e[i].type);
        g_assert_cmpuint(le32_load(m + 20), ==, 0);
    }
    if (initrd_size) {
        uint64_t modlist = le64_load(si + 16);
        const uint8_t *mod;

        g_assert_cmpuint(le32_load(si + 12), ==, 1);
        g_assert_cmphex(modlist, <, LAYOUT_CMDLINE);
        mod = g->ram + modlist;
        g_assert_cmphex(le64_load(mod), ==, be->initrd_start);
        g_assert_cmpuint(le64_load(mod + 8), ==, initrd_size);
    } else {
        g_assert_cmpuint(le32_load(si + 12), ==, 0);
    }
}

static void test_pvh(void)
{
    ElfParams e = elf_default;
    g_autofree uint8_t *img = NULL;
    g_autofree uint8_t *initrd = g_malloc0(4096);
    BootSpec spec = { .cmdline = "console=hvc0", .rsdp_gpa = LAYOUT_ACPI_START,
                      .prefer_pvh = true };
    g_autoptr(GError) err = NULL;
    size_t len;
    BootEntry be;
    Guest g;

    /* ELF64 with the note (Linux's own: an 8-byte descriptor) */
    img = make_elf(&e, &len);
    guest_init(&g, RAM_SIZE);
    g_assert_true(load(&g, img, len, initrd, 4096, &spec, &be, &err));
    g_assert_no_error(err);
    assert_pvh(&g, &be, 0x1000040, 4096);
    assert_elf_segments(&g, &e, img);
    g_assert_cmpstr((const char *)g.ram + LAYOUT_CMDLINE, ==, "console=hvc0");
    guest_fini(&g);
    g_free(img);

    /* ELF32 with a 4-byte note: PVH even when not preferred */
    e.elf64 = false;
    e.machine = 3;                              /* EM_386 */
    e.entry = 0x1000000;
    e.segs[0].vaddr = e.segs[0].paddr;
    e.segs[1].vaddr = e.segs[1].paddr;
    e.pvh_descsz = 4;
    spec.prefer_pvh = false;
    img = make_elf(&e, &len);
    guest_init(&g, RAM_SIZE);
    g_assert_true(load(&g, img, len, NULL, 0, &spec, &be, &err));
    g_assert_no_error(err);
    assert_pvh(&g, &be, 0x1000040, 0);
    assert_elf_segments(&g, &e, img);
    guest_fini(&g);
    g_free(img);

    /* ELF32 without it */
    e.pvh = false;
    img = make_elf(&e, &len);
    expect_error(img, len, NULL, 0, &spec, RAM_SIZE,
                 "kernel '/k' is not an x86-64 kernel (32-bit ELF without a "
                 "PVH entry note)");
}

static void test_elf_errors(void)
{
    ElfParams e;
    g_autofree uint8_t *img = NULL;
    BootSpec spec = { 0 };
    size_t len;

    e = elf_default;
    e.machine = 183;                            /* EM_AARCH64 */
    img = make_elf(&e, &len);
    expect_error(img, len, NULL, 0, &spec, RAM_SIZE,
                 "kernel '/k' is not an x86-64 kernel (ELF machine 183)");
    img[4] = 3;
    expect_error(img, len, NULL, 0, &spec, RAM_SIZE,
                 "kernel '/k' is not an x86-64 kernel (ELF class 3)");
    img[4] = 2;
    img[5] = 2;
    expect_error(img, len, NULL, 0, &spec, RAM_SIZE,
                 "kernel '/k' is not an x86-64 kernel (big-endian ELF)");
    g_free(img);

    e = elf_default;
    e.elf64 = false;
    e.machine = 40;                             /* EM_ARM */
    img = make_elf(&e, &len);
    expect_error(img, len, NULL, 0, &spec, RAM_SIZE,
                 "kernel '/k' is not an x86-64 kernel (ELF machine 40)");
    g_free(img);

    /* Segment beyond RAM */
    e = elf_default;
    e.segs[1].paddr = RAM_SIZE - 0x1000;
    img = make_elf(&e, &len);
    expect_error(img, len, NULL, 0, &spec, RAM_SIZE,
                 "kernel '/k' is too large for guest memory");
    g_free(img);

    /* Segment over the boot data */
    e = elf_default;
    e.segs[0].paddr = 0x7000;
    img = make_elf(&e, &len);
    expect_error(img, len, NULL, 0, &spec, RAM_SIZE,
                 "kernel '/k' has a segment at 0x7000, below 1 MiB where "
                 "the boot data lives");
    g_free(img);

    /* Entry point nowhere */
    e = elf_default;
    e.entry = 0x3000000;
    img = make_elf(&e, &len);
    expect_error(img, len, NULL, 0, &spec, RAM_SIZE,
                 "kernel '/k' has its entry point 0x3000000 outside its "
                 "loadable segments");
    g_free(img);

    /* filesz > memsz */
    e = elf_default;
    e.segs[1].memsz = 0x800;
    img = make_elf(&e, &len);
    expect_error(img, len, NULL, 0, &spec, RAM_SIZE,
                 "kernel '/k' has an invalid segment at 0x1004000: its file "
                 "size exceeds its memory size");
    g_free(img);

    /* Truncated: the last segment's bytes are missing */
    e = elf_default;
    img = make_elf(&e, &len);
    expect_error(img, len - 1, NULL, 0, &spec, RAM_SIZE,
                 "kernel '/k' is truncated");
    expect_error(img, 40, NULL, 0, &spec, RAM_SIZE,
                 "kernel '/k' is truncated");
    /* No loadable segment at all */
    le16_store(img + 56, 0);
    expect_error(img, len, NULL, 0, &spec, RAM_SIZE,
                 "kernel '/k' has no loadable ELF segments");
}

static void test_garbage(void)
{
    uint8_t junk[4096];
    BootSpec spec = { 0 };

    for (size_t i = 0; i < sizeof(junk); i++) {
        junk[i] = (i * 37 + 11) & 0xff;
    }
    expect_error(junk, sizeof(junk), NULL, 0, &spec, 4 * MiB,
                 "kernel '/k' is not a Linux kernel: no bzImage header or "
                 "ELF magic");
    expect_error(junk, 3, NULL, 0, &spec, 4 * MiB,
                 "kernel '/k' is not a Linux kernel: no bzImage header or "
                 "ELF magic");
}

/*
 * Hostile images: every truncation of each valid image, then random
 * corruption of the bytes a loader reads. Must never crash or touch
 * memory it should not (run under ASan/valgrind to see the latter); on
 * failure an error is set and guest memory is untouched.
 */
static bool page_dirty(const MemRegion *r, uint64_t page)
{
    const unsigned int bits = 8 * sizeof(unsigned long);

    return r->dirty[page / bits] & (1UL << (page % bits));
}

static unsigned int fuzz_calls, fuzz_loaded;

static void fuzz_one(Guest *g, const uint8_t *img, size_t len,
                     const BootSpec *spec)
{
    static const uint64_t key_pages[] = {
        LAYOUT_BOOT_PARAMS / 4096, LAYOUT_CMDLINE / 4096,
        LAYOUT_PVH_MEMMAP / 4096, MiB / 4096, 16 * MiB / 4096,
    };
    static uint8_t initrd[3000];
    MemRegion *r = &g->map->regions[0];
    uint64_t pages = g->size / 4096;
    g_autoptr(GError) err = NULL;
    BootEntry be;
    bool ok;

    ok = loader_load_buf(g->map, "/k", img, len, "/i", initrd,
                         sizeof(initrd), spec, &be, &err);
    if (ok) {
        g_assert_no_error(err);
        g_assert_cmphex(be.kernel_end, <=, g->size);
        g_assert_cmphex(be.initrd_start + be.initrd_size, <=, g->size);
    } else {
        g_assert_nonnull(err);
    }
    /* Every byte written is on a page the VMM marked dirty; a failed load
     * writes nothing. Restore the canary where it was written. Clean pages
     * are all checked now and then, the likely targets every time. */
    fuzz_calls++;
    fuzz_loaded += ok;
    for (uint64_t p = 0; p < pages; p++) {
        uint8_t *page = g->ram + p * 4096;
        bool check = fuzz_calls % 64 == 0 || p == pages - 1;

        for (unsigned int i = 0; i < G_N_ELEMENTS(key_pages); i++) {
            check |= p == key_pages[i];
        }
        if (page_dirty(r, p)) {
            g_assert_true(ok);
            memset(page, CANARY, 4096);
        } else if (check) {
            for (unsigned int i = 0; i < 4096; i += 8) {
                g_assert_cmpuint(le64_load(page + i), ==, 0xaaaaaaaaaaaaaaaaULL);
            }
        }
    }
    memset(r->dirty, 0, (pages + 63) / 64 * 8);
}

static void test_fuzz(void)
{
    BootSpec spec = { .cmdline = "x", .prefer_pvh = true };
    ElfParams e32 = elf_default;
    uint8_t *imgs[3];
    size_t lens[3];
    Guest g;
    GRand *rand = g_rand_new_with_seed(0x4b455354);

    e32.elf64 = false;
    e32.machine = 3;
    e32.entry = 0x1000000;
    e32.segs[0].vaddr = e32.segs[0].paddr;
    e32.segs[1].vaddr = e32.segs[1].paddr;
    e32.pvh_descsz = 4;
    imgs[0] = make_bzimage(&bz_default, &lens[0]);
    imgs[1] = make_elf(&elf_default, &lens[1]);
    imgs[2] = make_elf(&e32, &lens[2]);

    /* 32 MiB: small enough that corrupted addresses often miss RAM */
    guest_init(&g, 32 * MiB);
    for (unsigned int k = 0; k < G_N_ELEMENTS(imgs); k++) {
        size_t step = lens[k] > 4096 ? 7 : 1;

        for (size_t cut = 0; cut < lens[k]; cut += step) {
            /* a private copy, so reads past @cut are caught by ASan */
            g_autofree uint8_t *copy = g_memdup2(imgs[k], cut);

            fuzz_one(&g, copy, cut, &spec);
        }
        for (unsigned int iter = 0; iter < 3000; iter++) {
            g_autofree uint8_t *copy = g_memdup2(imgs[k], lens[k]);
            unsigned int nflips = g_rand_int_range(rand, 1, 8);
            size_t hot = MIN(lens[k], (size_t)0x400);

            for (unsigned int f = 0; f < nflips; f++) {
                /* mostly headers, sometimes anywhere */
                size_t pos = g_rand_boolean(rand) ?
                             g_rand_int_range(rand, 0, hot) :
                             g_rand_int_range(rand, 0, lens[k]);

                copy[pos] = g_rand_int_range(rand, 0, 256);
                if (g_rand_int_range(rand, 0, 4) == 0) {
                    copy[pos] = 0xff;
                }
            }
            fuzz_one(&g, copy, lens[k], &spec);
        }
    }
    /* Pure noise, some with magic in front */
    for (unsigned int iter = 0; iter < 500; iter++) {
        size_t len = g_rand_int_range(rand, 0, 4096);
        g_autofree uint8_t *noise = g_malloc(MAX(len, 1));

        for (size_t i = 0; i < len; i++) {
            noise[i] = g_rand_int_range(rand, 0, 256);
        }
        if (len >= 4 && iter % 2) {
            memcpy(noise, "\x7f" "ELF", 4);
        } else if (len >= 0x206 && iter % 3 == 0) {
            memcpy(noise + 0x202, "HdrS", 4);
        }
        fuzz_one(&g, noise, len, &spec);
    }
    g_test_message("%u hostile images, %u of them loaded", fuzz_calls,
                   fuzz_loaded);
    g_assert_cmpuint(fuzz_loaded, >, fuzz_calls / 20);
    guest_fini(&g);
    for (unsigned int k = 0; k < G_N_ELEMENTS(imgs); k++) {
        g_free(imgs[k]);
    }
    g_rand_free(rand);
}

/* ------------------------------------------------------------------ */
/* Files                                                                */

static void test_files(void)
{
    g_autofree char *dir = g_dir_make_tmp("kestrel-loader-XXXXXX", NULL);
    g_autofree char *kpath = g_build_filename(dir, "vmlinuz", NULL);
    g_autofree char *ipath = g_build_filename(dir, "initrd.img", NULL);
    g_autofree char *missing = g_build_filename(dir, "missing", NULL);
    g_autofree char *msg = NULL;
    g_autofree uint8_t *img = NULL;
    uint8_t initrd[1000];
    BootSpec spec = { .kernel_path = kpath, .initrd_path = ipath };
    g_autoptr(GError) err = NULL;
    size_t len;
    BootEntry be;
    Guest g;

    memset(initrd, 0x5a, sizeof(initrd));
    img = make_bzimage(&bz_default, &len);
    g_assert_true(g_file_set_contents(kpath, (const char *)img, len, NULL));
    g_assert_true(g_file_set_contents(ipath, (const char *)initrd,
                                      sizeof(initrd), NULL));
    guest_init(&g, RAM_SIZE);
    g_assert_true(loader_load(g.map, &spec, &be, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(be.initrd_size, ==, sizeof(initrd));
    g_assert_cmpmem(g.ram + be.initrd_start, sizeof(initrd), initrd,
                    sizeof(initrd));
    g_assert_cmpmem(g.ram + be.kernel_start, 8192, img + 5 * 512, 8192);

    spec.kernel_path = missing;
    g_assert_false(loader_load(g.map, &spec, &be, &err));
    msg = g_strdup_printf("could not open kernel '%s': No such file or "
                          "directory", missing);
    g_assert_cmpstr(err->message, ==, msg);
    g_clear_error(&err);
    g_free(msg);

    spec.kernel_path = kpath;
    spec.initrd_path = missing;
    g_assert_false(loader_load(g.map, &spec, &be, &err));
    msg = g_strdup_printf("could not open initrd '%s': No such file or "
                          "directory", missing);
    g_assert_cmpstr(err->message, ==, msg);
    g_clear_error(&err);
    g_free(msg);

    spec.kernel_path = dir;
    g_assert_false(loader_load(g.map, &spec, &be, &err));
    msg = g_strdup_printf("kernel '%s' is a directory, not a regular file",
                          dir);
    g_assert_cmpstr(err->message, ==, msg);
    g_clear_error(&err);
    guest_fini(&g);

    g_unlink(kpath);
    g_unlink(ipath);
    g_rmdir(dir);
}

/*
 * A FIFO (no writer), a character device, a directory: refused at once with
 * what it is, never read from or waited on (a FIFO with no writer would
 * block a plain open() forever; the alarm turns such a hang into a failure).
 */
static void test_not_regular(void)
{
    g_autofree char *dir = g_dir_make_tmp("kestrel-loader-XXXXXX", NULL);
    g_autofree char *kpath = g_build_filename(dir, "vmlinuz", NULL);
    g_autofree char *fifo = g_build_filename(dir, "fifo", NULL);
    g_autofree uint8_t *img = NULL;
    struct {
        bool initrd;
        const char *path;
        const char *kind;
    } cases[] = {
        { false, fifo, "a FIFO" },
        { false, "/dev/null", "a character device" },
        { false, dir, "a directory" },
        { true, fifo, "a FIFO" },
        { true, "/dev/zero", "a character device" },
        { true, dir, "a directory" },
    };
    size_t len;
    Guest g;

    g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
    img = make_bzimage(&bz_default, &len);
    g_assert_true(g_file_set_contents(kpath, (const char *)img, len, NULL));
    guest_init(&g, RAM_SIZE);
    alarm(10);
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        BootSpec spec = {
            .kernel_path = cases[i].initrd ? kpath : cases[i].path,
            .initrd_path = cases[i].initrd ? cases[i].path : NULL,
        };
        g_autoptr(GError) err = NULL;
        g_autofree char *msg = NULL;
        BootEntry be;

        g_assert_false(loader_load(g.map, &spec, &be, &err));
        msg = g_strdup_printf("%s '%s' is %s, not a regular file",
                              cases[i].initrd ? "initrd" : "kernel",
                              cases[i].path, cases[i].kind);
        g_assert_cmpstr(err->message, ==, msg);
    }
    alarm(0);
    g_assert_cmpstr(loader_file_kind(S_IFBLK), ==, "a block device");
    g_assert_cmpstr(loader_file_kind(S_IFSOCK), ==, "a socket");
    guest_fini(&g);

    g_unlink(fifo);
    g_unlink(kpath);
    g_rmdir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/loader/e820", test_e820);
    g_test_add_func("/loader/bzimage", test_bzimage);
    g_test_add_func("/loader/bzimage-low", test_bzimage_low);
    g_test_add_func("/loader/bzimage-errors", test_bzimage_errors);
    g_test_add_func("/loader/cmdline", test_cmdline);
    g_test_add_func("/loader/initrd", test_initrd);
    g_test_add_func("/loader/elf-vmlinux", test_elf_vmlinux);
    g_test_add_func("/loader/pvh", test_pvh);
    g_test_add_func("/loader/elf-errors", test_elf_errors);
    g_test_add_func("/loader/garbage", test_garbage);
    g_test_add_func("/loader/fuzz", test_fuzz);
    g_test_add_func("/loader/files", test_files);
    g_test_add_func("/loader/not-regular", test_not_regular);
    return g_test_run();
}
