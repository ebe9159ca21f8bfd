#!/usr/bin/env python3
"""Issue 9 with paho-mqtt: sessions belong to the identity that created them, a slow consumer
holds its publisher back and loses nothing, and a wildcard Response Topic is refused.

Cases (the Rust test starts the broker with the configuration each one needs):
  identity         bob, connecting with the client id of alice's offline persistent session, gets
                   session present 0 and none of alice's queued messages (other_identity =
                   "new-session", the default). Needs --alice-password and --bob-password.
  identity_refused the same with other_identity = "refuse": CONNACK 0x87 (3.1.1: 5), and alice
                   resumes her session with its queue. Needs the passwords.
  slow_consumer    a QoS 1 subscriber stops reading (its network loop is stopped) while another
                   client publishes --count QoS 1 messages: the publisher cannot finish while the
                   subscriber's queue is full, and once it reads again every message arrives, in
                   order, exactly once. Needs max_queued_messages well below --count.
  response_topic   v5: a PUBLISH whose Response Topic holds a wildcard gets DISCONNECT 0x82
                   [MQTT-3.3.2-14].
"""

import time

from e2e_lib import Ctx, check, fail, main, mqtt, props

NOT_AUTHORIZED_V5 = 0x87
PROTOCOL_ERROR = 0x82


def user(ctx: Ctx, name: str, password: str, client: str, *, clean: bool):
    peer = ctx.client(client, clean=clean, session_expiry=3600 if not clean else None, connect=False)
    peer.c.username_pw_set(name, password)
    return peer


def case_identity(ctx: Ctx) -> None:
    alice = user(ctx, "alice", ctx.args.alice_password, "dev", clean=False)
    alice.connect()
    alice.subscribe(ctx.topic("secret"), 1)
    alice.disconnect()
    sender = ctx.client("sender")
    sender.publish(ctx.topic("secret"), b"for alice only", 1)
    bob = user(ctx, "bob", ctx.args.bob_password, "dev", clean=False)
    bob.connect(expect_session_present=False)
    bob.expect_nothing(why="alice's queued message must not reach bob")
    sender.publish(ctx.topic("secret"), b"later", 1)
    bob.expect_nothing(why="alice's subscription ended with her session")
    bob.disconnect()
    sender.disconnect()


def case_identity_refused(ctx: Ctx) -> None:
    alice = user(ctx, "alice", ctx.args.alice_password, "dev", clean=False)
    alice.connect()
    alice.subscribe(ctx.topic("q"), 1)
    alice.disconnect()
    sender = ctx.client("sender")
    sender.publish(ctx.topic("q"), b"kept for alice", 1)
    bob = user(ctx, "bob", ctx.args.bob_password, "dev", clean=False)
    bob.connect(allow_refusal=True)
    # paho 2 reports the 3.1.1 return code 5 as the v5 reason code 0x87 too (the 3.1.1 byte
    # itself is checked with mosquitto_pub in e2e_hardening_sessions.rs).
    want = NOT_AUTHORIZED_V5
    check(bob.connack_rc == want, f"bob: CONNACK {bob.connack_rc:#04x}, expected {want:#04x}")
    bob.force_stop()
    alice = user(ctx, "alice", ctx.args.alice_password, "dev", clean=False)
    alice.connect(expect_session_present=True)
    m = alice.recv(what="the message queued while alice was away")
    check(m.payload == b"kept for alice", f"unexpected {m}")
    alice.disconnect()
    sender.disconnect()


def case_slow_consumer(ctx: Ctx) -> None:
    n = ctx.args.count
    consumer = ctx.client("consumer")
    consumer.subscribe(ctx.topic("load"), 1)
    consumer.c.loop_stop()  # stops reading: the socket stays open, nothing is read or acked
    producer = ctx.client("producer")
    infos = [producer.c.publish(ctx.topic("load"), f"m{i:05}".encode(), 1) for i in range(n)]
    time.sleep(2.0)
    done = sum(1 for i in infos if i.is_published())
    print(f"acknowledged to the producer while the consumer did not read: {done} of {n}")
    check(done < n, f"all {n} QoS 1 messages were acknowledged to a subscriber that read nothing")
    if ctx.args.max_acked is not None:
        check(done <= ctx.args.max_acked,
              f"{done} acknowledged while held back, more than the bound {ctx.args.max_acked}")
    consumer.c.loop_start()
    got = consumer.recv_n(n, timeout=60.0, what="QoS 1 messages after reading resumed")
    payloads = [m.payload for m in got]
    want = [f"m{i:05}".encode() for i in range(n)]
    if payloads != want:
        missing = len(set(want) - set(payloads))
        fail(f"{missing} of {n} messages lost or out of order; first received: {payloads[:5]}")
    consumer.expect_nothing(why=f"nothing beyond the {n} messages")
    end = time.monotonic() + 30.0
    while not all(i.is_published() for i in infos):
        check(time.monotonic() < end, "the producer's messages were not all acknowledged")
        time.sleep(0.05)
    consumer.disconnect()
    producer.disconnect()


def case_response_topic(ctx: Ctx) -> None:
    c = ctx.client("requester")
    c.c.publish(ctx.topic("req"), b"x", 1, properties=props(ResponseTopic="reply/#"))
    rc = c.wait_disconnected(what="DISCONNECT for a wildcard Response Topic")
    check(rc == PROTOCOL_ERROR, f"DISCONNECT {rc:#04x}, expected 0x82 Protocol Error")
    c.force_stop()


def add_args(p):
    p.add_argument("--alice-password", default="")
    p.add_argument("--bob-password", default="")
    p.add_argument("--count", type=int, default=5000)
    p.add_argument("--max-acked", type=int, default=None,
                   help="slow_consumer: at most this many may be acknowledged while held back")


if __name__ == "__main__":
    main(
        __doc__,
        {
            "identity": case_identity,
            "identity_refused": case_identity_refused,
            "slow_consumer": case_slow_consumer,
            "response_topic": case_response_topic,
        },
        v5_only=("response_topic",),
        opt_in=("identity", "identity_refused", "slow_consumer"),
        add_args=add_args,
        deadline=120.0,
    )
