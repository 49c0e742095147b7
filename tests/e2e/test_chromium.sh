#!/usr/bin/env bash
# test_chromium.sh PHANTOM — headless Chromium loads a page with 50
# sub-resources (plus a 1 MiB body) from the local origin through the phantom
# client: once through its SOCKS5 proxy, once through its HTTP proxy. Checks:
# the page's own script saw every sub-resource (--dump-dom), the origin's
# access log holds every expected request exactly once, and the client's log
# shows the streams to the origin.
#
# Chromium, even with every background-networking flag, asks its proxy for a
# few vendor hosts at start (clients2.google.com, update.googleapis.com,
# accounts.google.com). So that the tunnel never connects anywhere but the
# origin on 127.0.0.1, Chromium's proxy is a small filter (origin.py guard)
# that passes connections to the origin byte for byte to phantom's proxy and
# refuses every other target itself.
#
# Skips (77) only when Chromium is missing or cannot start at all.
# Environment: PT_CHROMIUM — the browser binary (default: chromium).
source "$(dirname "$0")/e2e_lib.sh" "${1:-}"

CHROMIUM="${PT_CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"
if [ -z "$CHROMIUM" ]; then
    echo "SKIP: chromium is not installed (bash scripts/install-deps.sh installs Debian's chromium)"
    exit 77
fi
CHROME_FLAGS=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
    --disable-background-networking --disable-component-update --disable-sync
    --disable-extensions --disable-default-apps --metrics-recording-only)
if ! probe=$(timeout 30 "$CHROMIUM" "${CHROME_FLAGS[@]}" --user-data-dir="$E2E_WORK/chrome-probe" \
    --dump-dom 'data:text/html,<p id=x>chromium-works</p>' 2>"$E2E_WORK/chrome-probe.err") ||
    [[ "$probe" != *chromium-works* ]]; then
    echo "SKIP: $CHROMIUM cannot start headless here:"
    tail -n 5 "$E2E_WORK/chrome-probe.err"
    exit 77
fi
note "$("$CHROMIUM" --version 2>/dev/null)"

E2E_CLIENT_LOGLEVEL=debug  # the client logs each stream's target
# Cover traffic and timing jitter (PROTOCOL.md §9.2) on both sides: the
# browser's page loads must go through unharmed while PADDING frames
# interleave and burst starts are held.
E2E_SERVER_EXTRA="CoverTraffic = 1
Jitter = 20"
E2E_CLIENT_EXTRA="CoverTraffic = 1
Jitter = 20"
e2e_setup
python3 "$E2E_LIB_DIR/page/make_page.py" "$E2E_WORK/site"
e2e_start_origin "$E2E_WORK/site" || e2e_finish
e2e_start_server || e2e_finish
e2e_start_client client || e2e_finish
want_big="200:$(python3 "$E2E_LIB_DIR/origin.py" fnv 1M chromium)"
n_expected=$(wc -l < "$E2E_WORK/site/expected.txt")

# start_guard KIND UPSTREAM_PORT: GUARD_PORT, GUARD_LOG
start_guard() {
    local name="guard-$1"
    GUARD_LOG="$E2E_WORK/$name-targets.log"
    rm -f "$E2E_WORK/$name.port"
    e2e_bg "$name" python3 "$E2E_LIB_DIR/origin.py" guard --kind "$1" --upstream "$2" \
        --allow "127.0.0.1:$ORIGIN_PORT" --port-file "$E2E_WORK/$name.port" --log "$GUARD_LOG"
    local i
    for i in $(seq 1 100); do
        [ -s "$E2E_WORK/$name.port" ] && break
        sleep 0.05
    done
    GUARD_PORT="$(cat "$E2E_WORK/$name.port" 2>/dev/null)"
    [ -n "$GUARD_PORT" ]
}

# load_page LABEL PROXY-URL: one Chromium run; checks the DOM verdict, the
# origin's access log and the client's streams.
load_page() {
    local label="$1" proxy="$2" t0 rc dom result streams
    : > "$ORIGIN_LOG"
    local streams_before
    streams_before=$(e2e_count_log client "stream [0-9]+ -> 127\.0\.0\.1:$ORIGIN_PORT")
    t0=$(e2e_now)
    timeout 60 "$CHROMIUM" "${CHROME_FLAGS[@]}" --user-data-dir="$E2E_WORK/chrome-$label" \
        --proxy-server="$proxy" --proxy-bypass-list='<-loopback>' \
        --dump-dom "$ORIGIN/index.html" > "$E2E_WORK/dom-$label.html" 2> "$E2E_WORK/chrome-$label.err"
    rc=$?
    result=$(grep -o 'RESULT [^<]*' "$E2E_WORK/dom-$label.html" | head -n1)
    check "$label: Chromium loads the page within 60 s (exit $rc, $(e2e_elapsed "$t0") s)" '[ "$rc" = 0 ]' ||
        tail -n 5 "$E2E_WORK/chrome-$label.err" | sed 's/^/  | /'
    check "$label: the page saw all 50 sub-resources and the 1 MiB body intact ($result)" \
        '[ "$result" = "RESULT pass img=20/20 js=15/15 css=15/15 big=$want_big" ]'
    # The origin's access log: every expected path exactly once, status 200, nothing else.
    sleep 0.2
    local got_paths diff_out
    got_paths=$(awk '$1 == "GET" && $3 == 200 { print $2 }' "$ORIGIN_LOG" | sort)
    diff_out=$(diff <(sort "$E2E_WORK/site/expected.txt") <(printf '%s\n' "$got_paths") | grep '^[<>]' | head -n 8 | paste -sd' ')
    check "$label: origin's access log has each of the $n_expected expected requests exactly once, all 200 ($(wc -l < "$ORIGIN_LOG") lines)" \
        '[ -z "$diff_out" ] && [ "$(wc -l < "$ORIGIN_LOG")" = "$n_expected" ]' ||
        echo "  diff (< missing, > extra): $diff_out"
    streams=$(($(e2e_count_log client "stream [0-9]+ -> 127\.0\.0\.1:$ORIGIN_PORT") - streams_before))
    check "$label: the requests went through the tunnel ($streams streams to the origin in the client's log)" \
        '[ "$streams" -ge 1 ]'
}

# ---- SOCKS5 ----------------------------------------------------------------------------------
if start_guard socks5 "$SOCKS_PORT"; then
    load_page socks5 "socks5://127.0.0.1:$GUARD_PORT"
    denied=$(awk '$1 == "deny" { print $2 }' "$GUARD_LOG" | sort -u | paste -sd' ')
    [ -z "$denied" ] || note "Chromium's own requests refused before the tunnel: $denied"
    check "socks5: Chromium's connections to the origin all passed through the guard to phantom" \
        'grep -q "^allow 127.0.0.1:$ORIGIN_PORT$" "$GUARD_LOG"'
else
    fail "the SOCKS5 guard starts"
fi

# ---- HTTP proxy -------------------------------------------------------------------------------
if start_guard http "$HTTP_PORT"; then
    load_page http "http://127.0.0.1:$GUARD_PORT"
    denied=$(awk '$1 == "deny" { print $2 }' "$GUARD_LOG" | sort -u | paste -sd' ')
    [ -z "$denied" ] || note "Chromium's own requests refused before the tunnel: $denied"
else
    fail "the HTTP guard starts"
fi

check "client kept one tunnel throughout" '[ "$(e2e_count_log client "tunnel up")" = 1 ]'
other=$(grep -Eo "stream [0-9]+ -> [^ ]+" "${E2E_LOG[client]}" | grep -v -- "-> 127\.0\.0\.1:$ORIGIN_PORT$" | head -n 3 | paste -sd' ')
check "the tunnel was asked for no target but the origin${other:+ (got: $other)}" '[ -z "$other" ]'

e2e_finish
