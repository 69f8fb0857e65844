#!/bin/bash
# Boots one Xen host under QEMU's software emulation: Xen 4.17 (multiboot),
# Debian's kernel as PV Dom0 with the given initramfs, serial console (Xen's
# and Dom0's, through Xen) to LOG. Under `timeout`; once Dom0 has printed
# X2M-END the machine gets a few seconds to power off, then it is stopped;
# a panic of Dom0 or of Xen stops it at once (nothing more will come).
#   boot.sh XEN DOM0_KERNEL DOM0_INITRD LOG SECONDS
# X2M_XEN_MEMORY: the machine's memory in MiB (default 2048); X2M_XEN_SMP:
# its processors (default 1; Dom0 has one vCPU whatever the number);
# X2M_XEN_CPU: QEMU's -cpu (default max,-smap); X2M_XEN_NET: QEMU
# arguments giving the machine a NIC (default none), split on spaces.
# QEMU's exit status says nothing of the guests: the caller reads LOG.
set -u
xen=$1 kernel=$2 initrd=$3 log=$4 seconds=$5
: >"$log"
# -cpu max,-smap: Xen under TCG with SMAP crashes Dom0. spec-ctrl=eager-fpu:
# Xen switches the FPU state of the domains sharing the CPU lazily otherwise
# (CR0.TS and #NM), which under emulation left programs in Dom0 and guests
# with another's vector registers (they died in libc now and then, the more
# so the busier the guest).
timeout -k 10 "$seconds" qemu-system-x86_64 -accel tcg -cpu "${X2M_XEN_CPU:-max,-smap}" -m "${X2M_XEN_MEMORY:-2048}" -smp "${X2M_XEN_SMP:-1}" -nodefaults \
    -display none -no-reboot -serial "file:$log" -kernel "$xen" \
    -append "console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M dom0_max_vcpus=1 noreboot spec-ctrl=eager-fpu ${X2M_XEN_APPEND:-}" \
    -initrd "$kernel console=hvc0 earlyprintk=xen panic=-1 ${X2M_DOM0_APPEND:-},$initrd" ${X2M_XEN_NET:-} >"$log.qemu" 2>&1 &
pid=$!
while kill -0 $pid 2>/dev/null; do
    if grep -aqE '^X2M-END|^\[ *[0-9.]+\] Kernel panic - not syncing|^\(XEN\) Panic on CPU' "$log" 2>/dev/null; then
        for _ in $(seq 20); do
            kill -0 $pid 2>/dev/null || break
            sleep 0.5
        done
        kill $pid 2>/dev/null
        break
    fi
    sleep 1
done
wait $pid
echo "qemu exit: $?"
