#!/usr/bin/env python3
"""m7bridge-exporter end to end: m7sim -> m7bridged -> exporter, scraped over loopback.

The text is validated with the Prometheus project's own parsers (python3-prometheus-client:
the Prometheus text parser and the strict OpenMetrics one) and the values are checked
against the daemon's STATUS and INCIDENTS. Exit 77 (skip) without the parser or binaries.
"""
import json
import os
import re
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

try:
    from prometheus_client.parser import text_string_to_metric_families as prom_parse
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
except ImportError:  # a non-Debian python3 first in PATH: use Debian's packages
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        from prometheus_client.parser import text_string_to_metric_families as prom_parse
        from prometheus_client.openmetrics.parser import \
            text_string_to_metric_families as om_parse
    except ImportError:
        prom_parse = om_parse = None

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ops_testlib import wait_for  # noqa: E402

BUILD = os.environ.get("M7B_BUILD_ROOT", "build")
DAEMON = os.path.join(BUILD, "daemon", "m7bridged")
SIM = os.path.join(BUILD, "firmware", "m7sim")
CTL = os.path.join(BUILD, "tools", "m7bridgectl")
EXPORTER = os.path.join(BUILD, "tools", "exporter", "m7bridge-exporter")
TIMEOUT = 30.0
N_FRAMES, SIZE = 200, 16



def status(sock):
    """STATUS straight from the socket (not through the exporter)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(sock)
    f = s.makefile("rwb")
    f.readline()  # VERSION
    f.write(b'{"cmd":"status","id":1}\n')
    f.flush()
    st = json.loads(f.readline())
    s.close()
    return st


class Rig:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="m7b-exporter-")
        self.link = os.path.join(self.dir, "ttyRPMSG30")
        self.sock = os.path.join(self.dir, "m7bridge.sock")
        self.prom = os.path.join(self.dir, "m7bridge.prom")
        self.log = open(os.path.join(self.dir, "log"), "ab")
        self.procs = {}

    def start(self, name, args, **kw):
        self.procs[name] = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                            stdout=kw.pop("stdout", self.log),
                                            stderr=subprocess.STDOUT, **kw)
        return self.procs[name]

    def stop(self, name):
        """Stops a process; returns its exit status."""
        p = self.procs.pop(name, None)
        if p and p.poll() is None:
            p.terminate()
            try:
                p.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p and p.stdout:
            p.stdout.close()
        return p.returncode if p else None

    def close(self):
        for name in list(self.procs):
            self.stop(name)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def tail(self):
        with open(os.path.join(self.dir, "log"), errors="replace") as f:
            return f.read()[-4000:]


def samples(families):
    """{(sample name, frozenset(labels)): value} of parsed families."""
    out = {}
    for fam in families:
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


class Exporter(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rig = rig = Rig()
        try:
            rig.start("daemon", [DAEMON, "-f", "-s", rig.sock, "-C", f"m7={rig.link}"])
            wait_for(lambda: os.path.exists(rig.sock), "daemon socket")
            exp = rig.start("exporter", [EXPORTER, "-s", rig.sock, "-l", "127.0.0.1:0",
                                         "-f", rig.prom, "-i", "1"], stdout=subprocess.PIPE)
            line = exp.stdout.readline().decode()
            cls.port = int(line.rsplit(" ", 1)[1])
            # The exporter watches before the M7 sends anything, so it sees every frame.
            wait_for(lambda: "\nm7bridge_up 1\n" in cls.get()[1], "exporter connected")
            rig.start("sim", [SIM, "--link", rig.link, "--source",
                              f"2:rate=400,count={N_FRAMES},size={SIZE},pattern=counter",
                              "--heartbeat-ms", "100"])
            wait_for(lambda: any(c.get("data_frames") == N_FRAMES
                                 for c in status(rig.sock)["channels"]), "all frames")
        except BaseException:
            sys.stderr.write(rig.tail())
            rig.close()
            raise

    @classmethod
    def tearDownClass(cls):
        # A clean stop on SIGTERM (a sanitizer's report would make it non-zero).
        code = cls.rig.stop("exporter")
        tail = cls.rig.tail()
        cls.rig.close()
        if code != 0:
            raise AssertionError(f"m7bridge-exporter exited {code}:\n{tail}")

    @classmethod
    def get(cls, path="/metrics", accept=None, method="GET"):
        req = urllib.request.Request(f"http://127.0.0.1:{cls.port}{path}", method=method)
        if accept:
            req.add_header("Accept", accept)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read().decode(), r.headers.get("Content-Type")
        except urllib.error.HTTPError as e:
            return e.code, "", None

    def scrape(self):
        code, text, ctype = self.get()
        self.assertEqual(code, 200)
        self.assertTrue(ctype.startswith("text/plain; version=0.0.4"), ctype)
        return text, {f.name: f for f in prom_parse(text)}

    def test_prometheus_text_parses_and_matches_status(self):
        # The firmware's counters come with its next HEARTBEAT (every 100 ms here).
        wait_for(lambda: f'm7bridge_m7_captures_total{{channel="m7"}} {N_FRAMES}\n'
                 in self.get()[1], "a HEARTBEAT after the last capture")
        before = status(self.rig.sock)
        text, fams = self.scrape()
        after = status(self.rig.sock)
        s = samples(fams.values())
        for fam in fams.values():
            self.assertTrue(fam.name.startswith("m7bridge_"), fam.name)
            self.assertTrue(fam.documentation, fam.name)
            if fam.type == "counter":
                for smp in fam.samples:
                    self.assertTrue(smp.name.endswith("_total"), smp.name)
        ch = frozenset({("channel", "m7")})
        b = before["channels"][0]
        a = after["channels"][0]
        for member, name, scale in (("frames", "m7bridge_channel_frames_total", 1),
                                    ("bytes", "m7bridge_channel_received_bytes_total", 1),
                                    ("recoveries", "m7bridge_channel_recoveries_total", 1),
                                    ("seq_gaps", "m7bridge_channel_lost_frames_total", 1),
                                    ("bad_crc", "m7bridge_channel_crc_errors_total", 1),
                                    ("resyncs", "m7bridge_channel_rejected_frames_total", 1),
                                    ("noise_bytes", "m7bridge_channel_noise_bytes_total", 1),
                                    ("write_stall_ms",
                                     "m7bridge_channel_write_stall_seconds_total", 1e-3)):
            v = s[(name, ch)]
            self.assertLessEqual(b[member] * scale, v, name)
            self.assertLessEqual(v, a[member] * scale, name)
        self.assertEqual(s[("m7bridge_channel_data_frames_total", ch)], N_FRAMES)
        self.assertEqual(a["data_frames"], N_FRAMES)
        port2 = frozenset({("channel", "m7"), ("port", "2")})
        self.assertEqual(s[("m7bridge_port_frames_total", port2)], N_FRAMES)
        self.assertEqual(s[("m7bridge_port_bytes_total", port2)], N_FRAMES * SIZE)
        self.assertEqual(s[("m7bridge_channel_state", ch | {("state", "up")})], 1)
        self.assertEqual(s[("m7bridge_channel_state", ch | {("state", "down")})], 0)
        self.assertEqual(s[("m7bridge_up", frozenset())], 1)
        # STATUS came from this test's own connection, gone by the time of the scrape.
        self.assertEqual(s[("m7bridge_clients", frozenset())],
                         len([c for c in after["clients"] if c["id"] != after["client_id"]]))
        fw = a["firmware"]
        self.assertEqual(s[("m7bridge_firmware_info", ch | {
            ("name", fw["name"]), ("boot_id", "%08x" % fw["boot_id"])})], 1)
        up = s[("m7bridge_daemon_uptime_seconds", frozenset())]
        self.assertLessEqual(before["uptime_ms"] / 1e3, up)
        self.assertLessEqual(up, after["uptime_ms"] / 1e3)
        self.assertGreater(s[("m7bridge_daemon_resident_memory_bytes", frozenset())], 100000)
        self.assertIn(("m7bridge_daemon_cpu_seconds_total", frozenset()), s)
        # Firmware heartbeat counters: the M7 made every capture and dropped none.
        self.assertEqual(s[("m7bridge_m7_captures_total", ch)], N_FRAMES)
        self.assertEqual(s[("m7bridge_m7_dropped_captures_total", ch)], 0)
        # Metrics for STATUS members the daemon does not send yet are left out.
        if "clock" not in a:
            self.assertNotIn("m7bridge_clock_offset_seconds", text)

    def test_openmetrics_strict_parser(self):
        code, text, ctype = self.get(accept="application/openmetrics-text; version=1.0.0")
        self.assertEqual(code, 200)
        self.assertTrue(ctype.startswith("application/openmetrics-text"), ctype)
        self.assertTrue(text.endswith("# EOF\n"))
        fams = {f.name: f for f in om_parse(text)}
        self.assertEqual(fams["m7bridge_channel_frames"].type, "counter")
        self.assertEqual(fams["m7bridge_daemon"].type, "info")
        self.assertEqual(fams["m7bridge_recovery_duration_seconds"].type, "histogram")

    def test_textfile(self):
        def fresh():
            try:
                with open(self.rig.prom) as f:
                    t = f.read()
            except OSError:
                return None
            return t if f"m7bridge_channel_data_frames_total{{channel=\"m7\"}} {N_FRAMES}" \
                in t else None
        text = wait_for(fresh, "textfile with all frames")
        s = samples(prom_parse(text))
        self.assertEqual(s[("m7bridge_up", frozenset())], 1)
        self.assertFalse(os.path.exists(self.rig.prom + ".tmp"))

    def test_alert_rules_see_the_first_event(self):
        """Every counter the example alert rules in docs/OPERATIONS.md take increase() or
        rate() of has a sample before anything happened: on a series that only appears
        with its first event, increase() sees nothing, and the alert would miss it."""
        ops = os.path.join(os.environ.get("M7B_SOURCE_ROOT", "."), "docs", "OPERATIONS.md")
        with open(ops) as f:
            doc = f.read()
        rules = doc.split("### Example alert rules", 1)[1].split("```")[1]
        names = set(re.findall(r"(?:increase|rate)\((m7bridge_[a-z0-9_]+)", rules))
        self.assertGreater(len(names), 3, rules)
        present = {s.name for fam in self.scrape()[1].values() for s in fam.samples}
        self.assertEqual(sorted(names - present), [], "no sample before the first event")

    def test_textfile_write_failure(self):
        """A textfile that cannot be written whole (here a file size limit; a full disk
        alike) is said, leaves no half-written temp file, and costs no descriptor: the
        exporter writes every second and must not run out of them."""
        d = tempfile.mkdtemp(prefix="m7b-exporter-full-")
        self.addCleanup(shutil.rmtree, d, True)
        prom = os.path.join(d, "m.prom")

        def small_files():
            resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a signal
        p = subprocess.Popen([EXPORTER, "-s", self.rig.sock, "-l", "none", "-f", prom,
                              "-i", "1"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             preexec_fn=small_files)
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))
        fds = f"/proc/{p.pid}/fd"
        time.sleep(1.5)
        before = len(os.listdir(fds))
        time.sleep(4)
        after = len(os.listdir(fds))
        p.terminate()
        err = p.communicate(timeout=TIMEOUT)[1].decode(errors="replace")
        self.assertEqual(p.returncode, 0, err)
        self.assertIn(f"cannot write {prom}", err)
        self.assertEqual(after, before, "descriptors leaked by failed writes")
        self.assertFalse(os.path.exists(prom + ".tmp"), "a half-written temp file stayed")

    def test_http_errors(self):
        self.assertEqual(self.get("/nothing")[0], 404)
        # Every method but GET and HEAD: 405, as the man page says (not 501).
        for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"):
            self.assertEqual(self.get(method=method)[0], 405, method)
        code, text, _ = self.get("/")
        self.assertEqual(code, 200)
        self.assertIn("/metrics", text)

    def test_usage_errors(self):
        # A period or address that does not parse whole is refused, not half taken.
        for args in (["-i", "5x"], ["-i", "0"], ["-i", "99999999999"],
                     ["-l", "127.0.0.1:"], ["-l", "127.0.0.1:65536"]):
            r = subprocess.run([EXPORTER, "-f", self.rig.prom + ".x"] + args,
                               capture_output=True, text=True, timeout=TIMEOUT)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn(args[1], r.stderr)
        self.assertFalse(os.path.exists(self.rig.prom + ".x"))

    def test_out_of_descriptors(self):
        """More connections than the exporter has file descriptors: it stops accepting for
        a moment and says so once, instead of spinning on accept() and writing a warning
        for every failed call; once they are closed it serves scrapes again."""
        lim = 32

        def low_limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (lim, lim))
        log = os.path.join(self.rig.dir, "fd.log")
        with open(log, "wb") as out:
            p = subprocess.Popen([EXPORTER, "-s", self.rig.sock, "-l", "127.0.0.1:0"],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=out, preexec_fn=low_limit)
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))
        port = int(p.stdout.readline().decode().rsplit(" ", 1)[1])
        p.stdout.close()
        socks = []
        try:
            for _ in range(lim * 2):  # the kernel's backlog takes what the exporter cannot
                socks.append(socket.create_connection(("127.0.0.1", port), timeout=10))
            time.sleep(1.0)  # long enough for a spinning accept() loop to show
            with open(log, errors="replace") as f:
                lines = f.read().splitlines()
            self.assertLess(len(lines), 10, f"{len(lines)} lines, first {lines[:3]}")
        finally:
            for s in socks:
                s.close()

        def scraped():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    return r.status == 200
            except OSError:
                return False
        wait_for(scraped, "a scrape once the connections are gone")
        p.terminate()
        self.assertEqual(p.wait(TIMEOUT), 0)

    def test_slow_request_closed(self):
        """A client that trickles its request a byte at a time (slowloris) never lets the
        per-read timeout run out; the connection is still closed once 10 s passed without
        a whole request, as the man page says, while scrapes go on being answered."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=1)
        self.addCleanup(s.close)
        s.sendall(b"GET /metrics HTTP/1.1\r\n")
        t0 = time.monotonic()
        closed_after = None
        while time.monotonic() - t0 < 20:
            try:
                s.sendall(b"X")
                if s.recv(4096) == b"":
                    closed_after = time.monotonic() - t0
                    break
            except socket.timeout:
                pass
            except OSError:  # reset: closed too
                closed_after = time.monotonic() - t0
                break
            self.assertEqual(self.get()[0], 200, "a scrape behind the slow client")
        self.assertIsNotNone(closed_after, "the trickling client was never closed")
        self.assertGreaterEqual(closed_after, 9.0, "closed before its 10 s")

    def test_socket_activated_daemon_process(self):
        """Socket activation: the listening socket is made by another process (systemd,
        PID 1), and the peer credentials name that process, not the daemon. The daemon's
        CPU and memory are still reported (STATUS gives its pid), never the activator's."""
        d = tempfile.mkdtemp(prefix="m7b-exporter-act-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "s.sock")
        ls = socket.socket(socket.AF_UNIX)
        self.addCleanup(ls.close)
        ls.bind(path)
        ls.listen(16)
        fd = ls.fileno()
        # This process plays systemd: it listens, the daemon gets the socket as fd 3.
        daemon = subprocess.Popen(
            ["sh", "-c", f'exec 3<&{fd}; LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"', "sh", DAEMON,
             "-f", "-C", f"m7={os.path.join(d, 'tty')}"], pass_fds=(fd,),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: daemon.poll() is None and (daemon.terminate(), daemon.wait()))
        exp = subprocess.Popen([EXPORTER, "-s", path, "-l", "127.0.0.1:0"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: exp.poll() is None and (exp.terminate(), exp.wait()))
        port = int(exp.stdout.readline().decode().rsplit(" ", 1)[1])
        exp.stdout.close()

        def scrape():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                return r.read().decode()
        text = wait_for(lambda: (lambda t: "\nm7bridge_up 1\n" in t and t)(scrape()), "up 1")
        rss = [float(line.split()[1]) for line in text.splitlines()
               if line.startswith("m7bridge_daemon_resident_memory_bytes ")]

        def rss_of(pid):
            with open(f"/proc/{pid}/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        mine, its = rss_of(os.getpid()), rss_of(daemon.pid)
        # The daemon's, found from STATUS's pid, never this process's.
        self.assertEqual(len(rss), 1, "the daemon's memory is reported")
        self.assertLess(abs(rss[0] - its), abs(rss[0] - mine),
                        f"{rss[0]}: daemon {its}, activator {mine}")
        self.assertIn("\nm7bridge_daemon_cpu_seconds_total ", text)

    def test_sighup_ignored(self):
        """SIGHUP (systemctl reload, a closed terminal) does not end the exporter: it has
        no configuration to reload, says so, and goes on answering."""
        exp = self.rig.procs["exporter"]
        exp.send_signal(signal.SIGHUP)
        said = b""  # its stderr shares the stdout pipe
        end = time.monotonic() + TIMEOUT
        while b"SIGHUP ignored" not in said and time.monotonic() < end:
            if select.select([exp.stdout], [], [], 1)[0]:
                said += os.read(exp.stdout.fileno(), 4096)
        self.assertIn(b"SIGHUP ignored: no configuration to reload", said)
        self.assertIsNone(exp.poll(), "the exporter ended on SIGHUP")
        self.assertIn("\nm7bridge_up 1\n", self.get()[1])

    def test_daemon_socket_missing_says_why(self):
        """A socket path that does not exist (a daemon not started, a typo, or one the
        user may not open): the log says why the exporter cannot follow it, not only
        that it is not connected."""
        d = tempfile.mkdtemp(prefix="m7b-exporter-nosock-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "none.sock")
        exp = subprocess.Popen([EXPORTER, "-s", path, "-l", "127.0.0.1:0"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
        self.addCleanup(lambda: exp.poll() is None and (exp.kill(), exp.wait()))
        line = exp.stderr.readline().decode(errors="replace")
        exp.terminate()
        self.assertEqual(exp.wait(TIMEOUT), 0)
        self.assertIn(f"cannot follow m7bridged: cannot connect to {path}: "
                      "No such file or directory", line)

    def test_daemon_stopped_at_connect(self):
        """A daemon stopped before it accepts the exporter's connection (a socket that
        is listened on and never accepted from, its queue soon full): every scrape is
        answered at once with m7bridge_up 0, through the first attempt's wait for a
        greeting and the attempts after it, whose connects find the queue full."""
        d = tempfile.mkdtemp(prefix="m7b-exporter-stopped-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "s.sock")
        ls = socket.socket(socket.AF_UNIX)
        self.addCleanup(ls.close)
        ls.bind(path)
        ls.listen(1)
        exp = subprocess.Popen([EXPORTER, "-s", path, "-l", "127.0.0.1:0"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: exp.poll() is None and (exp.kill(), exp.wait()))
        port = int(exp.stdout.readline().decode().rsplit(" ", 1)[1])
        exp.stdout.close()
        # Over 6 s: the first greeting's 2 s and the retries (250 ms, 500 ms, 1 s, 2 s).
        end = time.monotonic() + 6
        while time.monotonic() < end:
            t0 = time.monotonic()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                text = r.read().decode()
            took = time.monotonic() - t0
            self.assertIn("\nm7bridge_up 0\n", text)
            self.assertLess(took, 1.0, "a scrape waited for the stopped daemon")
            time.sleep(0.2)
        exp.terminate()
        self.assertEqual(exp.wait(TIMEOUT), 0)

    def test_zy_daemon_hung(self):
        """A daemon that stops answering (stopped, or stuck) costs one scrape the call's
        timeout; the scrapes after it answer at once with m7bridge_up 0 instead of each
        waiting for it in turn, and up 1 comes back once the daemon does."""
        daemon = self.rig.procs["daemon"]
        daemon.send_signal(signal.SIGSTOP)
        try:
            self.get()  # the one that waits for the call's timeout
            for _ in range(3):
                t0 = time.monotonic()
                code, text, _ = self.get()
                took = time.monotonic() - t0
                self.assertEqual(code, 200)
                self.assertIn("\nm7bridge_up 0\n", text)
                # The call's own timeout is 2 s: well under it means no call was made.
                self.assertLess(took, 1.0, "a scrape waited for the hung daemon again")
        finally:
            daemon.send_signal(signal.SIGCONT)
        wait_for(lambda: "\nm7bridge_up 1\n" in self.get()[1], "up 1 once it answers")

    def test_zz_daemon_restart(self):
        # Last (zz): stops the daemon. The exporter keeps answering, says up 0, reconnects.
        self.rig.stop("daemon")
        code, text, _ = self.get()
        self.assertEqual(code, 200)
        self.assertIn("\nm7bridge_up 0\n", text)
        prom_parse(text)
        self.rig.start("daemon", [DAEMON, "-f", "-s", self.rig.sock, "-C",
                                  f"m7={self.rig.link}"])
        wait_for(lambda: "\nm7bridge_up 1\n" in self.get()[1], "exporter reconnected")
        self.assertIn("m7bridge_exporter_reconnects_total 1", self.get()[1])


if __name__ == "__main__":
    missing = [p for p in (DAEMON, SIM, CTL, EXPORTER) if not os.access(p, os.X_OK)]
    if missing or prom_parse is None:
        print(f"skip: missing {missing or 'python3-prometheus-client'}", file=sys.stderr)
        sys.exit(77)
    unittest.main(verbosity=2)
