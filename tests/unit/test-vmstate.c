/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The VmsDesc engine: round trips, versions, subsections, hostile input. */
#include <stdio.h>
#include <string.h>

#include "cmdline.h"
#include "error.h"
#include "migration/migration.h"
#include "migration/vmstate.h"
#include "vm.h"

typedef struct {
    uint16_t lo;
    uint64_t hi;
} Pair;

typedef struct {
    bool on;
    uint8_t b;
    uint32_t n;
    int64_t neg;
    uint8_t raw[5];
    uint32_t words[3];
    uint32_t nr_pairs;
    Pair pairs[4];
    uint64_t extra;             /* version 2 */
    uint32_t sub_val;           /* subsection */
    bool want_sub;
    int loads;
} Thing;

static const VmsDesc pair_vmsd = {
    .name = "pair", .version = 1, .min_version = 1,
    .fields = (const VmsField[]) {
        VMS_U16(Pair, lo),
        VMS_U64(Pair, hi),
        VMS_END_OF_LIST,
    },
};

static bool thing_sub_needed(void *opaque)
{
    return ((Thing *)opaque)->want_sub;
}

static const VmsDesc thing_sub_vmsd = {
    .name = "thing/sub", .version = 1, .min_version = 1,
    .needed = thing_sub_needed,
    .fields = (const VmsField[]) {
        VMS_U32(Thing, sub_val),
        VMS_END_OF_LIST,
    },
};

static bool thing_post_load(void *opaque, uint32_t version, GError **errp)
{
    Thing *t = opaque;

    (void)version;
    t->loads++;
    if (t->n == 0xdead) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "n is dead");
        return false;
    }
    return true;
}

static const VmsDesc thing_vmsd = {
    .name = "thing", .version = 2, .min_version = 1,
    .post_load = thing_post_load,
    .fields = (const VmsField[]) {
        VMS_BOOL(Thing, on),
        VMS_U8(Thing, b),
        VMS_U32(Thing, n),
        VMS_I64(Thing, neg),
        VMS_U8_ARRAY(Thing, raw, 5),
        VMS_U32_ARRAY(Thing, words, 3),
        VMS_U32(Thing, nr_pairs),
        VMS_STRUCT_VARRAY(Thing, pairs, 4, nr_pairs, pair_vmsd, Pair),
        VMS_U64_V(Thing, extra, 2),
        VMS_END_OF_LIST,
    },
    .subsections = (const VmsDesc *const[]) { &thing_sub_vmsd, NULL },
};

static Thing sample(void)
{
    Thing t = {
        .on = true, .b = 7, .n = 0x12345678, .neg = -5,
        .raw = { 1, 2, 3, 4, 5 }, .words = { 10, 20, 30 }, .nr_pairs = 2,
        .pairs = { { 1, 0x1111222233334444ull }, { 2, 99 } },
        .extra = 42, .sub_val = 77, .want_sub = true,
    };
    return t;
}

static GByteArray *save(Thing *t)
{
    GByteArray *out = g_byte_array_new();
    g_autoptr(GError) err = NULL;

    g_assert_true(vms_save(&thing_vmsd, t, out, &err));
    g_assert_no_error(err);
    return out;
}

static void test_round_trip(void)
{
    Thing t = sample(), u = { 0 };
    g_autoptr(GByteArray) out = save(&t);
    VmsReader r = vms_reader(out->data, out->len);
    g_autoptr(GError) err = NULL;

    g_assert_true(vms_load(&thing_vmsd, &u, &r, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(r.pos, ==, out->len);
    g_assert_true(u.on);
    g_assert_cmpuint(u.b, ==, 7);
    g_assert_cmpuint(u.n, ==, 0x12345678);
    g_assert_cmpint(u.neg, ==, -5);
    g_assert_cmpmem(u.raw, 5, t.raw, 5);
    g_assert_cmpuint(u.words[2], ==, 30);
    g_assert_cmpuint(u.nr_pairs, ==, 2);
    g_assert_cmpuint(u.pairs[0].hi, ==, 0x1111222233334444ull);
    g_assert_cmpuint(u.pairs[1].lo, ==, 2);
    g_assert_cmpuint(u.pairs[2].hi, ==, 0);
    g_assert_cmpuint(u.extra, ==, 42);
    g_assert_cmpuint(u.sub_val, ==, 77);
    g_assert_cmpint(u.loads, ==, 1);
}

static void test_little_endian(void)
{
    Thing t = sample();
    g_autoptr(GByteArray) out = save(&t);

    /* version, bool, u8, then n little-endian */
    g_assert_cmpuint(out->data[0], ==, 2);
    g_assert_cmpuint(out->data[4], ==, 1);
    g_assert_cmpuint(out->data[5], ==, 7);
    g_assert_cmpuint(out->data[6], ==, 0x78);
    g_assert_cmpuint(out->data[9], ==, 0x12);
}

static void test_subsection_not_needed(void)
{
    Thing t = sample(), u = { .sub_val = 5 };
    g_autoptr(GByteArray) with = save(&t);
    g_autoptr(GByteArray) without = NULL;
    VmsReader r;

    t.want_sub = false;
    without = save(&t);
    g_assert_cmpuint(without->len, <, with->len);
    r = vms_reader(without->data, without->len);
    g_assert_true(vms_load(&thing_vmsd, &u, &r, NULL));
    g_assert_cmpuint(u.sub_val, ==, 5);
}

static void expect_error(GByteArray *bytes, const char *part)
{
    Thing u = { 0 };
    VmsReader r = vms_reader(bytes->data, bytes->len);
    g_autoptr(GError) err = NULL;

    g_assert_false(vms_load(&thing_vmsd, &u, &r, &err));
    g_assert_nonnull(err);
    if (!strstr(err->message, part)) {
        g_error("'%s' does not contain '%s'", err->message, part);
    }
}

static void test_versions(void)
{
    Thing t = sample();
    g_autoptr(GByteArray) out = save(&t);

    out->data[0] = 3;
    expect_error(out, "version 3 is too new");
    out->data[0] = 0;
    expect_error(out, "version 0 is too old");
}

static void test_old_version_reads(void)
{
    Thing t = sample(), u = { .extra = 9 };
    g_autoptr(GByteArray) out = save(&t);
    VmsReader r;

    /* A version-1 writer did not have 'extra': cut it out. */
    out->data[0] = 1;
    g_byte_array_remove_range(out, out->len - 8 - (1 + 1 + 9 + 4 + 9 + 1),
                              8);
    r = vms_reader(out->data, out->len);
    g_assert_true(vms_load(&thing_vmsd, &u, &r, NULL));
    g_assert_cmpuint(u.extra, ==, 9);
    g_assert_cmpuint(u.sub_val, ==, 77);
}

static void test_hostile(void)
{
    Thing t = sample();
    g_autoptr(GByteArray) out = save(&t);
    g_autoptr(GByteArray) copy = NULL;

    /* every truncation is refused, never read past the end */
    for (guint n = 0; n < out->len; n++) {
        Thing u = { 0 };
        VmsReader r = vms_reader(out->data, n);

        g_assert_false(vms_load(&thing_vmsd, &u, &r, NULL));
    }
    /* bool that is not 0/1 */
    copy = g_byte_array_new();
    g_byte_array_append(copy, out->data, out->len);
    copy->data[4] = 2;
    expect_error(copy, "field 'on': 2 is not a boolean");
    /* too many array elements */
    g_byte_array_set_size(copy, 0);
    g_byte_array_append(copy, out->data, out->len);
    copy->data[4 + 1 + 1 + 4 + 8 + 5 + 12] = 5;
    expect_error(copy, "field 'pairs': 5 elements, at most 4 allowed");
    /* unknown subsection */
    g_byte_array_set_size(copy, 0);
    g_byte_array_append(copy, out->data, out->len);
    copy->data[out->len - 1 - 9 - 4 - 9] = 'X';
    expect_error(copy, "unknown subsection 'Xhing/sub'");
    /* post_load refuses */
    t.n = 0xdead;
    g_byte_array_unref(out);
    out = save(&t);
    expect_error(out, "vmstate 'thing': n is dead");
}

static void test_describe(void)
{
    g_autoptr(JsonNode) n = vms_describe(&thing_vmsd);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autofree char *s = NULL;

    json_generator_set_root(gen, n);
    s = json_generator_to_data(gen, NULL);
    g_assert_nonnull(strstr(s, "\"name\":\"thing\""));
    g_assert_nonnull(strstr(s, "{\"name\":\"pairs\",\"type\":\"struct\","
                                "\"max\":4,"));
    g_assert_nonnull(strstr(s, "{\"name\":\"extra\",\"type\":\"uint64\","
                                "\"since\":2}"));
    g_assert_nonnull(strstr(s, "\"subsections\":[{\"name\":\"thing/sub\""));
}

/* A container reaching a part through a pointer, with pre_load noting
 * the value post_load checks against. */
typedef struct {
    uint32_t fixed;             /* host config: must match on load */
    uint32_t fixed_before;
    int pre_loads;
    Pair *part;
} Holder;

static bool holder_pre_load(void *opaque, GError **errp)
{
    Holder *h = opaque;

    h->fixed_before = h->fixed;
    h->pre_loads++;
    return true;
}

static bool holder_post_load(void *opaque, uint32_t version, GError **errp)
{
    Holder *h = opaque;

    if (h->fixed != h->fixed_before) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "fixed %u differs from %u", h->fixed, h->fixed_before);
        return false;
    }
    return true;
}

static const VmsDesc holder_vmsd = {
    .name = "holder", .version = 1, .min_version = 1,
    .pre_load = holder_pre_load,
    .post_load = holder_post_load,
    .fields = (const VmsField[]) {
        VMS_U32(Holder, fixed),
        VMS_STRUCT_PTR(Holder, part, pair_vmsd, Pair),
        VMS_END_OF_LIST,
    },
};

static void test_pointer_and_pre_load(void)
{
    Pair a = { 3, 4 }, b = { 0 };
    Holder src = { .fixed = 1, .part = &a }, dst = { .fixed = 1, .part = &b };
    Holder bad = { .fixed = 2, .part = &b }, unset = { .fixed = 1 };
    g_autoptr(GByteArray) out = g_byte_array_new();
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) n = vms_describe(&holder_vmsd);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autofree char *desc = NULL;
    VmsReader r;

    g_assert_true(vms_save(&holder_vmsd, &src, out, &err));
    /* the pointer is not on the wire: version, fixed, the pair section */
    g_assert_cmpuint(out->len, ==, 4 + 4 + (4 + 2 + 8 + 1) + 1);
    r = vms_reader(out->data, out->len);
    g_assert_true(vms_load(&holder_vmsd, &dst, &r, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(b.lo, ==, 3);
    g_assert_cmpuint(b.hi, ==, 4);
    g_assert_cmpint(dst.pre_loads, ==, 1);
    g_assert_true(dst.part == &b);
    /* pre_load saw the destination's value before the stream's */
    r = vms_reader(out->data, out->len);
    g_assert_false(vms_load(&holder_vmsd, &bad, &r, &err));
    g_assert_cmpstr(err->message, ==,
                    "vmstate 'holder': fixed 1 differs from 2");
    g_clear_error(&err);
    /* a NULL pointer fails on both sides, without a crash */
    r = vms_reader(out->data, out->len);
    g_assert_false(vms_load(&holder_vmsd, &unset, &r, &err));
    g_assert_nonnull(strstr(err->message, "field 'part' is not set up"));
    g_clear_error(&err);
    g_assert_false(vms_save(&holder_vmsd, &unset, out, &err));
    g_assert_nonnull(strstr(err->message, "field 'part' is not set up"));
    json_generator_set_root(gen, n);
    desc = json_generator_to_data(gen, NULL);
    g_assert_nonnull(strstr(desc, "{\"name\":\"part\",\"type\":\"struct\","
                                   "\"struct\":{\"name\":\"pair\""));
}

/* An incoming stream's configuration section, forged: every entry of
 * "devices" and the uuid may be any JSON. Found by review beside
 * fuzz-vmstate: an object in "devices" reached json-glib's
 * json_array_get_string_element (a critical, fatal under G_DEBUG and
 * here), and [null] matched a VM without devices. */
static void test_config_hostile(void)
{
    char *argv[] = {
        "kestrel", "-nodefaults", "-display", "none", "-accel", "qtest",
        "-m", "16", "-serial", "null", "-uuid",
        "6f1c7b5e-2a41-4c0e-9d8a-0b7a1f2e3d4c", NULL,
    };
    static const char *const refused[] = {
        "{\"ram-size\":16777216,\"vcpus\":1,\"serials\":1,"
        "\"devices\":[{\"a\":1}],\"multifd-channels\":0}",
        "{\"ram-size\":16777216,\"vcpus\":1,\"serials\":1,"
        "\"devices\":[[\"x\"]],\"multifd-channels\":0}",
        "{\"ram-size\":16777216,\"vcpus\":1,\"serials\":1,"
        "\"devices\":[null],\"multifd-channels\":0}",
        "{\"ram-size\":16777216,\"vcpus\":1,\"serials\":1,"
        "\"devices\":[],\"multifd-channels\":0,\"uuid\":{}}",
        "{\"ram-size\":16777216,\"vcpus\":1,\"serials\":1,"
        "\"devices\":[],\"multifd-channels\":0,\"uuid\":[1]}",
    };
    const char *ok = "{\"ram-size\":16777216,\"vcpus\":1,\"serials\":1,"
                     "\"devices\":[],\"multifd-channels\":2,"
                     "\"uuid\":\"6f1c7b5e-2a41-4c0e-9d8a-0b7a1f2e3d4c\"}";
    g_autoptr(VmConfig) cfg = vm_config_new();
    g_autoptr(GError) err = NULL;
    unsigned int channels = 0;
    Vm *vm;

    g_assert_cmpint(cmdline_parse(G_N_ELEMENTS(argv) - 1, argv, cfg, stdout,
                                  &err), >=, 0);
    g_assert_no_error(err);
    vm = vm_new(cfg, &err);
    g_assert_no_error(err);
    g_assert_true(migration_config_check(vm, ok, strlen(ok), true,
                                         &channels, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(channels, ==, 2);
    for (gsize i = 0; i < G_N_ELEMENTS(refused); i++) {
        g_assert_false(migration_config_check(vm, refused[i],
                                              strlen(refused[i]), true,
                                              &channels, &err));
        g_assert_nonnull(err);
        g_assert_true(strstr(err->message, "device 0 differs") ||
                      strstr(err->message, "UUID"));
        g_clear_error(&err);
    }
    vm_free(vm);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vmstate/round-trip", test_round_trip);
    g_test_add_func("/vmstate/little-endian", test_little_endian);
    g_test_add_func("/vmstate/subsection-not-needed",
                    test_subsection_not_needed);
    g_test_add_func("/vmstate/versions", test_versions);
    g_test_add_func("/vmstate/old-version-reads", test_old_version_reads);
    g_test_add_func("/vmstate/hostile", test_hostile);
    g_test_add_func("/vmstate/describe", test_describe);
    g_test_add_func("/migration/config-hostile", test_config_hostile);
    g_test_add_func("/vmstate/pointer-and-pre-load",
                    test_pointer_and_pre_load);
    return g_test_run();
}
