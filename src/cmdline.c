/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmdline: QEMU's command-line spelling, parsed into a VmConfig.
 *
 * Options live in one sorted table. An entry with a handler is implemented;
 * an entry without one is a QEMU option kestrel knows of and refuses
 * ("-drive: option is not supported by kestrel") rather than calling it
 * invalid. Each handler parses its value (usually with keyval) and fails on
 * any key it does not use. Errors raised while handling an option are
 * prefixed with the option as typed ("-m 1X: ..."), as QEMU does.
 *
 * Some checks need the whole command line: -serial chardev:ID and -mon may
 * name a -chardev given later, -smp options merge, and the default serial
 * port depends on -nodefaults, -daemonize and -serial. cmdline_finish()
 * does those after the last option.
 *
 * The table and the small handlers are here; the chardev and monitor
 * options are in cmdline-chardev.c, -device and -object in
 * cmdline-devices.c, the machine, CPUs and RAM in cmdline-machine.c.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"
#include "cmdline-internal.h"
#include "error.h"
#include "keyval.h"
#include "migration/channel.h"
#include "migration/describe.h"
#include "sandbox.h"

/* The QEMU release whose command line and QMP kestrel follows. */
#define CMDLINE_QEMU_VERSION "7.2.0"

typedef bool (*CmdlineHandler)(CmdlineState *s, const char *arg,
                               GError **errp);

typedef struct {
    const char *name;           /* without the dash */
    bool has_arg;
    CmdlineHandler handler;     /* NULL: a QEMU option kestrel refuses */
    const char *args;           /* for -help */
    const char *help;
} CmdlineOption;

static void cmdline_ref_free(gpointer data)
{
    CmdlineRef *ref = data;

    g_free(ref->loc);
    g_free(ref->chardev);
    g_free(ref);
}

void cmdline_add_ref(CmdlineState *s, const char *loc, const char *chardev)
{
    CmdlineRef *ref = g_new0(CmdlineRef, 1);

    ref->loc = g_strdup(loc);
    ref->chardev = g_strdup(chardev);
    g_ptr_array_add(s->refs, ref);
}

/* QEMU's rule for ids: letters, digits, '-', '.', '_', starting with a
 * letter. */
bool cmdline_check_id(const char *id, GError **errp)
{
    bool ok = g_ascii_isalpha(id[0]);

    for (const char *p = id; ok && *p; p++) {
        ok = g_ascii_isalnum(*p) || *p == '-' || *p == '.' || *p == '_';
    }
    if (!ok) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Parameter 'id' expects an identifier (letters, digits, "
                    "'-', '.' and '_', starting with a letter)");
    }
    return ok;
}

/* ---- option handlers ---------------------------------------------------- */

/*
 * A boolean parameter kestrel has only one value for: @key may be absent
 * or given as @only; the other value is refused, saying @why.
 */
bool cmdline_only_bool(KeyvalList *kv, const char *key, bool only,
                       const char *why, GError **errp)
{
    bool v;

    if (!keyval_get_bool(kv, key, only, &v, errp)) {
        return false;
    }
    if (v != only) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "Parameter '%s' only takes '%s' in kestrel: %s", key,
                    only ? "on" : "off", why);
        return false;
    }
    return true;
}

/* A string parameter kestrel accepts only from @values (NULL-ended). */
bool cmdline_only_str(KeyvalList *kv, const char *key,
                      const char *const *values, const char *why,
                      GError **errp)
{
    const char *v = keyval_get_str(kv, key);

    if (v && !g_strv_contains(values, v)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "Parameter '%s' does not take value '%s' in kestrel: %s",
                    key, v, why);
        return false;
    }
    return true;
}

static bool opt_append(CmdlineState *s, const char *arg, GError **errp)
{
    g_free(s->cfg->append);
    s->cfg->append = g_strdup(arg);
    return true;
}

static bool opt_boot(CmdlineState *s, const char *arg, GError **errp)
{
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "order", errp);
    const char *unsupported[] = { "order", "once", "menu", "splash",
                                  "splash-time", "reboot-timeout", NULL };
    bool strict;

    if (!kv) {
        return false;
    }
    for (guint i = 0; unsupported[i]; i++) {
        if (keyval_has(kv, unsupported[i])) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                        "Parameter '%s' is not supported by kestrel: it has "
                        "no firmware and boots the -kernel directly",
                        unsupported[i]);
            return false;
        }
    }
    /* strict: boot nothing but what is listed. The -kernel is the only
     * thing kestrel ever boots, so both values hold. */
    return keyval_get_bool(kv, "strict", false, &strict, errp) &&
           keyval_check_unused(kv, errp);
}

static bool opt_daemonize(CmdlineState *s, const char *arg, GError **errp)
{
    s->cfg->daemonize = true;
    return true;
}

static bool opt_display(CmdlineState *s, const char *arg, GError **errp)
{
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "type", errp);
    const char *type;

    if (!kv) {
        return false;
    }
    type = keyval_get_str(kv, "type");
    if (keyval_is_help(type)) {
        fprintf(s->out, "Available display backend types:\nnone\n");
        s->exit = true;
        return true;
    }
    if (!type || !g_str_equal(type, "none")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "display '%s' is not supported by kestrel: "
                    "use -display none or -nographic", type ? type : arg);
        return false;
    }
    if (!keyval_check_unused(kv, errp)) {
        return false;
    }
    s->cfg->display_none = true;
    return true;
}

static bool opt_help(CmdlineState *s, const char *arg, GError **errp);

static bool opt_incoming(CmdlineState *s, const char *arg, GError **errp)
{
    g_autoptr(GError) err = NULL;
    MigUri u;

    if (g_str_equal(arg, "defer")) {
        s->cfg->incoming_defer = true;
        return true;
    }
    if (!mig_uri_parse(arg, &u, &err)) {
        /* QEMU's words for the command line. */
        if (g_str_has_prefix(err->message, "Parameter 'uri'")) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "unknown migration protocol: %s", arg);
        } else {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID, "%s",
                        err->message);
        }
        mig_uri_clear(&u);
        return false;
    }
    mig_uri_clear(&u);
    g_free(s->cfg->incoming_uri);
    s->cfg->incoming_uri = g_strdup(arg);
    return true;
}

static bool opt_dump_vmstate(CmdlineState *s, const char *arg,
                             GError **errp)
{
    g_autofree char *text = migration_describe();

    if (!g_file_set_contents(arg, text, -1, errp)) {
        return false;
    }
    s->exit = true;
    return true;
}

static bool opt_qtest(CmdlineState *s, const char *arg, GError **errp)
{
    g_free(s->cfg->qtest);
    s->cfg->qtest = g_strdup(arg);
    return true;
}

static bool opt_initrd(CmdlineState *s, const char *arg, GError **errp)
{
    g_free(s->cfg->initrd);
    s->cfg->initrd = g_strdup(arg);
    return true;
}

static bool opt_kernel(CmdlineState *s, const char *arg, GError **errp)
{
    g_free(s->cfg->kernel);
    s->cfg->kernel = g_strdup(arg);
    return true;
}

static bool opt_logfile(CmdlineState *s, const char *arg, GError **errp)
{
    g_free(s->cfg->logfile);
    s->cfg->logfile = g_strdup(arg);
    return true;
}

static bool opt_name(CmdlineState *s, const char *arg, GError **errp)
{
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "guest", errp);
    const char *guest;
    const char *process;

    if (!kv) {
        return false;
    }
    guest = keyval_get_str(kv, "guest");
    process = keyval_get_str(kv, "process");
    if (!keyval_get_bool(kv, "debug-threads", s->cfg->debug_threads,
                         &s->cfg->debug_threads, errp) ||
        !keyval_check_unused(kv, errp)) {
        return false;
    }
    if (guest) {
        g_free(s->cfg->name);
        s->cfg->name = g_strdup(guest);
    }
    if (process) {
        g_free(s->cfg->process_name);
        s->cfg->process_name = g_strdup(process);
    }
    return true;
}

static bool opt_msg(CmdlineState *s, const char *arg, GError **errp)
{
    g_autoptr(KeyvalList) kv = keyval_parse(arg, NULL, errp);

    if (!kv) {
        return false;
    }
    if (keyval_has(kv, "guest-name")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "Parameter 'guest-name' is not supported by kestrel");
        return false;
    }
    return keyval_get_bool(kv, "timestamp", s->cfg->msg_timestamp,
                           &s->cfg->msg_timestamp, errp) &&
           keyval_check_unused(kv, errp);
}

static bool opt_no_acpi(CmdlineState *s, const char *arg, GError **errp)
{
    /* The guest finds its CPUs and interrupts, and is powered off, through
     * ACPI: there is no MP-table-only variant of the machine. */
    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                "kestrel's machine always has ACPI (in libvirt: add "
                "<features><acpi/></features>)");
    return false;
}

static bool opt_no_hpet(CmdlineState *s, const char *arg, GError **errp)
{
    return true;                        /* kestrel has no HPET */
}

static bool opt_no_reboot(CmdlineState *s, const char *arg, GError **errp)
{
    s->cfg->no_reboot = true;
    return true;
}

static bool opt_no_shutdown(CmdlineState *s, const char *arg, GError **errp)
{
    s->cfg->no_shutdown = true;
    return true;
}

static bool opt_no_user_config(CmdlineState *s, const char *arg,
                               GError **errp)
{
    return true;                        /* kestrel reads no config files */
}

static bool opt_nodefaults(CmdlineState *s, const char *arg, GError **errp)
{
    s->cfg->nodefaults = true;
    return true;
}

static bool opt_nographic(CmdlineState *s, const char *arg, GError **errp)
{
    s->cfg->nographic = true;
    return true;
}

static bool opt_pidfile(CmdlineState *s, const char *arg, GError **errp)
{
    g_free(s->cfg->pidfile);
    s->cfg->pidfile = g_strdup(arg);
    return true;
}

static bool opt_rtc(CmdlineState *s, const char *arg, GError **errp)
{
    static const char *const utc[] = { "utc", NULL };
    static const char *const host[] = { "host", NULL };
    static const char *const none[] = { "none", NULL };
    g_autoptr(KeyvalList) kv = keyval_parse(arg, NULL, errp);

    if (!kv) {
        return false;
    }
    /* The RTC reads the host's clock in UTC and sends no periodic
     * interrupts to make up for. */
    return cmdline_only_str(kv, "base", utc,
                            "the RTC starts at the host's time in UTC",
                            errp) &&
           cmdline_only_str(kv, "clock", host,
                            "the RTC follows the host's clock", errp) &&
           cmdline_only_str(kv, "driftfix", none,
                            "the RTC does not make up for lost ticks (in "
                            "libvirt: drop <timer name='rtc' "
                            "tickpolicy='catchup'/>)", errp) &&
           keyval_check_unused(kv, errp);
}

static bool opt_S(CmdlineState *s, const char *arg, GError **errp)
{
    s->cfg->start_paused = true;
    return true;
}

static bool opt_sandbox(CmdlineState *s, const char *arg, GError **errp)
{
    return sandbox_parse(arg, &s->cfg->sandbox, errp);
}

static bool opt_runas(CmdlineState *s, const char *arg, GError **errp)
{
    return sandbox_parse_user(arg, s->cfg, errp);
}

static bool opt_chroot(CmdlineState *s, const char *arg, GError **errp)
{
    if (!sandbox_check_chroot(arg, errp)) {
        return false;
    }
    g_free(s->cfg->chroot_dir);
    s->cfg->chroot_dir = g_strdup(arg);
    return true;
}

/* QEMU 8.1's spelling of -runas and -chroot, which libvirt may move to. */
static bool opt_run_with(CmdlineState *s, const char *arg, GError **errp)
{
    g_autoptr(KeyvalList) kv = keyval_parse(arg, NULL, errp);
    const char *user, *dir;

    if (!kv || !cmdline_only_bool(kv, "async-teardown", false,
                                  "kestrel tears the guest down itself",
                                  errp)) {
        return false;
    }
    user = keyval_get_str(kv, "user");
    dir = keyval_get_str(kv, "chroot");
    return keyval_check_unused(kv, errp) &&
           (!user || opt_runas(s, user, errp)) &&
           (!dir || opt_chroot(s, dir, errp));
}

static bool opt_uuid(CmdlineState *s, const char *arg, GError **errp)
{
    /* xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx */
    static const char form[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    uint8_t uuid[16];
    guint n = 0;

    if (strlen(arg) != strlen(form)) {
        goto bad;
    }
    for (guint i = 0; form[i]; i += (form[i] == '-') ? 1 : 2) {
        if (form[i] == '-') {
            if (arg[i] != '-') {
                goto bad;
            }
            continue;
        }
        if (!g_ascii_isxdigit(arg[i]) || !g_ascii_isxdigit(arg[i + 1])) {
            goto bad;
        }
        uuid[n++] = (uint8_t)(g_ascii_xdigit_value(arg[i]) << 4 |
                              g_ascii_xdigit_value(arg[i + 1]));
    }
    memcpy(s->cfg->uuid, uuid, sizeof(uuid));
    s->cfg->has_uuid = true;
    return true;

 bad:
    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                "'%s' is not a UUID of the form %s", arg, form);
    return false;
}

static bool opt_version(CmdlineState *s, const char *arg, GError **errp)
{
    fprintf(s->out, "kestrel version %s (QEMU-compatible command line and "
            "QMP, QEMU %s)\n", PACKAGE_VERSION, CMDLINE_QEMU_VERSION);
    s->exit = true;
    return true;
}

static bool opt_vga(CmdlineState *s, const char *arg, GError **errp)
{
    if (!g_str_equal(arg, "none")) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "VGA card '%s' is not supported by kestrel: "
                    "use -vga none", arg);
        return false;
    }
    return true;
}

/*
 * Every option, sorted by name (strcmp order; cmdline_parse checks it).
 * Entries without a handler are QEMU options kestrel refuses.
 */
static const CmdlineOption cmdline_options[] = {
    { "D", true, opt_logfile, "LOGFILE", "write log messages to LOGFILE" },
    { "L", true, NULL, NULL, NULL },
    { "M", true, cmdline_opt_machine, "[type=]NAME[,accel=kvm]",
      "same as -machine" },
    { "S", false, opt_S, NULL, "create the VM paused; QMP 'cont' starts it" },
    { "accel", true, cmdline_opt_accel, "kvm",
      "use KVM (the only accelerator)" },
    { "acpitable", true, NULL, NULL, NULL },
    { "action", true, NULL, NULL, NULL },
    { "add-fd", true, NULL, NULL, NULL },
    { "alt-grab", false, NULL, NULL, NULL },
    { "append", true, opt_append, "CMDLINE", "kernel command line" },
    { "async-teardown", false, NULL, NULL, NULL },
    { "audio", true, NULL, NULL, NULL },
    { "audio-help", false, NULL, NULL, NULL },
    { "audiodev", true, cmdline_opt_audiodev, "none,id=ID|JSON",
      "accepted: the null audio backend (there is no sound device)" },
    { "bios", true, NULL, NULL, NULL },
    { "blockdev", true, cmdline_opt_blockdev, "DRIVER,node-name=N[,...]|JSON",
      "a block node: file, host_device, raw, qcow2" },
    { "boot", true, opt_boot, "strict=on|off",
      "accepted: the -kernel is all kestrel boots" },
    { "cdrom", true, NULL, NULL, NULL },
    { "chardev", true, cmdline_opt_chardev, "BACKEND,id=ID[,...]",
      "character device: null, stdio, file, pty or socket" },
    { "chroot", true, opt_chroot, "DIR",
      "chroot to DIR once the VM is set up" },
    { "compat", true, NULL, NULL, NULL },
    { "cpu", true, cmdline_opt_cpu, "host|max", "CPU model (default host)" },
    { "ctrl-grab", false, NULL, NULL, NULL },
    { "curses", false, NULL, NULL, NULL },
    { "d", true, NULL, NULL, NULL },
    { "daemonize", false, opt_daemonize, NULL,
      "detach once the VM is set up" },
    { "debugcon", true, NULL, NULL, NULL },
    { "device", true, cmdline_opt_device, "DRIVER[,id=ID][,PROP=VALUE...]|JSON",
      "add a device; -device help lists them" },
    { "dfilter", true, NULL, NULL, NULL },
    { "display", true, opt_display, "none", "no display (the only one)" },
    { "drive", true, cmdline_opt_drive,
      "file=F,if=virtio|none[,id=ID][,format=raw|qcow2][,...]",
      "a disk image (if=virtio: with its virtio-blk-pci)" },
    { "dtb", true, NULL, NULL, NULL },
    { "dump-vmstate", true, opt_dump_vmstate, "FILE",
      "write the migration format (schemas/vmstate.json) to FILE and exit" },
    { "echr", true, NULL, NULL, NULL },
    { "enable-kvm", false, cmdline_opt_enable_kvm, NULL, "same as -accel kvm" },
    { "enable-sync-profile", false, NULL, NULL, NULL },
    { "fda", true, NULL, NULL, NULL },
    { "fdb", true, NULL, NULL, NULL },
    { "fsdev", true, NULL, NULL, NULL },
    { "full-screen", false, NULL, NULL, NULL },
    { "fw_cfg", true, NULL, NULL, NULL },
    { "g", true, NULL, NULL, NULL },
    { "gdb", true, NULL, NULL, NULL },
    { "global", true, cmdline_opt_global, "kvm-pit.lost_tick_policy=delay",
      "the one device default kestrel takes (what it does anyway)" },
    { "h", false, opt_help, NULL, "same as -help" },
    { "hda", true, NULL, NULL, NULL },
    { "hdb", true, NULL, NULL, NULL },
    { "hdc", true, NULL, NULL, NULL },
    { "hdd", true, NULL, NULL, NULL },
    { "help", false, opt_help, NULL, "print this help and exit" },
    { "icount", true, NULL, NULL, NULL },
    { "incoming", true, opt_incoming, "URI",
      "wait in state inmigrate for a migration from tcp:HOST:PORT, "
      "unix:PATH, fd:N, exec:CMD, file:PATH, or defer (migrate-incoming)" },
    { "initrd", true, opt_initrd, "FILE", "initial ramdisk" },
    { "iscsi", true, NULL, NULL, NULL },
    { "k", true, NULL, NULL, NULL },
    { "kernel", true, opt_kernel, "FILE",
      "Linux kernel (bzImage, ELF vmlinux or PVH) to boot" },
    { "loadvm", true, NULL, NULL, NULL },
    { "m", true, cmdline_opt_m, "[size=]SIZE",
      "guest RAM (default 128M; MiB if no suffix)" },
    { "machine", true, cmdline_opt_machine,
      "[type=]kestrel|pc|none[,accel=kvm]",
      "machine type; -machine help lists them" },
    { "mem-path", true, cmdline_opt_mem_path, "DIR|FILE",
      "guest RAM in a file (a temporary one if DIR), hugetlbfs included" },
    { "mem-prealloc", false, cmdline_opt_mem_prealloc, NULL,
      "allocate all guest RAM before the guest starts" },
    { "mon", true, cmdline_opt_mon, "[chardev=]ID[,mode=control|readline]"
      "[,pretty=on]", "monitor on chardev ID" },
    { "monitor", true, cmdline_opt_monitor, "DEV", "HMP monitor on DEV" },
    { "msg", true, opt_msg, "timestamp=on|off",
      "prefix error messages with the time" },
    { "mtdblock", true, NULL, NULL, NULL },
    { "name", true, opt_name, "[guest=]NAME[,process=P][,debug-threads=on]",
      "guest name" },
    { "net", true, NULL, NULL, NULL },
    { "netdev", true, cmdline_opt_netdev,
      "tap,id=ID,ifname=NAME,script=no,downscript=no|tap,id=ID,fd=N",
      "a network backend: a tap device" },
    { "nic", true, NULL, NULL, NULL },
    { "no-acpi", false, opt_no_acpi, NULL,
      "refused: the machine always has ACPI" },
    { "no-fd-bootchk", false, NULL, NULL, NULL },
    { "no-hpet", false, opt_no_hpet, NULL,
      "accepted: kestrel has no HPET" },
    { "no-quit", false, NULL, NULL, NULL },
    { "no-reboot", false, opt_no_reboot, NULL,
      "exit instead of rebooting the guest" },
    { "no-shutdown", false, opt_no_shutdown, NULL,
      "pause instead of exiting at guest power-off" },
    { "no-user-config", false, opt_no_user_config, NULL,
      "accepted; kestrel reads no configuration files" },
    { "nodefaults", false, opt_nodefaults, NULL, "no default serial port" },
    { "nographic", false, opt_nographic, NULL,
      "no display; the default serial port is on stdio" },
    { "numa", true, NULL, NULL, NULL },
    { "object", true, cmdline_opt_object,
      "secret,id=ID,...|memory-backend-{ram,memfd,file},id=ID,size=S,...|JSON",
      "a secret, or a memory backend for -machine memory-backend=ID" },
    { "only-migratable", false, NULL, NULL, NULL },
    { "option-rom", true, NULL, NULL, NULL },
    { "overcommit", true, cmdline_opt_overcommit,
      "mem-lock=on|off[,cpu-pm=off]",
      "mem-lock=on locks all memory, guest RAM included (mlockall)" },
    { "parallel", true, NULL, NULL, NULL },
    { "pflash", true, NULL, NULL, NULL },
    { "pidfile", true, opt_pidfile, "FILE", "write the process id to FILE" },
    { "plugin", true, NULL, NULL, NULL },
    { "portrait", false, NULL, NULL, NULL },
    { "preconfig", false, NULL, NULL, NULL },
    { "qmp", true, cmdline_opt_qmp, "DEV", "QMP monitor on DEV" },
    { "qmp-pretty", true, cmdline_opt_qmp_pretty, "DEV",
      "QMP monitor on DEV, pretty-printed" },
    { "qtest", true, opt_qtest, "unix:PATH[,server=on[,wait=off]]",
      "the qtest protocol on a socket (with -accel qtest)" },
    { "readconfig", true, NULL, NULL, NULL },
    { "rotate", true, NULL, NULL, NULL },
    { "rtc", true, opt_rtc, "base=utc[,clock=host][,driftfix=none]",
      "the RTC: host time in UTC (the only choice)" },
    { "run-with", true, opt_run_with, "[user=USER][,chroot=DIR]",
      "same as -runas USER and -chroot DIR" },
    { "runas", true, opt_runas, "USER|UID:GID",
      "run as USER once the VM is set up" },
    { "s", false, NULL, NULL, NULL },
    { "sandbox", true, opt_sandbox,
      "on|off[,obsolete=allow|deny][,elevateprivileges=allow|deny|children]"
      "[,spawn=allow|deny][,resourcecontrol=allow|deny]",
      "seccomp filter once the VM is set up (QEMU's)" },
    { "sd", true, NULL, NULL, NULL },
    { "sdl", false, NULL, NULL, NULL },
    { "seed", true, NULL, NULL, NULL },
    { "semihosting", false, NULL, NULL, NULL },
    { "semihosting-config", true, NULL, NULL, NULL },
    { "serial", true, cmdline_opt_serial, "DEV",
      "serial port on DEV (up to 4)" },
    { "set", true, NULL, NULL, NULL },
    { "singlestep", false, NULL, NULL, NULL },
    { "smbios", true, NULL, NULL, NULL },
    { "smp", true, cmdline_opt_smp, "[cpus=]N[,maxcpus=M][,sockets=S][,dies=D]"
      "[,cores=C][,threads=T]", "vCPUs and topology (at most 255)" },
    { "snapshot", false, NULL, NULL, NULL },
    { "spice", true, NULL, NULL, NULL },
    { "tpmdev", true, NULL, NULL, NULL },
    { "trace", true, NULL, NULL, NULL },
    { "usb", false, NULL, NULL, NULL },
    { "usbdevice", true, NULL, NULL, NULL },
    { "uuid", true, opt_uuid, "UUID", "machine UUID" },
    { "version", false, opt_version, NULL, "print the version and exit" },
    { "vga", true, opt_vga, "none", "no VGA card (the only choice)" },
    { "virtfs", true, NULL, NULL, NULL },
    { "vnc", true, NULL, NULL, NULL },
    { "watchdog", true, NULL, NULL, NULL },
    { "watchdog-action", true, NULL, NULL, NULL },
    { "win2k-hack", false, NULL, NULL, NULL },
    { "writeconfig", true, NULL, NULL, NULL },
    { "xen-attach", false, NULL, NULL, NULL },
    { "xen-domid", true, NULL, NULL, NULL },
    { "xen-domid-restrict", false, NULL, NULL, NULL },
};

static bool opt_help(CmdlineState *s, const char *arg, GError **errp)
{
    FILE *out = s->out;

    fprintf(out,
            "Usage: kestrel [options]\n"
            "\n"
            "Run one KVM virtual machine. kestrel takes QEMU's spelling of "
            "the options it\nimplements. An option may start with - or --; "
            "its value is the next argument.\n"
            "\n"
            "DEV: stdio, pty, null, none (-serial and -monitor only), "
            "file:PATH,\n"
            "     unix:PATH[,server=on][,wait=off], "
            "tcp:[HOST]:PORT[,server=on][,wait=off],\n"
            "     chardev:ID\n"
            "\n");
    for (guint i = 0; i < G_N_ELEMENTS(cmdline_options); i++) {
        const CmdlineOption *o = &cmdline_options[i];
        g_autofree char *synopsis = NULL;

        if (!o->handler) {
            continue;
        }
        synopsis = g_strdup_printf("-%s%s%s", o->name, o->args ? " " : "",
                                   o->args ? o->args : "");
        if (strlen(synopsis) > 28) {
            fprintf(out, "  %s\n  %-28s %s\n", synopsis, "", o->help);
        } else {
            fprintf(out, "  %-28s %s\n", synopsis, o->help);
        }
    }
    fprintf(out,
            "\n"
            "Other QEMU options are refused. Exit status: 0 when the guest "
            "powers off or\nQMP 'quit' is used, 1 on errors. "
            "See kestrel(1).\n");
    s->exit = true;
    return true;
}

static int cmdline_option_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const CmdlineOption *)elem)->name);
}

static void cmdline_check_table(void)
{
    for (guint i = 1; i < G_N_ELEMENTS(cmdline_options); i++) {
        g_assert(strcmp(cmdline_options[i - 1].name,
                        cmdline_options[i].name) < 0);
    }
}

/* ---- after the last option ---------------------------------------------- */

static bool cmdline_finish_boot(CmdlineState *s, GError **errp)
{
    VmConfig *cfg = s->cfg;

    if (g_str_equal(cfg->machine, "none")) {
        const char *opt = cfg->kernel ? "-kernel"
                          : cfg->initrd ? "-initrd"
                          : cfg->append ? "-append" : NULL;

        if (opt) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "machine 'none' boots no guest: %s cannot be used "
                        "with it", opt);
            return false;
        }
        return true;
    }
    if ((!cfg->kernel || !*cfg->kernel) && !cfg->qtest_accel) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "no kernel given: use -kernel PATH");
        return false;
    }
    return true;
}

static bool cmdline_finish(CmdlineState *s, GError **errp)
{
    return cmdline_finish_smp(s, errp) &&
           cmdline_finish_default_serial(s, errp) &&
           cmdline_finish_chardevs(s, errp) &&
           cmdline_finish_boot(s, errp) &&
           cmdline_finish_drives(s, errp) &&
           cmdline_finish_memory(s, errp);
}

static bool cmdline_run(CmdlineState *s, int argc, char **argv,
                        GError **errp)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *name = arg + 1;
        const CmdlineOption *opt;
        g_autofree char *loc = NULL;

        if (arg[0] != '-') {
            /* QEMU would open it as the first disk (-hda) */
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                        "argument '%s' is not an option: kestrel takes no "
                        "disk image", arg);
            return false;
        }
        if (name[0] == '-') {
            name++;
        }
        opt = bsearch(name, cmdline_options, G_N_ELEMENTS(cmdline_options),
                      sizeof(cmdline_options[0]), cmdline_option_cmp);
        if (!opt) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "%s: invalid option", arg);
            return false;
        }
        if (!opt->handler) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                        "%s: option is not supported by kestrel", arg);
            return false;
        }
        if (opt->has_arg) {
            if (i + 1 >= argc) {
                g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                            "%s: requires an argument", arg);
                return false;
            }
            i++;
            loc = g_strdup_printf("%s %s", arg, argv[i]);
        } else {
            loc = g_strdup(arg);
        }
        s->loc = loc;
        if (!opt->handler(s, opt->has_arg ? argv[i] : NULL, errp)) {
            g_prefix_error(errp, "%s: ", loc);
            return false;
        }
        s->loc = NULL;
        if (s->exit) {
            return true;
        }
    }
    return cmdline_finish(s, errp);
}

int cmdline_parse(int argc, char **argv, VmConfig *cfg, FILE *out,
                  GError **errp)
{
    CmdlineState s = {
        .cfg = cfg,
        .out = out,
        .refs = g_ptr_array_new_with_free_func(cmdline_ref_free),
        .chardev_locs = g_hash_table_new_full(g_str_hash, g_str_equal,
                                              g_free, g_free),
        .device_ids = g_hash_table_new_full(g_str_hash, g_str_equal,
                                            g_free, NULL),
        .monitor_ids = g_hash_table_new_full(g_str_hash, g_str_equal,
                                             g_free, NULL),
    };
    bool ok;

    cmdline_check_table();
    ok = cmdline_run(&s, argc, argv, errp);
    g_ptr_array_unref(s.refs);
    g_hash_table_unref(s.chardev_locs);
    g_hash_table_unref(s.device_ids);
    g_hash_table_unref(s.monitor_ids);
    if (!ok) {
        return -1;
    }
    return s.exit ? CMDLINE_EXIT : CMDLINE_RUN;
}
