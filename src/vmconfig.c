/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * VmConfig: defaults, ownership and look-ups. cmdline.c fills it.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "error.h"
#include "json-stream.h"
#include "vmconfig.h"

void vm_config_chardev_free(ChardevConfig *chr)
{
    if (!chr) {
        return;
    }
    g_free(chr->id);
    g_free(chr->path);
    g_free(chr->host);
    g_free(chr->port);
    g_free(chr);
}

void vm_config_monitor_free(MonitorConfig *mon)
{
    if (!mon) {
        return;
    }
    g_free(mon->id);
    g_free(mon->chardev);
    g_free(mon);
}

void vm_config_device_free(DeviceConfig *dev)
{
    if (!dev) {
        return;
    }
    g_free(dev->driver);
    g_free(dev->id);
    if (dev->props) {
        g_hash_table_unref(dev->props);
    }
    g_free(dev);
}

void vm_config_drive_free(DriveConfig *drv)
{
    if (!drv) {
        return;
    }
    g_free(drv->id);
    g_free(drv->file);
    g_free(drv->format);
    g_free(drv->werror);
    g_free(drv->rerror);
    g_free(drv);
}

void vm_config_netdev_free(NetdevConfig *nd)
{
    if (!nd) {
        return;
    }
    g_free(nd->id);
    g_free(nd->ifname);
    g_free(nd);
}

void vm_config_mem_backend_free(MemBackendConfig *mb)
{
    if (!mb) {
        return;
    }
    g_free(mb->id);
    g_free(mb->mem_path);
    g_free(mb);
}

MemBackendConfig *vm_config_mem_backend_copy(const MemBackendConfig *mb)
{
    MemBackendConfig *copy = g_memdup2(mb, sizeof(*mb));

    copy->id = g_strdup(mb->id);
    copy->mem_path = g_strdup(mb->mem_path);
    return copy;
}

const char *vm_config_mem_backend_type_name(MemBackendType type)
{
    switch (type) {
    case MEM_BACKEND_MEMFD:
        return "memory-backend-memfd";
    case MEM_BACKEND_FILE:
        return "memory-backend-file";
    default:
        return "memory-backend-ram";
    }
}

void vm_config_secret_free(SecretConfig *sec)
{
    if (!sec) {
        return;
    }
    g_free(sec->id);
    if (sec->data) {
        memset(sec->data, 0, strlen(sec->data));
    }
    g_free(sec->data);
    g_free(sec->file);
    g_free(sec);
}

/*
 * Read secret file @path on the main loop without letting it stall or
 * swell the process: open never waits (O_NONBLOCK: a FIFO without a
 * writer), only a regular file is read (not a FIFO, /dev/zero or a
 * terminal) and at most SECRET_FILE_MAX bytes of it.
 */
static char *secret_read_file(const char *path, gsize *len, GError **errp)
{
    g_autofree char *buf = NULL;
    struct stat st;
    gsize got = 0;
    int fd;

    if (json_string_has_nul(path)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Unable to read %s: the file name contains a NUL "
                    "character", path);
        return NULL;
    }
    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Unable to read %s: Failed to open file \u201c%s\u201d: "
                    "%s", path, path, g_strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Unable to read %s: not a regular file (a secret is "
                    "read only from a regular file)", path);
        return NULL;
    }
    buf = g_malloc(SECRET_FILE_MAX + 2);
    while (got <= SECRET_FILE_MAX) {
        ssize_t n = read(fd, buf + got, SECRET_FILE_MAX + 1 - got);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            int e = errno;

            close(fd);
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "Unable to read %s: %s", path, g_strerror(e));
            return NULL;
        }
        if (n == 0) {
            break;
        }
        got += n;
    }
    close(fd);
    if (got > SECRET_FILE_MAX) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Unable to read %s: a secret file may hold at most "
                    "%u KiB", path, SECRET_FILE_MAX / 1024);
        return NULL;
    }
    buf[got] = '\0';
    *len = got;
    return g_steal_pointer(&buf);
}

GBytes *vm_config_secret_load(const SecretConfig *sec, GError **errp)
{
    g_autofree char *text = NULL;
    gsize len;

    if (sec->file) {
        text = secret_read_file(sec->file, &len, errp);
        if (!text) {
            return NULL;
        }
    } else {
        text = g_strdup(sec->data);
        len = strlen(text);
    }
    if (sec->base64) {
        guchar *raw;

        /* g_base64_decode accepts anything; check the alphabet first */
        if (text[strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrs"
                        "tuvwxyz0123456789+/=\n")] != '\0') {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "secret '%s': invalid base64 data", sec->id);
            return NULL;
        }
        raw = g_base64_decode(text, &len);
        return g_bytes_new_take(raw, len);
    }
    return g_bytes_new_take(g_steal_pointer(&text), len);
}

VmConfig *vm_config_new(void)
{
    VmConfig *cfg = g_new0(VmConfig, 1);

    cfg->machine = g_strdup("kestrel");
    cfg->cpu_model = g_strdup("host");
    cfg->ram_size = 128 * 1024 * 1024;
    cfg->cpus = 1;
    cfg->max_cpus = 1;
    cfg->sockets = 1;
    cfg->dies = 1;
    cfg->cores = 1;
    cfg->threads = 1;
    cfg->chardevs =
        g_ptr_array_new_with_free_func((GDestroyNotify)vm_config_chardev_free);
    cfg->serials = g_ptr_array_new_with_free_func(g_free);
    cfg->secrets =
        g_ptr_array_new_with_free_func((GDestroyNotify)vm_config_secret_free);
    cfg->mem_backends = g_ptr_array_new_with_free_func(
        (GDestroyNotify)vm_config_mem_backend_free);
    cfg->mem_merge = true;
    cfg->monitors =
        g_ptr_array_new_with_free_func((GDestroyNotify)vm_config_monitor_free);
    cfg->devices =
        g_ptr_array_new_with_free_func((GDestroyNotify)vm_config_device_free);
    cfg->drives =
        g_ptr_array_new_with_free_func((GDestroyNotify)vm_config_drive_free);
    cfg->rngs = g_ptr_array_new_with_free_func(g_free);
    cfg->netdevs =
        g_ptr_array_new_with_free_func((GDestroyNotify)vm_config_netdev_free);
    cfg->blockdevs =
        g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
    return cfg;
}

void vm_config_free(VmConfig *cfg)
{
    if (!cfg) {
        return;
    }
    g_free(cfg->machine);
    g_free(cfg->cpu_model);
    g_free(cfg->kernel);
    g_free(cfg->initrd);
    g_free(cfg->append);
    g_free(cfg->name);
    g_free(cfg->process_name);
    g_ptr_array_unref(cfg->chardevs);
    g_ptr_array_unref(cfg->serials);
    g_ptr_array_unref(cfg->monitors);
    g_ptr_array_unref(cfg->devices);
    g_ptr_array_unref(cfg->drives);
    g_ptr_array_unref(cfg->netdevs);
    g_ptr_array_unref(cfg->rngs);
    g_ptr_array_unref(cfg->blockdevs);
    g_ptr_array_unref(cfg->secrets);
    g_ptr_array_unref(cfg->mem_backends);
    g_free(cfg->ram_memdev);
    g_free(cfg->mem_path);
    vm_config_mem_backend_free(cfg->ram_backend);
    g_free(cfg->pidfile);
    g_free(cfg->runas);
    g_free(cfg->runas_user);
    g_free(cfg->chroot_dir);
    g_free(cfg->logfile);
    g_free(cfg->incoming_uri);
    g_free(cfg->qtest);
    g_free(cfg);
}

ChardevConfig *vm_config_find_chardev(const VmConfig *cfg, const char *id)
{
    for (guint i = 0; i < cfg->chardevs->len; i++) {
        ChardevConfig *chr = g_ptr_array_index(cfg->chardevs, i);

        if (g_str_equal(chr->id, id)) {
            return chr;
        }
    }
    return NULL;
}
