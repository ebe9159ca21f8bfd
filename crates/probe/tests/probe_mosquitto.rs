//! `lantern probe` against a local Eclipse Mosquitto 2.0 (Debian package `mosquitto`, OpenSSL 3)
//! with TLS: the probe must report what is true of a broker it did not write — versions,
//! suites (OpenSSL accepts CBC; the ECDSA development certificate rules out every RSA suite),
//! SNI ignored, the chain — every profile's verdict, and a `--save-ca` file that
//! `mosquitto_pub --cafile` accepts.
//!
//! Fails when `mosquitto` or `mosquitto_pub` is not installed (CI installs both): a missing
//! tool never turns into a pass. Every wait is bounded; the port is found free by the OS.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lantern_probe::probe::{self, Plan, Profile, Report};

/// A mosquitto process, killed on drop.
struct Mosquitto {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn mosquitto_exe() -> Option<PathBuf> {
    [
        "/usr/sbin/mosquitto",
        "/usr/local/sbin/mosquitto",
        "/usr/bin/mosquitto",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

fn scratch(what: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "lantern-probe-{what}-{}-{nanos}",
        std::process::id()
    ));
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Mosquitto with the development PKI's server certificate (ECDSA P-256, CN=localhost, SAN
/// 127.0.0.1) on a TLS listener with `tls_version tlsv1.2` (mosquitto 2.0: the minimum).
fn start_mosquitto(exe: &Path, pki_dir: &Path) -> Mosquitto {
    let dir = scratch("mosquitto");
    // mosquitto drops root privileges before it reads the key: give it world-readable copies.
    let pki = lantern_pki::DevPkiPaths::new(pki_dir);
    for (from, to) in [
        (&pki.ca_cert, "ca.pem"),
        (&pki.server_cert, "server.pem"),
        (&pki.server_key, "server.key"),
    ] {
        fs::copy(from, dir.join(to)).unwrap();
        set_mode(&dir.join(to), 0o644);
    }
    set_mode(&dir, 0o755);
    for _attempt in 0..5 {
        let port = free_port();
        let conf = dir.join("mosquitto.conf");
        fs::write(
            &conf,
            format!(
                "per_listener_settings false\nallow_anonymous true\npersistence false\nlog_dest stderr\n\
                 listener {port} 127.0.0.1\ncafile {d}/ca.pem\ncertfile {d}/server.pem\nkeyfile {d}/server.key\n\
                 tls_version tlsv1.2\n",
                d = dir.display()
            ),
        )
        .unwrap();
        let child = Command::new(exe)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.join("log")).unwrap())
            .spawn()
            .unwrap();
        let mut m = Mosquitto {
            child,
            port,
            dir: dir.clone(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return m;
            }
            if let Ok(Some(_)) = m.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = m.child.kill();
        let _ = m.child.wait();
        eprintln!(
            "mosquitto did not start on {port}:\n{}",
            fs::read_to_string(dir.join("log")).unwrap_or_default()
        );
        std::mem::forget(m);
    }
    panic!("mosquitto did not start");
}

#[cfg(unix)]
fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) {}

fn probe(plan: &Plan) -> Report {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(90), probe::run(plan))
            .await
            .expect("the probe finished within 90 s")
            .expect("no usage error")
    })
}

fn verdict<'a>(r: &'a Report, name: &str) -> &'a probe::ProfileVerdict {
    r.profiles
        .iter()
        .find(|p| p.profile == name)
        .unwrap_or_else(|| panic!("no verdict for {name}"))
}

#[test]
fn probe_maps_mosquitto_with_tls_and_its_saved_ca_works_for_mosquitto_pub() {
    // A missing broker is a failure, never a skip: CI installs mosquitto (`.ci/run`).
    let exe = mosquitto_exe()
        .expect("mosquitto is not installed (apt-get install mosquitto); this test needs it");
    let data = scratch("pki");
    lantern_pki::DevPki::ensure(&data).unwrap();
    let pki = lantern_pki::DevPkiPaths::new(&data);
    let m = start_mosquitto(&exe, &data);

    let saved = data.join("saved-ca.pem");
    let mut plan = Plan::new(&format!("mqtts://127.0.0.1:{}", m.port)).unwrap();
    plan.ca_pem = Some(fs::read(&pki.ca_cert).unwrap());
    plan.timeout = Duration::from_secs(5);
    plan.save_ca = Some(saved.clone());
    plan.profile = Profile::find("esp-idf");
    let r = probe(&plan);
    let text = r.to_text();

    // The walk.
    assert!(r.connects(), "{text}");
    assert_eq!(r.exit_code(), 0);
    assert!(r.connections <= probe::MAX_CONNECTIONS);
    let tls = r.tls.as_ref().expect("a TLS map");

    // Versions: `tls_version tlsv1.2` is the minimum in mosquitto 2.0, so 1.3 is on too.
    assert_eq!(tls.accepted_versions, ["TLSv1.2", "TLSv1.3"], "{text}");
    for v in &tls.versions[..2] {
        assert!(v.answer.contains("protocol_version"), "{text}");
    }

    // Suites: OpenSSL serves ECDHE-ECDSA with GCM, ChaCha20 and CBC for the ECDSA certificate;
    // every RSA-authenticated suite (ECDHE-RSA, DHE-RSA, static RSA) is refused.
    let accepted = |id: u16| tls.suites.iter().any(|s| s.id == id && s.accepted);
    for id in [
        0x1301, 0x1302, 0x1303, 0xC02B, 0xC02C, 0xCCA9, 0xC023, 0xC024, 0xC009, 0xC00A,
    ] {
        assert!(accepted(id), "0x{id:04X} not accepted:\n{text}");
    }
    for id in [
        0xC02F, 0xC030, 0xCCA8, 0xC013, 0x009E, 0x009C, 0x009D, 0x003D, 0x002F, 0x0035,
    ] {
        assert!(!accepted(id), "0x{id:04X} accepted:\n{text}");
    }

    // SNI: mosquitto ignores it (an IP URL sends none; a wrong name gets the same certificate,
    // and CONNECT is accepted after both).
    assert!(!tls.sni.required, "{text}");
    for case in &tls.sni.cases {
        assert!(case.accepted, "{text}");
        assert_eq!(
            case.after_connect.as_deref(),
            Some("CONNACK 0x00: accepted"),
            "{text}"
        );
    }
    let wrong = tls
        .sni
        .cases
        .iter()
        .find(|c| c.case == "wrong name")
        .unwrap();
    assert_eq!(
        wrong.same_certificate, None,
        "no host-name case to compare with for an IP URL"
    );

    // The chain: CN=localhost with 127.0.0.1, ECDSA P-256, then the development CA.
    let chain = &tls.chains[0];
    let leaf = &chain.certificates[0];
    assert_eq!(leaf.subject, "CN=localhost");
    assert!(
        leaf.sans.contains(&"IP 127.0.0.1".to_owned()),
        "{:?}",
        leaf.sans
    );
    assert_eq!(leaf.key, "ECDSA P-256");
    assert!(leaf.valid_now);
    assert_eq!(chain.verified, Some(true), "{text}");
    assert!(chain
        .root_needed
        .as_deref()
        .unwrap_or("")
        .contains("Lantern Development CA"));
    assert!(chain.root_sent);

    // OpenSSL implements max_fragment_length; mosquitto sets no ALPN.
    assert_eq!(tls.max_fragment_length.supported, Some(true), "{text}");
    assert_eq!(tls.alpn.negotiated, None);

    // Profiles: the static-RSA devices find no suite (ECDSA certificate); the rest connect.
    assert_eq!(r.profiles.len(), probe::PROFILES.len());
    assert_eq!(
        r.profiles[0].profile, "esp-idf",
        "the requested profile comes first"
    );
    for name in ["simcom-legacy", "mbedtls-static-rsa"] {
        let v = verdict(&r, name);
        assert!(!v.connects, "{text}");
        assert_eq!(v.cause.as_deref(), Some("tls.no_shared_cipher"), "{text}");
        assert!(
            v.verdict.contains("the server accepts none of the"),
            "{}",
            v.verdict
        );
    }
    assert!(verdict(&r, "mbedtls-static-rsa")
        .verdict
        .contains("none of the 2 suites it offers"));
    for name in ["simcom-current", "esp-idf", "nrf91", "modern"] {
        let v = verdict(&r, name);
        assert!(v.connects, "{name}: {}\n{text}", v.verdict);
        assert!(v
            .verdict
            .contains(&format!("A device with profile {name} will connect")));
    }
    // The nRF91 modem's list has no ECDHE-ECDSA GCM-256, so OpenSSL picks from what it has.
    assert!(verdict(&r, "nrf91")
        .answer
        .contains("TLS_ECDHE_ECDSA_WITH_AES_"));

    // --save-ca: PEM, LF only, the length reported, and mosquitto_pub trusts it.
    let saved_info = r.saved_ca.as_ref().expect("--save-ca wrote the root");
    let pem = fs::read(&saved).unwrap();
    assert_eq!(pem.len(), saved_info.bytes);
    assert!(!pem.contains(&b'\r'));
    assert!(pem.starts_with(b"-----BEGIN CERTIFICATE-----\n"));
    let described = lantern_pki::describe_pem(&pem, std::time::SystemTime::now()).unwrap();
    let ca = lantern_pki::describe_pem(
        &fs::read(&pki.ca_cert).unwrap(),
        std::time::SystemTime::now(),
    )
    .unwrap();
    assert_eq!(described.certificates[0].der, ca.certificates[0].der);
    let port = m.port.to_string();
    let out = run_bounded(
        Command::new("mosquitto_pub").args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "--cafile",
            &saved.display().to_string(),
            "-t",
            "lantern-probe/saved-ca",
            "-m",
            "hello",
            "-q",
            "1",
        ]),
        Duration::from_secs(15),
    );
    match out {
        Some(status) => assert!(status, "mosquitto_pub --cafile {} failed", saved.display()),
        None => panic!("mosquitto_pub is not installed (apt-get install mosquitto-clients)"),
    }
    let _ = fs::remove_dir_all(&data);
}

/// Runs a command with a time limit; None when the program does not exist.
fn run_bounded(cmd: &mut Command, limit: Duration) -> Option<bool> {
    let mut child = match cmd.stdout(Stdio::null()).stderr(Stdio::inherit()).spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("{e}"),
    };
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status.success());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the command did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
