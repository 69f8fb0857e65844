# The guests' half of util/bench/vm_compare.sh, run by the test guests' /init
# in place of tests/vm/guest/tests.sh. vm_compare.sh puts the settings and
# util/bench/guest_runs.sh (iterations, variants, results) in front of this
# file:
#   BENCH_ROUNDS    rounds; every round runs every size with every variant
#   BENCH_SIZES     message sizes, bytes
#   BENCH_VARIANTS  names from variant_env, run in this order
#   BENCH_SECONDS   time limit of one fi_pingpong run
# Guest a runs the fi_pingpong servers, guest b the clients; b prints one
# line per run on the console, which the host reads:
#   BENCH <variant> <size> <usec/xfer> <MB/sec>    or    BENCH <variant> <size> fail
export FI_PROVIDER_PATH=/x2m/lib
export HOME=/tmp
kver=$(uname -r)

note() { echo "BENCH-NOTE [$X2M_ROLE] $*"; }

# Both guests wait here for each other. Each waits longer than a run may
# last, so that a run that hangs on one side does not leave the two guests
# out of step; a missed barrier is noted, not fatal.
. /x2m/barrier.sh
barrier() { x2m_barrier 300 note; }

# The module owns eth0's MXoE frames only while a kmod variant runs: with
# the board detached, the ethernet link's raw socket is alone to see them.
board_for() {
    case $1 in
    kmod*) kmod_tool attach eth0 >/dev/null 2>&1 ;;
    *) kmod_tool detach eth0 >/dev/null 2>&1 ;;
    esac
}

if ! insmod /lib/modules/$kver/xen2mx.ko ifnames=eth0 >/tmp/insmod.out 2>&1; then
    note "xen2mx.ko does not load: $(cat /tmp/insmod.out)"
fi

barrier
run=0
for round in $(seq "$BENCH_ROUNDS"); do
    for size in $BENCH_SIZES; do
        for variant in $BENCH_VARIANTS; do
            run=$((run + 1))
            port=$((9300 + run % 2000))
            set -- $(variant_env "$variant") || { note "unknown variant $variant"; continue; }
            provider=$1
            shift
            iters=$(iterations "$size")
            board_for "$variant"
            [ -n "${BENCH_DIAG:-}" ] && read -r _ u0 n0 s0 i0 w0 q0 sq0 _ </proc/stat
            if [ "$X2M_ROLE" = a ]; then
                env "$@" timeout "$BENCH_SECONDS" fi_pingpong -p "$provider" -e rdm -S "$size" -I "$iters" \
                    -B "$port" >/tmp/pp.out 2>&1 &
                server=$!
                for _ in $(seq 100); do
                    netstat -ltn 2>/dev/null | grep -q ":$port " && break
                    sleep 0.05
                done
                barrier
                wait $server || note "server $variant $size (round $round): $(tail -n 3 /tmp/pp.out | tr '\n' ' ')"
            else
                barrier
                if env "$@" timeout "$BENCH_SECONDS" fi_pingpong -p "$provider" -e rdm -S "$size" -I "$iters" \
                    -P "$port" "$X2M_PEER_IP" >/tmp/pp.out 2>&1; then
                    result=$(pingpong_result /tmp/pp.out)
                else
                    result=
                    note "client $variant $size (round $round): $(tail -n 3 /tmp/pp.out | tr '\n' ' ')"
                fi
                echo "BENCH $variant $size ${result:-fail}"
            fi
            if [ -n "${BENCH_DIAG:-}" ]; then
                read -r _ u1 n1 s1 i1 w1 q1 sq1 _ </proc/stat
                note "cpu $variant $size: user $((u1 - u0)) sys $((s1 - s0)) idle $((i1 - i0)) irq $((q1 - q0)) softirq $((sq1 - sq0)) jiffies; $(grep -E 'NET_RX|TIMER' /proc/softirqs | tr -s ' ' | tr '\n' ' ')"
            fi
        done
    done
    note "round $round done at $(cut -d' ' -f1 /proc/uptime) s"
done

board_for kmod
kmod_tool counters 2>&1 | sed "s/^/BENCH-NOTE [$X2M_ROLE] /"
