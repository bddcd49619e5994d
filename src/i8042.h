/* SPDX-License-Identifier: GPL-2.0-or-later */
/* i8042 keyboard controller: only what firmware-less guests use, the
 * status port and the CPU reset line (command 0xfe). */
#ifndef KESTREL_I8042_H
#define KESTREL_I8042_H

#include <stdbool.h>
#include <stdint.h>

#include "device.h"

typedef struct I8042 I8042;
typedef void (*I8042Reset)(void *opaque);

/* The board's controller: ports 0x60 and 0x64, reset to the machine. */
extern const DeviceClass i8042_class;

/* A controller outside any board (unit tests); freed with i8042_free. */
I8042 *i8042_new(I8042Reset reset, void *opaque);
void i8042_free(I8042 *k);
/* Ports 0x60 (offset 0) and 0x64 (offset 4): register one range of 5. */
void i8042_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
              bool is_write);

#endif /* KESTREL_I8042_H */
