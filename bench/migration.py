#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Live migration, kestrel vs QEMU, over loopback, driven by QEMU's QMP.

A source VMM runs the test guest in dirty mode (-m 1024, tg.mb=768, at
tg.rate=0 (flat out), 64 or 256 MiB/s) or idle, on -smp 1 or 2; a
destination started with -incoming defer gets the same capabilities and
parameters and migrate-incoming; the source gets migrate. Per run: the
source's query-migrate total-time, downtime, ram.transferred and
ram.dirty-sync-count once it completes, or "no" if it has not within
--timeout (then migrate_cancel); after a completed one, whether the
destination guest goes on verifying its pages with errors=0. Then the
switch-over alone: an idle -m 64 guest on 1, 2 and 8 vCPUs, the source's
query-migrate downtime.

Configurations (--configs): default (nothing set), autoconverge
(capability auto-converge), unlimited (max-bandwidth 100 GiB/s, QEMU 7.2
counting bytes/s), multifd1/2/4 (capability multifd, multifd-channels N,
multifd-compression none, max-bandwidth 100 GiB/s). A VMM that fails a
run (an option or command it does not know yet, a crash) gets FAILED and
the reason in its cell; the other runs go on."""

import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import time

import benchlib

sys.path.insert(0, os.path.join(benchlib.SRCDIR, "tests", "functional"))
from ktest import Qmp  # noqa: E402

MiB = 1 << 20
MEM = 1024                      # -m of the RAM runs
DIRTY_MB = 768                  # tg.mb
SWITCH_MEM = 64                 # -m of the switch-over runs
UNLIMITED = 100 << 30           # max-bandwidth, bytes/s: 100 GiB/s
VMMS = ("kestrel", "qemu")
LABEL = {"kestrel": "kestrel", "qemu": "QEMU"}

# name: (what it sets, capabilities, parameters). Both sides get both:
# multifd and multifd-channels must match on the destination, and the
# others are harmless there.
CONFIGS = {
    "default": ("nothing set", {}, {}),
    "autoconverge": ("capability auto-converge", {"auto-converge": True}, {}),
    "unlimited": ("max-bandwidth 100 GiB/s", {},
                  {"max-bandwidth": UNLIMITED}),
}
for _n in (1, 2, 4):
    CONFIGS["multifd%d" % _n] = (
        "capability multifd, multifd-channels %d, multifd-compression none, "
        "max-bandwidth 100 GiB/s" % _n, {"multifd": True},
        {"max-bandwidth": UNLIMITED, "multifd-channels": _n,
         "multifd-compression": "none"})

# The matrix, and --quick's.
FULL = {"rates": "idle,max,64,256", "smp": "1,2",
        "configs": "qemu:default,qemu:autoconverge,unlimited,"
                   "kestrel:default,kestrel:autoconverge,"
                   "kestrel:multifd1,kestrel:multifd2,kestrel:multifd4",
        "switchover_smp": "1,2,8", "switchover_runs": 5, "timeout": 60}
QUICK = {"rates": "idle,max", "smp": "1", "configs": "default,unlimited",
         "switchover_smp": "1,8", "switchover_runs": 3, "timeout": 20}

READY = r"^TG READY "
# "TG DIRTY gen=..." from a one-vCPU guest; "TG DIRTY cpu=<i> gen=..." from
# the per-vCPU dirty mode (one line per vCPU).
DIRTY_RX = re.compile(r"^TG DIRTY (?:cpu=(\d+) )?gen=(\d+) written_mb=(\d+) "
                      r"verified=(\d+) errors=(\d+)")
FINAL = ("completed", "failed", "cancelled")


class Failed(Exception):
    pass


def extra(ap):
    ap.add_argument("--only", choices=VMMS,
                    help="run one VMM only (implies --no-record)")
    ap.add_argument("--quick", action="store_true",
                    help="~2 min subset: rates %s, -smp %s, configs %s, "
                    "switch-over -smp %s x%d, timeout %d s (options given "
                    "explicitly win)" % (
                        QUICK["rates"], QUICK["smp"], QUICK["configs"],
                        QUICK["switchover_smp"], QUICK["switchover_runs"],
                        QUICK["timeout"]))
    ap.add_argument("--rates", help="dirty rates, MiB/s: idle, max (= "
                    "tg.rate=0) or a number; 'none' skips (default %s)"
                    % FULL["rates"])
    ap.add_argument("--smp", help="vCPU counts of the RAM runs (default %s)"
                    % FULL["smp"])
    ap.add_argument("--configs", help="comma-separated NAME (every VMM) or "
                    "VMM:NAME; names: %s (default %s)"
                    % (", ".join(CONFIGS), FULL["configs"]))
    ap.add_argument("--switchover-smp", help="vCPU counts of the switch-over "
                    "runs; 'none' skips (default %s)"
                    % FULL["switchover_smp"])
    ap.add_argument("--switchover-runs", type=int,
                    help="switch-over runs per VMM and vCPU count "
                    "(default %d)" % FULL["switchover_runs"])
    ap.add_argument("--runs", type=int, default=1,
                    help="runs of each RAM migration per VMM (default "
                    "%(default)s)")
    ap.add_argument("--timeout", type=int, help="seconds a migration may "
                    "take before migrate_cancel (default %d)"
                    % FULL["timeout"])
    ap.add_argument("--transport", choices=("tcp", "unix"), default="tcp",
                    help="tcp:127.0.0.1:PORT or unix:PATH (default "
                    "%(default)s)")
    ap.add_argument("--qemu-accel", default="kvm",
                    help="QEMU's accelerator (default %(default)s; tcg only "
                    "to try the script where /dev/kvm is missing)")


def settle(args):
    """Fill in what --quick or the full matrix leaves unset; parse lists."""
    base = QUICK if args.quick else FULL
    for key in ("rates", "smp", "configs", "switchover_smp",
                "switchover_runs", "timeout"):
        if getattr(args, key) is None:
            setattr(args, key, base[key])

    def words(s):
        return [w.strip() for w in str(s).split(",")
                if w.strip() and w.strip() != "none"]

    rates = []
    for w in words(args.rates):
        if w in ("idle", "max"):
            rates.append(w)
        elif w.isdigit():
            rates.append("max" if int(w) == 0 else int(w))
        else:
            sys.exit("--rates: %r is not idle, max or a number" % w)
    args.rates = rates
    args.smp = [int(w) for w in words(args.smp)]
    args.switchover_smp = [int(w) for w in words(args.switchover_smp)]
    vmms = [args.only] if args.only else list(VMMS)
    runs = []
    for w in words(args.configs):
        who, _, name = w.rpartition(":")
        if name not in CONFIGS or (who and who not in VMMS):
            sys.exit("--configs: unknown %r (names: %s)"
                     % (w, ", ".join(CONFIGS)))
        for vmm in ([who] if who else VMMS):
            if vmm in vmms and (vmm, name) not in runs:
                runs.append((vmm, name))
    args.configs = runs
    args.vmms = vmms
    if args.only:
        args.no_record = True


def config_names(args):
    """The configurations asked for, in order, each once."""
    names = []
    for _, name in args.configs:
        if name not in names:
            names.append(name)
    return names


def vmm_argv(args, vmm, append, mem, smp):
    if vmm == "kestrel":
        return benchlib.kestrel_argv(args, args.testguest, append, mem, smp)
    argv = benchlib.qemu_argv(args, args.testguest, append, mem, smp)
    if args.qemu_accel != "kvm":
        i = argv.index("-enable-kvm")
        argv[i:i + 1] = ["-accel", args.qemu_accel]
    return argv


def guest_append(rate):
    if rate == "idle":
        return "tg.mode=idle"
    return "tg.mode=dirty tg.mb=%d tg.rate=%d" % (
        DIRTY_MB, 0 if rate == "max" else rate)


def guest_label(rate, smp, mem=MEM):
    what = ("idle" if rate == "idle" else "dirty max" if rate == "max"
            else "dirty %d MiB/s" % rate)
    return "%s, -m %d -smp %d" % (what, mem, smp)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def short(exc):
    text = str(exc).strip().splitlines()
    text = text[0] if text else type(exc).__name__
    return text.replace("|", "/")[:100]


def last_words(vm):
    vm.pump()
    for _, line in reversed(vm.lines):
        if line.strip():
            return line.strip()
    return "no output"


def connect(vm, path, who, timeout=20):
    """QMP on @path once @vm has created it; Failed if @vm exits first."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if vm.proc.poll() is not None:
            raise Failed("%s exited %s: %s" % (who, vm.proc.returncode,
                                               last_words(vm)))
        if time.monotonic() > deadline:
            raise Failed("%s: no QMP socket in %d s" % (who, timeout))
        vm.pump(0.05)
        if vm._eof:
            time.sleep(0.05)
    try:
        return Qmp(path, timeout=timeout)
    except (OSError, EOFError, ValueError) as e:
        try:                # say why, if it is exiting
            vm.proc.wait(2)
        except Exception:
            pass
        if vm.proc.poll() is not None:
            raise Failed("%s exited %s: %s" % (who, vm.proc.returncode,
                                               last_words(vm)))
        raise Failed("%s: QMP: %s" % (who, e or type(e).__name__))


def qmp(q, who, name, arguments=None):
    """@name's return value; Failed on an error reply or a lost socket."""
    try:
        reply = q.execute(name, arguments)
    except (OSError, EOFError, ValueError) as e:
        raise Failed("%s: %s: %s" % (who, name, e or type(e).__name__))
    if "error" in reply:
        raise Failed("%s: %s: %s" % (who, name, reply["error"].get(
            "desc", reply["error"])))
    return reply.get("return", {})


def configure(q, who, cfg):
    _, caps, params = CONFIGS[cfg]
    if caps:
        qmp(q, who, "migrate-set-capabilities", {"capabilities": [
            {"capability": c, "state": s} for c, s in caps.items()]})
    if params:
        qmp(q, who, "migrate-set-parameters", params)


class DirtyWatch:
    """Follows a VMM's TG DIRTY lines: generation reached and errors per
    vCPU (key None for the one-vCPU line without cpu=)."""

    def __init__(self, vm, smp):
        self.vm, self.smp, self.idx = vm, smp, 0
        self.first, self.gen, self.errors = {}, {}, {}
        self.corrupt, self.fatal = [], None

    def update(self):
        self.vm.pump()
        while self.idx < len(self.vm.lines):
            line = self.vm.lines[self.idx][1]
            self.idx += 1
            m = DIRTY_RX.match(line)
            if m:
                cpu = None if m.group(1) is None else int(m.group(1))
                self.first.setdefault(cpu, int(m.group(2)))
                self.gen[cpu] = int(m.group(2))
                self.errors[cpu] = int(m.group(5))
            elif line.startswith("TG DIRTY") and "CORRUPT" in line:
                self.corrupt.append(line)
            elif line.startswith("TG ERROR") and not self.fatal:
                self.fatal = line

    def keys(self):
        if any(k is not None for k in self.gen):
            return set(range(self.smp))
        return {None}

    def reached(self, want):
        """True once every vCPU's generation is at least want(key)."""
        return all(k in self.gen and self.gen[k] >= want(k)
                   for k in self.keys())

    def error_count(self):
        return sum(self.errors.values()) or len(self.corrupt)


def pass_seconds(rate):
    """A bound on one pass over tg.mb: at the rate, or flat out."""
    return 20 if rate == "max" else DIRTY_MB / rate


def warm_up(src, rate, smp, who):
    """Wait until every page of tg.mb has been written (generation 2), so
    the migration moves a working set, not never-touched zero pages."""
    watch = DirtyWatch(src, smp)
    deadline = time.monotonic() + 1.5 * pass_seconds(rate) + 30
    while not watch.reached(lambda k: 2):
        watch.update()
        if watch.fatal or watch.error_count():
            raise Failed("%s before migrating: %s" % (
                who, watch.fatal or watch.corrupt[:1] or "errors"))
        if src.proc.poll() is not None:
            raise Failed("%s exited %s: %s" % (who, src.proc.returncode,
                                               last_words(src)))
        if time.monotonic() > deadline:
            raise Failed("%s: guest did not finish its first pass (lines "
                         "from vCPUs %s)" % (who, sorted(
                             watch.gen, key=str) or "none"))
        src.pump(0.2)


def check_dest(args, qd, dst, rate, smp, who):
    """After a completed migration: "clean" once the destination guest
    has re-verified every page with errors=0 (each vCPU's generation two
    past its first line there), "CORRUPT" on any error; an idle guest
    prints nothing, so "running" is all it can say."""
    deadline = time.monotonic() + 10
    while True:
        status = qmp(qd, who, "query-status").get("status")
        if status == "running":
            break
        if time.monotonic() > deadline:
            return "broken: destination %s" % status
        dst.pump(0.1)
    if rate == "idle":
        dst.pump(1)
        if dst.proc.poll() is not None:
            return "broken: destination exited"
        bad = [ln for _, ln in dst.lines if ln.startswith("TG ERROR")]
        return "broken: %s" % bad[0] if bad else "running"
    watch = DirtyWatch(dst, smp)
    limit = 2 * pass_seconds(rate) + 15
    deadline = time.monotonic() + limit
    while True:
        watch.update()
        if watch.error_count():
            # Say which pages, for whoever debugs it.
            dst.pump(1)
            watch.update()
            for line in watch.corrupt[:4]:
                print("  %s: %s" % (who, line), file=sys.stderr)
            return "CORRUPT (errors=%d)" % watch.error_count()
        if watch.fatal:
            return "broken: %s" % watch.fatal
        if watch.gen and watch.reached(lambda k: watch.first[k] + 2):
            return "clean"
        if dst.proc.poll() is not None:
            return "broken: destination exited %s" % dst.proc.returncode
        if time.monotonic() > deadline:
            return ("clean (partial: %d s)" % limit if watch.gen else
                    "broken: no TG DIRTY line in %d s" % limit)
        dst.pump(0.2)


def migrate_once(args, tmp, vmm, cfg, rate, smp, mem, check=True):
    """One migration; a dict of what it measured (error set if it could
    not be done)."""
    r = {"total": None, "downtime": None, "bytes": None, "passes": None,
         "converged": None, "dest": None, "error": None, "throttle": 0}
    append = guest_append(rate)
    ssock, dsock = (os.path.join(tmp, n + ".qmp") for n in ("src", "dst"))
    msock = os.path.join(tmp, "mig.sock")
    for p in (ssock, dsock, msock):
        if os.path.exists(p):
            os.unlink(p)
    uri = ("tcp:127.0.0.1:%d" % free_port() if args.transport == "tcp"
           else "unix:" + msock)
    qmpopt = "unix:%s,server=on,wait=off"
    src = dst = qs = qd = None
    try:
        src = benchlib.Vmm(vmm_argv(args, vmm, append, mem, smp)
                           + ["-qmp", qmpopt % ssock])
        dst = benchlib.Vmm(vmm_argv(args, vmm, append, mem, smp)
                           + ["-qmp", qmpopt % dsock, "-incoming", "defer"])
        # The destination and the settings first: what a VMM does not
        # support fails here, before the source's warm-up.
        qd = connect(dst, dsock, "destination")
        configure(qd, "destination", cfg)
        qmp(qd, "destination", "migrate-incoming", {"uri": uri})
        qs = connect(src, ssock, "source")
        configure(qs, "source", cfg)
        try:
            src.wait_line(READY, 60)
        except RuntimeError as e:
            raise Failed("source: " + short(e))
        if rate != "idle":
            warm_up(src, rate, smp, "source")

        qmp(qs, "source", "migrate", {"uri": uri})
        t0 = time.monotonic()
        cancelled = False
        info = {}
        while True:
            info = qmp(qs, "source", "query-migrate")
            status = info.get("status")
            if status in FINAL:
                break
            if "ram" in info:
                r["bytes"] = info["ram"].get("transferred")
                r["passes"] = info["ram"].get("dirty-sync-count")
            r["throttle"] = max(r["throttle"],
                                info.get("cpu-throttle-percentage", 0))
            if time.monotonic() - t0 > args.timeout + 15:
                raise Failed("source: still %s %d s after migrate_cancel"
                             % (status, 15))
            if not cancelled and time.monotonic() - t0 > args.timeout:
                qmp(qs, "source", "migrate_cancel")
                cancelled = True
            src.pump()
            dst.pump()
            time.sleep(0.1)
        if status == "failed":
            raise Failed("migration failed: %s" % info.get("error-desc", "?"))
        if status == "cancelled":
            r["converged"] = "no"
            return r
        r["converged"] = "yes"
        r["total"] = info.get("total-time")
        r["downtime"] = info.get("downtime")
        r["bytes"] = info.get("ram", {}).get("transferred")
        r["passes"] = info.get("ram", {}).get("dirty-sync-count")
        if check:
            r["dest"] = check_dest(args, qd, dst, rate, smp, "destination")
        return r
    except Failed as e:
        r["error"] = short(e)
        return r
    except (RuntimeError, OSError, EOFError, ValueError, KeyError) as e:
        r["error"] = "%s: %s" % (type(e).__name__, short(e))
        return r
    finally:
        for q in (qs, qd):
            if q:
                try:
                    q.close()
                except OSError:
                    pass
        for vm in (src, dst):
            if vm:
                vm.kill()
        for p in (ssock, dsock, msock):
            if os.path.exists(p):
                os.unlink(p)


def describe(r):
    if r["error"]:
        return "FAILED: %s" % r["error"]
    if r["converged"] == "no":
        return "no"
    return "yes, %s" % r["dest"] if r["dest"] else "yes"


def log(vmm, what, r):
    if r["error"]:
        text = "FAILED: %s" % r["error"]
    elif r["converged"] == "no":
        text = "not converged, cancelled; %.0f MiB, %s passes so far" % (
            (r["bytes"] or 0) / MiB, r["passes"])
    else:
        text = "%s ms, downtime %s ms, %.0f MiB, %s passes, %s" % (
            r["total"], r["downtime"], (r["bytes"] or 0) / MiB, r["passes"],
            r["dest"] or "-")
    if r["throttle"]:
        text += ", throttled up to %d%%" % r["throttle"]
    print("  %s %s: %s" % (vmm, what, text), file=sys.stderr, flush=True)


def figures(runs, key, scale, fmt):
    """(cell text, median or None) for one VMM's runs of one point."""
    if not runs:
        return "not run", None
    done = [r[key] * scale for r in runs
            if r["converged"] == "yes" and r[key] is not None]
    if done:
        return benchlib.spread(done, fmt), benchlib.median(done)
    cancelled = [r[key] * scale for r in runs
                 if r["converged"] == "no" and r[key] is not None]
    if cancelled and key in ("bytes", "passes"):
        return benchlib.spread(cancelled, fmt) + " by cancel", None
    return "—", None


def outcome(runs):
    if not runs:
        return "not run"
    seen = []
    for r in runs:
        d = describe(r)
        if d not in seen:
            seen.append(d)
    if len(runs) == 1:
        return seen[0]
    return "; ".join("%d× %s" % (sum(describe(r) == d for r in runs), d)
                     for d in seen)


METRICS = (("total time, ms", "total", 1, "%.0f"),
           ("downtime, ms", "downtime", 1, "%.0f"),
           ("sent (ram.transferred), MiB", "bytes", 1 / MiB, "%.0f"),
           ("passes (dirty-sync-count)", "passes", 1, "%.0f"))


def ram_rows(args, res):
    rows = []
    for smp in args.smp:
        for rate in args.rates:
            for name in config_names(args):
                per = {v: res.get((v, name, rate, smp), []) for v in VMMS}
                guest = guest_label(rate, smp)
                for what, key, scale, fmt in METRICS:
                    k, km = figures(per["kestrel"], key, scale, fmt)
                    q, qm = figures(per["qemu"], key, scale, fmt)
                    rows.append([guest, name, what, k, q,
                                 benchlib.ratio(km, qm)
                                 if km is not None and qm is not None
                                 else "", "lower"])
                rows.append([guest, name, "converged in %d s, destination"
                             % args.timeout, outcome(per["kestrel"]),
                             outcome(per["qemu"]), "", "yes, clean"])
    return rows


def switch_rows(args, res):
    rows = []
    for smp in args.switchover_smp:
        per = {v: res.get((v, "switch", smp), []) for v in VMMS}
        cells = []
        for v in VMMS:
            cell, med = figures(per[v], "downtime", 1, "%.0f")
            bad = [describe(r) for r in per[v]
                   if describe(r) != "yes, running"]
            if bad:
                cell = "%s (%d× %s)" % (cell, len(bad), bad[0]) \
                    if med is not None else bad[0]
            cells.append((cell, med))
        (k, km), (q, qm) = cells
        rows.append([guest_label("idle", smp, SWITCH_MEM),
                     "switch-over downtime, ms", k, q,
                     benchlib.ratio(km, qm)
                     if km is not None and qm is not None else "", "lower"])
    return rows


def notes(args, switch=False):
    out = []
    if args.qemu_accel != "kvm":
        out.append("QEMU -accel %s (not KVM: not comparable)"
                   % args.qemu_accel)
    out.append("loopback, %s; destination -incoming defer + "
               "migrate-incoming; figures from the source's query-migrate"
               % ("tcp:127.0.0.1:PORT" if args.transport == "tcp"
                  else "unix:PATH"))
    if switch:
        out.append("guest tg.mode=idle, default configuration; runs: %d per "
                   "VMM and vCPU count, alternating" % args.switchover_runs)
        return out
    out.append("guest: dirty = `tg.mode=dirty tg.mb=%d tg.rate=R` (max: "
               "tg.rate=0), migrated once every page has been written; "
               "idle = `tg.mode=idle`" % DIRTY_MB)
    names = config_names(args)
    out.append("configs: " + "; ".join(
        "%s = %s (%s)" % (n, CONFIGS[n][0], ", ".join(
            LABEL[v] for v, m in args.configs if m == n)) for n in names))
    out.append("runs: %d per VMM and point, alternating; timeout %d s, then "
               "migrate_cancel (converged: no; bytes and passes as of the "
               "cancel)" % (args.runs, args.timeout))
    out.append("destination: clean = every page re-verified there, errors=0;"
               " CORRUPT = an error; running = idle guest, status running")
    return out


def main():
    args = benchlib.parse_args(__doc__.splitlines()[0], extra)
    settle(args)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    tmp = tempfile.mkdtemp(prefix="kestrel-bench-mig-")
    res = {}
    try:
        for _ in range(args.runs):
            for smp in args.smp:
                for rate in args.rates:
                    for name in config_names(args):
                        for vmm in args.vmms:
                            if (vmm, name) in args.configs:
                                r = migrate_once(args, tmp, vmm, name, rate,
                                                 smp, MEM)
                                res.setdefault((vmm, name, rate, smp),
                                               []).append(r)
                                log(vmm, "%s %s" % (
                                    name, guest_label(rate, smp)), r)
        for _ in range(args.switchover_runs):
            for smp in args.switchover_smp:
                for vmm in args.vmms:
                    r = migrate_once(args, tmp, vmm, "default", "idle", smp,
                                     SWITCH_MEM)
                    res.setdefault((vmm, "switch", smp), []).append(r)
                    log(vmm, "switch-over %s" % guest_label(
                        "idle", smp, SWITCH_MEM), r)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    header = ["guest", "config", "what", "kestrel", "QEMU", "kestrel/QEMU",
              "better"]
    if args.rates and args.smp and args.configs:
        benchlib.report(args, "live migration, test guest -m %d" % MEM,
                        header, ram_rows(args, res), notes(args))
    if args.switchover_smp and args.switchover_runs:
        benchlib.report(args, "live migration switch-over, idle -m %d"
                        % SWITCH_MEM, header[:1] + header[2:],
                        switch_rows(args, res), notes(args, switch=True))


if __name__ == "__main__":
    main()
