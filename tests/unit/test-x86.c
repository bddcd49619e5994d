/* SPDX-License-Identifier: GPL-2.0-or-later */
/* CPUID shaping from a supported list, and the vCPU/VM state tables,
 * without KVM. */
#include <glib.h>
#include <string.h>

#include "x86.h"

static struct kvm_cpuid2 *fake_supported(void)
{
    struct kvm_cpuid2 *c = g_malloc0(sizeof(*c) +
                                     16 * sizeof(struct kvm_cpuid_entry2));
    struct kvm_cpuid_entry2 *e = c->entries;

    e[0] = (struct kvm_cpuid_entry2) { .function = 0, .eax = 0x10 };
    e[1] = (struct kvm_cpuid_entry2) { .function = 1, .ebx = 0xff0a0800,
                                       .ecx = 0x1, .edx = 0x10000000 };
    e[2] = (struct kvm_cpuid_entry2) { .function = 0xb, .index = 0,
                                       .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
                                       .ebx = 64, .edx = 77 };
    e[3] = (struct kvm_cpuid_entry2) { .function = 0x1f, .index = 0,
                                       .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX };
    e[4] = (struct kvm_cpuid_entry2) { .function = 0x40000000,
                                       .eax = 0x40000001, .ebx = 0x4b4d564b };
    e[5] = (struct kvm_cpuid_entry2) { .function = 0x80000008, .ecx = 0x703f };
    e[6] = (struct kvm_cpuid_entry2) { .function = 0x8000001e, .eax = 9 };
    c->nent = 7;
    return c;
}

static const struct kvm_cpuid_entry2 *find(const struct kvm_cpuid2 *c,
                                           uint32_t fn, uint32_t idx)
{
    for (uint32_t i = 0; i < c->nent; i++) {
        if (c->entries[i].function == fn && c->entries[i].index == idx) {
            return &c->entries[i];
        }
    }
    return NULL;
}

static void test_apic_ids(void)
{
    X86Topology t = { .cpus = 8, .sockets = 2, .dies = 1, .cores = 2,
                      .threads = 2 };

    /* thread bit 0, core bit 1, socket bits 2+ */
    g_assert_cmpuint(x86_apic_id(&t, 0), ==, 0);
    g_assert_cmpuint(x86_apic_id(&t, 1), ==, 1);
    g_assert_cmpuint(x86_apic_id(&t, 2), ==, 2);
    g_assert_cmpuint(x86_apic_id(&t, 4), ==, 4);
    t = (X86Topology) { .cpus = 3, .sockets = 1, .dies = 1, .cores = 3,
                        .threads = 1 };
    g_assert_cmpuint(x86_apic_id(&t, 2), ==, 2);
}

static void test_cpuid_topology(void)
{
    g_autofree struct kvm_cpuid2 *sup = fake_supported();
    X86Topology t = { .cpus = 4, .sockets = 1, .dies = 1, .cores = 2,
                      .threads = 2 };
    g_autofree struct kvm_cpuid2 *c = x86_cpuid_for_vcpu(sup, &t, 3);
    const struct kvm_cpuid_entry2 *e;

    e = find(c, 1, 0);
    g_assert_cmphex(e->ebx >> 24, ==, 3);               /* APIC id */
    g_assert_cmphex((e->ebx >> 16) & 0xff, ==, 4);      /* logical count */
    g_assert_cmphex(e->ecx & (1u << 31), !=, 0);        /* hypervisor */
    g_assert_cmphex(e->edx & (1u << 28), !=, 0);        /* HTT */
    g_assert_cmphex(e->ebx & 0xffff, ==, 0x0800);       /* rest kept */

    e = find(c, 0xb, 0);
    g_assert_cmpuint(e->ebx, ==, 2);
    g_assert_cmpuint(e->eax, ==, 1);
    g_assert_cmpuint(e->edx, ==, 3);
    e = find(c, 0xb, 1);
    g_assert_cmpuint(e->ebx, ==, 4);
    g_assert_cmpuint(e->eax, ==, 2);
    g_assert_cmpuint((e->ecx >> 8) & 0xff, ==, 2);
    e = find(c, 0xb, 2);
    g_assert_cmpuint((e->ecx >> 8) & 0xff, ==, 0);
    g_assert_null(find(c, 0x1f, 0));                    /* host's: gone */
    /* KVM's own leaf is passed through untouched. */
    e = find(c, 0x40000000, 0);
    g_assert_cmphex(e->ebx, ==, 0x4b4d564b);
    e = find(c, 0x80000008, 0);
    g_assert_cmphex(e->ecx & 0xff, ==, 3);
    e = find(c, 0x8000001e, 0);
    g_assert_cmphex(e->eax, ==, 3);
}

static void test_cpuid_single(void)
{
    g_autofree struct kvm_cpuid2 *sup = fake_supported();
    X86Topology t = { .cpus = 1, .sockets = 1, .dies = 1, .cores = 1,
                      .threads = 1 };
    g_autofree struct kvm_cpuid2 *c = x86_cpuid_for_vcpu(sup, &t, 0);
    const struct kvm_cpuid_entry2 *e = find(c, 1, 0);

    g_assert_cmphex(e->ebx >> 16, ==, 0x0001);
    g_assert_cmphex(e->edx & (1u << 28), ==, 0);
    /* The supported list itself is not modified. */
    g_assert_cmphex(sup->entries[1].ebx, ==, 0xff0a0800);
}

/* --- X86VcpuState and X86VmState through their VmsDesc -------------------- */

static void fill(void *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++) {
        ((uint8_t *)p)[i] = (uint8_t)(seed + i * 7);
    }
}

static X86VcpuState *sample_cpu(bool xsave)
{
    X86VcpuState *st = g_new0(X86VcpuState, 1);

    fill(&st->regs, sizeof(st->regs), 1);
    fill(&st->sregs, sizeof(st->sregs), 2);
    fill(&st->lapic, sizeof(st->lapic), 3);
    fill(&st->events, sizeof(st->events), 4);
    fill(&st->debugregs, sizeof(st->debugregs), 5);
    st->mp_state = KVM_MP_STATE_HALTED;
    st->tsc_khz = 2994000;
    if (xsave) {
        st->has_xsave = true;
        fill(&st->xsave, sizeof(st->xsave), 6);
        st->has_xcrs = true;
        st->xcrs.nr_xcrs = 1;
        st->xcrs.xcrs[0].value = 7;
    } else {
        st->has_fpu = true;
        fill(&st->fpu, sizeof(st->fpu), 8);
    }
    st->nr_msrs = 3;
    st->msrs[0] = (X86Msr) { 0x10, 123456789 };
    st->msrs[1] = (X86Msr) { 0xc0000080, 0xd01 };
    st->msrs[2] = (X86Msr) { 0x6e0, 42 };
    return st;
}

static bool cpu_round_trip(X86VcpuState *st, X86VcpuState *out,
                           GError **errp)
{
    g_autoptr(GByteArray) buf = g_byte_array_new();
    VmsReader r;

    g_assert_true(vms_save(&x86_cpu_vmsd, st, buf, NULL));
    r = vms_reader(buf->data, buf->len);
    memset(out, 0, sizeof(*out));
    if (!vms_load(&x86_cpu_vmsd, out, &r, errp)) {
        return false;
    }
    g_assert_cmpuint(r.pos, ==, r.len);
    return true;
}

static void test_cpu_state_round_trip(void)
{
    for (int xsave = 0; xsave < 2; xsave++) {
        g_autofree X86VcpuState *st = sample_cpu(xsave);
        g_autofree X86VcpuState *out = g_new0(X86VcpuState, 1);
        g_autoptr(GError) err = NULL;

        g_assert_true(cpu_round_trip(st, out, &err));
        g_assert_no_error(err);
        g_assert_cmpmem(st, sizeof(*st), out, sizeof(*out));
    }
}

static void test_cpu_state_refused(void)
{
    g_autofree X86VcpuState *st = sample_cpu(true);
    g_autofree X86VcpuState *out = g_new0(X86VcpuState, 1);
    g_autoptr(GError) err = NULL;

    st->mp_state = 77;
    g_assert_false(cpu_round_trip(st, out, &err));
    g_assert_nonnull(strstr(err->message, "unknown MP state 77"));
    g_clear_error(&err);
    st->mp_state = KVM_MP_STATE_RUNNABLE;

    st->msrs[2].index = 0x10;
    g_assert_false(cpu_round_trip(st, out, &err));
    g_assert_nonnull(strstr(err->message, "MSR 0x10 appears twice"));
    g_clear_error(&err);
    st->msrs[2].index = 0x6e0;

    st->nr_msrs = X86_MAX_MSRS + 1;
    g_assert_false(cpu_round_trip(st, out, &err));
    g_assert_nonnull(strstr(err->message, "at most 512"));
    g_clear_error(&err);
    st->nr_msrs = 3;

    st->xcrs.nr_xcrs = KVM_MAX_XCRS + 1;
    g_assert_false(cpu_round_trip(st, out, &err));
    g_assert_nonnull(strstr(err->message, "XCRs"));
    g_clear_error(&err);
    st->xcrs.nr_xcrs = 1;

    st->has_xsave = false;          /* neither XSAVE nor FPU state */
    g_assert_false(cpu_round_trip(st, out, &err));
    g_assert_nonnull(strstr(err->message, "FPU state"));
}

static void test_vm_state_round_trip(void)
{
    g_autoptr(GByteArray) buf = g_byte_array_new();
    g_autoptr(GError) err = NULL;
    X86VmState st, out = { 0 };
    VmsReader r;

    fill(&st, sizeof(st), 9);
    st.pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
    st.pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
    st.ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
    st.clock = 987654321;
    g_assert_true(vms_save(&kvm_vm_vmsd, &st, buf, NULL));
    r = vms_reader(buf->data, buf->len);
    g_assert_true(vms_load(&kvm_vm_vmsd, &out, &r, &err));
    g_assert_no_error(err);
    g_assert_cmpmem(&st, sizeof(st), &out, sizeof(out));

    /* the IOAPIC's bytes must not land in a PIC */
    g_byte_array_set_size(buf, 0);
    st.ioapic.chip_id = KVM_IRQCHIP_PIC_MASTER;
    g_assert_true(vms_save(&kvm_vm_vmsd, &st, buf, NULL));
    r = vms_reader(buf->data, buf->len);
    g_assert_false(vms_load(&kvm_vm_vmsd, &out, &r, &err));
    g_assert_nonnull(strstr(err->message, "irqchip ids"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/x86/apic-ids", test_apic_ids);
    g_test_add_func("/x86/cpuid-topology", test_cpuid_topology);
    g_test_add_func("/x86/cpuid-single", test_cpuid_single);
    g_test_add_func("/x86/cpu-state/round-trip", test_cpu_state_round_trip);
    g_test_add_func("/x86/cpu-state/refused", test_cpu_state_refused);
    g_test_add_func("/x86/vm-state/round-trip", test_vm_state_round_trip);
    return g_test_run();
}
