# SPDX-License-Identifier: GPL-2.0-or-later
"""virtkestreld against what issue 14's attack run found: stray configs,
files and directories open to everyone, tampered status files, endless
domain logs, bursts of connections.

Domains run under kestrel's qtest accelerator (VIRTKESTRELD_ACCEL=qtest,
virtkestreld(8)), so no /dev/kvm is needed: what is tested is the
daemon's handling of files and processes, not the guest."""

import errno
import os
import signal
import socket
import stat
import subprocess
import time

import ktest
from test_daemon import DaemonCase, DAEMON, domain_xml


class HardDaemonCase(DaemonCase):

    def start_daemon(self):
        env = dict(os.environ, KESTREL=os.path.abspath(ktest.KESTREL),
                   VIRTKESTRELD_ACCEL="qtest")
        argv = [DAEMON, "--socket", self.sock,
                "--config-dir", self.dir("etc"),
                "--state-dir", self.dir("run"),
                "--log-dir", self.dir("log")]
        self.daemon = self.spawn(argv, env=env)
        self.wait_for(lambda: self.listening(self.sock + "-ro"),
                      "the daemon's sockets")

    def dir(self, name):
        return os.path.join(self.tmp, name)

    def restart_daemon(self):
        self.stop_daemon()
        self.start_daemon()

    def mode(self, path):
        return stat.S_IMODE(os.lstat(path).st_mode)


class StrayConfig(HardDaemonCase):

    def test_stray_xml_does_not_shadow_the_real_config(self):
        self.define("tg", mib=64)
        self.stop_daemon()
        # Files whose name is not their domain's: the same domain (bigger,
        # to tell them apart) and another one, in names sorting on both
        # sides of tg.xml.
        strays = {"aaa.xml": domain_xml("tg", mib=96),
                  "zzz.xml": domain_xml("tg", mib=128),
                  "other.xml": domain_xml("notother", mib=64)}
        for f, xml in strays.items():
            with open(os.path.join(self.dir("etc"), f), "w") as fh:
                fh.write(xml)
        self.start_daemon()
        out = self.virsh("dominfo", "tg")
        self.assertRegex(out, r"Max memory:\s+65536 KiB")
        self.assertEqual(self.virsh("list", "--all", "--name").split(),
                         ["tg"])
        for f, name in (("aaa.xml", "tg"), ("zzz.xml", "tg"),
                        ("other.xml", "notother")):
            self.daemon.wait_line(
                r"ignoring '%s': the file name does not match the name of "
                r"the domain it defines, '%s' \(its config is '%s\.xml'\)"
                % (os.path.join(self.dir("etc"), f), name, name), timeout=5)


class FileModes(HardDaemonCase):

    def test_created_files_and_dirs_are_private(self):
        self.define("tg")
        self.virsh("autostart", "tg")
        self.virsh("start", "tg")
        self.wait_state("tg", "running (booted)")
        etc, run, log = self.dir("etc"), self.dir("run"), self.dir("log")
        for d in (etc, run, log, os.path.join(etc, "autostart")):
            self.assertEqual(self.mode(d), 0o700, d)
        for f in (os.path.join(etc, "tg.xml"), os.path.join(run, "tg.xml"),
                  os.path.join(run, "tg.status"), os.path.join(run, "tg.pid"),
                  os.path.join(log, "tg.log")):
            self.assertEqual(self.mode(f), 0o600, f)
        # libvirt's unix_sock_rw_perms and unix_sock_ro_perms
        self.assertEqual(self.mode(self.sock), 0o700)
        self.assertEqual(self.mode(self.sock + "-ro"), 0o777)
        self.assertTrue(stat.S_ISSOCK(os.lstat(self.sock).st_mode))
        self.virsh("destroy", "tg")


class StatusFileTrust(HardDaemonCase):
    """A status file names a process; only a process proven to be the
    domain's VMM (start time, emulator, -name and monitor socket) is
    trusted or signalled."""

    def start_tg(self):
        self.define("tg")
        self.virsh("start", "tg")
        self.wait_state("tg", "running (booted)")
        with open(os.path.join(self.dir("run"), "tg.pid")) as f:
            return int(f.read())

    def sleeper(self):
        # "sleep 1000": the old check looked for the status file's monitor
        # path anywhere in the command line, so qmp=1000 matched it.
        p = subprocess.Popen(["sleep", "1000"])
        self.addCleanup(p.wait)
        self.addCleanup(p.kill)
        return p

    def tamper(self, pid):
        path = os.path.join(self.dir("run"), "tg.status")
        with open(path) as f:
            lines = f.read().splitlines()
        with open("/proc/%d/stat" % pid) as f:
            start = f.read().rsplit(")", 1)[1].split()[19]
        out = []
        for ln in lines:
            if ln.startswith("pid="):
                ln = "pid=%d" % pid
            elif ln.startswith("pid-start-time="):
                ln = "pid-start-time=" + start      # it can be read: no proof
            elif ln.startswith("qmp="):
                ln = "qmp=1000"
            out.append(ln)
        with open(path, "w") as f:
            f.write("\n".join(out) + "\n")

    @staticmethod
    def gone(pid):
        try:
            with open("/proc/%d/stat" % pid) as f:
                return f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            return True

    def test_reconnects_to_its_own_vmm(self):
        vmm = self.start_tg()
        self.restart_daemon()
        self.daemon.wait_line(r"domain 'tg' \(id \d+, pid %d\) reconnected"
                              % vmm)
        self.assertEqual(self.state("tg"), "running (booted)")

    def test_tampered_status_file_kills_nothing(self):
        vmm = self.start_tg()
        sleeper = self.sleeper()
        self.stop_daemon()
        self.tamper(sleeper.pid)
        self.start_daemon()
        self.virsh("list")              # reconnection is over
        time.sleep(0.5)
        self.assertIsNone(sleeper.poll(), "the daemon killed 'sleep 1000'")
        # The real VM is found by kestrel's own pid file, not orphaned.
        self.assertEqual(self.state("tg"), "running (booted)")
        self.daemon.wait_line(r"domain 'tg': process %d of its status file "
                              r"is not its VMM, leaving it alone: process %d "
                              r"runs '\S*sleep', not the emulator"
                              % (sleeper.pid, sleeper.pid))
        self.daemon.wait_line(r"domain 'tg': its VMM is process %d, as its "
                              r"pid file says" % vmm)
        os.kill(vmm, 0)
        self.virsh("destroy", "tg")
        self.assertIsNone(sleeper.poll())

    def test_tampered_status_file_vm_gone(self):
        vmm = self.start_tg()
        sleeper = self.sleeper()
        self.stop_daemon()
        os.kill(vmm, signal.SIGKILL)
        self.wait_for(lambda: self.gone(vmm), "kestrel to die")
        self.tamper(sleeper.pid)
        self.start_daemon()
        self.virsh("list")              # reconnection is over
        time.sleep(0.5)
        self.assertIsNone(sleeper.poll(), "the daemon killed 'sleep 1000'")
        self.assertEqual(self.state("tg"), "shut off (unknown)")
        self.daemon.wait_line(r"process %d of its status file is not its VMM"
                              % sleeper.pid)


class DomainLog(HardDaemonCase):

    def test_full_domain_log_rotates(self):
        self.define("tg")
        os.makedirs(self.dir("log"), exist_ok=True)
        log = os.path.join(self.dir("log"), "tg.log")
        old = b"guest console flood\n" * ((2 << 20) // 20 + 1)
        for i in range(3, -1, -1):
            with open(log + (".%d" % i if i < 3 else ""), "wb") as f:
                f.write(old[:2 << 20])
        self.virsh("start", "tg")
        self.wait_state("tg", "running (booted)")
        with open(log) as f:
            self.assertRegex(f.read(4096), r"^\S+: starting up\n\S*kestrel ")
        for i in range(3):
            self.assertEqual(os.path.getsize(log + ".%d" % i), 2 << 20)
        self.assertFalse(os.path.exists(log + ".3"))
        self.virsh("destroy", "tg")


class ListenBacklog(HardDaemonCase):

    def test_connection_burst_is_queued(self):
        with open("/proc/sys/net/core/somaxconn") as f:
            somaxconn = int(f.read())
        if somaxconn < 600:
            self.skipTest("net.core.somaxconn is %d: the kernel caps any "
                          "backlog below the 500 this test needs" % somaxconn)
        # The daemon stopped: nothing is accepted, everything queues.
        os.kill(self.daemon.proc.pid, signal.SIGSTOP)
        socks, refused = [], 0
        try:
            for _ in range(500):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.setblocking(False)
                try:
                    s.connect(self.sock)
                except OSError as e:
                    self.assertEqual(e.errno, errno.EAGAIN)
                    refused += 1
                socks.append(s)
        finally:
            os.kill(self.daemon.proc.pid, signal.SIGCONT)
            for s in socks:
                s.close()
        self.assertEqual(refused, 0)
        self.assertEqual(self.virsh("list", "--all", "--name").split(), [])


if __name__ == "__main__":
    ktest.main()
