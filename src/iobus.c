/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <string.h>

#include "error.h"
#include "iobus.h"

IoBus *iobus_new(const char *name)
{
    IoBus *bus = g_new0(IoBus, 1);

    bus->name = name;
    g_rw_lock_init(&bus->lock);
    bus->ranges = g_array_new(FALSE, TRUE, sizeof(IoRange));
    return bus;
}

void iobus_free(IoBus *bus)
{
    if (!bus) {
        return;
    }
    g_array_free(bus->ranges, TRUE);
    g_rw_lock_clear(&bus->lock);
    g_free(bus);
}

/* Index of the first range whose end is above @addr. */
static guint iobus_lower_bound(IoBus *bus, uint64_t addr)
{
    guint lo = 0, hi = bus->ranges->len;

    while (lo < hi) {
        guint mid = lo + (hi - lo) / 2;
        IoRange *r = &g_array_index(bus->ranges, IoRange, mid);

        if (r->base + r->len <= addr) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

bool iobus_register(IoBus *bus, uint64_t base, uint64_t len,
                    IoHandler handler, void *opaque, const char *name,
                    GError **errp)
{
    IoRange nr = {
        .base = base, .len = len, .handler = handler, .opaque = opaque,
        .name = name,
    };
    guint i;

    if (len == 0 || base + len < base) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "%s range for '%s' at 0x%" G_GINT64_MODIFIER "x is empty "
                    "or wraps", bus->name, name, base);
        return false;
    }
    g_rw_lock_writer_lock(&bus->lock);
    i = iobus_lower_bound(bus, base);
    if (i < bus->ranges->len) {
        IoRange *r = &g_array_index(bus->ranges, IoRange, i);

        if (r->base < base + len) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                        "%s range 0x%" G_GINT64_MODIFIER "x+0x%"
                        G_GINT64_MODIFIER "x for '%s' overlaps '%s'",
                        bus->name, base, len, name, r->name);
            g_rw_lock_writer_unlock(&bus->lock);
            return false;
        }
    }
    g_array_insert_val(bus->ranges, i, nr);
    g_rw_lock_writer_unlock(&bus->lock);
    return true;
}

bool iobus_unregister(IoBus *bus, uint64_t base, void *opaque)
{
    bool found = false;

    g_rw_lock_writer_lock(&bus->lock);
    for (guint i = 0; i < bus->ranges->len; i++) {
        IoRange *r = &g_array_index(bus->ranges, IoRange, i);

        if (r->base == base && r->opaque == opaque) {
            g_array_remove_index(bus->ranges, i);
            found = true;
            break;
        }
    }
    g_rw_lock_writer_unlock(&bus->lock);
    return found;
}

bool iobus_access(IoBus *bus, uint64_t addr, uint8_t *data, uint32_t len,
                  bool is_write)
{
    IoRange r;
    guint i;

    g_rw_lock_reader_lock(&bus->lock);
    i = iobus_lower_bound(bus, addr);
    if (i >= bus->ranges->len ||
        g_array_index(bus->ranges, IoRange, i).base > addr) {
        g_rw_lock_reader_unlock(&bus->lock);
        if (!is_write) {
            memset(data, 0xff, len);
        }
        return false;
    }
    r = g_array_index(bus->ranges, IoRange, i);
    g_rw_lock_reader_unlock(&bus->lock);

    /* An access straddling the end of a range is cut to what fits;
     * the rest reads as ones. */
    if (addr + len > r.base + r.len) {
        uint32_t fit = (uint32_t)(r.base + r.len - addr);

        if (!is_write) {
            memset(data + fit, 0xff, len - fit);
        }
        len = fit;
    }
    r.handler(r.opaque, addr - r.base, data, len, is_write);
    return true;
}
