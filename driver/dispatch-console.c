/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Consoles (virsh console, virDomainOpenConsole): the daemon opens the
 * pty of the domain's serial port and relays it both ways over a stream
 * of the connection (reference/libvirt-rpc.md section 11).
 *
 * One console per domain, as libvirt's chrdev locks: a second open fails
 * unless forced, and a forced one ends the first with an error.  Output
 * of the guest is read only while the client keeps up (rpc_stream_send);
 * when it does not, the pty fills and kestrel drops the guest's output
 * rather than stall its vCPU.  Input for a guest that does not read is
 * kept up to CONSOLE_INPUT_MAX bytes and dropped beyond, like a serial
 * line without flow control.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <glib-unix.h>

#include "dispatch.h"
#include "process.h"
#include "virerror.h"

/* virDomainConsoleFlags (wire values). */
#define CONSOLE_FORCE 1u
#define CONSOLE_SAFE 2u

#define CONSOLE_READ_MAX 65536          /* per STREAM packet */
#define CONSOLE_INPUT_MAX (64 << 10)    /* keystrokes the guest has not
                                         * taken yet */

typedef struct {
    DomainObj *dom;             /* a reference */
    RpcStream *st;              /* NULL once it is gone */
    int fd;                     /* the pty, -1 once closed */
    guint in_watch;             /* guest output; 0 while paused */
    guint out_watch;            /* input waiting for the pty */
    GByteArray *input;
    bool dropped;               /* input dropped: said once in the log */
} Console;

/* uuid string -> Console holding the domain's pty (at most one). */
static GHashTable *consoles;

static void console_close_pty(Console *con)
{
    if (con->in_watch) {
        g_source_remove(con->in_watch);
        con->in_watch = 0;
    }
    if (con->out_watch) {
        g_source_remove(con->out_watch);
        con->out_watch = 0;
    }
    if (con->fd >= 0) {
        close(con->fd);
        con->fd = -1;
    }
    if (consoles &&
        g_hash_table_lookup(consoles, con->dom->uuidstr) == con) {
        g_hash_table_remove(consoles, con->dom->uuidstr);
    }
}

static void console_free(Console *con)
{
    console_close_pty(con);
    g_byte_array_unref(con->input);
    domain_obj_unref(con->dom);
    g_free(con);
}

/* The pty is gone (the domain stopped): end of data, the client then
 * finishes the stream. */
static void console_eof(Console *con)
{
    console_close_pty(con);
    if (con->st) {
        rpc_stream_send_eof(con->st);
    }
}

static gboolean console_readable(int fd, GIOCondition cond, void *opaque)
{
    Console *con = opaque;
    guint8 buf[CONSOLE_READ_MAX];
    ssize_t n;

    n = read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        return G_SOURCE_CONTINUE;
    }
    if (n <= 0) {
        /* EIO: kestrel closed the other side of the pty. */
        con->in_watch = 0;
        console_eof(con);
        return G_SOURCE_REMOVE;
    }
    if (!rpc_stream_send(con->st, buf, n)) {
        con->in_watch = 0;      /* until console_stream_writable */
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static void console_watch_output(Console *con)
{
    if (!con->in_watch && con->fd >= 0) {
        con->in_watch = g_unix_fd_add(con->fd,
                                      G_IO_IN | G_IO_HUP | G_IO_ERR,
                                      console_readable, con);
    }
}

/* Write what the pty takes now; false if it failed for good. */
static bool console_flush_input(Console *con)
{
    while (con->input->len > 0) {
        ssize_t n = write(con->fd, con->input->data, con->input->len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            return true;
        }
        if (n <= 0) {
            return false;
        }
        g_byte_array_remove_range(con->input, 0, n);
    }
    return true;
}

static gboolean console_writable(int fd, GIOCondition cond, void *opaque)
{
    Console *con = opaque;

    if (!console_flush_input(con)) {
        con->out_watch = 0;
        console_eof(con);
        return G_SOURCE_REMOVE;
    }
    if (con->input->len > 0) {
        return G_SOURCE_CONTINUE;
    }
    con->out_watch = 0;
    return G_SOURCE_REMOVE;
}

static void console_stream_recv(RpcStream *st, const guint8 *data,
                                gsize len, void *opaque)
{
    Console *con = opaque;
    gsize room;

    if (con->fd < 0) {
        return;                 /* after EOF: nowhere to go */
    }
    room = CONSOLE_INPUT_MAX - MIN(con->input->len, CONSOLE_INPUT_MAX);
    if (len > room) {
        if (!con->dropped) {
            g_message("domain '%s': the guest does not read its console, "
                      "dropping input", con->dom->name);
            con->dropped = true;
        }
        len = room;
    }
    g_byte_array_append(con->input, data, len);
    if (!console_flush_input(con)) {
        console_eof(con);
        return;
    }
    if (con->input->len > 0 && !con->out_watch) {
        con->out_watch = g_unix_fd_add(con->fd, G_IO_OUT, console_writable,
                                       con);
    }
}

static void console_stream_close(RpcStream *st, bool abort, void *opaque)
{
    Console *con = opaque;

    con->st = NULL;
    console_free(con);
}

static void console_stream_writable(RpcStream *st, void *opaque)
{
    console_watch_output(opaque);
}

static const RpcStreamOps console_stream_ops = {
    .recv = console_stream_recv,
    .close = console_stream_close,
    .writable = console_stream_writable,
};

/* A forced open takes the console: its holder gets an error. */
static void console_take_over(Console *old)
{
    g_autoptr(GError) err =
        g_error_new(VIR_ERROR, VIR_ERR_OPERATION_FAILED,
                    "console of domain '%s' was taken over by another "
                    "session", old->dom->name);

    if (old->st) {
        rpc_stream_abort(old->st, err);
        old->st = NULL;
    }
    console_free(old);
}

void dispatch_console_domain_stopped(DomainObj *dom)
{
    Console *con = consoles ? g_hash_table_lookup(consoles, dom->uuidstr)
                            : NULL;

    if (con) {
        console_eof(con);
    }
}

/* ---- DOMAIN_OPEN_CONSOLE ---------------------------------------------- */

typedef struct {
    RpcCall *call;
    unsigned int port;          /* serial port index */
    unsigned int flags;
} ConsoleOpen;

/* The pty path of "charserialN" in a query-chardev reply, or NULL. */
static const char *console_find_pty(JsonNode *ret, unsigned int port)
{
    g_autofree char *label = g_strdup_printf("charserial%u", port);
    JsonArray *arr;
    guint i;

    if (!ret || !JSON_NODE_HOLDS_ARRAY(ret)) {
        return NULL;
    }
    arr = json_node_get_array(ret);
    for (i = 0; i < json_array_get_length(arr); i++) {
        JsonObject *o = json_array_get_object_element(arr, i);
        const char *l, *f;

        if (!o) {
            continue;
        }
        l = json_object_get_string_member_with_default(o, "label", NULL);
        f = json_object_get_string_member_with_default(o, "filename",
                                                       NULL);
        if (l && f && g_str_equal(l, label) && g_str_has_prefix(f, "pty:")) {
            return f + 4;
        }
    }
    return NULL;
}

static int console_open_pty(const char *path, GError **errp)
{
    struct termios tty;
    int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_SYSTEM_ERROR,
                    "Unable to open tty %s: %s", path, g_strerror(errno));
        return -1;
    }
    /* Bytes pass unchanged: no echo, no line editing, no CR/LF mapping. */
    if (tcgetattr(fd, &tty) == 0) {
        cfmakeraw(&tty);
        tcsetattr(fd, TCSANOW, &tty);
    }
    return fd;
}

static void console_opened(DomainObj *dom, JsonNode *ret, const GError *err,
                           void *opaque)
{
    g_autofree ConsoleOpen *op = opaque;
    g_autoptr(GError) e = NULL;
    const char *path;
    Console *con, *old;
    int fd;

    if (err) {
        rpc_call_finish(op->call, err);
        return;
    }
    if (!domain_check_active(dom, &e)) {
        rpc_call_finish(op->call, e);
        return;
    }
    path = console_find_pty(ret, op->port);
    if (!path) {
        e = g_error_new(VIR_ERROR, VIR_ERR_INTERNAL_ERROR,
                        "character device serial%u is not using a PTY",
                        op->port);
        rpc_call_finish(op->call, e);
        return;
    }
    /* Checked now, not at the call: an open may have won meanwhile. */
    old = g_hash_table_lookup(consoles, dom->uuidstr);
    if (old && !(op->flags & CONSOLE_FORCE)) {
        e = g_error_new(VIR_ERROR, VIR_ERR_OPERATION_FAILED,
                        "Active console session exists for this domain");
        rpc_call_finish(op->call, e);
        return;
    }
    fd = console_open_pty(path, &e);
    if (fd < 0) {
        rpc_call_finish(op->call, e);
        return;
    }
    if (old) {
        console_take_over(old);
    }

    con = g_new0(Console, 1);
    con->dom = domain_obj_ref(dom);
    con->fd = fd;
    con->input = g_byte_array_new();
    con->st = rpc_stream_open(op->call, &console_stream_ops, con);
    if (!con->st) {
        console_free(con);      /* the client is gone */
        rpc_call_finish(op->call, NULL);
        return;
    }
    g_hash_table_insert(consoles, dom->uuidstr, con);
    rpc_call_finish(op->call, NULL);    /* the reply precedes the data */
    console_watch_output(con);
}

/* The serial port @dev_name names (NULL: the console, serial port 0). */
static bool console_find_port(DomainObj *dom, const char *dev_name,
                              unsigned int *port, GError **errp)
{
    GPtrArray *serials = dom->def->serials;
    guint i;

    for (i = 0; i < serials->len; i++) {
        DomainChr *c = g_ptr_array_index(serials, i);
        g_autofree char *alias = g_strdup_printf("serial%u", i);

        if (!dev_name || g_str_equal(dev_name, alias) ||
            (i == 0 && g_str_equal(dev_name, "console0")) ||
            (c->alias && g_str_equal(dev_name, c->alias))) {
            if (c->type != DOMAIN_CHR_PTY) {
                g_set_error(errp, VIR_ERROR, VIR_ERR_INTERNAL_ERROR,
                            "character device %s is not using a PTY",
                            dev_name ? dev_name : alias);
                return false;
            }
            *port = i;
            return true;
        }
    }
    g_set_error(errp, VIR_ERROR, VIR_ERR_INTERNAL_ERROR,
                "cannot find character device %s",
                dev_name ? dev_name : "<null>");
    return false;
}

static RpcResult proc_open_console(RpcCall *call, void *a, void *r,
                                   GError **errp)
{
    remote_domain_open_console_args *args = a;
    const char *dev_name = args->dev_name ? *args->dev_name : NULL;
    g_autoptr(DomainObj) dom = NULL;
    ConsoleOpen *op;
    unsigned int port;

    if (args->flags & ~(CONSOLE_FORCE | CONSOLE_SAFE)) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                    "unsupported flags (0x%x) in function "
                    "virDomainOpenConsole",
                    args->flags & ~(CONSOLE_FORCE | CONSOLE_SAFE));
        return RPC_RESULT_ERROR;
    }
    dom = dispatch_get_domain(&args->dom, errp);
    if (!dom || !domain_check_active(dom, errp) ||
        !console_find_port(dom, dev_name, &port, errp)) {
        return RPC_RESULT_ERROR;
    }
    if (!consoles) {
        consoles = g_hash_table_new(g_str_hash, g_str_equal);
    }
    op = g_new0(ConsoleOpen, 1);
    op->call = call;
    op->port = port;
    op->flags = args->flags;
    /* The pty's path is live state only kestrel knows. */
    process_qmp_call(dom, "query-chardev", NULL, console_opened, op);
    return RPC_RESULT_PENDING;
}

const RpcProc dispatch_console_procs[] = {
    PROC(DOMAIN_OPEN_CONSOLE, "virDomainOpenConsole",
         remote_domain_open_console_args, VOID_T, proc_open_console, RW),
};

const size_t dispatch_console_nprocs = G_N_ELEMENTS(dispatch_console_procs);
