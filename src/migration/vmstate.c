/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The VmsDesc engine: walks state tables to write and read device and CPU
 * state. The encoding is described in vmstate.h; the reader never trusts
 * a length or a count it did not bound itself.
 */
#include <string.h>

#include "bytes.h"
#include "error.h"
#include "migration/vmstate.h"

#define VMS_MAX_DEPTH 8         /* nesting of structs and subsections */

/* --- writing ---------------------------------------------------------------- */

static void put_le(GByteArray *out, uint64_t v, size_t n)
{
    bytes_append_le(out, v, n);
}

static uint64_t get_scalar(const uint8_t *p, VmsType t)
{
    switch (t) {
    case VMS_BOOL:
        return *(const bool *)p ? 1 : 0;
    case VMS_U8:
        return *p;
    case VMS_U16:
        return *(const uint16_t *)p;
    case VMS_U32:
        return *(const uint32_t *)p;
    case VMS_I32:
        return (uint32_t)*(const int32_t *)p;
    case VMS_U64:
        return *(const uint64_t *)p;
    case VMS_I64:
        return (uint64_t)*(const int64_t *)p;
    default:
        return 0;
    }
}

static size_t wire_size(VmsType t)
{
    switch (t) {
    case VMS_BOOL:
    case VMS_U8:
        return 1;
    case VMS_U16:
        return 2;
    case VMS_U32:
    case VMS_I32:
        return 4;
    case VMS_U64:
    case VMS_I64:
        return 8;
    default:
        return 0;
    }
}

static uint32_t field_count(const VmsField *f, const uint8_t *base)
{
    if (f->varray) {
        uint32_t n = *(const uint32_t *)(base + f->count_offset);

        return MIN(n, f->count);
    }
    return f->count;
}

static bool save_section(const VmsDesc *d, void *opaque, GByteArray *out,
                         int depth, GError **errp);

static bool save_fields(const VmsDesc *d, uint8_t *base, GByteArray *out,
                        int depth, GError **errp)
{
    for (const VmsField *f = d->fields; f && f->type != VMS_END; f++) {
        uint32_t n = field_count(f, base);
        uint8_t *p = base + f->offset;

        if (f->version > d->version) {
            continue;
        }
        for (uint32_t i = 0; i < n; i++, p += f->size) {
            switch (f->type) {
            case VMS_BUFFER:
                g_byte_array_append(out, p, (guint)f->size);
                break;
            case VMS_STRUCT:
                if (!save_section(f->sub, p, out, depth + 1, errp)) {
                    return false;
                }
                break;
            case VMS_STRUCT_PTR:
                if (!*(void **)p) {
                    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                                "vmstate '%s': field '%s' is not set up",
                                d->name, f->name);
                    return false;
                }
                if (!save_section(f->sub, *(void **)p, out, depth + 1,
                                  errp)) {
                    return false;
                }
                break;
            default:
                put_le(out, get_scalar(p, f->type), wire_size(f->type));
                break;
            }
        }
    }
    return true;
}

static bool save_section(const VmsDesc *d, void *opaque, GByteArray *out,
                         int depth, GError **errp)
{
    if (depth > VMS_MAX_DEPTH) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "vmstate '%s' is nested too deeply", d->name);
        return false;
    }
    if (d->pre_save && !d->pre_save(opaque, errp)) {
        return false;
    }
    put_le(out, d->version, 4);
    if (!save_fields(d, opaque, out, depth, errp)) {
        return false;
    }
    for (const VmsDesc *const *s = d->subsections; s && *s; s++) {
        size_t name_len = strlen((*s)->name), len_at;
        uint32_t len;

        if ((*s)->needed && !(*s)->needed(opaque)) {
            continue;
        }
        put_le(out, 1, 1);
        put_le(out, name_len, 1);
        g_byte_array_append(out, (const guint8 *)(*s)->name, (guint)name_len);
        len_at = out->len;
        put_le(out, 0, 4);
        if (!save_section(*s, opaque, out, depth + 1, errp)) {
            return false;
        }
        len = (uint32_t)(out->len - len_at - 4);
        for (int i = 0; i < 4; i++) {
            out->data[len_at + i] = (uint8_t)(len >> (8 * i));
        }
    }
    put_le(out, 0, 1);
    return true;
}

bool vms_save(const VmsDesc *d, void *opaque, GByteArray *out, GError **errp)
{
    return save_section(d, opaque, out, 0, errp);
}

/* --- reading ---------------------------------------------------------------- */

static bool take(VmsReader *r, size_t n, const uint8_t **p)
{
    if (r->len - r->pos < n) {
        return false;
    }
    *p = r->buf + r->pos;
    r->pos += n;
    return true;
}

static uint64_t get_le(const uint8_t *p, size_t n)
{
    return le_load(p, n);
}

static bool truncated(const VmsDesc *d, const char *field, GError **errp)
{
    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                "vmstate '%s': field '%s': stream truncated", d->name, field);
    return false;
}

static bool put_scalar(const VmsDesc *d, const VmsField *f, uint8_t *p,
                       uint64_t v, GError **errp)
{
    switch (f->type) {
    case VMS_BOOL:
        if (v > 1) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "vmstate '%s': field '%s': %" G_GUINT64_FORMAT
                        " is not a boolean", d->name, f->name, v);
            return false;
        }
        *(bool *)p = v != 0;
        break;
    case VMS_U8:
        *p = (uint8_t)v;
        break;
    case VMS_U16:
        *(uint16_t *)p = (uint16_t)v;
        break;
    case VMS_U32:
        *(uint32_t *)p = (uint32_t)v;
        break;
    case VMS_I32:
        *(int32_t *)p = (int32_t)(uint32_t)v;
        break;
    case VMS_U64:
        *(uint64_t *)p = v;
        break;
    case VMS_I64:
        *(int64_t *)p = (int64_t)v;
        break;
    default:
        break;
    }
    return true;
}

static bool load_section(const VmsDesc *d, void *opaque, VmsReader *r,
                         int depth, GError **errp);

static bool load_fields(const VmsDesc *d, uint32_t version, uint8_t *base,
                        VmsReader *r, int depth, GError **errp)
{
    for (const VmsField *f = d->fields; f && f->type != VMS_END; f++) {
        uint8_t *p = base + f->offset;
        uint32_t n = f->count;

        if (f->version > version) {
            continue;
        }
        if (f->varray) {
            n = *(const uint32_t *)(base + f->count_offset);
            if (n > f->count) {
                g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                            "vmstate '%s': field '%s': %u elements, at most "
                            "%u allowed", d->name, f->name, n, f->count);
                return false;
            }
        }
        for (uint32_t i = 0; i < n; i++, p += f->size) {
            const uint8_t *src;

            switch (f->type) {
            case VMS_BUFFER:
                if (!take(r, f->size, &src)) {
                    return truncated(d, f->name, errp);
                }
                memcpy(p, src, f->size);
                break;
            case VMS_STRUCT:
            case VMS_STRUCT_PTR: {
                void *sub = f->type == VMS_STRUCT ? (void *)p : *(void **)p;

                if (!sub) {
                    g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                                "vmstate '%s': field '%s' is not set up",
                                d->name, f->name);
                    return false;
                }
                if (!load_section(f->sub, sub, r, depth + 1, errp)) {
                    g_prefix_error(errp, "vmstate '%s': field '%s': ",
                                   d->name, f->name);
                    return false;
                }
                break;
            }
            default:
                if (!take(r, wire_size(f->type), &src)) {
                    return truncated(d, f->name, errp);
                }
                if (!put_scalar(d, f, p, get_le(src, wire_size(f->type)),
                                errp)) {
                    return false;
                }
                break;
            }
        }
    }
    return true;
}

static const VmsDesc *find_subsection(const VmsDesc *d, const uint8_t *name,
                                      size_t len)
{
    for (const VmsDesc *const *s = d->subsections; s && *s; s++) {
        if (strlen((*s)->name) == len && !memcmp((*s)->name, name, len)) {
            return *s;
        }
    }
    return NULL;
}

static bool load_subsections(const VmsDesc *d, void *opaque, VmsReader *r,
                             int depth, GError **errp)
{
    for (;;) {
        const uint8_t *p, *name;
        const VmsDesc *sub;
        VmsReader body;
        uint32_t len;

        if (!take(r, 1, &p)) {
            return truncated(d, "(subsections)", errp);
        }
        if (*p == 0) {
            return true;
        }
        if (*p != 1 || !take(r, 1, &p) || !take(r, *p, &name)) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "vmstate '%s': malformed subsection marker", d->name);
            return false;
        }
        sub = find_subsection(d, name, p[0]);
        if (!sub) {
            g_autofree char *n = g_strndup((const char *)name, p[0]);

            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "vmstate '%s': unknown subsection '%s'", d->name,
                        g_strcanon(n, G_CSET_a_2_z G_CSET_A_2_Z
                                   G_CSET_DIGITS "-_/.", '?'));
            return false;
        }
        if (!take(r, 4, &p)) {
            return truncated(d, sub->name, errp);
        }
        len = (uint32_t)get_le(p, 4);
        if (!take(r, len, &p)) {
            return truncated(d, sub->name, errp);
        }
        body = vms_reader(p, len);
        if (!load_section(sub, opaque, &body, depth + 1, errp)) {
            return false;
        }
        if (body.pos != body.len) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "vmstate '%s': %zu unexpected bytes at its end",
                        sub->name, body.len - body.pos);
            return false;
        }
    }
}

static bool load_section(const VmsDesc *d, void *opaque, VmsReader *r,
                         int depth, GError **errp)
{
    const uint8_t *p;
    uint32_t version;

    if (depth > VMS_MAX_DEPTH) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "vmstate '%s' is nested too deeply", d->name);
        return false;
    }
    if (!take(r, 4, &p)) {
        return truncated(d, "(version)", errp);
    }
    version = (uint32_t)get_le(p, 4);
    if (version > d->version) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "vmstate '%s': version %u is too new (this kestrel "
                    "reads %u to %u)", d->name, version, d->min_version,
                    d->version);
        return false;
    }
    if (version < d->min_version) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "vmstate '%s': version %u is too old (this kestrel "
                    "reads %u to %u)", d->name, version, d->min_version,
                    d->version);
        return false;
    }
    if (d->pre_load && !d->pre_load(opaque, errp)) {
        g_prefix_error(errp, "vmstate '%s': ", d->name);
        return false;
    }
    if (!load_fields(d, version, opaque, r, depth, errp) ||
        !load_subsections(d, opaque, r, depth, errp)) {
        return false;
    }
    if (d->post_load && !d->post_load(opaque, version, errp)) {
        g_prefix_error(errp, "vmstate '%s': ", d->name);
        return false;
    }
    return true;
}

bool vms_load(const VmsDesc *d, void *opaque, VmsReader *r, GError **errp)
{
    return load_section(d, opaque, r, 0, errp);
}

/* --- the frozen description -------------------------------------------------- */

static const char *const vms_type_names[] = {
    [VMS_BOOL] = "bool", [VMS_U8] = "uint8", [VMS_U16] = "uint16",
    [VMS_U32] = "uint32", [VMS_U64] = "uint64", [VMS_I32] = "int32",
    [VMS_I64] = "int64", [VMS_BUFFER] = "buffer", [VMS_STRUCT] = "struct",
    /* Same wire format as a struct: the pointer is not on the wire. */
    [VMS_STRUCT_PTR] = "struct",
};

static JsonNode *describe(const VmsDesc *d, int depth)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, d->name);
    json_builder_set_member_name(b, "version");
    json_builder_add_int_value(b, d->version);
    json_builder_set_member_name(b, "min-version");
    json_builder_add_int_value(b, d->min_version);
    json_builder_set_member_name(b, "fields");
    json_builder_begin_array(b);
    for (const VmsField *f = d->fields; f && f->type != VMS_END; f++) {
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, f->name);
        json_builder_set_member_name(b, "type");
        json_builder_add_string_value(b, vms_type_names[f->type]);
        if (f->type == VMS_BUFFER) {
            json_builder_set_member_name(b, "size");
            json_builder_add_int_value(b, (gint64)f->size);
        }
        if (f->count != 1 || f->varray) {
            json_builder_set_member_name(b, f->varray ? "max" : "count");
            json_builder_add_int_value(b, f->count);
        }
        if (f->version) {
            json_builder_set_member_name(b, "since");
            json_builder_add_int_value(b, f->version);
        }
        if ((f->type == VMS_STRUCT || f->type == VMS_STRUCT_PTR) &&
            depth < VMS_MAX_DEPTH) {
            json_builder_set_member_name(b, "struct");
            json_builder_add_value(b, describe(f->sub, depth + 1));
        }
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    if (d->subsections && d->subsections[0]) {
        json_builder_set_member_name(b, "subsections");
        json_builder_begin_array(b);
        for (const VmsDesc *const *s = d->subsections; *s; s++) {
            if (depth < VMS_MAX_DEPTH) {
                json_builder_add_value(b, describe(*s, depth + 1));
            }
        }
        json_builder_end_array(b);
    }
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

JsonNode *vms_describe(const VmsDesc *d)
{
    return describe(d, 0);
}
