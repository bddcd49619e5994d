/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Vm: one virtual machine: KVM, RAM, buses, devices, vCPUs, run state.
 * The run state uses QEMU's query-status names and changes only through
 * vm_set_run_state(), which checks a transition table.
 */
#ifndef KESTREL_VM_H
#define KESTREL_VM_H

#include <glib.h>
#include <stdbool.h>

#include "iobus.h"
#include "kvm.h"
#include "loader.h"
#include "memmap.h"
#include "vcpu.h"
#include "vmconfig.h"
#include "x86.h"

#include <json-glib/json-glib.h>

typedef struct BlockGraph BlockGraph;
typedef struct NetGraph NetGraph;

typedef struct Chardev Chardev;
typedef struct Pm Pm;
typedef struct PciHost PciHost;
typedef struct Monitor Monitor;
typedef struct Migration Migration;

/* QEMU's RunState names (qapi/run-state.json): never rename. */
typedef enum {
    RUN_STATE_PRELAUNCH,
    RUN_STATE_RUNNING,
    RUN_STATE_PAUSED,
    RUN_STATE_SHUTDOWN,
    RUN_STATE_INTERNAL_ERROR,
    RUN_STATE_INMIGRATE,
    RUN_STATE_POSTMIGRATE,
    RUN_STATE_FINISH_MIGRATE,
    RUN_STATE_RESTORE_VM,
    RUN_STATE_SAVE_VM,
    RUN_STATE_GUEST_PANICKED,
    RUN_STATE_DEBUG,
    RUN_STATE_IO_ERROR,
    RUN_STATE_SUSPENDED,
    RUN_STATE_WATCHDOG,
    RUN_STATE_COLO,
    RUN_STATE__MAX,
} RunState;

/* QEMU's ShutdownCause names (the SHUTDOWN event's "reason"). */
typedef enum {
    SHUTDOWN_CAUSE_NONE,
    SHUTDOWN_CAUSE_HOST_ERROR,
    SHUTDOWN_CAUSE_HOST_QMP_QUIT,
    SHUTDOWN_CAUSE_HOST_QMP_SYSTEM_RESET,
    SHUTDOWN_CAUSE_HOST_SIGNAL,
    SHUTDOWN_CAUSE_HOST_UI,
    SHUTDOWN_CAUSE_GUEST_SHUTDOWN,
    SHUTDOWN_CAUSE_GUEST_RESET,
    SHUTDOWN_CAUSE_GUEST_PANIC,
    SHUTDOWN_CAUSE_SUBSYSTEM_RESET,
    SHUTDOWN_CAUSE_SNAPSHOT_LOAD,
    SHUTDOWN_CAUSE__MAX,
} ShutdownCause;

#define VM_MAX_SERIALS 4

typedef struct Vm {
    const VmConfig *cfg;
    Kvm *kvm;
    MemMap *mem;
    IoBus *pio;
    IoBus *mmio;
    X86Topology topo;
    BootEntry boot;

    unsigned int nr_vcpus;
    Vcpu *vcpus;

    GPtrArray *chardevs;        /* Chardev*, one per ChardevConfig */
    /* Board devices the machine itself talks to (members of devices). */
    Pm *pm;
    PciHost *pci;
    /* Devices and MSI routing (device.c): the board's, then -device in
     * command-line order; irq_lock guards irq_routing. */
    GPtrArray *devices;
    KvmIrqRouting *irq_routing;
    GMutex irq_lock;

    GMutex state_lock;          /* protects run_state */
    RunState run_state;
    GMainLoop *loop;            /* the main thread's loop */
    int exit_status;            /* of the process, once the loop ends */
    bool quitting;              /* the loop is ending: no more STOP events */
    Monitor *monitor;           /* QMP, NULL until main.c creates it */
    /* Secrets by id (char* -> GBytes*): -object secret, then object-add
     * and object-del (main thread). */
    GHashTable *secrets;
    Migration *migration;       /* migration state (main.c creates it) */
    BlockGraph *blocks;         /* -blockdev and -drive nodes, backends */
    NetGraph *nets;             /* -netdev backends */

    /* Observers, set by the monitor (QMP events). May be NULL. */
    void (*on_state_change)(struct Vm *vm, RunState old, RunState now);
    void (*on_shutdown)(struct Vm *vm, bool guest, ShutdownCause cause);
    void (*on_reset)(struct Vm *vm, bool guest, ShutdownCause cause);
    /* A device's QMP event (main thread; takes @data). */
    void (*on_device_event)(struct Vm *vm, const char *name,
                            JsonObject *data);
} Vm;

const char *run_state_name(RunState s);
const char *shutdown_cause_name(ShutdownCause c);

/* Build the whole machine from @cfg: KVM, RAM, devices, kernel, vCPUs
 * (paused). Errors are whole sentences for the user. */
Vm *vm_new(const VmConfig *cfg, GError **errp);
void vm_free(Vm *vm);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Vm, vm_free)

/* Open the chardevs (sockets listen, ptys are created) and attach them.
 * Split from vm_new so -daemonize can fork in between if it must. */
bool vm_open_chardevs(Vm *vm, GError **errp);

/* Main-thread operations. */
bool vm_set_run_state(Vm *vm, RunState to, GError **errp);
RunState vm_get_run_state(Vm *vm);
bool vm_start(Vm *vm, GError **errp);       /* prelaunch/paused -> running */
bool vm_pause(Vm *vm, RunState to, GError **errp);  /* running -> @to */
bool vm_system_reset(Vm *vm, bool guest, ShutdownCause cause,
                     GError **errp);

/*
 * vm_save_cpus: append every vCPU's state ("x86-cpu" sections, see
 * x86_cpu_vmsd) and the VM-level state (irqchip, PIT, the kvmclock value
 * read at the stop: "kvm-vm") to @out. Main thread, VM paused; the VM is
 * not changed. On failure @out holds a partial record: discard it.
 */
bool vm_save_cpus(Vm *vm, GByteArray *out, GError **errp);

/*
 * vm_load_cpus: load what vm_save_cpus wrote into a paused VM that has not
 * run yet (a migration destination). The vCPU count must match: refused
 * otherwise with an error naming both counts. Everything is parsed and
 * validated before anything reaches KVM; the clock is set by vm_start.
 * Main thread.
 */
bool vm_load_cpus(Vm *vm, const uint8_t *buf, size_t len, GError **errp);

/*
 * vm_set_cpu_throttle: make the vCPUs spend @percent (1..99; 0 turns it
 * off, above 99 means 99) of their time asleep outside KVM_RUN, in 10 ms
 * slices, for auto-converge. Any thread; never waits on a vCPU.
 */
void vm_set_cpu_throttle(Vm *vm, unsigned int percent);
void vm_quit(Vm *vm, int status);           /* leave the main loop */

/* Thread-safe requests (from vCPU threads, signal handlers): queued to
 * the main loop. */
void vm_request_shutdown(Vm *vm, ShutdownCause cause);
void vm_request_reset(Vm *vm, ShutdownCause cause);
void vm_request_internal_error(Vm *vm, unsigned int cpu, const char *what);

/* Press the ACPI power button (system_powerdown). */
void vm_powerdown(Vm *vm);

/* Device exits from vCPU threads. */
void vm_pio(Vm *vm, uint16_t port, uint8_t *data, uint32_t len,
            bool is_write);
void vm_mmio(Vm *vm, uint64_t addr, uint8_t *data, uint32_t len,
             bool is_write);

/* Raise or lower an ISA/IOAPIC interrupt line. */
void vm_set_irq(Vm *vm, unsigned int gsi, bool level);

#endif /* KESTREL_VM_H */
