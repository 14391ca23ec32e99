#!/bin/sh
# check-exports-selftest.sh -- shows that check-exports.sh fails when it should.
#
#   check-exports-selftest.sh HEADER LIBRARY NM READELF [CC]
#
# Runs check-exports.sh against doctored copies of HEADER and requires each to
# fail (exit 1) with the expected complaint:
#   - a declaration removed       -> the library has an extra export
#   - a declaration added         -> the header has a function the library lacks
#   - the major version bumped    -> the SONAME and version node do not match
#   - a declaration hidden in a comment / #if 0 text is still not counted
# A declaration inside a comment or a macro must change nothing.
set -u

if [ $# -lt 4 ] || [ $# -gt 5 ]; then
    echo "usage: $0 HEADER LIBRARY NM READELF [CC]" >&2
    exit 2
fi
header=$1 library=$2 nm=$3 readelf=$4 cc=${5-}
here=$(cd "$(dirname "$0")" && pwd)
check="$here/check-exports.sh"

case $library in
    *.a|*.lib) echo "SKIP: $library is a static library"; exit 77 ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/check-exports-selftest.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
failed=0

# expect NAME STATUS PATTERN DOCTORED_HEADER
expect() {
    name=$1 want_status=$2 pattern=$3 hdr=$4
    sh "$check" "$hdr" "$library" "$nm" "$readelf" "$cc" > "$work/$name.out" 2>&1
    status=$?
    if [ "$status" -ne "$want_status" ]; then
        echo "FAIL [$name]: check-exports.sh exited $status, expected $want_status. Its output:"
        sed 's/^/    /' "$work/$name.out"
        failed=1
    elif [ -n "$pattern" ] && ! grep -q -- "$pattern" "$work/$name.out"; then
        echo "FAIL [$name]: output lacks '$pattern'. Its output:"
        sed 's/^/    /' "$work/$name.out"
        failed=1
    else
        # shellcheck disable=SC2016 # the quotes are literal text
        echo "ok   [$name]: exit $status${pattern:+, reports '$pattern'}"
    fi
}

# Doctored headers live in their own directory under the header's file name so
# that messages and the compiler cross-check see the same name.
mk() { mkdir -p "$work/$1"; echo "$work/$1/$(basename "$header")"; }

# 0. Unmodified: the baseline (the exports test proper judges it; here it only
#    has to run).  A library that does not match its header fails that test;
#    the doctored cases below still have to be caught on top of its faults.
sh "$check" "$header" "$library" "$nm" "$readelf" "$cc" > "$work/baseline.out" 2>&1
baseline=$?
case $baseline in
    0|1) echo "ok   [baseline]: exit $baseline" ;;
    *) echo "FAIL [baseline]: check-exports.sh exited $baseline. Its output:"
       sed 's/^/    /' "$work/baseline.out"
       exit 1 ;;
esac
grep -E '^  (missing|extra): ' "$work/baseline.out" > "$work/baseline.diffs"

# 1. Remove the last declared function (its whole, possibly multi-line, declaration).
victim=$(awk -f "$here/header-functions.awk" "$header" | tail -n 1)
h=$(mk removed)
awk -v v="$victim" '
    skipping { if (index($0, ";")) skipping = 0; next }
    index($0, v "(") && $0 ~ /ATTNROLL_API/ { if (!index($0, ";")) skipping = 1; next }
    { print }' "$header" > "$h"
if cmp -s "$header" "$h"; then
    echo "FAIL [removed]: could not remove the declaration of $victim"; failed=1
else
    expect removed 1 "extra: $victim" "$h"
fi

# 2. Add a function the library does not have (inside the extern "C" block).
h=$(mk added)
awk '/^#ifdef __cplusplus/ { n++ } /^#ifdef __cplusplus/ && n == 2 {
         print "ATTNROLL_API int32_t attnroll_selftest_not_in_library(int32_t x);" }
     { print }' "$header" > "$h"
expect added 1 "missing: attnroll_selftest_not_in_library" "$h"

# 3. Bump the major version: SONAME and version node no longer match.
h=$(mk major)
sed 's/^\(#define[ \t]*ATTNROLL_VERSION_MAJOR[ \t]*\)[0-9][0-9]*/\1999/' "$header" > "$h"
expect major 1 "expected 'lib[a-z_]*\.so\.999'" "$h"

# 4. Declarations in comments and in macro bodies are not declarations.
h=$(mk commented)
awk '/^#ifdef __cplusplus/ { n++ } /^#ifdef __cplusplus/ && n == 2 {
         print "/* ATTNROLL_API int32_t attnroll_in_comment(void); */"
         print "#define ATTNROLL_SELFTEST_MACRO(x) \\"
         print "    attnroll_in_macro(x);"
         print "// ATTNROLL_API int32_t attnroll_in_line_comment(void);" }
     { print }' "$header" > "$h"
expect commented "$baseline" "" "$h"
grep -E '^  (missing|extra): ' "$work/commented.out" > "$work/commented.diffs"
if ! cmp -s "$work/baseline.diffs" "$work/commented.diffs"; then
    echo "FAIL [commented]: commented-out declarations changed the result:"
    diff "$work/baseline.diffs" "$work/commented.diffs"
    failed=1
fi

if [ "$failed" -ne 0 ]; then
    echo "exports_selftest: FAILED"
    exit 1
fi
echo "exports_selftest: OK"
