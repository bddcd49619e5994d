/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * domain_command_build: domain XML in, kestrel argv out (joined with one
 * space per argument, arguments with spaces shown in single quotes), or
 * the exact error.
 */
#include "config.h"

#include <glib.h>
#include <string.h>

#include "command.h"
#include "domain-conf.h"
#include "drv-error.h"

#define UUID "11111111-2222-3333-4444-555555555555"
#define HEAD "<domain type='kvm'><name>vm1</name><uuid>" UUID "</uuid>"
#define MEM "<memory unit='GiB'>1</memory>"
#define OS "<os><type>hvm</type><kernel>/boot/vmlinuz</kernel></os>"
#define DOM(x) HEAD MEM OS x "</domain>"
#define DEV(x) DOM("<devices>" x "</devices>")

/* the argv of DOM("") with the standard paths, in three parts */
#define A_HEAD "/usr/bin/kestrel -name guest=vm1,debug-threads=on -uuid " \
    UUID " -machine kestrel,accel=kvm -cpu host -m size=1048576k -smp 1 " \
    "-kernel /boot/vmlinuz"
#define A_FIXED " -nodefaults -no-user-config -display none -chardev " \
    "socket,id=charmonitor,path=/run/k/vm1.qmp,server=on,wait=off -mon " \
    "chardev=charmonitor,id=monitor,mode=control"
#define A_BALLOON " -device virtio-balloon-pci,id=balloon0"
#define A_SANDBOX " -sandbox on,obsolete=deny,elevateprivileges=deny," \
    "spawn=deny,resourcecontrol=deny"
#define A_TAIL A_SANDBOX " -pidfile /run/k/vm1.pid -D /var/log/k/vm1.log"

static const DomainCommandPaths std_paths = {
    .emulator = "/usr/bin/kestrel",
    .qmp_socket = "/run/k/vm1.qmp",
    .pidfile = "/run/k/vm1.pid",
    .logfile = "/var/log/k/vm1.log",
    .qtest_socket = "/run/k/vm1.qtest",
};

typedef struct {
    const char *name;
    const char *xml;
    unsigned int flags;
    const char *argv;
} Case;

static const Case cases[] = {
    { "minimal", DOM(""), 0, A_HEAD A_FIXED A_BALLOON A_TAIL },
    { "paused", DOM(""), DOMAIN_COMMAND_PAUSED,
      A_HEAD A_FIXED A_BALLOON A_TAIL " -S" },
    { "daemonize", DOM(""), DOMAIN_COMMAND_DAEMONIZE,
      A_HEAD A_FIXED A_BALLOON A_TAIL " -daemonize" },
    { "paused-daemonize", DOM(""),
      DOMAIN_COMMAND_PAUSED | DOMAIN_COMMAND_DAEMONIZE,
      A_HEAD A_FIXED A_BALLOON A_TAIL " -S -daemonize" },
    { "incoming", DOM(""), DOMAIN_COMMAND_PAUSED | DOMAIN_COMMAND_INCOMING,
      A_HEAD A_FIXED A_BALLOON A_TAIL " -S -incoming defer" },
    /* the test facility: qtest accelerator and socket, no KVM */
    { "qtest", DOM(""), DOMAIN_COMMAND_QTEST,
      "/usr/bin/kestrel -name guest=vm1,debug-threads=on -uuid " UUID
      " -machine kestrel,accel=qtest -cpu host -m size=1048576k -smp 1 "
      "-kernel /boot/vmlinuz" A_FIXED A_BALLOON A_TAIL
      " -qtest unix:/run/k/vm1.qtest,server=on,wait=off" },
    { "memory-kib", HEAD "<memory unit='b'>1000000</memory>" OS "</domain>",
      0, "/usr/bin/kestrel -name guest=vm1,debug-threads=on -uuid " UUID
      " -machine kestrel,accel=kvm -cpu host -m size=977k -smp 1 -kernel "
      "/boot/vmlinuz" A_FIXED A_BALLOON A_TAIL },
    { "current-memory-not-on-command-line",
      DOM("<currentMemory unit='MiB'>256</currentMemory>"), 0,
      A_HEAD A_FIXED A_BALLOON A_TAIL },
    { "vcpus", DOM("<vcpu placement='static'>4</vcpu>"), 0,
      "/usr/bin/kestrel -name guest=vm1,debug-threads=on -uuid " UUID
      " -machine kestrel,accel=kvm -cpu host -m size=1048576k -smp 4 "
      "-kernel /boot/vmlinuz" A_FIXED A_BALLOON A_TAIL },
    { "topology", DOM("<vcpu>4</vcpu><cpu mode='host-passthrough' "
                      "check='none' migratable='on'><topology sockets='2' "
                      "dies='1' cores='1' threads='2'/></cpu>"), 0,
      "/usr/bin/kestrel -name guest=vm1,debug-threads=on -uuid " UUID
      " -machine kestrel,accel=kvm -cpu host -m size=1048576k -smp "
      "4,sockets=2,dies=1,cores=1,threads=2 -kernel /boot/vmlinuz" A_FIXED
      A_BALLOON A_TAIL },
    /* the timers virt-install writes, rtc 'delay' instead of 'catchup' */
    { "timers", DOM("<clock offset='utc'><timer name='rtc' "
                    "tickpolicy='delay'/><timer name='pit' "
                    "tickpolicy='delay'/><timer name='hpet' present='no'/>"
                    "<timer name='kvmclock'/></clock>"), 0,
      A_HEAD A_FIXED " -global kvm-pit.lost_tick_policy=delay" A_BALLOON
      A_TAIL },
    /* kestrel, pc and pc-i440fx-* are one machine; the trivia add nothing */
    { "machine-pc-trivia", HEAD MEM "<os><type machine='pc-i440fx-7.2'>hvm"
      "</type><kernel>/boot/vmlinuz</kernel><boot dev='hd'/></os>"
      "<features><acpi/><vmport state='off'/></features>"
      "<pm><suspend-to-mem enabled='no'/><suspend-to-disk enabled='no'/>"
      "</pm><devices><controller type='usb' model='none'/>"
      "<controller type='pci' model='pci-root'/><audio id='1' type='none'/>"
      "<video><model type='none'/></video></devices>"
      "<seclabel type='none'/></domain>", 0,
      A_HEAD A_FIXED A_BALLOON A_TAIL },
    { "initrd-cmdline", HEAD MEM "<os><type>hvm</type><kernel>/k</kernel>"
      "<initrd>/i</initrd><cmdline>console=ttyS0 root=/dev/vda, x=1"
      "</cmdline></os></domain>", 0,
      "/usr/bin/kestrel -name guest=vm1,debug-threads=on -uuid " UUID
      " -machine kestrel,accel=kvm -cpu host -m size=1048576k -smp 1 "
      "-kernel /k -initrd /i -append 'console=ttyS0 root=/dev/vda, x=1'"
      A_FIXED A_BALLOON A_TAIL },
    { "name-with-comma", "<domain type='kvm'><name>a,b c</name><uuid>" UUID
      "</uuid>" MEM OS "</domain>", 0,
      "/usr/bin/kestrel -name 'guest=a,,b c,debug-threads=on' -uuid " UUID
      " -machine kestrel,accel=kvm -cpu host -m size=1048576k -smp 1 "
      "-kernel /boot/vmlinuz" A_FIXED A_BALLOON A_TAIL },
    { "emulator-from-xml", DEV("<emulator>/opt/kestrel</emulator>"), 0,
      "/opt/kestrel -name guest=vm1,debug-threads=on -uuid " UUID
      " -machine kestrel,accel=kvm -cpu host -m size=1048576k -smp 1 "
      "-kernel /boot/vmlinuz" A_FIXED A_BALLOON A_TAIL },
    /* <memoryBacking>: guest RAM as the memory backend "pc.ram" */
    { "memory-backing-ram", DOM("<memoryBacking><allocation "
                                "mode='immediate' threads='2'/><locked/>"
                                "<nosharepages/></memoryBacking>"), 0,
      "/usr/bin/kestrel -name guest=vm1,debug-threads=on -uuid " UUID
      " -machine kestrel,accel=kvm,memory-backend=pc.ram,mem-merge=off "
      "-cpu host -m size=1048576k -object memory-backend-ram,id=pc.ram,"
      "size=1048576k,prealloc=on,prealloc-threads=2 -overcommit mem-lock=on "
      "-smp 1 -kernel /boot/vmlinuz" A_FIXED A_BALLOON A_TAIL },
    { "memory-backing-hugepages", DOM("<memoryBacking><hugepages/>"
                                      "</memoryBacking>"), 0,
      "/usr/bin/kestrel -name guest=vm1,debug-threads=on -uuid " UUID
      " -machine kestrel,accel=kvm,memory-backend=pc.ram -cpu host -m "
      "size=1048576k -object memory-backend-memfd,id=pc.ram,size=1048576k,"
      "hugetlb=on -smp 1 -kernel /boot/vmlinuz" A_FIXED A_BALLOON A_TAIL },
    { "memory-backing-memfd-1g", DOM("<memoryBacking><hugepages><page "
                                     "size='1' unit='G'/></hugepages>"
                                     "<source type='memfd'/><access "
                                     "mode='shared'/></memoryBacking>"), 0,
      "/usr/bin/kestrel -name guest=vm1,debug-threads=on -uuid " UUID
      " -machine kestrel,accel=kvm,memory-backend=pc.ram -cpu host -m "
      "size=1048576k -object memory-backend-memfd,id=pc.ram,size=1048576k,"
      "hugetlb=on,hugetlbsize=1048576k,share=on -smp 1 -kernel "
      "/boot/vmlinuz" A_FIXED A_BALLOON A_TAIL },
    { "memory-backing-file-hugetlbfs", DOM("<memoryBacking><hugepages/>"
                                           "<source type='file'/><access "
                                           "mode='private'/><discard/>"
                                           "</memoryBacking>"), 0,
      "/usr/bin/kestrel -name guest=vm1,debug-threads=on -uuid " UUID
      " -machine kestrel,accel=kvm,memory-backend=pc.ram -cpu host -m "
      "size=1048576k -object memory-backend-file,id=pc.ram,size=1048576k,"
      "mem-path=/dev/hugepages,discard-data=on,share=off -smp 1 -kernel "
      "/boot/vmlinuz" A_FIXED A_BALLOON A_TAIL },
    { "memory-backing-file", DOM("<memoryBacking><source type='file'/>"
                                 "<access mode='shared'/></memoryBacking>"),
      0, "/usr/bin/kestrel -name guest=vm1,debug-threads=on -uuid " UUID
      " -machine kestrel,accel=kvm,memory-backend=pc.ram -cpu host -m "
      "size=1048576k -object memory-backend-file,id=pc.ram,size=1048576k,"
      "mem-path=/dev/shm,share=on -smp 1 -kernel /boot/vmlinuz" A_FIXED
      A_BALLOON A_TAIL },
    { "on-poweroff-preserve", DOM("<on_poweroff>preserve</on_poweroff>"), 0,
      A_HEAD A_FIXED " -no-shutdown" A_BALLOON A_TAIL },
    { "on-reboot-destroy", DOM("<on_reboot>destroy</on_reboot>"), 0,
      A_HEAD A_FIXED " -no-reboot" A_BALLOON A_TAIL },
    { "lifecycle-both", DOM("<on_poweroff>preserve</on_poweroff>"
                            "<on_reboot>destroy</on_reboot>"
                            "<on_crash>preserve</on_crash>"), 0,
      A_HEAD A_FIXED " -no-shutdown -no-reboot" A_BALLOON A_TAIL },
    { "lifecycle-defaults", DOM("<on_poweroff>destroy</on_poweroff>"
                                "<on_reboot>restart</on_reboot>"
                                "<on_crash>restart</on_crash>"), 0,
      A_HEAD A_FIXED A_BALLOON A_TAIL },
    { "features-clock", DOM("<features><acpi/><apic/><pae/></features>"
                            "<clock offset='utc'/>"), 0,
      A_HEAD A_FIXED A_BALLOON A_TAIL },
    { "serial-pty", DEV("<serial type='pty'/>"), 0,
      A_HEAD A_FIXED " -chardev pty,id=charserial0 -serial "
      "chardev:charserial0" A_BALLOON A_TAIL },
    { "console-pty", DEV("<console type='pty'><target type='serial'/>"
                         "</console>"), 0,
      A_HEAD A_FIXED " -chardev pty,id=charserial0 -serial "
      "chardev:charserial0" A_BALLOON A_TAIL },
    { "serial-file", DEV("<serial type='file'><source path='/var/log/a,b'/>"
                         "</serial>"), 0,
      A_HEAD A_FIXED " -chardev file,id=charserial0,path=/var/log/a,,b "
      "-serial chardev:charserial0" A_BALLOON A_TAIL },
    { "serial-file-append", DEV("<serial type='file'><source path='/l' "
                                "append='on'/></serial>"), 0,
      A_HEAD A_FIXED " -chardev file,id=charserial0,path=/l,append=on "
      "-serial chardev:charserial0" A_BALLOON A_TAIL },
    { "serial-file-append-off", DEV("<serial type='file'><source path='/l' "
                                    "append='off'/></serial>"), 0,
      A_HEAD A_FIXED " -chardev file,id=charserial0,path=/l,append=off "
      "-serial chardev:charserial0" A_BALLOON A_TAIL },
    { "serial-unix-bind", DEV("<serial type='unix'><source mode='bind' "
                              "path='/run/c.sock'/></serial>"), 0,
      A_HEAD A_FIXED " -chardev socket,id=charserial0,path=/run/c.sock,"
      "server=on,wait=off -serial chardev:charserial0" A_BALLOON A_TAIL },
    { "serial-unix-connect", DEV("<serial type='unix'><source "
                                 "mode='connect' path='/s'/></serial>"), 0,
      A_HEAD A_FIXED " -chardev socket,id=charserial0,path=/s,server=off "
      "-serial chardev:charserial0" A_BALLOON A_TAIL },
    { "serials-in-port-order", DEV("<serial type='file'><source path='/b'/>"
                                   "<target port='1'/></serial><serial "
                                   "type='pty'/>"), 0,
      A_HEAD A_FIXED " -chardev pty,id=charserial0 -serial "
      "chardev:charserial0 -chardev file,id=charserial1,path=/b -serial "
      "chardev:charserial1" A_BALLOON A_TAIL },
    { "balloon-none", DEV("<memballoon model='none'/>"), 0,
      A_HEAD A_FIXED A_TAIL },
    { "balloon-stats-not-on-command-line",
      DEV("<memballoon model='virtio'><stats period='5'/></memballoon>"), 0,
      A_HEAD A_FIXED A_BALLOON A_TAIL },
    { "balloon-options", DEV("<memballoon model='virtio' autodeflate='on' "
                             "freePageReporting='on'/>"), 0,
      A_HEAD A_FIXED A_BALLOON ",deflate-on-oom=on,free-page-reporting=on"
      A_TAIL },
    { "balloon-options-off", DEV("<memballoon model='virtio' "
                                 "autodeflate='off' "
                                 "freePageReporting='off'/>"), 0,
      A_HEAD A_FIXED A_BALLOON ",deflate-on-oom=off,free-page-reporting=off"
      A_TAIL },
    { "balloon-address", DEV("<memballoon model='virtio'><address "
                             "type='pci' domain='0x0000' bus='0x00' "
                             "slot='0x05' function='0x0'/></memballoon>"),
      0, A_HEAD A_FIXED A_BALLOON ",bus=pci.0,addr=0x5" A_TAIL },
    { "balloon-user-alias", DEV("<memballoon model='virtio'><alias "
                                "name='ua-b'/></memballoon>"), 0,
      A_HEAD A_FIXED " -device virtio-balloon-pci,id=ua-b" A_TAIL },
    { "balloon-runtime-alias", DEV("<memballoon model='virtio'><alias "
                                   "name='balloon0'/></memballoon>"), 0,
      A_HEAD A_FIXED A_BALLOON A_TAIL },
    { "everything",
      "<domain type='kvm'><name>full</name><uuid>" UUID "</uuid>"
      "<memory unit='MiB'>512</memory><vcpu>2</vcpu>"
      "<os><type arch='x86_64' machine='kestrel'>hvm</type>"
      "<kernel>/k</kernel><initrd>/i</initrd><cmdline>quiet</cmdline></os>"
      "<on_poweroff>preserve</on_poweroff>"
      "<devices><serial type='pty'/><serial type='unix'><source mode='bind'"
      " path='/s'/></serial><console type='pty'/>"
      "<memballoon model='virtio' freePageReporting='on'><stats "
      "period='10'/></memballoon></devices></domain>",
      DOMAIN_COMMAND_PAUSED | DOMAIN_COMMAND_DAEMONIZE,
      "/usr/bin/kestrel -name guest=full,debug-threads=on -uuid " UUID
      " -machine kestrel,accel=kvm -cpu host -m size=524288k -smp 2 "
      "-kernel /k -initrd /i -append quiet" A_FIXED " -no-shutdown "
      "-chardev pty,id=charserial0 -serial chardev:charserial0 -chardev "
      "socket,id=charserial1,path=/s,server=on,wait=off -serial "
      "chardev:charserial1 -device virtio-balloon-pci,id=balloon0,"
      "free-page-reporting=on" A_TAIL " -S -daemonize" },
};

static char *argv_join(char **argv)
{
    GString *s = g_string_new(NULL);

    for (char **a = argv; *a; a++) {
        if (s->len) {
            g_string_append_c(s, ' ');
        }
        if (strchr(*a, ' ')) {
            g_string_append_printf(s, "'%s'", *a);
        } else {
            g_string_append(s, *a);
        }
    }
    return g_string_free(s, FALSE);
}

static void test_case(gconstpointer data)
{
    const Case *c = data;
    g_autoptr(GError) err = NULL;
    g_autoptr(DomainDef) def = domain_def_parse_string(c->xml, 0, &err);
    g_auto(GStrv) argv = NULL;
    g_autofree char *line = NULL;

    g_assert_no_error(err);
    argv = domain_command_build(def, &std_paths, c->flags, &err);
    g_assert_no_error(err);
    line = argv_join(argv);
    g_assert_cmpstr(line, ==, c->argv);
}

/* Optional paths are left out; the arguments are separate strings. */
static void test_minimal_paths(void)
{
    static const DomainCommandPaths paths = {
        .emulator = "kestrel",
        .qmp_socket = "/tmp/a b,c.qmp",
    };
    g_autoptr(GError) err = NULL;
    g_autoptr(DomainDef) def = domain_def_parse_string(DOM(""), 0, &err);
    g_auto(GStrv) argv = NULL;
    g_autofree char *line = NULL;

    g_assert_no_error(err);
    argv = domain_command_build(def, &paths, 0, &err);
    g_assert_no_error(err);
    line = argv_join(argv);
    g_assert_cmpstr(line, ==,
                    "kestrel -name guest=vm1,debug-threads=on -uuid " UUID
                    " -machine kestrel,accel=kvm -cpu host -m size=1048576k"
                    " -smp 1 -kernel /boot/vmlinuz -nodefaults "
                    "-no-user-config -display none -chardev "
                    "'socket,id=charmonitor,path=/tmp/a b,,c.qmp,server=on,"
                    "wait=off' -mon chardev=charmonitor,id=monitor,"
                    "mode=control -device virtio-balloon-pci,id=balloon0"
                    A_SANDBOX);
    g_assert_cmpuint(g_strv_length(argv), ==, 27);
}

/* ---- errors ------------------------------------------------------------ */

typedef enum {
    BREAK_NOTHING,
    BREAK_NO_KERNEL,
    BREAK_NO_NAME,
    BREAK_NO_MEMORY,
    BREAK_CURRENT_ABOVE,
    BREAK_NO_VCPUS,
    BREAK_TOO_MANY_VCPUS,
    BREAK_TOO_MANY_SERIALS,
    BREAK_POWEROFF_RESTART,
    BREAK_REBOOT_PRESERVE,
    BREAK_NO_PATHS,
    BREAK_NO_QMP,
    BREAK_NO_EMULATOR,
    BREAK_FLAGS,
} Break;

typedef struct {
    const char *name;
    Break what;
    int code;
    const char *message;
} ErrorCase;

static const ErrorCase error_cases[] = {
    { "no-kernel", BREAK_NO_KERNEL, DRV_ERR_CONFIG_UNSUPPORTED,
      "domain 'vm1' has no kernel: the kestrel driver boots a kernel "
      "directly, without firmware, so element 'kernel' is required in "
      "'os'" },
    { "no-name", BREAK_NO_NAME, DRV_ERR_INTERNAL_ERROR,
      "cannot build a command line for domain '': it has no name" },
    { "no-memory", BREAK_NO_MEMORY, DRV_ERR_INTERNAL_ERROR,
      "cannot build a command line for domain 'vm1': its memory sizes are "
      "inconsistent" },
    { "current-above-memory", BREAK_CURRENT_ABOVE, DRV_ERR_INTERNAL_ERROR,
      "cannot build a command line for domain 'vm1': its memory sizes are "
      "inconsistent" },
    { "no-vcpus", BREAK_NO_VCPUS, DRV_ERR_INTERNAL_ERROR,
      "cannot build a command line for domain 'vm1': its vcpu count is out "
      "of range" },
    { "too-many-vcpus", BREAK_TOO_MANY_VCPUS, DRV_ERR_INTERNAL_ERROR,
      "cannot build a command line for domain 'vm1': its vcpu count is out "
      "of range" },
    { "too-many-serials", BREAK_TOO_MANY_SERIALS, DRV_ERR_INTERNAL_ERROR,
      "cannot build a command line for domain 'vm1': it has too many serial "
      "ports" },
    { "poweroff-restart", BREAK_POWEROFF_RESTART,
      DRV_ERR_CONFIG_UNSUPPORTED, "lifecycle action 'restart' for "
      "'on_poweroff' is not supported by the kestrel driver" },
    { "reboot-preserve", BREAK_REBOOT_PRESERVE, DRV_ERR_CONFIG_UNSUPPORTED,
      "lifecycle action 'preserve' for 'on_reboot' is not supported by the "
      "kestrel driver" },
    { "no-paths", BREAK_NO_PATHS, DRV_ERR_INTERNAL_ERROR,
      "cannot build a command line for domain 'vm1' without a QMP socket "
      "path" },
    { "no-qmp", BREAK_NO_QMP, DRV_ERR_INTERNAL_ERROR,
      "cannot build a command line for domain 'vm1' without a QMP socket "
      "path" },
    { "no-emulator", BREAK_NO_EMULATOR, DRV_ERR_INTERNAL_ERROR,
      "cannot build a command line for domain 'vm1': no kestrel binary is "
      "known" },
    { "flags", BREAK_FLAGS, DRV_ERR_INVALID_ARG,
      "unsupported flags (0x10) in function domain_command_build" },
};

static void test_error(gconstpointer data)
{
    const ErrorCase *c = data;
    g_autoptr(GError) err = NULL;
    g_autoptr(DomainDef) def = domain_def_parse_string(DOM(""), 0, &err);
    DomainCommandPaths paths = std_paths;
    const DomainCommandPaths *pp = &paths;
    unsigned int flags = 0;
    g_auto(GStrv) argv = NULL;

    g_assert_no_error(err);
    switch (c->what) {
    case BREAK_NOTHING:
        break;
    case BREAK_NO_KERNEL:
        g_clear_pointer(&def->os.kernel, g_free);
        break;
    case BREAK_NO_NAME:
        g_clear_pointer(&def->name, g_free);
        break;
    case BREAK_NO_MEMORY:
        def->memory_kib = 0;
        def->current_kib = 0;
        break;
    case BREAK_CURRENT_ABOVE:
        def->current_kib = def->memory_kib + 1;
        break;
    case BREAK_NO_VCPUS:
        def->vcpus = 0;
        break;
    case BREAK_TOO_MANY_VCPUS:
        def->vcpus = DOMAIN_MAX_VCPUS + 1;
        break;
    case BREAK_TOO_MANY_SERIALS:
        for (int i = 0; i <= DOMAIN_MAX_SERIALS; i++) {
            DomainChr *chr = g_new0(DomainChr, 1);

            chr->port = i;
            g_ptr_array_add(def->serials, chr);
        }
        break;
    case BREAK_POWEROFF_RESTART:
        def->on_poweroff = DOMAIN_LIFECYCLE_RESTART;
        break;
    case BREAK_REBOOT_PRESERVE:
        def->on_reboot = DOMAIN_LIFECYCLE_PRESERVE;
        break;
    case BREAK_NO_PATHS:
        pp = NULL;
        break;
    case BREAK_NO_QMP:
        paths.qmp_socket = NULL;
        break;
    case BREAK_NO_EMULATOR:
        paths.emulator = NULL;
        break;
    case BREAK_FLAGS:
        flags = 0x10;
        break;
    }
    argv = domain_command_build(def, pp, flags, &err);
    g_assert_null(argv);
    g_assert_error(err, DRV_ERROR, c->code);
    g_assert_cmpstr(err->message, ==, c->message);
}

/* The command line depends on the definition only, not on call history. */
static void test_pure(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(DomainDef) def = domain_def_parse_string(
        DEV("<serial type='pty'/>"), 0, &err);
    g_auto(GStrv) a = NULL;
    g_auto(GStrv) b = NULL;

    g_assert_no_error(err);
    a = domain_command_build(def, &std_paths, 0, &err);
    b = domain_command_build(def, &std_paths, 0, &err);
    g_assert_no_error(err);
    g_assert_true(g_strv_equal((const char *const *)a,
                               (const char *const *)b));
}

/* Disks as libvirt writes them for QEMU 7.2 (-blockdev JSON, no
 * bootindex), interfaces on the inherited tap fds; before the balloon. */
static void test_devices(void)
{
    static const int fds[] = { 3 };
    DomainCommandPaths paths = std_paths;
    g_autoptr(GError) err = NULL;
    g_autoptr(DomainDef) def = domain_def_parse_string(DEV(
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2' "
        "cache='none' discard='unmap' error_policy='stop'/><source "
        "file='/img/a\"b\".qcow2'/><target dev='vda' bus='virtio'/>"
        "<boot order='1'/><serial>S1</serial></disk>"
        "<disk type='block'><source dev='/dev/sdx'/><target dev='vdc' "
        "bus='virtio'/><readonly/></disk>"
        "<interface type='ethernet'><mac address='52:54:00:aa:bb:cc'/>"
        "</interface>"), 0, &err);
    g_auto(GStrv) argv = NULL;
    g_autofree char *line = NULL;

    g_assert_no_error(err);
    /* no fds for the taps: refused */
    argv = domain_command_build(def, &std_paths, 0, &err);
    g_assert_null(argv);
    g_assert_error(err, DRV_ERROR, DRV_ERR_INTERNAL_ERROR);
    g_clear_error(&err);

    paths.net_fds = fds;
    paths.n_net_fds = 1;
    argv = domain_command_build(def, &paths, 0, &err);
    g_assert_no_error(err);
    line = argv_join(argv);
    g_assert_cmpstr(line, ==, A_HEAD A_FIXED
        " -blockdev {\"driver\":\"file\",\"filename\":\"/img/a\\\"b\\\""
        ".qcow2\",\"node-name\":\"libvirt-1-storage\",\"auto-read-only\":"
        "true,\"discard\":\"unmap\",\"cache\":{\"direct\":true,"
        "\"no-flush\":false}}"
        " -blockdev {\"node-name\":\"libvirt-1-format\",\"read-only\":false,"
        "\"discard\":\"unmap\",\"cache\":{\"direct\":true,\"no-flush\":"
        "false},\"driver\":\"qcow2\",\"file\":\"libvirt-1-storage\"}"
        " -device {\"driver\":\"virtio-blk-pci\",\"bus\":\"pci.0\",\"addr\":"
        "\"0x4\",\"drive\":\"libvirt-1-format\",\"id\":\"virtio-disk0\","
        "\"serial\":\"S1\",\"werror\":\"stop\",\"rerror\":\"stop\"}"
        " -blockdev {\"driver\":\"host_device\",\"filename\":\"/dev/sdx\","
        "\"node-name\":\"libvirt-2-storage\",\"read-only\":true,"
        "\"auto-read-only\":true}"
        " -blockdev {\"node-name\":\"libvirt-2-format\",\"read-only\":true,"
        "\"driver\":\"raw\",\"file\":\"libvirt-2-storage\"}"
        " -device {\"driver\":\"virtio-blk-pci\",\"bus\":\"pci.0\",\"addr\":"
        "\"0x5\",\"drive\":\"libvirt-2-format\",\"id\":\"virtio-disk2\"}"
        " -netdev tap,fd=3,id=hostnet0,vnet_hdr=on"
        " -device {\"driver\":\"virtio-net-pci\",\"netdev\":\"hostnet0\","
        "\"id\":\"net0\",\"mac\":\"52:54:00:aa:bb:cc\",\"bus\":\"pci.0\","
        "\"addr\":\"0x3\"}"
        A_BALLOON A_TAIL);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *path = g_strdup_printf("/command/argv/%s",
                                                cases[i].name);

        g_test_add_data_func(path, &cases[i], test_case);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(error_cases); i++) {
        g_autofree char *path = g_strdup_printf("/command/error/%s",
                                                error_cases[i].name);

        g_test_add_data_func(path, &error_cases[i], test_error);
    }
    g_test_add_func("/command/minimal-paths", test_minimal_paths);
    g_test_add_func("/command/pure", test_pure);
    g_test_add_func("/command/devices", test_devices);
    return g_test_run();
}
