/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The frozen description of the migration format (see describe.h). */
#include "device.h"
#include "migration/describe.h"
#include "migration/stream.h"
#include "migration/vmstate.h"
#include "x86.h"

char *migration_describe(void)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;
    const VmsDesc *const *devs;
    size_t n;
    GString *out;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "stream");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "magic");
    json_builder_add_string_value(b, MIG_MAGIC);
    json_builder_set_member_name(b, "version");
    json_builder_add_int_value(b, MIG_VERSION);
    json_builder_set_member_name(b, "records");
    json_builder_begin_array(b);
    for (uint32_t t = 1; t < MIG_REC__MAX; t++) {
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "type");
        json_builder_add_int_value(b, t);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, mig_record_name(t));
        json_builder_set_member_name(b, "max-length");
        json_builder_add_int_value(b, mig_record_max_len(t));
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);

    json_builder_set_member_name(b, "sections");
    json_builder_begin_array(b);
    devs = devices_vmsd_list(&n);
    for (size_t i = 0; i < n; i++) {
        json_builder_add_value(b, vms_describe(devs[i]));
    }
    json_builder_add_value(b, vms_describe(&x86_cpu_vmsd));
    json_builder_add_value(b, vms_describe(&kvm_vm_vmsd));
    json_builder_end_array(b);
    json_builder_end_object(b);

    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    json_generator_set_indent(gen, 2);
    out = g_string_new(NULL);
    json_generator_to_gstring(gen, out);
    g_string_append_c(out, '\n');
    return g_string_free(out, FALSE);
}
