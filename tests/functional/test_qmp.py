# SPDX-License-Identifier: GPL-2.0-or-later
"""QMP: kestrel is controlled exactly as QEMU is. Greeting, negotiation,
run control and events against the test guest; monitors of every
spelling; bad input that must not hurt the VM; and a scripted session
replayed against Debian's QEMU, whose reply shapes must match ours."""

import json
import os
import socket
import subprocess
import time

import ktest
from ktest import KESTREL, QEMU, TESTGUEST, Qmp

READY = r"TG READY mem=(\d+) cpus=(\d+)"


class QmpCase(ktest.TestCase):
    def start(self, append="tg.mode=idle", *extra, paused=True, serial=True):
        self.sock = os.path.join(self.tmp, "qmp.sock")
        argv = ["-m", "128", "-kernel", TESTGUEST, "-append", append,
                "-display", "none", "-qmp",
                "unix:%s,server=on,wait=off" % self.sock]
        argv += ["-serial", "stdio"] if serial else ["-serial", "none"]
        if paused:
            argv.append("-S")
        p = self.kestrel(*(argv + list(extra)))
        q = Qmp(self.sock)
        self.addCleanup(q.close)
        return p, q


class Protocol(QmpCase):
    def test_greeting(self):
        p, q = self.start()
        g = q.greeting["QMP"]
        self.assertEqual(g["version"]["qemu"],
                         {"major": 7, "minor": 2, "micro": 0})
        self.assertIn("kestrel", g["version"]["package"])
        self.assertEqual(g["capabilities"], [])

    def test_negotiation_required(self):
        self.start()
        q = Qmp(self.sock, negotiate=False)
        self.addCleanup(q.close)
        r = q.execute("query-status")
        self.assertEqual(r["error"]["class"], "CommandNotFound")
        self.assertEqual(r["error"]["desc"], "Expecting capabilities "
                         "negotiation with 'qmp_capabilities'")
        self.assertEqual(q.execute("qmp_capabilities"), {"return": {}})
        r = q.execute("qmp_capabilities")
        self.assertEqual(r["error"]["class"], "CommandNotFound")
        self.assertEqual(q.cmd("query-status")["status"], "prelaunch")

    def test_id_echoed(self):
        _, q = self.start()
        for ident in ["libvirt-7", 42, {"a": [1, "b"]}]:
            r = q.execute("query-kvm", id=ident)
            self.assertEqual(r["id"], ident)
            self.assertEqual(r["return"], {"enabled": True, "present": True})
        r = q.execute("no-such-command", id="x")
        self.assertEqual(r["id"], "x")
        self.assertEqual(r["error"]["class"], "CommandNotFound")
        self.assertEqual(r["error"]["desc"],
                         "The command no-such-command has not been found")

    def test_argument_errors(self):
        _, q = self.start()
        r = q.execute("qom-get", {"path": "/machine"})
        self.assertEqual(r["error"], {"class": "GenericError",
                                      "desc": "Parameter 'property' is "
                                              "missing"})
        r = q.execute("qom-list", {"path": 5})
        self.assertEqual(r["error"]["desc"], "Invalid parameter type for "
                         "'path', expected: string")
        r = q.execute("query-status", {"bogus": 1})
        self.assertEqual(r["error"]["desc"], "Parameter 'bogus' is "
                         "unexpected")

    def test_crlf_compact_lines(self):
        _, q = self.start()
        q.send_raw('{"execute": "query-name"}\r\n')
        line = q.read_line()
        self.assertTrue(line.endswith(b"\r\n"))
        self.assertNotIn(b"\n", line[:-2])

    def test_stream_framing(self):
        # Two commands on one line, then one split across three writes.
        _, q = self.start()
        q.send_raw('{"execute":"query-kvm","id":1}{"execute":"query-name",'
                   '"id":2}\n')
        self.assertEqual(q.reply()["id"], 1)
        self.assertEqual(q.reply()["id"], 2)
        for part in ['{"exec', 'ute": "query-st', 'atus", "id": 3}']:
            q.send_raw(part)
            time.sleep(0.05)
        r = q.reply()
        self.assertEqual(r["id"], 3)
        self.assertEqual(r["return"]["status"], "prelaunch")


class RunControl(QmpCase):
    def test_S_then_cont_starts_guest(self):
        p, q = self.start("tg.mode=idle")
        p.collect(1)
        self.assertFalse(any("TG READY" in l for l in p.lines))
        self.assertEqual(q.cmd("query-status"),
                         {"running": False, "singlestep": False,
                          "status": "prelaunch"})
        q.cmd("cont")
        q.wait_event("RESUME")
        p.wait_line(READY, timeout=30)
        self.assertEqual(q.cmd("query-status")["status"], "running")

    def test_stop_pauses_guest(self):
        p, q = self.start("tg.mode=dirty tg.mb=16", paused=False)
        p.wait_line(r"TG DIRTY cpu=0 gen=", timeout=30)
        q.cmd("stop")
        q.wait_event("STOP")
        self.assertEqual(q.cmd("query-status")["status"], "paused")
        n = len(p.lines)
        p.collect(2.5)
        self.assertFalse(any("TG DIRTY" in l for l in p.lines[n:]),
                         "guest ran while paused")
        q.cmd("cont")
        q.wait_event("RESUME")
        p.wait_line(r"TG DIRTY cpu=\d+ gen=\d+ .* errors=0", timeout=10,
                    start=n)

    def test_system_powerdown_shuts_guest_down(self):
        p, q = self.start("tg.mode=idle", paused=False)
        p.wait_line(READY, timeout=30)
        q.cmd("system_powerdown")
        q.wait_event("POWERDOWN")
        ev = q.wait_event("SHUTDOWN")
        self.assertEqual(ev["data"], {"guest": True,
                                      "reason": "guest-shutdown"})
        self.assertIn("seconds", ev["timestamp"])
        p.wait_line(r"TG POWERBUTTON", timeout=5)
        self.assertEqual(p.wait_exit(20), 0)

    def test_powerdown_busy_guest(self):
        # The dirty workload never halts: the button is still answered.
        p, q = self.start("tg.mode=dirty tg.mb=16", paused=False)
        p.wait_line(r"TG DIRTY cpu=0 gen=", timeout=30)
        q.cmd("system_powerdown")
        q.wait_event("SHUTDOWN", timeout=20)
        self.assertEqual(p.wait_exit(20), 0)

    def test_quit(self):
        p, q = self.start()
        self.assertEqual(q.execute("quit"), {"return": {}})
        ev = q.wait_event("SHUTDOWN")
        self.assertEqual(ev["data"], {"guest": False,
                                      "reason": "host-qmp-quit"})
        self.assertEqual(p.wait_exit(20), 0)

    def test_no_shutdown_then_reset_and_cont(self):
        p, q = self.start("tg.mode=hello", "-no-shutdown")
        q.cmd("cont")
        ev = q.wait_event("SHUTDOWN", timeout=30)
        self.assertTrue(ev["data"]["guest"])
        q.wait_event("STOP")
        self.assertEqual(q.cmd("query-status")["status"], "shutdown")
        self.assertTrue(p.alive())
        r = q.execute("cont")
        self.assertEqual(r["error"]["desc"],
                         "Resetting the Virtual Machine is required")
        n = len(p.lines)
        q.cmd("system_reset")
        ev = q.wait_event("RESET")
        self.assertEqual(ev["data"], {"guest": False,
                                      "reason": "host-qmp-system-reset"})
        self.assertEqual(q.cmd("query-status")["status"], "prelaunch")
        q.cmd("cont")
        p.wait_line(READY, timeout=30, start=n)
        q.wait_event("SHUTDOWN", timeout=30)

    def test_system_reset_reboots_running_guest(self):
        p, q = self.start("tg.mode=idle", paused=False)
        p.wait_line(READY, timeout=30)
        n = len(p.lines)
        q.cmd("system_reset")
        q.wait_event("RESET")
        p.wait_line(READY, timeout=30, start=n)
        self.assertEqual(q.cmd("query-status")["status"], "running")

    def test_sigterm_shutdown_event(self):
        p, q = self.start()
        p.proc.terminate()
        ev = q.wait_event("SHUTDOWN")
        self.assertEqual(ev["data"], {"guest": False,
                                      "reason": "host-signal"})
        self.assertEqual(p.wait_exit(20), 0)

    def test_queries(self):
        p, q = self.start("tg.mode=idle", "-smp", "2", "-name", "vm-a",
                          "-uuid", "6f2c6b8e-1f7a-4e39-9a5b-0c2f1f0d7a11")
        self.assertEqual(q.cmd("query-name"), {"name": "vm-a"})
        self.assertEqual(q.cmd("query-uuid"),
                         {"UUID": "6f2c6b8e-1f7a-4e39-9a5b-0c2f1f0d7a11"})
        cpus = q.cmd("query-cpus-fast")
        self.assertEqual([c["cpu-index"] for c in cpus], [0, 1])
        # thread-id is the real vCPU thread of this process.
        for c in cpus:
            self.assertTrue(os.path.exists("/proc/%d/task/%d"
                                           % (p.proc.pid, c["thread-id"])))
        self.assertEqual(q.cmd("human-monitor-command",
                               {"command-line": "info status"}),
                         "VM status: paused (prelaunch)\r\n")
        names = [c["name"] for c in q.cmd("query-commands")]
        for n in ["cont", "stop", "quit", "query-status", "qom-get"]:
            self.assertIn(n, names)
        machines = q.cmd("query-machines")
        # "pc" for libvirt's QEMU driver, "kestrel" its alias
        self.assertIn(("pc", "kestrel"),
                      [(m["name"], m.get("alias")) for m in machines])
        self.assertEqual(q.cmd("qom-get", {"path": "/machine",
                                           "property": "type"}),
                         "kestrel-machine")
        r = q.execute("qom-get", {"path": "/nope", "property": "type"})
        self.assertEqual(r["error"], {"class": "DeviceNotFound",
                                      "desc": "Device '/nope' not found"})


class Monitors(QmpCase):
    def test_several_monitors_and_clients(self):
        sock2 = os.path.join(self.tmp, "mon2.sock")
        p, q1 = self.start("tg.mode=idle", "-chardev",
                           "socket,id=m2,path=%s,server=on,wait=off" % sock2,
                           "-mon", "chardev=m2,mode=control")
        q2 = Qmp(sock2)
        q3 = Qmp(self.sock)             # a second client on the first one
        raw = Qmp(self.sock, negotiate=False)
        for q in (q2, q3, raw):
            self.addCleanup(q.close)
        q2.cmd("cont")
        for q in (q1, q2, q3):
            q.wait_event("RESUME")
        # The unnegotiated client gets no events, only its answers.
        self.assertEqual(raw.execute("qmp_capabilities"), {"return": {}})
        self.assertEqual(raw.cmd("query-status")["status"], "running")

    def test_qmp_tcp(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        p = self.kestrel("-m", "64", "-kernel", TESTGUEST, "-display", "none",
                         "-serial", "none", "-S", "-qmp",
                         "tcp:127.0.0.1:%d,server,nowait" % port)
        deadline = time.time() + 10
        while True:
            try:
                c = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        f = c.makefile("rwb")
        self.assertIn("QMP", json.loads(f.readline()))
        f.write(b'{"execute":"qmp_capabilities"}\r\n{"execute":"quit"}\r\n')
        f.flush()
        self.assertEqual(json.loads(f.readline()), {"return": {}})
        self.assertEqual(json.loads(f.readline()), {"return": {}})
        c.close()
        self.assertEqual(p.wait_exit(20), 0)

    def test_qmp_stdio(self):
        ktest.need_kvm()        # kestrel's stderr is not captured here
        p = subprocess.Popen([KESTREL, "-m", "64", "-kernel", TESTGUEST,
                              "-display", "none", "-serial", "none", "-S",
                              "-qmp", "stdio"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE)
        out, _ = p.communicate(b'{"execute":"qmp_capabilities"}\n'
                               b'{"execute":"query-status"}\n'
                               b'{"execute":"quit"}\n', timeout=30)
        lines = [json.loads(l) for l in out.splitlines() if l.strip()]
        self.assertIn("QMP", lines[0])
        self.assertEqual(lines[2]["return"]["status"], "prelaunch")
        self.assertEqual(p.returncode, 0)

    def test_qmp_pretty(self):
        sock2 = os.path.join(self.tmp, "pretty.sock")
        self.start("tg.mode=idle", "-chardev",
                   "socket,id=m2,path=%s,server=on,wait=off" % sock2,
                   "-mon", "chardev=m2,mode=control,pretty=on")
        s = socket.socket(socket.AF_UNIX)
        s.connect(sock2)
        s.settimeout(10)
        data = b""
        while not data.rstrip().endswith(b"}"):
            data += s.recv(4096)
        self.assertGreater(data.count(b"\n"), 3)   # indented, many lines
        self.assertIn("QMP", json.loads(data))
        s.close()


class BadInput(QmpCase):
    def assert_vm_alive(self, p, q):
        self.assertTrue(p.alive())
        self.assertEqual(q.cmd("query-status")["status"], "running")
        n = len(p.lines)
        p.wait_line(r"TG DIRTY cpu=\d+ gen=\d+ .* errors=0", timeout=10,
                    start=n)

    def busy(self):
        p, q = self.start("tg.mode=dirty tg.mb=16", paused=False)
        p.wait_line(r"TG DIRTY cpu=0 gen=", timeout=30)
        return p, q

    def replies_until_sync(self, q, data):
        """Send @data then a marker command; return the replies before the
        marker's (bad input may earn several errors, as in QEMU)."""
        q.send_raw(data + b'{"execute": "query-kvm", "id": "sync"}\r\n')
        out = []
        while True:
            r = q.reply()
            if r.get("id") == "sync":
                return out
            out.append(r)

    def test_malformed_json(self):
        p, q = self.busy()
        for bad in [b'{"execute": "query-status",,}\r\n', b'}}\r\n',
                    b'[1, 2]\r\n', b'"just a string"\r\n',
                    b'{"arguments": {}}\r\n', b'{"execute": 5}\r\n',
                    b'{"execute": "stop", "arguments": []}\r\n',
                    b"{'execute': 'stop', 'bogus': 1}\r\n",
                    b'\xff\xfe{"execute": "nope"}\r\n']:
            replies = self.replies_until_sync(q, bad)
            self.assertGreaterEqual(len(replies), 1, bad)
            for r in replies:
                self.assertIn(r["error"]["class"],
                              ("GenericError", "CommandNotFound"), bad)
        self.assert_vm_alive(p, q)

    def test_huge_and_deep_messages(self):
        p, q = self.busy()
        replies = self.replies_until_sync(q, b"[" * 2000 + b"]" * 2000 +
                                          b"\r\n")
        self.assertEqual(replies[0]["error"]["desc"],
                         "JSON nesting depth limit exceeded")
        big = b'{"execute": "query-name", "id": "' + b"x" * (8 << 20) + b'"}'
        q.send_raw(big + b"\r\n")
        r = q.reply()
        self.assertEqual(len(r["id"]), 8 << 20)
        self.assert_vm_alive(p, q)

    def test_disconnect_mid_message_and_flood(self):
        p, q = self.busy()
        for _ in range(5):
            s = socket.socket(socket.AF_UNIX)
            s.connect(self.sock)
            s.sendall(b'{"execute": "qmp_capabilities"}\r\n{"execute": "qu')
            s.close()
        s = socket.socket(socket.AF_UNIX)
        s.connect(self.sock)
        s.sendall(b'{"execute": "qmp_capabilities"}\r\n' +
                  b'{"execute": "query-kvm"}\r\n' * 20000)
        s.close()                       # never reads a reply
        self.assert_vm_alive(p, q)


def shape(v):
    """The JSON shape of a value: member names and types, recursively."""
    if isinstance(v, dict):
        return {k: shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [shape(v[0])] if v else []
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "str"
    return "null"


class SameShapesAsQemu(QmpCase):
    SCRIPT = [
        ("query-version", None),
        ("query-status", None),
        ("query-name", None),
        ("query-uuid", None),
        ("query-kvm", None),
        ("query-cpus-fast", None),
        ("human-monitor-command", {"command-line": "info status"}),
        ("human-monitor-command", {"command-line": "info version"}),
        ("qom-list", {"path": "/"}),
        ("qom-get", {"path": "/machine", "property": "type"}),
        ("qom-get", {"path": "/nope", "property": "type"}),
        ("no-such-command", None),
        ("qom-get", {"path": "/machine"}),
        ("query-status", {"bogus": 1}),
        ("cont", None),
        ("stop", None),
        ("system_reset", None),
        ("system_powerdown", None),
        ("quit", None),
    ]

    def run_script(self, q):
        out = []
        for name, args in self.SCRIPT:
            r = q.execute(name, args, id="t")
            out.append((name, shape(r)))
            time.sleep(0.05)
            # Events may precede a reply; collect what has come.
        try:
            while True:
                q.sock.settimeout(1)
                m = q.read()
                if "event" in m:
                    q.events.append(m)
        except (OSError, EOFError, ValueError):
            pass
        return out, [(e["event"], shape(e)) for e in q.events]

    def test_replay_against_qemu(self):
        qsock = os.path.join(self.tmp, "qemu.sock")
        qemu = self.spawn([QEMU] + ktest.QEMU_ACCEL + ["-M", "pc", "-nodefaults",
                           "-display", "none", "-m", "64", "-S", "-name",
                           "vm1", "-qmp", "unix:%s,server=on,wait=off"
                           % qsock])
        qq = Qmp(qsock)
        self.addCleanup(qq.close)
        theirs, their_events = self.run_script(qq)

        p, q = self.start("tg.mode=idle", "-name", "vm1")
        ours, our_events = self.run_script(q)

        # QEMU offers "oob", which we do not implement: the list is ours
        # to leave empty, its shape is the same.
        for g in (q.greeting, qq.greeting):
            g["QMP"]["capabilities"] = []
        self.assertEqual(shape(q.greeting), shape(qq.greeting))
        for (name, a), (_, b) in zip(ours, theirs):
            self.assertEqual(a, b, "reply shape of %s differs" % name)
        self.assertEqual(our_events, their_events)


if __name__ == "__main__":
    ktest.main()
