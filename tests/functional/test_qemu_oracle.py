# SPDX-License-Identifier: GPL-2.0-or-later
"""The test guest under QEMU: the oracle for its console protocol.

TESTGUEST.md promises that the guest boots unmodified under QEMU
(`-kernel`, PVH entry) and that every mode prints its documented lines. If
these tests pass, a disagreement under kestrel is kestrel's.

Machine types: microvm (qboot) boots in a tenth of a second here and has
ACPI (HW-reduced), so most modes run there. The power button needs the PM1
fixed-hardware block, which microvm lacks (its GED needs AML), so those
tests use pc and q35, whose SeaBIOS takes 3-5 s of emulated real mode.
"""

import os
import re
import time
import unittest

import ktest

MICROVM = ["-M", "microvm"]
PC = ["-M", "pc"]
Q35 = ["-M", "q35"]

READY = r"^TG READY mem=(\d+) cpus=(\d+) boot=(\S+) mode=(\S+)$"
DIRTY = (r"^TG DIRTY cpu=(\d+) gen=(\d+) written_mb=(\d+) verified=(\d+) "
         r"errors=(\d+)$")


def qemu_usable():
    if not os.path.exists(ktest.QEMU):
        return "qemu-system-x86_64 is not installed"
    # Without /dev/kvm QEMU runs the guest under TCG (ktest.QEMU_ACCEL).
    if not os.path.exists(ktest.TESTGUEST):
        return "test guest %s is not built" % ktest.TESTGUEST
    return None


@unittest.skipIf(qemu_usable(), qemu_usable())
class QemuOracle(ktest.TestCase):

    def qemu(self, append, machine=MICROVM, smp=None, qmp=None, mem="128"):
        argv = [ktest.QEMU] + ktest.QEMU_ACCEL + machine + [
            "-nodefaults", "-nographic", "-serial", "stdio", "-no-reboot",
            "-m", mem, "-kernel", ktest.TESTGUEST, "-append", append]
        if smp:
            argv += ["-smp", str(smp)]
        if qmp:
            argv += ["-qmp", "unix:%s,server=on,wait=off" % qmp]
        return self.spawn(argv)

    def ready(self, p, mode, cpus=1, mem=128, timeout=30):
        m = p.wait_line(READY, timeout=timeout)
        self.assertEqual(m.groups(), (str(mem), str(cpus), "pvh", mode),
                         p.text())

    def finished(self, p, timeout=30):
        p.wait_line(r"^TG DONE$", timeout=timeout)
        self.assertEqual(p.wait_exit(timeout=10), 0, p.text())
        self.assertFalse([ln for ln in p.lines if "TG ERROR" in ln], p.text())

    def powerbutton(self, p, qmp_path):
        qmp = ktest.Qmp(qmp_path)
        try:
            qmp.cmd("system_powerdown")
            p.wait_line(r"^TG POWERBUTTON$", timeout=10)
        finally:
            qmp.close()
        self.assertEqual(p.wait_exit(timeout=10), 0, p.text())

    def test_hello(self):
        p = self.qemu("tg.mode=hello")
        self.ready(p, "hello")
        self.finished(p)

    def test_default_mode_is_hello(self):
        p = self.qemu("console=ttyS0")
        self.ready(p, "hello")
        self.finished(p)

    def test_smp_counts_madt_cpus(self):
        p = self.qemu("tg.mode=hello", smp=2)
        self.ready(p, "hello", cpus=2)
        self.finished(p)

    def test_mem_follows_dash_m(self):
        p = self.qemu("tg.mode=hello", mem="256")
        self.ready(p, "hello", mem=256)
        self.finished(p)

    def test_no_acpi(self):
        # No ACPI: the CPU count comes from the MP table, and power off
        # falls back to a reset, which -no-reboot turns into an exit.
        p = self.qemu("tg.mode=hello", machine=["-M", "microvm,acpi=off"],
                      smp=2)
        self.ready(p, "hello", cpus=2)
        p.wait_line(r"^TG DONE$")
        self.assertEqual(p.wait_exit(timeout=10), 0, p.text())

    def test_hello_pc(self):
        p = self.qemu("tg.mode=hello", machine=PC, smp=2)
        self.ready(p, "hello", cpus=2)
        self.finished(p)

    def test_idle_secs(self):
        # Halted, woken only by the LAPIC timer at the end of tg.secs.
        start = time.monotonic()
        p = self.qemu("tg.mode=idle tg.secs=1")
        self.ready(p, "idle")
        self.finished(p)
        self.assertGreaterEqual(time.monotonic() - start, 1.0)

    def test_pio(self):
        p = self.qemu("tg.mode=pio tg.count=20000")
        self.ready(p, "pio")
        m = p.wait_line(r"^TG PIO count=(\d+) ns_per_exit=(\d+)$")
        self.assertEqual(m.group(1), "20000")
        self.assertGreater(int(m.group(2)), 0)
        self.finished(p)

    def test_mmio(self):
        p = self.qemu("tg.mode=mmio tg.count=20000")
        self.ready(p, "mmio")
        m = p.wait_line(r"^TG MMIO count=(\d+) ns_per_exit=(\d+)$")
        self.assertEqual(m.group(1), "20000")
        self.assertGreater(int(m.group(2)), 0)
        self.finished(p)

    def dirty_lines(self, p, cpu=0):
        """CPU @cpu's TG DIRTY lines as (gen, written_mb, verified, errors)."""
        return self.dirty_by_cpu(p).get(cpu, [])

    def dirty_by_cpu(self, p):
        """Every CPU's TG DIRTY lines: {cpu: [(gen, written_mb, verified,
        errors), ...]}."""
        out = {}
        for ln in p.lines:
            m = re.match(DIRTY, ln)
            if m:
                v = [int(x) for x in m.groups()]
                out.setdefault(v[0], []).append(tuple(v[1:]))
            elif ln.startswith("TG DIRTY") and "CORRUPT" not in ln:
                self.fail("unexpected line %r:\n%s" % (ln, p.text()))
        return out

    def check_dirty(self, p, cpus, secs):
        """@cpus CPUs each printed a line a second, generations rising,
        no errors."""
        by_cpu = self.dirty_by_cpu(p)
        self.assertEqual(sorted(by_cpu), list(range(cpus)), p.text())
        for lines in by_cpu.values():
            # One line a second, the last when tg.secs is up (a vCPU
            # stalled across a second boundary may merge two).
            self.assertIn(len(lines), (secs - 1, secs), p.text())
            prev = (0, 0, 0, 0)
            for cur in lines:
                self.assertEqual(cur[3], 0, p.text())
                self.assertGreaterEqual(cur[0], prev[0])
                self.assertGreater(cur[1], prev[1])
                self.assertGreaterEqual(cur[2], prev[2])
                prev = cur
            # The first pass writes, every later one verifies as it goes.
            self.assertGreater(prev[0], 1, p.text())
            self.assertGreater(prev[2], 0, p.text())
        self.assertNotIn("CORRUPT", p.text())

    def test_dirty(self):
        start = time.monotonic()
        p = self.qemu("tg.mode=dirty tg.mb=32 tg.secs=3")
        self.ready(p, "dirty")
        self.finished(p)
        self.check_dirty(p, 1, 3)
        self.assertLess(time.monotonic() - start, 15)

    def test_dirty_smp2(self):
        # Every CPU writes its own range and reports on its own line.
        p = self.qemu("tg.mode=dirty tg.mb=64 tg.secs=3", smp=2)
        self.ready(p, "dirty", cpus=2)
        self.finished(p)
        self.check_dirty(p, 2, 3)

    def test_dirty_smp4(self):
        p = self.qemu("tg.mode=dirty tg.mb=64 tg.secs=3", smp=4)
        self.ready(p, "dirty", cpus=4)
        self.finished(p)
        self.check_dirty(p, 4, 3)

    def test_dirty_smp3_pc(self):
        # SeaBIOS has started (and parked) the APs before us: INIT resets
        # them.
        p = self.qemu("tg.mode=dirty tg.mb=48 tg.secs=3", machine=PC, smp=3)
        self.ready(p, "dirty", cpus=3)
        self.finished(p)
        self.check_dirty(p, 3, 3)

    def test_dirty_smp_no_acpi(self):
        # The APs come from the MP table.
        p = self.qemu("tg.mode=dirty tg.mb=32 tg.secs=2",
                      machine=["-M", "microvm,acpi=off"], smp=2)
        self.ready(p, "dirty", cpus=2)
        p.wait_line(r"^TG DONE$")
        self.assertEqual(p.wait_exit(timeout=10), 0, p.text())
        self.check_dirty(p, 2, 2)

    def test_dirty_cpus1(self):
        # tg.cpus=1: the APs are started but only the boot CPU writes.
        p = self.qemu("tg.mode=dirty tg.mb=32 tg.secs=2 tg.cpus=1", smp=2)
        self.ready(p, "dirty", cpus=2)
        self.finished(p)
        self.check_dirty(p, 1, 2)

    def test_dirty_rate(self):
        p = self.qemu("tg.mode=dirty tg.mb=16 tg.rate=20 tg.secs=2")
        self.ready(p, "dirty")
        self.finished(p)
        written = self.dirty_lines(p)[-1][1]
        # 20 MiB/s for 2 s, give or take the last 1 MiB chunk.
        self.assertTrue(38 <= written <= 42, p.text())

    def test_dirty_rate_smp2(self):
        # tg.rate is the total: each of 2 CPUs writes 10 MiB/s.
        p = self.qemu("tg.mode=dirty tg.mb=16 tg.rate=20 tg.secs=2", smp=2)
        self.ready(p, "dirty", cpus=2)
        self.finished(p)
        by_cpu = self.dirty_by_cpu(p)
        self.assertEqual(sorted(by_cpu), [0, 1], p.text())
        for lines in by_cpu.values():
            self.assertTrue(18 <= lines[-1][1] <= 22, p.text())

    def test_dirty_detects_stale_page(self):
        # tg.corrupt=N puts generation 1 back into page N after the second
        # pass: the checker must not be vacuous.
        p = self.qemu("tg.mode=dirty tg.mb=8 tg.secs=1 tg.corrupt=5")
        self.ready(p, "dirty")
        p.wait_line(r"^TG DIRTY CORRUPT cpu=0 page=5 want=2 got=1$")
        p.wait_line(r"^TG DONE$")
        self.assertEqual(self.dirty_lines(p)[-1][3], 1, p.text())
        self.assertEqual(p.wait_exit(timeout=10), 0, p.text())

    def test_dirty_detects_stale_page_smp2(self):
        # With 2 CPUs, page 5 is in CPU 0's range; CPU 1 stays clean.
        p = self.qemu("tg.mode=dirty tg.mb=16 tg.secs=1 tg.corrupt=5", smp=2)
        self.ready(p, "dirty", cpus=2)
        p.wait_line(r"^TG DIRTY CORRUPT cpu=0 page=5 want=2 got=1$")
        p.wait_line(r"^TG DONE$")
        self.assertEqual(p.wait_exit(timeout=10), 0, p.text())
        self.assertEqual(self.dirty_lines(p, 0)[-1][3], 1, p.text())
        self.assertEqual(self.dirty_lines(p, 1)[-1][3], 0, p.text())
        self.assertEqual(p.text().count("CORRUPT"), 1, p.text())

    def test_unknown_mode(self):
        p = self.qemu("tg.mode=nosuchmode")
        self.ready(p, "nosuchmode")
        p.wait_line(r"^TG ERROR unknown mode nosuchmode$")
        self.assertEqual(p.wait_exit(timeout=10), 0, p.text())

    def test_powerbutton_idle(self):
        qmp = os.path.join(self.tmp, "qmp.sock")
        p = self.qemu("tg.mode=idle", machine=Q35, qmp=qmp)
        self.ready(p, "idle")
        self.powerbutton(p, qmp)

    def test_powerbutton_dirty(self):
        # The boot CPU polls the button while the AP writes too.
        qmp = os.path.join(self.tmp, "qmp.sock")
        p = self.qemu("tg.mode=dirty tg.mb=16", machine=PC, qmp=qmp, smp=2)
        self.ready(p, "dirty", cpus=2)
        p.wait_line(r"^TG DIRTY cpu=1 gen=")
        self.powerbutton(p, qmp)
        self.assertNotIn("errors=1", p.text())


if __name__ == "__main__":
    ktest.main()
