# SPDX-License-Identifier: GPL-2.0-or-later
"""virtkestreld against the stock libvirt clients: virsh and python3-libvirt
(Debian's libvirt 9.0) manage test-guest domains through our daemon, which
runs in a temporary directory (--socket, --config-dir, --state-dir,
--log-dir).  A raw protocol client checks what the stock clients never
send: calls on a read-only socket, keepalive, unknown procedures and calls
answered out of order."""

import os
import shutil
import signal
import socket
import struct
import subprocess
import time

import ktest
from ktest import KESTREL, TESTGUEST, BUILDDIR

DAEMON = os.environ.get("VIRTKESTRELD",
                        os.path.join(BUILDDIR, "driver", "virtkestreld"))
VIRSH = shutil.which("virsh")

REMOTE_PROGRAM = 0x20008086
KEEPALIVE_PROGRAM = 0x6B656570

DOMAIN_XML = """<domain type='kvm'>
  <name>%(name)s</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='kestrel'>hvm</type>
    <kernel>%(kernel)s</kernel>
    <cmdline>tg.mode=idle</cmdline>
  </os>
  <features><acpi/></features>
</domain>
"""


def domain_xml(name, mode="idle", mib=64):
    xml = DOMAIN_XML % {"name": name, "kernel": os.path.abspath(TESTGUEST)}
    return (xml.replace("tg.mode=idle", "tg.mode=" + mode)
               .replace("<memory unit='MiB'>64<",
                        "<memory unit='MiB'>%d<" % mib))


class RawClient:
    """Just enough of libvirt's wire protocol to send what clients don't."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(20)
        self.sock.connect(path)
        self.serial = 0
        self.buf = b""

    def close(self):
        self.sock.close()

    @staticmethod
    def string(s):
        b = s.encode()
        return struct.pack(">I", len(b)) + b + b"\0" * (-len(b) % 4)

    def send(self, proc, payload=b"", prog=REMOTE_PROGRAM, mtype=0,
             serial=None):
        if serial is None:
            serial = self.serial
            self.serial += 1
        hdr = struct.pack(">IIiiIi", prog, 1, proc, mtype, serial, 0)
        self.sock.sendall(struct.pack(">I", 28 + len(payload)) + hdr +
                          payload)
        return serial

    def recv(self):
        while True:
            if len(self.buf) >= 4:
                (n,) = struct.unpack(">I", self.buf[:4])
                if len(self.buf) >= n:
                    msg, self.buf = self.buf[:n], self.buf[n:]
                    prog, vers, proc, mtype, serial, status = struct.unpack(
                        ">IIiiIi", msg[4:28])
                    return {"prog": prog, "proc": proc, "type": mtype,
                            "serial": serial, "status": status,
                            "payload": msg[28:]}
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("daemon closed the connection")
            self.buf += data

    def reply(self, serial):
        while True:
            m = self.recv()
            if m["type"] == 1 and m["serial"] == serial:
                return m

    def call(self, proc, payload=b""):
        return self.reply(self.send(proc, payload))

    @staticmethod
    def error(m):
        """(code, message) of an error reply."""
        code, _domain, has_msg = struct.unpack(">iiI", m["payload"][:12])
        msg = ""
        if has_msg:
            (n,) = struct.unpack(">I", m["payload"][12:16])
            msg = m["payload"][16:16 + n].decode()
        return code, msg

    def open(self, flags=0):
        self.call(66)                                   # AUTH_LIST
        m = self.call(1, struct.pack(">I", 1) +
                      self.string("kestrel:///system") +
                      struct.pack(">I", flags))         # CONNECT_OPEN
        assert m["status"] == 0, self.error(m)


class DaemonCase(ktest.TestCase):
    def setUp(self):
        super().setUp()
        if not os.access(DAEMON, os.X_OK):
            ktest.missing_prerequisite("no virtkestreld at %s" % DAEMON)
        self.sock = os.path.join(self.tmp, "sock")
        self.uri = "kestrel+unix:///system?socket=%s" % self.sock
        self.uri_ro = "kestrel+unix:///system?socket=%s-ro" % self.sock
        self.daemon = None
        self.start_daemon()

    def tearDown(self):
        # Before ktest removes the temporary directory with the pid files.
        self.cleanup_domains()
        if self.daemon and self.daemon.alive():
            self.stop_daemon()          # a clean exit: sanitizers report
        super().tearDown()

    def start_daemon(self):
        env = dict(os.environ, KESTREL=os.path.abspath(KESTREL))
        argv = [DAEMON, "--socket", self.sock,
                "--config-dir", os.path.join(self.tmp, "etc"),
                "--state-dir", os.path.join(self.tmp, "run"),
                "--log-dir", os.path.join(self.tmp, "log")]
        self.daemon = self.spawn(argv, env=env)
        # Socket files left by a killed daemon exist already: connect.
        self.wait_for(lambda: self.listening(self.sock + "-ro"),
                      "the daemon's sockets")

    @staticmethod
    def listening(path):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def stop_daemon(self, sig=signal.SIGTERM):
        os.kill(self.daemon.proc.pid, sig)
        self.daemon.wait_exit(10)

    def cleanup_domains(self):
        """Kill the VMMs the test left running (their pid files)."""
        run = os.path.join(self.tmp, "run")
        for f in os.listdir(run) if os.path.isdir(run) else []:
            if f.endswith(".pid"):
                try:
                    with open(os.path.join(run, f)) as fh:
                        os.kill(int(fh.read().strip()), signal.SIGKILL)
                except (OSError, ValueError):
                    pass

    def wait_for(self, pred, what, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return
            time.sleep(0.05)
        self.fail("timed out waiting for %s" % what)

    def virsh(self, *args, uri=None, ok=True):
        if not VIRSH:
            ktest.missing_prerequisite("virsh is not installed (libvirt-clients)")
        status, out = ktest.run([VIRSH, "-c", uri or self.uri] + list(args),
                                timeout=60)
        if ok:
            self.assertEqual(status, 0, "virsh %s: %s" % (args, out))
        else:
            self.assertNotEqual(status, 0, "virsh %s: %s" % (args, out))
        return out

    def libvirt(self):
        try:
            import libvirt
        except ImportError:
            ktest.missing_prerequisite("python3-libvirt is not available to this Python")
        return libvirt

    def define(self, name="tg", mode="idle", mib=64):
        path = os.path.join(self.tmp, name + ".xml")
        with open(path, "w") as f:
            f.write(domain_xml(name, mode, mib))
        self.virsh("define", path)
        return path

    def state(self, name):
        return self.virsh("domstate", "--reason", name).strip()

    def wait_state(self, name, want, timeout=20):
        self.wait_for(lambda: self.state(name) == want,
                      "domain %s to be %s" % (name, want), timeout)


class Handshake(DaemonCase):
    def test_list_empty(self):
        out = self.virsh("list", "--all")
        self.assertIn("Id", out)
        self.assertNotIn("running", out)

    def test_version_and_host(self):
        out = self.virsh("version")
        self.assertIn("Using API: Kestrel", out)
        self.assertIn("Running hypervisor: Kestrel 0.1.0", out)
        self.assertEqual(self.virsh("hostname").strip(), socket.gethostname())
        out = self.virsh("nodeinfo")
        self.assertRegex(out, r"CPU\(s\):\s+%d" % os.cpu_count())

    def test_capabilities(self):
        self.assertIn("<machine maxCpus='255'>kestrel</machine>",
                      self.virsh("capabilities"))
        self.assertEqual(self.virsh("maxvcpus").strip(), "255")

    def test_python_connection(self):
        libvirt = self.libvirt()
        conn = libvirt.open(self.uri)
        self.addCleanup(conn.close)
        self.assertEqual(conn.getType(), "Kestrel")
        self.assertEqual(conn.getVersion(), 1000)
        self.assertEqual(conn.listAllDomains(), [])
        self.assertTrue(conn.isAlive())

    def test_unknown_procedure_is_no_support(self):
        libvirt = self.libvirt()
        conn = libvirt.open(self.uri)
        self.addCleanup(conn.close)
        with self.assertRaises(libvirt.libvirtError) as cm:
            conn.listAllNetworks()
        self.assertEqual(cm.exception.get_error_code(),
                         libvirt.VIR_ERR_NO_SUPPORT)

    def test_keepalive_ping(self):
        c = RawClient(self.sock)
        self.addCleanup(c.close)
        c.send(1, prog=KEEPALIVE_PROGRAM, mtype=2, serial=0)
        m = c.recv()
        self.assertEqual((m["prog"], m["proc"], m["type"]),
                         (KEEPALIVE_PROGRAM, 2, 2))

    def test_legacy_event_registration(self):
        c = RawClient(self.sock)
        self.addCleanup(c.close)
        c.open()
        m = c.call(167, struct.pack(">i", 0))   # REGISTER_ANY lifecycle
        self.assertEqual(m["status"], 0)
        m = c.call(167, struct.pack(">i", 0))
        self.assertEqual(c.error(m),
                         (1, "internal error: domain event 0 already "
                             "registered"))
        self.define("legacy")
        while True:
            m = c.recv()
            if m["type"] == 2:
                break
        self.assertEqual(m["proc"], 107)        # DOMAIN_EVENT_LIFECYCLE
        (n,) = struct.unpack(">I", m["payload"][:4])
        self.assertEqual(m["payload"][4:4 + n], b"legacy")
        tail = m["payload"][-12:]
        self.assertEqual(struct.unpack(">iii", tail), (-1, 0, 0))
        m = c.call(168, struct.pack(">i", 0))
        self.assertEqual(m["status"], 0)

    def test_call_before_open(self):
        c = RawClient(self.sock)
        self.addCleanup(c.close)
        m = c.call(273, struct.pack(">iI", 1, 0))    # LIST_ALL_DOMAINS
        self.assertEqual(m["status"], 1)
        self.assertEqual(c.error(m),
                         (1, "internal error: connection not open"))

    def test_bad_length_closes(self):
        c = RawClient(self.sock)
        self.addCleanup(c.close)
        c.sock.sendall(struct.pack(">I", 8) + b"\0" * 4)
        with self.assertRaises((EOFError, ConnectionResetError)):
            c.recv()
        self.virsh("list")                      # the daemon lives on


    def test_garbage_arguments(self):
        """Random arguments for every procedure we serve: error replies,
        never a crash (read-only socket: nothing gets changed)."""
        import random
        rnd = random.Random(1234)
        self.define("victim")
        procs = [1, 3, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15, 16, 17, 18, 19,
                 20, 21, 22, 23, 24, 25, 27, 28, 29, 30, 31, 33, 34, 35, 37,
                 51, 59, 60, 66, 102, 110, 121, 122, 149, 150, 151, 157, 159,
                 163, 164, 167, 168, 183, 196, 200, 202, 203, 204, 212, 229,
                 231, 234, 245, 258, 273, 293, 298, 308, 316, 317, 342, 344,
                 350, 360, 361]
        for ro in (True, False):
            c = RawClient(self.sock + ("-ro" if ro else ""))
            c.open()
            for proc in procs:
                for _ in range(20):
                    n = rnd.choice([0, 1, 4, 8, 16, 24, 40, 64, 200])
                    payload = bytes(rnd.getrandbits(8) for _ in range(n))
                    if proc in (2, 9, 10, 12, 33, 34, 35, 196, 231, 234,
                                258) and not ro:
                        continue        # would act on real domains
                    m = c.call(proc, payload)
                    self.assertEqual(m["type"], 1)
            c.close()
        self.assertIn("victim", self.virsh("list", "--all"))


class Lifecycle(DaemonCase):
    def test_virsh_lifecycle(self):
        self.define("tg")
        self.assertRegex(self.virsh("list", "--all"), r"-\s+tg\s+shut off")
        self.assertIn("Domain 'tg' started", self.virsh("start", "tg"))
        self.assertRegex(self.virsh("list"), r"1\s+tg\s+running")
        info = self.virsh("dominfo", "tg")
        self.assertRegex(info, r"State:\s+running")
        self.assertRegex(info, r"Persistent:\s+yes")
        self.assertRegex(info, r"Max memory:\s+65536 KiB")
        self.assertEqual(self.state("tg"), "running (booted)")
        xml = self.virsh("dumpxml", "tg")
        self.assertIn("<domain type='kvm' id='1'>", xml)
        self.assertIn("<cmdline>tg.mode=idle</cmdline>", xml)
        # No <emulator> in the XML defined: the daemon's is filled in.
        self.assertRegex(xml, r"<emulator>/\S+kestrel</emulator>")
        self.virsh("suspend", "tg")
        self.assertEqual(self.state("tg"), "paused (user)")
        self.virsh("resume", "tg")
        self.assertEqual(self.state("tg"), "running (unpaused)")
        self.assertIn("is being shutdown", self.virsh("shutdown", "tg"))
        self.wait_state("tg", "shut off (shutdown)")
        self.virsh("start", "tg")
        self.assertRegex(self.virsh("list"), r"2\s+tg\s+running")
        self.virsh("destroy", "tg")
        self.assertEqual(self.state("tg"), "shut off (destroyed)")
        self.virsh("undefine", "tg")
        self.assertNotIn("tg", self.virsh("list", "--all"))

    def test_config_survives_restart(self):
        self.define("keep")
        self.stop_daemon()
        self.start_daemon()
        self.assertRegex(self.virsh("list", "--all"), r"-\s+keep\s+shut off")

    def test_running_domain_survives_daemon_kill(self):
        self.define("tg")
        self.virsh("start", "tg")
        self.stop_daemon(signal.SIGKILL)
        self.start_daemon()
        self.assertRegex(self.virsh("list"), r"1\s+tg\s+running")
        self.virsh("suspend", "tg")
        self.assertEqual(self.state("tg"), "paused (user)")
        self.virsh("destroy", "tg")
        self.assertEqual(self.state("tg"), "shut off (destroyed)")

    def test_autostart(self):
        ktest.need_kvm()        # the daemon starts it in the background
        self.define("auto")
        self.virsh("autostart", "auto")
        self.assertRegex(self.virsh("dominfo", "auto"),
                         r"Autostart:\s+enable")
        self.stop_daemon()
        self.start_daemon()
        self.wait_state("auto", "running (booted)")
        self.virsh("destroy", "auto")
        self.virsh("autostart", "--disable", "auto")
        self.assertRegex(self.virsh("dominfo", "auto"),
                         r"Autostart:\s+disable")

    def test_transient_guest_shutdown(self):
        path = os.path.join(self.tmp, "g.xml")
        with open(path, "w") as f:
            f.write(domain_xml("g"))
        self.virsh("create", path)
        self.virsh("shutdown", "g")
        self.wait_for(lambda: "g" not in self.virsh("list", "--all"),
                      "the transient domain to go away")

    def test_guest_powers_off(self):
        self.define("hello", mode="hello")
        self.virsh("start", "hello")
        self.wait_state("hello", "shut off (shutdown)")

    def test_vmm_killed(self):
        self.define("k")
        self.virsh("start", "k")
        with open(os.path.join(self.tmp, "run", "k.pid")) as f:
            os.kill(int(f.read()), signal.SIGKILL)
        self.wait_state("k", "shut off (crashed)")
        self.virsh("start", "k")
        self.virsh("destroy", "k")

    def test_transient_domain(self):
        path = os.path.join(self.tmp, "t.xml")
        with open(path, "w") as f:
            f.write(domain_xml("t"))
        self.virsh("create", path)
        self.assertRegex(self.virsh("list", "--transient"), r"t\s+running")
        self.virsh("destroy", "t")
        self.assertNotIn(" t ", self.virsh("list", "--all"))

    def test_python_lifecycle_events(self):
        libvirt = self.libvirt()
        libvirt.virEventRegisterDefaultImpl()
        conn = libvirt.open(self.uri)
        self.addCleanup(conn.close)
        events = []

        def cb(conn, dom, event, detail, opaque):
            events.append((dom.name(), event, detail))

        cid = conn.domainEventRegisterAny(
            None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, cb, None)
        dom = conn.defineXML(domain_xml("ev"))
        dom.create()
        dom.destroy()
        want = [("ev", libvirt.VIR_DOMAIN_EVENT_DEFINED,
                 libvirt.VIR_DOMAIN_EVENT_DEFINED_ADDED),
                ("ev", libvirt.VIR_DOMAIN_EVENT_STARTED,
                 libvirt.VIR_DOMAIN_EVENT_STARTED_BOOTED),
                ("ev", libvirt.VIR_DOMAIN_EVENT_STOPPED,
                 libvirt.VIR_DOMAIN_EVENT_STOPPED_DESTROYED)]
        deadline = time.monotonic() + 10
        while len(events) < len(want) and time.monotonic() < deadline:
            libvirt.virEventRunDefaultImpl()
        conn.domainEventDeregisterAny(cid)
        self.assertEqual(events, want)

    def test_list_filters(self):
        libvirt = self.libvirt()
        conn = libvirt.open(self.uri)
        self.addCleanup(conn.close)
        a = conn.defineXML(domain_xml("a"))
        conn.defineXML(domain_xml("b"))
        a.create()
        names = lambda f: sorted(d.name() for d in conn.listAllDomains(f))
        self.assertEqual(names(0), ["a", "b"])
        self.assertEqual(names(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE), ["a"])
        self.assertEqual(names(libvirt.VIR_CONNECT_LIST_DOMAINS_INACTIVE),
                         ["b"])
        self.assertEqual(names(libvirt.VIR_CONNECT_LIST_DOMAINS_RUNNING),
                         ["a"])
        self.assertEqual(names(libvirt.VIR_CONNECT_LIST_DOMAINS_SHUTOFF |
                               libvirt.VIR_CONNECT_LIST_DOMAINS_PAUSED),
                         ["b"])
        self.assertEqual(names(libvirt.VIR_CONNECT_LIST_DOMAINS_TRANSIENT),
                         [])
        self.assertEqual(conn.listDomainsID(), [a.ID()])
        self.assertEqual(conn.listDefinedDomains(), ["b"])
        a.destroy()


class Memory(DaemonCase):
    def test_setmem_and_setmaxmem(self):
        self.define("m")
        self.virsh("setmaxmem", "m", "128M", "--config")
        self.virsh("setmem", "m", "96M", "--config")
        xml = self.virsh("dumpxml", "--inactive", "m")
        self.assertIn("<memory unit='KiB'>131072</memory>", xml)
        self.assertIn("<currentMemory unit='KiB'>98304</currentMemory>", xml)
        self.virsh("start", "m")
        out = self.virsh("setmaxmem", "m", "256M", ok=False)
        self.assertIn("cannot resize the maximum memory on an active "
                      "domain", out)
        out = self.virsh("setmem", "m", "1G", ok=False)
        self.assertIn("invalid argument: cannot set memory higher than max "
                      "memory", out)
        self.virsh("setmem", "m", "64M")
        # The live change leaves the persistent config alone.
        self.assertIn("<currentMemory unit='KiB'>98304</currentMemory>",
                      self.virsh("dumpxml", "--inactive", "m"))
        out = self.virsh("dommemstat", "m")
        self.assertRegex(out, r"actual \d+")
        self.virsh("dommemstat", "--period", "2", "m")
        self.virsh("destroy", "m")

    def test_balloon_follows_setmem(self):
        libvirt = self.libvirt()
        libvirt.virEventRegisterDefaultImpl()
        conn = libvirt.open(self.uri)
        self.addCleanup(conn.close)
        changes = []
        cid = conn.domainEventRegisterAny(
            None, libvirt.VIR_DOMAIN_EVENT_ID_BALLOON_CHANGE,
            lambda c, d, actual, o: changes.append(actual), None)
        dom = conn.defineXML(domain_xml("bal", "balloon", 256))
        dom.create()
        dom.setMemoryFlags(128 * 1024, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        deadline = time.monotonic() + 20
        while 131072 not in changes and time.monotonic() < deadline:
            libvirt.virEventRunDefaultImpl()
        conn.domainEventDeregisterAny(cid)
        self.assertIn(131072, changes)
        stats = dom.memoryStats()
        self.assertEqual(stats["actual"], 131072)
        self.assertIn("rss", stats)
        self.assertEqual(dom.info()[2], 131072)
        dom.destroy()

    def test_domstats(self):
        self.define("st")
        self.virsh("start", "st")
        out = self.virsh("domstats")
        for key in ("state.state=1", "state.reason=1", "cpu.time=",
                    "balloon.maximum=65536", "vcpu.current=1",
                    "vcpu.0.state=1"):
            self.assertIn(key, out)
        out = self.virsh("domstats", "--perf", "--enforce", "st", ok=False)
        self.assertIn("argument unsupported", out)
        out = self.virsh("domstats", "--list-inactive")
        self.assertNotIn("st", out)
        self.assertIn("CPU Affinity", self.virsh("vcpuinfo", "st"))
        self.virsh("destroy", "st")

    def test_domstats_balloon_has_guest_stats(self):
        # What virt-manager and monitoring read: with a stats period the
        # balloon group carries the guest's own numbers, as libvirt's QEMU
        # driver reports them (sizes in KiB).
        path = os.path.join(self.tmp, "gs.xml")
        with open(path, "w") as f:
            f.write(domain_xml("gs", "balloon", 128).replace(
                "</domain>", "<devices><memballoon model='virtio'>"
                "<stats period='1'/></memballoon></devices></domain>"))
        self.virsh("define", path)
        self.virsh("start", "gs")
        deadline = time.monotonic() + 30
        while True:
            out = self.virsh("domstats", "--balloon", "gs")
            if "balloon.unused=" in out or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        fields = dict(l.strip().split("=", 1) for l in out.splitlines()
                      if "=" in l)
        for key in ("balloon.unused", "balloon.available", "balloon.usable",
                    "balloon.rss", "balloon.last-update"):
            self.assertIn(key, fields, out)
        self.assertLessEqual(int(fields["balloon.unused"]),
                             int(fields["balloon.available"]))
        self.assertLessEqual(int(fields["balloon.available"]), 128 * 1024)
        self.assertGreater(int(fields["balloon.available"]), 64 * 1024)
        self.virsh("destroy", "gs")
        out = self.virsh("domstats", "--balloon", "gs")
        self.assertNotIn("balloon.unused", out)


class Errors(DaemonCase):
    def test_unknown_domain(self):
        libvirt = self.libvirt()
        conn = libvirt.open(self.uri)
        self.addCleanup(conn.close)
        with self.assertRaises(libvirt.libvirtError) as cm:
            conn.lookupByName("x")
        self.assertEqual(cm.exception.get_error_code(),
                         libvirt.VIR_ERR_NO_DOMAIN)
        self.assertEqual(cm.exception.get_error_message(),
                         "Domain not found: no domain with matching name 'x'")
        out = self.virsh("dominfo", "x", ok=False)
        self.assertIn("failed to get domain 'x'", out)

    def test_start_running_domain(self):
        libvirt = self.libvirt()
        conn = libvirt.open(self.uri)
        self.addCleanup(conn.close)
        dom = conn.defineXML(domain_xml("r"))
        dom.create()
        with self.assertRaises(libvirt.libvirtError) as cm:
            conn.lookupByName("r").create()
        self.assertEqual(cm.exception.get_error_code(),
                         libvirt.VIR_ERR_OPERATION_INVALID)
        self.assertEqual(cm.exception.get_error_message(),
                         "Requested operation is not valid: "
                         "domain is already running")
        self.assertIn("Domain is already active",
                      self.virsh("start", "r", ok=False))
        dom.destroy()

    def test_not_running(self):
        self.define("s")
        out = self.virsh("suspend", "s", ok=False)
        self.assertIn("Requested operation is not valid: domain is not "
                      "running", out)

    def test_invalid_xml(self):
        path = os.path.join(self.tmp, "bad.xml")
        with open(path, "w") as f:
            f.write("<domain type='kvm'><name>bad</name>")
        out = self.virsh("define", path, ok=False)
        self.assertIn("error: Failed to define domain", out)
        path2 = os.path.join(self.tmp, "bad2.xml")
        with open(path2, "w") as f:
            f.write(domain_xml("bad2").replace("<vcpu>",
                                               "<frobnicate/><vcpu>"))
        out = self.virsh("define", path2, ok=False)
        # an element libvirt's schema does not have: libvirt's error
        self.assertIn("XML document failed to validate against schema", out)

    def test_readonly_refused_by_client(self):
        path = self.define("ro")
        out = self.virsh("-r", "start", "ro", uri=self.uri_ro, ok=False)
        self.assertIn("operation forbidden: read only access prevents "
                      "virDomainCreate", out)
        self.assertIn("ro", self.virsh("-r", "list", "--all",
                                       uri=self.uri_ro))
        self.assertTrue(os.path.exists(path))

    def test_readonly_socket_refuses_writes(self):
        self.define("ro")
        c = RawClient(self.sock + "-ro")
        self.addCleanup(c.close)
        c.open(flags=0)                 # the socket alone makes it RO
        m = c.call(23, c.string("ro"))  # LOOKUP_BY_NAME: allowed
        self.assertEqual(m["status"], 0)
        dom = m["payload"]
        m = c.call(9, dom)              # DOMAIN_CREATE
        self.assertEqual(c.error(m),
                         (29, "operation forbidden: read only access "
                              "prevents virDomainCreate"))
        self.assertIn("shut off", self.state("ro"))


class Concurrency(DaemonCase):
    def test_calls_answered_out_of_order(self):
        self.define("slow")
        c = RawClient(self.sock)
        self.addCleanup(c.close)
        c.open()
        dom = c.call(23, c.string("slow"))["payload"]
        start = c.send(9, dom)          # DOMAIN_CREATE: spawns, waits QMP
        host = c.send(59)               # CONNECT_GET_HOSTNAME
        first = c.recv()
        self.assertEqual(first["serial"], host)
        m = c.reply(start)
        self.assertEqual(m["status"], 0, c.error(m) if m["status"] else "")
        self.virsh("destroy", "slow")

    def test_second_call_waits_for_the_job(self):
        self.define("q")
        c = RawClient(self.sock)
        self.addCleanup(c.close)
        c.open()
        dom = c.call(23, c.string("q"))["payload"]
        start = c.send(9, dom)          # DOMAIN_CREATE holds the job...
        suspend = c.send(34, dom)       # ...DOMAIN_SUSPEND waits for it
        m = c.reply(start)
        self.assertEqual(m["status"], 0, c.error(m) if m["status"] else "")
        m = c.reply(suspend)
        self.assertEqual(m["status"], 0, c.error(m) if m["status"] else "")
        self.assertEqual(self.state("q"), "paused (user)")
        self.virsh("destroy", "q")

    def test_destroy_while_starting(self):
        self.define("race")
        c = RawClient(self.sock)
        self.addCleanup(c.close)
        c.open()
        dom = c.call(23, c.string("race"))["payload"]
        start = c.send(9, dom)          # DOMAIN_CREATE
        destroy = c.send(12, dom)       # DOMAIN_DESTROY right behind it
        m = c.reply(destroy)
        self.assertEqual(m["status"], 0, c.error(m) if m["status"] else "")
        m = c.reply(start)
        self.assertEqual(m["status"], 1)
        self.assertIn("destroyed while starting", c.error(m)[1])
        self.assertEqual(self.state("race"), "shut off (destroyed)")
        run = os.path.join(self.tmp, "run")
        self.assertEqual([f for f in os.listdir(run)
                          if not f.endswith(".log")], [])
        # Nothing of it survives: a new start works.
        self.virsh("start", "race")
        self.virsh("destroy", "race")




# ---- domain XML policy: what virt-install really writes ------------------

DATA = os.path.join(ktest.SRCDIR, "tests", "functional", "data")
LIBOSINFO_NS = "http://libosinfo.org/xmlns/libvirt/domain/1.0"
VIRT_INSTALL = shutil.which("virt-install")


def data_file(name):
    with open(os.path.join(DATA, name)) as f:
        return f.read()


def metadata_block(xml):
    """The <metadata>...</metadata> lines of @xml, as written."""
    start = xml.index("<metadata>")
    end = xml.index("</metadata>") + len("</metadata>")
    return xml[start:end]


class DomainXmlPolicy(DaemonCase):
    """libvirt's schema, then the policy table: virt-install 4.1's XML as
    it writes it (tests/functional/data, see its README), <metadata> kept
    verbatim, every refusal in one error."""

    def define_text(self, name, text, ok=True):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return self.virsh("define", path, ok=ok)

    def test_virt_install_xml_defines_unchanged(self):
        # virt-install --connect kestrel+unix://... --print-xml, verbatim
        xml = data_file("virt-install-4.1-kestrel.xml")
        self.define_text("vi.xml", xml)
        out = self.virsh("dumpxml", "--inactive", "vi-kestrel")
        self.assertIn(metadata_block(xml), out)
        self.assertIn("<uuid>bae3d937-55be-4b4f-92c2-52ce8a9d1630</uuid>",
                      out)
        self.assertIn("<cmdline>tg.mode=idle</cmdline>", out)
        self.assertIn("<vcpu placement='static'>2</vcpu>", out)
        # and what dumpxml wrote defines again, unchanged
        self.define_text("again.xml", out)
        self.assertEqual(self.virsh("dumpxml", "--inactive", "vi-kestrel"),
                         out)

    def test_virsh_metadata_and_desc(self):
        self.define_text("vi.xml", data_file("virt-install-4.1-kestrel.xml"))
        out = self.virsh("metadata", "vi-kestrel", LIBOSINFO_NS)
        self.assertIn('<libosinfo:os id="http://libosinfo.org/linux/2022"/>',
                      out)
        self.virsh("metadata", "vi-kestrel", "--uri", "http://app.org/",
                   "--key", "app", "--set", "<foo bar='1'/>")
        self.assertEqual(self.virsh("metadata", "vi-kestrel",
                                    "http://app.org/").strip(),
                         '<app:foo xmlns:app="http://app.org/" bar="1"/>')
        self.virsh("desc", "vi-kestrel", "--new-desc", "a <test> guest")
        self.virsh("desc", "vi-kestrel", "--title", "--new-desc", "Title")
        self.assertEqual(self.virsh("desc", "vi-kestrel").strip(),
                         "a <test> guest")
        self.assertEqual(self.virsh("desc", "vi-kestrel",
                                    "--title").strip(), "Title")
        self.assertIn("Title", self.virsh("list", "--all", "--title"))
        out = self.virsh("dumpxml", "vi-kestrel")
        self.assertIn("<title>Title</title>", out)
        self.assertIn("<description>a &lt;test&gt; guest</description>", out)
        self.assertIn("<app:foo", out)
        self.virsh("metadata", "vi-kestrel", "http://app.org/", "--remove")
        out = self.virsh("metadata", "vi-kestrel", "http://app.org/",
                         ok=False)
        self.assertIn("metadata not found: Requested metadata element is "
                      "not present", out)
        # the osinfo element was not touched
        self.assertIn(metadata_block(
            data_file("virt-install-4.1-kestrel.xml")),
            self.virsh("dumpxml", "vi-kestrel"))

    def test_metadata_api_flags(self):
        libvirt = self.libvirt()
        self.define_text("vi.xml", data_file("virt-install-4.1-kestrel.xml"))
        conn = libvirt.open(self.uri)
        try:
            dom = conn.lookupByName("vi-kestrel")
            self.assertIn("libosinfo:os", dom.metadata(
                libvirt.VIR_DOMAIN_METADATA_ELEMENT, LIBOSINFO_NS,
                libvirt.VIR_DOMAIN_AFFECT_CONFIG))
            with self.assertRaises(libvirt.libvirtError) as cm:
                dom.metadata(libvirt.VIR_DOMAIN_METADATA_TITLE, None)
            self.assertEqual(cm.exception.get_error_code(),
                             libvirt.VIR_ERR_NO_DOMAIN_METADATA)
            # LIVE on a domain that is not running: libvirt's words
            with self.assertRaises(libvirt.libvirtError) as cm:
                dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_TITLE, "t",
                                None, None, libvirt.VIR_DOMAIN_AFFECT_LIVE)
            self.assertEqual(cm.exception.get_error_code(),
                             libvirt.VIR_ERR_OPERATION_INVALID)
            dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_TITLE, "t", None,
                            None, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
            self.assertEqual(dom.metadata(
                libvirt.VIR_DOMAIN_METADATA_TITLE, None), "t")
            with self.assertRaises(libvirt.libvirtError) as cm:
                dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_TITLE, "a\nb",
                                None, None, 0)
            self.assertEqual(cm.exception.get_error_code(),
                             libvirt.VIR_ERR_INVALID_ARG)
            # the change survives a daemon restart (the config file)
            conn.close()
            self.stop_daemon()
            self.start_daemon()
            conn = libvirt.open(self.uri)
            dom = conn.lookupByName("vi-kestrel")
            self.assertEqual(dom.metadata(
                libvirt.VIR_DOMAIN_METADATA_TITLE, None), "t")
        finally:
            conn.close()

    def test_qemu_xml_refused_all_at_once(self):
        # virt-install's XML for qemu:///system, KVM, --machine pc: five
        # things kestrel does not do, named in one error with their XPaths
        xml = data_file("virt-install-4.1-qemu-pc.xml")
        out = self.define_text("qemu.xml", xml, ok=False)
        self.assertIn("unsupported configuration: 5 parts of this domain "
                      "are not supported by the kestrel driver", out)
        for line in (
                "/domain/clock/timer[1]/@tickpolicy: value 'catchup'",
                "/domain/devices/controller/@model: value 'qemu-xhci'",
                "/domain/devices/controller/@ports: attribute 'ports'",
                "/domain/devices/channel: element 'channel'",
                "/domain/devices/rng: element 'rng'"):
            self.assertIn(line, out)
        self.assertEqual(out.count("error: unsupported configuration"), 1)
        # what the error says to write instead is accepted, the rest kept
        fixed = (xml.replace('tickpolicy="catchup"', 'tickpolicy="delay"')
                 .replace('<controller type="usb" model="qemu-xhci" '
                          'ports="15"/>',
                          '<controller type="usb" model="none"/>'))
        fixed = fixed[:fixed.index("    <channel")] + \
            fixed[fixed.index("    <memballoon"):]
        fixed = fixed[:fixed.index("    <rng")] + \
            fixed[fixed.index("  </devices>"):]
        self.define_text("fixed.xml", fixed)
        out = self.virsh("dumpxml", "--inactive", "vi-qemu-pc")
        for want in ("<type arch='x86_64' machine='pc'>hvm</type>",
                     "<cpu mode='host-passthrough'/>",
                     "<timer name='pit' tickpolicy='delay'/>",
                     "<timer name='hpet' present='no'/>",
                     "<suspend-to-mem enabled='no'/>",
                     "<controller type='usb' index='0' model='none'/>"):
            self.assertIn(want, out)
        self.assertIn(metadata_block(xml), out)

    def test_typo_is_a_schema_error(self):
        xml = domain_xml("typo").replace(
            "</features>", "</features><devices><memballon model='virtio'/>"
            "</devices>")
        out = self.define_text("typo.xml", xml, ok=False)
        self.assertIn("XML document failed to validate against schema: "
                      "Unable to validate doc against "
                      "/usr/share/libvirt/schemas/domain.rng", out)
        self.assertNotIn("not supported", out)

    def test_machines(self):
        for machine in ("kestrel", "pc", "pc-i440fx-7.2"):
            self.define_text(machine + ".xml", domain_xml("m-" + machine)
                             .replace("machine='kestrel'",
                                      "machine='%s'" % machine))
        out = self.define_text("q35.xml", domain_xml("m-q35").replace(
            "machine='kestrel'", "machine='q35'"), ok=False)
        self.assertIn("the machines kestrel answers to are kestrel, pc and "
                      "pc-i440fx-*", out)

    def test_virt_install_itself(self):
        if not VIRT_INSTALL:
            ktest.missing_prerequisite("virt-install is not installed "
                                       "(virtinst)")
        status, out = ktest.run(
            [VIRT_INSTALL, "--connect", self.uri, "--noautoconsole",
             "--noreboot", "--name", "vi-run", "--memory", "64",
             "--vcpus", "2", "--osinfo", "linux2022", "--import",
             "--boot", "kernel=%s,kernel_args=tg.mode=idle"
             % os.path.abspath(TESTGUEST),
             "--disk", "none", "--network", "none", "--graphics", "none"],
            timeout=120, env=dict(os.environ, HOME=self.tmp))
        self.assertEqual(status, 0, out)
        xml = self.virsh("dumpxml", "--inactive", "vi-run")
        self.assertIn('<libosinfo:os id="http://libosinfo.org/linux/2022"/>',
                      xml)
        self.assertIn(os.path.abspath(TESTGUEST), xml)
        ktest.need_kvm()                # started: only with /dev/kvm
        self.wait_state("vi-run", "running (booted)")


if __name__ == "__main__":
    ktest.main()
