/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The machine's network backends (-netdev): each a tap a NIC attaches to.
 * Opened when the machine is built; a NIC takes one by id. set_link may
 * name a backend: its link state is what the NIC reports as well.
 */
#ifndef KESTREL_NET_H
#define KESTREL_NET_H

#include <glib.h>
#include <stdbool.h>

#include "vmconfig.h"

typedef struct NetGraph NetGraph;

typedef struct {
    char *id;                   /* -netdev id= */
    int fd;                     /* the tap, non-blocking */
    char *ifname;
    bool vnet_hdr;              /* the tap carries virtio-net headers */
    bool link_down;             /* set_link on the backend */
    bool attached;
    /* The NIC learns of set_link on its backend through this. */
    void (*link_changed)(void *opaque);
    void *link_opaque;
} NetClient;

/* Open every -netdev. Errors name the option and the tap or fd. */
NetGraph *net_graph_new(const VmConfig *cfg, GError **errp);
void net_graph_free(NetGraph *g);

/* The backend @id for a NIC; once only. */
NetClient *net_graph_attach(NetGraph *g, const char *id, GError **errp);

/* The backend @id, or NULL. */
NetClient *net_graph_find(NetGraph *g, const char *id);

#endif /* KESTREL_NET_H */
