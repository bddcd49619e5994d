#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A VM with a disk and a NIC migrates between two kestrel processes
(shared storage: both open the same qcow2 image), under -accel qtest: a
virtio driver in the test (virtio_qtest.py) writes through the source's
disk, the migration moves RAM and device state (rings included), and the
same driver, now talking to the destination, reads what it wrote and
writes more. The destination announces the VM on its tap (RARP). Both
kestrels run in a network namespace the test creates and removes."""

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

T_IN, T_OUT, T_FLUSH = 0, 1, 4
HDR, DATA, STATUS = 0x300000, 0x310000, 0x400000
RXBUF = 0x500000
MAC = "52:54:00:12:34:56"

CAPTURE_RARP = r"""
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x8035))
s.bind((sys.argv[1], 0))
s.settimeout(20)
print("READY", flush=True)
print("RARP", s.recv(256).hex(), flush=True)
"""


def usable():
    if os.geteuid() != 0:
        return "network namespaces and tap devices need root"
    if not os.path.exists("/dev/net/tun") or not shutil.which("ip"):
        return "no /dev/net/tun or no ip (iproute2)"
    return None


def pattern(sector, nsect, seed):
    out = bytearray()
    for s in range(sector, sector + nsect):
        head = b"KMIG %010d seed %06d " % (s, seed)
        out += (head * (512 // len(head) + 1))[:512]
    return bytes(out)


@unittest.skipIf(usable(), usable())
class TestDiskAndNic(ktest.TestCase):
    def setUp(self):
        super().setUp()
        self.ns = "ktm-%d" % os.getpid()
        ktest.run(["ip", "netns", "del", self.ns])
        rc, out = ktest.run(["ip", "netns", "add", self.ns])
        self.assertEqual(rc, 0, out)
        self.addCleanup(ktest.run, ["ip", "netns", "del", self.ns])
        ktest.run(["ip", "-n", self.ns, "link", "set", "lo", "up"])
        self.img = os.path.join(self.tmp, "disk.qcow2")
        subprocess.run(["qemu-img", "create", "-f", "qcow2", self.img, "8M"],
                       check=True, capture_output=True)

    def vm(self, name, tap, incoming=None):
        qmp = os.path.join(self.tmp, name + ".qmp")
        qt = os.path.join(self.tmp, name + ".qtest")
        argv = ["ip", "netns", "exec", self.ns, KESTREL, "-nodefaults",
                "-display", "none", "-m", "64", "-serial", "null",
                "-accel", "qtest", "-qtest", "unix:%s,server=on,wait=off" % qt,
                "-qmp", "unix:%s,server=on,wait=off" % qmp,
                "-drive", "file=%s,if=none,id=d0,format=qcow2" % self.img,
                "-device", "virtio-blk-pci,drive=d0,id=disk0,addr=0x4",
                "-netdev", "tap,id=n0,ifname=%s,script=no,downscript=no" % tap,
                "-device", "virtio-net-pci,netdev=n0,id=net0,addr=0x5,mac="
                + MAC]
        if incoming:
            argv += ["-incoming", incoming]
        p = self.spawn(argv)
        p.qmp = Qmp(qmp)
        p.qt = Qtest(qt)
        return p

    def request(self, qt, vq, rtype, sector, data=b"", read_len=0):
        qt.write(HDR, struct.pack("<IIQ", rtype, 0, sector))
        bufs = [(HDR, 16, False)]
        if data:
            qt.write(DATA, data)
            bufs.append((DATA, len(data), False))
        if read_len:
            bufs.append((DATA, read_len, True))
        bufs.append((STATUS, 1, True))
        vq.post(bufs)
        vq.kick()
        vq.wait_used()
        status = qt.read(STATUS, 1)[0]
        return status, (qt.read(DATA, read_len) if read_len else b"")

    def test_migrate_with_disk_and_nic(self):
        src = self.vm("src", "tap0")
        blk = VirtioPciDevice(src.qt, 2)
        blk.init(0)
        net = VirtioPciDevice(src.qt, 1)
        net.init(1 << 5 | 1 << 15 | 1 << 16, nqueues=2, qbase=0x280000)
        for i in range(8):
            net.queues[0].post([(RXBUF + 2048 * i, 2048, True)])
        net.queues[0].kick()
        vq = blk.queues[0]
        first = pattern(0, 256, 1)
        self.assertEqual(self.request(src.qt, vq, T_OUT, 0, first)[0], 0)

        port = self.free_port()
        dst = self.vm("dst", "tap1", incoming="tcp:127.0.0.1:%d" % port)
        ktest.run(["ip", "-n", self.ns, "link", "set", "tap1", "up"])
        cap = self.spawn(["ip", "netns", "exec", self.ns, "python3", "-c",
                          CAPTURE_RARP, "tap1"])
        cap.wait_line("READY", 10)
        # Written after the destination opened the image: it must see it.
        late = pattern(4096, 128, 2)
        self.assertEqual(self.request(src.qt, vq, T_OUT, 4096, late)[0], 0)

        src.qmp.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % port})
        deadline = time.monotonic() + 60
        while src.qmp.cmd("query-migrate").get("status") != "completed":
            self.assertLess(time.monotonic(), deadline,
                            src.qmp.cmd("query-migrate"))
            time.sleep(0.05)
        deadline = time.monotonic() + 30
        while dst.qmp.cmd("query-status")["status"] != "running":
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)

        # The same driver, its rings and indices, now on the destination.
        for dev in (blk, net):
            dev.qt = dst.qt
        st, got = self.request(dst.qt, vq, T_IN, 0, read_len=len(first))
        self.assertEqual((st, got == first), (0, True))
        st, got = self.request(dst.qt, vq, T_IN, 4096, read_len=len(late))
        self.assertEqual((st, got == late), (0, True))
        more = pattern(8192, 64, 3)
        self.assertEqual(self.request(dst.qt, vq, T_OUT, 8192, more)[0], 0)
        self.assertEqual(self.request(dst.qt, vq, T_FLUSH, 0)[0], 0)

        line = cap.wait_line(r"RARP [0-9a-f]+", 20).group(0)
        frame = bytes.fromhex(line.split()[1])
        self.assertEqual(frame[6:12].hex(), MAC.replace(":", ""))
        self.assertEqual(frame[12:14], b"\x80\x35")
        f = dst.qmp.cmd("query-rx-filter", {"name": "net0"})[0]
        self.assertEqual(f["main-mac"], MAC)

        dst.qmp.cmd("quit")
        dst.proc.wait(10)
        src.qmp.cmd("quit")
        src.proc.wait(10)
        r = subprocess.run(["qemu-img", "check", self.img],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        flat = os.path.join(self.tmp, "flat.raw")
        subprocess.run(["qemu-img", "convert", "-O", "raw", self.img, flat],
                       check=True)
        with open(flat, "rb") as f:
            disk = f.read()
        self.assertTrue(disk[:len(first)] == first)
        self.assertTrue(disk[4096 * 512:4096 * 512 + len(late)] == late)
        self.assertTrue(disk[8192 * 512:8192 * 512 + len(more)] == more)

    def free_port(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        return port


if __name__ == "__main__":
    ktest.main()
