#!/bin/sh
# install-consumer.sh -- stage an install of attnroll and build and run a small
# C consumer against it, the way a downstream project would.
#
#   install-consumer.sh MODE [options]
#
# MODE          cmake       find_package(attnroll 1 REQUIRED) + attnroll::attnroll
#               pkg-config  cc $(pkg-config --cflags --libs attnroll)
# --build-dir D     the configured and built attnroll build tree to install from
# --header H        the source tree's public header (the installed one must match)
# --consumer-dir C  tests/packaging/consumer_cmake (CMakeLists.txt + consumer.c)
# --work-root W     a directory under the build tree; each run gets its own
#                   mktemp -d directory inside it, removed on success and kept
#                   on failure (set ATTNROLL_KEEP_TEMP=1 to keep it always)
# --cmake X  --cc X  --pkg-config X  --generator G  --make-program X
# --libdir L        CMAKE_INSTALL_LIBDIR (relative to the prefix)
# --includedir I    CMAKE_INSTALL_INCLUDEDIR (relative to the prefix)
# --version V       the expected package version (1.0.0)
# --library-type T  SHARED_LIBRARY or STATIC_LIBRARY
# --sanitize ON|OFF whether attnroll was built with ASan+UBSan; the consumer
#                   then is too, so that the sanitizer runtimes load first
#
# Exit status: 0 pass, 1 fail, 77 skipped.
set -u

mode=${1-}
[ $# -gt 0 ] && shift
build_dir='' header='' consumer_dir='' work_root='' version=''
cmake=cmake cc=cc pkg_config=pkg-config generator='' make_program=''
libdir=lib includedir=include library_type=SHARED_LIBRARY sanitize=OFF
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || { echo "error: option $1 needs a value" >&2; exit 2; }
    case $1 in
        --build-dir) build_dir=$2 ;;
        --header) header=$2 ;;
        --consumer-dir) consumer_dir=$2 ;;
        --work-root) work_root=$2 ;;
        --cmake) cmake=$2 ;;
        --cc) cc=$2 ;;
        --pkg-config) pkg_config=$2 ;;
        --generator) generator=$2 ;;
        --make-program) make_program=$2 ;;
        --libdir) libdir=$2 ;;
        --includedir) includedir=$2 ;;
        --version) version=$2 ;;
        --library-type) library_type=$2 ;;
        --sanitize) sanitize=$2 ;;
        *) echo "error: unknown option $1" >&2; exit 2 ;;
    esac
    shift 2
done
case $mode in
    cmake|pkg-config) ;;
    *) echo "usage: $0 cmake|pkg-config --build-dir D --header H --consumer-dir C --work-root W [...]" >&2
       exit 2 ;;
esac
for v in build_dir header consumer_dir work_root version; do
    eval "[ -n \"\$$v\" ]" || { echo "error: --$(echo $v | tr _ -) is required" >&2; exit 2; }
done

if [ "$library_type" != SHARED_LIBRARY ]; then
    # A static libattnroll needs the C++ runtime and OpenBLAS on the consumer's
    # link line; these tests cover the shared library that is shipped.
    echo "SKIP: attnroll is a $library_type; the consumer tests cover the shared library"
    exit 77
fi

mkdir -p "$work_root" || exit 2
work_root=$(cd "$work_root" && pwd -P)
work=$(mktemp -d "$work_root/$mode.XXXXXX") || exit 2
ok=0
cleanup() {
    if [ "$ok" -eq 1 ] && [ "${ATTNROLL_KEEP_TEMP:-0}" != 1 ]; then
        rm -rf "$work"
    else
        echo "(work directory kept: $work)"
    fi
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
# run LOG CMD...: run CMD with its output in LOG; show the log if it fails.
run() {
    log=$1; shift
    if ! "$@" > "$log" 2>&1; then
        echo "FAIL: command failed: $*"
        sed 's/^/    /' "$log"
        exit 1
    fi
}
# realdir D: D with symlinks and .. resolved ("" if it does not exist).
realdir() { (cd "$1" 2>/dev/null && pwd -P) || true; }

warn="-Wall -Wextra -Wpedantic -Werror"
san=
if [ "$sanitize" = ON ]; then
    san="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
fi

# --- stage the install -------------------------------------------------------
stage="$work/prefix"
unset DESTDIR
run "$work/install.log" "$cmake" --install "$build_dir" --prefix "$stage"
echo "staged install in $stage"

for f in "$includedir/attnroll.h" \
         "$libdir/cmake/attnroll/attnrollConfig.cmake" \
         "$libdir/cmake/attnroll/attnrollConfigVersion.cmake" \
         "$libdir/cmake/attnroll/attnrollTargets.cmake" \
         "$libdir/pkgconfig/attnroll.pc"; do
    [ -f "$stage/$f" ] || fail "the install lacks $f"
done
ls "$stage/$libdir"/libattnroll.so.* > /dev/null 2>&1 || fail "the install lacks $libdir/libattnroll.so.*"
cmp -s "$header" "$stage/$includedir/attnroll.h" || fail "the installed attnroll.h differs from $header"

# The installed package files must not point back into the source or build tree.
src_dir=$(realdir "$(dirname "$header")/..")
bld_dir=$(realdir "$build_dir")
for d in "$src_dir" "$bld_dir"; do
    leaks=$(grep -rlF "$d" "$stage/$libdir/cmake" "$stage/$libdir/pkgconfig" 2>/dev/null || true)
    [ -z "$leaks" ] || fail "installed package files mention $d: $leaks"
done

# --- build the consumer ------------------------------------------------------
exe="$work/consumer"
if [ "$mode" = cmake ]; then
    set -- -S "$consumer_dir" -B "$work/build" \
        -DCMAKE_BUILD_TYPE=Debug \
        -DCMAKE_C_COMPILER="$cc" \
        -DCMAKE_C_FLAGS="$warn $san" \
        -DCMAKE_EXE_LINKER_FLAGS="$san" \
        -DCMAKE_PREFIX_PATH="$stage" \
        -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON \
        -DCMAKE_FIND_PACKAGE_NO_SYSTEM_PACKAGE_REGISTRY=ON
    [ -n "$generator" ] && set -- "$@" -G "$generator"
    [ -n "$make_program" ] && set -- "$@" -DCMAKE_MAKE_PROGRAM="$make_program"
    run "$work/configure.log" "$cmake" "$@"
    found=$(sed -n 's/^attnroll_DIR:[A-Z]*=//p' "$work/build/CMakeCache.txt")
    want="$stage/$libdir/cmake/attnroll"
    [ "$(realdir "$found")" = "$(realdir "$want")" ] ||
        fail "find_package found attnroll in '$found', not in the staged $want"
    echo "find_package(attnroll 1) found $found"
    run "$work/build.log" "$cmake" --build "$work/build"
    exe="$work/build/consumer"
else
    PKG_CONFIG_PATH="$stage/$libdir/pkgconfig"
    export PKG_CONFIG_PATH
    unset PKG_CONFIG_SYSROOT_DIR
    run "$work/pc-version.log" "$pkg_config" --print-errors --modversion attnroll
    got=$(cat "$work/pc-version.log")
    [ "$got" = "$version" ] || fail "pkg-config --modversion attnroll gives '$got', expected '$version'"
    run "$work/pc-cflags.log" "$pkg_config" --print-errors --cflags attnroll
    run "$work/pc-libs.log" "$pkg_config" --print-errors --libs attnroll
    run "$work/pc-static.log" "$pkg_config" --print-errors --static --libs attnroll
    cflags=$(cat "$work/pc-cflags.log")
    libs=$(cat "$work/pc-libs.log")
    echo "pkg-config --cflags attnroll: $cflags"
    echo "pkg-config --libs attnroll:   $libs"
    # The -I and -L directories are the staged ones.
    want_inc=$(realdir "$stage/$includedir")
    want_lib=$(realdir "$stage/$libdir")
    saw_inc=0 saw_lib=0
    for tok in $cflags $libs; do
        case $tok in
            -I*) [ "$(realdir "${tok#-I}")" = "$want_inc" ] && saw_inc=1 ;;
            -L*) [ "$(realdir "${tok#-L}")" = "$want_lib" ] && saw_lib=1 ;;
        esac
    done
    [ "$saw_inc" -eq 1 ] || fail "pkg-config --cflags does not point at the staged $includedir"
    [ "$saw_lib" -eq 1 ] || fail "pkg-config --libs does not point at the staged $libdir"
    # Word splitting of $cflags, $libs and the flag lists is intended.
    # shellcheck disable=SC2086
    run "$work/compile.log" "$cc" -std=c99 $warn $san "$consumer_dir/consumer.c" $cflags \
        -o "$exe" $libs
    LD_LIBRARY_PATH="$stage/$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export LD_LIBRARY_PATH
fi

# --- run it ------------------------------------------------------------------
# The consumer must load the staged library, not one from elsewhere.
if command -v ldd > /dev/null 2>&1; then
    ldd "$exe" > "$work/ldd.log" 2>&1
    loaded=$(sed -n 's/^[ \t]*libattnroll\.so[^ ]* => \([^ ]*\) .*/\1/p' "$work/ldd.log")
    [ -n "$loaded" ] || { sed 's/^/    /' "$work/ldd.log"; fail "ldd does not show libattnroll for $exe"; }
    [ "$(realdir "$(dirname "$loaded")")" = "$(realdir "$stage/$libdir")" ] ||
        fail "$exe loads $loaded, not the staged library"
    echo "consumer loads $loaded"
fi
"$exe" > "$work/run.log" 2>&1
status=$?
sed 's/^/    /' "$work/run.log"
[ "$status" -eq 0 ] || fail "the consumer exited with status $status"
grep -qx "attnroll $version ([0-9]*)" "$work/run.log" || fail "the consumer did not report version $version"
[ "$(tail -n 1 "$work/run.log")" = "consumer: OK" ] || fail "the consumer's last line is not 'consumer: OK'"

ok=1
case $mode in cmake) echo "install_find_package: OK" ;; *) echo "install_pkg_config: OK" ;; esac
