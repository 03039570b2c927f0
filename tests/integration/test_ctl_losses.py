#!/usr/bin/env python3
"""m7bridgectl status against a scripted daemon: the UNTIMED column and the line naming
what the M7 lost or refused (STATUS untimed_frames and m7_counters), and neither from a
daemon that sends no such members."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

BUILD = os.environ.get("M7B_BUILD_ROOT", "build")
CTL = os.path.join(BUILD, "tools", "m7bridgectl")


def channel(**extra):
    ch = {"name": "m7", "state": "up", "frames": 40, "recoveries": 0,
          "device": "/dev/ttyRPMSG30", "data_frames": 30, "seq_gaps": 0, "bad_crc": 0}
    ch.update(extra)
    return ch


class FakeDaemon:
    """Answers VERSION, then each status request with the given channel objects."""

    def __init__(self, path, channels):
        self.channels = channels
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(4)
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            with c:
                c.sendall(b'{"class":"VERSION","release":"0.1.0","proto_major":1,'
                          b'"proto_minor":1}\n')
                buf = b""
                while b"\n" not in buf:
                    d = c.recv(4096)
                    if not d:
                        break
                    buf += d
                if b"\n" not in buf:
                    continue
                req = json.loads(buf.split(b"\n")[0])
                st = {"class": "STATUS", "channels": self.channels, "release": "0.1.0",
                      "uptime_ms": 1000, "client_id": 1, "clients": [{"id": 1}]}
                if "id" in req:
                    st["id"] = req["id"]
                c.sendall(json.dumps(st).encode() + b"\n")

    def close(self):
        self.srv.close()


class ScriptedDaemon(threading.Thread):
    """Serves one client: the greeting, then each request line to on_request()."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(1)
        self.start()

    def run(self):
        try:
            c, _ = self.srv.accept()
        except OSError:
            return
        with c:
            send = lambda o: c.sendall(json.dumps(o).encode() + b"\n")
            send({"class": "VERSION", "release": "0.1.0", "proto_major": 1, "proto_minor": 1})
            buf = b""
            while True:
                d = c.recv(4096)
                if not d:
                    return
                buf += d
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    self.on_request(json.loads(line), send)

    def close(self):
        self.srv.close()


class FakeWatchDaemon(ScriptedDaemon):
    """HELLO and a HEARTBEAT at the watch, a second HEARTBEAT after the first status poll
    of the watch, a FRAME after the second."""

    def __init__(self, path, before, after, after_ticks=2000):
        self.before, self.after, self.after_ticks = before, after, after_ticks
        self.polls, self.watching = 0, False
        super().__init__(path)

    @staticmethod
    def hb(seq, dropped, ticks):
        return {"class": "HEARTBEAT", "channel": "m7", "seq": seq, "now_ticks": ticks,
                "counters": {"captures": 1, "captures_dropped": dropped}}

    def on_request(self, req, send):
        if req.get("cmd") == "watch":
            self.watching = True
            send({"class": "ACK", "id": req.get("id"), "cmd": "watch"})
            send({"class": "HELLO", "channel": "m7", "name": "fake", "boot_id": 1,
                  "tick_hz": 8000000, "max_payload": 478, "host_credits": 8,
                  "now_ticks": 1, "new_boot": True})
            send(self.hb(1, self.before, 1000))
        elif req.get("cmd") == "status":
            self.polls += 1 if self.watching else 0
            send({"class": "STATUS", "id": req.get("id"), "channels": [channel()],
                  "release": "0.1.0", "uptime_ms": 1000, "client_id": 1, "clients": []})
            if self.polls == 1:
                send(self.hb(2, self.after, self.after_ticks))
            elif self.polls == 2:
                send({"class": "FRAME", "channel": "m7", "port": 0, "seq": 3,
                      "t_first": 1, "t_last": 2, "data": "aGk="})


class FakeTopDaemon(ScriptedDaemon):
    """ACKs the watch and answers each status with a STATUS that lacks the channel's
    counters, as a daemon of another release may."""

    def on_request(self, req, send):
        if req.get("cmd") == "watch":
            send({"class": "ACK", "id": req.get("id"), "cmd": "watch"})
        elif req.get("cmd") == "status":
            send({"class": "STATUS", "id": req.get("id"),
                  "channels": [{"name": "m7", "state": "up"}],
                  "release": "0.1.0", "uptime_ms": 1000, "client_id": 1,
                  "clients": [{"id": 1}]})


class CtlLosses(unittest.TestCase):
    def status(self, channels):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "s.sock")
            fd = FakeDaemon(path, channels)
            try:
                return subprocess.run([CTL, "-s", path, "status"], capture_output=True,
                                      text=True, timeout=30, stdin=subprocess.DEVNULL)
            finally:
                fd.close()

    def test_untimed_column_and_losses_line(self):
        r = self.status([channel(untimed_frames=7, m7_counters={
            "uart_rx_bytes": 100, "captures": 30, "captures_dropped": 0,
            "syncs_dropped": 2, "acks_dropped": 4294967312, "host_bad": 1, "host_voided": 1})])
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        head = lines[1].split()
        row = lines[2].split()
        self.assertEqual(row[head.index("UNTIMED")], "7", r.stdout)
        self.assertEqual(row[head.index("DATA_FRAMES")], "30", r.stdout)
        self.assertEqual(lines[3], "m7: lost or refused on the M7: syncs_dropped 2, "
                         "acks_dropped 4294967312, host_voided 1", r.stdout)
        self.assertEqual(len(lines), 4, r.stdout)

    def test_nothing_lost_no_line(self):
        r = self.status([channel(untimed_frames=0, m7_counters={"captures": 3})])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(r.stdout.splitlines()), 3, r.stdout)

    def watch(self, *args):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "s.sock")
            fd = FakeWatchDaemon(path, *args)
            try:
                r = subprocess.run([CTL, "-s", path, "watch", "-n", "1"], capture_output=True,
                                   text=True, timeout=30, stdin=subprocess.DEVNULL)
            finally:
                fd.close()
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_watch_counts_drops_across_a_wrap(self):
        """captures_dropped is the M7's u32: from 0xFFFFFFF0 to 0x10 it dropped 32."""
        self.assertIn("M7 dropped 32 captures", self.watch(0xFFFFFFF0, 0x10))

    def test_watch_new_boot_without_hello(self):
        """The clock went back (a reboot whose HELLO this watcher missed): the new boot's
        5 drops, not a step of ~2^32."""
        out = self.watch(100, 5, 10)
        self.assertIn("M7 dropped 5 captures", out)
        self.assertNotIn("4294967", out)

    def test_watch_unseen_restart_is_no_jump(self):
        """The counter fell with neither HELLO nor clock going back (a restart with the
        same boot_id): the new value, not a step of ~2^32."""
        out = self.watch(700, 3)
        self.assertIn("M7 dropped 3 captures", out)
        self.assertNotIn("4294967", out)

    def test_older_daemon(self):
        r = self.status([channel()])
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        head = lines[1].split()
        self.assertEqual(lines[2].split()[head.index("UNTIMED")], "-", r.stdout)
        self.assertEqual(len(lines), 3, r.stdout)

    def test_top_absent_figures(self):
        """Counters STATUS lacks show as "-" in top, never as a count of -1."""
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "s.sock")
            fd = FakeTopDaemon(path)
            try:
                r = subprocess.run([CTL, "-s", path, "top", "-n", "1"], capture_output=True,
                                   text=True, timeout=30, stdin=subprocess.DEVNULL)
            finally:
                fd.close()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"(?m)^\d\d:\d\d:\d\d m7 up gaps=- bad_crc=- recoveries=-$")
        self.assertNotIn("-1", r.stdout)


if __name__ == "__main__":
    if not os.access(CTL, os.X_OK):
        print("m7bridgectl not built", file=sys.stderr)
        sys.exit(77)
    unittest.main()
