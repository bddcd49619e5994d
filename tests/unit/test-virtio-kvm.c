/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The balloon on a real VM (needs /dev/kvm; skipped without it): the test
 * plays the driver through the VM's MMIO bus while the vCPUs are paused,
 * then a few guest instructions kick the inflate queue. The kick must
 * reach the device through KVM's ioeventfd and the main loop (or, with
 * ioeventfd=off, through an MMIO exit on the vCPU thread), the pages must
 * leave the RAM memfd, and the MSI-X interrupt must reach the guest's
 * LAPIC through an irqfd and an MSI route.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"
#include "pci.h"
#include "vm.h"
#include "virtio/virtio-balloon.h"
#include "virtio/virtio-pci.h"
#include "virtio/virtio.h"

#define DEVFN       (1 << 3)            /* first free slot */
#define RING        0x200000ULL
#define PFNS        0x300000ULL
#define PAGES       0x400000ULL
#define NPAGES      64
#define VECTOR      0x41                /* queue 0's MSI-X vector */

/* xor eax,eax; movabs rdx,LAPIC_SVR; mov dword [rdx],0x1ff (enable the
 * LAPIC); movabs rdx,NOTIFY; mov [rdx],ax (kick queue 0); hlt; jmp hlt */
static const uint8_t guest_code[] = {
    0x31, 0xc0,
    0x48, 0xba, 0xf0, 0x00, 0xe0, 0xfe, 0, 0, 0, 0,
    0xc7, 0x02, 0xff, 0x01, 0x00, 0x00,
    0x48, 0xba, 0, 0, 0, 0, 0, 0, 0, 0,        /* notify address */
    0x66, 0x89, 0x02,
    0xf4,
    0xeb, 0xfd,
};

static void put(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* A minimal ELF64 executable: one PT_LOAD at 1 MiB holding the code. */
static char *write_kernel(const char *dir, uint64_t notify)
{
    uint8_t img[64 + 56 + sizeof(guest_code)] = { 0 };
    char *path = g_build_filename(dir, "kick.elf", NULL);
    uint8_t *ph = img + 64, *code = img + 120;

    memcpy(img, "\x7f" "ELF", 4);
    img[4] = 2;                         /* ELFCLASS64 */
    img[5] = 1;                         /* little endian */
    img[6] = 1;
    put(img + 16, 2, 2);                /* ET_EXEC */
    put(img + 18, 62, 2);               /* EM_X86_64 */
    put(img + 20, 1, 4);
    put(img + 24, 0x100000 + 120, 8);   /* e_entry */
    put(img + 32, 64, 8);               /* e_phoff */
    put(img + 52, 64, 2);
    put(img + 54, 56, 2);
    put(img + 56, 1, 2);
    put(ph, 1, 4);                      /* PT_LOAD */
    put(ph + 4, 5, 4);                  /* R+X */
    put(ph + 16, 0x100000, 8);          /* p_vaddr */
    put(ph + 24, 0x100000, 8);          /* p_paddr */
    put(ph + 32, sizeof(img), 8);
    put(ph + 40, sizeof(img), 8);
    memcpy(code, guest_code, sizeof(guest_code));
    put(code + 20, notify, 8);
    g_assert_true(g_file_set_contents(path, (const char *)img, sizeof(img),
                                      NULL));
    return path;
}

static uint64_t mmio_rd(Vm *vm, uint64_t addr, uint32_t len)
{
    uint8_t v[8] = { 0 };

    vm_mmio(vm, addr, v, len, false);
    return io_data_get(v, len);
}

static void mmio_wr(Vm *vm, uint64_t addr, uint32_t len, uint64_t val)
{
    uint8_t v[8];

    io_data_set(v, len, val);
    vm_mmio(vm, addr, v, len, true);
}

static void test_kick_and_interrupt(gconstpointer ioeventfd)
{
    g_autoptr(VmConfig) cfg = vm_config_new();
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = NULL;
    uint64_t ecam = LAYOUT_ECAM_START + ((uint64_t)DEVFN << 12);
    uint64_t bar = devices_pci_window(DEVFN);
    uint64_t common = bar + VIRTIO_PCI_COMMON_OFF;
    DeviceConfig *dc;
    struct kvm_lapic_state lapic;
    struct stat before, after;
    uint32_t irr, msix_cap = 0;
    uint8_t *ram;
    gint64 deadline;
    Vm *vm;

    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        /* Not something dev.sh can install: a PVM guest has no KVM. */
        g_test_skip("no /dev/kvm on this machine (kvm-pvm does not bind "
                    "inside a PVM guest)");
        return;
    }
    dir = g_dir_make_tmp("kestrel-kvm-XXXXXX", NULL);
    cfg->kernel = write_kernel(dir, bar + VIRTIO_PCI_NOTIFY_OFF);
    cfg->ram_size = 64 * MiB;
    /* A shared memfd, whose allocated blocks fstat counts (the balloon
     * on every backend: tests/functional/test_membackend.py). */
    cfg->ram_backend = g_new0(MemBackendConfig, 1);
    cfg->ram_backend->type = MEM_BACKEND_MEMFD;
    cfg->ram_backend->share = true;
    cfg->ram_backend->size = cfg->ram_size;
    dc = g_new0(DeviceConfig, 1);
    dc->driver = g_strdup("virtio-balloon-pci");
    dc->id = g_strdup("balloon0");
    dc->props = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                      g_free);
    g_hash_table_insert(dc->props, g_strdup("ioeventfd"),
                        g_strdup(ioeventfd));
    g_ptr_array_add(cfg->devices, dc);
    vcpu_signals_init();
    vm = vm_new(cfg, &err);
    g_assert_no_error(err);
    g_assert_nonnull(balloon_find(vm));
    g_assert_cmpstr(balloon_id(balloon_find(vm)), ==, "balloon0");
    ram = memmap_hva_mut(vm->mem, 0, 64 * MiB);

    /* the device at 00:01.0, its BAR where "firmware" put it */
    g_assert_cmphex(mmio_rd(vm, ecam, 4), ==, 0x10451af4);
    g_assert_cmphex(mmio_rd(vm, ecam + PCI_BAR0, 4) & ~0xfu, ==,
                    (uint32_t)bar);
    for (uint32_t c = (uint32_t)mmio_rd(vm, ecam + PCI_CAPABILITY_LIST, 1);
         c; c = (uint32_t)mmio_rd(vm, ecam + c + 1, 1)) {
        if (mmio_rd(vm, ecam + c, 1) == PCI_CAP_ID_MSIX) {
            msix_cap = c;
        }
    }
    g_assert_cmpuint(msix_cap, !=, 0);

    /* the driver's part, from this thread: features, MSI-X, queue 0 */
    mmio_wr(vm, common + VIRTIO_PCI_COMMON_STATUS, 1, 3);
    mmio_wr(vm, common + VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
    mmio_wr(vm, common + VIRTIO_PCI_COMMON_GF, 4, 1);   /* VERSION_1 */
    mmio_wr(vm, common + VIRTIO_PCI_COMMON_STATUS, 1, 0xb);
    g_assert_cmphex(mmio_rd(vm, common + VIRTIO_PCI_COMMON_STATUS, 1), ==,
                    0xb);
    mmio_wr(vm, ecam + msix_cap + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
    mmio_wr(vm, bar + VIRTIO_PCI_MSIX_TABLE_OFF + 16, 4, LAYOUT_LAPIC);
    mmio_wr(vm, bar + VIRTIO_PCI_MSIX_TABLE_OFF + 16 + 8, 4, VECTOR);
    mmio_wr(vm, bar + VIRTIO_PCI_MSIX_TABLE_OFF + 16 + 12, 4, 0);
    mmio_wr(vm, common + VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
    mmio_wr(vm, common + VIRTIO_PCI_COMMON_Q_SIZE, 2, 16);
    mmio_wr(vm, common + VIRTIO_PCI_COMMON_Q_MSIX, 2, 1);
    mmio_wr(vm, common + VIRTIO_PCI_COMMON_Q_DESCLO, 8, RING);
    mmio_wr(vm, common + VIRTIO_PCI_COMMON_Q_AVAILLO, 8, RING + 0x1000);
    mmio_wr(vm, common + VIRTIO_PCI_COMMON_Q_USEDLO, 8, RING + 0x2000);
    mmio_wr(vm, common + VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
    mmio_wr(vm, common + VIRTIO_PCI_COMMON_STATUS, 1, 0xf);

    /* one inflate buffer: NPAGES pages that hold data */
    memset(ram + PAGES, 0x77, NPAGES * 4096);
    for (uint32_t i = 0; i < NPAGES; i++) {
        put(ram + PFNS + 4 * i, (PAGES >> 12) + i, 4);
    }
    put(ram + RING, PFNS, 8);
    put(ram + RING + 8, 4 * NPAGES, 4);
    put(ram + RING + 0x1000 + 4, 0, 2);
    put(ram + RING + 0x1000 + 2, 1, 2);
    g_assert_cmpint(fstat(vm->mem->fd, &before), ==, 0);
    g_assert_true(kvm_vcpu_get_lapic(&vm->vcpus[0].kvm, &lapic));
    memcpy(&irr, &lapic.regs[0x200 + 0x10 * (VECTOR / 32)], 4);
    g_assert_false(irr & (1u << (VECTOR % 32)));

    /* the guest kicks: with ioeventfd=on only KVM sees the write and the
     * main loop takes it from there; with off it exits to the vCPU
     * thread, which processes the queue itself */
    g_assert_true(vm_start(vm, &err));
    if (g_str_equal(ioeventfd, "on")) {
        /* Nothing happens until the main loop reads the eventfd: proof
         * that the write did not exit to the vCPU thread. */
        g_usleep(300000);
        g_assert_cmpuint(ram[RING + 0x2000 + 2], ==, 0);
    }
    deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
    while (ram[RING + 0x2000 + 2] == 0 &&
           g_get_monotonic_time() < deadline) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    g_assert_cmpuint(ram[RING + 0x2000 + 2], ==, 1);
    g_assert_cmpuint(balloon_discarded_pages(balloon_find(vm)), ==, NPAGES);
    g_assert_cmpuint(ram[PAGES], ==, 0);
    g_assert_cmpint(fstat(vm->mem->fd, &after), ==, 0);
    /* (less a few pages the used ring and the guest touched meanwhile) */
    g_assert_cmpint(after.st_blocks, <=,
                    before.st_blocks - (NPAGES - 8) * 4096 / 512);

    /* the MSI reached the LAPIC (IF=0: pending in IRR) */
    deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    do {
        g_assert_true(vm_pause(vm, RUN_STATE_PAUSED, &err));
        g_assert_true(kvm_vcpu_get_lapic(&vm->vcpus[0].kvm, &lapic));
        memcpy(&irr, &lapic.regs[0x200 + 0x10 * (VECTOR / 32)], 4);
        if (irr & (1u << (VECTOR % 32))) {
            break;
        }
        g_assert_true(vm_start(vm, &err));
        g_usleep(10000);
    } while (g_get_monotonic_time() < deadline);
    g_assert_true(irr & (1u << (VECTOR % 32)));

    vm_free(vm);
    g_unlink(cfg->kernel);
    g_rmdir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_data_func("/virtio-kvm/kick-and-interrupt/ioeventfd", "on",
                         test_kick_and_interrupt);
    g_test_add_data_func("/virtio-kvm/kick-and-interrupt/vcpu-exit", "off",
                         test_kick_and_interrupt);
    return g_test_run();
}
