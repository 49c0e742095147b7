#!/usr/bin/env python3
"""origin.py — the local HTTP origin (and helpers) of the end-to-end tests.

Everything listens on 127.0.0.1 only.

  origin.py serve --port-file F --log F [--root DIR]
      A threaded HTTP/1.1 server on a free port (written to --port-file once
      listening). Every request is appended to --log as one line
      "METHOD PATH STATUS BYTES" (written when the response is done).
      Paths:
        /gen/<bytes>[?seed=S]       <bytes> of the deterministic stream of seed S
                                    (suffixes k, M, G = KiB, MiB, GiB)
        /slow?size=N&rate=R[&seed=S] the same stream, paced at about R bytes/s
        /hold?s=SECONDS             sends its headers, then nothing for SECONDS
        /echo                       echoes the request head (text/plain)
        anything else               a static file under --root
  origin.py digest <bytes> [seed]   prints the sha256 of that stream (no disk)
  origin.py fnv <bytes> [seed]      prints "<bytes>:<FNV-1a 32, hex>" of that stream
  origin.py blackhole --port-file F
      A listener whose accept queue is full and never drained: a connect to it
      from this machine gets no SYN-ACK (the kernel drops SYNs to a listener
      with a full queue), i.e. a connect timeout simulated on loopback.
  origin.py freeport [N]           prints N free TCP ports on 127.0.0.1
  origin.py verify LIST            LIST has lines "FILE SIZE SEED": checks each
                                   file is that stream; prints the bad ones
  origin.py guard --kind socks5|http --upstream PORT --allow HOST:PORT --port-file F --log F
      A filter in front of phantom's SOCKS5 (or HTTP) proxy for the browser
      test: a connection whose target is --allow is passed to 127.0.0.1:PORT
      byte for byte (the browser's own SOCKS5 request / HTTP request head);
      any other target (a browser's background requests to its vendor) is
      refused here, so the tunnel never connects anywhere but the origin.
      Logs "allow|deny TARGET" per connection.
  origin.py socks5 PROXY_PORT ATYP HOST PORT [USER PASS]
      A raw SOCKS5 CONNECT through 127.0.0.1:PROXY_PORT (ATYP ip4 or domain);
      prints "rep=XX" (the reply code, hex), and on success sends
      "GET /echo" and prints the response's status line.
"""
import hashlib
import http.server
import os
import socket
import socketserver
import sys
import threading
import time
import urllib.parse

BLOCK = 1 << 20


def parse_size(s):
    mult = {"k": 1 << 10, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if s and s[-1] in mult:
        return int(s[:-1]) * mult[s[-1]]
    return int(s)


class Stream:
    """A deterministic byte stream: 1 MiB blocks cut from one fixed 2 MiB
    pseudo-random buffer at offsets that depend on the block number and the
    seed, so lost, repeated or swapped blocks, or bytes of another stream,
    change the digest. Cheap: one slice per MiB, nothing per seed."""

    _base = None
    _lock = threading.Lock()

    @classmethod
    def base(cls):
        with cls._lock:
            if cls._base is None:
                out = bytearray()
                ctr = 0
                while len(out) < 2 * BLOCK:
                    out += hashlib.blake2b(ctr.to_bytes(8, "little"), key=b"phantom-e2e",
                                           digest_size=64).digest()
                    ctr += 1
                cls._base = bytes(out[: 2 * BLOCK])
            return cls._base

    @classmethod
    def chunks(cls, size, seed="0", chunk=BLOCK):
        base = cls.base()
        sh = int.from_bytes(hashlib.sha256(str(seed).encode()).digest()[:8], "little")
        i = 0
        left = size
        while left > 0:
            off = (sh + i * 7919 + 13) % BLOCK
            blk = base[off: off + BLOCK]
            n = min(left, BLOCK)
            pos = 0
            while pos < n:
                m = min(chunk, n - pos)
                yield blk[pos: pos + m]
                pos += m
            left -= n
            i += 1

    @classmethod
    def digest(cls, size, seed="0"):
        h = hashlib.sha256()
        for c in cls.chunks(size, seed):
            h.update(c)
        return h.hexdigest()


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "e2e-origin/1"

    def log_message(self, fmt, *args):  # quiet stderr
        pass

    def _record(self, status, nbytes):
        line = "%s %s %s %d\n" % (self.command, self.path, status, nbytes)
        with self.server.log_lock:
            self.server.log_file.write(line)
            self.server.log_file.flush()

    def send_response(self, code, message=None):
        self._status = code
        super().send_response(code, message)

    def _send_stream(self, size, seed, rate=None):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        sent = 0
        t0 = time.monotonic()
        chunk = 64 * 1024 if rate else BLOCK
        try:
            for c in Stream.chunks(size, seed, chunk):
                self.wfile.write(c)
                sent += len(c)
                if rate:
                    ahead = sent / rate - (time.monotonic() - t0)
                    if ahead > 0:
                        time.sleep(ahead)
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
        self._record(200 if sent == size else "200-cut", sent)

    def do_GET(self):
        self._status = 0
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        if u.path.startswith("/gen/"):
            try:
                size = parse_size(u.path[5:])
            except ValueError:
                self.send_error(400)
                self._record(400, 0)
                return
            self._send_stream(size, q.get("seed", "0"))
            return
        if u.path == "/slow":
            self._send_stream(parse_size(q.get("size", "16M")), q.get("seed", "0"),
                              rate=parse_size(q.get("rate", "1M")))
            return
        if u.path == "/hold":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "3")
            self.end_headers()
            self.wfile.flush()
            time.sleep(float(q.get("s", "5")))
            try:
                self.wfile.write(b"ok\n")
            except OSError:
                pass
            self._record(200, 3)
            return
        if u.path == "/echo":
            body = (self.requestline + "\r\n" + str(self.headers)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self._record(200, len(body))
            return
        super().do_GET()
        self._record(self._status, 0)

    def end_headers(self):
        # Chromium must ask for every sub-resource each time: no caching.
        if not any(h.lower().startswith(b"cache-control") for h in getattr(self, "_headers_buffer", [])):
            self.send_header("Cache-Control", "no-store")
        super().end_headers()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


def serve(args):
    port_file = log = None
    root = os.getcwd()
    i = 0
    while i < len(args):
        if args[i] == "--port-file":
            port_file = args[i + 1]
        elif args[i] == "--log":
            log = args[i + 1]
        elif args[i] == "--root":
            root = args[i + 1]
        else:
            sys.exit("origin.py serve: unknown argument %s" % args[i])
        i += 2
    srv = Server(("127.0.0.1", 0),
                 lambda *a, **k: Handler(*a, directory=root, **k))
    srv.log_file = open(log or os.devnull, "a", buffering=1)
    srv.log_lock = threading.Lock()
    Stream.base()
    port = srv.server_address[1]
    if port_file:
        tmp = port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, port_file)
    srv.serve_forever()


def blackhole(args):
    port_file = args[args.index("--port-file") + 1]
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.bind(("127.0.0.1", 0))
    ls.listen(0)
    port = ls.getsockname()[1]
    # Fill the accept queue (backlog 0 holds one; two to be sure), never accept.
    fillers = []
    for _ in range(3):
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.setblocking(False)
        try:
            c.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(c)
        time.sleep(0.2)
    # Check: a new connect must not complete.
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(("127.0.0.1", port))
        sys.exit("blackhole: a connect to the full listener completed; cannot simulate a timeout")
    except socket.timeout:
        pass
    probe.close()
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, port_file)
    while True:
        time.sleep(3600)


def freeport(args):
    n = int(args[0]) if args else 1
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))
    for s in socks:
        s.close()


def verify(args):
    bad = 0
    n = 0
    with open(args[0]) as f:
        for line in f:
            if not line.strip():
                continue
            path, size, seed = line.split()
            n += 1
            h = hashlib.sha256()
            try:
                with open(path, "rb") as g:
                    while True:
                        b = g.read(BLOCK)
                        if not b:
                            break
                        h.update(b)
            except OSError as e:
                print("missing %s: %s" % (path, e))
                bad += 1
                continue
            if h.hexdigest() != Stream.digest(parse_size(size), seed):
                print("wrong content: %s (%d bytes, want %s)" % (path, os.path.getsize(path), size))
                bad += 1
    print("verified %d files, %d bad" % (n, bad))
    sys.exit(1 if bad else 0)


def socks5(args):
    proxy_port, atyp, host, port = int(args[0]), args[1], args[2], int(args[3])
    user = args[4].encode() if len(args) > 4 else None
    pw = args[5].encode() if len(args) > 5 else None
    s = socket.create_connection(("127.0.0.1", proxy_port), timeout=20)

    def recv_exact(n):
        b = b""
        while len(b) < n:
            c = s.recv(n - len(b))
            if not c:
                raise EOFError("proxy closed after %d of %d bytes" % (len(b), n))
            b += c
        return b

    s.sendall(b"\x05\x01" + (b"\x02" if user else b"\x00"))
    ver, meth = recv_exact(2)
    if meth == 0xFF:
        print("method=ff")
        return
    if meth == 2:
        s.sendall(b"\x01" + bytes([len(user)]) + user + bytes([len(pw)]) + pw)
        _, st = recv_exact(2)
        if st != 0:
            print("auth=%02x" % st)
            return
    if atyp == "ip4":
        addr = b"\x01" + socket.inet_aton(host)
    else:
        addr = b"\x03" + bytes([len(host)]) + host.encode()
    s.sendall(b"\x05\x01\x00" + addr + port.to_bytes(2, "big"))
    head = recv_exact(4)
    alen = {1: 4, 4: 16}.get(head[3])
    if alen is None:
        alen = recv_exact(1)[0]
    recv_exact(alen + 2)
    print("rep=%02x" % head[1])
    if head[1] != 0:
        return
    s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        c = s.recv(65536)
        if not c:
            break
        data += c
    print(data.split(b"\r\n")[0].decode(errors="replace"))


def _pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    try:
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b


def guard(args):
    opts = dict(zip(args[0::2], args[1::2]))
    kind = opts["--kind"]
    upstream = int(opts["--upstream"])
    allow = opts["--allow"]
    log = open(opts["--log"], "a", buffering=1)
    lock = threading.Lock()
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.bind(("127.0.0.1", 0))
    ls.listen(128)

    def note(verdict, target):
        with lock:
            log.write("%s %s\n" % (verdict, target))

    def handle_socks(c):
        greet = _recv_exact(c, 2)
        greet += _recv_exact(c, greet[1])
        c.sendall(b"\x05\x00")
        req = _recv_exact(c, 4)
        atyp = req[3]
        if atyp == 1:
            a = _recv_exact(c, 4)
            host = socket.inet_ntoa(a)
        elif atyp == 3:
            n = _recv_exact(c, 1)
            a = n + _recv_exact(c, n[0])
            host = a[1:].decode(errors="replace")
        elif atyp == 4:
            a = _recv_exact(c, 16)
            host = "[%s]" % socket.inet_ntop(socket.AF_INET6, a)
        else:
            return None
        p = _recv_exact(c, 2)
        target = "%s:%d" % (host, int.from_bytes(p, "big"))
        if target != allow:
            note("deny", target)
            c.sendall(b"\x05\x02\x00\x01\x00\x00\x00\x00\x00\x00")
            return None
        note("allow", target)
        u = socket.create_connection(("127.0.0.1", upstream))
        u.sendall(greet)
        if _recv_exact(u, 2) != b"\x05\x00":
            u.close()
            return None
        u.sendall(req + a + p)
        return u

    def handle_http(c):
        head = b""
        while b"\r\n" not in head:
            d = c.recv(4096)
            if not d:
                return None
            head += d
        line = head.split(b"\r\n")[0].decode(errors="replace").split()
        target = "?"
        if len(line) >= 2:
            if line[0] == "CONNECT":
                target = line[1]
            else:
                u = urllib.parse.urlsplit(line[1])
                if u.scheme == "http" and u.hostname:
                    target = "%s:%d" % (u.hostname, u.port or 80)
        if target != allow:
            note("deny", target)
            c.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return None
        note("allow", target)
        u = socket.create_connection(("127.0.0.1", upstream))
        u.sendall(head)
        return u

    def handle(c):
        u = None
        try:
            u = handle_socks(c) if kind == "socks5" else handle_http(c)
            if u is not None:
                t = threading.Thread(target=_pipe, args=(u, c), daemon=True)
                t.start()
                _pipe(c, u)
                t.join()
        except (OSError, EOFError):
            pass
        finally:
            c.close()
            if u is not None:
                u.close()

    tmp = opts["--port-file"] + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % ls.getsockname()[1])
    os.rename(tmp, opts["--port-file"])
    while True:
        c, _ = ls.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "serve":
        serve(args)
    elif cmd == "digest":
        print(Stream.digest(parse_size(args[0]), args[1] if len(args) > 1 else "0"))
    elif cmd == "fnv":
        h = 0x811C9DC5
        n = 0
        for c in Stream.chunks(parse_size(args[0]), args[1] if len(args) > 1 else "0"):
            for b in c:
                h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
            n += len(c)
        print("%d:%08x" % (n, h))
    elif cmd == "blackhole":
        blackhole(args)
    elif cmd == "freeport":
        freeport(args)
    elif cmd == "verify":
        verify(args)
    elif cmd == "socks5":
        socks5(args)
    elif cmd == "guard":
        guard(args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
