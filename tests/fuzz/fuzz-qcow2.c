/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the qcow2 reader and writer (src/block/qcow2*.c,
 * block.c, file.c) on a hostile image. The input is the image: it is
 * written to a file in a private directory (so a backing file name in the
 * header resolves there, or to nothing) and opened read-write as
 * "qcow2", as -drive format=qcow2 opens it. The last 16 bytes of the
 * input, four of them per request, then pick four requests: read, write,
 * write zeroes, discard, or truncate (grow), at an offset and length
 * derived from them within the virtual size; then flush and close.
 *
 * Errors are expected; a crash, leak (LeakSanitizer) or hang (libFuzzer's
 * -timeout) is a bug. A read must fill the buffer it was given without
 * touching memory past it (ASan); after close the file is dropped.
 *
 * With KESTREL_FUZZ_SEEDS=DIR the target only checks that DIR exists and
 * exits: tests/fuzz/mkseed-qcow2.sh makes the seeds with qemu-img.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/block.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TAIL            16
#define MAX_IO          (128 * 1024)

static char *dir;
static char *image;
static uint8_t *buf;

static void die(const char *what)
{
    fprintf(stderr, "fuzz-qcow2: %s: %s\n", what, g_strerror(errno));
    exit(1);
}

static void cleanup(void)
{
    if (image) {
        unlink(image);
    }
    if (dir) {
        rmdir(dir);
    }
}

static void request(BlockNode *bs, const uint8_t *op)
{
    uint64_t vsize = block_length(bs);
    /* offsets near 0 and near the end are where the bugs live */
    uint64_t off = ((uint64_t)op[1] | (uint64_t)op[2] << 8) << (op[3] & 15);
    uint64_t len = 1 + (((uint64_t)op[0] >> 3) << (op[3] >> 4)) % MAX_IO;

    if (op[0] & 4) {
        off = vsize > off ? vsize - off : 0;
    }
    if (vsize) {
        off %= vsize;
        len = MIN(len, vsize - off);
    }
    switch (op[0] & 3) {
    case 0:
        if (op[3] & 0x80) {
            (void)block_truncate(bs, vsize + len * 512);
            break;
        }
        memset(buf, 0x5a, len);
        (void)block_pread(bs, off, buf, len);
        break;
    case 1:
        memset(buf, op[1], len);
        (void)block_pwrite(bs, off, buf, len);
        break;
    case 2:
        (void)block_write_zeroes(bs, off, len, op[2] & 1);
        break;
    default:
        (void)block_discard(bs, off, len);
        break;
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *seeds = getenv("KESTREL_FUZZ_SEEDS");
    g_autofree char *tmpl = NULL;
    int fd;

    if (seeds) {
        exit(0);
    }
    /* a backing name of "/dev/stdin" must not wait for a terminal */
    fd = open("/dev/null", O_RDONLY);
    if (fd < 0 || dup2(fd, 0) < 0) {
        die("/dev/null");
    }
    close(fd);
    tmpl = g_build_filename(g_get_tmp_dir(), "kestrel-fuzz-qcow2.XXXXXX",
                            NULL);
    dir = g_mkdtemp(g_strdup(tmpl));
    if (!dir) {
        die(tmpl);
    }
    image = g_build_filename(dir, "image.qcow2", NULL);
    atexit(cleanup);
    buf = g_malloc(MAX_IO);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) err = NULL;
    BlockNode *bs;
    int fd;

    if (size < TAIL) {
        return 0;
    }
    fd = open(image, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
        die(image);
    }
    close(fd);
    bs = block_open_image(image, "qcow2", false, false, false,
                          data[size - 1] & 1, &err);
    if (bs) {
        for (int i = 0; i < 4; i++) {
            request(bs, data + size - TAIL + 4 * i);
        }
        (void)block_flush(bs);
        block_close(bs);
    }
    unlink(image);
    return 0;
}
