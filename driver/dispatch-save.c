/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Save, restore and managed save (virsh save, restore, managedsave,
 * save-image-dumpxml, start of a managed-saved domain), and the job
 * procedures that watch and steer them (domjobinfo, domjobabort,
 * migrate-setmaxdowntime/-getmaxdowntime, migrate-setspeed/-getspeed).
 *
 * A saved image is one file:
 *
 *   offset 0    SaveImageHeader (little-endian, 64 bytes)
 *   offset 64   the domain XML (xml_len bytes, no NUL)
 *   stream_off  kestrel's migration stream, to the end of the file
 *
 * stream_off is 64 + xml_len rounded up to 4 KiB.  The daemon writes the
 * header and the XML, then has kestrel migrate to file:PATH,offset=N (it
 * truncates the file there and writes from it); restore checks the header
 * and the XML and starts kestrel with -incoming defer and migrate-incoming
 * from the same URI.  Saving pauses the vCPUs first, as libvirt does, so
 * the stream is one pass; the domain is shut off (reason saved) once the
 * stream is complete, and runs on (reason save-canceled) if it fails.
 *
 * A save or restore is an async job (domain.h): queries answer during it,
 * modifications are refused at once, destroy ends it (the save fails).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <glib/gstdio.h>

#include "dispatch.h"
#include "monitor.h"
#include "process.h"
#include "virerror.h"

#define SAVE_MAGIC "KestrelSaveImage"       /* 16 bytes, no NUL */
#define SAVE_VERSION 1u
#define SAVE_HEADER_SIZE 64u
#define SAVE_ALIGN 4096u
#define SAVE_XML_MAX (16u << 20)
#define SAVE_POLL_MS 50

/* SaveImageHeader.flags */
#define SAVE_IMAGE_RUNNING 1u       /* restore runs the vCPUs by default */

/* virDomainSaveRestoreFlags (wire values). */
#define SAVE_BYPASS_CACHE 1u
#define SAVE_RUNNING 2u
#define SAVE_PAUSED 4u
#define SAVE_RESET_NVRAM 8u

/* virDomainCreateFlags used here. */
#define START_PAUSED 1u

/* virDomainJobOperation (wire values). */
enum {
    JOB_OPERATION_SAVE = 2,
    JOB_OPERATION_RESTORE = 3,
    JOB_OPERATION_MIGRATION_IN = 4,
    JOB_OPERATION_MIGRATION_OUT = 5,
};

/* virDomainGetJobStatsFlags */
#define JOB_STATS_COMPLETED 1u
#define JOB_STATS_KEEP_COMPLETED 2u

/* virTypedParameterType (wire values). */
enum {
    TP_INT = 1,
    TP_ULLONG = 4,
};

/* libvirt's "no limit" for migrate-getspeed, in MiB/s (LLONG_MAX / 1 MiB,
 * QEMU_DOMAIN_MIG_BANDWIDTH_MAX). */
#define SPEED_UNLIMITED_MIB (G_MAXINT64 / (1024 * 1024))

typedef struct {
    char magic[16];
    guint32 version;
    guint32 xml_len;
    guint32 flags;              /* SAVE_IMAGE_* */
    guint32 reserved0;
    guint64 stream_offset;
    guint8 reserved[24];
} SaveImageHeader;

G_STATIC_ASSERT(sizeof(SaveImageHeader) == SAVE_HEADER_SIZE);

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

char *dispatch_managed_save_path(DomainObj *dom)
{
    g_autofree char *file = g_strdup_printf("%s.save", dom->name);

    return g_build_filename(dom->drv->save_dir, file, NULL);
}

static bool has_managed_save(DomainObj *dom)
{
    g_autofree char *path = dispatch_managed_save_path(dom);

    return g_file_test(path, G_FILE_TEST_EXISTS);
}

/* ---- the image file ---------------------------------------------------- */

/* Write the header and @xml to @path; *@offset: where the stream goes. */
static bool save_image_write_head(const char *path, const char *xml,
                                  bool running, guint64 *offset,
                                  GError **errp)
{
    SaveImageHeader h = { 0 };
    gsize len = strlen(xml);
    g_autofree char *buf = NULL;
    guint64 off = (SAVE_HEADER_SIZE + len + SAVE_ALIGN - 1) &
                  ~(guint64)(SAVE_ALIGN - 1);
    int fd;

    memcpy(h.magic, SAVE_MAGIC, sizeof(h.magic));
    h.version = GUINT32_TO_LE(SAVE_VERSION);
    h.xml_len = GUINT32_TO_LE((guint32)len);
    h.flags = GUINT32_TO_LE(running ? SAVE_IMAGE_RUNNING : 0);
    h.stream_offset = GUINT64_TO_LE(off);
    buf = g_malloc0(off);
    memcpy(buf, &h, sizeof(h));
    memcpy(buf + SAVE_HEADER_SIZE, xml, len);

    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_SYSTEM_ERROR,
                    "Failed to create file '%s': %s", path,
                    g_strerror(errno));
        return false;
    }
    for (gsize done = 0; done < off;) {
        ssize_t n = write(fd, buf + done, off - done);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            g_set_error(errp, VIR_ERROR, VIR_ERR_SYSTEM_ERROR,
                        "cannot write save image header to '%s': %s", path,
                        g_strerror(errno));
            close(fd);
            unlink(path);
            return false;
        }
        done += n;
    }
    if (close(fd) < 0) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_SYSTEM_ERROR,
                    "cannot write save image '%s': %s", path,
                    g_strerror(errno));
        unlink(path);
        return false;
    }
    *offset = off;
    return true;
}

/* Read and check the image at @path: its XML, stream offset and whether
 * it was saved running.  Errors name what is wrong with the file. */
static bool save_image_read(const char *path, char **xmlp, guint64 *offset,
                            bool *running, GError **errp)
{
    SaveImageHeader h;
    struct stat st;
    g_autofree char *xml = NULL;
    guint32 len;
    guint64 off;
    int fd;
    ssize_t n;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_SYSTEM_ERROR,
                    "cannot open save image '%s': %s", path,
                    g_strerror(errno));
        return false;
    }
    if (fstat(fd, &st) < 0 ||
        (n = pread(fd, &h, sizeof(h), 0)) != (ssize_t)sizeof(h) ||
        memcmp(h.magic, SAVE_MAGIC, sizeof(h.magic)) != 0) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_FAILED,
                    "image magic is incorrect: '%s' is not a kestrel save "
                    "image", path);
        close(fd);
        return false;
    }
    if (GUINT32_FROM_LE(h.version) != SAVE_VERSION) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_FAILED,
                    "image version is not supported (%u > %u)",
                    GUINT32_FROM_LE(h.version), SAVE_VERSION);
        close(fd);
        return false;
    }
    len = GUINT32_FROM_LE(h.xml_len);
    off = GUINT64_FROM_LE(h.stream_offset);
    if (len == 0 || len > SAVE_XML_MAX ||
        off < SAVE_HEADER_SIZE + (guint64)len ||
        off >= (guint64)st.st_size) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_FAILED,
                    "save image '%s' is truncated or corrupt (XML length "
                    "%u, state at %" G_GUINT64_FORMAT ", file size %lld)",
                    path, len, off, (long long)st.st_size);
        close(fd);
        return false;
    }
    xml = g_malloc0((gsize)len + 1);
    n = pread(fd, xml, len, SAVE_HEADER_SIZE);
    close(fd);
    if (n != (ssize_t)len || strlen(xml) != len) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_FAILED,
                    "cannot read the domain XML of save image '%s'", path);
        return false;
    }
    *xmlp = g_steal_pointer(&xml);
    *offset = off;
    *running = GUINT32_FROM_LE(h.flags) & SAVE_IMAGE_RUNNING;
    return true;
}

/* The image's definition, checked; NULL with @errp set. */
static DomainDef *save_image_def(const char *path, guint64 *offset,
                                 bool *running, GError **errp)
{
    g_autofree char *xml = NULL;
    g_autoptr(GError) err = NULL;
    DomainDef *def;

    if (!save_image_read(path, &xml, offset, running, errp)) {
        return NULL;
    }
    def = domain_def_parse_string(xml, 0, &err);
    if (!def) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_FAILED,
                    "the domain XML in save image '%s' is invalid: %s", path,
                    err->message);
        return NULL;
    }
    if (!def->emulator && dispatch_driver()->emulator) {
        def->emulator = g_strdup(dispatch_driver()->emulator);
    }
    return def;
}

/* ---- save -------------------------------------------------------------- */

typedef struct {
    RpcCall *call;
    DomainObj *dom;
    char *path;
    char *uri;
    bool was_running;
    guint timer;
    GError *err;
} SaveOp;

static void save_op_free(SaveOp *op)
{
    g_clear_handle_id(&op->timer, g_source_remove);
    domain_obj_unref(op->dom);
    g_free(op->path);
    g_free(op->uri);
    g_clear_error(&op->err);
    g_free(op);
}

static void save_finish(SaveOp *op, int info_type, const GError *err)
{
    DomainObj *dom = op->dom;

    domain_async_job_end(dom, info_type);
    if (!dom->persistent && !domain_obj_is_active(dom)) {
        domain_remove(dom);
    }
    rpc_call_finish(op->call, err);
    save_op_free(op);
}

static void save_resumed(DomainObj *dom, const GError *err, void *opaque)
{
    SaveOp *op = opaque;

    if (!err && domain_obj_is_active(dom)) {
        domain_set_state(dom, DOMAIN_STATE_RUNNING,
                         DOMAIN_RUNNING_SAVE_CANCELED);
    }
    save_finish(op, op->err->code == VIR_ERR_OPERATION_ABORTED ?
                DOMAIN_JOB_INFO_CANCELLED : DOMAIN_JOB_INFO_FAILED,
                op->err);
}

/* The save did not happen: no image, the domain goes on as before. */
static void save_failed(SaveOp *op, GError *err)
{
    DomainObj *dom = op->dom;

    op->err = err;
    unlink(op->path);
    g_clear_handle_id(&op->timer, g_source_remove);
    if (op->was_running && domain_obj_is_active(dom) &&
        dom->state == DOMAIN_STATE_PAUSED) {
        monitor_cont(dom, save_resumed, op);
        return;
    }
    if (domain_obj_is_active(dom) && dom->state == DOMAIN_STATE_PAUSED) {
        domain_set_state(dom, DOMAIN_STATE_PAUSED, DOMAIN_PAUSED_USER);
    }
    save_finish(op, err->code == VIR_ERR_OPERATION_ABORTED ?
                DOMAIN_JOB_INFO_CANCELLED : DOMAIN_JOB_INFO_FAILED, err);
}

static void save_stopped(DomainObj *dom, const GError *err, void *opaque)
{
    SaveOp *op = opaque;

    save_finish(op, DOMAIN_JOB_INFO_COMPLETED, NULL);
}

static gboolean save_poll(void *opaque);

static void save_progress(DomainObj *dom, const MonitorMigrationStats *st,
                          const GError *err, void *opaque)
{
    SaveOp *op = opaque;

    g_debug("save of '%s': %s, %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
            " bytes", dom->name, st ? monitor_migration_status_name(st->status)
            : "error", st ? st->ram_transferred : 0, st ? st->ram_total : 0);
    if (err || !domain_obj_is_active(dom)) {
        save_failed(op, g_error_new(VIR_ERROR, VIR_ERR_OPERATION_FAILED,
                                    "domain save job: %s",
                                    !domain_obj_is_active(dom) ?
                                    "domain is not running" :
                                    err->message));
        return;
    }
    monitor_migration_stats_to_job(st, &dom->job_stats);
    dom->job_stats.time_elapsed = g_get_real_time() / 1000 -
                                  dom->async_start;
    switch (st->status) {
    case MONITOR_MIGRATION_COMPLETED:
        domain_async_job_set_phase(dom, DOMAIN_JOB_PHASE_FINISH);
        /* The state is on disk: the VMM goes, reporting "saved". */
        dom->stop_reason = DOMAIN_SHUTOFF_SAVED;
        dom->stop_detail = DOMAIN_EVENT_STOPPED_SAVED;
        process_destroy(dom, false, save_stopped, op);
        return;
    case MONITOR_MIGRATION_CANCELLED:
    case MONITOR_MIGRATION_FAILED:
        save_failed(op, monitor_migration_job_error(st, "domain save job"));
        return;
    default:
        op->timer = g_timeout_add(SAVE_POLL_MS, save_poll, op);
        return;
    }
}

static gboolean save_poll(void *opaque)
{
    SaveOp *op = opaque;

    op->timer = 0;
    monitor_query_migrate(op->dom, save_progress, op);
    return G_SOURCE_REMOVE;
}

static void save_migrating(DomainObj *dom, const GError *err, void *opaque)
{
    SaveOp *op = opaque;

    g_debug("save of '%s': migrate %s", dom->name, err ? err->message : "ok");
    if (err) {
        save_failed(op, g_error_new(VIR_ERROR, VIR_ERR_OPERATION_FAILED,
                                    "domain save job: %s", err->message));
        return;
    }
    domain_async_job_set_phase(dom, DOMAIN_JOB_PHASE_TRANSFER);
    save_poll(op);
}

static void save_paused(DomainObj *dom, const GError *err, void *opaque)
{
    SaveOp *op = opaque;

    g_debug("save of '%s': paused %s", dom->name, err ? err->message : "ok");
    if (err) {
        save_failed(op, g_error_copy(err));
        return;
    }
    if (op->was_running) {
        domain_set_state(dom, DOMAIN_STATE_PAUSED, DOMAIN_PAUSED_SAVE);
    }
    if (dom->async_abort) {
        save_failed(op, g_error_new(VIR_ERROR, VIR_ERR_OPERATION_ABORTED,
                                    "domain save job: canceled by client"));
        return;
    }
    monitor_migrate(dom, op->uri, save_migrating, op);
}

/*
 * Save @rdom to @path: image header and XML, then kestrel's state.
 * @owner: the API, as libvirt names the holder of a job.
 */
static RpcResult save_common(RpcCall *call, const remote_nonnull_domain *rdom,
                             const char *path, const char *dxml,
                             unsigned int flags, bool managed,
                             const char *owner, GError **errp)
{
    g_autoptr(DomainObj) dom = NULL;
    g_autofree char *xml = NULL;
    g_autofree char *mpath = NULL;
    SaveOp *op;
    guint64 offset;
    bool running;
    RpcResult jr;

    if (!check_flags(flags, SAVE_BYPASS_CACHE | SAVE_RUNNING | SAVE_PAUSED,
                     managed ? "virDomainManagedSave" : "virDomainSaveFlags",
                     errp)) {
        return RPC_RESULT_ERROR;
    }
    if ((flags & SAVE_RUNNING) && (flags & SAVE_PAUSED)) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                    "Flags 'running' and 'paused' are mutually exclusive");
        return RPC_RESULT_ERROR;
    }
    if (dxml) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_ARGUMENT_UNSUPPORTED,
                    "an alternative XML for the save image is not "
                    "supported");
        return RPC_RESULT_ERROR;
    }
    dom = dispatch_get_domain(rdom, errp);
    if (!dom) {
        return RPC_RESULT_ERROR;
    }
    jr = dispatch_job_begin(call, dom, managed ? "managedsave" : "save");
    if (jr != RPC_RESULT_OK) {
        return jr;
    }
    if (!domain_check_active(dom, errp)) {
        domain_job_end(dom);
        return RPC_RESULT_ERROR;
    }
    if (managed) {
        if (!dom->persistent) {
            g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                        "cannot do managed save for transient domain");
            domain_job_end(dom);
            return RPC_RESULT_ERROR;
        }
        if (g_mkdir_with_parents(dom->drv->save_dir, 0700) < 0) {
            g_set_error(errp, VIR_ERROR, VIR_ERR_SYSTEM_ERROR,
                        "cannot create directory '%s': %s",
                        dom->drv->save_dir, g_strerror(errno));
            domain_job_end(dom);
            return RPC_RESULT_ERROR;
        }
        path = mpath = dispatch_managed_save_path(dom);
    }
    if (!g_path_is_absolute(path)) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                    "save image path '%s' is not absolute", path);
        domain_job_end(dom);
        return RPC_RESULT_ERROR;
    }
    running = dom->state == DOMAIN_STATE_RUNNING;
    xml = domain_def_format(dom->def, NULL, DOMAIN_DEF_FORMAT_INACTIVE |
                            DOMAIN_DEF_FORMAT_SECURE |
                            DOMAIN_DEF_FORMAT_MIGRATABLE);
    if (!save_image_write_head(path, xml,
                               (flags & SAVE_RUNNING) ? true
                               : (flags & SAVE_PAUSED) ? false : running,
                               &offset, errp)) {
        domain_job_end(dom);
        return RPC_RESULT_ERROR;
    }

    op = g_new0(SaveOp, 1);
    op->call = call;
    op->dom = domain_obj_ref(dom);
    op->path = g_strdup(path);
    op->uri = g_strdup_printf("file:%s,offset=%" G_GUINT64_FORMAT, path,
                              offset);
    op->was_running = running;
    domain_async_job_start(dom, DOMAIN_ASYNC_JOB_SAVE, owner);
    dom->job_stats.operation = JOB_OPERATION_SAVE;
    if (running) {
        monitor_stop(dom, save_paused, op);
    } else {
        save_paused(dom, NULL, op);
    }
    return RPC_RESULT_PENDING;
}

static RpcResult proc_save(RpcCall *call, void *a, void *r, GError **errp)
{
    remote_domain_save_args *args = a;

    return save_common(call, &args->dom, args->to, NULL, 0, false,
                       "remoteDispatchDomainSave", errp);
}

static RpcResult proc_save_flags(RpcCall *call, void *a, void *r,
                                 GError **errp)
{
    remote_domain_save_flags_args *args = a;

    return save_common(call, &args->dom, args->to,
                       args->dxml ? *args->dxml : NULL, args->flags, false,
                       "remoteDispatchDomainSaveFlags", errp);
}

static RpcResult proc_managed_save(RpcCall *call, void *a, void *r,
                                   GError **errp)
{
    remote_domain_flags_args *args = a;

    return save_common(call, &args->dom, NULL, NULL, args->flags, true,
                       "remoteDispatchDomainManagedSave", errp);
}

/* ---- restore ----------------------------------------------------------- */

typedef struct {
    RpcCall *call;
    remote_domain_ret *ret;     /* start of a managed-saved domain */
    char *managed_path;         /* removed once restored */
} RestoreOp;

static void restore_done(DomainObj *dom, const GError *err, void *opaque)
{
    RestoreOp *op = opaque;

    domain_async_job_end(dom, err ? DOMAIN_JOB_INFO_FAILED
                                  : DOMAIN_JOB_INFO_COMPLETED);
    if (!err && op->managed_path) {
        unlink(op->managed_path);
    }
    if (!dom->persistent && !domain_obj_is_active(dom)) {
        domain_remove(dom);
    }
    if (!err && op->ret) {
        dispatch_make_domain(&op->ret->dom, dom);
    }
    rpc_call_finish(op->call, err);
    g_free(op->managed_path);
    g_free(op);
}

/* Start @dom (inactive, its job held, dom->def the image's) from the
 * stream at @offset of @path. */
static void restore_run(RpcCall *call, DomainObj *dom, const char *path,
                        guint64 offset, bool paused, const char *owner,
                        remote_domain_ret *ret, bool managed)
{
    RestoreOp *op = g_new0(RestoreOp, 1);
    g_autofree char *uri = g_strdup_printf("file:%s,offset=%"
                                           G_GUINT64_FORMAT, path, offset);
    ProcessStartOptions o = { .paused = paused, .incoming_uri = uri };

    op->call = call;
    op->ret = ret;
    op->managed_path = managed ? g_strdup(path) : NULL;
    domain_async_job_start(dom, DOMAIN_ASYNC_JOB_RESTORE, owner);
    dom->job_stats.operation = JOB_OPERATION_RESTORE;
    process_start_full(dom, &o, restore_done, op);
}

static RpcResult restore_common(RpcCall *call, const char *path,
                                const char *dxml, unsigned int flags,
                                const char *owner, GError **errp)
{
    g_autoptr(DomainObj) dom = NULL;
    DomainDef *def;
    guint64 offset;
    bool running;
    RpcResult jr;

    if (!check_flags(flags, SAVE_BYPASS_CACHE | SAVE_RUNNING | SAVE_PAUSED,
                     "virDomainRestoreFlags", errp)) {
        return RPC_RESULT_ERROR;
    }
    if ((flags & SAVE_RUNNING) && (flags & SAVE_PAUSED)) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_INVALID_ARG,
                    "Flags 'running' and 'paused' are mutually exclusive");
        return RPC_RESULT_ERROR;
    }
    if (dxml) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_ARGUMENT_UNSUPPORTED,
                    "an alternative XML for the restored domain is not "
                    "supported");
        return RPC_RESULT_ERROR;
    }
    def = save_image_def(path, &offset, &running, errp);
    if (!def) {
        return RPC_RESULT_ERROR;
    }
    dom = domain_add_transient(dispatch_driver(), def, errp);
    if (!dom) {
        return RPC_RESULT_ERROR;
    }
    jr = dispatch_job_begin(call, dom, "restore");
    if (jr != RPC_RESULT_OK) {
        return jr;
    }
    restore_run(call, dom, path, offset,
                (flags & SAVE_PAUSED) ? true
                : (flags & SAVE_RUNNING) ? false : !running,
                owner, NULL, false);
    return RPC_RESULT_PENDING;
}

static RpcResult proc_restore(RpcCall *call, void *a, void *r, GError **errp)
{
    return restore_common(call, ((remote_domain_restore_args *)a)->from,
                          NULL, 0, "remoteDispatchDomainRestore", errp);
}

static RpcResult proc_restore_flags(RpcCall *call, void *a, void *r,
                                    GError **errp)
{
    remote_domain_restore_flags_args *args = a;

    return restore_common(call, args->from, args->dxml ? *args->dxml : NULL,
                          args->flags, "remoteDispatchDomainRestoreFlags",
                          errp);
}

bool dispatch_start_managed_save(RpcCall *call, DomainObj *dom, bool paused,
                                 remote_domain_ret *ret, GError **errp)
{
    g_autofree char *path = dispatch_managed_save_path(dom);
    DomainDef *def;
    guint64 offset;
    bool running;

    def = save_image_def(path, &offset, &running, errp);
    if (!def) {
        return false;
    }
    if (memcmp(def->uuid, dom->uuid, 16) != 0 ||
        !g_str_equal(def->name, dom->name)) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_FAILED,
                    "managed save image '%s' is of another domain ('%s')",
                    path, def->name);
        domain_def_free(def);
        return false;
    }
    /* The image's definition runs; the config comes back at the stop. */
    if (!dom->newdef) {
        dom->newdef = dom->def;
    } else {
        domain_def_free(dom->def);
    }
    dom->def = def;
    restore_run(call, dom, path, offset, paused || !running,
                "remoteDispatchDomainCreateWithFlags", ret, true);
    return true;
}

static RpcResult proc_save_image_get_xml_desc(RpcCall *call, void *a,
                                              void *r, GError **errp)
{
    remote_domain_save_image_get_xml_desc_args *args = a;
    remote_domain_save_image_get_xml_desc_ret *ret = r;
    guint64 offset;
    bool running;

    /* VIR_DOMAIN_SAVE_IMAGE_XML_SECURE (1): nothing secret in ours. */
    if (!check_flags(args->flags, 1, "virDomainSaveImageGetXMLDesc", errp) ||
        !save_image_read(args->file, &ret->xml, &offset, &running, errp)) {
        return RPC_RESULT_ERROR;
    }
    return RPC_RESULT_OK;
}

static RpcResult proc_has_managed_save(RpcCall *call, void *a, void *r,
                                       GError **errp)
{
    remote_domain_flags_args *args = a;
    g_autoptr(DomainObj) dom = NULL;

    if (!check_flags(args->flags, 0, "virDomainHasManagedSaveImage", errp) ||
        !(dom = dispatch_get_domain(&args->dom, errp))) {
        return RPC_RESULT_ERROR;
    }
    ((remote_int_ret *)r)->ret = has_managed_save(dom);
    return RPC_RESULT_OK;
}

bool dispatch_has_managed_save(DomainObj *dom)
{
    return has_managed_save(dom);
}

static RpcResult proc_managed_save_remove(RpcCall *call, void *a, void *r,
                                          GError **errp)
{
    remote_domain_flags_args *args = a;
    g_autoptr(DomainObj) dom = NULL;
    g_autofree char *path = NULL;
    RpcResult jr;

    if (!check_flags(args->flags, 0, "virDomainManagedSaveRemove", errp) ||
        !(dom = dispatch_get_domain(&args->dom, errp))) {
        return RPC_RESULT_ERROR;
    }
    jr = dispatch_job_begin(call, dom, "managedsave-remove");
    if (jr != RPC_RESULT_OK) {
        return jr;
    }
    path = dispatch_managed_save_path(dom);
    if (unlink(path) < 0 && errno != ENOENT) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_SYSTEM_ERROR,
                    "Failed to remove managed save file '%s': %s", path,
                    g_strerror(errno));
        domain_job_end(dom);
        return RPC_RESULT_ERROR;
    }
    domain_job_end(dom);
    return RPC_RESULT_OK;
}

/* ---- job information and control -------------------------------------- */

static remote_typed_param *job_param(GArray *params, const char *field,
                                     int type)
{
    remote_typed_param p = { 0 };

    p.field = g_strdup(field);
    p.value.type = type;
    g_array_append_val(params, p);
    return &g_array_index(params, remote_typed_param, params->len - 1);
}

static void job_ullong(GArray *params, const char *field, guint64 v)
{
    job_param(params, field, TP_ULLONG)->value.remote_typed_param_value_u.ul
        = v;
}

static void job_int(GArray *params, const char *field, int v)
{
    job_param(params, field, TP_INT)->value.remote_typed_param_value_u.i = v;
}

/* The figures of @st as libvirt's job stats (VIR_DOMAIN_JOB_*). */
void dispatch_job_stats_params(const DomainJobStats *st, bool completed,
                               GArray *params)
{
    job_int(params, "operation", st->operation);
    job_ullong(params, "time_elapsed", st->time_elapsed);
    if (completed ? st->has_downtime : st->has_expected_downtime) {
        job_ullong(params, "downtime", completed ? st->downtime
                                                 : st->expected_downtime);
    }
    if (st->setup_time) {
        job_ullong(params, "setup_time", st->setup_time);
    }
    job_ullong(params, "data_total", st->data_total);
    job_ullong(params, "data_processed", st->data_processed);
    job_ullong(params, "data_remaining", st->data_remaining);
    job_ullong(params, "memory_total", st->mem_total);
    job_ullong(params, "memory_processed", st->mem_processed);
    job_ullong(params, "memory_remaining", st->mem_remaining);
    job_ullong(params, "memory_constant", st->mem_constant);
    job_ullong(params, "memory_normal", st->mem_normal);
    job_ullong(params, "memory_normal_bytes", st->mem_normal_bytes);
    job_ullong(params, "memory_bps", st->mem_bps);
    job_ullong(params, "memory_dirty_rate", st->mem_dirty_rate);
    job_ullong(params, "memory_page_size", st->mem_page_size);
    job_ullong(params, "memory_iteration", st->mem_iteration);
}

/* The current async job's figures, time refreshed. */
static DomainJobStats *job_current(DomainObj *dom)
{
    dom->job_stats.time_elapsed = g_get_real_time() / 1000 -
                                  dom->async_start;
    return &dom->job_stats;
}

static RpcResult proc_get_job_info(RpcCall *call, void *a, void *r,
                                   GError **errp)
{
    remote_domain_get_job_info_ret *ret = r;
    g_autoptr(DomainObj) dom =
        dispatch_get_domain(&((remote_domain_args *)a)->dom, errp);
    DomainJobStats *st;

    if (!dom || !domain_check_active(dom, errp)) {
        /* A restore's domain is active from its first moment. */
        return RPC_RESULT_ERROR;
    }
    if (!dom->async_job) {
        ret->type = DOMAIN_JOB_INFO_NONE;
        return RPC_RESULT_OK;
    }
    st = job_current(dom);
    ret->type = DOMAIN_JOB_INFO_UNBOUNDED;
    ret->timeElapsed = st->time_elapsed;
    ret->dataTotal = st->data_total;
    ret->dataProcessed = st->data_processed;
    ret->dataRemaining = st->data_remaining;
    ret->memTotal = st->mem_total;
    ret->memProcessed = st->mem_processed;
    ret->memRemaining = st->mem_remaining;
    return RPC_RESULT_OK;
}

static RpcResult proc_get_job_stats(RpcCall *call, void *a, void *r,
                                    GError **errp)
{
    remote_domain_flags_args *args = a;
    remote_domain_get_job_stats_ret *ret = r;
    g_autoptr(DomainObj) dom = NULL;
    g_autoptr(GArray) params = NULL;
    const DomainJobStats *st;
    bool completed = args->flags & JOB_STATS_COMPLETED;

    if (!check_flags(args->flags,
                     JOB_STATS_COMPLETED | JOB_STATS_KEEP_COMPLETED,
                     "virDomainGetJobStats", errp) ||
        !(dom = dispatch_get_domain(&args->dom, errp))) {
        return RPC_RESULT_ERROR;
    }
    if (completed) {
        if (!dom->has_completed_stats) {
            ret->type = DOMAIN_JOB_INFO_NONE;
            return RPC_RESULT_OK;
        }
        st = &dom->completed_stats;
    } else if (!dom->async_job) {
        ret->type = DOMAIN_JOB_INFO_NONE;
        return RPC_RESULT_OK;
    } else {
        st = job_current(dom);
    }
    params = g_array_new(false, true, sizeof(remote_typed_param));
    dispatch_job_stats_params(st, completed, params);
    ret->type = completed ? st->type : DOMAIN_JOB_INFO_UNBOUNDED;
    ret->params.params_len = params->len;
    ret->params.params_val = (remote_typed_param *)(void *)
                             g_array_free(g_steal_pointer(&params), false);
    if (completed && !(args->flags & JOB_STATS_KEEP_COMPLETED)) {
        dom->has_completed_stats = false;
    }
    return RPC_RESULT_OK;
}

static void abort_done(DomainObj *dom, const GError *err, void *opaque)
{
    rpc_call_finish(opaque, err);
}

static RpcResult proc_abort_job(RpcCall *call, void *a, void *r,
                                GError **errp)
{
    g_autoptr(DomainObj) dom =
        dispatch_get_domain(&((remote_domain_args *)a)->dom, errp);

    if (!dom || !domain_check_active(dom, errp)) {
        return RPC_RESULT_ERROR;
    }
    switch (dom->async_job) {
    case DOMAIN_ASYNC_JOB_NONE:
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                    "no job is active on the domain");
        return RPC_RESULT_ERROR;
    case DOMAIN_ASYNC_JOB_MIGRATION_IN:
    case DOMAIN_ASYNC_JOB_RESTORE:
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                    "cannot abort incoming migration; use virDomainDestroy "
                    "instead");
        return RPC_RESULT_ERROR;
    case DOMAIN_ASYNC_JOB_SAVE:
    case DOMAIN_ASYNC_JOB_MIGRATION_OUT:
        break;
    }
    if (dom->async_phase == DOMAIN_JOB_PHASE_FINISH) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                    "the job is finishing and can no longer be aborted");
        return RPC_RESULT_ERROR;
    }
    dom->async_abort = true;
    if (dom->async_phase == DOMAIN_JOB_PHASE_SETUP) {
        return RPC_RESULT_OK;       /* seen before the stream starts */
    }
    monitor_migrate_cancel(dom, abort_done, call);
    return RPC_RESULT_PENDING;
}

/* Migration parameters: on the running VMM, also outside a migration
 * (kestrel keeps them for the next one, as QEMU does). */
static RpcResult set_params(RpcCall *call, const remote_nonnull_domain *rdom,
                            const MonitorMigrationParams *p, GError **errp)
{
    g_autoptr(DomainObj) dom = dispatch_get_domain(rdom, errp);

    if (!dom || !domain_check_active(dom, errp)) {
        return RPC_RESULT_ERROR;
    }
    monitor_migrate_set_parameters(dom, p, abort_done, call);
    return RPC_RESULT_PENDING;
}

static RpcResult proc_set_max_downtime(RpcCall *call, void *a, void *r,
                                       GError **errp)
{
    remote_domain_migrate_set_max_downtime_args *args = a;
    MonitorMigrationParams p = { .has_downtime_limit = true,
                                 .downtime_limit = args->downtime };

    if (!check_flags(args->flags, 0, "virDomainMigrateSetMaxDowntime",
                     errp)) {
        return RPC_RESULT_ERROR;
    }
    return set_params(call, &args->dom, &p, errp);
}

static RpcResult proc_set_max_speed(RpcCall *call, void *a, void *r,
                                    GError **errp)
{
    remote_domain_migrate_set_max_speed_args *args = a;
    MonitorMigrationParams p = { .has_max_bandwidth = true };

    /* VIR_DOMAIN_MIGRATE_MAX_SPEED_POSTCOPY (1): kestrel has no postcopy. */
    if (!check_flags(args->flags, 0, "virDomainMigrateSetMaxSpeed", errp)) {
        return RPC_RESULT_ERROR;
    }
    if (args->bandwidth > (guint64)SPEED_UNLIMITED_MIB) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OVERFLOW,
                    "bandwidth must be less than %" G_GUINT64_FORMAT,
                    (guint64)SPEED_UNLIMITED_MIB + 1);
        return RPC_RESULT_ERROR;
    }
    p.max_bandwidth = args->bandwidth * 1024 * 1024;
    return set_params(call, &args->dom, &p, errp);
}

typedef struct {
    RpcCall *call;
    bool speed;                 /* else downtime */
} GetParamOp;

static void get_param_done(DomainObj *dom, const MonitorMigrationParams *p,
                           const GError *err, void *opaque)
{
    GetParamOp *op = opaque;

    if (!err && op->speed) {
        remote_domain_migrate_get_max_speed_ret *ret =
            rpc_call_get_ret(op->call);

        ret->bandwidth = p->max_bandwidth ? p->max_bandwidth / (1024 * 1024)
                                          : SPEED_UNLIMITED_MIB;
    } else if (!err) {
        remote_domain_migrate_get_max_downtime_ret *ret =
            rpc_call_get_ret(op->call);

        ret->downtime = p->downtime_limit;
    }
    rpc_call_finish(op->call, err);
    g_free(op);
}

static RpcResult get_param(RpcCall *call, const remote_nonnull_domain *rdom,
                           unsigned int flags, bool speed, const char *api,
                           GError **errp)
{
    g_autoptr(DomainObj) dom = NULL;
    GetParamOp *op;

    if (!check_flags(flags, 0, api, errp) ||
        !(dom = dispatch_get_domain(rdom, errp)) ||
        !domain_check_active(dom, errp)) {
        return RPC_RESULT_ERROR;
    }
    op = g_new0(GetParamOp, 1);
    op->call = call;
    op->speed = speed;
    monitor_query_migrate_parameters(dom, get_param_done, op);
    return RPC_RESULT_PENDING;
}

static RpcResult proc_get_max_speed(RpcCall *call, void *a, void *r,
                                    GError **errp)
{
    remote_domain_flags_args *args = a;

    return get_param(call, &args->dom, args->flags, true,
                     "virDomainMigrateGetMaxSpeed", errp);
}

static RpcResult proc_get_max_downtime(RpcCall *call, void *a, void *r,
                                       GError **errp)
{
    remote_domain_flags_args *args = a;

    return get_param(call, &args->dom, args->flags, false,
                     "virDomainMigrateGetMaxDowntime", errp);
}

const RpcProc dispatch_save_procs[] = {
    PROC(DOMAIN_RESTORE, "virDomainRestore", remote_domain_restore_args,
         VOID_T, proc_restore, RW),
    PROC(DOMAIN_SAVE, "virDomainSave", remote_domain_save_args, VOID_T,
         proc_save, RW),
    PROC(DOMAIN_GET_JOB_INFO, "virDomainGetJobInfo", remote_domain_args,
         remote_domain_get_job_info_ret, proc_get_job_info, RO),
    PROC(DOMAIN_ABORT_JOB, "virDomainAbortJob", remote_domain_args, VOID_T,
         proc_abort_job, RW),
    PROC(DOMAIN_MIGRATE_SET_MAX_DOWNTIME, "virDomainMigrateSetMaxDowntime",
         remote_domain_migrate_set_max_downtime_args, VOID_T,
         proc_set_max_downtime, RW),
    PROC(DOMAIN_MANAGED_SAVE, "virDomainManagedSave",
         remote_domain_flags_args, VOID_T, proc_managed_save, RW),
    PROC(DOMAIN_HAS_MANAGED_SAVE_IMAGE, "virDomainHasManagedSaveImage",
         remote_domain_flags_args, remote_int_ret, proc_has_managed_save, RO),
    PROC(DOMAIN_MANAGED_SAVE_REMOVE, "virDomainManagedSaveRemove",
         remote_domain_flags_args, VOID_T, proc_managed_save_remove, RW),
    PROC(DOMAIN_MIGRATE_SET_MAX_SPEED, "virDomainMigrateSetMaxSpeed",
         remote_domain_migrate_set_max_speed_args, VOID_T,
         proc_set_max_speed, RW),
    PROC(DOMAIN_SAVE_FLAGS, "virDomainSaveFlags",
         remote_domain_save_flags_args, VOID_T, proc_save_flags, RW),
    PROC(DOMAIN_RESTORE_FLAGS, "virDomainRestoreFlags",
         remote_domain_restore_flags_args, VOID_T, proc_restore_flags, RW),
    PROC(DOMAIN_SAVE_IMAGE_GET_XML_DESC, "virDomainSaveImageGetXMLDesc",
         remote_domain_save_image_get_xml_desc_args,
         remote_domain_save_image_get_xml_desc_ret,
         proc_save_image_get_xml_desc, RW),
    PROC(DOMAIN_MIGRATE_GET_MAX_SPEED, "virDomainMigrateGetMaxSpeed",
         remote_domain_flags_args, remote_domain_migrate_get_max_speed_ret,
         proc_get_max_speed, RO),
    PROC(DOMAIN_GET_JOB_STATS, "virDomainGetJobStats",
         remote_domain_flags_args, remote_domain_get_job_stats_ret,
         proc_get_job_stats, RO),
    PROC(DOMAIN_MIGRATE_GET_MAX_DOWNTIME, "virDomainMigrateGetMaxDowntime",
         remote_domain_flags_args,
         remote_domain_migrate_get_max_downtime_ret, proc_get_max_downtime,
         RO),
};

const size_t dispatch_save_nprocs = G_N_ELEMENTS(dispatch_save_procs);
