/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the migration destination's parsers on hostile bytes
 * (ARCHITECTURE.md, 9). One machine per process, built as kestrel builds
 * it from "-accel qtest -m 16 -serial null -device virtio-balloon-pci"
 * (no KVM needed); each input goes, by its first byte, to:
 *
 *   0  devices_load_state()
 *   1  vm_load_cpus()
 *   2  vms_load() of one VmsDesc (second byte picks it): a device's into
 *      the live device, the CPU ones into scratch X86VcpuState/X86VmState
 *   3  the stream reader as the destination runs it: mig_read_header,
 *      then the main channel's records (config with
 *      migration_config_check, ram, zero, pass, devices, cpus, end) or,
 *      for a channel header, multifd_receive_channel
 *   4  the same, with every record's checksum made right first, so the
 *      fuzzer gets past the checksums to what the records say
 *
 * Every failure must be an error: no crash, hang, leak or unbounded
 * allocation. After a device state is accepted, the machine runs a
 * little (start, a driver's register reads, queue notifications, pause)
 * on that state; after every input the machine's first state is loaded
 * again, which must succeed.
 *
 * Seeds: with KESTREL_FUZZ_SEEDS=DIR set, the target writes its seeds
 * there (device state of a fresh machine and of one whose balloon driver
 * is mid-inflate, each section alone, a stream written by kestrel's own
 * writer, a multifd channel with a zstd record) and exits.
 * tests/fuzz/run.sh builds and runs it; it also adds a stream saved by a
 * real kestrel -accel qtest process when one is built.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "cmdline.h"
#include "device.h"
#include "error.h"
#include "layout.h"
#include "migration/migration.h"
#include "migration/multifd.h"
#include "migration/ram.h"
#include "migration/stream.h"
#include "migration/vmstate.h"
#include "virtio/virtio-pci.h"
#include "vm.h"
#include "vmconfig.h"
#include "x86.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
    T_DEVICES,
    T_CPUS,
    T_VMSD,
    T_STREAM_RAW,
    T_STREAM_SEALED,
    T_MAX,
};

static VmConfig *cfg;
static Vm *vm;
static GByteArray *pristine;        /* devices_save_state of the new VM */
static bool failed;                 /* this input had a load refused */
static unsigned int rebuilds;       /* machines built again after one */

/* --- the machine ------------------------------------------------------- */

static void die(const char *what, GError *err)
{
    fprintf(stderr, "fuzz-vmstate: %s: %s\n", what,
            err ? err->message : "failed");
    abort();
}

static void vm_build(void)
{
    g_autoptr(GError) err = NULL;

    vm = vm_new(cfg, &err);
    if (!vm) {
        die("vm_new", err);
    }
    /* What main.c does for -incoming. */
    if (!vm_set_run_state(vm, RUN_STATE_INMIGRATE, &err)) {
        die("inmigrate", err);
    }
}

static void setup(void)
{
    char *argv[] = {
        "kestrel", "-nodefaults", "-display", "none", "-accel", "qtest",
        "-m", "16", "-serial", "null", "-device", "virtio-balloon-pci",
        NULL,
    };
    g_autoptr(GError) err = NULL;

    cfg = vm_config_new();
    if (cmdline_parse(G_N_ELEMENTS(argv) - 1, argv, cfg, stdout, &err) < 0) {
        die("cmdline_parse", err);
    }
    vm_build();
    pristine = g_byte_array_new();
    if (!devices_save_state(vm, pristine, &err)) {
        die("devices_save_state", err);
    }
}

/* Whatever an input did, the next one starts from the first state. */
static void restore(bool refused)
{
    g_autoptr(GError) err = NULL;

    while (g_main_context_iteration(NULL, FALSE)) {
    }
    if (vm_get_run_state(vm) == RUN_STATE_RUNNING &&
        !vm_pause(vm, RUN_STATE_PAUSED, &err)) {
        die("pause", err);
    }
    if (devices_load_state(vm, pristine->data, pristine->len, &err)) {
        return;
    }
    if (!refused) {
        /* Every load of this input was accepted: what it left must not
         * make a whole, valid state unloadable. */
        die("reloading the first state after this input", err);
    }
    /* After a refused load "the VM is unusable" (device.h): kestrel
     * exits; so does this machine. */
    rebuilds++;
    vm_free(vm);
    vm_build();
}

/* --- a driver's view: ECAM and BAR 0 of the balloon ---------------------- */

static uint64_t mmio_rd(uint64_t addr, uint32_t len)
{
    uint8_t b[8] = { 0 };
    uint64_t v = 0;

    vm_mmio(vm, addr, b, len, false);
    for (uint32_t i = 0; i < len; i++) {
        v |= (uint64_t)b[i] << (8 * i);
    }
    return v;
}

static void mmio_wr(uint64_t addr, uint32_t len, uint64_t v)
{
    uint8_t b[8];

    for (uint32_t i = 0; i < len; i++) {
        b[i] = (uint8_t)(v >> (8 * i));
    }
    vm_mmio(vm, addr, b, len, true);
}

static uint8_t pio_rd(uint16_t port)
{
    uint8_t b = 0;

    vm_pio(vm, port, &b, 1, false);
    return b;
}

static void pio_wr(uint16_t port, uint8_t v)
{
    vm_pio(vm, port, &v, 1, true);
}

static uint64_t ecam(unsigned int devfn, unsigned int reg)
{
    return LAYOUT_ECAM_START + ((uint64_t)devfn << 12) + reg;
}

/* The balloon's devfn, or -1. */
static int balloon_devfn(void)
{
    for (unsigned int devfn = 0; devfn < 256; devfn += 8) {
        if (mmio_rd(ecam(devfn, 0), 4) == 0x10451af4) {
            return (int)devfn;
        }
    }
    return -1;
}

/* Where BAR 0 is now (the loaded config may have moved it). */
static uint64_t balloon_bar(int devfn)
{
    return (mmio_rd(ecam((unsigned int)devfn, 0x10), 4) & ~0xfull) |
           mmio_rd(ecam((unsigned int)devfn, 0x14), 4) << 32;
}

#define COMMON(r) (bar + VIRTIO_PCI_COMMON_OFF + (r))

/* Run the machine on what was loaded: what a guest does next. */
static void exercise(void)
{
    g_autoptr(GError) err = NULL;
    int devfn = balloon_devfn();
    uint64_t bar;

    if (!vm_start(vm, &err)) {
        die("vm_start after a load", err);
    }
    if (devfn >= 0) {
        bar = balloon_bar(devfn);
        for (unsigned int r = 0; r < 0x40; r += 4) {
            mmio_rd(ecam((unsigned int)devfn, r), 4);
        }
        for (unsigned int q = 0; q < 4; q++) {
            mmio_wr(COMMON(VIRTIO_PCI_COMMON_Q_SELECT), 2, q);
            for (unsigned int r = 0; r < VIRTIO_PCI_COMMON_LEN; r += 4) {
                mmio_rd(COMMON(r), 4);
            }
            /* a kick: the device walks the rings the state points at */
            mmio_wr(bar + VIRTIO_PCI_NOTIFY_OFF +
                    (uint64_t)VIRTIO_PCI_NOTIFY_MULT * q, 2, q);
        }
        for (unsigned int r = 0; r < 0x20; r += 4) {
            mmio_rd(bar + VIRTIO_PCI_DEVICE_OFF + r, 4);
        }
        mmio_rd(bar + VIRTIO_PCI_MSIX_PBA_OFF, 8);
        mmio_rd(bar + VIRTIO_PCI_ISR_OFF, 1);
    }
    /* the board: clock, UART, keyboard controller, ACPI registers */
    for (uint8_t r = 0; r < 14; r++) {
        pio_wr(PORT_CMOS, r);
        pio_rd(PORT_CMOS + 1);
    }
    for (uint16_t p = 0; p < 8; p++) {
        pio_rd(PORT_COM1 + p);      /* RBR: a byte from the loaded FIFO */
    }
    pio_rd(PORT_I8042_CMD);
    pio_rd(PORT_I8042_DATA);
    for (uint16_t p = 0; p < PORT_PM1A_EVT_LEN + PORT_PM1A_CNT_LEN; p++) {
        pio_rd(PORT_PM1A_EVT + p);
    }
    for (int i = 0; i < 4 && g_main_context_iteration(NULL, FALSE); i++) {
    }
    if (!vm_pause(vm, RUN_STATE_PAUSED, &err)) {
        die("vm_pause after a load", err);
    }
}

/* --- the targets ----------------------------------------------------------- */

static void load_devices(const uint8_t *buf, size_t len)
{
    g_autoptr(GError) err = NULL;

    if (devices_load_state(vm, buf, len, &err)) {
        exercise();
    } else if (!err) {
        abort();                /* false without a reason */
    } else {
        failed = true;
    }
}

static void load_cpus(const uint8_t *buf, size_t len)
{
    g_autoptr(GError) err = NULL;

    if (!vm_load_cpus(vm, buf, len, &err) && !err) {
        abort();
    }
}

static Device *device_of(const VmsDesc *d)
{
    for (guint i = 0; vm->devices && i < vm->devices->len; i++) {
        Device *dev = g_ptr_array_index(vm->devices, i);

        if (dev->cls->vmsd == d) {
            return dev;
        }
    }
    return NULL;
}

static void load_vmsd(const uint8_t *buf, size_t len)
{
    g_autoptr(GError) err = NULL;
    size_t n;
    const VmsDesc *const *list = devices_vmsd_list(&n);
    VmsReader r;
    unsigned int pick;
    bool ok;

    if (len < 1) {
        return;
    }
    pick = buf[0] % (n + 2);
    r = vms_reader(buf + 1, len - 1);
    if (pick == n) {
        g_autofree X86VcpuState *st = g_new0(X86VcpuState, 1);

        ok = vms_load(&x86_cpu_vmsd, st, &r, &err);
    } else if (pick == n + 1) {
        g_autofree X86VmState *st = g_new0(X86VmState, 1);

        ok = vms_load(&kvm_vm_vmsd, st, &r, &err);
    } else {
        Device *dev = device_of(list[pick]);

        if (!dev) {
            return;             /* a class this machine does not have */
        }
        ok = vms_load(list[pick], dev, &r, &err);
        if (ok) {
            exercise();
        }
    }
    if (!ok && !err) {
        abort();
    }
    failed |= !ok;
    if (ok && r.pos > r.len) {
        abort();
    }
}

/* The bytes as a file the reader reads (no threads, no pipe limits). */
static int bytes_fd(const uint8_t *buf, size_t len)
{
    int fd = memfd_create("fuzz-stream", MFD_CLOEXEC);
    size_t done = 0;

    if (fd < 0) {
        abort();
    }
    while (done < len) {
        ssize_t n = write(fd, buf + done, len - done);

        if (n <= 0) {
            abort();
        }
        done += (size_t)n;
    }
    lseek(fd, 0, SEEK_SET);
    return fd;
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* Give every whole record of a stream its right checksum. */
static void seal(uint8_t *buf, size_t len)
{
    size_t pos = 16;

    while (pos <= len && len - pos >= 8) {
        uint32_t rlen = rd32(buf + pos + 4);
        MigSum s;
        uint64_t v;

        if (len - pos - 8 < (uint64_t)rlen + 8) {
            return;
        }
        mig_sum_init(&s);
        mig_sum_add(&s, buf + pos, 8 + (size_t)rlen);
        v = mig_sum_final(&s);
        for (int i = 0; i < 8; i++) {
            buf[pos + 8 + rlen + i] = (uint8_t)(v >> (8 * i));
        }
        pos += 16 + (size_t)rlen;
    }
}

static bool read_blob(MigReader *r, uint32_t type, uint32_t len,
                      MigSum *sum, GByteArray **out, GError **errp)
{
    g_autoptr(GByteArray) b = g_byte_array_sized_new(len);

    g_byte_array_set_size(b, len);
    if (!mig_read_exact(r, b->data, len, mig_record_name(type), errp)) {
        return false;
    }
    mig_sum_add(sum, b->data, len);
    if (!mig_read_record_tail(r, type, sum, errp)) {
        return false;
    }
    if (*out) {
        g_byte_array_unref(*out);
    }
    *out = g_steal_pointer(&b);
    return true;
}

/*
 * The main channel as migration.c's receive_main reads it (that function
 * needs a whole incoming Migration with its threads; this is its loop on
 * the same stream, reader, configuration check and record functions),
 * then the loads its completion runs on the main thread. The multifd
 * channels the configuration announces are not waited for.
 */
static bool receive_main(MigReader *r, GError **errp)
{
    g_autoptr(GByteArray) dev = NULL;
    g_autoptr(GByteArray) cpu = NULL;
    RamStats rs = { 0 };
    bool configured = false;
    unsigned int channels;

    for (;;) {
        uint32_t type, len;
        MigSum sum;

        if (!mig_read_record_head(r, &type, &len, &sum, errp)) {
            return false;
        }
        if (!configured && type != MIG_REC_CONFIG) {
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "section before the configuration");
            return false;
        }
        switch (type) {
        case MIG_REC_CONFIG: {
            g_autofree char *text = g_malloc(len + 1);

            if (configured) {
                g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                            "a second configuration section");
                return false;
            }
            if (!mig_read_exact(r, text, len, "config", errp)) {
                return false;
            }
            text[len] = 0;
            mig_sum_add(&sum, text, len);
            if (!mig_read_record_tail(r, type, &sum, errp) ||
                !migration_config_check(vm, text, len, true, &channels,
                                        errp)) {
                return false;
            }
            configured = true;
            break;
        }
        case MIG_REC_RAM:
        case MIG_REC_ZERO:
            if (!ram_receive(vm->mem, r, type, len, &sum, &rs, errp)) {
                return false;
            }
            break;
        case MIG_REC_PASS:
        case MIG_REC_SYNC: {
            uint8_t b[4];

            if (len != 4) {
                g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                            "%s section of %u bytes", mig_record_name(type),
                            len);
                return false;
            }
            if (!mig_read_exact(r, b, 4, "pass", errp)) {
                return false;
            }
            mig_sum_add(&sum, b, 4);
            if (!mig_read_record_tail(r, type, &sum, errp)) {
                return false;
            }
            break;
        }
        case MIG_REC_DEVICES:
            if (!read_blob(r, type, len, &sum, &dev, errp)) {
                return false;
            }
            break;
        case MIG_REC_CPUS:
            if (!read_blob(r, type, len, &sum, &cpu, errp)) {
                return false;
            }
            break;
        case MIG_REC_END:
            if (!mig_read_record_tail(r, type, &sum, errp)) {
                return false;
            }
            if (!dev || !cpu) {
                g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                            "ended without the device or CPU state");
                return false;
            }
            if (!devices_load_state(vm, dev->data, dev->len, errp) ||
                !vm_load_cpus(vm, cpu->data, cpu->len, errp)) {
                return false;
            }
            exercise();
            return true;
        default:
            g_set_error(errp, KESTREL_ERROR, KESTREL_ERROR_INVALID,
                        "a %s section on the main channel",
                        mig_record_name(type));
            return false;
        }
    }
}

static void receive(const uint8_t *data, size_t size, bool sealed)
{
    g_autoptr(GError) err = NULL;
    g_autofree uint8_t *copy = g_memdup2(data, size);
    int fd;
    MigReader r;
    uint32_t flags = 0;
    bool ok;

    if (sealed && size >= 16) {
        seal(copy, size);
    }
    fd = bytes_fd(copy, size);
    mig_reader_init(&r, fd);
    ok = mig_read_header(&r, &flags, &err);
    if (ok && (flags & MIG_FLAG_CHANNEL)) {
        RamStats rs = { 0 };

        ok = multifd_receive_channel(vm->mem, &r, &rs, NULL, NULL, &err);
    } else if (ok) {
        ok = receive_main(&r, &err);
    }
    if (!ok && !err) {
        abort();
    }
    failed |= !ok;
    /* what was read is what the stream held */
    if (r.bytes > size) {
        abort();
    }
    mig_reader_clear(&r);
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!vm) {
        setup();
    }
    if (size < 1) {
        return 0;
    }
    failed = false;
    switch (data[0] % T_MAX) {
    case T_DEVICES:
        load_devices(data + 1, size - 1);
        break;
    case T_CPUS:
        load_cpus(data + 1, size - 1);
        break;
    case T_VMSD:
        load_vmsd(data + 1, size - 1);
        break;
    case T_STREAM_RAW:
        receive(data + 1, size - 1, false);
        break;
    case T_STREAM_SEALED:
        receive(data + 1, size - 1, true);
        break;
    }
    restore(failed);
    return 0;
}

/* --- seeds ------------------------------------------------------------------ */

static void seed(const char *dir, const char *name, uint8_t target,
                 const void *buf, size_t len)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_autoptr(GByteArray) b = g_byte_array_new();
    g_autoptr(GError) err = NULL;

    g_byte_array_append(b, &target, 1);
    g_byte_array_append(b, buf, (guint)len);
    if (!g_file_set_contents(path, (const char *)b->data, b->len, &err)) {
        die("writing a seed", err);
    }
}

/* The balloon's driver: features, three queues, one inflate buffer
 * done, a stats buffer the device holds. */
static void drive_balloon(void)
{
    int devfn = balloon_devfn();
    uint64_t bar, ring = 0x100000;
    uint8_t *ram = vm->mem->regions[0].hva;

    if (devfn < 0) {
        abort();
    }
    bar = balloon_bar(devfn);
    mmio_wr(COMMON(VIRTIO_PCI_COMMON_STATUS), 1, 0);
    mmio_wr(COMMON(VIRTIO_PCI_COMMON_STATUS), 1, 3);
    mmio_wr(COMMON(VIRTIO_PCI_COMMON_GFSELECT), 4, 0);
    mmio_wr(COMMON(VIRTIO_PCI_COMMON_GF), 4, 1u << 1);     /* STATS_VQ */
    mmio_wr(COMMON(VIRTIO_PCI_COMMON_GFSELECT), 4, 1);
    mmio_wr(COMMON(VIRTIO_PCI_COMMON_GF), 4, 1);           /* VERSION_1 */
    mmio_wr(COMMON(VIRTIO_PCI_COMMON_STATUS), 1, 0xb);
    for (unsigned int q = 0; q < 3; q++) {
        uint64_t base = ring + q * 0x4000ull;

        memset(ram + base, 0, 0x4000);
        mmio_wr(COMMON(VIRTIO_PCI_COMMON_Q_SELECT), 2, q);
        mmio_wr(COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2, 16);
        mmio_wr(COMMON(VIRTIO_PCI_COMMON_Q_DESCLO), 4, base);
        mmio_wr(COMMON(VIRTIO_PCI_COMMON_Q_DESCHI), 4, 0);
        mmio_wr(COMMON(VIRTIO_PCI_COMMON_Q_AVAILLO), 4, base + 0x1000);
        mmio_wr(COMMON(VIRTIO_PCI_COMMON_Q_AVAILHI), 4, 0);
        mmio_wr(COMMON(VIRTIO_PCI_COMMON_Q_USEDLO), 4, base + 0x2000);
        mmio_wr(COMMON(VIRTIO_PCI_COMMON_Q_USEDHI), 4, 0);
        mmio_wr(COMMON(VIRTIO_PCI_COMMON_Q_ENABLE), 2, 1);
    }
    mmio_wr(COMMON(VIRTIO_PCI_COMMON_STATUS), 1, 0xf);
    /* queue 0 (inflate): one PFN; queue 2 (stats): a writable-less
     * buffer of one stat the device keeps until the next poll */
    for (unsigned int q = 0; q < 3; q += 2) {
        uint64_t base = ring + q * 0x4000ull, buf = 0x180000 + q * 0x100;
        uint32_t pfn = 0x300;

        memcpy(ram + buf, &pfn, 4);
        memcpy(ram + base, &buf, 8);
        memcpy(ram + base + 8, &(uint32_t) { q ? 10 : 4 }, 4);
        memcpy(ram + base + 0x1000 + 2, &(uint16_t) { 1 }, 2);
        mmio_wr(bar + VIRTIO_PCI_NOTIFY_OFF +
                (uint64_t)VIRTIO_PCI_NOTIFY_MULT * q, 2, q);
    }
}

/* A stream as kestrel's writer writes it, from this machine. */
static void write_stream(const char *dir, const GByteArray *devs)
{
    g_autoptr(GByteArray) out = g_byte_array_new();
    uint8_t cpus[4] = { 0 }, pass[4] = { 1, 0, 0, 0 };
    const char *config = "{\"machine\":\"kestrel\",\"ram-size\":16777216,"
                         "\"vcpus\":1,\"serials\":1,\"multifd-channels\":0,"
                         "\"devices\":[\"virtio-balloon-pci\"]}";
    uint8_t page[MIG_PAGE_SIZE];
    MigWriter w;
    int fd = memfd_create("seed", MFD_CLOEXEC);
    struct stat st;

    memset(page, 0xa5, sizeof(page));
    mig_writer_init(&w, fd, NULL);
    mig_write_header(&w, 0);
    mig_write_record(&w, MIG_REC_CONFIG, config, (uint32_t)strlen(config));
    mig_write_record(&w, MIG_REC_PASS, pass, 4);
    mig_write_ram(&w, 0x2000, page, 1);
    mig_write_zero(&w, 0x10000, 16);
    mig_write_record(&w, MIG_REC_DEVICES, devs->data, devs->len);
    mig_write_record(&w, MIG_REC_CPUS, cpus, 4);
    mig_write_record(&w, MIG_REC_END, NULL, 0);
    if (!mig_writer_flush(&w) || fstat(fd, &st) < 0) {
        abort();
    }
    mig_writer_clear(&w);
    g_byte_array_set_size(out, (guint)st.st_size);
    if (pread(fd, out->data, out->len, 0) != (ssize_t)out->len) {
        abort();
    }
    close(fd);
    seed(dir, "stream-raw", T_STREAM_RAW, out->data, out->len);
    seed(dir, "stream-sealed", T_STREAM_SEALED, out->data, out->len);

    /* a multifd channel: a compressed run, a zero run, the end */
    {
        uint8_t z[64 + MIG_PAGE_SIZE], head[12];
        size_t zl = ZSTD_compress(z, sizeof(z), page, sizeof(page), 1);
        uint64_t gpa = 0x5000;

        if (ZSTD_isError(zl)) {
            abort();
        }
        for (int i = 0; i < 8; i++) {
            head[i] = (uint8_t)(gpa >> (8 * i));
        }
        memcpy(head + 8, &(uint32_t) { 1 }, 4);
        fd = memfd_create("seed", MFD_CLOEXEC);
        mig_writer_init(&w, fd, NULL);
        mig_write_header(&w, MIG_FLAG_CHANNEL | 1u << 8);
        mig_write_record2(&w, MIG_REC_RAM_ZSTD, head, 12, z, (uint32_t)zl);
        mig_write_zero(&w, 0x8000, 2);
        mig_write_ram(&w, 0x3000, page, 1);
        mig_write_record(&w, MIG_REC_END, NULL, 0);
        if (!mig_writer_flush(&w) || fstat(fd, &st) < 0) {
            abort();
        }
        mig_writer_clear(&w);
        g_byte_array_set_size(out, (guint)st.st_size);
        if (pread(fd, out->data, out->len, 0) != (ssize_t)out->len) {
            abort();
        }
        close(fd);
        seed(dir, "channel-raw", T_STREAM_RAW, out->data, out->len);
        seed(dir, "channel-sealed", T_STREAM_SEALED, out->data, out->len);
    }
}

static void write_seeds(const char *dir)
{
    g_autoptr(GByteArray) live = g_byte_array_new();
    g_autoptr(GError) err = NULL;
    size_t n;
    const VmsDesc *const *list = devices_vmsd_list(&n);

    g_mkdir_with_parents(dir, 0755);
    seed(dir, "devices-fresh", T_DEVICES, pristine->data, pristine->len);
    seed(dir, "cpus", T_CPUS, "\0\0\0\0", 4);
    drive_balloon();
    if (!devices_save_state(vm, live, &err)) {
        die("devices_save_state", err);
    }
    seed(dir, "devices-driven", T_DEVICES, live->data, live->len);
    write_stream(dir, live);
    for (size_t i = 0; i < n + 2; i++) {
        g_autoptr(GByteArray) b = g_byte_array_new();
        g_autofree X86VcpuState *cpu = g_new0(X86VcpuState, 1);
        X86VmState kvm = { 0 };
        g_autofree char *name = g_strdup_printf("vmsd-%s",
                                                i < n ? list[i]->name :
                                                i == n ? "x86-cpu" :
                                                "kvm-vm");
        uint8_t pick = (uint8_t)i;
        Device *dev = i < n ? device_of(list[i]) : NULL;
        bool ok;

        if (i < n && !dev) {
            continue;
        }
        g_byte_array_append(b, &pick, 1);
        if (i == n) {
            cpu->has_xsave = true;
            cpu->mp_state = KVM_MP_STATE_RUNNABLE;
            cpu->nr_msrs = 2;
            cpu->msrs[0].index = 0x10;
            cpu->msrs[1].index = 0xc0000080;
            ok = vms_save(&x86_cpu_vmsd, cpu, b, &err);
        } else if (i == n + 1) {
            kvm.pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
            kvm.pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
            kvm.ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
            ok = vms_save(&kvm_vm_vmsd, &kvm, b, &err);
        } else {
            ok = vms_save(list[i], dev, b, &err);
        }
        if (!ok) {
            die(name, err);
        }
        g_strcanon(name, G_CSET_a_2_z G_CSET_A_2_Z G_CSET_DIGITS "-", '-');
        seed(dir, name, T_VMSD, b->data, b->len);
    }
    restore(false);
}

static void report(void)
{
    fprintf(stderr, "fuzz-vmstate: %u machines built again after a "
            "refused load\n", rebuilds);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = getenv("KESTREL_FUZZ_SEEDS");

    (void)argc;
    (void)argv;
    setup();
    atexit(report);
    if (dir && *dir) {
        write_seeds(dir);
        exit(0);
    }
    return 0;
}
