/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtkestreld: the libvirt driver daemon for kestrel.  Stock libvirt
 * clients reach it with the URI kestrel:///system (or kestrel:///session
 * for a user's own daemon): the client library connects straight to our
 * socket and speaks libvirt's remote protocol, which we implement.
 */
#include "config.h"

#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <glib-unix.h>
#include <glib/gstdio.h>

#include "dispatch.h"
#include "domain.h"
#include "process.h"
#include "rpc.h"

#define SD_LISTEN_FDS_START 3

/* Not the configured runstatedir: libvirt clients compute this path
 * themselves (/var/run/libvirt, which is /run/libvirt). */
#define SYSTEM_RUN_DIR "/run/libvirt"

typedef struct {
    char *socket;
    char *socket_ro;
    char *config_dir;
    char *state_dir;
    char *log_dir;
    char *emulator;
    bool session;
    bool system;
    bool verbose;
    bool version;
    int max_clients;                /* -1: not given */
    int max_anonymous_clients;
    int max_client_requests;
    int client_timeout;
} Options;

static GMainLoop *main_loop;

static gboolean main_quit(void *opaque)
{
    g_message("stopping; running domains keep running");
    g_main_loop_quit(main_loop);
    return G_SOURCE_CONTINUE;
}

static void autostart_done(DomainObj *dom, const GError *err, void *opaque)
{
    domain_job_end(dom);
    if (err) {
        g_warning("cannot autostart domain '%s': %s", dom->name,
                  err->message);
    }
}

static void autostart_all(Driver *drv)
{
    g_autoptr(GPtrArray) list = domain_list_all(drv);
    guint i;

    for (i = 0; i < list->len; i++) {
        DomainObj *dom = list->pdata[i];

        if (dom->autostart && !domain_obj_is_active(dom) &&
            domain_job_begin(dom, "autostart", NULL)) {
            process_start(dom, false, autostart_done, NULL);
        }
    }
}

/*
 * Sockets passed by systemd (LISTEN_FDS): the one named
 * "virtkestreld-ro.socket" (or whose name ends in "-ro") is read-only.
 */
static int listen_systemd(RpcServer *srv, GError **errp)
{
    const char *pid = g_getenv("LISTEN_PID");
    const char *fds = g_getenv("LISTEN_FDS");
    const char *names = g_getenv("LISTEN_FDNAMES");
    g_auto(GStrv) namev = NULL;
    int i, n;

    if (!pid || !fds || g_ascii_strtoll(pid, NULL, 10) != getpid()) {
        return 0;
    }
    n = (int)g_ascii_strtoll(fds, NULL, 10);
    namev = g_strsplit(names ? names : "", ":", 0);
    for (i = 0; i < n; i++) {
        const char *name = (guint)i < g_strv_length(namev) ? namev[i] : "";
        bool ro = g_str_has_suffix(name, "-ro.socket") ||
                  g_str_has_suffix(name, "-ro");

        if (!rpc_server_add_fd(srv, SD_LISTEN_FDS_START + i, ro, errp)) {
            return -1;
        }
    }
    g_unsetenv("LISTEN_PID");
    g_unsetenv("LISTEN_FDS");
    g_unsetenv("LISTEN_FDNAMES");
    return n;
}

/* Defaults as libvirt's own daemons lay them out. */
static void options_defaults(Options *o, Driver *drv)
{
    const char *env;

    if (!o->system && !o->session) {
        o->system = getuid() == 0;
        o->session = !o->system;
    }
    if (o->system) {
        drv->uri = g_strdup("kestrel:///system");
        drv->config_dir = o->config_dir ? g_strdup(o->config_dir)
                        : g_strdup(SYSCONFDIR "/libvirt/kestrel");
        drv->state_dir = o->state_dir ? g_strdup(o->state_dir)
                       : g_strdup(SYSTEM_RUN_DIR "/kestrel");
        drv->log_dir = o->log_dir ? g_strdup(o->log_dir)
                     : g_strdup(LOCALSTATEDIR "/log/libvirt/kestrel");
        if (!o->socket) {
            o->socket = g_strdup(SYSTEM_RUN_DIR "/virtkestreld-sock");
        }
    } else {
        drv->uri = g_strdup("kestrel:///session");
        drv->config_dir = o->config_dir ? g_strdup(o->config_dir)
                        : g_build_filename(g_get_user_config_dir(),
                                           "libvirt", "kestrel", NULL);
        drv->state_dir = o->state_dir ? g_strdup(o->state_dir)
                       : g_build_filename(g_get_user_runtime_dir(),
                                          "libvirt", "kestrel", NULL);
        drv->log_dir = o->log_dir ? g_strdup(o->log_dir)
                     : g_build_filename(g_get_user_cache_dir(), "libvirt",
                                        "kestrel", "log", NULL);
        if (!o->socket) {
            o->socket = g_build_filename(g_get_user_runtime_dir(), "libvirt",
                                         "virtkestreld-sock", NULL);
        }
    }
    if (!o->socket_ro) {
        o->socket_ro = g_strdup_printf("%s-ro", o->socket);
    }
    /* Managed save images: beside the configs of a private instance
     * (--config-dir), else where libvirt keeps its own. */
    drv->save_dir = o->config_dir
                  ? g_build_filename(o->config_dir, "save", NULL)
                  : o->system
                  ? g_strdup(LOCALSTATEDIR "/lib/libvirt/kestrel/save")
                  : g_build_filename(g_get_user_data_dir(), "libvirt",
                                     "kestrel", "save", NULL);
    env = g_getenv("KESTREL");
    drv->emulator = g_strdup(o->emulator ? o->emulator
                             : env && *env ? env : BINDIR "/kestrel");
}

/*
 * Every client holds a descriptor: take all the kernel lets us have (the
 * soft limit up to the hard one, as libvirt's daemons do) and size the
 * client limit from it, so that clients alone never exhaust them.
 */
static rlim_t raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        return 1024;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t old = rl.rlim_cur;

        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
            g_warning("cannot raise the open files limit from %llu to "
                      "%llu: %s", (unsigned long long)old,
                      (unsigned long long)rl.rlim_max, g_strerror(errno));
            rl.rlim_cur = old;
        }
    }
    return rl.rlim_cur;
}

/*
 * libvirt's defaults, except max_clients: a quarter of the descriptors
 * per socket (two sockets), the other half left for the monitors of the
 * domains, their logs and our own files.
 */
static bool setup_limits(const Options *o, RpcServer *srv)
{
    RpcServerLimits limits = RPC_SERVER_LIMITS_DEFAULT;
    rlim_t nofile = raise_nofile();

    if (nofile != RLIM_INFINITY && nofile / 4 < limits.max_clients) {
        limits.max_clients = MAX(nofile / 4, 1);
    }
    if (o->max_clients >= 0) {
        limits.max_clients = o->max_clients;
    }
    if (o->max_anonymous_clients >= 0) {
        limits.max_anonymous_clients = o->max_anonymous_clients;
    }
    if (o->max_client_requests >= 0) {
        limits.max_client_requests = o->max_client_requests;
    }
    if (o->client_timeout >= 0) {
        limits.client_timeout = o->client_timeout;
    }
    if (limits.max_clients < 1 || limits.max_client_requests < 1 ||
        limits.client_timeout < 1) {
        fprintf(stderr, "virtkestreld: --max-clients, --max-client-requests "
                "and --client-timeout must be at least 1\n");
        return false;
    }
    rpc_server_set_limits(srv, &limits);
    g_info("open files limit %llu: at most %u clients per socket, %u of "
           "them anonymous, %u calls in flight per client",
           (unsigned long long)nofile, limits.max_clients,
           limits.max_anonymous_clients, limits.max_client_requests);
    return true;
}

/* VIRTKESTRELD_ACCEL: kvm (the default) or qtest, a test facility for
 * hosts without /dev/kvm (virtkestreld(8)). */
static bool setup_accel(Driver *drv)
{
    const char *accel = g_getenv("VIRTKESTRELD_ACCEL");

    if (!accel || !*accel || g_str_equal(accel, "kvm")) {
        return true;
    }
    if (g_str_equal(accel, "qtest")) {
        drv->accel_qtest = true;
        g_message("VIRTKESTRELD_ACCEL=qtest: domains run under kestrel's "
                  "qtest accelerator, no guest code runs");
        return true;
    }
    fprintf(stderr, "virtkestreld: VIRTKESTRELD_ACCEL must be kvm or qtest, "
            "not '%s'\n", accel);
    return false;
}

static void log_handler(const char *domain, GLogLevelFlags level,
                        const char *message, void *opaque)
{
    const Options *o = opaque;

    if ((level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO)) && !o->verbose) {
        return;
    }
    fprintf(stderr, "virtkestreld: %s\n", message);
}

int main(int argc, char **argv)
{
    Options o = {
        .max_clients = -1,
        .max_anonymous_clients = -1,
        .max_client_requests = -1,
        .client_timeout = -1,
    };
    Driver drv = { 0 };
    g_autoptr(GOptionContext) ctx = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(RpcServer) srv = NULL;
    GOptionEntry entries[] = {
        { "socket", 0, 0, G_OPTION_ARG_FILENAME, &o.socket,
          "listen on PATH (read-write) and PATH-ro (read-only)", "PATH" },
        { "socket-ro", 0, 0, G_OPTION_ARG_FILENAME, &o.socket_ro,
          "read-only socket path (default: the --socket path + \"-ro\")",
          "PATH" },
        { "config-dir", 0, 0, G_OPTION_ARG_FILENAME, &o.config_dir,
          "persistent domain configs", "DIR" },
        { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &o.state_dir,
          "live state of running domains (QMP sockets, pid files)", "DIR" },
        { "log-dir", 0, 0, G_OPTION_ARG_FILENAME, &o.log_dir,
          "per-domain logs", "DIR" },
        { "emulator", 0, 0, G_OPTION_ARG_FILENAME, &o.emulator,
          "kestrel binary for domains without <emulator>", "PATH" },
        { "system", 0, 0, G_OPTION_ARG_NONE, &o.system,
          "system daemon (kestrel:///system; default as root)", NULL },
        { "session", 0, 0, G_OPTION_ARG_NONE, &o.session,
          "user session daemon (kestrel:///session; default for users)",
          NULL },
        { "max-clients", 0, 0, G_OPTION_ARG_INT, &o.max_clients,
          "clients per socket (default 5000, or a quarter of the open "
          "files limit)", "N" },
        { "max-anonymous-clients", 0, 0, G_OPTION_ARG_INT,
          &o.max_anonymous_clients,
          "clients per socket that have not opened their connection "
          "(default 20)", "N" },
        { "max-client-requests", 0, 0, G_OPTION_ARG_INT,
          &o.max_client_requests,
          "calls in flight per client; more wait unread (default 5)", "N" },
        { "client-timeout", 0, 0, G_OPTION_ARG_INT, &o.client_timeout,
          "seconds a client has to open its connection, and to finish a "
          "message it began (default 30)", "SECONDS" },
        { "verbose", 'v', 0, G_OPTION_ARG_NONE, &o.verbose,
          "log more", NULL },
        { "version", 'V', 0, G_OPTION_ARG_NONE, &o.version,
          "print the version and exit", NULL },
        { NULL },
    };
    int n;

    setlocale(LC_ALL, "");
    ctx = g_option_context_new("- libvirt driver daemon for kestrel");
    g_option_context_set_summary(ctx,
        "Serves libvirt's remote protocol so that virsh, virt-manager and\n"
        "libvirt bindings manage kestrel virtual machines with the URI\n"
        "kestrel:///system (kestrel:///session for a user's daemon).");
    g_option_context_set_description(ctx,
        "Defaults as root (--system): sockets " SYSTEM_RUN_DIR
        "/virtkestreld-sock and\n"
        "-sock-ro, configs " SYSCONFDIR "/libvirt/kestrel, state "
        SYSTEM_RUN_DIR "/kestrel,\n"
        "logs " LOCALSTATEDIR "/log/libvirt/kestrel.  For users "
        "(--session): the socket\n"
        "$XDG_RUNTIME_DIR/libvirt/virtkestreld-sock and directories under\n"
        "$XDG_CONFIG_HOME, $XDG_RUNTIME_DIR and $XDG_CACHE_HOME.\n"
        "See virtkestreld(8).");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "virtkestreld: %s\n", err->message);
        return 2;
    }
    if (o.version) {
        printf("virtkestreld (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "virtkestreld: unexpected argument '%s'\n", argv[1]);
        return 2;
    }
    if (o.system && o.session) {
        fprintf(stderr, "virtkestreld: --system and --session exclude "
                "each other\n");
        return 2;
    }
    g_log_set_default_handler(log_handler, &o);
    signal(SIGPIPE, SIG_IGN);

    options_defaults(&o, &drv);
    if (!setup_accel(&drv)) {
        return 2;
    }
    drv.domains = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                        (GDestroyNotify)domain_obj_unref);
    drv.next_id = 1;
    dispatch_init(&drv, &srv);
    if (!setup_limits(&o, srv)) {
        return 2;
    }

    if (g_mkdir_with_parents(drv.config_dir, DOMAIN_DIR_MODE) < 0 ||
        g_mkdir_with_parents(drv.state_dir, DOMAIN_DIR_MODE) < 0 ||
        g_mkdir_with_parents(drv.log_dir, DOMAIN_DIR_MODE) < 0) {
        fprintf(stderr, "virtkestreld: cannot create directories: %s\n",
                g_strerror(errno));
        return 1;
    }

    n = listen_systemd(srv, &err);
    if (n == 0 &&
        (!rpc_server_add_unix(srv, o.socket, 0700, false, &err) ||
         !rpc_server_add_unix(srv, o.socket_ro, 0777, true, &err))) {
        n = -1;
    }
    if (n < 0) {
        fprintf(stderr, "virtkestreld: %s\n", err->message);
        return 1;
    }

    domain_load_configs(&drv);
    process_reconnect_all(&drv);
    autostart_all(&drv);

    main_loop = g_main_loop_new(NULL, false);
    g_unix_signal_add(SIGTERM, main_quit, NULL);
    g_unix_signal_add(SIGINT, main_quit, NULL);
    if (n > 0) {
        g_message("listening on %d sockets from systemd", n);
    } else {
        g_message("listening on %s and %s", o.socket, o.socket_ro);
    }
    g_main_loop_run(main_loop);
    g_main_loop_unref(main_loop);

    g_clear_pointer(&srv, rpc_server_free);
    g_hash_table_unref(drv.domains);
    g_free(drv.uri);
    g_free(drv.config_dir);
    g_free(drv.state_dir);
    g_free(drv.log_dir);
    g_free(drv.save_dir);
    g_free(drv.emulator);
    g_free(o.socket);
    g_free(o.socket_ro);
    g_free(o.config_dir);
    g_free(o.state_dir);
    g_free(o.log_dir);
    g_free(o.emulator);
    return 0;
}
