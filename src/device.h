/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * -device: the user-pluggable devices. A const table of DeviceClass, keyed
 * by QEMU's driver name; devices_realize() creates each -device of the
 * config, in command-line order, after the board (PCI host, UARTs) exists.
 */
#ifndef KESTREL_DEVICE_H
#define KESTREL_DEVICE_H

#include <glib.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct Vm Vm;
typedef struct Device Device;

typedef enum {
    DEVICE_PROP_BOOL,                   /* on/off (and QEMU's synonyms) */
    DEVICE_PROP_BOOL_NEG,               /* stored negated: default on */
    DEVICE_PROP_PCI_BUS,                /* "pci.0" or "pcie.0": our root bus */
    DEVICE_PROP_PCI_ADDR,               /* SLOT[.FN], hex, as QEMU's addr= */
    DEVICE_PROP_MUST_BE_ON,             /* a bool we accept only when on */
    DEVICE_PROP_MUST_BE_OFF,            /* ... only when off */
} DevicePropType;

typedef struct {
    const char *name;                   /* QEMU's property name */
    DevicePropType type;
    size_t offset;                      /* of the field in the instance */
    const char *why;                    /* MUST_BE_*: why no other value */
} DeviceProp;

typedef struct {
    const char *name;                   /* QEMU -device driver name */
    size_t instance_size;               /* the instance embeds Device first */
    const DeviceProp *props;            /* ends with { NULL } */
    bool (*realize)(Device *dev, Vm *vm, GError **errp);
    void (*reset)(Device *dev);
    /* Release what realize acquired (also after a failed realize); the
     * instance itself is freed by device.c. */
    void (*unrealize)(Device *dev);
} DeviceClass;

struct Device {
    const DeviceClass *cls;
    char *id;                           /* -device id=, may be NULL */
    int devfn;                          /* addr=, or -1: first free slot */
};

/* One -device driver name (for -device help, device_add's errors). */
typedef struct {
    const char *name;                   /* as the user spells it */
    const DeviceClass *cls;             /* cls->name differs for aliases */
    const char *bus;                    /* QEMU's help: "PCI" */
    const char *category;               /* QEMU's help: "Misc devices" */
} DeviceDriver;

/* The driver table, sorted by name; @n receives its length. */
const DeviceDriver *devices_drivers(size_t *n);

/* The class of driver @name (aliases included), or NULL. */
const DeviceClass *devices_find_driver(const char *name);

/* Create every -device of vm->cfg. Errors name the device and property. */
bool devices_realize(Vm *vm, GError **errp);

/* Undo devices_realize (also after a partial failure). */
void devices_unrealize(Vm *vm);

/* Reset every device (system_reset). */
void devices_reset(Vm *vm);

/* The device with user id @id, or NULL. */
Device *devices_find(Vm *vm, const char *id);

/* The first device of class @cls, or NULL. */
Device *devices_find_class(Vm *vm, const DeviceClass *cls);

/* The address the "firmware" gives the BAR window of PCI function @devfn:
 * 1 MiB per function in the PCI MMIO hole. */
uint64_t devices_pci_window(unsigned int devfn);

#endif /* KESTREL_DEVICE_H */
