#!/bin/bash
# Debian's real fi_info loads the provider from the build tree and shows
# exactly what it offers.
. "$(dirname "$0")/lib.sh"
need_tool "$FI_INFO" fi_info
unset FI_PROVIDER FI_LOG_LEVEL FI_XEN2MX_LINK FI_XEN2MX_IFACE FI_XEN2MX_UDP_PORT_BASE

out=$(run_tool "$FI_INFO" -l 2>&1)
expect_contains "$out" '^xen2mx:' "fi_info -l lists the provider"
expect_contains "$(printf '%s\n' "$out" | grep -a -A1 '^xen2mx:')" 'version: 0\.1' "provider version 0.1"

out=$(run_tool "$FI_INFO" -p xen2mx 2>&1)
[ "$(printf '%s\n' "$out" | grep -ac '^provider: xen2mx$')" = 2 ] && pass "two entries" || fail "two entries: $out"
expect_contains "$out" 'type: FI_EP_RDM' "an RDM entry"
expect_contains "$out" 'type: FI_EP_DGRAM' "a DGRAM entry"

out=$(run_tool "$FI_INFO" 2>&1)
expect_contains "$out" '^provider: xen2mx$' "listed without a filter"
expect_absent "$out" '^provider: xen2mx;' "no utility provider stacked on xen2mx"

out=$(run_tool "$FI_INFO" -p xen2mx -t FI_EP_RDM -c FI_TAGGED 2>&1)
expect_contains "$out" '^provider: xen2mx$' "RDM with FI_TAGGED"
expect_absent "$out" 'FI_EP_DGRAM' "only the RDM entry for -t FI_EP_RDM"

out=$(run_tool "$FI_INFO" -p xen2mx -c FI_RMA 2>&1)
expect_contains "$out" 'type: FI_EP_RDM' "RDM entry for FI_RMA"
expect_absent "$out" 'FI_EP_DGRAM' "no DGRAM entry for FI_RMA (RMA needs the reliable connection)"

out=$(run_tool "$FI_INFO" -p xen2mx -c FI_ATOMIC 2>&1)
expect_contains "$out" 'type: FI_EP_RDM' "RDM entry for FI_ATOMIC"
expect_absent "$out" 'FI_EP_DGRAM' "no DGRAM entry for FI_ATOMIC"

for caps in FI_COLLECTIVE FI_MULTICAST; do
    out=$(run_tool "$FI_INFO" -p xen2mx -c "$caps" 2>&1)
    rc=$?
    if [ $rc -ne 0 ] && ! printf '%s\n' "$out" | grep -aq '^provider: xen2mx'; then
        pass "nothing for $caps"
    else
        fail "entries for $caps: $out"
    fi
done

out=$(run_tool "$FI_INFO" -p xen2mx -t FI_EP_MSG 2>&1)
expect_absent "$out" '^provider: xen2mx' "no FI_EP_MSG"

out=$(run_tool "$FI_INFO" -p xen2mx -v 2>&1 | tr -d "\\000")
expect_contains "$out" 'FI_DIRECTED_RECV' "FI_DIRECTED_RECV advertised"
expect_contains "$out" 'msg_order: \[ FI_ORDER_SAS \]' "send-after-send order on RDM"
expect_contains "$out" 'cq_data_size: 8' "remote CQ data size"
expect_contains "$out" 'FI_RMA' "RMA advertised"
expect_contains "$out" 'rma_iov_limit: 1' "one remote range per RMA operation"
expect_contains "$out" 'FI_ATOMIC' "atomics advertised"

out=$(run_tool "$FI_INFO" -e 2>&1 | tr -d "\\000")
for var in FI_XEN2MX_LINK FI_XEN2MX_IFACE FI_XEN2MX_UDP_PORT_BASE FI_XEN2MX_PEER_TIMEOUT FI_XEN2MX_KEY FI_XEN2MX_UDP_MTU; do
    expect_contains "$out" "^# $var:" "fi_info -e lists $var"
done

out=$(FI_LOG_LEVEL=info run_tool "$FI_INFO" -p xen2mx 2>&1)
expect_contains "$out" 'xen2mx:core:.*xen2mx 0\.1 loaded' "FI_LOG_LEVEL=info shows the provider's log"
out=$(run_tool "$FI_INFO" -p xen2mx 2>&1)
expect_absent "$out" '^libfabric:' "quiet without FI_LOG_LEVEL"

out=$(FI_XEN2MX_LINK=token-ring FI_LOG_LEVEL=warn run_tool "$FI_INFO" -p xen2mx 2>&1)
expect_absent "$out" '^provider: xen2mx' "an unknown FI_XEN2MX_LINK gives no entries"
expect_contains "$out" 'FI_XEN2MX_LINK=token-ring is not a known link' "and says why"

out=$(run_tool "$FI_INFO" -p xen2mx -n 127.0.0.1 -P 3 -v 2>&1)
expect_contains "$out" "dest_addrlen: 16" "node and port give a destination address"
out=$(run_tool "$FI_INFO" -p xen2mx -s 127.0.0.1 -P 4 -v 2>&1)
expect_contains "$out" "src_addrlen: 16" "a source node gives a source address"
out=$(run_tool "$FI_INFO" -p xen2mx -s 192.0.2.200 2>&1)
expect_absent "$out" "^provider: xen2mx" "a source that is not local gives nothing"
out=$(run_tool "$FI_INFO" -p xen2mx -n 127.0.0.1 -P 300 2>&1)
expect_absent "$out" '^provider: xen2mx' "service 300 is not an endpoint id"

finish
