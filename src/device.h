/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * -device: the user-pluggable devices. A const table of DeviceClass, keyed
 * by QEMU's driver name; devices_realize() creates each -device of the
 * config, in command-line order, after the board (PCI host, UARTs) exists.
 */
#ifndef KESTREL_DEVICE_H
#define KESTREL_DEVICE_H

#include <glib.h>
#include <stdbool.h>

typedef struct Vm Vm;

/* Create every -device of vm->cfg. Errors name the device and property. */
bool devices_realize(Vm *vm, GError **errp);

/* Undo devices_realize (also after a partial failure). */
void devices_unrealize(Vm *vm);

/* Reset every device (system_reset). */
void devices_reset(Vm *vm);

#endif /* KESTREL_DEVICE_H */
