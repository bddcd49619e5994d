/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: option strings and the command line. The first byte
 * of an input picks what the rest goes to:
 *
 *   0  keyval_parse() (the second byte picks the implied key, or none),
 *      then every typed getter on a few keys and keyval_check_unused()
 *   1  keyval_parse_json(), then the same getters
 *   2  the conversions alone: keyval_parse_bool/uint/size
 *   3  cmdline_parse() on an argv made by splitting the rest at NUL
 *      bytes ("kestrel" prepended), into a fresh VmConfig
 *
 * Errors are expected; a crash, leak or hang is a bug. With
 * KESTREL_FUZZ_SEEDS=DIR set, the target writes its seeds there and exits.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"
#include "keyval.h"
#include "vmconfig.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
    T_KEYVAL,
    T_JSON,
    T_CONVERT,
    T_CMDLINE,
    T_MAX,
};

static FILE *devnull;

static const char *const implied_keys[] = {
    NULL, "driver", "type", "size", "cpus", "file", "id", "backend",
};

/* the keys the option handlers ask for most */
static const char *const keys[] = {
    "id", "driver", "size", "cpus", "on", "a.b", "", "x",
};

static void exercise(KeyvalList *kv)
{
    g_autoptr(GHashTable) rest = NULL;

    (void)keyval_length(kv);
    for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
        g_autoptr(GError) err = NULL;
        uint64_t u;
        bool b;

        (void)keyval_has(kv, keys[i]);
        (void)keyval_get_str(kv, keys[i]);
        switch (i % 3) {
        case 0:
            (void)keyval_get_bool(kv, keys[i], false, &b, &err);
            break;
        case 1:
            (void)keyval_get_size(kv, keys[i], 0, &u, &err);
            break;
        default:
            (void)keyval_get_uint(kv, keys[i], 1, 4096, &u, &err);
            break;
        }
    }
    {
        g_autoptr(GError) err = NULL;

        (void)keyval_first_unused(kv);
        (void)keyval_check_unused(kv, &err);
    }
    rest = keyval_take_unused(kv);
}

static void fuzz_convert(const char *s)
{
    g_autoptr(GError) e1 = NULL;
    g_autoptr(GError) e2 = NULL;
    g_autoptr(GError) e3 = NULL;
    g_autoptr(GError) e4 = NULL;
    uint64_t u;
    bool b;

    (void)keyval_parse_bool("k", s, &b, &e1);
    (void)keyval_parse_uint("k", s, UINT64_MAX, &u, &e2);
    (void)keyval_parse_size("k", s, 1, &u, &e3);
    (void)keyval_parse_size("k", s, 1024 * 1024, &u, &e4);
    (void)keyval_is_help(s);
}

static void fuzz_cmdline(const uint8_t *data, size_t size)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(VmConfig) cfg = vm_config_new();
    g_autoptr(GError) err = NULL;
    size_t start = 0;

    g_ptr_array_add(argv, g_strdup("kestrel"));
    for (size_t i = 0; i <= size; i++) {
        if (i == size || data[i] == 0) {
            g_ptr_array_add(argv, g_strndup((const char *)data + start,
                                            i - start));
            start = i + 1;
        }
    }
    g_ptr_array_add(argv, NULL);
    (void)cmdline_parse(argv->len - 1, (char **)argv->pdata, cfg, devnull,
                        &err);
}

/* --- seeds ---------------------------------------------------------- */

static void seed(const char *dir, const char *name, uint8_t kind,
                 const char *text, size_t len)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    FILE *f = fopen(path, "wb");

    if (!f) {
        perror(path);
        exit(1);
    }
    fputc(kind, f);
    fwrite(text, 1, len, f);
    fclose(f);
}

#define SEED(dir, name, kind, lit) \
    seed(dir, name, kind, lit, sizeof(lit) - 1)

static void write_seeds(const char *dir)
{
    SEED(dir, "seed-kv", T_KEYVAL, "\x01virtio-blk-pci,id=d0,drive=n,,x");
    SEED(dir, "seed-kv-size", T_KEYVAL, "\x03size=1.5G,maxmem=0x10,slots");
    SEED(dir, "seed-kv-flags", T_KEYVAL, "\x00server,nowait,a.b=1,a.b=2");
    SEED(dir, "seed-json", T_JSON,
         "{\"driver\":\"virtio-net-pci\",\"id\":\"n0\",\"x\":true,"
         "\"a\":{\"b\":1.5,\"c\":[1,\"s\"]},\"n\":-3}");
    SEED(dir, "seed-convert", T_CONVERT, "16E");
    SEED(dir, "seed-cmdline", T_CMDLINE,
         "-machine\0kestrel,accel=kvm\0-m\0size=1G,slots=2,maxmem=4G\0"
         "-smp\0" "4,sockets=2,maxcpus=8\0-nographic\0"
         "-kernel\0/k\0-append\0console=ttyS0\0-no-reboot");
    SEED(dir, "seed-cmdline-dev", T_CMDLINE,
         "-nodefaults\0-chardev\0socket,id=c,path=/s,server=on,wait=off\0"
         "-mon\0chardev=c,mode=control\0-serial\0chardev:c\0"
         "-device\0{\"driver\":\"virtio-balloon-pci\",\"id\":\"b0\"}\0"
         "-object\0rng-random,id=r,filename=/dev/urandom\0"
         "-device\0virtio-rng-pci,rng=r");
    SEED(dir, "seed-cmdline-block", T_CMDLINE,
         "-blockdev\0{\"driver\":\"file\",\"filename\":\"/d\","
         "\"node-name\":\"f\"}\0-blockdev\0driver=qcow2,node-name=q,file=f\0"
         "-device\0virtio-blk-pci,drive=q\0"
         "-drive\0file=/e,if=none,id=d,format=raw,cache=none\0"
         "-netdev\0tap,id=n0,ifname=tap0,script=no,downscript=no\0"
         "-device\0virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56\0"
         "-object\0memory-backend-memfd,id=m,size=1G,share=on\0"
         "-incoming\0defer\0-daemonize\0-pidfile\0/p");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *seeds = getenv("KESTREL_FUZZ_SEEDS");

    devnull = fopen("/dev/null", "w");
    if (!devnull) {
        perror("/dev/null");
        exit(1);
    }
    if (seeds) {
        write_seeds(seeds);
        exit(0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *str = NULL;
    g_autoptr(KeyvalList) kv = NULL;
    g_autoptr(GError) err = NULL;

    if (size < 1) {
        return 0;
    }
    switch (data[0] % T_MAX) {
    case T_KEYVAL:
        if (size < 2) {
            return 0;
        }
        str = g_strndup((const char *)data + 2, size - 2);
        kv = keyval_parse(str,
                          implied_keys[data[1] % G_N_ELEMENTS(implied_keys)],
                          &err);
        if (kv) {
            exercise(kv);
        }
        break;
    case T_JSON:
        str = g_strndup((const char *)data + 1, size - 1);
        kv = keyval_parse_json(str, &err);
        if (kv) {
            exercise(kv);
        }
        break;
    case T_CONVERT:
        str = g_strndup((const char *)data + 1, size - 1);
        fuzz_convert(str);
        break;
    case T_CMDLINE:
        fuzz_cmdline(data + 1, size - 1);
        break;
    }
    return 0;
}
