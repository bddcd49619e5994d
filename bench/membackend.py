#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Guest RAM per memory backend, kestrel vs QEMU: first-touch time of
TOUCH MiB, the guest RAM mapping's Rss, Pss, AnonHugePages and page size,
and the whole process's Pss (smaps). Both VMMs run without a guest CPU and
a qtest client writes their RAM (kestrel -accel qtest; QEMU -accel tcg -S
with -qtest), so the figures are the host's side of guest memory alone and
run on machines without /dev/kvm."""

import os
import socket
import subprocess
import sys
import tempfile
import time

import benchlib

MiB = 1 << 20
CHUNK = 16 * MiB                # qtest's memset maximum


def extra(ap):
    ap.add_argument("--runs", type=int, default=2,
                    help="starts per VMM and backend (default %(default)s)")
    ap.add_argument("--mem", type=int, default=1024, help="guest MiB")
    ap.add_argument("--touch", type=int, default=512,
                    help="MiB the qtest client writes (default %(default)s)")


class QtestClient:
    def __init__(self, path, proc, timeout=20):
        deadline = time.monotonic() + timeout
        self.sock = socket.socket(socket.AF_UNIX)
        while True:
            try:
                self.sock.connect(path)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("no qtest socket at %s" % path)
                time.sleep(0.01)
        self.file = self.sock.makefile("rwb")

    def cmd(self, line):
        self.file.write(line.encode() + b"\n")
        self.file.flush()
        ans = self.file.readline().decode().strip()
        if not ans.startswith("OK"):
            raise RuntimeError("qtest %r: %s" % (line, ans))

    def close(self):
        self.sock.close()


def proc_rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1]) * 1024
    return 0


def smaps(pid):
    maps, cur = [], None
    with open("/proc/%d/smaps" % pid) as f:
        for ln in f:
            head = ln.split()
            if not head[0].endswith(":"):
                cur = {"Size": 0}
                maps.append(cur)
            elif len(head) >= 3 and head[2] == "kB":
                cur[head[0][:-1]] = int(head[1])
    return maps


def backends(tmp, huge):
    """(label, kestrel options, QEMU options) per backend."""
    rows = [("default (no -object)", [], []),
            ("memory-backend-ram", ["memory-backend-ram"],
             ["memory-backend-ram"]),
            ("memory-backend-memfd", ["memory-backend-memfd"],
             ["memory-backend-memfd"]),
            ("memory-backend-file on tmpfs, share=on",
             ["memory-backend-file,mem-path=/dev/shm,share=on"],
             ["memory-backend-file,mem-path=/dev/shm,share=on"]),
            ("memory-backend-ram,prealloc=on",
             ["memory-backend-ram,prealloc=on,prealloc-threads=2"],
             ["memory-backend-ram,prealloc=on,prealloc-threads=2"])]
    if huge:
        rows.append(("memory-backend-file on hugetlbfs, share=on",
                     ["memory-backend-file,mem-path=%s,share=on" % huge],
                     ["memory-backend-file,mem-path=%s,share=on" % huge]))
    return rows


def argv_for(args, vmm, opts, mem, qt):
    if vmm == "kestrel":
        argv = [args.kestrel, "-nodefaults", "-display", "none", "-serial",
                "null", "-accel", "qtest"]
    else:
        argv = [args.qemu, "-M", "pc", "-accel", "tcg", "-S", "-nodefaults",
                "-display", "none", "-serial", "null"]
    argv += ["-m", "%dM" % mem, "-qtest", "unix:%s,server=on,wait=off" % qt]
    if opts:
        kind, _, rest = opts[0].partition(",")
        argv += ["-object", "%s,id=r,size=%dM%s" % (kind, mem,
                                                    "," + rest if rest
                                                    else ""),
                 "-machine", "memory-backend=r"]
    return argv


def measure(args, vmm, opts, tmp):
    qt = os.path.join(tmp, "%s.qt" % vmm)
    if os.path.exists(qt):
        os.unlink(qt)
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv_for(args, vmm, opts, args.mem, qt),
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        full = None
        if opts and "prealloc=on" in opts[0]:
            # QEMU opens its qtest socket before it preallocates: time
            # both to the moment all of guest RAM is resident.
            while proc_rss(proc.pid) < args.mem * MiB:
                if proc.poll() is not None:
                    raise RuntimeError("%s exited" % vmm)
                time.sleep(0.002)
            full = (time.perf_counter() - t0) * 1000
        q = QtestClient(qt, proc)
        ready = time.perf_counter() - t0
        t = time.perf_counter()
        # above 1 MiB: below it QEMU's pc has ROMs and VGA holes
        for off in range(0, args.touch * MiB, CHUNK):
            q.cmd("memset 0x%x 0x%x 0x5a" % (MiB + off,
                                             min(CHUNK, args.touch * MiB -
                                                 off)))
        touch = time.perf_counter() - t
        maps = smaps(proc.pid)
        ram = max(maps, key=lambda m: m["Size"])
        total_pss = sum(m.get("Pss", 0) for m in maps)
        q.close()
        return {
            "ready": ready * 1000, "touch": touch * 1000, "full": full,
            "rss": (ram.get("Rss", 0) + ram.get("Shared_Hugetlb", 0) +
                    ram.get("Private_Hugetlb", 0)) / 1024,
            "pss": (ram.get("Pss", 0) + ram.get("Shared_Hugetlb", 0) +
                    ram.get("Private_Hugetlb", 0)) / 1024,
            "thp": ram.get("AnonHugePages", 0) / 1024,
            "page": ram.get("KernelPageSize", 0),
            "proc_pss": total_pss / 1024,
        }
    finally:
        proc.kill()
        proc.wait()


def reserve_huge(pages):
    """Reserve @pages 2 MiB pages and mount hugetlbfs; returns (mount,
    undo) or (None, reason)."""
    path = "/proc/sys/vm/nr_hugepages"
    try:
        with open(path) as f:
            before = int(f.read())
        with open(path, "w") as f:
            f.write(str(before + pages))
    except OSError as e:
        return None, "cannot reserve huge pages: %s" % e
    mnt = tempfile.mkdtemp(prefix="bench-hugetlbfs-")

    def undo():
        subprocess.run(["umount", mnt], check=False)
        os.rmdir(mnt)
        with open(path, "w") as f:
            f.write(str(before))
    if subprocess.run(["mount", "-t", "hugetlbfs", "-o", "pagesize=2M",
                       "none", mnt]).returncode != 0:
        undo()
        return None, "cannot mount hugetlbfs"
    return mnt, undo


def main():
    args = benchlib.parse_args(__doc__.splitlines()[0], extra)
    args.qemu_machine = "pc (-accel tcg -S, qtest)"
    tmp = tempfile.mkdtemp(prefix="bench-membackend-")
    huge, undo = reserve_huge(args.mem // 2 + 8)
    notes = ["guest RAM %d MiB, %d MiB written by qtest memset from 1 MiB; "
             "both VMMs without a running guest CPU" % (args.mem, args.touch),
             "this host is shared (2 CPUs, other engineers' builds): "
             "first-touch and prealloc times vary by seconds between runs "
             "for both VMMs (THP allocation); sizes and page sizes do not",
             "host THP: %s; shmem THP: %s" % tuple(
                 open("/sys/kernel/mm/transparent_hugepage/%s" % f).read()
                 .strip() for f in ("enabled", "shmem_enabled"))]
    if not huge:
        notes.append("hugetlbfs row left out: %s" % undo)
    rows = []
    try:
        for label, kopts, qopts in backends(tmp, huge):
            res = {"kestrel": [], "qemu": []}
            for i in range(args.runs):
                for vmm, opts in (("kestrel", kopts), ("qemu", qopts)):
                    r = measure(args, vmm, opts, tmp)
                    res[vmm].append(r)
                    print("  %s %s run %d: %s" % (label, vmm, i + 1, r),
                          file=sys.stderr)
            for key, what, fmt, better in (
                    ("full", "exec until all guest RAM is resident "
                     "(prealloc), ms", "%.0f", "lower"),
                    ("ready", "exec to qtest socket, ms", "%.0f", "lower"),
                    ("touch", "first touch of the written MiB, ms", "%.0f",
                     "lower"),
                    ("rss", "guest RAM Rss, MiB", "%.0f", "lower"),
                    ("pss", "guest RAM Pss, MiB", "%.0f", "lower"),
                    ("thp", "guest RAM AnonHugePages, MiB", "%.0f",
                     "higher"),
                    ("page", "guest RAM KernelPageSize, KiB", "%.0f",
                     "higher"),
                    ("proc_pss", "whole process Pss, MiB", "%.0f", "lower")):
                ks = [r[key] for r in res["kestrel"]]
                qs = [r[key] for r in res["qemu"]]
                if None in ks + qs:
                    continue
                kmed, qmed = benchlib.median(ks), benchlib.median(qs)
                if fmt % kmed == fmt % qmed:
                    verdict = "same"
                elif (kmed < qmed) == (better == "lower"):
                    verdict = "kestrel"
                else:
                    verdict = "QEMU"
                rows.append([label, what, benchlib.spread(ks, fmt),
                             benchlib.spread(qs, fmt),
                             benchlib.ratio(kmed, qmed),
                             "%s is better (%s)" % (verdict, better)
                             if verdict != "same" else "same"])
    finally:
        if huge:
            undo()
    benchlib.report(args, "guest RAM per memory backend (qtest, no vCPU)",
                    ["backend", "what", "kestrel", "QEMU", "kestrel/QEMU",
                     "which way"], rows, notes)


if __name__ == "__main__":
    main()
