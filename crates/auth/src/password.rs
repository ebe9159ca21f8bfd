//! mosquitto password files: parsing, verification and in-place editing; see [`PasswordFile`]
//! for the format.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use lantern_broker::auth::{PasswordCheck, PasswordVerifier};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, pbkdf2};

/// The PBKDF2 iteration count `mosquitto_passwd` 2.0 writes, and so does [`set_password`].
pub const MOSQUITTO_ITERATIONS: u32 = 101;

/// The salt length in bytes; mosquitto accepts no other.
pub const SALT_LEN: usize = 12;

/// The most PBKDF2 iterations an entry may ask for. Every CONNECT with a password costs one
/// derivation, so an absurd count in the file would let any client burn the broker's CPU.
pub const MAX_ITERATIONS: u32 = 1_000_000;

/// The hash length in bytes (SHA-512 output); mosquitto accepts no other.
const HASH_LEN: usize = 64;

/// The longest user name or password: MQTT strings and binary data carry a 16-bit length.
const MAX_CREDENTIAL_LEN: usize = 65_535;

/// A parsed mosquitto password file.
///
/// The format is the one `mosquitto_passwd` (mosquitto 2.0) reads and writes: one
/// `username:hash` line per user, blank lines and `#` comment lines allowed. Two hash forms exist,
/// both with a 12-byte salt and a 64-byte hash in standard base64 with padding:
///
/// - `$7$<iterations>$<salt>$<hash>`: PBKDF2-HMAC-SHA512 (mosquitto 2.0's default, 101 iterations);
/// - `$6$<salt>$<hash>`: SHA-512 of the password bytes followed by the salt bytes (mosquitto 1.x).
///
/// Both were checked against files written by `mosquitto_passwd` 2.0.11 (see
/// `tests/fixtures/mosquitto_passwd.txt`) and against mosquitto's `src/security_default.c`, which
/// also drops entries whose salt is not 12 bytes or whose hash is not 64: this crate refuses
/// them, so a file accepted here is a file mosquitto accepts whole.
///
/// `Debug` lists the origin and the user names only, never a hash or a salt.
pub struct PasswordFile {
    origin: String,
    /// User names in file order, for [`PasswordFile::users`].
    users: Vec<String>,
    hashes: HashMap<String, PasswordHash>,
    /// Verified against when the user is unknown, so that an unknown user costs as much as a
    /// known one and timing does not reveal which users exist.
    dummy: PasswordHash,
}

impl PasswordFile {
    /// Reads and parses the password file at `path`; errors name the file as given.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, PasswordFileError> {
        let path = path.as_ref();
        let text = fs::read_to_string(path).map_err(|source| PasswordFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses the text of a password file; `origin` names it in errors (usually the path).
    pub fn parse(text: &str, origin: &str) -> Result<Self, PasswordFileError> {
        let mut users = Vec::new();
        let mut hashes = HashMap::new();
        let mut first_lines: HashMap<&str, usize> = HashMap::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let entry_error = |problem| PasswordFileError::Entry {
                origin: origin.to_owned(),
                line,
                problem,
            };
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let (username, hash) = trimmed
                .split_once(':')
                .ok_or_else(|| entry_error(EntryProblem::MissingColon))?;
            let username = username.trim();
            if username.is_empty() {
                return Err(entry_error(EntryProblem::EmptyUsername));
            }
            if let Some(&first_line) = first_lines.get(username) {
                return Err(entry_error(EntryProblem::DuplicateUser {
                    username: username.to_owned(),
                    first_line,
                }));
            }
            let hash = PasswordHash::parse(hash.trim()).map_err(entry_error)?;
            first_lines.insert(username, line);
            users.push(username.to_owned());
            hashes.insert(username.to_owned(), hash);
        }
        let dummy = PasswordHash::dummy_like(hashes.values());
        Ok(Self {
            origin: origin.to_owned(),
            users,
            hashes,
            dummy,
        })
    }

    /// The user names, in file order.
    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.users.iter().map(String::as_str)
    }

    /// Whether the file has an entry for `username`.
    pub fn contains(&self, username: &str) -> bool {
        self.hashes.contains_key(username)
    }

    /// The number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the file has no users (then every CONNECT with a user name fails).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The name the file was loaded or parsed under.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

impl PasswordVerifier for PasswordFile {
    /// Checks `password` for `username`. The comparison is constant time, and an unknown user
    /// is checked against a dummy entry as costly as the file's dearest, so the answer's timing
    /// tells neither how much of the password was right nor whether the user exists.
    fn verify(&self, username: &str, password: &[u8]) -> PasswordCheck {
        match self.hashes.get(username) {
            Some(hash) if hash.matches(password) => PasswordCheck::Valid,
            Some(_) => PasswordCheck::WrongPassword,
            None => {
                std::hint::black_box(self.dummy.matches(password));
                PasswordCheck::UnknownUser
            }
        }
    }
}

impl fmt::Debug for PasswordFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordFile")
            .field("origin", &self.origin)
            .field("users", &self.users)
            .finish_non_exhaustive()
    }
}

/// What [`set_password`] did.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum PasswordChange {
    /// The user was not in the file (or the file did not exist) and was added.
    Added,
    /// The user's existing entry was replaced.
    Updated,
}

/// Sets `username`'s password in the mosquitto password file at `path`.
///
/// Creates the file (mode 0600 on unix) if it does not exist. Otherwise replaces the user's line
/// in place, or appends one, keeping every other line (comments, blank lines, other users, line
/// endings) byte for byte; a second line for the same user is removed. The entry is written as
/// mosquitto 2.0 writes it: `$7$101$` PBKDF2-HMAC-SHA512 with a fresh 12-byte salt from the
/// system random number generator.
///
/// The file is replaced atomically: the new contents go to a temporary file in the same
/// directory, which is synced and renamed over `path`, so a reader (or a broker reloading the
/// file) sees the old file or the new one, never half of one. An existing file keeps its
/// permissions; if `path` is a symbolic link, the link is replaced by a regular file.
///
/// Errors of kind [`io::ErrorKind::InvalidInput`] carry a [`CredentialError`] for a user name
/// or password the file cannot hold.
pub fn set_password(path: &Path, username: &str, password: &[u8]) -> io::Result<PasswordChange> {
    validate_username(username).map_err(invalid_input)?;
    check_password(password).map_err(invalid_input)?;
    let hash = PasswordHash::new_pbkdf2(password)?;
    let new_line = format!("{username}:{}", hash.encode());

    let existing = match fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let mut out = String::new();
    let mut change = PasswordChange::Added;
    for line in existing.as_deref().unwrap_or("").split_inclusive('\n') {
        if line_user(line) != Some(username) {
            out.push_str(line);
        } else if change == PasswordChange::Added {
            let body_len = line.trim_end_matches(['\r', '\n']).len();
            out.push_str(&new_line);
            out.push_str(&line[body_len..]);
            change = PasswordChange::Updated;
        }
    }
    if change == PasswordChange::Added {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&new_line);
        out.push('\n');
    }
    write_atomically(path, out.as_bytes(), existing.is_some())?;
    Ok(change)
}

/// Removes `username`'s line(s) from the password file at `path`, keeping every other line as
/// is; returns whether the user was there. The file is rewritten atomically, as by
/// [`set_password`], and only if something changed. A missing file is an error
/// ([`io::ErrorKind::NotFound`]).
pub fn delete_user(path: &Path, username: &str) -> io::Result<bool> {
    let existing = fs::read_to_string(path)?;
    let mut out = String::with_capacity(existing.len());
    let mut found = false;
    for line in existing.split_inclusive('\n') {
        if line_user(line) == Some(username) {
            found = true;
        } else {
            out.push_str(line);
        }
    }
    if found {
        write_atomically(path, out.as_bytes(), true)?;
    }
    Ok(found)
}

/// Checks that a password file can hold `username`: not empty, at most 65 535 bytes, no control
/// character, no `:`, not starting with `#`, no white space at either end. [`set_password`]
/// checks this too; call it first to refuse a name before asking for a password.
pub fn validate_username(username: &str) -> Result<(), CredentialError> {
    if username.is_empty() {
        return Err(CredentialError::EmptyUsername);
    }
    if username.len() > MAX_CREDENTIAL_LEN {
        return Err(CredentialError::UsernameTooLong {
            len: username.len(),
        });
    }
    if let Some((offset, _)) = username.char_indices().find(|(_, c)| c.is_control()) {
        return Err(CredentialError::UsernameControlCharacter { offset });
    }
    if username.contains(':') {
        return Err(CredentialError::UsernameContainsColon);
    }
    if username.starts_with('#') {
        return Err(CredentialError::UsernameStartsWithHash);
    }
    if username.trim() != username {
        return Err(CredentialError::UsernameSurroundingWhitespace);
    }
    Ok(())
}

/// A user name or password that a password file cannot hold, refused by [`set_password`].
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum CredentialError {
    /// The user name is empty.
    EmptyUsername,
    /// The user name contains `:`, which separates it from the hash.
    UsernameContainsColon,
    /// The user name contains a control character (such as a newline).
    UsernameControlCharacter {
        /// Byte offset of the character.
        offset: usize,
    },
    /// The user name starts with `#`, so its line would read as a comment.
    UsernameStartsWithHash,
    /// The user name starts or ends with white space, which mosquitto trims when reading.
    UsernameSurroundingWhitespace,
    /// The user name is longer than an MQTT string can be.
    UsernameTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The password is empty.
    EmptyPassword,
    /// The password is longer than MQTT binary data can be.
    PasswordTooLong {
        /// Its length in bytes.
        len: usize,
    },
}

impl fmt::Display for CredentialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyUsername => f.write_str("the user name is empty"),
            Self::UsernameContainsColon => {
                f.write_str("the user name contains ':', which password files use as separator")
            }
            Self::UsernameControlCharacter { offset } => {
                write!(
                    f,
                    "the user name contains a control character at byte {offset}"
                )
            }
            Self::UsernameStartsWithHash => {
                f.write_str("the user name starts with '#', so its line would be read as a comment")
            }
            Self::UsernameSurroundingWhitespace => f.write_str(
                "the user name starts or ends with white space, which mosquitto trims when reading",
            ),
            Self::UsernameTooLong { len } => write!(
                f,
                "the user name is {len} bytes long; MQTT allows at most {MAX_CREDENTIAL_LEN}"
            ),
            Self::EmptyPassword => f.write_str("the password is empty"),
            Self::PasswordTooLong { len } => write!(
                f,
                "the password is {len} bytes long; MQTT allows at most {MAX_CREDENTIAL_LEN}"
            ),
        }
    }
}

impl std::error::Error for CredentialError {}

/// Why a password file could not be loaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum PasswordFileError {
    /// The file could not be read.
    Read {
        /// The path as given.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A line is not a valid entry.
    Entry {
        /// The file (or other origin) the text came from.
        origin: String,
        /// The line number, from 1.
        line: usize,
        /// What is wrong with the line.
        problem: EntryProblem,
    },
}

impl fmt::Display for PasswordFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { path, source } => {
                write!(f, "cannot read password file {}: {source}", path.display())
            }
            Self::Entry {
                origin,
                line,
                problem,
            } => write!(f, "{origin}:{line}: {problem}"),
        }
    }
}

impl std::error::Error for PasswordFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Read { source, .. } => Some(source),
            Self::Entry { .. } => None,
        }
    }
}

/// What is wrong with one line of a password file. Never carries the hash or salt text.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum EntryProblem {
    /// The line has no `:` between user name and hash.
    MissingColon,
    /// Nothing before the `:`.
    EmptyUsername,
    /// The user already has an entry on an earlier line.
    DuplicateUser {
        /// The user name.
        username: String,
        /// The line of the first entry.
        first_line: usize,
    },
    /// The part after `:` does not start with `$`: most likely a plain-text password.
    NotHashed,
    /// A hash type other than `$6$` and `$7$`.
    UnknownHashType {
        /// The type tag (`2b` in `$2b$...`) when it is short and alphanumeric, so that a
        /// mangled line does not echo hash material.
        tag: Option<String>,
    },
    /// The wrong number of `$`-separated fields for the hash type.
    FieldCount {
        /// `"$6$"` or `"$7$"`.
        hash_type: &'static str,
        /// Fields found after the type.
        found: usize,
        /// Fields expected after the type.
        expected: usize,
    },
    /// The `$7$` iteration count is not a positive decimal number.
    BadIterations,
    /// The `$7$` iteration count exceeds [`MAX_ITERATIONS`].
    TooManyIterations {
        /// The count in the file.
        iterations: u64,
    },
    /// A field is not standard base64 with padding.
    BadBase64 {
        /// `"salt"` or `"hash"`.
        field: &'static str,
    },
    /// A field decodes to the wrong number of bytes.
    WrongLength {
        /// `"salt"` or `"hash"`.
        field: &'static str,
        /// Its decoded length.
        len: usize,
        /// The length mosquitto requires.
        expected: usize,
    },
}

impl fmt::Display for EntryProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingColon => f.write_str("expected `username:hash`, found no ':'"),
            Self::EmptyUsername => f.write_str("the user name before ':' is empty"),
            Self::DuplicateUser {
                username,
                first_line,
            } => write!(
                f,
                "user {username:?} already has an entry on line {first_line}"
            ),
            Self::NotHashed => f.write_str(
                "the password is not hashed (it does not start with '$'); hash the file with \
                 `mosquitto_passwd -U` or set the password with `lantern passwd`",
            ),
            Self::UnknownHashType { tag: Some(tag) } => write!(
                f,
                "unknown hash type ${tag}$; expected $7$ (PBKDF2-SHA512) or $6$ (SHA-512)"
            ),
            Self::UnknownHashType { tag: None } => {
                f.write_str("unknown hash type; expected $7$ (PBKDF2-SHA512) or $6$ (SHA-512)")
            }
            Self::FieldCount {
                hash_type,
                found,
                expected,
            } => write!(
                f,
                "a {hash_type} hash has {expected} '$'-separated fields after the type, this one has {found}"
            ),
            Self::BadIterations => {
                f.write_str("the $7$ iteration count is not a positive decimal number")
            }
            Self::TooManyIterations { iterations } => write!(
                f,
                "the $7$ iteration count {iterations} exceeds the limit of {MAX_ITERATIONS}"
            ),
            Self::BadBase64 { field } => {
                write!(f, "the {field} is not valid base64 (standard alphabet, padded)")
            }
            Self::WrongLength {
                field,
                len,
                expected,
            } => write!(
                f,
                "the {field} decodes to {len} bytes; mosquitto requires {expected}"
            ),
        }
    }
}

/// One user's hash. Deliberately not `Debug`.
enum PasswordHash {
    /// `$6$`: SHA-512(password ‖ salt).
    Sha512 {
        salt: [u8; SALT_LEN],
        hash: [u8; HASH_LEN],
    },
    /// `$7$`: PBKDF2-HMAC-SHA512(password, salt, iterations), 64 bytes.
    Pbkdf2Sha512 {
        iterations: NonZeroU32,
        salt: [u8; SALT_LEN],
        hash: [u8; HASH_LEN],
    },
}

impl PasswordHash {
    /// Parses the text after `username:`.
    fn parse(text: &str) -> Result<Self, EntryProblem> {
        let Some(rest) = text.strip_prefix('$') else {
            return Err(EntryProblem::NotHashed);
        };
        let mut fields = rest.split('$');
        // INVARIANT: `split` always yields at least one item.
        let tag = fields.next().unwrap_or_default();
        let fields: Vec<&str> = fields.collect();
        match tag {
            "6" => {
                let [salt, hash] = fields[..] else {
                    return Err(EntryProblem::FieldCount {
                        hash_type: "$6$",
                        found: fields.len(),
                        expected: 2,
                    });
                };
                Ok(Self::Sha512 {
                    salt: decode_field("salt", salt)?,
                    hash: decode_field("hash", hash)?,
                })
            }
            "7" => {
                let [iterations, salt, hash] = fields[..] else {
                    return Err(EntryProblem::FieldCount {
                        hash_type: "$7$",
                        found: fields.len(),
                        expected: 3,
                    });
                };
                if iterations.is_empty() || !iterations.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(EntryProblem::BadIterations);
                }
                let count: u64 =
                    iterations
                        .parse()
                        .map_err(|_| EntryProblem::TooManyIterations {
                            iterations: u64::MAX,
                        })?;
                if count > u64::from(MAX_ITERATIONS) {
                    return Err(EntryProblem::TooManyIterations { iterations: count });
                }
                let iterations = u32::try_from(count)
                    .ok()
                    .and_then(NonZeroU32::new)
                    .ok_or(EntryProblem::BadIterations)?;
                Ok(Self::Pbkdf2Sha512 {
                    iterations,
                    salt: decode_field("salt", salt)?,
                    hash: decode_field("hash", hash)?,
                })
            }
            other => {
                let shown = !other.is_empty()
                    && other.len() <= 10
                    && other
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-');
                Err(EntryProblem::UnknownHashType {
                    tag: shown.then(|| other.to_owned()),
                })
            }
        }
    }

    /// A fresh `$7$` entry as `mosquitto_passwd` 2.0 writes it.
    fn new_pbkdf2(password: &[u8]) -> io::Result<Self> {
        let mut salt = [0u8; SALT_LEN];
        SystemRandom::new()
            .fill(&mut salt)
            .map_err(|_| io::Error::other("the system random number generator failed"))?;
        let iterations = NonZeroU32::MIN.saturating_add(MOSQUITTO_ITERATIONS - 1);
        let mut hash = [0u8; HASH_LEN];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA512,
            iterations,
            &salt,
            password,
            &mut hash,
        );
        Ok(Self::Pbkdf2Sha512 {
            iterations,
            salt,
            hash,
        })
    }

    /// An entry no password matches, costing as much to check as the dearest of `entries`.
    fn dummy_like<'a>(entries: impl Iterator<Item = &'a PasswordHash>) -> Self {
        let mut max_iterations: Option<NonZeroU32> = None;
        let mut any = false;
        for entry in entries {
            any = true;
            if let Self::Pbkdf2Sha512 { iterations, .. } = entry {
                max_iterations = max_iterations.max(Some(*iterations));
            }
        }
        let salt = [0x5a; SALT_LEN];
        let hash = [0; HASH_LEN];
        match max_iterations {
            None if any => Self::Sha512 { salt, hash },
            None => Self::Pbkdf2Sha512 {
                iterations: NonZeroU32::MIN.saturating_add(MOSQUITTO_ITERATIONS - 1),
                salt,
                hash,
            },
            Some(iterations) => Self::Pbkdf2Sha512 {
                iterations,
                salt,
                hash,
            },
        }
    }

    /// Whether `password` matches, compared in constant time.
    fn matches(&self, password: &[u8]) -> bool {
        match self {
            Self::Sha512 { salt, hash } => {
                let mut context = digest::Context::new(&digest::SHA512);
                context.update(password);
                context.update(salt);
                constant_time_eq(context.finish().as_ref(), hash)
            }
            Self::Pbkdf2Sha512 {
                iterations,
                salt,
                hash,
            } => pbkdf2::verify(
                pbkdf2::PBKDF2_HMAC_SHA512,
                *iterations,
                salt,
                password,
                hash,
            )
            .is_ok(),
        }
    }

    /// The text after `username:`.
    fn encode(&self) -> String {
        match self {
            Self::Sha512 { salt, hash } => {
                format!("$6${}${}", BASE64.encode(salt), BASE64.encode(hash))
            }
            Self::Pbkdf2Sha512 {
                iterations,
                salt,
                hash,
            } => format!(
                "$7${iterations}${}${}",
                BASE64.encode(salt),
                BASE64.encode(hash)
            ),
        }
    }
}

/// Decodes one base64 field of the exact length mosquitto requires.
fn decode_field<const N: usize>(field: &'static str, text: &str) -> Result<[u8; N], EntryProblem> {
    let bytes = BASE64
        .decode(text)
        .map_err(|_| EntryProblem::BadBase64 { field })?;
    let len = bytes.len();
    bytes.try_into().map_err(|_| EntryProblem::WrongLength {
        field,
        len,
        expected: N,
    })
}

/// Compares two equal-length digests without an early exit. (ring's own helper for this is
/// deprecated, so this is the usual OR-of-XORs, kept opaque to the optimiser.)
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The user name of a password-file line, or `None` for a blank, comment or colon-less line;
/// read the way [`PasswordFile::parse`] reads it.
fn line_user(line: &str) -> Option<&str> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return None;
    }
    trimmed.split_once(':').map(|(user, _)| user.trim())
}

fn check_password(password: &[u8]) -> Result<(), CredentialError> {
    if password.is_empty() {
        return Err(CredentialError::EmptyPassword);
    }
    if password.len() > MAX_CREDENTIAL_LEN {
        return Err(CredentialError::PasswordTooLong {
            len: password.len(),
        });
    }
    Ok(())
}

fn invalid_input(e: CredentialError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e)
}

/// Replaces `path` with `contents` through a synced temporary file in the same directory.
/// A new file gets mode 0600 on unix; with `keep_permissions`, the old file's mode is kept.
fn write_atomically(path: &Path, contents: &[u8], keep_permissions: bool) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} does not name a file", path.display()),
        )
    })?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let permissions = if keep_permissions {
        Some(fs::metadata(path)?.permissions())
    } else {
        None
    };
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(
        ".tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = dir.join(tmp_name);

    let result = (|| {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(contents)?;
        if let Some(permissions) = permissions {
            file.set_permissions(permissions)?;
        }
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        return result;
    }
    // Make the rename itself durable; a failure here leaves a correct file, so it is ignored.
    #[cfg(unix)]
    if let Ok(dir) = fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written by `mosquitto_passwd` 2.0.11: alice/secret ($7$), bob/hunter2 (`-H sha512`).
    const ALICE: &str = "alice:$7$101$xKRZuvnBVWGw9p4j$zzScv1gPt7vw0hGjZCAXqGpevK+7TN8cCRRP7GQ4W3AZwuxenrpXMfEj7+WnWofFk18H1s0/dwOKrPXs55WOlg==";
    const BOB: &str = "bob:$6$/Bu2ss4Ow7LdsF/7$H5Ne0LUZCQhd/TVHH0cxVzIUrO5JNbUA/up9tHyBB/zxpuUwx0ptj0CSh3OspkBc2flnewe1/8Z6L7K1t4lGRw==";

    fn problem(text: &str) -> EntryProblem {
        match PasswordFile::parse(text, "pw") {
            Err(PasswordFileError::Entry { problem, .. }) => problem,
            other => panic!("expected an entry error, got {other:?}"),
        }
    }

    #[test]
    fn pbkdf2_and_sha512_entries_verify() {
        let file = PasswordFile::parse(&format!("{ALICE}\n{BOB}\n"), "pw").unwrap();
        assert_eq!(file.verify("alice", b"secret"), PasswordCheck::Valid);
        assert_eq!(
            file.verify("alice", b"Secret"),
            PasswordCheck::WrongPassword
        );
        assert_eq!(file.verify("bob", b"hunter2"), PasswordCheck::Valid);
        assert_eq!(file.verify("bob", b"hunter"), PasswordCheck::WrongPassword);
        assert_eq!(file.verify("carol", b"secret"), PasswordCheck::UnknownUser);
    }

    #[test]
    fn encode_round_trips_mosquitto_text() {
        for line in [ALICE, BOB] {
            let (_, text) = line.split_once(':').unwrap();
            assert_eq!(PasswordHash::parse(text).unwrap().encode(), text);
        }
    }

    #[test]
    fn unknown_user_costs_a_hash_of_the_dearest_kind() {
        let only_sha = PasswordFile::parse(BOB, "pw").unwrap();
        assert!(matches!(only_sha.dummy, PasswordHash::Sha512 { .. }));
        let mixed = PasswordFile::parse(&format!("{BOB}\n{ALICE}"), "pw").unwrap();
        assert!(matches!(
            mixed.dummy,
            PasswordHash::Pbkdf2Sha512 { iterations, .. } if iterations.get() == 101
        ));
        let empty = PasswordFile::parse("", "pw").unwrap();
        assert!(matches!(empty.dummy, PasswordHash::Pbkdf2Sha512 { .. }));
        assert_eq!(empty.verify("x", b"y"), PasswordCheck::UnknownUser);
    }

    #[test]
    fn hash_problems_are_named_without_echoing_the_hash() {
        assert_eq!(problem("alice"), EntryProblem::MissingColon);
        assert_eq!(problem(" :$6$a$b"), EntryProblem::EmptyUsername);
        assert_eq!(problem("alice:secret"), EntryProblem::NotHashed);
        assert_eq!(
            problem("alice:$2b$10$abc"),
            EntryProblem::UnknownHashType {
                tag: Some("2b".into())
            }
        );
        assert_eq!(
            problem("alice:$xK+/RZuvnBVWGw9p4jzzScv1gPt7vw$a"),
            EntryProblem::UnknownHashType { tag: None }
        );
        assert_eq!(
            problem("alice:$7$101$abc"),
            EntryProblem::FieldCount {
                hash_type: "$7$",
                found: 2,
                expected: 3
            }
        );
        assert_eq!(problem("alice:$7$x$a$b"), EntryProblem::BadIterations);
        assert_eq!(problem("alice:$7$0$a$b"), EntryProblem::BadIterations);
        assert_eq!(
            problem("alice:$7$99999999999999999999999$a$b"),
            EntryProblem::TooManyIterations {
                iterations: u64::MAX
            }
        );
        assert_eq!(
            problem("alice:$7$1000001$a$b"),
            EntryProblem::TooManyIterations {
                iterations: 1_000_001
            }
        );
        assert_eq!(
            problem("alice:$6$!!!!$AAAA"),
            EntryProblem::BadBase64 { field: "salt" }
        );
        // Unpadded base64 is refused: mosquitto_passwd always pads.
        assert_eq!(
            problem("alice:$6$xKRZuvnBVWGw9p4j$AAA"),
            EntryProblem::BadBase64 { field: "hash" }
        );
        assert_eq!(
            problem("alice:$6$AAAA$AAAA"),
            EntryProblem::WrongLength {
                field: "salt",
                len: 3,
                expected: 12
            }
        );
        assert_eq!(
            problem("alice:$6$xKRZuvnBVWGw9p4j$AAAA"),
            EntryProblem::WrongLength {
                field: "hash",
                len: 3,
                expected: 64
            }
        );
    }

    #[test]
    fn errors_name_origin_and_line() {
        let err = PasswordFile::parse(&format!("# users\n\n{ALICE}\nbob:hunter2\n"), "pw.txt")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("pw.txt:4: "), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn duplicate_user_is_refused_with_both_lines() {
        let err = PasswordFile::parse(&format!("{ALICE}\n{ALICE}\n"), "pw").unwrap_err();
        assert_eq!(
            err.to_string(),
            "pw:2: user \"alice\" already has an entry on line 1"
        );
    }

    #[test]
    fn blank_comment_and_crlf_lines_are_accepted() {
        let text = format!("# comment\r\n\r\n   \n  # indented comment\n{ALICE}\r\n {BOB} \n");
        let file = PasswordFile::parse(&text, "pw").unwrap();
        assert_eq!(file.users().collect::<Vec<_>>(), ["alice", "bob"]);
        assert_eq!(file.len(), 2);
        assert!(file.contains("bob"));
        assert_eq!(file.verify("alice", b"secret"), PasswordCheck::Valid);
    }

    #[test]
    fn usernames_that_files_cannot_hold_are_refused() {
        assert_eq!(validate_username(""), Err(CredentialError::EmptyUsername));
        assert_eq!(
            validate_username("a:b"),
            Err(CredentialError::UsernameContainsColon)
        );
        assert_eq!(
            validate_username("a\nb"),
            Err(CredentialError::UsernameControlCharacter { offset: 1 })
        );
        assert_eq!(
            validate_username("#a"),
            Err(CredentialError::UsernameStartsWithHash)
        );
        assert_eq!(
            validate_username(" a"),
            Err(CredentialError::UsernameSurroundingWhitespace)
        );
        assert_eq!(validate_username("a b/é"), Ok(()));
        assert_eq!(check_password(b""), Err(CredentialError::EmptyPassword));
        assert_eq!(
            check_password(&[b'x'; 65_536]),
            Err(CredentialError::PasswordTooLong { len: 65_536 })
        );
    }

    #[test]
    fn constant_time_eq_compares_whole_slices() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
