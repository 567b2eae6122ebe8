//! `[sync]` (DESIGN §4.6): checks of the section and its secret files, read once at load into
//! [`SyncSettings`]. Off unless `pagerduty_api_token_file` is set; then every missing piece is
//! reported (a PagerDuty key without a Centreon URL, no Centreon credentials, a webhook without
//! its secret). Secrets never appear in a message: the files' rules are `ack_sync`'s, the
//! same as routing key files'.

use super::load::ErrFn;
use super::{Config, Purpose, Region};
use ack_sync::{CentreonAuth, Secret};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// Shortest `poll_interval`. PagerDuty's REST API allows about 900 requests a minute per key,
/// shared with whatever else uses the key: one listing a second is far within it.
const MIN_POLL: Duration = Duration::from_secs(1);

/// `[sync]`, checked, with its secrets read.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    pub pagerduty_token: Secret,
    /// `None`: the region's.
    pub pagerduty_api_url: Option<String>,
    pub region: ack_sync::Region,
    pub poll_interval: Duration,
    pub centreon_api_url: String,
    pub centreon_auth: CentreonAuth,
    pub comment: String,
    pub sticky: bool,
    pub notify_contacts: bool,
    /// Webhook mode: the address and the secrets (one per line of the file).
    pub webhook: Option<(SocketAddr, Vec<Secret>)>,
}

/// Check `[sync]` and read its files; `None` when it is off or broken (errors said).
pub(super) fn read(
    c: &Config,
    purpose: Purpose,
    err: &mut ErrFn<'_>,
    warnings: &mut Vec<String>,
) -> Option<SyncSettings> {
    let s = &c.sync;
    if !s.enabled() {
        let set: Vec<&str> = [
            ("centreon_api_url", &s.centreon_api_url),
            ("centreon_api_token_file", &s.centreon_api_token_file),
            ("centreon_login_file", &s.centreon_login_file),
            ("webhook_listen", &s.webhook_listen),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, _)| k)
        .collect();
        if !set.is_empty() {
            warnings.push(format!(
                "sync: {} set but pagerduty_api_token_file is not: the PagerDuty → Centreon acknowledgement sync is off",
                set.join(", ")
            ));
        }
        return None;
    }
    let trusted = ack_sync::trusted_owners(Some(Path::new(&c.spool.dir)));
    let mut ok = true;
    let mut fail = |key: &str, message: String| {
        ok = false;
        err(&["sync", key], message);
    };
    let mut secret = |key: &str, path: &str, fail: &mut dyn FnMut(&str, String)| {
        match ack_sync::read_secret_file(Path::new(path), &trusted) {
            Ok(secret) => Some(secret),
            Err(e) if purpose == Purpose::Offline => {
                warnings.push(format!("sync.{key}: {e}"));
                None
            }
            Err(e) => {
                fail(key, e.to_string());
                None
            }
        }
    };
    let pagerduty_token = secret(
        "pagerduty_api_token_file",
        &s.pagerduty_api_token_file,
        &mut fail,
    );
    if !s.pagerduty_api_url.is_empty() && !is_http_url(&s.pagerduty_api_url) {
        fail(
            "pagerduty_api_url",
            format!(
                "must be an http:// or https:// URL, got {:?}",
                s.pagerduty_api_url
            ),
        );
    }
    if s.poll_interval.0 < MIN_POLL {
        fail(
            "poll_interval",
            format!(
                "must be at least {}s (PagerDuty's REST rate limits)",
                MIN_POLL.as_secs()
            ),
        );
    }
    if s.centreon_api_url.is_empty() {
        fail(
            "centreon_api_url",
            "required with pagerduty_api_token_file: the URL of Centreon's API v2, e.g. https://centreon.example.com/centreon/api/latest".into(),
        );
    } else if !is_http_url(&s.centreon_api_url) {
        fail(
            "centreon_api_url",
            format!(
                "must be an http:// or https:// URL, got {:?}",
                s.centreon_api_url
            ),
        );
    }
    let centreon_auth = match (
        s.centreon_api_token_file.is_empty(),
        s.centreon_login_file.is_empty(),
    ) {
        (false, false) => {
            fail(
                "centreon_login_file",
                "set centreon_api_token_file or centreon_login_file, not both".into(),
            );
            None
        }
        (true, true) => {
            fail(
                "centreon_api_token_file",
                "required with pagerduty_api_token_file: a Centreon API token file (Centreon ≥ 23.04), or centreon_login_file (login:password of a dedicated user)".into(),
            );
            None
        }
        (false, true) => secret(
            "centreon_api_token_file",
            &s.centreon_api_token_file,
            &mut fail,
        )
        .map(CentreonAuth::Token),
        (true, false) => {
            match ack_sync::read_login_file(Path::new(&s.centreon_login_file), &trusted) {
                Ok(credentials) => Some(CentreonAuth::Login(credentials)),
                Err(e) if purpose == Purpose::Offline => {
                    warnings.push(format!("sync.centreon_login_file: {e}"));
                    None
                }
                Err(e) => {
                    fail("centreon_login_file", e.to_string());
                    None
                }
            }
        }
    };
    if s.comment.trim().is_empty() {
        fail("comment", "must not be empty".into());
    }
    let webhook = webhook(c, &trusted, purpose, &mut fail, warnings);
    if !ok {
        return None;
    }
    Some(SyncSettings {
        pagerduty_token: pagerduty_token?,
        pagerduty_api_url: Some(s.pagerduty_api_url.clone()).filter(|u| !u.is_empty()),
        region: match c.pagerduty.region {
            Region::Us => ack_sync::Region::Us,
            Region::Eu => ack_sync::Region::Eu,
        },
        poll_interval: s.poll_interval.0,
        centreon_api_url: s.centreon_api_url.trim_end_matches('/').to_owned(),
        centreon_auth: centreon_auth?,
        comment: s.comment.clone(),
        sticky: s.sticky,
        notify_contacts: s.notify_contacts,
        webhook: webhook?,
    })
}

/// `webhook_listen` and its secrets: `Some(None)` when off, `None` when broken.
#[allow(clippy::option_option)]
fn webhook(
    c: &Config,
    trusted: &[u32],
    purpose: Purpose,
    fail: &mut dyn FnMut(&str, String),
    warnings: &mut Vec<String>,
) -> Option<Option<(SocketAddr, Vec<Secret>)>> {
    let s = &c.sync;
    if s.webhook_listen.is_empty() {
        return Some(None);
    }
    let addr = match s.webhook_listen.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            fail(
                "webhook_listen",
                format!(
                    "must be an address and port such as 0.0.0.0:8443, got {:?}",
                    s.webhook_listen
                ),
            );
            None
        }
    };
    if s.webhook_secret_file.is_empty() {
        fail(
            "webhook_secret_file",
            "required with webhook_listen: the file holding the webhook subscription's secret (one per line during a rotation)".into(),
        );
        return None;
    }
    let secrets = match ack_sync::read_secret_lines(Path::new(&s.webhook_secret_file), trusted) {
        Ok(secrets) => secrets,
        Err(e) if purpose == Purpose::Offline => {
            warnings.push(format!("sync.webhook_secret_file: {e}"));
            return None;
        }
        Err(e) => {
            fail("webhook_secret_file", e.to_string());
            return None;
        }
    };
    Some(Some((addr?, secrets)))
}

fn is_http_url(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

#[cfg(test)]
mod tests {
    use crate::config::{load_str, ConfigErrors, Loaded, Purpose};
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};

    const KEY: &str = "R0UT1NGKEY0000000000000000000001";

    fn file(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    fn load(dir: &Path, sync: &str) -> Result<Loaded, ConfigErrors> {
        let text = format!(
            "[pagerduty]\nrouting_key = \"{KEY}\"\n[spool]\ndir = \"{}\"\n[sync]\n{sync}",
            dir.display()
        );
        load_str(
            Some(Path::new("/etc/cp.toml")),
            &text,
            &[],
            Purpose::Service,
        )
    }

    fn errors(dir: &Path, sync: &str) -> String {
        match load(dir, sync) {
            Ok(_) => panic!("expected errors"),
            Err(e) => {
                e.0.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        }
    }

    #[test]
    fn off_unless_a_pagerduty_api_key_is_given() {
        let dir = tempfile::tempdir().unwrap();
        let l = load(
            dir.path(),
            "centreon_api_url = \"https://c/centreon/api/latest\"\n",
        )
        .unwrap();
        assert!(l.sync.is_none());
        assert!(
            l.warnings.iter().any(|w| w.contains("sync is off")),
            "{:?}",
            l.warnings
        );
    }

    #[test]
    fn every_missing_piece_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let pd = file(dir.path(), "pd.key", "u+SECRETPAGERDUTYKEY1234\n", 0o640);
        let e = errors(
            dir.path(),
            &format!(
                "pagerduty_api_token_file = \"{}\"\npoll_interval = \"500ms\"\nwebhook_listen = \"0.0.0.0:8443\"\n",
                pd.display()
            ),
        );
        for what in [
            "sync.centreon_api_url: required",
            "sync.centreon_api_token_file: required",
            "sync.poll_interval: must be at least 1s",
            "sync.webhook_secret_file: required",
        ] {
            assert!(e.contains(what), "{what} missing from:\n{e}");
        }
        assert!(!e.contains("SECRETPAGERDUTYKEY"), "{e}");
    }

    #[test]
    fn a_complete_section_reads_its_secrets_and_never_shows_them() {
        let dir = tempfile::tempdir().unwrap();
        let pd = file(dir.path(), "pd.key", "u+SECRETPAGERDUTYKEY1234\n", 0o640);
        let login = file(dir.path(), "login", "centreon-pd:pa ss:word\n", 0o600);
        let hook = file(
            dir.path(),
            "hook",
            "OLDSECRETOLDSECRET\nNEWSECRETNEWSECRET\n",
            0o640,
        );
        let l = load(
            dir.path(),
            &format!(
                "pagerduty_api_token_file = \"{}\"\ncentreon_api_url = \"https://c/centreon/api/latest/\"\ncentreon_login_file = \"{}\"\nwebhook_listen = \"127.0.0.1:8443\"\nwebhook_secret_file = \"{}\"\n",
                pd.display(),
                login.display(),
                hook.display()
            ),
        )
        .unwrap();
        let s = l.sync.expect("sync on");
        assert_eq!(s.centreon_api_url, "https://c/centreon/api/latest");
        assert_eq!(s.webhook.as_ref().map(|(_, k)| k.len()), Some(2));
        let shown = format!("{s:?}");
        for secret in ["SECRETPAGERDUTYKEY", "pa ss:word", "OLDSECRET", "NEWSECRET"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn a_secret_file_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pd = file(dir.path(), "pd.key", "u+SECRETPAGERDUTYKEY1234\n", 0o644);
        let token = file(dir.path(), "token", "CENTREONTOKEN\n", 0o640);
        let e = errors(
            dir.path(),
            &format!(
                "pagerduty_api_token_file = \"{}\"\ncentreon_api_url = \"https://c\"\ncentreon_api_token_file = \"{}\"\ncentreon_login_file = \"{}\"\n",
                pd.display(),
                token.display(),
                token.display()
            ),
        );
        assert!(e.contains("sync.pagerduty_api_token_file"), "{e}");
        assert!(e.contains("not both"), "{e}");
        assert!(
            !e.contains("SECRETPAGERDUTYKEY") && !e.contains("CENTREONTOKEN"),
            "{e}"
        );
    }
}
