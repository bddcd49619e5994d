/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The machine: builds everything from the VmConfig and owns the run state.
 * All run-state changes happen on the main thread; vCPU threads only post
 * requests (vm_request_*), which the main loop carries out.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "acpi.h"
#include "block/blockdev.h"
#include "net/net.h"
#include "chardev.h"
#include "device.h"
#include "error.h"
#include "i8042.h"
#include "layout.h"
#include "migration/migration.h"
#include "monitor.h"
#include "pci.h"
#include "pm.h"
#include "rtc.h"
#include "serial.h"
#include "vm.h"

#define KVM_DEVICE "/dev/kvm"

static const char *const run_state_names[RUN_STATE__MAX] = {
    [RUN_STATE_PRELAUNCH] = "prelaunch",
    [RUN_STATE_RUNNING] = "running",
    [RUN_STATE_PAUSED] = "paused",
    [RUN_STATE_SHUTDOWN] = "shutdown",
    [RUN_STATE_INTERNAL_ERROR] = "internal-error",
    [RUN_STATE_INMIGRATE] = "inmigrate",
    [RUN_STATE_POSTMIGRATE] = "postmigrate",
    [RUN_STATE_FINISH_MIGRATE] = "finish-migrate",
    [RUN_STATE_RESTORE_VM] = "restore-vm",
    [RUN_STATE_SAVE_VM] = "save-vm",
    [RUN_STATE_GUEST_PANICKED] = "guest-panicked",
    [RUN_STATE_DEBUG] = "debug",
    [RUN_STATE_IO_ERROR] = "io-error",
    [RUN_STATE_SUSPENDED] = "suspended",
    [RUN_STATE_WATCHDOG] = "watchdog",
    [RUN_STATE_COLO] = "colo",
};

static const char *const shutdown_cause_names[SHUTDOWN_CAUSE__MAX] = {
    [SHUTDOWN_CAUSE_NONE] = "none",
    [SHUTDOWN_CAUSE_HOST_ERROR] = "host-error",
    [SHUTDOWN_CAUSE_HOST_QMP_QUIT] = "host-qmp-quit",
    [SHUTDOWN_CAUSE_HOST_QMP_SYSTEM_RESET] = "host-qmp-system-reset",
    [SHUTDOWN_CAUSE_HOST_SIGNAL] = "host-signal",
    [SHUTDOWN_CAUSE_HOST_UI] = "host-ui",
    [SHUTDOWN_CAUSE_GUEST_SHUTDOWN] = "guest-shutdown",
    [SHUTDOWN_CAUSE_GUEST_RESET] = "guest-reset",
    [SHUTDOWN_CAUSE_GUEST_PANIC] = "guest-panic",
    [SHUTDOWN_CAUSE_SUBSYSTEM_RESET] = "subsystem-reset",
    [SHUTDOWN_CAUSE_SNAPSHOT_LOAD] = "snapshot-load",
};

const char *run_state_name(RunState s)
{
    return s < RUN_STATE__MAX ? run_state_names[s] : "unknown";
}

const char *shutdown_cause_name(ShutdownCause c)
{
    return c < SHUTDOWN_CAUSE__MAX ? shutdown_cause_names[c] : "none";
}

/* The transitions the VM may make; everything else is refused. Kept as
 * QEMU's table has them, for the states we can reach so far. */
static const struct {
    RunState from, to;
} run_state_transitions[] = {
    { RUN_STATE_PRELAUNCH, RUN_STATE_RUNNING },
    { RUN_STATE_PRELAUNCH, RUN_STATE_PAUSED },
    { RUN_STATE_PRELAUNCH, RUN_STATE_INMIGRATE },
    { RUN_STATE_PRELAUNCH, RUN_STATE_SHUTDOWN },
    { RUN_STATE_PRELAUNCH, RUN_STATE_FINISH_MIGRATE },
    { RUN_STATE_RUNNING, RUN_STATE_PAUSED },
    { RUN_STATE_RUNNING, RUN_STATE_SHUTDOWN },
    { RUN_STATE_RUNNING, RUN_STATE_INTERNAL_ERROR },
    { RUN_STATE_RUNNING, RUN_STATE_FINISH_MIGRATE },
    { RUN_STATE_RUNNING, RUN_STATE_GUEST_PANICKED },
    { RUN_STATE_RUNNING, RUN_STATE_SAVE_VM },
    { RUN_STATE_RUNNING, RUN_STATE_PRELAUNCH },
    { RUN_STATE_PAUSED, RUN_STATE_RUNNING },
    { RUN_STATE_PAUSED, RUN_STATE_SHUTDOWN },
    { RUN_STATE_PAUSED, RUN_STATE_FINISH_MIGRATE },
    { RUN_STATE_PAUSED, RUN_STATE_POSTMIGRATE },
    { RUN_STATE_PAUSED, RUN_STATE_PRELAUNCH },
    { RUN_STATE_SHUTDOWN, RUN_STATE_PAUSED },
    { RUN_STATE_SHUTDOWN, RUN_STATE_RUNNING },
    { RUN_STATE_SHUTDOWN, RUN_STATE_FINISH_MIGRATE },
    { RUN_STATE_SHUTDOWN, RUN_STATE_PRELAUNCH },
    { RUN_STATE_INTERNAL_ERROR, RUN_STATE_PAUSED },
    { RUN_STATE_INTERNAL_ERROR, RUN_STATE_RUNNING },
    { RUN_STATE_INTERNAL_ERROR, RUN_STATE_PRELAUNCH },
    { RUN_STATE_INTERNAL_ERROR, RUN_STATE_SHUTDOWN },
    { RUN_STATE_INMIGRATE, RUN_STATE_RUNNING },
    { RUN_STATE_INMIGRATE, RUN_STATE_PAUSED },
    { RUN_STATE_INMIGRATE, RUN_STATE_SHUTDOWN },
    { RUN_STATE_POSTMIGRATE, RUN_STATE_RUNNING },
    { RUN_STATE_POSTMIGRATE, RUN_STATE_PAUSED },
    { RUN_STATE_POSTMIGRATE, RUN_STATE_PRELAUNCH },
    { RUN_STATE_POSTMIGRATE, RUN_STATE_SHUTDOWN },
    { RUN_STATE_FINISH_MIGRATE, RUN_STATE_RUNNING },
    { RUN_STATE_FINISH_MIGRATE, RUN_STATE_PAUSED },
    { RUN_STATE_FINISH_MIGRATE, RUN_STATE_POSTMIGRATE },
    { RUN_STATE_FINISH_MIGRATE, RUN_STATE_SHUTDOWN },
    { RUN_STATE_GUEST_PANICKED, RUN_STATE_RUNNING },
    { RUN_STATE_GUEST_PANICKED, RUN_STATE_PAUSED },
    { RUN_STATE_GUEST_PANICKED, RUN_STATE_PRELAUNCH },
    { RUN_STATE_SAVE_VM, RUN_STATE_RUNNING },
};

static bool run_state_transition_valid(RunState from, RunState to)
{
    for (size_t i = 0; i < G_N_ELEMENTS(run_state_transitions); i++) {
        if (run_state_transitions[i].from == from &&
            run_state_transitions[i].to == to) {
            return true;
        }
    }
    return from == to;
}

/* The check of vm_set_run_state alone, for callers that must refuse
 * before they act (vm_pause). Main thread. */
static bool vm_check_run_state(Vm *vm, RunState to, GError **errp)
{
    RunState from = vm_get_run_state(vm);

    if (!run_state_transition_valid(from, to)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "invalid runstate transition: '%s' -> '%s'",
                    run_state_name(from), run_state_name(to));
        return false;
    }
    return true;
}

bool vm_set_run_state(Vm *vm, RunState to, GError **errp)
{
    RunState from;
    bool ok;

    g_mutex_lock(&vm->state_lock);
    from = vm->run_state;
    ok = run_state_transition_valid(from, to);
    if (ok) {
        vm->run_state = to;
    }
    g_mutex_unlock(&vm->state_lock);
    if (from == to) {
        return true;
    }
    if (!ok) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "invalid runstate transition: '%s' -> '%s'",
                    run_state_name(from), run_state_name(to));
        return false;
    }
    if (vm->on_state_change) {
        vm->on_state_change(vm, from, to);
    }
    return true;
}

RunState vm_get_run_state(Vm *vm)
{
    RunState s;

    g_mutex_lock(&vm->state_lock);
    s = vm->run_state;
    g_mutex_unlock(&vm->state_lock);
    return s;
}

/* --- interrupt and I/O plumbing --------------------------------------- */

void vm_set_irq(Vm *vm, unsigned int gsi, bool level)
{
    kvm_irq_line(vm->kvm, gsi, level);
}


void vm_pio(Vm *vm, uint16_t port, uint8_t *data, uint32_t len,
            bool is_write)
{
    iobus_access(vm->pio, port, data, len, is_write);
}

void vm_mmio(Vm *vm, uint64_t addr, uint8_t *data, uint32_t len,
             bool is_write)
{
    iobus_access(vm->mmio, addr, data, len, is_write);
}

/* --- requests from other threads --------------------------------------- */

typedef enum {
    VM_REQ_SHUTDOWN,
    VM_REQ_RESET,
    VM_REQ_INTERNAL_ERROR,
} VmRequestKind;

typedef struct {
    Vm *vm;
    VmRequestKind kind;
    ShutdownCause cause;
    unsigned int cpu;
    char *what;
} VmRequest;

/* All vCPUs at once: downtime must not grow with their number. */
static void vm_pause_vcpus(Vm *vm)
{
    vcpu_request_all(vm->vcpus, vm->nr_vcpus, VCPU_REQ_PAUSE);
}

static void vm_resume_vcpus(Vm *vm)
{
    vcpu_request_all(vm->vcpus, vm->nr_vcpus, VCPU_REQ_RUN);
}

static void vm_do_shutdown(Vm *vm, ShutdownCause cause)
{
    bool guest = cause == SHUTDOWN_CAUSE_GUEST_SHUTDOWN ||
                 cause == SHUTDOWN_CAUSE_GUEST_RESET ||
                 cause == SHUTDOWN_CAUSE_GUEST_PANIC;

    vm_pause_vcpus(vm);
    if (vm->on_shutdown) {
        vm->on_shutdown(vm, guest, cause);
    }
    if (vm->cfg->no_shutdown && cause != SHUTDOWN_CAUSE_HOST_SIGNAL &&
        cause != SHUTDOWN_CAUSE_HOST_UI &&
        cause != SHUTDOWN_CAUSE_HOST_QMP_QUIT) {
        /* -no-shutdown: stay, stopped, in state "shutdown". */
        vm_set_run_state(vm, RUN_STATE_SHUTDOWN, NULL);
        return;
    }
    vm->quitting = true;
    vm_set_run_state(vm, RUN_STATE_SHUTDOWN, NULL);
    vm_quit(vm, 0);
}

static gboolean vm_request_cb(gpointer opaque)
{
    VmRequest *req = opaque;
    Vm *vm = req->vm;
    g_autoptr(GError) err = NULL;

    switch (req->kind) {
    case VM_REQ_SHUTDOWN:
        /* A host's request (signal, quit, UI) ends the process even after
         * a guest power-off that -no-shutdown kept us alive for, as QEMU
         * does: libvirt sends SIGTERM then. */
        if (vm_get_run_state(vm) != RUN_STATE_SHUTDOWN ||
            req->cause == SHUTDOWN_CAUSE_HOST_SIGNAL ||
            req->cause == SHUTDOWN_CAUSE_HOST_QMP_QUIT ||
            req->cause == SHUTDOWN_CAUSE_HOST_UI) {
            vm_do_shutdown(vm, req->cause);
        }
        break;
    case VM_REQ_RESET:
        if (vm->cfg->no_reboot) {
            /* -no-reboot: a guest reset ends the VM. */
            vm_do_shutdown(vm, req->cause);
        } else if (!vm_system_reset(vm, true, req->cause, &err)) {
            fprintf(stderr, "kestrel: system reset failed: %s\n",
                    err->message);
            vm_quit(vm, 1);
        }
        break;
    case VM_REQ_INTERNAL_ERROR:
        /* As QEMU: report, stop the VM, keep the process for inspection. */
        fprintf(stderr, "kestrel: vCPU %u: %s\n", req->cpu, req->what);
        if (vm_get_run_state(vm) == RUN_STATE_RUNNING) {
            vm_pause(vm, RUN_STATE_INTERNAL_ERROR, NULL);
        }
        break;
    }
    g_free(req->what);
    g_free(req);
    return G_SOURCE_REMOVE;
}

static void vm_post(Vm *vm, VmRequestKind kind, ShutdownCause cause,
                    unsigned int cpu, const char *what)
{
    VmRequest *req = g_new0(VmRequest, 1);

    req->vm = vm;
    req->kind = kind;
    req->cause = cause;
    req->cpu = cpu;
    req->what = g_strdup(what);
    g_idle_add(vm_request_cb, req);
}

void vm_request_shutdown(Vm *vm, ShutdownCause cause)
{
    vm_post(vm, VM_REQ_SHUTDOWN, cause, 0, NULL);
}

void vm_request_reset(Vm *vm, ShutdownCause cause)
{
    vm_post(vm, VM_REQ_RESET, cause, 0, NULL);
}

void vm_request_internal_error(Vm *vm, unsigned int cpu, const char *what)
{
    vm_post(vm, VM_REQ_INTERNAL_ERROR, SHUTDOWN_CAUSE_NONE, cpu, what);
}

void vm_powerdown(Vm *vm)
{
    if (vm->pm) {
        pm_press_power_button(vm->pm);
    }
}

void vm_quit(Vm *vm, int status)
{
    vm->quitting = true;
    vm->exit_status = status;
    if (vm->loop) {
        g_main_loop_quit(vm->loop);
    }
}

/* --- device callbacks --------------------------------------------------- */

static void vm_board_set_irq(void *opaque, unsigned int gsi, bool level)
{
    vm_set_irq(opaque, gsi, level);
}

static void vm_pm_poweroff(void *opaque)
{
    vm_request_shutdown(opaque, SHUTDOWN_CAUSE_GUEST_SHUTDOWN);
}

typedef struct {
    Vm *vm;
    char *name;
    JsonObject *data;
} VmDeviceEvent;

static gboolean vm_device_event_cb(gpointer opaque)
{
    VmDeviceEvent *ev = opaque;

    if (ev->vm->on_device_event) {
        ev->vm->on_device_event(ev->vm, ev->name, ev->data);
    } else {
        json_object_unref(ev->data);
    }
    g_free(ev->name);
    g_free(ev);
    return G_SOURCE_REMOVE;
}

/* Devices emit from their I/O threads: the monitor hears it on the main
 * thread, in order. */
static void vm_device_event(void *opaque, const char *name,
                            JsonObject *data)
{
    VmDeviceEvent *ev = g_new0(VmDeviceEvent, 1);

    ev->vm = opaque;
    ev->name = g_strdup(name);
    ev->data = data;
    g_idle_add(vm_device_event_cb, ev);
}

static bool vm_rng_exists(void *opaque, const char *id)
{
    Vm *vm = opaque;

    for (guint i = 0; i < vm->cfg->rngs->len; i++) {
        if (g_str_equal(g_ptr_array_index(vm->cfg->rngs, i), id)) {
            return true;
        }
    }
    return false;
}

static gboolean vm_io_error_stop_cb(gpointer opaque)
{
    Vm *vm = opaque;

    /* Only a running VM stops; one already stopped stays as it is (its
     * failed request is retried at cont all the same). */
    if (vm_get_run_state(vm) == RUN_STATE_RUNNING) {
        vm_pause(vm, RUN_STATE_IO_ERROR, NULL);
    }
    return G_SOURCE_REMOVE;
}

static void vm_io_error_stop(void *opaque)
{
    g_idle_add(vm_io_error_stop_cb, opaque);
}

static void vm_guest_reset(void *opaque)
{
    vm_request_reset(opaque, SHUTDOWN_CAUSE_GUEST_RESET);
}

/* 0xcf8..0xcff: the PCI configuration ports, except that a byte access
 * to 0xcf9 is the reset control register (FADT RESET_REG). */
static void vm_cf8_io(void *opaque, uint64_t offset, uint8_t *data,
                      uint32_t len, bool is_write)
{
    Vm *vm = opaque;

    if (offset == PORT_RESET - PORT_PCI_CONFIG_ADDR && len == 1) {
        pm_reset_io(vm->pm, 0, data, len, is_write);
    } else {
        pci_config_io(vm->pci, offset, data, len, is_write);
    }
}

/* --- construction ------------------------------------------------------- */

typedef struct {
    Vm vm;                      /* first: a Vm* is a VmPriv* */
    /* What a system reset puts back: the state right after set-up. */
    X86VcpuState *reset;        /* one per vCPU */
    X86VmState irq_reset;
    bool has_irq_reset;
    /* kvmclock, read when the VM stopped and set back when it continues,
     * so a paused guest sees no jump (QEMU's kvmclock does the same);
     * part of the migrated state. Main thread. */
    uint64_t clock;
    bool clock_valid;
    /* CPU throttling (vm_set_cpu_throttle): throttle_lock guards the
     * three fields below; the thread runs while it is throttle_thread. */
    GMutex throttle_lock;
    GCond throttle_cond;
    GThread *throttle_thread;
    unsigned int throttle_pct;
} VmPriv;

static bool vm_setup_memory(Vm *vm, GError **errp)
{
    for (unsigned int i = 0; i < vm->mem->nr_regions; i++) {
        MemRegion *r = &vm->mem->regions[i];

        if (!kvm_set_memory_region(vm->kvm, i, r->gpa, r->size, r->hva, 0,
                                   errp)) {
            return false;
        }
    }
    return true;
}

bool vm_open_chardevs(Vm *vm, GError **errp)
{
    const VmConfig *cfg = vm->cfg;


    for (guint i = 0; i < cfg->chardevs->len; i++) {
        const ChardevConfig *cc = g_ptr_array_index(cfg->chardevs, i);
        Chardev *chr;

        if (monitor_owns_chardev(vm, cc->id)) {
            continue;           /* served by the QMP monitor */
        }
        chr = chardev_new(cc, errp);
        if (!chr) {
            return false;
        }
        g_ptr_array_add(vm->chardevs, chr);
    }
    return true;
}

static Chardev *vm_find_chardev(Vm *vm, const char *id)
{
    for (guint i = 0; i < vm->chardevs->len; i++) {
        Chardev *chr = g_ptr_array_index(vm->chardevs, i);

        if (g_strcmp0(chardev_id(chr), id) == 0) {
            return chr;
        }
    }
    return NULL;
}

/* The board (device.c's board table) and every -device. */
static bool vm_setup_devices(Vm *vm, GError **errp)
{
    const VmConfig *cfg = vm->cfg;
    DeviceContext ctx = {
        .mem = vm->mem, .pio = vm->pio, .mmio = vm->mmio, .kvm = vm->kvm,
        .set_irq = vm_board_set_irq, .guest_reset = vm_guest_reset,
        .guest_poweroff = vm_pm_poweroff, .emit_event = vm_device_event,
        .io_error_stop = vm_io_error_stop, .rng_exists = vm_rng_exists,
        .opaque = vm,
    };

    vm->blocks = block_graph_new(cfg, errp);
    if (!vm->blocks) {
        return false;
    }
    ctx.blocks = vm->blocks;
    vm->nets = net_graph_new(cfg, errp);
    if (!vm->nets) {
        return false;
    }
    ctx.nets = vm->nets;

    ctx.nr_serials = MIN(cfg->serials->len, (guint)DEVICE_MAX_SERIALS);
    for (unsigned int i = 0; i < ctx.nr_serials; i++) {
        const char *id = g_ptr_array_index(cfg->serials, i);

        ctx.serial_chr[i] = id ? vm_find_chardev(vm, id) : NULL;
        if (id && !ctx.serial_chr[i]) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "chardev '%s' not found", id);
            return false;
        }
    }
    if (!devices_realize(vm, &ctx, errp)) {
        return false;
    }
    /* Devices start paused, as the vCPUs do (prelaunch, or an incoming
     * migration loading state): vm_start resumes both. */
    devices_pause(vm);
    vm->pm = (Pm *)devices_find_class(vm, &pm_class);
    vm->pci = (PciHost *)devices_find_class(vm, &pci_host_class);
    return iobus_register(vm->pio, PORT_PCI_CONFIG_ADDR, 8, vm_cf8_io, vm,
                          "pci-conf", errp);
}

static bool vm_build_acpi(Vm *vm, GError **errp)
{
    AcpiParams p = { .nr_cpus = vm->cfg->cpus, .ram_size = vm->mem->ram_size };
    g_autofree uint8_t *buf = g_malloc0(LAYOUT_ACPI_SIZE);
    size_t n = acpi_build(&p, buf, LAYOUT_ACPI_SIZE, LAYOUT_ACPI_START, errp);

    if (n == 0) {
        return false;
    }
    if (!memmap_write(vm->mem, LAYOUT_ACPI_START, buf, n)) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "guest memory is too small for the ACPI tables");
        return false;
    }
    return true;
}

static bool vm_load_kernel(Vm *vm, GError **errp)
{
    BootSpec spec = {
        .kernel_path = vm->cfg->kernel,
        .initrd_path = vm->cfg->initrd,
        .cmdline = vm->cfg->append,
        .rsdp_gpa = LAYOUT_ACPI_START,
    };

    return loader_load(vm->mem, &spec, &vm->boot, errp);
}

/* Architectural reset state; also what a system reset puts back. */
static bool vm_reset_vcpu(Vm *vm, Vcpu *cpu, GError **errp)
{
    return x86_init_msrs(vm->kvm, &cpu->kvm, errp) &&
           x86_init_fpu_lapic(&cpu->kvm, cpu->index == 0, errp);
}

static bool vm_setup_vcpu(Vm *vm, Vcpu *cpu, GError **errp)
{
    g_autofree struct kvm_cpuid2 *cpuid = NULL;

    /* CPUID is set once: KVM refuses changes after the first KVM_RUN. */
    cpuid = x86_cpuid_for_vcpu(vm->kvm->cpuid, &vm->topo, cpu->index);
    return kvm_vcpu_set_cpuid(&cpu->kvm, cpuid, errp) &&
           vm_reset_vcpu(vm, cpu, errp);
}

/* The reset state is the one migration uses, taken right after set-up,
 * with the vCPUs paused (vm_new, vm_system_reset). */
static bool vm_save_reset_state(Vm *vm, GError **errp)
{
    VmPriv *priv = (VmPriv *)vm;

    for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
        if (!vcpu_save_state(&vm->vcpus[i], &priv->reset[i], errp)) {
            g_prefix_error(errp, "failed to read the reset state: ");
            return false;
        }
    }
    priv->has_irq_reset = x86_vm_state_get(vm->kvm, &priv->irq_reset, NULL);
    return true;
}

static bool vm_restore_reset_state(Vm *vm, GError **errp)
{
    VmPriv *priv = (VmPriv *)vm;

    if (priv->has_irq_reset) {
        x86_vm_state_put(vm->kvm, &priv->irq_reset, NULL);
    }
    for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
        if (!vcpu_restore_state(&vm->vcpus[i], &priv->reset[i], errp)) {
            g_prefix_error(errp, "failed to reset vCPU %u: ", i);
            return false;
        }
        /* Architectural values on top (TSC 0 among them): as before. */
        if (!vm_reset_vcpu(vm, &vm->vcpus[i], errp)) {
            return false;
        }
    }
    return true;
}

Vm *vm_new(const VmConfig *cfg, GError **errp)
{
    VmPriv *priv = g_new0(VmPriv, 1);
    g_autoptr(Vm) vm = &priv->vm;

    vm->cfg = cfg;
    g_mutex_init(&vm->state_lock);
    g_mutex_init(&priv->throttle_lock);
    g_cond_init(&priv->throttle_cond);
    vm->run_state = RUN_STATE_PRELAUNCH;
    vm->chardevs = g_ptr_array_new_with_free_func((GDestroyNotify)chardev_free);
    vm->pio = iobus_new("port I/O");
    vm->mmio = iobus_new("MMIO");
    vm->nr_vcpus = cfg->cpus;
    vm->topo = (X86Topology) {
        .cpus = cfg->cpus, .sockets = MAX(cfg->sockets, 1u),
        .dies = MAX(cfg->dies, 1u), .cores = MAX(cfg->cores, 1u),
        .threads = MAX(cfg->threads, 1u),
    };

    vm->secrets = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify)g_bytes_unref);
    for (guint i = 0; i < cfg->secrets->len; i++) {
        const SecretConfig *sec = g_ptr_array_index(cfg->secrets, i);
        GBytes *value = vm_config_secret_load(sec, errp);

        if (!value) {
            g_prefix_error(errp, "-object secret,id=%s: ", sec->id);
            return NULL;
        }
        g_hash_table_insert(vm->secrets, g_strdup(sec->id), value);
    }

    if (cfg->qtest_accel) {
        /* -accel qtest: the machine without KVM and without vCPUs; a
         * test drives it through the qtest protocol (src/qtest.h). */
        vm->nr_vcpus = 0;
    } else {
        vm->kvm = kvm_open(KVM_DEVICE, errp);
        if (!vm->kvm) {
            return NULL;
        }
    }
    if (vm->kvm && vm->kvm->max_vcpus > 0 && cfg->cpus > (unsigned int)vm->kvm->max_vcpus) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "Number of SMP CPUs requested (%u) exceeds the maximum "
                    "KVM supports (%d)", cfg->cpus, vm->kvm->max_vcpus);
        return NULL;
    }
    if (g_strcmp0(cfg->machine, "none") == 0) {
        /* The empty machine of capability probes: KVM, monitors and
         * chardevs, but no RAM, devices or vCPUs to run. */
        vm->nr_vcpus = 0;
        if (!vm_open_chardevs(vm, errp)) {
            return NULL;
        }
        return g_steal_pointer(&vm);
    }
    vm->mem = memmap_new_backend(cfg->ram_backend, cfg->ram_size, errp);
    if (!vm->mem) {
        return NULL;
    }
    if (cfg->mem_lock && mlockall(MCL_CURRENT | MCL_FUTURE) < 0) {
        /* -overcommit mem-lock=on: guest RAM (allocated by this) and
         * everything else stays in memory. */
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_NOMEM,
                    "-overcommit mem-lock=on: cannot lock memory: %s "
                    "(RLIMIT_MEMLOCK, or not enough memory)",
                    g_strerror(errno));
        return NULL;
    }
    /*
     * Memory slots first, the in-kernel irqchip after: with the irqchip
     * created first, the first slot ioctl stalls 5-10 ms on this
     * project's hosts (measured, issue 13); in this order kestrel's own
     * set-up took 7.7 ms instead of 17.7. Nothing in KVM's API orders
     * the two (QEMU, too, may add RAM slots after the irqchip).
     */
    if (!vm_setup_memory(vm, errp) ||
        (vm->kvm && !kvm_create_irqchip(vm->kvm, errp))) {
        return NULL;
    }
    if (!vm_open_chardevs(vm, errp) || !vm_setup_devices(vm, errp) ||
        !vm_build_acpi(vm, errp) ||
        (vm->cfg->kernel && !vm_load_kernel(vm, errp))) {
        return NULL;
    }
    if (!vm->kvm) {
        return g_steal_pointer(&vm);
    }

    vm->vcpus = g_new0(Vcpu, vm->nr_vcpus);
    priv->reset = g_new0(X86VcpuState, vm->nr_vcpus);
    /* Every vCPU and its thread first, then one wait for all of them:
     * the threads come up together instead of one handshake each. */
    for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
        if (!vcpu_init(&vm->vcpus[i], vm, i, errp)) {
            return NULL;
        }
    }
    for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
        vcpu_init_wait(&vm->vcpus[i]);
        if (!vm_setup_vcpu(vm, &vm->vcpus[i], errp)) {
            return NULL;
        }
    }
    if (!vm_save_reset_state(vm, errp) ||
        !x86_setup_boot(vm->mem, &vm->vcpus[0].kvm, &vm->boot, errp)) {
        return NULL;
    }
    return g_steal_pointer(&vm);
}

void vm_free(Vm *vm)
{
    VmPriv *priv = (VmPriv *)vm;

    if (!vm) {
        return;
    }
    /* The migration threads read RAM and devices: they go first. */
    g_clear_pointer(&vm->migration, migration_free);
    vm_set_cpu_throttle(vm, 0);
    for (unsigned int i = 0; vm->vcpus && i < vm->nr_vcpus; i++) {
        vcpu_destroy(&vm->vcpus[i]);
    }
    g_free(vm->vcpus);
    g_free(priv->reset);
    devices_unrealize(vm);          /* the board's devices too */
    block_graph_free(vm->blocks);   /* after the disks that used it */
    net_graph_free(vm->nets);
    g_ptr_array_free(vm->chardevs, TRUE);
    iobus_free(vm->pio);
    iobus_free(vm->mmio);
    memmap_free(vm->mem);
    kvm_close(vm->kvm);
    if (vm->secrets) {
        g_hash_table_unref(vm->secrets);
    }
    g_mutex_clear(&vm->state_lock);
    g_mutex_clear(&priv->throttle_lock);
    g_cond_clear(&priv->throttle_cond);
    g_free(priv);
}

/* --- run control (main thread) ------------------------------------------ */

bool vm_start(Vm *vm, GError **errp)
{
    VmPriv *priv = (VmPriv *)vm;

    if (!vm_check_run_state(vm, RUN_STATE_RUNNING, errp)) {
        return false;
    }
    /* Continuing after an outgoing migration: the disks are ours again,
     * as the destination may have left them. */
    if (!block_graph_activate_all(vm->blocks, errp)) {
        return false;
    }
    if (priv->clock_valid) {
        /* The clock as it was at the stop (or as migrated): no flags, so
         * KVM does not add the time spent stopped. */
        struct kvm_clock_data data = { .clock = priv->clock };

        if (!kvm_set_clock(vm->kvm, &data)) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                        "KVM_SET_CLOCK failed: %s", g_strerror(errno));
            return false;
        }
        priv->clock_valid = false;
    }
    if (!vm_set_run_state(vm, RUN_STATE_RUNNING, errp)) {
        return false;
    }
    devices_resume(vm);         /* dev-state: devices run with the vCPUs */
    vm_resume_vcpus(vm);
    return true;
}

bool vm_pause(Vm *vm, RunState to, GError **errp)
{
    VmPriv *priv = (VmPriv *)vm;

    /* Refuse first: a refused transition must leave the VM running. */
    if (!vm_check_run_state(vm, to, errp)) {
        return false;
    }
    vm_pause_vcpus(vm);
    devices_pause(vm);          /* no RAM writes, no interrupts */
    if (!priv->clock_valid && vm->nr_vcpus) {
        struct kvm_clock_data data = { 0 };

        /* Read once per stop, after the vCPUs stopped. If KVM cannot say,
         * the clock just runs on while paused, as it did before. */
        if (kvm_get_clock(vm->kvm, &data)) {
            priv->clock = data.clock;
            priv->clock_valid = true;
        }
    }
    return vm_set_run_state(vm, to, errp);
}

/* --- vCPU state for migration -------------------------------------------- */

/*
 * Encoding: u32 number of vCPUs (little-endian), then per vCPU its
 * "x86-cpu" section, then the "kvm-vm" section.
 */
bool vm_save_cpus(Vm *vm, GByteArray *out, GError **errp)
{
    VmPriv *priv = (VmPriv *)vm;
    g_autofree X86VcpuState *st = g_new0(X86VcpuState, 1);
    X86VmState vst = { 0 };
    uint8_t n[4];

    for (int i = 0; i < 4; i++) {
        n[i] = (uint8_t)(vm->nr_vcpus >> (8 * i));
    }
    g_byte_array_append(out, n, 4);
    for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
        if (!vcpu_save_state(&vm->vcpus[i], st, errp) ||
            !vms_save(&x86_cpu_vmsd, st, out, errp)) {
            return false;
        }
    }
    if (!vm->kvm) {
        return true;            /* -accel qtest: no CPU state at all */
    }
    if (!x86_vm_state_get(vm->kvm, &vst, errp)) {
        return false;
    }
    if (priv->clock_valid) {
        vst.clock = priv->clock;
    } else {
        /* Paused without going through vm_pause (never started). */
        struct kvm_clock_data data = { 0 };

        if (!kvm_get_clock(vm->kvm, &data)) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                        "KVM_GET_CLOCK failed: %s", g_strerror(errno));
            return false;
        }
        vst.clock = data.clock;
    }
    return vms_save(&kvm_vm_vmsd, &vst, out, errp);
}

bool vm_load_cpus(Vm *vm, const uint8_t *buf, size_t len, GError **errp)
{
    VmPriv *priv = (VmPriv *)vm;
    VmsReader r = vms_reader(buf, len);
    g_autofree X86VcpuState *st = NULL;
    X86VmState vst = { 0 };
    uint32_t count = 0;

    if (vm_get_run_state(vm) == RUN_STATE_RUNNING) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_FAILED,
                    "CPU state can only be loaded into a paused VM");
        return false;
    }
    if (len < 4) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "CPU state: stream truncated");
        return false;
    }
    for (int i = 0; i < 4; i++) {
        count |= (uint32_t)buf[i] << (8 * i);
    }
    r.pos = 4;
    if (count != vm->nr_vcpus) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "the migration stream holds the state of %u vCPUs, "
                    "but this VM has %u", count, vm->nr_vcpus);
        return false;
    }
    if (!vm->kvm) {
        if (len != 4) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "CPU state: a VM without KVM (-accel qtest) takes "
                        "none, but the stream holds %zu bytes", len - 4);
            return false;
        }
        return true;
    }
    /* All of it is read and checked before any of it reaches KVM. */
    st = g_new0(X86VcpuState, MAX(count, 1u));
    for (uint32_t i = 0; i < count; i++) {
        if (!vms_load(&x86_cpu_vmsd, &st[i], &r, errp)) {
            g_prefix_error(errp, "vCPU %u: ", i);
            return false;
        }
    }
    if (!vms_load(&kvm_vm_vmsd, &vst, &r, errp)) {
        return false;
    }
    if (r.pos != r.len) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                    "CPU state: %zu unexpected bytes at its end",
                    r.len - r.pos);
        return false;
    }
    for (uint32_t i = 0; i < count; i++) {
        if (!vcpu_restore_state(&vm->vcpus[i], &st[i], errp)) {
            return false;
        }
    }
    if (!x86_vm_state_put(vm->kvm, &vst, errp)) {
        return false;
    }
    priv->clock = vst.clock;                /* set by vm_start */
    priv->clock_valid = true;
    return true;
}

/* --- CPU throttling (auto-converge) -------------------------------------- */

/* QEMU's CPU_THROTTLE_TIMESLICE_NS: a vCPU runs this long between naps. */
#define VM_THROTTLE_SLICE_NS (10 * 1000 * 1000LL)

/*
 * Every slice/(1 - p) the thread asks each vCPU to nap for slice * p/(1 - p)
 * (p = percent/100): each vCPU then runs a slice and sleeps the rest, as
 * QEMU's cpu-throttle does. The asks do not block (vcpu_throttle), so the
 * thread never waits on a vCPU, and a nap ends at any mailbox request.
 */
static gpointer vm_throttle_thread(gpointer opaque)
{
    Vm *vm = opaque;
    VmPriv *priv = opaque;

    g_mutex_lock(&priv->throttle_lock);
    while (priv->throttle_thread == g_thread_self()) {
        unsigned int pct = priv->throttle_pct;
        gint64 nap = VM_THROTTLE_SLICE_NS * pct / (100 - pct);
        gint64 deadline;

        g_mutex_unlock(&priv->throttle_lock);
        for (unsigned int i = 0; vm->vcpus && i < vm->nr_vcpus; i++) {
            vcpu_throttle(&vm->vcpus[i], nap);
        }
        g_mutex_lock(&priv->throttle_lock);
        deadline = g_get_monotonic_time() +
                   (VM_THROTTLE_SLICE_NS + nap) / 1000;
        while (priv->throttle_thread == g_thread_self() &&
               priv->throttle_pct == pct &&
               g_cond_wait_until(&priv->throttle_cond, &priv->throttle_lock,
                                 deadline)) {
            /* woken early: stopped or changed? */
        }
    }
    g_mutex_unlock(&priv->throttle_lock);
    return NULL;
}

void vm_set_cpu_throttle(Vm *vm, unsigned int percent)
{
    VmPriv *priv = (VmPriv *)vm;
    GThread *stop = NULL;

    percent = MIN(percent, 99u);
    g_mutex_lock(&priv->throttle_lock);
    priv->throttle_pct = percent;
    if (percent && !priv->throttle_thread) {
        /* Created under the lock: the thread's first look at
         * throttle_thread waits until it is stored. */
        priv->throttle_thread = g_thread_new("cpu-throttle",
                                             vm_throttle_thread, vm);
    } else if (!percent) {
        stop = g_steal_pointer(&priv->throttle_thread);
    }
    g_cond_broadcast(&priv->throttle_cond);
    g_mutex_unlock(&priv->throttle_lock);
    if (stop) {
        g_thread_join(stop);
    }
}

bool vm_system_reset(Vm *vm, bool guest, ShutdownCause cause, GError **errp)
{
    bool was_running = vm_get_run_state(vm) == RUN_STATE_RUNNING;

    if (!vm->mem) {
        /* machine none: nothing to reset. */
        if (vm->on_reset) {
            vm->on_reset(vm, guest, cause);
        }
        return true;
    }
    vm_pause_vcpus(vm);
    devices_reset(vm);              /* the board's, then -device */
    /* Firmware would rebuild its tables and reload the kernel: so do we,
     * the guest may have scribbled over them. */
    if (!vm->kvm) {
        /* -accel qtest: no vCPUs, no kernel to load. */
        if (!vm_build_acpi(vm, errp)) {
            return false;
        }
    } else if (!vm_restore_reset_state(vm, errp) ||
               !vm_build_acpi(vm, errp) || !vm_load_kernel(vm, errp) ||
               !x86_setup_boot(vm->mem, &vm->vcpus[0].kvm, &vm->boot,
                               errp)) {
        return false;
    }
    if (vm->on_reset) {
        vm->on_reset(vm, guest, cause);
    }
    if (was_running) {
        vm_resume_vcpus(vm);
    } else if (vm_get_run_state(vm) != RUN_STATE_PRELAUNCH) {
        /* As QEMU: a stopped VM (paused, shut down, crashed) comes out of
         * a reset in prelaunch, and 'cont' starts it afresh. */
        vm_set_run_state(vm, RUN_STATE_PRELAUNCH, NULL);
    }
    return true;
}
