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

/* Whether chardev @id belongs to a monitor (so the VM does not open it). */
bool monitor_owns_chardev(const Vm *vm, const char *id);

#endif /* KESTREL_MONITOR_H */
