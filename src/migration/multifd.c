/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * multifd channels (see multifd.h): a thread and a connection each, fed
 * page runs through a queue by the migration thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <zstd.h>

#include "bytes.h"
#include "error.h"
#include "migration/multifd.h"

#define PAGE_SHIFT 12
#define CHUNK_SHIFT 21          /* 2 MiB: pages of a chunk share a channel */
#define MULTIFD_MAX 255

typedef enum {
    JOB_RUN,
    JOB_FLUSH,
    JOB_SYNC,                   /* npages holds the sequence number */
    JOB_END,
    JOB_QUIT,
} JobKind;

typedef struct {
    JobKind kind;
    const uint8_t *hva;         /* JOB_RUN: first page */
    uint64_t gpa;
    uint64_t npages;
} Job;

typedef struct Channel {
    struct MultifdSend *owner;
    unsigned int index;
    GThread *thread;
    GAsyncQueue *jobs;          /* Job * */
    MigWriter w;
    RamStats stats;             /* written by the thread, read after flush */
    ZSTD_CCtx *zctx;
    uint8_t *zbuf;
    size_t zcap;
} Channel;

struct MultifdSend {
    unsigned int n;
    Channel *ch;
    int zstd_level;             /* < 0: none */
    GMutex lock;
    GCond cond;
    unsigned int done;          /* (lock) flushes and ends acknowledged */
    char *error;                /* (lock) first failure */
};

static void channel_fail(Channel *c, const char *what)
{
    MultifdSend *s = c->owner;

    g_mutex_lock(&s->lock);
    if (!s->error) {
        s->error = g_strdup_printf("multifd channel %u: %s", c->index, what);
    }
    g_mutex_unlock(&s->lock);
}

/* Data pages, compressed: gpa, page count, zstd frame. The pages are
 * copied first so the frame describes one consistent snapshot. */
static bool write_zstd(Channel *c, uint64_t gpa, const uint8_t *hva,
                       uint64_t npages)
{
    size_t len = (size_t)npages << PAGE_SHIFT, z;
    uint8_t head[12];

    if (!c->zctx) {
        c->zctx = ZSTD_createCCtx();
        c->zcap = ZSTD_compressBound((size_t)MIG_RUN_PAGES << PAGE_SHIFT);
        c->zbuf = g_malloc(c->zcap + ((size_t)MIG_RUN_PAGES << PAGE_SHIFT));
    }
    memcpy(c->zbuf + c->zcap, hva, len);
    z = ZSTD_compressCCtx(c->zctx, c->zbuf, c->zcap, c->zbuf + c->zcap, len,
                          c->owner->zstd_level);
    if (ZSTD_isError(z)) {
        channel_fail(c, ZSTD_getErrorName(z));
        return false;
    }
    le64_store(head, gpa);
    le32_store(head + 8, (uint32_t)npages);
    return mig_write_record2(&c->w, MIG_REC_RAM_ZSTD, head, sizeof(head),
                             c->zbuf, (uint32_t)z);
}

static bool send_run(Channel *c, const Job *j)
{
    uint64_t p = 0;

    while (p < j->npages) {
        const uint8_t *hva = j->hva + (p << PAGE_SHIFT);
        bool zero = ram_page_is_zero(hva);
        uint64_t q = p + 1;
        bool ok;

        while (q < j->npages &&
               ram_page_is_zero(j->hva + (q << PAGE_SHIFT)) == zero) {
            q++;
        }
        if (zero) {
            ok = mig_write_zero(&c->w, j->gpa + (p << PAGE_SHIFT), q - p);
            c->stats.duplicate += q - p;
        } else if (c->owner->zstd_level >= 0) {
            ok = write_zstd(c, j->gpa + (p << PAGE_SHIFT), hva, q - p);
            c->stats.normal += q - p;
        } else {
            ok = mig_write_ram(&c->w, j->gpa + (p << PAGE_SHIFT), hva,
                               (uint32_t)(q - p));
            c->stats.normal += q - p;
        }
        if (!ok) {
            return false;
        }
        p = q;
    }
    return true;
}

static void ack(MultifdSend *s)
{
    g_mutex_lock(&s->lock);
    s->done++;
    g_cond_broadcast(&s->cond);
    g_mutex_unlock(&s->lock);
}

static gpointer channel_thread(gpointer opaque)
{
    Channel *c = opaque;
    bool failed = false;

    for (;;) {
        Job *j = g_async_queue_pop(c->jobs);
        JobKind kind = j->kind;

        switch (kind) {
        case JOB_RUN:
            if (!failed && !send_run(c, j)) {
                failed = true;
                channel_fail(c, g_strerror(c->w.error ? c->w.error : EIO));
            }
            break;
        case JOB_SYNC: {
            uint8_t seq[4];

            le32_store(seq, (uint32_t)j->npages);
            if (!failed &&
                !mig_write_record(&c->w, MIG_REC_SYNC, seq, sizeof(seq))) {
                failed = true;
                channel_fail(c, g_strerror(c->w.error ? c->w.error : EIO));
            }
            /* flushed like FLUSH */
            __attribute__((fallthrough));
        }
        case JOB_END:
            if (kind == JOB_END && !failed &&
                !mig_write_record(&c->w, MIG_REC_END, NULL, 0)) {
                failed = true;
                channel_fail(c, g_strerror(c->w.error ? c->w.error : EIO));
            }
            /* END is flushed like FLUSH */
            __attribute__((fallthrough));
        case JOB_FLUSH:
            if (!failed && !mig_writer_flush(&c->w)) {
                failed = true;
                channel_fail(c, g_strerror(c->w.error ? c->w.error : EIO));
            }
            ack(c->owner);
            break;
        case JOB_QUIT:
            break;
        }
        g_free(j);
        if (kind == JOB_QUIT) {
            return NULL;
        }
    }
}

MultifdSend *multifd_send_new(const MigUri *u, unsigned int n,
                              int zstd_level, const volatile int *cancel,
                              GError **errp)
{
    MultifdSend *s = g_new0(MultifdSend, 1);

    s->n = MIN(MAX(n, 1u), (unsigned int)MULTIFD_MAX);
    s->zstd_level = zstd_level;
    s->ch = g_new0(Channel, s->n);
    g_mutex_init(&s->lock);
    g_cond_init(&s->cond);
    for (unsigned int i = 0; i < s->n; i++) {
        Channel *c = &s->ch[i];
        int fd = mig_channel_connect_more(u, errp);

        c->owner = s;
        c->index = i;
        mig_writer_init(&c->w, fd, cancel);
        if (fd < 0) {
            g_prefix_error(errp, "multifd channel %u: ", i);
            multifd_send_free(s);
            return NULL;
        }
        if (!mig_write_header(&c->w, MIG_FLAG_CHANNEL | (i << 8)) ||
            !mig_writer_flush(&c->w)) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                        "multifd channel %u: %s", i,
                        g_strerror(c->w.error));
            multifd_send_free(s);
            return NULL;
        }
        c->jobs = g_async_queue_new_full(g_free);
        c->thread = g_thread_new("multifd-send", channel_thread, c);
    }
    return s;
}

void multifd_send_free(MultifdSend *s)
{
    if (!s) {
        return;
    }
    for (unsigned int i = 0; i < s->n; i++) {
        Channel *c = &s->ch[i];

        if (c->w.fd >= 0) {
            shutdown(c->w.fd, SHUT_RDWR);
        }
        if (c->thread) {
            Job *j = g_new0(Job, 1);

            j->kind = JOB_QUIT;
            g_async_queue_push(c->jobs, j);
            g_thread_join(c->thread);
        }
        if (c->jobs) {
            g_async_queue_unref(c->jobs);
        }
        if (c->w.fd >= 0) {
            close(c->w.fd);
        }
        mig_writer_clear(&c->w);
        ZSTD_freeCCtx(c->zctx);
        g_free(c->zbuf);
    }
    g_free(s->ch);
    g_free(s->error);
    g_mutex_clear(&s->lock);
    g_cond_clear(&s->cond);
    g_free(s);
}

void multifd_send_shutdown(MultifdSend *s)
{
    for (unsigned int i = 0; i < s->n; i++) {
        if (s->ch[i].w.fd >= 0) {
            shutdown(s->ch[i].w.fd, SHUT_RDWR);
        }
    }
}

void multifd_send_queue(MultifdSend *s, const MemRegion *r, uint64_t first,
                        uint64_t npages)
{
    while (npages) {
        uint64_t gpa = r->gpa + (first << PAGE_SHIFT);
        uint64_t chunk_end = ((gpa >> CHUNK_SHIFT) + 1) << CHUNK_SHIFT;
        uint64_t n = MIN(npages, (chunk_end - gpa) >> PAGE_SHIFT);
        Job *j = g_new0(Job, 1);

        j->kind = JOB_RUN;
        j->gpa = gpa;
        j->hva = r->hva + (first << PAGE_SHIFT);
        j->npages = n;
        g_async_queue_push(s->ch[(gpa >> CHUNK_SHIFT) % s->n].jobs, j);
        first += n;
        npages -= n;
    }
}

static bool post_and_wait(MultifdSend *s, JobKind kind, uint32_t arg,
                          GError **errp)
{
    unsigned int want;
    bool ok;

    g_mutex_lock(&s->lock);
    want = s->done + s->n;
    g_mutex_unlock(&s->lock);
    for (unsigned int i = 0; i < s->n; i++) {
        Job *j = g_new0(Job, 1);

        j->kind = kind;
        j->npages = arg;
        g_async_queue_push(s->ch[i].jobs, j);
    }
    g_mutex_lock(&s->lock);
    while (s->done < want) {
        g_cond_wait(&s->cond, &s->lock);
    }
    ok = !s->error;
    if (!ok) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED, "%s",
                    s->error);
    }
    g_mutex_unlock(&s->lock);
    return ok;
}

bool multifd_send_flush(MultifdSend *s, GError **errp)
{
    return post_and_wait(s, JOB_FLUSH, 0, errp);
}

bool multifd_send_sync(MultifdSend *s, uint32_t seq, GError **errp)
{
    return post_and_wait(s, JOB_SYNC, seq, errp);
}

bool multifd_send_finish(MultifdSend *s, GError **errp)
{
    return post_and_wait(s, JOB_END, 0, errp);
}

uint64_t multifd_send_bytes(MultifdSend *s)
{
    uint64_t n = 0;

    for (unsigned int i = 0; i < s->n; i++) {
        n += __atomic_load_n(&s->ch[i].w.bytes, __ATOMIC_RELAXED);
    }
    return n;
}

void multifd_send_stats(MultifdSend *s, RamStats *add)
{
    for (unsigned int i = 0; i < s->n; i++) {
        add->normal += s->ch[i].stats.normal;
        add->duplicate += s->ch[i].stats.duplicate;
    }
}

/* --- destination ------------------------------------------------------------ */

static bool receive_zstd(MemMap *mem, MigReader *r, uint32_t len,
                         MigSum *sum, RamStats *stats, GError **errp)
{
    g_autofree uint8_t *rec = NULL;
    uint64_t gpa, npages, bytes;
    uint8_t *dst;
    size_t got;

    if (len < 12) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "migration stream: compressed ram section of %u bytes",
                    len);
        return false;
    }
    /* Read whole: the checksum runs over 8-byte words of the payload. */
    rec = g_malloc(len);
    if (!mig_read_exact(r, rec, len, "compressed ram", errp)) {
        return false;
    }
    mig_sum_add(sum, rec, len);
    if (!mig_read_record_tail(r, MIG_REC_RAM_ZSTD, sum, errp)) {
        return false;
    }
    gpa = le64_load(rec);
    npages = le32_load(rec + 8);
    bytes = npages << PAGE_SHIFT;
    dst = npages && npages <= MIG_RUN_PAGES && !(gpa & 0xfff) ?
          memmap_hva_mut(mem, gpa, bytes) : NULL;
    if (!dst) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "migration stream: %" PRIu64 " compressed pages at 0x%"
                    PRIx64 " are outside this VM's RAM", npages, gpa);
        return false;
    }
    got = ZSTD_decompress(dst, bytes, rec + 12, len - 12);
    if (ZSTD_isError(got) || got != bytes) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "migration stream: compressed pages at 0x%" PRIx64
                    " do not decompress to %" PRIu64 " bytes (%s)", gpa,
                    bytes, ZSTD_isError(got) ? ZSTD_getErrorName(got)
                                             : "wrong size");
        return false;
    }
    stats->normal += npages;
    return true;
}

bool multifd_receive_channel(MemMap *mem, MigReader *r, RamStats *stats,
                             void (*on_sync)(void *opaque, uint32_t seq),
                             void *opaque, GError **errp)
{
    for (;;) {
        uint32_t type, len;
        MigSum sum;

        if (!mig_read_record_head(r, &type, &len, &sum, errp)) {
            return false;
        }
        switch (type) {
        case MIG_REC_RAM:
        case MIG_REC_ZERO:
            if (!ram_receive(mem, r, type, len, &sum, stats, errp)) {
                return false;
            }
            break;
        case MIG_REC_RAM_ZSTD:
            if (!receive_zstd(mem, r, len, &sum, stats, errp)) {
                return false;
            }
            break;
        case MIG_REC_SYNC: {
            uint32_t seq;

            if (!mig_read_u32_record(r, type, len, &sum, &seq, errp)) {
                return false;
            }
            if (on_sync) {
                on_sync(opaque, seq);
            }
            break;
        }
        case MIG_REC_END:
            return len == 0 && mig_read_record_tail(r, type, &sum, errp);
        default:
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "migration stream: a %s section on a multifd "
                        "channel", mig_record_name(type));
            return false;
        }
    }
}
