/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include "chardev.h"
#include "error.h"

#define CHARDEV_BUF 4096

struct Chardev {
    ChardevConfig *cfg;         /* our own copy */
    int in_fd;                  /* input, -1 if none (file, null) */
    int out_fd;                 /* output, -1 if none or not connected */
    int listen_fd;              /* socket server */
    char *pty_path;
    guint in_watch;             /* g_unix_fd_add source for input */
    guint listen_watch;
    int pty_inotify;            /* pty: IN_OPEN of the slave, -1 if none */
    guint pty_open_watch;       /* pty: waiting for a client to open it */

    GMutex lock;                /* protects out_fd for writers */
    uint8_t pending[CHARDEV_BUF];   /* input read but not yet taken */
    size_t pending_len;
    size_t pending_off;
    gint resume_queued;
    bool escape;                /* stdio tty: the last byte was Ctrl-A */

    ChardevCanRead can_read;
    ChardevRead read;
    ChardevEvent event;
    void *opaque;
};

static struct termios saved_tty;
static bool tty_saved;

/* Ctrl-A x on an interactive stdio console quits, as in QEMU's -nographic. */
static void (*quit_handler)(void *opaque);
static void *quit_opaque;

void chardev_set_quit_handler(void (*handler)(void *opaque), void *opaque)
{
    quit_handler = handler;
    quit_opaque = opaque;
}

void chardev_restore_terminal(void)
{
    if (tty_saved) {
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
        tty_saved = false;
    }
}

static void stdio_raw_mode(bool keep_signals)
{
    struct termios tty;

    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &tty) < 0) {
        return;
    }
    saved_tty = tty;
    tty_saved = true;
    atexit(chardev_restore_terminal);
    /* The guest's console does its own echo and line editing. */
    tty.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR |
                     ICRNL | IXON);
    tty.c_oflag |= OPOST;
    tty.c_lflag &= ~(ECHO | ECHONL | ICANON | IEXTEN);
    if (!keep_signals) {
        tty.c_lflag &= ~ISIG;
    }
    tty.c_cflag &= ~(CSIZE | PARENB);
    tty.c_cflag |= CS8;
    tty.c_cc[VMIN] = 1;
    tty.c_cc[VTIME] = 0;
    tcsetattr(STDIN_FILENO, TCSANOW, &tty);
}

static ChardevConfig *chardev_config_copy(const ChardevConfig *c)
{
    ChardevConfig *n = g_new0(ChardevConfig, 1);

    *n = *c;
    n->id = g_strdup(c->id);
    n->path = g_strdup(c->path);
    n->host = g_strdup(c->host);
    n->port = g_strdup(c->port);
    return n;
}

static void chardev_config_free(ChardevConfig *c)
{
    g_free(c->id);
    g_free(c->path);
    g_free(c->host);
    g_free(c->port);
    g_free(c);
}

static gboolean chardev_input_cb(gint fd, GIOCondition cond, gpointer opaque);

/* Hand buffered input to the frontend as far as it takes it. True if the
 * buffer is empty afterwards. */
static bool chardev_flush_pending(Chardev *chr)
{
    while (chr->pending_off < chr->pending_len) {
        size_t room = chr->can_read ? chr->can_read(chr->opaque) : 0;
        size_t n = MIN(room, chr->pending_len - chr->pending_off);

        if (n == 0) {
            return false;
        }
        chr->read(chr->opaque, chr->pending + chr->pending_off, n);
        chr->pending_off += n;
    }
    chr->pending_off = chr->pending_len = 0;
    return true;
}

static void chardev_watch_input(Chardev *chr)
{
    if (chr->in_fd >= 0 && !chr->in_watch) {
        chr->in_watch = g_unix_fd_add(chr->in_fd, G_IO_IN | G_IO_HUP | G_IO_ERR,
                                      chardev_input_cb, chr);
    }
}

static void chardev_disconnect(Chardev *chr);

#define CTRL_A 0x01

/*
 * QEMU's escapes on an interactive console: C-a x quits, C-a h helps,
 * C-a C-a sends one C-a. Everything else goes to the guest. Returns the
 * new length of @buf.
 */
static size_t chardev_filter_escapes(Chardev *chr, uint8_t *buf, size_t len)
{
    static const char help[] =
        "\r\nC-a h    print this help\r\n"
        "C-a x    exit kestrel\r\n"
        "C-a C-a  send C-a\r\n";
    size_t out = 0;

    for (size_t i = 0; i < len; i++) {
        uint8_t c = buf[i];

        if (!chr->escape) {
            if (c == CTRL_A) {
                chr->escape = true;
            } else {
                buf[out++] = c;
            }
            continue;
        }
        chr->escape = false;
        if (c == 'x' || c == 'X') {
            if (quit_handler) {
                quit_handler(quit_opaque);
            }
        } else if (c == 'h' || c == '?') {
            chardev_write(chr, (const uint8_t *)help, sizeof(help) - 1);
        } else if (c == CTRL_A) {
            buf[out++] = c;
        }
    }
    return out;
}

static gboolean chardev_pty_retry_cb(gpointer opaque)
{
    chardev_watch_input(opaque);
    return G_SOURCE_REMOVE;
}

static gboolean chardev_pty_open_cb(gint fd, GIOCondition cond,
                                    gpointer opaque)
{
    Chardev *chr = opaque;
    char ev[sizeof(struct inotify_event) + NAME_MAX + 1];

    while (read(fd, ev, sizeof(ev)) > 0) {
        /* drain: any open of the slave is news */
    }
    chr->pty_open_watch = 0;
    chardev_watch_input(chr);
    return G_SOURCE_REMOVE;
}

/*
 * The pty has no slave open (the client left, or none came yet): the
 * master reports HUP until one does, so it cannot be polled. Wait for
 * the slave's device node to be opened (inotify IN_OPEN) instead of
 * re-polling every 200 ms: an idle console costs no wake-ups. If inotify
 * is not available, poll as before.
 */
static void chardev_pty_wait_client(Chardev *chr)
{
    struct pollfd pfd = { .fd = chr->in_fd, .events = POLLIN };

    if (chr->pty_inotify < 0) {
        chr->pty_inotify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (chr->pty_inotify >= 0 &&
            inotify_add_watch(chr->pty_inotify, chr->pty_path, IN_OPEN) < 0) {
            close(chr->pty_inotify);
            chr->pty_inotify = -1;
        }
    }
    if (chr->pty_inotify < 0) {
        g_timeout_add(200, chardev_pty_retry_cb, chr);
        return;
    }
    /* A client that opened the slave before the watch existed: it has no
     * event, but the master no longer reports HUP. */
    if (poll(&pfd, 1, 0) == 1 && !(pfd.revents & POLLHUP)) {
        chardev_watch_input(chr);
        return;
    }
    if (!chr->pty_open_watch) {
        chr->pty_open_watch = g_unix_fd_add(chr->pty_inotify, G_IO_IN,
                                            chardev_pty_open_cb, chr);
    }
}

static gboolean chardev_input_cb(gint fd, GIOCondition cond, gpointer opaque)
{
    Chardev *chr = opaque;
    ssize_t n;

    if (!chardev_flush_pending(chr)) {
        chr->in_watch = 0;          /* resumed by chardev_accept_input */
        return G_SOURCE_REMOVE;
    }
    n = read(fd, chr->pending, sizeof(chr->pending));
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return G_SOURCE_CONTINUE;
    }
    if (n <= 0) {
        chr->in_watch = 0;
        if (chr->cfg->backend == CHARDEV_SOCKET) {
            chardev_disconnect(chr);
        } else if (chr->cfg->backend == CHARDEV_PTY) {
            chardev_pty_wait_client(chr);
        }
        return G_SOURCE_REMOVE;
    }
    chr->pending_len = (size_t)n;
    chr->pending_off = 0;
    if (chr->cfg->backend == CHARDEV_STDIO && tty_saved) {
        chr->pending_len = chardev_filter_escapes(chr, chr->pending,
                                                  chr->pending_len);
    }
    if (!chardev_flush_pending(chr)) {
        chr->in_watch = 0;
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static gboolean chardev_resume_cb(gpointer opaque)
{
    Chardev *chr = opaque;

    g_atomic_int_set(&chr->resume_queued, 0);
    if (chardev_flush_pending(chr)) {
        chardev_watch_input(chr);
    }
    return G_SOURCE_REMOVE;
}

void chardev_accept_input(Chardev *chr)
{
    if (chr->in_watch || chr->in_fd < 0) {
        return;
    }
    if (g_atomic_int_compare_and_exchange(&chr->resume_queued, 0, 1)) {
        g_idle_add(chardev_resume_cb, chr);
    }
}

static void chardev_disconnect(Chardev *chr)
{
    int fd;

    g_mutex_lock(&chr->lock);
    fd = chr->out_fd;
    chr->out_fd = -1;
    g_mutex_unlock(&chr->lock);
    if (chr->in_watch) {
        g_source_remove(chr->in_watch);
        chr->in_watch = 0;
    }
    chr->in_fd = -1;
    chr->pending_len = chr->pending_off = 0;
    if (fd >= 0) {
        close(fd);
    }
    if (chr->event) {
        chr->event(chr->opaque, false);
    }
}

static void chardev_attach_client(Chardev *chr, int fd)
{
    g_unix_set_fd_nonblocking(fd, TRUE, NULL);
    g_mutex_lock(&chr->lock);
    chr->out_fd = fd;
    g_mutex_unlock(&chr->lock);
    chr->in_fd = fd;
    chardev_watch_input(chr);
    if (chr->event) {
        chr->event(chr->opaque, true);
    }
}

static gboolean chardev_accept_cb(gint fd, GIOCondition cond, gpointer opaque)
{
    Chardev *chr = opaque;
    int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

    if (c < 0) {
        return G_SOURCE_CONTINUE;
    }
    if (chr->out_fd >= 0) {
        /* One client at a time, as QEMU: the newcomer is turned away. */
        close(c);
        return G_SOURCE_CONTINUE;
    }
    chardev_attach_client(chr, c);
    return G_SOURCE_CONTINUE;
}

/* A UNIX stream socket and its address; -1 with @errp set on failure. */
static int socket_unix_new(const char *path, struct sockaddr_un *sa,
                           GError **errp)
{
    int fd;

    *sa = (struct sockaddr_un) { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa->sun_path)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "UNIX socket path '%s' is too long", path);
        return -1;
    }
    strcpy(sa->sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "Failed to create socket: %s", g_strerror(errno));
    }
    return fd;
}

static int socket_listen_unix(const char *path, GError **errp)
{
    struct sockaddr_un sa;
    int fd = socket_unix_new(path, &sa, errp);

    if (fd < 0) {
        return -1;
    }
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(fd, 1) < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "Failed to bind socket to %s: %s", path,
                    g_strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int socket_connect_unix(const char *path, GError **errp)
{
    struct sockaddr_un sa;
    int fd = socket_unix_new(path, &sa, errp);

    if (fd < 0) {
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "Failed to connect to '%s': %s", path, g_strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int socket_inet(const char *host, const char *port, bool server,
                       GError **errp)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
                              .ai_flags = server ? AI_PASSIVE : 0 };
    struct addrinfo *res = NULL, *ai;
    int fd = -1, rc, saved = 0;

    rc = getaddrinfo(host && *host ? host : NULL, port, &hints, &res);
    if (rc != 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "address resolution failed for %s:%s: %s",
                    host ? host : "", port, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        int one = 1;

        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        if (server) {
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
                listen(fd, 1) == 0) {
                break;
            }
        } else if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "Failed to %s socket %s:%s: %s",
                    server ? "listen on" : "connect to",
                    host ? host : "", port, g_strerror(saved));
    }
    return fd;
}

int chardev_socket_open(const ChardevConfig *c, GError **errp)
{
    if (c->fd >= 0) {
        int type = 0;
        socklen_t len = sizeof(type);

        if (getsockopt(c->fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "chardev '%s': fd %d is not a socket: %s", c->id,
                        c->fd, g_strerror(errno));
            return -1;
        }
        fcntl(c->fd, F_SETFD, FD_CLOEXEC);
        return c->fd;
    }
    if (c->server) {
        return c->is_tcp ? socket_inet(c->host, c->port, true, errp)
                         : socket_listen_unix(c->path, errp);
    }
    return c->is_tcp ? socket_inet(c->host, c->port, false, errp)
                     : socket_connect_unix(c->path, errp);
}

bool chardev_socket_is_listening(int fd)
{
    int listening = 0;
    socklen_t len = sizeof(listening);

    return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 &&
           listening;
}

int chardev_socket_accept(const ChardevConfig *c, int listen_fd,
                          GError **errp)
{
    int client;

    fprintf(stderr, "kestrel: waiting for connection on %s:%s\n",
            c->is_tcp ? "tcp" : "unix",
            c->is_tcp ? c->port : c->path);
    do {
        client = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    } while (client < 0 && errno == EINTR);
    if (client < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "chardev '%s': accept failed: %s", c->id,
                    g_strerror(errno));
    }
    return client;
}

static bool chardev_open_socket(Chardev *chr, GError **errp)
{
    const ChardevConfig *c = chr->cfg;
    int fd = chardev_socket_open(c, errp);

    if (fd < 0) {
        return false;
    }
    if (!chardev_socket_is_listening(fd)) {
        chardev_attach_client(chr, fd);
        return true;
    }
    chr->listen_fd = fd;
    if (c->server && c->wait && c->fd < 0) {
        /* wait=on: block start-up until the first client, as QEMU does. */
        int client = chardev_socket_accept(c, fd, errp);

        if (client < 0) {
            return false;
        }
        chardev_attach_client(chr, client);
    }
    g_unix_set_fd_nonblocking(fd, TRUE, NULL);
    chr->listen_watch = g_unix_fd_add(fd, G_IO_IN, chardev_accept_cb, chr);
    return true;
}

static bool chardev_open_pty(Chardev *chr, GError **errp)
{
    int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    struct termios tty;
    const char *name;

    if (fd < 0 || grantpt(fd) < 0 || unlockpt(fd) < 0 ||
        !(name = ptsname(fd))) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "chardev '%s': cannot create a pty: %s", chr->cfg->id,
                    g_strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return false;
    }
    if (tcgetattr(fd, &tty) == 0) {
        cfmakeraw(&tty);
        tcsetattr(fd, TCSAFLUSH, &tty);
    }
    chr->pty_path = g_strdup(name);
    g_unix_set_fd_nonblocking(fd, TRUE, NULL);
    chr->in_fd = chr->out_fd = fd;
    /* The same line QEMU prints: scripts look for it. */
    fprintf(stderr, "char device redirected to %s (label %s)\n", name,
            chr->cfg->id);
    return true;
}

Chardev *chardev_new(const ChardevConfig *cfg, GError **errp)
{
    g_autoptr(Chardev) chr = g_new0(Chardev, 1);
    int fd;

    chr->cfg = chardev_config_copy(cfg);
    chr->in_fd = chr->out_fd = chr->listen_fd = -1;
    chr->pty_inotify = -1;
    g_mutex_init(&chr->lock);

    switch (cfg->backend) {
    case CHARDEV_NULL:
        break;
    case CHARDEV_STDIO:
        stdio_raw_mode(cfg->signal);
        chr->in_fd = STDIN_FILENO;
        chr->out_fd = STDOUT_FILENO;
        break;
    case CHARDEV_FILE:
        fd = open(cfg->path, O_WRONLY | O_CREAT | O_CLOEXEC |
                  (cfg->append ? O_APPEND : O_TRUNC), 0666);
        if (fd < 0) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "Could not open '%s': %s", cfg->path,
                        g_strerror(errno));
            return NULL;
        }
        chr->out_fd = fd;
        break;
    case CHARDEV_PTY:
        if (!chardev_open_pty(chr, errp)) {
            return NULL;
        }
        break;
    case CHARDEV_SOCKET:
        if (!chardev_open_socket(chr, errp)) {
            return NULL;
        }
        break;
    }
    return g_steal_pointer(&chr);
}

void chardev_free(Chardev *chr)
{
    if (!chr) {
        return;
    }
    if (chr->in_watch) {
        g_source_remove(chr->in_watch);
    }
    if (chr->listen_watch) {
        g_source_remove(chr->listen_watch);
    }
    if (chr->pty_open_watch) {
        g_source_remove(chr->pty_open_watch);
    }
    if (chr->pty_inotify >= 0) {
        close(chr->pty_inotify);
    }
    if (chr->out_fd > STDERR_FILENO) {
        close(chr->out_fd);
    }
    if (chr->in_fd > STDERR_FILENO && chr->in_fd != chr->out_fd) {
        close(chr->in_fd);
    }
    if (chr->listen_fd >= 0) {
        close(chr->listen_fd);
        if (chr->cfg->backend == CHARDEV_SOCKET && !chr->cfg->is_tcp &&
            chr->cfg->path && chr->cfg->fd < 0) {
            unlink(chr->cfg->path);
        }
    }
    if (chr->cfg->backend == CHARDEV_STDIO) {
        chardev_restore_terminal();
    }
    g_free(chr->pty_path);
    chardev_config_free(chr->cfg);
    g_mutex_clear(&chr->lock);
    g_free(chr);
}

const char *chardev_id(const Chardev *chr)
{
    return chr->cfg->id;
}

const ChardevConfig *chardev_config(const Chardev *chr)
{
    return chr->cfg;
}

const char *chardev_pty_path(const Chardev *chr)
{
    return chr->pty_path;
}

bool chardev_connected(const Chardev *chr)
{
    return chr->out_fd >= 0;
}

void chardev_set_frontend(Chardev *chr, ChardevCanRead can_read,
                          ChardevRead read, ChardevEvent event, void *opaque)
{
    chr->can_read = can_read;
    chr->read = read;
    chr->event = event;
    chr->opaque = opaque;
    if (read) {
        chardev_watch_input(chr);
    }
}

void chardev_write(Chardev *chr, const uint8_t *buf, size_t len)
{
    g_mutex_lock(&chr->lock);
    while (len > 0 && chr->out_fd >= 0) {
        ssize_t n = write(chr->out_fd, buf, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            /* Nobody reading (pty without a slave, slow client): drop
             * rather than stall the vCPU. */
            break;
        }
        buf += n;
        len -= (size_t)n;
    }
    g_mutex_unlock(&chr->lock);
}
