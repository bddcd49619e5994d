/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Migration channels: parse QEMU's URI forms and turn them into file
 * descriptors. Sockets are blocking (the migration threads do plain I/O)
 * and close-on-exec.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "error.h"
#include "json-stream.h"
#include "migration/channel.h"
#include "qmp-error.h"
#include "sandbox.h"

void mig_uri_clear(MigUri *u)
{
    g_free(u->host);
    g_free(u->port);
    g_free(u->path);
    g_free(u->fdname);
    g_free(u->command);
    memset(u, 0, sizeof(*u));
}

static bool parse_inet(const char *addr, MigUri *u, GError **errp)
{
    const char *colon;

    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');

        if (!end || end[1] != ':' || !end[2]) {
            goto bad;
        }
        u->host = g_strndup(addr + 1, (gsize)(end - addr - 1));
        u->port = g_strdup(end + 2);
    } else {
        colon = strrchr(addr, ':');
        if (!colon || !colon[1]) {
            goto bad;
        }
        u->host = g_strndup(addr, (gsize)(colon - addr));
        u->port = g_strdup(colon + 1);
    }
    /* QEMU allows ,to= and friends after the port: not supported here. */
    if (strchr(u->port, ',')) {
        goto bad;
    }
    return true;
bad:
    g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                "error parsing address '%s'", addr);
    return false;
}

bool mig_uri_parse(const char *uri, MigUri *u, GError **errp)
{
    memset(u, 0, sizeof(*u));
    /* a path, host or command cut at a NUL would be another one */
    if (json_string_has_nul(uri)) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "Migration URI '%s' must not contain a NUL character",
                    uri);
        return false;
    }
    if (g_str_has_prefix(uri, "tcp:")) {
        u->kind = MIG_URI_TCP;
        return parse_inet(uri + 4, u, errp);
    }
    if (g_str_has_prefix(uri, "unix:")) {
        u->kind = MIG_URI_UNIX;
        u->path = g_strdup(uri + 5);
        if (!*u->path) {
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "error parsing address '%s'", uri + 5);
            return false;
        }
        return true;
    }
    if (g_str_has_prefix(uri, "fd:")) {
        u->kind = MIG_URI_FD;
        u->fdname = g_strdup(uri + 3);
        if (!*u->fdname) {
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "fd: needs the name of a descriptor (getfd)");
            return false;
        }
        return true;
    }
    if (g_str_has_prefix(uri, "exec:")) {
        u->kind = MIG_URI_EXEC;
        u->command = g_strdup(uri + 5);
        if (!*g_strstrip(u->command)) {
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "exec: needs a command to run");
            return false;
        }
        /* Refused here, so the QMP command fails and the VM runs on,
         * rather than the filter killing us at fork. */
        if (sandbox_spawn_denied()) {
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "exec: migration needs to start a process, which "
                        "-sandbox spawn=deny forbids");
            return false;
        }
        return true;
    }
    if (g_str_has_prefix(uri, "file:")) {
        const char *opt = strstr(uri + 5, ",offset=");

        u->kind = MIG_URI_FILE;
        if (opt) {
            char *end;

            u->path = g_strndup(uri + 5, (gsize)(opt - uri - 5));
            errno = 0;
            u->offset = g_ascii_strtoull(opt + 8, &end, 0);
            if (errno || *end || end == opt + 8) {
                g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                            "file URI has bad offset %s", opt + 8);
                return false;
            }
        } else {
            u->path = g_strdup(uri + 5);
        }
        if (!*u->path) {
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "file: needs a path");
            return false;
        }
        return true;
    }
    g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                "Parameter 'uri' expects a valid migration protocol");
    return false;
}

char *mig_uri_describe(const MigUri *u)
{
    switch (u->kind) {
    case MIG_URI_TCP:
        return strchr(u->host, ':') ? g_strdup_printf("[%s]:%s", u->host,
                                                      u->port)
                                    : g_strdup_printf("%s:%s", u->host,
                                                      u->port);
    case MIG_URI_UNIX:
    case MIG_URI_FILE:
        return g_strdup(u->path);
    case MIG_URI_FD:
        return g_strdup(u->fdname);
    case MIG_URI_EXEC:
        return g_strdup(u->command);
    }
    return g_strdup("");
}

static void tune_socket(int fd, bool tcp)
{
    int one = 1, size = 4 << 20;

    if (tcp) {
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
}

static int connect_error(const MigUri *u, int err, GError **errp)
{
    g_autofree char *addr = mig_uri_describe(u);

    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                "Failed to connect to '%s': %s", addr, g_strerror(err));
    return -1;
}

static int tcp_connect(const MigUri *u, GError **errp)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
    int rc, fd = -1, err = ECONNREFUSED;

    rc = getaddrinfo(u->host[0] ? u->host : NULL, u->port, &hints, &res);
    if (rc) {
        g_autofree char *addr = mig_uri_describe(u);

        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "address resolution failed for %s: %s", addr,
                    gai_strerror(rc));
        return -1;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        tune_socket(fd, true);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd >= 0 ? fd : connect_error(u, err, errp);
}

static bool unix_addr(const char *path, struct sockaddr_un *sa,
                      GError **errp)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "UNIX socket path '%s' is too long", path);
        return false;
    }
    strcpy(sa->sun_path, path);
    return true;
}

static int unix_connect(const MigUri *u, GError **errp)
{
    struct sockaddr_un sa;
    int fd;

    if (!unix_addr(u->path, &sa, errp)) {
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return connect_error(u, errno, errp);
    }
    tune_socket(fd, false);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int err = errno;

        close(fd);
        return connect_error(u, err, errp);
    }
    return fd;
}

/* Run "/bin/sh -c @cmd" with its stdin (@write_end) or stdout on a pipe;
 * returns our end. */
static int spawn(const char *cmd, bool we_write, pid_t *child, GError **errp)
{
    int p[2];
    pid_t pid;

    if (sandbox_spawn_denied()) {       /* mig_uri_parse refused it first */
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "cannot start exec:%s: -sandbox spawn=deny", cmd);
        return -1;
    }
    if (pipe2(p, O_CLOEXEC) < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "cannot create a pipe for exec:%s: %s", cmd,
                    g_strerror(errno));
        return -1;
    }
    pid = fork();
    if (pid < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "cannot start exec:%s: %s", cmd, g_strerror(errno));
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        sigset_t all;

        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        signal(SIGPIPE, SIG_DFL);
        dup2(we_write ? p[0] : p[1], we_write ? 0 : 1);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    *child = pid;
    close(we_write ? p[0] : p[1]);
    return we_write ? p[1] : p[0];
}

int mig_channel_connect(const MigUri *u, pid_t *child, GError **errp)
{
    int fd;

    switch (u->kind) {
    case MIG_URI_TCP:
        return tcp_connect(u, errp);
    case MIG_URI_UNIX:
        return unix_connect(u, errp);
    case MIG_URI_EXEC:
        return spawn(u->command, true, child, errp);
    case MIG_URI_FILE:
        fd = open(u->path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0 || ftruncate(fd, (off_t)u->offset) < 0 ||
            lseek(fd, (off_t)u->offset, SEEK_SET) < 0) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                        "Could not open '%s': %s", u->path,
                        g_strerror(errno));
            if (fd >= 0) {
                close(fd);
            }
            return -1;
        }
        return fd;
    case MIG_URI_FD:
        break;
    }
    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                "fd: channels are resolved by the monitor");
    return -1;
}

int mig_channel_connect_more(const MigUri *u, GError **errp)
{
    return u->kind == MIG_URI_TCP ? tcp_connect(u, errp)
                                  : unix_connect(u, errp);
}

static int listen_error(const char *addr, int err, GError **errp)
{
    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                "Failed to bind socket for %s: %s", addr, g_strerror(err));
    return -1;
}

static int tcp_listen(const MigUri *u, GError **errp)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE }, *res = NULL;
    g_autofree char *addr = mig_uri_describe(u);
    int rc, fd = -1, one = 1, err = EADDRNOTAVAIL;
    const char *host = u->host;

    if (!host[0] || !strcmp(host, "0")) {
        host = NULL;            /* QEMU: "tcp:0:4444" means any */
    }
    rc = getaddrinfo(host, u->port, &hints, &res);
    if (rc) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "address resolution failed for %s: %s", addr,
                    gai_strerror(rc));
        return -1;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        tune_socket(fd, true);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            listen(fd, 16) == 0) {
            break;
        }
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd >= 0 ? fd : listen_error(addr, err, errp);
}

static int unix_listen(const MigUri *u, GError **errp)
{
    struct sockaddr_un sa;
    int fd;

    if (!unix_addr(u->path, &sa, errp)) {
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return listen_error(u->path, errno, errp);
    }
    tune_socket(fd, false);
    unlink(u->path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(fd, 16) < 0) {
        int err = errno;

        close(fd);
        return listen_error(u->path, err, errp);
    }
    return fd;
}

int mig_channel_listen(const MigUri *u, bool *listening, pid_t *child,
                       GError **errp)
{
    int fd;
    char *end;
    long n;

    *listening = false;
    switch (u->kind) {
    case MIG_URI_TCP:
        *listening = true;
        return tcp_listen(u, errp);
    case MIG_URI_UNIX:
        *listening = true;
        return unix_listen(u, errp);
    case MIG_URI_EXEC:
        return spawn(u->command, false, child, errp);
    case MIG_URI_FILE:
        fd = open(u->path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || lseek(fd, (off_t)u->offset, SEEK_SET) < 0) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                        "Could not open '%s': %s", u->path,
                        g_strerror(errno));
            if (fd >= 0) {
                close(fd);
            }
            return -1;
        }
        return fd;
    case MIG_URI_FD:
        errno = 0;
        n = strtol(u->fdname, &end, 10);
        if (errno || *end || end == u->fdname || n < 0 || n > INT32_MAX ||
            fcntl((int)n, F_GETFD) < 0) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "incoming migration: '%s' is not an open file "
                        "descriptor", u->fdname);
            return -1;
        }
        fcntl((int)n, F_SETFD, FD_CLOEXEC);
        return (int)n;
    }
    return -1;
}

bool mig_channel_local_address(int fd, char **host, char **port,
                               char **path)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char h[NI_MAXHOST], p[NI_MAXSERV];

    *host = *port = *path = NULL;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        return false;
    }
    if (ss.ss_family == AF_UNIX) {
        *path = g_strdup(((struct sockaddr_un *)&ss)->sun_path);
        return true;
    }
    if (getnameinfo((struct sockaddr *)&ss, len, h, sizeof(h), p, sizeof(p),
                    NI_NUMERICHOST | NI_NUMERICSERV)) {
        return false;
    }
    *host = g_strdup(h);
    *port = g_strdup(p);
    return true;
}
