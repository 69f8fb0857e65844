# Sourced by Dom0's test scripts (bash): the checks' helpers and the
# toolstack's start.
export PATH=$(ls -d /usr/lib/xen-4.17*/bin 2>/dev/null | head -n 1):$PATH

# check WHAT COMMAND...: a PASS or FAIL line for COMMAND's status, signed
# $me (dom0 unless the script names itself otherwise).
check() {
    local what=$1
    shift
    if "$@" >/tmp/check.out 2>&1; then
        echo "PASS: ${me:-dom0}: $what"
    else
        echo "FAIL: ${me:-dom0}: $what: $(tail -n 3 /tmp/check.out | tr '\n' ' ')"
        return 1
    fi
}
# counter NAME: one of xen2mx.ko's counters; asked again when kmod_tool
# died (programs do now and then in libc under this emulation).
counter() {
    local n value
    for n in 1 2 3; do
        value=$(kmod_tool counter "$1" 2>/dev/null) && break
    done
    echo "$value"
}
grants() { counter grants_mapped; }
# state DIR: a xenbus end's state (4 is Connected).
state() { xenstore-read "$1/state" 2>/dev/null; }
# wait_for TEST SECONDS: polls TEST (a shell condition) every 0.2 s.
wait_for() {
    local i=0
    while [ $i -lt $(($2 * 5)) ]; do
        eval "$1" && return 0
        sleep 0.2
        i=$((i + 1))
    done
    return 1
}
# wait_line LOG TEXT SECONDS: until LOG (a guest's console) says TEXT.
wait_line() {
    wait_for "grep -q '$2' $1 2>/dev/null" "$3" && return 0
    echo "FAIL: dom0: $(basename "$1") did not say $2 within $3 s"
    return 1
}
# relay NAME: the console of guest NAME, relayed as it comes with a
# "domU| " prefix (a guest that hangs still shows how far it got).
relay() {
    local log=/var/log/xen/console/guest-$1.log
    for _ in $(seq 50); do [ -e "$log" ] && break; sleep 0.2; done
    tail --pid=$$ -n +1 -F "$log" 2>/dev/null | sed -u -e 's/\r//g' -e '/^\s*$/d' -e 's/^/domU| /' &
}

# The toolstack's daemons, and xl answering.
start_toolstack() {
    local xenstored="" candidate libexec
    check "Xen device nodes (evtchn, gntdev, gntalloc, privcmd, xenbus, xenbus_backend)" \
        test -c /dev/xen/evtchn -a -c /dev/xen/gntdev -a -c /dev/xen/gntalloc -a -c /dev/xen/privcmd \
        -a -e /dev/xen/xenbus -a -e /dev/xen/xenbus_backend
    for candidate in /usr/lib/xen-*/bin/xenstored /usr/sbin/xenstored /usr/lib/xen-*/bin/oxenstored /usr/sbin/oxenstored; do
        [ -x "$candidate" ] && { xenstored=$candidate; break; }
    done
    libexec=$(ls -d /usr/lib/xen-4.17* 2>/dev/null | head -n 1)
    check "xenstored starts ($xenstored)" "$xenstored" --pid-file /var/run/xenstored.pid
    wait_for "xenstore-read /local >/dev/null 2>&1 || xenstore-ls / >/dev/null 2>&1" 20
    check "xen-init-dom0" "$libexec/bin/xen-init-dom0"
    check "xenconsoled starts, logging guest consoles" \
        "$libexec/bin/xenconsoled" --pid-file=/var/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console
    check "xl info answers (toolstack up)" xl info
    echo "${me:-dom0}: $(xl info 2>/dev/null | grep -E '^(xen_version|total_memory|free_memory)' | tr -s ' ' | tr '\n' ' ')"
}

# kernel_log_clean: Dom0's kernel log has none of the marks of a kernel
# in trouble (shown when it has).
kernel_log_clean() {
    local marks='BUG|Oops|WARNING|general protection|refcount'
    dmesg | grep -E "$marks|Call Trace" | head -n 20 | sed "s/^/${me:-dom0} kernel: /"
    ! dmesg | grep -qE "$marks"
}
