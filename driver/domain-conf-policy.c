/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The policy table (ARCHITECTURE.md decision 8): after libvirt's schema
 * has accepted a document, this table decides, element by element and
 * value by value, what the kestrel driver does with it:
 *
 *   honoured   parsed into DomainDef and given to kestrel;
 *   trivial    true of every kestrel guest (no USB, no HPET, no S3/S4,
 *              no VMware port...): accepted, kept for dumpxml, no argv;
 *   verbatim   kept as written and never looked into (<metadata>);
 *   live       run-time output (aliases): accepted, not kept;
 *   refused    anything the table does not list.
 *
 * Every refusal of a document is collected, so that one error names them
 * all, each with its XPath and what to write instead.  A row applies to
 * the elements at its path, narrowed by an optional "attribute=value"
 * condition; its attribute list is complete: an attribute it does not
 * name is refused.  The pseudo-attribute "#text" is the element's text.
 */
#include "config.h"

#include <string.h>

#include <libxml/tree.h>

#include "domain-conf.h"
#include "domain-conf-schema.h"
#include "drv-error.h"

typedef enum {
    POLICY_HONOURED,
    POLICY_TRIVIAL,
    POLICY_VERBATIM,
    POLICY_LIVE,
} PolicyKind;

typedef struct {
    const char *name;           /* attribute name, or "#text" */
    const char *values;         /* accepted values, '|'-separated globs;
                                 * NULL: any value */
    const char *instead;        /* what to write instead, and why */
} PolicyAttr;

#define POLICY_MAX_ATTRS 6

typedef struct {
    const char *path;           /* element path from the root */
    const char *when;           /* "attr=value": the row's case, or NULL */
    PolicyKind kind;
    PolicyAttr attrs[POLICY_MAX_ATTRS];
} PolicyRow;

#define ANY(name) { name, NULL, NULL }

#define MACHINES "kestrel|pc|pc-i440fx-*"
#define MACHINE_INSTEAD \
    "write machine='pc' (or 'kestrel'): the machines kestrel answers to " \
    "are kestrel, pc and pc-i440fx-* (one i440FX-like PC)"

static const char ONLY_HOST_CPU[] =
    "write mode='host-passthrough': a kestrel vCPU is the host's CPU";
static const char NO_USB[] =
    "write <controller type='usb' model='none'/>: kestrel has no USB";
static const char ONLY_DISKS[] =
    "write device='disk': kestrel has only virtio disks, no CD-ROM, floppy "
    "or SCSI LUN";
static const char PCI_ROOT[] =
    "write <controller type='pci' index='0' model='pci-root'/>: kestrel "
    "has one PCI bus, the root";

/* Sorted by path, then by case; the order of the document does not matter. */
static const PolicyRow policy[] = {
    { "domain", NULL, POLICY_HONOURED, {
        { "type", "kvm", "write type='kvm': kestrel runs guests on KVM only" },
        ANY("id") } },
    { "domain/clock", NULL, POLICY_HONOURED, {
        { "offset", "utc", "write offset='utc': kestrel's RTC counts the "
          "host's time in UTC (kestrel takes only -rtc base=utc)" } } },
    { "domain/clock/timer", "name=hpet", POLICY_TRIVIAL, {
        ANY("name"),
        { "present", "no", "write present='no': kestrel has no HPET" } } },
    { "domain/clock/timer", "name=kvmclock", POLICY_HONOURED, {
        ANY("name"),
        { "present", "yes", "write present='yes' or leave the timer out: "
          "kestrel always gives its guests kvmclock" } } },
    { "domain/clock/timer", "name=pit", POLICY_HONOURED, {
        ANY("name"),
        { "tickpolicy", "delay", "write tickpolicy='delay': KVM's in-kernel "
          "PIT reinjects lost ticks, which is 'delay' (-global "
          "kvm-pit.lost_tick_policy=delay)" },
        { "present", "yes", "write present='yes' or leave it out: "
          "kestrel's machine always has a PIT" } } },
    { "domain/clock/timer", "name=rtc", POLICY_HONOURED, {
        ANY("name"),
        { "tickpolicy", "delay", "write tickpolicy='delay' or leave the "
          "timer out: kestrel's RTC does not make up lost ticks (kestrel "
          "refuses -rtc driftfix=slew)" },
        { "present", "yes", "write present='yes' or leave it out: "
          "kestrel's machine always has an RTC" } } },
    { "domain/cpu", NULL, POLICY_HONOURED, {
        { "mode", "host-passthrough", ONLY_HOST_CPU },
        { "check", "none", "write check='none' or leave it out: kestrel "
          "checks no CPU features, its vCPU is the host's" },
        { "migratable", "on", "write migratable='on' or leave it out: "
          "kestrel's host CPU model is QEMU's migratable one" } } },
    { "domain/cpu/topology", NULL, POLICY_HONOURED, {
        ANY("sockets"), ANY("dies"), ANY("cores"), ANY("threads") } },
    { "domain/currentMemory", NULL, POLICY_HONOURED, { ANY("unit") } },
    { "domain/description", NULL, POLICY_HONOURED, { ANY("#text") } },
    { "domain/devices", NULL, POLICY_HONOURED, { { NULL } } },
    { "domain/devices/audio", NULL, POLICY_TRIVIAL, {
        ANY("id"),
        { "type", "none", "write <audio id='1' type='none'/> or leave it "
          "out: kestrel has no sound device" } } },
    { "domain/devices/console", NULL, POLICY_HONOURED, {
        { "type", "pty|file|unix", "write type='pty', 'file' or 'unix': "
          "the character devices kestrel has" },
        ANY("tty") } },
    { "domain/devices/console/alias", NULL, POLICY_HONOURED, {
        ANY("name") } },
    { "domain/devices/console/source", NULL, POLICY_HONOURED, {
        ANY("path"),
        { "mode", "bind|connect", "write mode='bind' or 'connect'" },
        { "append", "on|off", "write append='on' or 'off'" } } },
    { "domain/devices/console/target", NULL, POLICY_HONOURED, {
        { "type", "serial", "write type='serial': kestrel's console is "
          "serial port 0" },
        { "port", "0", "write port='0': kestrel's console is serial port "
          "0" } } },
    { "domain/devices/controller", "type=pci", POLICY_TRIVIAL, {
        ANY("type"),
        { "index", "0", PCI_ROOT },
        { "model", "pci-root", PCI_ROOT } } },
    { "domain/devices/controller", "type=usb", POLICY_TRIVIAL, {
        ANY("type"),
        { "index", "0", NO_USB },
        { "model", "none", NO_USB } } },
    { "domain/devices/controller/alias", NULL, POLICY_LIVE, {
        ANY("name") } },
    { "domain/devices/disk", NULL, POLICY_HONOURED, {
        { "type", "file|block", "write type='file' or 'block': kestrel "
          "opens image files and block devices" },
        { "device", "disk", ONLY_DISKS } } },
    { "domain/devices/disk/address", NULL, POLICY_HONOURED, {
        { "type", "pci", "write type='pci': a virtio disk is a PCI "
          "device" },
        ANY("domain"), ANY("bus"), ANY("slot"), ANY("function") } },
    { "domain/devices/disk/alias", NULL, POLICY_HONOURED, { ANY("name") } },
    /* Run-time output of libvirt (the image's chain) and what virt-manager
     * copies from it: kestrel opens the chain from the qcow2 header. */
    { "domain/devices/disk/backingStore", NULL, POLICY_VERBATIM, {
        { NULL } } },
    { "domain/devices/disk/boot", NULL, POLICY_HONOURED, { ANY("order") } },
    { "domain/devices/disk/driver", NULL, POLICY_HONOURED, {
        { "name", "qemu", "write name='qemu' (the image driver of QEMU and "
          "kestrel)" },
        { "type", "raw|qcow2", "write type='raw' or 'qcow2': the image "
          "formats kestrel reads and writes" },
        { "cache", "default|none|writeback|unsafe", "write cache='none', "
          "'writeback' or 'unsafe': kestrel's virtio-blk always has a "
          "write cache the guest flushes (no write-through)" },
        { "discard", "default|unmap|ignore", "write discard='unmap' or "
          "'ignore'" },
        { "error_policy", "default|stop|report|ignore|enospc",
          "write error_policy='stop', 'report', 'ignore' or 'enospc'" },
        { "rerror_policy", "default|stop|report|ignore",
          "write rerror_policy='stop', 'report' or 'ignore'" } } },
    { "domain/devices/disk/readonly", NULL, POLICY_HONOURED, { { NULL } } },
    { "domain/devices/disk/serial", NULL, POLICY_HONOURED, {
        ANY("#text") } },
    { "domain/devices/disk/shareable", NULL, POLICY_HONOURED, {
        { NULL } } },
    { "domain/devices/disk/source", NULL, POLICY_HONOURED, {
        ANY("file"), ANY("dev"), ANY("index") } },
    { "domain/devices/disk/target", NULL, POLICY_HONOURED, {
        ANY("dev"),
        { "bus", "virtio", "write bus='virtio' and target dev='vdX': "
          "kestrel has only virtio disks" } } },
    { "domain/devices/emulator", NULL, POLICY_HONOURED, { ANY("#text") } },
    { "domain/devices/interface", NULL, POLICY_HONOURED, {
        { "type", "ethernet|bridge|network", "write type='bridge', "
          "'network' or 'ethernet': the daemon opens a tap and, for "
          "'bridge' and 'network', adds it to the bridge" } } },
    { "domain/devices/interface/address", NULL, POLICY_HONOURED, {
        { "type", "pci", "write type='pci': a virtio NIC is a PCI "
          "device" },
        ANY("domain"), ANY("bus"), ANY("slot"), ANY("function") } },
    { "domain/devices/interface/alias", NULL, POLICY_HONOURED, {
        ANY("name") } },
    { "domain/devices/interface/boot", NULL, POLICY_HONOURED, {
        ANY("order") } },
    { "domain/devices/interface/mac", NULL, POLICY_HONOURED, {
        ANY("address") } },
    { "domain/devices/interface/model", NULL, POLICY_HONOURED, {
        { "type", "virtio", "write <model type='virtio'/>: kestrel's NIC "
          "is virtio-net-pci" } } },
    { "domain/devices/interface/source", NULL, POLICY_HONOURED, {
        ANY("bridge"), ANY("network"), ANY("portid") } },
    { "domain/devices/interface/target", NULL, POLICY_HONOURED, {
        ANY("dev") } },
    { "domain/devices/memballoon", NULL, POLICY_HONOURED, {
        { "model", "virtio|none", "write model='virtio' or 'none': "
          "kestrel's balloon is virtio-balloon-pci" },
        ANY("autodeflate"), ANY("freePageReporting") } },
    { "domain/devices/memballoon/address", NULL, POLICY_HONOURED, {
        { "type", "pci", "write type='pci': the balloon is a PCI device" },
        ANY("domain"), ANY("bus"), ANY("slot"), ANY("function") } },
    { "domain/devices/memballoon/alias", NULL, POLICY_HONOURED, {
        ANY("name") } },
    { "domain/devices/memballoon/stats", NULL, POLICY_HONOURED, {
        ANY("period") } },
    { "domain/devices/serial", NULL, POLICY_HONOURED, {
        { "type", "pty|file|unix", "write type='pty', 'file' or 'unix': "
          "the character devices kestrel has" } } },
    { "domain/devices/serial/alias", NULL, POLICY_HONOURED, {
        ANY("name") } },
    { "domain/devices/serial/source", NULL, POLICY_HONOURED, {
        ANY("path"),
        { "mode", "bind|connect", "write mode='bind' or 'connect'" },
        { "append", "on|off", "write append='on' or 'off'" } } },
    { "domain/devices/serial/target", NULL, POLICY_HONOURED, {
        { "type", "isa-serial", "write type='isa-serial': kestrel's serial "
          "ports are 8250 UARTs on the ISA ports" },
        ANY("port") } },
    { "domain/devices/serial/target/model", NULL, POLICY_HONOURED, {
        { "name", "isa-serial", "write name='isa-serial': kestrel's serial "
          "ports are 8250 UARTs on the ISA ports" } } },
    { "domain/devices/video", NULL, POLICY_TRIVIAL, { { NULL } } },
    { "domain/devices/video/alias", NULL, POLICY_LIVE, { ANY("name") } },
    { "domain/devices/video/model", NULL, POLICY_TRIVIAL, {
        { "type", "none", "write <model type='none'/> or leave the video "
          "out: kestrel has no display" } } },
    { "domain/features", NULL, POLICY_HONOURED, { { NULL } } },
    { "domain/features/acpi", NULL, POLICY_HONOURED, { { NULL } } },
    { "domain/features/apic", NULL, POLICY_HONOURED, { { NULL } } },
    { "domain/features/pae", NULL, POLICY_HONOURED, { { NULL } } },
    { "domain/features/vmport", NULL, POLICY_TRIVIAL, {
        { "state", "off", "write state='off' or leave it out: kestrel has "
          "no VMware I/O port" } } },
    { "domain/memory", NULL, POLICY_HONOURED, { ANY("unit") } },
    { "domain/memoryBacking", NULL, POLICY_HONOURED, { { NULL } } },
    { "domain/memoryBacking/access", NULL, POLICY_HONOURED, {
        { "mode", "shared|private", NULL } } },
    { "domain/memoryBacking/allocation", NULL, POLICY_HONOURED, {
        { "mode", "immediate|ondemand", NULL }, ANY("threads") } },
    { "domain/memoryBacking/discard", NULL, POLICY_HONOURED, { { NULL } } },
    { "domain/memoryBacking/hugepages", NULL, POLICY_HONOURED, { { NULL } } },
    { "domain/memoryBacking/hugepages/page", NULL, POLICY_HONOURED, {
        ANY("size"), ANY("unit") } },
    { "domain/memoryBacking/locked", NULL, POLICY_HONOURED, { { NULL } } },
    { "domain/memoryBacking/nosharepages", NULL, POLICY_HONOURED, {
        { NULL } } },
    { "domain/memoryBacking/source", NULL, POLICY_HONOURED, {
        { "type", "anonymous|memfd|file", NULL } } },
    { "domain/metadata", NULL, POLICY_VERBATIM, { { NULL } } },
    { "domain/name", NULL, POLICY_HONOURED, { ANY("#text") } },
    { "domain/on_crash", NULL, POLICY_HONOURED, {
        { "#text", "destroy|restart|preserve", "write destroy, restart or "
          "preserve: kestrel does not dump a guest's core" } } },
    { "domain/on_poweroff", NULL, POLICY_HONOURED, {
        { "#text", "destroy|preserve", "write destroy or preserve: "
          "kestrel does not restart a guest that powered off" } } },
    { "domain/on_reboot", NULL, POLICY_HONOURED, {
        { "#text", "restart|destroy", "write restart or destroy: a guest "
          "that reboots either restarts or stops" } } },
    { "domain/os", NULL, POLICY_HONOURED, { { NULL } } },
    { "domain/os/boot", NULL, POLICY_TRIVIAL, {
        { "dev", "hd", "write <boot dev='hd'/> or leave it out: kestrel "
          "boots the <kernel> directly, without firmware" } } },
    { "domain/os/cmdline", NULL, POLICY_HONOURED, { ANY("#text") } },
    { "domain/os/initrd", NULL, POLICY_HONOURED, { ANY("#text") } },
    { "domain/os/kernel", NULL, POLICY_HONOURED, { ANY("#text") } },
    { "domain/os/type", NULL, POLICY_HONOURED, {
        { "arch", "x86_64", "write arch='x86_64': kestrel runs x86-64 "
          "guests" },
        { "machine", MACHINES, MACHINE_INSTEAD },
        { "#text", "hvm", "write hvm: kestrel runs full virtual "
          "machines" } } },
    { "domain/pm", NULL, POLICY_TRIVIAL, { { NULL } } },
    { "domain/pm/suspend-to-disk", NULL, POLICY_TRIVIAL, {
        { "enabled", "no", "write enabled='no' or leave it out: kestrel's "
          "ACPI tables offer no S4" } } },
    { "domain/pm/suspend-to-mem", NULL, POLICY_TRIVIAL, {
        { "enabled", "no", "write enabled='no' or leave it out: kestrel's "
          "ACPI tables offer no S3" } } },
    { "domain/seclabel", NULL, POLICY_TRIVIAL, {
        { "type", "none", "write <seclabel type='none'/>: virtkestreld "
          "applies no security driver (no SELinux or AppArmor label, no "
          "DAC relabelling)" },
        { "model", "none", "write model='none' or leave it out: "
          "virtkestreld applies no security driver" } } },
    { "domain/title", NULL, POLICY_HONOURED, { ANY("#text") } },
    { "domain/uuid", NULL, POLICY_HONOURED, { ANY("#text") } },
    { "domain/vcpu", NULL, POLICY_HONOURED, {
        { "placement", "static", "write placement='static' or leave it "
          "out: kestrel does not place vCPUs on host CPUs" },
        ANY("current"), ANY("#text") } },
};

/* What to write instead of an element no row accepts; default: remove it. */
static const struct {
    const char *path;
    const char *instead;
} refused[] = {
    { "domain/clock/timer", "remove it: kestrel's timers are rtc, pit and "
      "kvmclock, and hpet only with present='no'" },
    { "domain/devices/channel", "remove it: kestrel has no virtio-serial "
      "channel yet" },
    { "domain/devices/controller", "remove it: kestrel's controllers are "
      "the PCI root (type='pci' model='pci-root') and no USB (type='usb' "
      "model='none')" },
    { "domain/devices/graphics", "remove it: kestrel has no display "
      "(virt-install --graphics none)" },
    { "domain/devices/input", "remove it: kestrel's i8042 has no keyboard "
      "or mouse attached" },
    { "domain/devices/rng", "remove it: kestrel has no virtio-rng device "
      "yet" },
    { "domain/devices/sound", "remove it: kestrel has no sound device" },
    { "domain/devices/watchdog", "remove it: kestrel has no watchdog" },
    { "domain/os/loader", "remove it: kestrel boots the <kernel> directly, "
      "without firmware" },
    { "domain/os/nvram", "remove it: kestrel boots the <kernel> directly, "
      "without firmware" },
};

typedef struct {
    GString *msg;               /* one line per refusal */
    unsigned int count;
} Refusals;

static void refuse(Refusals *r, const char *xpath, const char *what,
                   const char *instead)
{
    g_string_append_printf(r->msg, "\n  %s: %s; %s", xpath, what, instead);
    r->count++;
}

static char *own_text(xmlNodePtr node)
{
    GString *s = g_string_new(NULL);

    for (xmlNodePtr c = node->children; c; c = c->next) {
        if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
            g_string_append(s, (const char *)c->content);
        }
    }
    return g_strstrip(g_string_free(s, FALSE));
}

static bool value_accepted(const char *values, const char *value)
{
    g_auto(GStrv) alts = NULL;

    if (!values) {
        return true;
    }
    alts = g_strsplit(values, "|", -1);
    for (char **a = alts; *a; a++) {
        if (g_pattern_match_simple(*a, value)) {
            return true;
        }
    }
    return false;
}

static bool row_applies(const PolicyRow *row, xmlNodePtr node)
{
    g_autofree char *name = NULL;
    const char *eq;
    xmlChar *v;
    bool match;

    if (!row->when) {
        return true;
    }
    eq = strchr(row->when, '=');
    name = g_strndup(row->when, eq - row->when);
    v = xmlGetNoNsProp(node, BAD_CAST name);
    match = v && g_str_equal((const char *)v, eq + 1);
    xmlFree(v);
    return match;
}

static const PolicyRow *row_find(const char *path, xmlNodePtr node)
{
    for (size_t i = 0; i < G_N_ELEMENTS(policy); i++) {
        if (g_str_equal(policy[i].path, path) &&
            row_applies(&policy[i], node)) {
            return &policy[i];
        }
    }
    return NULL;
}

static const PolicyAttr *row_attr(const PolicyRow *row, const char *name)
{
    for (size_t i = 0; i < POLICY_MAX_ATTRS && row->attrs[i].name; i++) {
        if (g_str_equal(row->attrs[i].name, name)) {
            return &row->attrs[i];
        }
    }
    return NULL;
}

static const char *refused_instead(const char *path)
{
    for (size_t i = 0; i < G_N_ELEMENTS(refused); i++) {
        if (g_str_equal(refused[i].path, path)) {
            return refused[i].instead;
        }
    }
    return "remove it";
}

static void policy_walk(xmlNodePtr node, const char *path, Refusals *r)
{
    xmlChar *xp = xmlGetNodePath(node);
    const char *xpath = xp ? (const char *)xp : path;
    const PolicyRow *row = node->ns ? NULL : row_find(path, node);
    const PolicyAttr *text_rule;

    if (!row) {
        g_autofree char *what = g_strdup_printf(
            "element '%s' " NOT_SUPPORTED, (const char *)node->name);

        refuse(r, xpath, what, refused_instead(path));
        xmlFree(xp);
        return;
    }
    if (row->kind == POLICY_VERBATIM) {
        xmlFree(xp);
        return;
    }

    for (xmlAttrPtr a = node->properties; a; a = a->next) {
        const PolicyAttr *rule = a->ns ? NULL
                                 : row_attr(row, (const char *)a->name);
        g_autofree char *apath = g_strdup_printf("%s/@%s", xpath,
                                                 (const char *)a->name);
        xmlChar *val = xmlNodeGetContent((xmlNodePtr)a);

        if (!rule) {
            g_autofree char *what = g_strdup_printf(
                "attribute '%s' of element '%s' " NOT_SUPPORTED,
                (const char *)a->name, (const char *)node->name);

            refuse(r, apath, what, "remove it");
        } else if (!value_accepted(rule->values, (const char *)val)) {
            g_autofree char *what = g_strdup_printf(
                "value '%s' of attribute '%s' of element '%s' "
                NOT_SUPPORTED, (const char *)val, (const char *)a->name,
                (const char *)node->name);

            refuse(r, apath, what, rule->instead);
        }
        xmlFree(val);
    }

    text_rule = row_attr(row, "#text");
    if (text_rule) {
        g_autofree char *t = own_text(node);

        if (!value_accepted(text_rule->values, t)) {
            g_autofree char *what = g_strdup_printf(
                "value '%s' of element '%s' " NOT_SUPPORTED, t,
                (const char *)node->name);

            refuse(r, xpath, what, text_rule->instead);
        }
    }

    for (xmlNodePtr c = node->children; c; c = c->next) {
        g_autofree char *cpath = NULL;

        if (c->type != XML_ELEMENT_NODE) {
            continue;
        }
        cpath = g_strdup_printf("%s/%s", path, (const char *)c->name);
        policy_walk(c, cpath, r);
    }
    xmlFree(xp);
}

bool domain_conf_policy_check(xmlNodePtr root, GError **errp)
{
    Refusals r = { g_string_new(NULL), 0 };

    policy_walk(root, "domain", &r);
    if (r.count) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                    "%u part%s of this domain %s not supported by the "
                    "kestrel driver; change or remove %s and define the "
                    "domain again:%s", r.count, r.count == 1 ? "" : "s",
                    r.count == 1 ? "is" : "are",
                    r.count == 1 ? "it" : "them", r.msg->str);
    }
    g_string_free(r.msg, TRUE);
    return r.count == 0;
}

/* For tests: the table's paths, in order, and whether they are sorted. */
bool domain_conf_policy_sorted(void)
{
    for (size_t i = 1; i < G_N_ELEMENTS(policy); i++) {
        int c = strcmp(policy[i - 1].path, policy[i].path);

        if (c > 0 || (c == 0 && g_strcmp0(policy[i - 1].when,
                                          policy[i].when) >= 0)) {
            return false;
        }
    }
    for (size_t i = 1; i < G_N_ELEMENTS(refused); i++) {
        if (strcmp(refused[i - 1].path, refused[i].path) >= 0) {
            return false;
        }
    }
    return true;
}
