#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Management daemon, virtkestreld vs libvirtd: wall time of `virsh list`
and `virsh domstats` with 1, 10 and 50 running test-guest domains, and the
daemon's RSS. virtkestreld runs kestrel domains; a private stock libvirtd
(tests/libvirt/libvirtd-instance.sh: Debian's daemon in a mount namespace
of its own) runs QEMU domains of the same guest, so the yardstick is
libvirt's QEMU driver with real QEMU. Needs root for the libvirtd side
(--no-qemu skips it)."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import benchlib

INSTANCE = os.path.join(benchlib.SRCDIR, "tests", "libvirt",
                        "libvirtd-instance.sh")
MEM_MIB = 64

KESTREL_XML = """<domain type='kvm'>
  <name>{name}</name>
  <memory unit='MiB'>{mem}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='kestrel'>hvm</type>
    <kernel>{kernel}</kernel>
    <cmdline>tg.mode=idle</cmdline>
  </os>
  <features><acpi/></features>
</domain>
"""

# tests/functional/test_libvirt_qemu.py's domain with QEMU for kestrel.
# No <cpu>: libvirt gives QEMU -cpu qemu64 (-cpu host aborts on PVM hosts,
# see the libvirt QEMU driver reference). -M pc: libvirt has no microvm.
QEMU_XML = """<domain type='kvm'>
  <name>{name}</name>
  <memory unit='MiB'>{mem}</memory>
  <currentMemory unit='MiB'>{mem}</currentMemory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{kernel}</kernel>
    <cmdline>tg.mode=idle</cmdline>
  </os>
  <features><acpi/></features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>{emulator}</emulator>
    <controller type='usb' model='none'/>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <memballoon model='virtio'><stats period='1'/></memballoon>
  </devices>
</domain>
"""

COMMANDS = [
    ("`virsh list`", ["list"]),
    ("`virsh domstats`", ["domstats"]),
    ("`virsh domstats --state --cpu-total --balloon --vcpu`",
     ["domstats", "--state", "--cpu-total", "--balloon", "--vcpu"]),
]


def extra(ap):
    ap.add_argument("--virtkestreld", default=os.environ.get(
        "VIRTKESTRELD", os.path.join(benchlib.SRCDIR, "driver",
                                     "virtkestreld")),
        help="the daemon (env VIRTKESTRELD; default driver/virtkestreld)")
    ap.add_argument("--runs", type=int, default=10,
                    help="virsh runs per command, count and daemon "
                         "(default %(default)s)")
    ap.add_argument("--counts", default="1,10,50",
                    help="running domains to measure at, ascending "
                         "(default %(default)s)")
    ap.add_argument("--qemu-counts", default=None,
                    help="the counts for libvirtd, a prefix of --counts "
                         "(default: all of them)")
    ap.add_argument("--no-qemu", action="store_true",
                    help="virtkestreld only: no private libvirtd")


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
                   .group(1))


def read_pid(path):
    with open(path) as f:
        return int(f.read().strip())


def listening(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


class Daemon:
    """What both sides share: virsh against a URI, domains by name."""

    label = ""

    def __init__(self, tmp, prefix):
        self.tmp = tmp
        self.prefix = prefix
        self.domains = []

    def virsh(self, *args, timeout=120):
        p = subprocess.run(["virsh", "-c", self.uri] + list(args),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
        out = p.stdout.decode(errors="replace")
        if p.returncode != 0:
            raise RuntimeError("%s: virsh %s: %s" % (self.label,
                                                     " ".join(args), out))
        return out

    def timed(self, args):
        t0 = time.perf_counter()
        out = self.virsh(*args)
        return time.perf_counter() - t0, out

    def grow(self, n):
        """Define and start domains until @n run."""
        while len(self.domains) < n:
            name = "%s-%02d" % (self.prefix, len(self.domains))
            path = os.path.join(self.tmp, name + ".xml")
            with open(path, "w") as f:
                f.write(self.xml(name))
            self.virsh("define", path)
            self.virsh("start", name)
            self.domains.append(name)
        running = self.virsh("list", "--name").split()
        if sorted(running) != sorted(self.domains):
            raise RuntimeError("%s: running %s" % (self.label, running))

    def destroy_all(self):
        for name in self.domains:
            try:
                self.virsh("destroy", name)
                self.virsh("undefine", name)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                print("  %s" % e, file=sys.stderr)
        self.domains = []


class Kestrel(Daemon):
    label = "virtkestreld"

    def __init__(self, args, tmp, prefix):
        super().__init__(tmp, prefix)
        self.kernel = os.path.abspath(args.testguest)
        sock = os.path.join(tmp, "sock")
        self.uri = "kestrel+unix:///system?socket=%s" % sock
        self.run = os.path.join(tmp, "run")
        env = dict(os.environ, KESTREL=os.path.abspath(args.kestrel))
        self.proc = subprocess.Popen(
            [args.virtkestreld, "--socket", sock,
             "--config-dir", os.path.join(tmp, "etc"),
             "--state-dir", self.run, "--log-dir", os.path.join(tmp, "log")],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 20
        while not listening(sock + "-ro"):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("virtkestreld did not start")
            time.sleep(0.05)

    def xml(self, name):
        return KESTREL_XML.format(name=name, mem=MEM_MIB, kernel=self.kernel)

    def daemon_pid(self):
        return self.proc.pid

    def vmm_pids(self):
        return [read_pid(os.path.join(self.run, f))
                for f in os.listdir(self.run) if f.endswith(".pid")]

    def stop(self):
        self.destroy_all()
        for pid in self.vmm_pids() if os.path.isdir(self.run) else []:
            try:
                os.kill(pid, signal.SIGKILL)        # left by a failure
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Libvirtd(Daemon):
    label = "libvirtd"

    def __init__(self, args, tmp, prefix):
        super().__init__(tmp, prefix)
        # libvirt-qemu reads the kernel: directories it can traverse
        os.chmod(os.path.dirname(tmp), 0o755)
        os.chmod(tmp, 0o755)
        self.kernel = os.path.join(tmp, "testguest.elf")
        shutil.copy(args.testguest, self.kernel)
        self.emulator = os.path.abspath(args.qemu)
        self.inst = os.path.join(tmp, "libvirt")
        self.uri = "qemu+unix:///system?socket=%s/run/libvirt-sock" % \
            self.inst
        p = subprocess.run(["sh", INSTANCE, "start", self.inst],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        if p.returncode != 0:
            raise RuntimeError("libvirtd-instance.sh start: %s"
                               % p.stdout.decode(errors="replace"))

    def xml(self, name):
        return QEMU_XML.format(name=name, mem=MEM_MIB, kernel=self.kernel,
                               emulator=self.emulator)

    def daemon_pid(self):
        return read_pid(os.path.join(self.inst, "run", "libvirtd.pid"))

    def vmm_pids(self):
        """Our QEMUs: -name guest=PREFIX-NN on the command line."""
        pids = []
        mark = ("guest=%s-" % self.prefix).encode()
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    if mark in f.read():
                        pids.append(int(pid))
            except OSError:
                pass
        return pids

    def stop(self):
        self.destroy_all()
        subprocess.run(["sh", INSTANCE, "stop", self.inst],
                       stdin=subprocess.DEVNULL)
        for pid in self.vmm_pids():
            os.kill(pid, signal.SIGKILL)            # outlived libvirtd


def cpu_seconds(pids):
    """User + system time of @pids, the ones still there."""
    ticks = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def settle(sides, busy=0.2, timeout=300):
    """Wait until the VMMs of @sides together use less than @busy CPU
    seconds a second: QEMU's SeaBIOS runs seconds of emulated code per
    domain on PVM hosts, and busy VMMs would slow both daemons' replies."""
    pids = [p for s in sides for p in s.vmm_pids()]
    t0 = time.monotonic()
    last = cpu_seconds(pids)
    while time.monotonic() - t0 < timeout:
        time.sleep(2)
        now = cpu_seconds(pids)
        if now - last < 2 * busy:
            break
        last = now
    print("  VMMs idle after %.0f s" % (time.monotonic() - t0),
          file=sys.stderr)


def records(domstats_out):
    return domstats_out.count("Domain: ")


def main():
    if os.path.exists("/usr/sbin"):
        os.environ["PATH"] += ":/usr/sbin:/sbin"
    args = benchlib.parse_args(__doc__.splitlines()[0], extra)
    if not os.access(args.virtkestreld, os.X_OK):
        sys.exit("%s: no virtkestreld (--virtkestreld)" % args.virtkestreld)
    counts = [int(c) for c in args.counts.split(",")]
    qcounts = counts if args.qemu_counts is None else \
        [int(c) for c in args.qemu_counts.split(",")]
    if args.no_qemu:
        qcounts = []
    if qcounts and os.geteuid() != 0:
        sys.exit("the libvirtd side needs root (or pass --no-qemu)")

    args.qemu_machine = "pc"          # what libvirt runs; no microvm
    tmp = tempfile.mkdtemp(prefix="kestrel-bench-daemon-")
    prefix = "kbench%d" % os.getpid()
    sides = []
    res = {}            # (side, count, what) -> [values]
    try:
        sides.append(Kestrel(args, os.path.join(tmp, "k"), prefix + "k"))
        if qcounts:
            os.mkdir(os.path.join(tmp, "q"))
            sides.append(Libvirtd(args, os.path.join(tmp, "q"),
                                  prefix + "q"))
        for n in counts:
            active = [s for s in sides
                      if isinstance(s, Kestrel) or n in qcounts]
            for s in active:
                t0 = time.monotonic()
                s.grow(n)
                print("  %s: %d domains running (%.0f s to start them)"
                      % (s.label, n, time.monotonic() - t0),
                      file=sys.stderr)
            settle(active)
            for s in active:        # warm: first-call costs are not ours
                for _, cmd in COMMANDS:
                    s.virsh(*cmd)
            for i in range(args.runs):
                for label, cmd in COMMANDS:
                    for s in active:
                        secs, out = s.timed(cmd)
                        if cmd[0] == "domstats" and records(out) != n:
                            raise RuntimeError("%s: %d records, not %d"
                                               % (s.label, records(out), n))
                        res.setdefault((s.label, n, label), []).append(secs)
            for s in active:
                res[(s.label, n, "rss")] = [vm_rss_kib(s.daemon_pid())]
                res[(s.label, n, "vmm")] = [vm_rss_kib(p)
                                            for p in s.vmm_pids()]
                print("  %s, %d domains: daemon VmRSS %d KiB, %d VMMs"
                      % (s.label, n, res[(s.label, n, "rss")][0],
                         len(res[(s.label, n, "vmm")])), file=sys.stderr)
    finally:
        for s in sides:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    def cell(side, n, what, fmt, scale=1):
        xs = res.get((side, n, what))
        return benchlib.spread(xs, fmt, scale) if xs else "-"

    def rat(n, what):
        k, q = res.get(("virtkestreld", n, what)), \
            res.get(("libvirtd", n, what))
        return benchlib.ratio(benchlib.median(k), benchlib.median(q)) \
            if k and q else "-"

    rows = []
    for n in counts:
        for label, _ in COMMANDS:
            rows.append(["%s, %d running, ms (median of %d)"
                         % (label, n, args.runs),
                         cell("virtkestreld", n, label, "%.1f", 1000),
                         cell("libvirtd", n, label, "%.1f", 1000),
                         rat(n, label)])
        rows.append(["daemon VmRSS, %d running, KiB" % n,
                     cell("virtkestreld", n, "rss", "%d"),
                     cell("libvirtd", n, "rss", "%d"), rat(n, "rss")])
    n = counts[-1]
    rows.append(["VMM VmRSS per domain, %d running, KiB (median, range)" % n,
                 cell("virtkestreld", n, "vmm", "%d"),
                 cell("libvirtd", n, "vmm", "%d"), rat(n, "vmm")])
    notes = ["domains: test guest, `tg.mode=idle`, %d MiB, 1 vCPU; kestrel "
             "through virtkestreld (%s), QEMU -M pc through a private stock "
             "libvirtd (%s)" % (MEM_MIB, args.virtkestreld,
                                _first_line(["libvirtd", "--version"])),
             "virsh wall time is the whole client: exec, connect, the "
             "calls, exit; runs interleave the daemons command by command",
             "plain `virsh domstats` asks libvirtd for every stats group it "
             "has (block, interface, perf, ...), virtkestreld serves state, "
             "cpu-total, balloon and vcpu; the third command asks both for "
             "the same groups"]
    if qcounts != counts:
        notes.append("libvirtd measured at %s running domains only"
                     % ", ".join(map(str, qcounts)))
    benchlib.report(args, "management daemon, virsh against N running "
                    "domains", ["what", "virtkestreld", "libvirtd + QEMU",
                                "kestrel/QEMU"], rows, notes)


def _first_line(argv):
    try:
        out = subprocess.run(argv, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True).stdout
    except OSError:
        return "?"
    return out.splitlines()[0].strip() if out.strip() else "?"


if __name__ == "__main__":
    main()
