# SPDX-License-Identifier: GPL-2.0-or-later
"""The test guest boots under kestrel: console lines, exit codes, run
control, and every serial backend a user can pick."""

import os
import pty
import re
import signal
import socket
import time

import ktest
from ktest import KESTREL, TESTGUEST

READY = r"TG READY mem=(\d+) cpus=(\d+) boot=(\w+) mode=(\w+)"


class Hello(ktest.TestCase):
    def test_hello_ready_done_exit0(self):
        p = self.guest("tg.mode=hello")
        m = p.wait_line(READY, timeout=30)
        self.assertEqual(m.group(4), "hello")
        self.assertEqual(m.group(3), "linux64")
        self.assertEqual(m.group(2), "1")
        self.assertEqual(int(m.group(1)), 128)
        p.wait_line(r"^TG DONE", timeout=30)
        self.assertEqual(p.wait_exit(30), 0, p.text())
        self.assertFalse(any("TG ERROR" in l for l in p.lines), p.text())

    def test_memory_size_reported(self):
        p = self.guest("tg.mode=hello", mem="512")
        m = p.wait_line(READY, timeout=30)
        self.assertEqual(int(m.group(1)), 512)
        self.assertEqual(p.wait_exit(30), 0)

    def test_memory_above_4g(self):
        # RAM continues at 4 GiB past the PCI hole; the guest must see all.
        p = self.guest("tg.mode=hello", mem="5G")
        m = p.wait_line(READY, timeout=30)
        self.assertEqual(int(m.group(1)), 5 * 1024)
        self.assertEqual(p.wait_exit(30), 0)

    def test_smp2_reported(self):
        p = self.guest("tg.mode=hello", smp=2)
        m = p.wait_line(READY, timeout=30)
        self.assertEqual(m.group(2), "2")
        self.assertEqual(p.wait_exit(30), 0)

    def test_smp_topology_form(self):
        p = self.guest("tg.mode=hello", "-smp", "cpus=4,sockets=2,cores=2,threads=1")
        m = p.wait_line(READY, timeout=30)
        self.assertEqual(m.group(2), "4")
        self.assertEqual(p.wait_exit(30), 0)


DIRTY = (r"^TG DIRTY cpu=(\d+) gen=(\d+) written_mb=(\d+) verified=(\d+) "
         r"errors=(\d+)$")


class Workloads(ktest.TestCase):
    def test_dirty_runs_without_errors(self):
        p = self.guest("tg.mode=dirty tg.mb=64 tg.secs=4")
        p.wait_line(READY, timeout=30)
        lines = []
        for _ in range(3):
            m = p.wait_line(r"TG DIRTY cpu=0 gen=(\d+) written_mb=(\d+) "
                            r"verified=(\d+) errors=(\d+)", timeout=20,
                            start=len(p.lines) if not lines else lines[-1] + 1)
            idx = next(i for i in range(len(p.lines) - 1, -1, -1)
                       if m.string == p.lines[i])
            lines.append(idx)
            self.assertEqual(m.group(4), "0", p.text())
        last = re.search(r"written_mb=(\d+) verified=(\d+)", p.lines[lines[-1]])
        self.assertGreater(int(last.group(1)), 64)
        self.assertGreater(int(last.group(2)), 0)
        self.assertEqual(p.wait_exit(30), 0, p.text())
        self.assertFalse(any("CORRUPT" in l or "TG ERROR" in l
                             for l in p.lines), p.text())

    def dirty_by_cpu(self, p):
        """{cpu: [(gen, written_mb, verified, errors), ...]}"""
        out = {}
        for ln in p.lines:
            m = re.match(DIRTY, ln)
            if m:
                v = [int(x) for x in m.groups()]
                out.setdefault(v[0], []).append(tuple(v[1:]))
            elif ln.startswith("TG DIRTY") and "CORRUPT" not in ln:
                self.fail("unexpected line %r:\n%s" % (ln, p.text()))
        return out

    def run_dirty(self, append, smp, cpus, secs=3):
        """Run dirty mode to its end: CPUs 0..@cpus-1 each print a line a
        second with rising generations and no errors."""
        p = self.guest("tg.mode=dirty tg.secs=%d %s" % (secs, append), smp=smp)
        m = p.wait_line(READY, timeout=30)
        self.assertEqual(m.group(2), str(smp), p.text())
        p.wait_line(r"^TG DONE", timeout=30)
        self.assertEqual(p.wait_exit(30), 0, p.text())
        self.assertFalse(any("CORRUPT" in l or "TG ERROR" in l
                             for l in p.lines), p.text())
        by_cpu = self.dirty_by_cpu(p)
        self.assertEqual(sorted(by_cpu), list(range(cpus)), p.text())
        for lines in by_cpu.values():
            # A vCPU stalled across a second boundary may merge two lines.
            self.assertIn(len(lines), (secs - 1, secs), p.text())
            prev = (0, 0, 0, 0)
            for cur in lines:
                self.assertEqual(cur[3], 0, p.text())
                self.assertGreaterEqual(cur[0], prev[0], p.text())
                self.assertGreater(cur[1], prev[1], p.text())
                prev = cur
            self.assertGreater(prev[0], 1, p.text())
            self.assertGreater(prev[2], 0, p.text())
        return p

    def test_dirty_smp2(self):
        # The guest starts the AP (INIT-SIPI-SIPI) and both CPUs write.
        self.run_dirty("tg.mb=64", smp=2, cpus=2)

    def test_dirty_smp4(self):
        self.run_dirty("tg.mb=64", smp=4, cpus=4)

    def test_dirty_cpus1_smp2(self):
        self.run_dirty("tg.mb=32 tg.cpus=1", smp=2, cpus=1, secs=2)

    def test_dirty_detects_stale_page_smp2(self):
        p = self.guest("tg.mode=dirty tg.mb=16 tg.secs=1 tg.corrupt=5", smp=2)
        p.wait_line(r"^TG DIRTY CORRUPT cpu=0 page=5 want=2 got=1$",
                    timeout=30)
        p.wait_line(r"^TG DONE", timeout=30)
        self.assertEqual(p.wait_exit(30), 0, p.text())
        by_cpu = self.dirty_by_cpu(p)
        self.assertEqual(by_cpu[0][-1][3], 1, p.text())
        self.assertEqual(by_cpu[1][-1][3], 0, p.text())
        self.assertEqual(p.text().count("CORRUPT"), 1, p.text())

    def test_pio_exits(self):
        p = self.guest("tg.mode=pio tg.count=2000")
        m = p.wait_line(r"TG PIO count=(\d+) ns_per_exit=(\d+)", timeout=60)
        self.assertEqual(int(m.group(1)), 2000)
        self.assertGreater(int(m.group(2)), 0)
        self.assertEqual(p.wait_exit(30), 0)

    def test_mmio_exits(self):
        p = self.guest("tg.mode=mmio tg.count=2000")
        m = p.wait_line(r"TG MMIO count=(\d+) ns_per_exit=(\d+)", timeout=60)
        self.assertEqual(int(m.group(1)), 2000)
        self.assertGreater(int(m.group(2)), 0)
        self.assertEqual(p.wait_exit(30), 0)


class RunControl(ktest.TestCase):
    def test_S_runs_nothing(self):
        p = self.guest("tg.mode=hello", "-S")
        p.collect(3)
        self.assertTrue(p.alive())
        self.assertFalse(any(l.startswith("TG ") for l in p.lines), p.text())

    def test_sigterm_exits_cleanly(self):
        p = self.guest("tg.mode=idle")
        p.wait_line(READY, timeout=30)
        p.proc.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait_exit(15), 0)
        p.wait_line(r"terminating on signal 15", timeout=1)

    def test_idle_stays_up(self):
        p = self.guest("tg.mode=idle")
        p.wait_line(READY, timeout=30)
        p.collect(2)
        self.assertTrue(p.alive())

    def test_no_shutdown_keeps_process(self):
        p = self.guest("tg.mode=hello", "-no-shutdown")
        p.wait_line(r"^TG DONE", timeout=30)
        p.collect(2)
        self.assertTrue(p.alive(), "-no-shutdown must keep the VM process")

    def test_secs_ends_idle(self):
        p = self.guest("tg.mode=idle tg.secs=1")
        p.wait_line(READY, timeout=30)
        self.assertEqual(p.wait_exit(20), 0)


class Console(ktest.TestCase):
    def test_ctrl_a_x_quits_interactive_console(self):
        # On a terminal, -nographic's console takes QEMU's escapes.
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(KESTREL, [KESTREL, "-nographic", "-m", "128", "-kernel",
                               TESTGUEST, "-append", "tg.mode=idle"])
        try:
            buf = b""
            deadline = time.time() + 30
            while b"TG READY" not in buf and time.time() < deadline:
                try:
                    buf += os.read(fd, 4096)
                except OSError:
                    break
            self.assertIn(b"TG READY", buf)
            os.write(fd, b"\x01h")
            while b"exit kestrel" not in buf and time.time() < deadline:
                buf += os.read(fd, 4096)
            os.write(fd, b"\x01x")
            deadline = time.time() + 15
            while time.time() < deadline:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                time.sleep(0.05)
            else:
                self.fail("C-a x did not end kestrel: %r" % buf[-300:])
            pid = 0
            self.assertEqual(os.waitstatus_to_exitcode(status), 0)
        finally:
            if pid:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            os.close(fd)


class SerialBackends(ktest.TestCase):
    def base(self):
        return ["-m", "128", "-kernel", TESTGUEST, "-append", "tg.mode=hello"]

    def test_serial_file(self):
        path = os.path.join(self.tmp, "console.log")
        p = self.kestrel(*self.base(), "-display", "none", "-serial",
                         "file:" + path)
        self.assertEqual(p.wait_exit(30), 0, p.text())
        with open(path) as f:
            text = f.read()
        self.assertRegex(text, READY)
        self.assertIn("TG DONE", text)

    def test_chardev_file_and_serial_chardev(self):
        path = os.path.join(self.tmp, "c,1.log")
        p = self.kestrel(*self.base(), "-nodefaults", "-chardev",
                         "file,id=con0,path=" + path.replace(",", ",,"),
                         "-serial", "chardev:con0")
        self.assertEqual(p.wait_exit(30), 0, p.text())
        with open(path) as f:
            self.assertRegex(f.read(), READY)

    def test_serial_none(self):
        p = self.kestrel(*self.base(), "-serial", "none")
        self.assertEqual(p.wait_exit(30), 0)
        self.assertFalse(any("TG " in l for l in p.lines))

    def _connect(self, path, timeout=10):
        deadline = time.time() + timeout
        s = socket.socket(socket.AF_UNIX)
        while True:
            try:
                s.connect(path)
                return s
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.02)

    def test_serial_unix_server_wait(self):
        # wait=on: start-up blocks until a client connects, so the client
        # sees the whole console.
        path = os.path.join(self.tmp, "serial.sock")
        p = self.kestrel(*self.base(), "-display", "none", "-serial",
                         "unix:%s,server=on,wait=on" % path)
        s = self._connect(path)
        s.settimeout(30)
        buf = b""
        while b"TG DONE" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        s.close()
        self.assertRegex(buf.decode(), READY)
        self.assertEqual(p.wait_exit(30), 0)

    def test_serial_unix_server_nowait(self):
        # server,nowait (legacy spelling): the guest runs with no client;
        # its output is dropped, as QEMU does.
        path = os.path.join(self.tmp, "serial.sock")
        p = self.kestrel(*self.base(), "-display", "none", "-serial",
                         "unix:%s,server,nowait" % path)
        self.assertEqual(p.wait_exit(30), 0, p.text())
        self.assertFalse(os.path.exists(path), "socket file left behind")

    def test_serial_pty(self):
        p = self.kestrel("-m", "128", "-kernel", TESTGUEST, "-append",
                         "tg.mode=idle tg.secs=4", "-display", "none",
                         "-S", "-serial", "pty")
        m = p.wait_line(r"char device redirected to (/dev/pts/\d+) "
                        r"\(label serial0\)", timeout=10)
        self.assertTrue(os.path.exists(m.group(1)))
        self.assertTrue(p.alive())


class Daemon(ktest.TestCase):
    def test_daemonize_pidfile_and_log(self):
        ktest.need_kvm()        # its error goes to the log, not to us
        pidfile = os.path.join(self.tmp, "vm.pid")
        console = os.path.join(self.tmp, "console.log")
        log = os.path.join(self.tmp, "kestrel.log")
        rc, out = ktest.run([KESTREL, "-m", "128", "-kernel", TESTGUEST,
                             "-append", "tg.mode=idle", "-display", "none",
                             "-serial", "file:" + console, "-daemonize",
                             "-pidfile", pidfile, "-D", log, "-name", "d1"],
                            timeout=30)
        self.assertEqual(rc, 0, out)
        with open(pidfile) as f:
            pid = int(f.read())
        try:
            os.kill(pid, 0)
            deadline = time.time() + 20
            while time.time() < deadline:
                with open(console) as f:
                    if "TG READY" in f.read():
                        break
                time.sleep(0.1)
            with open(console) as f:
                self.assertIn("TG READY", f.read())
        finally:
            os.kill(pid, signal.SIGTERM)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            self.fail("daemonized kestrel did not exit on SIGTERM")
        self.assertFalse(os.path.exists(pidfile))
        with open(log) as f:
            self.assertIn("terminating on signal 15", f.read())

    def test_daemonize_failure_reported_by_parent(self):
        rc, out = ktest.run([KESTREL, "-m", "128", "-kernel",
                             os.path.join(self.tmp, "missing"),
                             "-display", "none", "-serial", "none",
                             "-daemonize"], timeout=30)
        self.assertEqual(rc, 1)
        self.assertIn("missing", out)

    def test_pidfile_locked(self):
        pidfile = os.path.join(self.tmp, "vm.pid")
        p = self.guest("tg.mode=idle", "-pidfile", pidfile)
        p.wait_line(READY, timeout=30)
        rc, out = ktest.run([KESTREL, "-nographic", "-m", "128", "-kernel",
                             TESTGUEST, "-append", "tg.mode=idle",
                             "-pidfile", pidfile], timeout=30)
        self.assertEqual(rc, 1)
        self.assertIn("another instance", out)


if __name__ == "__main__":
    ktest.main()
