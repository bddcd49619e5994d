#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Serial output in batches, and a pty console that costs nothing when
nobody is attached. Under -accel qtest (no /dev/kvm needed): the test
writes the UART's transmit register itself and counts kestrel's write()
calls (/proc/PID/io syscw) and wake-ups (context switches)."""

import os
import re
import time

import ktest
from ktest import KESTREL, Qtest

COM1 = 0x3F8
LSR_DR = 0x01


def syscw(pid):
    with open("/proc/%d/io" % pid) as f:
        for ln in f:
            if ln.startswith("syscw:"):
                return int(ln.split()[1])
    return 0


def wakeups(pid):
    """Context switches of every thread of @pid."""
    n = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
            for ln in f:
                if ln.startswith(("voluntary_ctxt_switches",
                                  "nonvoluntary_ctxt_switches")):
                    n += int(ln.split()[1])
    return n


class QuietCase(ktest.TestCase):
    def vm(self, *serial):
        qt = os.path.join(self.tmp, "qt")
        p = self.spawn([KESTREL, "-nodefaults", "-display", "none", "-m",
                        "64", "-accel", "qtest", "-qtest",
                        "unix:%s,server=on,wait=off" % qt] + list(serial))
        p.qt = Qtest(qt)
        return p

    def wait_file(self, path, want, timeout=5):
        deadline = time.monotonic() + timeout
        got = b""
        while time.monotonic() < deadline:
            with open(path, "rb") as f:
                got = f.read()
            if got == want:
                return
            time.sleep(0.02)
        self.assertEqual(got, want)


class Serial(QuietCase):
    def test_output_batched_in_order(self):
        out = os.path.join(self.tmp, "console")
        p = self.vm("-chardev", "file,id=c,path=" + out, "-serial",
                    "chardev:c")
        # No newline: the main loop sends it once the writer pauses.
        for c in b"partial":
            p.qt.outb(COM1, c)
        self.wait_file(out, b"partial")
        # Many lines: in order, and far fewer write()s than bytes (each
        # qtest command costs one write of its own reply).
        text = b"".join(b"line %03d of the console\n" % i for i in range(40))
        before = syscw(p.proc.pid)
        for c in text:
            p.qt.outb(COM1 + 7, c)          # the scratch register
        base = syscw(p.proc.pid) - before
        before = syscw(p.proc.pid)
        for c in text:
            p.qt.outb(COM1, c)
        writes = syscw(p.proc.pid) - before - base
        self.wait_file(out, b"partial" + text)
        # one per line, and a few main-loop wake-ups; not one per byte
        self.assertLess(writes, len(text) // 4,
                        "%d write() calls for %d bytes" % (writes, len(text)))


class Pty(QuietCase):
    def pty(self, p):
        return p.wait_line(r"char device redirected to (/dev/pts/\d+)").group(1)

    def test_idle_pty_costs_no_wakeups(self):
        p = self.vm("-chardev", "pty,id=c", "-serial", "chardev:c")
        path = self.pty(p)
        # A client comes and goes.
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        time.sleep(0.3)
        os.close(fd)
        time.sleep(0.5)
        before = wakeups(p.proc.pid)
        time.sleep(2)
        idle = wakeups(p.proc.pid) - before
        # Re-polling every 200 ms was 10 wake-ups in these 2 s.
        self.assertLess(idle, 4, "%d wake-ups in 2 s with nobody on the "
                        "console" % idle)
        # The next client is heard at once.
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        self.addCleanup(os.close, fd)
        os.write(fd, b"k")
        deadline = time.monotonic() + 3
        while not p.qt.inb(COM1 + 5) & LSR_DR:
            self.assertLess(time.monotonic(), deadline,
                            "the console's input did not reach the UART")
            time.sleep(0.01)
        self.assertEqual(p.qt.inb(COM1), ord("k"))


if __name__ == "__main__":
    ktest.main()
