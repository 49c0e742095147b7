#!/usr/bin/env bash
# run.sh — README command (1): install what is needed, build, and run the
# main job on this machine.
#
# Today the protocol core exists (Noise_IK handshake, encrypted frames, key
# tools) but not yet the server, client and proxy. So this script builds
# `phantom`, creates a server and a client key pair under ./phantom-demo/
# (0600), and runs `phantom selftest`: a real handshake and real encrypted
# frames between an in-process client and server. When the tunnel lands,
# this script starts the server (built-in decoy site) and the client
# (SOCKS5 on 127.0.0.1:1080) instead.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target phantom

demo=phantom-demo
mkdir -p "$demo"
chmod 700 "$demo"
for who in server client; do
    if [ ! -f "$demo/$who.key" ]; then
        ./build/app/phantom genkey -o "$demo/$who.key"
    fi
    ./build/app/phantom pubkey < "$demo/$who.key" > "$demo/$who.pub"
done
echo "server public key: $(cat "$demo/server.pub")"
echo "client public key: $(cat "$demo/client.pub")"
./build/app/phantom selftest --server-key "$demo/server.key" --client-key "$demo/client.key"
