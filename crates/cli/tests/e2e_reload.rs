//! SIGHUP reloads, beyond the server certificate (e2e_tls.rs): client CAs, CRLs, password files
//! and ACL files, and a reload that fails keeps the whole running configuration and logs why,
//! naming the file. Real clients (mosquitto_pub/sub) and real files changed on disk. Lantern
//! only.

mod common;

use std::fs;
use std::process::Output;

use common::tls::{listener, DevPki, MiniCa};
use common::{
    lantern_ok, mosquitto_at, output_text, skip_on_mosquitto, Broker, Sub, TempDir, QUIET, V, WAIT,
};

const LANTERN_ONLY: &str = "SIGHUP reload is Lantern's";

/// Sends SIGHUP and waits for the `n`th successful reload.
fn reload(b: &Broker, n: usize) {
    b.signal("HUP");
    b.wait_log(&["certificates reloaded"], n, WAIT);
}

/// Sends SIGHUP and waits for the `n`th failed reload; returns its log line.
fn failed_reload(b: &Broker, n: usize) -> String {
    b.signal("HUP");
    let lines = b.wait_log(
        &["reload failed, keeping the running configuration"],
        n,
        WAIT,
    );
    lines[n - 1].clone()
}

/// `lantern passwd FILE USER` with the password on stdin.
fn add_user(file: &str, user: &str, password: &str) {
    let said = lantern_ok(
        &["passwd", file, user],
        Some(format!("{password}\n").as_bytes()),
    );
    assert!(said.contains(&format!("added user {user}")), "{said}");
}

/// mosquitto_pub (v5) to `port` with `args`; returns its output.
fn publish(port: u16, v: V, args: &[&str]) -> Output {
    mosquitto_at("mosquitto_pub", port, v, args, None)
}

fn assert_ok(out: &Output, what: &str, b: &Broker) {
    assert!(
        out.status.success(),
        "{what}: {}\nlog:\n{}",
        output_text(out),
        b.log()
    );
}

fn assert_refused(out: &Output, what: &str) {
    assert!(
        !out.status.success(),
        "{what} got through: {}",
        output_text(out)
    );
}

/// A TLS listener with `mtls = MODE` and one tenant whose client CA and (optional) CRL are the
/// given files, serving a certificate for 127.0.0.1 from `pki`.
fn mtls_broker(pki: &DevPki, mode: &str, tenant_keys: &str) -> Broker {
    let (cert, key) = pki.server(&["127.0.0.1"], "server");
    let toml = format!(
        "data_dir = \"{}\"\n{}\n[[tenant]]\nname = \"default\"\ncert = \"{cert}\"\nkey = \"{key}\"\n{tenant_keys}\n",
        pki.data_dir(),
        listener("tls", &format!("mtls = \"{mode}\""))
    );
    Broker::builder().config_file(&toml).start()
}

/// mosquitto_pub over TLS presenting `cert`.
fn publish_with_cert(port: u16, pki: &DevPki, cert: &(String, String), payload: &str) -> Output {
    publish(
        port,
        V::V5,
        &[
            "--cafile", &pki.ca, "--cert", &cert.0, "--key", &cert.1, "-t", "reload/c", "-m",
            payload,
        ],
    )
}

#[test]
fn sighup_reloads_the_client_ca() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    let pki = DevPki::create("pki");
    let tmp = TempDir::new("cas");
    let old_ca = MiniCa::root(&tmp, "old", "Old Devices CA");
    let new_ca = MiniCa::root(&tmp, "new", "New Devices CA");
    let (old_dev, new_dev) = (
        old_ca.client("old-dev", None),
        new_ca.client("new-dev", None),
    );
    let live_ca = tmp.join("client-ca.pem");
    fs::copy(&old_ca.cert, &live_ca).expect("copy CA");
    let b = mtls_broker(&pki, "required", &format!("client_ca = \"{live_ca}\""));
    let port = b.port_of("tls");

    assert_ok(
        &publish_with_cert(port, &pki, &old_dev, "before"),
        "old CA's device before the reload",
        &b,
    );
    assert_refused(
        &publish_with_cert(port, &pki, &new_dev, "before"),
        "the new CA's device before the reload",
    );
    b.wait_log(
        &["cause=\"tls.client_cert_untrusted\"", "New Devices CA"],
        1,
        WAIT,
    );

    // A connection made before the reload stays up.
    let mut sub = Sub::start_at(
        port,
        V::V5,
        &[
            "--cafile", &pki.ca, "--cert", &old_dev.0, "--key", &old_dev.1, "-t", "reload/#", "-q",
            "1",
        ],
    );

    fs::copy(&new_ca.cert, &live_ca).expect("replace CA");
    reload(&b, 1);
    assert_ok(
        &publish_with_cert(port, &pki, &new_dev, "after"),
        "the newly trusted CA's device after the reload",
        &b,
    );
    assert_refused(
        &publish_with_cert(port, &pki, &old_dev, "after"),
        "the removed CA's device after the reload",
    );
    let lines = b.wait_log(&["cause=\"tls.client_cert_untrusted\""], 2, WAIT);
    assert!(
        lines[1].contains("issued by \"CN=Old Devices CA,")
            && lines[1].contains("it trusts \"CN=New Devices CA,"),
        "{}",
        lines[1]
    );
    assert_eq!(
        sub.recv("the message published after the reload").payload,
        b"after"
    );
    assert!(
        !sub.exited(),
        "the connection made before the reload was closed"
    );
}

#[test]
fn sighup_reloads_the_crl() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    let pki = DevPki::create("pki");
    let tmp = TempDir::new("crl");
    let ca = MiniCa::root(&tmp, "ca", "CRL Devices CA");
    let (doomed, kept) = (ca.client("doomed-dev", None), ca.client("kept-dev", None));
    let crl = ca.crl();
    let b = mtls_broker(
        &pki,
        "required",
        &format!("client_ca = \"{}\"\ncrl = \"{crl}\"", ca.cert),
    );
    let port = b.port_of("tls");
    assert_ok(
        &publish_with_cert(port, &pki, &doomed, "1"),
        "doomed-dev before its revocation",
        &b,
    );

    ca.revoke(&doomed.0); // rewrites the CRL file the tenant names
                          // Not before the reload: the running CRL is the one read at start.
    assert_ok(
        &publish_with_cert(port, &pki, &doomed, "2"),
        "doomed-dev before the reload",
        &b,
    );
    reload(&b, 1);
    assert_refused(
        &publish_with_cert(port, &pki, &doomed, "3"),
        "a revoked certificate after the reload",
    );
    let lines = b.wait_log(&["cause=\"tls.client_cert_revoked\""], 1, WAIT);
    assert!(
        lines[0].contains("\"CN=doomed-dev,O=Lantern E2E\"")
            && lines[0].contains("tenant=\"default\""),
        "{}",
        lines[0]
    );
    assert_ok(
        &publish_with_cert(port, &pki, &kept, "4"),
        "a certificate not on the new CRL",
        &b,
    );
    assert_eq!(
        b.log_lines(&["cause=\"tls.client_cert_revoked\""]).len(),
        1,
        "{}",
        b.log()
    );
}

/// A plain TCP listener, anonymous refused, with a password file; returns (broker, dir, file).
fn password_broker() -> (Broker, TempDir, String) {
    let dir = TempDir::new("passwd");
    let file = dir.join("passwords");
    add_user(&file, "alice", "alice-pw");
    let toml = format!(
        "{}allow_anonymous = false\n\n[[tenant]]\nname = \"default\"\npassword_file = \"{file}\"\n",
        listener("tcp", "")
    );
    (Broker::builder().config_file(&toml).start(), dir, file)
}

both_versions!(
    /// A user added to the password file logs in after SIGHUP (not before); a user removed from
    /// it is refused after SIGHUP with `auth.unknown_user`.
    sighup_reloads_the_password_file,
    |v: V| {
        if skip_on_mosquitto(LANTERN_ONLY) {
            return;
        }
        let (b, _dir, file) = password_broker();
        let port = b.port_of("tcp");
        let login = |user: &str, pw: &str| publish(port, v, &["-u", user, "-P", pw, "-t", "p", "-m", "m"]);
        assert_ok(&login("alice", "alice-pw"), "alice at start", &b);

        add_user(&file, "carol", "carol-pw");
        lantern_ok(&["passwd", &file, "alice", "-D"], None);
        assert_refused(&login("carol", "carol-pw"), "carol before the reload");
        assert_ok(&login("alice", "alice-pw"), "alice before the reload", &b);

        reload(&b, 1);
        let lines = b.wait_log(&["password and ACL files reloaded"], 1, WAIT);
        assert!(lines[0].contains("password_files=1"), "{}", lines[0]);
        assert_ok(&login("carol", "carol-pw"), "carol after the reload", &b);
        assert_refused(&login("alice", "alice-pw"), "alice after her removal and the reload");
        let lines = b.wait_log(&["cause=\"auth.unknown_user\""], 2, WAIT);
        assert!(lines[0].contains("carol") && lines[1].contains("alice"), "{}", lines.join("\n"));
        assert_eq!(b.log_lines(&["connected version="]).len(), 3, "{}", b.log());
    }
);

both_versions!(
    /// A rule removed from the ACL file and SIGHUP: new subscriptions and publishes on its
    /// topics are denied, and a subscription made before the reload stops receiving them.
    sighup_reloads_the_acl_file,
    |v: V| {
        if skip_on_mosquitto(LANTERN_ONLY) {
            return;
        }
        let dir = TempDir::new("acl");
        let acl = dir.join("acl");
        fs::write(&acl, "user dev\ntopic readwrite keep/#\ntopic readwrite drop/#\n\nuser admin\ntopic readwrite #\n")
            .expect("write acl");
        let toml = format!("{}\n[[tenant]]\nname = \"default\"\nacl_file = \"{acl}\"\n", listener("tcp", ""));
        let b = Broker::builder().config_file(&toml).start();
        let port = b.port_of("tcp");
        let mut sub = Sub::start_at(port, v, &["-u", "dev", "-t", "keep/#", "-t", "drop/#", "-q", "1"]);
        let admin_pub = |topic: &str, payload: &str| {
            assert_ok(&publish(port, v, &["-u", "admin", "-t", topic, "-m", payload, "-q", "1"]), "admin's publish", &b);
        };
        admin_pub("drop/1", "before");
        assert_eq!(sub.recv("drop/1 before the reload").payload, b"before");

        fs::write(&acl, "user dev\ntopic readwrite keep/#\n\nuser admin\ntopic readwrite #\n").expect("rewrite acl");
        reload(&b, 1);
        let lines = b.wait_log(&["password and ACL files reloaded"], 1, WAIT);
        assert!(lines[0].contains("acl_files=1"), "{}", lines[0]);

        // The open subscription: drop/# no longer delivers, keep/# still does.
        admin_pub("drop/2", "after");
        admin_pub("keep/1", "kept");
        let m = sub.recv("keep/1 after the reload");
        assert_eq!((m.topic.as_str(), m.payload.as_slice()), ("keep/1", &b"kept"[..]));
        sub.expect_none(QUIET, "drop/2 after its rule was removed");

        // A new subscription to drop/# is refused, and so is dev's publish there.
        let out = mosquitto_at("mosquitto_sub", port, v, &["-u", "dev", "-t", "drop/#", "-q", "1", "-d"], None);
        let code = match v {
            V::V311 => 0x80,
            V::V5 => 0x87,
        };
        let text = output_text(&out);
        assert!(text.contains(&format!("Subscribed (mid: 1): {code}")), "{text}");
        publish(port, v, &["-u", "dev", "-t", "drop/3", "-m", "denied", "-q", "1"]);
        b.wait_log(&["denied", "access=\"write\"", "topic=drop/3 "], 1, WAIT);
        b.wait_log(&["denied", "access=\"read\"", "topic=drop/# "], 1, WAIT);
        sub.expect_none(QUIET, "dev's own publish to drop/3");
        assert!(!sub.exited(), "the subscriber was disconnected by the reload");
    }
);

both_versions!(
    /// Issue 9, defect 1: messages queued for an offline persistent session are checked against
    /// the read ACL again when a connection resumes it. A rule removed by SIGHUP while the client
    /// was away means the messages it allowed are never delivered, and the drop is counted in
    /// the resuming connection's story.
    sighup_acl_change_applies_to_a_resumed_sessions_queue,
    |v: V| {
        if skip_on_mosquitto(LANTERN_ONLY) {
            return;
        }
        let dir = TempDir::new("acl-resume");
        let acl = dir.join("acl");
        fs::write(&acl, "user dev\ntopic readwrite keep/#\ntopic readwrite drop/#\n\nuser admin\ntopic readwrite #\n")
            .expect("write acl");
        let toml = format!("{}\n[[tenant]]\nname = \"default\"\nacl_file = \"{acl}\"\n", listener("tcp", ""));
        let b = Broker::builder().config_file(&toml).start();
        let port = b.port_of("tcp");
        let mut args = vec!["-u", "dev", "-c", "-i", "dev-away", "-q", "1", "-t", "keep/#", "-t", "drop/#"];
        if v == V::V5 {
            args.extend(["-x", "3600"]);
        }
        Sub::start_at(port, v, &args).kill();
        b.wait_log(&["cause=\"net.peer_closed\"", "client_id=\"dev-away\""], 1, WAIT);
        for (topic, payload) in [("drop/1", "revoked-1"), ("keep/1", "kept"), ("drop/2", "revoked-2")] {
            let out = publish(port, v, &["-u", "admin", "-t", topic, "-m", payload, "-q", "1"]);
            assert_ok(&out, "admin's publish", &b);
        }

        fs::write(&acl, "user dev\ntopic readwrite keep/#\n\nuser admin\ntopic readwrite #\n").expect("rewrite acl");
        reload(&b, 1);
        b.wait_log(&["password and ACL files reloaded"], 1, WAIT);

        let mut sub = Sub::start_at(port, v, &args);
        let m = sub.recv("the queued keep/1");
        assert_eq!((m.topic.as_str(), m.payload.as_slice()), ("keep/1", &b"kept"[..]));
        sub.expect_none(QUIET, "queued drop/# messages after their rule was removed");
        let line = &b.wait_log(&["messages dropped for this client"], 1, WAIT)[0];
        assert!(line.contains("dropped=2") && line.contains("acl_revoked=2"), "{line}");
    }
);

/// A reload that fails — a broken password file, a missing certificate, a CRL that does not
/// parse, a CRL file without a CRL — changes nothing (not even the files that were fine) and logs the file and the error;
/// clients keep connecting with the running settings. Once the files are fixed, a reload
/// installs all of them.
#[test]
fn failed_reload_keeps_the_running_configuration_and_says_why() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    let pki = DevPki::create("pki");
    let tmp = TempDir::new("failing");
    let ca = MiniCa::root(&tmp, "ca", "Failing Reload CA");
    let dev = ca.client("dev", None);
    let (crl, passwd, acl) = (ca.crl(), tmp.join("passwd"), tmp.join("acl"));
    add_user(&passwd, "alice", "alice-pw");
    fs::write(&acl, "user alice\ntopic readwrite old/#\n").expect("acl");
    let (x_cert, x_key) = pki.server(&["127.0.0.1"], "x");
    let (cert, key) = (tmp.join("server.pem"), tmp.join("server.key"));
    fs::copy(&x_cert, &cert).expect("copy cert");
    fs::copy(&x_key, &key).expect("copy key");
    let toml = format!(
        "data_dir = \"{}\"\n{}\n[[tenant]]\nname = \"default\"\ncert = \"{cert}\"\nkey = \"{key}\"\n\
         client_ca = \"{}\"\ncrl = \"{crl}\"\npassword_file = \"{passwd}\"\nacl_file = \"{acl}\"\n",
        pki.data_dir(),
        listener("tls", "mtls = \"optional\"\nallow_anonymous = false"),
        ca.cert
    );
    let b = Broker::builder().config_file(&toml).start();
    let port = b.port_of("tls");
    let tls: [&str; 2] = ["--cafile", &pki.ca];
    let login = |user: &str, pw: &str, topic: &str| {
        let mut args = tls.to_vec();
        args.extend_from_slice(&["-u", user, "-P", pw, "-t", topic, "-m", "m", "-q", "1"]);
        publish(port, V::V5, &args)
    };
    // What "the running configuration" means here, checked after every failed reload: alice
    // logs in with her old password and may write old/# (and not new/#); dev's certificate is
    // accepted; the served certificate is X.
    let running_config_holds = |after: &str| {
        assert_ok(
            &login("alice", "alice-pw", "old/t"),
            &format!("alice after {after}"),
            &b,
        );
        assert_ok(
            &publish_with_cert(port, &pki, &dev, "m"),
            &format!("dev's certificate after {after}"),
            &b,
        );
        let denied_before = b.log_lines(&["denied", "topic=new/t "]).len();
        login("alice", "alice-pw", "new/t");
        b.wait_log(&["denied", "topic=new/t "], denied_before + 1, WAIT);
        assert!(
            b.log_lines(&["denied", "topic=old/t "]).is_empty(),
            "{}",
            b.log()
        );
    };
    running_config_holds("the start");

    // 1. A broken password file (plus a valid new ACL that must NOT be installed alone).
    fs::write(&passwd, "alice:$7$101$broken\n").expect("break passwd");
    fs::write(&acl, "user alice\ntopic readwrite new/#\n").expect("new acl");
    let line = failed_reload(&b, 1);
    assert!(
        line.contains(&format!("{passwd}:1")),
        "the failure should name the file and line: {line}"
    );
    running_config_holds("a reload with a broken password file");

    // 2. A missing certificate (the password file is fine again, with a new password).
    fs::remove_file(&passwd).expect("rm passwd");
    add_user(&passwd, "alice", "alice-new-pw");
    fs::remove_file(&cert).expect("rm cert");
    let line = failed_reload(&b, 2);
    assert!(
        line.contains(&cert),
        "the failure should name the certificate file: {line}"
    );
    running_config_holds("a reload with a missing certificate");
    assert_refused(
        &login("alice", "alice-new-pw", "old/t"),
        "alice's new password before a successful reload",
    );

    // 3. A CRL that is not a CRL.
    fs::copy(&x_cert, &cert).expect("restore cert");
    fs::write(
        &crl,
        "-----BEGIN X509 CRL-----\nbm90IGEgY3Js\n-----END X509 CRL-----\n",
    )
    .expect("break crl");
    let line = failed_reload(&b, 3);
    assert!(
        line.contains(&crl),
        "the failure should name the CRL file: {line}"
    );
    running_config_holds("a reload with a broken CRL");

    // 4. A CRL file holding no CRL at all (it must not quietly revoke nothing).
    fs::write(&crl, "this is not a CRL\n").expect("empty crl");
    let line = failed_reload(&b, 4);
    assert!(
        line.contains(&crl) && line.contains("no CRL in the file"),
        "the failure should name the CRL file: {line}"
    );
    running_config_holds("a reload with a CRL file without a CRL");
    assert_eq!(
        b.log_lines(&["certificates reloaded"]).len(),
        0,
        "{}",
        b.log()
    );

    // Fixed: everything is installed at once.
    ca.revoke(&dev.0); // a good CRL again, in the same file, now listing dev
    reload(&b, 1);
    assert_refused(
        &login("alice", "alice-pw", "new/t"),
        "alice's old password after the good reload",
    );
    assert_ok(
        &login("alice", "alice-new-pw", "new/t"),
        "alice's new password after the good reload",
        &b,
    );
    assert_refused(
        &publish_with_cert(port, &pki, &dev, "m"),
        "dev's revoked certificate after the good reload",
    );
    b.wait_log(&["cause=\"tls.client_cert_revoked\""], 1, WAIT);
    let granted_new = b.log_lines(&["denied", "topic=new/t "]).len();
    assert_eq!(
        granted_new,
        5,
        "new/t was denied only before the good reload:\n{}",
        b.log()
    );
}
