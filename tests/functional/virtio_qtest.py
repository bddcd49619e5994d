# SPDX-License-Identifier: GPL-2.0-or-later
"""A virtio 1.x PCI driver that runs in the test, over kestrel's qtest
socket: it finds a function on the PCI bus through the 0xcf8/0xcfc ports,
reads its vendor capabilities, negotiates features, places split
virtqueues in guest RAM and posts descriptor chains, exactly as a guest
driver does, so a device is exercised through its guest interface without
a vCPU. It can also post what no good driver would (hostile chains)."""

import struct
import time

VIRTIO_VENDOR = 0x1AF4

ACKNOWLEDGE, DRIVER, DRIVER_OK, FEATURES_OK = 1, 2, 4, 8
NEEDS_RESET, FAILED = 0x40, 0x80

DESC_F_NEXT, DESC_F_WRITE, DESC_F_INDIRECT = 1, 2, 4

F_VERSION_1 = 32

# Common configuration (virtio 1.x, 4.1.4.3).
C_DFSELECT, C_DF, C_GFSELECT, C_GF = 0x00, 0x04, 0x08, 0x0C
C_NUMQ, C_STATUS, C_CFGGEN = 0x12, 0x14, 0x15
C_QSELECT, C_QSIZE, C_QMSIX, C_QENABLE, C_QNOFF = 0x16, 0x18, 0x1A, 0x1C, 0x1E
C_QDESC, C_QAVAIL, C_QUSED = 0x20, 0x28, 0x30


class PciBus:
    """Configuration space through the legacy ports (mechanism #1)."""

    def __init__(self, qt):
        self.qt = qt

    def _addr(self, devfn, off):
        return 0x80000000 | (devfn << 8) | (off & 0xFC)

    def read32(self, devfn, off):
        self.qt.cmd("outl 0xcf8 0x%x" % self._addr(devfn, off))
        return int(self.qt.cmd("inl 0xcfc"), 16)

    def read8(self, devfn, off):
        return (self.read32(devfn, off) >> (8 * (off & 3))) & 0xFF

    def read16(self, devfn, off):
        return (self.read32(devfn, off) >> (8 * (off & 2))) & 0xFFFF

    def write32(self, devfn, off, val):
        self.qt.cmd("outl 0xcf8 0x%x" % self._addr(devfn, off))
        self.qt.cmd("outl 0xcfc 0x%x" % val)

    def find(self, device_id):
        """The devfns of every function with this vendor/device id."""
        found = []
        for slot in range(32):
            devfn = slot << 3
            v = self.read32(devfn, 0)
            if v & 0xFFFF == VIRTIO_VENDOR and v >> 16 == device_id:
                found.append(devfn)
        return found


class Virtqueue:
    def __init__(self, dev, index, size, base):
        self.dev, self.index, self.size = dev, index, size
        self.desc = base
        self.avail = base + 16 * size
        self.used = (self.avail + 6 + 2 * size + 4095) & ~4095
        self.end = self.used + 6 + 8 * size
        self.avail_idx = 0
        self.used_seen = 0
        self.next_desc = 0

    def post(self, bufs):
        """Post one chain: bufs is a list of (gpa, len, writable). Returns
        the head index."""
        qt = self.dev.qt
        n = len(bufs)
        head = self.next_desc
        for i, (gpa, length, writable) in enumerate(bufs):
            idx = (head + i) % self.size
            flags = (DESC_F_WRITE if writable else 0) | \
                (DESC_F_NEXT if i + 1 < n else 0)
            nxt = (idx + 1) % self.size
            qt.write(self.desc + 16 * idx,
                     struct.pack("<QIHH", gpa, length, flags, nxt))
        self.next_desc = (head + n) % self.size
        self.post_raw_head(head)
        return head

    def post_raw_head(self, head):
        qt = self.dev.qt
        slot = self.avail_idx % self.size
        qt.write(self.avail + 4 + 2 * slot, struct.pack("<H", head))
        self.avail_idx = (self.avail_idx + 1) & 0xFFFF
        qt.write(self.avail + 2, struct.pack("<H", self.avail_idx))

    def write_desc(self, idx, gpa, length, flags, nxt):
        self.dev.qt.write(self.desc + 16 * idx,
                          struct.pack("<QIHH", gpa, length, flags, nxt))

    def kick(self):
        self.dev.notify(self.index)

    def used_idx(self):
        return struct.unpack("<H", self.dev.qt.read(self.used + 2, 2))[0]

    def wait_used(self, timeout=20):
        """Wait for the next used element: (id, len)."""
        deadline = time.monotonic() + timeout
        while self.used_idx() == self.used_seen:
            if time.monotonic() > deadline:
                raise AssertionError("virtqueue %d: no used buffer within "
                                     "%ss" % (self.index, timeout))
            time.sleep(0.002)
        slot = self.used_seen % self.size
        ent = struct.unpack("<II",
                            self.dev.qt.read(self.used + 4 + 8 * slot, 8))
        self.used_seen = (self.used_seen + 1) & 0xFFFF
        return ent


class VirtioPciDevice:
    def __init__(self, qt, device_id, index=0):
        self.qt = qt
        self.pci = PciBus(qt)
        devfns = self.pci.find(0x1040 + device_id)
        if len(devfns) <= index:
            raise AssertionError("no virtio device %d on the bus" % device_id)
        self.devfn = devfns[index]
        cmd = self.pci.read32(self.devfn, 4)
        self.pci.write32(self.devfn, 4, (cmd & 0xFFFF) | 0x6)  # mem, master
        self.caps = {}
        ptr = self.pci.read8(self.devfn, 0x34)
        while ptr:
            cap_id = self.pci.read8(self.devfn, ptr)
            if cap_id == 0x09:
                cfg_type = self.pci.read8(self.devfn, ptr + 3)
                bar = self.pci.read8(self.devfn, ptr + 4)
                off = self.pci.read32(self.devfn, ptr + 8)
                length = self.pci.read32(self.devfn, ptr + 12)
                mult = self.pci.read32(self.devfn, ptr + 16) \
                    if cfg_type == 2 else 0
                self.caps.setdefault(cfg_type, (bar, off, length, mult))
            ptr = self.pci.read8(self.devfn, ptr + 1)
        bar0 = self.pci.read32(self.devfn, 0x10)
        bar1 = self.pci.read32(self.devfn, 0x14)
        self.bar = ((bar1 << 32) | bar0) & ~0xF
        self.common = self.bar + self.caps[1][1]
        self.notify_base = self.bar + self.caps[2][1]
        self.notify_mult = self.caps[2][3]
        self.device_cfg = self.bar + self.caps[4][1]
        self.queues = {}

    # register access, as a vCPU would do it
    def _r(self, addr, size):
        op = {1: "readb", 2: "readw", 4: "readl", 8: "readq"}[size]
        return int(self.qt.cmd("%s 0x%x" % (op, addr)), 16)

    def _w(self, addr, size, val):
        op = {1: "writeb", 2: "writew", 4: "writel", 8: "writeq"}[size]
        self.qt.cmd("%s 0x%x 0x%x" % (op, addr, val))

    def status(self):
        return self._r(self.common + C_STATUS, 1)

    def set_status(self, v):
        self._w(self.common + C_STATUS, 1, v)

    def device_features(self):
        f = 0
        for sel in (0, 1):
            self._w(self.common + C_DFSELECT, 4, sel)
            f |= self._r(self.common + C_DF, 4) << (32 * sel)
        return f

    def config(self, off, size):
        return self._r(self.device_cfg + off, size)

    def init(self, want, nqueues=1, qbase=0x200000, qsize=None):
        """Reset, negotiate @want & offered (VERSION_1 required), set up
        @nqueues queues from @qbase, DRIVER_OK. Returns the features."""
        self.set_status(0)
        self.set_status(ACKNOWLEDGE | DRIVER)
        offered = self.device_features()
        feats = offered & (want | 1 << F_VERSION_1)
        assert feats & (1 << F_VERSION_1), "device is not virtio 1.x"
        for sel in (0, 1):
            self._w(self.common + C_GFSELECT, 4, sel)
            self._w(self.common + C_GF, 4, (feats >> (32 * sel)) & 0xFFFFFFFF)
        self.set_status(ACKNOWLEDGE | DRIVER | FEATURES_OK)
        assert self.status() & FEATURES_OK, "features refused"
        base = qbase
        for q in range(nqueues):
            self._w(self.common + C_QSELECT, 2, q)
            size = self._r(self.common + C_QSIZE, 2)
            if qsize:
                size = qsize
                self._w(self.common + C_QSIZE, 2, size)
            vq = Virtqueue(self, q, size, base)
            self.qt.cmd("memset 0x%x %d 0" % (base, vq.end - base))
            self._w(self.common + C_QMSIX, 2, 0xFFFF)
            self._w(self.common + C_QDESC, 8, vq.desc)
            self._w(self.common + C_QAVAIL, 8, vq.avail)
            self._w(self.common + C_QUSED, 8, vq.used)
            vq.notify_off = self._r(self.common + C_QNOFF, 2)
            self._w(self.common + C_QENABLE, 2, 1)
            self.queues[q] = vq
            base = (vq.end + 4095) & ~4095
        self.set_status(ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK)
        self.features = feats
        return feats

    def notify(self, q):
        vq = self.queues[q]
        self._w(self.notify_base + vq.notify_off * self.notify_mult, 2, q)

    def broken(self):
        return bool(self.status() & NEEDS_RESET)
