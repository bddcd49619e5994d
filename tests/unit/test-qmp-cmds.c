/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The VMM's QMP command table agrees with schemas/, in both directions. */
#include <glib.h>

#include "qmp-cmds.h"
#include "qmp-dispatch.h"
#include "qmp-schema.h"

static void test_table_matches_schema(void)
{
    g_autoptr(GError) err = NULL;
    size_t n;
    const QmpCommand *table = qmp_cmds_table(&n);

    g_assert_true(qmp_dispatch_check_table(qmp_schema_get_default(), table,
                                           n, &err));
    g_assert_no_error(err);
}

static void test_every_handler_named_in_schema(void)
{
    const QmpSchema *schema = qmp_schema_get_default();
    size_t n;
    const QmpCommand *table = qmp_cmds_table(&n);

    for (size_t i = 0; i < n; i++) {
        g_assert_true(qmp_schema_has_command(schema, table[i].name));
        if (i > 0) {
            g_assert_cmpstr(table[i - 1].name, <, table[i].name);
        }
    }
    /* And every event the VMM emits is declared. */
    g_assert_true(qmp_schema_has_event(schema, "SHUTDOWN"));
    g_assert_true(qmp_schema_has_event(schema, "RESET"));
    g_assert_true(qmp_schema_has_event(schema, "POWERDOWN"));
    g_assert_true(qmp_schema_has_event(schema, "STOP"));
    g_assert_true(qmp_schema_has_event(schema, "RESUME"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qmp-cmds/table-matches-schema",
                    test_table_matches_schema);
    g_test_add_func("/qmp-cmds/handlers-in-schema",
                    test_every_handler_named_in_schema);
    return g_test_run();
}
