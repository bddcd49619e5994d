/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "device.h"
#include "error.h"
#include "vm.h"

bool devices_realize(Vm *vm, GError **errp)
{
    const VmConfig *cfg = vm->cfg;

    if (cfg->devices->len > 0) {
        DeviceConfig *d = g_ptr_array_index(cfg->devices, 0);

        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_UNSUPPORTED,
                    "'%s' is not a valid device model name", d->driver);
        return false;
    }
    return true;
}

void devices_unrealize(Vm *vm)
{
    (void)vm;
}

void devices_reset(Vm *vm)
{
    (void)vm;
}
