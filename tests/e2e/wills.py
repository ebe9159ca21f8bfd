#!/usr/bin/env python3
"""Scenario 3: wills on abnormal disconnect, none after DISCONNECT; v5 will delay [MQTT-3.1.3-9]."""

import select
import signal
import subprocess
import sys
import time

from e2e_lib import WAIT, Ctx, check, connect_packet, main

# Child mode: `wills.py --child HOST PORT VERSION CLIENT_ID WILL_TOPIC` connects with a will over a
# raw socket, prints READY once CONNACK arrived, then idles until the parent kills it with SIGKILL.
if len(sys.argv) > 1 and sys.argv[1] == "--child":
    import socket as _s
    _, _, host, port, version, cid, topic = sys.argv
    sock = _s.create_connection((host, int(port)), timeout=WAIT)
    sock.sendall(connect_packet(int(version), cid, 60, will=(topic, b"died: " + cid.encode())))
    first = sock.recv(2)
    if not first or first[0] >> 4 != 2:
        print(f"child: no CONNACK: {first!r}", file=sys.stderr)
        sys.exit(1)
    print("READY", flush=True)
    time.sleep(30)
    sys.exit(0)


def watcher(ctx: Ctx, topic: str):
    w = ctx.client("watch")
    w.subscribe(topic, 1)
    return w


def case_abnormal_socket(ctx: Ctx) -> None:
    topic = ctx.topic("will")
    w = watcher(ctx, topic)
    c = ctx.client("dev", will={"topic": topic, "payload": b"gone", "qos": 1})
    c.drop()
    m = w.recv(what="the will after the socket was closed without DISCONNECT")
    check((m.topic, m.payload) == (topic, b"gone"), f"unexpected will: {m}")
    w.expect_nothing(why="the will is published once")
    w.disconnect()


def case_abnormal_kill(ctx: Ctx) -> None:
    topic = ctx.topic("will")
    w = watcher(ctx, topic)
    cid = ctx.cid("killed")
    child = subprocess.Popen(
        [sys.executable, __file__, "--child", ctx.host, str(ctx.port), str(ctx.version), cid, topic],
        stdout=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([child.stdout], [], [], WAIT)
        line = child.stdout.readline() if ready else ""
        check(line.strip() == "READY", f"the will client did not connect (said {line!r})")
        child.send_signal(signal.SIGKILL)
        child.wait(WAIT)
        m = w.recv(what="the will of the killed client")
        check(m.payload == b"died: " + cid.encode(), f"unexpected will payload {m.payload!r}")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(WAIT)
    w.disconnect()


def case_normal_disconnect(ctx: Ctx) -> None:
    topic = ctx.topic("will")
    w = watcher(ctx, topic)
    c = ctx.client("dev", will={"topic": topic, "payload": b"gone", "qos": 1})
    c.disconnect()
    w.expect_nothing(1.5, why="a client that sent DISCONNECT has no will published [MQTT-3.1.2-10]")
    w.disconnect()


def case_will_delay(ctx: Ctx) -> None:
    topic = ctx.topic("will")
    w = watcher(ctx, topic)
    c = ctx.client("dev", clean=False, session_expiry=10,
                   will={"topic": topic, "payload": b"late", "qos": 1, "delay": 2})
    dropped = time.monotonic()
    c.drop()
    m = w.recv(2.0 + WAIT, what="the delayed will")
    elapsed = time.monotonic() - dropped
    check(m.payload == b"late", f"unexpected will payload {m.payload!r}")
    check(elapsed >= 1.8, f"the will with Will Delay Interval 2 s arrived after only {elapsed:.2f} s")
    print(f"     delayed will arrived after {elapsed:.2f} s")
    w.disconnect()


def case_will_delay_reconnect(ctx: Ctx) -> None:
    topic = ctx.topic("will")
    w = watcher(ctx, topic)
    c = ctx.client("dev", clean=False, session_expiry=10,
                   will={"topic": topic, "payload": b"late", "qos": 1, "delay": 2})
    c.drop()
    time.sleep(0.3)
    again = ctx.client("dev", clean=False, session_expiry=10, expect_session_present=True)
    w.expect_nothing(3.5, why="the client came back within the will delay [MQTT-3.1.3-9]")
    again.disconnect()
    w.expect_nothing(0.5, why="the second connection had no will and ended with DISCONNECT")
    w.disconnect()


def case_disconnect_with_will(ctx: Ctx) -> None:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.reasoncodes import ReasonCode

    topic = ctx.topic("will")
    w = watcher(ctx, topic)
    c = ctx.client("dev", will={"topic": topic, "payload": b"asked", "qos": 1})
    c.c.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, identifier=0x04))
    m = w.recv(what="the will after DISCONNECT reason 0x04 (Disconnect with Will Message)")
    check(m.payload == b"asked", f"unexpected will payload {m.payload!r}")
    w.disconnect()


if __name__ == "__main__":
    main(__doc__, {
        "abnormal_socket": case_abnormal_socket,
        "abnormal_kill": case_abnormal_kill,
        "normal_disconnect": case_normal_disconnect,
        "will_delay": case_will_delay,
        "will_delay_reconnect": case_will_delay_reconnect,
        "disconnect_with_will": case_disconnect_with_will,
    }, v5_only=("will_delay", "will_delay_reconnect", "disconnect_with_will"))
