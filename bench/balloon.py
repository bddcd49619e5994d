#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Balloon, kestrel vs QEMU: the test guest in balloon mode with -m 1024
and a virtio-balloon-pci, then QMP `balloon` to 512 MiB and back. Reports
inflate and deflate throughput (QMP command to query-balloon "actual"
reaching the target), the time until the VMM's RSS reflects the inflate
(90% of the ballooned memory gone), and the RSS after inflating. QEMU runs
-M pc (its microvm has no PCI)."""

import os
import sys
import tempfile
import time

import benchlib

sys.path.insert(0, os.path.join(benchlib.SRCDIR, "tests", "functional"))
from ktest import Qmp  # noqa: E402

MEM = 1024
MiB = 1 << 20
TARGET = 512


def extra(ap):
    ap.add_argument("--runs", type=int, default=3,
                    help="boots per VMM (default %(default)s)")


def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def wait(pred, timeout=120):
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout:
            raise RuntimeError("timed out")
        time.sleep(0.005)
    return time.monotonic() - t0


def measure(argv, sock):
    with benchlib.Vmm(argv) as vm:
        vm.wait_line(r"^TG BALLOON target=0 actual=0", 120)
        q = Qmp(sock)
        full = rss(vm.proc.pid)
        actual = lambda: q.cmd("query-balloon")["actual"]

        t0 = time.monotonic()
        q.cmd("balloon", {"value": TARGET * MiB})
        wait(lambda: actual() == TARGET * MiB)
        inflate = time.monotonic() - t0
        to_rss = wait(lambda: rss(vm.proc.pid) <=
                      full - 0.9 * (MEM - TARGET) * MiB) + inflate
        after = rss(vm.proc.pid)

        t0 = time.monotonic()
        q.cmd("balloon", {"value": MEM * MiB})
        wait(lambda: actual() == MEM * MiB)
        deflate = time.monotonic() - t0
        q.close()
        return inflate, deflate, to_rss, full, after


def main():
    args = benchlib.parse_args(__doc__.splitlines()[0], extra)
    tmp = tempfile.mkdtemp(prefix="kestrel-bench-")
    append = "tg.mode=balloon"
    dev = ["-device", "virtio-balloon-pci,id=balloon0"]
    socks = {n: os.path.join(tmp, n + ".sock") for n in ("kestrel", "qemu")}
    argvs = {
        "kestrel": benchlib.kestrel_argv(args, args.testguest, append, MEM)
        + dev + ["-qmp", "unix:%s,server=on,wait=off" % socks["kestrel"]],
        "qemu": [a if a != args.qemu_machine else "pc" for a in
                 benchlib.qemu_argv(args, args.testguest, append, MEM)]
        + dev + ["-qmp", "unix:%s,server=on,wait=off" % socks["qemu"]],
    }
    res = {n: [] for n in argvs}
    for i in range(args.runs):
        for name, argv in argvs.items():
            r = measure(argv, socks[name])
            res[name].append(r)
            print("  %s run %d: inflate %.3f s, deflate %.3f s, RSS after "
                  "%.3f s, RSS %d -> %d MiB" % (name, i + 1, r[0], r[1],
                                                r[2], r[3] // MiB,
                                                r[4] // MiB),
                  file=sys.stderr)

    def col(name, idx, f):
        return [f(r[idx]) for r in res[name]]

    mb = (MEM - TARGET)
    rows = []
    for label, idx, f, fmt in (
            ("inflate %d MiB, MiB/s" % mb, 0, lambda s: mb / s, "%.0f"),
            ("deflate %d MiB, MiB/s" % mb, 1, lambda s: mb / s, "%.0f"),
            ("until RSS reflects the inflate, s", 2, lambda s: s, "%.2f"),
            ("RSS before inflating, MiB", 3, lambda b: b / MiB, "%.0f"),
            ("RSS after inflating, MiB", 4, lambda b: b / MiB, "%.0f")):
        ks, qs = col("kestrel", idx, f), col("qemu", idx, f)
        rows.append([label, benchlib.spread(ks, fmt), benchlib.spread(qs, fmt),
                     benchlib.ratio(benchlib.median(ks), benchlib.median(qs))])
    args.qemu_machine = "pc"
    benchlib.report(args, "balloon, test guest -m %d, to %d MiB and back"
                    % (MEM, TARGET), ["what", "kestrel", "QEMU",
                                      "kestrel/QEMU"], rows,
                    notes=["runs: %d per VMM, alternating" % args.runs])


if __name__ == "__main__":
    main()
