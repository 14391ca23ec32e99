#!/bin/sh
# check-exports.sh -- the shared library exports exactly the header's functions.
#
#   check-exports.sh HEADER LIBRARY NM READELF [CC]
#
# HEADER   the public header (include/attnroll.h)
# LIBRARY  the built shared library (the real file, libattnroll.so.X.Y.Z)
# NM       nm from binutils
# READELF  readelf from binutils
# CC       optional C compiler; if it is GCC, its -aux-info listing of the
#          header's prototypes is compared with the awk parser's as a check of
#          the parser itself
#
# ATTNROLL_EXPORTS_EXTRA_HEADER, when set in the environment, names a second
# header whose functions the library must export too (the test hook of a
# -DATTNROLL_ALLOC_FAULTS=ON build, tests/alloc_fault.h).
#
# Checks:
#   1. the dynamic symbol table (nm -D --defined-only) holds exactly the
#      functions declared in HEADER (and the extra header): none missing, none
#      extra;
#   2. each of them is a function (T/W/i) bound to the version node
#      ATTNROLL_<major> from HEADER's ATTNROLL_VERSION_MAJOR, if nm shows versions;
#   3. the SONAME is lib<name>.so.<major> and that file exists beside LIBRARY.
# Exit status: 0 pass, 1 a check failed, 2 bad usage or a tool failed,
# 77 skipped (LIBRARY is not a shared library).
set -u

if [ $# -lt 4 ] || [ $# -gt 5 ]; then
    echo "usage: $0 HEADER LIBRARY NM READELF [CC]" >&2
    exit 2
fi
header=$1 library=$2 nm=$3 readelf=$4 cc=${5-}
here=$(cd "$(dirname "$0")" && pwd)

case $library in
    *.a|*.lib)
        echo "SKIP: $library is a static library; there is no dynamic symbol table to check"
        exit 77 ;;
esac
for f in "$header" "$library"; do
    [ -f "$f" ] || { echo "error: no such file: $f" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/check-exports.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
failed=0
fail() { echo "FAIL: $*"; failed=1; }

# --- what the header declares ------------------------------------------------
if ! awk -f "$here/header-functions.awk" "$header" > "$work/declared.raw"; then
    echo "error: could not parse $header" >&2
    exit 2
fi
sort "$work/declared.raw" > "$work/declared.sorted"
sort -u "$work/declared.raw" > "$work/declared"
if [ ! -s "$work/declared" ]; then
    echo "error: found no function declarations in $header" >&2
    exit 2
fi
if ! cmp -s "$work/declared.sorted" "$work/declared"; then
    fail "functions declared more than once in the header: $(uniq -d "$work/declared.sorted" | tr '\n' ' ')"
fi
ndecl=$(wc -l < "$work/declared" | tr -d ' ')

# Cross-check the awk parser against the compiler's own list, when it is GCC.
if [ -n "$cc" ] && "$cc" --version 2>/dev/null | grep -q 'Free Software Foundation'; then
    if "$cc" -std=c99 -fsyntax-only -aux-info "$work/aux" -x c "$header" 2> "$work/aux.err"; then
        awk -v hdr="$header" '
            index($0, "/* " hdr ":") == 1 {
                line = $0
                sub(/^\/\*[^*]*\*\/[ \t]*/, "", line)
                p = index(line, "(")
                head = substr(line, 1, p - 1)
                sub(/[ \t]+$/, "", head)
                if (match(head, /[A-Za-z_][A-Za-z0-9_]*$/)) print substr(head, RSTART, RLENGTH)
            }' "$work/aux" | sort -u > "$work/declared.gcc"
        if ! cmp -s "$work/declared" "$work/declared.gcc"; then
            fail "the header parser and $cc -aux-info disagree (< parser, > compiler):"
            diff "$work/declared" "$work/declared.gcc" | grep '^[<>]'
        fi
    else
        fail "$header does not compile as C99 on its own:"
        cat "$work/aux.err"
    fi
fi

extra_header=${ATTNROLL_EXPORTS_EXTRA_HEADER-}
if [ -n "$extra_header" ]; then
    if ! awk -f "$here/header-functions.awk" "$extra_header" > "$work/declared.extra" ||
       [ ! -s "$work/declared.extra" ]; then
        echo "error: found no function declarations in $extra_header" >&2
        exit 2
    fi
    sort -u "$work/declared" "$work/declared.extra" > "$work/declared.all"
    mv "$work/declared.all" "$work/declared"
    ndecl=$(wc -l < "$work/declared" | tr -d ' ')
fi

major=$(sed -n 's/^#define[ \t][ \t]*ATTNROLL_VERSION_MAJOR[ \t][ \t]*\([0-9][0-9]*\).*/\1/p' "$header")
if [ -z "$major" ]; then
    echo "error: no ATTNROLL_VERSION_MAJOR in $header" >&2
    exit 2
fi

# --- what the library exports ------------------------------------------------
if ! "$nm" -D --defined-only "$library" > "$work/nm" 2> "$work/nm.err"; then
    echo "error: $nm -D --defined-only $library failed:" >&2
    cat "$work/nm.err" >&2
    exit 2
fi
# Lines are "ADDRESS TYPE NAME[@[@]VERSION]".  Absolute (A) symbols named like a
# version node are the version definitions themselves, not exports (binutils'
# nm shows them unversioned, "A ATTNROLL_1"; llvm-nm as "A ATTNROLL_1@@ATTNROLL_1").
awk '
    NF == 3 { name = $3; ver = ""; at = index(name, "@")
              if (at) { ver = substr(name, at); sub(/^@+/, "", ver); name = substr(name, 1, at - 1) }
              print $2, name, ver }
    NF != 3 { print "?", $0, "" }' "$work/nm" > "$work/exports.all"
awk '$1 == "A" && ($3 == "" || $3 == $2) { print $2 }' "$work/exports.all" | sort -u > "$work/version-nodes"
awk '$3 != "" && !($1 == "A" && $3 == $2) { print $3 }' "$work/exports.all" | sort -u > "$work/used-nodes"
awk 'NR == FNR { node[$1] = 1; next } !($1 == "A" && ($3 == "" || $3 == $2) && ($2 in node))' \
    "$work/used-nodes" "$work/exports.all" > "$work/exports.typed"
awk '{ print $2 }' "$work/exports.typed" | sort -u > "$work/exported"
nexp=$(wc -l < "$work/exported" | tr -d ' ')

missing=$(comm -23 "$work/declared" "$work/exported")
extra=$(comm -13 "$work/declared" "$work/exported")
if [ -n "$missing" ]; then
    fail "declared in $(basename "$header") but not exported by $(basename "$library"):"
    # shellcheck disable=SC2086 # one line per name
    printf '  missing: %s\n' $missing
fi
if [ -n "$extra" ]; then
    fail "exported by $(basename "$library") but not declared in $(basename "$header"):"
    # shellcheck disable=SC2086 # one line per name
    printf '  extra: %s\n' $extra
fi

# Every export is a function, in version node ATTNROLL_<major>.
notfunc=$(awk '$1 !~ /^[TWi]$/ { print $2 " (" $1 ")" }' "$work/exports.typed")
if [ -n "$notfunc" ]; then
    fail "exported symbols that are not functions: $notfunc"
fi
if grep -q '@' "$work/nm"; then
    badver=$(awk -v want="ATTNROLL_$major" '$3 != want { print $2 "@" ($3 == "" ? "(none)" : $3) }' "$work/exports.typed")
    if [ -n "$badver" ]; then
        fail "exports not in version node ATTNROLL_$major:"
        # shellcheck disable=SC2086 # one line per name
        printf '  %s\n' $badver
    fi
    extra_nodes=$(grep -vx "ATTNROLL_$major" "$work/version-nodes" || true)
    if [ -n "$extra_nodes" ]; then
        fail "unexpected version nodes defined: $extra_nodes"
    fi
else
    echo "note: $nm does not show symbol versions; version node not checked"
fi

# --- SONAME ------------------------------------------------------------------
if ! "$readelf" -d "$library" > "$work/dynamic" 2> "$work/readelf.err"; then
    echo "error: $readelf -d $library failed:" >&2
    cat "$work/readelf.err" >&2
    exit 2
fi
soname=$(sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p' "$work/dynamic")
base=$(basename "$library")
stem=${base%%.so*}
want_soname="$stem.so.$major"
if [ "$soname" != "$want_soname" ]; then
    fail "SONAME is '${soname:-<none>}', expected '$want_soname'"
elif [ ! -e "$(dirname "$library")/$soname" ]; then
    fail "no file or link named $soname beside $library"
fi

echo "header:  $ndecl functions in $header${extra_header:+ and $extra_header}"
echo "library: $nexp exported functions in $library, SONAME ${soname:-<none>}"
if [ "$failed" -ne 0 ]; then
    echo "exports: FAILED"
    exit 1
fi
echo "exports: OK"
exit 0
