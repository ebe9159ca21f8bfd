//! Per-tenant authentication with real clients: two SNI tenants on ONE TLS listener, each with
//! its own password file, ACL file and client CA (mTLS required). A user, a password, an ACL
//! grant or a client certificate of one tenant is worth nothing in the other; the same client
//! id makes two independent sessions; every refusal's log line names the tenant. Lantern only.
//!
//! mosquitto_pub/sub choose the TLS server name with `-h`: `-h localhost` sends SNI
//! `localhost` (tenant A's host name); `-h 127.0.0.1` sends no usable SNI (an IP address is
//! not a host name), so the listener's `default_tenant`, B, serves it. Both connect to
//! 127.0.0.1, and each tenant's server certificate matches the name its clients verify.

mod common;

use std::process::Output;

use common::tls::{listener, DevPki, MiniCa};
use common::{
    lantern_ok, mosquitto_at, output_text, skip_on_mosquitto, Broker, Sub, TempDir, QUIET, V, WAIT,
};

const LANTERN_ONLY: &str = "tenants are a Lantern feature";

/// The `-h` that reaches tenant A (SNI localhost) and tenant B (no SNI: the default tenant).
const HOST_A: &str = "localhost";
const HOST_B: &str = "127.0.0.1";

/// `dev` exists in both tenants with a different password in each.
const DEV_PASSWORD_A: &str = "dev-in-A-pw-1";
const DEV_PASSWORD_B: &str = "dev-in-B-pw-2";

/// Two tenants on one TLS port (mtls required, anonymous refused), each with its own CA for
/// client certificates, password file and ACL file.
struct TwoTenants {
    broker: Broker,
    port: u16,
    pki: DevPki,
    /// Client certificate and key issued by tenant A's client CA (CN dev-a).
    cert_a: (String, String),
    /// Client certificate and key issued by tenant B's client CA (CN dev-b).
    cert_b: (String, String),
    _files: TempDir,
}

impl TwoTenants {
    fn start() -> TwoTenants {
        let pki = DevPki::create("pki");
        let (a_cert, a_key) = pki.server(&[HOST_A], "a");
        let (b_cert, b_key) = pki.server(&[HOST_B], "b");
        let files = TempDir::new("tenant-files");
        let ca_a = MiniCa::root(&files, "ca-a", "Tenant A Devices CA");
        let ca_b = MiniCa::root(&files, "ca-b", "Tenant B Devices CA");
        let cert_a = ca_a.client("dev-a", None);
        let cert_b = ca_b.client("dev-b", None);

        // Passwords: alice only in A, bob only in B, dev in both with different passwords.
        let (pw_a, pw_b) = (files.join("a.passwd"), files.join("b.passwd"));
        add_user(&pw_a, "alice", "alice-pw");
        add_user(&pw_a, "dev", DEV_PASSWORD_A);
        add_user(&pw_b, "bob", "bob-pw");
        add_user(&pw_b, "dev", DEV_PASSWORD_B);
        // ACLs: in A, dev may use a-only/# and shared/#; in B, b-only/# and shared/#.
        let (acl_a, acl_b) = (files.join("a.acl"), files.join("b.acl"));
        std::fs::write(
            &acl_a,
            "user alice\ntopic readwrite shared/#\n\n\
             user dev\ntopic readwrite a-only/#\ntopic readwrite shared/#\n",
        )
        .expect("write a.acl");
        std::fs::write(
            &acl_b,
            "user bob\ntopic readwrite shared/#\n\n\
             user dev\ntopic readwrite b-only/#\ntopic readwrite shared/#\n",
        )
        .expect("write b.acl");

        let toml = format!(
            "data_dir = \"{data}\"\n{listener}\n\
             [[tenant]]\nname = \"a\"\nhosts = [\"{HOST_A}\"]\ncert = \"{a_cert}\"\nkey = \"{a_key}\"\n\
             client_ca = \"{ca_a}\"\npassword_file = \"{pw_a}\"\nacl_file = \"{acl_a}\"\n\n\
             [[tenant]]\nname = \"b\"\nhosts = [\"b.test\"]\ncert = \"{b_cert}\"\nkey = \"{b_key}\"\n\
             client_ca = \"{ca_b}\"\npassword_file = \"{pw_b}\"\nacl_file = \"{acl_b}\"\n",
            data = pki.data_dir(),
            listener = listener(
                "tls",
                "sni = \"optional\"\ndefault_tenant = \"b\"\nmtls = \"required\"\nallow_anonymous = false"
            ),
            ca_a = ca_a.cert,
            ca_b = ca_b.cert,
        );
        let broker = Broker::builder().config_file(&toml).start();
        let port = broker.port_of("tls");
        TwoTenants {
            broker,
            port,
            pki,
            cert_a,
            cert_b,
            _files: files,
        }
    }

    /// TLS arguments for a client of tenant `t` ('a' or 'b') presenting `cert`.
    fn tls_args<'s>(&'s self, t: char, cert: &'s (String, String)) -> Vec<&'s str> {
        let host = if t == 'a' { HOST_A } else { HOST_B };
        vec![
            "-h",
            host,
            "--cafile",
            &self.pki.ca,
            "--cert",
            &cert.0,
            "--key",
            &cert.1,
        ]
    }

    /// The certificate a well-behaved client of tenant `t` presents.
    fn own_cert(&self, t: char) -> &(String, String) {
        if t == 'a' {
            &self.cert_a
        } else {
            &self.cert_b
        }
    }

    /// mosquitto_pub to tenant `t` with its own certificate, as `user`/`password`.
    fn publish(&self, t: char, v: V, user: &str, password: &str, rest: &[&str]) -> Output {
        let mut args = self.tls_args(t, self.own_cert(t));
        args.extend_from_slice(&["-u", user, "-P", password]);
        args.extend_from_slice(rest);
        mosquitto_at("mosquitto_pub", self.port, v, &args, None)
    }

    /// A mosquitto_sub in tenant `t` with its own certificate, SUBACK received.
    fn subscribe(&self, t: char, v: V, user: &str, password: &str, rest: &[&str]) -> Sub {
        let mut args = self.tls_args(t, self.own_cert(t));
        args.extend_from_slice(&["-u", user, "-P", password]);
        args.extend_from_slice(rest);
        Sub::start_at(self.port, v, &args)
    }

    /// Log lines of connections accepted in tenant `t` for `user`.
    fn connected(&self, t: char, user: &str) -> usize {
        self.broker
            .log_lines(&[
                &format!("tenant=\"{t}\""),
                "connected version=",
                &format!("username=\"{user}\""),
            ])
            .len()
    }
}

/// `lantern passwd FILE USER` with the password on stdin (creates the file).
fn add_user(file: &str, user: &str, password: &str) {
    let said = lantern_ok(
        &["passwd", file, user],
        Some(format!("{password}\n").as_bytes()),
    );
    assert!(said.contains(&format!("added user {user}")), "{said}");
}

/// The CONNACK a refused login gets: 3.1.1 return code 4, v5 reason code 0x86.
fn assert_bad_credentials(out: &Output, v: V) {
    let text = output_text(out);
    let (code, words) = match v {
        V::V311 => (4, "Connection Refused: bad user name or password"),
        V::V5 => (0x86, "Bad User Name or Password"),
    };
    assert_eq!(
        out.status.code(),
        Some(code),
        "expected CONNACK {code:#04x}; mosquitto_pub said: {text}"
    );
    assert!(text.contains(words), "expected {words:?} in: {text}");
}

both_versions!(
    /// A user of one tenant cannot log in on the other, and `dev`'s password in A does not
    /// open `dev` in B (nor the reverse). Each refusal is logged with its tenant.
    passwords_are_per_tenant,
    |v: V| {
        if skip_on_mosquitto(LANTERN_ONLY) {
            return;
        }
        let tt = TwoTenants::start();
        let b = &tt.broker;
        let ok = |t: char, user: &str, pw: &str| {
            let out = tt.publish(t, v, user, pw, &["-t", "shared/login", "-m", "hi"]);
            assert!(
                out.status.success(),
                "{user} in tenant {t}: {}\nlog:\n{}",
                output_text(&out),
                b.log()
            );
        };
        ok('a', "alice", "alice-pw");
        ok('b', "bob", "bob-pw");
        ok('a', "dev", DEV_PASSWORD_A);
        ok('b', "dev", DEV_PASSWORD_B);
        assert_eq!((tt.connected('a', "alice"), tt.connected('b', "bob")), (1, 1));
        assert_eq!((tt.connected('a', "dev"), tt.connected('b', "dev")), (1, 1));

        // alice (A) on B and bob (B) on A: unknown users there, whatever the password.
        assert_bad_credentials(&tt.publish('b', v, "alice", "alice-pw", &["-t", "shared/x", "-m", "x"]), v);
        assert_bad_credentials(&tt.publish('a', v, "bob", "bob-pw", &["-t", "shared/x", "-m", "x"]), v);
        let lines = b.wait_log(&["cause=\"auth.unknown_user\""], 2, WAIT);
        assert!(
            lines.iter().any(|l| l.contains("tenant=\"b\"") && l.contains("alice")),
            "alice's refusal in tenant b is not logged with its tenant:\n{}",
            lines.join("\n")
        );
        assert!(
            lines.iter().any(|l| l.contains("tenant=\"a\"") && l.contains("bob")),
            "bob's refusal in tenant a is not logged with its tenant:\n{}",
            lines.join("\n")
        );

        // dev exists in both, so the other tenant's password is a wrong password.
        assert_bad_credentials(&tt.publish('b', v, "dev", DEV_PASSWORD_A, &["-t", "shared/x", "-m", "x"]), v);
        assert_bad_credentials(&tt.publish('a', v, "dev", DEV_PASSWORD_B, &["-t", "shared/x", "-m", "x"]), v);
        let lines = b.wait_log(&["cause=\"auth.bad_password\""], 2, WAIT);
        for t in ["a", "b"] {
            assert_eq!(
                lines.iter().filter(|l| l.contains(&format!("tenant=\"{t}\""))).count(),
                1,
                "one bad_password refusal in tenant {t}:\n{}",
                lines.join("\n")
            );
        }
        // Nobody got in beyond the four good logins.
        assert_eq!(b.log_lines(&["connected version="]).len(), 4, "{}", b.log());
        let log = b.log();
        for secret in ["alice-pw", "bob-pw", DEV_PASSWORD_A, DEV_PASSWORD_B] {
            assert!(!log.contains(secret), "a password is in the log:\n{log}");
        }
    }
);

both_versions!(
    /// The same user name `dev` has different ACLs in the two tenants: in A it may use
    /// a-only/# and not b-only/#; in B the reverse. Refused subscriptions get SUBACK 0x80
    /// (3.1.1) / 0x87 (v5), refused publishes are not delivered, and both are logged with the
    /// tenant and the tenant's own ACL file.
    acls_are_per_tenant,
    |v: V| {
        if skip_on_mosquitto(LANTERN_ONLY) {
            return;
        }
        let tt = TwoTenants::start();
        let b = &tt.broker;
        let pw = |t: char| if t == 'a' { DEV_PASSWORD_A } else { DEV_PASSWORD_B };
        let denied_code = match v {
            V::V311 => 0x80,
            V::V5 => 0x87,
        };
        for (t, own, other) in [('a', "a-only", "b-only"), ('b', "b-only", "a-only")] {
            // Subscribing to the other tenant's topic is refused.
            let mut args = tt.tls_args(t, tt.own_cert(t));
            let filter = format!("{other}/#");
            args.extend_from_slice(&["-u", "dev", "-P", pw(t), "-t", &filter, "-q", "1", "-d"]);
            let out = mosquitto_at("mosquitto_sub", tt.port, v, &args, None);
            let text = output_text(&out);
            assert!(
                text.contains(&format!("Subscribed (mid: 1): {denied_code}")),
                "dev subscribing {filter} in tenant {t}: expected SUBACK {denied_code:#04x}:\n{text}"
            );
            let lines = b.wait_log(
                &["denied", &format!("tenant=\"{t}\""), "access=\"read\"", &format!("topic={filter} ")],
                1,
                WAIT,
            );
            assert!(
                lines[0].contains(&format!("{t}.acl")),
                "the denial should name tenant {t}'s ACL file: {}",
                lines[0]
            );

            // Publishing to the other tenant's topic is refused; its own topic works, and the
            // subscriber on it gets exactly that one message.
            let own_filter = format!("{own}/#");
            let mut sub = tt.subscribe(t, v, "dev", pw(t), &["-t", &own_filter, "-q", "1"]);
            let other_topic = format!("{other}/t");
            // A refused QoS 1 PUBLISH is still acknowledged (3.1.1 cannot say no; v5's PUBACK
            // carries 0x87), so mosquitto_pub's exit status proves nothing: the log does.
            tt.publish(t, v, "dev", pw(t), &["-t", &other_topic, "-m", "forbidden", "-q", "1"]);
            b.wait_log(
                &["denied", &format!("tenant=\"{t}\""), "access=\"write\"", &format!("topic={other_topic} ")],
                1,
                WAIT,
            );
            let own_topic = format!("{own}/t");
            let out = tt.publish(t, v, "dev", pw(t), &["-t", &own_topic, "-m", "allowed", "-q", "1"]);
            assert!(out.status.success(), "{}", output_text(&out));
            let m = sub.recv("dev's message on its own tenant's topic");
            assert_eq!((m.topic.as_str(), m.payload.as_slice()), (own_topic.as_str(), &b"allowed"[..]));
            sub.expect_none(QUIET, "nothing else reaches dev's subscription");
        }
    }
);

#[test]
fn client_certificates_are_per_tenant() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    let tt = TwoTenants::start();
    let b = &tt.broker;
    // Each tenant's own certificate works (with its own password file).
    for (t, user, pw) in [('a', "alice", "alice-pw"), ('b', "bob", "bob-pw")] {
        let out = tt.publish(t, V::V5, user, pw, &["-t", "shared/c", "-m", "own-cert"]);
        assert!(
            out.status.success(),
            "tenant {t}: {}\n{}",
            output_text(&out),
            b.log()
        );
    }
    // A's certificate on B and B's on A: the TLS handshake fails, whatever the password.
    for (t, cert, user, pw) in [
        ('b', &tt.cert_a, "bob", "bob-pw"),
        ('a', &tt.cert_b, "alice", "alice-pw"),
    ] {
        let mut args = tt.tls_args(t, cert);
        args.extend_from_slice(&["-u", user, "-P", pw, "-t", "shared/c", "-m", "wrong-ca"]);
        let out = mosquitto_at("mosquitto_pub", tt.port, V::V5, &args, None);
        let text = output_text(&out);
        assert!(
            !out.status.success(),
            "tenant {t} accepted the other tenant's certificate: {text}"
        );
        let lines = b.wait_log(
            &[
                "cause=\"tls.client_cert_untrusted\"",
                &format!("tenant=\"{t}\""),
            ],
            1,
            WAIT,
        );
        let (issuer, trusted) = if t == 'b' {
            ("Tenant A Devices CA", "Tenant B Devices CA")
        } else {
            ("Tenant B Devices CA", "Tenant A Devices CA")
        };
        assert!(
            lines[0].contains(&format!("issued by \"CN={issuer},"))
                && lines[0].contains(&format!("it trusts \"CN={trusted},")),
            "the refusal should name the issuer and what tenant {t} trusts: {}",
            lines[0]
        );
    }
    assert_eq!(
        b.log_lines(&["cause=\"tls.client_cert_untrusted\""]).len(),
        2,
        "{}",
        b.log()
    );
    assert_eq!(b.log_lines(&["connected version="]).len(), 2, "{}", b.log());
}

both_versions!(
    /// The same client id in both tenants: two connections at once (no takeover across
    /// tenants), messages and retained messages stay in their tenant, and a persistent session
    /// of A is neither resumed nor drained by the same client id in B.
    same_client_id_in_two_tenants_is_two_sessions,
    |v: V| {
        if skip_on_mosquitto(LANTERN_ONLY) {
            return;
        }
        let tt = TwoTenants::start();
        let b = &tt.broker;
        let pw = |t: char| if t == 'a' { DEV_PASSWORD_A } else { DEV_PASSWORD_B };
        let persistent: &[&str] = match v {
            V::V311 => &["-c"],
            V::V5 => &["-c", "-x", "300"],
        };

        // Retained messages in each tenant, on the same topic.
        for t in ['a', 'b'] {
            let payload = format!("retained-in-{t}");
            let out = tt.publish(t, v, "dev", pw(t), &["-t", "shared/r", "-m", &payload, "-r", "-q", "1"]);
            assert!(out.status.success(), "{}", output_text(&out));
        }

        // Client id "twin" connected in both at once, each subscribed to shared/#.
        let mut subs: Vec<Sub> = ['a', 'b']
            .into_iter()
            .map(|t| {
                let mut args = vec!["-i", "twin", "-t", "shared/#", "-q", "1"];
                args.extend_from_slice(persistent);
                tt.subscribe(t, v, "dev", pw(t), &args)
            })
            .collect();
        for (i, t) in ['a', 'b'].into_iter().enumerate() {
            let m = subs[i].recv("the retained message of its own tenant");
            assert_eq!(
                (m.topic.as_str(), m.payload.as_slice(), m.retain),
                ("shared/r", format!("retained-in-{t}").as_bytes(), true),
                "tenant {t}"
            );
        }
        for t in ['a', 'b'] {
            let payload = format!("live-in-{t}");
            let out = tt.publish(t, v, "dev", pw(t), &["-t", "shared/live", "-m", &payload, "-q", "1"]);
            assert!(out.status.success(), "{}", output_text(&out));
        }
        for (i, t) in ['a', 'b'].into_iter().enumerate() {
            let m = subs[i].recv("the live message of its own tenant");
            assert_eq!(m.payload, format!("live-in-{t}").into_bytes(), "tenant {t}");
            subs[i].expect_none(QUIET, "nothing from the other tenant");
            assert!(!subs[i].exited(), "twin in tenant {t} was disconnected");
        }
        assert!(b.log_lines(&["session.taken_over"]).is_empty(), "{}", b.log());
        assert!(b.log_lines(&["taken over"]).is_empty(), "{}", b.log());

        // twin goes offline in A; a message is queued for its persistent session there.
        let sub_a = subs.remove(0);
        sub_a.kill();
        b.wait_log(&["tenant=\"a\"", "client_id=\"twin\"", "closed"], 1, WAIT);
        let out = tt.publish('a', v, "dev", pw('a'), &["-t", "shared/queued", "-m", "for-twin-in-a", "-q", "1"]);
        assert!(out.status.success(), "{}", output_text(&out));

        // twin reconnects in B (its session there is live and gets nothing of A's queue) ...
        let sub_b = subs.remove(0);
        sub_b.kill();
        let mut args = vec!["-i", "twin", "-t", "shared/none", "-q", "1"];
        args.extend_from_slice(persistent);
        let mut again_b = tt.subscribe('b', v, "dev", pw('b'), &args);
        again_b.expect_none(QUIET, "tenant A's queued message must not reach twin in B");
        again_b.kill();

        // ... and in A it resumes its session and receives the queued message.
        let mut args = vec!["-i", "twin", "-t", "shared/#", "-q", "1"];
        args.extend_from_slice(persistent);
        let mut again_a = tt.subscribe('a', v, "dev", pw('a'), &args);
        let m = again_a.recv("the message queued for twin's session in A");
        assert_eq!((m.topic.as_str(), m.payload.as_slice()), ("shared/queued", &b"for-twin-in-a"[..]));
        let resumed = b.log_lines(&["tenant=\"a\"", "client_id=\"twin\"", "session_present=true"]);
        assert_eq!(resumed.len(), 1, "twin resumed its session in A once:\n{}", b.log());
    }
);
