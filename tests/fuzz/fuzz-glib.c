/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Linked into every fuzz target that run.sh builds with -Wl,--wrap:
 * json-glib 1.6 (Debian 12) leaks the values it parsed when a document
 * has more after its first value ('true{"a":1}'); that is json-glib's
 * bug, not kestrel's, and LeakSanitizer cannot be told so by a
 * suppression (its fast unwinder stops in libglib). So what the parser
 * allocates is left out of leak checks; kestrel's own trees (copies,
 * new nodes, the parser object itself) still are checked.
 */
#include <sanitizer/lsan_interface.h>
#include <json-glib/json-glib.h>

gboolean __real_json_parser_load_from_data(JsonParser *parser,
                                           const gchar *data, gssize length,
                                           GError **error);
gboolean __wrap_json_parser_load_from_data(JsonParser *parser,
                                           const gchar *data, gssize length,
                                           GError **error);

gboolean __wrap_json_parser_load_from_data(JsonParser *parser,
                                           const gchar *data, gssize length,
                                           GError **error)
{
    gboolean ok;

    __lsan_disable();
    ok = __real_json_parser_load_from_data(parser, data, length, error);
    __lsan_enable();
    return ok;
}
