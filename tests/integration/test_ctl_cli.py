#!/usr/bin/env python3
"""m7bridgectl as a newcomer types it, against a scripted daemon: what --help and the man
page promise works, the bash completion offers what exists, and output that cannot be
written is said so. Paths come from M7B_BUILD_ROOT / M7B_SOURCE_ROOT (set by meson)."""
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_ctl_losses import ScriptedDaemon, channel  # noqa: E402

BUILD = os.environ.get("M7B_BUILD_ROOT", "build")
SOURCE = os.environ.get("M7B_SOURCE_ROOT", ".")
CTL = os.path.join(BUILD, "tools", "m7bridgectl")
COMPLETION = os.path.join(SOURCE, "tools", "m7bridgectl.bash-completion")
BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"


class PortsDaemon(ScriptedDaemon):
    """A channel whose configuration names port 1 only (STATUS ports), on a firmware
    that has ports 0..2: sends to those are ACKed, others refused as the firmware does."""

    def __init__(self, path):
        self.sent = []
        super().__init__(path)

    def on_request(self, req, send):
        if req.get("cmd") == "status":
            send({"class": "STATUS", "id": req.get("id"),
                  "channels": [channel(ports=[{"port": 1, "name": "gps"}])],
                  "release": "0.1.0", "uptime_ms": 1000, "client_id": 1, "clients": []})
        elif req.get("cmd") == "send":
            if req.get("port") in (0, 1, 2):
                self.sent.append((req["port"], base64.b64decode(req["data"])))
                send({"class": "ACK", "id": req.get("id"), "cmd": "send", "channel": "m7",
                      "seq": 9})
            else:
                send({"class": "ERROR", "id": req.get("id"), "code": "send_failed",
                      "message": "the firmware rejected the send: bad_port"})


class FrameDaemon(ScriptedDaemon):
    """ACKs a watch and sends one FRAME; answers status."""

    def on_request(self, req, send):
        if req.get("cmd") == "watch":
            send({"class": "ACK", "id": req.get("id"), "cmd": "watch"})
            send({"class": "FRAME", "channel": "m7", "port": 1, "seq": 3, "t_first": 1,
                  "t_last": 2, "data": "aGk="})
        elif req.get("cmd") == "status":
            send({"class": "STATUS", "id": req.get("id"), "channels": [channel()],
                  "release": "0.1.0", "uptime_ms": 1000, "client_id": 1, "clients": []})


class EchoFrameDaemon(ScriptedDaemon):
    """A FRAME whose bytes are a request line (what an M7 may send on its UART); keeps
    every line the client sends, parsed or not; self.raw sends bytes as they are."""

    def __init__(self, path):
        self.lines = []
        super().__init__(path)

    def run(self):
        try:
            c, _ = self.srv.accept()
        except OSError:
            return
        with c:
            send = lambda o: c.sendall(json.dumps(o).encode() + b"\n")
            self.raw = c.sendall
            send({"class": "VERSION", "release": "0.1.0", "proto_major": 1, "proto_minor": 1})
            buf = b""
            while True:
                d = c.recv(4096)
                if not d:
                    return
                buf += d
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    self.lines.append(line)
                    try:
                        req = json.loads(line)
                    except ValueError:
                        continue
                    self.on_request(req, send)

    def on_request(self, req, send):
        if req.get("cmd") == "watch":
            send({"class": "ACK", "id": req.get("id"), "cmd": "watch"})
            data = b'{"cmd":"reload","id":99,"channel":"m7"}\n'
            send({"class": "FRAME", "channel": "m7", "port": 1, "seq": 3,
                  "data": base64.b64encode(data).decode()})
        elif req.get("cmd") == "status":
            send({"class": "STATUS", "id": req.get("id"), "channels": [channel()],
                  "release": "0.1.0", "uptime_ms": 1000, "client_id": 1, "clients": []})


class EscapeDaemon(ScriptedDaemon):
    """Terminal escapes and a C1 CSI in every string it sends, its release too."""
    ESC = "\x1b]0;owned\x07\x1b[2J\u009b31m"

    def run(self):
        try:
            c, _ = self.srv.accept()
        except OSError:
            return
        with c:
            c.sendall(json.dumps({"class": "VERSION", "release": "0.1" + self.ESC,
                                  "proto_major": 1, "proto_minor": 1},
                                 ensure_ascii=False).encode() + b"\n")
            c.recv(4096)


class IncidentsDaemon(ScriptedDaemon):
    """One incident whose figures no int64_t holds, one that ends before it starts."""

    def on_request(self, req, send):
        if req.get("cmd") == "incidents":
            send({"class": "INCIDENTS", "id": req.get("id"), "incidents": [
                {"seq": 1e30, "start_us": 1e30, "end_us": -1e30, "channel": "m7",
                 "kind": "stall", "source": "host", "outcome": "recovered", "steps": []},
                {"seq": 2, "start_us": 2000000, "end_us": 1000000, "channel": "m7",
                 "kind": "stall", "source": "host", "outcome": "recovered", "steps": []}]})


class RawEscapeDaemon(EchoFrameDaemon):
    """Lines a JSON parser may take but that are no JSON text: a raw escape, a byte that
    is not UTF-8; then a good FRAME."""

    def on_request(self, req, send):
        if req.get("cmd") == "watch":
            send({"class": "ACK", "id": req.get("id"), "cmd": "watch"})
            self.raw(b'{"class":"LOG","channel":"m7","seq":1,"text":"\x1b]0;owned\x07"}\n')
            self.raw(b'{"class":"LOG","channel":"m7","seq":2,"text":"\xff\xfe"}\n')
            send({"class": "FRAME", "channel": "m7", "port": 1, "seq": 3, "data": "aGk="})
        elif req.get("cmd") == "status":
            self.raw(b'{"class":"STATUS","id":%d,"release":"\x1b[2J","channels":[]}\n'
                     % req.get("id"))


class EscapeChannelDaemon(ScriptedDaemon):
    """Its one channel's name holds escapes; it ACKs send and recover."""
    NAME = "m7\x1b]0;owned\x07\x1b[2J"

    def on_request(self, req, send):
        if req.get("cmd") == "status":
            send({"class": "STATUS", "id": req.get("id"),
                  "channels": [channel(name=self.NAME)],
                  "release": "0.1.0", "uptime_ms": 1000, "client_id": 1, "clients": []})
        else:
            send({"class": "ACK", "id": req.get("id"), "cmd": req.get("cmd"),
                  "channel": self.NAME, "seq": 1})


class ManyChannelsDaemon(ScriptedDaemon):
    """Nine channels; at the watch, one frame on each of 18 ports of the first."""

    def on_request(self, req, send):
        if req.get("cmd") == "status":
            send({"class": "STATUS", "id": req.get("id"),
                  "channels": [channel(name=f"c{i}") for i in range(9)],
                  "release": "0.1.0", "uptime_ms": 1000, "client_id": 1, "clients": []})
        elif req.get("cmd") == "watch":
            send({"class": "ACK", "id": req.get("id"), "cmd": "watch"})
            for p in range(18):
                send({"class": "FRAME", "channel": "c0", "port": p, "seq": p, "data": "aGk="})
        else:
            send({"class": "ERROR", "id": req.get("id"), "code": "unsupported",
                  "message": "no incident record"})


class NoChannelDaemon(ScriptedDaemon):
    """Configured with no channel."""

    def on_request(self, req, send):
        if req.get("cmd") == "status":
            send({"class": "STATUS", "id": req.get("id"), "channels": [],
                  "release": "0.1.0", "uptime_ms": 1000, "client_id": 1, "clients": []})
        elif req.get("cmd") == "watch":
            send({"class": "ACK", "id": req.get("id"), "cmd": "watch"})
        else:
            send({"class": "INCIDENTS", "id": req.get("id"), "incidents": []})


class ChatterDaemon(ScriptedDaemon):
    """Sends a line every 50 ms, bad JSON or a valid object, and never VERSION."""

    def __init__(self, path, line):
        self.line, self.stop = line, threading.Event()
        super().__init__(path)

    def run(self):
        try:
            c, _ = self.srv.accept()
        except OSError:
            return
        with c:
            try:
                while not self.stop.wait(0.05):
                    c.sendall(self.line)
            except OSError:
                pass

    def close(self):
        self.stop.set()
        super().close()


class WideNameDaemon(ScriptedDaemon):
    """One channel named with ten two-byte characters; serves every connection. Leaves
    the first INCIDENTS request unanswered, then has one incident."""
    NAME = "\u00e9" * 10

    def __init__(self, path):
        self.incident_requests = 0
        super().__init__(path)

    def run(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        with c:
            send = lambda o: c.sendall(json.dumps(o, ensure_ascii=False).encode() + b"\n")
            send({"class": "VERSION", "release": "0.1.0", "proto_major": 1, "proto_minor": 1})
            buf = b""
            while True:
                d = c.recv(4096)
                if not d:
                    return
                buf += d
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    req = json.loads(line)
                    if req.get("cmd") == "status":
                        send({"class": "STATUS", "id": req["id"],
                              "channels": [channel(name=self.NAME)], "clients": []})
                    elif req.get("cmd") == "watch":
                        send({"class": "ACK", "id": req["id"], "cmd": "watch"})
                    elif self.incident_requests == 0:
                        self.incident_requests += 1
                    else:
                        send({"class": "INCIDENTS", "id": req["id"], "incidents": [
                            {"seq": 1, "channel": self.NAME, "kind": "stall",
                             "outcome": "recovered", "start_us": 1000000,
                             "end_us": 3000000, "steps": []}]})


class TwoChannelDaemon(ScriptedDaemon):
    """Channels a and b; an incident on b, whatever channel is asked for."""

    def on_request(self, req, send):
        if req.get("cmd") == "status":
            send({"class": "STATUS", "id": req.get("id"),
                  "channels": [channel(name="a"), channel(name="b")],
                  "release": "0.1.0", "uptime_ms": 1000, "client_id": 1, "clients": []})
        elif req.get("cmd") == "watch":
            send({"class": "ACK", "id": req.get("id"), "cmd": "watch"})
        else:
            send({"class": "INCIDENTS", "id": req.get("id"), "incidents": [
                {"seq": 1, "channel": "b", "kind": "stall", "start_us": 1, "end_us": 2,
                 "steps": []}]})


class ClosingDaemon(ScriptedDaemon):
    """ACKs a watch and closes the connection, as it does to a client that fell behind
    under policy disconnect."""

    def on_request(self, req, send):
        if req.get("cmd") == "watch":
            send({"class": "ACK", "id": req.get("id"), "cmd": "watch"})
            raise ConnectionResetError  # ends run(): the connection closes
        send({"class": "STATUS", "id": req.get("id"), "channels": [channel()],
              "release": "0.1.0", "uptime_ms": 1000, "client_id": 1, "clients": []})

    def run(self):
        try:
            super().run()
        except ConnectionResetError:
            pass


class ClockDaemon(ScriptedDaemon):
    """ACKs a watch and sends one CLOCK (unmapped, after two epochs and a rejected reply),
    then one FRAME."""

    def on_request(self, req, send):
        if req.get("cmd") == "watch":
            send({"class": "ACK", "id": req.get("id"), "cmd": "watch"})
            send({"class": "CLOCK", "channel": "m7", "source": "sync", "mapped": False,
                  "epochs": 2, "rejected": 1})
            # -n counts frames: one ends the watch.
            send({"class": "FRAME", "channel": "m7", "port": 1, "seq": 3, "data": "aGk="})
        elif req.get("cmd") == "status":
            send({"class": "STATUS", "id": req.get("id"), "channels": [channel()],
                  "release": "0.1.0", "uptime_ms": 1000, "client_id": 1, "clients": []})


def run(*args, stdout=subprocess.PIPE):
    return subprocess.run([CTL, *args], stdout=stdout, stderr=subprocess.PIPE, text=True,
                          timeout=30, stdin=subprocess.DEVNULL)


class Send(unittest.TestCase):
    def test_port_the_configuration_does_not_name(self):
        """Naming port 1 in the configuration does not make port 2 unreachable: the
        daemon sends to it, so m7bridgectl must too; the firmware alone refuses."""
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "s.sock")
            fd = PortsDaemon(path)
            try:
                r = run("-s", path, "send", "-p", "2", "hi")
            finally:
                fd.close()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "sent 2 bytes to m7 port 2\n")
        self.assertEqual(fd.sent, [(2, b"hi")])

    def test_hex_from_a_file_with_tabs_and_crlf(self):
        """--hex takes blanks between bytes: those of a file written elsewhere too."""
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "s.sock")
            fd = PortsDaemon(path)
            try:
                r = run("-s", path, "send", "-p", "1", "--hex", "48\t65\r\n6c:6c 6f\r\n")
            finally:
                fd.close()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(fd.sent, [(1, b"Hello")])

    def test_hex_stdin_that_fills_the_buffer_exactly(self):
        """Hex on stdin padded with blanks to exactly the reader's buffer is one byte, not
        "more than 478 bytes"; one character more is refused as characters of hex."""
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "s.sock")
            fd = PortsDaemon(path)
            try:
                r = subprocess.run([CTL, "-s", path, "send", "-p", "1", "--hex", "-"],
                                   input="41" + " " * 2867, capture_output=True, text=True,
                                   timeout=30)
            finally:
                fd.close()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(fd.sent, [(1, b"A")])
        r = subprocess.run([CTL, "-s", "/nonexistent/s", "send", "-p", "1", "--hex", "-"],
                           input="41" + " " * 2868, capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("more than 2869 characters of hex", r.stderr)

    def test_port_the_firmware_does_not_have(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "s.sock")
            fd = PortsDaemon(path)
            try:
                r = run("-s", path, "send", "-p", "9", "hi")
            finally:
                fd.close()
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("has no UART port 9", r.stderr)
        self.assertEqual(fd.sent, [])


class Output(unittest.TestCase):
    def run_full(self, daemon, *args):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "s.sock")
            fd = daemon(path)
            try:
                with open("/dev/full", "w") as full:
                    return run("-s", path, *args, stdout=full)
            finally:
                fd.close()

    def test_watch_to_a_full_disk_says_so(self):
        r = self.run_full(FrameDaemon, "watch", "-n", "1")
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot write to standard output: No space left on device", r.stderr)

    def test_watch_clock_line_is_the_man_pages(self):
        """`epochs` counts every start over of the mapping (an M7 clock restart without
        a HELLO, a host suspend, a change of NTP's slew): the line says so, as the man
        page quotes it, not that the M7 clock restarted."""
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "s.sock")
            fd = ClockDaemon(path)
            try:
                r = run("-s", path, "watch", "-n", "1", "--classes", "clock,frame")
            finally:
                fd.close()
        self.assertEqual(r.returncode, 0, r.stderr)
        line = [x for x in r.stdout.splitlines() if " clock from " in x][0]
        self.assertTrue(line.endswith(
            " clock from sync: not mapped (frames carry M7 ticks only), mapping started "
            "over 2 times, 1 reply rejected"), line)
        with open(os.path.join(SOURCE, "docs", "man", "m7bridgectl.1.scd")) as f:
            man = " ".join(f.read().split())
        for quoted in ("*not mapped (frames carry M7 ticks only)*",
                       "*, mapping started over* _N_ *times*", "*, *_N_* replies rejected*"):
            self.assertIn(quoted, man)

    def test_closed_stdout_is_not_the_daemons_socket(self):
        """With stdout closed (>&-) the socket would be descriptor 1: watch --text
        would relay the M7's raw bytes (here a request line) to the daemon as requests
        of this client. It must fail at once and say so, the daemon seeing no request
        it did not mean to send."""
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "s.sock")
            fd = EchoFrameDaemon(path)
            try:
                r = subprocess.run([CTL, "-s", path, "watch", "-n", "1", "--text"],
                                   stderr=subprocess.PIPE, text=True, timeout=30,
                                   stdin=subprocess.DEVNULL, preexec_fn=lambda: os.close(1))
            finally:
                fd.close()
            fd.join(10)  # every line the client wrote before it exited
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("cannot write to standard output: Bad file descriptor", r.stderr)
        cmds = [json.loads(x).get("cmd") for x in fd.lines]
        self.assertNotIn("reload", cmds)

    def test_version_shows_no_escape_from_the_daemon(self):
        """The daemon's release is shown as text: no escape sequence reaches a terminal."""
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "s.sock")
            fd = EscapeDaemon(path)
            try:
                r = run("-s", path, "version")
            finally:
                fd.close()
        self.assertEqual(r.returncode, 0, r.stderr)
        line = r.stdout.splitlines()[1]
        self.assertTrue(line.startswith("m7bridged 0.1?]0;owned??[2J?31m (protocol 1.1)"),
                        line)

    def test_incidents_figures_out_of_range(self):
        """Figures no integer holds, or an end before the start, show as "?" and not as
        what a wrapped conversion reads (-2147483648, a year -290308, "-9223372036854.-775s")."""
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "s.sock")
            fd = IncidentsDaemon(path)
            try:
                r = run("-s", path, "incidents")
            finally:
                fd.close()
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = [x.split() for x in r.stdout.splitlines()[1:]]
        self.assertEqual(rows[0][:4], ["?", "?", "?", "m7"])
        self.assertEqual(rows[1][0], "2")
        self.assertEqual(rows[1][3:5], ["?", "m7"])  # the date's two words, then "?"

    def test_json_passes_on_only_json_text(self):
        """--json prints the daemon's lines as they came, but only JSON text: a line with
        a raw escape (it would reach the terminal) or a byte that is not UTF-8 is
        skipped and said so on stderr; the rest goes on."""
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "s.sock")
            fd = RawEscapeDaemon(path)
            try:
                r = subprocess.run([CTL, "-s", path, "watch", "--json", "-n", "1"],
                                   capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
            finally:
                fd.close()
            os.unlink(path)
            fd = RawEscapeDaemon(path)  # serves one client
            try:
                s = subprocess.run([CTL, "-s", path, "status", "--json"],
                                   capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
            finally:
                fd.close()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn(b"\x1b", r.stdout)
        out = [json.loads(x.decode("utf-8")) for x in r.stdout.splitlines()]
        self.assertEqual([o["class"] for o in out], ["FRAME"])
        self.assertEqual(r.stderr.decode().count("(LOG skipped)"), 2, r.stderr)
        self.assertEqual(s.returncode, 1, s.stderr)
        self.assertEqual(s.stdout, b"")
        self.assertIn(b"raw control byte or is not UTF-8", s.stderr)

    def test_confirmations_show_no_escape_from_the_daemon(self):
        """send and recover name the channel the daemon has (no -c): as text."""
        for args, want in ((["send", "-p", "1", "hi"], "sent 2 bytes to m7?]0;owned??[2J port 1\n"),
                           (["recover"], "recover of channel m7?]0;owned??[2J started")):
            with tempfile.TemporaryDirectory() as d:
                path = os.path.join(d, "s.sock")
                fd = EscapeChannelDaemon(path)
                try:
                    r = run("-s", path, *args)
                finally:
                    fd.close()
            self.assertEqual(r.returncode, 0, (args, r.stderr))
            self.assertNotIn("\x1b", r.stdout)
            self.assertTrue(r.stdout.startswith(want), r.stdout)

    def test_top_shows_every_channel_and_port(self):
        """The daemon takes 64 channels and a firmware 256 ports: top shows each channel,
        and the frames of ports past its rows in one row of their own, not nowhere."""
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "s.sock")
            fd = ManyChannelsDaemon(path)
            try:
                r = run("-s", path, "top", "-n", "1")
            finally:
                fd.close()
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual([x.split()[1] for x in lines], [f"c{i}" for i in range(9)])
        self.assertIn(" port15=", lines[0])
        self.assertIn(" other_ports=", lines[0])

    def test_help_and_version_to_a_full_disk_say_so(self):
        """--help, -V and help COMMAND are output like any other: lost, it is said, and
        the exit status is 1, as for status --help."""
        for args in (["--help"], ["-V"], ["help"], ["help", "watch"], ["status", "--help"]):
            with open("/dev/full", "w") as full:
                r = run(*args, stdout=full)
            self.assertEqual(r.returncode, 1, args)
            self.assertIn("cannot write to standard output: No space left on device",
                          r.stderr, args)

    def test_top_plain_with_no_channel_still_prints(self):
        """One line per refresh even with no channel: nothing at all reads as hung."""
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "s.sock")
            fd = NoChannelDaemon(path)
            try:
                r = run("-s", path, "top", "-n", "2")
            finally:
                fd.close()
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 2, r.stdout)
        self.assertTrue(all(x.endswith(" no channel (the daemon has none configured)")
                            for x in lines), lines)

    def test_timeout_holds_for_a_socket_that_never_greets(self):
        """Lines that never include VERSION do not renew the wait: -t bounds the whole
        greeting, for status as for doctor (whose job is to spot a hung daemon)."""
        for line in (b"junk\n", b'{"class":"STATE","channel":"m7","state":"up"}\n'):
            for args in (["status"], ["doctor", "--root", "/", "--json"]):
                with tempfile.TemporaryDirectory() as d:
                    path = os.path.join(d, "s.sock")
                    fd = ChatterDaemon(path, line)
                    try:
                        r = subprocess.run([CTL, "-s", path, "-t", "300", *args],
                                           capture_output=True, text=True, timeout=20,
                                           stdin=subprocess.DEVNULL)
                    finally:
                        fd.close()
                self.assertEqual(r.returncode, 1, (line, args, r.stderr))
                if args[0] == "status":
                    self.assertIn("no reply from m7bridged within 300 ms", r.stderr)
                else:
                    daemon = [c for c in json.loads(r.stdout)["checks"]
                              if c["check"] == "daemon"][0]
                    self.assertIn("accepts but does not answer", daemon["fix"])

    def test_watch_and_top_with_stdout_closed_fail_at_once(self):
        """With nowhere to print, watch and top say so at once, not at a first frame
        that may never come (this daemon sends none)."""
        for args in (["watch"], ["top"]):
            with tempfile.TemporaryDirectory() as d:
                path = os.path.join(d, "s.sock")
                fd = NoChannelDaemon(path)
                try:
                    r = subprocess.run([CTL, "-s", path, *args], stderr=subprocess.PIPE,
                                       text=True, timeout=20, stdin=subprocess.DEVNULL,
                                       preexec_fn=lambda: os.close(1))
                finally:
                    fd.close()
            self.assertEqual(r.returncode, 1, args)
            self.assertIn("cannot write to standard output: Bad file descriptor", r.stderr)

    def test_top_channel_shows_that_channel_only(self):
        """top -c a shows a alone: an incident of channel b does not add b to it."""
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "s.sock")
            fd = TwoChannelDaemon(path)
            try:
                r = run("-s", path, "top", "-c", "a", "-n", "1")
            finally:
                fd.close()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([x.split()[1] for x in r.stdout.splitlines()], ["a"])

    def test_watch_disconnected_under_its_policy_says_why(self):
        """--policy disconnect asks the daemon to close a client that falls behind: a
        closed connection then says that this may be why (exit 69 all the same)."""
        for policy, hint in (("disconnect", True), ("drop", False)):
            with tempfile.TemporaryDirectory() as d:
                path = os.path.join(d, "s.sock")
                fd = ClosingDaemon(path)
                try:
                    r = run("-s", path, "watch", "--policy", policy)
                finally:
                    fd.close()
            self.assertEqual(r.returncode, 69, r.stderr)
            self.assertIn("lost the connection", r.stderr)
            self.assertEqual("closes a client that falls behind" in r.stderr, hint, r.stderr)

    def test_top_to_a_full_disk_says_so(self):
        r = self.run_full(FrameDaemon, "top", "-n", "1")
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot write to standard output: No space left on device", r.stderr)


@unittest.skipUnless(shutil.which("tmux"), "tmux is not installed")
class Screen(unittest.TestCase):
    def top_screen(self, daemon, cols, until, args=()):
        """The screen of `top` on a cols x 24 terminal once a row holds `until`, or the
        last one seen within 15 s."""
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "s.sock")
            fd = daemon(path)
            # A server of its own each time, its socket in the temporary directory: a
            # killed one may still hold it, and nothing is left behind.
            srv = ["tmux", "-S", os.path.join(d, "tmux.sock")]
            cmd = (f"env LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=xterm {CTL} -s {path} "
                   f"{' '.join(args)} top; sleep 30")
            screen = ""
            try:
                subprocess.run(srv + ["new-session", "-d", "-x", str(cols), "-y", "24", cmd],
                               check=True, timeout=30)
                for _ in range(150):
                    screen = subprocess.run(srv + ["capture-pane", "-p"], text=True,
                                            capture_output=True, timeout=30).stdout
                    if until in screen:
                        break
                    time.sleep(0.1)
            finally:
                subprocess.run(srv + ["kill-server"], capture_output=True, timeout=30)
                fd.close()
        return screen

    def test_top_asks_for_incidents_again_after_a_late_reply(self):
        """One INCIDENTS reply that does not come in time is no reason to stop asking:
        the last incident shows once the daemon answers (top asks every 5 s)."""
        screen = self.top_screen(WideNameDaemon, 80, "last: stall", ["-t", "300"])
        self.assertIn("last: stall, 2.000s, recovered", screen)

    def test_top_cuts_lines_at_columns_not_bytes(self):
        """A 50-column terminal holds a 45-character line whose channel name takes two
        bytes a character: it shows whole, not cut at 50 bytes (the same cut hid the
        newest half of the sparkline on 80 columns)."""
        screen = self.top_screen(WideNameDaemon, 50, " boot -")
        row = next((x for x in screen.splitlines() if "for " in x), "")
        self.assertTrue(row.startswith(WideNameDaemon.NAME + " up"), row)
        self.assertTrue(row.rstrip().endswith(" boot -"), row)


def help_commands():
    """The commands of the global --help."""
    out = run("--help").stdout
    block = out.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    return [m.group(1) for m in re.finditer(r"^  ([a-z]+)", block, re.M)]


def help_options(cmd, with_value=False):
    """Every option, long and short, that `m7bridgectl CMD --help` lists (with the name of
    its value, or '')."""
    out = run(cmd, "--help").stdout
    found = re.findall(r"^ +(?:(-[a-zA-Z]), )?(--[a-z-]+)(?: ([A-Z]+))?", out, re.M)
    return set(found if with_value else ((s, l) for s, l, _ in found))


# A good value for each kind of option value the help texts name.
VALUES = {"COUNT": "1", "NAME": "m7", "PORT": "1", "LIST": "FRAME", "P": "drop",
          "STEP": "resync", "DIR": "/", "FILE": "/dev/null", "MS": "100"}


class Help(unittest.TestCase):
    def test_every_listed_option_is_accepted(self):
        """Each option a command's --help lists is taken by the command (a usage error,
        exit 2 with 'unknown option', would make the help untrue)."""
        for cmd in help_commands():
            for short, long, value in help_options(cmd, with_value=True):
                for opt in filter(None, (short, long)):
                    args = [opt, VALUES[value]] if value else [opt]
                    r = run("-s", "/nonexistent/sock", cmd, *args, "--help")
                    self.assertEqual(r.returncode, 0, (cmd, opt, r.stderr))
                    self.assertTrue(r.stdout.startswith("Usage:"), (cmd, opt))

    def test_json_commands_list_and_take_j(self):
        """The man page: -j is --json wherever a command takes --json."""
        for cmd in help_commands():
            if "--json" not in run(cmd, "--help").stdout:
                continue
            self.assertIn(("-j", "--json"), help_options(cmd), cmd)

    def test_one_channel_commands_refuse_two(self):
        """-c twice with two names is contradictory (the man page's exit 2), not the last
        one silently: 'reload -c m7 -c m8' must not reload m8 alone."""
        sock = "/nonexistent/m7b.sock"
        for args in (["recover", "-c", "a", "-c", "b"], ["reload", "-c", "a", "-c", "b"],
                     ["send", "-c", "a", "-c", "b", "-p", "1", "x"],
                     ["send", "-p", "1", "-p", "2", "x"], ["incidents", "-c", "a", "-c", "b"],
                     ["top", "-c", "a", "-c", "b"]):
            r = run("-s", sock, *args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn("one ", r.stderr)
        # The same name twice is no contradiction: it goes on (to the absent daemon).
        self.assertEqual(run("-s", sock, "recover", "-c", "a", "-c", "a").returncode, 69)

    def test_option_errors_say_what_is_wrong(self):
        """A flag given a value is not "needs a value"; the option is named as typed."""
        sock = "/nonexistent/m7b.sock"
        for args, msg in ((["status", "--json=1"], "status: option '--json' takes no value"),
                          (["--help=x"], "option '--help' takes no value"),
                          (["watch", "--count"], "watch: option '--count' needs a value"),
                          (["watch", "-n"], "watch: option -n needs a value"),
                          (["watch", "--bogus=1"], "watch: unknown option '--bogus'"),
                          (["doctor", "--root"], "doctor: option '--root' needs a value")):
            r = run("-s", sock, *args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertEqual(r.stderr.splitlines()[0].split(" (try ")[0],
                             "m7bridgectl: " + msg, args)

    def test_one_value_options_refuse_two(self):
        """An option that holds one value, given twice with two, is contradictory (exit
        2), not the last one silently; the same value twice goes on."""
        sock = "/nonexistent/m7b.sock"
        for args in (["-s", "a", "-s", "b", "status"], ["-t", "5", "-t", "6", "status"],
                     ["watch", "-n", "1", "-n", "2"], ["watch", "-P", "drop", "-P",
                                                        "disconnect"],
                     ["top", "-n", "1", "-n", "2"], ["recover", "-a", "resync", "-a", "driver"],
                     ["doctor", "--root", "/", "--root", "/tmp"],
                     ["doctor", "-c", "a.conf", "-c", "b.conf"]):
            r = run(*args) if args[0] == "-s" else run("-s", sock, *args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn(" at a time, not both ", r.stderr, args)
        self.assertEqual(run("-s", sock, "watch", "-n", "1", "-n", "1").returncode, 69)

    def test_classes_add_up(self):
        """--classes is repeatable: the daemon is asked for every class named."""
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "s.sock")
            fd = EchoFrameDaemon(path)
            try:
                r = run("-s", path, "watch", "--json", "-n", "1", "--classes", "frame",
                        "-C", "log,fault")
            finally:
                fd.close()
            fd.join(10)
        self.assertEqual(r.returncode, 0, r.stderr)
        req = [json.loads(x) for x in fd.lines if b'"watch"' in x][0]
        self.assertEqual(sorted(req["classes"]), ["FAULT", "FRAME", "LOG"])

    def test_each_help_says_its_own_exit_status_once(self):
        """help COMMAND says one set of exit codes: doctor's own (3 for warnings, never
        69), not the generic line as well."""
        for cmd in help_commands():
            out = run("help", cmd).stdout
            lines = [x for x in out.splitlines() if x.startswith("Exit")]
            self.assertEqual(len(lines), 1, (cmd, out))
        self.assertNotIn("69", run("help", "doctor").stdout)
        self.assertIn("3 warnings", run("help", "doctor").stdout)

    def test_socket_path_too_long_is_a_usage_error(self):
        """No daemon can listen at a path longer than a Unix socket's: exit 2 (a bad
        argument), not 69 (a daemon that does not answer)."""
        r = run("-s", "/tmp/" + "a" * 150, "status")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("at most 107 bytes", r.stderr)

    def test_empty_socket_path_is_a_usage_error(self):
        """-s "" (an unset variable in a script) names no socket: exit 2, not a silent
        fall back to the default socket, which may be another daemon's."""
        with tempfile.TemporaryDirectory() as d:
            for args in (["-s", ""], ["--socket="], ["--socket", ""]):
                # A socket in the environment is no excuse either: -s wins over it.
                env = dict(os.environ, M7BRIDGE_SOCKET=os.path.join(d, "sock"))
                r = subprocess.run([CTL, *args, "status"], capture_output=True, text=True,
                                   timeout=30, stdin=subprocess.DEVNULL, env=env)
                self.assertEqual(r.returncode, 2, (args, r.stderr))
                self.assertIn("--socket", r.stderr)
                self.assertEqual(r.stderr.count("\n"), 1, r.stderr)

    def test_man_page_lists_every_command(self):
        with open(os.path.join(SOURCE, "docs", "man", "m7bridgectl.1.scd")) as f:
            man = f.read()
        for cmd in help_commands():
            self.assertTrue(re.search(rf"(?m)^\*{cmd}\*", man), f"{cmd} not in the man page")

    def test_ports_json_and_j(self):
        self.assertIn(("-j", "--json"), help_options("ports"))
        a, b = run("ports", "--json"), run("ports", "-j")
        self.assertEqual(a.returncode, b.returncode, b.stderr)
        self.assertNotIn("unexpected argument", b.stderr)


@unittest.skipUnless(os.path.exists(BASH_COMPLETION), "bash-completion is not installed")
class Completion(unittest.TestCase):
    def complete(self, line):
        r = subprocess.run(
            ["bash", "-c", f"source {BASH_COMPLETION}; source \"$1\"; COMP_WORDS=({line}); "
             "COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_LINE='" + line + "'; "
             "COMP_POINT=${#COMP_LINE}; _m7bridgectl; echo \"${COMPREPLY[@]}\"", "bash",
             COMPLETION], capture_output=True, text=True, timeout=30)
        return set(r.stdout.split())

    def test_commands_agree_with_help(self):
        offered = self.complete("m7bridgectl ''")
        self.assertEqual(offered, set(help_commands()) | {"help"})
        self.assertEqual(self.complete("m7bridgectl help ''"), set(help_commands()))

    def test_options_agree_with_help(self):
        for cmd in help_commands():
            listed = {long for _, long in help_options(cmd)} | {"--help"}
            self.assertEqual(self.complete(f"m7bridgectl {cmd} --"), listed, cmd)

    def test_short_options_complete_their_values(self):
        """-C, -P and -a (the help's short forms) take the same values as their long
        forms, not a list of options."""
        classes = {"FRAME", "STATE", "LOG", "HELLO", "HEARTBEAT", "FAULT", "CLOCK", "RAW"}
        for line, want in (("m7bridgectl watch -C ''", classes),
                           ("m7bridgectl watch --classes ''", classes),
                           ("m7bridgectl watch -P ''", {"drop", "disconnect"}),
                           ("m7bridgectl recover -a ''",
                            {"resync", "reopen", "driver", "remoteproc"})):
            self.assertEqual(self.complete(line), want, line)

    def test_doctor_config_is_a_file_not_a_channel(self):
        """doctor -c names a file: completed from the directory, never by asking a
        daemon for its channels."""
        with tempfile.TemporaryDirectory() as d:
            open(os.path.join(d, "board.conf"), "w").close()
            self.assertEqual(self.complete(f"m7bridgectl doctor -c {d}/bo"),
                             {f"{d}/board.conf"})


if __name__ == "__main__":
    unittest.main(verbosity=2)
