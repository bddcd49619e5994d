/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the daemon's libvirt RPC server (driver/rpc.c) and
 * the XDR decoding of every procedure it serves (the tables of
 * driver/dispatch-*.c, rpcgen's driver/remote_protocol.c). The first
 * byte of an input picks:
 *
 *   even  the rest is what one client sends on a fresh connection to a
 *         server listening on a UNIX socket, then it shuts down its
 *         writing side and reads every reply until the server closes:
 *         framing, length limits, headers, keepalive, streams, the calls'
 *         arguments decoded and freed, error replies
 *   odd   the next two bytes pick a served procedure; the rest is its
 *         arguments, decoded with its XDR filter and freed
 *
 * The handlers are stand-ins: CONNECT_OPEN opens the connection, every
 * other procedure decodes its arguments and answers an error (the real
 * ones need a running daemon). Errors are expected; a crash, leak or hang
 * is a bug. With KESTREL_FUZZ_SEEDS=DIR set, the target writes its seeds
 * there (an open, a lookup, a define, a ping) and exits.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "dispatch.h"
#include "rpc.h"
#include "virerror.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static RpcProc *procs;
static size_t nprocs;
static RpcServer *srv;
static char *dir, *sock_path;

static RpcResult open_handler(RpcCall *call, void *args, void *ret,
                              GError **errp)
{
    rpc_conn_set_opened(rpc_call_get_conn(call));
    return RPC_RESULT_OK;
}

static RpcResult stub_handler(RpcCall *call, void *args, void *ret,
                              GError **errp)
{
    g_set_error(errp, VIR_ERROR, VIR_ERR_NO_SUPPORT,
                "this function is not supported by the fuzz target: %s",
                rpc_call_get_proc(call)->name);
    return RPC_RESULT_ERROR;
}

static const RpcProc open_proc = {
    REMOTE_PROC_CONNECT_OPEN, "virConnectOpen",
    (xdrproc_t)xdr_remote_connect_open_args,
    sizeof(remote_connect_open_args), (xdrproc_t)rpc_xdr_void, 1,
    open_handler, RPC_PROC_BEFORE_OPEN | RPC_PROC_READONLY_OK,
};

static int proc_cmp(const void *a, const void *b)
{
    int x = ((const RpcProc *)a)->proc, y = ((const RpcProc *)b)->proc;

    return (x > y) - (x < y);
}

static void add_procs(const RpcProc *table, size_t n)
{
    procs = g_renew(RpcProc, procs, nprocs + n);
    for (size_t i = 0; i < n; i++) {
        procs[nprocs] = table[i];
        procs[nprocs].handler = stub_handler;
        nprocs++;
    }
}

static const RpcProc *find_proc(int proc)
{
    RpcProc key = { .proc = proc };

    return bsearch(&key, procs, nprocs, sizeof(*procs), proc_cmp);
}

static void *conn_new(RpcConn *conn)
{
    return NULL;
}

static void conn_free(void *data)
{
}

static int error_code(const GError *err, int *domain)
{
    *domain = VIR_FROM_RPC;
    return VIR_ERR_INTERNAL_ERROR;
}

static bool check_call(RpcConn *conn, const RpcProc *proc, GError **errp)
{
    return true;
}

static const RpcServerOps ops = {
    .find_proc = find_proc,
    .conn_new = conn_new,
    .conn_free = conn_free,
    .error_code = error_code,
    .check_call = check_call,
};

static void cleanup(void)
{
    if (srv) {
        rpc_server_free(srv);       /* unlinks the socket */
    }
    if (dir) {
        rmdir(dir);
    }
}

/* --- the two modes -------------------------------------------------- */

static void run_conn(const uint8_t *data, size_t size)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t sent = 0;
    bool shut = false;
    char buf[65536];
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    g_strlcpy(sa.sun_path, sock_path, sizeof(sa.sun_path));
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        fprintf(stderr, "fuzz-rpc: connect: %s\n", g_strerror(errno));
        abort();
    }
    /* Until the server closes: a server that never does is a hang,
     * which libFuzzer's -timeout reports. */
    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        ssize_t n;

        if (sent < size) {
            n = write(fd, data + sent, size - sent);
            if (n > 0) {
                sent += n;
            }
        } else if (!shut) {
            shutdown(fd, SHUT_WR);
            shut = true;
        }
        while (g_main_context_iteration(NULL, FALSE)) {
        }
        n = read(fd, buf, sizeof(buf));
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            break;
        }
        if (n < 0) {
            /* nothing yet: wait for the server's loop, or for a reply */
            poll(&pfd, 1, 1);
        }
    }
    close(fd);
    while (g_main_context_iteration(NULL, FALSE)) {
    }
}

static void run_xdr(const uint8_t *data, size_t size)
{
    const RpcProc *p = &procs[(data[0] | data[1] << 8) % nprocs];
    g_autofree void *args = g_malloc0(p->args_size);
    XDR xdr;

    xdrmem_create(&xdr, (char *)data + 2, size - 2, XDR_DECODE);
    (void)p->args_filter(&xdr, args);
    xdr_destroy(&xdr);
    /* what a failed decode left half-made is freed too, as rpc.c does */
    xdr_free(p->args_filter, args);
}

/* --- seeds ---------------------------------------------------------- */

static void put_msg(GByteArray *out, int prog, int proc, int type,
                    xdrproc_t filter, void *args)
{
    char buf[4096];
    XDR xdr;
    remote_message_header hdr = {
        .prog = prog, .vers = 1, .proc = proc, .type = type,
        .serial = out->len, .status = REMOTE_OK,
    };
    guint32 be;

    xdrmem_create(&xdr, buf + 4, sizeof(buf) - 4, XDR_ENCODE);
    if (!xdr_remote_message_header(&xdr, &hdr) ||
        (filter && !filter(&xdr, args))) {
        abort();
    }
    be = GUINT32_TO_BE(xdr_getpos(&xdr) + 4);
    memcpy(buf, &be, 4);
    g_byte_array_append(out, (guint8 *)buf, xdr_getpos(&xdr) + 4);
    xdr_destroy(&xdr);
}

static void write_seeds(const char *d)
{
    g_autoptr(GByteArray) s = g_byte_array_new();
    g_autoptr(GError) err = NULL;
    g_autofree char *path = g_build_filename(d, "seed-session", NULL);
    char *uri = (char *)"kestrel:///system";
    remote_connect_open_args open = { .name = &uri };
    remote_domain_lookup_by_name_args lookup = { .name = (char *)"vm1" };
    remote_domain_define_xml_flags_args def = {
        .xml = (char *)"<domain type='kvm'><name>vm1</name></domain>",
    };
    guint8 zero = 0;

    g_byte_array_append(s, &zero, 1);
    put_msg(s, KREMOTE_PROGRAM, REMOTE_PROC_CONNECT_OPEN, REMOTE_CALL,
            (xdrproc_t)xdr_remote_connect_open_args, &open);
    put_msg(s, KKEEPALIVE_PROGRAM, KEEPALIVE_PROC_PING, REMOTE_MESSAGE,
            NULL, NULL);
    put_msg(s, KREMOTE_PROGRAM, REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME,
            REMOTE_CALL, (xdrproc_t)xdr_remote_domain_lookup_by_name_args,
            &lookup);
    put_msg(s, KREMOTE_PROGRAM, REMOTE_PROC_DOMAIN_DEFINE_XML_FLAGS,
            REMOTE_CALL, (xdrproc_t)xdr_remote_domain_define_xml_flags_args,
            &def);
    if (!g_file_set_contents(path, (char *)s->data, s->len, &err)) {
        fprintf(stderr, "%s\n", err->message);
        exit(1);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *seeds = getenv("KESTREL_FUZZ_SEEDS");
    g_autofree char *tmpl = NULL;
    g_autoptr(GError) err = NULL;

    if (seeds) {
        write_seeds(seeds);
        exit(0);
    }
    procs = g_new(RpcProc, 1);
    procs[0] = open_proc;
    nprocs = 1;
    add_procs(dispatch_domain_procs, dispatch_domain_nprocs);
    add_procs(dispatch_memory_procs, dispatch_memory_nprocs);
    add_procs(dispatch_stats_procs, dispatch_stats_nprocs);
    add_procs(dispatch_node_procs, dispatch_node_nprocs);
    add_procs(dispatch_save_procs, dispatch_save_nprocs);
    add_procs(dispatch_migrate_procs, dispatch_migrate_nprocs);
    add_procs(dispatch_devices_procs, dispatch_devices_nprocs);
    add_procs(dispatch_console_procs, dispatch_console_nprocs);
    qsort(procs, nprocs, sizeof(*procs), proc_cmp);

    tmpl = g_build_filename(g_get_tmp_dir(), "kestrel-fuzz-rpc.XXXXXX",
                            NULL);
    dir = g_mkdtemp(g_strdup(tmpl));
    if (!dir) {
        fprintf(stderr, "fuzz-rpc: %s: %s\n", tmpl, g_strerror(errno));
        exit(1);
    }
    sock_path = g_build_filename(dir, "sock", NULL);
    srv = rpc_server_new(&ops);
    if (!rpc_server_add_unix(srv, sock_path, 0600, false, &err)) {
        fprintf(stderr, "fuzz-rpc: %s\n", err->message);
        exit(1);
    }
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    if (data[0] & 1) {
        if (size >= 3) {
            run_xdr(data + 1, size - 1);
        }
    } else {
        run_conn(data + 1, size - 1);
    }
    return 0;
}
