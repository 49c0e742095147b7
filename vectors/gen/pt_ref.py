"""pt_ref.py — an independent reference of the Phantom Tunnel protocol
(docs/PROTOCOL.md), in pure Python 3.11 with the standard library only.

Nothing here is derived from the C code: the primitives are written from
their RFCs and the protocol layers from PROTOCOL.md. Where the C API makes
a choice the spec leaves to the implementation (how a Noise length target
becomes a PADDING TLV, which error value names a failure), the choice is
written out here and marked "C API".

  ChaCha20 ............. RFC 8439 §2.3, §2.4
  Poly1305 ............. RFC 8439 §2.5
  AEAD ChaCha20-Poly1305 RFC 8439 §2.8
  X25519 ............... RFC 7748 §5 (clamping in decode_scalar)
  HMAC ................. hmac module (RFC 2104), over hashlib SHA-256 / BLAKE2b
  Noise ................ Noise Protocol Framework rev. 34: HKDF §4.3, Rekey
                         §4.2, CipherState §5.1, SymmetricState §5.2,
                         HandshakeState §5.3, IK §7.5, psk §9
  Protocol ............. PROTOCOL.md §5 (handshake), §6 (frames), §7.2
                         (addresses), §9.1 (padding)

Performance matters only a little (the largest frame is 64 KiB): the
ChaCha20 block function is written out with local variables.
"""

import hashlib
import hmac
import struct

MASK32 = 0xFFFFFFFF


# ---------------------------------------------------------------------------
# Errors: the names the C code reports (core/pt_err.h), so a vector can say
# which error a decoder must give.


class PtError(Exception):
    """A decoding failure, named as the C error value ("PT_ERR_PROTO")."""

    def __init__(self, name, why=""):
        super().__init__(f"{name}: {why}")
        self.name = name
        self.why = why


PROTO = "PT_ERR_PROTO"
FRAME_SIZE = "PT_ERR_FRAME_SIZE"
DECRYPT = "PT_ERR_DECRYPT"
NOTFOUND = "PT_ERR_NOTFOUND"
INVAL = "PT_ERR_INVAL"
AGAIN = "PT_ERR_AGAIN"


# ---------------------------------------------------------------------------
# ChaCha20, RFC 8439 §2.3-2.4


def chacha20_block(key, counter, nonce):
    """RFC 8439 §2.3: one 64-byte block for a 32-byte key, a 32-bit block
    counter and a 12-byte nonce."""
    assert len(key) == 32 and len(nonce) == 12 and 0 <= counter <= MASK32
    init = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    init += list(struct.unpack("<8I", key))
    init.append(counter)
    init += list(struct.unpack("<3I", nonce))
    (x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15) = init
    M = MASK32
    for _ in range(10):
        # column rounds: (0,4,8,12) (1,5,9,13) (2,6,10,14) (3,7,11,15)
        x0 = (x0 + x4) & M; x12 ^= x0; x12 = ((x12 << 16) & M) | (x12 >> 16)
        x8 = (x8 + x12) & M; x4 ^= x8; x4 = ((x4 << 12) & M) | (x4 >> 20)
        x0 = (x0 + x4) & M; x12 ^= x0; x12 = ((x12 << 8) & M) | (x12 >> 24)
        x8 = (x8 + x12) & M; x4 ^= x8; x4 = ((x4 << 7) & M) | (x4 >> 25)
        x1 = (x1 + x5) & M; x13 ^= x1; x13 = ((x13 << 16) & M) | (x13 >> 16)
        x9 = (x9 + x13) & M; x5 ^= x9; x5 = ((x5 << 12) & M) | (x5 >> 20)
        x1 = (x1 + x5) & M; x13 ^= x1; x13 = ((x13 << 8) & M) | (x13 >> 24)
        x9 = (x9 + x13) & M; x5 ^= x9; x5 = ((x5 << 7) & M) | (x5 >> 25)
        x2 = (x2 + x6) & M; x14 ^= x2; x14 = ((x14 << 16) & M) | (x14 >> 16)
        x10 = (x10 + x14) & M; x6 ^= x10; x6 = ((x6 << 12) & M) | (x6 >> 20)
        x2 = (x2 + x6) & M; x14 ^= x2; x14 = ((x14 << 8) & M) | (x14 >> 24)
        x10 = (x10 + x14) & M; x6 ^= x10; x6 = ((x6 << 7) & M) | (x6 >> 25)
        x3 = (x3 + x7) & M; x15 ^= x3; x15 = ((x15 << 16) & M) | (x15 >> 16)
        x11 = (x11 + x15) & M; x7 ^= x11; x7 = ((x7 << 12) & M) | (x7 >> 20)
        x3 = (x3 + x7) & M; x15 ^= x3; x15 = ((x15 << 8) & M) | (x15 >> 24)
        x11 = (x11 + x15) & M; x7 ^= x11; x7 = ((x7 << 7) & M) | (x7 >> 25)
        # diagonal rounds: (0,5,10,15) (1,6,11,12) (2,7,8,13) (3,4,9,14)
        x0 = (x0 + x5) & M; x15 ^= x0; x15 = ((x15 << 16) & M) | (x15 >> 16)
        x10 = (x10 + x15) & M; x5 ^= x10; x5 = ((x5 << 12) & M) | (x5 >> 20)
        x0 = (x0 + x5) & M; x15 ^= x0; x15 = ((x15 << 8) & M) | (x15 >> 24)
        x10 = (x10 + x15) & M; x5 ^= x10; x5 = ((x5 << 7) & M) | (x5 >> 25)
        x1 = (x1 + x6) & M; x12 ^= x1; x12 = ((x12 << 16) & M) | (x12 >> 16)
        x11 = (x11 + x12) & M; x6 ^= x11; x6 = ((x6 << 12) & M) | (x6 >> 20)
        x1 = (x1 + x6) & M; x12 ^= x1; x12 = ((x12 << 8) & M) | (x12 >> 24)
        x11 = (x11 + x12) & M; x6 ^= x11; x6 = ((x6 << 7) & M) | (x6 >> 25)
        x2 = (x2 + x7) & M; x13 ^= x2; x13 = ((x13 << 16) & M) | (x13 >> 16)
        x8 = (x8 + x13) & M; x7 ^= x8; x7 = ((x7 << 12) & M) | (x7 >> 20)
        x2 = (x2 + x7) & M; x13 ^= x2; x13 = ((x13 << 8) & M) | (x13 >> 24)
        x8 = (x8 + x13) & M; x7 ^= x8; x7 = ((x7 << 7) & M) | (x7 >> 25)
        x3 = (x3 + x4) & M; x14 ^= x3; x14 = ((x14 << 16) & M) | (x14 >> 16)
        x9 = (x9 + x14) & M; x4 ^= x9; x4 = ((x4 << 12) & M) | (x4 >> 20)
        x3 = (x3 + x4) & M; x14 ^= x3; x14 = ((x14 << 8) & M) | (x14 >> 24)
        x9 = (x9 + x14) & M; x4 ^= x9; x4 = ((x4 << 7) & M) | (x4 >> 25)
    out = (x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15)
    return struct.pack("<16I", *[(a + b) & M for a, b in zip(out, init)])


def chacha20_xor(key, counter, nonce, data):
    """RFC 8439 §2.4: data XOR the keystream starting at block |counter|."""
    n_blocks = (len(data) + 63) // 64
    if n_blocks == 0:
        return b""
    assert counter + n_blocks - 1 <= MASK32
    stream = b"".join(chacha20_block(key, counter + i, nonce) for i in range(n_blocks))
    stream = stream[: len(data)]
    x = int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")
    return x.to_bytes(len(data), "little")


# ---------------------------------------------------------------------------
# Poly1305, RFC 8439 §2.5

P1305 = (1 << 130) - 5


def poly1305_mac(key, msg):
    assert len(key) == 32
    r = int.from_bytes(key[:16], "little") & 0x0FFFFFFC0FFFFFFC0FFFFFFC0FFFFFFF
    s = int.from_bytes(key[16:], "little")
    acc = 0
    for i in range(0, len(msg), 16):
        block = msg[i : i + 16] + b"\x01"
        acc = ((acc + int.from_bytes(block, "little")) * r) % P1305
    acc = (acc + s) & ((1 << 128) - 1)
    return acc.to_bytes(16, "little")


# ---------------------------------------------------------------------------
# AEAD_CHACHA20_POLY1305, RFC 8439 §2.6, §2.8


def _pad16(b):
    return b"\x00" * (-len(b) % 16)


def _aead_tag(key, nonce, ad, ct):
    otk = chacha20_block(key, 0, nonce)[:32]  # §2.6
    mac_data = ad + _pad16(ad) + ct + _pad16(ct)
    mac_data += struct.pack("<QQ", len(ad), len(ct))
    return poly1305_mac(otk, mac_data)


def aead_seal(key, nonce, ad, plaintext):
    """Returns ciphertext || tag (16)."""
    ct = chacha20_xor(key, 1, nonce, plaintext)
    return ct + _aead_tag(key, nonce, ad, ct)


def aead_open(key, nonce, ad, data):
    """Returns the plaintext, or raises PtError(DECRYPT)."""
    if len(data) < 16:
        raise PtError(DECRYPT, "shorter than a tag")
    ct, tag = data[:-16], data[-16:]
    if not hmac.compare_digest(_aead_tag(key, nonce, ad, ct), tag):
        raise PtError(DECRYPT, "bad tag")
    return chacha20_xor(key, 1, nonce, ct)


def noise_nonce(n):
    """PROTOCOL.md §2 nonce(n): 4 zero bytes || n as u64 little-endian."""
    assert 0 <= n < (1 << 64)
    return b"\x00" * 4 + n.to_bytes(8, "little")


# ---------------------------------------------------------------------------
# X25519, RFC 7748 §5

P25519 = (1 << 255) - 19
A24 = 121665


def _decode_scalar(k):
    b = bytearray(k)
    b[0] &= 248
    b[31] &= 127
    b[31] |= 64
    return int.from_bytes(b, "little")


def _decode_u(u):
    b = bytearray(u)
    b[31] &= 127  # §5: mask the most significant bit
    return int.from_bytes(b, "little")


def x25519(k, u):
    assert len(k) == 32 and len(u) == 32
    k_int = _decode_scalar(k)
    x1 = _decode_u(u)
    p = P25519
    x2, z2, x3, z3 = 1, 0, x1, 1
    swap = 0
    for t in reversed(range(255)):
        k_t = (k_int >> t) & 1
        swap ^= k_t
        if swap:
            x2, x3 = x3, x2
            z2, z3 = z3, z2
        swap = k_t
        a = (x2 + z2) % p
        aa = a * a % p
        b = (x2 - z2) % p
        bb = b * b % p
        e = (aa - bb) % p
        c = (x3 + z3) % p
        d = (x3 - z3) % p
        da = d * a % p
        cb = c * b % p
        x3 = (da + cb) % p
        x3 = x3 * x3 % p
        z3 = (da - cb) % p
        z3 = x1 * (z3 * z3 % p) % p
        x2 = aa * bb % p
        z2 = e * ((aa + A24 * e) % p) % p
    if swap:
        x2, x3 = x3, x2
        z2, z3 = z3, z2
    res = x2 * pow(z2, p - 2, p) % p
    return res.to_bytes(32, "little")


X25519_BASE = (9).to_bytes(32, "little")


def x25519_pub(priv):
    return x25519(priv, X25519_BASE)


# ---------------------------------------------------------------------------
# Noise rev. 34: hash, HMAC, HKDF, CipherState, SymmetricState, IK


class NoiseHash:
    def __init__(self, name):
        self.name = name
        if name == "SHA256":
            self.ctor = hashlib.sha256
            self.hashlen = 32
        elif name == "BLAKE2b":
            self.ctor = hashlib.blake2b  # BLAKE2b-512, unkeyed
            self.hashlen = 64
        else:
            raise ValueError(name)

    def hash(self, data):
        return self.ctor(data).digest()

    def hmac(self, key, data):
        # The hmac module is RFC 2104 with the hash's block size (64 / 128).
        return hmac.new(key, data, self.ctor).digest()


SHA256 = NoiseHash("SHA256")
BLAKE2B = NoiseHash("BLAKE2b")


def hkdf(h, ck, ikm, n):
    """Noise §4.3 HKDF(chaining_key, input_key_material, num_outputs)."""
    temp = h.hmac(ck, ikm)
    o1 = h.hmac(temp, b"\x01")
    o2 = h.hmac(temp, o1 + b"\x02")
    if n == 2:
        return o1, o2
    o3 = h.hmac(temp, o2 + b"\x03")
    return o1, o2, o3


MAX_NONCE = (1 << 64) - 1


def rekey(k):
    """Noise §4.2 REKEY(k) for ChaChaPoly: first 32 bytes of
    ENCRYPT(k, 2^64-1, "", 32 zero bytes)."""
    return aead_seal(k, noise_nonce(MAX_NONCE), b"", b"\x00" * 32)[:32]


class CipherState:
    """Noise §5.1."""

    def __init__(self, k=None):
        self.k = k
        self.n = 0

    def encrypt(self, ad, plaintext):
        if self.k is None:
            return plaintext
        assert self.n < MAX_NONCE
        out = aead_seal(self.k, noise_nonce(self.n), ad, plaintext)
        self.n += 1
        return out

    def decrypt(self, ad, ciphertext):
        if self.k is None:
            return ciphertext
        assert self.n < MAX_NONCE
        out = aead_open(self.k, noise_nonce(self.n), ad, ciphertext)
        self.n += 1
        return out


class SymmetricState:
    """Noise §5.2."""

    def __init__(self, h, protocol_name):
        self.H = h
        name = protocol_name.encode()
        if len(name) <= h.hashlen:
            self.h = name + b"\x00" * (h.hashlen - len(name))
        else:
            self.h = h.hash(name)
        self.ck = self.h
        self.cs = CipherState()

    def mix_key(self, ikm):
        self.ck, temp_k = hkdf(self.H, self.ck, ikm, 2)
        self.cs = CipherState(temp_k[:32])

    def mix_hash(self, data):
        self.h = self.H.hash(self.h + data)

    def mix_key_and_hash(self, ikm):
        self.ck, temp_h, temp_k = hkdf(self.H, self.ck, ikm, 3)
        self.mix_hash(temp_h)
        self.cs = CipherState(temp_k[:32])

    def encrypt_and_hash(self, plaintext):
        ct = self.cs.encrypt(self.h, plaintext)
        self.mix_hash(ct)
        return ct

    def decrypt_and_hash(self, ciphertext):
        pt = self.cs.decrypt(self.h, ciphertext)
        self.mix_hash(ciphertext)
        return pt

    def split(self):
        t1, t2 = hkdf(self.H, self.ck, b"", 2)
        return CipherState(t1[:32]), CipherState(t2[:32])


def dh(priv, pub):
    out = x25519(priv, pub)
    if out == b"\x00" * 32:
        raise PtError("PT_ERR_HANDSHAKE", "all-zero DH output")  # PROTOCOL.md §2
    return out


class NoiseIK:
    """Noise_IK[psk1|psk2]_25519_ChaChaPoly_<hash> (rev. 34 §7.5, §9), one
    side. |psk_pos| is None, 1 or 2."""

    def __init__(self, initiator, hash_name, prologue, s_priv, rs=None, e_priv=None, psk_pos=None,
                 psk=None):
        self.H = SHA256 if hash_name == "SHA256" else BLAKE2B
        mod = "" if psk_pos is None else f"psk{psk_pos}"
        self.ss = SymmetricState(self.H, f"Noise_IK{mod}_25519_ChaChaPoly_{hash_name}")
        self.initiator = initiator
        self.psk_pos = psk_pos
        self.psk = psk
        self.s_priv = s_priv
        self.s_pub = x25519_pub(s_priv)
        self.e_priv = e_priv
        self.e_pub = None
        self.rs = rs
        self.re = None
        self.ss.mix_hash(prologue)
        # pre-message: <- s
        self.ss.mix_hash(rs if initiator else self.s_pub)

    def _token_e_send(self):
        self.e_pub = x25519_pub(self.e_priv)
        self.ss.mix_hash(self.e_pub)
        if self.psk_pos is not None:
            self.ss.mix_key(self.e_pub)  # §9.2
        return self.e_pub

    def _token_e_recv(self, e):
        self.re = e
        self.ss.mix_hash(e)
        if self.psk_pos is not None:
            self.ss.mix_key(e)

    def write_message1(self, payload):
        """-> e, es, s, ss [, psk]"""
        assert self.initiator
        out = self._token_e_send()
        self.ss.mix_key(dh(self.e_priv, self.rs))  # es
        out += self.ss.encrypt_and_hash(self.s_pub)  # s
        self.ss.mix_key(dh(self.s_priv, self.rs))  # ss
        if self.psk_pos == 1:
            self.ss.mix_key_and_hash(self.psk)
        return out + self.ss.encrypt_and_hash(payload)

    def read_message1(self, msg):
        assert not self.initiator
        if len(msg) < 96:
            raise PtError(FRAME_SIZE, "message 1 too short")
        self._token_e_recv(msg[:32])
        self.ss.mix_key(dh(self.s_priv, self.re))  # es
        self.rs = self.ss.decrypt_and_hash(msg[32:80])  # s
        self.ss.mix_key(dh(self.s_priv, self.rs))  # ss
        if self.psk_pos == 1:
            self.ss.mix_key_and_hash(self.psk)
        return self.ss.decrypt_and_hash(msg[80:])

    def write_message2(self, payload):
        """<- e, ee, se [, psk]"""
        assert not self.initiator
        out = self._token_e_send()
        self.ss.mix_key(dh(self.e_priv, self.re))  # ee
        self.ss.mix_key(dh(self.e_priv, self.rs))  # se (responder: e, rs)
        if self.psk_pos == 2:
            self.ss.mix_key_and_hash(self.psk)
        return out + self.ss.encrypt_and_hash(payload)

    def read_message2(self, msg):
        assert self.initiator
        if len(msg) < 48:
            raise PtError(FRAME_SIZE, "message 2 too short")
        self._token_e_recv(msg[:32])
        self.ss.mix_key(dh(self.e_priv, self.re))  # ee
        self.ss.mix_key(dh(self.s_priv, self.re))  # se (initiator: s, re)
        if self.psk_pos == 2:
            self.ss.mix_key_and_hash(self.psk)
        return self.ss.decrypt_and_hash(msg[32:])

    def split(self):
        """Returns (c1, c2): c1 initiator -> responder."""
        return self.ss.split()

    @property
    def handshake_hash(self):
        return self.ss.h


# ---------------------------------------------------------------------------
# PROTOCOL.md §5: prologue, handshake payload, handshake messages

PROLOGUE_LABEL = b"phantom-tunnel/1"
TRANSPORT_TCP, TRANSPORT_TLS, TRANSPORT_QUIC, TRANSPORT_WEBSOCKET = 0, 1, 2, 3
FIXED_LEN = 26
MSG1_OVERHEAD = 32 + 48 + 16  # e, enc(s)+tag, payload tag
MSG2_OVERHEAD = 32 + 16
MSG1_MIN = MSG1_OVERHEAD + FIXED_LEN  # 122
MSG2_MIN = MSG2_OVERHEAD + FIXED_LEN  # 74
MSG_MAX = 4096

TLV_PADDING, TLV_STREAM_WINDOW, TLV_CONN_WINDOW, TLV_MAX_STREAMS = 0, 1, 2, 3
FLAG_PADDING = 0x01
DEFAULT_SETTINGS = {"stream_window": 262144, "conn_window": 16777216, "max_streams": 1024}
SETTING_TLVS = [  # (type, name, min, max) — §5.4 table
    (TLV_STREAM_WINDOW, "stream_window", 1, 16777215),
    (TLV_CONN_WINDOW, "conn_window", 1, 0x7FFFFFFF),
    (TLV_MAX_STREAMS, "max_streams", 0, 8388608),
]


def prologue(transport):
    """§5.2: "phantom-tunnel/1" || transport id."""
    return PROLOGUE_LABEL + bytes([transport])


def payload_encode(p, pad_value=None):
    """§5.4: fixed part, settings that differ from the default in type
    order, then one PADDING TLV (value |pad_value|) if pad_value is not
    None. |p| is a dict with version, flags, timestamp, random (bytes) and
    optional settings (dict)."""
    out = struct.pack(">BBQ", p["version"], p["flags"], p["timestamp"]) + p["random"]
    assert len(p["random"]) == 16
    settings = dict(DEFAULT_SETTINGS)
    settings.update(p.get("settings", {}))
    for t, name, _lo, _hi in SETTING_TLVS:
        if settings[name] != DEFAULT_SETTINGS[name]:
            out += struct.pack(">BHI", t, 4, settings[name])
    if pad_value is not None:
        assert len(pad_value) <= 0xFFFF
        out += struct.pack(">BH", TLV_PADDING, len(pad_value)) + pad_value
    return out


def payload_decode(b):
    """§5.4 receiver rules. Returns a dict (flags masked to the PADDING bit,
    as the C API reports them; settings with defaults filled in), or
    raises PtError(PROTO)."""
    if len(b) < FIXED_LEN:
        raise PtError(PROTO, "shorter than the fixed part")
    version, flags, ts = struct.unpack(">BBQ", b[:10])
    if version == 0:
        raise PtError(PROTO, "version 0")
    settings = dict(DEFAULT_SETTINGS)
    seen = set()
    i = FIXED_LEN
    while i < len(b):
        if len(b) - i < 3:
            raise PtError(PROTO, "truncated TLV header")
        t, ln = struct.unpack(">BH", b[i : i + 3])
        i += 3
        if ln > len(b) - i:
            raise PtError(PROTO, "TLV overruns the payload")
        val = b[i : i + ln]
        i += ln
        spec = [s for s in SETTING_TLVS if s[0] == t]
        if not spec:
            continue  # PADDING, or unknown type: skipped
        _, name, lo, hi = spec[0]
        if t in seen:
            raise PtError(PROTO, "setting appears twice")
        seen.add(t)
        if ln != 4:
            raise PtError(PROTO, "setting length is not 4")
        v = struct.unpack(">I", val)[0]
        if not lo <= v <= hi:
            raise PtError(PROTO, "setting out of range")
        settings[name] = v
    return {
        "version": version,
        "flags": flags & FLAG_PADDING,
        "timestamp": ts,
        "random": b[10:26],
        "settings": settings,
    }


def pad_tlv_len_for(noise_len, overhead, base_len):
    """C API (core/pt_handshake.c): the whole PADDING TLV size (3 + value)
    that brings the Noise message to |noise_len|; 0 (no TLV) when noise_len
    is 0, when fewer than 3 bytes are missing (a TLV header does not fit),
    or when noise_len exceeds 4096."""
    base = overhead + base_len
    if noise_len < base + 3 or noise_len > MSG_MAX:
        return 0
    return noise_len - base


def build_payload(p, noise_len, overhead, pad_source):
    """Returns (plaintext payload, pad value bytes or None). |pad_source|
    gives the padding value bytes: pad_source(n) -> n bytes."""
    base = payload_encode(p)
    tlv = pad_tlv_len_for(noise_len, overhead, len(base))
    if tlv == 0:
        return base, None
    value = pad_source(tlv - 3)
    return payload_encode(p, value), value


def frame_u16(msg):
    """§5.3: u16 noise_len || message."""
    assert len(msg) <= MSG_MAX
    return struct.pack(">H", len(msg)) + msg


FRAME_KEY_LABEL = b"phantom-tunnel frame keys"


def frame_keys(k):
    """§5.9: (K_data, K_len) = HKDF(ck = k, ikm = label), SHA-256."""
    assert len(k) == 32 and len(FRAME_KEY_LABEL) == 25
    return hkdf(SHA256, k, FRAME_KEY_LABEL, 2)


# ---------------------------------------------------------------------------
# PROTOCOL.md §6: frames

HDR_LEN = 7
TAG_LEN = 16
MIN_LEN = HDR_LEN + TAG_LEN  # 23
MAX_PAYLOAD = 65257
MAX_PAD = 255
STREAM_ID_MAX = 0xFFFFFF

DATA, STREAM_OPEN, STREAM_CLOSE, WINDOW_UPDATE, PING, PONG, GOAWAY, PADDING, KEY_UPDATE = range(9)
TYPE_NAMES = ["DATA", "STREAM_OPEN", "STREAM_CLOSE", "WINDOW_UPDATE", "PING", "PONG", "GOAWAY",
              "PADDING", "KEY_UPDATE"]


def frame_plaintext(ftype, stream_id, payload, pad):
    """§6.1: type | stream ID (u24) | payload len (u16) | pad len | payload | padding."""
    hdr = bytes([ftype]) + stream_id.to_bytes(3, "big") + struct.pack(">HB", len(payload), len(pad))
    return hdr + payload + pad


def len_mask(k_len, n):
    """§6.2: the first 2 bytes of ChaCha20(K_len, nonce(n), 0)."""
    return chacha20_block(k_len, 0, noise_nonce(n))[:2]


class FrameDir:
    """One direction's frame keys and counter (§5.9, §6.2, §6.5)."""

    def __init__(self, k):
        self.k_data, self.k_len = frame_keys(k)
        self.n = 0

    def rekey(self):
        self.k_data = rekey(self.k_data)
        self.k_len = rekey(self.k_len)

    def seal_plaintext(self, plain):
        """Encrypts any plaintext (also ones that break §6.3, for invalid
        vectors). Does not rekey."""
        ln = len(plain) + TAG_LEN
        assert ln <= 0xFFFF
        mask = len_mask(self.k_len, self.n)
        enc_len = bytes([(ln >> 8) ^ mask[0], (ln & 0xFF) ^ mask[1]])
        wire = enc_len + aead_seal(self.k_data, noise_nonce(self.n), enc_len, plain)
        self.n += 1
        return wire

    def seal(self, ftype, stream_id, payload, pad):
        assert 0 <= ftype <= KEY_UPDATE and 0 <= stream_id <= STREAM_ID_MAX
        assert len(payload) <= MAX_PAYLOAD and len(pad) <= MAX_PAD
        wire = self.seal_plaintext(frame_plaintext(ftype, stream_id, payload, pad))
        if ftype == KEY_UPDATE:
            self.rekey()  # §6.5: right after sending it
        return wire


def check_frame_rules(ftype, stream_id, payload):
    """§6.3 table; raises PtError(PROTO) or PtError(FRAME_SIZE)."""
    n = len(payload)
    if n > MAX_PAYLOAD:
        raise PtError(FRAME_SIZE, "payload longer than 65257")  # §6.2 "the real maximum"
    if ftype > KEY_UPDATE:
        raise PtError(PROTO, "unknown frame type")
    conn_only = (PING, PONG, GOAWAY, PADDING, KEY_UPDATE)
    if ftype in (DATA, STREAM_OPEN, STREAM_CLOSE) and stream_id == 0:
        raise PtError(PROTO, "stream frame on stream 0")
    if ftype in conn_only and stream_id != 0:
        raise PtError(PROTO, "connection frame on a stream")
    if ftype == STREAM_CLOSE and n not in (0, 4):
        raise PtError(PROTO, "STREAM_CLOSE payload not 0 or 4 bytes")
    if ftype == WINDOW_UPDATE:
        if n != 4:
            raise PtError(PROTO, "WINDOW_UPDATE payload not 4 bytes")
        inc = struct.unpack(">I", payload)[0]
        if not 1 <= inc <= 0x7FFFFFFF:
            raise PtError(PROTO, "WINDOW_UPDATE increment outside 1..2^31-1")
    if ftype in (PING, PONG) and n != 8:
        raise PtError(PROTO, "PING/PONG payload not 8 bytes")
    if ftype == GOAWAY:
        if n != 8:
            raise PtError(PROTO, "GOAWAY payload not 8 bytes")
        if struct.unpack(">I", payload[:4])[0] > STREAM_ID_MAX:
            raise PtError(PROTO, "GOAWAY last stream ID above 24 bits")
    if ftype == KEY_UPDATE and n != 0:
        raise PtError(PROTO, "KEY_UPDATE payload not empty")


class FrameOpener:
    """§6.2 receiver steps 1-4 for one direction."""

    def __init__(self, k):
        self.dir = FrameDir(k)

    def open(self, wire):
        """Opens the frame at the head of |wire|. Returns (consumed, dict)
        or raises PtError."""
        d = self.dir
        if len(wire) < 2:
            raise PtError(AGAIN, "need the prefix")
        mask = len_mask(d.k_len, d.n)
        ln = ((wire[0] ^ mask[0]) << 8) | (wire[1] ^ mask[1])
        if ln < MIN_LEN:
            raise PtError(FRAME_SIZE, "len < 23")  # step 1
        if len(wire) < 2 + ln:
            raise PtError(AGAIN, "need the body")
        plain = aead_open(d.k_data, noise_nonce(d.n), wire[:2], wire[2 : 2 + ln])  # step 2
        ftype = plain[0]
        sid = int.from_bytes(plain[1:4], "big")
        plen, padlen = struct.unpack(">HB", plain[4:7])
        if HDR_LEN + plen + padlen + TAG_LEN != ln:
            raise PtError(FRAME_SIZE, "header lengths disagree with len")  # step 3
        payload = plain[HDR_LEN : HDR_LEN + plen]
        check_frame_rules(ftype, sid, payload)  # step 4
        d.n += 1
        if ftype == KEY_UPDATE:
            d.rekey()
        return 2 + ln, {"type": ftype, "stream_id": sid, "payload": payload,
                        "pad": plain[HDR_LEN + plen :]}


# ---------------------------------------------------------------------------
# PROTOCOL.md §9.1: padding strategies

PAD_NONE, PAD_BLOCK, PAD_RANDOM, PAD_POWER_OF_TWO = "NONE", "BLOCK", "RANDOM", "POWER_OF_TWO"


def pad_len(strategy, payload_len, rnd=0, block=64, min_size=64):
    f = HDR_LEN + payload_len
    if strategy == PAD_NONE:
        return 0  # "0 (no minimum either)"
    if strategy == PAD_BLOCK:
        assert 1 <= block <= 256
        pad = (block - f % block) % block
    elif strategy == PAD_RANDOM:
        assert 0 <= rnd <= 255
        pad = rnd
    elif strategy == PAD_POWER_OF_TWO:
        p = 1
        while p < f:
            p <<= 1
        pad = p - f if p - f <= 255 else 0
    else:
        raise ValueError(strategy)
    assert 0 <= min_size <= 262
    if f + pad < min_size:
        pad = min_size - f
    assert 0 <= pad <= MAX_PAD  # "The result never exceeds 255"
    return pad


# ---------------------------------------------------------------------------
# PROTOCOL.md §7.2: STREAM_OPEN addresses

ATYP_IPV4, ATYP_DOMAIN, ATYP_IPV6 = 1, 3, 4


def addr_encode(atyp, host, port):
    """|host|: 4 or 16 bytes for IPv4 / IPv6, bytes of the name for a domain."""
    if atyp == ATYP_IPV4:
        assert len(host) == 4
        body = host
    elif atyp == ATYP_IPV6:
        assert len(host) == 16
        body = host
    elif atyp == ATYP_DOMAIN:
        if not 1 <= len(host) <= 255 or any(c < 0x21 or c > 0x7E for c in host):
            raise PtError(INVAL, "bad domain")
        body = bytes([len(host)]) + host
    else:
        raise PtError(INVAL, "bad address type")
    return bytes([atyp]) + body + struct.pack(">H", port)


def addr_decode(b):
    """Returns (atyp, host bytes, port) or raises PtError: NOTFOUND for an
    unknown ATYP (answered ADDRESS_NOT_SUPPORTED), PROTO otherwise."""
    if len(b) < 1:
        raise PtError(PROTO, "empty")
    atyp = b[0]
    if atyp == ATYP_IPV4:
        if len(b) < 5:
            raise PtError(PROTO, "truncated")
        host, rest = b[1:5], b[5:]
    elif atyp == ATYP_IPV6:
        if len(b) < 17:
            raise PtError(PROTO, "truncated")
        host, rest = b[1:17], b[17:]
    elif atyp == ATYP_DOMAIN:
        if len(b) < 2 or len(b) < 2 + b[1]:
            raise PtError(PROTO, "truncated")
        host, rest = b[2 : 2 + b[1]], b[2 + b[1] :]
        if len(host) == 0:
            raise PtError(PROTO, "empty domain")
        if any(c < 0x21 or c > 0x7E for c in host):
            raise PtError(PROTO, "domain byte outside 0x21..0x7e")
    else:
        raise PtError(NOTFOUND, "unknown ATYP")
    if len(rest) < 2:
        raise PtError(PROTO, "truncated port")
    if len(rest) > 2:
        raise PtError(PROTO, "trailing bytes")
    return atyp, host, struct.unpack(">H", rest)[0]


# ---------------------------------------------------------------------------
# Self-checks against published vectors


def _hx(s):
    return bytes.fromhex(s.replace(" ", "").replace("\n", ""))


def selfcheck_rfc8439():
    """RFC 8439 §2.4.2 (ChaCha20), §2.5.2 (Poly1305), §2.8.2 (AEAD)."""
    key = bytes(range(32))
    nonce = _hx("000000000000004a00000000")
    pt = (b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for "
          b"the future, sunscreen would be it.")
    want = _hx("6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0bf91b65c5524733ab"
               "8f593dabcd62b3571639d624e65152ab8f530c359f0861d807ca0dbf500d6a6156a38e088a22b65e"
               "52bc514d16ccf806818ce91ab77937365af90bbf74a35be6b40b8eedf2785e42874d")
    assert chacha20_xor(key, 1, nonce, pt) == want, "RFC 8439 §2.4.2"
    mkey = _hx("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b")
    assert poly1305_mac(mkey, b"Cryptographic Forum Research Group") == _hx(
        "a8061dc1305136c6c22b8baf0c0127a9"), "RFC 8439 §2.5.2"
    key = _hx("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
    nonce = _hx("070000004041424344454647")
    ad = _hx("50515253c0c1c2c3c4c5c6c7")
    ct = _hx("d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282"
             "fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab3"
             "24e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116")
    tag = _hx("1ae10b594f09e26a7e902ecbd0600691")
    assert aead_seal(key, nonce, ad, pt) == ct + tag, "RFC 8439 §2.8.2 seal"
    assert aead_open(key, nonce, ad, ct + tag) == pt, "RFC 8439 §2.8.2 open"
    bad = bytearray(ct + tag)
    bad[-1] ^= 1
    try:
        aead_open(key, nonce, ad, bytes(bad))
        raise AssertionError("tampered tag accepted")
    except PtError as e:
        assert e.name == DECRYPT
    return ["RFC 8439 §2.4.2 ChaCha20", "RFC 8439 §2.5.2 Poly1305", "RFC 8439 §2.8.2 AEAD"]


def selfcheck_rfc7748(iterations_1000=True):
    """RFC 7748 §5.2 (two vectors, 1 and 1000 iterations) and §6.1 (DH)."""
    k = _hx("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4")
    u = _hx("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")
    assert x25519(k, u) == _hx("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552")
    k = _hx("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d")
    u = _hx("e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493")
    assert x25519(k, u) == _hx("95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957")
    k = u = X25519_BASE
    checks = {1: "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079",
              1000: "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51"}
    for i in range(1, 1001 if iterations_1000 else 2):
        k, u = x25519(k, u), k
        if i in checks:
            assert k == _hx(checks[i]), f"RFC 7748 §5.2 after {i} iterations"
    a_priv = _hx("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    a_pub = _hx("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    b_priv = _hx("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
    b_pub = _hx("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    shared = _hx("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
    assert x25519_pub(a_priv) == a_pub and x25519_pub(b_priv) == b_pub
    assert x25519(a_priv, b_pub) == shared and x25519(b_priv, a_pub) == shared
    return ["RFC 7748 §5.2 X25519 (2 vectors)",
            "RFC 7748 §5.2 iterated 1" + (" and 1000" if iterations_1000 else ""),
            "RFC 7748 §6.1 DH"]


def _parse_noise_name(name):
    # Noise_IK[pskN]_25519_ChaChaPoly_<hash>
    parts = name.split("_")
    assert parts[0] == "Noise" and parts[2] == "25519" and parts[3] == "ChaChaPoly", name
    pattern = parts[1]
    assert pattern.startswith("IK"), name
    mod = pattern[2:]
    psk_pos = None if mod == "" else int(mod[len("psk"):])
    assert psk_pos in (None, 1, 2), name
    return parts[4], psk_pos


def selfcheck_noise_vector(v):
    """Plays one standard vector through both sides; raises on any
    difference. Returns the protocol name."""
    name = v.get("protocol_name") or v["name"]
    hash_name, psk_pos = _parse_noise_name(name)
    ipsk = _hx(v["init_psks"][0]) if psk_pos else None
    rpsk = _hx(v["resp_psks"][0]) if psk_pos else None
    ini = NoiseIK(True, hash_name, _hx(v["init_prologue"]), _hx(v["init_static"]),
                  rs=_hx(v["init_remote_static"]), e_priv=_hx(v["init_ephemeral"]),
                  psk_pos=psk_pos, psk=ipsk)
    resp = NoiseIK(False, hash_name, _hx(v["resp_prologue"]), _hx(v["resp_static"]),
                   e_priv=_hx(v["resp_ephemeral"]), psk_pos=psk_pos, psk=rpsk)
    msgs = v["messages"]
    m0, m1 = msgs[0], msgs[1]
    c = ini.write_message1(_hx(m0["payload"]))
    assert c == _hx(m0["ciphertext"]), f"{name}: message 1"
    assert resp.read_message1(c) == _hx(m0["payload"]), f"{name}: message 1 payload"
    assert resp.rs == x25519_pub(_hx(v["init_static"]))
    c = resp.write_message2(_hx(m1["payload"]))
    assert c == _hx(m1["ciphertext"]), f"{name}: message 2"
    assert ini.read_message2(c) == _hx(m1["payload"]), f"{name}: message 2 payload"
    if "handshake_hash" in v:
        assert ini.handshake_hash == _hx(v["handshake_hash"]), f"{name}: handshake hash"
    assert ini.handshake_hash == resp.handshake_hash
    i1, i2 = ini.split()
    r1, r2 = resp.split()
    for idx, m in enumerate(msgs[2:], start=2):
        send, recv = (i1, r1) if idx % 2 == 0 else (r2, i2)
        c = send.encrypt(b"", _hx(m["payload"]))
        assert c == _hx(m["ciphertext"]), f"{name}: transport message {idx}"
        assert recv.decrypt(b"", c) == _hx(m["payload"])
    return name
