//! Routing keys: inline or read from files (regular, owned by root or a trusted user, mode
//! 0640 or stricter), checked, and never printed whole.

use super::load::{display_key, ErrFn};
use super::{Config, Purpose};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// A routing key: never printed whole.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&pagerduty::mask_routing_key(&self.0))
    }
}

/// A routing key that cannot be right is an error; one that does not look like PagerDuty's
/// 32 letters and digits is only a warning (PagerDuty will say whether it accepts it, and the
/// daemon then pauses the key and keeps everything). Messages never contain the key.
pub(super) fn check_routing_key(key: &str) -> Result<Option<String>, String> {
    if key.is_empty() {
        return Err("is empty".into());
    }
    if let Some(pos) = key
        .chars()
        .position(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
    {
        return Err(format!("contains a space, control or non-ASCII character at position {} (a copy-paste problem?)", pos + 1));
    }
    Ok(pagerduty::validate_routing_key(key).err().map(|e| {
        format!("{e}: PagerDuty integration keys are 32 letters and digits; check it with centreon-pagerduty send-test")
    }))
}

/// Read every routing key (inline or from its file, after checking the file's owner and mode).
pub(super) fn read_keys(
    c: &Config,
    purpose: Purpose,
    err: &mut ErrFn<'_>,
    warnings: &mut Vec<String>,
) -> Vec<(String, Option<Secret>)> {
    let mut keys = Vec::new();
    // Owners trusted besides root: whoever runs this command, the packaged daemon user, and
    // the owner of the spool directory (the user the daemon runs as).
    let mut trusted = vec![rustix::process::geteuid().as_raw()];
    trusted.extend(user_id(DAEMON_USER));
    trusted.extend(std::fs::metadata(&c.spool.dir).ok().map(|m| m.uid()));
    let mut one = |route: &str, inline: Option<&Secret>, file: Option<&str>, path: Vec<String>| {
        let refs: Vec<&str> = path.iter().map(String::as_str).collect();
        let key = match (
            inline.filter(|k| !k.0.is_empty()),
            file.filter(|f| !f.is_empty()),
        ) {
            (Some(k), _) => Some(k.clone()),
            (None, Some(f)) => match read_key_file(Path::new(f), &trusted) {
                Ok(k) => Some(k),
                // Commands that send nothing do not need the key: say it, go on.
                Err(m) if purpose == Purpose::Offline => {
                    warnings.push(format!("{}: {m}", display_key(&refs)));
                    None
                }
                Err(m) => {
                    err(&refs, m);
                    None
                }
            },
            (None, None) => None,
        };
        keys.push((route.to_owned(), key));
    };
    one(
        rules::settings::DEFAULT_ROUTE,
        Some(&c.pagerduty.routing_key),
        Some(&c.pagerduty.routing_key_file),
        vec!["pagerduty".into(), "routing_key_file".into()],
    );
    for (i, r) in c.route.iter().enumerate() {
        one(
            &r.name,
            r.routing_key.as_ref(),
            r.routing_key_file.as_deref(),
            vec!["route".into(), i.to_string(), "routing_key_file".into()],
        );
    }
    keys
}

/// Read a routing key file: a regular file owned by root or a `trusted` user, not readable by
/// others nor writable by its group, holding one key.
pub fn read_key_file(path: &Path, trusted: &[u32]) -> Result<Secret, String> {
    let shown = path.display();
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        // The value may be a key pasted in place of a path: never echo it.
        Err(e) if !path.to_string_lossy().contains('/') => {
            return Err(format!(
                "is not the path of a file ({}): put the key in a file and give its path, or use routing_key",
                e.kind()
            ))
        }
        Err(e) => return Err(format!("cannot read {shown}: {e}")),
    };
    if !meta.file_type().is_file() {
        return Err(format!(
            "{shown} must be a regular file (not a link or directory)"
        ));
    }
    if meta.uid() != 0 && !trusted.contains(&meta.uid()) {
        return Err(format!(
            "{shown} must be owned by root or by the daemon's user {DAEMON_USER}, not uid {}; run: chown root:{DAEMON_USER} {shown}",
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o027 != 0 {
        return Err(format!(
            "{shown} has mode {mode:04o}: a routing key file must not be readable by others nor writable by its group; run: chmod 0640 {shown}; chown root:centreon-pagerduty {shown}"
        ));
    }
    if meta.len() > 4096 {
        return Err(format!(
            "{shown} is too large for a routing key ({} bytes)",
            meta.len()
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let key = text.trim().to_owned();
    if key.is_empty() {
        return Err(format!("{shown} is empty"));
    }
    check_routing_key(&key).map_err(|e| format!("{shown}: {e}"))?;
    Ok(Secret(key))
}

/// The daemon's system user (packages and units).
pub const DAEMON_USER: &str = "centreon-pagerduty";

/// A user's id from /etc/passwd.
fn user_id(name: &str) -> Option<u32> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then(|| f.nth(1)?.parse().ok())?
    })
}
