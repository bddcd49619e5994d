# SPDX-License-Identifier: GPL-2.0-or-later
"""<disk> on virtkestreld, with stock virsh and python-libvirt: a domain with
a qcow2 disk made by qemu-img and a read-only raw disk is defined (PCI
addresses assigned and kept in the config), started, listed (domblklist),
measured (domblkinfo against qemu-img's virtual size, domblkstat, domstats
--block), grown (blockresize, seen by qemu-img) and destroyed; what kestrel
has no device for is refused at define, naming it.

On a host without /dev/kvm the daemon runs domains under kestrel's qtest
accelerator: the virtio-blk devices and their block nodes exist and answer
QMP, but no guest runs, so a guest doing I/O is not possible and the
counters of an idle domain stay at zero.  The test itself then plays the
guest's virtio driver over the domain's qtest socket (virtio_qtest.py):
a write, a flush and a read through vda's virtqueue, which domblkstat and
domstats count and the host finds in the image."""

import json
import os
import re
import shutil
import struct
import subprocess

import ktest
import test_daemon
from test_daemon import DaemonCase, DAEMON
from test_daemon_migrate import MigrateCase
from virtio_qtest import VirtioPciDevice

QEMU_IMG = shutil.which("qemu-img")
VIRT_INSTALL = shutil.which("virt-install")
MiB = 1024 * 1024


def image_info(path):
    out = subprocess.run([QEMU_IMG, "info", "-U", "--output", "json", path],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


class DiskCase(DaemonCase):
    QTEST = not ktest.HAVE_KVM

    def setUp(self):
        if not QEMU_IMG:
            ktest.missing_prerequisite("qemu-img is not installed "
                                       "(qemu-utils)")
        super().setUp()

    def start_daemon(self):
        env = dict(os.environ, KESTREL=os.path.abspath(ktest.KESTREL))
        if self.QTEST:
            env["VIRTKESTRELD_ACCEL"] = "qtest"
        argv = [DAEMON, "--socket", self.sock,
                "--config-dir", os.path.join(self.tmp, "etc"),
                "--state-dir", os.path.join(self.tmp, "run"),
                "--log-dir", os.path.join(self.tmp, "log")]
        self.daemon = self.spawn(argv, env=env)
        self.wait_for(lambda: self.listening(self.sock + "-ro"),
                      "the daemon's sockets")

    def images(self):
        self.qcow2 = os.path.join(self.tmp, "root.qcow2")
        self.raw = os.path.join(self.tmp, "data.raw")
        subprocess.run([QEMU_IMG, "create", "-q", "-f", "qcow2", self.qcow2,
                        "64M"], check=True)
        subprocess.run([QEMU_IMG, "create", "-q", "-f", "raw", self.raw,
                        "16M"], check=True)

    def define_xml(self, name, devices):
        xml = test_daemon.domain_xml(name).replace(
            "</domain>", "<devices>%s</devices></domain>" % devices)
        path = os.path.join(self.tmp, name + ".xml")
        with open(path, "w") as f:
            f.write(xml)
        return path

    def disks_xml(self):
        return ("<disk type='file' device='disk'>"
                "<driver name='qemu' type='qcow2' cache='none' "
                "discard='unmap' error_policy='stop'/>"
                "<source file='%s'/><target dev='vda' bus='virtio'/>"
                "<boot order='1'/><serial>KDISK1</serial></disk>"
                "<disk type='file' device='disk'>"
                "<driver name='qemu' type='raw'/>"
                "<source file='%s'/><target dev='vdb' bus='virtio'/>"
                "<readonly/></disk>" % (self.qcow2, self.raw))


class Disks(DiskCase):
    def test_define_start_measure_resize(self):
        self.images()
        self.virsh("define", self.define_xml("dk", self.disks_xml()))

        # the config has the addresses libvirt would assign, no aliases
        conf = self.virsh("dumpxml", "--inactive", "dk")
        self.assertIn("<address type='pci' domain='0x0000' bus='0x00' "
                      "slot='0x03' function='0x0'/>", conf)
        self.assertIn("slot='0x04'", conf)
        self.assertNotIn("<alias", conf)
        self.assertIn("<driver name='qemu' type='raw'/>", conf)
        self.assertIn("<serial>KDISK1</serial>", conf)

        # shut off: domblkinfo reads the images
        info = self.blkinfo("vda")
        self.assertEqual(info["Capacity"],
                         image_info(self.qcow2)["virtual-size"])
        self.assertEqual(self.blkinfo(self.raw)["Capacity"], 16 * MiB)

        self.virsh("start", "dk")
        self.wait_state("dk", "running (booted)")
        live = self.virsh("dumpxml", "dk")
        self.assertRegex(live, r"<target dev='vda' bus='virtio'/>\s*"
                         r"<boot order='1'/>\s*<serial>KDISK1</serial>\s*"
                         r"<alias name='virtio-disk0'/>\s*<address "
                         r"type='pci' domain='0x0000' bus='0x00' "
                         r"slot='0x03' function='0x0'/>")
        self.assertRegex(live, r"<readonly/>\s*<alias name='virtio-disk1'/>")
        # no bootindex: kestrel loads the kernel directly
        log = open(os.path.join(self.tmp, "log", "dk.log")).read()
        self.assertIn('"id":"virtio-disk0"', log)
        self.assertNotIn("bootindex", log)

        # kestrel has the read-only image open read-only, the other
        # read-write
        self.assertEqual(self.open_modes("dk"),
                         {self.qcow2: {os.O_RDWR}, self.raw: {os.O_RDONLY}})

        rows = [ln.split() for ln in
                self.virsh("domblklist", "dk").splitlines()[2:] if ln.strip()]
        self.assertEqual(rows, [["vda", self.qcow2], ["vdb", self.raw]])

        self.assertEqual(self.blkinfo("vda")["Capacity"], 64 * MiB)
        table = self.virsh("domblkinfo", "dk", "--all")
        self.assertRegex(table, r"vda\s+67108864\s+\d+\s+\d+")
        self.assertRegex(table, r"vdb\s+16777216\s+\d+\s+16777216")

        stats = self.blkstat("vda")
        for key in ("rd_req", "rd_bytes", "wr_req", "wr_bytes",
                    "flush_operations", "rd_total_times"):
            self.assertIn(key, stats)
        if self.QTEST:
            # no guest runs under qtest: no I/O
            self.assertEqual(stats["rd_req"], 0)
            self.assertEqual(stats["wr_bytes"], 0)
        total = self.blkstat(None)
        self.assertIn("rd_bytes", total)

        dst = self.domstats("--block")
        self.assertEqual(dst["block.count"], "2")
        self.assertEqual(dst["block.0.name"], "vda")
        self.assertEqual(dst["block.0.path"], self.qcow2)
        self.assertEqual(dst["block.1.name"], "vdb")
        self.assertEqual(dst["block.0.capacity"], str(64 * MiB))
        self.assertEqual(dst["block.1.physical"], str(16 * MiB))
        for key in ("rd.reqs", "rd.bytes", "rd.times", "wr.reqs",
                    "wr.bytes", "wr.times", "fl.reqs", "fl.times",
                    "allocation"):
            self.assertIn("block.0." + key, dst)

        out = self.virsh("blockresize", "dk", "vda", "128M")
        self.assertIn("Block device 'vda' is resized", out)
        self.assertEqual(image_info(self.qcow2)["virtual-size"], 128 * MiB)
        self.assertEqual(self.blkinfo("vda")["Capacity"], 128 * MiB)
        out = self.virsh("blockresize", "dk", "vdb", "32M", ok=False)
        self.assertIn("disk 'vdb' of domain 'dk' is read-only", out)
        out = self.virsh("domblkinfo", "dk", "vdz", ok=False)
        self.assertIn("invalid path 'vdz'", out)

        # python-libvirt: the same through the API
        lv = self.libvirt()
        conn = lv.open(self.uri)
        try:
            dom = conn.lookupByName("dk")
            rd_req, rd_bytes, wr_req, wr_bytes, errs = dom.blockStats("vda")
            self.assertEqual(errs, -1)
            cap, alloc, phys = dom.blockInfo("vda")
            self.assertEqual(cap, 128 * MiB)
            self.assertEqual(phys, os.path.getsize(self.qcow2))
            flags = dom.blockStatsFlags("vdb")
            self.assertIn("wr_operations", flags)
        finally:
            conn.close()

        self.virsh("destroy", "dk")
        self.assertEqual(self.state("dk"), "shut off (destroyed)")
        self.assertEqual(self.blkinfo("vda")["Capacity"], 128 * MiB)
        out = self.virsh("domblkstat", "dk", "vda", ok=False)
        self.assertIn("domain is not running", out)
        check = subprocess.run([QEMU_IMG, "check", self.qcow2],
                               capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

    def test_counters_follow_driven_io(self):
        """No guest runs under qtest, but the test can be the guest's
        driver: virtio_qtest.py drives vda through its virtqueue over the
        domain's qtest socket, and domblkstat and domstats count it."""
        if not self.QTEST:
            ktest.missing_prerequisite("drives the disk over qtest")
        self.images()
        self.virsh("define", self.define_xml("dk", self.disks_xml()))
        self.virsh("start", "dk")
        self.wait_state("dk", "running (booted)")
        # every kestrel the daemon starts is under libvirt's -sandbox
        with open(os.path.join(self.tmp, "run", "dk.pid")) as f:
            pid = int(f.read())
        with open("/proc/%d/status" % pid) as f:
            status = f.read()
        self.assertIn("\nSeccomp:\t2\n", status)
        self.assertIn("\nNoNewPrivs:\t1\n", status)
        qt = ktest.Qtest(os.path.join(self.tmp, "run", "dk.qtest"))
        self.addCleanup(qt.close)
        dev = VirtioPciDevice(qt, 2)            # the first disk: vda
        dev.init(1 << 9)                        # VIRTIO_BLK_F_FLUSH
        vq = dev.queues[0]
        hdr, data, status = 0x300000, 0x310000, 0x400000
        payload = b"KESTREL-DISK-IO!" * 512     # 8 KiB

        def request(rtype, sector, buf=None, read_len=0):
            qt.write(hdr, struct.pack("<IIQ", rtype, 0, sector))
            bufs = [(hdr, 16, False)]
            if buf:
                qt.write(data, buf)
                bufs.append((data, len(buf), False))
            if read_len:
                bufs.append((data, read_len, True))
            bufs.append((status, 1, True))
            vq.post(bufs)
            vq.kick()
            vq.wait_used()
            self.assertEqual(qt.read(status, 1), b"\0")

        request(1, 64, buf=payload)             # write
        request(4, 0)                           # flush
        qt.write(data, b"\0" * len(payload))
        request(0, 64, read_len=len(payload))   # read back
        self.assertEqual(qt.read(data, len(payload)), payload)

        stats = self.blkstat("vda")
        self.assertEqual((stats["wr_req"], stats["wr_bytes"]),
                         (1, len(payload)))
        self.assertEqual((stats["rd_req"], stats["rd_bytes"]),
                         (1, len(payload)))
        self.assertEqual(stats["flush_operations"], 1)
        self.assertEqual(self.blkstat("vdb")["rd_req"], 0)
        dst = self.domstats("--block")
        self.assertEqual(dst["block.0.wr.bytes"], str(len(payload)))
        self.assertEqual(dst["block.0.fl.reqs"], "1")
        self.assertEqual(dst["block.1.wr.reqs"], "0")

        self.virsh("destroy", "dk")
        # on the host: the written data in the image, which checks clean
        flat = os.path.join(self.tmp, "flat.raw")
        subprocess.run([QEMU_IMG, "convert", "-f", "qcow2", "-O", "raw",
                        self.qcow2, flat], check=True)
        with open(flat, "rb") as f:
            f.seek(64 * 512)
            self.assertEqual(f.read(len(payload)), payload)
        check = subprocess.run([QEMU_IMG, "check", self.qcow2],
                               capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

    def test_domxml_to_native(self):
        self.images()
        path = self.define_xml("dn", self.disks_xml() +
                               "<interface type='ethernet'><mac "
                               "address='52:54:00:00:00:01'/></interface>")
        out = self.virsh("domxml-to-native", "qemu-argv", path)
        self.assertIn("-netdev tap,fd=3,id=hostnet0,vnet_hdr=on", out)
        self.assertIn('"node-name":"libvirt-1-format","read-only":false',
                      out)
        self.assertIn('"drive":"libvirt-2-format","id":"virtio-disk1"', out)

    def test_attach_refused(self):
        self.images()
        self.virsh("define", self.define_xml("da", ""))
        dev = os.path.join(self.tmp, "dev.xml")
        with open(dev, "w") as f:
            f.write("<disk type='file' device='disk'><source file='%s'/>"
                    "<target dev='vdc' bus='virtio'/></disk>" % self.raw)
        out = self.virsh("attach-device", "da", dev, "--config", ok=False)
        self.assertIn("virDomainAttachDeviceFlags is not supported by the "
                      "kestrel driver", out)

    def open_modes(self, name):
        with open(os.path.join(self.tmp, "run", name + ".pid")) as f:
            pid = int(f.read())
        modes = {}
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
                with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                    flags = int(f.read().split("flags:")[1].split()[0], 8)
            except (OSError, IndexError):
                continue
            if target in (self.qcow2, self.raw):
                modes.setdefault(target, set()).add(flags & os.O_ACCMODE)
        return modes

    def blkinfo(self, disk):
        out = self.virsh("domblkinfo", "dk", disk)
        return dict((k.strip(), int(v)) for k, v in
                    (ln.split(":", 1) for ln in out.splitlines() if ":" in ln))

    def blkstat(self, disk):
        out = self.virsh("domblkstat", "dk", *([disk] if disk else []))
        res = {}
        for ln in out.splitlines():
            f = ln.split()
            if len(f) >= 2:             # "vda rd_req 0", or "rd_req 0"
                res[f[-2]] = int(f[-1])
        return res

    def domstats(self, *args):
        out = self.virsh("domstats", "dk", *args)
        return dict(ln.strip().split("=", 1) for ln in out.splitlines()
                    if "=" in ln)


class Refused(DiskCase):
    def refused(self, devices):
        return self.virsh("define", self.define_xml("dr", devices), ok=False)

    def test_cdrom(self):
        out = self.refused("<disk type='file' device='cdrom'><source "
                           "file='/x.iso'/><target dev='hdc' bus='ide'/>"
                           "</disk>")
        self.assertIn("value 'cdrom' of attribute 'device' of element "
                      "'disk' is not supported by the kestrel driver; "
                      "write device='disk': kestrel has only virtio disks",
                      out)
        self.assertIn("value 'ide' of attribute 'bus'", out)

    def test_sata(self):
        out = self.refused("<disk type='file' device='disk'><source "
                           "file='/x.img'/><target dev='sda' bus='sata'/>"
                           "</disk>")
        self.assertIn("kestrel has only virtio disks", out)

    def test_no_source(self):
        out = self.refused("<disk type='file' device='disk'><target "
                           "dev='vda' bus='virtio'/></disk>")
        self.assertIn("disk 'vda' has no source", out)

    def test_missing_image_at_start(self):
        missing = os.path.join(self.tmp, "gone.qcow2")
        self.virsh("define", self.define_xml(
            "dm", "<disk type='file'><driver name='qemu' type='qcow2'/>"
            "<source file='%s'/><target dev='vda' bus='virtio'/></disk>"
            % missing))
        out = self.virsh("start", "dm", ok=False)
        self.assertIn(missing, out)
        self.assertTrue(self.state("dm").startswith("shut off"))

    def test_fifo_does_not_hang(self):
        fifo = os.path.join(self.tmp, "fifo")
        os.mkfifo(fifo)
        self.virsh("define", self.define_xml(
            "df", "<disk type='file'><source file='%s'/><target dev='vda' "
            "bus='virtio'/></disk>" % fifo))
        out = self.virsh("domblkinfo", "df", "vda", ok=False)
        self.assertIn("is neither a regular file nor a block device", out)
        self.assertIn("block.count=1", self.virsh("domstats", "df",
                                                  "--block"))

    def test_two_at_once(self):
        out = self.refused("<disk type='file' device='floppy'><source "
                           "file='/f.img'/><target dev='fda' bus='fdc'/>"
                           "</disk><interface type='user'/>")
        self.assertIn("'floppy'", out)
        self.assertIn("value 'user' of attribute 'type' of element "
                      "'interface'", out)


class MigrateDisks(MigrateCase):
    """Disks move over shared storage: the two daemons here share the
    host's files, which is what shared storage looks like to them."""

    def domain(self, devices):
        path = os.path.join(self.tmp, "mg.xml")
        with open(path, "w") as f:
            f.write(test_daemon.domain_xml("tg").replace(
                "</domain>", "<devices>%s</devices></domain>" % devices))
        self.virsh("create", path)
        self.wait_state("tg", "running (booted)")

    images = DiskCase.images

    def migrate(self, *flags, ok=True):
        return self.virsh("migrate", "--live", *flags, "tg", self.uri_b,
                          ok=ok)

    def test_disks_move(self):
        """A writable qcow2 (cache='none') and a read-only raw disk move;
        the image checks clean after (the data itself across a move is
        test_migration_devices', at kestrel's level)."""
        self.images()
        self.domain("<disk type='file'><driver name='qemu' type='qcow2' "
                    "cache='none'/><source file='%s'/><target dev='vda' "
                    "bus='virtio'/></disk><disk type='file'><driver "
                    "name='qemu' type='raw'/><source file='%s'/><target "
                    "dev='vdb' bus='virtio'/><readonly/></disk>"
                    % (self.qcow2, self.raw))
        self.migrate()
        self.assertEqual(self.state_b(), "running (migrated)")
        out = self.virsh("domblklist", "tg", uri=self.uri_b)
        self.assertIn(self.raw, out)
        self.assertIn(self.qcow2, out)
        self.assertNotIn("tg", self.names(self.uri))
        self.virsh("destroy", "tg", uri=self.uri_b)
        check = subprocess.run([QEMU_IMG, "check", self.qcow2],
                               capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

    def test_refused(self):
        self.images()
        self.domain("<disk type='file'><driver name='qemu' type='qcow2' "
                    "cache='none'/><source file='%s'/><target dev='vda' "
                    "bus='virtio'/></disk><disk type='file'><source "
                    "file='%s'/><target dev='vdb' bus='virtio'/></disk>"
                    % (self.qcow2, self.raw))
        out = self.migrate("--copy-storage-all", ok=False)
        self.assertIn("--copy-storage-all", out)
        self.assertIn("disks move over shared storage", out)
        out = self.migrate(ok=False)
        self.assertIn("Migration may lead to data corruption if disks use "
                      "cache other than none (disk 'vdb')", out)
        self.assertEqual(self.state("tg"), "running (booted)")
        self.assertEqual(self.names(self.uri_b), [])
        self.migrate("--unsafe")
        self.assertEqual(self.state_b(), "running (migrated)")


class VirtInstall(DiskCase):
    def test_virt_install_disk_xml(self):
        """The <disk> virt-install writes for an existing qcow2 image.

        virt-install asks its connection's storage driver about the path,
        which virtkestreld does not serve yet (issue 12: forwarding to the
        host's libvirtd): against kestrel:// it stops at "Device type
        'disk' requires a path".  So the <disk> element is taken from what
        it prints against libvirt's test driver, and goes unchanged into
        a kestrel domain."""
        if not VIRT_INSTALL:
            ktest.missing_prerequisite("virt-install is not installed "
                                       "(virtinst)")
        self.images()
        status, out = ktest.run(
            [VIRT_INSTALL, "--connect", "test:///default", "--print-xml",
             "--name", "vi-disk", "--memory", "64", "--osinfo", "linux2022",
             "--import", "--boot", "kernel=%s,kernel_args=tg.mode=idle"
             % os.path.abspath(ktest.TESTGUEST),
             "--disk", "path=%s,bus=virtio,driver.name=qemu,"
             "driver.type=qcow2,cache=none" % self.qcow2,
             "--network", "none", "--graphics", "none"],
            timeout=120, env=dict(os.environ, HOME=self.tmp))
        self.assertEqual(status, 0, out)
        disk = re.search(r"<disk .*?</disk>", out, re.S).group(0)
        self.assertIn('type="qcow2"', disk)
        self.virsh("define", self.define_xml("vi-disk", disk))
        conf = self.virsh("dumpxml", "--inactive", "vi-disk")
        self.assertRegex(conf, r"<driver name='qemu' type='qcow2' "
                         r"cache='none'/>\s*<source file='%s'/>\s*"
                         r"<target dev='vda' bus='virtio'/>\s*<address "
                         r"type='pci' domain='0x0000' bus='0x00' "
                         r"slot='0x03' function='0x0'/>"
                         % re.escape(self.qcow2))
        self.virsh("start", "vi-disk")
        self.wait_state("vi-disk", "running (booted)")
        self.assertIn("vda", self.virsh("domblklist", "vi-disk"))
        self.virsh("destroy", "vi-disk")


if __name__ == "__main__":
    ktest.main()
