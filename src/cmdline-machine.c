/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmdline-machine: the machine, accelerator, CPU model, RAM size and CPU
 * topology (-machine, -accel, -enable-kvm, -cpu, -m, -smp), and what
 * guest RAM is made of (-object memory-backend-*, -machine memory-backend=,
 * -mem-path, -mem-prealloc, -overcommit mem-lock).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cmdline-internal.h"
#include "error.h"
#include "keyval.h"

#define CMDLINE_MAX_CPUS 255
#define CMDLINE_MIB (UINT64_C(1) << 20)
#define CMDLINE_RAM_ALIGN UINT64_C(8192)

static const char *const smp_keys[SMP__MAX] = {
    [SMP_CPUS] = "cpus",
    [SMP_MAXCPUS] = "maxcpus",
    [SMP_SOCKETS] = "sockets",
    [SMP_DIES] = "dies",
    [SMP_CLUSTERS] = "clusters",
    [SMP_CORES] = "cores",
    [SMP_THREADS] = "threads",
};

typedef struct {
    const char *name;
    const char *desc;
} CmdlineName;

/* -machine help; the first is the default. */
static const CmdlineName cmdline_machines[] = {
    { "kestrel", "Kestrel KVM machine: direct kernel boot, PCI, ACPI" },
    { "none", "empty machine (no guest), for capability probing" },
    { "pc", "the kestrel machine, under the name libvirt's QEMU driver "
      "knows (query-machines reports it so)" },
};

static const CmdlineName cmdline_cpus[] = {
    { "host", "the host CPU, as KVM exposes it (default)" },
    { "max", "same as host" },
};

static void cmdline_print_names(FILE *out, const char *title,
                                const CmdlineName *names, size_t n)
{
    fprintf(out, "%s\n", title);
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "%-20s %s\n", names[i].name, names[i].desc);
    }
}

bool cmdline_opt_accel(CmdlineState *s, const char *arg, GError **errp)
{
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "accel", errp);
    const char *accel;

    if (!kv) {
        return false;
    }
    accel = keyval_get_str(kv, "accel");
    if (keyval_is_help(accel)) {
        fprintf(s->out, "Accelerators supported by kestrel:\nkvm\nqtest\n");
        s->exit = true;
        return true;
    }
    if (!accel) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Parameter 'accel' is missing");
        return false;
    }
    if (g_str_equal(accel, "qtest")) {
        /* QEMU's test accelerator: the machine without running vCPUs,
         * driven through -qtest (src/qtest.h). */
        if (!keyval_check_unused(kv, errp)) {
            return false;
        }
        s->cfg->qtest_accel = true;
        return true;
    }
    if (!g_str_equal(accel, "kvm")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "accelerator '%s' is not supported by kestrel: "
                    "use -accel kvm", accel);
        return false;
    }
    if (!keyval_check_unused(kv, errp)) {
        return false;
    }
    s->cfg->kvm_requested = true;
    return true;
}

bool cmdline_opt_cpu(CmdlineState *s, const char *arg, GError **errp)
{
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "model", errp);
    const char *model;

    if (!kv) {
        return false;
    }
    model = keyval_get_str(kv, "model");
    if (keyval_is_help(model)) {
        cmdline_print_names(s->out, "Available CPUs:", cmdline_cpus,
                            G_N_ELEMENTS(cmdline_cpus));
        s->exit = true;
        return true;
    }
    if (!model || (!g_str_equal(model, "host") &&
                   !g_str_equal(model, "max"))) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "CPU model '%s' is not supported by kestrel: "
                    "use -cpu host or -cpu max", model ? model : "");
        return false;
    }
    if (keyval_first_unused(kv)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "CPU property '%s' is not supported by kestrel",
                    keyval_first_unused(kv));
        return false;
    }
    g_free(s->cfg->cpu_model);
    s->cfg->cpu_model = g_strdup(model);
    return true;
}

bool cmdline_opt_enable_kvm(CmdlineState *s, const char *arg, GError **errp)
{
    s->cfg->kvm_requested = true;
    return true;
}

bool cmdline_opt_m(CmdlineState *s, const char *arg, GError **errp)
{
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "size", errp);
    const char *size;
    uint64_t bytes;
    size_t len;

    if (!kv) {
        return false;
    }
    if (keyval_has(kv, "slots") || keyval_has(kv, "maxmem")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "memory hotplug (slots, maxmem) is not supported by "
                    "kestrel");
        return false;
    }
    size = keyval_get_str(kv, "size");
    if (!keyval_check_unused(kv, errp)) {
        return false;
    }
    if (!size) {
        return true;                    /* "-m ''": nothing to change */
    }
    /* as QEMU: a value ending in a digit counts MiB ("-m 512") */
    len = strlen(size);
    if (!keyval_parse_size("size", size,
                           len && g_ascii_isdigit(size[len - 1]) ?
                           CMDLINE_MIB : 1, &bytes, errp)) {
        return false;
    }
    if (bytes == 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Parameter 'size' must be greater than zero");
        return false;
    }
    if (bytes > UINT64_MAX - (CMDLINE_RAM_ALIGN - 1)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Value '%s' is out of range for parameter 'size'", size);
        return false;
    }
    s->ram_size_given = true;
    /* QEMU rounds RAM up to 8 KiB */
    s->cfg->ram_size = (bytes + CMDLINE_RAM_ALIGN - 1) &
                       ~(CMDLINE_RAM_ALIGN - 1);
    return true;
}

bool cmdline_opt_machine(CmdlineState *s, const char *arg, GError **errp)
{
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "type", errp);
    const char *type;
    const char *accel;
    const char *memdev;
    bool merge;

    if (!kv) {
        return false;
    }
    type = keyval_get_str(kv, "type");
    if (keyval_is_help(type)) {
        fprintf(s->out, "Supported machines are:\n");
        for (guint i = 0; i < G_N_ELEMENTS(cmdline_machines); i++) {
            fprintf(s->out, "%-20s %s%s\n", cmdline_machines[i].name,
                    cmdline_machines[i].desc, i == 0 ? " (default)" : "");
        }
        s->exit = true;
        return true;
    }
    if (type) {
        guint i;

        for (i = 0; i < G_N_ELEMENTS(cmdline_machines); i++) {
            if (g_str_equal(cmdline_machines[i].name, type)) {
                break;
            }
        }
        if (i == G_N_ELEMENTS(cmdline_machines)) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                        "unsupported machine type '%s'; use -machine help "
                        "to list supported machines", type);
            return false;
        }
    }
    /* The board's fixed features, under the properties libvirt sets. */
    if (!cmdline_only_bool(kv, "usb", false, "it has no USB", errp) ||
        !cmdline_only_bool(kv, "hpet", false, "it has no HPET", errp) ||
        !cmdline_only_bool(kv, "vmport", false,
                           "it has no VMware I/O port", errp) ||
        !cmdline_only_bool(kv, "acpi", true,
                           "its machine always has ACPI", errp) ||
        !cmdline_only_bool(kv, "dump-guest-core", false,
                           "it never dumps core (guest RAM included)",
                           errp)) {
        return false;
    }
    if (!keyval_get_bool(kv, "mem-merge", s->cfg->mem_merge, &merge, errp)) {
        return false;
    }
    memdev = keyval_get_str(kv, "memory-backend");
    accel = keyval_get_str(kv, "accel");
    if (accel) {
        g_auto(GStrv) list = g_strsplit(accel, ":", -1);

        if (g_str_equal(accel, "qtest")) {
            s->cfg->qtest_accel = true;
        } else if (!g_strv_contains((const char *const *)list, "kvm")) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                        "accelerator list '%s' does not contain kvm, the only "
                        "accelerator kestrel supports", accel);
            return false;
        }
    }
    if (!keyval_check_unused(kv, errp)) {
        return false;
    }
    /* repeated -machine options merge, as in QEMU */
    if (type) {
        g_free(s->cfg->machine);
        s->cfg->machine = g_strdup(type);
    }
    if (accel && !s->cfg->qtest_accel) {
        s->cfg->kvm_requested = true;
    }
    if (memdev) {
        g_free(s->cfg->ram_memdev);
        s->cfg->ram_memdev = g_strdup(memdev);
    }
    s->cfg->mem_merge = merge;
    return true;
}

bool cmdline_opt_smp(CmdlineState *s, const char *arg, GError **errp)
{
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "cpus", errp);
    uint64_t val[SMP__MAX];

    if (!kv) {
        return false;
    }
    for (int k = 0; k < SMP__MAX; k++) {
        if (!keyval_get_uint(kv, smp_keys[k], 0, G_MAXUINT32, &val[k],
                             errp)) {
            return false;
        }
        if (keyval_has(kv, smp_keys[k]) && val[k] == 0) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "Invalid CPU topology: CPU topology parameters must "
                        "be greater than zero");
            return false;
        }
    }
    if (!keyval_check_unused(kv, errp)) {
        return false;
    }
    /* repeated -smp options merge, key by key, as in QEMU */
    for (int k = 0; k < SMP__MAX; k++) {
        if (val[k]) {
            s->smp[k] = val[k];
        }
    }
    return true;
}

bool cmdline_finish_smp(CmdlineState *s, GError **errp)
{
    VmConfig *cfg = s->cfg;
    uint64_t cpus = s->smp[SMP_CPUS];
    uint64_t maxcpus = s->smp[SMP_MAXCPUS];
    uint64_t sockets = s->smp[SMP_SOCKETS];
    uint64_t dies = s->smp[SMP_DIES] ? s->smp[SMP_DIES] : 1;
    uint64_t cores = s->smp[SMP_CORES];
    uint64_t threads = s->smp[SMP_THREADS];
    uint64_t total;
    g_autofree char *topo = NULL;

    if (s->smp[SMP_CLUSTERS] > 1) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "clusters > 1 not supported by this machine's CPU "
                    "topology");
        return false;
    }

    /* QEMU's derivation (since 6.2): prefer cores over sockets */
    if (cpus == 0 && maxcpus == 0) {
        sockets = sockets ? sockets : 1;
        cores = cores ? cores : 1;
        threads = threads ? threads : 1;
    } else {
        maxcpus = maxcpus ? maxcpus : cpus;
        if (cores == 0) {
            sockets = sockets ? sockets : 1;
            threads = threads ? threads : 1;
            cores = maxcpus / (sockets * dies * threads);
        } else if (sockets == 0) {
            threads = threads ? threads : 1;
            sockets = maxcpus / (dies * cores * threads);
        }
        if (threads == 0) {
            threads = maxcpus / (sockets * dies * cores);
        }
    }
    /* each member fits 32 bits, so saturate rather than wrap */
    if (__builtin_mul_overflow(sockets, dies, &total) ||
        __builtin_mul_overflow(total, cores, &total) ||
        __builtin_mul_overflow(total, threads, &total)) {
        total = UINT64_MAX;
    }
    maxcpus = maxcpus ? maxcpus : total;
    cpus = cpus ? cpus : maxcpus;

    topo = g_strdup_printf("sockets (%" G_GUINT64_FORMAT ") * dies (%"
                           G_GUINT64_FORMAT ") * cores (%" G_GUINT64_FORMAT
                           ") * threads (%" G_GUINT64_FORMAT ")",
                           sockets, dies, cores, threads);
    if (total != maxcpus) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Invalid CPU topology: product of the hierarchy must "
                    "match maxcpus: %s != maxcpus (%" G_GUINT64_FORMAT ")",
                    topo, maxcpus);
        return false;
    }
    if (maxcpus < cpus) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Invalid CPU topology: maxcpus must be equal to or "
                    "greater than smp: %s == maxcpus (%" G_GUINT64_FORMAT
                    ") < smp_cpus (%" G_GUINT64_FORMAT ")",
                    topo, maxcpus, cpus);
        return false;
    }
    if (maxcpus > CMDLINE_MAX_CPUS) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Invalid SMP CPUs %" G_GUINT64_FORMAT ". The max CPUs "
                    "supported by machine '%s' is %d", maxcpus, cfg->machine,
                    CMDLINE_MAX_CPUS);
        return false;
    }
    if (maxcpus != cpus) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "CPU hotplug is not supported by kestrel: maxcpus (%"
                    G_GUINT64_FORMAT ") must equal cpus (%" G_GUINT64_FORMAT
                    ")", maxcpus, cpus);
        return false;
    }
    cfg->cpus = (unsigned int)cpus;
    cfg->max_cpus = (unsigned int)maxcpus;
    cfg->sockets = (unsigned int)sockets;
    cfg->dies = (unsigned int)dies;
    cfg->cores = (unsigned int)cores;
    cfg->threads = (unsigned int)threads;
    return true;
}

/* --- guest RAM -------------------------------------------------------------- */

static const struct {
    const char *name;
    MemBackendType type;
} cmdline_mem_backends[] = {
    { "memory-backend-file", MEM_BACKEND_FILE },
    { "memory-backend-memfd", MEM_BACKEND_MEMFD },
    { "memory-backend-ram", MEM_BACKEND_RAM },
};

/* The properties of the three types that kestrel takes with one value
 * only, and why. */
static bool cmdline_mem_backend_fixed(KeyvalList *kv, GError **errp)
{
    static const char *const policy[] = { "default", NULL };

    if (keyval_has(kv, "host-nodes")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "Parameter 'host-nodes' is not supported by kestrel: "
                    "guest RAM is not bound to host NUMA nodes");
        return false;
    }
    return cmdline_only_str(kv, "policy", policy,
                            "guest RAM follows the host's NUMA policy",
                            errp) &&
           cmdline_only_bool(kv, "dump", false,
                             "guest RAM is never in a core dump", errp) &&
           cmdline_only_bool(kv, "reserve", true,
                             "huge pages are reserved when mapped", errp) &&
           cmdline_only_bool(kv, "readonly", false,
                             "guest RAM is writable", errp) &&
           cmdline_only_bool(kv, "pmem", false,
                             "guest RAM is not persistent memory", errp);
}

bool cmdline_object_memory_backend(CmdlineState *s, KeyvalList *kv,
                                   const char *type, const char *id,
                                   GError **errp)
{
    g_autoptr(MemBackendConfig) mb = g_new0(MemBackendConfig, 1);
    uint64_t threads;
    bool canonical;
    guint i;

    for (i = 0; i < G_N_ELEMENTS(cmdline_mem_backends); i++) {
        if (g_str_equal(cmdline_mem_backends[i].name, type)) {
            break;
        }
    }
    if (i == G_N_ELEMENTS(cmdline_mem_backends)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "object type '%s' is not supported by kestrel: memory "
                    "backends are 'memory-backend-ram', "
                    "'memory-backend-memfd' and 'memory-backend-file'", type);
        return false;
    }
    mb->type = cmdline_mem_backends[i].type;
    mb->id = g_strdup(id);
    if (!keyval_has(kv, "size")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "memory backend '%s': Parameter 'size' is missing", id);
        return false;
    }
    mb->merge_given = keyval_has(kv, "merge");
    if (!keyval_get_size(kv, "size", 0, &mb->size, errp) ||
        !keyval_get_bool(kv, "share", mb->type == MEM_BACKEND_MEMFD,
                         &mb->share, errp) ||
        !keyval_get_bool(kv, "prealloc", false, &mb->prealloc, errp) ||
        !keyval_get_uint(kv, "prealloc-threads", 1, 1024, &threads, errp) ||
        !keyval_get_bool(kv, "merge", true, &mb->merge, errp) ||
        /* Only names QEMU's RAM blocks in its migration stream; kestrel's
         * stream has none, so either value is what kestrel does. */
        !keyval_get_bool(kv, "x-use-canonical-path-for-ramblock-id", false,
                         &canonical, errp) ||
        !cmdline_mem_backend_fixed(kv, errp)) {
        return false;
    }
    if (mb->size == 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "memory backend '%s': can't create backend with size 0",
                    id);
        return false;
    }
    if (threads == 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "memory backend '%s': Parameter 'prealloc-threads' must "
                    "be at least 1", id);
        return false;
    }
    mb->prealloc_threads = (unsigned int)threads;
    if (mb->type == MEM_BACKEND_MEMFD) {
        if (!keyval_get_bool(kv, "hugetlb", false, &mb->hugetlb, errp) ||
            !keyval_get_size(kv, "hugetlbsize", 0, &mb->hugetlbsize, errp) ||
            !keyval_get_bool(kv, "seal", true, &mb->seal, errp)) {
            return false;
        }
        if (mb->hugetlbsize && !mb->hugetlb) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "memory backend '%s': hugetlbsize needs hugetlb=on",
                        id);
            return false;
        }
        if (mb->hugetlbsize && (mb->hugetlbsize & (mb->hugetlbsize - 1) ||
                                mb->hugetlbsize < 2 * CMDLINE_MIB)) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "memory backend '%s': hugetlbsize %" G_GUINT64_FORMAT
                        " is not a huge page size (2M, 1G)", id,
                        mb->hugetlbsize);
            return false;
        }
    }
    if (mb->type == MEM_BACKEND_FILE) {
        const char *path = keyval_get_str(kv, "mem-path");

        if (!path || !*path) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "memory backend '%s': mem-path property not set",
                        id);
            return false;
        }
        mb->mem_path = g_strdup(path);
        if (!keyval_get_bool(kv, "discard-data", false, &mb->discard_data,
                             errp)) {
            return false;
        }
        if (keyval_has(kv, "align")) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                        "Parameter 'align' is not supported by kestrel: "
                        "guest RAM is aligned to its page size");
            return false;
        }
    }
    if (!keyval_check_unused(kv, errp)) {
        return false;
    }
    g_ptr_array_add(s->cfg->mem_backends, g_steal_pointer(&mb));
    return true;
}

bool cmdline_opt_mem_path(CmdlineState *s, const char *arg, GError **errp)
{
    g_free(s->cfg->mem_path);
    s->cfg->mem_path = g_strdup(arg);
    return true;
}

bool cmdline_opt_mem_prealloc(CmdlineState *s, const char *arg,
                              GError **errp)
{
    s->cfg->mem_prealloc = true;
    return true;
}

bool cmdline_opt_overcommit(CmdlineState *s, const char *arg, GError **errp)
{
    g_autoptr(KeyvalList) kv = keyval_parse(arg, NULL, errp);

    if (!kv) {
        return false;
    }
    /* CPU power management stays with the host: only cpu-pm=off. */
    return keyval_get_bool(kv, "mem-lock", s->cfg->mem_lock,
                           &s->cfg->mem_lock, errp) &&
           cmdline_only_bool(kv, "cpu-pm", false,
                             "CPU power management stays with the host",
                             errp) &&
           keyval_check_unused(kv, errp);
}

/*
 * What guest RAM is made of, once every option is in: the backend
 * -machine memory-backend= names (whose size -m must agree with), else
 * -mem-path's file, else anonymous memory. A backend nothing uses is
 * refused rather than created for nothing.
 */
bool cmdline_finish_memory(CmdlineState *s, GError **errp)
{
    VmConfig *cfg = s->cfg;
    MemBackendConfig *mb = NULL;

    for (guint i = 0; i < cfg->mem_backends->len; i++) {
        MemBackendConfig *b = g_ptr_array_index(cfg->mem_backends, i);

        if (g_strcmp0(b->id, cfg->ram_memdev) == 0) {
            mb = b;
            continue;
        }
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "memory backend '%s' is not used: kestrel takes a memory "
                    "backend only as the machine's RAM (-machine "
                    "memory-backend=%s)", b->id, b->id);
        return false;
    }
    if (cfg->ram_memdev && !mb) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Memory backend '%s' not found", cfg->ram_memdev);
        return false;
    }
    if (mb && cfg->mem_path) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "'-mem-path' can't be used together with "
                    "'-machine memory-backend'");
        return false;
    }
    if (mb && s->ram_size_given && mb->size != cfg->ram_size) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Size specified by -m option must match size of "
                    "explicitly specified 'memory-backend' property");
        return false;
    }
    vm_config_mem_backend_free(cfg->ram_backend);
    if (mb) {
        cfg->ram_backend = vm_config_mem_backend_copy(mb);
        cfg->ram_size = mb->size;
    } else {
        cfg->ram_backend = g_new0(MemBackendConfig, 1);
        cfg->ram_backend->size = cfg->ram_size;
        cfg->ram_backend->prealloc_threads = 1;
        if (cfg->mem_path) {
            cfg->ram_backend->type = MEM_BACKEND_FILE;
            cfg->ram_backend->mem_path = g_strdup(cfg->mem_path);
        }
    }
    if (!cfg->ram_backend->merge_given) {
        cfg->ram_backend->merge = cfg->mem_merge;
    }
    /* -mem-prealloc: QEMU's machine-wide switch, whatever the backend. */
    cfg->ram_backend->prealloc |= cfg->mem_prealloc;
    return true;
}
