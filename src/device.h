/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The device model. Every device is an instance of a const DeviceClass:
 * the board's (UARTs, i8042, RTC, ACPI PM, PCI host), created from an
 * explicit, ordered board table, and the user-pluggable -device ones, in
 * command-line order after the board. A class describes its guest-visible
 * state with a VmsDesc (migration), and stops and restarts its background
 * activity with pause/resume (while the VM is stopped no device writes
 * guest RAM or raises an interrupt).
 */
#ifndef KESTREL_DEVICE_H
#define KESTREL_DEVICE_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "pci.h"

typedef struct Vm Vm;
typedef struct Device Device;
typedef struct Chardev Chardev;
typedef struct Kvm Kvm;
typedef struct MemMap MemMap;
typedef struct VmsDesc VmsDesc;
typedef struct BlockGraph BlockGraph;
typedef struct NetGraph NetGraph;

#define DEVICE_MAX_SERIALS 4

/*
 * What realize may use: the board's buses and services, nothing else of
 * the Vm. Built by the machine (vm.c) and device.c; valid during realize
 * only (a device copies what it keeps).
 */
typedef struct DeviceContext {
    MemMap *mem;
    IoBus *pio;
    IoBus *mmio;
    PciHost *pci;                       /* NULL until the host exists */
    Kvm *kvm;                           /* NULL: no ioeventfd (tests) */
    GPtrArray *devices;                 /* Device*, realized before */
    unsigned int nr_serials;            /* -serial, in port order */
    Chardev *serial_chr[DEVICE_MAX_SERIALS];    /* NULL: no backend */
    BlockGraph *blocks;                 /* -drive/-blockdev backends */
    NetGraph *nets;                     /* -netdev backends */
    const PciIrqOps *pci_irq_ops;       /* how PCI interrupts leave */
    void *pci_irq_opaque;
    /* The machine's services; any thread. */
    void (*set_irq)(void *opaque, unsigned int gsi, bool level);
    void (*guest_reset)(void *opaque);
    void (*guest_poweroff)(void *opaque);
    /* A QMP event (takes @data; any thread: delivered from the main
     * loop), and stopping the VM for an I/O error (any thread). */
    void (*emit_event)(void *opaque, const char *name, JsonObject *data);
    void (*io_error_stop)(void *opaque);
    /* Whether -object rng-random/rng-builtin @id exists. */
    bool (*rng_exists)(void *opaque, const char *id);
    void *opaque;
} DeviceContext;

typedef enum {
    DEVICE_PROP_BOOL,                   /* on/off (and QEMU's synonyms) */
    DEVICE_PROP_BOOL_NEG,               /* stored negated: default on */
    DEVICE_PROP_PCI_BUS,                /* "pci.0" or "pcie.0": our root bus */
    DEVICE_PROP_PCI_ADDR,               /* SLOT[.FN], hex, as QEMU's addr= */
    DEVICE_PROP_MUST_BE_ON,             /* a bool we accept only when on */
    DEVICE_PROP_MUST_BE_OFF,            /* ... only when off */
    DEVICE_PROP_STR,                    /* char *, owned by the device */
    DEVICE_PROP_U32,                    /* uint32_t, 0..max */
} DevicePropType;

typedef struct {
    const char *name;                   /* QEMU's property name */
    DevicePropType type;
    size_t offset;                      /* of the field in the instance */
    const char *why;                    /* MUST_BE_*: why no other value */
    uint32_t min, max;                  /* U32: the accepted range */
} DeviceProp;

typedef struct DeviceClass {
    const char *name;                   /* QEMU -device driver name */
    size_t instance_size;               /* the instance embeds Device first */
    const DeviceProp *props;            /* ends with { NULL } */
    /* Defaults of the instance, before its properties are set. */
    void (*instance_init)(Device *dev);
    bool (*realize)(Device *dev, const DeviceContext *ctx, GError **errp);
    void (*reset)(Device *dev);
    /* Release what realize acquired (also after a failed realize); the
     * instance itself is freed by device.c. */
    void (*unrealize)(Device *dev);
    /* Guest-visible state; its name is the section name in the stream.
     * NULL: nothing to migrate. */
    const VmsDesc *vmsd;
    /* Stop (resume) background work: timers, ioeventfd watches, input.
     * While paused the device neither writes guest RAM nor interrupts;
     * what would have done either waits for resume. Main thread, VM's
     * vCPUs stopped. Optional. */
    void (*pause)(Device *dev);
    void (*resume)(Device *dev);
} DeviceClass;

struct Device {
    const DeviceClass *cls;
    char *id;                           /* -device id=, may be NULL */
    int devfn;                          /* addr=, or -1: first free slot */
    unsigned int index;                 /* board instance (UART number) */
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

/*
 * devices_realize: create the board devices (the board table's order;
 * UARTs as many as @board->nr_serials), then every -device of vm->cfg.
 * @board carries the machine's buses and services; device.c adds the
 * device list and PCI interrupt routing. Errors name the device and
 * property. Devices start running (not paused).
 */
bool devices_realize(Vm *vm, const DeviceContext *board, GError **errp);

/* Undo devices_realize (also after a partial failure). */
void devices_unrealize(Vm *vm);

/* Reset every device (system_reset). */
void devices_reset(Vm *vm);

/*
 * devices_pause: stop every device's background work (ioeventfd watches,
 * timers, idle sources, chardev input, interrupt delivery): afterwards no
 * device writes guest RAM or raises an interrupt until devices_resume,
 * which processes what arrived meanwhile. Main thread; idempotent.
 */
void devices_pause(Vm *vm);
void devices_resume(Vm *vm);

/*
 * devices_save_state: append the state of every device, board first then
 * -device in command-line order, as (name, instance id, vms_save bytes)
 * sections. Main thread, VM paused; the devices are not changed.
 * Encoding, little-endian:
 *     per device: u8 namelen (1..255), name (the vmsd's wire name),
 *                 u32 instance id (n-th device of that name, from 0),
 *                 u32 length, the vms_save bytes
 *     u8 0: end
 */
bool devices_save_state(Vm *vm, GByteArray *out, GError **errp);

/*
 * devices_load_state: load what devices_save_state wrote into a freshly
 * built, never-run VM with the same device set, paused. Sections may come
 * in any order; a missing, extra, repeated or unknown one is refused with
 * an error naming it, as is any invalid value (naming device and field).
 * Bytes after the end marker are refused too. On failure the VM is
 * unusable (the caller discards it).
 */
bool devices_load_state(Vm *vm, const uint8_t *buf, size_t len,
                        GError **errp);

/* Every top-level VmsDesc the devices use (for the frozen description);
 * @n receives the count. */
const VmsDesc *const *devices_vmsd_list(size_t *n);

/* The device with user id @id, or NULL. */
Device *devices_find(Vm *vm, const char *id);

/* The first device of class @cls, or NULL. */
Device *devices_find_class(Vm *vm, const DeviceClass *cls);

/* The device of class @cls with board instance @index, or NULL. */
Device *devices_find_board(Vm *vm, const DeviceClass *cls,
                           unsigned int index);

/* In a realize: the QOM path of -device @dev, QEMU's: /machine/peripheral/ID,
 * or /machine/peripheral-anon/device[N] (N counts the -device entries
 * without an id realized before), followed by @suffix. */
char *device_context_qom_path(const DeviceContext *ctx, Device *dev,
                              const char *suffix);

/* In a realize: the first device of class @cls realized before, or NULL. */
Device *device_context_find_class(const DeviceContext *ctx,
                                  const DeviceClass *cls);

/* The address the "firmware" gives the BAR window of PCI function @devfn:
 * 1 MiB per function in the PCI MMIO hole. */
uint64_t devices_pci_window(unsigned int devfn);

#endif /* KESTREL_DEVICE_H */
