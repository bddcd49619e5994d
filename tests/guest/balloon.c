/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * balloon: a virtio-balloon driver (virtio 1.2, section 5.5) over modern
 * virtio-pci, all in user mode and polled.
 *
 * Memory model. The workload's memory is one contiguous pool of pages
 * (all free RAM, or tg.mb MiB), touched once at start so the host's RSS
 * is real. Three ranges of pool indices, always in this order:
 *
 *     [0, used)            taken by tg.pressure allocations
 *     [used, bstart)       free
 *     [bstart, pages)      in the balloon: never touched while there
 *
 * Inflating moves bstart down (the free pages nearest the balloon go to
 * it), deflating moves it up (LIFO, as Linux does) and the pages come
 * back by being written with a pattern and read back. Free page reporting
 * tracks one more boundary, reported: [used, reported) are free pages the
 * host has been told about and that nobody touched since; the deflated
 * pages above it are reported again 2 s after they became free (Linux's
 * page_reporting delay).
 *
 * The device is polled every 100 ms (num_pages in its config space, the
 * PM1 power button, the ISR so an INTx line never stays up); the used
 * rings live in RAM and are checked for free. Between polls the guest
 * halts with the LAPIC timer armed.
 */
#include "tg.h"

#define VIRTIO_ID_BALLOON           0x1045  /* modern: 0x1040 + 5 */
#define VIRTIO_ID_BALLOON_LEGACY    0x1002  /* transitional */

/* Feature bits (5.5.3). */
#define BALLOON_F_STATS_VQ          1
#define BALLOON_F_DEFLATE_ON_OOM    2
#define BALLOON_F_FREE_PAGE_HINT    3
#define BALLOON_F_REPORTING         5

/* virtio_balloon_config (5.5.4). */
#define BALLOON_CFG_NUM_PAGES       0
#define BALLOON_CFG_ACTUAL          4

/* Statistics tags (5.5.6.3); records are packed {le16 tag; le64 val}. */
enum {
    BALLOON_S_SWAP_IN,
    BALLOON_S_SWAP_OUT,
    BALLOON_S_MAJFLT,
    BALLOON_S_MINFLT,
    BALLOON_S_MEMFREE,
    BALLOON_S_MEMTOT,
    BALLOON_S_AVAIL,
    BALLOON_S_CACHES,
    BALLOON_S_HTLB_PGALLOC,
    BALLOON_S_HTLB_PGFAIL,
    BALLOON_S_NR
};
#define BALLOON_STAT_SIZE           10

#define BALLOON_PFN_SHIFT           12      /* balloon pages are 4 KiB */
#define BALLOON_BATCH               256     /* PFNs per request, as Linux */
#define BALLOON_POLL_NS             (NS_PER_SEC / 10)
#define REPORT_DELAY_NS             (2 * NS_PER_SEC)
#define REPORT_PIECE                (2 * MIB)   /* Linux's smallest order */
#define REPORT_CAPACITY             32      /* pieces per request, as Linux */
#define SHOWN_NONE                  UINT64_MAX

typedef struct {
    VirtioDev vd;
    Virtq inflateq, deflateq, statsq, reportq;
    bool stats, deflate_on_oom, reporting;
    uint32_t *pfns;                     /* one request's PFNs */
    uint8_t *stats_buf;                 /* BALLOON_S_NR records */
    uint64_t pool;                      /* address of pool page 0 */
    uint64_t pages;                     /* pool size */
    uint64_t used, bstart, reported;    /* the boundaries above */
    uint64_t unreported_since;          /* ns; 0: nothing to report */
    uint64_t touched;                   /* pages brought into use: MINFLT */
    uint32_t target;                    /* num_pages, as last read */
    uint64_t shown_target, shown_actual;
    bool pressure_done;
    int move_dir;                       /* +1 inflating, -1 deflating, 0 */
    uint64_t move_pages, move_t0;       /* the move in progress */
} Balloon;

static Balloon balloon;

static uint64_t page_addr(const Balloon *b, uint64_t i)
{
    return b->pool + i * PAGE_SIZE;
}

static uint64_t balloon_actual(const Balloon *b)
{
    return b->pages - b->bstart;
}

static uint64_t balloon_free(const Balloon *b)
{
    return b->bstart - b->used;
}

static void balloon_show(Balloon *b)
{
    if (b->shown_target == b->target &&
        b->shown_actual == balloon_actual(b)) {
        return;
    }
    b->shown_target = b->target;
    b->shown_actual = balloon_actual(b);
    con_printf("TG BALLOON target=%u actual=%lu\n", b->target,
               balloon_actual(b));
}

/* A move towards the target ended (or turned): how fast was it? */
static void balloon_move_end(Balloon *b)
{
    if (b->move_dir && b->move_pages) {
        con_printf("TG BALLOON %s pages=%lu us=%lu\n",
                   b->move_dir > 0 ? "INFLATE" : "DEFLATE", b->move_pages,
                   (clock_ns() - b->move_t0) / 1000);
    }
    b->move_dir = 0;
    b->move_pages = 0;
}

static void balloon_move(Balloon *b, int dir, uint64_t n)
{
    if (b->move_dir != dir) {
        balloon_move_end(b);
        b->move_dir = dir;
        b->move_t0 = clock_ns();
    }
    b->move_pages += n;
}

/*
 * Bring a page (back) into use: fill it with a pattern of its own address
 * and read it back. A page the host failed to give back (still unmapped,
 * or mapped read-only) would fault or mismatch here.
 */
static void page_use(Balloon *b, uint64_t i)
{
    uint64_t addr = page_addr(b, i);
    uint64_t *w = phys(addr);
    uint64_t seed = addr * 0x9e3779b97f4a7c15ULL;
    unsigned int k;

    for (k = 0; k < PAGE_SIZE / 8; k++) {
        w[k] = seed + k;
    }
    __asm__ volatile("" ::: "memory");  /* read back from memory */
    for (k = 0; k < PAGE_SIZE / 8; k++) {
        if (w[k] != seed + k) {
            tg_fatal("balloon: page %#lx word %u reads %#lx, wrote %#lx",
                     addr, k, w[k], seed + k);
        }
    }
    b->touched++;
}

static void send_pfns(Balloon *b, Virtq *vq, uint64_t first, uint64_t n)
{
    VirtqBuf buf = { (uint64_t)(uintptr_t)b->pfns, (uint32_t)(n * 4), false };
    uint64_t i;

    for (i = 0; i < n; i++) {
        b->pfns[i] = (uint32_t)(page_addr(b, first + i) >> BALLOON_PFN_SHIFT);
    }
    virtq_submit(vq, &buf, 1);
    virtq_wait(vq);
}

/* Give the @n free pages just below the balloon to it. */
static void balloon_inflate(Balloon *b, uint64_t n)
{
    send_pfns(b, &b->inflateq, b->bstart - n, n);
    b->bstart -= n;
    if (b->reported > b->bstart) {
        b->reported = b->bstart;
    }
    virtio_config_write32(&b->vd, BALLOON_CFG_ACTUAL,
                          (uint32_t)balloon_actual(b));
}

/* Take the @n pages most recently inflated back, and use them. */
static void balloon_deflate(Balloon *b, uint64_t n)
{
    uint64_t i;

    /* Told first, touched after: what MUST_TELL_HOST would require,
     * and harmless without it. */
    send_pfns(b, &b->deflateq, b->bstart, n);
    for (i = 0; i < n; i++) {
        page_use(b, b->bstart + i);
    }
    b->bstart += n;
    if (b->reporting && !b->unreported_since) {
        b->unreported_since = clock_ns();
    }
    virtio_config_write32(&b->vd, BALLOON_CFG_ACTUAL,
                          (uint32_t)balloon_actual(b));
}

/* Where the balloon should be now: the target, as far as free pages
 * allow (pages in use are never given to the balloon). */
static uint64_t balloon_goal(const Balloon *b)
{
    uint64_t actual = balloon_actual(b);

    if (b->target > actual && b->target - actual > balloon_free(b)) {
        return actual + balloon_free(b);
    }
    return b->target;
}

static void stat_put(uint8_t *rec, uint16_t tag, uint64_t val)
{
    memcpy(rec, &tag, 2);
    memcpy(rec + 2, &val, 8);
}

/*
 * The device hands the stats buffer back when it wants fresh numbers
 * (QEMU: every guest-stats-polling-interval seconds); answer with the
 * guest's own accounting. Also posts the first buffer.
 */
static void balloon_stats(Balloon *b)
{
    uint64_t free_bytes = balloon_free(b) * PAGE_SIZE;
    uint64_t total = boot_info.ram_bytes;
    VirtqBuf buf = { (uint64_t)(uintptr_t)b->stats_buf,
                     BALLOON_S_NR * BALLOON_STAT_SIZE, false };
    uint8_t *r = b->stats_buf;

    if (!b->stats || !virtq_done(&b->statsq)) {
        return;
    }
    /* Linux takes pages it cannot reclaim on OOM out of its total. */
    if (!b->deflate_on_oom) {
        total -= balloon_actual(b) * PAGE_SIZE;
    }
    stat_put(r + 0 * BALLOON_STAT_SIZE, BALLOON_S_SWAP_IN, 0);
    stat_put(r + 1 * BALLOON_STAT_SIZE, BALLOON_S_SWAP_OUT, 0);
    stat_put(r + 2 * BALLOON_STAT_SIZE, BALLOON_S_MAJFLT, 0);
    stat_put(r + 3 * BALLOON_STAT_SIZE, BALLOON_S_MINFLT, b->touched);
    stat_put(r + 4 * BALLOON_STAT_SIZE, BALLOON_S_MEMFREE, free_bytes);
    stat_put(r + 5 * BALLOON_STAT_SIZE, BALLOON_S_MEMTOT, total);
    stat_put(r + 6 * BALLOON_STAT_SIZE, BALLOON_S_AVAIL, free_bytes);
    stat_put(r + 7 * BALLOON_STAT_SIZE, BALLOON_S_CACHES, 0);
    stat_put(r + 8 * BALLOON_STAT_SIZE, BALLOON_S_HTLB_PGALLOC, 0);
    stat_put(r + 9 * BALLOON_STAT_SIZE, BALLOON_S_HTLB_PGFAIL, 0);
    virtq_submit(&b->statsq, &buf, 1);
}

/*
 * Free page reporting: hand the free pages nobody touched since the last
 * report to the device, in pieces of at most 2 MiB (cut at 2 MiB
 * boundaries), 32 pieces a request, each device-writable as Linux's
 * page_reporting makes them. The host may discard them; they read back
 * as zeros, and are written before any use anyway.
 */
static void balloon_report(Balloon *b)
{
    VirtqBuf bufs[REPORT_CAPACITY];
    uint64_t addr = page_addr(b, b->reported > b->used ? b->reported : b->used);
    uint64_t end = page_addr(b, b->bstart);
    unsigned int cap = b->reportq.size < REPORT_CAPACITY ? b->reportq.size
                                                        : REPORT_CAPACITY;
    uint64_t pages = (end - addr) / PAGE_SIZE;

    while (addr < end) {
        unsigned int n = 0;

        while (n < cap && addr < end) {
            uint64_t piece_end = ALIGN_UP(addr + 1, REPORT_PIECE);

            if (piece_end > end) {
                piece_end = end;
            }
            bufs[n].addr = addr;
            bufs[n].len = (uint32_t)(piece_end - addr);
            bufs[n].device_writes = true;
            n++;
            addr = piece_end;
        }
        virtq_submit(&b->reportq, bufs, n);
        virtq_wait(&b->reportq);
    }
    b->reported = b->bstart;
    b->unreported_since = 0;
    con_printf("TG BALLOON REPORTED pages=%lu\n", pages);
}

/*
 * tg.pressure: once the balloon has reached a non-zero target, allocate
 * that much more memory. Short of free pages and with DEFLATE_ON_OOM,
 * take what is missing back from the balloon without asking (the feature
 * lets the driver use balloon pages when the guest runs low, 5.5.6);
 * without it, make do with what is free.
 */
static void balloon_pressure(Balloon *b)
{
    uint64_t want = tg_args.pressure * (MIB / PAGE_SIZE);
    uint64_t got, i, deflated = 0;

    b->pressure_done = true;
    if (want > balloon_free(b) && b->deflate_on_oom) {
        uint64_t need = want - balloon_free(b);

        if (need > balloon_actual(b)) {
            need = balloon_actual(b);
        }
        while (deflated < need) {
            uint64_t n = need - deflated;

            balloon_deflate(b, n < BALLOON_BATCH ? n : BALLOON_BATCH);
            deflated += n < BALLOON_BATCH ? n : BALLOON_BATCH;
        }
        con_printf("TG BALLOON OOM deflated=%lu\n", deflated);
    }
    got = want < balloon_free(b) ? want : balloon_free(b);
    for (i = 0; i < got; i++) {
        page_use(b, b->used + i);
    }
    b->used += got;
    if (b->reported < b->used) {
        b->reported = b->used;
    }
    con_printf("TG BALLOON PRESSURE pages=%lu short=%lu\n", got, want - got);
}

static void balloon_setup(Balloon *b)
{
    uint64_t offered, want, addr, free, i, t0;
    uint16_t next_q = 2;

    if (!virtio_pci_probe(&b->vd, VIRTIO_ID_BALLOON,
                          VIRTIO_ID_BALLOON_LEGACY)) {
        tg_fatal("balloon: %s", b->vd.found
                 ? "the virtio-balloon device lacks a modern virtio-pci "
                   "capability or BAR"
                 : "no virtio-balloon PCI device");
    }
    offered = virtio_begin(&b->vd);
    if (!(offered & (1ULL << VIRTIO_F_VERSION_1))) {
        tg_fatal("balloon: the device does not offer VIRTIO_F_VERSION_1");
    }
    want = (1ULL << VIRTIO_F_VERSION_1) |
           (offered & ((1ULL << BALLOON_F_STATS_VQ) |
                       (1ULL << BALLOON_F_DEFLATE_ON_OOM)));
    if (tg_args.report) {
        want |= offered & (1ULL << BALLOON_F_REPORTING);
    }
    if (!virtio_set_features(&b->vd, want)) {
        tg_fatal("balloon: the device refused features %#lx", want);
    }
    b->stats = want & (1ULL << BALLOON_F_STATS_VQ);
    b->deflate_on_oom = want & (1ULL << BALLOON_F_DEFLATE_ON_OOM);
    b->reporting = want & (1ULL << BALLOON_F_REPORTING);

    /*
     * Queues are numbered densely over the ones the device has: inflate,
     * deflate, then stats, free page hints and reporting when offered
     * (QEMU creates them from the features it offers; hints are never
     * negotiated here, but their queue still takes its number).
     */
    if (!virtq_setup(&b->vd, &b->inflateq, 0) ||
        !virtq_setup(&b->vd, &b->deflateq, 1)) {
        tg_fatal("balloon: cannot set up the inflate and deflate queues");
    }
    if (offered & (1ULL << BALLOON_F_STATS_VQ)) {
        if (b->stats && !virtq_setup(&b->vd, &b->statsq, next_q)) {
            tg_fatal("balloon: cannot set up the stats queue");
        }
        next_q++;
    }
    if (offered & (1ULL << BALLOON_F_FREE_PAGE_HINT)) {
        next_q++;
    }
    if (b->reporting && !virtq_setup(&b->vd, &b->reportq, next_q)) {
        tg_fatal("balloon: cannot set up the reporting queue");
    }
    if (!ram_alloc(2 * PAGE_SIZE, &addr)) {
        tg_fatal("balloon: out of memory for buffers");
    }
    b->pfns = phys(addr);
    b->stats_buf = phys(addr + PAGE_SIZE);
    virtio_ready(&b->vd);

    /* The pool: everything left, or tg.mb MiB of it. */
    free = ram_free_bytes() & ~(PAGE_SIZE - 1);
    if (tg_args.mb && tg_args.mb * MIB > free) {
        tg_fatal("balloon: not enough memory for tg.mb=%lu", tg_args.mb);
    }
    if (tg_args.mb) {
        free = tg_args.mb * MIB;
    }
    if (!free || !ram_alloc(free, &b->pool)) {
        tg_fatal("balloon: no free memory");
    }
    b->pages = free / PAGE_SIZE;
    b->bstart = b->pages;

    /* One write a page is enough to make the host back it. */
    t0 = clock_ns();
    for (i = 0; i < b->pages; i++) {
        *(volatile uint64_t *)phys(page_addr(b, i)) = page_addr(b, i);
    }
    b->touched = b->pages;
    con_printf("TG BALLOON START pool=%lu stats=%d oom=%d reporting=%d "
               "touch_ms=%lu\n", b->pages, b->stats, b->deflate_on_oom,
               b->reporting, (clock_ns() - t0) / 1000000);
    b->shown_target = b->shown_actual = SHOWN_NONE;
    /* The first report goes at once: the whole pool is free. */
    if (b->reporting) {
        b->unreported_since = clock_ns() - REPORT_DELAY_NS;
    }
}

void mode_balloon(void)
{
    Balloon *b = &balloon;
    uint64_t now, wake, next_poll = 0, end = 0;

    balloon_setup(b);
    if (tg_args.secs) {
        end = clock_ns() + tg_args.secs * NS_PER_SEC;
    }
    for (;;) {
        uint64_t actual = balloon_actual(b), goal;

        now = clock_ns();
        if (end && now >= end) {
            return;
        }
        if (now >= next_poll) {
            pm_poll();
            (void)virtio_isr(&b->vd);
            b->target = virtio_config_read32(&b->vd, BALLOON_CFG_NUM_PAGES);
            if (b->target != b->shown_target) {
                balloon_show(b);
            }
            next_poll = now + BALLOON_POLL_NS;
        }
        balloon_stats(b);

        goal = balloon_goal(b);
        if (goal > actual) {
            uint64_t n = goal - actual < BALLOON_BATCH ? goal - actual
                                                       : BALLOON_BATCH;

            balloon_move(b, 1, n);
            balloon_inflate(b, n);
            continue;
        }
        if (goal < actual) {
            uint64_t n = actual - goal < BALLOON_BATCH ? actual - goal
                                                       : BALLOON_BATCH;

            balloon_move(b, -1, n);
            balloon_deflate(b, n);
            continue;
        }
        balloon_move_end(b);
        balloon_show(b);
        if (tg_args.pressure && !b->pressure_done && b->target &&
            actual == b->target) {
            balloon_pressure(b);
            continue;
        }
        if (b->reported >= b->bstart) {
            b->unreported_since = 0;        /* pressure took them */
        }
        if (b->unreported_since &&
            now >= b->unreported_since + REPORT_DELAY_NS) {
            balloon_report(b);
            continue;
        }

        /* Settled: sleep until the next poll (or report, or the end). */
        wake = next_poll;
        if (b->unreported_since &&
            b->unreported_since + REPORT_DELAY_NS < wake) {
            wake = b->unreported_since + REPORT_DELAY_NS;
        }
        if (end && end < wake) {
            wake = end;
        }
        if (wake > now) {
            pm_timer_arm(wake - now);
            pm_wait_event();
        }
    }
}
