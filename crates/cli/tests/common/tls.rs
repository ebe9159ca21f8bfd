//! Certificates and TLS peers for the secure-transport end-to-end tests: development PKIs made
//! with `lantern cert`, an unrelated CA made with `openssl`, and `openssl s_client` output.

use std::fs;
use std::process::Output;

use super::{lantern_ok, openssl, output_text, s_client, TempDir};

/// A development PKI created by `lantern cert ca --data-dir DIR` in its own scratch directory
/// (removed on drop). `dir` is what a broker's `data_dir` should be set to.
pub struct DevPki {
    /// The data directory (the PKI is in `dir/pki/`).
    pub dir: TempDir,
    /// `pki/ca.pem`.
    pub ca: String,
    /// `pki/server.pem` (localhost, 127.0.0.1, ::1), chain with the CA.
    pub server_cert: String,
    /// `pki/server.key`.
    pub server_key: String,
    /// `pki/client.pem` (CN lantern-client-1), chain with the CA.
    pub client_cert: String,
    /// `pki/client.key`.
    pub client_key: String,
}

impl DevPki {
    /// Creates a new development PKI with `lantern cert ca`.
    pub fn create(what: &str) -> DevPki {
        let dir = TempDir::new(what);
        let data_dir = dir.path().display().to_string();
        let out = lantern_ok(&["cert", "ca", "--data-dir", &data_dir], None);
        assert!(
            out.contains("Development CA"),
            "lantern cert ca printed:\n{out}"
        );
        DevPki::at(dir)
    }

    /// The files of the development PKI the broker creates in `dir` (its `data_dir`).
    pub fn at(dir: TempDir) -> DevPki {
        let f = |name: &str| dir.path().join("pki").join(name).display().to_string();
        DevPki {
            ca: f("ca.pem"),
            server_cert: f("server.pem"),
            server_key: f("server.key"),
            client_cert: f("client.pem"),
            client_key: f("client.key"),
            dir,
        }
    }

    /// The data directory, for `data_dir = ".."` and `--data-dir`.
    pub fn data_dir(&self) -> String {
        self.dir.path().display().to_string()
    }

    /// `lantern cert server NAMES.. --out DIR/out`: returns (cert, key) paths.
    pub fn server(&self, names: &[&str], out: &str) -> (String, String) {
        let out_dir = self.dir.join(out);
        let data_dir = self.data_dir();
        let mut args = vec!["cert", "server"];
        args.extend_from_slice(names);
        args.extend_from_slice(&["--data-dir", &data_dir, "--out", &out_dir]);
        lantern_ok(&args, None);
        (
            format!("{out_dir}/{}.pem", names[0]),
            format!("{out_dir}/{}.key", names[0]),
        )
    }

    /// `lantern cert client CN [--san S].. --out DIR/out`: returns (cert, key) paths.
    pub fn client(&self, cn: &str, sans: &[&str], out: &str) -> (String, String) {
        let out_dir = self.dir.join(out);
        let data_dir = self.data_dir();
        let mut args = vec!["cert", "client", cn];
        for san in sans {
            args.extend_from_slice(&["--san", san]);
        }
        args.extend_from_slice(&["--data-dir", &data_dir, "--out", &out_dir]);
        lantern_ok(&args, None);
        (format!("{out_dir}/{cn}.pem"), format!("{out_dir}/{cn}.key"))
    }
}

/// A CA unrelated to any Lantern PKI (made with `openssl`, subject "CN=Unrelated Test CA"), with
/// a client certificate (CN intruder) and a server certificate (localhost, 127.0.0.1) it issued.
pub struct ForeignCa {
    /// Scratch directory holding the files.
    pub dir: TempDir,
    /// The CA certificate.
    pub ca: String,
    /// Client certificate issued by it.
    pub client_cert: String,
    /// Its key.
    pub client_key: String,
}

impl ForeignCa {
    /// Creates the CA and its client certificate with the `openssl` CLI.
    pub fn create() -> ForeignCa {
        let dir = TempDir::new("foreign-ca");
        let p = |name: &str| dir.join(name);
        let (ca, ca_key) = (p("ca.pem"), p("ca.key"));
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &ca_key,
                "-out",
                &ca,
                "-subj",
                "/CN=Unrelated Test CA",
                "-days",
                "2",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
            None,
        );
        let (cert, key, csr, ext) = (p("client.pem"), p("client.key"), p("client.csr"), p("ext"));
        ec_key_and_csr(&key, &csr, "/CN=intruder");
        fs::write(
            &ext,
            "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
        )
        .expect("write openssl extensions");
        openssl(
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-out",
                &cert,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
            None,
        );
        ForeignCa {
            ca,
            client_cert: cert,
            client_key: key,
            dir,
        }
    }
}

/// One `[[listener]]` on 127.0.0.1 port 0 with this transport and extra keys.
pub fn listener(transport: &str, extra: &str) -> String {
    format!("[[listener]]\nbind = \"127.0.0.1\"\nport = 0\ntransport = \"{transport}\"\n{extra}\n")
}

/// `openssl s_client` output (stdout and stderr) as text.
pub fn s_client_text(port: u16, args: &[&str]) -> (Output, String) {
    let out = s_client(port, args);
    let text = output_text(&out);
    (out, text)
}

/// The server certificate (PEM) printed by `openssl s_client`, or a panic showing the output.
pub fn served_cert(s_client_output: &str) -> String {
    let begin = s_client_output.find("-----BEGIN CERTIFICATE-----");
    let end = s_client_output.find("-----END CERTIFICATE-----");
    match (begin, end) {
        (Some(b), Some(e)) => format!("{}-----END CERTIFICATE-----\n", &s_client_output[b..e]),
        _ => panic!("s_client printed no server certificate:\n{s_client_output}"),
    }
}

/// `openssl x509 -noout -fingerprint -sha256` of the first certificate in `pem`.
pub fn fingerprint(pem: &str) -> String {
    let out = openssl(
        &["x509", "-noout", "-fingerprint", "-sha256"],
        Some(pem.as_bytes()),
    );
    out.trim()
        .rsplit_once('=')
        .map(|(_, fp)| fp.to_owned())
        .unwrap_or_else(|| panic!("openssl x509 -fingerprint printed {out:?}"))
}

/// Subject and subject alternative names of the first certificate in `pem`, as openssl prints them.
pub fn subject_and_san(pem: &str) -> String {
    openssl(
        &["x509", "-noout", "-subject", "-ext", "subjectAltName"],
        Some(pem.as_bytes()),
    )
}

/// `openssl req`: a new EC P-256 key (unencrypted) and a certificate signing request for
/// `subject` (e.g. `/CN=dev-1`).
pub fn ec_key_and_csr(key: &str, csr: &str, subject: &str) {
    openssl(
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            key,
            "-out",
            csr,
            "-subj",
            subject,
        ],
        None,
    );
}

/// A throwaway CA whose certificates are issued with `openssl ca`, so that notBefore/notAfter
/// can be set (OpenSSL 3.0's `openssl x509` has no option for a start date), intermediates made
/// and certificates revoked: for client CAs of their own (tenants), expiry and CRL tests.
pub struct MiniCa {
    /// Its directory (index, serial, keys, issued certificates, CRL).
    pub dir: String,
    /// The CA certificate (PEM).
    pub cert: String,
    conf: String,
}

impl MiniCa {
    /// A self-signed root `CN=<cn>,O=Lantern E2E` in `tmp/<label>`.
    pub fn root(tmp: &TempDir, label: &str, cn: &str) -> MiniCa {
        let ca = MiniCa::layout(tmp, label);
        let key = format!("{}/ca.key", ca.dir);
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &ca.cert,
                "-subj",
                &format!("/O=Lantern E2E/CN={cn}"),
                "-days",
                "30",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
            None,
        );
        ca
    }

    /// An intermediate CA `CN=<cn>` issued by this CA.
    pub fn intermediate(&self, tmp: &TempDir, label: &str, cn: &str) -> MiniCa {
        let ca = MiniCa::layout(tmp, label);
        let key = format!("{}/ca.key", ca.dir);
        let csr = format!("{}/ca.csr", ca.dir);
        ec_key_and_csr(&key, &csr, &format!("/O=Lantern E2E/CN={cn}"));
        self.sign(&csr, &ca.cert, "ca_ext", None);
        ca
    }

    fn layout(tmp: &TempDir, label: &str) -> MiniCa {
        let dir = tmp.join(label);
        fs::create_dir_all(format!("{dir}/newcerts")).expect("create CA dir");
        fs::write(format!("{dir}/index.txt"), "").expect("index.txt");
        fs::write(format!("{dir}/serial"), "1000\n").expect("serial");
        fs::write(format!("{dir}/crlnumber"), "1000\n").expect("crlnumber");
        let conf = format!("{dir}/ca.cnf");
        fs::write(
            &conf,
            format!(
                "[ ca ]\ndefault_ca = CA_default\n\
                 [ CA_default ]\ndir = {dir}\ndatabase = $dir/index.txt\n\
                 new_certs_dir = $dir/newcerts\nserial = $dir/serial\ncrlnumber = $dir/crlnumber\n\
                 certificate = $dir/ca.pem\nprivate_key = $dir/ca.key\ndefault_md = sha256\n\
                 default_days = 30\ndefault_crl_days = 7\npolicy = policy_any\n\
                 unique_subject = no\ncopy_extensions = none\ncrl_extensions = crl_ext\n\
                 [ policy_any ]\norganizationName = optional\ncommonName = supplied\n\
                 [ client_ext ]\nbasicConstraints = CA:FALSE\n\
                 keyUsage = critical,digitalSignature\nextendedKeyUsage = clientAuth\n\
                 subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n\
                 [ ca_ext ]\nbasicConstraints = critical,CA:TRUE\n\
                 keyUsage = critical,keyCertSign,cRLSign\n\
                 subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n\
                 [ crl_ext ]\nauthorityKeyIdentifier = keyid:always\n"
            ),
        )
        .expect("ca.cnf");
        MiniCa {
            cert: format!("{dir}/ca.pem"),
            conf,
            dir,
        }
    }

    /// `openssl ca` signs `csr` into `out` with the extension section `ext`; `dates` are
    /// (notBefore, notAfter) as YYYYMMDDHHMMSSZ, else now .. 30 days.
    fn sign(&self, csr: &str, out: &str, ext: &str, dates: Option<(&str, &str)>) {
        let mut args = vec![
            "ca",
            "-batch",
            "-notext",
            "-config",
            &self.conf,
            "-in",
            csr,
            "-out",
            out,
            "-extensions",
            ext,
        ];
        if let Some((start, end)) = dates {
            args.extend_from_slice(&["-startdate", start, "-enddate", end]);
        }
        openssl(&args, None);
    }

    /// A client certificate `CN=<cn>,O=Lantern E2E` (clientAuth) and its key: (cert, key).
    pub fn client(&self, cn: &str, dates: Option<(&str, &str)>) -> (String, String) {
        let (cert, key, csr) = (
            format!("{}/{cn}.pem", self.dir),
            format!("{}/{cn}.key", self.dir),
            format!("{}/{cn}.csr", self.dir),
        );
        ec_key_and_csr(&key, &csr, &format!("/O=Lantern E2E/CN={cn}"));
        self.sign(&csr, &cert, "client_ext", dates);
        (cert, key)
    }

    /// Revokes `cert` and writes a fresh CRL; returns the CRL's path (see [`MiniCa::crl`]).
    pub fn revoke(&self, cert: &str) -> String {
        openssl(&["ca", "-config", &self.conf, "-revoke", cert], None);
        self.crl()
    }

    /// Writes the CA's current CRL (every certificate revoked so far, possibly none) to
    /// `<dir>/crl.pem`, replacing the previous one; returns its path.
    pub fn crl(&self) -> String {
        let crl = format!("{}/crl.pem", self.dir);
        openssl(
            &["ca", "-config", &self.conf, "-gencrl", "-out", &crl],
            None,
        );
        crl
    }
}
