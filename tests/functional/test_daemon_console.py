# SPDX-License-Identifier: GPL-2.0-or-later
"""virtkestreld's consoles (DOMAIN_OPEN_CONSOLE streams) against the stock
clients: `virsh console` under a pty and python3-libvirt's openConsole with
virStream recv/send.  The test guest in dirty mode prints a "TG DIRTY"
line on its serial port every second.

Input delivery is checked only as far as the daemon: the test guest never
reads its serial port, so keystrokes are sent and the stream must stay
healthy (output keeps coming, the daemon keeps answering), but that the
guest's UART received them is not observed."""

import os
import pty
import re
import select
import signal
import struct
import threading
import time

import ktest
from test_daemon import (DaemonCase, RawClient, REMOTE_PROGRAM, VIRSH,
                         domain_xml)

SERIAL = ("<devices><serial type='pty'><target port='0'/></serial>"
          "<console type='pty'/></devices>\n</domain>")


def console_xml(name, mode="dirty tg.mb=16"):
    return domain_xml(name, mode).replace("</domain>", SERIAL)


def stream_packet(client, serial, status, data=b""):
    """Send a STREAM packet of DOMAIN_OPEN_CONSOLE on a RawClient."""
    hdr = struct.pack(">IIiiIi", REMOTE_PROGRAM, 1, 201, 3, serial, status)
    client.sock.sendall(struct.pack(">I", 28 + len(data)) + hdr + data)


def in_thread(func, timeout):
    """Run @func in a thread; its result, or raise what it raised, or
    TimeoutError (a libvirt call blocked: the thread is abandoned)."""
    box = {}

    def run():
        try:
            box["ret"] = func()
        except BaseException as e:          # noqa: B902 - handed back
            box["exc"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise TimeoutError("blocked for %s s" % timeout)
    if "exc" in box:
        raise box["exc"]
    return box["ret"]


class VirshConsole:
    """`virsh console` with a pty as its terminal (virsh wants a tty)."""

    def __init__(self, uri, name, *extra):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.execv(VIRSH, [VIRSH, "-c", uri, "console", name] +
                         list(extra))
            finally:
                os._exit(127)
        self.out = b""
        self.status = None

    def read_until(self, needle, timeout):
        deadline = time.monotonic() + timeout
        while needle not in self.out:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:             # EIO: virsh has exited
                    data = b""
                if not data:
                    return needle in self.out
                self.out += data
        return True

    def send(self, data):
        os.write(self.fd, data)

    def wait(self, timeout):
        """Exit status, or None if virsh still runs after @timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
                return self.status
            self.read_until(b"\0never\0", 0.05)     # drain its output
        return None

    def close(self):
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
        os.close(self.fd)


class ConsoleCase(DaemonCase):
    def start_guest(self, name="con"):
        path = os.path.join(self.tmp, name + ".xml")
        with open(path, "w") as f:
            f.write(console_xml(name))
        self.virsh("define", path)
        self.virsh("start", name)
        return name

    def virsh_console(self, name, *extra):
        if not VIRSH:
            ktest.missing_prerequisite("virsh is not installed (libvirt-clients)")
        c = VirshConsole(self.uri, name, *extra)
        self.addCleanup(c.close)
        return c

    def libvirt(self):
        libvirt = super().libvirt()
        # Errors are asserted on: libvirt need not print them too.
        libvirt.registerErrorHandler(lambda ctx, err: None, None)
        return libvirt

    def open_conn(self):
        libvirt = self.libvirt()
        conn = libvirt.open(self.uri)
        self.addCleanup(conn.close)
        return libvirt, conn

    def open_console(self, conn, name, flags=0):
        st = conn.newStream(0)
        conn.lookupByName(name).openConsole(None, st, flags)
        return st

    @staticmethod
    def recv_until(st, needle, timeout=10):
        """Bytes received until @needle arrived (or EOF)."""
        def loop():
            data = b""
            while needle not in data:
                chunk = st.recv(4096)
                if not chunk:
                    break
                data += chunk
            return data
        return in_thread(loop, timeout)


class VirshConsoleTests(ConsoleCase):
    def test_lines_and_escape(self):
        name = self.start_guest()
        c = self.virsh_console(name)
        self.assertTrue(c.read_until(b"TG DIRTY", 10),
                        "no guest line on virsh console: %r" % c.out)
        self.assertIn(b"Escape character is ^]", c.out)
        c.send(b"\x1d")                 # Ctrl-]: finish the stream
        self.assertEqual(c.wait(10), 0, c.out)
        # The console is free again and the daemon serves on.
        c2 = self.virsh_console(name)
        self.assertTrue(c2.read_until(b"TG DIRTY", 10), c2.out)
        c2.send(b"\x1d")
        self.assertEqual(c2.wait(10), 0, c2.out)

    def test_live_xml_names_the_pty(self):
        # dumpxml of the running domain tells where its console is, as
        # libvirt does, and it is the pty virsh console reads.
        name = self.start_guest()
        deadline = time.monotonic() + 10
        while True:
            xml = self.virsh("dumpxml", name)
            m = re.search(r"<console type='pty' tty='(/dev/pts/\d+)'>", xml)
            if m or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertTrue(m, xml)
        self.assertIn("<source path='%s'/>" % m.group(1), xml)
        self.assertTrue(os.path.exists(m.group(1)))
        self.assertNotIn("tty=", self.virsh("dumpxml", "--inactive", name))

    def test_guest_power_off_ends_virsh(self):
        name = self.start_guest()
        c = self.virsh_console(name)
        self.assertTrue(c.read_until(b"TG DIRTY", 10), c.out)
        self.virsh("shutdown", name)          # ACPI: the guest powers off
        self.assertEqual(c.wait(15), 0, c.out)
        self.assertEqual(self.state(name), "shut off (shutdown)")

    def test_shut_off_domain(self):
        self.define("off")
        c = self.virsh_console("off")
        status = c.wait(20)
        self.assertNotEqual(status, 0, c.out)
        self.assertIn(b"not running", c.out)


class StreamTests(ConsoleCase):
    def test_recv_lines(self):
        name = self.start_guest()
        libvirt, conn = self.open_conn()
        dom = conn.lookupByName(name)
        with self.assertRaises(libvirt.libvirtError) as cm:
            dom.openConsole("parallel0", conn.newStream(0), 0)
        self.assertEqual(str(cm.exception), "internal error: cannot find "
                         "character device parallel0")
        st = conn.newStream(0)
        dom.openConsole("serial0", st, 0)       # the alias of port 0
        data = self.recv_until(st, b"TG DIRTY cpu=0 gen=")
        self.assertIn(b"TG DIRTY cpu=0 gen=", data)
        in_thread(st.finish, 10)

    def test_send_keystrokes(self):
        name = self.start_guest()
        _, conn = self.open_conn()
        st = self.open_console(conn, name)
        self.recv_until(st, b"TG DIRTY")
        self.assertEqual(st.send(b"hello\r"), 6)
        # A guest that never reads: the daemon keeps a bounded backlog and
        # drops the rest rather than growing or stalling the connection.
        for _ in range(16):
            self.assertEqual(st.send(b"x" * 65536), 65536)
        self.daemon.wait_line("does not read its console, dropping input",
                              timeout=10)
        data = self.recv_until(st, b"\n")       # end the current line
        data = self.recv_until(st, b"TG DIRTY")
        self.assertIn(b"TG DIRTY", data)
        self.assertEqual(conn.lookupByName(name).info()[0], 1)  # running
        in_thread(st.abort, 10)

    def test_power_off_is_eof(self):
        name = self.start_guest()
        libvirt, conn = self.open_conn()
        st = self.open_console(conn, name)
        self.recv_until(st, b"TG DIRTY")
        conn.lookupByName(name).destroy()
        # Output up to the end, then EOF (an empty read).
        self.recv_until(st, b"\0never\0")
        in_thread(st.finish, 10)

    def test_not_running(self):
        self.define("off")
        libvirt, conn = self.open_conn()
        with self.assertRaises(libvirt.libvirtError) as cm:
            self.open_console(conn, "off")
        self.assertEqual(cm.exception.get_error_code(),
                         libvirt.VIR_ERR_OPERATION_INVALID)
        self.assertEqual(str(cm.exception),
                         "Requested operation is not valid: domain is not "
                         "running")

    def test_read_only_refused(self):
        name = self.start_guest()
        libvirt = self.libvirt()
        ro = libvirt.openReadOnly(self.uri_ro)
        self.addCleanup(ro.close)
        st = ro.newStream(0)
        with self.assertRaises(libvirt.libvirtError) as cm:
            ro.lookupByName(name).openConsole(None, st, 0)
        self.assertEqual(cm.exception.get_error_code(),
                         libvirt.VIR_ERR_OPERATION_DENIED)
        # The client checks first; the daemon refuses too.
        c = RawClient(self.sock + "-ro")
        self.addCleanup(c.close)
        c.open()
        m = c.call(23, c.string(name))          # LOOKUP_BY_NAME
        self.assertEqual(m["status"], 0)
        dom = m["payload"]
        m = c.call(201, dom + struct.pack(">II", 0, 0))
        self.assertEqual(c.error(m),
                         (29, "operation forbidden: read only access "
                              "prevents virDomainOpenConsole"))

    def test_wire_sequence(self):
        """REPLY first, then STREAM packets with the call's proc and serial;
        finish is confirmed, also for a stream the daemon does not know."""
        name = self.start_guest()
        c = RawClient(self.sock)
        self.addCleanup(c.close)
        c.open()
        dom = c.call(23, c.string(name))["payload"]     # LOOKUP_BY_NAME
        serial = c.send(201, dom + struct.pack(">II", 0, 0))
        m = c.recv()
        self.assertEqual((m["type"], m["serial"], m["status"]),
                         (1, serial, 0))
        data = b""
        while b"TG DIRTY" not in data:
            m = c.recv()
            self.assertEqual((m["proc"], m["type"], m["serial"],
                              m["status"]), (201, 3, serial, 2))
            data += m["payload"]
        stream_packet(c, serial, 2, b"hi")              # keystrokes
        stream_packet(c, serial, 0)                     # finish
        while True:
            m = c.recv()
            if m["status"] != 2:
                break
        self.assertEqual((m["proc"], m["type"], m["serial"], m["status"],
                          m["payload"]), (201, 3, serial, 0, b""))
        stream_packet(c, serial + 100, 1)               # abort, unknown
        m = c.recv()
        self.assertEqual((m["type"], m["serial"], m["status"]),
                         (3, serial + 100, 0))
        self.assertEqual(c.call(212, dom + struct.pack(">I", 0))["status"],
                         0)                             # GET_STATE

    def test_busy_and_force(self):
        name = self.start_guest()
        libvirt, conn = self.open_conn()
        first = self.open_console(conn, name)
        self.recv_until(first, b"TG DIRTY")
        _, conn2 = self.open_conn()
        with self.assertRaises(libvirt.libvirtError) as cm:
            self.open_console(conn2, name)
        self.assertEqual(cm.exception.get_error_code(),
                         libvirt.VIR_ERR_OPERATION_FAILED)
        self.assertEqual(str(cm.exception),
                         "operation failed: Active console session exists "
                         "for this domain")
        second = self.open_console(conn2, name,
                                   libvirt.VIR_DOMAIN_CONSOLE_FORCE)
        self.assertIn(b"TG DIRTY", self.recv_until(second, b"TG DIRTY"))
        # The first session ends with an error.
        with self.assertRaises(libvirt.libvirtError) as cm:
            self.recv_until(first, b"\0never\0")
        self.assertIn("taken over", str(cm.exception))
        in_thread(second.finish, 10)

    def test_virsh_force_takes_over(self):
        name = self.start_guest()
        libvirt, conn = self.open_conn()
        first = self.open_console(conn, name)
        c = self.virsh_console(name)
        self.assertNotEqual(c.wait(20), 0)
        self.assertIn(b"Active console session exists", c.out)
        c2 = self.virsh_console(name, "--force")
        self.assertTrue(c2.read_until(b"TG DIRTY", 10), c2.out)
        with self.assertRaises(libvirt.libvirtError):
            self.recv_until(first, b"\0never\0")
        c2.send(b"\x1d")
        self.assertEqual(c2.wait(10), 0, c2.out)


if __name__ == "__main__":
    ktest.main()
