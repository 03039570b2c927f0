#!/usr/bin/env python3
"""End-to-end tests of the client side against the real daemon and m7sim.

m7sim (firmware on a pty) -> m7bridged (with a test NOTIFY_SOCKET) -> m7bridgectl, the C,
Python, shell and Qt examples; socket activation through systemd-socket-activate.
Paths come from M7B_BUILD_ROOT / M7B_SOURCE_ROOT (set by meson). Exit 77 = skip.
"""
import base64
import json
import select
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import itest_util

BUILD = os.environ.get("M7B_BUILD_ROOT", "build")
SOURCE = os.environ.get("M7B_SOURCE_ROOT", ".")
CTL = os.path.join(BUILD, "tools", "m7bridgectl")
DAEMON = os.path.join(BUILD, "daemon", "m7bridged")
SIM = os.path.join(BUILD, "firmware", "m7sim")
C_EXAMPLE = os.path.join(BUILD, "examples", "m7watch")
QT_EXAMPLE = os.path.join(BUILD, "examples", "m7watch-qt")
PY_EXAMPLE = os.path.join(SOURCE, "examples", "python", "m7watch.py")
SH_EXAMPLE = os.path.join(SOURCE, "examples", "shell", "m7watch.sh")
TIMEOUT = 30.0  # generous: CI runs this under ASan on a loaded 2-core machine


def wait_for(cond, what, timeout=TIMEOUT, step=0.05):
    """itest_util.wait_for with this test's default timeout."""
    return itest_util.wait_for(cond, what, timeout, step)


class Notify:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET. A thread keeps reading
    it, as systemd does: a full queue would block the daemon's sd_notify()."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.msgs = []
        self.lock = threading.Lock()
        self.done = False
        self.thread = threading.Thread(target=self._reader, daemon=True)
        self.thread.start()

    def _reader(self):
        while not self.done:
            try:
                m = self.sock.recv(4096).decode()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.msgs.append(m)

    def drain(self):
        with self.lock:
            return list(self.msgs)

    def count(self, prefix):
        return sum(1 for m in self.drain() if m.startswith(prefix))

    def close(self):
        self.done = True
        self.thread.join()
        self.sock.close()


def restart_under(rig, argv, env=None, noticed=None,
                  done=lambda after: "frame m7/2" in after):
    """Runs a client (argv) until it shows frames, restarts the daemon under it, waits
    until done(output since the restart); returns that output."""
    out_path = os.path.join(rig.dir, "client.out")

    def read():
        with open(out_path, errors="replace") as f:
            return f.read()
    with open(out_path, "w") as out:
        client = Proc(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: "frame m7/2" in read(), "client frames")
            if rig.daemon.stop() != 0:
                raise AssertionError("the daemon did not stop cleanly")
            if noticed:
                wait_for(lambda: noticed in read(), "client noticing")
            mark = len(read())
            rig.start_daemon()
            wait_for(lambda: done(read()[mark:]), "frames after the restart", timeout=60)
            return read()[mark:]
        finally:
            client.stop()


class Proc:
    """A child process that is always reaped."""

    def __init__(self, args, env=None, **kw):
        self.p = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, **kw)

    def stop(self, sig=signal.SIGTERM, timeout=TIMEOUT):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode


def ctl(*args, sock=None, timeout=TIMEOUT, env=None):
    cmd = [CTL] + (["-s", sock] if sock else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                          stdin=subprocess.DEVNULL)


class Rig:
    """m7sim + m7bridged in a temp dir."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="m7b-e2e-")
        self.link = os.path.join(self.dir, "ttyRPMSG30")
        self.sock = os.path.join(self.dir, "m7bridge.sock")
        self.notify = Notify(os.path.join(self.dir, "notify"))
        self.sim = None
        self.daemon = None
        self.daemon_log = None

    def start_sim(self, extra=()):
        # Port 2: text captures 20/s; port 1: what SEND writes comes back as a capture.
        self.sim_out = os.path.join(self.dir, "m7sim.out")
        with open(self.sim_out, "wb") as out:
            self.sim = Proc([SIM, "--link", self.link, "--source", "2:rate=20,pattern=text",
                             "--source", "1:rate=0,loop=1", "--heartbeat-ms", "200",
                             *extra], stdout=out, stderr=subprocess.STDOUT)

        def linked():
            with open(self.sim_out, errors="replace") as f:
                return "m7sim: link" in f.read()
        wait_for(linked, "m7sim's link")

    def start_daemon(self, watchdog_usec=400000):
        env = dict(os.environ, NOTIFY_SOCKET=self.notify.path,
                   WATCHDOG_USEC=str(watchdog_usec))
        env.pop("WATCHDOG_PID", None)
        if self.daemon_log:
            self.daemon_log.close()
        self.daemon_log = open(os.path.join(self.dir, "daemon.log"), "ab")
        self.daemon = Proc([DAEMON, "-f", "-s", self.sock, "-C", f"m7={self.link}",
                            "-l", "debug"], env=env, stdout=self.daemon_log,
                           stderr=subprocess.STDOUT)

    def channel_up(self):
        r = ctl("status", "--json", sock=self.sock, timeout=10)
        if r.returncode != 0:
            return False
        st = json.loads(r.stdout)
        return any(c["state"] == "up" for c in st["channels"])

    def stop(self):
        for p in (self.daemon, self.sim):
            if p:
                p.stop()
        if self.daemon_log:
            self.daemon_log.close()
        self.notify.close()

    def log(self):
        text = ""
        for name in ("daemon.log", "m7sim.out"):
            try:
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    text += f"--- {name}\n" + f.read()[-4000:]
            except OSError:
                pass
        return text


class ClientE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rig = Rig()
        cls.rig.start_sim()
        cls.rig.start_daemon()
        try:
            wait_for(cls.rig.channel_up, "channel m7 up")
        except AssertionError:
            print(cls.rig.log(), file=sys.stderr)
            cls.rig.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        rc = cls.rig.daemon.stop()
        cls.rig.stop()
        if rc != 0 or os.environ.get("M7B_E2E_LOG"):
            print(cls.rig.log(), file=sys.stderr)
        shutil.rmtree(cls.rig.dir, ignore_errors=True)
        # A clean SIGTERM shutdown exits 0 (under ASan also: no leak, no error).
        if rc != 0:
            raise AssertionError(f"m7bridged exited with {rc}")

    # --- sd_notify ---------------------------------------------------------------------

    def test_notify_ready_status_watchdog(self):
        n = self.rig.notify
        wait_for(lambda: n.count("READY=1"), "READY=1")
        # Once per daemon start (the Qt test restarts it).
        for m in [m for m in n.drain() if m.startswith("READY=1")]:
            self.assertRegex(m, r"^READY=1\nSTATUS=\d+/1 channel up, \d+ clients?$")
        # STATUS= follows the channel: it reached "1/1 channel up" at some point.
        wait_for(lambda: any("STATUS=1/1 channel up" in m for m in n.drain()),
                 "STATUS with the channel up")
        # WATCHDOG=1 keeps coming from the event loop (400 ms period here).
        before = n.count("WATCHDOG=1")
        wait_for(lambda: n.count("WATCHDOG=1") >= before + 3, "three more WATCHDOG=1")

    # --- the socket, as an outside client sees it ---------------------------------------

    def raw_session(self, payload, until):
        """Sends payload on a new connection; returns the objects after VERSION, read
        until until(objs) holds or the daemon closes."""
        s = socket.socket(socket.AF_UNIX)
        s.connect(self.rig.sock)
        s.settimeout(TIMEOUT)
        s.sendall(payload)
        buf, objs = b"", []
        try:
            while not until(objs):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
                *lines, buf = buf.split(b"\n")
                objs += [json.loads(x) for x in lines if x]
        finally:
            s.close()
        self.assertEqual(objs[0]["class"], "VERSION")
        return objs[1:]

    def test_bad_lines_and_flood(self):
        # Malformed members count as bad lines: the 32nd is answered "flood", then EOF.
        bad = b'{"cmd":"send","channel":"m7","port":1,"hex":"0"}\n'
        objs = self.raw_session(bad * 40, lambda o: False)
        self.assertEqual([o["code"] for o in objs], ["bad_value"] * 31 + ["flood"])
        # Errors about the state of things are not: 40 answers, then a ping's PONG.
        state = b'{"cmd":"send","channel":"nope","port":1,"hex":"00"}\n'
        objs = self.raw_session(state * 40 + b'{"cmd":"ping","id":"p"}\n',
                                lambda o: o and o[-1].get("id") == "p")
        self.assertEqual([o["code"] for o in objs[:-1]], ["no_channel"] * 40)
        self.assertEqual(objs[-1], {"class": "PONG", "id": "p"})

    def test_ids_and_members_as_sent(self):
        # Every numeric id comes back as the same number, in STATUS too; a member named
        # twice is refused (parsers disagree on which one counts).
        ids = ["0.30000000000000004", "9007199254740991", "0.5931236676608271", "1e300"]
        lines = b"".join(b'{"cmd":"%s","id":%s}\n' % (c, i.encode())
                         for i in ids for c in (b"ping", b"status"))
        lines += b'{"cmd":"ping","cmd":"status","id":"d"}\n{"cmd":"ping","id":"end"}\n'
        objs = self.raw_session(lines, lambda o: o and o[-1].get("id") == "end")
        got = [(o["class"], o.get("id")) for o in objs]
        want = [(c, float(i)) for i in ids for c in ("PONG", "STATUS")]
        self.assertEqual(got[:len(want)], want)
        self.assertEqual(objs[len(want)]["code"], "bad_json")
        self.assertNotIn("id", objs[len(want)])
        self.assertEqual(got[len(want) + 1:], [("PONG", "end")])

    # --- m7bridgectl ------------------------------------------------------------------

    def test_status_table_and_json(self):
        r = ctl("status", sock=self.rig.sock)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("CHANNEL", r.stdout)
        row = [l for l in r.stdout.splitlines() if l.startswith("m7 ")]
        self.assertEqual(len(row), 1, r.stdout)
        self.assertIn(" up ", row[0])
        self.assertIn(self.rig.link, row[0])
        self.assertIn("m7sim", row[0])
        r = ctl("status", "--json", sock=self.rig.sock)
        self.assertEqual(r.returncode, 0)
        st = json.loads(r.stdout)
        self.assertEqual(st["class"], "STATUS")
        self.assertEqual(st["channels"][0]["name"], "m7")
        # $M7BRIDGE_SOCKET works like -s.
        r = ctl("status", env=dict(os.environ, M7BRIDGE_SOCKET=self.rig.sock))
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_watch_count_and_views(self):
        r = ctl("watch", "-n", "3", "-p", "2", sock=self.rig.sock)
        self.assertEqual(r.returncode, 0, r.stderr)
        frames = [l for l in r.stdout.splitlines() if " m7/2 seq=" in l]
        self.assertEqual(len(frames), 3, r.stdout)
        self.assertIn('"port 2 capture ', frames[0])
        self.assertIn("state up (snapshot)", r.stdout)
        # --json passes NDJSON through: every line is an object with a class.
        r = ctl("watch", "--json", "-n", "2", sock=self.rig.sock)
        self.assertEqual(r.returncode, 0, r.stderr)
        objs = [json.loads(l) for l in r.stdout.splitlines()]
        frames = [o for o in objs if o["class"] == "FRAME"]
        self.assertEqual(len(frames), 2)
        self.assertTrue(base64.b64decode(frames[0]["data"]).startswith(b"port 2 capture"))
        # --hex: a hexdump line per 16 bytes.
        r = ctl("watch", "--hex", "-n", "1", "-p", "2", sock=self.rig.sock)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"0000  70 6f 72 74 20 32 20 63  61 70 74 75 72 65 20")
        # --text: the raw bytes.
        r = ctl("watch", "--text", "-n", "2", "-p", "2", sock=self.rig.sock)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^port 2 capture \d+\nport 2 capture \d+\n$")
        # A filter that selects nothing of port 5 but a channel filter on m7 still works.
        r = ctl("watch", "-n", "1", "-c", "m7", sock=self.rig.sock)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_watch_reader_gone(self):
        # `watch | head -1` ends once head has exited, even when nothing more is
        # streamed: STATE alone gives the snapshot line, then silence.
        p = subprocess.Popen([CTL, "-s", self.rig.sock, "watch", "--classes", "STATE"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            self.assertIn(b"state up (snapshot)", p.stdout.readline())
            p.stdout.close()
            rc = p.wait(TIMEOUT)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(rc, 0, p.stderr.read())
        p.stderr.close()

    def test_top_reader_gone(self):
        # `top | head -1`: the plain view ends at its next line once head has exited.
        p = subprocess.Popen([CTL, "-s", self.rig.sock, "top"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            self.assertRegex(p.stdout.readline(), rb" m7 up ")
            p.stdout.close()
            rc = p.wait(TIMEOUT)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(rc, 0, p.stderr.read())
        p.stderr.close()

    def test_output_lost(self):
        # A reply that cannot be written out is a failure, with a line that says why.
        if not os.path.exists("/dev/full"):
            self.skipTest("no /dev/full")
        with open("/dev/full", "w") as full:
            r = subprocess.run([CTL, "-s", self.rig.sock, "status"], stdout=full,
                               stderr=subprocess.PIPE, text=True, timeout=TIMEOUT,
                               stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("cannot write to standard output", r.stderr)
        # Also where the exit status already says something else: doctor's findings
        # (an empty tree: checks fail or warn) are lost, and that is said too.
        root = tempfile.mkdtemp(prefix="m7b-e2e-")
        try:
            for fmt in ([], ["--json"]):
                with open("/dev/full", "w") as full:
                    r = subprocess.run([CTL, "doctor", "--no-daemon", "--root", root] + fmt,
                                       stdout=full, stderr=subprocess.PIPE, text=True,
                                       timeout=TIMEOUT, stdin=subprocess.DEVNULL)
                self.assertNotEqual(r.returncode, 0, r.stderr)
                self.assertIn("cannot write to standard output", r.stderr, fmt)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def test_send_round_trip(self):
        # Watch port 1 first (the snapshot STATE line says the watch is active), then send:
        # m7sim loops SEND bytes back as a capture on port 1.
        w = subprocess.Popen([CTL, "-s", self.rig.sock, "watch", "--json", "-p", "1",
                              "--classes", "FRAME,STATE", "-n", "1"],
                             stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        try:
            first = json.loads(w.stdout.readline())
            self.assertEqual(first["class"], "STATE")
            r = ctl("send", "-p", "1", "hello m7", sock=self.rig.sock)
            self.assertEqual(r.returncode, 0, r.stderr)
            out, _ = w.communicate(timeout=TIMEOUT)
            frame = json.loads(out.splitlines()[-1])
            self.assertEqual(frame["class"], "FRAME")
            self.assertEqual(frame["port"], 1)
            self.assertEqual(base64.b64decode(frame["data"]), b"hello m7")
        finally:
            if w.poll() is None:
                w.kill()
            w.wait()
            w.stdout.close()
        r = ctl("send", "-p", "1", "--hex", "68 69 0a", sock=self.rig.sock)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "sent 3 bytes to m7 port 1\n")
        r = ctl("-q", "send", "-p", "1", "x", sock=self.rig.sock)
        self.assertEqual((r.returncode, r.stdout), (0, ""), r.stderr)

    def test_watch_explains(self):
        # HEARTBEAT (asked for by name) in words, never raw JSON.
        w = subprocess.Popen([CTL, "-s", self.rig.sock, "watch", "--classes", "HEARTBEAT"],
                             stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        try:
            line = w.stdout.readline()
            self.assertRegex(line, r"^\d\d:\d\d:\d\d\.\d{6} m7 heartbeat seq=\d+ ")
            self.assertNotIn("{", line)
        finally:
            w.kill()
            w.wait()
            w.stdout.close()
        # -p naming a port that never sends: a hint on stderr, no silent hang.
        w = subprocess.Popen([CTL, "-s", self.rig.sock, "watch", "-p", "5"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             stdin=subprocess.DEVNULL)
        try:
            line = w.stderr.readline()
            self.assertIn("no frame from the port asked for in 5 s (frames arrive on ports 2",
                          line)
        finally:
            w.kill()
            w.wait()
            w.stderr.close()
        # status names the two frame counts apart and does not count itself as a client.
        # (Clients of earlier tests may still be leaving: compare while the count holds.)
        def clients():
            return len(json.loads(ctl("status", "--json", sock=self.rig.sock).stdout)["clients"])
        for _ in range(20):
            before = clients()
            r = ctl("status", sock=self.rig.sock)
            if clients() == before:
                break
            time.sleep(0.2)
        self.assertIn("DATA_FRAMES", r.stdout)
        self.assertIn("ALL_FRAMES", r.stdout)
        others = before - 1
        self.assertIn(f", {others} other client{'' if others == 1 else 's'},", r.stdout)
        self.assertRegex(r.stdout, r"\(boot [0-9a-f]{8}\)")

    def test_top_plain(self):
        # Not a terminal: one plain line per channel and second.
        r = ctl("top", "-n", "2", sock=self.rig.sock, timeout=15)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 2, r.stdout)
        for l in lines:
            self.assertRegex(l, r"^\d\d:\d\d:\d\d m7 up gaps=\d+ bad_crc=\d+ recoveries=\d+")
        self.assertRegex(lines[1], r" port2=\d+/s,\d+B/s")

    def top_on_pty(self, env, size=None):
        """Runs `top -n 1` on a new pty (of size (rows, cols) if given) and returns its
        exit status and everything it wrote there."""
        import fcntl
        import pty
        import struct
        import termios
        master, slave = pty.openpty()
        if size:
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", *size, 0, 0))
        try:
            p = subprocess.Popen([CTL, "-s", self.rig.sock, "top", "-n", "1"], env=env,
                                 stdin=slave, stdout=slave, stderr=slave)
            os.close(slave)
            out = b""
            while True:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: every holder of the pty's slave has gone
                    break
                if not chunk:
                    break
                out += chunk
            return p.wait(TIMEOUT), out
        finally:
            os.close(master)

    def test_top_terminal_without_cursor(self):
        # A terminal that cannot place the cursor (TERM unset, unknown to terminfo, or
        # dumb) gets the plain lines too, not an error from the screen library.
        for term in (None, "no-such-terminal", "dumb"):
            env = dict(os.environ)
            env.pop("TERM", None)
            if term:
                env["TERM"] = term
            rc, out = self.top_on_pty(env)
            text = out.decode(errors="replace")
            self.assertEqual(rc, 0, f"TERM={term}: {text}")
            self.assertRegex(text, r"(?m)^\d\d:\d\d:\d\d m7 up gaps=\d+", f"TERM={term}")
            self.assertNotIn("\x1b", text, f"TERM={term}")

    def test_top_small_terminal_says_how_to_quit(self):
        # The bottom line always fits, so that how to quit is shown however narrow the
        # terminal (40x10: more lines than fit; 80x24: all fit).
        if subprocess.run(["infocmp", "xterm"], capture_output=True).returncode != 0:
            self.skipTest("no terminfo entry for xterm")
        for rows, cols in ((10, 40), (24, 80), (10, 20)):
            rc, out = self.top_on_pty(dict(os.environ, TERM="xterm"), (rows, cols))
            self.assertEqual(rc, 0, out)
            # The bottom-right cell comes with its own escapes (autowrap off and on).
            shown = re.sub(rb"\x1b\[\?7[lh]", b"", out)
            self.assertIn(b"q quits", shown, f"{rows}x{cols}: {out[-400:]}")

    def test_error_paths(self):
        # Bad arguments exit 2 with one line, whether the CLI or the daemon spots them.
        r = ctl("send", "-p", "9", "x", sock=self.rig.sock)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("no UART port 9 (bad_port)", r.stderr)
        r = ctl("send", "-c", "nope", "-p", "2", "x", sock=self.rig.sock)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("no channel 'nope' (channels: m7)", r.stderr)
        for args in (["bogus"], [], ["send", "x"], ["watch", "-n", "0"], ["send", "-p", "300", "x"],
                     ["send", "-p", "1", "--hex", "zz"], ["status", "extra"],
                     ["reload", "a/b.elf"], ["watch", "-c", "nope"], ["watch", "--classes", "FOO"],
                     ["watch", "--policy", "bogus"], ["recover", "--action", "bogus"],
                     ["watch", "--hex", "--text"], ["watch", "--json", "--text"],
                     ["send", "-p", "1", "--hex", "--text", "6869"], ["watch", "--bogus"],
                     ["watch", "-n"], ["-x"], ["top", "-c", "nope"], ["help", "nope"],
                     ["recover", "--no-rollback"], ["send", "--no-rollback", "x"],
                     ["reload", "--action", "resync"], ["-t", "4294967297", "ping"],
                     ["-t", "2147483648", "ping"], ["watch", "--classes", "CLOCK", "-n", "1"],
                     ["watch", "-n", "1", "--classes", "state,log"]):
            r = ctl(*args, sock=self.rig.sock, timeout=10)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertTrue(r.stderr.startswith("m7bridgectl:"), (args, r.stderr))
            self.assertEqual(len(r.stderr.splitlines()), 1, (args, r.stderr))
        r = ctl("watch", "-c", "nope", sock=self.rig.sock)
        self.assertIn("no channel 'nope' (channels: m7)", r.stderr)
        # An argument too long for a request line is said so, not blamed on the daemon.
        r = ctl("incidents", "-c", "z" * 70000, sock=self.rig.sock, timeout=10)
        self.assertEqual(r.returncode, 2, r.stderr[-200:])
        self.assertTrue(r.stderr.endswith(
            "incidents: request longer than 65536 bytes, the longest line the daemon "
            "takes\n"), r.stderr[-200:])
        # reload takes --no-rollback (the daemon may still refuse the reload itself).
        r = ctl("reload", "--no-rollback", "m7sim.elf", sock=self.rig.sock, timeout=10)
        self.assertNotEqual(r.returncode, 2, r.stderr)
        # Class names are taken in any case.
        r = ctl("watch", "--classes", "frame", "-n", "1", sock=self.rig.sock)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r" m7/\d seq=\d+ len=\d+ ")
        # Per-command help.
        for cmd in ("watch", "send", "status", "top", "recover", "reload", "incidents", "ping"):
            r = ctl(cmd, "--help", sock=self.rig.sock)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(r.stdout.startswith(f"Usage: m7bridgectl [OPTIONS] {cmd}"), r.stdout)
        # watch --help names every class --classes takes.
        r = ctl("watch", "--help", sock=self.rig.sock)
        for cls in ("FRAME", "STATE", "LOG", "HELLO", "HEARTBEAT", "FAULT", "CLOCK", "RAW"):
            self.assertIn(cls, r.stdout.split("-C, --classes LIST", 1)[1].split("-P, --policy")[0])
        absent = os.path.join(self.rig.dir, "absent.sock")
        for args in (["status"], ["watch", "-n", "1"], ["send", "-p", "1", "x"], ["ping"]):
            r = ctl(*args, sock=absent)
            self.assertEqual(r.returncode, 69, (args, r.stderr))
            self.assertIn("unreachable", r.stderr)
        # version still works without a daemon, and says so.
        r = ctl("version", sock=absent)
        self.assertEqual(r.returncode, 0)
        self.assertIn("not reachable", r.stdout)
        r = ctl("ping", sock=self.rig.sock)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_send_stdin_unreadable_or_not_hex(self):
        # stdin that cannot be read is said so (not "more than 478 bytes"); input that
        # is not hex is quoted on one line, control bytes shown as '?'.
        d = os.open(self.rig.dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            r = subprocess.run([CTL, "-s", self.rig.sock, "send", "-p", "1", "-"], stdin=d,
                               capture_output=True, text=True, timeout=TIMEOUT)
        finally:
            os.close(d)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("send: cannot read stdin: Is a directory", r.stderr)
        r = subprocess.run([CTL, "-s", self.rig.sock, "send", "--hex", "-p", "1", "-"],
                           input=b"zz\n\x1b[31mred", capture_output=True, timeout=TIMEOUT)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        self.assertNotIn(b"\x1b", r.stderr)
        self.assertIn(b"not hex bytes", r.stderr)

    def test_recover_incidents_reload(self):
        # recover: ACK once started; the watch shows the channel recovering, then up.
        w = subprocess.Popen([CTL, "-s", self.rig.sock, "watch", "--json", "--classes", "STATE"],
                             stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        try:
            self.assertEqual(json.loads(w.stdout.readline())["reason"], "snapshot")
            r = ctl("recover", "--action", "resync", sock=self.rig.sock)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("recover of channel m7 started", r.stdout)
            states = []
            while not (states and states[-1] == "up"):
                states.append(json.loads(w.stdout.readline())["state"])
            self.assertIn("recovering", states)
        finally:
            w.kill()
            w.wait()
            w.stdout.close()
        r = ctl("status", "--json", sock=self.rig.sock)
        self.assertGreaterEqual(json.loads(r.stdout)["channels"][0]["recoveries"], 1)
        # incidents: a table (or "no incidents recorded"), and the object with --json.
        r = ctl("incidents", sock=self.rig.sock)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("SEQ ") or "no incidents" in r.stdout, r.stdout)
        r = ctl("incidents", "--json", sock=self.rig.sock)
        self.assertEqual(json.loads(r.stdout)["class"], "INCIDENTS")
        # -c: an empty list names the channel; a name the daemon lacks gets the names it
        # has, as send and recover say it.
        r = ctl("incidents", "-c", "m7", sock=self.rig.sock)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("SEQ ") or
                        r.stdout == "no incidents recorded for channel m7\n", r.stdout)
        r = ctl("incidents", "-c", "nosuch", sock=self.rig.sock)
        self.assertEqual(r.returncode, 2)
        self.assertIn("incidents: no channel 'nosuch' (channels: m7)", r.stderr)
        # reload without a remoteproc configured: the daemon's ERROR, exit 1.
        r = ctl("reload", sock=self.rig.sock)
        self.assertEqual(r.returncode, 1)
        self.assertIn("(unsupported)", r.stderr)
        wait_for(self.rig.channel_up, "channel up after the recovery")

    # --- examples -----------------------------------------------------------------------

    # Every example prints a frame the same way: escaped text in quotes, or hex bytes.
    FRAME_TEXT = r'^frame m7/2 seq \d+: 1[78] bytes: "port 2 capture \d+\\n"$'
    FRAME_HEX = r"^frame m7/2 seq \d+: 1[78] bytes: 70 6f 72 74 20 32( [0-9a-f]{2})+ 0a$"

    def check_example_output(self, out, pattern, n=2):
        lines = out.splitlines()
        self.assertNotIn("", lines, "blank line in the output")
        frames = [l for l in lines if l.startswith("frame ")]
        self.assertEqual(len(frames), n, out)
        for l in frames:
            self.assertRegex(l, pattern)

    def check_no_daemon(self, argv, name):
        absent = os.path.join(self.rig.dir, "absent.sock")
        r = subprocess.run(argv + [absent] if argv[-1] in ("-s", "--socket") else argv,
                           capture_output=True, text=True, timeout=TIMEOUT,
                           env=dict(os.environ, QT_QPA_PLATFORM="offscreen", RETRIES="2"))
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertIn(f"{name}: no m7bridged at {absent} after 2 tries", r.stderr)
        self.assertIn("try 1/2", r.stderr)

    def test_example_c(self):
        for flag, pattern in (([], self.FRAME_TEXT), (["-x"], self.FRAME_HEX)):
            r = subprocess.run([C_EXAMPLE, "-s", self.rig.sock, "-p", "2", "-n", "2"] + flag,
                               capture_output=True, text=True, timeout=TIMEOUT)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.check_example_output(r.stdout, pattern)
        self.check_no_daemon([C_EXAMPLE, "-r", "2", "-s"], "m7watch")

    def test_example_python(self):
        for flag, pattern in (([], self.FRAME_TEXT), (["--hex"], self.FRAME_HEX)):
            r = subprocess.run([sys.executable, PY_EXAMPLE, "--socket", self.rig.sock,
                                "--port", "2", "--count", "2"] + flag,
                               capture_output=True, text=True, timeout=TIMEOUT)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.check_example_output(r.stdout, pattern)
        self.check_no_daemon([sys.executable, PY_EXAMPLE, "--retries", "2", "--retry", "0.1",
                              "--socket"], "m7watch")

    def run_shell_example(self, *args):
        p = subprocess.Popen(["sh", SH_EXAMPLE] + list(args) + [self.rig.sock],
                             stdout=subprocess.PIPE, start_new_session=True,
                             stdin=subprocess.DEVNULL)
        buf = b""
        try:
            end = time.monotonic() + TIMEOUT
            while buf.count(b"\n") < 4 and time.monotonic() < end:
                r, _, _ = select.select([p.stdout], [], [], 0.5)
                if r:
                    chunk = os.read(p.stdout.fileno(), 4096)
                    if not chunk:
                        break
                    buf += chunk
        finally:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait()
            p.stdout.close()
        return buf.decode(errors="replace").splitlines()

    def test_example_shell(self):
        if not shutil.which("socat") or not shutil.which("jq"):
            self.skipTest("socat or jq missing")
        lines = self.run_shell_example()
        self.assertNotIn("", lines[:-1], "blank line in the output")
        frames = [l for l in lines[:-1] if l.startswith("m7/2 ")]
        self.assertTrue(frames, lines)
        for l in frames:
            self.assertRegex(l, r'^m7/2 seq \d+: "port 2 capture \d+\\n"$')
        lines = self.run_shell_example("--hex")
        frames = [l for l in lines[:-1] if l.startswith("m7/2 ")]
        self.assertTrue(frames, lines)
        for l in frames:
            self.assertRegex(l, r"^m7/2 seq \d+: 70 6f 72 74 20 32( [0-9a-f]{2})+ 0a$")
        absent = os.path.join(self.rig.dir, "absent.sock")
        r = subprocess.run(["sh", SH_EXAMPLE, absent], capture_output=True, text=True,
                           timeout=TIMEOUT, env=dict(os.environ, RETRIES="2"))
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertIn(f"m7watch.sh: no m7bridged at {absent} after 2 tries", r.stderr)

    def test_shell_readme_send(self):
        # The README's send one-liner: the ACK comes back while the request side is open.
        if not shutil.which("socat") or not shutil.which("jq"):
            self.skipTest("socat or jq missing")
        r = subprocess.run(
            "(echo '{\"cmd\":\"send\",\"channel\":\"m7\",\"port\":1,\"hex\":\"68690a\"}'; "
            f"sleep 3) | socat - UNIX-CONNECT:{self.rig.sock} | "
            "jq -c 'select(.class==\"ACK\" or .class==\"ERROR\")'",
            shell=True, capture_output=True, text=True, timeout=TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r'^\{"class":"ACK",.*"cmd":"send"')


class QtExample(unittest.TestCase):
    def test_example_qt_reconnects(self):
        if not os.access(QT_EXAMPLE, os.X_OK):
            self.skipTest("Qt example not built")
        rig = Rig()
        try:
            rig.start_sim()
            rig.start_daemon()
            wait_for(rig.channel_up, "channel m7 up")
            self.run_qt(rig)
        except AssertionError:
            print(rig.log(), file=sys.stderr)
            raise
        finally:
            rig.stop()
            shutil.rmtree(rig.dir, ignore_errors=True)

    def run_qt(self, rig):
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
        # Qt's own allocations are not ours to chase under LeakSanitizer.
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
        r = subprocess.run([QT_EXAMPLE, "--socket", rig.sock, "--port", "2", "--count", "2"],
                           capture_output=True, text=True, timeout=TIMEOUT, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        ClientE2E.check_example_output(self, r.stdout, ClientE2E.FRAME_TEXT)
        # A normal end after --count is no "daemon went away".
        self.assertNotIn("went away", r.stdout)
        r = subprocess.run([QT_EXAMPLE, "--socket", rig.sock, "--port", "2", "--count", "2",
                            "--hex"], capture_output=True, text=True, timeout=TIMEOUT, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        ClientE2E.check_example_output(self, r.stdout, ClientE2E.FRAME_HEX)
        absent = os.path.join(rig.dir, "absent.sock")
        r = subprocess.run([QT_EXAMPLE, "--retries", "2", "--socket", absent],
                           capture_output=True, text=True, timeout=TIMEOUT, env=env)
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertIn(f"m7watch-qt: no m7bridged at {absent} after 2 tries", r.stderr)
        # Restart the daemon under a running client: it reconnects and streams again.
        after = restart_under(rig, [QT_EXAMPLE, "--socket", rig.sock, "--port", "2"], env=env,
                              noticed="daemon went away")
        self.assertIn("connected to m7bridged", after)
        wait_for(rig.channel_up, "channel up again")
        # It resumed from the new daemon's first capture: the old position, whose seq the
        # new daemon's HELLO restarted, passed none over.
        self.assertIn("the daemon restarted: resuming with all it holds", after)
        caps = [int(m) for m in re.findall(r'capture (\d+)\\n"', after)]
        self.assertTrue(caps, after)
        self.assertEqual(caps[0], self.first_capture(rig), after)

    @staticmethod
    def first_capture(rig):
        """The number of the oldest capture on port 2 the daemon still holds."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(TIMEOUT)
            s.connect(rig.sock)
            s.sendall(b'{"cmd":"watch","classes":["FRAME"],"ports":[2],"since_ns":0}\n')
            for line in s.makefile("rb"):
                obj = json.loads(line)
                if obj.get("class") == "FRAME":
                    return int(re.search(rb"capture (\d+)\n",
                                         base64.b64decode(obj["data"])).group(1))
        raise AssertionError("no frame from the daemon")

    def test_example_python_resumes(self):
        """The Python example resumes after the last frame it printed: across a daemon
        restart, while it waits 2 s to reconnect, the new daemon receives captures; they
        are replayed to it, then live ones follow without a hole or a repeat. (Captures
        the simulator sends while no daemon holds the tty are lost to everyone.)"""
        rig = Rig()
        try:
            rig.start_sim()
            rig.start_daemon()
            wait_for(rig.channel_up, "channel m7 up")
            after = restart_under(
                rig, [sys.executable, PY_EXAMPLE, "--socket", rig.sock, "--port", "2",
                      "--retry", "2"],
                done=lambda a: "frames replayed" in a and a.count("frame m7/2") >= 3)
            # What the new daemon received before the client was back came as a replay,
            # and from there on every capture once, in order.
            self.assertRegex(after, r"m7watch: resumed: [1-9]\d* frames replayed")
            caps = [int(m) for m in re.findall(r'capture (\d+)\\n"', after)]
            self.assertGreater(len(caps), 2, after)
            self.assertEqual(caps, list(range(caps[0], caps[0] + len(caps))), after)
            # The old daemon's position names no frame of the new one (its HELLO restarted
            # seq): the client saw the restart and took everything from the new daemon's
            # first capture on, none passed over.
            self.assertIn("the daemon restarted: resuming with all it holds", after)
            self.assertEqual(caps[0], self.first_capture(rig), after)
        except AssertionError:
            print(rig.log(), file=sys.stderr)
            raise
        finally:
            rig.stop()
            shutil.rmtree(rig.dir, ignore_errors=True)


class ReloadNotify(unittest.TestCase):
    """A firmware reload through m7bridgectl on a fake remoteproc sysfs tree: while the
    channel is reloading, the daemon extends systemd's timeout and says so in STATUS=."""

    def fake_kernel(self, state_path, stop):
        # Answers writes to the state file the way remoteproc does.
        while not stop.is_set():
            try:
                with open(state_path) as f:
                    st = f.read().strip()
            except OSError:
                st = ""
            if st == "stop":
                with open(state_path, "w") as f:
                    f.write("offline\n")
            elif st == "start":
                with open(state_path, "w") as f:
                    f.write("running\n")
            stop.wait(0.02)

    def test_reload_extends_timeout(self):
        rig = Rig()
        stop = threading.Event()
        kernel = None
        daemon = None
        try:
            rp = os.path.join(rig.dir, "sys", "class", "remoteproc", "remoteproc0")
            os.makedirs(rp)
            for name, text in (("name", "imx-rproc\n"), ("state", "running\n"),
                               ("firmware", "old.elf\n")):
                with open(os.path.join(rp, name), "w") as f:
                    f.write(text)
            # The daemon reads the build-id of the file before a reload: any ELF will do.
            fwdir = os.path.join(rig.dir, "firmware")
            os.makedirs(fwdir)
            os.symlink(DAEMON, os.path.join(fwdir, "new.elf"))
            conf = os.path.join(rig.dir, "m7bridge.conf")
            with open(conf, "w") as f:
                f.write(f"[daemon]\nsocket = {rig.sock}\nkernel_log = off\n"
                        f"sysfs_root = {os.path.join(rig.dir, 'sys')}\nfirmware_dir = {fwdir}\n"
                        f"[channel m7]\ndevice = {rig.link}\nremoteproc = remoteproc0\n"
                        "firmware = new.elf\nreload_timeout_ms = 5000\n")
            kernel = threading.Thread(target=self.fake_kernel,
                                      args=(os.path.join(rp, "state"), stop), daemon=True)
            kernel.start()
            rig.start_sim()
            env = dict(os.environ, NOTIFY_SOCKET=rig.notify.path, WATCHDOG_USEC="300000")
            env.pop("WATCHDOG_PID", None)
            log = open(os.path.join(rig.dir, "daemon.log"), "ab")
            daemon = Proc([DAEMON, "-f", "-c", conf], env=env, stdout=log,
                          stderr=subprocess.STDOUT)
            log.close()
            wait_for(rig.channel_up, "channel m7 up")
            r = ctl("reload", "new.elf", sock=rig.sock)
            self.assertEqual(r.returncode, 0, r.stderr)
            n = rig.notify
            wait_for(lambda: n.count("EXTEND_TIMEOUT_USEC=120000000"), "EXTEND_TIMEOUT_USEC")
            wait_for(lambda: any(m.startswith("STATUS=reloading firmware on m7; ")
                                 for m in n.drain()), "STATUS while reloading")
            def firmware():
                with open(os.path.join(rp, "firmware")) as f:
                    return f.read().strip() == "new.elf"
            wait_for(firmware, "the daemon to write the new firmware name")
            # Once the reload is over (up or failed) the extensions stop; the watchdog goes on.
            def settled():
                msgs = n.drain()
                last = [m for m in msgs if m.startswith("STATUS=")][-1]
                return not last.startswith("STATUS=reloading")
            wait_for(settled, "the reload to end", timeout=60)
            extends = n.count("EXTEND_TIMEOUT_USEC=")
            dogs = n.count("WATCHDOG=1")
            wait_for(lambda: n.count("WATCHDOG=1") >= dogs + 3, "three more WATCHDOG=1")
            self.assertEqual(n.count("EXTEND_TIMEOUT_USEC="), extends)
            self.assertEqual(daemon.stop(), 0)
            wait_for(lambda: n.count("STOPPING=1"), "STOPPING=1")
        except AssertionError:
            print(rig.log(), file=sys.stderr)
            raise
        finally:
            stop.set()
            if kernel:
                kernel.join()
            if daemon:
                daemon.stop()
            rig.stop()
            shutil.rmtree(rig.dir, ignore_errors=True)


class SocketActivation(unittest.TestCase):
    def test_socket_activation(self):
        act = shutil.which("systemd-socket-activate")
        if not act:
            self.skipTest("systemd-socket-activate missing")
        rig = Rig()
        p = None
        try:
            rig.start_sim()
            path = os.path.join(rig.dir, "activated.sock")
            # The socket exists before the daemon: the first client starts it.
            p = Proc([act, "-l", path, "-E", "NOTIFY_SOCKET=" + rig.notify.path, DAEMON, "-f",
                      "-C", f"m7={rig.link}"], stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
            wait_for(lambda: os.path.exists(path), "activation socket")
            r = ctl("status", "--json", sock=path)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(json.loads(r.stdout)["channels"][0]["name"], "m7")
            wait_for(lambda: rig.notify.count("READY=1"), "READY=1 when activated")
            r = ctl("watch", "-n", "1", "-p", "2", sock=path)
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            if p:
                p.stop()
            rig.stop()
            shutil.rmtree(rig.dir, ignore_errors=True)


class HostileName(unittest.TestCase):
    """A firmware name with control characters and bytes that are not UTF-8 is printed as
    one line of plain text by the human-readable outputs, and exactly by --json."""

    NAME = b"\xff\xfeevil\n\"\\name\x1b[31m" + "\u00e9".encode() * 50

    @classmethod
    def setUpClass(cls):
        cls.rig = Rig()
        cls.rig.start_sim(extra=[b"--name", cls.NAME])
        cls.rig.start_daemon()
        try:
            wait_for(cls.rig.channel_up, "channel m7 up")
        except AssertionError:
            print(cls.rig.log(), file=sys.stderr)
            cls.rig.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.rig.stop()
        shutil.rmtree(cls.rig.dir, ignore_errors=True)

    def raw(self, *args):
        return subprocess.run([CTL, "-s", self.rig.sock, *args], capture_output=True,
                              timeout=TIMEOUT, stdin=subprocess.DEVNULL)

    def assert_plain(self, out):
        text = out.decode("utf-8")  # a column cut inside a character fails here
        for ch in text:
            self.assertTrue(ch == "\n" or (ch >= " " and ch != "\x7f"
                                           and not "\x80" <= ch <= "\x9f"), repr(text))
        return text

    def test_status(self):
        r = self.raw("status")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = self.assert_plain(r.stdout).splitlines()
        self.assertEqual(len(lines), 3, lines)
        self.assertIn("\ufffd\ufffdevil?\"\\name?[31m\u00e9", lines[2])
        # --json stays exact: the daemon's valid-UTF-8 form of the name, controls and all.
        r = self.raw("status", "--json")
        fw = json.loads(r.stdout)["channels"][0]["firmware"]
        name = fw["name"] if isinstance(fw, dict) else fw
        self.assertTrue(name.startswith('\ufffd\ufffdevil\n"\\name\x1b[31m\u00e9'), repr(name))

    def test_watch_hello(self):
        # The snapshot's HELLO comes before the frame.
        r = self.raw("watch", "--classes", "HELLO,FRAME", "-p", "2", "-n", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        hello = [l for l in self.assert_plain(r.stdout).splitlines() if "hello from" in l]
        self.assertEqual(len(hello), 1, r.stdout)
        self.assertIn('"\ufffd\ufffdevil?"\\name?[31m\u00e9', hello[0])


class WatchClock(unittest.TestCase):
    """watch --classes CLOCK: the clock mapping as it appears after the firmware's HELLO,
    in words and, with --json, as the daemon's objects; bash completion offers it."""

    def test_watch_clock(self):
        rig = Rig()
        procs = []
        try:
            # The daemon first, with no device: both watches are in place (their STATE
            # snapshot came) before the firmware says HELLO and the mapping appears.
            rig.start_daemon()
            wait_for(lambda: ctl("ping", sock=rig.sock, timeout=10).returncode == 0,
                     "the daemon")
            outs = {}
            for name, args in (("human", ["--classes", "clock,state"]),
                               ("json", ["--json", "--classes", "CLOCK,STATE"])):
                outs[name] = os.path.join(rig.dir, name + ".out")
                with open(outs[name], "w") as out:
                    procs.append(Proc([CTL, "-s", rig.sock, "watch", *args], stdout=out,
                                      stderr=subprocess.STDOUT))

            def read(name):
                with open(outs[name], errors="replace") as f:
                    return f.read()
            wait_for(lambda: "state down (snapshot)" in read("human"), "human snapshot")
            wait_for(lambda: '"reason":"snapshot"' in read("json"), "json snapshot")
            rig.start_sim()
            mapped = (r"^\d\d:\d\d:\d\d\.\d{6} m7 clock from sync: mapped, error \+-[0-9.]+ "
                      r"[num]?s, rate [-+][0-9]+\.[0-9]{3} ppm \(\+-[0-9]+\.[0-9]{3}\), "
                      r"\d+ samples?")
            wait_for(lambda: re.search(mapped, read("human"), re.M), "a mapped CLOCK line")
            lines = read("human").splitlines()
            clocks = [l for l in lines if " clock " in l]
            self.assertRegex(clocks[0], r" m7 clock from sync: not mapped ")
            for l in lines:
                self.assertRegex(l, r"^\d\d:\d\d:\d\d\.\d{6} m7 (state|clock|seq reset: new boot) ")

            def json_clocks():
                objs = [json.loads(l) for l in read("json").splitlines() if l.endswith("}")]
                return [o for o in objs if o["class"] == "CLOCK"], objs
            wait_for(lambda: any(o["mapped"] for o in json_clocks()[0]), "a mapped CLOCK")
            clocks, objs = json_clocks()
            self.assertEqual({o["class"] for o in objs}, {"CLOCK", "STATE"})
            self.assertFalse(clocks[0]["mapped"])
            m = [o for o in clocks if o["mapped"]][0]
            for key in ("source", "offset_ns", "rate_ppm", "rate_err_ppm", "err_ns",
                        "samples", "updated_mono_ns", "epochs", "rejected"):
                self.assertIn(key, m)
        finally:
            for p in procs:
                p.stop()
            rig.stop()
            shutil.rmtree(rig.dir, ignore_errors=True)

    def test_completion_offers_clock(self):
        script = "/usr/share/bash-completion/bash_completion"
        if not os.path.exists(script):
            self.skipTest("bash-completion is not installed")

        def complete(line):
            r = subprocess.run(
                ["bash", "-c", f"source {script}; source \"$1\"; COMP_WORDS=({line}); "
                 "COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_LINE='" + line + "'; "
                 "COMP_POINT=${#COMP_LINE}; _m7bridgectl; echo \"${COMPREPLY[@]}\"", "bash",
                 os.path.join(SOURCE, "tools", "m7bridgectl.bash-completion")],
                capture_output=True, text=True, timeout=TIMEOUT)
            return r.stdout.split()
        self.assertEqual(complete("m7bridgectl watch --classes C"), ["CLOCK"])
        # The last item of a list is completed, the ones before it kept.
        self.assertEqual(complete("m7bridgectl watch --classes FRAME,CL"), ["FRAME,CLOCK"])
        self.assertEqual(sorted(complete("m7bridgectl watch --classes FRAME,STATE,H")),
                         ["FRAME,STATE,HEARTBEAT", "FRAME,STATE,HELLO"])


class NotASocket(unittest.TestCase):
    """-s naming something that is not a socket is said so, not blamed on the daemon."""

    def test_regular_file(self):
        d = tempfile.mkdtemp(prefix="m7b-e2e-")
        try:
            path = os.path.join(d, "plain")
            with open(path, "w") as f:
                f.write("not a socket\n")
            r = ctl("status", sock=path)
            self.assertEqual(r.returncode, 69, r.stderr)
            self.assertEqual(r.stderr, f"m7bridgectl: m7bridged unreachable: {path} is not a socket\n")
        finally:
            shutil.rmtree(d, ignore_errors=True)


class FakeDaemon:
    """A stand-in for m7bridged on a Unix socket: sends VERSION, then answers each
    request line with reply(request) (bytes; may be cut short by closing)."""

    VERSION = b'{"class":"VERSION","release":"9","proto_major":1,"proto_minor":1}\n'

    def __init__(self, reply, greeting=VERSION):
        self.greeting = greeting
        self.dir = tempfile.mkdtemp(prefix="m7b-e2e-")
        self.sock = os.path.join(self.dir, "fake.sock")
        self.reply = reply
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(self.sock)
        self.srv.listen(4)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            with c:
                try:
                    c.sendall(self.greeting)
                    if not self.reply:
                        c.shutdown(socket.SHUT_RDWR)
                        continue
                    buf = b""
                    while True:
                        data = c.recv(65536)
                        if not data:
                            break
                        buf += data
                        while b"\n" in buf:
                            line, buf = buf.split(b"\n", 1)
                            out = self.reply(json.loads(line))
                            if out is None:
                                c.shutdown(socket.SHUT_RDWR)
                                raise OSError("closed")
                            c.sendall(out)
                except OSError:
                    pass

    def close(self):
        self.srv.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class MisbehavingDaemon(unittest.TestCase):
    """m7bridgectl facing a daemon that breaks the protocol: a clear line and the exit
    status of the man page, never a usage error for the daemon's fault."""

    def run_ctl(self, reply, *args, greeting=FakeDaemon.VERSION):
        fake = FakeDaemon(reply, greeting)
        try:
            return ctl("-t", "3000", *args, sock=fake.sock, timeout=20)
        finally:
            fake.close()

    def test_line_too_long_is_a_lost_connection(self):
        # libm7bridge takes lines up to 1 MiB and then disconnects: 69, not 2.
        big = b'{"class":"STATUS","id":1,"pad":"' + b"x" * (1024 * 1024 + 10) + b'"}\n'
        for args in (["status"], ["status", "--json"], ["ping"]):
            r = self.run_ctl(lambda req: big, *args)
            self.assertEqual(r.returncode, 69, (args, r.stderr))
            self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
            self.assertIn("lost the connection to m7bridged", r.stderr)
            self.assertIn("longer than 1048576 bytes", r.stderr)

    @staticmethod
    def streamer(objs, close_on_status=False):
        """A reply function: status gets a one-channel STATUS (or, once watching and
        close_on_status, a hang-up); watch gets its ACK followed by objs."""
        watching = []

        def reply(req):
            if req["cmd"] == "watch":
                watching.append(True)
                return (b'{"class":"ACK","id":%d,"cmd":"watch"}\n' % req["id"] +
                        b"".join(json.dumps(o).encode() + b"\n" for o in objs))
            if req["cmd"] == "status":
                if watching and close_on_status:
                    return None
                return (b'{"class":"STATUS","id":%d,"channels":[{"name":"m7","state":"up",'
                        b'"frames":1,"recoveries":0}]}\n' % req["id"])
            return b'{"class":"ACK","id":%d}\n' % req["id"]
        return reply

    def test_watch_odd_members(self):
        # Members of an unexpected shape print as absent, never as C's "(null)".
        objs = [{"class": "HEARTBEAT", "channel": "m7", "seq": 3, "counters": [1, 2]},
                {"class": "HEARTBEAT", "channel": "m7", "seq": 4,
                 "counters": {"captures": 5}},
                {"class": "FRAME", "channel": "m7", "port": 2, "seq": 5, "t_first": 1,
                 "t_last": 2, "data": "aGk=", "len": 2}]
        r = self.run_ctl(self.streamer(objs), "watch", "-n", "1", "--classes",
                         "frame,heartbeat")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("(null)", r.stdout)
        self.assertRegex(r.stdout, r"m7 heartbeat seq=3\n")
        self.assertRegex(r.stdout, r"m7 heartbeat seq=4 captures=5\n")

    def test_watch_shows_what_came_before_a_lost_connection(self):
        # Frames that arrived while watch asked for its counters are printed before
        # the lost connection is reported.
        objs = [{"class": "FRAME", "channel": "m7", "port": 2, "seq": n, "t_first": 1,
                 "t_last": 2, "data": "aGk=", "len": 2} for n in (7, 8, 9)]
        r = self.run_ctl(self.streamer(objs, close_on_status=True), "watch")
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertIn("lost the connection to m7bridged", r.stderr)
        for n in (7, 8, 9):
            self.assertIn(f" m7/2 seq={n} len=2 ", r.stdout)

    # A daemon with no slot left sends VERSION and ERROR busy (no id) in one write and
    # closes; an older one sent the ERROR in place of VERSION.
    BUSY = b'{"class":"ERROR","code":"busy","message":"too many clients"}\n'
    REFUSALS = {"new": FakeDaemon.VERSION + BUSY, "old": BUSY}

    def test_connection_refused_with_a_reason(self):
        # The reason is shown, and the exit status is that of a failed request, whichever
        # order the daemon refuses in.
        for order, busy in self.REFUSALS.items():
            for args in (["status"], ["watch"], ["ping"]):
                r = self.run_ctl(None, *args, greeting=busy)
                self.assertEqual(r.returncode, 1, (order, args, r.stderr))
                self.assertEqual(r.stderr, "m7bridgectl: m7bridged refused the connection: "
                                 "too many clients (busy)\n", (order, args))
            r = self.run_ctl(None, "version", greeting=busy)
            self.assertEqual(r.returncode, 0, (order, r.stderr))
            self.assertIn("m7bridged refused the connection: too many clients (busy)",
                          r.stdout, order)
            self.assertNotIn("m7bridged 9 ", r.stdout, order)

    def test_follower_says_why_it_cannot_follow(self):
        # The exporter (as the MQTT bridge) retries a refused connection quietly, but
        # says once why: the daemon's own reason, whichever order it refuses in.
        exporter = os.path.join(BUILD, "tools", "exporter", "m7bridge-exporter")
        if not os.access(exporter, os.X_OK):
            self.skipTest("no exporter")
        for order, busy in self.REFUSALS.items():
            fake = FakeDaemon(None, greeting=busy)
            try:
                p = subprocess.Popen([exporter, "-s", fake.sock, "--listen", "none", "-f",
                                      os.path.join(fake.dir, "m.prom")],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
                time.sleep(2)  # several retries
                p.terminate()
                err = p.communicate(timeout=TIMEOUT)[1]
            finally:
                fake.close()
            self.assertEqual(err.count("m7bridged refused the connection: too many clients "
                                       "(busy)"), 1, (order, err))

    def test_reply_of_another_class(self):
        # A PONG where a STATUS is due is the daemon's error: 1 and a line saying so.
        def pong(req):
            return b'{"class":"PONG","id":%d}\n' % req["id"]
        for args in (["status"], ["status", "--json"], ["incidents"]):
            r = self.run_ctl(pong, *args)
            self.assertEqual(r.returncode, 1, (args, r.stdout, r.stderr))
            self.assertEqual(r.stdout, "", args)
            self.assertRegex(r.stderr, r"^m7bridgectl: \w+: the daemon answered with PONG "
                             r"where (STATUS|INCIDENTS) was due\n$")


class ManPages(unittest.TestCase):
    """Every option a program's --help offers is in its man page, long and short form."""

    CTL_COMMANDS = ("status", "watch", "top", "send", "recover", "reload", "incidents",
                    "ports", "ping", "version")

    def options(self, text):
        return (set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]+", text)) |
                set(re.findall(r"(?<![\w-])-[a-zA-Z](?=,)", text)))

    def check(self, helps, page):
        with open(os.path.join(SOURCE, "docs", "man", page)) as f:
            man = f.read().replace("\\", "")
        in_man = set(re.findall(r"\*(--?[a-zA-Z][a-z0-9-]*)\*", man))
        missing = set()
        for argv in helps:
            if not os.access(argv[0], os.X_OK):
                continue
            r = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT,
                               stdin=subprocess.DEVNULL)
            self.assertEqual(r.returncode, 0, (argv, r.stderr))
            missing |= self.options(r.stdout) - in_man
        self.assertEqual(missing, set(), page)

    def test_m7bridgectl(self):
        # The top-level summary quotes doctor's options too: they are in its own page.
        r = subprocess.run([CTL, "--help"], capture_output=True, text=True)
        doctor = [l for l in r.stdout.splitlines() if l.strip().startswith("doctor ")]
        self.assertEqual(len(doctor), 1, r.stdout)
        with open(os.path.join(SOURCE, "docs", "man", "m7bridgectl-doctor.1.scd")) as f:
            doc_man = f.read()
        for opt in self.options(doctor[0]):
            self.assertIn(f"*{opt}*", doc_man)
        self.check([[CTL, c, "--help"] for c in self.CTL_COMMANDS], "m7bridgectl.1.scd")
        self.check([[CTL, "doctor", "--help"]], "m7bridgectl-doctor.1.scd")

    def test_daemon_sim_exporter_mqtt(self):
        for exe, page in ((DAEMON, "m7bridged.8.scd"), (SIM, "m7sim.1.scd"),
                          (os.path.join(BUILD, "tools", "exporter", "m7bridge-exporter"),
                           "m7bridge-exporter.1.scd"),
                          (os.path.join(BUILD, "tools", "mqtt", "m7bridge-mqtt"),
                           "m7bridge-mqtt.1.scd")):
            self.check([[exe, "--help"]], page)


if __name__ == "__main__":
    for exe in (CTL, DAEMON, SIM, C_EXAMPLE):
        if not os.access(exe, os.X_OK):
            print(f"SKIP: {exe} not built", file=sys.stderr)
            sys.exit(77)
    unittest.main(verbosity=2)
