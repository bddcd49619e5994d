/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The VMM's QMP command table and its handlers (schemas/ is the contract). */
#ifndef KESTREL_QMP_CMDS_H
#define KESTREL_QMP_CMDS_H

#include "qmp-dispatch.h"

typedef struct Vm Vm;

/* Fill @dc with kestrel's command table, version and hooks for @vm. */
void qmp_cmds_dispatch_config(Vm *vm, QmpDispatchConfig *dc);

/* qmp-block.c: the block commands (ctx is the Vm). */
bool qmp_query_block(void *ctx, JsonObject *args, JsonNode **ret,
                     GError **errp);
bool qmp_query_blockstats(void *ctx, JsonObject *args, JsonNode **ret,
                          GError **errp);
bool qmp_query_named_block_nodes(void *ctx, JsonObject *args,
                                 JsonNode **ret, GError **errp);
bool qmp_block_resize(void *ctx, JsonObject *args, JsonNode **ret,
                      GError **errp);

/* qmp-net.c: the network commands (ctx is the Vm). */
bool qmp_query_rx_filter(void *ctx, JsonObject *args, JsonNode **ret,
                         GError **errp);
bool qmp_set_link(void *ctx, JsonObject *args, JsonNode **ret,
                  GError **errp);
bool qmp_announce_self(void *ctx, JsonObject *args, JsonNode **ret,
                       GError **errp);

/* The sorted command table, for the table-vs-schema test. */
const QmpCommand *qmp_cmds_table(size_t *n);

#endif /* KESTREL_QMP_CMDS_H */
