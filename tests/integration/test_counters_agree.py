#!/usr/bin/env python3
"""Every view of the firmware's counters agrees after m7sim ran with faults: the sum of
each boot's last HEARTBEAT (as a watching client saw them), STATUS m7_counters, the
exporter's m7bridge_m7_* metrics and m7bridgectl status; and STATUS untimed_frames, the
UNTIMED column and its metric. And the daemon's own counters agree with a known stream of
bytes a broken M7 could send, fed through a pty: every byte is placed exactly. Exit 77
(skip) without the binaries."""
import json
import os
import pty
import random
import re
import struct
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tty
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from itest_util import accepting, wait_for  # noqa: E402

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


def _crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        t.append(c)
    return t


CRC_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def cobs_encode(data, canonical=True):
    """COBS of data; canonical leaves out the code byte 01 after a last full run."""
    out, run, full = bytearray(), bytearray(), False
    for b in data:
        full = False
        if b == 0:
            out += bytes([len(run) + 1]) + run
            run = bytearray()
        else:
            run.append(b)
            if len(run) == 254:
                out += b"\xff" + run
                run, full = bytearray(), True
    if not (canonical and full):
        out += bytes([len(run) + 1]) + run
    return bytes(out)


def cobs_decode(seg):
    """The body of one candidate, or None when a run crosses its end."""
    out, i = bytearray(), 0
    while i < len(seg):
        c = seg[i]
        if i + c > len(seg):
            return None
        out += seg[i + 1:i + c]
        i += c
        if c != 0xFF and i < len(seg):
            out.append(0)
    return bytes(out)


def body(ftype, seq, payload=b"", port=0, flags=0, ver=1, len_field=None):
    n = len(payload) if len_field is None else len_field
    h = struct.pack("<BBBBIH", ver, ftype, port, flags, seq & 0xFFFFFFFF, n) + payload
    return h + struct.pack("<I", crc32c(h))


class Model:
    """What the daemon must count for a stream, worked out on its own: the candidates
    between 0x00 bytes, each a frame or rejected, and each frame's payload checked
    against its type's layout (docs/PROTOCOL.md)."""

    def __init__(self):
        self.c = dict(frames=0, resyncs=0, bad_crc=0, noise_bytes=0, data_frames=0,
                      unknown_types=0, bad_payloads=0, seq_gaps=0)
        self.ports = {}
        self.other_port = 0
        self.frame_wire = 0
        self.zeros = 0
        self.rx_seq = None

    def frame_ok(self, b):
        if b is None or not 14 <= len(b) <= 492:
            return None
        n = struct.unpack_from("<H", b, 8)[0]
        if n + 14 != len(b):
            return None
        if crc32c(b[:-4]) != struct.unpack_from("<I", b, len(b) - 4)[0]:
            self.c["bad_crc"] += 1
            return None
        return b if b[0] == 1 else None

    def layout_ok(self, t, pl):
        n = len(pl)
        return {1: n >= 20, 2: n >= 16, 3: n >= 8 and (n - 8) % 4 == 0,
                4: n >= 1 and pl[0] <= 7, 5: n == 24, 6: n == 8}.get(t, True)

    def feed(self, stream):
        """Returns the bytes of the candidate still open at the end."""
        segs = stream.split(b"\0")
        self.zeros += len(segs) - 1
        for seg in segs[:-1]:
            if not seg:
                continue
            b = self.frame_ok(cobs_decode(seg))
            if b is None:
                self.c["resyncs"] += 1
                self.c["noise_bytes"] += len(seg)
                continue
            self.c["frames"] += 1
            self.frame_wire += len(seg)
            t, port, seq, pl = b[1], b[2], struct.unpack_from("<I", b, 4)[0], b[10:-4]
            if t == 1 and len(pl) >= 20:
                self.rx_seq = seq
            else:
                if self.rx_seq is not None:
                    self.c["seq_gaps"] += (seq - self.rx_seq - 1) & 0xFFFFFFFF
                self.rx_seq = seq
            if t not in range(1, 8):
                self.c["unknown_types"] += 1
            elif not self.layout_ok(t, pl):
                self.c["bad_payloads"] += 1
            if t == 2:
                if self.layout_ok(t, pl):
                    self.c["data_frames"] += 1
                if port < 16:
                    self.ports[port] = self.ports.get(port, 0) + 1
                else:
                    self.other_port += 1
        return segs[-1]


def hostile_stream(rnd):
    """What a broken or hostile M7 could send, with a HELLO first and a frame cut short
    last. Good frames outnumber rejected candidates, so that no corrupt_stream fault (and
    no recovery that resets the decoder) comes in between."""
    seq = 1
    out = bytearray(b"\0" + cobs_encode(body(1, 0, struct.pack(
        "<IIQHH", 8000000, 0xA1B2C3D4, 1, 478, 8) + b"m7 \xff\xfe\x00 name")) + b"\0")

    def frame(t, pl, port=0, canonical=True, **kw):
        nonlocal seq
        seq += 1
        return cobs_encode(body(t, seq - 1, pl, port, **kw), canonical)

    def data(n, port=0):
        return frame(2, struct.pack("<QQ", seq, seq) + bytes(rnd.randrange(256)
                                                             for _ in range(n)), port)

    for i in range(700):
        k = rnd.randrange(20)
        if k < 9:
            out += data(rnd.choice([0, 1, 17, 200, 462]), rnd.choice([0, 1, 3, 15, 16, 200]))
            out += b"\0"
        elif k == 9:  # noise with its own delimiter
            out += bytes(rnd.randrange(1, 256) for _ in range(rnd.randrange(1, 600))) + b"\0"
        elif k == 10:  # a frame cut at any byte
            f = data(rnd.randrange(0, 300))
            out += f[:rnd.randrange(1, len(f))] + b"\0"
        elif k == 11:  # one bit flipped: a bad CRC, or a 0x00 that splits it
            f = bytearray(data(40))
            f[rnd.randrange(len(f))] ^= 1 << rnd.randrange(8)
            out += f + b"\0"
        elif k == 12:  # oversize: a valid encoding of too long a body
            out += cobs_encode(bytes(rnd.randrange(1, 256)
                                     for _ in range(rnd.randrange(493, 900)))) + b"\0"
        elif k == 13:  # a valid CRC over nonsense: other version, runt, wrong len field
            which = rnd.randrange(3)
            if which == 0:
                out += frame(2, bytes(20), ver=2) + b"\0"
            elif which == 1:
                out += cobs_encode(bytes(rnd.randrange(1, 14))) + b"\0"
            else:
                out += frame(2, bytes(30), len_field=rnd.choice([0, 29, 31, 478])) + b"\0"
        elif k == 14:  # each known type, its payload short or long
            t = rnd.choice([3, 4, 5, 6])
            n = {3: rnd.choice([0, 8, 9, 76, 80, 470]), 4: rnd.choice([0, 1, 100, 477]),
                 5: rnd.choice([23, 24, 25]), 6: rnd.choice([7, 8, 9])}[t]
            pl = bytearray(rnd.randrange(256) for _ in range(n))
            if t == 4 and n:
                pl[0] = rnd.choice([3, 6, 7, 8, 255])  # no fatal levels: no fault
            if t == 6 and n >= 5:
                pl[4] = 0x84  # an ACK of a CONFIG: no send waits for it
            out += frame(t, bytes(pl)) + b"\0"
        elif k == 15:  # unknown types, host types among them
            out += frame(rnd.choice([0, 8, 0x42, 0x81, 0x83, 0x85, 0xFF]), b"x" * 3) + b"\0"
        elif k == 16:
            out += b"\0" * rnd.randrange(1, 4)
        else:  # a full last run, with and without the non-canonical 01 after it
            pl = b"\x01" * 16 + bytes(rnd.randrange(1, 256) for _ in range(234))
            out += frame(2, pl, canonical=rnd.random() < 0.5) + b"\0"
    out += data(100)[:37]  # a frame still arriving
    return bytes(out)


class StreamAccounting(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="m7b-bytes-")
        self.procs = []
        self.stop = False

    def tearDown(self):
        self.stop = True
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                p.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def drain(self, fd):
        """Reads what the daemon writes to the M7 (HOST_HELLO, SYNCs) and drops it."""
        while not self.stop:
            try:
                if not os.read(fd, 4096):
                    time.sleep(0.05)
            except OSError:
                time.sleep(0.05)  # no slave open yet, or gone

    def test_status_places_every_byte(self):
        master, slave = pty.openpty()
        tty.setraw(master)  # on the master: the daemon's raw slave must not echo
        link = os.path.join(self.dir, "ttyRPMSG30")
        os.symlink(os.ttyname(slave), link)
        os.close(slave)
        threading.Thread(target=self.drain, args=(master,), daemon=True).start()
        sock = os.path.join(self.dir, "m7bridge.sock")
        conf = os.path.join(self.dir, "m7bridge.conf")
        with open(conf, "w") as f:
            # Nothing may reset the decoder mid-stream: no liveness PING goes unanswered.
            f.write(f"[daemon]\nkernel_log = off\n[channel m7]\ndevice = {link}\n"
                    "liveness_quiet_ms = 0\n")
        log = open(os.path.join(self.dir, "log"), "wb")
        self.procs.append(subprocess.Popen([DAEMON, "-f", "-s", sock, "-c", conf],
                                           stdin=subprocess.DEVNULL, stdout=log,
                                           stderr=subprocess.STDOUT))
        log.close()
        wait_for(lambda: accepting(sock), "daemon socket")
        wait_for(lambda: request(sock, {"cmd": "status"})["channels"][0]["state"] == "opening",
                 "the tty open")

        rnd = random.Random(7)
        stream = hostile_stream(rnd)
        m = Model()
        open_tail = m.feed(stream)
        self.assertEqual(len(open_tail), 37)
        self.assertGreater(m.c["frames"], 2 * m.c["resyncs"])
        # Split anywhere, down to single bytes.
        i = 0
        while i < len(stream):
            n = rnd.choice([1, 2, 3, 14, 255, 256, 495, 1024, 4096])
            os.write(master, stream[i:i + n])
            i += n

        def settled():
            st = request(sock, {"cmd": "status"})["channels"][0]
            return st if st["bytes"] == len(stream) else None
        st = wait_for(settled, "every byte read")
        got = {k: st[k] for k in m.c}
        self.assertEqual(got, m.c)
        self.assertEqual(st["state"], "up")
        self.assertEqual(st["unread_at_close"], 0)
        self.assertEqual(st["recoveries"], 0)
        # Every byte read is a frame's, a delimiter, noise, or the frame still arriving.
        self.assertEqual(st["bytes"], m.frame_wire + m.zeros + st["noise_bytes"] +
                         len(open_tail))
        acc = st["accounting"]
        self.assertEqual({p["port"]: p["current"] for p in acc["ports"]}, m.ports)
        self.assertEqual(acc["other_port_frames"], m.other_port)
        os.close(master)


if __name__ == "__main__":
    for b in (DAEMON, SIM, CTL, EXPORTER):
        if not os.access(b, os.X_OK):
            print(f"{b} not built", file=sys.stderr)
            sys.exit(77)
    unittest.main()
