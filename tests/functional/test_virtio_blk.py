#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""virtio-blk-pci on raw and qcow2 images, driven through its guest
interface: a virtio driver in the test (virtio_qtest.py) talks to the
device over kestrel's qtest socket (-accel qtest: the whole machine, no
vCPU), so the device sees exactly what a guest driver posts. The images
are made and checked with qemu-img and qemu-io; hostile requests and
chains check that kestrel answers errors, stays up, and leaves the image
intact. The test guest's own virtio-blk driver runs in test_guest_blk*.
"""

import json
import os
import struct
import subprocess

import ktest
from ktest import KESTREL, Qmp, Qtest
from virtio_qtest import (DESC_F_NEXT, DESC_F_WRITE, VirtioPciDevice)

BLK_ID = 2
F_RO, F_BLK_SIZE, F_FLUSH, F_DISCARD, F_WZ = 5, 6, 9, 13, 14
T_IN, T_OUT, T_FLUSH, T_GET_ID, T_DISCARD, T_WZ = 0, 1, 4, 8, 11, 13
S_OK, S_IOERR, S_UNSUPP = 0, 1, 2

HDR = 0x300000          # request header
DATA = 0x310000         # data buffers (up to 1 MiB)
STATUS = 0x400000       # status byte

WANT = (1 << F_RO | 1 << F_BLK_SIZE | 1 << F_FLUSH | 1 << F_DISCARD |
        1 << F_WZ)


def qemu_img(*args):
    return subprocess.run(["qemu-img"] + list(args), capture_output=True,
                          text=True, timeout=60)


def qemu_io(img, fmt, cmd):
    r = subprocess.run(["qemu-io", "-f", fmt, "-c", cmd, img],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0 or "error" in r.stdout.lower():
        raise AssertionError("qemu-io %s: %s%s" % (cmd, r.stdout, r.stderr))
    return r.stdout


def pattern(sector, nsect, seed):
    out = bytearray()
    for s in range(sector, sector + nsect):
        head = b"KBLK %010d seed %06d " % (s, seed)
        out += (head * (512 // len(head) + 1))[:512]
    return bytes(out)


class BlkCase(ktest.TestCase):
    def start(self, *drive_args, mem=64):
        qmp = os.path.join(self.tmp, "k.qmp")
        qt = os.path.join(self.tmp, "k.qtest")
        argv = [KESTREL, "-nodefaults", "-display", "none", "-m", str(mem),
                "-serial", "null", "-accel", "qtest",
                "-qtest", "unix:%s,server=on,wait=off" % qt,
                "-qmp", "unix:%s,server=on,wait=off" % qmp]
        argv += list(drive_args)
        self.proc = self.spawn(argv)
        self.qmp = Qmp(qmp)
        self.qt = Qtest(qt)
        self.dev = VirtioPciDevice(self.qt, BLK_ID)
        self.feats = self.dev.init(WANT)
        self.vq = self.dev.queues[0]

    def alive(self):
        self.assertIsNone(self.proc.proc.poll(), self.proc.text())
        self.assertEqual(self.qmp.cmd("query-status")["status"], "running")

    def request(self, rtype, sector, data=b"", read_len=0, extra=None):
        """Post one request; returns (status, used_len, data_read)."""
        qt = self.qt
        qt.write(HDR, struct.pack("<IIQ", rtype, 0, sector))
        qt.write(STATUS, b"\xee")
        bufs = [(HDR, 16, False)]
        if data:
            qt.write(DATA, data)
            bufs.append((DATA, len(data), False))
        if extra:
            bufs += extra
        if read_len:
            qt.write(DATA, b"\0" * read_len)
            bufs.append((DATA, read_len, True))
        bufs.append((STATUS, 1, True))
        head = self.vq.post(bufs)
        self.vq.kick()
        used_id, used_len = self.vq.wait_used()
        self.assertEqual(used_id, head)
        status = qt.read(STATUS, 1)[0]
        got = qt.read(DATA, read_len) if read_len else b""
        return status, used_len, got

    def capacity(self):
        return self.dev.config(0, 8)


class TestRaw(BlkCase):
    def setUp(self):
        super().setUp()
        self.img = os.path.join(self.tmp, "disk.raw")
        self.assertEqual(qemu_img("create", "-f", "raw", self.img,
                                  "8M").returncode, 0)

    def test_write_then_host_reads_it(self):
        self.start("-drive", "file=%s,if=virtio,format=raw" % self.img)
        self.assertEqual(self.capacity(), 8 * 2048)
        data = pattern(100, 16, 7)
        st, used, _ = self.request(T_OUT, 100, data=data)
        self.assertEqual(st, S_OK)
        self.assertEqual(self.request(T_FLUSH, 0)[0], S_OK)
        with open(self.img, "rb") as f:
            f.seek(100 * 512)
            self.assertEqual(f.read(len(data)), data)
        st, used, got = self.request(T_IN, 100, read_len=len(data))
        self.assertEqual((st, got), (S_OK, data))
        self.assertEqual(used, len(data) + 1)
        stats = self.qmp.cmd("query-blockstats")[0]["stats"]
        self.assertEqual(stats["wr_bytes"], len(data))
        self.assertEqual(stats["rd_bytes"], len(data))
        self.assertEqual(stats["flush_operations"], 1)
        self.assertEqual(stats["wr_highest_offset"], 100 * 512 + len(data))

    def test_thread_pool_path(self):
        # x-uring=off: every request through the I/O threads, as a format
        # other than raw goes.
        self.start("-drive", "file=%s,if=none,id=d0,format=raw" % self.img,
                   "-device", "virtio-blk-pci,drive=d0,x-uring=off")
        data = pattern(7, 9, 5)
        self.assertEqual(self.request(T_OUT, 7, data=data)[0], S_OK)
        self.assertEqual(self.request(T_IN, 7, read_len=len(data))[2], data)
        with open(self.img, "rb") as f:
            f.seek(7 * 512)
            self.assertEqual(f.read(len(data)), data)

    def test_host_data_reads_in_guest(self):
        qemu_io(self.img, "raw", "write -P 0x5a 1M 64k")
        self.start("-drive", "file=%s,if=none,id=d0,format=raw" % self.img,
                   "-device", "virtio-blk-pci,drive=d0,id=disk0,serial=SER-1")
        st, _, got = self.request(T_IN, 2048, read_len=65536)
        self.assertEqual((st, got), (S_OK, b"\x5a" * 65536))
        st, used, got = self.request(T_GET_ID, 0, read_len=20)
        self.assertEqual(st, S_OK)
        self.assertEqual(got, b"SER-1".ljust(20, b"\0"))
        blk = self.qmp.cmd("query-block")
        self.assertEqual(blk[0]["device"], "d0")
        self.assertEqual(blk[0]["qdev"],
                         "/machine/peripheral/disk0/virtio-backend")
        self.assertEqual(blk[0]["inserted"]["image"]["virtual-size"], 8 << 20)

    def test_blockdev_json_as_libvirt_writes_it(self):
        self.start("-blockdev", json.dumps({
            "driver": "file", "filename": self.img,
            "node-name": "libvirt-1-storage", "auto-read-only": True,
            "discard": "unmap"}),
            "-blockdev", json.dumps({
                "node-name": "libvirt-1-format", "read-only": False,
                "driver": "raw", "file": "libvirt-1-storage"}),
            "-device", json.dumps({
                "driver": "virtio-blk-pci", "bus": "pci.0", "addr": "0x4",
                "drive": "libvirt-1-format", "id": "virtio-disk0"}))
        self.assertEqual(self.dev.devfn, 4 << 3)
        data = pattern(0, 8, 1)
        self.assertEqual(self.request(T_OUT, 0, data=data)[0], S_OK)
        self.assertEqual(self.request(T_IN, 0, read_len=4096)[2], data)
        names = [n["node-name"] for n in
                 self.qmp.cmd("query-named-block-nodes")]
        self.assertEqual(names, ["libvirt-1-format", "libvirt-1-storage"])
        blk = self.qmp.cmd("query-block")[0]
        self.assertEqual(blk["device"], "")
        self.assertEqual(blk["inserted"]["node-name"], "libvirt-1-format")

    def test_write_zeroes_and_discard(self):
        qemu_io(self.img, "raw", "write -P 0x11 0 1M")
        self.start("-drive",
                   "file=%s,if=virtio,format=raw,discard=unmap" % self.img)
        self.assertTrue(self.feats & (1 << F_WZ))
        seg = struct.pack("<QII", 8, 8, 1)
        self.assertEqual(self.request(T_WZ, 0, data=seg)[0], S_OK)
        st, _, got = self.request(T_IN, 0, read_len=8192)
        self.assertEqual(got, b"\x11" * 4096 + b"\0" * 4096)
        seg = struct.pack("<QII", 64, 64, 0)
        self.assertEqual(self.request(T_DISCARD, 0, data=seg)[0], S_OK)
        # A discard flag is not for discard; two segments are not offered.
        self.assertEqual(self.request(
            T_DISCARD, 0, data=struct.pack("<QII", 0, 8, 1))[0], S_UNSUPP)
        self.assertEqual(self.request(
            T_WZ, 0, data=struct.pack("<QII", 0, 8, 0) * 2)[0], S_UNSUPP)
        self.alive()

    def test_read_only_refuses_writes(self):
        qemu_io(self.img, "raw", "write -P 0x22 0 4k")
        self.start("-drive",
                   "file=%s,if=virtio,format=raw,readonly=on" % self.img)
        self.assertTrue(self.feats & (1 << F_RO))
        self.assertEqual(self.request(T_OUT, 0, data=b"\x99" * 512)[0],
                         S_IOERR)
        self.assertEqual(self.request(T_IN, 0, read_len=512)[2],
                         b"\x22" * 512)
        with open(self.img, "rb") as f:
            self.assertEqual(f.read(512), b"\x22" * 512)

    def test_block_resize(self):
        self.start("-drive", "file=%s,if=virtio,format=raw" % self.img)
        gen = self.dev._r(self.dev.common + 0x15, 1)
        self.qmp.cmd("block_resize", {"device": "virtio0", "size": 16 << 20})
        self.assertEqual(self.capacity(), 16 * 2048)
        self.assertNotEqual(self.dev._r(self.dev.common + 0x15, 1), gen)
        self.assertEqual(os.path.getsize(self.img), 16 << 20)
        err = self.qmp.execute("block_resize",
                               {"device": "nope", "size": 1 << 20})["error"]
        self.assertEqual(err["desc"],
                         "Cannot find device='nope' nor node-name=''")


class TestQcow2(BlkCase):
    def test_backing_chain_reads_and_writes_stay_in_the_top(self):
        base = os.path.join(self.tmp, "base.raw")
        top = os.path.join(self.tmp, "top.qcow2")
        qemu_img("create", "-f", "raw", base, "8M")
        qemu_io(base, "raw", "write -P 0x61 0 8M")
        r = qemu_img("create", "-f", "qcow2", "-b", base, "-F", "raw", top)
        self.assertEqual(r.returncode, 0, r.stderr)
        qemu_io(top, "qcow2", "write -P 0x62 1M 64k")
        self.start("-drive", "file=%s,if=virtio,format=qcow2" % top)
        st, _, got = self.request(T_IN, 2048 - 8, read_len=8192)
        self.assertEqual(got, b"\x61" * 4096 + b"\x62" * 4096)
        data = pattern(4096 + 3, 512, 3)  # 256 KiB, across clusters
        self.assertEqual(self.request(T_OUT, 4096 + 3, data=data)[0], S_OK)
        self.assertEqual(self.request(T_FLUSH, 0)[0], S_OK)
        self.qmp.cmd("quit")
        self.proc.proc.wait(10)
        r = qemu_img("check", top)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        qemu_io(base, "raw", "read -P 0x61 0 8M")        # base untouched
        flat = os.path.join(self.tmp, "flat.raw")
        self.assertEqual(qemu_img("convert", "-O", "raw", top,
                                  flat).returncode, 0)
        with open(flat, "rb") as f:
            disk = f.read()
        want = bytearray(b"\x61" * (8 << 20))
        want[1 << 20:(1 << 20) + 65536] = b"\x62" * 65536
        want[(4096 + 3) * 512:(4096 + 3) * 512 + len(data)] = data
        self.assertTrue(disk == bytes(want), "the disk differs from what "
                        "was written")
        info = json.loads(qemu_img("info", "--output=json", top).stdout)
        self.assertEqual(info["backing-filename"], base)


class TestErrors(ktest.TestCase):
    """Bad disks and drive options: kestrel exits 1 with a message naming
    what is wrong."""

    def fails(self, *args):
        p = self.spawn([KESTREL, "-nodefaults", "-display", "none",
                        "-accel", "qtest", "-qtest", "unix:%s,server=on,"
                        "wait=off" % os.path.join(self.tmp, "q")] +
                       list(args))
        rc = p.proc.wait(20)
        p.drain()
        self.assertEqual(rc, 1, p.text())
        return p.text()

    def test_missing_file(self):
        out = self.fails("-drive", "file=/nonexistent/x.img,if=virtio")
        self.assertIn("/nonexistent/x.img", out)
        self.assertIn("No such file", out)

    def test_raw_file_as_qcow2(self):
        img = os.path.join(self.tmp, "d.raw")
        qemu_img("create", "-f", "raw", img, "1M")
        out = self.fails("-drive", "file=%s,if=virtio,format=qcow2" % img)
        self.assertIn(img, out)
        self.assertIn("qcow2", out)

    def test_drive_not_found_and_used_twice(self):
        img = os.path.join(self.tmp, "d.raw")
        qemu_img("create", "-f", "raw", img, "1M")
        out = self.fails("-device", "virtio-blk-pci,drive=nope")
        self.assertIn("Property 'drive' can't find value 'nope'", out)
        out = self.fails("-drive", "file=%s,if=none,id=d0,format=raw" % img,
                         "-device", "virtio-blk-pci,drive=d0",
                         "-device", "virtio-blk-pci,drive=d0")
        self.assertIn("drive 'd0' is already in use", out)
        out = self.fails("-device", "virtio-blk-pci")
        self.assertIn("drive property not set", out)

    def test_blockdev_errors(self):
        out = self.fails("-blockdev", "driver=vmdk,node-name=x,file=y")
        self.assertIn("Block driver 'vmdk' is not supported", out)
        out = self.fails("-blockdev", '{"driver":"raw","node-name":"r",'
                         '"file":"missing"}')
        self.assertIn("node-name='missing'", out)
        out = self.fails("-blockdev", "driver=file,node-name=f,filename=/x,"
                         "bogus=1")
        self.assertIn("Parameter 'bogus' is unexpected", out)


class TestHostile(BlkCase):
    """What a broken or hostile guest driver posts: kestrel answers an
    error or marks the device broken, stays up, and the image is intact."""

    def setUp(self):
        super().setUp()
        self.img = os.path.join(self.tmp, "disk.qcow2")
        self.assertEqual(qemu_img("create", "-f", "qcow2", self.img,
                                  "4M").returncode, 0)
        qemu_io(self.img, "qcow2", "write -P 0x33 0 4M")
        self.start("-drive", "file=%s,if=virtio,format=qcow2" % self.img)

    def tearDown(self):
        # Every test ends with kestrel up; after it quits, the image is
        # clean and holds what the host wrote.
        try:
            self.assertIsNone(self.proc.proc.poll(), self.proc.text())
            self.qmp.cmd("quit")
            self.proc.proc.wait(10)
            r = qemu_img("check", self.img)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            qemu_io(self.img, "qcow2", "read -P 0x33 0 4M")
        finally:
            super().tearDown()

    def test_beyond_the_end(self):
        cap = self.capacity()
        for sector in (cap, cap - 1, 2**63 // 512, 2**64 // 512 - 1):
            st, _, _ = self.request(T_OUT, sector, data=b"\x44" * 1024)
            self.assertEqual(st, S_IOERR, "sector %d" % sector)
            st, _, _ = self.request(T_IN, sector, read_len=1024)
            self.assertEqual(st, S_IOERR, "sector %d" % sector)
        st, _, _ = self.request(T_WZ, 0, data=struct.pack(
            "<QII", cap - 4, 0xFFFFFFFF, 0))
        self.assertEqual(st, S_IOERR)
        stats = self.qmp.cmd("query-blockstats")[0]["stats"]
        self.assertEqual(stats["invalid_wr_operations"], 5)
        self.assertEqual(stats["invalid_rd_operations"], 4)
        self.alive()

    def test_misaligned_length_and_unknown_type(self):
        self.assertEqual(self.request(T_OUT, 0, data=b"\x44" * 100)[0],
                         S_IOERR)
        self.assertEqual(self.request(0x7777, 0, read_len=512)[0], S_UNSUPP)
        self.alive()

    def test_buffer_outside_ram(self):
        # A data buffer at 8 GiB: not guest RAM (64 MiB).
        head = self.vq.post([(HDR, 16, False), (8 << 30, 4096, True),
                             (STATUS, 1, True)])
        self.qt.write(HDR, struct.pack("<IIQ", T_IN, 0, 0))
        self.vq.kick()
        self.assertRaises(AssertionError, self.vq.wait_used, 2)
        self.assertTrue(self.dev.broken())
        self.alive()
        self.assertEqual(self.vq.used_idx(), 0, "chain %d used" % head)

    def test_chain_without_status_breaks_the_device(self):
        self.qt.write(HDR, struct.pack("<IIQ", T_IN, 0, 0))
        self.vq.post([(HDR, 16, False)])
        self.vq.kick()
        self.assertTrue(self.dev.broken())
        self.alive()
        # A reset brings it back.
        self.dev.init(WANT)
        self.vq = self.dev.queues[0]
        self.assertEqual(self.request(T_IN, 0, read_len=512)[2],
                         b"\x33" * 512)

    def test_descriptor_loop(self):
        self.vq.write_desc(0, HDR, 16, DESC_F_NEXT, 1)
        self.vq.write_desc(1, DATA, 512, DESC_F_NEXT | DESC_F_WRITE, 0)
        self.vq.post_raw_head(0)
        self.vq.kick()
        self.assertTrue(self.dev.broken())
        self.alive()


if __name__ == "__main__":
    ktest.main()
