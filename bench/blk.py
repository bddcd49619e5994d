#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Disk throughput and IOPS, kestrel vs QEMU: the test guest's blk mode
(sequential 64 KiB write and read, then random 4 KiB writes and reads, 32
requests in flight) on the same image under each VMM's virtio-blk-pci:
raw and qcow2, with the host page cache and with cache=none. The guest
reports MiB/s and IOPS per phase; higher is better on every row. Needs
/dev/kvm."""

import os
import subprocess
import sys
import tempfile

import benchlib

PHASE = (r"^TG BLK phase=(seqwrite|seqread|randwrite|randread) "
         r"mb_s=([\d.]+) iops=(\d+) errors=(\d+)")


def extra(ap):
    ap.add_argument("--runs", type=int, default=3,
                    help="boots per VMM and configuration (default %(default)s)")
    ap.add_argument("--mb", type=int, default=256,
                    help="MiB the guest writes and reads (default %(default)s)")
    ap.add_argument("--secs", type=int, default=5,
                    help="seconds of each random phase (default %(default)s)")


def measure(argv):
    out = {}
    with benchlib.Vmm(argv) as vm:
        for _ in range(4):
            _, m = vm.wait_line(PHASE, 600)
            if int(m.group(4)):
                raise SystemExit("guest reported I/O errors: " + vm.text())
            out[m.group(1)] = (float(m.group(2)), int(m.group(3)))
        vm.wait_line(r"^TG DONE", 60)
    return out


def main():
    args = benchlib.parse_args(__doc__.splitlines()[0], extra)
    if args.qemu_machine == "microvm":
        args.qemu_machine = "q35"       # microvm has no PCI bus by default
    tmp = tempfile.mkdtemp(prefix="kestrel-bench-blk-", dir="/var/tmp")
    rows = []
    append = "tg.mode=blk tg.mb=%d tg.secs=%d tg.seed=7" % (args.mb,
                                                            args.secs)
    for fmt in ("raw", "qcow2"):
        for cache in ("writeback", "none"):
            img = os.path.join(tmp, "disk." + fmt)
            res = {"kestrel": [], "qemu": []}
            for i in range(args.runs):
                for name in res:
                    if os.path.exists(img):
                        os.unlink(img)
                    subprocess.run(["qemu-img", "create", "-q", "-f", fmt,
                                    img, "%dM" % (args.mb + 16)], check=True)
                    drive = ["-drive", "file=%s,if=none,id=d0,format=%s,"
                             "cache=%s" % (img, fmt, cache),
                             "-device", "virtio-blk-pci,drive=d0"]
                    argv = (benchlib.kestrel_argv if name == "kestrel" else
                            benchlib.qemu_argv)(args, args.testguest, append,
                                                mem=256) + drive
                    r = measure(argv)
                    res[name].append(r)
                    print("  %s %s cache=%s run %d: %s" % (name, fmt, cache,
                                                          i + 1, r),
                          file=sys.stderr)
            for phase, unit, idx in (("seqwrite", "MiB/s", 0),
                                     ("seqread", "MiB/s", 0),
                                     ("randwrite", "IOPS", 1),
                                     ("randread", "IOPS", 1)):
                k = [r[phase][idx] for r in res["kestrel"]]
                q = [r[phase][idx] for r in res["qemu"]]
                rows.append(["%s cache=%s %s, %s (higher is better)"
                             % (fmt, cache, phase, unit),
                             benchlib.spread(k, "%.0f"),
                             benchlib.spread(q, "%.0f"),
                             benchlib.ratio(benchlib.median(k),
                                            benchlib.median(q))])
    subprocess.run(["rm", "-rf", tmp])
    benchlib.report(args, "virtio-blk, tg.mb=%d tg.secs=%d" % (args.mb,
                                                              args.secs),
                    ["what", "kestrel", "QEMU", "kestrel/QEMU"], rows)


if __name__ == "__main__":
    main()
