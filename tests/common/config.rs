//! The test configuration: DESIGN §3.2's sections with test-sized delivery timings, changed key
//! by key and rendered as TOML (`{DIR}` standing for the daemon's directory). Writes no file:
//! `Daemon` does.

use super::ROUTING_KEY;
use std::fmt::Write as _;
use std::path::Path;

/// The test configuration, as ordered sections of `key = raw TOML value`.
#[derive(Clone, Debug)]
pub struct Config {
    sections: Vec<(String, Vec<(String, String)>)>,
}

impl Config {
    /// DESIGN §3.2 keys with test-sized delivery timings. `{DIR}` is replaced by the daemon's
    /// temporary directory when written.
    pub fn new(pagerduty_url: &str) -> Config {
        let q = |s: &str| format!("{s:?}");
        let sections = vec![
            (
                "pagerduty".to_owned(),
                vec![
                    ("routing_key".into(), q(ROUTING_KEY)),
                    ("url".into(), q(pagerduty_url)),
                    ("timeout".into(), q("2s")),
                    ("rate_limit_per_minute".into(), "6000".into()),
                ],
            ),
            (
                "listen".to_owned(),
                vec![
                    ("socket".into(), q("{DIR}/broker.sock")),
                    ("socket_group".into(), q("")),
                    ("socket_mode".into(), q("0660")),
                ],
            ),
            (
                "spool".to_owned(),
                vec![
                    ("dir".into(), q("{DIR}/spool")),
                    ("max_size".into(), q("64MiB")),
                    ("min_free".into(), q("1MiB")),
                ],
            ),
            (
                "delivery".to_owned(),
                vec![
                    ("backoff_min".into(), q("100ms")),
                    ("backoff_max".into(), q("1s")),
                    ("throttle_min".into(), q("200ms")),
                    ("throttle_max".into(), q("1s")),
                    ("config_probe".into(), q("500ms")),
                    ("collapse_after".into(), q("15m")),
                    ("max_event_age".into(), q("7d")),
                    ("concurrency".into(), "8".into()),
                    ("shutdown_grace".into(), q("2s")),
                ],
            ),
        ];
        Config { sections }
    }

    /// Sets `section.key` to a raw TOML value (`"\"1MiB\""`, `"8"`, `"true"`).
    pub fn set(mut self, section: &str, key: &str, raw_value: &str) -> Config {
        let sec = match self.sections.iter().position(|(s, _)| s == section) {
            Some(i) => i,
            None => {
                self.sections.push((section.to_owned(), Vec::new()));
                self.sections.len() - 1
            }
        };
        let entries = &mut self.sections[sec].1;
        match entries.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = raw_value.to_owned(),
            None => entries.push((key.to_owned(), raw_value.to_owned())),
        }
        self
    }

    /// Sets a string value.
    pub fn set_str(self, section: &str, key: &str, value: &str) -> Config {
        self.set(section, key, &format!("{value:?}"))
    }

    pub fn render(&self, dir: &Path) -> String {
        let mut s = String::new();
        for (section, entries) in &self.sections {
            let _ = writeln!(s, "[{section}]");
            for (k, v) in entries {
                let _ = writeln!(
                    s,
                    "{k} = {}",
                    v.replace("{DIR}", &dir.display().to_string())
                );
            }
            s.push('\n');
        }
        s
    }
}

// ------------------------------------------------------------------------------------------------
// Operator commands (tests/e2e_commands/)

impl Config {
    /// Removes `section.key` (no-op when absent).
    pub fn unset(mut self, section: &str, key: &str) -> Config {
        if let Some((_, entries)) = self.sections.iter_mut().find(|(s, _)| s == section) {
            entries.retain(|(k, _)| k != key);
        }
        self
    }
}
