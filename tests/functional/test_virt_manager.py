# SPDX-License-Identifier: GPL-2.0-or-later
"""virt-manager as a person uses it: Debian's virt-manager 4.1 in a private
X server (Xvfb), connected (a) to virtkestreld at
kestrel+unix:///system?socket=PATH and (b) to a private libvirtd whose
qemu:///system domain runs kestrel as <emulator>, lists the running test
guest; on virtkestreld its details window shows it "Running (Booted)"
and its performance page its memory.  Checked twice: in virt-manager's
--debug log (the connection goes Active, the domain is added as Running,
stats polling reports no error) and in screenshots of the X screen, which
tesseract reads: the domain's name and state must be on the screen.

virt-manager runs with HOME and the XDG directories in the test's
temporary directory, its settings in a GLib keyfile there (every stats
poll on, once a second; GDK_SCALE=2, large text for OCR) and a session
bus of its own (dbus-run-session).  xwd takes the screenshots; they are
turned into PNG here (no ImageMagick).  Screenshots and logs stay in the
temporary directory when a test fails (or always, with KESTREL_TEST_KEEP=1
in the environment).

Needs Debian's virt-manager, xvfb, x11-apps (xwd), tesseract-ocr and
tesseract-ocr-eng; the libvirtd case also what test_libvirt_qemu.py
needs.  Skipped without them."""

import os
import re
import select
import shutil
import signal
import struct
import subprocess
import time
import zlib

import ktest
from ktest import KESTREL, TESTGUEST
import test_daemon
import test_libvirt_qemu

TOOLS = {
    "virt-manager": "virt-manager",
    "Xvfb": "xvfb",
    "xwd": "x11-apps",
    "tesseract": "tesseract-ocr",
    "dbus-run-session": "dbus",
    "virsh": "libvirt-clients",
}

# GDK_SCALE=2 draws everything twice as large: text that OCR reads well.
SCREEN = (2560, 1440)

SETTINGS = """\
[org/virt-manager/virt-manager]
manager-window-width=800
manager-window-height=450

[org/virt-manager/virt-manager/stats]
update-interval=1
enable-cpu-poll=true
enable-memory-poll=true
enable-disk-poll=true
enable-net-poll=true

[org/virt-manager/virt-manager/vmlist-fields]
cpu-usage=true
host-cpu-usage=true
memory-usage=true
disk-usage=true
network-traffic=true
"""

# virt-manager's debug records that report a failure: a record is a line
# "[date virt-manager pid] LEVEL (module:line) text" plus the lines that
# continue it (XML, tracebacks).
RECORD = re.compile(r"^\[[^\]]* virt-manager \d+\] (\w+) \(([\w.]+):\d+\) ")
FAILURE = re.compile(r"error|traceback|exception|fail", re.I)


def missing_tools():
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    missing = ["%s (%s)" % (tool, pkg) for tool, pkg in TOOLS.items()
               if not shutil.which(tool, path=path)]
    if not missing:
        _, out = ktest.run(["tesseract", "--list-langs"])
        if "\neng\n" not in out + "\n":
            missing.append("tesseract's English (tesseract-ocr-eng)")
    return "not installed: " + ", ".join(missing) if missing else None


def xwd_to_rgb(data):
    """(width, height, rows of RGB bytes) of an xwd ZPixmap dump of a
    TrueColor screen (Xvfb's 24-bit screens: 3 or 4 bytes a pixel)."""
    hdr = struct.unpack(">25I", data[:100])
    (hsize, version, fmt, _depth, width, height, _xoff, byte_order, _unit,
     _bitorder, _pad, bpp, bpl, _vclass, rmask, gmask, bmask, _bits,
     _entries, ncolors) = hdr[:20]
    if version != 7 or fmt != 2 or bpp not in (24, 32):
        raise ValueError("unexpected xwd dump: %s" % (hdr,))
    n = bpp // 8
    off = hsize + 12 * ncolors
    shifts = [(m & -m).bit_length() - 1 for m in (rmask, gmask, bmask)]
    fast = byte_order == 0 and shifts == [16, 8, 0]     # B, G, R(, X)
    rows = []
    for y in range(height):
        row = data[off + y * bpl:off + y * bpl + width * n]
        out = bytearray(width * 3)
        if fast:
            out[0::3], out[1::3], out[2::3] = row[2::n], row[1::n], row[0::n]
        else:
            order = "little" if byte_order == 0 else "big"
            for x in range(width):
                p = int.from_bytes(row[x * n:x * n + n], order)
                out[x * 3:x * 3 + 3] = bytes((p >> s) & 255 for s in shifts)
        rows.append(bytes(out))
    return width, height, rows


def png(width, height, rows):
    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body +
                struct.pack(">I", zlib.crc32(kind + body)))
    raw = b"".join(b"\0" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0,
                                       0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def selection_text(row):
    """A row of RGB pixels as a grey row for OCR: white, unless most of
    the row is a saturated blue (GTK's selection), when the light text on
    it is drawn black."""
    reds, blues = row[0::24], row[2::24]
    if sum(1 for r, b in zip(reds, blues) if b - r > 100) * 3 < len(reds):
        return b"\xff" * (len(row) // 3)
    greens = row[1::3]
    background = sorted(greens[::8])[len(greens[::8]) // 2]
    cut = (background + 255) // 2
    return greens.translate(bytes(0 if v > cut else 255
                                  for v in range(256)))


def normalize(text):
    """OCR text for matching: dashes unified, case and blanks ignored."""
    text = re.sub("[\u2010-\u2015\u2212]", "-", text)
    return re.sub(r"\s+", "", text).lower()


class Logged:
    """A process in a session of its own whose stdout and stderr go to a
    file (never a pipe that fills up while the test looks elsewhere)."""

    def __init__(self, argv, path, **kw):
        self.path = path
        with open(path, "wb") as out:
            self.proc = subprocess.Popen(
                [str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True, **kw)

    def text(self):
        with open(self.path, errors="replace") as f:
            return f.read()

    def lines(self):
        return self.text().splitlines()

    def alive(self):
        return self.proc.poll() is None

    def wait_line(self, pattern, timeout):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            exited = not self.alive()
            for line in self.lines():
                m = rx.search(line)
                if m:
                    return m
            if exited or time.monotonic() > deadline:
                raise AssertionError(
                    "%s: no line matching /%s/ within %ss%s (log %s)"
                    % (self.proc.args[0], pattern, timeout,
                       ", it exited (%s)" % self.proc.returncode
                       if exited else "", self.path))
            time.sleep(0.1)

    def children(self):
        path = "/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)
        try:
            with open(path) as f:
                return [int(pid) for pid in f.read().split()]
        except OSError:
            return []

    def stop(self, timeout=10):
        """SIGTERM to its children (dbus-run-session then ends its bus and
        exits), then to its process group, SIGKILL if it lingers."""
        children = self.children()
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        if children:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if self.proc.poll() is not None:
                break
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:                    # what else of its group is left
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class VirtManagerCase(ktest.TestCase):
    """An X server, then virt-manager on self.uri; subclasses provide the
    hypervisor (start_backend, stop_backend) with one running domain."""

    backend_errors = []         # virt-manager records a backend explains

    def setUp(self):
        ktest.need_kvm()        # a running domain is the point
        why = missing_tools() or self.missing_prerequisite()
        if why:
            ktest.missing_prerequisite(why)
        super().setUp()
        self.keep = bool(os.environ.get("KESTREL_TEST_KEEP"))
        self.gui = self.xvfb = None
        self.shots = 0
        self.name = "testguest-%d" % os.getpid()
        try:
            self.xvfb, self.display = self.start_xvfb()
            self.start_backend()
        except BaseException:
            self.tearDown()
            raise

    def missing_prerequisite(self):
        return None

    def tearDown(self):
        try:
            if self.gui:
                self.gui.stop()
        finally:
            try:
                self.stop_backend()
            finally:
                if self.xvfb:
                    self.xvfb.stop()    # SIGTERM: Xvfb removes its lock
                for p in self._procs:
                    p.kill()
                if self.keep:
                    print("# screenshots and logs kept in %s" % self.tmp,
                          flush=True)
                else:
                    shutil.rmtree(self.tmp, ignore_errors=True)

    def start_backend(self):
        raise NotImplementedError

    def stop_backend(self):
        pass

    @staticmethod
    def terminate(proc, timeout=10):
        """SIGTERM to a ktest.Process's group, SIGKILL if it lingers."""
        if proc.alive():
            try:
                os.killpg(proc.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait_exit(timeout)
            except AssertionError:
                pass
        proc.kill()

    def start_xvfb(self):
        """Xvfb on the first free display (it picks it: -displayfd)."""
        rfd, wfd = os.pipe()
        try:
            xvfb = Logged(["Xvfb", "-displayfd", wfd, "-screen", "0",
                           "%dx%dx24" % SCREEN, "-nolisten", "tcp",
                           "-noreset"], os.path.join(self.tmp, "Xvfb.log"),
                          pass_fds=(wfd,))
        finally:
            os.close(wfd)
        try:
            digits = b""
            deadline = time.monotonic() + 30
            while not digits.endswith(b"\n"):
                left = deadline - time.monotonic()
                r, _, _ = select.select([rfd], [], [], max(0, left))
                data = os.read(rfd, 16) if r else b""
                if not data:
                    time.sleep(0.2)
                    xvfb.stop()
                    self.fail("Xvfb chose no display: %s" % xvfb.text())
                digits += data
        finally:
            os.close(rfd)
        return xvfb, ":" + digits.decode().strip()

    def start_virt_manager(self, *args):
        home = os.path.join(self.tmp, "home")
        config = os.path.join(home, ".config")
        settings = os.path.join(config, "glib-2.0", "settings")
        runtime = os.path.join(home, "run")
        os.makedirs(settings, exist_ok=True)
        os.makedirs(runtime, mode=0o700, exist_ok=True)
        with open(os.path.join(settings, "keyfile"), "w") as f:
            f.write(SETTINGS)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("DBUS_", "XDG_", "WAYLAND", "GDK_",
                                    "GTK_", "GSETTINGS", "DISPLAY"))}
        env.update(DISPLAY=self.display, HOME=home, XDG_CONFIG_HOME=config,
                   XDG_CACHE_HOME=os.path.join(home, ".cache"),
                   XDG_DATA_HOME=os.path.join(home, ".local", "share"),
                   XDG_RUNTIME_DIR=runtime, GSETTINGS_BACKEND="keyfile",
                   NO_AT_BRIDGE="1", GDK_SCALE="2", LC_ALL="C.UTF-8")
        self.gui = Logged(["dbus-run-session", "--", "virt-manager",
                           "--debug", "--no-fork", "-c", self.uri] +
                          list(args), os.path.join(self.tmp,
                                                   "virt-manager.log"),
                          env=env)

    def wait_log(self, pattern, timeout):
        return self.gui.wait_line(pattern, timeout)

    def screenshot(self):
        """The whole X screen as a PNG in the temporary directory."""
        self.shots += 1
        path = os.path.join(self.tmp, "screen-%d.png" % self.shots)
        p = subprocess.run(["xwd", "-root", "-silent", "-display",
                            self.display], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        width, height, rows = xwd_to_rgb(p.stdout)
        with open(path, "wb") as f:
            f.write(png(width, height, rows))
        return path, rows

    def ocr(self, path, rows):
        """What tesseract reads on the screenshot @path (with @rows), and
        on a second page that has only the selected rows (a selection's
        light text on its blue, which tesseract does not read), drawn
        black on white."""
        selected = path[:-4] + "-selected.pgm"
        with open(selected, "wb") as f:
            f.write(b"P5 %d %d 255\n" % (len(rows[0]) // 3, len(rows)))
            for r in rows:
                f.write(selection_text(r))
        pages = path[:-4] + ".list"
        with open(pages, "w") as f:
            f.write(path + "\n" + selected + "\n")
        p = subprocess.run(["tesseract", pages, "-"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        text = p.stdout.decode(errors="replace")
        with open(path[:-4] + ".txt", "w") as f:
            f.write(text)
        os.unlink(pages)
        os.unlink(selected)
        return text

    def wait_screen(self, want, timeout=40):
        """Screenshots until tesseract reads every string of @want on the
        screen; returns (text, rows) of the last one."""
        deadline = time.monotonic() + timeout
        while True:
            path, rows = self.screenshot()
            text = self.ocr(path, rows)
            seen = normalize(text)
            missing = [w for w in want if normalize(w) not in seen]
            if not missing:
                return text, rows
            if time.monotonic() > deadline or not self.gui.alive():
                self.fail("not on the screen (%s): %s; tesseract read:\n%s"
                          % (path, missing, text))
            os.unlink(path)
            os.unlink(path[:-4] + ".txt")
            time.sleep(1)

    def failures(self):
        """virt-manager's records that report an error, as (module, text)
        with their continuation lines, less those backend_errors match."""
        records, cur = [], None
        for line in self.gui.lines():
            m = RECORD.match(line)
            if m:
                cur = [m.group(2), line[m.end():]]
                records.append(cur)
            elif cur is not None:
                cur[1] += "\n" + line
        return [(mod, text) for mod, text in records
                if FAILURE.search(text) and
                not any(re.search(rx, text) for rx in self.backend_errors)]

    def check_window(self, args, window, want, later=()):
        """virt-manager with @args on self.uri: the connection goes
        Active, the domain is added as Running, the log shows @window
        (a regex) and tesseract reads @want on the screen; after a few
        stats polls (one a second) no error is reported, virt-manager
        still runs and the screen shows @later."""
        try:
            self.start_virt_manager(*args)
            self.wait_log(r"\(connection:\d+\) conn=%s changed to "
                          r"state=Active$" % re.escape(self.uri), 90)
            self.wait_log(r"\(connection:\d+\) domain=%s status=Running "
                          r"added$" % re.escape(self.name), 10)
            self.wait_log(window, 20)
            _, rows = self.wait_screen(want)
            # not a blank screen: more than a handful of colours
            colours = {r[i:i + 3] for r in rows[::8] for i in
                       range(0, len(r), 24)}
            self.assertGreater(len(colours), 8, "a blank screen")
            time.sleep(4)
            self.assertTrue(self.gui.alive(), "virt-manager exited")
            text, _ = self.wait_screen(later, 20)
            self.assertEqual(self.failures(), [], "virt-manager reports "
                             "errors")
            return text
        except BaseException:
            self.keep = True
            raise


class Virtkestreld(VirtManagerCase):
    """virt-manager connected to our daemon."""

    # virtkestreld serves no storage, network or node devices; when
    # virt-manager opens a connection it registers their events and
    # defines a default storage pool: answered "unknown procedure".
    backend_errors = [
        r"^Error registering (network|storage pool|node device) events: "
        r"unknown procedure: \d+$",
        r"Could not define storage pool: unknown procedure: 77",
    ]

    def missing_prerequisite(self):
        if not os.access(test_daemon.DAEMON, os.X_OK):
            return "no virtkestreld at %s" % test_daemon.DAEMON
        return None

    def start_backend(self):
        self.sock = os.path.join(self.tmp, "sock")
        self.uri = "kestrel+unix:///system?socket=%s" % self.sock
        env = dict(os.environ, KESTREL=os.path.abspath(KESTREL))
        self.daemon = self.spawn(
            [test_daemon.DAEMON, "--socket", self.sock,
             "--config-dir", os.path.join(self.tmp, "etc"),
             "--state-dir", os.path.join(self.tmp, "run"),
             "--log-dir", os.path.join(self.tmp, "log")], env=env)
        self.daemon.wait_line(r"listening on", 30)
        xml = os.path.join(self.tmp, self.name + ".xml")
        with open(xml, "w") as f:
            f.write(test_daemon.domain_xml(self.name, "balloon", 64))
        self.virsh("define", xml)
        self.virsh("start", self.name)

    def virsh(self, *args, check=True):
        status, out = ktest.run(["virsh", "-c", self.uri] + list(args),
                                timeout=60)
        if check:
            self.assertEqual(status, 0, "virsh %s: %s" % (args, out))
        return out

    def stop_backend(self):
        if not getattr(self, "daemon", None):
            return
        if self.daemon.alive():
            self.virsh("destroy", self.name, check=False)
            self.terminate(self.daemon)
        # a VMM the daemon left running: its pid file
        run = os.path.join(self.tmp, "run")
        for f in os.listdir(run) if os.path.isdir(run) else []:
            if f.endswith(".pid"):
                try:
                    with open(os.path.join(run, f)) as fh:
                        os.kill(int(fh.read().strip()), signal.SIGKILL)
                except (OSError, ValueError):
                    pass

    def test_manager_lists_running_domain(self):
        self.check_window([], r"\(manager:\d+\) Showing manager$",
                          ["kestrel", self.name, "Running"])

    def test_details_window(self):
        self.check_window(["--show-domain-editor", self.name],
                          r"\(vmwindow:\d+\) Showing VM details: ",
                          [self.name, "Running (Booted)"])

    def test_performance_window(self):
        self.check_window(["--show-domain-performance", self.name],
                          r"\(vmwindow:\d+\) Showing VM details: ",
                          ["CPU usage", "Memory usage"], ["of 64 MiB"])


class LibvirtdQemu(VirtManagerCase):
    """virt-manager connected to Debian's libvirtd, whose QEMU driver runs
    kestrel as the domain's <emulator>."""

    def missing_prerequisite(self):
        return test_libvirt_qemu.missing_prerequisite()

    def start_backend(self):
        # libvirt-qemu reads the kernel: a directory it can traverse
        os.chmod(self.tmp, 0o755)
        kernel = os.path.join(self.tmp, "testguest.elf")
        shutil.copy(TESTGUEST, kernel)
        self.emulator = os.path.abspath(KESTREL)
        self.inst = os.path.join(self.tmp, "libvirt")
        self.uri = "qemu+unix:///system?socket=%s/run/libvirt-sock" % \
            self.inst
        status, out = ktest.run(["sh", test_libvirt_qemu.INSTANCE, "start",
                                 self.inst], timeout=60)
        self.started = True
        self.assertEqual(status, 0, "libvirtd-instance.sh start: " + out)
        xml = os.path.join(self.tmp, "domain.xml")
        with open(xml, "w") as f:
            f.write(test_libvirt_qemu.DOMAIN_XML.format(
                name=self.name, kernel=kernel, emulator=self.emulator))
        self.virsh("define", xml)
        self.virsh("start", self.name)

    def virsh(self, *args, check=True):
        status, out = ktest.run(["virsh", "-c", self.uri] + list(args),
                                timeout=60)
        if check:
            self.assertEqual(status, 0, "virsh %s: %s" % (args, out))
        return out

    def kestrel_pids(self):
        pids = []
        for pid in os.listdir("/proc"):
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if argv[0] == self.emulator.encode() and \
                    ("guest=%s," % self.name).encode() in b" ".join(argv):
                pids.append(int(pid))
        return pids

    def stop_backend(self):
        if not getattr(self, "started", False):
            return
        self.virsh("destroy", self.name, check=False)
        ktest.run(["sh", test_libvirt_qemu.INSTANCE, "stop", self.inst])
        for pid in self.kestrel_pids():     # nothing of ours outlives it
            os.kill(pid, signal.SIGKILL)

    def test_manager_lists_running_domain(self):
        self.check_window([], r"\(manager:\d+\) Showing manager$",
                          ["QEMU/KVM", self.name, "Running"])


if __name__ == "__main__":
    ktest.main()
