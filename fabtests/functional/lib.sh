# Shared helpers of the shell tests. CTest passes FI_PROVIDER_PATH (the build
# tree's .libs), FI_INFO/FI_PINGPONG (libfabric's tools), X2M_BUILD, X2M_SRC,
# X2M_PROVDIR and X2M_PRELOAD (sanitizer runtime, when built with them).
# Exit codes: 0 pass, 1 fail, 77 skip.

X2M_FAILURES=0

skip() {
    echo "SKIP: $*"
    exit 77
}

fail() {
    echo "FAIL: $*"
    X2M_FAILURES=$((X2M_FAILURES + 1))
}

pass() {
    echo "PASS: $*"
}

finish() {
    if [ "$X2M_FAILURES" -ne 0 ]; then
        echo "$X2M_FAILURES check(s) failed"
        exit 1
    fi
    exit 0
}

need_tool() {
    [ -n "$1" ] && [ -x "$1" ] || skip "$2 not installed (apt-get install libfabric-bin)"
}

# Runs one of libfabric's tools with the sanitizer runtime preloaded when the
# provider is instrumented (the tool itself is not).
run_tool() {
    if [ -n "${X2M_PRELOAD:-}" ]; then
        LD_PRELOAD="$X2M_PRELOAD" ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}" "$@"
    else
        "$@"
    fi
}

# expect_contains TEXT PATTERN WHAT
expect_contains() {
    if printf '%s\n' "$1" | grep -aqE -- "$2"; then pass "$3"; else fail "$3 (no match for /$2/)"; fi
}

expect_absent() {
    if printf '%s\n' "$1" | grep -aqE -- "$2"; then fail "$3 (unexpected /$2/)"; else pass "$3"; fi
}

# veth_namespaces TAG [OPTIONS_A [OPTIONS_B]]: two network namespaces NS_A and
# NS_B joined by a veth pair IF_A/IF_B (OPTIONS: ip-link settings of each end,
# such as "mtu 9000" or "address ..."), both ends and lo up. Names carry TAG
# and the pid, so that parallel runs and leftovers of a killed run do not
# meet. WORK is a scratch directory; it, the namespaces and the processes
# listed in PIDS go on any exit. Skips when namespaces cannot be made;
# returns 1 (the reason in $WORK/err) when the pair cannot.
veth_namespaces() {
    local tag=$1 options_a=${2:-} options_b=${3:-}
    NS_A=x2m-${tag}a-$$
    NS_B=x2m-${tag}b-$$
    IF_A=x2m${tag}a$$
    IF_B=x2m${tag}b$$
    WORK=$(mktemp -d)
    PIDS=""
    trap veth_cleanup EXIT
    trap 'exit 1' INT TERM HUP
    ip netns add "$NS_A" 2>"$WORK/err" || skip "cannot create network namespaces: $(cat "$WORK/err")"
    ip netns add "$NS_B" 2>"$WORK/err" || skip "cannot create network namespaces: $(cat "$WORK/err")"
    # Created right inside the namespaces: nothing is ever left in the host's.
    # shellcheck disable=SC2086 # the options are words for ip(8)
    ip link add "$IF_A" netns "$NS_A" $options_a type veth peer name "$IF_B" netns "$NS_B" $options_b \
        2>"$WORK/err" || return 1
    local ns_if
    for ns_if in "$NS_A $IF_A" "$NS_B $IF_B"; do
        set -- $ns_if
        ip -n "$1" link set lo up && ip -n "$1" link set "$2" up || {
            echo "FAIL: cannot bring $2 up in $1"
            exit 1
        }
    done
}

veth_cleanup() {
    local pid
    for pid in $PIDS; do kill "$pid" 2>/dev/null; done
    for pid in $PIDS; do wait "$pid" 2>/dev/null; done
    # Deleting a namespace deletes its end of the veth pair, and with it the other.
    ip netns del "$NS_A" 2>/dev/null
    ip netns del "$NS_B" 2>/dev/null
    rm -rf "$WORK"
}
