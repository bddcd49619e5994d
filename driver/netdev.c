/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Taps and bridges with plain ioctls: no ip(8), no netlink library.  The
 * tap is not persistent, so whatever ends kestrel (destroy, a crash, the
 * guest powering off) also removes the tap: nothing to clean up.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "netdev.h"
#include "virerror.h"

static bool ifreq_name(struct ifreq *ifr, const char *name)
{
    memset(ifr, 0, sizeof(*ifr));
    if (strlen(name) >= IFNAMSIZ) {
        return false;
    }
    memcpy(ifr->ifr_name, name, strlen(name));
    return true;
}

static bool if_set_up(int sock, const char *ifname, GError **errp)
{
    struct ifreq ifr;

    ifreq_name(&ifr, ifname);
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0) {
        goto fail;
    }
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0) {
        goto fail;
    }
    return true;

 fail:
    g_set_error(errp, VIR_ERROR, VIR_ERR_SYSTEM_ERROR,
                "cannot set interface '%s' up: %s", ifname,
                g_strerror(errno));
    return false;
}

static bool if_set_mac(int sock, const char *ifname, const unsigned char *mac,
                       GError **errp)
{
    struct ifreq ifr;

    ifreq_name(&ifr, ifname);
    ifr.ifr_hwaddr.sa_family = 1;       /* ARPHRD_ETHER */
    memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
    if (ioctl(sock, SIOCSIFHWADDR, &ifr) < 0) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_SYSTEM_ERROR,
                    "cannot set the MAC address of interface '%s': %s",
                    ifname, g_strerror(errno));
        return false;
    }
    return true;
}

static bool bridge_add(int sock, const char *bridge, const char *ifname,
                       GError **errp)
{
    g_autofree char *brdir = g_strdup_printf("/sys/class/net/%s/bridge",
                                             bridge);
    g_autofree char *dev = g_strdup_printf("/sys/class/net/%s", bridge);
    struct ifreq ifr;

    if (!g_file_test(dev, G_FILE_TEST_EXISTS)) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                    "bridge '%s' does not exist: create it (ip link add "
                    "%s type bridge) or name another in <source bridge>",
                    bridge, bridge);
        return false;
    }
    if (!g_file_test(brdir, G_FILE_TEST_IS_DIR)) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                    "interface '%s' is not a bridge", bridge);
        return false;
    }
    if (!ifreq_name(&ifr, bridge)) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                    "bridge name '%s' is too long", bridge);
        return false;
    }
    ifr.ifr_ifindex = (int)if_nametoindex(ifname);
    if (!ifr.ifr_ifindex || ioctl(sock, SIOCBRADDIF, &ifr) < 0) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_SYSTEM_ERROR,
                    "cannot add interface '%s' to bridge '%s': %s", ifname,
                    bridge, g_strerror(errno));
        return false;
    }
    return true;
}

/* The name attribute of <bridge> in a libvirt network XML file. */
static char *network_file_bridge(const char *path)
{
    xmlDocPtr doc = xmlReadFile(path, NULL, XML_PARSE_NONET |
                                XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    xmlNodePtr net = NULL;
    char *out = NULL;

    /* the status file wraps the <network> in <networkstatus> */
    if (root && g_str_equal((const char *)root->name, "networkstatus")) {
        for (xmlNodePtr c = root->children; c; c = c->next) {
            if (c->type == XML_ELEMENT_NODE &&
                g_str_equal((const char *)c->name, "network")) {
                net = c;
            }
        }
    } else {
        net = root;
    }
    for (xmlNodePtr c = net ? net->children : NULL; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE &&
            g_str_equal((const char *)c->name, "bridge")) {
            xmlChar *name = xmlGetNoNsProp(c, BAD_CAST "name");

            out = name ? g_strdup((const char *)name) : NULL;
            xmlFree(name);
        }
    }
    if (doc) {
        xmlFreeDoc(doc);
    }
    return out;
}

char *netdev_network_bridge(const char *name, GError **errp)
{
    /* tests point these at a directory of their own */
    const char *rundir = g_getenv("VIRTKESTRELD_NETWORK_STATUS_DIR");
    const char *etcdir = g_getenv("VIRTKESTRELD_NETWORK_CONFIG_DIR");
    g_autofree char *run = g_strdup_printf(
        "%s/%s.xml", rundir ? rundir : "/run/libvirt/network", name);
    g_autofree char *etc = g_strdup_printf(
        "%s/%s.xml", etcdir ? etcdir : "/etc/libvirt/qemu/networks", name);
    char *bridge;

    if (strchr(name, '/') || name[0] == '.') {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                    "network '%s' is not defined", name);
        return NULL;
    }
    if (!g_file_test(run, G_FILE_TEST_EXISTS)) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                    g_file_test(etc, G_FILE_TEST_EXISTS)
                    ? "network '%s' is not active: start it (virsh "
                      "-c qemu:///system net-start %s)"
                    : "network '%s' is not defined/active on this host "
                      "(no %s in libvirtd's networks)", name, name);
        return NULL;
    }
    bridge = network_file_bridge(run);
    if (!bridge) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_CONFIG_UNSUPPORTED,
                    "network '%s' has no bridge: the kestrel driver "
                    "attaches taps to the bridge of a network only", name);
    }
    return bridge;
}

int netdev_tap_open(const DomainNet *net, char **ifname, char **bridge,
                    GError **errp)
{
    g_autofree char *br = NULL;
    unsigned char hostmac[6];
    struct ifreq ifr;
    int fd, sock;

    if (net->type == DOMAIN_NET_NETWORK) {
        br = netdev_network_bridge(net->source, errp);
        if (!br) {
            return -1;
        }
    } else if (net->type == DOMAIN_NET_BRIDGE) {
        br = g_strdup(net->source);
    }

    fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_SYSTEM_ERROR,
                    "cannot open /dev/net/tun: %s", g_strerror(errno));
        return -1;
    }
    ifreq_name(&ifr, net->ifname ? net->ifname : "vnet%d");
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_SYSTEM_ERROR,
                    "cannot create tap device '%s': %s",
                    net->ifname ? net->ifname : "vnet%d", g_strerror(errno));
        close(fd);
        return -1;
    }
    *ifname = g_strndup(ifr.ifr_name, IFNAMSIZ);

    /* As libvirt: the host side gets the guest's MAC with fe: first, so
     * that a bridge (which takes its ports' lowest MAC) keeps its own. */
    memcpy(hostmac, net->mac, 6);
    hostmac[0] = 0xfe;
    sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0 || !if_set_mac(sock, *ifname, hostmac, errp) ||
        (br && !bridge_add(sock, br, *ifname, errp)) ||
        !if_set_up(sock, *ifname, errp)) {
        if (sock < 0) {
            g_set_error(errp, VIR_ERROR, VIR_ERR_SYSTEM_ERROR,
                        "cannot open a socket: %s", g_strerror(errno));
        } else {
            close(sock);
        }
        close(fd);              /* the tap goes with it */
        g_clear_pointer(ifname, g_free);
        return -1;
    }
    close(sock);
    *bridge = g_steal_pointer(&br);
    return fd;
}

static bool read_counter(const char *ifname, const char *name, gint64 *out,
                         GError **errp)
{
    g_autofree char *path = g_strdup_printf(
        "/sys/class/net/%s/statistics/%s", ifname, name);
    g_autofree char *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INTERNAL_ERROR,
                    "cannot read the statistics of interface '%s'",
                    ifname);
        return false;
    }
    *out = g_ascii_strtoll(text, NULL, 10);
    return true;
}

bool netdev_guest_stats(const char *ifname, NetdevStats *st, GError **errp)
{
    /* the guest receives what the tap transmits, and the other way */
    return read_counter(ifname, "tx_bytes", &st->rx_bytes, errp) &&
           read_counter(ifname, "tx_packets", &st->rx_packets, errp) &&
           read_counter(ifname, "tx_errors", &st->rx_errs, errp) &&
           read_counter(ifname, "tx_dropped", &st->rx_drop, errp) &&
           read_counter(ifname, "rx_bytes", &st->tx_bytes, errp) &&
           read_counter(ifname, "rx_packets", &st->tx_packets, errp) &&
           read_counter(ifname, "rx_errors", &st->tx_errs, errp) &&
           read_counter(ifname, "rx_dropped", &st->tx_drop, errp);
}

GPtrArray *netdev_arp_lookup(const char *mac)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;

    if (!g_file_get_contents("/proc/net/arp", &text, NULL, NULL)) {
        return out;
    }
    lines = g_strsplit(text, "\n", -1);
    /* IP address, HW type, Flags, HW address, Mask, Device */
    for (char **l = lines + (lines[0] ? 1 : 0); *l; l++) {
        g_auto(GStrv) f = g_strsplit_set(*l, " \t", -1);
        const char *col[6];
        int n = 0;

        for (char **p = f; *p && n < 6; p++) {
            if (**p) {
                col[n++] = *p;
            }
        }
        if (n >= 4 && !g_ascii_strcasecmp(col[3], mac) &&
            g_strcmp0(col[2], "0x0")) {
            g_ptr_array_add(out, g_strdup(col[0]));
        }
    }
    return out;
}

static void fd_clear(gpointer p)
{
    int *fd = p;

    if (*fd >= 0) {
        close(*fd);
    }
}

GArray *netdev_domain_open_taps(DomainObj *dom, GError **errp)
{
    GPtrArray *nets = dom->def->nets;
    g_autoptr(GArray) fds = g_array_new(FALSE, FALSE, sizeof(int));
    g_auto(GStrv) names = g_new0(char *, nets->len + 1);
    g_auto(GStrv) bridges = g_new0(char *, nets->len + 1);

    g_array_set_clear_func(fds, fd_clear);
    for (guint i = 0; i < nets->len; i++) {
        char *bridge = NULL;
        int fd = netdev_tap_open(g_ptr_array_index(nets, i), &names[i],
                                 &bridge, errp);

        if (fd < 0) {
            return NULL;
        }
        /* an empty string keeps the list a GStrv: no bridge */
        bridges[i] = bridge ? bridge : g_strdup("");
        g_array_append_val(fds, fd);
    }
    g_strfreev(dom->net_ifnames);
    g_strfreev(dom->net_bridges);
    dom->net_ifnames = g_steal_pointer(&names);
    dom->net_bridges = g_steal_pointer(&bridges);
    return g_steal_pointer(&fds);
}

/* The tap behind fd @fd of process @pid: tun's fdinfo names it. */
static char *tap_of_fd(pid_t pid, int fd)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/fdinfo/%d", (int)pid,
                                            fd);
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return NULL;
    }
    lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        if (g_str_has_prefix(*l, "iff:")) {
            return g_strstrip(g_strdup(*l + 4));
        }
    }
    return NULL;
}

/*
 * A daemon restarted while the domain ran has lost the names: kestrel
 * still holds tap i as fd 3 + i (-netdev tap,fd=), so its fdinfo says.
 */
static void recover_names(DomainObj *dom)
{
    guint n = dom->def->nets->len;
    g_auto(GStrv) names = g_new0(char *, n + 1);
    g_auto(GStrv) bridges = g_new0(char *, n + 1);

    if (dom->pid <= 0) {
        return;
    }
    for (guint i = 0; i < n; i++) {
        g_autofree char *master = NULL;
        g_autofree char *link = NULL;

        names[i] = tap_of_fd(dom->pid, 3 + (int)i);
        if (!names[i]) {
            return;
        }
        link = g_strdup_printf("/sys/class/net/%s/master", names[i]);
        master = g_file_read_link(link, NULL);
        bridges[i] = master ? g_path_get_basename(master) : g_strdup("");
    }
    dom->net_ifnames = g_steal_pointer(&names);
    dom->net_bridges = g_steal_pointer(&bridges);
}

const char *netdev_domain_ifname(DomainObj *dom, guint i)
{
    if (!domain_obj_is_active(dom) || i >= dom->def->nets->len) {
        return NULL;
    }
    if (!dom->net_ifnames) {
        recover_names(dom);
    }
    if (!dom->net_ifnames || i >= g_strv_length(dom->net_ifnames)) {
        return NULL;
    }
    return dom->net_ifnames[i];
}
