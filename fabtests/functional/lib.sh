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
