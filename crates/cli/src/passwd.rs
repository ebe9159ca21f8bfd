//! `lantern passwd FILE USER`: add, update or delete a user in a mosquitto-compatible password
//! file. The file format and the editing rules live in `lantern-auth`; this module only gets
//! the password from the operator and reports what changed.

use std::io::{self, BufRead, IsTerminal};
use std::path::PathBuf;

use anyhow::{bail, Context};
use lantern_auth::{delete_user, set_password, validate_username, PasswordChange};

/// The longest password line read from standard input: MQTT's limit plus a line ending, plus
/// one byte so that a longer password is refused as too long instead of being cut.
const MAX_STDIN_LINE: u64 = 65_535 + 3;

/// Add, update or delete a user in a password file (mosquitto_passwd format).
///
/// The password is never taken from the command line, where the process list and shell
/// history would show it. When standard input is a terminal, it is asked for twice without
/// echo ("Password:", "Reenter password:") and both must match. Otherwise one line is read from
/// standard input and its line ending removed, for scripts:
/// `printf '%s\n' "$PASSWORD" | lantern passwd passwords.txt alice`.
///
/// The file is created (mode 0600) when missing. The entry is written as mosquitto 2.0's
/// `mosquitto_passwd` writes it (PBKDF2-SHA512, 101 iterations, 12-byte salt), so mosquitto can
/// use the file too. Every other line, comments included, is kept as it is, and the file is
/// replaced atomically. Prints "added user USER to FILE", "updated user USER in FILE" or
/// "deleted user USER from FILE".
#[derive(Debug, clap::Args)]
pub(crate) struct PasswdArgs {
    /// The password file; created when missing.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The user name (no ':', no control characters).
    #[arg(value_name = "USER")]
    user: String,
    /// Delete the user instead of setting a password; fails if the user is not in the file.
    #[arg(long, short = 'D')]
    delete: bool,
}

/// Runs `lantern passwd`.
pub(crate) fn run(args: PasswdArgs) -> anyhow::Result<()> {
    let PasswdArgs { file, user, delete } = args;
    let shown = file.display();
    if delete {
        let found = delete_user(&file, &user)
            .with_context(|| format!("cannot delete user {user:?} from {shown}"))?;
        if !found {
            bail!("user {user:?} is not in {shown}; nothing changed");
        }
        println!("deleted user {user} from {shown}");
        return Ok(());
    }
    // Refuse a bad user name before asking for a password.
    validate_username(&user).with_context(|| format!("cannot add user {user:?}"))?;
    let password = read_password()?;
    let change = set_password(&file, &user, &password)
        .with_context(|| format!("cannot set the password of user {user:?} in {shown}"))?;
    match change {
        PasswordChange::Added => println!("added user {user} to {shown}"),
        PasswordChange::Updated => println!("updated user {user} in {shown}"),
    }
    Ok(())
}

/// Prompts twice without echo on a terminal; otherwise reads one line from standard input.
fn read_password() -> anyhow::Result<Vec<u8>> {
    let stdin = io::stdin();
    if stdin.is_terminal() {
        let first = rpassword::prompt_password("Password: ").context("cannot read the password")?;
        let second =
            rpassword::prompt_password("Reenter password: ").context("cannot read the password")?;
        if first != second {
            bail!("the passwords do not match; nothing changed");
        }
        return Ok(first.into_bytes());
    }
    password_line(stdin.lock())
}

/// One line of `reader`, without its `\n` or `\r\n`; an empty line (or none) is an error.
fn password_line(reader: impl BufRead) -> anyhow::Result<Vec<u8>> {
    let mut line = Vec::new();
    reader
        .take(MAX_STDIN_LINE)
        .read_until(b'\n', &mut line)
        .context("cannot read the password from standard input")?;
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    if line.is_empty() {
        bail!("no password on standard input (expected one line; passwords may not be empty)");
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_password_is_one_line_without_its_ending() {
        assert_eq!(password_line(&b"s3cret\n"[..]).unwrap(), b"s3cret");
        assert_eq!(
            password_line(&b"s3cret\r\nignored\n"[..]).unwrap(),
            b"s3cret"
        );
        assert_eq!(password_line(&b"no newline"[..]).unwrap(), b"no newline");
        assert_eq!(
            password_line(&b" spaces kept \n"[..]).unwrap(),
            b" spaces kept "
        );
        assert_eq!(password_line(&b"p\xe4ss\n"[..]).unwrap(), b"p\xe4ss");
    }

    #[test]
    fn empty_stdin_password_is_refused() {
        assert!(password_line(&b""[..]).is_err());
        assert!(password_line(&b"\n"[..]).is_err());
        assert!(password_line(&b"\r\n"[..]).is_err());
    }

    #[test]
    fn overlong_stdin_password_is_cut_just_past_the_limit() {
        let long = vec![b'x'; 100_000];
        let line = password_line(&long[..]).unwrap();
        assert_eq!(line.len() as u64, MAX_STDIN_LINE);
    }
}
