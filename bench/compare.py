#!/usr/bin/env python3
"""compare.py — the side-by-side benchmark that bench/run.sh runs.

Compares, on 127.0.0.1 only, the SOCKS5 proxies of:

  ours        phantom client (SOCKS5) -> phantom server (TLS 1.3 + Noise_IK frames)
  relay       bench_relay: a plain single-threaded epoll SOCKS5 relay, no encryption
  microsocks  Debian's microsocks: plain SOCKS5, a thread per connection, 1 KiB copies
  ss          shadowsocks-libev: ss-local (SOCKS5) -> ss-server, chacha20-ietf-poly1305
  trojan      trojan client (SOCKS5) -> trojan server (TLS), fallback to the origin

and a "direct" reference row (curl and the probe straight to the origin).

Measurements (docs/BENCHMARKS.md explains each one):
  1. memory: fresh processes, 1000 (PT_BENCH_STREAMS) SOCKS5 streams held open to
     the origin; the sum of VmHWM of the system's processes (client + server).
     The streams are opened and closed twice, to see whether memory keeps growing.
  2. latency: 200 (PT_BENCH_CONNS) sequential new connections, each SOCKS5 +
     "GET /ping"; connect() -> first byte of the answer; median and p95. Taken
     in 4 interleaved slices per system.
  3. bulk: a 2 GiB (PT_BENCH_BYTES) download with curl through each proxy,
     PT_BENCH_RUNS rounds, systems interleaved within each round so that noise
     from other work on the machine spreads evenly; MB/s (10^6 B/s) is curl's
     speed_download, CPU-s/GiB is utime+stime of the proxy processes
     (/proc/PID/stat) over the transfer divided by GiB moved. Medians of the runs.
  4. WAN check (--rtt-ms): a second client of ours, ss and trojan reaches its
     server through bench/delay_line.py; new-connection latency and one 128 MiB
     download.

Prints the table and writes raw numbers to --results.
"""
import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
LAT_ROUNDS = 4
WAN_CONNS = 20
WAN_BYTES = 128 << 20
GIB = 1 << 30
MIB = 1 << 20


def log(msg):
    print(f"[bench] {msg}", flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def proc_cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)


def proc_mem_kib(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS", "Threads"):
                out[k] = int(v.split()[0])
    return out


class Proc:
    """A process we started (and only those are ever signalled)."""

    def __init__(self, name, argv, cwd, logdir):
        self.name = name
        self.log_path = os.path.join(logdir, f"{name}.log")
        self.logf = open(self.log_path, "ab")
        self.p = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=self.logf,
                                  stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def stop(self):
        if self.alive():
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(3)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.logf.close()

    def log_tail(self, n=5):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return " | ".join(lines[-n:])
        except OSError:
            return ""


class System:
    key = ""
    label = ""
    tools = ()          # binaries it needs
    package = ""        # the Debian package they come from

    def __init__(self, ctx):
        self.ctx = ctx
        self.procs = []
        self.port = None
        self.note = ""

    def missing(self):
        for t in self.tools:
            if not (os.path.isabs(t) and os.access(t, os.X_OK)) and not shutil.which(t):
                return f"not available: {t} missing" + (
                    f" (Debian package {self.package} not installed)" if self.package else "")
        return None

    def launch(self, wd, tag):
        """Starts the processes (self.spawn) and sets self.port (SOCKS5)."""
        raise NotImplementedError

    def start(self, tag):
        wd = os.path.join(self.ctx.workdir, self.key)
        os.makedirs(wd, exist_ok=True)
        self.procs = []
        self.launch(wd, tag)
        if not wait_port(self.port, 10):
            raise RuntimeError(f"SOCKS5 port {self.port} never opened; " + self.tails())
        # End to end readiness (our client connects its session in the background).
        end = time.time() + 20
        while time.time() < end:
            r = probe(self.ctx, "latency", self.port, 1)
            if r.get("ok") == 1:
                return
            time.sleep(0.2)
        raise RuntimeError("no request got through within 20 s; " + self.tails())

    def spawn(self, name, argv, wd, tag):
        p = Proc(f"{name}-{tag}", argv, wd, wd)
        self.procs.append(p)
        return p

    def dead(self):
        return [p for p in self.procs if not p.alive()]

    def tails(self):
        return "; ".join(f"{p.name} (exit {p.p.poll()}): {p.log_tail()}" for p in self.procs)

    def cpu_ticks(self):
        return sum(proc_cpu_ticks(p.pid) for p in self.procs)

    def mem(self):
        tot = {"VmHWM": 0, "VmRSS": 0, "Threads": 0}
        for p in self.procs:
            m = proc_mem_kib(p.pid)
            for k in tot:
                tot[k] += m.get(k, 0)
        return tot

    def stop(self):
        for p in self.procs:
            p.stop()
        self.procs = []


class Ours(System):
    key, label = "ours", "phantom (ours)"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.tools = (ctx.phantom,)
        self.keys_made = False

    def launch(self, wd, tag):
        ph = self.ctx.phantom
        if not self.keys_made:
            for k in ("server.key", "client.key"):
                if os.path.exists(os.path.join(wd, k)):
                    os.unlink(os.path.join(wd, k))
                subprocess.run([ph, "genkey", "-o", k], cwd=wd, check=True)

            def pub(k):
                with open(os.path.join(wd, k), "rb") as f:
                    return subprocess.run([ph, "pubkey"], stdin=f, check=True,
                                          capture_output=True).stdout.decode().strip()
            self.spub, self.cpub = pub("server.key"), pub("client.key")
            self.keys_made = True
        sport, self.port = free_port(), free_port()
        self.sport = sport
        max_streams = max(1024, self.ctx.streams + 16)
        write_secret(os.path.join(wd, "server.conf"), f"""[Server]
PrivateKeyFile = server.key
Listen = 127.0.0.1:{sport}
SelfSigned = true
Hostname = localhost
AllowPrivateTargets = true
MaxStreamsPerClient = {max_streams}
LogLevel = warn

[Client]
PublicKey = {self.cpub}
""")
        write_secret(os.path.join(wd, "client.conf"), f"""[Client]
PrivateKeyFile = client.key
SocksListen = 127.0.0.1:{self.port}
HttpListen = off
LogLevel = warn

[Server]
PublicKey = {self.spub}
Endpoint = 127.0.0.1:{sport}
Verify = none
""")
        self.spawn("phantom-server", [ph, "server", "-c", "server.conf"], wd, tag)
        if not wait_port(sport, 10):
            raise RuntimeError("phantom server did not listen; " + self.tails())
        self.spawn("phantom-client", [ph, "client", "-c", "client.conf"], wd, tag)

    def wan_client(self, endpoint_port, tag, optimistic=False):
        """A second client of the running server, reaching it at endpoint_port
        (a delay line). Returns its SOCKS5 port. optimistic: with
        OptimisticConnect = true (a third client, its own config)."""
        wd = os.path.join(self.ctx.workdir, self.key)
        port = free_port()
        with open(os.path.join(wd, "client.conf")) as f:
            text = f.read()
        if optimistic:
            text = text.replace("[Client]\n", "[Client]\nOptimisticConnect = true\n", 1)
        text = text.replace(f"SocksListen = 127.0.0.1:{self.port}",
                            f"SocksListen = 127.0.0.1:{port}")
        text = text.replace(f"Endpoint = 127.0.0.1:{self.sport}",
                            f"Endpoint = 127.0.0.1:{endpoint_port}")
        name = "client-wan-opt" if optimistic else "client-wan"
        write_secret(os.path.join(wd, name + ".conf"), text)
        self.spawn("phantom-" + name, [self.ctx.phantom, "client", "-c", name + ".conf"],
                   wd, tag)
        return port


class Relay(System):
    key, label = "relay", "plain SOCKS5 relay"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.tools = (ctx.relay,)

    def launch(self, wd, tag):
        self.port = free_port()
        self.spawn("bench_relay", [self.ctx.relay, str(self.port)], wd, tag)


class Microsocks(System):
    key, label = "microsocks", "microsocks (plain)"
    tools, package = ("microsocks",), "microsocks"

    def launch(self, wd, tag):
        self.port = free_port()
        self.spawn("microsocks", ["microsocks", "-i", "127.0.0.1", "-p", str(self.port)], wd, tag)


class Shadowsocks(System):
    key, label = "ss", "shadowsocks-libev"
    tools, package = ("ss-server", "ss-local"), "shadowsocks-libev"

    def launch(self, wd, tag):
        sport, self.port = free_port(), free_port()
        common = ["-k", "phantom-bench-password", "-m", "chacha20-ietf-poly1305", "--no-delay",
                  "-n", "65535"]
        self.spawn("ss-server", ["ss-server", "-s", "127.0.0.1", "-p", str(sport)] + common,
                   wd, tag)
        if not wait_port(sport, 10):
            raise RuntimeError("ss-server did not listen; " + self.tails())
        self.spawn("ss-local", ["ss-local", "-s", "127.0.0.1", "-p", str(sport), "-b",
                                "127.0.0.1", "-l", str(self.port)] + common, wd, tag)
        self.sport, self.common = sport, common

    def wan_client(self, endpoint_port, tag):
        wd = os.path.join(self.ctx.workdir, self.key)
        port = free_port()
        self.spawn("ss-local-wan", ["ss-local", "-s", "127.0.0.1", "-p", str(endpoint_port),
                                    "-b", "127.0.0.1", "-l", str(port)] + self.common, wd, tag)
        return port


TROJAN_CIPHER = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                 "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                 "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384")
TROJAN_TLS13 = "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384"


class Trojan(System):
    key, label = "trojan", "trojan"
    tools, package = ("trojan",), "trojan"

    def launch(self, wd, tag):
        cert, key = self.ctx.cert()
        sport, self.port = free_port(), free_port()
        tcp = {"no_delay": True, "keep_alive": True, "reuse_port": False, "fast_open": False,
               "fast_open_qlen": 20}
        server = {
            "run_type": "server", "local_addr": "127.0.0.1", "local_port": sport,
            # The fallback for non-trojan traffic: the origin, a local HTTP port.
            "remote_addr": "127.0.0.1", "remote_port": self.ctx.origin_port,
            "password": ["phantom-bench-password"], "log_level": 3,
            "ssl": {"cert": cert, "key": key, "key_password": "", "cipher": TROJAN_CIPHER,
                    "cipher_tls13": TROJAN_TLS13, "prefer_server_cipher": True,
                    "alpn": ["http/1.1"], "reuse_session": True, "session_ticket": False,
                    "session_timeout": 600, "plain_http_response": "", "curves": "",
                    "dhparam": ""},
            "tcp": dict(tcp, prefer_ipv4=True), "mysql": {"enabled": False},
        }
        client = {
            "run_type": "client", "local_addr": "127.0.0.1", "local_port": self.port,
            "remote_addr": "127.0.0.1", "remote_port": sport,
            "password": ["phantom-bench-password"], "log_level": 3,
            "ssl": {"verify": False, "verify_hostname": False, "cert": "",
                    "cipher": TROJAN_CIPHER, "cipher_tls13": TROJAN_TLS13, "sni": "localhost",
                    "alpn": ["h2", "http/1.1"], "reuse_session": True, "session_ticket": False,
                    "curves": ""},
            "tcp": tcp,
        }
        for name, conf in (("server.json", server), ("client.json", client)):
            with open(os.path.join(wd, name), "w") as f:
                json.dump(conf, f, indent=1)
        self.spawn("trojan-server", ["trojan", "-c", "server.json"], wd, tag)
        if not wait_port(sport, 10):
            raise RuntimeError("trojan server did not listen; " + self.tails())
        self.spawn("trojan-client", ["trojan", "-c", "client.json"], wd, tag)
        self.sport, self.client_conf = sport, client

    def wan_client(self, endpoint_port, tag):
        wd = os.path.join(self.ctx.workdir, self.key)
        port = free_port()
        conf = dict(self.client_conf, local_port=port, remote_port=endpoint_port)
        with open(os.path.join(wd, "client-wan.json"), "w") as f:
            json.dump(conf, f, indent=1)
        self.spawn("trojan-client-wan", ["trojan", "-c", "client-wan.json"], wd, tag)
        return port


def write_secret(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


def parse_kv(line):
    out = {}
    for tok in line.split():
        k, _, v = tok.partition("=")
        if v:
            try:
                out[k] = int(v)
            except ValueError:
                try:
                    out[k] = float(v)
                except ValueError:
                    out[k] = v
    return out


def probe(ctx, mode, port, n):
    r = subprocess.run([ctx.probe, mode, str(port), str(ctx.origin_port), str(n)],
                       capture_output=True, timeout=300, env=dict(os.environ, BENCH_SAMPLES="1"))
    out = {}
    for line in r.stdout.decode().splitlines():
        if line.startswith("samples_ms="):
            v = line.split("=", 1)[1]
            out["samples"] = [float(x) for x in v.split(",")] if v else []
        else:
            out.update(parse_kv(line))
    return out


def lat_stats(samples):
    """Median and p95 (nearest rank, as bench_socks computes them)."""
    x = sorted(samples)
    n = len(x)
    if n == 0:
        return {}
    return {"median_ms": statistics.median(x), "p95_ms": x[int(0.95 * (n - 1) + 0.5)],
            "min_ms": x[0], "max_ms": x[-1], "mean_ms": sum(x) / n}


def curl_bulk(ctx, port, nbytes):
    argv = ["curl", "-sS", "--max-time", "300", "-o", "/dev/null", "-w",
            "%{speed_download} %{size_download}"]
    if port:
        argv += ["--socks5-hostname", f"127.0.0.1:{port}"]
    argv.append(f"http://127.0.0.1:{ctx.origin_port}/bytes/{nbytes}")
    r = subprocess.run(argv, capture_output=True, timeout=330)
    try:
        speed, size = r.stdout.decode().split()
        return float(speed), int(float(size)), r.stderr.decode().strip()
    except ValueError:
        return 0.0, 0, r.stderr.decode().strip() or "curl failed"


class Ctx:
    pass


def machine_facts():
    facts = {"nproc": os.cpu_count(), "kernel": platform.release()}
    try:
        facts["nproc"] = int(subprocess.run(["nproc"], capture_output=True).stdout)
    except (OSError, ValueError):
        pass
    with open("/proc/cpuinfo") as f:
        flags = ""
        for line in f:
            if line.startswith("model name") and "cpu" not in facts:
                facts["cpu"] = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = line.split(":", 1)[1].split()
    facts["cpu_flags"] = " ".join(x for x in ("aes", "avx2", "avx512f", "sha_ni") if x in flags)
    with open("/proc/meminfo") as f:
        facts["mem_total_mib"] = int(f.readline().split()[1]) // 1024
    return facts


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


def ratio(v, ours):
    if v is None or not ours:
        return "n/a"
    return f"{v / ours:.2f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--phantom", required=True)
    ap.add_argument("--origin", required=True)
    ap.add_argument("--probe", required=True)
    ap.add_argument("--relay", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--bytes", type=int, default=2 * GIB)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--conns", type=int, default=200)
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--systems", default="ours,relay,microsocks,ss,trojan")
    ap.add_argument("--notes", default="", help="install problems to show (sys=why;...)")
    ap.add_argument("--rtt-ms", type=float, default=0,
                    help="also measure one stream of ours through a delay line of this RTT")
    a = ap.parse_args()
    for k in ("phantom", "origin", "probe", "relay", "workdir", "results"):
        setattr(a, k, os.path.abspath(getattr(a, k)))

    ctx = Ctx()
    ctx.phantom, ctx.probe, ctx.relay = a.phantom, a.probe, a.relay
    ctx.workdir, ctx.streams = a.workdir, a.streams
    os.makedirs(a.workdir, exist_ok=True)

    def cert():
        c = os.path.join(a.workdir, "ours", "cert.pem")
        k = os.path.join(a.workdir, "ours", "cert.key")
        if not (os.path.exists(c) and os.path.exists(k)):
            # Our server makes these on its first start; without it, make one.
            os.makedirs(os.path.dirname(c), exist_ok=True)
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", k, "-out", c,
                            "-days", "30", "-subj", "/CN=localhost"], check=True,
                           capture_output=True)
        return c, k
    ctx.cert = cert

    facts = machine_facts()
    facts["loadavg_start"] = loadavg()
    log(f"machine: {facts['nproc']} CPUs, {facts.get('cpu', '?')} ({facts['cpu_flags']}), "
        f"{facts['mem_total_mib']} MiB, Linux {facts['kernel']}, load {facts['loadavg_start']}")

    origin_dir = os.path.join(a.workdir, "origin")
    os.makedirs(origin_dir, exist_ok=True)
    origin = Proc("origin", [a.origin, "0"], origin_dir, origin_dir)
    origin.logf.flush()
    end = time.time() + 5
    ctx.origin_port = None
    while time.time() < end and ctx.origin_port is None:
        with open(origin.log_path) as f:
            for line in f:
                if line.startswith("PORT "):
                    ctx.origin_port = int(line.split()[1])
        time.sleep(0.05)
    if not ctx.origin_port:
        sys.exit("bench: the origin did not start")

    classes = {c.key: c for c in (Ours, Relay, Microsocks, Shadowsocks, Trojan)}
    wanted = [k.strip() for k in a.systems.split(",") if k.strip()]
    systems = [classes[k](ctx) for k in wanted if k in classes]
    install_notes = dict(x.split("=", 1) for x in a.notes.split(";") if "=" in x)
    res = {s.key: {"label": s.label} for s in systems}
    res["direct"] = {"label": "direct (no proxy)"}
    notes = {}
    for s in systems:
        why = s.missing()
        if why:
            notes[s.key] = install_notes.get(s.key, why)
    active = [s for s in systems if s.key not in notes]

    def fail(s, phase, e):
        msg = f"{phase}: {e}"
        log(f"{s.label}: FAILED {msg}")
        notes[s.key] = (notes.get(s.key, "") + "; " if s.key in notes else "") + msg

    try:
        # ---- 1. memory with N open streams (fresh processes, one system at a time)
        for s in active:
            try:
                s.start("mem")
                time.sleep(0.3)
                idle = s.mem()
                cycles = []
                for cycle in range(2):
                    hp = subprocess.Popen([a.probe, "hold", str(s.port), str(ctx.origin_port),
                                           str(a.streams)], stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE)
                    line = hp.stdout.readline().decode()
                    time.sleep(0.5)  # let the last streams settle everywhere
                    held = s.mem()
                    hp.stdin.close()
                    hp.wait(30)
                    time.sleep(0.5)
                    dead = s.dead()
                    if dead:
                        raise RuntimeError("a process exited with streams open: " + s.tails())
                    after = s.mem()
                    cycles.append((parse_kv(line), held, after))
                r = res[s.key]
                h1 = cycles[0]
                r["streams_ok"] = h1[0].get("ok", 0)
                r["streams_fail"] = h1[0].get("fail", a.streams)
                r["streams_open_secs"] = h1[0].get("secs")
                r["idle_rss_kib"] = idle["VmRSS"]
                r["hold_hwm_kib"] = h1[1]["VmHWM"]
                r["hold_rss_kib"] = h1[1]["VmRSS"]
                r["hold_threads"] = h1[1]["Threads"]
                r["after_close_rss_kib"] = h1[2]["VmRSS"]
                r["hold2_ok"] = cycles[1][0].get("ok", 0)
                r["hold2_rss_kib"] = cycles[1][1]["VmRSS"]
                r["after_close2_rss_kib"] = cycles[1][2]["VmRSS"]
                r["mem_mib"] = h1[1]["VmHWM"] / 1024 if r["streams_ok"] == a.streams else None
                if r["streams_ok"] != a.streams:
                    fail(s, "memory", f"only {r['streams_ok']} of {a.streams} streams opened")
                log(f"{s.label}: {r['streams_ok']}/{a.streams} streams open in "
                    f"{r['streams_open_secs']} s; VmHWM {h1[1]['VmHWM'] / 1024:.1f} MiB "
                    f"(idle RSS {idle['VmRSS'] / 1024:.1f}, after close "
                    f"{h1[2]['VmRSS'] / 1024:.1f}, 2nd cycle {cycles[1][1]['VmRSS'] / 1024:.1f}"
                    f" -> {cycles[1][2]['VmRSS'] / 1024:.1f} MiB)")
            except Exception as e:  # noqa: BLE001 — report and go on with the others
                fail(s, "memory", e)
            finally:
                s.stop()

        # ---- 2. latency and 3. bulk: all systems up at once, fresh processes
        up = []
        for s in active:
            try:
                s.start("run")
                up.append(s)
            except Exception as e:  # noqa: BLE001
                fail(s, "start", e)
                s.stop()
        time.sleep(0.3)
        # Latency in LAT_ROUNDS interleaved slices, so that a burst of other work on
        # the machine does not land on one system only.
        samples = {("direct" if s is None else s.key): [] for s in [None] + up}
        fails = dict.fromkeys(samples, 0)
        per = [a.conns // LAT_ROUNDS + (1 if i < a.conns % LAT_ROUNDS else 0)
               for i in range(LAT_ROUNDS)]
        for n in per:
            for s in [None] + up:
                if n == 0:
                    continue
                key = "direct" if s is None else s.key
                r = probe(ctx, "latency", 0 if s is None else s.port, n)
                samples[key] += r.get("samples", [])
                fails[key] += n - r.get("ok", 0)
        for key, smp in samples.items():
            st = lat_stats(smp)
            res[key]["lat_ok"] = len(smp)
            res[key]["lat_fail"] = fails[key]
            for k in ("median_ms", "p95_ms", "min_ms", "max_ms", "mean_ms"):
                res[key]["lat_" + k] = st.get(k)
            log(f"{res[key]['label']}: latency median {fmt(st.get('median_ms'), '.3f')} ms, "
                f"p95 {fmt(st.get('p95_ms'), '.3f')} ms ({len(smp)} ok, {fails[key]} failed)")
            if key != "direct" and fails[key]:
                fail(next(x for x in up if x.key == key), "latency",
                     f"{fails[key]} of {a.conns} connections failed")

        for key in ["direct"] + [s.key for s in up]:
            res[key]["runs"] = []
        for rnd in range(a.runs):
            for s in [None] + up:
                key = "direct" if s is None else s.key
                if s is not None and s.dead():
                    continue
                c0 = s.cpu_ticks() if s else 0
                t0 = time.monotonic()
                speed, size, err = curl_bulk(ctx, s.port if s else 0, a.bytes)
                wall = time.monotonic() - t0
                c1 = s.cpu_ticks() if s else 0
                cpu = (c1 - c0) / CLK_TCK
                ok = size == a.bytes
                run = {"mbps": speed / 1e6, "cpu_s": cpu if s else None,
                       "cpu_per_gib": cpu / (size / GIB) if (s and size) else None,
                       "bytes": size, "wall_s": wall, "ok": ok}
                res[key]["runs"].append(run)
                log(f"round {rnd + 1}/{a.runs} {res[key]['label']}: "
                    f"{run['mbps']:.1f} MB/s"
                    + (f", {cpu:.2f} CPU-s ({run['cpu_per_gib']:.2f}/GiB)" if s and size else "")
                    + ("" if ok else f" INCOMPLETE {size} of {a.bytes} bytes: {err}"))
                if s is not None and not ok:
                    fail(s, "bulk", f"round {rnd + 1}: {size} of {a.bytes} bytes ({err})")
        for key in ["direct"] + [s.key for s in up]:
            good = [x for x in res[key]["runs"] if x["ok"]]
            if good:
                res[key]["mbps"] = statistics.median(x["mbps"] for x in good)
                if key != "direct":
                    res[key]["cpu_per_gib"] = statistics.median(x["cpu_per_gib"] for x in good)
        for s in up:
            dead = s.dead()
            if dead:
                fail(s, "end", "a process exited during the run: " + s.tails())
            else:
                m = s.mem()
                res[s.key]["after_bulk_hwm_kib"] = m["VmHWM"]
                res[s.key]["after_bulk_rss_kib"] = m["VmRSS"]
        if a.rtt_ms > 0:
            for s in up:
                if hasattr(s, "wan_client") and not s.dead():
                    wan_check(a, ctx, s, res)
    finally:
        for s in systems:
            s.stop()
        origin.stop()

    facts["loadavg_end"] = loadavg()
    report(a, facts, systems, res, notes)


def wan_latency(ctx, sysm, port, **kw):
    """Start a client of sysm reaching its server at port (the delay line),
    wait until a stream works, then time WAN_CONNS new connections. Returns
    (its SOCKS5 port, the latency probe's result)."""
    socks = sysm.wan_client(port, "run", **kw)
    if not wait_port(socks, 10):
        raise RuntimeError("the WAN client did not listen")
    end = time.time() + 20
    while time.time() < end and probe(ctx, "latency", socks, 1).get("ok") != 1:
        time.sleep(0.2)
    return socks, probe(ctx, "latency", socks, WAN_CONNS)


def wan_check(a, ctx, sysm, res):
    """A second client of the running server, reaching it through
    bench/delay_line.py at --rtt-ms: new-connection latency and one stream's
    throughput. Ours is bounded by its per-stream flow-control window, which
    starts at STREAM_WINDOW (262144) and auto-tunes up to 16777215
    (PROTOCOL.md §8.2): at most that window per RTT once grown."""
    wd = os.path.join(a.workdir, sysm.key)
    dl = Proc("delay-line", [sys.executable, os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "delay_line.py"), "0", str(sysm.sport),
        str(a.rtt_ms / 2)], wd, wd)
    sysm.procs.append(dl)
    port = None
    end = time.time() + 5
    while time.time() < end and port is None:
        with open(dl.log_path) as f:
            for line in f:
                if line.startswith("PORT "):
                    port = int(line.split()[1])
        time.sleep(0.05)
    r = res[sysm.key]
    try:
        if port is None:
            raise RuntimeError("the delay line did not start")
        socks, lat = wan_latency(ctx, sysm, port)
        nbytes = min(a.bytes, WAN_BYTES)
        speed, size, err = curl_bulk(ctx, socks, nbytes)
        r["wan_rtt_ms"] = a.rtt_ms
        r["wan_lat_median_ms"] = lat.get("median_ms")
        r["wan_lat_ok"] = lat.get("ok", 0)
        r["wan_mbps"] = speed / 1e6 if size == nbytes else None
        r["wan_bytes"] = size
        if sysm.key == "ours":
            r["wan_window_bound_mbps"] = 16777215 / (a.rtt_ms / 1000) / 1e6
            # The same through a client with OptimisticConnect = true.
            _, olat = wan_latency(ctx, sysm, port, optimistic=True)
            r["wan_opt_lat_median_ms"] = olat.get("median_ms")
            log(f"{sysm.label} with OptimisticConnect through the delay line: new connection "
                f"{fmt(olat.get('median_ms'), '.1f')} ms")
        log(f"{sysm.label} through a {a.rtt_ms:g} ms RTT delay line: new connection "
            f"{fmt(lat.get('median_ms'), '.1f')} ms; one stream {speed / 1e6:.2f} MB/s "
            f"({size} bytes{'' if size == nbytes else ', ' + err})")
    except Exception as e:  # noqa: BLE001
        log(f"{sysm.label}: WAN check failed: {e}")
        r["wan_error"] = str(e)


def report(a, facts, systems, res, notes):
    ours = res.get("ours", {})
    order = ["ours"] + [s.key for s in systems if s.key != "ours"] + ["direct"]
    head = (f"{'system':<22} {'MB/s':>8} {'x ours':>6}  {'CPU-s/GiB':>9} {'x ours':>6}  "
            f"{'lat p50 ms':>10} {'p95 ms':>7} {'x ours':>6}  {'mem MiB':>8} {'x ours':>6}")
    lines = [head, "-" * len(head)]
    shown = set()  # notes already written as the row itself
    for key in order:
        if key not in res:
            continue
        r = res[key]
        if key in notes and "mbps" not in r and "mem_mib" not in r and not r.get("lat_ok"):
            lines.append(f"{r['label']:<22} {notes[key]}")
            shown.add(key)
            continue
        lat = r.get("lat_median_ms") if r.get("lat_ok") == a.conns else None
        p95 = r.get("lat_p95_ms") if r.get("lat_ok") == a.conns else None
        lines.append(
            f"{r['label']:<22} {fmt(r.get('mbps'), '8.1f')} {ratio(r.get('mbps'), ours.get('mbps')):>6}  "
            f"{fmt(r.get('cpu_per_gib'), '9.2f')} "
            f"{ratio(r.get('cpu_per_gib'), ours.get('cpu_per_gib')):>6}  "
            f"{fmt(lat, '10.3f')} {fmt(p95, '7.3f')} "
            f"{ratio(lat, ours.get('lat_median_ms')):>6}  "
            f"{fmt(r.get('mem_mib'), '8.1f')} {ratio(r.get('mem_mib'), ours.get('mem_mib')):>6}")
    gib = a.bytes / GIB
    legend = [
        f"bulk: {gib:g} GiB download with curl, median of {a.runs} rounds; MB/s = 10^6 bytes/s;",
        "  CPU-s/GiB = user+system CPU of the proxy processes (client + server) per GiB moved.",
        f"latency: {a.conns} sequential new SOCKS5 connections, connect() to first byte of a "
        "tiny HTTP answer.",
        f"mem: sum of VmHWM (peak RSS) of the proxy processes, fresh, with {a.streams} streams "
        "open.",
        "x ours = this system / ours: above 1 is faster for MB/s, costlier for the other columns.",
    ]
    note_lines = [f"note: {res[k]['label']}: {v}" for k, v in notes.items() if k not in shown]
    facts_line = (f"machine: {facts['nproc']} CPUs, {facts.get('cpu', '?')} "
                  f"[{facts['cpu_flags']}], {facts['mem_total_mib']} MiB RAM, Linux "
                  f"{facts['kernel']}; load average {facts['loadavg_start']} at start, "
                  f"{facts['loadavg_end']} at end")
    print()
    print(facts_line)
    print("\n".join(lines))
    print("\n".join(legend))
    wan_rows = [k for k in order if k in res and "wan_rtt_ms" in res[k]]
    wan_lines = []
    if wan_rows:
        rtt = res[wan_rows[0]]["wan_rtt_ms"]
        wan_lines = [
            f"at {rtt:g} ms RTT (bench/delay_line.py between client and server; "
            f"{WAN_CONNS} new connections, one "
            f"{res[wan_rows[0]].get('wan_bytes', WAN_BYTES) / 2**20:g} MiB download):",
            f"{'system':<22} {'new conn p50 ms':>15} {'RTTs':>5} {'one stream MB/s':>15}"]
        for k in wan_rows:
            r = res[k]
            med = r.get("wan_lat_median_ms")
            wan_lines.append(
                f"{r['label']:<22} {fmt(med, '15.1f')} "
                f"{fmt(med / rtt if med else None, '5.2f')} {fmt(r.get('wan_mbps'), '15.2f')}")
            if r.get("wan_opt_lat_median_ms") is not None:
                med = r["wan_opt_lat_median_ms"]
                wan_lines.append(f"{'  OptimisticConnect':<22} {fmt(med, '15.1f')} "
                                 f"{fmt(med / rtt if med else None, '5.2f')} {'':>15}")
        if "wan_window_bound_mbps" in ours:
            wan_lines.append(
                f"ours: a stream's window starts at 256 KiB and doubles while it is the limit, "
                f"up to 16 MiB (PROTOCOL.md §8.2): at most 16 MiB / {rtt:g} ms = "
                f"{ours['wan_window_bound_mbps']:.0f} MB/s per stream once grown, and the "
                "download includes the ramp; the others have no stream window (their figure "
                "is the delay line's limit here; on a real path TCP's window, up to "
                "net.ipv4.tcp_rmem's maximum, is theirs). The delay line "
                "does not delay TCP's own handshake: add one RTT for ss and trojan, which "
                "open a TCP connection per stream.")
        print("\n".join(wan_lines))
    legend += wan_lines
    if note_lines:
        print("\n".join(note_lines))

    os.makedirs(os.path.dirname(os.path.abspath(a.results)), exist_ok=True)
    with open(a.results, "w") as f:
        f.write(f"# bench/run.sh raw results, {time.strftime('%Y-%m-%d %H:%M:%S %z')}\n")
        for k, v in facts.items():
            f.write(f"machine.{k} = {v}\n")
        for k, v in vars(a).items():
            f.write(f"param.{k} = {v}\n")
        f.write(f"param.versions = {versions()}\n")
        for key in order:
            if key not in res:
                continue
            for k, v in res[key].items():
                if k == "runs":
                    for i, run in enumerate(v):
                        f.write(f"{key}.run{i + 1} = " + " ".join(
                            f"{rk}={rv:.4f}" if isinstance(rv, float) else f"{rk}={rv}"
                            for rk, rv in run.items()) + "\n")
                elif isinstance(v, float):
                    f.write(f"{key}.{k} = {v:.4f}\n")
                else:
                    f.write(f"{key}.{k} = {v}\n")
            if key in notes:
                f.write(f"{key}.note = {notes[key]}\n")
        f.write("\n# table\n" + facts_line + "\n" + "\n".join(lines) + "\n" + "\n".join(legend)
                + "\n" + "\n".join(note_lines) + "\n")
    print(f"raw numbers: {a.results}")


def versions():
    out = []
    for pkg in ("shadowsocks-libev", "trojan", "microsocks", "curl", "android-libboringssl-dev",
                "libsodium23", "libuv1"):
        r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True)
        out.append(f"{pkg}={r.stdout.decode() or 'none'}")
    r = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                       cwd=os.path.dirname(os.path.abspath(__file__)))
    out.append(f"phantom=git:{r.stdout.decode().strip() or '?'}")
    return " ".join(out)


if __name__ == "__main__":
    main()
