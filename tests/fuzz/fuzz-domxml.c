/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the daemon's domain XML (driver/domain-conf*.c) and
 * what it turns into (driver/command.c, then kestrel's own command-line
 * parser). The input is a document, parsed as virDomainDefineXML parses
 * it: well-formedness, libvirt's RelaxNG schema, our policy, the model.
 * For a document accepted:
 *
 *   - a copy equals the original (domain_def_copy, domain_def_equal);
 *   - each format (inactive, live, migratable) parses again to an equal
 *     definition: the daemon must read back what it wrote;
 *   - domain_command_build either refuses with an error or gives an argv
 *     that kestrel's cmdline_parse accepts: what the daemon starts, the
 *     VMM understands.
 *
 * Errors are expected; a crash, leak or hang, or a broken round trip, is
 * a bug. With KESTREL_FUZZ_SEEDS=DIR set, the target writes its seeds
 * there and exits.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"
#include "command.h"
#include "domain-conf.h"
#include "vmconfig.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *devnull;

static const DomainCommandPaths paths = {
    .emulator = "/usr/bin/kestrel",
    .qmp_socket = "/run/k/vm.qmp",
    .pidfile = "/run/k/vm.pid",
    .logfile = "/var/log/k/vm.log",
    .qtest_socket = "/run/k/vm.qtest",
    .net_fds = (const int[]) { 20, 21, 22, 23, 24, 25, 26, 27 },
    .n_net_fds = 8,
};

static void fail(const char *what, const char *xml)
{
    fprintf(stderr, "fuzz-domxml: %s\n%s\n", what, xml ? xml : "");
    __builtin_trap();
}

static void check_command(const DomainDef *def)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(VmConfig) cfg = NULL;
    g_auto(GStrv) argv = domain_command_build(def, &paths, 0, &err);
    g_autofree char *line = NULL;

    if (!argv) {
        return;
    }
    cfg = vm_config_new();
    if (cmdline_parse(g_strv_length(argv), argv, cfg, devnull, &err) !=
        CMDLINE_RUN) {
        line = g_strjoinv(" ", argv);
        fprintf(stderr, "kestrel refused: %s\n", err ? err->message : "");
        fail("the daemon's command line is one kestrel refuses", line);
    }
}

static void check(const DomainDef *def)
{
    static const unsigned int flags[] = {
        DOMAIN_DEF_FORMAT_INACTIVE, 0, DOMAIN_DEF_FORMAT_MIGRATABLE,
    };
    DomainLive live = { .id = 3, .current_kib = 0,
                        .serial_ptys = { "/dev/pts/3" } };
    g_autoptr(DomainDef) copy = domain_def_copy(def);

    if (!domain_def_equal(def, copy)) {
        fail("a copy differs from its original", NULL);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(flags); i++) {
        g_autofree char *xml = domain_def_format(def, &live, flags[i]);
        g_autoptr(GError) err = NULL;
        g_autoptr(DomainDef) again = domain_def_parse_string(xml, 0, &err);

        if (!again) {
            fprintf(stderr, "%s\n", err->message);
            fail("formatted XML does not parse", xml);
        }
        if (flags[i] == DOMAIN_DEF_FORMAT_INACTIVE &&
            !domain_def_equal(def, again)) {
            fail("formatted XML parses to another definition", xml);
        }
    }
    check_command(def);
}

/* --- seeds ---------------------------------------------------------- */

#define UUID "<uuid>6b1a2f1e-4c3d-4e5f-8a9b-0c1d2e3f4a5b</uuid>"
#define OS "<os><type arch='x86_64' machine='kestrel'>hvm</type>" \
    "<kernel>/boot/vmlinuz</kernel><cmdline>console=ttyS0</cmdline></os>"

static const struct {
    const char *name;
    const char *xml;
} seeds[] = {
    { "seed-minimal",
      "<domain type='kvm'><name>vm1</name>" UUID
      "<memory unit='KiB'>262144</memory>" OS "</domain>" },
    { "seed-devices",
      "<domain type='kvm'><name>vm2</name>" UUID
      "<memory unit='MiB'>1024</memory>"
      "<currentMemory unit='MiB'>512</currentMemory>"
      "<vcpu placement='static'>2</vcpu>" OS
      "<on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot>"
      "<devices><emulator>/usr/bin/kestrel</emulator>"
      "<disk type='file' device='disk'><driver name='qemu' type='qcow2' "
      "cache='none' discard='unmap'/><source file='/var/lib/k/a.qcow2'/>"
      "<target dev='vda' bus='virtio'/></disk>"
      "<disk type='block' device='disk'><driver name='qemu' type='raw'/>"
      "<source dev='/dev/sdb'/><target dev='vdb' bus='virtio'/>"
      "<readonly/></disk>"
      "<interface type='bridge'><mac address='52:54:00:12:34:56'/>"
      "<source bridge='br0'/><model type='virtio'/></interface>"
      "<serial type='pty'><target port='0'/></serial>"
      "<console type='pty'><target type='serial' port='0'/></console>"
      "<memballoon model='virtio'><stats period='5'/></memballoon>"
      "</devices></domain>" },
    { "seed-memory",
      "<domain type='kvm'><name>vm3</name>" UUID
      "<title>t</title><description>d &amp; e</description>"
      "<metadata><k:x xmlns:k='http://example.org/k'>1</k:x></metadata>"
      "<memory unit='GiB'>2</memory>"
      "<memoryBacking><hugepages/><source type='memfd'/>"
      "<access mode='shared'/><allocation mode='immediate'/>"
      "</memoryBacking><vcpu>4</vcpu>"
      "<cpu mode='host-passthrough'><topology sockets='1' dies='1' "
      "cores='2' threads='2'/></cpu>" OS
      "<features><acpi/></features><clock offset='utc'/>"
      "<devices><serial type='unix'><source mode='bind' "
      "path='/run/k/s.sock'/></serial><memballoon model='none'/>"
      "</devices></domain>" },
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = getenv("KESTREL_FUZZ_SEEDS");

    devnull = fopen("/dev/null", "w");
    if (!devnull) {
        perror("/dev/null");
        exit(1);
    }
    if (dir) {
        for (size_t i = 0; i < G_N_ELEMENTS(seeds); i++) {
            g_autofree char *path = g_build_filename(dir, seeds[i].name,
                                                     NULL);
            g_autoptr(GError) err = NULL;
            g_autoptr(DomainDef) def =
                domain_def_parse_string(seeds[i].xml, 0, &err);

            /* a seed the parser refuses teaches the fuzzer little */
            if (!def) {
                fprintf(stderr, "%s: %s\n", seeds[i].name, err->message);
                exit(1);
            }
            if (!g_file_set_contents(path, seeds[i].xml, -1, &err)) {
                fprintf(stderr, "%s\n", err->message);
                exit(1);
            }
        }
        exit(0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *xml = g_strndup((const char *)data, size);
    g_autoptr(GError) err = NULL;
    g_autoptr(DomainDef) def = domain_def_parse_string(xml, 0, &err);

    if (def) {
        check(def);
    }
    return 0;
}
