//! `send-test`: the default route, dry run, `--route` and `--all`, a bad certificate, failures.

use crate::common::*;
use crate::helpers::{cli, test_dedup_key, write_config, KEY2, ROUTES};
use std::process::{Command, Stdio};

#[test]
fn send_test_triggers_then_resolves_on_the_default_route() {
    let mock = MockPagerDuty::start();
    let d = Daemon::prepare(Config::new(&mock.url()));
    let key = test_dedup_key();

    let o = cli(&d, &["send-test"]).expect(0, "send-test");
    assert!(o.stdout.contains("…0001"), "{}", o.show());
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 1, "one request\n{}", mock.dump());
    let r = &reqs[0];
    assert_eq!(r.dedup_key(), Some(key.as_str()), "{}", mock.dump());
    assert_eq!(r.action(), Some("trigger"));
    assert_eq!(r.severity(), Some("info"));
    assert_eq!(r.routing_key(), Some(ROUTING_KEY));
    // The mock records its answer just after sending it.
    assert!(
        mock.wait_until(WAIT, |r| r[0].delivered()),
        "{}",
        mock.dump()
    );

    cli(&d, &["send-test", "--resolve"]).expect(0, "send-test --resolve");
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 2, "{}", mock.dump());
    assert_eq!(reqs[1].dedup_key(), Some(key.as_str()));
    assert_eq!(reqs[1].action(), Some("resolve"));
    assert_eq!(reqs[1].routing_key(), Some(ROUTING_KEY));
}

/// In dry run nothing leaves the machine: send-test says so, and shows what would be sent.
#[test]
fn send_test_in_dry_run_says_nothing_was_sent() {
    let mock = MockPagerDuty::start();
    let d = Daemon::prepare(Config::new(&mock.url()).set("pagerduty", "dry_run", "true"));
    let o = cli(&d, &["send-test"]).expect(0, "send-test in dry run");
    assert!(
        o.stdout.contains("NOT sent") && !o.stdout.contains("accepted"),
        "{}",
        o.show()
    );
    assert!(!o.stdout.contains(ROUTING_KEY), "{}", o.show());
    assert_eq!(mock.count(), 0, "{}", mock.dump());
}

#[test]
fn send_test_route_and_all() {
    let mock = MockPagerDuty::start();
    let config = Config::new(&mock.url());
    let d = Daemon::prepare(config.clone());
    write_config(&d, &config, ROUTES);

    let o = cli(&d, &["send-test", "--route", "databases"]).expect(0, "send-test --route");
    assert!(o.stdout.contains("databases"), "{}", o.show());
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 1, "{}", mock.dump());
    assert_eq!(reqs[0].routing_key(), Some(KEY2));
    assert_eq!(reqs[0].action(), Some("trigger"));

    let o = cli(&d, &["send-test", "--route", "default"]).expect(0, "send-test --route default");
    assert!(o.stdout.contains("default"), "{}", o.show());
    assert_eq!(mock.requests()[1].routing_key(), Some(ROUTING_KEY));

    // Every route with a key: default and databases, not the drop route.
    cli(&d, &["send-test", "--all"]).expect(0, "send-test --all");
    let mut keys: Vec<String> = mock.requests()[2..]
        .iter()
        .map(|r| r.routing_key().unwrap_or("?").to_owned())
        .collect();
    keys.sort();
    assert_eq!(keys, [ROUTING_KEY, KEY2], "{}", mock.dump());

    cli(&d, &["send-test", "--all", "--resolve"]).expect(0, "send-test --all --resolve");
    let tail = &mock.requests()[4..];
    assert_eq!(tail.len(), 2, "{}", mock.dump());
    assert!(tail.iter().all(|r| r.action() == Some("resolve")));
}

/// DESIGN §4.4: a TLS certificate failure is a configuration error (the routing key is paused,
/// everything kept), told apart from a passing network failure by the error's type. An
/// untrusted certificate on a real TLS server (openssl s_server on 127.0.0.1).
#[test]
fn send_test_to_an_untrusted_certificate_is_a_configuration_error() {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("skipped: no openssl to make a certificate and serve TLS");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
        ])
        .arg("/CN=127.0.0.1")
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(made.success(), "openssl req");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let up = poll_until(WAIT, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let url = format!("https://127.0.0.1:{port}/v2/enqueue");
    let d = Daemon::prepare(Config::new(&url));
    let o = up.then(|| cli(&d, &["send-test"]));
    let _ = server.kill();
    let _ = server.wait();
    let o = o.expect("openssl s_server did not listen");
    assert_eq!(o.code, Some(1), "{}", o.show());
    assert!(
        o.stderr.contains("configuration problem") && o.stderr.contains("certificate"),
        "an untrusted certificate is a configuration problem, and says so\n{}",
        o.show()
    );
}

#[test]
fn send_test_failures() {
    let mock = MockPagerDuty::start();
    let d = Daemon::prepare(Config::new(&mock.url()));

    mock.next_n(1, Reply::invalid_routing_key());
    let o = cli(&d, &["send-test"]).expect(1, "send-test, routing key refused");
    assert!(
        o.stderr.contains("default") && o.stderr.contains("routing_key"),
        "say which route failed and PagerDuty's reason\n{}",
        o.show()
    );
    assert_eq!(mock.count(), 1);

    let o = cli(&d, &["send-test", "--route", "nosuchroute"]).expect(2, "send-test unknown route");
    assert!(
        o.stderr.contains("nosuchroute") && o.stderr.contains("default"),
        "name the route and the known ones\n{}",
        o.show()
    );
    assert_eq!(mock.count(), 1, "nothing sent for an unknown route");

    // Usage errors are 2 as well.
    cli(&d, &["send-test", "--all", "--route", "default"]).expect(2, "send-test --all --route");
}
