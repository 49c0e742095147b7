#!/usr/bin/env bash
# test_restart.sh PHANTOM — the server goes away and comes back: SIGKILL in the
# middle of a download (the download fails cleanly, the client reconnects by
# itself once the server is back), SIGTERM (drains and exits 0), and SIGHUP
# reloading the authorized clients (a [Client] added can connect, one removed
# cannot).
source "$(dirname "$0")/e2e_lib.sh" "${1:-}"

e2e_setup
e2e_start_origin || e2e_finish
e2e_start_server || e2e_finish
e2e_start_client client || e2e_finish
S="127.0.0.1:$SOCKS_PORT"
D="$E2E_WORK/dl"
mkdir -p "$D"

# fetch_ok WHAT SIZE SEED [CURL-ARGS...]: /gen/SIZE through SOCKS5 $S arrives intact
fetch_ok() {
    local what="$1" size="$2" seed="$3" code want got
    shift 3
    rm -f "$D/one"
    code=$(curl -sS --max-time 30 --socks5-hostname "${FETCH_PROXY:-$S}" "$@" -o "$D/one" -w '%{http_code}' \
        "$ORIGIN/gen/$size?seed=$seed" 2>"$D/err")
    want=$(e2e_digest "$size" "$seed")
    got=$(sha256sum < "$D/one" 2>/dev/null | cut -d' ' -f1)
    check "$what (http $code${got:+, sha256 ${got:0:12}…}$( [ "$got" = "$want" ] || echo ", want ${want:0:12}…; $(head -c 200 "$D/err")"))" \
        '[ "$code" = 200 ] && [ "$got" = "$want" ]'
}

# wait_size FILE BYTES SECONDS: until FILE holds at least BYTES
wait_size() {
    local i
    for i in $(seq 1 $(($3 * 20))); do
        [ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -ge "$2" ] && return 0
        sleep 0.05
    done
    return 1
}

fetch_ok "first fetch through the tunnel" 1M first

# ---- SIGKILL in the middle of a download -------------------------------------------------------------
# 64 MiB at 8 MiB/s: about 8 s, so the kill lands in the middle.
e2e_bg bgcurl curl -sS --max-time 40 --socks5-hostname "$S" -o "$D/killed" "$ORIGIN/slow?size=64M&rate=8M&seed=k"
if wait_size "$D/killed" 2000000 15; then
    t_kill=$(e2e_now)
    e2e_kill server KILL
    e2e_wait_exit server 5
    check "server is gone after SIGKILL (status ${E2E_DONE[server]:-running})" '[ "${E2E_DONE[server]:-}" = 137 ]'
    e2e_mark_checked server
    if e2e_wait_exit bgcurl 15; then
        st="${E2E_DONE[bgcurl]}"
        got=$(stat -c %s "$D/killed" 2>/dev/null || echo 0)
        check "the download fails cleanly: curl exits with an error, not a timeout, $(e2e_elapsed "$t_kill") s after the kill (exit $st, $got of 67108864 bytes; $(grep -o 'curl: ([0-9]*)[^.]*' "${E2E_LOG[bgcurl]}" | head -n1))" \
            '[ "$st" != 0 ] && [ "$st" != 28 ] && [ "$got" -lt 67108864 ]'
    else
        fail "the download ends within 15 s of the server's SIGKILL (curl still running: a hang)"
        e2e_kill bgcurl KILL
        e2e_wait_exit bgcurl 5
    fi
else
    fail "the slow download got 2 MB within 15 s (before the kill)"
    show_log bgcurl
fi
check "client notices the tunnel is down and schedules a reconnect" \
    'e2e_wait_log client "reconnecting in" 10'
check "client is still running while the server is down" 'e2e_alive client'

# A request made while the server is down waits for the tunnel and is served
# once the server is back.
e2e_bg bgwait curl -sS --max-time 30 --socks5-hostname "$S" -o "$D/waited" -w '%{http_code}' "$ORIGIN/gen/300000?seed=waited"
sleep 1.5
t_up=$(e2e_now)
ups=$(e2e_count_log client "tunnel up")
if e2e_start_server; then
    if e2e_wait_log client "tunnel up" 20 $((ups + 1)); then
        ok "client reconnects by itself after the server is restarted on the same port ($(e2e_elapsed "$t_up") s)"
    else
        fail "client reconnects by itself within 20 s of the server's restart"
        show_log client 20
    fi
    fetch_ok "a new fetch after the reconnect" 2M after-restart
    if e2e_wait_exit bgwait 30; then
        check "the request made while the server was down is served when it is back (curl exit ${E2E_DONE[bgwait]}, http $(tail -c 3 "${E2E_LOG[bgwait]}"))" \
            '[ "${E2E_DONE[bgwait]}" = 0 ] && [ "$(sha256sum < "$D/waited" | cut -d" " -f1)" = "$(e2e_digest 300000 waited)" ]'
    else
        fail "the request made while the server was down ends"
    fi
fi

# ---- SIGTERM: drain ----------------------------------------------------------------------------------
# A 3 MiB download at 1 MiB/s is under way when the server gets SIGTERM: the
# server sends GOAWAY, lets the stream finish, and exits 0.
e2e_bg bgdrain curl -sS --max-time 30 --socks5-hostname "$S" -o "$D/drained" "$ORIGIN/slow?size=3M&rate=1M&seed=drain"
wait_size "$D/drained" 500000 10
t_term=$(e2e_now)
e2e_kill server TERM
if e2e_wait_exit bgdrain 20; then
    check "a download under way when the server gets SIGTERM completes intact (curl exit ${E2E_DONE[bgdrain]}, $(e2e_elapsed "$t_term") s)" \
        '[ "${E2E_DONE[bgdrain]}" = 0 ] && [ "$(sha256sum < "$D/drained" | cut -d" " -f1)" = "$(e2e_digest 3M drain)" ]'
else
    fail "the download under way during the drain ends"
fi
if e2e_wait_exit server 8; then
    e2e_check_exit server "server drains and exits 0 after SIGTERM ($(e2e_elapsed "$t_term") s)"
else
    fail "server exits within a few seconds of SIGTERM after the stream finished (still running)"
    show_log server 20
    e2e_kill server KILL
    e2e_wait_exit server 5
fi
check "client got the server's GOAWAY" 'e2e_wait_log client "GOAWAY" 5'

# SIGTERM with an idle session (no stream): exits 0 within a few seconds.
ups=$(e2e_count_log client "tunnel up")
e2e_start_server
if e2e_wait_log client "tunnel up" 20 $((ups + 1)); then
    t_term=$(e2e_now)
    e2e_stop server 5
else
    fail "client reconnects after the second restart"
fi

# ---- SIGHUP: authorize a client, then remove it -------------------------------------------------------
ups=$(e2e_count_log client "tunnel up")
e2e_start_server
e2e_wait_log client "tunnel up" 20 $((ups + 1)) || fail "client reconnects after the third restart"
SECOND_PUB="$(e2e_key second)"
read -r SECOND_SOCKS SECOND_HTTP <<< "$(e2e_freeport 2)"
e2e_client_conf second "$SECOND_SOCKS" "$SECOND_HTTP"
# Not authorized yet: its handshake fails (the server treats it as a visitor).
e2e_bg second "$PHANTOM" client -c second.conf
check "an unknown client key cannot connect: its log shows a handshake failure" \
    'e2e_wait_log second "handshake failed" 15'
check "  … and it never logs 'tunnel up'" '[ "$(e2e_count_log second "tunnel up")" = 0 ]'

e2e_add_client second "$SECOND_PUB"
hups=$(e2e_count_log server "SIGHUP")
e2e_kill server HUP
check "server reloads on SIGHUP: 2 authorized clients" 'e2e_wait_log server "SIGHUP: 2 authorized clients" 10'
t_hup=$(e2e_now)
if e2e_wait_log second "tunnel up" 20; then
    ok "the client added by SIGHUP connects (its own reconnect, $(e2e_elapsed "$t_hup") s)"
else
    fail "the client added by SIGHUP connects within 20 s"
    show_log second 20
fi
FETCH_PROXY="127.0.0.1:$SECOND_SOCKS" fetch_ok "a fetch through the second client" 500000 second
fetch_ok "the first client still works" 500000 first-again

# A broken file on SIGHUP: the server keeps its list.
cp "$E2E_WORK/server.conf" "$E2E_WORK/server.conf.good"
echo "Listn = 127.0.0.1:1" >> "$E2E_WORK/server.conf"
e2e_kill server HUP
check "SIGHUP with an invalid file: error logged, current clients kept" \
    'e2e_wait_log server "keeping the current clients" 10'
cat "$E2E_WORK/server.conf.good" > "$E2E_WORK/server.conf"
FETCH_PROXY="127.0.0.1:$SECOND_SOCKS" fetch_ok "the second client still works after the bad reload" 1000 second-b

# Remove it again: its session drains and it can no longer connect.
e2e_remove_client second
check "server.conf no longer names the second client" '! grep -q "^Name = second" "$E2E_WORK/server.conf"'
e2e_kill server HUP
check "server reloads on SIGHUP: 1 authorized client" 'e2e_wait_log server "SIGHUP: 1 authorized clients" 10'
check "the removed client's session is told to drain" 'e2e_wait_log server "client key removed" 5'
e2e_stop second 10
fails=$(e2e_count_log second "handshake failed")
e2e_bg second "$PHANTOM" client -c second.conf
check "the removed client, started again, cannot connect: its log shows a handshake failure" \
    "e2e_wait_log second 'handshake failed' 15 $((fails + 1))"
out=$(curl -sS --max-time 4 --socks5-hostname "127.0.0.1:$SECOND_SOCKS" -o /dev/null -w '%{http_code}' "$ORIGIN/gen/10" 2>&1)
out=$(printf "%s" "$out" | tr "\n" " ")
check "a fetch through the removed client fails ($out)" '[[ "$out" != *200* ]]'
ups=$(e2e_count_log second "tunnel up")
check "the removed client has no tunnel" '[ "$ups" = 1 ]'
fetch_ok "the first client still works after the removal" 700000 first-last

e2e_finish
