/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Disks and interfaces: virsh domblkstat, domblkinfo, blockresize,
 * domifstat, domifaddr (domblklist and domiflist read dumpxml).  Block
 * figures come from kestrel over QMP (query-blockstats,
 * query-named-block-nodes, block_resize), a shut off domain's from the
 * image itself; interface counters from the tap in sysfs.  Devices are
 * not hot-plugged: attach and detach are refused.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/fs.h>

#include "dispatch.h"
#include "netdev.h"
#include "process.h"
#include "virerror.h"

/* virTypedParameterType (wire values). */
#define TP_LLONG 3

/* virDomainBlockResizeFlags (wire value). */
#define BLOCK_RESIZE_BYTES 1u

/* virDomainInterfaceAddressesSource (wire values). */
enum {
    IFADDR_SRC_LEASE = 0,
    IFADDR_SRC_AGENT = 1,
    IFADDR_SRC_ARP = 2,
};

static bool check_flags(unsigned int flags, unsigned int allowed,
                        const char *api, GError **errp)
{
    if (flags & ~allowed) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                    "unsupported flags (0x%x) in function %s",
                    flags & ~allowed, api);
        return false;
    }
    return true;
}

/* The disk @path names (its target or source path) in @dom's def. */
static int find_disk(DomainObj *dom, const char *path, GError **errp)
{
    int i = domain_def_find_disk(dom->def, path);

    if (i < 0) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                    "invalid path '%s': domain '%s' has no disk with this "
                    "target or source", path, dom->name);
    }
    return i;
}

/* ---- block statistics -------------------------------------------------- */

/* The figures of one disk, from kestrel's query-blockstats. */
typedef struct {
    gint64 rd_req, rd_bytes, rd_times;
    gint64 wr_req, wr_bytes, wr_times;
    gint64 fl_req, fl_times;
} BlockFigures;

static gint64 member_int(JsonObject *o, const char *name)
{
    return o && json_object_has_member(o, name)
           ? json_object_get_int_member(o, name) : 0;
}

/*
 * The query-blockstats entry of disk @i: by its format node name, or by
 * its device id (qdev, as QEMU reports it, or the old device name).
 */
static JsonObject *blockstats_entry(JsonNode *ret, DomainObj *dom,
                                    guint i)
{
    const DomainDisk *d = g_ptr_array_index(dom->def->disks, i);
    g_autofree char *node = domain_disk_node_name(i, true);
    g_autofree char *alias = domain_disk_alias(d);
    g_autofree char *qdev = g_strdup_printf("/machine/peripheral/%s/"
                                            "virtio-backend", alias);
    JsonArray *a;

    if (!ret || !JSON_NODE_HOLDS_ARRAY(ret)) {
        return NULL;
    }
    a = json_node_get_array(ret);
    for (guint k = 0; k < json_array_get_length(a); k++) {
        JsonObject *e = json_array_get_object_element(a, k);
        const char *nn = e ? json_object_get_string_member_with_default(
                                 e, "node-name", "") : "";
        const char *q = e ? json_object_get_string_member_with_default(
                                e, "qdev", "") : "";
        const char *dev = e ? json_object_get_string_member_with_default(
                                  e, "device", "") : "";

        if (g_str_equal(nn, node) || g_str_equal(q, alias) ||
            g_str_equal(q, qdev) || g_str_equal(dev, alias)) {
            return e;
        }
    }
    return NULL;
}

JsonObject *dispatch_blockstats_of(JsonNode *ret, DomainObj *dom, guint i)
{
    JsonObject *e = blockstats_entry(ret, dom, i);

    return e && json_object_has_member(e, "stats")
           ? json_object_get_object_member(e, "stats") : NULL;
}

static bool block_figures(JsonNode *ret, DomainObj *dom, guint i,
                          BlockFigures *f)
{
    JsonObject *s = dispatch_blockstats_of(ret, dom, i);

    memset(f, 0, sizeof(*f));
    if (!s) {
        return false;
    }
    f->rd_req = member_int(s, "rd_operations");
    f->rd_bytes = member_int(s, "rd_bytes");
    f->rd_times = member_int(s, "rd_total_time_ns");
    f->wr_req = member_int(s, "wr_operations");
    f->wr_bytes = member_int(s, "wr_bytes");
    f->wr_times = member_int(s, "wr_total_time_ns");
    f->fl_req = member_int(s, "flush_operations");
    f->fl_times = member_int(s, "flush_total_time_ns");
    return true;
}

/* Disk @path's figures, or (empty @path) the sum over all disks. */
static bool block_figures_for(JsonNode *ret, DomainObj *dom, const char *path,
                              BlockFigures *f, GError **errp)
{
    BlockFigures one;
    int i;

    if (*path) {
        i = find_disk(dom, path, errp);
        if (i < 0) {
            return false;
        }
        if (!block_figures(ret, dom, (guint)i, f)) {
            g_set_error(errp, VIR_ERROR, VIR_ERR_INTERNAL_ERROR,
                        "cannot find statistics for device '%s'", path);
            return false;
        }
        return true;
    }
    memset(f, 0, sizeof(*f));
    for (guint k = 0; k < dom->def->disks->len; k++) {
        if (block_figures(ret, dom, k, &one)) {
            f->rd_req += one.rd_req;
            f->rd_bytes += one.rd_bytes;
            f->rd_times += one.rd_times;
            f->wr_req += one.wr_req;
            f->wr_bytes += one.wr_bytes;
            f->wr_times += one.wr_times;
            f->fl_req += one.fl_req;
            f->fl_times += one.fl_times;
        }
    }
    return true;
}

typedef struct {
    RpcCall *call;
    char *path;
    int nparams;                /* BLOCK_STATS_FLAGS: how many asked */
    bool flags_api;
} BlockStatsOp;

static void block_param(remote_domain_block_stats_flags_ret *ret, int max,
                        const char *field, gint64 v)
{
    remote_typed_param *p;

    if (ret->params.params_len >= (u_int)max) {
        return;
    }
    p = &ret->params.params_val[ret->params.params_len++];
    p->field = g_strdup(field);
    p->value.type = TP_LLONG;
    p->value.remote_typed_param_value_u.l = v;
}

static void block_stats_done(DomainObj *dom, JsonNode *node,
                             const GError *err, void *opaque)
{
    BlockStatsOp *op = opaque;
    g_autoptr(GError) e = NULL;
    BlockFigures f;

    if (err) {
        rpc_call_finish(op->call, err);
    } else if (!block_figures_for(node, dom, op->path, &f, &e)) {
        rpc_call_finish(op->call, e);
    } else if (op->flags_api) {
        remote_domain_block_stats_flags_ret *ret =
            rpc_call_get_ret(op->call);

        /* libvirt's VIR_DOMAIN_BLOCK_STATS_* fields, its QEMU order */
        ret->params.params_val = g_new0(remote_typed_param, 8);
        block_param(ret, op->nparams, "rd_bytes", f.rd_bytes);
        block_param(ret, op->nparams, "rd_operations", f.rd_req);
        block_param(ret, op->nparams, "rd_total_times", f.rd_times);
        block_param(ret, op->nparams, "wr_bytes", f.wr_bytes);
        block_param(ret, op->nparams, "wr_operations", f.wr_req);
        block_param(ret, op->nparams, "wr_total_times", f.wr_times);
        block_param(ret, op->nparams, "flush_operations", f.fl_req);
        block_param(ret, op->nparams, "flush_total_times", f.fl_times);
        ret->nparams = (int)ret->params.params_len;
        rpc_call_finish(op->call, NULL);
    } else {
        remote_domain_block_stats_ret *ret = rpc_call_get_ret(op->call);

        ret->rd_req = f.rd_req;
        ret->rd_bytes = f.rd_bytes;
        ret->wr_req = f.wr_req;
        ret->wr_bytes = f.wr_bytes;
        ret->errs = -1;             /* not known, as for libvirt's QEMU */
        rpc_call_finish(op->call, NULL);
    }
    g_free(op->path);
    g_free(op);
}

static RpcResult block_stats_start(RpcCall *call,
                                   const remote_nonnull_domain *wire,
                                   const char *path, int nparams,
                                   bool flags_api, GError **errp)
{
    g_autoptr(DomainObj) dom = dispatch_get_domain(wire, errp);
    BlockStatsOp *op;

    if (!dom || !domain_check_active(dom, errp)) {
        return RPC_RESULT_ERROR;
    }
    if (*path && find_disk(dom, path, errp) < 0) {
        return RPC_RESULT_ERROR;
    }
    op = g_new0(BlockStatsOp, 1);
    op->call = call;
    op->path = g_strdup(path);
    op->nparams = nparams;
    op->flags_api = flags_api;
    process_qmp_call(dom, "query-blockstats", NULL, block_stats_done, op);
    return RPC_RESULT_PENDING;
}

static RpcResult proc_block_stats(RpcCall *call, void *a, void *r,
                                  GError **errp)
{
    remote_domain_block_stats_args *args = a;

    return block_stats_start(call, &args->dom, args->path, 0, false, errp);
}

static RpcResult proc_block_stats_flags(RpcCall *call, void *a, void *r,
                                        GError **errp)
{
    remote_domain_block_stats_flags_args *args = a;
    remote_domain_block_stats_flags_ret *ret = r;
    g_autoptr(DomainObj) dom = NULL;

    /* virTypedParameterFlags: only STRING_OKAY (4) is known */
    if (!check_flags(args->flags, 4, "virDomainBlockStatsFlags", errp)) {
        return RPC_RESULT_ERROR;
    }
    if (args->nparams > REMOTE_DOMAIN_BLOCK_STATS_PARAMETERS_MAX) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_RPC, "nparams too large");
        return RPC_RESULT_ERROR;
    }
    if (args->nparams == 0) {
        /* how many there are: the caller asks again with room */
        dom = dispatch_get_domain(&args->dom, errp);
        if (!dom || !domain_check_active(dom, errp)) {
            return RPC_RESULT_ERROR;
        }
        if (*args->path && find_disk(dom, args->path, errp) < 0) {
            return RPC_RESULT_ERROR;
        }
        ret->nparams = 8;
        return RPC_RESULT_OK;
    }
    return block_stats_start(call, &args->dom, args->path, args->nparams,
                             true, errp);
}

/* ---- block info and resize --------------------------------------------- */

/* The virtual size written in a qcow2 header (big-endian at byte 24). */
static bool qcow2_virtual_size(int fd, guint64 *size)
{
    unsigned char h[32];

    if (pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
        memcmp(h, "QFI\xfb", 4) != 0) {
        return false;
    }
    *size = 0;
    for (int i = 24; i < 32; i++) {
        *size = *size << 8 | h[i];
    }
    return true;
}

bool dispatch_disk_image_info(const DomainDisk *d, guint64 *capacity,
                              guint64 *allocation, guint64 *physical,
                              GError **errp)
{
    /* O_NONBLOCK: a FIFO named as a disk must not hang the daemon */
    int fd = open(d->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    guint64 devsize = 0;

    if (fd < 0 || fstat(fd, &st) < 0) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_SYSTEM_ERROR,
                    "cannot access storage file '%s': %s", d->path,
                    g_strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return false;
    }
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                    "storage file '%s' is neither a regular file nor a "
                    "block device", d->path);
        close(fd);
        return false;
    }
    if (S_ISBLK(st.st_mode) && ioctl(fd, BLKGETSIZE64, &devsize) == 0) {
        *physical = devsize;
        *allocation = devsize;
    } else {
        *physical = (guint64)st.st_size;
        *allocation = (guint64)st.st_blocks * 512;
    }
    if (d->format != DOMAIN_DISK_QCOW2 || !qcow2_virtual_size(fd,
                                                              capacity)) {
        *capacity = *physical;
    }
    close(fd);
    return true;
}

typedef struct {
    RpcCall *call;
    guint index;
} BlockInfoOp;

static void block_info_done(DomainObj *dom, JsonNode *node,
                            const GError *err, void *opaque)
{
    BlockInfoOp *op = opaque;
    remote_domain_get_block_info_ret *ret = rpc_call_get_ret(op->call);
    g_autofree char *name = domain_disk_node_name(op->index, true);
    JsonArray *a = node && JSON_NODE_HOLDS_ARRAY(node)
                   ? json_node_get_array(node) : NULL;

    /* the running image's virtual size, resized or not */
    for (guint k = 0; !err && a && k < json_array_get_length(a); k++) {
        JsonObject *e = json_array_get_object_element(a, k);
        JsonObject *img = e && json_object_has_member(e, "image")
                          ? json_object_get_object_member(e, "image") : NULL;

        if (img && g_str_equal(json_object_get_string_member_with_default(
                                   e, "node-name", ""), name)) {
            ret->capacity = (guint64)member_int(img, "virtual-size");
        }
    }
    rpc_call_finish(op->call, NULL);
    g_free(op);
}

static RpcResult proc_get_block_info(RpcCall *call, void *a, void *r,
                                     GError **errp)
{
    remote_domain_get_block_info_args *args = a;
    remote_domain_get_block_info_ret *ret = r;
    g_autoptr(DomainObj) dom = NULL;
    const DomainDisk *d;
    BlockInfoOp *op;
    int i;

    if (!check_flags(args->flags, 0, "virDomainGetBlockInfo", errp)) {
        return RPC_RESULT_ERROR;
    }
    dom = dispatch_get_domain(&args->dom, errp);
    if (!dom || (i = find_disk(dom, args->path, errp)) < 0) {
        return RPC_RESULT_ERROR;
    }
    d = g_ptr_array_index(dom->def->disks, i);
    if (!dispatch_disk_image_info(d, &ret->capacity, &ret->allocation,
                                  &ret->physical, errp)) {
        return RPC_RESULT_ERROR;
    }
    if (!domain_obj_is_active(dom)) {
        return RPC_RESULT_OK;
    }
    op = g_new0(BlockInfoOp, 1);
    op->call = call;
    op->index = (guint)i;
    process_qmp_call(dom, "query-named-block-nodes", NULL, block_info_done,
                     op);
    return RPC_RESULT_PENDING;
}

static void block_resize_done(DomainObj *dom, JsonNode *ret,
                              const GError *err, void *opaque)
{
    domain_job_end(dom);
    rpc_call_finish(opaque, err);
}

static RpcResult proc_block_resize(RpcCall *call, void *a, void *r,
                                   GError **errp)
{
    remote_domain_block_resize_args *args = a;
    g_autoptr(DomainObj) dom = NULL;
    g_autoptr(JsonObject) qargs = NULL;
    g_autofree char *node = NULL;
    guint64 size = args->size;
    const DomainDisk *d;
    RpcResult jr;
    int i;

    if (!check_flags(args->flags, BLOCK_RESIZE_BYTES,
                     "virDomainBlockResize", errp)) {
        return RPC_RESULT_ERROR;
    }
    if (!(args->flags & BLOCK_RESIZE_BYTES)) {
        if (size > G_MAXUINT64 / 1024) {
            g_set_error(errp, VIR_ERROR, VIR_ERR_OVERFLOW,
                        "size must be less than %" G_GUINT64_FORMAT,
                        G_MAXUINT64 / 1024);
            return RPC_RESULT_ERROR;
        }
        size *= 1024;
    }
    if (size > G_MAXINT64) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OVERFLOW,
                    "size %" G_GUINT64_FORMAT " is too large", size);
        return RPC_RESULT_ERROR;
    }
    dom = dispatch_get_domain(&args->dom, errp);
    if (!dom) {
        return RPC_RESULT_ERROR;
    }
    jr = dispatch_job_begin(call, dom, "block-resize");
    if (jr != RPC_RESULT_OK) {
        return jr;
    }
    if (!domain_check_active(dom, errp) ||
        (i = find_disk(dom, args->disk, errp)) < 0) {
        domain_job_end(dom);
        return RPC_RESULT_ERROR;
    }
    d = g_ptr_array_index(dom->def->disks, i);
    if (d->readonly) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                    "disk '%s' of domain '%s' is read-only", d->target,
                    dom->name);
        domain_job_end(dom);
        return RPC_RESULT_ERROR;
    }
    node = domain_disk_node_name((guint)i, true);
    qargs = json_object_new();
    json_object_set_string_member(qargs, "node-name", node);
    json_object_set_int_member(qargs, "size", (gint64)size);
    process_qmp_call(dom, "block_resize", qargs, block_resize_done, call);
    return RPC_RESULT_PENDING;
}

/* ---- interfaces -------------------------------------------------------- */

/* The index of @dom's interface named @device: its tap, its MAC, its
 * alias. */
static int find_net(DomainObj *dom, const char *device, GError **errp)
{
    for (guint i = 0; i < dom->def->nets->len; i++) {
        const DomainNet *n = g_ptr_array_index(dom->def->nets, i);
        const char *tap = netdev_domain_ifname(dom, i);
        g_autofree char *alias = domain_net_alias(n, i);
        char mac[18];

        domain_conf_mac_format(n->mac, mac);
        if (!g_strcmp0(tap, device) || !g_ascii_strcasecmp(mac, device) ||
            g_str_equal(alias, device)) {
            return (int)i;
        }
    }
    g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                "invalid path, '%s' is not a known interface", device);
    return -1;
}

static RpcResult proc_interface_stats(RpcCall *call, void *a, void *r,
                                      GError **errp)
{
    remote_domain_interface_stats_args *args = a;
    remote_domain_interface_stats_ret *ret = r;
    g_autoptr(DomainObj) dom = dispatch_get_domain(&args->dom, errp);
    NetdevStats st;
    const char *tap;
    int i;

    if (!dom || !domain_check_active(dom, errp) ||
        (i = find_net(dom, args->device, errp)) < 0) {
        return RPC_RESULT_ERROR;
    }
    tap = netdev_domain_ifname(dom, (guint)i);
    if (!tap) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                    "the tap of interface '%s' of domain '%s' is not known "
                    "(the daemon restarted since the domain started)",
                    args->device, dom->name);
        return RPC_RESULT_ERROR;
    }
    if (!netdev_guest_stats(tap, &st, errp)) {
        return RPC_RESULT_ERROR;
    }
    ret->rx_bytes = st.rx_bytes;
    ret->rx_packets = st.rx_packets;
    ret->rx_errs = st.rx_errs;
    ret->rx_drop = st.rx_drop;
    ret->tx_bytes = st.tx_bytes;
    ret->tx_packets = st.tx_packets;
    ret->tx_errs = st.tx_errs;
    ret->tx_drop = st.tx_drop;
    return RPC_RESULT_OK;
}

static RpcResult proc_interface_addresses(RpcCall *call, void *a, void *r,
                                          GError **errp)
{
    remote_domain_interface_addresses_args *args = a;
    remote_domain_interface_addresses_ret *ret = r;
    g_autoptr(DomainObj) dom = NULL;
    g_autoptr(GArray) ifaces = NULL;

    if (!check_flags(args->flags, 0, "virDomainInterfaceAddresses", errp)) {
        return RPC_RESULT_ERROR;
    }
    if (args->source != IFADDR_SRC_ARP) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_NO_SUPPORT,
                    "%s: the kestrel driver reads guest addresses from the "
                    "host's ARP table only (virsh domifaddr --source arp)",
                    args->source == IFADDR_SRC_AGENT
                    ? "the guest agent is not supported"
                    : args->source == IFADDR_SRC_LEASE
                    ? "DHCP leases are not supported"
                    : "unknown address source");
        return RPC_RESULT_ERROR;
    }
    dom = dispatch_get_domain(&args->dom, errp);
    if (!dom || !domain_check_active(dom, errp)) {
        return RPC_RESULT_ERROR;
    }
    ifaces = g_array_new(FALSE, TRUE, sizeof(remote_domain_interface));
    for (guint i = 0; i < dom->def->nets->len; i++) {
        const DomainNet *n = g_ptr_array_index(dom->def->nets, i);
        const char *tap = netdev_domain_ifname(dom, i);
        g_autoptr(GPtrArray) addrs = NULL;
        remote_domain_interface iface = { 0 };
        char mac[18];

        domain_conf_mac_format(n->mac, mac);
        addrs = netdev_arp_lookup(mac);
        if (!addrs->len) {
            continue;
        }
        iface.name = g_strdup(tap ? tap : mac);
        iface.hwaddr = g_new0(remote_nonnull_string, 1);
        *iface.hwaddr = g_strdup(mac);
        iface.addrs.addrs_len = addrs->len;
        iface.addrs.addrs_val = g_new0(remote_domain_ip_addr, addrs->len);
        for (guint k = 0; k < addrs->len; k++) {
            iface.addrs.addrs_val[k].type = 0;      /* IPv4 */
            iface.addrs.addrs_val[k].addr = g_strdup(addrs->pdata[k]);
            iface.addrs.addrs_val[k].prefix = 0;
        }
        g_array_append_val(ifaces, iface);
    }
    ret->ifaces.ifaces_len = ifaces->len;
    ret->ifaces.ifaces_val = (remote_domain_interface *)
        g_array_free(g_steal_pointer(&ifaces), FALSE);
    return RPC_RESULT_OK;
}

/* ---- hot plug ---------------------------------------------------------- */

static RpcResult proc_device_change(RpcCall *call, void *a, void *r,
                                    GError **errp)
{
    g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_UNSUPPORTED,
                "%s is not supported by the kestrel driver: devices are "
                "not hot-plugged; edit the domain's XML (virsh edit) and "
                "start it again", rpc_call_get_proc(call)->name);
    return RPC_RESULT_ERROR;
}

const RpcProc dispatch_devices_procs[] = {
    PROC(DOMAIN_ATTACH_DEVICE, "virDomainAttachDevice",
         remote_domain_attach_device_args, VOID_T, proc_device_change, RW),
    PROC(DOMAIN_DETACH_DEVICE, "virDomainDetachDevice",
         remote_domain_attach_device_args, VOID_T, proc_device_change, RW),
    PROC(DOMAIN_BLOCK_STATS, "virDomainBlockStats",
         remote_domain_block_stats_args, remote_domain_block_stats_ret,
         proc_block_stats, RO),
    PROC(DOMAIN_INTERFACE_STATS, "virDomainInterfaceStats",
         remote_domain_interface_stats_args,
         remote_domain_interface_stats_ret, proc_interface_stats, RO),
    PROC(DOMAIN_ATTACH_DEVICE_FLAGS, "virDomainAttachDeviceFlags",
         remote_domain_attach_device_flags_args, VOID_T, proc_device_change,
         RW),
    PROC(DOMAIN_DETACH_DEVICE_FLAGS, "virDomainDetachDeviceFlags",
         remote_domain_attach_device_flags_args, VOID_T, proc_device_change,
         RW),
    PROC(DOMAIN_UPDATE_DEVICE_FLAGS, "virDomainUpdateDeviceFlags",
         remote_domain_attach_device_flags_args, VOID_T, proc_device_change,
         RW),
    PROC(DOMAIN_GET_BLOCK_INFO, "virDomainGetBlockInfo",
         remote_domain_get_block_info_args, remote_domain_get_block_info_ret,
         proc_get_block_info, RO),
    PROC(DOMAIN_BLOCK_STATS_FLAGS, "virDomainBlockStatsFlags",
         remote_domain_block_stats_flags_args,
         remote_domain_block_stats_flags_ret, proc_block_stats_flags, RO),
    PROC(DOMAIN_BLOCK_RESIZE, "virDomainBlockResize",
         remote_domain_block_resize_args, VOID_T, proc_block_resize, RW),
    PROC(DOMAIN_INTERFACE_ADDRESSES, "virDomainInterfaceAddresses",
         remote_domain_interface_addresses_args,
         remote_domain_interface_addresses_ret, proc_interface_addresses,
         RO),
};

const size_t dispatch_devices_nprocs = G_N_ELEMENTS(dispatch_devices_procs);
