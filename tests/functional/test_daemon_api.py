# SPDX-License-Identifier: GPL-2.0-or-later
"""virtkestreld's API coverage against libvirt 9.0's clients: the daily
virsh commands never answer "unknown procedure", every procedure of
libvirt 9.0 we do not serve answers libvirt's VIR_ERR_NO_SUPPORT naming
its API, and the host procedures that need no running domain (node CPU
and memory statistics, free memory per cell, version, sysinfo,
domxml-to-native) answer with libvirt's semantics and words.  Everything
here runs without /dev/kvm except the classes that start a domain."""

import os
import re
import struct
import subprocess
import sys

import ktest
from ktest import SRCDIR, BUILDDIR
from test_daemon import DaemonCase, RawClient

NO_SUPPORT = "this function is not supported by the connection driver: "
NOT_RUNNING = "Requested operation is not valid: domain is not running"
TSV = os.path.join(SRCDIR, "schemas", "libvirt-procedures-9.0.0.tsv")
TABLE = os.path.join(SRCDIR, "driver", "libvirt-procs-table.c")
GENERATOR = os.path.join(SRCDIR, "driver", "gen-libvirt-procs.py")
EVENT = re.compile(r"^((DOMAIN|NETWORK|STORAGE_POOL|NODE_DEVICE|SECRET)"
                   r"_EVENT_|CONNECT_EVENT_CONNECTION_CLOSED$)")

# The daily virsh commands (issue 12).  "ok": must succeed here, without
# a running domain; "inactive": needs a running domain, so it must fail,
# saying "domain is not running" as libvirt does, or (not served yet)
# libvirt's "not supported" naming the API.  "any": either outcome, but
# an error must be one of libvirt's (never "unknown procedure").
DAILY = [
    ("ok", ["list", "--all"]),
    ("ok", ["dominfo", "tg"]),
    ("ok", ["dumpxml", "tg"]),
    ("ok", ["dumpxml", "--inactive", "tg"]),
    ("ok", ["domstats", "tg"]),
    ("ok", ["domstate", "--reason", "tg"]),
    ("ok", ["nodeinfo"]),
    ("ok", ["nodecpustats"]),
    ("ok", ["nodecpustats", "0"]),
    ("ok", ["nodememstats"]),
    ("ok", ["freecell"]),
    ("ok", ["freecell", "0"]),
    ("ok", ["freecell", "--all"]),
    ("ok", ["version"]),
    ("ok", ["capabilities"]),
    ("ok", ["domcapabilities"]),
    ("ok", ["hostname"]),
    ("ok", ["maxvcpus"]),
    ("ok", ["domxml-to-native", "qemu-argv", "@XML@"]),
    ("ok", ["autostart", "tg"]),
    ("ok", ["autostart", "--disable", "tg"]),
    ("ok", ["event", "--list"]),
    ("ok", ["domblklist", "tg"]),
    ("ok", ["domiflist", "tg"]),
    ("ok", ["vcpucount", "tg"]),
    ("ok", ["uri"]),
    ("any", ["sysinfo"]),
    ("any", ["setvcpus", "tg", "1", "--config"]),
    ("any", ["desc", "tg"]),
    ("any", ["desc", "--title", "tg"]),
    ("any", ["metadata", "tg", "http://example.org/kestrel/"]),
    ("any", ["vcpupin", "tg"]),
    ("any", ["emulatorpin", "tg"]),
    ("any", ["schedinfo", "tg"]),
    ("any", ["setmem", "tg", "32M", "--config"]),
    ("any", ["snapshot-list", "tg"]),
    ("any", ["domjobinfo", "tg"]),
    ("inactive", ["dommemstat", "tg"]),
    ("inactive", ["reboot", "tg"]),
    ("inactive", ["suspend", "tg"]),
    ("inactive", ["resume", "tg"]),
    ("inactive", ["shutdown", "tg"]),
    ("inactive", ["destroy", "tg"]),
    ("inactive", ["setmem", "tg", "32M", "--live"]),
    ("inactive", ["cpu-stats", "tg", "--total"]),
    ("inactive", ["domtime", "tg"]),
    ("inactive", ["qemu-monitor-command", "tg",
                  '{"execute":"query-status"}']),
    ("inactive", ["qemu-agent-command", "tg",
                  '{"execute":"guest-ping"}']),
]

# Libvirt's own errors (virsh prints "error: <message>").
LIBVIRT_ERROR = re.compile(
    r"^error: (this function is not supported by the connection driver: "
    r"vir\w+|Requested operation is not valid: .*|unsupported "
    r"configuration: .*|invalid argument: .*|argument unsupported: .*|"
    r"Operation not supported: .*|operation failed: .*|"
    r"metadata not found: .*)$", re.M)


def encode_version(text):
    major, minor, micro = (list(map(int, text.split("."))) + [0, 0])[:3]
    return major * 1000000 + minor * 1000 + micro


def package_version():
    with open(os.path.join(BUILDDIR, "config.h")) as f:
        return re.search(r'#define PACKAGE_VERSION "([^"]+)"',
                         f.read()).group(1)


def libvirt_procs():
    with open(TSV) as f:
        return [(int(n), name) for n, name in
                (line.split() for line in f if line.strip())]


def api_names():
    """number -> API name, from the generated table."""
    with open(TABLE) as f:
        text = f.read()
    return {int(n): api for n, api in re.findall(
        r'\{ (\d+), "\w+", LIBVIRT_PROC_CALL,\s+"(\w+)"', text)}


class DailyVirsh(DaemonCase):
    """The daily command list against a defined, shut-off domain."""

    def run_daily(self, expect_running):
        xml = self.define("tg")
        failures = []
        unserved = []
        for kind, args in DAILY:
            args = [xml if a == "@XML@" else a for a in args]
            status, out = ktest.run(["virsh", "-c", self.uri] + args,
                                    timeout=60)
            what = "virsh %s -> %d: %s" % (" ".join(args), status,
                                           out.strip())
            if "unknown procedure" in out or "Cannot find program" in out:
                failures.append(what)
                continue
            if NO_SUPPORT in out:
                unserved.append("%s (%s)" % (args[0], out.split(NO_SUPPORT)
                                             [1].split()[0]))
            if kind == "ok" and status != 0:
                failures.append("should succeed: " + what)
            elif kind == "inactive" and not expect_running:
                if status == 0 or not (NOT_RUNNING in out or
                                       NO_SUPPORT in out):
                    failures.append("should say the domain is not "
                                    "running: " + what)
            elif status != 0 and not LIBVIRT_ERROR.search(out):
                failures.append("not one of libvirt's errors: " + what)
        if unserved:
            print("# not supported (libvirt's NO_SUPPORT): " +
                  ", ".join(unserved), flush=True)
        self.assertEqual(failures, [])

    def test_daily_commands_shut_off(self):
        self.virsh("list")              # virsh is there (else: prerequisite)
        self.run_daily(expect_running=False)


class DailyVirshRunning(DaemonCase):
    def test_daily_commands_running(self):
        ktest.need_kvm()
        xml = self.define("tg")
        self.virsh("start", "tg")
        self.addCleanup(self.virsh, "destroy", "tg", ok=False)
        failures = []
        for kind, args in DAILY:
            if args[0] in ("destroy", "shutdown", "reboot", "suspend"):
                continue                # keep it running for the others
            args = [xml if a == "@XML@" else a for a in args]
            status, out = ktest.run(["virsh", "-c", self.uri] + args,
                                    timeout=60)
            if "unknown procedure" in out or "Cannot find program" in out:
                failures.append("virsh %s: %s" % (" ".join(args), out))
            elif status and not LIBVIRT_ERROR.search(out):
                failures.append("virsh %s: %s" % (" ".join(args), out))
        self.assertEqual(failures, [])


class NoSupport(DaemonCase):
    """Procedures we do not serve answer as libvirt answers an API its
    driver lacks."""

    def test_table_is_generated(self):
        out = subprocess.run([sys.executable, GENERATOR, TSV],
                             stdout=subprocess.PIPE, check=True).stdout
        with open(TABLE, "rb") as f:
            self.assertEqual(f.read(), out,
                             "driver/libvirt-procs-table.c is not what "
                             "driver/gen-libvirt-procs.py writes")

    def test_python_no_support_names_the_api(self):
        libvirt = self.libvirt()
        self.define("tg")
        conn = libvirt.open(self.uri)
        self.addCleanup(conn.close)
        dom = conn.lookupByName("tg")
        for call, api, domain in [
                (conn.listAllStoragePools, "virConnectListAllStoragePools",
                 libvirt.VIR_FROM_STORAGE),
                (conn.listAllNetworks, "virConnectListAllNetworks",
                 libvirt.VIR_FROM_NETWORK),
                (dom.snapshotNum, "virDomainSnapshotNum",
                 libvirt.VIR_FROM_DOMAIN_SNAPSHOT),
                (lambda: dom.fsInfo(), "virDomainGetFSInfo",
                 libvirt.VIR_FROM_DOMAIN)]:
            with self.assertRaises(libvirt.libvirtError) as cm:
                call()
            e = cm.exception
            self.assertEqual(e.get_error_code(), libvirt.VIR_ERR_NO_SUPPORT)
            self.assertEqual(e.get_error_domain(), domain)
            self.assertEqual(e.get_error_message(), NO_SUPPORT + api)

    def test_every_procedure_of_libvirt(self):
        """Each of libvirt 9.0's 443 numbers: served, or NO_SUPPORT with
        its API; only events (sent by servers) are unknown, as in
        libvirtd.  Calls carry no arguments: served ones fail to decode
        them or answer harmlessly."""
        names = api_names()
        c = RawClient(self.sock)
        self.addCleanup(c.close)
        c.open()
        nosup = 0
        for num, name in libvirt_procs():
            if name in ("CONNECT_OPEN", "CONNECT_CLOSE"):
                continue
            m = c.call(num)
            if m["status"] == 0:
                continue
            code, domain, msg = self.error(m)
            if EVENT.match(name):
                self.assertEqual((code, domain, msg),
                                 (39, 7, "unknown procedure: %d" % num))
            elif name.startswith("AUTH_"):
                self.assertEqual((code, msg), (45, "authentication failed: "
                                               "authentication failed"))
            elif code == 3:
                self.assertEqual(msg, NO_SUPPORT + names[num], name)
                nosup += 1
            else:
                self.assertNotIn("unknown procedure", msg, name)
        # Most of libvirt's API is not served (yet): the check above ran
        # on each of them (the count falls as procedures get served).
        self.assertGreater(nosup, 200)

    def test_unknown_numbers_and_programs(self):
        c = RawClient(self.sock)
        self.addCleanup(c.close)
        c.open()
        self.assertEqual(self.error(c.call(444)),
                         (39, 7, "unknown procedure: 444"))
        self.assertEqual(self.error(c.call(-1)),
                         (39, 7, "unknown procedure: -1"))
        # libvirt's QEMU program: qemu-monitor-command's procedure.
        m = c.reply(c.send(1, prog=0x20008087))
        self.assertEqual(self.error(m),
                         (3, 20, NO_SUPPORT + "virDomainQemuMonitorCommand"))
        m = c.reply(c.send(1, prog=0x12345678))
        self.assertEqual(self.error(m)[0], 39)

    @staticmethod
    def error(m):
        code, domain, has_msg = struct.unpack(">iiI", m["payload"][:12])
        msg = ""
        if has_msg:
            (n,) = struct.unpack(">I", m["payload"][12:16])
            msg = m["payload"][16:16 + n].decode()
        return code, domain, msg


class Node(DaemonCase):
    """Host procedures, checked against /proc and sysfs."""

    def conn(self):
        libvirt = self.libvirt()
        conn = libvirt.open(self.uri)
        self.addCleanup(conn.close)
        return libvirt, conn

    def test_cpu_stats(self):
        libvirt, conn = self.conn()
        total = conn.getCPUStats(libvirt.VIR_NODE_CPU_STATS_ALL_CPUS)
        self.assertEqual(sorted(total),
                         ["idle", "iowait", "kernel", "user"])
        cpu0 = conn.getCPUStats(0)
        self.assertEqual(sorted(cpu0), sorted(total))
        # The sum of all CPUs is at least what CPU 0 alone spent.
        self.assertGreaterEqual(total["user"] + total["kernel"],
                                cpu0["user"] + cpu0["kernel"])
        self.assertGreater(total["idle"] + total["user"], 0)
        with self.assertRaises(libvirt.libvirtError) as cm:
            conn.getCPUStats(os.cpu_count() + 64)
        self.assertEqual(cm.exception.get_error_code(),
                         libvirt.VIR_ERR_INVALID_ARG)
        self.assertIn("Invalid cpuNum", cm.exception.get_error_message())
        out = self.virsh("nodecpustats", "--percent")
        self.assertRegex(out, r"usage:\s+[\d.]+%")

    def test_domcapabilities_says_what_kestrel_has(self):
        import xml.etree.ElementTree as ET
        caps = ET.fromstring(self.virsh("domcapabilities"))
        disk = caps.find("devices/disk")
        self.assertEqual(disk.get("supported"), "yes")
        self.assertEqual([v.text for v in
                          disk.findall("enum[@name='bus']/value")],
                         ["virtio"])
        self.assertEqual([v.text for v in
                          disk.findall("enum[@name='diskDevice']/value")],
                         ["disk"])
        mb = caps.find("memoryBacking")
        self.assertEqual(mb.get("supported"), "yes")
        self.assertIn("memfd", [v.text for v in mb.findall("enum/value")])
        self.assertEqual(caps.find("os/loader").get("supported"), "no")

    def test_memory_stats(self):
        libvirt, conn = self.conn()
        st = conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS)
        self.assertEqual(sorted(st), ["buffers", "cached", "free", "total"])
        with open("/proc/meminfo") as f:
            total = int(re.search(r"^MemTotal:\s+(\d+)", f.read(),
                                  re.M).group(1))
        self.assertEqual(st["total"], total)        # KiB, as libvirt
        self.assertLessEqual(st["free"], st["total"])
        if os.path.isdir("/sys/devices/system/node/node0"):
            cell = conn.getMemoryStats(0)
            self.assertEqual(sorted(cell), ["free", "total"])
            self.assertLessEqual(cell["total"], total)
        out = self.virsh("nodememstats")
        self.assertRegex(out, r"total\s*:\s+%d KiB" % total)

    def test_cells_free_memory(self):
        libvirt, conn = self.conn()
        cells = conn.getCellsFreeMemory(0, 1)
        self.assertEqual(len(cells), 1)
        self.assertGreater(cells[0], 0)                 # bytes
        self.assertLessEqual(cells[0], conn.getInfo()[1] * 1024 * 1024)
        with self.assertRaises(libvirt.libvirtError) as cm:
            conn.getCellsFreeMemory(999, 1)
        self.assertIn("start cell 999 out of range",
                      cm.exception.get_error_message())
        self.assertRegex(self.virsh("freecell", "0"), r"^0: \d+ KiB")

    def test_version(self):
        libvirt, conn = self.conn()
        version = package_version()
        self.assertEqual(conn.getVersion(), encode_version(version))
        self.assertIn("Running hypervisor: Kestrel %s" % version,
                      self.virsh("version"))

    def test_sysinfo(self):
        libvirt, conn = self.conn()
        if os.path.exists("/sys/class/dmi/id/sys_vendor"):
            xml = conn.getSysinfo()
            self.assertIn("<sysinfo type='smbios'>", xml)
            self.assertIn("<entry name='manufacturer'>", xml)
            return
        with self.assertRaises(libvirt.libvirtError) as cm:
            conn.getSysinfo()
        self.assertEqual(cm.exception.get_error_code(),
                         libvirt.VIR_ERR_CONFIG_UNSUPPORTED)
        self.assertEqual(cm.exception.get_error_message(),
                         "unsupported configuration: Host SMBIOS "
                         "information is not available")

    def test_domxml_to_native(self):
        xml = self.define("tg")
        out = self.virsh("domxml-to-native", "qemu-argv", xml).strip()
        argv = out.split()
        self.assertTrue(argv[0].endswith("kestrel"), out)
        for want in ["-name guest=tg", "-m size=65536k",
                     "-kernel %s" % os.path.abspath(ktest.TESTGUEST),
                     "-append tg.mode=idle", "-S"]:
            self.assertIn(want, out)
        # The same as the daemon runs: the QMP socket in its state dir.
        self.assertIn(os.path.join(self.tmp, "run", "tg.qmp"), out)
        out = self.virsh("domxml-to-native", "native-xml", xml, ok=False)
        self.assertIn("invalid argument: unsupported config type native-xml",
                      out)
        bad = os.path.join(self.tmp, "bad.xml")
        with open(bad, "w") as f:
            f.write("<domain type='kvm'><name>x</name></domain>")
        out = self.virsh("domxml-to-native", "qemu-argv", bad, ok=False)
        self.assertNotIn("unknown procedure", out)
        # It needs a read-write connection, as in libvirt.
        out = self.virsh("domxml-to-native", "qemu-argv", xml,
                         uri=self.uri_ro, ok=False)
        self.assertIn("read only access prevents", out)


class DomainCPUStats(DaemonCase):
    def test_not_running(self):
        libvirt = self.libvirt()
        self.define("tg")
        conn = libvirt.open(self.uri)
        self.addCleanup(conn.close)
        with self.assertRaises(libvirt.libvirtError) as cm:
            conn.lookupByName("tg").getCPUStats(True)
        self.assertEqual(cm.exception.get_error_code(),
                         libvirt.VIR_ERR_OPERATION_INVALID)
        self.assertIn("domain is not running",
                      cm.exception.get_error_message())

    def test_running(self):
        ktest.need_kvm()
        libvirt = self.libvirt()
        self.define("tg")
        self.virsh("start", "tg")
        self.addCleanup(self.virsh, "destroy", "tg", ok=False)
        conn = libvirt.open(self.uri)
        self.addCleanup(conn.close)
        (st,) = conn.lookupByName("tg").getCPUStats(True)
        self.assertEqual(sorted(st), ["cpu_time", "system_time",
                                      "user_time"])
        self.assertEqual(st["cpu_time"], st["user_time"] + st["system_time"])
        out = self.virsh("cpu-stats", "--total", "tg")
        self.assertRegex(out, r"cpu_time\s+[\d.]+ seconds")
        self.assertRegex(out, r"user_time\s+[\d.]+ seconds")


if __name__ == "__main__":
    ktest.main()
