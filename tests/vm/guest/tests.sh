# The checks run inside each test guest (sourced by no one: run by /init).
# Two guests, roles a and b, joined by one virtual Ethernet link; steps that
# need both meet at barriers (a TCP connection over that link). Every check
# prints one PASS or FAIL line on the console, which the host reads.
export FI_PROVIDER_PATH=/x2m/lib
export HOME=/tmp
kver=$(uname -r)
peer_log=/tmp/log

pass() { echo "PASS: [$X2M_ROLE] $*"; }
fail() { echo "FAIL: [$X2M_ROLE] $*"; }
# check WHAT COMMAND...: PASS when the command succeeds.
check() {
    what=$1
    shift
    if "$@" >/tmp/check.out 2>&1; then pass "$what"; else fail "$what: $(tail -n 5 /tmp/check.out | tr '\n' ' ')"; fi
}
as_user() { kmod_tool runas 1000 "$@"; }
counter() { kmod_tool counter "$1"; }

. /x2m/barrier.sh
# barrier WHAT: both guests wait here for each other (at most 120 s); a
# guest left waiting fails.
barrier() { x2m_barrier 120 fail "$1"; }

# ---------------------------------------------------------------- the module
if insmod /lib/modules/$kver/xen2mx.ko ifnames=eth0 >/tmp/insmod.out 2>&1; then
    pass "xen2mx.ko loads into $kver"
else
    fail "xen2mx.ko does not load: $(cat /tmp/insmod.out)"
fi
mode=$(stat -c %A /dev/xen2mx 2>/dev/null)
[ "$mode" = crw-rw-rw- ] && pass "/dev/xen2mx exists, mode $mode" || fail "/dev/xen2mx mode '$mode'"
mac=$(cat /sys/class/net/eth0/address)
info=$(kmod_tool info 2>&1)
echo "$info"
echo "$info" | grep -q "^BOARD 0 eth0 $mac mtu=1500 endpoints=0 up" && pass "board 0 is eth0 ($mac), up" ||
    fail "board 0 is not eth0: $info"

# ---------------------------------------------------------------- xen2mx_info
out=$(as_user xen2mx_info 2>&1)
echo "$out"
echo "$out" | grep -q "^xen2mx ABI 1 on /dev/xen2mx: 1 board attached (at most 8), endpoint ids 0-254$" &&
    pass "xen2mx_info, unprivileged: ABI 1, one board" || fail "xen2mx_info header: $out"
echo "$out" | grep -qE "^ *0 +eth0 +$mac +1500 +up +0$" && pass "xen2mx_info: board 0 is eth0 ($mac), MTU 1500, up, no endpoint" ||
    fail "xen2mx_info board table: $out"
json=$(as_user xen2mx_info --json 2>&1)
case $json in
*"{\"index\": 0, \"ifname\": \"eth0\", \"mac\": \"$mac\", \"mtu\": 1500, \"up\": true, \"endpoints\": 0, \"counters\": {\"sent\": "*'"endpoints": []'*'"global": {"endpoints_open": 0,'*)
    pass "xen2mx_info --json: the same board, no endpoint, the counters" ;;
*) fail "xen2mx_info --json: $json" ;;
esac

# Two endpoints that exchanged 5 frames: the listing shows their owner and
# traffic, the board's counters moved; sessions only for root.
received_before=$(counter received)
# Not through as_user: $! must be the process that holds the endpoints.
kmod_tool runas 1000 kmod_tool traffic 5 >/tmp/traffic.out 2>&1 &
talker=$!
for _ in $(seq 100); do grep -q TRAFFIC /tmp/traffic.out && break; sleep 0.1; done
traffic=$(sed -n 's/^TRAFFIC a=\([0-9]*\) b=\([0-9]*\) frames=5 bytes=320$/\1 \2/p' /tmp/traffic.out)
ep_a=${traffic% *} ep_b=${traffic#* }
json=$(as_user xen2mx_info --json 2>&1)
line_a=$(echo "$json" | grep "{\"board\": 0, \"id\": $ep_a, ")
line_b=$(echo "$json" | grep "{\"board\": 0, \"id\": $ep_b, ")
owner="\"pid\": $talker, \"uid\": 1000, \"command\": \"kmod_tool\", \"flags\": \"\", \"session\": null, "
case $line_a in
*"$owner\"rx_frames\": 0, \"rx_bytes\": 0, \"tx_frames\": 5, \"tx_bytes\": 320, \"drops\": 0, \"pages_pinned\": 0,"*)
    pass "xen2mx_info --json: endpoint $ep_a of pid $talker (kmod_tool, uid 1000) sent 5 frames, 320 bytes; no session shown" ;;
*) fail "xen2mx_info --json, sender $ep_a of $talker: '$line_a' $(cat /tmp/traffic.out)" ;;
esac
case $line_b in
*"$owner\"rx_frames\": 5, \"rx_bytes\": 320, \"tx_frames\": 0, \"tx_bytes\": 0,"*)
    pass "xen2mx_info --json: endpoint $ep_b received the 5 frames, 320 bytes" ;;
*) fail "xen2mx_info --json, receiver $ep_b: '$line_b'" ;;
esac
as_user xen2mx_info | grep -qE "^ *0 +$ep_a +$talker +(x2m|1000) +kmod_tool +- +0 +0 +5 +320 +0 +0 +0 +0 +0 +0$" &&
    pass "xen2mx_info table: the same endpoint, owner and traffic" || fail "xen2mx_info table: $(as_user xen2mx_info)"
xen2mx_info --json | grep "{\"board\": 0, \"id\": $ep_a, " | grep -q '"session": [1-9][0-9]*,' &&
    pass "xen2mx_info as root: sessions shown" || fail "xen2mx_info as root shows no session: $(xen2mx_info --json)"
# Pids as the caller's pid namespace numbers them: from a new namespace the
# talker outside is 0 (not visible there), a holder inside is the number
# that namespace gave it.
ns_out=$(unshare -p -f sh -c '
    kmod_tool traffic 5 >/tmp/ns_traffic.out 2>&1 &
    inner=$!
    for _ in $(seq 100); do grep -q TRAFFIC /tmp/ns_traffic.out && break; sleep 0.1; done
    echo "inner=$inner"
    xen2mx_info --json
    kill $inner; wait $inner' 2>&1)
inner=$(echo "$ns_out" | sed -n 's/^inner=//p')
ns_ep=$(sed -n 's/^TRAFFIC a=\([0-9]*\) .*/\1/p' /tmp/ns_traffic.out)
echo "$ns_out" | grep "{\"board\": 0, \"id\": $ep_a, " | grep -q '"pid": 0,' &&
    echo "$ns_out" | grep "{\"board\": 0, \"id\": $ns_ep, " | grep -q "\"pid\": $inner," && [ -n "$inner" ] &&
    [ "$inner" -lt "$talker" ] &&
    pass "xen2mx_info in a new pid namespace: pid 0 for the talker outside, $inner for its own holder" ||
    fail "xen2mx_info in a new pid namespace (talker $talker, endpoint $ns_ep of $inner): $ns_out"
[ "$(counter received)" -ge $((received_before + 5)) ] &&
    pass "counter received moved by the exchange: $received_before -> $(counter received)" ||
    fail "counter received: $received_before -> $(counter received)"
kill $talker
wait $talker 2>/dev/null
as_user xen2mx_info --json | grep -q "\"pid\": $talker," && fail "xen2mx_info still lists the endpoints of a dead process" ||
    pass "xen2mx_info: the endpoints went with their process"

# ---------------------------------------------------------------- privileges
out=$(as_user kmod_tool attach lo 2>&1)
echo "$out" | grep -q "Operation not permitted" && pass "unprivileged attach refused (EPERM)" ||
    fail "unprivileged attach: $out"
out=$(as_user kmod_tool detach eth0 2>&1)
echo "$out" | grep -q "Operation not permitted" && pass "unprivileged detach refused (EPERM)" ||
    fail "unprivileged detach: $out"
out=$(kmod_tool attach eth0 2>&1)
echo "$out" | grep -q "File exists" && pass "attaching eth0 twice: EEXIST" || fail "attaching eth0 twice: $out"
out=$(kmod_tool attach nosuch0 2>&1)
echo "$out" | grep -q "No such device" && pass "attaching a missing interface: ENODEV" || fail "attach nosuch0: $out"

# ---------------------------------------------------------------- the ABI, alone
as_user kmod_tool abuse 2>&1 | sed "s/^\(PASS\|FAIL\): /\1: [$X2M_ROLE] abuse: /"
as_user kmod_tool local 2>&1 | sed "s/^\(PASS\|FAIL\): /\1: [$X2M_ROLE] local: /"

# ---------------------------------------------------------------- nacks
as_user kmod_tool nack 2>&1 | sed "s/^\(PASS\|FAIL\): /\1: [$X2M_ROLE] nack: /"
limited_before=$(counter nacks_limited)
echo 5 >/sys/module/xen2mx/parameters/nack_rate
sleep 1.2 # the nacks above are out of the current second
out=$(as_user kmod_tool nackflood 40 2>&1)
echo 100 >/sys/module/xen2mx/parameters/nack_rate
nacked=$(echo "$out" | sed -n 's/^NACKED \([0-9]*\) of 40$/\1/p')
limited=$(($(counter nacks_limited) - limited_before))
# At most 5 a second; 10 if the burst straddled two seconds.
[ -n "$nacked" ] && [ "$nacked" -ge 5 ] && [ "$nacked" -le 10 ] && [ "$limited" = $((40 - nacked)) ] &&
    pass "nack_rate=5: $nacked of 40 frames to a closed endpoint nacked, the other $limited counted in nacks_limited" ||
    fail "nack_rate=5: '$out', nacks_limited +$limited"

# ---------------------------------------------------------------- death and unload
open_before=$(counter endpoints_open)
kmod_tool runas 1000 kmod_tool hold 3 >/tmp/hold.out 2>&1 &
holder=$!
for _ in $(seq 100); do grep -q HOLDING /tmp/hold.out && break; sleep 0.1; done
[ "$(counter endpoints_open)" = $((open_before + 3)) ] && pass "a process holding 3 endpoints: endpoints_open +3" ||
    fail "endpoints_open $(counter endpoints_open), before $open_before: $(cat /tmp/hold.out)"
listed=$(xen2mx_info --json | grep -c "\"pid\": $holder, \"uid\": 1000, \"command\": \"kmod_tool\"")
[ "$listed" = 3 ] && pass "xen2mx_info lists its 3 endpoints under its pid" || fail "xen2mx_info lists $listed endpoints of pid $holder"
if rmmod xen2mx >/tmp/rmmod.out 2>&1; then fail "rmmod succeeded while endpoints were open"; else
    pass "rmmod refused while endpoints are open"; fi
kill -9 $holder
wait $holder 2>/dev/null
[ "$(counter endpoints_open)" = "$open_before" ] && pass "killed holder: its endpoints are gone" ||
    fail "after kill -9: endpoints_open $(counter endpoints_open), expected $open_before"

# ---------------------------------------------------------------- zero-copy sends
as_user kmod_tool zerocopy 2>&1 | sed "s/^\(PASS\|FAIL\): /\1: [$X2M_ROLE] zerocopy: /"
limit=$(cat /sys/module/xen2mx/parameters/pinned_pages)
echo 1 >/sys/module/xen2mx/parameters/pinned_pages
as_user kmod_tool zclimit 2>&1 | sed "s/^\(PASS\|FAIL\): /\1: [$X2M_ROLE] pinned_pages=1: /"
echo "$limit" >/sys/module/xen2mx/parameters/pinned_pages
# The flood's frames wait 3 s in a netem qdisc on eth0, so that the NIC
# still holds pages of the process when it is killed.
open_before=$(counter endpoints_open)
zc_before=$(counter sent_zerocopy)
netem=no
/x2m/bin/tc qdisc add dev eth0 root netem delay 3s limit 10000 >/tmp/tc.out 2>&1 && netem=yes ||
    fail "tc qdisc add dev eth0 root netem: $(cat /tmp/tc.out)"
kmod_tool runas 1000 kmod_tool zcflood >/tmp/flood.out 2>&1 &
flooder=$!
for _ in $(seq 100); do grep -q FLOODING /tmp/flood.out && break; sleep 0.1; done
sleep 1
zc_during=$(counter sent_zerocopy)
ep_pinned=$(xen2mx_info --json | grep "\"pid\": $flooder," | sed -n 's/.*"pages_pinned": \([0-9]*\),.*/\1/p')
pinned_during=$(counter pages_pinned)
kill -9 $flooder
pinned_at_kill=$(counter pages_pinned)
wait $flooder 2>/dev/null
[ "$zc_during" -gt "$zc_before" ] && pass "a process flooding zero-copy sends: $((zc_during - zc_before)) sent" ||
    fail "zero-copy flood sent nothing: $(cat /tmp/flood.out)"
[ "$netem" = yes ] && [ "${ep_pinned:-0}" -gt 0 ] && [ "$pinned_during" -gt 0 ] && [ "$pinned_at_kill" -gt 0 ] &&
    pass "pages pinned when it is killed: $pinned_at_kill (its endpoint $ep_pinned, frames held by netem)" ||
    fail "no pages pinned at the kill: endpoint ${ep_pinned:-none}, pages_pinned $pinned_during then $pinned_at_kill"
for _ in $(seq 150); do
    [ "$(counter pages_pinned)" = 0 ] && [ "$(counter zerocopy_pending)" = 0 ] &&
        [ "$(counter endpoints_open)" = "$open_before" ] && break
    sleep 0.1
done
pinned=$(counter pages_pinned) pending=$(counter zerocopy_pending) open_now=$(counter endpoints_open)
[ "$pinned" = 0 ] && [ "$pending" = 0 ] && [ "$open_now" = "$open_before" ] &&
    pass "killed mid-transfer: pages_pinned 0, zerocopy_pending 0, its endpoint gone" ||
    fail "after kill -9 mid-transfer: pages_pinned $pinned, zerocopy_pending $pending, endpoints_open $open_now (before $open_before)"
[ "$netem" = yes ] && /x2m/bin/tc qdisc del dev eth0 root

# ---------------------------------------------------------------- memory regions
as_user kmod_tool regions 2>&1 | sed "s/^\(PASS\|FAIL\): /\1: [$X2M_ROLE] regions: /"
as_user kmod_tool keyed 2>&1 | sed "s/^\(PASS\|FAIL\): /\1: [$X2M_ROLE] keyed: /"
limit=$(cat /sys/module/xen2mx/parameters/region_pages)
echo 8 >/sys/module/xen2mx/parameters/region_pages
as_user kmod_tool reglimit 2>&1 | sed "s/^\(PASS\|FAIL\): /\1: [$X2M_ROLE] region_pages=8: /"
echo "$limit" >/sys/module/xen2mx/parameters/region_pages
# The pages are charged to RLIMIT_MEMLOCK, which CAP_IPC_LOCK lifts.
sh -c 'ulimit -l 64 && exec kmod_tool runas 1000 kmod_tool memlock' 2>&1 |
    sed "s/^\(PASS\|FAIL\): /\1: [$X2M_ROLE] ulimit -l 64, unprivileged: /"
sh -c 'ulimit -l 64 && exec kmod_tool memlock' 2>&1 | sed "s/^\(PASS\|FAIL\): /\1: [$X2M_ROLE] ulimit -l 64, root: /"
# Killed while it registers and deregisters regions: nothing stays pinned.
regions_before=$(counter regions) region_pages_before=$(counter region_pages) open_before=$(counter endpoints_open)
kmod_tool runas 1000 kmod_tool regflood >/tmp/regflood.out 2>&1 &
flooder=$!
for _ in $(seq 100); do grep -q HOLDING /tmp/regflood.out && break; sleep 0.1; done
sleep 1
# Its two endpoints: the one holding the regions lists the most.
listed=$(xen2mx_info --json | grep "\"pid\": $flooder," |
    sed -n 's/.*"regions": \([0-9]*\), "region_pages": \([0-9]*\),.*/\1 \2/p' | sort -n | tail -n 1)
pinned_during=$(counter region_pages)
kill -9 $flooder
wait $flooder 2>/dev/null
[ -n "$listed" ] && [ "${listed% *}" -ge 3 ] && [ "${listed#* }" -ge 192 ] && [ "$pinned_during" -ge 192 ] &&
    pass "a process churning regions: xen2mx_info lists its regions and pages ($listed), region_pages $pinned_during" ||
    fail "regions of the churning process: listed '$listed', region_pages $pinned_during: $(cat /tmp/regflood.out)"
[ "$(counter regions)" = "$regions_before" ] && [ "$(counter region_pages)" = "$region_pages_before" ] &&
    [ "$(counter endpoints_open)" = "$open_before" ] &&
    pass "killed mid-registration: regions and region_pages back to $regions_before and $region_pages_before, its endpoints gone" ||
    fail "after kill -9 mid-registration: regions $(counter regions), region_pages $(counter region_pages), endpoints_open $(counter endpoints_open)"

# ---------------------------------------------------------------- two guests
barrier "both guests ready"
if [ "$X2M_ROLE" = a ]; then
    as_user kmod_tool listen 7 60 >/tmp/listen.out 2>&1 &
    listener=$!
    for _ in $(seq 100); do grep -q LISTENING /tmp/listen.out && break; sleep 0.1; done
    barrier "listener up"
    wait $listener
    from=$(grep '^FROM' /tmp/listen.out)
    case $from in
    "FROM $X2M_PEER_MAC ep=201"*) fail "a forged sender got through: $from" ;;
    "FROM $X2M_PEER_MAC ep="*) pass "frame from the other guest carries its real MAC and endpoint ($from)" ;;
    *) fail "forged frames: $(cat /tmp/listen.out)" ;;
    esac
else
    barrier "listener up"
    check "forging sender: sent" as_user kmod_tool forge "$X2M_PEER_MAC" 7
    # Endpoint 9 is never open in guest a.
    check "a TINY to the other guest's closed endpoint 9: its kernel nacks it (ENDPT_CLOSED)" \
        as_user kmod_tool nackremote "$X2M_PEER_MAC" 9
fi

# A full-size frame sent zero-copy reaches the other guest intact.
barrier "zero-copy between guests"
if [ "$X2M_ROLE" = a ]; then
    as_user kmod_tool zclisten 8 60 >/tmp/zclisten.out 2>&1 &
    listener=$!
    for _ in $(seq 100); do grep -q LISTENING /tmp/zclisten.out && break; sleep 0.1; done
    barrier "zero-copy listener up"
    wait $listener && pass "zero-copy frame from the other guest: $(grep -E 'INTACT|CORRUPT' /tmp/zclisten.out)" ||
        fail "zero-copy frame from the other guest: $(cat /tmp/zclisten.out)"
else
    barrier "zero-copy listener up"
    check "zero-copy sends to the other guest, each completed" as_user kmod_tool zcsend "$X2M_PEER_MAC" 8
fi

# fi_pingpong between the guests over the kmod link, unprivileged.
barrier "pingpong"
export FI_XEN2MX_LINK=kmod
export FI_LOG_LEVEL=warn
# Full frames' payloads are copied by default at MTU 1500: this lends them
# to the NIC, so that the provider's zero-copy path is what gets tested.
export FI_XEN2MX_KMOD_ZEROCOPY=1024
kmod_link=yes
# run.sh says whether the provider it packed has the kmod link.
if [ "${X2M_KMOD_LINK:-0}" != 1 ]; then
    kmod_link=no
    echo "SKIP: [$X2M_ROLE] the provider has no kmod link yet: fi_pingpong and the messaging suite over it"
fi
zc_before=$(counter sent_zerocopy)
[ $kmod_link = yes ] && for type in rdm; do
    if [ "$X2M_ROLE" = a ]; then
        as_user timeout 300 fi_pingpong -p xen2mx -e $type -c -S all -B 9228 >/tmp/pp.out 2>&1 &
        server=$!
        sleep 1
        barrier "pingpong server up"
        wait $server
        rc=$?
    else
        barrier "pingpong server up"
        as_user timeout 300 fi_pingpong -p xen2mx -e $type -c -S all -P 9228 "$X2M_PEER_IP" >/tmp/pp.out 2>&1
        rc=$?
    fi
    if [ $rc -eq 0 ]; then
        pass "fi_pingpong -e $type -S all -c over the kmod link, unprivileged ($(tail -n 1 /tmp/pp.out | tr -s ' '))"
    else
        fail "fi_pingpong -e $type over the kmod link (status $rc): $(tail -n 20 /tmp/pp.out)"
    fi
    [ "$X2M_ROLE" = b ] && cat /tmp/pp.out
done

# Again with both sides sleeping in the kernel whenever their ring is
# empty (FI_XEN2MX_KMOD_IDLE_WAIT=1): nothing lost, nothing stuck.
barrier "pingpong idle wait"
if [ $kmod_link = yes ]; then
    if [ "$X2M_ROLE" = a ]; then
        as_user env FI_XEN2MX_KMOD_IDLE_WAIT=1 timeout 300 fi_pingpong -p xen2mx -e rdm -c -S all -B 9229 \
            >/tmp/pp.out 2>&1 &
        server=$!
        sleep 1
        barrier "pingpong idle server up"
        wait $server
        rc=$?
    else
        barrier "pingpong idle server up"
        as_user env FI_XEN2MX_KMOD_IDLE_WAIT=1 timeout 300 fi_pingpong -p xen2mx -e rdm -c -S all -P 9229 \
            "$X2M_PEER_IP" >/tmp/pp.out 2>&1
        rc=$?
    fi
    [ $rc -eq 0 ] && pass "fi_pingpong -S all -c, both sides sleeping when idle ($(tail -n 1 /tmp/pp.out | tr -s ' '))" ||
        fail "fi_pingpong with FI_XEN2MX_KMOD_IDLE_WAIT=1 (status $rc): $(tail -n 20 /tmp/pp.out)"
fi

if [ $kmod_link = yes ]; then
    zc_after=$(counter sent_zerocopy)
    [ "$zc_after" -gt "$zc_before" ] && pass "fi_pingpong's full frames went zero-copy ($((zc_after - zc_before)) frames)" ||
        fail "no frame of fi_pingpong went zero-copy (sent_zerocopy $zc_before, then $zc_after)"
fi

# The messaging suite, over the kmod link, in each guest at once.
served_before_suites=$(counter pulls_served)
if [ $kmod_link = yes ]; then
    if as_user timeout 600 test_messaging --gtest_filter='*kmod*' >/tmp/msg.out 2>&1; then
        pass "messaging suite over the kmod link: $(grep -E '^\[  PASSED  \]' /tmp/msg.out)"
        grep -q '^\[       OK \] Links/ReliableMessaging.ClosedPeerGivesAFastError/RDM_kmod' /tmp/msg.out &&
            pass "of which: a send to a peer that closed its endpoint fails at once on its kernel's nack" ||
            fail "the closed-peer test did not run: $(grep ClosedPeer /tmp/msg.out)"
    else
        fail "messaging suite over the kmod link: $(grep -E '^\[  FAILED  \]|Failure' /tmp/msg.out | head -n 20)"
    fi
    if as_user timeout 600 test_rma --gtest_filter='*kmod*' >/tmp/rma.out 2>&1; then
        pass "RMA and atomics over the kmod link: $(grep -E '^\[  PASSED  \]' /tmp/rma.out)"
    else
        fail "RMA and atomics over the kmod link: $(grep -E '^\[  FAILED  \]|Failure' /tmp/rma.out | head -n 20)"
    fi
    served=$(counter pulls_served)
    [ "$served" -gt "$served_before_suites" ] &&
        pass "the kernel answered $((served - served_before_suites)) pulls of the suites' large messages and reads" ||
        fail "the kernel answered no pull during the suites ($served_before_suites -> $served)"
fi

# A large message, then an RMA read posted only then, complete while the
# process that owns the data is stopped (SIGSTOP): the kernel answers the
# pulls (the read's KEY_PULLs). Then the same with the pulls left to the
# process (FI_XEN2MX_KMOD_PULLS=0, then a locked-memory limit of 0): it
# completes only once it runs again.
if [ $kmod_link = yes ]; then
    port=7400
    for run in "msg 10000" "read 10000" "msg 4000 --expect-wait" "read 4000 --expect-wait" \
        "msg 4000 --expect-wait ulimit"; do
        set -- $run
        port=$((port + 1))
        barrier "idle peer $run"
        if [ "$X2M_ROLE" = a ]; then
            # The control: pulls left to the process, by the variable or
            # by a locked-memory limit too small to pin the message.
            pulls=1 memlock=
            [ "${3:-}" = --expect-wait ] && pulls=0
            [ "${4:-}" = ulimit ] && pulls=1 memlock=0
            FI_XEN2MX_KMOD_PULLS=$pulls sh -c "${memlock:+ulimit -l $memlock && }exec kmod_tool runas 1000 \
                timeout 120 idle_peer target $port $1 2097155 $2 ${3:-}" >/tmp/idle.out 2>&1
            rc=$?
            sed "s/^\(PASS\|FAIL\): /\1: [$X2M_ROLE] idle target, $run: /" /tmp/idle.out
            [ $rc = 0 ] || grep -q '^FAIL' /tmp/idle.out || fail "idle target, $run: status $rc"
            if [ "$memlock" = 0 ]; then
                warned=$(grep -c 'cannot pin a 2097155-byte buffer.*RLIMIT_MEMLOCK' /tmp/idle.out)
                [ "$warned" = 1 ] && pass "ulimit -l 0: the provider warned once, and the process answered the pulls" ||
                    fail "ulimit -l 0: $warned warnings: $(grep -i pin /tmp/idle.out)"
            fi
        else
            check "idle peer, $run: the puller's 2 MiB arrived intact" as_user timeout 120 idle_peer puller \
                "$X2M_PEER_IP" $port "$1" 2097155
            sed 's/^/    /' /tmp/check.out
        fi
    done
fi
unset FI_XEN2MX_LINK FI_LOG_LEVEL FI_XEN2MX_KMOD_ZEROCOPY

barrier "done"
kmod_tool counters
if rmmod xen2mx >/tmp/rmmod.out 2>&1; then pass "rmmod xen2mx once every endpoint is closed"; else
    fail "rmmod: $(cat /tmp/rmmod.out)"; fi
out=$(xen2mx_info 2>&1)
rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "the xen2mx module is not loaded" &&
    pass "xen2mx_info without the module: says so, status 1" || fail "xen2mx_info without the module (status $rc): $out"
bad=$(dmesg | grep -E 'BUG|Oops|WARNING|general protection|Call Trace')
[ -z "$bad" ] && pass "guest kernel log has no BUG, Oops or WARNING" || fail "guest kernel log: $bad"
