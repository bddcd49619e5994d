# SPDX-License-Identifier: GPL-2.0-or-later
"""-device: the balloon plugs in and the guest still boots; bad -device
values are refused before anything runs, with one line naming the device
and the property (QEMU's wording where QEMU has one).

The device itself (transport, queues, inflate/deflate, stats, hostile
rings) is exercised by tests/unit/test-pci.c and test-virtqueue.c; the
test guest's balloon mode will drive it end to end."""

import ktest
from ktest import KESTREL, TESTGUEST

BASE = ["-display", "none", "-serial", "none", "-m", "128",
        "-kernel", TESTGUEST]

BAD = [
    ("unknown_property", ["virtio-balloon-pci,foo=1"],
     "Property 'virtio-balloon-pci.foo' not found"),
    ("unknown_property_alias", ["virtio-balloon,foo=1"],
     "Property 'virtio-balloon-pci.foo' not found"),
    ("bad_bool", ["virtio-balloon-pci,deflate-on-oom=maybe"],
     "Property 'virtio-balloon-pci.deflate-on-oom' doesn't take value "
     "'maybe'"),
    ("bad_bool_reporting", ["virtio-balloon-pci,free-page-reporting=2"],
     "Property 'virtio-balloon-pci.free-page-reporting' doesn't take value "
     "'2'"),
    ("addr_slot_too_big", ["virtio-balloon-pci,addr=0x20"],
     "Property 'virtio-balloon-pci.addr' doesn't take value '0x20'"),
    ("addr_garbage", ["virtio-balloon-pci,addr=zz"],
     "Property 'virtio-balloon-pci.addr' doesn't take value 'zz'"),
    ("addr_function", ["virtio-balloon-pci,addr=0x5.1"],
     "Property 'virtio-balloon-pci.addr' doesn't take value '0x5.1'"),
    ("addr_host_bridge", ["virtio-balloon-pci,addr=0"],
     "PCI: slot 0 function 0 not available for virtio-balloon-pci, in use "
     "by pcie-host-bridge"),
    ("bus", ["virtio-balloon-pci,bus=pci.1"],
     "Bus 'pci.1' not found (virtio-balloon-pci.bus)"),
    ("two_balloons", ["virtio-balloon-pci,id=b0", "virtio-balloon,id=b1"],
     "Only one balloon device is supported"),
    ("legacy", ["virtio-balloon-pci,disable-legacy=off"],
     "Property 'virtio-balloon-pci.disable-legacy' doesn't take value 'off': "
     "kestrel's virtio devices are modern (virtio 1.x) only"),
    ("no_modern", ["virtio-balloon-pci,disable-modern=on"],
     "Property 'virtio-balloon-pci.disable-modern' doesn't take value 'on'"),
    ("bad_ioeventfd", ["virtio-balloon-pci,ioeventfd=sometimes"],
     "Property 'virtio-balloon-pci.ioeventfd' doesn't take value "
     "'sometimes'"),
    ("unknown_driver", ["virtio-net-pci"],
     "'virtio-net-pci' is not a valid device model name"),
    ("json_unknown_property",
     ['{"driver": "virtio-balloon-pci", "id": "b0", "bogus": 1}'],
     "Property 'virtio-balloon-pci.bogus' not found"),
]

GOOD = [
    ("plain", ["virtio-balloon-pci"]),
    ("id", ["virtio-balloon-pci,id=b0"]),
    ("alias", ["virtio-balloon,id=b0"]),
    ("all_properties", ["virtio-balloon-pci,id=balloon0,bus=pci.0,addr=0x5,"
                        "deflate-on-oom=on,free-page-reporting=on"]),
    ("pcie_bus_two_digit_slot", ["virtio-balloon-pci,bus=pcie.0,addr=1f.0"]),
    ("modern_only_spelled_out", ["virtio-balloon-pci,disable-legacy=on,"
                                 "disable-modern=off,ioeventfd=off"]),
    # what libvirt passes
    ("libvirt_json", ['{"driver":"virtio-balloon-pci","id":"balloon0",'
                      '"bus":"pci.0","addr":"0x5","deflate-on-oom":true,'
                      '"free-page-reporting":false}']),
]


def devices(args):
    argv = []
    for a in args:
        argv += ["-device", a]
    return argv


class BadDevice(ktest.TestCase):
    pass


def _bad(args, message):
    def test(self):
        rc, out = ktest.run([KESTREL] + BASE + devices(args), timeout=30)
        self.assertEqual(rc, 1, out)
        lines = [l for l in out.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, "expected one line, got:\n" + out)
        self.assertTrue(lines[0].startswith("kestrel: "), out)
        self.assertIn(message, lines[0])
    return test


for _name, _args, _msg in BAD:
    setattr(BadDevice, "test_" + _name, _bad(_args, _msg))


class Balloon(ktest.TestCase):
    pass


def _good(args):
    def test(self):
        p = self.guest("tg.mode=hello", *devices(args))
        p.wait_line(r"^TG READY", timeout=30)
        p.wait_line(r"^TG DONE", timeout=30)
        self.assertEqual(p.wait_exit(30), 0, p.text())
        # no device complained (guest driver error, KVM_IOEVENTFD, routes)
        self.assertFalse(any(l.startswith("kestrel:") for l in p.lines),
                         p.text())
    return test


for _name, _args in GOOD:
    setattr(Balloon, "test_boots_with_" + _name, _good(_args))


if __name__ == "__main__":
    ktest.main()
