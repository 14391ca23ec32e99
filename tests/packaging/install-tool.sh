#!/bin/sh
# install-tool.sh -- stage `cmake --install` and run the installed attnroll
# tool, the way a user of the install would: `attnroll --version` must name
# the tool's and the library's versions and the BLAS, with the library found
# in the staged prefix (the tool's RUNPATH), and the bash completion file must
# be installed and parse.
#
#   install-tool.sh CMAKE BUILD_DIR WORK_ROOT VERSION BINDIR DATADIR LIBDIR
#
# Exit status: 0 pass, 1 fail.
set -u
cmake=$1 build_dir=$2 work_root=$3 version=$4 bindir=$5 datadir=$6 libdir=$7

mkdir -p "$work_root" || exit 1
work_root=$(cd "$work_root" && pwd -P)
work=$(mktemp -d "$work_root/tool.XXXXXX") || exit 1
ok=0
cleanup() {
    if [ "$ok" -eq 1 ] && [ "${ATTNROLL_KEEP_TEMP:-0}" != 1 ]; then rm -rf "$work"; else echo "(work directory kept: $work)"; fi
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

stage="$work/prefix"
unset DESTDIR
"$cmake" --install "$build_dir" --prefix "$stage" > "$work/install.log" 2>&1 || { cat "$work/install.log"; fail "cmake --install"; }

tool="$stage/$bindir/attnroll"
[ -x "$tool" ] || fail "the install lacks $bindir/attnroll"
completion="$stage/$datadir/bash-completion/completions/attnroll"
[ -f "$completion" ] || fail "the install lacks $datadir/bash-completion/completions/attnroll"
if command -v bash > /dev/null 2>&1; then
    bash -n "$completion" || fail "$completion does not parse"
    bash -c ". '$completion' && complete -p attnroll" > /dev/null || fail "$completion registers no completion"
fi

# Run it from an empty directory with no library path: it must find the staged library.
mkdir "$work/run"
out=$(cd "$work/run" && env -u LD_LIBRARY_PATH "$tool" --version 2>&1) || fail "attnroll --version failed: $out"
echo "$out"
echo "$out" | grep -qx "attnroll tool $version" || fail "--version does not print 'attnroll tool $version'"
echo "$out" | grep -q "^library  *libattnroll $version\$" || fail "--version does not print the library version $version"
echo "$out" | grep -q "^BLAS  *." || fail "--version does not name the BLAS"
if command -v ldd > /dev/null 2>&1; then
    lib=$(env -u LD_LIBRARY_PATH ldd "$tool" | sed -n 's/.*libattnroll\.so[^ ]* => \([^ ]*\).*/\1/p')
    [ -z "$lib" ] || lib=$(cd "$(dirname "$lib")" 2>/dev/null && pwd -P)  # resolve bin/../lib
    case $lib in
        "" | "$stage/$libdir") ;;  # "": a static libattnroll
        *) fail "the installed tool loads libattnroll from '$lib', not from $stage/$libdir" ;;
    esac
fi
[ -z "$(ls -A "$work/run")" ] || fail "attnroll --version wrote files"
ok=1
echo "PASS: installed attnroll runs from $stage"
