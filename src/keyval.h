/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * keyval: QEMU's "key=value,key2=value2" option strings (QemuOpts rules).
 *
 *   - The first item may omit its key when the option has an implied one:
 *     "-m 1G" is size=1G, "-device virtio-balloon-pci,id=b" is driver=...
 *   - ",," inside a value is a literal comma.
 *   - A bare "key" means key=on and "nokey" means key=off ("server,nowait").
 *   - A key given twice keeps both; the getters return the last one, as QEMU
 *     does ("-smp cpus=2,cpus=3" is 3 CPUs).
 *   - A JSON object ('{"driver":"virtio-balloon-pci","id":"b0"}') gives the
 *     same list; nested members are flattened with dots ("a":{"b":1} is
 *     a.b=1), scalars become strings (true is "on", false is "off").
 *
 * Every getter marks its key as used; keyval_check_unused() then fails with
 * "Invalid parameter 'foo'" for the first key nobody asked for, so an option
 * handler never ignores a key silently.
 *
 * Error messages follow QEMU's wording: "Parameter 'wait' expects 'on' or
 * 'off'", "Value '16E' is out of range for parameter 'size'".
 */
#ifndef KESTREL_KEYVAL_H
#define KESTREL_KEYVAL_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct KeyvalList KeyvalList;

/*
 * Parse @str. @implied_key names the first item when it has no '='
 * (NULL: such an item is a boolean flag). Returns the list (possibly empty),
 * or NULL with @errp set for an empty key ("=x" or "a=1,=2").
 */
KeyvalList *keyval_parse(const char *str, const char *implied_key,
                         GError **errp);

/*
 * Parse @str as a JSON object (the -device '{...}' form). Returns NULL with
 * @errp set if it is not valid JSON, not an object, or holds a null.
 */
KeyvalList *keyval_parse_json(const char *str, GError **errp);

void keyval_list_free(KeyvalList *kv);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KeyvalList, keyval_list_free)

/* Number of items, duplicates included. */
guint keyval_length(const KeyvalList *kv);

/* Whether @key was given at all (does not mark it used). */
bool keyval_has(const KeyvalList *kv, const char *key);

/* The last value of @key, or NULL; marks @key used. */
const char *keyval_get_str(KeyvalList *kv, const char *key);

/*
 * Typed getters: when @key is absent, store @def and return true. Mark
 * @key used. On a bad value return false with @errp set (the message names
 * @key). Booleans take on/off and the legacy yes/no, true/false, y/n.
 * Sizes take a number with an optional suffix (see keyval_parse_size).
 * Numbers are decimal, 0x hexadecimal or 0 octal, and at most @max.
 */
bool keyval_get_bool(KeyvalList *kv, const char *key, bool def, bool *out,
                     GError **errp);
bool keyval_get_size(KeyvalList *kv, const char *key, uint64_t def,
                     uint64_t *out, GError **errp);
bool keyval_get_uint(KeyvalList *kv, const char *key, uint64_t def,
                     uint64_t max, uint64_t *out, GError **errp);

/*
 * Move every key not yet used into a new table (key -> last value, both
 * owned by the table) and mark them used. For -device, whose properties are
 * checked later by the device itself.
 */
GHashTable *keyval_take_unused(KeyvalList *kv);

/* The first key not yet used, or NULL. */
const char *keyval_first_unused(const KeyvalList *kv);

/* Fail with "Invalid parameter 'KEY'" for the first unused key. */
bool keyval_check_unused(const KeyvalList *kv, GError **errp);

/* Conversions on their own, for values that are not in a list. @key only
 * names the parameter in messages. */
bool keyval_parse_bool(const char *key, const char *value, bool *out,
                       GError **errp);
bool keyval_parse_uint(const char *key, const char *value, uint64_t max,
                       uint64_t *out, GError **errp);
/*
 * A size: decimal or 0x hexadecimal digits, an optional fraction (only with
 * a suffix, e.g. 1.5G), an optional suffix b/B (bytes) or k/K, m/M, g/G,
 * t/T, p/P, e/E (powers of 1024). Without a suffix the number is multiplied
 * by @default_unit (1 for bytes; -m passes 1 MiB). Sizes of 2^64 or more
 * are out of range.
 */
bool keyval_parse_size(const char *key, const char *value,
                       uint64_t default_unit, uint64_t *out, GError **errp);

/* "help" or "?", as QEMU spells a request for a list. */
bool keyval_is_help(const char *value);

#endif /* KESTREL_KEYVAL_H */
