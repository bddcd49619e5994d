/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Protocol nodes "file" (a regular file) and "host_device" (a block
 * device): bytes of a host file, with O_DIRECT when cache.direct=on.
 * Requests that O_DIRECT cannot take as they are (a buffer, offset or
 * length not on the logical block size) go through an aligned bounce
 * buffer, so format drivers above may issue small metadata writes.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/block-int.h"
#include "error.h"

typedef struct {
    int fd;
    bool is_blockdev;
    /* Serialises read-modify-write of partial blocks under O_DIRECT
     * among themselves only: an aligned write racing an unaligned one
     * on the same block may be undone by it, which is why a device
     * honours block_alignment (qcow2 widens its own table writes). */
    GMutex rmw_lock;
} FileState;

static inline FileState *file_state(const BlockNode *bs)
{
    return bs->opaque;
}

/* The logical block size O_DIRECT wants; 4096 when the kernel cannot
 * say, which is never too small on today's devices. */
static unsigned int file_probe_alignment(int fd, bool is_blockdev)
{
#ifndef STATX_DIOALIGN
#define STATX_DIOALIGN 0x2000u
#endif
    if (is_blockdev) {
        int ssz = 0;

        if (ioctl(fd, BLKSSZGET, &ssz) == 0 && ssz >= 512 &&
            (ssz & (ssz - 1)) == 0) {
            return (unsigned int)ssz;
        }
        return 4096;
    }
    struct statx stx;

    memset(&stx, 0, sizeof(stx));
    if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
        (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align &&
        (stx.stx_dio_offset_align & (stx.stx_dio_offset_align - 1)) == 0) {
        unsigned int a = stx.stx_dio_offset_align;

        /* Buffers must be aligned too; use the larger of the two. */
        if (stx.stx_dio_mem_align > a) {
            a = stx.stx_dio_mem_align;
        }
        return a < 512 ? 512 : a;
    }
    return 4096;
}

uint64_t block_file_size(BlockNode *bs)
{
    FileState *s = file_state(bs);
    struct stat st;

    if (s->is_blockdev) {
        uint64_t sz = 0;

        if (ioctl(s->fd, BLKGETSIZE64, &sz) == 0) {
            return sz;
        }
        return bs->length;
    }
    if (fstat(s->fd, &st) == 0) {
        return (uint64_t)st.st_size;
    }
    return bs->length;
}

static bool file_open_common(BlockNode *bs, const BlockOpenOptions *opts,
                             bool want_blockdev, GError **errp)
{
    int flags = (opts->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
    struct stat st;
    int fd;

    if (!opts->filename || !*opts->filename) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "driver '%s' needs a filename", bs->drv->name);
        return false;
    }
    if (opts->cache_direct) {
        flags |= O_DIRECT;
    }
    fd = open(opts->filename, flags);
    if (fd < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Could not open '%s': %s", opts->filename,
                    g_strerror(errno));
        return false;
    }
    if (fstat(fd, &st) < 0) {
        int e = errno;

        close(fd);
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Could not stat '%s': %s", opts->filename, g_strerror(e));
        return false;
    }
    if (want_blockdev && !S_ISBLK(st.st_mode)) {
        close(fd);
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "'%s' is not a block device (driver 'host_device')",
                    opts->filename);
        return false;
    }
    if (!want_blockdev && !S_ISREG(st.st_mode)) {
        close(fd);
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "'%s' is not a regular file (driver 'file'%s)",
                    opts->filename,
                    S_ISBLK(st.st_mode) ? "; use 'host_device'" : "");
        return false;
    }

    FileState *s = g_new0(FileState, 1);

    s->fd = fd;
    s->is_blockdev = want_blockdev;
    g_mutex_init(&s->rmw_lock);
    bs->opaque = s;
    bs->alignment = opts->cache_direct ?
        file_probe_alignment(fd, want_blockdev) : 1;
    bs->length = block_file_size(bs);
    return true;
}

static bool file_open(BlockNode *bs, const BlockOpenOptions *opts,
                      GError **errp)
{
    return file_open_common(bs, opts, false, errp);
}

static bool host_device_open(BlockNode *bs, const BlockOpenOptions *opts,
                             GError **errp)
{
    return file_open_common(bs, opts, true, errp);
}

static void file_close(BlockNode *bs)
{
    FileState *s = file_state(bs);

    if (s) {
        close(s->fd);
        g_mutex_clear(&s->rmw_lock);
        g_free(s);
    }
}

static bool file_iov_aligned(const BlockNode *bs, uint64_t offset,
                             const struct iovec *iov, int iovcnt, size_t len)
{
    uint64_t a = bs->alignment;

    if (a <= 1) {
        return true;
    }
    if ((offset | len) & (a - 1)) {
        return false;
    }
    for (int i = 0; i < iovcnt; i++) {
        if (((uintptr_t)iov[i].iov_base | iov[i].iov_len) & (a - 1)) {
            return false;
        }
    }
    return true;
}

/*
 * The whole of @len at @offset, retrying short transfers and EINTR.
 * Reads past the end of the file fill zeroes.
 */
static int file_rw_vec(int fd, bool write, uint64_t offset,
                       const struct iovec *iov_in, int iovcnt, size_t len)
{
    g_autofree struct iovec *iov = g_memdup2(iov_in,
                                             sizeof(*iov) * MAX(iovcnt, 1));
    int idx = 0;
    size_t done = 0;

    while (done < len) {
        ssize_t n;

        while (idx < iovcnt && iov[idx].iov_len == 0) {
            idx++;
        }
        if (idx >= iovcnt) {
            break;
        }
        int cnt = MIN(iovcnt - idx, IOV_MAX);

        n = write ? pwritev(fd, iov + idx, cnt, (off_t)(offset + done))
                  : preadv(fd, iov + idx, cnt, (off_t)(offset + done));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (n == 0) {
            if (write) {
                return -EIO;
            }
            /* End of file: the rest reads as zeroes. */
            for (int i = idx; i < iovcnt; i++) {
                memset(iov[i].iov_base, 0, iov[i].iov_len);
            }
            return 0;
        }
        done += (size_t)n;
        while (n > 0) {
            size_t step = MIN((size_t)n, iov[idx].iov_len);

            iov[idx].iov_base = (char *)iov[idx].iov_base + step;
            iov[idx].iov_len -= step;
            n -= (ssize_t)step;
            if (iov[idx].iov_len == 0) {
                idx++;
            }
        }
    }
    return 0;
}

static int file_rw_flat(int fd, bool write, uint64_t offset, void *buf,
                        size_t len)
{
    struct iovec v = { .iov_base = buf, .iov_len = len };

    return file_rw_vec(fd, write, offset, &v, 1, len);
}

static int file_preadv(BlockNode *bs, uint64_t offset,
                       const struct iovec *iov, int iovcnt, size_t len)
{
    FileState *s = file_state(bs);

    if (file_iov_aligned(bs, offset, iov, iovcnt, len)) {
        return file_rw_vec(s->fd, false, offset, iov, iovcnt, len);
    }

    uint64_t a = bs->alignment;
    uint64_t start = offset & ~(a - 1);
    uint64_t end = (offset + len + a - 1) & ~(a - 1);
    void *bounce;
    int ret;

    if (posix_memalign(&bounce, a, end - start)) {
        return -ENOMEM;
    }
    ret = file_rw_flat(s->fd, false, start, bounce, end - start);
    if (ret == 0) {
        block_iov_from_buf(iov, iovcnt, 0, (char *)bounce + (offset - start),
                           len);
    }
    free(bounce);
    return ret;
}

static int file_pwritev(BlockNode *bs, uint64_t offset,
                        const struct iovec *iov, int iovcnt, size_t len)
{
    FileState *s = file_state(bs);

    if (file_iov_aligned(bs, offset, iov, iovcnt, len)) {
        return file_rw_vec(s->fd, true, offset, iov, iovcnt, len);
    }

    uint64_t a = bs->alignment;
    uint64_t start = offset & ~(a - 1);
    uint64_t end = (offset + len + a - 1) & ~(a - 1);
    void *bounce;
    int ret = 0;

    if (posix_memalign(&bounce, a, end - start)) {
        return -ENOMEM;
    }
    g_mutex_lock(&s->rmw_lock);
    /* Partial first and last blocks keep what is around the request. */
    if (start != offset || end - start == a) {
        ret = file_rw_flat(s->fd, false, start, bounce, a);
    }
    if (ret == 0 && end != offset + len && end - start > a) {
        ret = file_rw_flat(s->fd, false, end - a,
                           (char *)bounce + (end - a - start), a);
    }
    if (ret == 0) {
        block_iov_to_buf(iov, iovcnt, 0, (char *)bounce + (offset - start),
                         len);
        ret = file_rw_flat(s->fd, true, start, bounce, end - start);
    }
    g_mutex_unlock(&s->rmw_lock);
    free(bounce);
    return ret;
}

static int file_flush(BlockNode *bs)
{
    if (bs->cache_no_flush) {
        return 0;
    }
    if (fdatasync(file_state(bs)->fd) < 0) {
        return -errno;
    }
    return 0;
}

/* Zeroes written the slow way, when the file system cannot allocate
 * zeroed ranges. */
static int file_write_zero_bytes(BlockNode *bs, uint64_t offset,
                                 uint64_t len)
{
    size_t chunk = 1024 * 1024;
    void *buf;
    int ret = 0;

    if (posix_memalign(&buf, MAX(bs->alignment, 512), chunk)) {
        return -ENOMEM;
    }
    memset(buf, 0, chunk);
    while (len && ret == 0) {
        size_t n = (size_t)MIN(len, (uint64_t)chunk);
        struct iovec v = { .iov_base = buf, .iov_len = n };

        ret = file_pwritev(bs, offset, &v, 1, n);
        offset += n;
        len -= n;
    }
    free(buf);
    return ret;
}

static int file_write_zeroes(BlockNode *bs, uint64_t offset, uint64_t len,
                             bool may_unmap)
{
    FileState *s = file_state(bs);
    uint64_t size = block_file_size(bs);

    if (len == 0) {
        return 0;
    }
    /* A punched hole reads as zeroes in a regular file but need not on
     * a device, and never extends a file. */
    if (may_unmap && !s->is_blockdev && offset + len <= size &&
        fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  (off_t)offset, (off_t)len) == 0) {
        return 0;
    }
    if (fallocate(s->fd, FALLOC_FL_ZERO_RANGE |
                  (s->is_blockdev ? FALLOC_FL_KEEP_SIZE : 0),
                  (off_t)offset, (off_t)len) == 0) {
        return 0;
    }
    return file_write_zero_bytes(bs, offset, len);
}

static int file_discard(BlockNode *bs, uint64_t offset, uint64_t len)
{
    FileState *s = file_state(bs);

    if (!bs->discard_unmap || len == 0) {
        return 0;
    }
    if (fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  (off_t)offset, (off_t)len) < 0) {
        /* A hint: a file system without holes keeps the data. */
        if (errno == EOPNOTSUPP || errno == ENOSYS) {
            return 0;
        }
        return -errno;
    }
    return 0;
}

static int file_truncate(BlockNode *bs, uint64_t new_size)
{
    FileState *s = file_state(bs);

    if (s->is_blockdev) {
        return new_size == block_file_size(bs) ? 0 : -ENOTSUP;
    }
    if (new_size > INT64_MAX) {
        return -EFBIG;
    }
    if (ftruncate(s->fd, (off_t)new_size) < 0) {
        return -errno;
    }
    bs->length = new_size;
    return 0;
}

static int file_raw_fd(const BlockNode *bs)
{
    return file_state(bs)->fd;
}

const BlockDriver block_driver_file = {
    .name = "file",
    .protocol = true,
    .open = file_open,
    .close = file_close,
    .preadv = file_preadv,
    .pwritev = file_pwritev,
    .flush = file_flush,
    .write_zeroes = file_write_zeroes,
    .discard = file_discard,
    .truncate = file_truncate,
    .raw_fd = file_raw_fd,
};

const BlockDriver block_driver_host_device = {
    .name = "host_device",
    .protocol = true,
    .open = host_device_open,
    .close = file_close,
    .preadv = file_preadv,
    .pwritev = file_pwritev,
    .flush = file_flush,
    .write_zeroes = file_write_zeroes,
    .discard = file_discard,
    .truncate = file_truncate,
    .raw_fd = file_raw_fd,
};
