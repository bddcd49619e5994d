/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The pre-copy RAM engine without KVM: a real memfd MemMap, the VMM's
 * dirty bitmap as the only dirty source, the stream over a real pipe
 * into a second MemMap. Also URI parsing, and hostile records.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "migration/channel.h"
#include "migration/ram.h"
#include "migration/stream.h"

#define MiB (1024 * 1024)
#define PAGE 4096u

/* Run the writer side into a pipe drained by a thread into a buffer. */
typedef struct {
    int fd;
    GByteArray *data;
} Drain;

static gpointer drain_thread(gpointer opaque)
{
    Drain *d = opaque;
    uint8_t buf[65536];
    ssize_t n;

    while ((n = read(d->fd, buf, sizeof(buf))) > 0) {
        g_byte_array_append(d->data, buf, (guint)n);
    }
    return NULL;
}

typedef struct {
    int wfd;
    Drain drain;
    GThread *thread;
    MigWriter w;
} Pipe;

static void pipe_open(Pipe *p)
{
    int fds[2];

    g_assert_cmpint(pipe2(fds, O_CLOEXEC), ==, 0);
    p->wfd = fds[1];
    p->drain.fd = fds[0];
    p->drain.data = g_byte_array_new();
    p->thread = g_thread_new("drain", drain_thread, &p->drain);
    mig_writer_init(&p->w, p->wfd, NULL);
}

static GByteArray *pipe_close(Pipe *p)
{
    g_assert_true(mig_writer_flush(&p->w));
    close(p->wfd);
    g_thread_join(p->thread);
    close(p->drain.fd);
    mig_writer_clear(&p->w);
    return p->drain.data;
}

/* Apply every RAM/ZERO record of @stream (records only, no header). */
static void apply(MemMap *dst, GByteArray *stream, RamStats *st)
{
    int fds[2];
    MigReader r;
    g_autoptr(GError) err = NULL;

    g_assert_cmpint(pipe2(fds, O_CLOEXEC), ==, 0);
    /* Small streams fit the pipe; the test keeps them small. */
    g_assert_cmpint(write(fds[1], stream->data, stream->len), ==,
                    (ssize_t)stream->len);
    close(fds[1]);
    mig_reader_init(&r, fds[0]);
    for (;;) {
        uint32_t type, len;
        MigSum sum;

        if (!mig_read_record_head(&r, &type, &len, &sum, &err)) {
            g_assert_nonnull(strstr(err->message, "ended early"));
            break;
        }
        g_assert_true(type == MIG_REC_RAM || type == MIG_REC_ZERO);
        g_assert_true(ram_receive(dst, &r, type, len, &sum, st, &err));
        g_assert_no_error(err);
    }
    mig_reader_clear(&r);
    close(fds[0]);
}

static void fill_page(MemMap *m, uint64_t gpa, uint8_t v)
{
    uint8_t buf[PAGE];

    memset(buf, v, sizeof(buf));
    g_assert_true(memmap_write(m, gpa, buf, sizeof(buf)));
}

static uint8_t page_byte(MemMap *m, uint64_t gpa)
{
    uint8_t b;

    g_assert_true(memmap_read(m, gpa, &b, 1));
    return b;
}

/* Pass 1 and later passes on backend @data (NULL: the default,
 * anonymous memory), the destination on the same kind. */
static void test_passes(gconstpointer data)
{
    const MemBackendConfig *mb = data;
    g_autoptr(GError) err = NULL;
    g_autoptr(MemMap) src = memmap_new_backend(mb, 8 * MiB, &err);
    g_autoptr(MemMap) dst = memmap_new_backend(mb, 8 * MiB, &err);
    RamSender *s;
    RamStats out = { 0 }, in = { 0 };
    Pipe p;
    GByteArray *stream;

    g_assert_no_error(err);
    fill_page(src, 0x10000, 0x11);
    fill_page(src, 0x11000, 0x22);
    fill_page(src, 0x200000, 0);            /* allocated, but zeros */
    fill_page(dst, 0x300000, 0x77);         /* stale on the destination */

    s = ram_sender_new(NULL, src);
    g_assert_true(ram_sender_start(s, &err));
    /* Pass 1: only the data extents, never the holes (with transparent
     * huge pages, the two 2 MiB blocks written to are data). */
    g_assert_cmpuint(ram_sender_pending(s), <=, 2 * 512);
    g_assert_cmpuint(ram_sender_pending(s), >=, 3);
    pipe_open(&p);
    g_assert_true(ram_sender_pass(s, &p.w, NULL, NULL, &out));
    stream = pipe_close(&p);
    g_assert_cmpuint(out.normal, ==, 2);
    g_assert_cmpuint(out.duplicate, >=, 1);
    apply(dst, stream, &in);
    g_byte_array_unref(stream);
    g_assert_cmpuint(page_byte(dst, 0x10000), ==, 0x11);
    g_assert_cmpuint(page_byte(dst, 0x11000), ==, 0x22);

    /* Writes after the pass are found by the sync, and only they. */
    g_assert_cmpuint(ram_sender_sync(s), ==, 0);
    fill_page(src, 0x11000, 0x33);
    fill_page(src, 0x300000, 0x44);
    g_assert_true(memmap_discard(src, 0x10000, PAGE));  /* ballooned */
    g_assert_cmpuint(ram_sender_sync(s), ==, 3);
    pipe_open(&p);
    out = (RamStats) { 0 };
    g_assert_true(ram_sender_pass(s, &p.w, NULL, NULL, &out));
    stream = pipe_close(&p);
    g_assert_cmpuint(out.normal, ==, 2);
    g_assert_cmpuint(out.duplicate, ==, 1);
    apply(dst, stream, &in);
    g_byte_array_unref(stream);
    g_assert_cmpuint(page_byte(dst, 0x10000), ==, 0);
    g_assert_cmpuint(page_byte(dst, 0x11000), ==, 0x33);
    g_assert_cmpuint(page_byte(dst, 0x300000), ==, 0x44);
    g_assert_cmpuint(ram_sender_pending(s), ==, 0);
    ram_sender_free(s);
}

static const MemBackendConfig memfd_backend = {
    .type = MEM_BACKEND_MEMFD, .share = true, .size = 8 * MiB,
};
static const MemBackendConfig private_memfd_backend = {
    .type = MEM_BACKEND_MEMFD, .share = false, .size = 8 * MiB,
};

static void expect_refused(MemMap *dst, const void *rec, size_t len,
                           const char *want)
{
    g_autoptr(GByteArray) b = g_byte_array_new();
    int fds[2];
    MigReader r;
    uint32_t type, rlen;
    MigSum sum;
    RamStats st = { 0 };
    g_autoptr(GError) err = NULL;
    bool ok;

    g_byte_array_append(b, rec, (guint)len);
    g_assert_cmpint(pipe2(fds, O_CLOEXEC), ==, 0);
    g_assert_cmpint(write(fds[1], b->data, b->len), ==, (ssize_t)b->len);
    close(fds[1]);
    mig_reader_init(&r, fds[0]);
    ok = mig_read_record_head(&r, &type, &rlen, &sum, &err) &&
         ram_receive(dst, &r, type, rlen, &sum, &st, &err);
    mig_reader_clear(&r);
    close(fds[0]);
    g_assert_false(ok);
    if (!strstr(err->message, want)) {
        g_error("'%s' does not contain '%s'", err->message, want);
    }
}

static void test_hostile_records(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(MemMap) dst = memmap_new(4 * MiB, &err);
    Pipe p;
    g_autofree uint8_t *page = g_malloc0(PAGE);
    GByteArray *rec;

    memset(page, 0x5a, PAGE);
    /* A page beyond RAM. */
    pipe_open(&p);
    g_assert_true(mig_write_ram(&p.w, 64 * MiB, page, 1));
    rec = pipe_close(&p);
    expect_refused(dst, rec->data, rec->len, "outside this VM's RAM");
    /* A run that starts inside RAM and ends outside it. */
    g_byte_array_unref(rec);
    pipe_open(&p);
    g_assert_true(mig_write_zero(&p.w, 4 * MiB - PAGE, 2));
    rec = pipe_close(&p);
    expect_refused(dst, rec->data, rec->len, "outside this VM's RAM");
    /* An absurd page count that would overflow. */
    g_byte_array_unref(rec);
    pipe_open(&p);
    g_assert_true(mig_write_zero(&p.w, 0, G_MAXUINT64 / 2));
    rec = pipe_close(&p);
    expect_refused(dst, rec->data, rec->len, "outside this VM's RAM");
    /* A flipped bit: the checksum catches it. */
    g_byte_array_unref(rec);
    pipe_open(&p);
    g_assert_true(mig_write_ram(&p.w, 0x1000, page, 1));
    rec = pipe_close(&p);
    rec->data[100] ^= 1;
    expect_refused(dst, rec->data, rec->len, "checksum mismatch");
    /* A length over the type's maximum. */
    rec->data[4] = 0xff;
    rec->data[5] = 0xff;
    rec->data[6] = 0xff;
    expect_refused(dst, rec->data, rec->len, "ram section of");
    g_byte_array_unref(rec);
}

static void test_uris(void)
{
    static const struct {
        const char *uri;
        MigUriKind kind;
        const char *a, *b;
    } good[] = {
        { "tcp:127.0.0.1:4444", MIG_URI_TCP, "127.0.0.1", "4444" },
        { "tcp:[::1]:4444", MIG_URI_TCP, "::1", "4444" },
        { "tcp:0:5", MIG_URI_TCP, "0", "5" },
        { "unix:/run/m.sock", MIG_URI_UNIX, "/run/m.sock", NULL },
        { "fd:mig", MIG_URI_FD, "mig", NULL },
        { "exec:cat > /tmp/x", MIG_URI_EXEC, "cat > /tmp/x", NULL },
        { "file:/var/vm.save", MIG_URI_FILE, "/var/vm.save", NULL },
    };
    static const struct {
        const char *uri, *error;
    } bad[] = {
        { "foo:bar", "Parameter 'uri' expects a valid migration protocol" },
        { "tcp:nohost", "error parsing address 'nohost'" },
        { "tcp:[::1", "error parsing address '[::1'" },
        { "unix:", "error parsing address ''" },
        { "exec:", "exec: needs a command to run" },
        { "file:", "file: needs a path" },
        { "file:/x,offset=z", "file URI has bad offset z" },
        { "fd:", "fd: needs the name of a descriptor (getfd)" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autoptr(GError) err = NULL;
        MigUri u;

        g_assert_true(mig_uri_parse(good[i].uri, &u, &err));
        g_assert_no_error(err);
        g_assert_cmpint(u.kind, ==, good[i].kind);
        switch (u.kind) {
        case MIG_URI_TCP:
            g_assert_cmpstr(u.host, ==, good[i].a);
            g_assert_cmpstr(u.port, ==, good[i].b);
            break;
        case MIG_URI_UNIX:
        case MIG_URI_FILE:
            g_assert_cmpstr(u.path, ==, good[i].a);
            break;
        case MIG_URI_FD:
            g_assert_cmpstr(u.fdname, ==, good[i].a);
            break;
        case MIG_URI_EXEC:
            g_assert_cmpstr(u.command, ==, good[i].a);
            break;
        }
        mig_uri_clear(&u);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;
        MigUri u;

        g_assert_false(mig_uri_parse(bad[i].uri, &u, &err));
        g_assert_cmpstr(err->message, ==, bad[i].error);
        mig_uri_clear(&u);
    }
    {
        MigUri u;

        g_assert_true(mig_uri_parse("file:/v,offset=0x1000", &u, NULL));
        g_assert_cmpuint(u.offset, ==, 0x1000);
        mig_uri_clear(&u);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_data_func("/migration/ram/passes", NULL, test_passes);
    g_test_add_data_func("/migration/ram/passes-memfd", &memfd_backend,
                         test_passes);
    g_test_add_data_func("/migration/ram/passes-private-memfd",
                         &private_memfd_backend, test_passes);
    g_test_add_func("/migration/ram/hostile-records", test_hostile_records);
    g_test_add_func("/migration/uris", test_uris);
    return g_test_run();
}
