#!/usr/bin/env bash
# fuzz.sh -- build the libFuzzer targets (fuzz/, clang, -DATTNROLL_FUZZ=ON) in
# build-fuzz/ and run each one for SECONDS (default 30), one after another.
# Exits non-zero when a target finds a failure; the input is kept in
# build-fuzz/artifacts/ and the target's log in build-fuzz/logs/.
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS 0 means no time limit (then set FUZZ_RUNS).  Per target it prints
# the executions, exec/s and coverage (libFuzzer's cov: edges, ft: features).
#
# Environment:
#   FUZZ_BUILD_DIR  build directory (default build-fuzz)
#   JOBS            parallel compile jobs (default 2)
#   FUZZ_WORKERS    fuzzing processes per target (default 1).  N > 1 runs
#                   libFuzzer's -jobs=N -workers=N: N independent fuzzers on one
#                   corpus folder, each picking up what the others add; their
#                   logs are build-fuzz/logs/TARGET.workers/fuzz-*.log, and
#                   the summary adds up their executions (exec/s = all
#                   executions / wall time; coverage = the best worker's).
#   FUZZ_RUNS       stop each target after this many executions in all (split
#                   evenly over the workers), e.g. the long run:
#                     FUZZ_WORKERS=2 FUZZ_RUNS=10000000 bash scripts/fuzz.sh 0
#   FUZZ_ARGS       extra libFuzzer arguments
# Each target starts from its committed seeds (fuzz/corpus/NAME) and keeps
# what it learns in build-fuzz/corpus/NAME, so later runs start from there.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
seconds=${1:-30}
shift || true
build=${FUZZ_BUILD_DIR:-build-fuzz}
jobs=${JOBS:-2}
workers=${FUZZ_WORKERS:-1}
runs=${FUZZ_RUNS:-}
all="fuzz_api fuzz_stream fuzz_config fuzz_npy fuzz_npz fuzz_json fuzz_names"
targets=${*:-$all}

# A build folder configured from another checkout would quietly fuzz that
# checkout's sources.
if [ -f "$build/CMakeCache.txt" ]; then
    home=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt")
    if [ "$(cd "$home" 2>/dev/null && pwd -P)" != "$(pwd -P)" ]; then
        echo "fuzz.sh: $build was configured from $home, not $root: remove it or set FUZZ_BUILD_DIR" >&2
        exit 2
    fi
fi
if [ ! -f "$build/CMakeCache.txt" ]; then
    CC=clang CXX=clang++ cmake -S . -B "$build" -DATTNROLL_FUZZ=ON -DBUILD_SHARED_LIBS=OFF \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DATTNROLL_BUILD_TESTS=OFF -DATTNROLL_BUILD_EXAMPLES=OFF \
        -DATTNROLL_BUILD_BENCH=OFF -DATTNROLL_INSTALL=OFF
fi
# shellcheck disable=SC2086 # targets is a word list
cmake --build "$build" -j "$jobs" --target $targets

mkdir -p "$build/artifacts" "$build/logs"
build_abs=$(cd "$build" && pwd)  # the workers run in their own folder
# Allocation failures become ATTNROLL_E_MEMORY (not a crash); leaks fail.
export ASAN_OPTIONS="allocator_may_return_null=1:detect_leaks=1:halt_on_error=1:abort_on_error=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
failed=""
for t in $targets; do
    name=${t#fuzz_}
    corpus="$build_abs/corpus/$name"
    mkdir -p "$corpus"
    opts=(-max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -malloc_limit_mb=512
          -close_fd_mask=1 -print_final_stats=1 -artifact_prefix="$build_abs/artifacts/$t-")
    # -close_fd_mask=1: the tool's own summaries on stdout are not wanted.
    [ -f "fuzz/$name.dict" ] && opts+=(-dict="$root/fuzz/$name.dict")
    # fuzz_config reads a sequence of calls whose cost grows with the input:
    # 512 bytes hold some 50-100 calls, more than the 12 options need.
    [ "$t" = fuzz_config ] && opts+=(-max_len=512)
    [ -n "$runs" ] && opts+=(-runs=$(((runs + workers - 1) / workers)))
    log="$build/logs/$t.log"
    start=$SECONDS
    status=ok
    if [ "$workers" -gt 1 ]; then
        # libFuzzer writes fuzz-<job>.log into the current folder.
        wdir="$build_abs/logs/$t.workers"
        rm -rf "$wdir"
        mkdir -p "$wdir"
        # shellcheck disable=SC2086 # FUZZ_ARGS is a word list
        (cd "$wdir" && "$build_abs/fuzz/$t" -jobs="$workers" -workers="$workers" "${opts[@]}" ${FUZZ_ARGS:-} \
            "$corpus" "$root/fuzz/corpus/$name") > "$log" 2>&1 || status=FAILED
        wlogs=("$wdir"/fuzz-*.log)
    else
        # shellcheck disable=SC2086 # FUZZ_ARGS is a word list
        "$build/fuzz/$t" "${opts[@]}" ${FUZZ_ARGS:-} "$corpus" "fuzz/corpus/$name" > "$log" 2>&1 || status=FAILED
        wlogs=("$log")
    fi
    elapsed=$((SECONDS - start))
    [ "$status" = ok ] || failed="$failed $t"
    # Executions and exec/s from libFuzzer's final stats (per worker), coverage
    # from its last status line (the best worker's).
    summary=$(awk -v workers="$workers" -v elapsed="$elapsed" '
        /^stat::number_of_executed_units:/ { runs[FILENAME] = $2 }
        /^stat::average_exec_per_sec:/ { rate[FILENAME] = $2 }
        match($0, /cov: [0-9]+ ft: [0-9]+/) {
            split(substr($0, RSTART, RLENGTH), f, " ")
            cov[FILENAME] = f[2]; ft[FILENAME] = f[4]
        }
        END {
            n = 0; total = 0; r = -1; c = -1; x = -1
            for (k in runs) { n++; total += runs[k] }
            for (k in cov) { if (cov[k] + 0 > c) c = cov[k] + 0; if (ft[k] + 0 > x) x = ft[k] + 0 }
            if (workers > 1) { if (n > 0 && elapsed > 0) r = total / elapsed }
            else for (k in rate) r = rate[k] + 0
            if (n > 0) printf "%d runs, ", total; else printf "? runs, "
            if (r >= 0) printf "%d exec/s, ", r; else printf "? exec/s, "
            if (c >= 0) printf "cov: %d ft: %d", c, x; else printf "?"
            if (workers > 1) printf " (%d workers, %d reporting)", workers, n
        }' "${wlogs[@]}" 2>/dev/null || echo "? runs, ? exec/s, ?")
    echo "$t: $status in ${elapsed}s: $summary"
    if [ "$status" = FAILED ]; then
        grep -a -m1 -B2 -A30 'ERROR\|fuzz: \|runtime error' "$log" | head -60 || tail -40 "$log"
        ls -1 "$build/artifacts/$t-"* 2>/dev/null || true
    fi
done
if [ -n "$failed" ]; then
    echo "fuzz.sh: failures in:$failed (inputs in $build/artifacts/, logs in $build/logs/)" >&2
    exit 1
fi
