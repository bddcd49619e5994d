/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * No keyboard or mouse is attached: the controller answers self-tests and
 * configuration so that Linux's i8042 probe is satisfied, and pulses the
 * reset line when told to (what `reboot=kbd` and the test guest use).
 */
#include <glib.h>

#include "error.h"
#include "i8042.h"
#include "layout.h"
#include "migration/vmstate.h"

#define I8042_DATA      0
#define I8042_CMD       4

#define STS_OBF         0x01    /* output buffer full */
#define STS_SYS         0x04    /* system flag: POST passed */
#define STS_CMD         0x08    /* last write was a command */

#define CMD_READ_CONFIG     0x20
#define CMD_WRITE_CONFIG    0x60
#define CMD_DISABLE_AUX     0xa7
#define CMD_ENABLE_AUX      0xa8
#define CMD_TEST_AUX        0xa9
#define CMD_SELF_TEST       0xaa
#define CMD_TEST_KBD        0xab
#define CMD_DISABLE_KBD     0xad
#define CMD_ENABLE_KBD      0xae
#define CMD_READ_OUTPORT    0xd0
#define CMD_WRITE_OUTPORT   0xd1
#define CMD_PULSE_RESET     0xfe

struct I8042 {
    Device dev;                 /* first: a Device* is an I8042* */
    GMutex lock;
    I8042Reset reset;
    void *opaque;
    /* Guest-visible state (i8042_vmsd). */
    uint8_t status;
    uint8_t config;
    uint8_t outport;
    uint8_t pending_cmd;        /* a command awaiting its data byte */
    int32_t out;                /* byte in the output buffer, -1 if none */
};

static void i8042_reset(Device *dev)
{
    I8042 *k = (I8042 *)dev;

    g_mutex_lock(&k->lock);
    k->status = STS_SYS;
    k->config = 0x45;           /* translate, system flag, keyboard int */
    k->outport = 0x03;          /* A20 on, reset line high (inactive) */
    k->pending_cmd = 0;
    k->out = -1;
    g_mutex_unlock(&k->lock);
}

static void i8042_init(I8042 *k, I8042Reset reset, void *opaque)
{
    g_mutex_init(&k->lock);
    k->reset = reset;
    k->opaque = opaque;
    i8042_reset(&k->dev);
}

I8042 *i8042_new(I8042Reset reset, void *opaque)
{
    I8042 *k = g_new0(I8042, 1);

    k->dev.cls = &i8042_class;
    i8042_init(k, reset, opaque);
    return k;
}

static void i8042_unrealize(Device *dev)
{
    I8042 *k = (I8042 *)dev;

    if (k->reset) {
        g_mutex_clear(&k->lock);
    }
}

void i8042_free(I8042 *k)
{
    if (k) {
        i8042_unrealize(&k->dev);
        g_free(k);
    }
}

static void i8042_reply(I8042 *k, uint8_t v)
{
    k->out = v;
    k->status |= STS_OBF;
}

/* Returns true if the CPU reset line was pulsed. */
static bool i8042_command(I8042 *k, uint8_t cmd)
{
    k->status |= STS_CMD;
    switch (cmd) {
    case CMD_READ_CONFIG:
        i8042_reply(k, k->config);
        break;
    case CMD_WRITE_CONFIG:
    case CMD_WRITE_OUTPORT:
        k->pending_cmd = cmd;
        break;
    case CMD_SELF_TEST:
        i8042_reply(k, 0x55);
        break;
    case CMD_TEST_KBD:
    case CMD_TEST_AUX:
        i8042_reply(k, 0x00);
        break;
    case CMD_READ_OUTPORT:
        i8042_reply(k, k->outport);
        break;
    case CMD_PULSE_RESET:
        return true;
    default:
        /* Enable/disable and the rest: accepted, nothing attached. */
        if ((cmd & 0xf0) == 0xf0 && !(cmd & 0x01)) {
            return true;        /* 0xf0-0xfe even: pulse bit 0 = reset */
        }
        break;
    }
    return false;
}

void i8042_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
              bool is_write)
{
    I8042 *k = opaque;
    bool reset = false;

    g_mutex_lock(&k->lock);
    if (offset == I8042_CMD) {
        if (is_write) {
            reset = i8042_command(k, data[0]);
        } else {
            data[0] = k->status;
        }
    } else if (offset == I8042_DATA) {
        if (is_write) {
            k->status &= ~STS_CMD;
            if (k->pending_cmd == CMD_WRITE_CONFIG) {
                k->config = data[0];
            } else if (k->pending_cmd == CMD_WRITE_OUTPORT) {
                k->outport = data[0];
                reset = !(data[0] & 0x01);
            } else {
                /* A byte for the (absent) keyboard: it does not answer. */
            }
            k->pending_cmd = 0;
        } else {
            data[0] = k->out >= 0 ? (uint8_t)k->out : 0;
            k->out = -1;
            k->status &= ~STS_OBF;
        }
    } else if (!is_write) {
        data[0] = 0xff;
    }
    for (uint32_t i = 1; i < len && !is_write; i++) {
        data[i] = 0xff;
    }
    g_mutex_unlock(&k->lock);
    if (reset) {
        k->reset(k->opaque);
    }
}

/* --- the board device ----------------------------------------------------- */

static bool i8042_realize(Device *dev, const DeviceContext *ctx,
                          GError **errp)
{
    I8042 *k = (I8042 *)dev;

    i8042_init(k, ctx->guest_reset, ctx->opaque);
    return iobus_register(ctx->pio, PORT_I8042_DATA, 5, i8042_io, k, "i8042",
                          errp);
}

static bool i8042_post_load(void *opaque, uint32_t version, GError **errp)
{
    I8042 *k = opaque;

    if (k->out < -1 || k->out > 0xff) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "field 'out': %d is not a byte or -1", k->out);
        return false;
    }
    if (k->pending_cmd && k->pending_cmd != CMD_WRITE_CONFIG &&
        k->pending_cmd != CMD_WRITE_OUTPORT) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "field 'pending_cmd': 0x%02x takes no data byte",
                    k->pending_cmd);
        return false;
    }
    return true;
}

/* Wire names: never rename. */
static const VmsDesc i8042_vmsd = {
    .name = "i8042",
    .version = 1,
    .min_version = 1,
    .post_load = i8042_post_load,
    .fields = (const VmsField[]) {
        VMS_U8(I8042, status),
        VMS_U8(I8042, config),
        VMS_U8(I8042, outport),
        VMS_U8(I8042, pending_cmd),
        VMS_I32(I8042, out),
        VMS_END_OF_LIST,
    },
};

const DeviceClass i8042_class = {
    .name = "i8042",
    .instance_size = sizeof(I8042),
    .realize = i8042_realize,
    .reset = i8042_reset,
    .unrealize = i8042_unrealize,
    .vmsd = &i8042_vmsd,
};
