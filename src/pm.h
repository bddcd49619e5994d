/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ACPI fixed hardware: PM1a event and control blocks, the PM timer, the
 * power button and the reset register (0xcf9). Sleep to S5 powers off.
 */
#ifndef KESTREL_PM_H
#define KESTREL_PM_H

#include <stdbool.h>
#include <stdint.h>

#include "device.h"

typedef struct Pm Pm;

/* The board's ACPI PM: PM1a blocks and timer ports, SCI on IRQ_SCI,
 * poweroff and reset to the machine. The 0xcf9 reset register is reached
 * through pm_reset_io (the machine shares that port with PCI). */
extern const DeviceClass pm_class;

typedef struct {
    void (*set_sci)(void *opaque, bool level);
    void (*poweroff)(void *opaque);     /* guest entered S5 */
    void (*reset)(void *opaque);        /* guest wrote the reset register */
    void *opaque;
} PmOps;

/* A PM outside any board (unit tests); freed with pm_free. */
Pm *pm_new(const PmOps *ops);
void pm_free(Pm *pm);
void pm_reset(Pm *pm);

/* Press the power button: PWRBTN_STS, and the SCI if the guest enabled it. */
void pm_press_power_button(Pm *pm);

/* Port handlers: PM1a event block (4 bytes), control (2), timer (4),
 * reset register (1). */
void pm_evt_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
               bool is_write);
void pm_cnt_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
               bool is_write);
void pm_tmr_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
               bool is_write);
void pm_reset_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
                 bool is_write);

#endif /* KESTREL_PM_H */
