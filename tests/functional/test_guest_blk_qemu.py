# SPDX-License-Identifier: GPL-2.0-or-later
"""The test guest's blk mode against QEMU's virtio-blk-pci.

QEMU's device is the oracle for the guest's driver (TESTGUEST.md, blk
mode). The pattern the guest writes is also read here, by the host, from
the image file (through `qemu-img convert` for qcow2), and a pattern this
file writes is verified by the guest: both sides agree on the format.
Machine pc: SeaBIOS assigns the BARs, as for the balloon.
"""

import os
import re
import struct
import unittest

import ktest

MIB = 1 << 20
SECTOR = 512
M64 = (1 << 64) - 1
WORDS = struct.Struct("<64Q")
SERIAL = "SER1"

PHASE = (r"^TG BLK phase=(seqwrite|seqread|randwrite|randread|verify) "
         r"mb_s=(\d+)\.(\d\d) iops=(\d+) errors=(\d+)$")
CAPACITY = r"^TG BLK capacity=(\d+) features=(0x[0-9a-f]+)$"
VERSION_1 = 1 << 32
BLK_F_RO = 1 << 5
BLK_F_FLUSH = 1 << 9


def qemu_usable():
    if not os.path.exists(ktest.QEMU):
        return "qemu-system-x86_64 is not installed"
    if not os.path.exists(ktest.TESTGUEST):
        return "test guest %s is not built" % ktest.TESTGUEST
    return None


def pattern_x(sector, seed, gen):
    return ((sector * 0x9e3779b97f4a7c15) ^ (seed * 0xc2b2ae3d27d4eb4f) ^
            (gen * 0xff51afd7ed558ccd)) & M64


def sector_bytes(sector, seed, gen=0):
    """One 512-byte sector of the pattern (tests/guest/README.md)."""
    w = [sector, seed, gen]
    x = pattern_x(sector, seed, gen)
    w += [(x + k * 0x100000001b3) & M64 for k in range(3, 63)]
    w.append(~sum(v ^ k for k, v in enumerate(w)) & M64)
    return WORDS.pack(*w)


def sector_gen(data, off, sector, seed):
    """The generation a sector holds, or None if it is not intact."""
    w = WORDS.unpack_from(data, off)
    if w[0] != sector or w[1] != seed:
        return None
    x = pattern_x(sector, seed, w[2])
    for k in range(3, 63):
        if w[k] != (x + k * 0x100000001b3) & M64:
            return None
    if w[63] != ~sum(v ^ k for k, v in enumerate(w[:63])) & M64:
        return None
    return w[2]


def check_image(path, seed, sectors):
    """(bad sectors, {generation: count}) over the first @sectors."""
    with open(path, "rb") as f:
        data = f.read(sectors * SECTOR)
    bad, gens = [], {}
    for s in range(sectors):
        g = sector_gen(data, s * SECTOR, s, seed)
        if g is None:
            bad.append(s)
        else:
            gens[g] = gens.get(g, 0) + 1
    return bad, gens


def write_image(path, seed, sectors, size):
    """A raw image of @size bytes whose first @sectors hold the pattern,
    every 4 KiB block at its own generation (as random writes leave it)."""
    with open(path, "wb") as f:
        for s in range(sectors):
            f.write(sector_bytes(s, seed, (s // 8) % 5))
        f.truncate(size)


def qemu_img(*args):
    rc, out = ktest.run(["qemu-img"] + list(args), timeout=60)
    if rc:
        raise AssertionError("qemu-img %s: %s" % (" ".join(args), out))
    return out


@unittest.skipIf(qemu_usable(), qemu_usable())
class BlkQemu(ktest.TestCase):

    def boot(self, disk, append, fmt="raw", readonly=False, machine="pc",
             device_opts=""):
        drive = "file=%s,if=none,id=d0,format=%s" % (disk, fmt)
        if readonly:
            drive += ",readonly=on"
        argv = [ktest.QEMU] + ktest.QEMU_ACCEL + [
            "-M", machine, "-nodefaults", "-nographic", "-serial", "stdio",
            "-no-reboot", "-m", "128", "-kernel", ktest.TESTGUEST,
            "-append", "tg.mode=blk " + append,
            "-drive", drive,
            "-device", "virtio-blk-pci,drive=d0,serial=" + SERIAL +
            device_opts]
        return self.spawn(argv)

    def finished(self, p, errors=False):
        p.wait_line(r"^TG DONE$", timeout=120)
        self.assertEqual(p.wait_exit(timeout=20), 0, p.text())
        if not errors:
            self.assertFalse([ln for ln in p.lines if "TG ERROR" in ln],
                             p.text())

    def phases(self, p):
        """{phase: (mb_s, iops, errors)} from the TG BLK phase lines."""
        out = {}
        for ln in p.lines:
            m = re.match(PHASE, ln)
            if m:
                out[m.group(1)] = (float(m.group(2) + "." + m.group(3)),
                                   int(m.group(4)), int(m.group(5)))
        return out

    def negotiated(self, p, sectors):
        m = p.wait_line(CAPACITY, timeout=60)
        self.assertEqual(int(m.group(1)), sectors, p.text())
        features = int(m.group(2), 16)
        self.assertTrue(features & VERSION_1, p.text())
        self.assertTrue(features & BLK_F_FLUSH, p.text())
        p.wait_line(r"^TG BLK serial=%s$" % SERIAL, timeout=10)
        return features

    def write_and_check(self, disk, fmt, raw_of):
        mb, seed = 8, 4242
        p = self.boot(disk, "tg.mb=%d tg.seed=%d tg.count=2000" % (mb, seed),
                      fmt)
        self.negotiated(p, 16 * MIB // SECTOR)
        self.finished(p)
        ph = self.phases(p)
        self.assertEqual(sorted(ph), ["randread", "randwrite", "seqread",
                                      "seqwrite"], p.text())
        for name, (mb_s, iops, errors) in ph.items():
            self.assertEqual(errors, 0, p.text())
            self.assertGreater(iops, 0, p.text())
        self.assertNotIn("CORRUPT", p.text())
        print("# %s: %s" % (fmt, ", ".join("%s %.1f MB/s %d IOPS"
                                             % (k, v[0], v[1])
                                             for k, v in sorted(ph.items()))),
              flush=True)
        # The host reads what the guest wrote: every sector intact, some
        # rewritten by the random phase (generation > 0).
        raw = raw_of(disk)
        bad, gens = check_image(raw, seed, mb * MIB // SECTOR)
        self.assertEqual(bad, [], "sectors the host finds bad")
        self.assertIn(0, gens)
        self.assertGreater(sum(n for g, n in gens.items() if g), 0, gens)
        # Past tg.mb the disk is untouched.
        with open(raw, "rb") as f:
            f.seek(mb * MIB)
            self.assertEqual(f.read(MIB), bytes(MIB))

    def test_raw(self):
        disk = os.path.join(self.tmp, "disk.raw")
        qemu_img("create", "-f", "raw", disk, "16M")
        self.write_and_check(disk, "raw", lambda d: d)

    def test_qcow2_overlay(self):
        base = os.path.join(self.tmp, "base.raw")
        disk = os.path.join(self.tmp, "disk.qcow2")
        qemu_img("create", "-f", "raw", base, "16M")
        qemu_img("create", "-f", "qcow2", "-b", base, "-F", "raw", disk)

        def to_raw(d):
            out = os.path.join(self.tmp, "converted.raw")
            qemu_img("convert", "-O", "raw", d, out)
            return out

        self.write_and_check(disk, "qcow2", to_raw)
        out = qemu_img("check", disk)
        self.assertIn("No errors were found", out)
        # The backing file saw no write.
        with open(base, "rb") as f:
            self.assertEqual(f.read(), bytes(16 * MIB))

    def test_modern_q35_default_size(self):
        # q35 (ECAM) and a modern-only device (0x1042; on pc the device is
        # transitional, 0x1001). Without tg.mb the area is the whole disk
        # when it is under 64 MiB.
        disk = os.path.join(self.tmp, "disk.raw")
        qemu_img("create", "-f", "raw", disk, "12M")
        p = self.boot(disk, "tg.seed=11 tg.pattern=seq", machine="q35",
                      device_opts=",disable-legacy=on")
        self.negotiated(p, 12 * MIB // SECTOR)
        self.finished(p)
        ph = self.phases(p)
        self.assertEqual(sorted(ph), ["seqread", "seqwrite"], p.text())
        self.assertEqual([v[2] for v in ph.values()], [0, 0], p.text())
        bad, gens = check_image(disk, 11, 12 * MIB // SECTOR)
        self.assertEqual((bad, gens), ([], {0: 12 * MIB // SECTOR}))

    def test_verify_host_written(self):
        # The host writes the pattern (mixed generations); the guest
        # checks it without writing.
        disk = os.path.join(self.tmp, "host.raw")
        write_image(disk, 99, 4 * MIB // SECTOR, 8 * MIB)
        before = open(disk, "rb").read()
        p = self.boot(disk, "tg.mb=4 tg.seed=99 tg.verify=1")
        self.negotiated(p, 8 * MIB // SECTOR)
        self.finished(p)
        self.assertEqual(list(self.phases(p)), ["verify"], p.text())
        self.assertEqual(self.phases(p)["verify"][2], 0, p.text())
        self.assertEqual(open(disk, "rb").read(), before)

    def test_tampered_sector_is_reported(self):
        disk = os.path.join(self.tmp, "host.raw")
        write_image(disk, 99, 4 * MIB // SECTOR, 8 * MIB)
        with open(disk, "r+b") as f:
            f.seek(777 * SECTOR + 100)
            b = f.read(1)
            f.seek(777 * SECTOR + 100)
            f.write(bytes([b[0] ^ 0x40]))
        p = self.boot(disk, "tg.mb=4 tg.seed=99 tg.verify=1")
        self.finished(p)
        corrupt = [ln for ln in p.lines if ln.startswith("TG BLK CORRUPT")]
        self.assertEqual(corrupt, ["TG BLK CORRUPT sector=777"], p.text())
        self.assertEqual(self.phases(p)["verify"][2], 1, p.text())

    def test_wrong_seed_is_reported(self):
        disk = os.path.join(self.tmp, "host.raw")
        write_image(disk, 99, 64, 1 * MIB)
        p = self.boot(disk, "tg.mb=1 tg.seed=98 tg.verify=1")
        self.finished(p)
        self.assertIn("TG BLK CORRUPT sector=0", p.lines, p.text())
        self.assertGreaterEqual(self.phases(p)["verify"][2], 64, p.text())

    def test_read_only(self):
        disk = os.path.join(self.tmp, "host.raw")
        write_image(disk, 5, 2 * MIB // SECTOR, 4 * MIB)
        before = open(disk, "rb").read()
        p = self.boot(disk, "tg.mb=2 tg.seed=5 tg.ro=1", readonly=True)
        features = self.negotiated(p, 4 * MIB // SECTOR)
        self.assertTrue(features & BLK_F_RO, p.text())
        p.wait_line(r"^TG BLK ro write=ioerr ro_feature=1$")
        self.finished(p)
        self.assertEqual(list(self.phases(p)), ["verify"], p.text())
        self.assertEqual(self.phases(p)["verify"][2], 0, p.text())
        self.assertEqual(open(disk, "rb").read(), before)

    def test_read_only_disk_without_tg_ro(self):
        # A read-only disk and a workload that writes: refused up front.
        disk = os.path.join(self.tmp, "host.raw")
        write_image(disk, 5, 8, 1 * MIB)
        p = self.boot(disk, "tg.mb=1 tg.seed=5", readonly=True)
        p.wait_line(r"^TG ERROR blk: the disk is read-only", timeout=60)
        self.assertEqual(p.wait_exit(timeout=20), 0, p.text())

    def test_rand_for_secs(self):
        # tg.pattern=rand: only the random phases, each for tg.secs.
        disk = os.path.join(self.tmp, "disk.raw")
        qemu_img("create", "-f", "raw", disk, "4M")
        p = self.boot(disk, "tg.mb=4 tg.seed=3 tg.pattern=rand tg.secs=1")
        self.finished(p)
        ph = self.phases(p)
        self.assertEqual(sorted(ph), ["randread", "randwrite"], p.text())
        self.assertEqual([v[2] for v in ph.values()], [0, 0], p.text())
        bad, gens = check_image(disk, 3, 4 * MIB // SECTOR)
        # Blocks the random writes reached hold the pattern; the others
        # are still zero.
        zero = bytes(SECTOR)
        with open(disk, "rb") as f:
            data = f.read(4 * MIB)
        self.assertFalse([s for s in bad
                          if data[s * SECTOR:(s + 1) * SECTOR] != zero])
        self.assertGreater(sum(gens.values()), 0)
        self.assertNotIn(0, gens)


if __name__ == "__main__":
    ktest.main()
