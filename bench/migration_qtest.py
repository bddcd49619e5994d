#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Live migration's engine, kestrel vs QEMU, on qtest machines (no vCPU).

Needs no /dev/kvm. Each VMM builds its machine (-m 1024: RAM, board
devices) with no guest running: kestrel with -accel qtest; QEMU 7.2 (whose
Debian build has no qtest accelerator) with -accel tcg, the same -qtest
server and a 64 KiB firmware whose reset vector is `cli; hlt`, so its one
vCPU halts on its first instruction and never touches RAM. The bench
writes guest memory itself through the qtest protocol, before and (for
the dirty workload) during the migration, so what is measured is the
migration engine: RAM scanning, zero-page detection, the stream and its
sockets, dirty-bitmap syncs, the switch-over of device state. Not a
guest's dirtying behaviour, and no vCPU to stop.

Workloads (--workloads): a = 768 MiB written, idle; b = the same, plus a
client thread rewriting a 64 MiB window at 64 MiB/s while the migration
runs; c = mostly zero: 16 MiB written of 1024. Configurations (--configs):
default, unlimited (max-bandwidth 100 GiB/s), multifd2, multifd4 and
multifd4-zstd (capability multifd, its channels and compression, 100
GiB/s). Per run, from the source's query-migrate: total time, downtime,
ram.transferred, ram.dirty-sync-count; then the destination's memory is
compared with the source's (and with what was written) through qtest,
and for workload c the destination's VmHWM."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import benchlib

sys.path.insert(0, os.path.join(benchlib.SRCDIR, "tests", "functional"))
from ktest import Qmp  # noqa: E402

KiB = 1 << 10
MiB = 1 << 20
PAGE = 4096
MEM = 1024                      # -m, MiB
UNLIMITED = 100 << 30           # max-bandwidth, bytes/s (QEMU 7.2: no 0)
TIMEOUT = 60                    # s a migration may take, then cancel
CHUNK = 64 * KiB                # memset unit of the fill and the dirtier
FILL = (1 * MiB, 768 * MiB)     # workloads a, b: [1 MiB, 769 MiB)
WINDOW = (64 * MiB, 64 * MiB)   # workload b: rewritten during migration
DIRTY_RATE = 64 * MiB           # bytes/s of the dirtier
# Workload c: 1 MiB at the start of each 64 MiB (the first at 1 MiB).
SPARSE = [(max(i * 64 * MiB, MiB), MiB) for i in range(16)]
MAGIC = 0x4b535452              # "KSTR": high half of a page's stamp
BATCH = 256                     # qtest commands in flight at most
VMMS = ("kestrel", "qemu")
LABEL = {"kestrel": "kestrel", "qemu": "QEMU"}
FINAL = ("completed", "failed", "cancelled")
POLL = 0.02                     # s between QMP polls during a migration

WORKLOADS = {
    "a": "768 MiB written, idle",
    "b": "768 MiB, 64 MiB rewritten at 64 MiB/s during migration",
    "c": "mostly zero: 16 MiB written of 1024",
}

# name: (what it sets, capabilities, parameters); both sides get both.
CONFIGS = {
    "default": ("nothing set: each VMM's defaults", {}, {}),
    "unlimited": ("max-bandwidth 100 GiB/s", {},
                  {"max-bandwidth": UNLIMITED}),
}
for _n, _c in ((2, "none"), (4, "none"), (4, "zstd")):
    CONFIGS["multifd%d%s" % (_n, "-zstd" if _c != "none" else "")] = (
        "capability multifd, multifd-channels %d, multifd-compression %s, "
        "max-bandwidth 100 GiB/s" % (_n, _c), {"multifd": True},
        {"multifd-channels": _n, "multifd-compression": _c,
         "max-bandwidth": UNLIMITED})

FULL = {"workloads": "a,b,c", "runs": 3,
        "configs": "default,unlimited,multifd2,multifd4,multifd4-zstd"}
QUICK = {"workloads": "a,c", "runs": 1, "configs": "default,unlimited"}

# QEMU's firmware: 64 KiB of hlt, `cli; hlt; jmp .-1` at the reset vector.
HALT_BIOS = bytearray(b"\xf4" * 65536)
HALT_BIOS[0xfff0:0xfff4] = b"\xfa\xf4\xeb\xfd"


class Failed(Exception):
    pass


def extra(ap):
    ap.set_defaults(qemu_machine="pc")
    ap.add_argument("--quick", action="store_true",
                    help="workloads %s, configs %s, %d run (options given "
                    "explicitly win)" % (QUICK["workloads"],
                                         QUICK["configs"], QUICK["runs"]))
    ap.add_argument("--runs", type=int, help="runs of each cell per VMM "
                    "(default %d)" % FULL["runs"])
    ap.add_argument("--workloads", help="comma-separated: %s (default %s)"
                    % ("; ".join("%s = %s" % kv for kv in WORKLOADS.items()),
                       FULL["workloads"]))
    ap.add_argument("--configs", help="comma-separated NAME (both VMMs) or "
                    "VMM:NAME; names: %s (default %s)"
                    % (", ".join(CONFIGS), FULL["configs"]))
    ap.add_argument("--timeout", type=int, default=TIMEOUT,
                    help="seconds a migration may take before "
                    "migrate_cancel (default %(default)s)")
    ap.add_argument("--no-append", dest="no_record", action="store_true",
                    help="print only (same as --no-record)")


def settle(args):
    base = QUICK if args.quick else FULL
    for key in ("workloads", "runs", "configs"):
        if getattr(args, key) is None:
            setattr(args, key, base[key])

    def words(s):
        return [w.strip() for w in str(s).split(",") if w.strip()]

    args.workloads = words(args.workloads)
    for w in args.workloads:
        if w not in WORKLOADS:
            sys.exit("--workloads: unknown %r (a, b, c)" % w)
    runs = []
    for w in words(args.configs):
        who, _, name = w.rpartition(":")
        if name not in CONFIGS or (who and who not in VMMS):
            sys.exit("--configs: unknown %r (names: %s)"
                     % (w, ", ".join(CONFIGS)))
        for vmm in ([who] if who else VMMS):
            if (vmm, name) not in runs:
                runs.append((vmm, name))
    args.configs = runs


def config_names(args):
    names = []
    for _, name in args.configs:
        if name not in names:
            names.append(name)
    return names


# -- what is written ---------------------------------------------------------

def value(chunk, gen):
    """The byte a 64 KiB chunk (global index) is memset to in generation
    @gen (0: the fill; 1, 2, ...: the dirtier's passes); never 0, and
    different for each generation below 255."""
    return 1 + (chunk * 7 + gen) % 255


def stamp(page):
    """The fill's first quadword of a page: MAGIC and the page's index."""
    return MAGIC << 32 | page


def regions(workload):
    return SPARSE if workload == "c" else [FILL]


def fill_cmds(workload):
    """The qtest commands of the fill: each 64 KiB chunk memset to its
    generation-0 byte, then each page's first quadword stamped."""
    for start, size in regions(workload):
        for addr in range(start, start + size, CHUNK):
            yield "memset 0x%x 0x%x 0x%x" % (addr, CHUNK,
                                               value(addr // CHUNK, 0))
        for addr in range(start, start + size, PAGE):
            yield "writeq 0x%x 0x%x" % (addr, stamp(addr // PAGE))


def written(workload, addr):
    return any(s <= addr < s + n for s, n in regions(workload))


def in_window(workload, addr):
    return workload == "b" and WINDOW[0] <= addr < WINDOW[0] + WINDOW[1]


def expected_q(addr):
    """First quadword of a page as the fill left it."""
    return stamp(addr // PAGE)


def expected_page(addr):
    v = value(addr // CHUNK, 0)
    return stamp(addr // PAGE).to_bytes(8, "little") + bytes([v]) * (PAGE - 8)


def gen_of(addr, q):
    """The generation a window page's first quadword shows, or None."""
    if q == stamp(addr // PAGE):
        return 0
    b = q & 0xff
    if q != int.from_bytes(bytes([b]) * 8, "little") or b == 0:
        return None
    return (b - 1 - (addr // CHUNK) * 7) % 255


# -- qtest client ------------------------------------------------------------

class Qtest:
    """QEMU's qtest line protocol, with pipelining (at most BATCH commands
    in flight: kestrel writes its answers blocking)."""

    def __init__(self, path, who, timeout=20):
        deadline = time.monotonic() + timeout
        self.who = who
        self.sock = socket.socket(socket.AF_UNIX)
        while True:
            try:
                self.sock.connect(path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise Failed("%s: no qtest socket in %d s"
                                 % (who, timeout))
                time.sleep(0.02)
        self.sock.settimeout(timeout)
        self.file = self.sock.makefile("rwb")

    def _answer(self, line):
        ans = self.file.readline().decode().strip()
        if not ans.startswith("OK"):
            raise Failed("%s: qtest %r: %s" % (self.who, line[:60],
                                               ans[:80] or "EOF"))
        return ans[3:]

    def cmd(self, line):
        self.file.write(line.encode() + b"\n")
        self.file.flush()
        return self._answer(line)

    def batch(self, lines):
        """Send @lines (an iterable) pipelined; their answers, in order."""
        out, pending = [], []
        for line in lines:
            self.file.write(line.encode() + b"\n")
            pending.append(line)
            if len(pending) >= BATCH:
                self.file.flush()
                out += [self._answer(p) for p in pending]
                pending = []
        self.file.flush()
        return out + [self._answer(p) for p in pending]

    def readqs(self, addrs):
        return [int(a, 16) for a in self.batch("readq 0x%x" % a
                                                for a in addrs)]

    def read(self, addr, size):
        return bytes.fromhex(self.cmd("read 0x%x %d" % (addr, size))[2:])

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Dirtier(threading.Thread):
    """Rewrites WINDOW, 64 KiB memset after 64 KiB memset, at DIRTY_RATE,
    each pass a new generation, until stopped. For each chunk it keeps
    (generation, time its memset was answered)."""

    def __init__(self, qt):
        super().__init__(daemon=True)
        self.qt = qt
        self.stop_flag = threading.Event()
        self.acks = {}          # chunk -> [(gen, t_ack)]
        self.bytes = 0
        self.log = []           # (t, bytes so far), one per batch
        self.error = None

    def run(self):
        try:
            self._run()
        except Exception as e:  # reported by the caller
            self.error = "%s: %s" % (type(e).__name__, short(e))

    def _run(self):
        first = WINDOW[0] // CHUNK
        count = WINDOW[1] // CHUNK
        t0 = time.monotonic()
        i = 0
        while not self.stop_flag.is_set():
            due = (time.monotonic() - t0) * DIRTY_RATE - self.bytes
            n = min(int(due // CHUNK), 16)
            if n <= 0:
                time.sleep(0.002)
                continue
            todo = []
            for _ in range(n):
                gen, c = 1 + i // count, first + i % count
                if gen >= 255:  # values would repeat: stop rewriting
                    return
                todo.append((c, gen))
                i += 1
            self.qt.batch("memset 0x%x 0x%x 0x%x" % (
                c * CHUNK, CHUNK, value(c, gen)) for c, gen in todo)
            now = time.monotonic()
            for c, gen in todo:
                self.acks.setdefault(c, []).append((gen, now))
            self.bytes += n * CHUNK
            self.log.append((now, self.bytes))

    def rate_between(self, t1, t2):
        """MiB/s written between two times (from the batch log)."""
        inside = [(t, b) for t, b in self.log if t1 <= t <= t2]
        if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
            return None
        return ((inside[-1][1] - inside[0][1]) / MiB
                / (inside[-1][0] - inside[0][0]))

    def lower_gen(self, chunk, fence):
        """The newest generation of @chunk answered before @fence, when
        the source was still running: the destination must have it."""
        gens = [g for g, t in self.acks.get(chunk, []) if t < fence]
        return max(gens) if gens else 0


# -- processes ---------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def short(exc):
    text = str(exc).strip().splitlines()
    text = text[0] if text else type(exc).__name__
    return text.replace("|", "/")[:120]


class Proc:
    """A VMM whose output goes to a log file; killed with its group."""

    def __init__(self, argv, log):
        self.argv = [str(a) for a in argv]
        self.log = log
        with open(log, "wb") as f:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=f,
                stderr=subprocess.STDOUT, start_new_session=True)

    def last_words(self):
        try:
            with open(self.log, errors="replace") as f:
                lines = [ln.strip() for ln in f if ln.strip()]
        except OSError:
            lines = []
        return lines[-1][:100] if lines else "no output"

    def hwm_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return None

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()


def vmm_argv(args, tmp, vmm, name, incoming):
    qmp = "unix:%s,server=on,wait=off" % os.path.join(tmp, name + ".qmp")
    qt = "unix:%s,server=on,wait=off" % os.path.join(tmp, name + ".qt")
    if vmm == "kestrel":
        argv = [args.kestrel, "-nodefaults", "-display", "none", "-serial",
                "null", "-m", str(MEM), "-accel", "qtest", "-qtest", qt,
                "-qmp", qmp]
    else:
        argv = [args.qemu, "-machine", args.qemu_machine, "-bios",
                os.path.join(tmp, "halt.bin"), "-accel", "tcg", "-qtest",
                qt, "-qtest-log", "/dev/null", "-nodefaults", "-display",
                "none", "-m", str(MEM), "-qmp", qmp]
    if incoming:
        argv += ["-incoming", incoming]
    return argv


def connect_qmp(proc, path, who, timeout=20):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.proc.poll() is not None:
            raise Failed("%s exited %s: %s" % (who, proc.proc.returncode,
                                               proc.last_words()))
        if time.monotonic() > deadline:
            raise Failed("%s: no QMP socket in %d s" % (who, timeout))
        time.sleep(0.02)
    try:
        return Qmp(path, timeout=timeout)
    except (OSError, EOFError, ValueError, AssertionError) as e:
        raise Failed("%s: QMP: %s (%s)" % (who, short(e),
                                           proc.last_words()))


def qmp(q, who, name, arguments=None):
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


# -- the check ---------------------------------------------------------------

def sample_pages(workload):
    """Page addresses whose first quadword is compared: every 7th page of
    what was written, every 61st of the rest of RAM above 1 MiB, and every
    page of the dirtied window."""
    pages = set(a for a in range(MiB, MEM * MiB, 7 * PAGE)
                if written(workload, a))
    pages.update(range(MiB, MEM * MiB, 61 * PAGE))
    if workload == "b":
        pages.update(range(WINDOW[0], WINDOW[0] + WINDOW[1], PAGE))
    return sorted(pages)


def full_pages(workload):
    """Pages compared whole: the first page of every 97th MiB from 1 MiB,
    and for b the first page of every 4 MiB of the window."""
    pages = list(range(MiB, MEM * MiB, 97 * MiB))
    if workload == "b":
        pages += list(range(WINDOW[0], WINDOW[0] + WINDOW[1], 4 * MiB))
    return pages


def check(workload, qs, qd, dirtier, fence, who):
    """Compare the destination with the stopped source: "ok", or
    "MISMATCH ..." with the pages on stderr. A window page may differ from
    the source only by a rewrite answered after the last moment the
    source was seen running (made after the switch-over, which the
    destination is not meant to have)."""
    bad = []
    addrs = sample_pages(workload)
    src = qs.readqs(addrs)
    dst = qd.readqs(addrs)
    late = 0
    for addr, s, d in zip(addrs, src, dst):
        if in_window(workload, addr) and dirtier:
            gs, gd = gen_of(addr, s), gen_of(addr, d)
            lo = dirtier.lower_gen(addr // CHUNK, fence)
            if gs is None or gd is None or not lo <= gd <= gs:
                bad.append("0x%x: source 0x%016x (gen %s), destination "
                           "0x%016x (gen %s), at least gen %d expected"
                           % (addr, s, gs, d, gd, lo))
            elif gd != gs:
                late += 1
            continue
        if written(workload, addr) and s != expected_q(addr):
            bad.append("0x%x: source 0x%016x, written 0x%016x"
                       % (addr, s, expected_q(addr)))
        if d != s:
            bad.append("0x%x: source 0x%016x, destination 0x%016x"
                       % (addr, s, d))
    whole = 0
    for addr in full_pages(workload):
        s, d = qs.read(addr, PAGE), qd.read(addr, PAGE)
        whole += 1
        if in_window(workload, addr) and dirtier:
            # Its generation was checked above; here, the whole page.
            gd = gen_of(addr, int.from_bytes(d[:8], "little"))
            want = (expected_page(addr) if gd == 0 else
                    bytes([value(addr // CHUNK, gd)]) * PAGE
                    if gd is not None else None)
            if d != want:
                bad.append("0x%x: destination page is no generation's "
                           "content (%s...)" % (addr, d[:16].hex()))
            continue
        if written(workload, addr) and s != expected_page(addr):
            bad.append("0x%x: source page differs from what was written "
                       "(%s...)" % (addr, s[:16].hex()))
        if d != s:
            i = next(j for j in range(PAGE) if d[j] != s[j])
            bad.append("0x%x: destination page differs from the source at "
                       "byte %d (0x%02x, source 0x%02x)" % (addr, i, d[i],
                                                          s[i]))
    for line in bad[:8]:
        print("  %s: MISMATCH %s" % (who, line), file=sys.stderr)
    if bad:
        return "MISMATCH (%d of %d quadwords + %d pages)" % (
            len(bad), len(addrs), whole), late
    return "ok", late


# -- one run -----------------------------------------------------------------

def migrate_once(args, tmp, vmm, cfg, workload):
    r = {"total": None, "downtime": None, "bytes": None, "passes": None,
         "converged": None, "check": None, "error": None, "hwm": None,
         "rate": None, "late": 0, "phases": "", "until_run": None}
    t_begin = time.monotonic()
    multifd = bool(CONFIGS[cfg][1].get("multifd"))
    uri = "tcp:127.0.0.1:%d" % free_port()
    socks = [os.path.join(tmp, n) for n in
             ("src.qmp", "src.qt", "dst.qmp", "dst.qt")]
    for p in socks:
        if os.path.exists(p):
            os.unlink(p)
    src = dst = qs = qd = ts = td = dirtier = None
    try:
        src = Proc(vmm_argv(args, tmp, vmm, "src", None),
                   os.path.join(tmp, "src.log"))
        dst = Proc(vmm_argv(args, tmp, vmm, "dst",
                            "defer" if multifd else uri),
                   os.path.join(tmp, "dst.log"))
        qd = connect_qmp(dst, socks[2], "destination")
        if multifd:
            configure(qd, "destination", cfg)
            qmp(qd, "destination", "migrate-incoming", {"uri": uri})
        qs = connect_qmp(src, socks[0], "source")
        configure(qs, "source", cfg)
        ts = Qtest(socks[1], "source")
        td = Qtest(socks[3], "destination")
        ts.batch(fill_cmds(workload))
        t_fill = time.monotonic() - t_begin
        if workload == "b":
            dirtier = Dirtier(ts)
            dirtier.start()
            time.sleep(0.5)
        qmp(qs, "source", "migrate", {"uri": uri})
        t0 = time.monotonic()
        fence = t0
        cancelled = False
        while True:
            t = time.monotonic()
            if qmp(qs, "source", "query-status").get("status") == "running":
                fence = t
            info = qmp(qs, "source", "query-migrate")
            status = info.get("status")
            if r["until_run"] is None and qmp(
                    qd, "destination", "query-status").get(
                        "status") == "running":
                r["until_run"] = (time.monotonic() - t0) * 1000
            if status in FINAL:
                break
            if "ram" in info:
                r["bytes"] = info["ram"].get("transferred")
                r["passes"] = info["ram"].get("dirty-sync-count")
            if time.monotonic() - t0 > args.timeout + 15:
                raise Failed("source: still %s 15 s after migrate_cancel"
                             % status)
            if not cancelled and time.monotonic() - t0 > args.timeout:
                qmp(qs, "source", "migrate_cancel")
                cancelled = True
            for p, who in ((src, "source"), (dst, "destination")):
                if p.proc.poll() is not None:
                    raise Failed("%s exited %s: %s" % (
                        who, p.proc.returncode, p.last_words()))
            time.sleep(POLL)
        t1 = time.monotonic()
        if dirtier:
            dirtier.stop_flag.set()
            dirtier.join(10)
            if dirtier.error:
                raise Failed("dirtier: " + dirtier.error)
            r["rate"] = dirtier.rate_between(t0, t1)
        if status == "failed":
            raise Failed("migration failed: %s"
                         % info.get("error-desc", "?"))
        if status == "cancelled":
            r["converged"] = "no"
            return r
        r["converged"] = "yes"
        r["total"] = info.get("total-time")
        r["downtime"] = info.get("downtime")
        r["bytes"] = info.get("ram", {}).get("transferred")
        r["passes"] = info.get("ram", {}).get("dirty-sync-count")
        # QEMU's destination may still be loading when its source says
        # completed.
        while r["until_run"] is None:
            st = qmp(qd, "destination", "query-status").get("status")
            if st == "running":
                r["until_run"] = (time.monotonic() - t0) * 1000
            elif time.monotonic() - t1 > 30:
                r["check"] = "broken: destination %s 30 s after the " \
                    "source completed" % st
                return r
            else:
                time.sleep(POLL)
        r["hwm"] = dst.hwm_kib()
        t_check = time.monotonic()
        r["check"], r["late"] = check(workload, ts, td, dirtier, fence,
                                      "%s %s %s" % (vmm, cfg, workload))
        r["phases"] = "start+fill %.1f s, check %.1f s" % (
            t_fill, time.monotonic() - t_check)
        return r
    except Failed as e:
        r["error"] = short(e)
        return r
    except (OSError, EOFError, ValueError, KeyError) as e:
        r["error"] = "%s: %s" % (type(e).__name__, short(e))
        return r
    finally:
        if dirtier:
            dirtier.stop_flag.set()
        for c in (ts, td):
            if c:
                c.close()
        for q in (qs, qd):
            if q:
                try:
                    q.close()
                except OSError:
                    pass
        for p in (src, dst):
            if p:
                p.kill()
        if dirtier:
            dirtier.join(5)
        for p in socks:
            if os.path.exists(p):
                os.unlink(p)


# -- the table ---------------------------------------------------------------

def describe(r):
    if r["error"]:
        return "FAILED: %s" % r["error"]
    if r["converged"] == "no":
        return "no"
    return "yes, %s" % r["check"]


def log(vmm, what, r):
    if r["error"]:
        text = "FAILED: %s" % r["error"]
    elif r["converged"] == "no":
        text = "not converged, cancelled; %.0f MiB, %s passes so far" % (
            (r["bytes"] or 0) / MiB, r["passes"])
    else:
        text = ("%s ms, downtime %s ms, destination running at %.0f ms, "
                "%.1f MiB, %s passes, check %s, destination VmHWM %s MiB" % (
                    r["total"], r["downtime"], r["until_run"] or -1,
                    (r["bytes"] or 0) / MiB,
                    r["passes"], r["check"],
                    "%.0f" % (r["hwm"] / 1024) if r["hwm"] else "?"))
    if r["rate"] is not None:
        text += ", dirtier %.0f MiB/s" % r["rate"]
    if r["late"]:
        text += ", %d window pages rewritten after the switch-over" \
            % r["late"]
    if r["phases"]:
        text += " (%s)" % r["phases"]
    print("  %s %s: %s" % (vmm, what, text), file=sys.stderr, flush=True)


def figures(runs, key, scale, fmt, always=False):
    """(cell, median or None) over converged runs (@always: any run)."""
    if not runs:
        return "not run", None
    vals = [r[key] * scale for r in runs if r[key] is not None and
            (always or r["converged"] == "yes")]
    if vals:
        return benchlib.spread(vals, fmt), benchlib.median(vals)
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
        if describe(r) not in seen:
            seen.append(describe(r))
    if len(runs) == 1:
        return seen[0]
    return "; ".join("%d× %s" % (sum(describe(r) == d for r in runs), d)
                     for d in seen)


METRICS = (("total time, ms", "total", 1, "%.0f"),
           ("downtime, ms", "downtime", 1, "%.0f"),
           ("`migrate` until the destination runs, ms", "until_run", 1,
            "%.0f"),
           ("sent (ram.transferred), MiB", "bytes", 1 / MiB, "%.1f"),
           ("passes (dirty-sync-count)", "passes", 1, "%.0f"))


def compressed(cfg):
    return CONFIGS[cfg][2].get("multifd-compression", "none") != "none"


def rows(args, res):
    out = []
    for wl in args.workloads:
        for name in config_names(args):
            per = {v: res.get((v, name, wl), []) for v in VMMS}
            label = "(%s) %s" % (wl, WORKLOADS[wl])

            def row(what, key, scale, fmt, better, always=False):
                k, km = figures(per["kestrel"], key, scale, fmt, always)
                q, qm = figures(per["qemu"], key, scale, fmt, always)
                rt = (benchlib.ratio(km, qm) if better != "—" and
                      km is not None and qm is not None else "")
                if key == "bytes" and compressed(name) and rt:
                    rt = "n/a (QEMU 7.2 counts before compression)"
                out.append([label, name, what, k, q, rt, better])

            for what, key, scale, fmt in METRICS:
                row(what, key, scale, fmt, "lower")
            if wl == "c":
                row("destination peak RSS (VmHWM), MiB", "hwm", 1 / 1024,
                    "%.0f", "lower")
            if wl == "b":
                row("dirtier's rate during migration, MiB/s (the load, "
                    "not a score)", "rate", 1, "%.0f", "—", always=True)
            out.append([label, name, "converged in %d s, destination "
                        "check" % args.timeout, outcome(per["kestrel"]),
                        outcome(per["qemu"]), "", "yes, ok"])
    return out


def notes(args):
    names = config_names(args)
    return [
        "qtest setup, no vCPU: the bench writes guest memory through the "
        "qtest protocol; this measures the migration engine (RAM scan, "
        "zero-page detection, stream, sockets, dirty syncs, device-state "
        "switch-over), not a guest's dirtying behaviour",
        "kestrel: `-nodefaults -display none -serial null -m %d -accel qtest"
        " -qtest unix:...`; QEMU: `-machine %s -accel tcg -bios halt.bin "
        "-qtest unix:... -qtest-log /dev/null -nodefaults -display none -m "
        "%d` (Debian's QEMU 7.2 is built without the qtest accelerator; "
        "halt.bin's reset vector is `cli; hlt`, so its vCPU halts on its "
        "first instruction and never touches RAM)" % (
            MEM, args.qemu_machine, MEM),
        "loopback, tcp:127.0.0.1:PORT; destination `-incoming tcp:...`, or "
        "`-incoming defer` + capabilities + migrate-incoming for multifd; "
        "figures from the source's query-migrate",
        "fill (not timed): each 64 KiB memset to its own byte, each page's "
        "first quadword stamped with its index; (a), (b) [1 MiB, 769 MiB), "
        "(c) 1 MiB at each 64 MiB; (b): a client thread memsets [64 MiB, "
        "128 MiB) 64 KiB at a time at 64 MiB/s, a new byte each pass, from "
        "0.5 s before `migrate` until completion",
        "check after completion (source stopped): the first quadword of "
        "every 7th page of RAM above 1 MiB and of every window page, and "
        "whole pages (every 97th MiB, every 4th MiB of the window), "
        "destination against source and against what was written; a "
        "window page may lag the source only by a rewrite answered after "
        "the source was last seen running",
        "configs: " + "; ".join("%s = %s (%s)" % (n, CONFIGS[n][0], ", ".join(
            LABEL[v] for v, m in args.configs if m == n)) for n in names),
        "downtime is not the same span: kestrel's ends at the destination's "
        "verdict (everything loaded), QEMU 7.2's at the source's last byte; "
        "`migrate` until the destination runs (20 ms polls) is the common "
        "end-to-end figure",
        "VmHWM: on these PVM hosts a read of a never-touched anonymous page "
        "allocates it (no shared zero page), and QEMU's destination reads "
        "each zero page it receives; on a stock kernel that costs no RSS",
        "runs: %d per VMM and cell, interleaved (the first VMM alternates "
        "per round); timeout %d s, then migrate_cancel (converged: no)"
        % (args.runs, args.timeout),
    ]


def main():
    args = benchlib.parse_args(__doc__.splitlines()[0], extra)
    settle(args)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    tmp = tempfile.mkdtemp(prefix="kestrel-bench-migq-")
    with open(os.path.join(tmp, "halt.bin"), "wb") as f:
        f.write(HALT_BIOS)
    res = {}
    t_start = time.monotonic()
    try:
        for run in range(args.runs):
            order = VMMS if run % 2 == 0 else VMMS[::-1]
            for wl in args.workloads:
                for name in config_names(args):
                    for vmm in order:
                        if (vmm, name) not in args.configs:
                            continue
                        r = migrate_once(args, tmp, vmm, name, wl)
                        res.setdefault((vmm, name, wl), []).append(r)
                        log(vmm, "run %d %s (%s)" % (run + 1, name, wl), r)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("  %.0f s in all" % (time.monotonic() - t_start), file=sys.stderr)
    header = ["workload", "config", "what", "kestrel", "QEMU",
              "kestrel/QEMU", "better"]
    benchlib.report(args, "live migration engine, qtest machines without a "
                    "running vCPU (-m %d)" % MEM, header, rows(args, res),
                    notes(args))


if __name__ == "__main__":
    main()
