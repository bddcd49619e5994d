/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The Kestrel test guest: shared definitions.
 *
 * The guest is one freestanding image. A small part runs in kernel mode
 * (CPL0: entry.S and kernel.c) and only sets up the CPU and takes traps;
 * everything else (boot data, ACPI, the console, the workloads) runs in
 * user mode (CPL3, IOPL=3). On this project's machines CPL0 code is
 * emulated at about 2 MIPS while CPL3 code runs natively, so the split is
 * what keeps the guest fast. All memory is identity mapped and user
 * accessible, so user mode reads firmware tables and drives devices itself.
 */
#ifndef TG_H
#define TG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a)   (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a)  (((x) + (a) - 1) & ~((uint64_t)(a) - 1))
#define KIB             (UINT64_C(1) << 10)
#define MIB             (UINT64_C(1) << 20)
#define GIB             (UINT64_C(1) << 30)
#define PAGE_SIZE       UINT64_C(4096)
#define NS_PER_SEC      UINT64_C(1000000000)

/* Memory the page tables map (identity, 2 MiB pages); RAM above is unused. */
#define TG_MAPPED_LIMIT (4 * GIB)

/* How the guest was entered (passed from entry.S to user mode). */
enum {
    BOOT_LINUX64 = 1,       /* Linux 64-bit entry, RSI = boot_params */
    BOOT_PVH = 2,           /* PVH note, 32-bit entry, EBX = hvm_start_info */
};

/* Selectors of the guest's own GDT (entry.S). */
#define SEL_KCODE       0x08
#define SEL_KDATA       0x10
#define SEL_UDATA       0x1b    /* 0x18 | RPL 3 */
#define SEL_UCODE       0x23    /* 0x20 | RPL 3 */
#define SEL_KCODE32     0x28    /* 32-bit kernel code: AP start-up only */
#define SEL_TSS         0x30    /* TSS of CPU i: SEL_TSS + 16 * i */

/* Processors the guest can start (the xAPIC MADT entry's limit). */
#define TG_MAX_CPUS     255

/* Interrupt vectors. */
#define VEC_SCI         0x30    /* ACPI SCI through the IOAPIC */
#define VEC_TIMER       0x31    /* LAPIC timer (idle with tg.secs) */
#define VEC_WAKE        0x32    /* IPI: an AP has work in its mailbox */
#define VEC_SPURIOUS    0xff    /* LAPIC spurious vector */

/* ---- low-level helpers, usable at any CPL (port I/O needs IOPL=3) ---- */

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outw(uint16_t port, uint16_t v)
{
    __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
    uint8_t v;

    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint16_t inw(uint16_t port)
{
    uint16_t v;

    __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint32_t inl(uint16_t port)
{
    uint32_t v;

    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

/*
 * A pointer to guest-physical @addr (identity mapped). The empty asm hides
 * the value from GCC, which otherwise treats small fixed addresses (the
 * BIOS data area's 0x40e) as offsets from NULL and warns.
 */
static inline void *phys(uint64_t addr)
{
    void *p;

    __asm__("" : "=r"(p) : "0"(addr));
    return p;
}

static inline uint32_t mmio_read32(uint64_t addr)
{
    return *(volatile uint32_t *)(uintptr_t)addr;
}

static inline void mmio_write32(uint64_t addr, uint32_t v)
{
    *(volatile uint32_t *)(uintptr_t)addr = v;
}

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;

    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

/* Kernel mode only; user mode calls guest_cpuid(). */
static inline void cpuid(uint32_t leaf, uint32_t *a, uint32_t *b,
                         uint32_t *c, uint32_t *d)
{
    __asm__ volatile("cpuid"
                     : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d)
                     : "a"(leaf), "c"(0));
}

static inline void cpu_relax(void)
{
    __asm__ volatile("pause" ::: "memory");
}

/* True at CPL0 (a trap handler), false in user mode. */
static inline bool cpu_in_kernel(void)
{
    uint16_t cs;

    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    return !(cs & 3);
}

/*
 * Privileged instructions, from either privilege level: at CPL3 they trap
 * (#GP) and kernel.c performs them (see emulate_privileged()).
 */
static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;

    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr) : "memory");
    return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ volatile("wrmsr"
                     : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))
                     : "memory");
}

/* Sleep until an interrupt. In user mode IF stays 0 and the kernel's
 * emulation of hlt opens the interrupt window. */
static inline void cpu_halt(void)
{
    if (cpu_in_kernel()) {
        __asm__ volatile("sti; hlt; cli" ::: "memory");
    } else {
        __asm__ volatile("hlt" ::: "memory");
    }
}

/* ---- lib.c ---- */
void *memset(void *s, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int tg_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int tg_snprintf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- console.c (COM1) ---- */
void con_init(void);
void con_write(const char *s, size_t len);
void con_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- boot.c: what the boot loader told us ---- */
#define E820_MAX        128
#define E820_RAM        1

typedef struct {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
} E820Entry;

typedef struct {
    int kind;                       /* BOOT_LINUX64 or BOOT_PVH */
    char cmdline[1024];
    uint64_t rsdp;                  /* 0: not given, scan for it */
    unsigned int nr_e820;
    E820Entry e820[E820_MAX];
    uint64_t ram_bytes;             /* sum of the E820_RAM entries */
} BootInfo;

extern BootInfo boot_info;
void boot_parse(int kind, uint64_t info);
const char *boot_name(int kind);

/* ---- cmdline.c ---- */
typedef struct {
    char mode[32];
    uint64_t mb;                    /* 0: mode default */
    uint64_t rate;                  /* MiB/s, 0: unlimited */
    uint64_t secs;                  /* 0: run until stopped */
    uint64_t count;
    bool debug;                     /* tg.debug=1: TG INFO lines */
    int64_t corrupt;                /* tg.corrupt=<page> self-test; -1: off */
    uint64_t pressure;              /* balloon: MiB to allocate, 0: none */
    bool report;                    /* balloon: free page reporting (1) */
    uint64_t cpus;                  /* CPUs running the workload, 0: all */
    bool count_given;               /* tg.count= was on the command line */
    uint64_t seed;                  /* blk: pattern seed */
    unsigned int pattern;           /* blk: TG_PATTERN_SEQ | TG_PATTERN_RAND */
    bool verify;                    /* blk: read-only verification */
    bool ro;                        /* blk: the disk is read-only */
    uint32_t ip;                    /* net: our address (host order) */
    unsigned int prefix;            /* net: its prefix length */
    uint32_t peer;                  /* net: stream destination, 0: none */
    uint16_t port;                  /* net: stream destination port */
    char net[16];                   /* net: "" (answer only) or "stream" */
} TgArgs;

#define TG_PATTERN_SEQ  1
#define TG_PATTERN_RAND 2

extern TgArgs tg_args;
void cmdline_parse(const char *cmdline);

/* ---- acpi.c ---- */
typedef struct {
    uint8_t space;                  /* 0 = memory, 1 = I/O port */
    uint8_t width;                  /* bits */
    uint64_t addr;                  /* 0: absent */
} AcpiReg;

typedef struct {
    bool found;                     /* RSDP found and valid */
    unsigned int cpus;              /* enabled processors in the MADT */
    unsigned int nr_apic_ids;       /* their APIC ids (xAPIC-reachable) */
    uint8_t apic_ids[TG_MAX_CPUS];
    uint64_t lapic;                 /* Local APIC base */
    uint64_t ioapic;                /* first IOAPIC, 0: none */
    uint32_t ioapic_gsi_base;
    bool fadt;
    bool hw_reduced;
    uint16_t pm1a_evt;              /* I/O ports, 0: absent */
    uint16_t pm1a_cnt;
    uint16_t pm_tmr;
    uint8_t pm1_evt_len;
    uint16_t smi_cmd;
    uint8_t acpi_enable;
    uint16_t sci_irq;
    uint32_t sci_gsi;               /* after interrupt source overrides */
    bool sci_level;                 /* level triggered (default for the SCI) */
    bool sci_low;                   /* active low */
    AcpiReg sleep_ctl;              /* HW-reduced sleep registers */
    AcpiReg sleep_sts;
    uint8_t s5_slp_typ;             /* \_S5 SLP_TYPa, 0 if not found */
    bool s5_found;
    uint64_t ecam;                  /* MCFG, segment 0; 0: none */
    uint8_t ecam_bus_start;
    uint8_t ecam_bus_end;
} AcpiInfo;

extern AcpiInfo acpi;
void acpi_parse(uint64_t rsdp_hint);

/* ---- mptable.c: enabled processors in the MP table, 0 if none; their
 * APIC ids go to @ids (up to @max of them) ---- */
unsigned int mptable_cpus(uint8_t *ids, unsigned int max);

/* ---- smp.c: the application processors ---- */
typedef void (*SmpWork)(unsigned int cpu);

/* Start every processor the MADT (else the MP table) describes; they wait
 * in user mode, halted, for work. Returns the CPUs running (boot CPU
 * included); CPU 0 is the boot CPU, 1.. the APs in table order. */
unsigned int smp_init(void);
unsigned int smp_cpus(void);
/* Run @fn(cpu) on AP @cpu (>= 1); it must be idle. */
void smp_call(unsigned int cpu, SmpWork fn);
/* Wait until AP @cpu is idle again, at most @ns; false on timeout. */
bool smp_wait(unsigned int cpu, uint64_t ns);
void ap_main(uint64_t cpu, uint64_t unused) __attribute__((noreturn));

/* A spinlock for user mode (xchg is atomic; no kernel help needed). */
typedef struct {
    volatile uint32_t locked;
} Spinlock;

static inline void spin_lock(Spinlock *l)
{
    uint32_t v;

    for (;;) {
        v = 1;
        __asm__ volatile("xchgl %0, %1" : "+r"(v), "+m"(l->locked)
                         : : "memory");
        if (!v) {
            return;
        }
        while (l->locked) {
            __asm__ volatile("pause" ::: "memory");
        }
    }
}

static inline void spin_unlock(Spinlock *l)
{
    __asm__ volatile("" ::: "memory");
    l->locked = 0;
}

/* ---- clock.c: time in nanoseconds since boot, from the TSC ---- */
void clock_init(void);
uint64_t clock_ns(void);
uint64_t clock_ns_to_tsc(uint64_t ns);
const char *clock_source(void);
void clock_delay_ns(uint64_t ns);

/* ---- pm.c: interrupts, power button, power off ---- */
void pm_init(void);
void pm_poll(void);                 /* power button: report, power off */
void pm_wait_event(void);           /* halt until an interrupt */
void pm_timer_arm(uint64_t ns);     /* an interrupt in about @ns */
bool pm_tsc_deadline(void);
void pm_poweroff(void) __attribute__((noreturn));
void tg_fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* ---- pci.c: configuration space through ports 0xcf8/0xcfc ---- */
typedef struct {
    uint8_t bus, dev, fn;
} PciAddr;

uint32_t pci_read32(PciAddr a, unsigned int off);
uint16_t pci_read16(PciAddr a, unsigned int off);
uint8_t pci_read8(PciAddr a, unsigned int off);
void pci_write32(PciAddr a, unsigned int off, uint32_t v);
void pci_write16(PciAddr a, unsigned int off, uint16_t v);
/* The first function whose vendor is @vendor and device one of @ids. */
bool pci_find(uint16_t vendor, const uint16_t *ids, size_t nr_ids,
              PciAddr *out);
uint8_t pci_cap_first(PciAddr a);               /* 0: none */
uint8_t pci_cap_next(PciAddr a, uint8_t cap);
/* The address of memory BAR @bar, assigning one if the firmware did not;
 * turns on memory decoding and bus mastering. */
bool pci_bar_map(PciAddr a, unsigned int bar, uint64_t *addr);

/* ---- virtio.c: modern virtio-pci and split virtqueues, polled ---- */
#define VIRTIO_F_VERSION_1      32
#define VIRTQ_DESC_F_NEXT       1
#define VIRTQ_DESC_F_WRITE      2

typedef struct {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
} VirtqDesc;

typedef struct {
    uint16_t index;
    uint16_t size;
    uint16_t avail_idx;                 /* avail index published */
    uint16_t pending;                   /* posted, not yet published */
    uint16_t used_seen;                 /* used entries consumed (pop) */
    volatile VirtqDesc *desc;
    volatile uint16_t *avail;           /* flags, idx, ring[size] */
    volatile uint16_t *used;            /* flags, idx, ring of {id, len} */
    uint64_t notify_addr;
} Virtq;

typedef struct {
    uint64_t addr;
    uint32_t len;
    bool device_writes;                 /* VIRTQ_DESC_F_WRITE */
} VirtqBuf;

typedef struct {
    PciAddr pci;
    bool found;                         /* the PCI function exists */
    uint64_t common, notify, isr, device;   /* capability regions */
    uint32_t notify_mult;
    uint16_t num_queues;
    uint64_t features;                  /* negotiated */
    uint32_t bars_mapped;
    uint64_t bar_addr[6];
} VirtioDev;

/* Finds the device, its capabilities, maps their BARs. False if any is
 * missing (vd->found tells whether the device itself was there). */
bool virtio_pci_probe(VirtioDev *vd, uint16_t modern_id,
                      uint16_t transitional_id);
uint64_t virtio_begin(VirtioDev *vd);   /* reset..DRIVER; device features */
bool virtio_set_features(VirtioDev *vd, uint64_t features);
bool virtq_setup(VirtioDev *vd, Virtq *vq, uint16_t index);
void virtio_ready(VirtioDev *vd);       /* DRIVER_OK */
uint8_t virtio_isr(VirtioDev *vd);      /* read (and so clear) the ISR */
uint8_t virtio_config_read8(VirtioDev *vd, unsigned int off);
uint16_t virtio_config_read16(VirtioDev *vd, unsigned int off);
uint32_t virtio_config_read32(VirtioDev *vd, unsigned int off);
uint64_t virtio_config_read64(VirtioDev *vd, unsigned int off);
void virtio_config_write32(VirtioDev *vd, unsigned int off, uint32_t v);
/* Publish one request of @n chained buffers (the previous one must be
 * done) and notify the device. */
void virtq_submit(Virtq *vq, const VirtqBuf *bufs, unsigned int n);
bool virtq_done(const Virtq *vq);       /* every request used */
void virtq_wait(Virtq *vq);             /* spin until done; fatal after 10 s */
/* Several requests in flight: the caller owns the descriptors. */
void virtq_desc(Virtq *vq, uint16_t i, uint64_t addr, uint32_t len,
                uint16_t flags, uint16_t next);
void virtq_post(Virtq *vq, uint16_t head);      /* queue a chain's head */
void virtq_kick(Virtq *vq);             /* publish what was posted, notify */
/* The next completion (head id, bytes written); false if none yet. */
bool virtq_pop(Virtq *vq, uint16_t *id, uint32_t *len);

/* ---- modes ---- */
typedef struct {
    const char *name;
    void (*run)(void);
} TgMode;

void mode_balloon(void);
void mode_blk(void);
void mode_net(void);
void mode_hello(void);
void mode_dirty(void);
void mode_pio(void);
void mode_mmio(void);
void mode_idle(void);

/* ---- free RAM for workloads (main.c) ---- */
bool ram_alloc(uint64_t bytes, uint64_t *addr);
uint64_t ram_free_bytes(void);

/* ---- kernel.c / entry.S (CPL0) ---- */
typedef struct {
    uint32_t leaf;
    uint32_t eax, ebx, ecx, edx;
} CpuidLeaf;

/* CPUID as the VMM set it up (leaves 1, 0x40000000, 0x40000001 only):
 * never execute cpuid in user mode, which here sees the host's CPU. */
bool guest_cpuid(uint32_t leaf, uint32_t *a, uint32_t *b, uint32_t *c,
                 uint32_t *d);

typedef struct {
    uint64_t r11, r10, r9, r8, rdi, rsi, rdx, rcx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss;
} TrapFrame;

void kernel_setup(uint64_t kind, uint64_t info) __attribute__((noreturn));
void trap_dispatch(TrapFrame *f);
void enter_user(uint64_t kind, uint64_t info, uint64_t rip, uint64_t rsp)
    __attribute__((noreturn));
void user_main(uint64_t kind, uint64_t info) __attribute__((noreturn));

/* Written by user mode, read by the SCI handler in kernel mode. */
extern volatile uint32_t sci_ioapic_redir;  /* low dword of the SCI's entry */
extern volatile uint32_t sci_ioapic_pin;
extern volatile uint64_t sci_count;
extern volatile uint64_t irq_lapic_base;
extern volatile uint64_t irq_ioapic_base;

extern uint8_t idt[4096];                   /* entry.S */
extern uint64_t gdt[];                      /* entry.S: TSS slots at the end */
extern char ap_trampoline[], ap_trampoline_end[];   /* entry.S, 16-bit */
#define TSS_IOMAP       104     /* the I/O bitmap follows the 104-byte TSS */
#define TSS_LIMIT       (TSS_IOMAP + 8192)  /* the bitmap's last byte, 0xff */
#define TSS_SIZE        (TSS_LIMIT + 1)

/* The GDT's TSS descriptor of CPU @cpu (selector SEL_TSS + 16 * cpu). */
static inline void gdt_set_tss(unsigned int cpu, uint64_t base)
{
    gdt[6 + 2 * cpu] = TSS_LIMIT | ((base & 0xffffff) << 16) |
                       (0x89ULL << 40) | (((base >> 24) & 0xff) << 56);
    gdt[7 + 2 * cpu] = base >> 32;
}

/* What the AP being started loads at CPL0 (smp.c sets them). */
extern volatile uint64_t ap_boot_kstack, ap_boot_ustack;
extern volatile uint32_t ap_boot_cpu;
extern volatile uint16_t ap_boot_tss;

/* Linker symbols. */
extern char __image_start[], __image_end[], __bss_start[], __bss_end[];
extern char kstack_top[], ustack_top[];

#endif /* TG_H */
