/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Time: the TSC, scaled by kvmclock's pvclock parameters (so no exits on
 * the hot path and still right after a migration, when the host updates
 * them). Without kvmclock the TSC is calibrated once against the ACPI PM
 * timer, else against PIT channel 2.
 */
#include "tg.h"

#define MSR_KVM_SYSTEM_TIME_NEW     0x4b564d01
#define KVM_CPUID_SIGNATURE         0x40000000
#define KVM_CPUID_FEATURES          0x40000001
#define KVM_FEATURE_CLOCKSOURCE2    (1u << 3)
#define CPUID1_ECX_HYPERVISOR       (1u << 31)

#define PM_TIMER_HZ                 3579545ULL
#define PIT_HZ                      1193182ULL
#define CALIBRATE_PM_TICKS          (PM_TIMER_HZ / 20)     /* 50 ms */
#define CALIBRATE_PIT_TICKS         (PIT_HZ / 20)          /* 50 ms */

typedef struct {
    volatile uint32_t version;
    uint32_t pad0;
    volatile uint64_t tsc_timestamp;
    volatile uint64_t system_time;
    volatile uint32_t tsc_to_system_mul;
    volatile int8_t tsc_shift;
    volatile uint8_t flags;
    uint8_t pad[2];
} __attribute__((packed)) PvClock;

static PvClock pvclock __attribute__((aligned(64)));
static const char *source = "none";
static bool use_pvclock;
static uint64_t ns_base;            /* clock_ns() is relative to clock_init() */
static uint64_t tsc_base;
static uint64_t tsc_mult;           /* ns = (tsc - tsc_base) * tsc_mult >> 32 */
static uint64_t tsc_hz;

static uint64_t mul_shr32(uint64_t a, uint64_t b)
{
    return (uint64_t)(((unsigned __int128)a * b) >> 32);
}

static uint64_t pvclock_read(void)
{
    uint32_t version;
    uint64_t delta, ns;

    do {
        version = pvclock.version;
        __asm__ volatile("" ::: "memory");
        delta = rdtsc() - pvclock.tsc_timestamp;
        if (pvclock.tsc_shift >= 0) {
            delta <<= pvclock.tsc_shift;
        } else {
            delta >>= -pvclock.tsc_shift;
        }
        ns = pvclock.system_time + mul_shr32(delta, pvclock.tsc_to_system_mul);
        __asm__ volatile("" ::: "memory");
    } while ((version & 1) || version != pvclock.version);
    return ns;
}

static bool kvmclock_init(void)
{
    uint32_t a, b, c, d;
    char sig[13];
    int i;

    guest_cpuid(1, &a, &b, &c, &d);
    if (!(c & CPUID1_ECX_HYPERVISOR)) {
        return false;
    }
    guest_cpuid(KVM_CPUID_SIGNATURE, &a, &b, &c, &d);
    memcpy(sig, &b, 4);
    memcpy(sig + 4, &c, 4);
    memcpy(sig + 8, &d, 4);
    sig[12] = '\0';
    if (memcmp(sig, "KVMKVMKVM", 9) || a < KVM_CPUID_FEATURES) {
        return false;
    }
    guest_cpuid(KVM_CPUID_FEATURES, &a, &b, &c, &d);
    if (!(a & KVM_FEATURE_CLOCKSOURCE2)) {
        return false;
    }
    wrmsr(MSR_KVM_SYSTEM_TIME_NEW, (uintptr_t)&pvclock | 1);
    /* The host fills the structure on the next entry; give it a moment. */
    for (i = 0; i < 1000000 && !pvclock.tsc_to_system_mul; i++) {
        cpu_relax();
    }
    return pvclock.tsc_to_system_mul != 0;
}

static uint32_t pm_timer_read(void)
{
    return inl(acpi.pm_tmr) & 0xffffff;
}

/* TSC ticks per second, measured against the 24-bit PM timer. */
static uint64_t calibrate_pm_timer(void)
{
    uint32_t start = pm_timer_read(), now;
    uint64_t tsc0 = rdtsc(), tsc1, elapsed;

    do {
        now = pm_timer_read();
        elapsed = (now - start) & 0xffffff;
    } while (elapsed < CALIBRATE_PM_TICKS);
    tsc1 = rdtsc();
    return (tsc1 - tsc0) * PM_TIMER_HZ / elapsed;
}

/* Same against PIT channel 2 in one-shot mode, gated by port 0x61. */
static uint64_t calibrate_pit(void)
{
    uint64_t tsc0, tsc1;
    uint32_t spins = 0;

    outb(0x61, (inb(0x61) & ~0x02) | 0x01);
    outb(0x43, 0xb0);                   /* channel 2, lo/hi byte, mode 0 */
    outb(0x42, CALIBRATE_PIT_TICKS & 0xff);
    outb(0x42, CALIBRATE_PIT_TICKS >> 8);
    tsc0 = rdtsc();
    if (inb(0x61) & 0x20) {
        /* OUT2 is high before the count ran out: no port 0x61 (it reads
         * 0xff, as on microvm), so no way to time channel 2. */
        return 0;
    }
    while (!(inb(0x61) & 0x20)) {
        if (++spins > 100000) {
            return 0;                   /* no PIT */
        }
    }
    tsc1 = rdtsc();
    return (tsc1 - tsc0) * PIT_HZ / CALIBRATE_PIT_TICKS;
}

void clock_init(void)
{
    uint64_t hz = 0;

    if (kvmclock_init()) {
        use_pvclock = true;
        source = "kvmclock";
        ns_base = pvclock_read();
        /* ns = (tsc << shift) * mul / 2^32: hz = 1e9 * 2^32 / mul >> shift */
        tsc_hz = (NS_PER_SEC << 32) / pvclock.tsc_to_system_mul;
        tsc_hz = pvclock.tsc_shift >= 0 ? tsc_hz >> pvclock.tsc_shift
                                        : tsc_hz << -pvclock.tsc_shift;
        return;
    }
    if (acpi.pm_tmr) {
        hz = calibrate_pm_timer();
        source = "pmtimer";
    }
    if (!hz) {
        hz = calibrate_pit();
        source = "pit";
    }
    if (!hz) {
        hz = 2000000000ULL;             /* a guess beats no clock at all */
        source = "guess";
    }
    tsc_hz = hz;
    tsc_mult = (NS_PER_SEC << 32) / hz;
    tsc_base = rdtsc();
}

uint64_t clock_ns_to_tsc(uint64_t ns)
{
    /* Split so the products fit 64 bits (and no 128-bit division helper
     * from libgcc is needed). */
    return ns / NS_PER_SEC * tsc_hz + ns % NS_PER_SEC * tsc_hz / NS_PER_SEC;
}

uint64_t clock_ns(void)
{
    if (use_pvclock) {
        return pvclock_read() - ns_base;
    }
    return mul_shr32(rdtsc() - tsc_base, tsc_mult);
}

const char *clock_source(void)
{
    return source;
}

void clock_delay_ns(uint64_t ns)
{
    uint64_t end;

    if (!use_pvclock && !tsc_mult) {
        /* Before clock_init() (an early fatal error): roughly 1 ns a spin. */
        for (end = 0; end < ns; end++) {
            cpu_relax();
        }
        return;
    }
    end = clock_ns() + ns;

    while (clock_ns() < end) {
        cpu_relax();
    }
}
