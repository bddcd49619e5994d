/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Tap devices. See tap.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "error.h"
#include "net/tap.h"

static bool set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    return fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
}

int tap_open(const char *ifname, bool vnet_hdr, char **name_out,
             bool *has_vnet_hdr, GError **errp)
{
    struct ifreq ifr;
    int fd, features = 0;

    if (ifname && strlen(ifname) >= IFNAMSIZ) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "tap: interface name '%s' is longer than %d characters",
                    ifname, IFNAMSIZ - 1);
        return -1;
    }
    fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "could not open /dev/net/tun: %s", g_strerror(errno));
        return -1;
    }
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (vnet_hdr && ioctl(fd, TUNGETFEATURES, &features) == 0 &&
        (features & IFF_VNET_HDR)) {
        ifr.ifr_flags |= IFF_VNET_HDR;
    }
    if (ifname) {
        g_strlcpy(ifr.ifr_name, ifname, sizeof(ifr.ifr_name));
    } else {
        g_strlcpy(ifr.ifr_name, "tap%d", sizeof(ifr.ifr_name));
    }
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;

        close(fd);
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "could not configure tap '%s': %s%s",
                    ifname ? ifname : "tap%d", g_strerror(e),
                    e == EPERM ? " (needs CAP_NET_ADMIN, or a tap owned "
                                 "by this user)" : "");
        return -1;
    }
    *name_out = g_strdup(ifr.ifr_name);
    *has_vnet_hdr = ifr.ifr_flags & IFF_VNET_HDR;
    return fd;
}

bool tap_adopt(int fd, char **name_out, bool *has_vnet_hdr, GError **errp)
{
    struct ifreq ifr;

    memset(&ifr, 0, sizeof(ifr));
    if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "fd %d is not a tap device: %s", fd,
                    errno == EBADF ? "not an open file descriptor"
                                   : g_strerror(errno));
        return false;
    }
    if (!(ifr.ifr_flags & IFF_TAP)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "fd %d is a tun device (%s), not a tap", fd,
                    ifr.ifr_name);
        return false;
    }
    if (!set_nonblock(fd)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "fd %d: cannot make it non-blocking: %s", fd,
                    g_strerror(errno));
        return false;
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    *name_out = g_strdup(ifr.ifr_name);
    *has_vnet_hdr = ifr.ifr_flags & IFF_VNET_HDR;
    return true;
}

bool tap_set_vnet_hdr_len(int fd, int len)
{
    return ioctl(fd, TUNSETVNETHDRSZ, &len) == 0;
}

bool tap_set_offload(int fd, bool csum, bool tso4, bool tso6, bool ecn,
                     bool ufo)
{
    unsigned int f = 0;

    if (csum) {
        f |= TUN_F_CSUM;
        if (tso4) {
            f |= TUN_F_TSO4;
        }
        if (tso6) {
            f |= TUN_F_TSO6;
        }
        if ((tso4 || tso6) && ecn) {
            f |= TUN_F_TSO_ECN;
        }
        if (ufo) {
            f |= TUN_F_UFO;
        }
    }
    if (ioctl(fd, TUNSETOFFLOAD, f) == 0) {
        return true;
    }
    /* Kernels without UFO refuse the whole set: try without it. */
    return ioctl(fd, TUNSETOFFLOAD, f & ~TUN_F_UFO) == 0;
}
