/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blk: drive the first virtio-blk device (virtio 1.2 section 5.2) from user
 * mode, polled, with up to BLK_DEPTH requests in flight. Writes a pattern
 * over the first tg.mb MiB that the guest and a host tool can both check,
 * flushes, reads it back, then runs random 4 KiB writes and reads.
 *
 * Every 512-byte sector carries 64 little-endian u64 words:
 *   [0] sector number   [1] seed (tg.seed)   [2] generation
 *   [3..62] fill: x + k * 0x100000001b3, x = sector * 0x9e3779b97f4a7c15
 *           ^ seed * 0xc2b2ae3d27d4eb4f ^ generation * 0xff51afd7ed558ccd
 *   [63] checksum: ~(sum over k = 0..62 of (word[k] ^ k))
 * (all arithmetic modulo 2^64). The sequential pass writes generation 0;
 * each random write of a 4 KiB block (8 sectors) bumps the block's
 * generation. The guest remembers the generation it wrote to every block,
 * so a lost or stale write is caught; a reader without that memory (the
 * host, tg.verify=1) accepts any generation the checksum vouches for.
 */
#include "tg.h"

#define VIRTIO_ID_BLK           0x1042
#define VIRTIO_ID_BLK_LEGACY    0x1001

/* Feature bits (5.2.3). */
#define BLK_F_SIZE_MAX          1
#define BLK_F_SEG_MAX           2
#define BLK_F_RO                5
#define BLK_F_BLK_SIZE          6
#define BLK_F_FLUSH             9

/* Configuration layout (5.2.4). */
#define BLK_CFG_CAPACITY        0
#define BLK_CFG_SIZE_MAX        8
#define BLK_CFG_SEG_MAX         12
#define BLK_CFG_BLK_SIZE        20

/* Request types and status (5.2.6). */
#define BLK_T_IN                0
#define BLK_T_OUT               1
#define BLK_T_FLUSH             4
#define BLK_T_GET_ID            8
#define BLK_S_OK                0
#define BLK_S_IOERR             1
#define BLK_S_UNSUPP            2
#define BLK_ID_BYTES            20

#define SECTOR                  512
#define WORDS                   (SECTOR / 8)
#define BLOCK                   4096                /* random I/O unit */
#define SECTORS_PER_BLOCK       (BLOCK / SECTOR)
#define BLK_DEPTH               32                  /* requests in flight */
#define SEQ_BYTES               (64 * KIB)          /* sequential request */
#define BLK_DEFAULT_MB          64
#define BLK_DEFAULT_COUNT       10000               /* random requests */
#define BLK_TIMEOUT_NS          (10 * NS_PER_SEC)
#define POLL_NS                 (NS_PER_SEC / 10)
#define MAX_CORRUPT_LINES       16

/* Expected generation of a block: a number, or one of these. */
#define GEN_ANY                 0xfffffffeu         /* any valid one */
#define GEN_UNWRITTEN           0xffffffffu         /* not checked */

typedef struct {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
} BlkHdr;

typedef struct {
    bool busy;
    uint32_t type;
    uint64_t sector;
    uint32_t nsect;
    uint32_t gen;                       /* written / expected */
} Slot;

typedef struct {
    const char *name;
    uint32_t type;                      /* BLK_T_IN or BLK_T_OUT */
    bool random;
    uint64_t next;                      /* sequential: next sector */
    uint64_t end;                       /* sequential: sector to stop at */
    uint64_t left;                      /* random: requests to issue */
    uint64_t deadline;                  /* random with tg.secs: ns */
    bool verify_any;                    /* verify: any generation */
    uint64_t requests, bytes, errors;
} Phase;

typedef struct {
    VirtioDev vd;
    Virtq vq;
    uint64_t capacity;                  /* sectors */
    uint64_t sectors;                   /* the area: tg.mb MiB */
    uint64_t blocks;
    unsigned int depth;
    uint32_t seq_bytes;
    uint64_t hdr_mem;                   /* slot i: header, then status */
    uint64_t data_mem;                  /* slot i: seq_bytes */
    Slot slot[BLK_DEPTH];
    unsigned int free[BLK_DEPTH], nr_free;
    uint32_t *gen;                      /* per block */
    bool flush, ro;
    uint64_t rng;
    uint64_t corrupt_lines;
    uint64_t next_poll;
} Blk;

static Blk blk;

static uint64_t pattern_x(uint64_t sector, uint64_t seed, uint64_t gen)
{
    return (sector * 0x9e3779b97f4a7c15ULL) ^ (seed * 0xc2b2ae3d27d4eb4fULL) ^
           (gen * 0xff51afd7ed558ccdULL);
}

static void sector_fill(uint64_t *w, uint64_t sector, uint64_t seed,
                        uint64_t gen)
{
    uint64_t x = pattern_x(sector, seed, gen), sum;
    unsigned int k;

    w[0] = sector;
    w[1] = seed;
    w[2] = gen;
    sum = (w[0] ^ 0) + (w[1] ^ 1) + (w[2] ^ 2);
    for (k = 3; k < WORDS - 1; k++) {
        w[k] = x + k * 0x100000001b3ULL;
        sum += w[k] ^ k;
    }
    w[WORDS - 1] = ~sum;
}

/* True if the sector holds (sector, seed) at generation @want (or any,
 * GEN_ANY). */
static bool sector_ok(const uint64_t *w, uint64_t sector, uint64_t seed,
                      uint32_t want)
{
    uint64_t x, sum = 0;
    unsigned int k;

    if (w[0] != sector || w[1] != seed ||
        (want != GEN_ANY && w[2] != want)) {
        return false;
    }
    x = pattern_x(sector, seed, w[2]);
    for (k = 0; k < WORDS - 1; k++) {
        if (k >= 3 && w[k] != x + k * 0x100000001b3ULL) {
            return false;
        }
        sum += w[k] ^ k;
    }
    return w[WORDS - 1] == ~sum;
}

static BlkHdr *slot_hdr(const Blk *b, unsigned int i)
{
    return phys(b->hdr_mem + 64ULL * i);
}

static volatile uint8_t *slot_status(const Blk *b, unsigned int i)
{
    return phys(b->hdr_mem + 64ULL * i + sizeof(BlkHdr));
}

static uint64_t slot_data(const Blk *b, unsigned int i)
{
    return b->data_mem + (uint64_t)b->seq_bytes * i;
}

/* Queue one request in slot @i (descriptors 3i..3i+2); kick separately. */
static void blk_post(Blk *b, unsigned int i, uint32_t type, uint64_t sector,
                     uint32_t bytes, uint64_t data)
{
    BlkHdr *h = slot_hdr(b, i);
    uint16_t d = (uint16_t)(3 * i);

    h->type = type;
    h->reserved = 0;
    h->sector = sector;
    *slot_status(b, i) = 0xff;
    virtq_desc(&b->vq, d, b->hdr_mem + 64ULL * i, sizeof(BlkHdr),
               VIRTQ_DESC_F_NEXT, (uint16_t)(d + 1));
    if (bytes) {
        d++;
        virtq_desc(&b->vq, d, data, bytes,
                   (uint16_t)(VIRTQ_DESC_F_NEXT |
                              (type == BLK_T_OUT ? 0 : VIRTQ_DESC_F_WRITE)),
                   (uint16_t)(d + 1));
    }
    virtq_desc(&b->vq, (uint16_t)(d + 1),
               b->hdr_mem + 64ULL * i + sizeof(BlkHdr), 1,
               VIRTQ_DESC_F_WRITE, 0);
    virtq_post(&b->vq, (uint16_t)(3 * i));
}

/* Wait for the next completion; returns its slot. */
static unsigned int blk_reap(Blk *b)
{
    uint64_t deadline = clock_ns() + BLK_TIMEOUT_NS;
    uint16_t id;
    uint32_t len;

    for (;;) {
        uint64_t now;

        if (virtq_pop(&b->vq, &id, &len)) {
            if (id % 3 || id / 3 >= b->depth) {
                tg_fatal("blk: the device used descriptor %u, not a head",
                         id);
            }
            return id / 3u;
        }
        now = clock_ns();
        if (now >= b->next_poll) {
            pm_poll();
            b->next_poll = now + POLL_NS;
        }
        if (now > deadline) {
            tg_fatal("blk: the device did not complete a request within "
                     "%lu s", BLK_TIMEOUT_NS / NS_PER_SEC);
        }
        cpu_relax();
    }
}

/* One request, synchronously (nothing else in flight): its status. */
static uint8_t blk_sync(Blk *b, uint32_t type, uint64_t sector,
                        uint32_t bytes)
{
    blk_post(b, 0, type, sector, bytes, slot_data(b, 0));
    virtq_kick(&b->vq);
    (void)blk_reap(b);
    return *slot_status(b, 0);
}

static const char *status_name(uint8_t s)
{
    switch (s) {
    case BLK_S_OK:
        return "ok";
    case BLK_S_IOERR:
        return "ioerr";
    case BLK_S_UNSUPP:
        return "unsupp";
    default:
        return "bad";
    }
}

static uint64_t rng_next(Blk *b)
{
    /* xorshift64 */
    b->rng ^= b->rng << 13;
    b->rng ^= b->rng >> 7;
    b->rng ^= b->rng << 17;
    return b->rng;
}

static bool block_in_flight(const Blk *b, uint64_t sector)
{
    unsigned int i;

    for (i = 0; i < b->depth; i++) {
        if (b->slot[i].busy && b->slot[i].sector == sector) {
            return true;
        }
    }
    return false;
}

/* The next request of phase @p, false if it has none left. */
static bool phase_next(Blk *b, Phase *p, uint64_t *sector, uint32_t *nsect)
{
    if (!p->random) {
        uint64_t n = b->seq_bytes / SECTOR;

        if (p->next >= p->end) {
            return false;
        }
        if (n > p->end - p->next) {
            n = p->end - p->next;
        }
        *sector = p->next;
        *nsect = (uint32_t)n;
        p->next += n;
        return true;
    }
    if (p->deadline ? clock_ns() >= p->deadline : !p->left) {
        return false;
    }
    do {
        *sector = (rng_next(b) % b->blocks) * SECTORS_PER_BLOCK;
    } while (block_in_flight(b, *sector));
    *nsect = SECTORS_PER_BLOCK;
    if (!p->deadline) {
        p->left--;
    }
    return true;
}

static void corrupt(Blk *b, Phase *p, uint64_t sector)
{
    p->errors++;
    if (b->corrupt_lines++ < MAX_CORRUPT_LINES) {
        con_printf("TG BLK CORRUPT sector=%lu\n", sector);
    }
}

static void complete(Blk *b, Phase *p, unsigned int i)
{
    Slot *s = &b->slot[i];
    uint8_t st = *slot_status(b, i);
    uint64_t block = s->sector / SECTORS_PER_BLOCK;
    uint32_t k;

    p->requests++;
    if (st != BLK_S_OK) {
        p->errors++;
        if (s->type == BLK_T_OUT) {
            for (k = 0; k < s->nsect; k += SECTORS_PER_BLOCK) {
                b->gen[block + k / SECTORS_PER_BLOCK] = GEN_ANY;
            }
        }
    } else if (s->type == BLK_T_OUT) {
        p->bytes += (uint64_t)s->nsect * SECTOR;
        for (k = 0; k < s->nsect; k += SECTORS_PER_BLOCK) {
            b->gen[block + k / SECTORS_PER_BLOCK] = s->gen;
        }
    } else {
        p->bytes += (uint64_t)s->nsect * SECTOR;
        for (k = 0; k < s->nsect; k++) {
            uint32_t want = p->verify_any
                            ? GEN_ANY
                            : b->gen[block + k / SECTORS_PER_BLOCK];
            const uint64_t *w = phys(slot_data(b, i) + (uint64_t)k * SECTOR);

            if (want != GEN_UNWRITTEN &&
                !sector_ok(w, s->sector + k, tg_args.seed, want)) {
                corrupt(b, p, s->sector + k);
            }
        }
    }
    s->busy = false;
    b->free[b->nr_free++] = i;
}

static void flush(Blk *b, Phase *p)
{
    uint8_t st;

    if (!b->flush) {
        return;
    }
    st = blk_sync(b, BLK_T_FLUSH, 0, 0);
    if (st != BLK_S_OK) {
        con_printf("TG ERROR blk: flush: status %s\n", status_name(st));
        p->errors++;
    }
}

static void phase_report(const Phase *p, uint64_t ns)
{
    uint64_t kb_s = ns ? p->bytes * 1000000ULL / ns * 1000 / 1024 : 0;

    if (!ns) {
        ns = 1;
    }
    /* MiB/s with two decimals: KiB/s / 1024. */
    con_printf("TG BLK phase=%s mb_s=%lu.%02lu iops=%lu errors=%lu\n",
               p->name, kb_s / 1024, kb_s % 1024 * 100 / 1024,
               p->requests * NS_PER_SEC / ns, p->errors);
}

/* Run phase @p: keep the queue full until it has nothing left. */
static void phase_run(Blk *b, Phase *p)
{
    uint64_t t0 = clock_ns();

    for (;;) {
        uint64_t sector;
        uint32_t nsect;

        while (b->nr_free && phase_next(b, p, &sector, &nsect)) {
            unsigned int i = b->free[--b->nr_free];
            Slot *s = &b->slot[i];
            uint64_t data = slot_data(b, i);
            uint32_t k;

            s->busy = true;
            s->type = p->type;
            s->sector = sector;
            s->nsect = nsect;
            if (p->type == BLK_T_OUT) {
                uint32_t g = b->gen[sector / SECTORS_PER_BLOCK];

                s->gen = p->random ? (g >= GEN_ANY ? 1 : g + 1) : 0;
                for (k = 0; k < nsect; k++) {
                    sector_fill(phys(data + (uint64_t)k * SECTOR),
                                sector + k, tg_args.seed, s->gen);
                }
            }
            blk_post(b, i, p->type, sector, nsect * SECTOR, data);
        }
        virtq_kick(&b->vq);
        if (b->nr_free == b->depth) {
            break;
        }
        complete(b, p, blk_reap(b));
    }
    if (p->type == BLK_T_OUT) {
        flush(b, p);
    }
    phase_report(p, clock_ns() - t0);
}

static void phase_seq(Blk *b, const char *name, uint32_t type, bool any)
{
    Phase p = { .name = name, .type = type, .end = b->sectors,
                .verify_any = any };

    phase_run(b, &p);
}

static void phase_rand(Blk *b, const char *name, uint32_t type)
{
    Phase p = { .name = name, .type = type, .random = true };

    if (tg_args.secs) {
        p.deadline = clock_ns() + tg_args.secs * NS_PER_SEC;
    } else {
        p.left = tg_args.count_given ? tg_args.count : BLK_DEFAULT_COUNT;
    }
    phase_run(b, &p);
}

/* VIRTIO_BLK_T_GET_ID: the serial, if the device has one. */
static void blk_serial(Blk *b)
{
    char buf[BLK_ID_BYTES + 1];
    const char *id = phys(slot_data(b, 0));
    unsigned int n;

    memset(phys(slot_data(b, 0)), 0, BLK_ID_BYTES);
    if (blk_sync(b, BLK_T_GET_ID, 0, BLK_ID_BYTES) != BLK_S_OK) {
        return;
    }
    for (n = 0; n < BLK_ID_BYTES && id[n]; n++) {
        buf[n] = id[n] > ' ' && id[n] < 0x7f ? id[n] : '_';
    }
    buf[n] = '\0';
    if (n) {
        con_printf("TG BLK serial=%s\n", buf);
    }
}

/* tg.ro=1: a write must fail with IOERR. It writes back what sector 0
 * holds, so a disk that wrongly accepts it is left unchanged. */
static void blk_ro_probe(Blk *b)
{
    uint8_t st = blk_sync(b, BLK_T_IN, 0, BLOCK);

    if (st != BLK_S_OK) {
        tg_fatal("blk: reading sector 0: status %s", status_name(st));
    }
    st = blk_sync(b, BLK_T_OUT, 0, BLOCK);
    con_printf("TG BLK ro write=%s ro_feature=%d\n", status_name(st), b->ro);
    if (st != BLK_S_IOERR) {
        con_printf("TG ERROR blk: a write to the read-only disk returned "
                   "%s, not ioerr\n", status_name(st));
    }
}

static void blk_setup(Blk *b)
{
    uint64_t offered, want, mem, i, bytes;
    uint32_t size_max = 0;

    if (!virtio_pci_probe(&b->vd, VIRTIO_ID_BLK, VIRTIO_ID_BLK_LEGACY)) {
        tg_fatal("blk: %s", b->vd.found
                 ? "the virtio-blk device lacks a modern virtio-pci "
                   "capability or BAR"
                 : "no virtio-blk PCI device");
    }
    offered = virtio_begin(&b->vd);
    if (!(offered & (1ULL << VIRTIO_F_VERSION_1))) {
        tg_fatal("blk: the device does not offer VIRTIO_F_VERSION_1");
    }
    /* Only what we use; MQ (one queue is enough), DISCARD, WRITE_ZEROES,
     * CONFIG_WCE and the rest are never negotiated. */
    want = (1ULL << VIRTIO_F_VERSION_1) |
           (offered & ((1ULL << BLK_F_SIZE_MAX) | (1ULL << BLK_F_SEG_MAX) |
                       (1ULL << BLK_F_RO) | (1ULL << BLK_F_BLK_SIZE) |
                       (1ULL << BLK_F_FLUSH)));
    if (!virtio_set_features(&b->vd, want)) {
        tg_fatal("blk: the device refused features %#lx", want);
    }
    b->flush = want & (1ULL << BLK_F_FLUSH);
    b->ro = want & (1ULL << BLK_F_RO);
    b->capacity = virtio_config_read64(&b->vd, BLK_CFG_CAPACITY);
    if (want & (1ULL << BLK_F_SIZE_MAX)) {
        size_max = virtio_config_read32(&b->vd, BLK_CFG_SIZE_MAX);
    }
    bytes = tg_args.mb ? tg_args.mb * MIB : BLK_DEFAULT_MB * MIB;
    if (bytes > b->capacity * SECTOR) {
        if (tg_args.mb) {
            tg_fatal("blk: tg.mb=%lu is more than the disk's %lu sectors",
                     tg_args.mb, b->capacity);
        }
        bytes = b->capacity * SECTOR;
    }
    b->blocks = bytes / BLOCK;
    b->sectors = b->blocks * SECTORS_PER_BLOCK;
    if (!b->blocks) {
        tg_fatal("blk: the disk is smaller than 4 KiB");
    }
    if (!virtq_setup(&b->vd, &b->vq, 0)) {
        tg_fatal("blk: cannot set up the request queue");
    }
    b->depth = b->vq.size / 3 < BLK_DEPTH ? b->vq.size / 3 : BLK_DEPTH;
    if (!b->depth) {
        tg_fatal("blk: queue 0 has only %u descriptors", b->vq.size);
    }
    /* Random requests never share a block: more blocks than slots. */
    if (b->depth > b->blocks) {
        b->depth = (unsigned int)b->blocks;
    }
    /* One data segment a request: at most size_max bytes. */
    b->seq_bytes = SEQ_BYTES;
    while (size_max && b->seq_bytes > size_max && b->seq_bytes > BLOCK) {
        b->seq_bytes /= 2;
    }
    if (!ram_alloc(PAGE_SIZE + (uint64_t)b->seq_bytes * b->depth, &mem)) {
        tg_fatal("blk: out of memory for buffers");
    }
    b->hdr_mem = mem;
    b->data_mem = mem + PAGE_SIZE;
    b->nr_free = 0;
    for (i = b->depth; i-- > 0;) {
        b->free[b->nr_free++] = (unsigned int)i;
    }
    virtio_ready(&b->vd);
    con_printf("TG BLK capacity=%lu features=%#lx\n", b->capacity, want);
    if (!ram_alloc(b->blocks * sizeof(uint32_t), &mem)) {
        tg_fatal("blk: out of memory for %lu blocks", b->blocks);
    }
    b->gen = phys(mem);
    for (i = 0; i < b->blocks; i++) {
        b->gen[i] = GEN_UNWRITTEN;
    }
    b->rng = tg_args.seed * 0x9e3779b97f4a7c15ULL + 0x2545f4914f6cdd1dULL;
}

void mode_blk(void)
{
    Blk *b = &blk;

    blk_setup(b);
    blk_serial(b);
    if (b->ro && !tg_args.ro && !tg_args.verify) {
        tg_fatal("blk: the disk is read-only: use tg.ro=1 or tg.verify=1");
    }
    if (tg_args.ro) {
        blk_ro_probe(b);
    }
    if (tg_args.ro || tg_args.verify) {
        phase_seq(b, "verify", BLK_T_IN, true);
        return;
    }
    if (tg_args.pattern & TG_PATTERN_SEQ) {
        phase_seq(b, "seqwrite", BLK_T_OUT, false);
        phase_seq(b, "seqread", BLK_T_IN, false);
    }
    if (tg_args.pattern & TG_PATTERN_RAND) {
        phase_rand(b, "randwrite", BLK_T_OUT);
        phase_rand(b, "randread", BLK_T_IN);
    }
}
