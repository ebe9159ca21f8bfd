//! Tenants routed by SNI on one TLS port share nothing: a `#` subscriber in tenant A never sees
//! tenant B's messages or retained messages, and one client id can be connected in both.
//! Driven by paho-mqtt (tests/e2e/secure.py case isolation), which reaches a.test and b.test on
//! 127.0.0.1 by setting only the TLS server name. Lantern only.

mod common;

use common::tls::{listener, DevPki};
use common::{python_at, skip_on_mosquitto, Broker, V};

both_versions!(
    /// Two tenants on one `sni = "required"` port, each with its own certificate.
    two_tenants_on_one_port_are_isolated,
    |v: V| {
        if skip_on_mosquitto("tenants are a Lantern feature") {
            return;
        }
        let pki = DevPki::create("pki");
        let (a_cert, a_key) = pki.server(&["a.test"], "a");
        let (b_cert, b_key) = pki.server(&["b.test"], "b");
        let toml = format!(
            "data_dir = \"{}\"\n{}\n\
             [[tenant]]\nname = \"a\"\nhosts = [\"a.test\"]\ncert = \"{a_cert}\"\nkey = \"{a_key}\"\n\n\
             [[tenant]]\nname = \"b\"\nhosts = [\"b.test\"]\ncert = \"{b_cert}\"\nkey = \"{b_key}\"\n",
            pki.data_dir(),
            listener("tls", "sni = \"required\"")
        );
        let b = Broker::builder().config_file(&toml).start();
        python_at(
            &b,
            b.port_of("tls"),
            "secure.py",
            v,
            &["--case", "isolation", "--tls", "--ca", &pki.ca, "--sni", "a.test", "--sni-b", "b.test"],
        );
        // The connections really were routed to two tenants (3 each), and none was taken over.
        for tenant in ["a", "b"] {
            let n = b
                .log_lines(&[&format!("tenant=\"{tenant}\""), "connected version="])
                .len();
            assert_eq!(n, 3, "connections in tenant {tenant}:\n{}", b.log());
        }
        assert!(b.log_lines(&["session.taken_over"]).is_empty(), "{}", b.log());
    }
);
