/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chardev.h"
#include "error.h"
#include "monitor.h"
#include "qmp-cmds.h"
#include "qmp-error.h"
#include "qmp-server.h"
#include "virtio/virtio-balloon.h"
#include "vm.h"

/* QEMU throttles BALLOON_CHANGE to one a second; the last value wins. */
#define BALLOON_CHANGE_PERIOD_US G_USEC_PER_SEC

struct Monitor {
    Vm *vm;
    QmpServer *server;
    gint64 balloon_last_sent;       /* monotonic us, 0: never */
    guint balloon_timer;            /* pending delayed event */
    uint64_t balloon_pending;       /* its value */
    GHashTable *fds;                /* getfd: name -> fd (GINT_TO_POINTER) */
};

bool monitor_getfd(Monitor *mon, const char *name, GError **errp)
{
    int fd = mon ? qmp_server_take_passed_fd(mon->server) : -1;
    gpointer old;

    if (fd < 0) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "No file descriptor supplied via SCM_RIGHTS");
        return false;
    }
    if (g_ascii_isdigit(name[0])) {
        close(fd);
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "Parameter 'fdname' expects a name not starting with a "
                    "digit");
        return false;
    }
    /* A name given again replaces its descriptor, as in QEMU. */
    if (g_hash_table_lookup_extended(mon->fds, name, NULL, &old)) {
        close(GPOINTER_TO_INT(old));
    }
    g_hash_table_insert(mon->fds, g_strdup(name), GINT_TO_POINTER(fd));
    return true;
}

bool monitor_closefd(Monitor *mon, const char *name, GError **errp)
{
    gpointer fd;

    if (!mon || !g_hash_table_lookup_extended(mon->fds, name, NULL, &fd)) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "File descriptor named '%s' not found", name);
        return false;
    }
    close(GPOINTER_TO_INT(fd));
    g_hash_table_remove(mon->fds, name);
    return true;
}

int monitor_take_fd(Monitor *mon, const char *name)
{
    gpointer fd;

    if (!mon || !g_hash_table_lookup_extended(mon->fds, name, NULL, &fd)) {
        return -1;
    }
    g_hash_table_remove(mon->fds, name);
    return GPOINTER_TO_INT(fd);
}

static void close_named_fd(gpointer key, gpointer value, gpointer opaque)
{
    close(GPOINTER_TO_INT(value));
}

bool monitor_owns_chardev(const Vm *vm, const char *id)
{
    for (guint i = 0; i < vm->cfg->monitors->len; i++) {
        const MonitorConfig *m = g_ptr_array_index(vm->cfg->monitors, i);

        if (g_strcmp0(m->chardev, id) == 0) {
            return true;
        }
    }
    return false;
}

void monitor_emit(Monitor *mon, const char *name, JsonObject *data)
{
    if (mon && mon->server) {
        qmp_server_emit_event(mon->server, name, data);
    }
}

static JsonObject *shutdown_data(bool guest, ShutdownCause cause)
{
    JsonObject *o = json_object_new();

    json_object_set_boolean_member(o, "guest", guest);
    json_object_set_string_member(o, "reason", shutdown_cause_name(cause));
    return o;
}

/* STOP/RESUME as QEMU sends them: RESUME whenever the VM starts running,
 * STOP whenever it stops, except while the process is on its way out. */
static void monitor_on_state_change(Vm *vm, RunState old, RunState now)
{
    if (now == RUN_STATE_RUNNING) {
        monitor_emit(vm->monitor, "RESUME", NULL);
    } else if (old == RUN_STATE_RUNNING && !vm->quitting) {
        monitor_emit(vm->monitor, "STOP", NULL);
    }
}

static void monitor_on_shutdown(Vm *vm, bool guest, ShutdownCause cause)
{
    g_autoptr(JsonObject) data = shutdown_data(guest, cause);

    monitor_emit(vm->monitor, "SHUTDOWN", data);
}

static void monitor_on_reset(Vm *vm, bool guest, ShutdownCause cause)
{
    g_autoptr(JsonObject) data = shutdown_data(guest, cause);

    monitor_emit(vm->monitor, "RESET", data);
}

static void monitor_on_device_event(Vm *vm, const char *name,
                                    JsonObject *data)
{
    monitor_emit(vm->monitor, name, data);
    json_object_unref(data);
}

static void monitor_send_balloon_change(Monitor *mon, uint64_t actual)
{
    g_autoptr(JsonObject) data = json_object_new();

    json_object_set_int_member(data, "actual", (gint64)actual);
    monitor_emit(mon, "BALLOON_CHANGE", data);
    mon->balloon_last_sent = g_get_monotonic_time();
}

static gboolean monitor_balloon_timer_cb(gpointer opaque)
{
    Monitor *mon = opaque;

    mon->balloon_timer = 0;
    monitor_send_balloon_change(mon, mon->balloon_pending);
    return G_SOURCE_REMOVE;
}

static void monitor_on_balloon_change(void *opaque, uint64_t actual)
{
    Monitor *mon = opaque;
    gint64 now = g_get_monotonic_time();
    gint64 next = mon->balloon_last_sent + BALLOON_CHANGE_PERIOD_US;

    if (!mon->balloon_last_sent || now >= next) {
        monitor_send_balloon_change(mon, actual);
        return;
    }
    mon->balloon_pending = actual;
    if (!mon->balloon_timer) {
        mon->balloon_timer = g_timeout_add((guint)((next - now + 999) / 1000),
                                           monitor_balloon_timer_cb, mon);
    }
}

static bool monitor_serve(Monitor *mon, const MonitorConfig *mc,
                          GError **errp)
{
    const ChardevConfig *cc = vm_config_find_chardev(mon->vm->cfg,
                                                     mc->chardev);
    int fd;

    if (mc->mode != MONITOR_MODE_CONTROL) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "monitor on chardev '%s': HMP monitors (mode=readline) "
                    "are not supported by kestrel; use mode=control (QMP)",
                    mc->chardev);
        return false;
    }
    if (!cc) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "chardev '%s' not found", mc->chardev);
        return false;
    }
    switch (cc->backend) {
    case CHARDEV_STDIO:
        return qmp_server_add_connection(mon->server, STDIN_FILENO,
                                         STDOUT_FILENO, mc->pretty, errp);
    case CHARDEV_SOCKET:
        fd = chardev_socket_open(cc, errp);
        if (fd < 0) {
            return false;
        }
        if (!chardev_socket_is_listening(fd)) {
            return qmp_server_add_connection(mon->server, fd, fd, mc->pretty,
                                             errp);
        }
        if (cc->server && cc->wait && cc->fd < 0) {
            /* wait=on: QEMU blocks start-up until a client is there. */
            int client = chardev_socket_accept(cc, fd, errp);

            if (client < 0 ||
                !qmp_server_add_connection(mon->server, client, client,
                                           mc->pretty, errp)) {
                close(fd);
                return false;
            }
        }
        return qmp_server_add_listener(mon->server, fd, mc->pretty, errp);
    default:
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "monitor on chardev '%s': QMP needs a socket or stdio "
                    "chardev", mc->chardev);
        return false;
    }
}

Monitor *monitor_new(Vm *vm, GError **errp)
{
    Monitor *mon = g_new0(Monitor, 1);
    QmpDispatchConfig dc;

    mon->vm = vm;
    mon->fds = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    qmp_cmds_dispatch_config(vm, &dc);
    mon->server = qmp_server_new(&dc, errp);
    if (!mon->server) {
        g_free(mon);
        return NULL;
    }
    for (guint i = 0; i < vm->cfg->monitors->len; i++) {
        if (!monitor_serve(mon, g_ptr_array_index(vm->cfg->monitors, i),
                           errp)) {
            monitor_free(mon);
            return NULL;
        }
    }
    if (vm->mem && balloon_find(vm)) {
        balloon_set_change_hook(balloon_find(vm), monitor_on_balloon_change,
                                mon);
    }
    vm->on_state_change = monitor_on_state_change;
    vm->on_shutdown = monitor_on_shutdown;
    vm->on_reset = monitor_on_reset;
    vm->on_device_event = monitor_on_device_event;
    return mon;
}

void monitor_flush(Monitor *mon)
{
    if (mon && mon->server) {
        qmp_server_flush(mon->server, 1000);
    }
}

void monitor_free(Monitor *mon)
{
    if (!mon) {
        return;
    }
    if (mon->balloon_timer) {
        g_source_remove(mon->balloon_timer);
    }
    if (mon->vm->mem && balloon_find(mon->vm)) {
        balloon_set_change_hook(balloon_find(mon->vm), NULL, NULL);
    }
    qmp_server_free(mon->server);
    g_hash_table_foreach(mon->fds, close_named_fd, NULL);
    g_hash_table_unref(mon->fds);
    g_free(mon);
}
