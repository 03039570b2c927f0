#!/usr/bin/env python3
"""Writes the seed corpora tests/fuzz/corpus/{decoder,payloads}/ from the wire-v1 test
vectors (docs/PROTOCOL.md). Rerun after changing it; the output is committed."""
import os
import struct
import sys

VECTORS = {
    "hello": "0301010101010101021d0103127a09d4c3b2a115cd5b0701010104de01080e6d3773696d20312e30fbfbc5ff00",
    "data": "0401020202010101021503e80301010101010342040101010101010401686905c531453f00",
    "heartbeat": "030103010202010102080480841e0101010105b808496500",
    "host_hello": "03018501010101010101055e9a12a400",
    "ping": "0301830102070101010105a17e051100",
}


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    return c ^ 0xFFFFFFFF


def cobs_encode(data):
    """Canonical COBS: no extra code byte after a full 254-byte run at the end."""
    out, code_at, code = bytearray(b"\x00"), 0, 1
    for i, b in enumerate(data):
        if b == 0:
            out[code_at], code_at, code = code, len(out), 1
            out.append(0)
            continue
        out.append(b)
        code += 1
        if code == 0xFF:
            out[code_at], code = code, 1
            if i + 1 == len(data):
                return bytes(out)
            code_at = len(out)
            out.append(0)
    out[code_at] = code
    return bytes(out)


def cobs_decode(enc):
    out, i = bytearray(), 0
    while i < len(enc):
        code = enc[i]
        out += enc[i + 1:i + code]
        i += code
        if code < 0xFF and i < len(enc):
            out.append(0)
    return bytes(out)


def body(typ, payload, seq=0, port=0, flags=0, ver=1):
    b = struct.pack("<BBBBIH", ver, typ, port, flags, seq, len(payload)) + payload
    return b + struct.pack("<I", crc32c(b))


def frame(*args, **kw):
    return cobs_encode(body(*args, **kw)) + b"\x00"


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    wire = {k: bytes.fromhex(v) for k, v in VECTORS.items()}
    for k, v in wire.items():  # the generator agrees with the fixed vectors
        b = cobs_decode(v[:-1])
        assert frame(b[1], b[10:-4], seq=struct.unpack_from("<I", b, 4)[0], port=b[2]) == v, k
    allv = b"".join(wire.values())

    dec = {}
    for k, v in wire.items():
        dec["vector_" + k] = b"\x00" + v
    dec["all_vectors_bytewise"] = b"\x01\x00" + allv
    dec["hello_world_then_vectors"] = b"\x83hello world!\x00" + allv
    dec["hello_world_no_delimiter"] = b"\x05hello world!" + allv
    dec["truncated_then_data"] = b"\x10\x00" + wire["hello"][:20] + b"\x00" + wire["data"]
    flipped = bytearray(wire["data"])
    flipped[9] ^= 0x04
    dec["bit_flip_then_ping"] = b"\x07\x00" + bytes(flipped) + b"\x00" + wire["ping"]
    dec["empties_and_runt"] = b"\x00\x00\x00\x01\x00\x02\x01\x00" + wire["ping"]
    dec["largest_data"] = b"\x40\x00" + frame(0x02, bytes(range(1, 256)) + bytes(range(1, 224)),
                                                seq=9, port=1)
    dec["oversize"] = b"\x80" + b"\xff" * 700 + b"\x00" + wire["ping"]
    dec["bad_version"] = b"\x02\x00" + frame(0x83, b"", ver=2) + wire["ping"]

    # Structure-aware edges: every type with an empty payload (the typed ones then fail
    # to unpack: counted, not fatal), the largest payload as one 0xFF run after another,
    # bodies whose runs end exactly at 254 and 255 bytes, CRCs holding 0x00 bytes, the
    # non-canonical trailing 01, and one frame cut across many reads.
    types = (0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x81, 0x82, 0x83, 0x84, 0x85, 0x7F)
    dec["every_type_empty"] = b"\x00\x00" + b"".join(frame(t, b"", seq=i) for i, t in enumerate(types))
    dec["max_payload_nonzero"] = b"\x00\x00" + frame(0x02, b"\xff" * 478, seq=1, port=3, flags=7)
    for n in (244, 245, 246):  # header 10 + n: the first run ends at 254, 255, 256 bytes
        dec["run_edge_%d" % n] = b"\x03\x00" + frame(0x04, b"\x06" + b"x" * (n - 1), seq=n,
                                                     port=1, flags=1)
    seq = next(q for q in range(1 << 16) if b"\x00" in struct.pack("<I", crc32c(
        struct.pack("<BBBBIH", 1, 0x83, 0, 0, q, 0))))
    dec["crc_with_zero"] = b"\x00\x00" + frame(0x83, b"", seq=seq)
    seq = next(q for q in range(1 << 24) if struct.pack("<I", crc32c(
        struct.pack("<BBBBIH", 1, 0x83, 0, 0, q, 0)))[-1] == 0)
    dec["crc_ends_in_zero"] = b"\x00\x00" + frame(0x83, b"", seq=seq)
    dec["noncanonical_trailing_01"] = b"\x00\x00" + wire["ping"][:-1] + b"\x01\x00" + wire["ping"]
    dec["split_single_bytes"] = b"\x01\x00" + frame(0x02, bytes(range(1, 200)), seq=5)
    dec["split_small_pieces"] = b"\x03\x00" + frame(0x02, bytes(range(256)) * 1 + b"\x00" * 200,
                                                      seq=6)
    dec["delimiter_inside_frame"] = b"\x01\x00" + wire["data"][:15] + b"\x00" + wire["data"][15:]
    dec["seq_wrap"] = b"\x00\x00" + frame(0x03, struct.pack("<Q", 1), seq=0xFFFFFFFF) + \
        frame(0x03, struct.pack("<Q", 2), seq=0)
    dec["one_over_max"] = b"\x00\x00" + cobs_encode(body(0x02, b"\x01" * 478) + b"\x01") + \
        b"\x00" + wire["ping"]

    pay = {}
    for k, v in wire.items():
        b = cobs_decode(v[:-1])
        pay["body_" + k] = b  # parsed as a raw body: a valid frame
        pay["payload_" + k] = bytes([b[1], b[2]]) + b[10:-4]
    pay["heartbeat_13"] = bytes([0x03, 0]) + struct.pack("<Q13I", 2000000, *range(13))
    pay["heartbeat_20"] = bytes([0x03, 0]) + struct.pack("<Q20I", 1, *range(20))
    pay["log"] = bytes([0x04, 0, 6]) + b"capture ring 75% full"
    pay["sync"] = bytes([0x82, 0]) + struct.pack("<Q", 1700000000123456789)
    pay["sync_reply"] = bytes([0x05, 0]) + struct.pack("<QQQ", 1, 1000, 1010)
    pay["ack"] = bytes([0x06, 0]) + struct.pack("<IBBH", 41, 0x81, 0, 7)
    pay["config"] = bytes([0x84, 1]) + struct.pack("<BIBIBI", 1, 2000, 2, 0x0A, 5, 115200)
    pay["send"] = bytes([0x81, 2]) + b"AT+RST\r\n"
    pay["boot_info"] = bytes([0x07, 0]) + bytes.fromhex(
        "0108deadbeef0102030402050100127a00030972706d73672d747479040501d4c3b2a10511000a00"
        "0000070000000100000002000000")
    pay["boot_info_edges"] = bytes([0x07, 0]) + b"\x01\x40" + b"\xab" * 64 + b"\x04\x05\x00" + \
        b"\x00" * 4 + b"\x09\x00" + b"\x05\x16" + b"\x11" * 22 + b"\x03\x01x"
    pay["hello_max_name"] = bytes([0x01, 0]) + struct.pack("<IIQHH", 1, 2, 3, 478, 8) + \
        b"\xff" * 458
    pay["data_max"] = bytes([0x02, 5]) + struct.pack("<QQ", 1, 2) + b"\x00" * 462
    pay["heartbeat_partial"] = bytes([0x03, 0]) + struct.pack("<Q", 1) + b"\x01\x02"
    pay["log_level8"] = bytes([0x04, 0, 8]) + b"x"
    pay["config_max"] = bytes([0x84, 1]) + bytes([1, 0, 0, 0, 0]) * 95

    for name, seeds in (("decoder", dec), ("payloads", pay)):
        d = os.path.join(root, name)
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
        for k, v in seeds.items():
            with open(os.path.join(d, k), "wb") as fh:
                fh.write(v)
    return 0


if __name__ == "__main__":
    sys.exit(main())
