#!/usr/bin/env bash
# demo.sh -- from a fresh clone to the main job in one command: install the
# dependencies, build attnroll (Release) in build/, and run
# `attnroll demo`, which writes a synthetic spatial and temporal attention
# dump to build/attnroll_demo/, rolls both out with `attnroll spatial` and
# `attnroll temporal`, and prints what it wrote.
#
#   bash scripts/demo.sh [attnroll demo arguments...]
#
# Environment: ATTNROLL_BUILD_DIR (default build), JOBS (default: all cores).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build_dir=${ATTNROLL_BUILD_DIR:-build}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}

sh scripts/install-deps.sh

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build_dir" --target attnroll_cli -j "$jobs"

echo
echo "== $build_dir/tools/attnroll/attnroll demo -o $build_dir/attnroll_demo --force $*"
exec "$build_dir/tools/attnroll/attnroll" demo -o "$build_dir/attnroll_demo" --force "$@"
