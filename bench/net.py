#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Network throughput and latency, kestrel vs QEMU: the test guest's net
mode on each VMM's virtio-net-pci over a tap in a network namespace this
script creates (192.0.2.0/24) and removes: a guest-to-host UDP stream of
1400-byte datagrams (MiB/s the host receives: higher is better) and UDP
echo round trips from the host (median microseconds: lower is better).
Needs root and /dev/kvm."""

import os
import re
import subprocess
import sys

import benchlib

sys.path.insert(0, os.path.join(benchlib.SRCDIR, "tests", "functional"))
import test_guest_net_qemu as net   # noqa: E402  (the scripts it runs)

NS = "kbench-%d" % os.getpid()


def extra(ap):
    ap.add_argument("--runs", type=int, default=3,
                    help="boots per VMM and measure (default %(default)s)")
    ap.add_argument("--secs", type=int, default=5,
                    help="seconds of the stream (default %(default)s)")
    ap.add_argument("--echoes", type=int, default=2000,
                    help="UDP echo round trips (default %(default)s)")


def sh(*argv):
    subprocess.run(argv, check=True, capture_output=True)


def boot(argv):
    vm = benchlib.Vmm(["ip", "netns", "exec", NS] + argv)
    vm.wait_line(r"^TG NET mac=", 120)
    sh("ip", "-n", NS, "addr", "add", net.HOST_IP + "/24", "dev", "tap0")
    sh("ip", "-n", NS, "link", "set", "tap0", "up")
    return vm


def in_ns(script, *args):
    return subprocess.run(["ip", "netns", "exec", NS, "python3", "-c",
                           script] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=600).stdout


def main():
    args = benchlib.parse_args(__doc__.splitlines()[0], extra)
    if args.qemu_machine == "microvm":
        args.qemu_machine = "q35"       # microvm has no PCI bus by default
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    sh("ip", "netns", "add", NS)
    sh("ip", "-n", NS, "link", "set", "lo", "up")
    dev = ["-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
           "-device", "virtio-net-pci,netdev=n0,mac=%s,romfile=" % net.MAC]
    res = {"kestrel": {"mb": [], "us": []}, "qemu": {"mb": [], "us": []}}
    try:
        for i in range(args.runs):
            for name in res:
                build = (benchlib.kestrel_argv if name == "kestrel"
                         else benchlib.qemu_argv)
                # the stream, into a sink that counts bytes
                sink = subprocess.Popen(
                    ["ip", "netns", "exec", NS, "python3", "-c",
                     net.STREAM_SINK, str(net.STREAM_PORT)],
                    stdout=subprocess.PIPE, text=True)
                sink.stdout.readline()
                append = ("tg.mode=net tg.ip=%s/24 tg.net=stream tg.peer=%s "
                          "tg.port=%d tg.secs=%d" % (net.GUEST_IP,
                                                     net.HOST_IP,
                                                     net.STREAM_PORT,
                                                     args.secs))
                with boot(build(args, args.testguest, append) + dev):
                    out = sink.communicate(timeout=120)[0]
                m = re.search(r"pkts=(\d+)", out)
                mb = int(m.group(1)) * 1400 / args.secs / (1 << 20)
                res[name]["mb"].append(mb)
                # the echo
                append = "tg.mode=net tg.ip=%s/24 tg.secs=0" % net.GUEST_IP
                with boot(build(args, args.testguest, append) + dev):
                    out = in_ns(net.ECHO_CLIENT, args.echoes, net.GUEST_IP)
                m = re.search(r"median_us=(\d+)", out)
                res[name]["us"].append(int(m.group(1)))
                print("  %s run %d: %.1f MiB/s, %s us" % (
                    name, i + 1, mb, m.group(1)), file=sys.stderr)
    finally:
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    rows = []
    for key, what, fmt in (("mb", "guest-to-host UDP stream, MiB/s "
                                  "(higher is better)", "%.1f"),
                           ("us", "UDP echo round trip, median us "
                                  "(lower is better)", "%.0f")):
        k, q = res["kestrel"][key], res["qemu"][key]
        rows.append([what, benchlib.spread(k, fmt), benchlib.spread(q, fmt),
                     benchlib.ratio(benchlib.median(k),
                                    benchlib.median(q))])
    benchlib.report(args, "virtio-net on a tap, %d s stream, %d echoes"
                    % (args.secs, args.echoes),
                    ["what", "kestrel", "QEMU", "kestrel/QEMU"], rows)


if __name__ == "__main__":
    main()
