/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The domain list, persistent configs and live status files.
 *
 * Config dir: NAME.xml (the inactive XML), autostart/NAME.xml (a symlink,
 * as libvirt does).  State dir, while a domain runs: NAME.xml (live XML),
 * NAME.status (pid, id, state, reason, QMP socket), NAME.qmp, NAME.pid.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "domain.h"
#include "drv-error.h"
#include "virerror.h"

DomainObj *domain_obj_ref(DomainObj *dom)
{
    dom->refs++;
    return dom;
}

void domain_obj_unref(DomainObj *dom)
{
    if (!dom || --dom->refs > 0) {
        return;
    }
    g_clear_pointer(&dom->def, domain_def_free);
    g_clear_pointer(&dom->newdef, domain_def_free);
    g_free(dom->name);
    g_free(dom->qmp_path);
    g_free(dom->pid_path);
    g_free(dom->log_path);
    domain_obj_clear_ptys(dom);
    g_clear_handle_id(&dom->guest_stats_timer, g_source_remove);
    g_clear_pointer(&dom->guest_stats, json_object_unref);
    g_free(dom);
}

void domain_obj_clear_ptys(DomainObj *dom)
{
    for (unsigned int i = 0; i < DOMAIN_MAX_SERIALS; i++) {
        g_clear_pointer(&dom->serial_ptys[i], g_free);
    }
}

bool domain_obj_is_active(const DomainObj *dom)
{
    return dom->id >= 0;
}

DomainDef *domain_obj_get_persistent_def(DomainObj *dom)
{
    return dom->newdef ? dom->newdef : dom->def;
}

DomainObj *domain_lookup_by_uuid(Driver *drv, const unsigned char *uuid,
                                 GError **errp)
{
    char str[37];
    DomainObj *dom;

    domain_conf_uuid_format(uuid, str);
    dom = g_hash_table_lookup(drv->domains, str);
    if (!dom) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_NO_DOMAIN,
                    "no domain with matching uuid '%s'", str);
        return NULL;
    }
    return domain_obj_ref(dom);
}

static DomainObj *domain_find_name(Driver *drv, const char *name)
{
    GHashTableIter it;
    DomainObj *dom;

    g_hash_table_iter_init(&it, drv->domains);
    while (g_hash_table_iter_next(&it, NULL, (void **)&dom)) {
        if (g_str_equal(dom->name, name)) {
            return dom;
        }
    }
    return NULL;
}

DomainObj *domain_lookup_by_name(Driver *drv, const char *name,
                                 GError **errp)
{
    DomainObj *dom = domain_find_name(drv, name);

    if (!dom) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_NO_DOMAIN,
                    "no domain with matching name '%s'", name);
        return NULL;
    }
    return domain_obj_ref(dom);
}

DomainObj *domain_lookup_by_id(Driver *drv, int id, GError **errp)
{
    GHashTableIter it;
    DomainObj *dom;

    g_hash_table_iter_init(&it, drv->domains);
    while (id >= 0 && g_hash_table_iter_next(&it, NULL, (void **)&dom)) {
        if (dom->id == id) {
            return domain_obj_ref(dom);
        }
    }
    g_set_error(errp, VIR_ERROR, VIR_ERR_NO_DOMAIN,
                "no domain with matching id %d", id);
    return NULL;
}

static int domain_cmp_name(const void *a, const void *b)
{
    const DomainObj *da = *(DomainObj *const *)a;
    const DomainObj *db = *(DomainObj *const *)b;

    return strcmp(da->name, db->name);
}

GPtrArray *domain_list_all(Driver *drv)
{
    GPtrArray *list = g_ptr_array_new_with_free_func(
        (GDestroyNotify)domain_obj_unref);
    GHashTableIter it;
    DomainObj *dom;

    g_hash_table_iter_init(&it, drv->domains);
    while (g_hash_table_iter_next(&it, NULL, (void **)&dom)) {
        g_ptr_array_add(list, domain_obj_ref(dom));
    }
    g_ptr_array_sort(list, domain_cmp_name);
    return list;
}

char *domain_config_path(Driver *drv, const char *name)
{
    return g_strdup_printf("%s/%s.xml", drv->config_dir, name);
}

static char *domain_autostart_path(Driver *drv, const char *name)
{
    return g_strdup_printf("%s/autostart/%s.xml", drv->config_dir, name);
}

static bool domain_write_file(const char *path, const char *text,
                              GError **errp)
{
    g_autofree char *dir = g_path_get_dirname(path);
    g_autoptr(GError) err = NULL;

    /* Configs and live state are root's alone, as libvirt has them:
     * they name images, sockets and secrets. */
    if (g_mkdir_with_parents(dir, DOMAIN_DIR_MODE) < 0) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_SYSTEM_ERROR,
                    "cannot create directory '%s': %s", dir,
                    g_strerror(errno));
        return false;
    }
    /* As g_file_set_contents (a new file renamed over the old one), but
     * created 0600. */
    if (!g_file_set_contents_full(path, text, -1,
                                  G_FILE_SET_CONTENTS_CONSISTENT |
                                  G_FILE_SET_CONTENTS_ONLY_EXISTING,
                                  DOMAIN_FILE_MODE, &err)) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_SYSTEM_ERROR,
                    "cannot write '%s': %s", path, err->message);
        return false;
    }
    return true;
}

bool domain_save_config(Driver *drv, DomainDef *def, GError **errp)
{
    g_autofree char *xml = domain_def_format(def, NULL,
                                             DOMAIN_DEF_FORMAT_INACTIVE);
    g_autofree char *path = domain_config_path(drv, def->name);

    return domain_write_file(path, xml, errp);
}

DomainDef *domain_obj_edit_config(DomainObj *dom)
{
    if (domain_obj_is_active(dom) && !dom->newdef) {
        dom->newdef = domain_def_copy(dom->def);
    }
    return domain_obj_get_persistent_def(dom);
}

DomainDef *domain_obj_edit_live(DomainObj *dom)
{
    if (dom->persistent) {
        domain_obj_edit_config(dom);
    }
    return dom->def;
}

static DomainObj *domain_obj_new(Driver *drv, DomainDef *def)
{
    DomainObj *dom = g_new0(DomainObj, 1);

    dom->refs = 1;
    dom->drv = drv;
    dom->def = def;
    dom->name = g_strdup(def->name);
    memcpy(dom->uuid, def->uuid, 16);
    domain_conf_uuid_format(dom->uuid, dom->uuidstr);
    dom->id = -1;
    dom->state = DOMAIN_STATE_SHUTOFF;
    dom->reason = DOMAIN_SHUTOFF_UNKNOWN;
    dom->pid = -1;
    g_hash_table_insert(drv->domains, dom->uuidstr, dom);
    return dom;
}

/* libvirt's rule: one domain per name and one per uuid. */
static DomainObj *domain_check_unique(Driver *drv, DomainDef *def,
                                      GError **errp)
{
    char str[37];
    DomainObj *by_uuid, *by_name;

    domain_conf_uuid_format(def->uuid, str);
    by_uuid = g_hash_table_lookup(drv->domains, str);
    by_name = domain_find_name(drv, def->name);
    if (by_uuid && !g_str_equal(by_uuid->name, def->name)) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_FAILED,
                    "domain '%s' is already defined with uuid %s",
                    by_uuid->name, str);
        return NULL;
    }
    if (by_name && by_name != by_uuid) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_FAILED,
                    "domain '%s' already exists with uuid %s",
                    by_name->name, by_name->uuidstr);
        return NULL;
    }
    return by_uuid;
}

DomainObj *domain_define(Driver *drv, DomainDef *def, bool *added,
                         GError **errp)
{
    g_autoptr(DomainDef) owned = def;
    g_autoptr(GError) err = NULL;
    DomainObj *dom;

    dom = domain_check_unique(drv, def, &err);
    if (err) {
        g_propagate_error(errp, g_steal_pointer(&err));
        return NULL;
    }
    if (dom && dom->job && !domain_obj_is_active(dom)) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                    "domain '%s' is being started", dom->name);
        return NULL;
    }
    if (!domain_save_config(drv, def, errp)) {
        return NULL;
    }
    *added = !dom;
    if (!dom) {
        dom = domain_obj_new(drv, g_steal_pointer(&owned));
    } else if (domain_obj_is_active(dom)) {
        g_clear_pointer(&dom->newdef, domain_def_free);
        dom->newdef = g_steal_pointer(&owned);
    } else {
        g_clear_pointer(&dom->def, domain_def_free);
        dom->def = g_steal_pointer(&owned);
    }
    dom->persistent = true;
    if (domain_obj_is_active(dom)) {
        domain_save_status(dom);
    }
    return domain_obj_ref(dom);
}

DomainObj *domain_add_transient(Driver *drv, DomainDef *def, GError **errp)
{
    g_autoptr(DomainDef) owned = def;
    g_autoptr(GError) err = NULL;
    DomainObj *dom;

    dom = domain_check_unique(drv, def, &err);
    if (err) {
        g_propagate_error(errp, g_steal_pointer(&err));
        return NULL;
    }
    if (dom && domain_obj_is_active(dom)) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                    "domain '%s' is already active", dom->name);
        return NULL;
    }
    if (dom) {
        /* Starting a defined but inactive domain from new XML: libvirt
         * keeps it persistent and runs the given definition. */
        if (dom->job) {
            g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                        "domain '%s' is being started", dom->name);
            return NULL;
        }
        dom->newdef = dom->def;
        dom->def = g_steal_pointer(&owned);
        return domain_obj_ref(dom);
    }
    dom = domain_obj_new(drv, g_steal_pointer(&owned));
    return domain_obj_ref(dom);
}

void domain_remove(DomainObj *dom)
{
    if (dom->removed) {
        return;
    }
    dom->removed = true;
    g_hash_table_remove(dom->drv->domains, dom->uuidstr);
}

bool domain_undefine(DomainObj *dom, GError **errp)
{
    g_autofree char *path = domain_config_path(dom->drv, dom->name);
    g_autofree char *autopath = domain_autostart_path(dom->drv, dom->name);

    if (!dom->persistent) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                    "cannot undefine transient domain");
        return false;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_SYSTEM_ERROR,
                    "cannot remove config file '%s': %s", path,
                    g_strerror(errno));
        return false;
    }
    unlink(autopath);
    dom->autostart = false;
    dom->persistent = false;
    g_clear_pointer(&dom->newdef, domain_def_free);
    if (domain_obj_is_active(dom)) {
        domain_save_status(dom);
    } else {
        domain_remove(dom);
    }
    return true;
}

bool domain_set_autostart(DomainObj *dom, bool autostart, GError **errp)
{
    g_autofree char *path = domain_config_path(dom->drv, dom->name);
    g_autofree char *autopath = domain_autostart_path(dom->drv, dom->name);
    g_autofree char *dir = g_path_get_dirname(autopath);

    if (!dom->persistent) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                    "cannot set autostart for transient domain");
        return false;
    }
    if (autostart == dom->autostart) {
        return true;
    }
    if (autostart) {
        if (g_mkdir_with_parents(dir, DOMAIN_DIR_MODE) < 0 ||
            (symlink(path, autopath) < 0 && errno != EEXIST)) {
            g_set_error(errp, VIR_ERROR, VIR_ERR_SYSTEM_ERROR,
                        "cannot create autostart link '%s': %s", autopath,
                        g_strerror(errno));
            return false;
        }
    } else if (unlink(autopath) < 0 && errno != ENOENT) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_SYSTEM_ERROR,
                    "cannot remove autostart link '%s': %s", autopath,
                    g_strerror(errno));
        return false;
    }
    dom->autostart = autostart;
    return true;
}

void domain_save_status(DomainObj *dom)
{
    Driver *drv = dom->drv;
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autofree char *data = NULL;
    g_autofree char *path = NULL;
    g_autofree char *xmlpath = NULL;
    g_autofree char *xml = NULL;
    g_autoptr(GError) err = NULL;

    if (!domain_obj_is_active(dom)) {
        return;
    }
    g_key_file_set_string(kf, "domain", "name", dom->name);
    g_key_file_set_string(kf, "domain", "uuid", dom->uuidstr);
    g_key_file_set_integer(kf, "domain", "id", dom->id);
    g_key_file_set_integer(kf, "domain", "pid", dom->pid);
    g_key_file_set_uint64(kf, "domain", "pid-start-time",
                          dom->pid_start_time);
    g_key_file_set_integer(kf, "domain", "state", dom->state);
    g_key_file_set_integer(kf, "domain", "reason", dom->reason);
    g_key_file_set_boolean(kf, "domain", "persistent", dom->persistent);
    g_key_file_set_boolean(kf, "domain", "shutdown-requested",
                           dom->shutdown_requested);
    g_key_file_set_string(kf, "domain", "qmp", dom->qmp_path);
    g_key_file_set_string(kf, "domain", "log", dom->log_path);
    data = g_key_file_to_data(kf, NULL, NULL);

    path = g_strdup_printf("%s/%s.status", drv->state_dir, dom->name);
    xmlpath = g_strdup_printf("%s/%s.xml", drv->state_dir, dom->name);
    xml = domain_def_format(dom->def, NULL, 0);
    if (!domain_write_file(xmlpath, xml, &err) ||
        !domain_write_file(path, data, &err)) {
        g_warning("domain '%s': %s", dom->name, err->message);
    }
}

void domain_set_state(DomainObj *dom, DomainState state, int reason)
{
    dom->state = state;
    dom->reason = reason;
    domain_save_status(dom);
}

void domain_emit(DomainObj *dom, int event, int detail)
{
    Driver *drv = dom->drv;

    if (drv->event_func) {
        drv->event_func(drv, dom, DOMAIN_EVENT_ID_LIFECYCLE, event, detail,
                        0);
    }
}

void domain_emit_reboot(DomainObj *dom)
{
    Driver *drv = dom->drv;

    if (drv->event_func) {
        drv->event_func(drv, dom, DOMAIN_EVENT_ID_REBOOT, 0, 0, 0);
    }
}

void domain_emit_balloon(DomainObj *dom, guint64 kib)
{
    Driver *drv = dom->drv;

    if (drv->event_func) {
        drv->event_func(drv, dom, DOMAIN_EVENT_ID_BALLOON_CHANGE, 0, 0, kib);
    }
}

void domain_emit_migration_iteration(DomainObj *dom, int iteration)
{
    Driver *drv = dom->drv;

    if (drv->event_func) {
        drv->event_func(drv, dom, DOMAIN_EVENT_ID_MIGRATION_ITERATION, 0, 0,
                        (guint64)iteration);
    }
}

void domain_emit_job_completed(DomainObj *dom)
{
    Driver *drv = dom->drv;

    if (drv->event_func && dom->has_completed_stats) {
        drv->event_func(drv, dom, DOMAIN_EVENT_ID_JOB_COMPLETED, 0, 0, 0);
    }
}

void domain_async_job_busy_error(DomainObj *dom, GError **errp)
{
    /* libvirt 9.0's words (virDomainObjBeginJobInternal) when the async
     * job's API holds the lock; it says so after 30 s, we at once. */
    g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_TIMEOUT,
                "cannot acquire state change lock (held by monitor=%s)",
                dom->async_owner);
}

bool domain_job_begin(DomainObj *dom, const char *name, GError **errp)
{
    if (dom->async_job) {
        domain_async_job_busy_error(dom, errp);
        return false;
    }
    if (dom->job) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_TIMEOUT,
                    "cannot acquire state change lock of domain '%s' "
                    "(held by %s)", dom->name, dom->job_name);
        return false;
    }
    dom->job = true;
    dom->job_name = name;
    dom->job_type = DOMAIN_JOB_MODIFY;
    return true;
}

void domain_async_job_start(DomainObj *dom, DomainAsyncJob type,
                            const char *owner)
{
    g_assert(dom->job && !dom->async_job);
    dom->job_type = DOMAIN_JOB_ASYNC;
    dom->async_job = type;
    dom->async_phase = DOMAIN_JOB_PHASE_SETUP;
    dom->async_owner = owner;
    dom->async_start = g_get_real_time() / 1000;
    dom->async_abort = false;
    memset(&dom->job_stats, 0, sizeof(dom->job_stats));
    dom->job_stats.type = DOMAIN_JOB_INFO_UNBOUNDED;
}

void domain_async_job_set_phase(DomainObj *dom, DomainJobPhase phase)
{
    dom->async_phase = phase;
}

void domain_async_job_end(DomainObj *dom, int info_type)
{
    if (!dom->async_job) {
        return;
    }
    dom->completed_stats = dom->job_stats;
    dom->completed_stats.type = info_type;
    dom->completed_stats.time_elapsed =
        g_get_real_time() / 1000 - dom->async_start;
    dom->has_completed_stats = true;
    dom->async_job = DOMAIN_ASYNC_JOB_NONE;
    dom->async_phase = DOMAIN_JOB_PHASE_NONE;
    dom->async_owner = NULL;
    dom->async_abort = false;
    domain_job_end(dom);
}

typedef struct {
    DomainObj *dom;
    DomainJobWaitFunc func;
    void *opaque;
    guint timer;
    bool timed_out;
} DomainJobWaiter;

static gboolean domain_job_wake(void *opaque)
{
    DomainJobWaiter *w = opaque;
    DomainObj *dom = w->dom;
    DomainJobWaiter *next;

    w->func(w->opaque, w->timed_out);
    /* It may not have wanted the job after all (an error first): then
     * the next one's turn has come. */
    if (!w->timed_out && !dom->job &&
        (next = g_queue_pop_head(&dom->job_waiters))) {
        g_source_remove(next->timer);
        next->timer = 0;
        g_idle_add(domain_job_wake, next);
    }
    domain_obj_unref(dom);
    g_free(w);
    return G_SOURCE_REMOVE;
}

static gboolean domain_job_wait_timeout(void *opaque)
{
    DomainJobWaiter *w = opaque;

    g_queue_remove(&w->dom->job_waiters, w);
    w->timer = 0;
    w->timed_out = true;
    domain_job_wake(w);
    return G_SOURCE_REMOVE;
}

void domain_job_wait(DomainObj *dom, DomainJobWaitFunc func, void *opaque)
{
    DomainJobWaiter *w = g_new0(DomainJobWaiter, 1);

    w->dom = domain_obj_ref(dom);
    w->func = func;
    w->opaque = opaque;
    w->timer = g_timeout_add(DOMAIN_JOB_WAIT_MS, domain_job_wait_timeout, w);
    g_queue_push_tail(&dom->job_waiters, w);
}

void domain_job_end(DomainObj *dom)
{
    DomainJobWaiter *w;

    dom->job = false;
    dom->job_name = NULL;
    dom->job_type = DOMAIN_JOB_NONE;
    /* Wake the next waiter once the caller has unwound. */
    w = g_queue_pop_head(&dom->job_waiters);
    if (w) {
        g_source_remove(w->timer);
        w->timer = 0;
        g_idle_add(domain_job_wake, w);
    }
}

bool domain_check_active(DomainObj *dom, GError **errp)
{
    if (!domain_obj_is_active(dom)) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                    "domain is not running");
        return false;
    }
    return true;
}

bool domain_check_inactive(DomainObj *dom, GError **errp)
{
    if (domain_obj_is_active(dom)) {
        g_set_error(errp, VIR_ERROR, VIR_ERR_OPERATION_INVALID,
                    "domain is already running");
        return false;
    }
    return true;
}

char *domain_format_xml(DomainObj *dom, unsigned int flags, GError **errp)
{
    DomainLive live = { 0 };
    DomainDef *def = dom->def;

    if ((flags & DOMAIN_DEF_FORMAT_INACTIVE) && dom->newdef) {
        def = dom->newdef;
    }
    if (!domain_obj_is_active(dom) || (flags & DOMAIN_DEF_FORMAT_INACTIVE)) {
        return domain_def_format(def, NULL, flags | DOMAIN_DEF_FORMAT_INACTIVE);
    }
    live.id = dom->id;
    live.current_kib = dom->balloon_kib;
    for (unsigned int i = 0; i < DOMAIN_MAX_SERIALS; i++) {
        live.serial_ptys[i] = dom->serial_ptys[i];
    }
    return domain_def_format(def, &live, flags);
}

void domain_load_configs(Driver *drv)
{
    g_autoptr(GDir) dir = g_dir_open(drv->config_dir, 0, NULL);
    const char *ent;

    while (dir && (ent = g_dir_read_name(dir))) {
        g_autofree char *path = NULL;
        g_autofree char *xml = NULL;
        g_autofree char *autopath = NULL;
        g_autofree char *want = NULL;
        g_autoptr(GError) err = NULL;
        DomainDef *def;
        DomainObj *dom;

        if (!g_str_has_suffix(ent, ".xml")) {
            continue;
        }
        path = g_build_filename(drv->config_dir, ent, NULL);
        if (!g_file_get_contents(path, &xml, NULL, &err)) {
            g_warning("%s", err->message);
            continue;
        }
        def = domain_def_parse_string(xml, DOMAIN_DEF_PARSE_INACTIVE, &err);
        if (!def) {
            g_warning("ignoring '%s': %s", path, err->message);
            continue;
        }
        /* As libvirt: NAME.xml holds domain NAME, so a stray file cannot
         * take the place of a domain's real config. */
        want = g_strdup_printf("%s.xml", def->name);
        if (!g_str_equal(ent, want)) {
            g_warning("ignoring '%s': the file name does not match the name "
                      "of the domain it defines, '%s' (its config is "
                      "'%s')", path, def->name, want);
            domain_def_free(def);
            continue;
        }
        dom = domain_check_unique(drv, def, &err);
        if (err || dom) {
            g_warning("ignoring '%s': %s", path,
                      err ? err->message : "duplicate domain");
            domain_def_free(def);
            continue;
        }
        dom = domain_obj_new(drv, def);
        dom->persistent = true;
        autopath = domain_autostart_path(drv, dom->name);
        dom->autostart = g_file_test(autopath, G_FILE_TEST_EXISTS);
    }
}
