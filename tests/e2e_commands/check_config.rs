//! `check-config`: effective values with the key masked, located errors, the file it reads.

use crate::common::*;
use crate::helpers::{cli, cli_env, write_config, Out, ROUTES};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

#[test]
fn check_config_valid_shows_effective_values_with_the_key_masked() {
    let d = Daemon::prepare(Config::new("http://127.0.0.1:9/v2/enqueue"));
    let o = cli(&d, &["check-config"]).expect(0, "check-config");
    assert!(
        o.stdout.contains("…0001"),
        "masked key missing\n{}",
        o.show()
    );
    // Effective values: the file's, and the defaults of what it does not set.
    for want in [
        "timeout = \"2s\"",
        "region = \"us\"",
        "[alerts]",
        "hard_only = true",
        "backoff_min = \"100ms\"",
    ] {
        assert!(o.stdout.contains(want), "{want:?} not shown\n{}", o.show());
    }

    let j = cli(&d, &["check-config", "--json"])
        .expect(0, "check-config --json")
        .json();
    assert_eq!(j["pagerduty"]["routing_key"], "…0001", "{j:#}");
    assert_eq!(j["pagerduty"]["timeout"], "2s", "{j:#}");

    // A route's key is masked too.
    write_config(&d, &Config::new("http://127.0.0.1:9/v2/enqueue"), ROUTES);
    let o = cli(&d, &["check-config"]).expect(0, "check-config with routes");
    assert!(
        o.stdout.contains("…0002"),
        "route key not masked\n{}",
        o.show()
    );
}

/// `FILE:LINE:COL: KEY: message`, with the line of `needle` in the file.
fn assert_located(o: &Out, file: &Path, needle: &str, key: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    let line = text
        .lines()
        .position(|l| l.starts_with(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle:?} not in the config"));
    let prefix = format!("{}:{line}:", file.display());
    let found = o.stderr.lines().any(|l| {
        l.strip_prefix(&prefix).is_some_and(|rest| {
            rest.split_once(": ").is_some_and(|(col, msg)| {
                col.parse::<u32>().is_ok_and(|c| c >= 1)
                    && msg.starts_with(&format!("{key}: "))
                    && msg.len() > key.len() + 2
            })
        })
    });
    assert!(
        found,
        "want a line `{prefix}COL: {key}: message` on stderr\n{}",
        o.show()
    );
}

#[test]
fn check_config_unknown_key_is_a_located_error() {
    let config = Config::new("http://127.0.0.1:9/v2/enqueue").set("pagerduty", "bogus_key", "1");
    let d = Daemon::prepare(config);
    let o = cli(&d, &["check-config"]).expect(2, "check-config with an unknown key");
    assert_located(&o, &d.config_path, "bogus_key", "pagerduty.bogus_key");
    assert!(
        o.stdout.is_empty(),
        "nothing on stdout on error\n{}",
        o.show()
    );
}

#[test]
fn check_config_wrong_type_is_a_located_error() {
    let config = Config::new("http://127.0.0.1:9/v2/enqueue").set("pagerduty", "timeout", "10");
    let d = Daemon::prepare(config);
    let o = cli(&d, &["check-config"]).expect(2, "check-config with timeout = 10");
    assert_located(&o, &d.config_path, "timeout = 10", "pagerduty.timeout");
}

#[test]
fn check_config_bad_environment_override_names_the_variable() {
    let d = Daemon::prepare(Config::new("http://127.0.0.1:9/v2/enqueue"));
    let var = "CENTREON_PAGERDUTY_PAGERDUTY__TIMEOUT";
    let o = cli_env(&d, &["check-config"], &[(var, "soon")]).expect(2, "bad env override");
    let prefix = format!("{var}: pagerduty.timeout: ");
    assert!(
        o.stderr
            .lines()
            .any(|l| l.starts_with(&prefix) && l.len() > prefix.len()),
        "want `{prefix}message` on stderr\n{}",
        o.show()
    );
    // A good override is taken and shown.
    let o = cli_env(&d, &["check-config"], &[(var, "7s")]).expect(0, "good env override");
    assert!(o.stdout.contains("timeout = \"7s\""), "{}", o.show());
}

#[test]
fn check_config_routing_key_required_unless_dry_run() {
    let base = Config::new("http://127.0.0.1:9/v2/enqueue").unset("pagerduty", "routing_key");
    let d = Daemon::prepare(base.clone());
    let o = cli(&d, &["check-config"]).expect(2, "check-config without a routing key");
    assert!(
        o.stderr.contains("pagerduty.routing_key"),
        "the error must name pagerduty.routing_key\n{}",
        o.show()
    );

    d.rewrite_config(base.set("pagerduty", "dry_run", "true"));
    let o = cli(&d, &["check-config"]).expect(0, "check-config, no key, dry_run");
    assert!(
        o.stderr.to_lowercase().contains("warning"),
        "dry run without a key: a warning is expected on stderr\n{}",
        o.show()
    );
}

#[test]
fn check_config_reads_the_file_named_by_the_environment() {
    let good = Daemon::prepare(Config::new("http://127.0.0.1:9/v2/enqueue"));
    let bad = Daemon::prepare(Config::new("http://127.0.0.1:9/v2/enqueue").set(
        "pagerduty",
        "bogus_key",
        "1",
    ));
    let good_path = good.config_path.display().to_string();
    let bad_path = bad.config_path.display().to_string();

    let o = Out::of(&run_bin(
        &["check-config"],
        &[("CENTREON_PAGERDUTY_CONFIG", &good_path)],
    ))
    .expect(0, "check-config, file from CENTREON_PAGERDUTY_CONFIG");
    assert!(o.stdout.contains(&good_path), "{}", o.show());
    assert!(o.stdout.contains("…0001"), "{}", o.show());

    let o = Out::of(&run_bin(
        &["check-config"],
        &[("CENTREON_PAGERDUTY_CONFIG", &bad_path)],
    ))
    .expect(2, "check-config, bad file from CENTREON_PAGERDUTY_CONFIG");
    assert!(
        o.stderr.contains(&format!("{bad_path}:")),
        "the error must name the file of CENTREON_PAGERDUTY_CONFIG\n{}",
        o.show()
    );

    // -c wins over the variable.
    let o = Out::of(&run_bin(
        &["check-config", "-c", &good_path],
        &[("CENTREON_PAGERDUTY_CONFIG", &bad_path)],
    ))
    .expect(0, "-c over CENTREON_PAGERDUTY_CONFIG");
    assert!(o.stdout.contains(&good_path), "{}", o.show());
}

#[test]
fn check_config_refuses_a_world_readable_routing_key_file() {
    let d = Daemon::prepare(Config::new("http://127.0.0.1:9/v2/enqueue"));
    let key_file = d.dir.path().join("routing.key");
    std::fs::write(&key_file, format!("{ROUTING_KEY}\n")).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    d.rewrite_config(
        Config::new("http://127.0.0.1:9/v2/enqueue")
            .unset("pagerduty", "routing_key")
            .set_str(
                "pagerduty",
                "routing_key_file",
                &key_file.display().to_string(),
            ),
    );

    let o = cli(&d, &["check-config"]).expect(2, "check-config, key file 0644");
    let shown = key_file.display().to_string();
    assert!(o.stderr.contains(&shown), "name the file\n{}", o.show());
    assert!(
        o.stderr.contains(&format!("chmod 0640 {shown}")),
        "say which chmod to run\n{}",
        o.show()
    );
    assert!(
        o.stderr.contains("pagerduty.routing_key_file"),
        "{}",
        o.show()
    );

    // Fixed as told: accepted (owner root, or our own user when not root).
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let o = cli(&d, &["check-config"]).expect(0, "check-config, key file 0640");
    assert!(
        o.stdout
            .contains(&format!("routing_key_file = \"{shown}\"")),
        "{}",
        o.show()
    );
}
