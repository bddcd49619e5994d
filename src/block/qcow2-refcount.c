/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2 metadata below the cluster mapping: the read caches, refcounts
 * of every width (1 to 64 bits), and allocation, including new refcount
 * blocks and a growing refcount table. Every change is written through
 * in an order a kill cannot turn into corruption (see qcow2.c).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block/qcow2-int.h"

/* ------------------------------------------------------------------ */
/* File access                                                          */

int qcow2_file_pread(Qcow2State *s, uint64_t off, void *buf, size_t len)
{
    return block_pread(s->file, off, buf, len);
}

int qcow2_file_pwrite(Qcow2State *s, uint64_t off, const void *buf,
                      size_t len)
{
    int ret = block_pwrite(s->file, off, buf, len);

    if (ret == 0 && off + len > s->file_size) {
        s->file_size = off + len;
    }
    return ret;
}

/* Part of a cluster-sized table, rounded out to the file's alignment so
 * O_DIRECT needs no read-modify-write. */
int qcow2_file_write_table_part(Qcow2State *s, uint64_t table_off,
                                const uint8_t *table, uint64_t table_len,
                                uint64_t start, uint64_t len)
{
    uint64_t a = block_alignment(s->file);

    if (a > 1 && a <= table_len && (table_off & (a - 1)) == 0 &&
        (table_len & (a - 1)) == 0) {
        uint64_t end = (start + len + a - 1) & ~(a - 1);

        start &= ~(a - 1);
        len = end - start;
    }
    return qcow2_file_pwrite(s, table_off + start, table + start, len);
}

/* Cluster buffers aligned for O_DIRECT, so the file node never has to
 * bounce them. Released with free(). */
uint8_t *qcow2_buf_alloc(Qcow2State *s)
{
    void *p = NULL;

    if (posix_memalign(&p, 4096, s->cluster_size)) {
        g_error("out of memory for a %" G_GUINT64_FORMAT "-byte cluster",
                s->cluster_size);
    }
    return p;
}

/* ------------------------------------------------------------------ */
/* Metadata caches (read caches: every change is written through)       */

void qcow2_cache_free(Qcow2Cache *c)
{
    for (int i = 0; i < CACHE_ENTRIES; i++) {
        free(c->slot[i].data);
        c->slot[i].data = NULL;
        c->slot[i].offset = 0;
    }
}

static Qcow2CacheSlot *qcow2_cache_slot(Qcow2State *s, Qcow2Cache *c,
                                        uint64_t offset, bool *hit)
{
    Qcow2CacheSlot *victim = &c->slot[0];

    for (int i = 0; i < CACHE_ENTRIES; i++) {
        if (c->slot[i].offset == offset && c->slot[i].data) {
            c->slot[i].used = ++c->tick;
            *hit = true;
            return &c->slot[i];
        }
        if (c->slot[i].used < victim->used) {
            victim = &c->slot[i];
        }
    }
    if (!victim->data) {
        victim->data = qcow2_buf_alloc(s);
    }
    victim->offset = 0;
    victim->used = ++c->tick;
    *hit = false;
    return victim;
}

/* The table at @offset (an L2 table or refcount block); -EIO when the
 * offset is not a cluster inside the file. */
int qcow2_cache_get(Qcow2State *s, Qcow2Cache *c, uint64_t offset,
                    uint8_t **data)
{
    Qcow2CacheSlot *slot;
    bool hit;
    int ret;

    if (offset == 0 || (offset & (s->cluster_size - 1)) ||
        offset >= QCOW2_MAX_HOST_OFFSET ||
        offset + s->cluster_size > s->file_size) {
        return -EIO;
    }
    slot = qcow2_cache_slot(s, c, offset, &hit);
    if (!hit) {
        ret = qcow2_file_pread(s, offset, slot->data, s->cluster_size);
        if (ret < 0) {
            return ret;
        }
        slot->offset = offset;
    }
    *data = slot->data;
    return 0;
}

/* A table we just created: zeroes, no read. */
uint8_t *qcow2_cache_new(Qcow2State *s, Qcow2Cache *c, uint64_t offset)
{
    bool hit;
    Qcow2CacheSlot *slot = qcow2_cache_slot(s, c, offset, &hit);

    memset(slot->data, 0, s->cluster_size);
    slot->offset = offset;
    return slot->data;
}

void qcow2_cache_drop(Qcow2Cache *c, uint64_t offset)
{
    for (int i = 0; i < CACHE_ENTRIES; i++) {
        if (c->slot[i].offset == offset) {
            c->slot[i].offset = 0;
            c->slot[i].used = 0;
        }
    }
}

/* ------------------------------------------------------------------ */
/* Refcounts                                                            */

static uint64_t rb_entry_get(const Qcow2State *s, const uint8_t *rb,
                             uint64_t i)
{
    unsigned int bits = s->refcount_bits;

    if (bits < 8) {
        uint64_t bit = i * bits;

        return (rb[bit / 8] >> (bit % 8)) & ((1u << bits) - 1);
    }
    uint64_t v = 0;
    unsigned int bytes = bits / 8;

    for (unsigned int k = 0; k < bytes; k++) {
        v = (v << 8) | rb[i * bytes + k];
    }
    return v;
}

/* Sets entry @i; returns the byte range changed. */
static void rb_entry_set(const Qcow2State *s, uint8_t *rb, uint64_t i,
                         uint64_t v, uint64_t *start, uint64_t *len)
{
    unsigned int bits = s->refcount_bits;

    if (bits < 8) {
        uint64_t bit = i * bits;
        uint8_t mask = (uint8_t)(((1u << bits) - 1) << (bit % 8));

        rb[bit / 8] = (uint8_t)((rb[bit / 8] & ~mask) |
                                ((v << (bit % 8)) & mask));
        *start = bit / 8;
        *len = 1;
        return;
    }
    unsigned int bytes = bits / 8;

    for (unsigned int k = 0; k < bytes; k++) {
        rb[i * bytes + k] = (uint8_t)(v >> (8 * (bytes - 1 - k)));
    }
    *start = i * bytes;
    *len = bytes;
}

static uint64_t rc_max(const Qcow2State *s)
{
    return s->refcount_bits == 64 ? UINT64_MAX :
        (1ULL << s->refcount_bits) - 1;
}

int qcow2_rc_get(Qcow2State *s, uint64_t cluster, uint64_t *rc)
{
    uint64_t idx = cluster >> s->rb_bits;
    uint8_t *rb;
    int ret;

    *rc = 0;
    if (idx >= s->rt_entries) {
        return 0;
    }
    uint64_t off = s->rt[idx] & QCOW2_RT_OFFSET_MASK;

    if (off == 0) {
        return 0;
    }
    ret = qcow2_cache_get(s, &s->rb_cache, off, &rb);
    if (ret < 0) {
        return ret;
    }
    *rc = rb_entry_get(s, rb, cluster & ((1ULL << s->rb_bits) - 1));
    return 0;
}

static bool rc_has_block(Qcow2State *s, uint64_t idx)
{
    return idx < s->rt_entries && (s->rt[idx] & QCOW2_RT_OFFSET_MASK);
}

/* Adds @delta to a cluster whose refcount block exists. */
int qcow2_rc_update(Qcow2State *s, uint64_t cluster, int delta)
{
    uint64_t idx = cluster >> s->rb_bits;
    uint64_t i = cluster & ((1ULL << s->rb_bits) - 1);
    uint64_t off, rc, start, len;
    uint8_t *rb;
    int ret;

    if (!rc_has_block(s, idx)) {
        return -EIO;
    }
    off = s->rt[idx] & QCOW2_RT_OFFSET_MASK;
    ret = qcow2_cache_get(s, &s->rb_cache, off, &rb);
    if (ret < 0) {
        return ret;
    }
    rc = rb_entry_get(s, rb, i);
    if ((delta < 0 && rc == 0) || (delta > 0 && rc == rc_max(s))) {
        return -EIO;            /* corrupt refcounts: never wrap */
    }
    rc = delta < 0 ? rc - 1 : rc + 1;
    rb_entry_set(s, rb, i, rc, &start, &len);
    ret = qcow2_file_write_table_part(s, off, rb, s->cluster_size, start,
                                      len);
    if (ret < 0) {
        return ret;
    }
    if (rc == 0 && cluster < s->free_hint) {
        s->free_hint = cluster;
    }
    return 0;
}

/* Does the cluster range [c, c + n) touch the header, the L1 table or
 * the refcount table? Then the refcounts lie and we must not use it. */
bool qcow2_overlaps_metadata(Qcow2State *s, uint64_t c, uint64_t n)
{
    uint64_t start = c << s->cluster_bits;
    uint64_t end = (c + n) << s->cluster_bits;
    uint64_t l1_end = s->l1_offset + (uint64_t)s->l1_size * 8;
    uint64_t rt_end = s->rt_offset + ((uint64_t)s->rt_clusters <<
                                      s->cluster_bits);

    if (start < s->cluster_size) {
        return true;
    }
    if (s->l1_size && start < l1_end && s->l1_offset < end) {
        return true;
    }
    if (start < rt_end && s->rt_offset < end) {
        return true;
    }
    for (uint64_t i = c; i < c + n; i++) {
        if (g_hash_table_contains(s->meta, GSIZE_TO_POINTER(i))) {
            return true;
        }
    }
    return false;
}

void qcow2_meta_add(Qcow2State *s, uint64_t off)
{
    g_hash_table_add(s->meta, GSIZE_TO_POINTER(off >> s->cluster_bits));
}

static int rt_write_entry(Qcow2State *s, uint64_t idx)
{
    uint64_t be = GUINT64_TO_BE(s->rt[idx]);

    return qcow2_file_pwrite(s, s->rt_offset + idx * 8, &be, 8);
}

/*
 * A refcount block for range @idx, which has none: all its clusters are
 * free, so the block goes in the range's first cluster and counts itself.
 */
static int rc_create_block(Qcow2State *s, uint64_t idx)
{
    uint64_t c = idx << s->rb_bits;
    uint64_t off = c << s->cluster_bits;
    uint64_t start, len;
    uint8_t *rb;
    int ret;

    if (off >= QCOW2_MAX_HOST_OFFSET || qcow2_overlaps_metadata(s, c, 1)) {
        return -EIO;
    }
    rb = qcow2_cache_new(s, &s->rb_cache, off);
    rb_entry_set(s, rb, 0, 1, &start, &len);
    ret = qcow2_file_pwrite(s, off, rb, s->cluster_size);
    if (ret == 0) {
        ret = qcow2_barrier(s);     /* the block before the entry */
    }
    if (ret < 0) {
        qcow2_cache_drop(&s->rb_cache, off);
        return ret;
    }
    s->rt[idx] = off;
    ret = rt_write_entry(s, idx);
    if (ret < 0) {
        s->rt[idx] = 0;
        qcow2_cache_drop(&s->rb_cache, off);
        return ret;
    }
    qcow2_meta_add(s, off);
    return 0;
}

/*
 * Grow the refcount table to cover range @need. The new table goes past
 * everything in use, followed by new refcount blocks for the ranges it
 * occupies; all are written before the header points at the table, and
 * the old table is freed after.
 */
static int rc_grow_table(Qcow2State *s, uint64_t need)
{
    uint64_t cs = s->cluster_size;
    uint64_t entries = MAX(need + 1, s->rt_entries + s->rt_entries / 2);
    uint64_t p = (s->file_size + cs - 1) >> s->cluster_bits;
    uint64_t t, b, rc;
    g_autofree uint64_t *nrt = NULL;
    g_autofree uint8_t *blocks = NULL;
    g_autofree uint64_t *block_idx = NULL;
    int ret;

    /* Past the file's end, except for clusters reserved but not yet
     * written (the pool): the run must be free, else start after. */
    for (;;) {
        uint64_t busy = 0;

        for (;;) {
            uint64_t nb = 0, last;

            t = (entries * 8 + cs - 1) / cs;
            b = 0;
            for (;;) {
                uint64_t first_idx = p >> s->rb_bits;

                last = (p + t + b - 1) >> s->rb_bits;
                nb = 0;
                for (uint64_t i = first_idx; i <= last; i++) {
                    nb += !rc_has_block(s, i);
                }
                if (nb == b) {
                    break;
                }
                b = nb;
            }
            if (last < entries) {
                break;
            }
            entries = last + 1;
        }
        if ((t * cs) > QCOW2_MAX_RT_BYTES ||
            ((p + t + b) << s->cluster_bits) >= QCOW2_MAX_HOST_OFFSET) {
            return -EFBIG;
        }
        for (uint64_t c = p; c < p + t + b && !busy; c++) {
            ret = qcow2_rc_get(s, c, &rc);
            if (ret < 0) {
                return ret;
            }
            busy = rc ? c + 1 : 0;
        }
        if (!busy) {
            break;
        }
        p = busy;
    }

    nrt = g_new0(uint64_t, t * cs / 8);
    memcpy(nrt, s->rt, s->rt_entries * 8);
    blocks = g_malloc0(b * cs);
    block_idx = g_new0(uint64_t, b + 1);
    uint64_t k = 0;

    for (uint64_t i = p >> s->rb_bits; k < b; i++) {
        if (!rc_has_block(s, i)) {
            block_idx[k] = i;
            nrt[i] = (p + t + k) << s->cluster_bits;
            k++;
        }
    }
    /* Refcounts of the new table and blocks: in new blocks, set here. */
    for (uint64_t c = p; c < p + t + b; c++) {
        uint64_t i = c >> s->rb_bits, start, len;

        for (k = 0; k < b; k++) {
            if (block_idx[k] == i) {
                rb_entry_set(s, blocks + k * cs,
                             c & ((1ULL << s->rb_bits) - 1), 1, &start,
                             &len);
            }
        }
    }
    for (k = 0; k < b; k++) {
        ret = qcow2_file_pwrite(s, (p + t + k) << s->cluster_bits,
                                blocks + k * cs, cs);
        if (ret < 0) {
            return ret;
        }
    }
    for (uint64_t i = 0; i < t * cs / 8; i++) {
        nrt[i] = GUINT64_TO_BE(nrt[i]);
    }
    ret = qcow2_file_pwrite(s, p << s->cluster_bits, nrt, t * cs);
    for (uint64_t i = 0; i < t * cs / 8; i++) {
        nrt[i] = GUINT64_FROM_BE(nrt[i]);
    }
    if (ret < 0) {
        return ret;
    }
    /* ... in existing blocks, counted there before the switch. */
    for (uint64_t c = p; c < p + t + b; c++) {
        if (rc_has_block(s, c >> s->rb_bits)) {
            ret = qcow2_rc_update(s, c, +1);
            if (ret < 0) {
                return ret;
            }
        }
    }

    uint8_t hdr[12];
    uint64_t old_off = s->rt_offset;
    uint64_t old_clusters = s->rt_clusters;

    qcow2_put_be64(hdr, p << s->cluster_bits);
    qcow2_put_be32(hdr + 8, (uint32_t)t);
    ret = qcow2_barrier(s);         /* table and blocks before the header */
    if (ret == 0) {
        ret = qcow2_file_pwrite(s, HDR_RT_OFFSET, hdr, sizeof(hdr));
    }
    if (ret < 0) {
        return ret;
    }
    for (k = 0; k < b; k++) {
        qcow2_meta_add(s, (p + t + k) << s->cluster_bits);
    }
    g_free(s->rt);
    s->rt = g_steal_pointer(&nrt);
    s->rt_offset = p << s->cluster_bits;
    s->rt_clusters = (uint32_t)t;
    s->rt_entries = t * cs / 8;
    /* Freed once the header switch is on disk. */
    for (uint64_t c = 0; c < old_clusters; c++) {
        ret = qcow2_free_later(s, (old_off >> s->cluster_bits) + c);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

/*
 * @n contiguous clusters with refcount 1 (already written); returns the
 * host offset of the first in @off.
 */
static int alloc_run(Qcow2State *s, uint64_t n, uint64_t *off)
{
    uint64_t max = QCOW2_MAX_HOST_OFFSET >> s->cluster_bits;
    int ret;

restart:
    {
        uint64_t c = s->free_hint, run = 0, rc;

        while (run < n) {
            if (c + run >= max) {
                return -ENOSPC;
            }
            ret = qcow2_rc_get(s, c + run, &rc);
            if (ret < 0) {
                return ret;
            }
            if (rc) {
                if (run == 0 && c == s->free_hint) {
                    s->free_hint++;
                }
                c += run + 1;
                run = 0;
            } else {
                run++;
            }
        }
        if (qcow2_overlaps_metadata(s, c, n)) {
            return -EIO;
        }
        for (uint64_t i = c >> s->rb_bits; i <= (c + n - 1) >> s->rb_bits;
             i++) {
            if (i >= s->rt_entries) {
                ret = rc_grow_table(s, i);
                if (ret < 0) {
                    return ret;
                }
                goto restart;
            }
            if (!rc_has_block(s, i)) {
                ret = rc_create_block(s, i);
                if (ret < 0) {
                    return ret;
                }
                goto restart;
            }
        }
        for (uint64_t i = 0; i < n; i++) {
            ret = qcow2_rc_update(s, c + i, +1);
            if (ret < 0) {
                return ret;
            }
        }
        if (c == s->free_hint) {
            s->free_hint = c + n;
        }
        *off = c << s->cluster_bits;
        return 0;
    }
}

int qcow2_barrier(Qcow2State *s)
{
    return block_flush(s->file);
}

int qcow2_alloc_clusters(Qcow2State *s, uint64_t n, uint64_t *off)
{
    int ret = alloc_run(s, n, off);

    /* On failure the clusters leak; nothing points at them yet. */
    return ret < 0 ? ret : qcow2_barrier(s);
}

/*
 * Clusters are reserved a few at a time (refcount 1, one barrier for the
 * lot) so that a single cluster's allocation costs no fdatasync. What is
 * left at close is given back; after a crash it is a leak.
 */
int qcow2_alloc_cluster(Qcow2State *s, uint64_t *off)
{
    int ret;

    if (s->pool_next == s->pool_len) {
        unsigned int want = (unsigned int)CLAMP((32u << 20) >> s->cluster_bits,
                                                4, QCOW2_POOL_MAX);

        s->pool_next = s->pool_len = 0;
        while (s->pool_len < want) {
            ret = alloc_run(s, 1, &s->pool[s->pool_len]);
            if (ret < 0) {
                if (s->pool_len == 0) {
                    return ret;
                }
                break;
            }
            s->pool_len++;
        }
        s->pool_synced = false;
    }
    if (!s->pool_synced) {
        ret = qcow2_barrier(s);
        if (ret < 0) {
            return ret;
        }
        s->pool_synced = true;
    }
    *off = s->pool[s->pool_next++];
    return 0;
}

int qcow2_release_pool(Qcow2State *s)
{
    int ret = 0;

    while (s->pool_next < s->pool_len) {
        int r = qcow2_rc_update(s, s->pool[s->pool_next++] >> s->cluster_bits,
                                -1);

        ret = ret < 0 ? ret : r;
    }
    s->pool_next = s->pool_len = 0;
    return ret;
}

int qcow2_free_later(Qcow2State *s, uint64_t cluster)
{
    int ret;

    g_array_append_val(s->pending_frees, cluster);
    if (s->pending_frees->len < QCOW2_MAX_PENDING_FREES || s->inflight) {
        return 0;
    }
    ret = qcow2_barrier(s);
    return ret < 0 ? ret : qcow2_apply_frees(s, s->pending_frees->len);
}

int qcow2_apply_frees(Qcow2State *s, guint count)
{
    int ret = 0;

    if (s->inflight) {
        return 0;
    }
    count = MIN(count, s->pending_frees->len);
    for (guint i = 0; i < count; i++) {
        uint64_t c = g_array_index(s->pending_frees, uint64_t, i);
        uint64_t rc = 1;
        int r = qcow2_rc_update(s, c, -1);

        if (r == 0 && qcow2_rc_get(s, c, &rc) == 0 && rc == 0) {
            /* Give the space back to the host (discard=unmap on the
             * file node). */
            block_discard(s->file, c << s->cluster_bits, s->cluster_size);
        }
        ret = ret < 0 ? ret : r;
    }
    g_array_remove_range(s->pending_frees, 0, count);
    s->frees_applied += count;
    return ret;
}
