"""The clients of the crash test (issue 10), driven by crates/cli/tests/e2e_crash.rs.

    python3 tests/e2e/crash.py --port PORT --seconds 15 [--drain 15]

Persistent subscribers (3.1.1 clean session false, and 5.0 with a session expiry of an hour)
subscribe to every message topic at QoS 2 and stay connected; then `READY` is printed, and
publishers (QoS 1 and QoS 2, at each protocol version, each with a persistent session) publish
numbered messages for `--seconds` while the test kills and restarts the broker on the same port.
Every client reconnects on its own (paho re-sends unacknowledged messages with DUP, and PUBREL
for QoS 2 messages whose PUBREC it had, as MQTT requires). Some messages also set a retained
message per publisher.

After the publishing window the publishers wait (bounded by `--drain`) for their outstanding
acknowledgements, then the subscribers for every acknowledged message; a fresh subscriber reads
the retained messages. One line `RESULT {json}` on stdout carries the counts and the evidence,
which the Rust test asserts on. Exit 0 whenever RESULT was printed (pass or fail is the test's
call), 3 when the watchdog fired.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

#: At most this many unacknowledged messages per publisher (bounded while the broker is down).
#: Below the broker's Receive Maximum (64): paho re-sends every unacknowledged message at once
#: after a reconnect, ignoring its own in-flight window, and more than the Receive Maximum of
#: QoS 2 messages is a protocol violation [MQTT-3.3.4-9].
MAX_OUTSTANDING = 40
#: A publisher sets its retained message every this many messages.
RETAIN_EVERY = 25

STARTED = time.monotonic()


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def _idempotent_reconnect_reset(reset):
    """paho-mqtt 2.2 puts its outgoing messages "in a valid state" on every reconnect attempt,
    including attempts that fail while the broker is down, and the reset is not idempotent: a
    QoS 2 message waiting for PUBCOMP becomes "re-send PUBREL" on the first attempt and "publish"
    (DUP 0, a brand-new message by the spec) on the second. A broker that already released the
    packet id must then route it again: a duplicate no broker can avoid. This keeps "re-send
    PUBREL" across repeated attempts, which is what MQTT asks of the client [MQTT-4.4.0-1]; the
    test is about the broker, not this client bug (paho/client.py, _messages_reconnect_reset_out).
    """

    def wrapper(self) -> None:
        with self._out_message_mutex:
            pubrel = [m for m in self._out_messages.values() if m.state == mqtt.mqtt_ms_resend_pubrel]
        reset(self)
        if self._check_clean_session():
            return  # a clean session restarts every flow with PUBLISH: nothing to keep
        with self._out_message_mutex:
            for m in pubrel:
                m.state = mqtt.mqtt_ms_resend_pubrel

    return wrapper


mqtt.Client._messages_reconnect_reset_out = _idempotent_reconnect_reset(  # type: ignore[method-assign]
    mqtt.Client._messages_reconnect_reset_out
)


def client(client_id: str, version: int) -> mqtt.Client:
    c = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5 if version == 5 else mqtt.MQTTv311,
        clean_session=None if version == 5 else False,
    )
    c.reconnect_delay_set(min_delay=0.05, max_delay=0.3)  # type: ignore[arg-type]
    c.max_inflight_messages_set(20)
    c.max_queued_messages_set(0)
    return c


def connect(c: mqtt.Client, port: int, version: int) -> None:
    if version == 5:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        c.connect("127.0.0.1", port, keepalive=30, clean_start=False, properties=props)
    else:
        c.connect("127.0.0.1", port, keepalive=30)


class Peer:
    """What every client records: its CONNACKs' session-present flags."""

    def __init__(self, name: str, version: int) -> None:
        self.name = name
        self.version = version
        self.client_id = name
        self.lock = threading.Lock()
        self.connects: list[bool] = []
        self.connected = threading.Event()
        self.c = client(self.client_id, version)
        self.c.on_connect = self.on_connect
        self.c.on_disconnect = self.on_disconnect

    def on_connect(self, _c, _u, flags, reason_code, _props) -> None:
        if reason_code.is_failure:
            log(f"{self.name}: CONNACK {reason_code}")
            return
        with self.lock:
            self.connects.append(bool(flags.session_present))
        self.connected.set()

    def on_disconnect(self, _c, _u, _flags, _rc, _props) -> None:
        self.connected.clear()

    def start(self, port: int) -> None:
        connect(self.c, port, self.version)
        self.c.loop_start()
        if not self.connected.wait(10):
            raise SystemExit(f"{self.name}: no CONNACK within 10 s")

    def stop(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()

    def resumed(self) -> dict:
        """Reconnects after the first, and how many of them had session present = 0."""
        with self.lock:
            later = self.connects[1:]
        return {
            "first_session_present": self.connects[0] if self.connects else None,
            "reconnects": len(later),
            "not_resumed": sum(1 for p in later if not p),
        }


class Subscriber(Peer):
    def __init__(self, name: str, version: int, topic: str) -> None:
        super().__init__(name, version)
        self.topic = topic
        self.received: dict[str, int] = {}
        self.how: dict[str, list] = {}
        self.subacked = threading.Event()
        self.c.on_message = self.on_message
        self.c.on_subscribe = lambda *_a: self.subacked.set()

    def on_message(self, _c, _u, msg) -> None:
        key = msg.payload.decode()
        with self.lock:
            self.received[key] = self.received.get(key, 0) + 1
            # How each delivery arrived (packet id, DUP, seconds since start, reconnects so
            # far), for the evidence of a duplicate. Bounded by what is published.
            self.how.setdefault(key, []).append(
                (msg.mid, bool(msg.dup), round(time.monotonic() - STARTED, 3), len(self.connects) - 1)
            )

    def subscribe(self) -> None:
        if self.version == 5:
            self.c.subscribe(self.topic, options=SubscribeOptions(qos=2))
        else:
            self.c.subscribe(self.topic, qos=2)
        if not self.subacked.wait(10):
            raise SystemExit(f"{self.name}: no SUBACK within 10 s")


class Publisher(Peer):
    def __init__(self, name: str, version: int, qos: int, topic: str, retained: str) -> None:
        super().__init__(name, version)
        self.qos = qos
        self.topic = topic
        self.retained_topic = retained
        self.seq = 0
        # mid -> payload of messages not yet acknowledged.
        self.pending: dict[int, str] = {}
        self.acked: list[str] = []
        self.retained_sent: list[str] = []
        self.retained_acked: list[str] = []
        self.early: dict[int, bool] = {}
        self.c.on_publish = self.on_publish

    def on_publish(self, _c, _u, mid, reason_code, _props) -> None:
        failed = reason_code is not None and getattr(reason_code, "is_failure", False)
        with self.lock:
            payload = self.pending.pop(mid, None)
            if payload is None:
                # Acknowledged before publish() returned the mid to us.
                self.early[mid] = failed
                return
            self._settle(payload, failed)

    def _settle(self, payload: str, failed: bool) -> None:
        if failed:
            log(f"{self.name}: {payload} refused")
        elif payload.startswith("R:"):
            self.retained_acked.append(payload)
        else:
            self.acked.append(payload)

    def outstanding(self) -> int:
        with self.lock:
            return len(self.pending)

    def publish_one(self) -> None:
        self.seq += 1
        payload = f"{self.name}:{self.seq}"
        self._publish(self.topic, payload, False)
        if self.seq % RETAIN_EVERY == 0:
            r = f"R:{self.name}:{self.seq}"
            self.retained_sent.append(r)
            self._publish(self.retained_topic, r, True)

    def _publish(self, topic: str, payload: str, retain: bool) -> None:
        # Not under self.lock: paho calls on_publish holding its own lock, which publish()
        # takes too. An acknowledgement that beats us to `pending` waits in `early`.
        info = self.c.publish(topic, payload, qos=self.qos, retain=retain)
        with self.lock:
            if info.mid in self.early:
                self._settle(payload, self.early.pop(info.mid))
            else:
                self.pending[info.mid] = payload


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--drain", type=float, default=15)
    ap.add_argument("--interval", type=float, default=0.004, help="seconds between publishes")
    args = ap.parse_args()
    deadline = time.monotonic() + args.seconds + args.drain + 30

    def watchdog() -> None:
        while time.monotonic() < deadline:
            time.sleep(0.5)
        log("FAIL: crash.py overran its deadline")
        os._exit(3)

    threading.Thread(target=watchdog, daemon=True).start()

    run = uuid.uuid4().hex[:8]
    base = f"crash/{run}"
    subs = [
        Subscriber(f"sub311-{run}", 311, f"{base}/m/#"),
        Subscriber(f"sub5-{run}", 5, f"{base}/m/#"),
    ]
    pubs = [
        Publisher(f"p311q1-{run}", 311, 1, f"{base}/m/a", f"{base}/r/a"),
        Publisher(f"p311q2-{run}", 311, 2, f"{base}/m/b", f"{base}/r/b"),
        Publisher(f"p5q1-{run}", 5, 1, f"{base}/m/c", f"{base}/r/c"),
        Publisher(f"p5q2-{run}", 5, 2, f"{base}/m/d", f"{base}/r/d"),
    ]
    for s in subs:
        s.start(args.port)
        s.subscribe()
    for p in pubs:
        p.start(args.port)
    print("READY", flush=True)
    log(f"crash.py: READY at {time.monotonic() - STARTED:.3f} s")

    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        for p in pubs:
            if p.outstanding() < MAX_OUTSTANDING:
                p.publish_one()
        time.sleep(args.interval)
    log("crash.py: publishing window over; draining")

    drain_end = time.monotonic() + args.drain
    while time.monotonic() < drain_end and any(p.outstanding() for p in pubs):
        time.sleep(0.05)
    acked = {m for p in pubs for m in p.acked}
    while time.monotonic() < drain_end:
        if all(acked <= set(s.received) for s in subs):
            break
        time.sleep(0.05)
    # Late duplicates would show within a short quiet window.
    time.sleep(0.5)

    # The retained messages, read by a fresh (clean) subscriber.
    retained: dict[str, str] = {}
    got_all = threading.Event()
    reader = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"rd-{run}", protocol=mqtt.MQTTv311)

    def on_retained(_c, _u, msg) -> None:
        if msg.retain:
            retained[msg.topic] = msg.payload.decode()
            if len(retained) == len(pubs):
                got_all.set()

    reader.on_message = on_retained
    reader.connect("127.0.0.1", args.port, keepalive=30)
    reader.loop_start()
    reader.subscribe(f"{base}/r/#", qos=1)
    got_all.wait(5)
    reader.disconnect()
    reader.loop_stop()

    for p in pubs:
        p.stop()
    for s in subs:
        s.stop()

    qos = {p.name: p.qos for p in pubs}
    published = sum(p.seq for p in pubs)
    result = {
        "published": published,
        "acknowledged": len(acked),
        "unacknowledged": sum(len(p.pending) for p in pubs),
        "subscribers": {},
        "publishers": {},
        "retained": {},
    }
    for s in subs:
        lost = sorted(acked - set(s.received), key=lambda m: (m.split(":")[0], int(m.split(":")[1])))
        dup2 = {m: n for m, n in s.received.items() if n > 1 and qos[m.split(":")[0]] == 2}
        dup1 = sum(n - 1 for m, n in s.received.items() if n > 1 and qos[m.split(":")[0]] == 1)
        result["subscribers"][s.name] = {
            "delivered": len(s.received),
            "lost": len(lost),
            "lost_first": lost[:10],
            "qos2_duplicated": sum(n - 1 for n in dup2.values()),
            "qos2_duplicated_first": {m: s.how.get(m) for m in sorted(dup2)[:10]},
            "qos1_duplicated": dup1,
            **s.resumed(),
        }
    for p in pubs:
        last_acked = p.retained_acked[-1] if p.retained_acked else None
        # "As last set": the newest value the broker acknowledged, or one sent after it (which
        # the broker may have stored before it died without the acknowledgement reaching us).
        allowed = p.retained_sent[p.retained_sent.index(last_acked):] if last_acked else p.retained_sent
        got = retained.get(p.retained_topic)
        result["retained"][p.retained_topic] = {
            "got": got,
            "last_acknowledged": last_acked,
            "as_last_set": (got in allowed) if last_acked else (got is None or got in allowed),
        }
        result["publishers"][p.name] = {
            "qos": p.qos,
            "published": p.seq,
            "acknowledged": len(p.acked),
            **p.resumed(),
        }
    print("RESULT " + json.dumps(result, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
