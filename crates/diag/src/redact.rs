//! Redaction of credentials in text a client sent, before that text is quoted anywhere (the log
//! line, the story in the ring, the JSON-lines log and the admin API, `lantern why`, and
//! `lantern decode`).
//!
//! Devices that speak the wrong protocol often send their secrets in the clear: a modem in
//! transparent mode writes `AT+CMQTTCONNECT=0,"tcp://host:1883",60,1,"user","secret"` into the
//! socket, a web client sends `GET /mqtt?token=… HTTP/1.1` with an `Authorization` header. Lantern
//! quotes such input because it explains the failure; [`redact`] is the one function every quote
//! goes through. It replaces the secret with [`MARKER`] and keeps everything else (command
//! names, indexes, host names, ports), so the explanation still says what happened.
//!
//! What is redacted:
//! - AT command arguments that carry credentials, by position for the commands that have them
//!   (SIMCom `+CMQTTCONNECT` user and password, `+CSTT`, `+CGAUTH`, `+CPIN`; Quectel `+QMTCONN`,
//!   `+QICSGP`; Espressif `+MQTTUSERCFG`, `+CWJAP`, `+CWSAP`; nRF91 `%CMNG` keys), every argument
//!   after a parameter that names a secret (`AT+SMCONF="PASSWORD","…"`, `AT+SAPBR=3,1,"PWD","…"`,
//!   `AT+QMTCFG="aliauth",0,…`), every non-numeric argument of a command whose name says it
//!   carries a secret (`AT+CMQTTPASS=…`-like), and the data line after ESP-AT's
//!   `AT+MQTTLONGPASSWORD` / `AT+MQTTLONGUSERNAME`;
//! - URL userinfo (`mqtt://user:<redacted>@host`, `mqtt://<redacted>@host`) and every query
//!   value (`?token=<redacted>`), in URLs and in HTTP request targets;
//! - HTTP headers that carry credentials (`Authorization`, `Proxy-Authorization`, `Cookie`,
//!   `Set-Cookie`, `X-Api-Key`, anything naming a token, secret or password);
//! - `name=value` and `name: value` pairs whose name is a password, token, key or secret
//!   (quoted values, with backslash escapes, included).
//!
//! Redaction is idempotent (`redact(redact(x)) == redact(x)`), so text may pass through it more
//! than once (when it is recorded and again when an old story is shown). It is a safety net for
//! quoted input, not a parser: it errs on the side of hiding a value.

use std::borrow::Cow;

/// What replaces a secret.
pub const MARKER: &str = "<redacted>";

/// Redacts credentials in `text` (one line or several). Borrowed when nothing was redacted.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut redactor = Redactor::default();
    let mut out = String::new();
    let mut changed = false;
    for line in text.split_inclusive('\n') {
        let r = redactor.line(line);
        changed |= matches!(r, Cow::Owned(_));
        out.push_str(&r);
    }
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    }
}

/// Redacts a transcript line by line, remembering what a line means for the next one (the data
/// line that follows ESP-AT's `AT+MQTTLONGPASSWORD`).
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    /// The next data line is a secret.
    secret_data_next: bool,
}

impl Redactor {
    /// Redacts one line (with or without its line ending).
    pub fn line<'a>(&mut self, line: &'a str) -> Cow<'a, str> {
        let (body, ending) = split_ending(line);
        if self.secret_data_next {
            let trimmed = body.trim();
            if trimmed.is_empty() || trimmed == "OK" || trimmed == ">" || trimmed == "ERROR" {
                return Cow::Borrowed(line);
            }
            self.secret_data_next = false;
            // `>secret` (the prompt and the data on one line) keeps its prompt.
            let prompt = if trimmed.starts_with('>') { ">" } else { "" };
            if trimmed == format!("{prompt}{MARKER}") {
                return Cow::Borrowed(line);
            }
            return Cow::Owned(format!("{prompt}{MARKER}{ending}"));
        }
        let upper = body.to_ascii_uppercase();
        if upper.contains("AT+MQTTLONGPASSWORD=") || upper.contains("AT+MQTTLONGUSERNAME=") {
            self.secret_data_next = true;
        }
        let mut text = Cow::Borrowed(body);
        for pass in [at_commands, urls, header, pairs] {
            if let Some(changed) = pass(&text) {
                text = Cow::Owned(changed);
            }
        }
        match text {
            Cow::Borrowed(_) => Cow::Borrowed(line),
            Cow::Owned(mut s) => {
                s.push_str(ending);
                Cow::Owned(s)
            }
        }
    }
}

fn split_ending(line: &str) -> (&str, &str) {
    let body = line.trim_end_matches(['\r', '\n']);
    (body, &line[body.len()..])
}

// ------------------------------------------------------------------------------------------------
// AT commands
// ------------------------------------------------------------------------------------------------

/// Arguments (0-based) that carry credentials, by command name (after `AT`).
const SECRET_ARGS: &[(&str, &[usize])] = &[
    // SIMCom A76xx/SIM7600: AT+CMQTTCONNECT=<idx>,"<server>",<keepalive>[,<clean>[,"<user>"[,"<pass>"]]]
    ("+CMQTTCONNECT", &[4, 5]),
    // Quectel BG9x/EC2x: AT+QMTCONN=<idx>,"<client id>"[,"<user>"[,"<pass>"]]
    ("+QMTCONN", &[2, 3]),
    // Espressif ESP-AT: AT+MQTTUSERCFG=<link>,<scheme>,"<client id>","<user>","<pass>",…
    ("+MQTTUSERCFG", &[3, 4]),
    // ESP-AT Wi-Fi: AT+CWJAP="<ssid>","<pwd>",…; soft AP: AT+CWSAP="<ssid>","<pwd>",…
    ("+CWJAP", &[1]),
    ("+CWJAP_CUR", &[1]),
    ("+CWJAP_DEF", &[1]),
    ("+CWSAP", &[1]),
    ("+CWSAP_CUR", &[1]),
    ("+CWSAP_DEF", &[1]),
    // SIMCom SIM800: AT+CSTT="<apn>","<user>","<pwd>"
    ("+CSTT", &[1, 2]),
    // SIMCom: AT+CGAUTH=<cid>,<type>,"<passwd>","<user>"
    ("+CGAUTH", &[2, 3]),
    // Quectel: AT+QICSGP=<ctx>,<type>,"<apn>","<user>","<pwd>",<auth>
    ("+QICSGP", &[3, 4]),
    // SIM PIN and facility passwords.
    ("+CPIN", &[0, 1]),
    ("+CPWD", &[1, 2]),
    ("+CLCK", &[2]),
    // nRF91: AT%CMNG=<op>,<sec_tag>,<type>,"<content>"[,<passphrase>]; keys and PSKs are secret.
    ("%CMNG", &[4]),
];

/// Words that, in a command name, mean its arguments are credentials.
const SECRET_WORDS: &[&str] = &[
    "PASS", "PWD", "SECRET", "TOKEN", "PSK", "USER", "AUTH", "KEY", "CRED",
];

/// Words that, in a parameter name (`AT+SMCONF="PASSWORD",…`), mean the arguments after it are
/// credentials. Not "KEY": `AT+CSSLCFG="clientkey",0,"client.pem"` names a file, which helps
/// the diagnosis and is no secret.
const SECRET_PARAM_WORDS: &[&str] = &[
    "PASS", "PWD", "SECRET", "TOKEN", "PSK", "USER", "AUTH", "CRED", "APIKEY", "PRIVKEY",
];

fn at_commands(line: &str) -> Option<String> {
    at_response(line).or_else(|| at_command_lines(line))
}

/// A response that echoes a command's arguments (`+MQTTUSERCFG:0,1,"id","user","pass",…`, the
/// answer to `AT+MQTTUSERCFG?`): redacted by the same positions as the command.
fn at_response(line: &str) -> Option<String> {
    let trimmed = line.trim_start();
    let indent = line.len() - trimmed.len();
    let bytes = trimmed.as_bytes();
    if !matches!(bytes.first(), Some(b'+' | b'%')) {
        return None;
    }
    let name_end = 1 + bytes[1..]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
        .count();
    if bytes.get(name_end) != Some(&b':') {
        return None;
    }
    let name = trimmed[..name_end].to_ascii_uppercase();
    let args_start = indent + name_end + 1;
    let (args, end) = split_args(line, args_start);
    let redacted = redact_args(&name, &args, true)?;
    Some(format!("{}{redacted}{}", &line[..args_start], &line[end..]))
}

fn at_command_lines(line: &str) -> Option<String> {
    let bytes = line.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    let mut changed = false;
    while i + 2 < bytes.len() {
        let starts = bytes[i].eq_ignore_ascii_case(&b'A')
            && bytes[i + 1].eq_ignore_ascii_case(&b'T')
            && matches!(bytes[i + 2], b'+' | b'%' | b'#' | b'$' | b'^')
            && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric());
        if !starts {
            i += 1;
            continue;
        }
        // One or more commands: `AT+A=1;+B=2`.
        let mut at = i + 2;
        loop {
            let name_end = at
                + 1
                + bytes[at + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                    .count();
            let name = line[at..name_end].to_ascii_uppercase();
            if bytes.get(name_end) != Some(&b'=') {
                at = name_end;
                break;
            }
            let args_start = name_end + 1;
            let (args, end) = split_args(line, args_start);
            if let Some(redacted) = redact_args(&name, &args, false) {
                out.push_str(&line[copied..args_start]);
                out.push_str(&redacted);
                copied = end;
                changed = true;
            }
            at = end;
            // `;+NEXT=…` continues the command line.
            if bytes.get(at) == Some(&b';')
                && matches!(bytes.get(at + 1), Some(b'+' | b'%' | b'#' | b'$' | b'^'))
            {
                at += 1;
                continue;
            }
            break;
        }
        i = at.max(i + 1);
    }
    if !changed {
        return None;
    }
    out.push_str(&line[copied..]);
    Some(out)
}

/// One argument of an AT command, as written (quotes and spaces included).
struct Arg<'a> {
    raw: &'a str,
}

impl Arg<'_> {
    fn quoted(&self) -> bool {
        self.raw.trim_start().starts_with('"')
    }

    /// The value without quotes and surrounding spaces.
    fn value(&self) -> &str {
        let t = self.raw.trim();
        let t = t.strip_prefix('"').unwrap_or(t);
        t.strip_suffix('"').unwrap_or(t)
    }

    fn is_numeric(&self) -> bool {
        let v = self.raw.trim();
        !v.is_empty()
            && (v.bytes().all(|b| b.is_ascii_digit())
                || v.strip_prefix("0x")
                    .or_else(|| v.strip_prefix("0X"))
                    .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit())))
    }

    fn redacted(&self) -> String {
        if self.quoted() {
            format!("\"{MARKER}\"")
        } else {
            MARKER.to_owned()
        }
    }
}

/// Splits the arguments from `start` to the end of the command (`;` outside quotes, or the end of
/// the line). Quoted arguments may hold commas, semicolons and backslash-escaped quotes; an
/// unterminated quote (text cut short) runs to the end of the line.
fn split_args(line: &str, start: usize) -> (Vec<Arg<'_>>, usize) {
    let bytes = line.as_bytes();
    let mut args = Vec::new();
    let mut arg_start = start;
    let mut i = start;
    let mut in_quote = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_quote => i += 1,
            b'"' => in_quote = !in_quote,
            b',' if !in_quote => {
                args.push(Arg {
                    raw: &line[arg_start..i],
                });
                arg_start = i + 1;
            }
            b';' if !in_quote => break,
            _ => {}
        }
        i += 1;
    }
    let end = i.min(bytes.len());
    args.push(Arg {
        raw: &line[arg_start..end],
    });
    (args, end)
}

/// The arguments rewritten, or `None` when none carries a credential. In a `response` only
/// quoted arguments are credentials (`+QMTCONN: 0,0,0` and `+MQTTLONGPASSWORD:OK` are states).
fn redact_args(name: &str, args: &[Arg<'_>], response: bool) -> Option<String> {
    let mut secret = vec![false; args.len()];
    if let Some((_, positions)) = SECRET_ARGS.iter().find(|(n, _)| *n == name) {
        for &p in *positions {
            if let Some(s) = secret.get_mut(p) {
                *s = true;
            }
        }
        if name == "%CMNG" {
            // Type 2 is a private key, 3 a PSK, 4 a PSK identity: the content is secret too.
            if matches!(args.get(2).map(Arg::value), Some("2" | "3" | "4")) {
                if let Some(s) = secret.get_mut(3) {
                    *s = true;
                }
            }
        }
    } else if names_secret(name.trim_start_matches(['+', '%', '#', '$', '^'])) {
        for (s, a) in secret.iter_mut().zip(args) {
            *s = !a.is_numeric();
        }
    }
    // A parameter that names a secret: every non-numeric argument after it.
    if let Some(at) = args.iter().position(|a| {
        let v = a.value();
        v.len() <= 24
            && !v.is_empty()
            && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && SECRET_PARAM_WORDS
                .iter()
                .any(|w| v.to_ascii_uppercase().contains(w))
    }) {
        for (s, a) in secret.iter_mut().zip(args).skip(at + 1) {
            *s |= !a.is_numeric();
        }
    }
    let mut changed = false;
    let mut out = String::new();
    for (i, (arg, s)) in args.iter().zip(&secret).enumerate() {
        if i > 0 {
            out.push(',');
        }
        if *s && !arg.raw.trim().is_empty() && arg.value() != MARKER && (!response || arg.quoted())
        {
            out.push_str(&arg.redacted());
            changed = true;
        } else {
            out.push_str(arg.raw);
        }
    }
    changed.then_some(out)
}

fn names_secret(upper: &str) -> bool {
    SECRET_WORDS.iter().any(|w| upper.contains(w))
}

// ------------------------------------------------------------------------------------------------
// URLs and HTTP
// ------------------------------------------------------------------------------------------------

/// Userinfo and query values of URLs (`scheme://…`) and of HTTP request targets (`/path?…`).
fn urls(line: &str) -> Option<String> {
    let bytes = line.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut changed = false;
    let mut i = 0;
    while i < bytes.len() {
        let url_start = if bytes[i..].starts_with(b"://") {
            // Back to the start of the scheme.
            let scheme = bytes[..i]
                .iter()
                .rev()
                .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-'))
                .count();
            (scheme > 0).then(|| i - scheme)
        } else if bytes[i] == b'/' && (i == 0 || bytes[i - 1] == b' ') {
            // A request target: `GET /mqtt?token=… HTTP/1.1`.
            Some(i)
        } else {
            None
        };
        let Some(start) = url_start else {
            i += 1;
            continue;
        };
        let end = start
            + bytes[start..]
                .iter()
                .take_while(|b| !b.is_ascii_whitespace() && !matches!(b, b'"' | b'\'' | b'`'))
                .count();
        let url = &line[start..end];
        if let Some(rewritten) = redact_url(url) {
            out.push_str(&line[copied..start]);
            out.push_str(&rewritten);
            copied = end;
            changed = true;
        }
        i = end.max(i + 1);
    }
    if !changed {
        return None;
    }
    out.push_str(&line[copied..]);
    Some(out)
}

fn redact_url(url: &str) -> Option<String> {
    let mut changed = false;
    let (before_query, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = String::with_capacity(url.len());
    match before_query.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find(['/', '#']).unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            out.push_str(scheme);
            out.push_str("://");
            match authority.rfind('@') {
                Some(at) => {
                    let userinfo = &authority[..at];
                    let shown = match userinfo.split_once(':') {
                        Some((user, _)) => format!("{user}:{MARKER}"),
                        None => MARKER.to_owned(),
                    };
                    changed |= shown != userinfo;
                    out.push_str(&shown);
                    out.push_str(&authority[at..]);
                }
                None => out.push_str(authority),
            }
            out.push_str(path);
        }
        None => out.push_str(before_query),
    }
    if let Some(query) = query {
        out.push('?');
        let (query, fragment) = match query.split_once('#') {
            Some((q, f)) => (q, Some(f)),
            None => (query, None),
        };
        for (n, pair) in query.split('&').enumerate() {
            if n > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((key, value)) if !value.is_empty() && value != MARKER => {
                    out.push_str(key);
                    out.push('=');
                    out.push_str(MARKER);
                    changed = true;
                }
                _ => out.push_str(pair),
            }
        }
        if let Some(f) = fragment {
            out.push('#');
            out.push_str(f);
        }
    }
    changed.then_some(out)
}

/// HTTP header names (lower case) whose value is a credential, whole or in part.
const SECRET_HEADER_WORDS: &[&str] = &[
    "authorization",
    "cookie",
    "token",
    "secret",
    "password",
    "api-key",
    "apikey",
    "auth",
];

/// `Authorization: Basic …` → `Authorization: <redacted>`.
fn header(line: &str) -> Option<String> {
    let trimmed = line.trim_start();
    let indent = &line[..line.len() - trimmed.len()];
    let (name, value) = trimmed.split_once(':')?;
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return None;
    }
    let lower = name.to_ascii_lowercase();
    if !SECRET_HEADER_WORDS.iter().any(|w| lower.contains(w)) || value.trim() == MARKER {
        return None;
    }
    if value.trim().is_empty() {
        return None;
    }
    Some(format!("{indent}{name}: {MARKER}"))
}

// ------------------------------------------------------------------------------------------------
// name=value pairs
// ------------------------------------------------------------------------------------------------

/// Pair names (lower case) whose value is a secret: the name equals one of these or ends with
/// one (`mqtt_password`, `access_token`, `x-api-key`).
const SECRET_PAIR_NAMES: &[&str] = &[
    "password",
    "passwd",
    "pass",
    "pwd",
    "passphrase",
    "token",
    "secret",
    "key",
    "apikey",
    "auth",
    "psk",
    "sig",
    "signature",
    "sas",
    "credential",
    "credentials",
];

fn is_secret_pair_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_PAIR_NAMES.iter().any(|w| {
        lower == *w
            || lower
                .strip_suffix(w)
                .is_some_and(|rest| rest.ends_with(['_', '-', '.']))
    })
}

/// `password=hunter2`, `"token": "abc"`, `key='a\'b'` → the value replaced.
fn pairs(line: &str) -> Option<String> {
    let bytes = line.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.');
    let mut out = String::new();
    let mut copied = 0;
    let mut changed = false;
    let mut i = 0;
    while i < bytes.len() {
        if !word(bytes[i]) || (i > 0 && word(bytes[i - 1])) {
            i += 1;
            continue;
        }
        let name_end = i + bytes[i..].iter().take_while(|b| word(**b)).count();
        let name = &line[i..name_end];
        let mut at = name_end;
        // A quoted name (`"password": …`).
        if i > 0 && matches!(bytes[i - 1], b'"' | b'\'') && bytes.get(at) == Some(&bytes[i - 1]) {
            at += 1;
        }
        while bytes.get(at) == Some(&b' ') {
            at += 1;
        }
        if !matches!(bytes.get(at), Some(b'=' | b':')) || !is_secret_pair_name(name) {
            i = name_end;
            continue;
        }
        at += 1;
        while bytes.get(at) == Some(&b' ') {
            at += 1;
        }
        if bytes[at.min(bytes.len())..].starts_with(MARKER.as_bytes()) {
            i = at + MARKER.len();
            continue;
        }
        let (value_start, value_end, after) = match bytes.get(at) {
            Some(&q @ (b'"' | b'\'')) => {
                let mut j = at + 1;
                while j < bytes.len() && bytes[j] != q {
                    if bytes[j] == b'\\' {
                        j += 1;
                    }
                    j += 1;
                }
                let end = j.min(bytes.len());
                (at + 1, end, (end + 1).min(bytes.len()))
            }
            _ => {
                let len = bytes[at..]
                    .iter()
                    .take_while(|b| {
                        !b.is_ascii_whitespace()
                            && !matches!(b, b'&' | b';' | b',' | b')' | b']' | b'}' | b'"' | b'\'')
                    })
                    .count();
                (at, at + len, at + len)
            }
        };
        let value = &line[value_start..value_end];
        if !value.is_empty() && value != MARKER {
            out.push_str(&line[copied..value_start]);
            out.push_str(MARKER);
            copied = value_end;
            changed = true;
        }
        i = after.max(name_end);
    }
    if !changed {
        return None;
    }
    out.push_str(&line[copied..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> String {
        let once = redact(s).into_owned();
        assert_eq!(redact(&once), once, "not idempotent for {s:?}");
        once
    }

    #[test]
    fn simcom_cmqttconnect_user_and_password() {
        assert_eq!(
            r(r#"AT+CMQTTCONNECT=0,"tcp://host:1883",60,1,"user","secret""#),
            r#"AT+CMQTTCONNECT=0,"tcp://host:1883",60,1,"<redacted>","<redacted>""#
        );
        // Unquoted, as some firmware writes them, and with a line ending kept.
        assert_eq!(
            r("AT+CMQTTCONNECT=0,\"tcp://h:8883\",60,1,my_username,my_password\r\n"),
            "AT+CMQTTCONNECT=0,\"tcp://h:8883\",60,1,<redacted>,<redacted>\r\n"
        );
        // Without credentials nothing changes (and nothing is allocated).
        let plain = r#"AT+CMQTTCONNECT=0,"tcp://host:1883",60,1"#;
        assert!(matches!(redact(plain), Cow::Borrowed(_)));
        // Lower case and a prefix before the command.
        assert_eq!(
            r(r#"[modem] at+cmqttconnect=0,"tcp://h:1883",60,1,"u","p""#),
            r#"[modem] at+cmqttconnect=0,"tcp://h:1883",60,1,"<redacted>","<redacted>""#
        );
    }

    #[test]
    fn quoted_arguments_with_escaped_quotes_commas_and_semicolons() {
        assert_eq!(
            r(r#"AT+CMQTTCONNECT=0,"tcp://h:1883",60,1,"us\"er","pa\"s,s;w\"d";+CMQTTSUB=0,3,1"#),
            r#"AT+CMQTTCONNECT=0,"tcp://h:1883",60,1,"<redacted>","<redacted>";+CMQTTSUB=0,3,1"#
        );
        // Cut short inside the password (the broker quotes at most 200 bytes).
        assert_eq!(
            r(r#"AT+QMTCONN=0,"dev","user","hunter"#),
            r#"AT+QMTCONN=0,"dev","<redacted>","<redacted>""#
        );
        // A key=value pair with an escaped quote in its value.
        assert_eq!(
            r(r#"password="a\"b c" next"#),
            r#"password="<redacted>" next"#
        );
    }

    #[test]
    fn quectel_espressif_and_modem_credentials() {
        assert_eq!(
            r(r#"AT+QMTCONN=0,"client-7","alice","s3cret""#),
            r#"AT+QMTCONN=0,"client-7","<redacted>","<redacted>""#
        );
        assert_eq!(
            r(r#"AT+MQTTUSERCFG=0,1,"esp32","bob","pw",0,0,"""#),
            r#"AT+MQTTUSERCFG=0,1,"esp32","<redacted>","<redacted>",0,0,"""#
        );
        assert_eq!(
            r(r#"AT+CWJAP="home-wifi","wifi-pass""#),
            r#"AT+CWJAP="home-wifi","<redacted>""#
        );
        assert_eq!(
            r(r#"AT+QICSGP=1,1,"apn.example","u","p",1"#),
            r#"AT+QICSGP=1,1,"apn.example","<redacted>","<redacted>",1"#
        );
        assert_eq!(r(r#"AT+CPIN="1234""#), r#"AT+CPIN="<redacted>""#);
        assert_eq!(
            r(r#"AT+SMCONF="PASSWORD","pw""#),
            r#"AT+SMCONF="PASSWORD","<redacted>""#
        );
        assert_eq!(
            r(r#"AT+SAPBR=3,1,"PWD","pw""#),
            r#"AT+SAPBR=3,1,"PWD","<redacted>""#
        );
        assert_eq!(
            r(r#"AT+QMTCFG="aliauth",0,"pk","dn","ds""#),
            r#"AT+QMTCFG="aliauth",0,"<redacted>","<redacted>","<redacted>""#
        );
        assert_eq!(
            r(r#"AT+CMQTTPASS=0,"hunter2""#),
            r#"AT+CMQTTPASS=0,"<redacted>""#
        );
        assert_eq!(
            r(r#"AT%CMNG=0,16842753,3,"0123456789abcdef""#),
            r#"AT%CMNG=0,16842753,3,"<redacted>""#
        );
        // Settings that name no secret stay as they are.
        for same in [
            r#"AT+CSSLCFG="authmode",0,1"#,
            r#"AT+CSSLCFG="clientkey",0,"key_cert.pem""#,
            r#"AT+CMQTTACCQ=0,"client",1,4"#,
            r#"AT+CIPSTART="TCP","broker.example",1883"#,
            "AT+CIPSEND=0,77",
            "+CMQTTCONNECT: 0,32",
        ] {
            assert_eq!(r(same), same);
        }
    }

    #[test]
    fn responses_that_echo_credentials() {
        assert_eq!(
            r(r#"+MQTTUSERCFG:0,1,"esp32","bob","pw",0,0,"""#),
            r#"+MQTTUSERCFG:0,1,"esp32","<redacted>","<redacted>",0,0,"""#
        );
        assert_eq!(
            r(r#"+MQTTPASSWORD:0,"pw""#),
            r#"+MQTTPASSWORD:0,"<redacted>""#
        );
        for same in ["+CMQTTCONNECT: 0,0", "+QMTCONN: 0,0,0", "+CSQ: 20,99"] {
            assert_eq!(r(same), same);
        }
    }

    #[test]
    fn esp_at_long_password_data_line() {
        let t = "AT+MQTTLONGPASSWORD=0,8\r\nOK\r\n>\r\nhunter22\r\n+MQTTLONGPASSWORD:OK\r\n";
        assert_eq!(
            r(t),
            "AT+MQTTLONGPASSWORD=0,8\r\nOK\r\n>\r\n<redacted>\r\n+MQTTLONGPASSWORD:OK\r\n"
        );
        assert_eq!(
            r("AT+MQTTLONGUSERNAME=0,5\n>alice\nOK\n"),
            "AT+MQTTLONGUSERNAME=0,5\n><redacted>\nOK\n"
        );
    }

    #[test]
    fn url_userinfo_and_query_values() {
        assert_eq!(
            r("connecting to mqtt://user:pass@broker.example:1883/x"),
            "connecting to mqtt://user:<redacted>@broker.example:1883/x"
        );
        assert_eq!(
            r("mqtts://ACCESS_TOKEN@tb.example:8883"),
            "mqtts://<redacted>@tb.example:8883"
        );
        assert_eq!(
            r("GET /mqtt?token=abc123&client=dev-1 HTTP/1.1"),
            "GET /mqtt?token=<redacted>&client=<redacted> HTTP/1.1"
        );
        assert_eq!(
            r("wss://h/mqtt?x-amz-signature=ab#frag"),
            "wss://h/mqtt?x-amz-signature=<redacted>#frag"
        );
        // The password may hold '@'; the last one ends the userinfo.
        assert_eq!(
            r(r#"AT+CMQTTCONNECT=0,"tcp://u:p@ss@h:1883",60,1"#),
            r#"AT+CMQTTCONNECT=0,"tcp://u:<redacted>@h:1883",60,1"#
        );
        for same in ["GET /mqtt HTTP/1.1", "see https://example.com/docs", "a/b?"] {
            assert_eq!(r(same), same);
        }
    }

    #[test]
    fn http_credential_headers() {
        let req = "GET /mqtt HTTP/1.1\r\nHost: h\r\nAuthorization: Basic dXNlcjpwYXNz\r\nCookie: sid=abc; theme=dark\r\nX-Api-Key: k-123\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
        assert_eq!(
            r(req),
            "GET /mqtt HTTP/1.1\r\nHost: h\r\nAuthorization: <redacted>\r\nCookie: <redacted>\r\nX-Api-Key: <redacted>\r\nSec-WebSocket-Key: <redacted>\r\n"
        );
        // (The WebSocket key is a nonce, not a secret; hiding it errs on the safe side.)
    }

    #[test]
    fn password_token_key_pairs() {
        assert_eq!(
            r("user=dev-1 password=hunter2 keepalive=60"),
            "user=dev-1 password=<redacted> keepalive=60"
        );
        assert_eq!(
            r(r#"{"username":"dev","password":"hunter2","mqtt_token": "t"}"#),
            r#"{"username":"dev","password":"<redacted>","mqtt_token": "<redacted>"}"#
        );
        assert_eq!(r("api_key: abc; x=1"), "api_key: <redacted>; x=1");
        assert_eq!(r("PSK=0011aabb,next"), "PSK=<redacted>,next");
        for same in [
            "keepalive=60",
            "monkey=banana",
            "time 12:30",
            "password",
            "key=",
        ] {
            assert_eq!(r(same), same);
        }
    }

    #[test]
    fn non_ascii_and_garbage_do_not_panic() {
        for s in [
            "AT+",
            "AT+CMQTTCONNECT=",
            "AT+CMQTTCONNECT=\"",
            "password=\"",
            "password=\"\\",
            "://",
            "x://@",
            "ü://ä:ö@ß?é=è",
            "AT+CWJAP=\"é\",\"ü\"",
            "\"password\"",
        ] {
            let _ = r(s);
        }
        assert_eq!(r("AT+CWJAP=\"é\",\"ü\""), "AT+CWJAP=\"é\",\"<redacted>\"");
    }
}
