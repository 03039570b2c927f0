#!/usr/bin/env python3
"""m7bridge-mqtt against a real mosquitto broker on 127.0.0.1 (a free port, started here).

m7sim -> m7bridged -> m7bridge-mqtt -> mosquitto -> a QoS 1 subscriber. Covers JSON and
raw frame payloads, retained state, commands (allowed, forbidden, malformed, retained),
bad configurations, a broker restart mid-stream (nothing lost while the bridge's queue
holds, drops counted exactly beyond it), a broker that is down when the bridge starts, a
broker that stops reading at QoS 0 (bounded, drops counted exactly), and a stop with
messages still queued (counted in the log).
Exit 77 (skip) without mosquitto or the binaries.
"""
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ops_testlib import MOSQUITTO, Broker, Subscriber, free_port, wait_for  # noqa: E402

BUILD = os.environ.get("M7B_BUILD_ROOT", "build")
DAEMON = os.path.join(BUILD, "daemon", "m7bridged")
SIM = os.path.join(BUILD, "firmware", "m7sim")
BRIDGE = os.path.join(BUILD, "tools", "mqtt", "m7bridge-mqtt")
FAILSHIM = os.path.join(BUILD, "tests", "integration", "libfailshim.so")
TIMEOUT = 60.0
PREFIX, NODE = "m7b", "testhost"



class StallingBroker:
    """Just enough of an MQTT broker for QoS 0 publishers: accepts one client, then reads
    nothing (a broker that stopped taking messages: its receive buffer kept small so the
    connection fills soon) until resume(), then collects every PUBLISH and answers pings.
    The connection stays up throughout, so QoS 0 loses nothing on the wire."""

    def __init__(self):
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(1)
        self.port = self.lsock.getsockname()[1]
        self.reading = threading.Event()
        self.msgs = []
        self.lock = threading.Lock()
        self.conn = None
        threading.Thread(target=self._run, daemon=True).start()

    def _recv(self, n):
        buf = b""
        while len(buf) < n:
            d = self.conn.recv(n - len(buf))
            if not d:
                raise ConnectionError("closed")
            buf += d
        return buf

    def _packet(self):
        h = self._recv(1)[0]
        n, mult = 0, 1
        while True:
            b = self._recv(1)[0]
            n += (b & 0x7F) * mult
            mult *= 128
            if not b & 0x80:
                return h, self._recv(n) if n else b""

    def _run(self):
        self.conn, _ = self.lsock.accept()
        try:
            self._packet()  # CONNECT
            self.conn.sendall(b"\x20\x02\x00\x00")  # CONNACK, accepted
            self.reading.wait()
            while True:
                h, body = self._packet()
                if h >> 4 == 12:  # PINGREQ
                    self.conn.sendall(b"\xd0\x00")
                elif h >> 4 == 3:
                    tl = int.from_bytes(body[:2], "big")
                    with self.lock:
                        self.msgs.append((body[2:2 + tl].decode(), body[2 + tl:]))
        except (OSError, ConnectionError):
            pass

    def resume(self):
        self.reading.set()

    def take(self):
        with self.lock:
            return list(self.msgs)

    def close(self):
        for s in (self.conn, self.lsock):
            if s:
                s.close()


class Rig:
    """broker + m7bridged + m7bridge-mqtt + subscriber in a temp dir; m7sim on demand."""

    def __init__(self, test, broker_first=True, **conf):
        self.test = test
        self.dir = tempfile.mkdtemp(prefix="m7b-mqtt-")
        self.link = os.path.join(self.dir, "ttyRPMSG30")
        self.ctl = os.path.join(self.dir, "m7sim.ctl")
        self.sock = os.path.join(self.dir, "m7bridge.sock")
        self.log = open(os.path.join(self.dir, "log"), "ab")
        self.procs = {}
        self.broker = Broker(self.dir)
        self.start_broker()
        if not broker_first:
            # The subscriber's session stays with the broker's persistence: it gets
            # whatever the bridge publishes as soon as the broker is back.
            self.broker.stop()
        self.start("daemon", [DAEMON, "-f", "-s", self.sock, "-C", f"m7={self.link}"])
        settings = {"broker": {"host": "127.0.0.1", "port": self.broker.port,
                               "reconnect_min_s": 1, "reconnect_max_s": 2},
                    "topics": {"prefix": PREFIX, "host": NODE},
                    "bridge": {"stats_interval_ms": 200, "incidents_interval_ms": 1000}}
        for k, v in conf.items():
            sec, key = k.split("__")
            settings.setdefault(sec, {})[key] = v
        self.conf = os.path.join(self.dir, "mqtt.conf")
        with open(self.conf, "w") as f:
            for sec, kv in settings.items():
                f.write(f"[{sec}]\n" + "".join(f"{k} = {v}\n" for k, v in kv.items()))
        self.start("bridge", [BRIDGE, "-c", self.conf, "-s", self.sock])
        if broker_first:
            wait_for(lambda: self.stats().get("daemon_connected"), "bridge connected")
        else:
            # Watching before anything streams: no stats to tell without a broker.
            pid = self.procs["bridge"].pid

            def watching():
                # The socket's name exists a moment before the daemon listens on it.
                try:
                    return any(c.get("pid") == pid and c["watching"]
                               for c in self.status()["clients"])
                except OSError:
                    return False
            wait_for(watching, "the bridge watching")

    def start_broker(self):
        """The broker, and the subscriber on it (a persistent session)."""
        self.broker.start()
        self.sub = Subscriber(self.broker.port, f"{PREFIX}/{NODE}/#",
                              client_id=f"sub-{self.test}")
        wait_for(self.sub.connected.is_set, "subscriber connected")

    def start(self, name, args):
        self.procs[name] = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.log,
                                            stderr=subprocess.STDOUT)

    def stop(self, name):
        """Stops a process with SIGTERM; returns its exit status."""
        p = self.procs.pop(name)
        p.terminate()
        return p.wait(30)

    def start_sim(self, *sources):
        # --persist: a reboot hands the boot's books to the daemon (its BOOT_INFO).
        args = [SIM, "--link", self.link, "--heartbeat-ms", "200", "--ctl", self.ctl,
                "--persist", os.path.join(self.dir, "noinit.ram")]
        for s in sources:
            args += ["--source", s]
        self.start("sim", args)
        wait_for(lambda: os.path.exists(self.ctl), "m7sim's control FIFO")

    def sim_cmd(self, line):
        fd = os.open(self.ctl, os.O_WRONLY)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)

    def stats(self):
        # Live ones only: a retained copy replayed after a reconnect is old news.
        for topic, payload, retained in reversed(self.sub.take()):
            if topic == f"{PREFIX}/{NODE}/bridge/stats" and not retained:
                return json.loads(payload)
        return {}

    def frames(self, port):
        """FRAME lines received on .../m7/<port>/frame, each once. Keyed by the whole
        line: a QoS 1 redelivery repeats it byte for byte, while seq alone may repeat
        after the firmware's handshake resets it."""
        return {p: json.loads(p) for t, p, _ in self.sub.take()
                if t == f"{PREFIX}/{NODE}/m7/{port}/frame"}

    def status(self):
        """The daemon's STATUS reply (its books: docs/CLIENT-PROTOCOL.md, 4.3)."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(self.sock)
            f = s.makefile("rwb")
            f.readline()  # VERSION
            f.write(b'{"cmd":"status","id":2}\n')
            f.flush()
            return json.loads(f.readline())

    def watch_direct(self):
        """FRAME lines straight from the daemon's socket: what the bridge was given; and
        the firmware's HEARTBEAT counters, the newest in self.hb; and how many objects
        of the classes the bridge publishes (FRAME, STATE, FAULT) in self.direct_all."""
        self.direct = []
        self.direct_all = 0
        self.hb = {}
        s = socket.socket(socket.AF_UNIX)
        s.connect(self.sock)
        f = s.makefile("rwb")
        f.readline()
        f.write(b'{"cmd":"watch","id":1,"classes":["FRAME","HEARTBEAT","STATE","FAULT"]}\n')
        f.flush()
        f.readline()  # ACK

        def run():
            for line in f:
                if line.startswith((b'{"class":"FRAME"', b'{"class":"STATE"',
                                    b'{"class":"FAULT"')):
                    self.direct_all += 1
                if line.startswith(b'{"class":"FRAME"'):
                    self.direct.append(line.rstrip(b"\n"))
                elif line.startswith(b'{"class":"HEARTBEAT"'):
                    self.hb = json.loads(line)["counters"]
        threading.Thread(target=run, daemon=True).start()
        self.direct_sock = s

    def close(self):
        if getattr(self, "direct_sock", None):
            self.direct_sock.close()
        self.sub.close()
        codes = {}
        for name, p in self.procs.items():
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            codes[name] = p.returncode
        self.broker.stop()
        self.log.close()
        tail = self.tail()
        shutil.rmtree(self.dir, ignore_errors=True)
        # A clean stop on SIGTERM (a sanitizer's report would make it non-zero).
        if codes.get("bridge", 0) != 0:  # a test that stopped it checked it
            raise AssertionError(f"m7bridge-mqtt exited {codes.get('bridge')}:\n{tail}")

    def tail(self):
        try:
            with open(os.path.join(self.dir, "log"), errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""


class Mqtt(unittest.TestCase):
    def rig(self, **conf):
        r = Rig(self.id().rsplit(".", 1)[1], **conf)
        self.addCleanup(r.close)
        self.addCleanup(lambda: self._outcome_failed() and sys.stderr.write(r.tail()))
        return r

    def _outcome_failed(self):
        res = getattr(self, "_outcome", None)
        return bool(res and any(e for _, e in getattr(res, "errors", [])))

    def restart_broker_mid_stream(self, r, n, down_s):
        """Streams n captures, stops the broker after a third of them, restarts it after
        down_s; returns (unique frames received, the bridge's stats once everything
        settled, the daemon's books of port 2 for the boot that produced them).

        A starved M7 may drop captures (its queue fills while the daemon does not read):
        the daemon only published what reached it. So the M7 is rebooted once it is done,
        and the BOOT_INFO that follows closes the boot's books: every one of the n
        captures published or lost by a named cause. The bridge is then held to what the
        daemon published."""
        def failed(e):
            return AssertionError(f"{e}: {len(r.frames(2))} of {n} frames received "
                                  f"({len(r.direct)} straight from the daemon), "
                                  f"stats {json.dumps(r.stats())}, "
                                  f"firmware {json.dumps(r.hb)}\n"
                                  f"daemon {json.dumps(r.status())}\n{r.tail()}")

        def m7_done(k):
            # k captures sent or dropped; all n: nothing queued that a reboot would lose.
            return r.hb.get("captures", 0) + r.hb.get("captures_dropped", 0) >= k

        def books():
            acc = r.status()["channels"][0]["accounting"]
            if acc["boots_settled"] < 1:
                return None
            return next((p for p in acc["ports"] if p["port"] == 2), None)

        def settled():
            # Stats from after the reconnect only: the frames can all arrive before the
            # next stats message, and the newest one may still be from before the stop.
            # Every frame the daemon published either arrived, or was dropped by the
            # bridge (its queue bound) or by the daemon (the bridge fell behind it).
            st = r.stats()
            got = len(r.frames(2))
            if st.get("reconnects", 0) >= 1 and st.get("broker_connected") and \
                    st.get("queued") == 0 and st.get("inflight") == 0 and \
                    got + st.get("dropped", 0) + st.get("daemon_dropped", 0) >= \
                    bk["published"]:
                return st
            return None
        try:
            r.watch_direct()
            r.start_sim(f"2:rate=300,count={n},size=8,pattern=counter")
            # A third of the stream: received, or gone through a starved M7 that drops.
            wait_for(lambda: len(r.frames(2)) >= n // 3 or m7_done(n // 3),
                     "a third of the frames")
            r.broker.stop()
            t_down = time.monotonic()
            time.sleep(down_s)
            r.broker.start()
            t_up = time.monotonic()
            wait_for(lambda: m7_done(n), "the M7 to send or drop every capture")
            r.sim_cmd("reboot")
            bk = wait_for(books, "the daemon to settle the boot's books")
            st = wait_for(settled, "the bridge to settle")
        except AssertionError as e:
            raise failed(e)
        # The daemon's books: every capture the M7 produced is published or lost by a
        # named cause, and the M7 produced exactly what the source made.
        self.assertEqual(bk["produced"], n, json.dumps(bk))
        self.assertEqual(bk["published"] + bk["malformed"] + bk["dropped_m7"] +
                         bk["lost_reboot"] + bk["lost_link"], n, json.dumps(bk))
        print(f"\nbroker down {t_up - t_down:.2f} s: all caught up "
              f"{time.monotonic() - t_up:.2f} s after its restart; "
              f"stats {json.dumps(st)}; books {json.dumps(bk)}", file=sys.stderr)
        return r.frames(2), st, bk

    def test_broker_restart_within_queue_bound_loses_nothing(self):
        r = self.rig()
        n = 600
        frames, st, bk = self.restart_broker_mid_stream(r, n, 1.0)
        self.assertEqual(st["dropped"], 0)
        self.assertEqual(st["daemon_dropped"], 0)
        self.assertGreaterEqual(st["reconnects"], 1)
        # The bridge loses nothing: every frame the daemon published for the port (all n
        # unless the M7 dropped some, counted in the books) reaches the subscriber ...
        self.assertEqual(len(frames), bk["published"], "frames lost across the broker restart")
        # ... exactly as the daemon streamed it, byte for byte (JSON as on the socket).
        wait_for(lambda: len(r.direct) >= bk["published"], "the direct watcher")
        self.assertEqual(set(frames), set(r.direct))
        for o in frames.values():
            self.assertEqual(len(base64.b64decode(o["data"])), 8)
        # Retained state and the bridge's own status.
        msgs = r.sub.take()
        states = [json.loads(p) for t, p, _ in msgs if t == f"{PREFIX}/{NODE}/m7/state"]
        self.assertIn("up", [s["state"] for s in states])
        self.assertIn((f"{PREFIX}/{NODE}/bridge", b"online"), [(t, p) for t, p, _ in msgs])

    def test_drops_beyond_queue_bound_are_counted(self):
        r = self.rig(bridge__queue_max=40)
        n = 600
        frames, st, bk = self.restart_broker_mid_stream(r, n, 1.5)
        self.assertGreater(st["dropped"], 0)
        # Exact accounting: every frame the daemon published either arrived or was counted
        # as dropped, by the bridge or by the daemon; the daemon's books (checked above)
        # count the rest of the n.
        self.assertEqual(len(frames) + st["dropped"] + st["daemon_dropped"], bk["published"],
                         json.dumps([st, bk]))

    def test_broker_absent_at_start(self):
        """The broker comes up after the bridge: the bridge keeps trying, and what the
        daemon streamed meanwhile waits in its queue and arrives once the broker is up."""
        r = self.rig(broker_first=False)
        n = 50
        r.watch_direct()
        r.start_sim(f"2:rate=100,count={n},size=8,pattern=counter")
        wait_for(lambda: len(r.direct) == n, "the daemon to stream every frame")
        r.broker.start()
        wait_for(lambda: len(r.frames(2)) == n, "every frame through the late broker")
        self.assertEqual(set(r.frames(2)), set(r.direct))
        st = wait_for(lambda: r.stats().get("broker_connected") and r.stats(), "stats")
        self.assertEqual(st["dropped"], 0)
        # Said once, with the reason.
        self.assertEqual(r.tail().count("Connection refused"), 1, r.tail())

    def test_client_start_failure_exits_1(self):
        """The MQTT client's network thread cannot start (a thread limit, here a preload
        that makes pthread_create fail): a set-up failure, exit status 1, whether at the
        first connect or at its retry (the broker's name did not resolve at first: the
        preload fails the first lookup). No broker is needed: the connect is
        non-blocking, the thread would carry it on."""
        ldd = subprocess.run(["ldd", BRIDGE], capture_output=True, text=True).stdout
        if "libasan" in ldd:
            self.skipTest("a sanitized build: its runtime must come before any preload")
        d = tempfile.mkdtemp(prefix="m7b-mqtt-fail-")
        self.addCleanup(shutil.rmtree, d, True)
        conf = os.path.join(d, "mqtt.conf")
        with open(conf, "w") as f:
            f.write(f"[broker]\nhost = localhost\nport = {free_port()}\n"
                    "reconnect_min_s = 1\nreconnect_max_s = 1\n")
        for lookups_failing, said in ((0, "cannot set up"), (1, "cannot start")):
            env = dict(os.environ, LD_PRELOAD=FAILSHIM, FAILSHIM_LOOKUPS=str(lookups_failing))
            p = subprocess.Popen([BRIDGE, "-c", conf, "-s", os.path.join(d, "none.sock")],
                                 env=env, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            self.addCleanup(lambda p=p: p.poll() is None and (p.kill(), p.wait()))
            err = p.communicate(timeout=TIMEOUT)[1].decode(errors="replace")
            self.assertIn(f"m7bridge-mqtt: {said} the MQTT client", err)
            self.assertEqual(p.returncode, 1, err)

    def test_daemon_restart_under_the_bridge(self):
        """m7bridged restarts while frames stream: the bridge reconnects on its own, says
        so in its stats, and what the new daemon streams arrives."""
        r = self.rig()
        r.start_sim("2:rate=50,size=8,pattern=counter")
        wait_for(lambda: len(r.frames(2)) >= 5, "frames before the restart")
        self.assertEqual(r.stop("daemon"), 0)
        wait_for(lambda: r.stats().get("daemon_connected") is False, "stats: daemon gone")
        before = len(r.frames(2))
        r.start("daemon", [DAEMON, "-f", "-s", r.sock, "-C", f"m7={r.link}"])
        wait_for(lambda: r.stats().get("daemon_connected") is True, "stats: daemon back")
        wait_for(lambda: len(r.frames(2)) >= before + 5, "frames after the restart")
        st = r.stats()
        self.assertEqual(st["dropped"], 0, st)
        self.assertTrue(st["broker_connected"], st)

    def test_fault_and_incident(self):
        """A fault on the M7 (here an assertion): its FAULT is published retained on
        .../fault, and its incident once closed on .../incident, once per run of the
        bridge: a new start publishes it again (subscribers deduplicate on channel and
        seq)."""
        r = self.rig()
        self.assertEqual(r.stop("daemon"), 0)
        conf = os.path.join(r.dir, "m7bridged.conf")
        os.mkdir(os.path.join(r.dir, "incidents"), 0o700)
        with open(conf, "w") as f:
            f.write(f"[daemon]\nsocket = {r.sock}\nkernel_log = off\n"
                    f"incident_dir = {r.dir}/incidents\n\n[channel m7]\ndevice = {r.link}\n"
                    "recovery_steps = resync\nliveness_quiet_ms = 0\n")
        r.start("daemon", [DAEMON, "-f", "-c", conf])
        wait_for(lambda: r.stats().get("daemon_connected") is True
                 and r.stats().get("daemon_connected"), "the bridge back on the daemon")
        r.start_sim("0:rate=20")
        wait_for(lambda: any(json.loads(p)["state"] == "up" for t, p, _ in r.sub.take()
                             if t.endswith("/m7/state")), "state up")
        r.sim_cmd("assert")
        base = f"{PREFIX}/{NODE}/m7"
        fault = wait_for(lambda: [json.loads(p) for t, p, _ in r.sub.take()
                                  if t == f"{base}/fault"], "the fault")
        self.assertEqual(fault[0]["kind"], "firmware_fatal", fault)
        late = Subscriber(r.broker.port, f"{base}/fault", client_id="late-fault")
        self.addCleanup(late.close)
        got = wait_for(late.take, "the retained fault")
        self.assertTrue(got[0][2], "the fault is not retained")
        self.assertEqual(json.loads(got[0][1]), fault[-1])

        def incidents():
            return [json.loads(p) for t, p, _ in r.sub.take() if t == f"{base}/incident"]
        inc = wait_for(incidents, "the incident, closed")
        self.assertEqual(len(inc), 1, inc)
        self.assertNotEqual(inc[0]["outcome"], "open")
        self.assertEqual((inc[0]["channel"], inc[0]["kind"]), ("m7", "firmware_fatal"))
        # Once per run: not again while this one runs ...
        time.sleep(1.5)  # more than incidents_interval_ms
        self.assertEqual(len(incidents()), 1)
        # ... and again, same seq, from a new start.
        self.assertEqual(r.stop("bridge"), 0)
        r.start("bridge", [BRIDGE, "-c", r.conf, "-s", r.sock])
        again = wait_for(lambda: (lambda i: i if len(i) == 2 else None)(incidents()),
                         "the incident from the new start")
        self.assertEqual(again[1]["seq"], inc[0]["seq"])

    def test_broker_refusing_auth(self):
        """A broker that refuses the bridge (not authorised) is said so, and retried: once
        the broker lets it in, the bridge is online without a restart."""
        d = tempfile.mkdtemp(prefix="m7b-mqtt-auth-")
        self.addCleanup(shutil.rmtree, d, True)
        os.chmod(d, 0o755)  # mosquitto started as root runs as the mosquitto user
        b = Broker(d)
        self.addCleanup(b.stop)
        with open(b.conf) as f:
            open_conf = f.read()
        with open(b.conf, "w") as f:
            f.write(open_conf.replace("allow_anonymous true", "allow_anonymous false"))
        b.start()
        conf = os.path.join(d, "bridge.conf")
        with open(conf, "w") as f:
            f.write(f"[broker]\nhost = 127.0.0.1\nport = {b.port}\nreconnect_min_s = 1\n"
                    f"reconnect_max_s = 1\n[topics]\nprefix = {PREFIX}\nhost = authhost\n")
        log = os.path.join(d, "bridge.log")
        with open(log, "wb") as out:
            p = subprocess.Popen([BRIDGE, "-c", conf, "-s", os.path.join(d, "none.sock")],
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))

        def said():
            with open(log, errors="replace") as f:
                return f.read()
        wait_for(lambda: "not authorised" in said(), "the refusal")
        # Retried every second; said once (the man page), not at every retry.
        time.sleep(2.5)
        self.assertEqual(said().count("not authorised"), 1, said())
        b.stop()
        with open(b.conf, "w") as f:
            f.write(open_conf)
        b.start()
        sub = Subscriber(b.port, f"{PREFIX}/authhost/bridge", client_id="auth-sub")
        self.addCleanup(sub.close)
        wait_for(lambda: (f"{PREFIX}/authhost/bridge", b"online") in
                 [(t, pl) for t, pl, _ in sub.take()], "the bridge online")
        p.terminate()
        self.assertEqual(p.wait(30), 0, said())

    def test_same_client_id_backs_off(self):
        """Two bridges with one client id (two boards cloned with one host name): each
        connection the broker accepts it soon ends, taken over by the other. That is
        said, with the likely cause, and the retries back off instead of every
        reconnect_min_s for ever."""
        d = tempfile.mkdtemp(prefix="m7b-mqtt-dup-")
        self.addCleanup(shutil.rmtree, d, True)
        os.chmod(d, 0o755)  # mosquitto started as root runs as the mosquitto user
        b = Broker(d)
        self.addCleanup(b.stop)
        b.start()
        conf = os.path.join(d, "bridge.conf")
        with open(conf, "w") as f:
            f.write(f"[broker]\nhost = 127.0.0.1\nport = {b.port}\nclient_id = clone\n"
                    "reconnect_min_s = 1\nreconnect_max_s = 8\n")
        logs = [os.path.join(d, f"bridge{i}.log") for i in (1, 2)]
        for log in logs:
            with open(log, "wb") as out:
                p = subprocess.Popen([BRIDGE, "-c", conf, "-s", os.path.join(d, "none.sock")],
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=out)
            self.addCleanup(lambda p=p: p.poll() is None and (p.kill(), p.wait()))

        def delays():
            with open(logs[0], errors="replace") as f:
                got = re.findall(r"after accepting it; next attempt in (\d+) s \(another "
                                 r"client with client id clone\?\)", f.read())
            return [int(x) for x in got] if len(got) >= 3 else None
        got = wait_for(delays, "the first bridge's connections taken over, said")
        self.assertEqual(got[:3], sorted(got[:3]), got)
        self.assertGreater(got[2], got[0], got)

    def tls_files(self, parent):
        """A CA, a server certificate for 127.0.0.1 and a client certificate, in
        parent/tls (readable by mosquitto, which drops root for its own user)."""
        openssl = shutil.which("openssl")
        if not openssl:
            self.skipTest("openssl is not installed: no certificates for a TLS broker")
        d = os.path.join(parent, "tls")
        os.mkdir(d)
        for path in (parent, d):
            os.chmod(path, 0o755)

        def ssl(*args):
            subprocess.run([openssl, *args], cwd=d, check=True, capture_output=True)
        ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
            "-out", "ca.crt", "-days", "2", "-subj", "/CN=m7bridge test CA")
        with open(os.path.join(d, "ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1\n")
        for name, subj, ext in (("srv", "/CN=127.0.0.1", ["-extfile", "ext"]),
                                ("cli", "/CN=board-17", [])):
            ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                f"{name}.csr", "-subj", subj)
            ssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", *ext)
        for name in os.listdir(d):
            os.chmod(os.path.join(d, name), 0o644)
        return d

    def test_tls_client_certificate(self):
        """A broker that requires a client certificate: without one the bridge says the
        connection failed (the broker ends it during the handshake) and keeps trying;
        with cert_file and key_file it connects and publishes."""
        d = self.tls_files(tempfile.mkdtemp(prefix="m7b-mqtt-cert-"))
        self.addCleanup(shutil.rmtree, os.path.dirname(d), True)
        b = Broker(d)
        self.addCleanup(b.stop)
        with open(b.conf, "a") as f:
            f.write(f"cafile {d}/ca.crt\ncertfile {d}/srv.crt\nkeyfile {d}/srv.key\n"
                    "require_certificate true\n")
        b.start()
        base = (f"[broker]\nhost = 127.0.0.1\nport = {b.port}\ntls = true\n"
                f"ca_file = {d}/ca.crt\nreconnect_min_s = 1\nreconnect_max_s = 1\n")
        log = os.path.join(d, "bridge.log")

        def run(extra):
            conf = os.path.join(d, "bridge.conf")
            with open(conf, "w") as f:
                f.write(base + extra + f"[topics]\nprefix = {PREFIX}\nhost = certhost\n")
            with open(log, "wb") as out:
                p = subprocess.Popen([BRIDGE, "-c", conf, "-s", os.path.join(d, "none.sock")],
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=out)
            self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))
            return p

        def said():
            with open(log, errors="replace") as f:
                return f.read()
        p = run("")
        wait_for(lambda: "connection failed" in said(), "the bridge to say it failed")
        p.terminate()
        self.assertEqual(p.wait(30), 0, said())
        p = run(f"cert_file = {d}/cli.crt\nkey_file = {d}/cli.key\n")
        wait_for(lambda: "connected to 127.0.0.1" in said(), "the bridge connected")
        p.terminate()
        self.assertEqual(p.wait(30), 0, said())

    def test_tls_handshake_failure_is_retried(self):
        """A TLS handshake that fails (here a plain listener where TLS was expected, as
        after a broker restarted with the wrong configuration) must not end the bridge's
        reconnecting: once the right broker is back, it connects and publishes."""
        r = self.rig()
        d = self.tls_files(r.dir)
        # The TLS broker takes its port over later.
        tls = Broker(d, port=free_port())
        with open(tls.conf, "a") as f:
            f.write(f"cafile {d}/ca.crt\ncertfile {d}/srv.crt\nkeyfile {d}/srv.key\n")
        # Until then, a plain TCP listener on its port: it takes the bridge's ClientHello
        # and closes, as a broker without TLS does.
        plain = socket.socket()
        plain.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        plain.bind(("127.0.0.1", tls.port))
        plain.listen(4)
        self.addCleanup(plain.close)
        hellos = []

        def serve():
            try:
                while True:
                    c, _ = plain.accept()
                    with c:
                        c.settimeout(10)
                        hellos.append(c.recv(1))
            except OSError:
                pass
        threading.Thread(target=serve, daemon=True).start()
        self.addCleanup(tls.stop)
        conf = os.path.join(d, "bridge.conf")
        with open(conf, "w") as f:
            f.write(f"[broker]\nhost = 127.0.0.1\nport = {tls.port}\ntls = true\n"
                    f"ca_file = {d}/ca.crt\nreconnect_min_s = 1\nreconnect_max_s = 1\n"
                    f"[topics]\nprefix = {PREFIX}\nhost = tlshost\n")
        log = os.path.join(d, "bridge.log")
        with open(log, "wb") as out:
            p = subprocess.Popen([BRIDGE, "-c", conf, "-s", r.sock],
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))

        def said():
            with open(log, errors="replace") as f:
                return f.read()
        # A TLS record (0x16, handshake) on a plain connection: refused.
        wait_for(lambda: b"\x16" in hellos, "the bridge's TLS handshake")
        plain.close()
        tls.start()
        wait_for(lambda: "connected to 127.0.0.1" in said(),
                 "the bridge to connect to the TLS broker")
        self.assertIn("connection failed", said())
        p.terminate()
        self.assertEqual(p.wait(30), 0, said())

    def test_qos0_stalled_broker_bounded(self):
        """QoS 0 against a broker that stops reading: libmosquitto would queue without
        end. The bridge holds at most queue_max messages not yet written, drops the rest
        and counts them: received + dropped = what the daemon streamed, exactly."""
        fake = StallingBroker()
        self.addCleanup(fake.close)
        r = self.rig(broker_first=False, topics__qos=0, bridge__queue_max=40,
                     broker__port=fake.port)
        r.watch_direct()
        # Streams until the connection (the kernel's buffers, megabytes) and then the
        # bound are full: the bridge says it is dropping. Then the M7 stops.
        r.start_sim("2:rate=2000,size=462,baud=10000000,pattern=counter")
        wait_for(lambda: "queue full" in r.tail(), "the bridge to drop")
        r.sim_cmd("quit")
        r.procs.pop("sim").wait(30)
        wait_for(lambda: len(r.direct) == r.status()["channels"][0]["data_frames"],
                 "every frame the daemon published, straight from it")
        fake.resume()
        mine = (f"{PREFIX}/{NODE}/bridge", f"{PREFIX}/{NODE}/bridge/stats")

        def settled():
            msgs = fake.take()
            st = [json.loads(p) for t, p in msgs if t == mine[1]]
            # Every object of the daemon's the bridge publishes (FRAME, STATE, FAULT; no
            # fault here, so no incident either), apart from the bridge's own status.
            got = len([1 for t, _ in msgs if t not in mine])
            if st and st[-1]["inflight"] == 0 and st[-1]["queued"] == 0 and \
                    got + st[-1]["dropped"] + st[-1]["daemon_dropped"] >= r.direct_all:
                return got, st[-1]
            return None
        try:
            got, st = wait_for(settled, "the bridge to settle")
        except AssertionError as e:
            msgs = fake.take()
            raise AssertionError(f"{e}: {len(msgs)} messages received, "
                                 f"{r.direct_all} streamed, stats "
                                 f"{[p for t, p in msgs if t == mine[1]][-1:]}")
        self.assertGreater(st["dropped"], 0)
        self.assertEqual(got + st["dropped"] + st["daemon_dropped"], r.direct_all,
                         json.dumps(st))

    def test_qos1_broker_that_never_acknowledges(self):
        """QoS 1 against a broker that reads everything and acknowledges nothing: at most
        queue_max messages are in flight, the rest dropped and counted; at the stop the
        ones never acknowledged are said."""
        fake = StallingBroker()
        self.addCleanup(fake.close)
        fake.resume()  # reads, never answers a PUBLISH
        r = self.rig(broker_first=False, bridge__queue_max=40, broker__port=fake.port)
        r.watch_direct()
        r.start_sim("2:rate=500,count=200,size=8,pattern=counter")
        wait_for(lambda: len(r.direct) == 200, "the daemon to stream every frame")
        mine = (f"{PREFIX}/{NODE}/bridge", f"{PREFIX}/{NODE}/bridge/stats")

        def settled():
            msgs = fake.take()
            st = [json.loads(p) for t, p in msgs if t == mine[1]]
            got = len([1 for t, _ in msgs if t not in mine])
            if st and st[-1]["dropped"] + got >= r.direct_all:
                return got, st[-1]
            return None
        got, st = wait_for(settled, "the bridge to settle")
        self.assertEqual(st["inflight"], 40, st)
        self.assertEqual(got, 40, st)
        self.assertEqual(got + st["dropped"] + st["daemon_dropped"], r.direct_all, st)
        self.assertEqual(r.stop("bridge"), 0)
        self.assertIn("stopping with 40 messages not delivered (0 queued, 40 in flight)",
                      r.tail())

    def test_stop_says_what_was_not_delivered(self):
        """SIGTERM while the broker is away: the bridge exits cleanly and says how many
        messages it could not deliver, instead of dropping them without a word."""
        r = self.rig(broker_first=False)
        n = 30
        r.watch_direct()
        r.start_sim(f"2:rate=100,count={n},size=8,pattern=counter")
        wait_for(lambda: len(r.direct) == n, "the daemon to stream every frame")
        self.assertEqual(r.stop("bridge"), 0)
        r.broker.start()  # for the rig's clean-up
        undelivered = [int(line.split()[3]) for line in r.tail().splitlines()
                       if line.startswith("m7bridge-mqtt: stopping with ")]
        self.assertEqual(len(undelivered), 1, r.tail())
        self.assertGreaterEqual(undelivered[0], n)

    def test_raw_payload_commands_and_retained_state(self):
        r = self.rig(topics__payload="raw", commands__allow_send="true",
                     commands__channels="m7")
        r.start_sim("1:rate=0,loop=1")
        wait_for(lambda: any(json.loads(p)["state"] == "up" for t, p, _ in r.sub.take()
                             if t.endswith("/m7/state")), "state up")
        r.sub.publish(f"{PREFIX}/{NODE}/m7/1/send", b"hello\x00\xff")
        r.sub.publish(f"{PREFIX}/{NODE}/other/1/send", b"nope")

        def results():
            out = {}
            for t, p, _ in r.sub.take():
                if t.endswith("/1/send/result"):
                    out[t.split("/")[2]] = json.loads(p)
            return out if len(out) == 2 else None
        res = wait_for(results, "send results")
        self.assertEqual(res["m7"], {"ok": True})
        self.assertEqual(res["other"]["code"], "forbidden")
        # loop=1: what was sent comes back as a capture, published as raw bytes.
        echo = wait_for(lambda: [p for t, p, _ in r.sub.take()
                                 if t == f"{PREFIX}/{NODE}/m7/1/frame"], "echoed frame")
        self.assertEqual(b"".join(echo), b"hello\x00\xff")
        # A late subscriber still gets the retained state.
        late = Subscriber(r.broker.port, f"{PREFIX}/{NODE}/m7/state", client_id="late")
        try:
            got = wait_for(late.take, "retained state")
            self.assertTrue(got[0][2], "state not retained")
            self.assertEqual(json.loads(got[0][1])["state"], "up")
        finally:
            late.close()

    def test_raw_payloads_carry_every_byte_value(self):
        """Raw payloads are the captured bytes whatever their values, both ways: every
        byte value from the M7, and a send of every byte value echoed back."""
        r = self.rig(topics__payload="raw", commands__allow_send="true")
        r.watch_direct()
        r.start_sim("2:rate=10,count=8,size=256,pattern=counter", "1:rate=0,loop=1")
        wait_for(lambda: len(r.direct) == 8, "the daemon to stream every capture")
        want = sorted(base64.b64decode(json.loads(line)["data"]) for line in r.direct)
        self.assertEqual(set(want[0]), set(range(256)))
        topic = f"{PREFIX}/{NODE}/m7/2/frame"
        got = wait_for(lambda: (lambda g: g if len(g) == 8 else None)(
            [p for t, p, _ in r.sub.take() if t == topic]), "every capture published")
        self.assertEqual(sorted(got), want)
        res = self.send_until_taken(r, f"{PREFIX}/{NODE}/m7/1/send", bytes(range(256)))
        self.assertEqual(res, {"ok": True})
        echo = f"{PREFIX}/{NODE}/m7/1/frame"
        wait_for(lambda: len(b"".join(p for t, p, _ in r.sub.take() if t == echo)) >= 256,
                 "the echo")
        self.assertEqual(b"".join(p for t, p, _ in r.sub.take() if t == echo),
                         bytes(range(256)))

    def test_bad_sends_get_a_result(self):
        """A send the bridge cannot carry out is answered on .../result, never ignored."""
        r = self.rig(commands__allow_send="true")
        r.start_sim("1:rate=0,loop=1")
        wait_for(lambda: any(json.loads(p)["state"] == "up" for t, p, _ in r.sub.take()
                             if t.endswith("/m7/state")), "state up")
        base = f"{PREFIX}/{NODE}/m7"
        r.sub.publish(f"{base}/abc/send", b"x")
        r.sub.publish(f"{base}/256/send", b"x")
        r.sub.publish(f"{base}/1/send", b"x" * 40000)
        # A port spelt otherwise than its number: its result would go to another topic
        # (.../1/send/result) than the sender's.
        r.sub.publish(f"{base}/01/send", b"zero")
        r.sub.publish(f"{base}/1/send", b"fine")

        def results():
            out = [(t, json.loads(p)) for t, p, _ in r.sub.take() if t.endswith("/result")]
            return out if len(out) >= 5 else None
        res = wait_for(results, "a result for every send")
        self.assertEqual(sorted((t[len(base) + 1:], o.get("code", "")) for t, o in res),
                         [("01/send/result", "bad_value"), ("1/send/result", ""),
                          ("1/send/result", "bad_value"), ("256/send/result", "bad_value"),
                          ("abc/send/result", "bad_value")])
        self.assertIn({"ok": True}, [o for _, o in res])
        echo = wait_for(lambda: [p for t, p, _ in r.sub.take() if t == f"{base}/1/frame"],
                        "echoed frame")
        self.assertEqual(json.loads(echo[0])["data"], base64.b64encode(b"fine").decode())

    def test_send_pending_when_the_daemon_dies_gets_a_result(self):
        """A send forwarded to the daemon that dies before it answers: the sender gets a
        result (code lost), whether the daemon comes back or not."""
        r = self.rig(commands__allow_send="true")
        r.start_sim("1:rate=0,loop=1")
        wait_for(lambda: any(json.loads(p)["state"] == "up" for t, p, _ in r.sub.take()
                             if t.endswith("/m7/state")), "state up")
        base = f"{PREFIX}/{NODE}/m7"
        r.sim_cmd("stall")  # the M7 takes nothing: the daemon holds the send
        r.sub.publish(f"{base}/1/send", b"pending")
        wait_for(lambda: r.status()["channels"][0]["send_queue"] >= 1,
                 "the send waiting in the daemon")
        daemon = r.procs.pop("daemon")
        daemon.kill()  # no goodbye: the send is never answered
        daemon.wait()
        res = wait_for(lambda: [json.loads(p) for t, p, _ in r.sub.take()
                                if t == f"{base}/1/send/result"], "the send's result")
        self.assertEqual(res[0].get("code"), "lost", res)
        self.assertFalse(res[0]["ok"])
        # Said once: not again when the daemon is back.
        r.sim_cmd("resume")
        r.start("daemon", [DAEMON, "-f", "-s", r.sock, "-C", f"m7={r.link}"])
        wait_for(lambda: r.stats().get("daemon_connected") is True, "the daemon back")
        self.assertEqual(len([1 for t, _, _ in r.sub.take()
                              if t == f"{base}/1/send/result"]), 1)

    def test_retained_send_refused(self):
        """A retained send is handed to every new subscription: carried out, it would go to
        the UART again at every start of the bridge. It is refused, with a result."""
        r = self.rig()  # not subscribed yet: nothing waits in the bridge's session
        r.start_sim("1:rate=0,loop=1")
        wait_for(lambda: any(json.loads(p)["state"] == "up" for t, p, _ in r.sub.take()
                             if t.endswith("/m7/state")), "state up")
        base = f"{PREFIX}/{NODE}/m7"
        r.sub.publish(f"{base}/1/send", b"stale", retain=True)
        self.assertEqual(r.stop("bridge"), 0)
        with open(r.conf, "a") as f:
            f.write("[commands]\nallow_send = true\n")
        r.start("bridge", [BRIDGE, "-c", r.conf, "-s", r.sock])
        res = wait_for(lambda: [json.loads(p) for t, p, _ in r.sub.take()
                                if t == f"{base}/1/send/result"], "the retained send's result")
        self.assertEqual(res[0]["code"], "retained")
        # Clearing it reaches the bridge as an empty send, which the daemon refuses. Until
        # the new start follows the daemon it is answered "busy" (the stats seen may still
        # be the old start's): said again, as a user would.
        res = self.send_until_taken(r, f"{base}/1/send", b"", retain=True)
        self.assertEqual(res["code"], "bad_value", res)
        r.sub.publish(f"{base}/1/send", b"fresh")
        seen = []
        echo = wait_for(lambda: [p for t, p, _ in seen.extend(r.sub.take()) or seen
                                 if t == f"{base}/1/frame"], "echoed frame")
        self.assertEqual([base64.b64decode(json.loads(p)["data"]) for p in echo], [b"fresh"])

    @staticmethod
    def send_until_taken(r, topic, payload, retain=False):
        """Publishes a send until its result is other than "busy" (the bridge not yet
        following the daemon after a start), and returns that result. A "retained" result
        is a retained send's, handed to the bridge again at its subscription: not ours."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            r.sub.publish(topic, payload, retain=retain)
            res = wait_for(lambda: [o for o in (json.loads(p) for t, p, _ in r.sub.take()
                                                if t == f"{topic}/result")
                                    if o.get("code") != "retained"], "send result")
            if res[-1].get("code") != "busy" or time.monotonic() > deadline:
                return res[-1]
            time.sleep(0.2)

    def test_sends_refused_unless_allowed(self):
        r = self.rig()  # allow_send defaults to false: not even subscribed
        r.start_sim("1:rate=0,loop=1")
        wait_for(lambda: any(t.endswith("/m7/state") for t, _, _ in r.sub.take()),
                 "state")
        r.sub.publish(f"{PREFIX}/{NODE}/m7/1/send", b"hello")
        time.sleep(1.0)
        msgs = r.sub.take()
        self.assertFalse([t for t, _, _ in msgs if t.endswith("/send/result")])
        self.assertFalse([t for t, _, _ in msgs if t.endswith("/m7/1/frame")])

    def test_sends_turned_off_unsubscribe(self):
        """allow_send turned off (here by a reload; a restart alike): the broker keeps
        the persistent session's subscription, so the bridge takes it back, and sends
        reach it no more, as with a bridge that never allowed them."""
        r = self.rig(commands__allow_send="true")
        with open(r.conf) as f:
            text = f.read()
        with open(r.conf, "w") as f:
            f.write(text.replace("allow_send = true", "allow_send = false"))
        r.procs["bridge"].send_signal(signal.SIGHUP)
        wait_for(lambda: r.tail().count("m7bridge-mqtt: connected to ") >= 2, "reconnected")
        r.start_sim("1:rate=0,loop=1")
        wait_for(lambda: any(json.loads(p)["state"] == "up" for t, p, _ in r.sub.take()
                             if t.endswith("/m7/state")), "state up")
        r.sub.publish(f"{PREFIX}/{NODE}/m7/1/send", b"hello")
        time.sleep(1.0)
        msgs = r.sub.take()
        self.assertFalse([p for t, p, _ in msgs if t.endswith("/send/result")])
        self.assertFalse([t for t, _, _ in msgs if t.endswith("/m7/1/frame")])

    def test_sighup_reloads_all_or_nothing(self):
        """SIGHUP reloads the configuration file: one that fails the start's checks
        changes nothing (said, and the bridge goes on); a valid one applies whole, the
        bridge starting over in the same process."""
        r = self.rig()  # allow_send defaults to false: not even subscribed
        bridge = r.procs["bridge"]
        with open(r.conf) as f:
            good = f.read()
        with open(r.conf, "a") as f:
            f.write("[commands]\nallow_send = true\n[broker]\nport = 99999\n")
        bridge.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload refused" in r.tail(), "the refusal said")
        self.assertIn("port", r.tail().split("reload refused", 1)[1])
        self.assertIsNone(bridge.poll(), "the bridge ended on a bad reload")
        wait_for(lambda: r.stats().get("broker_connected"), "the bridge going on")
        with open(r.conf, "w") as f:
            f.write(good + "[commands]\nallow_send = true\nchannels = m7\n")
        bridge.send_signal(signal.SIGHUP)
        wait_for(lambda: "restarting to apply it" in r.tail(), "the reload said")
        wait_for(lambda: r.tail().count("m7bridge-mqtt: connected to ") >= 2, "reconnected")
        r.sub.take()
        # Live stats come after the new start subscribed to the command topic.
        wait_for(lambda: r.stats().get("broker_connected"), "the new start's stats")
        self.assertIsNone(bridge.poll(), "the bridge ended at the reload")
        r.start_sim("1:rate=0,loop=1")
        wait_for(lambda: any(json.loads(p)["state"] == "up" for t, p, _ in r.sub.take()
                             if t.endswith("/m7/state")), "state up")
        # Until the new start follows the daemon a send is answered "busy": said again.
        res = self.send_until_taken(r, f"{PREFIX}/{NODE}/m7/1/send", b"hello")
        self.assertEqual(res, {"ok": True}, "allow_send not applied")

    def test_reload_mid_stream_loses_nothing(self):
        """A reload while frames stream: the bridge keeps its daemon connection through
        the restart of its broker side, so every frame the daemon streamed reaches the
        subscriber, none dropped; the statistics go on counting from before."""
        r = self.rig()
        bridge = r.procs["bridge"]
        n = 400
        r.watch_direct()
        r.start_sim(f"2:rate=200,count={n},size=8,pattern=counter")
        wait_for(lambda: len(r.frames(2)) >= n // 4, "a quarter of the frames")
        before = r.stats()["published"]
        bridge.send_signal(signal.SIGHUP)
        wait_for(lambda: "restarting to apply it" in r.tail(), "the reload said")
        wait_for(lambda: r.tail().count("m7bridge-mqtt: connected to ") >= 2, "reconnected")
        wait_for(lambda: len(r.direct) >= n or r.hb.get("captures_dropped"),
                 "the daemon to stream every frame")
        wait_for(lambda: len(r.frames(2)) >= len(r.direct),
                 f"every frame through the reload ({len(r.direct)} streamed)")
        self.assertEqual(set(r.frames(2)), set(r.direct))
        st = wait_for(lambda: r.stats().get("queued") == 0 and r.stats(), "stats")
        self.assertEqual(st["dropped"], 0, st)
        self.assertEqual(st["daemon_dropped"], 0, st)
        self.assertGreaterEqual(st["published"], before, "the statistics went back")
        self.assertIsNone(bridge.poll(), "the bridge ended at the reload")

    def test_reload_keeps_the_queue(self):
        """A reload while the broker is away (to fix its address, say) keeps what waits
        for it: with a smaller queue_max the newest beyond it are dropped and counted,
        and received + dropped is what the daemon streamed."""
        r = self.rig(broker_first=False)
        n = 50
        r.watch_direct()
        r.start_sim(f"2:rate=100,count={n},size=8,pattern=counter")
        wait_for(lambda: len(r.direct) == n, "the daemon to stream every frame")
        with open(r.conf, "a") as f:
            f.write("queue_max = 20\n")  # the last section is [bridge]
        r.procs["bridge"].send_signal(signal.SIGHUP)
        wait_for(lambda: "restarting to apply it" in r.tail(), "the reload said")
        r.broker.start()

        def settled():
            st = r.stats()
            return st if st.get("broker_connected") and st.get("queued") == 0 else None
        st = wait_for(settled, "the queue delivered")
        self.assertTrue(set(r.frames(2)) <= set(r.direct))
        # The queue holds the STATEs too; the bridge's own status goes around it.
        mine = (f"{PREFIX}/{NODE}/bridge", f"{PREFIX}/{NODE}/bridge/stats")
        got = [t for t, _, _ in r.sub.take() if t not in mine]
        self.assertEqual(len(got), 20, st)
        self.assertEqual(len(got) + st["dropped"], r.direct_all, st)

    def test_reload_to_new_topics_keeps_state_retained(self):
        """A reload that moves the topics (a new prefix) publishes each channel's latest
        STATE again, retained, under the new ones: a subscriber there finds it."""
        r = self.rig()
        r.start_sim("1:rate=0,loop=1")
        wait_for(lambda: any(json.loads(p)["state"] == "up" for t, p, _ in r.sub.take()
                             if t.endswith("/m7/state")), "state up")
        with open(r.conf) as f:
            text = f.read()
        with open(r.conf, "w") as f:
            f.write(text.replace(f"prefix = {PREFIX}", "prefix = moved/site"))
        r.procs["bridge"].send_signal(signal.SIGHUP)
        wait_for(lambda: r.tail().count("m7bridge-mqtt: connected to ") >= 2, "reconnected")
        sub = Subscriber(r.broker.port, f"moved/site/{NODE}/m7/state", client_id="moved-sub")
        self.addCleanup(sub.close)
        got = wait_for(lambda: [(json.loads(p), ret) for t, p, ret in sub.take()],
                       "the state under the new prefix")
        self.assertEqual(got[0][0]["state"], "up")
        self.assertTrue(got[0][1], "not retained")

    def test_bad_config_exit_78(self):
        d = tempfile.mkdtemp(prefix="m7b-mqtt-conf-")
        try:
            p = os.path.join(d, "bad.conf")
            with open(p, "w") as f:
                f.write("[broker]\nport = 99999\n")
            rr = subprocess.run([BRIDGE, "-c", p], capture_output=True, text=True)
            self.assertEqual(rr.returncode, 78)
            self.assertIn("port", rr.stderr)
            # Topics the broker would refuse, or that subscribers' patterns miss, are
            # configuration errors, each named, not publishes that fail one by one.
            for text, why in ((b"[topics]\nprefix =\n", b"prefix must not be empty"),
                              (b"[topics]\nprefix = a/+/b\n", b"wildcards"),
                              (b"[topics]\nprefix = site/#\n", b"wildcards"),
                              (b"[topics]\nprefix = $SYS/m7\n", b"reserved"),
                              (b"[topics]\nprefix = a//b\n", b"empty topic levels"),
                              (b"[topics]\nprefix = site/\n", b"empty topic levels"),
                              (b"[topics]\nprefix = /site\n", b"empty topic levels"),
                              (b"[topics]\nprefix = a\xffb\n", b"not valid UTF-8"),
                              (b"[topics]\nhost = h\xc3\n", b"not valid UTF-8"),
                              (b"[broker]\nhost =\n", b"host must not be empty"),
                              (b"[topics]\nqos = 99999999999999999999\n", b"qos")):
                with open(p, "wb") as f:
                    f.write(text)
                rr = subprocess.run([BRIDGE, "-c", p, "--check-config"], capture_output=True)
                self.assertEqual(rr.returncode, 78, text)
                self.assertIn(why, rr.stderr, text)
            with open(p, "w") as f:
                f.write("[topics]\npayload = raw\nprefix = site/a\n")
            rr = subprocess.run([BRIDGE, "-c", p, "--check-config"], capture_output=True,
                                text=True)
            self.assertEqual(rr.returncode, 0)
            self.assertIn("payload=raw", rr.stdout)
            example = os.path.join(os.environ.get("M7B_SOURCE_ROOT", "."), "systemd",
                                   "m7bridge-mqtt.conf.example")
            rr = subprocess.run([BRIDGE, "-c", example, "--check-config"],
                                capture_output=True, text=True)
            # Its CA bundle is Debian's (package ca-certificates): named when absent.
            if not os.path.exists("/etc/ssl/certs/ca-certificates.crt"):
                self.assertEqual(rr.returncode, 78, rr.stderr)
                self.assertIn("ca_file /etc/ssl/certs/ca-certificates.crt", rr.stderr)
                return
            self.assertEqual(rr.returncode, 0, rr.stderr)
            self.assertIn("tls=yes", rr.stdout)
        finally:
            shutil.rmtree(d)


    def test_bad_config_named_where_it_is(self):
        """Each bad configuration is refused by --check-config (exit 78) with the line it
        is on, or the settings it is about when it spans several; TLS settings the
        bridge could not start with are among them."""
        d = tempfile.mkdtemp(prefix="m7b-mqtt-conf-")
        self.addCleanup(shutil.rmtree, d, True)
        p = os.path.join(d, "bad.conf")
        ca = os.path.join(d, "ca.crt")
        with open(ca, "w") as f:
            f.write("not checked here: readable is enough\n")
        cases = (
            # A syntax error before a bad setting is the first error, at its line.
            ("[broker\nport = 0\n", f"{p} line 1: syntax error"),
            # A line longer than libinih's buffer, at its own line, not the next one.
            ("[broker]\npassword = " + "p" * 240 + "\nport = 1\n", f"{p} line 2: syntax error"),
            ("[broker]\nreconnect_min_s = 5\nreconnect_max_s = 2\n",
             f"{p}: reconnect_max_s is below reconnect_min_s"),
            ("[broker]\ntls = true\n", f"{p}: tls = true needs ca_file or ca_path"),
            ("[broker]\ntls = true\nca_file = /nonexistent/ca.crt\n",
             f"{p}: ca_file /nonexistent/ca.crt: No such file or directory"),
            (f"[broker]\ntls = true\nca_file = {ca}\ncert_file = {ca}\n",
             f"{p}: cert_file and key_file go together"),
            (f"[broker]\nca_file = {ca}\npassword = secret\n",
             f"{p}: TLS files are set but tls is false"),
            # An empty list would allow sends to every channel: surely not meant.
            ("[commands]\nallow_send = true\nchannels = , \n",
             f"{p} line 3: channels is empty"))
        for text, want in cases:
            with open(p, "w") as f:
                f.write(text)
            rr = subprocess.run([BRIDGE, "-c", p, "--check-config"], capture_output=True,
                                text=True)
            self.assertEqual(rr.returncode, 78, text)
            self.assertIn(f"m7bridge-mqtt: {want}", rr.stderr, text)
        # Long comments are fine, and so are TLS settings that hold together.
        with open(p, "w") as f:
            f.write("[broker]\n# " + "c" * 300 + f"\ntls = true\nca_file = {ca}\nport = 8883\n")
        rr = subprocess.run([BRIDGE, "-c", p, "--check-config"], capture_output=True,
                            text=True)
        self.assertEqual(rr.returncode, 0, rr.stderr)
        self.assertIn(":8883 tls=yes", rr.stdout)
        # Not text: a directory reads as an error, a NUL byte ends the reading (one
        # would hide the rest of its line; a file of them would never end).
        with open(p, "wb") as f:
            f.write(b"[broker]\nport = 1883\0 ignored?\n")
        for path, want in ((d, f"{d}: Is a directory"),
                           (p, f"{p} line 2: a NUL byte: not a text file"),
                           ("/dev/zero", "/dev/zero line 1: a NUL byte: not a text file")):
            rr = subprocess.run([BRIDGE, "-c", path, "--check-config"], capture_output=True,
                                text=True, timeout=30)
            self.assertEqual(rr.returncode, 78, path)
            self.assertIn(f"m7bridge-mqtt: {want}", rr.stderr, path)
        missing = os.path.join(d, "missing.conf")
        rr = subprocess.run([BRIDGE, "-c", missing, "--check-config"], capture_output=True,
                            text=True)
        self.assertEqual(rr.returncode, 78)
        self.assertEqual(rr.stderr, f"m7bridge-mqtt: {missing}: No such file or directory\n")


    def test_unit_does_not_restart_on_a_bad_configuration(self):
        """A bad or missing configuration (78) or a usage error (2) is not mended by
        starting again: the unit must not restart the bridge every RestartSec for ever."""
        unit = os.path.join(BUILD, "systemd", "m7bridge-mqtt.service")
        if not os.path.exists(unit):
            self.skipTest("the unit is not built")
        with open(unit) as f:
            lines = [line.strip() for line in f]
        self.assertIn("Restart=on-failure", lines)
        prevent = " ".join(line.split("=", 1)[1] for line in lines
                           if line.startswith("RestartPreventExitStatus="))
        self.assertIn("78", prevent.split())
        self.assertIn("2", prevent.split())
        # And the bridge does exit 78 for the unit's missing configuration file.
        rr = subprocess.run([BRIDGE, "--config", "/nonexistent/m7bridge/mqtt.conf"],
                            capture_output=True, text=True, timeout=30)
        self.assertEqual(rr.returncode, 78, rr.stderr)

if __name__ == "__main__":
    missing = [p for p in (DAEMON, SIM, BRIDGE) if not os.access(p, os.X_OK)]
    if missing or not os.access(MOSQUITTO, os.X_OK):
        print(f"skip: missing {missing or MOSQUITTO}", file=sys.stderr)
        sys.exit(77)
    unittest.main(verbosity=2)
