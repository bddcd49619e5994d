/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The node graph: opening nodes by driver name, the -drive shortcut with
 * format probing, and the checks every request passes before it reaches
 * a driver (read-only, bounds of a format node's virtual size).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/block-int.h"
#include "error.h"

/* Sorted by name. */
static const BlockDriver *const block_drivers[] = {
    &block_driver_file,
    &block_driver_host_device,
    &block_driver_qcow2,
    &block_driver_raw,
};

static const BlockDriver *block_find_driver(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(block_drivers); i++) {
        if (g_str_equal(block_drivers[i]->name, name)) {
            return block_drivers[i];
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* iovec helpers                                                        */

size_t block_iov_size(const struct iovec *iov, int iovcnt)
{
    size_t total = 0;

    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > SIZE_MAX - total) {
            return SIZE_MAX;
        }
        total += iov[i].iov_len;
    }
    return total;
}

static size_t block_iov_copy(const struct iovec *iov, int iovcnt,
                             size_t skip, void *buf, size_t len, bool to_buf)
{
    size_t done = 0;

    for (int i = 0; i < iovcnt && done < len; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        size_t n = MIN(iov[i].iov_len - skip, len - done);
        char *p = (char *)iov[i].iov_base + skip;

        if (to_buf) {
            memcpy((char *)buf + done, p, n);
        } else {
            memcpy(p, (const char *)buf + done, n);
        }
        done += n;
        skip = 0;
    }
    return done;
}

size_t block_iov_to_buf(const struct iovec *iov, int iovcnt, size_t skip,
                        void *buf, size_t len)
{
    return block_iov_copy(iov, iovcnt, skip, buf, len, true);
}

size_t block_iov_from_buf(const struct iovec *iov, int iovcnt, size_t skip,
                          const void *buf, size_t len)
{
    return block_iov_copy(iov, iovcnt, skip, (void *)buf, len, false);
}

void block_iov_memset(const struct iovec *iov, int iovcnt, size_t skip,
                      int c, size_t len)
{
    size_t done = 0;

    for (int i = 0; i < iovcnt && done < len; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        size_t n = MIN(iov[i].iov_len - skip, len - done);

        memset((char *)iov[i].iov_base + skip, c, n);
        done += n;
        skip = 0;
    }
}

/* ------------------------------------------------------------------ */
/* Opening and closing                                                  */

BlockNode *block_open(const BlockOpenOptions *opts, GError **errp)
{
    static gint node_counter;
    const BlockDriver *drv;
    BlockNode *bs;

    if (!opts->driver) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "a block node needs a driver");
        return NULL;
    }
    drv = block_find_driver(opts->driver);
    if (!drv) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "Unknown driver '%s'", opts->driver);
        return NULL;
    }
    if (!drv->protocol && !opts->file) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "driver '%s' needs a file child", drv->name);
        return NULL;
    }
    if (drv->protocol && opts->file) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "driver '%s' takes no file child", drv->name);
        return NULL;
    }

    bs = g_new0(BlockNode, 1);
    bs->drv = drv;
    bs->node_name = opts->node_name ? g_strdup(opts->node_name) :
        g_strdup_printf("#block%d", g_atomic_int_add(&node_counter, 1));
    bs->read_only = opts->read_only;
    bs->cache_direct = opts->cache_direct;
    bs->cache_no_flush = opts->cache_no_flush;
    bs->discard_unmap = opts->discard_unmap;
    bs->alignment = 1;
    if (drv->protocol) {
        bs->filename = g_strdup(opts->filename);
    } else {
        bs->file = opts->file;
        bs->alignment = opts->file->alignment;
        bs->backing = opts->backing;
        if (!opts->read_only && opts->file->read_only) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "'%s' is read-only, its format node cannot be "
                        "writable", block_filename(opts->file));
            g_free(bs->node_name);
            g_free(bs);
            return NULL;
        }
    }
    if (!drv->open(bs, opts, errp)) {
        /* The caller keeps the children it passed. */
        if (bs->backing != opts->backing) {
            block_close(bs->backing);
        }
        g_free(bs->node_name);
        g_free(bs->filename);
        g_free(bs);
        return NULL;
    }
    return bs;
}

void block_close(BlockNode *bs)
{
    if (!bs) {
        return;
    }
    if (!bs->read_only) {
        block_flush(bs);
    }
    bs->drv->close(bs);
    block_close(bs->backing);
    block_close(bs->file);
    g_free(bs->node_name);
    g_free(bs->filename);
    g_free(bs);
}

BlockNode *block_open_image(const char *filename, const char *format,
                            bool read_only, bool cache_direct,
                            bool cache_no_flush, bool discard_unmap,
                            GError **errp)
{
    struct stat st;
    BlockNode *file, *fmt;

    if (stat(filename, &st) < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Could not open '%s': %s", filename, g_strerror(errno));
        return NULL;
    }
    BlockOpenOptions fo = {
        .driver = S_ISBLK(st.st_mode) ? "host_device" : "file",
        .filename = filename,
        .cache_direct = cache_direct,
        .cache_no_flush = cache_no_flush,
        .read_only = read_only,
        .discard_unmap = discard_unmap,
    };

    file = block_open(&fo, errp);
    if (!file) {
        return NULL;
    }
    if (!format) {
        uint8_t magic[4] = { 0 };

        /* As QEMU's probe: the qcow2 magic, or else raw. */
        if (block_length(file) >= 4 && block_pread(file, 0, magic, 4) == 0 &&
            ((uint32_t)magic[0] << 24 | (uint32_t)magic[1] << 16 |
             (uint32_t)magic[2] << 8 | magic[3]) == QCOW2_MAGIC) {
            format = "qcow2";
        } else {
            format = "raw";
        }
    }
    if (!g_str_equal(format, "raw") && !g_str_equal(format, "qcow2")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "'%s': unknown image format '%s'", filename, format);
        block_close(file);
        return NULL;
    }
    BlockOpenOptions o = {
        .driver = format,
        .file = file,
        .read_only = read_only,
        .discard_unmap = discard_unmap,
    };

    fmt = block_open(&o, errp);
    if (!fmt) {
        block_close(file);
    }
    return fmt;
}

/* ------------------------------------------------------------------ */
/* Introspection                                                        */

const char *block_node_name(const BlockNode *bs)
{
    return bs->node_name;
}

const char *block_driver_name(const BlockNode *bs)
{
    return bs->drv->name;
}

const char *block_filename(const BlockNode *bs)
{
    while (bs->file) {
        bs = bs->file;
    }
    return bs->filename;
}

BlockNode *block_file_child(const BlockNode *bs)
{
    return bs->file;
}

BlockNode *block_backing(const BlockNode *bs)
{
    return bs->backing;
}

bool block_read_only(const BlockNode *bs)
{
    return bs->read_only;
}

bool block_cache_direct(const BlockNode *bs)
{
    while (bs->file) {
        bs = bs->file;
    }
    return bs->cache_direct;
}

uint64_t block_length(const BlockNode *bs)
{
    if (bs->drv->protocol) {
        return block_file_size((BlockNode *)bs);
    }
    return __atomic_load_n(&bs->length, __ATOMIC_ACQUIRE);
}

uint64_t block_allocated(const BlockNode *bs)
{
    struct stat st;

    while (bs->file) {
        bs = bs->file;
    }
    if (fstat(bs->drv->raw_fd(bs), &st) < 0) {
        return 0;
    }
    return (uint64_t)st.st_blocks * 512;
}

unsigned int block_alignment(const BlockNode *bs)
{
    return bs->alignment;
}

int block_raw_fd(const BlockNode *bs)
{
    if (!g_str_equal(bs->drv->name, "raw")) {
        return -1;
    }
    return bs->drv->raw_fd(bs);
}

/* ------------------------------------------------------------------ */
/* Requests                                                             */

/* Format nodes refuse what lies outside the virtual size; protocol nodes
 * are addressed by their format driver, which may grow the file. */
static int block_check_range(BlockNode *bs, uint64_t offset, uint64_t len)
{
    if (offset + len < offset) {
        return -EINVAL;
    }
    if (!bs->drv->protocol && offset + len > block_length(bs)) {
        return -EINVAL;
    }
    return 0;
}

int block_preadv(BlockNode *bs, uint64_t offset, const struct iovec *iov,
                 int iovcnt)
{
    size_t len = block_iov_size(iov, iovcnt);
    int ret;

    if (iovcnt < 0 || len == SIZE_MAX) {
        return -EINVAL;
    }
    ret = block_check_range(bs, offset, len);
    if (ret < 0 || len == 0) {
        return ret;
    }
    return bs->drv->preadv(bs, offset, iov, iovcnt, len);
}

int block_pwritev(BlockNode *bs, uint64_t offset, const struct iovec *iov,
                  int iovcnt)
{
    size_t len = block_iov_size(iov, iovcnt);
    int ret;

    if (iovcnt < 0 || len == SIZE_MAX) {
        return -EINVAL;
    }
    if (bs->read_only) {
        return -EPERM;
    }
    ret = block_check_range(bs, offset, len);
    if (ret < 0 || len == 0) {
        return ret;
    }
    return bs->drv->pwritev(bs, offset, iov, iovcnt, len);
}

int block_pread(BlockNode *bs, uint64_t offset, void *buf, size_t len)
{
    struct iovec v = { .iov_base = buf, .iov_len = len };

    return block_preadv(bs, offset, &v, 1);
}

int block_pwrite(BlockNode *bs, uint64_t offset, const void *buf,
                 size_t len)
{
    struct iovec v = { .iov_base = (void *)buf, .iov_len = len };

    return block_pwritev(bs, offset, &v, 1);
}

int block_flush(BlockNode *bs)
{
    if (bs->read_only) {
        return 0;
    }
    return bs->drv->flush(bs);
}

int block_write_zeroes(BlockNode *bs, uint64_t offset, uint64_t len,
                       bool may_unmap)
{
    int ret;

    if (bs->read_only) {
        return -EPERM;
    }
    ret = block_check_range(bs, offset, len);
    if (ret < 0 || len == 0) {
        return ret;
    }
    return bs->drv->write_zeroes(bs, offset, len, may_unmap);
}

int block_discard(BlockNode *bs, uint64_t offset, uint64_t len)
{
    int ret;

    if (bs->read_only) {
        return -EPERM;
    }
    ret = block_check_range(bs, offset, len);
    if (ret < 0 || len == 0) {
        return ret;
    }
    return bs->drv->discard(bs, offset, len);
}

int block_truncate(BlockNode *bs, uint64_t new_size)
{
    if (bs->read_only) {
        return -EPERM;
    }
    return bs->drv->truncate(bs, new_size);
}

/* --- migration: handing the images to another process ------------------- */

/*
 * Re-read what a driver caches: close it and open it again on the same
 * children (a qcow2 reads its header, L1 and refcount tables afresh). The
 * node's identity, name and children stay; only the driver state is new.
 */
int block_invalidate_cache(BlockNode *bs)
{
    g_autoptr(GError) err = NULL;
    BlockOpenOptions opts = {
        .node_name = bs->node_name,
        .driver = bs->drv->name,
        .filename = bs->filename,
        .cache_direct = bs->cache_direct,
        .cache_no_flush = bs->cache_no_flush,
        .file = bs->file,
        .backing = bs->backing,
        .backing_none = !bs->backing,
        .read_only = bs->read_only,
        .discard_unmap = bs->discard_unmap,
    };
    int rc;

    if (bs->backing && (rc = block_invalidate_cache(bs->backing)) < 0) {
        return rc;
    }
    if (bs->file && (rc = block_invalidate_cache(bs->file)) < 0) {
        return rc;
    }
    if (bs->drv->protocol) {
        /* The other process may have grown the file. */
        bs->length = block_file_size(bs);
        return 0;
    }
    bs->drv->close(bs);
    bs->opaque = NULL;
    if (!bs->drv->open(bs, &opts, &err)) {
        /* The node cannot serve any more: reads and writes fail. */
        bs->inactive_rw = false;
        bs->read_only = true;
        bs->length = 0;
        return -EIO;
    }
    return 0;
}

int block_handover(BlockNode *bs)
{
    int rc;

    if (!bs || bs->read_only) {
        return 0;
    }
    rc = block_flush(bs);
    if (rc == 0 && bs->drv->handover) {
        rc = bs->drv->handover(bs);
    }
    if (rc == 0) {
        rc = block_flush(bs);
    }
    return rc;
}

void block_inactivate(BlockNode *bs)
{
    if (!bs) {
        return;
    }
    /* Read-only as far as every write path and close are concerned, so
     * this process never writes the image again; activation undoes it. */
    if (!bs->read_only) {
        bs->inactive_rw = true;
        bs->read_only = true;
    }
    block_inactivate(bs->backing);
    block_inactivate(bs->file);
}

int block_activate(BlockNode *bs)
{
    if (!bs) {
        return 0;
    }
    block_activate(bs->backing);
    block_activate(bs->file);
    if (bs->inactive_rw) {
        bs->inactive_rw = false;
        bs->read_only = false;
    }
    return 0;
}
