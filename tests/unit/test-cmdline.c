/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmdline_parse: argv in, VmConfig (rendered as lines) or an error out.
 *
 * Each case is a shell-quoted command line. Successful cases list lines
 * that must appear in config_dump() of the result; error cases give the
 * exact message and error code.
 */
#include "config.h"

#include <glib.h>
#include <json-glib/json-glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cmdline.h"
#include "error.h"

#define K "-kernel vmlinux "            /* most cases need a kernel */
#define MAX_LINES 10

static void dump_chardev(GString *s, const ChardevConfig *c)
{
    static const char *const names[] = {
        [CHARDEV_NULL] = "null", [CHARDEV_STDIO] = "stdio",
        [CHARDEV_FILE] = "file", [CHARDEV_PTY] = "pty",
        [CHARDEV_SOCKET] = "socket",
    };

    g_string_append_printf(s, "chardev %s %s", c->id, names[c->backend]);
    switch (c->backend) {
    case CHARDEV_STDIO:
        g_string_append_printf(s, " signal=%d", c->signal);
        break;
    case CHARDEV_FILE:
        g_string_append_printf(s, " path=%s append=%d", c->path, c->append);
        break;
    case CHARDEV_SOCKET:
        if (c->fd >= 0) {
            g_string_append_printf(s, " fd=%d", c->fd);
        } else if (c->is_tcp) {
            g_string_append_printf(s, " tcp host=%s port=%s", c->host,
                                   c->port);
        } else {
            g_string_append_printf(s, " path=%s", c->path);
        }
        g_string_append_printf(s, " server=%d wait=%d", c->server, c->wait);
        break;
    default:
        break;
    }
    g_string_append_c(s, '\n');
}

static gint cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* One fact per line, so cases can name the lines they care about. */
static char *config_dump(const VmConfig *cfg)
{
    GString *s = g_string_new(NULL);

    g_string_append_printf(s, "machine=%s\nkvm=%d\ncpu=%s\nram=%" PRIu64 "\n",
                           cfg->machine, cfg->kvm_requested, cfg->cpu_model,
                           cfg->ram_size);
    g_string_append_printf(s, "smp=%u/%u sockets=%u dies=%u cores=%u "
                           "threads=%u\n", cfg->cpus, cfg->max_cpus,
                           cfg->sockets, cfg->dies, cfg->cores, cfg->threads);
    g_string_append_printf(s, "kernel=%s\ninitrd=%s\nappend=%s\n",
                           cfg->kernel ? cfg->kernel : "-",
                           cfg->initrd ? cfg->initrd : "-",
                           cfg->append ? cfg->append : "-");
    g_string_append_printf(s, "name=%s\nprocess=%s\ndebug-threads=%d\n",
                           cfg->name ? cfg->name : "-",
                           cfg->process_name ? cfg->process_name : "-",
                           cfg->debug_threads);
    if (cfg->has_uuid) {
        const uint8_t *u = cfg->uuid;

        g_string_append_printf(s, "uuid=%02x%02x%02x%02x-%02x%02x-%02x%02x-"
                               "%02x%02x-%02x%02x%02x%02x%02x%02x\n",
                               u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7],
                               u[8], u[9], u[10], u[11], u[12], u[13], u[14],
                               u[15]);
    } else {
        g_string_append(s, "uuid=-\n");
    }
    for (guint i = 0; i < cfg->chardevs->len; i++) {
        dump_chardev(s, g_ptr_array_index(cfg->chardevs, i));
    }
    g_string_append_printf(s, "chardevs=%u\n", cfg->chardevs->len);
    g_string_append(s, "serials=");
    for (guint i = 0; i < cfg->serials->len; i++) {
        g_string_append_printf(s, "%s%s", i ? "," : "",
                               (char *)g_ptr_array_index(cfg->serials, i));
    }
    g_string_append_c(s, '\n');
    for (guint i = 0; i < cfg->monitors->len; i++) {
        const MonitorConfig *m = g_ptr_array_index(cfg->monitors, i);

        g_string_append_printf(s, "mon %s chardev=%s %s pretty=%d\n",
                               m->id ? m->id : "-", m->chardev,
                               m->mode == MONITOR_MODE_CONTROL ? "control"
                                                               : "readline",
                               m->pretty);
    }
    g_string_append_printf(s, "monitors=%u\n", cfg->monitors->len);
    for (guint i = 0; i < cfg->devices->len; i++) {
        const DeviceConfig *d = g_ptr_array_index(cfg->devices, i);
        g_autoptr(GPtrArray) keys = g_ptr_array_new();
        GHashTableIter it;
        gpointer key;

        g_hash_table_iter_init(&it, d->props);
        while (g_hash_table_iter_next(&it, &key, NULL)) {
            g_ptr_array_add(keys, key);
        }
        g_ptr_array_sort(keys, cmp_str);
        g_string_append_printf(s, "device %s id=%s", d->driver,
                               d->id ? d->id : "-");
        for (guint k = 0; k < keys->len; k++) {
            const char *name = g_ptr_array_index(keys, k);

            g_string_append_printf(s, " %s=%s", name,
                                   (char *)g_hash_table_lookup(d->props,
                                                               name));
        }
        g_string_append_c(s, '\n');
    }
    g_string_append_printf(s, "devices=%u\n", cfg->devices->len);
    for (guint i = 0; i < cfg->drives->len; i++) {
        const DriveConfig *d = g_ptr_array_index(cfg->drives, i);

        g_string_append_printf(s, "drive %s file=%s format=%s virtio=%d "
                               "ro=%d direct=%d no-flush=%d unmap=%d "
                               "werror=%s rerror=%s\n", d->id, d->file,
                               d->format ? d->format : "-", d->virtio,
                               d->read_only, d->cache_direct,
                               d->cache_no_flush, d->discard_unmap,
                               d->werror ? d->werror : "-",
                               d->rerror ? d->rerror : "-");
    }
    g_string_append_printf(s, "drives=%u\n", cfg->drives->len);
    for (guint i = 0; i < cfg->blockdevs->len; i++) {
        g_autofree char *j = json_to_string(
            g_ptr_array_index(cfg->blockdevs, i), FALSE);

        g_string_append_printf(s, "blockdev %s\n", j);
    }
    g_string_append_printf(s, "paused=%d\nno-reboot=%d\nno-shutdown=%d\n"
                           "daemonize=%d\nnographic=%d\ndisplay-none=%d\n"
                           "nodefaults=%d\npidfile=%s\nlogfile=%s\n",
                           cfg->start_paused, cfg->no_reboot,
                           cfg->no_shutdown, cfg->daemonize, cfg->nographic,
                           cfg->display_none, cfg->nodefaults,
                           cfg->pidfile ? cfg->pidfile : "-",
                           cfg->logfile ? cfg->logfile : "-");
    for (guint i = 0; i < cfg->secrets->len; i++) {
        const SecretConfig *sec = g_ptr_array_index(cfg->secrets, i);

        g_string_append_printf(s, "secret %s %s %s=%s\n", sec->id,
                               sec->base64 ? "base64" : "raw",
                               sec->file ? "file" : "data",
                               sec->file ? sec->file : sec->data);
    }
    if (cfg->ram_backend) {
        const MemBackendConfig *mb = cfg->ram_backend;

        g_string_append_printf(s, "ram-backend %s id=%s size=%" PRIu64
                               " share=%d prealloc=%d threads=%u "
                               "hugetlb=%d hugetlbsize=%" PRIu64 " seal=%d "
                               "path=%s discard=%d merge=%d\n",
                               vm_config_mem_backend_type_name(mb->type),
                               mb->id ? mb->id : "-", mb->size, mb->share,
                               mb->prealloc, mb->prealloc_threads,
                               mb->hugetlb, mb->hugetlbsize, mb->seal,
                               mb->mem_path ? mb->mem_path : "-",
                               mb->discard_data, mb->merge);
    }
    g_string_append_printf(s, "mem-lock=%d\n", cfg->mem_lock);
    g_string_append_printf(s, "incoming-defer=%d\nmsg-timestamp=%d\n",
                           cfg->incoming_defer, cfg->msg_timestamp);
    if (cfg->incoming_uri) {
        g_string_append_printf(s, "incoming=%s\n", cfg->incoming_uri);
    }
    if (cfg->sandbox.enable) {
        g_string_append_printf(s, "sandbox obsolete=%d elevate=%d spawn=%d "
                               "resourcecontrol=%d\n", cfg->sandbox.obsolete,
                               cfg->sandbox.elevate, cfg->sandbox.spawn,
                               cfg->sandbox.resourcecontrol);
    }
    if (cfg->runas) {
        g_string_append_printf(s, "runas %s user=%s uid=%u gid=%u\n",
                               cfg->runas,
                               cfg->runas_user ? cfg->runas_user : "-",
                               cfg->runas_uid, cfg->runas_gid);
    }
    if (cfg->chroot_dir) {
        g_string_append_printf(s, "chroot %s\n", cfg->chroot_dir);
    }
    return g_string_free(s, FALSE);
}

/* Parse "kestrel " + @args. Returns the action; sets *dump, *out, *err. */
static int run(const char *args, char **dump, char **out, GError **err)
{
    g_autofree char *line = g_strdup_printf("kestrel %s", args);
    g_auto(GStrv) argv = NULL;
    g_autoptr(GError) shell_err = NULL;
    g_autoptr(VmConfig) cfg = vm_config_new();
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int argc;
    int action;

    g_assert_true(g_shell_parse_argv(line, &argc, &argv, &shell_err));
    action = cmdline_parse(argc, argv, cfg, f, err);
    fclose(f);
    *out = buf;
    *dump = action == CMDLINE_RUN ? config_dump(cfg) : NULL;
    return action;
}

static bool dump_has_line(const char *dump, const char *line)
{
    g_auto(GStrv) lines = g_strsplit(dump, "\n", -1);

    return g_strv_contains((const char *const *)lines, line);
}

typedef struct {
    const char *args;
    const char *lines[MAX_LINES];
} OkCase;

static const OkCase ok_cases[] = {
    /* defaults */
    { K, { "machine=kestrel", "kvm=0", "cpu=host", "ram=134217728",
           "smp=1/1 sockets=1 dies=1 cores=1 threads=1", "kernel=vmlinux",
           "chardev serial0 stdio signal=1", "serials=serial0",
           "monitors=0", "devices=0" } },
    /* -machine, -M, -accel, -enable-kvm */
    { K "-machine kestrel", { "machine=kestrel", "kvm=0" } },
    { K "-machine type=kestrel,accel=kvm", { "machine=kestrel", "kvm=1" } },
    { K "-M kestrel,accel=kvm:tcg", { "machine=kestrel", "kvm=1" } },
    { K "-machine accel=tcg:kvm", { "kvm=1" } },
    { K "--machine kestrel", { "machine=kestrel" } },
    { K "-machine accel=kvm -machine kestrel", { "kvm=1" } },
    { K "-accel kvm", { "kvm=1" } },
    { K "--accel accel=kvm", { "kvm=1" } },
    { K "-enable-kvm", { "kvm=1" } },
    { "-machine none,accel=kvm:tcg", { "machine=none", "kvm=1",
                                       "kernel=-" } },
    /* libvirt's capability probe */
    { "-S -no-user-config -nodefaults -nographic -machine none,accel=kvm:tcg "
      "-qmp unix:/run/q.mon,server=on,wait=off -pidfile /run/q.pid "
      "-daemonize",
      { "machine=none", "paused=1", "nodefaults=1", "daemonize=1",
        "nographic=1", "serials=",
        "chardev compat_monitor0 socket path=/run/q.mon server=1 wait=0",
        "mon compat_monitor0 chardev=compat_monitor0 control pretty=0",
        "pidfile=/run/q.pid", "chardevs=1" } },
    /* -cpu */
    { K "-cpu host", { "cpu=host" } },
    { K "-cpu max", { "cpu=max" } },
    { K "-cpu model=max", { "cpu=max" } },
    /* -m: plain numbers are MiB, suffixes are powers of 1024 */
    { K "-m 256", { "ram=268435456" } },
    { K "-m 1G", { "ram=1073741824" } },
    { K "-m 1g", { "ram=1073741824" } },
    { K "-m size=2G", { "ram=2147483648" } },
    { K "-m 1.5G", { "ram=1610612736" } },
    { K "-m 1024k", { "ram=1048576" } },
    { K "-m 0x100", { "ram=268435456" } },
    { K "-m 16384b", { "ram=16384" } },
    { K "-m 1b", { "ram=8192" } },              /* rounded up to 8 KiB */
    { K "-m 1G -m 512", { "ram=536870912" } },
    { K "-m ''", { "ram=134217728" } },
    /* -smp: QEMU's derivation prefers cores */
    { K "-smp 4", { "smp=4/4 sockets=1 dies=1 cores=4 threads=1" } },
    { K "-smp cpus=4", { "smp=4/4 sockets=1 dies=1 cores=4 threads=1" } },
    { K "-smp 4,maxcpus=4", { "smp=4/4 sockets=1 dies=1 cores=4 threads=1" } },
    { K "-smp 4,sockets=2", { "smp=4/4 sockets=2 dies=1 cores=2 threads=1" } },
    { K "-smp 4,cores=2", { "smp=4/4 sockets=2 dies=1 cores=2 threads=1" } },
    { K "-smp 8,cores=2,threads=2",
      { "smp=8/8 sockets=2 dies=1 cores=2 threads=2" } },
    { K "-smp 8,sockets=2,cores=2",
      { "smp=8/8 sockets=2 dies=1 cores=2 threads=2" } },
    { K "-smp 8,sockets=2,dies=2",
      { "smp=8/8 sockets=2 dies=2 cores=2 threads=1" } },
    { K "-smp 4,threads=2", { "smp=4/4 sockets=1 dies=1 cores=2 threads=2" } },
    { K "-smp sockets=2,cores=3,threads=2",
      { "smp=12/12 sockets=2 dies=1 cores=3 threads=2" } },
    { K "-smp maxcpus=6", { "smp=6/6 sockets=1 dies=1 cores=6 threads=1" } },
    { K "-smp 1,sockets=1,cores=1,threads=1",   /* as libvirt writes it */
      { "smp=1/1 sockets=1 dies=1 cores=1 threads=1" } },
    { K "-smp 2,clusters=1", { "smp=2/2 sockets=1 dies=1 cores=2 threads=1" } },
    { K "-smp 255", { "smp=255/255 sockets=1 dies=1 cores=255 threads=1" } },
    { K "-smp 2 -smp sockets=2", /* merged */
      { "smp=2/2 sockets=2 dies=1 cores=1 threads=1" } },
    { K "-smp cpus=2,cpus=3",
      { "smp=3/3 sockets=1 dies=1 cores=3 threads=1" } },
    /* boot */
    { "-kernel /b/vmlinuz -initrd /b/initrd.img -append 'console=ttyS0 a=b,c'",
      { "kernel=/b/vmlinuz", "initrd=/b/initrd.img",
        "append=console=ttyS0 a=b,c" } },
    { "-kernel 'a,,b' -append ''", { "kernel=a,,b", "append=" } },
    { "-kernel a -kernel b", { "kernel=b" } },
    /* identity */
    { K "-name vm1", { "name=vm1", "debug-threads=0", "process=-" } },
    { K "-name guest=vm1,debug-threads=on", { "name=vm1", "debug-threads=1" } },
    { K "-name guest=a,,b,process=kvm-a,debug-threads=off",
      { "name=a,b", "process=kvm-a", "debug-threads=0" } },
    { K "-uuid 6f2c6b8e-1f7a-4e39-9a5b-0c2f1f0d7a11",
      { "uuid=6f2c6b8e-1f7a-4e39-9a5b-0c2f1f0d7a11" } },
    { K "-uuid 6F2C6B8E-1F7A-4E39-9A5B-0C2F1F0D7A11",
      { "uuid=6f2c6b8e-1f7a-4e39-9a5b-0c2f1f0d7a11" } },
    /* -serial */
    { K "-serial stdio", { "chardev serial0 stdio signal=1", "serials=serial0",
                           "chardevs=1" } },
    { K "-serial none", { "serials=", "chardevs=0" } },
    { K "-serial null", { "chardev serial0 null", "serials=serial0" } },
    { K "-serial pty", { "chardev serial0 pty", "serials=serial0" } },
    { K "-serial file:/tmp/a,b.log",
      { "chardev serial0 file path=/tmp/a,b.log append=0" } },
    { K "-serial unix:/tmp/s.sock,server=on,wait=off",
      { "chardev serial0 socket path=/tmp/s.sock server=1 wait=0" } },
    { K "-serial unix:/tmp/s.sock,server,nowait",
      { "chardev serial0 socket path=/tmp/s.sock server=1 wait=0" } },
    { K "-serial unix:/tmp/s.sock,server",
      { "chardev serial0 socket path=/tmp/s.sock server=1 wait=1" } },
    { K "-serial unix:/tmp/s,,x.sock",
      { "chardev serial0 socket path=/tmp/s,x.sock server=0 wait=0" } },
    { K "-serial tcp:127.0.0.1:4444,server=on,wait=off",
      { "chardev serial0 socket tcp host=127.0.0.1 port=4444 server=1 "
        "wait=0" } },
    { K "-serial tcp::4444,server,nowait",
      { "chardev serial0 socket tcp host= port=4444 server=1 wait=0" } },
    { K "-serial tcp:[::1]:4444",
      { "chardev serial0 socket tcp host=::1 port=4444 server=0 wait=0" } },
    { K "-serial null -serial pty -serial chardev:c -serial stdio "
        "-chardev file,id=c,path=/l",
      { "serials=serial0,serial1,c,serial3", "chardev serial3 stdio signal=1",
        "chardevs=4" } },
    { K "-serial none -serial pty", { "serials=serial0" } },
    /* -nodefaults, -daemonize, -nographic and the default serial port */
    { K "-nodefaults", { "serials=", "chardevs=0", "nodefaults=1" } },
    { K "-nographic", { "serials=serial0", "chardev serial0 stdio signal=1",
                        "nographic=1" } },
    { K "-nographic -nodefaults", { "serials=", "chardevs=0" } },
    { K "-daemonize", { "serials=", "chardevs=0", "daemonize=1" } },
    { K "-nographic -daemonize -nodefaults", { "serials=" } },
    { K "-nographic -daemonize -serial pty", { "serials=serial0" } },
    { K "-display none", { "display-none=1", "serials=serial0" } },
    { K "-device isa-serial,chardev=c -chardev pty,id=c",
      { "serials=c", "chardevs=1", "devices=0" } },
    { K "-chardev null,id=a -chardev null,id=b -device isa-serial,chardev=a,"
        "index=1 -device isa-serial,chardev=b",
      { "serials=b,a" } },
    /* -qmp on stdio keeps the default serial port off stdio */
    { K "-display none -qmp stdio",
      { "serials=", "chardev compat_monitor0 stdio signal=1",
        "mon compat_monitor0 chardev=compat_monitor0 control pretty=0" } },
    /* -chardev */
    { K "-chardev null,id=n", { "chardev n null" } },
    { K "-chardev stdio,id=s,signal=off -serial chardev:s",
      { "chardev s stdio signal=0", "serials=s", "chardevs=1" } },
    { K "-chardev pty,id=p", { "chardev p pty" } },
    { K "-chardev file,id=f,path=/var/log/c,,1.log,append=on",
      { "chardev f file path=/var/log/c,1.log append=1" } },
    { K "-chardev file,id=f,path=/x,append",
      { "chardev f file path=/x append=1" } },
    { K "-chardev socket,id=charmonitor,fd=31,server=on,wait=off",
      { "chardev charmonitor socket fd=31 server=1 wait=0" } },
    { K "-chardev socket,id=s,path=/r/s.sock,server=on",
      { "chardev s socket path=/r/s.sock server=1 wait=1" } },
    { K "-chardev socket,id=s,path=/r/s.sock",
      { "chardev s socket path=/r/s.sock server=0 wait=0" } },
    { K "-chardev socket,id=s,host=127.0.0.1,port=4444,server=on,wait=off",
      { "chardev s socket tcp host=127.0.0.1 port=4444 server=1 wait=0" } },
    { K "-chardev socket,id=s,path=/x,server=yes,wait=false",
      { "chardev s socket path=/x server=1 wait=0" } },
    { K "-chardev backend=null,id=a.b_c-d", { "chardev a.b_c-d null" } },
    /* monitors */
    { K "-chardev socket,id=charmonitor,fd=31,server=on,wait=off "
        "-mon chardev=charmonitor,id=monitor,mode=control",
      { "mon monitor chardev=charmonitor control pretty=0", "monitors=1" } },
    { K "-mon chardev=m,mode=control,pretty=on -chardev null,id=m",
      { "mon - chardev=m control pretty=1" } },
    { K "-mon m -chardev null,id=m", { "mon - chardev=m readline pretty=0" } },
    { K "-qmp unix:/run/q.sock,server=on,wait=off",
      { "chardev compat_monitor0 socket path=/run/q.sock server=1 wait=0",
        "mon compat_monitor0 chardev=compat_monitor0 control pretty=0" } },
    { K "-qmp tcp:localhost:4444,server=on,wait=off",
      { "chardev compat_monitor0 socket tcp host=localhost port=4444 "
        "server=1 wait=0" } },
    { K "-qmp-pretty unix:/q,server,nowait -qmp tcp::5555,server=on,wait=off",
      { "mon compat_monitor0 chardev=compat_monitor0 control pretty=1",
        "mon compat_monitor1 chardev=compat_monitor1 control pretty=0" } },
    { K "-nodefaults -qmp stdio",
      { "chardev compat_monitor0 stdio signal=1", "serials=" } },
    { K "-qmp chardev:q -chardev socket,id=q,path=/q,server=on,wait=off",
      { "mon q chardev=q control pretty=0", "chardevs=2" } },
    { K "-monitor none", { "monitors=0" } },
    { K "-nodefaults -monitor pty",
      { "mon compat_monitor0 chardev=compat_monitor0 readline pretty=0" } },
    /* -drive: if=virtio brings its own virtio-blk-pci, after -device */
    { K "-drive file=a.img,if=virtio,format=raw -device virtio-balloon-pci",
      { "device virtio-blk-pci id=- drive=virtio0", "drives=1" } },
    { K "-drive file=a.img,if=virtio -drive file=b.img,if=virtio",
      { "drive virtio0 file=a.img format=- virtio=1 ro=0 direct=0 "
        "no-flush=0 unmap=0 werror=- rerror=-",
        "drive virtio1 file=b.img format=- virtio=1 ro=0 direct=0 "
        "no-flush=0 unmap=0 werror=- rerror=-",
        "device virtio-blk-pci id=- drive=virtio1" } },
    { K "-drive file=a.qcow2,if=none,id=d0,format=qcow2,cache=none,"
        "readonly=on,discard=unmap,werror=stop,rerror=report,aio=native",
      { "drive d0 file=a.qcow2 format=qcow2 virtio=0 ro=1 direct=1 "
        "no-flush=0 unmap=1 werror=stop rerror=report", "devices=0" } },
    { K "-drive file=a.img,if=none,id=d0,cache=unsafe",
      { "drive d0 file=a.img format=- virtio=0 ro=0 direct=0 no-flush=1 "
        "unmap=0 werror=- rerror=-" } },
    /* -blockdev: JSON kept, key=value nested by its dots */
    { K "-blockdev driver=file,node-name=f0,filename=/x.img,cache.direct=on",
      { "blockdev {\"cache\":{\"direct\":\"on\"},\"driver\":\"file\","
        "\"filename\":\"/x.img\",\"node-name\":\"f0\"}" } },
    { K "-blockdev '{\"driver\":\"qcow2\",\"node-name\":\"q\","
        "\"file\":\"f0\",\"backing\":null}'",
      { "blockdev {\"driver\":\"qcow2\",\"node-name\":\"q\","
        "\"file\":\"f0\",\"backing\":null}" } },
    { K "-blockdev driver=qcow2,node-name=q,file=f0,backing=",
      { "blockdev {\"backing\":null,\"driver\":\"qcow2\","
        "\"file\":\"f0\",\"node-name\":\"q\"}" } },
    /* -device, keyval and JSON */
    { K "-device virtio-balloon-pci", { "device virtio-balloon-pci id=-" } },
    { K "-device virtio-balloon-pci,id=balloon0,bus=pci.0,addr=0x2",
      { "device virtio-balloon-pci id=balloon0 addr=0x2 bus=pci.0" } },
    { K "-device driver=virtio-balloon-pci,deflate-on-oom,"
        "nofree-page-reporting",
      { "device virtio-balloon-pci id=- deflate-on-oom=on "
        "free-page-reporting=off" } },
    { K "-device '{\"driver\":\"virtio-balloon-pci\",\"id\":\"b0\"}'",
      { "device virtio-balloon-pci id=b0" } },
    { K "-device '{\"driver\":\"virtio-balloon-pci\",\"id\":\"balloon0\","
        "\"bus\":\"pci.0\",\"addr\":\"0x2\",\"deflate-on-oom\":true}'",
      { "device virtio-balloon-pci id=balloon0 addr=0x2 bus=pci.0 "
        "deflate-on-oom=on" } },
    { K "-nodefaults -chardev pty,id=charserial0 -device '{\"driver\":"
        "\"isa-serial\",\"chardev\":\"charserial0\",\"id\":\"serial0\","
        "\"index\":0}'",
      { "serials=charserial0", "devices=0" } },
    { K "-device a,id=x -device b,id=y", { "devices=2" } },
    /* flags and files */
    { K "-S -no-reboot -no-shutdown -no-user-config -vga none",
      { "paused=1", "no-reboot=1", "no-shutdown=1" } },
    { K "-pidfile /run/k.pid -D /tmp/k.log",
      { "pidfile=/run/k.pid", "logfile=/tmp/k.log" } },
    { K "--nodefaults --S", { "nodefaults=1", "paused=1" } },
    /* what libvirt 9.0 emits, for the options kestrel implements */
    { "-name guest=qdtest,debug-threads=on -S -machine kestrel,accel=kvm "
      "-accel kvm -cpu host -m 256 -smp 1,sockets=1,cores=1,threads=1 "
      "-uuid 22725b59-0d5b-4d1c-9d4e-6ad6a6a0e3c1 -display none "
      "-no-user-config -nodefaults "
      "-chardev socket,id=charmonitor,fd=31,server=on,wait=off "
      "-mon chardev=charmonitor,id=monitor,mode=control -no-shutdown "
      "-kernel vmlinuz -append console=ttyS0 -chardev pty,id=charserial0 "
      "-device '{\"driver\":\"virtio-balloon-pci\",\"id\":\"balloon0\"}'",
      { "name=qdtest", "debug-threads=1", "paused=1", "ram=268435456",
        "uuid=22725b59-0d5b-4d1c-9d4e-6ad6a6a0e3c1", "chardevs=2",
        "monitors=1", "devices=1", "serials=", "no-shutdown=1" } },
    /* ... and the whole of what it emits for kestrel's probe answers
     * (tests/functional/test_libvirt_qemu.py runs it for real) */
    { "-name guest=lq,debug-threads=on -S "
      "-object '{\"qom-type\":\"secret\",\"id\":\"masterKey0\","
      "\"format\":\"raw\",\"file\":\"/var/lib/libvirt/qemu/domain-1-lq/"
      "master-key.aes\"}' "
      "-machine pc,usb=off,dump-guest-core=off -accel kvm -cpu host -m 256 "
      "-overcommit mem-lock=off -smp 1,sockets=1,cores=1,threads=1 "
      "-uuid 1a88a0ab-f3d1-40cd-b80b-bc8aac2f53c4 -display none "
      "-no-user-config -nodefaults "
      "-chardev socket,id=charmonitor,fd=31,server=on,wait=off "
      "-mon chardev=charmonitor,id=monitor,mode=control -rtc base=utc "
      "-no-shutdown -boot strict=on -kernel testguest.elf "
      "-append tg.mode=balloon -chardev pty,id=charserial0 "
      "-device '{\"driver\":\"isa-serial\",\"chardev\":\"charserial0\","
      "\"id\":\"serial0\",\"index\":0}' "
      "-audiodev '{\"id\":\"audio1\",\"driver\":\"none\"}' "
      "-device '{\"driver\":\"virtio-balloon-pci\",\"id\":\"balloon0\","
      "\"bus\":\"pci.0\",\"addr\":\"0x2\"}' -msg timestamp=on",
      { "machine=pc", "cpu=host", "serials=charserial0", "devices=1",
        "secret masterKey0 raw file=/var/lib/libvirt/qemu/domain-1-lq/"
        "master-key.aes", "msg-timestamp=1", "incoming-defer=0" } },
    /* guest RAM: the default, and each backend as QEMU spells it */
    { K "-m 256", { "ram-backend memory-backend-ram id=- size=268435456 "
                    "share=0 prealloc=0 threads=1 hugetlb=0 hugetlbsize=0 "
                    "seal=0 path=- discard=0 merge=1", "mem-lock=0" } },
    { K "-object memory-backend-ram,id=pc.ram,size=1G,prealloc=on,"
        "prealloc-threads=4,merge=off -machine pc,memory-backend=pc.ram",
      { "ram=1073741824", "ram-backend memory-backend-ram id=pc.ram "
        "size=1073741824 share=0 prealloc=1 threads=4 hugetlb=0 "
        "hugetlbsize=0 seal=0 path=- discard=0 merge=0" } },
    { K "-m 1G -object memory-backend-memfd,id=r,size=1G,hugetlb=on,"
        "hugetlbsize=2M -machine memory-backend=r -overcommit mem-lock=on",
      { "ram-backend memory-backend-memfd id=r size=1073741824 share=1 "
        "prealloc=0 threads=1 hugetlb=1 hugetlbsize=2097152 seal=1 path=- "
        "discard=0 merge=1", "mem-lock=1" } },
    { K "-object memory-backend-file,id=r,size=512M,mem-path=/dev/hugepages,"
        "share=on,discard-data=on -machine memory-backend=r,mem-merge=off",
      { "ram=536870912", "ram-backend memory-backend-file id=r "
        "size=536870912 share=1 prealloc=0 threads=1 hugetlb=0 "
        "hugetlbsize=0 seal=0 path=/dev/hugepages discard=1 merge=0" } },
    { K "-m 64 -mem-path /dev/hugepages -mem-prealloc",
      { "ram-backend memory-backend-file id=- size=67108864 share=0 "
        "prealloc=1 threads=1 hugetlb=0 hugetlbsize=0 seal=0 "
        "path=/dev/hugepages discard=0 merge=1" } },
    /* libvirt 9's JSON, for a machine that reports default-ram-id */
    { K "-machine pc,usb=off,dump-guest-core=off,memory-backend=pc.ram "
        "-m 256 -object '{\"qom-type\":\"memory-backend-file\","
        "\"id\":\"pc.ram\",\"mem-path\":\"/dev/hugepages/libvirt/qemu/"
        "1-lq\",\"share\":true,\"prealloc\":true,\"prealloc-threads\":2,"
        "\"size\":268435456}' -overcommit mem-lock=off",
      { "ram-backend memory-backend-file id=pc.ram size=268435456 share=1 "
        "prealloc=1 threads=2 hugetlb=0 hugetlbsize=0 seal=0 "
        "path=/dev/hugepages/libvirt/qemu/1-lq discard=0 merge=1",
        "mem-lock=0" } },
    /* the other spellings of the same, and -incoming defer */
    { K "-object secret,id=sec0,format=base64,data=aGk= -incoming defer "
        "-global kvm-pit.lost_tick_policy=delay -no-hpet -sandbox off "
        "-global PIIX4_PM.disable_s3=1 -global PIIX4_PM.disable_s4=1 "
        "-machine hpet=off,vmport=off,acpi=on -rtc base=utc,clock=host,"
        "driftfix=none -overcommit mem-lock=off,cpu-pm=off "
        "-audiodev none,id=a -boot strict=off -msg timestamp=off",
      { "secret sec0 base64 data=aGk=", "incoming-defer=1",
        "msg-timestamp=0" } },
    /* -incoming with a URI: QEMU's forms */
    { K "-incoming tcp:0:4444", { "incoming-defer=0",
                                  "incoming=tcp:0:4444" } },
    { K "-incoming unix:/run/m.sock", { "incoming=unix:/run/m.sock" } },
    { K "-incoming file:/var/lib/vm.save,offset=4096",
      { "incoming=file:/var/lib/vm.save,offset=4096" } },
    /* confinement: libvirt's -sandbox, QEMU's defaults, -runas, -chroot */
    { K "-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,"
        "resourcecontrol=deny",
      { "sandbox obsolete=1 elevate=1 spawn=1 resourcecontrol=1" } },
    { K "-sandbox on", { "sandbox obsolete=1 elevate=0 spawn=0 "
                         "resourcecontrol=0" } },
    { K "-sandbox enable=on,obsolete=allow,elevateprivileges=children",
      { "sandbox obsolete=0 elevate=2 spawn=0 resourcecontrol=0" } },
    { K "-runas nobody -chroot /", { "runas nobody user=nobody uid=65534 "
                                     "gid=65534", "chroot /" } },
    { K "-runas 1234:5678", { "runas 1234:5678 user=- uid=1234 gid=5678" } },
    { K "-run-with user=nobody,chroot=/tmp",
      { "runas nobody user=nobody uid=65534 gid=65534", "chroot /tmp" } },
};

static void test_ok(gconstpointer data)
{
    const OkCase *c = data;
    g_autoptr(GError) err = NULL;
    g_autofree char *dump = NULL;
    g_autofree char *out = NULL;
    int action = run(c->args, &dump, &out, &err);

    if (err) {
        g_printerr("case '%s': %s\n", c->args, err->message);
    }
    g_assert_no_error(err);
    g_assert_cmpint(action, ==, CMDLINE_RUN);
    g_assert_cmpstr(out, ==, "");
    for (guint l = 0; l < MAX_LINES && c->lines[l]; l++) {
        if (!dump_has_line(dump, c->lines[l])) {
            g_printerr("case '%s': no line '%s' in:\n%s", c->args,
                       c->lines[l], dump);
            g_assert_not_reached();
        }
    }
}

typedef struct {
    const char *args;
    int code;
    const char *message;
} ErrCase;

#define INV KESTREL_ERROR_INVALID
#define UNS KESTREL_ERROR_UNSUPPORTED
#define SIZE_BAD "Parameter 'size' expects a non-negative number below " \
    "2^64, optionally suffixed with k, M, G, T, P or E"

static const ErrCase err_cases[] = {
    /* argv shape */
    { "-foo", INV, "-foo: invalid option" },
    { "--foo", INV, "--foo: invalid option" },
    { "-", INV, "-: invalid option" },
    { "--", INV, "--: invalid option" },
    { "--m=1G", INV, "--m=1G: invalid option" },
    { "---m 1G", INV, "---m: invalid option" },
    { "-M", INV, "-M: requires an argument" },
    { K "-m", INV, "-m: requires an argument" },
    { K "--kernel", INV, "--kernel: requires an argument" },
    { "disk.img", UNS,
      "argument 'disk.img' is not an option: kestrel takes no disk image" },
    /* QEMU options kestrel refuses */
    { K "-drive file=x.img", UNS,
      "-drive file=x.img: drive 'x.img': kestrel has no IDE controller, "
      "give if=virtio (a virtio-blk-pci disk) or if=none (with -device "
      "virtio-blk-pci,drive=ID)" },
    { K "-drive file=x.img,if=scsi", UNS,
      "-drive file=x.img,if=scsi: drive interface 'scsi' is not supported "
      "by kestrel: use if=virtio or if=none" },
    { K "-drive file=x.img,if=virtio,format=vmdk", UNS,
      "-drive file=x.img,if=virtio,format=vmdk: 'vmdk' is not a supported "
      "image format: kestrel reads raw and qcow2" },
    { K "-drive file=x.img,if=none", INV,
      "-drive file=x.img,if=none: drive 'x.img' with if=none needs an id=, "
      "for -device virtio-blk-pci,drive=ID" },
    { K "-drive file=x.img,if=virtio,cache=fast", INV,
      "-drive file=x.img,if=virtio,cache=fast: invalid cache option 'fast': "
      "use none, writeback, writethrough, directsync or unsafe" },
    { K "-drive file=x.img,if=virtio,werror=panic", INV,
      "-drive file=x.img,if=virtio,werror=panic: 'panic' invalid write "
      "error action" },
    { K "-drive file=x.img,if=virtio,rerror=enospc", INV,
      "-drive file=x.img,if=virtio,rerror=enospc: 'enospc' invalid read "
      "error action" },
    { K "-drive file=x.img,if=virtio,snapshot=on", UNS,
      "-drive file=x.img,if=virtio,snapshot=on: Parameter 'snapshot' does "
      "not take value 'on' in kestrel: kestrel has no temporary snapshots" },
    { K "-drive file=x.img,if=virtio,bogus=1", INV,
      "-drive file=x.img,if=virtio,bogus=1: Invalid parameter 'bogus'" },
    { K "-drive file=a,if=none,id=d -drive file=b,if=none,id=d", INV,
      "-drive file=b,if=none,id=d: Duplicate ID 'd' for drive" },
    { K "-blockdev node-name=x", INV,
      "-blockdev node-name=x: Parameter 'driver' is missing" },
    { K "-blockdev '{\"driver\":'", INV, "-blockdev {\"driver\":: "
      "-blockdev: invalid JSON: <data>:1:10: Parse error: unexpected end of "
      "file, expected character `}'" },
    { K "-hda x.img", UNS, "-hda: option is not supported by kestrel" },
    { K "-netdev user,id=n", UNS,
      "-netdev user,id=n: network backend 'user' is not supported by "
      "kestrel: it has tap (-netdev tap,id=ID,ifname=NAME,script=no or "
      "fd=N)" },
    { K "-netdev tap,id=n,fd=3,ifname=t", INV,
      "-netdev tap,id=n,fd=3,ifname=t: ifname= and fd= are mutually "
      "exclusive" },
    { K "-netdev tap,id=n,fds=3:4", UNS,
      "-netdev tap,id=n,fds=3:4: fds=3:4: kestrel's virtio-net has one "
      "queue pair, give one descriptor" },
    { K "-netdev tap,id=n,queues=4", UNS,
      "-netdev tap,id=n,queues=4: queues=4: kestrel's virtio-net has one "
      "queue pair" },
    { K "-netdev tap,id=n -netdev tap,id=n", INV,
      "-netdev tap,id=n: Duplicate ID 'n' for netdev" },
    { K "-netdev tap,ifname=t", INV,
      "-netdev tap,ifname=t: Parameter 'id' is missing" },
    { K "-bios x", UNS, "-bios: option is not supported by kestrel" },
    { K "-vnc :0", UNS, "-vnc: option is not supported by kestrel" },
    { K "-spice port=5900", UNS, "-spice: option is not supported by kestrel" },
    { K "-usb", UNS, "-usb: option is not supported by kestrel" },
    { K "--fsdev x", UNS, "--fsdev: option is not supported by kestrel" },
    { K "-object secret,id=s", INV,
      "-object secret,id=s: secret 's' needs exactly one of 'data' and "
      "'file'" },
    /* memory backends */
    { K "-object memory-backend-epc,id=m,size=1G", UNS,
      "-object memory-backend-epc,id=m,size=1G: object type "
      "'memory-backend-epc' is not supported by kestrel: memory backends are "
      "'memory-backend-ram', 'memory-backend-memfd' and "
      "'memory-backend-file'" },
    { K "-object iothread,id=io0", UNS, "-object iothread,id=io0: object "
      "type 'iothread' is not supported by kestrel: -object takes 'secret', "
      "'memory-backend-ram', 'memory-backend-memfd', 'memory-backend-file', "
      "'rng-random' and 'rng-builtin'" },
    { K "-object memory-backend-ram,id=m -machine memory-backend=m", INV,
      "-object memory-backend-ram,id=m: memory backend 'm': Parameter 'size' "
      "is missing" },
    { K "-object memory-backend-ram,id=m,size=0", INV,
      "-object memory-backend-ram,id=m,size=0: memory backend 'm': can't "
      "create backend with size 0" },
    { K "-object memory-backend-ram,id=m,size=1Q", INV, "-object "
      "memory-backend-ram,id=m,size=1Q: Parameter 'size' expects a "
      "non-negative number below 2^64, optionally suffixed with k, M, G, T, "
      "P or E" },
    { K "-object memory-backend-file,id=m,size=1G", INV,
      "-object memory-backend-file,id=m,size=1G: memory backend 'm': "
      "mem-path property not set" },
    { K "-object memory-backend-memfd,id=m,size=1G,hugetlbsize=2M", INV,
      "-object memory-backend-memfd,id=m,size=1G,hugetlbsize=2M: memory "
      "backend 'm': hugetlbsize needs hugetlb=on" },
    { K "-object memory-backend-memfd,id=m,size=1G,hugetlb=on,hugetlbsize=3M",
      INV, "-object memory-backend-memfd,id=m,size=1G,hugetlb=on,"
      "hugetlbsize=3M: memory backend 'm': hugetlbsize 3145728 is not a huge "
      "page size (2M, 1G)" },
    { K "-object memory-backend-ram,id=m,size=1G,prealloc-threads=0", INV,
      "-object memory-backend-ram,id=m,size=1G,prealloc-threads=0: memory "
      "backend 'm': Parameter 'prealloc-threads' must be at least 1" },
    { K "-object memory-backend-ram,id=m,size=1G,host-nodes=0,policy=bind",
      UNS, "-object memory-backend-ram,id=m,size=1G,host-nodes=0,policy=bind: "
      "Parameter 'host-nodes' is not supported by kestrel: guest RAM is not "
      "bound to host NUMA nodes" },
    { K "-object memory-backend-ram,id=m,size=1G,hugetlb=on", INV,
      "-object memory-backend-ram,id=m,size=1G,hugetlb=on: Invalid "
      "parameter 'hugetlb'" },
    { K "-object memory-backend-file,id=m,size=1G,mem-path=/d,readonly=on",
      UNS, "-object memory-backend-file,id=m,size=1G,mem-path=/d,readonly=on: "
      "Parameter 'readonly' only takes 'off' in kestrel: guest RAM is "
      "writable" },
    { K "-object memory-backend-ram,id=m,size=1G,share=maybe", INV,
      "-object memory-backend-ram,id=m,size=1G,share=maybe: Parameter "
      "'share' expects 'on' or 'off'" },
    { K "-object secret,id=m,data=x -object memory-backend-ram,id=m,size=1G",
      INV, "-object memory-backend-ram,id=m,size=1G: attempt to add "
      "duplicate property 'm' to object (type 'container')" },
    { K "-object memory-backend-ram,id=m,size=1G", UNS,
      "memory backend 'm' is not used: kestrel takes a memory backend only "
      "as the machine's RAM (-machine memory-backend=m)" },
    { K "-machine memory-backend=pc.ram", INV,
      "Memory backend 'pc.ram' not found" },
    { K "-m 512 -object memory-backend-ram,id=r,size=1G "
      "-machine memory-backend=r", INV, "Size specified by -m option must "
      "match size of explicitly specified 'memory-backend' property" },
    { K "-mem-path /dev/hugepages -object memory-backend-ram,id=r,size=1G "
      "-machine memory-backend=r", INV, "'-mem-path' can't be used together "
      "with '-machine memory-backend'" },
    { K "-overcommit mem-lock=sometimes", INV, "-overcommit "
      "mem-lock=sometimes: Parameter 'mem-lock' expects 'on' or 'off'" },
    { K "-object secret,id=s,data=x,keyid=k", UNS,
      "-object secret,id=s,data=x,keyid=k: secret 's': encrypted secrets "
      "(keyid, iv) are not supported by kestrel" },
    { K "-object secret,id=s,data=x -object secret,id=s,data=y", INV,
      "-object secret,id=s,data=y: attempt to add duplicate property 's' to "
      "object (type 'container')" },
    { K "-incoming foo:bar", INV,
      "-incoming foo:bar: unknown migration protocol: foo:bar" },
    { K "-incoming tcp:nohost", INV,
      "-incoming tcp:nohost: error parsing address 'nohost'" },
    /* what libvirt may emit, refused with the reason */
    { K "-no-acpi", UNS, "-no-acpi: kestrel's machine always has ACPI (in "
      "libvirt: add <features><acpi/></features>)" },
    { K "-rtc base=utc,driftfix=slew", UNS,
      "-rtc base=utc,driftfix=slew: Parameter 'driftfix' does not take value "
      "'slew' in kestrel: the RTC does not make up for lost ticks (in "
      "libvirt: drop <timer name='rtc' tickpolicy='catchup'/>)" },
    { K "-rtc base=localtime", UNS,
      "-rtc base=localtime: Parameter 'base' does not take value 'localtime' "
      "in kestrel: the RTC starts at the host's time in UTC" },
    { K "-boot order=c", UNS, "-boot order=c: Parameter 'order' is not "
      "supported by kestrel: it has no firmware and boots the -kernel "
      "directly" },
    { K "-sandbox on,obsolete=maybe", INV, "-sandbox on,obsolete=maybe: "
      "invalid argument for obsolete" },
    { K "-sandbox on,elevateprivileges=root", INV,
      "-sandbox on,elevateprivileges=root: invalid argument for "
      "elevateprivileges" },
    { K "-sandbox on,spawn=1", INV, "-sandbox on,spawn=1: invalid argument "
      "for spawn" },
    { K "-sandbox on,resourcecontrol=", INV, "-sandbox on,resourcecontrol=: "
      "invalid argument for resourcecontrol" },
    { K "-sandbox on,foo=1", INV, "-sandbox on,foo=1: Invalid parameter "
      "'foo'" },
    { K "-sandbox maybe", INV, "-sandbox maybe: Parameter 'enable' expects "
      "'on' or 'off'" },
    { K "-runas no-such-user", INV, "-runas no-such-user: User "
      "\"no-such-user\" doesn't exist" },
    { K "-runas 12:x", INV, "-runas 12:x: User \"12:x\" doesn't exist" },
    { K "-chroot /no/such/dir", INV, "-chroot /no/such/dir: cannot chroot to "
      "'/no/such/dir': No such file or directory" },
    { K "-chroot /etc/passwd", INV, "-chroot /etc/passwd: cannot chroot to "
      "'/etc/passwd': not a directory" },
    { K "-run-with async-teardown=on", UNS, "-run-with async-teardown=on: "
      "Parameter 'async-teardown' only takes 'off' in kestrel: kestrel tears "
      "the guest down itself" },
    { K "-audiodev pa,id=a", UNS, "-audiodev pa,id=a: Parameter 'driver' "
      "does not take value 'pa' in kestrel: kestrel has no sound device" },
    { K "-global PIIX4_PM.disable_s3=0", UNS, "-global PIIX4_PM.disable_s3=0: "
      "global property 'PIIX4_PM.disable_s3' only takes '1' in kestrel" },
    { K "-global PIIX4_PM.noreboot=1", UNS, "-global PIIX4_PM.noreboot=1: "
      "global property 'PIIX4_PM.noreboot' is not supported by kestrel" },
    { K "-global kvm-pit.lost_tick_policy=discard", UNS,
      "-global kvm-pit.lost_tick_policy=discard: global property "
      "'kvm-pit.lost_tick_policy' only takes 'delay' in kestrel" },
    { K "-global x", INV,
      "-global x: 'x' is not of the form DRIVER.PROPERTY=VALUE" },
    { K "-msg guest-name=on", UNS,
      "-msg guest-name=on: Parameter 'guest-name' is not supported by "
      "kestrel" },
    { K "-device isa-serial,chardev=c,index=4 -chardev null,id=c", INV,
      "-device isa-serial,chardev=c,index=4: Value '4' is out of range for "
      "parameter 'index'" },
    { K "-device isa-serial,index=0", INV,
      "-device isa-serial,index=0: Property 'isa-serial.chardev' is missing: "
      "kestrel's serial ports need a chardev" },
    { K "-device isa-serial,chardev=c,iobase=0x3f8 -chardev null,id=c", INV,
      "-device isa-serial,chardev=c,iobase=0x3f8: Property "
      "'isa-serial.iobase' not found" },
    { K "-serial null -device isa-serial,chardev=c,index=0 -chardev null,id=c",
      INV, "-device isa-serial,chardev=c,index=0: serial port 0 (COM1) is "
      "already in use" },
    { K "-device usb-tablet", UNS,
      "-device usb-tablet: device 'usb-tablet' is not supported by kestrel: "
      "it has no USB" },
    /* -machine / -accel */
    { K "-machine q35", UNS, "-machine q35: unsupported machine type 'q35'; "
      "use -machine help to list supported machines" },
    { K "-M isapc,accel=kvm", UNS, "-M isapc,accel=kvm: unsupported machine "
      "type 'isapc'; use -machine help to list supported machines" },
    { K "-machine ,accel=kvm", UNS, "-machine ,accel=kvm: unsupported machine "
      "type ''; use -machine help to list supported machines" },
    { K "-machine accel=tcg", UNS, "-machine accel=tcg: accelerator list "
      "'tcg' does not contain kvm, the only accelerator kestrel supports" },
    { K "-machine kestrel,accel=xen:tcg", UNS,
      "-machine kestrel,accel=xen:tcg: "
      "accelerator list 'xen:tcg' does not contain kvm, the only accelerator "
      "kestrel supports" },
    { K "-machine kestrel,usb=on", UNS,
      "-machine kestrel,usb=on: Parameter 'usb' only takes 'off' in kestrel: "
      "it has no USB" },
    { K "-machine pc,dump-guest-core=on", UNS,
      "-machine pc,dump-guest-core=on: Parameter 'dump-guest-core' only "
      "takes 'off' in kestrel: it never dumps core (guest RAM included)" },
    { K "-machine pc,acpi=off", UNS,
      "-machine pc,acpi=off: Parameter 'acpi' only takes 'on' in kestrel: its "
      "machine always has ACPI" },
    { K "-machine pc,mem-merge=maybe", INV, "-machine pc,mem-merge=maybe: "
      "Parameter 'mem-merge' expects 'on' or 'off'" },
    { K "-machine pc,nvdimm=on", INV,
      "-machine pc,nvdimm=on: Invalid parameter 'nvdimm'" },
    { K "-accel tcg", UNS, "-accel tcg: accelerator 'tcg' is not supported by "
      "kestrel: use -accel kvm" },
    { K "-accel kvm,foo=1", INV, "-accel kvm,foo=1: Invalid parameter 'foo'" },
    { K "-accel ''", INV, "-accel : Parameter 'accel' is missing" },
    /* -cpu */
    { K "-cpu qemu64", UNS, "-cpu qemu64: CPU model 'qemu64' is not supported "
      "by kestrel: use -cpu host or -cpu max" },
    { K "-cpu host,+sse", UNS, "-cpu host,+sse: CPU property '+sse' is not "
      "supported by kestrel" },
    { K "-cpu host,migratable=on", UNS, "-cpu host,migratable=on: CPU "
      "property 'migratable' is not supported by kestrel" },
    /* -m */
    { K "-m 1X", INV, "-m 1X: " SIZE_BAD },
    { K "-m -1", INV, "-m -1: " SIZE_BAD },
    { K "-m 1.5", INV, "-m 1.5: " SIZE_BAD },
    { K "-m size=", INV, "-m size=: " SIZE_BAD },
    { K "-m 16E", INV, "-m 16E: Value '16E' is out of range for parameter "
      "'size'" },
    { K "-m 17592186044416", INV, "-m 17592186044416: Value '17592186044416' "
      "is out of range for parameter 'size'" },
    { K "-m 0", INV, "-m 0: Parameter 'size' must be greater than zero" },
    { K "-m 1G,slots=2,maxmem=4G", UNS, "-m 1G,slots=2,maxmem=4G: memory "
      "hotplug (slots, maxmem) is not supported by kestrel" },
    { K "-m 1G,maxmem=4G", UNS, "-m 1G,maxmem=4G: memory hotplug (slots, "
      "maxmem) is not supported by kestrel" },
    { K "-m size=1G,foo=1", INV, "-m size=1G,foo=1: Invalid parameter 'foo'" },
    /* -smp */
    { K "-smp 4,sockets=2,maxcpus=3", INV, "Invalid CPU topology: product of "
      "the hierarchy must match maxcpus: sockets (2) * dies (1) * cores (1) * "
      "threads (1) != maxcpus (3)" },
    { K "-smp 2,sockets=2,cores=2,maxcpus=2", INV, "Invalid CPU topology: "
      "product of the hierarchy must match maxcpus: sockets (2) * dies (1) * "
      "cores (2) * threads (0) != maxcpus (2)" },
    { K "-smp 4,sockets=8", INV, "Invalid CPU topology: product of the "
      "hierarchy must match maxcpus: sockets (8) * dies (1) * cores (0) * "
      "threads (1) != maxcpus (4)" },
    { K "-smp sockets=2,dies=1,cores=1,threads=1,maxcpus=4", INV,
      "Invalid CPU topology: product of the hierarchy must match maxcpus: "
      "sockets (2) * dies (1) * cores (1) * threads (1) != maxcpus (4)" },
    { K "-smp 5,maxcpus=4", INV, "Invalid CPU topology: maxcpus must be equal "
      "to or greater than smp: sockets (1) * dies (1) * cores (4) * "
      "threads (1) == maxcpus (4) < smp_cpus (5)" },
    { K "-smp 2,maxcpus=4", UNS, "CPU hotplug is not supported by kestrel: "
      "maxcpus (4) must equal cpus (2)" },
    { K "-smp 256", INV, "Invalid SMP CPUs 256. The max CPUs supported by "
      "machine 'kestrel' is 255" },
    { K "-smp sockets=16,cores=16,threads=2", INV, "Invalid SMP CPUs 512. The "
      "max CPUs supported by machine 'kestrel' is 255" },
    { K "-smp 0", INV, "-smp 0: Invalid CPU topology: CPU topology parameters "
      "must be greater than zero" },
    { K "-smp 2,threads=0", INV, "-smp 2,threads=0: Invalid CPU topology: CPU "
      "topology parameters must be greater than zero" },
    { K "-smp 2,clusters=2", INV, "clusters > 1 not supported by this "
      "machine's CPU topology" },
    { K "-smp 1x", INV, "-smp 1x: Parameter 'cpus' expects a number" },
    { K "-smp -1", INV, "-smp -1: Parameter 'cpus' expects a number" },
    { K "-smp 4294967296", INV, "-smp 4294967296: Value '4294967296' is out "
      "of range for parameter 'cpus'" },
    { K "-smp cpus=2,foo=1", INV,
      "-smp cpus=2,foo=1: Invalid parameter 'foo'" },
    { K "-smp 2,books=1", INV, "-smp 2,books=1: Invalid parameter 'books'" },
    /* boot */
    { "", INV, "no kernel given: use -kernel PATH" },
    { "-kernel ''", INV, "no kernel given: use -kernel PATH" },
    { "-initrd x -append y", INV, "no kernel given: use -kernel PATH" },
    { "-machine none -kernel x", INV, "machine 'none' boots no guest: -kernel "
      "cannot be used with it" },
    { "-machine none -append x", INV, "machine 'none' boots no guest: -append "
      "cannot be used with it" },
    /* identity */
    { K "-name guest=a,foo=1", INV, "-name guest=a,foo=1: Invalid parameter "
      "'foo'" },
    { K "-name a,debug-threads=maybe", INV, "-name a,debug-threads=maybe: "
      "Parameter 'debug-threads' expects 'on' or 'off'" },
    { K "-uuid 123", INV, "-uuid 123: '123' is not a UUID of the form "
      "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" },
    { K "-uuid 6f2c6b8e-1f7a-4e39-9a5b-0c2f1f0d7a1", INV,
      "-uuid 6f2c6b8e-1f7a-4e39-9a5b-0c2f1f0d7a1: "
      "'6f2c6b8e-1f7a-4e39-9a5b-0c2f1f0d7a1' is not a UUID of the form "
      "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" },
    { K "-uuid 6f2c6b8e1f7a4e399a5b0c2f1f0d7a11xxxx", INV,
      "-uuid 6f2c6b8e1f7a4e399a5b0c2f1f0d7a11xxxx: "
      "'6f2c6b8e1f7a4e399a5b0c2f1f0d7a11xxxx' is not a UUID of the form "
      "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" },
    { K "-uuid 6f2c6b8g-1f7a-4e39-9a5b-0c2f1f0d7a11", INV,
      "-uuid 6f2c6b8g-1f7a-4e39-9a5b-0c2f1f0d7a11: "
      "'6f2c6b8g-1f7a-4e39-9a5b-0c2f1f0d7a11' is not a UUID of the form "
      "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" },
    /* -serial */
    { K "-serial bogus", INV, "-serial bogus: 'bogus' is not a valid character "
      "device: use stdio, pty, null, file:PATH, unix:PATH, tcp:HOST:PORT or "
      "chardev:ID" },
    { K "-serial mon:stdio", UNS, "-serial mon:stdio: character device "
      "'mon:stdio' is not supported by kestrel" },
    { K "-serial vc", UNS, "-serial vc: character device 'vc' is not "
      "supported by kestrel" },
    { K "-serial /dev/ttyS0", UNS, "-serial /dev/ttyS0: character device "
      "'/dev/ttyS0' is not supported by kestrel" },
    { K "-serial telnet::4444,server", UNS, "-serial telnet::4444,server: "
      "character device 'telnet::4444,server' is not supported by kestrel" },
    { K "-serial chardev:zz", INV,
      "-serial chardev:zz: chardev 'zz' not found" },
    { K "-serial file:", INV, "-serial file:: Parameter 'path' is missing" },
    { K "-serial unix:", INV, "-serial unix:: Parameter 'path' is missing" },
    { K "-serial unix:/s,server=on,foo=1", INV,
      "-serial unix:/s,server=on,foo=1: Invalid parameter 'foo'" },
    { K "-serial unix:/s,server=maybe", INV,
      "-serial unix:/s,server=maybe: Parameter 'server' expects 'on' or "
      "'off'" },
    { K "-serial unix:/s,wait=off", INV,
      "-serial unix:/s,wait=off: Parameter 'wait' is only valid with "
      "server=on" },
    { K "-serial tcp:4444", INV,
      "-serial tcp:4444: 'tcp:4444' is not of the form tcp:HOST:PORT" },
    { K "-serial tcp:host:http", INV, "-serial tcp:host:http: Parameter "
      "'port' expects a port number from 0 to 65535" },
    { K "-serial tcp:host:0x10", INV, "-serial tcp:host:0x10: Parameter "
      "'port' expects a port number from 0 to 65535" },
    { K "-chardev socket,id=s,host=h,port=", INV, "-chardev socket,id=s,"
      "host=h,port=: Parameter 'port' expects a port number from 0 to "
      "65535" },
    { K "-serial tcp:host:65536", INV, "-serial tcp:host:65536: Parameter "
      "'port' expects a port number from 0 to 65535" },
    { K "-serial null -serial null -serial null -serial null -serial pty", INV,
      "-serial pty: too many serial ports: kestrel has 4 (COM1 to COM4)" },
    { K "-chardev null,id=c -serial chardev:c -serial chardev:c", INV,
      "-serial chardev:c: chardev 'c' is already in use" },
    { K "-serial stdio -serial stdio", INV, "-serial stdio: chardev 'serial1' "
      "cannot use stdio, which chardev 'serial0' already uses" },
    /* -chardev */
    { K "-chardev null", INV, "-chardev null: Parameter 'id' is missing" },
    { K "-chardev id=x", INV, "-chardev id=x: Parameter 'backend' is missing" },
    { K "-chardev foo,id=a", INV,
      "-chardev foo,id=a: 'foo' is not a valid chardev backend" },
    { K "-chardev ringbuf,id=r,size=64K", UNS,
      "-chardev ringbuf,id=r,size=64K: "
      "chardev backend 'ringbuf' is not supported by kestrel" },
    { K "-chardev null,id=1a", INV, "-chardev null,id=1a: Parameter 'id' "
      "expects an identifier (letters, digits, '-', '.' and '_', starting "
      "with a letter)" },
    { K "-chardev null,id=a,,b", INV, "-chardev null,id=a,,b: Parameter 'id' "
      "expects an identifier (letters, digits, '-', '.' and '_', starting "
      "with a letter)" },
    { K "-chardev null,id=a -chardev pty,id=a", INV,
      "-chardev pty,id=a: Duplicate ID 'a' for chardev" },
    { K "-serial pty -chardev null,id=serial0", INV,
      "-chardev null,id=serial0: Duplicate ID 'serial0' for chardev" },
    { K "-chardev null,id=serial0", INV,
      "default serial port: Duplicate ID 'serial0' for chardev" },
    { K "-chardev null,id=a,path=/x", INV,
      "-chardev null,id=a,path=/x: Invalid parameter 'path'" },
    { K "-chardev pty,id=a,mux=on", INV,
      "-chardev pty,id=a,mux=on: Invalid parameter 'mux'" },
    { K "-chardev stdio,id=s,signal=maybe", INV, "-chardev stdio,id=s,"
      "signal=maybe: Parameter 'signal' expects 'on' or 'off'" },
    { K "-chardev file,id=f", INV,
      "-chardev file,id=f: Parameter 'path' is missing" },
    { K "-chardev file,id=f,path=", INV,
      "-chardev file,id=f,path=: Parameter 'path' is missing" },
    { K "-chardev socket,id=s,path=", INV,
      "-chardev socket,id=s,path=: Parameter 'path' is missing" },
    { K "-chardev file,id=f,path=/x,append=2", INV, "-chardev file,id=f,"
      "path=/x,append=2: Parameter 'append' expects 'on' or 'off'" },
    { K "-chardev socket,id=s", INV, "-chardev socket,id=s: socket chardev 's' "
      "needs exactly one of path=PATH, host=HOST,port=PORT or fd=N" },
    { K "-chardev socket,id=s,path=/x,fd=3", INV, "-chardev socket,id=s,"
      "path=/x,fd=3: socket chardev 's' needs exactly one of path=PATH, "
      "host=HOST,port=PORT or fd=N" },
    { K "-chardev socket,id=s,host=localhost", INV,
      "-chardev socket,id=s,host=localhost: Parameter 'port' is missing" },
    { K "-chardev socket,id=s,port=22", INV,
      "-chardev socket,id=s,port=22: Parameter 'host' is missing" },
    { K "-chardev socket,id=s,fd=x", INV,
      "-chardev socket,id=s,fd=x: Parameter 'fd' expects a number" },
    { K "-chardev socket,id=s,fd=-1", INV,
      "-chardev socket,id=s,fd=-1: Parameter 'fd' expects a number" },
    { K "-chardev socket,id=s,path=/x,server=on,wait=off,server=off", INV,
      "-chardev socket,id=s,path=/x,server=on,wait=off,server=off: "
      "Parameter 'wait' is only valid with server=on" },
    { K "-chardev socket,id=s,path=/x,server=maybe", INV, "-chardev socket,"
      "id=s,path=/x,server=maybe: Parameter 'server' expects 'on' or 'off'" },
    { K "-chardev socket,id=s,path=/x,nodelay", INV,
      "-chardev socket,id=s,path=/x,nodelay: Invalid parameter 'delay'" },
    /* monitors */
    { K "-mon chardev=zz", INV, "-mon chardev=zz: chardev 'zz' not found" },
    { K "-mon mode=control", INV,
      "-mon mode=control: Parameter 'chardev' is missing" },
    { K "-chardev null,id=a -mon chardev=a,mode=xx", INV,
      "-mon chardev=a,mode=xx: Parameter 'mode' expects 'control' or "
      "'readline'" },
    { K "-chardev null,id=a -mon chardev=a,pretty=on", INV,
      "-mon chardev=a,pretty=on: 'pretty' is not compatible with HMP "
      "monitors" },
    { K "-chardev null,id=a -mon chardev=a,mode=control,foo=1", INV,
      "-mon chardev=a,mode=control,foo=1: Invalid parameter 'foo'" },
    { K "-chardev null,id=a -chardev null,id=b -mon a,id=m -mon b,id=m", INV,
      "-mon b,id=m: Duplicate ID 'm' for mon" },
    { K "-chardev null,id=a -mon a,mode=control -mon a,mode=control", INV,
      "-mon a,mode=control: chardev 'a' is already in use" },
    { K "-chardev null,id=a -serial chardev:a -mon a,mode=control", INV,
      "-mon a,mode=control: chardev 'a' is already in use" },
    { K "-qmp", INV, "-qmp: requires an argument" },
    { K "-qmp none", INV, "-qmp none: 'none' is not a valid character device: "
      "use stdio, pty, null, file:PATH, unix:PATH, tcp:HOST:PORT or "
      "chardev:ID" },
    { K "-qmp chardev:q", INV, "-qmp chardev:q: chardev 'q' not found" },
    { K "-qmp unix:/q,server=on,wait=off,foo=bar", INV,
      "-qmp unix:/q,server=on,wait=off,foo=bar: Invalid parameter 'foo'" },
    { K "-nodefaults -qmp stdio -qmp stdio", INV, "-qmp stdio: chardev "
      "'compat_monitor1' cannot use stdio, which chardev 'compat_monitor0' "
      "already uses" },
    { K "-nographic -qmp stdio", INV, "-nographic: chardev 'serial0' cannot "
      "use stdio, which chardev 'compat_monitor0' already uses" },
    /* -daemonize */
    { K "-nographic -daemonize", INV,
      "-nographic cannot be used with -daemonize" },
    { K "-daemonize -nographic -serial none -chardev stdio,id=s", INV,
      "-chardev stdio,id=s: cannot use stdio with -daemonize" },
    { K "-daemonize -serial stdio", INV,
      "-serial stdio: cannot use stdio with -daemonize" },
    { K "-daemonize -qmp stdio", INV,
      "-qmp stdio: cannot use stdio with -daemonize" },
    /* -device */
    { K "-device ,id=x", INV, "-device ,id=x: Parameter 'driver' is missing" },
    { K "-device id=x", INV, "-device id=x: Parameter 'driver' is missing" },
    { K "-device '{\"id\":\"b0\"}'", INV,
      "-device {\"id\":\"b0\"}: Parameter 'driver' is missing" },
    { K "-device '{\"driver\":\"x\",\"id\":null}'", INV,
      "-device {\"driver\":\"x\",\"id\":null}: Parameter 'id' must not be "
      "null" },
    { K "-device '{bad'", INV, NULL },        /* json-glib's text */
    { K "-device virtio-balloon-pci,id=0b", INV, "-device virtio-balloon-pci,"
      "id=0b: Parameter 'id' expects an identifier (letters, digits, '-', '.' "
      "and '_', starting with a letter)" },
    { K "-device a,id=x -device b,id=x", INV,
      "-device b,id=x: Duplicate ID 'x' for device" },
    { K "-device virtio-balloon-pci,help", UNS, "-device virtio-balloon-pci,"
      "help: kestrel cannot list the properties of device "
      "'virtio-balloon-pci'" },
    /* display */
    { K "-display gtk", UNS, "-display gtk: display 'gtk' is not supported by "
      "kestrel: use -display none or -nographic" },
    { K "-display vnc=:0", UNS, "-display vnc=:0: display 'vnc=:0' is not "
      "supported by kestrel: use -display none or -nographic" },
    { K "-display none,gl=on", INV,
      "-display none,gl=on: Invalid parameter 'gl'" },
    { K "-vga std", UNS,
      "-vga std: VGA card 'std' is not supported by kestrel: use -vga none" },
};

static void test_error(gconstpointer data)
{
    const ErrCase *c = data;
    g_autoptr(GError) err = NULL;
    g_autofree char *dump = NULL;
    g_autofree char *out = NULL;
    int action = run(c->args, &dump, &out, &err);

    if (action != -1 || !err) {
        g_printerr("case '%s': no error\n", c->args);
        g_assert_not_reached();
    }
    if (c->message && !g_str_equal(err->message, c->message)) {
        g_printerr("case '%s':\n  got  '%s'\n  want '%s'\n", c->args,
                   err->message, c->message);
        g_assert_not_reached();
    }
    if (!c->message) {
        g_assert_true(g_str_has_prefix(err->message,
                                       "-device {bad: JSON parse error: "));
    }
    g_assert_error(err, KESTREL_ERROR, c->code);
    g_assert_null(dump);
    g_assert_cmpstr(out, ==, "");
}

typedef struct {
    const char *args;
    const char *contains[6];
} ExitCase;

static const ExitCase exit_cases[] = {
    { "-version", { "kestrel version " PACKAGE_VERSION
                    " (QEMU-compatible command line and QMP, QEMU 7.2.0)\n" } },
    { "--version -foo", { "kestrel version" } },
    { "-help", { "Usage: kestrel [options]\n", "  -kernel FILE", "  -smp ",
                 "  -qmp DEV", "  -nodefaults", "  -version" } },
    { "-h", { "Usage: kestrel [options]\n" } },
    { "--help", { "Usage: kestrel [options]\n" } },
    { "-machine help", { "Supported machines are:\n",
                         "\nkestrel              ", "(default)\n",
                         "\nnone                 " } },
    { "-M ?", { "Supported machines are:\n" } },
    /* the drivers of device.c's table, grouped as QEMU prints them */
    { "-device help", { "Misc devices:\n",
                        "name \"virtio-balloon-pci\", bus PCI\n" } },
    { "-device driver=help", { "name \"virtio-balloon\", bus PCI\n" } },
    { "-device ?", { "Misc devices:\n" } },
    { "-cpu help", { "Available CPUs:\n", "\nhost ", "\nmax " } },
    { "-accel help", { "Accelerators supported by kestrel:\nkvm\n" } },
    { "-chardev help", { "Available chardev backend types:\n", "  socket\n",
                         "  stdio\n" } },
    { "-display help", { "none\n" } },
    /* exit at once: what follows is not parsed */
    { "-machine help -bogus", { "Supported machines are:" } },
};

static void test_exit(gconstpointer data)
{
    const ExitCase *c = data;
    g_autoptr(GError) err = NULL;
    g_autofree char *dump = NULL;
    g_autofree char *out = NULL;
    int action = run(c->args, &dump, &out, &err);

    g_assert_no_error(err);
    g_assert_cmpint(action, ==, CMDLINE_EXIT);
    for (guint l = 0; l < G_N_ELEMENTS(c->contains) && c->contains[l]; l++) {
        if (!strstr(out, c->contains[l])) {
            g_printerr("case '%s': no '%s' in:\n%s", c->args,
                       c->contains[l], out);
            g_assert_not_reached();
        }
    }
}

/* -help lists every option kestrel implements, and nothing it refuses. */
static void test_help_complete(void)
{
    static const char *const listed[] = {
        "-D", "-M", "-S", "-accel", "-append", "-chardev", "-cpu",
        "-daemonize", "-device", "-display", "-enable-kvm", "-h", "-help",
        "-initrd", "-kernel", "-m", "-machine", "-mon", "-monitor", "-name",
        "-no-reboot", "-no-shutdown", "-no-user-config", "-nodefaults",
        "-nographic", "-pidfile", "-qmp", "-qmp-pretty", "-serial", "-smp",
        "-uuid", "-version", "-vga",
    };
    g_autoptr(GError) err = NULL;
    g_autofree char *dump = NULL;
    g_autofree char *out = NULL;

    g_assert_cmpint(run("-help", &dump, &out, &err), ==, CMDLINE_EXIT);
    for (guint i = 0; i < G_N_ELEMENTS(listed); i++) {
        g_autofree char *a = g_strdup_printf("\n  %s ", listed[i]);
        g_autofree char *b = g_strdup_printf("\n  %s\n", listed[i]);

        if (!strstr(out, a) && !strstr(out, b)) {
            g_printerr("-help lacks %s:\n%s", listed[i], out);
            g_assert_not_reached();
        }
    }
    g_assert_nonnull(strstr(out, "\n  -drive "));
    g_assert_nonnull(strstr(out, "\n  -blockdev "));
    g_assert_nonnull(strstr(out, "\n  -netdev "));
}

/* A failed parse leaves nothing half-owned: run under valgrind/ASan to see
 * leaks; here we only check that the config stays usable and freeable. */
static void test_config_reuse(void)
{
    g_autoptr(VmConfig) cfg = vm_config_new();
    g_autoptr(GError) err = NULL;
    char *argv[] = { "kestrel", "-chardev", "null,id=a", "-serial", "bogus",
                     NULL };

    g_assert_cmpint(cmdline_parse(5, argv, cfg, stdout, &err), ==, -1);
    g_assert_nonnull(vm_config_find_chardev(cfg, "a"));
    g_assert_null(vm_config_find_chardev(cfg, "b"));
}

/* One test per table row, so TAP names the case that fails. */
#define ADD_CASES(prefix, table, func)                                     \
    for (guint i = 0; i < G_N_ELEMENTS(table); i++) {                      \
        g_autofree char *path = g_strdup_printf(prefix "/%03u", i);        \
                                                                            \
        g_test_add_data_func(path, &table[i], func);                       \
    }

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    ADD_CASES("/cmdline/ok", ok_cases, test_ok);
    ADD_CASES("/cmdline/error", err_cases, test_error);
    ADD_CASES("/cmdline/exit", exit_cases, test_exit);
    g_test_add_func("/cmdline/help-complete", test_help_complete);
    g_test_add_func("/cmdline/config-reuse", test_config_reuse);
    return g_test_run();
}
