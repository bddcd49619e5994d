/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sandbox: -chroot, -runas and -sandbox, applied once the VM is set up.
 *
 * The seccomp filter follows QEMU 7.2's model and options exactly: its
 * default action is to allow, and it denies groups of system calls a
 * running VMM has no business making (the always-denied set: reboot,
 * mount, swapon, kexec_load, syslog...; obsolete=deny: ustat, sysfs,
 * uselib...; elevateprivileges=deny: setuid and friends; spawn=deny:
 * fork, execve, clone without CLONE_THREAD, namespaces; resourcecontrol=
 * deny: setpriority, sched_setaffinity...). An allow-list would be
 * stronger, but every syscall glib, io_uring, the migration threads and
 * the tap path may make on some kernel or libc would have to be listed;
 * one missed and a working VM dies in production. The deny-list gives
 * libvirt's users exactly the guarantees QEMU gives them, no surprise.
 *
 * Actions are QEMU's: a denied call of the first four groups ends the
 * process with SIGSYS, resource control calls fail with EPERM, clone3
 * fails with ENOSYS (its flags are in memory the filter cannot read, so
 * libc falls back to clone, whose flags it can). QEMU asks the kernel to
 * kill outright; we trap instead so a SIGSYS handler can first say which
 * call was denied and by which option, then die by SIGSYS all the same.
 * The call itself never runs either way. TSYNC puts the filter on every
 * thread that exists (I/O threads, the log copier); new threads inherit
 * it. libseccomp sets no_new_privs as it loads the filter.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "keyval.h"
#include "sandbox.h"

typedef enum {
    SET_DEFAULT,                /* -sandbox on */
    SET_OBSOLETE,
    SET_PRIVILEGED,
    SET_SPAWN,
    SET_RESOURCECTL,
} SandboxSet;

/* How each set is named on the command line, for messages. */
static const char *const set_option[] = {
    [SET_DEFAULT] = "on",
    [SET_OBSOLETE] = "obsolete=deny",
    [SET_PRIVILEGED] = "elevateprivileges=deny",
    [SET_SPAWN] = "spawn=deny",
    [SET_RESOURCECTL] = "resourcecontrol=deny",
};

typedef enum {
    DENY_KILL,                  /* trap: report, then die by SIGSYS */
    DENY_EPERM,
    DENY_ENOSYS,
} DenyAction;

typedef struct {
    const char *name;           /* libseccomp's name of the syscall */
    SandboxSet set;
    DenyAction action;
} DenyRule;

/* Names unknown on this architecture resolve to libseccomp's pseudo
 * numbers and cost nothing; they stay for other hosts. */
static const DenyRule deny_rules[] = {
    { "afs_syscall", SET_DEFAULT, DENY_KILL },
    { "break", SET_DEFAULT, DENY_KILL },
    { "ftime", SET_DEFAULT, DENY_KILL },
    { "getpmsg", SET_DEFAULT, DENY_KILL },
    { "gtty", SET_DEFAULT, DENY_KILL },
    { "kexec_load", SET_DEFAULT, DENY_KILL },
    { "lock", SET_DEFAULT, DENY_KILL },
    { "mount", SET_DEFAULT, DENY_KILL },
    { "mpx", SET_DEFAULT, DENY_KILL },
    { "prof", SET_DEFAULT, DENY_KILL },
    { "profil", SET_DEFAULT, DENY_KILL },
    { "putpmsg", SET_DEFAULT, DENY_KILL },
    { "reboot", SET_DEFAULT, DENY_KILL },
    { "security", SET_DEFAULT, DENY_KILL },
    { "stty", SET_DEFAULT, DENY_KILL },
    { "swapoff", SET_DEFAULT, DENY_KILL },
    { "swapon", SET_DEFAULT, DENY_KILL },
    { "syslog", SET_DEFAULT, DENY_KILL },
    { "tuxcall", SET_DEFAULT, DENY_KILL },
    { "ulimit", SET_DEFAULT, DENY_KILL },
    { "umount", SET_DEFAULT, DENY_KILL },
    { "vserver", SET_DEFAULT, DENY_KILL },

    { "_sysctl", SET_OBSOLETE, DENY_KILL },
    { "bdflush", SET_OBSOLETE, DENY_KILL },
    { "create_module", SET_OBSOLETE, DENY_KILL },
    { "get_kernel_syms", SET_OBSOLETE, DENY_KILL },
    { "query_module", SET_OBSOLETE, DENY_KILL },
    { "readdir", SET_OBSOLETE, DENY_KILL },
    { "sgetmask", SET_OBSOLETE, DENY_KILL },
    { "ssetmask", SET_OBSOLETE, DENY_KILL },
    { "sysfs", SET_OBSOLETE, DENY_KILL },
    { "uselib", SET_OBSOLETE, DENY_KILL },
    { "ustat", SET_OBSOLETE, DENY_KILL },

    { "setfsgid", SET_PRIVILEGED, DENY_KILL },
    { "setfsuid", SET_PRIVILEGED, DENY_KILL },
    { "setgid", SET_PRIVILEGED, DENY_KILL },
    { "setpgid", SET_PRIVILEGED, DENY_KILL },
    { "setregid", SET_PRIVILEGED, DENY_KILL },
    { "setresgid", SET_PRIVILEGED, DENY_KILL },
    { "setresuid", SET_PRIVILEGED, DENY_KILL },
    { "setreuid", SET_PRIVILEGED, DENY_KILL },
    { "setsid", SET_PRIVILEGED, DENY_KILL },
    { "setuid", SET_PRIVILEGED, DENY_KILL },

    /* clone: only with arguments, see add_clone_rules() */
    { "clone3", SET_SPAWN, DENY_ENOSYS },
    { "execve", SET_SPAWN, DENY_KILL },
    { "execveat", SET_SPAWN, DENY_KILL },
    { "fork", SET_SPAWN, DENY_KILL },
    { "setns", SET_SPAWN, DENY_KILL },
    { "unshare", SET_SPAWN, DENY_KILL },
    { "vfork", SET_SPAWN, DENY_KILL },

    /* sched_setscheduler: only with arguments, see install_filter() */
    { "sched_setaffinity", SET_RESOURCECTL, DENY_EPERM },
    { "sched_setparam", SET_RESOURCECTL, DENY_EPERM },
    { "setpriority", SET_RESOURCECTL, DENY_EPERM },
};

/*
 * What a SIGSYS handler may read: the syscalls that kill, by number.
 * Filled before the filter is loaded, read-only afterwards.
 */
typedef struct {
    int nr;
    const char *name;
    SandboxSet set;
} TrapEntry;

static TrapEntry trap_table[G_N_ELEMENTS(deny_rules) + 1];
static unsigned int trap_count;
static bool spawn_denied;

/* ---- parsing ------------------------------------------------------------ */

/* One of QEMU's allow/deny keys; QEMU's message for anything else. */
static bool parse_allow_deny(KeyvalList *kv, const char *key, bool *deny,
                             GError **errp)
{
    const char *v = keyval_get_str(kv, key);

    if (!v) {
        return true;
    }
    if (g_str_equal(v, "deny") || g_str_equal(v, "allow")) {
        *deny = g_str_equal(v, "deny");
        return true;
    }
    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                "invalid argument for %s", key);
    return false;
}

bool sandbox_parse(const char *arg, SandboxConfig *out, GError **errp)
{
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "enable", errp);
    SandboxConfig sb = { .obsolete = true };
    const char *priv;

    if (!kv || !keyval_get_bool(kv, "enable", false, &sb.enable, errp) ||
        !parse_allow_deny(kv, "obsolete", &sb.obsolete, errp) ||
        !parse_allow_deny(kv, "spawn", &sb.spawn, errp) ||
        !parse_allow_deny(kv, "resourcecontrol", &sb.resourcecontrol,
                          errp)) {
        return false;
    }
    priv = keyval_get_str(kv, "elevateprivileges");
    if (!priv || g_str_equal(priv, "allow")) {
        sb.elevate = SANDBOX_PRIV_ALLOW;
    } else if (g_str_equal(priv, "deny")) {
        sb.elevate = SANDBOX_PRIV_DENY;
    } else if (g_str_equal(priv, "children")) {
        sb.elevate = SANDBOX_PRIV_CHILDREN;
    } else {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "invalid argument for elevateprivileges");
        return false;
    }
    if (!keyval_check_unused(kv, errp)) {
        return false;
    }
    *out = sb;
    return true;
}

bool sandbox_parse_user(const char *spec, VmConfig *cfg, GError **errp)
{
    struct passwd *pw = getpwnam(spec);
    unsigned int uid, gid;
    char extra;

    g_clear_pointer(&cfg->runas, g_free);
    g_clear_pointer(&cfg->runas_user, g_free);
    if (pw) {
        cfg->runas_user = g_strdup(pw->pw_name);
        cfg->runas_uid = pw->pw_uid;
        cfg->runas_gid = pw->pw_gid;
    } else if (sscanf(spec, "%u:%u%c", &uid, &gid, &extra) == 2) {
        cfg->runas_uid = uid;
        cfg->runas_gid = gid;
    } else {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "User \"%s\" doesn't exist", spec);
        return false;
    }
    cfg->runas = g_strdup(spec);
    return true;
}

bool sandbox_check_chroot(const char *dir, GError **errp)
{
    struct stat st;

    if (stat(dir, &st) < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "cannot chroot to '%s': %s", dir, g_strerror(errno));
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "cannot chroot to '%s': not a directory", dir);
        return false;
    }
    return true;
}

/* ---- the SIGSYS report -------------------------------------------------- */

static void put(const char *s)
{
    if (write(STDERR_FILENO, s, strlen(s)) < 0) {
        /* nowhere else to say it */
    }
}

/* Async-signal-safe: no stdio, no allocation. */
static void on_sigsys(int signo, siginfo_t *si, void *uctx)
{
    const char *name = NULL, *option = "on";
    char num[16];
    int nr = si->si_syscall;
    unsigned int n = 0, v = nr < 0 ? 0 : (unsigned int)nr;
    struct sigaction dfl = { .sa_handler = SIG_DFL };
    sigset_t set;

    for (unsigned int i = 0; i < trap_count; i++) {
        if (trap_table[i].nr == nr) {
            name = trap_table[i].name;
            option = set_option[trap_table[i].set];
            break;
        }
    }
    do {
        num[sizeof(num) - 2 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && n < sizeof(num) - 2);
    num[sizeof(num) - 1] = '\0';

    put("kestrel: -sandbox: system call ");
    put(name ? name : "?");
    put(" (");
    put(&num[sizeof(num) - 1 - n]);
    put(") is forbidden by -sandbox ");
    put(option);
    put("; terminating with SIGSYS\n");

    /* Die of the signal itself, as QEMU's kill would: the parent sees
     * WTERMSIG == SIGSYS. No core file (main() set RLIMIT_CORE to 0). */
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGSYS, &dfl, NULL);
    sigemptyset(&set);
    sigaddset(&set, SIGSYS);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    raise(SIGSYS);
    _exit(128 + SIGSYS);
}

/* ---- the filter --------------------------------------------------------- */

static bool set_denied(const SandboxConfig *sb, SandboxSet set)
{
    switch (set) {
    case SET_DEFAULT:
        return true;
    case SET_OBSOLETE:
        return sb->obsolete;
    case SET_PRIVILEGED:
        return sb->elevate != SANDBOX_PRIV_ALLOW;
    case SET_SPAWN:
        return sb->spawn;
    case SET_RESOURCECTL:
        return sb->resourcecontrol;
    }
    return false;
}

static uint32_t deny_action(DenyAction a)
{
    switch (a) {
    case DENY_EPERM:
        return SCMP_ACT_ERRNO(EPERM);
    case DENY_ENOSYS:
        return SCMP_ACT_ERRNO(ENOSYS);
    case DENY_KILL:
    default:
        return SCMP_ACT_TRAP;
    }
}

static bool rule_failed(int rc, const char *name, GError **errp)
{
    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                "failed to add the seccomp rule for %s: %s", name,
                g_strerror(-rc));
    return false;
}

/*
 * clone makes a thread or a process depending on its flags, which the
 * filter can read (unlike clone3's). A thread of ours has CLONE_THREAD
 * (which implies a shared address space and signal handlers) and none of
 * the flags that make new namespaces, a vfork, a traced or reparented
 * child or a pidfd. Rules for one syscall are alternatives: one rule per
 * condition that makes the call a spawn.
 */
static bool add_clone_rules(scmp_filter_ctx ctx, GError **errp)
{
    static const unsigned long forbidden[] = {
        CLONE_VFORK, CLONE_PARENT, CLONE_PTRACE, CLONE_UNTRACED,
        CLONE_PIDFD, CLONE_IO, CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS,
        CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
    };
    int nr = SCMP_SYS(clone);
    int rc;

    /* x86-64's clone takes its flags as the first argument */
    rc = seccomp_rule_add(ctx, SCMP_ACT_TRAP, nr, 1,
                          SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0));
    if (rc < 0) {
        return rule_failed(rc, "clone", errp);
    }
    for (unsigned int i = 0; i < G_N_ELEMENTS(forbidden); i++) {
        rc = seccomp_rule_add(ctx, SCMP_ACT_TRAP, nr, 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, forbidden[i],
                                      forbidden[i]));
        if (rc < 0) {
            return rule_failed(rc, "clone", errp);
        }
    }
    trap_table[trap_count++] = (TrapEntry) { nr, "clone", SET_SPAWN };
    return true;
}

static bool install_filter(const SandboxConfig *sb, GError **errp)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    struct sigaction sa = { .sa_sigaction = on_sigsys,
                            .sa_flags = SA_SIGINFO };
    bool ok = false;
    int rc;

    if (!ctx) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "failed to initialize seccomp context");
        return false;
    }
    rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    if (rc < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "failed to set seccomp thread synchronization: %s",
                    g_strerror(-rc));
        goto out;
    }
    trap_count = 0;
    for (unsigned int i = 0; i < G_N_ELEMENTS(deny_rules); i++) {
        const DenyRule *r = &deny_rules[i];
        int nr = seccomp_syscall_resolve_name(r->name);

        if (!set_denied(sb, r->set) || nr == __NR_SCMP_ERROR) {
            continue;
        }
        rc = seccomp_rule_add(ctx, deny_action(r->action), nr, 0);
        if (rc < 0) {
            rule_failed(rc, r->name, errp);
            goto out;
        }
        if (r->action == DENY_KILL && nr >= 0) {
            trap_table[trap_count++] = (TrapEntry) { nr, r->name, r->set };
        }
    }
    if (sb->spawn && !add_clone_rules(ctx, errp)) {
        goto out;
    }
    /* SCHED_IDLE only lowers a thread's priority: allowed, as in QEMU. */
    rc = sb->resourcecontrol ?
        seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
                         SCMP_SYS(sched_setscheduler), 1,
                         SCMP_A1(SCMP_CMP_NE, SCHED_IDLE)) : 0;
    if (rc < 0) {
        rule_failed(rc, "sched_setscheduler", errp);
        goto out;
    }
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, NULL) < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "cannot handle SIGSYS: %s", g_strerror(errno));
        goto out;
    }
    if (sb->elevate == SANDBOX_PRIV_CHILDREN &&
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "failed to set no_new_privs: %s", g_strerror(errno));
        goto out;
    }
    rc = seccomp_load(ctx);
    if (rc < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "failed to load seccomp syscall filter in kernel: %s",
                    g_strerror(-rc));
        goto out;
    }
    spawn_denied = sb->spawn;
    ok = true;

 out:
    seccomp_release(ctx);
    return ok;
}

/* ---- root directory and user ------------------------------------------- */

static bool change_user(const VmConfig *cfg, gid_t *groups, int ngroups,
                        GError **errp)
{
    if (setgroups((size_t)ngroups, groups) < 0 ||
        setgid(cfg->runas_gid) < 0 || setuid(cfg->runas_uid) < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "cannot run as user '%s': %s", cfg->runas,
                    g_strerror(errno));
        return false;
    }
    /* Once not root, there must be no way back. */
    if (cfg->runas_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "cannot run as user '%s': root could be regained",
                    cfg->runas);
        return false;
    }
    /* Changing uid away from 0 cleared the permitted and effective
     * capabilities; ambient ones could survive an exec. */
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    return true;
}

bool sandbox_enter(const VmConfig *cfg, GError **errp)
{
    g_autofree gid_t *groups = NULL;
    int ngroups = 0;

    /* The group database is read before chroot hides it. */
    if (cfg->runas && cfg->runas_user) {
        ngroups = 16;
        groups = g_new(gid_t, ngroups);
        if (getgrouplist(cfg->runas_user, cfg->runas_gid, groups,
                         &ngroups) < 0) {
            groups = g_renew(gid_t, groups, ngroups);
            if (getgrouplist(cfg->runas_user, cfg->runas_gid, groups,
                             &ngroups) < 0) {
                g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                            "cannot list the groups of user '%s'",
                            cfg->runas);
                return false;
            }
        }
    }
    if (cfg->chroot_dir &&
        (chroot(cfg->chroot_dir) < 0 || chdir("/") < 0)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "cannot chroot to '%s': %s", cfg->chroot_dir,
                    g_strerror(errno));
        return false;
    }
    if (cfg->runas && !change_user(cfg, groups, ngroups, errp)) {
        return false;
    }
    return !cfg->sandbox.enable || install_filter(&cfg->sandbox, errp);
}

bool sandbox_spawn_denied(void)
{
    return spawn_denied;
}

/* ---- the test probe ----------------------------------------------------- */

static gpointer probe_call(gpointer opaque)
{
    const char *group = opaque;
    long rc = -1;

    errno = EINVAL;
    if (g_str_equal(group, "on")) {
        rc = syscall(SYS_syslog, 10, NULL, 0);  /* the buffer's size */
    } else if (g_str_equal(group, "obsolete")) {
        char buf[64];

        rc = syscall(SYS_ustat, 0, buf);        /* fails: no device 0 */
    } else if (g_str_equal(group, "elevateprivileges")) {
        /* the raw call: glibc's setuid would broadcast to every thread */
        rc = syscall(SYS_setuid, getuid());
    } else if (g_str_equal(group, "spawn")) {
        pid_t pid = fork();

        if (pid == 0) {
            _exit(0);
        }
        rc = pid < 0 ? -1 : waitpid(pid, NULL, 0) < 0 ? -1 : 0;
    } else if (g_str_equal(group, "resourcecontrol")) {
        errno = 0;
        rc = getpriority(PRIO_PROCESS, 0);
        rc = errno ? -1 : setpriority(PRIO_PROCESS, 0, (int)rc);
    }
    return GINT_TO_POINTER(rc < 0 ? (errno ? errno : EINVAL) : 0);
}

char *sandbox_probe(const char *group, bool on_thread)
{
    static const char *const groups[] = {
        "on", "obsolete", "elevateprivileges", "spawn", "resourcecontrol",
        NULL,
    };
    int err;

    if (!g_strv_contains(groups, group)) {
        return g_strdup("FAIL unknown sandbox group\n");
    }
    if (on_thread) {
        GThread *t = g_thread_new("sandbox-probe", probe_call,
                                  (gpointer)group);

        err = GPOINTER_TO_INT(g_thread_join(t));
    } else {
        err = GPOINTER_TO_INT(probe_call((gpointer)group));
    }
    return err ? g_strdup_printf("OK %s\n", g_strerror(err))
               : g_strdup("OK 0\n");
}
