/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Schema model, argument checking and introspection output.
 */
#include <string.h>

#include "json-stream.h"
#include "qmp-error.h"
#include "qmp-schema.h"

typedef enum {
    SCHEMA_BUILTIN,
    SCHEMA_ENUM,
    SCHEMA_ARRAY,
    SCHEMA_OBJECT,          /* struct, union (tag set), implicit arg type */
} SchemaKind;

typedef struct SchemaType SchemaType;

typedef struct {
    char *name;
    SchemaType *type;
    bool optional;
    char **features;
} SchemaMember;

typedef struct {
    char *tag_value;
    SchemaType *type;
} SchemaVariant;

struct SchemaType {
    char *name;
    SchemaKind kind;
    const char *json_type;      /* builtin */
    GPtrArray *values;          /* enum: char * */
    SchemaType *element;        /* array */
    GPtrArray *members;         /* object: SchemaMember *, base first */
    char *tag;                  /* union discriminator */
    GPtrArray *variants;        /* union: SchemaVariant * */
    char **features;
    JsonObject *expr;           /* definition, until resolved */
    bool resolving;
};

typedef struct {
    char *name;
    bool is_event;
    SchemaType *args;           /* NULL: none */
    SchemaType *ret;            /* NULL: none ({}) */
    char **features;
    bool allow_oob;
} SchemaEntity;

struct QmpSchema {
    GHashTable *types;          /* name -> SchemaType (owned) */
    GPtrArray *anon;            /* implicit and array types (owned) */
    GPtrArray *entities;        /* SchemaEntity, in schema order */
    GHashTable *commands;       /* name -> SchemaEntity */
    GHashTable *events;
    SchemaType *empty;          /* QEMU's q_empty */
    JsonNode *introspection;
};

static const struct {
    const char *name;
    const char *json_type;
    const char *alias_of;       /* integer widths collapse to "int" */
} builtin_types[] = {
    { "str", "string", NULL },
    { "int", "int", NULL },
    { "number", "number", NULL },
    { "bool", "boolean", NULL },
    { "null", "null", NULL },
    { "any", "value", NULL },
    { "int8", NULL, "int" }, { "int16", NULL, "int" },
    { "int32", NULL, "int" }, { "int64", NULL, "int" },
    { "uint8", NULL, "int" }, { "uint16", NULL, "int" },
    { "uint32", NULL, "int" }, { "uint64", NULL, "int" },
    { "size", NULL, "int" },
};

/* Integer widths are all "int" on the wire and in introspection. */
static const char *builtin_alias(const char *name)
{
    for (gsize i = 0; i < G_N_ELEMENTS(builtin_types); i++) {
        if (builtin_types[i].alias_of && !strcmp(name, builtin_types[i].name)) {
            return builtin_types[i].alias_of;
        }
    }
    return name;
}

static void schema_type_free(SchemaType *t)
{
    if (!t) {
        return;
    }
    g_free(t->name);
    if (t->values) {
        g_ptr_array_unref(t->values);
    }
    if (t->members) {
        g_ptr_array_unref(t->members);
    }
    if (t->variants) {
        g_ptr_array_unref(t->variants);
    }
    g_free(t->tag);
    g_strfreev(t->features);
    if (t->expr) {
        json_object_unref(t->expr);
    }
    g_free(t);
}

static void schema_member_free(SchemaMember *m)
{
    g_free(m->name);
    g_strfreev(m->features);
    g_free(m);
}

static void schema_variant_free(SchemaVariant *v)
{
    g_free(v->tag_value);
    g_free(v);
}

static void schema_entity_free(SchemaEntity *e)
{
    g_free(e->name);
    g_strfreev(e->features);
    g_free(e);
}

void qmp_schema_free(QmpSchema *s)
{
    if (!s) {
        return;
    }
    g_hash_table_unref(s->types);
    g_ptr_array_unref(s->anon);
    g_hash_table_unref(s->commands);
    g_hash_table_unref(s->events);
    g_ptr_array_unref(s->entities);
    if (s->introspection) {
        json_node_unref(s->introspection);
    }
    g_free(s);
}

static SchemaType *schema_type_new(const char *name, SchemaKind kind)
{
    SchemaType *t = g_new0(SchemaType, 1);

    t->name = g_strdup(name);
    t->kind = kind;
    if (kind == SCHEMA_OBJECT) {
        t->members = g_ptr_array_new_with_free_func(
            (GDestroyNotify)schema_member_free);
    }
    return t;
}

/* ---- parsing -------------------------------------------------------- */

static char **parse_features(JsonObject *o, const char *what, GError **errp)
{
    JsonNode *n = json_object_get_member(o, "features");
    JsonArray *a;
    g_autoptr(GStrvBuilder) b = NULL;

    if (!n) {
        return g_new0(char *, 1);
    }
    if (!JSON_NODE_HOLDS_ARRAY(n)) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "schema: 'features' of %s must be an array", what);
        return NULL;
    }
    a = json_node_get_array(n);
    b = g_strv_builder_new();
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *f = json_array_get_element(a, i);

        if (JSON_NODE_HOLDS_OBJECT(f)) {
            f = json_object_get_member(json_node_get_object(f), "name");
        }
        if (!f || !JSON_NODE_HOLDS_VALUE(f)
            || json_node_get_value_type(f) != G_TYPE_STRING) {
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "schema: bad feature in %s", what);
            return NULL;
        }
        g_strv_builder_add(b, json_node_get_string(f));
    }
    return g_strv_builder_end(b);
}

static const char *expr_string(JsonObject *o, const char *key)
{
    JsonNode *n = json_object_get_member(o, key);

    if (n && JSON_NODE_HOLDS_VALUE(n)
        && json_node_get_value_type(n) == G_TYPE_STRING) {
        return json_node_get_string(n);
    }
    return NULL;
}

static SchemaType *resolve_ref(QmpSchema *s, JsonNode *ref,
                               const char *implicit_name, GError **errp);

static bool add_members(QmpSchema *s, SchemaType *t, JsonObject *data,
                        GError **errp)
{
    g_autoptr(GList) names = json_object_get_members(data);

    for (GList *l = names; l; l = l->next) {
        const char *key = l->data;
        JsonNode *spec = json_object_get_member(data, key);
        SchemaMember *m = g_new0(SchemaMember, 1);

        g_ptr_array_add(t->members, m);
        m->optional = key[0] == '*';
        m->name = g_strdup(key + m->optional);
        if (JSON_NODE_HOLDS_OBJECT(spec)) {
            JsonObject *o = json_node_get_object(spec);

            m->features = parse_features(o, m->name, errp);
            if (!m->features) {
                return false;
            }
            spec = json_object_get_member(o, "type");
        } else {
            m->features = g_new0(char *, 1);
        }
        m->type = spec ? resolve_ref(s, spec, NULL, errp) : NULL;
        if (!m->type) {
            g_prefix_error(errp, "member '%s' of '%s': ", m->name, t->name);
            return false;
        }
    }
    return true;
}

static SchemaMember *find_member(const SchemaType *t, const char *name)
{
    for (guint i = 0; t->members && i < t->members->len; i++) {
        SchemaMember *m = g_ptr_array_index(t->members, i);

        if (!strcmp(m->name, name)) {
            return m;
        }
    }
    return NULL;
}

static bool enum_has_value(const SchemaType *t, const char *v)
{
    for (guint i = 0; i < t->values->len; i++) {
        if (!strcmp(g_ptr_array_index(t->values, i), v)) {
            return true;
        }
    }
    return false;
}

static bool resolve_named(QmpSchema *s, SchemaType *t, GError **errp)
{
    g_autoptr(JsonObject) expr = g_steal_pointer(&t->expr);
    JsonNode *data = json_object_get_member(expr, "data");
    JsonNode *base = json_object_get_member(expr, "base");

    t->features = parse_features(expr, t->name, errp);
    if (!t->features) {
        return false;
    }
    if (t->kind == SCHEMA_ENUM) {
        JsonArray *a;

        if (!data || !JSON_NODE_HOLDS_ARRAY(data)) {
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "schema: enum '%s' needs a 'data' array", t->name);
            return false;
        }
        a = json_node_get_array(data);
        t->values = g_ptr_array_new_with_free_func(g_free);
        for (guint i = 0; i < json_array_get_length(a); i++) {
            JsonNode *v = json_array_get_element(a, i);

            if (JSON_NODE_HOLDS_OBJECT(v)) {
                v = json_object_get_member(json_node_get_object(v), "name");
            }
            if (!v || !JSON_NODE_HOLDS_VALUE(v)
                || json_node_get_value_type(v) != G_TYPE_STRING) {
                g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                            "schema: bad value in enum '%s'", t->name);
                return false;
            }
            g_ptr_array_add(t->values, g_strdup(json_node_get_string(v)));
        }
        return true;
    }

    /* struct or union: base members first, like QEMU */
    if (base) {
        g_autofree char *bname = g_strdup_printf("q_obj_%s-base", t->name);
        SchemaType *b = resolve_ref(s, base, bname, errp);

        if (!b || b->kind != SCHEMA_OBJECT || b->tag) {
            if (b) {
                g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                            "schema: base of '%s' must be a struct", t->name);
            }
            return false;
        }
        for (guint i = 0; i < b->members->len; i++) {
            SchemaMember *bm = g_ptr_array_index(b->members, i);
            SchemaMember *m = g_new0(SchemaMember, 1);

            m->name = g_strdup(bm->name);
            m->type = bm->type;
            m->optional = bm->optional;
            m->features = g_strdupv(bm->features);
            g_ptr_array_add(t->members, m);
        }
    }
    if (!t->tag) {
        if (data && !JSON_NODE_HOLDS_OBJECT(data)) {
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "schema: struct '%s' needs a 'data' object", t->name);
            return false;
        }
        return !data || add_members(s, t, json_node_get_object(data), errp);
    } else {
        SchemaMember *tag = find_member(t, t->tag);
        g_autoptr(GList) cases = NULL;

        if (!tag || tag->optional || tag->type->kind != SCHEMA_ENUM) {
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "schema: discriminator of union '%s' must be a "
                        "mandatory enum member of its base", t->name);
            return false;
        }
        if (!data || !JSON_NODE_HOLDS_OBJECT(data)) {
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "schema: union '%s' needs a 'data' object", t->name);
            return false;
        }
        t->variants = g_ptr_array_new_with_free_func(
            (GDestroyNotify)schema_variant_free);
        cases = json_object_get_members(json_node_get_object(data));
        for (GList *l = cases; l; l = l->next) {
            JsonNode *ref = json_object_get_member(json_node_get_object(data),
                                                   l->data);
            SchemaVariant *v;

            if (!enum_has_value(tag->type, l->data)) {
                g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                            "schema: union '%s' has unknown case '%s'",
                            t->name, (const char *)l->data);
                return false;
            }
            v = g_new0(SchemaVariant, 1);
            v->tag_value = g_strdup(l->data);
            v->type = resolve_ref(s, ref, NULL, errp);
            g_ptr_array_add(t->variants, v);
            if (!v->type || v->type->kind != SCHEMA_OBJECT) {
                if (v->type) {
                    g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                                "schema: variant '%s' of '%s' must be a "
                                "struct", v->tag_value, t->name);
                }
                return false;
            }
        }
        return true;
    }
}

/* A type reference: 'Name', ['Name'] or an inline { members } object. */
static SchemaType *resolve_ref(QmpSchema *s, JsonNode *ref,
                               const char *implicit_name, GError **errp)
{
    SchemaType *t;

    if (JSON_NODE_HOLDS_ARRAY(ref)) {
        JsonArray *a = json_node_get_array(ref);
        SchemaType *elt;
        g_autofree char *name = NULL;

        if (json_array_get_length(a) != 1) {
            g_set_error_literal(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                                "schema: array types have one element type");
            return NULL;
        }
        elt = resolve_ref(s, json_array_get_element(a, 0), NULL, errp);
        if (!elt) {
            return NULL;
        }
        name = g_strdup_printf("[%s]", elt->name);
        t = g_hash_table_lookup(s->types, name);
        if (!t) {
            t = schema_type_new(name, SCHEMA_ARRAY);
            t->element = elt;
            g_hash_table_insert(s->types, t->name, t);
        }
        return t;
    }
    if (JSON_NODE_HOLDS_OBJECT(ref)) {
        if (!implicit_name) {
            g_set_error_literal(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                                "schema: inline object not allowed here");
            return NULL;
        }
        t = schema_type_new(implicit_name, SCHEMA_OBJECT);
        g_ptr_array_add(s->anon, t);
        t->features = g_new0(char *, 1);
        if (!add_members(s, t, json_node_get_object(ref), errp)) {
            return NULL;
        }
        return t;
    }
    if (!JSON_NODE_HOLDS_VALUE(ref)
        || json_node_get_value_type(ref) != G_TYPE_STRING) {
        g_set_error_literal(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                            "schema: bad type reference");
        return NULL;
    }
    t = g_hash_table_lookup(s->types, builtin_alias(json_node_get_string(ref)));
    if (!t) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "schema: unknown type '%s'", json_node_get_string(ref));
        return NULL;
    }
    if (t->resolving) {
        /* (also through an array: we need no recursive types) */
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "schema: type '%s' contains itself", t->name);
        return NULL;
    }
    if (t->expr) {
        t->resolving = true;
        if (!resolve_named(s, t, errp)) {
            return NULL;
        }
        t->resolving = false;
    }
    return t;
}

static bool add_entity(QmpSchema *s, JsonObject *expr, bool is_event,
                       GError **errp)
{
    const char *name = expr_string(expr, is_event ? "event" : "command");
    JsonNode *data = json_object_get_member(expr, "data");
    JsonNode *ret = json_object_get_member(expr, "returns");
    GHashTable *table = is_event ? s->events : s->commands;
    SchemaEntity *e;

    if (!name) {
        g_set_error_literal(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                            "schema: command/event name must be a string");
        return false;
    }
    if (g_hash_table_contains(table, name)) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "schema: '%s' defined twice", name);
        return false;
    }
    e = g_new0(SchemaEntity, 1);
    e->name = g_strdup(name);
    e->is_event = is_event;
    g_ptr_array_add(s->entities, e);
    g_hash_table_insert(table, e->name, e);
    e->features = parse_features(expr, name, errp);
    if (!e->features) {
        return false;
    }
    e->allow_oob = json_object_has_member(expr, "allow-oob")
        && json_object_get_boolean_member(expr, "allow-oob");
    if (data) {
        g_autofree char *iname = g_strdup_printf("q_obj_%s-arg", name);

        e->args = resolve_ref(s, data, iname, errp);
        if (!e->args) {
            return false;
        }
        if (e->args->kind != SCHEMA_OBJECT) {
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "schema: 'data' of '%s' must be an object", name);
            return false;
        }
    }
    if (ret) {
        if (is_event) {
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "schema: event '%s' cannot return", name);
            return false;
        }
        e->ret = resolve_ref(s, ret, NULL, errp);
        if (!e->ret) {
            return false;
        }
    }
    return true;
}

typedef struct {
    GPtrArray *exprs;
    GError *err;
} SchemaReader;

static void schema_read_cb(JsonNode *value, const GError *err, void *opaque)
{
    SchemaReader *r = opaque;

    if (err) {
        if (!r->err) {
            r->err = g_error_copy(err);
        }
        return;
    }
    if (!JSON_NODE_HOLDS_OBJECT(value)) {
        if (!r->err) {
            r->err = g_error_new_literal(QMP_ERROR, QMP_ERROR_GENERIC,
                                         "expressions must be objects");
        }
        json_node_unref(value);
        return;
    }
    g_ptr_array_add(r->exprs, value);
}

/* QAPI files have '#' comments to the end of the line, outside strings. */
static char *strip_comments(const char *text)
{
    GString *out = g_string_sized_new(strlen(text));
    char quote = 0;
    bool escape = false;

    for (const char *p = text; *p; p++) {
        if (quote) {
            g_string_append_c(out, *p);
            if (escape) {
                escape = false;
            } else if (*p == '\\') {
                escape = true;
            } else if (*p == quote) {
                quote = 0;
            }
        } else if (*p == '#') {
            while (p[1] && p[1] != '\n') {
                p++;
            }
        } else {
            if (*p == '\'' || *p == '"') {
                quote = *p;
            }
            g_string_append_c(out, *p);
        }
    }
    return g_string_free(out, FALSE);
}

QmpSchema *qmp_schema_new(const char *text, GError **errp)
{
    g_autofree char *clean = strip_comments(text);
    g_autoptr(QmpSchema) s = g_new0(QmpSchema, 1);
    g_autoptr(GPtrArray) exprs =
        g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
    SchemaReader r = { .exprs = exprs };
    g_autoptr(JsonStream) stream = json_stream_new(schema_read_cb, &r);
    static const char *const kinds[] = { "enum", "struct", "union" };

    s->types = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                     (GDestroyNotify)schema_type_free);
    s->anon = g_ptr_array_new_with_free_func(
        (GDestroyNotify)schema_type_free);
    s->entities = g_ptr_array_new_with_free_func(
        (GDestroyNotify)schema_entity_free);
    s->commands = g_hash_table_new(g_str_hash, g_str_equal);
    s->events = g_hash_table_new(g_str_hash, g_str_equal);
    s->empty = schema_type_new("q_empty", SCHEMA_OBJECT);
    s->empty->features = g_new0(char *, 1);
    g_ptr_array_add(s->anon, s->empty);

    json_stream_feed(stream, clean, strlen(clean));
    json_stream_feed(stream, "\n", 1);
    if (!r.err && !json_stream_is_idle(stream)) {
        r.err = g_error_new_literal(QMP_ERROR, QMP_ERROR_GENERIC,
                                    "unexpected end of input");
    }
    if (r.err) {
        g_propagate_prefixed_error(errp, r.err, "schema: ");
        return NULL;
    }

    for (gsize i = 0; i < G_N_ELEMENTS(builtin_types); i++) {
        SchemaType *t;

        if (builtin_types[i].alias_of) {
            continue;
        }
        t = schema_type_new(builtin_types[i].name, SCHEMA_BUILTIN);
        t->json_type = builtin_types[i].json_type;
        t->features = g_new0(char *, 1);
        g_hash_table_insert(s->types, t->name, t);
    }
    /* first pass: declare named types */
    for (guint i = 0; i < exprs->len; i++) {
        JsonObject *o = json_node_get_object(g_ptr_array_index(exprs, i));

        for (gsize k = 0; k < G_N_ELEMENTS(kinds); k++) {
            const char *name = expr_string(o, kinds[k]);
            SchemaType *t;

            if (!name) {
                continue;
            }
            if (g_hash_table_contains(s->types, name)) {
                g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                            "schema: type '%s' defined twice", name);
                return NULL;
            }
            t = schema_type_new(name, k == 0 ? SCHEMA_ENUM : SCHEMA_OBJECT);
            t->expr = json_object_ref(o);
            if (k == 2) {
                const char *tag = expr_string(o, "discriminator");

                if (!tag) {
                    g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                                "schema: union '%s' needs a discriminator",
                                name);
                    schema_type_free(t);
                    return NULL;
                }
                t->tag = g_strdup(tag);
            }
            g_hash_table_insert(s->types, t->name, t);
        }
    }
    /* second pass: commands and events, then whatever type is left */
    for (guint i = 0; i < exprs->len; i++) {
        JsonObject *o = json_node_get_object(g_ptr_array_index(exprs, i));

        if (json_object_has_member(o, "command")
            && !add_entity(s, o, false, errp)) {
            return NULL;
        }
        if (json_object_has_member(o, "event")
            && !add_entity(s, o, true, errp)) {
            return NULL;
        }
    }
    for (guint i = 0; i < exprs->len; i++) {
        JsonObject *o = json_node_get_object(g_ptr_array_index(exprs, i));

        for (gsize k = 0; k < G_N_ELEMENTS(kinds); k++) {
            const char *name = expr_string(o, kinds[k]);
            g_autoptr(JsonNode) ref = NULL;

            if (!name) {
                continue;
            }
            ref = json_node_new(JSON_NODE_VALUE);
            json_node_set_string(ref, name);
            if (!resolve_ref(s, ref, NULL, errp)) {
                return NULL;
            }
        }
    }
    return g_steal_pointer(&s);
}

const QmpSchema *qmp_schema_get_default(void)
{
    static QmpSchema *schema;

    if (g_once_init_enter(&schema)) {
        g_autoptr(GError) err = NULL;
        QmpSchema *s = qmp_schema_new(qmp_schema_text, &err);

        if (!s) {
            g_error("embedded QMP schema is broken: %s", err->message);
        }
        g_once_init_leave(&schema, s);
    }
    return schema;
}

bool qmp_schema_has_command(const QmpSchema *s, const char *name)
{
    return g_hash_table_contains(s->commands, name);
}

bool qmp_schema_has_event(const QmpSchema *s, const char *name)
{
    return g_hash_table_contains(s->events, name);
}

static GPtrArray *list_entities(const QmpSchema *s, bool events)
{
    GPtrArray *out = g_ptr_array_new();

    for (guint i = 0; i < s->entities->len; i++) {
        SchemaEntity *e = g_ptr_array_index(s->entities, i);

        if (e->is_event == events) {
            g_ptr_array_add(out, e->name);
        }
    }
    return out;
}

GPtrArray *qmp_schema_list_commands(const QmpSchema *s)
{
    return list_entities(s, false);
}

GPtrArray *qmp_schema_list_events(const QmpSchema *s)
{
    return list_entities(s, true);
}

/* ---- checking ------------------------------------------------------- */

static bool type_error(const char *full, const char *expected, GError **errp)
{
    g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                "Invalid parameter type for '%s', expected: %s",
                full, expected);
    return false;
}

static bool node_is(JsonNode *v, GType type)
{
    return JSON_NODE_HOLDS_VALUE(v) && json_node_get_value_type(v) == type;
}

static bool check_members(const SchemaType *t, JsonObject *obj,
                          const char *prefix, GError **errp);

/*
 * @full is the name QEMU's input visitor reports ("a", "a.b", "a[0]");
 * @plain is the bare member name it uses for enum errors (NULL inside an
 * array, which QEMU spells 'null').
 */
static bool check_value(const SchemaType *t, JsonNode *v, const char *full,
                        const char *plain, GError **errp)
{
    switch (t->kind) {
    case SCHEMA_BUILTIN:
        if (!strcmp(t->name, "any")) {
            return true;
        }
        if (!strcmp(t->name, "str")) {
            return node_is(v, G_TYPE_STRING) || type_error(full, "string",
                                                           errp);
        }
        if (!strcmp(t->name, "int")) {
            return node_is(v, G_TYPE_INT64) || type_error(full, "integer",
                                                          errp);
        }
        if (!strcmp(t->name, "number")) {
            return node_is(v, G_TYPE_INT64) || node_is(v, G_TYPE_DOUBLE)
                || type_error(full, "number", errp);
        }
        if (!strcmp(t->name, "bool")) {
            return node_is(v, G_TYPE_BOOLEAN) || type_error(full, "boolean",
                                                            errp);
        }
        return JSON_NODE_HOLDS_NULL(v) || type_error(full, "null", errp);
    case SCHEMA_ENUM:
        if (!node_is(v, G_TYPE_STRING)) {
            return type_error(full, "string", errp);
        }
        if (!enum_has_value(t, json_node_get_string(v))) {
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "Parameter '%s' does not accept value '%s'",
                        plain ? plain : "null", json_node_get_string(v));
            return false;
        }
        return true;
    case SCHEMA_ARRAY: {
        JsonArray *a;

        if (!JSON_NODE_HOLDS_ARRAY(v)) {
            return type_error(full, "array", errp);
        }
        a = json_node_get_array(v);
        for (guint i = 0; i < json_array_get_length(a); i++) {
            g_autofree char *elt = g_strdup_printf("%s[%u]", full, i);

            if (!check_value(t->element, json_array_get_element(a, i), elt,
                             NULL, errp)) {
                return false;
            }
        }
        return true;
    }
    case SCHEMA_OBJECT:
        if (!JSON_NODE_HOLDS_OBJECT(v)) {
            return type_error(full, "object", errp);
        }
        return check_members(t, json_node_get_object(v), full, errp);
    }
    return false;
}

static const SchemaType *union_variant(const SchemaType *t, JsonObject *obj)
{
    JsonNode *tag = json_object_get_member(obj, t->tag);

    if (!tag || !node_is(tag, G_TYPE_STRING)) {
        return NULL;
    }
    for (guint i = 0; i < t->variants->len; i++) {
        SchemaVariant *v = g_ptr_array_index(t->variants, i);

        if (!strcmp(v->tag_value, json_node_get_string(tag))) {
            return v->type;
        }
    }
    return NULL;
}

static bool check_member_list(const SchemaType *t, JsonObject *obj,
                              const char *prefix, GError **errp)
{
    for (guint i = 0; i < t->members->len; i++) {
        SchemaMember *m = g_ptr_array_index(t->members, i);
        JsonNode *v = json_object_get_member(obj, m->name);
        g_autofree char *full = prefix ? g_strdup_printf("%s.%s", prefix,
                                                         m->name)
                                       : g_strdup(m->name);

        if (!v) {
            if (m->optional) {
                continue;
            }
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "Parameter '%s' is missing", full);
            return false;
        }
        if (!check_value(m->type, v, full, m->name, errp)) {
            return false;
        }
    }
    return true;
}

static bool check_members(const SchemaType *t, JsonObject *obj,
                          const char *prefix, GError **errp)
{
    const SchemaType *variant = NULL;
    g_autoptr(GList) names = NULL;

    if (!check_member_list(t, obj, prefix, errp)) {
        return false;
    }
    if (t->tag) {
        variant = union_variant(t, obj);
        if (variant && !check_member_list(variant, obj, prefix, errp)) {
            return false;
        }
    }
    names = json_object_get_members(obj);
    for (GList *l = names; l; l = l->next) {
        if (!find_member(t, l->data)
            && !(variant && find_member(variant, l->data))) {
            g_autofree char *full = prefix
                ? g_strdup_printf("%s.%s", prefix, (const char *)l->data)
                : g_strdup(l->data);

            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "Parameter '%s' is unexpected", full);
            return false;
        }
    }
    return true;
}

bool qmp_schema_check_args(const QmpSchema *s, const char *command,
                           JsonObject *args, GError **errp)
{
    SchemaEntity *e = g_hash_table_lookup(s->commands, command);
    g_autoptr(JsonObject) empty = json_object_new();

    g_return_val_if_fail(e, false);
    return check_members(e->args ? e->args : s->empty, args ? args : empty,
                         NULL, errp);
}

bool qmp_schema_check_event(const QmpSchema *s, const char *event,
                            JsonObject *data, GError **errp)
{
    SchemaEntity *e = g_hash_table_lookup(s->events, event);
    g_autoptr(JsonObject) empty = json_object_new();

    if (!e) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "Event %s is not in the schema", event);
        return false;
    }
    return check_members(e->args ? e->args : s->empty, data ? data : empty,
                         NULL, errp);
}

bool qmp_schema_check_return(const QmpSchema *s, const char *command,
                             JsonNode *ret, GError **errp)
{
    SchemaEntity *e = g_hash_table_lookup(s->commands, command);
    g_autoptr(JsonNode) empty = NULL;

    if (!e) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "The command %s has not been found", command);
        return false;
    }
    if (!ret) {
        empty = json_node_new(JSON_NODE_OBJECT);
        json_node_take_object(empty, json_object_new());
        ret = empty;
    }
    return check_value(e->ret ? e->ret : s->empty, ret, "return", "return",
                       errp);
}

/* ---- introspection -------------------------------------------------- */

typedef struct {
    GHashTable *names;          /* SchemaType -> masked name (owned) */
    GQueue pending;
    JsonArray *out;
    guint next;
} Introspector;

static void add_features(JsonObject *o, char **features)
{
    JsonArray *a;

    if (!features || !features[0]) {
        return;
    }
    a = json_array_new();
    for (char **f = features; *f; f++) {
        json_array_add_string_element(a, *f);
    }
    json_object_set_array_member(o, "features", a);
}

static const char *intro_use(Introspector *in, const SchemaType *t)
{
    char *name = g_hash_table_lookup(in->names, t);

    if (name) {
        return name;
    }
    if (t->kind == SCHEMA_BUILTIN) {
        name = g_strdup(t->name);
    } else if (t->kind == SCHEMA_ARRAY) {
        name = g_strdup_printf("[%s]", intro_use(in, t->element));
    } else {
        name = g_strdup_printf("%u", in->next++);
    }
    g_hash_table_insert(in->names, (gpointer)t, name);
    g_queue_push_tail(&in->pending, (gpointer)t);
    return name;
}

static void intro_emit_type(Introspector *in, const SchemaType *t)
{
    JsonObject *o = json_object_new();
    JsonArray *members;

    json_object_set_string_member(o, "name", intro_use(in, t));
    switch (t->kind) {
    case SCHEMA_BUILTIN:
        json_object_set_string_member(o, "meta-type", "builtin");
        json_object_set_string_member(o, "json-type", t->json_type);
        break;
    case SCHEMA_ENUM: {
        JsonArray *values = json_array_new();

        members = json_array_new();
        json_object_set_string_member(o, "meta-type", "enum");
        for (guint i = 0; i < t->values->len; i++) {
            JsonObject *m = json_object_new();

            json_object_set_string_member(m, "name",
                                          g_ptr_array_index(t->values, i));
            json_array_add_object_element(members, m);
            json_array_add_string_element(values,
                                          g_ptr_array_index(t->values, i));
        }
        json_object_set_array_member(o, "members", members);
        json_object_set_array_member(o, "values", values);
        break;
    }
    case SCHEMA_ARRAY:
        json_object_set_string_member(o, "meta-type", "array");
        json_object_set_string_member(o, "element-type",
                                      intro_use(in, t->element));
        break;
    case SCHEMA_OBJECT:
        members = json_array_new();
        json_object_set_string_member(o, "meta-type", "object");
        for (guint i = 0; i < t->members->len; i++) {
            SchemaMember *m = g_ptr_array_index(t->members, i);
            JsonObject *mo = json_object_new();

            json_object_set_string_member(mo, "name", m->name);
            json_object_set_string_member(mo, "type", intro_use(in, m->type));
            if (m->optional) {
                json_object_set_null_member(mo, "default");
            }
            add_features(mo, m->features);
            json_array_add_object_element(members, mo);
        }
        json_object_set_array_member(o, "members", members);
        if (t->tag) {
            JsonArray *variants = json_array_new();
            SchemaMember *tag = find_member(t, t->tag);

            json_object_set_string_member(o, "tag", t->tag);
            /* explicit cases first, then every other tag value with the
             * empty type, which is how QEMU lists them */
            for (guint i = 0; i < t->variants->len; i++) {
                SchemaVariant *v = g_ptr_array_index(t->variants, i);
                JsonObject *vo = json_object_new();

                json_object_set_string_member(vo, "case", v->tag_value);
                json_object_set_string_member(vo, "type",
                                              intro_use(in, v->type));
                json_array_add_object_element(variants, vo);
            }
            for (guint i = 0; i < tag->type->values->len; i++) {
                const char *val = g_ptr_array_index(tag->type->values, i);
                bool listed = false;
                JsonObject *vo;

                for (guint j = 0; j < t->variants->len; j++) {
                    SchemaVariant *v = g_ptr_array_index(t->variants, j);

                    listed |= !strcmp(v->tag_value, val);
                }
                if (listed) {
                    continue;
                }
                vo = json_object_new();
                json_object_set_string_member(vo, "case", val);
                json_object_set_string_member(vo, "type",
                                              intro_use(in, NULL));
                json_array_add_object_element(variants, vo);
            }
            json_object_set_array_member(o, "variants", variants);
        }
        break;
    }
    add_features(o, t->features);
    json_array_add_object_element(in->out, o);
}

JsonNode *qmp_schema_introspect(const QmpSchema *cs)
{
    QmpSchema *s = (QmpSchema *)cs;     /* only the cache is written */
    Introspector in = { 0 };
    JsonNode *node;

    if (s->introspection) {
        return json_node_ref(s->introspection);
    }
    in.names = g_hash_table_new_full(NULL, NULL, NULL, g_free);
    in.out = json_array_new();
    g_queue_init(&in.pending);
    /* NULL stands for q_empty in intro_use callers above */
    g_hash_table_insert(in.names, NULL, g_strdup("0"));
    g_hash_table_insert(in.names, s->empty, g_strdup("0"));
    in.next = 1;
    g_queue_push_tail(&in.pending, s->empty);

    for (guint i = 0; i < s->entities->len; i++) {
        SchemaEntity *e = g_ptr_array_index(s->entities, i);
        JsonObject *o = json_object_new();

        json_object_set_string_member(o, "name", e->name);
        json_object_set_string_member(o, "meta-type",
                                      e->is_event ? "event" : "command");
        json_object_set_string_member(o, "arg-type",
                                      intro_use(&in, e->args ? e->args
                                                             : s->empty));
        if (!e->is_event) {
            json_object_set_string_member(o, "ret-type",
                                          intro_use(&in, e->ret ? e->ret
                                                                : s->empty));
            if (e->allow_oob) {
                json_object_set_boolean_member(o, "allow-oob", TRUE);
            }
        }
        add_features(o, e->features);
        json_array_add_object_element(in.out, o);
    }
    while (!g_queue_is_empty(&in.pending)) {
        intro_emit_type(&in, g_queue_pop_head(&in.pending));
    }
    g_hash_table_unref(in.names);

    node = json_node_new(JSON_NODE_ARRAY);
    json_node_take_array(node, in.out);
    s->introspection = node;
    return json_node_ref(node);
}
