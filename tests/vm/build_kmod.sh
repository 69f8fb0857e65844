#!/bin/bash
# Builds xen2mx.ko out of tree against the guests' kernel headers, in a copy
# of kmod/ under the cache; a build that warns fails like one that breaks
# (the module builds with -Werror on real systems too).
#   build_kmod.sh SRC HEADERS BUILD_DIR LOG
# Prints what went wrong and exits 1 on failure; BUILD_DIR/xen2mx.ko else.
set -u
src=$1 headers=$2 kbuild=$3 log=$4
rm -rf "$kbuild" && mkdir -p "$kbuild"
cp -r "$src/kmod/." "$kbuild/"
if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$headers" M="$kbuild" modules >"$log" 2>&1; then
    cat "$log"
    echo "FAIL: xen2mx.ko does not build against $headers"
    exit 1
fi
if grep -E 'WARNING: modpost|\.[ch]:[0-9]+:[0-9]+: warning:' "$log"; then
    echo "FAIL: the module build warns"
    exit 1
fi
exit 0
