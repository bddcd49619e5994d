# SPDX-License-Identifier: GPL-2.0-or-later
"""virtkestreld against hostile local clients on its world-accessible
read-only socket (issue 14's attack run): clients that hold descriptors,
never open their connection, announce huge messages and send part of
them, or pipeline calls without end.  The daemon runs with a small open
files limit so that exhaustion needs about a hundred connections, not a
thousand; every test checks that root's client on the read-write socket
is still served, that the daemon does not spin (its CPU time) and that
its log stays quiet."""

import os
import resource
import socket
import struct
import time

import ktest
from test_daemon import DAEMON, DaemonCase, RawClient

NOFILE = 128            # the daemon's open files limit in these tests
HOSTILE = 150           # connections, more than the daemon has descriptors
CPU_SLACK = 0.4         # s of daemon CPU allowed over 2 s of attack


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def hostile_connect(path, n, timeout=3):
    """@n sockets connected to @path, as fast as the daemon's backlog lets
    them in (a full backlog refuses a connect: try again shortly)."""
    socks = []
    deadline = time.monotonic() + timeout
    while len(socks) < n and time.monotonic() < deadline:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(path)
        except (BlockingIOError, ConnectionRefusedError, OSError):
            s.close()
            time.sleep(0.005)
            continue
        socks.append(s)
    return socks


def closed_by_peer(s, timeout):
    """Whether the daemon closed @s (EOF) within @timeout seconds."""
    s.settimeout(timeout)
    try:
        return s.recv(4096) == b""
    except socket.timeout:
        return False
    except OSError:
        return True


class LimitsCase(DaemonCase):
    # Options and open files limit of the daemon under test.
    DAEMON_ARGS = []
    NOFILE = NOFILE

    def start_daemon(self):
        env = dict(os.environ, KESTREL=os.path.abspath(ktest.KESTREL))
        argv = [DAEMON, "--socket", self.sock,
                "--config-dir", os.path.join(self.tmp, "etc"),
                "--state-dir", os.path.join(self.tmp, "run"),
                "--log-dir", os.path.join(self.tmp, "log")] + self.DAEMON_ARGS
        nofile = self.NOFILE

        def limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.daemon = self.spawn(argv, env=env, preexec_fn=limit)
        self.wait_for(lambda: self.listening(self.sock + "-ro"),
                      "the daemon's sockets")

    def hostile(self, n, path=None):
        socks = hostile_connect(path or self.sock + "-ro", n)
        self.addCleanup(lambda: [s.close() for s in socks])
        return socks

    def quiet_for(self, seconds):
        """Daemon CPU seconds and log lines over @seconds of waiting."""
        pid = self.daemon.proc.pid
        lines = len(self.daemon.lines)
        cpu = cpu_seconds(pid)
        self.daemon.collect(seconds)
        return cpu_seconds(pid) - cpu, self.daemon.lines[lines:]

    def admin_works(self):
        """root's virsh on the read-write socket answers."""
        t0 = time.monotonic()
        self.assertIn("Id", self.virsh("list", "--all"))
        return time.monotonic() - t0


class Descriptors(LimitsCase):
    def test_idle_connections_do_not_exhaust_descriptors(self):
        pid = self.daemon.proc.pid
        socks = self.hostile(HOSTILE)
        self.daemon.collect(1)
        self.assertTrue(self.daemon.alive(), self.daemon.text())
        cpu, lines = self.quiet_for(2)
        self.assertLess(cpu, CPU_SLACK, "the daemon spins: %.2f s of CPU "
                        "in 2 s; log:\n%s" % (cpu, "\n".join(lines[:20])))
        self.assertLess(len(lines), 5, "\n".join(lines[:20]))
        # Its descriptors are not all taken, and root gets in.
        self.assertLess(fd_count(pid), NOFILE - 8)
        self.assertLess(self.admin_works(), 10)
        # Those over the limits (20 not yet open) were closed, not left in
        # the backlog.
        self.assertEqual(len(socks), HOSTILE)
        dropped = sum(closed_by_peer(s, 0.01) for s in socks)
        self.assertEqual(dropped, HOSTILE - 20)

    def test_the_open_files_limit_is_raised(self):
        # A soft limit below the hard one is raised to it at start-up.
        self.stop_daemon()
        self.NOFILE = None

        def limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (64, 4096))

        env = dict(os.environ, KESTREL=os.path.abspath(ktest.KESTREL))
        self.daemon = self.spawn([DAEMON, "--socket", self.sock,
                                  "--config-dir", os.path.join(self.tmp, "e"),
                                  "--state-dir", os.path.join(self.tmp, "r"),
                                  "--log-dir", os.path.join(self.tmp, "l")],
                                 env=env, preexec_fn=limit)
        self.wait_for(lambda: self.listening(self.sock + "-ro"),
                      "the daemon's sockets")
        with open("/proc/%d/limits" % self.daemon.proc.pid) as f:
            line = [ln for ln in f if ln.startswith("Max open files")][0]
        self.assertEqual(line.split()[3:5], ["4096", "4096"], line)


class OutOfDescriptors(LimitsCase):
    # No client limit below the descriptors: accept() itself fails.
    DAEMON_ARGS = ["--max-clients", "1000", "--max-anonymous-clients",
                   "1000"]

    def test_accept_loop_stays_quiet(self):
        socks = self.hostile(HOSTILE)
        self.daemon.collect(1)
        cpu, lines = self.quiet_for(2)
        self.assertLess(cpu, CPU_SLACK, "the daemon spins: %.2f s of CPU "
                        "in 2 s; log:\n%s" % (cpu, "\n".join(lines[:20])))
        log = [ln for ln in self.daemon.lines if "accept" in ln]
        self.assertLessEqual(len(log), 2, "\n".join(log[:20]))
        self.assertTrue(any("Too many open files" in ln for ln in log), log)
        # Once the flood goes, clients are served again at once (a
        # client closing re-arms accepting, else within a second).
        for s in socks:
            s.close()
        self.assertLess(self.admin_works(), 10)
        self.daemon.collect(0.5)
        self.assertTrue(any("accepting clients again" in ln
                            for ln in self.daemon.lines), self.daemon.text())


class Anonymous(LimitsCase):
    DAEMON_ARGS = ["--client-timeout", "2"]

    def test_unopened_clients_are_bounded_and_timed_out(self):
        socks = self.hostile(25)
        # Past 20 not yet open, more are closed at once.
        self.daemon.collect(0.3)
        dropped = [s for s in socks if closed_by_peer(s, 0.01)]
        self.assertEqual(len(dropped), 5)
        # The read-write socket counts its own clients.
        self.admin_works()
        # The 20 that never opened go within the timeout (2 s).
        t0 = time.monotonic()
        held = [s for s in socks if s not in dropped]
        for s in held:
            self.assertTrue(closed_by_peer(s, 4), "still connected after "
                            "%.1f s" % (time.monotonic() - t0))
        self.assertLess(time.monotonic() - t0, 4)
        # A client that opens is not timed out.
        c = RawClient(self.sock + "-ro")
        self.addCleanup(c.close)
        c.open()
        self.daemon.collect(3)
        self.assertEqual(c.call(157)["status"], 0)   # GET_LIB_VERSION


if __name__ == "__main__":
    ktest.main()
