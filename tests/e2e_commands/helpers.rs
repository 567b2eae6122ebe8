//! Shared helpers: a finished command's outputs, the CLI runs, waits on the daemon and the mock.

use crate::common::*;
use serde_json::Value;
use std::process::Output;
use std::time::Duration;

/// A second valid routing key (32 characters of `[A-Za-z0-9]`), for `[[route]]`.
pub(crate) const KEY2: &str = "R0UT1NGKEY0000000000000000000002";
/// How long "nothing is sent" is watched for.
pub(crate) const QUIET: Duration = Duration::from_millis(1500);
/// PagerDuty's error text for the event it refuses (a 400 that does not name the routing key).
pub(crate) const REFUSAL: &str = "payload.summary refused by the e2e mock";

/// A finished command: exit code and its two outputs.
pub(crate) struct Out {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Out {
    pub(crate) fn of(o: &Output) -> Out {
        Out {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.show()))
    }
    pub(crate) fn show(&self) -> String {
        format!(
            "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
    /// The exit code is `want`; panics with both outputs otherwise.
    pub(crate) fn expect(self, want: i32, what: &str) -> Out {
        assert_eq!(
            self.code,
            Some(want),
            "{what}: wrong exit code\n{}",
            self.show()
        );
        self.no_secret(what)
    }
    /// Routing keys are never printed whole (DESIGN §3.2).
    fn no_secret(self, what: &str) -> Out {
        for k in [ROUTING_KEY, KEY2] {
            assert!(
                !self.stdout.contains(k) && !self.stderr.contains(k),
                "{what}: a routing key is printed whole\n{}",
                self.show()
            );
        }
        self
    }
}

pub(crate) fn cli(d: &Daemon, args: &[&str]) -> Out {
    Out::of(&d.cli(args))
}

pub(crate) fn cli_env(d: &Daemon, args: &[&str], env: &[(&str, &str)]) -> Out {
    Out::of(&d.cli_env(args, env))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

pub(crate) fn test_dedup_key() -> String {
    format!("centreon-pagerduty-test-{}", hostname())
}

/// Two more routes: `databases` with its own key, `blackhole` that drops.
pub(crate) const ROUTES: &str = r#"
[[route]]
name = "databases"
routing_key = "R0UT1NGKEY0000000000000000000002"
hosts = ["db-.*"]

[[route]]
name = "blackhole"
action = "drop"
hosts = ["lab-.*"]
"#;

/// `config` rendered for `d`, followed by `extra` TOML.
pub(crate) fn write_config(d: &Daemon, config: &Config, extra: &str) {
    d.write_config_text(&format!("{}{extra}", config.render(d.dir.path())));
}

/// `status --json`, which must succeed.
pub(crate) fn status_json(d: &Daemon) -> Value {
    cli(d, &["status", "--json"])
        .expect(0, "status --json")
        .json()
}

/// `incidents --json`: the open incidents.
pub(crate) fn incidents(d: &Daemon) -> Vec<Value> {
    let v = cli(d, &["incidents", "--json"])
        .expect(0, "incidents --json")
        .json();
    v["incidents"].as_array().cloned().unwrap_or_default()
}

pub(crate) fn incident_keys(d: &Daemon) -> Vec<String> {
    incidents(d)
        .iter()
        .filter_map(|i| i["dedup_key"].as_str().map(str::to_owned))
        .collect()
}

/// `dead-letters list --json`: the dead letters.
pub(crate) fn dead_letters(d: &Daemon) -> Vec<Value> {
    let v = cli(d, &["dead-letters", "list", "--json"])
        .expect(0, "dead-letters list --json")
        .json();
    v["dead_letters"].as_array().cloned().unwrap_or_default()
}

/// Waits for the single dead letter of `key` and returns it.
pub(crate) fn wait_dead_letter(d: &Daemon, mock: &MockPagerDuty, key: &str) -> Value {
    let mut found = None;
    let ok = poll_until(WAIT, || {
        found = dead_letters(d)
            .into_iter()
            .find(|l| l["dedup_key"].as_str() == Some(key));
        found.is_some()
    });
    assert!(
        ok,
        "no dead letter for {key}\n--- mock ---\n{}\n--- daemon ---\n{}",
        mock.dump(),
        d.log_tail(40)
    );
    found.unwrap()
}

/// Makes the mock refuse the next trigger of `key` with a 400 that does not name the routing key.
pub(crate) fn refuse_next_trigger(mock: &MockPagerDuty, key: &str) {
    mock.push_rule(
        Match::DedupAction(key.to_owned(), "trigger".to_owned()),
        Reply::invalid_event(REFUSAL),
        Some(1),
    );
}

/// Posts a first OK then a HARD CRITICAL for `s`: one trigger.
pub(crate) fn open_problem(d: &Daemon, s: &mut Svc) {
    let lines = [s.first_ok(), s.critical("CRITICAL: e2e commands")];
    d.post_ok(&lines);
}

/// Waits until the mock answered 2xx to `action` for `key` (`n` times in all).
pub(crate) fn wait_delivered(mock: &MockPagerDuty, d: &Daemon, key: &str, action: &str, n: usize) {
    let ok = mock.wait_until(WAIT, |reqs| {
        reqs.iter()
            .filter(|r| r.delivered() && r.dedup_key() == Some(key) && r.action() == Some(action))
            .count()
            >= n
    });
    assert!(
        ok,
        "{action} #{n} of {key} not delivered\n--- mock ---\n{}\n--- daemon ---\n{}",
        mock.dump(),
        d.log_tail(40)
    );
}

/// Requests the mock received for `key` with `action`.
pub(crate) fn received(mock: &MockPagerDuty, key: &str, action: &str) -> usize {
    mock.events_for(key)
        .iter()
        .filter(|r| r.action() == Some(action))
        .count()
}

/// `status --nagios ARGS`, which must print exactly one line.
pub(crate) fn nagios(d: &Daemon, extra: &[&str]) -> Out {
    let mut args = vec!["status", "--nagios"];
    args.extend_from_slice(extra);
    let o = cli(d, &args).no_secret("status --nagios");
    assert_eq!(
        o.stdout.lines().count(),
        1,
        "status --nagios must print one line\n{}",
        o.show()
    );
    o
}

/// A perfdata value (`name=VALUE[unit];…`) of a plugin line, as an integer.
pub(crate) fn perf(line: &str, name: &str) -> Option<i64> {
    let perfdata = line.split_once('|')?.1;
    perfdata.split_whitespace().find_map(|item| {
        let value = item.strip_prefix(&format!("{name}="))?;
        let digits: String = value
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '-')
            .collect();
        digits.parse().ok()
    })
}

pub(crate) fn assert_perfdata(o: &Out, what: &str) {
    for name in [
        "queue_depth",
        "oldest_pending_age",
        "dead_letters",
        "paused_keys",
        "last_event_age",
    ] {
        assert!(
            perf(&o.stdout, name).is_some(),
            "{what}: perfdata {name} missing\n{}",
            o.show()
        );
    }
}

/// Polls `status --nagios ARGS` until it exits `want`; returns that run.
pub(crate) fn wait_nagios(d: &Daemon, mock: &MockPagerDuty, extra: &[&str], want: i32) -> Out {
    let mut last = None;
    let ok = poll_until(WAIT, || {
        let o = nagios(d, extra);
        let hit = o.code == Some(want);
        last = Some(o);
        hit
    });
    let last = last.unwrap();
    assert!(
        ok,
        "status --nagios {extra:?} never exited {want}; last run:\n{}\n--- mock ---\n{}\n--- daemon ---\n{}",
        last.show(),
        mock.dump(),
        d.log_tail(40)
    );
    last
}

pub(crate) fn stop(d: &mut Daemon) {
    let status = d.sigterm(WAIT);
    assert!(
        status.is_some_and(|s| s.success()),
        "the daemon did not stop cleanly on SIGTERM: {status:?}\n{}",
        d.log_tail(40)
    );
}
