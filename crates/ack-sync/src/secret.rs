//! Secrets (API tokens, passwords, webhook signing secrets) read from files, and never printed.
//!
//! The file rules are the daemon's rules for routing-key files (DESIGN §3.2, §4.6 "same checks
//! as routing key files"; `crates/daemon/src/config/keys.rs`): a regular file (not a symbolic
//! link, not a directory), owned by root or by a trusted user, not readable by others nor
//! writable by its group (mode 0640 or stricter), at most 4096 bytes, holding one value.
//!
//! Invariant: no `Debug`/`Display` output and no [`SecretError`] text contains the secret or any
//! part of it but the last four characters that the mask deliberately shows (`…1234`). A value
//! given where a path was expected is never echoed either.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The daemon's system user (packages and units): trusted as the owner of secret files.
pub const DAEMON_USER: &str = "centreon-pagerduty";

/// Largest secret file read, in bytes.
const MAX_FILE_BYTES: u64 = 4096;

/// A secret value: compared and used as is, shown only as `…` and its last four characters
/// (`(none)` when empty, `…` alone when four characters or fewer), like routing keys.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value (tests, values already read by the caller).
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, to put on the wire. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The masked form shown everywhere: `…` and the last four characters.
    pub fn masked(&self) -> String {
        pagerduty::mask_routing_key(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Why a secret file cannot be used. Texts name the file and the fix, never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SecretError {
    /// The value given has no `/`: probably the secret pasted where a path belongs.
    #[error("is not the path of a file ({kind}): put the secret in a file and give its path")]
    NotAPath {
        /// What the system said (`NotFound`…), never the value.
        kind: String,
    },
    /// The file cannot be read (missing, permission…).
    #[error("cannot read {}: {reason}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        reason: String,
    },
    /// A link, a directory, a device…
    #[error("{} must be a regular file (not a link or directory)", path.display())]
    NotRegular {
        /// The file.
        path: PathBuf,
    },
    /// Owned by someone who is neither root nor trusted.
    #[error("{} must be owned by root or by the daemon's user {DAEMON_USER}, not uid {uid}; run: chown root:{DAEMON_USER} {}", path.display(), path.display())]
    BadOwner {
        /// The file.
        path: PathBuf,
        /// Its owner.
        uid: u32,
    },
    /// Readable by others or writable by its group.
    #[error("{} has mode {mode:04o}: a secret file must not be readable by others nor writable by its group; run: chmod 0640 {}; chown root:{DAEMON_USER} {}", path.display(), path.display(), path.display())]
    BadMode {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Larger than 4096 bytes.
    #[error("{} is too large for a secret ({len} bytes)", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        len: u64,
    },
    /// Empty, or only blanks.
    #[error("{} is empty", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// Not valid UTF-8.
    #[error("{} is not UTF-8 text", path.display())]
    NotText {
        /// The file.
        path: PathBuf,
    },
    /// A token with a space, control or non-ASCII character inside (a copy-paste problem).
    #[error("{} contains a space, control or non-ASCII character at position {position} (a copy-paste problem?)", path.display())]
    BadCharacter {
        /// The file.
        path: PathBuf,
        /// 1-based position in the value.
        position: usize,
    },
    /// A login file that is not `login:password`.
    #[error("{} must hold one line login:password ({reason})", path.display())]
    BadLoginFile {
        /// The file.
        path: PathBuf,
        /// What is wrong, without the value.
        reason: &'static str,
    },
}

/// Owners trusted besides root, as the daemon computes them: whoever runs this process, the
/// packaged daemon user [`DAEMON_USER`] (from /etc/passwd), and the owner of `spool_dir` (the
/// user the daemon runs as) when given.
pub fn trusted_owners(spool_dir: Option<&Path>) -> Vec<u32> {
    let mut trusted = vec![rustix::process::geteuid().as_raw()];
    trusted.extend(user_id(DAEMON_USER));
    if let Some(dir) = spool_dir {
        trusted.extend(std::fs::metadata(dir).ok().map(|m| m.uid()));
    }
    trusted
}

/// Reads a secret file (an API token, a webhook secret): the rules of this module, then the
/// content trimmed of surrounding blanks, which must be non-empty and free of spaces, control
/// and non-ASCII characters. `trusted`: owners accepted besides root ([`trusted_owners`]).
pub fn read_secret_file(path: &Path, trusted: &[u32]) -> Result<Secret, SecretError> {
    let text = read_checked(path, trusted)?;
    let value = text.trim();
    if value.is_empty() {
        return Err(SecretError::Empty {
            path: path.to_owned(),
        });
    }
    if let Some(pos) = value
        .chars()
        .position(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
    {
        return Err(SecretError::BadCharacter {
            path: path.to_owned(),
            position: pos + 1,
        });
    }
    Ok(Secret(value.to_owned()))
}

/// Reads a file of secrets, one per line (a webhook subscription's secret; two during a
/// rotation): blank lines skipped, each line as [`read_secret_file`] checks a whole file.
pub fn read_secret_lines(path: &Path, trusted: &[u32]) -> Result<Vec<Secret>, SecretError> {
    let text = read_checked(path, trusted)?;
    let mut secrets = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(pos) = line
            .chars()
            .position(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
        {
            return Err(SecretError::BadCharacter {
                path: path.to_owned(),
                position: pos + 1,
            });
        }
        secrets.push(Secret(line.to_owned()));
    }
    if secrets.is_empty() {
        return Err(SecretError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(secrets)
}

/// Reads a Centreon login file: one line `login:password` (split at the first `:`; the password
/// may hold `:` and spaces; one trailing line end is dropped). Same file rules as
/// [`read_secret_file`].
pub fn read_login_file(path: &Path, trusted: &[u32]) -> Result<crate::Credentials, SecretError> {
    let text = read_checked(path, trusted)?;
    let line = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    let bad = |reason| SecretError::BadLoginFile {
        path: path.to_owned(),
        reason,
    };
    if line.trim().is_empty() {
        return Err(SecretError::Empty {
            path: path.to_owned(),
        });
    }
    if line.contains('\n') {
        return Err(bad("more than one line"));
    }
    let (login, password) = line.split_once(':').ok_or_else(|| bad("no ':'"))?;
    let login = login.trim();
    if login.is_empty() {
        return Err(bad("empty login"));
    }
    if password.is_empty() {
        return Err(bad("empty password"));
    }
    if login.chars().any(char::is_control) || password.chars().any(char::is_control) {
        return Err(bad("control character"));
    }
    Ok(crate::Credentials::new(login, Secret(password.to_owned())))
}

/// The checks on the file itself, then its text.
fn read_checked(path: &Path, trusted: &[u32]) -> Result<String, SecretError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        // The value may be a secret pasted in place of a path: never echo it.
        Err(e) if !path.to_string_lossy().contains('/') => {
            return Err(SecretError::NotAPath {
                kind: format!("{:?}", e.kind()),
            })
        }
        Err(e) => {
            return Err(SecretError::Unreadable {
                path: path.to_owned(),
                reason: e.to_string(),
            })
        }
    };
    if !meta.file_type().is_file() {
        return Err(SecretError::NotRegular {
            path: path.to_owned(),
        });
    }
    if meta.uid() != 0 && !trusted.contains(&meta.uid()) {
        return Err(SecretError::BadOwner {
            path: path.to_owned(),
            uid: meta.uid(),
        });
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o027 != 0 {
        return Err(SecretError::BadMode {
            path: path.to_owned(),
            mode,
        });
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(SecretError::TooLarge {
            path: path.to_owned(),
            len: meta.len(),
        });
    }
    let bytes = std::fs::read(path).map_err(|e| SecretError::Unreadable {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    // Read again after the checks: a file grown in between is still bounded.
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(SecretError::TooLarge {
            path: path.to_owned(),
            len: bytes.len() as u64,
        });
    }
    String::from_utf8(bytes).map_err(|_| SecretError::NotText {
        path: path.to_owned(),
    })
}

/// A user's id from /etc/passwd.
fn user_id(name: &str) -> Option<u32> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then(|| f.nth(1)?.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_everywhere() {
        let s = Secret::new("u+abcdefghijklmnop1234");
        assert_eq!(format!("{s:?}"), "…1234");
        assert_eq!(format!("{s}"), "…1234");
        assert_eq!(s.masked(), "…1234");
        assert_eq!(s.expose(), "u+abcdefghijklmnop1234");
        assert_eq!(Secret::new("").masked(), "(none)");
        assert_eq!(Secret::new("abcd").masked(), "…");
    }

    #[test]
    fn a_pasted_secret_is_not_echoed() {
        let err = read_secret_file(Path::new("u+SECRETTOKENVALUE"), &[]).unwrap_err();
        assert!(matches!(err, SecretError::NotAPath { .. }));
        assert!(!err.to_string().contains("SECRET"), "{err}");
    }
}
