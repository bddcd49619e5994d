#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""kestrel under hostile QMP input (issue 14's attack run), on a machine
under -accel qtest, so no /dev/kvm is needed.

- A string with an escaped NUL stays whole, as in QEMU 7.2 (modified
  UTF-8): "quit\\u0000-not-quit" is an unknown command, not quit; where a
  string becomes a path, an id or a URI it is refused, never cut.
- A secret file (-object secret,file= and object-add) is read without
  blocking the main loop and with a size limit: a FIFO, /dev/zero or a
  huge file is refused, naming the file, and QMP keeps answering.
- The -D log is capped and rotated (2 MiB, three backups).
"""

import os
import time

import ktest
from ktest import KESTREL, Qmp


class HardeningCase(ktest.TestCase):

    def vm(self, extra=()):
        qmp = os.path.join(self.tmp, "vm.qmp")
        qt = os.path.join(self.tmp, "vm.qtest")
        argv = [KESTREL, "-nodefaults", "-display", "none", "-m", "64",
                "-serial", "null", "-qmp", "unix:%s,server=on,wait=off" % qmp,
                "-accel", "qtest", "-qtest", "unix:%s,server=on,wait=off" % qt]
        p = self.spawn(argv + list(extra))
        p.qmp = Qmp(qmp)
        self.addCleanup(p.qmp.close)
        return p

    def assert_serving(self, p):
        self.assertTrue(p.alive())
        self.assertIn(p.qmp.cmd("query-status")["status"],
                      ("prelaunch", "running", "paused"))


class TestQmpNul(HardeningCase):

    def test_escaped_nul_command_is_not_quit(self):
        p = self.vm()
        p.qmp.send_raw('{"execute": "quit\\u0000-not-quit"}\r\n')
        r = p.qmp.reply()
        # QEMU 7.2's answer, byte for byte on the wire
        self.assertEqual(r["error"], {
            "class": "CommandNotFound",
            "desc": "The command quit\x00-not-quit has not been found"})
        self.assert_serving(p)

    def test_escaped_nul_in_names_and_paths(self):
        p = self.vm()
        r = p.qmp.execute("qom-list", {"path": "/machine\x00x"})
        self.assertEqual(r["error"]["desc"],
                         "Device '/machine\x00x' not found")
        r = p.qmp.execute("object-add", {"qom-type": "secret",
                                         "id": "s\x00x", "data": "abc"})
        self.assertEqual(r["error"]["desc"],
                         "Parameter 'id' expects an identifier")
        p.qmp.cmd("stop")
        target = os.path.join(self.tmp, "state")
        r = p.qmp.execute("migrate", {"uri": "file:%s\x00.x" % target})
        self.assertEqual(r["error"]["desc"],
                         "Migration URI 'file:%s\x00.x' must not contain a "
                         "NUL character" % target)
        self.assertFalse(os.path.exists(target))
        self.assert_serving(p)


class TestSecretFile(HardeningCase):

    def object_add_file(self, p, path, sid="s0"):
        t0 = time.monotonic()
        r = p.qmp.execute("object-add", {"qom-type": "secret", "id": sid,
                                         "file": path})
        self.assertLess(time.monotonic() - t0, 5)
        return r

    def test_nul_in_file_name(self):
        real = os.path.join(self.tmp, "key")
        with open(real, "w") as f:
            f.write("k")
        p = self.vm()
        r = self.object_add_file(p, real + "\x00x")
        self.assertEqual(r["error"]["desc"],
                         "Unable to read %s\x00x: the file name contains a "
                         "NUL character" % real)
        self.assert_serving(p)

    def test_fifo_refused_without_blocking(self):
        fifo = os.path.join(self.tmp, "fifo")
        os.mkfifo(fifo)
        p = self.vm()
        r = self.object_add_file(p, fifo)
        self.assertEqual(r["error"]["desc"],
                         "Unable to read %s: not a regular file (a secret is "
                         "read only from a regular file)" % fifo)
        self.assert_serving(p)

    def test_dev_zero_refused(self):
        p = self.vm()
        r = self.object_add_file(p, "/dev/zero")
        self.assertEqual(r["error"]["desc"],
                         "Unable to read /dev/zero: not a regular file (a "
                         "secret is read only from a regular file)")
        self.assert_serving(p)

    def test_size_limit(self):
        big = os.path.join(self.tmp, "big")
        with open(big, "wb") as f:
            f.write(b"x" * (64 * 1024 + 1))
        ok = os.path.join(self.tmp, "ok")
        with open(ok, "wb") as f:
            f.write(b"y" * (64 * 1024))
        p = self.vm()
        r = self.object_add_file(p, big)
        self.assertEqual(r["error"]["desc"],
                         "Unable to read %s: a secret file may hold at most "
                         "64 KiB" % big)
        self.assertEqual(self.object_add_file(p, ok, "s1"), {"return": {}})
        self.assert_serving(p)

    def test_command_line_fifo(self):
        fifo = os.path.join(self.tmp, "fifo")
        os.mkfifo(fifo)
        rc, out = ktest.run([KESTREL, "-nodefaults", "-display", "none",
                             "-accel", "qtest", "-object",
                             "secret,id=s,file=" + fifo], timeout=10)
        self.assertEqual(rc, 1)
        self.assertIn("-object secret,id=s: Unable to read %s: not a regular "
                      "file" % fifo, out)

class TestLogRotation(HardeningCase):
    """-D: the log is capped and rotated as virtlogd does (2 MiB, three
    backups), whoever writes to kestrel's stderr."""

    def test_full_log_rotates(self):
        log = os.path.join(self.tmp, "vm.log")
        old = b"x" * (2 << 20)
        with open(log, "wb") as f:
            f.write(old)
        # -daemonize: the copier runs in the process that stays.
        qmp = os.path.join(self.tmp, "d.qmp")
        pidfile = os.path.join(self.tmp, "d.pid")
        rc, out = ktest.run([KESTREL, "-nodefaults", "-display", "none",
                             "-m", "64", "-accel", "qtest", "-D", log,
                             "-chardev", "pty,id=c0", "-serial", "chardev:c0",
                             "-qmp", "unix:%s,server=on,wait=off" % qmp,
                             "-pidfile", pidfile, "-daemonize"], timeout=20)
        self.assertEqual(rc, 0, out)
        with open(pidfile) as f:
            pid = int(f.read())
        q = Qmp(qmp)
        q.cmd("quit")
        q.close()
        deadline = time.monotonic() + 10
        while os.path.exists("/proc/%d" % pid) and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        with open(log + ".0", "rb") as f:
            self.assertEqual(f.read(), old)
        with open(log, "rb") as f:
            text = f.read().decode()
        self.assertLess(len(text), 4096)
        self.assertRegex(text, r"^char device redirected to /dev/pts/\d+ "
                         r"\(label c0\)\n")
        self.assertEqual(os.stat(log).st_mode & 0o777, 0o600)


if __name__ == "__main__":
    ktest.main()
