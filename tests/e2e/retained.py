#!/usr/bin/env python3
"""Scenario 2: retained messages are stored, replaced and deleted by an empty retained payload."""

from e2e_lib import Ctx, check, main


def case_lifecycle(ctx: Ctx) -> None:
    pub = ctx.client("pub")
    topic = ctx.topic("state")

    pub.publish(topic, b"v1", 1, retain=True)
    s1 = ctx.client("s1")
    s1.subscribe(topic, 1)
    m = s1.recv(what="the retained message on subscribe")
    check((m.payload, m.retain) == (b"v1", True), f"expected retained b'v1', got {m}")
    s1.expect_nothing(why="one retained message per topic")

    # A live delivery to an existing subscriber does not carry the retain flag [MQTT-3.3.1-9].
    pub.publish(topic, b"v2", 1, retain=True)
    m = s1.recv(what="the live copy of the replacing retained message")
    check((m.payload, m.retain) == (b"v2", False),
          f"an existing subscriber should get b'v2' with retain=0, got {m}")

    s2 = ctx.client("s2")
    s2.subscribe(topic, 1)
    m = s2.recv(what="the replaced retained message")
    check((m.payload, m.retain) == (b"v2", True), f"expected retained b'v2' (replaced), got {m}")
    s2.expect_nothing(why="the replaced value must not also be delivered")

    # Retained at QoS 0 via a wildcard subscription, delivered at min(QoS) with retain set.
    pub.publish(ctx.topic("other"), b"o", 0, retain=True)
    s3 = ctx.client("s3")
    s3.subscribe(ctx.topic("#"), 2)
    got = sorted((m.topic, m.payload, m.retain, m.qos) for m in s3.recv_n(2, what="both retained messages"))
    check(got == [(ctx.topic("other"), b"o", True, 0), (topic, b"v2", True, 1)],
          f"wildcard subscriber got the wrong retained set: {got}")

    # An empty retained payload deletes; it is delivered live as an empty message.
    pub.publish(topic, b"", 1, retain=True)
    pub.publish(ctx.topic("other"), b"", 0, retain=True)
    s4 = ctx.client("s4")
    s4.subscribe(topic, 1)
    s4.subscribe(ctx.topic("other"), 1)
    s4.expect_nothing(1.0, why="the retained messages were deleted")
    for p in (pub, s1, s2, s3, s4):
        p.disconnect()


if __name__ == "__main__":
    main(__doc__, {"lifecycle": case_lifecycle})
