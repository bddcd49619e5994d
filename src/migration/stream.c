/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reading and writing the migration stream (format in stream.h). Plain
 * blocking I/O on the migration threads: the main loop never waits here.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"
#include "error.h"
#include "migration/stream.h"

#define MIG_WBUF (4u << 20)
#define MIG_RBUF (1u << 20)

static const struct {
    const char *name;
    uint32_t max;
} record_info[MIG_REC__MAX] = {
    [MIG_REC_CONFIG] = { "config", 64 * 1024 },
    [MIG_REC_RAM] = { "ram", 8 + MIG_RUN_PAGES * MIG_PAGE_SIZE },
    [MIG_REC_ZERO] = { "zero", 16 },
    [MIG_REC_PASS] = { "pass", 4 },
    [MIG_REC_DEVICES] = { "devices", 16u << 20 },
    [MIG_REC_CPUS] = { "cpus", 64u << 20 },
    [MIG_REC_END] = { "end", 0 },
    /* 12 + ZSTD_compressBound(1 MiB), rounded up */
    [MIG_REC_RAM_ZSTD] = { "ram-zstd", 12 + MIG_RUN_PAGES * MIG_PAGE_SIZE +
                                       64 * 1024 },
    [MIG_REC_SYNC] = { "sync", 4 },
};

uint32_t mig_record_max_len(uint32_t type)
{
    return type && type < MIG_REC__MAX ? record_info[type].max : 0;
}

const char *mig_record_name(uint32_t type)
{
    return type && type < MIG_REC__MAX ? record_info[type].name : "unknown";
}

/* --- checksum --------------------------------------------------------------- */

void mig_sum_init(MigSum *s)
{
    s->a = 1;
    s->b = 0;
}

void mig_sum_add(MigSum *s, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint64_t a = s->a, b = s->b, w;

    /* Two running sums over 64-bit words: a catches changed bytes, b
     * (the sum of the running a) catches moved ones. */
    for (; len >= 8; p += 8, len -= 8) {
        memcpy(&w, p, 8);
        a += w;
        b += a;
    }
    if (len) {
        w = 0;
        memcpy(&w, p, len);
        a += w;
        b += a;
    }
    s->a = a;
    s->b = b;
}

uint64_t mig_sum_final(const MigSum *s)
{
    return s->a ^ (s->b << 17 | s->b >> 47) ^ 0x4b5354524c4d4947ull;
}

/* --- writer ------------------------------------------------------------------ */

void mig_writer_init(MigWriter *w, int fd, const volatile int *cancel)
{
    memset(w, 0, sizeof(*w));
    w->fd = fd;
    w->cap = MIG_WBUF;
    w->buf = g_malloc(w->cap);
    w->cancel = cancel;
}

void mig_writer_clear(MigWriter *w)
{
    g_free(w->buf);
    w->buf = NULL;
}

bool mig_writer_flush(MigWriter *w)
{
    size_t off = 0;

    while (!w->error && off < w->len) {
        ssize_t n;

        if (w->cancel && *w->cancel) {
            w->error = ECANCELED;
            break;
        }
        n = write(w->fd, w->buf + off, w->len - off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            w->error = n < 0 ? errno : EPIPE;
            break;
        }
        off += (size_t)n;
        /* read by query-migrate on the main thread */
        __atomic_store_n(&w->bytes, w->bytes + (uint64_t)n, __ATOMIC_RELAXED);
    }
    w->len = 0;
    return !w->error;
}

/* Room for @n more bytes in the buffer (flushing first if needed). */
static uint8_t *reserve(MigWriter *w, size_t n)
{
    if (w->cap - w->len < n && !mig_writer_flush(w)) {
        return NULL;
    }
    if (w->cap < n) {
        w->cap = n;
        w->buf = g_realloc(w->buf, w->cap);
    }
    return w->buf + w->len;
}

bool mig_write_header(MigWriter *w, uint32_t flags)
{
    uint8_t *p = reserve(w, 16);

    if (!p) {
        return false;
    }
    memcpy(p, MIG_MAGIC, 8);
    le32_store(p + 8, MIG_VERSION);
    le32_store(p + 12, flags);
    w->len += 16;
    return true;
}

/* Write record head and tail around a payload already placed after it. */
static void seal(MigWriter *w, uint8_t *head, uint32_t type, uint32_t len)
{
    MigSum s;

    le32_store(head, type);
    le32_store(head + 4, len);
    mig_sum_init(&s);
    mig_sum_add(&s, head, 8 + (size_t)len);
    le64_store(head + 8 + len, mig_sum_final(&s));
    w->len += 16 + (size_t)len;
}

bool mig_write_record(MigWriter *w, uint32_t type, const void *payload,
                      uint32_t len)
{
    uint8_t *p = reserve(w, 16 + (size_t)len);

    if (!p) {
        return false;
    }
    if (len) {
        memcpy(p + 8, payload, len);
    }
    seal(w, p, type, len);
    return true;
}

bool mig_write_record2(MigWriter *w, uint32_t type, const void *head,
                       uint32_t head_len, const void *body,
                       uint32_t body_len)
{
    uint32_t len = head_len + body_len;
    uint8_t *p = reserve(w, 16 + (size_t)len);

    if (!p) {
        return false;
    }
    memcpy(p + 8, head, head_len);
    if (body_len) {
        memcpy(p + 8 + head_len, body, body_len);
    }
    seal(w, p, type, len);
    return true;
}

bool mig_write_ram(MigWriter *w, uint64_t gpa, const void *hva,
                   uint32_t npages)
{
    uint32_t len = 8 + npages * MIG_PAGE_SIZE;
    uint8_t *p = reserve(w, 16 + (size_t)len);

    if (!p) {
        return false;
    }
    le64_store(p + 8, gpa);
    memcpy(p + 16, hva, (size_t)npages * MIG_PAGE_SIZE);
    seal(w, p, MIG_REC_RAM, len);
    return true;
}

bool mig_write_zero(MigWriter *w, uint64_t gpa, uint64_t npages)
{
    uint8_t b[16];

    le64_store(b, gpa);
    le64_store(b + 8, npages);
    return mig_write_record(w, MIG_REC_ZERO, b, sizeof(b));
}

/* --- reader ------------------------------------------------------------------ */

void mig_reader_init(MigReader *r, int fd)
{
    memset(r, 0, sizeof(*r));
    r->fd = fd;
    r->cap = MIG_RBUF;
    r->buf = g_malloc(r->cap);
}

void mig_reader_clear(MigReader *r)
{
    g_free(r->buf);
    r->buf = NULL;
}

static bool eof_error(const char *what, GError **errp)
{
    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                "migration stream ended early (in %s)", what);
    return false;
}

bool mig_read_exact(MigReader *r, void *dst, size_t len, const char *what,
                    GError **errp)
{
    uint8_t *out = dst;

    while (len) {
        size_t have = r->end - r->start;
        ssize_t n;

        if (have) {
            size_t k = MIN(have, len);

            memcpy(out, r->buf + r->start, k);
            r->start += k;
            out += k;
            len -= k;
            r->bytes += k;
            continue;
        }
        if (len >= r->cap) {
            /* Large payloads go straight to their destination. */
            n = read(r->fd, out, len);
            if (n > 0) {
                out += n;
                len -= (size_t)n;
                r->bytes += (uint64_t)n;
                continue;
            }
        } else {
            r->start = r->end = 0;
            n = read(r->fd, r->buf, r->cap);
            if (n > 0) {
                r->end = (size_t)n;
                continue;
            }
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                        "reading the migration stream failed (in %s): %s",
                        what, g_strerror(errno));
            return false;
        }
        return eof_error(what, errp);
    }
    return true;
}

bool mig_read_header(MigReader *r, uint32_t *flags, GError **errp)
{
    uint8_t h[16];
    uint32_t version;

    if (!mig_read_exact(r, h, sizeof(h), "header", errp)) {
        return false;
    }
    if (memcmp(h, MIG_MAGIC, 8)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "not a kestrel migration stream (bad magic)");
        return false;
    }
    version = le32_load(h + 8);
    if (version != MIG_VERSION) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "migration stream version %u is not supported (this "
                    "kestrel reads version %u)", version, MIG_VERSION);
        return false;
    }
    *flags = le32_load(h + 12);
    return true;
}

bool mig_read_record_head(MigReader *r, uint32_t *type, uint32_t *len,
                          MigSum *sum, GError **errp)
{
    uint8_t h[8];

    if (!mig_read_exact(r, h, sizeof(h), "record header", errp)) {
        return false;
    }
    *type = le32_load(h);
    *len = le32_load(h + 4);
    if (*type == 0 || *type >= MIG_REC__MAX) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "migration stream: unknown section type %u", *type);
        return false;
    }
    if (*len > record_info[*type].max) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "migration stream: %s section of %u bytes (at most %u)",
                    record_info[*type].name, *len, record_info[*type].max);
        return false;
    }
    mig_sum_init(sum);
    mig_sum_add(sum, h, sizeof(h));
    return true;
}

bool mig_read_record_tail(MigReader *r, uint32_t type, MigSum *sum,
                          GError **errp)
{
    uint8_t t[8];

    if (!mig_read_exact(r, t, sizeof(t), "checksum", errp)) {
        return false;
    }
    if (le64_load(t) != mig_sum_final(sum)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "migration stream: checksum mismatch in a %s section "
                    "(the stream is corrupted)", mig_record_name(type));
        return false;
    }
    return true;
}

bool mig_read_u32_record(MigReader *r, uint32_t type, uint32_t len,
                         MigSum *sum, uint32_t *value, GError **errp)
{
    uint8_t b[4];

    if (len != sizeof(b)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "migration stream: %s section of %u bytes (4 expected)",
                    mig_record_name(type), len);
        return false;
    }
    if (!mig_read_exact(r, b, sizeof(b), mig_record_name(type), errp)) {
        return false;
    }
    mig_sum_add(sum, b, sizeof(b));
    *value = le32_load(b);
    return mig_read_record_tail(r, type, sum, errp);
}
