/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * DomainDef -> kestrel command line.  A pure function of its arguments:
 * no I/O, no global state, so that every line of the mapping is unit
 * tested (tests/unit/test-command.c).  The options are QEMU's spelling as
 * kestrel accepts it (man/kestrel.1).
 */
#ifndef DRIVER_COMMAND_H
#define DRIVER_COMMAND_H

#include <glib.h>

#include "domain-conf.h"

/* Where the daemon wants kestrel's files; NULL members are left out. */
typedef struct {
    const char *emulator;       /* kestrel binary if the XML has no
                                 * <emulator> */
    const char *qmp_socket;     /* required: -chardev socket,...,server=on */
    const char *pidfile;        /* -pidfile */
    const char *logfile;        /* -D: kestrel's own log messages */
    const char *qtest_socket;   /* with DOMAIN_COMMAND_QTEST: -qtest
                                 * unix:PATH,server=on,wait=off */
    /* The tap of interface i (def->nets order) as kestrel inherits it:
     * -netdev tap,fd=net_fds[i]; one per interface. */
    const int *net_fds;
    unsigned int n_net_fds;
    const char *hugetlbfs;      /* <hugepages/> with <source type='file'/>:
                                 * a hugetlbfs mount; NULL: /dev/hugepages */
    const char *ram_dir;        /* <source type='file'/>: where guest RAM
                                 * files go; NULL: /dev/shm */
} DomainCommandPaths;

enum {
    DOMAIN_COMMAND_PAUSED = 1 << 0,     /* -S: vCPUs wait for QMP cont */
    DOMAIN_COMMAND_DAEMONIZE = 1 << 1,  /* -daemonize: exit status 0 means
                                         * the QMP socket is listening */
    DOMAIN_COMMAND_INCOMING = 1 << 2,   /* -incoming defer: the state comes
                                         * with QMP migrate-incoming */
    DOMAIN_COMMAND_QTEST = 1 << 3,      /* accel=qtest: the machine without
                                         * running vCPUs (test hosts
                                         * without /dev/kvm) */
};

/* The seccomp groups every kestrel runs with: QEMU's libvirt default. */
#define DOMAIN_COMMAND_SANDBOX \
    "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"

/*
 * The argv (argv[0] = the binary) that runs @def: @def->emulator, or
 * @paths->emulator when the XML names none.  @flags: DOMAIN_COMMAND_*.
 * Returns NULL with @errp set (drv-error.h codes) for a definition kestrel
 * cannot run (DRV_ERR_CONFIG_UNSUPPORTED), for missing paths or an
 * inconsistent hand-built @def (DRV_ERR_INTERNAL_ERROR), or for unknown
 * @flags (DRV_ERR_INVALID_ARG).
 *
 * Lifecycle actions: on_poweroff 'preserve' adds -no-shutdown, on_reboot
 * 'destroy' adds -no-reboot; on_crash needs nothing (no panic device).
 * Every kestrel gets -sandbox DOMAIN_COMMAND_SANDBOX.
 * Disks are -blockdev file (host_device) and format nodes with a
 * virtio-blk-pci -device, in the JSON form libvirt writes for QEMU 7.2;
 * a qcow2's backing chain is left to kestrel (no "backing": it opens the
 * chain its header names).  Interfaces are -netdev tap,fd= on the fds in
 * @paths, with virtio-net-pci.  No bootindex: kestrel loads the kernel
 * directly and has no boot order.
 * The balloon's stats period is not a -device property: the caller sets it
 * over QMP (qom-set guest-stats-polling-interval), as libvirt does.
 */
GStrv domain_command_build(const DomainDef *def,
                           const DomainCommandPaths *paths,
                           unsigned int flags, GError **errp);

/*
 * The value of -name for domain @name, and the -chardev of its monitor on
 * @qmp_socket, exactly as domain_command_build() writes them: the
 * reconnection looks for them on a process's command line.
 */
char *domain_command_name_arg(const char *name);
char *domain_command_monitor_arg(const char *qmp_socket);

#endif /* DRIVER_COMMAND_H */
