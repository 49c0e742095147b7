#!/usr/bin/env bash
# run.sh — README command (1): install what is needed, build, and run the
# tunnel on this machine with an embedded default:
#   server  127.0.0.1:8443, TLS with a self-signed certificate, built-in
#           decoy website for everyone who is not an authorized client
#   client  SOCKS5 on 127.0.0.1:1080, HTTP proxy on 127.0.0.1:8118
# Keys, certificate and configs are created once in ./phantom-demo/ (0600)
# and reused. Ctrl-C stops both (the server drains with GOAWAY).
#
#   PT_DEMO_SECONDS=N  run for N seconds, then stop (for scripted checks)
#
# The demo server may connect to private and loopback addresses
# (AllowPrivateTargets = true) so that you can reach local services through
# it; a real server keeps the default (false). docs/USAGE.md shows a real
# deployment: a VPS with a real certificate, nginx as the decoy, systemd.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target phantom
phantom="$PWD/build/app/phantom"

demo=phantom-demo
mkdir -p "$demo"
chmod 700 "$demo"
cd "$demo"
[ -f server.key ] || "$phantom" genkey -o server.key
[ -f client.key ] || "$phantom" genkey -o client.key
server_pub="$("$phantom" pubkey < server.key)"
client_pub="$("$phantom" pubkey < client.key)"

if [ ! -f server.conf ]; then
    umask 077
    cat > server.conf <<CONF
# Phantom Tunnel demo server (docs/CONFIG.md lists every option).
[Server]
PrivateKeyFile = server.key
Listen = 127.0.0.1:8443
SelfSigned = true
Hostname = localhost
Decoy = builtin
AllowPrivateTargets = true
LogLevel = info

[Client]
Name = demo
PublicKey = $client_pub
CONF
    cat > client.conf <<CONF
# Phantom Tunnel demo client (docs/CONFIG.md lists every option).
[Client]
PrivateKeyFile = client.key
SocksListen = 127.0.0.1:1080
HttpListen = 127.0.0.1:8118
LogLevel = info

[Server]
PublicKey = $server_pub
Endpoint = 127.0.0.1:8443
ServerName = localhost
# The demo certificate is self-signed; the Noise handshake authenticates the
# server by its key either way (docs/SECURITY.md). A real client pins the
# certificate or uses a CA-signed one.
Verify = none
CONF
fi

pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

"$phantom" server -c server.conf &
pids+=($!)
sleep 0.5
"$phantom" client -c client.conf &
pids+=($!)

# Wait (bounded) until the SOCKS5 port answers, then show that it works.
for _ in $(seq 1 50); do
    if curl -s -o /dev/null --max-time 2 --socks5-hostname 127.0.0.1:1080 -k https://localhost:8443/; then
        break
    fi
    sleep 0.2
done
cat <<MSG

==== Phantom Tunnel is running ====
server  127.0.0.1:8443   (TLS; anyone without the client key sees a website:
                          curl -k https://localhost:8443/ )
client  SOCKS5 127.0.0.1:1080, HTTP proxy 127.0.0.1:8118

Try it:
  curl --socks5-hostname 127.0.0.1:1080 -k https://localhost:8443/   # through the tunnel
  curl -x http://127.0.0.1:8118 http://example.com/                  # HTTP proxy
Browser: SOCKS5 host 127.0.0.1 port 1080, "proxy DNS when using SOCKS v5" on
  (chromium --proxy-server=socks5://127.0.0.1:1080)
Ctrl-C stops both.
MSG
if curl -s --max-time 5 --socks5-hostname 127.0.0.1:1080 -k https://localhost:8443/ | grep -qi "<html"; then
    echo "self-check: fetched the demo site through the tunnel: OK"
else
    echo "self-check: could not fetch through the tunnel yet (see the logs above)"
fi

if [ -n "${PT_DEMO_SECONDS:-}" ]; then
    sleep "$PT_DEMO_SECONDS"
else
    wait
fi
