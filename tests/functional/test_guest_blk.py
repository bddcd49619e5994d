#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The test guest's blk mode under kestrel: the same cases as against
QEMU's virtio-blk-pci (test_guest_blk_qemu.py, the oracle), with kestrel's
device instead. Needs /dev/kvm (the guest runs); skipped, naming why,
where kestrel reports that KVM is missing."""

import ktest
import test_guest_blk_qemu as oracle


class BlkKestrel(oracle.BlkQemu):
    def boot(self, disk, append, fmt="raw", readonly=False, machine="pc",
             device_opts=""):
        drive = "file=%s,if=none,id=d0,format=%s" % (disk, fmt)
        if readonly:
            drive += ",readonly=on"
        # kestrel has one machine (q35 and pc are QEMU's): the device is
        # modern either way.
        return self.kestrel(
            "-nodefaults", "-nographic", "-serial", "stdio", "-no-reboot",
            "-m", "128", "-kernel", ktest.TESTGUEST,
            "-append", "tg.mode=blk " + append, "-drive", drive,
            "-device", "virtio-blk-pci,drive=d0,serial=" + oracle.SERIAL +
            device_opts)



if __name__ == "__main__":
    ktest.main()
