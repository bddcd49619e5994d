/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmdline: QEMU's command-line spelling, parsed into a VmConfig.
 *
 * Options live in one sorted table. An entry with a handler is implemented;
 * an entry without one is a QEMU option kestrel knows of and refuses
 * ("-drive: option is not supported by kestrel") rather than calling it
 * invalid. Each handler parses its value (usually with keyval) and fails on
 * any key it does not use. Errors raised while handling an option are
 * prefixed with the option as typed ("-m 1X: ..."), as QEMU does.
 *
 * Some checks need the whole command line: -serial chardev:ID and -mon may
 * name a -chardev given later, -smp options merge, and the default serial
 * port depends on -nodefaults, -daemonize and -serial. cmdline_finish()
 * does those after the last option.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"
#include "device.h"
#include "error.h"
#include "keyval.h"

/* The QEMU release whose command line and QMP kestrel follows. */
#define CMDLINE_QEMU_VERSION "7.2.0"

#define CMDLINE_MAX_CPUS 255
#define CMDLINE_MAX_SERIALS 4           /* COM1 to COM4 */
#define CMDLINE_MIB (UINT64_C(1) << 20)
#define CMDLINE_RAM_ALIGN UINT64_C(8192)

/* -smp members, merged over every -smp option; 0 means "not given". */
typedef enum {
    SMP_CPUS,
    SMP_MAXCPUS,
    SMP_SOCKETS,
    SMP_DIES,
    SMP_CLUSTERS,
    SMP_CORES,
    SMP_THREADS,
    SMP__MAX,
} SmpKey;

static const char *const smp_keys[SMP__MAX] = {
    [SMP_CPUS] = "cpus",
    [SMP_MAXCPUS] = "maxcpus",
    [SMP_SOCKETS] = "sockets",
    [SMP_DIES] = "dies",
    [SMP_CLUSTERS] = "clusters",
    [SMP_CORES] = "cores",
    [SMP_THREADS] = "threads",
};

/* A frontend's reference to a chardev, resolved after the last option. */
typedef struct {
    char *loc;                  /* the option that made it, for messages */
    char *chardev;
} CmdlineRef;

typedef struct {
    VmConfig *cfg;
    FILE *out;
    const char *loc;            /* the option being handled: "-m 1G" */
    bool exit;                  /* a help or version text was printed */
    uint64_t smp[SMP__MAX];
    bool serial_given;          /* -serial or -device isa-serial: no default */
    unsigned compat_monitors;   /* -qmp/-monitor count, for chardev ids */
    GPtrArray *refs;            /* CmdlineRef, serials then monitors */
    GHashTable *chardev_locs;   /* chardev id -> option that defined it */
    GHashTable *device_ids;     /* -device id set */
    GHashTable *monitor_ids;    /* -mon id set */
} CmdlineState;

typedef bool (*CmdlineHandler)(CmdlineState *s, const char *arg,
                               GError **errp);

typedef struct {
    const char *name;           /* without the dash */
    bool has_arg;
    CmdlineHandler handler;     /* NULL: QEMU's, not implemented by kestrel */
    const char *args;           /* for -help */
    const char *help;
} CmdlineOption;

typedef struct {
    const char *name;
    const char *desc;
} CmdlineName;

/* -machine help; the first is the default. */
static const CmdlineName cmdline_machines[] = {
    { "kestrel", "Kestrel KVM machine: direct kernel boot, PCI, ACPI" },
    { "none", "empty machine (no guest), for capability probing" },
    { "pc", "the kestrel machine, under the name libvirt's QEMU driver "
      "knows (query-machines reports it so)" },
};

static const CmdlineName cmdline_cpus[] = {
    { "host", "the host CPU, as KVM exposes it (default)" },
    { "max", "same as host" },
};


static void cmdline_ref_free(gpointer data)
{
    CmdlineRef *ref = data;

    g_free(ref->loc);
    g_free(ref->chardev);
    g_free(ref);
}

static void cmdline_add_ref(CmdlineState *s, const char *loc,
                            const char *chardev)
{
    CmdlineRef *ref = g_new0(CmdlineRef, 1);

    ref->loc = g_strdup(loc);
    ref->chardev = g_strdup(chardev);
    g_ptr_array_add(s->refs, ref);
}

/* QEMU's rule for ids: letters, digits, '-', '.', '_', starting with a
 * letter. */
static bool cmdline_check_id(const char *id, GError **errp)
{
    bool ok = g_ascii_isalpha(id[0]);

    for (const char *p = id; ok && *p; p++) {
        ok = g_ascii_isalnum(*p) || *p == '-' || *p == '.' || *p == '_';
    }
    if (!ok) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Parameter 'id' expects an identifier (letters, digits, "
                    "'-', '.' and '_', starting with a letter)");
    }
    return ok;
}

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

/* ---- option handlers ---------------------------------------------------- */

/* -device, -object, -audiodev: like QEMU, a value starting with '{' is
 * JSON, anything else KEY=VALUE with @implied_key first. */
static KeyvalList *cmdline_parse_json_or_keyval(const char *arg,
                                                const char *implied_key,
                                                GError **errp)
{
    return arg[0] == '{' ? keyval_parse_json(arg, errp)
                         : keyval_parse(arg, implied_key, errp);
}

/*
 * A boolean parameter kestrel has only one value for: @key may be absent
 * or given as @only; the other value is refused, saying @why.
 */
static bool cmdline_only_bool(KeyvalList *kv, const char *key, bool only,
                              const char *why, GError **errp)
{
    bool v;

    if (!keyval_get_bool(kv, key, only, &v, errp)) {
        return false;
    }
    if (v != only) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "Parameter '%s' only takes '%s' in kestrel: %s", key,
                    only ? "on" : "off", why);
        return false;
    }
    return true;
}

/* A string parameter kestrel accepts only from @values (NULL-ended). */
static bool cmdline_only_str(KeyvalList *kv, const char *key,
                             const char *const *values, const char *why,
                             GError **errp)
{
    const char *v = keyval_get_str(kv, key);

    if (v && !g_strv_contains(values, v)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "Parameter '%s' does not take value '%s' in kestrel: %s",
                    key, v, why);
        return false;
    }
    return true;
}

static void cmdline_print_names(FILE *out, const char *title,
                                const CmdlineName *names, size_t n)
{
    fprintf(out, "%s\n", title);
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "%-20s %s\n", names[i].name, names[i].desc);
    }
}

static bool opt_accel(CmdlineState *s, const char *arg, GError **errp)
{
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "accel", errp);
    const char *accel;

    if (!kv) {
        return false;
    }
    accel = keyval_get_str(kv, "accel");
    if (keyval_is_help(accel)) {
        fprintf(s->out, "Accelerators supported by kestrel:\nkvm\n");
        s->exit = true;
        return true;
    }
    if (!accel) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Parameter 'accel' is missing");
        return false;
    }
    if (!g_str_equal(accel, "kvm")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "accelerator '%s' is not supported by kestrel: "
                    "use -accel kvm", accel);
        return false;
    }
    if (!keyval_check_unused(kv, errp)) {
        return false;
    }
    s->cfg->kvm_requested = true;
    return true;
}

static bool opt_audiodev(CmdlineState *s, const char *arg, GError **errp)
{
    static const char *const none[] = { "none", NULL };
    g_autoptr(KeyvalList) kv = cmdline_parse_json_or_keyval(arg, "driver",
                                                             errp);
    const char *driver;
    const char *id;

    if (!kv) {
        return false;
    }
    driver = keyval_get_str(kv, "driver");
    id = keyval_get_str(kv, "id");
    if (!driver) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Parameter 'driver' is missing");
        return false;
    }
    if (!id) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Parameter 'id' is missing");
        return false;
    }
    /* Without sound devices, the null backend is all there is to have:
     * it takes nothing and plays nothing. */
    if (!cmdline_only_str(kv, "driver", none,
                          "kestrel has no sound device", errp) ||
        !cmdline_check_id(id, errp) || !keyval_check_unused(kv, errp)) {
        return false;
    }
    return true;
}

static bool opt_append(CmdlineState *s, const char *arg, GError **errp)
{
    g_free(s->cfg->append);
    s->cfg->append = g_strdup(arg);
    return true;
}

static bool opt_boot(CmdlineState *s, const char *arg, GError **errp)
{
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "order", errp);
    const char *unsupported[] = { "order", "once", "menu", "splash",
                                  "splash-time", "reboot-timeout", NULL };
    bool strict;

    if (!kv) {
        return false;
    }
    for (guint i = 0; unsupported[i]; i++) {
        if (keyval_has(kv, unsupported[i])) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                        "Parameter '%s' is not supported by kestrel: it has "
                        "no firmware and boots the -kernel directly",
                        unsupported[i]);
            return false;
        }
    }
    /* strict: boot nothing but what is listed. The -kernel is the only
     * thing kestrel ever boots, so both values hold. */
    return keyval_get_bool(kv, "strict", false, &strict, errp) &&
           keyval_check_unused(kv, errp);
}

static bool opt_chardev(CmdlineState *s, const char *arg, GError **errp)
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

static bool opt_cpu(CmdlineState *s, const char *arg, GError **errp)
{
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "model", errp);
    const char *model;

    if (!kv) {
        return false;
    }
    model = keyval_get_str(kv, "model");
    if (keyval_is_help(model)) {
        cmdline_print_names(s->out, "Available CPUs:", cmdline_cpus,
                            G_N_ELEMENTS(cmdline_cpus));
        s->exit = true;
        return true;
    }
    if (!model || (!g_str_equal(model, "host") &&
                   !g_str_equal(model, "max"))) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "CPU model '%s' is not supported by kestrel: "
                    "use -cpu host or -cpu max", model ? model : "");
        return false;
    }
    if (keyval_first_unused(kv)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "CPU property '%s' is not supported by kestrel",
                    keyval_first_unused(kv));
        return false;
    }
    g_free(s->cfg->cpu_model);
    s->cfg->cpu_model = g_strdup(model);
    return true;
}

static bool opt_daemonize(CmdlineState *s, const char *arg, GError **errp)
{
    s->cfg->daemonize = true;
    return true;
}

/*
 * -device isa-serial,chardev=ID[,index=N]: the COM port N (0 to 3; the
 * first free one by default) on chardev ID, the same port -serial makes.
 */
static bool cmdline_isa_serial(CmdlineState *s, KeyvalList *kv,
                               GError **errp)
{
    GPtrArray *serials = s->cfg->serials;
    const char *chardev = keyval_get_str(kv, "chardev");
    uint64_t index;
    guint free_slot = 0;

    s->serial_given = true;             /* as QEMU: no default serial then */
    while (free_slot < serials->len &&
           g_ptr_array_index(serials, free_slot)) {
        free_slot++;
    }
    if (!keyval_get_uint(kv, "index", free_slot, CMDLINE_MAX_SERIALS - 1,
                         &index, errp)) {
        return false;
    }
    if (!chardev) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Property 'isa-serial.chardev' is missing: kestrel's "
                    "serial ports need a chardev");
        return false;
    }
    if (keyval_first_unused(kv)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Property 'isa-serial.%s' not found",
                    keyval_first_unused(kv));
        return false;
    }
    while (serials->len <= index) {
        g_ptr_array_add(serials, NULL);
    }
    if (g_ptr_array_index(serials, index)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "serial port %" G_GUINT64_FORMAT " (COM%" G_GUINT64_FORMAT
                    ") is already in use", index, index + 1);
        return false;
    }
    g_ptr_array_index(serials, index) = g_strdup(chardev);
    cmdline_add_ref(s, s->loc, chardev);
    return true;
}

static bool opt_device(CmdlineState *s, const char *arg, GError **errp)
{
    g_autoptr(KeyvalList) kv = NULL;
    const char *driver;
    const char *id;
    DeviceConfig *dev;

    kv = cmdline_parse_json_or_keyval(arg, "driver", errp);
    if (!kv) {
        return false;
    }
    driver = keyval_get_str(kv, "driver");
    if (keyval_is_help(driver)) {
        size_t n;
        const DeviceDriver *drv = devices_drivers(&n);
        const char *category = NULL;

        /* QEMU's layout: drivers grouped by category. */
        for (size_t i = 0; i < n; i++) {
            if (!category || !g_str_equal(category, drv[i].category)) {
                category = drv[i].category;
                fprintf(s->out, "%s%s:\n", i ? "\n" : "", category);
            }
            fprintf(s->out, "name \"%s\", bus %s\n", drv[i].name,
                    drv[i].bus);
        }
        s->exit = true;
        return true;
    }
    if (!driver || !*driver) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Parameter 'driver' is missing");
        return false;
    }
    if (g_str_has_prefix(driver, "usb-")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "device '%s' is not supported by kestrel: it has no USB",
                    driver);
        return false;
    }
    if (keyval_has(kv, "help")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "kestrel cannot list the properties of device '%s'",
                    driver);
        return false;
    }
    id = keyval_get_str(kv, "id");
    if (id) {
        if (!cmdline_check_id(id, errp)) {
            return false;
        }
        if (g_hash_table_contains(s->device_ids, id)) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "Duplicate ID '%s' for device", id);
            return false;
        }
        g_hash_table_add(s->device_ids, g_strdup(id));
    }
    if (g_str_equal(driver, "isa-serial")) {
        return cmdline_isa_serial(s, kv, errp);
    }

    dev = g_new0(DeviceConfig, 1);
    dev->driver = g_strdup(driver);
    dev->id = g_strdup(id);
    dev->props = keyval_take_unused(kv);
    g_ptr_array_add(s->cfg->devices, dev);
    return true;
}

static bool opt_display(CmdlineState *s, const char *arg, GError **errp)
{
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "type", errp);
    const char *type;

    if (!kv) {
        return false;
    }
    type = keyval_get_str(kv, "type");
    if (keyval_is_help(type)) {
        fprintf(s->out, "Available display backend types:\nnone\n");
        s->exit = true;
        return true;
    }
    if (!type || !g_str_equal(type, "none")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "display '%s' is not supported by kestrel: "
                    "use -display none or -nographic", type ? type : arg);
        return false;
    }
    if (!keyval_check_unused(kv, errp)) {
        return false;
    }
    s->cfg->display_none = true;
    return true;
}

static bool opt_enable_kvm(CmdlineState *s, const char *arg, GError **errp)
{
    s->cfg->kvm_requested = true;
    return true;
}

static bool opt_help(CmdlineState *s, const char *arg, GError **errp);

/*
 * -global DRIVER.PROP=VALUE: the defaults of devices kestrel has. Only the
 * ones that state what kestrel does anyway are accepted.
 */
static bool opt_global(CmdlineState *s, const char *arg, GError **errp)
{
    static const struct {
        const char *name;               /* DRIVER.PROP */
        const char *value;
    } accepted[] = {
        /* the in-kernel PIT reinjects lost ticks: QEMU's "delay" */
        { "kvm-pit.lost_tick_policy", "delay" },
    };
    const char *eq = strchr(arg, '=');
    g_autofree char *name = NULL;

    if (!eq || !strchr(arg, '.') || strchr(arg, '.') > eq) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "'%s' is not of the form DRIVER.PROPERTY=VALUE", arg);
        return false;
    }
    name = g_strndup(arg, eq - arg);
    for (guint i = 0; i < G_N_ELEMENTS(accepted); i++) {
        if (g_str_equal(accepted[i].name, name)) {
            if (g_str_equal(accepted[i].value, eq + 1)) {
                return true;
            }
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                        "global property '%s' only takes '%s' in kestrel",
                        name, accepted[i].value);
            return false;
        }
    }
    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                "global property '%s' is not supported by kestrel", name);
    return false;
}

static bool opt_incoming(CmdlineState *s, const char *arg, GError **errp)
{
    if (!g_str_equal(arg, "defer")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "incoming migration from '%s' is not supported by "
                    "kestrel: only -incoming defer is accepted, and kestrel "
                    "has no migrate-incoming yet", arg);
        return false;
    }
    s->cfg->incoming_defer = true;
    return true;
}

static bool opt_initrd(CmdlineState *s, const char *arg, GError **errp)
{
    g_free(s->cfg->initrd);
    s->cfg->initrd = g_strdup(arg);
    return true;
}

static bool opt_kernel(CmdlineState *s, const char *arg, GError **errp)
{
    g_free(s->cfg->kernel);
    s->cfg->kernel = g_strdup(arg);
    return true;
}

static bool opt_logfile(CmdlineState *s, const char *arg, GError **errp)
{
    g_free(s->cfg->logfile);
    s->cfg->logfile = g_strdup(arg);
    return true;
}

static bool opt_m(CmdlineState *s, const char *arg, GError **errp)
{
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "size", errp);
    const char *size;
    uint64_t bytes;
    size_t len;

    if (!kv) {
        return false;
    }
    if (keyval_has(kv, "slots") || keyval_has(kv, "maxmem")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "memory hotplug (slots, maxmem) is not supported by "
                    "kestrel");
        return false;
    }
    size = keyval_get_str(kv, "size");
    if (!keyval_check_unused(kv, errp)) {
        return false;
    }
    if (!size) {
        return true;                    /* "-m ''": nothing to change */
    }
    /* as QEMU: a value ending in a digit counts MiB ("-m 512") */
    len = strlen(size);
    if (!keyval_parse_size("size", size,
                           len && g_ascii_isdigit(size[len - 1]) ?
                           CMDLINE_MIB : 1, &bytes, errp)) {
        return false;
    }
    if (bytes == 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Parameter 'size' must be greater than zero");
        return false;
    }
    if (bytes > UINT64_MAX - (CMDLINE_RAM_ALIGN - 1)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Value '%s' is out of range for parameter 'size'", size);
        return false;
    }
    /* QEMU rounds RAM up to 8 KiB */
    s->cfg->ram_size = (bytes + CMDLINE_RAM_ALIGN - 1) &
                       ~(CMDLINE_RAM_ALIGN - 1);
    return true;
}

static bool opt_machine(CmdlineState *s, const char *arg, GError **errp)
{
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "type", errp);
    const char *type;
    const char *accel;

    if (!kv) {
        return false;
    }
    type = keyval_get_str(kv, "type");
    if (keyval_is_help(type)) {
        fprintf(s->out, "Supported machines are:\n");
        for (guint i = 0; i < G_N_ELEMENTS(cmdline_machines); i++) {
            fprintf(s->out, "%-20s %s%s\n", cmdline_machines[i].name,
                    cmdline_machines[i].desc, i == 0 ? " (default)" : "");
        }
        s->exit = true;
        return true;
    }
    if (type) {
        guint i;

        for (i = 0; i < G_N_ELEMENTS(cmdline_machines); i++) {
            if (g_str_equal(cmdline_machines[i].name, type)) {
                break;
            }
        }
        if (i == G_N_ELEMENTS(cmdline_machines)) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                        "unsupported machine type '%s'; use -machine help "
                        "to list supported machines", type);
            return false;
        }
    }
    /* The board's fixed features, under the properties libvirt sets. */
    if (!cmdline_only_bool(kv, "usb", false, "it has no USB", errp) ||
        !cmdline_only_bool(kv, "hpet", false, "it has no HPET", errp) ||
        !cmdline_only_bool(kv, "vmport", false,
                           "it has no VMware I/O port", errp) ||
        !cmdline_only_bool(kv, "acpi", true,
                           "its machine always has ACPI", errp) ||
        !cmdline_only_bool(kv, "dump-guest-core", false,
                           "it never dumps core (guest RAM included)",
                           errp)) {
        return false;
    }
    accel = keyval_get_str(kv, "accel");
    if (accel) {
        g_auto(GStrv) list = g_strsplit(accel, ":", -1);

        if (!g_strv_contains((const char *const *)list, "kvm")) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                        "accelerator list '%s' does not contain kvm, the only "
                        "accelerator kestrel supports", accel);
            return false;
        }
    }
    if (!keyval_check_unused(kv, errp)) {
        return false;
    }
    /* repeated -machine options merge, as in QEMU */
    if (type) {
        g_free(s->cfg->machine);
        s->cfg->machine = g_strdup(type);
    }
    if (accel) {
        s->cfg->kvm_requested = true;
    }
    return true;
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

static bool opt_mon(CmdlineState *s, const char *arg, GError **errp)
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

static bool opt_monitor(CmdlineState *s, const char *arg, GError **errp)
{
    if (g_str_equal(arg, "none")) {
        return true;
    }
    return cmdline_monitor_spec(s, arg, MONITOR_MODE_READLINE, false, errp);
}

static bool opt_name(CmdlineState *s, const char *arg, GError **errp)
{
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "guest", errp);
    const char *guest;
    const char *process;

    if (!kv) {
        return false;
    }
    guest = keyval_get_str(kv, "guest");
    process = keyval_get_str(kv, "process");
    if (!keyval_get_bool(kv, "debug-threads", s->cfg->debug_threads,
                         &s->cfg->debug_threads, errp) ||
        !keyval_check_unused(kv, errp)) {
        return false;
    }
    if (guest) {
        g_free(s->cfg->name);
        s->cfg->name = g_strdup(guest);
    }
    if (process) {
        g_free(s->cfg->process_name);
        s->cfg->process_name = g_strdup(process);
    }
    return true;
}

static bool opt_msg(CmdlineState *s, const char *arg, GError **errp)
{
    g_autoptr(KeyvalList) kv = keyval_parse(arg, NULL, errp);

    if (!kv) {
        return false;
    }
    if (keyval_has(kv, "guest-name")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "Parameter 'guest-name' is not supported by kestrel");
        return false;
    }
    return keyval_get_bool(kv, "timestamp", s->cfg->msg_timestamp,
                           &s->cfg->msg_timestamp, errp) &&
           keyval_check_unused(kv, errp);
}

static bool opt_no_acpi(CmdlineState *s, const char *arg, GError **errp)
{
    /* The guest finds its CPUs and interrupts, and is powered off, through
     * ACPI: there is no MP-table-only variant of the machine. */
    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                "kestrel's machine always has ACPI (in libvirt: add "
                "<features><acpi/></features>)");
    return false;
}

static bool opt_no_hpet(CmdlineState *s, const char *arg, GError **errp)
{
    return true;                        /* kestrel has no HPET */
}

static bool opt_no_reboot(CmdlineState *s, const char *arg, GError **errp)
{
    s->cfg->no_reboot = true;
    return true;
}

static bool opt_no_shutdown(CmdlineState *s, const char *arg, GError **errp)
{
    s->cfg->no_shutdown = true;
    return true;
}

static bool opt_no_user_config(CmdlineState *s, const char *arg,
                               GError **errp)
{
    return true;                        /* kestrel reads no config files */
}

static bool opt_nodefaults(CmdlineState *s, const char *arg, GError **errp)
{
    s->cfg->nodefaults = true;
    return true;
}

static bool opt_nographic(CmdlineState *s, const char *arg, GError **errp)
{
    s->cfg->nographic = true;
    return true;
}

static bool opt_object(CmdlineState *s, const char *arg, GError **errp)
{
    static const char *const formats[] = { "raw", "base64", NULL };
    g_autoptr(KeyvalList) kv = cmdline_parse_json_or_keyval(arg, "qom-type",
                                                             errp);
    const char *type;
    const char *id;
    const char *format;
    SecretConfig *sec;

    if (!kv) {
        return false;
    }
    type = keyval_get_str(kv, "qom-type");
    if (keyval_is_help(type)) {
        fprintf(s->out, "List of user creatable objects:\n  secret\n");
        s->exit = true;
        return true;
    }
    if (!type) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Parameter 'qom-type' is missing");
        return false;
    }
    if (!g_str_equal(type, "secret")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "object type '%s' is not supported by kestrel: -object "
                    "takes only 'secret'", type);
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
    for (guint i = 0; i < s->cfg->secrets->len; i++) {
        SecretConfig *other = g_ptr_array_index(s->cfg->secrets, i);

        if (g_str_equal(other->id, id)) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "attempt to add duplicate property '%s' to object "
                        "(type 'container')", id);
            return false;
        }
    }
    if (keyval_has(kv, "keyid") || keyval_has(kv, "iv")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "secret '%s': encrypted secrets (keyid, iv) are not "
                    "supported by kestrel", id);
        return false;
    }
    format = keyval_get_str(kv, "format");
    if (format && !g_strv_contains(formats, format)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Parameter 'format' does not accept value '%s'", format);
        return false;
    }
    if (keyval_has(kv, "data") == keyval_has(kv, "file")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "secret '%s' needs exactly one of 'data' and 'file'",
                    id);
        return false;
    }
    sec = g_new0(SecretConfig, 1);
    sec->id = g_strdup(id);
    sec->base64 = format && g_str_equal(format, "base64");
    sec->data = g_strdup(keyval_get_str(kv, "data"));
    sec->file = g_strdup(keyval_get_str(kv, "file"));
    if (!keyval_check_unused(kv, errp)) {
        vm_config_secret_free(sec);
        return false;
    }
    g_ptr_array_add(s->cfg->secrets, sec);
    return true;
}

static bool opt_overcommit(CmdlineState *s, const char *arg, GError **errp)
{
    static const char *const mem_lock[] = { "off", "false", "no", NULL };
    g_autoptr(KeyvalList) kv = keyval_parse(arg, NULL, errp);

    if (!kv) {
        return false;
    }
    /* kestrel neither locks guest RAM nor passes CPU power management
     * through: only the "off" of both is what it does. */
    return cmdline_only_str(kv, "mem-lock", mem_lock,
                            "kestrel does not lock guest RAM", errp) &&
           cmdline_only_bool(kv, "cpu-pm", false,
                             "CPU power management stays with the host",
                             errp) &&
           keyval_check_unused(kv, errp);
}

static bool opt_pidfile(CmdlineState *s, const char *arg, GError **errp)
{
    g_free(s->cfg->pidfile);
    s->cfg->pidfile = g_strdup(arg);
    return true;
}

static bool opt_qmp(CmdlineState *s, const char *arg, GError **errp)
{
    return cmdline_monitor_spec(s, arg, MONITOR_MODE_CONTROL, false, errp);
}

static bool opt_qmp_pretty(CmdlineState *s, const char *arg, GError **errp)
{
    return cmdline_monitor_spec(s, arg, MONITOR_MODE_CONTROL, true, errp);
}

static bool opt_rtc(CmdlineState *s, const char *arg, GError **errp)
{
    static const char *const utc[] = { "utc", NULL };
    static const char *const host[] = { "host", NULL };
    static const char *const none[] = { "none", NULL };
    g_autoptr(KeyvalList) kv = keyval_parse(arg, NULL, errp);

    if (!kv) {
        return false;
    }
    /* The RTC reads the host's clock in UTC and sends no periodic
     * interrupts to make up for. */
    return cmdline_only_str(kv, "base", utc,
                            "the RTC starts at the host's time in UTC",
                            errp) &&
           cmdline_only_str(kv, "clock", host,
                            "the RTC follows the host's clock", errp) &&
           cmdline_only_str(kv, "driftfix", none,
                            "the RTC does not make up for lost ticks (in "
                            "libvirt: drop <timer name='rtc' "
                            "tickpolicy='catchup'/>)", errp) &&
           keyval_check_unused(kv, errp);
}

static bool opt_S(CmdlineState *s, const char *arg, GError **errp)
{
    s->cfg->start_paused = true;
    return true;
}

static bool opt_serial(CmdlineState *s, const char *arg, GError **errp)
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

static bool opt_sandbox(CmdlineState *s, const char *arg, GError **errp)
{
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "enable", errp);
    bool on;

    if (!kv) {
        return false;
    }
    if (!keyval_get_bool(kv, "enable", false, &on, errp)) {
        return false;
    }
    if (on || keyval_first_unused(kv)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "kestrel has no seccomp sandbox: only -sandbox off is "
                    "accepted");
        return false;
    }
    return true;
}

static bool opt_smp(CmdlineState *s, const char *arg, GError **errp)
{
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "cpus", errp);
    uint64_t val[SMP__MAX];

    if (!kv) {
        return false;
    }
    for (int k = 0; k < SMP__MAX; k++) {
        if (!keyval_get_uint(kv, smp_keys[k], 0, G_MAXUINT32, &val[k],
                             errp)) {
            return false;
        }
        if (keyval_has(kv, smp_keys[k]) && val[k] == 0) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "Invalid CPU topology: CPU topology parameters must "
                        "be greater than zero");
            return false;
        }
    }
    if (!keyval_check_unused(kv, errp)) {
        return false;
    }
    /* repeated -smp options merge, key by key, as in QEMU */
    for (int k = 0; k < SMP__MAX; k++) {
        if (val[k]) {
            s->smp[k] = val[k];
        }
    }
    return true;
}

static bool opt_uuid(CmdlineState *s, const char *arg, GError **errp)
{
    /* xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx */
    static const char form[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    uint8_t uuid[16];
    guint n = 0;

    if (strlen(arg) != strlen(form)) {
        goto bad;
    }
    for (guint i = 0; form[i]; i += (form[i] == '-') ? 1 : 2) {
        if (form[i] == '-') {
            if (arg[i] != '-') {
                goto bad;
            }
            continue;
        }
        if (!g_ascii_isxdigit(arg[i]) || !g_ascii_isxdigit(arg[i + 1])) {
            goto bad;
        }
        uuid[n++] = (uint8_t)(g_ascii_xdigit_value(arg[i]) << 4 |
                              g_ascii_xdigit_value(arg[i + 1]));
    }
    memcpy(s->cfg->uuid, uuid, sizeof(uuid));
    s->cfg->has_uuid = true;
    return true;

 bad:
    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                "'%s' is not a UUID of the form %s", arg, form);
    return false;
}

static bool opt_version(CmdlineState *s, const char *arg, GError **errp)
{
    fprintf(s->out, "kestrel version %s (QEMU-compatible command line and "
            "QMP, QEMU %s)\n", PACKAGE_VERSION, CMDLINE_QEMU_VERSION);
    s->exit = true;
    return true;
}

static bool opt_vga(CmdlineState *s, const char *arg, GError **errp)
{
    if (!g_str_equal(arg, "none")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "VGA card '%s' is not supported by kestrel: "
                    "use -vga none", arg);
        return false;
    }
    return true;
}

/*
 * Every option, sorted by name (strcmp order; cmdline_parse checks it).
 * Entries without a handler are QEMU options kestrel refuses.
 */
static const CmdlineOption cmdline_options[] = {
    { "D", true, opt_logfile, "LOGFILE", "write log messages to LOGFILE" },
    { "L", true, NULL, NULL, NULL },
    { "M", true, opt_machine, "[type=]NAME[,accel=kvm]",
      "same as -machine" },
    { "S", false, opt_S, NULL, "create the VM paused; QMP 'cont' starts it" },
    { "accel", true, opt_accel, "kvm", "use KVM (the only accelerator)" },
    { "acpitable", true, NULL, NULL, NULL },
    { "action", true, NULL, NULL, NULL },
    { "add-fd", true, NULL, NULL, NULL },
    { "alt-grab", false, NULL, NULL, NULL },
    { "append", true, opt_append, "CMDLINE", "kernel command line" },
    { "async-teardown", false, NULL, NULL, NULL },
    { "audio", true, NULL, NULL, NULL },
    { "audio-help", false, NULL, NULL, NULL },
    { "audiodev", true, opt_audiodev, "none,id=ID|JSON",
      "accepted: the null audio backend (there is no sound device)" },
    { "bios", true, NULL, NULL, NULL },
    { "blockdev", true, NULL, NULL, NULL },
    { "boot", true, opt_boot, "strict=on|off",
      "accepted: the -kernel is all kestrel boots" },
    { "cdrom", true, NULL, NULL, NULL },
    { "chardev", true, opt_chardev, "BACKEND,id=ID[,...]",
      "character device: null, stdio, file, pty or socket" },
    { "chroot", true, NULL, NULL, NULL },
    { "compat", true, NULL, NULL, NULL },
    { "cpu", true, opt_cpu, "host|max", "CPU model (default host)" },
    { "ctrl-grab", false, NULL, NULL, NULL },
    { "curses", false, NULL, NULL, NULL },
    { "d", true, NULL, NULL, NULL },
    { "daemonize", false, opt_daemonize, NULL,
      "detach once the VM is set up" },
    { "debugcon", true, NULL, NULL, NULL },
    { "device", true, opt_device, "DRIVER[,id=ID][,PROP=VALUE...]|JSON",
      "add a device; -device help lists them" },
    { "dfilter", true, NULL, NULL, NULL },
    { "display", true, opt_display, "none", "no display (the only one)" },
    { "drive", true, NULL, NULL, NULL },
    { "dtb", true, NULL, NULL, NULL },
    { "dump-vmstate", true, NULL, NULL, NULL },
    { "echr", true, NULL, NULL, NULL },
    { "enable-kvm", false, opt_enable_kvm, NULL, "same as -accel kvm" },
    { "enable-sync-profile", false, NULL, NULL, NULL },
    { "fda", true, NULL, NULL, NULL },
    { "fdb", true, NULL, NULL, NULL },
    { "fsdev", true, NULL, NULL, NULL },
    { "full-screen", false, NULL, NULL, NULL },
    { "fw_cfg", true, NULL, NULL, NULL },
    { "g", true, NULL, NULL, NULL },
    { "gdb", true, NULL, NULL, NULL },
    { "global", true, opt_global, "kvm-pit.lost_tick_policy=delay",
      "the one device default kestrel takes (what it does anyway)" },
    { "h", false, opt_help, NULL, "same as -help" },
    { "hda", true, NULL, NULL, NULL },
    { "hdb", true, NULL, NULL, NULL },
    { "hdc", true, NULL, NULL, NULL },
    { "hdd", true, NULL, NULL, NULL },
    { "help", false, opt_help, NULL, "print this help and exit" },
    { "icount", true, NULL, NULL, NULL },
    { "incoming", true, opt_incoming, "defer",
      "wait in state inmigrate (migration itself is not there yet)" },
    { "initrd", true, opt_initrd, "FILE", "initial ramdisk" },
    { "iscsi", true, NULL, NULL, NULL },
    { "k", true, NULL, NULL, NULL },
    { "kernel", true, opt_kernel, "FILE",
      "Linux kernel (bzImage, ELF vmlinux or PVH) to boot" },
    { "loadvm", true, NULL, NULL, NULL },
    { "m", true, opt_m, "[size=]SIZE", "guest RAM (default 128M; MiB if "
      "no suffix)" },
    { "machine", true, opt_machine, "[type=]kestrel|pc|none[,accel=kvm]",
      "machine type; -machine help lists them" },
    { "mem-path", true, NULL, NULL, NULL },
    { "mem-prealloc", false, NULL, NULL, NULL },
    { "mon", true, opt_mon, "[chardev=]ID[,mode=control|readline]"
      "[,pretty=on]", "monitor on chardev ID" },
    { "monitor", true, opt_monitor, "DEV", "HMP monitor on DEV" },
    { "msg", true, opt_msg, "timestamp=on|off",
      "prefix error messages with the time" },
    { "mtdblock", true, NULL, NULL, NULL },
    { "name", true, opt_name, "[guest=]NAME[,process=P][,debug-threads=on]",
      "guest name" },
    { "net", true, NULL, NULL, NULL },
    { "netdev", true, NULL, NULL, NULL },
    { "nic", true, NULL, NULL, NULL },
    { "no-acpi", false, opt_no_acpi, NULL,
      "refused: the machine always has ACPI" },
    { "no-fd-bootchk", false, NULL, NULL, NULL },
    { "no-hpet", false, opt_no_hpet, NULL,
      "accepted: kestrel has no HPET" },
    { "no-quit", false, NULL, NULL, NULL },
    { "no-reboot", false, opt_no_reboot, NULL,
      "exit instead of rebooting the guest" },
    { "no-shutdown", false, opt_no_shutdown, NULL,
      "pause instead of exiting at guest power-off" },
    { "no-user-config", false, opt_no_user_config, NULL,
      "accepted; kestrel reads no configuration files" },
    { "nodefaults", false, opt_nodefaults, NULL, "no default serial port" },
    { "nographic", false, opt_nographic, NULL,
      "no display; the default serial port is on stdio" },
    { "numa", true, NULL, NULL, NULL },
    { "object", true, opt_object,
      "secret,id=ID,data=D|file=F[,format=raw|base64]|JSON",
      "a secret (the only object type)" },
    { "only-migratable", false, NULL, NULL, NULL },
    { "option-rom", true, NULL, NULL, NULL },
    { "overcommit", true, opt_overcommit, "mem-lock=off[,cpu-pm=off]",
      "accepted: kestrel locks no RAM" },
    { "parallel", true, NULL, NULL, NULL },
    { "pflash", true, NULL, NULL, NULL },
    { "pidfile", true, opt_pidfile, "FILE", "write the process id to FILE" },
    { "plugin", true, NULL, NULL, NULL },
    { "portrait", false, NULL, NULL, NULL },
    { "preconfig", false, NULL, NULL, NULL },
    { "qmp", true, opt_qmp, "DEV", "QMP monitor on DEV" },
    { "qmp-pretty", true, opt_qmp_pretty, "DEV",
      "QMP monitor on DEV, pretty-printed" },
    { "readconfig", true, NULL, NULL, NULL },
    { "rotate", true, NULL, NULL, NULL },
    { "rtc", true, opt_rtc, "base=utc[,clock=host][,driftfix=none]",
      "the RTC: host time in UTC (the only choice)" },
    { "run-with", true, NULL, NULL, NULL },
    { "runas", true, NULL, NULL, NULL },
    { "s", false, NULL, NULL, NULL },
    { "sandbox", true, opt_sandbox, "off",
      "accepted: there is no seccomp sandbox" },
    { "sd", true, NULL, NULL, NULL },
    { "sdl", false, NULL, NULL, NULL },
    { "seed", true, NULL, NULL, NULL },
    { "semihosting", false, NULL, NULL, NULL },
    { "semihosting-config", true, NULL, NULL, NULL },
    { "serial", true, opt_serial, "DEV", "serial port on DEV (up to 4)" },
    { "set", true, NULL, NULL, NULL },
    { "singlestep", false, NULL, NULL, NULL },
    { "smbios", true, NULL, NULL, NULL },
    { "smp", true, opt_smp, "[cpus=]N[,maxcpus=M][,sockets=S][,dies=D]"
      "[,cores=C][,threads=T]", "vCPUs and topology (at most 255)" },
    { "snapshot", false, NULL, NULL, NULL },
    { "spice", true, NULL, NULL, NULL },
    { "tpmdev", true, NULL, NULL, NULL },
    { "trace", true, NULL, NULL, NULL },
    { "usb", false, NULL, NULL, NULL },
    { "usbdevice", true, NULL, NULL, NULL },
    { "uuid", true, opt_uuid, "UUID", "machine UUID" },
    { "version", false, opt_version, NULL, "print the version and exit" },
    { "vga", true, opt_vga, "none", "no VGA card (the only choice)" },
    { "virtfs", true, NULL, NULL, NULL },
    { "vnc", true, NULL, NULL, NULL },
    { "watchdog", true, NULL, NULL, NULL },
    { "watchdog-action", true, NULL, NULL, NULL },
    { "win2k-hack", false, NULL, NULL, NULL },
    { "writeconfig", true, NULL, NULL, NULL },
    { "xen-attach", false, NULL, NULL, NULL },
    { "xen-domid", true, NULL, NULL, NULL },
    { "xen-domid-restrict", false, NULL, NULL, NULL },
};

static bool opt_help(CmdlineState *s, const char *arg, GError **errp)
{
    FILE *out = s->out;

    fprintf(out,
            "Usage: kestrel [options]\n"
            "\n"
            "Run one KVM virtual machine. kestrel takes QEMU's spelling of "
            "the options it\nimplements. An option may start with - or --; "
            "its value is the next argument.\n"
            "\n"
            "DEV: stdio, pty, null, none (-serial and -monitor only), "
            "file:PATH,\n"
            "     unix:PATH[,server=on][,wait=off], "
            "tcp:[HOST]:PORT[,server=on][,wait=off],\n"
            "     chardev:ID\n"
            "\n");
    for (guint i = 0; i < G_N_ELEMENTS(cmdline_options); i++) {
        const CmdlineOption *o = &cmdline_options[i];
        g_autofree char *synopsis = NULL;

        if (!o->handler) {
            continue;
        }
        synopsis = g_strdup_printf("-%s%s%s", o->name, o->args ? " " : "",
                                   o->args ? o->args : "");
        if (strlen(synopsis) > 28) {
            fprintf(out, "  %s\n  %-28s %s\n", synopsis, "", o->help);
        } else {
            fprintf(out, "  %-28s %s\n", synopsis, o->help);
        }
    }
    fprintf(out,
            "\n"
            "Other QEMU options are refused. Exit status: 0 when the guest "
            "powers off or\nQMP 'quit' is used, 1 on errors. "
            "See kestrel(1).\n");
    s->exit = true;
    return true;
}

static int cmdline_option_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const CmdlineOption *)elem)->name);
}

static void cmdline_check_table(void)
{
    for (guint i = 1; i < G_N_ELEMENTS(cmdline_options); i++) {
        g_assert(strcmp(cmdline_options[i - 1].name,
                        cmdline_options[i].name) < 0);
    }
}

/* ---- after the last option ---------------------------------------------- */

static bool cmdline_finish_smp(CmdlineState *s, GError **errp)
{
    VmConfig *cfg = s->cfg;
    uint64_t cpus = s->smp[SMP_CPUS];
    uint64_t maxcpus = s->smp[SMP_MAXCPUS];
    uint64_t sockets = s->smp[SMP_SOCKETS];
    uint64_t dies = s->smp[SMP_DIES] ? s->smp[SMP_DIES] : 1;
    uint64_t cores = s->smp[SMP_CORES];
    uint64_t threads = s->smp[SMP_THREADS];
    uint64_t total;
    g_autofree char *topo = NULL;

    if (s->smp[SMP_CLUSTERS] > 1) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "clusters > 1 not supported by this machine's CPU "
                    "topology");
        return false;
    }

    /* QEMU's derivation (since 6.2): prefer cores over sockets */
    if (cpus == 0 && maxcpus == 0) {
        sockets = sockets ? sockets : 1;
        cores = cores ? cores : 1;
        threads = threads ? threads : 1;
    } else {
        maxcpus = maxcpus ? maxcpus : cpus;
        if (cores == 0) {
            sockets = sockets ? sockets : 1;
            threads = threads ? threads : 1;
            cores = maxcpus / (sockets * dies * threads);
        } else if (sockets == 0) {
            threads = threads ? threads : 1;
            sockets = maxcpus / (dies * cores * threads);
        }
        if (threads == 0) {
            threads = maxcpus / (sockets * dies * cores);
        }
    }
    /* each member fits 32 bits, so saturate rather than wrap */
    if (__builtin_mul_overflow(sockets, dies, &total) ||
        __builtin_mul_overflow(total, cores, &total) ||
        __builtin_mul_overflow(total, threads, &total)) {
        total = UINT64_MAX;
    }
    maxcpus = maxcpus ? maxcpus : total;
    cpus = cpus ? cpus : maxcpus;

    topo = g_strdup_printf("sockets (%" G_GUINT64_FORMAT ") * dies (%"
                           G_GUINT64_FORMAT ") * cores (%" G_GUINT64_FORMAT
                           ") * threads (%" G_GUINT64_FORMAT ")",
                           sockets, dies, cores, threads);
    if (total != maxcpus) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Invalid CPU topology: product of the hierarchy must "
                    "match maxcpus: %s != maxcpus (%" G_GUINT64_FORMAT ")",
                    topo, maxcpus);
        return false;
    }
    if (maxcpus < cpus) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Invalid CPU topology: maxcpus must be equal to or "
                    "greater than smp: %s == maxcpus (%" G_GUINT64_FORMAT
                    ") < smp_cpus (%" G_GUINT64_FORMAT ")",
                    topo, maxcpus, cpus);
        return false;
    }
    if (maxcpus > CMDLINE_MAX_CPUS) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Invalid SMP CPUs %" G_GUINT64_FORMAT ". The max CPUs "
                    "supported by machine '%s' is %d", maxcpus, cfg->machine,
                    CMDLINE_MAX_CPUS);
        return false;
    }
    if (maxcpus != cpus) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "CPU hotplug is not supported by kestrel: maxcpus (%"
                    G_GUINT64_FORMAT ") must equal cpus (%" G_GUINT64_FORMAT
                    ")", maxcpus, cpus);
        return false;
    }
    cfg->cpus = (unsigned int)cpus;
    cfg->max_cpus = (unsigned int)maxcpus;
    cfg->sockets = (unsigned int)sockets;
    cfg->dies = (unsigned int)dies;
    cfg->cores = (unsigned int)cores;
    cfg->threads = (unsigned int)threads;
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
static bool cmdline_finish_default_serial(CmdlineState *s, GError **errp)
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

static bool cmdline_finish_chardevs(CmdlineState *s, GError **errp)
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

static bool cmdline_finish_boot(CmdlineState *s, GError **errp)
{
    VmConfig *cfg = s->cfg;

    if (g_str_equal(cfg->machine, "none")) {
        const char *opt = cfg->kernel ? "-kernel"
                          : cfg->initrd ? "-initrd"
                          : cfg->append ? "-append" : NULL;

        if (opt) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "machine 'none' boots no guest: %s cannot be used "
                        "with it", opt);
            return false;
        }
        return true;
    }
    if (!cfg->kernel || !*cfg->kernel) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "no kernel given: use -kernel PATH");
        return false;
    }
    return true;
}

static bool cmdline_finish(CmdlineState *s, GError **errp)
{
    return cmdline_finish_smp(s, errp) &&
           cmdline_finish_default_serial(s, errp) &&
           cmdline_finish_chardevs(s, errp) &&
           cmdline_finish_boot(s, errp);
}

static bool cmdline_run(CmdlineState *s, int argc, char **argv,
                        GError **errp)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *name = arg + 1;
        const CmdlineOption *opt;
        g_autofree char *loc = NULL;

        if (arg[0] != '-') {
            /* QEMU would open it as the first disk (-hda) */
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                        "argument '%s' is not an option: kestrel takes no "
                        "disk image", arg);
            return false;
        }
        if (name[0] == '-') {
            name++;
        }
        opt = bsearch(name, cmdline_options, G_N_ELEMENTS(cmdline_options),
                      sizeof(cmdline_options[0]), cmdline_option_cmp);
        if (!opt) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "%s: invalid option", arg);
            return false;
        }
        if (!opt->handler) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                        "%s: option is not supported by kestrel", arg);
            return false;
        }
        if (opt->has_arg) {
            if (i + 1 >= argc) {
                g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                            "%s: requires an argument", arg);
                return false;
            }
            i++;
            loc = g_strdup_printf("%s %s", arg, argv[i]);
        } else {
            loc = g_strdup(arg);
        }
        s->loc = loc;
        if (!opt->handler(s, opt->has_arg ? argv[i] : NULL, errp)) {
            g_prefix_error(errp, "%s: ", loc);
            return false;
        }
        s->loc = NULL;
        if (s->exit) {
            return true;
        }
    }
    return cmdline_finish(s, errp);
}

int cmdline_parse(int argc, char **argv, VmConfig *cfg, FILE *out,
                  GError **errp)
{
    CmdlineState s = {
        .cfg = cfg,
        .out = out,
        .refs = g_ptr_array_new_with_free_func(cmdline_ref_free),
        .chardev_locs = g_hash_table_new_full(g_str_hash, g_str_equal,
                                              g_free, g_free),
        .device_ids = g_hash_table_new_full(g_str_hash, g_str_equal,
                                            g_free, NULL),
        .monitor_ids = g_hash_table_new_full(g_str_hash, g_str_equal,
                                             g_free, NULL),
    };
    bool ok;

    cmdline_check_table();
    ok = cmdline_run(&s, argc, argv, errp);
    g_ptr_array_unref(s.refs);
    g_hash_table_unref(s.chardev_locs);
    g_hash_table_unref(s.device_ids);
    g_hash_table_unref(s.monitor_ids);
    if (!ok) {
        return -1;
    }
    return s.exit ? CMDLINE_EXIT : CMDLINE_RUN;
}
