//! Password files: compatibility with `mosquitto_passwd` in both directions, and in-place edits.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::fs;
use std::path::Path;

use lantern_auth::{
    delete_user, set_password, CredentialError, PasswordChange, PasswordFile, PasswordFileError,
};
use lantern_broker::auth::{PasswordCheck, PasswordVerifier};

use common::{mosquitto_passwd, TempDir};

/// Written once by `mosquitto_passwd` 2.0.11:
/// `-c -b FILE alice 'correct horse'` ($7$, the default),
/// `-H sha512 -b FILE bob hunter2` ($6$),
/// `-H sha512-pbkdf2 -b FILE 'carol smith' 'pässwörd'` ($7$, a user name with a space).
const FIXTURE: &str = "tests/fixtures/mosquitto_passwd.txt";

fn load(path: &Path) -> PasswordFile {
    PasswordFile::load(path).unwrap_or_else(|e| panic!("{e}"))
}

fn assert_verifies(file: &PasswordFile, user: &str, password: &str) {
    assert_eq!(
        file.verify(user, password.as_bytes()),
        PasswordCheck::Valid,
        "{user}"
    );
    assert_eq!(
        file.verify(user, b"not the password"),
        PasswordCheck::WrongPassword,
        "{user}"
    );
}

#[test]
fn checked_in_mosquitto_passwd_fixture_verifies() {
    let file = load(Path::new(FIXTURE));
    assert_eq!(
        file.users().collect::<Vec<_>>(),
        ["alice", "bob", "carol smith"]
    );
    assert_eq!(file.len(), 3);
    assert_verifies(&file, "alice", "correct horse");
    assert_verifies(&file, "bob", "hunter2");
    assert_verifies(&file, "carol smith", "pässwörd");
    assert_eq!(
        file.verify("mallory", b"hunter2"),
        PasswordCheck::UnknownUser
    );
    // A right password for another user is still wrong.
    assert_eq!(
        file.verify("alice", b"hunter2"),
        PasswordCheck::WrongPassword
    );
    // Passwords are bytes, compared exactly: no trimming, no case folding.
    assert_eq!(
        file.verify("bob", b"hunter2 "),
        PasswordCheck::WrongPassword
    );
    assert_eq!(file.verify("bob", b"HUNTER2"), PasswordCheck::WrongPassword);
}

#[test]
fn file_written_by_mosquitto_passwd_default_pbkdf2_verifies() {
    let dir = TempDir::new("mp-default");
    let path = dir.join("pw");
    let p = path.to_str().unwrap();
    mosquitto_passwd(&["-c", "-b", p, "alice", "s3cret"]);
    mosquitto_passwd(&["-b", p, "dave", "d@ve pass"]);
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.lines().all(|l| l.contains(":$7$101$")), "{text}");
    let file = load(&path);
    assert_verifies(&file, "alice", "s3cret");
    assert_verifies(&file, "dave", "d@ve pass");
    assert_eq!(file.verify("bob", b"s3cret"), PasswordCheck::UnknownUser);
}

#[test]
fn file_written_by_mosquitto_passwd_sha512_pbkdf2_verifies() {
    let dir = TempDir::new("mp-pbkdf2");
    let path = dir.join("pw");
    let p = path.to_str().unwrap();
    mosquitto_passwd(&["-H", "sha512-pbkdf2", "-c", "-b", p, "erin", "pässwörd"]);
    let file = load(&path);
    assert_verifies(&file, "erin", "pässwörd");
    assert_eq!(file.verify("alice", b"x"), PasswordCheck::UnknownUser);
}

#[test]
fn file_written_by_mosquitto_passwd_sha512_verifies() {
    let dir = TempDir::new("mp-sha512");
    let path = dir.join("pw");
    let p = path.to_str().unwrap();
    mosquitto_passwd(&["-H", "sha512", "-c", "-b", p, "frank", "hunter2"]);
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("frank:$6$"), "{text}");
    let file = load(&path);
    assert_verifies(&file, "frank", "hunter2");
    assert_eq!(file.verify("alice", b"hunter2"), PasswordCheck::UnknownUser);
}

#[test]
fn set_password_then_verify_round_trips() {
    let dir = TempDir::new("round-trip");
    let path = dir.join("pw");
    assert_eq!(
        set_password(&path, "alice", b"one").unwrap(),
        PasswordChange::Added
    );
    assert_eq!(
        set_password(&path, "bob", b"two").unwrap(),
        PasswordChange::Added
    );
    let file = load(&path);
    assert_verifies(&file, "alice", "one");
    assert_verifies(&file, "bob", "two");

    assert_eq!(
        set_password(&path, "alice", b"three").unwrap(),
        PasswordChange::Updated
    );
    let file = load(&path);
    assert_eq!(file.verify("alice", b"one"), PasswordCheck::WrongPassword);
    assert_verifies(&file, "alice", "three");
    assert_verifies(&file, "bob", "two");
}

#[test]
fn set_password_writes_mosquitto_2_0_entries() {
    let dir = TempDir::new("format");
    let path = dir.join("pw");
    set_password(&path, "alice", b"secret").unwrap();
    let text = fs::read_to_string(&path).unwrap();
    let (user, hash) = text.trim_end().split_once(':').unwrap();
    assert_eq!(user, "alice");
    let fields: Vec<&str> = hash.split('$').collect();
    // "", "7", "101", salt (12 bytes → 16 base64 chars), hash (64 bytes → 88 chars, padded).
    assert_eq!(fields.len(), 5, "{hash}");
    assert_eq!(&fields[..3], ["", "7", "101"]);
    assert_eq!(fields[3].len(), 16);
    assert_eq!(fields[4].len(), 88);
    assert!(fields[4].ends_with("=="));
    assert!(text.ends_with('\n'));
    // A fresh salt every time.
    set_password(&path, "alice", b"secret").unwrap();
    assert_ne!(fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn updating_a_user_keeps_other_lines_and_comments() {
    let dir = TempDir::new("keep-lines");
    let path = dir.join("pw");
    let fixture = fs::read_to_string(FIXTURE).unwrap();
    let lines: Vec<&str> = fixture.lines().collect();
    let original = format!(
        "# managed by hand\r\n{}\r\n\n  # indented comment\n{}\n{}",
        lines[0], lines[1], lines[2]
    );
    fs::write(&path, &original).unwrap();

    assert_eq!(
        set_password(&path, "bob", b"new").unwrap(),
        PasswordChange::Updated
    );
    let updated = fs::read_to_string(&path).unwrap();
    let before: Vec<&str> = original.split_inclusive('\n').collect();
    let after: Vec<&str> = updated.split_inclusive('\n').collect();
    assert_eq!(before.len(), after.len());
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        if i == 4 {
            assert!(a.starts_with("bob:$7$101$") && a.ends_with('\n'), "{a:?}");
        } else {
            assert_eq!(b, a, "line {}", i + 1);
        }
    }
    let file = load(&path);
    assert_verifies(&file, "bob", "new");
    assert_verifies(&file, "alice", "correct horse");
    assert_verifies(&file, "carol smith", "pässwörd");

    // Adding to a file without a final newline starts a new line.
    assert_eq!(
        set_password(&path, "dave", b"d").unwrap(),
        PasswordChange::Added
    );
    let added = fs::read_to_string(&path).unwrap();
    assert!(added.starts_with(&updated));
    assert!(added[updated.len()..].starts_with("\ndave:$7$101$"));
    assert_verifies(&load(&path), "dave", "d");
}

#[test]
fn delete_user_removes_only_that_user() {
    let dir = TempDir::new("delete");
    let path = dir.join("pw");
    let fixture = fs::read_to_string(FIXTURE).unwrap();
    fs::write(&path, format!("# users\n{fixture}")).unwrap();

    assert!(delete_user(&path, "bob").unwrap());
    let text = fs::read_to_string(&path).unwrap();
    let expected: String = format!("# users\n{fixture}")
        .split_inclusive('\n')
        .filter(|l| !l.starts_with("bob:"))
        .collect();
    assert_eq!(text, expected);
    let file = load(&path);
    assert_eq!(file.verify("bob", b"hunter2"), PasswordCheck::UnknownUser);
    assert_verifies(&file, "alice", "correct horse");

    assert!(!delete_user(&path, "bob").unwrap());
    assert_eq!(fs::read_to_string(&path).unwrap(), text);
    let missing = delete_user(&dir.join("absent"), "bob").unwrap_err();
    assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
}

#[cfg(unix)]
#[test]
fn created_file_has_mode_0600_and_edits_keep_the_mode() {
    use std::os::unix::fs::PermissionsExt;

    let dir = TempDir::new("mode");
    let path = dir.join("pw");
    set_password(&path, "alice", b"secret").unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    set_password(&path, "alice", b"other").unwrap();
    assert_eq!(mode(&path), 0o600);

    // An operator's choice (say, group-readable for the broker's group) survives an edit.
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    set_password(&path, "bob", b"x").unwrap();
    assert_eq!(mode(&path), 0o640);
    delete_user(&path, "bob").unwrap();
    assert_eq!(mode(&path), 0o640);
    // No temporary file is left behind.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn set_password_refuses_names_and_passwords_a_file_cannot_hold() {
    let dir = TempDir::new("refuse");
    let path = dir.join("pw");
    let refused = |user: &str, password: &[u8]| {
        let e = set_password(&path, user, password).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        e.into_inner()
            .unwrap()
            .downcast::<CredentialError>()
            .map(|b| *b)
            .unwrap()
    };
    assert_eq!(refused("", b"x"), CredentialError::EmptyUsername);
    assert_eq!(refused("a:b", b"x"), CredentialError::UsernameContainsColon);
    assert_eq!(
        refused("a\tb", b"x"),
        CredentialError::UsernameControlCharacter { offset: 1 }
    );
    assert_eq!(refused("alice", b""), CredentialError::EmptyPassword);
    assert!(!path.exists());
}

#[test]
fn debug_output_has_no_hash_and_no_salt() {
    let file = load(Path::new(FIXTURE));
    let debug = format!("{file:?}");
    let pretty = format!("{file:#?}");
    assert!(debug.contains("alice"), "{debug}");
    for line in fs::read_to_string(FIXTURE).unwrap().lines() {
        let (_, hash) = line.split_once(':').unwrap();
        for field in hash.split('$').filter(|f| f.len() > 3) {
            assert!(!debug.contains(field), "{debug}");
            assert!(!pretty.contains(field), "{pretty}");
        }
    }
    assert!(!debug.contains('$'), "{debug}");
}

#[test]
fn load_errors_name_the_file_and_line_without_the_hash() {
    let dir = TempDir::new("errors");
    let path = dir.join("pw");
    let secret_salt = "c2VjcmV0c2FsdHh4";
    fs::write(&path, format!("# ok\nalice:$5${secret_salt}$AAAA\n")).unwrap();
    let err = PasswordFile::load(&path).unwrap_err();
    assert!(
        matches!(err, PasswordFileError::Entry { line: 2, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("{}:2: unknown hash type $5$", path.display())),
        "{text}"
    );
    assert!(!text.contains(secret_salt) && !format!("{err:?}").contains(secret_salt));

    fs::write(&path, format!("alice:$6${secret_salt}$not*base64\n")).unwrap();
    let text = PasswordFile::load(&path).unwrap_err().to_string();
    assert!(
        text.ends_with(":1: the hash is not valid base64 (standard alphabet, padded)"),
        "{text}"
    );

    fs::write(&path, "alice $6$abc\n").unwrap();
    let text = PasswordFile::load(&path).unwrap_err().to_string();
    assert!(
        text.ends_with(":1: expected `username:hash`, found no ':'"),
        "{text}"
    );

    let err = PasswordFile::load(dir.join("absent")).unwrap_err();
    assert!(matches!(err, PasswordFileError::Read { .. }));
    assert!(err.to_string().contains("absent"), "{err}");
}
