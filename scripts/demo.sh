#!/usr/bin/env bash
# demo.sh -- from a fresh clone to the rollout demo in one command:
# install the dependencies, build attnroll (Release) in build/, and run
# build/examples/rollout_demo, which rolls out a synthesized ViT-shaped
# attention stack and prints a summary.
#
#   bash scripts/demo.sh [rollout_demo arguments...]
#
# Environment: ATTNROLL_BUILD_DIR (default build), JOBS (default: all cores).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build_dir=${ATTNROLL_BUILD_DIR:-build}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}

sh scripts/install-deps.sh

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build_dir" --target rollout_demo -j "$jobs"

echo
echo "== $build_dir/examples/rollout_demo $*"
exec "$build_dir/examples/rollout_demo" "$@"
