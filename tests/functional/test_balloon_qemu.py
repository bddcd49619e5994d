# SPDX-License-Identifier: GPL-2.0-or-later
"""The test guest's balloon mode against QEMU's virtio-balloon-pci.

QEMU's device is the oracle for the guest's driver (TESTGUEST.md, balloon
mode): if these pass, the guest inflates, deflates, answers stats, deflates
on OOM and reports free pages the way QEMU expects, and kestrel's device can
be judged by the same guest. Machine pc (SeaBIOS assigns the BARs); -m 1024
so that the host-side effect (QEMU's RSS) dwarfs the noise.
"""

import os
import re
import time
import unittest

import ktest

MIB = 1 << 20
PAGE = 4096
MEM_MIB = 1024
RAM = MEM_MIB * MIB

START = (r"^TG BALLOON START pool=(\d+) stats=(\d) oom=(\d) reporting=(\d) "
         r"touch_ms=(\d+)$")
BALLOON_PATH = "/machine/peripheral/balloon0"


def qemu_usable():
    if not os.path.exists(ktest.QEMU):
        return "qemu-system-x86_64 is not installed"
    # Without /dev/kvm QEMU runs the guest under TCG (ktest.QEMU_ACCEL).
    if not os.path.exists(ktest.TESTGUEST):
        return "test guest %s is not built" % ktest.TESTGUEST
    return None


def shown(target, actual):
    return r"^TG BALLOON target=%d actual=%d$" % (target, actual)


@unittest.skipIf(qemu_usable(), qemu_usable())
class BalloonQemu(ktest.TestCase):

    def boot(self, device_opts="", append=""):
        """Start QEMU with the balloon; return (process, qmp, pool pages,
        START line groups) once the guest's driver is up."""
        sock = os.path.join(self.tmp, "qmp.sock")
        argv = [ktest.QEMU] + ktest.QEMU_ACCEL + ["-M", "pc", "-nodefaults",
                "-nographic", "-serial", "stdio", "-no-reboot",
                "-m", str(MEM_MIB), "-kernel", ktest.TESTGUEST,
                "-append", ("tg.mode=balloon " + append).strip(),
                "-device", "virtio-balloon-pci,id=balloon0" + device_opts,
                "-qmp", "unix:%s,server=on,wait=off" % sock]
        p = self.spawn(argv)
        m = p.wait_line(START, timeout=40)
        p.wait_line(shown(0, 0), timeout=10)
        qmp = ktest.Qmp(sock)
        self.addCleanup(qmp.close)
        return p, qmp, int(m.group(1)), m.groups()

    def rss_kib(self, p, key="VmRSS"):
        with open("/proc/%d/status" % p.proc.pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        self.fail("no %s for QEMU" % key)

    def wait_rss(self, p, ok, timeout=10):
        """Poll QEMU's RSS until ok(kib) holds; return the last value."""
        deadline = time.monotonic() + timeout
        while True:
            kib = self.rss_kib(p)
            if ok(kib) or time.monotonic() > deadline:
                return kib
            time.sleep(0.1)

    def stats(self, qmp):
        return qmp.cmd("qom-get", {"path": BALLOON_PATH,
                                   "property": "guest-stats"})

    def wait_stats(self, qmp, ok, timeout=20):
        """Poll guest-stats until ok(stats dict) holds; return it."""
        deadline = time.monotonic() + timeout
        while True:
            s = self.stats(qmp)
            if s["last-update"] and ok(s["stats"]):
                return s["stats"]
            if time.monotonic() > deadline:
                self.fail("guest stats never matched: %s" % s)
            time.sleep(0.2)

    def actual_pages(self, qmp):
        """query-balloon's logical size, as balloon pages."""
        return (RAM - qmp.cmd("query-balloon")["actual"]) // PAGE

    def powerdown(self, p, qmp):
        qmp.cmd("system_powerdown")
        p.wait_line(r"^TG POWERBUTTON$", timeout=10)
        self.assertEqual(p.wait_exit(timeout=10), 0, p.text())
        self.assertFalse([ln for ln in p.lines if "TG ERROR" in ln], p.text())

    def test_inflate_deflate_stats_rss(self):
        p, qmp, pool, start = self.boot()
        # QEMU always offers STATS_VQ; the other two are off by default.
        self.assertEqual(start[1:4], ("1", "0", "0"), p.text())
        # The guest touched everything: QEMU's RSS is the whole RAM.
        rss_full = self.rss_kib(p)
        self.assertGreater(rss_full, (MEM_MIB - 100) * 1024, p.text())

        qmp.cmd("qom-set", {"path": BALLOON_PATH,
                            "property": "guest-stats-polling-interval",
                            "value": 1})
        before = self.wait_stats(qmp, lambda s: True)
        self.assertEqual(before["stat-free-memory"], pool * PAGE)
        self.assertEqual(before["stat-available-memory"], pool * PAGE)
        self.assertEqual(before["stat-total-memory"] // MIB, MEM_MIB - 1)
        self.assertEqual(before["stat-swap-in"], 0)
        self.assertEqual(before["stat-swap-out"], 0)
        self.assertEqual(before["stat-minor-faults"], pool)

        # Inflate to a 512 MiB guest: 131072 pages of 4 KiB.
        half = (MEM_MIB // 2) * MIB // PAGE
        t0 = time.monotonic()
        qmp.cmd("balloon", {"value": RAM // 2})
        p.wait_line(shown(half, half), timeout=20)
        inflate_s = time.monotonic() - t0
        m = p.wait_line(r"^TG BALLOON INFLATE pages=(\d+) us=(\d+)$")
        self.assertEqual(int(m.group(1)), half, p.text())
        inflate_us = int(m.group(2))
        self.assertEqual(qmp.cmd("query-balloon"), {"actual": RAM // 2})
        # QEMU discarded the inflated pages: about 512 MiB fewer resident.
        rss_half = self.wait_rss(p, lambda k: k < rss_full - 450 * 1024)
        self.assertLess(rss_half, rss_full - 450 * 1024,
                        "RSS %d KiB -> %d KiB" % (rss_full, rss_half))
        # The guest's next report after the inflation (an earlier one may
        # still show it half done, under TCG's slower pace).
        after = self.wait_stats(
            qmp, lambda s: s["stat-free-memory"] == (pool - half) * PAGE)
        self.assertEqual(after["stat-free-memory"], (pool - half) * PAGE)
        self.assertEqual(after["stat-total-memory"],
                         before["stat-total-memory"] - half * PAGE)

        # Back to the whole RAM: the guest deflates and uses the pages.
        t0 = time.monotonic()
        mark = len(p.lines)
        qmp.cmd("balloon", {"value": RAM})
        p.wait_line(shown(0, 0), timeout=20, start=mark)
        deflate_s = time.monotonic() - t0
        m = p.wait_line(r"^TG BALLOON DEFLATE pages=(\d+) us=(\d+)$",
                        start=mark)
        self.assertEqual(int(m.group(1)), half, p.text())
        deflate_us = int(m.group(2))
        self.assertEqual(qmp.cmd("query-balloon"), {"actual": RAM})
        rss_back = self.wait_rss(p, lambda k: k > rss_full - 50 * 1024)
        self.assertGreater(rss_back, rss_full - 50 * 1024,
                           "RSS %d KiB -> %d KiB" % (rss_half, rss_back))
        again = self.wait_stats(
            qmp, lambda s: s["stat-free-memory"] == pool * PAGE)
        self.assertEqual(again["stat-minor-faults"], pool + half)
        print("# 512 MiB: inflate %.2f s (guest %.2f s), deflate %.2f s "
              "(guest %.2f s); RSS %d -> %d -> %d MiB"
              % (inflate_s, inflate_us / 1e6, deflate_s, deflate_us / 1e6,
                 rss_full // 1024, rss_half // 1024, rss_back // 1024),
              flush=True)
        self.powerdown(p, qmp)

    def test_deflate_on_oom(self):
        # tg.pressure=768: after inflating to 512 MiB, the guest wants
        # 768 MiB more than it has free and takes the difference back.
        p, qmp, pool, start = self.boot(",deflate-on-oom=on",
                                        "tg.pressure=768")
        self.assertEqual(start[1:4], ("1", "1", "0"), p.text())
        half = (MEM_MIB // 2) * MIB // PAGE
        want = 768 * MIB // PAGE
        qmp.cmd("balloon", {"value": RAM // 2})
        p.wait_line(shown(half, half), timeout=20)
        deflated = want - (pool - half)
        m = p.wait_line(r"^TG BALLOON OOM deflated=(\d+)$", timeout=20)
        self.assertEqual(int(m.group(1)), deflated, p.text())
        p.wait_line(r"^TG BALLOON PRESSURE pages=%d short=0$" % want)
        p.wait_line(shown(half, half - deflated), timeout=5)
        self.assertEqual(self.actual_pages(qmp), half - deflated)
        # The target stays; the guest has no free page to go back with.
        p.collect(0.5)
        self.assertEqual(self.actual_pages(qmp), half - deflated)
        self.powerdown(p, qmp)

    def test_pressure_without_deflate_on_oom(self):
        # Without the feature the balloon is the host's: the guest makes
        # do with its free pages.
        p, qmp, pool, start = self.boot("", "tg.pressure=768")
        self.assertEqual(start[1:4], ("1", "0", "0"), p.text())
        half = (MEM_MIB // 2) * MIB // PAGE
        want = 768 * MIB // PAGE
        qmp.cmd("balloon", {"value": RAM // 2})
        p.wait_line(shown(half, half), timeout=20)
        p.wait_line(r"^TG BALLOON PRESSURE pages=%d short=%d$"
                    % (pool - half, want - (pool - half)), timeout=20)
        self.assertFalse([ln for ln in p.lines if "OOM" in ln], p.text())
        self.assertEqual(self.actual_pages(qmp), half)
        self.powerdown(p, qmp)

    def test_free_page_reporting(self):
        # No balloon command at all: the guest reports its free memory
        # after touching it, and QEMU discards it.
        p, qmp, pool, start = self.boot(",free-page-reporting=on")
        self.assertEqual(start[1:4], ("1", "0", "1"), p.text())
        m = p.wait_line(r"^TG BALLOON REPORTED pages=(\d+)$", timeout=20)
        self.assertEqual(int(m.group(1)), pool, p.text())
        self.assertGreater(self.rss_kib(p, "VmHWM"), (MEM_MIB - 100) * 1024)
        rss = self.wait_rss(p, lambda k: k < 300 * 1024)
        self.assertLess(rss, 300 * 1024, "RSS %d KiB after reporting" % rss)
        self.assertEqual(self.actual_pages(qmp), 0)
        self.assertFalse([ln for ln in p.lines
                          if re.match(r"^TG BALLOON target=[1-9]", ln)])
        self.powerdown(p, qmp)


if __name__ == "__main__":
    ktest.main()
