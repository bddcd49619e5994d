#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Guest RAM on each memory backend, under -accel qtest (no /dev/kvm
needed): the test writes guest RAM through the qtest socket and reads what
the host did in kestrel's /proc/PID/smaps and status.

- the default (anonymous) RAM gets transparent huge pages where the host
  enables them (THP "madvise" or "always");
- hugetlbfs and hugetlb memfds put guest RAM on 2 MiB pages (the test
  reserves them and mounts hugetlbfs itself, and undoes both);
- prealloc=on makes RSS full before anything runs, mem-lock=on locks it;
- a qtest-driven virtio-balloon driver inflates and RSS falls, on every
  backend;
- migration between two kestrels on each backend keeps RAM identical and
  holes stay holes on the destination.
"""

import os
import struct
import subprocess
import tempfile
import time
import unittest

import ktest
import test_daemon
from ktest import KESTREL, Qmp, Qtest
from virtio_qtest import VirtioPciDevice

MiB = 1 << 20
PAGE = 4096
CHUNK = 16 * MiB                # qtest's memset maximum
BALLOON_ID = 5                  # virtio device type


def proc_status(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith(key + ":"):
                return int(ln.split()[1]) * 1024
    return 0


def smaps_mappings(pid):
    """Every mapping of @pid: a dict of its smaps fields (kB as bytes)."""
    maps, cur = [], None
    with open("/proc/%d/smaps" % pid) as f:
        for ln in f:
            head = ln.split()
            if not head[0].endswith(":"):
                cur = {"range": head[0], "name": " ".join(head[5:])}
                maps.append(cur)
            elif len(head) >= 3 and head[2] == "kB":
                cur[head[0][:-1]] = int(head[1]) * 1024
    return maps


def guest_mapping(pid, size):
    """The mapping of guest RAM: the one of exactly @size bytes."""
    found = [m for m in smaps_mappings(pid) if m.get("Size") == size]
    if len(found) != 1:
        raise AssertionError("%d mappings of %d bytes in kestrel's smaps"
                             % (len(found), size))
    return found[0]


def resident(m):
    """Bytes of a mapping in memory (smaps counts hugetlb pages apart)."""
    return m["Rss"] + m.get("Shared_Hugetlb", 0) + m.get("Private_Hugetlb", 0)


def meminfo(key):
    with open("/proc/meminfo") as f:
        for ln in f:
            if ln.startswith(key + ":"):
                return int(ln.split()[1])
    return 0


def thp_mode():
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            return f.read().split("[")[1].split("]")[0]
    except (OSError, IndexError):
        return "never"


def pattern(page, tag):
    head = b"KESTREL mem page %08d tag %s " % (page, tag)
    return (head * (PAGE // len(head) + 1))[:PAGE]


class HugePages:
    """Reserves 2 MiB pages and mounts hugetlbfs in a temporary directory;
    close() puts the host back as it was."""

    def __init__(self, pages):
        self.path = "/proc/sys/vm/nr_hugepages"
        self.mnt = None
        with open(self.path) as f:
            self.before = int(f.read())
        try:
            with open(self.path, "w") as f:
                f.write(str(self.before + pages))
        except OSError as e:
            raise unittest.SkipTest(
                "cannot reserve huge pages (%s): %s" % (self.path, e))
        if meminfo("HugePages_Free") < pages:
            self.close()
            raise unittest.SkipTest(
                "the host reserved %d of the %d huge pages asked for "
                "(fragmented memory)" % (meminfo("HugePages_Free"), pages))
        self.mnt = tempfile.mkdtemp(prefix="kestrel-hugetlbfs-")
        rc = subprocess.run(["mount", "-t", "hugetlbfs", "-o",
                             "pagesize=2M", "none", self.mnt],
                            capture_output=True, text=True)
        if rc.returncode != 0:
            os.rmdir(self.mnt)
            self.mnt = None
            self.close()
            raise unittest.SkipTest(
                "cannot mount hugetlbfs: " + rc.stderr.strip())

    def close(self):
        if self.mnt:
            subprocess.run(["umount", self.mnt], check=False)
            os.rmdir(self.mnt)
            self.mnt = None
        with open(self.path, "w") as f:
            f.write(str(self.before))


class MemCase(ktest.TestCase):
    def vm(self, name, mem, backend=None, extra=(), incoming=None,
           balloon=False):
        """kestrel under qtest with guest RAM from @backend (-object
        options after "id=r,size=...", or None for the default)."""
        qmp = os.path.join(self.tmp, name + ".qmp")
        qt = os.path.join(self.tmp, name + ".qtest")
        argv = [KESTREL, "-nodefaults", "-display", "none", "-m",
                "%dM" % mem, "-serial", "null", "-accel", "qtest", "-qtest",
                "unix:%s,server=on,wait=off" % qt,
                "-qmp", "unix:%s,server=on,wait=off" % qmp]
        if backend is not None:
            kind, _, opts = backend.partition(",")
            argv += ["-object", "%s,id=r,size=%dM%s" %
                     (kind, mem, "," + opts if opts else ""),
                     "-machine", "memory-backend=r"]
        if balloon:
            argv += ["-device", "virtio-balloon-pci,id=b0"]
        if incoming:
            argv += ["-incoming", incoming]
        argv += list(extra)
        p = self.spawn(argv)
        p.qmp = Qmp(qmp)
        p.qt = Qtest(qt)
        p.pid = p.proc.pid
        return p

    def touch(self, qt, start, size, val=0x5A):
        for off in range(0, size, CHUNK):
            qt.cmd("memset 0x%x 0x%x 0x%x" % (start + off,
                                              min(CHUNK, size - off), val))


class Thp(MemCase):
    def test_default_ram_gets_transparent_huge_pages(self):
        mode = thp_mode()
        if mode == "never":
            self.skipTest("transparent huge pages are off on this host "
                          "(/sys/kernel/mm/transparent_hugepage/enabled)")
        for backend in (None, "memory-backend-ram"):
            p = self.vm("thp%s" % bool(backend), 1024, backend)
            self.touch(p.qt, 0, 512 * MiB)
            m = guest_mapping(p.pid, 1024 * MiB)
            self.assertGreaterEqual(m["Rss"], 512 * MiB)
            # Nearly all of it: a 2 MiB page per 2 MiB written.
            self.assertGreaterEqual(m["AnonHugePages"], 256 * MiB,
                                    "guest RAM (%s) on THP %s: %s"
                                    % (backend, mode, m))
            p.kill()

    def test_memfd_is_shared_memory(self):
        """memory-backend-memfd: guest RAM is shared memory (what another
        process could map), not anonymous."""
        p = self.vm("memfd", 64, "memory-backend-memfd")
        self.touch(p.qt, 0, 32 * MiB)
        m = guest_mapping(p.pid, 64 * MiB)
        self.assertIn("memfd:", m["name"])
        self.assertEqual(m.get("Anonymous", 0), 0)
        self.assertGreaterEqual(m["Rss"], 32 * MiB)


class Prealloc(MemCase):
    def test_prealloc_fills_rss_before_start(self):
        for backend in ("memory-backend-ram,prealloc=on,prealloc-threads=2",
                        "memory-backend-memfd,prealloc=on"):
            p = self.vm("pre%d" % len(backend), 256, backend)
            self.assertGreaterEqual(proc_status(p.pid, "VmRSS"), 256 * MiB,
                                    backend)
            p.kill()
        # Without it, untouched RAM costs nothing.
        p = self.vm("lazy", 256)
        self.assertLess(proc_status(p.pid, "VmRSS"), 64 * MiB)

    def test_mem_prealloc_and_mem_lock(self):
        p = self.vm("memprealloc", 128, extra=["-mem-prealloc"])
        self.assertGreaterEqual(proc_status(p.pid, "VmRSS"), 128 * MiB)
        p.kill()
        p = self.vm("lock", 128, extra=["-overcommit", "mem-lock=on"])
        self.assertGreaterEqual(proc_status(p.pid, "VmLck"), 128 * MiB)


class HugeTlb(MemCase):
    def setUp(self):
        super().setUp()
        self.huge = HugePages(64)
        self.addCleanup(self.huge.close)

    def check_huge(self, p, size):
        m = guest_mapping(p.pid, size)
        self.assertEqual(m["KernelPageSize"], 2 * MiB, m)
        # the guest reads back what it wrote, across huge pages
        p.qt.write(2 * MiB - 8, b"0123456789abcdef")
        self.assertEqual(p.qt.read(2 * MiB - 8, 16), b"0123456789abcdef")

    def test_hugetlbfs_file_shared_prealloc(self):
        free = meminfo("HugePages_Free")
        p = self.vm("huge", 64, "memory-backend-file,mem-path=%s,share=on,"
                    "prealloc=on" % self.huge.mnt)
        self.assertEqual(free - meminfo("HugePages_Free"), 32)
        self.check_huge(p, 64 * MiB)
        # a temporary file of its own, already unlinked
        self.assertEqual(os.listdir(self.huge.mnt), [])
        p.kill()
        p.proc.wait()
        self.assertEqual(meminfo("HugePages_Free"), free)

    def test_mem_path_private(self):
        """-mem-path DIR, as QEMU: a private mapping of a hugetlbfs file,
        allocated as the guest touches it."""
        free = meminfo("HugePages_Free")
        p = self.vm("mempath", 64, extra=["-mem-path", self.huge.mnt])
        self.touch(p.qt, 0, 16 * MiB)
        self.assertGreaterEqual(free - meminfo("HugePages_Free"), 8)
        self.check_huge(p, 64 * MiB)

    def test_memfd_hugetlb(self):
        free = meminfo("HugePages_Free")
        p = self.vm("hmemfd", 64, "memory-backend-memfd,hugetlb=on,"
                    "hugetlbsize=2M,prealloc=on")
        self.assertEqual(free - meminfo("HugePages_Free"), 32)
        self.check_huge(p, 64 * MiB)

    def test_not_enough_huge_pages(self):
        """More than the host has: a clear error at start, not a SIGBUS
        when the guest touches the page that is not there."""
        argv = [KESTREL, "-nodefaults", "-display", "none", "-serial",
                "null", "-accel", "qtest", "-m", "1G", "-object",
                "memory-backend-file,id=r,size=1G,mem-path=%s,share=on"
                % self.huge.mnt, "-machine", "memory-backend=r"]
        out = subprocess.run(argv, capture_output=True, text=True,
                             timeout=30)
        self.assertEqual(out.returncode, 1)
        self.assertIn("memory backend 'r': cannot map 1024 MiB of huge "
                      "pages", out.stderr)


class Balloon(MemCase):
    """Inflate through a virtio-balloon driver on the qtest socket: RSS
    falls on every backend (huge pages: whole ones)."""

    BACKENDS = ("memory-backend-ram", "memory-backend-memfd",
                "memory-backend-memfd,share=off",
                "memory-backend-file,mem-path={tmp}",
                "memory-backend-file,mem-path={tmp},share=on")

    def inflate(self, p, start, size):
        dev = VirtioPciDevice(p.qt, BALLOON_ID)
        dev.init(0, nqueues=2, qbase=0x100000)
        vq = dev.queues[0]
        buf = 0x180000
        pfn = start // PAGE
        for first in range(pfn, pfn + size // PAGE, 512):
            p.qt.write(buf, struct.pack("<512I",
                                        *range(first, first + 512)))
            vq.post([(buf, 512 * 4, False)])
            vq.kick()
            vq.wait_used()

    def check_backend(self, backend, start=64 * MiB, size=64 * MiB):
        self.n = getattr(self, "n", 0) + 1
        p = self.vm("bal%d" % self.n, 256, backend, balloon=True)
        self.touch(p.qt, start, 2 * size)
        full = resident(guest_mapping(p.pid, 256 * MiB))
        self.assertGreaterEqual(full, 2 * size)
        self.inflate(p, start, size)
        m = guest_mapping(p.pid, 256 * MiB)
        self.assertLessEqual(resident(m), full - size + 4 * MiB,
                             "%s: %s" % (backend, m))
        # gone pages read zeros, the rest is intact
        self.assertEqual(p.qt.read(start, 16), bytes(16))
        self.assertEqual(p.qt.read(start + size, 16), b"\x5a" * 16)
        p.kill()

    def test_inflate_returns_memory_on_every_backend(self):
        for b in self.BACKENDS:
            with self.subTest(backend=b):
                self.check_backend(b.format(tmp=self.tmp))

    def test_inflate_hugetlbfs(self):
        huge = HugePages(128)
        self.addCleanup(huge.close)
        free = meminfo("HugePages_Free")
        self.check_backend("memory-backend-file,mem-path=%s,share=on"
                           % huge.mnt)
        self.assertEqual(meminfo("HugePages_Free"), free)


class Migration(MemCase):
    """Two kestrels on the same kind of backend: RAM arrives identical,
    and what the source never touched (or ballooned out) stays a hole."""

    BACKENDS = ("memory-backend-ram", "memory-backend-memfd",
                "memory-backend-file,mem-path={tmp}",
                "memory-backend-file,mem-path={tmp},share=on")

    def check_backend(self, backend, mem=512):
        pages = list(range(0, 4096, 37))        # scattered over 16 MiB
        base = 64 * MiB
        self.n = getattr(self, "n", 0) + 1
        src = self.vm("src%d" % self.n, mem, backend)
        for i in pages:
            src.qt.write(base + i * PAGE, pattern(i, b"A"))
        self.touch(src.qt, 200 * MiB, 32 * MiB, 0x33)
        sock = os.path.join(self.tmp, "mig%d.sock" % self.n)
        dst = self.vm("dst%d" % self.n, mem, backend,
                      incoming="unix:" + sock)
        src.qmp.cmd("migrate", {"uri": "unix:" + sock})
        deadline = time.monotonic() + 60
        while src.qmp.cmd("query-migrate").get("status") != "completed":
            self.assertLess(time.monotonic(), deadline, "migration stuck")
            time.sleep(0.05)
        deadline = time.monotonic() + 30
        while dst.qmp.cmd("query-status")["status"] == "inmigrate":
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        for i in pages:
            self.assertEqual(dst.qt.read(base + i * PAGE, PAGE),
                             pattern(i, b"A"), "%s: page %d" % (backend, i))
        self.assertEqual(dst.qt.read(200 * MiB + 4 * MiB, 8), b"\x33" * 8)
        # Holes stayed holes: far less than the guest's size arrived.
        rss = resident(guest_mapping(dst.pid, mem * MiB))
        self.assertLess(rss, 128 * MiB, "%s: destination RSS %d"
                        % (backend, rss))
        # ... and the sender found them without reading (allocating) them.
        rss = resident(guest_mapping(src.pid, mem * MiB))
        self.assertLess(rss, 128 * MiB, "%s: source RSS %d" % (backend, rss))
        src.kill()
        dst.kill()

    def test_migration_on_every_backend(self):
        for b in self.BACKENDS:
            with self.subTest(backend=b):
                self.check_backend(b.format(tmp=self.tmp))

    def test_migration_hugetlbfs(self):
        huge = HugePages(2 * 128 + 8)
        self.addCleanup(huge.close)
        self.check_backend("memory-backend-file,mem-path=%s,share=on"
                           % huge.mnt, mem=256)


class Daemon(test_daemon.DaemonCase):
    """<memoryBacking> on the virtkestreld road: the domain's kestrel gets
    huge pages, preallocated and locked RAM as the XML asks."""

    def start_daemon(self):
        env = dict(os.environ, KESTREL=os.path.abspath(KESTREL))
        if not ktest.HAVE_KVM:
            env["VIRTKESTRELD_ACCEL"] = "qtest"
        argv = [test_daemon.DAEMON, "--socket", self.sock,
                "--config-dir", os.path.join(self.tmp, "etc"),
                "--state-dir", os.path.join(self.tmp, "run"),
                "--log-dir", os.path.join(self.tmp, "log")]
        self.daemon = self.spawn(argv, env=env)
        self.wait_for(lambda: self.listening(self.sock + "-ro"),
                      "the daemon's sockets")

    def start_with(self, backing):
        xml = test_daemon.domain_xml("mb").replace(
            "<vcpu>", "<memoryBacking>%s</memoryBacking><vcpu>" % backing)
        path = os.path.join(self.tmp, "mb.xml")
        with open(path, "w") as f:
            f.write(xml)
        self.virsh("define", path)
        self.assertIn("<memoryBacking>", self.virsh("dumpxml", "mb"))
        self.virsh("start", "mb")
        with open(os.path.join(self.tmp, "run", "mb.pid")) as f:
            return int(f.read().strip())

    def test_hugepages(self):
        huge = HugePages(40)
        self.addCleanup(huge.close)
        free = meminfo("HugePages_Free")
        pid = self.start_with("<hugepages/><allocation mode='immediate'/>")
        m = guest_mapping(pid, 64 * MiB)
        self.assertEqual(m["KernelPageSize"], 2 * MiB, m)
        self.assertEqual(free - meminfo("HugePages_Free"), 32)
        self.virsh("destroy", "mb")

    def test_locked_immediate_nosharepages(self):
        pid = self.start_with("<nosharepages/><locked/><source "
                              "type='memfd'/><access mode='shared'/>"
                              "<allocation mode='immediate' threads='2'/>")
        self.assertGreaterEqual(proc_status(pid, "VmLck"), 64 * MiB)
        m = guest_mapping(pid, 64 * MiB)
        self.assertIn("memfd:", m["name"])
        self.virsh("destroy", "mb")


if __name__ == "__main__":
    ktest.main()
