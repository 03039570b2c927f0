#!/usr/bin/env python3
"""A silent M7 is a fault: m7sim's fatal assert (a LOG at LOG_CRIT, then HELLO and PING
answered, no data) raises FAULT firmware_fatal, and a port configured with expect_rate
that stays quiet raises FAULT data_silence; both go through the recovery ladder and are
recorded as incidents. Without a ladder (record only) each quiet spell raises its own
data_silence. Paths come from M7B_BUILD_ROOT. Exit 77 = skip.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

from itest_util import accepting, finish, stop, wait_for

BUILD = os.environ.get("M7B_BUILD_ROOT", "build")
DAEMON = os.path.join(BUILD, "daemon", "m7bridged")
SIM = os.path.join(BUILD, "firmware", "m7sim")


class Lines:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.s.settimeout(0.2)
        self.buf = b""

    def send(self, obj):
        self.s.sendall(json.dumps(obj).encode() + b"\n")

    def wait(self, pred, what, timeout=30.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                o = json.loads(line)
                if pred(o):
                    return o
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                break
            self.buf += chunk
        raise AssertionError(f"no {what}")


def main():
    if not (os.access(SIM, os.X_OK) and os.access(DAEMON, os.X_OK)):
        return 77
    d = tempfile.mkdtemp(prefix="m7b-silent-")
    link, ctl, sock = (os.path.join(d, n) for n in ("ttyRPMSG30", "m7sim.ctl", "m7b.sock"))
    conf = os.path.join(d, "m7bridge.conf")
    with open(conf, "w") as f:
        f.write(f"[daemon]\nsocket = {sock}\nallow_control = yes\nkernel_log = off\n"
                f"incident_dir = {d}/incidents\n\n[channel m7]\ndevice = {link}\n"
                "expect_rate = 0:20\nrecovery_steps = resync\nliveness_quiet_ms = 0\n")
    os.mkdir(os.path.join(d, "incidents"), 0o700)
    out = open(os.path.join(d, "out"), "wb")
    sim = subprocess.Popen([SIM, "--link", link, "--ctl", ctl, "--source", "0:rate=20",
                            "--heartbeat-ms", "200"], stdout=out, stderr=subprocess.STDOUT)
    dmn = None
    ok = False
    try:
        wait_for(lambda: os.path.exists(ctl) and os.path.islink(link), "m7sim")
        dmn = subprocess.Popen([DAEMON, "-f", "-c", conf, "-l", "info"], stdout=out,
                               stderr=subprocess.STDOUT)
        wait_for(lambda: accepting(sock), "the daemon")
        c = Lines(sock)
        c.send({"cmd": "watch", "classes": ["FAULT", "FRAME"]})
        c.wait(lambda o: o.get("class") == "FRAME", "data before the assert")
        with open(ctl, "w") as f:
            f.write("assert\n")
        fatal = c.wait(lambda o: o.get("class") == "FAULT", "FAULT after the assert")
        assert fatal["kind"] == "firmware_fatal", fatal
        assert "assertion failed" in fatal["detail"], fatal
        # The asserted M7 still answers HELLO, so the resync step "succeeds"; its port
        # stays quiet, and that is a fault of its own.
        t0 = time.monotonic()
        sil = c.wait(lambda o: o.get("class") == "FAULT" and o["kind"] == "data_silence",
                     "FAULT data_silence")
        assert "port 0" in sil["detail"], sil
        assert time.monotonic() - t0 >= 1.5, "data_silence too early"
        c.send({"cmd": "incidents", "id": 1})
        inc = c.wait(lambda o: o.get("id") == 1, "INCIDENTS")
        # the silence came while the assert's incident was still open: it extends it
        assert any(i["kind"] == "firmware_fatal" for i in inc["incidents"]), inc
        ok = True
        print("firmware_fatal and data_silence raised, recorded in incidents")
    finally:
        rc = stop([dmn, sim])
        out.close()
        # a clean SIGTERM exits 0 (under ASan: no leak, no error either)
        ok = ok and rc[0] == 0
        finish(d, ["out"], not ok)
    return 0 if ok else 1


def spells():
    """Data stops, comes back, stops again (the M7 stalled twice), and no ladder runs that
    would re-arm the watch through state changes: the second spell is a fault too."""
    d = tempfile.mkdtemp(prefix="m7b-silent-")
    link, ctl, sock = (os.path.join(d, n) for n in ("ttyRPMSG30", "m7sim.ctl", "m7b.sock"))
    conf = os.path.join(d, "m7bridge.conf")
    with open(conf, "w") as f:
        f.write(f"[daemon]\nsocket = {sock}\nkernel_log = off\n\n[channel m7]\n"
                f"device = {link}\nexpect_rate = 0:20\nrecovery_steps =\n"
                "liveness_quiet_ms = 0\n")
    out = open(os.path.join(d, "out"), "wb")
    sim = subprocess.Popen([SIM, "--link", link, "--ctl", ctl, "--source", "0:rate=20",
                            "--heartbeat-ms", "200"], stdout=out, stderr=subprocess.STDOUT)
    dmn = None
    ok = False
    try:
        wait_for(lambda: os.path.exists(ctl) and os.path.islink(link), "m7sim")
        dmn = subprocess.Popen([DAEMON, "-f", "-c", conf, "-l", "info"], stdout=out,
                               stderr=subprocess.STDOUT)
        wait_for(lambda: accepting(sock), "the daemon")
        c = Lines(sock)
        c.send({"cmd": "watch", "classes": ["FAULT", "FRAME"]})
        for n in (1, 2):
            c.wait(lambda o: o.get("class") == "FRAME", f"data before spell {n}")
            with open(ctl, "w") as f:
                f.write("stall 3000\n")
            sil = c.wait(lambda o: o.get("class") == "FAULT", f"FAULT of spell {n}")
            assert sil["kind"] == "data_silence" and sil["count"] == n, sil
        ok = True
        print("each quiet spell raised data_silence without a ladder")
    finally:
        rc = stop([dmn, sim])
        out.close()
        ok = ok and rc[0] == 0
        finish(d, ["out"], not ok)
    return 0 if ok else 1


if __name__ == "__main__":
    r = main()
    sys.exit(r if r else spells())
