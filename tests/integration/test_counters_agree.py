#!/usr/bin/env python3
"""Every view of the firmware's counters agrees after m7sim ran with faults: the sum of
each boot's last HEARTBEAT (as a watching client saw them), STATUS m7_counters, the
exporter's m7bridge_m7_* metrics and m7bridgectl status; and STATUS untimed_frames, the
UNTIMED column and its metric. Exit 77 (skip) without the binaries."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from itest_util import wait_for  # noqa: E402

BUILD = os.environ.get("M7B_BUILD_ROOT", "build")
DAEMON = os.path.join(BUILD, "daemon", "m7bridged")
SIM = os.path.join(BUILD, "firmware", "m7sim")
CTL = os.path.join(BUILD, "tools", "m7bridgectl")
EXPORTER = os.path.join(BUILD, "tools", "exporter", "m7bridge-exporter")

METRIC = {"captures_dropped": "m7bridge_m7_dropped_captures", "captures": "m7bridge_m7_captures",
          "uart_rx_bytes": "m7bridge_m7_uart_received_bytes",
          "host_frames": "m7bridge_m7_host_frames", "link_stalls": "m7bridge_m7_link_stalls",
          "logs_dropped": "m7bridge_m7_dropped_logs", "syncs_dropped": "m7bridge_m7_dropped_syncs",
          "acks_dropped": "m7bridge_m7_dropped_acks",
          "host_no_credit": "m7bridge_m7_host_no_credit_frames",
          "host_voided": "m7bridge_m7_host_voided_frames"}
LOSSES = ["captures_dropped", "uart_overruns", "logs_dropped", "syncs_dropped", "acks_dropped",
          "host_no_credit", "host_voided"]


def request(sock, cmd):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(sock)
    f = s.makefile("rwb")
    f.readline()  # VERSION
    f.write(json.dumps(dict(cmd, id=1)).encode() + b"\n")
    f.flush()
    o = json.loads(f.readline())
    s.close()
    return o


class Watcher(threading.Thread):
    """HELLO and HEARTBEAT objects, in order."""

    def __init__(self, sock):
        super().__init__(daemon=True)
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(sock)
        self.f = self.s.makefile("rwb")
        self.f.readline()
        self.f.write(b'{"cmd":"watch","classes":["HELLO","HEARTBEAT"]}\n')
        self.f.flush()
        self.objs = []
        self.lock = threading.Lock()
        self.start()

    def run(self):
        for line in self.f:
            o = json.loads(line)
            if o.get("class") in ("HELLO", "HEARTBEAT"):
                with self.lock:
                    self.objs.append(o)

    def totals(self):
        """Each boot's last HEARTBEAT values, summed (credits is a level)."""
        boots = []
        with self.lock:
            for o in self.objs:
                if o["class"] == "HELLO" and (o.get("new_boot") or not boots):
                    boots.append({})
                elif o["class"] == "HEARTBEAT":
                    if not boots:
                        boots.append({})
                    boots[-1].update(o["counters"])
        out = {}
        for b in boots:
            for k, v in b.items():
                if k != "credits":
                    out[k] = out.get(k, 0) + v
        return out, len(boots)


class CountersAgree(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="m7b-agree-")
        self.link = os.path.join(self.dir, "ttyRPMSG30")
        self.sock = os.path.join(self.dir, "m7bridge.sock")
        self.ctl = os.path.join(self.dir, "ctl")
        self.log = open(os.path.join(self.dir, "log"), "ab")
        self.procs = []

    def tearDown(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def spawn(self, args, **kw):
        p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=kw.pop("stdout", self.log),
                             stderr=subprocess.STDOUT, **kw)
        self.procs.append(p)
        return p

    def sim(self, cmd):
        with open(self.ctl, "w") as f:
            f.write(cmd + "\n")

    def test_views_agree_after_faults(self):
        self.spawn([DAEMON, "-f", "-s", self.sock, "-C", f"m7={self.link}", "-c", "/dev/null"])
        wait_for(lambda: os.path.exists(self.sock), "daemon socket")
        w = Watcher(self.sock)  # before the M7 says anything: it sees every HEARTBEAT
        exp = self.spawn([EXPORTER, "-s", self.sock, "-l", "127.0.0.1:0", "--no-frames"],
                         stdout=subprocess.PIPE)
        port = int(exp.stdout.readline().decode().rsplit(" ", 1)[1])
        os.mkfifo(self.ctl)
        self.spawn([SIM, "--link", self.link, "--source", "0:rate=300,size=40,baud=921600", "--source",
                    "1:rate=50", "--heartbeat-ms", "100", "--ctl", self.ctl])
        wait_for(lambda: request(self.sock, {"cmd": "status"})["channels"][0]["state"] == "up",
                 "channel up")
        # A slow link (SYNCs and captures pile up), reboots, a dead M7 for a while.
        for cmd, secs in [("throttle 1500", 2), ("throttle 0", 0.5), ("reboot", 1),
                          ("stall 700", 1.5), ("log 4 agree", 0.3), ("reboot", 1.5)]:
            self.sim(cmd)
            time.sleep(secs)
        # Quiet: no HEARTBEAT while the views are read.
        self.sim("stall 8000")
        time.sleep(0.8)

        st = request(self.sock, {"cmd": "status"})["channels"][0]
        mc = st["m7_counters"]
        hb, nboots = w.totals()
        self.assertEqual(nboots, 3)
        self.assertEqual(mc, hb)
        self.assertGreater(mc["captures_dropped"], 0)  # the stall

        import urllib.request
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
        text = text.decode()
        for k, name in METRIC.items():
            m = re.search(re.escape(name) + r'_total\{channel="m7"\} (\S+)\n', text)
            self.assertIsNotNone(m, name)
            self.assertEqual(float(m.group(1)), mc[k], name)
        m = re.search(r'm7bridge_channel_untimed_frames_total\{channel="m7"\} (\S+)\n', text)
        self.assertEqual(float(m.group(1)), st["untimed_frames"])

        out = subprocess.run([CTL, "-s", self.sock, "status"], capture_output=True, text=True,
                             timeout=30, stdin=subprocess.DEVNULL).stdout
        lines = out.splitlines()
        head = lines[1].split()
        row = lines[2].split()
        self.assertEqual(int(row[head.index("UNTIMED")]), st["untimed_frames"], out)
        want = ", ".join(f"{k} {mc[k]}" for k in LOSSES if mc.get(k))
        self.assertIn(f"m7: lost or refused on the M7: {want}\n", out)


if __name__ == "__main__":
    for b in (DAEMON, SIM, CTL, EXPORTER):
        if not os.access(b, os.X_OK):
            print(f"{b} not built", file=sys.stderr)
            sys.exit(77)
    unittest.main()
