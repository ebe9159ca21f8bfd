//! IANA names for the numbers in a TLS ClientHello: cipher suites, protocol versions,
//! extensions, signature schemes and supported groups, plus the judgements Lantern makes about a
//! cipher suite ([`is_legacy_suite`], [`is_forward_secret`]).
//!
//! Sources: the IANA "Transport Layer Security (TLS) Parameters" registries
//! (<https://www.iana.org/assignments/tls-parameters/>) and "TLS Extensions" registries
//! (<https://www.iana.org/assignments/tls-extensiontype-values/>), RFC 8446 (TLS 1.3), RFC 5246
//! (TLS 1.2) and RFC 8701 (GREASE). The cipher-suite table was cross-checked against rustls's
//! `CipherSuite` enum and `openssl ciphers -V -stdname` (OpenSSL 3.0).
//!
//! Unknown numbers are never an error: they are shown as `0xNNNN`, and GREASE values as
//! `GREASE 0xNNNN`.

/// The TLS Cipher Suites registry, sorted by number (binary-searched by [`suite_iana_name`]).
///
/// Names are the registry's "Description" column, e.g. `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`.
/// Codes the registry reserves without a name (GREASE, 0x001C–0x001D, private use) are absent.
const CIPHER_SUITES: &[(u16, &str)] = &[
    (0x0000, "TLS_NULL_WITH_NULL_NULL"),
    (0x0001, "TLS_RSA_WITH_NULL_MD5"),
    (0x0002, "TLS_RSA_WITH_NULL_SHA"),
    (0x0003, "TLS_RSA_EXPORT_WITH_RC4_40_MD5"),
    (0x0004, "TLS_RSA_WITH_RC4_128_MD5"),
    (0x0005, "TLS_RSA_WITH_RC4_128_SHA"),
    (0x0006, "TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5"),
    (0x0007, "TLS_RSA_WITH_IDEA_CBC_SHA"),
    (0x0008, "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA"),
    (0x0009, "TLS_RSA_WITH_DES_CBC_SHA"),
    (0x000A, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x000B, "TLS_DH_DSS_EXPORT_WITH_DES40_CBC_SHA"),
    (0x000C, "TLS_DH_DSS_WITH_DES_CBC_SHA"),
    (0x000D, "TLS_DH_DSS_WITH_3DES_EDE_CBC_SHA"),
    (0x000E, "TLS_DH_RSA_EXPORT_WITH_DES40_CBC_SHA"),
    (0x000F, "TLS_DH_RSA_WITH_DES_CBC_SHA"),
    (0x0010, "TLS_DH_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x0011, "TLS_DHE_DSS_EXPORT_WITH_DES40_CBC_SHA"),
    (0x0012, "TLS_DHE_DSS_WITH_DES_CBC_SHA"),
    (0x0013, "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA"),
    (0x0014, "TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA"),
    (0x0015, "TLS_DHE_RSA_WITH_DES_CBC_SHA"),
    (0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x0017, "TLS_DH_anon_EXPORT_WITH_RC4_40_MD5"),
    (0x0018, "TLS_DH_anon_WITH_RC4_128_MD5"),
    (0x0019, "TLS_DH_anon_EXPORT_WITH_DES40_CBC_SHA"),
    (0x001A, "TLS_DH_anon_WITH_DES_CBC_SHA"),
    (0x001B, "TLS_DH_anon_WITH_3DES_EDE_CBC_SHA"),
    (0x001E, "TLS_KRB5_WITH_DES_CBC_SHA"),
    (0x001F, "TLS_KRB5_WITH_3DES_EDE_CBC_SHA"),
    (0x0020, "TLS_KRB5_WITH_RC4_128_SHA"),
    (0x0021, "TLS_KRB5_WITH_IDEA_CBC_SHA"),
    (0x0022, "TLS_KRB5_WITH_DES_CBC_MD5"),
    (0x0023, "TLS_KRB5_WITH_3DES_EDE_CBC_MD5"),
    (0x0024, "TLS_KRB5_WITH_RC4_128_MD5"),
    (0x0025, "TLS_KRB5_WITH_IDEA_CBC_MD5"),
    (0x0026, "TLS_KRB5_EXPORT_WITH_DES_CBC_40_SHA"),
    (0x0027, "TLS_KRB5_EXPORT_WITH_RC2_CBC_40_SHA"),
    (0x0028, "TLS_KRB5_EXPORT_WITH_RC4_40_SHA"),
    (0x0029, "TLS_KRB5_EXPORT_WITH_DES_CBC_40_MD5"),
    (0x002A, "TLS_KRB5_EXPORT_WITH_RC2_CBC_40_MD5"),
    (0x002B, "TLS_KRB5_EXPORT_WITH_RC4_40_MD5"),
    (0x002C, "TLS_PSK_WITH_NULL_SHA"),
    (0x002D, "TLS_DHE_PSK_WITH_NULL_SHA"),
    (0x002E, "TLS_RSA_PSK_WITH_NULL_SHA"),
    (0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA"),
    (0x0030, "TLS_DH_DSS_WITH_AES_128_CBC_SHA"),
    (0x0031, "TLS_DH_RSA_WITH_AES_128_CBC_SHA"),
    (0x0032, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA"),
    (0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA"),
    (0x0034, "TLS_DH_anon_WITH_AES_128_CBC_SHA"),
    (0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA"),
    (0x0036, "TLS_DH_DSS_WITH_AES_256_CBC_SHA"),
    (0x0037, "TLS_DH_RSA_WITH_AES_256_CBC_SHA"),
    (0x0038, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA"),
    (0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA"),
    (0x003A, "TLS_DH_anon_WITH_AES_256_CBC_SHA"),
    (0x003B, "TLS_RSA_WITH_NULL_SHA256"),
    (0x003C, "TLS_RSA_WITH_AES_128_CBC_SHA256"),
    (0x003D, "TLS_RSA_WITH_AES_256_CBC_SHA256"),
    (0x003E, "TLS_DH_DSS_WITH_AES_128_CBC_SHA256"),
    (0x003F, "TLS_DH_RSA_WITH_AES_128_CBC_SHA256"),
    (0x0040, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256"),
    (0x0041, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA"),
    (0x0042, "TLS_DH_DSS_WITH_CAMELLIA_128_CBC_SHA"),
    (0x0043, "TLS_DH_RSA_WITH_CAMELLIA_128_CBC_SHA"),
    (0x0044, "TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA"),
    (0x0045, "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA"),
    (0x0046, "TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA"),
    (0x0047, "TLS_ECDH_ECDSA_WITH_NULL_SHA_draft"),
    (0x0048, "TLS_ECDH_ECDSA_WITH_RC4_128_SHA_draft"),
    (0x0049, "TLS_ECDH_ECDSA_WITH_DES_CBC_SHA_draft"),
    (0x004A, "TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA_draft"),
    (0x004B, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA_draft"),
    (0x004C, "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA_draft"),
    (0x004D, "TLS_ECDH_ECNRA_WITH_DES_CBC_SHA_draft"),
    (0x004E, "TLS_ECDH_ECNRA_WITH_3DES_EDE_CBC_SHA_draft"),
    (0x004F, "TLS_ECMQV_ECDSA_NULL_SHA_draft"),
    (0x0050, "TLS_ECMQV_ECDSA_WITH_RC4_128_SHA_draft"),
    (0x0051, "TLS_ECMQV_ECDSA_WITH_DES_CBC_SHA_draft"),
    (0x0052, "TLS_ECMQV_ECDSA_WITH_3DES_EDE_CBC_SHA_draft"),
    (0x0053, "TLS_ECMQV_ECNRA_NULL_SHA_draft"),
    (0x0054, "TLS_ECMQV_ECNRA_WITH_RC4_128_SHA_draft"),
    (0x0055, "TLS_ECMQV_ECNRA_WITH_DES_CBC_SHA_draft"),
    (0x0056, "TLS_ECMQV_ECNRA_WITH_3DES_EDE_CBC_SHA_draft"),
    (0x0057, "TLS_ECDH_anon_NULL_WITH_SHA_draft"),
    (0x0058, "TLS_ECDH_anon_WITH_RC4_128_SHA_draft"),
    (0x0059, "TLS_ECDH_anon_WITH_DES_CBC_SHA_draft"),
    (0x005A, "TLS_ECDH_anon_WITH_3DES_EDE_CBC_SHA_draft"),
    (0x005B, "TLS_ECDH_anon_EXPORT_WITH_DES40_CBC_SHA_draft"),
    (0x005C, "TLS_ECDH_anon_EXPORT_WITH_RC4_40_SHA_draft"),
    (0x0060, "TLS_RSA_EXPORT1024_WITH_RC4_56_MD5"),
    (0x0061, "TLS_RSA_EXPORT1024_WITH_RC2_CBC_56_MD5"),
    (0x0062, "TLS_RSA_EXPORT1024_WITH_DES_CBC_SHA"),
    (0x0063, "TLS_DHE_DSS_EXPORT1024_WITH_DES_CBC_SHA"),
    (0x0064, "TLS_RSA_EXPORT1024_WITH_RC4_56_SHA"),
    (0x0065, "TLS_DHE_DSS_EXPORT1024_WITH_RC4_56_SHA"),
    (0x0066, "TLS_DHE_DSS_WITH_RC4_128_SHA"),
    (0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256"),
    (0x0068, "TLS_DH_DSS_WITH_AES_256_CBC_SHA256"),
    (0x0069, "TLS_DH_RSA_WITH_AES_256_CBC_SHA256"),
    (0x006A, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256"),
    (0x006B, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256"),
    (0x006C, "TLS_DH_anon_WITH_AES_128_CBC_SHA256"),
    (0x006D, "TLS_DH_anon_WITH_AES_256_CBC_SHA256"),
    (0x0072, "TLS_DHE_DSS_WITH_3DES_EDE_CBC_RMD"),
    (0x0073, "TLS_DHE_DSS_WITH_AES_128_CBC_RMD"),
    (0x0074, "TLS_DHE_DSS_WITH_AES_256_CBC_RMD"),
    (0x0077, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_RMD"),
    (0x0078, "TLS_DHE_RSA_WITH_AES_128_CBC_RMD"),
    (0x0079, "TLS_DHE_RSA_WITH_AES_256_CBC_RMD"),
    (0x007C, "TLS_RSA_WITH_3DES_EDE_CBC_RMD"),
    (0x007D, "TLS_RSA_WITH_AES_128_CBC_RMD"),
    (0x007E, "TLS_RSA_WITH_AES_256_CBC_RMD"),
    (0x0080, "TLS_GOSTR341094_WITH_28147_CNT_IMIT"),
    (0x0081, "TLS_GOSTR341001_WITH_28147_CNT_IMIT"),
    (0x0082, "TLS_GOSTR341094_WITH_NULL_GOSTR3411"),
    (0x0083, "TLS_GOSTR341001_WITH_NULL_GOSTR3411"),
    (0x0084, "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA"),
    (0x0085, "TLS_DH_DSS_WITH_CAMELLIA_256_CBC_SHA"),
    (0x0086, "TLS_DH_RSA_WITH_CAMELLIA_256_CBC_SHA"),
    (0x0087, "TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA"),
    (0x0088, "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA"),
    (0x0089, "TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA"),
    (0x008A, "TLS_PSK_WITH_RC4_128_SHA"),
    (0x008B, "TLS_PSK_WITH_3DES_EDE_CBC_SHA"),
    (0x008C, "TLS_PSK_WITH_AES_128_CBC_SHA"),
    (0x008D, "TLS_PSK_WITH_AES_256_CBC_SHA"),
    (0x008E, "TLS_DHE_PSK_WITH_RC4_128_SHA"),
    (0x008F, "TLS_DHE_PSK_WITH_3DES_EDE_CBC_SHA"),
    (0x0090, "TLS_DHE_PSK_WITH_AES_128_CBC_SHA"),
    (0x0091, "TLS_DHE_PSK_WITH_AES_256_CBC_SHA"),
    (0x0092, "TLS_RSA_PSK_WITH_RC4_128_SHA"),
    (0x0093, "TLS_RSA_PSK_WITH_3DES_EDE_CBC_SHA"),
    (0x0094, "TLS_RSA_PSK_WITH_AES_128_CBC_SHA"),
    (0x0095, "TLS_RSA_PSK_WITH_AES_256_CBC_SHA"),
    (0x0096, "TLS_RSA_WITH_SEED_CBC_SHA"),
    (0x0097, "TLS_DH_DSS_WITH_SEED_CBC_SHA"),
    (0x0098, "TLS_DH_RSA_WITH_SEED_CBC_SHA"),
    (0x0099, "TLS_DHE_DSS_WITH_SEED_CBC_SHA"),
    (0x009A, "TLS_DHE_RSA_WITH_SEED_CBC_SHA"),
    (0x009B, "TLS_DH_anon_WITH_SEED_CBC_SHA"),
    (0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256"),
    (0x009D, "TLS_RSA_WITH_AES_256_GCM_SHA384"),
    (0x009E, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"),
    (0x009F, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384"),
    (0x00A0, "TLS_DH_RSA_WITH_AES_128_GCM_SHA256"),
    (0x00A1, "TLS_DH_RSA_WITH_AES_256_GCM_SHA384"),
    (0x00A2, "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256"),
    (0x00A3, "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384"),
    (0x00A4, "TLS_DH_DSS_WITH_AES_128_GCM_SHA256"),
    (0x00A5, "TLS_DH_DSS_WITH_AES_256_GCM_SHA384"),
    (0x00A6, "TLS_DH_anon_WITH_AES_128_GCM_SHA256"),
    (0x00A7, "TLS_DH_anon_WITH_AES_256_GCM_SHA384"),
    (0x00A8, "TLS_PSK_WITH_AES_128_GCM_SHA256"),
    (0x00A9, "TLS_PSK_WITH_AES_256_GCM_SHA384"),
    (0x00AA, "TLS_DHE_PSK_WITH_AES_128_GCM_SHA256"),
    (0x00AB, "TLS_DHE_PSK_WITH_AES_256_GCM_SHA384"),
    (0x00AC, "TLS_RSA_PSK_WITH_AES_128_GCM_SHA256"),
    (0x00AD, "TLS_RSA_PSK_WITH_AES_256_GCM_SHA384"),
    (0x00AE, "TLS_PSK_WITH_AES_128_CBC_SHA256"),
    (0x00AF, "TLS_PSK_WITH_AES_256_CBC_SHA384"),
    (0x00B0, "TLS_PSK_WITH_NULL_SHA256"),
    (0x00B1, "TLS_PSK_WITH_NULL_SHA384"),
    (0x00B2, "TLS_DHE_PSK_WITH_AES_128_CBC_SHA256"),
    (0x00B3, "TLS_DHE_PSK_WITH_AES_256_CBC_SHA384"),
    (0x00B4, "TLS_DHE_PSK_WITH_NULL_SHA256"),
    (0x00B5, "TLS_DHE_PSK_WITH_NULL_SHA384"),
    (0x00B6, "TLS_RSA_PSK_WITH_AES_128_CBC_SHA256"),
    (0x00B7, "TLS_RSA_PSK_WITH_AES_256_CBC_SHA384"),
    (0x00B8, "TLS_RSA_PSK_WITH_NULL_SHA256"),
    (0x00B9, "TLS_RSA_PSK_WITH_NULL_SHA384"),
    (0x00BA, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA256"),
    (0x00BB, "TLS_DH_DSS_WITH_CAMELLIA_128_CBC_SHA256"),
    (0x00BC, "TLS_DH_RSA_WITH_CAMELLIA_128_CBC_SHA256"),
    (0x00BD, "TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA256"),
    (0x00BE, "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA256"),
    (0x00BF, "TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA256"),
    (0x00C0, "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA256"),
    (0x00C1, "TLS_DH_DSS_WITH_CAMELLIA_256_CBC_SHA256"),
    (0x00C2, "TLS_DH_RSA_WITH_CAMELLIA_256_CBC_SHA256"),
    (0x00C3, "TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA256"),
    (0x00C4, "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA256"),
    (0x00C5, "TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA256"),
    (0x00C6, "TLS_SM4_GCM_SM3"),
    (0x00C7, "TLS_SM4_CCM_SM3"),
    (0x00FF, "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"),
    (0x1301, "TLS_AES_128_GCM_SHA256"),
    (0x1302, "TLS_AES_256_GCM_SHA384"),
    (0x1303, "TLS_CHACHA20_POLY1305_SHA256"),
    (0x1304, "TLS_AES_128_CCM_SHA256"),
    (0x1305, "TLS_AES_128_CCM_8_SHA256"),
    (0x5600, "TLS_FALLBACK_SCSV"),
    (0xC001, "TLS_ECDH_ECDSA_WITH_NULL_SHA"),
    (0xC002, "TLS_ECDH_ECDSA_WITH_RC4_128_SHA"),
    (0xC003, "TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA"),
    (0xC004, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA"),
    (0xC005, "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA"),
    (0xC006, "TLS_ECDHE_ECDSA_WITH_NULL_SHA"),
    (0xC007, "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA"),
    (0xC008, "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA"),
    (0xC009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"),
    (0xC00A, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"),
    (0xC00B, "TLS_ECDH_RSA_WITH_NULL_SHA"),
    (0xC00C, "TLS_ECDH_RSA_WITH_RC4_128_SHA"),
    (0xC00D, "TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0xC00E, "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA"),
    (0xC00F, "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA"),
    (0xC010, "TLS_ECDHE_RSA_WITH_NULL_SHA"),
    (0xC011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA"),
    (0xC012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0xC013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
    (0xC014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"),
    (0xC015, "TLS_ECDH_anon_WITH_NULL_SHA"),
    (0xC016, "TLS_ECDH_anon_WITH_RC4_128_SHA"),
    (0xC017, "TLS_ECDH_anon_WITH_3DES_EDE_CBC_SHA"),
    (0xC018, "TLS_ECDH_anon_WITH_AES_128_CBC_SHA"),
    (0xC019, "TLS_ECDH_anon_WITH_AES_256_CBC_SHA"),
    (0xC01A, "TLS_SRP_SHA_WITH_3DES_EDE_CBC_SHA"),
    (0xC01B, "TLS_SRP_SHA_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0xC01C, "TLS_SRP_SHA_DSS_WITH_3DES_EDE_CBC_SHA"),
    (0xC01D, "TLS_SRP_SHA_WITH_AES_128_CBC_SHA"),
    (0xC01E, "TLS_SRP_SHA_RSA_WITH_AES_128_CBC_SHA"),
    (0xC01F, "TLS_SRP_SHA_DSS_WITH_AES_128_CBC_SHA"),
    (0xC020, "TLS_SRP_SHA_WITH_AES_256_CBC_SHA"),
    (0xC021, "TLS_SRP_SHA_RSA_WITH_AES_256_CBC_SHA"),
    (0xC022, "TLS_SRP_SHA_DSS_WITH_AES_256_CBC_SHA"),
    (0xC023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"),
    (0xC024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384"),
    (0xC025, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256"),
    (0xC026, "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384"),
    (0xC027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"),
    (0xC028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384"),
    (0xC029, "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256"),
    (0xC02A, "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384"),
    (0xC02B, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
    (0xC02C, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
    (0xC02D, "TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256"),
    (0xC02E, "TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384"),
    (0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
    (0xC030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
    (0xC031, "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256"),
    (0xC032, "TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384"),
    (0xC033, "TLS_ECDHE_PSK_WITH_RC4_128_SHA"),
    (0xC034, "TLS_ECDHE_PSK_WITH_3DES_EDE_CBC_SHA"),
    (0xC035, "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA"),
    (0xC036, "TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA"),
    (0xC037, "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256"),
    (0xC038, "TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA384"),
    (0xC039, "TLS_ECDHE_PSK_WITH_NULL_SHA"),
    (0xC03A, "TLS_ECDHE_PSK_WITH_NULL_SHA256"),
    (0xC03B, "TLS_ECDHE_PSK_WITH_NULL_SHA384"),
    (0xC03C, "TLS_RSA_WITH_ARIA_128_CBC_SHA256"),
    (0xC03D, "TLS_RSA_WITH_ARIA_256_CBC_SHA384"),
    (0xC03E, "TLS_DH_DSS_WITH_ARIA_128_CBC_SHA256"),
    (0xC03F, "TLS_DH_DSS_WITH_ARIA_256_CBC_SHA384"),
    (0xC040, "TLS_DH_RSA_WITH_ARIA_128_CBC_SHA256"),
    (0xC041, "TLS_DH_RSA_WITH_ARIA_256_CBC_SHA384"),
    (0xC042, "TLS_DHE_DSS_WITH_ARIA_128_CBC_SHA256"),
    (0xC043, "TLS_DHE_DSS_WITH_ARIA_256_CBC_SHA384"),
    (0xC044, "TLS_DHE_RSA_WITH_ARIA_128_CBC_SHA256"),
    (0xC045, "TLS_DHE_RSA_WITH_ARIA_256_CBC_SHA384"),
    (0xC046, "TLS_DH_anon_WITH_ARIA_128_CBC_SHA256"),
    (0xC047, "TLS_DH_anon_WITH_ARIA_256_CBC_SHA384"),
    (0xC048, "TLS_ECDHE_ECDSA_WITH_ARIA_128_CBC_SHA256"),
    (0xC049, "TLS_ECDHE_ECDSA_WITH_ARIA_256_CBC_SHA384"),
    (0xC04A, "TLS_ECDH_ECDSA_WITH_ARIA_128_CBC_SHA256"),
    (0xC04B, "TLS_ECDH_ECDSA_WITH_ARIA_256_CBC_SHA384"),
    (0xC04C, "TLS_ECDHE_RSA_WITH_ARIA_128_CBC_SHA256"),
    (0xC04D, "TLS_ECDHE_RSA_WITH_ARIA_256_CBC_SHA384"),
    (0xC04E, "TLS_ECDH_RSA_WITH_ARIA_128_CBC_SHA256"),
    (0xC04F, "TLS_ECDH_RSA_WITH_ARIA_256_CBC_SHA384"),
    (0xC050, "TLS_RSA_WITH_ARIA_128_GCM_SHA256"),
    (0xC051, "TLS_RSA_WITH_ARIA_256_GCM_SHA384"),
    (0xC052, "TLS_DHE_RSA_WITH_ARIA_128_GCM_SHA256"),
    (0xC053, "TLS_DHE_RSA_WITH_ARIA_256_GCM_SHA384"),
    (0xC054, "TLS_DH_RSA_WITH_ARIA_128_GCM_SHA256"),
    (0xC055, "TLS_DH_RSA_WITH_ARIA_256_GCM_SHA384"),
    (0xC056, "TLS_DHE_DSS_WITH_ARIA_128_GCM_SHA256"),
    (0xC057, "TLS_DHE_DSS_WITH_ARIA_256_GCM_SHA384"),
    (0xC058, "TLS_DH_DSS_WITH_ARIA_128_GCM_SHA256"),
    (0xC059, "TLS_DH_DSS_WITH_ARIA_256_GCM_SHA384"),
    (0xC05A, "TLS_DH_anon_WITH_ARIA_128_GCM_SHA256"),
    (0xC05B, "TLS_DH_anon_WITH_ARIA_256_GCM_SHA384"),
    (0xC05C, "TLS_ECDHE_ECDSA_WITH_ARIA_128_GCM_SHA256"),
    (0xC05D, "TLS_ECDHE_ECDSA_WITH_ARIA_256_GCM_SHA384"),
    (0xC05E, "TLS_ECDH_ECDSA_WITH_ARIA_128_GCM_SHA256"),
    (0xC05F, "TLS_ECDH_ECDSA_WITH_ARIA_256_GCM_SHA384"),
    (0xC060, "TLS_ECDHE_RSA_WITH_ARIA_128_GCM_SHA256"),
    (0xC061, "TLS_ECDHE_RSA_WITH_ARIA_256_GCM_SHA384"),
    (0xC062, "TLS_ECDH_RSA_WITH_ARIA_128_GCM_SHA256"),
    (0xC063, "TLS_ECDH_RSA_WITH_ARIA_256_GCM_SHA384"),
    (0xC064, "TLS_PSK_WITH_ARIA_128_CBC_SHA256"),
    (0xC065, "TLS_PSK_WITH_ARIA_256_CBC_SHA384"),
    (0xC066, "TLS_DHE_PSK_WITH_ARIA_128_CBC_SHA256"),
    (0xC067, "TLS_DHE_PSK_WITH_ARIA_256_CBC_SHA384"),
    (0xC068, "TLS_RSA_PSK_WITH_ARIA_128_CBC_SHA256"),
    (0xC069, "TLS_RSA_PSK_WITH_ARIA_256_CBC_SHA384"),
    (0xC06A, "TLS_PSK_WITH_ARIA_128_GCM_SHA256"),
    (0xC06B, "TLS_PSK_WITH_ARIA_256_GCM_SHA384"),
    (0xC06C, "TLS_DHE_PSK_WITH_ARIA_128_GCM_SHA256"),
    (0xC06D, "TLS_DHE_PSK_WITH_ARIA_256_GCM_SHA384"),
    (0xC06E, "TLS_RSA_PSK_WITH_ARIA_128_GCM_SHA256"),
    (0xC06F, "TLS_RSA_PSK_WITH_ARIA_256_GCM_SHA384"),
    (0xC070, "TLS_ECDHE_PSK_WITH_ARIA_128_CBC_SHA256"),
    (0xC071, "TLS_ECDHE_PSK_WITH_ARIA_256_CBC_SHA384"),
    (0xC072, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_CBC_SHA256"),
    (0xC073, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_CBC_SHA384"),
    (0xC074, "TLS_ECDH_ECDSA_WITH_CAMELLIA_128_CBC_SHA256"),
    (0xC075, "TLS_ECDH_ECDSA_WITH_CAMELLIA_256_CBC_SHA384"),
    (0xC076, "TLS_ECDHE_RSA_WITH_CAMELLIA_128_CBC_SHA256"),
    (0xC077, "TLS_ECDHE_RSA_WITH_CAMELLIA_256_CBC_SHA384"),
    (0xC078, "TLS_ECDH_RSA_WITH_CAMELLIA_128_CBC_SHA256"),
    (0xC079, "TLS_ECDH_RSA_WITH_CAMELLIA_256_CBC_SHA384"),
    (0xC07A, "TLS_RSA_WITH_CAMELLIA_128_GCM_SHA256"),
    (0xC07B, "TLS_RSA_WITH_CAMELLIA_256_GCM_SHA384"),
    (0xC07C, "TLS_DHE_RSA_WITH_CAMELLIA_128_GCM_SHA256"),
    (0xC07D, "TLS_DHE_RSA_WITH_CAMELLIA_256_GCM_SHA384"),
    (0xC07E, "TLS_DH_RSA_WITH_CAMELLIA_128_GCM_SHA256"),
    (0xC07F, "TLS_DH_RSA_WITH_CAMELLIA_256_GCM_SHA384"),
    (0xC080, "TLS_DHE_DSS_WITH_CAMELLIA_128_GCM_SHA256"),
    (0xC081, "TLS_DHE_DSS_WITH_CAMELLIA_256_GCM_SHA384"),
    (0xC082, "TLS_DH_DSS_WITH_CAMELLIA_128_GCM_SHA256"),
    (0xC083, "TLS_DH_DSS_WITH_CAMELLIA_256_GCM_SHA384"),
    (0xC084, "TLS_DH_anon_WITH_CAMELLIA_128_GCM_SHA256"),
    (0xC085, "TLS_DH_anon_WITH_CAMELLIA_256_GCM_SHA384"),
    (0xC086, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_GCM_SHA256"),
    (0xC087, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_GCM_SHA384"),
    (0xC088, "TLS_ECDH_ECDSA_WITH_CAMELLIA_128_GCM_SHA256"),
    (0xC089, "TLS_ECDH_ECDSA_WITH_CAMELLIA_256_GCM_SHA384"),
    (0xC08A, "TLS_ECDHE_RSA_WITH_CAMELLIA_128_GCM_SHA256"),
    (0xC08B, "TLS_ECDHE_RSA_WITH_CAMELLIA_256_GCM_SHA384"),
    (0xC08C, "TLS_ECDH_RSA_WITH_CAMELLIA_128_GCM_SHA256"),
    (0xC08D, "TLS_ECDH_RSA_WITH_CAMELLIA_256_GCM_SHA384"),
    (0xC08E, "TLS_PSK_WITH_CAMELLIA_128_GCM_SHA256"),
    (0xC08F, "TLS_PSK_WITH_CAMELLIA_256_GCM_SHA384"),
    (0xC090, "TLS_DHE_PSK_WITH_CAMELLIA_128_GCM_SHA256"),
    (0xC091, "TLS_DHE_PSK_WITH_CAMELLIA_256_GCM_SHA384"),
    (0xC092, "TLS_RSA_PSK_WITH_CAMELLIA_128_GCM_SHA256"),
    (0xC093, "TLS_RSA_PSK_WITH_CAMELLIA_256_GCM_SHA384"),
    (0xC094, "TLS_PSK_WITH_CAMELLIA_128_CBC_SHA256"),
    (0xC095, "TLS_PSK_WITH_CAMELLIA_256_CBC_SHA384"),
    (0xC096, "TLS_DHE_PSK_WITH_CAMELLIA_128_CBC_SHA256"),
    (0xC097, "TLS_DHE_PSK_WITH_CAMELLIA_256_CBC_SHA384"),
    (0xC098, "TLS_RSA_PSK_WITH_CAMELLIA_128_CBC_SHA256"),
    (0xC099, "TLS_RSA_PSK_WITH_CAMELLIA_256_CBC_SHA384"),
    (0xC09A, "TLS_ECDHE_PSK_WITH_CAMELLIA_128_CBC_SHA256"),
    (0xC09B, "TLS_ECDHE_PSK_WITH_CAMELLIA_256_CBC_SHA384"),
    (0xC09C, "TLS_RSA_WITH_AES_128_CCM"),
    (0xC09D, "TLS_RSA_WITH_AES_256_CCM"),
    (0xC09E, "TLS_DHE_RSA_WITH_AES_128_CCM"),
    (0xC09F, "TLS_DHE_RSA_WITH_AES_256_CCM"),
    (0xC0A0, "TLS_RSA_WITH_AES_128_CCM_8"),
    (0xC0A1, "TLS_RSA_WITH_AES_256_CCM_8"),
    (0xC0A2, "TLS_DHE_RSA_WITH_AES_128_CCM_8"),
    (0xC0A3, "TLS_DHE_RSA_WITH_AES_256_CCM_8"),
    (0xC0A4, "TLS_PSK_WITH_AES_128_CCM"),
    (0xC0A5, "TLS_PSK_WITH_AES_256_CCM"),
    (0xC0A6, "TLS_DHE_PSK_WITH_AES_128_CCM"),
    (0xC0A7, "TLS_DHE_PSK_WITH_AES_256_CCM"),
    (0xC0A8, "TLS_PSK_WITH_AES_128_CCM_8"),
    (0xC0A9, "TLS_PSK_WITH_AES_256_CCM_8"),
    (0xC0AA, "TLS_PSK_DHE_WITH_AES_128_CCM_8"),
    (0xC0AB, "TLS_PSK_DHE_WITH_AES_256_CCM_8"),
    (0xC0AC, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM"),
    (0xC0AD, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM"),
    (0xC0AE, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8"),
    (0xC0AF, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8"),
    (0xC0B4, "TLS_SHA256_SHA256"),
    (0xC0B5, "TLS_SHA384_SHA384"),
    (0xC100, "TLS_GOSTR341112_256_WITH_KUZNYECHIK_CTR_OMAC"),
    (0xC101, "TLS_GOSTR341112_256_WITH_MAGMA_CTR_OMAC"),
    (0xC102, "TLS_GOSTR341112_256_WITH_28147_CNT_IMIT"),
    (0xC103, "TLS_GOSTR341112_256_WITH_KUZNYECHIK_MGM_L"),
    (0xC104, "TLS_GOSTR341112_256_WITH_MAGMA_MGM_L"),
    (0xC105, "TLS_GOSTR341112_256_WITH_KUZNYECHIK_MGM_S"),
    (0xC106, "TLS_GOSTR341112_256_WITH_MAGMA_MGM_S"),
    (0xCCA8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
    (0xCCA9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
    (0xCCAA, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
    (0xCCAB, "TLS_PSK_WITH_CHACHA20_POLY1305_SHA256"),
    (0xCCAC, "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256"),
    (0xCCAD, "TLS_DHE_PSK_WITH_CHACHA20_POLY1305_SHA256"),
    (0xCCAE, "TLS_RSA_PSK_WITH_CHACHA20_POLY1305_SHA256"),
    (0xD001, "TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256"),
    (0xD002, "TLS_ECDHE_PSK_WITH_AES_256_GCM_SHA384"),
    (0xD003, "TLS_ECDHE_PSK_WITH_AES_128_CCM_8_SHA256"),
    (0xD005, "TLS_ECDHE_PSK_WITH_AES_128_CCM_SHA256"),
];

/// TLS 1.3-style suites (RFC 8446 §B.4, RFC 9150, RFC 8998, RFC 9367): they name only the AEAD
/// and hash; key exchange is negotiated separately, always ephemeral unless PSK-only.
const TLS13_SUITES: &[u16] = &[
    0x1301, 0x1302, 0x1303, 0x1304, 0x1305, // RFC 8446
    0x00C6, 0x00C7, // SM4 (RFC 8998)
    0xC0B4, 0xC0B5, // integrity-only (RFC 9150)
    0xC103, 0xC104, 0xC105, 0xC106, // GOST (RFC 9367)
];

/// TLS_EMPTY_RENEGOTIATION_INFO_SCSV (RFC 5746 §3.3): "I support secure renegotiation", sent as
/// a cipher suite instead of the renegotiation_info extension.
pub const EMPTY_RENEGOTIATION_INFO_SCSV: u16 = 0x00FF;

/// TLS_FALLBACK_SCSV (RFC 7507 §4): the client is retrying with a lower version than it supports.
pub const FALLBACK_SCSV: u16 = 0x5600;

/// The IANA name of cipher suite `id`, or `0xNNNN` when the registry has none (`GREASE 0xNNNN`
/// for RFC 8701 GREASE values).
pub fn suite_name(id: u16) -> String {
    match suite_iana_name(id) {
        Some(name) => name.to_owned(),
        None => unnamed(id),
    }
}

/// The IANA name of cipher suite `id`, if the registry has one.
pub fn suite_iana_name(id: u16) -> Option<&'static str> {
    CIPHER_SUITES
        .binary_search_by_key(&id, |&(code, _)| code)
        .ok()
        .map(|i| CIPHER_SUITES[i].1)
}

/// Whether `value` is one of the sixteen GREASE values of RFC 8701 §2 (`0x0A0A`, `0x1A1A`, …,
/// `0xFAFA`), which clients sprinkle into lists so that servers keep ignoring unknown values.
pub fn is_grease(value: u16) -> bool {
    value & 0x0F0F == 0x0A0A && value >> 8 == value & 0xFF
}

/// The number of a cipher suite written as [`suite_name`] writes it: an IANA name, `0xNNNN`,
/// or `GREASE 0xNNNN`. Stories carry names; this turns them back into what the tables know.
pub fn suite_id(name: &str) -> Option<u16> {
    let hex = name.strip_prefix("GREASE ").unwrap_or(name);
    if let Some(digits) = hex.strip_prefix("0x") {
        return u16::from_str_radix(digits, 16).ok();
    }
    CIPHER_SUITES
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(id, _)| *id)
}

/// [`is_legacy_suite`] for a suite name; unknown names are not legacy.
pub fn is_legacy_suite_name(name: &str) -> bool {
    suite_id(name).is_some_and(is_legacy_suite)
}

/// Whether a name in a cipher suite list is a signalling value or GREASE, not a suite.
pub fn is_signaling_suite_name(name: &str) -> bool {
    suite_id(name).is_some_and(|id| is_signaling_suite(id) || is_grease(id))
}

/// Whether `id` is a signalling value rather than a cipher suite: the renegotiation SCSV
/// (0x00FF) or TLS_FALLBACK_SCSV (0x5600).
pub fn is_signaling_suite(id: u16) -> bool {
    id == EMPTY_RENEGOTIATION_INFO_SCSV || id == FALLBACK_SCSV
}

/// Whether `id` is a TLS 1.3 suite (it names only an AEAD and a hash).
pub fn is_tls13_suite(id: u16) -> bool {
    TLS13_SUITES.contains(&id)
}

/// Whether `id` is a suite a modern server (rustls, and Lantern) will not negotiate:
///
/// - key exchange without an ephemeral key: static RSA (`TLS_RSA_*`, `TLS_RSA_PSK_*`), static
///   (EC)DH (`TLS_DH_*`, `TLS_ECDH_*`), anonymous (`*_anon_*`), Kerberos, `TLS_NULL_*`;
/// - export-grade suites (`*_EXPORT*`);
/// - any CBC-mode cipher (AES, Camellia, ARIA, SEED, IDEA, DES, 3DES, RC2), RC4, and NULL
///   encryption.
///
/// Signalling values (SCSVs), GREASE, TLS 1.3 suites and unknown numbers are not legacy.
/// Plain PSK with an AEAD (`TLS_PSK_WITH_AES_128_GCM_SHA256`) is not legacy, though it is not
/// forward secret either.
pub fn is_legacy_suite(id: u16) -> bool {
    let Some((kx, cipher)) = split_suite(id) else {
        return false;
    };
    let static_kx = kx == "RSA"
        || kx.starts_with("RSA_")
        || kx.starts_with("DH_")
        || kx.starts_with("ECDH_")
        || kx.starts_with("KRB5")
        || kx == "NULL";
    let weak_cipher = cipher.contains("_CBC")
        || cipher.contains("3DES")
        || cipher.contains("RC4")
        || cipher.starts_with("NULL");
    static_kx || kx.contains("EXPORT") || weak_cipher
}

/// Whether `id` gives forward secrecy: every TLS 1.3 suite, and TLS 1.2 suites whose key
/// exchange is ephemeral Diffie-Hellman (`DHE_*`, `ECDHE_*`, `PSK_DHE`). Export-grade and
/// anonymous suites are reported `false`, as are unknown numbers.
pub fn is_forward_secret(id: u16) -> bool {
    if is_tls13_suite(id) {
        return true;
    }
    match split_suite(id) {
        Some((kx, _)) => kx.contains("DHE") && !kx.contains("EXPORT"),
        None => false,
    }
}

/// Splits a TLS 1.2-style suite name `TLS_<key exchange>_WITH_<cipher>_<mac>` into its key
/// exchange and cipher parts; `None` for unknown numbers, SCSVs and TLS 1.3 suites.
fn split_suite(id: u16) -> Option<(&'static str, &'static str)> {
    if is_tls13_suite(id) || is_signaling_suite(id) {
        return None;
    }
    suite_iana_name(id)?
        .strip_prefix("TLS_")?
        .split_once("_WITH_")
}

/// The name of a protocol version as Lantern prints it: `TLSv1.3`, `TLSv1.2`, `TLSv1.1`,
/// `TLSv1.0`, `SSLv3`, `TLSv1.3-draft28` (0x7F1C), else `0xNNNN`.
pub fn version_name(version: u16) -> String {
    match version {
        0x0304 => "TLSv1.3".to_owned(),
        0x0303 => "TLSv1.2".to_owned(),
        0x0302 => "TLSv1.1".to_owned(),
        0x0301 => "TLSv1.0".to_owned(),
        0x0300 => "SSLv3".to_owned(),
        0x0002 => "SSLv2".to_owned(),
        0xFEFF => "DTLSv1.0".to_owned(),
        0xFEFD => "DTLSv1.2".to_owned(),
        0xFEFC => "DTLSv1.3".to_owned(),
        v if v >> 8 == 0x7F => format!("TLSv1.3-draft{}", v & 0xFF),
        v => unnamed(v),
    }
}

/// The IANA name of extension type `id` (TLS ExtensionType Values registry), or `0xNNNN`.
pub fn extension_name(id: u16) -> String {
    let name = match id {
        0 => "server_name",
        1 => "max_fragment_length",
        2 => "client_certificate_url",
        3 => "trusted_ca_keys",
        4 => "truncated_hmac",
        5 => "status_request",
        6 => "user_mapping",
        7 => "client_authz",
        8 => "server_authz",
        9 => "cert_type",
        10 => "supported_groups",
        11 => "ec_point_formats",
        12 => "srp",
        13 => "signature_algorithms",
        14 => "use_srtp",
        15 => "heartbeat",
        16 => "application_layer_protocol_negotiation",
        17 => "status_request_v2",
        18 => "signed_certificate_timestamp",
        19 => "client_certificate_type",
        20 => "server_certificate_type",
        21 => "padding",
        22 => "encrypt_then_mac",
        23 => "extended_master_secret",
        24 => "token_binding",
        25 => "cached_info",
        26 => "tls_lts",
        27 => "compress_certificate",
        28 => "record_size_limit",
        29 => "pwd_protect",
        30 => "pwd_clear",
        31 => "password_salt",
        32 => "ticket_pinning",
        33 => "tls_cert_with_extern_psk",
        34 => "delegated_credential",
        35 => "session_ticket",
        36 => "TLMSP",
        37 => "TLMSP_proxying",
        38 => "TLMSP_delegate",
        39 => "supported_ekt_ciphers",
        41 => "pre_shared_key",
        42 => "early_data",
        43 => "supported_versions",
        44 => "cookie",
        45 => "psk_key_exchange_modes",
        47 => "certificate_authorities",
        48 => "oid_filters",
        49 => "post_handshake_auth",
        50 => "signature_algorithms_cert",
        51 => "key_share",
        52 => "transparency_info",
        53 => "connection_id_deprecated",
        54 => "connection_id",
        55 => "external_id_hash",
        56 => "external_session_id",
        57 => "quic_transport_parameters",
        58 => "ticket_request",
        59 => "dnssec_chain",
        60 => "sequence_number_encryption_algorithms",
        61 => "rrc",
        62 => "tls_flags",
        // Not in the IANA registry, but common on the wire.
        0x3374 => "next_protocol_negotiation",
        0x4469 => "application_settings_old",
        0x44CD => "application_settings",
        0xFE0D => "encrypted_client_hello",
        0xFF01 => "renegotiation_info",
        _ => return unnamed(id),
    };
    name.to_owned()
}

/// The IANA name of signature scheme `id` (TLS SignatureScheme registry, RFC 8446 §4.2.3), or
/// `0xNNNN`.
///
/// TLS 1.2 encodes `SignatureAndHashAlgorithm` (RFC 5246 §7.4.1.4.1) in the same two bytes, hash
/// first; the pairs TLS 1.3 did not register (MD5, SHA-224, DSA) get names in the same style,
/// e.g. `rsa_pkcs1_sha224` for 0x0301 as sent by mbedTLS in field report 002.
pub fn signature_scheme_name(id: u16) -> String {
    let name = match id {
        0x0101 => "rsa_pkcs1_md5",
        0x0102 => "dsa_md5",
        0x0103 => "ecdsa_md5",
        0x0201 => "rsa_pkcs1_sha1",
        0x0202 => "dsa_sha1",
        0x0203 => "ecdsa_sha1",
        0x0301 => "rsa_pkcs1_sha224",
        0x0302 => "dsa_sha224",
        0x0303 => "ecdsa_sha224",
        0x0401 => "rsa_pkcs1_sha256",
        0x0402 => "dsa_sha256",
        0x0403 => "ecdsa_secp256r1_sha256",
        0x0420 => "rsa_pkcs1_sha256_legacy",
        0x0501 => "rsa_pkcs1_sha384",
        0x0502 => "dsa_sha384",
        0x0503 => "ecdsa_secp384r1_sha384",
        0x0520 => "rsa_pkcs1_sha384_legacy",
        0x0601 => "rsa_pkcs1_sha512",
        0x0602 => "dsa_sha512",
        0x0603 => "ecdsa_secp521r1_sha512",
        0x0620 => "rsa_pkcs1_sha512_legacy",
        0x0704 => "eccsi_sha256",
        0x0705 => "iso_ibs1",
        0x0706 => "iso_ibs2",
        0x0707 => "iso_chinese_ibs",
        0x0708 => "sm2sig_sm3",
        0x0709 => "gostr34102012_256a",
        0x070A => "gostr34102012_256b",
        0x070B => "gostr34102012_256c",
        0x070C => "gostr34102012_256d",
        0x070D => "gostr34102012_512a",
        0x070E => "gostr34102012_512b",
        0x070F => "gostr34102012_512c",
        0x0804 => "rsa_pss_rsae_sha256",
        0x0805 => "rsa_pss_rsae_sha384",
        0x0806 => "rsa_pss_rsae_sha512",
        0x0807 => "ed25519",
        0x0808 => "ed448",
        0x0809 => "rsa_pss_pss_sha256",
        0x080A => "rsa_pss_pss_sha384",
        0x080B => "rsa_pss_pss_sha512",
        0x081A => "ecdsa_brainpoolP256r1tls13_sha256",
        0x081B => "ecdsa_brainpoolP384r1tls13_sha384",
        0x081C => "ecdsa_brainpoolP512r1tls13_sha512",
        0x0904 => "mldsa44",
        0x0905 => "mldsa65",
        0x0906 => "mldsa87",
        _ => return unnamed(id),
    };
    name.to_owned()
}

/// The IANA name of supported group `id` (TLS Supported Groups registry, RFC 8446 §4.2.7,
/// RFC 8422 §5.1.1), or `0xNNNN`.
pub fn group_name(id: u16) -> String {
    const SECT_SECP: [&str; 25] = [
        "sect163k1",
        "sect163r1",
        "sect163r2",
        "sect193r1",
        "sect193r2",
        "sect233k1",
        "sect233r1",
        "sect239k1",
        "sect283k1",
        "sect283r1",
        "sect409k1",
        "sect409r1",
        "sect571k1",
        "sect571r1",
        "secp160k1",
        "secp160r1",
        "secp160r2",
        "secp192k1",
        "secp192r1",
        "secp224k1",
        "secp224r1",
        "secp256k1",
        "secp256r1",
        "secp384r1",
        "secp521r1",
    ];
    let name = match id {
        1..=25 => SECT_SECP[usize::from(id) - 1],
        26 => "brainpoolP256r1",
        27 => "brainpoolP384r1",
        28 => "brainpoolP512r1",
        29 => "x25519",
        30 => "x448",
        31 => "brainpoolP256r1tls13",
        32 => "brainpoolP384r1tls13",
        33 => "brainpoolP512r1tls13",
        34 => "GC256A",
        35 => "GC256B",
        36 => "GC256C",
        37 => "GC256D",
        38 => "GC512A",
        39 => "GC512B",
        40 => "GC512C",
        41 => "curveSM2",
        256 => "ffdhe2048",
        257 => "ffdhe3072",
        258 => "ffdhe4096",
        259 => "ffdhe6144",
        260 => "ffdhe8192",
        0x0200 => "MLKEM512",
        0x0201 => "MLKEM768",
        0x0202 => "MLKEM1024",
        0x11EB => "SecP256r1MLKEM768",
        0x11EC => "X25519MLKEM768",
        0x11ED => "SecP384r1MLKEM1024",
        0x6399 => "X25519Kyber768Draft00",
        0x639A => "SecP256r1Kyber768Draft00",
        0xFF01 => "arbitrary_explicit_prime_curves",
        0xFF02 => "arbitrary_explicit_char2_curves",
        _ => return unnamed(id),
    };
    name.to_owned()
}

/// `GREASE 0xNNNN` or `0xNNNN`.
fn unnamed(id: u16) -> String {
    if is_grease(id) {
        format!("GREASE 0x{id:04X}")
    } else {
        format!("0x{id:04X}")
    }
}
