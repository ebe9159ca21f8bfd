#!/usr/bin/env python3
"""Scenario 8: overlapping subscriptions of one client.

Spec (3.1.1 §3.3.5, 5.0 §3.3.4): the server MUST deliver the message respecting the maximum QoS of
all matching subscriptions [MQTT-3.3.5-1 / MQTT-3.3.4-2] and MAY deliver further copies, one per
extra subscription. v5: with one copy it carries every matching Subscription Identifier
[MQTT-3.3.4-4]; with several, each carries its own subscription's identifier [MQTT-3.3.4-5].

`--expect-single-copy` additionally asserts exactly one copy (Lantern's choice; mosquitto sends one
copy per matching subscription, which the spec allows).
"""

from e2e_lib import Ctx, check, main


def case_overlap(ctx: Ctx) -> None:
    c = ctx.client("sub")
    c.subscribe(ctx.topic("o/+"), 0, sub_id=1 if ctx.v5 else None)
    c.subscribe(ctx.topic("o/#"), 2, sub_id=2 if ctx.v5 else None)
    pub = ctx.client("pub")
    pub.publish(ctx.topic("o/t"), b"overlap", 2)
    copies = [c.recv(what="the message matching both subscriptions")] + c.drain(1.0)
    desc = [(m.qos, m.sub_ids()) for m in copies]
    check(all(m.payload == b"overlap" for m in copies), f"payload mismatch: {copies}")
    check(len(copies) <= 2, f"more copies than matching subscriptions: {desc}")
    check(max(m.qos for m in copies) == 2,
          f"no copy at the maximum QoS 2 of the matching subscriptions: {desc}")
    if ctx.args.expect_single_copy:
        check(len(copies) == 1, f"expected exactly one copy at the highest QoS, got {desc}")
    if ctx.v5:
        if len(copies) == 1:
            check(sorted(copies[0].sub_ids()) == [1, 2],
                  f"a single copy must carry both Subscription Identifiers: {desc}")
        else:
            check(sorted(copies[0].sub_ids() + copies[1].sub_ids()) == [1, 2]
                  and all(len(m.sub_ids()) == 1 for m in copies),
                  f"each copy must carry its own subscription's identifier: {desc}")
    print(f"     copies (qos, subscription ids): {desc}")
    c.disconnect()
    pub.disconnect()


def add_args(p):
    p.add_argument("--expect-single-copy", action="store_true")


if __name__ == "__main__":
    main(__doc__, {"overlap": case_overlap}, add_args=add_args)
