/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "error.h"
#include "kvm.h"
#include "layout.h"

#define KVM_MAX_CPUID_ENTRIES 256

static int kvm_ioctl(int fd, unsigned long req, void *arg)
{
    int rc;

    do {
        rc = ioctl(fd, req, arg);
    } while (rc < 0 && errno == EINTR);
    return rc;
}

/* Capabilities kestrel cannot run without, with the name QEMU users know. */
static const struct {
    long cap;
    const char *name;
} kvm_required_caps[] = {
    { KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
    { KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
    { KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
    { KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
    { KVM_CAP_PIT2, "KVM_CAP_PIT2" },
    { KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
    { KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING" },
};

static struct kvm_cpuid2 *kvm_supported_cpuid(int fd, GError **errp)
{
    g_autofree struct kvm_cpuid2 *c = NULL;

    c = g_malloc0(sizeof(*c) +
                  KVM_MAX_CPUID_ENTRIES * sizeof(struct kvm_cpuid_entry2));
    c->nent = KVM_MAX_CPUID_ENTRIES;
    if (kvm_ioctl(fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                    "KVM_GET_SUPPORTED_CPUID failed: %s", g_strerror(errno));
        return NULL;
    }
    return g_steal_pointer(&c);
}

static struct kvm_msr_list *kvm_msr_index_list(int fd, GError **errp)
{
    struct kvm_msr_list probe = { .nmsrs = 0 };
    g_autofree struct kvm_msr_list *l = NULL;

    /* The first call fails with E2BIG and tells us how many there are. */
    if (ioctl(fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                    "KVM_GET_MSR_INDEX_LIST failed: %s", g_strerror(errno));
        return NULL;
    }
    l = g_malloc0(sizeof(*l) + probe.nmsrs * sizeof(uint32_t));
    l->nmsrs = probe.nmsrs;
    if (kvm_ioctl(fd, KVM_GET_MSR_INDEX_LIST, l) < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                    "KVM_GET_MSR_INDEX_LIST failed: %s", g_strerror(errno));
        return NULL;
    }
    return g_steal_pointer(&l);
}

Kvm *kvm_open(const char *path, GError **errp)
{
    g_autoptr(Kvm) kvm = g_new0(Kvm, 1);
    uint64_t identity = LAYOUT_KVM_IDENTITY_MAP;
    int version;

    kvm->vm_fd = -1;
    kvm->fd = open(path, O_RDWR | O_CLOEXEC);
    if (kvm->fd < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                    "Could not access KVM kernel module: %s (%s)",
                    g_strerror(errno), path);
        return NULL;
    }
    version = ioctl(kvm->fd, KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                    "%s is not a usable KVM device: API version %d, "
                    "expected %d", path, version, KVM_API_VERSION);
        return NULL;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(kvm_required_caps); i++) {
        if (ioctl(kvm->fd, KVM_CHECK_EXTENSION, kvm_required_caps[i].cap) <= 0) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                        "KVM lacks a capability kestrel needs: %s",
                        kvm_required_caps[i].name);
            return NULL;
        }
    }
    kvm->max_vcpus = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
    if (kvm->max_vcpus <= 0) {
        kvm->max_vcpus = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
    }
    kvm->vcpu_mmap_size = ioctl(kvm->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (kvm->vcpu_mmap_size <= 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                    "KVM_GET_VCPU_MMAP_SIZE failed: %s", g_strerror(errno));
        return NULL;
    }
    kvm->cpuid = kvm_supported_cpuid(kvm->fd, errp);
    if (!kvm->cpuid) {
        return NULL;
    }
    kvm->msrs = kvm_msr_index_list(kvm->fd, errp);
    if (!kvm->msrs) {
        return NULL;
    }
    kvm->has_xsave = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0;
    kvm->has_xcrs = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0;

    do {
        kvm->vm_fd = ioctl(kvm->fd, KVM_CREATE_VM, 0);
    } while (kvm->vm_fd < 0 && errno == EINTR);
    if (kvm->vm_fd < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                    "failed to create the VM (KVM_CREATE_VM): %s",
                    g_strerror(errno));
        return NULL;
    }
    /* The TSS and identity-map pages matter only to VT-x's real-mode
     * support, but every VMM sets them, out of the way of RAM. */
    if (ioctl(kvm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_KVM_TSS) < 0 ||
        ioctl(kvm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                    "failed to place KVM's TSS and identity map: %s",
                    g_strerror(errno));
        return NULL;
    }
    return g_steal_pointer(&kvm);
}

bool kvm_create_irqchip(Kvm *kvm, GError **errp)
{
    struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

    if (ioctl(kvm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                    "failed to create the in-kernel irqchip: %s",
                    g_strerror(errno));
        return false;
    }
    if (ioctl(kvm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                    "failed to create the in-kernel PIT: %s",
                    g_strerror(errno));
        return false;
    }
    return true;
}

void kvm_close(Kvm *kvm)
{
    if (!kvm) {
        return;
    }
    if (kvm->vm_fd >= 0) {
        close(kvm->vm_fd);
    }
    if (kvm->fd >= 0) {
        close(kvm->fd);
    }
    g_free(kvm->cpuid);
    g_free(kvm->msrs);
    g_free(kvm);
}

int kvm_check_extension(Kvm *kvm, long cap)
{
    int rc = ioctl(kvm->vm_fd, KVM_CHECK_EXTENSION, cap);

    return rc < 0 ? 0 : rc;
}

bool kvm_set_memory_region(Kvm *kvm, uint32_t slot, uint64_t gpa,
                           uint64_t size, void *hva, uint32_t flags,
                           GError **errp)
{
    struct kvm_userspace_memory_region r = {
        .slot = slot, .flags = flags, .guest_phys_addr = gpa,
        .memory_size = size, .userspace_addr = (uintptr_t)hva,
    };

    if (!kvm) {
        return true;
    }
    if (kvm_ioctl(kvm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_NOMEM,
                    "KVM refused guest memory slot %u (0x%" PRIx64 "+0x%"
                    PRIx64 "): %s", slot, gpa, size, g_strerror(errno));
        return false;
    }
    return true;
}

bool kvm_irq_line(Kvm *kvm, uint32_t irq, bool level)
{
    struct kvm_irq_level l = { .irq = irq, .level = level ? 1 : 0 };

    if (!kvm) {
        return false;
    }
    return kvm_ioctl(kvm->vm_fd, KVM_IRQ_LINE, &l) == 0;
}

bool kvm_signal_msi(Kvm *kvm, uint64_t addr, uint32_t data)
{
    struct kvm_msi m = {
        .address_lo = (uint32_t)addr, .address_hi = (uint32_t)(addr >> 32),
        .data = data,
    };

    if (!kvm) {
        return false;
    }
    return kvm_ioctl(kvm->vm_fd, KVM_SIGNAL_MSI, &m) >= 0;
}

bool kvm_get_clock(Kvm *kvm, struct kvm_clock_data *clock)
{
    if (!kvm) {
        return false;
    }
    return kvm_ioctl(kvm->vm_fd, KVM_GET_CLOCK, clock) == 0;
}

bool kvm_set_clock(Kvm *kvm, const struct kvm_clock_data *clock)
{
    if (!kvm) {
        return false;
    }
    return kvm_ioctl(kvm->vm_fd, KVM_SET_CLOCK, (void *)clock) == 0;
}

bool kvm_get_dirty_log(Kvm *kvm, uint32_t slot, void *bitmap)
{
    struct kvm_dirty_log log = { .slot = slot, .dirty_bitmap = bitmap };

    if (!kvm) {
        return false;
    }
    return kvm_ioctl(kvm->vm_fd, KVM_GET_DIRTY_LOG, &log) == 0;
}

bool kvm_vcpu_create(Kvm *kvm, int id, KvmVcpu *cpu, GError **errp)
{
    void *run;

    cpu->id = id;
    cpu->fd = ioctl(kvm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
    if (cpu->fd < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                    "failed to create vCPU %d: %s", id, g_strerror(errno));
        return false;
    }
    run = mmap(NULL, kvm->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED,
               cpu->fd, 0);
    if (run == MAP_FAILED) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                    "failed to map vCPU %d's run area: %s", id,
                    g_strerror(errno));
        close(cpu->fd);
        cpu->fd = -1;
        return false;
    }
    cpu->run = run;
    cpu->mmap_size = kvm->vcpu_mmap_size;
    return true;
}

void kvm_vcpu_destroy(KvmVcpu *cpu)
{
    if (cpu->run) {
        munmap(cpu->run, cpu->mmap_size);
        cpu->run = NULL;
    }
    if (cpu->fd >= 0) {
        close(cpu->fd);
        cpu->fd = -1;
    }
}

int kvm_vcpu_run(KvmVcpu *cpu)
{
    /* No EINTR retry here: EINTR is how a kick reaches the vCPU loop. */
    return ioctl(cpu->fd, KVM_RUN, 0) < 0 ? -errno : 0;
}

#define KVM_VCPU_GETSET(what, type, get, set)                               \
    bool kvm_vcpu_get_##what(KvmVcpu *cpu, type *v)                         \
    {                                                                       \
        return kvm_ioctl(cpu->fd, get, v) == 0;                             \
    }                                                                       \
    bool kvm_vcpu_set_##what(KvmVcpu *cpu, const type *v)                   \
    {                                                                       \
        return kvm_ioctl(cpu->fd, set, (void *)v) == 0;                     \
    }

KVM_VCPU_GETSET(regs, struct kvm_regs, KVM_GET_REGS, KVM_SET_REGS)
KVM_VCPU_GETSET(sregs, struct kvm_sregs, KVM_GET_SREGS, KVM_SET_SREGS)
KVM_VCPU_GETSET(fpu, struct kvm_fpu, KVM_GET_FPU, KVM_SET_FPU)
KVM_VCPU_GETSET(lapic, struct kvm_lapic_state, KVM_GET_LAPIC, KVM_SET_LAPIC)
KVM_VCPU_GETSET(mp_state, struct kvm_mp_state, KVM_GET_MP_STATE,
                KVM_SET_MP_STATE)
KVM_VCPU_GETSET(events, struct kvm_vcpu_events, KVM_GET_VCPU_EVENTS,
                KVM_SET_VCPU_EVENTS)
KVM_VCPU_GETSET(xcrs, struct kvm_xcrs, KVM_GET_XCRS, KVM_SET_XCRS)
KVM_VCPU_GETSET(xsave, struct kvm_xsave, KVM_GET_XSAVE, KVM_SET_XSAVE)
KVM_VCPU_GETSET(debugregs, struct kvm_debugregs, KVM_GET_DEBUGREGS,
                KVM_SET_DEBUGREGS)

int kvm_vcpu_kvmclock_ctrl(KvmVcpu *cpu)
{
    return kvm_ioctl(cpu->fd, KVM_KVMCLOCK_CTRL, NULL) < 0 ? -errno : 0;
}

bool kvm_vcpu_set_cpuid(KvmVcpu *cpu, const struct kvm_cpuid2 *c,
                        GError **errp)
{
    if (kvm_ioctl(cpu->fd, KVM_SET_CPUID2, (void *)c) < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                    "KVM refused the CPUID of vCPU %d: %s", cpu->id,
                    g_strerror(errno));
        return false;
    }
    return true;
}

int kvm_vcpu_get_msrs(KvmVcpu *cpu, struct kvm_msrs *m)
{
    return kvm_ioctl(cpu->fd, KVM_GET_MSRS, m);
}

int kvm_vcpu_set_msrs(KvmVcpu *cpu, const struct kvm_msrs *m)
{
    return kvm_ioctl(cpu->fd, KVM_SET_MSRS, (void *)m);
}

bool kvm_vcpu_set_tsc_khz(KvmVcpu *cpu, uint32_t khz)
{
    return ioctl(cpu->fd, KVM_SET_TSC_KHZ, (unsigned long)khz) == 0;
}

int kvm_vcpu_get_tsc_khz(KvmVcpu *cpu)
{
    return ioctl(cpu->fd, KVM_GET_TSC_KHZ, 0);
}

bool kvm_get_irqchip(Kvm *kvm, struct kvm_irqchip *chip)
{
    return kvm_ioctl(kvm->vm_fd, KVM_GET_IRQCHIP, chip) == 0;
}

bool kvm_set_irqchip(Kvm *kvm, const struct kvm_irqchip *chip)
{
    return kvm_ioctl(kvm->vm_fd, KVM_SET_IRQCHIP, (void *)chip) == 0;
}

bool kvm_get_pit2(Kvm *kvm, struct kvm_pit_state2 *pit)
{
    return kvm_ioctl(kvm->vm_fd, KVM_GET_PIT2, pit) == 0;
}

bool kvm_set_pit2(Kvm *kvm, const struct kvm_pit_state2 *pit)
{
    return kvm_ioctl(kvm->vm_fd, KVM_SET_PIT2, (void *)pit) == 0;
}

/* --- ioeventfd, irqfd, GSI routing -------------------------------------- */

bool kvm_ioeventfd(Kvm *kvm, int fd, uint64_t addr, uint32_t len,
                   bool assign, GError **errp)
{
    struct kvm_ioeventfd e = {
        .addr = addr, .fd = fd,
        .flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
    };

    if (!kvm) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                    "no KVM: ioeventfds need it");
        return false;
    }
    /* Length 0 matches writes of any width; older kernels want one. */
    e.len = kvm_check_extension(kvm, KVM_CAP_IOEVENTFD_ANY_LENGTH) ? 0 : len;
    if (kvm_ioctl(kvm->vm_fd, KVM_IOEVENTFD, &e) < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                    "KVM_IOEVENTFD at 0x%" PRIx64 " failed: %s", addr,
                    g_strerror(errno));
        return false;
    }
    return true;
}

bool kvm_irqfd(Kvm *kvm, int fd, uint32_t gsi, bool assign, GError **errp)
{
    struct kvm_irqfd i = {
        .fd = (uint32_t)fd, .gsi = gsi,
        .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
    };

    if (!kvm) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                    "no KVM: irqfds need it");
        return false;
    }
    if (kvm_ioctl(kvm->vm_fd, KVM_IRQFD, &i) < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                    "KVM_IRQFD for GSI %u failed: %s", gsi,
                    g_strerror(errno));
        return false;
    }
    return true;
}

#define KVM_IRQCHIP_PINS 24
#define KVM_MAX_MSI_ROUTES 1024

struct KvmIrqRouting {
    Kvm *kvm;
    GArray *msi;                        /* struct kvm_irq_routing_entry */
};

static bool kvm_irq_routing_commit(KvmIrqRouting *r, GError **errp)
{
    guint n = KVM_IRQCHIP_PINS + 16 + r->msi->len;
    g_autofree struct kvm_irq_routing *t = NULL;
    guint k = 0;

    if (!r->kvm) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                    "no KVM: MSI routes need it");
        return false;
    }
    t = g_malloc0(sizeof(*t) + n * sizeof(struct kvm_irq_routing_entry));
    /* What KVM sets up by itself with the in-kernel irqchip. */
    for (uint32_t gsi = 0; gsi < KVM_IRQCHIP_PINS; gsi++) {
        t->entries[k++] = (struct kvm_irq_routing_entry) {
            .gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
            .u.irqchip = { .irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi },
        };
        if (gsi < 16) {
            t->entries[k++] = (struct kvm_irq_routing_entry) {
                .gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
                .u.irqchip = {
                    .irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER
                                       : KVM_IRQCHIP_PIC_SLAVE,
                    .pin = gsi % 8,
                },
            };
        }
    }
    for (guint i = 0; i < r->msi->len; i++) {
        t->entries[k++] = g_array_index(r->msi, struct kvm_irq_routing_entry,
                                        i);
    }
    t->nr = k;
    if (kvm_ioctl(r->kvm->vm_fd, KVM_SET_GSI_ROUTING, t) < 0) {
        g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                    "KVM_SET_GSI_ROUTING failed: %s", g_strerror(errno));
        return false;
    }
    return true;
}

KvmIrqRouting *kvm_irq_routing_new(Kvm *kvm)
{
    KvmIrqRouting *r = g_new0(KvmIrqRouting, 1);

    r->kvm = kvm;
    r->msi = g_array_new(FALSE, TRUE, sizeof(struct kvm_irq_routing_entry));
    return r;
}

void kvm_irq_routing_free(KvmIrqRouting *r)
{
    if (r) {
        g_array_free(r->msi, TRUE);
        g_free(r);
    }
}

int kvm_irq_routing_set_msi(KvmIrqRouting *r, int gsi, uint64_t addr,
                            uint32_t data, GError **errp)
{
    struct kvm_irq_routing_entry e = {
        .type = KVM_IRQ_ROUTING_MSI,
        .u.msi = {
            .address_lo = (uint32_t)addr,
            .address_hi = (uint32_t)(addr >> 32), .data = data,
        },
    };
    struct kvm_irq_routing_entry *slot = NULL;
    guint i;

    if (gsi >= 0) {
        for (i = 0; i < r->msi->len; i++) {
            slot = &g_array_index(r->msi, struct kvm_irq_routing_entry, i);
            if (slot->gsi == (uint32_t)gsi) {
                break;
            }
            slot = NULL;
        }
    }
    if (!slot) {
        uint32_t next = KVM_IRQCHIP_PINS;

        if (r->msi->len >= KVM_MAX_MSI_ROUTES) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_KVM,
                        "no GSI left for an MSI route");
            return -1;
        }
        /* Lowest free GSI: the array is kept sorted. */
        for (i = 0; i < r->msi->len; i++) {
            uint32_t g = g_array_index(r->msi, struct kvm_irq_routing_entry,
                                       i).gsi;
            if (g != next) {
                break;
            }
            next++;
        }
        e.gsi = next;
        g_array_insert_val(r->msi, i, e);
        slot = &g_array_index(r->msi, struct kvm_irq_routing_entry, i);
    } else {
        e.gsi = slot->gsi;
        *slot = e;
    }
    gsi = (int)e.gsi;
    if (!kvm_irq_routing_commit(r, errp)) {
        kvm_irq_routing_remove(r, gsi);
        return -1;
    }
    return gsi;
}

void kvm_irq_routing_remove(KvmIrqRouting *r, int gsi)
{
    for (guint i = 0; i < r->msi->len; i++) {
        if (g_array_index(r->msi, struct kvm_irq_routing_entry, i).gsi ==
            (uint32_t)gsi) {
            g_array_remove_index(r->msi, i);
            kvm_irq_routing_commit(r, NULL);
            return;
        }
    }
}
