/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * DomainDef -> domain XML, in libvirt's layout: two-space indent, attributes
 * quoted with ', run-time names (id, aliases, ptys) only in a running
 * domain's own XML.
 */
#include "config.h"

#include <inttypes.h>
#include <string.h>

#include "domain-conf.h"
#include "domain-conf-schema.h"

static void put(GString *out, int indent, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static void put(GString *out, int indent, const char *fmt, ...)
{
    va_list ap;

    g_string_append_printf(out, "%*s", indent * 2, "");
    va_start(ap, fmt);
    g_string_append_vprintf(out, fmt, ap);
    va_end(ap);
    g_string_append_c(out, '\n');
}

char *domain_conf_xml_escape(const char *s)
{
    GString *out = g_string_sized_new(strlen(s) + 8);

    for (const char *p = s; *p; p++) {
        switch (*p) {
        case '&':
            g_string_append(out, "&amp;");
            break;
        case '<':
            g_string_append(out, "&lt;");
            break;
        case '>':
            g_string_append(out, "&gt;");
            break;
        case '\'':
            g_string_append(out, "&apos;");
            break;
        case '"':
            g_string_append(out, "&quot;");
            break;
        default:
            g_string_append_c(out, *p);
        }
    }
    return g_string_free(out, FALSE);
}

static void put_text(GString *out, int indent, const char *name,
                     const char *value)
{
    g_autofree char *esc = NULL;

    if (value) {
        esc = domain_conf_xml_escape(value);
        put(out, indent, "<%s>%s</%s>", name, esc, name);
    }
}

/* source and target of a serial port or the console */
static void format_chr(GString *out, const DomainChr *c, bool console,
                       const char *pty, const char *alias)
{
    const char *elem = console ? "console" : "serial";
    const char *type = domain_chr_type_name(c->type);
    g_autofree char *path = domain_conf_xml_escape(
        c->type == DOMAIN_CHR_PTY ? (pty ? pty : "") : c->path);

    if (console && c->type == DOMAIN_CHR_PTY && pty) {
        put(out, 2, "<%s type='%s' tty='%s'>", elem, type, path);
    } else {
        put(out, 2, "<%s type='%s'>", elem, type);
    }
    switch (c->type) {
    case DOMAIN_CHR_PTY:
        if (pty) {
            put(out, 3, "<source path='%s'/>", path);
        }
        break;
    case DOMAIN_CHR_FILE:
        put(out, 3, "<source path='%s'%s/>", path,
            c->append == DOMAIN_TRISTATE_ON ? " append='on'"
            : c->append == DOMAIN_TRISTATE_OFF ? " append='off'" : "");
        break;
    case DOMAIN_CHR_UNIX:
        put(out, 3, "<source mode='%s' path='%s'/>",
            c->listen ? "bind" : "connect", path);
        break;
    }
    if (console) {
        put(out, 3, "<target type='serial' port='0'/>");
    } else {
        put(out, 3, "<target type='isa-serial' port='%u'>", c->port);
        put(out, 4, "<model name='isa-serial'/>");
        put(out, 3, "</target>");
    }
    if (alias) {
        put(out, 3, "<alias name='%s'/>", alias);
    }
    put(out, 2, "</%s>", elem);
}

static const char *onoff(DomainTristate t)
{
    return t == DOMAIN_TRISTATE_ON ? "on" : "off";
}

static void format_balloon(GString *out, const DomainBalloon *b, bool live)
{
    const char *alias = b->alias ? b->alias : live ? "balloon0" : NULL;
    GString *attrs = g_string_new(NULL);

    if (b->model == DOMAIN_BALLOON_NONE) {
        put(out, 2, "<memballoon model='none'/>");
        g_string_free(attrs, TRUE);
        return;
    }
    if (b->autodeflate) {
        g_string_append_printf(attrs, " autodeflate='%s'",
                               onoff(b->autodeflate));
    }
    if (b->free_page_reporting) {
        g_string_append_printf(attrs, " freePageReporting='%s'",
                               onoff(b->free_page_reporting));
    }
    if (!b->stats_period && !alias && !b->has_address) {
        put(out, 2, "<memballoon model='virtio'%s/>", attrs->str);
        g_string_free(attrs, TRUE);
        return;
    }
    put(out, 2, "<memballoon model='virtio'%s>", attrs->str);
    g_string_free(attrs, TRUE);
    if (b->stats_period) {
        put(out, 3, "<stats period='%u'/>", b->stats_period);
    }
    if (alias) {
        put(out, 3, "<alias name='%s'/>", alias);
    }
    if (b->has_address) {
        put(out, 3, "<address type='pci' domain='0x0000' bus='0x00' "
            "slot='0x%02x' function='0x0'/>", b->pci_slot);
    }
    put(out, 2, "</memballoon>");
}

static void format_cpu(GString *out, const DomainCpu *c)
{
    g_autoptr(GString) attrs = g_string_new(NULL);

    if (!c->given) {
        return;
    }
    if (c->passthrough) {
        g_string_append(attrs, " mode='host-passthrough'");
    }
    if (c->check_none) {
        g_string_append(attrs, " check='none'");
    }
    if (c->migratable) {
        g_string_append_printf(attrs, " migratable='%s'",
                               onoff(c->migratable));
    }
    if (!c->sockets) {
        put(out, 1, "<cpu%s/>", attrs->str);
        return;
    }
    put(out, 1, "<cpu%s>", attrs->str);
    put(out, 2, "<topology sockets='%u' dies='%u' cores='%u' threads='%u'/>",
        c->sockets, c->dies, c->cores, c->threads);
    put(out, 1, "</cpu>");
}

static void format_clock(GString *out, const DomainDef *def)
{
    if (!def->timers->len) {
        put(out, 1, "<clock offset='utc'/>");
        return;
    }
    put(out, 1, "<clock offset='utc'>");
    for (guint i = 0; i < def->timers->len; i++) {
        const DomainTimer *t = g_ptr_array_index(def->timers, i);
        g_autoptr(GString) attrs = g_string_new(NULL);

        if (t->tickpolicy) {
            g_string_append_printf(attrs, " tickpolicy='%s'", t->tickpolicy);
        }
        if (t->present) {
            g_string_append_printf(attrs, " present='%s'", t->present);
        }
        put(out, 2, "<timer name='%s'%s/>", t->name, attrs->str);
    }
    put(out, 1, "</clock>");
}

static void format_pm(GString *out, const DomainTrivia *t)
{
    if (!t->s3 && !t->s4) {
        put(out, 1, "<pm/>");
        return;
    }
    put(out, 1, "<pm>");
    if (t->s3) {
        put(out, 2, "<suspend-to-mem enabled='no'/>");
    }
    if (t->s4) {
        put(out, 2, "<suspend-to-disk enabled='no'/>");
    }
    put(out, 1, "</pm>");
}

/* <memoryBacking>, in libvirt's element order. */
static void format_mem_backing(GString *out, const DomainMemBacking *m)
{
    static const char *const sources[] = {
        [DOMAIN_MEM_SOURCE_ANONYMOUS] = "anonymous",
        [DOMAIN_MEM_SOURCE_MEMFD] = "memfd",
        [DOMAIN_MEM_SOURCE_FILE] = "file",
    };

    if (!m->given) {
        return;
    }
    put(out, 1, "<memoryBacking>");
    if (m->hugepages && m->hugepage_kib) {
        put(out, 2, "<hugepages>");
        put(out, 3, "<page size='%" PRIu64 "' unit='KiB'/>", m->hugepage_kib);
        put(out, 2, "</hugepages>");
    } else if (m->hugepages) {
        put(out, 2, "<hugepages/>");
    }
    if (m->nosharepages) {
        put(out, 2, "<nosharepages/>");
    }
    if (m->locked) {
        put(out, 2, "<locked/>");
    }
    if (m->source != DOMAIN_MEM_SOURCE_DEFAULT) {
        put(out, 2, "<source type='%s'/>", sources[m->source]);
    }
    if (m->access != DOMAIN_MEM_ACCESS_DEFAULT) {
        put(out, 2, "<access mode='%s'/>",
            m->access == DOMAIN_MEM_ACCESS_SHARED ? "shared" : "private");
    }
    if (m->immediate || m->ondemand || m->threads) {
        GString *a = g_string_new("<allocation");

        if (m->immediate || m->ondemand) {
            g_string_append_printf(a, " mode='%s'",
                                   m->immediate ? "immediate" : "ondemand");
        }
        if (m->threads) {
            g_string_append_printf(a, " threads='%u'", m->threads);
        }
        put(out, 2, "%s/>", a->str);
        g_string_free(a, TRUE);
    }
    if (m->discard) {
        put(out, 2, "<discard/>");
    }
    put(out, 1, "</memoryBacking>");
}

char *domain_def_format(const DomainDef *def, const DomainLive *live,
                        unsigned int flags)
{
    GString *out = g_string_new(NULL);
    bool inactive = flags & DOMAIN_DEF_FORMAT_INACTIVE;
    bool migratable = flags & DOMAIN_DEF_FORMAT_MIGRATABLE;
    /* run-time names (id, aliases, ptys): a running domain's own XML */
    bool runtime = live && !inactive && !migratable;
    uint64_t current = def->current_kib;
    char uuid[37];

    if (live && !inactive && live->current_kib) {
        current = live->current_kib;
    }
    domain_conf_uuid_format(def->uuid, uuid);
    if (runtime && live->id > 0) {
        put(out, 0, "<domain type='kvm' id='%d'>", live->id);
    } else {
        put(out, 0, "<domain type='kvm'>");
    }
    put_text(out, 1, "name", def->name);
    put(out, 1, "<uuid>%s</uuid>", uuid);
    put_text(out, 1, "title", def->title);
    put_text(out, 1, "description", def->description);
    if (def->metadata) {
        put(out, 1, "%s", def->metadata);       /* verbatim */
    }
    put(out, 1, "<memory unit='KiB'>%" PRIu64 "</memory>", def->memory_kib);
    put(out, 1, "<currentMemory unit='KiB'>%" PRIu64 "</currentMemory>",
        current);
    format_mem_backing(out, &def->mem_backing);
    put(out, 1, "<vcpu placement='static'>%u</vcpu>", def->vcpus);

    put(out, 1, "<os>");
    put(out, 2, "<type arch='x86_64' machine='%s'>hvm</type>",
        def->machine ? def->machine : "kestrel");
    put_text(out, 2, "kernel", def->os.kernel);
    put_text(out, 2, "initrd", def->os.initrd);
    put_text(out, 2, "cmdline", def->os.cmdline);
    if (def->trivia.boot_hd) {
        put(out, 2, "<boot dev='hd'/>");
    }
    put(out, 1, "</os>");

    put(out, 1, "<features>");
    put(out, 2, "<acpi/>");
    if (def->apic) {
        put(out, 2, "<apic/>");
    }
    if (def->pae) {
        put(out, 2, "<pae/>");
    }
    if (def->trivia.vmport_off) {
        put(out, 2, "<vmport state='off'/>");
    }
    put(out, 1, "</features>");
    format_cpu(out, &def->cpu);
    format_clock(out, def);
    put(out, 1, "<on_poweroff>%s</on_poweroff>",
        domain_lifecycle_action_name(def->on_poweroff));
    put(out, 1, "<on_reboot>%s</on_reboot>",
        domain_lifecycle_action_name(def->on_reboot));
    put(out, 1, "<on_crash>%s</on_crash>",
        domain_lifecycle_action_name(def->on_crash));
    if (def->trivia.pm) {
        format_pm(out, &def->trivia);
    }

    put(out, 1, "<devices>");
    put_text(out, 2, "emulator", def->emulator);
    domain_conf_format_disks(out, def, runtime);
    if (def->trivia.usb_none) {
        put(out, 2, "<controller type='usb' index='0' model='none'/>");
    }
    if (def->trivia.pci_root) {
        put(out, 2, "<controller type='pci' index='0' model='pci-root'/>");
    }
    domain_conf_format_nets(out, def, live, runtime);
    for (guint i = 0; i < def->serials->len; i++) {
        const DomainChr *c = g_ptr_array_index(def->serials, i);
        g_autofree char *alias = NULL;
        const char *pty = runtime && i < DOMAIN_MAX_SERIALS
                          ? live->serial_ptys[i] : NULL;

        alias = c->alias ? g_strdup(c->alias)
                : runtime ? g_strdup_printf("serial%u", i) : NULL;
        format_chr(out, c, false, pty, alias);
    }
    if (def->serials->len) {
        const DomainChr *c = g_ptr_array_index(def->serials, 0);
        g_autofree char *alias = c->alias ? g_strdup(c->alias)
                                 : runtime ? g_strdup("serial0") : NULL;

        format_chr(out, c, true, runtime ? live->serial_ptys[0] : NULL,
                   alias);
    }
    if (def->trivia.audio_id) {
        put(out, 2, "<audio id='%u' type='none'/>", def->trivia.audio_id);
    }
    if (def->trivia.video_none) {
        put(out, 2, "<video>");
        put(out, 3, "<model type='none'/>");
        put(out, 2, "</video>");
    }
    format_balloon(out, &def->balloon, runtime);
    put(out, 1, "</devices>");
    if (def->trivia.seclabel_none) {
        put(out, 1, "<seclabel type='none'%s/>",
            def->trivia.seclabel_model_none ? " model='none'" : "");
    }
    put(out, 0, "</domain>");
    return g_string_free(out, FALSE);
}
