# SPDX-License-Identifier: GPL-2.0-or-later
"""<interface> on virtkestreld: the daemon opens each interface's tap
(/dev/net/tun, vnet_hdr), gives it the guest's MAC with fe: first, sets it
up, adds it to the bridge of type 'bridge' (or of a libvirt network), and
kestrel inherits it as -netdev tap,fd=N.

Everything happens in a network namespace the test creates: the daemon
itself runs there (ip netns exec), with a bridge kbr0, so no tap or bridge
ever appears in the host's namespace; the namespace is removed at the end.
Under qtest (no /dev/kvm) no guest runs, so the ARP table has no guest
address; the test itself plays the guest's virtio-net driver over qtest to
send a few frames onto a tap of its namespace, which domifstat counts.

A running domain (kestrel's virtio-net-pci on the inherited tap): the tap
is in the namespace, on kbr0, up, with the guest's MAC as fe:..; domiflist,
domifstat (by tap name and by MAC), domstats --interface, domifaddr; a
restarted daemon finds the taps again; after destroy the taps are gone.
A kestrel without virtio-net-pci skips that case only.  A stand-in
<emulator> shows what kestrel is handed (the fds are the taps), and a start
that fails leaves no tap behind."""

import os
import re
import subprocess

import shutil

import ktest
import test_daemon
from virtio_qtest import VirtioPciDevice
from test_daemon import DaemonCase, DAEMON

VIRT_INSTALL = shutil.which("virt-install")
IP = "/usr/sbin/ip" if os.path.exists("/usr/sbin/ip") else "ip"
MAC = "52:54:00:12:34:56"


def kestrel_has_net():
    out = subprocess.run([ktest.KESTREL, "-device", "help"],
                         capture_output=True, text=True).stdout
    return "virtio-net-pci" in out


class NetCase(DaemonCase):
    QTEST = not ktest.HAVE_KVM

    def setUp(self):
        if os.geteuid() != 0 or not os.path.exists("/dev/net/tun"):
            ktest.missing_prerequisite("needs root and /dev/net/tun for "
                                       "network namespaces and taps")
        self.ns = "kt-%d" % os.getpid()
        self.ip("netns", "add", self.ns)
        self.addCleanup(self.ip, "netns", "del", self.ns)
        self.ip("-n", self.ns, "link", "set", "lo", "up")
        self.ip("-n", self.ns, "link", "add", "kbr0", "type", "bridge")
        self.ip("-n", self.ns, "link", "set", "kbr0", "up")
        super().setUp()

    def ip(self, *args):
        subprocess.run([IP] + list(args), check=True)

    def links(self):
        out = subprocess.run([IP, "-n", self.ns, "-o", "link", "show"],
                             check=True, capture_output=True,
                             text=True).stdout
        return {ln.split(":")[1].strip().split("@")[0]: ln
                for ln in out.splitlines()}

    def start_daemon(self):
        # libvirtd's networks, as this test writes them
        self.netrun = os.path.join(self.tmp, "net-run")
        self.netetc = os.path.join(self.tmp, "net-etc")
        os.makedirs(self.netrun, exist_ok=True)
        os.makedirs(self.netetc, exist_ok=True)
        env = dict(os.environ, KESTREL=os.path.abspath(ktest.KESTREL),
                   VIRTKESTRELD_NETWORK_STATUS_DIR=self.netrun,
                   VIRTKESTRELD_NETWORK_CONFIG_DIR=self.netetc)
        if self.QTEST:
            env["VIRTKESTRELD_ACCEL"] = "qtest"
        argv = [IP, "netns", "exec", self.ns, DAEMON, "--socket", self.sock,
                "--config-dir", os.path.join(self.tmp, "etc"),
                "--state-dir", os.path.join(self.tmp, "run"),
                "--log-dir", os.path.join(self.tmp, "log")]
        self.daemon = self.spawn(argv, env=env)
        self.wait_for(lambda: self.listening(self.sock + "-ro"),
                      "the daemon's sockets")

    def define_net(self, name, interfaces, ok=True):
        xml = test_daemon.domain_xml(name).replace(
            "</domain>", "<devices>%s</devices></domain>" % interfaces)
        path = os.path.join(self.tmp, name + ".xml")
        with open(path, "w") as f:
            f.write(xml)
        return self.virsh("define", path, ok=ok)

    def tap_counter(self, tap, name):
        out = subprocess.run([IP, "netns", "exec", self.ns, "cat",
                              "/sys/class/net/%s/statistics/%s"
                              % (tap, name)], check=True,
                             capture_output=True, text=True).stdout
        return int(out)

    def need_net(self):
        if not kestrel_has_net():
            self.skipTest("kestrel has no virtio-net-pci yet "
                          "(-netdev tap lands from another branch)")


class Definitions(NetCase):
    def test_defaults_and_persistence(self):
        self.define_net("nd", "<interface type='bridge'><source "
                        "bridge='kbr0'/><model type='virtio'/></interface>"
                        "<interface type='ethernet'><mac address='%s'/>"
                        "<target dev='kt-e0'/></interface>" % MAC)
        conf = self.virsh("dumpxml", "--inactive", "nd")
        gen = conf.split("<mac address='")[1][:17]
        self.assertRegex(gen, r"^52:54:00(:[0-9a-f]{2}){3}$")
        self.assertIn("<mac address='%s'/>" % MAC, conf)
        self.assertIn("<target dev='kt-e0'/>", conf)
        self.assertIn("slot='0x03'", conf)
        self.assertIn("slot='0x04'", conf)
        # the generated MAC is kept: a daemon restart reads the same one
        self.stop_daemon()
        self.start_daemon()
        self.assertIn(gen, self.virsh("dumpxml", "--inactive", "nd"))
        rows = [ln.split() for ln in
                self.virsh("domiflist", "nd").splitlines()[2:] if ln.strip()]
        self.assertEqual(rows[0][1:], ["bridge", "kbr0", "virtio", gen])
        self.assertEqual(rows[1], ["kt-e0", "ethernet", "-", "virtio", MAC])

    def test_bad_model_refused(self):
        out = self.define_net("nm", "<interface type='bridge'><source "
                              "bridge='kbr0'/><model type='e1000'/>"
                              "</interface>", ok=False)
        self.assertIn("value 'e1000' of attribute 'type' of element "
                      "'model' is not supported by the kestrel driver; "
                      "write <model type='virtio'/>", out)

    def test_bad_bridge_refused_at_start(self):
        self.define_net("nb", "<interface type='bridge'><source "
                        "bridge='nobr0'/></interface>")
        before = set(self.links())
        out = self.virsh("start", "nb", ok=False)
        self.assertIn("bridge 'nobr0' does not exist", out)
        self.assertEqual(set(self.links()), before, "a tap was left behind")
        self.assertTrue(self.state("nb").startswith("shut off"))
        out = self.virsh("start", "nb", ok=False)    # the same, again
        self.assertIn("bridge 'nobr0' does not exist", out)

    def test_not_a_bridge_refused(self):
        self.define_net("nl", "<interface type='bridge'><source "
                        "bridge='lo'/></interface>")
        out = self.virsh("start", "nl", ok=False)
        self.assertIn("interface 'lo' is not a bridge", out)

    def test_unknown_network_refused(self):
        name = "kt-nonet-%d" % os.getpid()
        self.define_net("nn", "<interface type='network'><source "
                        "network='%s'/></interface>" % name)
        out = self.virsh("start", "nn", ok=False)
        self.assertIn("network '%s' is not defined/active" % name, out)

    def test_network_inactive_refused(self):
        with open(os.path.join(self.netetc, "kn.xml"), "w") as f:
            f.write("<network><name>kn</name><bridge name='kbr0'/>"
                    "</network>")
        self.define_net("ni", "<interface type='network'><source "
                        "network='kn'/></interface>")
        out = self.virsh("start", "ni", ok=False)
        self.assertIn("network 'kn' is not active", out)

    def test_failed_start_leaves_no_tap(self):
        """Whatever makes the start fail after the taps are open, they go:
        kestrel (or, failing it, the daemon) held the only fds."""
        self.define_net("nf", "<interface type='bridge'><source "
                        "bridge='kbr0'/><target dev='kt-f0'/></interface>"
                        "<interface type='ethernet'><target dev='kt-f1'/>"
                        "</interface>")
        bad = os.path.join(self.tmp, "nokernel")
        xml = self.virsh("dumpxml", "--inactive", "nf")
        path = os.path.join(self.tmp, "nf2.xml")
        with open(path, "w") as f:       # a kernel kestrel cannot load
            f.write(xml.replace(os.path.abspath(ktest.TESTGUEST), bad))
        open(bad, "w").close()
        self.virsh("define", path)
        self.virsh("start", "nf", ok=False)
        self.wait_for(lambda: not {"kt-f0", "kt-f1"} & set(self.links()),
                      "the taps of a failed start to go", timeout=10)

    def test_tap_handed_to_the_vmm(self):
        """What kestrel is given, seen by a stand-in <emulator> that
        records its fds, arguments and the links, then fails the start."""
        rec = os.path.join(self.tmp, "emu.out")
        emu = os.path.join(self.tmp, "emu.sh")
        with open(emu, "w") as f:
            f.write("#!/bin/sh\n{ echo \"ARGS $*\"; readlink /proc/self/fd/3; "
                    "readlink /proc/self/fd/4; %s -o link show; } > %s\n"
                    "exit 1\n" % (IP, rec))
        os.chmod(emu, 0o755)
        self.define_net("nh", "<emulator>%s</emulator><interface "
                        "type='bridge'><mac address='%s'/><source "
                        "bridge='kbr0'/></interface><interface "
                        "type='ethernet'><target dev='kt-h1'/></interface>"
                        % (emu, MAC))
        self.virsh("start", "nh", ok=False)
        out = open(rec).read()
        self.assertIn("-netdev tap,fd=3,id=hostnet0,vnet_hdr=on", out)
        self.assertIn("-netdev tap,fd=4,id=hostnet1,vnet_hdr=on", out)
        self.assertIn('"netdev":"hostnet0","id":"net0","mac":"%s"' % MAC,
                      out)
        lines = out.splitlines()
        self.assertEqual(lines[1:3], ["/dev/net/tun", "/dev/net/tun"])
        vnet = [ln for ln in lines if ": vnet0:" in ln]
        self.assertEqual(len(vnet), 1, out)
        self.assertIn("master kbr0", vnet[0])
        self.assertIn("fe:54:00:12:34:56", vnet[0])
        self.assertRegex(vnet[0], r"<[^>]*\bUP\b")
        self.assertTrue([ln for ln in lines if ": kt-h1:" in ln], out)
        # the start failed: the VMM held the taps' only fds
        self.wait_for(lambda: not {"vnet0", "kt-h1"} & set(self.links()),
                      "the taps of a failed start to go", timeout=10)


class Running(NetCase):
    def test_bridge_and_ethernet(self):
        self.need_net()
        self.define_net("nr", "<interface type='bridge'><mac "
                        "address='%s'/><source bridge='kbr0'/><model "
                        "type='virtio'/></interface><interface "
                        "type='ethernet'><target dev='kt-e0'/></interface>"
                        % MAC)
        self.virsh("start", "nr")
        self.wait_state("nr", "running (booted)")
        links = self.links()
        self.assertIn("vnet0", links)
        self.assertIn("master kbr0", links["vnet0"])
        self.assertRegex(links["vnet0"], r"<[^>]*\bUP\b")
        self.assertIn("fe:54:00:12:34:56", links["vnet0"])
        self.assertIn("kt-e0", links)
        self.assertNotIn("master", links["kt-e0"])

        live = self.virsh("dumpxml", "nr")
        self.assertRegex(live, r"<source bridge='kbr0'/>\s*<target "
                         r"dev='vnet0'/>\s*<model type='virtio'/>\s*"
                         r"<alias name='net0'/>")
        rows = [ln.split() for ln in
                self.virsh("domiflist", "nr").splitlines()[2:] if ln.strip()]
        self.assertEqual(rows[0], ["vnet0", "bridge", "kbr0", "virtio", MAC])
        self.assertEqual(rows[1][0], "kt-e0")

        for dev in ("vnet0", MAC):
            # what the guest receives is what the tap sends (the bridge's
            # own multicast, say; no guest runs under qtest)
            before = self.tap_counter("vnet0", "tx_bytes")
            out = self.virsh("domifstat", "nr", dev)
            after = self.tap_counter("vnet0", "tx_bytes")
            rx = int(re.search(r"%s rx_bytes (\d+)" % re.escape(dev),
                               out).group(1))
            self.assertTrue(before <= rx <= after, (before, rx, after))
            self.assertIn("%s tx_drop" % dev, out)
        out = self.virsh("domifstat", "nr", "nosuch0", ok=False)
        self.assertIn("'nosuch0' is not a known interface", out)

        stats = dict(ln.strip().split("=", 1) for ln in
                     self.virsh("domstats", "nr", "--interface").splitlines()
                     if "=" in ln)
        self.assertEqual(stats["net.count"], "2")
        self.assertEqual(stats["net.0.name"], "vnet0")
        self.assertEqual(stats["net.1.name"], "kt-e0")
        for key in ("rx.bytes", "rx.pkts", "rx.errs", "rx.drop", "tx.bytes",
                    "tx.pkts", "tx.errs", "tx.drop"):
            self.assertIn("net.0." + key, stats)

        # a restarted daemon finds the taps again (the VMM's fds)
        self.stop_daemon()
        self.start_daemon()
        self.assertIn("vnet0 rx_bytes", self.virsh("domifstat", "nr",
                                                   "vnet0"))
        self.assertIn("<target dev='vnet0'/>", self.virsh("dumpxml", "nr"))

        self.virsh("domifaddr", "nr", "--source", "arp")
        out = self.virsh("domifaddr", "nr", "--source", "agent", ok=False)
        self.assertIn("the guest agent is not supported", out)

        self.virsh("destroy", "nr")
        self.wait_for(lambda: not {"vnet0", "kt-e0"} & set(self.links()),
                      "the taps to go with the domain", timeout=10)

    def test_counters_follow_driven_frames(self):
        """The test plays the guest's virtio-net driver over qtest (no
        guest runs without /dev/kvm) and sends frames: domifstat counts
        them as the guest's tx, from the tap's rx."""
        self.need_net()
        if not self.QTEST:
            ktest.missing_prerequisite("drives the NIC over qtest")
        self.define_net("nc", "<interface type='ethernet'><mac "
                        "address='%s'/><target dev='kt-c0'/></interface>"
                        % MAC)
        self.virsh("start", "nc")
        self.wait_state("nc", "running (booted)")
        qt = ktest.Qtest(os.path.join(self.tmp, "run", "nc.qtest"))
        self.addCleanup(qt.close)
        dev = VirtioPciDevice(qt, 1)                    # virtio-net
        dev.init(1 << 5, nqueues=2)                     # VIRTIO_NET_F_MAC
        tx = dev.queues[1]
        frames = [b"\xff" * 6 + bytes.fromhex(MAC.replace(":", "")) +
                  b"\x88\xb5" + bytes([i]) * (46 + 10 * i)
                  for i in range(3)]
        for frame in frames:
            qt.write(0x320000, bytes(12) + frame)       # virtio-net header
            tx.post([(0x320000, 12 + len(frame), False)])
            tx.kick()
            tx.wait_used()
        out = self.virsh("domifstat", "nc", "kt-c0")
        st = dict((ln.split()[1], int(ln.split()[2]))
                  for ln in out.splitlines() if ln.strip())
        self.assertEqual(st["tx_packets"], 3)
        self.assertEqual(st["tx_bytes"], sum(len(f) for f in frames))
        self.assertEqual(st["tx_bytes"], self.tap_counter("kt-c0",
                                                          "rx_bytes"))
        self.virsh("destroy", "nc")

    def test_virt_install_interface(self):
        """The <interface> virt-install writes for --network bridge=
        (printed against libvirt's test driver: see test_daemon_disks)."""
        self.need_net()
        if not VIRT_INSTALL:
            ktest.missing_prerequisite("virt-install is not installed")
        status, out = ktest.run(
            [VIRT_INSTALL, "--connect", "test:///default", "--print-xml",
             "--name", "vi-net", "--memory", "64", "--osinfo", "linux2022",
             "--import", "--boot", "kernel=%s" % ktest.TESTGUEST,
             "--disk", "none", "--network", "bridge=kbr0,model=virtio",
             "--graphics", "none"],
            timeout=120, env=dict(os.environ, HOME=self.tmp))
        self.assertEqual(status, 0, out)
        iface = re.search(r"<interface .*?</interface>", out, re.S).group(0)
        mac = re.search(r'<mac address="([^"]+)"', iface).group(1)
        self.define_net("vi-net", iface)
        self.virsh("start", "vi-net")
        self.wait_state("vi-net", "running (booted)")
        rows = [ln.split() for ln in self.virsh(
            "domiflist", "vi-net").splitlines()[2:] if ln.strip()]
        self.assertEqual(rows, [["vnet0", "bridge", "kbr0", "virtio", mac]])
        self.assertIn("master kbr0", self.links()["vnet0"])
        self.virsh("destroy", "vi-net")

    def test_network(self):
        """type='network': the bridge of the libvirt network (its status
        file, as libvirtd writes it for an active network)."""
        self.need_net()
        with open(os.path.join(self.netrun, "kn.xml"), "w") as f:
            f.write("<networkstatus><class_id bitmap='0-2'/><network>"
                    "<name>kn</name><bridge name='kbr0' stp='on' "
                    "delay='0'/></network></networkstatus>")
        self.define_net("nw", "<interface type='network'><source "
                        "network='kn'/><target dev='kt-n0'/></interface>")
        self.virsh("start", "nw")
        self.wait_state("nw", "running (booted)")
        self.assertIn("master kbr0", self.links()["kt-n0"])
        self.assertRegex(self.virsh("dumpxml", "nw"),
                         r"<source network='kn' bridge='kbr0'/>\s*"
                         r"<target dev='kt-n0'/>")
        self.assertNotIn("bridge=", self.virsh("dumpxml", "--inactive",
                                               "nw"))
        rows = [ln.split() for ln in
                self.virsh("domiflist", "nw").splitlines()[2:] if ln.strip()]
        self.assertEqual(rows[0][:3], ["kt-n0", "network", "kn"])
        self.virsh("destroy", "nw")


if __name__ == "__main__":
    ktest.main()
