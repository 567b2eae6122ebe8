//! The socket: missing or dead, and the peer credentials of the users who reach it.

use crate::common::*;
use crate::helpers::{cli, status_json, Out};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

#[test]
fn socket_missing_or_dead_names_the_socket() {
    let mock = MockPagerDuty::start();
    let mut d = Daemon::prepare(Config::new(&mock.url()));
    let path = d.socket.display().to_string();
    assert!(!d.socket.exists());
    for args in [
        &["pause", "default"][..],
        &["resume", "default"],
        &["resolve", "1_2"],
        &["dead-letters", "purge"],
        &["dead-letters", "retry", "--all"],
        &["status"],
        &["incidents"],
        &["dead-letters", "list"],
    ] {
        let o = cli(&d, args).expect(1, &format!("{args:?} without a daemon"));
        assert!(
            o.stderr.contains(&path) && o.stderr.contains("daemon running"),
            "{args:?}: name the socket and ask whether the daemon runs\n{}",
            o.show()
        );
    }

    // A socket left behind by a killed daemon: nothing listens.
    d.spawn();
    d.wait_ready(WAIT);
    d.sigkill();
    if d.socket.exists() {
        let o = cli(&d, &["pause", "default"]).expect(1, "pause, stale socket");
        assert!(o.stderr.contains(&path), "{}", o.show());
    }
}

// ---- peer credentials: needs root to create a throwaway user ----

static USERS: Mutex<()> = Mutex::new(());

fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    for dir in path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
    {
        let candidate = Path::new(dir).join(name);
        if candidate.is_file() {
            return Some(candidate);
        }
    }
    None
}

fn am_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

/// A system user (with its own primary group) and a second group it belongs to; removed on drop.
struct TempUser {
    user: String,
    group: String,
    setpriv: PathBuf,
}

impl TempUser {
    /// `None` (with a message) when this cannot be done here.
    fn create(tag: &str) -> Option<TempUser> {
        if !am_root() {
            eprintln!("SKIPPED: peer-credential checks need root (to create a throwaway user)");
            return None;
        }
        let tools: Vec<Option<PathBuf>> = ["setpriv", "useradd", "groupadd", "userdel", "groupdel"]
            .into_iter()
            .map(find_tool)
            .collect();
        if tools.iter().any(Option::is_none) {
            eprintln!("SKIPPED: setpriv, useradd, groupadd, userdel and groupdel are needed");
            return None;
        }
        let pid = std::process::id();
        let user = format!("cpde2e{tag}{pid}");
        let group = format!("cpde2eg{tag}{pid}");
        let _guard = USERS.lock().unwrap_or_else(|e| e.into_inner());
        let run = |prog: &str, args: &[&str]| {
            Command::new(find_tool(prog).unwrap())
                .args(args)
                .stdin(Stdio::null())
                .output()
                .map(|o| {
                    (
                        o.status.success(),
                        String::from_utf8_lossy(&o.stderr).into_owned(),
                    )
                })
                .unwrap_or((false, "cannot run".into()))
        };
        // Leftovers of an interrupted run with the same pid.
        let _ = run("userdel", &[&user]);
        let _ = run("groupdel", &[&group]);
        let (ok, err) = run("groupadd", &["--system", &group]);
        assert!(ok, "groupadd {group}: {err}");
        let (ok, err) = run(
            "useradd",
            &[
                "--system",
                "--no-create-home",
                "--user-group",
                "--shell",
                "/usr/sbin/nologin",
                "--groups",
                &group,
                &user,
            ],
        );
        if !ok {
            let _ = run("groupdel", &[&group]);
            panic!("useradd {user}: {err}");
        }
        Some(TempUser {
            user,
            group,
            setpriv: tools[0].clone().unwrap(),
        })
    }

    /// Runs the binary as this user: with its groups (`in_group`), or with its primary group only.
    fn run(&self, d: &Daemon, args: &[&str], in_group: bool) -> Out {
        let mut cmd = Command::new(&self.setpriv);
        scrub_env(&mut cmd);
        cmd.args(["--reuid", &self.user, "--regid", &self.user]);
        if in_group {
            cmd.arg("--init-groups");
        } else {
            cmd.arg("--clear-groups");
        }
        cmd.arg("--")
            .arg(BIN)
            .args(args)
            .arg("-c")
            .arg(&d.config_path)
            .stdin(Stdio::null());
        Out::of(&cmd.output().expect("run setpriv"))
    }
}

impl Drop for TempUser {
    fn drop(&mut self) {
        let _guard = USERS.lock().unwrap_or_else(|e| e.into_inner());
        for (prog, name) in [
            ("userdel", &self.user),
            ("groupdel", &self.group),
            ("groupdel", &self.user),
        ] {
            if let Some(p) = find_tool(prog) {
                let _ = Command::new(p)
                    .arg(name)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

/// A daemon whose socket belongs to `group` (0660), with its directory and config readable by
/// others so that a non-root user reaches the socket.
fn daemon_for_group(mock: &MockPagerDuty, group: &str) -> Daemon {
    let config = Config::new(&mock.url()).set_str("listen", "socket_group", group);
    let mut d = Daemon::prepare(config);
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&d.config_path, std::fs::Permissions::from_mode(0o644)).unwrap();
    d.spawn();
    d.wait_ready(WAIT);
    d
}

#[test]
fn peer_credentials_group_members_may_read_but_not_change_state() {
    let Some(u) = TempUser::create("p") else {
        return;
    };
    let mock = MockPagerDuty::start();
    let d = daemon_for_group(&mock, &u.group);

    let o = u
        .run(&d, &["status"], true)
        .expect(0, "status as a group member");
    assert!(
        !o.stderr.contains("read-only"),
        "answered by the daemon\n{}",
        o.show()
    );
    u.run(&d, &["status", "--json"], true)
        .expect(0, "status --json as a group member");
    u.run(&d, &["incidents"], true)
        .expect(0, "incidents as a group member");
    u.run(&d, &["dead-letters", "list"], true)
        .expect(0, "dead-letters list as a group member");

    for args in [
        &["pause", "default"][..],
        &["resume", "default"],
        &["resolve", "--stale", "0s"],
        // `dead-letters purge`: see peer_credentials_purge_refusal_is_reported.
        &["dead-letters", "retry", "--all"],
    ] {
        let o = u
            .run(&d, args, true)
            .expect(1, &format!("{args:?} as a group member"));
        assert!(
            o.stderr.contains("root") && o.stderr.contains("daemon's user"),
            "{args:?}: say that root or the daemon's user is needed\n{}",
            o.show()
        );
    }
    let j = status_json(&d);
    assert_eq!(
        j["paused"].as_array().map(Vec::len),
        Some(0),
        "a refused pause paused: {j:#}"
    );
}

/// `dead-letters purge` by a group member, many times: each run must report the daemon's refusal.
/// The handler takes no body, so the daemon answers 403 and may close without reading it; the
/// client writes its head and its body separately, and must report the 403 even when the write
/// of its body fails.
#[test]
fn peer_credentials_purge_refusal_is_reported() {
    let Some(u) = TempUser::create("r") else {
        return;
    };
    let mock = MockPagerDuty::start();
    let d = daemon_for_group(&mock, &u.group);
    for i in 0..40 {
        let o = u
            .run(&d, &["dead-letters", "purge"], true)
            .expect(1, &format!("dead-letters purge as a group member, run {i}"));
        assert!(
            o.stderr.contains("root") && o.stderr.contains("daemon's user"),
            "run {i}: say that root or the daemon's user is needed\n{}",
            o.show()
        );
    }
}

#[test]
fn socket_permission_denied_names_the_socket() {
    let Some(u) = TempUser::create("d") else {
        return;
    };
    let mock = MockPagerDuty::start();
    let d = daemon_for_group(&mock, &u.group);
    let path = d.socket.display().to_string();

    // Without the socket's group: no access at all, and no fallback for a state change.
    for args in [&["pause", "default"][..], &["resolve", "1_2"]] {
        let o = u
            .run(&d, args, false)
            .expect(1, &format!("{args:?} outside the group"));
        assert!(
            o.stderr.contains(&path) && o.stderr.to_lowercase().contains("permission denied"),
            "{args:?}: name the socket and the problem\n{}",
            o.show()
        );
    }
    // Read-only commands fall back to the spool, which this user cannot read either.
    let o = u
        .run(&d, &["status"], false)
        .expect(1, "status outside the group");
    assert!(o.stderr.contains(&path), "{}", o.show());
    let o = u.run(&d, &["status", "--nagios"], false);
    assert_eq!(
        o.code,
        Some(3),
        "status --nagios outside the group\n{}",
        o.show()
    );
}

#[test]
fn socket_permission_denied_names_the_configured_group() {
    let Some(u) = TempUser::create("g") else {
        return;
    };
    let mock = MockPagerDuty::start();
    let d = daemon_for_group(&mock, &u.group);
    let o = u
        .run(&d, &["pause", "default"], false)
        .expect(1, "pause outside the group");
    assert!(
        o.stderr.contains(&u.group),
        "name the socket's group ({}) to join\n{}",
        u.group,
        o.show()
    );
}
