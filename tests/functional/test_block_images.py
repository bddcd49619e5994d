#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Images nobody here wrote by hand read correctly through kestrel's
virtio-blk: a qcow2 holding a real ext4 filesystem made by libguestfs
(virt-make-fs, its appliance under TCG with Debian's own kernel), the same
image converted with `qemu-img convert -c` (compressed clusters), and a
backing chain on top of that with a few clusters of its own (written by
qemu-io). A virtio driver in the test (virtio_qtest.py, over kestrel's
qtest socket) reads every 64 KiB block through the device; each block's
checksum must equal the host's (qemu-img's own reading of the image)."""

import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
import unittest

import ktest
from ktest import KESTREL, SRCDIR, Qmp, Qtest
from virtio_qtest import VirtioPciDevice

CACHE = "/var/cache/kestrel/linux"
HDR, DATA, STATUS = 0x300000, 0x310000, 0x400000
CHUNK = 65536


def usable():
    if os.geteuid() != 0:
        return "needs root (libguestfs appliance, /lib/modules)"
    for tool in ("virt-make-fs", "supermin", "depmod", "qemu-img",
                 "qemu-io"):
        if not shutil.which(tool, path=os.environ.get("PATH", "") +
                            ":/usr/sbin:/sbin"):
            return "%s is not installed (libguestfs-tools, kmod, " \
                   "qemu-utils)" % tool
    return None


def kernel_for_supermin():
    """Debian's kernel (tests/linux/get-kernel.sh) and its modules,
    extracted from the same package once, for the libguestfs appliance."""
    rc, out = ktest.run(["bash", os.path.join(SRCDIR, "tests", "linux",
                                              "get-kernel.sh"), CACHE],
                        timeout=600)
    if rc:
        raise AssertionError("get-kernel.sh: " + out)
    vmlinux = out.strip().splitlines()[-1]
    ver = os.path.basename(vmlinux)[len("vmlinux-"):]
    vmlinuz = os.path.join(CACHE, "vmlinuz-" + ver)
    root = os.path.join(CACHE, "modules-" + ver)
    moddir = os.path.join(root, "lib", "modules", ver)
    if not os.path.exists(os.path.join(moddir, "modules.dep")):
        dl = os.path.join(CACHE, ".mod-dl")
        shutil.rmtree(dl, ignore_errors=True)
        os.makedirs(dl)
        if shutil.which("chown"):
            ktest.run(["chown", "_apt", dl])
        rc, out = ktest.run(["sh", "-c", "cd %s && apt-get download -q "
                             "linux-image-%s" % (dl, ver)], timeout=600)
        if rc:
            raise AssertionError("apt-get download: " + out)
        deb = [f for f in os.listdir(dl) if f.endswith(".deb")][0]
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run(["dpkg-deb", "-x", os.path.join(dl, deb), root],
                       check=True)
        shutil.rmtree(dl, ignore_errors=True)
        subprocess.run(["depmod", "-b", root, ver], check=True)
    # supermin looks at the host's /lib/modules even when told where the
    # modules are; an empty one is enough.
    os.makedirs("/lib/modules", exist_ok=True)
    return vmlinuz, moddir, ver


def host_blocks(img, fmt):
    """sha256 of every 64 KiB block, as qemu-img reads the image."""
    raw = img + ".raw"
    subprocess.run(["qemu-img", "convert", "-f", fmt, "-O", "raw", img,
                    raw], check=True)
    out = []
    with open(raw, "rb") as f:
        while True:
            b = f.read(CHUNK)
            if not b:
                break
            out.append(hashlib.sha256(b).hexdigest())
    os.unlink(raw)
    return out


@unittest.skipIf(usable(), usable())
class TestRealImages(ktest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="kestrel-images-")
        src = os.path.join(cls.dir, "content")
        os.makedirs(os.path.join(src, "sub"))
        for i in range(24):
            with open(os.path.join(src, "sub" if i % 3 else "",
                                   "f%02d.bin" % i), "wb") as f:
                f.write(os.urandom(1000 + i * 9973))
        with open(os.path.join(src, "text.txt"), "w") as f:
            f.write("kestrel " * 50000)     # compresses well
        vmlinuz, moddir, ver = kernel_for_supermin()
        env = dict(os.environ, LIBGUESTFS_BACKEND="direct",
                   LIBGUESTFS_BACKEND_SETTINGS="force_tcg",
                   SUPERMIN_KERNEL=vmlinuz, SUPERMIN_MODULES=moddir,
                   SUPERMIN_KERNEL_VERSION=ver)
        cls.fs = os.path.join(cls.dir, "fs.qcow2")
        r = subprocess.run(["virt-make-fs", "--format=qcow2", "--type=ext4",
                            "--size=24M", src, cls.fs], env=env,
                           capture_output=True, text=True, timeout=900)
        if r.returncode:
            shutil.rmtree(cls.dir, ignore_errors=True)
            raise AssertionError("virt-make-fs: " + r.stdout + r.stderr)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def read_all(self, img, fmt):
        qmp = os.path.join(self.tmp, "k.qmp")
        qt = os.path.join(self.tmp, "k.qtest")
        p = self.spawn([KESTREL, "-nodefaults", "-display", "none", "-m",
                        "64", "-accel", "qtest",
                        "-qtest", "unix:%s,server=on,wait=off" % qt,
                        "-qmp", "unix:%s,server=on,wait=off" % qmp,
                        "-drive", "file=%s,if=virtio,format=%s,readonly=on"
                        % (img, fmt)])
        q, t = Qmp(qmp), Qtest(qt)
        dev = VirtioPciDevice(t, 2)
        dev.init(0)
        vq = dev.queues[0]
        sectors = dev.config(0, 8)
        out = []
        for sector in range(0, sectors, CHUNK // 512):
            n = min(CHUNK, (sectors - sector) * 512)
            t.write(HDR, struct.pack("<IIQ", 0, 0, sector))
            vq.post([(HDR, 16, False), (DATA, n, True), (STATUS, 1, True)])
            vq.kick()
            vq.wait_used()
            self.assertEqual(t.read(STATUS, 1), b"\0", "sector %d" % sector)
            out.append(hashlib.sha256(t.read(DATA, n)).hexdigest())
        q.cmd("quit")
        p.proc.wait(10)
        return out

    def assert_same(self, img, fmt):
        host = host_blocks(img, fmt)
        ours = self.read_all(img, fmt)
        self.assertEqual(len(ours), len(host))
        bad = [i for i, (a, b) in enumerate(zip(ours, host)) if a != b]
        self.assertEqual(bad, [], "64 KiB blocks that differ")

    def test_libguestfs_qcow2(self):
        self.assert_same(self.fs, "qcow2")

    def test_compressed(self):
        comp = os.path.join(self.tmp, "c.qcow2")
        subprocess.run(["qemu-img", "convert", "-c", "-O", "qcow2", self.fs,
                        comp], check=True)
        info = subprocess.run(["qemu-img", "info", comp],
                              capture_output=True, text=True).stdout
        self.assertLess(os.path.getsize(comp), os.path.getsize(self.fs),
                        info)
        self.assert_same(comp, "qcow2")

    def test_backing_chain(self):
        comp = os.path.join(self.tmp, "c.qcow2")
        top = os.path.join(self.tmp, "top.qcow2")
        subprocess.run(["qemu-img", "convert", "-c", "-O", "qcow2", self.fs,
                        comp], check=True)
        subprocess.run(["qemu-img", "create", "-f", "qcow2", "-b", comp,
                        "-F", "qcow2", top], check=True, capture_output=True)
        for off in ("0", "1M", "5000k", "20M"):
            r = subprocess.run(["qemu-io", "-f", "qcow2", "-c",
                                "write -P 0x5c %s 12k" % off, top],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assert_same(top, "qcow2")


if __name__ == "__main__":
    ktest.main()
