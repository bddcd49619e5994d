# SPDX-License-Identifier: GPL-2.0-or-later
"""Helpers for Kestrel's functional tests.

Tests are unittest.TestCase classes; ktest.main() runs them and reports TAP
(one line per test method) so automake's harness counts every case.

Environment (set by `make check`): KESTREL, TESTGUEST, KESTREL_SRCDIR,
KESTREL_BUILDDIR.
"""

import os
import re
import select
import shutil
import socket
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import unittest

KESTREL = os.environ.get("KESTREL", "src/kestrel")
TESTGUEST = os.environ.get("TESTGUEST", "tests/guest/testguest.elf")
SRCDIR = os.environ.get("KESTREL_SRCDIR", ".")
BUILDDIR = os.environ.get("KESTREL_BUILDDIR", ".")
QEMU = shutil.which("qemu-system-x86_64") or "/usr/bin/qemu-system-x86_64"

# /dev/kvm is not on every machine: a PVM guest's kernel refuses to bind
# kvm-pvm inside itself ("this kernel is itself a kvm-pvm guest"). QEMU
# then runs the same guest under TCG, so the oracle tests still hold;
# kestrel is a KVM VMM, so a test that reaches KVM is skipped, naming why.
HAVE_KVM = os.access("/dev/kvm", os.R_OK | os.W_OK)
QEMU_ACCEL = ["-enable-kvm"] if HAVE_KVM else ["-accel", "tcg"]
KVM_MISSING = ("Could not access KVM kernel module",
               "failed to initialize kvm")
NO_KVM_REASON = ("no /dev/kvm on this machine (kvm-pvm does not bind "
                 "inside a PVM guest): kestrel needs KVM for this test")


_last_process = None            # the newest Process (see Qmp)


class Process:
    """A child process whose stdout+stderr are read line by line.

    Lines are kept in self.lines; wait_line() blocks until a regex matches
    one (or the timeout expires, or the process exits)."""

    def __init__(self, argv, env=None, stdin=subprocess.DEVNULL, **kw):
        self.argv = [str(a) for a in argv]
        self.proc = subprocess.Popen(
            self.argv, stdin=stdin, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, env=env, start_new_session=True, **kw)
        self.lines = []
        self._buf = b""
        self._eof = False
        global _last_process
        _last_process = self

    def _pump(self, timeout):
        if self._eof:
            time.sleep(min(timeout, 0.05))
            return
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not r:
            return
        data = os.read(self.proc.stdout.fileno(), 65536)
        if not data:
            self._eof = True
            if self._buf:
                self.lines.append(self._buf.decode(errors="replace"))
                self._buf = b""
            return
        self._buf += data
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            self.lines.append(line.decode(errors="replace").rstrip("\r"))

    def wait_line(self, pattern, timeout=30, start=0):
        """Return the first re.Match of @pattern in a line at index >= start."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        idx = start
        while True:
            while idx < len(self.lines):
                m = rx.search(self.lines[idx])
                if m:
                    return m
                idx += 1
            if self._eof:
                raise AssertionError(
                    "process exited (%s) before printing /%s/; output:\n%s"
                    % (self.proc.poll(), pattern, self.text()))
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    "no line matching /%s/ within %ss; output:\n%s"
                    % (pattern, timeout, self.text()))
            self._pump(min(left, 0.2))

    def wait_exit(self, timeout=30):
        """Read until EOF and exit; return the exit status."""
        deadline = time.monotonic() + timeout
        while not self._eof and time.monotonic() < deadline:
            self._pump(min(0.2, max(0, deadline - time.monotonic())))
        try:
            return self.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise AssertionError("process did not exit within %ss; output:\n%s"
                                 % (timeout, self.text()))

    def collect(self, seconds):
        """Read output for @seconds (the process keeps running)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._pump(min(0.2, deadline - time.monotonic()))

    def drain(self, timeout=2):
        """Read what is left of the output of an exited process."""
        deadline = time.monotonic() + timeout
        while not self._eof and time.monotonic() < deadline:
            self._pump(min(0.1, max(deadline - time.monotonic(), 0)))

    def text(self):
        return "\n".join(self.lines[-200:])

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()


def missing_prerequisite(why):
    """A prerequisite ./dev.sh installs is absent. That is a broken set-up,
    so it fails the test rather than skipping it."""
    raise AssertionError("missing prerequisite (./dev.sh setup installs "
                         "it): " + why)


def need_kvm():
    """Skip the calling test on a machine without /dev/kvm (for tests whose
    failure would not show kestrel's own "no KVM" message)."""
    if not HAVE_KVM:
        raise unittest.SkipTest(NO_KVM_REASON)


def run(argv, timeout=30, env=None):
    """Run to completion; return (status, combined output)."""
    p = subprocess.run([str(a) for a in argv], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout, env=env)
    return p.returncode, p.stdout.decode(errors="replace")


class KvmSkip:
    """Mixin for TestCases: without /dev/kvm, a test that failed because
    kestrel (or QEMU) found no KVM is reported as skipped, naming why."""

    def _reached_missing_kvm(self, exc):
        texts = [str(exc)]
        for p in getattr(self, "_procs", []):
            if not p.alive():
                p.drain(1)
            texts.extend(p.lines[-50:])
        return any(m in t for t in texts for m in KVM_MISSING)

    def _callTestMethod(self, method):
        # Without /dev/kvm, a test that needed it is skipped, not failed:
        # only when the failure is kestrel (or QEMU) saying KVM is absent.
        try:
            method()
        except unittest.SkipTest:
            raise
        except Exception as e:
            if not HAVE_KVM and self._reached_missing_kvm(e):
                raise unittest.SkipTest(NO_KVM_REASON) from e
            raise


class TestCase(KvmSkip, unittest.TestCase):
    """A TestCase that kills the processes it started and removes its
    temporary directory when a test ends, pass or fail."""

    def setUp(self):
        self._procs = []
        self.tmp = tempfile.mkdtemp(prefix="kestrel-test-")

    def tearDown(self):
        for p in self._procs:
            p.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def spawn(self, argv, **kw):
        p = Process(argv, **kw)
        self._procs.append(p)
        return p

    def kestrel(self, *args, **kw):
        """Start kestrel with @args; the serial console goes to stdout."""
        return self.spawn([KESTREL] + list(args), **kw)

    def guest(self, append="", *args, mem="128", smp=None, **kw):
        """Start kestrel on the test guest with -append @append."""
        argv = ["-nographic", "-m", mem, "-kernel", TESTGUEST]
        if append:
            argv += ["-append", append]
        if smp:
            argv += ["-smp", str(smp)]
        return self.kestrel(*(argv + list(args)), **kw)


class _TapResult(unittest.TestResult):
    def __init__(self):
        super().__init__()
        self.n = 0

    def _line(self, ok, test, extra=""):
        self.n += 1
        name = "%s.%s" % (type(test).__name__, test._testMethodName)
        print("%s %d - %s%s" % ("ok" if ok else "not ok", self.n, name, extra),
              flush=True)

    def addSuccess(self, test):
        super().addSuccess(test)
        self._line(True, test)

    def _fail(self, test, err):
        self._line(False, test)
        for ln in "".join(traceback.format_exception(*err)).splitlines():
            print("# " + ln, flush=True)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._fail(test, err)

    def addError(self, test, err):
        super().addError(test, err)
        self._fail(test, err)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._line(True, test, " # SKIP " + reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._line(True, test, " # TODO expected failure")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._line(False, test, " # unexpected success")


def main():
    """Run the TestCases of the calling module and print TAP."""
    mod = sys.modules["__main__"]
    suite = unittest.defaultTestLoader.loadTestsFromModule(mod)
    if len(sys.argv) > 1 and sys.argv[1] not in ("--tap",):
        suite = unittest.defaultTestLoader.loadTestsFromNames(
            sys.argv[1:], mod)
    print("1..%d" % suite.countTestCases(), flush=True)
    result = _TapResult()
    suite.run(result)
    sys.exit(0 if result.wasSuccessful() else 1)


class Qmp:
    """A synchronous QMP client for tests: greeting, negotiation, commands
    (events that arrive meanwhile are kept in self.events), raw lines."""

    def __init__(self, path, timeout=20, negotiate=True):
        import socket
        deadline = time.monotonic() + timeout
        self.sock = socket.socket(socket.AF_UNIX)
        while True:
            try:
                self.sock.connect(path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                p = _last_process
                if p is not None and not p.alive():
                    # Whoever was to serve it has died: say why, now.
                    p.drain(1)
                    raise AssertionError("process exited (%s) before its "
                                         "QMP socket appeared; output:\n%s"
                                         % (p.proc.returncode, p.text()))
                time.sleep(0.02)
        self.sock.settimeout(timeout)
        self.file = self.sock.makefile("rwb")
        self.events = []
        self.greeting = self.read()
        if negotiate:
            self.cmd("qmp_capabilities")

    def read_line(self):
        line = self.file.readline()
        if not line:
            raise EOFError("QMP connection closed")
        return line

    def read(self):
        import json
        return json.loads(self.read_line())

    def send_raw(self, data):
        self.file.write(data if isinstance(data, bytes) else data.encode())
        self.file.flush()

    def execute(self, name, args=None, id=None):
        """Send a command and return the whole reply object."""
        import json
        msg = {"execute": name}
        if args is not None:
            msg["arguments"] = args
        if id is not None:
            msg["id"] = id
        self.send_raw(json.dumps(msg) + "\r\n")
        return self.reply()

    def reply(self):
        while True:
            m = self.read()
            if "event" in m:
                self.events.append(m)
                continue
            return m

    def cmd(self, name, args=None):
        """Send a command; return its "return" value or raise on error."""
        r = self.execute(name, args)
        if "error" in r:
            raise AssertionError("%s failed: %s" % (name, r["error"]))
        return r["return"]

    def wait_event(self, name, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e["event"] == name:
                    return self.events.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s event within %ss (got %s)"
                                     % (name, timeout, self.events))
            self.sock.settimeout(left)
            try:
                m = self.read()
            except OSError:
                continue
            finally:
                self.sock.settimeout(20)
            if "event" in m:
                self.events.append(m)

    def close(self):
        try:
            self.file.close()
            self.sock.close()
        except OSError:
            pass


class Qtest:
    """A client of kestrel's qtest socket (QEMU's libqtest lines): the
    machine's memory and ports, read and written as a device would."""

    def __init__(self, path, timeout=20):
        deadline = time.monotonic() + timeout
        self.sock = socket.socket(socket.AF_UNIX)
        while True:
            try:
                self.sock.connect(path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                p = _last_process
                if p is not None and not p.alive():
                    p.drain(1)
                    raise AssertionError("kestrel exited: " + p.text())
                time.sleep(0.02)
        self.sock.settimeout(timeout)
        self.file = self.sock.makefile("rwb")

    def cmd(self, line):
        self.file.write(line.encode() + b"\n")
        self.file.flush()
        ans = self.file.readline().decode().strip()
        if not ans.startswith("OK"):
            raise AssertionError("qtest %r: %s" % (line, ans))
        return ans[3:]

    def write(self, addr, data):
        self.cmd("write 0x%x %d 0x%s" % (addr, len(data), data.hex()))

    def read(self, addr, size):
        return bytes.fromhex(self.cmd("read 0x%x %d" % (addr, size))[2:])

    def outb(self, port, val):
        self.cmd("outb 0x%x 0x%x" % (port, val))

    def inb(self, port):
        return int(self.cmd("inb 0x%x" % port), 16)

    def close(self):
        self.sock.close()
