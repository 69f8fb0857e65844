# The two test guests' meeting point, sourced by the scripts their /init
# runs (tests/vm/guest/tests.sh, util/bench/vm_guest.sh); initramfs.sh packs
# it as /x2m/barrier.sh.
#
# x2m_barrier SECONDS REPORT [WHAT]: both guests wait here for each other,
# over a TCP connection on their link to port 7100 + the barrier's number:
# guest a listens, guest b connects until a answers. A guest that waited
# SECONDS in vain runs REPORT with a sentence saying which barrier, and goes
# on.
barrier_step=0
x2m_barrier() {
    barrier_seconds=$1 barrier_report=$2
    barrier_step=$((barrier_step + 1))
    barrier_port=$((7100 + barrier_step % 1000))
    barrier_what="barrier $barrier_step${3:+ ($3)} timed out after $barrier_seconds s"
    if [ "$X2M_ROLE" = a ]; then
        timeout "$barrier_seconds" nc -l -p "$barrier_port" </dev/null >/dev/null 2>&1 ||
            "$barrier_report" "$barrier_what"
        return 0
    fi
    barrier_until=$(($(cut -d. -f1 /proc/uptime) + barrier_seconds))
    until echo go | timeout 3 nc "$X2M_PEER_IP" "$barrier_port" >/dev/null 2>&1; do
        if [ "$(cut -d. -f1 /proc/uptime)" -ge "$barrier_until" ]; then
            "$barrier_report" "$barrier_what"
            return 0
        fi
        sleep 0.2
    done
}
