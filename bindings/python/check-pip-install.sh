#!/bin/sh
# check-pip-install.sh PYTHON PACKAGE_DIR LIBRARY WORK_DIR
# Installs the package with pip (no network: --no-build-isolation, --no-deps)
# into a fresh directory, from a copy of the sources so the tree stays clean,
# then imports it from there and runs a tiny rollout with a known answer.
set -eu
python=$1 package=$2 library=$3 work=$4
rm -rf "$work"
mkdir -p "$work"
cp -r "$package/attnroll" "$package/pyproject.toml" "$package/README.md" "$work/"
mkdir "$work/src" && mv "$work/attnroll" "$work/pyproject.toml" "$work/README.md" "$work/src/"
"$python" -m pip install --quiet --no-build-isolation --no-deps --no-cache-dir \
    --target "$work/site" "$work/src"
cd "$work"
ATTNROLL_LIBRARY=$library PYTHONPATH=$work/site "$python" - <<'PY'
import attnroll, numpy as np
assert attnroll.__file__.startswith(__import__("os").getcwd() + "/site/"), attnroll.__file__
# One layer, one head: A + I = [[1.5,.5],[.25,1.75]], rows sum to 2.
r = attnroll.spatial([np.array([[[0.5, 0.5], [0.25, 0.75]]])], out_dtype=np.float64)
assert np.array_equal(r, [[0.75, 0.25], [0.125, 0.875]]), r
print("pip-installed attnroll", attnroll.__version__, "works")
PY
rm -rf "$work"
