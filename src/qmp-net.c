/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmp-net: query-rx-filter, set_link and announce-self, for the
 * machine's virtio-net NICs.
 */
#include "config.h"

#include "qmp-cmds.h"
#include "qmp-error.h"
#include "virtio/virtio-net.h"
#include "vm.h"

bool qmp_query_rx_filter(void *ctx, JsonObject *args, JsonNode **ret,
                         GError **errp)
{
    Vm *vm = ctx;
    const char *name = json_object_get_string_member_with_default(
        args, "name", NULL);
    g_autoptr(GError) err = NULL;
    JsonArray *arr = virtio_net_query_rx_filter(vm->devices, name, &err);
    JsonNode *n;

    if (!arr) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC, "%s", err->message);
        return false;
    }
    n = json_node_alloc();
    json_node_init_array(n, arr);
    json_array_unref(arr);
    *ret = n;
    return true;
}

bool qmp_set_link(void *ctx, JsonObject *args, JsonNode **ret,
                  GError **errp)
{
    Vm *vm = ctx;
    g_autoptr(GError) err = NULL;

    (void)ret;
    if (!virtio_net_set_link(vm->devices,
                             json_object_get_string_member(args, "name"),
                             json_object_get_boolean_member(args, "up"),
                             &err)) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_DEVICE_NOT_FOUND, "%s",
                    err->message);
        return false;
    }
    return true;
}

bool qmp_announce_self(void *ctx, JsonObject *args, JsonNode **ret,
                       GError **errp)
{
    Vm *vm = ctx;
    JsonArray *list = json_object_has_member(args, "interfaces")
        ? json_object_get_array_member(args, "interfaces") : NULL;
    g_autofree const char **ifaces = NULL;
    gint64 v[4];
    static const char *const keys[4] = { "initial", "max", "rounds",
                                         "step" };

    (void)ret;
    for (int i = 0; i < 4; i++) {
        v[i] = json_object_get_int_member(args, keys[i]);
        if (v[i] < 0 || v[i] > 100000) {
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "Parameter '%s' expects a value between 0 and "
                        "100000", keys[i]);
            return false;
        }
    }
    if (list) {
        guint n = json_array_get_length(list);

        ifaces = g_new0(const char *, n + 1);
        for (guint i = 0; i < n; i++) {
            ifaces[i] = json_array_get_string_element(list, i);
        }
    }
    virtio_net_announce(vm->devices, ifaces, (unsigned int)v[0],
                        (unsigned int)v[1], (unsigned int)v[2],
                        (unsigned int)v[3]);
    return true;
}
