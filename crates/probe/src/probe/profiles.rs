//! Device profiles: the ClientHello and client behaviour of real device TLS stacks, as data.
//!
//! Each profile says where its facts come from. Facts read off a captured hello (field report
//! 002, the mosquitto_pub capture in `crates/diag/tests/fixtures`) are exact; facts taken from
//! vendor documentation are as documented; anything reconstructed is marked as an assumption in
//! its [`Source`], so that `lantern probe --list-profiles` never claims more than is known.

use serde::Serialize;

use super::wire::{group, version, HelloSpec};

/// Where one fact of a profile comes from.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Source {
    /// The fact.
    pub fact: &'static str,
    /// The reference: a seed file, a vendor document, a capture.
    pub reference: &'static str,
    /// True when the fact is reconstructed rather than read off a capture or a document.
    pub assumption: bool,
}

/// A device TLS stack: what its ClientHello offers and how it sets SNI.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Profile {
    /// The name `--profile` takes.
    pub name: &'static str,
    /// The device, firmware and settings it stands for.
    pub description: &'static str,
    /// TLS versions offered, highest first.
    pub versions: &'static [u16],
    /// Cipher suites offered (IANA numbers), in the device's order, SCSVs included.
    pub suites: &'static [u16],
    /// Whether the device sends SNI (the broker's host name).
    pub sni: bool,
    /// supported_groups.
    pub groups: &'static [u16],
    /// signature_algorithms.
    pub signature_algorithms: &'static [u16],
    /// ALPN protocols.
    pub alpn: &'static [&'static str],
    /// ec_point_formats, encrypt_then_mac, extended_master_secret, session_ticket,
    /// renegotiation_info: the other extensions it sends.
    pub extensions: &'static [&'static str],
    /// How to turn SNI on for this device (used in verdicts).
    pub sni_fix: &'static str,
    /// How to widen its suites or versions (used in verdicts).
    pub suite_fix: &'static str,
    /// Where the facts come from.
    pub sources: &'static [Source],
}

/// mbedTLS 2.x/3.x TLS 1.2 signature_algorithms for RSA and ECDSA with SHA-2 and SHA-1.
const MBEDTLS_SIG_ALGS: &[u16] = &[
    0x0603, 0x0601, 0x0503, 0x0501, 0x0403, 0x0401, 0x0303, 0x0301, 0x0203, 0x0201,
];

/// Every profile, in the order `--list-profiles` shows them.
pub const PROFILES: &[Profile] = &[
    Profile {
        name: "simcom-legacy",
        description: "SIMCom SIM7600 (firmware LE11B14) / A7670 (B03) with default AT+CSSLCFG settings: the modem's own TLS, static-RSA CBC suites, SNI off",
        versions: &[version::TLS12],
        suites: &[0x003D, 0x0035, 0x003C, 0x002F, 0x00FF],
        sni: false,
        groups: &[],
        signature_algorithms: &[0x0601, 0x0501, 0x0401, 0x0201],
        alpn: &[],
        extensions: &[],
        sni_fix: "AT+CSSLCFG=\"enableSNI\",0,1 before AT+CMQTTCONNECT",
        suite_fix: "AT+CSSLCFG=\"ciphersuites\",0,0xFFFF and a modem firmware update (SIM7600: LE20B04 or later)",
        sources: &[
            Source {
                fact: "SNI off by default; enabled with AT+CSSLCFG=\"enableSNI\",0,1 (the 9th field of AT+CSSLCFG? is 0)",
                reference: "seed 001 (Xinyuan-LilyGO/T-SIM7600X#49: +CSSLCFG: 0,4,0,1,300,\"\",\"\",\"\",0,\"\",0x0)",
                assumption: false,
            },
            Source {
                fact: "handshake failures (+CMQTTCONNECT: 0,32) against TLS 1.2/1.3 ECDHE-GCM clouds (HiveMQ, EMQX) until a firmware update; works with AWS IoT, whose policy still accepts CBC and static RSA",
                reference: "seed 001; AWS IoT Core transport security policies",
                assumption: false,
            },
            Source {
                fact: "the exact suite list (static RSA with AES-CBC only: 0x003D, 0x0035, 0x003C, 0x002F) and signature algorithms",
                reference: "reconstructed from the SIM7500/SIM7600 SSL application note's <ciphersuites> table (0x002F TLS_RSA_WITH_AES_128_CBC_SHA, 0xFFFF all) and the symptoms in seed 001",
                assumption: true,
            },
            Source {
                fact: "TLS 1.2 as the highest version (sslversion 4 = all up to 1.2)",
                reference: "seed 001 (AT+CSSLCFG=\"sslversion\",0,4); SIMCom SSL application note",
                assumption: false,
            },
        ],
    },
    Profile {
        name: "simcom-current",
        description: "SIMCom SIM7600 firmware LE20B04 (or A7670 B04+) with AT+CSSLCFG=\"enableSNI\",0,1 and \"ciphersuites\",0,0xFFFF: TLS 1.2 with ECDHE suites and SNI",
        versions: &[version::TLS12],
        suites: &[
            0xC02F, 0xC030, 0xC02B, 0xC02C, 0xC013, 0xC014, 0xC009, 0xC00A, 0x009C, 0x009D,
            0x002F, 0x0035, 0x00FF,
        ],
        sni: true,
        groups: &[group::SECP256R1, group::SECP384R1],
        signature_algorithms: MBEDTLS_SIG_ALGS,
        alpn: &[],
        extensions: &["ec_point_formats", "extended_master_secret"],
        sni_fix: "AT+CSSLCFG=\"enableSNI\",0,1 before AT+CMQTTCONNECT",
        suite_fix: "AT+CSSLCFG=\"ciphersuites\",0,0xFFFF and AT+CSSLCFG=\"sslversion\",0,4",
        sources: &[
            Source {
                fact: "after the update to LE20B04V03 and with SNI enabled, connects to HiveMQ Cloud and EMQX Cloud (TLS 1.2/1.3, ECDHE-GCM only)",
                reference: "seed 001 (MisterRoy's AT transcript)",
                assumption: false,
            },
            Source {
                fact: "the exact suite list, groups and signature algorithms (ECDHE-RSA/ECDSA GCM and CBC, static RSA as fallback; P-256/P-384)",
                reference: "reconstructed: the firmware must offer ECDHE-GCM to reach those clouds; the rest mirrors common modem TLS stacks",
                assumption: true,
            },
        ],
    },
    Profile {
        name: "esp-idf",
        description: "ESP32 with ESP-IDF 5.x esp-tls / esp-mqtt and mbedTLS 3.x defaults (TLS 1.2; TLS 1.3 is off unless CONFIG_MBEDTLS_SSL_PROTO_TLS1_3), SNI from the broker URI",
        versions: &[version::TLS12],
        suites: &[
            0xC02C, 0xC030, 0xC0AD, 0xCCA9, 0xCCA8, 0xC024, 0xC028, 0xC00A, 0xC014, 0xC02B,
            0xC02F, 0xC0AC, 0xC023, 0xC027, 0xC009, 0xC013, 0x009D, 0xC09D, 0x003D, 0x0035,
            0x009C, 0xC09C, 0x003C, 0x002F, 0x00FF,
        ],
        sni: true,
        groups: &[group::X25519, group::SECP256R1, group::SECP384R1, 25],
        signature_algorithms: &[0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601],
        alpn: &[],
        extensions: &[
            "ec_point_formats",
            "encrypt_then_mac",
            "extended_master_secret",
            "session_ticket",
        ],
        sni_fix: "esp-tls sends the host of the broker URI; with a custom transport (esp_modem AT sockets) set esp_tls_cfg_t.common_name",
        suite_fix: "menuconfig → Component config → mbedTLS: enable the ECDHE key exchanges, AES-GCM and (for TLS 1.3) CONFIG_MBEDTLS_SSL_PROTO_TLS1_3",
        sources: &[
            Source {
                fact: "ESP-IDF uses a fork of Mbed TLS; Mbed TLS 3.x supports TLS 1.2 and 1.3 (1.3 opt-in)",
                reference: "https://docs.espressif.com/projects/esp-idf/en/latest/api-reference/protocols/mbedtls.html",
                assumption: false,
            },
            Source {
                fact: "esp-tls sets SNI from the broker URI host, or esp_tls_cfg_t.common_name; a custom AT transport may skip it",
                reference: "seed 000 (ESP-IDF 5.1.2 + esp_modem + A7670, closed after CONNECT); lantern-diag no_sni fixes",
                assumption: false,
            },
            Source {
                fact: "suite order (AES-256 before AES-128, GCM/CCM/ChaCha before CBC, ECDHE before static RSA) and extension order",
                reference: "Mbed-TLS library/ssl_ciphersuites.c ciphersuite_preference and ssl_tls12_client.c; the subset assumes ESP-IDF's default menuconfig key exchanges (RSA, ECDHE-RSA, ECDHE-ECDSA)",
                assumption: true,
            },
        ],
    },
    Profile {
        name: "mbedtls-static-rsa",
        description: "STM32 + W5500 with an mbedTLS build that offers only static-RSA suites (field report 002): no SNI, one extension",
        versions: &[version::TLS12],
        suites: &[0x009C, 0x003D, 0x00FF],
        sni: false,
        groups: &[],
        signature_algorithms: &[0x0401, 0x0301],
        alpn: &[],
        extensions: &[],
        sni_fix: "call mbedtls_ssl_set_hostname(&ssl, \"<broker host>\") before mbedtls_ssl_handshake",
        suite_fix: "mbedTLS config: MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED or MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED with MBEDTLS_ECDH_C, MBEDTLS_ECP_DP_SECP256R1_ENABLED and MBEDTLS_GCM_C",
        sources: &[Source {
            fact: "the whole ClientHello: TLS 1.2, suites 0x009C 0x003D 0x00FF, only signature_algorithms (rsa_pkcs1_sha256, rsa_pkcs1_sha224), no SNI",
            reference: "seed 002 (W5500 MQTT and TLS: the 66-byte hello in the mbedTLS debug log)",
            assumption: false,
        }],
    },
    Profile {
        name: "nrf91",
        description: "Nordic nRF9160/nRF9151 LTE modem (modem firmware 1.3+) with TLS_HOSTNAME set: the modem's TLS 1.2 and its documented suite list",
        versions: &[version::TLS12],
        suites: &[
            0xC024, 0xC00A, 0xC023, 0xC009, 0xC014, 0xC027, 0xC013, 0x008D, 0x00AE, 0x008C,
            0xC0A8, 0xC02B, 0xC030, 0xC02F, 0x00FF,
        ],
        sni: true,
        groups: &[group::SECP256R1, group::SECP384R1],
        signature_algorithms: &[0x0603, 0x0503, 0x0403, 0x0601, 0x0501, 0x0401, 0x0203, 0x0201],
        alpn: &[],
        extensions: &["ec_point_formats", "extended_master_secret"],
        sni_fix: "setsockopt(fd, SOL_TLS, TLS_HOSTNAME, host, len) (modem firmware 1.2.1 or later)",
        suite_fix: "the suite list is fixed by the modem firmware (TLS_CIPHERSUITE_LIST can only narrow it): serve ECDHE-GCM or ECDHE-CBC on the broker",
        sources: &[
            Source {
                fact: "the cipher suites (15, including 0x00FF)",
                reference: "nrfxlib nrf_socket TLS cipher suites (docs.nordicsemi.com group_nrf_socket_tls_cipher_suites), as mirrored by the nrf-modem crate's CipherSuite enum (docs.rs/nrf-modem)",
                assumption: false,
            },
            Source {
                fact: "SNI from TLS_HOSTNAME, from modem firmware 1.2.1",
                reference: "seed 004 (nRF9160 modem firmware 1.2.x and AWS IoT); lantern-diag no_sni fixes",
                assumption: false,
            },
            Source {
                fact: "groups (P-256, P-384), signature algorithms and extension order",
                reference: "reconstructed; the modem does not document them",
                assumption: true,
            },
        ],
    },
    Profile {
        name: "modern",
        description: "A modern desktop client: mosquitto_pub 2.0 on OpenSSL 3 (TLS 1.3 and 1.2, ECDHE, SNI)",
        versions: &[version::TLS13, version::TLS12],
        suites: &[
            0x1302, 0x1303, 0x1301, 0xC02C, 0xC030, 0x009F, 0xCCA9, 0xCCA8, 0xCCAA, 0xC02B,
            0xC02F, 0x009E, 0xC024, 0xC028, 0x006B, 0xC023, 0xC027, 0x0067, 0xC00A, 0xC014,
            0x0039, 0xC009, 0xC013, 0x0033, 0x009D, 0x009C, 0x003D, 0x003C, 0x0035, 0x002F,
            0x00FF,
        ],
        sni: true,
        groups: &[group::X25519, group::SECP256R1, 30, 25, group::SECP384R1, 256, 257, 258, 259, 260],
        signature_algorithms: &[
            0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0809, 0x080A, 0x080B, 0x0804, 0x0805,
            0x0806, 0x0401, 0x0501, 0x0601, 0x0303, 0x0301, 0x0302, 0x0402, 0x0502, 0x0602,
        ],
        alpn: &[],
        extensions: &[
            "ec_point_formats",
            "session_ticket",
            "encrypt_then_mac",
            "extended_master_secret",
        ],
        sni_fix: "connect by host name (mosquitto_pub -h HOST), not by IP address",
        suite_fix: "update OpenSSL",
        sources: &[Source {
            fact: "the whole ClientHello (suites, groups, signature algorithms, versions, extensions)",
            reference: "crates/diag/tests/fixtures/mosquitto_pub_localhost.hex (mosquitto_pub 2.0.11, OpenSSL 3.0, Debian)",
            assumption: false,
        }],
    },
];

impl Profile {
    /// The profile called `name`.
    pub fn find(name: &str) -> Option<&'static Profile> {
        PROFILES.iter().find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// Its suites without signalling values (SCSVs).
    pub fn real_suites(&self) -> Vec<u16> {
        self.suites
            .iter()
            .copied()
            .filter(|s| !lantern_diag::suites::is_signaling_suite(*s))
            .collect()
    }

    /// The ClientHello this device would send to `host` (SNI only when the device sends it and
    /// the host is a name, not an address).
    pub(crate) fn hello(&self, host: Option<&str>) -> HelloSpec {
        let has = |e: &str| self.extensions.contains(&e);
        HelloSpec {
            versions: self.versions.to_vec(),
            suites: self.suites.to_vec(),
            sni: if self.sni {
                host.map(str::to_owned)
            } else {
                None
            },
            groups: self.groups.to_vec(),
            ec_point_formats: has("ec_point_formats"),
            signature_algorithms: self.signature_algorithms.to_vec(),
            alpn: self.alpn.iter().map(|s| (*s).to_owned()).collect(),
            max_fragment_length: None,
            encrypt_then_mac: has("encrypt_then_mac"),
            extended_master_secret: has("extended_master_secret"),
            session_ticket: has("session_ticket"),
            renegotiation_info: has("renegotiation_info"),
        }
    }
}

/// `lantern probe --list-profiles` as text.
pub fn list_text() -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for p in PROFILES {
        let _ = writeln!(out, "{}\n  {}", p.name, p.description);
        let versions: Vec<String> = p
            .versions
            .iter()
            .map(|v| lantern_diag::suites::version_name(*v))
            .collect();
        let _ = writeln!(out, "  versions: {}", versions.join(", "));
        let suites: Vec<String> = p
            .suites
            .iter()
            .map(|s| format!("0x{s:04X} {}", lantern_diag::suites::suite_name(*s)))
            .collect();
        let _ = writeln!(out, "  suites:   {}", suites.join("\n            "));
        let _ = writeln!(out, "  SNI:      {}", if p.sni { "on" } else { "off" });
        if !p.alpn.is_empty() {
            let _ = writeln!(out, "  ALPN:     {}", p.alpn.join(", "));
        }
        if !p.extensions.is_empty() {
            let _ = writeln!(out, "  also:     {}", p.extensions.join(", "));
        }
        let _ = writeln!(out, "  sources:");
        for s in p.sources {
            let mark = if s.assumption { " [assumption]" } else { "" };
            let _ = writeln!(out, "    - {}{mark}\n      ({})", s.fact, s.reference);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_builds_a_hello_lantern_can_parse() {
        for p in PROFILES {
            let bytes = p.hello(Some("broker.example.com")).encode(&[1; 96]);
            let hello = lantern_diag::hello::parse_client_hello(&bytes)
                .unwrap_or_else(|e| panic!("{}: {e}", p.name));
            assert_eq!(hello.sni.is_some(), p.sni, "{}", p.name);
            assert_eq!(hello.cipher_suites, p.suites, "{}", p.name);
            assert!(!p.sources.is_empty(), "{} has no source", p.name);
        }
    }

    #[test]
    fn lantern_recognises_the_static_rsa_profile_as_field_report_002() {
        let p = Profile::find("mbedtls-static-rsa").unwrap();
        let bytes = p.hello(Some("x.test")).encode(&[1; 96]);
        let hello = lantern_diag::hello::parse_client_hello(&bytes).unwrap();
        let hint = lantern_diag::hello::device_hint(&hello).unwrap();
        assert_eq!(hint.family, lantern_diag::hello::FAMILY_MBEDTLS2_LEGACY);
    }
}
