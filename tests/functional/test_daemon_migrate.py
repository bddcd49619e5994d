# SPDX-License-Identifier: GPL-2.0-or-later
"""virtkestreld keeps domains on disk and moves their state: virsh save,
restore, managedsave (and start from it), save-image-dumpxml, domjobinfo
during a slow save, domjobabort, migrate-setspeed/-getspeed and
migrate-setmaxdowntime/-getmaxdowntime, against real kestrel processes.

On a host without /dev/kvm the daemon runs with VIRTKESTRELD_ACCEL=qtest
(virtkestreld(8)): kestrel builds the whole machine under its qtest
accelerator and no guest code runs, but the RAM is real and moves through
kestrel's migration stream; the test writes and reads it through the
domain's qtest socket (STATE_DIR/NAME.qtest).  On a KVM host the test
guest runs and the memory checks are left out (no qtest socket)."""

import os
import signal
import socket
import threading
import time

import ktest
import test_daemon
from test_daemon import DaemonCase, DAEMON

MiB = 1024 * 1024
PATTERN_BASE = 0x1000000        # 16 MiB: above the test guest's image


class Qtest:
    """The qtest protocol (QEMU's libqtest lines) on a domain's socket."""

    def __init__(self, path, timeout=20):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.file = self.sock.makefile("rwb")

    def cmd(self, line):
        self.file.write(line.encode() + b"\n")
        self.file.flush()
        ans = self.file.readline().decode().strip()
        if not ans.startswith("OK"):
            raise AssertionError("qtest %r: %s" % (line, ans))
        return ans[3:]

    def write(self, addr, data):
        self.cmd("write 0x%x %d 0x%s" % (addr, len(data), data.hex()))

    def read(self, addr, size):
        return bytes.fromhex(self.cmd("read 0x%x %d" % (addr, size))[2:])

    def close(self):
        self.sock.close()


def pattern(i):
    head = b"KESTREL save chunk %06d " % i
    return (head * (65536 // len(head) + 1))[:65536]


class SaveCase(DaemonCase):
    QTEST = not ktest.HAVE_KVM

    def start_daemon(self):
        env = dict(os.environ, KESTREL=os.path.abspath(ktest.KESTREL))
        if self.QTEST:
            env["VIRTKESTRELD_ACCEL"] = "qtest"
        argv = [DAEMON, "--socket", self.sock,
                "--config-dir", os.path.join(self.tmp, "etc"),
                "--state-dir", os.path.join(self.tmp, "run"),
                "--log-dir", os.path.join(self.tmp, "log")]
        self.daemon = self.spawn(argv, env=env)
        self.wait_for(lambda: self.listening(self.sock + "-ro"),
                      "the daemon's sockets")

    def qtest(self, name="tg"):
        if not self.QTEST:
            return None
        q = Qtest(os.path.join(self.tmp, "run", name + ".qtest"))
        self.addCleanup(q.close)
        return q

    def fill(self, q, chunks):
        """Write @chunks distinct 64 KiB chunks of guest RAM."""
        for i in range(chunks):
            q.write(PATTERN_BASE + i * 65536, pattern(i))

    def check(self, q, chunks):
        for i in range(0, chunks, max(1, chunks // 8)):
            self.assertEqual(q.read(PATTERN_BASE + i * 65536, 65536),
                             pattern(i), "chunk %d after restore" % i)

    def running(self, name="tg"):
        self.define(name)
        self.virsh("start", name)
        self.wait_state(name, "running (booted)")

    def jobinfo(self, *args):
        out = self.virsh("domjobinfo", "tg", *args)
        return dict((k.strip(), v.strip()) for k, v in
                    (ln.split(":", 1) for ln in out.splitlines() if ":" in ln))


class SaveRestore(SaveCase):
    def test_save_restore_round_trip(self):
        self.running()
        q = self.qtest()
        if q:
            self.fill(q, 32)                        # 2 MiB of known data
            q.close()
        image = os.path.join(self.tmp, "tg.save")
        out = self.virsh("save", "tg", image)
        self.assertIn("Domain 'tg' saved to %s" % image, out)
        self.assertEqual(self.state("tg"), "shut off (saved)")
        self.assertGreater(os.path.getsize(image), 2 * MiB)

        out = self.virsh("save-image-dumpxml", image)
        self.assertIn("<name>tg</name>", out)
        self.assertNotIn("id=", out.split("\n")[0])

        out = self.virsh("restore", image)
        self.assertIn("Domain restored from %s" % image, out)
        self.assertEqual(self.state("tg"), "running (restored)")
        if self.QTEST:
            self.check(self.qtest(), 32)
        info = self.jobinfo("--completed")
        self.assertEqual(info["Job type"], "Completed")
        self.assertEqual(info["Operation"], "Restore")

    def test_restore_paused(self):
        self.running()
        image = os.path.join(self.tmp, "tg.save")
        self.virsh("save", "tg", image)
        self.virsh("restore", image, "--paused")
        self.assertEqual(self.state("tg"), "paused (user)")
        self.virsh("resume", "tg")
        self.assertEqual(self.state("tg"), "running (unpaused)")

    def test_save_transient_goes_away(self):
        path = os.path.join(self.tmp, "t.xml")
        with open(path, "w") as f:
            f.write(test_daemon.domain_xml("tt"))
        self.virsh("create", path)
        image = os.path.join(self.tmp, "tt.save")
        self.virsh("save", "tt", image)
        self.assertNotIn("tt", self.virsh("list", "--all"))
        self.virsh("restore", image)
        self.assertEqual(self.state("tt"), "running (restored)")
        self.virsh("destroy", "tt")
        self.assertNotIn("tt", self.virsh("list", "--all"))

    def test_bad_images_refused(self):
        self.define()
        junk = os.path.join(self.tmp, "junk.save")
        with open(junk, "wb") as f:
            f.write(b"\0" * 8192)
        out = self.virsh("restore", junk, ok=False)
        self.assertIn("is not a kestrel save image", out)
        out = self.virsh("save-image-dumpxml", junk, ok=False)
        self.assertIn("is not a kestrel save image", out)
        # A real image cut short: the header says where the state is.
        self.virsh("start", "tg")
        image = os.path.join(self.tmp, "tg.save")
        self.virsh("save", "tg", image)
        with open(image, "r+b") as f:
            f.truncate(4096)
        out = self.virsh("restore", image, ok=False)
        self.assertIn("truncated or corrupt", out)
        self.assertEqual(self.state("tg"), "shut off (saved)")
        out = self.virsh("restore", os.path.join(self.tmp, "none"), ok=False)
        self.assertIn("cannot open save image", out)

    def test_restore_while_running_refused(self):
        self.running()
        image = os.path.join(self.tmp, "tg.save")
        self.virsh("save", "tg", image)
        self.virsh("restore", image)
        out = self.virsh("restore", image, ok=False)
        self.assertIn("is already active", out)


class ManagedSave(SaveCase):
    def test_managedsave_and_start(self):
        self.running()
        q = self.qtest()
        if q:
            self.fill(q, 16)
            q.close()
        self.virsh("managedsave", "tg")
        self.assertEqual(self.state("tg"), "shut off (saved)")
        self.assertRegex(self.virsh("dominfo", "tg"), r"Managed save:\s+yes")
        self.assertIn("tg", self.virsh("list", "--all", "--managed-save"))
        out = self.virsh("undefine", "tg", ok=False)
        self.assertIn("managed save image exists", out)
        self.virsh("start", "tg")
        self.assertEqual(self.state("tg"), "running (restored)")
        if self.QTEST:
            self.check(self.qtest(), 16)
        self.assertRegex(self.virsh("dominfo", "tg"), r"Managed save:\s+no")

    def test_managedsave_remove_and_force_boot(self):
        self.running()
        self.virsh("managedsave", "tg")
        self.virsh("managedsave-remove", "tg")
        self.assertRegex(self.virsh("dominfo", "tg"), r"Managed save:\s+no")
        self.virsh("start", "tg")
        self.assertEqual(self.state("tg"), "running (booted)")
        self.virsh("managedsave", "tg")
        self.virsh("start", "tg", "--force-boot")
        self.assertEqual(self.state("tg"), "running (booted)")

    def test_managedsave_transient_refused(self):
        path = os.path.join(self.tmp, "t.xml")
        with open(path, "w") as f:
            f.write(test_daemon.domain_xml("tt"))
        self.virsh("create", path)
        out = self.virsh("managedsave", "tt", ok=False)
        self.assertIn("cannot do managed save for transient domain", out)


class Jobs(SaveCase):
    def slow_save(self, chunks=48, mib_s=1):
        """Start a save of @chunks * 64 KiB of data at @mib_s MiB/s in a
        thread of virsh; returns (thread, result list)."""
        if not self.QTEST:
            ktest.missing_prerequisite(
                "the slow save needs qtest-written memory (no /dev/kvm host)")
        self.running()
        self.fill(self.qtest(), chunks)
        self.virsh("migrate-setspeed", "tg", str(mib_s))
        self.assertEqual(self.virsh("migrate-getspeed", "tg").strip(),
                         str(mib_s))
        image = os.path.join(self.tmp, "tg.save")
        res = []
        t = threading.Thread(target=lambda: res.append(
            ktest.run([test_daemon.VIRSH, "-c", self.uri, "save", "tg",
                       image], timeout=60)))
        t.start()
        self.addCleanup(t.join)
        self.wait_for(lambda: self.jobinfo().get("Job type") == "Unbounded",
                      "the save job")
        return t, res, image

    def test_domjobinfo_during_slow_save(self):
        t, res, image = self.slow_save()
        info = self.jobinfo()
        self.assertEqual(info["Operation"], "Save")
        self.assertEqual(info["Data total"], "64.000 MiB")
        # Queries answer at once, modifications are refused at once.
        t0 = time.monotonic()
        self.assertIn("tg", self.virsh("list"))
        self.assertIn("State:", self.virsh("dominfo", "tg"))
        self.assertIn("state.state=3", self.virsh("domstats", "tg",
                                                  "--state"))
        out = self.virsh("suspend", "tg", ok=False)
        self.assertIn("cannot acquire state change lock (held by "
                      "monitor=remoteDispatchDomainSave", out)
        self.assertLess(time.monotonic() - t0, 5)
        t.join()
        status, out = res[0]
        self.assertEqual(status, 0, out)
        info = self.jobinfo("--completed")
        self.assertEqual(info["Job type"], "Completed")
        self.assertEqual(info["Operation"], "Save")
        self.assertEqual(self.state("tg"), "shut off (saved)")

    def test_domjobabort(self):
        t, res, image = self.slow_save()
        self.virsh("domjobabort", "tg")
        t.join()
        status, out = res[0]
        self.assertNotEqual(status, 0, out)
        self.assertIn("operation aborted: domain save job: canceled by "
                      "client", out)
        self.assertEqual(self.state("tg"), "running (save canceled)")
        self.assertFalse(os.path.exists(image))
        self.assertEqual(self.jobinfo("--completed")["Job type"],
                         "Cancelled")
        # The domain still works: a save now goes through.
        self.virsh("migrate-setspeed", "tg", "8192")
        self.virsh("save", "tg", image)
        self.virsh("restore", image)
        self.check(self.qtest(), 48)

    def test_destroy_during_save(self):
        t, res, image = self.slow_save()
        self.virsh("destroy", "tg")
        t.join()
        status, out = res[0]
        self.assertNotEqual(status, 0, out)
        self.assertEqual(self.state("tg"), "shut off (destroyed)")
        self.assertFalse(os.path.exists(image))

    def test_downtime_and_speed(self):
        self.running()
        self.virsh("migrate-setmaxdowntime", "tg", "123")
        self.assertEqual(self.virsh("migrate-getmaxdowntime",
                                    "tg").strip(), "123")
        self.virsh("migrate-setspeed", "tg", "64")
        self.assertEqual(self.virsh("migrate-getspeed", "tg").strip(), "64")
        out = self.virsh("domjobabort", "tg", ok=False)
        self.assertIn("no job is active on the domain", out)
        self.assertEqual(self.jobinfo()["Job type"], "None")


if __name__ == "__main__":
    ktest.main()
