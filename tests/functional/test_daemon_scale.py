# SPDX-License-Identifier: GPL-2.0-or-later
"""virtkestreld under load: 20 running test-guest domains and 4 clients,
each a process with its own python3-libvirt connection, listing the
domains and reading their stats for 30 s.  No call may fail, every list
must show the 20 domains running, and the daemon's RSS must not grow once
warmed up.  Then all 20 go away and nothing of them is left running."""

import multiprocessing
import os
import re
import time

import ktest
from test_daemon import DAEMON, DaemonCase, domain_xml

DOMAINS = 20
CLIENTS = 4
SECONDS = 30.0
# RSS is sampled from here on: by then every code path (lists, stats
# records, QMP replies, per-connection buffers) has run hundreds of times
# and malloc's arenas have reached their working size.
WARMUP = 8.0
# A leak of 100 bytes per call shows as several MiB over the thousands of
# calls the clients make after the warm-up (tens of thousands on an idle
# 2-core machine); the allocator's own noise, as measured here, is tens of
# KiB.
RSS_SLACK_KIB = 1024
NAME = "scale%02d"


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
                   .group(1))


def asan(path):
    """Whether @path is built with AddressSanitizer, whose quarantine of
    freed memory makes RSS grow for a while with no leak at all."""
    with open(path, "rb") as f:
        return b"__asan_init" in f.read()


def client(uri, names, seconds, results):
    """One client process: its own connection, lists and stats in a loop.
    Puts a dict of counts and the first errors on @results."""
    out = {"pid": os.getpid(), "calls": 0, "loops": 0, "errors": []}
    try:
        import libvirt
        libvirt.registerErrorHandler(lambda ctx, err: None, None)
        conn = libvirt.open(uri)
        running = libvirt.VIR_DOMAIN_RUNNING
        want = set(names)
        stats = (libvirt.VIR_DOMAIN_STATS_STATE |
                 libvirt.VIR_DOMAIN_STATS_CPU_TOTAL |
                 libvirt.VIR_DOMAIN_STATS_BALLOON |
                 libvirt.VIR_DOMAIN_STATS_VCPU)
        deadline = time.monotonic() + seconds
        i = 0
        while time.monotonic() < deadline:
            try:
                doms = conn.listAllDomains(0)
                got = {d.name() for d in doms}     # no call: in the reply
                if got != want:
                    raise AssertionError("listAllDomains: %s"
                                         % sorted(got))
                active = conn.listAllDomains(
                    libvirt.VIR_CONNECT_LIST_DOMAINS_RUNNING)
                if len(active) != len(want):
                    raise AssertionError("%d running" % len(active))
                recs = conn.getAllDomainStats(stats)
                bad = [d.name() for d, s in recs
                       if s.get("state.state") != running or
                       "cpu.time" not in s or
                       "balloon.maximum" not in s or
                       s.get("vcpu.current") != 1]
                if len(recs) != len(want) or bad:
                    raise AssertionError("getAllDomainStats: %d records, "
                                         "bad %s" % (len(recs), bad))
                recs = conn.domainListGetStats(doms[:5], stats)
                if [s.get("state.state") for _, s in recs] != [running] * 5:
                    raise AssertionError("domainListGetStats: %s" % recs)
                dom = doms[i % len(doms)]
                info = dom.info()
                if info[0] != running:
                    raise AssertionError("%s: info %s" % (dom.name(), info))
                mem = dom.memoryStats()
                if "actual" not in mem or "rss" not in mem:
                    raise AssertionError("%s: memoryStats %s"
                                         % (dom.name(), mem))
                out["calls"] += 6
                out["loops"] += 1
            except (libvirt.libvirtError, AssertionError) as e:
                if len(out["errors"]) < 5:
                    out["errors"].append("%s: %s" % (type(e).__name__, e))
                else:
                    out["errors"].append("...")
                    break
            i += 1
        conn.close()
    except Exception as e:                          # noqa: broad on purpose
        out["errors"].append("%s: %s" % (type(e).__name__, e))
    results.put(out)


class Scale(DaemonCase):
    def our_processes(self):
        """PIDs whose command line names our temporary directory, other
        than the daemon: the kestrels it started."""
        pids = []
        mine = self.tmp.encode()
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == self.daemon.proc.pid:
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    if mine in f.read():
                        pids.append(int(pid))
            except OSError:
                pass
        return pids

    def test_many_domains_many_clients(self):
        libvirt = self.libvirt()
        conn = libvirt.open(self.uri)
        self.addCleanup(conn.close)
        names = [NAME % i for i in range(DOMAINS)]
        doms = []
        for name in names:
            dom = conn.defineXML(domain_xml(name))
            dom.create()
            doms.append(dom)
        vmms = {pid: self.stat(pid)[2] for pid in self.our_processes()}
        self.assertEqual(len(vmms), DOMAINS)
        self.assertEqual(len(conn.listAllDomains(
            libvirt.VIR_CONNECT_LIST_DOMAINS_RUNNING)), DOMAINS)

        # spawn, not fork: the children get a libvirt of their own, not a
        # copy of this process's connection state
        ctx = multiprocessing.get_context("spawn")
        results = ctx.Queue()
        procs = [ctx.Process(target=client, daemon=True,
                             args=(self.uri, names, SECONDS, results))
                 for _ in range(CLIENTS)]
        for p in procs:
            p.start()
        self.addCleanup(self.reap, procs)

        pid = self.daemon.proc.pid
        t0 = time.monotonic()
        samples = []
        while time.monotonic() - t0 < SECONDS + 1:
            self.daemon.collect(0.5)        # keeps its stderr pipe drained
            if not self.daemon.alive():
                self.fail("virtkestreld died:\n" + self.daemon.text())
            samples.append((time.monotonic() - t0, vm_rss_kib(pid)))
        out = []
        for _ in procs:
            out.append(results.get(timeout=SECONDS + 60))
        for p in procs:
            p.join(30)
            self.assertEqual(p.exitcode, 0)

        calls = sum(o["calls"] for o in out)
        after = [kib for t, kib in samples if t >= WARMUP]
        base, end, peak = after[0], samples[-1][1], max(after)
        print("# %d clients made %d calls in %.0f s (%s); daemon VmRSS "
              "%d KiB at start, %d KiB after %.0f s, %d KiB at the end, "
              "peak %d KiB" % (
                  CLIENTS, calls, SECONDS,
                  ", ".join(str(o["calls"]) for o in out),
                  samples[0][1], base, WARMUP, end, peak), flush=True)
        errors = ["client %d: %s" % (o["pid"], e)
                  for o in out for e in o["errors"]]
        self.assertEqual(errors, [])
        for o in out:
            # a floor that a crawling 2-core machine still reaches
            self.assertGreater(o["loops"], 20, o)
        if asan(DAEMON):
            print("# AddressSanitizer build: RSS not checked (its "
                  "quarantine grows it)", flush=True)
        else:
            self.assertLess(end - base, RSS_SLACK_KIB,
                            "daemon RSS grew from %d to %d KiB; every 2 s: "
                            "%s" % (base, end,
                                    [kib for _, kib in samples[::4]]))

        for dom in doms:
            dom.destroy()
            dom.undefine()
        self.assertEqual(conn.listAllDomains(0), [])
        self.assertTrue(conn.getHostname())
        self.assertIn("Id", self.virsh("list", "--all"))
        # destroy returns once the VMM has closed its monitor; the process
        # may still be exiting then (tearing down guest memory and its KVM
        # VM takes a while on a loaded machine), so give it some time.
        t0 = time.monotonic()
        left = [self.stat(pid) for pid, start in vmms.items()
                if self.lingers(pid, start)]
        while time.monotonic() - t0 < 20 and \
                (self.our_processes() or
                 any(self.lingers(pid, start)
                     for pid, start in vmms.items())):
            time.sleep(0.1)
        print("# after the last destroy, %d VMMs were still exiting %s; "
              "all gone %.1f s later" % (len(left), [st[0] for st in left],
                                         time.monotonic() - t0), flush=True)
        self.assertEqual(self.our_processes(), [])
        self.assertEqual([pid for pid, start in vmms.items()
                          if self.lingers(pid, start)], [])

    @staticmethod
    def stat(pid):
        """(state, ppid, starttime) of @pid, or None if it is gone."""
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            return None
        return fields[0], int(fields[1]), int(fields[19])

    def lingers(self, pid, start):
        """Whether the VMM @pid (started at @start: PIDs wrap fast on a
        busy machine) runs, or is a zombie the daemon has not reaped
        (-daemonize makes init their parent, which reaps them in its own
        time)."""
        st = self.stat(pid)
        if st is None or st[2] != start:
            return False
        return st[0] != "Z" or st[1] == self.daemon.proc.pid

    @staticmethod
    def reap(procs):
        for p in procs:
            if p.is_alive():
                p.kill()                    # by its pid: ours
            p.join(5)


if __name__ == "__main__":
    ktest.main()
