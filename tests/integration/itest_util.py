"""Helpers shared by the Python integration tests that run m7sim and m7bridged."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time


def wait_for(cond, what, timeout=30.0, step=0.05):
    """Polls cond() until it returns a true value (returned); fails after timeout."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


def accepting(path):
    """Whether the Unix socket at path takes connections: its file appears at bind(),
    a moment before the daemon listens (a connect in between is refused)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    finally:
        s.close()


def stop(procs):
    """SIGTERM each running process, then waits; returns their exit codes (0 for None)."""
    rc = []
    for p in procs:
        if p is None:
            rc.append(0)
            continue
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        rc.append(p.returncode)
    return rc


def finish(tmpdir, logs, show, limit=4000):
    """Prints the last limit characters of each log file in tmpdir when show, then
    removes tmpdir."""
    if show:
        for name in logs:
            try:
                with open(os.path.join(tmpdir, name), errors="replace") as f:
                    print(f"--- {name}\n" + f.read()[-limit:], file=sys.stderr)
            except OSError:
                pass
    shutil.rmtree(tmpdir, ignore_errors=True)
