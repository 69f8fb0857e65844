#!/bin/bash
# An MPI test program (fabtests/mpi) run by Open MPI over xen2mx (pml cm,
# mtl ofi), started by util/xen2mx-mpirun:
#   mpi.sh LINK PROGRAM RANKS [program arguments]
# LINK: udp (on the loopback), shm, or ethernet: the job runs in a network
# namespace of its own where each rank has its own interface, one end of a
# veth pair whose other end is a port of a bridge (needs root).
# X2M_MPIRUN is the mpirun configure found (empty: none, the test skips).
# X2M_MPI_EXPECT, when set, is an extended regular expression that at least
# X2M_MPI_EXPECT_COUNT (default 1) lines of the job's output must match.
. "$(dirname "$0")/lib.sh"
link=$1
program=$2
ranks=$3
shift 3
[ -n "${X2M_MPIRUN:-}" ] && [ -x "$X2M_MPIRUN" ] || skip "mpirun not found (apt-get install openmpi-bin libopenmpi-dev)"
binary="$X2M_BUILD/fabtests/mpi/$program"
[ -x "$binary" ] || skip "$program not built: configure found no mpicxx (apt-get install libopenmpi-dev)"

unset FI_PROVIDER
export MPIRUN=$X2M_MPIRUN
export FI_XEN2MX_LINK=$link
launch=()
command=("$binary" "$@")
case $link in
    udp|shm) ;;
    ethernet)
        [ "$(id -u)" -eq 0 ] || skip "the Ethernet link needs root (raw sockets, a bridge in a namespace)"
        ns=x2m-mpi-$$
        trap '[ -n "${ns:-}" ] && ip netns del "$ns" 2>/dev/null' EXIT
        ip netns add "$ns" 2>/dev/null || skip "cannot create a network namespace"
        # Deleting the namespace takes the bridge and every pair with it.
        ip -n "$ns" link set lo up && ip -n "$ns" link add x2mbr type bridge && ip -n "$ns" link set x2mbr up ||
            { fail "cannot make a bridge"; finish; }
        for ((rank = 0; rank < ranks; rank++)); do
            ip -n "$ns" link add "x2mr$rank" type veth peer name "x2mp$rank" &&
                ip -n "$ns" link set "x2mp$rank" master x2mbr &&
                ip -n "$ns" link set "x2mp$rank" up && ip -n "$ns" link set "x2mr$rank" up ||
                { fail "cannot attach interface $rank to the bridge"; finish; }
        done
        launch=(ip netns exec "$ns")
        # Each rank on its own interface, hence its own board.
        # shellcheck disable=SC2016 # expanded by the rank's shell
        command=(bash -c 'FI_XEN2MX_IFACE=x2mr$OMPI_COMM_WORLD_LOCAL_RANK exec "$0" "$@"' "${command[@]}")
        ;;
    *) fail "unknown link $link"; finish ;;
esac
# Ports of our own, so that tests running side by side do not meet.
export FI_XEN2MX_UDP_PORT_BASE=$((40000 + (RANDOM % 80) * 256))
# Short, so that mpi_p2p can stay away longer than it (a rank computing).
export FI_XEN2MX_PEER_TIMEOUT=2000

log=$(mktemp)
trap 'rm -f "$log"; [ -n "${ns:-}" ] && ip netns del "$ns" 2>/dev/null' EXIT
start=$(date +%s%N)
# More ranks than cores: waiting ranks yield the processor. The MTL reports
# the provider it chose (verbosity 1), which shows that xen2mx carried the job.
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}" run_tool "${launch[@]}" timeout -k 10 150 "$X2M_SRC/util/xen2mx-mpirun" \
    -np "$ranks" --mca mpi_yield_when_idle 1 --mca mtl_base_verbose 1 "${command[@]}" >"$log" 2>&1
rc=$?
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
cat "$log"
echo "---- $program on $ranks ranks over $link: exit $rc after ${elapsed_ms} ms"

case $rc in
    0) pass "$program exits 0 on $ranks ranks" ;;
    124|137) fail "$program timed out on $ranks ranks" ;;
    *) fail "$program exit $rc on $ranks ranks" ;;
esac
chosen=$(grep -c 'mtl:ofi:provider: xen2mx' "$log")
[ "$chosen" -eq "$ranks" ] && pass "every rank runs on xen2mx" ||
    fail "$chosen of $ranks ranks report the xen2mx provider"
if [ "$link" = ethernet ]; then
    # The frames really went through each rank's interface.
    quiet=""
    for ((rank = 0; rank < ranks; rank++)); do
        sent=$(ip netns exec "$ns" cat "/sys/class/net/x2mr$rank/statistics/tx_packets")
        [ "${sent:-0}" -ge 10 ] || quiet="$quiet $rank(${sent:-?})"
    done
    [ -z "$quiet" ] && pass "every rank sent its frames through its interface" ||
        fail "ranks that sent (almost) nothing on the bridge:$quiet"
fi
passed=$(grep -c '^PASS: ' "$log")
[ "$passed" -gt 0 ] && pass "$passed parts passed" || fail "no part reported PASS"
if grep -q '^FAIL: ' "$log"; then fail "parts failed: $(grep '^FAIL: ' "$log" | tr '\n' ' ')"; fi
if [ -n "${X2M_MPI_EXPECT:-}" ]; then
    expected=${X2M_MPI_EXPECT_COUNT:-1}
    matching=$(grep -cE -- "$X2M_MPI_EXPECT" "$log")
    [ "$matching" -ge "$expected" ] && pass "$matching lines of the expected form" ||
        fail "$matching lines match $X2M_MPI_EXPECT, expected at least $expected"
fi
finish
