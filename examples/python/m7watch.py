#!/usr/bin/env python3
"""Example: a Python client of m7bridged using only the standard library.

Watches frames and link states and prints them; reconnects if the daemon restarts.
Usage: m7watch.py [--socket PATH] [--port N] [--count N]
"""
import argparse
import base64
import json
import os
import socket
import sys
import time

DEFAULT_SOCKET = os.environ.get("M7BRIDGE_SOCKET", "/run/m7bridge/m7bridge.sock")


def watch(path, ports, count):
    """Streams objects until count frames were printed; returns how many were printed."""
    frames = 0
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(path)
        f = s.makefile("rwb")
        request = {"cmd": "watch", "id": 1, "classes": ["FRAME", "STATE"]}
        if ports:
            request["ports"] = ports
        f.write((json.dumps(request, separators=(",", ":")) + "\n").encode())
        f.flush()
        for line in f:
            obj = json.loads(line)
            cls = obj.get("class")
            if cls == "VERSION":
                print(f"connected to m7bridged {obj.get('release')}", flush=True)
            elif cls == "ERROR":
                raise RuntimeError(f"{obj.get('code')}: {obj.get('message')}")
            elif cls == "STATE":
                print(f"state {obj['channel']}: {obj['state']} ({obj.get('reason', '')})", flush=True)
            elif cls == "FRAME":
                data = base64.b64decode(obj.get("data", ""))
                text = data.decode("utf-8", errors="backslashreplace")
                print(f"frame {obj['channel']}/{obj['port']} seq {obj['seq']}: "
                      f"{len(data)} bytes: {text!r}", flush=True)
                frames += 1
                if count and frames >= count:
                    return frames
    return frames


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--socket", default=DEFAULT_SOCKET)
    ap.add_argument("--port", type=int, action="append", default=[])
    ap.add_argument("--count", type=int, default=0, help="exit after N frames (0: never)")
    ap.add_argument("--retry", type=float, default=1.0, help="seconds between reconnects")
    args = ap.parse_args()

    left = args.count
    while True:
        try:
            got = watch(args.socket, args.port, left)
            if args.count:
                left -= got
                if left <= 0:
                    return 0
        except (ConnectionError, FileNotFoundError) as e:
            print(f"daemon not reachable ({e}); retrying", file=sys.stderr, flush=True)
        except RuntimeError as e:
            print(f"m7watch: {e}", file=sys.stderr)
            return 1
        # The connection closed (daemon restart): wait a little and connect again.
        time.sleep(args.retry)


if __name__ == "__main__":
    sys.exit(main())
