# The guests' half of util/bench/xen_compare.sh: sourced by guest g1's
# driver (tests/vm/xen/groups/guest/driver.sh) in place of the tests, once
# g2 answers over ssh and /dev/xen2mx exists in both guests. xen_compare.sh
# puts its settings and util/bench/guest_runs.sh in front of this file:
#   BENCH_ROUNDS    rounds; every round runs every size with every variant
#   BENCH_SIZES     message sizes, bytes
#   BENCH_VARIANTS  names from variant_env, run in this order
#   BENCH_SECONDS   time limit of one fi_pingpong run
#   BENCH_SKIP      VARIANT:SIZE pairs not run (reported as skipped)
#   BENCH_DIAG      1: each run's CPU time in both guests
# A variant named NAME-evall is NAME with Dom0's backend sending the
# receiving guest one event per frame (xen2mx-back's rx_event_batching=0);
# every other variant runs with its default (1: one event per burst of
# frames the guest had not yet read). A variant named NAME-dom0 is NAME
# with Dom0 introducing no guests to each other (xen2mx-back's lanes=0):
# every frame goes through Dom0, none through a lane between the guests.
# Dom0 sets them when g1 asks.
# The fi_pingpong servers run in g1, the clients in g2 (started over ssh,
# which is outside what fi_pingpong times), both as the unprivileged user
# of the tests. One line per run on the console, relayed by Dom0:
#   BENCH <variant> <size> <usec/xfer> <MB/sec>    or    BENCH <variant> <size> fail|skip
# Uses the driver's as_user, on_g2 and elapsed.
export FI_PROVIDER_PATH=/x2m/lib

note() { echo "BENCH-NOTE [g1] $*"; }

# cpu_times: "user system idle steal" jiffies of this guest's one vCPU;
# steal is the time Xen gave the vCPU's processor to another domain.
cpu_times() { awk '$1 == "cpu" {print $2 + $3, $4, $5, $9}' /proc/stat; }
# cpu_delta BEFORE AFTER: the difference, labelled.
cpu_delta() {
    local -a b=($1) a=($2)
    echo "user $((a[0] - b[0])) sys $((a[1] - b[1])) idle $((a[2] - b[2])) steal $((a[3] - b[3]))"
}

# The server has the port listening (its control connection) before the
# client is started.
wait_listening() {
    local _
    for _ in $(seq 100); do
        ss -ltn 2>/dev/null | grep -q ":$1 " && return 0
        sleep 0.05
    done
    return 1
}

# dom0_setting NAME VALUE: asks Dom0 on the console, waits for its word.
declare -A backend_setting=([rx_event_batching]=1 [lanes]=1)
dom0_setting() {
    [ "${backend_setting[$1]:-}" = "$2" ] && return 0
    timeout 60 nc -d -l 9301 >/dev/null 2>&1 &
    local listener=$!
    sleep 0.5
    echo "X2M-BENCH-SET $1 $2"
    if wait $listener; then backend_setting[$1]=$2; else note "Dom0 did not set $1=$2 within 60 s"; fi
}

run=0
for round in $(seq "$BENCH_ROUNDS"); do
    for size in $BENCH_SIZES; do
        for variant in $BENCH_VARIANTS; do
            run=$((run + 1))
            port=$((9300 + run % 2000))
            case " $BENCH_SKIP " in
            *" $variant:$size "*)
                echo "BENCH $variant $size skip"
                continue
                ;;
            esac
            case $variant in
            *-evall) dom0_setting rx_event_batching 0 ;;
            *) dom0_setting rx_event_batching 1 ;;
            esac
            case $variant in
            *-dom0) dom0_setting lanes 0 ;;
            *) dom0_setting lanes 1 ;;
            esac
            base=${variant%-evall}
            words=$(variant_env "${base%-dom0}") || { note "unknown variant $variant"; continue; }
            set -- $words
            provider=$1
            shift
            iters=$(iterations "$size")
            if [ "${BENCH_DIAG:-0}" = 1 ]; then
                g1_before=$(cpu_times)
                g2_before=$(on_g2 "awk '\$1 == \"cpu\" {print \$2 + \$3, \$4, \$5, \$9}' /proc/stat" </dev/null)
            fi
            as_user env "$@" timeout "$BENCH_SECONDS" fi_pingpong -p "$provider" -e rdm -S "$size" -I "$iters" \
                -B "$port" >/tmp/pp.server 2>&1 &
            server=$!
            wait_listening "$port" || note "server $variant $size (round $round) not listening on $port"
            if on_g2 "env FI_PROVIDER_PATH=/x2m/lib $* timeout $BENCH_SECONDS fi_pingpong -p '$provider' -e rdm -S $size -I $iters -P $port g1" \
                </dev/null >/tmp/pp.client 2>&1; then
                result=$(pingpong_result /tmp/pp.client)
            else
                result=
                note "client $variant $size (round $round): $(grep -v '^libfabric:' /tmp/pp.client | tail -n 3 | tr '\n' ' ')"
            fi
            wait $server || note "server $variant $size (round $round): $(grep -v '^libfabric:' /tmp/pp.server | tail -n 3 | tr '\n' ' ')"
            echo "BENCH $variant $size ${result:-fail}"
            if [ "${BENCH_DIAG:-0}" = 1 ]; then
                g2_after=$(on_g2 "awk '\$1 == \"cpu\" {print \$2 + \$3, \$4, \$5, \$9}' /proc/stat" </dev/null)
                note "cpu $variant $size: g1 $(cpu_delta "$g1_before" "$(cpu_times)"); g2 $(cpu_delta "$g2_before" "$g2_after") (jiffies, both ssh calls included in g2's)"
            fi
        done
    done
    note "round $round done ($(elapsed))"
done
for guest in g1 g2; do
    if [ $guest = g1 ]; then kmod_tool counters; else on_g2 "/x2m/bin/kmod_tool counters" </dev/null; fi 2>&1 |
        awk -v g=$guest '$1 == "COUNTER" && $3 != 0 {s = s " " $2 "=" $3} END {print "BENCH-NOTE [g1] counters of " g ":" s}'
done
# The frontends' view of the ring (interrupts taken, responses read).
for guest in g1 g2; do
    if [ $guest = g1 ]; then cat /sys/bus/xen/devices/xen2mx-*/ring; else on_g2 "cat /sys/bus/xen/devices/xen2mx-*/ring" </dev/null; fi 2>&1 |
        sed "s/^/BENCH-NOTE [g1] ring of $guest: /"
done
