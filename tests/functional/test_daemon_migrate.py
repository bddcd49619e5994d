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
import threading
import time

import ktest
from ktest import Qtest
import test_daemon
from test_daemon import DaemonCase, DAEMON

MiB = 1024 * 1024
PATTERN_BASE = 0x1000000        # 16 MiB: above the test guest's image


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
        # The figures come once kestrel's transfer is under way.
        self.wait_for(lambda: float(self.jobinfo().get(
            "Data total", "0").split()[0]) > 0, "the save's figures")
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


class MigrateCase(SaveCase):
    """Two private daemons: A (self.uri) and B (self.uri_b)."""

    def setUp(self):
        super().setUp()
        self.tmp_b = os.path.join(self.tmp, "b")
        os.makedirs(self.tmp_b, exist_ok=True)
        self.sock_b = os.path.join(self.tmp_b, "sock")
        self.uri_b = "kestrel+unix:///system?socket=%s" % self.sock_b
        self.daemon_b = None
        self.start_daemon_b()

    def start_daemon_b(self):
        env = dict(os.environ, KESTREL=os.path.abspath(ktest.KESTREL))
        if self.QTEST:
            env["VIRTKESTRELD_ACCEL"] = "qtest"
        argv = [DAEMON, "--socket", self.sock_b,
                "--config-dir", os.path.join(self.tmp_b, "etc"),
                "--state-dir", os.path.join(self.tmp_b, "run"),
                "--log-dir", os.path.join(self.tmp_b, "log")]
        self.daemon_b = self.spawn(argv, env=env)
        self.wait_for(lambda: self.listening(self.sock_b + "-ro"),
                      "daemon B's sockets")

    def tearDown(self):
        self.vmm_pids(self.tmp_b, kill=True)
        if self.daemon_b and self.daemon_b.alive():
            os.kill(self.daemon_b.proc.pid, signal.SIGTERM)
            self.daemon_b.wait_exit(10)
        super().tearDown()

    @staticmethod
    def vmm_pids(tmp, kill=False):
        """The VMMs a daemon's state dir names that are alive."""
        run = os.path.join(tmp, "run")
        pids = []
        for f in os.listdir(run) if os.path.isdir(run) else []:
            if not f.endswith(".pid"):
                continue
            try:
                with open(os.path.join(run, f)) as fh:
                    pid = int(fh.read().strip())
                os.kill(pid, signal.SIGKILL if kill else 0)
                pids.append(pid)
            except (OSError, ValueError):
                pass
        return pids

    def qtest_b(self, name="tg"):
        q = Qtest(os.path.join(self.tmp_b, "run", name + ".qtest"))
        self.addCleanup(q.close)
        return q

    def transient(self, name="tg"):
        path = os.path.join(self.tmp, name + "-t.xml")
        with open(path, "w") as f:
            f.write(test_daemon.domain_xml(name))
        self.virsh("create", path)
        self.wait_state(name, "running (booted)")

    def filled(self, chunks=32):
        q = self.qtest()
        if q:
            self.fill(q, chunks)
            q.close()

    def check_b(self, chunks=32):
        if self.QTEST:
            q = self.qtest_b()
            for i in range(0, chunks, max(1, chunks // 8)):
                self.assertEqual(q.read(PATTERN_BASE + i * 65536, 65536),
                                 pattern(i), "chunk %d on B" % i)

    def state_b(self, name="tg"):
        return self.virsh("domstate", "--reason", name, uri=self.uri_b).strip()

    def names(self, uri):
        out = self.virsh("list", "--all", "--name", uri=uri)
        return [ln.strip() for ln in out.splitlines() if ln.strip()]


class Migrate(MigrateCase):
    def test_live_transient(self):
        self.transient()
        self.filled()
        self.virsh("migrate", "--live", "tg", self.uri_b)
        self.assertEqual(self.state_b(), "running (migrated)")
        self.assertNotIn("tg", self.names(self.uri))
        self.assertEqual(self.vmm_pids(self.tmp), [])
        self.check_b()
        info = self.virsh("domjobinfo", "tg", "--completed", uri=self.uri_b)
        self.assertRegex(info, r"Job type:\s+Completed")
        # And back again.
        self.virsh("migrate", "--live", "tg", self.uri, uri=self.uri_b)
        self.assertEqual(self.state("tg"), "running (migrated)")
        self.assertNotIn("tg", self.names(self.uri_b))
        if self.QTEST:
            self.check(self.qtest(), 32)

    def test_persistent_undefinesource(self):
        self.running()
        self.filled(16)
        self.virsh("migrate", "--live", "--persistent", "--undefinesource",
                   "tg", self.uri_b)
        self.assertEqual(self.state_b(), "running (migrated)")
        self.assertIn("Persistent:     yes",
                      self.virsh("dominfo", "tg", uri=self.uri_b))
        self.assertNotIn("tg", self.names(self.uri))
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "etc",
                                                     "tg.xml")))
        self.check_b(16)

    def test_persistent_source_stays_defined(self):
        self.running()
        self.virsh("migrate", "--live", "tg", self.uri_b)
        self.assertEqual(self.state("tg"), "shut off (migrated)")
        self.assertEqual(self.state_b(), "running (migrated)")
        self.assertIn("Persistent:     no",
                      self.virsh("dominfo", "tg", uri=self.uri_b))

    def test_suspend(self):
        self.transient()
        self.virsh("migrate", "--live", "--suspend", "tg", self.uri_b)
        self.assertEqual(self.state_b(), "paused (user)")
        self.virsh("resume", "tg", uri=self.uri_b)

    def test_offline(self):
        self.define()
        self.virsh("migrate", "--offline", "--persistent", "tg", self.uri_b)
        self.assertTrue(self.state_b().startswith("shut off"))
        self.assertIn("Persistent:     yes",
                      self.virsh("dominfo", "tg", uri=self.uri_b))
        self.assertIn("tg", self.names(self.uri))

    def test_unsupported_flag_refused(self):
        self.transient()
        out = self.virsh("migrate", "--live", "--postcopy", "tg",
                         self.uri_b, ok=False)
        self.assertIn("unsupported migration flag --postcopy: post-copy "
                      "migration", out)
        self.assertEqual(self.state("tg"), "running (booted)")
        self.assertEqual(self.names(self.uri_b), [])
        self.virsh("suspend", "tg")         # no job left behind

    def test_name_clash_on_destination(self):
        self.transient()
        self.filled(8)
        path = os.path.join(self.tmp_b, "tg.xml")
        with open(path, "w") as f:
            f.write(test_daemon.domain_xml("tg"))
        self.virsh("create", path, uri=self.uri_b)
        pids_b = self.vmm_pids(self.tmp_b)
        out = self.virsh("migrate", "--live", "tg", self.uri_b, ok=False)
        self.assertIn("already", out)
        self.assertEqual(self.state("tg"), "running (booted)")
        self.assertEqual(self.vmm_pids(self.tmp_b), pids_b)
        self.virsh("suspend", "tg")         # the job ended
        self.virsh("resume", "tg")

    def test_destination_vmm_killed(self):
        """Destination kestrel dies mid-stream: the domain runs on at A,
        nothing is left on B."""
        if not self.QTEST:
            ktest.missing_prerequisite("needs qtest-written memory")
        self.transient()
        self.filled(48)
        self.virsh("migrate-setspeed", "tg", "1")
        res = []
        t = threading.Thread(target=lambda: res.append(ktest.run(
            [test_daemon.VIRSH, "-c", self.uri, "migrate", "--live", "tg",
             self.uri_b], timeout=60)))
        t.start()
        self.addCleanup(t.join)
        self.wait_for(lambda: self.vmm_pids(self.tmp_b), "B's VMM")
        self.wait_for(lambda: self.jobinfo().get("Job type") == "Unbounded"
                      and self.jobinfo().get("Data processed", "0 B")
                      != "0.000 B", "the migration to move data")
        for pid in self.vmm_pids(self.tmp_b):
            os.kill(pid, signal.SIGKILL)
        t.join()
        status, out = res[0]
        self.assertNotEqual(status, 0, out)
        # kestrel never paused it: it just runs on.
        self.assertTrue(self.state("tg").startswith("running"))
        self.assertEqual(self.jobinfo()["Job type"], "None")
        self.wait_for(lambda: self.names(self.uri_b) == [],
                      "B to forget the domain")
        self.assertEqual(self.vmm_pids(self.tmp_b), [])
        self.virsh("migrate-setspeed", "tg", "8192")
        self.virsh("migrate", "--live", "tg", self.uri_b)
        self.check_b(48)

    def test_domjobinfo_and_abort_during_slow_migration(self):
        if not self.QTEST:
            ktest.missing_prerequisite("needs qtest-written memory")
        self.transient()
        self.filled(160)             # 10 MiB at 1 MiB/s
        self.virsh("migrate-setspeed", "tg", "1")
        res = []
        t = threading.Thread(target=lambda: res.append(ktest.run(
            [test_daemon.VIRSH, "-c", self.uri, "migrate", "--live", "tg",
             self.uri_b], timeout=60)))
        t.start()
        self.addCleanup(t.join)
        self.wait_for(lambda: self.jobinfo().get("Job type") == "Unbounded",
                      "the migration job")

        self.wait_for(lambda: float(self.jobinfo().get(
            "Data total", "0").split()[0]) > 0, "the migration's figures")

        def processed():
            num, unit = self.jobinfo()["Data processed"].split()
            return float(num) * {"B": 1, "KiB": 1024, "MiB": MiB,
                                 "GiB": 1024 * MiB}[unit]
        # suspend is allowed (virsh migrate --timeout), resume is not.
        out = self.virsh("resume", "tg", ok=False)
        self.assertIn("remoteDispatchDomainMigrateBegin3Params", out)
        first = processed()
        self.wait_for(lambda: processed() > first, "data processed to grow")
        info = self.jobinfo()
        self.assertEqual(info["Operation"], "Outgoing migration")
        self.assertEqual(self.state_b(), "paused (migrating)")
        self.virsh("domjobabort", "tg")
        t.join()
        status, out = res[0]
        self.assertNotEqual(status, 0, out)
        self.assertIn("canceled by client", out)
        # kestrel never paused it: it just runs on.
        self.assertTrue(self.state("tg").startswith("running"))
        self.assertEqual(self.jobinfo()["Job type"], "None")
        self.wait_for(lambda: self.names(self.uri_b) == [],
                      "B to forget the domain")
        self.assertEqual(self.vmm_pids(self.tmp_b), [])

    def test_client_gone_after_begin(self):
        """Begin, then the client disconnects: the job Begin took ends."""
        import struct
        import uuid
        self.transient()
        dom_uuid = uuid.UUID(self.virsh("domuuid", "tg").strip()).bytes
        c = test_daemon.RawClient(self.sock)
        c.open()
        m = c.call(302, test_daemon.RawClient.string("tg") + dom_uuid +
                   struct.pack(">iII", 1, 0, 0x101))   # BEGIN3_PARAMS
        self.assertEqual(m["status"], 0, c.error(m) if m["status"] else "")
        out = self.virsh("suspend", "tg", ok=False)
        self.assertIn("remoteDispatchDomainMigrateBegin3Params", out)
        c.close()
        self.wait_for(lambda: self.jobinfo().get("Job type") == "None",
                      "the job to end")
        self.virsh("suspend", "tg")
        self.virsh("resume", "tg")

    def test_python_migrate3(self):
        libvirt = self.libvirt()
        self.transient()
        self.filled(8)
        src = libvirt.open(self.uri)
        dst = libvirt.open(self.uri_b)
        self.addCleanup(src.close)
        self.addCleanup(dst.close)
        dom = src.lookupByName("tg")
        ddom = dom.migrate3(dst, {libvirt.VIR_MIGRATE_PARAM_BANDWIDTH: 512},
                            libvirt.VIR_MIGRATE_LIVE)
        self.assertEqual(ddom.name(), "tg")
        self.assertEqual(ddom.state()[0], libvirt.VIR_DOMAIN_RUNNING)
        stats = ddom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
        self.assertEqual(stats["type"], libvirt.VIR_DOMAIN_JOB_COMPLETED)
        self.check_b(8)


class MigrateFlags(MigrateCase):
    """virsh migrate's tuning flags reach kestrel; unsupported ones are
    refused by name before anything moves; events."""

    def kqmp(self, tmp, name="tg"):
        q = ktest.Qmp(os.path.join(tmp, "run", name + ".qmp"))
        self.addCleanup(q.sock.close)
        return q

    def caps(self, q):
        return dict((c["capability"], c["state"])
                    for c in q.cmd("query-migrate-capabilities"))

    def slow_migrate(self, *flags, chunks=48, create=True):
        """Start a migration at 1 MiB/s in a thread of virsh."""
        if not self.QTEST:
            ktest.missing_prerequisite("needs qtest-written memory")
        if create:
            self.transient()
        self.filled(chunks)
        self.virsh("migrate-setspeed", "tg", "1")
        res = []
        t = threading.Thread(target=lambda: res.append(ktest.run(
            [test_daemon.VIRSH, "-c", self.uri, "migrate", "--live"] +
            list(flags) + ["tg", self.uri_b], timeout=90)))
        t.start()
        self.addCleanup(t.join)

        def started():
            if res:
                self.fail("virsh migrate ended early: %r" % (res[0],))
            info = self.jobinfo()
            # Perform has set kestrel up and its transfer is running:
            # kestrel's figures (RAM size) are there.
            total = info.get("Data total", "0").split()[0]
            return info.get("Job type") == "Unbounded" and float(total) > 0
        self.wait_for(started, "the migration's transfer")
        return t, res

    def finish(self, t, res):
        self.virsh("migrate-setspeed", "tg", "8192")
        t.join()
        status, out = res[0]
        self.assertEqual(status, 0, out)

    def test_parallel_zstd(self):
        self.transient()
        self.filled(16)
        self.virsh("migrate", "--live", "--parallel",
                   "--parallel-connections", "3", "--compressed",
                   "--comp-methods", "zstd", "tg", self.uri_b)
        self.assertEqual(self.state_b(), "running (migrated)")
        self.assertNotIn("tg", self.names(self.uri))
        self.check_b(16)
        q = self.kqmp(self.tmp_b)
        self.assertTrue(self.caps(q)["multifd"])
        p = q.cmd("query-migrate-parameters")
        self.assertEqual(p["multifd-channels"], 3)
        self.assertEqual(p["multifd-compression"], "zstd")

    def test_parallel_default_connections(self):
        self.transient()
        self.virsh("migrate", "--live", "--parallel", "tg", self.uri_b)
        self.assertEqual(self.state_b(), "running (migrated)")
        q = self.kqmp(self.tmp_b)
        self.assertTrue(self.caps(q)["multifd"])
        self.assertEqual(q.cmd("query-migrate-parameters")
                         ["multifd-compression"], "none")

    def test_auto_converge(self):
        t, res = self.slow_migrate("--auto-converge",
                                   "--auto-converge-initial", "30",
                                   "--auto-converge-increment", "15")
        q = self.kqmp(self.tmp)
        caps = self.caps(q)
        self.assertTrue(caps["auto-converge"])
        self.assertTrue(caps["events"])
        self.assertFalse(caps["multifd"])
        p = q.cmd("query-migrate-parameters")
        self.assertEqual(p["cpu-throttle-initial"], 30)
        self.assertEqual(p["cpu-throttle-increment"], 15)
        self.finish(t, res)
        self.assertEqual(self.state_b(), "running (migrated)")
        self.check_b(48)

    def refused(self, *flags, expect):
        out = self.virsh("migrate", "--live", *flags, "tg", self.uri_b,
                         ok=False)
        self.assertIn(expect, out)
        self.assertEqual(self.state("tg"), "running (booted)")
        self.assertEqual(self.names(self.uri_b), [])
        self.assertEqual(self.vmm_pids(self.tmp_b), [])
        self.assertEqual(self.jobinfo()["Job type"], "None")

    def test_compression_rules(self):
        self.transient()
        self.refused("--compressed",
                     expect="Compression method 'xbzrle' is not supported")
        self.refused("--compressed", "--comp-methods", "xbzrle",
                     expect="Compression method 'xbzrle' is not supported")
        self.refused("--compressed", "--comp-methods", "zstd",
                     expect="Compression method 'zstd' is only supported "
                     "with parallel migration")
        self.refused("--parallel", "--compressed", "--comp-methods",
                     "xbzrle", expect="Compression method 'xbzrle' isn't "
                     "supported with parallel migration")
        self.refused("--parallel", "--compressed", "--comp-methods", "mt",
                     expect="Compression method 'mt' isn't supported with "
                     "parallel migration")
        self.refused("--parallel", "--compressed", "--comp-methods", "zlib",
                     expect="Compression method 'zlib' is not supported")
        self.refused("--parallel-connections", "2",
                     expect="Turn parallel migration on to tune it")
        self.refused("--auto-converge-initial", "20",
                     expect="Turn auto convergence on to tune it")
        self.virsh("suspend", "tg")         # no job left behind
        self.virsh("resume", "tg")

    def test_unsupported_flags_by_name(self):
        self.transient()
        for flags, name in ((["--postcopy"], "--postcopy"),
                            (["--postcopy", "--timeout", "5",
                              "--timeout-postcopy"], "--postcopy"),
                            (["--copy-storage-all"], "--copy-storage-all"),
                            (["--copy-storage-inc"], "--copy-storage-inc"),
                            (["--rdma-pin-all"], "--rdma-pin-all"),
                            (["--tls"], "--tls")):
            self.refused(*flags, expect="unsupported migration flag %s: "
                         % name)
        # virsh asks for --p2p with --tunnelled, and the daemon has no
        # peer-to-peer migration: virsh stops before any call.
        self.refused("--p2p", "--tunnelled", expect="p2p migration is not "
                     "supported")

    def test_timeout_suspend(self):
        self.transient()
        ev = self.virsh_bg("event", "tg", "--event", "lifecycle", "--loop",
                           "--timeout", "40")
        t, res = self.slow_migrate("--timeout", "1", "--timeout-suspend",
                                   chunks=96, create=False)
        self.wait_for(lambda: self.state("tg") == "paused (migrating)",
                      "virsh to suspend the domain on timeout")
        self.assertEqual(self.jobinfo()["Job type"], "Unbounded")
        self.finish(t, res)
        self.assertEqual(self.state_b(), "running (migrated)")
        self.assertNotIn("tg", self.names(self.uri))
        self.check_b(96)
        out = ev()
        self.assertIn("event 'lifecycle' for domain 'tg': Suspended "
                      "Migrated", out)
        self.assertIn("event 'lifecycle' for domain 'tg': Stopped "
                      "Migrated", out)
        self.assertEqual(out.count("Suspended"), 1, out)

    def virsh_bg(self, *args, uri=None):
        """virsh in the background; returns a function that waits for it
        and returns its output."""
        res = []
        t = threading.Thread(target=lambda: res.append(ktest.run(
            [test_daemon.VIRSH, "-c", uri or self.uri] + list(args),
            timeout=90)))
        t.start()
        self.addCleanup(t.join)

        def wait():
            t.join()
            return res[0][1]
        return wait

    def test_events(self):
        self.transient()
        self.filled(16)
        it = self.virsh_bg("event", "tg", "--event", "migration-iteration",
                           "--loop", "--timeout", "8")
        jc_a = self.virsh_bg("event", "tg", "--event", "job-completed",
                             "--timeout", "30")
        jc_b = self.virsh_bg("event", "--event", "job-completed",
                             "--timeout", "30", uri=self.uri_b)
        lc_a = self.virsh_bg("event", "tg", "--event", "lifecycle",
                             "--loop", "--timeout", "8")
        lc_b = self.virsh_bg("event", "--event", "lifecycle", "--loop",
                             "--timeout", "8", uri=self.uri_b)
        time.sleep(1.5)         # the registrations
        self.virsh("migrate", "--live", "tg", self.uri_b)
        out = it()
        self.assertRegex(out, r"event 'migration-iteration' for domain "
                         r"'tg': iteration: '1'")
        for out in (jc_a(), jc_b()):
            self.assertIn("event 'job-completed' for domain 'tg':", out)
            self.assertRegex(out, r"\ttime_elapsed: \d+")
        # The source has kestrel's figures; the destination its own side.
        self.assertRegex(jc_a(), r"\toperation: 5\n")
        self.assertRegex(jc_a(), r"\tmemory_iteration: [1-9]")
        self.assertRegex(jc_a(), r"\tdata_total: [1-9]")
        self.assertRegex(jc_b(), r"\toperation: 4\n")
        out = lc_a()
        self.assertIn("Suspended Migrated", out)
        self.assertIn("Stopped Migrated", out)
        out = lc_b()
        self.assertIn("Started Migrated", out)
        self.assertIn("Resumed Migrated", out)


class BadKernel(SaveCase):
    """A <kernel> that is no regular file is refused at start without
    waiting on it; destroy ends a domain whose VMM cannot take SIGTERM."""

    def define_kernel(self, kernel, name="tg"):
        xml = test_daemon.domain_xml(name).replace(
            "<kernel>%s</kernel>" % os.path.abspath(ktest.TESTGUEST),
            "<kernel>%s</kernel>" % kernel)
        path = os.path.join(self.tmp, name + ".xml")
        with open(path, "w") as f:
            f.write(xml)
        self.virsh("define", path)

    def test_start_kernel_fifo_refused(self):
        fifo = os.path.join(self.tmp, "fifo")
        os.mkfifo(fifo)
        for kernel, kind in ((fifo, "a FIFO"), (self.tmp, "a directory"),
                             ("/dev/null", "a character device")):
            self.define_kernel(kernel)
            t0 = time.monotonic()
            out = self.virsh("start", "tg", ok=False)
            self.assertLess(time.monotonic() - t0, 5, out)
            self.assertIn("kernel '%s' is %s, not a regular file"
                          % (kernel, kind), out)
            self.assertEqual(self.state("tg"), "shut off (failed)")
            self.virsh("undefine", "tg")
            self.assertEqual(MigrateCase.vmm_pids(self.tmp), [])
        # Nothing of it left running: no kestrel names the FIFO.
        for pid in os.listdir("/proc"):
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    self.assertNotIn(fifo.encode(), f.read())
            except OSError:
                pass

    def test_destroy_stopped_vmm(self):
        # A stopped kestrel cannot act on SIGTERM: destroy SIGKILLs it after
        # the grace period (10 s, as libvirt) and returns once it is gone.
        self.running()
        pid, = MigrateCase.vmm_pids(self.tmp)
        os.kill(pid, signal.SIGSTOP)
        self.addCleanup(MigrateCase.vmm_pids, self.tmp, True)
        # The daemon goes on serving others meanwhile.
        served = []

        def other():
            time.sleep(2)
            t = time.monotonic()
            self.virsh("list", "--all")
            served.append(time.monotonic() - t)
        th = threading.Thread(target=other)
        th.start()
        t0 = time.monotonic()
        self.virsh("destroy", "tg")
        self.assertLess(time.monotonic() - t0, 15)
        th.join()
        self.assertLess(served[0], 3)
        self.assertEqual(self.state("tg"), "shut off (destroyed)")
        self.assertEqual(MigrateCase.vmm_pids(self.tmp), [])
        self.assertFalse(self.alive_not_zombie(pid), "kestrel %d" % pid)
        self.virsh("start", "tg")
        self.wait_state("tg", "running (booted)")
        self.virsh("destroy", "tg")

    def test_graceful_destroy_of_stopped_vmm_fails(self):
        # --graceful sends SIGTERM only: after the grace period it fails,
        # as libvirt's does, and the domain is left running.
        self.running()
        pid, = MigrateCase.vmm_pids(self.tmp)
        os.kill(pid, signal.SIGSTOP)
        self.addCleanup(MigrateCase.vmm_pids, self.tmp, True)
        t0 = time.monotonic()
        out = self.virsh("destroy", "--graceful", "tg", ok=False)
        self.assertLess(time.monotonic() - t0, 15)
        self.assertIn("Failed to terminate process %d with SIGTERM: Device "
                      "or resource busy" % pid, out)
        self.assertTrue(self.alive_not_zombie(pid))
        self.assertEqual(self.state("tg"), "running (booted)")
        self.virsh("destroy", "tg")
        self.assertEqual(self.state("tg"), "shut off (destroyed)")
        self.assertFalse(self.alive_not_zombie(pid), "kestrel %d" % pid)

    @staticmethod
    def alive_not_zombie(pid):
        try:
            with open("/proc/%d/stat" % pid) as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False


if __name__ == "__main__":
    ktest.main()
