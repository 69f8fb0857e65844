#!/usr/bin/env python3
"""The virtual wire of the two-host Xen test: an Ethernet switch on the
host's loopback for QEMU's udp socket netdevs. Each machine's QEMU sends its
frames, one UDP datagram each, to SWITCH_PORT from its own PORT. A frame goes
to the port its destination MAC was last seen coming from, or, for a
broadcast, a multicast or a MAC not seen yet, to every port but its
sender's; never back to its sender (a bridge that saw its own frames come
back would learn its guests' MACs on the wire side). Forwarding unicast
frames to one machine only spares the third the work of receiving and
dropping them. Runs until killed.
    udp_switch.py SWITCH_PORT PORT PORT...
"""
import socket
import sys


def main():
    switch_port = int(sys.argv[1])
    ports = [int(p) for p in sys.argv[2:]]
    wire = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    wire.bind(("127.0.0.1", switch_port))
    # Bursts of full frames from three machines: room for them while this
    # process waits for a processor (the system's limit may cap it).
    wire.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    print(f"switch on 127.0.0.1:{switch_port} for ports {ports}", flush=True)
    where = {}
    while True:
        frame, (_, sender) = wire.recvfrom(65536)
        if len(frame) < 14:
            continue
        where[frame[6:12]] = sender
        destination = frame[0:6]
        if destination[0] & 1 == 0 and destination in where:
            targets = [where[destination]]
        else:
            targets = ports
        for port in targets:
            if port != sender:
                try:
                    wire.sendto(frame, ("127.0.0.1", port))
                except OSError:
                    # A machine not up yet or gone drops the frame, as
                    # an unplugged cable would.
                    pass


if __name__ == "__main__":
    main()
