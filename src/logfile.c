/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Rotating log files (logfile.h), and kestrel's stderr through one.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "logfile.h"

struct LogFile {
    char *path;
    gsize max_size;
    guint backups;
    int fd;
    goffset size;
};

static bool logfile_set_error(GError **errp, const char *what,
                              const char *path)
{
    int e = errno;

    g_set_error(errp, G_FILE_ERROR, g_file_error_from_errno(e),
                "cannot %s log file '%s': %s", what, path, g_strerror(e));
    return false;
}

static bool logfile_reopen(LogFile *lf, GError **errp)
{
    struct stat st;

    lf->fd = open(lf->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                  0600);
    if (lf->fd < 0) {
        return logfile_set_error(errp, "open", lf->path);
    }
    lf->size = fstat(lf->fd, &st) == 0 ? st.st_size : 0;
    return true;
}

LogFile *logfile_open(const char *path, gsize max_size, guint backups,
                      GError **errp)
{
    LogFile *lf = g_new0(LogFile, 1);

    lf->path = g_strdup(path);
    lf->max_size = MAX(max_size, 1);
    lf->backups = backups;
    if (!logfile_reopen(lf, errp)) {
        logfile_close(lf);
        return NULL;
    }
    return lf;
}

/* NAME.log.(i-1) -> NAME.log.i down to NAME.log -> NAME.log.0; the oldest
 * is renamed over (dropped).  No backups: the file starts again empty. */
static bool logfile_rotate(LogFile *lf, GError **errp)
{
    close(lf->fd);
    lf->fd = -1;
    if (!lf->backups) {
        if (truncate(lf->path, 0) < 0 && errno != ENOENT) {
            return logfile_set_error(errp, "truncate", lf->path);
        }
        return logfile_reopen(lf, errp);
    }
    for (guint i = lf->backups - 1; i > 0; i--) {
        g_autofree char *from = g_strdup_printf("%s.%u", lf->path, i - 1);
        g_autofree char *to = g_strdup_printf("%s.%u", lf->path, i);

        if (rename(from, to) < 0 && errno != ENOENT) {
            return logfile_set_error(errp, "rotate", from);
        }
    }
    {
        g_autofree char *to = g_strdup_printf("%s.0", lf->path);

        if (rename(lf->path, to) < 0 && errno != ENOENT) {
            return logfile_set_error(errp, "rotate", lf->path);
        }
    }
    return logfile_reopen(lf, errp);
}

bool logfile_write(LogFile *lf, const void *buf, gsize len, GError **errp)
{
    const char *p = buf;

    while (len) {
        gsize room;
        ssize_t n;

        if (lf->fd < 0 && !logfile_reopen(lf, errp)) {
            return false;
        }
        if ((gsize)lf->size >= lf->max_size && !logfile_rotate(lf, errp)) {
            return false;
        }
        room = lf->max_size - lf->size;
        n = write(lf->fd, p, MIN(len, room));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return logfile_set_error(errp, "write", lf->path);
        }
        p += n;
        len -= n;
        lf->size += n;
    }
    return true;
}

int logfile_get_fd(const LogFile *lf)
{
    return lf->fd;
}

goffset logfile_get_size(const LogFile *lf)
{
    return lf->size;
}

void logfile_close(LogFile *lf)
{
    if (!lf) {
        return;
    }
    if (lf->fd >= 0) {
        close(lf->fd);
    }
    g_free(lf->path);
    g_free(lf);
}

/* ---- kestrel's stderr ------------------------------------------------- */

static LogFile *stderr_log;
static int stderr_pipe = -1;            /* the read end */
static GThread *stderr_copier;
static gint stderr_stopping;

/* Copy what the pipe holds; with @wait, until EOF, or until it has been
 * quiet for a moment once we are exiting (a child such as an exec:
 * migration command may hold a write end for ever). */
static void logfile_copy(bool wait)
{
    char buf[65536];

    for (;;) {
        struct pollfd pfd = { .fd = stderr_pipe, .events = POLLIN };
        bool stopping = g_atomic_int_get(&stderr_stopping);
        int r = poll(&pfd, 1, !wait ? 0 : stopping ? 100 : 1000);
        ssize_t n;

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            if (!wait || stopping) {
                return;
            }
            continue;
        }
        n = read(stderr_pipe, buf, sizeof(buf));
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (n <= 0) {
            return;                     /* EOF: every writer is gone */
        }
        /* Nowhere to report a failing log: drop the bytes. */
        logfile_write(stderr_log, buf, n, NULL);
    }
}

static void *logfile_copier_main(void *opaque)
{
    logfile_copy(true);
    return NULL;
}

static void logfile_stderr_atexit(void)
{
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

    fflush(stderr);
    /* Our write end goes: the copier sees EOF unless a child holds one. */
    if (null >= 0) {
        dup2(null, STDERR_FILENO);
        close(null);
    }
    g_atomic_int_set(&stderr_stopping, 1);
    if (stderr_copier) {
        g_thread_join(stderr_copier);
        stderr_copier = NULL;
    } else {
        logfile_copy(false);
    }
}

bool logfile_redirect_stderr(const char *path, GError **errp)
{
    int fds[2];

    stderr_log = logfile_open(path, LOGFILE_MAX_SIZE, LOGFILE_MAX_BACKUPS,
                              errp);
    if (!stderr_log) {
        return false;
    }
    if (pipe2(fds, O_CLOEXEC) < 0) {
        g_set_error(errp, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "cannot redirect stderr to '%s': %s", path,
                    g_strerror(errno));
        g_clear_pointer(&stderr_log, logfile_close);
        return false;
    }
    fflush(stderr);
    dup2(fds[1], STDERR_FILENO);        /* without O_CLOEXEC */
    close(fds[1]);
    stderr_pipe = fds[0];
    atexit(logfile_stderr_atexit);
    return true;
}

void logfile_start_copier(void)
{
    if (stderr_pipe >= 0 && !stderr_copier) {
        stderr_copier = g_thread_new("log", logfile_copier_main, NULL);
    }
}
