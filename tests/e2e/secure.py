"""Secure transports with paho-mqtt 2.x: TLS (with SNI names that do not resolve), client
certificates, WebSocket (ws and wss, custom path and subprotocol), tenant isolation, ACLs.

    python3 tests/e2e/secure.py --port 8883 --version 5 --case roundtrip --tls --ca ca.pem
    python3 tests/e2e/secure.py --port 8883 --version 311 --case roundtrip --tls --ca ca.pem \\
        --sni a.test                      # TLS to 127.0.0.1 with SNI (and verification) a.test
    python3 tests/e2e/secure.py --port 8080 --version 5 --case roundtrip --ws /mqtt
    python3 tests/e2e/secure.py --port 8080 --version 5 --case refused --ws /nope --expect no-connack
    python3 tests/e2e/secure.py --port 8883 --version 5 --case isolation --tls --ca ca.pem \\
        --sni a.test --sni-b b.test
    python3 tests/e2e/secure.py --port 1883 --version 5 --case acl

Every client connects its socket to 127.0.0.1:PORT whatever name it uses: with --sni NAME the
TLS server name (SNI), the certificate check and the WebSocket Host header all use NAME, so
tenants routed by SNI can be reached without DNS or /etc/hosts entries.
"""

from __future__ import annotations

import dataclasses
import socket
import ssl
import threading
import time

import e2e_lib as lib
from e2e_lib import Ctx, Peer, check, fail, mqtt

# --------------------------------------------------------------------------------------------------
# Clients with the transport options of the command line
# --------------------------------------------------------------------------------------------------


def add_args(p) -> None:
    p.add_argument("--tls", action="store_true", help="MQTT over TLS (with --ws: wss)")
    p.add_argument("--ca", help="CA file that verifies the server certificate")
    p.add_argument("--cert", help="client certificate (mutual TLS)")
    p.add_argument("--key", help="client key (mutual TLS)")
    p.add_argument("--sni", help="TLS server name (and name checked in the certificate)")
    p.add_argument("--sni-b", help="the second tenant's name, for the isolation case")
    p.add_argument("--ws", metavar="PATH", help="MQTT over WebSocket, upgrade to PATH")
    p.add_argument("--ws-protocol", help="offer this Sec-WebSocket-Protocol instead of mqtt")
    p.add_argument("--username")
    p.add_argument("--password")
    p.add_argument("--client-id", help="client id of the first client (default: a unique one)")
    p.add_argument("--expect", default="no-connack",
                   help="refused case: `no-connack` (TLS or WebSocket failure, or closed before "
                        "CONNACK) or `connack:0xNN` (CONNACK with this reason code)")


def peer(ctx: Ctx, name: str, *, sni: str | None = None, client_id: str | None = None,
         username: str | None = None, password: str | None = None, connect: bool = True,
         cert: str | None = None, key: str | None = None) -> Peer:
    """A paho client speaking the transport of the command line, connected unless told not to."""
    a = ctx.args
    sni = sni or a.sni
    name_ctx = dataclasses.replace(ctx, host=sni or "127.0.0.1")
    p = Peer(name_ctx, client_id if client_id is not None else ctx.cid(name), connect=False)
    ctx.peers.append(p)
    c = p.c
    if a.ws:
        c.transport = "websockets"
        if a.ws_protocol:
            def headers(h, proto=a.ws_protocol):
                h["Sec-Websocket-Protocol"] = proto
                return h
            c.ws_set_options(path=a.ws, headers=headers)
        else:
            c.ws_set_options(path=a.ws)
    if a.tls:
        tls = ssl.create_default_context(cafile=a.ca)
        cert = cert or a.cert
        if cert:
            tls.load_cert_chain(cert, key or a.key)
        c.tls_set_context(tls)
    # The socket always goes to 127.0.0.1; the name is only used for SNI, checks and Host.
    port = ctx.port
    c._create_socket_connection = lambda: socket.create_connection(("127.0.0.1", port), timeout=lib.WAIT)
    user = username if username is not None else a.username
    if user is not None:
        pw = password if password is not None else a.password
        c.username_pw_set(user, pw)
    if connect:
        p.connect()
    return p


def try_connect(p: Peer, timeout: float = lib.WAIT) -> tuple[str, object]:
    """Connects without failing: ("connack", rc), ("error", exception) or ("closed", rc)."""
    try:
        p.connect(allow_refusal=True, timeout=timeout)
    except lib.Failure as exc:  # no CONNACK, or the socket/TLS/WebSocket setup raised
        cause = exc.__context__ if exc.__context__ is not None else exc
        if p.disconnects.qsize() > 0:
            return "closed", cause
        return "error", cause
    return "connack", p.connack_rc


def publish_rc(p: Peer, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
    """Publishes and returns the PUBACK reason code (v3.1.1: always 0 once acknowledged)."""
    done = threading.Event()
    codes: dict[int, int] = {}

    def on_publish(client, userdata, mid, reason_code, properties):
        codes[mid] = reason_code.value if hasattr(reason_code, "value") else int(reason_code)
        done.set()

    p.c.on_publish = on_publish
    info = p.c.publish(topic, payload, qos, retain)
    check(info.rc == mqtt.MQTT_ERR_SUCCESS, f"PUBLISH to {topic!r} could not be sent (rc {info.rc})")
    end = time.monotonic() + lib.WAIT
    while info.mid not in codes:
        left = end - time.monotonic()
        if left <= 0:
            fail(f"client {p.client_id!r}: no PUBACK for {topic!r} within {lib.WAIT} s")
        done.wait(left)
        done.clear()
    return codes[info.mid]


def subscribe_codes(p: Peer, topic_filter: str, qos: int = 1) -> list[int]:
    """SUBSCRIBE and return the SUBACK codes, refusals included."""
    if p.ctx.v5:
        rc, mid = p.c.subscribe(topic_filter, options=lib.SubscribeOptions(qos=qos))
    else:
        rc, mid = p.c.subscribe(topic_filter, qos)
    check(rc == mqtt.MQTT_ERR_SUCCESS, f"SUBSCRIBE {topic_filter!r} could not be sent")
    return p._wait_ack(mid, lib.WAIT, "SUBACK")


# --------------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------------


def case_roundtrip(ctx: Ctx) -> None:
    """A subscriber and a publisher on the configured transport exchange QoS 0 and 1 messages."""
    sub = peer(ctx, "sub", client_id=ctx.args.client_id)
    sub.subscribe(ctx.topic("#"), qos=1)
    pub = peer(ctx, "pub")
    pub.publish(ctx.topic("q1"), b"over-secure-q1", qos=1)
    pub.publish(ctx.topic("q0"), b"over-secure-q0", qos=0)
    got = sorted((m.topic, m.payload, m.qos) for m in sub.recv_n(2, what="the QoS 1 and QoS 0 messages"))
    check(got == [(ctx.topic("q0"), b"over-secure-q0", 0), (ctx.topic("q1"), b"over-secure-q1", 1)],
          f"round trip delivered {got}")
    pub.disconnect()
    sub.disconnect()
    print(f"roundtrip ok (tls={ctx.args.tls}, ws={ctx.args.ws}, sni={ctx.args.sni})")


def case_refused(ctx: Ctx) -> None:
    """The connection must fail as --expect says; prints what happened."""
    p = peer(ctx, "refused", client_id=ctx.args.client_id, connect=False)
    kind, detail = try_connect(p)
    print(f"refused case: {kind}: {detail!r}")
    expect = ctx.args.expect
    if expect == "no-connack":
        check(kind in ("error", "closed"), f"expected no CONNACK, got {kind} {detail!r}")
    elif expect.startswith("connack:"):
        want = int(expect.split(":", 1)[1], 16)
        check(kind == "connack", f"expected CONNACK {want:#04x}, got {kind} {detail!r}")
        check(detail == want, f"expected CONNACK reason {want:#04x}, got {detail:#04x}")
        p.wait_disconnected(what="the broker to close the refused connection")
    else:
        fail(f"usage: unknown --expect {expect!r}")


def case_isolation(ctx: Ctx) -> None:
    """Tenants A (--sni) and B (--sni-b) on one port share nothing: messages, retained messages,
    client ids."""
    a_name, b_name = ctx.args.sni, ctx.args.sni_b
    check(bool(a_name and b_name), "usage: isolation needs --sni and --sni-b")
    same_id = ctx.cid("same")
    a_all = peer(ctx, "a-all", sni=a_name, client_id=same_id)
    a_all.subscribe("#", qos=1)
    b_all = peer(ctx, "b-all", sni=b_name, client_id=same_id)  # same client id, other tenant
    b_all.subscribe("#", qos=1)

    b_pub = peer(ctx, "b-pub", sni=b_name)
    b_pub.publish(ctx.topic("b/live"), b"tenant-b-live", qos=1)
    b_pub.publish(ctx.topic("b/retained"), b"tenant-b-retained", qos=1, retain=True)
    got_b = sorted(m.payload for m in b_all.recv_n(2, what="tenant B's own messages"))
    check(got_b == [b"tenant-b-live", b"tenant-b-retained"], f"B's subscriber got {got_b}")
    a_all.expect_nothing(why="tenant A's # subscriber must never see tenant B's messages")

    a_pub = peer(ctx, "a-pub", sni=a_name)
    a_pub.publish(ctx.topic("a/live"), b"tenant-a-live", qos=1)
    m = a_all.recv(what="tenant A's own message")
    check(m.payload == b"tenant-a-live", f"A's subscriber got {m}")
    b_all.expect_nothing(why="tenant B's # subscriber must never see tenant A's messages")

    # Retained messages: a new A subscriber finds none of B's, a new B subscriber finds it.
    a_late = peer(ctx, "a-late", sni=a_name)
    a_late.subscribe("#", qos=1)
    a_late.expect_nothing(why="tenant A must not receive tenant B's retained message")
    b_late = peer(ctx, "b-late", sni=b_name)
    b_late.subscribe("#", qos=1)
    m = b_late.recv(what="tenant B's retained message")
    check(m.payload == b"tenant-b-retained" and m.retain, f"B's late subscriber got {m}")

    # The same client id in both tenants: neither took the other over.
    check(a_all.connected and b_all.connected,
          f"same client id in two tenants: A connected={a_all.connected}, B connected={b_all.connected}")
    check(a_all.disconnects.empty() and b_all.disconnects.empty(),
          "a client with the same id in the other tenant was disconnected (taken over)")
    # Both still work after everything above.
    a_pub.publish(ctx.topic("a/again"), b"a-again", qos=1)
    check(a_all.recv(what="A's second message").payload == b"a-again", "A subscriber stopped working")
    b_pub.publish(ctx.topic("b/again"), b"b-again", qos=1)
    check(b_all.recv(what="B's second message").payload == b"b-again", "B subscriber stopped working")
    a_all.expect_nothing(why="B's second message must not reach A")
    b_pub.publish(ctx.topic("b/retained"), b"", qos=1, retain=True)  # clean up
    print("isolation ok")


def case_acl(ctx: Ctx) -> None:
    """ACL allow/deny for publish and subscribe; the Rust test writes the ACL file:

        user alice
        topic readwrite a/#
        user observer
        topic readwrite #
        pattern readwrite c/%c/#
    """
    v5 = ctx.v5
    refused_sub = 0x87 if v5 else 0x80
    observer = peer(ctx, "obs", username="observer")
    observer.subscribe("#", qos=1)
    alice = peer(ctx, "alice", username="alice", client_id="dev1")

    # Subscribe: a/# allowed, b/# refused; # accepted but filtered per delivery.
    codes = subscribe_codes(alice, "b/#")
    check(codes == [refused_sub], f"SUBSCRIBE b/# (no read rule) got SUBACK {[hex(c) for c in codes]}, "
                                  f"expected {refused_sub:#04x}")
    codes = subscribe_codes(alice, "#")
    check(codes and codes[0] < 0x80, f"SUBSCRIBE # (read a/#) refused: {[hex(c) for c in codes]}")

    # Allowed publish: delivered to alice (a/#) and the observer.
    rc = publish_rc(alice, "a/1", b"allowed", qos=1)
    check(rc == 0, f"allowed publish got PUBACK {rc:#04x}")
    check(alice.recv(what="a/1 on alice's #").topic == "a/1", "alice did not get a/1")
    check(observer.recv(what="a/1 at the observer").payload == b"allowed", "observer did not get a/1")

    # Denied publish: v5 PUBACK 0x87; v3.1.1 acknowledged, dropped. Never delivered.
    rc = publish_rc(alice, "b/1", b"denied-write", qos=1)
    if v5:
        check(rc == 0x87, f"denied publish got PUBACK {rc:#04x}, expected 0x87 (Not authorized)")
    else:
        check(rc == 0, f"3.1.1 denied publish: PUBACK {rc}")
    observer.expect_nothing(why="alice may not write b/1; the message must be dropped")

    # Read filtering on #: alice gets a/2 but not b/2 (both published by the observer).
    observer.publish("b/2", b"not-for-alice", qos=1)
    observer.publish("a/2", b"for-alice", qos=1)
    got = [m.topic for m in alice.drain(lib.QUIET * 2)]
    check(got == ["a/2"], f"alice's # subscription (read a/# only) delivered {got}, expected ['a/2']")
    obs_got = sorted(m.topic for m in observer.drain(lib.QUIET))
    check(obs_got == ["a/2", "b/2"], f"observer got {obs_got}")

    # %c pattern: client dev1 may use c/dev1/..., not c/dev2/...
    rc = publish_rc(alice, "c/dev1/t", b"own-id", qos=1)
    check(rc == 0, f"pattern c/%c/# publish to c/dev1/t got {rc:#04x}")
    m = observer.recv(what="c/dev1/t at the observer")
    check(m.topic == "c/dev1/t", f"observer got {m}")
    got = [m.topic for m in alice.drain(lib.QUIET)]
    check(got == ["c/dev1/t"], f"alice's # (read a/# and, by pattern, c/dev1/#) got {got}")
    rc = publish_rc(alice, "c/dev2/t", b"other-id", qos=1)
    check(rc == (0x87 if v5 else 0), f"pattern publish to c/dev2/t got {rc:#04x}")
    observer.expect_nothing(why="c/dev2/t is another client's pattern topic")
    codes = subscribe_codes(alice, "c/dev2/#")
    check(codes == [refused_sub], f"SUBSCRIBE c/dev2/# got {[hex(c) for c in codes]}")
    codes = subscribe_codes(alice, "c/dev1/#")
    check(codes and codes[0] < 0x80, f"SUBSCRIBE c/dev1/# refused: {[hex(c) for c in codes]}")
    print("acl ok")


if __name__ == "__main__":
    lib.main(
        __doc__.splitlines()[0],
        {
            "roundtrip": case_roundtrip,
            "refused": case_refused,
            "isolation": case_isolation,
            "acl": case_acl,
        },
        opt_in=("refused", "isolation"),
        add_args=add_args,
        deadline=45.0,
    )
