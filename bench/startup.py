#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Start-up time, kestrel vs QEMU: exec -> the guest's first line.

1. The test guest in hello mode: exec -> "TG READY" (median of --runs).
2. Debian's vmlinux (tests/linux/get-kernel.sh): exec -> "Linux version"
   (median of --linux-runs; each takes ~20 s here because the kernel's
   early code is emulated, so this compares the VMMs' paths into the
   kernel plus a long constant).
"""

import os
import subprocess
import sys

import benchlib

TG_READY = r"^TG READY "
TG_APPEND = "tg.mode=hello"
LINUX_BANNER = r"Linux version \d"
LINUX_APPEND = "console=ttyS0 earlyprintk=serial"


def extra(ap):
    ap.add_argument("--runs", type=int, default=10,
                    help="test guest boots per VMM (default %(default)s)")
    ap.add_argument("--linux-runs", type=int, default=3,
                    help="Linux boots per VMM, 0 to skip (default "
                    "%(default)s)")


def time_to(argv, pattern, timeout):
    with benchlib.Vmm(argv) as vm:
        t, _ = vm.wait_line(pattern, timeout)
        return t


def series(args, runs, argvs, pattern, timeout):
    """Interleaved runs; returns {name: [seconds, ...]}."""
    out = {name: [] for name in argvs}
    for i in range(runs):
        for name, argv in argvs.items():
            t = time_to(argv, pattern, timeout)
            out[name].append(t)
            print("  %s run %d: %.3f s" % (name, i + 1, t), file=sys.stderr)
    return out


def get_vmlinux():
    script = os.path.join(benchlib.SRCDIR, "tests", "linux", "get-kernel.sh")
    p = subprocess.run([script], stdout=subprocess.PIPE, check=True,
                       text=True)
    return p.stdout.strip().splitlines()[-1]


def main():
    args = benchlib.parse_args(__doc__.splitlines()[0], extra)
    rows = []

    print("test guest, exec -> TG READY", file=sys.stderr)
    tg = series(args, args.runs, {
        "kestrel": benchlib.kestrel_argv(args, args.testguest, TG_APPEND),
        "qemu": benchlib.qemu_argv(args, args.testguest, TG_APPEND),
    }, TG_READY, 60)
    k, q = benchlib.median(tg["kestrel"]), benchlib.median(tg["qemu"])
    rows.append(["test guest -m 128, exec -> `TG READY` (median of %d)"
                 % args.runs, benchlib.spread(tg["kestrel"], "%.1f", 1e3)
                 + " ms", benchlib.spread(tg["qemu"], "%.1f", 1e3) + " ms",
                 benchlib.ratio(k, q)])

    if args.linux_runs > 0:
        vmlinux = get_vmlinux()
        print("Linux %s, exec -> Linux version" % vmlinux, file=sys.stderr)
        lx = series(args, args.linux_runs, {
            "kestrel": benchlib.kestrel_argv(args, vmlinux, LINUX_APPEND,
                                             mem=256),
            "qemu": benchlib.qemu_argv(args, vmlinux, LINUX_APPEND, mem=256),
        }, LINUX_BANNER, 120)
        k, q = benchlib.median(lx["kestrel"]), benchlib.median(lx["qemu"])
        rows.append(["%s -m 256, exec -> `Linux version` (median of %d)"
                     % (os.path.basename(vmlinux), args.linux_runs),
                     benchlib.spread(lx["kestrel"], "%.2f") + " s",
                     benchlib.spread(lx["qemu"], "%.2f") + " s",
                     benchlib.ratio(k, q)])

    benchlib.report(args, "start-up", ["what", "kestrel", "QEMU",
                                       "kestrel/QEMU"], rows)


if __name__ == "__main__":
    main()
