/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Proof that a process is a domain's VMM (process-ident.h), from /proc.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "process-ident.h"

G_DEFINE_QUARK(process-ident-error-quark, process_ident_error)

bool process_ident_start_time(pid_t pid, guint64 *ticks)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *stat = NULL;
    g_auto(GStrv) fields = NULL;
    const char *p;

    if (pid <= 0 || !g_file_get_contents(path, &stat, NULL, NULL)) {
        return false;
    }
    /* "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses,
     * so count from the last ')'; STATE is field 3, starttime field 22. */
    p = strrchr(stat, ')');
    if (!p || p[1] != ' ') {
        return false;
    }
    fields = g_strsplit(p + 2, " ", 21);
    if (g_strv_length(fields) < 20) {
        return false;
    }
    *ticks = g_ascii_strtoull(fields[19], NULL, 10);
    return *ticks != 0;
}

/* The binary @pid runs; " (deleted)" is dropped (an upgrade replaced the
 * file, the process is still what it was). */
static char *process_ident_exe(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/exe", (int)pid);
    char *exe = g_file_read_link(path, NULL);

    if (exe && g_str_has_suffix(exe, " (deleted)")) {
        exe[strlen(exe) - strlen(" (deleted)")] = '\0';
    }
    return exe;
}

/* True if @argv (NUL-separated, @len bytes) has @opt followed by exactly
 * @value. */
static bool process_ident_has_arg(const char *argv, gsize len,
                                  const char *opt, const char *value)
{
    const char *end = argv + len;
    const char *prev = NULL;

    for (const char *a = argv; a < end; a += strlen(a) + 1) {
        if (prev && g_str_equal(prev, opt) && g_str_equal(a, value)) {
            return true;
        }
        prev = a;
    }
    return false;
}

bool process_ident_verify(const ProcessIdent *want, GError **errp)
{
    g_autofree char *path = NULL;
    g_autofree char *argv = NULL;
    g_autofree char *exe = NULL;
    g_autofree char *name_arg = NULL;
    g_autofree char *mon_arg = NULL;
    char emulator[PATH_MAX];
    guint64 ticks;
    gsize len;

    if (want->pid <= 1 || !process_ident_start_time(want->pid, &ticks)) {
        g_set_error(errp, PROCESS_IDENT_ERROR, ESRCH,
                    "process %d does not exist", (int)want->pid);
        return false;
    }
    if (want->start_time && ticks != want->start_time) {
        g_set_error(errp, PROCESS_IDENT_ERROR, EPERM,
                    "process %d started at tick %" G_GUINT64_FORMAT
                    ", not at %" G_GUINT64_FORMAT " as recorded: it is "
                    "another process", (int)want->pid, ticks,
                    want->start_time);
        return false;
    }
    exe = process_ident_exe(want->pid);
    if (!realpath(want->emulator, emulator)) {
        g_strlcpy(emulator, want->emulator, sizeof(emulator));
    }
    if (!exe || !g_str_equal(exe, emulator)) {
        g_set_error(errp, PROCESS_IDENT_ERROR, EPERM,
                    "process %d runs '%s', not the emulator '%s'",
                    (int)want->pid, exe ? exe : "(unknown)", emulator);
        return false;
    }
    path = g_strdup_printf("/proc/%d/cmdline", (int)want->pid);
    if (!g_file_get_contents(path, &argv, &len, NULL)) {
        len = 0;
    }
    name_arg = domain_command_name_arg(want->name);
    mon_arg = domain_command_monitor_arg(want->qmp_path);
    if (!argv || !process_ident_has_arg(argv, len, "-name", name_arg)) {
        g_set_error(errp, PROCESS_IDENT_ERROR, EPERM,
                    "process %d is not domain '%s': its command line has no "
                    "-name %s", (int)want->pid, want->name, name_arg);
        return false;
    }
    if (!process_ident_has_arg(argv, len, "-chardev", mon_arg)) {
        g_set_error(errp, PROCESS_IDENT_ERROR, EPERM,
                    "process %d does not serve the monitor socket '%s'",
                    (int)want->pid, want->qmp_path);
        return false;
    }
    return true;
}
