//! 5. Routing key files: owner, mode, type.

use crate::common::*;
use crate::leak_check::{LeakCheck, SECRET};
use crate::site::{chmod, chown, Site};
use crate::users::passwd_ids;

#[test]
fn routing_key_files_must_be_private_regular_files_owned_by_root() {
    key_file_cases("k", false);
}

/// README: "A key file must be a regular file owned by root (or the daemon's user)". The daemon
/// takes such a file, but every other process that loads the configuration checks the owner
/// against its own uid: root's and the group members' `status`, `check-config`, `pause`… fail.
#[test]
fn routing_key_files_owned_by_the_daemon_user_are_accepted_by_every_command() {
    key_file_cases("l", true);
}

/// Each case: a key file (`[pagerduty]`'s or a route's) with an owner, a mode, maybe a symlink;
/// `check-config` as root and as the daemon's user, and `run` as the daemon's user, refuse it
/// (exit 2, naming the file, the config key and the fix) or take it (then root, the daemon's
/// user and a group member can all run `status`). `daemon_owned`: the cases of a file owned by
/// the daemon's user, else the others.
fn key_file_cases(tag: &str, daemon_owned: bool) {
    let Some(mut site) = Site::prepare(tag, |c| c) else {
        return;
    };
    let acc_daemon_uid = site.acc.daemon_uid;
    let member_gid = passwd_ids(&site.acc.member).expect("the member's ids").1;
    let member_uid = site.acc.member_uid;
    let gid = site.acc.gid;
    let dir = site.d.dir.path().to_owned();
    // /etc/centreon-pagerduty as the packages make it: root:GROUP 0750.
    let etc = dir.join("etc");
    std::fs::create_dir(&etc).unwrap();
    chown(&etc, 0, gid);
    chmod(&etc, 0o750);
    let config_path = etc.join("centreon-pagerduty.toml");
    site.d.config_path = config_path.clone();
    let key_file = etc.join("routing.key");
    let target = etc.join("real.key");
    let shown = key_file.display().to_string();
    let url = site.mock.url();
    let group = site.acc.group.clone();
    let write_config = |route: bool| {
        let base = Config::new(&url)
            .set_str("listen", "socket", "{DIR}/run/broker.sock")
            .set_str("listen", "socket_group", &group);
        let text = if route {
            format!(
                "{}\n[[route]]\nname = \"ops\"\nrouting_key_file = \"{shown}\"\nhosts = [\"ops-.*\"]\n",
                base.render(&dir)
            )
        } else {
            base.unset("pagerduty", "routing_key")
                .set_str("pagerduty", "routing_key_file", &shown)
                .render(&dir)
        };
        std::fs::write(&config_path, text).unwrap();
        chown(&config_path, 0, gid);
        chmod(&config_path, 0o640);
    };
    let make_key = |uid: u32, gid: u32, mode: u32, link: bool| {
        let _ = std::fs::remove_file(&key_file);
        let _ = std::fs::remove_file(&target);
        let file = if link { &target } else { &key_file };
        std::fs::write(file, format!("{SECRET}\n")).unwrap();
        chown(file, uid, gid);
        chmod(file, mode);
        if link {
            std::os::unix::fs::symlink(&target, &key_file).unwrap();
        }
    };

    struct Case {
        what: &'static str,
        uid: u32,
        gid: u32,
        mode: u32,
        link: bool,
        route: bool,
        /// `None`: accepted; else what the refusal must say besides the file's name.
        refusal: Option<&'static [&'static str]>,
    }
    let cases = [
        Case {
            what: "0644 root:group (world-readable)",
            uid: 0,
            gid,
            mode: 0o644,
            link: false,
            route: false,
            refusal: Some(&["chmod 0640"]),
        },
        Case {
            what: "0660 root:group (group-writable)",
            uid: 0,
            gid,
            mode: 0o660,
            link: false,
            route: false,
            refusal: Some(&["chmod 0640"]),
        },
        Case {
            what: "0604 root:group (others may read)",
            uid: 0,
            gid,
            mode: 0o604,
            link: false,
            route: false,
            refusal: Some(&["chmod 0640"]),
        },
        Case {
            what: "0644 root:group, a route's key",
            uid: 0,
            gid,
            mode: 0o644,
            link: false,
            route: true,
            refusal: Some(&["chmod 0640", "route"]),
        },
        Case {
            what: "0640 owned by another non-root user",
            uid: member_uid,
            gid,
            mode: 0o640,
            link: false,
            route: false,
            refusal: Some(&["owned by root"]),
        },
        Case {
            what: "0600 owned by another non-root user",
            uid: member_uid,
            gid: member_gid,
            mode: 0o600,
            link: false,
            route: false,
            refusal: Some(&["owned by root"]),
        },
        Case {
            what: "a symlink to a 0640 root:group file",
            uid: 0,
            gid,
            mode: 0o640,
            link: true,
            route: false,
            refusal: Some(&["regular file"]),
        },
        Case {
            what: "0600 root:root (unreadable by the daemon)",
            uid: 0,
            gid: 0,
            mode: 0o600,
            link: false,
            route: false,
            refusal: Some(&["ermission denied"]),
        },
        Case {
            what: "0640 root:group",
            uid: 0,
            gid,
            mode: 0o640,
            link: false,
            route: false,
            refusal: None,
        },
        Case {
            what: "0640 root:group, a route's key",
            uid: 0,
            gid,
            mode: 0o640,
            link: false,
            route: true,
            refusal: None,
        },
        Case {
            what: "0600 owned by the daemon's user",
            uid: acc_daemon_uid,
            gid,
            mode: 0o600,
            link: false,
            route: false,
            refusal: None,
        },
        Case {
            what: "0640 owned by the daemon's user and the group",
            uid: acc_daemon_uid,
            gid,
            mode: 0o640,
            link: false,
            route: false,
            refusal: None,
        },
        Case {
            what: "0644 owned by the daemon's user",
            uid: acc_daemon_uid,
            gid,
            mode: 0o644,
            link: false,
            route: false,
            refusal: Some(&["chmod 0640"]),
        },
    ];
    let cases: Vec<&Case> = cases
        .iter()
        .filter(|c| (c.uid == acc_daemon_uid) == daemon_owned)
        .collect();

    let mut failures = Vec::new();
    for case in cases {
        make_key(case.uid, case.gid, case.mode, case.link);
        write_config(case.route);
        let what = case.what;
        let as_root = site.root(&["check-config"]);
        let as_daemon = site.daemon_user(&["check-config"]);
        match case.refusal {
            Some(says) => {
                // Root cannot read a file it may not trust either, except the one it cannot fail
                // to read (0600 root:root): that one is only the daemon's user's problem.
                let mut checks = vec![("check-config as the daemon's user", as_daemon)];
                if case.uid != 0 || case.mode & 0o027 != 0 || case.link {
                    checks.push(("check-config as root", as_root));
                }
                for (who, o) in checks {
                    let key_name = if case.route {
                        "route["
                    } else {
                        "pagerduty.routing_key_file"
                    };
                    if o.code != Some(2)
                        || !o.stderr.contains(&shown)
                        || !o.stderr.contains(key_name)
                        || !says.iter().all(|s| o.stderr.contains(s))
                    {
                        failures.push(format!(
                            "{what}: {who}: want exit 2 and a message naming {shown}, {key_name} and {says:?}\n{}",
                            o.show()
                        ));
                    }
                    if LeakCheck::scan(&o.both()).is_some() {
                        failures.push(format!("{what}: {who} prints the key\n{}", o.show()));
                    }
                }
                // `run` as the daemon's user: exit 2 before opening anything.
                let _ = std::fs::remove_file(&site.d.socket);
                let wrapper = site.acc.daemon_wrapper();
                site.d.spawn_wrapped(&wrapper);
                let status = site.d.wait_exit(WAIT);
                let log = site.d.logs();
                let last = log.rsplit("=== start").next().unwrap_or("").to_owned();
                if status.and_then(|s| s.code()) != Some(2)
                    || !last.contains(&shown)
                    || !says.iter().all(|s| last.contains(s))
                {
                    site.d.sigkill();
                    failures.push(format!(
                        "{what}: run as the daemon's user: want exit 2 and a message naming {shown} and {says:?}; got {status:?}\n{last}"
                    ));
                } else if site.d.socket.exists() {
                    failures.push(format!("{what}: run refused the key but left a socket"));
                }
            }
            None => {
                if as_daemon.code != Some(0) {
                    failures.push(format!(
                        "{what}: check-config as the daemon's user: want exit 0\n{}",
                        as_daemon.show()
                    ));
                }
                if case.uid == 0 && as_root.code != Some(0) {
                    failures.push(format!(
                        "{what}: check-config as root: want exit 0\n{}",
                        as_root.show()
                    ));
                }
                if case.uid != 0 {
                    eprintln!(
                        "note: {what}: check-config as root exits {:?}: {}",
                        as_root.code,
                        as_root.stderr.trim()
                    );
                }
                let _ = std::fs::remove_file(&site.d.socket);
                site.spawn();
                // The operator commands load the same configuration: root, the daemon's user
                // and the group's members must still be able to use them.
                for o in [
                    site.root(&["status", "--json"]),
                    site.daemon_user(&["status", "--json"]),
                    site.member(&["status", "--json"]),
                ] {
                    if o.code != Some(0) {
                        failures.push(format!(
                            "{what}: the daemon runs, but status fails\n{}",
                            o.show()
                        ));
                    }
                }
                site.stop();
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} problem(s) with routing key files:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
