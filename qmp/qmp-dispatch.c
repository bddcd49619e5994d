/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Request checking and dispatch.  The order of the checks is QEMU 7.2's
 * (monitor/qmp.c, qapi/qmp-dispatch.c), which decides which error a
 * request with several faults gets.
 */
#include <stdlib.h>
#include <string.h>

#include "json-stream.h"
#include "qmp-dispatch.h"

struct QmpDispatcher {
    QmpDispatchConfig cfg;
    char *package;
};

struct QmpRequest {
    char *command;
    JsonNode *id;
    QmpReplyFunc reply;
    void *opaque;
};

typedef bool (*BuiltinFunc)(QmpDispatcher *d, bool *negotiated,
                            JsonObject *args, JsonNode **ret, GError **errp);

static bool builtin_qmp_capabilities(QmpDispatcher *d, bool *negotiated,
                                     JsonObject *args, JsonNode **ret,
                                     GError **errp);
static bool builtin_query_version(QmpDispatcher *d, bool *negotiated,
                                  JsonObject *args, JsonNode **ret,
                                  GError **errp);
static bool builtin_query_commands(QmpDispatcher *d, bool *negotiated,
                                   JsonObject *args, JsonNode **ret,
                                   GError **errp);
static bool builtin_query_qmp_schema(QmpDispatcher *d, bool *negotiated,
                                     JsonObject *args, JsonNode **ret,
                                     GError **errp);

static const struct {
    const char *name;
    BuiltinFunc func;
} builtins[] = {
    { "qmp_capabilities", builtin_qmp_capabilities },
    { "query-commands", builtin_query_commands },
    { "query-qmp-schema", builtin_query_qmp_schema },
    { "query-version", builtin_query_version },
};

static BuiltinFunc find_builtin(const char *name)
{
    for (gsize i = 0; i < G_N_ELEMENTS(builtins); i++) {
        if (!strcmp(builtins[i].name, name)) {
            return builtins[i].func;
        }
    }
    return NULL;
}

static int command_cmp(const void *key, const void *elt)
{
    return strcmp(key, ((const QmpCommand *)elt)->name);
}

static const QmpCommand *find_command(const QmpDispatcher *d,
                                      const char *name)
{
    if (!d->cfg.n_commands) {
        return NULL;
    }
    return bsearch(name, d->cfg.commands, d->cfg.n_commands,
                   sizeof(QmpCommand), command_cmp);
}

bool qmp_dispatch_check_table(const QmpSchema *schema,
                              const QmpCommand *commands, size_t n,
                              GError **errp)
{
    g_autoptr(GString) problems = g_string_new(NULL);
    g_autoptr(GPtrArray) names = qmp_schema_list_commands(schema);

    for (size_t i = 0; i < n; i++) {
        const QmpCommand *c = &commands[i];

        if (i && strcmp(commands[i - 1].name, c->name) >= 0) {
            g_string_append_printf(problems, "; '%s' is out of order",
                                   c->name);
        }
        if (!c->handler == !c->async_handler) {
            g_string_append_printf(problems, "; '%s' needs one handler",
                                   c->name);
        }
        if (find_builtin(c->name)) {
            g_string_append_printf(problems, "; '%s' is answered by libqmp",
                                   c->name);
        } else if (!qmp_schema_has_command(schema, c->name)) {
            g_string_append_printf(problems, "; '%s' is not in the schema",
                                   c->name);
        }
    }
    for (guint i = 0; i < names->len; i++) {
        const char *name = g_ptr_array_index(names, i);
        bool found = find_builtin(name) != NULL;

        for (size_t j = 0; !found && j < n; j++) {
            found = !strcmp(commands[j].name, name);
        }
        if (!found) {
            g_string_append_printf(problems, "; schema command '%s' has no "
                                   "handler", name);
        }
    }
    if (problems->len) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "QMP command table and schema disagree%s",
                    problems->str);
        return false;
    }
    return true;
}

QmpDispatcher *qmp_dispatcher_new(const QmpDispatchConfig *cfg, GError **errp)
{
    QmpDispatcher *d;
    const QmpSchema *schema = cfg->schema ? cfg->schema
                                          : qmp_schema_get_default();

    if (!qmp_dispatch_check_table(schema, cfg->commands, cfg->n_commands,
                                  errp)) {
        return NULL;
    }
    d = g_new0(QmpDispatcher, 1);
    d->cfg = *cfg;
    d->cfg.schema = schema;
    d->package = g_strdup(cfg->package ? cfg->package : "");
    d->cfg.package = d->package;
    return d;
}

void qmp_dispatcher_free(QmpDispatcher *d)
{
    if (!d) {
        return;
    }
    g_free(d->package);
    g_free(d);
}

const QmpSchema *qmp_dispatcher_get_schema(const QmpDispatcher *d)
{
    return d->cfg.schema;
}

/* ---- replies -------------------------------------------------------- */

JsonNode *qmp_reply_error(const GError *err, JsonNode *id)
{
    JsonObject *o = json_object_new();
    JsonObject *e = json_object_new();
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);

    json_object_set_string_member(e, "class", qmp_error_class(err));
    json_object_set_string_member(e, "desc", err->message);
    json_object_set_object_member(o, "error", e);
    if (id) {
        json_object_set_member(o, "id", json_node_copy(id));
    }
    json_node_take_object(node, o);
    return node;
}

JsonNode *qmp_reply_return(JsonNode *ret, JsonNode *id)
{
    JsonObject *o = json_object_new();
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);

    if (!ret) {
        ret = json_node_new(JSON_NODE_OBJECT);
        json_node_take_object(ret, json_object_new());
    }
    json_object_set_member(o, "return", ret);
    if (id) {
        json_object_set_member(o, "id", json_node_copy(id));
    }
    json_node_take_object(node, o);
    return node;
}

JsonNode *qmp_event_new(const char *name, JsonObject *data)
{
    JsonObject *o = json_object_new();
    JsonObject *ts = json_object_new();
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);
    gint64 now = g_get_real_time();

    json_object_set_string_member(o, "event", name);
    if (data) {
        json_object_set_object_member(o, "data", json_object_ref(data));
    }
    json_object_set_int_member(ts, "seconds", now / G_USEC_PER_SEC);
    json_object_set_int_member(ts, "microseconds", now % G_USEC_PER_SEC);
    json_object_set_object_member(o, "timestamp", ts);
    json_node_take_object(node, o);
    return node;
}

static JsonNode *version_info(const QmpDispatcher *d)
{
    JsonObject *v = json_object_new();
    JsonObject *q = json_object_new();
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);

    json_object_set_int_member(q, "major", d->cfg.version_major);
    json_object_set_int_member(q, "minor", d->cfg.version_minor);
    json_object_set_int_member(q, "micro", d->cfg.version_micro);
    json_object_set_object_member(v, "qemu", q);
    json_object_set_string_member(v, "package", d->cfg.package);
    json_node_take_object(node, v);
    return node;
}

JsonNode *qmp_dispatcher_greeting(const QmpDispatcher *d)
{
    JsonObject *qmp = json_object_new();
    JsonObject *o = json_object_new();
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);

    /* No "oob": we have no out-of-band execution.  QEMU offers it on
     * socket monitors only; an empty list is legal and libvirt and
     * qemu.qmp never ask for it. */
    json_object_set_member(qmp, "version", version_info(d));
    json_object_set_array_member(qmp, "capabilities", json_array_new());
    json_object_set_object_member(o, "QMP", qmp);
    json_node_take_object(node, o);
    return node;
}

/* ---- built-in commands ---------------------------------------------- */

static bool builtin_qmp_capabilities(QmpDispatcher *d, bool *negotiated,
                                     JsonObject *args, JsonNode **ret,
                                     GError **errp)
{
    JsonNode *enable = json_object_get_member(args, "enable");

    if (*negotiated) {
        g_set_error_literal(errp, QMP_ERROR, QMP_ERROR_COMMAND_NOT_FOUND,
                            "Capabilities negotiation is already complete, "
                            "command ignored");
        return false;
    }
    if (enable) {
        JsonArray *a = json_node_get_array(enable);

        /* the schema checked the names; none is offered, and QEMU
         * lists every one asked for */
        if (json_array_get_length(a)) {
            g_autoptr(GString) names = g_string_new(NULL);

            for (guint i = 0; i < json_array_get_length(a); i++) {
                g_string_append_printf(names, "%s%s", i ? ", " : "",
                                       json_array_get_string_element(a, i));
            }
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "Capability %s not available", names->str);
            return false;
        }
    }
    *negotiated = true;
    return true;
}

static bool builtin_query_version(QmpDispatcher *d, bool *negotiated,
                                  JsonObject *args, JsonNode **ret,
                                  GError **errp)
{
    *ret = version_info(d);
    return true;
}

static bool builtin_query_commands(QmpDispatcher *d, bool *negotiated,
                                   JsonObject *args, JsonNode **ret,
                                   GError **errp)
{
    g_autoptr(GPtrArray) names = qmp_schema_list_commands(d->cfg.schema);
    JsonArray *a = json_array_new();

    /* QEMU lists them newest registration first: reverse schema order */
    for (guint i = names->len; i-- > 0;) {
        JsonObject *o = json_object_new();

        json_object_set_string_member(o, "name",
                                      g_ptr_array_index(names, i));
        json_array_add_object_element(a, o);
    }
    *ret = json_node_new(JSON_NODE_ARRAY);
    json_node_take_array(*ret, a);
    return true;
}

static bool builtin_query_qmp_schema(QmpDispatcher *d, bool *negotiated,
                                     JsonObject *args, JsonNode **ret,
                                     GError **errp)
{
    *ret = qmp_schema_introspect(d->cfg.schema);
    return true;
}

/* ---- dispatch ------------------------------------------------------- */

static bool reply_now(QmpReplyFunc reply, void *opaque, JsonNode *node)
{
    reply(node, opaque);
    return true;
}

static bool reply_error_now(QmpReplyFunc reply, void *opaque, JsonNode *id,
                            QmpErrorCode code, const char *fmt, ...)
    G_GNUC_PRINTF(5, 6);

static bool reply_error_now(QmpReplyFunc reply, void *opaque, JsonNode *id,
                            QmpErrorCode code, const char *fmt, ...)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    err = g_error_new_literal(QMP_ERROR, code, msg);
    return reply_now(reply, opaque, qmp_reply_error(err, id));
}

/* QEMU's request-shape checks, in its member iteration order. */
static bool check_request(JsonObject *req, const char **command,
                          GError **errp)
{
    g_autoptr(GPtrArray) keys = json_stream_member_order(req);

    *command = NULL;
    for (guint i = 0; i < keys->len; i++) {
        const char *key = g_ptr_array_index(keys, i);
        JsonNode *v = json_object_get_member(req, key);

        if (!strcmp(key, "execute")) {
            if (!JSON_NODE_HOLDS_VALUE(v)
                || json_node_get_value_type(v) != G_TYPE_STRING) {
                g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                            "QMP input member '%s' must be a string", key);
                return false;
            }
            *command = json_node_get_string(v);
        } else if (!strcmp(key, "arguments")) {
            if (!JSON_NODE_HOLDS_OBJECT(v)) {
                g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                            "QMP input member '%s' must be an object", key);
                return false;
            }
        } else if (strcmp(key, "id")) {
            /* includes "exec-oob": oob is never negotiated here */
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "QMP input member '%s' is unexpected", key);
            return false;
        }
    }
    if (!*command) {
        g_set_error_literal(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                            "QMP input lacks member 'execute'");
        return false;
    }
    return true;
}

bool qmp_dispatch(QmpDispatcher *d, bool *negotiated, JsonNode *request,
                  const GError *parse_err, QmpReplyFunc reply, void *opaque)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonObject) empty = json_object_new();
    JsonObject *req, *args;
    JsonNode *id, *ret = NULL;
    const QmpCommand *cmd = NULL;
    BuiltinFunc builtin = NULL;
    const char *name;

    if (!request) {
        return reply_now(reply, opaque, qmp_reply_error(parse_err, NULL));
    }
    if (!JSON_NODE_HOLDS_OBJECT(request)) {
        return reply_error_now(reply, opaque, NULL, QMP_ERROR_GENERIC,
                               "QMP input must be a JSON object");
    }
    req = json_node_get_object(request);
    id = json_object_get_member(req, "id");
    if (!check_request(req, &name, &err)) {
        return reply_now(reply, opaque, qmp_reply_error(err, id));
    }
    args = json_object_has_member(req, "arguments")
        ? json_object_get_object_member(req, "arguments") : empty;

    if (!*negotiated && strcmp(name, "qmp_capabilities")) {
        return reply_error_now(reply, opaque, id, QMP_ERROR_COMMAND_NOT_FOUND,
                               "Expecting capabilities negotiation with "
                               "'qmp_capabilities'");
    }
    builtin = find_builtin(name);
    if (!builtin) {
        cmd = find_command(d, name);
    }
    if ((!builtin && !cmd) || !qmp_schema_has_command(d->cfg.schema, name)) {
        return reply_error_now(reply, opaque, id, QMP_ERROR_COMMAND_NOT_FOUND,
                               "The command %s has not been found", name);
    }
    if (cmd && cmd->allowed_states && d->cfg.current_state) {
        guint32 state = d->cfg.current_state(d->cfg.ctx);

        if (state >= 32 || !(cmd->allowed_states & QMP_STATE(state))) {
            if (d->cfg.refuse) {
                d->cfg.refuse(d->cfg.ctx, cmd, state, &err);
            }
            if (!err) {
                g_set_error(&err, QMP_ERROR, QMP_ERROR_GENERIC,
                            "The command %s is not available in the current "
                            "state", name);
            }
            return reply_now(reply, opaque, qmp_reply_error(err, id));
        }
    }
    if (!qmp_schema_check_args(d->cfg.schema, name, args, &err)) {
        return reply_now(reply, opaque, qmp_reply_error(err, id));
    }

    if (cmd && cmd->async_handler) {
        QmpRequest *r = g_new0(QmpRequest, 1);

        r->command = g_strdup(name);
        r->id = id ? json_node_copy(id) : NULL;
        r->reply = reply;
        r->opaque = opaque;
        cmd->async_handler(d->cfg.ctx, args, r);
        return false;
    }
    if (builtin ? builtin(d, negotiated, args, &ret, &err)
                : cmd->handler(d->cfg.ctx, args, &ret, &err)) {
        return reply_now(reply, opaque, qmp_reply_return(ret, id));
    }
    if (ret) {
        json_node_unref(ret);
    }
    if (!err) {
        g_warning("QMP handler of %s failed without an error", name);
        g_set_error(&err, QMP_ERROR, QMP_ERROR_GENERIC,
                    "The command %s failed", name);
    }
    return reply_now(reply, opaque, qmp_reply_error(err, id));
}

void qmp_request_complete(QmpRequest *req, JsonNode *ret, GError *err)
{
    JsonNode *reply;

    if (err) {
        if (ret) {
            json_node_unref(ret);
        }
        reply = qmp_reply_error(err, req->id);
        g_error_free(err);
    } else {
        reply = qmp_reply_return(ret, req->id);
    }
    req->reply(reply, req->opaque);
    if (req->id) {
        json_node_unref(req->id);
    }
    g_free(req->command);
    g_free(req);
}

const char *qmp_request_get_command(const QmpRequest *req)
{
    return req->command;
}
