"""Shared helpers for Lantern's end-to-end scenarios (paho-mqtt 2.x and raw sockets).

Every scenario script is run as

    python3 tests/e2e/<script>.py --port PORT --version 311|5 [--case NAME]

against a broker that is already listening on 127.0.0.1:PORT. A script exits 0 when every selected
case passes, 1 with a `FAIL ...` line on stderr when one does not, 2 on a usage error and 3 when the
whole script overran its hard deadline. Every wait is bounded: `WAIT` seconds unless a case says
otherwise, and a watchdog kills the process after `--deadline` seconds no matter what.

The Rust harness in crates/cli/tests/ starts a broker per test and calls these scripts; they can
also be run by hand against any broker.
"""

from __future__ import annotations

import argparse
import os
import queue
import socket
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Callable, Optional

try:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    from paho.mqtt.subscribeoptions import SubscribeOptions
except ImportError as exc:  # pragma: no cover - environment problem, not a test failure
    print(
        f"FAIL: paho-mqtt 2.x is not installed ({exc}); run scripts/test, "
        "or `pip install 'paho-mqtt>=2,<3'`",
        file=sys.stderr,
    )
    sys.exit(2)

#: Default bound, in seconds, for any single wait (CONNACK, SUBACK, a message, a close).
WAIT = 5.0
#: How long "nothing else arrives" is watched for, in seconds.
QUIET = 0.7


class Failure(Exception):
    """A scenario expectation did not hold."""


def fail(msg: str) -> None:
    raise Failure(msg)


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise Failure(msg)


# --------------------------------------------------------------------------------------------------
# Script entry point
# --------------------------------------------------------------------------------------------------


@dataclass
class Ctx:
    """What a case gets: where the broker is, which protocol to speak, and unique names."""

    host: str
    port: int
    version: int  # 311 or 5
    prefix: str
    args: argparse.Namespace
    uid: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    peers: list = field(default_factory=list)

    @property
    def v5(self) -> bool:
        return self.version == 5

    def topic(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def cid(self, name: str) -> str:
        # Client ids stay under 23 bytes so even a strict 3.1.1 server must accept them.
        return f"{self.uid}-{name}"[:23]

    def client(self, name: str, **kw) -> "Peer":
        peer = Peer(self, self.cid(name) if name is not None else "", **kw)
        self.peers.append(peer)
        return peer

    def close_all(self) -> None:
        for p in self.peers:
            p.force_stop()
        self.peers.clear()


def main(
    description: str,
    cases: dict[str, Callable[[Ctx], None]],
    *,
    v5_only: tuple[str, ...] = (),
    opt_in: tuple[str, ...] = (),
    add_args: Optional[Callable[[argparse.ArgumentParser], None]] = None,
    deadline: float = 60.0,
) -> None:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--version", choices=["311", "5"], required=True)
    parser.add_argument("--case", choices=sorted(cases), action="append",
                        help="run only this case (repeatable); default: all cases")
    parser.add_argument("--prefix", default=None, help="topic prefix; default: a fresh unique one")
    parser.add_argument("--deadline", type=float, default=deadline,
                        help="hard limit for the whole script, in seconds")
    if add_args:
        add_args(parser)
    args = parser.parse_args()
    version = int(args.version)

    # Without --case: every case this version supports, except opt-in ones needing extra arguments.
    selected = args.case or [c for c in cases if (version == 5 or c not in v5_only) and c not in opt_in]
    for name in selected:
        if name in v5_only and version != 5:
            print(f"usage error: case {name!r} needs --version 5", file=sys.stderr)
            sys.exit(2)

    script = os.path.basename(sys.argv[0])

    def overrun() -> None:
        print(f"FAIL {script} v{version}: overran its {args.deadline:.0f} s deadline "
              "(a wait was not bounded?)", file=sys.stderr, flush=True)
        os._exit(3)

    watchdog = threading.Timer(args.deadline, overrun)
    watchdog.daemon = True
    watchdog.start()

    base = args.prefix or f"e2e/{uuid.uuid4().hex[:12]}"
    for name in selected:
        ctx = Ctx(args.host, args.port, version, f"{base}/{name}", args)
        started = time.monotonic()
        try:
            cases[name](ctx)
        except Failure as exc:
            print(f"FAIL {script} case={name} v{version}: {exc}", file=sys.stderr, flush=True)
            os._exit(1)
        except Exception:  # an exception in the scenario itself is a failure too
            print(f"FAIL {script} case={name} v{version}: unexpected exception:", file=sys.stderr)
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(1)
        finally:
            ctx.close_all()
        print(f"ok   {script} case={name} v{version} ({time.monotonic() - started:.2f} s)", flush=True)
    sys.stdout.flush()
    # Daemon threads of paho clients that were cut off on purpose must not delay the exit.
    os._exit(0)


# --------------------------------------------------------------------------------------------------
# paho-mqtt client wrapper: every call that waits has a timeout and fails with a clear message
# --------------------------------------------------------------------------------------------------


@dataclass
class Msg:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    props: Optional[Properties]

    def prop(self, name: str, default=None):
        if self.props is None:
            return default
        return getattr(self.props, name, default)

    def sub_ids(self) -> list[int]:
        ids = self.prop("SubscriptionIdentifier", [])
        return list(ids) if isinstance(ids, list) else [ids]

    def __repr__(self) -> str:
        shown = self.payload if len(self.payload) <= 40 else self.payload[:40] + b"..."
        return f"Msg({self.topic!r}, {shown!r}, qos={self.qos}, retain={self.retain})"


class Peer:
    """One paho client, connected on construction unless `connect=False`."""

    def __init__(
        self,
        ctx: Ctx,
        client_id: str,
        *,
        clean: bool = True,
        session_expiry: Optional[int] = None,
        keepalive: int = 30,
        will: Optional[dict] = None,
        connect: bool = True,
        expect_session_present: Optional[bool] = None,
    ) -> None:
        self.ctx = ctx
        self.client_id = client_id
        self.messages: "queue.Queue[Msg]" = queue.Queue()
        self.disconnects: "queue.Queue[int]" = queue.Queue()
        self._connack = threading.Event()
        self._lock = threading.Condition()
        self._subacks: dict[int, list] = {}
        self.session_present: Optional[bool] = None
        self.connack_rc: Optional[int] = None
        self.connack_props: Optional[Properties] = None
        self.connected = False

        protocol = mqtt.MQTTv5 if ctx.v5 else mqtt.MQTTv311
        self.c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=None if ctx.v5 else clean,
            protocol=protocol,
            # A test decides when to reconnect; paho must never do it behind the test's back.
            reconnect_on_failure=False,
        )
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = self._on_disconnect
        self.c.on_message = self._on_message
        self.c.on_subscribe = self._on_subscribe
        self.c.on_unsubscribe = self._on_unsubscribe
        if will:
            wprops = None
            if ctx.v5 and will.get("delay") is not None:
                wprops = Properties(PacketTypes.WILLMESSAGE)
                wprops.WillDelayInterval = will["delay"]
            self.c.will_set(will["topic"], will.get("payload", b"will"), will.get("qos", 0),
                            will.get("retain", False), properties=wprops)
        self._clean = clean
        self._session_expiry = session_expiry
        self._keepalive = keepalive
        if connect:
            self.connect(expect_session_present=expect_session_present)

    # -- callbacks (run on paho's network thread) --------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.session_present = bool(flags.session_present)
        self.connack_rc = reason_code.value
        self.connack_props = properties
        self.connected = not reason_code.is_failure
        self._connack.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.connected = False
        self.disconnects.put(reason_code.value if hasattr(reason_code, "value") else int(reason_code))

    def _on_message(self, client, userdata, message):
        props = getattr(message, "properties", None)
        self.messages.put(Msg(message.topic, bytes(message.payload), message.qos,
                              bool(message.retain), props))

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        with self._lock:
            self._subacks[mid] = [rc.value for rc in reason_codes]
            self._lock.notify_all()

    def _on_unsubscribe(self, client, userdata, mid, reason_codes, properties):
        with self._lock:
            self._subacks[mid] = [0]
            self._lock.notify_all()

    # -- actions -----------------------------------------------------------------------------------

    def connect(self, *, expect_session_present: Optional[bool] = None, allow_refusal: bool = False,
                timeout: float = WAIT) -> None:
        self._connack.clear()
        props = None
        kwargs = {}
        if self.ctx.v5:
            kwargs["clean_start"] = self._clean
            if self._session_expiry is not None:
                props = Properties(PacketTypes.CONNECT)
                props.SessionExpiryInterval = self._session_expiry
        try:
            self.c.connect(self.ctx.host, self.ctx.port, keepalive=self._keepalive,
                           properties=props, **kwargs)
        except OSError as exc:
            fail(f"client {self.client_id!r}: TCP connect to {self.ctx.host}:{self.ctx.port} failed: {exc}")
        self.c.loop_start()
        if not self._connack.wait(timeout):
            fail(f"client {self.client_id!r}: no CONNACK within {timeout} s")
        if not allow_refusal and not self.connected:
            fail(f"client {self.client_id!r}: CONNACK refused the connection, reason code {self.connack_rc:#04x}")
        if expect_session_present is not None and self.session_present != expect_session_present:
            fail(f"client {self.client_id!r}: CONNACK session present = {int(bool(self.session_present))}, "
                 f"expected {int(expect_session_present)}")

    def subscribe(self, topic_filter: str, qos: int = 0, *, no_local: bool = False,
                  retain_as_published: bool = False, retain_handling: int = 0,
                  sub_id: Optional[int] = None, timeout: float = WAIT) -> list[int]:
        props = None
        if self.ctx.v5:
            options = SubscribeOptions(qos=qos, noLocal=no_local, retainAsPublished=retain_as_published,
                                       retainHandling=retain_handling)
            if sub_id is not None:
                props = Properties(PacketTypes.SUBSCRIBE)
                props.SubscriptionIdentifier = sub_id
            rc, mid = self.c.subscribe(topic_filter, options=options, properties=props)
        else:
            rc, mid = self.c.subscribe(topic_filter, qos)
        check(rc == mqtt.MQTT_ERR_SUCCESS, f"client {self.client_id!r}: SUBSCRIBE could not be sent (rc {rc})")
        codes = self._wait_ack(mid, timeout, "SUBACK")
        check(all(c < 0x80 for c in codes),
              f"client {self.client_id!r}: SUBACK for {topic_filter!r} refused it: {[hex(c) for c in codes]}")
        return codes

    def unsubscribe(self, topic_filter: str, timeout: float = WAIT) -> None:
        rc, mid = self.c.unsubscribe(topic_filter)
        check(rc == mqtt.MQTT_ERR_SUCCESS, f"client {self.client_id!r}: UNSUBSCRIBE could not be sent")
        self._wait_ack(mid, timeout, "UNSUBACK")

    def _wait_ack(self, mid: int, timeout: float, what: str) -> list:
        end = time.monotonic() + timeout
        with self._lock:
            while mid not in self._subacks:
                left = end - time.monotonic()
                if left <= 0:
                    fail(f"client {self.client_id!r}: no {what} for message id {mid} within {timeout} s")
                self._lock.wait(left)
            return self._subacks.pop(mid)

    def publish(self, topic: str, payload=b"", qos: int = 0, retain: bool = False,
                props: Optional[Properties] = None, timeout: float = WAIT) -> None:
        info = self.c.publish(topic, payload, qos, retain, properties=props)
        check(info.rc == mqtt.MQTT_ERR_SUCCESS,
              f"client {self.client_id!r}: PUBLISH to {topic!r} could not be sent (rc {info.rc})")
        try:
            info.wait_for_publish(timeout)
        except (RuntimeError, ValueError) as exc:
            fail(f"client {self.client_id!r}: PUBLISH to {topic!r} failed: {exc}")
        if not info.is_published():
            what = {0: "sent", 1: "acknowledged (PUBACK)", 2: "completed (PUBCOMP)"}[qos]
            fail(f"client {self.client_id!r}: QoS {qos} PUBLISH to {topic!r} not {what} within {timeout} s")

    def recv(self, timeout: float = WAIT, what: str = "a message") -> Msg:
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            fail(f"client {self.client_id!r}: expected {what}, got nothing within {timeout} s")
            raise  # unreachable, keeps type checkers quiet

    def recv_n(self, n: int, timeout: float = WAIT, what: str = "messages") -> list[Msg]:
        end = time.monotonic() + timeout
        got: list[Msg] = []
        while len(got) < n:
            left = end - time.monotonic()
            if left <= 0:
                fail(f"client {self.client_id!r}: expected {n} {what}, got {len(got)} within {timeout} s: {got}")
            try:
                got.append(self.messages.get(timeout=left))
            except queue.Empty:
                pass
        return got

    def expect_nothing(self, duration: float = QUIET, why: str = "") -> None:
        try:
            m = self.messages.get(timeout=duration)
        except queue.Empty:
            return
        fail(f"client {self.client_id!r}: expected no message{(' (' + why + ')') if why else ''}, got {m}")

    def drain(self, duration: float = QUIET) -> list[Msg]:
        end = time.monotonic() + duration
        got = []
        while (left := end - time.monotonic()) > 0:
            try:
                got.append(self.messages.get(timeout=left))
            except queue.Empty:
                break
        return got

    def wait_disconnected(self, timeout: float = WAIT, what: str = "the connection to close") -> int:
        try:
            return self.disconnects.get(timeout=timeout)
        except queue.Empty:
            fail(f"client {self.client_id!r}: expected {what} within {timeout} s, it stayed open")
            raise

    def disconnect(self, timeout: float = WAIT) -> None:
        """A normal DISCONNECT (reason 0x00): the broker must discard the will."""
        self.c.disconnect()
        self.wait_disconnected(timeout, "the DISCONNECT to complete")
        self.c.loop_stop()

    def drop(self) -> None:
        """Close the TCP connection without a DISCONNECT packet (an abnormal disconnect)."""
        sock = self.c.socket()
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.wait_disconnected(WAIT, "paho to notice the dropped socket")

    def force_stop(self) -> None:
        try:
            if self.connected:
                self.c.disconnect()
            self.c.loop_stop()
        except Exception:
            pass


def props(packet_type=PacketTypes.PUBLISH, **values) -> Properties:
    p = Properties(packet_type)
    for k, v in values.items():
        setattr(p, k, v)
    return p


def round_trip(ctx: Ctx, label: str = "alive") -> None:
    """A fresh client subscribes and receives its own QoS 1 message: the broker still serves."""
    c = ctx.client(f"rt{uuid.uuid4().hex[:6]}")
    t = ctx.topic(f"roundtrip/{label}")
    c.subscribe(t, 1)
    c.publish(t, b"still alive", 1)
    m = c.recv(what="its own round-trip message (is the broker still serving?)")
    check(m.payload == b"still alive", f"round trip payload mismatch: {m.payload!r}")
    c.disconnect()


# --------------------------------------------------------------------------------------------------
# Raw packets, for the cases a well-behaved client library refuses to produce
# --------------------------------------------------------------------------------------------------


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def mqtt_str(s) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return len(b).to_bytes(2, "big") + b


def packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + varint(len(body)) + body


def connect_packet(version: int, client_id: str, keepalive: int = 30, *, clean: bool = True,
                   flags_or: int = 0, will: Optional[tuple[str, bytes]] = None) -> bytes:
    level = 5 if version == 5 else 4
    flags = (0x02 if clean else 0) | flags_or
    payload = mqtt_str(client_id)
    if will:
        flags |= 0x04
        if version == 5:
            payload += varint(0)  # will properties
        payload += mqtt_str(will[0]) + mqtt_str(will[1])
    var = mqtt_str("MQTT") + bytes([level, flags]) + keepalive.to_bytes(2, "big")
    if version == 5:
        var += varint(0)  # CONNECT properties
    return packet(0x10, var + payload)


def publish_packet(version: int, topic: str, payload: bytes) -> bytes:
    body = mqtt_str(topic) + (varint(0) if version == 5 else b"") + payload
    return packet(0x30, body)


PACKET_NAMES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL",
                7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK",
                12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT", 15: "AUTH"}


class Raw:
    """A bare TCP connection that speaks bytes, for keepalive and protocol-violation cases."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        try:
            self.sock = socket.create_connection((ctx.host, ctx.port), timeout=WAIT)
        except OSError as exc:
            fail(f"raw TCP connect to {ctx.host}:{ctx.port} failed: {exc}")
        self.buf = b""

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            fail(f"raw socket: send failed before the broker answered: {exc}")

    def read_packet(self, timeout: float = WAIT) -> Optional[tuple[int, bytes]]:
        """Next packet as (first byte, body); None when the broker closed the connection."""
        end = time.monotonic() + timeout
        while True:
            parsed = self._parse()
            if parsed:
                return parsed
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError from None
            except (ConnectionResetError, BrokenPipeError):
                return None
            if not chunk:
                return None
            self.buf += chunk

    def _parse(self) -> Optional[tuple[int, bytes]]:
        if len(self.buf) < 2:
            return None
        n, mult, i = 0, 1, 1
        while True:
            if i >= len(self.buf):
                return None
            b = self.buf[i]
            n += (b & 0x7F) * mult
            mult *= 128
            i += 1
            if not b & 0x80:
                break
            if i > 4:
                fail(f"raw socket: broker sent a malformed remaining length: {self.buf[:8].hex()}")
        if len(self.buf) < i + n:
            return None
        first, body = self.buf[0], self.buf[i:i + n]
        self.buf = self.buf[i + n:]
        return first, body

    def expect_connack_ok(self) -> None:
        try:
            p = self.read_packet()
        except TimeoutError:
            fail(f"raw socket: no CONNACK within {WAIT} s")
        check(p is not None, "raw socket: broker closed the connection instead of sending CONNACK")
        first, body = p
        check(first >> 4 == 2, f"raw socket: expected CONNACK, got {PACKET_NAMES.get(first >> 4)} ({first:#04x})")
        check(len(body) >= 2 and body[1] == 0, f"raw socket: CONNACK refused: {body.hex()}")

    def wait_closed(self, timeout: float = WAIT) -> tuple[float, list[tuple[int, bytes]]]:
        """Wait for the broker to close; returns (monotonic time of close, packets seen before it)."""
        end = time.monotonic() + timeout
        seen = []
        while True:
            left = end - time.monotonic()
            if left <= 0:
                names = [PACKET_NAMES.get(f >> 4, hex(f)) for f, _ in seen]
                fail(f"raw socket: broker kept the connection open for {timeout} s (packets seen: {names})")
            try:
                p = self.read_packet(left)
            except TimeoutError:
                continue
            if p is None:
                return time.monotonic(), seen
            seen.append(p)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
