#!/usr/bin/env python3
"""run_probes.py — active-probing suite: does our server answer every probe
the way Debian's nginx does? (docs/SECURITY.md)

It starts, on 127.0.0.1:
  nginx     Debian's nginx 1.22 with Debian's http{} defaults, the same
            certificate and the same site as our built-in decoy;
  builtin   `phantom server -c server.conf` with `Decoy = builtin`;
  upstream  `phantom server` with `Decoy = upstream:` that nginx's plain
            HTTP port and `DecoyUpstreamH2 =` its h2c port (the
            recommended deployment);
both with the probe client's key as their one authorized [Client];
then sends every probe to all three at once (the long ones wait for 60 s
and 75 s timeouts, so everything runs in parallel) and records, per probe:
what came back (nothing, TLS alert, HTTP status line and the headers that
matter, body hash), how the connection ended (FIN, RST, still open) and
when, whether a TLS close_notify preceded the end.

A probe passes when ours matches nginx: same response class and headers,
same close type, close time within max(0.5 s, 3 %) of nginx's (see
docs/SECURITY.md for why this tolerance).

Python 3 stdlib only. The server under test is the phantom binary
(--server), run through a command template (--server-cmd).
Exit status 0 when all probes pass, 1 otherwise, 77 when nginx is absent.
"""
import argparse
import base64
import concurrent.futures
import errno
import hashlib
import os
import random
import re
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning)  # TLS 1.0 probe

HOST = "127.0.0.1"
# Long enough to see nginx's keepalive_timeout (75 s) and
# client_header_timeout (60 s) expire, with room for the tolerance.
LONG_WAIT = 82.0
SHORT_WAIT = 6.0


# ---- one connection ---------------------------------------------------------

class Outcome:
    def __init__(self):
        self.tls = ""          # "", "ok <version> <alpn>", "fail <reason>"
        self.raw = b""         # bytes received below TLS (alerts, plain HTTP)
        self.plain = b""       # application data received inside TLS
        self.close = "OPEN"    # FIN, RST, OPEN (still open at the deadline)
        self.close_notify = False
        self.t_close = None    # seconds from the last byte we sent
        self.t_first = None    # seconds from then to the first byte back
        self.error = ""

    def summary(self):
        data = self.plain if self.plain else self.raw
        return classify(data, self.tls)


def classify(data, tls):
    """A short, comparable description of what came back."""
    if not data:
        return "nothing"
    if data[:1] == b"\x15" and len(data) >= 7:
        return "tls-alert %d/%d" % (data[5], data[6])
    if data.startswith(b"HTTP/"):
        return describe_http(data)
    if data[:9] == b"\x00\x00\x12\x04\x00\x00\x00\x00\x00" or data[3:4] == b"\x04":
        return "h2 " + describe_h2(data)
    if data[:1] == b"\x16":
        return "tls-handshake %d bytes" % len(data)
    return "bytes %d sha=%s" % (len(data), hashlib.sha256(data).hexdigest()[:12])


MATTER = ("server", "content-type", "content-length", "connection", "accept-ranges",
          "content-range", "location", "transfer-encoding", "keep-alive", "last-modified",
          "etag")


def describe_http(data):
    """Status lines, header names in order, the values that matter, body
    hashes: for every response in |data| (pipelined or keep-alive)."""
    out = []
    while data.startswith(b"HTTP/"):
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            out.append("partial-head")
            break
        lines = head.split(b"\r\n")
        names, vals, clen = [], [], None
        for ln in lines[1:]:
            k, _, v = ln.partition(b":")
            k = k.decode("latin-1").lower()
            v = v.strip().decode("latin-1")
            names.append(k)
            if k == "location":
                # Ports and schemes differ by construction on loopback (see
                # docs/SECURITY.md): compare the path.
                v = "/" + v.split("://", 1)[-1].split("/", 1)[-1] if "://" in v else v
            if k in MATTER:
                vals.append("%s=%s" % (k, v))
            if k == "content-length":
                clen = int(v)
        body = b""
        status = lines[0].decode("latin-1")
        if status.split(" ")[1:2] and status.split(" ")[1].startswith("1"):
            pass  # an interim response (100 Continue): the final one follows
        elif clen is not None and not status.endswith(" 304 Not Modified"):
            body, rest = rest[:clen], rest[clen:]
        elif " 304 " in status:
            pass
        else:
            body, rest = rest, b""
        if getattr(describe_http, "head_only", False):
            pass
        out.append("%s | %s | %s | body=%d:%s" % (status, ",".join(names), ";".join(vals),
                                                    len(body),
                                                    hashlib.sha256(body).hexdigest()[:10]))
        data = rest
    if data:
        out.append("trailing %d bytes" % len(data))
    return " || ".join(out)


H2_TYPES = {0: "DATA", 1: "HEADERS", 3: "RST_STREAM", 4: "SETTINGS", 6: "PING", 7: "GOAWAY",
            8: "WINDOW_UPDATE"}


def hpack_reprs(block):
    """A header block as its HPACK representations (index, literal kind,
    strings raw or Huffman, in hex), the Date value masked: what a prober
    comparing header bytes sees, without decoding Huffman."""
    out, p = [], 0

    def rint(nbits):
        nonlocal p
        v = block[p] & ((1 << nbits) - 1)
        p += 1
        if v == (1 << nbits) - 1:
            m = 0
            while p < len(block):
                b = block[p]
                p += 1
                v += (b & 0x7f) << m
                m += 7
                if not b & 0x80:
                    break
        return v

    def rstr():
        nonlocal p
        huff = block[p] & 0x80
        ln = rint(7)
        v = block[p:p + ln]
        p += ln
        return ("H" if huff else "R") + v.hex()

    while p < len(block):
        b = block[p]
        if b & 0x80:
            out.append("i%d" % rint(7))
            continue
        if b & 0x40:
            kind, idx = "inc", rint(6)
        elif b & 0x20:
            out.append("size%d" % rint(5))
            continue
        else:
            kind, idx = ("never" if b & 0x10 else "lit"), rint(4)
        name = rstr() if idx == 0 else str(idx)
        value = rstr()
        if idx == 33:
            value = "DATE"
        elif idx == 31 and len(value) > 60:
            # "multipart/byteranges; boundary=<a per-process counter>":
            # the counters of two servers differ by construction
            value = "MULTIPART"
        out.append("%s:%s=%s" % (kind, name, value))
    return " ".join(out)


def describe_h2(data):
    """Frame types (SETTINGS with ACK flag shown), :status when indexed,
    GOAWAY error codes; DATA lengths summed per stream."""
    out, pos = [], 0
    while pos + 9 <= len(data):
        ln = int.from_bytes(data[pos:pos + 3], "big")
        typ, flags = data[pos + 3], data[pos + 4]
        payload = data[pos + 9:pos + 9 + ln]
        name = H2_TYPES.get(typ, "T%d" % typ)
        if typ == 4:
            name += "-ACK" if flags & 1 else ""
        if typ == 1 and payload:
            b = payload[0]
            statuses = {0x88: 200, 0x89: 204, 0x8a: 206, 0x8b: 304, 0x8c: 400, 0x8d: 404,
                        0x8e: 500}
            name += "(%s)[%s]" % (statuses.get(b, "lit"), hpack_reprs(payload))
        if typ == 7 and len(payload) >= 8:
            name += "(%d)" % int.from_bytes(payload[4:8], "big")
        if typ == 0:
            name += "(%d)" % ln
        out.append(name)
        pos += 9 + ln
    return ",".join(out)


def recv_until_close(sock, deadline, sink, tlsobj=None, inc=None, outcome=None, stop=None,
                     t0=None):
    """Read until FIN/RST/deadline. With a TLS object, feed it and collect
    plaintext. Returns the close type."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return "OPEN"
        sock.settimeout(left)
        try:
            d = sock.recv(65536)
        except socket.timeout:
            return "OPEN"
        except ConnectionResetError:
            return "RST"
        except OSError as e:
            if e.errno == errno.ECONNRESET:
                return "RST"
            raise
        if not d:
            return "FIN"
        if outcome is not None and outcome.t_first is None and t0 is not None and tlsobj is None:
            outcome.t_first = time.monotonic() - t0
        if tlsobj is None:
            sink.append(d)
        else:
            inc.write(d)
            while True:
                try:
                    p = tlsobj.read(65536)
                    if not p:  # Python returns b"" for close_notify
                        outcome.close_notify = True
                        break
                    if outcome.t_first is None and t0 is not None:
                        # first application byte (tickets do not count)
                        outcome.t_first = time.monotonic() - t0
                    sink.append(p)
                except ssl.SSLWantReadError:
                    break
                except ssl.SSLZeroReturnError:
                    outcome.close_notify = True
                    break
                except ssl.SSLError as e:
                    outcome.error = "tls read: %s" % e.reason
                    break
        if stop and stop(b"".join(sink)):
            return "STOPPED"


def run_probe(port, probe):
    """One probe against one server. Never raises."""
    o = Outcome()
    t_sent = time.monotonic()
    try:
        sock = socket.create_connection((HOST, port), timeout=10)
    except OSError as e:
        o.error = "connect: %s" % e
        return o
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    wait = probe.get("wait", SHORT_WAIT)
    try:
        if not probe.get("tls"):
            for chunk in probe.get("send", []):
                sock.sendall(chunk)
            if probe.get("shut_wr"):
                sock.shutdown(socket.SHUT_WR)
            t_sent = time.monotonic()
            sink = []
            o.close = recv_until_close(sock, t_sent + wait, sink, outcome=o, t0=t_sent)
            o.raw = b"".join(sink)
        else:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            if probe.get("tls12"):
                ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            if probe.get("tls10"):
                ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
                ctx.minimum_version = ssl.TLSVersion.TLSv1
                ctx.maximum_version = ssl.TLSVersion.TLSv1
            if probe.get("alpn"):
                ctx.set_alpn_protocols(probe["alpn"])
            if probe.get("ciphers"):
                ctx.set_ciphers(probe["ciphers"])
            if probe.get("tls13_ciphers"):
                ctx.minimum_version = ssl.TLSVersion.TLSv1_3
            inc, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
            obj = ctx.wrap_bio(inc, outb, server_hostname=probe.get("sni", "localhost"))
            raw = []
            while True:
                try:
                    obj.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    pending = outb.read()
                    if pending:
                        sock.sendall(pending)
                    sock.settimeout(10)
                    try:
                        d = sock.recv(65536)
                    except ConnectionResetError:
                        d = None
                    if not d:
                        o.tls = "fail closed during handshake"
                        o.close = "FIN" if d == b"" else "RST"
                        o.t_close = time.monotonic() - t_sent
                        return o
                    raw.append(d)
                    inc.write(d)
                except ssl.SSLError as e:
                    o.tls = "fail %s" % e.reason
                    o.raw = b"".join(raw)[-7:] if raw else b""
                    pending = outb.read()
                    if pending:
                        try:
                            sock.sendall(pending)
                        except OSError:
                            pass
                    t_sent = time.monotonic()
                    sink = []
                    o.close = recv_until_close(sock, t_sent + wait, sink)
                    o.raw += b"".join(sink)
                    o.t_close = time.monotonic() - t_sent if o.close != "OPEN" else None
                    return o
            o.tls = "ok %s %s %s" % (obj.version(), obj.selected_alpn_protocol(), obj.cipher()[0])
            pending = outb.read()
            if pending:
                sock.sendall(pending)
            for chunk in probe.get("send", []):
                obj.write(chunk)  # one write <= 16 KiB: one TLS record
                sock.sendall(outb.read())
            if probe.get("shut_wr"):
                sock.shutdown(socket.SHUT_WR)  # FIN without close_notify
            t_sent = time.monotonic()
            sink = []
            o.close = recv_until_close(sock, t_sent + wait, sink, obj, inc, o, t0=t_sent)
            o.plain = b"".join(sink)
        if o.close != "OPEN":
            o.t_close = time.monotonic() - t_sent
    except Exception as e:  # a probe must never take the suite down
        o.error = "%s: %s" % (type(e).__name__, e)
    finally:
        sock.close()
    return o


# ---- the battery -------------------------------------------------------------

def conditional_probes(site):
    """Conditional GETs with the three date forms nginx parses (RFC 1123,
    RFC 850, asctime: ngx_parse_http_time) and forms it is lax about, plus
    Expect: 100-continue. Both servers serve the same files (the built-in
    decoy embeds obfs/site with its files' times), so the dates can be
    exact."""
    t = int(os.path.getmtime(os.path.join(site, "robots.txt")))
    g = time.gmtime(t)
    rfc1123 = time.strftime("%a, %d %b %Y %H:%M:%S GMT", g).encode()
    rfc850 = time.strftime("%A, %d-%b-%y %H:%M:%S GMT", g).encode()
    asctime = time.strftime("%a %b ", g).encode() + b"%2d" % g.tm_mday + \
        time.strftime(" %H:%M:%S %Y", g).encode()
    older = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(t - 3600)).encode()
    size = os.path.getsize(os.path.join(site, "robots.txt"))
    etag = b'"%x-%x"' % (t, size)

    def get(path, *headers, ver=b"HTTP/1.1"):
        return b"GET " + path + b" " + ver + b"\r\nHost: localhost\r\n" + \
            b"".join(h + b"\r\n" for h in headers) + b"Connection: close\r\n\r\n"

    ims = b"If-Modified-Since: "
    return [
        dict(name="tls-ims-rfc1123", tls=True, send=[get(b"/robots.txt", ims + rfc1123)]),
        dict(name="tls-ims-rfc850", tls=True, send=[get(b"/robots.txt", ims + rfc850)]),
        dict(name="tls-ims-asctime", tls=True, send=[get(b"/robots.txt", ims + asctime)]),
        dict(name="tls-ims-odd-weekday", tls=True,
             send=[get(b"/robots.txt", ims + b"Xyz" + rfc1123[3:])]),
        dict(name="tls-ims-no-gmt", tls=True, send=[get(b"/robots.txt", ims + rfc1123[:-4])]),
        dict(name="tls-ims-older", tls=True, send=[get(b"/robots.txt", ims + older)]),
        dict(name="tls-ims-garbage", tls=True, send=[get(b"/robots.txt", ims + b"yesterday")]),
        dict(name="tls-ims-dup", tls=True,
             send=[get(b"/robots.txt", ims + rfc1123, ims + rfc1123)]),
        dict(name="tls-inm-dup", tls=True,
             send=[get(b"/robots.txt", b"If-None-Match: \"x\"", b"If-None-Match: \"y\"")]),
        dict(name="tls-if-range-rfc850", tls=True,
             send=[get(b"/robots.txt", b"Range: bytes=0-9", b"If-Range: " + rfc850)]),
        dict(name="tls-expect-100", tls=True,
             send=[get(b"/robots.txt", b"Expect: 100-continue")]),
        dict(name="tls-expect-100-404", tls=True,
             send=[get(b"/nothing-here", b"Expect: 100-Continue")]),
        dict(name="tls-expect-100-http10", tls=True,
             send=[get(b"/robots.txt", b"Expect: 100-continue", ver=b"HTTP/1.0")]),
        dict(name="tls-expect-other", tls=True, send=[get(b"/robots.txt", b"Expect: 200-ok")]),
        dict(name="tls-expect-dup", tls=True,
             send=[get(b"/robots.txt", b"Expect: 100-continue", b"Expect: 100-continue")]),
        dict(name="tls-expect-100-dir", tls=True, send=[get(b"/css", b"Expect: 100-continue")]),
        dict(name="tls-expect-100-403", tls=True, send=[get(b"/img/", b"Expect: 100-continue")]),
        dict(name="tls-expect-100-head", tls=True,
             send=[get(b"/robots.txt", b"Expect: 100-continue").replace(b"GET", b"HEAD", 1)]),
        dict(name="tls-expect-100-post", tls=True,
             send=[b"POST /robots.txt HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
                   b"Content-Length: 3\r\nConnection: close\r\n\r\nabc"]),
        dict(name="tls-expect-100-ims", tls=True,
             send=[get(b"/robots.txt", b"Expect: 100-continue", ims + rfc1123)]),
        dict(name="tls-if-match-other", tls=True,
             send=[get(b"/robots.txt", b"If-Match: \"nope\"")]),
        dict(name="tls-if-match-star", tls=True, send=[get(b"/robots.txt", b"If-Match: *")]),
        dict(name="tls-if-match-exact", tls=True,
             send=[get(b"/robots.txt", b"If-Match: \"x\", " + etag + b"  ")]),
        dict(name="tls-if-match-weak", tls=True,
             send=[get(b"/robots.txt", b"If-Match: W/" + etag)]),
        dict(name="tls-inm-weak", tls=True,
             send=[get(b"/robots.txt", b"If-None-Match: W/" + etag)]),
        dict(name="tls-iums-older", tls=True,
             send=[get(b"/robots.txt", b"If-Unmodified-Since: " + older)]),
        dict(name="tls-iums-same", tls=True,
             send=[get(b"/robots.txt", b"If-Unmodified-Since: " + rfc850)]),
        dict(name="tls-iums-garbage", tls=True,
             send=[get(b"/robots.txt", b"If-Unmodified-Since: soon")]),
        dict(name="tls-iums-404", tls=True,
             send=[get(b"/nothing-here", b"If-Unmodified-Since: soon")]),
        dict(name="tls-if-range-asctime", tls=True,
             send=[get(b"/robots.txt", b"Range: bytes=0-9", b"If-Range: " + asctime)]),
        dict(name="tls-ims-short", tls=True, send=[get(b"/robots.txt", ims + rfc1123[:20])]),
        dict(name="tls-ims-feb30", tls=True,
             send=[get(b"/robots.txt", ims + b"Mon, 30 Feb 2026 10:00:00 GMT")]),
    ] + [
        # nginx pads its own error pages for MSIE and Chrome (msie_padding).
        dict(name="tls-ua-%s-%s" % (ua_name, what), tls=True,
             send=[req_line + b"\r\nHost: localhost\r\nUser-Agent: " + ua + extra +
                   b"\r\nConnection: close\r\n\r\n"])
        for ua_name, ua in (
            ("chrome", b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                       b"Chrome/126.0.0.0 Safari/537.36"),
            ("msie", b"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)"),
            ("firefox", b"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
            ("safari", b"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 "
                       b"(KHTML, like Gecko) Version/17.5 Safari/605.1.15"))
        for what, req_line, extra in (
            ("403", b"GET /img/ HTTP/1.1", b""),
            ("405", b"POST /robots.txt HTTP/1.1", b"\r\nContent-Length: 0"),
            ("404", b"GET /no-such HTTP/1.1", b""),
            ("301", b"GET /css HTTP/1.1", b""),
            ("412", b"GET /robots.txt HTTP/1.1", b"\r\nIf-Match: \"x\""),
            ("400", b"GET /robots.txt HTTP/1.1", b"\r\nIf-Match: *\r\nIf-Match: *"),
            ("http10-403", b"GET /img/ HTTP/1.0", b""),
            ("gzip-403", b"GET /img/ HTTP/1.1", b"\r\nAccept-Encoding: gzip, deflate, br"),
            ("416", b"GET /robots.txt HTTP/1.1", b"\r\nRange: bytes=9999-"))
    ] + [
        # keepalive_disable msie6 (nginx's default): a POST from MSIE 4-6
        # without SV1 gets Connection: close; a GET, SV1 and others keep it.
        dict(name="tls-ua-keepalive-%s-%s" % (name, meth.decode().lower()), tls=True,
             wait=SHORT_WAIT,
             send=[meth + b" /robots.txt HTTP/1.1\r\nHost: localhost\r\nUser-Agent: " + ua +
                   b"\r\nContent-Length: 0\r\n\r\n"])
        for meth in (b"GET", b"POST")
        for name, ua in (("msie6", b"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)"),
                         ("msie6-sv1", b"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)"),
                         ("msie5", b"Mozilla/4.0 (compatible; MSIE 5.5; Windows 98)"),
                         ("msie7", b"Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0)"),
                         ("opera-msie6", b"Mozilla/4.0 (compatible; MSIE 6.0; Windows) Opera 9"),
                         ("short-msie", b"x MSIE 6."))
    ] + [
        # Header blocks over a connection: nginx never refers to HPACK's
        # dynamic table, and after a client's SETTINGS_HEADER_TABLE_SIZE
        # (Chrome sends 65536) starts its next block with a size update to 0.
        dict(name="tls-h2-three-requests", tls=True, alpn=["h2"], wait=SHORT_WAIT,
             send=[h2_get(b"/robots.txt", streams=3)]),
        dict(name="tls-h2-chrome-settings", tls=True, alpn=["h2"], wait=SHORT_WAIT,
             send=[h2_get(b"/robots.txt", streams=2,
                          settings=b"\x00\x01\x00\x01\x00\x00\x00\x02\x00\x00\x00\x00"
                                   b"\x00\x04\x00\x60\x00\x00\x00\x06\x00\x04\x00\x00")]),
        dict(name="tls-h2-404-412-301", tls=True, alpn=["h2"], wait=SHORT_WAIT,
             send=[h2_get(b"/nothing", streams=1) + h2_get(b"/robots.txt", hpack(39, b'"x"'))[24 + 9:]
                   .replace(b"\x00\x00\x00\x01", b"\x00\x00\x00\x03", 1)]),
    ] + [
        # HTTP/2 frame-level probes: nginx's reactions to frames a scanner
        # sends (PING, odd SETTINGS, stream errors, unknown types).
        dict(name="tls-h2f-" + name, tls=True, alpn=["h2"], wait=SHORT_WAIT,
             send=[H2_PRE + H2_SETTINGS0 + frames])
        for name, frames in (
            ("ping", b"\x00\x00\x08\x06\x00\x00\x00\x00\x00" + b"12345678"),
            ("ping-stream1", b"\x00\x00\x08\x06\x00\x00\x00\x00\x01" + b"12345678"),
            ("ping-short", b"\x00\x00\x04\x06\x00\x00\x00\x00\x00" + b"1234"),
            ("settings-bad-len", b"\x00\x00\x05\x04\x00\x00\x00\x00\x00" + b"\x00" * 5),
            ("settings-push1", b"\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x01"),
            ("settings-window-huge", b"\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x04\x80\x00\x00\x00"),
            ("settings-frame-small", b"\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x05\x00\x00\x10\x00"),
            ("window-update-0", b"\x00\x00\x04\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
            ("rst-idle", b"\x00\x00\x04\x03\x00\x00\x00\x00\x01\x00\x00\x00\x08"),
            ("data-idle", b"\x00\x00\x02\x00\x01\x00\x00\x00\x01hi"),
            ("unknown-type", b"\x00\x00\x03\xfa\x00\x00\x00\x00\x00abc"),
            ("goaway", b"\x00\x00\x08\x07\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
            ("priority", b"\x00\x00\x05\x02\x00\x00\x00\x00\x03\x00\x00\x00\x00\x10"),
            ("headers-even", H2_HDR_GET.replace(b"\x00\x00\x00\x01", b"\x00\x00\x00\x02", 1)),
            ("continuation-alone", b"\x00\x00\x01\x09\x04\x00\x00\x00\x01\x84"),
            ("headers-no-end", H2_HDR_GET.replace(b"\x01\x05", b"\x01\x01", 1)),
        )
    ] + [
        # The same over HTTP/2 (HPACK literals with static-table names).
        dict(name="tls-h2-" + name, tls=True, alpn=["h2"], wait=SHORT_WAIT,
             send=[h2_get(b"/robots.txt", b"".join(hpack(i, v) for i, v in hdrs))])
        for name, hdrs in (("ims-rfc850", ((40, rfc850),)),
                           ("ims-asctime", ((40, asctime),)),
                           ("ims-dup", ((40, rfc1123), (40, rfc1123))),
                           ("inm-dup", ((41, etag), (41, etag))),
                           ("if-match-other", ((39, b'"nope"'),)),
                           ("iums-older", ((43, older),)),
                           ("expect-100", ((35, b"100-continue"),)),
                           ("chrome-403", ((58, b"Mozilla/5.0 Chrome/126.0.0.0 Safari/537.36"),)),
                           ("range", ((50, b"bytes=0-9"),)),
                           ("ranges", ((50, b"bytes=0-9,20-29"),)),
                           ("ranges-3", ((50, b"bytes=0-9,20-29,40-49"),)),
                           ("ranges-big", ((50, b"bytes=0-0,5-"),)))
    ] + [
        # Request-line and header oddities a scanner sends, each answered
        # by nginx's parser in its own way.
        dict(name="tls-odd-" + name, tls=True, send=[raw])
        for name, raw in (
            ("absolute-uri", b"GET https://localhost/robots.txt HTTP/1.1\r\nHost: x\r\n"
                             b"Connection: close\r\n\r\n"),
            ("absolute-uri-port", b"GET http://localhost:443/ HTTP/1.1\r\nConnection: close\r\n\r\n"),
            ("connect", b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
            ("put", b"PUT /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n"
                    b"Connection: close\r\n\r\nhi"),
            ("delete", b"DELETE /robots.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
            ("patch", b"PATCH / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
            ("propfind", b"PROPFIND / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
            ("trace", b"TRACE / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
            ("http12", b"GET / HTTP/1.2\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
            ("http20", b"GET / HTTP/2.0\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
            ("http3", b"GET / HTTP/3.0\r\nHost: localhost\r\n\r\n"),
            ("http-lower", b"GET / http/1.1\r\nHost: localhost\r\n\r\n"),
            ("lf-only", b"GET /robots.txt HTTP/1.1\nHost: localhost\nConnection: close\n\n"),
            ("obs-fold", b"GET / HTTP/1.1\r\nHost: localhost\r\nX-A: 1\r\n  continued\r\n"
                         b"Connection: close\r\n\r\n"),
            ("underscore", b"GET / HTTP/1.1\r\nHost: localhost\r\nX_Y: 1\r\nConnection: close\r\n\r\n"),
            ("space-before-colon", b"GET / HTTP/1.1\r\nHost : localhost\r\nConnection: close\r\n\r\n"),
            ("empty-host", b"GET / HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n"),
            ("host-dot", b"GET / HTTP/1.1\r\nHost: localhost.\r\nConnection: close\r\n\r\n"),
            ("host-ipv6", b"GET / HTTP/1.1\r\nHost: [::1]:443\r\nConnection: close\r\n\r\n"),
            ("host-slash", b"GET / HTTP/1.1\r\nHost: local/host\r\nConnection: close\r\n\r\n"),
            ("cl-dup-same", b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\n"
                            b"Content-Length: 1\r\nConnection: close\r\n\r\nx"),
            ("cl-plus", b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: +1\r\n\r\nx"),
            ("cl-huge", b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 99999999999999999999\r\n\r\n"),
            ("te-gzip", b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\r\n"),
            ("te-chunked", b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
                           b"Connection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
            ("te-http10", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            ("uri-nul", b"GET /%00 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
            ("uri-dotdot-enc", b"GET /css/..%2frobots.txt HTTP/1.1\r\nHost: localhost\r\n"
                               b"Connection: close\r\n\r\n"),
            ("uri-double-slash", b"GET //robots.txt HTTP/1.1\r\nHost: localhost\r\n"
                                 b"Connection: close\r\n\r\n"),
            ("uri-query", b"GET /robots.txt?a=1&b=%zz HTTP/1.1\r\nHost: localhost\r\n"
                          b"Connection: close\r\n\r\n"),
            ("uri-fragment", b"GET /robots.txt#x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
            ("uri-backslash", b"GET /css\\style.css HTTP/1.1\r\nHost: localhost\r\n"
                              b"Connection: close\r\n\r\n"),
            ("uri-space", b"GET /robots .txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
            ("method-long", b"A" * 40 + b" / HTTP/1.1\r\nHost: localhost\r\n\r\n"),
            ("header-nul", b"GET / HTTP/1.1\r\nHost: localhost\r\nX-A: a\x00b\r\n\r\n"),
            ("header-cr", b"GET / HTTP/1.1\r\nHost: localhost\r\nX-A: a\rb\r\n\r\n"),
            ("upgrade-h2c", b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                            b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n"),
            ("upgrade-websocket", b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n"
                                  b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"),
            ("two-ranges-headers", b"GET /robots.txt HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-9\r\n"
                                   b"Range: bytes=20-29\r\nConnection: close\r\n\r\n"),
            ("two-accept-encodings", b"GET / HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: identity\r\n"
                                     b"Accept-Encoding: gzip\r\nConnection: close\r\n\r\n"),
            ("cl-2m-get", b"GET /robots.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2000000\r\n\r\n"),
            ("cl-2m-body-sent", b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1048577\r\n\r\n"
                                + b"z" * 1048577),
            ("cl-1m-exact", b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1048576\r\n"
                            b"Connection: close\r\n\r\n"),
            ("get-body-pending", b"GET /robots.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n"),
            ("cl-19-digits", b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000000000000000000"
                             b"\r\nConnection: close\r\n\r\n"),
            ("pipelined-3", b"GET /robots.txt HTTP/1.1\r\nHost: localhost\r\n\r\n"
                            b"HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n"
                            b"GET /nope HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
        )
    ] + [
        # nginx refuses some headers twice ("client sent duplicate header
        # line"), takes others.
        dict(name="tls-dup-" + h.decode().lower(), tls=True,
             send=[get(b"/robots.txt", h + b": " + v, h + b": " + v)])
        for h, v in ((b"If-Range", rfc1123), (b"If-Match", b"*"),
                     (b"If-Unmodified-Since", rfc1123), (b"Authorization", b"Basic eDp5"),
                     (b"Content-Range", b"bytes 0-1/2"), (b"Content-Type", b"text/plain"),
                     (b"Range", b"bytes=0-1"), (b"User-Agent", b"x"), (b"Referer", b"/"),
                     (b"Accept-Encoding", b"gzip"), (b"Via", b"1.1 x"), (b"Keep-Alive", b"1"),
                     (b"TE", b"trailers"), (b"Upgrade", b"h2c"), (b"Cookie", b"a=b"),
                     (b"Connection", b"keep-alive"), (b"Accept", b"*/*"),
                     (b"X-Forwarded-For", b"1.2.3.4"), (b"Accept-Language", b"en"),
                     (b"Date", rfc1123), (b"From", b"a@b"), (b"Origin", b"null"))
    ]


def probes(replay_msg, stale_msg, unknown_msg):
    rnd = random.Random(20240613)

    def rb(n, first=None):
        b = bytearray(rnd.getrandbits(8) for _ in range(n))
        if first is not None:
            b[0] = first
        return bytes(b)

    L = LONG_WAIT
    req = b"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: probe/1\r\nAccept: */*\r\n\r\n"
    ps = [
        dict(name="tcp-silent", wait=L),
        dict(name="tcp-halfclose", shut_wr=True),
        dict(name="tls-halfclose", tls=True, shut_wr=True),
        dict(name="tls-partial-halfclose", tls=True, shut_wr=True,
             send=[b"GET / HTTP/1.1\r\nHost: localhost\r\n"]),
        dict(name="tcp-plain-get", send=[req]),
        dict(name="tcp-plain-get-partial", send=[b"GET / HTTP/1.1\r\nHost: localhost\r\n"], wait=L),
        dict(name="tcp-rand-1-ascii", send=[b"x"], wait=L),
        dict(name="tcp-rand-16-ascii", send=[rb(16, 0x41)]),
        dict(name="tcp-rand-16-hibit", send=[rb(16, 0x9c)]),
        dict(name="tcp-rand-100", send=[rb(100, 0x37)]),
        dict(name="tcp-rand-1500", send=[rb(1500, 0x52)]),
        dict(name="tcp-rand-5000", send=[rb(5000, 0x07)]),
        dict(name="tcp-0x16-garbage-8", send=[b"\x16\x03\x01\x00\x03" + rb(3)]),
        dict(name="tcp-0x16-garbage-300", send=[b"\x16\x03\x01\x01\x27" + rb(295)]),
        dict(name="tcp-0x16-short", send=[b"\x16\x03"], wait=L),
        dict(name="tls-silent", tls=True, wait=L),
        dict(name="tls-silent-h2", tls=True, alpn=["h2", "http/1.1"], wait=L),
        dict(name="tls12-silent", tls=True, tls12=True, wait=L),
        dict(name="tls-nosni-get", tls=True, sni=None, send=[req]),
        dict(name="tls12-get", tls=True, tls12=True, send=[req]),
        dict(name="tls-alpn-unknown", tls=True, alpn=["foo/1"]),
        dict(name="tls-alpn-http10", tls=True, alpn=["http/1.0"], send=[req]),
        dict(name="tls-alpn-h1-only", tls=True, alpn=["http/1.1"], send=[req]),
        dict(name="tls-alpn-spdy-h1", tls=True, alpn=["spdy/3.1", "http/1.1"], send=[req]),
        dict(name="tls-alpn-h1-h2", tls=True, alpn=["http/1.1", "h2"], send=[req], wait=SHORT_WAIT),
        # TLS 1.2 cipher choice (Debian: ssl_prefer_server_ciphers on, so the
        # server's order decides) and suites the server has no key for.
        dict(name="tls12-ciphers-chacha-first", tls=True, tls12=True, send=[req],
             ciphers="ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384:"
                     "ECDHE-ECDSA-AES128-GCM-SHA256"),
        dict(name="tls12-ciphers-cbc", tls=True, tls12=True, send=[req],
             ciphers="ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA"),
        dict(name="tls12-ciphers-rsa-only", tls=True, tls12=True, send=[req],
             ciphers="ECDHE-RSA-AES128-GCM-SHA256:AES128-GCM-SHA256"),
        dict(name="tls12-ciphers-aes256-first", tls=True, tls12=True, send=[req],
             ciphers="ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256"),
        dict(name="tls-sni-other", tls=True, sni="www.example.net", send=[req], wait=SHORT_WAIT),
        dict(name="tls-sni-ip", tls=True, sni="127.0.0.1", send=[req], wait=SHORT_WAIT),
        dict(name="tls10-hello", tls=True, tls10=True),
        dict(name="tls-get-keepalive", tls=True, send=[req], wait=L),
        dict(name="tls-get-close", tls=True,
             send=[b"GET /about.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"]),
        dict(name="tls-head", tls=True,
             send=[b"HEAD /css/style.css HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"]),
        dict(name="tls-get-404", tls=True,
             send=[b"GET /wp-login.php HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"]),
        dict(name="tls-get-http10", tls=True, send=[b"GET /robots.txt HTTP/1.0\r\n\r\n"]),
        dict(name="tls-get-nohost", tls=True, send=[b"GET / HTTP/1.1\r\n\r\n"]),
        dict(name="tls-get-dir-noslash", tls=True,
             send=[b"GET /css HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"]),
        dict(name="tls-post", tls=True,
             send=[b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
                   b"Connection: close\r\n\r\nhello"]),
        dict(name="tls-options", tls=True,
             send=[b"OPTIONS * HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"]),
        dict(name="tls-badmethod", tls=True,
             send=[b"get / HTTP/1.1\r\nHost: localhost\r\n\r\n"]),
        dict(name="tls-range", tls=True,
             send=[b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-99\r\n"
                   b"Connection: close\r\n\r\n"]),
        dict(name="tls-range-unsat", tls=True,
             send=[b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nRange: bytes=99999-\r\n"
                   b"Connection: close\r\n\r\n"]),
        dict(name="tls-traversal", tls=True,
             send=[b"GET /../../etc/passwd HTTP/1.1\r\nHost: localhost\r\n\r\n"]),
        dict(name="tls-traversal-enc", tls=True,
             send=[b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: localhost\r\n"
                   b"Connection: close\r\n\r\n"]),
        dict(name="tls-garbage-line", tls=True, send=[b"HELLO\r\n\r\n"]),
        dict(name="tls-bad-cl-partial", tls=True, wait=L,
             send=[b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n"]),
        dict(name="tls-dup-cl-partial", tls=True, wait=L,
             send=[b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\n"
                   b"Content-Length: 1\r\n"]),
        dict(name="tls-dup-te-partial", tls=True, wait=L,
             send=[b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
                   b"Transfer-Encoding: chunked\r\n"]),
        dict(name="tls-bad-host-partial", tls=True, wait=L,
             send=[b"GET / HTTP/1.1\r\nHost: a/b\r\n"]),
        dict(name="tls-http-partial", tls=True, send=[b"GET / HTTP/1.1\r\nHost: localhost\r\n"],
             wait=L),
        dict(name="tls-long-uri", tls=True,
             send=[b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n"]),
        dict(name="tls-big-header", tls=True,
             send=[b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Pad: " + b"b" * 9000 + b"\r\n\r\n"]),
        dict(name="tls-h2-get", tls=True, alpn=["h2"], send=[h2_get(b"/")], wait=L),
        dict(name="tls-h2-garbage", tls=True, alpn=["h2"], send=[rb(40, 0x50)]),
        dict(name="tls-h2-get-gzip", tls=True, alpn=["h2"],
             send=[h2_get(b"/", extra=b"\x0f\x01\x11gzip, deflate, br")]),
        dict(name="tls-browser-gzip", tls=True,
             send=[b"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Mozilla/5.0 (X11; Linux "
                   b"x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36\r\n"
                   b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
                   b"Accept-Encoding: gzip, deflate, br, zstd\r\nAccept-Language: en-GB,en;q=0.9"
                   b"\r\nConnection: close\r\n\r\n"]),
        dict(name="tls-404-gzip", tls=True,
             send=[b"GET /admin/ HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: gzip\r\n"
                   b"Connection: close\r\n\r\n"]),
        dict(name="tls-403-gzip", tls=True,
             send=[b"GET /img/ HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: gzip\r\n"
                   b"Connection: close\r\n\r\n"]),
        dict(name="tls-gzip-q0-range", tls=True,
             send=[b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: gzip;q=0\r\n"
                   b"Range: bytes=-20\r\nConnection: close\r\n\r\n"]),
        dict(name="tls-h2-preface-on-h1", tls=True, send=[h2_get(b"/")]),
    ]
    for n in (1, 2, 16, 64, 121, 122, 300, 700, 1024, 4000, 16384):
        ps.append(dict(name="tls-rand-%d" % n, tls=True, send=[rb(n)],
                       wait=L if n == 1 else SHORT_WAIT))
    ps.append(dict(name="tls-rand-prefix-ok-300", tls=True,
                   send=[struct.pack(">H", 298) + rb(298)]))
    ps.append(dict(name="tls-rand-prefix-long", tls=True,
                   send=[struct.pack(">H", 600) + rb(298)]))
    for name, msg in (("tls-replay", replay_msg), ("tls-stale-ts", stale_msg),
                      ("tls-unknown-key", unknown_msg)):
        if msg:
            ps.append(dict(name=name, tls=True, send=[msg]))
    if replay_msg:
        # A genuine first message cut short: the server decides on the record
        # it got (PROTOCOL.md 5.7) and must not wait for the rest.
        ps.append(dict(name="tls-msg1-truncated", tls=True,
                       send=[replay_msg[:len(replay_msg) // 2]]))
    # Whether the random bytes start with a TLS-looking byte decides
    # nginx's path; the seeds above were chosen to cover both.
    return ps


H2_PRE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
H2_SETTINGS0 = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
# HEADERS (END_STREAM, END_HEADERS) on stream 1: GET /robots.txt
H2_HDR_GET = b"\x00\x00\x19\x01\x05\x00\x00\x00\x01\x82\x87\x04\x0b/robots.txt\x01\x09localhost"


def hpack(index, value):
    """A header field without indexing, its name from the static table
    (RFC 7541 6.2.2), its value a short literal."""
    assert index >= 15 and len(value) < 127
    return b"\x0f" + bytes([index - 15, len(value)]) + value


def h2_get(path, extra=b"", settings=b"", streams=1):
    """The client preface, a SETTINGS frame (|settings|: its 6-byte
    entries) and |streams| HEADERS frames (streams 1, 3, ...) for GET
    |path| (HPACK: static indexes and literals, no Huffman), plus |extra|
    header block bytes."""
    pre = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    sf = len(settings).to_bytes(3, "big") + b"\x04\x00\x00\x00\x00\x00" + settings
    hb = b"\x82\x87"  # :method GET, :scheme https
    hb += b"\x04" + bytes([len(path)]) + path if path != b"/" else b"\x84"
    hb += b"\x01\x09localhost"  # :authority, literal without indexing
    hb += extra
    hdrs = b"".join(len(hb).to_bytes(3, "big") + b"\x01\x05" + (2 * i + 1).to_bytes(4, "big") + hb
                    for i in range(streams))
    return pre + sf + hdrs


# ---- servers -----------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind((HOST, 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, proc, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError("server exited with %d" % proc.returncode)
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d never opened" % port)


NGINX_CONF = """
# Debian 12's /etc/nginx/nginx.conf http block and default site, on
# loopback ports, with the certificate and site of the probe run.
{user}
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
daemon off;
events {{ worker_connections 768; }}
http {{
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    access_log {tmp}/access.log;
    gzip on;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen {host}:{tls_port} ssl http2 default_server;
        listen {host}:{http_port} default_server;
        listen {host}:{h2c_port} http2 default_server;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {site};
        index index.html index.htm;
        server_name _;
        error_page 404 /404.html;
        location / {{
            try_files $uri $uri/ =404;
        }}
    }}
}}
"""


def start_nginx(tmp, cert, key, site, nginx_bin):
    tls_port, http_port, h2c_port = free_port(), free_port(), free_port()
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(tmp=tmp, cert=cert, key=key, site=site, host=HOST,
                                  tls_port=tls_port, http_port=http_port, h2c_port=h2c_port,
                                  user="user root;" if os.geteuid() == 0 else ""))
    proc = subprocess.Popen([nginx_bin, "-c", conf, "-p", tmp, "-e", os.path.join(tmp, "error.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_port(tls_port, proc)
    return proc, tls_port, http_port, h2c_port


SERVER_CONF = """# phantom server -c {conf}: the server under test ({mode} decoy)
[Server]
PrivateKey = {server_key}
Listen = {host}:{port}
Certificate = {cert}
CertificateKey = {key}
Hostname = localhost
{decoy}
DecoyIdentity = nginx
LogLevel = info

[Client]
Name = probe
PublicKey = {client_pub}
"""


def b64_key(hex_path):
    """A pt_probe_client key file (hex) as a configuration file key (base64)."""
    with open(hex_path) as f:
        return base64.b64encode(bytes.fromhex(f.read().strip())).decode()


def write_server_conf(tmp, mode, port, cert, key, skey, cpub, ngx_http, ngx_h2c):
    if mode == "builtin":
        decoy = "Decoy = builtin"
    else:
        decoy = "Decoy = upstream:%s:%d\nDecoyUpstreamH2 = %s:%d" % (HOST, ngx_http, HOST,
                                                                   ngx_h2c)
    conf = os.path.join(tmp, "server-%s.conf" % mode)
    # An inline PrivateKey: the file must be 0600 (docs/CONFIG.md).
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(SERVER_CONF.format(conf=conf, mode=mode, server_key=b64_key(skey), host=HOST,
                                   port=port, cert=cert, key=key, decoy=decoy,
                                   client_pub=b64_key(cpub)))
    return conf


# ---- comparison ----------------------------------------------------------------

def tolerance(t_ref):
    # Loopback jitter under this suite's parallel load is a few ms; nginx's
    # own timers fire up to ~300 ms late (NGX_TIMER_LAZY_DELAY) and a
    # prober on the Internet sees RTT jitter of tens of ms. 3 % keeps the
    # 60/75 s timeouts honest to within ~2 s.
    return max(0.5, 0.03 * t_ref)


def compare(ref, ours):
    """List of differences (empty when they match)."""
    diffs = []
    if ref.tls.split(" ")[0:2] != ours.tls.split(" ")[0:2] and not (
            ref.tls.startswith("fail") and ours.tls.startswith("fail")):
        diffs.append("tls: %s vs %s" % (ref.tls, ours.tls))
    elif ref.tls.startswith("ok") and ref.tls != ours.tls:
        diffs.append("tls: %s vs %s" % (ref.tls, ours.tls))
    if ref.summary() != ours.summary():
        diffs.append("response")
    if ref.close != ours.close:
        diffs.append("close %s vs %s" % (ref.close, ours.close))
    if ref.close_notify != ours.close_notify:
        diffs.append("close_notify %s vs %s" % (ref.close_notify, ours.close_notify))
    if ref.t_close is not None and ours.t_close is not None:
        if abs(ref.t_close - ours.t_close) > tolerance(ref.t_close):
            diffs.append("time %.2f vs %.2f" % (ref.t_close, ours.t_close))
    if (ref.t_first is None) != (ours.t_first is None) or (
            ref.t_first is not None and
            abs(ref.t_first - ours.t_first) > tolerance(ref.t_first)):
        diffs.append("first byte %s vs %s" % (
            "-" if ref.t_first is None else "%.2f" % ref.t_first,
            "-" if ours.t_first is None else "%.2f" % ours.t_first))
    if ours.error and not ref.error:
        diffs.append("error: " + ours.error)
    return diffs


def fmt(o):
    t = "%.2fs" % o.t_close if o.t_close is not None else "-"
    cn = "+cn" if o.close_notify else ""
    f = "%.2f" % o.t_first if o.t_first is not None else "-"
    return "%s/%s%s@%s" % (f, o.close, cn, t)


# Differences we measured, understand and accept for now; each is explained
# in docs/SECURITY.md ("Residual differences"). They are printed, not failed.
# Each entry is (reason, accepts(ref, ours, diffs)): only the difference
# described is tolerated, anything else still fails.
KNOWN = {
    ("tls-silent-h2", "upstream"): (
        "R2: nginx's h2c upstream ends an idle connection with GOAWAY(PROTOCOL_ERROR), its "
        "TLS h2 with GOAWAY(NO_ERROR)",
        lambda ref, ours, d: d == ["response"] and
        ours.summary() == ref.summary().replace("GOAWAY(0)", "GOAWAY(1)")),
}


def _same_data_total(ref, ours, d):
    """R12: the same frames but DATA cut differently, with the same total."""
    def split(x):
        tot = sum(int(v) for v in re.findall(r"DATA\((\d+)\)", x))
        return re.sub(r"(,DATA\(\d+\))+", ",DATA", x), tot
    return d == ["response"] and split(ref.summary()) == split(ours.summary())


for _p in ("tls-odd-cl-2m-get", "tls-odd-cl-2m-body-sent", "tls-odd-cl-1m-exact",
           "tls-odd-cl-19-digits", "tls-odd-get-body-pending"):
    KNOWN[(_p, "upstream")] = (
        "R15: behind our relay, nginx's close after a dropped body looks like any close: "
        "close_notify where nginx on TLS (timed out) sends none, or the reverse",
        lambda ref, ours, d: d == ["close_notify %s vs %s" % (ref.close_notify,
                                                               ours.close_notify)])

for _p in ("tls-h2-ranges", "tls-h2-ranges-3", "tls-h2-ranges-big"):
    KNOWN[(_p, "upstream")] = (
        "R12: nginx's h2c upstream sends a multipart answer in one DATA frame, its TLS h2 "
        "cuts it before each range's bytes", _same_data_total)


def timing(targets, n, replay, stale, unknown):
    """Median and spread of the time from our first record to the decoy's
    first byte, per kind of first record: the server's decision must not
    show in it."""
    rnd = random.Random(7)
    kinds = [("garbage-16", lambda: bytes(rnd.getrandbits(8) for _ in range(16))),
             ("prefix-ok-400", lambda: struct.pack(">H", 398) +
              bytes(rnd.getrandbits(8) for _ in range(398))),
             ("unknown-key", lambda: unknown),
             ("stale-ts", lambda: stale),
             ("replay", lambda: replay)]
    print("%-14s %-9s %9s %9s %9s   (microseconds to the first response byte)" % (
        "first record", "target", "p10", "median", "p90"))
    for kname, make in kinds:
        for tname, port in targets.items():
            samples = []
            for _ in range(n):
                o = run_probe(port, dict(name=kname, tls=True, send=[make()], wait=2.0))
                if o.t_first is not None:
                    samples.append(o.t_first * 1e6)
            samples.sort()
            if samples:
                q = lambda f: samples[min(len(samples) - 1, int(f * len(samples)))]
                print("%-14s %-9s %9.0f %9.0f %9.0f" % (kname, tname, q(0.1), q(0.5), q(0.9)))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--server", help="the phantom binary")
    ap.add_argument("--client", help="probe client binary (pt_probe_client)")
    ap.add_argument("--server-cmd", default="{server} server -c {conf}",
                    help="command template for our server ({conf}: the generated server.conf)")
    ap.add_argument("--site", default=os.path.join(here, "..", "..", "obfs", "site"))
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--only", help="comma-separated probe names")
    ap.add_argument("--targets", default="builtin,upstream")
    ap.add_argument("--verbose", "-v", action="store_true")
    ap.add_argument("--nginx-only", action="store_true", help="measure nginx, compare nothing")
    ap.add_argument("--timing", type=int, default=0, metavar="N",
                    help="instead of the battery: N sequential samples per first-record kind, "
                         "time to the first response byte (docs/SECURITY.md)")
    args = ap.parse_args()

    if not os.path.exists(args.nginx):
        print("run_probes: nginx not installed (scripts/install-deps.sh); skipping")
        return 77
    tmp = tempfile.mkdtemp(prefix="pt-probe-")
    os.chmod(tmp, 0o755)
    procs = []
    try:
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "30", "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        site = os.path.abspath(args.site)
        ngx, ngx_tls, ngx_http, ngx_h2c = start_nginx(tmp, cert, key, site, args.nginx)
        procs.append(ngx)
        targets = {"nginx": ngx_tls}

        replay = stale = unknown = None
        if not args.nginx_only:
            skey, cpub = os.path.join(tmp, "server.key"), os.path.join(tmp, "client.pub")
            ckey, spub = os.path.join(tmp, "client.key"), os.path.join(tmp, "server.pub")
            subprocess.run([args.client, "genkeys", skey, spub, ckey, cpub], check=True)
            for mode in args.targets.split(","):
                port = free_port()
                conf = write_server_conf(tmp, mode, port, cert, key, skey, cpub, ngx_http,
                                         ngx_h2c)
                cmd = args.server_cmd.format(server=args.server, conf=conf)
                p = subprocess.Popen(cmd.split(), stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(tmp, mode + ".log"), "w"))
                p.pt_log = os.path.join(tmp, mode + ".log")
                procs.append(p)
                wait_port(port, p)
                targets[mode] = port
            # A real client's first message, accepted once by each of our
            # servers (so the replay cache holds it), then replayed.
            first = os.path.join(tmp, "msg1.bin")
            for mode in args.targets.split(","):
                subprocess.run([args.client, "connect", "%s:%d" % (HOST, targets[mode]), ckey, spub,
                                first], check=True, timeout=20)
                # Both servers must have accepted the same message: replay it
                # to the second one too (it was fresh there: accepted now).
                break
            for mode in args.targets.split(",")[1:]:
                subprocess.run([args.client, "send", "%s:%d" % (HOST, targets[mode]), first],
                               check=True, timeout=20)
            replay = open(first, "rb").read()
            stale_f, unk_f = os.path.join(tmp, "stale.bin"), os.path.join(tmp, "unknown.bin")
            subprocess.run([args.client, "make", stale_f, ckey, spub, "--time-offset", "-3600"],
                           check=True)
            subprocess.run([args.client, "make", unk_f, "-", spub], check=True)
            stale, unknown = open(stale_f, "rb").read(), open(unk_f, "rb").read()

        if args.timing:
            return timing(targets, args.timing, replay, stale, unknown)
        battery = probes(replay, stale, unknown) + conditional_probes(site)
        if args.only:
            keep = set(args.only.split(","))
            battery = [p for p in battery if p["name"] in keep]
        jobs = {}
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(battery) * len(targets)) as ex:
            for p in battery:
                for tname, port in targets.items():
                    jobs[(p["name"], tname)] = ex.submit(run_probe, port, p)
        res = {k: f.result() for k, f in jobs.items()}

        passed = failed = 0
        for p in battery:
            ref = res[(p["name"], "nginx")]
            print("%-26s nginx    %-22s %s %s" % (p["name"], fmt(ref), ref.tls, ref.summary()))
            if args.verbose and (ref.plain or ref.raw):
                print("    nginx bytes: %r" % (ref.plain or ref.raw)[:600])
            for tname in targets:
                if tname == "nginx":
                    continue
                o = res[(p["name"], tname)]
                d = compare(ref, o)
                known = KNOWN.get((p["name"], tname))
                if known and d and not known[1](ref, o, d):
                    known = None
                known = known[0] if known else None
                mark = "ok" if not d else (("KNOWN (%s) " % known) if known else "MISMATCH ") + \
                    "; ".join(d)
                if d and known:
                    d = []
                    known_n = globals().setdefault("_known", [0])
                    known_n[0] += 1
                print("%-26s %-8s %-22s %s" % ("", tname, fmt(o), mark))
                if d and "response" in d:
                    print("%-35s ours: %s %s" % ("", o.tls, o.summary()))
                if args.verbose and (o.plain or o.raw):
                    print("    %s bytes: %r" % (tname, (o.plain or o.raw)[:600]))
                if d:
                    failed += 1
                else:
                    passed += 1
        print("probes: %d passed, %d failed (%d of the passed are known residuals)" % (
            passed, failed, globals().get("_known", [0])[0]))
        return 0 if failed == 0 else 1
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            # Our servers must end cleanly on SIGTERM: a sanitizer report
            # (error or leak) makes the exit status non-zero.
            if hasattr(p, "pt_log") and p.returncode != 0:
                print("run_probes: %s exited with %d:" % (p.args[0], p.returncode))
                sys.stdout.write(open(p.pt_log).read()[-4000:])
                SERVER_FAILURES.append(p.returncode)
        if os.environ.get("PT_PROBE_KEEP"):
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


SERVER_FAILURES = []

if __name__ == "__main__":
    rc = main()
    sys.exit(1 if SERVER_FAILURES and rc == 0 else rc)
