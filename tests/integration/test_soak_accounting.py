#!/usr/bin/env python3
"""Soak: m7sim with random faults of every kind, m7bridged, one watching client; at the end
every capture the M7 produced is either delivered to the client or counted lost, by cause.

Usage: test_soak_accounting.py [--duration S] [--seed N] [--rate N]
Duration: --duration, else M7B_SOAK_S, else 60 s. Paths come from M7B_BUILD_ROOT.
Prints the equation per port; exit 0 when it holds exactly, 1 when not, 77 = skip.
"""
import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time

from itest_util import finish, stop, wait_for

BUILD = os.environ.get("M7B_BUILD_ROOT", "build")
DAEMON = os.path.join(BUILD, "daemon", "m7bridged")
SIM = os.path.join(BUILD, "firmware", "m7sim")
PORTS = (0, 1)

# Every fault kind m7sim has; each is undone by the next "heal" where it lasts.
FAULTS = ["stall", "garbage", "corrupt", "drop", "reboot", "hangup", "swap", "vanish",
          "slow", "throttle", "uart-error", "log", "assert"]


# The argument of each fault that needs no waiting afterwards.
ARGS = {
    "stall": lambda r: r.randint(200, 1500),
    "garbage": lambda r: r.randint(1, 5),
    "corrupt": lambda r: r.randint(1, 5),
    "drop": lambda r: r.randint(1, 5),
    "hangup": lambda r: r.randint(100, 800),
    "vanish": lambda r: r.randint(200, 1000),
    "swap": lambda r: "",
    "slow": lambda r: r.randint(2000, 20000),
    "throttle": lambda r: r.randint(2000, 20000),
    "uart-error": lambda r: f"{r.choice(PORTS)} {r.choice(['overrun', 'line'])}",
    "log": lambda r: "4 soak says hello",
}


class Client:
    """A watching client counting FRAMEs per port and boot (HELLO objects mark boots)."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.lock = threading.Lock()
        self.frames = {}  # (boot_id, port) -> frames
        self.boot = None
        self.boots = []
        self.dropped = 0
        self.replies = {}
        self.buf = b""
        self.done = False
        self.sock.sendall(b'{"cmd":"watch","id":"w","classes":["FRAME","HELLO"]}\n')
        self.thread = threading.Thread(target=self._reader, daemon=True)
        self.thread.start()

    def _reader(self):
        while not self.done:
            try:
                chunk = self.sock.recv(1 << 16)
            except OSError:
                return
            if not chunk:
                return
            self.buf += chunk
            *lines, self.buf = self.buf.split(b"\n")
            for line in lines:
                self._take(json.loads(line))

    def _take(self, o):
        with self.lock:
            cls = o.get("class")
            if cls == "FRAME":
                key = (self.boot, o["port"])
                self.frames[key] = self.frames.get(key, 0) + 1
            elif cls == "HELLO":
                if o["boot_id"] != self.boot:
                    self.boot = o["boot_id"]
                    self.boots.append(self.boot)
            elif cls == "DROPPED":
                self.dropped += o["count"]
            elif "id" in o:
                self.replies[o["id"]] = o

    def request(self, line, rid, timeout=30):
        self.sock.sendall(line.encode() + b"\n")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if rid in self.replies:
                    return self.replies.pop(rid)
            time.sleep(0.02)
        raise AssertionError(f"no reply to {line}")

    def boots_seen(self):
        with self.lock:
            return list(self.boots)

    def close(self):
        self.done = True
        self.sock.close()


class Rig:
    def __init__(self, rate):
        self.rate = rate
        self.sim = None
        self.dir = tempfile.mkdtemp(prefix="m7b-soak-")
        self.link = os.path.join(self.dir, "ttyRPMSG30")
        self.ctl = os.path.join(self.dir, "m7sim.ctl")
        self.sock = os.path.join(self.dir, "m7bridge.sock")
        self.sim_out = open(os.path.join(self.dir, "m7sim.out"), "wb")
        self.dlog = open(os.path.join(self.dir, "daemon.log"), "wb")
        self.daemon = subprocess.Popen(
            [DAEMON, "-f", "-s", self.sock, "-C", f"m7={self.link}", "-l", os.environ.get("M7B_SOAK_LOG", "info")],
            stdin=subprocess.DEVNULL, stdout=self.dlog, stderr=subprocess.STDOUT)
        wait_for(lambda: os.path.exists(self.sock), "the daemon's socket")

    def start_sim(self):
        """Started after the client watches, so every frame published reaches it."""
        srcs = []
        for p in PORTS:
            # 600 bytes at 921600 baud take 6.5 ms: captures of every size stay apart.
            srcs += ["--source",
                     f"{p}:rate={self.rate},size=8-600,baud=921600,pattern=random,seed={p + 1}"]
        self.sim = subprocess.Popen(
            [SIM, "--link", self.link, "--ctl", self.ctl, "--heartbeat-ms", "200",
             "--persist", os.path.join(self.dir, "noinit.ram")] + srcs,
            stdin=subprocess.DEVNULL, stdout=self.sim_out, stderr=subprocess.STDOUT)
        wait_for(lambda: os.path.exists(self.ctl) and os.path.islink(self.link), "m7sim")

    def cmd(self, line):
        fd = os.open(self.ctl, os.O_WRONLY)
        os.write(fd, (line + "\n").encode())
        os.close(fd)

    def stop(self):
        rc = stop([self.daemon, self.sim])
        self.sim_out.close()
        self.dlog.close()
        return rc

def heal(rig):
    """Undoes the lasting faults: a stalled, slowed or throttled M7 runs freely again."""
    for line in ("resume", "slow 0", "throttle 0"):
        rig.cmd(line)


def books_closed(cl):
    """The daemon's STATUS channel object once every boot but the current one is closed
    (settled or given up), else None."""
    ch = cl.request('{"cmd":"status","id":"s"}', "s")["channels"][0]
    acc = ch["accounting"]
    return ch if acc["boots_settled"] + acc["boots_unknown"] >= len(cl.boots_seen()) - 1 \
        else None


def new_boot(cl, before, what):
    """Waits for the new boot's HELLO and for the old boot's books, so that no boot's
    record is overwritten before the daemon read it (the M7 keeps only the last one)."""
    wait_for(lambda: len(cl.boots_seen()) > before, f"the HELLO of the boot after {what}")
    wait_for(lambda: books_closed(cl), f"the books of the boot before {what}")


def one_fault(rig, cl, rnd, kind):
    """Runs one fault; waits until the daemon saw a new boot where the fault makes one, so
    no boot passes unseen (its books could not be settled)."""
    before = len(cl.boots_seen())
    if kind == "reboot":
        rig.cmd("reboot")
        new_boot(cl, before, "reboot")
    elif kind == "assert":
        # A fatal assert with captures queued, then the reset that clears the queue.
        rig.cmd("assert")
        time.sleep(rnd.uniform(0.3, 3.0))
        rig.cmd("reboot")
        new_boot(cl, before, "assert + reboot")
    elif kind in ARGS:
        rig.cmd(f"{kind} {ARGS[kind](rnd)}".rstrip())


def settle(rig, cl):
    """Heals, lets the queues drain, then reboots once more so the last boot's books close.
    Returns the daemon's STATUS channel object."""
    heal(rig)
    time.sleep(2.0)
    before = len(cl.boots_seen())
    rig.cmd("reboot")
    new_boot(cl, before, "the final reboot")
    return books_closed(cl)


def check(ch, cl):
    """Prints the equation per port; True when it holds exactly and nothing is unsettled."""
    acc = ch["accounting"]
    last = cl.boots_seen()[-1]
    ok = acc["boots_unknown"] == 0 and acc["excess"] == 0 and cl.dropped == 0
    print(f"boots settled {acc['boots_settled']}, unknown {acc['boots_unknown']}, "
          f"excess {acc['excess']}, client DROPPED {cl.dropped}, "
          f"seq_gaps {ch['seq_gaps']}, bad_payloads {ch['bad_payloads']}")
    ports = {p["port"]: p for p in acc["ports"]}
    for port in PORTS:
        p = ports.get(port)
        if p is None:
            print(f"port {port}: nothing booked")
            ok = False
            continue
        with cl.lock:
            delivered = sum(n for (b, q), n in cl.frames.items() if q == port and b != last)
        lost = p["malformed"] + p["dropped_m7"] + p["lost_reboot"] + p["lost_link"]
        holds = (p["produced"] == delivered + lost and delivered == p["published"]
                 and p["unsettled"] == 0)
        ok = ok and holds
        print(f"port {port}: produced {p['produced']} = delivered {delivered} + lost {lost} "
              f"(dropped on the M7 {p['dropped_m7']}, lost in a reboot {p['lost_reboot']}, "
              f"lost on the link {p['lost_link']}, malformed {p['malformed']}, "
              f"client DROPPED 0) {'holds' if holds else 'DOES NOT HOLD'}")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float,
                    default=float(os.environ.get("M7B_SOAK_S", "60")))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("M7B_SOAK_SEED", "13")))
    ap.add_argument("--rate", type=int, default=40)
    a = ap.parse_args()
    if not (os.access(SIM, os.X_OK) and os.access(DAEMON, os.X_OK)):
        print("m7sim or m7bridged not built", file=sys.stderr)
        return 77
    rnd = random.Random(a.seed)
    rig = Rig(a.rate)
    cl = None
    ok = False
    try:
        cl = Client(rig.sock)
        wait_for(lambda: "w" in cl.replies, "the watch ACK")
        rig.start_sim()
        wait_for(lambda: cl.boots_seen(), "the first HELLO")
        end = time.monotonic() + a.duration
        kinds = list(FAULTS)
        counts = {k: 0 for k in FAULTS}
        while time.monotonic() < end:
            # every kind once, in random order, then random kinds
            kind = kinds.pop() if kinds else rnd.choice(FAULTS)
            rnd.shuffle(kinds)
            one_fault(rig, cl, rnd, kind)
            counts[kind] += 1
            time.sleep(rnd.uniform(0.3, 1.5))
            if rnd.random() < 0.3:
                heal(rig)
        print(f"{a.duration:.0f} s, faults: " +
              ", ".join(f"{k} {n}" for k, n in counts.items()))
        ok = check(settle(rig, cl), cl)
    except AssertionError as e:
        print(f"soak failed: {e}", file=sys.stderr)
    finally:
        if cl:
            cl.close()
        rc = rig.stop()
        full = bool(os.environ.get("M7B_SOAK_LOG"))
        finish(rig.dir, ["daemon.log", "m7sim.out"], not ok or rc[0] != 0 or full,
               1 << 30 if full else 4000)
    return 0 if ok and rc[0] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
