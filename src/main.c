/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kestrel: parse the command line, build the VM, run the main loop.
 * Exit status as QEMU's: 0 when the guest powers off (or a signal or
 * quit ends us), 1 on any error, with one line on stderr saying why.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chardev.h"
#include "cmdline.h"
#include "error.h"
#include "logfile.h"
#include "migration/migration.h"
#include "monitor.h"
#include "qtest.h"
#include "sandbox.h"
#include "vm.h"

static int daemon_pipe = -1;
static int daemon_null = -1;   /* opened before -chroot hides /dev */
static bool msg_timestamp;      /* -msg timestamp=on */

/* One diagnostic line on stderr, "kestrel: ...", after the time (UTC,
 * QEMU's format) with -msg timestamp=on. */
static void report(const char *msg, const char *eol)
{
    if (msg_timestamp) {
        g_autoptr(GDateTime) now = g_date_time_new_now_utc();
        g_autofree char *t = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S.%fZ");

        fprintf(stderr, "%s ", t);
    }
    fprintf(stderr, "kestrel: %s%s", msg, eol);
}

static void die(const char *msg)
{
    report(msg, "\n");
    exit(1);
}

/*
 * -daemonize: fork before anything creates KVM state (a VM belongs to the
 * process that created it). The parent waits until the child reports that
 * the VM is set up (sockets listening, pidfile written), then exits 0; if
 * the child fails, it has printed why and the parent exits 1.
 */
static void daemonize_begin(void)
{
    int fds[2];
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) < 0) {
        die("cannot daemonize: pipe failed");
    }
    pid = fork();
    if (pid < 0) {
        die("cannot daemonize: fork failed");
    }
    if (pid > 0) {
        char status = 1;
        ssize_t n;

        close(fds[1]);
        do {
            n = read(fds[0], &status, 1);
        } while (n < 0 && errno == EINTR);
        _exit(n == 1 && status == 0 ? 0 : 1);
    }
    close(fds[0]);
    daemon_pipe = fds[1];
    daemon_null = open("/dev/null", O_RDWR | O_CLOEXEC);
    setsid();
}

static void daemonize_finish(bool keep_stderr)
{
    char ok = 0;
    int null = daemon_null;

    if (daemon_pipe < 0) {
        return;
    }
    daemon_null = -1;
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        if (!keep_stderr) {
            dup2(null, STDERR_FILENO);  /* with -D it is the log file */
        }
        close(null);
    }
    if (write(daemon_pipe, &ok, 1) != 1) {
        /* The parent is gone; nothing to tell. */
    }
    close(daemon_pipe);
    daemon_pipe = -1;
}

static bool write_pidfile(const char *path, GError **errp)
{
    g_autofree char *pid = g_strdup_printf("%d\n", (int)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);  /* QEMU's */

    if (fd < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "cannot open pid file '%s': %s", path, g_strerror(errno));
        return false;
    }
    /* Held for our lifetime: a second instance with the same file fails. */
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "cannot lock pid file '%s': another instance is "
                    "running", path);
        close(fd);
        return false;
    }
    if (ftruncate(fd, 0) < 0 ||
        write(fd, pid, strlen(pid)) != (ssize_t)strlen(pid)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "cannot write pid file '%s': %s", path,
                    g_strerror(errno));
        close(fd);
        return false;
    }
    return true;                /* fd stays open: the lock with it */
}

typedef struct {
    Vm *vm;
    int signo;
} SignalCtx;

static gboolean on_terminate_signal(gpointer opaque)
{
    SignalCtx *ctx = opaque;

    g_autofree char *msg = g_strdup_printf("terminating on signal %d",
                                           ctx->signo);

    report(msg, "\n");
    vm_request_shutdown(ctx->vm, SHUTDOWN_CAUSE_HOST_SIGNAL);
    return G_SOURCE_CONTINUE;
}

static void on_console_quit(void *opaque)
{
    Vm *vm = opaque;

    report("terminating on C-a x", "\r\n");
    vm_request_shutdown(vm, SHUTDOWN_CAUSE_HOST_UI);
}

int main(int argc, char **argv)
{
    g_autoptr(VmConfig) cfg = vm_config_new();
    g_autoptr(GError) err = NULL;
    g_autoptr(Vm) vm = NULL;
    Qtest *qtest = NULL;
    SignalCtx sig_term, sig_int, sig_hup;
    struct rlimit no_core = { 0, 0 };
    int action, status;

    /* A failing VMM must not leave multi-GiB core files behind: guest RAM
     * is in our address space. */
    setrlimit(RLIMIT_CORE, &no_core);
    signal(SIGPIPE, SIG_IGN);

    action = cmdline_parse(argc, argv, cfg, stdout, &err);
    if (action < 0) {
        die(err->message);
    }
    if (action == CMDLINE_EXIT) {
        return 0;
    }
    msg_timestamp = cfg->msg_timestamp;
    /* -D: our diagnostics go there from now on, through a copier that
     * rotates the file (a guest must not fill the disk with them). */
    if (cfg->logfile && !logfile_redirect_stderr(cfg->logfile, &err)) {
        die(err->message);
    }
    if (cfg->daemonize) {
        daemonize_begin();
    }
    logfile_start_copier();             /* in the process that goes on */
    vcpu_signals_init();

    vm = vm_new(cfg, &err);
    if (!vm) {
        die(err->message);
    }
    if (cfg->pidfile && !write_pidfile(cfg->pidfile, &err)) {
        die(err->message);
    }
    vm->monitor = monitor_new(vm, &err);
    if (!vm->monitor) {
        die(err->message);
    }
    vm->loop = g_main_loop_new(NULL, FALSE);
    chardev_set_quit_handler(on_console_quit, vm);

    sig_term = (SignalCtx) { vm, SIGTERM };
    sig_int = (SignalCtx) { vm, SIGINT };
    sig_hup = (SignalCtx) { vm, SIGHUP };
    g_unix_signal_add(SIGTERM, on_terminate_signal, &sig_term);
    g_unix_signal_add(SIGINT, on_terminate_signal, &sig_int);
    g_unix_signal_add(SIGHUP, on_terminate_signal, &sig_hup);

    vm->migration = migration_new(vm);
    if (cfg->qtest) {
        qtest = qtest_new(vm, cfg->qtest, &err);
        if (!qtest) {
            die(err->message);
        }
    }
    if ((cfg->incoming_defer || cfg->incoming_uri) &&
        !vm_set_run_state(vm, RUN_STATE_INMIGRATE, &err)) {
        die(err->message);
    }
    if (cfg->incoming_uri &&
        !migration_incoming_start(vm, cfg->incoming_uri, &err)) {
        g_autofree char *msg = g_strdup_printf("-incoming %s: %s",
                                               cfg->incoming_uri,
                                               err->message);

        die(msg);
    }
    /* Everything is open and listening: give up what a running VM does
     * not need (-chroot, -runas, -sandbox) before vCPUs run and before
     * the main loop serves the first client. */
    if (!sandbox_enter(cfg, &err)) {
        die(err->message);
    }
    /* -incoming: the VM runs once the migration is in, not before. */
    if (!cfg->start_paused && !cfg->incoming_defer && !cfg->incoming_uri &&
        !vm_start(vm, &err)) {
        die(err->message);
    }
    daemonize_finish(cfg->logfile != NULL);

    g_main_loop_run(vm->loop);

    status = vm->exit_status;
    /* Join the migration threads before the VM they read goes away. */
    g_clear_pointer(&vm->migration, migration_free);
    g_clear_pointer(&qtest, qtest_free);
    /* The last replies and events (quit, SHUTDOWN) reach the clients. */
    monitor_flush(vm->monitor);
    g_clear_pointer(&vm->monitor, monitor_free);
    g_main_loop_unref(vm->loop);
    vm->loop = NULL;
    g_clear_pointer(&vm, vm_free);
    if (cfg->pidfile) {
        unlink(cfg->pidfile);
    }
    chardev_restore_terminal();
    return status;
}
