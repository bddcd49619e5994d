/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The VMM's QMP monitors: every -qmp / -mon mode=control of the command
 * line, served by one QmpServer (qmp/), with the VM's events.
 */
#ifndef KESTREL_MONITOR_H
#define KESTREL_MONITOR_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>

typedef struct Vm Vm;
typedef struct Monitor Monitor;

/* Start serving every control monitor of vm->cfg (sockets listen before
 * this returns; wait=on blocks until the first client). Returns NULL with
 * @errp set on failure; a Monitor with nothing to serve is still valid. */
Monitor *monitor_new(Vm *vm, GError **errp);
void monitor_free(Monitor *mon);

/* Send pending replies and events (before the process exits). */
void monitor_flush(Monitor *mon);

/* Emit an event to every negotiated client; @data borrowed, may be NULL. */
void monitor_emit(Monitor *mon, const char *name, JsonObject *data);

/* getfd: keep the descriptor the client just passed under @name. */
bool monitor_getfd(Monitor *mon, const char *name, GError **errp);
/* closefd: close and forget @name. */
bool monitor_closefd(Monitor *mon, const char *name, GError **errp);
/* Take the descriptor named @name (the caller owns it now); -1 if none. */
int monitor_take_fd(Monitor *mon, const char *name);

/* Whether chardev @id belongs to a monitor (so the VM does not open it). */
bool monitor_owns_chardev(const Vm *vm, const char *id);

#endif /* KESTREL_MONITOR_H */
