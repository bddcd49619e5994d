# SPDX-License-Identifier: GPL-2.0-or-later
"""libvirt's own QEMU driver runs kestrel: <emulator> names the built
kestrel in a qemu:///system domain of a private libvirtd (Debian's daemon
and stock configuration in a mount namespace of its own, see
tests/libvirt/libvirtd-instance.sh), and virsh drives the test guest in
balloon mode through the whole life of a domain.

Needs root, /dev/kvm, the user libvirt-qemu and Debian's packages
libvirt-daemon-system and libvirt-clients; skipped without them."""

import os
import pwd
import re
import select
import shutil
import subprocess
import termios
import threading
import time
import unittest

import ktest
from ktest import KESTREL, SRCDIR, TESTGUEST, Qmp

INSTANCE = os.path.join(SRCDIR, "tests", "libvirt", "libvirtd-instance.sh")
MIB = 1024 * 1024

DOMAIN_XML = """<domain type='kvm'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <currentMemory unit='MiB'>256</currentMemory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{kernel}</kernel>
    <cmdline>tg.mode=balloon</cmdline>
  </os>
  <features><acpi/></features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>{emulator}</emulator>
    <controller type='usb' model='none'/>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <memballoon model='virtio'><stats period='1'/></memballoon>
  </devices>
</domain>
"""


def missing_prerequisite():
    if os.geteuid() != 0:
        return "needs root (libvirtd, mount namespaces)"
    for tool in ("libvirtd", "virtlogd", "virsh", "unshare"):
        if not shutil.which(tool, path=os.environ.get("PATH", "") +
                            ":/usr/sbin:/sbin"):
            return "%s is not installed (libvirt-daemon-system, " \
                   "libvirt-clients)" % tool
    try:
        pwd.getpwnam("libvirt-qemu")
    except KeyError:
        return "no user libvirt-qemu (libvirt-daemon-system)"
    if not os.path.isdir("/etc/libvirt") or \
            not os.path.exists("/etc/libvirt/qemu.conf"):
        return "no /etc/libvirt/qemu.conf (libvirt-daemon-system)"
    return None


class Console(threading.Thread):
    """Reads the guest's serial console from its pty, line by line."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        attr = termios.tcgetattr(self.fd)
        attr[3] &= ~(termios.ECHO | termios.ICANON)     # raw enough
        termios.tcsetattr(self.fd, termios.TCSANOW, attr)
        self.lines = []
        self.stopping = False
        self.start()

    def run(self):
        buf = b""
        while not self.stopping:
            r, _, _ = select.select([self.fd], [], [], 0.1)
            if not r:
                continue
            try:
                data = os.read(self.fd, 4096)
            except OSError:
                break                   # the pty went away with kestrel
            if not data:
                break
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                self.lines.append(line.decode(errors="replace").strip())

    def wait_line(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                m = re.search(pattern, line)
                if m:
                    return m
            time.sleep(0.05)
        return None

    def close(self):
        self.stopping = True
        self.join(2)
        os.close(self.fd)


def schema_lookup(schema, path):
    """libvirt's query-qmp-schema look-ups ("device_add/$json-cli-hotplug",
    "object-add/arg-type/qom-type/^secret"): True if @path is there."""
    by_name = {e["name"]: e for e in schema}
    parts = path.split("/")
    entry = by_name.get(parts[0])
    for part in parts[1:]:
        if entry is None:
            return False
        if part.startswith("$"):
            return part[1:] in entry.get("features", [])
        if part.startswith("^"):
            return part[1:] in entry.get("values", [])
        if part in ("arg-type", "ret-type"):
            entry = by_name.get(entry.get(part))
        else:
            member = [m for m in entry.get("members", [])
                      if m["name"] == part]
            entry = by_name.get(member[0]["type"]) if member else None
    return entry is not None


class Probe(ktest.TestCase):
    """The probe libvirt runs (without libvirt): every query answered, and
    the answers are what kestrel has."""

    def setUp(self):
        super().setUp()

    def probe(self, accel):
        sock = os.path.join(self.tmp, "qmp.monitor")
        pidfile = os.path.join(self.tmp, "qmp.pid")
        return sock, pidfile, ktest.run(
            [KESTREL, "-S", "-no-user-config", "-nodefaults", "-nographic",
             "-machine", "none,accel=" + accel, "-qmp",
             "unix:%s,server=on,wait=off" % sock, "-pidfile", pidfile,
             "-daemonize"])

    def test_kvm_probe(self):
        sock, pidfile, (status, out) = self.probe("kvm:tcg")
        self.assertEqual((status, out), (0, ""))
        with open(pidfile) as f:
            pid = int(f.read())
        q = Qmp(sock)
        try:
            self.assertEqual(q.cmd("query-version")["qemu"],
                             {"major": 7, "minor": 2, "micro": 0})
            self.assertEqual(q.cmd("query-target"), {"arch": "x86_64"})
            schema = q.cmd("query-qmp-schema")
            for path in ("device_add/$json-cli",
                         "device_add/$json-cli-hotplug",
                         "object-add/arg-type/qom-type/^secret",
                         "query-named-block-nodes/arg-type/flat"):
                self.assertTrue(schema_lookup(schema, path), path)
            self.assertFalse(schema_lookup(
                schema, "object-add/arg-type/qom-type/^memory-backend-ram"))
            commands = {c["name"] for c in q.cmd("query-commands")}
            self.assertIn("query-cpu-definitions", commands)
            # not there, so libvirt does not ask for them
            for c in ("query-cpu-model-expansion", "query-hotpluggable-cpus",
                      "query-tpm-models"):
                self.assertNotIn(c, commands)
            # live migration, save and restore: QEMU's commands
            self.assertTrue({"migrate", "migrate-incoming", "migrate_cancel",
                             "getfd", "closefd"} <= commands)
            self.assertEqual(q.cmd("query-kvm"),
                             {"enabled": True, "present": True})
            types = {t["name"] for t in q.cmd("qom-list-types")}
            self.assertTrue({"virtio-balloon-pci", "isa-serial", "secret",
                             "kvm-accel", "memory-backend-ram",
                             "memory-backend-memfd",
                             "memory-backend-file"} <= types)
            self.assertFalse(types & {"tcg-accel", "piix3-usb-uhci",
                                      "virtio-blk-pci", "iothread"})
            props = {p["name"] for p in q.cmd(
                "device-list-properties", {"typename": "virtio-balloon-pci"})}
            self.assertTrue({"deflate-on-oom", "free-page-reporting"} <=
                            props)
            r = q.execute("device-list-properties",
                          {"typename": "virtio-blk-pci"})
            self.assertEqual(r["error"]["class"], "DeviceNotFound")
            # what libvirt looks for to write <memoryBacking>
            props = {p["name"] for p in q.cmd(
                "qom-list-properties", {"typename": "memory-backend-file"})}
            self.assertTrue({"mem-path", "share", "prealloc",
                             "discard-data"} <= props)
            self.assertNotIn("align", props)
            props = {p["name"] for p in q.cmd(
                "qom-list-properties", {"typename": "memory-backend-memfd"})}
            self.assertTrue({"hugetlb", "hugetlbsize", "seal"} <= props)
            machines = q.cmd("query-machines")
            pc = [m for m in machines if m["name"] == "pc"][0]
            self.assertEqual(pc["alias"], "kestrel")
            self.assertTrue(pc["is-default"])
            # so libvirt writes -machine memory-backend=pc.ram
            self.assertEqual(pc["default-ram-id"], "pc.ram")
            cpus = q.cmd("query-cpu-definitions")
            self.assertEqual(
                {(c["name"], c["typename"]) for c in cpus},
                {("host", "host-x86_64-cpu"), ("max", "max-x86_64-cpu")})
            self.assertEqual(q.execute("query-tpm-models")["error"]["class"],
                             "CommandNotFound")
            options = {o["option"] for o in
                       q.cmd("query-command-line-options")}
            self.assertIn("machine", options)
            self.assertIn("sandbox", options)     # libvirt adds -sandbox on
            # only what kestrel honours, so libvirt asks for nothing else
            caps = {c["capability"]: c["state"]
                    for c in q.cmd("query-migrate-capabilities")}
            self.assertEqual(set(caps), {
                "auto-converge", "zero-blocks", "events", "return-path",
                "pause-before-switchover", "multifd", "late-block-activate",
                "validate-uuid"})
            self.assertFalse(any(caps.values()))
        finally:
            q.close()
            # libvirt ends the probe with SIGTERM
            os.kill(pid, 15)
        deadline = time.monotonic() + 10
        while os.path.exists("/proc/%d" % pid) and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertFalse(os.path.exists(pidfile))

    def test_tcg_probe_refused(self):
        _, _, (status, out) = self.probe("tcg")
        self.assertEqual(status, 1)
        self.assertEqual(out.strip(), "kestrel: -machine none,accel=tcg: "
                         "accelerator list 'tcg' does not contain kvm, the "
                         "only accelerator kestrel supports")


class LibvirtQemuDriver(ktest.TestCase):
    def setUp(self):
        ktest.need_kvm()        # libvirt starts and runs the domain
        why = missing_prerequisite()
        if why:
            ktest.missing_prerequisite(why)
        super().setUp()
        # libvirt-qemu reads the kernel: a directory it can traverse
        os.chmod(self.tmp, 0o755)
        self.kernel = os.path.join(self.tmp, "testguest.elf")
        shutil.copy(TESTGUEST, self.kernel)
        self.emulator = os.path.abspath(KESTREL)
        self.inst = os.path.join(self.tmp, "libvirt")
        self.uri = "qemu+unix:///system?socket=%s/run/libvirt-sock" % \
            self.inst
        self.name = "kestrel-lq-%d" % os.getpid()
        self.transcript = []
        status, out = ktest.run(["sh", INSTANCE, "start", self.inst])
        if status != 0:
            self.tearDown()
            self.fail("libvirtd-instance.sh start: " + out)

    def tearDown(self):
        try:
            self.stop_libvirtd()
        finally:
            super().tearDown()

    def stop_libvirtd(self):
        self.virsh("destroy", self.name, check=False)
        ktest.run(["sh", INSTANCE, "stop", self.inst])
        # Nothing of ours may outlive the test: a kestrel still running
        # with our domain's name is a failure, and is ended here.
        stray = self.kestrel_pids()
        for pid in stray:
            os.kill(pid, 9)
        if os.environ.get("KESTREL_TEST_VERBOSE") or stray:
            print("\n".join("# " + l for l in self.transcript))
        self.assertEqual(stray, [], "kestrel outlived libvirtd")

    def kestrel_pids(self):
        pids = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if argv[0] == self.emulator.encode() and \
                    ("guest=%s," % self.name).encode() in b" ".join(argv):
                pids.append(int(pid))
        return pids

    def virsh(self, *args, check=True, timeout=60):
        p = subprocess.run(["virsh", "-c", self.uri] + list(args),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
        out = p.stdout.decode(errors="replace").strip()
        self.transcript.append("$ virsh %s -> %d" % (" ".join(args),
                                                     p.returncode))
        self.transcript += ["  " + l for l in out.splitlines()]
        if check:
            self.assertEqual(p.returncode, 0,
                             "virsh %s: %s" % (" ".join(args), out))
        return out

    def state(self):
        return self.virsh("domstate", self.name).splitlines()[0]

    def wait_state(self, want, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.state() == want:
                return
            time.sleep(0.2)
        self.fail("domain did not become '%s' (is '%s')" %
                  (want, self.state()))

    def memstat(self):
        stats = {}
        for line in self.virsh("dommemstat", self.name).splitlines():
            key, _, value = line.partition(" ")
            stats[key] = int(value)
        return stats

    def qemu_log(self):
        path = os.path.join(self.inst, "log", "qemu", self.name + ".log")
        with open(path, errors="replace") as f:
            return f.read()

    def console(self):
        xml = self.virsh("dumpxml", self.name)
        m = re.search(r"<serial type='pty'>\s*<source path='([^']+)'", xml)
        self.assertTrue(m, xml)
        con = Console(m.group(1))
        self.addCleanup(con.close)
        return con

    def test_domain_life(self):
        xml = os.path.join(self.tmp, "domain.xml")
        with open(xml, "w") as f:
            f.write(DOMAIN_XML.format(name=self.name, kernel=self.kernel,
                                      emulator=self.emulator))
        # define: libvirt probes the binary (QMP) and accepts it
        self.virsh("define", xml)
        caps = self.virsh("domcapabilities", "--emulatorbin", self.emulator,
                          "--virttype", "kvm")
        self.assertIn("<machine>pc</machine>", caps)
        self.assertRegex(caps, r"<mode name='host-passthrough' "
                               r"supported='yes'")

        # start: the command line libvirt builds, accepted as a whole
        self.virsh("start", self.name)
        con = self.console()
        self.assertIn(self.name, self.virsh("list"))
        self.assertEqual(self.state(), "running")
        log = self.qemu_log()
        for opt in ("-machine pc,usb=off,dump-guest-core=off", "-cpu host",
                    "-object '{\"qom-type\":\"secret\"",
                    "\"driver\":\"isa-serial\"",
                    "\"driver\":\"virtio-balloon-pci\",\"id\":\"balloon0\","
                    "\"bus\":\"pci.0\",\"addr\":\"0x2\"",
                    "-msg timestamp=on"):
            self.assertIn(opt, log)
        self.assertNotIn("-no-acpi", log)
        pids = self.kestrel_pids()
        self.assertEqual(len(pids), 1)
        with open("/proc/%d/status" % pids[0]) as f:
            status = f.read()
        # as libvirt runs it: user libvirt-qemu, no capabilities
        uid = pwd.getpwnam("libvirt-qemu").pw_uid
        self.assertRegex(status, r"Uid:\s+%d\s" % uid)
        self.assertRegex(status, r"CapEff:\s+0+\n")

        # balloon: the guest's driver reports, then follows setmem
        deadline = time.monotonic() + 20
        while "last_update" not in self.memstat() and \
                time.monotonic() < deadline:
            time.sleep(0.2)
        stats = self.memstat()
        self.assertEqual(stats["actual"], 256 * 1024)
        self.assertIn("available", stats)
        self.virsh("setmem", self.name, "200M", "--live")
        deadline = time.monotonic() + 20
        while self.memstat()["actual"] != 200 * 1024 and \
                time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual(self.memstat()["actual"], 200 * 1024)
        pages = 56 * MIB // 4096
        self.assertTrue(con.wait_line(r"TG BALLOON target=%d actual=%d" %
                                      (pages, pages), 10), con.lines)
        # domstats reports what BALLOON_CHANGE said: the last of those
        # comes at most a second after the one before (QEMU's rate limit)
        deadline = time.monotonic() + 5
        while True:
            domstats = self.virsh("domstats", "--balloon", self.name)
            if "balloon.current=%d\n" % (200 * 1024) in domstats + "\n" or \
                    time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertIn("balloon.current=%d\n" % (200 * 1024), domstats + "\n")
        self.assertIn("balloon.maximum=%d" % (256 * 1024), domstats)

        # suspend / resume: stop and cont
        self.virsh("suspend", self.name)
        self.assertEqual(self.state(), "paused")
        self.virsh("resume", self.name)
        self.assertEqual(self.state(), "running")

        # shutdown: ACPI power button, the guest powers itself off
        self.virsh("shutdown", self.name)
        self.wait_state("shut off", 30)
        self.assertIn("shutting down, reason=shutdown", self.qemu_log())
        self.assertEqual(self.kestrel_pids(), [])

        # start again, then destroy (SIGTERM)
        self.virsh("start", self.name)
        self.assertEqual(self.state(), "running")
        self.virsh("destroy", self.name)
        self.assertEqual(self.state(), "shut off")
        log = self.qemu_log()
        self.assertIn("kestrel: terminating on signal 15", log)
        self.assertIn("shutting down, reason=destroyed", log)
        self.assertEqual(self.kestrel_pids(), [])

        self.virsh("undefine", self.name)
        self.assertNotIn(self.name, self.virsh("list", "--all"))


if __name__ == "__main__":
    ktest.main()
