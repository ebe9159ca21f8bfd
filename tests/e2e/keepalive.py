#!/usr/bin/env python3
"""Scenario 10: keepalive. A raw client sends CONNECT with Keep Alive 1 s and then nothing; the
broker must close the connection after one and a half keepalive periods [MQTT-3.1.2-24] —
so not before 1 s, and by about 2.5 s (`--max-close` to widen for a slow machine).
"""

import time

from e2e_lib import PACKET_NAMES, Ctx, Raw, check, connect_packet, fail, main, round_trip


def silent_client(ctx: Ctx, keepalive: int, watch: float):
    r = Raw(ctx)
    r.send(connect_packet(ctx.version, ctx.cid("silent"), keepalive))
    r.expect_connack_ok()
    t0 = time.monotonic()
    closed_at, seen = r.wait_closed(watch)
    r.close()
    return closed_at - t0, seen


def case_idle_close(ctx: Ctx) -> None:
    elapsed, seen = silent_client(ctx, 1, ctx.args.max_close + 2.0)
    print(f"     closed {elapsed:.2f} s after CONNACK")
    check(elapsed >= 1.0, f"closed after {elapsed:.2f} s, before even one keepalive period (1 s)")
    check(elapsed <= ctx.args.max_close,
          f"closed after {elapsed:.2f} s; 1.5 x keepalive is 1.5 s (limit {ctx.args.max_close} s)")
    # v5: the server may say why first: DISCONNECT 0x8D Keep Alive timeout [MQTT-4.13.2-1 style].
    for first, body in seen:
        kind = PACKET_NAMES.get(first >> 4)
        check(kind == "DISCONNECT" and ctx.v5,
              f"unexpected {kind} from the broker to a silent client")
        if body:
            check(body[0] == 0x8D, f"v5 DISCONNECT before the keepalive close has reason {body[0]:#04x}, expected 0x8D")
    round_trip(ctx)


def case_pings_keep_alive(ctx: Ctx) -> None:
    """A client that sends PINGREQ every 0.5 s with Keep Alive 1 stays connected for 3 s."""
    r = Raw(ctx)
    r.send(connect_packet(ctx.version, ctx.cid("pinger"), 1))
    r.expect_connack_ok()
    end = time.monotonic() + 3.0
    while time.monotonic() < end:
        r.send(b"\xc0\x00")  # PINGREQ
        try:
            p = r.read_packet(1.0)
        except TimeoutError:
            fail("no PINGRESP within 1 s")
        check(p is not None, "the broker closed a connection that kept pinging within its keepalive")
        check(p[0] == 0xD0, f"expected PINGRESP, got {p[0]:#04x}")
        time.sleep(0.5)
    r.send(b"\xe0\x00")  # DISCONNECT
    r.close()


def add_args(p):
    p.add_argument("--max-close", type=float, default=2.5)


if __name__ == "__main__":
    main(__doc__, {"idle_close": case_idle_close, "pings_keep_alive": case_pings_keep_alive},
         add_args=add_args)
