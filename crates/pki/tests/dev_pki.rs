//! The development PKI, checked by the real `openssl` binary: chains verify, and a TLS
//! handshake between `openssl s_server` and `openssl s_client` succeeds with it.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::fs;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use lantern_pki::{
    describe_pem, DevPki, IdentitySource, KeyDescription, KeyType, LineEndings, San,
};

/// Bound for every wait on a child process.
const WAIT: Duration = Duration::from_secs(20);

/// A fresh directory under the target's tmp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "lantern-pki-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Kills the child when dropped, so a failing assertion never leaks a server.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn openssl() -> Command {
    match Command::new("openssl").arg("version").output() {
        Ok(out) if out.status.success() => Command::new("openssl"),
        _ => panic!("these tests need the openssl command-line tool: apt-get install openssl"),
    }
}

/// Runs a command to completion within [`WAIT`].
fn run_bounded(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("{cmd:?} did not finish within {WAIT:?}: {out:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn openssl_verify(ca: &Path, cert: &Path, purpose: &str) -> Output {
    let mut cmd = openssl();
    cmd.arg("verify")
        .arg("-purpose")
        .arg(purpose)
        .arg("-CAfile")
        .arg(ca)
        .arg(cert);
    run_bounded(cmd)
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn ensure_creates_the_files_then_loads_them() {
    let tmp = TempDir::new("ensure");
    let pki = DevPki::ensure(&tmp.0).unwrap();
    assert!(pki.created);
    assert!(pki.renewed.is_empty());
    let p = &pki.paths;
    assert_eq!(p.dir, tmp.0.join("pki"));
    for (path, secret) in [
        (&p.ca_cert, false),
        (&p.ca_key, true),
        (&p.server_cert, false),
        (&p.server_key, true),
        (&p.client_cert, false),
        (&p.client_key, true),
    ] {
        let bytes = fs::read(path).unwrap();
        assert!(!bytes.contains(&b'\r'), "{} has a CR", path.display());
        assert!(bytes.ends_with(b"-----\n"), "{}", path.display());
        #[cfg(unix)]
        assert_eq!(
            mode(path),
            if secret { 0o600 } else { 0o644 },
            "{}",
            path.display()
        );
        #[cfg(not(unix))]
        let _ = secret;
    }
    assert_eq!(fs::read(&p.ca_cert).unwrap(), pki.ca_pem());

    let now = SystemTime::now();
    let ca = describe_pem(&fs::read(&p.ca_cert).unwrap(), now).unwrap();
    assert_eq!(ca.line_endings, LineEndings::Lf);
    let ca = &ca.certificates[0];
    assert!(ca.is_ca && ca.self_signed);
    assert!(
        ca.subject.starts_with("CN=Lantern Development CA"),
        "{}",
        ca.subject
    );
    assert_eq!(
        ca.key,
        KeyDescription::Ecdsa {
            curve: "P-256".into()
        }
    );
    assert_eq!(ca.fingerprint_sha256, pki.ca_fingerprint());

    // server.pem: leaf first, then the CA.
    let server = describe_pem(&fs::read(&p.server_cert).unwrap(), now).unwrap();
    assert_eq!(server.certificates.len(), 2);
    let leaf = &server.certificates[0];
    assert_eq!(
        server.certificates[1].fingerprint_sha256,
        ca.fingerprint_sha256
    );
    assert_eq!(leaf.subject, "CN=localhost");
    assert_eq!(leaf.issuer, ca.subject);
    assert!(!leaf.is_ca && !leaf.self_signed);
    assert_eq!(leaf.eku, vec!["serverAuth".to_owned()]);
    assert_eq!(leaf.is_issued_by(ca), Some(true));
    for san in [
        San::Dns("localhost".into()),
        San::Ip("127.0.0.1".parse().unwrap()),
        San::Ip("::1".parse().unwrap()),
    ] {
        assert!(
            leaf.sans.contains(&san),
            "{san} missing from {:?}",
            leaf.sans
        );
    }
    let days = (leaf.not_after - leaf.not_before).whole_days();
    assert_eq!(days, 825);
    assert_eq!((ca.not_after - ca.not_before).whole_days(), 3652);

    let client = describe_pem(&fs::read(&p.client_cert).unwrap(), now).unwrap();
    assert_eq!(client.certificates.len(), 2);
    assert_eq!(client.certificates[0].subject, "CN=lantern-client-1");
    assert_eq!(client.certificates[0].eku, vec!["clientAuth".to_owned()]);

    // Second run: loads, same CA, leaves untouched.
    let server_before = fs::read(&p.server_cert).unwrap();
    let again = DevPki::ensure(&tmp.0).unwrap();
    assert!(!again.created);
    assert!(again.renewed.is_empty(), "{:?}", again.renewed);
    assert_eq!(again.ca_fingerprint(), pki.ca_fingerprint());
    assert_eq!(fs::read(&p.server_cert).unwrap(), server_before);

    // Debug never shows the key.
    let debug = format!("{again:?}");
    let key = fs::read_to_string(&p.ca_key).unwrap();
    for line in key.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!debug.contains(line));
    }
}

#[test]
fn ensure_reissues_missing_leaves_from_the_existing_ca_and_refuses_half_a_ca() {
    let tmp = TempDir::new("reissue");
    let pki = DevPki::ensure(&tmp.0).unwrap();
    fs::remove_file(&pki.paths.client_key).unwrap();
    let again = DevPki::ensure(&tmp.0).unwrap();
    assert!(!again.created);
    assert_eq!(again.renewed, vec![again.paths.client_cert.clone()]);
    assert_eq!(again.ca_fingerprint(), pki.ca_fingerprint());
    assert!(
        openssl_verify(&pki.paths.ca_cert, &pki.paths.client_cert, "sslclient")
            .status
            .success()
    );

    // Renewal when the leaves are about to expire (clock moved 800 days ahead).
    let later = SystemTime::now() + Duration::from_secs(800 * 86_400);
    let renewed = DevPki::ensure_at(&tmp.0, later).unwrap();
    assert_eq!(renewed.renewed.len(), 2, "{:?}", renewed.renewed);

    fs::remove_file(&pki.paths.ca_key).unwrap();
    let err = DevPki::ensure(&tmp.0).unwrap_err();
    assert!(err.to_string().contains("ca.key is missing"), "{err}");
}

#[test]
fn openssl_verifies_the_generated_chains() {
    let tmp = TempDir::new("verify");
    let pki = DevPki::ensure(&tmp.0).unwrap();
    let p = &pki.paths;
    for (cert, purpose) in [(&p.server_cert, "sslserver"), (&p.client_cert, "sslclient")] {
        let out = openssl_verify(&p.ca_cert, cert, purpose);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains(": OK"),
            "openssl verify {}: {stdout} {}",
            cert.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The server certificate is not good for a client, nor the client's for a server.
    assert!(!openssl_verify(&p.ca_cert, &p.server_cert, "sslclient")
        .status
        .success());
    assert!(!openssl_verify(&p.ca_cert, &p.client_cert, "sslserver")
        .status
        .success());

    // The keys are PKCS#8 that openssl reads, and match their certificates.
    for (cert, key) in [
        (&p.server_cert, &p.server_key),
        (&p.client_cert, &p.client_key),
    ] {
        let mut from_cert = openssl();
        from_cert
            .args(["x509", "-noout", "-pubkey", "-in"])
            .arg(cert);
        let mut from_key = openssl();
        from_key.args(["pkey", "-pubout", "-in"]).arg(key);
        let (a, b) = (run_bounded(from_cert), run_bounded(from_key));
        assert!(a.status.success() && b.status.success());
        assert_eq!(
            a.stdout,
            b.stdout,
            "{} does not match {}",
            key.display(),
            cert.display()
        );
    }
}

#[test]
fn issued_server_and_client_certificates_verify() {
    let tmp = TempDir::new("issue");
    let pki = DevPki::ensure(&tmp.0).unwrap();
    let out = tmp.0.join("out");
    let names = vec![
        "broker.example.com".to_owned(),
        "192.0.2.10".to_owned(),
        "*.iot.example.com".to_owned(),
    ];
    let issued = pki.issue_server(&names, KeyType::EcdsaP384, &out).unwrap();
    assert_eq!(issued.cert_path, out.join("broker.example.com.pem"));
    assert_eq!(issued.key_path, out.join("broker.example.com.key"));
    #[cfg(unix)]
    assert_eq!(mode(&issued.key_path), 0o600);
    let d = describe_pem(&fs::read(&issued.cert_path).unwrap(), SystemTime::now()).unwrap();
    let leaf = &d.certificates[0];
    assert_eq!(leaf.der, issued.der);
    assert_eq!(
        leaf.key,
        KeyDescription::Ecdsa {
            curve: "P-384".into()
        }
    );
    assert_eq!(
        leaf.sans,
        vec![
            San::Dns("broker.example.com".into()),
            San::Ip("192.0.2.10".parse().unwrap()),
            San::Dns("*.iot.example.com".into()),
        ]
    );
    let v = openssl_verify(&pki.paths.ca_cert, &issued.cert_path, "sslserver");
    assert!(v.status.success(), "{v:?}");

    let sans = vec![
        "uri:spiffe://acme/dev-7".parse::<San>().unwrap(),
        "email:dev-7@acme.example".parse().unwrap(),
        "dns:dev-7.acme.example".parse().unwrap(),
    ];
    let client = pki
        .issue_client("dev-7", &sans, KeyType::EcdsaP256, &out)
        .unwrap();
    assert_eq!(client.cert_path, out.join("dev-7.pem"));
    let v = openssl_verify(&pki.paths.ca_cert, &client.cert_path, "sslclient");
    assert!(v.status.success(), "{v:?}");
    let id = |s| lantern_pki::identity_of(&client.der, s).unwrap();
    assert_eq!(id(IdentitySource::CommonName).as_deref(), Some("dev-7"));
    assert_eq!(
        id(IdentitySource::SanUri).as_deref(),
        Some("spiffe://acme/dev-7")
    );
    assert_eq!(
        id(IdentitySource::SanEmail).as_deref(),
        Some("dev-7@acme.example")
    );
    assert_eq!(
        id(IdentitySource::SanDns).as_deref(),
        Some("dev-7.acme.example")
    );
    assert_eq!(id(IdentitySource::Dn).as_deref(), Some("CN=dev-7"));

    assert!(pki.issue_server(&[], KeyType::EcdsaP256, &out).is_err());
    assert!(pki
        .issue_server(&["bad name".to_owned()], KeyType::EcdsaP256, &out)
        .is_err());
}

#[test]
fn first_run_instructions_are_ready_to_paste() {
    let tmp = TempDir::new("instructions");
    let pki = DevPki::ensure(&tmp.0).unwrap();
    let text = pki.first_run_instructions(8883);
    let ca = pki.paths.ca_cert.display().to_string();
    assert!(
        text.contains(&format!(
            "mosquitto_sub -h localhost -p 8883 --cafile {ca} -t '#' -v"
        )),
        "{text}"
    );
    assert!(text.contains(&format!(
        "--cert {} --key {}",
        pki.paths.client_cert.display(),
        pki.paths.client_key.display()
    )));
    let len = fs::metadata(&pki.paths.ca_cert).unwrap().len();
    assert!(
        text.contains(&format!(
            "ca.pem is {len} bytes, LF line endings — the length AT+CCERTDOWN=\"ca.pem\",{len} needs on a SIMCom modem"
        )),
        "{text}"
    );
    assert!(text.contains(std::str::from_utf8(pki.ca_pem()).unwrap()));
}

/// A port that was free a moment ago (s_server cannot report an OS-chosen port portably).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, server: &mut KillOnDrop) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Some(status) = server.0.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(stderr) = server.0.stderr.as_mut() {
                let _ = stderr.read_to_string(&mut err);
            }
            panic!("openssl s_server exited early ({status}): {err}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("openssl s_server did not listen on {port} within {WAIT:?}");
}

fn s_client(port: u16, ca: &Path, extra: &[&Path], extra_args: &[&str]) -> String {
    let mut cmd = openssl();
    cmd.arg("s_client")
        .arg("-connect")
        .arg(format!("127.0.0.1:{port}"))
        .args([
            "-servername",
            "localhost",
            "-verify_hostname",
            "localhost",
            "-verify_return_error",
            "-brief",
        ])
        .arg("-CAfile")
        .arg(ca)
        .args(extra_args);
    for (flag, path) in ["-cert", "-key"].iter().zip(extra) {
        cmd.arg(flag).arg(path);
    }
    let out = run_bounded(cmd);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn tls_handshake_with_openssl_s_server_and_s_client() {
    let tmp = TempDir::new("tls");
    let pki = DevPki::ensure(&tmp.0).unwrap();
    let p = &pki.paths;

    // Try a few ports in case another process grabs the one we picked.
    let mut attempt = 0;
    let (mut server, port) = loop {
        attempt += 1;
        let port = free_port();
        let mut cmd = openssl();
        cmd.arg("s_server")
            .arg("-accept")
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(&p.server_cert)
            .arg("-key")
            .arg(&p.server_key)
            .arg("-CAfile")
            .arg(&p.ca_cert)
            .args(["-Verify", "1", "-quiet"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut server = KillOnDrop(cmd.spawn().unwrap());
        std::thread::sleep(Duration::from_millis(100));
        if server.0.try_wait().unwrap().is_none() || attempt == 3 {
            wait_for_port(port, &mut server);
            break (server, port);
        }
    };

    // The server demands a client certificate (-Verify 1): mutual TLS with the dev client.
    let out = s_client(port, &p.ca_cert, &[&p.client_cert, &p.client_key], &[]);
    assert!(
        out.contains("Verification: OK") || out.contains("Verify return code: 0"),
        "handshake failed:\n{out}"
    );

    // Under TLS 1.2 the server checks the client certificate inside the handshake, so the
    // server side of mTLS is observable too: with the dev client certificate it completes,
    // without one it does not.
    let out = s_client(
        port,
        &p.ca_cert,
        &[&p.client_cert, &p.client_key],
        &["-tls1_2"],
    );
    assert!(
        out.contains("CONNECTION ESTABLISHED"),
        "TLS 1.2 mTLS handshake failed:\n{out}"
    );
    let out = s_client(port, &p.ca_cert, &[], &["-tls1_2"]);
    assert!(
        !out.contains("CONNECTION ESTABLISHED"),
        "server accepted a client without a certificate:\n{out}"
    );

    // A client trusting a different CA must fail verification.
    let other = TempDir::new("tls-other");
    let other_pki = DevPki::ensure(&other.0).unwrap();
    let out = s_client(
        port,
        &other_pki.paths.ca_cert,
        &[&p.client_cert, &p.client_key],
        &[],
    );
    assert!(
        !out.contains("Verification: OK") && out.contains("verify"),
        "a foreign CA was accepted:\n{out}"
    );

    let _ = server.0.kill();
    let _ = server.0.wait();
}
