#!/usr/bin/env python3
"""Scenario 4: a persistent session keeps subscriptions and queues QoS 1/2 messages while offline.

3.1.1: clean session = 0. v5: clean start = 0 with Session Expiry Interval 60 s.
"""

from e2e_lib import Ctx, check, main


def case_offline_queue(ctx: Ctx) -> None:
    t1, t2 = ctx.topic("q1"), ctx.topic("q2")
    sub = ctx.client("sub", clean=False, session_expiry=60, expect_session_present=False)
    sub.subscribe(t1, 1)
    sub.subscribe(t2, 2)
    sub.disconnect()

    pub = ctx.client("pub")
    pub.publish(t1, b"one-at-1", 1)
    pub.publish(t1, b"two-at-2", 2)
    pub.publish(t2, b"three-at-1", 1)
    pub.publish(t2, b"four-at-2", 2)
    pub.disconnect()

    back = ctx.client("sub", clean=False, session_expiry=60, expect_session_present=True)
    got = back.recv_n(4, what="the messages queued while the session was offline")
    got += back.drain()
    # Delivered QoS is min(publish QoS, subscription QoS) [MQTT-3.8.4-8 / 3.3.4].
    seen = sorted((m.topic, m.payload, m.qos) for m in got)
    want = sorted([(t1, b"one-at-1", 1), (t1, b"two-at-2", 1), (t2, b"three-at-1", 1), (t2, b"four-at-2", 2)])
    check(seen == want, f"queued delivery was {seen}, expected {want}")
    # Per-topic order is kept [MQTT-4.6.0-6].
    order = [m.payload for m in got if m.topic == t1]
    check(order == [b"one-at-1", b"two-at-2"], f"messages on one topic were reordered: {order}")

    # The session also kept the subscription itself: a live message arrives without resubscribing.
    pub = ctx.client("pub2")
    pub.publish(t1, b"live", 1)
    m = back.recv(what="a live message on the resumed subscription")
    check(m.payload == b"live", f"unexpected {m}")
    pub.disconnect()
    back.disconnect()

    # Ending with a clean connection discards the session.
    fresh = ctx.client("sub", clean=True, expect_session_present=False)
    fresh.disconnect()


if __name__ == "__main__":
    main(__doc__, {"offline_queue": case_offline_queue})
