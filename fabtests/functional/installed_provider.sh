#!/bin/bash
# After `make install`, libfabric finds the provider with no variable set.
. "$(dirname "$0")/lib.sh"
need_tool "$FI_INFO" fi_info
installed="$X2M_PROVDIR/libxen2mx-fi.so"
[ -f "$installed" ] || skip "the provider is not installed in $X2M_PROVDIR (run make install)"
cmp -s "$installed" "$X2M_BUILD/.libs/libxen2mx-fi.so" ||
    skip "$installed is not this build (run make install)"
unset FI_PROVIDER_PATH FI_PROVIDER

out=$(run_tool "$FI_INFO" -p xen2mx 2>&1)
expect_contains "$out" '^provider: xen2mx$' "fi_info -p xen2mx without FI_PROVIDER_PATH"
expect_contains "$out" 'type: FI_EP_RDM' "RDM entry"
expect_contains "$out" 'type: FI_EP_DGRAM' "DGRAM entry"
finish
