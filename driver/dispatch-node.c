/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Host procedures that need no VMM (virsh nodecpustats, nodememstats,
 * freecell, sysinfo, domxml-to-native) and a running domain's CPU time
 * (cpu-stats --total).  Semantics and words are those of libvirt 9.0's
 * Linux host code (virhostcpu.c, virhostmem.c) behind its QEMU driver:
 * ask with nparams 0 for the number of fields, then with that number.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "command.h"
#include "dispatch.h"
#include "domain-conf.h"
#include "virerror.h"

#define NODE_CPU_STATS_N 4          /* kernel, user, idle, iowait */
#define NODE_MEM_STATS_ALL_N 4      /* total, free, buffers, cached */
#define NODE_MEM_STATS_CELL_N 2     /* total, free */
#define DOMAIN_CPU_STATS_N 3        /* cpu_time, user_time, system_time */
#define TYPED_PARAM_ULLONG 4
#define TYPED_PARAM_STRING_OKAY (1u << 2)
#define NODE_SYSFS "/sys/devices/system/node"

static bool node_check_flags(unsigned int flags, unsigned int ok,
                             const char *fn, GError **errp)
{
    if (flags & ~ok) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                    "unsupported flags (0x%x) in function %s", flags & ~ok,
                    fn);
        return false;
    }
    return true;
}

static guint64 node_ns_per_tick(void)
{
    long tick = sysconf(_SC_CLK_TCK);

    return tick > 0 ? G_GUINT64_CONSTANT(1000000000) / tick : 10000000;
}

/* ---- nodeGetCPUStats: /proc/stat --------------------------------------- */

static RpcResult proc_node_get_cpu_stats(RpcCall *call, void *a, void *r,
                                         GError **errp)
{
    remote_node_get_cpu_stats_args *args = a;
    remote_node_get_cpu_stats_ret *ret = r;
    static const char *const names[NODE_CPU_STATS_N] = {
        "kernel", "user", "idle", "iowait",
    };
    g_autofree char *text = NULL;
    g_autofree char *head = NULL;
    g_auto(GStrv) lines = NULL;
    guint64 v[NODE_CPU_STATS_N] = { 0 };
    guint64 ns = node_ns_per_tick();
    bool found = false;
    int i;

    if (!node_check_flags(args->flags, 0, "virHostCPUGetStats", errp)) {
        return RPC_RESULT_ERROR;
    }
    if (args->nparams > REMOTE_NODE_CPU_STATS_MAX) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INTERNAL_ERROR,
                    "nparams too large");
        return RPC_RESULT_ERROR;
    }
    if (args->nparams == 0) {
        ret->nparams = NODE_CPU_STATS_N;
        return RPC_RESULT_OK;
    }
    if (args->nparams != NODE_CPU_STATS_N) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                    "nparams in virHostCPUGetStatsLinux must be equal to %d",
                    NODE_CPU_STATS_N);
        return RPC_RESULT_ERROR;
    }
    if (!g_file_get_contents("/proc/stat", &text, NULL, NULL)) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_SYSTEM_ERROR,
                    "cannot open /proc/stat");
        return RPC_RESULT_ERROR;
    }
    /* VIR_NODE_CPU_STATS_ALL_CPUS (-1) is the "cpu " line, the sum. */
    head = args->cpuNum == -1 ? g_strdup("cpu ")
                              : g_strdup_printf("cpu%d ", args->cpuNum);
    lines = g_strsplit(text, "\n", 0);
    for (char **l = lines; *l && !found; l++) {
        guint64 usr, nice, sys, idle, iowait = 0;

        if (!g_str_has_prefix(*l, head)) {
            continue;
        }
        if (sscanf(*l + strlen(head), "%" G_GUINT64_FORMAT " %"
                   G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %"
                   G_GUINT64_FORMAT " %" G_GUINT64_FORMAT, &usr, &nice,
                   &sys, &idle, &iowait) < 4) {
            g_set_error(errp, VIR_ERROR, VIR_ERR_INTERNAL_ERROR,
                        "cannot parse /proc/stat line '%s'", *l);
            return RPC_RESULT_ERROR;
        }
        /* libvirt's meanings: "user" includes niced time. */
        v[0] = sys * ns;
        v[1] = (usr + nice) * ns;
        v[2] = idle * ns;
        v[3] = iowait * ns;
        found = true;
    }
    if (!found) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                    "Invalid cpuNum in virHostCPUGetStatsLinux");
        return RPC_RESULT_ERROR;
    }
    ret->params.params_len = NODE_CPU_STATS_N;
    ret->params.params_val = g_new0(remote_node_get_cpu_stats,
                                    NODE_CPU_STATS_N);
    for (i = 0; i < NODE_CPU_STATS_N; i++) {
        ret->params.params_val[i].field = g_strdup(names[i]);
        ret->params.params_val[i].value = v[i];
    }
    ret->nparams = NODE_CPU_STATS_N;
    return RPC_RESULT_OK;
}

/* ---- nodeGetMemoryStats, nodeGetCellsFreeMemory ------------------------ */

/* The highest NUMA node of sysfs, or -1 without NUMA information. */
static int node_max_cell(void)
{
    g_autoptr(GDir) dir = g_dir_open(NODE_SYSFS, 0, NULL);
    const char *name;
    int max = -1;

    while (dir && (name = g_dir_read_name(dir))) {
        if (g_str_has_prefix(name, "node") && g_ascii_isdigit(name[4])) {
            max = MAX(max, atoi(name + 4));
        }
    }
    return max;
}

/*
 * The kB value of each of @keys ("MemTotal"...) in the meminfo file
 * @path, whose lines start with "Node N " for a cell.  False if a key is
 * missing.
 */
static bool node_meminfo(const char *path, const char *const *keys, int n,
                         guint64 *out, GError **errp)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    int found = 0;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_SYSTEM_ERROR,
                    "cannot open %s", path);
        return false;
    }
    lines = g_strsplit(text, "\n", 0);
    for (char **l = lines; *l; l++) {
        const char *p = *l;
        int i;

        if (g_str_has_prefix(p, "Node ")) {
            p = strchr(p + 5, ' ');
            if (!p) {
                continue;
            }
            p++;
        }
        for (i = 0; i < n; i++) {
            size_t len = strlen(keys[i]);

            if (!strncmp(p, keys[i], len) && p[len] == ':') {
                out[i] = g_ascii_strtoull(p + len + 1, NULL, 10);
                found |= 1 << i;
            }
        }
    }
    if (found != (1 << n) - 1) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INTERNAL_ERROR,
                    "no memory statistics in %s", path);
        return false;
    }
    return true;
}

static RpcResult proc_node_get_memory_stats(RpcCall *call, void *a, void *r,
                                            GError **errp)
{
    remote_node_get_memory_stats_args *args = a;
    remote_node_get_memory_stats_ret *ret = r;
    static const char *const keys[] = {
        "MemTotal", "MemFree", "Buffers", "Cached",
    };
    static const char *const names[] = { "total", "free", "buffers",
                                          "cached" };
    bool all = args->cellNum == -1;     /* VIR_NODE_MEMORY_STATS_ALL_CELLS */
    int n = all ? NODE_MEM_STATS_ALL_N : NODE_MEM_STATS_CELL_N;
    g_autofree char *path = NULL;
    guint64 v[NODE_MEM_STATS_ALL_N] = { 0 };
    int i;

    if (!node_check_flags(args->flags, 0, "virHostMemGetStats", errp)) {
        return RPC_RESULT_ERROR;
    }
    if (args->nparams > REMOTE_NODE_MEMORY_STATS_MAX) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INTERNAL_ERROR,
                    "nparams too large");
        return RPC_RESULT_ERROR;
    }
    if (all) {
        path = g_strdup("/proc/meminfo");
    } else {
        int max = node_max_cell();

        if (max < 0) {
            g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                        "NUMA isn't available on this host");
            return RPC_RESULT_ERROR;
        }
        if (args->cellNum < 0 || args->cellNum > max) {
            g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                        "cellNum in virHostMemGetStats must be less than or "
                        "equal to %d", max);
            return RPC_RESULT_ERROR;
        }
        path = g_strdup_printf(NODE_SYSFS "/node%d/meminfo", args->cellNum);
    }
    if (args->nparams == 0) {
        ret->nparams = n;
        return RPC_RESULT_OK;
    }
    if (args->nparams != n) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                    "nparams in virHostMemGetStats must be %d", n);
        return RPC_RESULT_ERROR;
    }
    if (!node_meminfo(path, keys, n, v, errp)) {
        return RPC_RESULT_ERROR;
    }
    ret->params.params_len = n;
    ret->params.params_val = g_new0(remote_node_get_memory_stats, n);
    for (i = 0; i < n; i++) {
        ret->params.params_val[i].field = g_strdup(names[i]);
        ret->params.params_val[i].value = v[i];     /* KiB */
    }
    ret->nparams = n;
    return RPC_RESULT_OK;
}

static RpcResult proc_node_get_cells_free_memory(RpcCall *call, void *a,
                                                 void *r, GError **errp)
{
    remote_node_get_cells_free_memory_args *args = a;
    remote_node_get_cells_free_memory_ret *ret = r;
    static const char *const keys[] = { "MemFree" };
    int max = node_max_cell(), last, cell;
    bool numa = max >= 0;

    if (args->maxcells > REMOTE_NODE_MAX_CELLS) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INTERNAL_ERROR,
                    "maxCells > REMOTE_NODE_MAX_CELLS");
        return RPC_RESULT_ERROR;
    }
    max = MAX(max, 0);          /* without NUMA: one cell, the host */
    if (args->startCell < 0 || args->startCell > max) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INTERNAL_ERROR,
                    "start cell %d out of range (0-%d)", args->startCell,
                    max);
        return RPC_RESULT_ERROR;
    }
    last = MIN(max, args->startCell + args->maxcells - 1);
    if (last < args->startCell) {
        return RPC_RESULT_OK;
    }
    ret->cells.cells_len = last - args->startCell + 1;
    ret->cells.cells_val = g_new0(guint64, ret->cells.cells_len);
    for (cell = args->startCell; cell <= last; cell++) {
        g_autofree char *path =
            numa ? g_strdup_printf(NODE_SYSFS "/node%d/meminfo", cell)
                 : g_strdup("/proc/meminfo");
        guint64 kib;

        if (!node_meminfo(path, keys, 1, &kib, errp)) {
            return RPC_RESULT_ERROR;
        }
        ret->cells.cells_val[cell - args->startCell] = kib * 1024;
    }
    return RPC_RESULT_OK;
}

/* ---- getSysinfo: the host's SMBIOS as the kernel read it --------------- */

typedef struct {
    const char *entry;          /* libvirt's entry name */
    const char *file;           /* under /sys/class/dmi/id */
} NodeDmiField;

static void node_sysinfo_group(GString *xml, const char *group,
                               const NodeDmiField *fields, size_t n)
{
    g_autoptr(GString) body = g_string_new(NULL);
    size_t i;

    for (i = 0; i < n; i++) {
        g_autofree char *path = g_build_filename("/sys/class/dmi/id",
                                                 fields[i].file, NULL);
        g_autofree char *v = NULL;
        g_autofree char *esc = NULL;

        /* Serials and the UUID are readable by root only. */
        if (!g_file_get_contents(path, &v, NULL, NULL) ||
            !*g_strstrip(v)) {
            continue;
        }
        esc = g_markup_escape_text(v, -1);
        g_string_append_printf(body, "    <entry name='%s'>%s</entry>\n",
                               fields[i].entry, esc);
    }
    if (body->len) {
        g_string_append_printf(xml, "  <%s>\n%s  </%s>\n", group, body->str,
                               group);
    }
}

static RpcResult proc_connect_get_sysinfo(RpcCall *call, void *a, void *r,
                                          GError **errp)
{
    remote_connect_get_sysinfo_args *args = a;
    remote_string_ret *ret = r;
    static const NodeDmiField bios[] = {
        { "vendor", "bios_vendor" }, { "version", "bios_version" },
        { "date", "bios_date" }, { "release", "bios_release" },
    };
    static const NodeDmiField sys[] = {
        { "manufacturer", "sys_vendor" }, { "product", "product_name" },
        { "version", "product_version" }, { "serial", "product_serial" },
        { "uuid", "product_uuid" }, { "sku", "product_sku" },
        { "family", "product_family" },
    };
    static const NodeDmiField board[] = {
        { "manufacturer", "board_vendor" }, { "product", "board_name" },
        { "version", "board_version" }, { "serial", "board_serial" },
        { "asset", "board_asset_tag" },
    };
    static const NodeDmiField chassis[] = {
        { "manufacturer", "chassis_vendor" },
        { "version", "chassis_version" }, { "serial", "chassis_serial" },
        { "asset", "chassis_asset_tag" },
    };
    g_autoptr(GString) xml = g_string_new("<sysinfo type='smbios'>\n");
    size_t empty = xml->len;

    if (!node_check_flags(args->flags, 0, "virConnectGetSysinfo", errp)) {
        return RPC_RESULT_ERROR;
    }
    node_sysinfo_group(xml, "bios", bios, G_N_ELEMENTS(bios));
    node_sysinfo_group(xml, "system", sys, G_N_ELEMENTS(sys));
    node_sysinfo_group(xml, "baseBoard", board, G_N_ELEMENTS(board));
    node_sysinfo_group(xml, "chassis", chassis, G_N_ELEMENTS(chassis));
    if (xml->len == empty) {
        /* No /sys/firmware/dmi (a VM without SMBIOS): the QEMU driver's
         * answer when it found no host sysinfo. */
        g_set_error(errp, VIR_ERROR, VIR_ERR_CONFIG_UNSUPPORTED,
                    "Host SMBIOS information is not available");
        return RPC_RESULT_ERROR;
    }
    g_string_append(xml, "</sysinfo>\n");
    ret->str = g_string_free(g_steal_pointer(&xml), false);
    return RPC_RESULT_OK;
}

/* ---- domxml-to-native: the command line the daemon would run ---------- */

static RpcResult proc_connect_domain_xml_to_native(RpcCall *call, void *a,
                                                   void *r, GError **errp)
{
    remote_connect_domain_xml_to_native_args *args = a;
    remote_connect_domain_xml_to_native_ret *ret = r;
    Driver *drv = dispatch_driver();
    g_autoptr(DomainDef) def = NULL;
    g_autofree char *qmp = NULL;
    g_autofree char *pid = NULL;
    g_autofree char *log = NULL;
    DomainCommandPaths paths = { 0 };
    g_autofree int *tap_fds = NULL;
    g_auto(GStrv) argv = NULL;
    g_autoptr(GString) out = g_string_new(NULL);

    if (!node_check_flags(args->flags, 0, "qemuConnectDomainXMLToNative",
                          errp)) {
        return RPC_RESULT_ERROR;
    }
    if (!g_str_equal(args->nativeFormat, "qemu-argv")) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                    "unsupported config type %s", args->nativeFormat);
        return RPC_RESULT_ERROR;
    }
    def = domain_def_parse_string(args->domainXml,
                                  DOMAIN_DEF_PARSE_INACTIVE, errp);
    if (!def) {
        return RPC_RESULT_ERROR;
    }
    /* The files process.c gives a domain of that name. */
    qmp = g_strdup_printf("%s/%s.qmp", drv->state_dir, def->name);
    pid = g_strdup_printf("%s/%s.pid", drv->state_dir, def->name);
    log = g_strdup_printf("%s/%s.log", drv->log_dir, def->name);
    paths.emulator = drv->emulator;
    paths.qmp_socket = qmp;
    paths.pidfile = pid;
    paths.logfile = log;
    /* the fds kestrel would inherit its taps as (process.c: 3 + i) */
    tap_fds = g_new0(int, def->nets->len + 1);
    for (guint i = 0; i < def->nets->len; i++) {
        tap_fds[i] = 3 + (int)i;
    }
    paths.net_fds = tap_fds;
    paths.n_net_fds = def->nets->len;
    argv = domain_command_build(def, &paths, DOMAIN_COMMAND_PAUSED |
                                DOMAIN_COMMAND_DAEMONIZE, errp);
    if (!argv) {
        return RPC_RESULT_ERROR;
    }
    /* One shell line, quoted only where the shell needs it, as libvirt's
     * virCommandToString() writes it. */
    for (char **p = argv; *p; p++) {
        bool plain = **p != '\0';

        for (const char *c = *p; *c && plain; c++) {
            plain = g_ascii_isalnum(*c) || strchr("-_=,./:@+%", *c);
        }
        if (p != argv) {
            g_string_append_c(out, ' ');
        }
        if (plain) {
            g_string_append(out, *p);
        } else {
            g_autofree char *q = g_shell_quote(*p);

            g_string_append(out, q);
        }
    }
    ret->nativeConfig = g_string_free(g_steal_pointer(&out), false);
    return RPC_RESULT_OK;
}

/* ---- domainGetCPUStats: the VMM's /proc/PID/stat ----------------------- */

/* utime and stime (ns) of @pid. */
static bool node_proc_times(pid_t pid, guint64 *user, guint64 *sys,
                            GError **errp)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *text = NULL;
    g_auto(GStrv) f = NULL;
    const char *p;

    if (!g_file_get_contents(path, &text, NULL, NULL) ||
        !(p = strrchr(text, ')')) ||
        g_strv_length(f = g_strsplit(p + 2, " ", 0)) < 13) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_FAILED,
                    "cannot read the CPU time of process %d", (int)pid);
        return false;
    }
    /* After "pid (comm)": state is field 3, utime 14 and stime 15. */
    *user = g_ascii_strtoull(f[11], NULL, 10) * node_ns_per_tick();
    *sys = g_ascii_strtoull(f[12], NULL, 10) * node_ns_per_tick();
    return true;
}

static RpcResult proc_domain_get_cpu_stats(RpcCall *call, void *a, void *r,
                                           GError **errp)
{
    remote_domain_get_cpu_stats_args *args = a;
    remote_domain_get_cpu_stats_ret *ret = r;
    static const char *const names[DOMAIN_CPU_STATS_N] = {
        "cpu_time", "user_time", "system_time",
    };
    g_autoptr(DomainObj) dom = NULL;
    guint64 v[DOMAIN_CPU_STATS_N];
    unsigned int i, n;

    if (args->nparams > REMOTE_NODE_CPU_STATS_MAX) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_RPC,
                    "nparams count exceeds maximum");
        return RPC_RESULT_ERROR;
    }
    if (args->ncpus > REMOTE_DOMAIN_GET_CPU_STATS_NCPUS_MAX) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_RPC,
                    "ncpus count exceeds maximum");
        return RPC_RESULT_ERROR;
    }
    if (!node_check_flags(args->flags, TYPED_PARAM_STRING_OKAY,
                          "qemuDomainGetCPUStats", errp)) {
        return RPC_RESULT_ERROR;
    }
    dom = dispatch_get_domain(&args->dom, errp);
    if (!dom || !domain_check_active(dom, errp)) {
        return RPC_RESULT_ERROR;
    }
    if (args->start_cpu != -1) {
        /* Per host CPU times come from the cpuacct cgroup libvirt puts
         * each domain in; kestrel runs without one: libvirt's words. */
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                    "cgroup CPUACCT controller is not mounted");
        return RPC_RESULT_ERROR;
    }
    if (args->nparams == 0) {
        ret->nparams = DOMAIN_CPU_STATS_N;
        return RPC_RESULT_OK;
    }
    if (!node_proc_times(dom->pid, &v[1], &v[2], errp)) {
        return RPC_RESULT_ERROR;
    }
    v[0] = v[1] + v[2];
    n = MIN(args->nparams, DOMAIN_CPU_STATS_N);
    ret->params.params_len = n;
    ret->params.params_val = g_new0(remote_typed_param, n);
    for (i = 0; i < n; i++) {
        remote_typed_param *p = &ret->params.params_val[i];

        p->field = g_strdup(names[i]);
        p->value.type = TYPED_PARAM_ULLONG;
        p->value.remote_typed_param_value_u.ul = v[i];
    }
    ret->nparams = n;
    return RPC_RESULT_OK;
}

const RpcProc dispatch_node_procs[] = {
    PROC(NODE_GET_CELLS_FREE_MEMORY, "virNodeGetCellsFreeMemory",
         remote_node_get_cells_free_memory_args,
         remote_node_get_cells_free_memory_ret,
         proc_node_get_cells_free_memory, RO),
    PROC(CONNECT_DOMAIN_XML_TO_NATIVE, "virConnectDomainXMLToNative",
         remote_connect_domain_xml_to_native_args,
         remote_connect_domain_xml_to_native_ret,
         proc_connect_domain_xml_to_native, RW),
    PROC(CONNECT_GET_SYSINFO, "virConnectGetSysinfo",
         remote_connect_get_sysinfo_args, remote_string_ret,
         proc_connect_get_sysinfo, RO),
    PROC(NODE_GET_CPU_STATS, "virNodeGetCPUStats",
         remote_node_get_cpu_stats_args, remote_node_get_cpu_stats_ret,
         proc_node_get_cpu_stats, RO),
    PROC(NODE_GET_MEMORY_STATS, "virNodeGetMemoryStats",
         remote_node_get_memory_stats_args, remote_node_get_memory_stats_ret,
         proc_node_get_memory_stats, RO),
    PROC(DOMAIN_GET_CPU_STATS, "virDomainGetCPUStats",
         remote_domain_get_cpu_stats_args, remote_domain_get_cpu_stats_ret,
         proc_domain_get_cpu_stats, RO),
};

const size_t dispatch_node_nprocs = G_N_ELEMENTS(dispatch_node_procs);
