# SPDX-License-Identifier: GPL-2.0-or-later
"""The test guest's net mode against QEMU's virtio-net-pci.

QEMU's device is the oracle for the guest's driver (TESTGUEST.md, net
mode). Each test makes its own network namespace, kt-<pid>, runs QEMU in
it with a tap device, gives the host end 192.0.2.1/24 (TEST-NET-1) and
talks to the guest at 192.0.2.2: ping, UDP echo, a UDP stream into a
socket in the namespace. Nothing leaves the namespace, which is removed
afterwards whatever happened.
"""

import os
import re
import shutil
import time
import unittest

import ktest

MAC = "52:54:00:12:34:56"
HOST_IP = "192.0.2.1"
GUEST_IP = "192.0.2.2"
STREAM_PORT = 5001
LINK = r"^TG NET mac=%s ip=%s link=(up|down)$" % (MAC, re.escape(GUEST_IP))
STATS = (r"^TG NET rx=(\d+) tx=(\d+) arp=(\d+) icmp=(\d+) "
         r"udp_echo=(\d+)$")

# Run in the namespace: send @n datagrams to the guest's UDP echo port,
# one at a time, and print the round trips in microseconds.
ECHO_CLIENT = r"""
import socket, sys, time
n = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
rtts = []
for i in range(n):
    msg = b"kestrel-echo-%d" % i
    t0 = time.monotonic()
    s.sendto(msg, (sys.argv[2], 7))
    data, addr = s.recvfrom(2048)
    rtts.append((time.monotonic() - t0) * 1e6)
    assert data == msg and addr == (sys.argv[2], 7), (data, addr)
rtts.sort()
print("ECHO n=%d median_us=%d max_us=%d" % (n, rtts[n // 2], rtts[-1]),
      flush=True)
"""

# Run in the namespace: count the stream's datagrams until 3 s of silence
# after the first (or 60 s of none).
STREAM_SINK = r"""
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind(("0.0.0.0", int(sys.argv[1])))
print("SINK READY", flush=True)
s.settimeout(60)
n = size_ok = in_order = 0
last = -1
try:
    while True:
        data, addr = s.recvfrom(4096)
        s.settimeout(3)
        n += 1
        size_ok += len(data) == 1400
        seq = struct.unpack(">Q", data[:8])[0]
        in_order += seq > last
        last = seq
except socket.timeout:
    pass
print("SINK pkts=%d size_ok=%d in_order=%d last=%d"
      % (n, size_ok, in_order, last), flush=True)
"""


def net_usable():
    if not os.path.exists(ktest.QEMU):
        return "qemu-system-x86_64 is not installed"
    if not os.path.exists(ktest.TESTGUEST):
        return "test guest %s is not built" % ktest.TESTGUEST
    if os.geteuid() != 0:
        return "network namespaces and tap devices need root"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun"
    return None


def ip(*args):
    rc, out = ktest.run(["ip"] + list(args), timeout=20)
    if rc:
        raise AssertionError("ip %s: %s" % (" ".join(args), out))
    return out


@unittest.skipIf(net_usable(), net_usable())
class NetQemu(ktest.TestCase):

    def setUp(self):
        super().setUp()
        if not shutil.which("ip"):
            ktest.missing_prerequisite("ip (iproute2)")
        self.ns = "kt-%d" % os.getpid()
        ktest.run(["ip", "netns", "del", self.ns])     # a stale one
        ip("netns", "add", self.ns)
        # Runs after tearDown has killed QEMU, pass or fail.
        self.addCleanup(ktest.run, ["ip", "netns", "del", self.ns])
        ip("-n", self.ns, "link", "set", "lo", "up")

    def in_ns(self, argv, **kw):
        return ["ip", "netns", "exec", self.ns] + list(argv)

    def boot(self, append, qmp=None, machine="pc", device_opts=""):
        argv = [ktest.QEMU] + ktest.QEMU_ACCEL + [
            "-M", machine, "-nodefaults", "-nographic", "-serial", "stdio",
            "-no-reboot", "-m", "128", "-kernel", ktest.TESTGUEST,
            "-append", "tg.mode=net tg.ip=%s/24 %s" % (GUEST_IP, append),
            "-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
            # romfile=: no iPXE option ROM to wait for.
            "-device", "virtio-net-pci,netdev=n0,mac=%s,romfile=%s"
            % (MAC, device_opts)]
        if qmp:
            argv += ["-qmp", "unix:%s,server=on,wait=off" % qmp]
        p = self.spawn(self.in_ns(argv))
        # QEMU opens tap0 before the guest runs: give the host end its
        # address as soon as it is there.
        deadline = time.monotonic() + 20
        while ktest.run(["ip", "-n", self.ns, "link", "show", "tap0"])[0]:
            if time.monotonic() > deadline or not p.alive():
                p.drain(1)
                self.fail("QEMU made no tap0:\n" + p.text())
            time.sleep(0.1)
        ip("-n", self.ns, "addr", "add", HOST_IP + "/24", "dev", "tap0")
        ip("-n", self.ns, "link", "set", "tap0", "up")
        return p

    def stats(self, p):
        """The last TG NET counters line as a tuple of ints."""
        for ln in reversed(p.lines):
            m = re.match(STATS, ln)
            if m:
                return tuple(int(x) for x in m.groups())
        self.fail("no TG NET stats line:\n" + p.text())

    def test_ping_echo_link_powerdown(self):
        qmp_path = os.path.join(self.tmp, "qmp.sock")
        p = self.boot("", qmp=qmp_path)
        m = p.wait_line(LINK, timeout=60)
        self.assertEqual(m.group(1), "up", p.text())
        p.wait_line(STATS, timeout=10)

        if not shutil.which("ping"):
            ktest.missing_prerequisite("ping (iputils-ping)")
        rc, out = ktest.run(self.in_ns(["ping", "-c", "3", "-W", "5",
                                        GUEST_IP]), timeout=60)
        self.assertEqual(rc, 0, out + "\n" + p.text())
        self.assertIn("3 received", out)

        rc, out = ktest.run(self.in_ns(["/usr/bin/python3", "-c",
                                        ECHO_CLIENT, "20", GUEST_IP]),
                            timeout=120)
        self.assertEqual(rc, 0, out + "\n" + p.text())
        echo = re.search(r"ECHO n=20 median_us=(\d+) max_us=(\d+)", out)
        self.assertTrue(echo, out)
        print("# UDP echo round trip: median %s us, max %s us"
              % echo.groups(), flush=True)

        # The counters catch up within a second or two.
        deadline = time.monotonic() + 10
        while True:
            p.collect(0.5)
            rx, tx, arp, icmp, udp = self.stats(p)
            if (icmp >= 3 and udp >= 20) or time.monotonic() > deadline:
                break
        self.assertGreaterEqual(arp, 1, p.text())
        self.assertGreaterEqual(icmp, 3, p.text())
        self.assertEqual(udp, 20, p.text())
        self.assertGreaterEqual(rx, arp + icmp + udp)
        self.assertGreaterEqual(tx, arp + icmp + udp)

        # Link status: QEMU's set_link shows up in the config space.
        qmp = ktest.Qmp(qmp_path)
        self.addCleanup(qmp.close)
        mark = len(p.lines)
        qmp.cmd("set_link", {"name": "n0", "up": False})
        m = p.wait_line(LINK, timeout=10, start=mark)
        self.assertEqual(m.group(1), "down", p.text())
        mark = len(p.lines)
        qmp.cmd("set_link", {"name": "n0", "up": True})
        m = p.wait_line(LINK, timeout=10, start=mark)
        self.assertEqual(m.group(1), "up", p.text())

        qmp.cmd("system_powerdown")
        p.wait_line(r"^TG POWERBUTTON$", timeout=10)
        self.assertEqual(p.wait_exit(timeout=10), 0, p.text())
        self.assertFalse([ln for ln in p.lines if "TG ERROR" in ln],
                         p.text())

    def test_stream(self):
        # q35 (ECAM) and a modern-only device (0x1041); the ping test has
        # the transitional one (0x1000) that pc gets.
        sink = self.spawn(self.in_ns(["/usr/bin/python3", "-c", STREAM_SINK,
                                      str(STREAM_PORT)]))
        sink.wait_line(r"^SINK READY$", timeout=20)
        p = self.boot("tg.net=stream tg.peer=%s tg.port=%d tg.secs=3"
                      % (HOST_IP, STREAM_PORT), machine="q35",
                      device_opts=",disable-legacy=on")
        p.wait_line(LINK, timeout=60)
        m = p.wait_line(r"^TG NET stream mb_s=(\d+\.\d\d) pkts=(\d+)$",
                        timeout=60)
        sent = int(m.group(2))
        p.wait_line(r"^TG DONE$", timeout=20)
        self.assertEqual(p.wait_exit(timeout=10), 0, p.text())
        self.assertFalse([ln for ln in p.lines if "TG ERROR" in ln],
                         p.text())
        got = sink.wait_line(r"^SINK pkts=(\d+) size_ok=(\d+) "
                             r"in_order=(\d+) last=(-?\d+)$", timeout=30)
        n, size_ok, in_order, last = (int(x) for x in got.groups())
        # UDP: the host may drop some (a full socket or tap queue), never
        # invent any; those that arrive are whole and in order.
        self.assertGreater(n, 0, p.text())
        self.assertLessEqual(n, sent)
        self.assertEqual(size_ok, n)
        self.assertEqual(in_order, n)
        self.assertLess(last, sent)
        print("# stream: guest %s MB/s, %d sent, %d received on the host"
              % (m.group(1), sent, n), flush=True)


if __name__ == "__main__":
    ktest.main()
