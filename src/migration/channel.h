/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Migration channels, spelled as QEMU spells them: tcp:HOST:PORT,
 * unix:PATH, fd:NAME, exec:COMMAND, file:PATH[,offset=N].
 */
#ifndef KESTREL_MIGRATION_CHANNEL_H
#define KESTREL_MIGRATION_CHANNEL_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum {
    MIG_URI_TCP,
    MIG_URI_UNIX,
    MIG_URI_FD,
    MIG_URI_EXEC,
    MIG_URI_FILE,
} MigUriKind;

typedef struct {
    MigUriKind kind;
    char *host, *port;          /* tcp */
    char *path;                 /* unix, file */
    char *fdname;               /* fd */
    char *command;              /* exec */
    uint64_t offset;            /* file */
} MigUri;

/* Parse @uri; errors in QEMU's words ("Parameter 'uri' expects a valid
 * migration protocol", "error parsing address '...'"). */
bool mig_uri_parse(const char *uri, MigUri *u, GError **errp);
void mig_uri_clear(MigUri *u);

/* The address for messages: "127.0.0.1:4444", "/run/m.sock". */
char *mig_uri_describe(const MigUri *u);

/*
 * Outgoing (blocking, from the migration thread): connect, spawn or open.
 * fd: is resolved by the caller (the fd taken from getfd) and not handled
 * here. exec: the command's stdin is the stream; *child receives its pid.
 */
int mig_channel_connect(const MigUri *u, pid_t *child, GError **errp);

/*
 * Incoming, first step (main thread): tcp and unix listen and return the
 * listening socket (*listening = true); exec spawns the command and
 * returns its stdout; file opens the file; fd: parses the number of an
 * inherited descriptor. Errors name the address.
 */
int mig_channel_listen(const MigUri *u, bool *listening, pid_t *child,
                       GError **errp);

/* The bound address of a listening socket, for query-migrate's
 * socket-address ("inet" host/port or "unix" path). */
bool mig_channel_local_address(int fd, char **host, char **port,
                               char **path);

/* Open more connections to the same tcp/unix address (multifd). */
int mig_channel_connect_more(const MigUri *u, GError **errp);

#endif /* KESTREL_MIGRATION_CHANNEL_H */
