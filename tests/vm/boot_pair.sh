#!/bin/bash
# Boots the two test guests under software emulation, joined by a QEMU
# socket netdev on the loopback (each frame one UDP datagram between the two
# QEMUs), each under `timeout`, console to LOGDIR/a.log and LOGDIR/b.log.
#   boot_pair.sh KERNEL INITRD LOGDIR SECONDS
# X2M_VM_CPU_A / X2M_VM_CPU_B pin a guest's QEMU to a host CPU, and
# X2M_VM_VCPU_NICE renices the threads that run the guests' CPUs (benchmarks).
# QEMU's exit status says nothing of the guests: the caller reads the logs.
set -u
kernel=$1 initrd=$2 logdir=$3 seconds=$4
mac_a=52:54:00:58:32:0a
mac_b=52:54:00:58:32:0b
ip_a=10.86.224.1
ip_b=10.86.224.2

guest() {
    local role=$1 mac=$2 ip=$3 peer_ip=$4 peer_mac=$5 netdev=$6 pin=()
    local cpu_var=X2M_VM_CPU_${role^^}
    [ -n "${!cpu_var:-}" ] && pin=(taskset -c "${!cpu_var}")
    # exec: the caller's $! is then the timeout process, which passes a
    # signal on to QEMU.
    exec "${pin[@]}" timeout -k 10 "$seconds" qemu-system-x86_64 -accel tcg -m 768 -smp 1 -nodefaults -display none \
        -no-reboot -serial "file:$logdir/$role.log" -kernel "$kernel" -initrd "$initrd" \
        -name "x2m-$role,debug-threads=on" -append "console=ttyS0 panic=-1 quiet ${X2M_VM_APPEND:-} x2m.role=$role x2m.ip=$ip x2m.peer_ip=$peer_ip x2m.peer_mac=$peer_mac x2m.kmod_link=${X2M_KMOD_LINK:-0}" \
        -netdev "$netdev" -device "${X2M_VM_NIC:-virtio-net-pci},netdev=n0,mac=$mac" >"$logdir/$role.qemu" 2>&1
}

# A guest that busy-polls keeps its vCPU thread running all the time; on a
# host with fewer free CPUs than such threads, QEMU's main thread, which
# moves the frames between the guests, then waits for the scheduler's time
# slices (tens of milliseconds). Niced vCPU threads let it run at once.
renice_vcpus() {
    local pid task
    sleep 1
    for pid in $(pgrep -f "file:$logdir/[ab].log" 2>/dev/null); do
        for task in /proc/"$pid"/task/*; do
            case $(cat "$task/comm" 2>/dev/null) in
            CPU*) renice -n "$1" -p "${task##*/}" >/dev/null 2>&1 ;;
            esac
        done
    done
}

# X2M_VM_NETDEV: udp (the default), each frame one UDP datagram between the
# two QEMUs; stream, a TCP stream (guest a listens, guest b connects). On
# the stream, a frame that follows another before the peer QEMU has
# acknowledged it waits for the host's delayed ACK (Nagle: about 40 ms on
# the loopback, some 44 ms more per round trip), which swamps any timing
# and slows the tests.
netdev_a() {
    case ${X2M_VM_NETDEV:-udp} in
    stream) echo "socket,id=n0,listen=127.0.0.1:$1" ;;
    *) echo "socket,id=n0,udp=127.0.0.1:$(($1 + 1)),localaddr=127.0.0.1:$1" ;;
    esac
}
netdev_b() {
    case ${X2M_VM_NETDEV:-udp} in
    stream) echo "socket,id=n0,connect=127.0.0.1:$1" ;;
    *) echo "socket,id=n0,udp=127.0.0.1:$1,localaddr=127.0.0.1:$(($1 + 1))" ;;
    esac
}

for attempt in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 30000))
    rm -f "$logdir"/a.* "$logdir"/b.*
    guest a "$mac_a" "$ip_a" "$ip_b" "$mac_b" "$(netdev_a $port)" &
    pid_a=$!
    # Guest a listens before b connects; a port taken by someone else
    # makes a's QEMU exit at once: then another port.
    sleep 1
    if ! kill -0 $pid_a 2>/dev/null; then
        echo "port $port: $(cat "$logdir/a.qemu")"
        continue
    fi
    guest b "$mac_b" "$ip_b" "$ip_a" "$mac_a" "$(netdev_b $port)" &
    pid_b=$!
    if [ "${X2M_VM_NETDEV:-udp}" != stream ]; then
        # b binds a port of its own, which may be taken too.
        sleep 1
        if ! kill -0 $pid_b 2>/dev/null; then
            echo "port $((port + 1)): $(cat "$logdir/b.qemu")"
            kill $pid_a 2>/dev/null
            wait $pid_a
            continue
        fi
    fi
    [ -n "${X2M_VM_VCPU_NICE:-}" ] && renice_vcpus "$X2M_VM_VCPU_NICE"
    wait $pid_b
    status_b=$?
    wait $pid_a
    status_a=$?
    echo "qemu exit: a=$status_a b=$status_b"
    exit 0
done
echo "FAIL: no free port for the socket netdev"
exit 1
