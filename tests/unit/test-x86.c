/* SPDX-License-Identifier: GPL-2.0-or-later */
/* CPUID shaping from a supported list, without KVM. */
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

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/x86/apic-ids", test_apic_ids);
    g_test_add_func("/x86/cpuid-topology", test_cpuid_topology);
    g_test_add_func("/x86/cpuid-single", test_cpuid_single);
    return g_test_run();
}
