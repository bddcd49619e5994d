#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""virtio-net-pci on a tap, driven through its guest interface: a virtio
driver in the test (virtio_qtest.py) talks to the device over kestrel's
qtest socket (-accel qtest: the whole machine, no vCPU). kestrel runs in a
network namespace the test creates, its tap gets 192.0.2.1/24 there, and
frames cross between the namespace's sockets and the driver's rings. The
namespace is removed afterwards. The test guest's own virtio-net driver
runs against QEMU in test_guest_net_qemu.py.
"""

import os
import shutil
import socket
import struct
import subprocess
import time
import unittest

import ktest
from ktest import KESTREL, Qmp, Qtest
from virtio_qtest import VirtioPciDevice

NET_ID = 1
F_MAC, F_MRG_RXBUF, F_STATUS, F_CTRL_VQ, F_CTRL_RX = 5, 15, 16, 17, 18
F_GUEST_ANNOUNCE = 21
MAC = "52:54:00:12:34:56"
MACB = bytes.fromhex(MAC.replace(":", ""))
HOST_IP, GUEST_IP = "192.0.2.1", "192.0.2.2"

RXBUF = 0x300000        # 16 receive buffers of 2 KiB
TXBUF = 0x320000
CTRLBUF = 0x330000

RECV_ONE = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(15)
print("READY", flush=True)
data, addr = s.recvfrom(4096)
print("GOT", data.decode(), addr[0], flush=True)
"""

CAPTURE_RARP = r"""
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x8035))
s.bind(("tap0", 0))
s.settimeout(15)
print("READY", flush=True)
print("RARP", s.recv(256).hex(), flush=True)
"""


def usable():
    if os.geteuid() != 0:
        return "network namespaces and tap devices need root"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun"
    if not shutil.which("ip"):
        return "ip (iproute2) is not installed"
    return None


def ip(*args):
    rc, out = ktest.run(["ip"] + list(args), timeout=20)
    if rc:
        raise AssertionError("ip %s: %s" % (" ".join(args), out))
    return out


def ipv4_udp(src_mac, dst_mac, src, dst, sport, dport, payload):
    udp = struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload
    hdr = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17,
                      0, socket.inet_aton(src), socket.inet_aton(dst))
    csum = 0
    for i in range(0, 20, 2):
        csum += (hdr[i] << 8) | hdr[i + 1]
    while csum >> 16:
        csum = (csum & 0xFFFF) + (csum >> 16)
    hdr = hdr[:10] + struct.pack(">H", ~csum & 0xFFFF) + hdr[12:]
    return dst_mac + src_mac + b"\x08\x00" + hdr + udp


@unittest.skipIf(usable(), usable())
class NetCase(ktest.TestCase):
    def setUp(self):
        super().setUp()
        self.ns = "ktn-%d" % os.getpid()
        ktest.run(["ip", "netns", "del", self.ns])
        ip("netns", "add", self.ns)
        self.addCleanup(ktest.run, ["ip", "netns", "del", self.ns])
        ip("-n", self.ns, "link", "set", "lo", "up")

    def in_ns(self, *argv):
        return ["ip", "netns", "exec", self.ns] + list(argv)

    def start(self, netdev="tap,id=n0,ifname=tap0,script=no,downscript=no",
              device="virtio-net-pci,netdev=n0,id=net0,mac=" + MAC,
              want=(1 << F_MAC | 1 << F_MRG_RXBUF | 1 << F_STATUS |
                    1 << F_CTRL_VQ | 1 << F_CTRL_RX | 1 << F_GUEST_ANNOUNCE),
              post_rx=True):
        qmp = os.path.join(self.tmp, "k.qmp")
        qt = os.path.join(self.tmp, "k.qtest")
        argv = self.in_ns(
            KESTREL, "-nodefaults", "-display", "none", "-m", "64",
            "-serial", "null", "-accel", "qtest",
            "-qtest", "unix:%s,server=on,wait=off" % qt,
            "-qmp", "unix:%s,server=on,wait=off" % qmp,
            "-netdev", netdev, "-device", device)
        self.proc = self.spawn(argv)
        self.qmp = Qmp(qmp)
        self.qt = Qtest(qt)
        # No IPv6 chatter (router solicitations, MLD) on the test link.
        ktest.run(self.in_ns("sysctl", "-qw",
                             "net.ipv6.conf.tap0.disable_ipv6=1"))
        ip("-n", self.ns, "addr", "add", HOST_IP + "/24", "dev", "tap0")
        ip("-n", self.ns, "link", "set", "tap0", "up")
        ip("-n", self.ns, "neigh", "replace", GUEST_IP, "lladdr", MAC,
           "dev", "tap0")
        self.dev = VirtioPciDevice(self.qt, NET_ID)
        self.feats = self.dev.init(want, nqueues=3)
        self.rx, self.tx, self.ctrl = (self.dev.queues[q] for q in (0, 1, 2))
        for i in range(16 if post_rx else 0):
            self.rx.post([(RXBUF + 2048 * i, 2048, True)])
        self.rx.kick()

    def helper(self, script, *args):
        p = self.spawn(self.in_ns("python3", "-c", script, *args))
        p.wait_line("READY", 10)
        return p

    def receive(self, match, timeout=10):
        """Frames the device put in the receive ring until one contains
        @match; returns (header, frame). Used buffers are posted again."""
        deadline = time.monotonic() + timeout
        while True:
            head, length = self.rx.wait_used(max(0.1, deadline -
                                                 time.monotonic()))
            data = self.qt.read(RXBUF + 2048 * head, length)
            self.rx.post([(RXBUF + 2048 * head, 2048, True)])
            self.rx.kick()
            if match in data:
                return data[:12], data[12:]

    def transmit(self, frame):
        self.qt.write(TXBUF, bytes(12) + frame)
        self.tx.post([(TXBUF, 12 + len(frame), False)])
        self.tx.kick()
        self.tx.wait_used()

    def ctrl_cmd(self, cls, cmd, data):
        self.qt.write(CTRLBUF, bytes([cls, cmd]) + data)
        self.qt.write(CTRLBUF + 0x800, b"\xee")
        self.ctrl.post([(CTRLBUF, 2 + len(data), False),
                        (CTRLBUF + 0x800, 1, True)])
        self.ctrl.kick()
        self.ctrl.wait_used()
        return self.qt.read(CTRLBUF + 0x800, 1)[0]

    def send_from_host(self, payload, dst=GUEST_IP):
        ktest.run(self.in_ns("python3", "-c",
                             "import socket; socket.socket(socket.AF_INET, "
                             "socket.SOCK_DGRAM).sendto(%r, (%r, 9999))"
                             % (payload, dst)))

    def alive(self):
        self.assertIsNone(self.proc.proc.poll(), self.proc.text())
        self.assertEqual(self.qmp.cmd("query-status")["status"], "running")


class TestTap(NetCase):
    def test_host_to_guest_and_back(self):
        self.start()
        self.assertEqual(self.dev.config(0, 4) | self.dev.config(4, 2) << 32,
                         int.from_bytes(MACB, "little"))
        self.assertEqual(self.dev.config(6, 2) & 1, 1, "link up")
        self.send_from_host(b"hello-guest")
        hdr, frame = self.receive(b"hello-guest")
        self.assertEqual(frame[:6], MACB)
        self.assertEqual(struct.unpack("<H", hdr[10:12])[0], 1,
                         "num_buffers")
        self.assertEqual(frame[12:14], b"\x08\x00")
        sink = self.helper(RECV_ONE, HOST_IP, "7777")
        host_mac = bytes.fromhex(ip("-n", self.ns, "-br", "link", "show",
                                    "tap0").split()[2].replace(":", ""))
        self.transmit(ipv4_udp(MACB, host_mac, GUEST_IP, HOST_IP, 5555,
                               7777, b"hello-host"))
        sink.wait_line("GOT hello-host " + GUEST_IP, 10)
        self.alive()

    def test_receive_filter_and_query_rx_filter(self):
        self.start()
        f = self.qmp.cmd("query-rx-filter", {"name": "net0"})[0]
        self.assertTrue(f["promiscuous"])
        self.assertEqual(f["main-mac"], MAC)
        self.assertEqual(self.ctrl_cmd(0, 0, b"\x00"), 0)       # promisc off
        self.qmp.wait_event("NIC_RX_FILTER_CHANGED")
        f = self.qmp.cmd("query-rx-filter")[0]
        self.assertFalse(f["promiscuous"])
        self.assertEqual(f["name"], "net0")
        # A unicast table; a frame to another MAC is not delivered, one to
        # a MAC in the table is.
        other = "52:54:00:aa:bb:cc"
        ip("-n", self.ns, "neigh", "replace", "192.0.2.3", "lladdr", other,
           "dev", "tap0")
        self.send_from_host(b"not-for-us", dst="192.0.2.3")
        self.send_from_host(b"for-us")
        hdr, frame = self.receive(b"for-us")
        table = struct.pack("<I", 1) + bytes.fromhex(other.replace(":", "")) \
            + struct.pack("<I", 0)
        self.assertEqual(self.ctrl_cmd(1, 0, table), 0)
        self.send_from_host(b"now-for-us", dst="192.0.2.3")
        hdr, frame = self.receive(b"now-for-us")
        self.assertEqual(frame[:6].hex(), other.replace(":", ""))
        f = self.qmp.cmd("query-rx-filter", {"name": "net0"})[0]
        self.assertEqual(f["unicast-table"], [other])
        # Bad commands are refused, not fatal.
        self.assertEqual(self.ctrl_cmd(1, 0, b"\xff\xff\xff\xff"), 1)
        self.assertEqual(self.ctrl_cmd(9, 9, b""), 1)
        err = self.qmp.execute("query-rx-filter", {"name": "nope"})["error"]
        self.assertEqual(err["desc"], "net client(nope) isn't a NIC")
        self.alive()

    def test_set_link(self):
        self.start()
        gen = self.dev._r(self.dev.common + 0x15, 1)
        self.qmp.cmd("set_link", {"name": "net0", "up": False})
        self.assertEqual(self.dev.config(6, 2) & 1, 0)
        self.assertNotEqual(self.dev._r(self.dev.common + 0x15, 1), gen)
        self.qmp.cmd("set_link", {"name": "net0", "up": True})
        self.assertEqual(self.dev.config(6, 2) & 1, 1)
        self.qmp.cmd("set_link", {"name": "n0", "up": False})   # the netdev
        self.assertEqual(self.dev.config(6, 2) & 1, 0)
        err = self.qmp.execute("set_link", {"name": "x", "up": True})
        self.assertEqual(err["error"]["class"], "DeviceNotFound")

    def test_announce_self_sends_rarp(self):
        self.start()
        cap = self.helper(CAPTURE_RARP)
        self.qmp.cmd("announce-self", {"initial": 10, "max": 50,
                                       "rounds": 2, "step": 10})
        line = cap.wait_line(r"RARP [0-9a-f]+", 10).group(0)
        frame = bytes.fromhex(line.split()[1])
        self.assertEqual(frame[:6], b"\xff" * 6)
        self.assertEqual(frame[6:12], MACB)
        self.assertEqual(frame[12:14], b"\x80\x35")
        self.assertEqual(frame[20:22], b"\x00\x03")            # reverse req
        self.assertEqual(frame[22:28], MACB)
        # The guest, which negotiated GUEST_ANNOUNCE, is asked too.
        deadline = time.monotonic() + 5
        while not self.dev.config(6, 2) & 2:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.02)
        self.assertEqual(self.ctrl_cmd(3, 0, b""), 0)           # ack
        self.assertEqual(self.dev.config(6, 2) & 2, 0)

    def test_fd_passed_by_the_caller(self):
        # Open the tap as libvirt does and hand kestrel the descriptor.
        opener = r"""
import fcntl, os, struct, sys
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", b"tap0", 0x0002 | 0x1000 | 0x4000))
os.set_inheritable(fd, True)
os.execvp(sys.argv[1], sys.argv[1:] + ["-netdev", "tap,id=n0,fd=%d" % fd])
"""
        qmp = os.path.join(self.tmp, "k.qmp")
        qt = os.path.join(self.tmp, "k.qtest")
        self.proc = self.spawn(self.in_ns(
            "python3", "-c", opener, KESTREL, "-nodefaults", "-display",
            "none", "-m", "64", "-accel", "qtest",
            "-qtest", "unix:%s,server=on,wait=off" % qt,
            "-qmp", "unix:%s,server=on,wait=off" % qmp,
            "-device", "virtio-net-pci,netdev=n0,id=net0,mac=" + MAC))
        self.qmp = Qmp(qmp)
        self.qt = Qtest(qt)
        ip("-n", self.ns, "addr", "add", HOST_IP + "/24", "dev", "tap0")
        ip("-n", self.ns, "link", "set", "tap0", "up")
        ip("-n", self.ns, "neigh", "replace", GUEST_IP, "lladdr", MAC,
           "dev", "tap0")
        self.dev = VirtioPciDevice(self.qt, NET_ID)
        self.dev.init(1 << F_MAC | 1 << F_MRG_RXBUF, nqueues=2)
        self.rx = self.dev.queues[0]
        for i in range(8):
            self.rx.post([(RXBUF + 2048 * i, 2048, True)])
        self.rx.kick()
        self.send_from_host(b"through-fd")
        self.receive(b"through-fd")


class TestHostile(NetCase):
    def test_short_tx_chain_breaks_only_the_device(self):
        self.start()
        self.qt.write(TXBUF, b"\0" * 4)
        self.tx.post([(TXBUF, 4, False)])
        self.tx.kick()
        self.assertTrue(self.dev.broken())
        self.alive()

    def test_readable_rx_buffer_breaks_only_the_device(self):
        self.start(post_rx=False)
        self.rx.post([(RXBUF, 2048, False)])
        self.rx.kick()
        self.send_from_host(b"x")
        deadline = time.monotonic() + 10
        while not self.dev.broken():
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        self.alive()

    def test_ctrl_command_too_long(self):
        self.start()
        self.qt.write(CTRLBUF, b"\x01\x00" + b"\0" * 4000)
        self.ctrl.post([(CTRLBUF, 4002, False), (CTRLBUF + 0x1000, 1, True)])
        self.ctrl.kick()
        self.assertTrue(self.dev.broken())
        self.alive()


class TestErrors(ktest.TestCase):
    def fails(self, *args):
        p = self.spawn([KESTREL, "-nodefaults", "-display", "none",
                        "-accel", "qtest", "-qtest", "unix:%s,server=on,"
                        "wait=off" % os.path.join(self.tmp, "q")] +
                       list(args))
        rc = p.proc.wait(20)
        p.drain()
        self.assertEqual(rc, 1, p.text())
        return p.text()

    def test_bad_netdevs(self):
        self.assertIn("network backend 'user' is not supported",
                      self.fails("-netdev", "user,id=n0"))
        self.assertIn("fd 99 is not a tap device",
                      self.fails("-netdev", "tap,id=n0,fd=99"))
        self.assertIn("runs no scripts",
                      self.fails("-netdev", "tap,id=n0,ifname=t0"
                                 ",script=/etc/qemu-ifup"))
        self.assertIn("Property 'netdev' can't find value 'n9'",
                      self.fails("-device", "virtio-net-pci,netdev=n9"))
        self.assertIn("expected a unicast address",
                      self.fails("-device", "virtio-net-pci,netdev=n,"
                                 "mac=01:00:5e:00:00:01"))


if __name__ == "__main__":
    ktest.main()
