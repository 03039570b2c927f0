#!/usr/bin/env python3
"""firmware/port/qemu/run.sh as docs/FIRMWARE.md tells a user to run it, with a reader on
its link pty: the firmware answers, and its 25 MHz ticks follow the host's clock, as a
board's do (a daemon pointed at it maps M7 time to host time; a guest clock running at
another rate makes it reset that mapping over and over). A missing or non-ELF image is
refused at once. Two PINGs some seconds apart:
the HEARTBEATs' now_ticks must advance at 25 MHz of host time (bounded by the
round trips, plus 0.5 %).
Usage: test_qemu_run.py FIRMWARE.elf. Exit 77 (skip) without the image, qemu-system-arm
or socat."""
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
import tty

SRC = os.environ.get("M7B_SOURCE_ROOT") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
RUN_SH = os.path.join(SRC, "firmware", "port", "qemu", "run.sh")
TICK_HZ = 25000000
T_HEARTBEAT, T_PING = 0x03, 0x83


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def cobs_encode(data):
    out, run = bytearray(), bytearray()
    for b in data:
        if b == 0:
            out += bytes([len(run) + 1]) + run
            run = bytearray()
            continue
        run.append(b)
        if len(run) == 254:
            out += b"\xff" + run
            run = bytearray()
    if run or not data or data[-1] == 0 or len(out) == 0:
        out += bytes([len(run) + 1]) + run
    return bytes(out)


def cobs_decode(data):
    out, i = bytearray(), 0
    while i < len(data):
        n = data[i]
        if n == 0:
            return None
        out += data[i + 1:i + n]
        i += n
        if n < 255 and i < len(data):
            out.append(0)
    return bytes(out)


def frame(ftype, seq, payload=b""):
    body = struct.pack("<BBBBIH", 1, ftype, 0, 0, seq, len(payload)) + payload
    return b"\0" + cobs_encode(body + struct.pack("<I", crc32c(body))) + b"\0"


class Link:
    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd, termios.TCSANOW)  # TCSAFLUSH would discard the HELLO
        self.buf = bytearray()

    def frames(self, until):
        while time.monotonic() < until:
            r, _, _ = select.select([self.fd], [], [], 0.05)
            if r:
                self.buf += os.read(self.fd, 4096)
            while 0 in self.buf:
                k = self.buf.index(0)
                body = cobs_decode(bytes(self.buf[:k]))
                del self.buf[:k + 1]
                if body and len(body) >= 14 and crc32c(body[:-4]) == \
                        struct.unpack_from("<I", body, len(body) - 4)[0]:
                    ln = struct.unpack_from("<H", body, 8)[0]
                    yield body[1], body[10:10 + ln]

    def heartbeat(self, seq):
        """(host time of the PING's write, of the answer's read, now_ticks of the answer).
        Frames already waiting (a periodic HEARTBEAT among them) are read first."""
        for _ in self.frames(time.monotonic() + 0.2):
            pass
        t = time.monotonic()
        os.write(self.fd, frame(T_PING, seq))
        for ftype, payload in self.frames(time.monotonic() + 10):
            if ftype == T_HEARTBEAT and len(payload) >= 8:
                return t, time.monotonic(), struct.unpack_from("<Q", payload, 0)[0]
        return None


def main():
    if len(sys.argv) < 2 or not os.path.exists(sys.argv[1]):
        print("SKIP: no QEMU firmware image")
        return 77
    for tool in ("qemu-system-arm", "socat"):
        if shutil.which(tool) is None:
            print("SKIP: %s not installed" % tool)
            return 77
    with tempfile.TemporaryDirectory(prefix="m7b-qemu-run-") as d:
        # A wrong image is refused at once, naming it, not once a reader opens the link.
        for bad in (os.path.join(d, "missing.elf"), RUN_SH):
            run = subprocess.Popen(["sh", RUN_SH, bad, os.path.join(d, "bad")],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   start_new_session=True)
            try:
                out = run.communicate(timeout=10)[0].decode(errors="replace")
            except subprocess.TimeoutExpired:
                os.killpg(run.pid, signal.SIGTERM)
                run.wait()
                print("FAIL: run.sh %s still running after 10 s" % bad)
                return 1
            if run.returncode == 0 or bad not in out:
                print("FAIL: run.sh %s: status %d, output %r" % (bad, run.returncode, out))
                return 1
        run = subprocess.Popen(["sh", RUN_SH, sys.argv[1], d], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
        try:
            link = os.path.join(d, "ttyRPMSG30")
            end = time.monotonic() + 20
            while not os.path.exists(link) and time.monotonic() < end:
                time.sleep(0.05)
            if not os.path.exists(link):
                print("FAIL: run.sh made no %s" % link)
                return 1
            lk = Link(link)
            # Past start-up (HELLO, BOOT_INFO and the boot's LOGs go out first).
            first = lk.heartbeat(1)
            time.sleep(1)
            a = lk.heartbeat(2)
            time.sleep(4)
            b = lk.heartbeat(3)
            if first is None or a is None or b is None:
                print("FAIL: no HEARTBEAT answered a PING")
                return 1
            # Each now_ticks was taken between its PING's write and the answer's read:
            # that bounds the rate whatever the latency; 0.5 % on top for the rest.
            ticks = b[2] - a[2]
            low, high = ticks / (b[1] - a[0]), ticks / (b[0] - a[1])
            ok = low * 0.995 <= TICK_HZ <= high * 1.005
            print("%s guest ticks ran at %.0f..%.0f Hz of host time over %.2f s (nominal %d)"
                  % ("ok  " if ok else "FAIL", low, high, b[0] - a[0], TICK_HZ))
            return 0 if ok else 1
        finally:
            os.killpg(run.pid, signal.SIGTERM)
            run.wait()


if __name__ == "__main__":
    sys.exit(main())
