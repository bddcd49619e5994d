/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Character device backends: null, stdio, file, pty, socket (unix or tcp,
 * server or client, or an inherited fd). The backend belongs to the main
 * loop; a frontend (a UART, later a monitor) writes from any thread and
 * receives input on the main thread, with flow control.
 */
#ifndef KESTREL_CHARDEV_H
#define KESTREL_CHARDEV_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmconfig.h"

typedef struct Chardev Chardev;

/* How many bytes the frontend can take now (0 = stop reading). */
typedef size_t (*ChardevCanRead)(void *opaque);
typedef void (*ChardevRead)(void *opaque, const uint8_t *buf, size_t len);
/* A client connected (true) or went away (false). */
typedef void (*ChardevEvent)(void *opaque, bool connected);

Chardev *chardev_new(const ChardevConfig *cfg, GError **errp);
void chardev_free(Chardev *chr);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Chardev, chardev_free)

const char *chardev_id(const Chardev *chr);
const ChardevConfig *chardev_config(const Chardev *chr);
/* pty: the slave's path; NULL for other backends. */
const char *chardev_pty_path(const Chardev *chr);
/* Whether a peer is there to read (socket: a client; others: true). */
bool chardev_connected(const Chardev *chr);

void chardev_set_frontend(Chardev *chr, ChardevCanRead can_read,
                          ChardevRead read, ChardevEvent event, void *opaque);

/* Write all of @buf if a peer is there; drop it otherwise (as QEMU does
 * for an unconnected socket). Thread-safe. */
void chardev_write(Chardev *chr, const uint8_t *buf, size_t len);

/* The frontend has room again: resume reading input. Thread-safe. */
void chardev_accept_input(Chardev *chr);

/*
 * Socket helpers shared with the QMP monitors: open what @c describes (a
 * listening socket for server=on, a connected one otherwise, or the
 * inherited fd=N), tell a listener from a connection, and accept the
 * first client of a wait=on server (blocking, with QEMU's message).
 */
int chardev_socket_open(const ChardevConfig *c, GError **errp);
bool chardev_socket_is_listening(int fd);
int chardev_socket_accept(const ChardevConfig *c, int listen_fd,
                          GError **errp);

/* Called on Ctrl-A x typed at an interactive stdio console. */
void chardev_set_quit_handler(void (*handler)(void *opaque), void *opaque);

/* Restore the terminal if stdio put it in raw mode (atexit-safe). */
void chardev_restore_terminal(void);

#endif /* KESTREL_CHARDEV_H */
