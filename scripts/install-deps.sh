#!/bin/sh
# install-deps.sh -- install what building and testing attnroll needs on
# Debian 12 (bookworm).  Safe to run again: when every package is already
# installed it does nothing (not even apt-get update).
#
# Runs as root, or through sudo when not root and sudo exists.  Never prompts.
#
#   sh scripts/install-deps.sh          install what is missing
#   sh scripts/install-deps.sh --list   print the package list and exit
set -eu

# g++, gcc, make, cmake       the C++17 library, the C99 tests and examples
# pkg-config                  finds OpenBLAS and cmocka; the pkg-config consumer test
# libopenblas-dev             BLAS (attnroll calls openblas_set_num_threads)
# liblapacke-dev              LAPACKE: attnroll_singular_values / _effective_rank (?gesdd)
# libcmocka-dev               the C unit tests
# binutils                    nm, readelf: the exports test
# python3-numpy, python3-pytest  the Python binding tests (run with /usr/bin/python3)
# python3-pip, python3-setuptools, python3-wheel  the pip-install test of the binding
# libzip-dev, libpng-dev, nlohmann-json3-dev, zlib1g-dev  the attnroll command-line tool (npz, PNG, JSON, CRC-32)
# cargo                       the Rust binding (Debian's rustc 1.63)
# nodejs, npm                 the Julia syntax check (tree-sitter-julia from the npm registry)
# strace                      counts the tool's re-executions (--blas-core test)
# clang, libclang-rt-14-dev   the clang build and the libFuzzer targets (fuzz/: libFuzzer,
#                             ASan/UBSan runtimes for clang)
# python3-distributed, python3-dask  attnroll.distributed: the tool on Dask workers (named
#                             both, as issue 14 asks; distributed depends on dask anyway)
# python3-torch, python3-torchvision  the Python binding's real-model test (vit_b_16's
#                             attention as torch tensors read through DLPack; skipped
#                             without them).  Large: 144 MB to download, 614 MB installed,
#                             about a minute to install; the test takes about 10 s
#                             (about 35 s under ASan).
# python3-networkx            the oracle (maximum_flow_value) of the attention-flow tests
PACKAGES="g++ gcc make cmake pkg-config libopenblas-dev liblapacke-dev libcmocka-dev binutils python3-numpy python3-pytest python3-pip python3-setuptools python3-wheel libzip-dev libpng-dev nlohmann-json3-dev zlib1g-dev cargo nodejs npm strace clang libclang-rt-14-dev python3-distributed python3-dask python3-torch python3-torchvision python3-networkx"

if [ "${1-}" = --list ]; then
    echo "$PACKAGES"
    exit 0
fi

missing=""
for pkg in $PACKAGES; do
    # A Node.js from elsewhere (e.g. NodeSource's nodejs, which bundles npm and
    # conflicts with Debian's npm package) serves the Julia syntax check as well.
    case $pkg in
        nodejs | npm) if command -v node > /dev/null 2>&1 && command -v npm > /dev/null 2>&1; then continue; fi ;;
    esac
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
    case $status in
        ii*) ;;
        *) missing="$missing $pkg" ;;
    esac
done

if [ -z "$missing" ]; then
    echo "install-deps: all packages present: $PACKAGES"
    exit 0
fi
echo "install-deps: installing:$missing"

if [ "$(id -u)" -eq 0 ]; then
    as_root=""
elif command -v sudo > /dev/null 2>&1; then
    as_root="sudo"
else
    echo "install-deps: not root and no sudo; as root, run: apt-get install$missing" >&2
    exit 1
fi

# env(1) sets the variables for apt itself, whether or not sudo keeps them.
# shellcheck disable=SC2086 # $as_root may be empty; $missing is a word list
$as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
# shellcheck disable=SC2086
$as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends $missing < /dev/null
