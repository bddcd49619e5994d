#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Memory overhead, kestrel vs QEMU: the VMM process's RSS and private RSS
(/proc/PID/smaps_rollup: Private_Clean + Private_Dirty) with the test guest
idle in -m 256, 2 s after "TG READY". The idle guest touches little of its
RAM, so the figures are mostly the VMM's own footprint."""

import sys
import time

import benchlib

APPEND = "tg.mode=idle"
MEM = 256
SETTLE = 2.0


def extra(ap):
    ap.add_argument("--runs", type=int, default=3,
                    help="boots per VMM (default %(default)s)")


def rollup(pid):
    """smaps_rollup fields in KiB."""
    out = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1])
    return out


def measure(argv):
    with benchlib.Vmm(argv) as vm:
        vm.wait_line(r"^TG READY ", 60)
        time.sleep(SETTLE)
        if vm.proc.poll() is not None:
            raise RuntimeError("%s exited while idle:\n%s"
                               % (argv[0], vm.text()))
        r = rollup(vm.proc.pid)
        return r["Rss"], r["Private_Clean"] + r["Private_Dirty"]


def main():
    args = benchlib.parse_args(__doc__.splitlines()[0], extra)
    argvs = {
        "kestrel": benchlib.kestrel_argv(args, args.testguest, APPEND, MEM),
        "qemu": benchlib.qemu_argv(args, args.testguest, APPEND, MEM),
    }
    res = {name: [] for name in argvs}
    for i in range(args.runs):
        for name, argv in argvs.items():
            rss, priv = measure(argv)
            res[name].append((rss, priv))
            print("  %s run %d: Rss %d KiB, private %d KiB"
                  % (name, i + 1, rss, priv), file=sys.stderr)

    rows = []
    for idx, label in ((0, "Rss"), (1, "private (Private_Clean+Dirty)")):
        ks = [r[idx] for r in res["kestrel"]]
        qs = [r[idx] for r in res["qemu"]]
        rows.append(["%s, KiB (median of %d)" % (label, args.runs),
                     benchlib.spread(ks, "%d"), benchlib.spread(qs, "%d"),
                     benchlib.ratio(benchlib.median(ks),
                                    benchlib.median(qs))])
    benchlib.report(args, "memory, test guest idle -m %d" % MEM,
                    ["what", "kestrel", "QEMU", "kestrel/QEMU"], rows)


if __name__ == "__main__":
    main()
