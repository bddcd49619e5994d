/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: bytes go through the QMP framer into the dispatcher
 * (stub handlers for every schema command), in both negotiation and
 * command mode; every reply is serialised compact and pretty, and the
 * compact text must parse back.  Build and run with tests/fuzz/run.sh.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json-stream.h"
#include "qmp-dispatch.h"
#include "qmp-schema.h"

static bool fuzz_ok(void *ctx, JsonObject *args, JsonNode **ret,
                    GError **errp)
{
    /* echo the arguments back: exercises the writer on hostile data */
    *ret = json_node_new(JSON_NODE_OBJECT);
    json_node_set_object(*ret, args);
    return true;
}

static bool fuzz_fail(void *ctx, JsonObject *args, JsonNode **ret,
                      GError **errp)
{
    g_set_error_literal(errp, QMP_ERROR, QMP_ERROR_DEVICE_NOT_FOUND,
                        "Device 'x' not found");
    return false;
}

static void fuzz_async(void *ctx, JsonObject *args, QmpRequest *req)
{
    qmp_request_complete(req, NULL, NULL);
}

static int command_cmp(const void *a, const void *b)
{
    return strcmp(((const QmpCommand *)a)->name,
                  ((const QmpCommand *)b)->name);
}

/* A handler for every command of the schema (it grows issue by issue):
 * most echo, some fail, some complete later, one is state-gated. */
static GArray *fuzz_commands(void)
{
    static const char *const builtin[] = {
        "qmp_capabilities", "query-commands", "query-qmp-schema",
        "query-version",
    };
    g_autoptr(GPtrArray) names =
        qmp_schema_list_commands(qmp_schema_get_default());
    GArray *t = g_array_new(FALSE, TRUE, sizeof(QmpCommand));

    for (guint i = 0; i < names->len; i++) {
        const char *name = g_ptr_array_index(names, i);
        QmpCommand c = { NULL, fuzz_ok, NULL, 0 };
        bool skip = false;

        for (gsize j = 0; j < G_N_ELEMENTS(builtin); j++) {
            skip = skip || !strcmp(builtin[j], name);
        }
        if (skip) {
            continue;
        }
        c.name = g_strdup(name);
        if (!strcmp(name, "cont")) {
            c.handler = NULL;
            c.async_handler = fuzz_async;
        } else if (!strcmp(name, "qom-get")) {
            c.handler = fuzz_fail;
        } else if (!strcmp(name, "stop")) {
            c.allowed_states = 1u << 1;
        }
        g_array_append_val(t, c);
    }
    g_array_sort(t, command_cmp);
    return t;
}

static guint32 fuzz_state(void *ctx)
{
    return 0;
}

typedef struct {
    QmpDispatcher *d;
    bool negotiated;
    unsigned values;
} FuzzSession;

static void fuzz_reply(JsonNode *reply, void *opaque)
{
    g_autofree char *compact = json_stream_to_string(reply, false);
    g_autofree char *pretty = json_stream_to_string(reply, true);
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) back = NULL;

    /* output is ASCII, one line */
    for (const char *p = compact; *p; p++) {
        if ((unsigned char)*p >= 0x80 || *p == '\n' || *p == '\r') {
            abort();
        }
    }
    back = json_stream_parse(compact, strlen(compact), &err);
    /* doubles out of range print as inf/nan, like QEMU: not JSON */
    if (!back && !strstr(compact, "inf") && !strstr(compact, "nan")) {
        abort();
    }
    json_node_unref(reply);
}

static void fuzz_value(JsonNode *value, const GError *err, void *opaque)
{
    FuzzSession *s = opaque;

    qmp_dispatch(s->d, &s->negotiated, value, err, fuzz_reply, s);
    if (value) {
        json_node_unref(value);
    }
    /* after a few values, switch to command mode */
    if (++s->values == 2) {
        s->negotiated = true;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static QmpDispatcher *d;
    FuzzSession s = { 0 };
    JsonStream *stream;

    if (!d) {
        static GArray *table;    /* lives as long as the dispatcher */

        table = fuzz_commands();
        QmpDispatchConfig cfg = {
            .commands = (const QmpCommand *)(void *)table->data,
            .n_commands = table->len,
            .current_state = fuzz_state,
            .version_major = 7, .version_minor = 2,
        };

        d = qmp_dispatcher_new(&cfg, NULL);
        if (!d) {
            abort();
        }
    }
    s.d = d;
    stream = json_stream_new(fuzz_value, &s);
    /* feed in two pieces to cover values split across reads */
    json_stream_feed(stream, data, size / 2);
    json_stream_feed(stream, data + size / 2, size - size / 2);
    json_stream_feed(stream, "\n", 1);
    json_stream_free(stream);
    return 0;
}
