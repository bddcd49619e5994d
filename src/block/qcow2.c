/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Format "qcow2", versions 2 and 3, written from the published format
 * specification (QEMU's docs/interop/qcow2.txt).
 *
 * Design: one mutex per node guards all metadata; a request holds it
 * except while it reads or writes data of a mapped cluster (or reads
 * the backing node), so requests of several threads overlap there.
 * Metadata is written through: an L2 entry, a refcount
 * or an L1 entry reaches the file the moment it changes, and small
 * caches only save reads. The writes leave the process in this order,
 * so a process killed at any point leaves an image that is consistent
 * (at worst with leaked clusters):
 *   - a new cluster's refcount is written before anything points at it;
 *   - a cluster's data is written before the L2 entry points at it;
 *   - a new L2 table is written before the L1 entry points at it;
 *   - a cluster's refcount drops only after nothing points at it.
 * For a power failure (the page cache written back in any order) the
 * metadata steps are also separated by barriers, the file's fdatasync
 * (qcow2-int.h): refcounts are reserved in batches behind one barrier,
 * new tables are behind one before they are linked, and decrements wait
 * for the next flush. Unflushed guest data may be lost, as on a disk.
 * block_flush: fdatasync, then the decrements that waited for it.
 *
 * What we refuse, by name: encryption, external data files, extended L2
 * entries, zstd compression, unknown incompatible features, images marked
 * corrupt, and dirty images (lazy refcounts left unrepaired: we do not
 * rebuild refcounts; 'qemu-img check -r all' does). Internal snapshots
 * are readable but refused for writing (their shared clusters would need
 * copy-on-write of L2 tables). We never write compressed clusters; a
 * write into one allocates a new cluster and frees the compressed one.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "block/qcow2-int.h"
#include "error.h"

/* ------------------------------------------------------------------ */
/* Cluster mapping                                                      */

typedef enum {
    CLUSTER_UNALLOCATED,
    CLUSTER_ZERO,
    CLUSTER_NORMAL,
    CLUSTER_COMPRESSED,
} Qcow2ClusterType;

static Qcow2ClusterType qcow2_entry_type(const Qcow2State *s, uint64_t e)
{
    if (e & QCOW2_COMPRESSED) {
        return CLUSTER_COMPRESSED;
    }
    if (s->version >= 3 && (e & QCOW2_ZERO)) {
        return CLUSTER_ZERO;
    }
    if (e & QCOW2_OFFSET_MASK) {
        return CLUSTER_NORMAL;
    }
    return CLUSTER_UNALLOCATED;
}

/* The L2 table of guest offset @vofs: *l2 NULL when none. */
static int qcow2_l2_get(Qcow2State *s, uint64_t vofs, uint8_t **l2,
                        uint64_t *l2_off)
{
    uint64_t l1_idx = vofs >> (s->cluster_bits + s->l2_bits);
    uint64_t e, off;

    *l2 = NULL;
    *l2_off = 0;
    if (l1_idx >= s->l1_size) {
        return -EIO;
    }
    e = s->l1[l1_idx];
    off = e & QCOW2_OFFSET_MASK;
    if (off == 0) {
        return 0;
    }
    *l2_off = off;
    return qcow2_cache_get(s, &s->l2_cache, off, l2);
}

static uint64_t qcow2_l2_index(const Qcow2State *s, uint64_t vofs)
{
    return (vofs >> s->cluster_bits) & ((1ULL << s->l2_bits) - 1);
}

static int qcow2_get_entry(Qcow2State *s, uint64_t vofs, uint64_t *entry)
{
    uint8_t *l2;
    uint64_t l2_off;
    int ret = qcow2_l2_get(s, vofs, &l2, &l2_off);

    *entry = 0;
    if (ret < 0 || !l2) {
        return ret;
    }
    *entry = GUINT64_FROM_BE(((uint64_t *)l2)[qcow2_l2_index(s, vofs)]);
    return 0;
}

/* A standard entry's host cluster, checked; 0 is never valid here. */
static int qcow2_host_offset(Qcow2State *s, uint64_t e, uint64_t *host)
{
    *host = e & QCOW2_OFFSET_MASK;
    /* Reserved bits 1-8 and 56-61 clear, cluster-aligned, in the file. */
    if ((e & 0x3f000000000001feULL) || (*host & (s->cluster_size - 1)) ||
        *host >= s->file_size ||
        qcow2_overlaps_metadata(s, *host >> s->cluster_bits, 1)) {
        return -EIO;
    }
    return 0;
}

static void qcow2_compressed_range(const Qcow2State *s, uint64_t e,
                                   uint64_t *off, uint64_t *sectors)
{
    unsigned int x = 62 - (s->cluster_bits - 8);

    *off = e & ((1ULL << x) - 1);
    *sectors = ((e >> x) & ((1ULL << (s->cluster_bits - 8)) - 1)) + 1;
}

static int qcow2_read_compressed(Qcow2State *s, uint64_t e, uint8_t *out)
{
    uint64_t off, sectors, len;
    z_stream zs;
    int zr;

    qcow2_compressed_range(s, e, &off, &sectors);
    len = sectors * 512 - (off & 511);
    if (off >= s->file_size || off < s->cluster_size) {
        return -EIO;
    }
    /* The last sector may run past the end of the file. */
    len = MIN(len, s->file_size - off);

    g_autofree uint8_t *in = g_malloc(len);
    int ret = qcow2_file_pread(s, off, in, len);

    if (ret < 0) {
        return ret;
    }
    memset(&zs, 0, sizeof(zs));
    /* Raw deflate; the largest window decodes streams made with any. */
    if (inflateInit2(&zs, -15) != Z_OK) {
        return -ENOMEM;
    }
    zs.next_in = in;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)s->cluster_size;
    zr = inflate(&zs, Z_FINISH);
    inflateEnd(&zs);
    /* Decompression stops once a whole cluster is out. */
    if ((zr != Z_STREAM_END && zr != Z_BUF_ERROR && zr != Z_OK) ||
        zs.avail_out != 0) {
        return -EIO;
    }
    return 0;
}

/* Slice [skip, skip + len) of an iovec into @out (room for iovcnt). */
static int iov_slice(const struct iovec *iov, int iovcnt, size_t skip,
                     size_t len, struct iovec *out)
{
    int n = 0;

    for (int i = 0; i < iovcnt && len; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        size_t take = MIN(iov[i].iov_len - skip, len);

        out[n].iov_base = (char *)iov[i].iov_base + skip;
        out[n].iov_len = take;
        n++;
        len -= take;
        skip = 0;
    }
    return n;
}

/*
 * Data I/O on a mapped host cluster (or the backing node) without the
 * lock, so requests of several threads overlap. Safe because a cluster
 * is never reused while I/O is in flight: frees are deferred
 * (qcow2_apply_frees waits for s->inflight to fall to 0).
 */
static void qcow2_io_begin(Qcow2State *s)
{
    s->inflight++;
    g_mutex_unlock(&s->lock);
}

static void qcow2_io_end(Qcow2State *s)
{
    g_mutex_lock(&s->lock);
    s->inflight--;
}

/* Reads [vofs, vofs + len) of one cluster into the iovec slice;
 * @unlocked: data I/O may drop the lock (a request, not a COW fill). */
static int qcow2_read_in_cluster(Qcow2State *s, uint64_t vofs,
                                 const struct iovec *iov, int iovcnt,
                                 size_t skip, size_t len, bool unlocked)
{
    g_autofree struct iovec *sub = g_new(struct iovec, MAX(iovcnt, 1));
    int subcnt = iov_slice(iov, iovcnt, skip, len, sub);
    uint64_t e, host;
    int ret;

    ret = qcow2_get_entry(s, vofs, &e);
    if (ret < 0) {
        return ret;
    }
    switch (qcow2_entry_type(s, e)) {
    case CLUSTER_UNALLOCATED:
        if (s->bs->backing) {
            uint64_t blen = block_length(s->bs->backing);
            size_t in = vofs >= blen ? 0 : (size_t)MIN(len, blen - vofs);

            if (in) {
                int n = iov_slice(sub, subcnt, 0, in, sub);

                if (unlocked) {
                    qcow2_io_begin(s);
                }
                ret = block_preadv(s->bs->backing, vofs, sub, n);
                if (unlocked) {
                    qcow2_io_end(s);
                }
                if (ret < 0) {
                    return ret;
                }
                subcnt = iov_slice(iov, iovcnt, skip, len, sub);
            }
            block_iov_memset(sub, subcnt, in, 0, len - in);
            return 0;
        }
        /* fall through */
    case CLUSTER_ZERO:
        block_iov_memset(sub, subcnt, 0, 0, len);
        return 0;
    case CLUSTER_NORMAL:
        ret = qcow2_host_offset(s, e, &host);
        if (ret < 0) {
            return ret;
        }
        if (unlocked) {
            qcow2_io_begin(s);
        }
        ret = block_preadv(s->file, host + (vofs & (s->cluster_size - 1)),
                           sub, subcnt);
        if (unlocked) {
            qcow2_io_end(s);
        }
        return ret;
    case CLUSTER_COMPRESSED: {
        g_autofree uint8_t *buf = g_malloc(s->cluster_size);

        ret = qcow2_read_compressed(s, e, buf);
        if (ret < 0) {
            return ret;
        }
        block_iov_from_buf(sub, subcnt, 0,
                           buf + (vofs & (s->cluster_size - 1)), len);
        return 0;
    }
    }
    return -EIO;
}

/* Drops the host clusters an entry referenced (it no longer does). */
static int qcow2_free_entry(Qcow2State *s, uint64_t e, uint64_t keep)
{
    uint64_t off, sectors, host;

    if (qcow2_entry_type(s, e) == CLUSTER_COMPRESSED) {
        qcow2_compressed_range(s, e, &off, &sectors);
        uint64_t first = (off & ~511ULL) >> s->cluster_bits;
        uint64_t last = ((off & ~511ULL) + sectors * 512 - 1) >>
            s->cluster_bits;

        for (uint64_t c = first; c <= last; c++) {
            int ret = qcow2_free_later(s, c);

            if (ret < 0) {
                return ret;
            }
        }
        return 0;
    }
    host = e & QCOW2_OFFSET_MASK;
    if (host == 0 || host == keep) {
        return 0;
    }
    return qcow2_free_later(s, host >> s->cluster_bits);
}

/*
 * Points guest cluster @vofs at @value, creating its L2 table if needed
 * (the table is written before the L1 entry points at it).
 */
static int qcow2_set_entry(Qcow2State *s, uint64_t vofs, uint64_t value)
{
    uint64_t l1_idx = vofs >> (s->cluster_bits + s->l2_bits);
    uint64_t idx = qcow2_l2_index(s, vofs);
    uint64_t l2_off, be;
    uint8_t *l2;
    int ret;

    ret = qcow2_l2_get(s, vofs, &l2, &l2_off);
    if (ret < 0) {
        return ret;
    }
    if (!l2) {
        ret = qcow2_alloc_cluster(s, &l2_off);
        if (ret < 0) {
            return ret;
        }
        l2 = qcow2_cache_new(s, &s->l2_cache, l2_off);
        ((uint64_t *)l2)[idx] = GUINT64_TO_BE(value);
        ret = qcow2_file_pwrite(s, l2_off, l2, s->cluster_size);
        if (ret == 0) {
            ret = qcow2_barrier(s);     /* the table before the L1 entry */
        }
        if (ret < 0) {
            qcow2_cache_drop(&s->l2_cache, l2_off);
            return ret;
        }
        qcow2_meta_add(s, l2_off);
        s->l1[l1_idx] = l2_off | QCOW2_COPIED;
        be = GUINT64_TO_BE(s->l1[l1_idx]);
        return qcow2_file_pwrite(s, s->l1_offset + l1_idx * 8, &be, 8);
    }
    if (!(s->l1[l1_idx] & QCOW2_COPIED)) {
        uint64_t rc;

        /* A shared L2 table (snapshot) would need copy-on-write. */
        ret = qcow2_rc_get(s, l2_off >> s->cluster_bits, &rc);
        if (ret < 0 || rc != 1) {
            return -EIO;
        }
    }
    ((uint64_t *)l2)[idx] = GUINT64_TO_BE(value);
    return qcow2_file_write_table_part(s, l2_off, l2, s->cluster_size,
                                       idx * 8, 8);
}

/* Is @e a cluster we may overwrite in place (refcount exactly 1)? */
static int qcow2_writable_in_place(Qcow2State *s, uint64_t e, uint64_t *host)
{
    uint64_t rc;
    int ret;

    if (qcow2_entry_type(s, e) != CLUSTER_NORMAL) {
        return 0;
    }
    ret = qcow2_host_offset(s, e, host);
    if (ret < 0) {
        return ret;
    }
    if (e & QCOW2_COPIED) {
        return 1;
    }
    ret = qcow2_rc_get(s, *host >> s->cluster_bits, &rc);
    if (ret < 0) {
        return ret;
    }
    return rc == 1;
}

/* A whole cluster's new contents in @buf: what it read as (for a partial
 * write), with [vofs, vofs + len) replaced (@iov NULL: zeroes). */
static int qcow2_fill_new_cluster(Qcow2State *s, uint64_t vofs,
                                  const struct iovec *iov, int iovcnt,
                                  size_t skip, size_t len, uint8_t *buf)
{
    uint64_t cs = s->cluster_size;
    uint64_t cstart = vofs & ~(cs - 1);
    uint64_t in = vofs - cstart;

    memset(buf, 0, cs);
    if (len < cs) {
        /* The image's last cluster may be cut short by its size. */
        uint64_t have = MIN(cs, s->size - cstart);
        struct iovec v = { .iov_base = buf, .iov_len = have };
        int ret = qcow2_read_in_cluster(s, cstart, &v, 1, 0, have,
                                        false);

        if (ret < 0) {
            return ret;
        }
    }
    if (iov) {
        block_iov_to_buf(iov, iovcnt, skip, buf + in, len);
    } else {
        memset(buf + in, 0, len);
    }
    return 0;
}

/* Writes [vofs, vofs + len) within one cluster from the iovec slice
 * (@iov NULL: zeroes). */
static int qcow2_write_in_cluster(Qcow2State *s, uint64_t vofs,
                                  const struct iovec *iov, int iovcnt,
                                  size_t skip, size_t len)
{
    uint64_t cs = s->cluster_size;
    uint64_t cstart = vofs & ~(cs - 1);
    uint64_t in = vofs - cstart;
    uint64_t e, host, new_off;
    int ret;

    ret = qcow2_get_entry(s, vofs, &e);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_writable_in_place(s, e, &host);
    if (ret < 0) {
        return ret;
    }
    if (ret == 1) {
        if (!iov) {
            return block_write_zeroes(s->file, host + in, len, false);
        }
        g_autofree struct iovec *sub = g_new(struct iovec, MAX(iovcnt, 1));
        int subcnt = iov_slice(iov, iovcnt, skip, len, sub);

        /* In place: the mapping cannot go away under us (see
         * qcow2_io_begin); a racing request on the same bytes is the
         * guest's own race, as on a disk. */
        qcow2_io_begin(s);
        ret = block_pwritev(s->file, host + in, sub, subcnt);
        qcow2_io_end(s);
        if (ret == 0 && host + in + len > s->file_size) {
            s->file_size = host + in + len;
        }
        return ret;
    }

    /* A new cluster: old contents around the request, then the data. */
    uint8_t *buf = qcow2_buf_alloc(s);

    ret = qcow2_fill_new_cluster(s, vofs, iov, iovcnt, skip, len, buf);
    if (ret == 0) {
        ret = qcow2_alloc_cluster(s, &new_off);
    }
    if (ret == 0) {
        ret = qcow2_file_pwrite(s, new_off, buf, cs);
    }
    free(buf);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_set_entry(s, vofs, new_off | QCOW2_COPIED);
    if (ret < 0) {
        return ret;
    }
    return qcow2_free_entry(s, e, new_off);
}

/* ------------------------------------------------------------------ */
/* Requests                                                             */

static int qcow2_preadv(BlockNode *bs, uint64_t offset,
                        const struct iovec *iov, int iovcnt, size_t len)
{
    Qcow2State *s = qcow2_state(bs);
    size_t done = 0;
    int ret = 0;

    g_mutex_lock(&s->lock);
    while (done < len && ret == 0) {
        uint64_t vofs = offset + done;
        uint64_t left_in_cluster = s->cluster_size -
            (vofs & (s->cluster_size - 1));
        size_t n = (size_t)MIN(len - done, left_in_cluster);

        ret = qcow2_read_in_cluster(s, vofs, iov, iovcnt, done, n, true);
        done += n;
    }
    g_mutex_unlock(&s->lock);
    return ret;
}

static int qcow2_pwritev(BlockNode *bs, uint64_t offset,
                         const struct iovec *iov, int iovcnt, size_t len)
{
    Qcow2State *s = qcow2_state(bs);
    size_t done = 0;
    int ret = 0;

    g_mutex_lock(&s->lock);
    while (done < len && ret == 0) {
        uint64_t vofs = offset + done;
        uint64_t left_in_cluster = s->cluster_size -
            (vofs & (s->cluster_size - 1));
        size_t n = (size_t)MIN(len - done, left_in_cluster);

        ret = qcow2_write_in_cluster(s, vofs, iov, iovcnt, done, n);
        done += n;
    }
    g_mutex_unlock(&s->lock);
    return ret;
}

static int qcow2_flush(BlockNode *bs)
{
    Qcow2State *s = qcow2_state(bs);
    uint64_t upto;
    int ret;

    /* Metadata is written through: the file's fdatasync makes it all
     * stable, and makes the frees queued before it safe to do. It runs
     * without the lock, so other requests go on meanwhile. */
    g_mutex_lock(&s->lock);
    upto = s->frees_applied + s->pending_frees->len;
    g_mutex_unlock(&s->lock);
    ret = qcow2_barrier(s);
    if (ret == 0) {
        g_mutex_lock(&s->lock);
        if (upto > s->frees_applied) {
            ret = qcow2_apply_frees(s, (guint)(upto - s->frees_applied));
        }
        g_mutex_unlock(&s->lock);
    }
    return ret;
}

typedef enum {
    ZERO_KEEP,          /* reads zeroes, keeps its host cluster */
    ZERO_UNMAP,         /* reads zeroes, frees its host cluster */
    ZERO_DEALLOC,       /* unallocated: backing shows through */
} Qcow2ZeroMode;

/* A whole cluster made to read as zeroes (or deallocated). */
static int qcow2_zero_cluster(Qcow2State *s, uint64_t vofs,
                              Qcow2ZeroMode mode)
{
    uint64_t e, nv, host = 0;
    Qcow2ClusterType t;
    int ret;

    ret = qcow2_get_entry(s, vofs, &e);
    if (ret < 0) {
        return ret;
    }
    t = qcow2_entry_type(s, e);
    if (mode == ZERO_DEALLOC) {
        nv = 0;
    } else if (mode == ZERO_KEEP && t == CLUSTER_NORMAL &&
               qcow2_writable_in_place(s, e, &host) == 1) {
        nv = host | QCOW2_COPIED | QCOW2_ZERO;
    } else {
        nv = QCOW2_ZERO;
    }
    if (nv == e || (e == 0 && nv == QCOW2_ZERO && !s->bs->backing)) {
        return 0;
    }
    ret = qcow2_set_entry(s, vofs, nv);
    if (ret < 0) {
        return ret;
    }
    return qcow2_free_entry(s, e, nv & QCOW2_OFFSET_MASK);
}

static bool qcow2_reads_zero(Qcow2State *s, uint64_t vofs)
{
    uint64_t e;

    if (qcow2_get_entry(s, vofs, &e) < 0) {
        return false;
    }
    switch (qcow2_entry_type(s, e)) {
    case CLUSTER_ZERO:
        return true;
    case CLUSTER_UNALLOCATED:
        return !s->bs->backing;
    default:
        return false;
    }
}

/* The range in whole clusters (@mode) and partial edges (zero bytes, or
 * nothing for a discard). */
static int qcow2_zero_range(BlockNode *bs, uint64_t offset, uint64_t len,
                            bool whole_only, Qcow2ZeroMode mode,
                            bool write_bytes)
{
    Qcow2State *s = qcow2_state(bs);
    uint64_t cs = s->cluster_size;
    uint64_t end = offset + len;
    int ret = 0;

    g_mutex_lock(&s->lock);
    while (offset < end && ret == 0) {
        uint64_t cstart = offset & ~(cs - 1);
        uint64_t n = MIN(end - offset, cstart + cs - offset);
        /* The image's last cluster may be cut short by the size. */
        bool whole = offset == cstart &&
            (n == cs || offset + n == s->size);
        uint64_t span = 1ULL << (s->cluster_bits + s->l2_bits);
        uint64_t l1_idx = offset / span;

        /* No L2 table and nothing showing through: already zero (or
         * deallocated); skip the table's whole span (fstrim of a disk). */
        if (l1_idx < s->l1_size && !(s->l1[l1_idx] & QCOW2_OFFSET_MASK) &&
            (!s->bs->backing || (mode == ZERO_DEALLOC && !write_bytes))) {
            offset = MIN(end, (l1_idx + 1) * span);
            continue;
        }

        if (whole && !write_bytes) {
            ret = qcow2_zero_cluster(s, cstart, mode);
        } else if (!whole_only && !qcow2_reads_zero(s, offset)) {
            ret = qcow2_write_in_cluster(s, offset, NULL, 0, 0, n);
        }
        offset += n;
    }
    g_mutex_unlock(&s->lock);
    return ret;
}

static int qcow2_write_zeroes(BlockNode *bs, uint64_t offset, uint64_t len,
                              bool may_unmap)
{
    Qcow2State *s = qcow2_state(bs);

    if (s->version >= 3) {
        return qcow2_zero_range(bs, offset, len, false,
                                may_unmap ? ZERO_UNMAP : ZERO_KEEP, false);
    }
    /* Version 2 has no zero flag: deallocate only if nothing shows
     * through, else write zero bytes. */
    if (!bs->backing && may_unmap) {
        return qcow2_zero_range(bs, offset, len, false, ZERO_DEALLOC, false);
    }
    return qcow2_zero_range(bs, offset, len, false, ZERO_KEEP, true);
}

static int qcow2_discard(BlockNode *bs, uint64_t offset, uint64_t len)
{
    Qcow2State *s = qcow2_state(bs);

    if (!bs->discard_unmap) {
        return 0;
    }
    /* Whole clusters only; with a backing file, v3 keeps the backing's
     * data hidden (reads zeroes) as a guest expects of a discard. */
    return qcow2_zero_range(bs, offset, len, true,
                            s->version >= 3 && bs->backing ?
                            ZERO_UNMAP : ZERO_DEALLOC, false);
}

static uint64_t qcow2_l1_needed(const Qcow2State *s, uint64_t size)
{
    unsigned int shift = s->cluster_bits + s->l2_bits;

    return (size + (1ULL << shift) - 1) >> shift;
}

static int qcow2_truncate(BlockNode *bs, uint64_t new_size)
{
    Qcow2State *s = qcow2_state(bs);
    uint64_t need, old_size = UINT64_MAX;
    int ret = 0;

    g_mutex_lock(&s->lock);
    if (new_size < s->size) {
        ret = -ENOTSUP;
        goto out;
    }
    if (new_size == s->size) {
        goto out;
    }
    if (new_size > (uint64_t)INT64_MAX) {
        ret = -EFBIG;
        goto out;
    }
    need = qcow2_l1_needed(s, new_size);
    if (need > QCOW2_MAX_L1_ENTRIES) {
        ret = -EFBIG;
        goto out;
    }
    if (need > s->l1_size) {
        /* A new L1 table, written whole, then the header switched to it
         * in one write; the old one is freed last. */
        uint64_t bytes = (need * 8 + s->cluster_size - 1) &
            ~(s->cluster_size - 1);
        uint64_t nclusters = bytes >> s->cluster_bits;
        uint64_t old_off = s->l1_offset;
        uint64_t old_clusters = ((uint64_t)s->l1_size * 8 +
                                 s->cluster_size - 1) >> s->cluster_bits;
        uint64_t new_off;
        g_autofree uint64_t *nl1 = g_malloc0(bytes);
        uint8_t hdr[12];

        ret = qcow2_alloc_clusters(s, nclusters, &new_off);
        if (ret < 0) {
            goto out;
        }
        for (uint64_t i = 0; i < s->l1_size; i++) {
            nl1[i] = GUINT64_TO_BE(s->l1[i]);
        }
        ret = qcow2_file_pwrite(s, new_off, nl1, bytes);
        if (ret == 0) {
            ret = qcow2_barrier(s);     /* the table before the header */
        }
        if (ret < 0) {
            goto out;
        }
        qcow2_put_be32(hdr, (uint32_t)need);
        qcow2_put_be64(hdr + 4, new_off);
        ret = qcow2_file_pwrite(s, HDR_L1_SIZE, hdr, sizeof(hdr));
        if (ret < 0) {
            goto out;
        }
        for (uint64_t i = 0; i < bytes / 8; i++) {
            nl1[i] = GUINT64_FROM_BE(nl1[i]);
        }
        g_free(s->l1);
        s->l1 = g_steal_pointer(&nl1);
        s->l1_offset = new_off;
        s->l1_size = (uint32_t)need;
        for (uint64_t c = 0; old_off && c < old_clusters; c++) {
            ret = qcow2_free_later(s, (old_off >> s->cluster_bits) + c);
            if (ret < 0) {
                goto out;
            }
        }
    }
    uint64_t be = GUINT64_TO_BE(new_size);

    ret = qcow2_file_pwrite(s, HDR_SIZE, &be, 8);
    if (ret == 0) {
        old_size = s->size;
        s->size = new_size;
        __atomic_store_n(&bs->length, new_size, __ATOMIC_RELEASE);
    }
out:
    g_mutex_unlock(&s->lock);
    /* A longer backing file must not show through the new area: it
     * reads as zeroes, as a grown disk does (QEMU does the same). */
    if (ret == 0 && old_size < new_size && bs->backing &&
        block_length(bs->backing) > old_size) {
        uint64_t end = MIN(new_size, block_length(bs->backing));

        ret = qcow2_write_zeroes(bs, old_size, end - old_size, false);
    }
    return ret;
}

/* ------------------------------------------------------------------ */
/* Opening                                                              */

static __thread int qcow2_backing_depth;

static uint32_t be32_at(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
        (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64_at(const uint8_t *p)
{
    return (uint64_t)be32_at(p) << 32 | be32_at(p + 4);
}

static bool qcow2_fail(GError **errp, const char *filename, const char *fmt,
                       ...) G_GNUC_PRINTF(3, 4);

static bool qcow2_fail(GError **errp, const char *filename, const char *fmt,
                       ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                "qcow2 image '%s': %s", filename, msg);
    return false;
}

/* The name the image's feature table gives an incompatible bit. */
static char *qcow2_feature_name(const uint8_t *table, uint32_t len,
                                unsigned int bit)
{
    for (uint32_t o = 0; table && o + 48 <= len; o += 48) {
        if (table[o] == 0 && table[o + 1] == bit) {
            return g_strndup((const char *)table + o + 2, 46);
        }
    }
    return NULL;
}

static bool qcow2_check_table(GError **errp, Qcow2State *s, const char *what,
                              uint64_t off, uint64_t bytes)
{
    if (off & (s->cluster_size - 1)) {
        return qcow2_fail(errp, s->filename,
                          "%s offset 0x%" G_GINT64_MODIFIER "x is not "
                          "aligned to a cluster", what, off);
    }
    if (off == 0 || off + bytes < off || off + bytes > s->file_size) {
        return qcow2_fail(errp, s->filename,
                          "%s (offset 0x%" G_GINT64_MODIFIER "x, %"
                          G_GUINT64_FORMAT " bytes) is outside the file",
                          what, off, bytes);
    }
    return true;
}

static bool qcow2_open_backing(BlockNode *bs, Qcow2State *s,
                               const BlockOpenOptions *opts,
                               const char *name, const char *fmt,
                               GError **errp)
{
    g_autofree char *path = NULL;
    GError *err = NULL;

    if (g_path_is_absolute(name)) {
        path = g_strdup(name);
    } else {
        g_autofree char *dir = g_path_get_dirname(s->filename);

        path = g_build_filename(dir, name, NULL);
    }
    if (qcow2_backing_depth >= QCOW2_MAX_BACKING_DEPTH) {
        return qcow2_fail(errp, s->filename, "backing chain deeper than %d "
                          "(a loop?) at '%s'", QCOW2_MAX_BACKING_DEPTH, path);
    }
    qcow2_backing_depth++;
    bs->backing = block_open_image(path, fmt, true,
                                   block_cache_direct(bs->file),
                                   s->file->cache_no_flush, false, &err);
    qcow2_backing_depth--;
    if (!bs->backing) {
        qcow2_fail(errp, s->filename, "could not open backing file: %s",
                   err->message);
        g_error_free(err);
        return false;
    }
    return true;
}

static bool qcow2_parse(BlockNode *bs, Qcow2State *s,
                        const BlockOpenOptions *opts, GError **errp)
{
    uint8_t h[HDR_V3_LENGTH + 8];
    uint64_t incompat = 0, autoclear = 0;
    uint32_t header_length = HDR_V2_LENGTH;
    uint64_t backing_off;
    uint32_t backing_len, crypt, nb_snapshots;
    g_autofree char *backing_name = NULL;
    g_autofree char *backing_fmt = NULL;
    g_autofree uint8_t *cluster0 = NULL;
    const uint8_t *features = NULL;
    uint32_t features_len = 0;
    int ret;

    memset(h, 0, sizeof(h));
    if (s->file_size < HDR_V2_LENGTH ||
        qcow2_file_pread(s, 0, h, MIN(sizeof(h), s->file_size)) < 0 ||
        be32_at(h) != QCOW2_MAGIC) {
        return qcow2_fail(errp, s->filename, "not a qcow2 image (bad magic "
                          "or too short)");
    }
    s->version = (int)be32_at(h + 4);
    if (s->version != 2 && s->version != 3) {
        return qcow2_fail(errp, s->filename, "unsupported qcow2 version %d",
                          s->version);
    }
    backing_off = be64_at(h + 8);
    backing_len = be32_at(h + 16);
    s->cluster_bits = be32_at(h + 20);
    s->size = be64_at(h + 24);
    crypt = be32_at(h + 32);
    s->l1_size = be32_at(h + 36);
    s->l1_offset = be64_at(h + 40);
    s->rt_offset = be64_at(h + 48);
    s->rt_clusters = be32_at(h + 56);
    nb_snapshots = be32_at(h + 60);
    s->refcount_order = 4;

    if (s->cluster_bits < QCOW2_MIN_CLUSTER_BITS ||
        s->cluster_bits > QCOW2_MAX_CLUSTER_BITS) {
        return qcow2_fail(errp, s->filename, "invalid cluster_bits %u",
                          s->cluster_bits);
    }
    s->cluster_size = 1ULL << s->cluster_bits;
    s->l2_bits = s->cluster_bits - 3;
    if (crypt) {
        return qcow2_fail(errp, s->filename, "encrypted images are not "
                          "supported (crypt_method %u)", crypt);
    }
    if (s->version == 3) {
        if (s->file_size < HDR_V3_LENGTH) {
            return qcow2_fail(errp, s->filename, "header is truncated");
        }
        incompat = be64_at(h + 72);
        autoclear = be64_at(h + 88);
        s->refcount_order = be32_at(h + 96);
        header_length = be32_at(h + 100);
        if (header_length < HDR_V3_LENGTH ||
            header_length > s->cluster_size) {
            return qcow2_fail(errp, s->filename, "invalid header length %u",
                              header_length);
        }
    }
    if (s->refcount_order > 6) {
        return qcow2_fail(errp, s->filename, "invalid refcount_order %u",
                          s->refcount_order);
    }
    s->refcount_bits = 1u << s->refcount_order;
    s->rb_bits = s->cluster_bits + 3 - s->refcount_order;

    /* Header extensions, all within the first cluster. */
    cluster0 = g_malloc0(s->cluster_size);
    if (qcow2_file_pread(s, 0, cluster0,
                         MIN(s->cluster_size, s->file_size)) < 0) {
        return qcow2_fail(errp, s->filename, "cannot read the header");
    }
    for (uint64_t o = header_length;;) {
        if (o + 8 > s->cluster_size) {
            break;          /* no end marker: tolerated, as a v2 image */
        }
        uint32_t type = be32_at(cluster0 + o);
        uint32_t len = be32_at(cluster0 + o + 4);

        if (type == EXT_END) {
            break;
        }
        if (len > s->cluster_size - o - 8) {
            return qcow2_fail(errp, s->filename, "header extension 0x%08x "
                              "is too long (%u bytes)", type, len);
        }
        if (type == EXT_BACKING_FORMAT) {
            g_free(backing_fmt);
            backing_fmt = g_strndup((const char *)cluster0 + o + 8, len);
        } else if (type == EXT_FEATURE_TABLE) {
            features = cluster0 + o + 8;
            features_len = len;
        }
        /* Others (bitmaps, unknown ones) are skipped. */
        o += 8 + (((uint64_t)len + 7) & ~7ULL);
    }

    if (incompat & INCOMPAT_CORRUPT) {
        return qcow2_fail(errp, s->filename, "the image is marked corrupt; "
                          "repair it with 'qemu-img check -r all'");
    }
    if (incompat & INCOMPAT_DIRTY) {
        return qcow2_fail(errp, s->filename, "the image is dirty (lazy "
                          "refcounts were not written back); repair it with "
                          "'qemu-img check -r all'");
    }
    if (incompat & INCOMPAT_DATA_FILE) {
        return qcow2_fail(errp, s->filename, "unsupported qcow2 feature: "
                          "external data file");
    }
    if (incompat & INCOMPAT_EXTL2) {
        return qcow2_fail(errp, s->filename, "unsupported qcow2 feature: "
                          "extended L2 entries");
    }
    if (incompat & INCOMPAT_COMPRESSION) {
        if (header_length <= HDR_V3_LENGTH || cluster0[104] != 0) {
            return qcow2_fail(errp, s->filename, "unsupported qcow2 feature: "
                              "compression type %u (only zlib)",
                              header_length > HDR_V3_LENGTH ?
                              cluster0[104] : 0);
        }
    }
    for (unsigned int bit = 5; bit < 64; bit++) {
        if (incompat & (1ULL << bit)) {
            g_autofree char *name = qcow2_feature_name(features, features_len,
                                                       bit);

            return qcow2_fail(errp, s->filename, "unsupported qcow2 feature: "
                              "incompatible feature bit %u%s%s%s", bit,
                              name ? " ('" : "", name ? name : "",
                              name ? "')" : "");
        }
    }

    if (s->size > (uint64_t)INT64_MAX) {
        return qcow2_fail(errp, s->filename, "virtual size %" G_GUINT64_FORMAT
                          " is too large", s->size);
    }
    if (qcow2_l1_needed(s, s->size) > s->l1_size) {
        return qcow2_fail(errp, s->filename, "L1 table (%u entries) is too "
                          "small for the virtual size %" G_GUINT64_FORMAT,
                          s->l1_size, s->size);
    }
    if (s->l1_size > QCOW2_MAX_L1_ENTRIES) {
        return qcow2_fail(errp, s->filename, "L1 table is too large (%u "
                          "entries)", s->l1_size);
    }
    if (s->l1_size &&
        !qcow2_check_table(errp, s, "L1 table", s->l1_offset,
                           (uint64_t)s->l1_size * 8)) {
        return false;
    }
    if (s->rt_clusters == 0 ||
        ((uint64_t)s->rt_clusters << s->cluster_bits) > QCOW2_MAX_RT_BYTES) {
        return qcow2_fail(errp, s->filename, "invalid refcount table size "
                          "(%u clusters)", s->rt_clusters);
    }
    if (!qcow2_check_table(errp, s, "refcount table", s->rt_offset,
                           (uint64_t)s->rt_clusters << s->cluster_bits)) {
        return false;
    }
    {
        uint64_t l1_end = s->l1_offset + (uint64_t)s->l1_size * 8;
        uint64_t rt_end = s->rt_offset +
            ((uint64_t)s->rt_clusters << s->cluster_bits);

        if (s->l1_size && s->l1_offset < rt_end && s->rt_offset < l1_end) {
            return qcow2_fail(errp, s->filename, "L1 table and refcount "
                              "table overlap");
        }
    }
    if (nb_snapshots && !opts->read_only) {
        return qcow2_fail(errp, s->filename, "images with internal "
                          "snapshots (%u) can only be opened read-only",
                          nb_snapshots);
    }

    /* Tables into memory (bounded by the file's size, checked above). */
    uint64_t l1_bytes = ((uint64_t)s->l1_size * 8 + s->cluster_size - 1) &
        ~(s->cluster_size - 1);

    s->l1 = g_malloc0(MAX(l1_bytes, 8));
    if (s->l1_size) {
        ret = qcow2_file_pread(s, s->l1_offset, s->l1, (size_t)s->l1_size * 8);
        if (ret < 0) {
            return qcow2_fail(errp, s->filename, "cannot read the L1 table: "
                              "%s", g_strerror(-ret));
        }
        for (uint32_t i = 0; i < s->l1_size; i++) {
            s->l1[i] = GUINT64_FROM_BE(s->l1[i]);
        }
    }
    s->rt_entries = ((uint64_t)s->rt_clusters << s->cluster_bits) / 8;
    s->rt = g_malloc(s->rt_entries * 8);
    ret = qcow2_file_pread(s, s->rt_offset, s->rt, s->rt_entries * 8);
    if (ret < 0) {
        return qcow2_fail(errp, s->filename, "cannot read the refcount "
                          "table: %s", g_strerror(-ret));
    }
    for (uint64_t i = 0; i < s->rt_entries; i++) {
        s->rt[i] = GUINT64_FROM_BE(s->rt[i]);
        if (s->rt[i] & QCOW2_RT_OFFSET_MASK) {
            qcow2_meta_add(s, s->rt[i] & QCOW2_RT_OFFSET_MASK);
        }
    }
    for (uint32_t i = 0; i < s->l1_size; i++) {
        if (s->l1[i] & QCOW2_OFFSET_MASK) {
            qcow2_meta_add(s, s->l1[i] & QCOW2_OFFSET_MASK);
        }
    }

    if (!opts->read_only && autoclear) {
        /* Features we do not maintain (bitmaps) are declared stale. */
        uint64_t zero = 0;

        ret = qcow2_file_pwrite(s, HDR_AUTOCLEAR, &zero, 8);
        if (ret < 0) {
            return qcow2_fail(errp, s->filename, "cannot update the header: "
                              "%s", g_strerror(-ret));
        }
    }

    if (backing_off && backing_len) {
        if (backing_len > QCOW2_MAX_BACKING_NAME ||
            backing_off + backing_len > MIN(s->cluster_size, s->file_size)) {
            return qcow2_fail(errp, s->filename, "invalid backing file name "
                              "(offset %" G_GUINT64_FORMAT ", length %u)",
                              backing_off, backing_len);
        }
        backing_name = g_strndup((const char *)cluster0 + backing_off,
                                 backing_len);
    }
    if (backing_name && !opts->backing && !opts->backing_none) {
        if (backing_fmt && !g_str_equal(backing_fmt, "raw") &&
            !g_str_equal(backing_fmt, "qcow2")) {
            return qcow2_fail(errp, s->filename, "unsupported backing "
                              "format '%s'", backing_fmt);
        }
        if (!qcow2_open_backing(bs, s, opts, backing_name, backing_fmt,
                                errp)) {
            return false;
        }
    }
    return true;
}

static void qcow2_free_state(Qcow2State *s)
{
    qcow2_cache_free(&s->l2_cache);
    qcow2_cache_free(&s->rb_cache);
    g_free(s->l1);
    g_free(s->rt);
    g_free(s->filename);
    g_hash_table_unref(s->meta);
    g_array_unref(s->pending_frees);
    g_mutex_clear(&s->lock);
    g_free(s);
}

static bool qcow2_open(BlockNode *bs, const BlockOpenOptions *opts,
                       GError **errp)
{
    Qcow2State *s = g_new0(Qcow2State, 1);

    g_mutex_init(&s->lock);
    s->meta = g_hash_table_new(g_direct_hash, g_direct_equal);
    s->pending_frees = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    s->bs = bs;
    s->file = bs->file;
    s->filename = g_strdup(block_filename(bs->file));
    s->file_size = block_length(bs->file);
    if (!qcow2_parse(bs, s, opts, errp)) {
        qcow2_free_state(s);
        return false;
    }
    s->free_hint = 1;
    bs->opaque = s;
    bs->length = s->size;
    return true;
}

static void qcow2_close(BlockNode *bs)
{
    Qcow2State *s = qcow2_state(bs);

    if (!s) {
        return;
    }
    if (!bs->read_only) {
        /* block_close flushed: pending frees are applied unless that
         * failed; unused reserved clusters go back. */
        if (qcow2_barrier(s) == 0) {
            qcow2_apply_frees(s, s->pending_frees->len);
        }
        qcow2_release_pool(s);
        qcow2_barrier(s);
    }
    qcow2_free_state(s);
}

static int qcow2_handover(BlockNode *bs)
{
    Qcow2State *s = qcow2_state(bs);
    int ret;

    /* As close does, but the node stays open: the pool's reserved
     * clusters would otherwise leak once the other process owns the
     * image (and we may not write it then). */
    g_mutex_lock(&s->lock);
    ret = qcow2_barrier(s);
    if (ret == 0) {
        ret = qcow2_apply_frees(s);
    }
    if (ret == 0) {
        ret = qcow2_release_pool(s);
    }
    if (ret == 0) {
        ret = qcow2_barrier(s);
    }
    g_mutex_unlock(&s->lock);
    return ret;
}

const BlockDriver block_driver_qcow2 = {
    .name = "qcow2",
    .handover = qcow2_handover,
    .open = qcow2_open,
    .close = qcow2_close,
    .preadv = qcow2_preadv,
    .pwritev = qcow2_pwritev,
    .flush = qcow2_flush,
    .write_zeroes = qcow2_write_zeroes,
    .discard = qcow2_discard,
    .truncate = qcow2_truncate,
};
