/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Pre-copy RAM transfer (see ram.h). Runs on the migration thread while
 * the vCPUs write on; the pending bitmap belongs to that thread alone.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bytes.h"
#include "error.h"
#include "migration/multifd.h"
#include "migration/ram.h"

#define PAGE_SHIFT 12
#define BITS_PER_LONG (8 * sizeof(unsigned long))

struct RamSender {
    Kvm *kvm;
    MemMap *mem;
    bool logging;
    unsigned long *pending[MEMMAP_MAX_REGIONS];
    unsigned long *scratch[MEMMAP_MAX_REGIONS];
    uint64_t words[MEMMAP_MAX_REGIONS];
    uint64_t npending;
};

RamSender *ram_sender_new(Kvm *kvm, MemMap *mem)
{
    RamSender *s = g_new0(RamSender, 1);

    s->kvm = kvm;
    s->mem = mem;
    for (unsigned int i = 0; i < mem->nr_regions; i++) {
        uint64_t pages = mem->regions[i].size >> PAGE_SHIFT;

        s->words[i] = (pages + BITS_PER_LONG - 1) / BITS_PER_LONG;
        s->pending[i] = g_new0(unsigned long, s->words[i]);
        s->scratch[i] = g_new0(unsigned long, s->words[i]);
    }
    return s;
}

void ram_sender_free(RamSender *s)
{
    if (!s) {
        return;
    }
    ram_sender_stop(s);
    for (unsigned int i = 0; i < MEMMAP_MAX_REGIONS; i++) {
        g_free(s->pending[i]);
        g_free(s->scratch[i]);
    }
    g_free(s);
}

static uint64_t count_bits(const unsigned long *bm, uint64_t words)
{
    uint64_t n = 0;

    for (uint64_t i = 0; i < words; i++) {
        n += (uint64_t)__builtin_popcountl(bm[i]);
    }
    return n;
}

/* Mark the pages of region @i that hold data pending: the rest (never
 * touched, or ballooned out) reads as zeros on the destination already,
 * and reading it here would allocate it. Every backend says which in its
 * own way (memmap_populated). */
static void mark_data_extents(RamSender *s, unsigned int i)
{
    memmap_populated(s->mem, i, s->pending[i]);
}

static bool set_logging(RamSender *s, bool on, GError **errp)
{
    if (!s->kvm) {
        return true;
    }
    for (unsigned int i = 0; i < s->mem->nr_regions; i++) {
        MemRegion *r = &s->mem->regions[i];

        if (!kvm_set_memory_region(s->kvm, i, r->gpa, r->size, r->hva,
                                   on ? KVM_MEM_LOG_DIRTY_PAGES : 0, errp)) {
            return false;
        }
    }
    s->logging = on;
    return true;
}

bool ram_sender_start(RamSender *s, GError **errp)
{
    if (!set_logging(s, true, errp)) {
        g_prefix_error(errp, "cannot start dirty page logging: ");
        return false;
    }
    for (unsigned int i = 0; i < s->mem->nr_regions; i++) {
        /* Writes the VMM made before now are in RAM already: pass 1
         * reads RAM itself. Forget them. */
        memmap_dirty_take(s->mem, i, s->scratch[i]);
        memset(s->scratch[i], 0, s->words[i] * sizeof(unsigned long));
        mark_data_extents(s, i);
    }
    s->npending = 0;
    for (unsigned int i = 0; i < s->mem->nr_regions; i++) {
        s->npending += count_bits(s->pending[i], s->words[i]);
    }
    return true;
}

uint64_t ram_sender_sync(RamSender *s)
{
    s->npending = 0;
    for (unsigned int i = 0; i < s->mem->nr_regions; i++) {
        memset(s->scratch[i], 0, s->words[i] * sizeof(unsigned long));
        if (s->kvm && s->logging) {
            /* KVM_GET_DIRTY_LOG: fetch and re-protect, in one call. */
            kvm_get_dirty_log(s->kvm, i, s->scratch[i]);
        }
        memmap_dirty_take(s->mem, i, s->scratch[i]);
        for (uint64_t w = 0; w < s->words[i]; w++) {
            s->pending[i][w] |= s->scratch[i][w];
        }
        s->npending += count_bits(s->pending[i], s->words[i]);
    }
    return s->npending;
}

uint64_t ram_sender_pending(const RamSender *s)
{
    return s->npending;
}

bool ram_page_is_zero(const uint8_t *p)
{
    const uint64_t *w = (const uint64_t *)p;
    uint64_t acc = 0;

    for (size_t i = 0; i < (1u << PAGE_SHIFT) / 8; i += 8) {
        acc |= w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] |
               w[i + 6] | w[i + 7];
        if (acc) {
            return false;
        }
    }
    return true;
}

static void rate_limit(RamRateLimit *rl, uint64_t bytes)
{
    int64_t bw;
    gint64 now, due;

    if (!rl) {
        return;
    }
    bw = *rl->max_bandwidth;
    if (bw <= 0) {
        return;
    }
    now = g_get_monotonic_time();
    if (!rl->window_start) {
        rl->window_start = now;
    }
    rl->window_bytes += bytes;
    /* When the bytes sent since window_start are due at this rate; a
     * record may be larger than a tick's share, so sleep off the debt. */
    due = rl->window_start +
          (gint64)(rl->window_bytes * G_USEC_PER_SEC / (uint64_t)bw);
    if (due > now) {
        g_usleep((gulong)(due - now));
    } else if (now - due > G_USEC_PER_SEC / 10) {
        /* Idle a while (the pass ended, or the link was slower than the
         * limit): do not let that build up a burst. */
        rl->window_start = now;
        rl->window_bytes = 0;
    }
}

/* Send @n pending pages of region @r from page @first: runs of zero pages
 * as ZERO records, the rest as RAM records. */
static bool send_run(MigWriter *w, const MemRegion *r, uint64_t first,
                     uint64_t n, RamRateLimit *rl, RamStats *st)
{
    uint64_t p = first, end = first + n;

    while (p < end) {
        const uint8_t *hva = r->hva + (p << PAGE_SHIFT);
        bool zero = ram_page_is_zero(hva);
        uint64_t q = p + 1;
        uint64_t before = w->bytes + w->len;

        while (q < end &&
               ram_page_is_zero(r->hva + (q << PAGE_SHIFT)) == zero) {
            q++;
        }
        if (zero) {
            if (!mig_write_zero(w, r->gpa + (p << PAGE_SHIFT), q - p)) {
                return false;
            }
            st->duplicate += q - p;
        } else {
            if (!mig_write_ram(w, r->gpa + (p << PAGE_SHIFT), hva,
                               (uint32_t)(q - p))) {
                return false;
            }
            st->normal += q - p;
        }
        rate_limit(rl, w->bytes + w->len - before);
        p = q;
    }
    return true;
}

bool ram_sender_pass(RamSender *s, MigWriter *w, MultifdSend *mfd,
                     RamRateLimit *rl, RamStats *stats)
{
    for (unsigned int i = 0; i < s->mem->nr_regions; i++) {
        const MemRegion *r = &s->mem->regions[i];
        unsigned long *bm = s->pending[i];
        uint64_t pages = r->size >> PAGE_SHIFT;
        uint64_t p = 0;

        while (p < pages) {
            uint64_t run = 0;

            if (!bm[p / BITS_PER_LONG] && p % BITS_PER_LONG == 0) {
                p += BITS_PER_LONG;
                continue;
            }
            while (p + run < pages && run < MIG_RUN_PAGES &&
                   (bm[(p + run) / BITS_PER_LONG] >>
                    ((p + run) % BITS_PER_LONG) & 1)) {
                bm[(p + run) / BITS_PER_LONG] &=
                    ~(1UL << ((p + run) % BITS_PER_LONG));
                run++;
            }
            if (run == 0) {
                p++;
                continue;
            }
            if (mfd) {
                multifd_send_queue(mfd, r, p, run);
                rate_limit(rl, run << PAGE_SHIFT);
                if (w->cancel && *w->cancel) {
                    return false;
                }
            } else if (!send_run(w, r, p, run, rl, stats)) {
                return false;
            }
            s->npending -= MIN(s->npending, run);
            p += run;
        }
    }
    return true;
}

void ram_sender_stop(RamSender *s)
{
    if (s->logging) {
        set_logging(s, false, NULL);
    }
}

/* --- destination ------------------------------------------------------------ */

static const MemRegion *find_region(MemMap *mem, uint64_t gpa, uint64_t len)
{
    for (unsigned int i = 0; i < mem->nr_regions; i++) {
        const MemRegion *r = &mem->regions[i];

        if (gpa >= r->gpa && len <= r->size && gpa - r->gpa <= r->size - len) {
            return r;
        }
    }
    return NULL;
}

static bool range_error(uint64_t gpa, uint64_t len, GError **errp)
{
    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                "migration stream: pages at 0x%" PRIx64 " (+0x%" PRIx64
                ") are outside this VM's RAM", gpa, len);
    return false;
}

bool ram_receive(MemMap *mem, MigReader *r, uint32_t type, uint32_t len,
                 MigSum *sum, RamStats *stats, GError **errp)
{
    uint8_t b[16];
    uint64_t gpa, bytes;
    const MemRegion *reg;

    if (type == MIG_REC_ZERO) {
        if (len != 16 || !mig_read_exact(r, b, 16, "zero section", errp)) {
            if (len != 16) {
                g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                            "migration stream: zero section of %u bytes",
                            len);
            }
            return false;
        }
        mig_sum_add(sum, b, 16);
        gpa = le64_load(b);
        bytes = le64_load(b + 8);
        if (bytes > (UINT64_MAX >> PAGE_SHIFT) || (gpa & 0xfff)) {
            return range_error(gpa, bytes, errp);
        }
        bytes <<= PAGE_SHIFT;
        if (!bytes || !find_region(mem, gpa, bytes)) {
            return range_error(gpa, bytes, errp);
        }
        if (!mig_read_record_tail(r, type, sum, errp)) {
            return false;
        }
        /* A hole, not a page of zeros: RSS stays what the source had
         * (and a page that reads zeros already is left as it is). */
        memmap_clear(mem, gpa, bytes);
        stats->duplicate += bytes >> PAGE_SHIFT;
        return true;
    }
    if (len < 8 + MIG_PAGE_SIZE || (len - 8) % MIG_PAGE_SIZE) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "migration stream: ram section of %u bytes is not a "
                    "whole number of pages", len);
        return false;
    }
    if (!mig_read_exact(r, b, 8, "ram section", errp)) {
        return false;
    }
    mig_sum_add(sum, b, 8);
    gpa = le64_load(b);
    bytes = len - 8;
    reg = (gpa & 0xfff) ? NULL : find_region(mem, gpa, bytes);
    if (!reg) {
        return range_error(gpa, bytes, errp);
    }
    /* Straight into guest RAM: the VM has never run, and a bad checksum
     * ends this process anyway. Allocate the run in one go first: one
     * call instead of a fault per 4 KiB page (failure is harmless). */
    madvise(reg->hva + (gpa - reg->gpa), bytes, MADV_POPULATE_WRITE);
    if (!mig_read_exact(r, reg->hva + (gpa - reg->gpa), bytes,
                        "ram section", errp)) {
        return false;
    }
    mig_sum_add(sum, reg->hva + (gpa - reg->gpa), bytes);
    stats->normal += bytes >> PAGE_SHIFT;
    return mig_read_record_tail(r, type, sum, errp);
}
