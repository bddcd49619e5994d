/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Split virtqueues against a hostile driver: rings over a MemMap built on a
 * plain buffer; every malformed chain must come back VIRTQ_BROKEN, never
 * crash or reach outside the buffer (run under ASan too).
 */
#include <glib.h>
#include <string.h>

#include "memmap.h"
#include "virtio/virtqueue.h"

#define RAM_SIZE    (1024 * 1024)
#define QSIZE       16
#define DESC_GPA    0x1000
#define AVAIL_GPA   0x2000
#define USED_GPA    0x3000
#define TABLE_GPA   0x4000      /* indirect tables */
#define BUF_GPA     0x10000

typedef struct {
    uint8_t *ram;
    MemMap *mem;
    VirtQueue vq;
    VirtqElem *elem;
    uint16_t avail_idx;
} Fixture;

static void fx_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;

    f->ram = g_malloc0(RAM_SIZE);
    f->mem = memmap_new_from_buffer(f->ram, RAM_SIZE);
    f->elem = g_new0(VirtqElem, 1);
    virtqueue_reset(&f->vq, f->mem, QSIZE);
    f->vq.desc_gpa = DESC_GPA;
    f->vq.avail_gpa = AVAIL_GPA;
    f->vq.used_gpa = USED_GPA;
    f->vq.indirect = true;
    g_assert_true(virtqueue_enable(&f->vq, &err));
    g_assert_no_error(err);
}

static void fx_teardown(Fixture *f, gconstpointer data)
{
    g_free(f->elem);
    memmap_free(f->mem);
    g_free(f->ram);
}

static void put16(Fixture *f, uint64_t gpa, uint16_t v)
{
    f->ram[gpa] = (uint8_t)v;
    f->ram[gpa + 1] = (uint8_t)(v >> 8);
}

static uint16_t get16(Fixture *f, uint64_t gpa)
{
    return (uint16_t)(f->ram[gpa] | f->ram[gpa + 1] << 8);
}

static uint32_t get32(Fixture *f, uint64_t gpa)
{
    return (uint32_t)get16(f, gpa) | (uint32_t)get16(f, gpa + 2) << 16;
}

static void set_desc(Fixture *f, uint64_t table, unsigned int i,
                     uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    uint8_t *d = f->ram + table + 16 * i;

    for (int k = 0; k < 8; k++) {
        d[k] = (uint8_t)(addr >> (8 * k));
    }
    for (int k = 0; k < 4; k++) {
        d[8 + k] = (uint8_t)(len >> (8 * k));
    }
    d[12] = (uint8_t)flags;
    d[13] = (uint8_t)(flags >> 8);
    d[14] = (uint8_t)next;
    d[15] = (uint8_t)(next >> 8);
}

static void make_avail(Fixture *f, uint16_t head)
{
    put16(f, AVAIL_GPA + 4 + 2 * (f->avail_idx % QSIZE), head);
    f->avail_idx++;
    put16(f, AVAIL_GPA + 2, f->avail_idx);
}

static VirtqPop pop(Fixture *f, GError **errp)
{
    return virtqueue_pop(&f->vq, f->elem, errp);
}

static void expect_broken(Fixture *f, const char *what)
{
    g_autoptr(GError) err = NULL;

    g_assert_cmpint(pop(f, &err), ==, VIRTQ_BROKEN);
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, what));
}

/* --- good chains ---------------------------------------------------------- */

/* virtqueue_elem_write fills the writable part only, across segments, and
 * marks what it wrote dirty. */
static void test_elem_write(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    unsigned long bm[RAM_SIZE / 4096 / (8 * sizeof(unsigned long))] = { 0 };
    uint8_t buf[300];

    set_desc(f, DESC_GPA, 0, BUF_GPA, 100, VIRTQ_DESC_F_NEXT, 1);
    set_desc(f, DESC_GPA, 1, BUF_GPA + 0x5000 - 10, 20,
             VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
    set_desc(f, DESC_GPA, 2, BUF_GPA + 0x8000, 100, VIRTQ_DESC_F_WRITE, 0);
    make_avail(f, 0);
    g_assert_cmpint(pop(f, &err), ==, VIRTQ_POPPED);
    g_assert_no_error(err);
    memmap_dirty_take(f->mem, 0, bm);       /* forget the ring writes */
    memset(bm, 0, sizeof(bm));
    memset(buf, 'w', sizeof(buf));
    /* from offset 5: 15 bytes in the first segment, 100 in the second,
     * and no more: the chain has 120 writable bytes */
    g_assert_cmpuint(virtqueue_elem_write(f->mem, f->elem, 5, buf,
                                          sizeof(buf)), ==, 115);
    g_assert_cmpint(f->ram[BUF_GPA], ==, 0);                /* readable */
    g_assert_cmpint(f->ram[BUF_GPA + 0x5000 - 6], ==, 0);
    g_assert_cmpint(f->ram[BUF_GPA + 0x5000 - 5], ==, 'w');
    g_assert_cmpint(f->ram[BUF_GPA + 0x8000 + 99], ==, 'w');
    g_assert_cmpint(f->ram[BUF_GPA + 0x8000 + 100], ==, 0);
    memmap_dirty_take(f->mem, 0, bm);
    for (unsigned int p = 0; p < RAM_SIZE / 4096; p++) {
        bool dirty = (bm[p / (8 * sizeof(long))] >> (p % (8 * sizeof(long))))
                     & 1;

        g_assert_cmpint(dirty, ==, p == (BUF_GPA + 0x4000) / 4096 ||
                                   p == (BUF_GPA + 0x5000) / 4096 ||
                                   p == (BUF_GPA + 0x8000) / 4096);
    }
    /* taken: the bitmap is clean now */
    memset(bm, 0, sizeof(bm));
    memmap_dirty_take(f->mem, 0, bm);
    for (unsigned int w = 0; w < G_N_ELEMENTS(bm); w++) {
        g_assert_cmphex(bm[w], ==, 0);
    }
}


static void test_empty(Fixture *f, gconstpointer data)
{
    g_assert_cmpint(pop(f, NULL), ==, VIRTQ_EMPTY);
}

static void test_chain(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;

    set_desc(f, DESC_GPA, 3, BUF_GPA, 100, VIRTQ_DESC_F_NEXT, 7);
    set_desc(f, DESC_GPA, 7, BUF_GPA + 0x1000, 50, VIRTQ_DESC_F_NEXT, 1);
    set_desc(f, DESC_GPA, 1, BUF_GPA + 0x2000, 4096, VIRTQ_DESC_F_WRITE, 0);
    make_avail(f, 3);
    g_assert_cmpint(pop(f, &err), ==, VIRTQ_POPPED);
    g_assert_no_error(err);
    g_assert_cmpuint(f->elem->head, ==, 3);
    g_assert_cmpuint(f->elem->n_out, ==, 2);
    g_assert_cmpuint(f->elem->n_in, ==, 1);
    g_assert_cmpuint(f->elem->out_len, ==, 150);
    g_assert_cmpuint(f->elem->in_len, ==, 4096);
    g_assert_cmphex(f->elem->seg[2].gpa, ==, BUF_GPA + 0x2000);
    g_assert_cmpint(pop(f, NULL), ==, VIRTQ_EMPTY);

    /* gather read across segments */
    memset(f->ram + BUF_GPA, 'a', 100);
    memset(f->ram + BUF_GPA + 0x1000, 'b', 50);
    {
        uint8_t buf[200];

        g_assert_cmpuint(virtqueue_elem_read(f->mem, f->elem, 90, buf,
                                             sizeof(buf)), ==, 60);
        g_assert_cmpint(buf[9], ==, 'a');
        g_assert_cmpint(buf[10], ==, 'b');
    }

    virtqueue_push(&f->vq, 3, 42);
    g_assert_cmpuint(get16(f, USED_GPA + 2), ==, 1);
    g_assert_cmpuint(get32(f, USED_GPA + 4), ==, 3);
    g_assert_cmpuint(get32(f, USED_GPA + 8), ==, 42);
    /* the used ring write went through the dirty helper */
    g_assert_true(f->mem->regions[0].dirty[0] & (1UL << (USED_GPA >> 12)));
}

static void test_full_length_chain(Fixture *f, gconstpointer data)
{
    /* Exactly QSIZE descriptors: legal. */
    for (unsigned int i = 0; i < QSIZE; i++) {
        set_desc(f, DESC_GPA, i, BUF_GPA, 8,
                 i + 1 < QSIZE ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
    }
    make_avail(f, 0);
    g_assert_cmpint(pop(f, NULL), ==, VIRTQ_POPPED);
    g_assert_cmpuint(f->elem->n_out, ==, QSIZE);
}

static void test_indirect(Fixture *f, gconstpointer data)
{
    set_desc(f, TABLE_GPA, 0, BUF_GPA, 16, VIRTQ_DESC_F_NEXT, 2);
    set_desc(f, TABLE_GPA, 2, BUF_GPA + 64, 16, VIRTQ_DESC_F_NEXT, 1);
    set_desc(f, TABLE_GPA, 1, BUF_GPA + 128, 32, VIRTQ_DESC_F_WRITE, 0);
    set_desc(f, DESC_GPA, 5, TABLE_GPA, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(f, 5);
    g_assert_cmpint(pop(f, NULL), ==, VIRTQ_POPPED);
    g_assert_cmpuint(f->elem->head, ==, 5);
    g_assert_cmpuint(f->elem->n_out, ==, 2);
    g_assert_cmpuint(f->elem->n_in, ==, 1);
}

static void test_zero_length(Fixture *f, gconstpointer data)
{
    /* Zero-length buffers are harmless, even at odd addresses. */
    set_desc(f, DESC_GPA, 0, UINT64_MAX, 0, 0, 0);
    make_avail(f, 0);
    g_assert_cmpint(pop(f, NULL), ==, VIRTQ_POPPED);
}

/* --- hostile chains --------------------------------------------------------- */

static void test_buffer_outside_ram(Fixture *f, gconstpointer data)
{
    set_desc(f, DESC_GPA, 0, RAM_SIZE - 10, 11, 0, 0);
    make_avail(f, 0);
    expect_broken(f, "outside guest RAM");
}

static void test_buffer_wraps(Fixture *f, gconstpointer data)
{
    set_desc(f, DESC_GPA, 0, UINT64_MAX - 4, 0xffffffff, 0, 0);
    make_avail(f, 0);
    expect_broken(f, "outside guest RAM");
}

static void test_huge_length(Fixture *f, gconstpointer data)
{
    set_desc(f, DESC_GPA, 0, BUF_GPA, 0xffffffff, VIRTQ_DESC_F_WRITE, 0);
    make_avail(f, 0);
    expect_broken(f, "outside guest RAM");
}

static void test_loop(Fixture *f, gconstpointer data)
{
    set_desc(f, DESC_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
    set_desc(f, DESC_GPA, 1, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 0);
    make_avail(f, 0);
    expect_broken(f, "loop");
}

static void test_self_loop(Fixture *f, gconstpointer data)
{
    set_desc(f, DESC_GPA, 4, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 4);
    make_avail(f, 4);
    expect_broken(f, "loop");
}

static void test_next_out_of_range(Fixture *f, gconstpointer data)
{
    set_desc(f, DESC_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, QSIZE);
    make_avail(f, 0);
    expect_broken(f, "out of range");
}

static void test_head_out_of_range(Fixture *f, gconstpointer data)
{
    make_avail(f, 0xffff);
    expect_broken(f, "out of range");
}

static void test_avail_idx_jump(Fixture *f, gconstpointer data)
{
    put16(f, AVAIL_GPA + 2, QSIZE + 1);
    expect_broken(f, "beyond the queue size");
}

static void test_readable_after_writable(Fixture *f, gconstpointer data)
{
    set_desc(f, DESC_GPA, 0, BUF_GPA, 8,
             VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    set_desc(f, DESC_GPA, 1, BUF_GPA, 8, 0, 0);
    make_avail(f, 0);
    expect_broken(f, "readable buffer after a writable");
}

static void test_indirect_not_negotiated(Fixture *f, gconstpointer data)
{
    f->vq.indirect = false;
    set_desc(f, TABLE_GPA, 0, BUF_GPA, 16, 0, 0);
    set_desc(f, DESC_GPA, 0, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(f, 0);
    expect_broken(f, "indirect descriptor not allowed");
}

static void test_indirect_bad_len(Fixture *f, gconstpointer data)
{
    set_desc(f, DESC_GPA, 0, TABLE_GPA, 17, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(f, 0);
    expect_broken(f, "indirect table of 17 bytes");
}

static void test_indirect_empty(Fixture *f, gconstpointer data)
{
    set_desc(f, DESC_GPA, 0, TABLE_GPA, 0, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(f, 0);
    expect_broken(f, "indirect table of 0 bytes");
}

static void test_indirect_too_big(Fixture *f, gconstpointer data)
{
    set_desc(f, DESC_GPA, 0, TABLE_GPA, 16 * (VIRTQ_MAX_SIZE + 1),
             VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(f, 0);
    expect_broken(f, "indirect table");
}

static void test_indirect_outside_ram(Fixture *f, gconstpointer data)
{
    set_desc(f, DESC_GPA, 0, RAM_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(f, 0);
    expect_broken(f, "outside guest RAM");
}

static void test_indirect_nested(Fixture *f, gconstpointer data)
{
    set_desc(f, TABLE_GPA, 0, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
    set_desc(f, DESC_GPA, 0, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(f, 0);
    expect_broken(f, "indirect descriptor not allowed");
}

static void test_indirect_with_next(Fixture *f, gconstpointer data)
{
    set_desc(f, TABLE_GPA, 0, BUF_GPA, 16, 0, 0);
    set_desc(f, DESC_GPA, 0, TABLE_GPA, 16,
             VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
    make_avail(f, 0);
    expect_broken(f, "indirect descriptor not allowed");
}

static void test_indirect_after_direct(Fixture *f, gconstpointer data)
{
    set_desc(f, TABLE_GPA, 0, BUF_GPA, 16, 0, 0);
    set_desc(f, DESC_GPA, 0, BUF_GPA, 16, VIRTQ_DESC_F_NEXT, 1);
    set_desc(f, DESC_GPA, 1, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(f, 0);
    expect_broken(f, "indirect descriptor not allowed");
}

static void test_indirect_loop(Fixture *f, gconstpointer data)
{
    set_desc(f, TABLE_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
    set_desc(f, TABLE_GPA, 1, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 0);
    set_desc(f, DESC_GPA, 0, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(f, 0);
    expect_broken(f, "loop");
}

static void test_indirect_next_out_of_table(Fixture *f, gconstpointer data)
{
    set_desc(f, TABLE_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 5);
    set_desc(f, DESC_GPA, 0, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(f, 0);
    expect_broken(f, "out of range");
}

/* --- queue set-up ------------------------------------------------------------ */

static void test_enable_checks(void)
{
    uint8_t *ram = g_malloc0(RAM_SIZE);
    g_autoptr(MemMap) mem = memmap_new_from_buffer(ram, RAM_SIZE);
    VirtQueue vq;
    static const struct {
        uint16_t num;
        uint64_t desc, avail, used;
    } bad[] = {
        { 0, DESC_GPA, AVAIL_GPA, USED_GPA },           /* size 0 */
        { 12, DESC_GPA, AVAIL_GPA, USED_GPA },          /* not a power of 2 */
        { 2048, DESC_GPA, AVAIL_GPA, USED_GPA },        /* above the max */
        { 16, DESC_GPA + 8, AVAIL_GPA, USED_GPA },      /* misaligned */
        { 16, DESC_GPA, AVAIL_GPA + 1, USED_GPA },
        { 16, DESC_GPA, AVAIL_GPA, USED_GPA + 2 },
        { 16, RAM_SIZE - 128, AVAIL_GPA, USED_GPA },    /* outside RAM */
        { 16, DESC_GPA, RAM_SIZE - 8, USED_GPA },
        { 16, DESC_GPA, AVAIL_GPA, RAM_SIZE - 64 },
        { 16, UINT64_MAX & ~15ULL, AVAIL_GPA, USED_GPA },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;

        virtqueue_reset(&vq, mem, 1024);
        vq.num = bad[i].num;
        vq.desc_gpa = bad[i].desc;
        vq.avail_gpa = bad[i].avail;
        vq.used_gpa = bad[i].used;
        g_assert_false(virtqueue_enable(&vq, &err));
        g_assert_nonnull(err);
        g_assert_false(vq.ready);
        g_assert_cmpint(virtqueue_pop(&vq, NULL, NULL), ==, VIRTQ_EMPTY);
    }
    g_free(ram);
}

/* --- interrupt suppression ------------------------------------------------- */

static void test_no_interrupt_flag(Fixture *f, gconstpointer data)
{
    virtqueue_push(&f->vq, 0, 0);
    g_assert_true(virtqueue_should_notify(&f->vq));
    put16(f, AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT);
    virtqueue_push(&f->vq, 0, 0);
    g_assert_false(virtqueue_should_notify(&f->vq));
}

static void test_event_idx(Fixture *f, gconstpointer data)
{
    uint64_t used_event = AVAIL_GPA + 4 + 2 * QSIZE;
    uint64_t avail_event = USED_GPA + 4 + 8 * QSIZE;

    f->vq.event_idx = true;
    /* the first check always interrupts */
    virtqueue_push(&f->vq, 0, 0);
    g_assert_true(virtqueue_should_notify(&f->vq));
    /* driver wants an interrupt only once used idx passes 3 */
    put16(f, used_event, 3);
    virtqueue_push(&f->vq, 0, 0);                /* idx 2 */
    g_assert_false(virtqueue_should_notify(&f->vq));
    virtqueue_push(&f->vq, 0, 0);                /* idx 3 */
    g_assert_false(virtqueue_should_notify(&f->vq));
    virtqueue_push(&f->vq, 0, 0);                /* idx 4: passed 3 */
    g_assert_true(virtqueue_should_notify(&f->vq));
    /* popping publishes avail_event */
    set_desc(f, DESC_GPA, 0, BUF_GPA, 8, 0, 0);
    make_avail(f, 0);
    make_avail(f, 0);
    g_assert_cmpint(pop(f, NULL), ==, VIRTQ_POPPED);
    g_assert_cmpuint(get16(f, avail_event), ==, 1);
    g_assert_cmpint(pop(f, NULL), ==, VIRTQ_POPPED);
    g_assert_cmpuint(get16(f, avail_event), ==, 2);
}

/* --- random rings ------------------------------------------------------------ */

static void test_fuzz(void)
{
    GRand *rnd = g_rand_new_with_seed(20261125);

    for (int iter = 0; iter < 2000; iter++) {
        Fixture f = { 0 };
        int popped = 0;

        fx_setup(&f, NULL);
        f.vq.event_idx = g_rand_boolean(rnd);
        /* Random descriptors that point mostly near the rings, so chains
         * are walked deep before something fails. */
        for (unsigned int i = 0; i < QSIZE; i++) {
            uint64_t addr = g_rand_boolean(rnd)
                            ? (uint64_t)g_rand_int_range(rnd, 0, RAM_SIZE)
                            : ((uint64_t)g_rand_int(rnd) << 32 |
                               g_rand_int(rnd));
            uint32_t len = g_rand_boolean(rnd)
                           ? (uint32_t)g_rand_int_range(rnd, 0, 4096)
                           : g_rand_int(rnd);
            uint16_t flags = (uint16_t)g_rand_int_range(rnd, 0, 8);
            uint16_t next = (uint16_t)g_rand_int_range(rnd, 0, QSIZE + 2);

            if (g_rand_int_range(rnd, 0, 4) == 0) {
                addr = TABLE_GPA;
                len = 16 * (uint32_t)g_rand_int_range(rnd, 0, 8);
            }
            set_desc(&f, DESC_GPA, i, addr, len, flags, next);
            set_desc(&f, TABLE_GPA, i, addr, len, flags, next);
        }
        for (unsigned int i = 0; i < QSIZE; i++) {
            put16(&f, AVAIL_GPA + 4 + 2 * i,
                  (uint16_t)g_rand_int_range(rnd, 0, QSIZE + 1));
        }
        put16(&f, AVAIL_GPA + 2, (uint16_t)g_rand_int_range(rnd, 0, 20));
        for (;;) {
            g_autoptr(GError) err = NULL;
            VirtqPop rc = pop(&f, &err);

            if (rc != VIRTQ_POPPED) {
                g_assert_true(rc == VIRTQ_EMPTY || err);
                break;
            }
            /* everything handed out lies inside RAM */
            for (unsigned int s = 0; s < f.elem->n_out + f.elem->n_in;
                 s++) {
                g_assert_true(f.elem->seg[s].len == 0 ||
                              memmap_hva(f.mem, f.elem->seg[s].gpa,
                                         f.elem->seg[s].len));
            }
            virtqueue_push(&f.vq, f.elem->head, g_rand_int(rnd));
            virtqueue_should_notify(&f.vq);
            g_assert_cmpint(++popped, <=, QSIZE);
        }
        fx_teardown(&f, NULL);
    }
    g_rand_free(rnd);
}

#define ADD(path, fn) \
    g_test_add("/virtqueue/" path, Fixture, NULL, fx_setup, fn, fx_teardown)

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    ADD("empty", test_empty);
    ADD("chain", test_chain);
    ADD("elem-write", test_elem_write);
    ADD("full-length-chain", test_full_length_chain);
    ADD("indirect", test_indirect);
    ADD("zero-length", test_zero_length);
    ADD("hostile/buffer-outside-ram", test_buffer_outside_ram);
    ADD("hostile/buffer-wraps", test_buffer_wraps);
    ADD("hostile/huge-length", test_huge_length);
    ADD("hostile/loop", test_loop);
    ADD("hostile/self-loop", test_self_loop);
    ADD("hostile/next-out-of-range", test_next_out_of_range);
    ADD("hostile/head-out-of-range", test_head_out_of_range);
    ADD("hostile/avail-idx-jump", test_avail_idx_jump);
    ADD("hostile/readable-after-writable", test_readable_after_writable);
    ADD("hostile/indirect-not-negotiated", test_indirect_not_negotiated);
    ADD("hostile/indirect-bad-len", test_indirect_bad_len);
    ADD("hostile/indirect-empty", test_indirect_empty);
    ADD("hostile/indirect-too-big", test_indirect_too_big);
    ADD("hostile/indirect-outside-ram", test_indirect_outside_ram);
    ADD("hostile/indirect-nested", test_indirect_nested);
    ADD("hostile/indirect-with-next", test_indirect_with_next);
    ADD("hostile/indirect-after-direct", test_indirect_after_direct);
    ADD("hostile/indirect-loop", test_indirect_loop);
    ADD("hostile/indirect-next-out-of-table",
        test_indirect_next_out_of_table);
    ADD("no-interrupt-flag", test_no_interrupt_flag);
    ADD("event-idx", test_event_idx);
    g_test_add_func("/virtqueue/enable-checks", test_enable_checks);
    g_test_add_func("/virtqueue/fuzz", test_fuzz);
    return g_test_run();
}
