/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The qtest protocol (see qtest.h), as QEMU's libqtest speaks it: one
 * command per line, one answer per command, numbers in C syntax.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>

#include "error.h"
#include "qtest.h"
#include "sandbox.h"
#include "vm.h"

#define QTEST_MAX_LINE (64u << 20)      /* "write" of 32 MiB in hex */
#define QTEST_MAX_SIZE (16u << 20)      /* bytes per read/write/memset */

typedef struct {
    Qtest *q;
    int fd;
    guint src;
    GString *in;
} QtestClient;

struct Qtest {
    Vm *vm;
    int listen_fd;
    guint listen_src;
    char *unlink_path;
    GPtrArray *clients;
};

static bool parse_u64(const char *s, uint64_t *v)
{
    char *end;

    if (!s || !*s) {
        return false;
    }
    errno = 0;
    *v = g_ascii_strtoull(s, &end, 0);
    return !errno && !*end;
}

/* Guest-physical write: RAM through the dirty-tracked path, else MMIO,
 * in accesses of @width bytes where aligned (writew/writel reach a
 * device register as one access of their width, as a vCPU's would). */
static bool mem_write(Vm *vm, uint64_t addr, const uint8_t *buf, uint64_t n,
                      uint32_t width)
{
    if (memmap_write(vm->mem, addr, buf, n)) {
        return true;
    }
    while (n) {
        uint32_t k = n >= width && !(addr & (width - 1)) ? width : 1;

        vm_mmio(vm, addr, (uint8_t *)buf, k, true);
        addr += k;
        buf += k;
        n -= k;
    }
    return true;
}

static void mem_read(Vm *vm, uint64_t addr, uint8_t *buf, uint64_t n,
                     uint32_t width)
{
    if (memmap_read(vm->mem, addr, buf, n)) {
        return;
    }
    memset(buf, 0xff, n);
    while (n) {
        uint32_t k = n >= width && !(addr & (width - 1)) ? width : 1;

        vm_mmio(vm, addr, buf, k, false);
        addr += k;
        buf += k;
        n -= k;
    }
}

static char *io_cmd(Vm *vm, char **w, unsigned int n)
{
    char op = w[0][0];
    unsigned int size = w[0][strlen(w[0]) - 1] == 'b' ? 1 :
                        w[0][strlen(w[0]) - 1] == 'w' ? 2 : 4;
    uint64_t port, val = 0;
    uint8_t data[4] = { 0 };

    if (n < (op == 'o' ? 3u : 2u) || !parse_u64(w[1], &port) ||
        port > 0xffff || (op == 'o' && !parse_u64(w[2], &val))) {
        return g_strdup_printf("FAIL bad arguments to %s\n", w[0]);
    }
    for (unsigned int i = 0; i < size; i++) {
        data[i] = (uint8_t)(val >> (8 * i));
    }
    vm_pio(vm, (uint16_t)port, data, size, op == 'o');
    if (op == 'o') {
        return g_strdup("OK\n");
    }
    val = 0;
    for (unsigned int i = 0; i < size; i++) {
        val |= (uint64_t)data[i] << (8 * i);
    }
    return g_strdup_printf("OK 0x%04" PRIx64 "\n", val);
}

static unsigned int width(const char *cmd)
{
    switch (cmd[strlen(cmd) - 1]) {
    case 'b':
        return 1;
    case 'w':
        return 2;
    case 'l':
        return 4;
    default:
        return 8;
    }
}

static char *mem_cmd(Vm *vm, char **w, unsigned int n)
{
    bool write = w[0][0] == 'w';
    unsigned int size = width(w[0]);
    uint64_t addr, val = 0;
    uint8_t data[8];

    if (n < (write ? 3u : 2u) || !parse_u64(w[1], &addr) ||
        (write && !parse_u64(w[2], &val))) {
        return g_strdup_printf("FAIL bad arguments to %s\n", w[0]);
    }
    for (unsigned int i = 0; i < size; i++) {
        data[i] = (uint8_t)(val >> (8 * i));
    }
    if (write) {
        mem_write(vm, addr, data, size, size);
        return g_strdup("OK\n");
    }
    mem_read(vm, addr, data, size, size);
    val = 0;
    for (unsigned int i = 0; i < size; i++) {
        val |= (uint64_t)data[i] << (8 * i);
    }
    return g_strdup_printf("OK 0x%016" PRIx64 "\n", val);
}

static char *buf_cmd(Vm *vm, char **w, unsigned int n)
{
    uint64_t addr, size, val;
    g_autofree uint8_t *buf = NULL;

    if (n < 3 || !parse_u64(w[1], &addr) || !parse_u64(w[2], &size) ||
        size > QTEST_MAX_SIZE) {
        return g_strdup_printf("FAIL bad arguments to %s\n", w[0]);
    }
    buf = g_malloc0(size ? size : 1);
    if (!strcmp(w[0], "read")) {
        GString *out = g_string_sized_new(2 * size + 8);

        mem_read(vm, addr, buf, size, 8);
        g_string_append(out, "OK 0x");
        for (uint64_t i = 0; i < size; i++) {
            g_string_append_printf(out, "%02x", buf[i]);
        }
        g_string_append_c(out, '\n');
        return g_string_free(out, FALSE);
    }
    if (!strcmp(w[0], "memset")) {
        if (n < 4 || !parse_u64(w[3], &val) || val > 0xff) {
            return g_strdup("FAIL bad arguments to memset\n");
        }
        memset(buf, (int)val, size);
    } else {
        const char *hex = n >= 4 ? w[3] : "";

        if (g_str_has_prefix(hex, "0x")) {
            hex += 2;
        }
        if (strlen(hex) > 2 * size) {
            return g_strdup("FAIL write: more data than size\n");
        }
        for (uint64_t i = 0; i < size && hex[2 * i] && hex[2 * i + 1]; i++) {
            int hi = g_ascii_xdigit_value(hex[2 * i]);
            int lo = g_ascii_xdigit_value(hex[2 * i + 1]);

            if (hi < 0 || lo < 0) {
                return g_strdup("FAIL write: bad hex data\n");
            }
            buf[i] = (uint8_t)(hi << 4 | lo);
        }
    }
    mem_write(vm, addr, buf, size, 8);
    return g_strdup("OK\n");
}

char *qtest_execute(Vm *vm, const char *line)
{
    g_auto(GStrv) w = g_strsplit_set(line, " \t", -1);
    unsigned int n = 0;
    char **words;

    /* Drop the empty words doubled spaces leave. */
    for (unsigned int i = 0; w[i]; i++) {
        if (*w[i]) {
            w[n++] = w[i];
        } else {
            g_free(w[i]);
        }
    }
    w[n] = NULL;
    words = w;
    if (!n) {
        return g_strdup("FAIL empty command\n");
    }
    /* kestrel's own: make a system call of a -sandbox group */
    if (!strcmp(words[0], "sandbox-probe") && (n == 2 || n == 3)) {
        return sandbox_probe(words[1], n == 3 && !strcmp(words[2], "thread"));
    }
    if (!vm->mem && strcmp(words[0], "inb") && strcmp(words[0], "outb")) {
        return g_strdup("FAIL this machine has no memory\n");
    }
    if (!strcmp(words[0], "outb") || !strcmp(words[0], "outw") ||
        !strcmp(words[0], "outl") || !strcmp(words[0], "inb") ||
        !strcmp(words[0], "inw") || !strcmp(words[0], "inl")) {
        return io_cmd(vm, words, n);
    }
    if (g_str_has_prefix(words[0], "write") && strlen(words[0]) == 6) {
        return mem_cmd(vm, words, n);
    }
    if (g_str_has_prefix(words[0], "read") && strlen(words[0]) == 5) {
        return mem_cmd(vm, words, n);
    }
    if (!strcmp(words[0], "read") || !strcmp(words[0], "write") ||
        !strcmp(words[0], "memset")) {
        return buf_cmd(vm, words, n);
    }
    return g_strdup_printf("FAIL Unknown command '%s'\n",
                           g_strcanon(words[0], G_CSET_a_2_z G_CSET_A_2_Z
                                      G_CSET_DIGITS "_-", '?'));
}

static void client_free(gpointer p)
{
    QtestClient *c = p;

    if (c->src) {
        g_source_remove(c->src);
    }
    close(c->fd);
    g_string_free(c->in, TRUE);
    g_free(c);
}

static bool write_all(int fd, const char *s, size_t len)
{
    while (len) {
        ssize_t n = write(fd, s, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        s += n;
        len -= (size_t)n;
    }
    return true;
}

static gboolean client_readable(gint fd, GIOCondition cond, gpointer opaque)
{
    QtestClient *c = opaque;
    char buf[65536];
    ssize_t n = read(fd, buf, sizeof(buf));
    char *nl;

    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        return G_SOURCE_CONTINUE;
    }
    if (n <= 0 || c->in->len + (size_t)n > QTEST_MAX_LINE) {
        c->src = 0;
        g_ptr_array_remove(c->q->clients, c);
        return G_SOURCE_REMOVE;
    }
    g_string_append_len(c->in, buf, n);
    while ((nl = memchr(c->in->str, '\n', c->in->len))) {
        g_autofree char *line = g_strndup(c->in->str,
                                          (gsize)(nl - c->in->str));
        g_autofree char *answer = qtest_execute(c->q->vm, line);

        g_string_erase(c->in, 0, nl - c->in->str + 1);
        if (!write_all(c->fd, answer, strlen(answer))) {
            c->src = 0;
            g_ptr_array_remove(c->q->clients, c);
            return G_SOURCE_REMOVE;
        }
    }
    return G_SOURCE_CONTINUE;
}

static void add_client(Qtest *q, int fd)
{
    QtestClient *c = g_new0(QtestClient, 1);

    c->q = q;
    c->fd = fd;
    c->in = g_string_new(NULL);
    c->src = g_unix_fd_add(fd, G_IO_IN | G_IO_HUP | G_IO_ERR,
                           client_readable, c);
    g_ptr_array_add(q->clients, c);
}

static gboolean accept_cb(gint fd, GIOCondition cond, gpointer opaque)
{
    Qtest *q = opaque;
    int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

    if (c >= 0) {
        add_client(q, c);
    }
    return G_SOURCE_CONTINUE;
}

Qtest *qtest_new(Vm *vm, const char *spec, GError **errp)
{
    g_autoptr(Qtest) q = g_new0(Qtest, 1);
    g_auto(GStrv) parts = NULL;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    bool server = false;
    int fd;

    q->vm = vm;
    q->listen_fd = -1;
    q->clients = g_ptr_array_new_with_free_func(client_free);
    if (!g_str_has_prefix(spec, "unix:")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "-qtest %s: kestrel's qtest takes unix:PATH[,server=on"
                    "[,wait=off]]", spec);
        return NULL;
    }
    parts = g_strsplit(spec + 5, ",", -1);
    for (unsigned int i = 1; parts[i]; i++) {
        if (!strcmp(parts[i], "server=on") || !strcmp(parts[i], "server")) {
            server = true;
        } else if (strcmp(parts[i], "wait=off") &&
                   strcmp(parts[i], "nowait")) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                        "-qtest %s: option '%s' is not supported", spec,
                        parts[i]);
            return NULL;
        }
    }
    if (strlen(parts[0]) >= sizeof(sa.sun_path) || !parts[0][0]) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "-qtest %s: bad socket path", spec);
        return NULL;
    }
    strcpy(sa.sun_path, parts[0]);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "-qtest %s: %s", spec, g_strerror(errno));
        return NULL;
    }
    if (server) {
        unlink(parts[0]);
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            listen(fd, 4) < 0) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                        "-qtest %s: %s", spec, g_strerror(errno));
            close(fd);
            return NULL;
        }
        q->listen_fd = fd;
        q->unlink_path = g_strdup(parts[0]);
        q->listen_src = g_unix_fd_add(fd, G_IO_IN, accept_cb, q);
    } else {
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                        "-qtest %s: Failed to connect to '%s': %s", spec,
                        parts[0], g_strerror(errno));
            close(fd);
            return NULL;
        }
        add_client(q, fd);
    }
    return g_steal_pointer(&q);
}

void qtest_free(Qtest *q)
{
    if (!q) {
        return;
    }
    if (q->listen_src) {
        g_source_remove(q->listen_src);
    }
    if (q->listen_fd >= 0) {
        close(q->listen_fd);
    }
    if (q->unlink_path) {
        unlink(q->unlink_path);
    }
    g_ptr_array_unref(q->clients);
    g_free(q->unlink_path);
    g_free(q);
}
