# SPDX-License-Identifier: GPL-2.0-or-later
"""The balloon under kestrel: memory goes back to the host, stats come out,
exactly as QEMU exposes them (test_balloon_qemu.py holds QEMU to the same
guest). The test guest in balloon mode touches all its memory first, so
the host's RSS is real, then follows the device's target."""

import os
import re
import time

import ktest
from ktest import TESTGUEST, Qmp

MiB = 1 << 20
BALLOON = r"TG BALLOON target=(\d+) actual=(\d+)"


def rss_bytes(pid):
    """Resident memory of @pid, guest RAM (a shared memfd) included."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS for pid %d" % pid)


class BalloonCase(ktest.TestCase):
    def start(self, mem=1024, device="virtio-balloon-pci,id=balloon0",
              append="tg.mode=balloon"):
        self.sock = os.path.join(self.tmp, "qmp.sock")
        argv = ["-nographic", "-m", str(mem), "-kernel", TESTGUEST,
                "-append", append, "-qmp",
                "unix:%s,server=on,wait=off" % self.sock]
        if device:
            argv += ["-device", device]
        p = self.kestrel(*argv)
        q = Qmp(self.sock)
        self.addCleanup(q.close)
        return p, q

    def wait_actual(self, q, want, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            actual = q.cmd("query-balloon")["actual"]
            if actual == want:
                return
            if time.monotonic() > deadline:
                raise AssertionError("balloon actual %d, want %d"
                                     % (actual, want))
            time.sleep(0.2)

    def wait_rss_below(self, pid, limit, timeout=30):
        deadline = time.monotonic() + timeout
        while rss_bytes(pid) > limit:
            if time.monotonic() > deadline:
                raise AssertionError("RSS %d MiB, want below %d MiB"
                                     % (rss_bytes(pid) // MiB, limit // MiB))
            time.sleep(0.2)


class Inflate(BalloonCase):
    def test_inflate_returns_memory_then_deflate(self):
        p, q = self.start()
        p.wait_line(r"TG READY mem=1024 .* mode=balloon", timeout=60)
        p.wait_line(BALLOON, timeout=60)        # driver up, balloon empty
        self.assertEqual(q.cmd("query-balloon"), {"actual": 1024 * MiB})
        before = rss_bytes(p.proc.pid)
        self.assertGreater(before, 900 * MiB, "the guest touched its RAM")

        q.cmd("balloon", {"value": 512 * MiB})
        self.wait_actual(q, 512 * MiB)
        m = p.wait_line(r"TG BALLOON target=131072 actual=131072",
                        timeout=30)
        self.assertTrue(m)
        # The host really got the memory back: at least 90% of 512 MiB.
        self.wait_rss_below(p.proc.pid, before - int(0.9 * 512 * MiB))
        ev = q.wait_event("BALLOON_CHANGE")
        self.assertIn("actual", ev["data"])

        n = len(p.lines)
        q.cmd("balloon", {"value": 1024 * MiB})
        self.wait_actual(q, 1024 * MiB)
        p.wait_line(r"TG BALLOON target=0 actual=0", timeout=30, start=n)
        self.assertFalse(any("TG ERROR" in l for l in p.lines), p.text())
        # The guest uses the memory again: it is back in our RSS.
        deadline = time.monotonic() + 30
        while rss_bytes(p.proc.pid) < before - 64 * MiB:
            self.assertLess(time.monotonic(), deadline,
                            "deflated memory was not used again")
            time.sleep(0.2)

    def test_balloon_change_rate_limited(self):
        p, q = self.start(mem=512)
        p.wait_line(BALLOON, timeout=60)
        t0 = time.monotonic()
        for mib in (448, 384, 320, 256):
            q.cmd("balloon", {"value": mib * MiB})
            time.sleep(0.1)
        self.wait_actual(q, 256 * MiB)
        time.sleep(2.5)
        q.cmd("query-status")               # collect pending events
        stamps = [e["timestamp"]["seconds"] + e["timestamp"]["microseconds"]
                  / 1e6 for e in q.events if e["event"] == "BALLOON_CHANGE"]
        self.assertGreaterEqual(len(stamps), 1)
        for a, b in zip(stamps, stamps[1:]):
            self.assertGreaterEqual(b - a, 0.95, stamps)
        # The last value wins.
        last = [e for e in q.events if e["event"] == "BALLOON_CHANGE"][-1]
        self.assertEqual(last["data"]["actual"], 256 * MiB)
        self.assertLess(time.monotonic() - t0, 60)


class GuestDriven(BalloonCase):
    START = (r"^TG BALLOON START pool=(\d+) stats=(\d) oom=(\d) "
             r"reporting=(\d)")

    def test_deflate_on_oom(self):
        # tg.pressure=768: once inflated to 512 MiB, the guest needs 768 MiB
        # more than it has free, and with DEFLATE_ON_OOM takes pages back.
        p, q = self.start(device="virtio-balloon-pci,id=balloon0,"
                                 "deflate-on-oom=on",
                          append="tg.mode=balloon tg.pressure=768")
        m = p.wait_line(self.START, timeout=60)
        self.assertEqual(m.group(3), "1", "DEFLATE_ON_OOM negotiated")
        pool = int(m.group(1))
        half = 512 * MiB // 4096
        want = 768 * MiB // 4096
        q.cmd("balloon", {"value": 512 * MiB})
        m = p.wait_line(r"^TG BALLOON OOM deflated=(\d+)$", timeout=30)
        deflated = int(m.group(1))
        self.assertEqual(deflated, want - (pool - half), p.text())
        p.wait_line(r"^TG BALLOON PRESSURE pages=%d short=0$" % want,
                    timeout=20)
        # The device saw the guest take them: actual is what is left.
        self.wait_actual(q, 1024 * MiB - (half - deflated) * 4096)

    def test_no_deflate_on_oom_without_the_feature(self):
        p, q = self.start(append="tg.mode=balloon tg.pressure=768")
        m = p.wait_line(self.START, timeout=60)
        self.assertEqual(m.group(3), "0")
        q.cmd("balloon", {"value": 512 * MiB})
        p.wait_line(r"^TG BALLOON PRESSURE pages=\d+ short=[1-9]", timeout=30)
        self.assertFalse([l for l in p.lines if "OOM" in l], p.text())
        self.assertEqual(q.cmd("query-balloon")["actual"], 512 * MiB)

    def test_free_page_reporting_shrinks_rss(self):
        # No QMP balloon command at all: the guest reports its free pages
        # and kestrel discards them.
        p, q = self.start(device="virtio-balloon-pci,id=balloon0,"
                                 "free-page-reporting=on")
        m = p.wait_line(self.START, timeout=60)
        self.assertEqual(m.group(4), "1", "FREE_PAGE_REPORTING negotiated")
        m = p.wait_line(r"^TG BALLOON REPORTED pages=(\d+)$", timeout=60)
        self.assertGreater(int(m.group(1)), 200 * MiB // 4096)
        self.wait_rss_below(p.proc.pid, 300 * MiB)
        self.assertEqual(q.cmd("query-balloon")["actual"], 1024 * MiB)


class Stats(BalloonCase):
    PATH = "/machine/peripheral/balloon0"

    def stats(self, q):
        return q.cmd("qom-get", {"path": self.PATH, "property": "guest-stats"})

    def test_guest_stats_follow_the_guest(self):
        p, q = self.start(mem=512)
        p.wait_line(BALLOON, timeout=60)
        r = q.execute("qom-get", {"path": self.PATH,
                                  "property": "guest-stats"})
        if "error" in r:
            self.assertEqual(r["error"]["desc"],
                             "guest hasn't updated any stats yet")
        q.cmd("qom-set", {"path": self.PATH,
                          "property": "guest-stats-polling-interval",
                          "value": 1})
        self.assertEqual(q.cmd("qom-get", {
            "path": self.PATH, "property": "guest-stats-polling-interval"}),
            1)
        deadline = time.monotonic() + 20
        while True:
            r = q.execute("qom-get", {"path": self.PATH,
                                      "property": "guest-stats"})
            if "return" in r and r["return"]["last-update"] > 0:
                break
            self.assertLess(time.monotonic(), deadline, r)
            time.sleep(0.3)
        first = r["return"]
        names = {"stat-swap-in", "stat-swap-out", "stat-major-faults",
                 "stat-minor-faults", "stat-free-memory",
                 "stat-total-memory", "stat-available-memory",
                 "stat-disk-caches", "stat-htlb-pgalloc",
                 "stat-htlb-pgfail"}
        self.assertEqual(set(first["stats"]), names)
        self.assertGreater(first["stats"]["stat-total-memory"], 256 * MiB)
        # Inflating changes what the guest has: the stats move.
        q.cmd("balloon", {"value": 256 * MiB})
        self.wait_actual(q, 256 * MiB)
        deadline = time.monotonic() + 20
        while True:
            now = self.stats(q)
            if (now["last-update"] > first["last-update"] and
                    now["stats"] != first["stats"]):
                break
            self.assertLess(time.monotonic(), deadline,
                            "stats did not change: %s" % now)
            time.sleep(0.3)
        r = q.execute("qom-set", {"path": self.PATH,
                                  "property": "guest-stats-polling-interval",
                                  "value": -1})
        self.assertEqual(r["error"]["desc"],
                         "timer value must be greater than zero")

    def test_no_balloon_device(self):
        p, q = self.start(mem=128, device=None, append="tg.mode=idle")
        for cmd, args in (("query-balloon", None),
                          ("balloon", {"value": 64 * MiB})):
            r = q.execute(cmd, args)
            self.assertEqual(r["error"], {
                "class": "DeviceNotActive",
                "desc": "No balloon device has been activated"})

    def test_balloon_value_must_be_positive(self):
        p, q = self.start(mem=128, append="tg.mode=idle")
        r = q.execute("balloon", {"value": 0})
        self.assertEqual(r["error"]["desc"],
                         "Parameter 'target' expects a size")


if __name__ == "__main__":
    ktest.main()
