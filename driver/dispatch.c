/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Connection and host procedures, the procedure table and domain events.
 * What clients send before and around CONNECT_OPEN is in
 * reference/libvirt-rpc.md section 4.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/sysinfo.h>

#include "dispatch.h"
#include "drv-error.h"
#include "virerror.h"

#define DISPATCH_LIB_VERSION 9000000    /* the libvirt API level we serve */
#define DISPATCH_EVENT_ID_LAST 27       /* VIR_DOMAIN_EVENT_ID_LAST in 9.0 */

/* virConnectSupportsFeature numbers (wire values). */
enum {
    FEATURE_MIGRATION_V3 = 6,
    FEATURE_MIGRATE_CHANGE_PROTECTION = 7,
    FEATURE_FD_PASSING = 8,
    FEATURE_TYPED_PARAM_STRING = 9,
    FEATURE_PROGRAM_KEEPALIVE = 10,
    FEATURE_XML_MIGRATABLE = 11,
    FEATURE_MIGRATION_OFFLINE = 12,
    FEATURE_MIGRATION_PARAMS = 13,
    FEATURE_REMOTE_EVENT_CALLBACK = 14,
    FEATURE_REMOTE_CLOSE_CALLBACK = 15,
    FEATURE_NETWORK_UPDATE_HAS_CORRECT_ORDER = 16,
};

typedef struct {
    int event_id;
    bool has_dom;
    unsigned char uuid[16];
} DispatchEventReg;

static Driver *driver;
static RpcServer *server;
static int next_callback_id = 1;

Driver *dispatch_driver(void)
{
    return driver;
}

void dispatch_make_domain(remote_nonnull_domain *out, DomainObj *dom)
{
    out->name = g_strdup(dom->name);
    memcpy(out->uuid, dom->uuid, 16);
    out->id = dom->id;
}

DomainObj *dispatch_get_domain(const remote_nonnull_domain *dom,
                               GError **errp)
{
    return domain_lookup_by_uuid(driver, (const unsigned char *)dom->uuid,
                                 errp);
}

static void dispatch_job_wake(void *opaque, bool timed_out)
{
    RpcCall *call = opaque;

    if (timed_out) {
        g_autoptr(GError) err =
            g_error_new(VIR_ERROR, VIR_ERR_OPERATION_TIMEOUT,
                        "cannot acquire state change lock (held by another "
                        "operation)");

        rpc_call_finish(call, err);
        return;
    }
    rpc_call_redispatch(call);
}

RpcResult dispatch_job_begin(RpcCall *call, DomainObj *dom, const char *job)
{
    if (domain_job_begin(dom, job, NULL)) {
        return RPC_RESULT_OK;
    }
    if (dom->async_job) {
        /* Refused at once: the async job may run for minutes. */
        g_autoptr(GError) err = NULL;

        domain_async_job_busy_error(dom, &err);
        rpc_call_finish(call, err);
        return RPC_RESULT_PENDING;
    }
    domain_job_wait(dom, dispatch_job_wake, call);
    return RPC_RESULT_PENDING;
}

static DrvConn *dispatch_conn(RpcCall *call)
{
    return rpc_conn_get_data(rpc_call_get_conn(call));
}

/* ---- connection ------------------------------------------------------- */

static RpcResult proc_auth_list(RpcCall *call, void *a, void *r,
                                GError **errp)
{
    remote_auth_list_ret *ret = r;

    ret->types.types_len = 1;
    ret->types.types_val = g_new0(remote_auth_type, 1);
    ret->types.types_val[0] = REMOTE_AUTH_NONE;
    return RPC_RESULT_OK;
}

static RpcResult proc_connect_supports_feature(RpcCall *call, void *a,
                                               void *r, GError **errp)
{
    remote_connect_supports_feature_args *args = a;
    remote_connect_supports_feature_ret *ret = r;

    switch (args->feature) {
    case FEATURE_PROGRAM_KEEPALIVE:
        rpc_conn_start_keepalive(rpc_call_get_conn(call));
        ret->supported = 1;
        break;
    case FEATURE_MIGRATION_V3:
    case FEATURE_MIGRATE_CHANGE_PROTECTION:
    case FEATURE_XML_MIGRATABLE:
    case FEATURE_MIGRATION_OFFLINE:
    case FEATURE_MIGRATION_PARAMS:
    case FEATURE_FD_PASSING:
    case FEATURE_TYPED_PARAM_STRING:
    case FEATURE_REMOTE_EVENT_CALLBACK:
    case FEATURE_REMOTE_CLOSE_CALLBACK:
    case FEATURE_NETWORK_UPDATE_HAS_CORRECT_ORDER:
        ret->supported = 1;
        break;
    default:
        ret->supported = 0;
        break;
    }
    return RPC_RESULT_OK;
}

static RpcResult proc_connect_open(RpcCall *call, void *a, void *r,
                                   GError **errp)
{
    remote_connect_open_args *args = a;
    DrvConn *conn = dispatch_conn(call);
    const char *name = args->name && **args->name ? *args->name : NULL;

    if (conn->open) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INTERNAL_ERROR,
                    "connection already open");
        return RPC_RESULT_ERROR;
    }
    if (name && !g_str_equal(name, driver->uri) &&
        !g_str_equal(name, "kestrel:///system") &&
        !g_str_equal(name, "kestrel:///session")) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_NO_CONNECT, "%s", name);
        return RPC_RESULT_ERROR;
    }
    conn->open = true;
    conn->readonly = (args->flags & 1) || rpc_conn_socket_readonly(conn->rpc);
    rpc_conn_set_opened(conn->rpc);
    return RPC_RESULT_OK;
}

static RpcResult proc_connect_close(RpcCall *call, void *a, void *r,
                                    GError **errp)
{
    rpc_conn_close_after_flush(rpc_call_get_conn(call));
    return RPC_RESULT_OK;
}

static RpcResult proc_void(RpcCall *call, void *a, void *r, GError **errp)
{
    return RPC_RESULT_OK;
}

static RpcResult proc_connect_get_type(RpcCall *call, void *a, void *r,
                                       GError **errp)
{
    remote_connect_get_type_ret *ret = r;

    ret->type = g_strdup("Kestrel");
    return RPC_RESULT_OK;
}

static RpcResult proc_connect_get_version(RpcCall *call, void *a, void *r,
                                          GError **errp)
{
    remote_connect_get_version_ret *ret = r;
    unsigned int major = 0, minor = 0, micro = 0;

    /* libvirt's encoding: major * 1000000 + minor * 1000 + micro. */
    if (sscanf(PACKAGE_VERSION, "%u.%u.%u", &major, &minor, &micro) < 2) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INTERNAL_ERROR,
                    "cannot parse version %s", PACKAGE_VERSION);
        return RPC_RESULT_ERROR;
    }
    ret->hv_ver = (guint64)major * 1000000 + minor * 1000 + micro;
    return RPC_RESULT_OK;
}

static RpcResult proc_connect_get_lib_version(RpcCall *call, void *a,
                                              void *r, GError **errp)
{
    remote_connect_get_lib_version_ret *ret = r;

    ret->lib_ver = DISPATCH_LIB_VERSION;
    return RPC_RESULT_OK;
}

static RpcResult proc_connect_get_hostname(RpcCall *call, void *a, void *r,
                                           GError **errp)
{
    remote_connect_get_hostname_ret *ret = r;

    ret->hostname = g_strdup(g_get_host_name());
    return RPC_RESULT_OK;
}

static RpcResult proc_connect_get_uri(RpcCall *call, void *a, void *r,
                                      GError **errp)
{
    remote_connect_get_uri_ret *ret = r;

    ret->uri = g_strdup(driver->uri);
    return RPC_RESULT_OK;
}

static RpcResult proc_connect_is_secure(RpcCall *call, void *a, void *r,
                                        GError **errp)
{
    remote_connect_is_secure_ret *ret = r;

    ret->secure = 1;            /* a local UNIX socket */
    return RPC_RESULT_OK;
}

static int dispatch_host_cpus(void)
{
    return (int)sysconf(_SC_NPROCESSORS_ONLN);
}

static RpcResult proc_connect_get_max_vcpus(RpcCall *call, void *a, void *r,
                                            GError **errp)
{
    remote_connect_get_max_vcpus_ret *ret = r;

    ret->max_vcpus = 255;
    return RPC_RESULT_OK;
}

/* The CPU model name of /proc/cpuinfo and its MHz. */
static void dispatch_cpuinfo(char **model, int *mhz)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    char **l;

    *model = NULL;
    *mhz = 0;
    if (!g_file_get_contents("/proc/cpuinfo", &text, NULL, NULL)) {
        return;
    }
    lines = g_strsplit(text, "\n", 0);
    for (l = lines; *l; l++) {
        const char *colon = strchr(*l, ':');

        if (!colon) {
            continue;
        }
        if (!*model && g_str_has_prefix(*l, "model name")) {
            *model = g_strstrip(g_strdup(colon + 1));
        } else if (!*mhz && g_str_has_prefix(*l, "cpu MHz")) {
            *mhz = (int)g_ascii_strtod(colon + 1, NULL);
        }
    }
}

static guint64 dispatch_host_memory_kib(void)
{
    struct sysinfo si;

    if (sysinfo(&si) < 0) {
        return 0;
    }
    return (guint64)si.totalram * si.mem_unit / 1024;
}

static RpcResult proc_node_get_info(RpcCall *call, void *a, void *r,
                                    GError **errp)
{
    remote_node_get_info_ret *ret = r;
    g_autofree char *model = NULL;

    /* libvirt reports the architecture here, not the CPU brand. */
    g_strlcpy(ret->model, "x86_64", sizeof(ret->model));
    dispatch_cpuinfo(&model, &ret->mhz);
    ret->memory = dispatch_host_memory_kib();
    ret->cpus = dispatch_host_cpus();
    ret->nodes = 1;
    ret->sockets = 1;
    ret->cores = ret->cpus;
    ret->threads = 1;
    return RPC_RESULT_OK;
}

static RpcResult proc_node_get_free_memory(RpcCall *call, void *a, void *r,
                                           GError **errp)
{
    remote_node_get_free_memory_ret *ret = r;
    struct sysinfo si;

    if (sysinfo(&si) == 0) {
        ret->freeMem = (guint64)si.freeram * si.mem_unit;
    }
    return RPC_RESULT_OK;
}

static RpcResult proc_node_get_security_model(RpcCall *call, void *a,
                                              void *r, GError **errp)
{
    remote_node_get_security_model_ret *ret = r;

    /* An empty model (just the NUL) makes virsh dominfo print nothing. */
    ret->model.model_len = 1;
    ret->model.model_val = g_new0(char, 1);
    ret->doi.doi_len = 1;
    ret->doi.doi_val = g_new0(char, 1);
    return RPC_RESULT_OK;
}

static RpcResult proc_connect_get_capabilities(RpcCall *call, void *a,
                                               void *r, GError **errp)
{
    remote_connect_get_capabilities_ret *ret = r;
    g_autofree char *model = NULL;
    GString *xml = g_string_new("<capabilities>\n  <host>\n");
    int mhz, cpus = dispatch_host_cpus(), i;
    g_autofree char *hostuuid = NULL;

    dispatch_cpuinfo(&model, &mhz);
    if (!g_file_get_contents("/etc/machine-id", &hostuuid, NULL, NULL)) {
        hostuuid = g_strdup("00000000000000000000000000000000");
    }
    g_strstrip(hostuuid);
    if (strlen(hostuuid) == 32) {
        g_string_append_printf(xml, "    <uuid>%.8s-%.4s-%.4s-%.4s-%.12s"
                               "</uuid>\n", hostuuid, hostuuid + 8,
                               hostuuid + 12, hostuuid + 16, hostuuid + 20);
    }
    g_string_append_printf(xml,
        "    <cpu>\n"
        "      <arch>x86_64</arch>\n"
        "      <topology sockets='1' dies='1' cores='%d' threads='1'/>\n"
        "    </cpu>\n"
        "    <power_management/>\n"
        "    <iommu support='no'/>\n"
        "    <topology>\n"
        "      <cells num='1'>\n"
        "        <cell id='0'>\n"
        "          <memory unit='KiB'>%" G_GUINT64_FORMAT "</memory>\n"
        "          <cpus num='%d'>\n", cpus, dispatch_host_memory_kib(),
        cpus);
    for (i = 0; i < cpus; i++) {
        g_string_append_printf(xml, "            <cpu id='%d' socket_id='0' "
                               "die_id='0' core_id='%d' siblings='%d'/>\n",
                               i, i, i);
    }
    g_string_append_printf(xml,
        "          </cpus>\n"
        "        </cell>\n"
        "      </cells>\n"
        "    </topology>\n"
        "    <secmodel>\n"
        "      <model>none</model>\n"
        "      <doi>0</doi>\n"
        "    </secmodel>\n"
        "  </host>\n"
        "  <guest>\n"
        "    <os_type>hvm</os_type>\n"
        "    <arch name='x86_64'>\n"
        "      <wordsize>64</wordsize>\n"
        "      <emulator>%s</emulator>\n"
        "      <machine maxCpus='255'>kestrel</machine>\n"
        "      <domain type='kvm'/>\n"
        "    </arch>\n"
        "    <features>\n"
        "      <acpi default='on' toggle='yes'/>\n"
        "      <apic default='on' toggle='no'/>\n"
        "    </features>\n"
        "  </guest>\n"
        "</capabilities>\n", driver->emulator);
    ret->capabilities = g_string_free(xml, false);
    return RPC_RESULT_OK;
}

static RpcResult proc_connect_get_domain_capabilities(RpcCall *call,
                                                      void *a, void *r,
                                                      GError **errp)
{
    remote_connect_get_domain_capabilities_args *args = a;
    remote_connect_get_domain_capabilities_ret *ret = r;

    if (args->flags) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                    "unsupported flags (0x%x) in function "
                    "virConnectGetDomainCapabilities", args->flags);
        return RPC_RESULT_ERROR;
    }
    if (args->arch && !g_str_equal(*args->arch, "x86_64")) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_CONFIG_UNSUPPORTED,
                    "architecture '%s' is not supported, only x86_64",
                    *args->arch);
        return RPC_RESULT_ERROR;
    }
    if (args->virttype && !g_str_equal(*args->virttype, "kvm")) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_CONFIG_UNSUPPORTED,
                    "virtualization type '%s' is not supported, only kvm",
                    *args->virttype);
        return RPC_RESULT_ERROR;
    }
    if (args->machine && !g_str_equal(*args->machine, "kestrel")) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_CONFIG_UNSUPPORTED,
                    "machine type '%s' is not supported, only kestrel",
                    *args->machine);
        return RPC_RESULT_ERROR;
    }
    ret->capabilities = g_strdup_printf(
        "<domainCapabilities>\n"
        "  <path>%s</path>\n"
        "  <domain>kvm</domain>\n"
        "  <machine>kestrel</machine>\n"
        "  <arch>x86_64</arch>\n"
        "  <vcpu max='255'/>\n"
        "  <iothreads supported='no'/>\n"
        "  <os supported='yes'>\n"
        "    <enum name='firmware'/>\n"
        "    <loader supported='no'/>\n"
        "  </os>\n"
        "  <cpu>\n"
        "    <mode name='host-passthrough' supported='yes'/>\n"
        "    <mode name='maximum' supported='no'/>\n"
        "    <mode name='host-model' supported='no'/>\n"
        "    <mode name='custom' supported='no'/>\n"
        "  </cpu>\n"
        "  <memoryBacking supported='yes'>\n"
        "    <enum name='sourceType'>\n"
        "      <value>file</value>\n"
        "      <value>anonymous</value>\n"
        "      <value>memfd</value>\n"
        "    </enum>\n"
        "  </memoryBacking>\n"
        "  <devices>\n"
        "    <disk supported='yes'>\n"
        "      <enum name='diskDevice'>\n"
        "        <value>disk</value>\n"
        "      </enum>\n"
        "      <enum name='bus'>\n"
        "        <value>virtio</value>\n"
        "      </enum>\n"
        "      <enum name='model'>\n"
        "        <value>virtio</value>\n"
        "      </enum>\n"
        "    </disk>\n"
        "    <graphics supported='no'/>\n"
        "    <video supported='no'/>\n"
        "    <hostdev supported='no'/>\n"
        "    <rng supported='no'/>\n"
        "    <filesystem supported='no'/>\n"
        "    <tpm supported='no'/>\n"
        "    <redirdev supported='no'/>\n"
        "    <channel supported='no'/>\n"
        "    <crypto supported='no'/>\n"
        "  </devices>\n"
        "  <features>\n"
        "    <gic supported='no'/>\n"
        "    <vmcoreinfo supported='no'/>\n"
        "    <genid supported='no'/>\n"
        "    <sev supported='no'/>\n"
        "  </features>\n"
        "</domainCapabilities>\n", driver->emulator);
    return RPC_RESULT_OK;
}

/* ---- events ----------------------------------------------------------- */

static RpcResult proc_event_register(RpcCall *call, void *a, void *r,
                                     GError **errp)
{
    remote_connect_domain_event_callback_register_any_args *args = a;
    remote_connect_domain_event_callback_register_any_ret *ret = r;
    DrvConn *conn = dispatch_conn(call);
    DispatchEventReg *reg;

    if (args->eventID < 0 || args->eventID >= DISPATCH_EVENT_ID_LAST) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INTERNAL_ERROR,
                    "unsupported event ID %d", args->eventID);
        return RPC_RESULT_ERROR;
    }
    if (args->dom) {
        g_autoptr(DomainObj) dom = dispatch_get_domain(args->dom, errp);

        if (!dom) {
            return RPC_RESULT_ERROR;
        }
    }
    reg = g_new0(DispatchEventReg, 1);
    reg->event_id = args->eventID;
    if (args->dom) {
        reg->has_dom = true;
        memcpy(reg->uuid, args->dom->uuid, 16);
    }
    ret->callbackID = next_callback_id++;
    g_hash_table_insert(conn->callbacks, GINT_TO_POINTER(ret->callbackID),
                        reg);
    return RPC_RESULT_OK;
}

static RpcResult proc_event_deregister(RpcCall *call, void *a, void *r,
                                       GError **errp)
{
    remote_connect_domain_event_callback_deregister_any_args *args = a;
    DrvConn *conn = dispatch_conn(call);

    if (!g_hash_table_remove(conn->callbacks,
                             GINT_TO_POINTER(args->callbackID))) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INTERNAL_ERROR,
                    "domain event callback %d not registered",
                    args->callbackID);
        return RPC_RESULT_ERROR;
    }
    return RPC_RESULT_OK;
}

static RpcResult proc_event_register_legacy(RpcCall *call, void *a, void *r,
                                            GError **errp)
{
    remote_connect_domain_event_register_any_args *args = a;
    DrvConn *conn = dispatch_conn(call);

    if (args->eventID < 0 || args->eventID >= DISPATCH_EVENT_ID_LAST) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INTERNAL_ERROR,
                    "unsupported event ID %d", args->eventID);
        return RPC_RESULT_ERROR;
    }
    if (conn->legacy_events & (1u << args->eventID)) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INTERNAL_ERROR,
                    "domain event %d already registered", args->eventID);
        return RPC_RESULT_ERROR;
    }
    conn->legacy_events |= 1u << args->eventID;
    return RPC_RESULT_OK;
}

static RpcResult proc_event_deregister_legacy(RpcCall *call, void *a,
                                              void *r, GError **errp)
{
    remote_connect_domain_event_deregister_any_args *args = a;
    DrvConn *conn = dispatch_conn(call);

    if (args->eventID < 0 || args->eventID >= DISPATCH_EVENT_ID_LAST ||
        !(conn->legacy_events & (1u << args->eventID))) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INTERNAL_ERROR,
                    "domain event %d not registered", args->eventID);
        return RPC_RESULT_ERROR;
    }
    conn->legacy_events &= ~(1u << args->eventID);
    return RPC_RESULT_OK;
}

typedef struct {
    DomainObj *dom;
    DomainEventId id;
    int event;
    int detail;
    guint64 value;
} DispatchEvent;

/* Encode and send @ev to callback @cb of @rpc. */
static void dispatch_event_send(RpcConn *rpc, int cb, DispatchEvent *ev)
{
    remote_domain_event_callback_lifecycle_msg lc = { 0 };
    remote_domain_event_callback_reboot_msg rb = { 0 };
    remote_domain_event_callback_balloon_change_msg bc = { 0 };
    remote_domain_event_callback_migration_iteration_msg mi = { 0 };
    remote_domain_event_callback_job_completed_msg jc = { 0 };
    g_autoptr(GArray) params = NULL;

    switch (ev->id) {
    case DOMAIN_EVENT_ID_LIFECYCLE:
        lc.callbackID = cb;
        dispatch_make_domain(&lc.dom, ev->dom);
        lc.event = ev->event;
        lc.detail = ev->detail;
        rpc_conn_send_event(rpc, REMOTE_PROC_DOMAIN_EVENT_CALLBACK_LIFECYCLE,
                            (xdrproc_t)
                            xdr_remote_domain_event_callback_lifecycle_msg,
                            &lc);
        g_free(lc.dom.name);
        break;
    case DOMAIN_EVENT_ID_REBOOT:
        rb.callbackID = cb;
        dispatch_make_domain(&rb.dom, ev->dom);
        rpc_conn_send_event(rpc, REMOTE_PROC_DOMAIN_EVENT_CALLBACK_REBOOT,
                            (xdrproc_t)
                            xdr_remote_domain_event_callback_reboot_msg,
                            &rb);
        g_free(rb.dom.name);
        break;
    case DOMAIN_EVENT_ID_BALLOON_CHANGE:
        bc.callbackID = cb;
        dispatch_make_domain(&bc.dom, ev->dom);
        bc.actual = ev->value;
        rpc_conn_send_event(
            rpc, REMOTE_PROC_DOMAIN_EVENT_CALLBACK_BALLOON_CHANGE,
            (xdrproc_t)xdr_remote_domain_event_callback_balloon_change_msg,
            &bc);
        g_free(bc.dom.name);
        break;
    case DOMAIN_EVENT_ID_MIGRATION_ITERATION:
        mi.callbackID = cb;
        dispatch_make_domain(&mi.dom, ev->dom);
        mi.iteration = (int)ev->value;
        rpc_conn_send_event(
            rpc, REMOTE_PROC_DOMAIN_EVENT_CALLBACK_MIGRATION_ITERATION,
            (xdrproc_t)
            xdr_remote_domain_event_callback_migration_iteration_msg, &mi);
        g_free(mi.dom.name);
        break;
    case DOMAIN_EVENT_ID_JOB_COMPLETED:
        jc.callbackID = cb;
        dispatch_make_domain(&jc.dom, ev->dom);
        params = g_array_new(false, true, sizeof(remote_typed_param));
        dispatch_job_stats_params(&ev->dom->completed_stats, true, params);
        jc.params.params_len = params->len;
        jc.params.params_val = (remote_typed_param *)(void *)params->data;
        rpc_conn_send_event(
            rpc, REMOTE_PROC_DOMAIN_EVENT_CALLBACK_JOB_COMPLETED,
            (xdrproc_t)xdr_remote_domain_event_callback_job_completed_msg,
            &jc);
        for (guint i = 0; i < params->len; i++) {
            g_free(g_array_index(params, remote_typed_param, i).field);
        }
        g_free(jc.dom.name);
        break;
    }
}

/* The same without a callback id, for legacy registrations. */
static void dispatch_event_send_legacy(RpcConn *rpc, DispatchEvent *ev)
{
    remote_domain_event_lifecycle_msg lc = { 0 };
    remote_domain_event_reboot_msg rb = { 0 };
    remote_domain_event_balloon_change_msg bc = { 0 };

    switch (ev->id) {
    case DOMAIN_EVENT_ID_LIFECYCLE:
        dispatch_make_domain(&lc.dom, ev->dom);
        lc.event = ev->event;
        lc.detail = ev->detail;
        rpc_conn_send_event(rpc, REMOTE_PROC_DOMAIN_EVENT_LIFECYCLE,
                            (xdrproc_t)xdr_remote_domain_event_lifecycle_msg,
                            &lc);
        g_free(lc.dom.name);
        break;
    case DOMAIN_EVENT_ID_REBOOT:
        dispatch_make_domain(&rb.dom, ev->dom);
        rpc_conn_send_event(rpc, REMOTE_PROC_DOMAIN_EVENT_REBOOT,
                            (xdrproc_t)xdr_remote_domain_event_reboot_msg,
                            &rb);
        g_free(rb.dom.name);
        break;
    case DOMAIN_EVENT_ID_BALLOON_CHANGE:
        dispatch_make_domain(&bc.dom, ev->dom);
        bc.actual = ev->value;
        rpc_conn_send_event(
            rpc, REMOTE_PROC_DOMAIN_EVENT_BALLOON_CHANGE,
            (xdrproc_t)xdr_remote_domain_event_balloon_change_msg, &bc);
        g_free(bc.dom.name);
        break;
    default:
        /* Later events have only the callback form. */
        break;
    }
}

static void dispatch_event_conn(RpcConn *rpc, void *opaque)
{
    DispatchEvent *ev = opaque;
    DrvConn *conn = rpc_conn_get_data(rpc);
    GHashTableIter it;
    void *key;
    DispatchEventReg *reg;

    if (!conn || !conn->open) {
        return;
    }
    if (conn->legacy_events & (1u << ev->id)) {
        dispatch_event_send_legacy(rpc, ev);
    }
    g_hash_table_iter_init(&it, conn->callbacks);
    while (g_hash_table_iter_next(&it, &key, (void **)&reg)) {
        if (reg->event_id == (int)ev->id &&
            (!reg->has_dom || !memcmp(reg->uuid, ev->dom->uuid, 16))) {
            dispatch_event_send(rpc, GPOINTER_TO_INT(key), ev);
        }
    }
}

static void dispatch_domain_event(Driver *drv, DomainObj *dom,
                                  DomainEventId id, int event, int detail,
                                  guint64 value)
{
    DispatchEvent ev = { dom, id, event, detail, value };

    if (id == DOMAIN_EVENT_ID_LIFECYCLE && event == DOMAIN_EVENT_STOPPED) {
        dispatch_console_domain_stopped(dom);
    }
    rpc_server_foreach_conn(server, dispatch_event_conn, &ev);
}

/* ---- the table -------------------------------------------------------- */

static const RpcProc dispatch_conn_procs[] = {
    PROC(CONNECT_OPEN, "virConnectOpen", remote_connect_open_args, VOID_T,
         proc_connect_open, EARLY),
    PROC(CONNECT_CLOSE, "virConnectClose", VOID_T, VOID_T,
         proc_connect_close, EARLY),
    PROC(CONNECT_GET_TYPE, "virConnectGetType", VOID_T,
         remote_connect_get_type_ret, proc_connect_get_type, RO),
    PROC(CONNECT_GET_VERSION, "virConnectGetVersion", VOID_T,
         remote_connect_get_version_ret, proc_connect_get_version, RO),
    PROC(CONNECT_GET_MAX_VCPUS, "virConnectGetMaxVcpus",
         remote_connect_get_max_vcpus_args, remote_connect_get_max_vcpus_ret,
         proc_connect_get_max_vcpus, RO),
    PROC(NODE_GET_INFO, "virNodeGetInfo", VOID_T, remote_node_get_info_ret,
         proc_node_get_info, RO),
    PROC(CONNECT_GET_CAPABILITIES, "virConnectGetCapabilities", VOID_T,
         remote_connect_get_capabilities_ret, proc_connect_get_capabilities,
         RO),
    PROC(CONNECT_GET_HOSTNAME, "virConnectGetHostname", VOID_T,
         remote_connect_get_hostname_ret, proc_connect_get_hostname, RO),
    PROC(CONNECT_SUPPORTS_FEATURE, "virConnectSupportsFeature",
         remote_connect_supports_feature_args,
         remote_connect_supports_feature_ret, proc_connect_supports_feature,
         EARLY),
    PROC(AUTH_LIST, "virConnectAuthList", VOID_T, remote_auth_list_ret,
         proc_auth_list, EARLY),
    PROC(NODE_GET_FREE_MEMORY, "virNodeGetFreeMemory", VOID_T,
         remote_node_get_free_memory_ret, proc_node_get_free_memory, RO),
    PROC(CONNECT_GET_URI, "virConnectGetURI", VOID_T,
         remote_connect_get_uri_ret, proc_connect_get_uri, RO),
    PROC(NODE_GET_SECURITY_MODEL, "virNodeGetSecurityModel", VOID_T,
         remote_node_get_security_model_ret, proc_node_get_security_model,
         RO),
    PROC(CONNECT_IS_SECURE, "virConnectIsSecure", VOID_T,
         remote_connect_is_secure_ret, proc_connect_is_secure, RO),
    PROC(CONNECT_GET_LIB_VERSION, "virConnectGetLibVersion", VOID_T,
         remote_connect_get_lib_version_ret, proc_connect_get_lib_version,
         RO),
    PROC(CONNECT_DOMAIN_EVENT_REGISTER_ANY,
         "virConnectDomainEventRegisterAny",
         remote_connect_domain_event_register_any_args, VOID_T,
         proc_event_register_legacy, RO),
    PROC(CONNECT_DOMAIN_EVENT_DEREGISTER_ANY,
         "virConnectDomainEventDeregisterAny",
         remote_connect_domain_event_deregister_any_args, VOID_T,
         proc_event_deregister_legacy, RO),
    PROC(CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY,
         "virConnectDomainEventRegisterAny",
         remote_connect_domain_event_callback_register_any_args,
         remote_connect_domain_event_callback_register_any_ret,
         proc_event_register, RO),
    PROC(CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY,
         "virConnectDomainEventDeregisterAny",
         remote_connect_domain_event_callback_deregister_any_args, VOID_T,
         proc_event_deregister, RO),
    PROC(CONNECT_GET_DOMAIN_CAPABILITIES, "virConnectGetDomainCapabilities",
         remote_connect_get_domain_capabilities_args,
         remote_connect_get_domain_capabilities_ret,
         proc_connect_get_domain_capabilities, RO),
    PROC(CONNECT_REGISTER_CLOSE_CALLBACK, "virConnectRegisterCloseCallback",
         VOID_T, VOID_T, proc_void, RO),
    PROC(CONNECT_UNREGISTER_CLOSE_CALLBACK,
         "virConnectUnregisterCloseCallback", VOID_T, VOID_T, proc_void, RO),
};

static const RpcProc *dispatch_find_in(const RpcProc *procs, size_t n,
                                       int proc)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (procs[i].proc == proc) {
            return &procs[i];
        }
    }
    return NULL;
}

static const RpcProc *dispatch_find_proc(int proc)
{
    const RpcProc *p = dispatch_find_in(dispatch_conn_procs,
                                        G_N_ELEMENTS(dispatch_conn_procs),
                                        proc);

    if (!p) {
        p = dispatch_find_in(dispatch_domain_procs, dispatch_domain_nprocs,
                             proc);
    }
    if (!p) {
        p = dispatch_find_in(dispatch_memory_procs, dispatch_memory_nprocs,
                             proc);
    }
    if (!p) {
        p = dispatch_find_in(dispatch_stats_procs, dispatch_stats_nprocs,
                             proc);
    }
    if (!p) {
        p = dispatch_find_in(dispatch_console_procs, dispatch_console_nprocs,
                             proc);
    }
    if (!p) {
        p = dispatch_find_in(dispatch_node_procs, dispatch_node_nprocs, proc);
    }
    if (!p) {
        p = dispatch_find_in(dispatch_save_procs, dispatch_save_nprocs, proc);
    }
    if (!p) {
        p = dispatch_find_in(dispatch_migrate_procs, dispatch_migrate_nprocs,
                             proc);
    }
    if (!p) {
        p = dispatch_find_in(dispatch_devices_procs, dispatch_devices_nprocs,
                             proc);
    }
    return p;
}

static bool dispatch_check_call(RpcConn *rpc, const RpcProc *proc,
                                GError **errp)
{
    DrvConn *conn = rpc_conn_get_data(rpc);

    if (!conn->open && !(proc->flags & RPC_PROC_BEFORE_OPEN)) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INTERNAL_ERROR,
                    "connection not open");
        return false;
    }
    if (conn->readonly && !(proc->flags & RPC_PROC_READONLY_OK)) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_DENIED,
                    "read only access prevents %s", proc->name);
        return false;
    }
    return true;
}

static void *dispatch_conn_new(RpcConn *rpc)
{
    DrvConn *conn = g_new0(DrvConn, 1);

    conn->rpc = rpc;
    conn->readonly = rpc_conn_socket_readonly(rpc);
    conn->callbacks = g_hash_table_new_full(NULL, NULL, NULL, g_free);
    return conn;
}

static void dispatch_conn_free(void *data)
{
    DrvConn *conn = data;

    dispatch_migrate_conn_closed(conn);
    g_hash_table_unref(conn->callbacks);
    g_free(conn);
}

/* Errors of the XML engineer's domain (conf) carry libvirt's numbers. */
static int dispatch_error_code(const GError *err, int *domain)
{
    if (err->domain == DRV_ERROR) {
        *domain = VIR_FROM_DOMAIN;
        return err->code;
    }
    *domain = VIR_FROM_NONE;
    return VIR_ERR_INTERNAL_ERROR;
}

static const RpcServerOps dispatch_ops = {
    .find_proc = dispatch_find_proc,
    .conn_new = dispatch_conn_new,
    .conn_free = dispatch_conn_free,
    .error_code = dispatch_error_code,
    .check_call = dispatch_check_call,
};

const RpcServerOps *dispatch_init(Driver *drv, RpcServer **srvp)
{
    driver = drv;
    drv->event_func = dispatch_domain_event;
    server = rpc_server_new(&dispatch_ops);
    *srvp = server;
    return &dispatch_ops;
}
