#!/usr/bin/env python3
"""Scenario 7: a second connection with the same client id takes over and closes the first.

[MQTT-3.1.4-2] (3.1.1 and 5.0); v5: the server sends DISCONNECT 0x8E Session taken over first.
"""

from e2e_lib import Ctx, check, main

SESSION_TAKEN_OVER = 0x8E


def case_takeover(ctx: Ctx) -> None:
    first = ctx.client("dev")
    first.subscribe(ctx.topic("t"), 1)
    second = ctx.client("dev")
    rc = first.wait_disconnected(what="the first connection to be closed by the takeover")
    if ctx.v5 and not ctx.args.allow_plain_close:
        check(rc == SESSION_TAKEN_OVER,
              f"the first v5 client should get DISCONNECT 0x8E (Session taken over), got {rc:#04x}")
    else:
        check(rc != 0, "the first client saw a normal disconnect, expected the connection to be lost")
    # The new connection works, and the old one stays closed.
    second.subscribe(ctx.topic("t2"), 1)
    second.publish(ctx.topic("t2"), b"mine", 1)
    m = second.recv(what="a round trip on the connection that took over")
    check(m.payload == b"mine", f"unexpected {m}")
    check(not first.connected, "the first client is connected again")
    second.disconnect()


def add_args(p):
    # mosquitto 2.0.11 closes the old v5 connection without sending DISCONNECT 0x8E.
    p.add_argument("--allow-plain-close", action="store_true",
                   help="v5: accept a close without DISCONNECT 0x8E (for validating against mosquitto 2.0)")


if __name__ == "__main__":
    main(__doc__, {"takeover": case_takeover}, add_args=add_args)
