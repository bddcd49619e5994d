/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmdline-chardev: -chardev, -serial, -qmp, -mon and -monitor, the DEV
 * syntax they share, and the checks after the last option: every chardev
 * named exists and has one user, stdio has one, and the default serial
 * port (-nographic, -nodefaults, -daemonize).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cmdline-internal.h"
#include "error.h"
#include "keyval.h"

static ChardevConfig *cmdline_chardev_new(const char *id,
                                          ChardevBackend backend)
{
    ChardevConfig *chr = g_new0(ChardevConfig, 1);

    chr->id = g_strdup(id);
    chr->backend = backend;
    chr->fd = -1;
    chr->signal = true;
    return chr;
}

/* Append @chr (taken, even on failure) to the config under its id. */
static bool cmdline_add_chardev(CmdlineState *s, ChardevConfig *chr,
                                GError **errp)
{
    if (vm_config_find_chardev(s->cfg, chr->id)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Duplicate ID '%s' for chardev", chr->id);
        vm_config_chardev_free(chr);
        return false;
    }
    g_hash_table_insert(s->chardev_locs, g_strdup(chr->id),
                        g_strdup(s->loc));
    g_ptr_array_add(s->cfg->chardevs, chr);
    return true;
}

/* ---- socket chardevs ---------------------------------------------------- */

/* Decimal only: the string goes to getaddrinfo() as it is. */
static bool cmdline_check_port(const char *port, GError **errp)
{
    uint64_t n;

    if (port[strspn(port, "0123456789")] != '\0' ||
        !keyval_parse_uint("port", port, 65535, &n, NULL)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Parameter 'port' expects a port number from 0 to 65535");
        return false;
    }
    return true;
}

/* server= and wait= (wait defaults to on, and only a server waits). */
static bool cmdline_socket_mode(KeyvalList *kv, ChardevConfig *chr,
                                GError **errp)
{
    if (!keyval_get_bool(kv, "server", false, &chr->server, errp)) {
        return false;
    }
    if (keyval_has(kv, "wait") && !chr->server) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Parameter 'wait' is only valid with server=on");
        return false;
    }
    return keyval_get_bool(kv, "wait", chr->server, &chr->wait, errp);
}

static bool cmdline_chardev_socket(KeyvalList *kv, ChardevConfig *chr,
                                   GError **errp)
{
    const char *path = keyval_get_str(kv, "path");
    const char *host = keyval_get_str(kv, "host");
    const char *port = keyval_get_str(kv, "port");
    bool has_fd = keyval_has(kv, "fd");
    uint64_t fd;

    if ((path != NULL) + (host || port) + has_fd != 1) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "socket chardev '%s' needs exactly one of path=PATH, "
                    "host=HOST,port=PORT or fd=N", chr->id);
        return false;
    }
    if (has_fd) {
        if (!keyval_get_uint(kv, "fd", 0, G_MAXINT, &fd, errp)) {
            return false;
        }
        chr->fd = (int)fd;
    } else if (path) {
        if (!*path) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "Parameter 'path' is missing");
            return false;
        }
        chr->path = g_strdup(path);
    } else {
        if (!host) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "Parameter 'host' is missing");
            return false;
        }
        if (!port) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "Parameter 'port' is missing");
            return false;
        }
        if (!cmdline_check_port(port, errp)) {
            return false;
        }
        chr->is_tcp = true;
        chr->host = g_strdup(host);
        chr->port = g_strdup(port);
    }
    return cmdline_socket_mode(kv, chr, errp);
}

static bool cmdline_chardev_file(KeyvalList *kv, ChardevConfig *chr,
                                 GError **errp)
{
    const char *path = keyval_get_str(kv, "path");

    if (!path || !*path) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Parameter 'path' is missing");
        return false;
    }
    chr->path = g_strdup(path);
    return keyval_get_bool(kv, "append", false, &chr->append, errp);
}

static bool cmdline_chardev_stdio(KeyvalList *kv, ChardevConfig *chr,
                                  GError **errp)
{
    return keyval_get_bool(kv, "signal", true, &chr->signal, errp);
}

/* -chardev backends, sorted; parse is NULL when only id= is taken. */
static const struct {
    const char *name;
    ChardevBackend backend;
    bool (*parse)(KeyvalList *kv, ChardevConfig *chr, GError **errp);
} cmdline_chardev_backends[] = {
    { "file", CHARDEV_FILE, cmdline_chardev_file },
    { "null", CHARDEV_NULL, NULL },
    { "pty", CHARDEV_PTY, NULL },
    { "socket", CHARDEV_SOCKET, cmdline_chardev_socket },
    { "stdio", CHARDEV_STDIO, cmdline_chardev_stdio },
};

/* QEMU's other backends: refused as unsupported rather than unknown. */
static const char *const cmdline_chardev_unsupported[] = {
    "braille", "console", "dbus", "memory", "msmouse", "mux", "parallel",
    "parport", "pipe", "qemu-vdagent", "ringbuf", "serial", "spiceport",
    "spicevmc", "testdev", "tty", "udp", "vc", "wctablet", NULL,
};

/*
 * The DEV of -serial/-qmp/-monitor (QEMU's "compat" chardev syntax):
 * stdio, pty, null, file:PATH, unix:PATH[,server=on][,wait=off],
 * tcp:[HOST]:PORT[,server=on][,wait=off]. "none" and "chardev:ID" are the
 * callers' business. Returns the new chardev named @id, or NULL.
 */
static ChardevConfig *cmdline_chardev_from_spec(const char *spec,
                                                const char *id,
                                                GError **errp)
{
    static const char *const unsupported[] = {
        "mon:", "telnet:", "tn3270:", "websocket:", "udp:", "pipe:",
        "vc", "/dev/", "msmouse", "braille", "wctablet", "testdev",
        "spicevmc", "spiceport", "COM", "memory", "ringbuf", NULL,
    };
    g_autoptr(KeyvalList) kv = NULL;
    ChardevConfig *chr = NULL;
    const char *rest;

    if (g_str_equal(spec, "stdio")) {
        return cmdline_chardev_new(id, CHARDEV_STDIO);
    }
    if (g_str_equal(spec, "pty")) {
        return cmdline_chardev_new(id, CHARDEV_PTY);
    }
    if (g_str_equal(spec, "null")) {
        return cmdline_chardev_new(id, CHARDEV_NULL);
    }
    if (g_str_has_prefix(spec, "file:")) {
        if (spec[5] == '\0') {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "Parameter 'path' is missing");
            return NULL;
        }
        chr = cmdline_chardev_new(id, CHARDEV_FILE);
        chr->path = g_strdup(spec + 5);         /* no escaping, as QEMU */
        return chr;
    }
    if (g_str_has_prefix(spec, "unix:")) {
        const char *path;

        kv = keyval_parse(spec + 5, "path", errp);
        if (!kv) {
            return NULL;
        }
        path = keyval_get_str(kv, "path");
        if (!path || !*path) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "Parameter 'path' is missing");
            return NULL;
        }
        chr = cmdline_chardev_new(id, CHARDEV_SOCKET);
        chr->path = g_strdup(path);
    } else if (g_str_has_prefix(spec, "tcp:")) {
        g_autofree char *addr = NULL;
        const char *colon;

        rest = spec + 4;
        addr = g_strndup(rest, strcspn(rest, ","));
        rest += strlen(addr);
        if (addr[0] == '[') {
            colon = strstr(addr, "]:");
            colon = colon ? colon + 1 : NULL;
        } else {
            colon = strchr(addr, ':');
        }
        if (!colon) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "'%s' is not of the form tcp:HOST:PORT", spec);
            return NULL;
        }
        if (!cmdline_check_port(colon + 1, errp)) {
            return NULL;
        }
        kv = keyval_parse(*rest == ',' ? rest + 1 : rest, NULL, errp);
        if (!kv) {
            return NULL;
        }
        chr = cmdline_chardev_new(id, CHARDEV_SOCKET);
        chr->is_tcp = true;
        if (addr[0] == '[') {
            chr->host = g_strndup(addr + 1, colon - addr - 2);
        } else {
            chr->host = g_strndup(addr, colon - addr);  /* "" = any */
        }
        chr->port = g_strdup(colon + 1);
    } else {
        for (guint i = 0; unsupported[i]; i++) {
            if (g_str_has_prefix(spec, unsupported[i])) {
                g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                            "character device '%s' is not supported by "
                            "kestrel", spec);
                return NULL;
            }
        }
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "'%s' is not a valid character device: use stdio, pty, "
                    "null, file:PATH, unix:PATH, tcp:HOST:PORT or "
                    "chardev:ID", spec);
        return NULL;
    }

    if (!cmdline_socket_mode(kv, chr, errp) ||
        !keyval_check_unused(kv, errp)) {
        vm_config_chardev_free(chr);
        return NULL;
    }
    return chr;
}

bool cmdline_opt_chardev(CmdlineState *s, const char *arg, GError **errp)
{
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "backend", errp);
    const char *backend;
    const char *id;
    ChardevConfig *chr;
    guint i;

    if (!kv) {
        return false;
    }
    backend = keyval_get_str(kv, "backend");
    if (keyval_is_help(backend)) {
        fprintf(s->out, "Available chardev backend types:\n");
        for (i = 0; i < G_N_ELEMENTS(cmdline_chardev_backends); i++) {
            fprintf(s->out, "  %s\n", cmdline_chardev_backends[i].name);
        }
        s->exit = true;
        return true;
    }
    if (!backend) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Parameter 'backend' is missing");
        return false;
    }
    for (i = 0; i < G_N_ELEMENTS(cmdline_chardev_backends); i++) {
        if (g_str_equal(cmdline_chardev_backends[i].name, backend)) {
            break;
        }
    }
    if (i == G_N_ELEMENTS(cmdline_chardev_backends)) {
        if (g_strv_contains(cmdline_chardev_unsupported, backend)) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                        "chardev backend '%s' is not supported by kestrel",
                        backend);
        } else {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "'%s' is not a valid chardev backend", backend);
        }
        return false;
    }
    id = keyval_get_str(kv, "id");
    if (!id) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Parameter 'id' is missing");
        return false;
    }
    if (!cmdline_check_id(id, errp)) {
        return false;
    }
    chr = cmdline_chardev_new(id, cmdline_chardev_backends[i].backend);
    if ((cmdline_chardev_backends[i].parse &&
         !cmdline_chardev_backends[i].parse(kv, chr, errp)) ||
        !keyval_check_unused(kv, errp)) {
        vm_config_chardev_free(chr);
        return false;
    }
    return cmdline_add_chardev(s, chr, errp);
}

/* Add a monitor on chardev @chardev, or on a new one from @spec. */
static bool cmdline_add_monitor(CmdlineState *s, const char *id,
                                const char *chardev, MonitorMode mode,
                                bool pretty, GError **errp)
{
    MonitorConfig *mon;

    if (id) {
        if (g_hash_table_contains(s->monitor_ids, id)) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "Duplicate ID '%s' for mon", id);
            return false;
        }
        g_hash_table_add(s->monitor_ids, g_strdup(id));
    }
    mon = g_new0(MonitorConfig, 1);
    mon->id = g_strdup(id);
    mon->chardev = g_strdup(chardev);
    mon->mode = mode;
    mon->pretty = pretty;
    g_ptr_array_add(s->cfg->monitors, mon);
    cmdline_add_ref(s, s->loc, chardev);
    return true;
}

/* -qmp, -qmp-pretty, -monitor: DEV is a chardev:ID or a compat spec. */
static bool cmdline_monitor_spec(CmdlineState *s, const char *spec,
                                 MonitorMode mode, bool pretty,
                                 GError **errp)
{
    g_autofree char *label = NULL;

    if (g_str_has_prefix(spec, "chardev:")) {
        label = g_strdup(spec + 8);
    } else {
        ChardevConfig *chr;

        label = g_strdup_printf("compat_monitor%u", s->compat_monitors);
        chr = cmdline_chardev_from_spec(spec, label, errp);
        if (!chr || !cmdline_add_chardev(s, chr, errp)) {
            return false;
        }
    }
    s->compat_monitors++;
    return cmdline_add_monitor(s, label, label, mode, pretty, errp);
}

bool cmdline_opt_mon(CmdlineState *s, const char *arg, GError **errp)
{
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "chardev", errp);
    const char *chardev;
    const char *mode;
    const char *id;
    MonitorMode m = MONITOR_MODE_READLINE;      /* QEMU's default */
    bool pretty;

    if (!kv) {
        return false;
    }
    chardev = keyval_get_str(kv, "chardev");
    mode = keyval_get_str(kv, "mode");
    id = keyval_get_str(kv, "id");
    if (!chardev) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Parameter 'chardev' is missing");
        return false;
    }
    if (mode && g_str_equal(mode, "control")) {
        m = MONITOR_MODE_CONTROL;
    } else if (mode && !g_str_equal(mode, "readline")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Parameter 'mode' expects 'control' or 'readline'");
        return false;
    }
    if (!keyval_get_bool(kv, "pretty", false, &pretty, errp)) {
        return false;
    }
    if (pretty && m == MONITOR_MODE_READLINE) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "'pretty' is not compatible with HMP monitors");
        return false;
    }
    if (id && !cmdline_check_id(id, errp)) {
        return false;
    }
    if (!keyval_check_unused(kv, errp)) {
        return false;
    }
    return cmdline_add_monitor(s, id, chardev, m, pretty, errp);
}

bool cmdline_opt_monitor(CmdlineState *s, const char *arg, GError **errp)
{
    if (g_str_equal(arg, "none")) {
        return true;
    }
    return cmdline_monitor_spec(s, arg, MONITOR_MODE_READLINE, false, errp);
}

bool cmdline_opt_qmp(CmdlineState *s, const char *arg, GError **errp)
{
    return cmdline_monitor_spec(s, arg, MONITOR_MODE_CONTROL, false, errp);
}

bool cmdline_opt_qmp_pretty(CmdlineState *s, const char *arg, GError **errp)
{
    return cmdline_monitor_spec(s, arg, MONITOR_MODE_CONTROL, true, errp);
}

bool cmdline_opt_serial(CmdlineState *s, const char *arg, GError **errp)
{
    GPtrArray *serials = s->cfg->serials;
    g_autofree char *id = NULL;

    s->serial_given = true;
    if (g_str_equal(arg, "none")) {
        return true;                    /* no port, and no default one */
    }
    if (serials->len >= CMDLINE_MAX_SERIALS) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "too many serial ports: kestrel has %d (COM1 to COM%d)",
                    CMDLINE_MAX_SERIALS, CMDLINE_MAX_SERIALS);
        return false;
    }
    if (g_str_has_prefix(arg, "chardev:")) {
        id = g_strdup(arg + 8);
    } else {
        ChardevConfig *chr;

        id = g_strdup_printf("serial%u", serials->len);
        chr = cmdline_chardev_from_spec(arg, id, errp);
        if (!chr || !cmdline_add_chardev(s, chr, errp)) {
            return false;
        }
    }
    cmdline_add_ref(s, s->loc, id);
    g_ptr_array_add(serials, g_steal_pointer(&id));
    return true;
}

static ChardevConfig *cmdline_find_stdio(const VmConfig *cfg)
{
    for (guint i = 0; i < cfg->chardevs->len; i++) {
        ChardevConfig *chr = g_ptr_array_index(cfg->chardevs, i);

        if (chr->backend == CHARDEV_STDIO) {
            return chr;
        }
    }
    return NULL;
}

/*
 * The default serial port (when no -serial, -device isa-serial or
 * -nodefaults): serial0 on stdio, unless -daemonize takes stdio away. As in
 * QEMU, -nographic with -daemonize is an error only when that default would
 * be used. Without -nographic, a stdio already taken (-qmp stdio) leaves
 * the default out, where QEMU would put it on a graphical console.
 */
bool cmdline_finish_default_serial(CmdlineState *s, GError **errp)
{
    VmConfig *cfg = s->cfg;
    ChardevConfig *chr;

    if (s->serial_given || cfg->nodefaults) {
        return true;
    }
    if (cfg->daemonize) {
        if (cfg->nographic) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "-nographic cannot be used with -daemonize");
            return false;
        }
        return true;
    }
    if (!cfg->nographic && cmdline_find_stdio(cfg)) {
        return true;
    }
    s->loc = cfg->nographic ? "-nographic" : "default serial port";
    chr = cmdline_chardev_new("serial0", CHARDEV_STDIO);
    if (!cmdline_add_chardev(s, chr, errp)) {
        g_prefix_error(errp, "%s: ", s->loc);
        return false;
    }
    g_ptr_array_add(cfg->serials, g_strdup("serial0"));
    cmdline_add_ref(s, s->loc, "serial0");
    return true;
}

bool cmdline_finish_chardevs(CmdlineState *s, GError **errp)
{
    VmConfig *cfg = s->cfg;
    g_autoptr(GHashTable) users = g_hash_table_new(g_str_hash, g_str_equal);
    const char *stdio_id = NULL;

    for (guint i = 0; i < s->refs->len; i++) {
        CmdlineRef *ref = g_ptr_array_index(s->refs, i);

        if (!vm_config_find_chardev(cfg, ref->chardev)) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "%s: chardev '%s' not found", ref->loc,
                        ref->chardev);
            return false;
        }
        if (!g_hash_table_add(users, ref->chardev)) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "%s: chardev '%s' is already in use", ref->loc,
                        ref->chardev);
            return false;
        }
    }

    for (guint i = 0; i < cfg->chardevs->len; i++) {
        ChardevConfig *chr = g_ptr_array_index(cfg->chardevs, i);
        const char *loc = g_hash_table_lookup(s->chardev_locs, chr->id);

        if (chr->backend != CHARDEV_STDIO) {
            continue;
        }
        if (cfg->daemonize) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "%s: cannot use stdio with -daemonize", loc);
            return false;
        }
        if (stdio_id) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "%s: chardev '%s' cannot use stdio, which chardev "
                        "'%s' already uses", loc, chr->id, stdio_id);
            return false;
        }
        stdio_id = chr->id;
    }
    return true;
}
