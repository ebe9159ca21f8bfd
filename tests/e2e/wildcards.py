#!/usr/bin/env python3
"""Scenario 6: `+` and `#` matching, and `$`-topics hidden from leading wildcards [MQTT-4.7.2-1]."""

from e2e_lib import Ctx, check, main


def case_wildcards(ctx: Ctx) -> None:
    p = ctx.prefix
    dollar = f"$e2e{ctx.uid}"
    subs = {
        "#": ctx.client("hash"),
        f"{p}/#": ctx.client("phash"),
        f"{p}/+/x": ctx.client("plus"),
        "+/x": ctx.client("plusx"),
        f"{dollar}/#": ctx.client("dollar"),
    }
    for filt, c in subs.items():
        c.subscribe(filt, 1)
    pub = ctx.client("pub")
    topics = [p, f"{p}/a/x", f"{p}/a/b/x", f"{p}/x", f"{dollar}/x", f"{dollar}/a/x"]
    for t in topics:
        pub.publish(t, t.encode(), 1)

    expected = {
        "#": [p, f"{p}/a/x", f"{p}/a/b/x", f"{p}/x"],            # never the $-topics
        f"{p}/#": [p, f"{p}/a/x", f"{p}/a/b/x", f"{p}/x"],       # `#` also matches the parent
        f"{p}/+/x": [f"{p}/a/x"],                                 # `+` is exactly one level
        "+/x": [],                                                # the prefix has several levels; no $-topic
        f"{dollar}/#": [f"{dollar}/x", f"{dollar}/a/x"],
    }
    for filt, want in expected.items():
        c = subs[filt]
        got = [m.topic for m in c.recv_n(len(want), what=f"the messages matching {filt!r}")]
        got += [m.topic for m in c.drain()]
        check(sorted(got) == sorted(want), f"filter {filt!r} received {sorted(got)}, expected {sorted(want)}")
    for c in list(subs.values()) + [pub]:
        c.disconnect()


if __name__ == "__main__":
    main(__doc__, {"wildcards": case_wildcards})
