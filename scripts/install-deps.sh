#!/usr/bin/env bash
# install-deps.sh — install every Debian package Phantom Tunnel needs to build,
# test, fuzz and benchmark. Idempotent; no prompts; runs as root (or through
# sudo when available). Debian 12 (bookworm).
#
# BoringSSL comes from Debian's android-libboringssl-dev 14 in
# bookworm-backports: it is the newest BoringSSL in Debian and the only one
# that can send a Kyber key share, which a coherent Chrome ~124-130
# ClientHello needs (see docs/FINGERPRINT.md once the TLS transport lands).
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "install-deps: must run as root (or have sudo)" >&2; exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive

PKGS=(
    build-essential cmake pkg-config git ca-certificates
    clang llvm libclang-rt-14-dev        # libFuzzer + sanitizer runtimes
    libsodium-dev libuv1-dev libcmocka-dev libjansson-dev
    libnghttp2-dev libwslay-dev libngtcp2-dev libngtcp2-crypto-gnutls-dev libnghttp3-dev
    python3 curl
    libbrotli-dev                        # TLS certificate compression (RFC 8879), pt_tls.c
    tshark openssl iproute2              # programs for the fingerprint test (capture_ja4.py); nothing links them
    nginx                                # the reference web server of the probe suite (tests/probe/run_probes.py starts its own on loopback)
    zlib1g-dev                           # gzip like nginx in the decoy web server (obfs/pt_decoy_http.c)
    chromium                             # headless browser of the end-to-end test (tests/e2e/test_chromium.sh)
)
BSSL_VERSION_PREFIX="14."

stamp=/var/lib/phantom-tunnel-deps.stamp
want="$(printf '%s\n' "${PKGS[@]}" android-libboringssl-dev "$BSSL_VERSION_PREFIX" | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
   dpkg-query -W -f='${Version}\n' android-libboringssl-dev 2>/dev/null | grep -q "^$BSSL_VERSION_PREFIX" &&
   dpkg-query -W -f='${Status}\n' "${PKGS[@]}" 2>/dev/null | grep -vq "not-installed\|deinstall" ; then
    missing=0
    for p in "${PKGS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing=1
    done
    if [ "$missing" = 0 ]; then echo "install-deps: all packages present"; exit 0; fi
fi

# bookworm-backports, from the same mirror the system already uses.
if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "deb http://deb.debian.org/debian bookworm-backports main" |
        $SUDO tee /etc/apt/sources.list.d/phantom-tunnel-backports.list >/dev/null
fi
$SUDO apt-get update -q
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections  # tshark: no prompt
# nginx's postinst starts the service on port 80; in a container without an
# init system invoke-rc.d skips or fails that start, which must not fail the
# install: let policy-rc.d refuse service starts during it.
policy_rc=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    policy_rc=/usr/sbin/policy-rc.d
fi
$SUDO apt-get install -y -q --no-install-recommends "${PKGS[@]}"
$SUDO apt-get install -y -q --no-install-recommends -t bookworm-backports android-libboringssl-dev
if [ -n "$policy_rc" ]; then $SUDO rm -f "$policy_rc"; fi
echo "$want" | $SUDO tee "$stamp" >/dev/null
echo "install-deps: done"
