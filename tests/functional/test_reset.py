# SPDX-License-Identifier: GPL-2.0-or-later
"""Guest-initiated resets: the i8042 reset line, the FADT reset register
(0xcf9) and a triple fault reboot the VM (the kernel is loaded afresh and
runs again), or end it with exit status 0 under -no-reboot."""

import os

import ktest
from test_pvh import pvh_kernel


class GuestReset(ktest.TestCase):
    def kernel(self, ending):
        path = os.path.join(self.tmp, ending + ".elf")
        with open(path, "wb") as f:
            f.write(pvh_kernel(ending))
        return path

    def check_reboots(self, ending):
        p = self.kestrel("-nographic", "-m", "64", "-kernel",
                         self.kernel(ending))
        # Booted, reset, booted again, reset...: at least three boots.
        for n in range(3):
            p.wait_line(r"^PVH OK$", timeout=30,
                        start=self.nth_boot_index(p, n))
        self.assertTrue(p.alive())

    @staticmethod
    def nth_boot_index(p, n):
        seen = [i for i, l in enumerate(p.lines) if l == "PVH OK"]
        return seen[n - 1] + 1 if n > 0 and len(seen) >= n else 0

    def check_no_reboot(self, ending):
        p = self.kestrel("-nographic", "-no-reboot", "-m", "64", "-kernel",
                         self.kernel(ending))
        self.assertEqual(p.wait_exit(30), 0, p.text())
        self.assertEqual([l for l in p.lines if l == "PVH OK"], ["PVH OK"])

    def test_i8042_reset_reboots(self):
        self.check_reboots("i8042")

    def test_cf9_reset_reboots(self):
        self.check_reboots("cf9")

    def test_triple_fault_reboots(self):
        self.check_reboots("triple-fault")

    def test_i8042_reset_with_no_reboot_exits(self):
        self.check_no_reboot("i8042")

    def test_cf9_reset_with_no_reboot_exits(self):
        self.check_no_reboot("cf9")

    def test_triple_fault_with_no_reboot_exits(self):
        self.check_no_reboot("triple-fault")


if __name__ == "__main__":
    ktest.main()
