/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kestrel command line of a domain, in the order and naming libvirt's
 * QEMU driver uses (-name guest=..., charserialN, balloon0, charmonitor),
 * so that a reader who knows one knows the other.
 */
#include "config.h"

#include <inttypes.h>

#include "command.h"
#include "drv-error.h"

/* A value inside key=value,...: a comma is written twice. */
static char *kv_escape(const char *s)
{
    g_auto(GStrv) parts = g_strsplit(s, ",", -1);

    return g_strjoinv(",,", parts);
}

char *domain_command_name_arg(const char *name)
{
    g_autofree char *esc = kv_escape(name);

    return g_strdup_printf("guest=%s,debug-threads=on", esc);
}

char *domain_command_monitor_arg(const char *qmp_socket)
{
    g_autofree char *esc = kv_escape(qmp_socket);

    return g_strdup_printf("socket,id=charmonitor,path=%s,server=on,"
                           "wait=off", esc);
}

static void add(GPtrArray *argv, const char *arg)
{
    g_ptr_array_add(argv, g_strdup(arg));
}

static void add2(GPtrArray *argv, const char *opt, const char *val)
{
    add(argv, opt);
    add(argv, val);
}

static void add_fmt(GPtrArray *argv, const char *opt, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static void add_fmt(GPtrArray *argv, const char *opt, const char *fmt, ...)
{
    va_list ap;

    add(argv, opt);
    va_start(ap, fmt);
    g_ptr_array_add(argv, g_strdup_vprintf(fmt, ap));
    va_end(ap);
}

/* A JSON string literal of @s (quotes included). */
static void json_str(GString *out, const char *s)
{
    g_string_append_c(out, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            g_string_append_c(out, '\\');
            g_string_append_c(out, (char)*p);
        } else if (*p < 0x20) {
            g_string_append_printf(out, "\\u%04x", *p);
        } else {
            g_string_append_c(out, (char)*p);
        }
    }
    g_string_append_c(out, '"');
}

static void json_member(GString *out, const char *key, const char *value)
{
    g_string_append_printf(out, ",\"%s\":", key);
    json_str(out, value);
}

/* What <driver cache> means for the block nodes (libvirt's mapping). */
static void add_cache(GString *o, const char *cache)
{
    if (!cache) {
        return;
    }
    g_string_append_printf(o, ",\"cache\":{\"direct\":%s,"
                           "\"no-flush\":%s}",
                           g_str_equal(cache, "none") ? "true" : "false",
                           g_str_equal(cache, "unsafe") ? "true" : "false");
}

static void add_disk(GPtrArray *argv, const DomainDisk *d, guint i)
{
    g_autofree char *storage = domain_disk_node_name(i, false);
    g_autofree char *format = domain_disk_node_name(i, true);
    g_autofree char *alias = domain_disk_alias(d);
    const char *rerror = d->rerror_policy;
    GString *o = g_string_new(NULL);

    g_string_append_printf(o, "{\"driver\":\"%s\"",
                           d->type == DOMAIN_DISK_BLOCK ? "host_device"
                                                        : "file");
    json_member(o, "filename", d->path);
    json_member(o, "node-name", storage);
    /* kestrel opens the file as read-only says (auto-read-only does not
     * make it follow the format node): a read-only disk's file is opened
     * O_RDONLY, so an image the daemon may only read still opens */
    if (d->readonly) {
        g_string_append(o, ",\"read-only\":true");
    }
    g_string_append(o, ",\"auto-read-only\":true");
    if (d->discard) {
        json_member(o, "discard", d->discard);
    }
    add_cache(o, d->cache);
    g_string_append_c(o, '}');
    add(argv, "-blockdev");
    g_ptr_array_add(argv, g_string_free(o, FALSE));

    o = g_string_new(NULL);
    g_string_append(o, "{");
    g_string_append(o, "\"node-name\":");
    json_str(o, format);
    g_string_append_printf(o, ",\"read-only\":%s",
                           d->readonly ? "true" : "false");
    if (d->discard) {
        json_member(o, "discard", d->discard);
    }
    add_cache(o, d->cache);
    json_member(o, "driver", domain_disk_format_name(d->format));
    json_member(o, "file", storage);
    g_string_append_c(o, '}');
    add(argv, "-blockdev");
    g_ptr_array_add(argv, g_string_free(o, FALSE));

    o = g_string_new("{\"driver\":\"virtio-blk-pci\"");
    if (d->pci_slot) {
        g_string_append_printf(o, ",\"bus\":\"pci.0\",\"addr\":\"0x%x\"",
                               d->pci_slot);
    }
    json_member(o, "drive", format);
    json_member(o, "id", alias);
    if (d->serial) {
        json_member(o, "serial", d->serial);
    }
    /* libvirt: rerror follows error_policy unless it is enospc */
    if (!rerror && d->error_policy &&
        !g_str_equal(d->error_policy, "enospc")) {
        rerror = d->error_policy;
    }
    if (d->error_policy) {
        json_member(o, "werror", d->error_policy);
    }
    if (rerror) {
        json_member(o, "rerror", rerror);
    }
    g_string_append_c(o, '}');
    add(argv, "-device");
    g_ptr_array_add(argv, g_string_free(o, FALSE));
}

static void add_net(GPtrArray *argv, const DomainNet *n, guint i, int fd)
{
    g_autofree char *alias = domain_net_alias(n, i);
    GString *o = g_string_new("{\"driver\":\"virtio-net-pci\"");
    char mac[18];

    add_fmt(argv, "-netdev", "tap,fd=%d,id=hostnet%u,vnet_hdr=on", fd, i);
    domain_conf_mac_format(n->mac, mac);
    g_string_append_printf(o, ",\"netdev\":\"hostnet%u\"", i);
    json_member(o, "id", alias);
    json_member(o, "mac", mac);
    if (n->pci_slot) {
        g_string_append_printf(o, ",\"bus\":\"pci.0\",\"addr\":\"0x%x\"",
                               n->pci_slot);
    }
    g_string_append_c(o, '}');
    add(argv, "-device");
    g_ptr_array_add(argv, g_string_free(o, FALSE));
}

static bool check_def(const DomainDef *def, const DomainCommandPaths *paths,
                      GError **errp)
{
    const char *bad = NULL;

    if (!def->name) {
        bad = "it has no name";
    } else if (!def->memory_kib || def->current_kib > def->memory_kib) {
        bad = "its memory sizes are inconsistent";
    } else if (!def->vcpus || def->vcpus > DOMAIN_MAX_VCPUS) {
        bad = "its vcpu count is out of range";
    } else if (!def->serials || def->serials->len > DOMAIN_MAX_SERIALS) {
        bad = "it has too many serial ports";
    }
    if (bad) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_INTERNAL_ERROR,
                    "cannot build a command line for domain '%s': %s",
                    def->name ? def->name : "", bad);
        return false;
    }
    if (!def->os.kernel) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                    "domain '%s' has no kernel: the kestrel driver boots "
                    "a kernel directly, without firmware, so element "
                    "'kernel' is required in 'os'", def->name);
        return false;
    }
    if (!paths || !paths->qmp_socket) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_INTERNAL_ERROR,
                    "cannot build a command line for domain '%s' without "
                    "a QMP socket path", def->name);
        return false;
    }
    if (def->nets && def->nets->len &&
        (!paths->net_fds || paths->n_net_fds < def->nets->len)) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_INTERNAL_ERROR,
                    "cannot build a command line for domain '%s': its "
                    "interfaces have no tap file descriptors", def->name);
        return false;
    }
    if (!def->emulator && !paths->emulator) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_INTERNAL_ERROR,
                    "cannot build a command line for domain '%s': no "
                    "kestrel binary is known", def->name);
        return false;
    }
    if (def->on_poweroff == DOMAIN_LIFECYCLE_RESTART ||
        def->on_reboot == DOMAIN_LIFECYCLE_PRESERVE) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                    "lifecycle action '%s' for '%s' is not supported by "
                    "the kestrel driver",
                    domain_lifecycle_action_name(
                        def->on_poweroff == DOMAIN_LIFECYCLE_RESTART
                        ? def->on_poweroff : def->on_reboot),
                    def->on_poweroff == DOMAIN_LIFECYCLE_RESTART
                    ? "on_poweroff" : "on_reboot");
        return false;
    }
    return true;
}

static void add_serial(GPtrArray *argv, const DomainChr *c, guint i)
{
    g_autofree char *path = c->path ? kv_escape(c->path) : NULL;

    switch (c->type) {
    case DOMAIN_CHR_PTY:
        add_fmt(argv, "-chardev", "pty,id=charserial%u", i);
        break;
    case DOMAIN_CHR_FILE:
        add_fmt(argv, "-chardev", "file,id=charserial%u,path=%s%s", i, path,
                c->append == DOMAIN_TRISTATE_ON ? ",append=on"
                : c->append == DOMAIN_TRISTATE_OFF ? ",append=off" : "");
        break;
    case DOMAIN_CHR_UNIX:
        add_fmt(argv, "-chardev", "socket,id=charserial%u,path=%s,%s", i,
                path, c->listen ? "server=on,wait=off" : "server=off");
        break;
    }
    add_fmt(argv, "-serial", "chardev:charserial%u", i);
}

static void add_balloon(GPtrArray *argv, const DomainBalloon *b)
{
    GString *dev = g_string_new("virtio-balloon-pci,id=");
    g_autofree char *alias = b->alias ? kv_escape(b->alias) : NULL;

    g_string_append(dev, alias ? alias : "balloon0");
    if (b->has_address) {
        g_string_append_printf(dev, ",bus=pci.0,addr=0x%x", b->pci_slot);
    }
    if (b->autodeflate) {
        g_string_append_printf(dev, ",deflate-on-oom=%s",
                               b->autodeflate == DOMAIN_TRISTATE_ON ? "on"
                                                                    : "off");
    }
    if (b->free_page_reporting) {
        g_string_append_printf(dev, ",free-page-reporting=%s",
                               b->free_page_reporting == DOMAIN_TRISTATE_ON
                               ? "on" : "off");
    }
    add(argv, "-device");
    g_ptr_array_add(argv, g_string_free(dev, FALSE));
}

/*
 * The timers the policy table lets through: pit 'delay' is KVM's in-kernel
 * PIT (-global kvm-pit.lost_tick_policy=delay, as libvirt writes it); rtc
 * 'delay' is kestrel's RTC (QEMU's driftfix=none), <clock offset='utc'>
 * its only base (-rtc base=utc), kvmclock and hpet present='no' what every
 * kestrel guest has: kestrel's defaults, nothing to add.
 */
static void add_clock(GPtrArray *argv, const DomainDef *def)
{
    for (guint i = 0; i < def->timers->len; i++) {
        const DomainTimer *t = g_ptr_array_index(def->timers, i);

        if (g_str_equal(t->name, "pit") && !g_strcmp0(t->tickpolicy,
                                                      "delay")) {
            add2(argv, "-global", "kvm-pit.lost_tick_policy=delay");
        }
    }
}

/*
 * <memoryBacking> as memory backends (man/kestrel.1), libvirt's mapping
 * with one difference: <hugepages/> alone is a hugetlb memfd (the same
 * huge pages, with no hugetlbfs mount to find), and hugetlbfs only with
 * <source type='file'/>. Guest RAM is the object "pc.ram", as libvirt
 * names it, and -machine memory-backend= points at it.
 */
static void add_memory(GPtrArray *argv, const DomainDef *def,
                       const DomainCommandPaths *paths, GString *machine)
{
    const DomainMemBacking *m = &def->mem_backing;
    GString *obj;

    add_fmt(argv, "-m", "size=%" PRIu64 "k", def->memory_kib);
    if (!m->given) {
        return;
    }
    obj = g_string_new(NULL);
    if (m->source == DOMAIN_MEM_SOURCE_FILE) {
        g_autofree char *dir = kv_escape(
            m->hugepages ? (paths->hugetlbfs ? paths->hugetlbfs
                                             : "/dev/hugepages")
                         : (paths->ram_dir ? paths->ram_dir : "/dev/shm"));

        g_string_append_printf(obj, "memory-backend-file,id=pc.ram,"
                               "size=%" PRIu64 "k,mem-path=%s",
                               def->memory_kib, dir);
        if (m->discard) {
            g_string_append(obj, ",discard-data=on");
        }
    } else if (m->source == DOMAIN_MEM_SOURCE_MEMFD || m->hugepages) {
        g_string_append_printf(obj, "memory-backend-memfd,id=pc.ram,"
                               "size=%" PRIu64 "k", def->memory_kib);
        if (m->hugepages) {
            g_string_append(obj, ",hugetlb=on");
        }
        if (m->hugepage_kib) {
            g_string_append_printf(obj, ",hugetlbsize=%" PRIu64 "k",
                                   m->hugepage_kib);
        }
    } else {
        g_string_append_printf(obj, "memory-backend-ram,id=pc.ram,"
                               "size=%" PRIu64 "k", def->memory_kib);
    }
    if (m->access != DOMAIN_MEM_ACCESS_DEFAULT) {
        g_string_append_printf(obj, ",share=%s",
                               m->access == DOMAIN_MEM_ACCESS_SHARED ? "on"
                                                                    : "off");
    }
    if (m->immediate) {
        g_string_append(obj, ",prealloc=on");
        if (m->threads) {
            g_string_append_printf(obj, ",prealloc-threads=%u", m->threads);
        }
    }
    add(argv, "-object");
    g_ptr_array_add(argv, g_string_free(obj, FALSE));
    g_string_append(machine, ",memory-backend=pc.ram");
    if (m->nosharepages) {
        g_string_append(machine, ",mem-merge=off");
    }
    if (m->locked) {
        add2(argv, "-overcommit", "mem-lock=on");
    }
}

GStrv domain_command_build(const DomainDef *def,
                           const DomainCommandPaths *paths,
                           unsigned int flags, GError **errp)
{
    const unsigned int known = DOMAIN_COMMAND_PAUSED |
                               DOMAIN_COMMAND_DAEMONIZE |
                               DOMAIN_COMMAND_INCOMING |
                               DOMAIN_COMMAND_QTEST;
    g_autoptr(GPtrArray) argv = NULL;
    GString *machine;
    guint machine_at;
    char uuid[37];

    if (flags & ~known) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_INVALID_ARG,
                    "unsupported flags (0x%x) in function %s",
                    flags & ~known, G_STRFUNC);
        return NULL;
    }
    if (!check_def(def, paths, errp)) {
        return NULL;
    }

    argv = g_ptr_array_new_with_free_func(g_free);
    domain_conf_uuid_format(def->uuid, uuid);

    add(argv, def->emulator ? def->emulator : paths->emulator);
    g_ptr_array_add(argv, g_strdup("-name"));
    g_ptr_array_add(argv, domain_command_name_arg(def->name));
    add2(argv, "-uuid", uuid);
    /* kestrel, pc and pc-i440fx-* are all this one machine */
    machine = g_string_new((flags & DOMAIN_COMMAND_QTEST) ?
                           "kestrel,accel=qtest" : "kestrel,accel=kvm");
    add(argv, "-machine");
    machine_at = argv->len;
    add(argv, "");
    add2(argv, "-cpu", "host");
    add_memory(argv, def, paths, machine);
    g_free(argv->pdata[machine_at]);
    argv->pdata[machine_at] = g_string_free(machine, FALSE);
    if (def->cpu.sockets) {
        add_fmt(argv, "-smp", "%u,sockets=%u,dies=%u,cores=%u,threads=%u",
                def->vcpus, def->cpu.sockets, def->cpu.dies, def->cpu.cores,
                def->cpu.threads);
    } else {
        add_fmt(argv, "-smp", "%u", def->vcpus);
    }
    add2(argv, "-kernel", def->os.kernel);
    if (def->os.initrd) {
        add2(argv, "-initrd", def->os.initrd);
    }
    if (def->os.cmdline) {
        add2(argv, "-append", def->os.cmdline);
    }
    add(argv, "-nodefaults");
    add(argv, "-no-user-config");
    add2(argv, "-display", "none");
    g_ptr_array_add(argv, g_strdup("-chardev"));
    g_ptr_array_add(argv, domain_command_monitor_arg(paths->qmp_socket));
    add2(argv, "-mon", "chardev=charmonitor,id=monitor,mode=control");
    add_clock(argv, def);
    if (def->on_poweroff == DOMAIN_LIFECYCLE_PRESERVE) {
        add(argv, "-no-shutdown");
    }
    if (def->on_reboot == DOMAIN_LIFECYCLE_DESTROY) {
        add(argv, "-no-reboot");
    }
    for (guint i = 0; def->disks && i < def->disks->len; i++) {
        add_disk(argv, g_ptr_array_index(def->disks, i), i);
    }
    for (guint i = 0; def->nets && i < def->nets->len; i++) {
        add_net(argv, g_ptr_array_index(def->nets, i), i, paths->net_fds[i]);
    }
    for (guint i = 0; i < def->serials->len; i++) {
        add_serial(argv, g_ptr_array_index(def->serials, i), i);
    }
    if (def->balloon.model == DOMAIN_BALLOON_VIRTIO) {
        add_balloon(argv, &def->balloon);
    }
    /* libvirt's default for QEMU (qemu.conf seccomp_sandbox = 1): kestrel
     * gives up every group QEMU's seccomp filter knows once it is set up.
     * Nothing the daemon asks of a running kestrel spawns a process:
     * save goes to file: and migration over tcp:. */
    add2(argv, "-sandbox", DOMAIN_COMMAND_SANDBOX);
    if (paths->pidfile) {
        add2(argv, "-pidfile", paths->pidfile);
    }
    if (paths->logfile) {
        add2(argv, "-D", paths->logfile);
    }
    if (flags & DOMAIN_COMMAND_PAUSED) {
        add(argv, "-S");
    }
    if (flags & DOMAIN_COMMAND_DAEMONIZE) {
        add(argv, "-daemonize");
    }
    if (flags & DOMAIN_COMMAND_INCOMING) {
        add2(argv, "-incoming", "defer");
    }
    if ((flags & DOMAIN_COMMAND_QTEST) && paths->qtest_socket) {
        g_autofree char *qt = kv_escape(paths->qtest_socket);

        add_fmt(argv, "-qtest", "unix:%s,server=on,wait=off", qt);
    }
    g_ptr_array_add(argv, NULL);
    return (GStrv)g_ptr_array_free(g_steal_pointer(&argv), FALSE);
}
