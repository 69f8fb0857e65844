# What the guests' halves of the emulated benchmarks share (vm_guest.sh and
# xen_guest.sh): how many round trips a size gets, what each variant runs,
# and how one fi_pingpong client run is read. The host scripts put this file
# in front of the guest's script; it defines functions only.
#   BENCH_IFACE      the guest's NIC that libfabric's providers use (eth0)
#   BENCH_BOARD      the xen2mx board (FI_XEN2MX_IFACE) of the xen2mx
#                    variants, by default BENCH_IFACE; empty: the first
#                    board (a Xen guest's /dev/xen2mx names its own)
#   BENCH_SMALL_ITERS BENCH_MEDIUM_ITERS BENCH_LARGE_ITERS BENCH_HUGE_ITERS
#                    round trips for sizes up to 4 KiB, 64 KiB, 1 MiB, larger

# Fewer round trips for larger messages: each run lasts a second or two
# under emulation.
iterations() {
    if [ "$1" -le 4096 ]; then
        echo "${BENCH_SMALL_ITERS:-400}"
    elif [ "$1" -le 65536 ]; then
        echo "${BENCH_MEDIUM_ITERS:-100}"
    elif [ "$1" -le 1048576 ]; then
        echo "${BENCH_LARGE_ITERS:-16}"
    else
        echo "${BENCH_HUGE_ITERS:-6}"
    fi
}

# variant_env NAME: the provider (first word) and the environment of a
# variant; fails for a name it does not know.
#   kmod         xen2mx over /dev/xen2mx, zero-copy at its default threshold
#   kmod-zc      the same, every full frame's payload lent zero-copy
#   kmod-copy    the same, every frame copied (FI_XEN2MX_KMOD_ZEROCOPY=0)
#   kmod-nopull  the same, the kernel answering no pulls (FI_XEN2MX_KMOD_PULLS=0)
#   kmod-idle    the same, sleeping in the kernel once the ring has been
#                empty for 20 us (FI_XEN2MX_KMOD_IDLE_WAIT=20)
#   ethernet     xen2mx's raw-socket link
#   udp          xen2mx's frames in UDP datagrams
#   tcp;ofi_rxm  libfabric's tcp provider under rxm
#   udp;ofi_rxd  libfabric's udp provider under rxd
variant_env() {
    local iface=${BENCH_IFACE:-eth0} board
    board=${BENCH_BOARD-$iface}
    board=${board:+FI_XEN2MX_IFACE=$board}
    case $1 in
    kmod) echo "xen2mx FI_XEN2MX_LINK=kmod $board" ;;
    kmod-zc) echo "xen2mx FI_XEN2MX_LINK=kmod $board FI_XEN2MX_KMOD_ZEROCOPY=1024" ;;
    kmod-copy) echo "xen2mx FI_XEN2MX_LINK=kmod $board FI_XEN2MX_KMOD_ZEROCOPY=0" ;;
    kmod-nopull) echo "xen2mx FI_XEN2MX_LINK=kmod $board FI_XEN2MX_KMOD_PULLS=0" ;;
    kmod-idle) echo "xen2mx FI_XEN2MX_LINK=kmod $board FI_XEN2MX_KMOD_IDLE_WAIT=20" ;;
    ethernet) echo "xen2mx FI_XEN2MX_LINK=ethernet $board" ;;
    udp) echo "xen2mx FI_XEN2MX_LINK=udp $board" ;;
    'tcp;ofi_rxm') echo "tcp;ofi_rxm FI_TCP_IFACE=$iface" ;;
    'udp;ofi_rxd') echo "udp;ofi_rxd FI_UDP_IFACE=$iface" ;;
    *) return 1 ;;
    esac
}

# pingpong_result FILE: "usec/xfer MB/sec" of a fi_pingpong client's output
# (its table: bytes #sent #ack total time MB/sec usec/xfer Mxfers/sec),
# empty when it has none.
pingpong_result() {
    awk '/^[0-9.]+[kmg]? +[0-9.]+[kmg]? +=/ {print $7, $6}' "$1" | tail -n 1
}
