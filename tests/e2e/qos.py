#!/usr/bin/env python3
"""Scenario 1: QoS 0, 1 and 2 round trips with exact payloads (text, binary, 100 KB)."""

import os

from e2e_lib import Ctx, check, main


def round_trip(ctx: Ctx, qos: int, payload: bytes, label: str) -> None:
    sub = ctx.client(f"sub{label}")
    pub = ctx.client(f"pub{label}")
    topic = ctx.topic(f"qos{qos}/{label}")
    granted = sub.subscribe(topic, qos)
    check(granted == [qos], f"SUBACK granted {granted}, expected [{qos}]")
    pub.publish(topic, payload, qos)
    m = sub.recv(what=f"the QoS {qos} message")
    check(m.topic == topic, f"topic {m.topic!r} != {topic!r}")
    check(m.qos == qos, f"delivered at QoS {m.qos}, expected {qos}")
    check(not m.retain, "a live message was delivered with the retain flag set")
    check(m.payload == payload,
          f"payload differs: {len(m.payload)} bytes received vs {len(payload)} sent")
    sub.expect_nothing(why=f"exactly one copy of a QoS {qos} message")
    pub.disconnect()
    sub.disconnect()


def case_qos0(ctx: Ctx) -> None:
    round_trip(ctx, 0, b"hello qos 0", "q0")


def case_qos1(ctx: Ctx) -> None:
    round_trip(ctx, 1, b"hello qos 1", "q1")


def case_qos2(ctx: Ctx) -> None:
    round_trip(ctx, 2, b"hello qos 2", "q2")


def case_binary(ctx: Ctx) -> None:
    payload = bytes(range(256)) + b"\x00\xff\x00" + b"\xc3\x28"  # NULs and invalid UTF-8
    for qos in (0, 1, 2):
        round_trip(ctx, qos, payload, f"bin{qos}")


def case_large(ctx: Ctx) -> None:
    payload = os.urandom(100 * 1024)
    for qos in (0, 1, 2):
        round_trip(ctx, qos, payload, f"big{qos}")


def case_empty(ctx: Ctx) -> None:
    for qos in (0, 1, 2):
        round_trip(ctx, qos, b"", f"empty{qos}")


if __name__ == "__main__":
    main(__doc__, {"qos0": case_qos0, "qos1": case_qos1, "qos2": case_qos2, "binary": case_binary,
                   "large": case_large, "empty": case_empty})
