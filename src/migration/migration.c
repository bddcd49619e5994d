/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Live migration: status machine, source and destination threads, the
 * switch-over, and the QMP commands (see migration.h). Status changes go
 * through compare-and-swap (STYLE.md); events and run-state changes
 * happen on the main thread only, posted there by the threads.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>

#include "block/blockdev.h"
#include "bytes.h"
#include "device.h"
#include "error.h"
#include "migration/channel.h"
#include "migration/migration.h"
#include "migration/multifd.h"
#include "migration/params.h"
#include "migration/ram.h"
#include "migration/stream.h"
#include "monitor.h"
#include "qmp-error.h"
#include "vm.h"

/* The destination's verdict on the return path: tag, u32 length, text. */
#define MIG_VERDICT_OK "KACK"
#define MIG_VERDICT_ERR "KERR"
#define MIG_VERDICT_SYNC "KSYN"         /* u32 n: SYNC n is in */
#define MIG_VERDICT_MAX 4096
#define MULTIFD_MAX_CHANNELS 255

static const char *const status_names[MIG_STATUS__MAX] = {
    [MIG_STATUS_NONE] = "none",
    [MIG_STATUS_SETUP] = "setup",
    [MIG_STATUS_CANCELLING] = "cancelling",
    [MIG_STATUS_CANCELLED] = "cancelled",
    [MIG_STATUS_ACTIVE] = "active",
    [MIG_STATUS_POSTCOPY_ACTIVE] = "postcopy-active",
    [MIG_STATUS_POSTCOPY_PAUSED] = "postcopy-paused",
    [MIG_STATUS_POSTCOPY_RECOVER] = "postcopy-recover",
    [MIG_STATUS_COMPLETED] = "completed",
    [MIG_STATUS_FAILED] = "failed",
    [MIG_STATUS_COLO] = "colo",
    [MIG_STATUS_PRE_SWITCHOVER] = "pre-switchover",
    [MIG_STATUS_DEVICE] = "device",
    [MIG_STATUS_WAIT_UNPLUG] = "wait-unplug",
};

const char *migration_status_name(MigrationStatus s)
{
    return s < MIG_STATUS__MAX ? status_names[s] : "none";
}

/* Where the switch-over stands (the thread waits on it). */
typedef enum {
    SW_NONE,
    SW_REQUESTED,               /* the thread asked the main loop to stop */
    SW_WAIT_CONTINUE,           /* stopped; pause-before-switchover */
    SW_STOPPED,                 /* stopped, device and CPU state saved */
    SW_FAILED,
} Switchover;

struct Migration {
    Vm *vm;
    MigrationParams params;     /* main thread; the two the sender reads
                                 * live are mirrored below */
    int64_t max_bandwidth;      /* atomic mirror of params */
    int64_t downtime_limit;     /* atomic mirror, ms */
    int status;                 /* MigrationStatus, changed by CAS */
    bool ran;                   /* query-migrate reports a status */
    bool incoming;              /* this side receives */

    GMutex lock;                /* protects the (L) fields */
    GCond cond;
    char *error;                /* (L) error-desc of a failed migration */

    /* --- source --- */
    GThread *thread;
    MigUri uri;
    int fd;                     /* the channel, -1 when none */
    MultifdSend *mfd;           /* (L) the thread's multifd channels */
    const MigWriter *w_live;    /* (L) the thread's main writer */
    pid_t child;                /* exec: the command, 0 if none */
    volatile int cancel;
    bool was_running;           /* the VM ran before the switch-over */
    bool stopped_vm;            /* we stopped it: restart it on failure */
    Switchover sw;              /* (L) */
    GByteArray *dev_state;      /* (L) saved at the switch-over */
    GByteArray *cpu_state;      /* (L) */
    gint64 t_start, t_setup, t_stop, t_end;     /* µs, monotonic */
    /* Statistics: written by the thread, read by query-migrate. */
    uint64_t transferred, precopy_bytes, downtime_bytes, multifd_bytes;
    uint64_t normal, duplicate, remaining, dirty_rate, pages_per_second;
    uint64_t sync_count;
    double mbps;
    int64_t expected_downtime, downtime, setup_time, total_time; /* ms */
    int throttle;               /* current auto-converge percentage */

    /* --- destination --- */
    bool incoming_started;
    bool autostart;             /* 'cont' during inmigrate */
    int listen_fd;
    guint listen_src;
    char *unlink_path;          /* unix socket to remove at the end */
    char *sock_host, *sock_port, *sock_path;
    GPtrArray *in_threads;      /* GThread *: main and multifd channels */
    GArray *in_conns;           /* (L) int: their connections' fds */
    int in_fd;                  /* (L) the main connection */
    bool in_main_claimed;       /* (L) */
    unsigned int in_channels;   /* (L) multifd channels the source opens */
    unsigned int in_channels_done;  /* (L) ... that reached their END */
    char *in_channel_error;     /* (L) the first channel's failure */
    uint32_t in_synced[MULTIFD_MAX_CHANNELS + 1];   /* (L) per channel:
                                 * the last SYNC it has put in RAM */
    pid_t in_child;
    bool in_ack;                /* the source waits for our verdict */
    GByteArray *in_dev, *in_cpu;
};

static uint64_t ld(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void st(uint64_t *p, uint64_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static MigrationStatus get_status(const Migration *m)
{
    return (MigrationStatus)__atomic_load_n(&m->status, __ATOMIC_ACQUIRE);
}

/* --- events (main thread) ------------------------------------------------- */

typedef struct {
    Migration *m;
    const char *event;
    gint64 value;
    bool always;                /* the destination's setup: no capability */
} MigEvent;

static gboolean emit_cb(gpointer opaque)
{
    MigEvent *e = opaque;
    Vm *vm = e->m->vm;

    if (vm->monitor && (e->always || e->m->params.caps[MIG_CAP_EVENTS])) {
        g_autoptr(JsonObject) data = json_object_new();

        if (!strcmp(e->event, "MIGRATION")) {
            json_object_set_string_member(data, "status",
                                          migration_status_name(
                                              (MigrationStatus)e->value));
        } else {
            json_object_set_int_member(data, "pass", e->value);
        }
        monitor_emit(vm->monitor, e->event, data);
    }
    g_free(e);
    return G_SOURCE_REMOVE;
}

/* Post an event to the main loop (in order with every other post). */
static void post_event(Migration *m, const char *event, gint64 value,
                       bool always)
{
    MigEvent *e = g_new0(MigEvent, 1);

    e->m = m;
    e->event = event;
    e->value = value;
    e->always = always;
    g_idle_add(emit_cb, e);
}

static bool set_status(Migration *m, MigrationStatus from,
                       MigrationStatus to)
{
    int expect = (int)from;

    if (!__atomic_compare_exchange_n(&m->status, &expect, (int)to, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        return false;
    }
    post_event(m, "MIGRATION", to, false);
    return true;
}

static void set_error(Migration *m, const char *msg)
{
    g_mutex_lock(&m->lock);
    if (!m->error) {
        m->error = g_strdup(msg);
    }
    g_mutex_unlock(&m->lock);
}

/* --- life cycle ------------------------------------------------------------ */

Migration *migration_new(Vm *vm)
{
    Migration *m = g_new0(Migration, 1);

    m->vm = vm;
    migration_params_init(&m->params);
    m->max_bandwidth = m->params.max_bandwidth;
    m->downtime_limit = m->params.downtime_limit;
    g_mutex_init(&m->lock);
    g_cond_init(&m->cond);
    m->fd = m->listen_fd = m->in_fd = -1;
    m->in_threads = g_ptr_array_new();
    m->in_conns = g_array_new(FALSE, FALSE, sizeof(int));
    return m;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* Wake every incoming thread out of a blocking read: its connection
 * reads EOF. The main connection too unless @keep_main (its verdict is
 * still to be written). Called with m->lock held. */
static void stop_connections(Migration *m, bool keep_main)
{
    for (guint i = 0; i < m->in_conns->len; i++) {
        int fd = g_array_index(m->in_conns, int, i);

        if (!keep_main || fd != m->in_fd) {
            shutdown(fd, SHUT_RDWR);
        }
    }
}

static void forget_connection(Migration *m, int fd)
{
    g_mutex_lock(&m->lock);
    for (guint i = 0; i < m->in_conns->len; i++) {
        if (g_array_index(m->in_conns, int, i) == fd) {
            g_array_remove_index_fast(m->in_conns, i);
            break;
        }
    }
    g_mutex_unlock(&m->lock);
}

static gboolean reap_cb(gpointer opaque)
{
    pid_t pid = GPOINTER_TO_INT(opaque);

    return waitpid(pid, NULL, WNOHANG) == 0 ? G_SOURCE_CONTINUE
                                             : G_SOURCE_REMOVE;
}

/* exec: children are reaped without blocking the main loop. */
static void reap_later(pid_t *pid)
{
    if (*pid > 0 && waitpid(*pid, NULL, WNOHANG) == 0) {
        g_timeout_add(100, reap_cb, GINT_TO_POINTER(*pid));
    }
    *pid = 0;
}

void migration_free(Migration *m)
{
    if (!m) {
        return;
    }
    m->cancel = 1;
    g_mutex_lock(&m->lock);
    if (m->fd >= 0) {
        shutdown(m->fd, SHUT_RDWR);
    }
    if (m->mfd) {
        multifd_send_shutdown(m->mfd);
    }
    stop_connections(m, false);
    if (m->sw == SW_REQUESTED || m->sw == SW_WAIT_CONTINUE) {
        m->sw = SW_FAILED;
    }
    g_cond_broadcast(&m->cond);
    g_mutex_unlock(&m->lock);
    if (m->thread) {
        g_thread_join(m->thread);
    }
    for (guint i = 0; i < m->in_threads->len; i++) {
        g_thread_join(g_ptr_array_index(m->in_threads, i));
    }
    g_ptr_array_unref(m->in_threads);
    g_array_unref(m->in_conns);
    if (m->listen_src) {
        g_source_remove(m->listen_src);
    }
    if (m->unlink_path) {
        unlink(m->unlink_path);
    }
    close_fd(&m->fd);
    close_fd(&m->in_fd);
    close_fd(&m->listen_fd);
    if (m->child > 0) {
        kill(m->child, SIGTERM);
        waitpid(m->child, NULL, 0);
    }
    if (m->in_child > 0) {
        kill(m->in_child, SIGTERM);
        waitpid(m->in_child, NULL, 0);
    }
    mig_uri_clear(&m->uri);
    migration_params_clear(&m->params);
    if (m->dev_state) {
        g_byte_array_unref(m->dev_state);
    }
    if (m->cpu_state) {
        g_byte_array_unref(m->cpu_state);
    }
    if (m->in_dev) {
        g_byte_array_unref(m->in_dev);
    }
    if (m->in_cpu) {
        g_byte_array_unref(m->in_cpu);
    }
    g_free(m->error);
    g_free(m->in_channel_error);
    g_free(m->unlink_path);
    g_free(m->sock_host);
    g_free(m->sock_port);
    g_free(m->sock_path);
    g_mutex_clear(&m->lock);
    g_cond_clear(&m->cond);
    g_free(m);
}

bool migration_events_enabled(const Migration *m)
{
    return m->params.caps[MIG_CAP_EVENTS];
}

bool migration_in_progress(const Migration *m)
{
    switch (get_status(m)) {
    case MIG_STATUS_NONE:
    case MIG_STATUS_COMPLETED:
    case MIG_STATUS_FAILED:
    case MIG_STATUS_CANCELLED:
        return m->incoming_started && !m->ran ? true : false;
    default:
        return true;
    }
}

static Migration *mig(Vm *vm)
{
    if (!vm->migration) {
        vm->migration = migration_new(vm);
    }
    return vm->migration;
}

/* --- what the destination must match ---------------------------------------- */

static char *config_json(Vm *vm, unsigned int channels)
{
    const VmConfig *cfg = vm->cfg;
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "machine");
    json_builder_add_string_value(b, "kestrel");
    json_builder_set_member_name(b, "ram-size");
    json_builder_add_int_value(b, (gint64)cfg->ram_size);
    json_builder_set_member_name(b, "vcpus");
    json_builder_add_int_value(b, vm->cfg->cpus);
    json_builder_set_member_name(b, "serials");
    json_builder_add_int_value(b, cfg->serials->len);
    json_builder_set_member_name(b, "multifd-channels");
    json_builder_add_int_value(b, channels);
    json_builder_set_member_name(b, "devices");
    json_builder_begin_array(b);
    for (guint i = 0; i < cfg->devices->len; i++) {
        const DeviceConfig *d = g_ptr_array_index(cfg->devices, i);
        const DeviceClass *cls = devices_find_driver(d->driver);

        json_builder_add_string_value(b, cls ? cls->name : d->driver);
    }
    json_builder_end_array(b);
    if (cfg->has_uuid) {
        char uuid[37];

        snprintf(uuid, sizeof(uuid),
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                 "%02x%02x%02x%02x%02x%02x", cfg->uuid[0], cfg->uuid[1],
                 cfg->uuid[2], cfg->uuid[3], cfg->uuid[4], cfg->uuid[5],
                 cfg->uuid[6], cfg->uuid[7], cfg->uuid[8], cfg->uuid[9],
                 cfg->uuid[10], cfg->uuid[11], cfg->uuid[12], cfg->uuid[13],
                 cfg->uuid[14], cfg->uuid[15]);
        json_builder_set_member_name(b, "uuid");
        json_builder_add_string_value(b, uuid);
    }
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    return json_generator_to_data(gen, NULL);
}

static gint64 member_int(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, name);

    return n && JSON_NODE_HOLDS_VALUE(n) &&
           json_node_get_value_type(n) == G_TYPE_INT64 ?
           json_node_get_int(n) : -1;
}

/* @n's string, or NULL if it is anything else (an object, a number). */
static const char *node_string(JsonNode *n)
{
    return n && JSON_NODE_HOLDS_VALUE(n) &&
           json_node_get_value_type(n) == G_TYPE_STRING ?
           json_node_get_string(n) : NULL;
}

bool migration_config_check(Vm *vm, const char *text, size_t len,
                            bool check_uuid, unsigned int *channels,
                            GError **errp)
{
    g_autoptr(JsonParser) p = json_parser_new();
    g_autofree char *ours = config_json(vm, 0);
    g_autoptr(JsonParser) q = json_parser_new();
    JsonObject *theirs, *mine;
    JsonArray *td, *md;
    gint64 v;

    if (!json_parser_load_from_data(p, text, (gssize)len, NULL) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p))) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "migration stream: the configuration section is not a "
                    "JSON object");
        return false;
    }
    json_parser_load_from_data(q, ours, -1, NULL);
    theirs = json_node_get_object(json_parser_get_root(p));
    mine = json_node_get_object(json_parser_get_root(q));
    v = member_int(theirs, "ram-size");
    if (v != member_int(mine, "ram-size")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "the source VM has %" G_GINT64_FORMAT " MiB of RAM, this "
                    "one has %" PRIu64 " MiB: start it with the same -m",
                    v < 0 ? v : v >> 20, vm->cfg->ram_size >> 20);
        return false;
    }
    v = member_int(theirs, "vcpus");
    if (v != (gint64)vm->cfg->cpus) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "the source VM has %" G_GINT64_FORMAT " vCPUs, this one "
                    "has %u: start it with the same -smp", v, vm->cfg->cpus);
        return false;
    }
    v = member_int(theirs, "serials");
    if (v != member_int(mine, "serials")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "the source VM has %" G_GINT64_FORMAT " serial ports, "
                    "this one has %u: use the same -serial options", v,
                    vm->cfg->serials->len);
        return false;
    }
    td = json_object_has_member(theirs, "devices") &&
         JSON_NODE_HOLDS_ARRAY(json_object_get_member(theirs, "devices")) ?
         json_object_get_array_member(theirs, "devices") : NULL;
    md = json_object_get_array_member(mine, "devices");
    for (guint i = 0; !td || i < MAX(json_array_get_length(td),
                                     json_array_get_length(md)); i++) {
        /* The stream's entries may be anything: only strings match. */
        JsonNode *an = td && i < json_array_get_length(td) ?
                       json_array_get_element(td, i) : NULL;
        const char *a = node_string(an);
        const char *b = i < json_array_get_length(md) ?
                        json_array_get_string_element(md, i) : NULL;

        if (!td || (an && !a) || g_strcmp0(a, b)) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "device %u differs: the source VM has %s, this one "
                        "has %s: use the same -device options", i,
                        a ? a : an ? "an invalid entry" : "none",
                        b ? b : "none");
            return false;
        }
    }
    if (check_uuid && json_object_has_member(theirs, "uuid") &&
        (!node_string(json_object_get_member(theirs, "uuid")) ||
         g_strcmp0(node_string(json_object_get_member(theirs, "uuid")),
                   json_object_has_member(mine, "uuid") ?
                   json_object_get_string_member(mine, "uuid") : NULL))) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "UUID of the migration source differs from this VM's "
                    "(validate-uuid is on)");
        return false;
    }
    v = member_int(theirs, "multifd-channels");
    if (v < 0 || v > MULTIFD_MAX_CHANNELS) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "migration stream: %" G_GINT64_FORMAT " multifd "
                    "channels announced (0 to %d allowed)", v,
                    MULTIFD_MAX_CHANNELS);
        return false;
    }
    *channels = (unsigned int)v;
    return true;
}

static bool config_check(Migration *m, const char *text, size_t len,
                         GError **errp)
{
    unsigned int channels;

    if (!migration_config_check(m->vm, text, len,
                                m->params.caps[MIG_CAP_VALIDATE_UUID],
                                &channels, errp)) {
        return false;
    }
    g_mutex_lock(&m->lock);
    m->in_channels = channels;
    g_cond_broadcast(&m->cond);
    g_mutex_unlock(&m->lock);
    return true;
}

/* --- the return path ------------------------------------------------------ */

static bool write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    while (len) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static void send_verdict(int fd, const char *msg)
{
    uint8_t head[8];
    size_t len = msg ? MIN(strlen(msg), MIG_VERDICT_MAX) : 0;

    memcpy(head, msg ? MIG_VERDICT_ERR : MIG_VERDICT_OK, 4);
    for (int i = 0; i < 4; i++) {
        head[4 + i] = (uint8_t)(len >> (8 * i));
    }
    if (write_all(fd, head, 8) && len) {
        write_all(fd, msg, len);
    }
}

/*
 * Read the destination's verdict: true for OK; false with @errp naming
 * the destination's error (or the failure to read it). @wait_ms < 0
 * blocks; 0 only looks whether one has arrived (*arrived says so).
 */
static bool read_reply(Migration *m, int fd, int wait_ms, bool *arrived,
                       int64_t *synced, GError **errp)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    uint8_t head[8];
    char msg[MIG_VERDICT_MAX + 1];
    size_t got = 0, len;

    *arrived = false;
    if (synced) {
        *synced = -1;
    }
    for (;;) {
        int rc = poll(&pfd, 1, wait_ms < 0 ? 200 : wait_ms);

        if (rc > 0) {
            break;
        }
        if (rc < 0 && errno != EINTR) {
            break;
        }
        if (wait_ms >= 0) {
            return true;
        }
        if (m->cancel) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                        "migration cancelled");
            return false;
        }
    }
    *arrived = true;
    while (got < sizeof(head)) {
        ssize_t n = read(fd, head + got, sizeof(head) - got);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                        "the destination closed the connection without "
                        "loading the VM");
            return false;
        }
        got += (size_t)n;
    }
    if (!memcmp(head, MIG_VERDICT_OK, 4)) {
        return true;
    }
    len = (size_t)head[4] | (size_t)head[5] << 8 | (size_t)head[6] << 16 |
          (size_t)head[7] << 24;
    if (!memcmp(head, MIG_VERDICT_SYNC, 4) && synced && len == 4) {
        uint8_t seq[4];

        got = 0;
        while (got < sizeof(seq)) {
            ssize_t n = read(fd, seq + got, sizeof(seq) - got);

            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                            "the destination closed the connection");
                return false;
            }
            got += (size_t)n;
        }
        *synced = le32_load(seq);
        return true;
    }
    if (memcmp(head, MIG_VERDICT_ERR, 4) || len > MIG_VERDICT_MAX) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "the destination sent a malformed answer");
        return false;
    }
    got = 0;
    while (got < len) {
        ssize_t n = read(fd, msg + got, len - got);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    msg[got] = 0;
    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                "the destination refused the migration: %s",
                g_strcanon(msg, G_CSET_a_2_z G_CSET_A_2_Z G_CSET_DIGITS
                           " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", '?'));
    return false;
}

static bool read_verdict(Migration *m, int fd, int wait_ms, bool *arrived,
                         GError **errp)
{
    return read_reply(m, fd, wait_ms, arrived, NULL, errp);
}

static void send_synced(int fd, uint32_t seq)
{
    uint8_t msg[12];

    memcpy(msg, MIG_VERDICT_SYNC, 4);
    le32_store(msg + 4, 4);
    le32_store(msg + 8, seq);
    write_all(fd, msg, sizeof(msg));
}

/* --- source: the switch-over (main thread) ---------------------------------- */

static void save_state(Migration *m)
{
    Vm *vm = m->vm;
    g_autoptr(GError) err = NULL;
    GByteArray *dev = g_byte_array_new(), *cpu = g_byte_array_new();
    /* The disks are final on the shared storage before the destination
     * hears of the devices that use them. */
    bool ok = block_graph_flush_all(vm->blocks, &err) &&
              devices_save_state(vm, dev, &err) &&
              vm_save_cpus(vm, cpu, &err);

    g_mutex_lock(&m->lock);
    if (ok) {
        m->dev_state = dev;
        m->cpu_state = cpu;
        m->sw = SW_STOPPED;
    } else {
        g_byte_array_unref(dev);
        g_byte_array_unref(cpu);
        g_free(m->error);
        m->error = g_strdup_printf("saving the VM's state failed: %s",
                                   err->message);
        m->sw = SW_FAILED;
    }
    g_cond_broadcast(&m->cond);
    g_mutex_unlock(&m->lock);
}

static gboolean switchover_cb(gpointer opaque)
{
    Migration *m = opaque;
    Vm *vm = m->vm;
    g_autoptr(GError) err = NULL;

    g_mutex_lock(&m->lock);
    if (m->sw != SW_REQUESTED) {
        g_mutex_unlock(&m->lock);
        return G_SOURCE_REMOVE;
    }
    g_mutex_unlock(&m->lock);
    m->was_running = vm_get_run_state(vm) == RUN_STATE_RUNNING;
    m->t_stop = g_get_monotonic_time();
    if (!vm_pause(vm, RUN_STATE_FINISH_MIGRATE, &err)) {
        g_mutex_lock(&m->lock);
        g_free(m->error);
        m->error = g_strdup(err->message);
        m->sw = SW_FAILED;
        g_cond_broadcast(&m->cond);
        g_mutex_unlock(&m->lock);
        return G_SOURCE_REMOVE;
    }
    m->stopped_vm = true;       /* vm_pause paused the devices too */
    if (m->params.caps[MIG_CAP_PAUSE_BEFORE_SWITCHOVER] &&
        set_status(m, MIG_STATUS_ACTIVE, MIG_STATUS_PRE_SWITCHOVER)) {
        g_mutex_lock(&m->lock);
        m->sw = SW_WAIT_CONTINUE;
        g_mutex_unlock(&m->lock);
        return G_SOURCE_REMOVE;
    }
    save_state(m);
    return G_SOURCE_REMOVE;
}

/* The thread: ask for the switch-over and wait for it. */
static bool request_switchover(Migration *m)
{
    bool ok;

    g_mutex_lock(&m->lock);
    m->sw = SW_REQUESTED;
    g_idle_add(switchover_cb, m);
    while (m->sw == SW_REQUESTED || m->sw == SW_WAIT_CONTINUE) {
        gint64 deadline = g_get_monotonic_time() + 100 * 1000;

        g_cond_wait_until(&m->cond, &m->lock, deadline);
        if (m->cancel && m->sw == SW_REQUESTED) {
            /* Not stopped yet: the main loop will see SW_FAILED. */
            m->sw = SW_FAILED;
        }
    }
    ok = m->sw == SW_STOPPED;
    g_mutex_unlock(&m->lock);
    return ok;
}

/* --- source: the thread -------------------------------------------------------- */

typedef struct {
    Migration *m;
    bool ok;
    char *error;
} MigDone;

static gboolean source_done_cb(gpointer opaque);

static void post_done(Migration *m, bool ok, const char *error)
{
    MigDone *d = g_new0(MigDone, 1);

    d->m = m;
    d->ok = ok;
    d->error = g_strdup(error);
    g_idle_add(source_done_cb, d);
}

static bool is_socket(int fd)
{
    struct stat sb;

    return fstat(fd, &sb) == 0 && S_ISSOCK(sb.st_mode);
}

/* Auto-converge: after two syncs in a row where the guest dirtied more
 * than throttle-trigger-threshold % of what was sent, slow its vCPUs
 * down by cpu-throttle-initial %, then by cpu-throttle-increment % more
 * each time, up to max-cpu-throttle. */
static void maybe_throttle(Migration *m, uint64_t dirtied, uint64_t sent,
                           int *high)
{
    MigrationParams *p = &m->params;
    int next;

    if (!p->caps[MIG_CAP_AUTO_CONVERGE]) {
        return;
    }
    if (dirtied * 100 <= sent * (uint64_t)p->throttle_trigger_threshold) {
        *high = 0;
        return;
    }
    if (++*high < 2) {
        return;
    }
    *high = 0;
    next = m->throttle ? m->throttle + (int)p->cpu_throttle_increment
                       : (int)p->cpu_throttle_initial;
    next = MIN(next, (int)p->max_cpu_throttle);
    if (next != m->throttle) {
        __atomic_store_n(&m->throttle, next, __ATOMIC_RELAXED);
        vm_set_cpu_throttle(m->vm, (unsigned int)next);
    }
}

static bool check_return_path(Migration *m, bool ack, GError **errp)
{
    bool arrived;

    if (!ack) {
        return true;
    }
    /* The destination refuses by writing its verdict early; notice it
     * between batches rather than writing on into a closed connection. */
    if (!read_verdict(m, m->fd, 0, &arrived, errp)) {
        return false;
    }
    if (arrived) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "the destination answered before the end of the "
                    "stream");
        return false;
    }
    return true;
}

static void writer_error(Migration *m, MigWriter *w, bool ack,
                         GError **errp)
{
    bool arrived;

    if (m->cancel) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "migration cancelled");
        return;
    }
    /* A destination that refused may have said why. */
    if (ack && !read_verdict(m, m->fd, 500, &arrived, errp)) {
        return;
    }
    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                "writing the migration stream failed: %s",
                g_strerror(w->error ? w->error : EIO));
}

static uint64_t total_bytes(MigWriter *w, MultifdSend *mfd)
{
    return w->bytes + w->len + (mfd ? multifd_send_bytes(mfd) : 0);
}

/* After a flush: every channel's counts are final for now. */
static void update_stats(Migration *m, MigWriter *w, MultifdSend *mfd,
                         const RamStats *rs)
{
    RamStats all = *rs;

    if (mfd) {
        multifd_send_stats(mfd, &all);
        st(&m->multifd_bytes, multifd_send_bytes(mfd));
    }
    st(&m->transferred, total_bytes(w, mfd));
    st(&m->normal, all.normal);
    st(&m->duplicate, all.duplicate);
}

/*
 * Wait until the destination has put everything sent so far into its RAM
 * (a SYNC on every channel, answered on the return path). Without it the
 * socket buffers and a slow receiver (decompression, page faults) hide a
 * backlog: the pass looks fast, the switch-over comes too early, and the
 * guest waits, stopped, while the destination catches up. With it each
 * pass measures the bandwidth end to end.
 */
static bool sync_destination(Migration *m, MigWriter *w, MultifdSend *mfd,
                             uint32_t seq, GError **errp)
{
    uint8_t b[4];
    int64_t synced = -1;
    bool arrived;

    le32_store(b, seq);
    if (mfd && !multifd_send_sync(mfd, seq, errp)) {
        return false;
    }
    if (!mig_write_record(w, MIG_REC_SYNC, b, sizeof(b)) ||
        !mig_writer_flush(w)) {
        writer_error(m, w, true, errp);
        return false;
    }
    while (synced != (int64_t)seq) {
        if (!read_reply(m, m->fd, -1, &arrived, &synced, errp)) {
            return false;
        }
        if (synced < 0) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                        "the destination answered before the end of the "
                        "stream");
            return false;
        }
    }
    return true;
}

/*
 * exec: the stream is complete only once the command has taken all of it
 * (a save through "gzip > file" has not happened until gzip is done):
 * close its input and wait for it to succeed.
 */
static bool wait_command(Migration *m, GError **errp)
{
    int status, fd;
    pid_t pid = m->child;

    g_mutex_lock(&m->lock);
    fd = m->fd;
    m->fd = -1;
    g_mutex_unlock(&m->lock);
    close(fd);
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                        "waiting for the exec: command failed: %s",
                        g_strerror(errno));
            return false;
        }
    }
    __atomic_store_n(&m->child, 0, __ATOMIC_RELEASE);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        return true;
    }
    if (WIFEXITED(status)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "the exec: command exited with status %d",
                    WEXITSTATUS(status));
    } else {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "the exec: command was killed by signal %d",
                    WTERMSIG(status));
    }
    return false;
}

static gpointer source_thread(gpointer opaque)
{
    Migration *m = opaque;
    Vm *vm = m->vm;
    g_autoptr(GError) err = NULL;
    g_autofree char *config = NULL;
    RamSender *ram = NULL;
    MultifdSend *mfd = NULL;
    unsigned int channels = m->params.caps[MIG_CAP_MULTIFD] ?
                            (unsigned int)m->params.multifd_channels : 0;
    RamStats rs = { 0 };
    RamRateLimit rl = { .max_bandwidth = &m->max_bandwidth };
    MigWriter w;
    bool ack, ok = false;
    int high = 0;
    uint32_t pass = 0;

    mig_writer_init(&w, -1, &m->cancel);
    g_mutex_lock(&m->lock);
    m->w_live = &w;
    g_mutex_unlock(&m->lock);
    if (m->fd < 0) {
        int fd = mig_channel_connect(&m->uri, &m->child, &err);

        if (fd < 0) {
            goto out;
        }
        g_mutex_lock(&m->lock);
        m->fd = fd;
        g_mutex_unlock(&m->lock);
        if (m->cancel) {
            shutdown(fd, SHUT_RDWR);
        }
    }
    w.fd = m->fd;
    ack = is_socket(m->fd);
    config = config_json(vm, channels);
    ram = ram_sender_new(vm->kvm, vm->mem);
    if (!mig_write_header(&w, ack ? MIG_FLAG_ACK : 0) ||
        !mig_write_record(&w, MIG_REC_CONFIG, config,
                          (uint32_t)strlen(config)) ||
        !mig_writer_flush(&w)) {
        writer_error(m, &w, ack, &err);
        goto out;
    }
    if (channels) {
        bool zstd = m->params.multifd_compression == MIG_COMPRESS_ZSTD;

        mfd = multifd_send_new(&m->uri, channels,
                               zstd ? (int)m->params.multifd_zstd_level : -1,
                               &m->cancel, &err);
        if (!mfd) {
            goto out;
        }
        g_mutex_lock(&m->lock);
        m->mfd = mfd;
        if (m->cancel) {
            multifd_send_shutdown(mfd);
        }
        g_mutex_unlock(&m->lock);
    }
    if (!ram_sender_start(ram, &err)) {
        goto out;
    }
    m->t_setup = g_get_monotonic_time();
    m->setup_time = (m->t_setup - m->t_start) / 1000;
    st(&m->sync_count, 1);
    st(&m->remaining, ram_sender_pending(ram) * MIG_PAGE_SIZE);
    if (!set_status(m, MIG_STATUS_SETUP, MIG_STATUS_ACTIVE)) {
        goto out;               /* cancelled */
    }

    /* Pre-copy: whole passes while the guest runs. */
    for (;;) {
        gint64 t0 = g_get_monotonic_time(), dt;
        uint64_t b0 = total_bytes(&w, mfd), sent, pending, bw;
        uint32_t le_pass;

        pass++;
        post_event(m, "MIGRATION_PASS", pass, false);
        le_pass = GUINT32_TO_LE(pass);
        if (!mig_write_record(&w, MIG_REC_PASS, &le_pass, 4) ||
            !ram_sender_pass(ram, &w, mfd, &rl, &rs) ||
            !mig_writer_flush(&w)) {
            writer_error(m, &w, ack, &err);
            goto out;
        }
        if (mfd && !multifd_send_flush(mfd, &err)) {
            goto out;
        }
        update_stats(m, &w, mfd, &rs);
        if (!check_return_path(m, ack, &err) ||
            (ack && !sync_destination(m, &w, mfd, pass, &err))) {
            goto out;
        }
        dt = MAX(g_get_monotonic_time() - t0, 1);
        sent = total_bytes(&w, mfd) - b0;
        pending = ram_sender_sync(ram);
        st(&m->sync_count, ld(&m->sync_count) + 1);
        bw = MAX(sent * G_USEC_PER_SEC / (uint64_t)dt, 1);  /* bytes/s */
        st(&m->remaining, pending * MIG_PAGE_SIZE);
        st(&m->dirty_rate, pending * G_USEC_PER_SEC / (uint64_t)dt);
        st(&m->pages_per_second, (rs.normal + rs.duplicate) *
                                 G_USEC_PER_SEC /
                                 (uint64_t)MAX(g_get_monotonic_time() -
                                               m->t_setup, 1));
        m->mbps = (double)sent * 8 / (double)dt;
        __atomic_store_n(&m->expected_downtime,
                         (int64_t)(pending * MIG_PAGE_SIZE * 1000 / bw),
                         __ATOMIC_RELAXED);
        if (pending * MIG_PAGE_SIZE * 1000 <=
            bw * (uint64_t)__atomic_load_n(&m->downtime_limit,
                                           __ATOMIC_RELAXED)) {
            break;
        }
        maybe_throttle(m, pending * MIG_PAGE_SIZE, sent, &high);
        if (m->cancel) {
            writer_error(m, &w, ack, &err);
            goto out;
        }
    }
    st(&m->precopy_bytes, total_bytes(&w, mfd));

    /* Stop-and-copy. */
    if (!request_switchover(m)) {
        g_mutex_lock(&m->lock);
        g_set_error(&err, KESTREL_ERROR, KESTREL_ERROR_FAILED, "%s",
                    m->error ? m->error : "migration cancelled");
        g_mutex_unlock(&m->lock);
        goto out;
    }
    ram_sender_sync(ram);
    st(&m->sync_count, ld(&m->sync_count) + 1);
    if (!ram_sender_pass(ram, &w, mfd, NULL, &rs)) {
        writer_error(m, &w, ack, &err);
        goto out;
    }
    /* All RAM is out before the device state: the destination loads
     * devices only once every channel has ended. */
    if (mfd && !multifd_send_finish(mfd, &err)) {
        goto out;
    }
    if (!mig_write_record(&w, MIG_REC_DEVICES, m->dev_state->data,
                          m->dev_state->len) ||
        !mig_write_record(&w, MIG_REC_CPUS, m->cpu_state->data,
                          m->cpu_state->len) ||
        !mig_write_record(&w, MIG_REC_END, NULL, 0) ||
        !mig_writer_flush(&w)) {
        writer_error(m, &w, ack, &err);
        goto out;
    }
    update_stats(m, &w, mfd, &rs);
    st(&m->remaining, 0);
    st(&m->downtime_bytes, total_bytes(&w, mfd) - ld(&m->precopy_bytes));
    if (ack) {
        bool arrived;

        if (!read_verdict(m, m->fd, -1, &arrived, &err)) {
            goto out;
        }
    } else if (fsync(m->fd) < 0 && errno != EINVAL && errno != EROFS) {
        g_set_error(&err, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "writing the migration stream failed: %s",
                    g_strerror(errno));
        goto out;
    }
    if (m->child > 0 && !wait_command(m, &err)) {
        goto out;
    }
    ok = true;
out:
    g_mutex_lock(&m->lock);
    m->mfd = NULL;
    m->w_live = NULL;
    g_mutex_unlock(&m->lock);
    multifd_send_free(mfd);
    if (ram) {
        ram_sender_free(ram);
    }
    mig_writer_clear(&w);
    post_done(m, ok, ok ? NULL : err ? err->message : "migration failed");
    return NULL;
}

/* Main thread: the end of an outgoing migration, good or bad. */
static gboolean source_done_cb(gpointer opaque)
{
    MigDone *d = opaque;
    Migration *m = d->m;
    Vm *vm = m->vm;

    g_thread_join(m->thread);
    m->thread = NULL;
    if (m->throttle) {
        m->throttle = 0;
        vm_set_cpu_throttle(vm, 0);
    }
    close_fd(&m->fd);
    reap_later(&m->child);
    m->t_end = g_get_monotonic_time();
    m->total_time = (m->t_end - m->t_start) / 1000;
    g_mutex_lock(&m->lock);
    g_clear_pointer(&m->dev_state, g_byte_array_unref);
    g_clear_pointer(&m->cpu_state, g_byte_array_unref);
    m->sw = SW_NONE;
    g_mutex_unlock(&m->lock);

    if (d->ok) {
        m->downtime = m->t_stop ? (m->t_end - m->t_stop) / 1000 : 0;
        /* The destination owns the disks now: not a byte more from us,
         * not even when this process quits. */
        block_graph_inactivate_all(vm->blocks);
        vm_set_run_state(vm, RUN_STATE_POSTMIGRATE, NULL);
        set_status(m, get_status(m), MIG_STATUS_COMPLETED);
    } else {
        /* The guest goes on where it was, whatever went wrong. */
        if (m->stopped_vm) {
            if (m->was_running) {
                vm_start(vm, NULL);
            } else {
                vm_set_run_state(vm, RUN_STATE_PAUSED, NULL);
            }
        }
        if (m->cancel) {
            set_status(m, MIG_STATUS_CANCELLING, MIG_STATUS_CANCELLED);
        } else {
            set_error(m, d->error);
            fprintf(stderr, "kestrel: %s\n", d->error);
            set_status(m, get_status(m), MIG_STATUS_FAILED);
        }
    }
    m->stopped_vm = false;
    g_free(d->error);
    g_free(d);
    return G_SOURCE_REMOVE;
}

/* --- QMP: outgoing ---------------------------------------------------------- */

static bool generic(GError **errp, const char *msg)
{
    g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC, "%s", msg);
    return false;
}

bool qmp_migrate(void *ctx, JsonObject *args, JsonNode **ret, GError **errp)
{
    Vm *vm = ctx;
    Migration *m = mig(vm);
    const char *uri = json_object_get_string_member(args, "uri");
    MigUri u;

    if (json_object_has_member(args, "blk") &&
        json_object_get_boolean_member(args, "blk")) {
        return generic(errp, "Block migration is not supported by kestrel: "
                             "it has no disks to copy");
    }
    if (json_object_has_member(args, "inc") &&
        json_object_get_boolean_member(args, "inc")) {
        return generic(errp, "Incremental block migration is not supported "
                             "by kestrel");
    }
    if (json_object_has_member(args, "resume") &&
        json_object_get_boolean_member(args, "resume")) {
        return generic(errp, "Cannot resume if there is no paused "
                             "migration");
    }
    if (migration_in_progress(m)) {
        return generic(errp, "There's a migration process in progress");
    }
    /* inmigrate and postmigrate are refused by the command table. */
    if (!vm->mem) {
        return generic(errp, "There is no VM to migrate (-machine none)");
    }
    if (!mig_uri_parse(uri, &u, errp)) {
        return false;
    }
    if (m->params.caps[MIG_CAP_MULTIFD] && u.kind != MIG_URI_TCP &&
        u.kind != MIG_URI_UNIX) {
        mig_uri_clear(&u);
        return generic(errp, "multifd needs a tcp: or unix: migration URI "
                             "(its channels are extra connections to the "
                             "same address)");
    }
    mig_uri_clear(&m->uri);
    m->uri = u;
    if (u.kind == MIG_URI_FD) {
        m->fd = monitor_take_fd(vm->monitor, u.fdname);
        if (m->fd < 0) {
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "File descriptor named '%s' has not been found",
                        u.fdname);
            return false;
        }
    }
    /* A fresh migration: forget the last one's figures. A VM that came
     * in by migration is now a source like any other. */
    g_mutex_lock(&m->lock);
    g_clear_pointer(&m->error, g_free);
    g_mutex_unlock(&m->lock);
    m->incoming = false;
    m->cancel = 0;
    m->ran = true;
    m->t_start = g_get_monotonic_time();
    m->t_setup = m->t_stop = m->t_end = 0;
    m->downtime = m->expected_downtime = m->setup_time = m->total_time = 0;
    m->transferred = m->precopy_bytes = m->downtime_bytes = 0;
    m->multifd_bytes = 0;
    m->normal = m->duplicate = m->remaining = m->dirty_rate = 0;
    m->pages_per_second = m->sync_count = 0;
    m->mbps = 0;
    m->stopped_vm = false;
    __atomic_store_n(&m->status, MIG_STATUS_NONE, __ATOMIC_RELEASE);
    set_status(m, MIG_STATUS_NONE, MIG_STATUS_SETUP);
    m->thread = g_thread_new("migration", source_thread, m);
    return true;
}

bool qmp_migrate_cancel(void *ctx, JsonObject *args, JsonNode **ret,
                        GError **errp)
{
    Migration *m = mig(ctx);
    MigrationStatus s = get_status(m);

    if (m->incoming || !m->thread) {
        return true;            /* as QEMU: nothing to cancel is fine */
    }
    if (s == MIG_STATUS_SETUP || s == MIG_STATUS_ACTIVE ||
        s == MIG_STATUS_PRE_SWITCHOVER || s == MIG_STATUS_DEVICE) {
        if (!set_status(m, s, MIG_STATUS_CANCELLING)) {
            return true;
        }
        m->cancel = 1;
        g_mutex_lock(&m->lock);
        if (m->fd >= 0) {
            /* Wake the thread out of a blocking write or read. */
            shutdown(m->fd, SHUT_RDWR);
        }
        if (m->mfd) {
            multifd_send_shutdown(m->mfd);
        }
        if (__atomic_load_n(&m->child, __ATOMIC_ACQUIRE) > 0) {
            /* ... or out of waiting for an exec: command. */
            kill(m->child, SIGTERM);
        }
        if (m->sw == SW_WAIT_CONTINUE) {
            m->sw = SW_FAILED;
            g_cond_broadcast(&m->cond);
        }
        g_mutex_unlock(&m->lock);
    }
    return true;
}

bool qmp_migrate_continue(void *ctx, JsonObject *args, JsonNode **ret,
                          GError **errp)
{
    Migration *m = mig(ctx);
    const char *want = json_object_get_string_member(args, "state");
    MigrationStatus s = get_status(m);

    if (strcmp(want, migration_status_name(s)) ||
        s != MIG_STATUS_PRE_SWITCHOVER) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "Migration not in expected state: %s",
                    migration_status_name(s));
        return false;
    }
    if (!set_status(m, MIG_STATUS_PRE_SWITCHOVER, MIG_STATUS_DEVICE)) {
        return generic(errp, "Migration not in expected state: "
                             "pre-switchover");
    }
    save_state(m);
    return true;
}

/* --- destination --------------------------------------------------------------- */

typedef struct {
    Migration *m;
    char *error;
} MigIn;

static gboolean incoming_done_cb(gpointer opaque);

static void post_incoming(Migration *m, const char *error)
{
    MigIn *d = g_new0(MigIn, 1);

    d->m = m;
    d->error = g_strdup(error);
    g_idle_add(incoming_done_cb, d);
}

static bool read_blob(MigReader *r, uint32_t type, uint32_t len,
                      MigSum *sum, GByteArray **out, GError **errp)
{
    GByteArray *b = g_byte_array_sized_new(len);

    g_byte_array_set_size(b, len);
    if (!mig_read_exact(r, b->data, len, mig_record_name(type), errp)) {
        g_byte_array_unref(b);
        return false;
    }
    mig_sum_add(sum, b->data, len);
    if (!mig_read_record_tail(r, type, sum, errp)) {
        g_byte_array_unref(b);
        return false;
    }
    if (*out) {
        g_byte_array_unref(*out);
    }
    *out = b;
    return true;
}

/* Tell the source why we refuse, then let it see that before we go: a
 * close with unread data would reset the connection and lose the text. */
static void refuse_early(Migration *m, const char *msg)
{
    char sink[65536];
    gint64 deadline = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;

    if (!m->in_ack) {
        return;
    }
    send_verdict(m->in_fd, msg);
    shutdown(m->in_fd, SHUT_WR);
    while (g_get_monotonic_time() < deadline) {
        struct pollfd pfd = { .fd = m->in_fd, .events = POLLIN };

        if (poll(&pfd, 1, 100) > 0 && read(m->in_fd, sink, sizeof(sink)) <= 0) {
            break;
        }
    }
}

/* Wait for every multifd channel to reach its END (or one to fail). */
static bool wait_channels(Migration *m, GError **errp)
{
    bool ok;

    g_mutex_lock(&m->lock);
    while (m->in_channels_done < m->in_channels && !m->in_channel_error) {
        g_cond_wait(&m->cond, &m->lock);
    }
    ok = !m->in_channel_error;
    if (!ok) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID, "%s",
                    m->in_channel_error);
    }
    g_mutex_unlock(&m->lock);
    return ok;
}

/* Wait until every multifd channel has reached SYNC @seq. */
static bool wait_channels_synced(Migration *m, uint32_t seq, GError **errp)
{
    bool ok = true;

    g_mutex_lock(&m->lock);
    for (unsigned int i = 0; i < m->in_channels && ok; i++) {
        while (m->in_synced[i] < seq && !m->in_channel_error) {
            g_cond_wait(&m->cond, &m->lock);
        }
        if (m->in_channel_error) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID, "%s",
                        m->in_channel_error);
            ok = false;
        }
    }
    g_mutex_unlock(&m->lock);
    return ok;
}

/* The main connection, after its header. */
static void receive_main(Migration *m, MigReader *r)
{
    Vm *vm = m->vm;
    g_autoptr(GError) err = NULL;
    RamStats rs = { 0 };
    uint32_t type, len;
    bool configured = false;

    /* Start from zeros, as the source's holes are: what this VM wrote at
     * set-up (kernel, tables) is either sent again or was never there. */
    for (unsigned int i = 0; i < vm->mem->nr_regions; i++) {
        memmap_discard(vm->mem, vm->mem->regions[i].gpa,
                       vm->mem->regions[i].size);
    }
    for (;;) {
        MigSum sum;

        if (!mig_read_record_head(r, &type, &len, &sum, &err)) {
            goto fail;
        }
        if (!configured && type != MIG_REC_CONFIG) {
            g_set_error(&err, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "migration stream: %s section before the "
                        "configuration", mig_record_name(type));
            goto fail;
        }
        switch (type) {
        case MIG_REC_CONFIG: {
            g_autofree char *text = g_malloc(len + 1);

            if (configured) {
                g_set_error(&err, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                            "migration stream: a second configuration "
                            "section");
                goto fail;
            }
            if (!mig_read_exact(r, text, len, "config", &err)) {
                goto fail;
            }
            text[len] = 0;
            mig_sum_add(&sum, text, len);
            if (!mig_read_record_tail(r, type, &sum, &err) ||
                !config_check(m, text, len, &err)) {
                goto fail;
            }
            configured = true;
            set_status(m, MIG_STATUS_SETUP, MIG_STATUS_ACTIVE);
            break;
        }
        case MIG_REC_RAM:
        case MIG_REC_ZERO:
            if (!ram_receive(vm->mem, r, type, len, &sum, &rs, &err)) {
                goto fail;
            }
            break;
        case MIG_REC_PASS: {
            uint32_t pass;

            if (!mig_read_u32_record(r, type, len, &sum, &pass, &err)) {
                goto fail;
            }
            break;
        }
        case MIG_REC_SYNC: {
            uint32_t seq;

            if (!mig_read_u32_record(r, type, len, &sum, &seq, &err) ||
                !wait_channels_synced(m, seq, &err)) {
                goto fail;
            }
            if (m->in_ack) {
                send_synced(m->in_fd, seq);
            }
            break;
        }
        case MIG_REC_DEVICES:
            if (!read_blob(r, type, len, &sum, &m->in_dev, &err)) {
                goto fail;
            }
            break;
        case MIG_REC_CPUS:
            if (!read_blob(r, type, len, &sum, &m->in_cpu, &err)) {
                goto fail;
            }
            break;
        case MIG_REC_END:
            if (!mig_read_record_tail(r, type, &sum, &err)) {
                goto fail;
            }
            if (!m->in_dev || !m->in_cpu) {
                g_set_error(&err, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                            "migration stream: it ended without the %s "
                            "state", !m->in_dev ? "device" : "CPU");
                goto fail;
            }
            /* RAM may still be arriving on the multifd channels. */
            if (!wait_channels(m, &err)) {
                goto fail;
            }
            st(&m->transferred, r->bytes);
            post_incoming(m, NULL);
            return;
        default:
            g_set_error(&err, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "migration stream: a %s section on the main "
                        "channel", mig_record_name(type));
            goto fail;
        }
    }
fail:
    g_mutex_lock(&m->lock);
    if (m->in_channel_error) {
        /* The channel's failure is the cause; ours only followed. */
        g_clear_error(&err);
        g_set_error(&err, KESTREL_ERROR, KESTREL_ERROR_INVALID, "%s",
                    m->in_channel_error);
    }
    g_mutex_unlock(&m->lock);
    refuse_early(m, err->message);
    post_incoming(m, err->message);
}

typedef struct {
    Migration *m;
    unsigned int index;
} ChannelSync;

static void channel_synced(void *opaque, uint32_t seq)
{
    ChannelSync *cs = opaque;
    Migration *m = cs->m;

    g_mutex_lock(&m->lock);
    m->in_synced[cs->index] = seq;
    g_cond_broadcast(&m->cond);
    g_mutex_unlock(&m->lock);
}

/* A multifd channel, after its header (its index in @flags). */
static void receive_channel(Migration *m, MigReader *r, int fd,
                            uint32_t flags)
{
    g_autoptr(GError) err = NULL;
    RamStats rs = { 0 };
    ChannelSync cs = { .m = m, .index = (flags >> 8) & 0xff };
    bool ok = multifd_receive_channel(m->vm->mem, r, &rs, channel_synced,
                                      &cs, &err);

    g_mutex_lock(&m->lock);
    if (ok) {
        m->in_channels_done++;
    } else if (!m->in_channel_error) {
        m->in_channel_error = g_strdup(err->message);
        if (m->in_fd >= 0) {
            /* Wake the main connection's reader: it reports this. */
            shutdown(m->in_fd, SHUT_RD);
        }
    }
    g_cond_broadcast(&m->cond);
    g_mutex_unlock(&m->lock);
    forget_connection(m, fd);
    close(fd);
}

typedef struct {
    Migration *m;
    int fd;
} InConn;

/* One incoming connection: the main stream or a multifd channel, as its
 * header says. */
static gpointer conn_thread(gpointer opaque)
{
    InConn *c = opaque;
    Migration *m = c->m;
    g_autoptr(GError) err = NULL;
    MigReader r;
    uint32_t flags = 0;
    bool main_conn;

    mig_reader_init(&r, c->fd);
    if (!mig_read_header(&r, &flags, &err)) {
        flags = 0;              /* report it as the main stream's error */
    }
    main_conn = !(flags & MIG_FLAG_CHANNEL);
    g_mutex_lock(&m->lock);
    if (main_conn && m->in_main_claimed) {
        g_mutex_unlock(&m->lock);
        forget_connection(m, c->fd);
        close(c->fd);           /* a stray second main stream */
        goto out;
    }
    if (main_conn) {
        m->in_main_claimed = true;
        m->in_fd = c->fd;
    }
    g_mutex_unlock(&m->lock);
    if (!main_conn) {
        receive_channel(m, &r, c->fd, flags);
    } else if (err) {
        refuse_early(m, err->message);
        post_incoming(m, err->message);
    } else {
        m->in_ack = flags & MIG_FLAG_ACK;
        set_status(m, MIG_STATUS_NONE, MIG_STATUS_SETUP);
        receive_main(m, &r);
    }
out:
    mig_reader_clear(&r);
    g_free(c);
    return NULL;
}

static void incoming_fail(Migration *m, const char *error)
{
    set_error(m, error);
    set_status(m, get_status(m), MIG_STATUS_FAILED);
    fprintf(stderr, "kestrel: load of migration failed: %s\n", error);
    if (m->unlink_path) {
        unlink(m->unlink_path);
    }
    vm_quit(m->vm, 1);
}

/* Main thread: load what the thread collected, then run (or not). */
static gboolean incoming_done_cb(gpointer opaque)
{
    MigIn *d = opaque;
    Migration *m = d->m;
    Vm *vm = m->vm;
    g_autoptr(GError) err = NULL;

    /* The main connection is done; channels are done or will fail on
     * their closed sockets now. */
    if (m->listen_src) {
        g_source_remove(m->listen_src);
        m->listen_src = 0;
    }
    close_fd(&m->listen_fd);
    g_mutex_lock(&m->lock);
    stop_connections(m, true);
    g_mutex_unlock(&m->lock);
    for (guint i = 0; i < m->in_threads->len; i++) {
        g_thread_join(g_ptr_array_index(m->in_threads, i));
    }
    g_ptr_array_set_size(m->in_threads, 0);
    if (d->error) {
        close_fd(&m->in_fd);
        incoming_fail(m, d->error);
        goto out;
    }
    if (!devices_load_state(vm, m->in_dev->data, m->in_dev->len, &err) ||
        !vm_load_cpus(vm, m->in_cpu->data, m->in_cpu->len, &err) ||
        !block_graph_invalidate_all(vm->blocks, &err)) {
        if (m->in_ack) {
            send_verdict(m->in_fd, err->message);
        }
        close_fd(&m->in_fd);
        incoming_fail(m, err->message);
        goto out;
    }
    /* The verdict goes out before the vCPUs run: the source keeps its
     * guest until it hears that this one has everything. */
    if (m->in_ack) {
        send_verdict(m->in_fd, NULL);
    }
    close_fd(&m->in_fd);
    reap_later(&m->in_child);
    if (m->unlink_path) {
        unlink(m->unlink_path);
        g_clear_pointer(&m->unlink_path, g_free);
    }
    m->ran = true;
    set_status(m, MIG_STATUS_ACTIVE, MIG_STATUS_COMPLETED);
    if (m->autostart || !vm->cfg->start_paused) {
        if (!vm_start(vm, &err)) {
            fprintf(stderr, "kestrel: %s\n", err->message);
            vm_quit(vm, 1);
        }
    } else {
        vm_set_run_state(vm, RUN_STATE_PAUSED, NULL);
    }
out:
    g_clear_pointer(&m->in_dev, g_byte_array_unref);
    g_clear_pointer(&m->in_cpu, g_byte_array_unref);
    g_free(d->error);
    g_free(d);
    return G_SOURCE_REMOVE;
}

static void start_receiving(Migration *m, int fd)
{
    InConn *c = g_new0(InConn, 1);

    c->m = m;
    c->fd = fd;
    g_mutex_lock(&m->lock);
    g_array_append_val(m->in_conns, fd);
    g_mutex_unlock(&m->lock);
    g_ptr_array_add(m->in_threads,
                    g_thread_new("migration-in", conn_thread, c));
}

static gboolean accept_cb(gint fd, GIOCondition cond, gpointer opaque)
{
    Migration *m = opaque;
    int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

    if (c < 0) {
        return errno == EINTR || errno == EAGAIN ? G_SOURCE_CONTINUE
                                                  : G_SOURCE_REMOVE;
    }
    /* The main stream, then any multifd channels: all on this socket,
     * which stays open until the migration is in. */
    if (m->in_threads->len > MULTIFD_MAX_CHANNELS) {
        close(c);
        return G_SOURCE_CONTINUE;
    }
    start_receiving(m, c);
    return G_SOURCE_CONTINUE;
}

static bool incoming_start(Vm *vm, const char *uri, GError **errp)
{
    Migration *m = mig(vm);
    MigUri u;
    bool listening;
    int fd;

    if (m->incoming_started) {
        return generic(errp, "The incoming migration has already been "
                             "started");
    }
    if (!mig_uri_parse(uri, &u, errp)) {
        return false;
    }
    fd = mig_channel_listen(&u, &listening, &m->in_child, errp);
    if (fd < 0) {
        mig_uri_clear(&u);
        return false;
    }
    m->incoming = true;
    m->incoming_started = true;
    if (listening) {
        m->listen_fd = fd;
        mig_channel_local_address(fd, &m->sock_host, &m->sock_port,
                                  &m->sock_path);
        if (u.kind == MIG_URI_UNIX) {
            m->unlink_path = g_strdup(u.path);
        }
        m->listen_src = g_unix_fd_add(fd, G_IO_IN, accept_cb, m);
    } else {
        start_receiving(m, fd);
    }
    mig_uri_clear(&u);
    /* QEMU announces the set-up at once, capability or not. */
    post_event(m, "MIGRATION", MIG_STATUS_SETUP, true);
    return true;
}

bool migration_incoming_start(Vm *vm, const char *uri, GError **errp)
{
    return incoming_start(vm, uri, errp);
}

bool qmp_migrate_incoming(void *ctx, JsonObject *args, JsonNode **ret,
                          GError **errp)
{
    Vm *vm = ctx;

    /* Outside inmigrate the command table refuses it. */
    return incoming_start(vm, json_object_get_string_member(args, "uri"),
                          errp);
}

void migration_set_autostart(Vm *vm)
{
    mig(vm)->autostart = true;
}

/* --- query-migrate -------------------------------------------------------------- */

static JsonObject *ram_stats(Migration *m)
{
    JsonObject *o = json_object_new();
    uint64_t normal = ld(&m->normal);
    uint64_t transferred = ld(&m->transferred);

    /* Between passes the figures are the last pass's; the bytes on the
     * wire are counted as they go. */
    g_mutex_lock(&m->lock);
    if (m->w_live) {
        uint64_t live = __atomic_load_n(&m->w_live->bytes, __ATOMIC_RELAXED);

        if (m->mfd) {
            live += multifd_send_bytes(m->mfd);
        }
        transferred = MAX(transferred, live);
    }
    g_mutex_unlock(&m->lock);
    json_object_set_int_member(o, "transferred", (gint64)transferred);
    json_object_set_int_member(o, "remaining", (gint64)ld(&m->remaining));
    json_object_set_int_member(o, "total",
                               (gint64)m->vm->cfg->ram_size);
    json_object_set_int_member(o, "duplicate", (gint64)ld(&m->duplicate));
    json_object_set_int_member(o, "skipped", 0);
    json_object_set_int_member(o, "normal", (gint64)normal);
    json_object_set_int_member(o, "normal-bytes",
                               (gint64)(normal * MIG_PAGE_SIZE));
    json_object_set_int_member(o, "dirty-pages-rate",
                               (gint64)ld(&m->dirty_rate));
    json_object_set_double_member(o, "mbps", m->mbps);
    json_object_set_int_member(o, "dirty-sync-count",
                               (gint64)ld(&m->sync_count));
    json_object_set_int_member(o, "postcopy-requests", 0);
    json_object_set_int_member(o, "page-size", MIG_PAGE_SIZE);
    json_object_set_int_member(o, "multifd-bytes",
                               (gint64)ld(&m->multifd_bytes));
    json_object_set_int_member(o, "pages-per-second",
                               (gint64)ld(&m->pages_per_second));
    json_object_set_int_member(o, "precopy-bytes",
                               (gint64)ld(&m->precopy_bytes));
    json_object_set_int_member(o, "downtime-bytes",
                               (gint64)ld(&m->downtime_bytes));
    json_object_set_int_member(o, "postcopy-bytes", 0);
    json_object_set_int_member(o, "dirty-sync-missed-zero-copy", 0);
    return o;
}

static void add_socket_address(Migration *m, JsonObject *o)
{
    JsonArray *a;
    JsonObject *s;

    if (m->listen_fd < 0 || (!m->sock_host && !m->sock_path)) {
        return;
    }
    a = json_array_new();
    s = json_object_new();
    if (m->sock_path) {
        json_object_set_string_member(s, "type", "unix");
        json_object_set_string_member(s, "path", m->sock_path);
    } else {
        json_object_set_string_member(s, "type", "inet");
        json_object_set_string_member(s, "host", m->sock_host);
        json_object_set_string_member(s, "port", m->sock_port);
        json_object_set_boolean_member(s, strchr(m->sock_host, ':') ?
                                       "ipv6" : "ipv4", TRUE);
    }
    json_array_add_object_element(a, s);
    json_object_set_array_member(o, "socket-address", a);
}

bool qmp_query_migrate(void *ctx, JsonObject *args, JsonNode **ret,
                       GError **errp)
{
    Migration *m = mig(ctx);
    MigrationStatus s = get_status(m);
    JsonObject *o = json_object_new();
    gint64 now = g_get_monotonic_time();

    *ret = json_node_new(JSON_NODE_OBJECT);
    if (m->incoming) {
        if (s != MIG_STATUS_NONE) {
            json_object_set_string_member(o, "status",
                                          migration_status_name(s));
        }
        add_socket_address(m, o);
        json_node_take_object(*ret, o);
        return true;
    }
    if (!m->ran) {
        json_node_take_object(*ret, o);
        return true;
    }
    json_object_set_string_member(o, "status", migration_status_name(s));
    switch (s) {
    case MIG_STATUS_ACTIVE:
    case MIG_STATUS_CANCELLING:
    case MIG_STATUS_PRE_SWITCHOVER:
    case MIG_STATUS_DEVICE:
        json_object_set_int_member(o, "total-time",
                                   (now - m->t_start) / 1000);
        json_object_set_int_member(o, "setup-time", m->setup_time);
        json_object_set_int_member(o, "expected-downtime",
                                   __atomic_load_n(&m->expected_downtime,
                                                   __ATOMIC_RELAXED));
        json_object_set_object_member(o, "ram", ram_stats(m));
        if (__atomic_load_n(&m->throttle, __ATOMIC_RELAXED)) {
            json_object_set_int_member(o, "cpu-throttle-percentage",
                                       __atomic_load_n(&m->throttle,
                                                       __ATOMIC_RELAXED));
        }
        break;
    case MIG_STATUS_COMPLETED:
        json_object_set_int_member(o, "total-time", m->total_time);
        json_object_set_int_member(o, "setup-time", m->setup_time);
        json_object_set_int_member(o, "downtime", m->downtime);
        json_object_set_object_member(o, "ram", ram_stats(m));
        break;
    case MIG_STATUS_FAILED:
        g_mutex_lock(&m->lock);
        json_object_set_string_member(o, "error-desc",
                                      m->error ? m->error : "");
        g_mutex_unlock(&m->lock);
        break;
    default:
        break;
    }
    json_node_take_object(*ret, o);
    return true;
}

/* --- capabilities and parameters --------------------------------------------------- */

bool qmp_migrate_set_capabilities(void *ctx, JsonObject *args,
                                  JsonNode **ret, GError **errp)
{
    Migration *m = mig(ctx);

    if (migration_in_progress(m) && !m->incoming) {
        return generic(errp, "There's a migration process in progress");
    }
    return migration_params_set_caps(&m->params,
                                     json_object_get_array_member(
                                         args, "capabilities"),
                                     errp);
}

bool qmp_query_migrate_capabilities(void *ctx, JsonObject *args,
                                    JsonNode **ret, GError **errp)
{
    *ret = migration_params_query_caps(&mig(ctx)->params);
    return true;
}

bool qmp_migrate_set_parameters(void *ctx, JsonObject *args, JsonNode **ret,
                                GError **errp)
{
    Migration *m = mig(ctx);

    if (!migration_params_set(&m->params, args, errp)) {
        return false;
    }
    /* The two a running migration reads at once. */
    __atomic_store_n(&m->max_bandwidth, m->params.max_bandwidth,
                     __ATOMIC_RELAXED);
    __atomic_store_n(&m->downtime_limit, m->params.downtime_limit,
                     __ATOMIC_RELAXED);
    return true;
}

bool qmp_query_migrate_parameters(void *ctx, JsonObject *args,
                                  JsonNode **ret, GError **errp)
{
    *ret = migration_params_query(&mig(ctx)->params);
    return true;
}
