#!/usr/bin/env bash
# test_cli.sh PHANTOM — the key tools as a user runs them: file modes,
# refusal to overwrite, bad input gives a clear error and a non-zero exit.
set -u
phantom="$1"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

umask 022
"$phantom" genkey -o "$dir/a.key"
check "genkey -o writes a 0600 file" '[ "$(stat -c %a "$dir/a.key")" = 600 ]'
check "key file holds 44 base64 chars + newline" '[ "$(wc -c < "$dir/a.key")" = 45 ] && grep -Eq "^[A-Za-z0-9+/]{43}=$" "$dir/a.key"'
check "genkey -o refuses to overwrite" '! "$phantom" genkey -o "$dir/a.key" 2>/dev/null'
"$phantom" genkey > "$dir/b.key"
check "genkey > file leaves the file 0600" '[ "$(stat -c %a "$dir/b.key")" = 600 ]'
check "two keys differ" '! cmp -s "$dir/a.key" "$dir/b.key"'
pub1="$("$phantom" pubkey < "$dir/a.key")"
pub2="$("$phantom" pubkey < "$dir/a.key")"
check "pubkey is deterministic" '[ -n "$pub1" ] && [ "$pub1" = "$pub2" ]'
check "pubkey differs from the private key" '[ "$pub1" != "$(cat "$dir/a.key")" ]'
# RFC 7748 §6.1: Alice's private key -> public key.
alice_priv="dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo="
alice_pub="hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="
check "pubkey matches RFC 7748 test vector" '[ "$(echo "$alice_priv" | "$phantom" pubkey)" = "$alice_pub" ]'
check "pubkey rejects garbage" '! echo "not a key" | "$phantom" pubkey 2>"$dir/err" && grep -q "does not hold a private key" "$dir/err"'
check "pubkey rejects empty input" '! "$phantom" pubkey < /dev/null 2>/dev/null'
check "pubkey rejects a 1 MiB input" '! head -c 1048576 /dev/zero | "$phantom" pubkey 2>/dev/null'
check "unknown command fails" '! "$phantom" frobnicate 2>/dev/null'
check "selftest with random keys passes" '"$phantom" selftest > "$dir/out" && grep -q "selftest passed" "$dir/out"'
"$phantom" genkey -o "$dir/s.key"
check "selftest with key files passes" '"$phantom" selftest --server-key "$dir/s.key" --client-key "$dir/a.key" >/dev/null'
chmod 644 "$dir/s.key"
check "a world-readable key file is refused, naming the file" '! "$phantom" selftest --server-key "$dir/s.key" --client-key "$dir/a.key" 2>"$dir/err" && grep -q "s.key: key file is accessible by others" "$dir/err"'
check "a missing key file is refused" '! "$phantom" selftest --server-key "$dir/nope" --client-key "$dir/a.key" 2>/dev/null'
check "server without -c prints its usage" '! "$phantom" server 2>"$dir/err" && grep -q "usage: phantom server -c FILE" "$dir/err"'

echo "cli: $pass passed, $fail failed"
[ "$fail" = 0 ]
