# SPDX-License-Identifier: GPL-2.0-or-later
"""Boot Debian's own kernel up to its early console.

A stock kernel cannot run to userspace on our PVM machines (its kernel-mode
code is emulated at ~2 MIPS and the emulator stops at cmpxchg16b), but in the
first half minute it reports what our boot protocol code gave it: the
command line, the e820 map, the KVM CPUID signature and the ACPI tables. So
this is a kernel nobody here wrote, reading what kestrel built.

The kernel comes from tests/linux/get-kernel.sh (apt-get download into a
cache outside the tree). Environment, beyond ktest's:

  KESTREL_LINUX_CACHE   cache directory for get-kernel.sh
  KESTREL_LINUX_VMM     "kestrel" (default) or "qemu": run the same
                        assertions against QEMU, the oracle they were
                        written against

Timings on our machines (vmlinux, -smp 2, QEMU 7.2 as the oracle): the
banner comes ~19 s after exec (the kernel-mode code before start_kernel() is
emulated), "Hypervisor detected: KVM" ~1 s later, "smpboot: Allowing 2 CPUs"
~7-12 s after the banner. The kernel then stops at "Memory: ...K available"
with an emulation failure, so the VMM is killed once the lines are in.
"""

import os
import re
import subprocess
import time
import unittest

import ktest

CMDLINE = "console=ttyS0 earlyprintk=serial"
MEM_MIB = 256
SMP = 2
LINE_TIMEOUT = 90       # seconds from exec to each line we wait for

VMM = os.environ.get("KESTREL_LINUX_VMM", "kestrel")

# What each VMM keeps out of the e820 RAM below -m. Kestrel reserves only
# 0x9fc00-0xfffff (its ACPI tables live in the BIOS area); QEMU's pc machine
# also reserves the top 128 KiB of RAM for its ACPI tables.
E820_SLACK = {"kestrel": 1 << 20, "qemu": 2 << 20}

E820_RX = re.compile(
    r"BIOS-e820: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\] (\S+)")

_kernel_cache = {}


def get_kernel():
    """Return (vmlinux, vmlinuz) paths, fetching them once per process."""
    if "vmlinux" not in _kernel_cache:
        script = os.path.join(ktest.SRCDIR, "tests", "linux", "get-kernel.sh")
        argv = ["bash", script]
        if os.environ.get("KESTREL_LINUX_CACHE"):
            argv.append(os.environ["KESTREL_LINUX_CACHE"])
        p = subprocess.run(argv, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=600)
        if p.returncode != 0 and os.geteuid() != 0:
            raise AssertionError(
                "get-kernel.sh needs root to download the kernel: "
                + p.stderr.decode(errors="replace").strip()[-200:])
        if p.returncode != 0:
            raise AssertionError("%s failed (%d):\n%s" % (
                script, p.returncode, p.stderr.decode(errors="replace")))
        vmlinux = p.stdout.decode().strip().splitlines()[-1]
        d, name = os.path.split(vmlinux)
        _kernel_cache["vmlinux"] = vmlinux
        _kernel_cache["vmlinuz"] = os.path.join(
            d, name.replace("vmlinux-", "vmlinuz-", 1))
    return _kernel_cache["vmlinux"], _kernel_cache["vmlinuz"]


def vmm_argv(kernel, mem=MEM_MIB, smp=None, cmdline=CMDLINE, vmm=VMM):
    """The command line booting @kernel under @vmm with our console."""
    if vmm == "qemu":
        argv = [ktest.QEMU] + ktest.QEMU_ACCEL + ["-M", "pc", "-nodefaults",
                "-nographic", "-serial", "stdio"]
    else:
        argv = [ktest.KESTREL, "-nographic"]
    argv += ["-m", str(mem)]
    if smp:
        argv += ["-smp", str(smp)]
    return argv + ["-kernel", kernel, "-append", cmdline]


def parse_e820(lines):
    """The e820 map Linux printed: [(start, end_inclusive, type), ...]."""
    out = []
    for i, line in enumerate(lines):
        if "BIOS-provided physical RAM map:" not in line:
            continue
        for entry in lines[i + 1:]:
            m = E820_RX.search(entry)
            if not m:
                break
            out.append((int(m.group(1), 16), int(m.group(2), 16),
                        m.group(3)))
        break
    return out


class LinuxVmlinux(ktest.KvmSkip, unittest.TestCase):
    """One boot of the ELF vmlinux with -smp 2; each test checks one thing
    the kernel printed."""

    @classmethod
    def setUpClass(cls):
        # A failure here is reported by every test, not by setUpClass: TAP
        # counts test methods.
        cls.vm, cls.setup_error = None, None
        try:
            vmlinux, _ = get_kernel()
        except (AssertionError, OSError, subprocess.SubprocessError) as e:
            cls.setup_error = e
            return
        cls.started = time.monotonic()
        cls.vm = ktest.Process(vmm_argv(vmlinux, smp=SMP))
        cls.addClassCleanup(cls.vm.kill)

    def setUp(self):
        if self.setup_error:
            raise AssertionError("no kernel: %s" % self.setup_error)

    def wait(self, pattern):
        left = self.started + LINE_TIMEOUT - time.monotonic()
        return self.vm.wait_line(pattern, timeout=max(left, 0.1))

    def test_banner(self):
        self.wait(r"Linux version \d+\.\d+")

    def test_command_line(self):
        m = self.wait(r"Command line: (.*)$")
        got = m.group(1).split()
        self.assertEqual(got[:len(CMDLINE.split())], CMDLINE.split(),
                         "the kernel saw another command line")

    def test_e820(self):
        # The map is complete once the line after it has been printed.
        self.wait(r"Hypervisor detected|NX \(Execute Disable\)")
        e820 = parse_e820(self.vm.lines)
        self.assertTrue(e820, "no e820 map in:\n" + self.vm.text())
        text = "\n".join("%#x-%#x %s" % e for e in e820)

        prev_end = -1
        for start, end, _ in e820:
            self.assertGreater(start, prev_end,
                               "e820 entries overlap or are unsorted:\n" + text)
            prev_end = end

        usable = [(s, e) for s, e, t in e820 if t == "usable"]
        self.assertEqual(usable[0][0], 0, "base memory missing:\n" + text)
        for s, e in usable:
            self.assertFalse(s <= 0xfffff and e >= 0x9fc00,
                             "the BIOS area 0x9fc00-0xfffff is usable:\n"
                             + text)
        self.assertTrue(any(s <= 0x100000 <= e for s, e in usable),
                        "no usable RAM at 1 MiB:\n" + text)

        total = sum(e - s + 1 for s, e in usable)
        mem = MEM_MIB << 20
        self.assertLessEqual(total, mem, "more usable RAM than -m:\n" + text)
        self.assertGreaterEqual(
            total, mem - E820_SLACK[VMM],
            "usable RAM %#x is short of -m %#x:\n%s" % (total, mem, text))

    def test_hypervisor_kvm(self):
        self.wait(r"Hypervisor detected: KVM")

    def test_acpi_smp(self):
        self.wait(r"ACPI: RSDP 0x")
        self.wait(r"ACPI: Using ACPI \(MADT\) for SMP configuration")
        # Debian's 6.1 logs MADT LAPIC entries at debug level only; this
        # line counts them (possible CPUs = the MADT's enabled LAPICs).
        m = self.wait(r"smpboot: Allowing (\d+) CPUs, (\d+) hotplug CPUs")
        self.assertEqual((int(m.group(1)), int(m.group(2))), (SMP, 0))

    def test_no_firmware_complaints(self):
        # Up to the CPU count, the kernel finds nothing wrong with the
        # machine it was given: no "[Firmware Bug]" (e.g. HWCR on AMD, the
        # ACPI tables), no "ACPI BIOS Error", no duplicated FACS.
        self.wait(r"smpboot: Allowing \d+ CPUs")
        bad = [l for l in self.vm.lines
               if "[Firmware Bug]" in l or "ACPI BIOS Error" in l or
               "ACPI Error" in l]
        self.assertEqual(bad, [], "\n".join(bad))
        facs = [l for l in self.vm.lines if "ACPI: FACS" in l]
        self.assertLessEqual(len(facs), 1, "\n".join(facs))


class LinuxBzImage(ktest.TestCase):
    """The bzImage goes through the boot protocol's setup header and entry
    point, not the ELF path. Its decompressor takes minutes here and Debian
    builds it quiet (no CONFIG_X86_VERBOSE_BOOTUP), but it warns on the
    serial console named by earlyprintk= when the command line disables
    KASLR. That line proves the image was accepted, entered, and found its
    boot_params, command line and console; the kernel proper is the ELF
    test's business."""

    def test_bzimage_decompressor(self):
        _, vmlinuz = get_kernel()
        vm = self.spawn(vmm_argv(vmlinuz, cmdline=CMDLINE + " nokaslr"))
        vm.wait_line(r"KASLR disabled: 'nokaslr' on cmdline",
                     timeout=LINE_TIMEOUT)


if __name__ == "__main__":
    ktest.main()
