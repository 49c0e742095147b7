#!/usr/bin/env bash
# test_curl.sh PHANTOM — curl through a real phantom client and server on
# 127.0.0.1: SOCKS5 (--socks5-hostname, --socks5) and the HTTP proxy (CONNECT
# and plain), small files, one very large file (sha256), 200 parallel fetches,
# the error replies (refused, timeout, unresolvable name), proxy
# authentication, and the decoy website that non-clients get.
#
# Environment: PT_E2E_FAST_PHANTOM — a non-sanitized phantom binary for the
# large transfer, used only when the one under test is too slow for 1 GiB
# (projected from a 64 MiB transfer: over PT_E2E_BIG_BUDGET seconds, default
# 45); without it the large transfer is 256 MiB, and the output says so.
source "$(dirname "$0")/e2e_lib.sh" "${1:-}"

CURL=(curl -sS --max-time 30)

# ---- start ------------------------------------------------------------------------------
e2e_setup
# A second Listen address: the "auth" client reaches the server through it.
read -r AUTH_SOCKS AUTH_HTTP SECOND_PORT <<< "$(e2e_freeport 3)"
E2E_SERVER_EXTRA="Listen = 127.0.0.1:$SECOND_PORT"
e2e_server_conf
AUTH_PUB="$(e2e_key auth)"
e2e_add_client auth "$AUTH_PUB"
e2e_client_conf auth "$AUTH_SOCKS" "$AUTH_HTTP" "SocksUsername = e2e-user
SocksPassword = right-pass-42"
sed -i "s/^Endpoint = 127.0.0.1:$SERVER_PORT\$/Endpoint = 127.0.0.1:$SECOND_PORT/" "$E2E_WORK/auth.conf"
# A client that answers CONNECT before the server has connected.
FAST_PUB="$(e2e_key fast)"
e2e_add_client fast "$FAST_PUB"
read -r FAST_SOCKS FAST_HTTP <<< "$(e2e_freeport 2)"
e2e_client_conf fast "$FAST_SOCKS" "$FAST_HTTP" "OptimisticConnect = true"
e2e_start_origin || e2e_finish
e2e_start_server || e2e_finish
e2e_start_client client || e2e_finish
S="127.0.0.1:$SOCKS_PORT"
H="127.0.0.1:$HTTP_PORT"
D="$E2E_WORK/dl"
mkdir -p "$D"

# fetch_ok WHAT SIZE SEED CURL-ARGS...: a /gen/SIZE?seed=SEED download matches
fetch_ok() {
    local what="$1" size="$2" seed="$3" out code want got
    shift 3
    out="$D/one"
    rm -f "$out"
    code=$("${CURL[@]}" "$@" -o "$out" -w '%{http_code}' "$ORIGIN/gen/$size?seed=$seed" 2>"$D/err")
    want=$(e2e_digest "$size" "$seed")
    got=$(sha256sum < "$out" 2>/dev/null | cut -d' ' -f1)
    if [ "$code" = 200 ] && [ "$got" = "$want" ]; then
        ok "$what: /gen/$size intact"
    else
        fail "$what: /gen/$size intact (http $code, sha256 ${got:-none}, want $want; $(head -c 300 "$D/err"))"
    fi
}

# ---- small files, every way in --------------------------------------------------------------
t0=$(e2e_now)
for size in 0 1 1000 65536 1M 5M; do
    fetch_ok "SOCKS5 --socks5-hostname" "$size" "h$size" --socks5-hostname "$S"
done
fetch_ok "SOCKS5 --socks5" 300000 s1 --socks5 "$S"
fetch_ok "SOCKS5 --socks5 (proxy URL form)" 77777 s2 -x "socks5://$S"
fetch_ok "HTTP proxy CONNECT (-p -x)" 1M c1 -p -x "http://$H"
fetch_ok "HTTP proxy CONNECT (-p -x), empty body" 0 c0 -p -x "http://$H"
fetch_ok "HTTP proxy plain (-x)" 1M p1 -x "http://$H"
fetch_ok "HTTP proxy plain (-x), 3 MB" 3000000 p2 -x "http://$H"
# What the origin sees from the plain HTTP proxy: an origin-form request line.
echo_out=$("${CURL[@]}" -x "http://$H" "$ORIGIN/echo?x=1" 2>&1)
check "HTTP proxy plain: origin gets 'GET /echo?x=1 HTTP/1.1' (origin-form) and the Host" \
    '[ "$(printf "%s" "$echo_out" | head -n1 | tr -d "\r")" = "GET /echo?x=1 HTTP/1.1" ] &&
     printf "%s" "$echo_out" | grep -qi "^Host: 127.0.0.1:$ORIGIN_PORT"'
# A SOCKS5 request with a domain name (ATYP 3) that resolves to 127.0.0.1
# on the server, and one with ATYP 1.
r=$(python3 "$E2E_LIB_DIR/origin.py" socks5 "$SOCKS_PORT" domain 127.0.0.1 "$ORIGIN_PORT" 2>&1 | tr -d '\r' | paste -sd' ')
check "raw SOCKS5 CONNECT, ATYP domain '127.0.0.1': rep=00 and the origin answers ($r)" \
    '[ "$r" = "rep=00 HTTP/1.1 200 OK" ]'
r=$(python3 "$E2E_LIB_DIR/origin.py" socks5 "$SOCKS_PORT" ip4 127.0.0.1 "$ORIGIN_PORT" 2>&1 | tr -d '\r' | paste -sd' ')
check "raw SOCKS5 CONNECT, ATYP IPv4: rep=00 and the origin answers ($r)" '[ "$r" = "rep=00 HTTP/1.1 200 OK" ]'
note "small files: $(e2e_elapsed "$t0") s"

# ---- one large file through SOCKS5 --------------------------------------------------------------
# Measure first: 64 MiB, then 1 GiB if that takes under ~45 s at this speed.
t0=$(e2e_now)
code=$("${CURL[@]}" --socks5-hostname "$S" -o /dev/null -w '%{http_code} %{size_download}' "$ORIGIN/gen/64M?seed=probe")
probe_s=$(e2e_elapsed "$t0")
note "64 MiB through SOCKS5 in $probe_s s ($code)"
big=1G
big_phantom=""
budget="${PT_E2E_BIG_BUDGET:-45}"  # seconds the 1 GiB transfer may take here
if awk -v t="$probe_s" -v b="$budget" 'BEGIN { exit !(t * 16 > b) }'; then
    if [ -n "${PT_E2E_FAST_PHANTOM:-}" ] && [ -x "$PT_E2E_FAST_PHANTOM" ]; then
        big_phantom="$PT_E2E_FAST_PHANTOM"
        note "1 GiB would take ~$(awk -v t="$probe_s" 'BEGIN{printf "%d", t*16}') s here: using the non-sanitized $big_phantom for it"
    else
        big=256M
        note "1 GiB would take ~$(awk -v t="$probe_s" 'BEGIN{printf "%d", t*16}') s with this build: testing 256 MiB instead (set PT_E2E_FAST_PHANTOM for 1 GiB)"
    fi
fi
bigS="$S"
if [ -n "$big_phantom" ]; then
    read -r FSRV FSOCKS FHTTP <<< "$(e2e_freeport 3)"
    sed "s/^Listen = .*/Listen = 127.0.0.1:$FSRV/" "$E2E_WORK/server.conf" > "$E2E_WORK/fast-server.conf"
    e2e_client_conf fast "$FSOCKS" "$FHTTP"
    cp "$E2E_WORK/client.key" "$E2E_WORK/fast.key"
    sed -i "s/^Endpoint = .*/Endpoint = 127.0.0.1:$FSRV/" "$E2E_WORK/fast.conf"
    chmod 600 "$E2E_WORK/fast-server.conf"
    e2e_bg fastserver "$big_phantom" server -c fast-server.conf
    e2e_wait_log fastserver "listening on" 20
    e2e_bg fastclient "$big_phantom" client -c fast.conf
    e2e_wait_log fastclient "tunnel up" 20
    bigS="127.0.0.1:$FSOCKS"
fi
want=$(e2e_digest "$big" big)
t0=$(e2e_now)
got=$(curl -sS --max-time 120 --socks5-hostname "$bigS" "$ORIGIN/gen/$big?seed=big" 2>"$D/err" | sha256sum | cut -d' ' -f1)
big_s=$(e2e_elapsed "$t0")
check "SOCKS5: $big download sha256 matches (${big_s} s${big_phantom:+, non-sanitized build})" \
    '[ "$got" = "$want" ]' || true
[ "$got" = "$want" ] || head -c 300 "$D/err"
if [ -n "$big_phantom" ]; then
    e2e_stop fastclient 10
    e2e_stop fastserver 10
fi

# ---- 200 parallel fetches ------------------------------------------------------------------------
t0=$(e2e_now)
: > "$D/list"
: > "$D/curlcfg"
for i in $(seq 1 200); do
    size=$((1000 + i * 997))
    echo "url = \"$ORIGIN/gen/$size?seed=par$i\"" >> "$D/curlcfg"
    echo "output = \"$D/par$i\"" >> "$D/curlcfg"
    echo "$D/par$i $size par$i" >> "$D/list"
done
curl -sS --no-progress-meter --max-time 60 --parallel --parallel-immediate --parallel-max 200 \
    --socks5-hostname "$S" -K "$D/curlcfg" -w '%{http_code}\n' > "$D/codes" 2>"$D/err"
rc=$?
n200=$(grep -c '^200$' "$D/codes")
vout=$(python3 "$E2E_LIB_DIR/origin.py" verify "$D/list" 2>&1)
check "200 parallel SOCKS5 fetches: curl exit 0, 200 × HTTP 200, every body intact ($(e2e_elapsed "$t0") s)" \
    '[ "$rc" = 0 ] && [ "$n200" = 200 ] && printf "%s" "$vout" | grep -q "verified 200 files, 0 bad"' ||
    { echo "  curl exit $rc, $n200 × 200; $(tail -n 3 <<< "$vout")"; head -5 "$D/err"; }

# The same through the HTTP proxy's CONNECT, 100 at once.
t0=$(e2e_now)
: > "$D/list2"
: > "$D/curlcfg2"
for i in $(seq 1 100); do
    size=$((1000 + i * 997))
    echo "url = \"$ORIGIN/gen/$size?seed=hpar$i\"" >> "$D/curlcfg2"
    echo "output = \"$D/hpar$i\"" >> "$D/curlcfg2"
    echo "$D/hpar$i $size hpar$i" >> "$D/list2"
done
curl -sS --no-progress-meter --max-time 60 --parallel --parallel-immediate --parallel-max 100 \
    -p -x "http://$H" -K "$D/curlcfg2" -w '%{http_code}\n' > "$D/codes2" 2>"$D/err2"
rc=$?
n200=$(grep -c '^200$' "$D/codes2")
vout=$(python3 "$E2E_LIB_DIR/origin.py" verify "$D/list2" 2>&1)
check "100 parallel HTTP-CONNECT fetches: all HTTP 200, every body intact ($(e2e_elapsed "$t0") s)" \
    '[ "$rc" = 0 ] && [ "$n200" = 100 ] && printf "%s" "$vout" | grep -q "verified 100 files, 0 bad"' ||
    { echo "  curl exit $rc, $n200 × 200; $(tail -n 3 <<< "$vout")"; head -5 "$D/err2"; }

# ---- error replies ------------------------------------------------------------------------------------
e2e_start_blackhole || fail "blackhole listener (a loopback connect timeout) could not be set up"
CLOSED="$(e2e_freeport)"

# socks_err WHAT URL CODE [curl args]: curl exit 97 with "(CODE)" in its message
socks_err() {
    local what="$1" url="$2" want="$3" out rc t1
    shift 3
    t1=$(e2e_now)
    out=$("${CURL[@]}" "$@" -o /dev/null "$url" 2>&1)
    rc=$?
    check "$what: SOCKS5 reply $want (curl exit $rc, '$out', $(e2e_elapsed "$t1") s)" \
        '[ "$rc" = 97 ] && [[ "$out" == *"($want)"* ]]'
}
# http_err WHAT URL STATUS BODY-REGEX: plain -x gives STATUS with a body matching; -p -x gives STATUS to CONNECT
http_err() {
    local what="$1" url="$2" want="$3" re="$4" code body cc
    code=$("${CURL[@]}" -x "http://$H" -o "$D/body" -w '%{http_code}' "$url" 2>/dev/null)
    body=$(head -c 300 "$D/body" 2>/dev/null)
    check "$what: HTTP proxy answers $want ($code: $body)" \
        '[ "$code" = "$want" ] && grep -Eq -- "$re" "$D/body"'
    cc=$("${CURL[@]}" -p -x "http://$H" -o /dev/null -w '%{http_connect}' "$url" 2>/dev/null)
    check "$what: HTTP proxy CONNECT answers $want ($cc)" '[ "$cc" = "$want" ]'
}

socks_err "refused (closed port)" "http://127.0.0.1:$CLOSED/" 5 --socks5-hostname "$S"
socks_err "refused (closed port), --socks5" "http://127.0.0.1:$CLOSED/" 5 --socks5 "$S"
http_err "refused (closed port)" "http://127.0.0.1:$CLOSED/" 502 "CONNECTION_REFUSED"
r=$(python3 "$E2E_LIB_DIR/origin.py" socks5 "$SOCKS_PORT" ip4 127.0.0.1 "$CLOSED" 2>&1)
check "refused: raw SOCKS5 reply byte is 05 ($r)" '[ "$r" = rep=05 ]'
if [ -n "${BLACKHOLE_PORT:-}" ]; then
    t0=$(e2e_now)
    socks_err "connect timeout (full listener)" "http://127.0.0.1:$BLACKHOLE_PORT/" 6 --socks5-hostname "$S"
    http_err "connect timeout (full listener)" "http://127.0.0.1:$BLACKHOLE_PORT/" 504 "CONNECT_TIMEOUT"
    note "timeouts (3 × ConnectTimeout = 2 s): $(e2e_elapsed "$t0") s"
    # The timed-out connects must be abandoned, not left to the kernel's SYN
    # retries (~2 min): each would hold a socket, and the server's SIGTERM
    # drain waits for them.
    sleep 0.5
    command -v ss >/dev/null || note "ss (iproute2) is missing: the half-open check below sees nothing"
    half=$(ss -Htnp state syn-sent "dst 127.0.0.1:$BLACKHOLE_PORT" 2>/dev/null | grep -c "pid=${E2E_PID[server]},")
    check "after a connect timeout the server keeps no half-open connect to the target ($half SYN-SENT sockets of the server to 127.0.0.1:$BLACKHOLE_PORT)" \
        '[ "$half" = 0 ]' || ss -Htnp state syn-sent "dst 127.0.0.1:$BLACKHOLE_PORT" | sed 's/^/  | /'
    # Done with it: its end makes the kernel fail those connects (so that the
    # server's stop at the end is not held up by them as well).
    e2e_kill blackhole KILL
    e2e_wait_exit blackhole 5
fi
socks_err "unresolvable name (nonexistent.invalid)" "http://nonexistent.invalid/" 4 --socks5-hostname "$S"
http_err "unresolvable name (nonexistent.invalid)" "http://nonexistent.invalid/" 502 "NAME_NOT_RESOLVED"
r=$(python3 "$E2E_LIB_DIR/origin.py" socks5 "$SOCKS_PORT" domain nonexistent.invalid 80 2>&1)
check "unresolvable name: raw SOCKS5 reply byte is 04 ($r)" '[ "$r" = rep=04 ]'
# After all those failures the tunnel still carries streams.
fetch_ok "SOCKS5 after the error replies" 100000 after --socks5-hostname "$S"

# ---- proxy authentication, through the second Listen address ---------------------------------------
check "auth client's endpoint is the server's second Listen address" \
    'grep -qx "Endpoint = 127.0.0.1:$SECOND_PORT" "$E2E_WORK/auth.conf"'
if e2e_start_client auth; then
    AS="127.0.0.1:$AUTH_SOCKS"
    AH="127.0.0.1:$AUTH_HTTP"
    fetch_ok "SOCKS5 with the right user/password" 200000 a1 --socks5-hostname "$AS" --proxy-user e2e-user:right-pass-42
    out=$("${CURL[@]}" --socks5-hostname "$AS" --proxy-user e2e-user:wrong-pass -o /dev/null "$ORIGIN/gen/10" 2>&1)
    rc=$?
    check "SOCKS5 with a wrong password fails (curl exit $rc: $out)" '[ "$rc" != 0 ]'
    out=$("${CURL[@]}" --socks5-hostname "$AS" -o /dev/null "$ORIGIN/gen/10" 2>&1)
    rc=$?
    check "SOCKS5 without credentials fails when they are required (curl exit $rc: $out)" '[ "$rc" != 0 ]'
    r=$(python3 "$E2E_LIB_DIR/origin.py" socks5 "$AUTH_SOCKS" ip4 127.0.0.1 "$ORIGIN_PORT" e2e-user wrong 2>&1)
    check "SOCKS5 wrong password: RFC 1929 status is non-zero ($r)" '[[ "$r" == auth=* ]] && [ "$r" != auth=00 ]'
    fetch_ok "HTTP proxy (plain) with the right Basic credentials" 20000 a2 -x "http://$AH" --proxy-user e2e-user:right-pass-42
    fetch_ok "HTTP proxy (CONNECT) with the right Basic credentials" 20000 a3 -p -x "http://$AH" --proxy-user e2e-user:right-pass-42
    code=$("${CURL[@]}" -x "http://$AH" --proxy-user e2e-user:nope -o /dev/null -w '%{http_code}' "$ORIGIN/gen/10" 2>/dev/null)
    check "HTTP proxy with a wrong password: 407 ($code)" '[ "$code" = 407 ]'
    code=$("${CURL[@]}" -x "http://$AH" -o /dev/null -w '%{http_code}' "$ORIGIN/gen/10" 2>/dev/null)
    check "HTTP proxy without credentials: 407 ($code)" '[ "$code" = 407 ]'
    echo_out=$("${CURL[@]}" -x "http://$AH" --proxy-user e2e-user:right-pass-42 "$ORIGIN/echo" 2>&1)
    check "HTTP proxy does not forward Proxy-Authorization to the origin" \
        'printf "%s" "$echo_out" | grep -q "^GET /echo" && ! printf "%s" "$echo_out" | grep -qi "^Proxy-Authorization"'
fi

# ---- OptimisticConnect: success at once, the first bytes ride with STREAM_OPEN ----------------------
if e2e_start_client fast; then
    FS="127.0.0.1:$FAST_SOCKS"
    fetch_ok "optimistic SOCKS5" 1M o1 --socks5-hostname "$FS"
    fetch_ok "optimistic HTTP proxy CONNECT" 300000 o2 -p -x "http://127.0.0.1:$FAST_HTTP"
    fetch_ok "optimistic HTTP proxy plain" 200000 o3 -x "http://127.0.0.1:$FAST_HTTP"
    r=$(python3 "$E2E_LIB_DIR/origin.py" socks5 "$FAST_SOCKS" ip4 127.0.0.1 "$ORIGIN_PORT" 2>&1 | tr -d '\r' | paste -sd' ')
    check "optimistic raw SOCKS5: rep=00 and the origin answers ($r)" '[ "$r" = "rep=00 HTTP/1.1 200 OK" ]'
    # A closed port: success was already answered, so the failure is the
    # connection closing with no answer (the price of the saved round trip).
    r=$(python3 "$E2E_LIB_DIR/origin.py" socks5 "$FAST_SOCKS" ip4 127.0.0.1 "$CLOSED" 2>&1 | tr -d '\r' | paste -sd' ')
    check "optimistic raw SOCKS5 to a closed port: rep=00, then closed without an answer ($r)" \
        '[[ "$r" == rep=00* ]] && [[ "$r" != *HTTP/* ]]'
    fetch_ok "optimistic SOCKS5 after the failed target" 4096 o4 --socks5-hostname "$FS"
fi

# ---- the decoy -----------------------------------------------------------------------------------------
title=$(sed -n 's:.*<title>\(.*\)</title>.*:\1:p' "$E2E_LIB_DIR/../../obfs/site/index.html" | head -n1)
code=$(curl -sk --max-time 20 -o "$D/decoy.html" -w '%{http_code}' "https://127.0.0.1:$SERVER_PORT/")
check "decoy: curl -k https://127.0.0.1:$SERVER_PORT/ gets the built-in site's HTML ($code, '$title')" \
    '[ "$code" = 200 ] && [ -n "$title" ] && grep -qF -- "<title>$title</title>" "$D/decoy.html"'
hdr=$(curl -sk --max-time 20 -D - -o /dev/null "https://127.0.0.1:$SERVER_PORT/" | tr -d '\r')
check "decoy: Server header is nginx's ($(grep -i '^server:' <<< "$hdr"))" 'grep -qi "^server: nginx" <<< "$hdr"'
code=$(curl -s --max-time 20 -o "$D/plain.html" -w '%{http_code}' "http://127.0.0.1:$SERVER_PORT/")
check "decoy: plain HTTP on the TLS port gets nginx's 400 ($code)" \
    '[ "$code" = 400 ] && grep -q "The plain HTTP request was sent to HTTPS port" "$D/plain.html" && grep -q "nginx" "$D/plain.html"'
code=$(curl -sk --max-time 20 -o /dev/null -w '%{http_code}' "https://127.0.0.1:$SERVER_PORT/no-such-page")
check "decoy: an unknown path gets 404 ($code)" '[ "$code" = 404 ]'
# The second listener is the same site; its redirects name its own port.
code=$(curl -sk --max-time 20 -o "$D/decoy2.html" -w '%{http_code}' "https://127.0.0.1:$SECOND_PORT/")
check "decoy on the second Listen address: the same HTML ($code)" \
    '[ "$code" = 200 ] && cmp -s "$D/decoy.html" "$D/decoy2.html"'
loc=$(curl -sk --max-time 20 -D - -o /dev/null "https://127.0.0.1:$SECOND_PORT/css" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
check "decoy on the second Listen address: a directory redirect names that port ($loc)" \
    '[ "$loc" = "https://localhost:$SECOND_PORT/css/" ]'
# The tunnel is still up after all of that (the decoy did not disturb it).
fetch_ok "SOCKS5 after the decoy requests" 12345 end --socks5-hostname "$S"
check "client logged exactly one 'tunnel up' (no reconnects)" '[ "$(e2e_count_log client "tunnel up")" = 1 ]'

e2e_finish
