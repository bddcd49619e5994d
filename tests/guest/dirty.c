/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dirty: rewrite tg.mb MiB over and over (at tg.rate MiB/s, 0 = flat out)
 * and verify every page before rewriting it, so a lost write or a page
 * restored stale (a migration bug) shows up as a CORRUPT line. The memory
 * is split into one contiguous range per CPU (tg.cpus of them, default
 * all); each CPU writes its range at its share of the rate, with its own
 * generations, and reports on its own line.
 *
 * Page layout (512 little-endian u64 words):
 *   [0] page index   [1] generation   [2..510] fill   [511] checksum
 * The fill depends on (index, generation), the checksum on all the words
 * before it. The expected generation of every page lives in a separate
 * u32 array; 0 means "never written".
 */
#include "tg.h"

#define DIRTY_DEFAULT_MB    64
#define WORDS               (PAGE_SIZE / 8)
#define CHUNK_PAGES         256         /* 1 MiB between clock checks */
#define POLL_NS             (NS_PER_SEC / 10)
#define MAX_CORRUPT_LINES   16

typedef struct {
    unsigned int cpu;
    uint64_t *pages;                    /* this CPU's range */
    uint32_t *want;                     /* expected generation per page */
    uint64_t first;                     /* index of its first page */
    uint64_t npages;
    uint64_t rate;                      /* bytes/s, 0: unlimited */
    uint32_t gen;
    uint64_t written;                   /* bytes */
    uint64_t verified;                  /* pages */
    uint64_t errors;
} __attribute__((aligned(64))) Dirty;

static Dirty dirty[TG_MAX_CPUS];
static uint64_t start_ns, end_ns;       /* shared by all CPUs */

static uint64_t fill_seed(uint64_t index, uint64_t gen)
{
    return (index * 0x9e3779b97f4a7c15ULL) ^ (gen * 0xc2b2ae3d27d4eb4fULL);
}

static void page_write(uint64_t *w, uint64_t index, uint32_t gen)
{
    uint64_t seed = fill_seed(index, gen);
    uint64_t sum;
    unsigned int k;

    w[0] = index;
    w[1] = gen;
    sum = index + gen;
    for (k = 2; k < WORDS - 1; k++) {
        w[k] = seed + k * 0x100000001b3ULL;
        sum += w[k] ^ k;
    }
    w[WORDS - 1] = ~sum;
}

/* True if the page holds (index, gen) intact; *got is the generation found. */
static bool page_verify(const uint64_t *w, uint64_t index, uint32_t gen,
                        uint64_t *got)
{
    uint64_t sum = w[0] + w[1];
    unsigned int k;

    for (k = 2; k < WORDS - 1; k++) {
        sum += w[k] ^ k;
    }
    *got = w[1];
    return w[0] == index && w[1] == gen && w[WORDS - 1] == ~sum;
}

static void report(const Dirty *d)
{
    con_printf("TG DIRTY cpu=%u gen=%u written_mb=%lu verified=%lu "
               "errors=%lu\n", d->cpu, d->gen, d->written / MIB, d->verified,
               d->errors);
}

static void dirty_page(Dirty *d, uint64_t i)
{
    uint64_t *w = d->pages + i * WORDS;
    uint64_t got;

    if (d->want[i]) {
        if (page_verify(w, d->first + i, d->want[i], &got)) {
            d->verified++;
        } else {
            if (d->errors < MAX_CORRUPT_LINES) {
                con_printf("TG DIRTY CORRUPT cpu=%u page=%lu want=%u "
                           "got=%lu\n", d->cpu, d->first + i, d->want[i],
                           got);
            }
            d->errors++;
        }
    }
    page_write(w, d->first + i, d->gen);
    d->want[i] = d->gen;
    d->written += PAGE_SIZE;
}

/* With a rate: true while the bytes written are ahead of schedule. */
static bool ahead_of_rate(const Dirty *d, uint64_t elapsed_ns)
{
    return d->rate &&
           (unsigned __int128)d->written * NS_PER_SEC >
           (unsigned __int128)elapsed_ns * d->rate;
}

/* One CPU's loop over its range. CPU 0 also polls the power button. */
static void dirty_run(Dirty *d)
{
    uint64_t now, next_report, next_poll, i = 0;

    next_report = start_ns + NS_PER_SEC;
    next_poll = start_ns + POLL_NS;
    d->gen = 1;
    for (;;) {
        uint64_t n;

        for (n = 0; n < CHUNK_PAGES && i < d->npages; n++, i++) {
            dirty_page(d, i);
        }
        if (i == d->npages) {
            i = 0;
            d->gen++;
            if (d->gen == 3 && d->cpu == 0 && tg_args.corrupt >= 0 &&
                (uint64_t)tg_args.corrupt < d->npages) {
                /* Self-test: put back generation 1 of one page, as a
                 * migration that lost its last write would; the third
                 * pass must report it. */
                page_write(d->pages + tg_args.corrupt * WORDS,
                           (uint64_t)tg_args.corrupt, 1);
            }
        }

        /* With a rate, wait here until the bytes written are due. */
        do {
            now = clock_ns();
            if (end_ns && now >= end_ns) {
                report(d);
                return;
            }
            if (now >= next_report) {
                report(d);
                next_report += NS_PER_SEC;
            }
            if (d->cpu == 0 && now >= next_poll) {
                pm_poll();
                next_poll = now + POLL_NS;
            }
        } while (ahead_of_rate(d, now - start_ns));
    }
}

static void dirty_ap(unsigned int cpu)
{
    dirty_run(&dirty[cpu]);
}

void mode_dirty(void)
{
    uint64_t mb = tg_args.mb ? tg_args.mb : DIRTY_DEFAULT_MB;
    uint64_t npages, addr, first = 0;
    uint64_t free = ram_free_bytes();
    uint32_t *want;
    uint64_t *pages;
    unsigned int ncpus = smp_cpus(), c;

    if (tg_args.cpus && tg_args.cpus < ncpus) {
        ncpus = (unsigned int)tg_args.cpus;
    }
    npages = mb * (MIB / PAGE_SIZE);
    if (!tg_args.mb && npages * (PAGE_SIZE + 4) + PAGE_SIZE > free) {
        /* The default shrinks to fit; an explicit tg.mb does not. */
        npages = free > PAGE_SIZE ? (free - PAGE_SIZE) / (PAGE_SIZE + 4) : 0;
        npages &= ~(uint64_t)(CHUNK_PAGES - 1);
    }
    if (npages < ncpus || !ram_alloc(ALIGN_UP(npages * 4, PAGE_SIZE), &addr)) {
        tg_fatal("dirty: not enough memory for tg.mb=%lu", mb);
    }
    want = (uint32_t *)(uintptr_t)addr;
    memset(want, 0, npages * 4);
    if (!ram_alloc(npages * PAGE_SIZE, &addr)) {
        tg_fatal("dirty: not enough memory for tg.mb=%lu", mb);
    }
    pages = (uint64_t *)(uintptr_t)addr;

    /* One contiguous range per CPU, each at its share of the rate. */
    for (c = 0; c < ncpus; c++) {
        Dirty *d = &dirty[c];
        uint64_t end = npages * (c + 1) / ncpus;

        memset(d, 0, sizeof(*d));
        d->cpu = c;
        d->first = first;
        d->npages = end - first;
        d->pages = pages + first * WORDS;
        d->want = want + first;
        d->rate = tg_args.rate * MIB / ncpus;
        first = end;
    }

    start_ns = clock_ns();
    end_ns = tg_args.secs ? start_ns + tg_args.secs * NS_PER_SEC : 0;
    for (c = 1; c < ncpus; c++) {
        smp_call(c, dirty_ap);
    }
    dirty_run(&dirty[0]);
    /* The others stop at the same end_ns; let their last lines out (a
     * vCPU may be waiting for a host core: give it time). */
    for (c = 1; c < ncpus; c++) {
        if (!smp_wait(c, 2 * NS_PER_SEC)) {
            con_printf("TG ERROR dirty: cpu %u did not stop\n", c);
        }
    }
}
