"""Shared pieces of the operations tests (doctor, exporter, MQTT) and bench_mqtt: polling
with a deadline, a mosquitto broker on loopback, and a small MQTT 3.1.1 subscriber (QoS 1,
persistent session) that reconnects on its own, so a broker restart loses nothing on the
subscriber's side."""
import os
import shutil
import socket
import struct
import subprocess
import threading
import time

import itest_util

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
TIMEOUT = 60.0  # generous: CI runs these under ASan on a loaded 2-core machine


def wait_for(cond, what, timeout=TIMEOUT, step=0.05):
    """itest_util.wait_for with the operations tests' longer default timeout."""
    return itest_util.wait_for(cond, what, timeout, step)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Broker:
    """mosquitto on 127.0.0.1:port with persistence in dir (sessions survive a restart)."""

    def __init__(self, dir, port=None):
        self.dir = dir
        self.port = port or free_port()
        self.conf = os.path.join(dir, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                    f"persistence true\npersistence_location {dir}/\n"
                    "max_queued_messages 0\nmax_inflight_messages 0\n"
                    f"log_dest file {dir}/mosquitto.log\n")
        self.p = None

    def start(self):
        self.p = subprocess.Popen([MOSQUITTO, "-c", self.conf], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("mosquitto did not start")

    def stop(self):
        if self.p and self.p.poll() is None:
            self.p.terminate()  # saves the persistence file
            self.p.wait(20)
        self.p = None


def _remaining(n):
    out = b""
    while True:
        d, n = n % 128, n // 128
        out += bytes([d | (0x80 if n else 0)])
        if not n:
            return out


def _str(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


class Subscriber:
    """Collects (topic, payload, retain) of every PUBLISH under `pattern`."""

    def __init__(self, port, pattern, client_id="m7b-test-sub"):
        self.port, self.pattern, self.client_id = port, pattern, client_id
        self.msgs = []
        self.lock = threading.Lock()
        self.done = False
        self.connected = threading.Event()
        self.sock = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _send(self, pkt):
        self.sock.sendall(pkt)

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            d = self.sock.recv(n - len(buf))
            if not d:
                raise ConnectionError("closed")
            buf += d
        return buf

    def _packet(self):
        h = self._recv_exact(1)[0]
        n, mult = 0, 1
        while True:
            b = self._recv_exact(1)[0]
            n += (b & 0x7F) * mult
            mult *= 128
            if not b & 0x80:
                break
        return h, self._recv_exact(n) if n else b""

    def _session(self):
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        self.sock.settimeout(None)
        # CONNECT, MQTT 3.1.1, clean session 0: the broker keeps our QoS 1 queue.
        var = _str("MQTT") + bytes([4, 0x00]) + struct.pack(">H", 30)
        body = var + _str(self.client_id)
        self._send(bytes([0x10]) + _remaining(len(body)) + body)
        h, _ = self._packet()
        if h >> 4 != 2:
            raise ConnectionError("no CONNACK")
        body = struct.pack(">H", 1) + _str(self.pattern) + bytes([1])
        self._send(bytes([0x82]) + _remaining(len(body)) + body)
        self.connected.set()
        while not self.done:
            h, body = self._packet()
            if h >> 4 != 3:
                continue
            qos, retain = (h >> 1) & 3, h & 1
            tl = struct.unpack(">H", body[:2])[0]
            topic = body[2:2 + tl].decode()
            pos = 2 + tl
            pid = body[pos:pos + 2] if qos else None
            pos += 2 if qos else 0
            # Record first, acknowledge after: at least once, never zero times.
            with self.lock:
                self.msgs.append((topic, body[pos:], bool(retain)))
            if pid:
                self._send(bytes([0x40, 2]) + pid)  # PUBACK

    def _run(self):
        while not self.done:
            try:
                self._session()
            except (OSError, ConnectionError, struct.error):
                self.connected.clear()
                if self.sock:
                    self.sock.close()
                time.sleep(0.05)

    def publish(self, topic, payload, retain=False):
        body = _str(topic) + payload
        self._send(bytes([0x30 | (1 if retain else 0)]) + _remaining(len(body)) + body)

    def take(self):
        with self.lock:
            return list(self.msgs)

    def close(self):
        self.done = True
        if self.sock:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()
        self.thread.join(5)
