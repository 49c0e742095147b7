#!/usr/bin/env bash
# bench/run.sh — side-by-side benchmark of our tunnel against a plain SOCKS5
# relay, microsocks, shadowsocks-libev and trojan, all on 127.0.0.1.
#
#   bash bench/run.sh            # as root (or with sudo) on Debian 12
#
# It installs what it needs (scripts/install-deps.sh, then shadowsocks-libev,
# trojan and microsocks, which are benchmark-only and stay out of
# install-deps.sh), builds a Release tree in build-bench/, and runs
# bench/compare.py, which prints a table of ratios and writes the raw numbers
# to bench/results/latest.txt. docs/BENCHMARKS.md explains every number.
#
# Environment:
#   PT_BENCH_BYTES    bytes per bulk download            (default 2147483648 = 2 GiB)
#   PT_BENCH_RUNS     bulk rounds; the median is shown    (default 3)
#   PT_BENCH_CONNS    sequential connections for latency  (default 200)
#   PT_BENCH_STREAMS  open streams for the memory figure  (default 1000)
#   PT_BENCH_SYSTEMS  comma list of ours,relay,microsocks,ss,trojan (default all)
#   PT_BENCH_RTT_MS   also download 128 MiB through each tunnel with this round-trip time
#                     added between client and server (bench/delay_line.py); 0 skips
#                     (default 50)
#   PT_BENCH_NO_INSTALL=1  skip every apt-get (use what is installed)
#   PT_BENCH_BUILD_DIR     build tree (default build-bench)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD="${PT_BENCH_BUILD_DIR:-$ROOT/build-bench}"
T0=$(date +%s)

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
APT=(apt-get -o DPkg::Lock::Timeout=300 -y -q --no-install-recommends)

# ---- 1. packages -------------------------------------------------------------------
notes=""   # key=why;... for systems whose package could not be installed
if [ "${PT_BENCH_NO_INSTALL:-0}" != 1 ]; then
    bash scripts/install-deps.sh
    declare -A sys_of=([shadowsocks-libev]=ss [trojan]=trojan [microsocks]=microsocks)
    missing=()
    for p in shadowsocks-libev trojan microsocks; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        if [ "$(id -u)" -ne 0 ] && [ -z "$SUDO" ]; then
            echo "bench: not root: cannot install ${missing[*]}" >&2
        else
            # Unknown to apt yet? Refresh the lists first.
            for p in "${missing[@]}"; do
                if ! apt-cache show "$p" >/dev/null 2>&1; then $SUDO apt-get update -q; break; fi
            done
            # Their postinst scripts would start system services (ss-server on
            # :8388): refuse service starts during the install, as install-deps.sh does.
            policy_rc=""
            if [ ! -e /usr/sbin/policy-rc.d ]; then
                printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
                $SUDO chmod 755 /usr/sbin/policy-rc.d
                policy_rc=/usr/sbin/policy-rc.d
            fi
            for p in "${missing[@]}"; do
                # One at a time: one package that cannot be installed must not stop the others.
                if ! $SUDO "${APT[@]}" install "$p"; then
                    echo "bench: could not install $p; its row will say so" >&2
                    notes+="${sys_of[$p]}=not available: apt-get install $p failed;"
                fi
            done
            if [ -n "$policy_rc" ]; then $SUDO rm -f "$policy_rc"; fi
        fi
    fi
fi

# ---- 2. Release build ------------------------------------------------------------
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DPT_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target phantom bench_origin bench_socks bench_relay

# ---- 3. run --------------------------------------------------------------------------
# 1000 streams take about 2000 descriptors in a proxy that has both ends.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 4096 ]; then
    echo "bench: warning: only $(ulimit -n) file descriptors; the memory test may fail" >&2
fi

WORK="$(mktemp -d /tmp/phantom-bench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p bench/results

python3 bench/compare.py \
    --phantom "$BUILD/app/phantom" \
    --origin "$BUILD/bench/bench_origin" \
    --probe "$BUILD/bench/bench_socks" \
    --relay "$BUILD/bench/bench_relay" \
    --workdir "$WORK" \
    --results bench/results/latest.txt \
    --bytes "${PT_BENCH_BYTES:-2147483648}" \
    --runs "${PT_BENCH_RUNS:-3}" \
    --conns "${PT_BENCH_CONNS:-200}" \
    --streams "${PT_BENCH_STREAMS:-1000}" \
    --systems "${PT_BENCH_SYSTEMS:-ours,relay,microsocks,ss,trojan}" \
    --rtt-ms "${PT_BENCH_RTT_MS:-50}" \
    --notes "$notes"

echo "bench: done in $(( $(date +%s) - T0 )) s"
