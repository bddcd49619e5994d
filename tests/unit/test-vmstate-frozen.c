/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The migration format is frozen in schemas/vmstate.json: any change to a
 * state table or to the stream's record types fails here until the file
 * is regenerated on purpose (kestrel -dump-vmstate schemas/vmstate.json),
 * which is the moment to bump the section's version.
 */
#include <string.h>

#include "migration/describe.h"

static void test_frozen(void)
{
    const char *srcdir = g_getenv("KESTREL_SRCDIR");
    g_autofree char *path = g_build_filename(srcdir ? srcdir : ".",
                                             "schemas", "vmstate.json", NULL);
    g_autofree char *frozen = NULL;
    g_autofree char *now = migration_describe();
    g_autoptr(GError) err = NULL;

    g_assert_true(g_file_get_contents(path, &frozen, NULL, &err));
    g_assert_no_error(err);
    if (strcmp(frozen, now)) {
        g_autofree char *tmp = g_build_filename(g_get_tmp_dir(),
                                                "vmstate.now.json", NULL);

        g_file_set_contents(tmp, now, -1, NULL);
        g_test_message("the migration format differs from %s (now in "
                       "%s): if that is intended, bump the section "
                       "version and run kestrel -dump-vmstate %s", path,
                       tmp, path);
        g_test_fail();
    }
}

static void test_names_unique(void)
{
    g_autofree char *now = migration_describe();
    g_autoptr(JsonParser) p = json_parser_new();
    JsonArray *secs;
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);

    g_assert_true(json_parser_load_from_data(p, now, -1, NULL));
    secs = json_object_get_array_member(
        json_node_get_object(json_parser_get_root(p)), "sections");
    g_assert_cmpuint(json_array_get_length(secs), >=, 8);
    for (guint i = 0; i < json_array_get_length(secs); i++) {
        const char *name = json_object_get_string_member(
            json_array_get_object_element(secs, i), "name");

        g_assert_false(g_hash_table_contains(seen, name));
        g_hash_table_add(seen, (gpointer)name);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vmstate/frozen", test_frozen);
    g_test_add_func("/vmstate/names-unique", test_names_unique);
    return g_test_run();
}
