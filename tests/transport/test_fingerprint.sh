#!/usr/bin/env bash
# test_fingerprint.sh — our TLS ClientHello, captured on the wire, is the
# Chrome release docs/FINGERPRINT.md says it is.
#
#   test_fingerprint.sh /path/to/tls_hello_client
#
# Runs ../shared/fingerprint/capture_ja4.py (PT_SHARED_DIR, else ../shared
# beside the source tree) around two connections of tls_hello_client to a
# local openssl s_server, and checks:
#  - JA4 of each ClientHello == the profile's JA4 (capture_ja4.py --expect-ja4
#    for the first, the JSON for both);
#  - JA3 differs between the two (extension permutation), JA4 does not;
#  - the decoded fields: cipher list as Chrome's, GREASE first and last
#    extension, ALPN h2 + http/1.1, ALPS h2, brotli compress_certificate,
#    ECH GREASE, status_request, SCT, supported_groups and key shares,
#    signature algorithms, versions, no padding.
# Exit 77 (ctest SKIP) when the shared folder, tshark, openssl or the rights
# to capture are missing; scripts/install-deps.sh installs tshark and openssl
# and CI runs as root, so there it runs for real.
set -u

client=${1:?usage: test_fingerprint.sh TLS_HELLO_CLIENT}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
shared=${PT_SHARED_DIR:-$src/../shared}
cap=$shared/fingerprint/capture_ja4.py
ref=$shared/fingerprint/reference/chromium156_sni.json

skip() {
    echo "SKIPPED: $*"
    exit 77
}

[ -f "$cap" ] || skip "capture tool not found at $cap (shared folder unavailable)"
command -v python3 >/dev/null 2>&1 || skip "python3 not installed"
command -v tshark >/dev/null 2>&1 || skip "tshark not installed (scripts/install-deps.sh installs it)"
command -v openssl >/dev/null 2>&1 || skip "openssl CLI not installed (scripts/install-deps.sh installs it)"

netns=()
if [ "$(id -u)" = 0 ]; then
    # A fresh network namespace: only its own loopback, nothing else on it.
    if command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 && unshare --net true 2>/dev/null; then
        netns=(--netns)
    fi
else
    # Capturing on lo needs root (or dumpcap capabilities, off by default).
    tshark -i lo -c 1 -a duration:1 -q >/dev/null 2>&1 ||
        skip "cannot capture on lo as $(id -un) (run as root, as CI does)"
fi

expect_ja4=$("$client" --print-ja4) || { echo "FAIL: $client --print-ja4"; exit 1; }
profile=$("$client" --print-profile)
echo "profile: $profile"
echo "expected JA4: $expect_ja4"

tmp=$(mktemp -d /tmp/pt_fingerprint.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# A port away from the usual ones; inside the namespace nothing else listens.
port=$((20000 + RANDOM % 20000))

diff_args=()
[ -f "$ref" ] && diff_args=(--diff-against "$ref")

python3 "$cap" "${netns[@]}" --port "$port" --timeout 60 --json "$tmp/hellos.json" \
    "${diff_args[@]}" --expect-ja4 "$expect_ja4" -- \
    "$client" "{port}" --sni www.example.com --count 2 >"$tmp/capture.txt" 2>&1
rc=$?
cat "$tmp/capture.txt"
if [ "$rc" != 0 ]; then
    echo "FAIL: capture_ja4.py exited $rc"
    exit 1
fi

python3 - "$tmp/hellos.json" "$expect_ja4" "$ref" <<'EOF'
import json, os, re, sys

hellos = json.load(open(sys.argv[1]))
expect_ja4 = sys.argv[2]
ref = json.load(open(sys.argv[3]))[0] if os.path.exists(sys.argv[3]) else None
fails = []

def check(cond, what):
    print("%s %s" % ("ok  " if cond else "FAIL", what))
    if not cond:
        fails.append(what)

def g(x):
    return re.sub(r"GREASE\(0x[0-9a-f]{4}\)", "GREASE", x)

check(len(hellos) == 2, "two ClientHellos captured (got %d)" % len(hellos))
if len(hellos) >= 2:
    a, b = hellos[0], hellos[1]
    check(a["JA4"] == expect_ja4 and b["JA4"] == expect_ja4,
          "JA4 stable and as expected: %s / %s" % (a["JA4"], b["JA4"]))
    check(a["JA3"] != b["JA3"], "JA3 differs (extension permutation): %s / %s" % (a["JA3"], b["JA3"]))
    check(a["JA3N"] == b["JA3N"], "JA3N stable: %s" % a["JA3N"])
    for i, h in enumerate(hellos[:2]):
        p = "hello %d: " % i
        ex = {e["hex"]: e for e in h["extensions"]}
        names = [e["name"] for e in h["extensions"]]
        if ref:
            check([g(c) for c in h["ciphers"]] == [g(c) for c in ref["ciphers"]],
                  p + "cipher suites as Chrome's, GREASE first")
        check(h["legacy_version"] == "0x0303" and h["session_id_len"] == 32,
              p + "legacy_version 1.2, 32-byte session id")
        check(names[0] == "GREASE" and h["extensions"][0]["len"] == 0, p + "first extension: empty GREASE")
        check(names[-1] == "GREASE" and h["extensions"][-1]["len"] == 1, p + "last extension: 1-byte GREASE")
        check(names.count("GREASE") == 2, p + "two GREASE extensions")
        check(ex.get("0x0010", {}).get("protocols") == ["h2", "http/1.1"], p + "ALPN h2, http/1.1")
        alps = ex.get("0x4469") or ex.get("0x44cd") or {}
        check(alps.get("protocols") == ["h2"], p + "ALPS h2 (%s)" % alps.get("hex"))
        check(ex.get("0x001b", {}).get("algorithms") == ["brotli(2)"], p + "compress_certificate brotli")
        check(ex.get("0xfe0d", {}).get("ech_type") == "outer", p + "ECH GREASE (0xfe0d outer)")
        sr = ex.get("0x0005", {})
        check(sr.get("status_type") == 1 and sr.get("responder_id_list_len") == 0,
              p + "status_request (OCSP)")
        check("0x0012" in ex and ex["0x0012"]["len"] == 0, p + "signed_certificate_timestamp")
        groups = [g(x) for x in ex.get("0x000a", {}).get("groups", [])]
        pq = groups[1] if len(groups) > 1 else "?"
        check(groups[:1] == ["GREASE"] and pq in ("X25519Kyber768Draft00(0x6399)", "X25519MLKEM768(0x11ec)")
              and groups[2:] == ["x25519(0x001d)", "secp256r1(0x0017)", "secp384r1(0x0018)"],
              p + "supported_groups GREASE, %s, x25519, P-256, P-384" % pq)
        ks = [(g(k["group"]), k["key_len"]) for k in ex.get("0x0033", {}).get("key_shares", [])]
        check(ks == [("GREASE", 1), (pq, 1216), ("x25519(0x001d)", 32)],
              p + "key_share GREASE(1), %s(1216), x25519(32)" % pq)
        sig = ex.get("0x000d", {}).get("sigalgs", [])
        want = ["ecdsa_secp256r1_sha256(0x0403)", "rsa_pss_rsae_sha256(0x0804)",
                "rsa_pkcs1_sha256(0x0401)", "ecdsa_secp384r1_sha384(0x0503)",
                "rsa_pss_rsae_sha384(0x0805)", "rsa_pkcs1_sha384(0x0501)",
                "rsa_pss_rsae_sha512(0x0806)", "rsa_pkcs1_sha512(0x0601)"]
        check(sig == want, p + "signature_algorithms as Chrome 124-130")
        check([g(v) for v in ex.get("0x002b", {}).get("versions", [])] ==
              ["GREASE", "TLS1.3(0x0304)", "TLS1.2(0x0303)"], p + "supported_versions GREASE, 1.3, 1.2")
        check(ex.get("0x002d", {}).get("modes") == ["psk_dhe_ke"], p + "psk_key_exchange_modes psk_dhe_ke")
        check(ex.get("0x000b", {}).get("formats") == ["uncompressed"], p + "ec_point_formats uncompressed")
        check(ex.get("0x0023", {}).get("ticket_len") == 0, p + "empty session_ticket")
        check("0x0017" in ex and "0xff01" in ex, p + "extended_master_secret, renegotiation_info")
        check(ex.get("0x0000", {}).get("server_names") == ["www.example.com"], p + "SNI www.example.com")
        check("0x0015" not in ex, p + "no padding extension")
print("%d checks failed" % len(fails))
sys.exit(1 if fails else 0)
EOF
rc=$?
if [ "$rc" = 0 ]; then
    echo "PASS: ClientHello is $profile"
fi
exit "$rc"
