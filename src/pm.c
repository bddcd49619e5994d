/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <glib.h>

#include "error.h"
#include "iobus.h"
#include "layout.h"
#include "migration/vmstate.h"
#include "pm.h"

#define PM_TIMER_HZ 3579545ULL

struct Pm {
    Device dev;                 /* first: a Device* is a Pm* */
    GMutex lock;
    PmOps ops;
    /* On a board, ops go through these (the machine's services). */
    void (*board_set_irq)(void *opaque, unsigned int gsi, bool level);
    void (*board_poweroff)(void *opaque);
    void (*board_reset)(void *opaque);
    void *board_opaque;
    bool sci_level;             /* derived: what set_sci was last told */
    bool paused;                /* the SCI is not driven */
    /* Guest-visible state (pm_vmsd). No timer state: PM_TMR is computed
     * from the host's monotonic clock on each read. */
    uint16_t sts;
    uint16_t en;
    uint16_t cnt;
    uint8_t reset_reg;
};

/* The SCI is level-triggered: asserted while an enabled status is set. */
static void pm_update_sci(Pm *pm)
{
    bool level = (pm->sts & pm->en & (PM1_STS_PWRBTN | PM1_STS_TMR)) != 0;

    /* Paused (a power button pressed while stopped): resume raises it. */
    if (pm->paused) {
        return;
    }
    if (level != pm->sci_level) {
        pm->sci_level = level;
        pm->ops.set_sci(pm->ops.opaque, level);
    }
}

static void pm_init(Pm *pm, const PmOps *ops)
{
    g_mutex_init(&pm->lock);
    pm->ops = *ops;
    pm_reset(pm);
}

Pm *pm_new(const PmOps *ops)
{
    Pm *pm = g_new0(Pm, 1);

    pm->dev.cls = &pm_class;
    pm_init(pm, ops);
    return pm;
}

static void pm_unrealize(Device *dev)
{
    Pm *pm = (Pm *)dev;

    if (pm->ops.set_sci) {
        g_mutex_clear(&pm->lock);
    }
}

void pm_free(Pm *pm)
{
    if (pm) {
        pm_unrealize(&pm->dev);
        g_free(pm);
    }
}

void pm_reset(Pm *pm)
{
    g_mutex_lock(&pm->lock);
    pm->sts = 0;
    pm->en = 0;
    /* No SMI_CMD: the machine is always in ACPI mode, so SCI_EN reads 1. */
    pm->cnt = PM1_CNT_SCI_EN;
    pm->reset_reg = 0;
    pm_update_sci(pm);
    g_mutex_unlock(&pm->lock);
}

void pm_press_power_button(Pm *pm)
{
    g_mutex_lock(&pm->lock);
    pm->sts |= PM1_STS_PWRBTN;
    pm_update_sci(pm);
    g_mutex_unlock(&pm->lock);
}

void pm_evt_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
               bool is_write)
{
    Pm *pm = opaque;
    /* Accesses may be 1, 2 or 4 bytes wide; build a 32-bit view of
     * status (low half) and enable (high half). */
    uint32_t reg, v, mask;
    unsigned int shift = (unsigned int)offset * 8;

    if (offset + len > PORT_PM1A_EVT_LEN) {
        if (!is_write) {
            io_data_set(data, len, ~0ULL);
        }
        return;
    }
    mask = len >= 4 ? 0xffffffffu : ((1u << (len * 8)) - 1) << shift;
    g_mutex_lock(&pm->lock);
    reg = pm->sts | ((uint32_t)pm->en << 16);
    if (is_write) {
        v = (uint32_t)io_data_get(data, len) << shift;
        /* Status bits are write-one-to-clear; enables are plain. */
        pm->sts &= (uint16_t)~(v & mask & 0xffff);
        pm->en = (uint16_t)((pm->en & ~(mask >> 16)) | ((v & mask) >> 16));
        pm_update_sci(pm);
    } else {
        io_data_set(data, len, (reg & mask) >> shift);
    }
    g_mutex_unlock(&pm->lock);
}

void pm_cnt_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
               bool is_write)
{
    Pm *pm = opaque;
    bool poweroff = false;
    unsigned int shift = (unsigned int)offset * 8;
    uint16_t v;

    if (offset + len > PORT_PM1A_CNT_LEN) {
        if (!is_write) {
            io_data_set(data, len, ~0ULL);
        }
        return;
    }
    g_mutex_lock(&pm->lock);
    if (is_write) {
        uint16_t mask = (uint16_t)(len >= 2 ? 0xffff : 0xff << shift);

        v = (uint16_t)(io_data_get(data, len) << shift);
        if (v & PM1_CNT_SLP_EN) {
            unsigned int typ = (v & PM1_CNT_SLP_TYP_MASK) >>
                               PM1_CNT_SLP_TYP_SHIFT;

            /* Only S5 exists here; other sleep types are ignored, as
             * the DSDT offers none. */
            poweroff = typ == ACPI_S5_SLP_TYP;
        }
        /* SLP_EN is write-only; SCI_EN stays set. */
        pm->cnt = (uint16_t)(((pm->cnt & ~mask) | (v & mask)) &
                             ~PM1_CNT_SLP_EN) | PM1_CNT_SCI_EN;
    } else {
        io_data_set(data, len, pm->cnt >> shift);
    }
    g_mutex_unlock(&pm->lock);
    if (poweroff) {
        pm->ops.poweroff(pm->ops.opaque);
    }
}

void pm_tmr_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
               bool is_write)
{
    uint64_t ns = (uint64_t)g_get_monotonic_time() * 1000;
    uint32_t ticks = (uint32_t)((ns / 1000) * PM_TIMER_HZ / 1000000) &
                     0xffffff;

    (void)opaque;
    if (!is_write) {
        io_data_set(data, len, (uint64_t)ticks >> (offset * 8));
    }
}

void pm_reset_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
                 bool is_write)
{
    Pm *pm = opaque;
    bool reset = false;

    g_mutex_lock(&pm->lock);
    if (is_write) {
        /* Bit 2 asks for the reset, bit 1 makes it a hard one: 0x06 is
         * what the FADT's RESET_VALUE says and 0x04/0x0e work too. */
        reset = (data[0] & 0x04) && !(pm->reset_reg & 0x04);
        pm->reset_reg = data[0] & ~0x04;
    } else {
        data[0] = pm->reset_reg;
    }
    g_mutex_unlock(&pm->lock);
    if (reset) {
        pm->ops.reset(pm->ops.opaque);
    }
}

/* --- the board device ----------------------------------------------------- */

static void pm_board_sci(void *opaque, bool level)
{
    Pm *pm = opaque;

    pm->board_set_irq(pm->board_opaque, IRQ_SCI, level);
}

static void pm_board_poweroff(void *opaque)
{
    Pm *pm = opaque;

    pm->board_poweroff(pm->board_opaque);
}

static void pm_board_reset(void *opaque)
{
    Pm *pm = opaque;

    pm->board_reset(pm->board_opaque);
}

static bool pm_realize(Device *dev, const DeviceContext *ctx, GError **errp)
{
    Pm *pm = (Pm *)dev;
    PmOps ops = {
        .set_sci = pm_board_sci, .poweroff = pm_board_poweroff,
        .reset = pm_board_reset, .opaque = pm,
    };

    pm->board_set_irq = ctx->set_irq;
    pm->board_poweroff = ctx->guest_poweroff;
    pm->board_reset = ctx->guest_reset;
    pm->board_opaque = ctx->opaque;
    pm_init(pm, &ops);
    return iobus_register(ctx->pio, PORT_PM1A_EVT, PORT_PM1A_EVT_LEN,
                          pm_evt_io, pm, "pm1a-evt", errp) &&
           iobus_register(ctx->pio, PORT_PM1A_CNT, PORT_PM1A_CNT_LEN,
                          pm_cnt_io, pm, "pm1a-cnt", errp) &&
           iobus_register(ctx->pio, PORT_PM_TMR, PORT_PM_TMR_LEN, pm_tmr_io,
                          pm, "pm-tmr", errp);
}

static void pm_class_reset(Device *dev)
{
    pm_reset((Pm *)dev);
}

static void pm_pause(Device *dev)
{
    Pm *pm = (Pm *)dev;

    g_mutex_lock(&pm->lock);
    pm->paused = true;
    g_mutex_unlock(&pm->lock);
}

static void pm_resume(Device *dev)
{
    Pm *pm = (Pm *)dev;

    g_mutex_lock(&pm->lock);
    pm->paused = false;
    pm_update_sci(pm);
    g_mutex_unlock(&pm->lock);
}

static bool pm_post_load(void *opaque, uint32_t version, GError **errp)
{
    Pm *pm = opaque;

    if (!(pm->cnt & PM1_CNT_SCI_EN) || (pm->cnt & PM1_CNT_SLP_EN)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "field 'cnt': 0x%04x (SCI_EN must be set, SLP_EN clear)",
                    pm->cnt);
        return false;
    }
    if (pm->reset_reg & 0x04) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "field 'reset_reg': 0x%02x has the reset bit set",
                    pm->reset_reg);
        return false;
    }
    g_mutex_lock(&pm->lock);
    pm_update_sci(pm);
    g_mutex_unlock(&pm->lock);
    return true;
}

/* Wire names: never rename. */
static const VmsDesc pm_vmsd = {
    .name = "acpi-pm",
    .version = 1,
    .min_version = 1,
    .post_load = pm_post_load,
    .fields = (const VmsField[]) {
        VMS_U16(Pm, sts),
        VMS_U16(Pm, en),
        VMS_U16(Pm, cnt),
        VMS_U8(Pm, reset_reg),
        VMS_END_OF_LIST,
    },
};

const DeviceClass pm_class = {
    .name = "acpi-pm",
    .instance_size = sizeof(Pm),
    .realize = pm_realize,
    .reset = pm_class_reset,
    .unrealize = pm_unrealize,
    .vmsd = &pm_vmsd,
    .pause = pm_pause,
    .resume = pm_resume,
};
