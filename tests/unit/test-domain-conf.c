/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Domain XML: what is accepted (and what it means), what is refused (exact
 * code and message), the canonical format, and round trips
 * (parse -> format -> parse gives the same definition, and the formatted
 * XML is accepted by the schema).
 */
#include "config.h"

#include <glib.h>
#include <inttypes.h>
#include <string.h>

#include <libxml/parser.h>

#include "domain-conf.h"
#include "domain-conf-schema.h"
#include "drv-error.h"

#define UUID "11111111-2222-3333-4444-555555555555"
#define HEAD "<domain type='kvm'><name>vm1</name><uuid>" UUID "</uuid>"
#define MEM "<memory unit='KiB'>1048576</memory>"
#define OS "<os><type>hvm</type><kernel>/boot/vmlinuz</kernel></os>"
/* a minimal valid domain with @x added at the end */
#define DOM(x) HEAD MEM OS x "</domain>"
/* the same with @x inside <devices> */
#define DEV(x) DOM("<devices>" x "</devices>")
#define MAX_LINES 8

/* One fact per line, so cases can name the lines they care about. */
static char *def_dump(const DomainDef *def)
{
    static const char *const tri[] = { "-", "on", "off" };
    GString *s = g_string_new(NULL);
    const DomainBalloon *b = &def->balloon;
    char uuid[37];

    domain_conf_uuid_format(def->uuid, uuid);
    g_string_append_printf(s, "name=%s\nuuid=%s\ntitle=%s\ndesc=%s\n",
                           def->name, uuid, def->title ? def->title : "-",
                           def->description ? def->description : "-");
    g_string_append_printf(s, "memory=%" PRIu64 "\ncurrent=%" PRIu64
                           "\nvcpus=%u\n", def->memory_kib, def->current_kib,
                           def->vcpus);
    g_string_append_printf(s, "kernel=%s\ninitrd=%s\ncmdline=%s\n",
                           def->os.kernel,
                           def->os.initrd ? def->os.initrd : "-",
                           def->os.cmdline ? def->os.cmdline : "-");
    g_string_append_printf(s, "features=%s%s%s\n", def->acpi ? "acpi " : "",
                           def->apic ? "apic " : "", def->pae ? "pae" : "");
    g_string_append_printf(s, "lifecycle=%s/%s/%s\nemulator=%s\n",
                           domain_lifecycle_action_name(def->on_poweroff),
                           domain_lifecycle_action_name(def->on_reboot),
                           domain_lifecycle_action_name(def->on_crash),
                           def->emulator ? def->emulator : "-");
    for (guint i = 0; i < def->serials->len; i++) {
        const DomainChr *c = g_ptr_array_index(def->serials, i);

        g_string_append_printf(s, "serial%u=%s port=%u path=%s append=%s "
                               "listen=%d alias=%s\n", i,
                               domain_chr_type_name(c->type), c->port,
                               c->path ? c->path : "-", tri[c->append],
                               c->listen, c->alias ? c->alias : "-");
    }
    g_string_append_printf(s, "serials=%u\n", def->serials->len);
    if (b->model == DOMAIN_BALLOON_NONE) {
        g_string_append(s, "balloon=none\n");
    } else {
        g_string_append_printf(s, "balloon=virtio period=%u autodeflate=%s "
                               "fpr=%s alias=%s slot=%d\n", b->stats_period,
                               tri[b->autodeflate],
                               tri[b->free_page_reporting],
                               b->alias ? b->alias : "-",
                               b->has_address ? (int)b->pci_slot : -1);
    }
    return g_string_free(s, FALSE);
}

static void check_round_trip(const DomainDef *def)
{
    g_autoptr(GError) err = NULL;
    DomainLive live = { .id = 7, .current_kib = 0,
                        .serial_ptys = { "/dev/pts/3", "/dev/pts/4" } };
    const unsigned int flags[] = { DOMAIN_DEF_FORMAT_INACTIVE, 0,
                                   DOMAIN_DEF_FORMAT_MIGRATABLE };

    for (size_t i = 0; i < G_N_ELEMENTS(flags); i++) {
        g_autofree char *xml = domain_def_format(def, &live, flags[i]);
        g_autoptr(DomainDef) again = domain_def_parse_string(xml, 0, &err);

        g_assert_no_error(err);
        if (!domain_def_equal(def, again)) {
            g_autofree char *a = def_dump(def);
            g_autofree char *b = def_dump(again);

            g_test_message("round trip changed the definition:\n%s\n%s\n%s",
                           xml, a, b);
            g_test_fail();
        }
    }
}

/* ---- accepted documents ------------------------------------------------ */

typedef struct {
    const char *name;
    const char *xml;
    const char *lines[MAX_LINES];       /* each must be a line of the dump */
} GoodCase;

static const GoodCase good_cases[] = {
    { "minimal", DOM(""),
      { "name=vm1", "uuid=" UUID, "memory=1048576", "current=1048576",
        "vcpus=1", "kernel=/boot/vmlinuz", "features=acpi ",
        "lifecycle=destroy/restart/destroy" } },
    { "defaults", DOM(""),
      { "serials=0", "balloon=virtio period=0 autodeflate=- fpr=- alias=- "
        "slot=-1", "emulator=-", "title=-", "initrd=-", "cmdline=-" } },
    { "uuid-without-dashes", "<domain type='kvm'><name>vm1</name>"
      "<uuid>11111111222233334444555555555555</uuid>" MEM OS "</domain>",
      { "uuid=" UUID } },
    { "uuid-upper-case", "<domain type='kvm'><name>vm1</name>"
      "<uuid>ABCDEF01-2222-3333-4444-555555555555</uuid>" MEM OS "</domain>",
      { "uuid=abcdef01-2222-3333-4444-555555555555" } },
    { "live-id-ignored", "<domain type='kvm' id='4'><name>vm1</name>"
      MEM OS "</domain>", { "name=vm1" } },
    { "title-description", DOM("<title>Web server</title>"
                               "<description>line1\nline2 &amp; &lt;3"
                               "</description>"),
      { "title=Web server", "desc=line1\nline2 & <3" } },
    { "name-odd-chars", "<domain type='kvm'><name>a b,c'd&amp;e</name>"
      MEM OS "</domain>", { "name=a b,c'd&e" } },
    /* units: libvirt's names, case-insensitive, KiB by default */
    { "unit-default-kib", HEAD "<memory>2048</memory>" OS "</domain>",
      { "memory=2048" } },
    { "unit-b", HEAD "<memory unit='b'>1048576</memory>" OS "</domain>",
      { "memory=1024" } },
    { "unit-bytes", HEAD "<memory unit='bytes'>2048</memory>" OS
      "</domain>", { "memory=2" } },
    { "unit-bytes-round-up", HEAD "<memory unit='B'>1025</memory>" OS
      "</domain>", { "memory=2" } },
    { "unit-k", HEAD "<memory unit='k'>512</memory>" OS "</domain>",
      { "memory=512" } },
    { "unit-KB", HEAD "<memory unit='KB'>1024</memory>" OS "</domain>",
      { "memory=1000" } },
    { "unit-M", HEAD "<memory unit='M'>512</memory>" OS "</domain>",
      { "memory=524288" } },
    { "unit-MiB", HEAD "<memory unit='MiB'>1</memory>" OS "</domain>",
      { "memory=1024" } },
    { "unit-MB", HEAD "<memory unit='MB'>1</memory>" OS "</domain>",
      { "memory=977" } },
    { "unit-G", HEAD "<memory unit='G'>2</memory>" OS "</domain>",
      { "memory=2097152" } },
    { "unit-GiB", HEAD "<memory unit='GiB'>1</memory>" OS "</domain>",
      { "memory=1048576" } },
    { "unit-GB", HEAD "<memory unit='GB'>1</memory>" OS "</domain>",
      { "memory=976563" } },
    { "unit-TiB", HEAD "<memory unit='TiB'>1</memory>" OS "</domain>",
      { "memory=1073741824" } },
    { "unit-T", HEAD "<memory unit='t'>1</memory>" OS "</domain>",
      { "memory=1073741824" } },
    { "unit-PiB", HEAD "<memory unit='PiB'>1</memory>" OS "</domain>",
      { "memory=1099511627776" } },
    { "unit-mib-lower", HEAD "<memory unit='mib'>3</memory>" OS "</domain>",
      { "memory=3072" } },
    { "current-memory", DOM("<currentMemory unit='MiB'>512</currentMemory>"),
      { "memory=1048576", "current=524288" } },
    { "current-above-memory-clamped",
      DOM("<currentMemory unit='GiB'>4</currentMemory>"),
      { "current=1048576" } },
    { "current-zero-means-all", DOM("<currentMemory>0</currentMemory>"),
      { "current=1048576" } },
    { "vcpu", DOM("<vcpu>4</vcpu>"), { "vcpus=4" } },
    { "vcpu-static", DOM("<vcpu placement='static'>2</vcpu>"),
      { "vcpus=2" } },
    { "vcpu-current-equal", DOM("<vcpu current='3'>3</vcpu>"),
      { "vcpus=3" } },
    { "vcpu-max", DOM("<vcpu>255</vcpu>"), { "vcpus=255" } },
    { "os-full", HEAD MEM "<os><type arch='x86_64' machine='kestrel'>hvm"
      "</type><kernel>/k</kernel><initrd>/i.img</initrd>"
      "<cmdline>console=ttyS0 root=/dev/vda quiet</cmdline></os></domain>",
      { "kernel=/k", "initrd=/i.img",
        "cmdline=console=ttyS0 root=/dev/vda quiet" } },
    { "os-any-order", HEAD MEM "<os><cmdline>x</cmdline><kernel>/k</kernel>"
      "<type>hvm</type></os></domain>", { "kernel=/k", "cmdline=x" } },
    { "features", DOM("<features><acpi/><apic/><pae/></features>"),
      { "features=acpi apic pae" } },
    { "features-apic-only", DOM("<features><apic/></features>"),
      { "features=acpi apic " } },
    { "clock-utc", DOM("<clock offset='utc'/>"), { "name=vm1" } },
    { "lifecycle", DOM("<on_poweroff>preserve</on_poweroff>"
                       "<on_reboot>destroy</on_reboot>"
                       "<on_crash>restart</on_crash>"),
      { "lifecycle=preserve/destroy/restart" } },
    { "lifecycle-crash-preserve", DOM("<on_crash>preserve</on_crash>"),
      { "lifecycle=destroy/restart/preserve" } },
    { "emulator", DEV("<emulator>/usr/bin/kestrel</emulator>"),
      { "emulator=/usr/bin/kestrel" } },
    { "serial-pty", DEV("<serial type='pty'/>"),
      { "serial0=pty port=0 path=- append=- listen=0 alias=-",
        "serials=1" } },
    { "serial-pty-live-path-ignored",
      DEV("<serial type='pty'><source path='/dev/pts/9'/>"
          "<target type='isa-serial' port='0'><model name='isa-serial'/>"
          "</target><alias name='serial0'/></serial>"),
      { "serial0=pty port=0 path=- append=- listen=0 alias=-" } },
    { "serial-file", DEV("<serial type='file'><source path='/var/log/c.log'"
                         "/></serial>"),
      { "serial0=file port=0 path=/var/log/c.log append=- listen=0 "
        "alias=-" } },
    { "serial-file-append", DEV("<serial type='file'><source path='/l' "
                                "append='on'/></serial>"),
      { "serial0=file port=0 path=/l append=on listen=0 alias=-" } },
    { "serial-file-no-append", DEV("<serial type='file'><source path='/l' "
                                   "append='off'/></serial>"),
      { "serial0=file port=0 path=/l append=off listen=0 alias=-" } },
    { "serial-unix-bind", DEV("<serial type='unix'><source mode='bind' "
                              "path='/run/c.sock'/></serial>"),
      { "serial0=unix port=0 path=/run/c.sock append=- listen=1 "
        "alias=-" } },
    { "serial-unix-connect", DEV("<serial type='unix'><source "
                                 "mode='connect' path='/s'/></serial>"),
      { "serial0=unix port=0 path=/s append=- listen=0 alias=-" } },
    { "serial-unix-default-connect", DEV("<serial type='unix'><source "
                                         "path='/s'/></serial>"),
      { "serial0=unix port=0 path=/s append=- listen=0 alias=-" } },
    { "serial-user-alias", DEV("<serial type='pty'><alias name='ua-con'/>"
                               "</serial>"),
      { "serial0=pty port=0 path=- append=- listen=0 alias=ua-con" } },
    { "serials-by-port", DEV("<serial type='file'><source path='/b'/>"
                             "<target port='1'/></serial>"
                             "<serial type='pty'><target port='0'/>"
                             "</serial>"),
      { "serial0=pty port=0 path=- append=- listen=0 alias=-",
        "serial1=file port=1 path=/b append=- listen=0 alias=-",
        "serials=2" } },
    { "serials-auto-port", DEV("<serial type='pty'><target port='1'/>"
                               "</serial><serial type='file'><source "
                               "path='/a'/></serial>"),
      { "serial0=file port=0 path=/a append=- listen=0 alias=-",
        "serial1=pty port=1 path=- append=- listen=0 alias=-" } },
    { "serials-four", DEV("<serial type='pty'/><serial type='pty'/>"
                          "<serial type='pty'/><serial type='pty'/>"),
      { "serials=4", "serial3=pty port=3 path=- append=- listen=0 "
        "alias=-" } },
    { "console-alone-makes-serial0",
      DEV("<console type='pty'><target type='serial' port='0'/>"
          "</console>"),
      { "serial0=pty port=0 path=- append=- listen=0 alias=-",
        "serials=1" } },
    { "console-file-alone", DEV("<console type='file'><source path='/c'/>"
                                "</console>"),
      { "serial0=file port=0 path=/c append=- listen=0 alias=-" } },
    { "console-with-serial", DEV("<serial type='pty'/><console type='pty' "
                                 "tty='/dev/pts/2'><source "
                                 "path='/dev/pts/2'/><target "
                                 "type='serial'/></console>"),
      { "serials=1" } },
    { "balloon-virtio", DEV("<memballoon model='virtio'/>"),
      { "balloon=virtio period=0 autodeflate=- fpr=- alias=- slot=-1" } },
    { "balloon-full", DEV("<memballoon model='virtio' autodeflate='on' "
                          "freePageReporting='on'><stats period='10'/>"
                          "<alias name='balloon0'/><address type='pci' "
                          "domain='0x0000' bus='0x00' slot='0x05' "
                          "function='0x0'/></memballoon>"),
      { "balloon=virtio period=10 autodeflate=on fpr=on alias=- "
        "slot=5" } },
    { "balloon-off", DEV("<memballoon model='virtio' autodeflate='off' "
                         "freePageReporting='off'/>"),
      { "balloon=virtio period=0 autodeflate=off fpr=off alias=- "
        "slot=-1" } },
    { "balloon-user-alias", DEV("<memballoon model='virtio'><alias "
                                "name='ua-bal'/></memballoon>"),
      { "balloon=virtio period=0 autodeflate=- fpr=- alias=ua-bal "
        "slot=-1" } },
    { "balloon-decimal-slot", DEV("<memballoon model='virtio'><address "
                                  "type='pci' slot='31'/></memballoon>"),
      { "balloon=virtio period=0 autodeflate=- fpr=- alias=- slot=31" } },
    { "balloon-none", DEV("<memballoon model='none'/>"),
      { "balloon=none" } },
    { "whitespace-and-comments",
      "<?xml version='1.0'?>\n<!-- c -->\n<domain type='kvm'>\n  <name>vm1"
      "</name>\n  " MEM "\n  <!-- inner -->\n  " OS "\n</domain>\n",
      { "name=vm1", "memory=1048576" } },
    { "the-full-thing",
      "<domain type='kvm'>\n"
      "  <name>full</name>\n"
      "  <uuid>" UUID "</uuid>\n"
      "  <title>T</title>\n"
      "  <memory unit='GiB'>2</memory>\n"
      "  <currentMemory unit='GiB'>1</currentMemory>\n"
      "  <vcpu placement='static'>2</vcpu>\n"
      "  <os>\n"
      "    <type arch='x86_64' machine='kestrel'>hvm</type>\n"
      "    <kernel>/boot/vmlinuz</kernel>\n"
      "    <initrd>/boot/initrd.img</initrd>\n"
      "    <cmdline>console=ttyS0</cmdline>\n"
      "  </os>\n"
      "  <features><acpi/></features>\n"
      "  <clock offset='utc'/>\n"
      "  <on_poweroff>destroy</on_poweroff>\n"
      "  <on_reboot>restart</on_reboot>\n"
      "  <on_crash>destroy</on_crash>\n"
      "  <devices>\n"
      "    <emulator>/usr/bin/kestrel</emulator>\n"
      "    <serial type='pty'><target port='0'/></serial>\n"
      "    <console type='pty'><target type='serial' port='0'/></console>\n"
      "    <memballoon model='virtio'><stats period='5'/></memballoon>\n"
      "  </devices>\n"
      "</domain>\n",
      { "name=full", "memory=2097152", "current=1048576", "vcpus=2",
        "serials=1", "balloon=virtio period=5 autodeflate=- fpr=- alias=- "
        "slot=-1", "emulator=/usr/bin/kestrel" } },
};

static void test_good(gconstpointer data)
{
    const GoodCase *c = data;
    g_autoptr(GError) err = NULL;
    g_autoptr(DomainDef) def = domain_def_parse_string(c->xml, 0, &err);
    g_autofree char *dump = NULL;
    g_auto(GStrv) lines = NULL;

    g_assert_no_error(err);
    g_assert_nonnull(def);
    dump = def_dump(def);
    lines = g_strsplit(dump, "\n", -1);
    for (size_t i = 0; i < MAX_LINES && c->lines[i]; i++) {
        /* a multi-line expectation (the description) is a substring */
        if (strchr(c->lines[i], '\n') ? !strstr(dump, c->lines[i])
                                      : !g_strv_contains(
                                            (const char *const *)lines,
                                            c->lines[i])) {
            g_test_message("missing line '%s' in:\n%s", c->lines[i], dump);
            g_test_fail();
        }
    }
    check_round_trip(def);
}

/* ---- refused documents ------------------------------------------------- */

typedef struct {
    const char *name;
    const char *xml;
    int code;
    const char *message;        /* exact; "~text" means: starts with text */
} BadCase;

#define UNSUP DRV_ERR_CONFIG_UNSUPPORTED
#define NS " is not supported by the kestrel driver"
#define SCHEMA_ERR DRV_ERR_XML_INVALID_SCHEMA, \
    "~Unable to validate doc against " DOMAIN_RNG_PATH "\n"

static const BadCase bad_cases[] = {
    /* stage 1: not well-formed */
    { "not-xml", "this is not xml", DRV_ERR_XML_DETAIL,
      "(domain_definition):1: Start tag expected, '<' not found" },
    { "empty", "", DRV_ERR_XML_DETAIL, "~(domain_definition):1: " },
    { "tag-mismatch", "<domain type='kvm'>\n<name>vm1</nam>\n</domain>",
      DRV_ERR_XML_DETAIL, "(domain_definition):2: Opening and ending tag "
      "mismatch: name line 2 and nam" },
    { "truncated", "<domain type='kvm'><name>vm1</name>", DRV_ERR_XML_DETAIL,
      "~(domain_definition):1: " },
    { "bad-entity", DOM("<title>&nope;</title>"), DRV_ERR_XML_DETAIL,
      "(domain_definition):1: Entity 'nope' not defined" },
    /* stage 2 */
    { "doctype", "<!DOCTYPE domain [<!ENTITY a 'aaaa'>]>" DOM(""),
      DRV_ERR_XML_ERROR, "a document type declaration (<!DOCTYPE>) is not "
      "accepted in domain XML" },
    { "wrong-root", "<network><name>n</name></network>", DRV_ERR_XML_ERROR,
      "unexpected root element <network>, expecting <domain>" },
    { "namespaced-root", "<x:domain xmlns:x='urn:x'/>", DRV_ERR_XML_ERROR,
      "unexpected root element <domain>, expecting <domain>" },
    /* stage 3: names and values we do not have */
    { "disk-cdrom", DEV("<disk type='file' device='cdrom'><source "
                        "file='/a.iso'/><target dev='hdc' bus='ide'/>"
                        "</disk>"), UNSUP,
      "value 'cdrom' of attribute 'device' of element 'disk'" NS
      "; write device='disk': kestrel has only virtio disks" },
    { "disk-sata", DEV("<disk type='file' device='disk'><source "
                       "file='/a.img'/><target dev='sda' bus='sata'/>"
                       "</disk>"), UNSUP,
      "value 'sata' of attribute 'bus' of element 'target'" NS
      "; write bus='virtio' and target dev='vdX': kestrel has only virtio "
      "disks" },
    { "disk-format", DEV("<disk type='file' device='disk'><driver "
                         "name='qemu' type='vmdk'/><source file='/a.img'/>"
                         "<target dev='vda' bus='virtio'/></disk>"), UNSUP,
      "value 'vmdk' of attribute 'type' of element 'driver'" NS },
    { "disk-writethrough", DEV("<disk type='file' device='disk'><driver "
                               "name='qemu' cache='writethrough'/><source "
                               "file='/a.img'/><target dev='vda' "
                               "bus='virtio'/></disk>"), UNSUP,
      "value 'writethrough' of attribute 'cache'" },
    { "disk-no-source", DEV("<disk type='file' device='disk'><target "
                            "dev='vda' bus='virtio'/></disk>"), UNSUP,
      "disk 'vda' has no source" NS },
    { "disk-target-name", DEV("<disk type='file' device='disk'><source "
                              "file='/a.img'/><target dev='sda' "
                              "bus='virtio'/></disk>"), UNSUP,
      "disk target 'sda'" NS },
    { "disk-shareable-qcow2", DEV("<disk type='file' device='disk'><driver "
                                  "name='qemu' type='qcow2'/><source "
                                  "file='/a.img'/><target dev='vda' "
                                  "bus='virtio'/><shareable/></disk>"),
      UNSUP, "shareable qcow2 disk 'vda'" NS },
    { "disk-relative", DEV("<disk type='file' device='disk'><source "
                           "file='a.img'/><target dev='vda' bus='virtio'/>"
                           "</disk>"), SCHEMA_ERR },
    { "disk-duplicate", DEV("<disk type='file'><source file='/a'/><target "
                            "dev='vda' bus='virtio'/></disk><disk "
                            "type='file'><source file='/b'/><target "
                            "dev='vda' bus='virtio'/></disk>"),
      DRV_ERR_XML_ERROR,
      "target 'vda' duplicated for disk sources '/a' and '/b'" },
    { "iface-user", DEV("<interface type='user'/>"), UNSUP,
      "value 'user' of attribute 'type' of element 'interface'" NS },
    { "iface-e1000", DEV("<interface type='bridge'><source bridge='br0'/>"
                         "<model type='e1000'/></interface>"), UNSUP,
      "value 'e1000' of attribute 'type' of element 'model'" NS
      "; write <model type='virtio'/>" },
    { "iface-bad-mac", DEV("<interface type='ethernet'><mac "
                           "address='01:00:00:00:00:01'/></interface>"),
      SCHEMA_ERR },
    { "pci-slot-clash", DEV("<disk type='file'><source file='/a'/><target "
                            "dev='vda' bus='virtio'/><address type='pci' "
                            "domain='0' bus='0' slot='5' function='0'/>"
                            "</disk><interface type='ethernet'><address "
                            "type='pci' domain='0' bus='0' slot='5' "
                            "function='0'/></interface>"),
      DRV_ERR_XML_ERROR, "PCI address 0000:00:05.0 of disk 'vda' is in use "
      "by another device" },
    { "graphics", DEV("<graphics type='vnc'/>"), UNSUP,
      "element 'graphics'" NS },
    { "os-boot-network", HEAD MEM "<os><type>hvm</type><kernel>/k</kernel>"
      "<boot dev='network'/></os></domain>", UNSUP,
      "/domain/os/boot/@dev: value 'network' of attribute 'dev' of element "
      "'boot'" NS "; write <boot dev='hd'/> or leave it out: kestrel boots "
      "the <kernel> directly, without firmware" },
    { "os-loader", HEAD MEM "<os><type>hvm</type><loader readonly='yes' "
      "type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader></os></domain>",
      UNSUP, "element 'loader'" NS },
    { "os-nvram", HEAD MEM "<os><type>hvm</type><kernel>/k</kernel>"
      "<nvram>/var/x</nvram></os></domain>", UNSUP, "element 'nvram'" NS },
    { "os-firmware", HEAD MEM "<os firmware='efi'><type>hvm</type>"
      "<kernel>/k</kernel></os></domain>", UNSUP,
      "attribute 'firmware' of element 'os'" NS },
    { "os-dtb", HEAD MEM "<os><type>hvm</type><kernel>/k</kernel>"
      "<dtb>/d</dtb></os></domain>", UNSUP, "element 'dtb'" NS },
    { "hugepages-nodeset", DOM("<memoryBacking><hugepages><page size='2' "
                               "unit='MiB' nodeset='0'/></hugepages>"
                               "</memoryBacking>"), UNSUP,
      "attribute 'nodeset' of element 'page'" NS },
    { "hugepages-4k", DOM("<memoryBacking><hugepages><page size='4' "
                          "unit='KiB'/></hugepages></memoryBacking>"), UNSUP,
      "hugepage size 4 KiB of domain 'vm1' is not supported: x86-64 huge "
      "pages are 2048 KiB or 1048576 KiB" },
    { "hugepages-anonymous", DOM("<memoryBacking><hugepages/><source "
                                 "type='anonymous'/></memoryBacking>"),
      UNSUP, "domain 'vm1': <hugepages/> with <source type='anonymous'/> is "
      "not supported: huge pages come from hugetlbfs or a hugetlb memfd "
      "(write <source type='memfd'/> or 'file', or no <source>)" },
    { "max-memory", DOM("<maxMemory slots='16' unit='KiB'>4194304"
                        "</maxMemory>"), UNSUP, "element 'maxMemory'" NS },
    { "memory-dumpcore", HEAD "<memory dumpCore='on'>1024</memory>" OS
      "</domain>", UNSUP, "attribute 'dumpCore' of element 'memory'" NS },
    { "cpu-host-model", DOM("<cpu mode='host-model'/>"), UNSUP,
      "/domain/cpu/@mode: value 'host-model' of attribute 'mode' of "
      "element 'cpu'" NS "; write mode='host-passthrough': a kestrel vCPU "
      "is the host's CPU" },
    { "cpu-model", DOM("<cpu><model>Skylake-Client</model></cpu>"), UNSUP,
      "/domain/cpu/model: element 'model'" NS "; remove it" },
    { "cpu-migratable-off", DOM("<cpu mode='host-passthrough' "
                                "migratable='off'/>"), UNSUP,
      "/domain/cpu/@migratable: value 'off'" },
    { "cpu-topology-mismatch", DOM("<vcpu>4</vcpu><cpu><topology "
                                   "sockets='1' dies='1' cores='2' "
                                   "threads='1'/></cpu>"),
      DRV_ERR_XML_ERROR, "CPU topology doesn't match maximum vcpu count: "
      "sockets 1 * dies 1 * cores 2 * threads 1 is not 4" },
    { "vcpu-cpuset", DOM("<vcpu cpuset='1-2'>2</vcpu>"), UNSUP,
      "attribute 'cpuset' of element 'vcpu'" NS },
    { "vcpu-placement-auto", DOM("<vcpu placement='auto'>2</vcpu>"), UNSUP,
      "value 'auto' of attribute 'placement' of element 'vcpu'" NS },
    { "domain-type-qemu", "<domain type='qemu'><name>a</name>" MEM OS
      "</domain>", UNSUP, "value 'qemu' of attribute 'type' of element "
      "'domain'" NS },
    { "domain-xmlns", "<domain type='kvm' xmlns:qemu='urn:q' qemu:x='1'>"
      "<name>a</name>" MEM OS "</domain>", DRV_ERR_XML_INVALID_SCHEMA,
      "Unable to validate doc against " DOMAIN_RNG_PATH "\nInvalid "
      "attribute x for element domain" },
    { "namespaced-child", "<domain type='kvm' xmlns:q='urn:q'><name>a"
      "</name>" MEM OS "<q:commandline/></domain>", DRV_ERR_XML_INVALID_SCHEMA,
      "~Unable to validate doc against " },
    { "qemu-commandline", "<domain type='kvm' xmlns:qemu='http://libvirt.org"
      "/schemas/domain/qemu/1.0'><name>a</name>" MEM OS "<qemu:commandline>"
      "<qemu:arg value='-S'/></qemu:commandline></domain>", UNSUP,
      "/domain/qemu:commandline: element 'commandline'" NS "; remove it" },
    { "arch-i686", HEAD MEM "<os><type arch='i686'>hvm</type><kernel>/k"
      "</kernel></os></domain>", UNSUP,
      "value 'i686' of attribute 'arch' of element 'type'" NS },
    { "machine-q35", HEAD MEM "<os><type machine='q35'>hvm</type><kernel>/k"
      "</kernel></os></domain>", UNSUP,
      "value 'q35' of attribute 'machine' of element 'type'" NS },
    { "os-type-xen", HEAD MEM "<os><type>xen</type><kernel>/k</kernel>"
      "</os></domain>", UNSUP, "value 'xen' of element 'type'" NS },
    { "features-hyperv", DOM("<features><hyperv/></features>"), UNSUP,
      "element 'hyperv'" NS },
    { "features-smm", DOM("<features><acpi/><smm state='on'/></features>"),
      UNSUP, "element 'smm'" NS },
    { "clock-localtime", DOM("<clock offset='localtime'/>"), UNSUP,
      "value 'localtime' of attribute 'offset' of element 'clock'" NS },
    { "clock-rtc-catchup", DOM("<clock offset='utc'><timer name='rtc' "
                               "tickpolicy='catchup'/></clock>"), UNSUP,
      "/domain/clock/timer/@tickpolicy: value 'catchup' of attribute "
      "'tickpolicy' of element 'timer'" NS "; write tickpolicy='delay' or "
      "leave the timer out: kestrel's RTC does not make up lost ticks "
      "(kestrel refuses -rtc driftfix=slew)" },
    { "clock-localtime-xpath", DOM("<clock offset='localtime'/>"), UNSUP,
      "/domain/clock/@offset: value 'localtime'" },
    { "clock-tsc", DOM("<clock offset='utc'><timer name='tsc' "
                       "frequency='1000'/></clock>"), UNSUP,
      "/domain/clock/timer: element 'timer'" NS "; remove it: kestrel's "
      "timers are rtc, pit and kvmclock, and hpet only with "
      "present='no'" },
    { "clock-hpet-yes", DOM("<clock offset='utc'><timer name='hpet' "
                            "present='yes'/></clock>"), UNSUP,
      "/domain/clock/timer/@present: value 'yes'" },
    { "clock-pit-catchup", DOM("<clock offset='utc'><timer name='pit' "
                               "tickpolicy='catchup'/></clock>"), UNSUP,
      "/domain/clock/timer/@tickpolicy: value 'catchup'" },
    { "poweroff-restart", DOM("<on_poweroff>restart</on_poweroff>"), UNSUP,
      "value 'restart' of element 'on_poweroff'" NS },
    { "reboot-preserve", DOM("<on_reboot>preserve</on_reboot>"), UNSUP,
      "value 'preserve' of element 'on_reboot'" NS },
    { "crash-coredump", DOM("<on_crash>coredump-destroy</on_crash>"), UNSUP,
      "value 'coredump-destroy' of element 'on_crash'" NS },
    { "crash-rename", DOM("<on_crash>rename-restart</on_crash>"), UNSUP,
      "value 'rename-restart' of element 'on_crash'" NS },
    { "pm-s3-on", DOM("<pm><suspend-to-mem enabled='yes'/></pm>"), UNSUP,
      "/domain/pm/suspend-to-mem/@enabled: value 'yes' of attribute "
      "'enabled' of element 'suspend-to-mem'" NS "; write enabled='no' or "
      "leave it out: kestrel's ACPI tables offer no S3" },
    { "usb-controller", DEV("<controller type='usb' model='qemu-xhci'/>"),
      UNSUP, "/domain/devices/controller/@model: value 'qemu-xhci'" },
    { "ide-controller", DEV("<controller type='ide'/>"), UNSUP,
      "/domain/devices/controller: element 'controller'" NS "; remove it: "
      "kestrel's controllers are the PCI root" },
    { "pcie-root", DEV("<controller type='pci' model='pcie-root'/>"), UNSUP,
      "/domain/devices/controller/@model: value 'pcie-root'" },
    { "audio-pa", DEV("<audio id='1' type='pulseaudio'/>"), UNSUP,
      "/domain/devices/audio/@type: value 'pulseaudio'" },
    { "video-vga", DEV("<video><model type='vga'/></video>"), UNSUP,
      "/domain/devices/video/model/@type: value 'vga'" },
    { "seclabel-dynamic", DOM("<seclabel type='dynamic' model='selinux'/>"),
      UNSUP, "/domain/seclabel/@type: value 'dynamic'" },
    { "vmport-on", DOM("<features><vmport state='on'/></features>"), UNSUP,
      "/domain/features/vmport/@state: value 'on'" },
    { "input-ps2", DEV("<input type='keyboard' bus='ps2'/>"), UNSUP,
      "/domain/devices/input: element 'input'" NS "; remove it: kestrel's "
      "i8042 has no keyboard or mouse attached" },
    { "machine-q35-list", HEAD MEM "<os><type machine='q35'>hvm</type><kernel>/k"
      "</kernel></os></domain>", UNSUP,
      "/domain/os/type/@machine: value 'q35' of attribute 'machine' of "
      "element 'type'" NS "; write machine='pc' (or 'kestrel'): the "
      "machines kestrel answers to are kestrel, pc and pc-i440fx-*" },
    { "type-qemu", "<domain type='qemu'><name>a</name>" MEM OS "</domain>",
      UNSUP, "/domain/@type: value 'qemu'" },
    { "serial-tcp", DEV("<serial type='tcp'><source mode='bind' "
                        "host='0.0.0.0' service='2445'/></serial>"), UNSUP,
      "value 'tcp' of attribute 'type' of element 'serial'" NS },
    { "serial-stdio", DEV("<serial type='stdio'/>"), UNSUP,
      "value 'stdio' of attribute 'type' of element 'serial'" NS },
    { "serial-log", DEV("<serial type='pty'><log file='/l'/></serial>"),
      UNSUP, "element 'log'" NS },
    { "serial-target-pci", DEV("<serial type='pty'><target "
                               "type='pci-serial'/></serial>"), UNSUP,
      "value 'pci-serial' of attribute 'type' of element 'target'" NS },
    { "serial-source-host", DEV("<serial type='unix'><source path='/s' "
                                "host='h'/></serial>"), UNSUP,
      "attribute 'host' of element 'source'" NS },
    { "console-virtio", DEV("<console type='pty'><target type='virtio'/>"
                            "</console>"), UNSUP,
      "value 'virtio' of attribute 'type' of element 'target'" NS },
    { "console-port-1", DEV("<console type='pty'><target port='1'/>"
                            "</console>"), UNSUP,
      "value '1' of attribute 'port' of element 'target'" NS },
    { "balloon-xen", DEV("<memballoon model='xen'/>"), UNSUP,
      "value 'xen' of attribute 'model' of element 'memballoon'" NS },
    { "balloon-transitional", DEV("<memballoon model='virtio-transitional'"
                                  "/>"), UNSUP,
      "value 'virtio-transitional' of attribute 'model' of element "
      "'memballoon'" NS },
    { "balloon-driver", DEV("<memballoon model='virtio'><driver "
                            "iommu='on'/></memballoon>"), UNSUP,
      "element 'driver'" NS },
    { "balloon-qemu-spelling", DEV("<memballoon model='virtio' "
                                   "deflate-on-oom='on'/>"),
      SCHEMA_ERR },
    { "balloon-address-ccw", DEV("<memballoon model='virtio'><address "
                                 "type='ccw'/></memballoon>"), UNSUP,
      "value 'ccw' of attribute 'type' of element 'address'" NS },
    { "balloon-address-multifunction",
      DEV("<memballoon model='virtio'><address type='pci' slot='5' "
          "multifunction='on'/></memballoon>"), UNSUP,
      "attribute 'multifunction' of element 'address'" NS },
    /* stage 4: the grammar */
    { "no-name", "<domain type='kvm'>" MEM OS "</domain>",
      DRV_ERR_XML_INVALID_SCHEMA, "~Unable to validate doc against "
      DOMAIN_RNG_PATH "\n" },
    { "no-type", "<domain><name>a</name>" MEM OS "</domain>",
      DRV_ERR_XML_INVALID_SCHEMA, "~Unable to validate doc against "
      DOMAIN_RNG_PATH "\n" },
    { "no-memory", "<domain type='kvm'><name>a</name>" OS "</domain>",
      DRV_ERR_XML_ERROR, "Memory size must be specified via <memory> or in "
      "the <numa> configuration" },
    { "no-os", "<domain type='kvm'><name>a</name>" MEM "</domain>",
      UNSUP, "~domain 'a' has no kernel" },
    { "two-names", DOM("<name>b</name>"), DRV_ERR_XML_INVALID_SCHEMA,
      "~Unable to validate doc against " },
    { "empty-name", "<domain type='kvm'><name></name>" MEM OS "</domain>",
      SCHEMA_ERR },
    { "memory-not-number", HEAD "<memory>lots</memory>" OS "</domain>",
      SCHEMA_ERR },
    { "memory-negative", HEAD "<memory>-1</memory>" OS "</domain>",
      SCHEMA_ERR },
    { "memory-bad-unit", HEAD "<memory unit='KiBi'>1</memory>" OS
      "</domain>", DRV_ERR_XML_INVALID_SCHEMA,
      "~Unable to validate doc against " },
    { "memory-unit-x", HEAD "<memory unit='x'>1</memory>" OS "</domain>",
      SCHEMA_ERR },
    { "bad-uuid", "<domain type='kvm'><name>a</name><uuid>1234</uuid>" MEM
      OS "</domain>", DRV_ERR_XML_INVALID_SCHEMA,
      "~Unable to validate doc against " },
    { "relative-kernel", HEAD MEM "<os><type>hvm</type><kernel>vmlinuz"
      "</kernel></os></domain>", DRV_ERR_XML_INVALID_SCHEMA,
      "~Unable to validate doc against " },
    { "serial-file-no-source", DEV("<serial type='file'/>"),
      DRV_ERR_XML_ERROR, "Missing source path attribute for char device" },
    { "serial-unix-relative", DEV("<serial type='unix'><source path='s'/>"
                                  "</serial>"), DRV_ERR_XML_ERROR,
      "the source path 's' of serial port 0 must be absolute" },
    { "balloon-none-stats", DEV("<memballoon model='none'><stats "
                                "period='5'/></memballoon>"),
      DRV_ERR_XML_ERROR, "a memballoon of model 'none' has no statistics "
      "and no address" },
    { "balloon-two", DEV("<memballoon model='virtio'/><memballoon "
                         "model='none'/>"), DRV_ERR_XML_INVALID_SCHEMA,
      "~Unable to validate doc against " },
    { "balloon-period-negative", DEV("<memballoon model='virtio'><stats "
                                     "period='-1'/></memballoon>"),
      SCHEMA_ERR },
    { "acpi-with-content", DOM("<features><acpi>x</acpi></features>"),
      SCHEMA_ERR },
    { "alias-bad-chars", DEV("<serial type='pty'><alias name='a b'/>"
                             "</serial>"), DRV_ERR_XML_INVALID_SCHEMA,
      "~Unable to validate doc against " },
    /* stage 5: values */
    { "name-slash", "<domain type='kvm'><name>a/b</name>" MEM OS
      "</domain>", DRV_ERR_XML_ERROR, "name 'a/b' cannot contain '/'" },
    { "name-newline", "<domain type='kvm'><name>a\nb</name>" MEM OS
      "</domain>", SCHEMA_ERR },
    { "title-newline", DOM("<title>a\nb</title>"), SCHEMA_ERR },
    { "memory-zero", HEAD "<memory>0</memory>" OS "</domain>",
      DRV_ERR_XML_ERROR, "the memory size of domain 'vm1' must not be "
      "zero" },
    { "memory-overflow", HEAD "<memory unit='EiB'>8</memory>" OS
      "</domain>", DRV_ERR_OVERFLOW,
      "the size 8 EiB of element 'memory' is too large" },
    { "memory-overflow-kib", HEAD "<memory>18014398509481984</memory>" OS
      "</domain>", DRV_ERR_OVERFLOW,
      "the size 18014398509481984 KiB of element 'memory' is too large" },
    { "current-overflow", DOM("<currentMemory unit='TB'>99999999"
                              "</currentMemory>"), DRV_ERR_OVERFLOW,
      "the size 99999999 TB of element 'currentMemory' is too large" },
    { "vcpu-zero", DOM("<vcpu>0</vcpu>"), SCHEMA_ERR },
    { "vcpu-too-many", DOM("<vcpu>256</vcpu>"), UNSUP,
      "256 vcpus" NS ": the most is 255" },
    { "vcpu-hotplug", DOM("<vcpu current='1'>2</vcpu>"), UNSUP,
      "vcpu hotplug (current='1' below 2 vcpus)" NS },
    { "vcpu-current-above", DOM("<vcpu current='3'>2</vcpu>"),
      DRV_ERR_XML_ERROR, "the current vcpu count 3 exceeds the vcpu "
      "count 2" },
    { "no-kernel", HEAD MEM "<os><type>hvm</type></os></domain>", UNSUP,
      "domain 'vm1' has no kernel: the kestrel driver boots a kernel "
      "directly, without firmware, so element 'kernel' is required in "
      "'os'" },
    { "serial-five", DEV("<serial type='pty'/><serial type='pty'/>"
                         "<serial type='pty'/><serial type='pty'/>"
                         "<serial type='pty'/>"), UNSUP,
      "a fifth serial port" NS ": the machine has four (COM1 to COM4)" },
    { "serial-port-4", DEV("<serial type='pty'><target port='4'/>"
                           "</serial>"), UNSUP,
      "serial port 4" NS ": the machine has ports 0 to 3 (COM1 to COM4)" },
    { "serial-port-twice", DEV("<serial type='pty'><target port='0'/>"
                               "</serial><serial type='pty'><target "
                               "port='0'/></serial>"), DRV_ERR_XML_ERROR,
      "serial port 0 is defined twice" },
    { "serial-port-gap", DEV("<serial type='pty'><target port='1'/>"
                             "</serial>"), UNSUP,
      "serial port 0 is missing: the kestrel driver needs serial ports "
      "numbered from 0 without gaps" },
    { "two-consoles", DEV("<console type='pty'/><console type='pty'/>"),
      UNSUP, "a second console" NS ": the only console is serial port 0" },
    { "console-differs", DEV("<serial type='pty'/><console type='file'>"
                             "<source path='/c'/></console>"), UNSUP,
      "the console (type 'file') must have the source of serial port 0 "
      "(type 'pty'): the kestrel driver's console is that port" },
    { "balloon-slot-0", DEV("<memballoon model='virtio'><address type='pci'"
                            " slot='0x00'/></memballoon>"), UNSUP,
      "PCI address 0000:00:00.0 of the memballoon" NS ": kestrel has one "
      "PCI bus (0000:00), slots 1 to 31 and function 0" },
    { "balloon-bus-1", DEV("<memballoon model='virtio'><address type='pci' "
                           "bus='0x01' slot='0x05'/></memballoon>"), UNSUP,
      "PCI address 0000:01:05.0 of the memballoon" NS ": kestrel has one "
      "PCI bus (0000:00), slots 1 to 31 and function 0" },
    { "balloon-function-1", DEV("<memballoon model='virtio'><address "
                                "type='pci' slot='0x05' function='0x1'/>"
                                "</memballoon>"), UNSUP,
      "PCI address 0000:00:05.1 of the memballoon" NS ": kestrel has one "
      "PCI bus (0000:00), slots 1 to 31 and function 0" },
    { "balloon-slot-32", DEV("<memballoon model='virtio'><address "
                             "type='pci' slot='32'/></memballoon>"),
      SCHEMA_ERR },
    { "balloon-slot-huge", DEV("<memballoon model='virtio'><address "
                               "type='pci' slot='9999999999'/>"
                               "</memballoon>"), SCHEMA_ERR },
    { "alias-twice", DEV("<serial type='pty'><alias name='ua-x'/></serial>"
                         "<memballoon model='virtio'><alias name='ua-x'/>"
                         "</memballoon>"), DRV_ERR_XML_ERROR,
      "alias 'ua-x' is used by two devices" },
};

static void test_bad(gconstpointer data)
{
    const BadCase *c = data;
    g_autoptr(GError) err = NULL;
    g_autoptr(DomainDef) def = domain_def_parse_string(c->xml, 0, &err);

    g_assert_null(def);
    g_assert_nonnull(err);
    g_assert_true(err->domain == DRV_ERROR);
    if (err->code != c->code) {
        g_test_message("code %d, expected %d: %s", err->code, c->code,
                       err->message);
        g_test_fail();
    }
    if (c->code == DRV_ERR_CONFIG_UNSUPPORTED && c->message[0] != '~') {
        /* one line of the list of refusals */
        if (!strstr(err->message, c->message)) {
            g_test_message("message '%s' does not contain '%s'",
                           err->message, c->message);
            g_test_fail();
        }
    } else if (c->message[0] == '~') {
        if (!g_str_has_prefix(err->message, c->message + 1)) {
            g_test_message("message '%s' does not start with '%s'",
                           err->message, c->message + 1);
            g_test_fail();
        }
    } else {
        g_assert_cmpstr(err->message, ==, c->message);
    }
}

/* ---- format ------------------------------------------------------------ */

static const char full_xml[] =
    "<domain type='kvm'>\n"
    "  <name>vm1</name>\n"
    "  <uuid>" UUID "</uuid>\n"
    "  <title>A &amp; B</title>\n"
    "  <description>d</description>\n"
    "  <memory unit='GiB'>1</memory>\n"
    "  <currentMemory unit='MiB'>512</currentMemory>\n"
    "  <vcpu>2</vcpu>\n"
    "  <os>\n"
    "    <type>hvm</type>\n"
    "    <kernel>/boot/vmlinuz</kernel>\n"
    "    <initrd>/boot/initrd</initrd>\n"
    "    <cmdline>console=ttyS0 x='1'</cmdline>\n"
    "  </os>\n"
    "  <features><apic/></features>\n"
    "  <on_poweroff>preserve</on_poweroff>\n"
    "  <devices>\n"
    "    <emulator>/usr/bin/kestrel</emulator>\n"
    "    <serial type='pty'/>\n"
    "    <serial type='unix'><source mode='bind' path='/run/s'/></serial>\n"
    "    <memballoon model='virtio' autodeflate='on'>\n"
    "      <stats period='10'/>\n"
    "      <address type='pci' slot='0x05'/>\n"
    "    </memballoon>\n"
    "  </devices>\n"
    "</domain>\n";

static const char full_inactive[] =
    "<domain type='kvm'>\n"
    "  <name>vm1</name>\n"
    "  <uuid>" UUID "</uuid>\n"
    "  <title>A &amp; B</title>\n"
    "  <description>d</description>\n"
    "  <memory unit='KiB'>1048576</memory>\n"
    "  <currentMemory unit='KiB'>524288</currentMemory>\n"
    "  <vcpu placement='static'>2</vcpu>\n"
    "  <os>\n"
    "    <type arch='x86_64' machine='kestrel'>hvm</type>\n"
    "    <kernel>/boot/vmlinuz</kernel>\n"
    "    <initrd>/boot/initrd</initrd>\n"
    "    <cmdline>console=ttyS0 x=&apos;1&apos;</cmdline>\n"
    "  </os>\n"
    "  <features>\n"
    "    <acpi/>\n"
    "    <apic/>\n"
    "  </features>\n"
    "  <clock offset='utc'/>\n"
    "  <on_poweroff>preserve</on_poweroff>\n"
    "  <on_reboot>restart</on_reboot>\n"
    "  <on_crash>destroy</on_crash>\n"
    "  <devices>\n"
    "    <emulator>/usr/bin/kestrel</emulator>\n"
    "    <serial type='pty'>\n"
    "      <target type='isa-serial' port='0'>\n"
    "        <model name='isa-serial'/>\n"
    "      </target>\n"
    "    </serial>\n"
    "    <serial type='unix'>\n"
    "      <source mode='bind' path='/run/s'/>\n"
    "      <target type='isa-serial' port='1'>\n"
    "        <model name='isa-serial'/>\n"
    "      </target>\n"
    "    </serial>\n"
    "    <console type='pty'>\n"
    "      <target type='serial' port='0'/>\n"
    "    </console>\n"
    "    <memballoon model='virtio' autodeflate='on'>\n"
    "      <stats period='10'/>\n"
    "      <address type='pci' domain='0x0000' bus='0x00' slot='0x05' "
    "function='0x0'/>\n"
    "    </memballoon>\n"
    "  </devices>\n"
    "</domain>\n";

static const char full_live[] =
    "<domain type='kvm' id='3'>\n"
    "  <name>vm1</name>\n"
    "  <uuid>" UUID "</uuid>\n"
    "  <title>A &amp; B</title>\n"
    "  <description>d</description>\n"
    "  <memory unit='KiB'>1048576</memory>\n"
    "  <currentMemory unit='KiB'>262144</currentMemory>\n"
    "  <vcpu placement='static'>2</vcpu>\n"
    "  <os>\n"
    "    <type arch='x86_64' machine='kestrel'>hvm</type>\n"
    "    <kernel>/boot/vmlinuz</kernel>\n"
    "    <initrd>/boot/initrd</initrd>\n"
    "    <cmdline>console=ttyS0 x=&apos;1&apos;</cmdline>\n"
    "  </os>\n"
    "  <features>\n"
    "    <acpi/>\n"
    "    <apic/>\n"
    "  </features>\n"
    "  <clock offset='utc'/>\n"
    "  <on_poweroff>preserve</on_poweroff>\n"
    "  <on_reboot>restart</on_reboot>\n"
    "  <on_crash>destroy</on_crash>\n"
    "  <devices>\n"
    "    <emulator>/usr/bin/kestrel</emulator>\n"
    "    <serial type='pty'>\n"
    "      <source path='/dev/pts/7'/>\n"
    "      <target type='isa-serial' port='0'>\n"
    "        <model name='isa-serial'/>\n"
    "      </target>\n"
    "      <alias name='serial0'/>\n"
    "    </serial>\n"
    "    <serial type='unix'>\n"
    "      <source mode='bind' path='/run/s'/>\n"
    "      <target type='isa-serial' port='1'>\n"
    "        <model name='isa-serial'/>\n"
    "      </target>\n"
    "      <alias name='serial1'/>\n"
    "    </serial>\n"
    "    <console type='pty' tty='/dev/pts/7'>\n"
    "      <source path='/dev/pts/7'/>\n"
    "      <target type='serial' port='0'/>\n"
    "      <alias name='serial0'/>\n"
    "    </console>\n"
    "    <memballoon model='virtio' autodeflate='on'>\n"
    "      <stats period='10'/>\n"
    "      <alias name='balloon0'/>\n"
    "      <address type='pci' domain='0x0000' bus='0x00' slot='0x05' "
    "function='0x0'/>\n"
    "    </memballoon>\n"
    "  </devices>\n"
    "</domain>\n";

static const DomainLive full_live_state = {
    .id = 3, .current_kib = 262144, .serial_ptys = { "/dev/pts/7" },
};

static void test_format_inactive(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(DomainDef) def = domain_def_parse_string(full_xml, 0, &err);
    g_autofree char *a = NULL;
    g_autofree char *b = NULL;
    g_autofree char *c = NULL;

    g_assert_no_error(err);
    a = domain_def_format(def, NULL, 0);
    g_assert_cmpstr(a, ==, full_inactive);
    /* INACTIVE ignores the live state; SECURE changes nothing */
    b = domain_def_format(def, &full_live_state, DOMAIN_DEF_FORMAT_INACTIVE);
    g_assert_cmpstr(b, ==, full_inactive);
    c = domain_def_format(def, NULL, DOMAIN_DEF_FORMAT_SECURE);
    g_assert_cmpstr(c, ==, full_inactive);
}

static void test_format_live(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(DomainDef) def = domain_def_parse_string(full_xml, 0, &err);
    g_autoptr(DomainDef) again = NULL;
    g_autofree char *xml = NULL;

    g_assert_no_error(err);
    xml = domain_def_format(def, &full_live_state, 0);
    g_assert_cmpstr(xml, ==, full_live);
    /* what virsh dumpxml shows can be given back (virsh edit) */
    again = domain_def_parse_string(xml, DOMAIN_DEF_PARSE_INACTIVE, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(again->current_kib, ==, 262144);
    again->current_kib = def->current_kib;
    g_assert_true(domain_def_equal(def, again));
}

static void test_format_migratable(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(DomainDef) def = domain_def_parse_string(full_xml, 0, &err);
    g_autofree char *xml = NULL;

    g_assert_no_error(err);
    xml = domain_def_format(def, &full_live_state,
                            DOMAIN_DEF_FORMAT_MIGRATABLE);
    /* the live balloon size, but no id, pty or run-time alias */
    g_assert_nonnull(strstr(xml, "<domain type='kvm'>\n"));
    g_assert_nonnull(strstr(xml, "<currentMemory unit='KiB'>262144<"));
    g_assert_null(strstr(xml, "/dev/pts"));
    g_assert_null(strstr(xml, "<alias"));
}

/* <memoryBacking>: parsed, formatted in libvirt's order, and the same
 * definition when parsed again. */
static void test_format_mem_backing(void)
{
    static const char in[] = DOM(
        "<memoryBacking><discard/><allocation mode='immediate' threads='4'/>"
        "<access mode='shared'/><source type='file'/><locked/>"
        "<nosharepages/><hugepages><page size='2' unit='MiB'/></hugepages>"
        "</memoryBacking>");
    static const char expect[] =
        "  <memoryBacking>\n"
        "    <hugepages>\n"
        "      <page size='2048' unit='KiB'/>\n"
        "    </hugepages>\n"
        "    <nosharepages/>\n"
        "    <locked/>\n"
        "    <source type='file'/>\n"
        "    <access mode='shared'/>\n"
        "    <allocation mode='immediate' threads='4'/>\n"
        "    <discard/>\n"
        "  </memoryBacking>\n";
    g_autoptr(GError) err = NULL;
    g_autoptr(DomainDef) def = domain_def_parse_string(in, 0, &err);
    g_autoptr(DomainDef) again = NULL;
    g_autoptr(DomainDef) plain = NULL;
    g_autofree char *xml = NULL;

    g_assert_no_error(err);
    g_assert_true(def->mem_backing.given);
    g_assert_cmpuint(def->mem_backing.hugepage_kib, ==, 2048);
    g_assert_cmpuint(def->mem_backing.threads, ==, 4);
    xml = domain_def_format(def, NULL, DOMAIN_DEF_FORMAT_INACTIVE);
    if (!strstr(xml, expect)) {
        g_error("no <memoryBacking> as expected in:\n%s", xml);
    }
    again = domain_def_parse_string(xml, 0, &err);
    g_assert_no_error(err);
    g_assert_true(domain_def_equal(def, again));
    plain = domain_def_parse_string(DOM("<memoryBacking><hugepages/>"
                                        "</memoryBacking>"), 0, &err);
    g_assert_no_error(err);
    g_assert_false(domain_def_equal(def, plain));
    g_free(xml);
    xml = domain_def_format(plain, NULL, DOMAIN_DEF_FORMAT_INACTIVE);
    g_assert_nonnull(strstr(xml, "  <memoryBacking>\n    <hugepages/>\n"
                                 "  </memoryBacking>\n"));
}

static void test_format_minimal(void)
{
    static const char expect[] =
        "<domain type='kvm'>\n"
        "  <name>vm1</name>\n"
        "  <uuid>" UUID "</uuid>\n"
        "  <memory unit='KiB'>1048576</memory>\n"
        "  <currentMemory unit='KiB'>1048576</currentMemory>\n"
        "  <vcpu placement='static'>1</vcpu>\n"
        "  <os>\n"
        "    <type arch='x86_64' machine='kestrel'>hvm</type>\n"
        "    <kernel>/boot/vmlinuz</kernel>\n"
        "  </os>\n"
        "  <features>\n"
        "    <acpi/>\n"
        "  </features>\n"
        "  <clock offset='utc'/>\n"
        "  <on_poweroff>destroy</on_poweroff>\n"
        "  <on_reboot>restart</on_reboot>\n"
        "  <on_crash>destroy</on_crash>\n"
        "  <devices>\n"
        "    <memballoon model='virtio'/>\n"
        "  </devices>\n"
        "</domain>\n";
    g_autoptr(GError) err = NULL;
    g_autoptr(DomainDef) def = domain_def_parse_string(DOM(""), 0, &err);
    g_autofree char *xml = NULL;
    g_autofree char *live = NULL;
    DomainLive state = { .id = 0 };

    g_assert_no_error(err);
    xml = domain_def_format(def, NULL, 0);
    g_assert_cmpstr(xml, ==, expect);
    /* a live domain without id: no id attribute, but run-time aliases */
    live = domain_def_format(def, &state, 0);
    g_assert_nonnull(strstr(live, "<domain type='kvm'>\n"));
    g_assert_nonnull(strstr(live, "<alias name='balloon0'/>"));
}

static void test_format_escaping(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(DomainDef) def = domain_def_parse_string(
        "<domain type='kvm'><name>&lt;a&gt; &amp; 'b' \"c\"</name>" MEM
        "<os><type>hvm</type><kernel>/k&amp;'</kernel></os>"
        "<devices><serial type='file'><source path=\"/l'&lt;\"/></serial>"
        "</devices></domain>", 0, &err);
    g_autofree char *xml = NULL;
    g_autoptr(DomainDef) again = NULL;

    g_assert_no_error(err);
    xml = domain_def_format(def, NULL, 0);
    g_assert_nonnull(strstr(xml, "<name>&lt;a&gt; &amp; &apos;b&apos; "
                                 "&quot;c&quot;</name>"));
    g_assert_nonnull(strstr(xml, "<source path='/l&apos;&lt;'/>"));
    again = domain_def_parse_string(xml, 0, &err);
    g_assert_no_error(err);
    g_assert_true(domain_def_equal(def, again));
}

/* ---- the rest of the API ------------------------------------------------ */

static void test_uuid_generated(void)
{
    g_autoptr(GError) err = NULL;
    const char *xml = "<domain type='kvm'><name>a</name>" MEM OS
                      "</domain>";
    g_autoptr(DomainDef) a = domain_def_parse_string(xml, 0, &err);
    g_autoptr(DomainDef) b = domain_def_parse_string(xml, 0, &err);
    static const unsigned char zero[16];
    char str[37];

    g_assert_no_error(err);
    g_assert_cmpint(memcmp(a->uuid, zero, 16), !=, 0);
    g_assert_cmpint(memcmp(a->uuid, b->uuid, 16), !=, 0);
    domain_conf_uuid_format(a->uuid, str);
    g_assert_true(g_uuid_string_is_valid(str));
    g_assert_cmpint(str[14], ==, '4');          /* a version 4 UUID */
}

static void test_flags(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(DomainDef) ok = domain_def_parse_string(
        DOM(""), DOMAIN_DEF_PARSE_VALIDATE | DOMAIN_DEF_PARSE_INACTIVE,
        &err);
    g_autoptr(DomainDef) bad = NULL;

    g_assert_no_error(err);
    g_assert_nonnull(ok);
    bad = domain_def_parse_string(DOM(""), 0x40, &err);
    g_assert_null(bad);
    g_assert_error(err, DRV_ERROR, DRV_ERR_INVALID_ARG);
    g_assert_cmpstr(err->message, ==, "unsupported flags (0x40) in "
                    "function domain_def_parse_string");
}

static void test_copy_equal(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(DomainDef) def = domain_def_parse_string(full_xml, 0, &err);
    g_autoptr(DomainDef) copy = NULL;
    DomainChr *c;

    g_assert_no_error(err);
    copy = domain_def_copy(def);
    g_assert_true(domain_def_equal(def, copy));
    g_assert_true(copy->name != def->name);
    copy->current_kib--;
    g_assert_false(domain_def_equal(def, copy));
    copy->current_kib++;
    c = g_ptr_array_index(copy->serials, 1);
    c->listen = false;
    g_assert_false(domain_def_equal(def, copy));
    c->listen = true;
    copy->balloon.stats_period = 0;
    g_assert_false(domain_def_equal(def, copy));
    copy->balloon.stats_period = 10;
    g_free(copy->title);
    copy->title = NULL;
    g_assert_false(domain_def_equal(def, copy));
    domain_def_free(NULL);
}


/* ---- the policy table ------------------------------------------------- */

/* What libvirt's QEMU driver dumpxml writes for a pc guest, every element
 * kestrel honours trivially included. */
static const char trivia_xml[] =
    "<domain type='kvm'>\n"
    "  <name>tv</name>\n"
    "  <uuid>" UUID "</uuid>\n"
    "  <metadata>\n"
    "    <libosinfo:libosinfo xmlns:libosinfo=\"http://libosinfo.org/xmlns/"
    "libvirt/domain/1.0\">\n"
    "      <libosinfo:os id=\"http://libosinfo.org/linux/2022\"/>\n"
    "    </libosinfo:libosinfo>\n"
    "  </metadata>\n"
    "  <memory unit='KiB'>262144</memory>\n"
    "  <currentMemory unit='KiB'>262144</currentMemory>\n"
    "  <vcpu placement='static'>4</vcpu>\n"
    "  <os>\n"
    "    <type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>\n"
    "    <kernel>/k</kernel>\n"
    "    <boot dev='hd'/>\n"
    "  </os>\n"
    "  <features>\n"
    "    <acpi/>\n"
    "    <apic/>\n"
    "    <vmport state='off'/>\n"
    "  </features>\n"
    "  <cpu mode='host-passthrough' check='none' migratable='on'>\n"
    "    <topology sockets='2' dies='1' cores='2' threads='1'/>\n"
    "  </cpu>\n"
    "  <clock offset='utc'>\n"
    "    <timer name='rtc' tickpolicy='delay'/>\n"
    "    <timer name='pit' tickpolicy='delay'/>\n"
    "    <timer name='hpet' present='no'/>\n"
    "    <timer name='kvmclock' present='yes'/>\n"
    "  </clock>\n"
    "  <on_poweroff>destroy</on_poweroff>\n"
    "  <on_reboot>restart</on_reboot>\n"
    "  <on_crash>destroy</on_crash>\n"
    "  <pm>\n"
    "    <suspend-to-mem enabled='no'/>\n"
    "    <suspend-to-disk enabled='no'/>\n"
    "  </pm>\n"
    "  <devices>\n"
    "    <emulator>/usr/bin/kestrel</emulator>\n"
    "    <controller type='usb' index='0' model='none'/>\n"
    "    <controller type='pci' index='0' model='pci-root'/>\n"
    "    <serial type='pty'>\n"
    "      <target type='isa-serial' port='0'>\n"
    "        <model name='isa-serial'/>\n"
    "      </target>\n"
    "    </serial>\n"
    "    <console type='pty'>\n"
    "      <target type='serial' port='0'/>\n"
    "    </console>\n"
    "    <audio id='1' type='none'/>\n"
    "    <video>\n"
    "      <model type='none'/>\n"
    "    </video>\n"
    "    <memballoon model='virtio'/>\n"
    "  </devices>\n"
    "  <seclabel type='none' model='none'/>\n"
    "</domain>\n";

static void test_policy_trivia(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(DomainDef) def = domain_def_parse_string(trivia_xml, 0, &err);
    g_autofree char *xml = NULL;

    g_assert_no_error(err);
    g_assert_true(def->trivia.boot_hd && def->trivia.vmport_off);
    g_assert_true(def->trivia.pm && def->trivia.s3 && def->trivia.s4);
    g_assert_true(def->trivia.usb_none && def->trivia.pci_root);
    g_assert_cmpuint(def->trivia.audio_id, ==, 1);
    g_assert_true(def->trivia.video_none && def->trivia.seclabel_none);
    g_assert_true(def->cpu.passthrough && def->cpu.check_none);
    g_assert_cmpint(def->cpu.migratable, ==, DOMAIN_TRISTATE_ON);
    g_assert_cmpuint(def->cpu.sockets, ==, 2);
    g_assert_cmpuint(def->cpu.cores, ==, 2);
    g_assert_cmpuint(def->timers->len, ==, 4);
    g_assert_cmpstr(def->machine, ==, "pc-i440fx-7.2");
    /* what libvirt writes, kestrel writes back, in the same layout */
    xml = domain_def_format(def, NULL, DOMAIN_DEF_FORMAT_INACTIVE);
    g_assert_cmpstr(xml, ==, trivia_xml);
    check_round_trip(def);
}

/* The machine names kestrel answers to. */
static void test_policy_machines(void)
{
    static const char *const ok[] = { "kestrel", "pc", "pc-i440fx-7.2",
                                      "pc-i440fx-2.12" };
    static const char *const bad[] = { "q35", "pc-q35-7.2", "microvm",
                                       "isapc", "pc-i440fx" };

    for (size_t i = 0; i < G_N_ELEMENTS(ok) + G_N_ELEMENTS(bad); i++) {
        bool good = i < G_N_ELEMENTS(ok);
        const char *m = good ? ok[i] : bad[i - G_N_ELEMENTS(ok)];
        g_autofree char *xml = g_strdup_printf(
            HEAD MEM "<os><type machine='%s'>hvm</type><kernel>/k</kernel>"
            "</os></domain>", m);
        g_autoptr(GError) err = NULL;
        g_autoptr(DomainDef) def = domain_def_parse_string(xml, 0, &err);

        if (good) {
            g_assert_no_error(err);
            g_assert_cmpstr(def->machine, ==, m);
        } else {
            g_assert_error(err, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED);
            g_assert_nonnull(strstr(err->message, "the machines kestrel "
                                    "answers to are kestrel, pc and "
                                    "pc-i440fx-*"));
        }
    }
}

/* Five refused things: one error naming all five, with XPaths. */
static void test_policy_all_at_once(void)
{
    static const char xml[] =
        HEAD MEM "<os><type>hvm</type><kernel>/k</kernel>"
        "<boot dev='cdrom'/></os>"
        "<clock offset='utc'><timer name='rtc' tickpolicy='catchup'/>"
        "</clock><devices>"
        "<controller type='usb' model='qemu-xhci'/>"
        "<input type='tablet' bus='usb'/>"
        "<graphics type='vnc' port='-1'/>"
        "</devices></domain>";
    static const char *const lines[] = {
        "\n  /domain/os/boot/@dev: value 'cdrom' ",
        "\n  /domain/clock/timer/@tickpolicy: value 'catchup' ",
        "\n  /domain/devices/controller/@model: value 'qemu-xhci' ",
        "\n  /domain/devices/input: element 'input' ",
        "\n  /domain/devices/graphics: element 'graphics' ",
    };
    g_autoptr(GError) err = NULL;
    g_autoptr(DomainDef) def = domain_def_parse_string(xml, 0, &err);

    g_assert_null(def);
    g_assert_error(err, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED);
    g_assert_true(g_str_has_prefix(err->message, "5 parts of this domain "
                                   "are not supported by the kestrel "
                                   "driver; change or remove them and "
                                   "define the domain again:\n"));
    for (size_t i = 0; i < G_N_ELEMENTS(lines); i++) {
        g_assert_nonnull(strstr(err->message, lines[i]));
    }
}

/* A typo is libvirt's schema error, not "not supported". */
static void test_policy_typo(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(DomainDef) def = domain_def_parse_string(
        DOM("<devices><memballon model='virtio'/></devices>"), 0, &err);

    g_assert_null(def);
    g_assert_error(err, DRV_ERROR, DRV_ERR_XML_INVALID_SCHEMA);
    g_assert_true(g_str_has_prefix(err->message, "Unable to validate doc "
                                   "against " DOMAIN_RNG_PATH "\n"));
}

/* <metadata>: any namespace, any content, kept as written. */
static void test_metadata_verbatim(void)
{
    static const char md[] =
        "<metadata>\n"
        "    <app1:foo xmlns:app1=\"http://app1.org/app1/\">fooish</app1:foo>"
        "\n    <nova:instance xmlns:nova=\"http://openstack.org/xmlns/libvirt"
        "/nova/1.1\">\n"
        "      <nova:name>x &amp; y</nova:name>\n"
        "      <!-- a comment -->\n"
        "    </nova:instance>\n"
        "  </metadata>";
    g_autofree char *xml = g_strdup_printf(DOM("%s"), md);
    g_autoptr(GError) err = NULL;
    g_autoptr(DomainDef) def = domain_def_parse_string(xml, 0, &err);
    g_autofree char *out = NULL;
    g_autofree char *el = NULL;

    g_assert_no_error(err);
    g_assert_cmpstr(def->metadata, ==, md);
    out = domain_def_format(def, NULL, 0);
    g_assert_nonnull(strstr(out, md));
    check_round_trip(def);
    el = domain_def_get_metadata(def, DOMAIN_METADATA_ELEMENT,
                                 "http://app1.org/app1/", &err);
    g_assert_no_error(err);
    g_assert_cmpstr(el, ==, "<app1:foo xmlns:app1=\"http://app1.org/app1/\">"
                    "fooish</app1:foo>");
}

static void test_metadata_get_set(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(DomainDef) def = domain_def_parse_string(DOM(""), 0, &err);
    g_autofree char *v = NULL;

    g_assert_no_error(err);
    /* nothing there: libvirt's error */
    g_assert_null(domain_def_get_metadata(def, DOMAIN_METADATA_TITLE, NULL,
                                          &err));
    g_assert_error(err, DRV_ERROR, DRV_ERR_NO_DOMAIN_METADATA);
    g_assert_cmpstr(err->message, ==,
                    "Requested metadata element is not present");
    g_clear_error(&err);

    g_assert_true(domain_def_set_metadata(def, DOMAIN_METADATA_TITLE,
                                          "a title", NULL, NULL, &err));
    g_assert_true(domain_def_set_metadata(def, DOMAIN_METADATA_DESCRIPTION,
                                          "two\nlines", NULL, NULL, &err));
    g_assert_false(domain_def_set_metadata(def, DOMAIN_METADATA_TITLE,
                                           "two\nlines", NULL, NULL, &err));
    g_assert_error(err, DRV_ERROR, DRV_ERR_INVALID_ARG);
    g_clear_error(&err);
    v = domain_def_get_metadata(def, DOMAIN_METADATA_TITLE, NULL, &err);
    g_assert_cmpstr(v, ==, "a title");
    g_clear_pointer(&v, g_free);
    v = domain_def_get_metadata(def, DOMAIN_METADATA_DESCRIPTION, NULL,
                                &err);
    g_assert_cmpstr(v, ==, "two\nlines");
    g_clear_pointer(&v, g_free);

    /* an element: given the namespace and the prefix, replacing */
    g_assert_true(domain_def_set_metadata(def, DOMAIN_METADATA_ELEMENT,
                                          "<foo><bar/></foo>", "app",
                                          "http://app.org/", &err));
    g_assert_true(domain_def_set_metadata(def, DOMAIN_METADATA_ELEMENT,
                                          "<baz a='1'/>", "app",
                                          "http://app.org/", &err));
    g_assert_true(domain_def_set_metadata(def, DOMAIN_METADATA_ELEMENT,
                                          "<other/>", "o", "urn:o", &err));
    g_assert_no_error(err);
    v = domain_def_get_metadata(def, DOMAIN_METADATA_ELEMENT,
                                "http://app.org/", &err);
    g_assert_cmpstr(v, ==, "<app:baz xmlns:app=\"http://app.org/\" "
                    "a=\"1\"/>");
    g_clear_pointer(&v, g_free);
    check_round_trip(def);
    /* bad prefix, bad XML, missing uri */
    g_assert_false(domain_def_set_metadata(def, DOMAIN_METADATA_ELEMENT,
                                           "<x/>", "1bad", "urn:x", &err));
    g_assert_error(err, DRV_ERROR, DRV_ERR_INVALID_ARG);
    g_clear_error(&err);
    g_assert_false(domain_def_set_metadata(def, DOMAIN_METADATA_ELEMENT,
                                           "<x>", "x", "urn:x", &err));
    g_assert_error(err, DRV_ERROR, DRV_ERR_XML_DETAIL);
    g_clear_error(&err);
    g_assert_null(domain_def_get_metadata(def, DOMAIN_METADATA_ELEMENT,
                                          NULL, &err));
    g_assert_error(err, DRV_ERROR, DRV_ERR_INVALID_ARG);
    g_clear_error(&err);
    /* removal: the element, then the last one takes <metadata> along */
    g_assert_true(domain_def_set_metadata(def, DOMAIN_METADATA_ELEMENT,
                                          NULL, NULL, "http://app.org/",
                                          &err));
    g_assert_null(domain_def_get_metadata(def, DOMAIN_METADATA_ELEMENT,
                                          "http://app.org/", &err));
    g_assert_error(err, DRV_ERROR, DRV_ERR_NO_DOMAIN_METADATA);
    g_clear_error(&err);
    g_assert_true(domain_def_set_metadata(def, DOMAIN_METADATA_ELEMENT,
                                          "", NULL, "urn:o", &err));
    g_assert_null(def->metadata);
    g_assert_true(domain_def_set_metadata(def, DOMAIN_METADATA_TITLE, "",
                                          NULL, NULL, &err));
    g_assert_null(def->title);
}

/* libvirt's schema loads; the policy table is sorted. */
static void test_schema(void)
{
    g_autoptr(GError) err = NULL;

    g_assert_nonnull(domain_conf_schema_get(&err));
    g_assert_no_error(err);
    g_assert_cmpstr(domain_conf_schema_path(), ==, DOMAIN_RNG_PATH);
    g_assert_true(domain_conf_policy_sorted());
}

/* DRV_ERROR is the daemon's VIR_ERROR (driver/virerror.c). */
static void test_error_domain(void)
{
    g_assert_true(DRV_ERROR ==
                  g_quark_from_static_string("virtkestreld-libvirt-error"));
    g_assert_cmpstr(drv_error_format(DRV_ERR_CONFIG_UNSUPPORTED), ==,
                    "unsupported configuration: %s");
    g_assert_cmpstr(drv_error_format(DRV_ERR_XML_DETAIL), ==, "%s");
    g_assert_null(drv_error_format(12345));
    g_assert_cmpint(DRV_ERR_CONFIG_UNSUPPORTED, ==, 67);
    g_assert_cmpint(DRV_ERR_XML_ERROR, ==, 27);
    g_assert_cmpint(DRV_ERR_XML_DETAIL, ==, 35);
    g_assert_cmpint(DRV_ERR_XML_INVALID_SCHEMA, ==, 92);
    g_assert_cmpint(DRV_ERR_INVALID_ARG, ==, 8);
    g_assert_cmpint(DRV_ERR_OVERFLOW, ==, 82);
    g_assert_cmpint(DRV_ERROR_FROM_DOMAIN, ==, 20);
}

/* Parsing is safe from several threads at once (the daemon's threads). */
static gpointer parse_thread(gpointer data)
{
    for (int i = 0; i < 50; i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(DomainDef) def = domain_def_parse_string(full_xml, 0,
                                                           &err);

        if (!def) {
            return GINT_TO_POINTER(1);
        }
    }
    return NULL;
}

static void test_threads(void)
{
    GThread *t[4];

    for (int i = 0; i < 4; i++) {
        t[i] = g_thread_new("parse", parse_thread, NULL);
    }
    for (int i = 0; i < 4; i++) {
        g_assert_null(g_thread_join(t[i]));
    }
}

#define ADD_TABLE(prefix, table, func)                                     \
    for (size_t i = 0; i < G_N_ELEMENTS(table); i++) {                     \
        g_autofree char *path = g_strdup_printf(prefix "/%s",              \
                                                table[i].name);            \
        g_test_add_data_func(path, &table[i], func);                       \
    }

/* Disks and interfaces: defaults made explicit, slots assigned as libvirt
 * does (interfaces first, from slot 3), run-time aliases, round trip. */
static void test_devices(void)
{
    static const char xml[] = DEV(
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2' "
        "cache='none' discard='unmap' error_policy='stop'/><source "
        "file='/img/a.qcow2'/><backingStore type='file'><format "
        "type='raw'/><source file='/img/base.raw'/><backingStore/>"
        "</backingStore><target dev='vda' bus='virtio'/><boot order='1'/>"
        "<serial>S1</serial></disk>"
        "<disk type='block'><source dev='/dev/x'/><target dev='vdb' "
        "bus='virtio'/><readonly/></disk>"
        "<interface type='bridge'><mac address='52:54:00:aa:bb:cc'/>"
        "<source bridge='br0'/><target dev='vnet7'/><model "
        "type='virtio'/></interface>"
        "<interface type='ethernet'><target dev='tap-x'/></interface>");
    static const char *const want[] = {
        "    <disk type='file' device='disk'>\n"
        "      <driver name='qemu' type='qcow2' cache='none' "
        "error_policy='stop' discard='unmap'/>\n"
        "      <source file='/img/a.qcow2'/>\n"
        "      <target dev='vda' bus='virtio'/>\n"
        "      <boot order='1'/>\n"
        "      <serial>S1</serial>\n"
        "      <alias name='virtio-disk0'/>\n"
        "      <address type='pci' domain='0x0000' bus='0x00' slot='0x05' "
        "function='0x0'/>\n",
        "    <disk type='block' device='disk'>\n"
        "      <driver name='qemu' type='raw'/>\n"
        "      <source dev='/dev/x'/>\n"
        "      <target dev='vdb' bus='virtio'/>\n"
        "      <readonly/>\n"
        "      <alias name='virtio-disk1'/>\n",
        "    <interface type='bridge'>\n"
        "      <mac address='52:54:00:aa:bb:cc'/>\n"
        "      <source bridge='br0'/>\n"
        "      <target dev='vnet0'/>\n"
        "      <model type='virtio'/>\n"
        "      <alias name='net0'/>\n"
        "      <address type='pci' domain='0x0000' bus='0x00' slot='0x03' "
        "function='0x0'/>\n",
        "      <target dev='tap-x'/>\n",
        "slot='0x04'",
    };
    static const char *const taps[] = { "vnet0", "tap-x" };
    static const char *const bridges[] = { "br0", "" };
    g_autoptr(GError) err = NULL;
    g_autoptr(DomainDef) def = domain_def_parse_string(xml, 0, &err);
    g_autoptr(DomainDef) again = NULL;
    g_autofree char *live_xml = NULL;
    g_autofree char *inactive = NULL;
    DomainLive live = { .id = 3, .net_ifnames = taps, .net_bridges = bridges,
                        .n_net_ifnames = 2 };
    const DomainNet *n;

    g_assert_no_error(err);
    g_assert_cmpuint(def->disks->len, ==, 2);
    g_assert_cmpuint(def->nets->len, ==, 2);
    n = g_ptr_array_index(def->nets, 1);
    /* generated: 52:54:00 and kept */
    g_assert_cmpint(n->mac[0], ==, 0x52);
    g_assert_cmpint(n->mac[1], ==, 0x54);
    g_assert_cmpint(n->mac[2], ==, 0x00);
    /* a vnetN name is the daemon's to give, not kept */
    g_assert_null(((DomainNet *)g_ptr_array_index(def->nets, 0))->ifname);
    g_assert_cmpint(domain_def_find_disk(def, "vdb"), ==, 1);
    g_assert_cmpint(domain_def_find_disk(def, "/img/a.qcow2"), ==, 0);
    g_assert_cmpint(domain_def_find_disk(def, "vdc"), ==, -1);

    live_xml = domain_def_format(def, &live, 0);
    for (size_t i = 0; i < G_N_ELEMENTS(want); i++) {
        if (!strstr(live_xml, want[i])) {
            g_test_message("missing:\n%s\nin:\n%s", want[i], live_xml);
            g_test_fail();
        }
    }
    inactive = domain_def_format(def, NULL, DOMAIN_DEF_FORMAT_INACTIVE);
    g_assert_null(strstr(inactive, "alias"));
    g_assert_null(strstr(inactive, "vnet0"));
    again = domain_def_parse_string(inactive, DOMAIN_DEF_PARSE_INACTIVE,
                                    &err);
    g_assert_no_error(err);
    g_assert_true(domain_def_equal(def, again));
    g_clear_pointer(&again, domain_def_free);
    again = domain_def_parse_string(live_xml, 0, &err);
    g_assert_no_error(err);
    g_assert_true(domain_def_equal(def, again));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    ADD_TABLE("/domain-conf/good", good_cases, test_good);
    ADD_TABLE("/domain-conf/bad", bad_cases, test_bad);
    g_test_add_func("/domain-conf/format/inactive", test_format_inactive);
    g_test_add_func("/domain-conf/format/live", test_format_live);
    g_test_add_func("/domain-conf/format/migratable",
                    test_format_migratable);
    g_test_add_func("/domain-conf/format/minimal", test_format_minimal);
    g_test_add_func("/domain-conf/format/memory-backing",
                    test_format_mem_backing);
    g_test_add_func("/domain-conf/format/escaping", test_format_escaping);
    g_test_add_func("/domain-conf/uuid-generated", test_uuid_generated);
    g_test_add_func("/domain-conf/flags", test_flags);
    g_test_add_func("/domain-conf/copy-equal", test_copy_equal);
    g_test_add_func("/domain-conf/schema", test_schema);
    g_test_add_func("/domain-conf/policy/trivia", test_policy_trivia);
    g_test_add_func("/domain-conf/policy/machines", test_policy_machines);
    g_test_add_func("/domain-conf/policy/all-at-once",
                    test_policy_all_at_once);
    g_test_add_func("/domain-conf/policy/typo", test_policy_typo);
    g_test_add_func("/domain-conf/metadata/verbatim", test_metadata_verbatim);
    g_test_add_func("/domain-conf/metadata/get-set", test_metadata_get_set);
    g_test_add_func("/domain-conf/error-domain", test_error_domain);
    g_test_add_func("/domain-conf/threads", test_threads);
    g_test_add_func("/domain-conf/devices", test_devices);
    return g_test_run();
}
