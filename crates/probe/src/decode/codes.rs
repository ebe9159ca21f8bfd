//! Result and error codes found in device logs, with their meaning and the likely cause.
//!
//! Each table cites where its values come from. A value that is not in a table is reported as
//! "unknown code" — never guessed.

use serde::Serialize;

use lantern_codec::ReasonCode;

/// One code found in the input, explained.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct CodeExplanation {
    /// 1-based input line of the first occurrence.
    pub line: usize,
    /// How many times the same code appeared.
    pub occurrences: usize,
    /// Which table: "SIMCom CMQTT", "mbedTLS", "ESP-TLS", "esp_err", "MQTT 3.1.1 CONNACK", …
    pub table: &'static str,
    /// The code as the log wrote it, e.g. `+CMQTTCONNECT: 0,32` or `-0x7200`.
    pub text: String,
    /// The symbolic name, when the table has one.
    pub name: String,
    /// What the code means.
    pub meaning: String,
    /// What usually causes it on a device, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub likely_cause: Option<String>,
    /// True when the code reports a failure.
    pub is_error: bool,
    /// The document the table comes from.
    pub source: &'static str,
}

/// A table entry: code, name, meaning, likely cause.
type Entry = (i64, &'static str, &'static str, Option<&'static str>);

fn lookup(table: &[Entry], code: i64) -> Option<&Entry> {
    table.iter().find(|e| e.0 == code)
}

/// Source of [`SIMCOM_CMQTT`].
pub const SIMCOM_CMQTT_SOURCE: &str = "SIMCom SIM7500_SIM7600 Series MQTT(S) AT Command Manual V1.01 / A76XX Series MQTT(S) Application Note, \"MQTT Err Code\" table (mirrored at momoiot.co.kr/lte-at/cmd/mqtt-err-and-unsolicited-code)";

/// SIMCom `AT+CMQTT…` result codes (`+CMQTTCONNECT: <client>,<err>`, `+CMQTTSTART: <err>`, …).
///
/// Source: SIMCom "SIM7500_SIM7600 Series MQTT(S) AT Command Manual" V1.01 and the "A76XX Series
/// MQTT(S) Application Note", section "MQTT Err Code" (0–34). 27–31 are the 3.1.1 CONNACK
/// return codes 1–5 relayed by the modem. Likely causes are Lantern's, from field report 001.
const SIMCOM_CMQTT: &[Entry] = &[
    (0, "operation succeeded", "the operation succeeded", None),
    (1, "failed", "the operation failed", None),
    (2, "bad UTF-8 string", "a topic, client id or credential is not valid UTF-8", None),
    (3, "sock connect fail", "the TCP connection to the broker failed", Some("wrong host or port, a firewall, or no data connection (PDP context)")),
    (4, "sock create fail", "the modem could not create a socket", Some("the network is not opened (AT+CMQTTSTART) or too many sockets are open")),
    (5, "sock close fail", "closing the socket failed", None),
    (6, "message receive fail", "receiving a message failed", None),
    (7, "network open fail", "opening the network failed", Some("no data connection: check APN and registration (AT+CGREG?)")),
    (8, "network close fail", "closing the network failed", None),
    (9, "network not opened", "the network is not opened", Some("AT+CMQTTSTART was not run or failed; AT+CMQTTSTOP reports this when nothing was running")),
    (10, "client index error", "the client index is invalid", None),
    (11, "no connection", "the client is not connected", None),
    (12, "invalid parameter", "a parameter is invalid", None),
    (13, "not supported operation", "the operation is not supported", None),
    (14, "client is busy", "the client is busy with another operation", None),
    (15, "require connection fail", "the connection request failed", None),
    (16, "sock sending fail", "sending on the socket failed", None),
    (17, "timeout", "the operation timed out", Some("the broker did not answer in time (CONNACK, SUBACK, PUBACK)")),
    (18, "topic is empty", "the topic is empty", None),
    (19, "client is used", "the client index is already in use", None),
    (20, "client not acquired", "the client was not acquired (AT+CMQTTACCQ)", None),
    (21, "client not released", "the client was not released (AT+CMQTTREL)", None),
    (22, "length out of range", "a length is out of range", None),
    (23, "network is opened", "the network is already opened", Some("AT+CMQTTSTART was run twice; harmless")),
    (24, "packet fail", "building or parsing an MQTT packet failed", None),
    (25, "DNS error", "the broker's host name could not be resolved", Some("wrong host name, or no DNS on the data connection")),
    (26, "socket is closed by server", "the broker closed the TCP connection", Some("the broker refused the session after TLS (SNI routing, credentials, client id) or a plain-MQTT client hit a TLS port")),
    (27, "connection refused: unaccepted protocol version", "CONNACK return code 1", Some("the broker does not accept this MQTT version (AT+CMQTTACCQ's last argument: 3 = 3.1, 4 = 3.1.1)")),
    (28, "connection refused: identifier rejected", "CONNACK return code 2", Some("the client id is not allowed (empty, too long, or not the one the broker expects)")),
    (29, "connection refused: server unavailable", "CONNACK return code 3", None),
    (30, "connection refused: bad user name or password", "CONNACK return code 4", Some("wrong credentials, or a token (Azure SAS, JWT) that expired")),
    (31, "connection refused: not authorized", "CONNACK return code 5", Some("the broker rejected the credentials or the tenant: check user name, password and, for multi-tenant clouds, SNI")),
    (32, "handshake fail", "the TLS handshake failed", Some("SNI not sent (AT+CSSLCFG=\"enableSNI\",<ctx>,1; HiveMQ Cloud and EMQX Cloud route by SNI), no common TLS version or cipher suite (old modem firmware; AT+CSSLCFG=\"sslversion\"/\"ciphersuites\"), or the CA in AT+CSSLCFG=\"cacert\" does not match the broker's chain")),
    (33, "not set certificate", "a certificate required by the SSL context is not set", Some("authmode needs a cacert (and clientcert/clientkey for mutual TLS) that was not configured")),
    (34, "open SSL session failed", "the modem could not open the SSL session", Some("the SSL context is unusable: the cacert file is missing, unreadable or malformed (CRLF line endings, wrong length in AT+CCERTDOWN, DER under a .pem name), or AT+CMQTTSSLCFG points at another context")),
];

/// Source of [`SIMCOM_CMQTT_CONNLOST`].
pub const SIMCOM_CMQTT_CONNLOST_SOURCE: &str = "SIMCom SIM7500_SIM7600 Series MQTT(S) AT Command Manual / A76XX Series MQTT(S) AT manual, unsolicited result code \"+CMQTTCONNLOST: <client_index>,<cause>\", <cause> values 1-3 (URC listed at momoiot.co.kr/lte-at/cmd/mqtt-err-and-unsolicited-code)";

/// SIMCom `+CMQTTCONNLOST: <client_index>,<cause>` causes.
///
/// Source: SIMCom MQTT(S) AT manual, `<cause>` "The cause of disconnection": 1 socket is closed
/// passively, 2 socket is reset, 3 network is closed. The momoiot.co.kr mirror lists the URC but
/// not the values; the wording was checked against open-source SIMCom drivers that quote the
/// manual. Likely causes are Lantern's.
const SIMCOM_CMQTT_CONNLOST: &[Entry] = &[
    (1, "socket is closed passively", "the broker (or a middlebox) closed the TCP connection", Some("the broker dropped the session: keep-alive expired (no PINGREQ in 1.5 x keepalive), another client connected with the same client id, or the broker refused a PUBLISH/SUBSCRIBE (ACL)")),
    (2, "socket is reset", "the TCP connection was reset (RST)", Some("a NAT or carrier firewall forgot the idle connection (keep-alive longer than the carrier's NAT timeout), or the broker aborted the connection")),
    (3, "network is closed", "the modem's data connection (PDP context) was lost", Some("lost registration or coverage, or the network deactivated the PDP context; +CMQTTNONET usually follows, then AT+CMQTTSTART is needed again")),
];

/// Source of [`SIMCOM_SSL`].
pub const SIMCOM_SSL_SOURCE: &str = "SIMCom A7600 Series SSL Application Note V1.00 (2020-06-19), §4.1.1 \"Command result <err> codes\" (same CCH commands as the A76XX / SIM7500_SIM7600 SSL AT manuals, mirrored at momoiot.co.kr/lte-at/cmd/ssl and momoiot.co.kr/5g-at/cmd/ssl)";

/// SIMCom SSL (CCH) `<err>` codes: `+CCHSTART: <err>`, `+CCHSTOP: <err>`,
/// `+CCHOPEN: <session_id>,<err>`, `+CCHCLOSE: <session_id>,<err>`, `+CCHSEND: <session_id>,<err>`,
/// `+CCHRECV: <session_id>,<err>` and `+CCH_RECV_CLOSED: <session_id>,<err>`.
///
/// Source: SIMCom "A7600 Series SSL Application Note" V1.00, appendix 4.1.1 "Command result
/// <err> codes" (0–19); the same list is quoted in TinyGSM's SIM7600 client for `+CCHOPEN`.
/// `+CCH_PEER_CLOSED: <session_id>` carries no code ("the connection is closed by the server").
/// `AT+CSSLCFG` and `AT+CCERTDOWN` answer only `OK` / `ERROR`, so they have no table here.
/// Likely causes are Lantern's.
const SIMCOM_SSL: &[Entry] = &[
    (0, "operation succeeded", "the operation succeeded", None),
    (1, "alerting state (reserved)", "alerting state (reserved by SIMCom)", None),
    (2, "unknown error", "an unknown error", None),
    (3, "busy", "the SSL service or session is busy", None),
    (4, "peer closed", "the server closed the connection", Some("the server refused the TLS session (SNI, client certificate, TLS version) or closed an idle connection")),
    (5, "operation timeout", "the operation timed out", Some("the server did not answer in time: poor coverage, a firewall dropping packets, or a wrong port")),
    (6, "transfer failed", "sending or receiving failed", None),
    (7, "memory error", "the modem ran out of memory", None),
    (8, "invalid parameter", "a parameter is invalid", None),
    (9, "network error", "a network error", Some("no data connection: check APN, registration (AT+CGREG? / AT+CEREG?) and AT+CCHSTART")),
    (10, "open session error", "the session could not be opened", Some("the session id is already open, or AT+CCHSTART was not run")),
    (11, "state error", "the command is not allowed in the current state", Some("e.g. AT+CCHOPEN before AT+CCHSTART, or on a session that is already open")),
    (12, "create socket error", "the modem could not create a socket", None),
    (13, "get DNS error", "the host name could not be resolved", Some("wrong host name, or no DNS on the data connection")),
    (14, "connect socket error", "the TCP connection to the server failed", Some("wrong host or port, a firewall, or no route")),
    (15, "handshake error", "the TLS handshake failed", Some("SNI not sent (AT+CSSLCFG=\"enableSNI\",<ctx>,1), no common TLS version or cipher suite (AT+CSSLCFG=\"sslversion\"/\"ciphersuites\", old firmware), or the CA in AT+CSSLCFG=\"cacert\" does not match the server's chain")),
    (16, "close socket error", "closing the socket failed", None),
    (17, "nonet", "there is no network", Some("the data connection (PDP context) is down")),
    (18, "send data timeout", "sending data timed out", None),
    (19, "not set certificates", "a certificate the SSL context needs is not set", Some("authmode requires a cacert (and clientcert/clientkey for mutual TLS) that AT+CSSLCFG did not configure, or AT+CCHSSLCFG points at another context")),
];

/// Source of [`SIMCOM_IPCLOSE`].
pub const SIMCOM_IPCLOSE_SOURCE: &str = "SIMCom A76XX Series TCPIP Application Note V1.01, \"+IPCLOSE: <client_index>,<close_reason>\" (mirrored at momoiot.co.kr/lte-at/cmd/tcpudp-info-error-code)";

/// SIMCom `+IPCLOSE: <link>,<close_reason>` reasons.
///
/// Source: SIMCom "A76XX Series TCPIP Application Note" V1.01, information elements related to
/// TCP/IP: 0 closed by local (active), 1 closed by remote (passive), 2 closed for sending
/// timeout.
const SIMCOM_IPCLOSE: &[Entry] = &[
    (0, "closed by local", "the modem (the device side) closed the socket", None),
    (1, "closed by remote", "the remote end (the broker or a middlebox) closed the socket", Some("the broker refused what it received: after a TLS handshake that usually means SNI/tenant routing or an MQTT-level refusal")),
    (2, "closed for sending timeout", "the socket was closed because sending timed out", Some("poor radio conditions or a peer that stopped reading")),
];

/// Source of [`MBEDTLS`].
pub const MBEDTLS_SOURCE: &str = "Mbed TLS include/mbedtls/ssl.h, x509.h and net_sockets.h (checked against v2.28.9 and v3.6.6; names differ where 3.x reused a value)";

/// mbedTLS negative error codes (high-level SSL/X.509 and low-level NET modules).
///
/// Source: Mbed TLS `include/mbedtls/ssl.h` ("SSL Error codes"), `x509.h` ("X509 Error codes")
/// and `net_sockets.h`, checked against the v2.28.9 and v3.6.6 tags. A name marked (2.x) no
/// longer exists in 3.x; where 3.x reused a 2.x value for another error, both names are given.
/// Codes are stored as positive magnitudes.
const MBEDTLS: &[Entry] = &[
    (0x0042, "MBEDTLS_ERR_NET_SOCKET_FAILED", "failed to open a socket", None),
    (0x0044, "MBEDTLS_ERR_NET_CONNECT_FAILED", "the connection to the server failed", Some("wrong host or port, or no route")),
    (0x004C, "MBEDTLS_ERR_NET_RECV_FAILED", "reading from the socket failed", None),
    (0x004E, "MBEDTLS_ERR_NET_SEND_FAILED", "sending on the socket failed", None),
    (0x0050, "MBEDTLS_ERR_NET_CONN_RESET", "the connection was reset by the peer", Some("the server closed the connection abruptly, often right after a ClientHello it did not like")),
    (0x0052, "MBEDTLS_ERR_NET_UNKNOWN_HOST", "the host name could not be resolved", None),
    (0x2700, "MBEDTLS_ERR_X509_CERT_VERIFY_FAILED", "certificate verification failed (CA, CRL or signature check)", Some("the CA configured on the device is not the root of the broker's chain, the device clock is wrong (not yet valid / expired), or the host name does not match")),
    (0x2780, "MBEDTLS_ERR_X509_CERT_UNKNOWN_FORMAT", "the certificate is neither DER nor PEM", Some("a PEM without its NUL terminator, or a truncated file")),
    (0x2180, "MBEDTLS_ERR_X509_INVALID_FORMAT", "the certificate format is invalid", None),
    (0x3000, "MBEDTLS_ERR_X509_FATAL_ERROR", "a fatal X.509 error (chain too long, or the verify callback failed)", None),
    (0x6800, "MBEDTLS_ERR_SSL_TIMEOUT", "the operation timed out", None),
    (0x6880, "MBEDTLS_ERR_SSL_WANT_WRITE", "the connection requires a write call (not an error for non-blocking IO)", None),
    (0x6900, "MBEDTLS_ERR_SSL_WANT_READ", "no data available on the transport yet (not an error for non-blocking IO)", None),
    (0x6980, "MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE (2.x)", "none of the common cipher suites is usable", None),
    (0x6A00, "MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL", "a buffer is too small to receive or write a message", None),
    (0x6C00, "MBEDTLS_ERR_SSL_INTERNAL_ERROR", "internal error", None),
    (0x6E80, "MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION / BAD_PROTOCOL_VERSION (3.x)", "the handshake protocol version is not within the configured min/max", Some("the server insists on a TLS version the device does not enable (e.g. TLS 1.3 only, or TLS 1.2 disabled)")),
    (0x7000, "MBEDTLS_ERR_SSL_CRYPTO_IN_PROGRESS", "a cryptographic operation is in progress", None),
    (0x7080, "MBEDTLS_ERR_SSL_FEATURE_UNAVAILABLE", "the requested feature is not available", Some("a needed option is not compiled in (e.g. renegotiation, a key exchange)")),
    (0x7100, "MBEDTLS_ERR_SSL_BAD_INPUT_DATA", "bad input parameters to an mbedTLS function", None),
    (0x7180, "MBEDTLS_ERR_SSL_INVALID_MAC", "verification of a record MAC failed", None),
    (0x7200, "MBEDTLS_ERR_SSL_INVALID_RECORD", "an invalid TLS record was received", Some("a record larger than the input buffer (MBEDTLS_SSL_IN_CONTENT_LEN / MAX_CONTENT_LEN): mbedTLS logs \"bad message length\"; or the transport callback returned bytes that are not a record")),
    (0x7280, "MBEDTLS_ERR_SSL_CONN_EOF", "the connection indicated an EOF", Some("the peer closed the TCP connection: the server rejected something (SNI, renegotiation, client certificate) or the transport callback returned 0")),
    (0x7300, "MBEDTLS_ERR_SSL_UNKNOWN_CIPHER (2.x) / DECODE_ERROR (3.x)", "an unknown cipher was received (2.x) / a message could not be parsed (3.x)", None),
    (0x7380, "MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN (2.x)", "the server has no cipher suites in common with the client", Some("the device offers only suites the broker disabled (static RSA, CBC)")),
    (0x7400, "MBEDTLS_ERR_SSL_NO_RNG", "no RNG was provided", None),
    (0x7480, "MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE", "no client certificate received, but required", None),
    (0x7500, "MBEDTLS_ERR_SSL_CERTIFICATE_TOO_LARGE (2.x) / UNSUPPORTED_EXTENSION (3.x)", "own certificate too large (2.x) / the server hello has an unsupported extension (3.x)", None),
    (0x7580, "MBEDTLS_ERR_SSL_CERTIFICATE_REQUIRED (2.x) / NO_APPLICATION_PROTOCOL (3.x)", "own certificate not set but needed (2.x) / no common ALPN protocol (3.x)", Some("the broker requires a client certificate (AWS IoT), or ALPN (e.g. \"x-amzn-mqtt-ca\" on port 443)")),
    (0x7600, "MBEDTLS_ERR_SSL_PRIVATE_KEY_REQUIRED", "the own private key or PSK is not set", None),
    (0x7680, "MBEDTLS_ERR_SSL_CA_CHAIN_REQUIRED", "no CA chain is set, but required", Some("verification is required but no CA certificate was loaded")),
    (0x7700, "MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE", "an unexpected message was received", None),
    (0x7780, "MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE", "a fatal alert was received from the peer", Some("the server refused the handshake: look for the alert (handshake_failure: no common suite; unrecognized_name: SNI; bad_certificate / unknown_ca: client certificate)")),
    (0x7800, "MBEDTLS_ERR_SSL_PEER_VERIFY_FAILED (2.x) / UNRECOGNIZED_NAME (3.x)", "verification of the peer failed (2.x) / no server for the SNI name (3.x)", None),
    (0x7880, "MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY", "the peer sent close_notify", None),
    (0x7900, "MBEDTLS_ERR_SSL_BAD_HS_CLIENT_HELLO (2.x)", "processing of the ClientHello failed", None),
    (0x7980, "MBEDTLS_ERR_SSL_BAD_HS_SERVER_HELLO (2.x)", "processing of the ServerHello failed", None),
    (0x7A00, "MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE (2.x) / BAD_CERTIFICATE (3.x)", "processing of the Certificate message failed", Some("certificate verification failed (CA, time, host name), or the chain uses an algorithm not compiled in")),
    (0x7B00, "MBEDTLS_ERR_SSL_BAD_HS_SERVER_KEY_EXCHANGE (2.x) / RECEIVED_NEW_SESSION_TICKET (3.x)", "processing of ServerKeyExchange failed (2.x) / a NewSessionTicket arrived (3.x, not an error)", Some("2.x: MBEDTLS_MPI_MAX_SIZE too small for the server's DH/RSA key")),
    (0x7E80, "MBEDTLS_ERR_SSL_BAD_HS_FINISHED (2.x) / CACHE_ENTRY_NOT_FOUND (3.x)", "processing of the Finished message failed (2.x) / a session cache entry was not found (3.x)", None),
    (0x7F00, "MBEDTLS_ERR_SSL_ALLOC_FAILED", "memory allocation failed", Some("the heap cannot hold two 16 KiB record buffers plus the certificate chain")),
];

/// Source of [`ESP_TLS`].
pub const ESP_TLS_SOURCE: &str =
    "ESP-IDF components/esp-tls/esp_tls_errors.h (ESP_ERR_ESP_TLS_BASE = 0x8000)";

/// ESP-TLS error codes (`esp_tls_last_error_t.last_error`).
///
/// Source: ESP-IDF `components/esp-tls/esp_tls_errors.h`, `ESP_ERR_ESP_TLS_BASE` 0x8000 plus
/// the offsets listed there.
const ESP_TLS: &[Entry] = &[
    (
        0x8001,
        "ESP_ERR_ESP_TLS_CANNOT_RESOLVE_HOSTNAME",
        "the host name could not be resolved",
        None,
    ),
    (
        0x8002,
        "ESP_ERR_ESP_TLS_CANNOT_CREATE_SOCKET",
        "failed to create a socket",
        None,
    ),
    (
        0x8003,
        "ESP_ERR_ESP_TLS_UNSUPPORTED_PROTOCOL_FAMILY",
        "unsupported protocol family",
        None,
    ),
    (
        0x8004,
        "ESP_ERR_ESP_TLS_FAILED_CONNECT_TO_HOST",
        "failed to connect to the host",
        None,
    ),
    (
        0x8005,
        "ESP_ERR_ESP_TLS_SOCKET_SETOPT_FAILED",
        "failed to set or get a socket option",
        None,
    ),
    (
        0x8006,
        "ESP_ERR_ESP_TLS_CONNECTION_TIMEOUT",
        "the connection timed out",
        None,
    ),
    (
        0x8007,
        "ESP_ERR_ESP_TLS_SE_FAILED",
        "the secure element failed",
        None,
    ),
    (
        0x8008,
        "ESP_ERR_ESP_TLS_TCP_CLOSED_FIN",
        "the TCP connection was closed cleanly (FIN)",
        Some("the broker closed the connection"),
    ),
    (
        0x8010,
        "ESP_ERR_MBEDTLS_CERT_PARTLY_OK",
        "the certificate bundle parsed only partly",
        None,
    ),
    (
        0x8011,
        "ESP_ERR_MBEDTLS_CTR_DRBG_SEED_FAILED",
        "seeding the DRBG failed",
        None,
    ),
    (
        0x8012,
        "ESP_ERR_MBEDTLS_SSL_SET_HOSTNAME_FAILED",
        "setting the host name (SNI) failed",
        None,
    ),
    (
        0x8013,
        "ESP_ERR_MBEDTLS_SSL_CONFIG_DEFAULTS_FAILED",
        "mbedtls_ssl_config_defaults failed",
        None,
    ),
    (
        0x8014,
        "ESP_ERR_MBEDTLS_SSL_CONF_ALPN_PROTOCOLS_FAILED",
        "configuring ALPN failed",
        None,
    ),
    (
        0x8015,
        "ESP_ERR_MBEDTLS_X509_CRT_PARSE_FAILED",
        "parsing a certificate failed",
        Some("the PEM is not NUL-terminated or is malformed"),
    ),
    (
        0x8016,
        "ESP_ERR_MBEDTLS_SSL_CONF_OWN_CERT_FAILED",
        "configuring the client certificate failed",
        None,
    ),
    (
        0x8017,
        "ESP_ERR_MBEDTLS_SSL_SETUP_FAILED",
        "mbedtls_ssl_setup failed",
        None,
    ),
    (
        0x8018,
        "ESP_ERR_MBEDTLS_SSL_WRITE_FAILED",
        "mbedtls_ssl_write failed",
        None,
    ),
    (
        0x8019,
        "ESP_ERR_MBEDTLS_PK_PARSE_KEY_FAILED",
        "parsing the private key failed",
        None,
    ),
    (
        0x801A,
        "ESP_ERR_MBEDTLS_SSL_HANDSHAKE_FAILED",
        "the TLS handshake failed",
        Some("see the mbedTLS code reported next to it"),
    ),
    (
        0x801B,
        "ESP_ERR_MBEDTLS_SSL_CONF_PSK_FAILED",
        "configuring the PSK failed",
        None,
    ),
    (
        0x801C,
        "ESP_ERR_MBEDTLS_SSL_TICKET_SETUP_FAILED",
        "session ticket setup failed",
        None,
    ),
];

/// Source of [`ESP_ERR`].
pub const ESP_ERR_SOURCE: &str = "ESP-IDF components/esp_common/include/esp_err.h";

/// Generic `esp_err_t` values, which esp-mqtt also prints as "error code reported from esp-tls".
///
/// Source: ESP-IDF `components/esp_common/include/esp_err.h`.
const ESP_ERR: &[Entry] = &[
    (0x101, "ESP_ERR_NO_MEM", "out of memory", None),
    (0x102, "ESP_ERR_INVALID_ARG", "invalid argument", None),
    (
        0x103,
        "ESP_ERR_INVALID_STATE",
        "invalid state (a generic esp_err_t from esp_err.h, not one of the ESP-TLS codes)",
        None,
    ),
    (0x104, "ESP_ERR_INVALID_SIZE", "invalid size", None),
    (
        0x105,
        "ESP_ERR_NOT_FOUND",
        "requested resource not found",
        None,
    ),
    (
        0x106,
        "ESP_ERR_NOT_SUPPORTED",
        "operation or feature not supported",
        None,
    ),
    (0x107, "ESP_ERR_TIMEOUT", "operation timed out", None),
];

/// Source of [`CME`].
pub const CME_SOURCE: &str = "3GPP TS 27.007 §9.2.1 (+CME ERROR general errors)";

/// `+CME ERROR: <n>` general codes.
///
/// Source: 3GPP TS 27.007 §9.2.1 "General errors" (only the values Lantern lists; checked
/// against the 27.007 v14.10.0 list that Nordic's nRF Connect SDK carries).
const CME: &[Entry] = &[
    (0, "phone failure", "phone failure", None),
    (3, "operation not allowed", "operation not allowed", None),
    (
        4,
        "operation not supported",
        "operation not supported",
        None,
    ),
    (10, "SIM not inserted", "SIM not inserted", None),
    (11, "SIM PIN required", "SIM PIN required", None),
    (13, "SIM failure", "SIM failure", None),
    (14, "SIM busy", "SIM busy", None),
    (30, "no network service", "no network service", None),
    (100, "unknown", "unknown error", None),
];

/// Source of [`NRF_CMNG_TYPES`].
pub const NRF_CMNG_SOURCE: &str =
    "Nordic nRF91 AT Commands Reference Guide, Credential storage management %CMNG";

/// nRF91 `AT%CMNG=<opcode>,<sec_tag>,<type>` credential types (only the ones Lantern lists).
///
/// Source: Nordic "nRF91 AT Commands Reference Guide", %CMNG: 0 root CA certificate, 1 client
/// certificate, 2 client private key, 3 PSK, 4 PSK identity — the same order as
/// `enum modem_key_mgmt_cred_type` in nRF Connect SDK `include/modem/modem_key_mgmt.h`, which
/// passes these values to %CMNG.
const NRF_CMNG_TYPES: &[Entry] = &[
    (
        0,
        "root CA certificate",
        "root CA certificate (ASCII PEM)",
        None,
    ),
    (
        1,
        "client certificate",
        "client certificate (ASCII PEM)",
        None,
    ),
    (
        2,
        "client private key",
        "client private key (ASCII PEM)",
        None,
    ),
    (3, "PSK", "pre-shared key", None),
    (4, "PSK identity", "PSK identity", None),
];

/// Source of the TLS alert names.
pub const TLS_ALERT_SOURCE: &str = "RFC 8446 §6 and the IANA TLS Alert registry";

/// TLS alert descriptions (RFC 8446 §6, RFC 5246 §7.2, RFC 6066 §9, IANA TLS Alerts); the
/// numbers match the `MBEDTLS_SSL_ALERT_MSG_*` values in Mbed TLS 3.6 `ssl.h`.
const TLS_ALERTS: &[Entry] = &[
    (0, "close_notify", "the sender is closing the connection", None),
    (10, "unexpected_message", "an inappropriate message was received", None),
    (20, "bad_record_mac", "a record could not be deprotected", None),
    (22, "record_overflow", "a record was too long", Some("max_fragment_length mismatch or a buffer-size bug")),
    (40, "handshake_failure", "no acceptable set of security parameters", Some("no common cipher suite, TLS version or signature algorithm; or a required extension (SNI) is missing")),
    (42, "bad_certificate", "a certificate was corrupt or failed verification", Some("the client certificate is not signed by a CA the broker trusts, or it is missing when required")),
    (43, "unsupported_certificate", "a certificate of an unsupported type", None),
    (44, "certificate_revoked", "a certificate was revoked", None),
    (45, "certificate_expired", "a certificate expired or is not yet valid", Some("the device clock is wrong, or the certificate really expired")),
    (46, "certificate_unknown", "a certificate was unacceptable for another reason", None),
    (47, "illegal_parameter", "a field in the handshake was out of range", None),
    (48, "unknown_ca", "the CA of the peer's certificate is not trusted", Some("the device's CA file does not contain the broker's root (or the broker does not know the client's CA)")),
    (49, "access_denied", "a valid certificate, but access was denied", None),
    (50, "decode_error", "a message could not be decoded", None),
    (51, "decrypt_error", "a handshake signature or Finished check failed", None),
    (70, "protocol_version", "the protocol version is not supported", Some("the device offers only TLS versions the broker disabled (TLS 1.0/1.1), or the reverse")),
    (71, "insufficient_security", "the suites offered are too weak for the server", None),
    (80, "internal_error", "an internal error on the sender's side", None),
    (86, "inappropriate_fallback", "a fallback was detected", None),
    (90, "user_canceled", "the handshake was canceled", None),
    (109, "missing_extension", "a mandatory extension was missing", None),
    (110, "unsupported_extension", "an extension was not expected", None),
    (112, "unrecognized_name", "no server is known for the SNI name", Some("the SNI host name is wrong (or absent) for a broker that routes by SNI")),
    (116, "certificate_required", "a client certificate is required", Some("mutual TLS is required (AWS IoT Core) and the device sent none")),
    (120, "no_application_protocol", "no common ALPN protocol", None),
];

/// Name of a TLS alert description, or `None`.
pub fn tls_alert_name(code: u8) -> Option<&'static str> {
    lookup(TLS_ALERTS, i64::from(code)).map(|e| e.1)
}

/// Explanation of a TLS alert.
pub fn explain_tls_alert(line: usize, level: u8, code: u8) -> CodeExplanation {
    let level = match level {
        1 => "warning",
        2 => "fatal",
        _ => "unknown level",
    };
    explain_in(
        TLS_ALERTS,
        "TLS alert",
        TLS_ALERT_SOURCE,
        line,
        format!("{level} alert {code}"),
        i64::from(code),
        code != 0,
    )
}

fn explain_in(
    table: &[Entry],
    table_name: &'static str,
    source: &'static str,
    line: usize,
    text: String,
    code: i64,
    is_error: bool,
) -> CodeExplanation {
    match lookup(table, code) {
        Some(&(_, name, meaning, cause)) => CodeExplanation {
            line,
            occurrences: 1,
            table: table_name,
            text,
            name: name.to_owned(),
            meaning: meaning.to_owned(),
            likely_cause: cause.map(str::to_owned),
            is_error,
            source,
        },
        None => CodeExplanation {
            line,
            occurrences: 1,
            table: table_name,
            text,
            name: "unknown code".to_owned(),
            meaning: format!("code {code} is not in the {table_name} table Lantern carries"),
            likely_cause: None,
            is_error,
            source,
        },
    }
}

/// A SIMCom CMQTT result code.
pub fn explain_simcom_cmqtt(line: usize, text: String, code: i64) -> CodeExplanation {
    explain_in(
        SIMCOM_CMQTT,
        "SIMCom CMQTT",
        SIMCOM_CMQTT_SOURCE,
        line,
        text,
        code,
        code != 0,
    )
}

/// A SIMCom SSL (CCH) result code (`+CCHOPEN: 0,<err>`, `+CCHSTART: <err>`, …).
pub fn explain_simcom_ssl(line: usize, text: String, code: i64) -> CodeExplanation {
    explain_in(
        SIMCOM_SSL,
        "SIMCom SSL (CCH)",
        SIMCOM_SSL_SOURCE,
        line,
        text,
        code,
        code != 0,
    )
}

/// A SIMCom `+CMQTTCONNLOST` cause.
pub fn explain_cmqtt_connlost(line: usize, text: String, cause: i64) -> CodeExplanation {
    explain_in(
        SIMCOM_CMQTT_CONNLOST,
        "SIMCom +CMQTTCONNLOST",
        SIMCOM_CMQTT_CONNLOST_SOURCE,
        line,
        text,
        cause,
        true,
    )
}

/// A SIMCom `+IPCLOSE` reason.
pub fn explain_ipclose(line: usize, text: String, reason: i64) -> CodeExplanation {
    explain_in(
        SIMCOM_IPCLOSE,
        "SIMCom +IPCLOSE",
        SIMCOM_IPCLOSE_SOURCE,
        line,
        text,
        reason,
        reason != 0,
    )
}

/// An mbedTLS error code; `magnitude` is the positive value (0x7200 for -0x7200).
pub fn explain_mbedtls(line: usize, text: String, magnitude: i64) -> CodeExplanation {
    // WANT_READ / WANT_WRITE are flow control, not failures.
    let is_error = !matches!(magnitude, 0x6880 | 0x6900);
    explain_in(
        MBEDTLS,
        "mbedTLS",
        MBEDTLS_SOURCE,
        line,
        text,
        magnitude,
        is_error,
    )
}

/// Whether Lantern's mbedTLS table knows this magnitude.
pub fn is_known_mbedtls(magnitude: i64) -> bool {
    lookup(MBEDTLS, magnitude).is_some()
}

/// An ESP-TLS (0x80xx) or generic `esp_err_t` (0x1xx) code.
pub fn explain_esp(line: usize, text: String, code: i64) -> CodeExplanation {
    if code >= 0x8000 {
        explain_in(ESP_TLS, "ESP-TLS", ESP_TLS_SOURCE, line, text, code, true)
    } else {
        explain_in(
            ESP_ERR,
            "esp_err",
            ESP_ERR_SOURCE,
            line,
            text,
            code,
            code != 0,
        )
    }
}

/// A `+CME ERROR: <n>`.
pub fn explain_cme(line: usize, text: String, code: i64) -> CodeExplanation {
    explain_in(CME, "+CME ERROR", CME_SOURCE, line, text, code, true)
}

/// An nRF91 `%CMNG` credential type.
pub fn explain_cmng_type(line: usize, text: String, code: i64) -> CodeExplanation {
    explain_in(
        NRF_CMNG_TYPES,
        "nRF91 %CMNG type",
        NRF_CMNG_SOURCE,
        line,
        text,
        code,
        false,
    )
}

/// Source of the MQTT tables.
pub const MQTT_SOURCE: &str =
    "MQTT 3.1.1 §3.2.2.3 (CONNACK return codes), MQTT 5.0 §2.4 (reason codes)";

/// A CONNACK return code (3.1.1) or reason code (5.0).
pub fn explain_connack(line: usize, reason: ReasonCode, v5: bool) -> CodeExplanation {
    let (table, text) = if v5 {
        (
            "MQTT 5.0 CONNACK reason",
            format!("0x{:02X}", reason.to_u8()),
        )
    } else {
        (
            "MQTT 3.1.1 CONNACK return code",
            format!("{}", reason.to_v3_connack()),
        )
    };
    let likely_cause = match reason {
        ReasonCode::UnsupportedProtocolVersion => Some("the broker does not speak this MQTT version; try 3.1.1"),
        ReasonCode::ClientIdentifierNotValid => Some("empty or disallowed client id (AWS IoT: must match the policy; Azure: must be the device id)"),
        ReasonCode::BadUserNameOrPassword => Some("wrong credentials, or an expired token"),
        ReasonCode::NotAuthorized => Some("the credentials are valid but not allowed here; on multi-tenant clouds also a missing or wrong SNI"),
        ReasonCode::ServerUnavailable => Some("the broker is overloaded or the tenant is not running"),
        _ => None,
    };
    CodeExplanation {
        line,
        occurrences: 1,
        table,
        text,
        name: reason.name().to_owned(),
        meaning: if reason == ReasonCode::Success {
            "connection accepted".to_owned()
        } else {
            format!("connection refused: {}", reason.name())
        },
        likely_cause: likely_cause.map(str::to_owned),
        is_error: reason.is_error() || (!v5 && reason != ReasonCode::Success),
        source: MQTT_SOURCE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simcom_32_is_handshake_fail_and_unknown_codes_are_not_guessed() {
        assert_eq!(
            explain_simcom_cmqtt(1, String::new(), 32).name,
            "handshake fail"
        );
        assert_eq!(
            explain_simcom_cmqtt(1, String::new(), 34).name,
            "open SSL session failed"
        );
        assert_eq!(
            explain_simcom_cmqtt(1, String::new(), 77).name,
            "unknown code"
        );
    }

    #[test]
    fn mbedtls_codes() {
        assert_eq!(
            explain_mbedtls(1, String::new(), 0x7200).name,
            "MBEDTLS_ERR_SSL_INVALID_RECORD"
        );
        assert_eq!(
            explain_mbedtls(1, String::new(), 0x7280).name,
            "MBEDTLS_ERR_SSL_CONN_EOF"
        );
        assert!(!explain_mbedtls(1, String::new(), 0x6900).is_error);
    }

    #[test]
    fn simcom_ssl_codes() {
        let c = explain_simcom_ssl(1, String::new(), 15);
        assert_eq!(c.name, "handshake error");
        assert!(c.is_error);
        assert_eq!(
            explain_simcom_ssl(1, String::new(), 1).name,
            "alerting state (reserved)"
        );
        assert_eq!(
            explain_simcom_ssl(1, String::new(), 19).name,
            "not set certificates"
        );
        assert!(!explain_simcom_ssl(1, String::new(), 0).is_error);
        assert_eq!(
            explain_simcom_ssl(1, String::new(), 20).name,
            "unknown code"
        );
    }

    #[test]
    fn cmqtt_connlost_causes() {
        assert_eq!(
            explain_cmqtt_connlost(1, String::new(), 1).name,
            "socket is closed passively"
        );
        assert_eq!(
            explain_cmqtt_connlost(1, String::new(), 2).name,
            "socket is reset"
        );
        assert_eq!(
            explain_cmqtt_connlost(1, String::new(), 3).name,
            "network is closed"
        );
        assert_eq!(
            explain_cmqtt_connlost(1, String::new(), 0).name,
            "unknown code"
        );
    }

    #[test]
    fn mbedtls_values_checked_against_headers() {
        // 3.x reused -0x7E80 (2.x BAD_HS_FINISHED) for CACHE_ENTRY_NOT_FOUND.
        assert!(explain_mbedtls(1, String::new(), 0x7E80)
            .name
            .contains("CACHE_ENTRY_NOT_FOUND (3.x)"));
        assert!(explain_mbedtls(1, String::new(), 0x6980)
            .name
            .ends_with("(2.x)"));
        assert_eq!(
            explain_mbedtls(1, String::new(), 0x7780).name,
            "MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE"
        );
        assert_eq!(
            explain_mbedtls(1, String::new(), 0x2700).name,
            "MBEDTLS_ERR_X509_CERT_VERIFY_FAILED"
        );
        assert_eq!(
            explain_mbedtls(1, String::new(), 0x0050).name,
            "MBEDTLS_ERR_NET_CONN_RESET"
        );
    }

    #[test]
    fn esp_codes() {
        assert_eq!(
            explain_esp(1, String::new(), 0x801A).name,
            "ESP_ERR_MBEDTLS_SSL_HANDSHAKE_FAILED"
        );
        assert_eq!(
            explain_esp(1, String::new(), 0x8008).name,
            "ESP_ERR_ESP_TLS_TCP_CLOSED_FIN"
        );
        assert_eq!(
            explain_esp(1, String::new(), 0x103).name,
            "ESP_ERR_INVALID_STATE"
        );
        assert_eq!(explain_esp(1, String::new(), 0x107).name, "ESP_ERR_TIMEOUT");
        assert_eq!(explain_esp(1, String::new(), 0x8009).name, "unknown code");
    }

    #[test]
    fn cme_and_cmng() {
        assert_eq!(explain_cme(1, String::new(), 10).name, "SIM not inserted");
        assert_eq!(explain_cme(1, String::new(), 30).name, "no network service");
        assert_eq!(explain_cme(1, String::new(), 100).name, "unknown");
        assert_eq!(
            explain_cmng_type(1, String::new(), 0).name,
            "root CA certificate"
        );
        assert_eq!(explain_cmng_type(1, String::new(), 4).name, "PSK identity");
        assert_eq!(explain_cmng_type(1, String::new(), 5).name, "unknown code");
    }

    #[test]
    fn alerts() {
        assert_eq!(tls_alert_name(48), Some("unknown_ca"));
        assert_eq!(tls_alert_name(112), Some("unrecognized_name"));
        assert_eq!(tls_alert_name(7), None);
        assert_eq!(tls_alert_name(40), Some("handshake_failure"));
        assert_eq!(tls_alert_name(116), Some("certificate_required"));
        assert_eq!(tls_alert_name(120), Some("no_application_protocol"));
    }
}
