//! Property tests of the daemon's input parsers: the ingest body (NDJSON lines) and the
//! configuration loader never panic, whatever they are given. These are the proptest
//! equivalents of the fuzz targets in `fuzz/` (run when a nightly toolchain is present).

use centreon_pagerduty::config::{load_str, Purpose};
use centreon_pagerduty::ingest::{lines, parse_line, MAX_LINE_BYTES};
use proptest::prelude::*;
use std::path::Path;

fn config_text() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "pagerduty",
        "routing_key",
        "timeout",
        "dry_run",
        "region",
        "url",
        "alerts",
        "host_states",
        "dedup_key",
        "route",
        "name",
        "hosts",
        "spool",
        "max_size",
        "listen",
        "socket_mode",
        "delivery",
        "backoff_min",
        "concurrency",
        "log",
        "level",
        "severity",
        "host_down",
    ]);
    let value = prop::sample::select(vec![
        "\"10s\"",
        "10",
        "true",
        "\"eu\"",
        "[\"DOWN\"]",
        "[\"(\"]",
        "\"{host_id}_{service_id}\"",
        "\"1GiB\"",
        "\"0660\"",
        "-1",
        "\"\"",
        "{}",
        "1e99",
        "\"\\u0000\"",
        "[[1]]",
    ]);
    prop::collection::vec(
        prop_oneof![
            key.clone().prop_map(|k| format!("[{k}]")),
            key.clone().prop_map(|k| format!("[[{k}]]")),
            (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
            "[ -~]{0,40}",
        ],
        0..20,
    )
    .prop_map(|lines| lines.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn ingest_body_never_panics(body in prop::collection::vec(any::<u8>(), 0..4096)) {
        for line in lines(&body) {
            prop_assert!(!line.is_empty());
            let _ = parse_line(line);
        }
    }

    #[test]
    fn ingest_json_like_bodies_never_panic(parts in prop::collection::vec(
        prop_oneof![
            Just("{\"category\":1,\"element\":24,".to_owned()),
            Just("\"host_id\":".to_owned()),
            Just("\"state\":2,\"state_type\":1".to_owned()),
            Just("}\n".to_owned()),
            Just("\"_cache\":{\"hostgroups\":[".to_owned()),
            "[ -~]{0,12}",
            any::<i64>().prop_map(|n| n.to_string()),
        ],
        0..64,
    )) {
        let body = parts.concat();
        for line in lines(body.as_bytes()) {
            let _ = parse_line(line);
        }
    }

    #[test]
    fn config_loader_never_panics(text in config_text(), env_value in "[ -~]{0,20}") {
        let env = vec![("CENTREON_PAGERDUTY_PAGERDUTY__TIMEOUT".to_owned(), env_value)];
        let _ = load_str(Some(Path::new("/etc/x.toml")), &text, &env, Purpose::Service);
        let _ = load_str(Some(Path::new("/etc/x.toml")), &text, &[], Purpose::Offline);
    }

    #[test]
    fn config_errors_always_name_a_location(text in config_text()) {
        if let Err(errors) = load_str(Some(Path::new("/etc/x.toml")), &text, &[], Purpose::Service) {
            for e in errors.0 {
                prop_assert!(e.to_string().starts_with("/etc/x.toml"), "{e}");
            }
        }
    }
}

#[test]
fn an_oversize_line_is_rejected_not_parsed() {
    let line = vec![b'x'; MAX_LINE_BYTES + 1];
    let (reason, rejection) = parse_line(&line).unwrap_err();
    assert!(reason.contains("1 MiB"), "{reason}");
    assert!(rejection.is_none());
}
