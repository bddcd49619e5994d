/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Domain procedures.  Each entry point follows libvirt's driver template:
 * check flags, look up the domain, begin a job, check the state, one
 * monitor call, set the state, end the job.  Calls that wait for the VMM
 * return RPC_RESULT_PENDING and finish from the QMP reply, so the
 * connection keeps serving other calls meanwhile.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "dispatch.h"
#include "process.h"
#include "virerror.h"

/* virConnectListAllDomainsFlags (wire values). */
enum {
    LIST_ACTIVE = 1 << 0,
    LIST_INACTIVE = 1 << 1,
    LIST_PERSISTENT = 1 << 2,
    LIST_TRANSIENT = 1 << 3,
    LIST_RUNNING = 1 << 4,
    LIST_PAUSED = 1 << 5,
    LIST_SHUTOFF = 1 << 6,
    LIST_OTHER = 1 << 7,
    LIST_MANAGEDSAVE = 1 << 8,
    LIST_NO_MANAGEDSAVE = 1 << 9,
    LIST_AUTOSTART = 1 << 10,
    LIST_NO_AUTOSTART = 1 << 11,
    LIST_HAS_SNAPSHOT = 1 << 12,
    LIST_NO_SNAPSHOT = 1 << 13,
    LIST_HAS_CHECKPOINT = 1 << 14,
    LIST_NO_CHECKPOINT = 1 << 15,
};

#define CREATE_PAUSED 1u                /* VIR_DOMAIN_START_PAUSED */
#define CREATE_FORCE_BOOT 8u            /* VIR_DOMAIN_START_FORCE_BOOT */
#define CREATE_VALIDATE 16u             /* VIR_DOMAIN_START_VALIDATE */
#define CREATE_XML_VALIDATE 4u          /* ... in virDomainCreateXML */
#define DEFINE_VALIDATE 1u              /* VIR_DOMAIN_DEFINE_VALIDATE */
#define DESTROY_GRACEFUL 1u
#define SHUTDOWN_ACPI_POWER_BTN 1u
#define XML_SECURE 1u
#define XML_INACTIVE 2u
#define XML_UPDATE_CPU 4u
#define XML_MIGRATABLE 8u
/* Undefine flags: MANAGED_SAVE removes the image; snapshot and
 * checkpoint metadata, NVRAM and TPM state do not exist in kestrel. */
#define UNDEFINE_ACCEPTED 0x7fu
#define UNDEFINE_MANAGED_SAVE 1u

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

/* ---- listing and lookup ----------------------------------------------- */

static bool list_match(DomainObj *dom, unsigned int flags)
{
    bool active = domain_obj_is_active(dom);
    unsigned int st;

    if ((flags & (LIST_ACTIVE | LIST_INACTIVE)) &&
        !((flags & LIST_ACTIVE && active) ||
          (flags & LIST_INACTIVE && !active))) {
        return false;
    }
    if ((flags & (LIST_PERSISTENT | LIST_TRANSIENT)) &&
        !((flags & LIST_PERSISTENT && dom->persistent) ||
          (flags & LIST_TRANSIENT && !dom->persistent))) {
        return false;
    }
    switch (dom->state) {
    case DOMAIN_STATE_RUNNING:
        st = LIST_RUNNING;
        break;
    case DOMAIN_STATE_PAUSED:
        st = LIST_PAUSED;
        break;
    case DOMAIN_STATE_SHUTOFF:
        st = LIST_SHUTOFF;
        break;
    default:
        st = LIST_OTHER;
        break;
    }
    if ((flags & (LIST_RUNNING | LIST_PAUSED | LIST_SHUTOFF | LIST_OTHER)) &&
        !(flags & st)) {
        return false;
    }
    if (flags & (LIST_MANAGEDSAVE | LIST_NO_MANAGEDSAVE)) {
        bool ms = dispatch_has_managed_save(dom);

        if (!((flags & LIST_MANAGEDSAVE && ms) ||
              (flags & LIST_NO_MANAGEDSAVE && !ms))) {
            return false;
        }
    }
    /* No snapshots or checkpoints exist in kestrel. */
    if ((flags & (LIST_AUTOSTART | LIST_NO_AUTOSTART)) &&
        !((flags & LIST_AUTOSTART && dom->autostart) ||
          (flags & LIST_NO_AUTOSTART && !dom->autostart))) {
        return false;
    }
    if ((flags & (LIST_HAS_SNAPSHOT | LIST_NO_SNAPSHOT)) &&
        !(flags & LIST_NO_SNAPSHOT)) {
        return false;
    }
    if ((flags & (LIST_HAS_CHECKPOINT | LIST_NO_CHECKPOINT)) &&
        !(flags & LIST_NO_CHECKPOINT)) {
        return false;
    }
    return true;
}

static RpcResult proc_list_all_domains(RpcCall *call, void *a, void *r,
                                       GError **errp)
{
    remote_connect_list_all_domains_args *args = a;
    remote_connect_list_all_domains_ret *ret = r;
    g_autoptr(GPtrArray) list = domain_list_all(dispatch_driver());
    guint i, n = 0;

    if (!check_flags(args->flags, 0xffff, "virConnectListAllDomains",
                     errp)) {
        return RPC_RESULT_ERROR;
    }
    if (args->need_results) {
        ret->domains.domains_val = g_new0(remote_nonnull_domain,
                                          MAX(list->len, 1));
    }
    for (i = 0; i < list->len; i++) {
        DomainObj *dom = list->pdata[i];

        if (!list_match(dom, args->flags)) {
            continue;
        }
        if (args->need_results) {
            dispatch_make_domain(&ret->domains.domains_val[n], dom);
        }
        n++;
    }
    if (args->need_results) {
        ret->domains.domains_len = n;
    }
    ret->ret = n;
    return RPC_RESULT_OK;
}

static int count_domains(bool active)
{
    g_autoptr(GPtrArray) list = domain_list_all(dispatch_driver());
    guint i;
    int n = 0;

    for (i = 0; i < list->len; i++) {
        DomainObj *dom = list->pdata[i];

        if (active ? domain_obj_is_active(dom)
                   : !domain_obj_is_active(dom) && dom->persistent) {
            n++;
        }
    }
    return n;
}

static RpcResult proc_num_of_domains(RpcCall *call, void *a, void *r,
                                     GError **errp)
{
    ((remote_connect_num_of_domains_ret *)r)->num = count_domains(true);
    return RPC_RESULT_OK;
}

static RpcResult proc_num_of_defined_domains(RpcCall *call, void *a, void *r,
                                             GError **errp)
{
    ((remote_connect_num_of_defined_domains_ret *)r)->num =
        count_domains(false);
    return RPC_RESULT_OK;
}

static RpcResult proc_list_domains(RpcCall *call, void *a, void *r,
                                   GError **errp)
{
    remote_connect_list_domains_args *args = a;
    remote_connect_list_domains_ret *ret = r;
    g_autoptr(GPtrArray) list = domain_list_all(dispatch_driver());
    guint i;

    if (args->maxids < 0 || args->maxids > REMOTE_DOMAIN_LIST_MAX) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_RPC,
                    "maxids > REMOTE_DOMAIN_LIST_MAX");
        return RPC_RESULT_ERROR;
    }
    ret->ids.ids_val = g_new0(int, MAX(list->len, 1));
    for (i = 0; i < list->len && ret->ids.ids_len < (guint)args->maxids;
         i++) {
        DomainObj *dom = list->pdata[i];

        if (domain_obj_is_active(dom)) {
            ret->ids.ids_val[ret->ids.ids_len++] = dom->id;
        }
    }
    return RPC_RESULT_OK;
}

static RpcResult proc_list_defined_domains(RpcCall *call, void *a, void *r,
                                           GError **errp)
{
    remote_connect_list_defined_domains_args *args = a;
    remote_connect_list_defined_domains_ret *ret = r;
    g_autoptr(GPtrArray) list = domain_list_all(dispatch_driver());
    guint i;

    if (args->maxnames < 0 || args->maxnames > REMOTE_DOMAIN_LIST_MAX) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_RPC,
                    "maxnames > REMOTE_DOMAIN_LIST_MAX");
        return RPC_RESULT_ERROR;
    }
    ret->names.names_val = g_new0(remote_nonnull_string, MAX(list->len, 1));
    for (i = 0;
         i < list->len && ret->names.names_len < (guint)args->maxnames;
         i++) {
        DomainObj *dom = list->pdata[i];

        if (!domain_obj_is_active(dom) && dom->persistent) {
            ret->names.names_val[ret->names.names_len++] =
                g_strdup(dom->name);
        }
    }
    return RPC_RESULT_OK;
}

static RpcResult proc_lookup_by_id(RpcCall *call, void *a, void *r,
                                   GError **errp)
{
    remote_domain_lookup_by_id_args *args = a;
    g_autoptr(DomainObj) dom = domain_lookup_by_id(dispatch_driver(),
                                                   args->id, errp);

    if (!dom) {
        return RPC_RESULT_ERROR;
    }
    dispatch_make_domain(&((remote_domain_ret *)r)->dom, dom);
    return RPC_RESULT_OK;
}

static RpcResult proc_lookup_by_name(RpcCall *call, void *a, void *r,
                                     GError **errp)
{
    remote_domain_lookup_by_name_args *args = a;
    g_autoptr(DomainObj) dom = domain_lookup_by_name(dispatch_driver(),
                                                     args->name, errp);

    if (!dom) {
        return RPC_RESULT_ERROR;
    }
    dispatch_make_domain(&((remote_domain_ret *)r)->dom, dom);
    return RPC_RESULT_OK;
}

static RpcResult proc_lookup_by_uuid(RpcCall *call, void *a, void *r,
                                     GError **errp)
{
    remote_domain_lookup_by_uuid_args *args = a;
    g_autoptr(DomainObj) dom = domain_lookup_by_uuid(
        dispatch_driver(), (unsigned char *)args->uuid, errp);

    if (!dom) {
        return RPC_RESULT_ERROR;
    }
    dispatch_make_domain(&((remote_domain_ret *)r)->dom, dom);
    return RPC_RESULT_OK;
}

/* ---- define / undefine ------------------------------------------------- */


/* As libvirt does when a domain is defined: an XML without <emulator> gets
 * the daemon's, so clients (virt-manager's details) show which binary runs
 * it, in the live and the persistent XML alike. */
static void dispatch_default_emulator(DomainDef *def)
{
    Driver *drv = dispatch_driver();

    if (!def->emulator && drv->emulator) {
        def->emulator = g_strdup(drv->emulator);
    }
}

static RpcResult define_common(const char *xml, unsigned int flags,
                               remote_domain_ret *ret, GError **errp)
{
    DomainDef *def;
    g_autoptr(DomainObj) dom = NULL;
    bool added = false;

    if (!check_flags(flags, DEFINE_VALIDATE, "virDomainDefineXMLFlags",
                     errp)) {
        return RPC_RESULT_ERROR;
    }
    def = domain_def_parse_string(xml, DOMAIN_DEF_PARSE_INACTIVE |
                                  ((flags & DEFINE_VALIDATE) ?
                                   DOMAIN_DEF_PARSE_VALIDATE : 0), errp);
    if (!def) {
        return RPC_RESULT_ERROR;
    }
    dispatch_default_emulator(def);
    dom = domain_define(dispatch_driver(), def, &added, errp);
    if (!dom) {
        return RPC_RESULT_ERROR;
    }
    domain_emit(dom, DOMAIN_EVENT_DEFINED,
                added ? DOMAIN_EVENT_DEFINED_ADDED
                      : DOMAIN_EVENT_DEFINED_UPDATED);
    dispatch_make_domain(&ret->dom, dom);
    return RPC_RESULT_OK;
}

static RpcResult proc_define_xml(RpcCall *call, void *a, void *r,
                                 GError **errp)
{
    return define_common(((remote_domain_define_xml_args *)a)->xml, 0, r,
                         errp);
}

static RpcResult proc_define_xml_flags(RpcCall *call, void *a, void *r,
                                       GError **errp)
{
    remote_domain_define_xml_flags_args *args = a;

    return define_common(args->xml, args->flags, r, errp);
}

static RpcResult undefine_common(RpcCall *call,
                                 const remote_nonnull_domain *rdom,
                                 unsigned int flags, GError **errp)
{
    g_autoptr(DomainObj) dom = NULL;
    RpcResult jr;

    if (!check_flags(flags, UNDEFINE_ACCEPTED, "virDomainUndefineFlags",
                     errp)) {
        return RPC_RESULT_ERROR;
    }
    dom = dispatch_get_domain(rdom, errp);
    if (!dom) {
        return RPC_RESULT_ERROR;
    }
    jr = dispatch_job_begin(call, dom, "undefine");
    if (jr != RPC_RESULT_OK) {
        return jr;
    }
    if (dom->persistent && dispatch_has_managed_save(dom)) {
        g_autofree char *path = dispatch_managed_save_path(dom);

        if (!(flags & UNDEFINE_MANAGED_SAVE)) {
            g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                        "Refusing to undefine while domain managed save "
                        "image exists");
            domain_job_end(dom);
            return RPC_RESULT_ERROR;
        }
        if (unlink(path) < 0 && errno != ENOENT) {
            g_set_error(errp, VIR_ERROR, VIR_ERR_SYSTEM_ERROR,
                        "Failed to remove domain managed save image '%s': "
                        "%s", path, g_strerror(errno));
            domain_job_end(dom);
            return RPC_RESULT_ERROR;
        }
    }
    if (!domain_undefine(dom, errp)) {
        domain_job_end(dom);
        return RPC_RESULT_ERROR;
    }
    domain_emit(dom, DOMAIN_EVENT_UNDEFINED, DOMAIN_EVENT_UNDEFINED_REMOVED);
    domain_job_end(dom);
    return RPC_RESULT_OK;
}

static RpcResult proc_undefine(RpcCall *call, void *a, void *r,
                               GError **errp)
{
    return undefine_common(call, &((remote_domain_args *)a)->dom, 0,
                           errp);
}

static RpcResult proc_undefine_flags(RpcCall *call, void *a, void *r,
                                     GError **errp)
{
    remote_domain_flags_args *args = a;

    return undefine_common(call, &args->dom, args->flags, errp);
}

/* ---- asynchronous operations ------------------------------------------- */

typedef struct {
    RpcCall *call;
    remote_domain_ret *ret;     /* to fill with the domain, or NULL */
    DomainState state;          /* for monitor operations: new state */
    int reason;
    int event, detail;          /* event to emit on success, or -1 */
} DomainOp;

static DomainOp *domain_op_new(RpcCall *call, remote_domain_ret *ret)
{
    DomainOp *op = g_new0(DomainOp, 1);

    op->call = call;
    op->ret = ret;
    op->event = -1;
    return op;
}

/* End of an operation that held the job. */
static void domain_op_done(DomainObj *dom, const GError *err, void *opaque)
{
    DomainOp *op = opaque;

    if (!err && op->event >= 0) {
        domain_set_state(dom, op->state, op->reason);
        domain_emit(dom, op->event, op->detail);
    }
    domain_job_end(dom);
    if (!dom->persistent && !domain_obj_is_active(dom)) {
        domain_remove(dom);
    }
    if (!err && op->ret) {
        dispatch_make_domain(&op->ret->dom, dom);
    }
    rpc_call_finish(op->call, err);
    g_free(op);
}

static RpcResult create_common(RpcCall *call,
                               const remote_nonnull_domain *rdom,
                               unsigned int flags, remote_domain_ret *ret,
                               GError **errp)
{
    g_autoptr(DomainObj) dom = NULL;
    RpcResult jr;

    if (!check_flags(flags, CREATE_PAUSED | CREATE_FORCE_BOOT |
                     CREATE_VALIDATE, "virDomainCreateWithFlags", errp)) {
        return RPC_RESULT_ERROR;
    }
    dom = dispatch_get_domain(rdom, errp);
    if (!dom) {
        return RPC_RESULT_ERROR;
    }
    jr = dispatch_job_begin(call, dom, "start");
    if (jr != RPC_RESULT_OK) {
        return jr;
    }
    if (!domain_check_inactive(dom, errp)) {
        domain_job_end(dom);
        return RPC_RESULT_ERROR;
    }
    if (dispatch_has_managed_save(dom)) {
        g_autofree char *path = dispatch_managed_save_path(dom);

        if (flags & CREATE_FORCE_BOOT) {
            unlink(path);       /* a fresh boot: the image goes */
        } else if (!dispatch_start_managed_save(call, dom,
                                                flags & CREATE_PAUSED, ret,
                                                errp)) {
            domain_job_end(dom);
            return RPC_RESULT_ERROR;
        } else {
            return RPC_RESULT_PENDING;
        }
    }
    process_start(dom, flags & CREATE_PAUSED, domain_op_done,
                  domain_op_new(call, ret));
    return RPC_RESULT_PENDING;
}

static RpcResult proc_create(RpcCall *call, void *a, void *r, GError **errp)
{
    return create_common(call, &((remote_domain_args *)a)->dom, 0, NULL,
                         errp);
}

static RpcResult proc_create_with_flags(RpcCall *call, void *a, void *r,
                                        GError **errp)
{
    remote_domain_flags_args *args = a;

    return create_common(call, &args->dom, args->flags, r, errp);
}

static RpcResult proc_create_xml(RpcCall *call, void *a, void *r,
                                 GError **errp)
{
    remote_domain_create_xml_args *args = a;
    g_autoptr(DomainObj) dom = NULL;
    DomainDef *def;
    RpcResult jr;

    if (!check_flags(args->flags, CREATE_PAUSED | CREATE_XML_VALIDATE,
                     "virDomainCreateXML", errp)) {
        return RPC_RESULT_ERROR;
    }
    def = domain_def_parse_string(args->xml_desc,
                                  (args->flags & CREATE_XML_VALIDATE) ?
                                  DOMAIN_DEF_PARSE_VALIDATE : 0, errp);
    if (!def) {
        return RPC_RESULT_ERROR;
    }
    dispatch_default_emulator(def);
    dom = domain_add_transient(dispatch_driver(), def, errp);
    if (!dom) {
        return RPC_RESULT_ERROR;
    }
    jr = dispatch_job_begin(call, dom, "start");
    if (jr != RPC_RESULT_OK) {
        return jr;
    }
    process_start(dom, args->flags & CREATE_PAUSED, domain_op_done,
                  domain_op_new(call, r));
    return RPC_RESULT_PENDING;
}

/*
 * virDomainSuspend during an outgoing migration (virsh migrate --timeout
 * with --timeout-suspend calls it): allowed alongside the migration job,
 * as libvirt's QEMU driver allows its SUSPEND job during MIGRATION_OUT.
 * The vCPUs stop, the migration goes on to completion; state paused
 * (migrating), event suspended (migrated).  Only while kestrel moves the
 * state: between Begin and Perform the job still refuses it.
 */
static void migration_suspend_done(DomainObj *dom, const GError *err,
                                   void *opaque)
{
    RpcCall *call = opaque;

    if (!err && domain_obj_is_active(dom) &&
        dom->state == DOMAIN_STATE_RUNNING) {
        domain_set_state(dom, DOMAIN_STATE_PAUSED, DOMAIN_PAUSED_MIGRATION);
        domain_emit(dom, DOMAIN_EVENT_SUSPENDED,
                    DOMAIN_EVENT_SUSPENDED_MIGRATED);
    }
    rpc_call_finish(call, err);
}

static bool migration_suspend(RpcCall *call, DomainObj *dom)
{
    if (dom->async_job != DOMAIN_ASYNC_JOB_MIGRATION_OUT ||
        dom->async_phase != DOMAIN_JOB_PHASE_TRANSFER ||
        !domain_obj_is_active(dom)) {
        return false;
    }
    if (dom->state == DOMAIN_STATE_PAUSED) {
        rpc_call_finish(call, NULL);
        return true;
    }
    process_qmp(dom, "stop", migration_suspend_done, call);
    return true;
}

/*
 * One monitor command on a running domain, then @state/@reason and the
 * event.  @running_states: the states the command makes sense in.
 */
static RpcResult monitor_op(RpcCall *call, const remote_nonnull_domain *rdom,
                            const char *job, const char *command,
                            DomainState state, int reason, int event,
                            int detail, GError **errp)
{
    g_autoptr(DomainObj) dom = dispatch_get_domain(rdom, errp);
    DomainOp *op;
    RpcResult jr;

    if (!dom) {
        return RPC_RESULT_ERROR;
    }
    if (g_str_equal(command, "stop") && migration_suspend(call, dom)) {
        return RPC_RESULT_PENDING;
    }
    jr = dispatch_job_begin(call, dom, job);
    if (jr != RPC_RESULT_OK) {
        return jr;
    }
    if (!domain_check_active(dom, errp)) {
        domain_job_end(dom);
        return RPC_RESULT_ERROR;
    }
    if (g_str_equal(command, "cont") && dom->state != DOMAIN_STATE_PAUSED) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                    "domain is not paused");
        if (dom->state == DOMAIN_STATE_RUNNING) {
            g_clear_error(errp);
            g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                        "domain is already running");
        }
        domain_job_end(dom);
        return RPC_RESULT_ERROR;
    }
    if (g_str_equal(command, "stop") && dom->state == DOMAIN_STATE_PAUSED) {
        domain_job_end(dom);        /* already paused: nothing to do */
        return RPC_RESULT_OK;
    }
    if (g_str_equal(command, "system_powerdown")) {
        dom->shutdown_requested = true;
        domain_save_status(dom);
    }
    op = domain_op_new(call, NULL);
    op->state = state;
    op->reason = reason;
    op->event = event;
    op->detail = detail;
    if (event < 0) {
        /* No state change (shutdown, reboot): keep the current one. */
        op->state = dom->state;
        op->reason = dom->reason;
    }
    process_qmp(dom, command, domain_op_done, op);
    return RPC_RESULT_PENDING;
}

static RpcResult proc_suspend(RpcCall *call, void *a, void *r, GError **errp)
{
    return monitor_op(call, &((remote_domain_args *)a)->dom, "suspend",
                      "stop", DOMAIN_STATE_PAUSED, DOMAIN_PAUSED_USER,
                      DOMAIN_EVENT_SUSPENDED, DOMAIN_EVENT_SUSPENDED_PAUSED,
                      errp);
}

static RpcResult proc_resume(RpcCall *call, void *a, void *r, GError **errp)
{
    return monitor_op(call, &((remote_domain_args *)a)->dom, "resume",
                      "cont", DOMAIN_STATE_RUNNING, DOMAIN_RUNNING_UNPAUSED,
                      DOMAIN_EVENT_RESUMED, DOMAIN_EVENT_RESUMED_UNPAUSED,
                      errp);
}

static RpcResult shutdown_common(RpcCall *call,
                                 const remote_nonnull_domain *rdom,
                                 unsigned int flags, GError **errp)
{
    if (flags & ~SHUTDOWN_ACPI_POWER_BTN) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_ARGUMENT_UNSUPPORTED,
                    "only the ACPI power button shutdown mode is supported");
        return RPC_RESULT_ERROR;
    }
    return monitor_op(call, rdom, "shutdown", "system_powerdown", 0, 0, -1,
                      0, errp);
}

static RpcResult proc_shutdown(RpcCall *call, void *a, void *r,
                               GError **errp)
{
    return shutdown_common(call, &((remote_domain_args *)a)->dom, 0, errp);
}

static RpcResult proc_shutdown_flags(RpcCall *call, void *a, void *r,
                                     GError **errp)
{
    remote_domain_flags_args *args = a;

    return shutdown_common(call, &args->dom, args->flags, errp);
}

static RpcResult proc_reboot(RpcCall *call, void *a, void *r, GError **errp)
{
    remote_domain_flags_args *args = a;

    /* No guest cooperation channel yet: a reboot is a reset. */
    if (args->flags & ~SHUTDOWN_ACPI_POWER_BTN) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_ARGUMENT_UNSUPPORTED,
                    "only the default reboot mode is supported");
        return RPC_RESULT_ERROR;
    }
    return monitor_op(call, &args->dom, "reboot", "system_reset", 0, 0, -1,
                      0, errp);
}

static RpcResult proc_reset(RpcCall *call, void *a, void *r, GError **errp)
{
    remote_domain_flags_args *args = a;

    if (!check_flags(args->flags, 0, "virDomainReset", errp)) {
        return RPC_RESULT_ERROR;
    }
    return monitor_op(call, &args->dom, "reset", "system_reset", 0, 0, -1,
                      0, errp);
}

/* Destroy takes no job: it must work while a start or a call hangs. */
static void destroy_done(DomainObj *dom, const GError *err, void *opaque)
{
    RpcCall *call = opaque;

    if (!dom->persistent && !domain_obj_is_active(dom) && !dom->job) {
        domain_remove(dom);
    }
    rpc_call_finish(call, err);
}

static RpcResult destroy_common(RpcCall *call,
                                const remote_nonnull_domain *rdom,
                                unsigned int flags, GError **errp)
{
    g_autoptr(DomainObj) dom = NULL;

    if (!check_flags(flags, DESTROY_GRACEFUL, "virDomainDestroyFlags",
                     errp)) {
        return RPC_RESULT_ERROR;
    }
    dom = dispatch_get_domain(rdom, errp);
    if (!dom || !domain_check_active(dom, errp)) {
        return RPC_RESULT_ERROR;
    }
    process_destroy(dom, flags & DESTROY_GRACEFUL, destroy_done, call);
    return RPC_RESULT_PENDING;
}

static RpcResult proc_destroy(RpcCall *call, void *a, void *r, GError **errp)
{
    return destroy_common(call, &((remote_domain_args *)a)->dom, 0, errp);
}

static RpcResult proc_destroy_flags(RpcCall *call, void *a, void *r,
                                    GError **errp)
{
    remote_domain_flags_args *args = a;

    return destroy_common(call, &args->dom, args->flags, errp);
}

/* ---- information ------------------------------------------------------- */

#define WITH_DOMAIN(rdom)                                              \
    g_autoptr(DomainObj) dom = dispatch_get_domain((rdom), errp);      \
    if (!dom) {                                                        \
        return RPC_RESULT_ERROR;                                       \
    }

static RpcResult proc_get_xml_desc(RpcCall *call, void *a, void *r,
                                   GError **errp)
{
    remote_domain_flags_args *args = a;
    remote_string_ret *ret = r;
    DrvConn *conn = rpc_conn_get_data(rpc_call_get_conn(call));
    WITH_DOMAIN(&args->dom);

    if (!check_flags(args->flags, XML_SECURE | XML_INACTIVE |
                     XML_UPDATE_CPU | XML_MIGRATABLE, "virDomainGetXMLDesc",
                     errp)) {
        return RPC_RESULT_ERROR;
    }
    if (conn->readonly && (args->flags & XML_SECURE)) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_DENIED,
                    "virDomainGetXMLDesc with secure flag");
        return RPC_RESULT_ERROR;
    }
    ret->str = domain_format_xml(dom, args->flags & ~XML_UPDATE_CPU, errp);
    return ret->str ? RPC_RESULT_OK : RPC_RESULT_ERROR;
}

static RpcResult proc_get_info(RpcCall *call, void *a, void *r,
                               GError **errp)
{
    remote_domain_get_info_ret *ret = r;
    WITH_DOMAIN(&((remote_domain_args *)a)->dom);

    ret->state = dom->state;
    ret->maxMem = dom->def->memory_kib;
    ret->memory = dom->def->current_kib ? dom->def->current_kib
                                        : dom->def->memory_kib;
    if (domain_obj_is_active(dom) && dom->balloon_kib) {
        ret->memory = dom->balloon_kib;
    }
    ret->nrVirtCpu = dom->def->vcpus;
    ret->cpuTime = domain_obj_is_active(dom) ? process_cpu_time(dom) : 0;
    return RPC_RESULT_OK;
}

static RpcResult proc_get_state(RpcCall *call, void *a, void *r,
                                GError **errp)
{
    remote_domain_flags_args *args = a;
    remote_domain_get_state_ret *ret = r;
    WITH_DOMAIN(&args->dom);

    if (!check_flags(args->flags, 0, "virDomainGetState", errp)) {
        return RPC_RESULT_ERROR;
    }
    ret->state = dom->state;
    ret->reason = dom->reason;
    return RPC_RESULT_OK;
}

static RpcResult proc_get_os_type(RpcCall *call, void *a, void *r,
                                  GError **errp)
{
    WITH_DOMAIN(&((remote_domain_args *)a)->dom);

    ((remote_string_ret *)r)->str = g_strdup("hvm");
    return RPC_RESULT_OK;
}

static RpcResult proc_is_active(RpcCall *call, void *a, void *r,
                                GError **errp)
{
    WITH_DOMAIN(&((remote_domain_args *)a)->dom);

    ((remote_int_ret *)r)->ret = domain_obj_is_active(dom);
    return RPC_RESULT_OK;
}

static RpcResult proc_is_persistent(RpcCall *call, void *a, void *r,
                                    GError **errp)
{
    WITH_DOMAIN(&((remote_domain_args *)a)->dom);

    ((remote_int_ret *)r)->ret = dom->persistent;
    return RPC_RESULT_OK;
}

static RpcResult proc_is_updated(RpcCall *call, void *a, void *r,
                                 GError **errp)
{
    WITH_DOMAIN(&((remote_domain_args *)a)->dom);

    ((remote_int_ret *)r)->ret = dom->newdef &&
        !domain_def_equal(dom->def, dom->newdef);
    return RPC_RESULT_OK;
}

static RpcResult proc_get_autostart(RpcCall *call, void *a, void *r,
                                    GError **errp)
{
    WITH_DOMAIN(&((remote_domain_args *)a)->dom);

    ((remote_int_ret *)r)->ret = dom->autostart;
    return RPC_RESULT_OK;
}

static RpcResult proc_set_autostart(RpcCall *call, void *a, void *r,
                                    GError **errp)
{
    remote_domain_set_autostart_args *args = a;
    WITH_DOMAIN(&args->dom);

    return domain_set_autostart(dom, args->autostart != 0, errp) ?
           RPC_RESULT_OK : RPC_RESULT_ERROR;
}

static RpcResult proc_get_max_memory(RpcCall *call, void *a, void *r,
                                     GError **errp)
{
    WITH_DOMAIN(&((remote_domain_args *)a)->dom);

    ((remote_domain_get_max_memory_ret *)r)->memory = dom->def->memory_kib;
    return RPC_RESULT_OK;
}

static RpcResult proc_get_max_vcpus(RpcCall *call, void *a, void *r,
                                    GError **errp)
{
    WITH_DOMAIN(&((remote_domain_args *)a)->dom);

    ((remote_int_ret *)r)->ret = dom->def->vcpus;
    return RPC_RESULT_OK;
}

static RpcResult proc_get_vcpus_flags(RpcCall *call, void *a, void *r,
                                      GError **errp)
{
    remote_domain_flags_args *args = a;
    WITH_DOMAIN(&args->dom);

    /* LIVE 1, CONFIG 2, MAXIMUM 4; GUEST 8 needs an agent. */
    if (!check_flags(args->flags, 7, "virDomainGetVcpusFlags", errp)) {
        return RPC_RESULT_ERROR;
    }
    if ((args->flags & 1) && !domain_check_active(dom, errp)) {
        return RPC_RESULT_ERROR;
    }
    ((remote_int_ret *)r)->ret = (args->flags & 2)
        ? domain_obj_get_persistent_def(dom)->vcpus : dom->def->vcpus;
    return RPC_RESULT_OK;
}

static RpcResult proc_get_security_label(RpcCall *call, void *a, void *r,
                                         GError **errp)
{
    remote_domain_get_security_label_ret *ret = r;
    WITH_DOMAIN(&((remote_domain_args *)a)->dom);

    ret->label.label_len = 1;
    ret->label.label_val = g_new0(char, 1);
    return RPC_RESULT_OK;
}

static RpcResult proc_get_control_info(RpcCall *call, void *a, void *r,
                                       GError **errp)
{
    remote_domain_flags_args *args = a;
    remote_domain_get_control_info_ret *ret = r;
    WITH_DOMAIN(&args->dom);

    if (!check_flags(args->flags, 0, "virDomainGetControlInfo", errp) ||
        !domain_check_active(dom, errp)) {
        return RPC_RESULT_ERROR;
    }
    ret->state = dom->job ? 1 : 0;      /* OK or JOB */
    return RPC_RESULT_OK;
}

/* ---- metadata (virsh metadata, desc, desc --title) --------------------- */

enum {
    METADATA_AFFECT_LIVE = 1 << 0,      /* virDomainModificationImpact */
    METADATA_AFFECT_CONFIG = 1 << 1,
};

/*
 * The definition a metadata call reads (@set false) or the ones it
 * changes, as libvirt's virDomainObjUpdateModificationImpact decides:
 * CURRENT is LIVE on a running domain, else CONFIG.
 */
static bool metadata_impact(DomainObj *dom, unsigned int *flags, bool set,
                            GError **errp)
{
    const unsigned int both = METADATA_AFFECT_LIVE | METADATA_AFFECT_CONFIG;

    if (*flags & ~both) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                    "unsupported flags (0x%x) in function %s",
                    *flags & ~both, set ? "virDomainSetMetadata"
                                        : "virDomainGetMetadata");
        return false;
    }
    if (!set && (*flags & both) == both) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                    "Flags 'live' and 'config' are mutually exclusive");
        return false;
    }
    if (!(*flags & both)) {
        *flags = domain_obj_is_active(dom) ? METADATA_AFFECT_LIVE
                                           : METADATA_AFFECT_CONFIG;
    }
    if ((*flags & METADATA_AFFECT_LIVE) && !domain_check_active(dom, errp)) {
        return false;
    }
    if ((*flags & METADATA_AFFECT_CONFIG) && !dom->persistent) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                    "transient domains do not have any persistent config");
        return false;
    }
    return true;
}

static RpcResult proc_get_metadata(RpcCall *call, void *a, void *r,
                                   GError **errp)
{
    remote_domain_get_metadata_args *args = a;
    remote_domain_get_metadata_ret *ret = r;
    g_autoptr(DomainObj) dom = dispatch_get_domain(&args->dom, errp);
    unsigned int flags = args->flags;
    const DomainDef *def;

    if (!dom || !metadata_impact(dom, &flags, false, errp)) {
        return RPC_RESULT_ERROR;
    }
    def = flags & METADATA_AFFECT_LIVE ? dom->def
                                       : domain_obj_get_persistent_def(dom);
    ret->metadata = domain_def_get_metadata(def, args->type,
                                            args->uri ? *args->uri : NULL,
                                            errp);
    return ret->metadata ? RPC_RESULT_OK : RPC_RESULT_ERROR;
}

static RpcResult proc_set_metadata(RpcCall *call, void *a, void *r,
                                   GError **errp)
{
    remote_domain_set_metadata_args *args = a;
    g_autoptr(DomainObj) dom = dispatch_get_domain(&args->dom, errp);
    const char *metadata = args->metadata ? *args->metadata : NULL;
    const char *key = args->key ? *args->key : NULL;
    const char *uri = args->uri ? *args->uri : NULL;
    unsigned int flags = args->flags;
    g_autoptr(DomainDef) live = NULL;
    g_autoptr(DomainDef) conf = NULL;
    RpcResult jr;

    if (!dom) {
        return RPC_RESULT_ERROR;
    }
    jr = dispatch_job_begin(call, dom, "metadata");
    if (jr != RPC_RESULT_OK) {
        return jr;
    }
    if (!metadata_impact(dom, &flags, true, errp)) {
        goto error;
    }
    /* both changes are checked on copies before either is made */
    if (flags & METADATA_AFFECT_LIVE) {
        live = domain_def_copy(dom->def);
        if (!domain_def_set_metadata(live, args->type, metadata, key, uri,
                                     errp)) {
            goto error;
        }
    }
    if (flags & METADATA_AFFECT_CONFIG) {
        conf = domain_def_copy(domain_obj_get_persistent_def(dom));
        if (!domain_def_set_metadata(conf, args->type, metadata, key, uri,
                                     errp) ||
            !domain_save_config(dom->drv, conf, errp)) {
            goto error;
        }
        (void)domain_def_set_metadata(domain_obj_edit_config(dom),
                                      args->type, metadata, key, uri, NULL);
    }
    if (live) {
        (void)domain_def_set_metadata(domain_obj_edit_live(dom), args->type,
                                      metadata, key, uri, NULL);
        domain_save_status(dom);
    }
    domain_job_end(dom);
    return RPC_RESULT_OK;

 error:
    domain_job_end(dom);
    return RPC_RESULT_ERROR;
}

/* ---- the table --------------------------------------------------------- */

const RpcProc dispatch_domain_procs[] = {
    PROC(DOMAIN_CREATE, "virDomainCreate", remote_domain_args, VOID_T,
         proc_create, RW),
    PROC(DOMAIN_CREATE_XML, "virDomainCreateXML",
         remote_domain_create_xml_args, remote_domain_ret, proc_create_xml,
         RW),
    PROC(DOMAIN_DEFINE_XML, "virDomainDefineXML",
         remote_domain_define_xml_args, remote_domain_ret, proc_define_xml,
         RW),
    PROC(DOMAIN_DESTROY, "virDomainDestroy", remote_domain_args, VOID_T,
         proc_destroy, RW),
    PROC(DOMAIN_GET_XML_DESC, "virDomainGetXMLDesc",
         remote_domain_flags_args, remote_string_ret, proc_get_xml_desc, RO),
    PROC(DOMAIN_GET_AUTOSTART, "virDomainGetAutostart", remote_domain_args,
         remote_int_ret, proc_get_autostart, RO),
    PROC(DOMAIN_GET_INFO, "virDomainGetInfo", remote_domain_args,
         remote_domain_get_info_ret, proc_get_info, RO),
    PROC(DOMAIN_GET_MAX_MEMORY, "virDomainGetMaxMemory", remote_domain_args,
         remote_domain_get_max_memory_ret, proc_get_max_memory, RO),
    PROC(DOMAIN_GET_MAX_VCPUS, "virDomainGetMaxVcpus", remote_domain_args,
         remote_int_ret, proc_get_max_vcpus, RO),
    PROC(DOMAIN_GET_OS_TYPE, "virDomainGetOSType", remote_domain_args,
         remote_string_ret, proc_get_os_type, RO),
    PROC(CONNECT_LIST_DEFINED_DOMAINS, "virConnectListDefinedDomains",
         remote_connect_list_defined_domains_args,
         remote_connect_list_defined_domains_ret, proc_list_defined_domains,
         RO),
    PROC(DOMAIN_LOOKUP_BY_ID, "virDomainLookupByID",
         remote_domain_lookup_by_id_args, remote_domain_ret,
         proc_lookup_by_id, RO),
    PROC(DOMAIN_LOOKUP_BY_NAME, "virDomainLookupByName",
         remote_domain_lookup_by_name_args, remote_domain_ret,
         proc_lookup_by_name, RO),
    PROC(DOMAIN_LOOKUP_BY_UUID, "virDomainLookupByUUID",
         remote_domain_lookup_by_uuid_args, remote_domain_ret,
         proc_lookup_by_uuid, RO),
    PROC(CONNECT_NUM_OF_DEFINED_DOMAINS, "virConnectNumOfDefinedDomains",
         VOID_T, remote_connect_num_of_defined_domains_ret,
         proc_num_of_defined_domains, RO),
    PROC(DOMAIN_REBOOT, "virDomainReboot", remote_domain_flags_args, VOID_T,
         proc_reboot, RW),
    PROC(DOMAIN_RESUME, "virDomainResume", remote_domain_args, VOID_T,
         proc_resume, RW),
    PROC(DOMAIN_SET_AUTOSTART, "virDomainSetAutostart",
         remote_domain_set_autostart_args, VOID_T, proc_set_autostart, RW),
    PROC(DOMAIN_SHUTDOWN, "virDomainShutdown", remote_domain_args, VOID_T,
         proc_shutdown, RW),
    PROC(DOMAIN_SUSPEND, "virDomainSuspend", remote_domain_args, VOID_T,
         proc_suspend, RW),
    PROC(DOMAIN_UNDEFINE, "virDomainUndefine", remote_domain_args, VOID_T,
         proc_undefine, RW),
    PROC(CONNECT_LIST_DOMAINS, "virConnectListDomains",
         remote_connect_list_domains_args, remote_connect_list_domains_ret,
         proc_list_domains, RO),
    PROC(CONNECT_NUM_OF_DOMAINS, "virConnectNumOfDomains", VOID_T,
         remote_connect_num_of_domains_ret, proc_num_of_domains, RO),
    PROC(DOMAIN_GET_SECURITY_LABEL, "virDomainGetSecurityLabel",
         remote_domain_args, remote_domain_get_security_label_ret,
         proc_get_security_label, RO),
    PROC(DOMAIN_IS_ACTIVE, "virDomainIsActive", remote_domain_args,
         remote_int_ret, proc_is_active, RO),
    PROC(DOMAIN_IS_PERSISTENT, "virDomainIsPersistent", remote_domain_args,
         remote_int_ret, proc_is_persistent, RO),
    PROC(DOMAIN_CREATE_WITH_FLAGS, "virDomainCreateWithFlags",
         remote_domain_flags_args, remote_domain_ret, proc_create_with_flags,
         RW),
    PROC(DOMAIN_GET_VCPUS_FLAGS, "virDomainGetVcpusFlags",
         remote_domain_flags_args, remote_int_ret, proc_get_vcpus_flags, RO),
    PROC(DOMAIN_IS_UPDATED, "virDomainIsUpdated", remote_domain_args,
         remote_int_ret, proc_is_updated, RO),
    PROC(DOMAIN_GET_STATE, "virDomainGetState", remote_domain_flags_args,
         remote_domain_get_state_ret, proc_get_state, RO),
    PROC(DOMAIN_GET_CONTROL_INFO, "virDomainGetControlInfo",
         remote_domain_flags_args, remote_domain_get_control_info_ret,
         proc_get_control_info, RO),
    PROC(DOMAIN_UNDEFINE_FLAGS, "virDomainUndefineFlags",
         remote_domain_flags_args, VOID_T, proc_undefine_flags, RW),
    PROC(DOMAIN_DESTROY_FLAGS, "virDomainDestroyFlags",
         remote_domain_flags_args, VOID_T, proc_destroy_flags, RW),
    PROC(DOMAIN_RESET, "virDomainReset", remote_domain_flags_args, VOID_T,
         proc_reset, RW),
    PROC(DOMAIN_SHUTDOWN_FLAGS, "virDomainShutdownFlags",
         remote_domain_flags_args, VOID_T, proc_shutdown_flags, RW),
    PROC(DOMAIN_SET_METADATA, "virDomainSetMetadata",
         remote_domain_set_metadata_args, VOID_T, proc_set_metadata, RW),
    PROC(DOMAIN_GET_METADATA, "virDomainGetMetadata",
         remote_domain_get_metadata_args, remote_domain_get_metadata_ret,
         proc_get_metadata, RO),
    PROC(CONNECT_LIST_ALL_DOMAINS, "virConnectListAllDomains",
         remote_connect_list_all_domains_args,
         remote_connect_list_all_domains_ret, proc_list_all_domains, RO),
    PROC(DOMAIN_DEFINE_XML_FLAGS, "virDomainDefineXMLFlags",
         remote_domain_define_xml_flags_args, remote_domain_ret,
         proc_define_xml_flags, RW),
};

const size_t dispatch_domain_nprocs = G_N_ELEMENTS(dispatch_domain_procs);
