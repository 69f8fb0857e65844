#!/bin/bash
# An MPI test program (fabtests/mpi) run by Open MPI over xen2mx (pml cm,
# mtl ofi) on the udp link, started by util/xen2mx-mpirun:
#   mpi.sh PROGRAM RANKS [program arguments]
# X2M_MPIRUN is the mpirun configure found (empty: none, the test skips).
. "$(dirname "$0")/lib.sh"
program=$1
ranks=$2
shift 2
[ -n "${X2M_MPIRUN:-}" ] && [ -x "$X2M_MPIRUN" ] || skip "mpirun not found (apt-get install openmpi-bin libopenmpi-dev)"
binary="$X2M_BUILD/fabtests/mpi/$program"
[ -x "$binary" ] || skip "$program not built: configure found no mpicxx (apt-get install libopenmpi-dev)"

unset FI_PROVIDER
export MPIRUN=$X2M_MPIRUN
export FI_XEN2MX_LINK=udp
# Ports of our own, so that tests running side by side do not meet.
export FI_XEN2MX_UDP_PORT_BASE=$((40000 + (RANDOM % 80) * 256))
# Short, so that mpi_p2p can stay away longer than it (a rank computing).
export FI_XEN2MX_PEER_TIMEOUT=2000

log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s%N)
# More ranks than cores: waiting ranks yield the processor. The MTL reports
# the provider it chose (verbosity 1), which shows that xen2mx carried the job.
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}" run_tool timeout -k 10 150 "$X2M_SRC/util/xen2mx-mpirun" \
    -np "$ranks" --mca mpi_yield_when_idle 1 --mca mtl_base_verbose 1 "$binary" "$@" >"$log" 2>&1
rc=$?
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
cat "$log"
echo "---- $program on $ranks ranks: exit $rc after ${elapsed_ms} ms"

case $rc in
    0) pass "$program exits 0 on $ranks ranks" ;;
    124|137) fail "$program timed out on $ranks ranks" ;;
    *) fail "$program exit $rc on $ranks ranks" ;;
esac
chosen=$(grep -c 'mtl:ofi:provider: xen2mx' "$log")
[ "$chosen" -eq "$ranks" ] && pass "every rank runs on xen2mx" ||
    fail "$chosen of $ranks ranks report the xen2mx provider"
passed=$(grep -c '^PASS: ' "$log")
[ "$passed" -gt 0 ] && pass "$passed parts passed" || fail "no part reported PASS"
if grep -q '^FAIL: ' "$log"; then fail "parts failed: $(grep '^FAIL: ' "$log" | tr '\n' ' ')"; fi
finish
