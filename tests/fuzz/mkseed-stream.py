#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Seeds for fuzz-vmstate: a migration stream a real kestrel wrote.

    mkseed-stream.py KESTREL CORPUSDIR

Runs the machine fuzz-vmstate builds (-accel qtest -m 16, one null serial,
virtio-balloon-pci), writes a few pages through qtest, migrates it to a
file (as test_migration.py's test_file_save_and_restore does), checks that
a second kestrel loads that file, and stores it twice in CORPUSDIR: as a
raw stream (selector 3) and as one to re-checksum (selector 4).
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time


def connect(path, proc, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
            s.settimeout(timeout)
            return s, s.makefile("rwb")
        except OSError:
            s.close()
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def qmp(f, cmd, args=None):
    msg = {"execute": cmd}
    if args:
        msg["arguments"] = args
    f.write(json.dumps(msg).encode() + b"\n")
    f.flush()
    while True:
        r = json.loads(f.readline())
        if "return" in r:
            return r["return"]
        if "error" in r:
            raise RuntimeError("%s: %s" % (cmd, r["error"]["desc"]))


def qtest(f, line):
    f.write(line.encode() + b"\n")
    f.flush()
    ans = f.readline().decode().strip()
    if not ans.startswith("OK"):
        raise RuntimeError("qtest %r: %s" % (line, ans))


def start(kestrel, tmp, name, extra=()):
    q = os.path.join(tmp, name + ".qmp")
    argv = [kestrel, "-nodefaults", "-display", "none", "-m", "16",
            "-serial", "null", "-device", "virtio-balloon-pci",
            "-accel", "qtest", "-qmp", "unix:%s,server=on,wait=off" % q]
    qt = None
    if not extra:
        qt = os.path.join(tmp, name + ".qtest")
        argv += ["-qtest", "unix:%s,server=on,wait=off" % qt]
    p = subprocess.Popen(argv + list(extra), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    qs, qf = connect(q, p)
    qf.readline()                               # greeting
    qmp(qf, "qmp_capabilities")
    tf = connect(qt, p)[1] if qt else None
    return p, qf, tf


def wait_completed(f):
    deadline = time.monotonic() + 30
    while True:
        st = qmp(f, "query-migrate").get("status")
        if st == "completed":
            return
        if st == "failed" or time.monotonic() > deadline:
            raise RuntimeError("migration %s" % st)
        time.sleep(0.05)


def main():
    kestrel, corpus = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory(prefix="kestrel-seed-") as tmp:
        path = os.path.join(tmp, "vm.state")
        src, qf, tf = start(kestrel, tmp, "src")
        try:
            for i in range(3):
                page = (b"kestrel fuzz seed page %d " % i) * 160
                qtest(tf, "write 0x%x %d 0x%s"
                      % (0x100000 + i * 0x2000, 4096, page[:4096].hex()))
            qmp(qf, "stop")
            qmp(qf, "migrate", {"uri": "file:" + path})
            wait_completed(qf)
        finally:
            src.kill()
            src.wait()
        dst, qf, _ = start(kestrel, tmp, "dst",
                           ["-S", "-incoming", "file:" + path])
        try:
            wait_completed(qf)
        finally:
            dst.kill()
            dst.wait()
        data = open(path, "rb").read()
    for sel, name in ((3, "seed-kestrel-file"), (4, "seed-kestrel-sealed")):
        with open(os.path.join(corpus, name), "wb") as f:
            f.write(bytes([sel]) + data)
    print("stream of %d bytes from %s" % (len(data), kestrel))


if __name__ == "__main__":
    main()
