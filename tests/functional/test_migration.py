#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Live migration between kestrel processes, driven by QEMU's QMP.

Two families:
- Machine-level tests under -accel qtest (QEMU's test accelerator): the
  machine is complete (RAM, board devices, -device) but no vCPU runs, and
  the test writes guest memory and device registers itself through the
  qtest protocol, also while the migration runs, so pre-copy's dirty
  tracking is exercised for real. These need no /dev/kvm.
- Guest tests: the test guest dirtying memory on every vCPU moves to a
  second kestrel and goes on verifying its pages. These need /dev/kvm.
"""

import json
import os
import re
import signal
import socket
import subprocess
import time

import ktest
from ktest import KESTREL, TESTGUEST, Qmp, Qtest

PAGE = 4096
BULK = 0x1000000                # 16 MiB: bulk data, apart from the checked pages


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1]) * 1024
    return 0


def pattern(page, gen):
    """A page whose bytes say which page and which generation it is."""
    head = b"KESTREL page %08d gen %06d " % (page, gen)
    return (head * (PAGE // len(head) + 1))[:PAGE]


class MigCase(ktest.TestCase):
    """Start kestrel VMs with a QMP socket (and a qtest socket)."""

    def vm(self, name, mem=256, extra=(), qtest=True, incoming=None,
           smp=None, guest=None, wait_qmp=True):
        qmp = os.path.join(self.tmp, name + ".qmp")
        argv = [KESTREL, "-nodefaults", "-display", "none", "-m", str(mem),
                "-serial", "null", "-qmp", "unix:%s,server=on,wait=off" % qmp]
        if qtest:
            qt = os.path.join(self.tmp, name + ".qtest")
            argv += ["-accel", "qtest", "-qtest",
                     "unix:%s,server=on,wait=off" % qt]
        if guest is not None:
            argv = [KESTREL, "-nographic", "-m", str(mem), "-kernel",
                    TESTGUEST, "-append", guest, "-qmp",
                    "unix:%s,server=on,wait=off" % qmp]
        if smp:
            argv += ["-smp", str(smp)]
        if incoming:
            argv += ["-incoming", incoming]
        argv += list(extra)
        p = self.spawn(argv)
        p.qmp = Qmp(qmp) if wait_qmp else None
        p.qt = Qtest(qt) if qtest and wait_qmp else None
        return p

    def port(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        return port

    def wait_status(self, q, want, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            info = q.cmd("query-migrate")
            if info.get("status") in want:
                return info
            if time.monotonic() > deadline:
                raise AssertionError("migration status %s, wanted %s"
                                     % (info, want))
            time.sleep(0.05)

    def wait_exit(self, p, timeout=30):
        try:
            rc = p.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("kestrel did not exit: " + p.text())
        p.drain()
        return rc

    def status(self, q):
        return q.cmd("query-status")["status"]

    def fill(self, qt, pages, gen, base=0x100000):
        for i in pages:
            qt.write(base + i * PAGE, pattern(i, gen))

    def check(self, qt, pages, gen, base=0x100000):
        for i in pages:
            got = qt.read(base + i * PAGE, PAGE)
            self.assertEqual(got, pattern(i, gen),
                             "page %d is not generation %d" % (i, gen))


class Tcp(MigCase):
    def test_tcp_with_writes_during_migration(self):
        port = self.port()
        src = self.vm("src", mem=256)
        dst = self.vm("dst", mem=256, incoming="tcp:127.0.0.1:%d" % port)
        self.assertEqual(self.status(dst.qmp), "inmigrate")
        pages = range(0, 2048, 3)
        self.fill(src.qt, pages, 1)
        src.qmp.cmd("migrate-set-capabilities", {"capabilities": [
            {"capability": "events", "state": True}]})
        # Slow enough for several passes: the test dirties pages meanwhile.
        src.qmp.cmd("migrate-set-parameters", {"max-bandwidth": 4 << 20})
        src.qmp.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % port})
        self.wait_status(src.qmp, ("active",))
        rewritten = range(1, 2048, 7)
        self.fill(src.qt, rewritten, 2)
        src.qmp.cmd("migrate-set-parameters", {"max-bandwidth": 0})
        info = self.wait_status(src.qmp, ("completed", "failed"))
        self.assertEqual(info["status"], "completed", info)
        self.assertEqual(self.status(src.qmp), "postmigrate")
        self.assertEqual(self.status(dst.qmp), "running")
        ram = info["ram"]
        self.assertEqual(ram["total"], 256 << 20)
        self.assertEqual(ram["page-size"], PAGE)
        self.assertGreaterEqual(ram["dirty-sync-count"], 2)
        self.assertEqual(ram["remaining"], 0)
        self.assertGreater(ram["transferred"], len(pages) * PAGE)
        # Holes stay holes: far less than 256 MiB crossed the wire.
        self.assertLess(ram["transferred"], 64 << 20)
        self.assertLessEqual(info["downtime"], 300)
        for k in ("total-time", "setup-time", "downtime"):
            self.assertIn(k, info)
        self.check(dst.qt, [p for p in pages if p not in rewritten], 1)
        self.check(dst.qt, rewritten, 2)
        # ... and the destination did not allocate what was never written
        self.assertLess(rss_bytes(dst.proc.pid), 48 << 20)
        events = [e["data"]["status"] for e in src.qmp.events
                  if e["event"] == "MIGRATION"]
        self.assertEqual(events[:2], ["setup", "active"])
        src.qmp.wait_event("STOP")
        self.assertTrue(any(e["event"] == "MIGRATION_PASS"
                            for e in src.qmp.events))
        dst.qmp.wait_event("RESUME")
        # The source can't migrate again from postmigrate (QEMU's text).
        r = src.qmp.execute("migrate", {"uri": "tcp:127.0.0.1:1"})
        self.assertEqual(r["error"]["desc"],
                         "Can't migrate the vm that was paused due to "
                         "previous migration")

    def test_multifd(self):
        for channels, comp in ((1, "none"), (4, "none"), (3, "zstd")):
            port = self.port()
            src = self.vm("src%d" % channels, mem=128)
            dst = self.vm("dst%d" % channels, mem=128,
                          incoming="tcp:127.0.0.1:%d" % port)
            pages = range(0, 16384, 3)
            self.fill(src.qt, pages[:200], 1)
            src.qmp.cmd("migrate-set-capabilities", {"capabilities": [
                {"capability": "multifd", "state": True}]})
            src.qmp.cmd("migrate-set-parameters", {
                "multifd-channels": channels, "multifd-compression": comp,
                "max-bandwidth": 2 << 20})
            src.qmp.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % port})
            self.wait_status(src.qmp, ("active",))
            self.fill(src.qt, pages[100:300], 2)
            src.qmp.cmd("migrate-set-parameters", {"max-bandwidth": 0})
            info = self.wait_status(src.qmp, ("completed", "failed"))
            self.assertEqual(info["status"], "completed", info)
            self.assertGreater(info["ram"]["multifd-bytes"], 0)
            self.wait_status(dst.qmp, ("completed",))
            self.check(dst.qt, pages[:100], 1)
            self.check(dst.qt, pages[100:300], 2)
            if comp == "zstd":
                # the patterns compress well: far fewer bytes than pages
                self.assertLess(info["ram"]["multifd-bytes"],
                                info["ram"]["normal-bytes"] // 4)
            src.qmp.cmd("quit")
            dst.qmp.cmd("quit")

    def test_auto_converge_throttles(self):
        """A writer that outruns the link gets throttled, then the
        migration converges once it lets up."""
        import threading
        port = self.port()
        src = self.vm("src", mem=128)
        dst = self.vm("dst", mem=128, incoming="tcp:127.0.0.1:%d" % port)
        src.qmp.cmd("migrate-set-capabilities", {"capabilities": [
            {"capability": "auto-converge", "state": True}]})
        src.qmp.cmd("migrate-set-parameters", {"max-bandwidth": 1 << 20,
                                               "cpu-throttle-initial": 30,
                                               "cpu-throttle-increment": 20})
        stop = threading.Event()
        qt = Qtest(os.path.join(self.tmp, "src.qtest"))

        def writer():
            value = 1
            while not stop.is_set():
                qt.cmd("memset 0x%x %d %d" % (BULK, 2 << 20, value))
                value = value % 255 + 1
                time.sleep(0.05)
        qt.cmd("memset 0x%x %d %d" % (BULK, 2 << 20, 255))
        t = threading.Thread(target=writer)
        t.start()
        try:
            src.qmp.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % port})
            deadline = time.monotonic() + 60
            seen = 0
            while time.monotonic() < deadline and not seen:
                info = src.qmp.cmd("query-migrate")
                seen = info.get("cpu-throttle-percentage", 0)
                time.sleep(0.1)
        finally:
            stop.set()
            t.join()
        self.assertGreaterEqual(seen, 30, info)
        src.qmp.cmd("migrate-set-parameters", {"max-bandwidth": 0})
        info = self.wait_status(src.qmp, ("completed", "failed"))
        self.assertEqual(info["status"], "completed", info)
        self.assertNotIn("cpu-throttle-percentage", info)
        self.wait_status(dst.qmp, ("completed",))
        self.assertEqual(dst.qt.read(BULK, 16), qt.read(BULK, 16))

    def test_multifd_needs_a_socket(self):
        src = self.vm("src", mem=64)
        src.qmp.cmd("migrate-set-capabilities", {"capabilities": [
            {"capability": "multifd", "state": True}]})
        r = src.qmp.execute("migrate", {"uri": "file:" + os.path.join(
            self.tmp, "x")})
        self.assertEqual(r["error"]["desc"],
                         "multifd needs a tcp: or unix: migration URI (its "
                         "channels are extra connections to the same "
                         "address)")

    def test_device_state_travels(self):
        port = self.port()
        src = self.vm("src", mem=64)
        dst = self.vm("dst", mem=64, incoming="tcp:127.0.0.1:%d" % port)
        src.qt.outb(0x3ff, 0x5a)            # COM1 scratch register
        src.qt.outb(0x3fb, 0x1b)            # line control: 8 bits, 2 stop...
        src.qt.outb(0x70, 0x40)             # CMOS NVRAM byte 0x40
        src.qt.outb(0x71, 0xa7)
        src.qmp.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % port})
        self.wait_status(src.qmp, ("completed",))
        self.wait_status(dst.qmp, ("completed",))
        self.assertEqual(dst.qt.inb(0x3ff), 0x5a)
        self.assertEqual(dst.qt.inb(0x3fb), 0x1b)
        dst.qt.outb(0x70, 0x40)
        self.assertEqual(dst.qt.inb(0x71), 0xa7)

    def test_destination_with_dash_S_stays_paused(self):
        port = self.port()
        src = self.vm("src", mem=64)
        dst = self.vm("dst", mem=64, extra=["-S"],
                      incoming="tcp:127.0.0.1:%d" % port)
        src.qmp.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % port})
        self.wait_status(src.qmp, ("completed",))
        self.wait_status(dst.qmp, ("completed",))
        self.assertEqual(self.status(dst.qmp), "paused")
        dst.qmp.cmd("cont")
        self.assertEqual(self.status(dst.qmp), "running")

    def test_ping_pong(self):
        """A to B to A to B, each leg a fresh process, data intact."""
        pages = range(0, 512, 5)
        prev = self.vm("a0", mem=64)
        self.fill(prev.qt, pages, 1)
        for leg in range(3):
            port = self.port()
            nxt = self.vm("leg%d" % leg, mem=64,
                          incoming="tcp:127.0.0.1:%d" % port)
            prev.qmp.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % port})
            self.wait_status(prev.qmp, ("completed",))
            self.wait_status(nxt.qmp, ("completed",))
            self.check(nxt.qt, pages, leg + 1)
            self.fill(nxt.qt, pages, leg + 2)
            prev.qmp.cmd("quit")
            prev = nxt


class Channels(MigCase):
    def test_unix(self):
        path = os.path.join(self.tmp, "mig.sock")
        src = self.vm("src", mem=64)
        dst = self.vm("dst", mem=64, incoming="unix:" + path)
        self.fill(src.qt, range(10), 3)
        src.qmp.cmd("migrate", {"uri": "unix:" + path})
        self.wait_status(src.qmp, ("completed",))
        self.wait_status(dst.qmp, ("completed",))
        self.check(dst.qt, range(10), 3)
        # The listening socket is gone once the migration is in.
        self.assertFalse(os.path.exists(path))

    def test_defer_and_migrate_incoming(self):
        port = self.port()
        src = self.vm("src", mem=64)
        dst = self.vm("dst", mem=64, incoming="defer")
        self.assertEqual(dst.qmp.cmd("query-migrate"), {})
        dst.qmp.cmd("migrate-incoming", {"uri": "tcp:127.0.0.1:0"})
        addr = dst.qmp.cmd("query-migrate")["socket-address"][0]
        self.assertEqual(addr["type"], "inet")
        self.assertEqual(addr["host"], "127.0.0.1")
        r = dst.qmp.execute("migrate-incoming", {"uri": "tcp:127.0.0.1:0"})
        self.assertEqual(r["error"]["desc"],
                         "The incoming migration has already been started")
        self.fill(src.qt, range(4), 9)
        src.qmp.cmd("migrate", {"uri": "tcp:127.0.0.1:" + addr["port"]})
        self.wait_status(src.qmp, ("completed",))
        self.wait_status(dst.qmp, ("completed",))
        self.check(dst.qt, range(4), 9)
        del port

    def test_file_save_and_restore(self):
        path = os.path.join(self.tmp, "vm.state")
        src = self.vm("src", mem=128)
        self.fill(src.qt, range(0, 300, 2), 4)
        src.qmp.cmd("stop")
        src.qmp.cmd("migrate", {"uri": "file:" + path})
        self.wait_status(src.qmp, ("completed",))
        self.assertEqual(self.status(src.qmp), "postmigrate")
        size = os.path.getsize(path)
        self.assertLess(size, 4 << 20)      # holes are not in the file
        dst = self.vm("dst", mem=128, incoming="file:" + path)
        self.wait_status(dst.qmp, ("completed",))
        self.check(dst.qt, range(0, 300, 2), 4)

    def test_exec(self):
        path = os.path.join(self.tmp, "vm.exec")
        src = self.vm("src", mem=64)
        self.fill(src.qt, range(8), 5)
        src.qmp.cmd("migrate", {"uri": "exec:cat > '%s'" % path})
        self.wait_status(src.qmp, ("completed",))
        dst = self.vm("dst", mem=64, incoming="exec:cat '%s'" % path)
        self.wait_status(dst.qmp, ("completed",))
        self.check(dst.qt, range(8), 5)

    def test_fd_with_getfd(self):
        src = self.vm("src", mem=64)
        self.fill(src.qt, range(6), 6)
        a, b = socket.socketpair()
        qmp = os.path.join(self.tmp, "dst.qmp")
        dst = self.spawn([KESTREL, "-nodefaults", "-display", "none",
                          "-m", "64", "-serial", "null", "-accel", "qtest",
                          "-qtest",
                          "unix:%s,server=on,wait=off"
                          % os.path.join(self.tmp, "dst.qtest"),
                          "-qmp", "unix:%s,server=on,wait=off" % qmp,
                          "-incoming", "fd:%d" % b.fileno()],
                         pass_fds=[b.fileno()])
        b.close()
        dst.qmp = Qmp(qmp)
        dst.qt = Qtest(os.path.join(self.tmp, "dst.qtest"))
        # getfd: the descriptor rides on the command with SCM_RIGHTS.
        msg = json.dumps({"execute": "getfd",
                          "arguments": {"fdname": "mig"}}).encode()
        socket.send_fds(src.qmp.sock, [msg + b"\r\n"], [a.fileno()])
        self.assertEqual(src.qmp.reply(), {"return": {}})
        a.close()
        r = src.qmp.execute("getfd", {"fdname": "other"})
        self.assertEqual(r["error"]["desc"],
                         "No file descriptor supplied via SCM_RIGHTS")
        src.qmp.cmd("migrate", {"uri": "fd:mig"})
        self.wait_status(src.qmp, ("completed",))
        self.wait_status(dst.qmp, ("completed",))
        self.check(dst.qt, range(6), 6)
        r = src.qmp.execute("closefd", {"fdname": "mig"})
        self.assertEqual(r["error"]["desc"],
                         "File descriptor named 'mig' not found")


class Failures(MigCase):
    """Whatever goes wrong, the source keeps its VM, unchanged."""

    def assert_source_intact(self, src, pages, gen):
        self.assertEqual(self.status(src.qmp), "running")
        self.check(src.qt, pages, gen)
        # ... and it can still migrate.
        port = self.port()
        dst = self.vm("again", mem=src.mem,
                      incoming="tcp:127.0.0.1:%d" % port)
        src.qmp.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % port})
        self.wait_status(src.qmp, ("completed",))
        self.wait_status(dst.qmp, ("completed",))
        self.check(dst.qt, pages, gen)

    def source(self, mem=64):
        src = self.vm("src", mem=mem)
        src.mem = mem
        self.fill(src.qt, range(0, 64, 3), 7)
        return src

    def test_destination_memory_differs(self):
        port = self.port()
        src = self.source()
        dst = self.vm("dst", mem=128, incoming="tcp:127.0.0.1:%d" % port)
        src.qmp.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % port})
        info = self.wait_status(src.qmp, ("failed",))
        self.assertIn("the source VM has 64 MiB of RAM, this one has 128 "
                      "MiB: start it with the same -m", info["error-desc"])
        self.assertEqual(self.wait_exit(dst), 1)
        self.assertTrue(any("load of migration failed" in ln
                            for ln in dst.lines), dst.text())
        self.assert_source_intact(src, range(0, 64, 3), 7)

    def test_destination_smp_differs(self):
        port = self.port()
        src = self.source()
        dst = self.vm("dst", mem=64, smp=2,
                      incoming="tcp:127.0.0.1:%d" % port)
        src.qmp.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % port})
        info = self.wait_status(src.qmp, ("failed",))
        self.assertIn("the source VM has 1 vCPUs, this one has 2: start it "
                      "with the same -smp", info["error-desc"])
        self.assertEqual(self.wait_exit(dst), 1)
        self.assert_source_intact(src, range(0, 64, 3), 7)

    def test_destination_device_set_differs(self):
        port = self.port()
        src = self.source()
        dst = self.vm("dst", mem=64, incoming="tcp:127.0.0.1:%d" % port,
                      extra=["-device", "virtio-balloon-pci,id=b0"])
        src.qmp.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % port})
        info = self.wait_status(src.qmp, ("failed",))
        self.assertIn("device 0 differs", info["error-desc"])
        self.assertEqual(self.wait_exit(dst), 1)
        self.assert_source_intact(src, range(0, 64, 3), 7)

    def test_cancel(self):
        port = self.port()
        src = self.source(mem=128)
        self.fill(src.qt, range(0, 8192, 2), 8, base=BULK)
        dst = self.vm("dst", mem=128, incoming="tcp:127.0.0.1:%d" % port)
        src.qmp.cmd("migrate-set-capabilities", {"capabilities": [
            {"capability": "events", "state": True}]})
        src.qmp.cmd("migrate-set-parameters", {"max-bandwidth": 1 << 20})
        src.qmp.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % port})
        self.wait_status(src.qmp, ("active",))
        src.qmp.cmd("migrate_cancel")
        self.wait_status(src.qmp, ("cancelled",))
        self.assertEqual(self.wait_exit(dst), 1)
        src.qmp.cmd("migrate-set-parameters", {"max-bandwidth": 0})
        self.check(src.qt, range(0, 8192, 2), 8, base=BULK)
        self.assert_source_intact(src, range(0, 64, 3), 7)

    def test_destination_killed(self):
        port = self.port()
        src = self.source(mem=128)
        self.fill(src.qt, range(0, 8192, 2), 8, base=BULK)
        dst = self.vm("dst", mem=128, incoming="tcp:127.0.0.1:%d" % port)
        src.qmp.cmd("migrate-set-parameters", {"max-bandwidth": 1 << 20})
        src.qmp.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % port})
        self.wait_status(src.qmp, ("active",))
        os.kill(dst.proc.pid, signal.SIGKILL)
        info = self.wait_status(src.qmp, ("failed",))
        self.assertIn("error-desc", info)
        src.qmp.cmd("migrate-set-parameters", {"max-bandwidth": 0})
        self.assert_source_intact(src, range(0, 64, 3), 7)

    def test_destination_terminated_midway(self):
        """SIGTERM ends a destination promptly even with multifd channels
        blocked in reads; the source keeps its VM."""
        port = self.port()
        src = self.source(mem=128)
        self.fill(src.qt, range(0, 8192, 2), 8, base=BULK)
        dst = self.vm("dst", mem=128, incoming="tcp:127.0.0.1:%d" % port)
        src.qmp.cmd("migrate-set-capabilities", {"capabilities": [
            {"capability": "multifd", "state": True}]})
        src.qmp.cmd("migrate-set-parameters", {"max-bandwidth": 1 << 20})
        src.qmp.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % port})
        self.wait_status(src.qmp, ("active",))
        time.sleep(0.5)
        os.kill(dst.proc.pid, signal.SIGTERM)
        self.assertEqual(self.wait_exit(dst, timeout=10), 0)
        self.wait_status(src.qmp, ("failed",))
        src.qmp.cmd("migrate-set-capabilities", {"capabilities": [
            {"capability": "multifd", "state": False}]})
        src.qmp.cmd("migrate-set-parameters", {"max-bandwidth": 0})
        self.assert_source_intact(src, range(0, 64, 3), 7)

    def test_garbage_connection(self):
        """Whatever connects first is the stream: garbage ends the
        destination with a clear error, not a crash or a hang."""
        port = self.port()
        dst = self.vm("dst", mem=64, incoming="tcp:127.0.0.1:%d" % port)
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET / HTTP/1.0\r\n\r\n" + os.urandom(4096))
        s.close()
        self.assertEqual(self.wait_exit(dst), 1)
        self.assertIn("load of migration failed: not a kestrel migration "
                      "stream (bad magic)", dst.text())

    def test_cancel_with_stalled_destination(self):
        """A destination that stops reading (SIGSTOP) blocks every
        channel's writes; migrate_cancel still ends it at once."""
        for multifd in (False, True):
            port = self.port()
            src = self.vm("src%d" % multifd, mem=256)
            src.mem = 256
            for off in range(0, 96 << 20, 16 << 20):
                src.qt.cmd("memset 0x%x %d %d" % (BULK + off, 16 << 20,
                                                  off // (16 << 20) + 1))
            dst = self.vm("dst%d" % multifd, mem=256,
                          incoming="tcp:127.0.0.1:%d" % port)
            src.qmp.cmd("migrate-set-capabilities", {"capabilities": [
                {"capability": "multifd", "state": multifd}]})
            src.qmp.cmd("migrate-set-parameters", {"max-bandwidth": 0})
            os.kill(dst.proc.pid, signal.SIGSTOP)
            src.qmp.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % port})
            self.wait_status(src.qmp, ("active",))
            time.sleep(1)
            t0 = time.monotonic()
            src.qmp.cmd("migrate_cancel")
            self.wait_status(src.qmp, ("cancelled",), timeout=10)
            self.assertLess(time.monotonic() - t0, 10)
            self.assertEqual(self.status(src.qmp), "running")
            os.kill(dst.proc.pid, signal.SIGCONT)
            dst.kill()
            src.qmp.cmd("quit")

    def test_migrated_vm_migrates_on_and_cancels(self):
        """A VM that came in by migration is a source like any other: its
        query-migrate shows the figures, live, and migrate_cancel works."""
        port = self.port()
        src = self.source(mem=128)
        mid = self.vm("mid", mem=128, incoming="tcp:127.0.0.1:%d" % port)
        src.qmp.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % port})
        self.wait_status(mid.qmp, ("completed",))
        for off in (0, 16 << 20):
            mid.qt.cmd("memset 0x%x %d 7" % (BULK + off, 16 << 20))
        port = self.port()
        dst = self.vm("dst", mem=128, incoming="tcp:127.0.0.1:%d" % port)
        mid.qmp.cmd("migrate-set-parameters", {"max-bandwidth": 4 << 20})
        mid.qmp.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % port})
        self.wait_status(mid.qmp, ("active",))
        time.sleep(1.5)
        info = mid.qmp.cmd("query-migrate")
        self.assertEqual(info["status"], "active", info)
        self.assertGreater(info["ram"]["transferred"], 1 << 20, info)
        mid.qmp.cmd("migrate_cancel")
        self.wait_status(mid.qmp, ("cancelled",), timeout=10)
        self.assertEqual(self.status(mid.qmp), "running")
        self.assertEqual(self.wait_exit(dst), 1)

    def test_exec_command_fails(self):
        """exec: is complete only when its command succeeded."""
        src = self.source()
        src.qmp.cmd("migrate", {"uri": "exec:cat > /dev/null; exit 3"})
        info = self.wait_status(src.qmp, ("failed", "completed"))
        self.assertEqual(info.get("error-desc"),
                         "the exec: command exited with status 3")
        self.assert_source_intact(src, range(0, 64, 3), 7)

    def test_nobody_listening(self):
        src = self.source()
        src.qmp.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % self.port()})
        info = self.wait_status(src.qmp, ("failed",))
        self.assertRegex(info["error-desc"],
                         r"^Failed to connect to '127.0.0.1:\d+': "
                         r"Connection refused$")
        self.assert_source_intact(src, range(0, 64, 3), 7)

    def corrupt_file(self, patch):
        path = os.path.join(self.tmp, "vm.state")
        src = self.source()
        src.qmp.cmd("migrate", {"uri": "file:" + path})
        self.wait_status(src.qmp, ("completed",))
        with open(path, "r+b") as f:
            data = bytearray(f.read())
            patch(data)
            f.seek(0)
            f.write(data)
            f.truncate()
        dst = self.vm("dst", mem=64, incoming="file:" + path,
                      wait_qmp=False)
        self.assertEqual(self.wait_exit(dst), 1)
        return dst.text()

    def test_corrupted_page(self):
        def flip(d):
            i = d.find(b"KESTREL page 00000003")
            d[i + 5] ^= 0x20
        out = self.corrupt_file(flip)
        self.assertIn("load of migration failed: migration stream: "
                      "checksum mismatch in a ram section (the stream is "
                      "corrupted)", out)

    def test_unknown_section(self):
        def retype(d):
            d[16] = 0x63                    # the first record's type
        out = self.corrupt_file(retype)
        self.assertIn("migration stream: unknown section type 99", out)

    def test_truncated(self):
        out = self.corrupt_file(lambda d: d.__delitem__(
            slice(len(d) // 2, len(d))))
        self.assertIn("migration stream ended early", out)

    def test_not_a_stream(self):
        out = self.corrupt_file(lambda d: d.__setitem__(slice(0, 8),
                                                        b"QEVM\0\0\0\3"))
        self.assertIn("not a kestrel migration stream (bad magic)", out)


class Commands(MigCase):
    """QMP behaviour and error texts, as QEMU 7.2's."""

    def test_parameters_and_capabilities(self):
        src = self.vm("src", mem=64)
        q = src.qmp
        p = q.cmd("query-migrate-parameters")
        self.assertEqual(p["downtime-limit"], 300)
        self.assertEqual(p["max-bandwidth"], 134217728)
        self.assertEqual(p["multifd-channels"], 2)
        self.assertEqual(p["multifd-compression"], "none")
        q.cmd("migrate-set-parameters", {"downtime-limit": 100,
                                         "max-bandwidth": 1 << 30})
        p = q.cmd("query-migrate-parameters")
        self.assertEqual((p["downtime-limit"], p["max-bandwidth"]),
                         (100, 1 << 30))
        for args, text in [
                ({"downtime-limit": 3000000},
                 "Parameter 'downtime_limit' expects an integer in the "
                 "range of 0 to (2000 * 1000) ms"),
                ({"cpu-throttle-initial": 0},
                 "Parameter 'cpu_throttle_initial' expects an integer in "
                 "the range of 1 to 99"),
                ({"multifd-channels": 0},
                 "Parameter 'multifd_channels' expects a value between 1 "
                 "and 255"),
                ({"throttle-trigger-threshold": 0},
                 "Parameter 'throttle_trigger_threshold' expects an integer"
                 " in the range of 1 to 100")]:
            r = q.execute("migrate-set-parameters", args)
            self.assertEqual(r["error"]["desc"], text)
        caps = {c["capability"]: c["state"]
                for c in q.cmd("query-migrate-capabilities")}
        self.assertIn("events", caps)
        self.assertIn("auto-converge", caps)
        self.assertNotIn("xbzrle", caps)
        self.assertNotIn("postcopy-ram", caps)
        r = q.execute("migrate-set-capabilities", {"capabilities": [
            {"capability": "postcopy-ram", "state": True}]})
        self.assertEqual(r["error"]["desc"], "Migration capability "
                         "'postcopy-ram' is not supported by kestrel")
        q.cmd("migrate-set-capabilities", {"capabilities": [
            {"capability": "xbzrle", "state": False},
            {"capability": "auto-converge", "state": True}]})
        caps = {c["capability"]: c["state"]
                for c in q.cmd("query-migrate-capabilities")}
        self.assertTrue(caps["auto-converge"])

    def test_errors(self):
        src = self.vm("src", mem=64)
        q = src.qmp
        self.assertEqual(q.cmd("query-migrate"), {})
        r = q.execute("migrate", {"uri": "foo:bar"})
        self.assertEqual(r["error"]["desc"],
                         "Parameter 'uri' expects a valid migration protocol")
        r = q.execute("migrate", {"uri": "tcp:nohost"})
        self.assertEqual(r["error"]["desc"], "error parsing address 'nohost'")
        r = q.execute("migrate", {"uri": "fd:nope"})
        self.assertEqual(r["error"]["desc"],
                         "File descriptor named 'nope' has not been found")
        r = q.execute("migrate-incoming", {"uri": "tcp:127.0.0.1:0"})
        self.assertEqual(r["error"]["desc"],
                         "'-incoming' was not specified on the command line")
        r = q.execute("migrate-continue", {"state": "pre-switchover"})
        self.assertEqual(r["error"]["desc"],
                         "Migration not in expected state: none")
        self.assertEqual(q.cmd("migrate_cancel"), {})
        dst = self.vm("dst", mem=64, incoming="defer")
        r = dst.qmp.execute("migrate", {"uri": "tcp:127.0.0.1:1"})
        self.assertEqual(r["error"]["desc"],
                         "Guest is waiting for an incoming migration")
        # 'cont' while waiting: run as soon as the migration is in.
        self.assertEqual(dst.qmp.cmd("cont"), {})
        self.assertEqual(self.status(dst.qmp), "inmigrate")

    def test_bad_incoming_option(self):
        rc, out = ktest.run([KESTREL, "-nodefaults", "-display", "none",
                             "-incoming", "foo:bar"])
        self.assertEqual(rc, 1)
        self.assertEqual(out.strip(), "kestrel: -incoming foo:bar: unknown "
                         "migration protocol: foo:bar")
        rc, out = ktest.run([KESTREL, "-nodefaults", "-display", "none",
                             "-incoming", "tcp:nohost"])
        self.assertEqual(rc, 1)
        self.assertEqual(out.strip(), "kestrel: -incoming tcp:nohost: error "
                         "parsing address 'nohost'")

    def test_pause_before_switchover(self):
        port = self.port()
        src = self.vm("src", mem=64)
        dst = self.vm("dst", mem=64, incoming="tcp:127.0.0.1:%d" % port)
        self.fill(src.qt, range(5), 2)
        src.qmp.cmd("migrate-set-capabilities", {"capabilities": [
            {"capability": "pause-before-switchover", "state": True},
            {"capability": "events", "state": True}]})
        src.qmp.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % port})
        self.wait_status(src.qmp, ("pre-switchover",))
        self.assertEqual(self.status(src.qmp), "finish-migrate")
        r = src.qmp.execute("cont")
        self.assertEqual(r["error"]["desc"], "Migration is not finalized yet")
        r = src.qmp.execute("migrate-continue", {"state": "active"})
        self.assertEqual(r["error"]["desc"],
                         "Migration not in expected state: pre-switchover")
        src.qmp.cmd("migrate-continue", {"state": "pre-switchover"})
        self.wait_status(src.qmp, ("completed",))
        self.wait_status(dst.qmp, ("completed",))
        seen = [e["data"]["status"] for e in src.qmp.events
                if e["event"] == "MIGRATION"]
        self.assertEqual(seen, ["setup", "active", "pre-switchover",
                                "device", "completed"])
        self.check(dst.qt, range(5), 2)


class Namespaces(MigCase):
    """Two hosts: network namespaces joined by a veth pair."""

    def setUp(self):
        super().setUp()
        self.ns = ["kmig-a-%d" % os.getpid(), "kmig-b-%d" % os.getpid()]
        self.addCleanup(self.teardown_ns)
        cmds = [["ip", "netns", "add", self.ns[0]],
                ["ip", "netns", "add", self.ns[1]],
                ["ip", "link", "add", "kma%d" % os.getpid(), "netns",
                 self.ns[0], "type", "veth", "peer", "name",
                 "kmb%d" % os.getpid(), "netns", self.ns[1]]]
        for i, addr in enumerate(("192.0.2.1/24", "192.0.2.2/24")):
            dev = ("kma%d" if i == 0 else "kmb%d") % os.getpid()
            cmds += [["ip", "-n", self.ns[i], "addr", "add", addr, "dev",
                      dev],
                     ["ip", "-n", self.ns[i], "link", "set", dev, "up"],
                     ["ip", "-n", self.ns[i], "link", "set", "lo", "up"]]
        for c in cmds:
            rc, out = ktest.run(c)
            if rc:
                raise AssertionError("%s: %s" % (" ".join(c), out))

    def teardown_ns(self):
        for ns in self.ns:
            subprocess.run(["ip", "netns", "del", ns],
                           stderr=subprocess.DEVNULL)

    def vm_argv(self, name, prefix, mem=64, incoming=None):
        qmp = os.path.join(self.tmp, name + ".qmp")
        qt = os.path.join(self.tmp, name + ".qtest")
        argv = prefix + ["-nodefaults", "-display", "none", "-m", str(mem),
                         "-serial", "null", "-qmp", "unix:%s,server=on,wait=off" % qmp,
                         "-accel", "qtest", "-qtest",
                         "unix:%s,server=on,wait=off" % qt]
        if incoming:
            argv += ["-incoming", incoming]
        p = self.spawn(argv)
        p.qmp = Qmp(qmp)
        p.qt = Qtest(qt)
        return p

    def test_tcp_between_namespaces(self):
        src = self.vm_argv("src", ["ip", "netns", "exec", self.ns[0],
                                   KESTREL])
        dst = self.vm_argv("dst", ["ip", "netns", "exec", self.ns[1],
                                   KESTREL], incoming="tcp:192.0.2.2:4444")
        self.fill(src.qt, range(0, 100, 3), 11)
        src.qmp.cmd("migrate", {"uri": "tcp:192.0.2.2:4444"})
        self.wait_status(src.qmp, ("completed",))
        self.wait_status(dst.qmp, ("completed",))
        self.check(dst.qt, range(0, 100, 3), 11)


DIRTY = re.compile(r"^TG DIRTY cpu=(\d+) gen=(\d+) written_mb=(\d+) "
                   r"verified=(\d+) errors=(\d+)$")


class Guest(MigCase):
    """The test guest writing memory on every vCPU (needs /dev/kvm)."""

    def dirty_lines(self, p, since):
        out = {}
        for ln in p.lines[since:]:
            m = DIRTY.match(ln.strip())
            if m:
                out.setdefault(int(m.group(1)), []).append(
                    (int(m.group(2)), int(m.group(5))))
        return out

    def migrate_guest(self, uri_dst, uri_src):
        guest = "tg.mode=dirty tg.mb=256 tg.rate=64"
        src = self.vm("src", mem=512, qtest=False, smp=2, guest=guest)
        src.wait_line(r"^TG DIRTY cpu=1 ", 60)
        dst = self.vm("dst", mem=512, qtest=False, smp=2, guest=guest,
                      incoming=uri_dst)
        src.qmp.cmd("migrate-set-parameters", {"max-bandwidth": 0})
        src.qmp.cmd("migrate", {"uri": uri_src})
        info = self.wait_status(src.qmp, ("completed", "failed"), 120)
        self.assertEqual(info["status"], "completed", info)
        self.assertEqual(self.status(src.qmp), "postmigrate")
        self.assertLessEqual(info["downtime"], 300)
        mark = len(dst.lines)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            lines = self.dirty_lines(dst, mark)
            if all(len(lines.get(c, [])) >= 3 for c in (0, 1)):
                break
            dst.wait_line(r"^TG DIRTY", 5)
        lines = self.dirty_lines(dst, mark)
        for cpu in (0, 1):
            self.assertGreaterEqual(len(lines.get(cpu, [])), 3, dst.text())
            self.assertTrue(all(err == 0 for _, err in lines[cpu]),
                            dst.text())
        self.assertFalse(any("CORRUPT" in ln for ln in dst.lines))

    def wait_clean(self, p, cpus, mark, n=3, timeout=30):
        """@n DIRTY lines per vCPU after line @mark, all errors=0."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.dirty_lines(p, mark)
            if all(len(lines.get(c, [])) >= n for c in range(cpus)):
                break
            p.wait_line(r"^TG DIRTY", 5)
        lines = self.dirty_lines(p, mark)
        for cpu in range(cpus):
            self.assertGreaterEqual(len(lines.get(cpu, [])), n, p.text())
            self.assertTrue(all(err == 0 for _, err in lines[cpu]),
                            p.text())
        self.assertFalse(any("CORRUPT" in ln for ln in p.lines), p.text())

    def test_guest_save_and_restore(self):
        guest = "tg.mode=dirty tg.mb=64 tg.rate=32"
        path = os.path.join(self.tmp, "guest.state")
        src = self.vm("src", mem=256, qtest=False, smp=2, guest=guest)
        src.wait_line(r"^TG DIRTY cpu=1 ", 60)
        src.qmp.cmd("stop")
        src.qmp.cmd("migrate", {"uri": "file:" + path})
        self.wait_status(src.qmp, ("completed",))
        src.qmp.cmd("quit")
        dst = self.vm("dst", mem=256, qtest=False, smp=2, guest=guest,
                      incoming="file:" + path, extra=["-S"])
        self.wait_status(dst.qmp, ("completed",))
        self.assertEqual(self.status(dst.qmp), "paused")
        mark = len(dst.lines)
        dst.qmp.cmd("cont")
        self.wait_clean(dst, 2, mark)

    def test_guest_cancel_keeps_source_clean(self):
        guest = "tg.mode=dirty tg.mb=256 tg.rate=0"
        port = self.port()
        src = self.vm("src", mem=512, qtest=False, smp=2, guest=guest)
        src.wait_line(r"^TG DIRTY cpu=1 ", 60)
        dst = self.vm("dst", mem=512, qtest=False, smp=2, guest=guest,
                      incoming="tcp:127.0.0.1:%d" % port)
        src.qmp.cmd("migrate-set-parameters", {"max-bandwidth": 8 << 20})
        src.qmp.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % port})
        self.wait_status(src.qmp, ("active",))
        time.sleep(1)
        src.qmp.cmd("migrate_cancel")
        self.wait_status(src.qmp, ("cancelled",))
        self.assertEqual(self.wait_exit(dst), 1)
        self.assertEqual(self.status(src.qmp), "running")
        self.wait_clean(src, 2, len(src.lines))

    def test_guest_balloon(self):
        """The balloon's target, actual and holes survive the move."""
        guest = "tg.mode=balloon"
        port = self.port()
        dev = ["-device", "virtio-balloon-pci,id=balloon0"]
        src = self.vm("src", mem=1024, qtest=False, guest=guest, extra=dev)
        src.wait_line(r"^TG READY", 60)
        src.qmp.cmd("balloon", {"value": 512 << 20})
        src.wait_line(r"^TG BALLOON target=131072 actual=131072", 60)
        dst = self.vm("dst", mem=1024, qtest=False, guest=guest, extra=dev,
                      incoming="tcp:127.0.0.1:%d" % port)
        src.qmp.cmd("migrate-set-parameters", {"max-bandwidth": 0})
        src.qmp.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % port})
        info = self.wait_status(src.qmp, ("completed", "failed"), 120)
        self.assertEqual(info["status"], "completed", info)
        # ballooned-out memory did not cross the wire
        self.assertLess(info["ram"]["transferred"], 640 << 20)
        self.wait_status(dst.qmp, ("completed",))
        self.assertEqual(dst.qmp.cmd("query-balloon"),
                         {"actual": 512 << 20})
        self.assertLess(rss_bytes(dst.proc.pid), 700 << 20)
        # and the guest's driver goes on: deflate on the destination
        dst.qmp.cmd("balloon", {"value": 1024 << 20})
        dst.wait_line(r"^TG BALLOON target=0 actual=0", 60)

    def test_guest_tcp(self):
        port = self.port()
        self.migrate_guest("tcp:127.0.0.1:%d" % port,
                           "tcp:127.0.0.1:%d" % port)

    def test_guest_unix(self):
        path = os.path.join(self.tmp, "g.sock")
        self.migrate_guest("unix:" + path, "unix:" + path)


if __name__ == "__main__":
    ktest.main()
