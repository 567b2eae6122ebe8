//! `status`: the table, `--json` and `--nagios` (OK to UNKNOWN), the spool with the daemon stopped.

use crate::common::*;
use crate::helpers::{
    assert_perfdata, cli, incident_keys, nagios, open_problem, perf, refuse_next_trigger,
    status_json, stop, wait_dead_letter, wait_delivered, wait_nagios, Out, REFUSAL,
};

#[test]
fn status_table_json_and_nagios_ok() {
    let mock = MockPagerDuty::start();
    let d = Daemon::start(Config::new(&mock.url()));
    let mut s = Svc::new(101, 1011);
    open_problem(&d, &mut s);
    wait_delivered(&mock, &d, &s.dedup_key(), "trigger", 1);

    let o = cli(&d, &["status"]).expect(0, "status");
    for want in [
        "pending deliveries",
        "dead letters",
        "paused routing keys  none",
    ] {
        assert!(o.stdout.contains(want), "{want:?}\n{}", o.show());
    }
    assert!(
        !o.stderr.contains("read-only"),
        "the daemon answered\n{}",
        o.show()
    );

    let j = status_json(&d);
    for field in [
        "pending",
        "dead_letters",
        "paused",
        "last_error",
        "oldest_pending_age_seconds",
    ] {
        assert!(j.get(field).is_some(), "status --json lacks {field}: {j:#}");
    }
    assert_eq!(j["dead_letters"], 0, "{j:#}");
    assert_eq!(j["paused"].as_array().map(Vec::len), Some(0), "{j:#}");

    let o = wait_nagios(&d, &mock, &[], 0);
    assert!(
        o.stdout.starts_with("CENTREON-PAGERDUTY OK"),
        "{}",
        o.show()
    );
    assert_perfdata(&o, "status --nagios");
    assert_eq!(perf(&o.stdout, "dead_letters"), Some(0));
    assert_eq!(perf(&o.stdout, "paused_keys"), Some(0));
}

#[test]
fn nagios_warning_on_a_dead_letter() {
    let mock = MockPagerDuty::start();
    let d = Daemon::start(Config::new(&mock.url()));
    let mut s = Svc::new(102, 1021);
    refuse_next_trigger(&mock, &s.dedup_key());
    open_problem(&d, &mut s);
    wait_dead_letter(&d, &mock, &s.dedup_key());

    let o = wait_nagios(&d, &mock, &[], 1);
    assert!(
        o.stdout.starts_with("CENTREON-PAGERDUTY WARNING"),
        "{}",
        o.show()
    );
    assert_perfdata(&o, "status --nagios");
    assert_eq!(perf(&o.stdout, "dead_letters"), Some(1), "{}", o.show());

    let j = status_json(&d);
    assert_eq!(j["dead_letters"], 1, "{j:#}");
    assert!(
        j["last_error"]
            .as_str()
            .is_some_and(|e| e.contains(REFUSAL)),
        "last_error should carry PagerDuty's text: {j:#}"
    );
}

#[test]
fn nagios_critical_on_a_paused_key() {
    let mock = MockPagerDuty::start();
    let d = Daemon::start(Config::new(&mock.url()));
    wait_nagios(&d, &mock, &[], 0);
    cli(&d, &["pause", "default"]).expect(0, "pause default");
    let o = nagios(&d, &[]);
    assert_eq!(o.code, Some(2), "{}", o.show());
    assert!(
        o.stdout.starts_with("CENTREON-PAGERDUTY CRITICAL"),
        "{}",
        o.show()
    );
    assert_eq!(perf(&o.stdout, "paused_keys"), Some(1), "{}", o.show());
    cli(&d, &["resume", "default"]).expect(0, "resume default");
    wait_nagios(&d, &mock, &[], 0);
}

#[test]
fn nagios_critical_on_an_old_pending_event() {
    let mock = MockPagerDuty::start();
    mock.set_default(Reply::unavailable());
    let d = Daemon::start(Config::new(&mock.url()));
    let mut s = Svc::new(103, 1031);
    open_problem(&d, &mut s);
    assert!(
        mock.wait_until(WAIT, |r| !r.is_empty()),
        "the daemon never tried\n{}",
        d.log_tail(40)
    );

    let o = wait_nagios(&d, &mock, &["--critical-age", "1s"], 2);
    assert!(
        o.stdout.starts_with("CENTREON-PAGERDUTY CRITICAL"),
        "{}",
        o.show()
    );
    assert_eq!(perf(&o.stdout, "queue_depth"), Some(1), "{}", o.show());
    assert!(
        perf(&o.stdout, "oldest_pending_age").unwrap() >= 2,
        "{}",
        o.show()
    );

    // The same queue against the other thresholds.
    let o = nagios(&d, &["--warning-age", "1s", "--critical-age", "1h"]);
    assert_eq!(
        o.code,
        Some(1),
        "older than the warning age only\n{}",
        o.show()
    );
    let o = nagios(&d, &[]);
    assert_eq!(
        o.code,
        Some(0),
        "young enough for the defaults (5m, 15m)\n{}",
        o.show()
    );

    let j = status_json(&d);
    assert_eq!(j["pending"], 1, "{j:#}");
    assert!(
        j["last_error"].as_str().is_some(),
        "last_error after 503s: {j:#}"
    );

    // PagerDuty back: delivered, OK again.
    mock.reset_script();
    wait_delivered(&mock, &d, &s.dedup_key(), "trigger", 1);
    wait_nagios(&d, &mock, &["--critical-age", "1s"], 0);
}

#[test]
fn nagios_unknown_when_neither_daemon_nor_spool_can_be_read() {
    let d = Daemon::prepare(Config::new("http://127.0.0.1:9/v2/enqueue"));
    assert!(!d.spool_dir.exists());
    let o = nagios(&d, &[]);
    assert_eq!(o.code, Some(3), "{}", o.show());
    assert!(
        o.stdout.starts_with("CENTREON-PAGERDUTY UNKNOWN"),
        "{}",
        o.show()
    );

    // A configuration error is UNKNOWN for the plugin, not 2 (which would read CRITICAL).
    d.rewrite_config(Config::new("http://127.0.0.1:9/v2/enqueue").set(
        "pagerduty",
        "bogus_key",
        "1",
    ));
    let o = nagios(&d, &[]);
    assert_eq!(o.code, Some(3), "{}", o.show());
    assert!(
        o.stdout.starts_with("CENTREON-PAGERDUTY UNKNOWN"),
        "{}",
        o.show()
    );
}

#[test]
fn daemon_stopped_read_only_commands_read_the_spool() {
    let mock = MockPagerDuty::start();
    let mut d = Daemon::start(Config::new(&mock.url()));
    let mut open = Svc::new(104, 1041);
    let mut refused = Svc::new(104, 1042);
    refuse_next_trigger(&mock, &refused.dedup_key());
    open_problem(&d, &mut open);
    open_problem(&d, &mut refused);
    wait_delivered(&mock, &d, &open.dedup_key(), "trigger", 1);
    let letter = wait_dead_letter(&d, &mock, &refused.dedup_key());
    let id = letter["id"].as_i64().unwrap().to_string();
    assert!(poll_until(WAIT, || incident_keys(&d).contains(&open.dedup_key())));
    stop(&mut d);

    let said_so = |o: &Out, what: &str| {
        assert!(
            o.stderr.contains("read-only") && o.stderr.contains("does not answer"),
            "{what}: must say on stderr that the spool is read read-only\n{}",
            o.show()
        );
    };

    let o = cli(&d, &["status"]).expect(0, "status, daemon stopped");
    said_so(&o, "status");
    assert!(o.stdout.contains("dead letters         1"), "{}", o.show());

    let o = cli(&d, &["status", "--json"]).expect(0, "status --json, daemon stopped");
    said_so(&o, "status --json");
    let j = o.json();
    assert_eq!(j["dead_letters"], 1, "{j:#}");

    let o = nagios(&d, &[]);
    assert_eq!(
        o.code,
        Some(1),
        "a dead letter: WARNING, from the spool\n{}",
        o.show()
    );
    assert!(o.stdout.contains("spool"), "{}", o.show());

    let o = cli(&d, &["incidents"]).expect(0, "incidents, daemon stopped");
    said_so(&o, "incidents");
    assert!(o.stdout.contains(&open.dedup_key()), "{}", o.show());

    let o = cli(&d, &["dead-letters", "list"]).expect(0, "dead-letters list, daemon stopped");
    said_so(&o, "dead-letters list");
    assert!(
        o.stdout.contains(&refused.dedup_key()) && o.stdout.contains(REFUSAL),
        "{}",
        o.show()
    );

    let o = cli(&d, &["dead-letters", "show", &id]).expect(0, "dead-letters show, daemon stopped");
    said_so(&o, "dead-letters show");
    assert!(o.stdout.contains("…0001"), "{}", o.show());

    // State changes need the daemon.
    let o = cli(&d, &["pause", "default"]).expect(1, "pause, daemon stopped");
    assert!(
        o.stderr.contains(&d.socket.display().to_string()),
        "{}",
        o.show()
    );
    let o = cli(&d, &["dead-letters", "purge"]).expect(1, "purge, daemon stopped");
    assert!(
        o.stderr.contains(&d.socket.display().to_string()),
        "{}",
        o.show()
    );
}
