/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmdline-net: -netdev tap, in QEMU's key=value and JSON forms (libvirt
 * writes '{"type":"tap","fd":"21","id":"hostnet0"}'). The tap is opened
 * when the machine is built (net/net.c).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cmdline-internal.h"
#include "error.h"
#include "keyval.h"

static bool netdev_fd(const char *key, const char *value, int *fd,
                      GError **errp)
{
    uint64_t v;

    if (!keyval_parse_uint(key, value, G_MAXINT, &v, NULL)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "Parameter '%s' expects a file descriptor number (a "
                    "descriptor passed with getfd has no name before QMP "
                    "runs), not '%s'", key, value);
        return false;
    }
    *fd = (int)v;
    return true;
}

static bool netdev_no_script(KeyvalList *kv, const char *key, GError **errp)
{
    const char *v = keyval_get_str(kv, key);

    if (v && *v && !g_str_equal(v, "no")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "Parameter '%s' does not take value '%s' in kestrel: it "
                    "runs no scripts; set the tap up beforehand and give "
                    "%s=no", key, v, key);
        return false;
    }
    return true;
}

static bool netdev_parse(CmdlineState *s, KeyvalList *kv, NetdevConfig *nd,
                         GError **errp)
{
    const char *type = keyval_get_str(kv, "type");
    const char *id = keyval_get_str(kv, "id");
    const char *v;
    bool vh;
    uint64_t queues, sndbuf;

    if (!type) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Parameter 'type' is missing");
        return false;
    }
    if (!g_str_equal(type, "tap")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "network backend '%s' is not supported by kestrel: it "
                    "has tap (-netdev tap,id=ID,ifname=NAME,script=no or "
                    "fd=N)", type);
        return false;
    }
    if (!id) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Parameter 'id' is missing");
        return false;
    }
    if (!cmdline_check_id(id, errp)) {
        return false;
    }
    for (guint i = 0; i < s->cfg->netdevs->len; i++) {
        NetdevConfig *o = g_ptr_array_index(s->cfg->netdevs, i);

        if (g_str_equal(o->id, id)) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "Duplicate ID '%s' for netdev", id);
            return false;
        }
    }
    nd->id = g_strdup(id);
    nd->ifname = g_strdup(keyval_get_str(kv, "ifname"));
    v = keyval_get_str(kv, "fd");
    if (v && !netdev_fd("fd", v, &nd->fd, errp)) {
        return false;
    }
    v = keyval_get_str(kv, "fds");
    if (v) {
        if (nd->fd >= 0 || strchr(v, ':')) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                        "fds=%s: kestrel's virtio-net has one queue pair, "
                        "give one descriptor", v);
            return false;
        }
        if (!netdev_fd("fds", v, &nd->fd, errp)) {
            return false;
        }
    }
    if (nd->fd >= 0 && nd->ifname) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "ifname= and fd= are mutually exclusive");
        return false;
    }
    if (!netdev_no_script(kv, "script", errp) ||
        !netdev_no_script(kv, "downscript", errp) ||
        !keyval_get_bool(kv, "vhost", false, &nd->vhost, errp) ||
        !keyval_get_bool(kv, "vhostforce", false, &vh, errp) ||
        !keyval_get_uint(kv, "queues", 1, 1024, &queues, errp) ||
        !keyval_get_size(kv, "sndbuf", 0, &sndbuf, errp)) {
        return false;
    }
    if (queues != 1) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "queues=%" G_GUINT64_FORMAT ": kestrel's virtio-net has "
                    "one queue pair", queues);
        return false;
    }
    /* vhost-net moves the data path into the host kernel; kestrel runs
     * it itself. A vhost fd given to us is not needed: it is closed by
     * exec (libvirt opened it for QEMU) or left alone. */
    keyval_get_str(kv, "vhostfd");
    keyval_get_str(kv, "vhostfds");
    v = keyval_get_str(kv, "vnet_hdr");
    nd->vnet_hdr = -1;
    if (v) {
        bool on;

        if (!keyval_parse_bool("vnet_hdr", v, &on, errp)) {
            return false;
        }
        nd->vnet_hdr = on;
    }
    v = keyval_get_str(kv, "br");
    if (v || keyval_get_str(kv, "helper")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "kestrel runs no bridge helper: attach the tap to the "
                    "bridge beforehand (ifname=, script=no)");
        return false;
    }
    return keyval_check_unused(kv, errp);
}

bool cmdline_opt_netdev(CmdlineState *s, const char *arg, GError **errp)
{
    g_autoptr(KeyvalList) kv = arg[0] == '{' ? keyval_parse_json(arg, errp)
                                             : keyval_parse(arg, "type",
                                                            errp);
    NetdevConfig *nd;

    if (!kv) {
        return false;
    }
    nd = g_new0(NetdevConfig, 1);
    nd->fd = -1;
    if (!netdev_parse(s, kv, nd, errp)) {
        vm_config_netdev_free(nd);
        return false;
    }
    if (nd->vhost) {
        fprintf(stderr, "kestrel: -netdev %s: vhost=on: kestrel has no "
                "vhost-net, it moves the packets itself\n", nd->id);
    }
    g_ptr_array_add(s->cfg->netdevs, nd);
    return true;
}
