/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Host side of a domain's <interface>: the tap the daemon opens and hands
 * to kestrel (-netdev tap,fd=N), the bridge it joins, the libvirt network
 * whose bridge that is, and the tap's counters.  Errors are VIR_ERROR.
 */
#ifndef DRIVER_NETDEV_H
#define DRIVER_NETDEV_H

#include <stdbool.h>
#include <glib.h>

#include "domain.h"

/*
 * Open a tap for @net (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, not
 * persistent: it disappears when the last fd on it closes), named after
 * its <target dev> or vnet%d, with the MAC fe:xx:... of the guest's (so a
 * bridge never takes the guest's address), up, and enslaved to its bridge
 * (type bridge, or network: the libvirt network's bridge).  Returns the fd
 * (O_CLOEXEC) and in @ifname and @bridge (NULL for ethernet) new strings;
 * -1 with @errp set.
 */
int netdev_tap_open(const DomainNet *net, char **ifname, char **bridge,
                    GError **errp);

/*
 * The taps of all of @dom's interfaces (def->nets order), opened as
 * above: a new array of their fds, whose clear function closes them (so
 * freeing it after the spawn leaves kestrel the only holder).  The names
 * go to dom->net_ifnames and dom->net_bridges.  NULL with @errp set, and
 * no tap left behind.
 */
GArray *netdev_domain_open_taps(DomainObj *dom, GError **errp);

/* The tap of @dom's interface @i while it runs, or NULL; after a daemon
 * restart, found again from the VMM's fds. */
const char *netdev_domain_ifname(DomainObj *dom, guint i);

/*
 * The bridge of libvirt network @name, from the host libvirtd's status
 * (/run/libvirt/network/NAME.xml): VIR_ERR_OPERATION_INVALID if the
 * network is only defined (/etc/libvirt/qemu/networks/NAME.xml) or not
 * there at all.  VIRTKESTRELD_NETWORK_STATUS_DIR and _CONFIG_DIR replace
 * the two directories (tests).
 */
char *netdev_network_bridge(const char *name, GError **errp);

/* Counters of @ifname as the guest sees them (a tap's rx is the guest's
 * tx, swapped as libvirt does), libvirt's virDomainInterfaceStats. */
typedef struct {
    gint64 rx_bytes, rx_packets, rx_errs, rx_drop;
    gint64 tx_bytes, tx_packets, tx_errs, tx_drop;
} NetdevStats;

bool netdev_guest_stats(const char *ifname, NetdevStats *st, GError **errp);

/* The IPv4 addresses /proc/net/arp has for @mac ("52:54:00:..."), as a
 * new array of strings (maybe empty). */
GPtrArray *netdev_arp_lookup(const char *mac);

#endif /* DRIVER_NETDEV_H */
