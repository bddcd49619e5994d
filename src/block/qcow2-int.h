/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Inside the qcow2 driver: the node's state, shared by qcow2.c (mapping,
 * requests, opening) and qcow2-refcount.c (metadata caches, refcounts,
 * cluster allocation). Every function here is called with s->lock held.
 */
#ifndef KESTREL_QCOW2_INT_H
#define KESTREL_QCOW2_INT_H

#include "block/block-int.h"

#define QCOW2_MAX_BACKING_NAME  1023
#define QCOW2_MIN_CLUSTER_BITS  9
#define QCOW2_MAX_CLUSTER_BITS  21
/* Bounds memory for hostile headers: 32 Mi L1 entries (QEMU's limit). */
#define QCOW2_MAX_L1_ENTRIES    0x2000000u
#define QCOW2_MAX_RT_BYTES      (256u * 1024 * 1024)
#define QCOW2_MAX_BACKING_DEPTH 16

#define QCOW2_OFFSET_MASK       0x00fffffffffffe00ULL
#define QCOW2_RT_OFFSET_MASK    0xfffffffffffffe00ULL
#define QCOW2_COPIED            (1ULL << 63)
#define QCOW2_COMPRESSED        (1ULL << 62)
#define QCOW2_ZERO              1ULL
/* Host offsets must stay below 2^56 (bits 9-55 of an entry). */
#define QCOW2_MAX_HOST_OFFSET   (1ULL << 56)

/* Header fields (byte offsets), from the specification. */
#define HDR_SIZE                24
#define HDR_L1_SIZE             36
#define HDR_RT_OFFSET           48
#define HDR_AUTOCLEAR           88
#define HDR_V2_LENGTH           72
#define HDR_V3_LENGTH           104

#define INCOMPAT_DIRTY          (1ULL << 0)
#define INCOMPAT_CORRUPT        (1ULL << 1)
#define INCOMPAT_DATA_FILE      (1ULL << 2)
#define INCOMPAT_COMPRESSION    (1ULL << 3)
#define INCOMPAT_EXTL2          (1ULL << 4)

#define EXT_END                 0x00000000u
#define EXT_BACKING_FORMAT      0xe2792acau
#define EXT_FEATURE_TABLE       0x6803f857u

#define CACHE_ENTRIES           16
#define QCOW2_POOL_MAX          512
/* Frees wait for a barrier; past this many we make one ourselves. */
#define QCOW2_MAX_PENDING_FREES 4096

typedef struct {
    uint64_t offset;            /* 0: empty slot */
    uint64_t used;              /* LRU tick */
    uint8_t *data;              /* one cluster, as on disk (big-endian) */
} Qcow2CacheSlot;

typedef struct {
    Qcow2CacheSlot slot[CACHE_ENTRIES];
    uint64_t tick;
} Qcow2Cache;

typedef struct {
    GMutex lock;                /* everything below, and every request */
    BlockNode *bs;
    BlockNode *file;
    char *filename;             /* for messages */

    int version;
    unsigned int cluster_bits;
    uint64_t cluster_size;
    unsigned int l2_bits;       /* entries per L2 table, log2 */
    uint64_t size;              /* virtual size */

    uint32_t l1_size;
    uint64_t l1_offset;
    uint64_t *l1;               /* host order; cluster-rounded allocation */

    unsigned int refcount_order;
    unsigned int refcount_bits;
    unsigned int rb_bits;       /* refcount entries per block, log2 */
    uint64_t rt_offset;
    uint32_t rt_clusters;
    uint64_t rt_entries;
    uint64_t *rt;               /* host order */

    /* Clusters of L2 tables and refcount blocks, so that a hostile image
     * cannot make us write data over its metadata. */
    GHashTable *meta;
    uint64_t file_size;         /* grows as we write past the end */
    uint64_t free_hint;         /* no free cluster below this index */
    /* Clusters reserved for single allocations (refcount 1 on disk). */
    uint64_t pool[QCOW2_POOL_MAX];
    unsigned int pool_next, pool_len;
    bool pool_synced;           /* their refcounts are behind a barrier */
    /* Cluster indexes no longer referenced whose refcount drops after
     * the next barrier (GArray of uint64_t). */
    GArray *pending_frees;
    uint64_t frees_applied;     /* entries ever taken off its front */
    /* Requests doing data I/O with the lock dropped; frees wait for 0. */
    unsigned int inflight;
    Qcow2Cache l2_cache;
    Qcow2Cache rb_cache;
} Qcow2State;

static inline Qcow2State *qcow2_state(const BlockNode *bs)
{
    return bs->opaque;
}

/* Big-endian stores into byte buffers (header fields: unaligned). */
static inline void qcow2_put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (24 - 8 * i));
    }
}

static inline void qcow2_put_be64(uint8_t *p, uint64_t v)
{
    qcow2_put_be32(p, (uint32_t)(v >> 32));
    qcow2_put_be32(p + 4, (uint32_t)v);
}

/* The file child, keeping s->file_size up to date. */
int qcow2_file_pread(Qcow2State *s, uint64_t off, void *buf, size_t len);
int qcow2_file_pwrite(Qcow2State *s, uint64_t off, const void *buf,
                      size_t len);
/* Bytes [start, start + len) of a table of @table_len bytes at
 * @table_off, widened to the file's O_DIRECT alignment. */
int qcow2_file_write_table_part(Qcow2State *s, uint64_t table_off,
                                const uint8_t *table, uint64_t table_len,
                                uint64_t start, uint64_t len);
/* One cluster, 4096-aligned; free() it. */
uint8_t *qcow2_buf_alloc(Qcow2State *s);

/* Read caches of cluster-sized tables (L2 tables, refcount blocks):
 * get loads (-EIO for an offset that is not a cluster in the file), new
 * installs a zeroed table without reading, drop forgets one. A pointer
 * stays valid until the next get/new on the same cache. */
int qcow2_cache_get(Qcow2State *s, Qcow2Cache *c, uint64_t offset,
                    uint8_t **data);
uint8_t *qcow2_cache_new(Qcow2State *s, Qcow2Cache *c, uint64_t offset);
void qcow2_cache_drop(Qcow2Cache *c, uint64_t offset);
void qcow2_cache_free(Qcow2Cache *c);

/* Refcount of a cluster (by index); 0 where no block covers it. */
int qcow2_rc_get(Qcow2State *s, uint64_t cluster, uint64_t *rc);
/* +1 or -1 on a cluster whose refcount block exists, written through;
 * -EIO rather than wrap around. */
int qcow2_rc_update(Qcow2State *s, uint64_t cluster, int delta);
/*
 * Ordering that survives a power failure as well as a kill needs write
 * barriers (the file node's flush; nothing with cache.no-flush=on):
 * a refcount increment is behind a barrier before anything references
 * the cluster, a new table before what points at it, and a decrement
 * waits until the change that dropped the reference is behind one.
 * The one function here that needs no lock (it touches only s->file).
 */
int qcow2_barrier(Qcow2State *s);
/* @n contiguous new clusters (refcount 1, behind a barrier); the first
 * one's host offset in @off. */
int qcow2_alloc_clusters(Qcow2State *s, uint64_t n, uint64_t *off);
/* One new cluster from a pool reserved in batches (one barrier each). */
int qcow2_alloc_cluster(Qcow2State *s, uint64_t *off);
/* Gives back the unused reserved clusters (close). */
int qcow2_release_pool(Qcow2State *s);
/* Drops a reference after the next barrier (at once past a limit, with a
 * barrier of its own). */
int qcow2_free_later(Qcow2State *s, uint64_t cluster);
/* Applies the first @count dropped references: those queued before a
 * barrier that has completed. Does nothing while data I/O is in flight
 * (a cluster being read or written must not be handed out again); they
 * wait for the next call. */
int qcow2_apply_frees(Qcow2State *s, guint count);

/* Does [c, c + n) (cluster indexes) touch the header, the L1 table, the
 * refcount table, an L2 table or a refcount block? */
bool qcow2_overlaps_metadata(Qcow2State *s, uint64_t c, uint64_t n);
/* Records a new L2 table or refcount block at @off. */
void qcow2_meta_add(Qcow2State *s, uint64_t off);

#endif /* KESTREL_QCOW2_INT_H */
