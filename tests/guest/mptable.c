/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The Intel MultiProcessor table, for machines without ACPI (QEMU's
 * microvm with acpi=off, -no-acpi): only to find the processors (their
 * count and APIC ids), as Linux falls back to it for the same reason.
 */
#include "tg.h"

#define MPF_LEN             16
#define MPC_HEADER_LEN      44
#define MPC_PROCESSOR       0
#define MPC_PROCESSOR_LEN   20
#define MPC_OTHER_LEN       8
#define MPC_CPU_ENABLED     0x01

static uint8_t rd8(uint64_t a)
{
    return *(const volatile uint8_t *)phys(a);
}

static uint16_t rd16(uint64_t a)
{
    return (uint16_t)(rd8(a) | rd8(a + 1) << 8);
}

static uint32_t rd32(uint64_t a)
{
    return rd16(a) | (uint32_t)rd16(a + 2) << 16;
}

static uint8_t checksum(uint64_t a, uint64_t len)
{
    uint8_t sum = 0;

    while (len--) {
        sum += rd8(a++);
    }
    return sum;
}

static uint64_t mpf_scan(uint64_t start, uint64_t len)
{
    uint64_t a;

    for (a = start; a + MPF_LEN <= start + len; a += 16) {
        if (!memcmp(phys(a), "_MP_", 4) &&
            rd8(a + 8) == 1 && !checksum(a, MPF_LEN)) {
            return a;
        }
    }
    return 0;
}

/* Where the MP spec (1.4, 4) says the floating pointer may be. */
static uint64_t mpf_find(void)
{
    uint64_t ebda = (uint64_t)rd16(0x40e) << 4;
    uint64_t a = 0;

    if (ebda >= 0x80000 && ebda < 0xa0000) {
        a = mpf_scan(ebda, 1024);
    }
    if (!a) {
        a = mpf_scan(0x9fc00, 1024);
    }
    if (!a) {
        a = mpf_scan(0xf0000, 0x10000);
    }
    return a;
}

unsigned int mptable_cpus(uint8_t *ids, unsigned int max)
{
    uint64_t mpf = mpf_find(), mpc, p, end;
    unsigned int cpus = 0;

    if (!mpf || !(mpc = rd32(mpf + 4)) || mpc >= TG_MAPPED_LIMIT) {
        return 0;
    }
    if (memcmp(phys(mpc), "PCMP", 4)) {
        return 0;
    }
    /* Walk by the table length, not its entry count: like Linux, since
     * not every firmware fills in the count (qboot leaves it 0). */
    end = mpc + rd16(mpc + 4);
    for (p = mpc + MPC_HEADER_LEN; p < end;) {
        if (rd8(p) == MPC_PROCESSOR) {
            if (rd8(p + 3) & MPC_CPU_ENABLED) {
                if (cpus < max) {
                    ids[cpus] = rd8(p + 1);
                }
                cpus++;
            }
            p += MPC_PROCESSOR_LEN;
        } else {
            p += MPC_OTHER_LEN;
        }
    }
    return cpus;
}
