/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Format "raw": the guest's bytes are the file child's bytes. Its virtual
 * size is the child's size when opened (or resized through us).
 */
#include "config.h"

#include <errno.h>

#include "block/block-int.h"

static bool raw_open(BlockNode *bs, const BlockOpenOptions *opts,
                     GError **errp)
{
    bs->length = block_length(bs->file);
    return true;
}

static void raw_close(BlockNode *bs)
{
}

static int raw_preadv(BlockNode *bs, uint64_t offset,
                      const struct iovec *iov, int iovcnt, size_t len)
{
    return block_preadv(bs->file, offset, iov, iovcnt);
}

static int raw_pwritev(BlockNode *bs, uint64_t offset,
                       const struct iovec *iov, int iovcnt, size_t len)
{
    return block_pwritev(bs->file, offset, iov, iovcnt);
}

static int raw_flush(BlockNode *bs)
{
    return block_flush(bs->file);
}

static int raw_write_zeroes(BlockNode *bs, uint64_t offset, uint64_t len,
                            bool may_unmap)
{
    return block_write_zeroes(bs->file, offset, len, may_unmap);
}

static int raw_discard(BlockNode *bs, uint64_t offset, uint64_t len)
{
    if (!bs->discard_unmap) {
        return 0;
    }
    return block_discard(bs->file, offset, len);
}

static int raw_truncate(BlockNode *bs, uint64_t new_size)
{
    int ret = block_truncate(bs->file, new_size);

    if (ret == 0) {
        bs->length = new_size;
    }
    return ret;
}

static int raw_fd(const BlockNode *bs)
{
    if (bs->file->drv->raw_fd) {
        return bs->file->drv->raw_fd(bs->file);
    }
    return -1;
}

const BlockDriver block_driver_raw = {
    .name = "raw",
    .open = raw_open,
    .close = raw_close,
    .preadv = raw_preadv,
    .pwritev = raw_pwritev,
    .flush = raw_flush,
    .write_zeroes = raw_write_zeroes,
    .discard = raw_discard,
    .truncate = raw_truncate,
    .raw_fd = raw_fd,
};
