#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The test guest's net mode under kestrel: the same cases as against
QEMU's virtio-net-pci (test_guest_net_qemu.py, the oracle), with kestrel's
device on a tap in a network namespace the test creates. Needs /dev/kvm
(the guest runs); skipped, naming why, where kestrel reports that KVM is
missing."""

import time

import ktest
import test_guest_net_qemu as oracle


class NetKestrel(oracle.NetQemu):
    def boot(self, append, qmp=None, machine="pc", device_opts=""):
        argv = [ktest.KESTREL, "-nodefaults", "-nographic", "-serial",
                "stdio", "-no-reboot", "-m", "128", "-kernel",
                ktest.TESTGUEST, "-append",
                "tg.mode=net tg.ip=%s/24 %s" % (oracle.GUEST_IP, append),
                "-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
                "-device", "virtio-net-pci,netdev=n0,mac=%s,romfile=%s"
                % (oracle.MAC, device_opts)]
        if qmp:
            argv += ["-qmp", "unix:%s,server=on,wait=off" % qmp]
        p = self.spawn(self.in_ns(argv))
        deadline = time.monotonic() + 20
        while ktest.run(["ip", "-n", self.ns, "link", "show", "tap0"])[0]:
            if time.monotonic() > deadline or not p.alive():
                p.drain(1)
                self.fail("kestrel made no tap0:\n" + p.text())
            time.sleep(0.1)
        oracle.ip("-n", self.ns, "addr", "add", oracle.HOST_IP + "/24",
                  "dev", "tap0")
        oracle.ip("-n", self.ns, "link", "set", "tap0", "up")
        return p


if __name__ == "__main__":
    ktest.main()
