# SPDX-License-Identifier: GPL-2.0-or-later
"""Bad input from the host side: no usable /dev/kvm, memory the host cannot
map, files that are not kernels, an initrd that does not fit. Each gives
one clear line on stderr, exit status 1, no core dump and no hang."""

import os
import random
import shutil
import struct
import time

import ktest
from ktest import KESTREL, TESTGUEST


class HostErrors(ktest.TestCase):
    def check(self, argv, message, prefix=None, timeout=30, binary=KESTREL):
        rc, out = ktest.run((prefix or []) + [binary] + argv, timeout=timeout)
        self.assertEqual(rc, 1, out)
        lines = [l for l in out.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, "expected one line, got:\n" + out)
        self.assertTrue(lines[0].startswith("kestrel: "), out)
        self.assertIn(message, lines[0])
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "core")))
        return lines[0]

    def base(self, kernel=TESTGUEST):
        return ["-display", "none", "-serial", "none", "-m", "128",
                "-kernel", kernel]

    def test_dev_kvm_missing(self):
        # A private mount namespace with an empty /dev.
        self.check(self.base(), "Could not access KVM kernel module: "
                   "No such file or directory",
                   prefix=["unshare", "-m", "sh", "-c",
                           'mount -t tmpfs none /dev && exec "$0" "$@"'])

    def test_dev_kvm_not_permitted(self):
        # /dev/kvm is 0600 root here: an unprivileged user is refused.
        # Copies, so that the user can reach them wherever the build is.
        kernel = os.path.join(self.tmp, "tg.elf")
        binary = os.path.join(self.tmp, "kestrel")
        shutil.copy(TESTGUEST, kernel)
        shutil.copy(KESTREL, binary)
        os.chmod(self.tmp, 0o755)
        os.chmod(kernel, 0o644)
        os.chmod(binary, 0o755)
        self.check(self.base(kernel), "Could not access KVM kernel module: "
                   "Permission denied",
                   prefix=["setpriv", "--reuid=65534", "--regid=65534",
                           "--clear-groups"], binary=binary)

    def test_memory_larger_than_host_can_map(self):
        argv = self.base()
        argv[argv.index("-m") + 1] = "1P"
        self.check(argv, "cannot set up guest memory")

    def test_kernel_missing(self):
        path = os.path.join(self.tmp, "nope")
        self.check(self.base(path), "could not open kernel '%s': No such "
                   "file or directory" % path)

    def test_kernel_is_directory(self):
        self.check(self.base(self.tmp), "kernel '%s' is a directory, not a "
                   "regular file" % self.tmp)

    # Not a regular file: refused at once, naming what it is, never read
    # or waited on (a FIFO with no writer blocks a plain open() forever).
    # Under -accel qtest, so that no /dev/kvm is needed to get this far.
    def check_not_regular(self, what, path, kind):
        argv = ["-accel", "qtest"] + self.base()
        if what == "initrd":
            argv += ["-initrd", path]
        else:
            argv[argv.index("-kernel") + 1] = path
        t0 = time.monotonic()
        self.check(argv, "kestrel: %s '%s' is %s, not a regular file"
                   % (what, path, kind), timeout=10)
        self.assertLess(time.monotonic() - t0, 1.0)

    def fifo(self):
        path = os.path.join(self.tmp, "fifo")
        os.mkfifo(path)
        return path

    def test_kernel_is_fifo(self):
        self.check_not_regular("kernel", self.fifo(), "a FIFO")

    def test_kernel_is_directory_qtest(self):
        self.check_not_regular("kernel", self.tmp, "a directory")

    def test_kernel_is_char_device(self):
        self.check_not_regular("kernel", "/dev/null", "a character device")

    def test_initrd_is_fifo(self):
        self.check_not_regular("initrd", self.fifo(), "a FIFO")

    def test_initrd_is_char_device(self):
        self.check_not_regular("initrd", "/dev/zero", "a character device")

    def test_kernel_random_bytes(self):
        path = os.path.join(self.tmp, "random.bin")
        rnd = random.Random(42)
        with open(path, "wb") as f:
            f.write(bytes(rnd.getrandbits(8) for _ in range(65536)))
        self.check(self.base(path), "kernel '%s' is not a Linux kernel"
                   % path)

    def test_kernel_empty(self):
        path = os.path.join(self.tmp, "empty")
        open(path, "wb").close()
        self.check(self.base(path), "kernel '%s' is empty" % path)

    def test_kernel_truncated_elf(self):
        path = os.path.join(self.tmp, "short.elf")
        with open(TESTGUEST, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(data[:200])
        self.check(self.base(path), "kernel '%s' is truncated" % path)

    def test_kernel_wrong_architecture(self):
        # The test guest with its ELF machine patched to AArch64 (183).
        path = os.path.join(self.tmp, "arm.elf")
        with open(TESTGUEST, "rb") as f:
            data = bytearray(f.read())
        struct.pack_into("<H", data, 18, 183)
        with open(path, "wb") as f:
            f.write(data)
        self.check(self.base(path), "kernel '%s' is not an x86-64 kernel "
                   "(ELF machine 183)" % path)

    def test_initrd_does_not_fit(self):
        path = os.path.join(self.tmp, "big.img")
        with open(path, "wb") as f:
            f.truncate(200 << 20)       # sparse: costs no disk
        self.check(self.base() + ["-initrd", path],
                   "initrd '%s' is too large for guest memory" % path)

    def test_initrd_missing(self):
        path = os.path.join(self.tmp, "nope.img")
        self.check(self.base() + ["-initrd", path],
                   "could not open initrd '%s'" % path)

    def test_chardev_file_unwritable(self):
        path = os.path.join(self.tmp, "no", "such", "dir", "log")
        argv = self.base()
        argv[argv.index("-serial") + 1] = "file:" + path
        self.check(argv, "Could not open '%s'" % path)


if __name__ == "__main__":
    ktest.main()
