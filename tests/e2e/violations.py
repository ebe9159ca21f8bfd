#!/usr/bin/env python3
"""Scenario 11: protocol violations close the connection and never take the broker down.

Each case sends something malformed over a raw socket, expects the broker to close that
connection within a few seconds (having sent at most a refusing CONNACK or a DISCONNECT), then
checks that a normal client can still connect and round-trip.
"""

from e2e_lib import PACKET_NAMES, Ctx, Raw, check, connect_packet, main, packet, publish_packet, round_trip


def expect_refused(ctx: Ctx, r: Raw, what: str) -> None:
    _, seen = r.wait_closed()
    r.close()
    for first, body in seen:
        kind = PACKET_NAMES.get(first >> 4, f"{first:#04x}")
        if kind == "CONNACK":
            code = body[1] if len(body) > 1 else None
            check(code not in (None, 0), f"{what}: the broker accepted the connection (CONNACK {body.hex()})")
        else:
            check(kind == "DISCONNECT" and ctx.v5, f"{what}: unexpected {kind} before the close")
            if body:
                check(body[0] >= 0x80, f"{what}: DISCONNECT reason {body[0]:#04x} is not an error code")
    round_trip(ctx, what.replace(" ", "_"))


def case_reserved_flag(ctx: Ctx) -> None:
    """[MQTT-3.1.2-3] The reserved CONNECT flag (bit 0) must be zero."""
    r = Raw(ctx)
    r.send(connect_packet(ctx.version, ctx.cid("rsv"), 30, flags_or=0x01))
    expect_refused(ctx, r, "reserved flag")


def case_garbage_first_byte(ctx: Ctx) -> None:
    """Packet type 0 is reserved; the first packet must be CONNECT [MQTT-3.1.0-1]."""
    r = Raw(ctx)
    r.send(b"\x00\x04garb")
    expect_refused(ctx, r, "garbage first byte")


def case_http_request(ctx: Ctx) -> None:
    """Someone points a web browser at the MQTT port."""
    r = Raw(ctx)
    r.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    expect_refused(ctx, r, "http request")


def case_second_connect(ctx: Ctx) -> None:
    """[MQTT-3.1.0-2] A second CONNECT is a protocol violation."""
    r = Raw(ctx)
    r.send(connect_packet(ctx.version, ctx.cid("twice"), 30))
    r.expect_connack_ok()
    r.send(connect_packet(ctx.version, ctx.cid("twice"), 30))
    expect_refused(ctx, r, "second connect")


def case_publish_before_connect(ctx: Ctx) -> None:
    r = Raw(ctx)
    r.send(publish_packet(ctx.version, ctx.topic("early"), b"x"))
    expect_refused(ctx, r, "publish before connect")


def case_bad_remaining_length(ctx: Ctx) -> None:
    """A Variable Byte Integer longer than 4 bytes is malformed [MQTT-1.5.5 / 2.2.3]."""
    r = Raw(ctx)
    r.send(b"\x10\xff\xff\xff\xff\x7f")
    expect_refused(ctx, r, "bad remaining length")


def case_wildcard_in_publish(ctx: Ctx) -> None:
    """[MQTT-3.3.2-2] The topic name in PUBLISH must not contain wildcards."""
    r = Raw(ctx)
    r.send(connect_packet(ctx.version, ctx.cid("wild"), 30))
    r.expect_connack_ok()
    r.send(publish_packet(ctx.version, ctx.topic("#"), b"x"))
    expect_refused(ctx, r, "wildcard in publish")


def case_invalid_utf8_topic(ctx: Ctx) -> None:
    """[MQTT-1.5.3-1] Topic names are well-formed UTF-8."""
    r = Raw(ctx)
    r.send(connect_packet(ctx.version, ctx.cid("utf8"), 30))
    r.expect_connack_ok()
    body = (4).to_bytes(2, "big") + b"a\xc3\x28b" + (b"\x00" if ctx.v5 else b"") + b"x"
    r.send(packet(0x30, body))
    expect_refused(ctx, r, "invalid utf8 topic")


if __name__ == "__main__":
    main(__doc__, {
        "reserved_flag": case_reserved_flag,
        "garbage_first_byte": case_garbage_first_byte,
        "http_request": case_http_request,
        "second_connect": case_second_connect,
        "publish_before_connect": case_publish_before_connect,
        "bad_remaining_length": case_bad_remaining_length,
        "wildcard_in_publish": case_wildcard_in_publish,
        "invalid_utf8_topic": case_invalid_utf8_topic,
    })
