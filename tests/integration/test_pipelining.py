#!/usr/bin/env python3
"""Pipelined requests against the real daemon: 3000 status requests written at once and
read a second later are all answered, in order; a half-closed client that is not watching
gets its send ACK before the daemon closes; more sends than the channel's queue holds are
answered in order too; a connection ended by a fatal line gets the replies before it
and its ERROR; sends still go through after an M7 stall that timed some out. Paths come from M7B_BUILD_ROOT. 77 = skip.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

from itest_util import accepting, finish, stop, wait_for

BUILD = os.environ.get("M7B_BUILD_ROOT", "build")
DAEMON = os.path.join(BUILD, "daemon", "m7bridged")
SIM = os.path.join(BUILD, "firmware", "m7sim")


def read_all(s, timeout=30.0):
    """Reads until EOF (or timeout); returns the lines."""
    s.settimeout(timeout)
    data = b""
    while True:
        chunk = s.recv(1 << 16)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n")[:-1]


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def pipelined_status(sock):
    n = 3000
    s = connect(sock)
    s.sendall(b"".join(b'{"cmd":"status","id":%d}\n' % i for i in range(n)))
    time.sleep(1.0)
    s.shutdown(socket.SHUT_WR)
    lines = read_all(s)
    s.close()
    objs = [json.loads(x) for x in lines]
    ids = [o["id"] for o in objs if o.get("class") == "STATUS"]
    errors = [o for o in objs if o.get("class") == "ERROR"]
    assert not errors, errors[:3]
    assert ids == list(range(n)), f"{len(ids)} STATUS replies of {n}"
    print(f"{n} pipelined status requests: {len(ids)} replies, in order")


def half_closed_send(sock):
    s = connect(sock)
    s.sendall(b'{"cmd":"send","id":"s1","channel":"m7","port":1,"hex":"6869"}\n'
              b'{"cmd":"ping","id":"p1"}\n')
    s.shutdown(socket.SHUT_WR)
    objs = [json.loads(x) for x in read_all(s)]
    s.close()
    replies = [(o["class"], o.get("id")) for o in objs if "id" in o]
    assert replies == [("ACK", "s1"), ("PONG", "p1")], objs
    print("half-closed client: send ACK, then the ping's PONG, then EOF")


def pipelined_sends(sock):
    # More sends than the channel's queue holds (64), one to a channel that does not
    # exist among them, then a ping: every reply comes in request order. A reply given at
    # once (busy, no_channel) must not overtake the earlier sends still in flight.
    n = 100
    reqs = [b'{"cmd":"send","id":%d,"channel":"%s","port":1,"hex":"%s"}\n'
            % (i, b"nope" if i == 70 else b"m7", b"41" * 400) for i in range(n)]
    s = connect(sock)
    s.sendall(b"".join(reqs) + b'{"cmd":"ping","id":"p"}\n')
    s.shutdown(socket.SHUT_WR)
    objs = [json.loads(x) for x in read_all(s)]
    s.close()
    replies = [(o["class"], o.get("code"), o.get("id")) for o in objs if "id" in o]
    ids = [r[2] for r in replies]
    assert ids == list(range(n)) + ["p"], f"replies out of order: {ids[:70]}"
    assert replies[70] == ("ERROR", "no_channel", 70), replies[70]
    others = [r for r in replies[:n] if r[2] != 70]
    assert all(r[0] in ("ACK", "ERROR") for r in others), others
    print(f"{n} pipelined sends: {len(replies) - 1} replies, in order "
          f"({sum(r[0] == 'ACK' for r in others)} ACK)")


def fatal_line_after_replies(sock):
    # Requests whose replies the client has not read yet, then a line that ends the
    # connection (too long, or the 32nd bad line in a row): every reply before it and the
    # ERROR still arrive, then EOF. The daemon used to close at once and throw away what
    # its queue held, so the client lost replies and never saw why.
    for n in (60, 100, 140, 180):
        for tail, code in ((b"x" * 70000 + b"\n", "too_long"), (b"bad\n" * 32, "flood")):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
            s.connect(sock)
            s.sendall(b"".join(b'{"cmd":"status","id":%d}\n' % i for i in range(n)) + tail)
            time.sleep(0.3)  # the daemon gets to the last line while nothing is read
            s.settimeout(30.0)
            data = b""
            try:
                while True:
                    chunk = s.recv(1 << 16)
                    if not chunk:
                        break
                    data += chunk
            except ConnectionResetError:
                pass  # what the daemon did not read of the long line: the data came first
            s.close()
            objs = [json.loads(x) for x in data.split(b"\n")[1:] if x]
            ids = [o["id"] for o in objs if o.get("class") == "STATUS"]
            assert ids == list(range(n)), f"{code} after {n}: {len(ids)} STATUS of {n}"
            assert objs[-1].get("code") == code, f"{code} after {n}: last {objs[-1]}"
    print("a connection ended by too_long or flood gets every reply before it, then the ERROR")


def send_after_late_acks(d, out):
    """The M7 stalls longer than send_timeout_ms (not long enough for the liveness check)
    while sends are in flight, then answers them all: those sends time out, and the
    sends after them must still be ACKed (the late ACKs give back their credit)."""
    link, sock = os.path.join(d, "ttyRPMSG31"), os.path.join(d, "late.sock")
    conf = os.path.join(d, "late.conf")
    with open(conf, "w") as f:
        f.write(f"[channel m7]\ndevice = {link}\nsend_timeout_ms = 300\n")
    sim = subprocess.Popen([SIM, "--link", link, "--source", "1:rate=0,loop=1"], stdout=out,
                           stderr=subprocess.STDOUT)
    dmn = None
    try:
        wait_for(lambda: os.path.islink(link), "m7sim")
        dmn = subprocess.Popen([DAEMON, "-f", "-s", sock, "-c", conf], stdout=out,
                               stderr=subprocess.STDOUT)
        wait_for(lambda: accepting(sock), "the daemon")
        wait_for(lambda: ask(sock, b'{"cmd":"send","id":0,"channel":"m7","port":1,'
                                   b'"hex":"41"}\n')[-1].get("class") == "ACK",
                 "a first send ACKed")
        s = connect(sock)
        sim.send_signal(signal.SIGSTOP)
        try:
            s.sendall(b"".join(b'{"cmd":"send","id":%d,"channel":"m7","port":1,'
                               b'"hex":"41"}\n' % i for i in range(1, 11)))
            time.sleep(1.0)
        finally:
            sim.send_signal(signal.SIGCONT)
        s.shutdown(socket.SHUT_WR)
        stalled = [o for o in map(json.loads, read_all(s)) if "id" in o]
        s.close()
        assert [o["id"] for o in stalled] == list(range(1, 11)), stalled
        # Once the late ACKs are in, sends go through again (without their credit,
        # every send timed out until the firmware's next HELLO).
        wait_for(lambda: ask(sock, b'{"cmd":"send","id":11,"channel":"m7","port":1,'
                                   b'"hex":"41"}\n')[-1].get("class") == "ACK",
                 "a send ACKed after the stall")
        for i in range(12, 15):
            reply = ask(sock, b'{"cmd":"send","id":%d,"channel":"m7","port":1,'
                              b'"hex":"41"}\n' % i)[-1]
            assert reply.get("class") == "ACK", f"send after the stall: {reply}"
        print("sends after a stall longer than send_timeout_ms are ACKed again")
    finally:
        rc = stop([dmn, sim])
    return rc


def ask(sock, line):
    """One request on a new half-closed connection; the objects after VERSION."""
    s = connect(sock)
    s.sendall(line)
    s.shutdown(socket.SHUT_WR)
    objs = [json.loads(x) for x in read_all(s)]
    s.close()
    return objs[1:] or [{}]


def main():
    if not (os.access(SIM, os.X_OK) and os.access(DAEMON, os.X_OK)):
        return 77
    d = tempfile.mkdtemp(prefix="m7b-pipe-")
    link, sock = os.path.join(d, "ttyRPMSG30"), os.path.join(d, "m7b.sock")
    out = open(os.path.join(d, "out"), "wb")
    sim = subprocess.Popen([SIM, "--link", link, "--source", "1:rate=0,loop=1"], stdout=out,
                           stderr=subprocess.STDOUT)
    dmn = None
    ok = False
    try:
        wait_for(lambda: os.path.islink(link), "m7sim")
        dmn = subprocess.Popen([DAEMON, "-f", "-s", sock, "-C", f"m7={link}"], stdout=out,
                               stderr=subprocess.STDOUT)
        wait_for(lambda: accepting(sock), "the daemon")

        def up():
            s = connect(sock)
            s.sendall(b'{"cmd":"status"}\n')
            s.shutdown(socket.SHUT_WR)
            st = [json.loads(x) for x in read_all(s)]
            s.close()
            return any(o.get("class") == "STATUS" and o["channels"][0]["state"] == "up"
                       for o in st)
        wait_for(up, "channel up")
        pipelined_status(sock)
        half_closed_send(sock)
        pipelined_sends(sock)
        fatal_line_after_replies(sock)
        ok = send_after_late_acks(d, out) == [0, 0]
    finally:
        rc = stop([dmn, sim])
        out.close()
        # a clean SIGTERM exits 0 (under ASan: no leak, no error either)
        ok = ok and rc[0] == 0
        finish(d, ["out"], not ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
