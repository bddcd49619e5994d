/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Network backends. See net.h.
 */
#include "config.h"

#include <unistd.h>

#include "error.h"
#include "net/net.h"
#include "net/tap.h"

struct NetGraph {
    GPtrArray *clients;         /* NetClient* */
};

static void client_free(NetClient *nc)
{
    if (nc->fd >= 0) {
        close(nc->fd);
    }
    g_free(nc->id);
    g_free(nc->ifname);
    g_free(nc);
}

static NetClient *client_open(const NetdevConfig *nd, GError **errp)
{
    NetClient *nc = g_new0(NetClient, 1);
    bool want_hdr = nd->vnet_hdr != 0;

    nc->id = g_strdup(nd->id);
    nc->fd = -1;
    if (nd->fd >= 0) {
        if (!tap_adopt(nd->fd, &nc->ifname, &nc->vnet_hdr, errp)) {
            client_free(nc);
            return NULL;
        }
        nc->fd = nd->fd;
    } else {
        nc->fd = tap_open(nd->ifname, want_hdr, &nc->ifname, &nc->vnet_hdr,
                          errp);
        if (nc->fd < 0) {
            client_free(nc);
            return NULL;
        }
    }
    if (nd->vnet_hdr == 1 && !nc->vnet_hdr) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "vnet_hdr=on, but tap '%s' has no virtio-net header "
                    "(IFF_VNET_HDR)", nc->ifname);
        client_free(nc);
        return NULL;
    }
    if (nc->vnet_hdr && !tap_set_vnet_hdr_len(nc->fd, 12)) {
        /* A kernel that cannot do 12 bytes: use the tap without it. */
        nc->vnet_hdr = false;
    }
    if (nd->vnet_hdr == 0) {
        nc->vnet_hdr = false;
    }
    return nc;
}

NetGraph *net_graph_new(const VmConfig *cfg, GError **errp)
{
    NetGraph *g = g_new0(NetGraph, 1);

    g->clients = g_ptr_array_new_with_free_func((GDestroyNotify)client_free);
    for (guint i = 0; i < cfg->netdevs->len; i++) {
        const NetdevConfig *nd = g_ptr_array_index(cfg->netdevs, i);
        g_autoptr(GError) err = NULL;
        NetClient *nc = client_open(nd, &err);

        if (!nc) {
            g_propagate_prefixed_error(errp, g_steal_pointer(&err),
                                       "-netdev %s: ", nd->id);
            net_graph_free(g);
            return NULL;
        }
        g_ptr_array_add(g->clients, nc);
    }
    return g;
}

void net_graph_free(NetGraph *g)
{
    if (g) {
        g_ptr_array_unref(g->clients);
        g_free(g);
    }
}

NetClient *net_graph_find(NetGraph *g, const char *id)
{
    for (guint i = 0; g && i < g->clients->len; i++) {
        NetClient *nc = g_ptr_array_index(g->clients, i);

        if (g_str_equal(nc->id, id)) {
            return nc;
        }
    }
    return NULL;
}

NetClient *net_graph_attach(NetGraph *g, const char *id, GError **errp)
{
    NetClient *nc = net_graph_find(g, id);

    if (!nc) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Property 'netdev' can't find value '%s'", id);
        return NULL;
    }
    if (nc->attached) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Property 'netdev' can't take value '%s', it's in use",
                    id);
        return NULL;
    }
    nc->attached = true;
    return nc;
}
