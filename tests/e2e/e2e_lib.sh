# e2e_lib.sh — shared helpers of the end-to-end tests (source it; bash).
#
#   source "$(dirname "$0")/e2e_lib.sh" "$PHANTOM"
#
# Everything runs on 127.0.0.1: the phantom server, the client's proxies, the
# HTTP origin (origin.py) and every target the tunnel is asked to reach.
# Processes started here run in the background with their logs in $E2E_WORK
# and are killed on EXIT. A check prints "ok   <what>" or "FAIL <what>";
# e2e_finish prints "e2e: N passed, M failed" and exits non-zero on a failure
# (keeping $E2E_WORK and showing the logs' tails).
#
# Environment:
#   ASAN_OPTIONS     default detect_leaks=1 (a leak report makes phantom exit non-zero)
#   PT_E2E_KEEP=1    keep $E2E_WORK even when every check passed
#   PT_E2E_VERBOSE=1 show the phantom logs' tails after each test file

set -u
set -o pipefail

E2E_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PHANTOM="${1:-${PHANTOM:-}}"
if [ -z "$PHANTOM" ] || [ ! -x "$PHANTOM" ]; then
    echo "usage: $0 PATH/TO/phantom" >&2
    exit 2
fi
PHANTOM="$(cd "$(dirname "$PHANTOM")" && pwd)/$(basename "$PHANTOM")"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"

E2E_WORK="$(mktemp -d /tmp/pt-e2e.XXXXXX)"
E2E_PASS=0
E2E_FAIL=0
E2E_T0=$(date +%s.%N)
declare -A E2E_PID=()   # name -> pid of the background processes we started
declare -A E2E_LOG=()   # name -> log file
declare -A E2E_DONE=()  # name -> exit status, once reaped
declare -A E2E_PHANTOM=() # name -> 1 for phantom processes (must exit 0 on SIGTERM)
declare -A E2E_CHECKED=() # name -> bytes of its log already checked for sanitizer reports

# ---- output ---------------------------------------------------------------------------

e2e_now() { date +%s.%N; }
e2e_elapsed() { awk -v a="$1" -v b="$(e2e_now)" 'BEGIN { printf "%.1f", b - a }'; }
note() { echo "  .. $*"; }
ok() { E2E_PASS=$((E2E_PASS + 1)); echo "ok   $*"; }
fail() { E2E_FAIL=$((E2E_FAIL + 1)); echo "FAIL $*"; return 1; }
# check "what" 'shell condition'
check() { if eval "$2"; then ok "$1"; else fail "$1"; fi; }
# show_log NAME [LINES]: the tail of a process's log, indented
show_log() {
    local f="${E2E_LOG[$1]:-$1}"
    [ -f "$f" ] || return 0
    echo "  ---- $1 ($f), last ${2:-25} lines ----"
    tail -n "${2:-25}" "$f" | sed 's/^/  | /'
}

# ---- ports, keys, configs -----------------------------------------------------------------

# e2e_freeport [N]: N currently free TCP ports on 127.0.0.1
e2e_freeport() { python3 "$E2E_LIB_DIR/origin.py" freeport "${1:-1}"; }

# e2e_key NAME: $E2E_WORK/NAME.key (0600); prints its public key
e2e_key() {
    local f="$E2E_WORK/$1.key"
    [ -f "$f" ] || "$PHANTOM" genkey -o "$f" || return 1
    "$PHANTOM" pubkey < "$f"
}

# e2e_setup: keys (server, client), SERVER_PORT, SOCKS_PORT, HTTP_PORT, the
# server's config ($E2E_WORK/server.conf) and the client's (client.conf).
# Extra server lines in $E2E_SERVER_EXTRA, extra client lines in $E2E_CLIENT_EXTRA.
e2e_setup() {
    SERVER_PUB="$(e2e_key server)" || return 1
    CLIENT_PUB="$(e2e_key client)" || return 1
    read -r SERVER_PORT SOCKS_PORT HTTP_PORT <<< "$(e2e_freeport 3)"
    e2e_server_conf
    e2e_client_conf client "$SOCKS_PORT" "$HTTP_PORT" "${E2E_CLIENT_EXTRA:-}"
}

# e2e_server_conf: (re)write server.conf with the [Client] "test" (client.key)
e2e_server_conf() {
    cat > "$E2E_WORK/server.conf" <<EOF
[Server]
PrivateKeyFile = server.key
Listen = 127.0.0.1:$SERVER_PORT
SelfSigned = true
Hostname = localhost
AllowPrivateTargets = true
ConnectTimeout = ${E2E_CONNECT_TIMEOUT:-2}
LogLevel = ${E2E_SERVER_LOGLEVEL:-info}
${E2E_SERVER_EXTRA:-}

[Client]
Name = test
PublicKey = $CLIENT_PUB
EOF
    chmod 600 "$E2E_WORK/server.conf"
}

# e2e_add_client NAME PUBKEY: append a [Client] to server.conf
e2e_add_client() {
    printf '\n[Client]\nName = %s\nPublicKey = %s\n' "$1" "$2" >> "$E2E_WORK/server.conf"
}

# e2e_remove_client NAME: remove that [Client] section from server.conf
e2e_remove_client() {
    awk -v name="$1" '
        function flush() { if (sect != "" && !drop) printf "%s", sect; sect = ""; drop = 0 }
        /^\[/ { flush(); insect = 1 }
        insect { sect = sect $0 "\n"; if ($0 ~ "^Name = " name "$") drop = 1; next }
        { print }
        END { flush() }' "$E2E_WORK/server.conf" > "$E2E_WORK/server.conf.new" &&
        cat "$E2E_WORK/server.conf.new" > "$E2E_WORK/server.conf" && rm -f "$E2E_WORK/server.conf.new"
}

# e2e_client_conf NAME SOCKS_PORT HTTP_PORT [EXTRA]: $E2E_WORK/NAME.conf using NAME.key
e2e_client_conf() {
    cat > "$E2E_WORK/$1.conf" <<EOF
[Client]
PrivateKeyFile = $1.key
SocksListen = 127.0.0.1:$2
HttpListen = 127.0.0.1:$3
ReconnectMax = ${E2E_RECONNECT_MAX:-2}
LogLevel = ${E2E_CLIENT_LOGLEVEL:-info}
${4:-}

[Server]
PublicKey = $SERVER_PUB
Endpoint = 127.0.0.1:$SERVER_PORT
Verify = none
EOF
    chmod 600 "$E2E_WORK/$1.conf"
}

# ---- processes ------------------------------------------------------------------------

# e2e_bg NAME CMD...: start CMD in the background in $E2E_WORK, output to NAME.log
# (appended: a restarted process keeps one log)
e2e_bg() {
    local name="$1"
    shift
    E2E_LOG[$name]="$E2E_WORK/$name.log"
    [ -n "${E2E_CHECKED[$name]:-}" ] || E2E_CHECKED[$name]=0
    [ "$1" = "$PHANTOM" ] && E2E_PHANTOM[$name]=1
    echo "==== start $(date +%T.%N | cut -c1-12): $*" >> "${E2E_LOG[$name]}"
    (cd "$E2E_WORK" && exec "$@") >> "${E2E_LOG[$name]}" 2>&1 &
    E2E_PID[$name]=$!
    unset "E2E_DONE[$name]"
}

# e2e_alive NAME: is the process still running (not yet reaped)?
e2e_alive() {
    local pid="${E2E_PID[$1]:-}"
    [ -n "$pid" ] && [ -z "${E2E_DONE[$1]:-}" ] && kill -0 "$pid" 2>/dev/null &&
        [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]
}

# e2e_wait_exit NAME SECONDS: wait for the process to exit; sets E2E_DONE[NAME]
# to its status. Returns 0 if it exited in time, 1 if it is still running.
e2e_wait_exit() {
    local name="$1" pid="${E2E_PID[$1]:-}" deadline st
    [ -n "$pid" ] || return 0
    if [ -n "${E2E_DONE[$name]:-}" ]; then return 0; fi
    deadline=$(($(date +%s%N) + ${2:-10} * 1000000000))
    while kill -0 "$pid" 2>/dev/null; do
        # a zombie child still answers kill -0; check its state
        if [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ]; then break; fi
        if [ "$(date +%s%N)" -ge "$deadline" ]; then return 1; fi
        sleep 0.05
    done
    wait "$pid"
    st=$?
    E2E_DONE[$name]=$st
    return 0
} 2>/dev/null  # (bash reports a job killed by a signal on stderr: hide that)

# e2e_kill NAME SIGNAL: send a signal to a process we started
e2e_kill() { [ -n "${E2E_PID[$1]:-}" ] && kill -"$2" "${E2E_PID[$1]}" 2>/dev/null; }

# e2e_stop NAME [SECONDS]: SIGTERM; the process must exit 0 within SECONDS
# (default 10) with no sanitizer report in its log. Prints ok/FAIL.
e2e_stop() {
    local name="$1" secs="${2:-10}" t0
    t0=$(e2e_now)
    if ! e2e_alive "$name" && [ -z "${E2E_DONE[$name]:-}" ]; then
        e2e_wait_exit "$name" 1
    fi
    if [ -n "${E2E_DONE[$name]:-}" ]; then
        fail "$name had already exited (status ${E2E_DONE[$name]}) before SIGTERM"
        show_log "$name" 40
        return 1
    fi
    e2e_kill "$name" TERM
    if ! e2e_wait_exit "$name" "$secs"; then
        fail "$name exits within ${secs}s of SIGTERM (still running: SIGKILL)"
        e2e_kill "$name" KILL
        e2e_wait_exit "$name" 5
        show_log "$name" 40
        return 1
    fi
    e2e_check_exit "$name" "$name exits 0 after SIGTERM ($(e2e_elapsed "$t0") s)"
}

# e2e_check_exit NAME WHAT: after NAME exited: ok if status 0 and no sanitizer
# report in the log since the last check; else FAIL with the report.
e2e_check_exit() {
    local name="$1" what="$2"
    if [ "${E2E_DONE[$name]:-}" = 0 ] && ! e2e_sanitizer_report "$name"; then
        e2e_mark_checked "$name"
        ok "$what"
        return 0
    fi
    fail "$what: status ${E2E_DONE[$name]:-running}$(e2e_sanitizer_report "$name" && echo ", sanitizer report")"
    if e2e_sanitizer_report "$name"; then
        e2e_log_unchecked "$name" | grep -E -m3 -A14 "ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY:" | sed 's/^/  | /'
    else
        e2e_log_unchecked "$name" | tail -n 30 | sed 's/^/  | /'
    fi
    e2e_mark_checked "$name"
    return 1
}

# e2e_log_unchecked NAME: the part of NAME's log not yet checked
e2e_log_unchecked() { tail -c +$((${E2E_CHECKED[$1]:-0} + 1)) "${E2E_LOG[$1]}" 2>/dev/null; }
e2e_mark_checked() { E2E_CHECKED[$1]=$(stat -c %s "${E2E_LOG[$1]}" 2>/dev/null || echo 0); }

# e2e_sanitizer_report NAME: true if the unchecked part of the log holds an
# ASan/UBSan/LSan report
e2e_sanitizer_report() {
    e2e_log_unchecked "$1" |
        grep -Eq "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer"
}

# e2e_wait_log NAME REGEX SECONDS [COUNT]: wait until the log of NAME has at
# least COUNT (default 1) lines matching REGEX. Fails early if NAME exited.
e2e_wait_log() {
    local name="$1" re="$2" secs="$3" want="${4:-1}" deadline n
    deadline=$(($(date +%s%N) + secs * 1000000000))
    while :; do
        n=$(grep -Ec -- "$re" "${E2E_LOG[$name]}" 2>/dev/null)
        [ "${n:-0}" -ge "$want" ] && return 0
        if ! e2e_alive "$name"; then return 1; fi
        [ "$(date +%s%N)" -ge "$deadline" ] && return 1
        sleep 0.05
    done
}

# e2e_count_log NAME REGEX: number of matching lines so far
e2e_count_log() { grep -Ec -- "$2" "${E2E_LOG[$1]:-/dev/null}" 2>/dev/null || true; }

# e2e_start_server: start (or restart) the server; waits until it listens.
e2e_start_server() {
    local before
    before=$(e2e_count_log server "listening on")
    e2e_bg server "$PHANTOM" server -c server.conf "$@"
    if ! e2e_wait_log server "listening on" 30 $((${before:-0} + 1)); then
        fail "server starts and listens on 127.0.0.1:$SERVER_PORT"
        show_log server 40
        return 1
    fi
}

# e2e_start_client [NAME]: start a client (NAME.conf, default client); waits for "tunnel up".
e2e_start_client() {
    local name="${1:-client}" before
    before=$(e2e_count_log "$name" "tunnel up")
    e2e_bg "$name" "$PHANTOM" client -c "$name.conf"
    if ! e2e_wait_log "$name" "tunnel up" 30 $((${before:-0} + 1)); then
        fail "$name starts and logs 'tunnel up' within 30 s"
        show_log "$name" 40
        show_log server 20
        return 1
    fi
}

# e2e_start_origin: the HTTP origin on a free port: ORIGIN_PORT, ORIGIN (base
# URL), ORIGIN_LOG (its access log: "METHOD PATH STATUS BYTES" per request).
e2e_start_origin() {
    ORIGIN_LOG="$E2E_WORK/origin-access.log"
    : > "$ORIGIN_LOG"
    rm -f "$E2E_WORK/origin.port"
    e2e_bg origin python3 "$E2E_LIB_DIR/origin.py" serve --port-file "$E2E_WORK/origin.port" \
        --log "$ORIGIN_LOG" --root "${1:-$E2E_WORK}"
    local i
    for i in $(seq 1 200); do
        [ -s "$E2E_WORK/origin.port" ] && break
        sleep 0.05
    done
    ORIGIN_PORT="$(cat "$E2E_WORK/origin.port" 2>/dev/null)"
    if [ -z "$ORIGIN_PORT" ]; then
        fail "origin starts"
        show_log origin
        return 1
    fi
    ORIGIN="http://127.0.0.1:$ORIGIN_PORT"
}

# e2e_start_blackhole: a listener that never completes a connect: BLACKHOLE_PORT
e2e_start_blackhole() {
    rm -f "$E2E_WORK/blackhole.port"
    e2e_bg blackhole python3 "$E2E_LIB_DIR/origin.py" blackhole --port-file "$E2E_WORK/blackhole.port"
    local i
    for i in $(seq 1 200); do
        [ -s "$E2E_WORK/blackhole.port" ] && break
        e2e_alive blackhole || break
        sleep 0.05
    done
    BLACKHOLE_PORT="$(cat "$E2E_WORK/blackhole.port" 2>/dev/null)"
    [ -n "$BLACKHOLE_PORT" ] || { show_log blackhole; return 1; }
}

# e2e_digest SIZE [SEED]: sha256 of origin's /gen/SIZE?seed=SEED
e2e_digest() { python3 "$E2E_LIB_DIR/origin.py" digest "$@"; }

# ---- the end ------------------------------------------------------------------------------

e2e_cleanup() {
    exec 2>/dev/null
    local name pid
    for name in "${!E2E_PID[@]}"; do
        pid="${E2E_PID[$name]}"
        if [ -z "${E2E_DONE[$name]:-}" ] && kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
        fi
    done
    if [ "$E2E_FAIL" = 0 ] && [ "${PT_E2E_KEEP:-0}" != 1 ]; then
        rm -rf "$E2E_WORK"
    else
        echo "  (logs kept in $E2E_WORK)"
    fi
}
trap e2e_cleanup EXIT
trap 'echo "interrupted"; exit 130' INT TERM

# e2e_finish: stop what still runs (phantom processes must exit 0 on SIGTERM),
# check every phantom log for sanitizer reports, print the summary, exit.
e2e_finish() {
    local name
    # Background curls (bg*) first; then the phantom processes, clients before
    # the server (a client's SIGTERM ends its session); then the helpers
    # (origin, blackhole, guards), which phantom may still be connected to.
    for name in "${!E2E_PID[@]}"; do
        if [[ "$name" == bg* ]] && e2e_alive "$name"; then
            e2e_kill "$name" KILL
            e2e_wait_exit "$name" 5
        fi
    done
    for name in $(printf '%s\n' "${!E2E_PHANTOM[@]}" | grep -v '^server$' | sort) server; do
        if [ -n "${E2E_PHANTOM[$name]:-}" ] && e2e_alive "$name"; then e2e_stop "$name" 15; fi
    done
    for name in "${!E2E_PID[@]}"; do
        if [ -z "${E2E_PHANTOM[$name]:-}" ] && e2e_alive "$name"; then
            e2e_kill "$name" KILL
            e2e_wait_exit "$name" 5
        fi
    done
    for name in $(printf '%s\n' "${!E2E_LOG[@]}" | sort); do
        if e2e_sanitizer_report "$name"; then
            fail "$name log has no (unreported) sanitizer report"
            e2e_log_unchecked "$name" | grep -E -m3 -A14 "ERROR: (Address|Leak)Sanitizer|runtime error:" | sed 's/^/  | /'
            e2e_mark_checked "$name"
        fi
    done
    if [ "$E2E_FAIL" != 0 ] || [ "${PT_E2E_VERBOSE:-0}" = 1 ]; then
        for name in $(printf '%s\n' "${!E2E_LOG[@]}" | sort); do show_log "$name" 30; done
    fi
    echo "e2e: $E2E_PASS passed, $E2E_FAIL failed ($(e2e_elapsed "$E2E_T0") s)"
    [ "$E2E_FAIL" = 0 ] && exit 0
    exit 1
}
