/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The block layer against QEMU's own tools as the oracle: images made by
 * qemu-img and qemu-io are read through our layer and compared with what
 * qemu-img converts them to; images we write must pass 'qemu-img check'
 * and 'qemu-img compare' against a raw file written with the same data.
 * Also hostile headers and tables, and a writer killed at random points.
 * Skipped where qemu-img is not installed.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "block/block.h"

#define KiB 1024ULL
#define MiB (1024 * 1024ULL)

static char *tmpdir;

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

static bool have_tools(void)
{
    if (!g_file_test("/usr/bin/qemu-img", G_FILE_TEST_IS_EXECUTABLE) ||
        !g_file_test("/usr/bin/qemu-io", G_FILE_TEST_IS_EXECUTABLE)) {
        g_test_skip("qemu-img/qemu-io not installed (Debian: qemu-utils)");
        return false;
    }
    return true;
}

static char *tmp_path(const char *name)
{
    return g_build_filename(tmpdir, name, NULL);
}

/* Runs a command; returns its exit status, stdout in @out if wanted. */
static int run_argv(const char *const *argv, char **out)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *o = NULL, *e = NULL;
    int status = -1;

    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL,
                      NULL, &o, &e, &status, &err)) {
        g_error("cannot run %s: %s", argv[0], err->message);
    }
    if (g_test_verbose()) {
        g_autofree char *cmd = g_strjoinv(" ", (char **)argv);

        g_test_message("%s -> %d\n%s%s", cmd, status, o, e);
    }
    if (out) {
        *out = g_strconcat(o, e, NULL);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* A command line split on spaces (our paths have none); '|' stands for
 * a space inside one argument (qemu-io's -c commands). */
static int run(char **out, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static int run(char **out, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *cmd = NULL;
    g_auto(GStrv) words = NULL;
    g_autoptr(GPtrArray) argv = g_ptr_array_new();

    va_start(ap, fmt);
    cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    words = g_strsplit(cmd, " ", -1);
    for (char **a = words; *a; a++) {
        if (**a) {
            g_strdelimit(*a, "|", ' ');
            g_ptr_array_add(argv, *a);
        }
    }
    g_ptr_array_add(argv, NULL);
    return run_argv((const char *const *)argv->pdata, out);
}

#define RUN_OK(...) g_assert_cmpint(run(NULL, __VA_ARGS__), ==, 0)

static BlockNode *open_img(const char *path, const char *fmt, bool ro,
                           bool unmap)
{
    g_autoptr(GError) err = NULL;
    BlockNode *bs = block_open_image(path, fmt, ro, false, false, unmap,
                                     &err);

    g_assert_no_error(err);
    g_assert_nonnull(bs);
    return bs;
}

/* The error message of a failed open (NULL format: probe). */
static char *open_error(const char *path, const char *fmt, bool ro)
{
    GError *err = NULL;
    BlockNode *bs = block_open_image(path, fmt, ro, false, false, false,
                                     &err);

    if (bs) {
        block_close(bs);
        return NULL;
    }
    g_assert_nonnull(err);
    char *msg = g_strdup(err->message);

    g_error_free(err);
    return msg;
}

static void assert_open_fails(const char *path, const char *fmt,
                              const char *needle)
{
    g_autofree char *msg = open_error(path, fmt, true);

    g_assert_nonnull(msg);
    if (!strstr(msg, needle)) {
        g_error("error '%s' does not mention '%s'", msg, needle);
    }
    g_assert_nonnull(strstr(msg, path));
}

static uint8_t *read_all(BlockNode *bs, uint64_t *len)
{
    *len = block_length(bs);
    uint8_t *buf = g_malloc(*len);

    g_assert_cmpint(block_pread(bs, 0, buf, *len), ==, 0);
    return buf;
}

/* The image as qemu-img sees it, converted to raw. */
static uint8_t *qemu_contents(const char *img, const char *fmt, gsize *len)
{
    g_autofree char *raw = tmp_path("oracle.raw");
    char *data = NULL;

    RUN_OK("qemu-img convert -f %s -O raw %s %s", fmt, img, raw);
    g_assert_true(g_file_get_contents(raw, &data, len, NULL));
    g_unlink(raw);
    return (uint8_t *)data;
}

static void assert_reads_as_qemu(const char *img, const char *fmt)
{
    g_autofree uint8_t *ours = NULL, *theirs = NULL;
    uint64_t len;
    gsize qlen;
    BlockNode *bs = open_img(img, fmt, true, false);

    ours = read_all(bs, &len);
    block_close(bs);
    theirs = qemu_contents(img, fmt, &qlen);
    g_assert_cmpuint(len, ==, qlen);
    for (uint64_t i = 0; i < len; i++) {
        if (ours[i] != theirs[i]) {
            g_error("%s: byte 0x%" G_GINT64_MODIFIER "x differs: ours 0x%02x,"
                    " qemu 0x%02x", img, i, ours[i], theirs[i]);
        }
    }
}

static void write_file(const char *path, const void *buf, size_t len)
{
    g_assert_true(g_file_set_contents(path, buf, (gssize)len, NULL));
}

static void assert_check_clean(const char *img)
{
    g_autofree char *out = NULL;
    int rc = run(&out, "qemu-img check -f qcow2 %s", img);

    if (rc != 0) {
        g_error("qemu-img check %s exited %d:\n%s", img, rc, out);
    }
}

static void assert_same_as_raw(const char *img, const uint8_t *ref,
                               size_t len)
{
    g_autofree char *raw = tmp_path("reference.raw");
    g_autofree char *out = NULL;
    int rc;

    write_file(raw, ref, len);
    rc = run(&out, "qemu-img compare -f qcow2 -F raw %s %s", img, raw);
    if (rc != 0) {
        g_error("qemu-img compare %s exited %d:\n%s", img, rc, out);
    }
    g_unlink(raw);
}

static void fill_random(uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)g_test_rand_int();
    }
}

/* Header fields, big-endian, poked straight into a file. */
static void poke_be(const char *path, uint64_t off, uint64_t v, int bytes)
{
    uint8_t b[8];
    int fd = open(path, O_WRONLY);

    g_assert_cmpint(fd, >=, 0);
    for (int i = 0; i < bytes; i++) {
        b[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    }
    g_assert_cmpint(pwrite(fd, b, bytes, (off_t)off), ==, bytes);
    close(fd);
}

static uint64_t peek_be(const char *path, uint64_t off, int bytes)
{
    uint8_t b[8];
    uint64_t v = 0;
    int fd = open(path, O_RDONLY);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pread(fd, b, bytes, (off_t)off), ==, bytes);
    close(fd);
    for (int i = 0; i < bytes; i++) {
        v = v << 8 | b[i];
    }
    return v;
}

/* ------------------------------------------------------------------ */
/* raw and file                                                         */

static void test_raw(void)
{
    g_autofree char *img = tmp_path("raw.img");
    g_autofree uint8_t *buf = g_malloc(1 * MiB);
    g_autofree uint8_t *back = g_malloc(1 * MiB);
    gchar *data;
    gsize len;
    BlockNode *bs;

    if (!have_tools()) {
        return;
    }
    RUN_OK("qemu-img create -q -f raw %s 4M", img);
    bs = open_img(img, NULL, false, true);
    g_assert_cmpstr(block_driver_name(bs), ==, "raw");
    g_assert_cmpstr(block_driver_name(block_file_child(bs)), ==, "file");
    g_assert_cmpstr(block_filename(bs), ==, img);
    g_assert_cmpuint(block_length(bs), ==, 4 * MiB);
    g_assert_cmpint(block_raw_fd(bs), >=, 0);
    g_assert_cmpint(block_raw_fd(block_file_child(bs)), ==, -1);
    g_assert_null(block_backing(bs));
    g_assert_cmpuint(block_alignment(bs), ==, 1);

    fill_random(buf, 1 * MiB);
    g_assert_cmpint(block_pwrite(bs, 12345, buf, 1 * MiB), ==, 0);
    g_assert_cmpint(block_pread(bs, 12345, back, 1 * MiB), ==, 0);
    g_assert_cmpmem(buf, 1 * MiB, back, 1 * MiB);
    /* Outside the virtual size: refused, not extended. */
    g_assert_cmpint(block_pwrite(bs, 4 * MiB - 1, buf, 2), ==, -EINVAL);
    g_assert_cmpint(block_pread(bs, UINT64_MAX - 1, buf, 4), ==, -EINVAL);
    g_assert_cmpint(block_write_zeroes(bs, 12345 + 100, 1000, true), ==, 0);
    memset(buf + 100, 0, 1000);
    g_assert_cmpint(block_discard(bs, 3 * MiB, 64 * KiB), ==, 0);
    g_assert_cmpint(block_flush(bs), ==, 0);
    g_assert_cmpint(block_truncate(bs, 8 * MiB), ==, 0);
    g_assert_cmpuint(block_length(bs), ==, 8 * MiB);
    block_close(bs);

    g_assert_true(g_file_get_contents(img, &data, &len, NULL));
    g_assert_cmpuint(len, ==, 8 * MiB);
    g_assert_cmpmem(data + 12345, 1 * MiB, buf, 1 * MiB);
    for (gsize i = 3 * MiB; i < 3 * MiB + 64 * KiB; i++) {
        g_assert_cmpint(data[i], ==, 0);
    }
    g_free(data);

    bs = open_img(img, "raw", true, false);
    g_assert_true(block_read_only(bs));
    g_assert_cmpint(block_pwrite(bs, 0, buf, 512), ==, -EPERM);
    block_close(bs);
    g_unlink(img);
}

/* O_DIRECT with unaligned requests (bounced), where the file system
 * takes O_DIRECT at all (tmpfs does not). */
static void test_raw_direct(void)
{
    g_autofree char *img = tmp_path("direct.img");
    g_autofree uint8_t *buf = g_malloc(300 * KiB);
    g_autofree uint8_t *back = g_malloc(300 * KiB);
    GError *err = NULL;
    BlockNode *bs;

    if (!have_tools()) {
        return;
    }
    RUN_OK("qemu-img create -q -f qcow2 %s 4M", img);
    bs = block_open_image(img, NULL, false, true, false, false, &err);
    if (!bs) {
        g_test_skip("no O_DIRECT here");
        g_error_free(err);
        g_unlink(img);
        return;
    }
    g_assert_true(block_cache_direct(bs));
    g_assert_cmpuint(block_alignment(bs), >=, 512);
    fill_random(buf, 300 * KiB);
    g_assert_cmpint(block_pwrite(bs, 777, buf + 1, 300 * KiB - 1), ==, 0);
    g_assert_cmpint(block_pread(bs, 777, back + 1, 300 * KiB - 1), ==, 0);
    g_assert_cmpmem(buf + 1, 300 * KiB - 1, back + 1, 300 * KiB - 1);
    block_close(bs);
    assert_check_clean(img);
    g_unlink(img);
}

/* A loop device as host_device: size by BLKGETSIZE64, O_DIRECT with
 * BLKSSZGET's alignment, raw and qcow2 on it. Root only. */
static void test_host_device(void)
{
    g_autofree char *backing = tmp_path("loop.img");
    g_autofree char *dev = NULL;
    g_autofree char *msg = NULL;
    g_autofree uint8_t *buf = g_malloc(64 * KiB);
    g_autofree uint8_t *back = g_malloc(64 * KiB);
    GError *err = NULL;
    BlockNode *bs;

    if (!have_tools()) {
        return;
    }
    if (getuid() != 0 ||
        !g_file_test("/dev/loop-control", G_FILE_TEST_EXISTS)) {
        g_test_skip("needs root and loop devices");
        return;
    }
    RUN_OK("truncate -s 8M %s", backing);
    if (run(&dev, "losetup -f --show %s", backing) != 0) {
        g_test_skip("losetup failed");
        return;
    }
    g_strstrip(dev);

    bs = open_img(dev, NULL, false, false);
    g_assert_cmpstr(block_driver_name(bs), ==, "raw");
    g_assert_cmpstr(block_driver_name(block_file_child(bs)), ==,
                    "host_device");
    g_assert_cmpuint(block_length(bs), ==, 8 * MiB);
    g_assert_cmpint(block_truncate(bs, 16 * MiB), ==, -ENOTSUP);
    block_close(bs);

    bs = block_open_image(dev, "raw", false, true, false, false, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(block_alignment(bs), >=, 512);
    fill_random(buf, 64 * KiB);
    g_assert_cmpint(block_pwrite(bs, 1000, buf + 3, 60 * KiB), ==, 0);
    g_assert_cmpint(block_pread(bs, 1000, back, 60 * KiB), ==, 0);
    g_assert_cmpmem(buf + 3, 60 * KiB, back, 60 * KiB);
    block_close(bs);

    /* The "file" driver wants a regular file. */
    {
        BlockOpenOptions fo = { .driver = "file", .filename = dev };

        g_assert_null(block_open(&fo, &err));
        g_assert_nonnull(strstr(err->message, "host_device"));
        g_clear_error(&err);
    }

    RUN_OK("qemu-img create -q -f qcow2 %s 4M", dev);
    bs = open_img(dev, NULL, false, false);
    g_assert_cmpstr(block_driver_name(bs), ==, "qcow2");
    g_assert_cmpint(block_pwrite(bs, 100 * KiB, buf, 64 * KiB), ==, 0);
    block_close(bs);
    msg = NULL;
    g_assert_cmpint(run(&msg, "qemu-img check -f qcow2 %s", dev), ==, 0);
    g_free(msg);
    msg = NULL;
    RUN_OK("qemu-io -f qcow2 -c read|-q|-P|0|0|100k %s", dev);

    RUN_OK("losetup -d %s", dev);
    g_unlink(backing);
}

/* ------------------------------------------------------------------ */
/* qcow2 reading                                                        */

static void make_patterned(const char *img, const char *opts)
{
    RUN_OK("qemu-img create -q -f qcow2 %s %s 8M", opts, img);
    RUN_OK("qemu-io -f qcow2 -c write|-P|0xab|0|64k -c write|-P|0x11|100k|3k "
           "-c write|-P|0x22|1M|1M -c write|-z|1536k|128k "
           "-c write|-P|0x33|8000k|192k %s", img);
}

static void test_qcow2_read(void)
{
    static const char *const variants[] = {
        "-o compat=0.10",
        "-o compat=1.1",
        "-o cluster_size=512",
        "-o cluster_size=4096,refcount_bits=1",
        "-o cluster_size=2M,refcount_bits=64",
        "-o compat=0.10,cluster_size=1024",
    };
    g_autofree char *img = tmp_path("read.qcow2");

    if (!have_tools()) {
        return;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(variants); i++) {
        g_test_message("variant %s", variants[i]);
        make_patterned(img, variants[i]);
        assert_reads_as_qemu(img, "qcow2");
        g_unlink(img);
    }
}

static void test_probe(void)
{
    g_autofree char *img = tmp_path("probe.qcow2");
    BlockNode *bs;

    if (!have_tools()) {
        return;
    }
    RUN_OK("qemu-img create -q -f qcow2 %s 1M", img);
    bs = open_img(img, NULL, true, false);
    g_assert_cmpstr(block_driver_name(bs), ==, "qcow2");
    g_assert_cmpuint(block_length(bs), ==, 1 * MiB);
    g_assert_cmpint(block_raw_fd(bs), ==, -1);
    g_assert_nonnull(block_node_name(bs));
    g_assert_cmpstr(block_node_name(bs), !=,
                    block_node_name(block_file_child(bs)));
    g_assert_cmpuint(block_allocated(bs), >, 0);
    block_close(bs);

    /* -blockdev style: a named file node, then the format on it. */
    {
        g_autoptr(GError) err = NULL;
        BlockOpenOptions fo = { .node_name = "proto", .driver = "file",
                                .filename = img, .read_only = true };
        BlockNode *file = block_open(&fo, &err);

        g_assert_no_error(err);
        BlockOpenOptions qo = { .node_name = "disk0", .driver = "qcow2",
                                .file = file, .read_only = true };

        bs = block_open(&qo, &err);
        g_assert_no_error(err);
        g_assert_cmpstr(block_node_name(bs), ==, "disk0");
        g_assert_true(block_file_child(bs) == file);
        block_close(bs);

        BlockOpenOptions bad = { .driver = "vmdk", .filename = img };

        g_assert_null(block_open(&bad, &err));
        g_assert_nonnull(strstr(err->message, "vmdk"));
    }
    g_unlink(img);
}

static void test_qcow2_backing_read(void)
{
    g_autofree char *base = tmp_path("base.raw");
    g_autofree char *mid = tmp_path("mid.qcow2");
    g_autofree char *top = tmp_path("top.qcow2");
    BlockNode *bs;

    if (!have_tools()) {
        return;
    }
    /* A base shorter than the images above it. */
    RUN_OK("qemu-img create -q -f raw %s 3M", base);
    RUN_OK("qemu-io -f raw -c write|-P|0x5a|0|3M %s", base);
    RUN_OK("qemu-img create -q -f qcow2 -b base.raw -F raw %s 6M", mid);
    RUN_OK("qemu-io -f qcow2 -c write|-P|0x66|2M|100k %s", mid);
    RUN_OK("qemu-img create -q -f qcow2 -o cluster_size=4k -b mid.qcow2 "
           "-F qcow2 %s 8M", top);
    RUN_OK("qemu-io -f qcow2 -c write|-P|0x77|1M|3k -c write|-z|2M|8k "
           "-c write|-P|0x78|7M|4k %s", top);
    assert_reads_as_qemu(top, "qcow2");
    assert_reads_as_qemu(mid, "qcow2");

    bs = open_img(top, "qcow2", true, false);
    g_assert_nonnull(block_backing(bs));
    g_assert_cmpstr(block_driver_name(block_backing(bs)), ==, "qcow2");
    g_assert_cmpstr(block_driver_name(block_backing(block_backing(bs))), ==,
                    "raw");
    block_close(bs);

    /* backing=null: unallocated clusters read zeroes. */
    {
        g_autoptr(GError) err = NULL;
        BlockOpenOptions fo = { .driver = "file", .filename = top,
                                .read_only = true };
        BlockNode *file = block_open(&fo, &err);
        BlockOpenOptions qo = { .driver = "qcow2", .file = file,
                                .backing_none = true, .read_only = true };
        uint8_t b[16];

        bs = block_open(&qo, &err);
        g_assert_no_error(err);
        g_assert_null(block_backing(bs));
        g_assert_cmpint(block_pread(bs, 0, b, sizeof(b)), ==, 0);
        for (size_t i = 0; i < sizeof(b); i++) {
            g_assert_cmpint(b[i], ==, 0);
        }
        block_close(bs);
    }
    g_unlink(top);
    g_unlink(mid);
    g_unlink(base);
}

static void test_qcow2_compressed_read(void)
{
    g_autofree char *src = tmp_path("src.qcow2");
    g_autofree char *img = tmp_path("comp.qcow2");
    static const char *const cs[] = { "65536", "4096", "512", "2M" };

    if (!have_tools()) {
        return;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(cs); i++) {
        make_patterned(src, "-o compat=1.1");
        RUN_OK("qemu-img convert -c -f qcow2 -O qcow2 -o cluster_size=%s %s "
               "%s", cs[i], src, img);
        assert_reads_as_qemu(img, "qcow2");
        g_unlink(src);
        g_unlink(img);
    }
}

/* ------------------------------------------------------------------ */
/* qcow2 writing                                                        */

typedef struct {
    const char *name;
    const char *create;         /* qemu-img create options */
    uint64_t size;
    const char *base_fmt;       /* NULL: no backing */
    uint64_t base_size;
    bool compress;              /* start from a compressed image */
    int ops;
    bool direct;                /* cache.direct=on (O_DIRECT) */
} WriteCase;

/* Random requests mirrored into @ref (room for @max bytes). */
static void random_writes(BlockNode *bs, uint8_t *ref, uint64_t *size,
                          uint64_t max, int ops, bool allow_discard)
{
    g_autofree uint8_t *buf = g_malloc(512 * KiB);

    for (int op = 0; op < ops; op++) {
        uint64_t sz = *size;
        int kind = g_test_rand_int_range(0, 100);
        uint64_t len = (uint64_t)g_test_rand_int_range(1, 200 * 1024);
        uint64_t off;

        if (g_test_rand_int_range(0, 4) == 0) {
            len = (uint64_t)g_test_rand_int_range(1, 600);
        }
        len = MIN(len, sz);
        off = (uint64_t)g_test_rand_int_range(0, (gint32)(sz - len + 1));
        if (kind < 70) {
            fill_random(buf, len);
            g_assert_cmpint(block_pwrite(bs, off, buf, len), ==, 0);
            memcpy(ref + off, buf, len);
        } else if (kind < 85) {
            g_assert_cmpint(block_write_zeroes(bs, off, len,
                                               g_test_rand_bit()), ==, 0);
            memset(ref + off, 0, len);
        } else if (kind < 95 && allow_discard) {
            /* Whole clusters (4k multiples cover every size used) read
             * zeroes after a discard on v3 / without backing. */
            off &= ~(64 * KiB - 1);
            len = MIN(((len + 64 * KiB - 1) & ~(64 * KiB - 1)), sz - off);
            g_assert_cmpint(block_discard(bs, off, len), ==, 0);
            memset(ref + off, 0, len);
        } else if (kind < 97 && sz + 4 * MiB <= max) {
            uint64_t grow = (uint64_t)g_test_rand_int_range(1, 64) * 64 * KiB;

            g_assert_cmpint(block_truncate(bs, sz + grow), ==, 0);
            memset(ref + sz, 0, grow);
            *size = sz + grow;
            g_assert_cmpuint(block_length(bs), ==, *size);
        } else {
            g_assert_cmpint(block_pread(bs, off, buf, len), ==, 0);
            g_assert_cmpmem(buf, len, ref + off, len);
        }
    }
}

static void run_write_case(const WriteCase *wc)
{
    g_autofree char *img = tmp_path("w.qcow2");
    g_autofree char *base = tmp_path("wbase.img");
    g_autofree char *src = tmp_path("wsrc.qcow2");
    uint64_t size = wc->size, max = wc->size + 64 * 64 * KiB * 4;
    g_autofree uint8_t *ref = g_malloc0(max);
    g_autofree uint8_t *got = NULL;
    uint64_t len;
    BlockNode *bs;

    g_test_message("case %s", wc->name);
    if (wc->base_fmt) {
        g_autofree uint8_t *b = g_malloc(wc->base_size);

        fill_random(b, wc->base_size);
        memcpy(ref, b, MIN(wc->base_size, size));
        if (g_str_equal(wc->base_fmt, "raw")) {
            write_file(base, b, wc->base_size);
        } else {
            g_autofree char *braw = tmp_path("wbase.raw");

            write_file(braw, b, wc->base_size);
            RUN_OK("qemu-img convert -f raw -O qcow2 %s %s", braw, base);
            g_unlink(braw);
        }
        RUN_OK("qemu-img create -q -f qcow2 %s -b wbase.img -F %s %s %"
               G_GUINT64_FORMAT, wc->create, wc->base_fmt, img, size);
    } else if (wc->compress) {
        g_autofree char *raw = tmp_path("wsrc.raw");

        fill_random(ref, size / 2);
        write_file(raw, ref, size);
        RUN_OK("qemu-img convert -c -f raw -O qcow2 %s %s %s", wc->create,
               raw, img);
        g_unlink(raw);
    } else {
        RUN_OK("qemu-img create -q -f qcow2 %s %s %" G_GUINT64_FORMAT,
               wc->create, img, size);
    }

    if (wc->direct) {
        /* tmpfs, for one, has no O_DIRECT. */
        bs = block_open_image(img, "qcow2", false, true, false, true, NULL);
        if (!bs) {
            g_test_skip("no O_DIRECT here");
            g_unlink(img);
            g_unlink(base);
            return;
        }
    } else {
        bs = open_img(img, "qcow2", false, true);
    }
    random_writes(bs, ref, &size, max, wc->ops,
                  !wc->base_fmt || !strstr(wc->create, "compat=0.10"));
    g_assert_cmpint(block_flush(bs), ==, 0);
    block_close(bs);

    assert_check_clean(img);
    assert_same_as_raw(img, ref, size);
    /* And we read back what we wrote. */
    bs = open_img(img, "qcow2", true, false);
    got = read_all(bs, &len);
    g_assert_cmpuint(len, ==, size);
    g_assert_cmpmem(got, len, ref, size);
    block_close(bs);
    g_unlink(img);
    g_unlink(base);
    g_unlink(src);
}

static void test_qcow2_write(gconstpointer data)
{
    if (!have_tools()) {
        return;
    }
    run_write_case(data);
}

static const WriteCase write_cases[] = {
    { "v3", "-o compat=1.1", 8 * MiB, NULL, 0, false, 300 },
    { "v2", "-o compat=0.10", 8 * MiB, NULL, 0, false, 300 },
    /* 512-byte clusters: refcount blocks and table grow quickly. */
    { "v3-512", "-o cluster_size=512", 16 * MiB, NULL, 0, false, 400 },
    { "v2-1k", "-o compat=0.10,cluster_size=1024", 8 * MiB, NULL, 0, false,
      300 },
    { "refbits1", "-o cluster_size=4096,refcount_bits=1", 8 * MiB, NULL, 0,
      false, 300 },
    { "refbits64", "-o cluster_size=1024,refcount_bits=64", 8 * MiB, NULL,
      0, false, 300 },
    { "refbits4", "-o cluster_size=512,refcount_bits=4", 4 * MiB, NULL, 0,
      false, 300 },
    { "backing-raw", "-o cluster_size=4096", 8 * MiB, "raw", 8 * MiB,
      false, 300 },
    { "backing-short", "-o compat=1.1", 8 * MiB, "raw", 3 * MiB + 1234,
      false, 300 },
    { "backing-qcow2-v2", "-o compat=0.10", 8 * MiB, "qcow2", 5 * MiB,
      false, 300 },
    { "compressed", "-o cluster_size=4096", 8 * MiB, NULL, 0, true, 300 },
    { "compressed-64k", "", 8 * MiB, NULL, 0, true, 200 },
    { "odd-size", "-o cluster_size=4096", 8 * MiB + 1536, NULL, 0, false,
      200 },
    { "direct", "-o compat=1.1", 8 * MiB, "raw", 4 * MiB, false, 200,
      true },
    { "direct-512", "-o cluster_size=512", 8 * MiB, NULL, 0, true, 200,
      true },
};

/* Whole-cluster zeroes and discards free clusters; unaligned ones write. */
static void test_qcow2_zero_discard(void)
{
    g_autofree char *img = tmp_path("z.qcow2");
    g_autofree uint8_t *ref = g_malloc(4 * MiB);
    g_autofree char *map = NULL;
    BlockNode *bs;

    if (!have_tools()) {
        return;
    }
    RUN_OK("qemu-img create -q -f qcow2 %s 4M", img);
    bs = open_img(img, "qcow2", false, true);
    fill_random(ref, 4 * MiB);
    g_assert_cmpint(block_pwrite(bs, 0, ref, 4 * MiB), ==, 0);
    /* Keep the cluster (allocated zero), free it, partial, discard. */
    g_assert_cmpint(block_write_zeroes(bs, 0, 128 * KiB, false), ==, 0);
    g_assert_cmpint(block_write_zeroes(bs, 1 * MiB, 256 * KiB, true), ==, 0);
    g_assert_cmpint(block_write_zeroes(bs, 2 * MiB + 100, 1000, true), ==, 0);
    g_assert_cmpint(block_discard(bs, 3 * MiB, 512 * KiB), ==, 0);
    memset(ref, 0, 128 * KiB);
    memset(ref + 1 * MiB, 0, 256 * KiB);
    memset(ref + 2 * MiB + 100, 0, 1000);
    memset(ref + 3 * MiB, 0, 512 * KiB);
    block_close(bs);
    assert_check_clean(img);
    assert_same_as_raw(img, ref, 4 * MiB);
    g_assert_cmpint(run(&map, "qemu-img map --output=json -f qcow2 %s", img),
                    ==, 0);
    /* The freed ranges are no longer data (zero, unallocated). */
    g_assert_nonnull(strstr(map, "\"start\": 1048576, \"length\": 262144, "
                            "\"depth\": 0, \"present\": true, \"zero\": true,"
                            " \"data\": false"));
    g_assert_nonnull(strstr(map, "\"start\": 3145728, \"length\": 524288, "
                            "\"depth\": 0, \"present\": false, \"zero\": true,"
                            " \"data\": false"));
    g_unlink(img);
}

/* A 1 TiB image: zeroing or discarding all of it (a guest's fstrim)
 * must not walk every cluster, and the data around it must survive. */
static void test_qcow2_big_sparse(void)
{
    g_autofree char *img = tmp_path("big.qcow2");
    const uint64_t size = 1024ULL * 1024 * MiB;
    uint8_t buf[8192], back[8192];
    g_autofree char *map = NULL;
    gint64 t0;
    BlockNode *bs;

    if (!have_tools()) {
        return;
    }
    RUN_OK("qemu-img create -q -f qcow2 %s 1T", img);
    bs = open_img(img, "qcow2", false, true);
    fill_random(buf, sizeof(buf));
    g_assert_cmpint(block_pwrite(bs, size - sizeof(buf), buf, sizeof(buf)),
                    ==, 0);
    g_assert_cmpint(block_pwrite(bs, 300 * MiB, buf, sizeof(buf)), ==, 0);
    t0 = g_get_monotonic_time();
    g_assert_cmpint(block_write_zeroes(bs, 0, size - 64 * KiB, true), ==, 0);
    g_assert_cmpint(block_discard(bs, 0, size - 64 * KiB), ==, 0);
    g_assert_cmpint(block_write_zeroes(bs, 0, size - 64 * KiB, false), ==,
                    0);
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 10 * G_USEC_PER_SEC);
    g_assert_cmpint(block_pread(bs, size - sizeof(back), back, sizeof(back)),
                    ==, 0);
    g_assert_cmpmem(buf, sizeof(buf), back, sizeof(back));
    g_assert_cmpint(block_pread(bs, 300 * MiB, back, sizeof(back)), ==, 0);
    for (size_t i = 0; i < sizeof(back); i++) {
        g_assert_cmpint(back[i], ==, 0);
    }
    block_close(bs);
    assert_check_clean(img);
    g_unlink(img);
}

static void test_qcow2_truncate(void)
{
    g_autofree char *img = tmp_path("t.qcow2");
    uint8_t buf[4096], back[4096];
    BlockNode *bs;
    uint64_t l1_before;

    if (!have_tools()) {
        return;
    }
    /* 512-byte clusters: one L2 table maps 32 KiB, so growing from 1 MiB
     * to 64 MiB needs a new, bigger L1 table. */
    RUN_OK("qemu-img create -q -f qcow2 -o cluster_size=512 %s 1M", img);
    l1_before = peek_be(img, 36, 4);
    bs = open_img(img, "qcow2", false, false);
    fill_random(buf, sizeof(buf));
    g_assert_cmpint(block_pwrite(bs, 1 * MiB - 100, buf, 100), ==, 0);
    g_assert_cmpint(block_truncate(bs, 512 * KiB), ==, -ENOTSUP);
    g_assert_cmpint(block_truncate(bs, 64 * MiB + 512), ==, 0);
    g_assert_cmpuint(block_length(bs), ==, 64 * MiB + 512);
    g_assert_cmpint(block_pwrite(bs, 64 * MiB - 4000, buf, sizeof(buf)), ==,
                    0);
    g_assert_cmpint(block_pread(bs, 64 * MiB - 4000, back, sizeof(back)), ==,
                    0);
    g_assert_cmpmem(buf, sizeof(buf), back, sizeof(back));
    block_close(bs);
    g_assert_cmpuint(peek_be(img, 36, 4), >, l1_before);
    g_assert_cmpuint(peek_be(img, 24, 8), ==, 64 * MiB + 512);
    assert_check_clean(img);
    assert_reads_as_qemu(img, "qcow2");
    g_unlink(img);
}

/* 512-byte clusters, 16-bit refcounts: one refcount block covers 128 KiB
 * and the one-cluster table 8 MiB, so filling 24 MiB must create blocks
 * and move the table (twice). */
static void test_qcow2_refcount_growth(void)
{
    g_autofree char *img = tmp_path("rc.qcow2");
    g_autofree uint8_t *ref = g_malloc(24 * MiB);
    uint64_t rt_before, clusters_before;
    BlockNode *bs;

    if (!have_tools()) {
        return;
    }
    RUN_OK("qemu-img create -q -f qcow2 -o cluster_size=512 %s 24M", img);
    rt_before = peek_be(img, 48, 8);
    clusters_before = peek_be(img, 56, 4);
    fill_random(ref, 24 * MiB);
    bs = open_img(img, "qcow2", false, false);
    for (uint64_t off = 0; off < 24 * MiB; off += 1 * MiB) {
        g_assert_cmpint(block_pwrite(bs, off, ref + off, 1 * MiB), ==, 0);
    }
    block_close(bs);
    g_assert_cmpuint(peek_be(img, 48, 8), !=, rt_before);
    g_assert_cmpuint(peek_be(img, 56, 4), >, clusters_before);
    assert_check_clean(img);
    assert_same_as_raw(img, ref, 24 * MiB);
    g_unlink(img);
}

/* Growing an overlay over a longer backing file: the new area reads
 * zeroes, not the backing's data (v2 and v3). */
static void test_qcow2_truncate_backing(void)
{
    static const char *const opts[] = { "-o compat=0.10", "-o compat=1.1" };
    g_autofree char *base = tmp_path("tb-base.raw");
    g_autofree char *img = tmp_path("tb.qcow2");
    g_autofree uint8_t *ref = g_malloc(8 * MiB);
    BlockNode *bs;

    if (!have_tools()) {
        return;
    }
    fill_random(ref, 8 * MiB);
    write_file(base, ref, 8 * MiB);
    for (size_t i = 0; i < G_N_ELEMENTS(opts); i++) {
        g_unlink(img);
        RUN_OK("qemu-img create -q -f qcow2 %s -b tb-base.raw -F raw %s "
               "3000000", opts[i], img);
        /* qemu-img rounds the size up to 512 bytes. */
        uint64_t old = peek_be(img, 24, 8);

        bs = open_img(img, "qcow2", false, false);
        g_assert_cmpint(block_truncate(bs, 6 * MiB), ==, 0);
        block_close(bs);
        memset(ref + old, 0, 6 * MiB - old);
        assert_check_clean(img);
        assert_same_as_raw(img, ref, 6 * MiB);
    }
    g_unlink(img);
    g_unlink(base);
}

typedef struct {
    BlockNode *bs;
    uint64_t base;
    uint8_t *ref;
    int seed;
} ThreadArg;

/* One thread's requests, all inside its own 2 MiB (whole clusters):
 * writes, reads checked against its part of the reference, discards of
 * whole clusters and flushes (which apply deferred frees), all racing
 * the other threads' requests on the same node. */
static gpointer writer_thread(gpointer opaque)
{
    ThreadArg *a = opaque;
    GRand *r = g_rand_new_with_seed((guint32)a->seed);
    uint8_t buf[20000], back[20000];

    for (int i = 0; i < 400; i++) {
        uint64_t len = (uint64_t)g_rand_int_range(r, 1, sizeof(buf));
        uint64_t off = a->base +
            (uint64_t)g_rand_int_range(r, 0, (gint32)(2 * MiB - len));
        int kind = g_rand_int_range(r, 0, 100);

        if (kind < 60) {
            for (uint64_t k = 0; k < len; k++) {
                buf[k] = (uint8_t)g_rand_int(r);
            }
            g_assert_cmpint(block_pwrite(a->bs, off, buf, len), ==, 0);
            memcpy(a->ref + off, buf, len);
        } else if (kind < 90) {
            g_assert_cmpint(block_pread(a->bs, off, back, len), ==, 0);
            g_assert_cmpmem(back, len, a->ref + off, len);
        } else if (kind < 95) {
            off &= ~(4 * KiB - 1);
            len = (len + 4 * KiB - 1) & ~(4 * KiB - 1);
            len = MIN(len, a->base + 2 * MiB - off);
            g_assert_cmpint(block_discard(a->bs, off, len), ==, 0);
            memset(a->ref + off, 0, len);
        } else {
            g_assert_cmpint(block_flush(a->bs), ==, 0);
        }
    }
    g_rand_free(r);
    return NULL;
}

static void test_qcow2_threads(void)
{
    g_autofree char *img = tmp_path("th.qcow2");
    g_autofree uint8_t *ref = g_malloc0(8 * MiB);
    GThread *th[4];
    ThreadArg args[4];
    BlockNode *bs;

    if (!have_tools()) {
        return;
    }
    RUN_OK("qemu-img create -q -f qcow2 -o cluster_size=4096 %s 8M", img);
    bs = open_img(img, "qcow2", false, true);
    for (int i = 0; i < 4; i++) {
        args[i] = (ThreadArg){ bs, (uint64_t)i * 2 * MiB, ref, 42 + i };
        th[i] = g_thread_new("writer", writer_thread, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        g_thread_join(th[i]);
    }
    block_close(bs);
    assert_check_clean(img);
    assert_same_as_raw(img, ref, 8 * MiB);
    g_unlink(img);
}

/* ------------------------------------------------------------------ */
/* Hostile images                                                       */

static void fresh(const char *img, const char *opts)
{
    g_unlink(img);
    RUN_OK("qemu-img create -q -f qcow2 %s %s 4M", opts, img);
    RUN_OK("qemu-io -f qcow2 -c write|-P|0xcd|0|256k %s", img);
}

static void test_qcow2_hostile(void)
{
    g_autofree char *img = tmp_path("h.qcow2");
    g_autofree char *raw = tmp_path("h.raw");
    uint8_t buf[4096];
    BlockNode *bs;
    uint64_t l1, l2;

    if (!have_tools()) {
        return;
    }
    /* Not qcow2 at all, for the qcow2 driver. */
    RUN_OK("qemu-img create -q -f raw %s 1M", raw);
    assert_open_fails(raw, "qcow2", "not a qcow2 image");

    fresh(img, "");
    poke_be(img, 4, 4, 4);
    assert_open_fails(img, "qcow2", "version 4");

    fresh(img, "");
    poke_be(img, 72, 1ULL << 10, 8);
    assert_open_fails(img, "qcow2", "incompatible feature bit 10");

    fresh(img, "");
    poke_be(img, 72, 1ULL << 1, 8);
    assert_open_fails(img, "qcow2", "corrupt");

    fresh(img, "");
    poke_be(img, 72, 1ULL << 0, 8);
    assert_open_fails(img, "qcow2", "dirty");

    fresh(img, "");
    poke_be(img, 72, 1ULL << 4, 8);
    assert_open_fails(img, "qcow2", "extended L2");

    fresh(img, "");
    poke_be(img, 72, 1ULL << 2, 8);
    assert_open_fails(img, "qcow2", "external data file");

    fresh(img, "");
    poke_be(img, 32, 1, 4);
    assert_open_fails(img, "qcow2", "encrypted");

    fresh(img, "");
    poke_be(img, 20, 40, 4);
    assert_open_fails(img, "qcow2", "cluster_bits");

    /* Size overflow; and a size the L1 table cannot map. */
    fresh(img, "");
    poke_be(img, 24, 0xfffffffffffffe00ULL, 8);
    assert_open_fails(img, "qcow2", "too large");
    fresh(img, "");
    poke_be(img, 24, 1ULL << 50, 8);
    assert_open_fails(img, "qcow2", "too small for the virtual size");

    /* L1 table beyond the end of the file, misaligned, huge. */
    fresh(img, "");
    poke_be(img, 40, 1ULL << 40, 8);
    assert_open_fails(img, "qcow2", "L1 table");
    fresh(img, "");
    poke_be(img, 40, peek_be(img, 40, 8) + 8, 8);
    assert_open_fails(img, "qcow2", "not aligned");
    fresh(img, "");
    poke_be(img, 36, 0xffffffff, 4);
    assert_open_fails(img, "qcow2", "L1 table");
    fresh(img, "");
    poke_be(img, 48, 0, 8);
    assert_open_fails(img, "qcow2", "refcount table");
    fresh(img, "");
    poke_be(img, 40, peek_be(img, 48, 8), 8);
    assert_open_fails(img, "qcow2", "overlap");
    fresh(img, "");
    poke_be(img, 16, 5000, 4);
    poke_be(img, 8, 100, 8);
    assert_open_fails(img, "qcow2", "backing file");

    /* An L1 entry beyond the file, a misaligned L2 entry: -EIO on I/O. */
    fresh(img, "");
    l1 = peek_be(img, 40, 8);
    l2 = peek_be(img, l1, 8) & 0x00fffffffffffe00ULL;
    poke_be(img, l2 + 8, (1ULL << 63) | (peek_be(img, l2 + 8, 8) + 512), 8);
    bs = open_img(img, "qcow2", false, false);
    g_assert_cmpint(block_pread(bs, 0, buf, sizeof(buf)), ==, 0);
    g_assert_cmpint(block_pread(bs, 64 * KiB, buf, sizeof(buf)), ==, -EIO);
    g_assert_cmpint(block_pwrite(bs, 64 * KiB, buf, sizeof(buf)), ==, -EIO);
    block_close(bs);
    poke_be(img, l1, (1ULL << 63) | (1ULL << 45), 8);
    bs = open_img(img, "qcow2", false, false);
    g_assert_cmpint(block_pread(bs, 0, buf, sizeof(buf)), ==, -EIO);
    g_assert_cmpint(block_pwrite(bs, 0, buf, sizeof(buf)), ==, -EIO);
    g_assert_cmpint(block_write_zeroes(bs, 0, 64 * KiB, true), ==, -EIO);
    block_close(bs);
    /* L2 entries pointing at the refcount table and the L1 table. */
    fresh(img, "");
    l1 = peek_be(img, 40, 8);
    l2 = peek_be(img, l1, 8) & 0x00fffffffffffe00ULL;
    poke_be(img, l2, (1ULL << 63) | peek_be(img, 48, 8), 8);
    poke_be(img, l2 + 8, (1ULL << 63) | l1, 8);
    bs = open_img(img, "qcow2", false, false);
    g_assert_cmpint(block_pwrite(bs, 100, buf, 10), ==, -EIO);
    g_assert_cmpint(block_pwrite(bs, 64 * KiB, buf, 10), ==, -EIO);
    block_close(bs);
    /* An L2 entry pointing at a refcount block, another at an L2 table. */
    fresh(img, "");
    l1 = peek_be(img, 40, 8);
    l2 = peek_be(img, l1, 8) & 0x00fffffffffffe00ULL;
    poke_be(img, l2 + 8, (1ULL << 63) | peek_be(img, peek_be(img, 48, 8), 8),
            8);
    poke_be(img, l2 + 16, (1ULL << 63) | l2, 8);
    bs = open_img(img, "qcow2", false, false);
    g_assert_cmpint(block_pwrite(bs, 64 * KiB, buf, 10), ==, -EIO);
    g_assert_cmpint(block_pwrite(bs, 128 * KiB, buf, 10), ==, -EIO);
    block_close(bs);
    /* A refcount table entry beyond the file: allocation fails. */
    fresh(img, "");
    poke_be(img, peek_be(img, 48, 8), 1ULL << 40, 8);
    bs = open_img(img, "qcow2", false, false);
    g_assert_cmpint(block_pwrite(bs, 1 * MiB, buf, 10), ==, -EIO);
    block_close(bs);
    /* A compressed entry pointing past the end. */
    fresh(img, "");
    l1 = peek_be(img, 40, 8);
    l2 = peek_be(img, l1, 8) & 0x00fffffffffffe00ULL;
    poke_be(img, l2, (1ULL << 62) | (1ULL << 40), 8);
    bs = open_img(img, "qcow2", true, false);
    g_assert_cmpint(block_pread(bs, 0, buf, 10), ==, -EIO);
    block_close(bs);
    /* A backing chain that loops. */
    g_unlink(img);
    RUN_OK("qemu-img create -q -f qcow2 %s 4M", img);
    poke_be(img, 8, 512, 8);
    poke_be(img, 16, strlen("h.qcow2"), 4);
    {
        int fd = open(img, O_WRONLY);

        g_assert_cmpint(pwrite(fd, "h.qcow2", 7, 512), ==, 7);
        close(fd);
    }
    assert_open_fails(img, "qcow2", "backing");

    g_unlink(img);
    g_unlink(raw);
}

/* What qemu-img itself makes with options we refuse, or must read. */
static void test_qcow2_create_options(void)
{
    static const struct {
        const char *opts;
        const char *error;      /* NULL: opens and reads as qemu's */
    } cases[] = {
        { "extended_l2=on", "extended L2" },
        { "compression_type=zstd", "compression type 1" },
        { "data_file=DIR/x-data.raw", "external data file" },
        { "encrypt.format=luks,encrypt.key-secret=s0", "encrypted" },
        { "preallocation=metadata", NULL },
        { "preallocation=falloc,cluster_size=4096", NULL },
        { "lazy_refcounts=on", NULL },
    };
    g_autofree char *img = tmp_path("opts.qcow2");
    g_autofree char *data = tmp_path("x-data.raw");

    if (!have_tools()) {
        return;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *dir = g_strdup(tmpdir);
        g_auto(GStrv) parts = g_strsplit(cases[i].opts, "DIR", -1);
        g_autofree char *o = g_strjoinv(dir, parts);

        g_test_message("options %s", o);
        g_unlink(img);
        RUN_OK("qemu-img create -q --object secret,id=s0,data=abc -f qcow2 "
               "-o %s %s 2M", o, img);
        if (cases[i].error) {
            assert_open_fails(img, "qcow2", cases[i].error);
            continue;
        }
        RUN_OK("qemu-io -f qcow2 -c write|-P|0x99|4k|100k %s", img);
        assert_reads_as_qemu(img, "qcow2");
        {
            BlockNode *bs = open_img(img, "qcow2", false, false);
            uint8_t b[3000];
            g_autofree uint8_t *ref = qemu_contents(img, "qcow2",
                                                    &(gsize){ 0 });

            memset(b, 0x5c, sizeof(b));
            g_assert_cmpint(block_pwrite(bs, 1 * MiB - 100, b, sizeof(b)),
                            ==, 0);
            memcpy(ref + 1 * MiB - 100, b, sizeof(b));
            block_close(bs);
            assert_check_clean(img);
            assert_same_as_raw(img, ref, 2 * MiB);
        }
    }
    g_unlink(img);
    g_unlink(data);
}

/* Random bytes of metadata changed (header, L1, refcount table and
 * blocks, L2 tables: the first clusters of a small image): opening may
 * fail and requests may fail, but nothing crashes or hangs. */
static void test_qcow2_fuzz(void)
{
    g_autofree char *orig = tmp_path("fz-orig.qcow2");
    g_autofree char *img = tmp_path("fz.qcow2");
    g_autofree char *data = NULL;
    g_autofree uint8_t *buf = g_malloc(1 * MiB);
    gsize len;
    int opened = 0;

    if (!have_tools()) {
        return;
    }
    RUN_OK("qemu-img create -q -f qcow2 -o cluster_size=4096 %s 1M", orig);
    RUN_OK("qemu-io -f qcow2 -c write|-P|0x11|0|300k -c write|-z|400k|64k "
           "-c write|-P|0x22|700k|5k %s", orig);
    g_assert_true(g_file_get_contents(orig, &data, &len, NULL));
    alarm(120);
    for (int round = 0; round < 300; round++) {
        g_autofree char *copy = g_memdup2(data, len);
        int flips = g_test_rand_int_range(1, 8);
        BlockNode *bs;

        for (int f = 0; f < flips; f++) {
            gsize at = (gsize)g_test_rand_int_range(0, (gint32)MIN(len,
                                                                   6 * 4096));

            copy[at] = g_test_rand_bit() ? (char)g_test_rand_int() :
                (char)(copy[at] ^ (1 << g_test_rand_int_range(0, 8)));
        }
        write_file(img, copy, len);
        bs = block_open_image(img, "qcow2", false, false, false, true, NULL);
        if (!bs) {
            continue;
        }
        opened++;
        uint64_t size = MIN(block_length(bs), 1 * MiB);

        block_pread(bs, 0, buf, size);
        for (int i = 0; i < 8 && size > 10000; i++) {
            uint64_t off = (uint64_t)g_test_rand_int_range(0,
                                                           (gint32)(size - 10000));

            block_pwrite(bs, off, buf, 10000);
            block_discard(bs, off & ~4095ULL, 8192);
            block_write_zeroes(bs, off, 5000, g_test_rand_bit());
        }
        block_truncate(bs, block_length(bs) + 1 * MiB);
        block_close(bs);
    }
    alarm(0);
    g_test_message("%d of 300 damaged images opened", opened);
    g_assert_cmpint(opened, >, 0);
    g_unlink(img);
    g_unlink(orig);
}

static void test_qcow2_snapshot_ro(void)
{
    g_autofree char *img = tmp_path("snap.qcow2");
    g_autofree char *msg = NULL;

    if (!have_tools()) {
        return;
    }
    fresh(img, "");
    RUN_OK("qemu-img snapshot -c s1 %s", img);
    RUN_OK("qemu-io -f qcow2 -c write|-P|0xee|0|4k %s", img);
    assert_reads_as_qemu(img, "qcow2");
    msg = open_error(img, "qcow2", false);
    g_assert_nonnull(msg);
    g_assert_nonnull(strstr(msg, "snapshots"));
    g_unlink(img);
}

/* ------------------------------------------------------------------ */
/* Killed writers                                                       */

static G_GNUC_NORETURN void crash_child(const char *img, guint32 seed)
{
    GRand *r = g_rand_new_with_seed(seed);
    BlockNode *bs = block_open_image(img, "qcow2", false, false, false, true,
                                     NULL);
    uint8_t buf[70000];

    if (!bs) {
        _exit(2);
    }
    for (;;) {
        uint64_t size = block_length(bs);
        uint64_t len = (uint64_t)g_rand_int_range(r, 1, sizeof(buf));
        uint64_t off = (uint64_t)g_rand_int_range(r, 0, (gint32)(size - len));
        int kind = g_rand_int_range(r, 0, 20);

        memset(buf, (int)g_rand_int(r), len);
        if (kind == 0) {
            block_truncate(bs, size + 256 * KiB);
        } else if (kind < 3) {
            block_discard(bs, off, len);
        } else if (kind < 5) {
            block_write_zeroes(bs, off, len, g_rand_boolean(r));
        } else if (block_pwrite(bs, off, buf, len) < 0) {
            _exit(3);
        }
    }
}

static void test_qcow2_crash(void)
{
    static const char *const opts[] = {
        "-o cluster_size=512", "-o cluster_size=4096,refcount_bits=2",
        "-o compat=0.10,cluster_size=1024", "",
    };
    g_autofree char *img = tmp_path("crash.qcow2");
    g_autofree char *base = tmp_path("crash-base.raw");

    if (!have_tools()) {
        return;
    }
    RUN_OK("qemu-img create -q -f raw %s 2M", base);
    RUN_OK("qemu-io -f raw -c write|-P|0x42|0|2M %s", base);
    for (int round = 0; round < 12; round++) {
        const char *o = opts[round % G_N_ELEMENTS(opts)];
        g_autofree char *out = NULL;
        int status, rc;
        pid_t pid;

        g_unlink(img);
        if (round % 3 == 2) {
            RUN_OK("qemu-img create -q -f qcow2 %s -b crash-base.raw -F raw "
                   "%s 8M", o, img);
        } else {
            RUN_OK("qemu-img create -q -f qcow2 %s %s 8M", o, img);
        }
        pid = fork();
        g_assert_cmpint(pid, >=, 0);
        if (pid == 0) {
            crash_child(img, (guint32)g_test_rand_int());
        }
        g_usleep((gulong)g_test_rand_int_range(20, 400) * 1000);
        kill(pid, SIGKILL);
        g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
        g_assert_true(WIFSIGNALED(status));
        rc = run(&out, "qemu-img check -f qcow2 %s", img);
        /* 0: clean; 3: leaked clusters only. */
        if (rc != 0 && rc != 3) {
            g_error("round %d (%s): qemu-img check exited %d:\n%s", round, o,
                    rc, out);
        }
        /* Still opens, reads and writes. */
        {
            BlockNode *bs = open_img(img, "qcow2", false, false);
            uint8_t b[4096] = { 1 };

            g_assert_cmpint(block_pwrite(bs, 0, b, sizeof(b)), ==, 0);
            g_assert_cmpint(block_pread(bs, 4 * MiB, b, sizeof(b)), ==, 0);
            block_close(bs);
        }
        g_clear_pointer(&out, g_free);
        rc = run(&out, "qemu-img check -f qcow2 %s", img);
        g_assert_true(rc == 0 || rc == 3);
    }
    g_unlink(img);
    g_unlink(base);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("kestrel-block-XXXXXX", NULL);
    g_assert_nonnull(tmpdir);

    g_test_add_func("/block/raw", test_raw);
    g_test_add_func("/block/raw-direct", test_raw_direct);
    g_test_add_func("/block/probe", test_probe);
    g_test_add_func("/block/host-device", test_host_device);
    g_test_add_func("/block/qcow2/read", test_qcow2_read);
    g_test_add_func("/block/qcow2/backing-read", test_qcow2_backing_read);
    g_test_add_func("/block/qcow2/compressed-read",
                    test_qcow2_compressed_read);
    for (size_t i = 0; i < G_N_ELEMENTS(write_cases); i++) {
        g_autofree char *path = g_strdup_printf("/block/qcow2/write/%s",
                                                write_cases[i].name);

        g_test_add_data_func(path, &write_cases[i], test_qcow2_write);
    }
    g_test_add_func("/block/qcow2/zero-discard", test_qcow2_zero_discard);
    g_test_add_func("/block/qcow2/truncate", test_qcow2_truncate);
    g_test_add_func("/block/qcow2/big-sparse", test_qcow2_big_sparse);
    g_test_add_func("/block/qcow2/truncate-backing",
                    test_qcow2_truncate_backing);
    g_test_add_func("/block/qcow2/threads", test_qcow2_threads);
    g_test_add_func("/block/qcow2/refcount-growth",
                    test_qcow2_refcount_growth);
    g_test_add_func("/block/qcow2/hostile", test_qcow2_hostile);
    g_test_add_func("/block/qcow2/fuzz", test_qcow2_fuzz);
    g_test_add_func("/block/qcow2/create-options",
                    test_qcow2_create_options);
    g_test_add_func("/block/qcow2/snapshot-read-only",
                    test_qcow2_snapshot_ro);
    g_test_add_func("/block/qcow2/crash", test_qcow2_crash);

    ret = g_test_run();
    {
        /* Whatever a failed case left behind. */
        const char *argv_rm[] = { "rm", "-rf", tmpdir, NULL };

        run_argv(argv_rm, NULL);
    }
    g_free(tmpdir);
    return ret;
}
