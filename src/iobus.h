/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * IoBus: sorted, non-overlapping ranges of port I/O or MMIO space, each
 * with one handler. Port I/O and MMIO share the handler signature and the
 * dispatch path; handlers see offsets relative to their range.
 */
#ifndef KESTREL_IOBUS_H
#define KESTREL_IOBUS_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "bytes.h"

/* One access: @data holds @len bytes (1, 2, 4 or 8), little endian.
 * A read handler fills @data; a write handler consumes it. */
typedef void (*IoHandler)(void *opaque, uint64_t offset, uint8_t *data,
                          uint32_t len, bool is_write);

typedef struct {
    uint64_t base;
    uint64_t len;
    IoHandler handler;
    void *opaque;
    const char *name;
} IoRange;

typedef struct IoBus {
    const char *name;           /* "pio" or "mmio", for messages */
    GRWLock lock;               /* ranges change rarely (BAR moves) */
    GArray *ranges;             /* IoRange, sorted by base */
} IoBus;

IoBus *iobus_new(const char *name);
void iobus_free(IoBus *bus);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(IoBus, iobus_free)

/* Add [base, base+len). Fails if it overlaps a range already there. */
bool iobus_register(IoBus *bus, uint64_t base, uint64_t len,
                    IoHandler handler, void *opaque, const char *name,
                    GError **errp);

/* Remove the range starting at @base owned by @opaque. */
bool iobus_unregister(IoBus *bus, uint64_t base, void *opaque);

/*
 * Dispatch one access. Returns false if no range covers it: reads then
 * return all ones (as on a real bus) and writes are dropped.
 */
bool iobus_access(IoBus *bus, uint64_t addr, uint8_t *data, uint32_t len,
                  bool is_write);

/* Little-endian helpers for handlers. */
static inline uint64_t io_data_get(const uint8_t *data, uint32_t len)
{
    return le_load(data, len);
}

static inline void io_data_set(uint8_t *data, uint32_t len, uint64_t v)
{
    le_store(data, v, len);
}

#endif /* KESTREL_IOBUS_H */
