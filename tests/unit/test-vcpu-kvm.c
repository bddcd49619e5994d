/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vCPU state round trip on /dev/kvm (fails, as every KVM test here, when
 * /dev/kvm is missing): a 2-vCPU VM runs a few guest instructions, is
 * paused and saved with vm_save_cpus; a second VM from the same config
 * loads that with vm_load_cpus, and saving it again gives the same state.
 * A VM with another vCPU count refuses the stream.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "layout.h"
#include "vm.h"

/* loop: out 0x80,al; inc eax; jmp loop (an I/O exit per iteration, so a
 * pause usually lands right after one) */
static const uint8_t guest_code[] = {
    0xe6, 0x80,
    0xff, 0xc0,
    0xeb, 0xfa,
};

static void put(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* A minimal ELF64 executable: one PT_LOAD at 1 MiB holding the code. */
static char *write_kernel(const char *dir)
{
    uint8_t img[64 + 56 + sizeof(guest_code)] = { 0 };
    char *path = g_build_filename(dir, "loop.elf", NULL);
    uint8_t *ph = img + 64;

    memcpy(img, "\x7f" "ELF", 4);
    img[4] = 2;
    img[5] = 1;
    img[6] = 1;
    put(img + 16, 2, 2);
    put(img + 18, 62, 2);
    put(img + 20, 1, 4);
    put(img + 24, 0x100000 + 120, 8);
    put(img + 32, 64, 8);
    put(img + 52, 64, 2);
    put(img + 54, 56, 2);
    put(img + 56, 1, 2);
    put(ph, 1, 4);
    put(ph + 4, 5, 4);
    put(ph + 16, 0x100000, 8);
    put(ph + 24, 0x100000, 8);
    put(ph + 32, sizeof(img), 8);
    put(ph + 40, sizeof(img), 8);
    memcpy(img + 120, guest_code, sizeof(guest_code));
    g_assert_true(g_file_set_contents(path, (const char *)img, sizeof(img),
                                      NULL));
    return path;
}

/* Parse what vm_save_cpus wrote. */
static void decode(GByteArray *buf, unsigned int n, X86VcpuState *cpus,
                   X86VmState *vm)
{
    VmsReader r = vms_reader(buf->data, buf->len);
    g_autoptr(GError) err = NULL;

    g_assert_cmpuint(buf->len, >=, 4);
    g_assert_cmpuint(buf->data[0], ==, n);
    r.pos = 4;
    for (unsigned int i = 0; i < n; i++) {
        g_assert_true(vms_load(&x86_cpu_vmsd, &cpus[i], &r, &err));
        g_assert_no_error(err);
    }
    g_assert_true(vms_load(&kvm_vm_vmsd, vm, &r, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(r.pos, ==, r.len);
}

static void assert_same_cpu(const X86VcpuState *a, const X86VcpuState *b)
{
    g_assert_cmpmem(&a->regs, sizeof(a->regs), &b->regs, sizeof(b->regs));
    g_assert_cmpmem(&a->sregs, sizeof(a->sregs), &b->sregs,
                    sizeof(b->sregs));
    g_assert_cmpint(a->has_xsave, ==, b->has_xsave);
    g_assert_cmpmem(&a->xsave, sizeof(a->xsave), &b->xsave,
                    sizeof(b->xsave));
    g_assert_cmpmem(&a->fpu, sizeof(a->fpu), &b->fpu, sizeof(b->fpu));
    g_assert_cmpmem(&a->xcrs, sizeof(a->xcrs), &b->xcrs, sizeof(b->xcrs));
    g_assert_cmpmem(&a->lapic, sizeof(a->lapic), &b->lapic,
                    sizeof(b->lapic));
    g_assert_cmpuint(a->mp_state, ==, b->mp_state);
    g_assert_cmpmem(&a->debugregs, sizeof(a->debugregs), &b->debugregs,
                    sizeof(b->debugregs));
    g_assert_cmpuint(a->nr_msrs, ==, b->nr_msrs);
    for (uint32_t i = 0; i < a->nr_msrs; i++) {
        g_assert_cmphex(a->msrs[i].index, ==, b->msrs[i].index);
        if (a->msrs[i].index != 0x10) {         /* IA32_TSC moves on */
            g_assert_cmphex(a->msrs[i].data, ==, b->msrs[i].data);
        }
    }
}

static void test_round_trip(void)
{
    g_autoptr(VmConfig) cfg = vm_config_new();
    g_autoptr(VmConfig) cfg1 = vm_config_new();
    g_autoptr(GByteArray) a = g_byte_array_new();
    g_autoptr(GByteArray) b = g_byte_array_new();
    g_autoptr(GError) err = NULL;
    g_autofree X86VcpuState *sa = g_new0(X86VcpuState, 2);
    g_autofree X86VcpuState *sb = g_new0(X86VcpuState, 2);
    g_autofree char *dir = NULL;
    X86VmState va = { 0 }, vb = { 0 };
    Vm *src, *dst, *other;

    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        /* Not something dev.sh can install: a PVM guest has no KVM. */
        g_test_skip("no /dev/kvm on this machine (kvm-pvm does not bind "
                    "inside a PVM guest)");
        return;
    }
    dir = g_dir_make_tmp("kestrel-vcpu-XXXXXX", NULL);
    cfg->kernel = write_kernel(dir);
    cfg->ram_size = 64 * MiB;
    cfg->cpus = 2;
    cfg->max_cpus = 2;
    cfg1->kernel = g_strdup(cfg->kernel);
    cfg1->ram_size = 64 * MiB;
    cfg1->cpus = 1;
    vcpu_signals_init();

    src = vm_new(cfg, &err);
    g_assert_no_error(err);
    g_assert_true(vm_start(src, &err));
    g_usleep(100 * 1000);
    /* running: refused */
    g_assert_false(vm_save_cpus(src, a, &err));
    g_assert_cmpstr(err->message, ==,
                    "vCPU state can only be saved while paused");
    g_clear_error(&err);
    g_byte_array_set_size(a, 0);
    g_assert_true(vm_pause(src, RUN_STATE_PAUSED, &err));
    g_assert_true(vm_save_cpus(src, a, &err));
    g_assert_no_error(err);
    decode(a, 2, sa, &va);
    g_assert_cmpuint(sa[0].regs.rax, >, 0);      /* the guest ran */

    dst = vm_new(cfg, &err);
    g_assert_no_error(err);
    g_assert_true(vm_load_cpus(dst, a->data, a->len, &err));
    g_assert_no_error(err);
    g_assert_true(vm_save_cpus(dst, b, &err));
    decode(b, 2, sb, &vb);
    for (unsigned int i = 0; i < 2; i++) {
        assert_same_cpu(&sa[i], &sb[i]);
    }
    g_assert_cmpmem(&va.pic_master, sizeof(va.pic_master), &vb.pic_master,
                    sizeof(vb.pic_master));
    g_assert_cmpmem(&va.ioapic, sizeof(va.ioapic), &vb.ioapic,
                    sizeof(vb.ioapic));
    g_assert_cmpuint(va.clock, ==, vb.clock);
    /* and it runs on from there */
    g_assert_true(vm_start(dst, &err));
    g_usleep(50 * 1000);
    g_assert_true(vm_pause(dst, RUN_STATE_PAUSED, &err));

    /* another vCPU count: refused, naming both */
    other = vm_new(cfg1, &err);
    g_assert_no_error(err);
    g_assert_false(vm_load_cpus(other, a->data, a->len, &err));
    g_assert_cmpstr(err->message, ==,
                    "the migration stream holds the state of 2 vCPUs, but "
                    "this VM has 1");
    /* truncated: refused */
    g_clear_error(&err);
    g_assert_false(vm_load_cpus(dst, a->data, a->len - 1, &err));
    g_assert_nonnull(err);

    vm_free(other);
    vm_free(dst);
    vm_free(src);
    g_unlink(cfg->kernel);
    g_rmdir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vcpu-kvm/state-round-trip", test_round_trip);
    return g_test_run();
}
