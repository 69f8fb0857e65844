#!/bin/bash
# Builds the modules of kmod/ (xen2mx.ko, xen2mx-back.ko, xen2mx-front.ko)
# out of tree against the guests' kernel headers, in a fresh copy of kmod/
# under the cache, then each EXTRA subfolder of it (kmod/test: the hostile
# test frontend). A build that warns fails like one that breaks (the
# modules build with -Werror on real systems too).
#   build_kmod.sh SRC HEADERS BUILD_DIR LOG [EXTRA...]
# Prints what went wrong and exits 1 on failure; the modules in BUILD_DIR else.
set -u
src=$1 headers=$2 kbuild=$3 log=$4
shift 4
rm -rf "$kbuild" && mkdir -p "$kbuild"
cp -r "$src/kmod/." "$kbuild/" && rm -rf "$kbuild/build"
: >"$log"
# The caller may be a make (make check): its flags are not the kernel's.
for dir in "$kbuild" "${@/#/$kbuild/}"; do
    if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$headers" M="$dir" modules >>"$log" 2>&1; then
        cat "$log"
        echo "FAIL: the modules of ${dir#"$kbuild"} do not build against $headers"
        exit 1
    fi
done
if grep -E 'WARNING: modpost|\.[ch]:[0-9]+:[0-9]+: warning:' "$log"; then
    echo "FAIL: the module build warns"
    exit 1
fi
for module in xen2mx xen2mx-back xen2mx-front; do
    [ -f "$kbuild/$module.ko" ] || { echo "FAIL: the build made no $module.ko"; exit 1; }
done
exit 0
