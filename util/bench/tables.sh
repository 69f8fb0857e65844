# The tables of the emulated benchmarks (vm_compare.sh, xen_compare.sh),
# sourced by them. Reads the runs from the file named by $results, one line
# per run: VARIANT SIZE USEC MB/S, or VARIANT SIZE fail|skip; $variants names the
# columns in order, $baseline the variant every ratio is taken against.

median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else print a[int((NR + 1) / 2)]}'; }
value() {  # value VARIANT SIZE FIELD: the median, or "-" when every run failed
    awk -v v="$1" -v s="$2" -v f="$3" '$1 == v && $2 == s && $3 != "fail" && $3 != "skip" {print $f}' "$results" | median
}

cell_value() {  # cell_value latency|bandwidth VARIANT SIZE
    local usec
    usec=$(value "$2" "$3" 3)
    if [ "$1" = latency ] || [ "$usec" = - ]; then
        echo "$usec"
    else
        awk -v s="$3" -v u="$usec" 'BEGIN {printf "%.2f", (u > 0 ? s / u : 0)}'
    fi
}

# table latency|bandwidth TITLE SIZES: one row per size, one column per
# variant, each cell the median and its ratio to the baseline's. Bandwidth
# is the size over the one-way latency (what fi_pingpong's MB/sec is), from
# the unrounded latency.
table() {
    local what=$1 title=$2 rows=$3 variant size v base cell
    echo
    echo "$title"
    printf '%-9s' "size"
    for variant in $variants; do printf '%18s' "$variant"; done
    echo
    for size in $rows; do
        printf '%-9s' "$size"
        base=$(cell_value "$what" "$baseline" "$size")
        for variant in $variants; do
            v=$(cell_value "$what" "$variant" "$size")
            cell=$v
            if [ "$v" != - ] && [ "$base" != - ] && [ "$variant" != "$baseline" ]; then
                cell="$v ($(awk -v a="$v" -v b="$base" 'BEGIN {printf "%.2fx", (b > 0 ? a / b : 0)}'))"
            fi
            printf '%18s' "$cell"
        done
        echo
    done
}

# both_tables LATENCY_SIZES BANDWIDTH_SIZES LATENCY_WHAT: the latency table
# (LATENCY_WHAT says what the figure is) and the bandwidth table, then how
# many runs failed.
both_tables() {
    local failed
    table latency "one-way latency, microseconds ($3; ratio below 1: faster than $baseline)" "$1"
    table bandwidth "bandwidth, MB/s (size / one-way latency; ratio above 1: faster than $baseline)" "$2"
    failed=$(awk '$3 == "fail"' "$results" | wc -l)
    [ "$failed" -eq 0 ] || echo "($failed runs failed; their notes are above)"
}
