//! Describing certificates in plain words, against a fixed `now`.
//!
//! `fixtures/rsa2048-dev-1.pem` was made once with
//! `openssl req -x509 -newkey rsa:2048 -days 365 -subj "/C=NZ/O=Acme, Ltd/OU=Sensors\+Field/CN=dev-1"
//! -addext "subjectAltName=DNS:dev-1.acme.example,URI:spiffe://acme/dev-1,email:dev-1@acme.example,IP:10.0.0.7"
//! -addext extendedKeyUsage=clientAuth`; its key was discarded. The expected values below are what
//! `openssl x509 -noout -subject -nameopt RFC2253 -dates -fingerprint -sha256 -serial` printed.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lantern_pki::{
    describe_pem, fingerprint_sha256, identity_of, IdentitySource, Ignored, InputFormat,
    KeyDescription, LineEndings, PkiError, San, Validity,
};

const FIXTURE: &[u8] = include_bytes!("fixtures/rsa2048-dev-1.pem");
/// notBefore = Nov 22 21:33:08 2026 GMT.
const NOT_BEFORE: u64 = 1_795_383_188;
/// notAfter = Nov 22 21:33:08 2027 GMT.
const NOT_AFTER: u64 = 1_826_919_188;
const FINGERPRINT: &str = "CA:D3:D8:42:A4:34:98:B9:84:32:F1:8B:0F:97:75:65:28:2F:55:3C:15:C3:DE:0C:F9:61:C0:C1:ED:D4:0F:05";
const DAY: u64 = 86_400;

fn at(unix: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix)
}

fn fixture_der() -> Vec<u8> {
    describe_pem(FIXTURE, at(NOT_BEFORE)).unwrap().certificates[0]
        .der
        .clone()
}

#[test]
fn describes_an_openssl_rsa_certificate() {
    let d = describe_pem(FIXTURE, at(NOT_BEFORE + 100 * DAY)).unwrap();
    assert_eq!(d.format, InputFormat::Pem);
    assert_eq!(d.line_endings, LineEndings::Lf);
    assert!(!d.has_bom);
    assert!(d.ignored.is_empty());
    assert_eq!(d.certificates.len(), 1);
    let c = &d.certificates[0];
    assert_eq!(c.subject, r"CN=dev-1,OU=Sensors\+Field,O=Acme\, Ltd,C=NZ");
    assert_eq!(c.issuer, c.subject);
    assert!(c.self_signed);
    assert_eq!(c.key, KeyDescription::Rsa { bits: 2048 });
    assert_eq!(c.key.to_string(), "RSA 2048");
    assert_eq!(c.signature_algorithm, "RSA with SHA-256");
    assert_eq!(c.fingerprint_sha256, FINGERPRINT);
    assert_eq!(
        c.serial,
        "3F:73:C5:14:32:4C:DC:66:A9:BE:1D:E3:E6:13:C5:B0:A1:9E:77:2A"
    );
    assert_eq!(
        c.sans,
        vec![
            San::Dns("dev-1.acme.example".into()),
            San::Uri("spiffe://acme/dev-1".into()),
            San::Email("dev-1@acme.example".into()),
            San::Ip("10.0.0.7".parse().unwrap()),
        ]
    );
    assert_eq!(c.eku, vec!["clientAuth".to_owned()]);
    assert!(!c.allows_server_auth());
    assert_eq!(
        c.validity,
        Validity::Valid {
            expires_in: Duration::from_secs(265 * DAY)
        }
    );
    assert_eq!(c.line, Some(1));
    let text = c.to_string();
    assert_eq!(
        text,
        format!(
            "subject CN=dev-1,OU=Sensors\\+Field,O=Acme\\, Ltd,C=NZ; self-signed; valid 2026-11-22 to 2027-11-22 \
             (expires in 265 days); RSA 2048; SANs: DNS dev-1.acme.example, URI spiffe://acme/dev-1, \
             email dev-1@acme.example, IP 10.0.0.7; CA certificate; for clientAuth; SHA-256 fingerprint {FINGERPRINT}"
        )
    );
}

#[test]
fn validity_is_judged_at_the_given_now() {
    let before = describe_pem(FIXTURE, at(NOT_BEFORE - 3 * 3600)).unwrap();
    assert_eq!(
        before.certificates[0].validity,
        Validity::NotYetValid {
            starts_in: Duration::from_secs(3 * 3600)
        }
    );
    assert!(before.certificates[0]
        .to_string()
        .contains("NOT YET VALID: starts in 3 hours"));

    let after = describe_pem(FIXTURE, at(NOT_AFTER + 3 * DAY)).unwrap();
    assert_eq!(
        after.certificates[0].validity,
        Validity::Expired {
            ago: Duration::from_secs(3 * DAY)
        }
    );
    assert!(after.certificates[0]
        .to_string()
        .contains("EXPIRED 3 days ago"));

    // Both ends of the validity period are inclusive (RFC 5280 §4.1.2.5).
    for edge in [NOT_BEFORE, NOT_AFTER] {
        let d = describe_pem(FIXTURE, at(edge)).unwrap();
        assert!(
            matches!(d.certificates[0].validity, Validity::Valid { .. }),
            "{edge}"
        );
    }
}

#[test]
fn crlf_bom_and_surrounding_text_are_accepted_and_reported() {
    let text = std::str::from_utf8(FIXTURE).unwrap();
    let crlf = format!(
        "\u{feff}Bag Attributes\r\nsubject=CN=dev-1\r\n{}\r\n\r\ntrailing garbage\r\n",
        text.replace('\n', "\r\n")
    );
    let d = describe_pem(crlf.as_bytes(), at(NOT_BEFORE)).unwrap();
    assert_eq!(d.line_endings, LineEndings::Crlf);
    assert!(d.has_bom);
    assert_eq!(d.certificates.len(), 1);
    assert_eq!(d.certificates[0].fingerprint_sha256, FINGERPRINT);
    assert_eq!(d.certificates[0].line, Some(3));
    let last = crlf.lines().count();
    assert_eq!(
        d.ignored,
        vec![
            Ignored::Text {
                first_line: 1,
                last_line: 2
            },
            Ignored::Text {
                first_line: last,
                last_line: last
            },
        ]
    );
    assert_eq!(
        d.ignored[0].to_string(),
        "lines 1-2 are not part of any PEM block"
    );

    let mixed = format!("{}{}", text, text.replace('\n', "\r\n"));
    let d = describe_pem(mixed.as_bytes(), at(NOT_BEFORE)).unwrap();
    assert_eq!(d.line_endings, LineEndings::Mixed);
    assert_eq!(d.certificates.len(), 2);
}

#[test]
fn der_input_is_accepted_and_trailing_bytes_reported() {
    let der = fixture_der();
    let d = describe_pem(&der, at(NOT_BEFORE)).unwrap();
    assert_eq!(d.format, InputFormat::Der);
    assert_eq!(d.line_endings, LineEndings::None);
    assert_eq!(d.certificates[0].fingerprint_sha256, FINGERPRINT);
    assert_eq!(fingerprint_sha256(&der), FINGERPRINT);

    let mut with_junk = der.clone();
    with_junk.extend_from_slice(b"\x00\x01junk");
    let d = describe_pem(&with_junk, at(NOT_BEFORE)).unwrap();
    assert_eq!(d.ignored, vec![Ignored::TrailingBytes { count: 6 }]);
}

#[test]
fn a_key_pem_is_refused_without_showing_key_material() {
    let key = rcgen::KeyPair::generate().unwrap();
    let pem = key.serialize_pem();
    let err = describe_pem(pem.as_bytes(), at(NOT_BEFORE)).unwrap_err();
    assert!(
        matches!(&err, PkiError::NotACertificate { label, line: 1 } if label == "PRIVATE KEY"),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("PRIVATE KEY"), "{message}");
    assert!(message.contains("not shown"), "{message}");
    for line in pem.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!message.contains(line), "key material in {message}");
        assert!(!format!("{err:?}").contains(line), "key material in Debug");
        // Not even a fragment of it.
        assert!(!message.contains(&line[..16]));
    }

    // A certificate followed by its key: the certificate is described, the key skipped unread.
    let both = format!("{}{}", std::str::from_utf8(FIXTURE).unwrap(), pem);
    let d = describe_pem(both.as_bytes(), at(NOT_BEFORE)).unwrap();
    assert_eq!(d.certificates.len(), 1);
    assert!(matches!(&d.ignored[..], [Ignored::Block { label, .. }] if label == "PRIVATE KEY"));
    assert!(d.ignored[0].to_string().contains("does not belong"));
}

#[test]
fn broken_inputs_give_located_errors() {
    assert!(matches!(
        describe_pem(b"", SystemTime::now()),
        Err(PkiError::Empty)
    ));
    assert!(matches!(
        describe_pem(b"hello\n", SystemTime::now()),
        Err(PkiError::NotPemOrDer)
    ));

    let text = std::str::from_utf8(FIXTURE).unwrap();
    let cut = &text[..text.len() / 2];
    let err = describe_pem(cut.as_bytes(), SystemTime::now()).unwrap_err();
    assert!(
        matches!(err, PkiError::MalformedPem { line: 1, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("no matching -----END CERTIFICATE-----"),
        "{err}"
    );

    // Valid base64, but not a certificate.
    let fake = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let err = describe_pem(fake.as_bytes(), SystemTime::now()).unwrap_err();
    assert!(
        matches!(
            err,
            PkiError::BadCertificate {
                index: 1,
                line: Some(1),
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn identity_of_each_source() {
    let der = fixture_der();
    let id = |source| identity_of(&der, source).unwrap();
    assert_eq!(id(IdentitySource::CommonName).as_deref(), Some("dev-1"));
    assert_eq!(
        id(IdentitySource::SanDns).as_deref(),
        Some("dev-1.acme.example")
    );
    assert_eq!(
        id(IdentitySource::SanUri).as_deref(),
        Some("spiffe://acme/dev-1")
    );
    assert_eq!(
        id(IdentitySource::SanEmail).as_deref(),
        Some("dev-1@acme.example")
    );
    assert_eq!(
        id(IdentitySource::Dn).as_deref(),
        Some(r"CN=dev-1,OU=Sensors\+Field,O=Acme\, Ltd,C=NZ")
    );
    assert_eq!(
        id(IdentitySource::FingerprintSha256).as_deref(),
        Some(FINGERPRINT)
    );

    assert!(identity_of(b"\x30\x03\x02\x01\x00", IdentitySource::CommonName).is_err());
}

#[test]
fn identity_of_absent_fields_is_none() {
    // An rcgen certificate with no CN and no SANs.
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Acme");
    let cert = params.self_signed(&key).unwrap();
    let der = cert.der().to_vec();
    for source in [
        IdentitySource::CommonName,
        IdentitySource::SanDns,
        IdentitySource::SanUri,
        IdentitySource::SanEmail,
    ] {
        assert_eq!(identity_of(&der, source).unwrap(), None, "{source}");
    }
    assert_eq!(
        identity_of(&der, IdentitySource::Dn).unwrap().as_deref(),
        Some("O=Acme")
    );
}
