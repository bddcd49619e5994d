/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Rotating log files (src/logfile.c): the cap, the backups, their order,
 * and kestrel's stderr copied through one with nothing lost at exit.
 */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "logfile.h"

static char *tmpdir(void)
{
    g_autoptr(GError) err = NULL;
    char *dir = g_dir_make_tmp("kestrel-logfile-XXXXXX", &err);

    g_assert_no_error(err);
    return dir;
}

static void rmtree(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *ent;

    while (d && (ent = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, ent, NULL);

        g_unlink(p);
    }
    g_rmdir(dir);
}

static char *slurp(const char *path)
{
    char *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return NULL;
    }
    return text;
}

/* 7000 bytes through a 1000-byte log with 3 backups: the last 4000 stay,
 * in order, in log.2 log.1 log.0 log; nothing older. */
static void test_rotation(void)
{
    g_autofree char *dir = tmpdir();
    g_autofree char *path = g_build_filename(dir, "tg.log", NULL);
    g_autoptr(GString) all = g_string_new("");
    g_autoptr(GString) kept = g_string_new("");
    g_autoptr(GError) err = NULL;
    g_autoptr(LogFile) lf = logfile_open(path, 1000, 3, &err);
    struct stat st;

    g_assert_no_error(err);
    for (int i = 0; all->len < 7000; i++) {
        g_autofree char *line = g_strdup_printf("line %05d %0*d\n", i, 58, i);

        g_assert_cmpuint(strlen(line), ==, 70);
        g_assert_true(logfile_write(lf, line, strlen(line), &err));
        g_assert_no_error(err);
        g_string_append(all, line);
    }
    g_assert_cmpuint(all->len, ==, 7000);
    for (int i = 2; i >= -1; i--) {
        g_autofree char *p = i < 0 ? g_strdup(path)
                           : g_strdup_printf("%s.%d", path, i);
        g_autofree char *text = slurp(p);

        g_assert_nonnull(text);
        g_assert_cmpuint(strlen(text), ==, 1000);
        g_string_append(kept, text);
        g_assert_cmpint(stat(p, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 0777, ==, 0600);
    }
    {
        g_autofree char *p3 = g_strdup_printf("%s.3", path);

        g_assert_false(g_file_test(p3, G_FILE_TEST_EXISTS));
    }
    g_assert_cmpstr(kept->str, ==, all->str + 3000);
    g_clear_pointer(&lf, logfile_close);
    rmtree(dir);
}

/* A file already full when opened (a daemon restart, a new start) is
 * rotated before anything more goes in. */
static void test_full_at_open(void)
{
    g_autofree char *dir = tmpdir();
    g_autofree char *path = g_build_filename(dir, "tg.log", NULL);
    g_autofree char *old = g_strnfill(100, 'x');
    g_autofree char *p0 = g_strdup_printf("%s.0", path);
    g_autofree char *now = NULL;
    g_autofree char *before = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(LogFile) lf = NULL;

    g_assert_true(g_file_set_contents(path, old, -1, NULL));
    lf = logfile_open(path, 100, 1, &err);
    g_assert_no_error(err);
    g_assert_true(logfile_write(lf, "new\n", 4, &err));
    now = slurp(path);
    before = slurp(p0);
    g_assert_cmpstr(now, ==, "new\n");
    g_assert_cmpstr(before, ==, old);
    g_clear_pointer(&lf, logfile_close);
    rmtree(dir);
}

#define STDERR_LINES 80000      /* of 64 bytes: 5,120,000 bytes */
#define STDERR_LINE "kestrel: guest driver error %08d, again: %18d\n"

/* kestrel -D: everything written to stderr, also in the instant before
 * exit, lands in the rotated files, and they stay capped. */
static void test_stderr_copy(void)
{
    g_autofree char *dir = NULL;
    g_autofree char *path = NULL;
    gsize total = 0;

    if (g_test_subprocess()) {
        g_autoptr(GError) err = NULL;

        g_assert_true(logfile_redirect_stderr(g_getenv("TEST_LOGFILE"),
                                              &err));
        logfile_start_copier();
        for (int i = 0; i < STDERR_LINES; i++) {
            fprintf(stderr, STDERR_LINE, i, i);
        }
        exit(0);
    }
    dir = tmpdir();
    path = g_build_filename(dir, "tg.log", NULL);
    g_setenv("TEST_LOGFILE", path, TRUE);
    g_test_trap_subprocess(NULL, 60 * G_USEC_PER_SEC, 0);
    g_test_trap_assert_passed();
    for (int i = -1; i < LOGFILE_MAX_BACKUPS; i++) {
        g_autofree char *p = i < 0 ? g_strdup(path)
                           : g_strdup_printf("%s.%d", path, i);
        struct stat st;

        if (stat(p, &st) == 0) {
            g_assert_cmpint(st.st_size, <=, LOGFILE_MAX_SIZE);
            total += st.st_size;
        }
    }
    /* 5,120,000 bytes fit in the log and its backups (8 MiB): all kept */
    g_assert_cmpuint(total, ==, (gsize)STDERR_LINES * 64);
    {
        g_autofree char *last = slurp(path);
        g_autofree char *want = g_strdup_printf(STDERR_LINE,
                                                STDERR_LINES - 1,
                                                STDERR_LINES - 1);

        g_assert_cmpuint(strlen(want), ==, 64);
        g_assert_nonnull(last);
        g_assert_true(g_str_has_suffix(last, want));
    }
    rmtree(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/logfile/rotation", test_rotation);
    g_test_add_func("/logfile/full-at-open", test_full_at_open);
    g_test_add_func("/logfile/stderr-copy", test_stderr_copy);
    return g_test_run();
}
