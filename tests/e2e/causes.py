"""Raw-socket peers for the connection-diagnostics tests (crates/cli/tests/e2e_causes.rs) that need
socket options the Rust standard library does not offer.

    python3 tests/e2e/causes.py --port PORT --version 311|5 --case rst [--client-id ID]

Cases:

- ``rst``: CONNECT, wait for CONNACK, then close with SO_LINGER {on, 0 s} so the kernel sends a
  TCP RST instead of a FIN: what a device's network stack does when it resets, or a NAT that drops
  the mapping. The broker must explain it as ``net.error`` (connection reset by peer).

Exit status: 0 done, 1 a check failed (``FAIL ...`` on stderr), 2 usage error. Every wait is
bounded (socket timeout of 5 s, and a watchdog of 20 s for the whole script).
"""

from __future__ import annotations

import argparse
import os
import socket
import struct
import sys
import threading

WAIT = 5.0


def mqtt_string(s: bytes) -> bytes:
    return struct.pack("!H", len(s)) + s


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            b |= 0x80
        out.append(b)
        if not n:
            return bytes(out)


def connect_packet(version: int, client_id: str, keep_alive: int = 60) -> bytes:
    level = 5 if version == 5 else 4
    body = mqtt_string(b"MQTT") + bytes([level, 0x02]) + struct.pack("!H", keep_alive)
    if version == 5:
        body += b"\x00"  # no properties
    body += mqtt_string(client_id.encode())
    return b"\x10" + varint(len(body)) + body


def read_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise SystemExit(f"FAIL: the broker closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def case_rst(args: argparse.Namespace) -> None:
    sock = socket.create_connection(("127.0.0.1", args.port), timeout=WAIT)
    sock.settimeout(WAIT)
    sock.sendall(connect_packet(args.version, args.client_id))
    head = read_exact(sock, 2)
    if head[0] != 0x20:
        print(f"FAIL: expected CONNACK (0x20), got {head.hex()}", file=sys.stderr)
        sys.exit(1)
    rest = read_exact(sock, head[1])
    if rest[1] != 0:
        print(f"FAIL: CONNECT refused: {rest.hex()}", file=sys.stderr)
        sys.exit(1)
    # l_onoff = 1, l_linger = 0: close() sends RST.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    print("reset sent")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--version", choices=["311", "5"], required=True)
    parser.add_argument("--case", choices=["rst"], required=True)
    parser.add_argument("--client-id", default="rst-device")
    args = parser.parse_args()
    args.version = int(args.version)
    watchdog = threading.Timer(20.0, lambda: os._exit(3))
    watchdog.daemon = True
    watchdog.start()
    {"rst": case_rst}[args.case](args)


if __name__ == "__main__":
    main()
