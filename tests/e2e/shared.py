#!/usr/bin/env python3
"""Scenario 5: `$share/g/topic` spreads messages over the group, each message to exactly one member."""

import time

from e2e_lib import WAIT, Ctx, check, main

N = 20


def case_shared(ctx: Ctx) -> None:
    topic = ctx.topic("work")
    a, b = ctx.client("a"), ctx.client("b")
    a.subscribe(f"$share/g/{topic}", 1)
    b.subscribe(f"$share/g/{topic}", 1)
    pub = ctx.client("pub")
    for i in range(N):
        pub.publish(topic, f"job-{i}".encode(), 1)

    got_a, got_b = [], []
    end = time.monotonic() + WAIT
    while len(got_a) + len(got_b) < N and time.monotonic() < end:
        got_a += a.drain(0.1)
        got_b += b.drain(0.1)
    got_a += a.drain()
    got_b += b.drain()
    pa, pb = [m.payload for m in got_a], [m.payload for m in got_b]
    all_got = sorted(pa + pb)
    want = sorted(f"job-{i}".encode() for i in range(N))
    check(all_got == want,
          f"each message must reach exactly one group member: a got {len(pa)}, b got {len(pb)}, "
          f"missing {sorted(set(want) - set(all_got))}, duplicated {sorted(x for x in set(all_got) if all_got.count(x) > 1)}")
    check(pa and pb, f"both members should receive some of {N} messages: a got {len(pa)}, b got {len(pb)}")
    print(f"     distribution: a={len(pa)} b={len(pb)}")
    for c in (a, b, pub):
        c.disconnect()


def case_shared_and_plain(ctx: Ctx) -> None:
    """A plain subscription on the same topic still gets every message besides the group."""
    topic = ctx.topic("work")
    a = ctx.client("a")
    a.subscribe(f"$share/g/{topic}", 1)
    plain = ctx.client("plain")
    plain.subscribe(topic, 1)
    pub = ctx.client("pub")
    for i in range(5):
        pub.publish(topic, f"m{i}".encode(), 1)
    check(len(a.recv_n(5, what="all messages (only member of the group)")) == 5, "group member count")
    check(len(plain.recv_n(5, what="all messages on the plain subscription")) == 5, "plain count")
    a.expect_nothing(0.3)
    plain.expect_nothing(0.3)
    for c in (a, plain, pub):
        c.disconnect()


if __name__ == "__main__":
    main(__doc__, {"shared": case_shared, "shared_and_plain": case_shared_and_plain})
