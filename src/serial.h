/* SPDX-License-Identifier: GPL-2.0-or-later */
/* 8250/16550A UART with FIFOs and interrupt-driven rx/tx. */
#ifndef KESTREL_SERIAL_H
#define KESTREL_SERIAL_H

#include <stdbool.h>
#include <stdint.h>

#include "chardev.h"
#include "device.h"

typedef struct Serial Serial;
typedef void (*SerialSetIrq)(void *opaque, bool level);

/* The board's UARTs: instance n is COMn (ports 0x3f8, 0x2f8, 0x3e8,
 * 0x2e8; IRQ 4, 3, 4, 3) on the n-th -serial backend. */
extern const DeviceClass serial_class;

/* A UART outside any board (unit tests): no ports registered, interrupts
 * to @set_irq. Freed with serial_free. */
Serial *serial_new(Chardev *chr, SerialSetIrq set_irq, void *irq_opaque);
void serial_free(Serial *s);
void serial_reset(Serial *s);

/* The port I/O handler for the 8 registers (IoHandler signature). */
void serial_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
               bool is_write);

#endif /* KESTREL_SERIAL_H */
