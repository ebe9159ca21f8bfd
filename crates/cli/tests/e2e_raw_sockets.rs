//! End-to-end checks with raw sockets (Python, `tests/e2e/keepalive.py` and `violations.py`):
//! keepalive enforcement, and protocol violations that must close the connection without ever
//! taking the broker down (each case ends with a normal client round trip).

mod common;

use common::{is_mosquitto, python, Broker, V};

fn case(script: &str, case: &str, v: V, extra: &[&str]) {
    let broker = Broker::start();
    let mut args = vec!["--case", case];
    args.extend_from_slice(extra);
    python(&broker, script, v, &args);
}

// 10. Keepalive.
both_versions!(keepalive_idle_client_closed, |v| {
    // [MQTT-3.1.2-24]: close after 1.5 x Keep Alive (1 s) without a packet; Lantern must do it
    // within 2.5 s. mosquitto 2.0.11 only checks keepalives every few seconds and closes after
    // about 6 s, so for it the upper bound is relaxed (the lower bound of 1 s still holds).
    let max_close = if is_mosquitto() {
        eprintln!("RELAXED against mosquitto: keepalive close allowed up to 8 s");
        "8"
    } else {
        "2.5"
    };
    case("keepalive.py", "idle_close", v, &["--max-close", max_close]);
});
both_versions!(keepalive_pings_keep_connection, |v| case(
    "keepalive.py",
    "pings_keep_alive",
    v,
    &[]
));

// 11. Protocol violations.
both_versions!(violation_connect_reserved_flag, |v| case(
    "violations.py",
    "reserved_flag",
    v,
    &[]
));
both_versions!(violation_garbage_first_byte, |v| case(
    "violations.py",
    "garbage_first_byte",
    v,
    &[]
));
both_versions!(violation_http_request, |v| case(
    "violations.py",
    "http_request",
    v,
    &[]
));
both_versions!(violation_second_connect, |v| case(
    "violations.py",
    "second_connect",
    v,
    &[]
));
both_versions!(violation_publish_before_connect, |v| case(
    "violations.py",
    "publish_before_connect",
    v,
    &[]
));
both_versions!(violation_remaining_length_too_long, |v| case(
    "violations.py",
    "bad_remaining_length",
    v,
    &[]
));
both_versions!(violation_wildcard_in_publish_topic, |v| case(
    "violations.py",
    "wildcard_in_publish",
    v,
    &[]
));
both_versions!(violation_invalid_utf8_topic, |v| case(
    "violations.py",
    "invalid_utf8_topic",
    v,
    &[]
));

/// All violations in a row on one broker: it must survive each and still serve at the end.
#[test]
fn broker_survives_all_violations_in_sequence() {
    let broker = Broker::start();
    python(&broker, "violations.py", V::V311, &[]);
    python(&broker, "violations.py", V::V5, &[]);
}
