#!/bin/bash
# Builds xen2mx.ko, xen2mx-back.ko and xen2mx-front.ko out of tree against
# the guests' kernel headers, in OUT_DIR (made afresh from SRC/kmod). The
# kernel build runs with -Werror; a modpost or compiler warning fails it
# too. On failure prints the build log and a FAIL line.
#   kmod_build.sh SRC HEADERS OUT_DIR LOG
set -u
src=$1 headers=$2 out=$3 log=$4
rm -rf "$out" && mkdir -p "$out"
cp -r "$src/kmod/." "$out/" && rm -rf "$out/build"
# The caller may be a make (make check): its flags are not the kernel's.
if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$headers" M="$out" modules >"$log" 2>&1; then
    cat "$log"
    echo "FAIL: the modules do not build against $headers"
    exit 1
fi
if grep -E 'WARNING: modpost|\.[ch]:[0-9]+:[0-9]+: warning:' "$log"; then
    echo "FAIL: the module build warns"
    exit 1
fi
for module in xen2mx xen2mx-back xen2mx-front; do
    [ -f "$out/$module.ko" ] || { echo "FAIL: the build made no $module.ko"; exit 1; }
done
