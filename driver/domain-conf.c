/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Domain XML in and out.  Parsing runs in stages, each with its own class
 * of error, so that a user learns the most precise thing that is wrong:
 *
 *   1. libxml2 reads the text               -> DRV_ERR_XML_DETAIL
 *   2. the root must be <domain>            -> DRV_ERR_XML_ERROR
 *   3. libvirt's own domain.rng             -> DRV_ERR_XML_INVALID_SCHEMA,
 *      so a typo gets libvirt's schema error, and whatever libvirt
 *      accepts reaches stage 4
 *   4. the policy table: every element, attribute and value kestrel does
 *      not do, all in one error        -> DRV_ERR_CONFIG_UNSUPPORTED
 *   5. values: numbers, units, names, consistency
 *
 * Stage 3 is in domain-conf-schema.c, stage 4 in domain-conf-policy.c, the
 * output side (DomainDef -> XML) in domain-conf-format.c.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "domain-conf.h"
#include "domain-conf-schema.h"
#include "drv-error.h"

/* ---- stage 5: values -------------------------------------------------- */

static xmlNodePtr child(xmlNodePtr node, const char *name)
{
    for (xmlNodePtr c = node ? node->children : NULL; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE &&
            g_str_equal((const char *)c->name, name)) {
            return c;
        }
    }
    return NULL;
}

static char *attr(xmlNodePtr node, const char *name)
{
    xmlChar *x = node ? xmlGetNoNsProp(node, BAD_CAST name) : NULL;
    char *s = x ? g_strdup((const char *)x) : NULL;

    xmlFree(x);
    return s;
}

static char *text(xmlNodePtr node)
{
    xmlChar *x = node ? xmlNodeGetContent(node) : NULL;
    char *s = x ? g_strdup((const char *)x) : NULL;

    xmlFree(x);
    return s;
}

static bool parse_uint(const char *str, uint64_t max, uint64_t *out,
                       const char *what, GError **errp)
{
    g_autofree char *t = g_strstrip(g_strdup(str));
    const char *digits = t[0] == '+' ? t + 1 : t;
    g_autoptr(GError) local = NULL;
    guint64 v;

    if (!g_ascii_string_to_unsigned(digits, 10, 0, max, &v, &local)) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                    "invalid value '%s' for %s", str, what);
        return false;
    }
    *out = v;
    return true;
}

/* libvirt's units: case-insensitive b/byte/bytes, k/KiB/KB, M/MiB/MB, ... */
static bool unit_scale(const char *unit, uint64_t *scale)
{
    static const char prefixes[] = "kmgtpe";
    const char *p;
    uint64_t base;

    if (!unit || !*unit) {
        *scale = 1024;                  /* libvirt's default: KiB */
        return true;
    }
    if (!g_ascii_strcasecmp(unit, "b") || !g_ascii_strcasecmp(unit, "byte") ||
        !g_ascii_strcasecmp(unit, "bytes")) {
        *scale = 1;
        return true;
    }
    p = strchr(prefixes, g_ascii_tolower(unit[0]));
    if (!unit[0] || !p) {
        return false;
    }
    if (!unit[1] || !g_ascii_strcasecmp(unit + 1, "ib")) {
        base = 1024;
    } else if (!g_ascii_strcasecmp(unit + 1, "b")) {
        base = 1000;
    } else {
        return false;
    }
    *scale = 1;
    for (const char *q = prefixes; q <= p; q++) {
        *scale *= base;
    }
    return true;
}

/* <memory unit='U'>N</memory> and its kin, in KiB rounded up. */
static bool parse_memory(xmlNodePtr node, uint64_t *kib, GError **errp)
{
    const char *ename = (const char *)node->name;
    g_autofree char *unit = attr(node, "unit");
    g_autofree char *val = text(node);
    g_autofree char *what = g_strdup_printf("element '%s'", ename);
    uint64_t n, scale;

    if (!parse_uint(val, UINT64_MAX, &n, what, errp)) {
        return false;
    }
    if (!unit_scale(unit, &scale)) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                    "unknown unit '%s' for element '%s'", unit, ename);
        return false;
    }
    /* libvirt's bound: the byte count fits in a signed 64-bit integer */
    if (n > (uint64_t)INT64_MAX / scale) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_OVERFLOW,
                    "the size %s %s of element '%s' is too large",
                    g_strstrip(val), unit ? unit : "KiB", ename);
        return false;
    }
    *kib = (n * scale + 1023) / 1024;
    return true;
}

/* <memoryBacking>, as the policy table let it through. */
static bool parse_mem_backing(DomainDef *def, xmlNodePtr mb, GError **errp)
{
    DomainMemBacking *m = &def->mem_backing;
    xmlNodePtr huge = child(mb, "hugepages");
    xmlNodePtr page = child(huge, "page");
    g_autofree char *source = attr(child(mb, "source"), "type");
    g_autofree char *access = attr(child(mb, "access"), "mode");
    g_autofree char *alloc = attr(child(mb, "allocation"), "mode");
    g_autofree char *threads = attr(child(mb, "allocation"), "threads");

    if (!mb) {
        return true;
    }
    m->given = true;
    m->hugepages = huge != NULL;
    if (page) {
        g_autofree char *size = attr(page, "size");
        g_autofree char *unit = attr(page, "unit");
        uint64_t n, scale;

        if (!size || !parse_uint(size, UINT64_MAX / 1024, &n,
                                 "hugepage size", errp)) {
            if (!size) {
                g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                            "missing hugepage size");
            }
            return false;
        }
        if (!unit_scale(unit, &scale) || n > UINT64_MAX / scale) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                        "unknown unit '%s' for element 'page'", unit);
            return false;
        }
        m->hugepage_kib = n * scale / 1024;
        if (m->hugepage_kib != 2048 && m->hugepage_kib != 1048576) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                        "hugepage size %" PRIu64 " KiB of domain '%s' is "
                        "not supported: x86-64 huge pages are 2048 KiB or "
                        "1048576 KiB", m->hugepage_kib, def->name);
            return false;
        }
    }
    if (source) {
        m->source = g_str_equal(source, "memfd") ? DOMAIN_MEM_SOURCE_MEMFD
                    : g_str_equal(source, "file") ? DOMAIN_MEM_SOURCE_FILE
                    : DOMAIN_MEM_SOURCE_ANONYMOUS;
    }
    if (access) {
        m->access = g_str_equal(access, "shared") ? DOMAIN_MEM_ACCESS_SHARED
                                                  : DOMAIN_MEM_ACCESS_PRIVATE;
    }
    m->immediate = alloc && g_str_equal(alloc, "immediate");
    m->ondemand = alloc && g_str_equal(alloc, "ondemand");
    if (threads) {
        uint64_t n;

        if (!parse_uint(threads, 1024, &n, "allocation threads", errp)) {
            return false;
        }
        m->threads = (unsigned int)n;
    }
    m->locked = child(mb, "locked") != NULL;
    m->nosharepages = child(mb, "nosharepages") != NULL;
    m->discard = child(mb, "discard") != NULL;
    if (m->hugepages && m->source == DOMAIN_MEM_SOURCE_ANONYMOUS) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                    "domain '%s': <hugepages/> with <source "
                    "type='anonymous'/> is not supported: huge pages come "
                    "from hugetlbfs or a hugetlb memfd (write <source "
                    "type='memfd'/> or 'file', or no <source>)", def->name);
        return false;
    }
    return true;
}

static bool parse_uuid(const char *str, unsigned char uuid[16],
                       GError **errp)
{
    unsigned int n = 0;

    for (const char *p = str; *p; p++) {
        int hi, lo;

        if (*p == '-' || g_ascii_isspace(*p)) {
            continue;
        }
        hi = g_ascii_xdigit_value(p[0]);
        lo = p[1] ? g_ascii_xdigit_value(p[1]) : -1;
        if (hi < 0 || lo < 0 || n == 16) {
            n = 17;
            break;
        }
        uuid[n++] = (unsigned char)(hi << 4 | lo);
        p++;
    }
    if (n != 16) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                    "malformed uuid '%s'", str);
        return false;
    }
    return true;
}

void domain_conf_uuid_format(const unsigned char uuid[16], char out[37])
{
    g_snprintf(out, 37,
               "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
               "%02x%02x%02x%02x%02x%02x",
               uuid[0], uuid[1], uuid[2], uuid[3], uuid[4], uuid[5],
               uuid[6], uuid[7], uuid[8], uuid[9], uuid[10], uuid[11],
               uuid[12], uuid[13], uuid[14], uuid[15]);
}

static void uuid_generate(unsigned char uuid[16])
{
    g_autofree char *s = g_uuid_string_random();

    (void)parse_uuid(s, uuid, NULL);
}

static const char *const lifecycle_names[] = {
    [DOMAIN_LIFECYCLE_DESTROY] = "destroy",
    [DOMAIN_LIFECYCLE_RESTART] = "restart",
    [DOMAIN_LIFECYCLE_PRESERVE] = "preserve",
};

const char *domain_lifecycle_action_name(DomainLifecycleAction a)
{
    return lifecycle_names[a];
}

static const char *const chr_type_names[] = {
    [DOMAIN_CHR_PTY] = "pty",
    [DOMAIN_CHR_FILE] = "file",
    [DOMAIN_CHR_UNIX] = "unix",
};

const char *domain_chr_type_name(DomainChrType t)
{
    return chr_type_names[t];
}

static void parse_lifecycle(xmlNodePtr root, const char *name,
                            DomainLifecycleAction *out)
{
    g_autofree char *v = text(child(root, name));

    if (!v) {
        return;                         /* keep the default */
    }
    g_strstrip(v);
    for (size_t i = 0; i < G_N_ELEMENTS(lifecycle_names); i++) {
        if (g_str_equal(v, lifecycle_names[i])) {
            *out = (DomainLifecycleAction)i;
        }
    }
}

static DomainTristate parse_onoff(xmlNodePtr node, const char *name)
{
    g_autofree char *v = attr(node, name);

    if (!v) {
        return DOMAIN_TRISTATE_ABSENT;
    }
    return g_str_equal(g_strstrip(v), "on") ? DOMAIN_TRISTATE_ON
                                            : DOMAIN_TRISTATE_OFF;
}

/* A user alias is kept; the names we assign at run time are dropped. */
static char *parse_user_alias(xmlNodePtr dev)
{
    g_autofree char *name = attr(child(dev, "alias"), "name");

    if (name && g_str_has_prefix(name, "ua-")) {
        return g_steal_pointer(&name);
    }
    return NULL;
}

/* The same, for the parser's other files (domain-conf-schema.h). */
xmlNodePtr domain_conf_child(xmlNodePtr node, const char *name)
{
    return child(node, name);
}

char *domain_conf_attr(xmlNodePtr node, const char *name)
{
    return attr(node, name);
}

char *domain_conf_text(xmlNodePtr node)
{
    return text(node);
}

char *domain_conf_user_alias(xmlNodePtr dev)
{
    return parse_user_alias(dev);
}

static void chr_free(gpointer p)
{
    DomainChr *c = p;

    if (!c) {
        return;
    }
    g_free(c->path);
    g_free(c->alias);
    g_free(c);
}

static DomainChr *chr_copy(const DomainChr *src)
{
    DomainChr *c = g_new(DomainChr, 1);

    *c = *src;
    c->path = g_strdup(src->path);
    c->alias = g_strdup(src->alias);
    return c;
}

/* The source part shared by <serial> and <console>. */
static DomainChr *parse_chr(xmlNodePtr node)
{
    g_autofree char *type = attr(node, "type");
    xmlNodePtr source = child(node, "source");
    DomainChr *c = g_new0(DomainChr, 1);
    g_autofree char *mode = NULL;

    for (size_t i = 0; type && i < G_N_ELEMENTS(chr_type_names); i++) {
        if (g_str_equal(type, chr_type_names[i])) {
            c->type = (DomainChrType)i;
        }
    }
    if (c->type != DOMAIN_CHR_PTY) {    /* a pty's path is live state */
        c->path = attr(source, "path");
    }
    c->append = c->type == DOMAIN_CHR_FILE ? parse_onoff(source, "append")
                                           : DOMAIN_TRISTATE_ABSENT;
    mode = attr(source, "mode");
    c->listen = c->type == DOMAIN_CHR_UNIX && mode &&
                g_str_equal(mode, "bind");
    c->alias = parse_user_alias(node);
    return c;
}

static bool chr_same_source(const DomainChr *a, const DomainChr *b)
{
    return a->type == b->type && g_strcmp0(a->path, b->path) == 0 &&
           a->append == b->append && a->listen == b->listen;
}

static bool parse_serials(DomainDef *def, xmlNodePtr devices, GError **errp)
{
    bool taken[DOMAIN_MAX_SERIALS] = { false };
    g_autoptr(GPtrArray) unnumbered =
        g_ptr_array_new_with_free_func(chr_free);
    g_autoptr(GPtrArray) byport = g_ptr_array_new_with_free_func(chr_free);
    xmlNodePtr console = NULL;
    guint nserial = 0;

    g_ptr_array_set_size(byport, DOMAIN_MAX_SERIALS);
    for (xmlNodePtr n = devices ? devices->children : NULL; n; n = n->next) {
        g_autofree char *port = NULL;
        DomainChr *c;
        uint64_t p;

        if (n->type != XML_ELEMENT_NODE) {
            continue;
        }
        if (g_str_equal((const char *)n->name, "console")) {
            if (console) {
                g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                            "a second console " NOT_SUPPORTED ": the only "
                            "console is serial port 0");
                return false;
            }
            console = n;
            continue;
        }
        if (!g_str_equal((const char *)n->name, "serial")) {
            continue;
        }
        if (++nserial > DOMAIN_MAX_SERIALS) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                        "a fifth serial port " NOT_SUPPORTED ": the "
                        "machine has four (COM1 to COM4)");
            return false;
        }
        c = parse_chr(n);
        port = attr(child(n, "target"), "port");
        if (!port) {
            g_ptr_array_add(unnumbered, c);
            continue;
        }
        if (!parse_uint(port, UINT_MAX, &p, "attribute 'port' of a serial "
                        "target", errp)) {
            chr_free(c);
            return false;
        }
        if (p >= DOMAIN_MAX_SERIALS) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                        "serial port %" PRIu64 " " NOT_SUPPORTED ": the "
                        "machine has ports 0 to 3 (COM1 to COM4)", p);
            chr_free(c);
            return false;
        }
        if (taken[p]) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                        "serial port %" PRIu64 " is defined twice", p);
            chr_free(c);
            return false;
        }
        taken[p] = true;
        c->port = (unsigned int)p;
        g_ptr_array_index(byport, p) = c;
    }

    /* as libvirt: a serial without a port takes the lowest free one */
    for (guint i = 0, p = 0; i < unnumbered->len; i++) {
        DomainChr *c = g_steal_pointer(&g_ptr_array_index(unnumbered, i));

        while (taken[p]) {
            p++;
        }
        taken[p] = true;
        c->port = p;
        g_ptr_array_index(byport, p) = c;
    }
    for (guint p = 0; p < nserial; p++) {
        if (!taken[p]) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                        "serial port %u is missing: the kestrel driver "
                        "needs serial ports numbered from 0 without gaps",
                        p);
            return false;
        }
    }
    for (guint p = 0; p < nserial; p++) {
        g_ptr_array_add(def->serials, g_steal_pointer(
                            &g_ptr_array_index(byport, p)));
    }

    /* The console is serial port 0 (x86 libvirt): it creates the port when
     * there is none, and otherwise must say the same thing about it. */
    if (console) {
        g_autoptr(GPtrArray) one = g_ptr_array_new_with_free_func(chr_free);
        DomainChr *c = parse_chr(console);

        g_ptr_array_add(one, c);
        if (!def->serials->len) {
            g_ptr_array_add(def->serials, g_ptr_array_steal_index(one, 0));
        } else if (!chr_same_source(c, g_ptr_array_index(def->serials, 0))) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                        "the console (type '%s') must have the source of "
                        "serial port 0 (type '%s'): the kestrel driver's "
                        "console is that port", chr_type_names[c->type],
                        chr_type_names[((DomainChr *)g_ptr_array_index(
                            def->serials, 0))->type]);
            return false;
        }
    }
    return true;
}

static bool parse_pci_number(const char *str, const char *name,
                             uint64_t *out, GError **errp)
{
    g_autoptr(GError) local = NULL;
    g_autofree char *t = g_strstrip(g_strdup(str));
    bool hex = g_str_has_prefix(t, "0x");
    guint64 v;

    if (!g_ascii_string_to_unsigned(hex ? t + 2 : t, hex ? 16 : 10, 0,
                                    UINT32_MAX, &v, &local)) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                    "invalid value '%s' for attribute '%s' of a PCI "
                    "address", str, name);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_balloon(DomainDef *def, xmlNodePtr devices, GError **errp)
{
    xmlNodePtr mb = child(devices, "memballoon");
    DomainBalloon *b = &def->balloon;
    g_autofree char *model = attr(mb, "model");
    g_autofree char *period = attr(child(mb, "stats"), "period");
    xmlNodePtr addr = child(mb, "address");
    uint64_t v;

    b->model = DOMAIN_BALLOON_VIRTIO;   /* as libvirt's QEMU driver */
    if (!mb) {
        return true;
    }
    if (g_str_equal(model, "none")) {
        b->model = DOMAIN_BALLOON_NONE;
        if (child(mb, "stats") || addr) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                        "a memballoon of model 'none' has no statistics "
                        "and no address");
            return false;
        }
        return true;
    }
    b->autodeflate = parse_onoff(mb, "autodeflate");
    b->free_page_reporting = parse_onoff(mb, "freePageReporting");
    b->alias = parse_user_alias(mb);
    if (period) {
        if (!parse_uint(period, INT_MAX, &v, "attribute 'period' of the "
                        "memballoon stats", errp)) {
            return false;
        }
        b->stats_period = (unsigned int)v;
    }
    if (addr) {
        static const char *const keys[] = { "domain", "bus", "slot",
                                            "function" };
        uint64_t a[4] = { 0, 0, 0, 0 };

        for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
            g_autofree char *s = attr(addr, keys[i]);

            if (s && !parse_pci_number(s, keys[i], &a[i], errp)) {
                return false;
            }
        }
        if (a[0] || a[1] || a[3] || a[2] < 1 || a[2] > 31) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                        "PCI address %04" PRIx64 ":%02" PRIx64 ":%02" PRIx64
                        ".%" PRIx64 " of the memballoon " NOT_SUPPORTED
                        ": kestrel has one PCI bus (0000:00), slots 1 to "
                        "31 and function 0", a[0], a[1], a[2], a[3]);
            return false;
        }
        b->has_address = true;
        b->pci_slot = (unsigned int)a[2];
    }
    return true;
}

static bool parse_vcpu(DomainDef *def, xmlNodePtr node, GError **errp)
{
    g_autofree char *count = text(node);
    g_autofree char *current = attr(node, "current");
    uint64_t n, cur;

    def->vcpus = 1;
    if (!node) {
        return true;
    }
    if (!parse_uint(count, UINT_MAX, &n, "element 'vcpu'", errp)) {
        return false;
    }
    if (n == 0) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                    "the vcpu count must be at least 1");
        return false;
    }
    if (n > DOMAIN_MAX_VCPUS) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                    "%" PRIu64 " vcpus " NOT_SUPPORTED ": the most is %d",
                    n, DOMAIN_MAX_VCPUS);
        return false;
    }
    if (current) {
        if (!parse_uint(current, UINT_MAX, &cur,
                        "attribute 'current' of element 'vcpu'", errp)) {
            return false;
        }
        if (cur > n) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                        "the current vcpu count %" PRIu64 " exceeds the "
                        "vcpu count %" PRIu64, cur, n);
            return false;
        }
        if (cur < n) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                        "vcpu hotplug (current='%" PRIu64 "' below %"
                        PRIu64 " vcpus) " NOT_SUPPORTED, cur, n);
            return false;
        }
    }
    def->vcpus = (unsigned int)n;
    return true;
}

static bool check_name(const char *name, GError **errp)
{
    if (strchr(name, '/')) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                    "name '%s' cannot contain '/'", name);
        return false;
    }
    for (const char *p = name; *p; p++) {
        if (g_ascii_iscntrl(*p)) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                        "name '%s' cannot contain control characters",
                        name);
            return false;
        }
    }
    return true;
}

static bool parse_os(DomainDef *def, xmlNodePtr os, GError **errp)
{
    def->os.kernel = text(child(os, "kernel"));
    def->os.initrd = text(child(os, "initrd"));
    def->os.cmdline = text(child(os, "cmdline"));
    if (def->os.kernel) {
        g_strstrip(def->os.kernel);
    }
    if (def->os.initrd) {
        g_strstrip(def->os.initrd);
    }
    if (!def->os.kernel) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_CONFIG_UNSUPPORTED,
                    "domain '%s' has no kernel: the kestrel driver boots "
                    "a kernel directly, without firmware, so element "
                    "'kernel' is required in 'os'", def->name);
        return false;
    }
    return true;
}


static void timer_free(gpointer p)
{
    DomainTimer *t = p;

    if (!t) {
        return;
    }
    g_free(t->name);
    g_free(t->tickpolicy);
    g_free(t->present);
    g_free(t);
}

static DomainTimer *timer_copy(const DomainTimer *src)
{
    DomainTimer *t = g_new(DomainTimer, 1);

    t->name = g_strdup(src->name);
    t->tickpolicy = g_strdup(src->tickpolicy);
    t->present = g_strdup(src->present);
    return t;
}

/* <clock offset='utc'> and its timers (the policy table chose the values) */
static void parse_clock(DomainDef *def, xmlNodePtr clock)
{
    for (xmlNodePtr c = clock ? clock->children : NULL; c; c = c->next) {
        DomainTimer *t;

        if (c->type != XML_ELEMENT_NODE ||
            !g_str_equal((const char *)c->name, "timer")) {
            continue;
        }
        t = g_new0(DomainTimer, 1);
        t->name = attr(c, "name");
        t->tickpolicy = attr(c, "tickpolicy");
        t->present = attr(c, "present");
        g_ptr_array_add(def->timers, t);
    }
}

static bool parse_topology_count(xmlNodePtr topo, const char *name,
                                 unsigned int *out, GError **errp)
{
    g_autofree char *v = attr(topo, name);
    g_autofree char *what = NULL;
    uint64_t n;

    if (!v) {
        return true;
    }
    what = g_strdup_printf("attribute '%s' of the CPU topology", name);
    if (!parse_uint(v, DOMAIN_MAX_VCPUS, &n, what, errp)) {
        return false;
    }
    if (n == 0) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                    "invalid CPU topology: %s must be at least 1", name);
        return false;
    }
    *out = (unsigned int)n;
    return true;
}

static bool parse_cpu(DomainDef *def, xmlNodePtr cpu, GError **errp)
{
    xmlNodePtr topo = child(cpu, "topology");
    g_autofree char *mode = attr(cpu, "mode");
    g_autofree char *check = attr(cpu, "check");
    DomainCpu *c = &def->cpu;

    if (!cpu) {
        return true;
    }
    c->given = true;
    c->passthrough = mode != NULL;      /* the table allows only this mode */
    c->check_none = check != NULL;
    c->migratable = parse_onoff(cpu, "migratable");
    if (!topo) {
        return true;
    }
    /* libvirt: all four default to 1 */
    c->sockets = c->dies = c->cores = c->threads = 1;
    if (!parse_topology_count(topo, "sockets", &c->sockets, errp) ||
        !parse_topology_count(topo, "dies", &c->dies, errp) ||
        !parse_topology_count(topo, "cores", &c->cores, errp) ||
        !parse_topology_count(topo, "threads", &c->threads, errp)) {
        return false;
    }
    if ((uint64_t)c->sockets * c->dies * c->cores * c->threads !=
        def->vcpus) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                    "CPU topology doesn't match maximum vcpu count: "
                    "sockets %u * dies %u * cores %u * threads %u is not "
                    "%u", c->sockets, c->dies, c->cores, c->threads,
                    def->vcpus);
        return false;
    }
    return true;
}

/* <os><type machine>: kestrel answers to kestrel, pc and pc-i440fx-*. */
static void parse_machine(DomainDef *def, xmlNodePtr os)
{
    def->machine = attr(child(os, "type"), "machine");
}

static bool attr_is(xmlNodePtr node, const char *name, const char *value)
{
    g_autofree char *v = attr(node, name);

    return v && g_str_equal(v, value);
}

/* What the policy table accepted as trivially true: kept for dumpxml. */
static bool parse_trivia(DomainDef *def, xmlNodePtr root, GError **errp)
{
    DomainTrivia *t = &def->trivia;
    xmlNodePtr pm = child(root, "pm");
    xmlNodePtr devices = child(root, "devices");
    xmlNodePtr seclabel = child(root, "seclabel");

    t->boot_hd = child(child(root, "os"), "boot") != NULL;
    t->vmport_off = child(child(root, "features"), "vmport") != NULL;
    t->pm = pm != NULL;
    t->s3 = child(pm, "suspend-to-mem") ? DOMAIN_TRISTATE_OFF
                                        : DOMAIN_TRISTATE_ABSENT;
    t->s4 = child(pm, "suspend-to-disk") ? DOMAIN_TRISTATE_OFF
                                         : DOMAIN_TRISTATE_ABSENT;
    t->seclabel_none = seclabel != NULL;
    t->seclabel_model_none = attr_is(seclabel, "model", "none");
    for (xmlNodePtr c = devices ? devices->children : NULL; c; c = c->next) {
        const char *name = (const char *)c->name;

        if (c->type != XML_ELEMENT_NODE) {
            continue;
        }
        if (g_str_equal(name, "controller")) {
            if (attr_is(c, "type", "usb")) {
                t->usb_none = true;
            } else {
                t->pci_root = true;
            }
        } else if (g_str_equal(name, "audio")) {
            g_autofree char *id = attr(c, "id");
            uint64_t n;

            if (!parse_uint(id, INT_MAX, &n, "attribute 'id' of element "
                            "'audio'", errp)) {
                return false;
            }
            t->audio_id = (unsigned int)n;
        } else if (g_str_equal(name, "video")) {
            t->video_none = true;
        }
    }
    return true;
}

/*
 * <metadata> exactly as written, namespace declarations made local to it
 * (a prefix declared on <domain> is copied onto <metadata>).
 */
static char *metadata_dump(xmlNodePtr node)
{
    xmlDocPtr doc;
    xmlNodePtr copy;
    xmlBufferPtr buf;
    char *out;

    if (!node) {
        return NULL;
    }
    doc = xmlNewDoc(BAD_CAST "1.0");
    copy = xmlDocCopyNode(node, doc, 1);
    xmlDocSetRootElement(doc, copy);
    buf = xmlBufferCreate();
    xmlNodeDump(buf, doc, copy, 1, 0);
    out = g_strdup((const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
    xmlFreeDoc(doc);
    return out;
}

static DomainDef *domain_def_new(void)
{
    DomainDef *def = g_new0(DomainDef, 1);

    def->serials = g_ptr_array_new_with_free_func(chr_free);
    def->timers = g_ptr_array_new_with_free_func(timer_free);
    def->disks = g_ptr_array_new_with_free_func(domain_disk_free);
    def->nets = g_ptr_array_new_with_free_func(domain_net_free);
    def->on_poweroff = DOMAIN_LIFECYCLE_DESTROY;
    def->on_reboot = DOMAIN_LIFECYCLE_RESTART;
    def->on_crash = DOMAIN_LIFECYCLE_DESTROY;
    def->acpi = true;
    return def;
}

static DomainDef *def_from_tree(xmlNodePtr root, GError **errp)
{
    g_autoptr(DomainDef) def = domain_def_new();
    xmlNodePtr features = child(root, "features");
    xmlNodePtr devices = child(root, "devices");
    xmlNodePtr cur = child(root, "currentMemory");
    g_autofree char *uuid = text(child(root, "uuid"));

    def->name = text(child(root, "name"));
    if (!check_name(def->name, errp)) {
        return NULL;
    }
    if (uuid) {
        if (!parse_uuid(uuid, def->uuid, errp)) {
            return NULL;
        }
    } else {
        uuid_generate(def->uuid);
    }
    def->title = text(child(root, "title"));
    if (def->title && strchr(def->title, '\n')) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                    "the title of domain '%s' cannot contain newlines",
                    def->name);
        return NULL;
    }
    def->description = text(child(root, "description"));
    def->metadata = metadata_dump(child(root, "metadata"));

    if (!child(root, "memory")) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                    "Memory size must be specified via <memory> or in the "
                    "<numa> configuration");
        return NULL;
    }
    if (!parse_memory(child(root, "memory"), &def->memory_kib, errp)) {
        return NULL;
    }
    if (def->memory_kib == 0) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                    "the memory size of domain '%s' must not be zero",
                    def->name);
        return NULL;
    }
    def->current_kib = def->memory_kib;
    if (cur && !parse_memory(cur, &def->current_kib, errp)) {
        return NULL;
    }
    /* as libvirt: a balloon target of 0 or above the memory means all */
    if (def->current_kib == 0 || def->current_kib > def->memory_kib) {
        def->current_kib = def->memory_kib;
    }

    if (!parse_mem_backing(def, child(root, "memoryBacking"), errp)) {
        return NULL;
    }

    if (!parse_vcpu(def, child(root, "vcpu"), errp) ||
        !parse_os(def, child(root, "os"), errp) ||
        !parse_cpu(def, child(root, "cpu"), errp) ||
        !parse_trivia(def, root, errp)) {
        return NULL;
    }
    parse_machine(def, child(root, "os"));
    parse_clock(def, child(root, "clock"));
    def->apic = child(features, "apic") != NULL;
    def->pae = child(features, "pae") != NULL;
    parse_lifecycle(root, "on_poweroff", &def->on_poweroff);
    parse_lifecycle(root, "on_reboot", &def->on_reboot);
    parse_lifecycle(root, "on_crash", &def->on_crash);

    def->emulator = text(child(devices, "emulator"));
    if (def->emulator) {
        g_strstrip(def->emulator);
    }
    if (!parse_serials(def, devices, errp) ||
        !parse_balloon(def, devices, errp) ||
        !domain_conf_parse_devices(def, devices, errp)) {
        return NULL;
    }
    for (guint i = 0; i < def->serials->len; i++) {
        DomainChr *c = g_ptr_array_index(def->serials, i);

        if (c->type == DOMAIN_CHR_PTY) {
            continue;
        }
        if (!c->path) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                        "Missing source path attribute for char device");
            return NULL;
        }
        if (!g_path_is_absolute(c->path)) {
            g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                        "the source path '%s' of serial port %u must be "
                        "absolute", c->path, c->port);
            return NULL;
        }
    }
    if (def->balloon.alias) {
        for (guint i = 0; i < def->serials->len; i++) {
            DomainChr *c = g_ptr_array_index(def->serials, i);

            if (!g_strcmp0(c->alias, def->balloon.alias)) {
                g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                            "alias '%s' is used by two devices", c->alias);
                return NULL;
            }
        }
    }
    return g_steal_pointer(&def);
}

DomainDef *domain_def_parse_string(const char *xml, unsigned int flags,
                                   GError **errp)
{
    const unsigned int known = DOMAIN_DEF_PARSE_VALIDATE |
                               DOMAIN_DEF_PARSE_INACTIVE;
    xmlParserCtxtPtr pctxt;
    xmlDocPtr doc;
    xmlNodePtr root;
    const Schema *s;
    DomainDef *def = NULL;

    if (flags & ~known) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_INVALID_ARG,
                    "unsupported flags (0x%x) in function %s",
                    flags & ~known, G_STRFUNC);
        return NULL;
    }
    if (!(s = domain_conf_schema_get(errp))) {
        return NULL;
    }
    if (strlen(xml) > INT_MAX) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                    "the domain XML is too large");
        return NULL;
    }

    pctxt = xmlNewParserCtxt();
    doc = xmlCtxtReadMemory(pctxt, xml, (int)strlen(xml), NULL, NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR |
                            XML_PARSE_NOWARNING);
    if (!doc) {
        xmlErrorPtr e = xmlCtxtGetLastError(pctxt);
        g_autofree char *msg = g_strdup(e && e->message ? e->message
                                        : "failed to parse the document");

        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_DETAIL, "%s:%d: %s",
                    XML_DOC_NAME, e ? e->line : 0, g_strchomp(msg));
        xmlFreeParserCtxt(pctxt);
        return NULL;
    }
    xmlFreeParserCtxt(pctxt);

    root = xmlDocGetRootElement(doc);
    if (doc->intSubset || doc->extSubset) {
        /* entities would let a small document expand without bound */
        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                    "a document type declaration (<!DOCTYPE>) is not "
                    "accepted in domain XML");
        goto out;
    }
    if (!root || root->ns || !g_str_equal((const char *)root->name,
                                          "domain")) {
        g_set_error(errp, DRV_ERROR, DRV_ERR_XML_ERROR,
                    "unexpected root element <%s>, expecting <domain>",
                    root ? (const char *)root->name : "");
        goto out;
    }

    if (!domain_conf_schema_validate(s, doc, errp) ||
        !domain_conf_policy_check(root, errp)) {
        goto out;
    }
    def = def_from_tree(root, errp);

 out:
    xmlFreeDoc(doc);
    return def;
}

/* ---- copy, compare, free ---------------------------------------------- */

DomainDef *domain_def_copy(const DomainDef *src)
{
    DomainDef *def = g_new(DomainDef, 1);

    *def = *src;
    def->name = g_strdup(src->name);
    def->title = g_strdup(src->title);
    def->description = g_strdup(src->description);
    def->os.kernel = g_strdup(src->os.kernel);
    def->os.initrd = g_strdup(src->os.initrd);
    def->os.cmdline = g_strdup(src->os.cmdline);
    def->emulator = g_strdup(src->emulator);
    def->serials = g_ptr_array_new_with_free_func(chr_free);
    for (guint i = 0; i < src->serials->len; i++) {
        g_ptr_array_add(def->serials,
                        chr_copy(g_ptr_array_index(src->serials, i)));
    }
    def->balloon.alias = g_strdup(src->balloon.alias);
    def->metadata = g_strdup(src->metadata);
    def->machine = g_strdup(src->machine);
    def->timers = g_ptr_array_new_with_free_func(timer_free);
    for (guint i = 0; i < src->timers->len; i++) {
        g_ptr_array_add(def->timers,
                        timer_copy(g_ptr_array_index(src->timers, i)));
    }
    def->disks = g_ptr_array_new_with_free_func(domain_disk_free);
    for (guint i = 0; i < src->disks->len; i++) {
        g_ptr_array_add(def->disks,
                        domain_disk_copy(g_ptr_array_index(src->disks, i)));
    }
    def->nets = g_ptr_array_new_with_free_func(domain_net_free);
    for (guint i = 0; i < src->nets->len; i++) {
        g_ptr_array_add(def->nets,
                        domain_net_copy(g_ptr_array_index(src->nets, i)));
    }
    return def;
}

static bool chr_equal(const DomainChr *a, const DomainChr *b)
{
    return chr_same_source(a, b) && a->port == b->port &&
           g_strcmp0(a->alias, b->alias) == 0;
}

static bool balloon_equal(const DomainBalloon *a, const DomainBalloon *b)
{
    return a->model == b->model && a->stats_period == b->stats_period &&
           a->autodeflate == b->autodeflate &&
           a->free_page_reporting == b->free_page_reporting &&
           g_strcmp0(a->alias, b->alias) == 0 &&
           a->has_address == b->has_address &&
           (!a->has_address || a->pci_slot == b->pci_slot);
}

static bool mem_backing_equal(const DomainMemBacking *a,
                              const DomainMemBacking *b)
{
    return a->given == b->given && a->hugepages == b->hugepages &&
           a->hugepage_kib == b->hugepage_kib && a->source == b->source &&
           a->access == b->access && a->immediate == b->immediate &&
           a->ondemand == b->ondemand && a->threads == b->threads &&
           a->locked == b->locked && a->nosharepages == b->nosharepages &&
           a->discard == b->discard;
}

static bool cpu_equal(const DomainCpu *a, const DomainCpu *b)
{
    return a->given == b->given && a->passthrough == b->passthrough &&
           a->check_none == b->check_none &&
           a->migratable == b->migratable && a->sockets == b->sockets &&
           a->dies == b->dies && a->cores == b->cores &&
           a->threads == b->threads;
}

static bool trivia_equal(const DomainTrivia *a, const DomainTrivia *b)
{
    return a->boot_hd == b->boot_hd && a->vmport_off == b->vmport_off &&
           a->pm == b->pm && a->s3 == b->s3 && a->s4 == b->s4 &&
           a->usb_none == b->usb_none && a->pci_root == b->pci_root &&
           a->audio_id == b->audio_id && a->video_none == b->video_none &&
           a->seclabel_none == b->seclabel_none &&
           a->seclabel_model_none == b->seclabel_model_none;
}

bool domain_def_equal(const DomainDef *a, const DomainDef *b)
{
    if (g_strcmp0(a->name, b->name) || memcmp(a->uuid, b->uuid, 16) ||
        g_strcmp0(a->title, b->title) ||
        g_strcmp0(a->description, b->description) ||
        a->memory_kib != b->memory_kib || a->current_kib != b->current_kib ||
        !mem_backing_equal(&a->mem_backing, &b->mem_backing) ||
        a->vcpus != b->vcpus || g_strcmp0(a->os.kernel, b->os.kernel) ||
        g_strcmp0(a->os.initrd, b->os.initrd) ||
        g_strcmp0(a->os.cmdline, b->os.cmdline) || a->acpi != b->acpi ||
        a->apic != b->apic || a->pae != b->pae ||
        a->on_poweroff != b->on_poweroff || a->on_reboot != b->on_reboot ||
        a->on_crash != b->on_crash || g_strcmp0(a->emulator, b->emulator) ||
        a->serials->len != b->serials->len ||
        !balloon_equal(&a->balloon, &b->balloon) ||
        g_strcmp0(a->metadata, b->metadata) ||
        g_strcmp0(a->machine ? a->machine : "kestrel",
                  b->machine ? b->machine : "kestrel") ||
        !cpu_equal(&a->cpu, &b->cpu) ||
        !trivia_equal(&a->trivia, &b->trivia) ||
        !domain_devices_equal(a, b) ||
        a->timers->len != b->timers->len) {
        return false;
    }
    for (guint i = 0; i < a->timers->len; i++) {
        const DomainTimer *ta = g_ptr_array_index(a->timers, i);
        const DomainTimer *tb = g_ptr_array_index(b->timers, i);

        if (g_strcmp0(ta->name, tb->name) ||
            g_strcmp0(ta->tickpolicy, tb->tickpolicy) ||
            g_strcmp0(ta->present, tb->present)) {
            return false;
        }
    }
    for (guint i = 0; i < a->serials->len; i++) {
        if (!chr_equal(g_ptr_array_index(a->serials, i),
                       g_ptr_array_index(b->serials, i))) {
            return false;
        }
    }
    return true;
}

void domain_def_free(DomainDef *def)
{
    if (!def) {
        return;
    }
    g_free(def->name);
    g_free(def->title);
    g_free(def->description);
    g_free(def->os.kernel);
    g_free(def->os.initrd);
    g_free(def->os.cmdline);
    g_free(def->emulator);
    g_ptr_array_unref(def->serials);
    g_free(def->balloon.alias);
    g_free(def->metadata);
    g_free(def->machine);
    g_ptr_array_unref(def->timers);
    g_clear_pointer(&def->disks, g_ptr_array_unref);
    g_clear_pointer(&def->nets, g_ptr_array_unref);
    g_free(def);
}
