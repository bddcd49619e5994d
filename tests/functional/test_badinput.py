# SPDX-License-Identifier: GPL-2.0-or-later
"""Bad command lines: the real kestrel binary exits with status 1 and prints
exactly one line, "kestrel: <why>", on stderr; nothing on stdout, no core
dump, no signal. The unit tests (tests/unit/test-cmdline.c) cover every
parser path; this file checks that the binary reports them as promised.

Each entry of CASES becomes one test method (one TAP line)."""

import os
import subprocess

import ktest
from ktest import KESTREL, TESTGUEST

K = ["-kernel", TESTGUEST]

SIZE_BAD = ("Parameter 'size' expects a non-negative number below 2^64, "
            "optionally suffixed with k, M, G, T, P or E")

# (test name, argv after the program name, the message after "kestrel: ")
CASES = [
    # argv shape
    ("unknown_option", ["-foo"], "-foo: invalid option"),
    ("unknown_option_double_dash", ["--foo"], "--foo: invalid option"),
    ("lone_dash", ["-"], "-: invalid option"),
    ("equals_form", K + ["--m=1G"], "--m=1G: invalid option"),
    ("missing_argument", K + ["-m"], "-m: requires an argument"),
    ("missing_argument_kernel", ["-kernel"], "-kernel: requires an argument"),
    ("disk_image_argument", ["disk.img"],
     "argument 'disk.img' is not an option: kestrel takes no disk image"),
    # QEMU options kestrel does not implement
    ("drive", K + ["-drive", "file=x.img"],
     "-drive file=x.img: drive 'x.img': kestrel has no IDE controller, give "
     "if=virtio (a virtio-blk-pci disk) or if=none (with -device "
     "virtio-blk-pci,drive=ID)"),
    ("hda", K + ["-hda", "x.img"], "-hda: option is not supported by kestrel"),
    ("netdev", K + ["-netdev", "user,id=n0"],
     "-netdev user,id=n0: network backend 'user' is not supported by "
     "kestrel: it has tap (-netdev tap,id=ID,ifname=NAME,script=no or fd=N)"),
    ("bios", K + ["-bios", "bios.bin"],
     "-bios: option is not supported by kestrel"),
    ("vnc", K + ["-vnc", ":0"], "-vnc: option is not supported by kestrel"),
    ("spice", K + ["-spice", "port=5900"],
     "-spice: option is not supported by kestrel"),
    ("usb", K + ["-usb"], "-usb: option is not supported by kestrel"),
    ("usb_device", K + ["-device", "usb-tablet"],
     "-device usb-tablet: device 'usb-tablet' is not supported by kestrel: "
     "it has no USB"),
    # what libvirt's QEMU driver may emit and kestrel refuses, with why
    ("no_acpi", K + ["-no-acpi"],
     "-no-acpi: kestrel's machine always has ACPI (in libvirt: add "
     "<features><acpi/></features>)"),
    ("rtc_driftfix", K + ["-rtc", "base=utc,driftfix=slew"],
     "-rtc base=utc,driftfix=slew: Parameter 'driftfix' does not take value "
     "'slew' in kestrel: the RTC does not make up for lost ticks (in "
     "libvirt: drop <timer name='rtc' tickpolicy='catchup'/>)"),
    ("object_memory_backend", K + ["-m", "512", "-object",
                                   '{"qom-type":"memory-backend-ram","id":'
                                   '"pc.ram","size":268435456}', "-machine",
                                   "memory-backend=pc.ram"],
     "Size specified by -m option must match size of explicitly specified "
     "'memory-backend' property"),
    ("object_memory_backend_unused", K + ["-object", "memory-backend-ram,"
                                          "id=pc.ram,size=256M"],
     "memory backend 'pc.ram' is not used: kestrel takes a memory backend "
     "only as the machine's RAM (-machine memory-backend=pc.ram)"),
    ("object_memory_backend_huge", K + ["-m", "64", "-object",
                                        "memory-backend-memfd,id=r,size=64M,"
                                        "hugetlb=on,hugetlbsize=3M",
                                        "-machine", "memory-backend=r"],
     "-object memory-backend-memfd,id=r,size=64M,hugetlb=on,hugetlbsize=3M: "
     "memory backend 'r': hugetlbsize 3145728 is not a huge page size (2M, "
     "1G)"),
    ("object_secret_unreadable", K + ["-object", "secret,id=s,file=/nonexist"],
     "-object secret,id=s: Unable to read /nonexist: Failed to open file "
     "\u201c/nonexist\u201d: No such file or directory"),
    ("incoming_tcp", K + ["-incoming", "tcp:0:4444"],
     "-incoming tcp:0:4444: incoming migration from 'tcp:0:4444' is not "
     "supported by kestrel: only -incoming defer is accepted, and kestrel "
     "has no migrate-incoming yet"),
    ("sandbox_spawn", K + ["-sandbox", "on,spawn=maybe"],
     "-sandbox on,spawn=maybe: invalid argument for spawn"),
    ("machine_usb_on", K + ["-machine", "pc,usb=on"],
     "-machine pc,usb=on: Parameter 'usb' only takes 'off' in kestrel: it "
     "has no USB"),
    # machine, accelerator, CPU
    ("no_kernel", [], "no kernel given: use -kernel PATH"),
    ("machine_q35", K + ["-machine", "q35"],
     "-machine q35: unsupported machine type 'q35'; use -machine help to "
     "list supported machines"),
    ("machine_accel_tcg", K + ["-machine", "kestrel,accel=tcg"],
     "-machine kestrel,accel=tcg: accelerator list 'tcg' does not contain "
     "kvm, the only accelerator kestrel supports"),
    ("accel_tcg", K + ["-accel", "tcg"],
     "-accel tcg: accelerator 'tcg' is not supported by kestrel: "
     "use -accel kvm"),
    ("machine_none_kernel", ["-machine", "none"] + K,
     "machine 'none' boots no guest: -kernel cannot be used with it"),
    ("cpu_model", K + ["-cpu", "qemu64"],
     "-cpu qemu64: CPU model 'qemu64' is not supported by kestrel: "
     "use -cpu host or -cpu max"),
    # memory
    ("mem_bad_suffix", K + ["-m", "1X"], "-m 1X: " + SIZE_BAD),
    ("mem_fraction_no_suffix", K + ["-m", "1.5"], "-m 1.5: " + SIZE_BAD),
    ("mem_too_big", K + ["-m", "16E"],
     "-m 16E: Value '16E' is out of range for parameter 'size'"),
    ("mem_zero", K + ["-m", "0"],
     "-m 0: Parameter 'size' must be greater than zero"),
    ("mem_unknown_key", K + ["-m", "size=1G,foo=1"],
     "-m size=1G,foo=1: Invalid parameter 'foo'"),
    ("mem_hotplug", K + ["-m", "1G,slots=2,maxmem=4G"],
     "-m 1G,slots=2,maxmem=4G: memory hotplug (slots, maxmem) is not "
     "supported by kestrel"),
    # SMP
    ("smp_product", K + ["-smp", "4,sockets=2,maxcpus=3"],
     "Invalid CPU topology: product of the hierarchy must match maxcpus: "
     "sockets (2) * dies (1) * cores (1) * threads (1) != maxcpus (3)"),
    ("smp_cpus_over_maxcpus", K + ["-smp", "5,maxcpus=4"],
     "Invalid CPU topology: maxcpus must be equal to or greater than smp: "
     "sockets (1) * dies (1) * cores (4) * threads (1) == maxcpus (4) < "
     "smp_cpus (5)"),
    ("smp_hotplug", K + ["-smp", "2,maxcpus=4"],
     "CPU hotplug is not supported by kestrel: maxcpus (4) must equal "
     "cpus (2)"),
    ("smp_too_many", K + ["-smp", "256"],
     "Invalid SMP CPUs 256. The max CPUs supported by machine 'kestrel' "
     "is 255"),
    ("smp_zero", K + ["-smp", "0"],
     "-smp 0: Invalid CPU topology: CPU topology parameters must be greater "
     "than zero"),
    ("smp_not_a_number", K + ["-smp", "two"],
     "-smp two: Parameter 'cpus' expects a number"),
    # identity
    ("uuid", K + ["-uuid", "123"],
     "-uuid 123: '123' is not a UUID of the form "
     "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"),
    ("name_unknown_key", K + ["-name", "guest=a,foo=1"],
     "-name guest=a,foo=1: Invalid parameter 'foo'"),
    # character devices, serial ports, monitors
    ("chardev_no_id", K + ["-chardev", "null"],
     "-chardev null: Parameter 'id' is missing"),
    ("chardev_bad_backend", K + ["-chardev", "foo,id=a"],
     "-chardev foo,id=a: 'foo' is not a valid chardev backend"),
    ("chardev_unsupported_backend", K + ["-chardev", "ringbuf,id=r"],
     "-chardev ringbuf,id=r: chardev backend 'ringbuf' is not supported by "
     "kestrel"),
    ("chardev_duplicate_id",
     K + ["-chardev", "null,id=a", "-chardev", "pty,id=a"],
     "-chardev pty,id=a: Duplicate ID 'a' for chardev"),
    ("chardev_bad_bool",
     K + ["-chardev", "socket,id=s,path=/tmp/x,server=maybe"],
     "-chardev socket,id=s,path=/tmp/x,server=maybe: Parameter 'server' "
     "expects 'on' or 'off'"),
    ("chardev_unknown_key", K + ["-chardev", "socket,id=s,path=/tmp/x,foo=1"],
     "-chardev socket,id=s,path=/tmp/x,foo=1: Invalid parameter 'foo'"),
    ("chardev_socket_no_address", K + ["-chardev", "socket,id=s"],
     "-chardev socket,id=s: socket chardev 's' needs exactly one of "
     "path=PATH, host=HOST,port=PORT or fd=N"),
    ("chardev_wait_without_server",
     K + ["-chardev", "socket,id=s,path=/tmp/x,wait=off"],
     "-chardev socket,id=s,path=/tmp/x,wait=off: Parameter 'wait' is only "
     "valid with server=on"),
    ("serial_unknown_chardev", K + ["-serial", "chardev:zz"],
     "-serial chardev:zz: chardev 'zz' not found"),
    ("serial_bad_device", K + ["-serial", "bogus"],
     "-serial bogus: 'bogus' is not a valid character device: use stdio, "
     "pty, null, file:PATH, unix:PATH, tcp:HOST:PORT or chardev:ID"),
    ("serial_mon_mux", K + ["-serial", "mon:stdio"],
     "-serial mon:stdio: character device 'mon:stdio' is not supported by "
     "kestrel"),
    ("serial_too_many",
     K + ["-serial", "null"] * 4 + ["-serial", "pty"],
     "-serial pty: too many serial ports: kestrel has 4 (COM1 to COM4)"),
    ("two_stdio", K + ["-serial", "stdio", "-serial", "stdio"],
     "-serial stdio: chardev 'serial1' cannot use stdio, which chardev "
     "'serial0' already uses"),
    ("mon_unknown_chardev", K + ["-mon", "chardev=zz,mode=control"],
     "-mon chardev=zz,mode=control: chardev 'zz' not found"),
    ("mon_bad_mode", K + ["-chardev", "null,id=a", "-mon", "a,mode=xx"],
     "-mon a,mode=xx: Parameter 'mode' expects 'control' or 'readline'"),
    ("qmp_bad_key", K + ["-qmp", "unix:/tmp/q.sock,server=on,wait=off,x=1"],
     "-qmp unix:/tmp/q.sock,server=on,wait=off,x=1: Invalid parameter 'x'"),
    ("nographic_qmp_stdio", K + ["-nographic", "-qmp", "stdio"],
     "-nographic: chardev 'serial0' cannot use stdio, which chardev "
     "'compat_monitor0' already uses"),
    # -daemonize takes stdio away
    ("daemonize_nographic", K + ["-nographic", "-daemonize"],
     "-nographic cannot be used with -daemonize"),
    ("daemonize_stdio_chardev",
     K + ["-daemonize", "-nodefaults", "-chardev", "stdio,id=s"],
     "-chardev stdio,id=s: cannot use stdio with -daemonize"),
    ("daemonize_serial_stdio", K + ["-daemonize", "-serial", "stdio"],
     "-serial stdio: cannot use stdio with -daemonize"),
    # -device and display
    ("device_no_driver", K + ["-device", "id=x"],
     "-device id=x: Parameter 'driver' is missing"),
    ("device_json_no_driver", K + ["-device", '{"id":"b0"}'],
     "-device {\"id\":\"b0\"}: Parameter 'driver' is missing"),
    ("device_duplicate_id",
     K + ["-device", "virtio-balloon-pci,id=b", "-device", "isa-serial,id=b"],
     "-device isa-serial,id=b: Duplicate ID 'b' for device"),
    ("display_gtk", K + ["-display", "gtk"],
     "-display gtk: display 'gtk' is not supported by kestrel: "
     "use -display none or -nographic"),
    ("vga_std", K + ["-vga", "std"],
     "-vga std: VGA card 'std' is not supported by kestrel: use -vga none"),
]

# Options that print and exit 0 without starting anything.
EXIT0 = [
    ("version", ["-version"],
     "kestrel version 0.1.0 (QEMU-compatible command line and QMP, "
     "QEMU 7.2.0)\n"),
    ("help", ["-help"], "Usage: kestrel [options]\n"),
    ("machine_help", ["-machine", "help"], "Supported machines are:\n"),
    ("device_help", ["-device", "help"],
     "Misc devices:\nname \"virtio-balloon\", bus PCI\n"
     "name \"virtio-balloon-pci\", bus PCI\n"),
]


def run_kestrel(tc, args):
    """Run kestrel in the test's temporary directory (where a core file
    would land); return (status, stdout, stderr)."""
    p = subprocess.run([KESTREL] + args, cwd=tc.tmp,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    return (p.returncode, p.stdout.decode(errors="replace"),
            p.stderr.decode(errors="replace"))


def assert_no_core(tc):
    cores = [f for f in os.listdir(tc.tmp) if f.startswith("core")]
    tc.assertEqual(cores, [], "core dump left behind")


class BadInput(ktest.TestCase):
    def check_error(self, args, message):
        status, out, err = run_kestrel(self, args)
        self.assertGreaterEqual(status, 0, "killed by signal %d" % -status)
        self.assertEqual(status, 1, "stderr: %r" % err)
        self.assertEqual(err, "kestrel: %s\n" % message)
        self.assertEqual(out, "")
        assert_no_core(self)

    def check_exit0(self, args, first_line):
        status, out, err = run_kestrel(self, args)
        self.assertEqual(status, 0, "stderr: %r" % err)
        self.assertEqual(err, "")
        self.assertTrue(out.startswith(first_line), out)
        assert_no_core(self)


def _error_test(args, message):
    def test(self):
        self.check_error(args, message)
    return test


def _exit0_test(args, first_line):
    def test(self):
        self.check_exit0(args, first_line)
    return test


for _name, _args, _msg in CASES:
    setattr(BadInput, "test_" + _name, _error_test(_args, _msg))
for _name, _args, _first in EXIT0:
    setattr(BadInput, "test_exit0_" + _name, _exit0_test(_args, _first))


if __name__ == "__main__":
    ktest.main()
