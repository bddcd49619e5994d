/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * No keyboard or mouse is attached: the controller answers self-tests and
 * configuration so that Linux's i8042 probe is satisfied, and pulses the
 * reset line when told to (what `reboot=kbd` and the test guest use).
 */
#include <glib.h>

#include "i8042.h"

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
    GMutex lock;
    I8042Reset reset;
    void *opaque;
    uint8_t status;
    uint8_t config;
    uint8_t outport;
    uint8_t pending_cmd;        /* a command awaiting its data byte */
    int out;                    /* byte in the output buffer, -1 if none */
};

I8042 *i8042_new(I8042Reset reset, void *opaque)
{
    I8042 *k = g_new0(I8042, 1);

    g_mutex_init(&k->lock);
    k->reset = reset;
    k->opaque = opaque;
    k->status = STS_SYS;
    k->config = 0x45;           /* translate, system flag, keyboard int */
    k->outport = 0x03;          /* A20 on, reset line high (inactive) */
    k->out = -1;
    return k;
}

void i8042_free(I8042 *k)
{
    if (k) {
        g_mutex_clear(&k->lock);
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
