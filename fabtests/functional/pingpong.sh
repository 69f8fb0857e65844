#!/bin/bash
# Debian's real fi_pingpong between two processes over xen2mx, every size,
# with data checks: pingpong.sh rdm|dgram [extra fi_pingpong options]
. "$(dirname "$0")/lib.sh"
need_tool "$FI_PINGPONG" fi_pingpong
type=${1:-rdm}
shift
unset FI_PROVIDER
# Ports of our own, so that tests running side by side do not meet.
ctrl_port=$((20000 + RANDOM % 20000))
export FI_XEN2MX_UDP_PORT_BASE=$((40000 + (RANDOM % 80) * 256))

log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
run_tool timeout 300 "$FI_PINGPONG" -p xen2mx -e "$type" -c -B "$ctrl_port" "$@" >"$log/server" 2>&1 &
server=$!
sleep 0.3
run_tool timeout 300 "$FI_PINGPONG" -p xen2mx -e "$type" -c -P "$ctrl_port" "$@" 127.0.0.1 >"$log/client" 2>&1
client_rc=$?
wait $server
server_rc=$?

for side in server client; do
    echo "---- $side"
    cat "$log/$side"
done
[ $client_rc -eq 0 ] && pass "client exits 0" || fail "client exit $client_rc"
[ $server_rc -eq 0 ] && pass "server exits 0" || fail "server exit $server_rc"
results=$(grep -cE '^[0-9.]+[kmg]? +[0-9.]+[kmg]? +=[0-9.]+[kmg]? ' "$log/client")
[ "$results" -gt 0 ] && pass "$results sizes exchanged" || fail "no result lines"
if grep -qiE 'error|fail' "$log/client" "$log/server"; then fail "errors reported"; else pass "no errors reported"; fi
finish
