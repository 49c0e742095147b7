#!/usr/bin/env bash
# test.sh — README command (2): install what is needed, build with
# ASan+UBSan and -Werror, and run every test through ctest; then a short
# fuzzing pass. Exits non-zero if anything fails. CI runs this (.ci/run).
#
#   scripts/test.sh                 everything
#   PT_FUZZ_SECONDS=0 scripts/test.sh   skip the fuzzing pass
#
# The fuzzing pass uses a fixed seed (PT_FUZZ_SEED, default 1), so a CI run
# is reproducible and replays a prefix of what a longer local run with the
# same seed covered: finding bugs is the job of long runs with fresh seeds
# (scripts/fuzz.sh 600), not of a gate that fails at random.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

build=build-test
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPT_SANITIZE=ON -DPT_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"

# Sanitizers: fail on the first report; leaks are errors.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
(cd "$build" && ctest --output-on-failure -j"$(nproc)" --timeout 600)

# What the known-answer tests counted (ctest keeps their output in its log).
echo "==== known-answer tests ===="
grep -hE '^(noise vectors|vectors|cli):' "$build/Testing/Temporary/LastTest.log" || true

fuzz_seconds="${PT_FUZZ_SECONDS:-20}"
if [ "$fuzz_seconds" != "0" ]; then
    PT_FUZZ_SEED="${PT_FUZZ_SEED:-1}" bash scripts/fuzz.sh "$fuzz_seconds"
fi
echo "test.sh: all tests passed"
