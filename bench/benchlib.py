# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared plumbing of the side-by-side benchmarks (kestrel vs QEMU).

Every benchmark runs the same guest with the same workload under both VMMs in
one run, interleaving the runs so that drift on a shared machine hits both
alike, and appends its figures with their ratio to bench/RESULTS.md.
"""

import argparse
import datetime
import os
import re
import select
import shutil
import signal
import statistics
import subprocess
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(BENCH_DIR)
RESULTS = os.path.join(BENCH_DIR, "RESULTS.md")

# QEMU's machine for the test guest: microvm boots a PVH ELF with no
# firmware (qboot only), so its start-up is QEMU's own; -M pc adds ~2.5 s
# of SeaBIOS. The default CPU model: -cpu host aborts on our PVM hosts.
QEMU_MACHINE = "microvm"


def parse_args(description, extra=None):
    """Common options; @extra(parser) adds a benchmark's own."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--kestrel", default=os.environ.get(
        "KESTREL", os.path.join(SRCDIR, "src", "kestrel")),
        help="the kestrel binary (env KESTREL; default src/kestrel)")
    ap.add_argument("--testguest", default=os.environ.get(
        "TESTGUEST", os.path.join(SRCDIR, "tests", "guest", "testguest.elf")),
        help="the test guest (env TESTGUEST)")
    ap.add_argument("--qemu", default=shutil.which("qemu-system-x86_64")
                    or "/usr/bin/qemu-system-x86_64")
    ap.add_argument("--qemu-machine", default=QEMU_MACHINE,
                    help="QEMU -M for the test guest (default %(default)s)")
    ap.add_argument("--no-record", action="store_true",
                    help="print only; do not append to bench/RESULTS.md")
    if extra:
        extra(ap)
    args = ap.parse_args()
    for path in (args.kestrel, args.testguest, args.qemu):
        if not os.path.exists(path):
            ap.error("%s does not exist" % path)
    return args


def kestrel_argv(args, kernel, append, mem=128, smp=None):
    argv = [args.kestrel, "-nographic", "-m", str(mem)]
    if smp:
        argv += ["-smp", str(smp)]
    return argv + ["-kernel", kernel, "-append", append]


def qemu_argv(args, kernel, append, mem=128, smp=None):
    argv = [args.qemu, "-enable-kvm", "-M", args.qemu_machine, "-nodefaults",
            "-nographic", "-serial", "stdio", "-m", str(mem)]
    if smp:
        argv += ["-smp", str(smp)]
    return argv + ["-kernel", kernel, "-append", append]


class Vmm:
    """A VMM process whose console (stdout+stderr) is read line by line."""

    def __init__(self, argv):
        self.argv = [str(a) for a in argv]
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True)
        self.lines = []
        self._buf = b""
        self._eof = False

    def wait_line(self, pattern, timeout):
        """Return (seconds since exec, re.Match) of the first line matching
        @pattern; raise RuntimeError on timeout or exit."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        idx = 0
        while True:
            while idx < len(self.lines):
                t, line = self.lines[idx]
                idx += 1
                m = rx.search(line)
                if m:
                    return t, m
            left = deadline - time.monotonic()
            if self._eof or left <= 0:
                raise RuntimeError("%s: no /%s/ (%s); output:\n%s" % (
                    os.path.basename(self.argv[0]), pattern,
                    "exited %s" % self.proc.poll() if self._eof
                    else "timeout", self.text()))
            self._read(min(left, 0.5))

    def _read(self, timeout):
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not r:
            return
        data = os.read(self.proc.stdout.fileno(), 65536)
        now = time.perf_counter() - self.t0
        if not data:
            self._eof = True
            return
        self._buf += data
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            self.lines.append(
                (now, line.decode(errors="replace").rstrip("\r")))

    def pump(self, timeout=0):
        """Read what the VMM has printed so far into self.lines, waiting up
        to @timeout s for the first of it (keeps its pipe from filling
        while the caller is busy elsewhere)."""
        self._read(timeout)
        for _ in range(256):
            if self._eof or not select.select([self.proc.stdout], [], [],
                                              0)[0]:
                break
            self._read(0)

    def text(self):
        return "\n".join(line for _, line in self.lines[-40:])

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        self.proc.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()


def median(xs):
    return statistics.median(xs)


def spread(xs, fmt, scale=1):
    """The median of @xs and, for several, their range: "20.1 (19.8-28.3)"."""
    med = fmt % (median(xs) * scale)
    if len(xs) < 2:
        return med
    return "%s (%s-%s)" % (med, fmt % (min(xs) * scale),
                           fmt % (max(xs) * scale))


def ratio(k, q):
    """kestrel / QEMU, as text."""
    if not q:
        return "n/a"
    return "%.2f" % (k / q)


def machine():
    """One line naming the machine: CPU model, CPUs, memory."""
    model = "unknown CPU"
    try:
        out = subprocess.run(["lscpu"], stdout=subprocess.PIPE,
                             text=True).stdout
        m = re.search(r"^Model name:\s*(.+)$", out, re.M)
        if m:
            model = m.group(1).strip()
    except OSError:
        pass
    with open("/proc/meminfo") as f:
        kib = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1))
    return "%s, %d CPUs, %.1f GiB" % (model, os.cpu_count(),
                                      kib / (1 << 20))


def _first_line(argv):
    try:
        out = subprocess.run(argv, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True).stdout
    except OSError:
        return ""
    return out.splitlines()[0].strip() if out.strip() else ""


def versions(args):
    """kestrel's version and the tree's git revision; QEMU's version."""
    kv = _first_line([args.kestrel, "--version"])
    kv = re.sub(r"^kestrel version (\S+).*", r"\1", kv) or "?"
    rev = _first_line(["git", "-C", SRCDIR, "describe", "--always",
                       "--dirty"]) or "?"
    qv = _first_line([args.qemu, "--version"])
    qv = qv.replace("QEMU emulator version ", "") or "?"
    return "kestrel %s (%s, tree %s), QEMU %s" % (kv, args.kestrel, rev, qv)


def report(args, title, header, rows, notes=()):
    """Print a markdown table and append it, dated, to bench/RESULTS.md.

    @header and each row are lists of cells."""
    now = datetime.datetime.now(datetime.timezone.utc)
    lines = ["## %s: %s" % (now.strftime("%Y-%m-%d %H:%M UTC"), title), "",
             "- machine: %s" % machine(),
             "- %s; QEMU -M %s, default CPU model" % (versions(args),
                                                      args.qemu_machine)]
    lines += ["- %s" % n for n in notes]
    lines += ["- cells: median (min-max) over the runs"]
    lines += ["", "| " + " | ".join(header) + " |",
              "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.no_record:
        return
    new = not os.path.exists(RESULTS)
    with open(RESULTS, "a") as f:
        if new:
            f.write("# Benchmark results\n\nAppended by bench/*.py; "
                    "newest last. Ratios are kestrel / QEMU.\n")
        f.write("\n" + text)
