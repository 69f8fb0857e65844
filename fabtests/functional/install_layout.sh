#!/bin/bash
# make install puts the provider where libfabric looks for it, and nothing
# else there; make uninstall takes it away.
. "$(dirname "$0")/lib.sh"
need_tool "$FI_INFO" fi_info
[ -n "${X2M_BUILD:-}" ] && [ -n "${X2M_PROVDIR:-}" ] || skip "run through ctest"
unset MAKEFLAGS MFLAGS MAKELEVEL FI_PROVIDER_PATH

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

if make -s -C "$X2M_BUILD" install DESTDIR="$stage" >"$stage.log" 2>&1; then
    pass "make install DESTDIR=..."
else
    cat "$stage.log"; rm -f "$stage.log"
    fail "make install"; finish
fi
rm -f "$stage.log"

dir="$stage$X2M_PROVDIR"
[ -f "$dir/libxen2mx-fi.so" ] && pass "provider in $X2M_PROVDIR" || fail "no $dir/libxen2mx-fi.so"
[ -e "$dir/libxen2mx-fi.la" ] && fail "a libtool archive was left in the provider directory" || pass "no .la there"
others=$(find "$dir" -mindepth 1 ! -name libxen2mx-fi.so)
[ -z "$others" ] && pass "nothing else in the provider directory" || fail "stray files: $others"
for page in fi_xen2mx.7 xen2mx-pingpong.1 xen2mx-mpirun.1 xen2mx-attach.8 xen2mx-detach.8; do
    [ -n "$(find "$stage" -name "$page")" ] && pass "man page $page installed" || fail "no $page"
done
for tool in sbin/xen2mx-attach sbin/xen2mx-detach bin/xen2mx-pingpong; do
    [ -n "$(find "$stage" -path "*/$tool" -type f -perm -u+x)" ] && pass "$tool installed" || fail "no $tool"
done
mpirun_wrapper=$(find "$stage" -path '*/bin/xen2mx-mpirun' -type f -perm -u+x)
if [ -n "$mpirun_wrapper" ]; then
    pass "xen2mx-mpirun installed"
    expect_contains "$("$mpirun_wrapper" --help 2>&1)" 'mtl_ofi_provider_include xen2mx' "xen2mx-mpirun --help says what it sets"
else
    fail "no bin/xen2mx-mpirun"
fi

out=$(FI_PROVIDER_PATH="$dir" run_tool "$FI_INFO" -p xen2mx 2>&1)
expect_contains "$out" '^provider: xen2mx$' "the installed copy loads"

exports=$(nm -D --defined-only "$dir/libxen2mx-fi.so" | awk '{print $3}')
[ "$exports" = fi_prov_ini ] && pass "only fi_prov_ini is exported" || fail "exports: $exports"

make -s -C "$X2M_BUILD" uninstall DESTDIR="$stage" >/dev/null 2>&1
[ -e "$dir/libxen2mx-fi.so" ] && fail "make uninstall left the provider" || pass "make uninstall removes it"

finish
