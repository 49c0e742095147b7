#!/usr/bin/env bash
# fuzz.sh — build every libFuzzer target (fuzz/fuzz_<name>.c) with clang into
# build-fuzz/ and run each one for a bounded time on a scratch copy of its
# seeds (fuzz/corpus/<name>/), so the repository is never modified.
#
#   scripts/fuzz.sh            60 s per target
#   scripts/fuzz.sh 300        300 s per target (or FUZZ_SECONDS=300)
#
# Prints one summary line per target and exits non-zero if any target
# crashed, leaked, hung or failed to build. Crash inputs are kept in
# build-fuzz/artifacts/<name>/ (reproduce: build-fuzz/fuzz/fuzz_<name> FILE).
# A new target needs no change here: drop in fuzz/fuzz_<name>.c and
# fuzz/corpus/<name>/.
#
# PT_FUZZ_SEED=N fixes libFuzzer's random seed (0, the default, lets it pick
# one). With a fixed seed a run is a prefix of every longer run with that
# seed, so CI (scripts/test.sh uses a fixed seed) only ever replays inputs a
# longer local run already passed; exploration uses fresh seeds.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-${FUZZ_SECONDS:-60}}"
seed="${PT_FUZZ_SEED:-0}"
build="${FUZZ_BUILD_DIR:-$root/build-fuzz}"

case "$seconds$seed" in
*[!0-9]*)
    echo "fuzz.sh: seconds and PT_FUZZ_SEED must be whole numbers, got '$seconds', '$seed'" >&2
    exit 2
    ;;
esac
[ -n "$seconds" ] || { echo "fuzz.sh: seconds must not be empty" >&2; exit 2; }
if ! command -v clang >/dev/null 2>&1; then
    echo "fuzz.sh: clang not found (scripts/install-deps.sh installs it)" >&2
    exit 2
fi

targets=()
for src in "$root"/fuzz/fuzz_*.c; do
    [ -e "$src" ] || continue
    targets+=("$(basename "$src" .c)")
done
if [ "${#targets[@]}" -eq 0 ]; then
    echo "fuzz.sh: no fuzz/fuzz_*.c targets" >&2
    exit 2
fi

echo "fuzz.sh: building ${targets[*]} in $build"
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DPT_FUZZ=ON -DPT_BUILD_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"

# Sanitizer reports are failures; libFuzzer turns them into a crash artifact.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

work="$(mktemp -d "${TMPDIR:-/tmp}/pt-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT

failed=0
summary=()
for t in "${targets[@]}"; do
    name="${t#fuzz_}"
    bin="$build/fuzz/$t"
    corpus="$work/$name/corpus"
    artifacts="$build/artifacts/$name"
    log="$work/$name/log"
    mkdir -p "$corpus" "$artifacts"
    if [ -d "$root/fuzz/corpus/$name" ]; then
        cp -R "$root/fuzz/corpus/$name/." "$corpus/"
    else
        echo "fuzz.sh: warning: no seeds in fuzz/corpus/$name/" >&2
    fi
    seeds="$(find "$corpus" -type f | wc -l)"

    echo "fuzz.sh: running $t for ${seconds}s ($seeds seeds, seed $seed)"
    start="$(date +%s)"
    set +e
    "$bin" -max_total_time="$seconds" -seed="$seed" -print_final_stats=1 -timeout=30 \
        -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1
    rc=$?
    set -e
    elapsed=$(($(date +%s) - start))

    execs="$(awk '/^stat::number_of_executed_units:/ {print $2}' "$log" | tail -n 1)"
    rate="$(awk '/^stat::average_exec_per_sec:/ {print $2}' "$log" | tail -n 1)"
    cov="$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1 | awk '{print $2}')"
    units="$(find "$corpus" -type f | wc -l)"
    if [ "$rc" -eq 0 ]; then
        status="ok"
    else
        status="CRASH(rc=$rc)"
        failed=1
        echo "---- $t: last 60 lines of output ----" >&2
        tail -n 60 "$log" >&2
        echo "---- artifacts in $artifacts ----" >&2
        ls -l "$artifacts" >&2 || true
        # CI keeps no files: print each input so it can be rebuilt
        # (base64 -d > crash; $bin crash).
        for a in "$artifacts"/*; do
            [ -f "$a" ] || continue
            echo "---- $(basename "$a") (base64) ----" >&2
            head -c 65536 "$a" | base64 >&2
        done
    fi
    line="fuzz: $t: $status executions=${execs:-?} seconds=$elapsed exec/s=${rate:-?} cov=${cov:-?} corpus=$seeds->$units"
    summary+=("$line")
    echo "$line"
done

echo "==== fuzz summary ===="
printf '%s\n' "${summary[@]}"
exit "$failed"
