#!/usr/bin/env python3
"""The C, Python and shell examples against a scripted stand-in for m7bridged: a daemon
that goes away (in the middle of a line, or before answering the watch) and comes back,
odd bytes in a payload, and bad command lines. Each must say what happened and carry on
(or refuse clearly), never crash or hang. Exit 77 (skip) without the binaries.
"""
import base64
import json
import os
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
C_EXAMPLE = os.path.join(BUILD, "examples", "m7watch")
QT_EXAMPLE = os.path.join(BUILD, "examples", "m7watch-qt")
PY_EXAMPLE = os.path.join(SOURCE, "examples", "python", "m7watch.py")
SH_EXAMPLE = os.path.join(SOURCE, "examples", "shell", "m7watch.sh")
TIMEOUT = 30.0
VERSION = b'{"class":"VERSION","release":"0.1.0","proto_major":1,"proto_minor":1}\n'


def frame(seq, data):
    return (json.dumps({"class": "FRAME", "channel": "m7", "port": 2, "seq": seq,
                        "t_first": 1, "t_last": 2, "data": base64.b64encode(data).decode()},
                       separators=(",", ":")) + "\n").encode()


BUSY = b'{"class":"ERROR","code":"busy","message":"too many clients"}\n'


class FakeDaemon:
    """Serves one script per connection, in order: each a list of byte strings to send
    (a float: seconds to wait, the connection open) after the client's first request line (b"" = read nothing, close at once after
    VERSION; BUSY = refuse the connection: VERSION, that ERROR, close). After the last
    script the socket goes away."""

    def __init__(self, path, scripts):
        self.path, self.scripts = path, scripts
        self.requests = []
        self.lsock = socket.socket(socket.AF_UNIX)
        self.lsock.bind(path)
        self.lsock.listen(4)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        scripts = list(self.scripts)
        while scripts:
            conn, _ = self.lsock.accept()
            with conn:
                try:
                    conn.sendall(VERSION)
                except OSError:
                    continue  # a probe that left at once
                if scripts[0] == b"":
                    scripts.pop(0)
                    continue
                if scripts[0] == BUSY:
                    scripts.pop(0)
                    try:
                        conn.sendall(BUSY)  # a refusal: no slot for this client
                    except OSError:
                        pass  # a probe that left at once
                    continue
                f = conn.makefile("rb")
                try:
                    line = f.readline()
                except OSError:
                    # A probe that closed with VERSION unread: the kernel sends a reset.
                    line = b""
                if not line:
                    f.close()
                    continue  # a probe (the shell example's): no script used
                script = scripts.pop(0)
                req = json.loads(line)
                # libm7bridge, resuming, first asks which daemon this is: one that has
                # been running all along.
                while req.get("cmd") == "status" and line:
                    conn.sendall(json.dumps({"class": "STATUS", "id": req.get("id", 0),
                                             "channels": [], "uptime_ms": 10**15}).encode()
                                 + b"\n")
                    line = f.readline()
                    req = json.loads(line or b"{}")
                self.requests.append(req)
                conn.sendall(json.dumps({"class": "ACK", "id": req.get("id", 0),
                                         "cmd": "watch"}).encode() + b"\n")
                for chunk in script:
                    if isinstance(chunk, float):
                        time.sleep(chunk)  # the connection stays open, quiet
                        continue
                    try:
                        conn.sendall(chunk)
                    except OSError:
                        break  # the client left

                f.close()
                conn.shutdown(socket.SHUT_RDWR)

    def close(self):
        self.lsock.close()


class Examples(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="m7b-examples-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.sock = os.path.join(self.dir, "m7bridge.sock")

    def daemon(self, scripts):
        d = FakeDaemon(self.sock, scripts)
        self.addCleanup(d.close)
        return d

    def run_until(self, argv, want, env=None):
        """Runs argv until it exits or, if want is not empty, until its stdout holds every
        string in want (then stops it); returns (exit status or None if stopped, stdout,
        stderr)."""
        # A session of its own: the shell example's socat and jq go with it.
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env, start_new_session=True)
        out, err = [], []

        def pump(src, dst):
            for line in src:
                dst.append(line.decode(errors="replace"))
        ts = [threading.Thread(target=pump, args=(p.stdout, out), daemon=True),
              threading.Thread(target=pump, args=(p.stderr, err), daemon=True)]
        for t in ts:
            t.start()
        try:
            itest_util.wait_for(lambda: p.poll() is not None or
                                (want and all(w in "".join(out) for w in want)),
                                f"{argv[0]} to show {want}", TIMEOUT)
        finally:
            stopped = p.poll() is None
            if stopped:
                os.killpg(p.pid, signal.SIGTERM)
            p.wait(TIMEOUT)
            for t in ts:
                t.join(TIMEOUT)
            p.stdout.close()
            p.stderr.close()
        return (None if stopped else p.returncode), "".join(out), "".join(err)

    def run_until_timeout(self, argv, seconds):
        """Runs argv for that long (or until it exits); returns (exit status or None,
        stdout, stderr)."""
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = p.communicate(timeout=seconds)
            return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGTERM)
            out, err = p.communicate(timeout=TIMEOUT)
            return None, out.decode(errors="replace"), err.decode(errors="replace")

    # --- a daemon that goes away in the middle of a line, then comes back -------------

    def cut_mid_line(self):
        return self.daemon([[frame(1, b"one\n"), frame(2, b"two")[:25]],
                            [frame(3, b"\x1b[2Jthree\xff")]])

    def test_python_cut_mid_line(self):
        self.cut_mid_line()
        rc, out, err = self.run_until([sys.executable, PY_EXAMPLE, "--socket", self.sock,
                                       "--count", "2", "--retry", "0.1"], [])
        self.assertEqual(rc, 0, err)
        self.assertIn('seq 1: 4 bytes: "one\\n"', out)
        self.assertIn('seq 3: 10 bytes: "\\x1b[2Jthree\\xff"', out)
        self.assertNotIn("Traceback", err)
        self.assertIn("closed the connection; reconnecting", err)

    def test_c_cut_mid_line(self):
        self.cut_mid_line()
        rc, out, err = self.run_until([C_EXAMPLE, "-s", self.sock, "-n", "2"], [])
        self.assertEqual(rc, 0, err)
        self.assertIn('seq 1: 4 bytes: "one\\n"', out)
        self.assertIn('seq 3: 10 bytes: "\\x1b[2Jthree\\xff"', out)

    def test_shell_cut_mid_line(self):
        self.cut_mid_line()
        rc, out, err = self.run_until(["sh", SH_EXAMPLE, self.sock],
                                      ["seq 1:", "seq 3:"])
        self.assertIsNone(rc, f"exited {rc} instead of reconnecting: {err}")
        self.assertIn('m7/2 seq 1: "one\\n"', out)
        self.assertIn("closed the connection; reconnecting", err)
        # Control bytes come out escaped, never raw.
        self.assertNotIn("\x1b", out)

    def test_shell_pauses_between_reconnects(self):
        """A daemon that takes the connection and closes it at once (refusing clients,
        or crashing at each start): the shell example waits before each new try, as
        the C and Python ones do, instead of hammering it in a tight loop."""
        self.daemon([b""] * 40)
        rc, out, err = self.run_until_timeout(["sh", SH_EXAMPLE, self.sock], 2.5)
        tries = err.count("reconnecting")
        self.assertGreaterEqual(tries, 1, err)
        self.assertLessEqual(tries, 4, f"{tries} reconnects in 2.5 s")

    def test_c_pauses_between_reconnects(self):
        """A daemon that answers the watch and then closes at once, each time: the C
        example waits a second before each new connection."""
        self.daemon([[]] * 40)
        rc, out, err = self.run_until_timeout([C_EXAMPLE, "-s", self.sock], 2.5)
        tries = err.count("reconnecting")
        self.assertGreaterEqual(tries, 1, err)
        self.assertLessEqual(tries, 4, f"{tries} reconnects in 2.5 s")

    def test_python_pauses_between_reconnects(self):
        self.daemon([[]] * 40)
        rc, out, err = self.run_until_timeout([sys.executable, PY_EXAMPLE, "--socket",
                                               self.sock], 2.5)
        tries = err.count("reconnecting")
        self.assertGreaterEqual(tries, 1, err)
        self.assertLessEqual(tries, 4, f"{tries} reconnects in 2.5 s")

    def test_shell_refused_says_why(self):
        """A daemon with no slot left: the shell example says why (not just that the
        connection closed), and tries again a second later."""
        self.daemon([BUSY] * 40)
        rc, out, err = self.run_until_timeout(["sh", SH_EXAMPLE, self.sock], 2.5)
        self.assertIsNone(rc, f"exited {rc} instead of trying again: {err}")
        self.assertIn("m7bridged refused the connection: too many clients (busy)", err)
        self.assertNotIn("closed the connection", err)
        self.assertLessEqual(err.count("refused"), 4, err)

    def test_shell_ends_with_its_reader(self):
        """| head: the script ends once its reader has gone and more comes to print (jq
        then dies of SIGPIPE, and socat of EPIPE at the next object), not when the
        daemon closes the connection."""
        self.daemon([[frame(1, b"one"), frame(2, b"two"), 0.5, frame(3, b"three"), 0.5,
                      frame(4, b"four"), 0.5, frame(5, b"five"), 20.0]])
        start = time.monotonic()
        rc, out, err = self.run_until(
            ["sh", "-c", f'sh "$0" "$1" | head -n 1', SH_EXAMPLE, self.sock], [])
        self.assertIsNotNone(rc, err)
        self.assertIn('seq 1: "one"', out)
        self.assertLess(time.monotonic() - start, 10, err)

    def ends_with_its_reader(self, argv, env=None):
        """argv | head -n 1 ends soon after head has gone and more comes to print."""
        self.daemon([[frame(1, b"one"), frame(2, b"two"), 0.5, frame(3, b"three"), 0.5,
                      frame(4, b"four"), 0.5, frame(5, b"five"), 20.0]])
        start = time.monotonic()
        rc, out, err = self.run_until(
            ["sh", "-c", '"$@" | head -n 1', "sh"] + argv, [], env=env)
        self.assertIsNotNone(rc, err)
        self.assertEqual(out.count("\n"), 1, out)
        self.assertLess(time.monotonic() - start, 10, err)
        self.assertNotIn("Traceback", err)

    def test_python_ends_with_its_reader(self):
        self.ends_with_its_reader([sys.executable, PY_EXAMPLE, "--socket", self.sock,
                                   "--retry", "0.1"])

    def test_c_ends_with_its_reader(self):
        self.ends_with_its_reader([C_EXAMPLE, "-s", self.sock])

    def test_qt_ends_with_its_reader(self):
        if not os.access(QT_EXAMPLE, os.X_OK):
            self.skipTest("the Qt example is not built (no Qt 6)")
        self.ends_with_its_reader([QT_EXAMPLE, "--socket", self.sock],
                                  dict(os.environ, QT_QPA_PLATFORM="offscreen"))

    def test_shell_escapes_c1_controls(self):
        """U+009B is CSI to a terminal as much as ESC [ is: escaped, as \\u009b, not
        passed on as JSON allows."""
        self.daemon([[frame(1, b"a\xc2\x9b2Jb\x1b[2J"), 20.0]])
        rc, out, err = self.run_until(["sh", SH_EXAMPLE, self.sock], ["seq 1:"])
        self.assertIn('seq 1: "a\\u009b2Jb\\u001b[2J"', out)
        self.assertNotIn("\u009b", out)
        self.assertNotIn("\x1b", out)

    def test_shell_bad_retries_is_a_usage_error(self):
        for value in ("abc", "0", "-3", "1x"):
            env = dict(os.environ, RETRIES=value)
            r = subprocess.run(["sh", SH_EXAMPLE, self.sock], capture_output=True,
                               text=True, timeout=TIMEOUT, env=env)
            self.assertEqual(r.returncode, 2, (value, r.stderr))
            self.assertIn("RETRIES", r.stderr)

    def test_shell_needs_socat_and_jq(self):
        """Without jq (or socat) the shell example says what is missing and stops,
        rather than taking every failure of the pipeline for a lost connection."""
        self.daemon([[frame(1, b"x")]])
        bindir = os.path.join(self.dir, "bin")
        os.mkdir(bindir)
        for tool in ("socat", "sleep"):
            os.symlink(shutil.which(tool), os.path.join(bindir, tool))
        env = dict(os.environ, PATH=bindir)
        rc, out, err = self.run_until([shutil.which("sh"), SH_EXAMPLE, self.sock], [],
                                      env=env)
        self.assertEqual(rc, 127, err)
        self.assertIn("needs jq", err)

    # --- a daemon that closes before answering the watch (it is restarting) -----------

    def test_c_daemon_gone_before_watch_answered(self):
        self.daemon([b"", [frame(1, b"after")]])
        rc, out, err = self.run_until([C_EXAMPLE, "-s", self.sock, "-n", "1"], [])
        self.assertEqual(rc, 0, err)
        self.assertIn('seq 1: 5 bytes: "after"', out)
        self.assertIn("reconnecting", err)

    def test_c_refused_says_why(self):
        """A daemon with no slot left (VERSION, then ERROR busy, then the close): the C
        example says why, and connects again."""
        self.daemon([BUSY, [frame(1, b"after")]])
        rc, out, err = self.run_until([C_EXAMPLE, "-s", self.sock, "-n", "1"], [])
        self.assertEqual(rc, 0, err)
        self.assertIn("m7bridged refused the connection: too many clients (busy)", err)
        self.assertIn('seq 1: 5 bytes: "after"', out)

    def test_python_refused_says_why(self):
        """A daemon with no slot left: the Python example says why instead of claiming a
        connection, and connects again."""
        self.daemon([BUSY, [frame(1, b"after")]])
        rc, out, err = self.run_until([sys.executable, PY_EXAMPLE, "--socket", self.sock,
                                       "--count", "1", "--retry", "0.1"], [])
        self.assertEqual(rc, 0, err)
        self.assertIn("m7bridged refused the connection: too many clients (busy)", err)
        self.assertEqual(out.count("connected to m7bridged 0.1.0"), 1, out)
        self.assertIn('seq 1: 5 bytes: "after"', out)

    def test_python_refused_each_time_gives_up(self):
        """Refused on every try: never "connected", the daemon's reason, status 69."""
        self.daemon([BUSY, BUSY])
        rc, out, err = self.run_until([sys.executable, PY_EXAMPLE, "--socket", self.sock,
                                       "--retries", "2", "--retry", "0.1"], [])
        self.assertEqual(rc, 69, err)
        self.assertNotIn("connected", out)
        self.assertIn("refused the connection 2 times: too many clients (busy)", err)

    def test_python_refused_before_its_request_went_out(self):
        """The refusal and the close come before the script writes its watch (its write
        fails with EPIPE): it still reads the reason that came first."""
        self.daemon([BUSY, BUSY])
        slow = ("import runpy, socket, sys, time\n"
                "connect = socket.socket.connect\n"
                "def slow(s, a):\n"
                "    connect(s, a)\n"
                "    time.sleep(0.3)  # the daemon refuses and closes meanwhile\n"
                "socket.socket.connect = slow\n"
                "sys.argv = sys.argv[1:]\n"
                "runpy.run_path(sys.argv[0], run_name='__main__')\n")
        rc, out, err = self.run_until([sys.executable, "-c", slow, PY_EXAMPLE, "--socket",
                                       self.sock, "--retries", "2", "--retry", "0.1"], [])
        self.assertEqual(rc, 69, err)
        self.assertIn("refused the connection 2 times: too many clients (busy)", err)

    def test_python_daemon_gone_before_watch_answered(self):
        self.daemon([b"", [frame(1, b"after")]])
        rc, out, err = self.run_until([sys.executable, PY_EXAMPLE, "--socket", self.sock,
                                       "--count", "1", "--retry", "0.1"], [])
        self.assertEqual(rc, 0, err)
        self.assertIn('seq 1: 5 bytes: "after"', out)

    # --- losses the daemon reports: a client that fell behind, a replay that fell short --

    DROPPED = b'{"class":"DROPPED","count":17,"total":40}\n'
    GAP = (b'{"class":"REPLAY_GAP","channel":"m7","frames":1200,"exact":true,'
           b'"first_boot_id":5,"first_seq":1001,"last_boot_id":5,"last_seq":2200}\n')

    def losses(self):
        return self.daemon([[frame(1, b"a"), self.DROPPED, self.GAP, frame(2, b"b")]])

    def test_c_reports_losses(self):
        self.losses()
        rc, out, err = self.run_until([C_EXAMPLE, "-s", self.sock, "-n", "2"], [])
        self.assertEqual(rc, 0, err)
        self.assertIn('seq 2: 1 bytes: "b"', out)
        self.assertIn("17 objects dropped", err)
        self.assertIn("1200 frames of m7 were lost", err)

    def test_python_reports_losses(self):
        self.losses()
        rc, out, err = self.run_until([sys.executable, PY_EXAMPLE, "--socket", self.sock,
                                       "--count", "2"], [])
        self.assertEqual(rc, 0, err)
        self.assertIn('seq 2: 1 bytes: "b"', out)
        self.assertIn("17 objects dropped", err)
        self.assertIn("1200 frames of m7 were lost", err)

    def test_shell_reports_losses(self):
        self.losses()
        rc, out, err = self.run_until(["sh", SH_EXAMPLE, self.sock], ["seq 2:"])
        self.assertIn("17 objects dropped", out)

    def test_qt_reports_losses(self):
        if not os.access(QT_EXAMPLE, os.X_OK):
            self.skipTest("the Qt example is not built (no Qt 6)")
        self.losses()
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
        rc, out, err = self.run_until([QT_EXAMPLE, "--socket", self.sock, "--count", "2"],
                                      [], env=env)
        self.assertEqual(rc, 0, err)
        self.assertIn("17 objects dropped", err)

    def test_qt_refused_says_why(self):
        """A daemon with no slot left: the Qt example says why instead of claiming a
        connection, and connects again."""
        if not os.access(QT_EXAMPLE, os.X_OK):
            self.skipTest("the Qt example is not built (no Qt 6)")
        self.daemon([BUSY, [frame(1, b"after")]])
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
        rc, out, err = self.run_until([QT_EXAMPLE, "--socket", self.sock, "--count", "1"],
                                      [], env=env)
        self.assertEqual(rc, 0, err)
        self.assertIn("m7bridged refused the connection: too many clients (busy)", err)
        self.assertEqual(out.count("connected to m7bridged 0.1.0"), 1, out)
        self.assertIn('seq 1: 5 bytes: "after"', out)
        self.assertNotIn("went away", out)  # it said why instead

    def test_qt_refused_each_time_gives_up(self):
        if not os.access(QT_EXAMPLE, os.X_OK):
            self.skipTest("the Qt example is not built (no Qt 6)")
        self.daemon([BUSY, BUSY])
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
        rc, out, err = self.run_until([QT_EXAMPLE, "--socket", self.sock, "--retries", "2"],
                                      [], env=env)
        self.assertEqual(rc, 69, err)
        self.assertNotIn("connected", out)
        self.assertIn("refused the connection 2 times: too many clients (busy)", err)

    # --- a socket this user may not open: say so, and what to do, at once -------------

    def stranger(self, argv, env=None):
        """argv run by a user the daemon's socket is closed to: as root, the user nobody
        (root passes any file mode); else this user, with the socket's mode 0."""
        self.daemon([[frame(1, b"x")]])
        os.chmod(self.dir, 0o711)
        os.chmod(self.sock, 0o600 if os.geteuid() == 0 else 0)
        if os.geteuid() == 0:
            if argv[0] == sys.executable and os.access("/usr/bin/python3", os.X_OK):
                argv = ["/usr/bin/python3"] + argv[1:]  # one nobody may run
            argv = ["runuser", "-u", "nobody", "--"] + [self.for_nobody(a) for a in argv]
        return self.run_until(argv, [], env=env)

    def for_nobody(self, arg):
        """arg, or for an example of this tree a copy in the test's directory: the tree may
        sit where the user nobody cannot reach it (a clone under /root, a 0700 temporary
        directory). The C example finds its library at ../lib from where it is."""
        if arg not in (C_EXAMPLE, QT_EXAMPLE, PY_EXAMPLE, SH_EXAMPLE):
            return arg
        lib = os.path.join(self.dir, "lib")
        os.makedirs(lib, exist_ok=True)
        for name in os.listdir(os.path.join(BUILD, "lib")):
            if name.startswith("libm7bridge.so") and not name.endswith(".p"):
                shutil.copy2(os.path.join(BUILD, "lib", name), lib)
        os.makedirs(os.path.join(self.dir, "bin"), exist_ok=True)
        return shutil.copy2(arg, os.path.join(self.dir, "bin"))

    def assert_says_permission(self, rc, err):
        self.assertEqual(rc, 69, err)
        self.assertIn("permission", err.lower())
        self.assertIn("group", err)
        self.assertNotIn("is it running", err)
        self.assertNotIn("try 1/", err)  # no point in trying again: it will not change

    def test_python_no_permission_says_so(self):
        self.assert_says_permission(*self.stranger(
            [sys.executable, PY_EXAMPLE, "--socket", self.sock, "--retry", "0.1"])[::2])

    def test_c_no_permission_says_so(self):
        self.assert_says_permission(*self.stranger([C_EXAMPLE, "-s", self.sock])[::2])

    def test_shell_no_permission_says_so(self):
        self.assert_says_permission(*self.stranger(["sh", SH_EXAMPLE, self.sock])[::2])

    def test_qt_no_permission_says_so(self):
        if not os.access(QT_EXAMPLE, os.X_OK):
            self.skipTest("the Qt example is not built (no Qt 6)")
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
        self.assert_says_permission(
            *self.stranger([QT_EXAMPLE, "--socket", self.sock], env)[::2])

    # --- a line that is not JSON -------------------------------------------------------

    def test_python_bad_line_skipped(self):
        self.daemon([[b"this is not json\n", b"[1,2]\n", frame(1, b"ok")]])
        rc, out, err = self.run_until([sys.executable, PY_EXAMPLE, "--socket", self.sock,
                                       "--count", "1"], [])
        self.assertEqual(rc, 0, err)
        self.assertIn('seq 1: 2 bytes: "ok"', out)
        self.assertIn("not a JSON object", err)
        self.assertNotIn("Traceback", err)

    def test_c_bad_line_said(self):
        """A bad line is skipped, said on stderr (what it carried is lost), and the
        stream goes on."""
        self.daemon([[b"this is not json\n",
                      b'{"class":"FRAME","channel":"m7","port":2,"seq":5,"data":"%%%"}\n',
                      frame(1, b"ok")]])
        rc, out, err = self.run_until([C_EXAMPLE, "-s", self.sock, "-n", "1"], [])
        self.assertEqual(rc, 0, err)
        self.assertIn('seq 1: 2 bytes: "ok"', out)
        self.assertEqual(err.count("m7watch: skipped a bad line: "), 2, err)
        self.assertIn("not valid JSON", err)
        self.assertIn("not valid base64", err)

    def test_python_bad_objects_skipped(self):
        """JSON objects without the members their class has, or with a payload that is
        not base64: skipped with a message, never a traceback."""
        self.daemon([[b'{"class":"FRAME","channel":"m7"}\n', b'{"class":"STATE"}\n',
                      b'{"class":"HELLO","channel":"m7"}\n',
                      b'{"class":"REPLAY_GAP","frames":"many"}\n',
                      b'{"class":"FRAME","channel":"m7","port":2,"seq":9,"data":"%%%"}\n',
                      frame(1, b"ok")]])
        rc, out, err = self.run_until([sys.executable, PY_EXAMPLE, "--socket", self.sock,
                                       "--count", "1"], [])
        self.assertNotIn("Traceback", err)
        self.assertEqual(rc, 0, err)
        self.assertIn('seq 1: 2 bytes: "ok"', out)
        self.assertEqual(err.count("skipped"), 5, err)

    # --- command lines ---------------------------------------------------------------

    def test_c_bad_numbers_are_usage_errors(self):
        for args in (["-p", "abc"], ["-p", "300"], ["-n", "abc"], ["-n", "0"], ["-r", "x"]):
            r = subprocess.run([C_EXAMPLE, "-s", self.sock] + args, capture_output=True,
                               text=True, timeout=TIMEOUT)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn("usage:", r.stderr)


    def test_python_bad_numbers_are_usage_errors(self):
        for args in (["--port", "abc"], ["--port", "300"], ["--port", "-1"],
                     ["--count", "-5"], ["--retry", "-1"], ["--retry", "nan"],
                     ["--retries", "0"]):
            r = subprocess.run([sys.executable, PY_EXAMPLE, "--socket", self.sock] + args,
                               capture_output=True, text=True, timeout=TIMEOUT)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn("usage:", r.stderr)
            self.assertNotIn("Traceback", r.stderr)

    def test_socket_path_too_long_is_a_usage_error(self):
        """A Unix socket path has at most 107 bytes: a longer one is said at once (no
        traceback, no tries)."""
        long_path = os.path.join(self.dir, "a" * 120)
        argvs = [[sys.executable, PY_EXAMPLE, "--socket", long_path],
                 [C_EXAMPLE, "-s", long_path]]
        if os.access(QT_EXAMPLE, os.X_OK):
            argvs.append([QT_EXAMPLE, "--socket", long_path])
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
        for argv in argvs:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT,
                               env=env)
            self.assertEqual(r.returncode, 2, (argv[0], r.stderr))
            self.assertIn("107", r.stderr)
            self.assertNotIn("Traceback", r.stderr)

    def test_qt_bad_numbers_are_usage_errors(self):
        """Not read as 0 (port 0, no count, one try) and acted on."""
        if not os.access(QT_EXAMPLE, os.X_OK):
            self.skipTest("the Qt example is not built (no Qt 6)")
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
        for args in (["--port", "abc"], ["--port", "300"], ["--port", "-1"],
                     ["--count", "abc"], ["--count", "-5"], ["--retries", "0"],
                     ["--retries", "x"], ["--bogus"], ["--port"]):
            r = subprocess.run([QT_EXAMPLE, "--socket", self.sock] + args,
                               capture_output=True, text=True, timeout=TIMEOUT, env=env)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn(args[0].lstrip("-"), r.stderr)


if __name__ == "__main__":
    missing = [p for p in (C_EXAMPLE, PY_EXAMPLE, SH_EXAMPLE) if not os.path.exists(p)]
    missing += [t for t in ("socat", "jq") if not shutil.which(t)]
    if missing:
        print(f"skip: missing {missing}", file=sys.stderr)
        sys.exit(77)
    unittest.main(verbosity=2)
