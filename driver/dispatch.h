/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The procedures virtkestreld serves: connection and host procedures
 * (dispatch.c), domain procedures (dispatch-domain.c), and delivery of
 * domain events to the connections that registered for them.
 */
#ifndef DRIVER_DISPATCH_H
#define DRIVER_DISPATCH_H

#include "domain.h"
#include "rpc.h"

/*
 * Entries of the RpcProc tables: PROC(NUM, "virApiName", args type, ret
 * type, handler, flags) for REMOTE_PROC_NUM, with VOID_T for a void
 * argument or result, and flags RO (allowed on read-only connections), RW
 * (not), EARLY (also before CONNECT_OPEN).
 */
#define VOID_T char             /* the size of a void argument or result */
#define xdr_VOID_T rpc_xdr_void
#define PROC(num, api, args, ret, fn, fl) \
    { REMOTE_PROC_##num, api, (xdrproc_t)xdr_##args, sizeof(args), \
      (xdrproc_t)xdr_##ret, sizeof(ret), fn, fl }
#define RO RPC_PROC_READONLY_OK
#define RW 0
#define EARLY (RPC_PROC_BEFORE_OPEN | RPC_PROC_READONLY_OK)

/* Per-connection state. */
typedef struct {
    RpcConn *rpc;
    bool open;
    bool readonly;
    GHashTable *callbacks;      /* callbackID -> DispatchEventReg */
    guint32 legacy_events;      /* bit per event ID: legacy registrations */
} DrvConn;

/* The operations to create the RpcServer with, serving @drv. */
const RpcServerOps *dispatch_init(Driver *drv, RpcServer **srvp);

/* The driver served (set by dispatch_init). */
Driver *dispatch_driver(void);

/* Domain procedures of dispatch-domain.c, sorted by number. */
extern const RpcProc dispatch_domain_procs[];
extern const size_t dispatch_domain_nprocs;

/* Memory procedures of dispatch-memory.c. */
extern const RpcProc dispatch_memory_procs[];
extern const size_t dispatch_memory_nprocs;

/* Statistics procedures of dispatch-stats.c. */
extern const RpcProc dispatch_stats_procs[];
extern const size_t dispatch_stats_nprocs;

/* Host procedures (and domain CPU statistics) of dispatch-node.c. */
extern const RpcProc dispatch_node_procs[];
extern const size_t dispatch_node_nprocs;

/* Save, restore and job procedures of dispatch-save.c. */
extern const RpcProc dispatch_save_procs[];
extern const size_t dispatch_save_nprocs;

/* Migration procedures of dispatch-migrate.c (protocol v3 with
 * extensible parameters). */
extern const RpcProc dispatch_migrate_procs[];
extern const size_t dispatch_migrate_nprocs;

/* Disk and interface procedures of dispatch-devices.c. */
extern const RpcProc dispatch_devices_procs[];
extern const size_t dispatch_devices_nprocs;

/*
 * Capacity (what the guest sees: a qcow2's virtual size), allocation (host
 * bytes in use) and physical size (the file or device) of @d, read from
 * the image itself.
 */
bool dispatch_disk_image_info(const DomainDisk *d, guint64 *capacity,
                              guint64 *allocation, guint64 *physical,
                              GError **errp);

/* The "stats" of disk @i of @dom in a query-blockstats reply @ret (may be
 * NULL), or NULL. */
JsonObject *dispatch_blockstats_of(JsonNode *ret, DomainObj *dom, guint i);

/* @conn closes: the migrations it was driving are called off. */
void dispatch_migrate_conn_closed(DrvConn *conn);

/* Managed save image of @dom (in the driver's save dir). */
char *dispatch_managed_save_path(DomainObj *dom);
bool dispatch_has_managed_save(DomainObj *dom);

/*
 * Start @dom (inactive, its job held) from its managed save image: false
 * with @errp set if the image is unusable; else the call is finished
 * later, @ret (may be NULL) filled.
 */
bool dispatch_start_managed_save(RpcCall *call, DomainObj *dom, bool paused,
                                 remote_domain_ret *ret, GError **errp);

/* Console procedures of dispatch-console.c. */
extern const RpcProc dispatch_console_procs[];
extern const size_t dispatch_console_nprocs;

/* @dom stopped: its console stream, if any, gets end of data. */
void dispatch_console_domain_stopped(DomainObj *dom);

/* Fill a wire domain handle from @dom (current name, uuid and id). */
void dispatch_make_domain(remote_nonnull_domain *out, DomainObj *dom);

/*
 * Begin a job on @dom for @call: RPC_RESULT_OK if it has begun, or
 * RPC_RESULT_PENDING if another job runs: the call then runs again from
 * the start when that job ends (or fails after DOMAIN_JOB_WAIT_MS), as
 * libvirt's drivers wait for the state change lock.
 */
RpcResult dispatch_job_begin(RpcCall *call, DomainObj *dom, const char *job);

/* The figures of @st as libvirt's job stats (VIR_DOMAIN_JOB_*), appended
 * to @params (remote_typed_param). */
void dispatch_job_stats_params(const DomainJobStats *st, bool completed,
                               GArray *params);

/* The domain a wire handle names, looked up by uuid. */
DomainObj *dispatch_get_domain(const remote_nonnull_domain *dom,
                               GError **errp);

/* Each guest balloon stat QEMU reported in @stats (a guest-stats "stats"
 * object), as its domstats field ("balloon.unused"...) and value in
 * libvirt's units (KiB for sizes). Unset stats are skipped. */
void memory_guest_stats_foreach(JsonObject *stats,
                                void (*fn)(const char *field, guint64 v,
                                           void *opaque),
                                void *opaque);

#endif /* DRIVER_DISPATCH_H */
