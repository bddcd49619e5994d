/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * VmsDesc: device and CPU state declared as data (ARCHITECTURE.md, 6).
 *
 * A VmsDesc lists the guest-visible fields of one C struct. vms_save()
 * walks the table and appends the fields, little-endian, to a byte array;
 * vms_load() reads them back into a struct of the same type, treating the
 * bytes as hostile: every length is bounded, every count checked against
 * its maximum, versions outside [min_version, version] refused with an
 * error naming the section. Host handles (fds, pointers, GSIs, mappings)
 * are never fields: post_load() rebuilds them from what was loaded, and
 * validates it first.
 *
 * Encoding of one section (vms_save):
 *     u32 version
 *     the fields, in table order (only those whose .version <= version)
 *     subsections: for each one that is needed:
 *         u8 1, u8 namelen, name, u32 length, <section encoding>
 *     u8 0
 * Scalars are little-endian; bool is one byte (0 or 1, anything else is
 * refused); arrays are their elements back to back; a variable array is
 * preceded by nothing (its count is an earlier u32 field of the struct).
 *
 * Wire names (VmsDesc.name, VmsField.name) are an ABI: never rename.
 * schemas/vmstate.json freezes them (see vms_describe()).
 */
#ifndef KESTREL_VMSTATE_H
#define KESTREL_VMSTATE_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    VMS_BOOL,
    VMS_U8,
    VMS_U16,
    VMS_U32,
    VMS_U64,
    VMS_I32,
    VMS_I64,
    VMS_BUFFER,             /* raw bytes of a fixed-size field (UAPI structs) */
    VMS_STRUCT,             /* a nested struct with its own VmsDesc */
    VMS_STRUCT_PTR,         /* the same, through a pointer member */
    VMS_END,
} VmsType;

typedef struct VmsDesc VmsDesc;

typedef struct VmsField {
    const char *name;       /* wire name: never rename */
    VmsType type;
    size_t offset;          /* of the field in the struct */
    size_t size;            /* of one element */
    uint32_t count;         /* fixed number of elements (>= 1) */
    /* Variable arrays: the element count is the uint32_t at count_offset
     * in the same struct (saved earlier in the table); count is then the
     * maximum, and a loaded count above it is refused. */
    bool varray;
    size_t count_offset;
    const VmsDesc *sub;     /* VMS_STRUCT */
    uint32_t version;       /* present from this section version on (0: all) */
} VmsField;

struct VmsDesc {
    const char *name;       /* wire name: never rename */
    uint32_t version;       /* what we write */
    uint32_t min_version;   /* the oldest we read */
    /* Subsections only: whether to send it (NULL: always). */
    bool (*needed)(void *opaque);
    /* Before saving: bring derived state into the fields. May be NULL. */
    bool (*pre_save)(void *opaque, GError **errp);
    /* After loading (subsections included): validate and rebuild host
     * state. Returns false with @errp set to refuse the stream. */
    bool (*post_load)(void *opaque, uint32_t version, GError **errp);
    const VmsField *fields;             /* ends with VMS_END_OF_LIST */
    const VmsDesc *const *subsections;  /* NULL-terminated, or NULL */
    /* Before loading the fields: note what post_load will compare the
     * loaded values with. May be NULL. */
    bool (*pre_load)(void *opaque, GError **errp);
};

/* Bounded reader over bytes the stream delivered. */
typedef struct VmsReader {
    const uint8_t *buf;
    size_t len;
    size_t pos;
} VmsReader;

static inline VmsReader vms_reader(const void *buf, size_t len)
{
    return (VmsReader) { .buf = buf, .len = len, .pos = 0 };
}

/*
 * vms_save: append @opaque's state (a struct described by @d) to @out.
 * Runs pre_save first. Returns false with @errp set if pre_save refused.
 */
bool vms_save(const VmsDesc *d, void *opaque, GByteArray *out, GError **errp);

/*
 * vms_load: read the state written by vms_save from @r into @opaque:
 * pre_load, the fields, then post_load (subsections' first, then @d's;
 * a nested struct's before its container's). On failure the
 * struct may be partly written; the caller discards the whole VM (the
 * destination of a failed migration exits). Errors name the section and
 * field: "vmstate 'virtio-balloon': field 'num_pages': stream truncated".
 */
bool vms_load(const VmsDesc *d, void *opaque, VmsReader *r, GError **errp);

/*
 * vms_describe: the frozen description of @d (name, versions, fields with
 * type, size, count, subsections), as a JSON object. schemas/vmstate.json
 * holds the description of every section kestrel writes; a unit test
 * fails when a table changes without that file changing too.
 */
JsonNode *vms_describe(const VmsDesc *d);

/* --- field macros --------------------------------------------------------
 * Each checks at compile time that the struct member has the C type the
 * macro says (pointer subtraction between incompatible pointer types does
 * not build), so a table cannot silently disagree with its struct. */

#define VMS_TYPE_CHECK(T, f, ctype) \
    (0 * sizeof((ctype *)0 - &((T *)0)->f))

#define VMS_ARRAY_CHECK(T, f, ctype, n) \
    (0 * sizeof((ctype (*)[n])0 - &((T *)0)->f))

#define VMS_SCALAR_V(T, f, vtype, ctype, v)                             \
    { .name = #f, .type = (vtype),                                      \
      .offset = offsetof(T, f) + VMS_TYPE_CHECK(T, f, ctype),           \
      .size = sizeof(ctype), .count = 1, .version = (v) }

#define VMS_BOOL(T, f)   VMS_SCALAR_V(T, f, VMS_BOOL, bool, 0)
#define VMS_U8(T, f)     VMS_SCALAR_V(T, f, VMS_U8, uint8_t, 0)
#define VMS_U16(T, f)    VMS_SCALAR_V(T, f, VMS_U16, uint16_t, 0)
#define VMS_U32(T, f)    VMS_SCALAR_V(T, f, VMS_U32, uint32_t, 0)
#define VMS_U64(T, f)    VMS_SCALAR_V(T, f, VMS_U64, uint64_t, 0)
#define VMS_I32(T, f)    VMS_SCALAR_V(T, f, VMS_I32, int32_t, 0)
#define VMS_I64(T, f)    VMS_SCALAR_V(T, f, VMS_I64, int64_t, 0)

/* The same, present only from section version @v on. */
#define VMS_BOOL_V(T, f, v)  VMS_SCALAR_V(T, f, VMS_BOOL, bool, v)
#define VMS_U8_V(T, f, v)    VMS_SCALAR_V(T, f, VMS_U8, uint8_t, v)
#define VMS_U16_V(T, f, v)   VMS_SCALAR_V(T, f, VMS_U16, uint16_t, v)
#define VMS_U32_V(T, f, v)   VMS_SCALAR_V(T, f, VMS_U32, uint32_t, v)
#define VMS_U64_V(T, f, v)   VMS_SCALAR_V(T, f, VMS_U64, uint64_t, v)

/* Fixed arrays: member declared as ctype f[n]. */
#define VMS_ARRAY(T, f, vtype, ctype, n)                                \
    { .name = #f, .type = (vtype),                                      \
      .offset = offsetof(T, f) + VMS_ARRAY_CHECK(T, f, ctype, n),       \
      .size = sizeof(ctype), .count = (n) }

#define VMS_BOOL_ARRAY(T, f, n)  VMS_ARRAY(T, f, VMS_BOOL, bool, n)
#define VMS_U8_ARRAY(T, f, n)    VMS_ARRAY(T, f, VMS_U8, uint8_t, n)
#define VMS_U16_ARRAY(T, f, n)   VMS_ARRAY(T, f, VMS_U16, uint16_t, n)
#define VMS_U32_ARRAY(T, f, n)   VMS_ARRAY(T, f, VMS_U32, uint32_t, n)
#define VMS_U64_ARRAY(T, f, n)   VMS_ARRAY(T, f, VMS_U64, uint64_t, n)

/* Raw bytes of member f of type ctype (a fixed-layout kernel UAPI struct
 * such as struct kvm_regs; never a struct holding pointers). */
#define VMS_BUFFER(T, f, ctype)                                         \
    { .name = #f, .type = VMS_BUFFER,                                   \
      .offset = offsetof(T, f) + VMS_TYPE_CHECK(T, f, ctype),           \
      .size = sizeof(ctype), .count = 1 }

/* A nested struct: member f of type ST, described by @desc. */
#define VMS_STRUCT(T, f, desc, ST)                                      \
    { .name = #f, .type = VMS_STRUCT,                                   \
      .offset = offsetof(T, f) + VMS_TYPE_CHECK(T, f, ST),              \
      .size = sizeof(ST), .count = 1, .sub = &(desc) }

/* A nested struct reached through member f of type ST * (a part that
 * lives in its own allocation, such as a device's transport). The pointer
 * itself is host state: it must be set on both sides, and saving or
 * loading through a NULL one fails. The wire format is VMS_STRUCT's. */
#define VMS_STRUCT_PTR(T, f, desc, ST)                                  \
    { .name = #f, .type = VMS_STRUCT_PTR,                               \
      .offset = offsetof(T, f) + VMS_TYPE_CHECK(T, f, ST *),            \
      .size = sizeof(ST *), .count = 1, .sub = &(desc) }

/* A fixed array of nested structs: member declared as ST f[n]. */
#define VMS_STRUCT_ARRAY(T, f, n, desc, ST)                             \
    { .name = #f, .type = VMS_STRUCT,                                   \
      .offset = offsetof(T, f) + VMS_ARRAY_CHECK(T, f, ST, n),          \
      .size = sizeof(ST), .count = (n), .sub = &(desc) }

/* A variable array of nested structs: ST f[max], with the number in use
 * in the uint32_t member cf (which must come earlier in the table). */
#define VMS_STRUCT_VARRAY(T, f, max, cf, desc, ST)                      \
    { .name = #f, .type = VMS_STRUCT,                                   \
      .offset = offsetof(T, f) + VMS_ARRAY_CHECK(T, f, ST, max),        \
      .size = sizeof(ST), .count = (max), .varray = true,               \
      .count_offset = offsetof(T, cf) + VMS_TYPE_CHECK(T, cf, uint32_t),\
      .sub = &(desc) }

/* A variable array of scalars: ctype f[max], count in uint32_t cf. */
#define VMS_VARRAY(T, f, vtype, ctype, max, cf)                         \
    { .name = #f, .type = (vtype),                                      \
      .offset = offsetof(T, f) + VMS_ARRAY_CHECK(T, f, ctype, max),     \
      .size = sizeof(ctype), .count = (max), .varray = true,            \
      .count_offset = offsetof(T, cf) + VMS_TYPE_CHECK(T, cf, uint32_t) }

#define VMS_END_OF_LIST { .name = NULL, .type = VMS_END }

#endif /* KESTREL_VMSTATE_H */
