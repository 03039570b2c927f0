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

    def test_older_daemon(self):
        r = self.status([channel()])
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        head = lines[1].split()
        self.assertEqual(lines[2].split()[head.index("UNTIMED")], "-", r.stdout)
        self.assertEqual(len(lines), 3, r.stdout)


if __name__ == "__main__":
    if not os.access(CTL, os.X_OK):
        print("m7bridgectl not built", file=sys.stderr)
        sys.exit(77)
    unittest.main()
