#!/bin/bash
# Boots the two test guests under software emulation, joined by a QEMU
# socket netdev on the loopback (guest a listens, guest b connects), each
# under `timeout`, console to LOGDIR/a.log and LOGDIR/b.log.
#   boot_pair.sh KERNEL INITRD LOGDIR SECONDS
# X2M_VM_CPU_A / X2M_VM_CPU_B pin a guest's QEMU to a host CPU (benchmarks).
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
    "${pin[@]}" timeout -k 10 "$seconds" qemu-system-x86_64 -accel tcg -m 768 -smp 1 -nodefaults -display none \
        -no-reboot -serial "file:$logdir/$role.log" -kernel "$kernel" -initrd "$initrd" \
        -append "console=ttyS0 panic=-1 quiet ${X2M_VM_APPEND:-} x2m.role=$role x2m.ip=$ip x2m.peer_ip=$peer_ip x2m.peer_mac=$peer_mac x2m.kmod_link=${X2M_KMOD_LINK:-0}" \
        -netdev "$netdev" -device "${X2M_VM_NIC:-virtio-net-pci},netdev=n0,mac=$mac" >"$logdir/$role.qemu" 2>&1
}

for attempt in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 30000))
    rm -f "$logdir"/a.* "$logdir"/b.*
    guest a "$mac_a" "$ip_a" "$ip_b" "$mac_b" "socket,id=n0,listen=127.0.0.1:$port" &
    pid_a=$!
    # Guest a listens before b connects; a port taken by someone else
    # makes a's QEMU exit at once: then another port.
    sleep 1
    if ! kill -0 $pid_a 2>/dev/null; then
        echo "port $port: $(cat "$logdir/a.qemu")"
        continue
    fi
    guest b "$mac_b" "$ip_b" "$ip_a" "$mac_a" "socket,id=n0,connect=127.0.0.1:$port" &
    pid_b=$!
    wait $pid_b
    status_b=$?
    wait $pid_a
    status_a=$?
    echo "qemu exit: a=$status_a b=$status_b"
    exit 0
done
echo "FAIL: no free port for the socket netdev"
exit 1
