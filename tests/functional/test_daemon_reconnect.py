# SPDX-License-Identifier: GPL-2.0-or-later
"""virtkestreld restarted (kill -9) while domains run: until it has
reconnected to a domain's kestrel, the domain is busy, not shut off.
Clients that come meanwhile must never see it shut off, and `virsh start`
must not launch a second kestrel for a guest that already has one (issue
14's attack run: two VMMs, one guest).  The kestrel is stopped (SIGSTOP)
across the restart so that its QMP greeting, and so the reconnection,
waits as long as the test wants.

On a host without /dev/kvm the daemon runs with VIRTKESTRELD_ACCEL=qtest
(virtkestreld(8)): the domains are real kestrel processes without vCPUs."""

import os
import signal
import subprocess
import threading
import time

import ktest
from test_daemon import DAEMON, VIRSH, DaemonCase


class Reconnect(DaemonCase):
    def start_daemon(self):
        env = dict(os.environ, KESTREL=os.path.abspath(ktest.KESTREL))
        if not ktest.HAVE_KVM:
            env["VIRTKESTRELD_ACCEL"] = "qtest"
        argv = [DAEMON, "--socket", self.sock,
                "--config-dir", os.path.join(self.tmp, "etc"),
                "--state-dir", os.path.join(self.tmp, "run"),
                "--log-dir", os.path.join(self.tmp, "log")]
        self.daemon = self.spawn(argv, env=env)
        self.wait_for(lambda: self.listening(self.sock + "-ro"),
                      "the daemon's sockets")

    def cleanup_domains(self):
        # Also the kestrels no pid file names (a second one for a domain).
        super().cleanup_domains()
        for pid in self.vmm_pids():
            try:
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def vmm_pids(self, name=None):
        """kestrel processes of this test (their command line names our
        temporary directory), of domain @name if given."""
        pids = []
        mine = self.tmp.encode()
        guest = ("guest=%s," % name).encode() if name else b""
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    cmd = f.read()
                with open("/proc/%s/stat" % pid) as f:
                    zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
            except OSError:
                continue
            argv0 = os.path.basename(cmd.split(b"\0")[0])
            if mine in cmd and guest in cmd and argv0 == b"kestrel" and \
                    not zombie:
                pids.append(int(pid))
        return sorted(pids)

    @staticmethod
    def proc_state(pid):
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]

    def virsh_nocheck(self, *args):
        p = subprocess.run([VIRSH, "-c", self.uri] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60)
        return p.returncode, p.stdout.decode(errors="replace")

    def restart_with_vmms_stopped(self, names):
        """kill -9 the daemon, SIGSTOP the VMMs of @names, start the daemon
        again.  Returns {name: pid}; SIGCONT is the caller's."""
        vmms = {}
        for name in names:
            with open(os.path.join(self.tmp, "run", name + ".pid")) as f:
                vmms[name] = int(f.read())
            self.assertEqual(self.vmm_pids(name), [vmms[name]])
        self.stop_daemon(signal.SIGKILL)
        for pid in vmms.values():
            os.kill(pid, signal.SIGSTOP)
            self.addCleanup(os.kill, pid, signal.SIGCONT)
            self.wait_for(lambda: self.proc_state(pid) == "T",
                          "the VMM to stop")
        self.start_daemon()
        return vmms

    def test_start_while_reconnecting(self):
        if not VIRSH:
            ktest.missing_prerequisite("virsh is not installed")
        # Two domains: the daemon reconnects to one at a time, so the
        # second waits behind the first.
        names = ["a", "b"]
        xmls = {}
        for name in names:
            self.define(name)
            self.virsh("start", name)
            # Its own config (uuid and all), to define again below.
            xmls[name] = os.path.join(self.tmp, name + "-inactive.xml")
            with open(xmls[name], "w") as f:
                f.write(self.virsh("dumpxml", "--inactive", name))
        vmms = self.restart_with_vmms_stopped(names)

        seen = []
        started = {}
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                seen.append(("list",) + self.virsh_nocheck("list", "--all"))
                for name in names:
                    seen.append(("domstate " + name,) +
                                self.virsh_nocheck("domstate", name))

        def start(name):
            started[name] = self.virsh_nocheck("start", name)

        threads = [threading.Thread(target=watch, daemon=True)]
        threads += [threading.Thread(target=start, args=(name,), daemon=True)
                    for name in names]
        for t in threads:
            t.start()
        # Defining a running domain only sets its next config: no start.
        for name in names:
            status, out = self.virsh_nocheck("define", xmls[name])
            self.assertEqual(status, 0, out)
        # The reconnection waits for the stopped VMMs meanwhile.
        time.sleep(2)
        during = {name: self.vmm_pids(name) for name in names}
        for pid in vmms.values():
            os.kill(pid, signal.SIGCONT)
        for t in threads[1:]:
            t.join(60)
        time.sleep(0.5)
        stop.set()
        threads[0].join(60)

        self.assertGreater(len(seen), 2)
        bad = [x for x in seen if "shut off" in x[2]]
        self.assertEqual(bad, [], "shut off while its kestrel runs")
        for name in names:
            self.assertEqual(during[name], [vmms[name]],
                             "a second kestrel was started for '%s', which "
                             "runs already" % name)
            self.assertEqual(self.vmm_pids(name), [vmms[name]])
            # virsh asks first (active: its own message); the daemon says
            # "already running" if asked to start it.
            status, out = started[name]
            self.assertNotEqual(status, 0, out)
            self.assertRegex(out, "already (running|active)")
            self.assertRegex(self.virsh("list"), r"\d+\s+%s\s+running" % name)
            self.virsh("destroy", name)
        self.wait_for(lambda: self.vmm_pids() == [], "the VMMs to go")

    def test_destroy_while_reconnecting(self):
        self.define("tg")
        self.virsh("start", "tg")
        vmm = self.restart_with_vmms_stopped(["tg"])["tg"]
        # Destroy needs no job: it kills the VMM, reconnecting or not.
        self.virsh("destroy", "tg")
        self.assertEqual(self.state("tg"), "shut off (destroyed)")
        self.wait_for(lambda: self.vmm_pids() == [], "the VMM to go")
        # The reconnection ends, and a start then runs one kestrel.
        self.virsh("start", "tg")
        self.assertEqual(len(self.vmm_pids()), 1)
        self.assertNotIn(vmm, self.vmm_pids())
        self.virsh("destroy", "tg")


if __name__ == "__main__":
    ktest.main()
