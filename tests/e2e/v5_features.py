#!/usr/bin/env python3
"""Scenario 9: MQTT 5.0 features through paho: topic aliases, message expiry, properties passed
through, no local, retain as published, retain handling, subscription identifiers, assigned client
identifier and Server Keep Alive. Only `empty_client_id` also runs at 3.1.1.
"""

import time

from e2e_lib import Ctx, check, fail, main, props


def case_topic_alias(ctx: Ctx) -> None:
    topic = ctx.topic("alias")
    sub = ctx.client("sub")
    sub.subscribe(topic, 1)
    pub = ctx.client("pub")
    maximum = pub.connack_props and getattr(pub.connack_props, "TopicAliasMaximum", 0)
    check(bool(maximum), f"CONNACK announced Topic Alias Maximum {maximum!r}; expected at least 1")
    pub.publish(topic, b"first", 1, props=props(TopicAlias=1))  # sets alias 1
    pub.publish("", b"second", 1, props=props(TopicAlias=1))    # uses it
    got = sub.recv_n(2, what="both messages (one sent with topic, one with only the alias)")
    check([(m.topic, m.payload) for m in got] == [(topic, b"first"), (topic, b"second")],
          f"alias not resolved to the topic: {got}")
    # The subscriber did not allow aliases (no Topic Alias Maximum), so none may be sent to it.
    check(all(m.prop("TopicAlias") is None for m in got), "the broker sent a topic alias to a client that allows none")
    sub.disconnect()
    pub.disconnect()


def case_message_expiry(ctx: Ctx) -> None:
    t = ctx.topic("exp")
    sub = ctx.client("sub", clean=False, session_expiry=60)
    sub.subscribe(t, 1)
    sub.disconnect()
    pub = ctx.client("pub")
    pub.publish(t, b"short", 1, props=props(MessageExpiryInterval=1))
    pub.publish(t, b"long", 1, props=props(MessageExpiryInterval=60))
    pub.publish(t, b"forever", 1)
    pub.disconnect()
    time.sleep(2.2)
    back = ctx.client("sub", clean=False, session_expiry=60, expect_session_present=True)
    got = back.recv_n(2, what="the two messages that had not expired")
    got += back.drain()
    check([m.payload for m in got] == [b"long", b"forever"],
          f"a message with Message Expiry Interval 1 s was delivered after 2 s, or others were lost: {got}")
    # The forwarded interval is reduced by the time the message waited [MQTT-3.3.2-6].
    left = got[0].prop("MessageExpiryInterval")
    check(left is not None and 50 <= left <= 58,
          f"the queued message should carry its remaining expiry (about 58 s), got {left!r}")
    check(got[1].prop("MessageExpiryInterval") is None, "a message without expiry gained one")
    back.disconnect()
    ctx.client("sub", clean=True).disconnect()


def case_properties(ctx: Ctx) -> None:
    t = ctx.topic("req")
    sub = ctx.client("sub")
    sub.subscribe(t, 1)
    pub = ctx.client("pub")
    user = [("a", "1"), ("b", "2"), ("a", "3"), ("ünï", "cødé")]
    p = props(ResponseTopic=ctx.topic("reply"), CorrelationData=b"\x00\x01\xfe\xff",
              ContentType="application/json", PayloadFormatIndicator=1, UserProperty=user)
    pub.publish(t, b'{"x":1}', 1, props=p)
    m = sub.recv(what="the message with properties")
    check(m.prop("UserProperty") == user,
          f"user properties must be forwarded unaltered and in order [MQTT-3.3.2-17/18]: {m.prop('UserProperty')}")
    check(m.prop("ResponseTopic") == ctx.topic("reply"), f"response topic: {m.prop('ResponseTopic')!r}")
    check(m.prop("CorrelationData") == b"\x00\x01\xfe\xff", f"correlation data: {m.prop('CorrelationData')!r}")
    check(m.prop("ContentType") == "application/json", f"content type: {m.prop('ContentType')!r}")
    check(m.prop("PayloadFormatIndicator") == 1, f"payload format: {m.prop('PayloadFormatIndicator')!r}")
    # Request/response: the responder answers on the response topic with the correlation data.
    sub.publish(m.prop("ResponseTopic"), b"answer", 1, props=props(CorrelationData=m.prop("CorrelationData")))
    pub.subscribe(ctx.topic("reply"), 1)  # subscribed late: nothing retained, so publish again
    sub.publish(m.prop("ResponseTopic"), b"answer", 1, props=props(CorrelationData=m.prop("CorrelationData")))
    r = pub.recv(what="the response")
    check((r.payload, r.prop("CorrelationData")) == (b"answer", b"\x00\x01\xfe\xff"), f"response: {r}")
    sub.disconnect()
    pub.disconnect()


def case_no_local(ctx: Ctx) -> None:
    t = ctx.topic("chat")
    me = ctx.client("me")
    me.subscribe(t, 1, no_local=True)
    other = ctx.client("other")
    me.publish(t, b"from-me", 1)
    other.publish(t, b"from-other", 1)
    m = me.recv(what="the other client's message")
    check(m.payload == b"from-other", f"No Local: got my own message back [MQTT-3.8.3-3]: {m}")
    me.expect_nothing(why="No Local subscription must not echo my own publish")
    me.disconnect()
    other.disconnect()


def case_retain_as_published(ctx: Ctx) -> None:
    t = ctx.topic("rap")
    rap = ctx.client("rap")
    rap.subscribe(t, 1, retain_as_published=True)
    plain = ctx.client("plain")
    plain.subscribe(t, 1)
    pub = ctx.client("pub")
    pub.publish(t, b"r", 1, retain=True)
    m1, m2 = rap.recv(what="the message (RAP=1)"), plain.recv(what="the message (RAP=0)")
    check(m1.retain, "Retain As Published = 1: the live copy must keep retain=1 [MQTT-3.3.1-13]")
    check(not m2.retain, "Retain As Published = 0: the live copy must have retain=0 [MQTT-3.3.1-12]")
    pub.publish(t, b"", 1, retain=True)
    for c in (rap, plain, pub):
        c.disconnect()


def case_retain_handling(ctx: Ctx) -> None:
    t = ctx.topic("rh")
    pub = ctx.client("pub")
    pub.publish(t, b"kept", 1, retain=True)
    c = ctx.client("sub")
    c.subscribe(t, 1, retain_handling=2)
    c.expect_nothing(why="Retain Handling 2: no retained messages at subscribe [MQTT-3.3.1-11]")
    c.subscribe(ctx.topic("+"), 1, retain_handling=1)
    m = c.recv(what="the retained message for a new subscription (Retain Handling 1)")
    check(m.retain and m.payload == b"kept", f"unexpected {m}")
    c.subscribe(ctx.topic("+"), 1, retain_handling=1)
    c.expect_nothing(why="Retain Handling 1: nothing when the subscription already existed [MQTT-3.3.1-10]")
    c.subscribe(ctx.topic("+"), 1, retain_handling=0)
    m = c.recv(what="the retained message again (Retain Handling 0)")
    check(m.payload == b"kept", f"unexpected {m}")
    pub.publish(t, b"", 1, retain=True)
    c.disconnect()
    pub.disconnect()


def case_subscription_ids(ctx: Ctx) -> None:
    c = ctx.client("sub")
    c.subscribe(ctx.topic("a/#"), 1, sub_id=7)
    c.subscribe(ctx.topic("b"), 1, sub_id=268435455)  # the largest Variable Byte Integer
    c.subscribe(ctx.topic("c"), 1)                    # none
    pub = ctx.client("pub")
    for name in ("a/x", "b", "c"):
        pub.publish(ctx.topic(name), name.encode(), 1)
    got = {m.payload: m.sub_ids() for m in c.recv_n(3, what="one message per subscription")}
    want = {b"a/x": [7], b"b": [268435455], b"c": []}
    check(got == want, f"subscription identifiers delivered {got}, expected {want} [MQTT-3.3.4-3]")
    c.disconnect()
    pub.disconnect()


def case_empty_client_id(ctx: Ctx) -> None:
    c = ctx.client(None)  # client id "" with clean start / clean session
    if ctx.v5:
        assigned = c.connack_props and getattr(c.connack_props, "AssignedClientIdentifier", None)
        check(bool(assigned), "CONNACK for an empty client id must carry an Assigned Client Identifier [MQTT-3.2.2-16]")
        print(f"     assigned client identifier: {assigned!r}")
    t = ctx.topic("anon")
    c.subscribe(t, 1)
    c.publish(t, b"hi", 1)
    check(c.recv(what="a round trip with an empty client id").payload == b"hi", "payload")
    c.disconnect()


def case_server_keepalive(ctx: Ctx) -> None:
    want = ctx.args.expect_server_keepalive
    if want is None:
        fail("usage: this case needs --expect-server-keepalive N (the broker's configured maximum)")
    c = ctx.client("ka", keepalive=120)
    got = c.connack_props and getattr(c.connack_props, "ServerKeepAlive", None)
    check(got == want, f"client asked keepalive 120 s; CONNACK Server Keep Alive is {got!r}, expected {want}")
    c.disconnect()
    # A client already below the limit is left alone (the property is absent or equal).
    c = ctx.client("ka2", keepalive=max(1, want - 1))
    got = c.connack_props and getattr(c.connack_props, "ServerKeepAlive", None)
    check(got in (None, want - 1), f"client keepalive {want - 1} s below the limit was changed to {got}")
    c.disconnect()


def add_args(p):
    p.add_argument("--expect-server-keepalive", type=int, default=None)


CASES = {
    "topic_alias": case_topic_alias,
    "message_expiry": case_message_expiry,
    "properties": case_properties,
    "no_local": case_no_local,
    "retain_as_published": case_retain_as_published,
    "retain_handling": case_retain_handling,
    "subscription_ids": case_subscription_ids,
    "empty_client_id": case_empty_client_id,
    "server_keepalive": case_server_keepalive,
}

if __name__ == "__main__":
    main(__doc__, CASES, v5_only=tuple(k for k in CASES if k != "empty_client_id"),
         opt_in=("server_keepalive",), add_args=add_args)
