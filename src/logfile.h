/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A log file that cannot grow without bound: when the next bytes would
 * take it past its size it rotates, as libvirt's virtlogd does for domain
 * logs (NAME.log -> NAME.log.0 -> NAME.log.1 ..., the oldest dropped).
 *
 * kestrel -D sends its stderr through it (a pipe and a copier thread, so
 * every write counts, whoever makes it: a guest that makes the VMM report
 * something in a loop fills at most LOGFILE_MAX_SIZE * (1 +
 * LOGFILE_MAX_BACKUPS) bytes).  virtkestreld writes its start-up lines to
 * the same file through it.
 */
#ifndef KESTREL_LOGFILE_H
#define KESTREL_LOGFILE_H

#include <stdbool.h>
#include <glib.h>

#define LOGFILE_MAX_SIZE (2u << 20)     /* virtlogd's max_size: 2 MiB */
#define LOGFILE_MAX_BACKUPS 3           /* virtlogd's max_backups */

typedef struct LogFile LogFile;

/*
 * logfile_open: open (create, mode 0600) @path for appending, to hold at
 * most @max_size bytes before it is renamed @path.0 (and @path.0 to
 * @path.1 ..., keeping @backups old files).  Returns NULL with @errp set.
 */
LogFile *logfile_open(const char *path, gsize max_size, guint backups,
                      GError **errp);

/*
 * logfile_write: append @len bytes, rotating first whenever the file is
 * full (a write may be split across files).  Returns false with @errp set
 * if the file cannot be written or rotated.
 */
bool logfile_write(LogFile *lf, const void *buf, gsize len, GError **errp);

/* The descriptor of the current file (valid until the next write) and its
 * size. */
int logfile_get_fd(const LogFile *lf);
goffset logfile_get_size(const LogFile *lf);

void logfile_close(LogFile *lf);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LogFile, logfile_close)

/*
 * logfile_redirect_stderr: from now on stderr goes into a pipe whose other
 * end is copied into @path (rotating with the default limits).  The copy
 * starts with logfile_start_copier(), which must be called in the process
 * that keeps running (after -daemonize forks); until then writes wait in
 * the pipe.  At exit what is left in the pipe is copied.  Returns false
 * with @errp set (nothing is redirected) if @path cannot be opened.
 */
bool logfile_redirect_stderr(const char *path, GError **errp);
void logfile_start_copier(void);

#endif /* KESTREL_LOGFILE_H */
