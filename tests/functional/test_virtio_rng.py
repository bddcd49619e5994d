#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""virtio-rng-pci through its guest interface: a virtio driver in the test
(virtio_qtest.py) posts buffers over kestrel's qtest socket (-accel qtest:
the machine without a vCPU) and gets them back full of random bytes; the
rate limit (max-bytes per period) holds; buffers the device must not write
are returned untouched."""

import os
import time
import zlib

import ktest
from ktest import KESTREL, Qmp, Qtest
from virtio_qtest import VirtioPciDevice

RNG_ID = 4
BUF = 0x300000


class RngCase(ktest.TestCase):
    def start(self, device="virtio-rng-pci"):
        qmp = os.path.join(self.tmp, "k.qmp")
        qt = os.path.join(self.tmp, "k.qtest")
        self.proc = self.spawn([
            KESTREL, "-nodefaults", "-display", "none", "-m", "64",
            "-accel", "qtest", "-qtest", "unix:%s,server=on,wait=off" % qt,
            "-qmp", "unix:%s,server=on,wait=off" % qmp, "-device", device])
        self.qmp = Qmp(qmp)
        self.qt = Qtest(qt)
        self.dev = VirtioPciDevice(self.qt, RNG_ID)
        self.dev.init(0)
        self.vq = self.dev.queues[0]

    def test_random_bytes(self):
        self.start()
        for i in range(3):
            self.qt.write(BUF + 8192 * i, b"\0" * 8192)
            self.vq.post([(BUF + 8192 * i, 8192, True)])
        self.vq.kick()
        seen = []
        for _ in range(3):
            head, length = self.vq.wait_used()
            self.assertEqual(length, 8192)
            data = self.qt.read(BUF + 8192 * head, 8192)
            # Random data does not compress, and differs buffer to buffer.
            self.assertGreater(len(zlib.compress(data)), 8000)
            seen.append(data)
        self.assertEqual(len(set(seen)), 3)
        types = [t["name"] for t in self.qmp.cmd("qom-list-types")]
        self.assertIn("virtio-rng-pci", types)

    def test_rate_limit(self):
        self.start("virtio-rng-pci,max-bytes=1024,period=1000")
        t0 = time.monotonic()
        self.vq.post([(BUF, 4096, True)])
        self.vq.post([(BUF + 4096, 4096, True)])
        self.vq.kick()
        self.assertEqual(self.vq.wait_used()[1], 1024)
        self.assertEqual(self.vq.wait_used(10)[1], 1024)
        # The second waited for the next period.
        self.assertGreater(time.monotonic() - t0, 0.5)

    def test_readable_buffer_is_not_written(self):
        self.start()
        self.qt.write(BUF, b"\x5a" * 512)
        self.vq.post([(BUF, 512, False)])
        self.vq.kick()
        self.assertEqual(self.vq.wait_used()[1], 0)
        self.assertEqual(self.qt.read(BUF, 512), b"\x5a" * 512)
        self.assertEqual(self.qmp.cmd("query-status")["status"], "running")

    def test_libvirt_spelling(self):
        # What libvirt writes for <rng model='virtio'><backend
        # model='random'>/dev/urandom</backend></rng>.
        self.start_args = None
        qmp = os.path.join(self.tmp, "k.qmp")
        qt = os.path.join(self.tmp, "k.qtest")
        self.spawn([KESTREL, "-nodefaults", "-display", "none", "-m", "64",
                    "-accel", "qtest", "-qtest",
                    "unix:%s,server=on,wait=off" % qt,
                    "-qmp", "unix:%s,server=on,wait=off" % qmp,
                    "-object", '{"qom-type":"rng-random","id":"objrng0",'
                    '"filename":"/dev/urandom"}',
                    "-device", '{"driver":"virtio-rng-pci","rng":"objrng0",'
                    '"id":"rng0","bus":"pci.0","addr":"0x6"}'])
        Qmp(qmp)
        t = Qtest(qt)
        dev = VirtioPciDevice(t, RNG_ID)
        self.assertEqual(dev.devfn, 6 << 3)
        dev.init(0)
        dev.queues[0].post([(BUF, 64, True)])
        dev.queues[0].kick()
        self.assertEqual(dev.queues[0].wait_used()[1], 64)

    def test_unknown_rng_object(self):
        p = self.spawn([KESTREL, "-nodefaults", "-display", "none",
                        "-accel", "qtest", "-qtest", "unix:%s,server=on,"
                        "wait=off" % os.path.join(self.tmp, "q"),
                        "-device", "virtio-rng-pci,rng=nope"])
        self.assertEqual(p.proc.wait(20), 1)
        p.drain()
        self.assertIn("Property 'virtio-rng-pci.rng' can't find value "
                      "'nope'", p.text())
        p = self.spawn([KESTREL, "-nodefaults", "-display", "none",
                        "-accel", "qtest", "-object",
                        "rng-random,id=r,filename=/dev/hwrng"])
        self.assertEqual(p.proc.wait(20), 1)
        p.drain()
        self.assertIn("filename '/dev/hwrng' is not supported", p.text())


if __name__ == "__main__":
    ktest.main()
