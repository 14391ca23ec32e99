#!/usr/bin/env bash
# fuzz.sh -- build the libFuzzer targets (fuzz/, clang, -DATTNROLL_FUZZ=ON) in
# build-fuzz/ and run each one for SECONDS (default 30), one after another.
# Exits non-zero when a target finds a failure; the input is kept in
# build-fuzz/artifacts/ and the target's log in build-fuzz/logs/.
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Environment:
#   FUZZ_BUILD_DIR  build directory (default build-fuzz)
#   JOBS            parallel compile jobs (default 2)
#   FUZZ_ARGS       extra libFuzzer arguments (e.g. -jobs=1 -workers=1)
#   ATTNROLL_FUZZ_STRICT=1  also fail on the findings of issue 13 still being
#                   fixed in src/ (listed in fuzz/fuzz_api.cpp and fuzz_stream.cpp)
# Each target starts from its committed seeds (fuzz/corpus/NAME) and keeps
# what it learns in build-fuzz/corpus/NAME, so later runs start from there.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
seconds=${1:-30}
shift || true
build=${FUZZ_BUILD_DIR:-build-fuzz}
jobs=${JOBS:-2}
all="fuzz_api fuzz_stream fuzz_config fuzz_npy fuzz_npz fuzz_json fuzz_names"
targets=${*:-$all}

if [ ! -f "$build/CMakeCache.txt" ]; then
    CC=clang CXX=clang++ cmake -S . -B "$build" -DATTNROLL_FUZZ=ON -DBUILD_SHARED_LIBS=OFF \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DATTNROLL_BUILD_TESTS=OFF -DATTNROLL_BUILD_EXAMPLES=OFF \
        -DATTNROLL_BUILD_BENCH=OFF -DATTNROLL_INSTALL=OFF
fi
# shellcheck disable=SC2086 # targets is a word list
cmake --build "$build" -j "$jobs" --target $targets

mkdir -p "$build/artifacts" "$build/logs"
# Allocation failures become ATTNROLL_E_MEMORY (not a crash); leaks fail.
export ASAN_OPTIONS="allocator_may_return_null=1:detect_leaks=1:halt_on_error=1:abort_on_error=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
failed=""
for t in $targets; do
    name=${t#fuzz_}
    corpus="$build/corpus/$name"
    mkdir -p "$corpus"
    dict=()
    [ -f "fuzz/$name.dict" ] && dict=(-dict="fuzz/$name.dict")
    log="$build/logs/$t.log"
    start=$SECONDS
    # -close_fd_mask=1: the tool's own summaries on stdout are not wanted.
    # shellcheck disable=SC2086 # FUZZ_ARGS is a word list
    if "$build/fuzz/$t" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -malloc_limit_mb=512 \
        -close_fd_mask=1 -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" "${dict[@]}" \
        ${FUZZ_ARGS:-} "$corpus" "fuzz/corpus/$name" > "$log" 2>&1; then
        status=ok
    else
        status=FAILED
        failed="$failed $t"
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -ao 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1 || true)
    echo "$t: $status in $((SECONDS - start))s: ${runs:-?} runs, ${rate:-?} exec/s, ${cov:-?}"
    if [ "$status" = FAILED ]; then
        grep -a -m1 -B2 -A30 'ERROR\|fuzz: \|runtime error' "$log" | head -60 || tail -40 "$log"
        ls -1 "$build/artifacts/$t-"* 2>/dev/null || true
    fi
done
if [ -n "$failed" ]; then
    echo "fuzz.sh: failures in:$failed (inputs in $build/artifacts/, logs in $build/logs/)" >&2
    exit 1
fi
