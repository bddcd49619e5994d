/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The machine's block graph: the nodes -blockdev and -drive open, and the
 * backends (QEMU's BlockBackend) a disk device attaches to. A backend
 * counts the I/O done through it (query-blockstats) and carries the
 * error policies of its drive.
 *
 * Built and queried on the main thread; the accounting functions may be
 * called from any thread.
 */
#ifndef KESTREL_BLOCKDEV_H
#define KESTREL_BLOCKDEV_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "block/block.h"
#include "vmconfig.h"

typedef struct BlockGraph BlockGraph;
typedef struct BlockBackend BlockBackend;

typedef enum {
    BLOCK_ACCT_READ,
    BLOCK_ACCT_WRITE,
    BLOCK_ACCT_FLUSH,
    BLOCK_ACCT_UNMAP,
    BLOCK_ACCT__MAX,
} BlockAcctType;

/* What to do when a request fails (werror=, rerror=). */
typedef enum {
    BLOCK_ERROR_REPORT,                 /* the guest sees an I/O error */
    BLOCK_ERROR_IGNORE,                 /* the guest sees success */
    BLOCK_ERROR_STOP,                   /* the VM stops; cont retries */
    BLOCK_ERROR_ENOSPC,                 /* stop on ENOSPC, else report */
} BlockErrorPolicy;

/* Open every -blockdev (in order; references by node-name) and every
 * -drive. Errors name the option and file. */
BlockGraph *block_graph_new(const VmConfig *cfg, GError **errp);
void block_graph_free(BlockGraph *g);

/*
 * block_graph_attach: the backend for a device's drive=@ref, a -drive id
 * or the node-name of a node nobody else uses. @qdev is the device's
 * QOM path. A backend attaches to one device only.
 */
BlockBackend *block_graph_attach(BlockGraph *g, const char *ref,
                                 const char *qdev, GError **errp);

BlockNode *blk_node(BlockBackend *blk);
/* The -drive's policy, or @def when the drive gave none (or -blockdev). */
BlockErrorPolicy blk_error_policy(BlockBackend *blk, bool is_read,
                                  BlockErrorPolicy def);
bool block_error_policy_parse(const char *s, BlockErrorPolicy *out);
const char *block_error_policy_name(BlockErrorPolicy p);
/* The name the QMP events use: the -drive id, or "". */
const char *blk_name(BlockBackend *blk);
const char *blk_qdev(BlockBackend *blk);

/* One request's accounting (any thread): @ns it took, bytes moved,
 * whether it failed; invalid requests (outside the disk) apart. */
void blk_account(BlockBackend *blk, BlockAcctType type, uint64_t bytes,
                 uint64_t offset, int64_t ns, bool failed);
void blk_account_invalid(BlockBackend *blk, BlockAcctType type);
/* io-status, as query-block shows it: "ok", "failed" or "nospace". */
void blk_set_io_status(BlockBackend *blk, int err);

/* Migration on shared storage: the source flushes every node when it
 * stops for good; the destination, which opened the images before the
 * source stopped writing, reads their metadata again before it runs. */
bool block_graph_flush_all(BlockGraph *g, GError **errp);
bool block_graph_invalidate_all(BlockGraph *g, GError **errp);
/* The source, once the destination runs: it never writes the images
 * again (closing included) unless the VM continues here (`cont` after a
 * migration), which activates them and re-reads their metadata. */
void block_graph_inactivate_all(BlockGraph *g);
bool block_graph_activate_all(BlockGraph *g, GError **errp);

/* QMP: query-block, query-blockstats, query-named-block-nodes. */
JsonArray *block_graph_query_block(BlockGraph *g);
JsonArray *block_graph_query_blockstats(BlockGraph *g);
JsonArray *block_graph_query_nodes(BlockGraph *g);

/* block_resize by device (backend name) or node-name, in bytes. Calls
 * @resized for the backend whose disk changed (the device tells its
 * guest). */
bool block_graph_resize(BlockGraph *g, const char *device,
                        const char *node_name, uint64_t size,
                        GError **errp);
/* The device attached to a backend learns of a resize through this. */
void blk_set_resize_cb(BlockBackend *blk, void (*cb)(void *opaque),
                       void *opaque);

#endif /* KESTREL_BLOCKDEV_H */
