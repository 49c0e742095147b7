#!/usr/bin/env python3
"""gen_vectors.py — writes vectors/*.json from the independent Python
reference (pt_ref.py). See vectors/README.md for what each field means.

    python3 vectors/gen/gen_vectors.py           regenerate the files
    python3 vectors/gen/gen_vectors.py --check   compare with the files on
                                                 disk; exit 1 on a difference

Everything is deterministic: keys, ephemerals, randoms and padding bytes
come from det(label, n), a SHA-256 counter stream over a fixed label, so two
runs give identical files. Before anything is written (or compared), the
reference checks itself against RFC 8439, RFC 7748 and every Noise IK
vector in ../shared/vectors/noise/ (third-party data, read in place and
never copied into this repository).
"""

import argparse
import glob
import hashlib
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep vectors/gen/ free of __pycache__
sys.path.insert(0, HERE)

import pt_ref as R  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT_DIR = os.path.join(ROOT, "vectors")
NOISE_DIR = os.environ.get("PT_SHARED_DIR", os.path.join(ROOT, "..", "shared"))
NOISE_DIR = os.path.join(NOISE_DIR, "vectors", "noise")

PATTERN = "i % 251"  # the only payload pattern: byte i of the payload is i % 251
WIRE_INLINE_MAX = 2048  # larger wires are given as sha256 + first 64 bytes


def det(label, n):
    """n deterministic bytes: SHA-256("pt-vectors/" label || u32 counter) ..."""
    out = b""
    ctr = 0
    while len(out) < n:
        out += hashlib.sha256(b"pt-vectors/" + label.encode() + struct.pack(">I", ctr)).digest()
        ctr += 1
    return out[:n]


def u32(v):
    return struct.pack(">I", v)


def pattern_bytes(n):
    return bytes(i % 251 for i in range(n))


def hx(b):
    return b.hex()


# ---------------------------------------------------------------------------
# self-checks


def run_selfchecks():
    lines = []
    lines += R.selfcheck_rfc8439()
    lines += R.selfcheck_rfc7748()
    files = sorted(glob.glob(os.path.join(NOISE_DIR, "*.json")))
    if not files:
        # The standard vectors are third-party data kept in ../shared, not in
        # this repository: without them the Noise layer of the reference is
        # unchecked, so nothing is generated or compared (77 = skipped).
        print(f"gen_vectors: no Noise vectors in {NOISE_DIR} — SKIPPED")
        raise SystemExit(77)
    total = 0
    for f in files:
        with open(f, encoding="utf-8") as fh:
            vecs = json.load(fh)["vectors"]
        for v in vecs:
            R.selfcheck_noise_vector(v)
            total += 1
        lines.append(f"Noise {os.path.basename(f)}: {len(vecs)}/{len(vecs)}")
    lines.append(f"Noise IK vectors: {total} passed")
    return lines


# ---------------------------------------------------------------------------
# frames.json


def frame_entry(d, opener, ftype, sid, payload, pad, padding=None, use_pattern=False):
    """Seals one frame with |d| (a pt_ref.FrameDir), opens it again with
    |opener|, and returns its JSON entry."""
    n = d.n
    wire = d.seal(ftype, sid, payload, pad)
    consumed, got = opener.open(wire)
    assert consumed == len(wire) and got["type"] == ftype and got["stream_id"] == sid
    assert got["payload"] == payload and got["pad"] == pad
    e = {"n": n, "type": ftype, "type_name": R.TYPE_NAMES[ftype], "stream_id": sid,
         "payload_len": len(payload)}
    if use_pattern:
        assert payload == pattern_bytes(len(payload))
        e["payload_pattern"] = PATTERN
    else:
        e["payload"] = hx(payload)
    if padding is not None:
        e["padding"] = padding
        assert padding["pad_len"] == len(pad)
    e["pad"] = hx(pad)
    e["wire_len"] = len(wire)
    if len(wire) <= WIRE_INLINE_MAX:
        e["wire"] = hx(wire)
    else:
        e["wire_sha256"] = hashlib.sha256(wire).hexdigest()
        e["wire_head"] = hx(wire[:64])
    if ftype == R.KEY_UPDATE:
        e["rekeyed_k_data"] = hx(d.k_data)
        e["rekeyed_k_len"] = hx(d.k_len)
        assert (opener.dir.k_data, opener.dir.k_len) == (d.k_data, d.k_len)
    return e


def padding_info(strategy, payload_len, rnd=0, block=64, min_size=64):
    pl = R.pad_len(strategy, payload_len, rnd=rnd, block=block, min_size=min_size)
    return {"strategy": strategy, "block": block, "min_size": min_size, "rnd": rnd, "pad_len": pl}


def new_sequence(name, desc, k):
    d = R.FrameDir(k)
    return d, R.FrameOpener(k), {"name": name, "description": desc, "k": hx(k),
                                 "k_data": hx(d.k_data), "k_len": hx(d.k_len), "frames": []}


def seq_sizes():
    k = det("frames/sizes/k", 32)
    d, o, seq = new_sequence("sizes", "DATA frames of every size class up to the maximum "
                             "payload (65257) and the largest wire frame (65537 bytes)", k)
    cases = [  # (payload_len, pad_len)
        (0, 0), (1, 0), (5, 3), (100, 0), (1000, 24), (16384, 0), (65257, 0), (65257, 255),
        (0, 255), (65000, 1)]
    for i, (plen, padl) in enumerate(cases):
        big = plen > 1000
        payload = pattern_bytes(plen) if big else det(f"frames/sizes/{i}/payload", plen)
        pad = det(f"frames/sizes/{i}/pad", padl)
        seq["frames"].append(frame_entry(d, o, R.DATA, 1 + 2 * i, payload, pad, use_pattern=big))
    return seq


def seq_types():
    k = det("frames/types/k", 32)
    d, o, seq = new_sequence("types", "every frame type with valid payloads, then KEY_UPDATE, "
                             "frames under the rekeyed keys, and a second KEY_UPDATE", k)
    addr = R.addr_encode(R.ATYP_DOMAIN, b"example.com", 443)
    ping = det("frames/types/ping", 8)
    frames = [
        (R.STREAM_OPEN, 1, addr),
        (R.STREAM_OPEN, 1, R.addr_encode(R.ATYP_IPV4, bytes(4), 0)),
        (R.DATA, 1, b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"),
        (R.DATA, R.STREAM_ID_MAX, b"\x00"),
        (R.WINDOW_UPDATE, 1, struct.pack(">I", 65536)),
        (R.WINDOW_UPDATE, 0, struct.pack(">I", 0x7FFFFFFF)),
        (R.WINDOW_UPDATE, 3, struct.pack(">I", 1)),
        (R.PING, 0, ping),
        (R.PONG, 0, ping),
        (R.STREAM_CLOSE, 1, b""),
        (R.STREAM_CLOSE, 3, struct.pack(">I", 0x08)),  # CONNECT_ERROR
        (R.STREAM_CLOSE, 5, struct.pack(">I", 0xDEADBEEF)),  # unknown code: still valid
        (R.PADDING, 0, b""),
        (R.PADDING, 0, det("frames/types/padding", 100)),
        (R.GOAWAY, 0, struct.pack(">II", 0xFFFFFF, 0x00)),
        (R.GOAWAY, 0, struct.pack(">II", 7, 0x01)),
        (R.KEY_UPDATE, 0, b""),
        (R.DATA, 1, b"after the first rekey"),
        (R.PING, 0, det("frames/types/ping2", 8)),
        (R.KEY_UPDATE, 0, b""),
        (R.DATA, 1, b"after the second rekey"),
    ]
    for i, (t, sid, payload) in enumerate(frames):
        pad = det(f"frames/types/{i}/pad", i % 4)
        seq["frames"].append(frame_entry(d, o, t, sid, payload, pad))
    return seq


PAD_CASES = [  # (strategy, payload_len, rnd, block, min_size)
    (R.PAD_NONE, 0, 0, 64, 64),
    (R.PAD_NONE, 5, 200, 64, 64),
    (R.PAD_BLOCK, 0, 0, 64, 64),
    (R.PAD_BLOCK, 5, 0, 64, 64),
    (R.PAD_BLOCK, 57, 0, 64, 64),
    (R.PAD_BLOCK, 58, 0, 64, 64),
    (R.PAD_BLOCK, 100, 0, 64, 64),
    (R.PAD_BLOCK, 1000, 0, 64, 64),
    (R.PAD_BLOCK, 9, 0, 16, 0),
    (R.PAD_BLOCK, 10, 0, 16, 0),
    (R.PAD_BLOCK, 1000, 0, 256, 64),
    (R.PAD_BLOCK, 250, 0, 256, 0),
    (R.PAD_BLOCK, 5, 0, 1, 64),
    (R.PAD_BLOCK, 100, 0, 1, 0),
    (R.PAD_BLOCK, 65257, 0, 64, 64),
    (R.PAD_RANDOM, 5, 0, 64, 64),
    (R.PAD_RANDOM, 5, 7, 64, 64),
    (R.PAD_RANDOM, 5, 200, 64, 64),
    (R.PAD_RANDOM, 1000, 255, 64, 64),
    (R.PAD_RANDOM, 1000, 0, 64, 64),
    (R.PAD_RANDOM, 0, 7, 64, 0),
    (R.PAD_POWER_OF_TWO, 0, 0, 64, 0),
    (R.PAD_POWER_OF_TWO, 1, 0, 64, 0),
    (R.PAD_POWER_OF_TWO, 5, 0, 64, 64),
    (R.PAD_POWER_OF_TWO, 5, 0, 64, 0),
    (R.PAD_POWER_OF_TWO, 100, 0, 64, 64),
    (R.PAD_POWER_OF_TWO, 249, 0, 64, 64),
    (R.PAD_POWER_OF_TWO, 250, 0, 64, 64),
    (R.PAD_POWER_OF_TWO, 251, 0, 64, 64),
    (R.PAD_POWER_OF_TWO, 1000, 0, 64, 64),
    (R.PAD_POWER_OF_TWO, 16377, 0, 64, 64),
    (R.PAD_POWER_OF_TWO, 16384, 0, 64, 64),
    (R.PAD_BLOCK, 0, 0, 64, 262),
    (R.PAD_RANDOM, 0, 0, 64, 262),
    (R.PAD_POWER_OF_TWO, 0, 0, 64, 262),
    (R.PAD_NONE, 0, 0, 64, 262),
]


def pad_len_table():
    out = []
    for strategy, plen, rnd, block, min_size in PAD_CASES:
        e = {"payload_len": plen}
        e.update(padding_info(strategy, plen, rnd=rnd, block=block, min_size=min_size))
        out.append(e)
    return out


def seq_padding():
    k = det("frames/padding/k", 32)
    d, o, seq = new_sequence("padding", "one DATA frame per padding strategy (min_size 64): "
                             "pad_len from pt_frame_pad_len, then sealed with fixed bytes", k)
    cases = [  # (strategy, payload_len, rnd, block)
        (R.PAD_NONE, 5, 0, 64),
        (R.PAD_BLOCK, 5, 0, 64),
        (R.PAD_BLOCK, 100, 0, 64),
        (R.PAD_RANDOM, 5, 0x9C, 64),
        (R.PAD_RANDOM, 5, 0x10, 64),
        (R.PAD_POWER_OF_TWO, 5, 0, 64),
        (R.PAD_POWER_OF_TWO, 100, 0, 64),
        (R.PAD_POWER_OF_TWO, 250, 0, 64),
    ]
    for i, (strategy, plen, rnd, block) in enumerate(cases):
        info = padding_info(strategy, plen, rnd=rnd, block=block, min_size=64)
        payload = det(f"frames/padding/{i}/payload", plen)
        pad = det(f"frames/padding/{i}/pad", info["pad_len"])
        seq["frames"].append(frame_entry(d, o, R.DATA, 1, payload, pad, padding=info))
    return seq


def b1_entry():
    """Draft appendix B.1: DATA, stream 42, "Hello", pad a1 b2 c3."""
    k = det("frames/b1/k", 32)
    d = R.FrameDir(k)
    payload, pad = b"Hello", bytes.fromhex("a1b2c3")
    plain = R.frame_plaintext(R.DATA, 42, payload, pad)
    assert plain.hex() == "0000002a000503" + "48656c6c6f" + "a1b2c3"
    e = {"k": hx(k), "k_data": hx(d.k_data), "k_len": hx(d.k_len), "n": 0, "type": R.DATA,
         "stream_id": 42, "payload": hx(payload), "pad": hx(pad), "plaintext": hx(plain)}
    wire = d.seal(R.DATA, 42, payload, pad)
    e["len"] = len(plain) + R.TAG_LEN
    e["len_mask"] = hx(R.len_mask(R.frame_keys(k)[1], 0))
    e["wire"] = hx(wire)
    _, got = R.FrameOpener(k).open(wire)
    assert got["payload"] == payload
    return e


def invalid_frames():
    """Properly encrypted frames that break a rule; each is the first frame
    (n = 0) of a fresh opener with key k."""
    k = det("frames/invalid/k", 32)
    out = []

    def add(name, why, err, wire=None, plain=None, big=None):
        d = R.FrameDir(k)
        if wire is None:
            wire = d.seal_plaintext(plain)
        e = {"name": name, "why": why, "error": err, "k": hx(k), "wire_len": len(wire)}
        if big is None:
            e["wire"] = hx(wire)
        else:
            # Too large to inline: the C test rebuilds it from these fields
            # (enc_len || AEAD(K_data, 0, enc_len, plaintext_hdr || pattern))
            # and checks the sha256 before opening it.
            e.update(big)
            e["wire_sha256"] = hashlib.sha256(wire).hexdigest()
            e["wire_head"] = hx(wire[:64])
        try:
            R.FrameOpener(k).open(wire)
            raise AssertionError(f"invalid frame {name} opened")
        except R.PtError as ex:
            assert ex.name == err, (name, ex.name, err)
        out.append(e)

    P = R.frame_plaintext
    add("ping_7_bytes", "PING payload must be 8 bytes (§6.3)", R.PROTO,
        plain=P(R.PING, 0, b"\x01" * 7, b""))
    add("ping_9_bytes", "PING payload must be 8 bytes (§6.3)", R.PROTO,
        plain=P(R.PING, 0, b"\x01" * 9, b""))
    add("pong_on_stream", "PONG stream ID must be 0 (§6.3)", R.PROTO,
        plain=P(R.PONG, 3, b"\x02" * 8, b""))
    add("data_stream_0", "DATA stream ID must not be 0 (§6.3)", R.PROTO,
        plain=P(R.DATA, 0, b"x", b""))
    add("open_stream_0", "STREAM_OPEN stream ID must not be 0 (§6.3)", R.PROTO,
        plain=P(R.STREAM_OPEN, 0, R.addr_encode(R.ATYP_IPV4, bytes(4), 0), b""))
    add("close_stream_0", "STREAM_CLOSE stream ID must not be 0 (§6.3)", R.PROTO,
        plain=P(R.STREAM_CLOSE, 0, b"", b""))
    add("close_3_bytes", "STREAM_CLOSE payload is empty or 4 bytes (§6.3)", R.PROTO,
        plain=P(R.STREAM_CLOSE, 1, b"\x00\x00\x01", b""))
    add("window_update_3_bytes", "WINDOW_UPDATE payload is 4 bytes (§6.3)", R.PROTO,
        plain=P(R.WINDOW_UPDATE, 1, b"\x00\x00\x01", b""))
    add("window_update_zero", "WINDOW_UPDATE increment 0 is invalid (§6.3)", R.PROTO,
        plain=P(R.WINDOW_UPDATE, 1, u32(0), b""))
    add("window_update_2^31", "WINDOW_UPDATE increment must be 1..2^31-1 (§6.3 table)", R.PROTO,
        plain=P(R.WINDOW_UPDATE, 0, u32(0x80000000), b""))
    add("window_update_max_u32", "WINDOW_UPDATE increment must be 1..2^31-1 (§6.3 table)", R.PROTO,
        plain=P(R.WINDOW_UPDATE, 1, u32(0xFFFFFFFF), b""))
    add("goaway_on_stream", "GOAWAY stream ID must be 0 (§6.3)", R.PROTO,
        plain=P(R.GOAWAY, 1, u32(0) + u32(0), b""))
    add("goaway_7_bytes", "GOAWAY payload is 8 bytes (§6.3)", R.PROTO,
        plain=P(R.GOAWAY, 0, b"\x00" * 7, b""))
    add("goaway_last_id_25_bits", "GOAWAY last stream ID must be <= 0xFFFFFF (§6.3)", R.PROTO,
        plain=P(R.GOAWAY, 0, u32(0x01000000) + u32(0), b""))
    add("padding_on_stream", "PADDING stream ID must be 0 (§6.3)", R.PROTO,
        plain=P(R.PADDING, 1, b"", b""))
    add("key_update_payload", "KEY_UPDATE payload is empty (§6.3)", R.PROTO,
        plain=P(R.KEY_UPDATE, 0, b"\x00", b""))
    add("key_update_on_stream", "KEY_UPDATE stream ID must be 0 (§6.3)", R.PROTO,
        plain=P(R.KEY_UPDATE, 1, b"", b""))
    add("type_0x09", "unknown frame type (§6.3)", R.PROTO, plain=P(0x09, 0, b"", b""))
    add("type_0xff", "unknown frame type (§6.3)", R.PROTO, plain=P(0xFF, 1, b"abc", b""))

    # len < 23: the prefix decodes to 22 / 0; the bytes after it do not matter.
    mask = R.len_mask(R.frame_keys(k)[1], 0)
    for ln in (22, 0):
        wire = bytes([(ln >> 8) ^ mask[0], (ln & 0xFF) ^ mask[1]])
        wire += det(f"frames/invalid/len{ln}", 32)
        add(f"len_{ln}", "len < 23 is FRAME_SIZE_ERROR (§6.2 step 1)", R.FRAME_SIZE, wire=wire)

    # Header lengths that do not account for the authenticated bytes.
    def raw_hdr(t, sid, plen, padl):
        return bytes([t]) + sid.to_bytes(3, "big") + struct.pack(">HB", plen, padl)

    add("hdr_payload_len_too_big", "7 + payload len + pad len + 16 != len (§6.2 step 3)",
        R.FRAME_SIZE, plain=raw_hdr(R.DATA, 1, 6, 0) + b"Hello")
    add("hdr_payload_len_too_small", "7 + payload len + pad len + 16 != len (§6.2 step 3)",
        R.FRAME_SIZE, plain=raw_hdr(R.DATA, 1, 4, 0) + b"Hello")
    add("hdr_pad_len_too_big", "7 + payload len + pad len + 16 != len (§6.2 step 3)",
        R.FRAME_SIZE, plain=raw_hdr(R.DATA, 1, 5, 4) + b"Hello" + b"\x00" * 3)
    add("hdr_pad_len_without_bytes", "pad len 1 but no padding byte follows the header: "
        "7 + 0 + 1 + 16 != len 23 (§6.2 step 3)", R.FRAME_SIZE,
        plain=raw_hdr(R.PADDING, 0, 0, 1))

    # Authentication failures.
    good = R.FrameDir(k).seal(R.DATA, 1, b"Hello", bytes.fromhex("a1b2c3"))
    assert (len(good) - 2) % 2 == 1  # odd len: flipping bit 0 of the prefix gives len - 1
    t = bytearray(good)
    t[-1] ^= 0x80
    add("tampered_tag", "bad tag (§6.2 step 2)", R.DECRYPT, wire=bytes(t))
    t = bytearray(good)
    t[2] ^= 0x01
    add("tampered_ciphertext", "bad tag (§6.2 step 2)", R.DECRYPT, wire=bytes(t))
    t = bytearray(good)
    t[1] ^= 0x01
    add("tampered_prefix", "prefix changed to len - 1: the AD and the body no longer match "
        "(§6.2 step 2)", R.DECRYPT, wire=bytes(t))

    # payload len 65258 (one more than the maximum) with no padding.
    plen = R.MAX_PAYLOAD + 1
    hdr = raw_hdr(R.DATA, 1, plen, 0)
    plain = hdr + pattern_bytes(plen)
    d = R.FrameDir(k)
    wire = d.seal_plaintext(plain)
    add("payload_65258", "payload len > 65257 is FRAME_SIZE_ERROR (§6.2 'the real maximum')",
        R.FRAME_SIZE, wire=wire,
        big={"enc_len": hx(wire[:2]), "plaintext_hdr": hx(hdr), "payload_len": plen,
             "payload_pattern": PATTERN})
    return out


def gen_frames():
    return {
        "description": "Phantom Tunnel frames (PROTOCOL.md §6, §9.1), generated by "
                       "vectors/gen/gen_vectors.py; see vectors/README.md",
        "b1": b1_entry(),
        "pad_len": pad_len_table(),
        "sequences": [seq_sizes(), seq_types(), seq_padding()],
        "invalid": invalid_frames(),
    }


# ---------------------------------------------------------------------------
# handshake_payload.json


def payload_json(p):
    return {"version": p["version"], "flags": p["flags"], "timestamp": p["timestamp"],
            "random": hx(p["random"]), "settings": dict(p["settings"])}


def mk_payload(label, version=1, flags=0, timestamp=1700000000, **settings):
    s = dict(R.DEFAULT_SETTINGS)
    s.update(settings)
    return {"version": version, "flags": flags, "timestamp": timestamp,
            "random": det(label + "/random", 16), "settings": s}


def gen_handshake_payload():
    valid = []

    def add_valid(name, p, pad_tlv_len):
        pad = det(f"hsp/{name}/pad", pad_tlv_len - 3) if pad_tlv_len else b""
        enc = R.payload_encode(p, pad if pad_tlv_len else None)
        dec = R.payload_decode(enc)
        assert dec["settings"] == p["settings"] and dec["flags"] == p["flags"] & 1
        e = {"name": name}
        e.update(payload_json(p))
        e.update({"pad_tlv_len": pad_tlv_len, "pad": hx(pad), "encoded": hx(enc)})
        valid.append(e)

    add_valid("defaults", mk_payload("hsp/defaults"), 0)
    add_valid("flag_padding_empty_pad_tlv", mk_payload("hsp/f", flags=1, timestamp=0), 3)
    add_valid("pad_tlv_20", mk_payload("hsp/p20", timestamp=1712345678), 20)
    add_valid("all_settings", mk_payload("hsp/all", flags=1, stream_window=1048576,
                                         conn_window=16777216, max_streams=256), 0)
    add_valid("all_settings_padded", mk_payload("hsp/allp", stream_window=65536,
                                                conn_window=131072, max_streams=100), 57)
    add_valid("maximum_settings", mk_payload("hsp/max", timestamp=0x7FFFFFFFFFFFFFFF,
                                             stream_window=16777215, conn_window=0x7FFFFFFF,
                                             max_streams=8388608), 0)
    add_valid("minimum_settings", mk_payload("hsp/min", stream_window=1, conn_window=1,
                                             max_streams=0), 0)
    add_valid("one_setting", mk_payload("hsp/one", conn_window=1 << 20), 4)
    add_valid("version_2", mk_payload("hsp/v2", version=2), 0)
    add_valid("version_255", mk_payload("hsp/v255", version=255, flags=1), 0)

    fixed = struct.pack(">BBQ", 1, 0, 1700000000) + det("hsp/tol/random", 16)
    base = {"version": 1, "timestamp": 1700000000, "random": det("hsp/tol/random", 16)}

    def tlv(t, v):
        return struct.pack(">BH", t, len(v)) + v

    tolerated = []

    def add_tol(name, enc, flags=0, **settings):
        s = dict(R.DEFAULT_SETTINGS)
        s.update(settings)
        dec = R.payload_decode(enc)
        want = dict(base, flags=flags, settings=s)
        assert dec == want, (name, dec, want)
        tolerated.append({"name": name, "encoded": hx(enc), "decoded": payload_json(want)})

    def with_flags(f):
        return struct.pack(">BBQ", 1, f, 1700000000) + det("hsp/tol/random", 16)

    add_tol("reserved_flags_ignored", with_flags(0xFE), flags=0)
    add_tol("all_flags_set", with_flags(0xFF), flags=1)
    add_tol("compression_flag_ignored", with_flags(0x03), flags=1)
    add_tol("unknown_tlv_0x04", fixed + tlv(0x04, b"\x01\x02\x03"))
    add_tol("unknown_tlv_0xff_empty", fixed + tlv(0xFF, b""))
    add_tol("unknown_tlv_0x05_4_bytes_twice", fixed + tlv(0x05, u32(0)) + tlv(0x05, u32(0)))
    add_tol("settings_reverse_order", fixed + tlv(3, u32(7)) + tlv(2, u32(99999)) + tlv(1, u32(5)),
            stream_window=5, conn_window=99999, max_streams=7)
    add_tol("padding_first_and_twice", fixed + tlv(0, b"\x00" * 5) + tlv(1, u32(77)) + tlv(0, b""),
            stream_window=77)
    add_tol("setting_equal_to_default", fixed + tlv(3, u32(1024)), max_streams=1024)
    add_tol("unknown_tlv_between_settings", fixed + tlv(1, u32(1)) + tlv(0x10, b"\xff" * 9)
            + tlv(3, u32(8388608)), stream_window=1, max_streams=8388608)

    invalid = []

    def add_inv(name, enc, why):
        try:
            R.payload_decode(enc)
            raise AssertionError(f"invalid payload {name} decoded")
        except R.PtError as ex:
            assert ex.name == R.PROTO
        invalid.append({"name": name, "why": why, "encoded": hx(enc), "error": R.PROTO})

    add_inv("empty", b"", "shorter than the fixed part (26)")
    add_inv("short_25", fixed[:25], "shorter than the fixed part (26)")
    add_inv("version_0", b"\x00" + fixed[1:], "version 0 is invalid (§5.4, §5.5)")
    add_inv("tlv_header_1_byte", fixed + b"\x00", "TLV header truncated")
    add_inv("tlv_header_2_bytes", fixed + b"\x00\x00", "TLV header truncated")
    add_inv("tlv_overrun", fixed + b"\x00\x00\x05" + b"\x00" * 4, "TLV overruns the payload")
    add_inv("setting_overrun", fixed + b"\x01\x00\x04" + b"\x00\x01\x00",
            "TLV overruns the payload")
    add_inv("unknown_tlv_overrun", fixed + b"\x09\xff\xff" + b"\x00" * 10,
            "TLV overruns the payload")
    add_inv("duplicate_stream_window", fixed + tlv(1, u32(100)) + tlv(1, u32(100)), "setting twice")
    add_inv("duplicate_max_streams", fixed + tlv(3, u32(1)) + tlv(0, b"") + tlv(3, u32(2)),
            "setting twice")
    add_inv("stream_window_len_3", fixed + tlv(1, b"\x00\x10\x00"), "setting length is not 4")
    add_inv("conn_window_len_5", fixed + tlv(2, b"\x00" + u32(100)), "setting length is not 4")
    add_inv("max_streams_len_0", fixed + tlv(3, b""), "setting length is not 4")
    add_inv("stream_window_0", fixed + tlv(1, u32(0)), "STREAM_WINDOW outside 1..16777215")
    add_inv("stream_window_16777216", fixed + tlv(1, u32(16777216)),
            "STREAM_WINDOW outside 1..16777215")
    add_inv("conn_window_0", fixed + tlv(2, u32(0)), "CONN_WINDOW outside 1..2^31-1")
    add_inv("conn_window_2^31", fixed + tlv(2, u32(0x80000000)), "CONN_WINDOW outside 1..2^31-1")
    add_inv("max_streams_8388609", fixed + tlv(3, u32(8388609)), "MAX_STREAMS outside 0..8388608")
    add_inv("max_streams_max_u32", fixed + tlv(3, u32(0xFFFFFFFF)),
            "MAX_STREAMS outside 0..8388608")

    encode_invalid = [
        {"name": "pad_tlv_len_1", "pad_tlv_len": 1, "error": R.INVAL,
         "why": "C API: a PADDING TLV is at least its 3-byte header"},
        {"name": "pad_tlv_len_2", "pad_tlv_len": 2, "error": R.INVAL,
         "why": "C API: a PADDING TLV is at least its 3-byte header"},
    ]
    return {
        "description": "Handshake payload encodings (PROTOCOL.md §5.4), generated by "
                       "vectors/gen/gen_vectors.py; see vectors/README.md",
        "valid": valid,
        "tolerated": tolerated,
        "invalid": invalid,
        "encode_invalid": encode_invalid,
    }


# ---------------------------------------------------------------------------
# handshake.json


def first_frame(label, d, opener, ftype, sid, payload, padding):
    pad = det(f"{label}/pad", padding["pad_len"])
    n = d.n
    wire = d.seal(ftype, sid, payload, pad)
    _, got = opener.open(wire)
    assert got["payload"] == payload
    return {"n": n, "type": ftype, "type_name": R.TYPE_NAMES[ftype], "stream_id": sid,
            "payload": hx(payload), "padding": padding, "pad": hx(pad), "wire_len": len(wire),
            "wire": hx(wire)}


def handshake_case(name, desc, transport, cp, cnl, sp, snl, c_pad_policy, s_pad_policy, reply_addr):
    lab = f"hs/{name}"
    c_s, s_s = det(lab + "/client_static", 32), det(lab + "/server_static", 32)
    c_e, s_e = det(lab + "/client_ephemeral", 32), det(lab + "/server_ephemeral", 32)
    c_pub, s_pub = R.x25519_pub(c_s), R.x25519_pub(s_s)
    pro = R.prologue(transport)

    ini = R.NoiseIK(True, "SHA256", pro, c_s, rs=s_pub, e_priv=c_e)
    resp = R.NoiseIK(False, "SHA256", pro, s_s, e_priv=s_e)

    c_plain, c_pad = R.build_payload(cp, cnl, R.MSG1_OVERHEAD,
                                     lambda n: det(lab + "/client_pad", n))
    m1 = ini.write_message1(c_plain)
    msg1 = R.frame_u16(m1)
    assert len(m1) == R.MSG1_OVERHEAD + len(c_plain) and len(m1) >= R.MSG1_MIN
    got = resp.read_message1(m1)
    assert got == c_plain and resp.rs == c_pub
    assert R.payload_decode(got)["settings"] == cp["settings"]

    s_plain, s_pad = R.build_payload(sp, snl, R.MSG2_OVERHEAD,
                                     lambda n: det(lab + "/server_pad", n))
    m2 = resp.write_message2(s_plain)
    msg2 = R.frame_u16(m2)
    assert ini.read_message2(m2) == s_plain and len(m2) >= R.MSG2_MIN
    assert ini.handshake_hash == resp.handshake_hash
    c1, c2 = ini.split()
    r1, r2 = resp.split()
    assert (c1.k, c2.k) == (r1.k, r2.k)
    k1, k2 = c1.k, c2.k

    c_tx, s_rx = R.FrameDir(k1), R.FrameOpener(k1)
    s_tx, c_rx = R.FrameDir(k2), R.FrameOpener(k2)
    open_payload = R.addr_encode(R.ATYP_DOMAIN, b"example.com", 443)
    assert open_payload.hex() == "030b6578616d706c652e636f6d01bb"  # PROTOCOL.md §15
    f_c = first_frame(lab + "/c2s", c_tx, s_rx, R.STREAM_OPEN, 1, open_payload,
                      padding_info(*c_pad_policy[:1], len(open_payload), **c_pad_policy[1]))
    f_c["direction"] = "client_to_server"
    f_s = first_frame(lab + "/s2c", s_tx, c_rx, R.STREAM_OPEN, 1, reply_addr,
                      padding_info(*s_pad_policy[:1], len(reply_addr), **s_pad_policy[1]))
    f_s["direction"] = "server_to_client"

    def side(p, nl, pad, plain, overhead):
        base = len(R.payload_encode(p))
        return {"payload": payload_json(p), "noise_len": nl,
                "pad_tlv_len": R.pad_tlv_len_for(nl, overhead, base),
                "pad": hx(pad if pad is not None else b""), "payload_plain": hx(plain)}

    e = {"name": name, "description": desc, "transport": transport, "prologue": hx(pro),
         "client_static_priv": hx(c_s), "client_static_pub": hx(c_pub),
         "server_static_priv": hx(s_s), "server_static_pub": hx(s_pub),
         "client_ephemeral_priv": hx(c_e), "client_ephemeral_pub": hx(R.x25519_pub(c_e)),
         "server_ephemeral_priv": hx(s_e), "server_ephemeral_pub": hx(R.x25519_pub(s_e))}
    e["client"] = side(cp, cnl, c_pad, c_plain, R.MSG1_OVERHEAD)
    e["msg1"] = hx(msg1)
    e["server"] = side(sp, snl, s_pad, s_plain, R.MSG2_OVERHEAD)
    e["msg2"] = hx(msg2)
    e["handshake_hash"] = hx(ini.handshake_hash)
    e["k1"], e["k2"] = hx(k1), hx(k2)
    e["c2s_k_data"], e["c2s_k_len"] = hx(c_tx.k_data), hx(c_tx.k_len)
    e["s2c_k_data"], e["s2c_k_len"] = hx(s_tx.k_data), hx(s_tx.k_len)
    e["first_frames"] = [f_c, f_s]
    return e


def gen_handshake():
    ts = 1700000000
    none = (R.PAD_NONE, {})
    def rand(r):
        return (R.PAD_RANDOM, {"rnd": r, "min_size": 64})

    zero_addr = R.addr_encode(R.ATYP_IPV4, bytes(4), 0)
    cases = [
        handshake_case("tls_padded", "TLS; both sides pad to a chosen noise_len; client asks for "
                       "frame padding; default settings", R.TRANSPORT_TLS,
                       mk_payload("hs/tls_padded/c", flags=1, timestamp=ts), 300,
                       mk_payload("hs/tls_padded/s", timestamp=ts + 1), 200,
                       rand(0x2A), none, zero_addr),
        handshake_case("tcp_unpadded", "plain TCP; no padding (noise_len 0): message 1 is 124 "
                       "bytes and message 2 is 76 bytes with the prefix", R.TRANSPORT_TCP,
                       mk_payload("hs/tcp_unpadded/c", timestamp=ts + 10), 0,
                       mk_payload("hs/tcp_unpadded/s", timestamp=ts + 9), 0,
                       none, none, zero_addr),
        handshake_case("tls_settings", "TLS; non-default settings on both sides; the ends of the "
                       "§5.6 ranges (699, 1199)", R.TRANSPORT_TLS,
                       mk_payload("hs/tls_settings/c", flags=1, timestamp=ts + 20,
                                  stream_window=1048576, conn_window=16777216, max_streams=256),
                       699,
                       mk_payload("hs/tls_settings/s", flags=1, timestamp=ts + 21,
                                  stream_window=16777215, conn_window=0x7FFFFFFF,
                                  max_streams=8388608), 1199,
                       rand(0xF0), rand(0x00),
                       R.addr_encode(R.ATYP_IPV4, bytes([203, 0, 113, 7]), 54321)),
        handshake_case("websocket_pad_edges", "WebSocket transport id; client noise_len 2 bytes "
                       "above the bare message (no room for a TLV header: no padding), server "
                       "noise_len 3 above (an empty PADDING TLV)", R.TRANSPORT_WEBSOCKET,
                       mk_payload("hs/ws/c", timestamp=ts + 30), R.MSG1_MIN + 2,
                       mk_payload("hs/ws/s", timestamp=ts + 31), R.MSG2_MIN + 3,
                       (R.PAD_BLOCK, {"block": 64, "min_size": 64}),
                       (R.PAD_POWER_OF_TWO, {"min_size": 0}),
                       R.addr_encode(R.ATYP_IPV6, bytes(15) + b"\x01", 443)),
        handshake_case("tcp_max_len", "plain TCP; client noise_len 4096 (the maximum); server "
                       "noise_len 4097 is above the maximum and gives no padding (C API)",
                       R.TRANSPORT_TCP,
                       mk_payload("hs/max/c", timestamp=ts + 40, max_streams=1), R.MSG_MAX,
                       mk_payload("hs/max/s", timestamp=ts + 41), R.MSG_MAX + 1,
                       none, none, zero_addr),
    ]
    return {
        "description": "Complete Noise_IK_25519_ChaChaPoly_SHA256 handshakes with the Phantom "
                       "Tunnel prologue, payload and framing (PROTOCOL.md §5), generated by "
                       "vectors/gen/gen_vectors.py; see vectors/README.md",
        "protocol_name": "Noise_IK_25519_ChaChaPoly_SHA256",
        "handshakes": cases,
    }


# ---------------------------------------------------------------------------
# addresses.json


def gen_addresses():
    valid = []

    def add(name, atyp, host, port):
        enc = R.addr_encode(atyp, host, port)
        assert R.addr_decode(enc) == (atyp, host, port)
        e = {"name": name, "atyp": atyp}
        if atyp == R.ATYP_DOMAIN:
            e["domain"] = host.decode("ascii")
        else:
            e["ip"] = hx(host)
        e["port"] = port
        e["encoded"] = hx(enc)
        valid.append(e)

    add("ipv4", R.ATYP_IPV4, bytes([192, 0, 2, 1]), 80)
    add("ipv4_zero", R.ATYP_IPV4, bytes(4), 0)
    add("ipv4_broadcast_port_max", R.ATYP_IPV4, b"\xff" * 4, 65535)
    add("ipv6_loopback", R.ATYP_IPV6, bytes(15) + b"\x01", 443)
    add("ipv6_doc", R.ATYP_IPV6, bytes.fromhex("20010db8000000000000000000000001"), 8080)
    add("domain_example", R.ATYP_DOMAIN, b"example.com", 443)
    add("domain_1_byte", R.ATYP_DOMAIN, b"a", 1)
    add("domain_edge_bytes", R.ATYP_DOMAIN, b"!~x.y", 53)
    alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789-"
    long_name = bytes(alphabet[i % len(alphabet)] if i % 64 != 63 else ord(".") for i in range(255))
    add("domain_255_bytes", R.ATYP_DOMAIN, long_name, 65535)

    invalid = []

    def bad(name, enc, err, why):
        try:
            R.addr_decode(enc)
            raise AssertionError(f"invalid address {name} decoded")
        except R.PtError as ex:
            assert ex.name == err, (name, ex.name)
        invalid.append({"name": name, "why": why, "encoded": hx(enc), "error": err})

    v4 = R.addr_encode(R.ATYP_IPV4, bytes([192, 0, 2, 1]), 80)
    v6 = R.addr_encode(R.ATYP_IPV6, bytes(15) + b"\x01", 443)
    dom = R.addr_encode(R.ATYP_DOMAIN, b"example.com", 443)
    bad("atyp_0x00", b"\x00" + v4[1:], R.NOTFOUND, "unknown ATYP: ADDRESS_NOT_SUPPORTED (§7.2)")
    bad("atyp_0x02", b"\x02" + v4[1:], R.NOTFOUND, "unknown ATYP: ADDRESS_NOT_SUPPORTED (§7.2)")
    bad("atyp_0x05", b"\x05" + v6[1:], R.NOTFOUND, "unknown ATYP: ADDRESS_NOT_SUPPORTED (§7.2)")
    bad("atyp_0xff_alone", b"\xff", R.NOTFOUND, "unknown ATYP: ADDRESS_NOT_SUPPORTED (§7.2)")
    bad("empty", b"", R.PROTO, "truncated: no ATYP")
    bad("ipv4_truncated_address", v4[:4], R.PROTO, "truncated address")
    bad("ipv4_truncated_port", v4[:6], R.PROTO, "truncated port")
    bad("ipv4_trailing_byte", v4 + b"\x00", R.PROTO, "trailing byte")
    bad("ipv6_truncated", v6[:16], R.PROTO, "truncated address")
    bad("ipv6_no_port", v6[:17], R.PROTO, "truncated port")
    bad("ipv6_trailing_bytes", v6 + b"\x00\x00", R.PROTO, "trailing bytes")
    bad("domain_no_length", b"\x03", R.PROTO, "truncated: no length byte")
    bad("domain_empty", b"\x03\x00\x01\xbb", R.PROTO, "empty domain")
    bad("domain_truncated", dom[:8], R.PROTO, "length says 11, fewer bytes follow")
    bad("domain_no_port", dom[:-2], R.PROTO, "truncated port")
    bad("domain_trailing_byte", dom + b"\x2e", R.PROTO, "trailing byte")
    bad("domain_space", b"\x03\x0bexample com\x01\xbb", R.PROTO, "space (0x20) in the name")
    bad("domain_nul", b"\x03\x0bexample\x00com\x01\xbb", R.PROTO, "NUL in the name")
    bad("domain_tab", b"\x03\x0bexample\tcom\x01\xbb", R.PROTO, "control byte in the name")
    bad("domain_del", b"\x03\x0bexample\x7fcom\x01\xbb", R.PROTO, "0x7f in the name")
    bad("domain_high_byte", b"\x03\x0bexample\xc3com\x01\xbb", R.PROTO, "byte > 0x7e in the name")

    encode_invalid = []
    for name, host in [("empty", b""), ("space", b"exa mple.com"), ("nul", b"exa\x00mple.com"),
                       ("high_byte", b"caf\xc3\xa9.com"), ("too_long_256", b"a" * 256)]:
        try:
            R.addr_encode(R.ATYP_DOMAIN, host, 443)
            raise AssertionError(name)
        except R.PtError as ex:
            assert ex.name == R.INVAL
        encode_invalid.append({"name": f"domain_{name}", "domain_hex": hx(host), "port": 443,
                               "error": R.INVAL})
    return {
        "description": "STREAM_OPEN target addresses (PROTOCOL.md §7.2), generated by "
                       "vectors/gen/gen_vectors.py; see vectors/README.md",
        "valid": valid,
        "invalid": invalid,
        "encode_invalid": encode_invalid,
    }


# ---------------------------------------------------------------------------


GENERATORS = [
    ("frames.json", gen_frames),
    ("handshake_payload.json", gen_handshake_payload),
    ("handshake.json", gen_handshake),
    ("addresses.json", gen_addresses),
]


def render(obj):
    return json.dumps(obj, indent=2, ensure_ascii=True) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true",
                    help="compare generated output with the files on disk; exit 1 on a difference")
    args = ap.parse_args()

    for line in run_selfchecks():
        print(f"self-check: {line}")
    outputs = [(name, render(fn())) for name, fn in GENERATORS]

    if args.check:
        bad = 0
        for name, text in outputs:
            path = os.path.join(OUT_DIR, name)
            try:
                with open(path, encoding="utf-8") as fh:
                    disk = fh.read()
            except FileNotFoundError:
                disk = None
            if disk != text:
                print(f"DIFFERS: vectors/{name}" + (" (missing)" if disk is None else ""))
                bad += 1
            else:
                print(f"same: vectors/{name}")
        return 1 if bad else 0

    for name, text in outputs:
        path = os.path.join(OUT_DIR, name)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
        print(f"wrote vectors/{name} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
