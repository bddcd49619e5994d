/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sandbox: what kestrel gives up once the VM is set up, as QEMU does with
 * -chroot, -runas and -sandbox: the root directory, the user, and (with a
 * seccomp filter) groups of system calls a running VM never needs.
 */
#ifndef KESTREL_SANDBOX_H
#define KESTREL_SANDBOX_H

#include <glib.h>
#include <stdbool.h>

#include "vmconfig.h"

/*
 * Parse the value of -sandbox (QEMU's keys: enable, obsolete,
 * elevateprivileges, spawn, resourcecontrol) into @out.
 * Returns false with @errp set on a bad key or value.
 */
bool sandbox_parse(const char *arg, SandboxConfig *out, GError **errp);

/*
 * Resolve -runas @spec (a user name, or UID:GID) into @cfg's runas_*
 * members. Errors name the user.
 */
bool sandbox_parse_user(const char *spec, VmConfig *cfg, GError **errp);

/* Check that @dir can be a -chroot: an existing directory. */
bool sandbox_check_chroot(const char *dir, GError **errp);

/*
 * Confine the process once everything is open: chroot to cfg->chroot_dir,
 * become cfg's -runas user (no supplementary groups but the user's, no
 * capabilities left), then install the -sandbox seccomp filter on every
 * thread. Call before vCPUs run and before the main loop serves clients.
 * Each step is optional; returns false with @errp set if one fails.
 */
bool sandbox_enter(const VmConfig *cfg, GError **errp);

/* True once a filter with spawn=deny is in place: starting a process
 * (exec: migration) would kill kestrel, so callers refuse it first. */
bool sandbox_spawn_denied(void);

/*
 * For tests (the qtest protocol's "sandbox-probe"): make one harmless
 * system call of @group ("on", "obsolete", "elevateprivileges", "spawn",
 * "resourcecontrol"), on a new thread if @on_thread. Returns the qtest
 * reply; a call the filter forbids by killing does not return.
 */
char *sandbox_probe(const char *group, bool on_thread);

#endif
