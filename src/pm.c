/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <glib.h>

#include "iobus.h"
#include "layout.h"
#include "pm.h"

#define PM_TIMER_HZ 3579545ULL

struct Pm {
    GMutex lock;
    PmOps ops;
    uint16_t sts;
    uint16_t en;
    uint16_t cnt;
    bool sci_level;
    uint8_t reset_reg;
};

/* The SCI is level-triggered: asserted while an enabled status is set. */
static void pm_update_sci(Pm *pm)
{
    bool level = (pm->sts & pm->en & (PM1_STS_PWRBTN | PM1_STS_TMR)) != 0;

    if (level != pm->sci_level) {
        pm->sci_level = level;
        pm->ops.set_sci(pm->ops.opaque, level);
    }
}

Pm *pm_new(const PmOps *ops)
{
    Pm *pm = g_new0(Pm, 1);

    g_mutex_init(&pm->lock);
    pm->ops = *ops;
    pm_reset(pm);
    return pm;
}

void pm_free(Pm *pm)
{
    if (pm) {
        g_mutex_clear(&pm->lock);
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
