/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The block layer: a graph of nodes, as QEMU's -blockdev describes it.
 * A protocol node ("file": a regular file or a block device) reads and
 * writes bytes of a host file; a format node ("raw", "qcow2") sits on a
 * protocol node (its "file" child) and, for qcow2, on an optional backing
 * node. A device (virtio-blk) holds the top node.
 *
 * Every operation is synchronous and thread-safe: a driver serialises what
 * it must (qcow2 metadata) internally, so a device may call from its own
 * I/O threads. Operations return 0 or a negative errno; nothing here
 * prints. Offsets and lengths are in bytes; a format node checks them
 * against its virtual size (-EINVAL beyond the end), so a caller passing
 * guest-controlled values cannot reach outside the image.
 *
 * Guest data written and then flushed (block_flush) is on stable storage;
 * metadata updates of a format are ordered so that an image is never
 * corrupt after a kill at any point (leaked clusters are allowed).
 */
#ifndef KESTREL_BLOCK_H
#define KESTREL_BLOCK_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

typedef struct BlockNode BlockNode;

/* How a node is opened: QEMU's -blockdev options for the formats we have.
 * Strings are copied. */
typedef struct {
    const char *node_name;      /* node-name=, NULL: generated ("#block%d") */
    const char *driver;         /* "file", "host_device", "raw", "qcow2" */
    /* Protocol nodes ("file", "host_device"). */
    const char *filename;
    bool cache_direct;          /* cache.direct=on: O_DIRECT */
    bool cache_no_flush;        /* cache.no-flush=on: flush does nothing */
    /* Format nodes: the protocol child (opened by the caller), consumed
     * by block_open on success. */
    BlockNode *file;
    /* qcow2: the backing node, if the caller opened one (-blockdev
     * backing=ID); NULL with backing_none false: open what the image's
     * header names (relative to the image's directory, with its format),
     * with the same cache options. backing_none: backing=null. */
    BlockNode *backing;
    bool backing_none;
    bool read_only;             /* read-only=on */
    /* discard=unmap: discard requests punch holes / free clusters;
     * otherwise (ignore, QEMU's default) they are accepted and dropped. */
    bool discard_unmap;
} BlockOpenOptions;

/* Open one node. Errors name the file and what is wrong with it ("not a
 * qcow2 image", "unsupported qcow2 feature: ...", a corrupt header). */
BlockNode *block_open(const BlockOpenOptions *opts, GError **errp);

/*
 * block_open_image: the -drive shortcut: open @filename as a "file" node
 * (or "host_device" for a block device) with a @format node ("raw",
 * "qcow2") on top, backing chain from the header. @format NULL: probe
 * (qcow2 magic, else raw), as QEMU does with a warning.
 */
BlockNode *block_open_image(const char *filename, const char *format,
                            bool read_only, bool cache_direct,
                            bool cache_no_flush, bool discard_unmap,
                            GError **errp);

/* Close a node and the children it owns (file, backing). */
void block_close(BlockNode *bs);

/* Introspection (query-block, query-named-block-nodes). */
const char *block_node_name(const BlockNode *bs);
const char *block_driver_name(const BlockNode *bs);  /* "qcow2", "raw", ... */
const char *block_filename(const BlockNode *bs);     /* the file node's */
BlockNode *block_file_child(const BlockNode *bs);    /* NULL: protocol */
BlockNode *block_backing(const BlockNode *bs);       /* NULL: none */
bool block_read_only(const BlockNode *bs);
bool block_cache_direct(const BlockNode *bs);
uint64_t block_length(const BlockNode *bs);          /* virtual size */
/* Bytes the image takes on the host (st_blocks * 512 of the file). */
uint64_t block_allocated(const BlockNode *bs);
/* Required alignment of buffers, offsets and lengths for direct I/O on
 * this node (1 unless O_DIRECT; the file node's logical block size). */
unsigned int block_alignment(const BlockNode *bs);

/*
 * For a "raw" node with no offset/size options over a "file" or
 * "host_device" node: the host fd, so a device may submit I/O with
 * io_uring itself (offsets are the same). -1 otherwise.
 */
int block_raw_fd(const BlockNode *bs);

/* Data. @iov may point anywhere in host memory (guest RAM included);
 * short reads past a file's end read zeroes. */
int block_preadv(BlockNode *bs, uint64_t offset, const struct iovec *iov,
                 int iovcnt);
int block_pwritev(BlockNode *bs, uint64_t offset, const struct iovec *iov,
                  int iovcnt);
int block_pread(BlockNode *bs, uint64_t offset, void *buf, size_t len);
int block_pwrite(BlockNode *bs, uint64_t offset, const void *buf,
                 size_t len);
/* Everything written before is on stable storage (fdatasync, metadata
 * caches written first). */
int block_flush(BlockNode *bs);
/* The range reads as zeroes afterwards; @may_unmap lets the node free
 * the space (VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP). */
int block_write_zeroes(BlockNode *bs, uint64_t offset, uint64_t len,
                       bool may_unmap);
/* A hint: the range's contents are no longer needed (may read back as
 * anything, in practice zeroes or the old data). */
int block_discard(BlockNode *bs, uint64_t offset, uint64_t len);
/*
 * block_invalidate_cache: forget every cached piece of metadata and read
 * it again from the file (header, tables): another process wrote the
 * image meanwhile (a migration's source, on shared storage). The node
 * and its children (file, backing) alike.
 */
int block_invalidate_cache(BlockNode *bs);
/*
 * block_handover: flush, and write back and give back what the node
 * holds in this process (a qcow2's reserved clusters): the image is
 * complete for another process to open (a migration's switch-over). The
 * node stays usable.
 */
int block_handover(BlockNode *bs);

/*
 * block_inactivate: this process hands the image to another one (a
 * migration completed): it writes nothing to it any more, closing
 * included, until block_activate (the source continued after all:
 * `cont`), which must be followed by block_invalidate_cache. Recursive.
 */
void block_inactivate(BlockNode *bs);
int block_activate(BlockNode *bs);
/* Grow (or shrink) the virtual size: block_resize. qcow2 may refuse to
 * shrink (-ENOTSUP). */
int block_truncate(BlockNode *bs, uint64_t new_size);

#endif /* KESTREL_BLOCK_H */
