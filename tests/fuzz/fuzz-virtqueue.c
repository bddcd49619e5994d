/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the split virtqueue walker (src/virtio/virtqueue.c)
 * on rings the guest wrote. An input is a queue's set-up and the guest
 * RAM behind it (64 KiB at gpa 0, the rest zero), little endian:
 *
 *   0  u16 num_max (the device's size; taken modulo VIRTQ_MAX_SIZE + 1)
 *   2  u16 num (the driver's)
 *   4  u32 desc, 8 u32 avail, 12 u32 used: ring addresses
 *  16  u16 last_avail, 18 u16 used_idx: as a loaded state would set them
 *  20  u8 flags: 1 event_idx, 2 indirect, 4 rings above 4 GiB
 *  21  u8 how many chains to take at most (0: 256)
 *  22  u16 offset for the reads and writes into each chain
 *  24  guest RAM
 *
 * virtqueue_enable, then virtqueue_pop until EMPTY or BROKEN, each chain
 * read (virtqueue_elem_read), written (virtqueue_elem_write) and pushed,
 * with virtqueue_should_notify after each. Checked: no crash, leak or
 * hang; a chain's buffers lie in RAM; every page of RAM that changed was
 * marked dirty (what migration relies on).
 *
 * With KESTREL_FUZZ_SEEDS=DIR set, the target writes its seeds there
 * (plain, indirect and event-idx queues a driver would set up) and exits.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memmap.h"
#include "virtio/virtqueue.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_SIZE        (64 * 1024)
#define PAGE            4096
#define HDR             24
#define CHUNK           4096

static uint8_t ram[RAM_SIZE] __attribute__((aligned(PAGE)));
static uint8_t before[RAM_SIZE];
static VirtqElem elem;
static uint8_t buf[CHUNK];

static uint16_t le16(const uint8_t *p)
{
    return p[0] | p[1] << 8;
}

static uint32_t le32(const uint8_t *p)
{
    return le16(p) | (uint32_t)le16(p + 2) << 16;
}

static void check_elem(const VirtqElem *e)
{
    if (e->n_out + e->n_in == 0 || e->n_out + e->n_in > VIRTQ_MAX_SIZE) {
        __builtin_trap();
    }
    for (unsigned int i = 0; i < e->n_out + e->n_in; i++) {
        /* an empty buffer may point anywhere: nothing is copied */
        if (e->seg[i].len && (e->seg[i].gpa > RAM_SIZE ||
                              e->seg[i].len > RAM_SIZE - e->seg[i].gpa)) {
            __builtin_trap();
        }
    }
}

static void check_dirty(MemMap *mem)
{
    unsigned long bits[(RAM_SIZE / PAGE + 63) / 64] = { 0 };

    memmap_dirty_take(mem, 0, bits);
    for (unsigned int p = 0; p < RAM_SIZE / PAGE; p++) {
        if (memcmp(ram + p * PAGE, before + p * PAGE, PAGE) &&
            !(bits[p / 64] & (1UL << (p % 64)))) {
            fprintf(stderr, "page %u changed but is not dirty\n", p);
            __builtin_trap();
        }
    }
}

static void run(const uint8_t *data, size_t size)
{
    g_autoptr(MemMap) mem = NULL;
    g_autoptr(GError) err = NULL;
    VirtQueue vq;
    unsigned int max_pops;
    uint16_t off;
    uint8_t flags;

    memset(ram, 0, sizeof(ram));
    memcpy(ram, data + HDR, MIN(size - HDR, sizeof(ram)));
    memcpy(before, ram, sizeof(ram));
    mem = memmap_new_from_buffer(ram, sizeof(ram));

    virtqueue_reset(&vq, mem, le16(data) % (VIRTQ_MAX_SIZE + 1));
    flags = data[20];
    vq.num = le16(data + 2);
    vq.desc_gpa = le32(data + 4);
    vq.avail_gpa = le32(data + 8);
    vq.used_gpa = le32(data + 12);
    if (flags & 4) {
        vq.desc_gpa |= 1ULL << 32;
        vq.avail_gpa |= 1ULL << 32;
        vq.used_gpa |= 1ULL << 32;
    }
    vq.event_idx = flags & 1;
    vq.indirect = flags & 2;
    vq.last_avail = le16(data + 16);
    vq.used_idx = le16(data + 18);
    vq.signalled_used = vq.used_idx;
    max_pops = data[21] ? data[21] : 256;
    off = le16(data + 22);

    if (virtqueue_enable(&vq, &err)) {
        for (unsigned int n = 0; n < max_pops; n++) {
            g_autoptr(GError) perr = NULL;
            VirtqPop r = virtqueue_pop(&vq, &elem, &perr);
            uint64_t got, put;

            if (r != VIRTQ_POPPED) {
                if ((r == VIRTQ_BROKEN) != (perr != NULL)) {
                    __builtin_trap();
                }
                break;
            }
            check_elem(&elem);
            got = virtqueue_elem_read(mem, &elem, off % (elem.out_len + 1),
                                      buf, sizeof(buf));
            if (got > elem.out_len) {
                __builtin_trap();
            }
            put = virtqueue_elem_write(mem, &elem, off % (elem.in_len + 1),
                                       buf, got ? got : sizeof(buf));
            if (put > elem.in_len) {
                __builtin_trap();
            }
            virtqueue_push(&vq, elem.head, put);
            (void)virtqueue_should_notify(&vq);
        }
    }
    check_dirty(mem);
}

/* --- seeds ---------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = v;
    p[1] = v >> 8;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v);
    put16(p + 2, v >> 16);
}

static void put_desc(uint8_t *r, uint32_t table, unsigned int i,
                     uint64_t addr, uint32_t len, uint16_t fl, uint16_t next)
{
    uint8_t *d = r + table + 16 * i;

    put32(d, addr);
    put32(d + 4, addr >> 32);
    put32(d + 8, len);
    put16(d + 12, fl);
    put16(d + 14, next);
}

static void write_seed(const char *dir, const char *name, bool indirect,
                       bool event_idx)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    /* num 8: desc 0x0, avail 0x100, used 0x200; buffers from 0x1000 */
    enum { NUM = 8, DESC = 0x0, AVAIL = 0x100, USED = 0x200, IND = 0x400 };
    size_t len = HDR + 0x3000;
    g_autofree uint8_t *in = g_malloc0(len);
    uint8_t *r = in + HDR;
    FILE *f;

    put16(in, 256);
    put16(in + 2, NUM);
    put32(in + 4, DESC);
    put32(in + 8, AVAIL);
    put32(in + 12, USED);
    in[20] = (event_idx ? 1 : 0) | (indirect ? 2 : 0);
    /* a block request: header, data, status */
    put_desc(r, DESC, 0, 0x1000, 16, VIRTQ_DESC_F_NEXT, 1);
    put_desc(r, DESC, 1, 0x1010, 512, VIRTQ_DESC_F_NEXT, 2);
    put_desc(r, DESC, 2, 0x1210, 1, VIRTQ_DESC_F_WRITE, 0);
    /* a receive buffer */
    put_desc(r, DESC, 3, 0x2000, 1526, VIRTQ_DESC_F_WRITE, 0);
    put16(r + AVAIL + 4, 0);
    put16(r + AVAIL + 6, 3);
    if (indirect) {
        put_desc(r, DESC, 4, IND, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
        put_desc(r, IND, 0, 0x1800, 16, VIRTQ_DESC_F_NEXT, 1);
        put_desc(r, IND, 1, 0x1810, 64, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE,
                 2);
        put_desc(r, IND, 2, 0x1850, 1, VIRTQ_DESC_F_WRITE, 0);
        put16(r + AVAIL + 8, 4);
    }
    put16(r + AVAIL + 2, indirect ? 3 : 2);
    if (event_idx) {
        put16(r + AVAIL + 4 + 2 * NUM, 1);  /* used_event */
    }
    memset(r + 0x1000, 0xa5, 16);
    f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fwrite(in, 1, len, f);
    fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *seeds = getenv("KESTREL_FUZZ_SEEDS");

    if (seeds) {
        write_seed(seeds, "seed-plain", false, false);
        write_seed(seeds, "seed-indirect", true, false);
        write_seed(seeds, "seed-event-idx", true, true);
        exit(0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HDR) {
        return 0;
    }
    run(data, size);
    return 0;
}
