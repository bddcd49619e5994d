#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Exit cost, kestrel vs QEMU: the test guest's own ns_per_exit for
tg.count port writes (tg.mode=pio) and reads of an unassigned MMIO address
(tg.mode=mmio). Each exit is a round trip to the VMM's userspace, so this
measures the VMM's exit dispatch on top of KVM's fixed cost."""

import sys

import benchlib


def extra(ap):
    ap.add_argument("--runs", type=int, default=3,
                    help="boots per VMM and mode (default %(default)s)")
    ap.add_argument("--count", type=int, default=20000,
                    help="exits per boot (default %(default)s)")


def measure(argv, mode):
    with benchlib.Vmm(argv) as vm:
        _, m = vm.wait_line(r"^TG %s count=(\d+) ns_per_exit=([\d.]+)"
                            % mode.upper(), 120)
        return float(m.group(2))


def main():
    args = benchlib.parse_args(__doc__.splitlines()[0], extra)
    rows = []
    for mode in ("pio", "mmio"):
        append = "tg.mode=%s tg.count=%d" % (mode, args.count)
        argvs = {
            "kestrel": benchlib.kestrel_argv(args, args.testguest, append),
            "qemu": benchlib.qemu_argv(args, args.testguest, append),
        }
        res = {name: [] for name in argvs}
        for i in range(args.runs):
            for name, argv in argvs.items():
                ns = measure(argv, mode)
                res[name].append(ns)
                print("  %s %s run %d: %.0f ns/exit" % (name, mode, i + 1, ns),
                      file=sys.stderr)
        k = benchlib.median(res["kestrel"])
        q = benchlib.median(res["qemu"])
        rows.append(["%s, ns per exit (median of %d)" % (mode, args.runs),
                     benchlib.spread(res["kestrel"], "%.0f"),
                     benchlib.spread(res["qemu"], "%.0f"),
                     benchlib.ratio(k, q)])
    benchlib.report(args, "exit cost, tg.count=%d" % args.count,
                    ["what", "kestrel", "QEMU", "kestrel/QEMU"], rows)


if __name__ == "__main__":
    main()
