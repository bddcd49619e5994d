/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmdline-internal: what the cmdline*.c files share. Private to the
 * command-line parser; the public interface is cmdline.h.
 *
 * Option handlers (cmdline_opt_*) take the option's value, or NULL for an
 * option without one, and are listed in the table in cmdline.c.
 */
#ifndef KESTREL_CMDLINE_INTERNAL_H
#define KESTREL_CMDLINE_INTERNAL_H

#include <stdio.h>

#include "keyval.h"
#include "vmconfig.h"

#define CMDLINE_MAX_SERIALS 4           /* COM1 to COM4 */

/* -smp members, merged over every -smp option; 0 means "not given". */
typedef enum {
    SMP_CPUS,
    SMP_MAXCPUS,
    SMP_SOCKETS,
    SMP_DIES,
    SMP_CLUSTERS,
    SMP_CORES,
    SMP_THREADS,
    SMP__MAX,
} SmpKey;

/* A frontend's reference to a chardev, resolved after the last option. */
typedef struct {
    char *loc;                  /* the option that made it, for messages */
    char *chardev;
} CmdlineRef;

typedef struct {
    VmConfig *cfg;
    FILE *out;
    const char *loc;            /* the option being handled: "-m 1G" */
    bool exit;                  /* a help or version text was printed */
    uint64_t smp[SMP__MAX];
    bool ram_size_given;        /* -m: must agree with memory-backend= */
    bool serial_given;          /* -serial or -device isa-serial: no default */
    unsigned compat_monitors;   /* -qmp/-monitor count, for chardev ids */
    GPtrArray *refs;            /* CmdlineRef, serials then monitors */
    GHashTable *chardev_locs;   /* chardev id -> option that defined it */
    GHashTable *device_ids;     /* -device id set */
    GHashTable *monitor_ids;    /* -mon id set */
} CmdlineState;

/* cmdline.c */
void cmdline_add_ref(CmdlineState *s, const char *loc, const char *chardev);
bool cmdline_check_id(const char *id, GError **errp);
bool cmdline_only_bool(KeyvalList *kv, const char *key, bool only,
                       const char *why, GError **errp);
bool cmdline_only_str(KeyvalList *kv, const char *key,
                      const char *const *values, const char *why,
                      GError **errp);

/* cmdline-chardev.c: -chardev, -serial, monitors, the default serial */
bool cmdline_opt_chardev(CmdlineState *s, const char *arg, GError **errp);
bool cmdline_opt_mon(CmdlineState *s, const char *arg, GError **errp);
bool cmdline_opt_monitor(CmdlineState *s, const char *arg, GError **errp);
bool cmdline_opt_qmp(CmdlineState *s, const char *arg, GError **errp);
bool cmdline_opt_qmp_pretty(CmdlineState *s, const char *arg,
                            GError **errp);
bool cmdline_opt_serial(CmdlineState *s, const char *arg, GError **errp);
bool cmdline_finish_default_serial(CmdlineState *s, GError **errp);
bool cmdline_finish_chardevs(CmdlineState *s, GError **errp);

/* cmdline-devices.c: -device, -object, -audiodev, -global */
bool cmdline_opt_audiodev(CmdlineState *s, const char *arg, GError **errp);
bool cmdline_opt_device(CmdlineState *s, const char *arg, GError **errp);
bool cmdline_opt_global(CmdlineState *s, const char *arg, GError **errp);
bool cmdline_opt_object(CmdlineState *s, const char *arg, GError **errp);

/* cmdline-block.c: -drive, -blockdev */
bool cmdline_opt_blockdev(CmdlineState *s, const char *arg, GError **errp);
bool cmdline_opt_drive(CmdlineState *s, const char *arg, GError **errp);
bool cmdline_finish_drives(CmdlineState *s, GError **errp);

/* cmdline-net.c: -netdev */
bool cmdline_opt_netdev(CmdlineState *s, const char *arg, GError **errp);

/* cmdline-machine.c: -machine, -accel, -cpu, -m, -smp, guest RAM */
bool cmdline_object_memory_backend(CmdlineState *s, KeyvalList *kv,
                                   const char *type, const char *id,
                                   GError **errp);
bool cmdline_opt_mem_path(CmdlineState *s, const char *arg, GError **errp);
bool cmdline_opt_mem_prealloc(CmdlineState *s, const char *arg,
                              GError **errp);
bool cmdline_opt_overcommit(CmdlineState *s, const char *arg, GError **errp);
bool cmdline_finish_memory(CmdlineState *s, GError **errp);
bool cmdline_opt_accel(CmdlineState *s, const char *arg, GError **errp);
bool cmdline_opt_cpu(CmdlineState *s, const char *arg, GError **errp);
bool cmdline_opt_enable_kvm(CmdlineState *s, const char *arg,
                            GError **errp);
bool cmdline_opt_m(CmdlineState *s, const char *arg, GError **errp);
bool cmdline_opt_machine(CmdlineState *s, const char *arg, GError **errp);
bool cmdline_opt_smp(CmdlineState *s, const char *arg, GError **errp);
bool cmdline_finish_smp(CmdlineState *s, GError **errp);

#endif /* KESTREL_CMDLINE_INTERNAL_H */
