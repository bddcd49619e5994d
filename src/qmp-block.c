/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmp-block: query-block, query-blockstats, query-named-block-nodes and
 * block_resize, answered from the machine's block graph (a machine
 * without one, -machine none, has no disks: empty lists).
 */
#include "config.h"

#include "block/blockdev.h"
#include "qmp-cmds.h"
#include "qmp-error.h"
#include "vm.h"

static JsonNode *array_node(JsonArray *arr)
{
    JsonNode *n = json_node_alloc();

    json_node_init_array(n, arr);
    json_array_unref(arr);
    return n;
}

bool qmp_query_block(void *ctx, JsonObject *args, JsonNode **ret,
                     GError **errp)
{
    Vm *vm = ctx;

    (void)args;
    (void)errp;
    *ret = array_node(vm->blocks ? block_graph_query_block(vm->blocks)
                                 : json_array_new());
    return true;
}

bool qmp_query_blockstats(void *ctx, JsonObject *args, JsonNode **ret,
                          GError **errp)
{
    Vm *vm = ctx;

    (void)args;
    (void)errp;
    *ret = array_node(vm->blocks ? block_graph_query_blockstats(vm->blocks)
                                 : json_array_new());
    return true;
}

bool qmp_query_named_block_nodes(void *ctx, JsonObject *args,
                                 JsonNode **ret, GError **errp)
{
    Vm *vm = ctx;

    (void)args;
    (void)errp;
    *ret = array_node(vm->blocks ? block_graph_query_nodes(vm->blocks)
                                 : json_array_new());
    return true;
}

bool qmp_block_resize(void *ctx, JsonObject *args, JsonNode **ret,
                      GError **errp)
{
    Vm *vm = ctx;
    const char *device = json_object_get_string_member_with_default(
        args, "device", NULL);
    const char *node = json_object_get_string_member_with_default(
        args, "node-name", NULL);
    gint64 size = json_object_get_int_member(args, "size");
    g_autoptr(GError) err = NULL;

    (void)ret;
    if (size < 0) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "Parameter 'size' expects a non-negative value");
        return false;
    }
    if (!vm->blocks) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "Cannot find device='%s' nor node-name='%s'",
                    device ? device : "", node ? node : "");
        return false;
    }
    if (!block_graph_resize(vm->blocks, device, node, (uint64_t)size,
                            &err)) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC, "%s", err->message);
        return false;
    }
    return true;
}
