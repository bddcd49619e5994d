/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * process-ident.c: a process is a domain's VMM only if start time,
 * emulator, -name and monitor socket all match, exactly.  The "VMM" here
 * is this test program started again with a VMM's arguments.
 */
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "process-ident.h"

static char self_exe[PATH_MAX];

static pid_t spawn_vmm(void)
{
    pid_t pid = fork();

    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        execl(self_exe, self_exe, "--pretend-vmm",
              "-name", "guest=tg,,x,debug-threads=on",
              "-chardev", "socket,id=charmonitor,path=/run/k/tg,,x.qmp,"
              "server=on,wait=off", (char *)NULL);
        _exit(127);
    }
    /* until it has exec'd: /proc/PID/exe is ours either way, the
     * command line is not */
    for (int i = 0; i < 500; i++) {
        g_autofree char *path = g_strdup_printf("/proc/%d/cmdline", pid);
        g_autofree char *cmd = NULL;
        gsize len = 0;

        if (g_file_get_contents(path, &cmd, &len, NULL) &&
            memmem(cmd, len, "--pretend-vmm", 13)) {
            break;
        }
        g_usleep(10000);
    }
    return pid;
}

static void reap(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void test_start_time(void)
{
    guint64 a = 0, b = 0;

    g_assert_true(process_ident_start_time(getpid(), &a));
    g_assert_true(process_ident_start_time(getpid(), &b));
    g_assert_cmpuint(a, >, 0);
    g_assert_cmpuint(a, ==, b);
    g_assert_false(process_ident_start_time(0, &a));
    g_assert_false(process_ident_start_time(-1, &a));
}

static void test_verify(void)
{
    pid_t pid = spawn_vmm();
    guint64 start = 0;
    ProcessIdent want = {
        .pid = pid,
        .emulator = self_exe,
        .name = "tg,x",
        .qmp_path = "/run/k/tg,x.qmp",
    };
    ProcessIdent bad;
    g_autoptr(GError) err = NULL;

    g_assert_true(process_ident_start_time(pid, &start));
    want.start_time = start;
    g_assert_true(process_ident_verify(&want, &err));
    g_assert_no_error(err);

    /* a status file from before start times were recorded */
    bad = want;
    bad.start_time = 0;
    g_assert_true(process_ident_verify(&bad, &err));

    bad = want;
    bad.start_time = start + 1;
    g_assert_false(process_ident_verify(&bad, &err));
    g_assert_nonnull(strstr(err->message, "not at"));
    g_clear_error(&err);

    bad = want;
    bad.emulator = "/bin/sleep";
    g_assert_false(process_ident_verify(&bad, &err));
    g_assert_nonnull(strstr(err->message, "not the emulator"));
    g_clear_error(&err);

    /* no substring matches: "tg" is in "tg,x", "t" in both */
    bad = want;
    bad.name = "tg";
    g_assert_false(process_ident_verify(&bad, &err));
    g_assert_nonnull(strstr(err->message, "is not domain 'tg'"));
    g_clear_error(&err);

    bad = want;
    bad.qmp_path = "/run/k/tg";
    g_assert_false(process_ident_verify(&bad, &err));
    g_assert_nonnull(strstr(err->message, "does not serve the monitor"));
    g_clear_error(&err);

    reap(pid);
    g_assert_false(process_ident_verify(&want, &err));
    g_assert_error(err, PROCESS_IDENT_ERROR, ESRCH);
}

int main(int argc, char **argv)
{
    if (argc > 1 && g_str_equal(argv[1], "--pretend-vmm")) {
        pause();
        return 0;
    }
    g_assert_nonnull(realpath("/proc/self/exe", self_exe));
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/process-ident/start-time", test_start_time);
    g_test_add_func("/process-ident/verify", test_verify);
    return g_test_run();
}
