#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Confinement: -sandbox (QEMU's seccomp groups), -runas and -chroot.

Every kestrel here runs under -accel qtest (the whole machine, no vCPU),
so the tests need no /dev/kvm. Under libvirt's sandbox
(on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny)
a VM serves QMP, does virtio-blk I/O on both paths (raw: io_uring; qcow2:
the I/O threads), inflates its balloon and migrates over tcp; what the
filter forbids is really stopped: exec: migration is refused with a clear
error and the VM runs on, and a call of each group (made on purpose by
the qtest protocol's kestrel-only "sandbox-probe") kills kestrel with
SIGSYS after a line naming the call and the option, or, for resource
control, fails with EPERM as in QEMU.
"""

import os
import signal
import socket
import struct
import time

import ktest
import test_virtio_net
from ktest import KESTREL, Qmp, Qtest
from test_virtio_blk import (BlkCase, T_FLUSH, T_IN, T_OUT, S_OK, pattern,
                             qemu_img)
from virtio_qtest import VirtioPciDevice

LIBVIRT = ("on,obsolete=deny,elevateprivileges=deny,spawn=deny,"
           "resourcecontrol=deny")
BALLOON_ID = 5
PAGE = 4096
MiB = 1 << 20


def proc_status(pid, task=None):
    path = "/proc/%d/status" % pid if task is None else \
        "/proc/%d/task/%s/status" % (pid, task)
    out = {}
    with open(path) as f:
        for ln in f:
            key, _, val = ln.partition(":")
            out[key] = val.strip()
    return out


def nobody():
    import pwd
    return pwd.getpwnam("nobody")


class SandboxCase(ktest.TestCase):
    def vm(self, name, sandbox=LIBVIRT, extra=(), mem=128, incoming=None):
        qmp = os.path.join(self.tmp, name + ".qmp")
        qt = os.path.join(self.tmp, name + ".qtest")
        argv = [KESTREL, "-nodefaults", "-display", "none", "-m", str(mem),
                "-serial", "null", "-accel", "qtest",
                "-qtest", "unix:%s,server=on,wait=off" % qt,
                "-qmp", "unix:%s,server=on,wait=off" % qmp]
        if sandbox:
            argv += ["-sandbox", sandbox]
        if incoming:
            argv += ["-incoming", incoming]
        argv += list(extra)
        p = self.spawn(argv)
        p.qmp = Qmp(qmp)
        p.qt = Qtest(qt)
        p.pid = p.proc.pid
        return p

    def running(self, p):
        self.assertTrue(p.alive(), p.text())
        self.assertIn(p.qmp.cmd("query-status")["status"],
                      ("running", "inmigrate"))

    def port(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        return port

    def wait_migrate(self, q, want, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            info = q.cmd("query-migrate")
            if info.get("status") in want:
                return info
            self.assertLess(time.monotonic(), deadline, info)
            time.sleep(0.05)

    def killed_by(self, p, line, message):
        """Send a qtest @line that must kill kestrel with SIGSYS, saying
        @message."""
        p.qt.file.write(line.encode() + b"\n")
        p.qt.file.flush()
        rc = p.wait_exit(20)
        self.assertEqual(rc, -signal.SIGSYS, p.text())
        self.assertIn(message, p.text())


class Filter(SandboxCase):
    def test_filter_on_every_thread_with_no_new_privs(self):
        p = self.vm("a")
        self.running(p)
        st = proc_status(p.pid)
        self.assertEqual(st["Seccomp"], "2")
        self.assertEqual(st["Seccomp_filters"], "1")
        self.assertEqual(st["NoNewPrivs"], "1")
        # TSYNC: threads started before the filter have it too
        tasks = os.listdir("/proc/%d/task" % p.pid)
        for t in tasks:
            self.assertEqual(proc_status(p.pid, t)["Seccomp"], "2", t)

    def test_sandbox_off_installs_nothing(self):
        p = self.vm("a", sandbox="off")
        self.running(p)
        self.assertEqual(proc_status(p.pid)["Seccomp"], "0")
        # the same calls the filter forbids, unhindered without it
        self.assertEqual(p.qt.cmd("sandbox-probe elevateprivileges"), "0")
        self.assertEqual(p.qt.cmd("sandbox-probe spawn thread"), "0")
        self.assertEqual(p.qt.cmd("sandbox-probe resourcecontrol"), "0")
        self.running(p)

    def test_each_group_is_stopped(self):
        cases = (
            ("sandbox-probe elevateprivileges",
             "kestrel: -sandbox: system call setuid (105) is forbidden by "
             "-sandbox elevateprivileges=deny; terminating with SIGSYS"),
            ("sandbox-probe spawn thread",
             "system call clone (56) is forbidden by -sandbox spawn=deny"),
            ("sandbox-probe obsolete thread",
             "system call ustat (136) is forbidden by -sandbox "
             "obsolete=deny"),
            ("sandbox-probe on",
             "system call syslog (103) is forbidden by -sandbox on;"),
        )
        for i, (line, message) in enumerate(cases):
            with self.subTest(probe=line):
                p = self.vm("g%d" % i)
                self.running(p)
                self.killed_by(p, line, message)

    def test_resource_control_fails_with_eperm_and_vm_runs_on(self):
        p = self.vm("a")
        for line in ("sandbox-probe resourcecontrol",
                     "sandbox-probe resourcecontrol thread"):
            self.assertEqual(p.qt.cmd(line), "Operation not permitted")
        self.running(p)

    def test_groups_follow_the_options(self):
        # -sandbox on alone: obsolete denied (QEMU's default), the rest
        # allowed
        p = self.vm("a", sandbox="on")
        self.assertEqual(p.qt.cmd("sandbox-probe elevateprivileges"), "0")
        self.assertEqual(p.qt.cmd("sandbox-probe spawn"), "0")
        self.assertEqual(p.qt.cmd("sandbox-probe resourcecontrol"), "0")
        self.running(p)
        self.killed_by(p, "sandbox-probe obsolete", "system call ustat")
        p = self.vm("b", sandbox="on,obsolete=allow,"
                    "elevateprivileges=children")
        self.assertNotEqual(p.qt.cmd("sandbox-probe obsolete"), "0")
        self.assertEqual(proc_status(p.pid)["NoNewPrivs"], "1")
        self.killed_by(p, "sandbox-probe elevateprivileges",
                       "forbidden by -sandbox elevateprivileges=deny")


class Devices(SandboxCase):
    def test_balloon(self):
        p = self.vm("a", mem=256, extra=["-device",
                                         "virtio-balloon-pci,id=b0"])
        start, size = 64 * MiB, 16 * MiB
        for off in range(0, 2 * size, MiB):
            p.qt.cmd("memset 0x%x 0x%x 0x5a" % (start + off, MiB))
        self.assertEqual(p.qmp.cmd("balloon", {"value": 192 * MiB}), {})
        dev = VirtioPciDevice(p.qt, BALLOON_ID)
        dev.init(0, nqueues=2, qbase=0x100000)
        self.assertEqual(dev.config(0, 4), 16384)   # num_pages: 64 MiB
        vq = dev.queues[0]
        buf = 0x180000
        first = start // PAGE
        for pfn in range(first, first + size // PAGE, 512):
            p.qt.write(buf, struct.pack("<512I", *range(pfn, pfn + 512)))
            vq.post([(buf, 512 * 4, False)])
            vq.kick()
            vq.wait_used()
        # inflated pages went back to the host (read as zeros)
        self.assertEqual(p.qt.read(start, 16), bytes(16))
        self.assertEqual(p.qt.read(start + size, 16), b"\x5a" * 16)
        self.assertIn("actual", p.qmp.cmd("query-balloon"))
        self.running(p)
        self.assertEqual(proc_status(p.pid)["Seccomp"], "2")


class Disks(BlkCase):
    """test_virtio_blk's driver, on a kestrel under libvirt's sandbox."""

    def io(self):
        data = pattern(100, 64, 3)
        self.assertEqual(self.request(T_OUT, 100, data=data)[0], S_OK)
        self.assertEqual(self.request(T_FLUSH, 0)[0], S_OK)
        st, _, got = self.request(T_IN, 100, read_len=len(data))
        self.assertEqual((st, got), (S_OK, data))
        self.alive()
        self.assertEqual(proc_status(self.proc.proc.pid)["Seccomp"], "2")
        return data

    def test_raw_io_uring(self):
        img = os.path.join(self.tmp, "d.raw")
        self.assertEqual(qemu_img("create", "-f", "raw", img,
                                  "8M").returncode, 0)
        self.start("-drive", "file=%s,if=virtio,format=raw" % img,
                   "-sandbox", LIBVIRT)
        data = self.io()
        with open(img, "rb") as f:
            f.seek(100 * 512)
            self.assertEqual(f.read(len(data)), data)

    def test_qcow2_io_threads(self):
        img = os.path.join(self.tmp, "d.qcow2")
        self.assertEqual(qemu_img("create", "-f", "qcow2", img,
                                  "8M").returncode, 0)
        self.start("-drive", "file=%s,if=virtio,format=qcow2" % img,
                   "-sandbox", LIBVIRT)
        self.io()
        self.qmp.cmd("quit")
        self.proc.wait_exit(20)
        r = qemu_img("check", img)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class Net(test_virtio_net.NetCase):
    """test_virtio_net's tap cases, on a kestrel under libvirt's sandbox
    that also runs as nobody: the tap was opened before the drop."""

    def in_ns(self, *argv):
        if argv and argv[0] == KESTREL:
            argv += ("-sandbox", LIBVIRT, "-runas", "nobody")
        return super().in_ns(*argv)

    def test_tap_both_ways(self):
        test_virtio_net.TestTap.test_host_to_guest_and_back(self)
        st = proc_status(self.proc.proc.pid)
        self.assertEqual(st["Seccomp"], "2")
        self.assertEqual(st["Uid"].split()[0], str(nobody().pw_uid))

    def test_announce_self(self):
        test_virtio_net.TestTap.test_announce_self_sends_rarp(self)


class Migration(SandboxCase):
    def fill(self, qt, pages, gen):
        for i in pages:
            qt.cmd("memset 0x%x %d %d" % (0x100000 + i * PAGE, PAGE, gen))

    def test_tcp_between_sandboxed_kestrels(self):
        port = self.port()
        src = self.vm("src")
        dst = self.vm("dst", incoming="tcp:127.0.0.1:%d" % port)
        pages = range(0, 4096, 7)
        self.fill(src.qt, pages, 0x42)
        src.qmp.cmd("migrate-set-capabilities", {"capabilities": [
            {"capability": "multifd", "state": True}]})
        dst.qmp.cmd("migrate-set-capabilities", {"capabilities": [
            {"capability": "multifd", "state": True}]})
        src.qmp.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % port})
        info = self.wait_migrate(src.qmp, ("completed", "failed"))
        self.assertEqual(info["status"], "completed", info)
        self.wait_migrate(dst.qmp, ("completed",))
        for i in pages[:50]:
            self.assertEqual(dst.qt.read(0x100000 + i * PAGE, 8),
                             b"\x42" * 8)
        for p in (src, dst):
            self.assertTrue(p.alive(), p.text())
            self.assertEqual(proc_status(p.pid)["Seccomp"], "2")

    def test_exec_refused_under_spawn_deny_and_vm_runs_on(self):
        p = self.vm("a")
        out = os.path.join(self.tmp, "saved")
        r = p.qmp.execute("migrate", {"uri": "exec:cat > %s" % out})
        self.assertEqual(r["error"], {
            "class": "GenericError",
            "desc": "exec: migration needs to start a process, which "
                    "-sandbox spawn=deny forbids"})
        self.assertFalse(os.path.exists(out))
        self.running(p)
        self.assertNotEqual(p.qmp.cmd("query-migrate").get("status"),
                            "failed")
        d = self.vm("d", incoming="defer")
        r = d.qmp.execute("migrate-incoming", {"uri": "exec:cat %s" % out})
        self.assertEqual(r["error"]["class"], "GenericError")
        self.assertIn("-sandbox spawn=deny forbids", r["error"]["desc"])
        self.running(d)

    def test_exec_works_when_spawn_is_allowed(self):
        p = self.vm("a", sandbox="on,obsolete=deny,elevateprivileges=deny,"
                    "resourcecontrol=deny")
        out = os.path.join(self.tmp, "saved")
        p.qmp.cmd("stop")
        p.qmp.cmd("migrate", {"uri": "exec:cat > %s" % out})
        info = self.wait_migrate(p.qmp, ("completed", "failed"))
        self.assertEqual(info["status"], "completed", info)
        self.assertGreater(os.path.getsize(out), 0)
        self.assertTrue(p.alive(), p.text())


@ktest.unittest.skipUnless(os.geteuid() == 0, "-runas and -chroot need root")
class User(SandboxCase):
    def test_runas_nobody_keeps_no_capability(self):
        pw = nobody()
        img = os.path.join(self.tmp, "d.raw")
        with open(img, "wb") as f:
            f.truncate(MiB)
        os.chmod(img, 0o600)            # root's: opened before the drop
        p = self.vm("a", extra=["-runas", "nobody", "-drive",
                                "file=%s,if=virtio,format=raw" % img])
        self.running(p)
        st = proc_status(p.pid)
        self.assertEqual(st["Uid"].split(), [str(pw.pw_uid)] * 4)
        self.assertEqual(st["Gid"].split(), [str(pw.pw_gid)] * 4)
        for cap in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
            self.assertEqual(int(st[cap], 16), 0, cap)
        self.assertEqual(st["Seccomp"], "2")
        for t in os.listdir("/proc/%d/task" % p.pid):
            self.assertEqual(proc_status(p.pid, t)["Uid"].split()[0],
                             str(pw.pw_uid), t)
        # the disk opened as root still answers
        blk = p.qmp.cmd("query-block")
        self.assertEqual(blk[0]["inserted"]["file"], img)

    def test_chroot_with_sockets_made_before(self):
        root = os.path.join(self.tmp, "root")
        os.mkdir(root)
        p = self.vm("a", extra=["-chroot", root])
        self.running(p)
        self.assertEqual(os.readlink("/proc/%d/root" % p.pid), root)
        self.assertEqual(p.qt.cmd("sandbox-probe resourcecontrol"),
                         "Operation not permitted")
        # paths are now inside the chroot
        p.qmp.cmd("stop")
        p.qmp.cmd("migrate", {"uri": "file:/saved"})
        info = self.wait_migrate(p.qmp, ("completed", "failed"))
        self.assertEqual(info["status"], "completed", info)
        self.assertGreater(os.path.getsize(os.path.join(root, "saved")), 0)

    def test_runtime_errors_name_user_and_dir(self):
        rc, out = ktest.run([KESTREL, "-nodefaults", "-display", "none",
                             "-machine", "none", "-runas", "no-such-user"])
        self.assertEqual(rc, 1)
        self.assertIn('-runas no-such-user: User "no-such-user" doesn\'t '
                      'exist', out)
        rc, out = ktest.run([KESTREL, "-nodefaults", "-display", "none",
                             "-machine", "none", "-chroot", "/no/such"])
        self.assertEqual(rc, 1)
        self.assertIn("-chroot /no/such: cannot chroot to '/no/such': No "
                      "such file or directory", out)


if __name__ == "__main__":
    ktest.main()
