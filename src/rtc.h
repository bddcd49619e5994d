/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Minimal MC146818 CMOS RTC: the time (from the host clock, UTC), the
 * status registers, and the memory-size bytes firmware would leave. */
#ifndef KESTREL_RTC_H
#define KESTREL_RTC_H

#include <stdbool.h>
#include <stdint.h>

#include "device.h"

typedef struct Rtc Rtc;

/* The board's RTC: ports 0x70-0x71, memory sizes from the context. */
extern const DeviceClass rtc_class;

/* An RTC outside any board (unit tests); freed with rtc_free. */
Rtc *rtc_new(uint64_t ram_below_4g, uint64_t ram_above_4g);
void rtc_free(Rtc *rtc);
/* Ports 0x70 (index, offset 0) and 0x71 (data, offset 1). */
void rtc_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
            bool is_write);

#endif /* KESTREL_RTC_H */
