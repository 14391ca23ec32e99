#!/usr/bin/env bash
# test-all.sh -- install the dependencies, build attnroll with warnings as
# errors, and run every registered test.  Exits non-zero on any failure.
#
#   bash scripts/test-all.sh [extra cmake configure arguments...]
#
# Environment:
#   ATTNROLL_BUILD_DIR  build directory (default build)
#   JOBS                parallel compile jobs (default 2)
#   CTEST_PARALLEL_LEVEL  honoured by ctest as usual (default: one test at a time)
#   SKIP_DEPS=1         do not run scripts/install-deps.sh
# .ci/run also uses this script for its sanitizer build, with the test-only
# allocation-failure injection (test_alloc_faults), e.g.
#   ATTNROLL_BUILD_DIR=build-asan bash scripts/test-all.sh -DATTNROLL_SANITIZE=ON -DATTNROLL_ALLOC_FAULTS=ON
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build_dir=${ATTNROLL_BUILD_DIR:-build}
jobs=${JOBS:-2}

if [ "${SKIP_DEPS:-0}" != 1 ]; then
    sh scripts/install-deps.sh
fi

start=$SECONDS
echo "== configure ($build_dir)"
cmake -S . -B "$build_dir" -DATTNROLL_WERROR=ON "$@"
echo "== build ($build_dir, -j$jobs)"
cmake --build "$build_dir" -j "$jobs"
built=$SECONDS
echo "== test ($build_dir)"
# --no-tests=error: a build that registered no test is a failure, not a pass.
ctest --test-dir "$build_dir" --output-on-failure --no-tests=error --timeout 900
echo "== $build_dir: build $((built - start))s, tests $((SECONDS - built))s"
