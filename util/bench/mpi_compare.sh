#!/bin/bash
# The MPI part of make bench: Open MPI's ping-pong between two ranks of this
# host (fabtests/mpi/mpi_pingpong), one job per variant, variants alternated
# within each round, medians of the rounds. Rank 0 is pinned to one core and
# rank 1 to another (taskset, with mpirun --bind-to none).
# Two tables of variants:
#   - over the loopback: xen2mx on its udp link (pml cm, mtl ofi), against
#     Open MPI's own TCP path (pml ob1, btl tcp) and the ofi MTL over
#     libfabric's tcp provider (pml cm, mtl ofi, tcp;ofi_rxm);
#   - shared memory: xen2mx with its default link (auto, shared memory between
#     ranks of one host) against Open MPI's own (pml ob1, btl vader).
#   mpi_compare.sh [rounds]
# Environment: MPIRUN (default: mpirun on PATH), MPI_PINGPONG (the program;
# default: fabtests/mpi/mpi_pingpong beside this tree's build), MPI_VARIANTS
# (default "xen2mx-udp ob1-tcp ofi-tcp"), MPI_LOCAL_VARIANTS (default
# "xen2mx-shm ob1-vader"; either may be empty), MPI_SIZES (default "8 256
# 4096 65536 1048576"), MPI_ITERATIONS (timed round trips of every size;
# default: the program's, fewer for large sizes), SERVER_CPU/CLIENT_CPU (the
# cores of ranks 0 and 1, default 0 and 1). FI_PROVIDER_PATH must lead to
# xen2mx unless it is installed.
#
# Without mpirun or the program (configure found no mpicxx or mpirun), it
# says why it skips and exits 0, so that make bench runs without MPI.
set -u
rounds=${1:-3}
here=$(cd "$(dirname "$0")" && pwd)
mpirun=${MPIRUN-$(command -v mpirun)}
pingpong=${MPI_PINGPONG:-$here/../../fabtests/mpi/mpi_pingpong}
variants=${MPI_VARIANTS-"xen2mx-udp ob1-tcp ofi-tcp"}
local_variants=${MPI_LOCAL_VARIANTS-"xen2mx-shm ob1-vader"}
sizes=${MPI_SIZES:-"8 256 4096 65536 1048576"}
server_cpu=${SERVER_CPU:-0}
client_cpu=${CLIENT_CPU:-1}

skip() {
    echo
    echo "== MPI ping-pong: skipped: $*"
    exit 0
}
if [ -z "$mpirun" ] || ! command -v "$mpirun" >/dev/null; then
    skip "no mpirun (configure found none: apt-get install openmpi-bin, then configure again)"
fi
[ -x "$pingpong" ] ||
    skip "$pingpong not built: configure found no mpicxx (apt-get install libopenmpi-dev, then configure again)"
command -v taskset >/dev/null || { echo "taskset not found: apt-get install util-linux" >&2; exit 1; }

# Nothing from the caller's environment chooses the transport but the
# options below (an exclude list beside an include list is refused, and
# FI_PROVIDER would hide the providers the ofi MTL looks for).
unset FI_PROVIDER OMPI_MCA_pml OMPI_MCA_mtl OMPI_MCA_btl OMPI_MCA_mtl_ofi_provider_include \
    OMPI_MCA_mtl_ofi_provider_exclude
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# xen2mx's udp ports for this run, away from the test suite's.
udp_port_base=$((20480 + (RANDOM % 32) * 256))

# What a variant sets: environment (name=value words) and mpirun options.
variant_env() {
    case $1 in
        xen2mx-udp) echo "FI_XEN2MX_LINK=udp FI_XEN2MX_IFACE=lo FI_XEN2MX_UDP_PORT_BASE=$udp_port_base" ;;
        xen2mx-shm) echo "FI_XEN2MX_LINK=auto" ;;
        ofi-tcp) echo "FI_TCP_IFACE=lo" ;;
        *) echo "" ;;
    esac
}
variant_options() {
    case $1 in
        xen2mx-udp|xen2mx-shm) echo "--mca pml cm --mca mtl ofi --mca mtl_ofi_provider_include xen2mx" ;;
        ob1-tcp) echo "--mca pml ob1 --mca btl tcp,self --mca btl_tcp_if_include lo" ;;
        ofi-tcp) echo "--mca pml cm --mca mtl ofi --mca mtl_ofi_provider_include tcp" ;;
        ob1-vader) echo "--mca pml ob1 --mca btl vader,self" ;;
        *) return 1 ;;
    esac
}
for variant in $variants $local_variants; do
    variant_options "$variant" >/dev/null || { echo "mpi_compare.sh: unknown variant $variant" >&2; exit 2; }
done

common=(-np 2 --bind-to none)
[ "$(id -u)" -eq 0 ] && common+=(--allow-run-as-root)
read -ra size_list <<<"$sizes"
program=("$pingpong" -s "$(IFS=,; echo "${size_list[*]}")")
[ -n "${MPI_ITERATIONS:-}" ] && program+=(-i "$MPI_ITERATIONS")
# Each rank pins itself to its core before it starts the program.
# shellcheck disable=SC2016 # expanded by the rank's shell
pinned=(bash -c 'cpus=($X2M_BENCH_CPUS); exec taskset -c "${cpus[$OMPI_COMM_WORLD_RANK]}" "$@"' pinned)

# One job of VARIANT in round ROUND; appends "variant size usec MBps" lines to
# RESULTS, one per size that passed, and keeps the output of a failed job.
run_one() {
    local variant=$1 round=$2 results=$3 rc
    local -a env options
    read -ra env <<<"$(variant_env "$variant")"
    read -ra options <<<"$(variant_options "$variant")"
    local exports=(-x X2M_BENCH_CPUS)
    [ -n "${FI_PROVIDER_PATH:-}" ] && exports+=(-x FI_PROVIDER_PATH)
    for setting in "${env[@]}"; do exports+=(-x "${setting%%=*}"); done
    env "${env[@]}" X2M_BENCH_CPUS="$server_cpu $client_cpu" \
        timeout -k 10 300 "$mpirun" "${common[@]}" "${exports[@]}" "${options[@]}" "${pinned[@]}" "${program[@]}" \
        >"$work/out" 2>&1
    rc=$?
    # The figures of the sizes whose messages all arrived intact.
    awk -v v="$variant" 'NF == 4 && $1 ~ /^[0-9]+$/ && $2 ~ /^[0-9]+$/ {print v, $1, $3, $4}' "$work/out" >>"$results"
    if [ $rc -ne 0 ] && [ ! -e "$work/failed.$variant" ]; then
        { echo "$variant, round $round: mpirun exit $rc; its last lines:"; tail -n 8 "$work/out"; } >"$work/failed.$variant"
    fi
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else print a[int((NR + 1) / 2)]}'; }

touch "$work/network" "$work/local"
for ((r = 1; r <= rounds; r++)); do
    for variant in $variants; do run_one "$variant" "$r" "$work/network"; done
    for variant in $local_variants; do run_one "$variant" "$r" "$work/local"; done
done

# table RESULTS FIELD TITLE VARIANTS: one row per size, one column per variant.
table() {
    local results=$1 field=$2 title=$3 columns=$4 variant size value
    echo
    echo "$title"
    printf '%-10s' "size"
    for variant in $columns; do printf '%14s' "$variant"; done
    echo
    for size in $sizes; do
        printf '%-10s' "$size"
        for variant in $columns; do
            value=$(awk -v p="$variant" -v s="$size" -v f="$field" '$1 == p && $2 == s {print $f}' "$results" |
                median)
            printf '%14s' "$value"
        done
        echo
    done
}

legend() {
    local variant
    for variant in "$@"; do
        local settings
        settings="$(variant_env "$variant") $(variant_options "$variant")"
        printf '  %-11s %s\n' "$variant:" "${settings# }"
    done
}

version=$("$mpirun" --version 2>/dev/null | head -n 1)
echo
echo "== MPI: ${version:-Open MPI}, fabtests/mpi/mpi_pingpong (MPI_Send/MPI_Recv, contents checked) between"
echo "2 ranks of this host, rank 0 pinned to CPU $server_cpu and rank 1 to CPU $client_cpu (taskset; mpirun --bind-to none);"
echo "median of $rounds rounds, variants alternated in each round ('-': the run failed)."
echo "One-way latency is half a round trip; bandwidth is size / one-way latency."
if [ -n "$variants" ]; then
    echo
    echo "== MPI over the loopback"
    # shellcheck disable=SC2086 # a list of words
    legend $variants
    table "$work/network" 3 "one-way latency, microseconds" "$variants"
    table "$work/network" 4 "bandwidth, MB/s" "$variants"
fi
if [ -n "$local_variants" ]; then
    echo
    echo "== MPI over shared memory"
    # shellcheck disable=SC2086 # a list of words
    legend $local_variants
    table "$work/local" 3 "one-way latency, microseconds" "$local_variants"
    table "$work/local" 4 "bandwidth, MB/s" "$local_variants"
fi
for failed in "$work"/failed.*; do
    [ -e "$failed" ] || continue
    echo
    cat "$failed"
done
exit 0
