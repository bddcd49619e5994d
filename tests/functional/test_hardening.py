#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""kestrel under hostile QMP input (issue 14's attack run), on a machine
under -accel qtest, so no /dev/kvm is needed.

- A string with an escaped NUL stays whole, as in QEMU 7.2 (modified
  UTF-8): "quit\\u0000-not-quit" is an unknown command, not quit; where a
  string becomes a path, an id or a URI it is refused, never cut.
"""

import os

import ktest
from ktest import KESTREL, Qmp


class HardeningCase(ktest.TestCase):

    def vm(self, extra=()):
        qmp = os.path.join(self.tmp, "vm.qmp")
        qt = os.path.join(self.tmp, "vm.qtest")
        argv = [KESTREL, "-nodefaults", "-display", "none", "-m", "64",
                "-serial", "null", "-qmp", "unix:%s,server=on,wait=off" % qmp,
                "-accel", "qtest", "-qtest", "unix:%s,server=on,wait=off" % qt]
        p = self.spawn(argv + list(extra))
        p.qmp = Qmp(qmp)
        self.addCleanup(p.qmp.close)
        return p

    def assert_serving(self, p):
        self.assertTrue(p.alive())
        self.assertIn(p.qmp.cmd("query-status")["status"],
                      ("prelaunch", "running", "paused"))


class TestQmpNul(HardeningCase):

    def test_escaped_nul_command_is_not_quit(self):
        p = self.vm()
        p.qmp.send_raw('{"execute": "quit\\u0000-not-quit"}\r\n')
        r = p.qmp.reply()
        # QEMU 7.2's answer, byte for byte on the wire
        self.assertEqual(r["error"], {
            "class": "CommandNotFound",
            "desc": "The command quit\x00-not-quit has not been found"})
        self.assert_serving(p)

    def test_escaped_nul_in_names_and_paths(self):
        p = self.vm()
        r = p.qmp.execute("qom-list", {"path": "/machine\x00x"})
        self.assertEqual(r["error"]["desc"],
                         "Device '/machine\x00x' not found")
        r = p.qmp.execute("object-add", {"qom-type": "secret",
                                         "id": "s\x00x", "data": "abc"})
        self.assertEqual(r["error"]["desc"],
                         "Parameter 'id' expects an identifier")
        p.qmp.cmd("stop")
        target = os.path.join(self.tmp, "state")
        r = p.qmp.execute("migrate", {"uri": "file:%s\x00.x" % target})
        self.assertEqual(r["error"]["desc"],
                         "Migration URI 'file:%s\x00.x' must not contain a "
                         "NUL character" % target)
        self.assertFalse(os.path.exists(target))
        self.assert_serving(p)


if __name__ == "__main__":
    ktest.main()
