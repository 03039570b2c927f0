#!/usr/bin/env python3
"""Example: a Python client of m7bridged using only the standard library.

Watches frames and link states and prints them; reconnects if the daemon restarts and
resumes after the last frame it printed (the daemon replays what it still holds), says why
a daemon refused it, and gives up with a clear message when no daemon takes it after a
bounded number of tries.
Usage: m7watch.py [--socket PATH] [--port N] [--count N] [--hex] [--retries N]
"""
import argparse
import base64
import json
import os
import socket
import sys
import time

# Set but empty counts as unset, as for m7bridgectl.
DEFAULT_SOCKET = os.environ.get("M7BRIDGE_SOCKET") or "/run/m7bridge/m7bridge.sock"
EX_UNAVAILABLE = 69
ESCAPES = {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x5C: "\\\\", 0x22: '\\"'}


def show_bytes(data, as_hex):
    """The payload safe for a terminal: hex bytes, or text with everything else escaped."""
    if as_hex:
        return " ".join(f"{b:02x}" for b in data)
    return '"' + "".join(ESCAPES.get(b, chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}")
                         for b in data) + '"'


class Position:
    """The last frame seen (its seq and the firmware run that sent it), to resume from."""

    def __init__(self):
        self.boot = {}  # channel -> boot_id of the current run, from this connection's HELLO
        self.last = None  # (channel, boot_id, seq)
        self.heard = None  # when the connection that gave the last frame first heard its daemon

    def new_connection(self):
        # A run is known from a HELLO of this connection: a watch sends one first.
        self.boot = {}

    def forget_run(self, channel):
        # The M7 restarted without a HELLO: its seq went back, the run is not known.
        self.boot.pop(channel, None)

    def saw(self, obj, heard):
        ch = obj["channel"]
        if (not obj.get("replay") and self.last and self.last[0] == ch
                and obj["seq"] <= self.last[2]):
            self.forget_run(ch)  # a live seq stepping back: a restart the daemon told late
        boot = obj.get("boot_id", self.boot.get(ch))  # replayed frames carry it
        self.last = (ch, boot, obj["seq"]) if boot is not None else None
        self.heard = heard

    def request_members(self, daemon_started):
        if not self.last:
            return {}
        if self.heard is None or daemon_started > self.heard:
            # A new daemon: its HELLO restarted seq, so the old position could name one of
            # its own frames. Ask for all it holds; a REPLAY_GAP says what is missing.
            print("m7watch: the daemon restarted: resuming with all it holds",
                  file=sys.stderr, flush=True)
            return {"since_ns": 0}
        # One position for all channels: exact for the usual single channel.
        return {"since_seq": self.last[2], "boot_id": self.last[1]}


class Refused(Exception):
    """The daemon had no slot for this client: an ERROR without id before the ACK."""


def watch(path, ports, count, as_hex, on_connect, pos):
    """Streams objects until count frames were printed; returns how many were printed."""
    frames = 0
    replayed = 0
    release = None
    accepted = False
    heard = None  # when this connection first heard from its daemon (its VERSION)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(path)
        f = s.makefile("rwb")
        pos.new_connection()
        # HELLO tells which firmware run the frames come from: needed to resume.
        request = {"cmd": "watch", "id": 1, "classes": ["FRAME", "STATE", "HELLO"]}
        if ports:
            request["ports"] = ports

        def send(obj):
            try:
                f.write((json.dumps(obj, separators=(",", ":")) + "\n").encode())
                f.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # a refusal closes at once: its reason is still there to read
        if pos.last:
            # To resume, first learn whether this is the daemon the position came from.
            send({"cmd": "status", "id": 2})
        else:
            send(request)
        for line in f:
            if not line.endswith(b"\n"):
                break  # cut short: the daemon went away in the middle of a line
            try:
                obj = json.loads(line)
                cls = obj.get("class")
            except (ValueError, AttributeError):
                print(f"m7watch: skipped a line that is not a JSON object: {line[:80]!r}",
                      file=sys.stderr, flush=True)
                continue
            try:
                if cls == "VERSION":
                    # Not connected yet: a daemon with no slot for us sends VERSION too,
                    # then its refusal.
                    release = obj.get("release")
                    heard = time.monotonic()
                elif cls == "STATUS" and obj.get("id") == 2 and not accepted:
                    started = time.monotonic() - obj["uptime_ms"] / 1000
                    request.update(pos.request_members(started))
                    send(request)
                elif cls == "ACK" and obj.get("id") == 1 and not accepted:
                    accepted = True
                    on_connect()
                    print(f"connected to m7bridged {release}", flush=True)
                elif cls == "ERROR" and "id" not in obj and not accepted:
                    # Also an older daemon's refusal, sent in place of VERSION.
                    raise Refused(f"{obj.get('message')} ({obj.get('code')})")
                elif cls == "ERROR":
                    raise RuntimeError(f"{obj.get('code')}: {obj.get('message')}")
                elif cls == "STATE":
                    if obj.get("reason") == "m7_restarted":
                        pos.forget_run(obj["channel"])
                    print(f"state {obj['channel']}: {obj['state']} "
                          f"({obj.get('reason', '')})", flush=True)
                elif cls == "HELLO":
                    pos.boot[obj["channel"]] = obj["boot_id"]
                elif cls == "DROPPED":
                    # This client read too slowly: the daemon dropped objects for it.
                    print(f"m7watch: {obj.get('count')} objects dropped by the daemon: "
                          f"this client fell behind ({obj.get('total')} in all)",
                          file=sys.stderr, flush=True)
                elif cls == "REPLAY_GAP":
                    at_least = "" if obj["exact"] else "at least "
                    print(f"m7watch: {at_least}{obj['frames']} frames of {obj['channel']} "
                          "were lost while disconnected", file=sys.stderr, flush=True)
                elif cls == "FRAME":
                    # All it needs first: a bad one changes nothing.
                    data = base64.b64decode(obj.get("data", ""), validate=True)
                    text = (f"frame {obj['channel']}/{obj['port']} seq {obj['seq']}: "
                            f"{len(data)} bytes: {show_bytes(data, as_hex)}")
                    if obj.get("replay"):
                        replayed += 1
                    elif replayed:
                        print(f"m7watch: resumed: {replayed} frames replayed",
                              file=sys.stderr, flush=True)
                        replayed = 0
                    pos.saw(obj, heard)
                    print(text, flush=True)
                    frames += 1
                    if count and frames >= count:
                        return frames
            except (KeyError, TypeError, ValueError) as e:
                # An object without the members its class has (or a payload that is
                # not base64): the daemon never sends one, but a client must not die
                # of it either.
                print(f"m7watch: skipped a {cls} object ({type(e).__name__}: {e}): "
                      f"{line[:80]!r}", file=sys.stderr, flush=True)
    return frames


def number(kind, low, high=None):
    """An argparse type: a number of that kind in low..high, else a usage error."""
    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            v = None
        # "nan" passes float() but no comparison.
        if v is None or not low <= v or (high is not None and not v <= high):
            raise argparse.ArgumentTypeError(
                f"expected {low}..{high if high is not None else ''}, got {text!r}")
        return v
    return parse


def socket_path(text):
    """An argparse type: a path a Unix socket address holds (1..107 bytes)."""
    if not 1 <= len(os.fsencode(text)) <= 107:
        raise argparse.ArgumentTypeError(
            f"a Unix socket path has 1..107 bytes, not {len(os.fsencode(text))}")
    return text


def gave_up(args, tries, final, now):
    """After a failed try: says final and returns True once the tries are used up, else
    says now and when the next try comes."""
    if tries >= args.retries:
        print(f"m7watch: {final}", file=sys.stderr)
        return True
    print(f"m7watch: {now}; try {tries}/{args.retries}, again in {args.retry:g} s",
          file=sys.stderr, flush=True)
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--socket", type=socket_path, default=DEFAULT_SOCKET)
    ap.add_argument("--port", type=number(int, 0, 255), action="append", default=[])
    ap.add_argument("--count", type=number(int, 0), default=0,
                    help="exit after N frames (0: never)")
    ap.add_argument("--hex", action="store_true", help="payloads as hex bytes, not text")
    ap.add_argument("--retry", type=number(float, 0, 3600), default=1.0,
                    help="seconds between tries")
    ap.add_argument("--retries", type=number(int, 1), default=10,
                    help="tries to connect before giving up (each reconnect starts afresh)")
    args = ap.parse_args()

    left = args.count
    tries = 0
    pos = Position()

    def connected():
        nonlocal tries
        tries = 0

    while True:
        try:
            got = watch(args.socket, args.port, left, args.hex, connected, pos)
            if args.count:
                left -= got
                if left <= 0:
                    return 0
            print("m7watch: the daemon closed the connection; reconnecting", file=sys.stderr,
                  flush=True)
        except BrokenPipeError:
            raise  # our reader left (| head): not the daemon's connection (see below)
        except PermissionError as e:
            # Trying again changes nothing: group membership counts from the next login.
            print(f"m7watch: no permission to open {args.socket} ({e.strerror or e}): is "
                  "your user in the daemon's socket group? (sudo usermod -aG m7bridge "
                  "$USER, then log in again)", file=sys.stderr)
            return EX_UNAVAILABLE
        except (ConnectionError, FileNotFoundError) as e:
            tries += 1
            if gave_up(args, tries,
                       f"no m7bridged at {args.socket} after {tries} tries "
                       f"({e.strerror or e}); is it running?",
                       f"cannot connect to {args.socket} ({e.strerror or e})"):
                return EX_UNAVAILABLE
        except Refused as e:
            tries += 1
            if gave_up(args, tries,
                       f"m7bridged at {args.socket} refused the connection {tries} times: {e}",
                       f"m7bridged refused the connection: {e}"):
                return EX_UNAVAILABLE
        except RuntimeError as e:
            print(f"m7watch: {e}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 0
        time.sleep(args.retry)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
    except BrokenPipeError:
        # The reader of our output left (| head): nothing more to say, and no traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
