#!/usr/bin/env python3
"""Raw channels and the pty that survives recovery, against the real daemon.

A fake foreign firmware is a pty the test drives (its master is the "M7"); the daemon
owns the slave through a symlink, as it owns /dev/ttyRPMSG30. Apps open the daemon's
pty with pyserial (and a Qt QSerialPort program when built) and must keep their fd and
see every byte across a hang-up, a swap of the device and a remoteproc restart.
Paths come from M7B_BUILD_ROOT (set by meson). Exit 77 = skip.
"""
import base64
import errno
import fcntl
import grp
import json
import os
import pty
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import termios
import threading
import time
import tty
import unittest

BUILD = os.environ.get("M7B_BUILD_ROOT", "build")
DAEMON = os.path.join(BUILD, "daemon", "m7bridged")
CTL = os.path.join(BUILD, "tools", "m7bridgectl")
QT_SERIAL = os.path.join(BUILD, "tests", "integration", "qt_serial_echo")
SIM = os.path.join(BUILD, "firmware", "m7sim")
TIMEOUT = 30.0
TIOCVHANGUP = 0x5437  # Linux; not in Python's termios
TIOCGPTN = 0x80045430  # Linux: a pty master's number

try:
    import serial  # Debian's python3-serial
except ImportError:
    serial = None

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ops_testlib import wait_for  # noqa: E402


class FakeFirmware:
    """The M7 side of a raw channel: a pty master behind a stable symlink."""

    def __init__(self, link):
        self.link = link
        self.master = None
        self.got = bytearray()
        self.make()

    def make(self):
        m, s = pty.openpty()
        tty.setraw(m)  # raw on the master applies to the slave
        name = os.ttyname(s)
        os.close(s)
        os.set_blocking(m, False)
        tmp = self.link + ".new"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(name, tmp)
        os.replace(tmp, self.link)
        old, self.master = self.master, m
        return old

    def write(self, data):
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.master, view)
                view = view[n:]
            except BlockingIOError:
                self.pump(0.01)

    def pump(self, wait=0.0):
        r, _, _ = select.select([self.master], [], [], wait)
        if r:
            try:
                self.got += os.read(self.master, 65536)
            except OSError:
                pass

    def wait_got(self, data, what):
        def have():
            self.pump(0.01)
            return data in self.got
        wait_for(have, what)

    def hang_up(self):
        """The device goes away: the master closes and the node vanishes."""
        self.pump(0.05)
        os.close(self.master)
        self.master = None
        os.unlink(self.link)

    def last_close(self):
        """What a real tty's last close does that a pty's slave, whose master stays open,
        does not: its exclusive mode ends (a killed daemon leaves it set)."""
        fd = os.open(self.link, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)  # root may
        fcntl.ioctl(fd, termios.TIOCNXCL)
        os.close(fd)

    def swap(self):
        """A new device under the same name (the old one closed after the swap)."""
        old = self.make()
        if old is not None:
            os.close(old)

    def close(self):
        if self.master is not None:
            os.close(self.master)
            self.master = None


class Client:
    """A watching client of the daemon's socket that collects RAW and STATE objects."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.buf = b""
        self.objs = []

    def send(self, obj):
        self.s.sendall(json.dumps(obj).encode() + b"\n")

    def poll(self, wait=0.01):
        r, _, _ = select.select([self.s], [], [], wait)
        if r:
            self.buf += self.s.recv(65536)
            *lines, self.buf = self.buf.split(b"\n")
            self.objs += [json.loads(l) for l in lines if l]

    def find(self, pred, what):
        def f():
            self.poll()
            return next((o for o in self.objs if pred(o)), None)
        return wait_for(f, what)

    def raw_bytes(self):
        return b"".join(base64.b64decode(o["data"]) for o in self.objs
                        if o.get("class") == "RAW")


class FakeManager:
    """Plays the service manager's file descriptor store: a notify socket that keeps the
    descriptors sent with FDSTORE=1 under their FDNAME (FDSTOREREMOVE=1 drops them), and
    starts the daemon with them as LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID, as systemd
    does at a restart."""

    # Puts the descriptors at 3, 4, ... and LISTEN_PID=its own pid, then execs the daemon
    # without CAP_SYS_ADMIN, as the shipped unit runs it (root would open a pty that an
    # app made exclusive).
    EXEC = ("import ctypes, fcntl, os, sys\n"
            "ctypes.CDLL(None, use_errno=True).prctl(24, 21, 0, 0, 0)  # CAPBSET_DROP\n"
            "fds = [int(x) for x in sys.argv[1].split(',') if x]\n"
            "high = [fcntl.fcntl(f, fcntl.F_DUPFD, 100) for f in fds]\n"
            "for f in fds:\n"
            "    os.close(f)\n"
            "for i, h in enumerate(high):\n"
            "    os.dup2(h, 3 + i)\n"
            "    os.close(h)\n"
            "os.environ['LISTEN_PID'] = str(os.getpid())\n"
            "os.execv(sys.argv[2], sys.argv[2:])\n")

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="m7b-manager-")
        self.path = os.path.join(self.dir, "notify")
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.s.bind(self.path)
        self.store = {}  # FDNAME -> [fd, ...]
        self.removed = []
        self.fdnames = None

    def put(self, name, fd):
        self.store.setdefault(name, []).append(fd)

    def drop(self, name):
        for fd in self.store.pop(name, []):
            os.close(fd)

    def pump(self):
        """Takes every message waiting; returns self.store."""
        while select.select([self.s], [], [], 0)[0]:
            msg, fds, _, _ = socket.recv_fds(self.s, 4096, 16)
            kv = dict(l.split("=", 1) for l in msg.decode().split("\n") if "=" in l)
            name = kv.get("FDNAME", "stored")
            if kv.get("FDSTORE") == "1":
                for fd in fds:
                    self.put(name, fd)
                continue
            for fd in fds:
                os.close(fd)
            if kv.get("FDSTOREREMOVE") == "1":
                self.removed.append(name)
                self.drop(name)
        return self.store

    def popen(self, argv, **kw):
        names = [n for n, fds in self.store.items() for _ in fds]
        fds = [fd for fds in self.store.values() for fd in fds]
        env = dict(os.environ, NOTIFY_SOCKET=self.path)
        if fds:
            env.update(LISTEN_FDS=str(len(fds)), LISTEN_FDNAMES=":".join(names))
        if self.fdnames is not None:  # a manager that gets them wrong
            env.update(LISTEN_FDNAMES=self.fdnames)
        return subprocess.Popen([sys.executable, "-c", self.EXEC,
                                 ",".join(map(str, fds))] + argv,
                                pass_fds=fds, env=env, **kw)

    def close(self):
        for name in list(self.store):
            self.drop(name)
        self.s.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Rig:
    def __init__(self, extra_channel="", extra_daemon="", app="app-tty", want_pty=True,
                 manager=None):
        self.dir = tempfile.mkdtemp(prefix="m7b-rawpty-")
        self.link = os.path.join(self.dir, "ttyRPMSG30")
        self.app = os.path.join(self.dir, app)
        self.sock = os.path.join(self.dir, "sock")
        self.fw = FakeFirmware(self.link)
        self.conf = os.path.join(self.dir, "m7bridge.conf")
        self.extra_daemon = extra_daemon
        self.write_conf(extra_channel)
        self.log = open(os.path.join(self.dir, "daemon.log"), "ab")
        self.manager = manager
        self.client = None
        self.daemon = None
        try:
            self.start(want_pty)
            self.wait_state("up")
        except BaseException:
            # A daemon left running would keep opening whatever pts number its device
            # link names, someone else's once ours is closed.
            self.stop()
            sys.stderr.write(self.daemon_log())
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def start(self, want_pty=True):
        argv = [DAEMON, "-f", "-c", self.conf, "-l", "debug"]
        run = self.manager.popen if self.manager else subprocess.Popen
        self.daemon = run(argv, stdout=self.log, stderr=subprocess.STDOUT)
        if self.client:
            self.client.s.close()
            self.client = None
        wait_for(self.connect, "the daemon listening")
        wait_for(lambda: os.path.islink(self.app) or not want_pty, "the pty link")
        self.client.send({"cmd": "watch", "classes": ["RAW", "STATE"]})
        self.client.find(lambda o: o.get("class") == "ACK", "watch ACK")

    def restart(self, crash=False, while_down=None, up=True):
        """Stops the daemon (SIGTERM, or SIGKILL for a crash), calls while_down, starts
        it again through the manager with what it stored."""
        self.daemon.send_signal(signal.SIGKILL if crash else signal.SIGTERM)
        self.daemon.wait(20)
        if crash and self.fw.master is not None:
            self.fw.last_close()
        self.manager.pump()
        if while_down:
            while_down()
        self.start()
        if up:
            self.wait_state("up")

    def connect(self):
        try:
            self.client = Client(self.sock)
            return True
        except (FileNotFoundError, ConnectionRefusedError):
            return False

    def write_conf(self, extra_channel="", device=None, pty_mode="0600"):
        with open(self.conf, "w") as f:
            f.write(f"[daemon]\nsocket = {self.sock}\nallow_send = true\nkernel_log = off\n"
                    f"{self.extra_daemon}"
                    f"[channel fw]\ndevice = {device or self.link}\nmode = raw\n"
                    f"pty = {self.app}\npty_mode = {pty_mode}\nreopen_min_ms = 20\n"
                    f"reopen_max_ms = 200\n"
                    + extra_channel.replace("{app}", self.app))  # the pty's path

    def reload(self, extra_channel="", device=None, pty_mode="0600"):
        """New settings by SIGHUP; returns once the daemon says it took them."""
        self.write_conf(extra_channel, device, pty_mode)
        self.hup()

    def hup(self):
        """SIGHUP with the configuration file as it is; returns once the daemon took it."""
        done = self.daemon_log(0).count("configuration reloaded")
        self.daemon.send_signal(signal.SIGHUP)
        wait_for(lambda: self.daemon_log(0).count("configuration reloaded") > done,
                 "the reload")

    def wait_state(self, state):
        def up():
            r = subprocess.run([CTL, "-s", self.sock, "status", "--json"],
                               capture_output=True, text=True, timeout=10)
            if r.returncode != 0:
                return False
            return json.loads(r.stdout)["channels"][0]["state"] == state
        wait_for(up, f"channel {state}")

    def wait_down(self):
        """Waits for the watching client to see the channel go down."""
        self.client.find(lambda o: o.get("class") == "STATE" and o["state"] == "down", "down")

    def status(self, id_):
        """The channel's STATUS entry, asked afresh (older objects are dropped first)."""
        self.client.objs.clear()
        self.client.send({"cmd": "status", "id": id_})
        return self.client.find(lambda o: o.get("class") == "STATUS", "STATUS")["channels"][0]

    def stop(self):
        """Stops the daemon; its exit status (0, or a sanitizer's report) is returned."""
        if self.daemon and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(20)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        self.log.close()
        self.fw.close()
        if self.client:
            self.client.s.close()
        if self.manager:
            self.manager.close()
        return self.daemon.returncode if self.daemon else None

    def daemon_log(self, tail=6000):
        with open(os.path.join(self.dir, "daemon.log"), errors="replace") as f:
            return f.read()[-tail:] if tail else f.read()


def nobody_can_run(path):
    """Whether user nobody may execute path: a build tree under a private directory
    (a checkout in a mode 0700 temp dir) is out of its reach."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            os._exit(0 if os.access(path, os.X_OK) else 1)
        except BaseException:
            os._exit(2)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def read_text(path):
    with open(path, errors="replace") as f:
        return f.read()


def fd_got(fd, got, data):
    """A wait_for test: adds what the non-blocking fd has to got; true once data is in it."""
    def f():
        select.select([fd], [], [], 0.05)
        try:
            got.extend(os.read(fd, 4096))
        except BlockingIOError:
            pass
        return data in got
    return f


class WireRig:
    """A wire-v1 firmware (m7sim) behind a tty link, and the daemon giving its port
    pty_port a pty. Used with `with`: on leaving, the app's fds are closed, both stopped."""

    def __init__(self, test, sim_args, pty_port, extra_channel=""):
        self.test = test
        self.dir = tempfile.mkdtemp(prefix="m7b-rawpty-wire-")
        self.link, self.app, self.sock = (os.path.join(self.dir, n)
                                          for n in ("ttyRPMSG30", "app-tty", "sock"))
        self.conf = os.path.join(self.dir, "m7bridge.conf")
        self.extra_channel = extra_channel
        self.write_conf(pty_port)
        self.logpath = os.path.join(self.dir, "log")
        self.log = open(self.logpath, "ab")
        self.sim_args = [SIM, "--link", self.link] + sim_args
        self.fds = []
        self.procs = [self.start(self.sim_args)]

    def write_conf(self, pty_port):
        with open(self.conf, "w") as f:
            f.write(f"[daemon]\nsocket = {self.sock}\nkernel_log = off\n[channel m7]\n"
                    f"device = {self.link}\npty = {self.app}\npty_port = {pty_port}\n"
                    + self.extra_channel)

    def start(self, args):
        return subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)

    def open_app(self, flags=0):
        """The app's side of the pty, raw; closed on leaving."""
        fd = os.open(self.app, os.O_RDWR | os.O_NOCTTY | flags)
        self.fds.append(fd)
        tty.setraw(fd)
        return fd

    def __enter__(self):
        try:
            wait_for(lambda: os.path.islink(self.link), "m7sim link")
            self.procs.append(self.start([DAEMON, "-f", "-c", self.conf]))
            wait_for(lambda: os.path.islink(self.app), "pty link")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        for fd in self.fds:
            os.close(fd)
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(10)
        self.log.close()
        if self.test.failed_now():
            sys.stderr.write(read_text(self.logpath)[-3000:])
        shutil.rmtree(self.dir, ignore_errors=True)


def serial_read_until(port, data, what, timeout=TIMEOUT):
    got = bytearray()
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got += port.read(4096)
        if data in got:
            return bytes(got)
    raise AssertionError(f"timed out waiting for {what}; got {bytes(got)[-200:]!r}")


class RawPty(unittest.TestCase):
    def setUp(self):
        self.rig = None

    def tearDown(self):
        if self.rig:
            rc = self.rig.stop()
            if self.failed_now() or rc != 0:
                sys.stderr.write(self.rig.daemon_log())
            shutil.rmtree(self.rig.dir, ignore_errors=True)
            self.assertEqual(rc, 0, "the daemon's exit status")

    def failed_now(self):
        res = getattr(self._outcome, "result", None)
        errs = getattr(res, "errors", []) + getattr(res, "failures", [])
        return any(t is self for t, _ in errs)

    def test_raw_channel_publishes_and_sends(self):
        rig = self.rig = Rig()
        watch = subprocess.Popen([CTL, "-s", rig.sock, "watch", "-n", "1", "--classes", "RAW"],
                                 stdout=subprocess.PIPE, text=True)
        time.sleep(0.3)  # let it subscribe
        rig.fw.write(b"temp=21.5\r\n")
        c = rig.client
        o = c.find(lambda o: o.get("class") == "RAW", "a RAW object")
        self.assertEqual(o["channel"], "fw")
        self.assertGreater(o["t_rx_ns"], 1_600_000_000 * 10**9)
        wait_for(lambda: (c.poll(), c.raw_bytes() == b"temp=21.5\r\n")[1], "all bytes")
        out = watch.communicate(timeout=TIMEOUT)[0]
        self.assertEqual(watch.returncode, 0)
        self.assertIn(" fw raw len=11 \"temp=21.5", out)
        # A big burst comes as bounded chunks, every byte in order.
        blob = bytes(range(256)) * 64
        rig.fw.write(blob)
        wait_for(lambda: (c.poll(), c.raw_bytes().endswith(blob))[1], "the burst")
        self.assertTrue(all(len(base64.b64decode(o["data"])) <= 2048
                            for o in c.objs if o.get("class") == "RAW"))
        # Client bytes go out as they are; no port, or port 0; another port is refused.
        c.send({"cmd": "send", "channel": "fw", "data": base64.b64encode(b"AT\r").decode(),
                "id": 1})
        c.find(lambda o: o.get("class") == "ACK" and o.get("id") == 1, "send ACK")
        rig.fw.wait_got(b"AT\r", "the sent bytes")
        c.send({"cmd": "send", "channel": "fw", "port": 0, "hex": "0102", "id": 2})
        c.find(lambda o: o.get("class") == "ACK" and o.get("id") == 2, "send ACK port 0")
        rig.fw.wait_got(b"AT\r\x01\x02", "port 0 bytes")
        c.send({"cmd": "send", "channel": "fw", "port": 3, "hex": "01", "id": 3})
        e = c.find(lambda o: o.get("id") == 3, "answer to port 3")
        self.assertEqual((e["class"], e["code"]), ("ERROR", "bad_value"))
        st = rig.status(4)
        self.assertEqual(st["mode"], "raw")
        self.assertEqual(st["raw_rx_bytes"], 11 + len(blob))
        self.assertEqual(st["raw_tx_bytes"], 5)
        self.assertGreaterEqual(st["raw_chunks"], (11 + len(blob)) // 2048)

    def test_lagging_raw_client_is_told_the_bytes_it_lost(self):
        # A client that does not read loses RAW objects of varying lengths: DROPPED says
        # how many of the tty's bytes they carried, so got + lost = what the daemon read.
        rig = self.rig = Rig(extra_daemon="client_queue_kib = 16\n")
        lag = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lag.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        lag.connect(rig.sock)
        lag.sendall(b'{"cmd":"watch","classes":["RAW"]}\n')
        c = Client(rig.sock)  # only to see the watch taken
        c.send({"cmd": "ping", "id": 1})
        time.sleep(0.3)
        total = 0
        for k in range(200):
            chunk = bytes([k]) * (1 + k * 37 % 3000)
            rig.fw.write(chunk)
            total += len(chunk)
        wait_for(lambda: rig.status(2)["raw_rx_bytes"] == total, "the bytes read")
        lag.setblocking(False)
        buf = b""
        objs = []

        def drained():
            nonlocal buf
            select.select([lag], [], [], 0.1)
            try:
                buf += lag.recv(1 << 20)
            except BlockingIOError:
                pass
            *lines, buf = buf.split(b"\n")
            objs.extend(json.loads(l) for l in lines if l)
            got = sum(len(base64.b64decode(o["data"])) for o in objs if o["class"] == "RAW")
            lost = [o for o in objs if o["class"] == "DROPPED"]
            return got, (lost[-1].get("raw_bytes_total", 0) if lost else 0)
        wait_for(lambda: sum(drained()) == total, "what the client got and lost adding up",
                 timeout=10)
        self.assertGreater(drained()[1], 0, "the client lost bytes")
        lag.close()
        c.s.close()

    def test_raw_channel_through_hangup(self):
        rig = self.rig = Rig()
        c = rig.client
        rig.fw.hang_up()
        rig.wait_down()
        rig.fw.swap()
        rig.wait_state("up")
        rig.fw.write(b"after the hang-up")
        wait_for(lambda: (c.poll(), b"after the hang-up" in c.raw_bytes())[1], "bytes after")

    @unittest.skipIf(serial is None, "python3-serial is not installed")
    def test_pyserial_keeps_fd_across_recoveries(self):
        rig = self.rig = Rig()
        port = serial.Serial(rig.app, 115200, timeout=0.05)
        fd = port.fileno()
        rig.fw.write(b"before\n")
        serial_read_until(port, b"before\n", "bytes before")
        port.write(b"ping\n")
        rig.fw.wait_got(b"ping\n", "app bytes to the M7")

        for i, how in enumerate(("hang_up", "swap")):
            if how == "hang_up":
                rig.fw.hang_up()
                rig.wait_down()
                # Written while the link is away: held, not lost, no error for the app.
                port.write(b"during-%d\n" % i)
                time.sleep(0.2)
                rig.fw.swap()
            else:
                rig.fw.swap()  # replaced under the daemon's feet
                port.write(b"during-%d\n" % i)
            rig.fw.got.clear()
            rig.fw.wait_got(b"during-%d\n" % i, f"bytes written during {how}")
            msg = b"".join(b"after-%d-%04d\n" % (i, k) for k in range(200))
            rig.fw.write(msg)
            got = serial_read_until(port, b"after-%d-0199\n" % i, f"bytes after {how}")
            self.assertIn(msg, got)
            self.assertEqual(port.fileno(), fd)
        port.close()
        # Closing and reopening the app's side keeps the pty usable (the daemon holds a
        # slave fd): no EIO, the termios of the pty stay raw.
        port = serial.Serial(rig.app, 115200, timeout=0.05)
        rig.fw.write(b"reopened\n")
        serial_read_until(port, b"reopened\n", "bytes after the app reopened")
        port.close()

    @unittest.skipIf(serial is None, "python3-serial is not installed")
    def test_pty_back_pressure_never_drops(self):
        rig = self.rig = Rig()
        port = serial.Serial(rig.app, 115200, timeout=0.05)
        rig.fw.hang_up()
        rig.wait_down()
        # Far more than the daemon buffers: the app's writes must block, not lose data.
        blob = bytes((k * 7) & 0xff for k in range(300_000))
        w = threading.Thread(target=lambda: (port.write(blob), port.flush()))
        w.start()
        time.sleep(0.5)
        self.assertTrue(w.is_alive(), "the app's write should wait while the link is down")
        rig.fw.swap()

        def all_there():
            rig.fw.pump(0.01)
            return len(rig.fw.got) >= len(blob)
        wait_for(all_there, "every byte")
        w.join(TIMEOUT)
        self.assertEqual(bytes(rig.fw.got[:len(blob)]), blob)
        port.close()
        st = rig.status(9)
        self.assertEqual(st["pty"]["path"], rig.app)
        self.assertEqual(os.readlink(rig.app), st["pty"]["slave"])
        self.assertEqual(st["pty"]["to_m7"], len(blob))
        self.assertEqual((st["pty"]["dropped_to_app"], st["pty"]["failed_to_m7"]), (0, 0))
        self.assertGreaterEqual(st["pty"]["paused_ms"], 400)

    def test_stalled_m7_is_waited_for_without_spinning(self):
        """The M7 stops reading while an app writes: the daemon's retries back off (a
        thousand wakeups a second before), and every byte still goes once it reads."""
        rig = self.rig = Rig()
        fd = os.open(rig.app, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(fd)
        blob = bytes((k * 11) & 0xff for k in range(400_000))  # more than all buffers
        w = threading.Thread(target=lambda: os.write(fd, blob), daemon=True)
        w.start()
        try:
            def switches():  # the event loop's thread: one per wakeup when idle
                with open(f"/proc/{rig.daemon.pid}/status") as f:
                    return int(next(l for l in f if l.startswith("voluntary_ctxt_switches"))
                               .split()[1])
            time.sleep(1.0)  # the buffers fill; the retries reach their longest wait
            self.assertTrue(w.is_alive(), "the app's write should wait for the M7")
            before = switches()
            time.sleep(2.0)
            rate = (switches() - before) / 2.0
            self.assertLess(rate, 100, "daemon wakeups per second while the M7 stalls")

            def all_there():
                rig.fw.pump(0.01)
                return len(rig.fw.got) >= len(blob)
            wait_for(all_there, "every byte once the M7 reads again")
            w.join(TIMEOUT)
            self.assertEqual(bytes(rig.fw.got[:len(blob)]), blob)
        finally:
            os.close(fd)

    def test_pty_kept_across_daemon_restarts(self):
        """The service manager keeps the pty's master (FDSTORE): an app holding the port
        sees no hang-up through two restarts in a row, a crash and a restart while the
        channel is down, and what it wrote while the daemon was away reaches the M7."""
        rig = self.rig = Rig(manager=FakeManager())
        fd = os.open(rig.app, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(fd)
        fcntl.ioctl(fd, termios.TIOCEXCL)  # as QSerialPort does: nobody else may open it
        slave = os.readlink(rig.app)
        got = bytearray()
        try:
            wait_for(lambda: "pty-fw" in rig.manager.pump(), "the pty's master stored")
            for n, how in enumerate(("restart", "restart", "crash", "channel down")):
                msg = f"written while the daemon was away ({n})\n".encode()

                def while_down():
                    ev = select.poll()
                    ev.register(fd, select.POLLIN | select.POLLOUT)
                    self.assertFalse(any(e & (select.POLLHUP | select.POLLERR)
                                         for _, e in ev.poll(0)), f"a hang-up ({how})")
                    self.assertEqual(os.write(fd, msg), len(msg))
                held = b""
                if how == "channel down":
                    rig.fw.hang_up()
                    rig.wait_down()
                    # Read by the daemon, waiting in its buffer for the channel: saved
                    # with the pty at the stop, put back at the start.
                    held = b"held by the daemon at the stop\n"
                    os.write(fd, held)
                    wait_for(lambda: rig.status(n)["pty"]["paused_ms"] > 0, "bytes held")
                rig.restart(crash=how == "crash", while_down=while_down,
                            up=how != "channel down")
                self.assertIn(f"kept across the restart: {len(msg)} bytes from the app "
                              f"wait for the M7", rig.daemon_log())
                if held:
                    self.assertIn(f"{len(held)} bytes from the app and 0 from the M7 held "
                                  f"by the daemon before the restart go on",
                                  rig.daemon_log())
                if how == "channel down":
                    rig.fw.swap()
                    rig.wait_state("up")
                rig.fw.wait_got(held + msg, f"the app's bytes from the pause ({how})")
                rig.fw.write(b"to the app %d\n" % n)
                wait_for(fd_got(fd, got, b"to the app %d\n" % n), f"M7 bytes ({how})")
                os.write(fd, b"from the app %d\n" % n)
                rig.fw.wait_got(b"from the app %d\n" % n, f"app bytes ({how})")
                self.assertEqual(os.readlink(rig.app), slave, "the same pty")
            kept = rig.manager.pump()["pty-fw"]
            self.assertEqual(len(kept), 3, "the master, the daemon's slave fd and the save, "
                             "once")
            n = int.from_bytes(fcntl.ioctl(kept[0], TIOCGPTN, bytes(4)), sys.byteorder)
            self.assertEqual(f"/dev/pts/{n}", slave)
        finally:
            os.close(fd)

    def test_exclusive_pty_takes_new_mode_across_a_restart(self):
        """An app holds the kept pty exclusive (TIOCEXCL) while the daemon restarts with
        another pty_mode: the mode is applied through the daemon's own slave fd, which
        no reopen could give it, and the app's bytes still flow."""
        rig = self.rig = Rig(manager=FakeManager())
        fd = os.open(rig.app, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(fd)
        fcntl.ioctl(fd, termios.TIOCEXCL)
        try:
            wait_for(lambda: "pty-fw" in rig.manager.pump(), "the pty's master stored")
            rig.restart(while_down=lambda: rig.write_conf(pty_mode="0640"))
            self.assertIn("kept across the restart", rig.daemon_log())
            self.assertEqual(os.stat(rig.app).st_mode & 0o777, 0o640)
            os.write(fd, b"exclusive\n")
            rig.fw.wait_got(b"exclusive\n", "the app's bytes after the restart")
        finally:
            os.close(fd)

    def test_stored_pty_of_a_renamed_channel_is_closed(self):
        rig = self.rig = Rig(manager=FakeManager())
        fd = os.open(rig.app, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(fd)
        slave = os.readlink(rig.app)
        try:
            wait_for(lambda: "pty-fw" in rig.manager.pump(), "the pty's master stored")
            with open(rig.conf) as f:
                text = f.read()
            with open(rig.conf, "w") as f:
                f.write(text.replace("[channel fw]", "[channel fw2]"))
            rig.restart(while_down=lambda: os.write(fd, b"12345"))
            self.assertIn("pty pty-fw from the service manager: no pty of the "
                          "configuration takes it, closed (5 bytes from the app never "
                          "reached the M7, 0 from the M7 never read by the app)",
                          rig.daemon_log())
            wait_for(lambda: "pty-fw2" in rig.manager.pump(), "the new pty stored")
            self.assertNotIn("pty-fw", rig.manager.store)
            self.assertIn("pty-fw", rig.manager.removed)
            self.assertNotEqual(os.readlink(rig.app), slave)
            select.select([fd], [], [], TIMEOUT)
            try:
                self.assertEqual(os.read(fd, 100), b"", "a hang-up: end of file")
            except OSError as e:
                self.assertEqual(e.errno, errno.EIO, "a hang-up")
            # A reload that renames it back drops the pty for good: out of the store too.
            rig.reload()
            wait_for(lambda: "pty-fw" in rig.manager.pump(), "the reload's pty stored")
            self.assertNotIn("pty-fw2", rig.manager.store)
        finally:
            os.close(fd)

    def crash_and_start(self, rig, conf, want_pty=True):
        """SIGKILL, a new configuration file, a start with what the manager kept."""
        rig.daemon.send_signal(signal.SIGKILL)
        rig.daemon.wait(20)
        rig.fw.last_close()
        rig.manager.pump()
        with open(rig.conf, "w") as f:
            f.write(conf)
        rig.start(want_pty)
        rig.wait_state("up")

    def test_stale_link_of_a_crashed_daemon_is_removed(self):
        """The daemon is killed, and the next configuration has no pty at the old link's
        path (pty dropped, moved, channel renamed): the old link, which points at a pts
        number the kernel will give to someone else once the kept master closes, is
        removed at the start; the pty kept for a moved link goes on at the new path."""
        for how in ("no pty", "moved", "renamed"):
            rig = self.rig = Rig(manager=FakeManager())
            old, slave = rig.app, os.readlink(rig.app)
            wait_for(lambda: "pty-fw" in rig.manager.pump(), "the pty's master stored")
            with open(rig.conf) as f:
                conf = f.read()
            new = os.path.join(rig.dir, "moved-tty")
            if how == "no pty":
                conf = conf.replace(f"pty = {old}\n", "")
            elif how == "moved":
                conf = conf.replace(f"pty = {old}\n", f"pty = {new}\n")
                rig.app = new
            else:
                conf = conf.replace("[channel fw]", "[channel fw2]").replace(
                    f"pty = {old}\n", f"pty = {new}\n")
                rig.app = new
            self.crash_and_start(rig, conf, want_pty=how != "no pty")
            self.assertFalse(os.path.lexists(old), f"the old link ({how})")
            self.assertIn(f"pty {old} -> {slave}: the link of a pty the configuration no "
                          f"longer has there, left by the last start: removed",
                          rig.daemon_log(0))
            if how == "moved":
                self.assertEqual(os.readlink(new), slave, "the kept pty, at its new path")
            elif how == "renamed":
                self.assertNotEqual(os.readlink(new), slave, "a new pty")
            self.tearDown()
            self.rig = None

    def test_link_of_a_kept_pty_that_cannot_go_on_is_removed(self):
        """After a kill, the pty kept at the same path cannot be made again (its group is
        gone): it closes, and so its link from the last start goes too."""
        rig = self.rig = Rig(manager=FakeManager())
        slave = os.readlink(rig.app)
        wait_for(lambda: "pty-fw" in rig.manager.pump(), "the pty's master stored")
        with open(rig.conf) as f:
            conf = f.read() + "pty_group = m7b-no-such-group\n"
        self.crash_and_start(rig, conf, want_pty=False)
        self.assertIn(f"cannot create the pty for {rig.app}: no group m7b-no-such-group",
                      rig.daemon_log(0))
        self.assertIn(f"pty {rig.app} -> {slave}: the link of the kept pty, which cannot go "
                      f"on: removed", rig.daemon_log(0))
        self.assertFalse(os.path.lexists(rig.app))

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("chattr"),
                         "needs root and chattr to make a directory immutable")
    def test_link_that_cannot_be_removed_is_said(self):
        """A link the daemon should remove but cannot (its directory made immutable), at a
        stop and at the start after a kill: said, with the pts number it points at."""
        for how in ("stop", "kill"):
            rig = self.rig = Rig(manager=FakeManager())
            sub = os.path.join(rig.dir, "links")
            os.mkdir(sub)
            with open(rig.conf) as f:
                conf = f.read()
            app = os.path.join(sub, "app-tty")
            moved = conf.replace(f"pty = {rig.app}\n", f"pty = {app}\n")
            with open(rig.conf, "w") as f:
                f.write(moved)
            rig.hup()
            wait_for(lambda: os.path.islink(app), "the moved link")
            slave = os.readlink(app)
            wait_for(lambda: "pty-fw" in rig.manager.pump(), "the pty's master stored")
            try:
                if how == "stop":
                    if subprocess.run(["chattr", "+i", sub]).returncode != 0:
                        self.skipTest("chattr +i does not work here")
                    rig.daemon.send_signal(signal.SIGTERM)
                    rig.daemon.wait(20)
                    said = (f"pty {app}: cannot remove its link (Operation not permitted): "
                            f"it points at {slave}, free for anyone once the pty closes")
                else:
                    rig.daemon.send_signal(signal.SIGKILL)
                    rig.daemon.wait(20)
                    if subprocess.run(["chattr", "+i", sub]).returncode != 0:
                        self.skipTest("chattr +i does not work here")
                    rig.app = os.path.join(rig.dir, "elsewhere")
                    self.crash_and_start(rig, moved.replace(f"pty = {app}\n",
                                                            f"pty = {rig.app}\n"))
                    said = (f"pty {app} -> {slave}: the link of a pty the configuration no "
                            f"longer has there, left by the last start, cannot be removed "
                            f"(Operation not permitted): it points at a pts number free for "
                            f"anyone")
                self.assertIn(said, rig.daemon_log(0))
            finally:
                subprocess.run(["chattr", "-i", sub])
            self.tearDown()
            self.rig = None

    def test_stale_link_check_leaves_what_is_not_its_own(self):
        """After a crash, what stands at the old link's path now (a file, a link to
        something else, a directory) is never removed, nor followed."""
        for what in ("file", "other link", "directory"):
            rig = self.rig = Rig(manager=FakeManager())
            old = rig.app
            wait_for(lambda: "pty-fw" in rig.manager.pump(), "the pty's master stored")
            with open(rig.conf) as f:
                conf = f.read().replace(f"pty = {old}\n", "")
            target = os.path.join(rig.dir, "target")
            with open(target, "w") as f:
                f.write("precious")
            rig.daemon.send_signal(signal.SIGKILL)
            rig.daemon.wait(20)
            os.unlink(old)
            if what == "file":
                with open(old, "w") as f:
                    f.write("precious")
            elif what == "other link":
                os.symlink(target, old)
            else:
                os.mkdir(old)
            rig.daemon.send_signal(signal.SIGKILL)  # already dead: nothing
            with open(rig.conf, "w") as f:
                f.write(conf)
            rig.fw.last_close()
            rig.manager.pump()
            rig.start(want_pty=False)
            rig.wait_state("up")
            self.assertTrue(os.path.lexists(old), what)
            if what == "other link":
                self.assertEqual(os.readlink(old), target)
            if what != "directory":
                with open(old) as f:
                    self.assertEqual(f.read(), "precious")
            self.assertNotIn("left by the last start: removed", rig.daemon_log(0))
            self.tearDown()
            self.rig = None

    def test_pty_kept_across_two_kills_in_a_row(self):
        """SIGKILL twice in a row: the app's fd stays good, the store holds the pty's
        three descriptors once, and a third kill with the link moved leaves no stale link."""
        rig = self.rig = Rig(manager=FakeManager())
        fd = os.open(rig.app, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(fd)
        old, slave = rig.app, os.readlink(rig.app)
        try:
            wait_for(lambda: "pty-fw" in rig.manager.pump(), "the pty's master stored")
            with open(rig.conf) as f:
                conf = f.read()
            for n in range(2):
                self.crash_and_start(rig, conf)
                os.write(fd, b"after kill %d\n" % n)
                rig.fw.wait_got(b"after kill %d\n" % n, f"the app's bytes after kill {n}")
                self.assertEqual(os.readlink(rig.app), slave)
            wait_for(lambda: len(rig.manager.pump().get("pty-fw", [])) == 3,
                     "master, slave fd and save stored")
            self.assertEqual(len(rig.manager.store["pty-fw"]), 3)
            rig.app = os.path.join(rig.dir, "moved-tty")
            self.crash_and_start(rig, conf.replace(f"pty = {old}\n", f"pty = {rig.app}\n"))
            self.assertFalse(os.path.lexists(old))
            self.assertEqual(os.readlink(rig.app), slave)
            os.write(fd, b"after the move\n")
            rig.fw.wait_got(b"after the move\n", "the app's bytes after the move")
        finally:
            os.close(fd)

    def test_buffers_lost_with_a_killed_daemon_are_said(self):
        # A stop saves the daemon's buffers beside the kept pty; a kill cannot. The next
        # start says that what they held is lost, and a clean stop's start does not.
        rig = self.rig = Rig(manager=FakeManager())
        fd = os.open(rig.app, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(fd)
        said = "ended without saving its buffers"
        try:
            wait_for(lambda: "pty-fw" in rig.manager.pump(), "the pty's master stored")
            rig.restart()
            self.assertNotIn(said, rig.daemon_log(0))
            rig.fw.write(b"m" * 400_000)  # the app does not read: the daemon holds some
            wait_for(lambda: rig.status(2)["pty"]["dropped_to_app"] > 0, "a full buffer")
            rig.restart(crash=True)
            self.assertIn(said, rig.daemon_log(0))
        finally:
            os.close(fd)

    def test_pty_dropped_by_a_reload_hangs_up_its_app(self):
        """A reload that drops the pty: its link goes, the manager forgets its master and
        an app holding the slave sees a hang-up, not silence. A clean stop leaves no link."""
        rig = self.rig = Rig(manager=FakeManager())
        fd = os.open(rig.app, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(fd)
        try:
            wait_for(lambda: "pty-fw" in rig.manager.pump(), "the pty's master stored")
            with open(rig.conf) as f:
                conf = f.read()
            with open(rig.conf, "w") as f:
                f.write(conf.replace(f"pty = {rig.app}\n", ""))
            rig.hup()
            self.assertFalse(os.path.lexists(rig.app), "the dropped pty's link")
            wait_for(lambda: "pty-fw" not in rig.manager.pump(), "the master forgotten")
            select.select([fd], [], [], TIMEOUT)
            try:
                self.assertEqual(os.read(fd, 100), b"", "a hang-up: end of file")
            except OSError as e:
                self.assertEqual(e.errno, errno.EIO, "a hang-up")
            with open(rig.conf, "w") as f:
                f.write(conf)
            rig.hup()
            wait_for(lambda: os.path.islink(rig.app), "the pty made again")
        finally:
            os.close(fd)
        app = rig.app
        self.assertEqual(rig.stop(), 0)
        self.assertFalse(os.path.lexists(app), "a clean stop's link")

    def test_saved_buffers_that_are_not_ours_are_ignored(self):
        """A pty kept by the manager with a file beside it that is not a save of the
        daemon's buffers (or one cut short): the pty is taken, the file said and ignored."""
        for junk in (b"not a save", b"M7BPTYB1" + (5).to_bytes(4, "little") + bytes(4) + b"abc"):
            mgr = FakeManager()
            m, s = pty.openpty()
            tty.setraw(m)
            mgr.put("pty-fw", m)
            mgr.put("pty-fw", s)
            f = os.memfd_create("junk")
            os.write(f, junk)
            mgr.put("pty-fw", f)
            rig = self.rig = Rig(manager=mgr)
            self.assertIn("the buffers the service manager kept with it are not a save of "
                          "ours: ignored", rig.daemon_log(0))
            self.assertIn("kept across the restart", rig.daemon_log(0))
            fd = os.open(rig.app, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            try:
                os.write(fd, b"fine\n")
                rig.fw.wait_got(b"fine\n", "the app's bytes on the kept pty")
                self.assertNotIn(b"abc", bytes(rig.fw.got))
            finally:
                os.close(fd)
            self.tearDown()
            self.rig = None

    def test_saved_buffers_larger_than_the_buffers_are_counted(self):
        """A save of ours that holds more than the daemon's buffers take now (a daemon
        built with larger ones saved it): what fits goes on, oldest first, and the rest is
        counted as lost, not called foreign."""
        mgr = FakeManager()
        m, s = pty.openpty()
        tty.setraw(m)
        mgr.put("pty-fw", m)
        mgr.put("pty-fw", s)
        cap = 64 * 1024
        body = b"".join(b"%07d\n" % i for i in range(cap // 8 + 13))  # 104 bytes too many
        f = os.memfd_create("save")
        os.write(f, b"M7BPTYB1" + len(body).to_bytes(4, "little") + bytes(4) + body)
        mgr.put("pty-fw", f)
        rig = self.rig = Rig(manager=mgr)
        log = rig.daemon_log(0)
        self.assertNotIn("not a save of ours", log)
        self.assertIn(f"{cap} bytes from the app and 0 from the M7 held by the daemon "
                      f"before the restart go on ({len(body) - cap} from the app and 0 "
                      f"from the M7 did not fit the buffers: lost)", log)
        rig.fw.wait_got(body[:cap], "the bytes that fit, in order")

    def test_descriptors_with_names_that_do_not_match_are_closed(self):
        """LISTEN_FDNAMES with fewer names than LISTEN_FDS: nothing is believed, every
        descriptor is closed (an app on a kept pty sees a hang-up, not silence)."""
        mgr = FakeManager()
        m, s = pty.openpty()
        mgr.put("pty-fw", m)
        mgr.put("pty-fw", s)
        app = os.open(os.ttyname(s), os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        mgr.fdnames = "pty-fw"
        rig = self.rig = Rig(manager=mgr)
        try:
            self.assertIn("the names of the 2 descriptors from the service manager do not "
                          "match them", rig.daemon_log(0))
            mgr.drop("pty-fw")  # the manager's copies: only the daemon's could be left
            select.select([app], [], [], TIMEOUT)
            try:
                self.assertEqual(os.read(app, 100), b"", "a hang-up: end of file")
            except OSError as e:
                self.assertEqual(e.errno, errno.EIO, "a hang-up")
        finally:
            os.close(app)

    def test_clients_socket_is_chosen_by_name(self):
        """Socket activation beside stored ptys: the clients' socket is the one the socket
        unit named, never a stored descriptor that happens to be a socket, and a second
        socket from the manager does not stop the daemon."""
        rig = self.rig = Rig(manager=FakeManager())
        wait_for(lambda: "pty-fw" in rig.manager.pump(), "the pty's master stored")
        held = []

        def while_down():
            ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            ls.bind(rig.sock)
            ls.listen(8)
            a, b = socket.socketpair()
            c, d = socket.socketpair()
            held.extend([ls, b, d])
            # A socket stored under a pty's name, one more the manager passes, and the
            # socket unit's listening socket.
            rig.manager.put("pty-fw", a.detach())
            rig.manager.put("other.socket", c.detach())
            rig.manager.put("m7bridged.socket", os.dup(ls.fileno()))
        try:
            rig.restart(while_down=while_down)
            log = rig.daemon_log(0)
            self.assertIn(f"listening on {rig.sock} (socket activation)", log)
            self.assertIn("kept across the restart", log)
            fd = os.open(rig.app, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            try:
                os.write(fd, b"after activation\n")
                rig.fw.wait_got(b"after activation\n", "the app's bytes on the kept pty")
            finally:
                os.close(fd)
        finally:
            for s in held:
                s.close()

    def test_stored_descriptor_that_is_not_a_pty_master_is_refused(self):
        mgr = FakeManager()
        r, w = os.pipe()
        os.close(w)
        mgr.put("pty-fw", r)  # a pipe where the channel's master should be
        m, s = pty.openpty()
        mgr.put("pty-fw", s)  # with a slave fd (not its)
        r, w = os.pipe()
        os.close(w)
        mgr.put("junk", r)  # and something nobody asked for
        rig = self.rig = Rig(manager=mgr)
        log = rig.daemon_log(0)
        self.assertIn("the descriptor the service manager kept for the pty "
                      f"{rig.app} is not a read-write pty master: refused, closed", log)
        self.assertIn("descriptor junk from the service manager: no pty of the "
                      "configuration takes it, closed", log)
        wait_for(lambda: mgr.pump() is not None and "junk" in mgr.removed
                 and "pty-fw" in mgr.removed, "both removed from the store")
        stored = mgr.pump()
        os.close(m)
        self.assertEqual(list(stored), ["pty-fw"], "the new pty stored")
        self.assertEqual(len(stored["pty-fw"]), 3, "its master, the daemon's slave fd and "
                         "its save")
        path = rig.app.encode()
        self.assertEqual(os.pread(stored["pty-fw"][2], 100, 0),
                         b"M7BPTYB2" + bytes(8) + len(path).to_bytes(4, "little") + path,
                         "a save naming the link, with no bytes yet")
        n = int.from_bytes(fcntl.ioctl(stored["pty-fw"][0], TIOCGPTN, bytes(4)), sys.byteorder)
        self.assertEqual(f"/dev/pts/{n}", os.readlink(rig.app), "the master of the new pty")
        self.assertEqual(os.ttyname(stored["pty-fw"][1]), os.readlink(rig.app), "its slave")
        fd = os.open(rig.app, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(fd)
        try:
            os.write(fd, b"works\n")
            rig.fw.wait_got(b"works\n", "the app's bytes on the new pty")
        finally:
            os.close(fd)

    def qt_echo_through(self, rig, events):
        """Runs the QSerialPort echo program on rig's pty through each (name, action) of
        events: every line written after each is echoed, and the program ends well."""
        app = subprocess.Popen([QT_SERIAL, rig.app], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=dict(os.environ,
                                                                QT_QPA_PLATFORM="offscreen"))
        try:
            self.assertEqual(app.stdout.readline(), b"ready\n")
            rig.fw.write(b"a0\n")
            rig.fw.wait_got(b"echo:a0\n", "Qt echo before")
            for i, (how, action) in enumerate(events):
                action()
                rig.fw.got.clear()
                lines = b"".join(b"b%d-%03d\n" % (i, k) for k in range(100))
                rig.fw.write(lines)
                rig.fw.wait_got(b"echo:b%d-099\n" % i, f"Qt echoes after {how}")
                self.assertEqual(bytes(rig.fw.got), lines.replace(b"b", b"echo:b"))
            rig.fw.write(b"quit\n")
            self.assertEqual(app.wait(TIMEOUT), 0, app.stderr.read().decode())
        finally:
            if app.poll() is None:
                app.kill()
                app.wait()
            app.stdout.close()
            app.stderr.close()

    @unittest.skipUnless(os.path.exists(QT_SERIAL), "the Qt QSerialPort program is not built")
    def test_qt_serial_keeps_fd_across_recoveries(self):
        rig = self.rig = Rig()

        def hang_up():
            rig.fw.hang_up()
            rig.wait_down()
            time.sleep(0.2)
            rig.fw.swap()
            rig.wait_state("up")

        def swap():
            rig.fw.swap()
            rig.wait_state("up")

        self.qt_echo_through(rig, (("hang_up", hang_up), ("swap", swap)))

    @unittest.skipUnless(os.path.exists(QT_SERIAL), "the Qt QSerialPort program is not built")
    def test_qt_serial_keeps_fd_across_daemon_restarts(self):
        """A real QSerialPort (exclusive, as it opens ports) through a restart and a crash
        of the daemon run as the unit runs it: no port error, every line echoed."""
        rig = self.rig = Rig(manager=FakeManager())
        self.qt_echo_through(rig, (("a restart", rig.restart),
                                   ("a crash", lambda: rig.restart(crash=True))))

    @unittest.skipIf(serial is None, "python3-serial is not installed")
    def test_remoteproc_restart_on_fake_tree(self):
        sysfs = tempfile.mkdtemp(prefix="m7b-rawpty-sys-")
        rp = os.path.join(sysfs, "class", "remoteproc", "remoteproc0")
        os.makedirs(rp)
        for name, text in (("name", "imx-rproc\n"), ("state", "running\n"),
                           ("firmware", "foreign.elf\n")):
            with open(os.path.join(rp, name), "w") as f:
                f.write(text)
        rig = self.rig = Rig(extra_channel="remoteproc = remoteproc0\n",
                             extra_daemon=f"sysfs_root = {sysfs}\nallow_control = true\n")
        stop = threading.Event()
        events = []

        def kernel():
            # Answers state writes the way remoteproc does; the tty goes with the M7.
            state = os.path.join(rp, "state")
            while not stop.is_set():
                with open(state) as f:
                    st = f.read().strip()
                if st == "stop":
                    rig.fw.hang_up()  # the rpmsg tty goes with the stopped core
                    events.append("stop")
                    with open(state, "w") as f:
                        f.write("offline\n")
                elif st == "start":
                    time.sleep(0.1)  # the core boots, then announces its tty
                    rig.fw.swap()
                    events.append("start")
                    with open(state, "w") as f:
                        f.write("running\n")
                stop.wait(0.01)

        k = threading.Thread(target=kernel, daemon=True)
        k.start()
        try:
            port = serial.Serial(rig.app, 115200, timeout=0.05)
            rig.fw.write(b"boot 1\n")
            serial_read_until(port, b"boot 1\n", "bytes before")
            # Written while the core is stopped: delivered once it is back.
            rec = subprocess.Popen([CTL, "-s", rig.sock, "recover", "-c", "fw", "--action",
                                    "remoteproc"], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
            wait_for(lambda: "stop" in events, "remoteproc stop")
            port.write(b"while stopped\n")
            out = rec.communicate(timeout=60)[0]
            self.assertEqual(rec.returncode, 0, out)
            wait_for(lambda: "start" in events, "remoteproc start")
            self.assertEqual(events, ["stop", "start"])
            up = rig.client.find(lambda o: o.get("class") == "STATE" and o["state"] == "up"
                                 and o["reason"] == "recovered", "recovered")
            self.assertIn("remoteproc", up.get("detail", ""))
            rig.fw.wait_got(b"while stopped\n", "bytes written while stopped")
            rig.fw.write(b"boot 2\n")
            serial_read_until(port, b"boot 2\n", "bytes after the restart")
            port.write(b"hi\n")
            rig.fw.wait_got(b"hi\n", "app bytes after the restart")
            port.close()
        finally:
            stop.set()
            k.join()
            shutil.rmtree(sysfs, ignore_errors=True)

    def test_pty_that_could_not_be_made_is_retried_on_reload(self):
        # The pty's directory is missing at start: logged, the channel works without it.
        rig = self.rig = Rig(app=os.path.join("later", "app-tty"), want_pty=False)
        wait_for(lambda: "cannot point " + rig.app in rig.daemon_log(), "the error logged")
        self.assertFalse(os.path.lexists(rig.app))
        # Fixed by the administrator, then a reload with the same settings makes it.
        os.mkdir(os.path.dirname(rig.app))
        rig.reload()
        self.assertTrue(os.path.islink(rig.app), "the pty is made by the reload")
        fd = os.open(rig.app, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            rig.fw.write(b"made at last\n")
            wait_for(fd_got(fd, bytearray(), b"made at last\n"), "bytes through the new pty")
            # Another reload with nothing changed keeps it: the app's fd stays good.
            slave = os.readlink(rig.app)
            rig.reload()
            self.assertEqual(os.readlink(rig.app), slave)
            os.write(fd, b"still here\n")
            rig.fw.wait_got(b"still here\n", "app bytes after the second reload")
        finally:
            os.close(fd)

    def pty_status(self, rig):
        return rig.status(90)["pty"]

    def test_bytes_lost_with_the_pty_are_counted(self):
        rig = self.rig = Rig()
        fd = os.open(rig.app, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            # For the app, not read: in the kernel's pty buffer.
            rig.fw.write(b"u" * 3000)
            wait_for(lambda: self.pty_status(rig)["to_app"] == 3000, "bytes to the pty")
            # From the app while the link is down: held by the daemon.
            rig.fw.hang_up()
            rig.wait_down()
            self.assertEqual(os.write(fd, b"w" * 10000), 10000)
            wait_for(lambda: self.pty_status(rig)["paused_ms"] > 0, "the app's bytes held")
            time.sleep(0.2)  # the kernel hands the rest of the write to the daemon
            rig.daemon.send_signal(signal.SIGTERM)
            rig.daemon.wait(20)
        finally:
            os.close(fd)
        self.assertIn(f"pty {rig.app} closed: 10000 bytes from the app never reached the "
                      f"M7, 3000 bytes from the M7 never read by the app", rig.daemon_log())

    def test_pty_kept_when_a_reload_reopens_the_channel(self):
        rig = self.rig = Rig()
        fd = os.open(rig.app, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        slave = os.readlink(rig.app)
        got = bytearray()
        try:
            rig.fw.write(b"before\n")
            wait_for(fd_got(fd, got, b"before\n"), "bytes before")
            # The firmware's tty comes back under another name, and `device` says so: the
            # channel reopens. (Never a link to a closed pts: its number may be reused.)
            rig.fw.hang_up()
            rig.wait_down()
            os.write(fd, b"while reloading\n")  # held through the reopen
            rig.fw.link = rig.link + "-by-id"
            rig.fw.swap()
            rig.reload(device=rig.fw.link)
            self.assertIn("0 removed, 1 reopened", rig.daemon_log())
            rig.wait_state("up")
            rig.fw.wait_got(b"while reloading\n", "the held bytes")
            rig.fw.write(b"after\n")
            wait_for(fd_got(fd, got, b"after\n"), "bytes after the reload, same fd")
            self.assertEqual(os.readlink(rig.app), slave, "the same pty")
            os.write(fd, b"still\n")
            rig.fw.wait_got(b"still\n", "app bytes after the reload")
            self.assertNotIn("closed:", rig.daemon_log(0))
            # Another channel in its place (renamed): a new pty, the app sees a hang-up.
            with open(rig.conf) as f:
                text = f.read()
            with open(rig.conf, "w") as f:
                f.write(text.replace("[channel fw]", "[channel fw2]"))
            rig.hup()
            self.assertIn("1 channel(s) added, 1 removed", rig.daemon_log())
            self.assertNotEqual(os.readlink(rig.app), slave)
            self.assertEqual(os.read(fd, 100), b"", "a hang-up: end of file")
        finally:
            os.close(fd)

    def test_pty_mode_and_group_change_in_place(self):
        rig = self.rig = Rig()
        slave = os.readlink(rig.app)
        fd = os.open(rig.app, os.O_RDWR | os.O_NOCTTY)
        try:
            tty.setraw(fd)
            gid = grp.getgrnam("nogroup").gr_gid
            rig.reload(pty_mode="0640", extra_channel="pty_group = nogroup\n")
            st = os.stat(slave)
            self.assertEqual((st.st_mode & 0o7777, st.st_gid), (0o640, gid))
            self.assertEqual(os.readlink(rig.app), slave, "the same pty")
            # A group that does not exist: said, and the pty stays as it was.
            rig.reload(pty_mode="0600", extra_channel="pty_group = m7b-no-such-group\n")
            self.assertIn(f"pty {rig.app} keeps its group and mode: no group "
                          f"m7b-no-such-group", rig.daemon_log())
            self.assertEqual(os.readlink(rig.app), slave, "the same pty")
            self.assertEqual(os.stat(slave).st_mode & 0o7777, 0o640)
            os.write(fd, b"same fd\n")
            rig.fw.wait_got(b"same fd\n", "the app's fd still good")
            self.assertNotIn("closed:", rig.daemon_log(0))
        finally:
            os.close(fd)

    def test_symlink_taken_or_removed_is_repaired_by_reload(self):
        # Another link is at the path already (a stale one, another daemon's): replaced,
        # and said.
        d = tempfile.mkdtemp(prefix="m7b-rawpty-pre-")
        pre = os.path.join(d, "app-tty")
        os.symlink("/dev/null", pre)
        rig = self.rig = Rig(app=pre)
        wait_for(lambda: os.readlink(rig.app).startswith("/dev/pts/"), "the pty's link")
        self.assertIn(f"pty {rig.app} pointed at /dev/null: replaced", rig.daemon_log())
        slave = os.readlink(rig.app)
        fd = os.open(rig.app, os.O_RDWR | os.O_NOCTTY)
        try:
            for harm in ("removed", "taken"):
                os.unlink(rig.app)
                if harm == "taken":
                    os.symlink("/dev/null", rig.app)
                rig.reload()
                self.assertEqual(os.readlink(rig.app), slave, f"link {harm}: repaired")
                os.write(fd, b"%s\n" % harm.encode())
                rig.fw.wait_got(b"%s\n" % harm.encode(), "the app's fd still good")
            self.assertEqual(rig.daemon_log(0).count(f"pty {rig.app} -> {slave} again"), 2)
            # Nothing to repair: the reload leaves the link alone and says nothing.
            rig.reload()
            self.assertEqual(rig.daemon_log(0).count(f"pty {rig.app} -> {slave} again"), 2)
        finally:
            os.close(fd)
            shutil.rmtree(d, ignore_errors=True)

    def test_termios_that_change_the_bytes_are_said(self):
        rig = self.rig = Rig()
        # An app leaves the pty echoing and in lines (what `stty sane` does), and quits.
        fd = os.open(rig.app, os.O_RDWR | os.O_NOCTTY)
        a = termios.tcgetattr(fd)
        a[3] |= termios.ECHO | termios.ICANON
        termios.tcsetattr(fd, termios.TCSANOW, a)
        os.close(fd)
        # With no app there, the kernel echoes the M7's bytes back: said in the log.
        rig.fw.write(b"hello\n")
        rig.fw.wait_got(b"hello\n", "the echo the docs warn of")
        warning = f"pty {rig.app} is not in raw mode (echo icanon)"
        wait_for(lambda: warning in rig.daemon_log(), "the warning")
        # Raw again (as serial apps set it): said once M7 traffic looks again.
        fd = os.open(rig.app, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(fd)
        os.close(fd)

        def said():
            rig.fw.write(b".")
            return f"pty {rig.app} is in raw mode again" in rig.daemon_log()
        wait_for(said, "raw mode again")
        self.assertEqual(rig.daemon_log(0).count(warning), 1, "said once")

    def test_pty_held_again_after_a_vhangup(self):
        rig = self.rig = Rig(manager=FakeManager())
        fd = os.open(rig.app, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            # What agetty or a service with TTYVHangup= does to its tty (needs root).
            fcntl.ioctl(fd, TIOCVHANGUP)
        except PermissionError:
            self.skipTest("TIOCVHANGUP needs CAP_SYS_ADMIN")
        finally:
            os.close(fd)

        def held_again():
            rig.fw.write(b".")
            return f"pty {rig.app} was hung up: held again" in rig.daemon_log()
        wait_for(held_again, "the daemon holding the pty again")

        def stored_slave_live():  # the slave fd the next start holds again
            try:
                return termios.tcgetattr(rig.manager.pump()["pty-fw"][1]) is not None
            except termios.error:
                return False
        wait_for(stored_slave_live, "the new slave fd in the store")
        # The next app finds raw mode, not the kernel's cooked defaults, and no echo.
        fd = os.open(rig.app, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            lflag = termios.tcgetattr(fd)[3]
            self.assertEqual(lflag & (termios.ECHO | termios.ICANON), 0)
            rig.fw.got.clear()
            rig.fw.write(b"raw again")
            wait_for(fd_got(fd, bytearray(), b"raw again"), "bytes without a newline (not cooked)")
            rig.fw.pump(0.2)
            self.assertNotIn(b"raw again", bytes(rig.fw.got), "no echo to the M7")
        finally:
            os.close(fd)

    def test_pty_hung_up_while_exclusive_is_replaced(self):
        # The daemon runs without CAP_SYS_ADMIN: a pty left exclusive by a vhangup cannot
        # be opened again by it, nor by any app but root's.
        rig = self.rig = Rig(manager=FakeManager())
        rig.reload(pty_mode="0666")  # an unprivileged app opens it below
        old = os.readlink(rig.app)
        fd = os.open(rig.app, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            fcntl.ioctl(fd, termios.TIOCEXCL)  # as QSerialPort does
            fcntl.ioctl(fd, TIOCVHANGUP)
        except PermissionError:
            self.skipTest("TIOCVHANGUP needs CAP_SYS_ADMIN")
        finally:
            os.close(fd)

        def app_reads():
            """Whether an unprivileged app opening the link reads the M7's bytes."""
            rig.fw.write(b"!")
            slave = os.readlink(rig.app)  # the test's directory is not the app's to read
            pid = os.fork()
            if pid == 0:
                try:
                    os.setgid(65534)
                    os.setuid(65534)
                    f = os.open(slave, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
                    select.select([f], [], [], 0.5)
                    os._exit(0 if b"!" in os.read(f, 4096) else 1)
                except OSError as e:
                    os._exit(e.errno & 0xff or 1)
            return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
        wait_for(app_reads, "an app reading the pty after the hang-up", timeout=10)
        self.assertNotEqual(os.readlink(rig.app), old, "a new pty behind the link")
        self.assertIn(f"pty {rig.app} was hung up and cannot be held again", rig.daemon_log())
        # The service manager holds the new master, so a restart keeps this pty.
        def stored_is_new():
            n = fcntl.ioctl(rig.manager.pump()["pty-fw"][0], TIOCGPTN, b"\0" * 4)
            return f"/dev/pts/{int.from_bytes(n, sys.byteorder)}" == os.readlink(rig.app)
        wait_for(stored_is_new, "the new master in the store")

    def test_pty_at_a_device_or_another_ptys_path_is_refused(self):
        # The pty's symlink replaces what is at its path: at a channel's tty (a symlink,
        # as udev makes them) it would cut the channel off its tty and loop it onto its
        # own pty; at another channel's pty, that channel's app would get the wrong M7.
        # The configuration is refused before anything is touched.
        with tempfile.TemporaryDirectory(prefix="m7b-rawpty-") as d:
            tty_, app = os.path.join(d, "ttyRPMSG30"), os.path.join(d, "app-tty")
            os.symlink("/dev/null", tty_)
            cases = [
                (f"[channel fw]\ndevice = {tty_}\nmode = raw\npty = {tty_}\n",
                 f"[channel fw] pty: {tty_} is the device of channel fw"),
                (f"[channel fw]\ndevice = {tty_}\nmode = raw\npty = {app}\n"
                 f"[channel fw2]\ndevice = /nonexistent/tty\nmode = raw\npty = {app}\n",
                 f"[channel fw2] pty: {app} is the pty of channel fw"),
                # The same file, spelt otherwise.
                (f"[channel fw]\ndevice = {tty_}\nmode = raw\npty = {app}\n"
                 f"[channel fw2]\ndevice = /nonexistent/tty\nmode = raw\n"
                 f"pty = {d}/.//app-tty\n",
                 f"[channel fw2] pty: {d}/.//app-tty is the pty of channel fw"),
                (f"[channel fw]\ndevice = {tty_}\nmode = raw\npty = {d}//ttyRPMSG30/\n",
                 f"[channel fw] pty: {d}//ttyRPMSG30/ is the device of channel fw"),
            ]
            conf = os.path.join(d, "m7bridge.conf")
            for channels, said in cases:
                with open(conf, "w") as f:
                    f.write(f"[daemon]\nsocket = {d}/sock\nkernel_log = off\n" + channels)
                r = subprocess.run([DAEMON, "-f", "-c", conf], capture_output=True,
                                   text=True, timeout=30)
                self.assertEqual(r.returncode, 78, r.stderr)
                self.assertIn(said, r.stderr)
                self.assertEqual(os.readlink(tty_), "/dev/null", "the device's link untouched")
                self.assertFalse(os.path.lexists(app), "no pty made")

    def test_pty_at_another_ptys_link_through_a_linked_directory_is_refused(self):
        """A second channel's pty at the first one's link, reached through a directory
        that is a link (as /var/run is /run): no configuration check can see it, so the
        daemon refuses it when it makes the pty, and the first app keeps its pty."""
        rig = self.rig = Rig()
        alias = rig.dir + "-alias"
        os.symlink(rig.dir, alias)
        slave = os.readlink(rig.app)
        try:
            for n in range(2):  # a reload that adds it, then one that changes nothing
                rig.reload(extra_channel="[channel fw2]\ndevice = /nonexistent/tty\n"
                           f"mode = raw\npty = {alias}/app-tty\n")
                self.assertEqual(rig.daemon_log(0).count(
                    f"cannot create the pty for {alias}/app-tty: it is channel fw's pty"),
                    n + 1)
                self.assertEqual(os.readlink(rig.app), slave, "the first channel's link")
            # A channel's tty (a link, as udev makes them) reached that way: taken over, the
            # channel would read its own pty.
            device = os.readlink(rig.link)
            rig.reload(extra_channel="[channel fw2]\ndevice = /nonexistent/tty\n"
                       f"mode = raw\npty = {alias}/ttyRPMSG30\n")
            self.assertIn(f"cannot create the pty for {alias}/ttyRPMSG30: it is channel fw's "
                          "device", rig.daemon_log(0))
            self.assertEqual(os.readlink(rig.link), device, "the channel's tty link")
        finally:
            os.unlink(alias)

    @unittest.skipUnless(os.geteuid() == 0, "needs root to open the pty as another user")
    def test_exclusive_mode_of_a_killed_app_is_cleared(self):
        rig = self.rig = Rig()
        slave = os.readlink(rig.app)
        os.chmod(slave, 0o666)

        def other_user_opens():
            """errno of another (non-root) user's open of the pty, 0 if it opens."""
            pid = os.fork()
            if pid == 0:
                try:
                    os.setgid(65534)
                    os.setuid(65534)
                    os.close(os.open(slave, os.O_RDWR | os.O_NOCTTY))
                    os._exit(0)
                except OSError as e:
                    os._exit(e.errno & 0xff or 1)
            return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        # QSerialPort sets TIOCEXCL on open and clears it on close; killed, it cannot.
        # The daemon's own fd keeps the tty alive, so the kernel would keep the flag and
        # every other user would get EBUSY until a restart.
        app = subprocess.Popen([sys.executable, "-c",
                                "import fcntl, os, sys, termios, time\n"
                                "fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)\n"
                                "fcntl.ioctl(fd, termios.TIOCEXCL)\n"
                                "print('ready', flush=True)\n"
                                "time.sleep(60)\n", rig.app], stdout=subprocess.PIPE)
        try:
            self.assertEqual(app.stdout.readline(), b"ready\n")
            self.assertEqual(other_user_opens(), errno.EBUSY, "exclusive while the app runs")
        finally:
            app.kill()
            app.wait()
            app.stdout.close()
        wait_for(lambda: other_user_opens() == 0, "the pty open to others after the app died")
        self.assertIn(f"pty {rig.app}: closed by the app that made it exclusive: cleared",
                      rig.daemon_log())

    @unittest.skipUnless(shutil.which("unshare"), "needs unshare(1)")
    def test_pty_group_defaults_to_the_daemons(self):
        # devpts is usually mounted gid=5: the slave starts in group tty. Try that in a
        # mount namespace of our own (needs root; skipped otherwise).
        d = tempfile.mkdtemp(prefix="m7b-rawpty-grp-")
        try:
            app, conf = os.path.join(d, "app-tty"), os.path.join(d, "m7bridge.conf")
            with open(conf, "w") as f:
                f.write(f"[daemon]\nsocket = {d}/sock\nkernel_log = off\n[channel fw]\n"
                        f"device = {d}/none\nmode = raw\npty = {app}\n")
            script = ('mount -t devpts -o newinstance,gid=5,mode=620,ptmxmode=666 devpts '
                      '/dev/pts 2>/dev/null && mount --bind /dev/pts/ptmx /dev/ptmx || exit 77\n'
                      '"$0" -f -c "$1" 2>/dev/null & pid=$!\n'
                      'i=0; while [ ! -L "$2" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done\n'
                      'stat -L -c "%g %a" "$2"; kill $pid; wait $pid\n')
            r = subprocess.run(["unshare", "-m", "sh", "-c", script, DAEMON, conf, app],
                               capture_output=True, text=True, timeout=60)
            if r.returncode == 77 or "unshare:" in r.stderr:
                self.skipTest("cannot mount a devpts of our own")
            self.assertEqual(r.stdout.split(), [str(os.getegid()), "660"], r.stderr)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    @unittest.skipUnless(os.geteuid() == 0, "needs root to run the daemon as another user")
    def test_pty_group_the_daemon_is_not_in_is_said_plainly(self):
        # The shipped unit runs the daemon as its own user: a pty_group it does not belong
        # to cannot be given (no CAP_CHOWN), and the error has to say why.
        if not nobody_can_run(DAEMON):
            self.skipTest(f"user nobody cannot reach {DAEMON}")
        d = tempfile.mkdtemp(prefix="m7b-rawpty-user-")
        os.chmod(d, 0o777)
        conf, logpath = os.path.join(d, "m7bridge.conf"), os.path.join(d, "log")
        with open(conf, "w") as f:
            f.write(f"[daemon]\nsocket = {d}/sock\nkernel_log = off\n[channel fw]\n"
                    f"device = {d}/none\nmode = raw\npty = {d}/app-tty\npty_group = root\n")
        os.chmod(conf, 0o644)

        def as_nobody():
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
        log = open(logpath, "ab")
        p = subprocess.Popen([DAEMON, "-f", "-c", conf], stdout=log, stderr=subprocess.STDOUT,
                             preexec_fn=as_nobody)
        try:
            wait_for(lambda: "running:" in read_text(logpath), "the daemon running")
            self.assertIn(f"pty {d}/app-tty: cannot give it group root: Operation not "
                          f"permitted (the daemon's user must be a member of that group)",
                          read_text(logpath))
            self.assertFalse(os.path.lexists(os.path.join(d, "app-tty")))
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(20)
            log.close()
            shutil.rmtree(d, ignore_errors=True)

    def test_losses_of_an_app_that_does_not_read_are_shown(self):
        rig = self.rig = Rig()
        total = 1 << 20  # far more than the kernel and the daemon hold for the pty
        rig.fw.write(bytes(range(256)) * (total // 256))
        wait_for(lambda: rig.status(91)["raw_rx_bytes"] == total, "the whole burst read")
        st = self.pty_status(rig)  # settled: nobody reads the pty
        self.assertGreater(st["dropped_to_app"], 0)
        self.assertEqual(st["to_app"] + st["dropped_to_app"] + 256 * 1024, total,
                         "every byte delivered, held (256 KiB) or counted as dropped")
        self.assertIn("the app does not read", rig.daemon_log())
        r = subprocess.run([CTL, "-s", rig.sock, "status"], capture_output=True, text=True,
                           timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"fw: pty: {st['to_app']} bytes to the app, 0 to the M7, "
                      f"{st['dropped_to_app']} dropped (the app did not read), 0 failed",
                      r.stdout)

    def test_unknown_pty_group_is_said_plainly(self):
        rig = self.rig = Rig(extra_channel="pty_group = m7b-no-such-group\n", want_pty=False)
        wait_for(lambda: "cannot create the pty" in rig.daemon_log(), "the error logged")
        self.assertIn(f"cannot create the pty for {rig.app}: no group m7b-no-such-group",
                      rig.daemon_log())
        self.assertFalse(os.path.lexists(rig.app))

    def test_probe_detects_a_silent_firmware(self):
        rig = self.rig = Rig(extra_channel="probe_send = PING\\n\nprobe_expect = PONG\n"
                             "probe_period_ms = 100\nprobe_timeout_ms = 150\n"
                             "recovery_steps = reopen\n")
        faults = Client(rig.sock)
        faults.send({"cmd": "watch", "classes": ["FAULT", "STATE"]})

        def answer_for(seconds):
            end = time.monotonic() + seconds
            answered = 0
            while time.monotonic() < end:
                rig.fw.pump(0.01)
                if b"PING\n" in rig.fw.got:
                    rig.fw.got = rig.fw.got.replace(b"PING\n", b"", 1)
                    rig.fw.write(b"..PO")
                    rig.fw.write(b"NG..")  # split: matched across reads
                    answered += 1
            return answered

        self.assertGreaterEqual(answer_for(1.0), 4)
        faults.poll(0.05)
        self.assertFalse([o for o in faults.objs if o.get("class") == "FAULT"],
                         "an answering firmware is alive")
        # Silent now: a stall from the probe, and the ladder (without resync) reopens.
        f = faults.find(lambda o: o.get("class") == "FAULT", "a FAULT")
        self.assertEqual((f["kind"], f["source"]), ("stall", "probe"))
        faults.find(lambda o: o.get("class") == "STATE" and o["state"] == "up" and
                    o["reason"] == "recovered", "recovered by reopening")
        faults.s.close()

    @unittest.skipIf(serial is None or not os.path.exists(SIM), "needs pyserial and m7sim")
    def test_wire_channel_pty_port(self):
        # A wire-v1 firmware (m7sim) whose port 2 loops SEND back as DATA: the app's bytes
        # go out as SEND on pty_port, come back as that port's captures, and only those
        # reach the pty; across a restart of the firmware (a new tty under the name).
        with WireRig(self, ["--source", "2:rate=0,loop=1", "--source", "1:rate=50,pattern=text",
                            "--heartbeat-ms", "200"], 2, "reopen_min_ms = 20\n") as w:
            port = serial.Serial(w.app, 115200, timeout=0.05)
            for i in range(2):
                msg = b"".join(b"line %d-%03d\n" % (i, k) for k in range(40))
                got = bytearray()
                # Written at once, even while the channel is still coming up: held.
                port.write(msg)

                def echoed():
                    got.extend(port.read(4096))
                    return msg in got
                wait_for(echoed, f"loop-back through the pty ({i})")
                self.assertNotIn(b"port 1 capture", bytes(got), "only pty_port reaches the pty")
                if i == 0:
                    w.procs[0].send_signal(signal.SIGTERM)  # the firmware goes away ...
                    w.procs[0].wait(10)
                    os.unlink(w.link) if os.path.lexists(w.link) else None
                    w.procs[0] = w.start(w.sim_args)  # ... and back
            port.close()

    @unittest.skipUnless(os.path.exists(SIM), "needs m7sim")
    def test_wire_pty_bytes_the_firmware_refuses_are_said(self):
        # pty_port names a port this firmware does not have: every SEND is refused. The
        # app's write() succeeded, so the log must say so (and STATUS count it).
        with WireRig(self, ["--source", "2:rate=0,loop=1"], 9) as w:
            fd = w.open_app()
            self.assertEqual(os.write(fd, b"hello\n"), 6)

            def status():
                r = subprocess.run([CTL, "-s", w.sock, "status", "--json"],
                                   capture_output=True, text=True, timeout=10)
                return json.loads(r.stdout)["channels"][0]["pty"] if r.returncode == 0 \
                    else {}
            wait_for(lambda: status().get("failed_to_m7") == 6, "the bytes counted as failed")
            wait_for(lambda: (f"pty {w.app}: 6 bytes from the app not taken by the firmware "
                              f"(the firmware has no port 9)") in read_text(w.logpath),
                     "the failure logged")

    @unittest.skipUnless(os.path.exists(SIM), "needs m7sim")
    def test_wire_pty_port_changes_in_place(self):
        with WireRig(self, ["--source", "2:rate=0,loop=1", "--source", "3:rate=0,loop=1"],
                     2) as w:
            slave = os.readlink(w.app)
            fd = w.open_app(os.O_NONBLOCK)
            got = bytearray()
            os.write(fd, b"on port 2\n")
            wait_for(fd_got(fd, got, b"on port 2\n"), "loop-back on port 2")
            # Another port for the pty: the app's fd carries on, sent and read on port 3.
            w.write_conf(3)
            w.procs[1].send_signal(signal.SIGHUP)
            wait_for(lambda: "configuration reloaded" in read_text(w.logpath), "the reload")
            self.assertEqual(os.readlink(w.app), slave, "the same pty")
            os.write(fd, b"on port 3\n")
            wait_for(fd_got(fd, got, b"on port 3\n"), "loop-back on port 3, same fd")

    def test_throughput_through_pty(self):
        rig = self.rig = Rig()
        fd = os.open(rig.app, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(fd)
        total = 8 * 1024 * 1024
        chunk = bytes(range(256)) * 16
        got = 0
        t0 = time.monotonic()
        sent = 0
        os.set_blocking(fd, False)
        while got < total:
            if sent < total:
                try:
                    n = os.write(rig.fw.master, chunk)
                    sent += n
                except BlockingIOError:
                    pass
            r, _, _ = select.select([fd], [], [], 0 if sent < total else 0.05)
            if r:
                got += len(os.read(fd, 65536))
            rig.fw.pump(0)
        dt = time.monotonic() - t0
        print(f"M7 -> pty throughput: {total / dt / 1e6:.1f} MB/s "
              f"({total} bytes in {dt:.2f} s)", file=sys.stderr)
        # The other way: the app writes, the "M7" reads; every byte, in order.
        rig.fw.got.clear()
        blob = bytes((k * 13) & 0xff for k in range(total // 4)) * 4
        view = memoryview(blob)
        t0 = time.monotonic()
        while view or len(rig.fw.got) < total:
            if view:
                try:
                    view = view[os.write(fd, view[:65536]):]
                except BlockingIOError:
                    pass
            rig.fw.pump(0 if view else 0.05)
        dt = time.monotonic() - t0
        os.close(fd)
        self.assertEqual(bytes(rig.fw.got), blob)
        print(f"pty -> M7 throughput: {total / dt / 1e6:.1f} MB/s "
              f"({total} bytes in {dt:.2f} s)", file=sys.stderr)


if __name__ == "__main__":
    if not os.path.exists(DAEMON) or not os.path.exists(CTL):
        print("daemon or m7bridgectl not built", file=sys.stderr)
        sys.exit(77)
    unittest.main()
