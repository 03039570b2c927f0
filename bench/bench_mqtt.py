#!/usr/bin/env python3
"""Frames per second through m7bridge-mqtt and a mosquitto broker on loopback.

A stand-in daemon (this script, on a Unix socket, speaking client protocol v1) streams N
FRAME objects as fast as the bridge reads them; a QoS 1 subscriber counts what arrives
through the broker. The daemon and the M7 are left out on purpose: bench_daemon measures
those. Prints one line per setting; never passes or fails on speed."""
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

SOURCE = os.environ.get("M7B_SOURCE_ROOT", ".")
BUILD = os.environ.get("M7B_BUILD_ROOT", "build")
sys.path.insert(0, os.path.join(SOURCE, "tests", "integration"))
from ops_testlib import MOSQUITTO, Broker, Subscriber  # noqa: E402

BRIDGE = os.path.join(BUILD, "tools", "mqtt", "m7bridge-mqtt")
N = int(os.environ.get("M7B_BENCH_FRAMES", "20000"))


class FakeDaemon:
    """Accepts one client: VERSION, ACK to watch, empty INCIDENTS; then, when go is set,
    all frames in one stream."""

    def __init__(self, path, size):
        self.path = path
        self.go = threading.Event()
        self.watching = threading.Event()
        data = base64.b64encode(bytes(range(size % 256)) * (size // 256) +
                                bytes(range(size % 256))).decode()
        self.blob = b"".join(json.dumps(
            {"class": "FRAME", "channel": "m7", "port": 2, "seq": i, "t_first": i * 100,
             "t_last": i * 100 + 50, "data": data, "len": size},
            separators=(",", ":")).encode() + b"\n" for i in range(1, N + 1))
        self.srv = socket.socket(socket.AF_UNIX)
        self.srv.bind(path)
        self.srv.listen(4)
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        c, _ = self.srv.accept()
        c.sendall(b'{"class":"VERSION","release":"bench","proto_major":1,"proto_minor":0}\n')
        f = c.makefile("rb")

        def reader():
            for line in f:
                req = json.loads(line)
                rid = json.dumps(req.get("id"))
                if req["cmd"] == "incidents":
                    c.sendall(f'{{"class":"INCIDENTS","id":{rid},"incidents":[]}}\n'.encode())
                else:
                    c.sendall(f'{{"class":"ACK","id":{rid},"cmd":"{req["cmd"]}"}}\n'.encode())
                    if req["cmd"] == "watch":
                        self.watching.set()
        threading.Thread(target=reader, daemon=True).start()
        self.go.wait()
        c.sendall(self.blob)


def run(payload, qos, size):
    d = tempfile.mkdtemp(prefix="m7b-bench-mqtt-")
    broker = Broker(d)
    sub = bridge = None
    try:
        broker.start()
        sub = Subscriber(broker.port, "b/n/m7/+/frame", client_id=f"bench-{payload}-{qos}")
        sub.connected.wait(10)
        fake = FakeDaemon(os.path.join(d, "sock"), size)
        conf = os.path.join(d, "mqtt.conf")
        with open(conf, "w") as f:
            f.write(f"[broker]\nhost = 127.0.0.1\nport = {broker.port}\n[topics]\n"
                    f"prefix = b\nhost = n\npayload = {payload}\nqos = {qos}\n"
                    f"[bridge]\nqueue_max = {N + 100}\nstats_interval_ms = 1000\n")
        log = open(os.path.join(d, "log"), "ab")
        bridge = subprocess.Popen([BRIDGE, "-c", conf, "-s", fake.path], stdout=log,
                                  stderr=log)
        fake.watching.wait(10)
        time.sleep(0.5)  # the broker connection
        t0 = time.monotonic()
        fake.go.set()
        end = t0 + 120
        while time.monotonic() < end and len(sub.take()) < N:
            time.sleep(0.005)
        t = time.monotonic() - t0
        got = len(sub.take())
        print(f"bench_mqtt: payload {payload:4} qos {qos} {size:3} B: "
              f"{got / t:8.0f} frames/s end to end ({got}/{N} frames in {t:.2f} s)")
    finally:
        if sub:
            sub.close()
        if bridge:
            bridge.terminate()
            bridge.wait(30)
        broker.stop()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    for exe in (BRIDGE, MOSQUITTO):
        if not os.access(exe, os.X_OK):
            print(f"bench_mqtt: {exe} missing, skipped")
            sys.exit(0)
    for payload, qos, size in (("json", 1, 16), ("raw", 1, 16), ("raw", 0, 16),
                               ("json", 1, 256)):
        run(payload, qos, size)
