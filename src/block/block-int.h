/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Inside the block layer: the driver table and the node every driver
 * fills in. Only src/block/ includes this.
 */
#ifndef KESTREL_BLOCK_INT_H
#define KESTREL_BLOCK_INT_H

#include "block/block.h"

typedef struct BlockDriver {
    const char *name;           /* -blockdev driver=: never rename */
    bool protocol;              /* opens a host file, has no file child */
    /* Fill in bs->length (and bs->opaque); the generic fields and the
     * children are set before. */
    bool (*open)(BlockNode *bs, const BlockOpenOptions *opts, GError **errp);
    void (*close)(BlockNode *bs);
    /* Requests arrive checked against bs->length (format nodes). */
    int (*preadv)(BlockNode *bs, uint64_t offset, const struct iovec *iov,
                  int iovcnt, size_t len);
    int (*pwritev)(BlockNode *bs, uint64_t offset, const struct iovec *iov,
                   int iovcnt, size_t len);
    int (*flush)(BlockNode *bs);
    int (*write_zeroes)(BlockNode *bs, uint64_t offset, uint64_t len,
                        bool may_unmap);
    int (*discard)(BlockNode *bs, uint64_t offset, uint64_t len);
    int (*truncate)(BlockNode *bs, uint64_t new_size);
    int (*raw_fd)(const BlockNode *bs);
    /* Optional: write back and give back everything held in this
     * process (reserved clusters, deferred frees), so that another
     * process opening the image finds it complete (migration). */
    int (*handover)(BlockNode *bs);
} BlockDriver;

struct BlockNode {
    const BlockDriver *drv;
    char *node_name;
    char *filename;             /* protocol: the host path */
    BlockNode *file;            /* format: the protocol child (owned) */
    BlockNode *backing;         /* qcow2: the backing node (owned) */
    bool read_only;
    bool inactive_rw;           /* writable, but handed to another process */
    bool cache_direct;
    bool cache_no_flush;
    bool discard_unmap;
    uint64_t length;            /* virtual size; a protocol's file size */
    unsigned int alignment;
    void *opaque;               /* the driver's state */
};

extern const BlockDriver block_driver_file;
extern const BlockDriver block_driver_host_device;
extern const BlockDriver block_driver_raw;
extern const BlockDriver block_driver_qcow2;

/* The qcow2 magic, for probing ("QFI\xfb"). */
#define QCOW2_MAGIC 0x514649fbu

/* Sum of the iovec lengths; SIZE_MAX if it overflows. */
size_t block_iov_size(const struct iovec *iov, int iovcnt);

/* Copy between a flat buffer and an iovec, starting @skip bytes into the
 * iovec; returns the bytes copied. */
size_t block_iov_to_buf(const struct iovec *iov, int iovcnt, size_t skip,
                        void *buf, size_t len);
size_t block_iov_from_buf(const struct iovec *iov, int iovcnt, size_t skip,
                          const void *buf, size_t len);
void block_iov_memset(const struct iovec *iov, int iovcnt, size_t skip,
                      int c, size_t len);

/* The file node's host size right now (protocol nodes follow the file). */
uint64_t block_file_size(BlockNode *bs);

#endif /* KESTREL_BLOCK_INT_H */
