//! Security checks, end to end (DESIGN §3.1–3.4): who may talk to the socket and change state,
//! the read-only spool fallback, routing keys never printed whole, routing key files, and the
//! body/line/connection limits of the ingest server.
//!
//! The permission checks run the daemon and the commands as throwaway UNPRIVILEGED users (root
//! ignores file modes): a group standing for `centreon-pagerduty`, the daemon's user (primary
//! group: that group), a member of the group (like `centreon-broker` or `centreon-engine`) and
//! an outsider. They are created with groupadd/useradd and removed afterwards; commands run
//! through `setpriv --reuid --regid --init-groups`, the daemon under `umask 0027` as systemd's
//! unit does. Without root (or without those tools) these tests say SKIPPED and pass.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::Duration;

// ------------------------------------------------------------------------------------------------
// Command outputs

/// A finished command: exit code and its two outputs.
struct Out {
    what: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Out {
    fn of(what: &str, o: &Output) -> Out {
        Out {
            what: what.to_owned(),
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
    fn show(&self) -> String {
        format!(
            "{}: exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.what, self.code, self.stdout, self.stderr
        )
    }
    fn expect(self, want: i32) -> Out {
        assert_eq!(self.code, Some(want), "wrong exit code\n{}", self.show());
        self
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.show()))
    }
    fn says_read_only(&self) -> bool {
        self.stderr.contains("read-only")
    }
    fn both(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

// ------------------------------------------------------------------------------------------------
// Throwaway users

/// useradd/groupadd take a lock on /etc/passwd: one at a time in this process.
static USERS: Mutex<()> = Mutex::new(());

fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file());
    found
}

fn am_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `(uid, primary gid)` of a user, from /etc/passwd.
fn passwd_ids(user: &str) -> Option<(u32, u32)> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 3 && f[0] == user).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
    })
}

fn group_gid(group: &str) -> Option<u32> {
    let text = std::fs::read_to_string("/etc/group").ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[0] == group).then(|| f[2].parse().ok())?
    })
}

fn admin(prog: &str, args: &[&str]) -> Result<(), String> {
    let tool = find_tool(prog).ok_or_else(|| format!("{prog} not found"))?;
    // Another process may hold the lock on /etc/passwd for a moment: try a few times.
    let mut last = String::new();
    for _ in 0..20 {
        let o = Command::new(&tool)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{prog}: {e}"))?;
        if o.status.success() {
            return Ok(());
        }
        last = String::from_utf8_lossy(&o.stderr).into_owned();
        if !last.contains("lock") {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Err(format!("{prog} {args:?}: {last}"))
}

/// The accounts of one test: the socket's group (standing for `centreon-pagerduty`), the
/// daemon's user (primary group: that group), a member of the group with a primary group of its
/// own, and an outsider. Removed on drop.
struct Accounts {
    group: String,
    gid: u32,
    daemon: String,
    daemon_uid: u32,
    member: String,
    member_uid: u32,
    outsider: String,
    setpriv: PathBuf,
}

impl Accounts {
    /// `None`, after saying SKIPPED, when this cannot be done here.
    fn create(tag: &str) -> Option<Accounts> {
        if !am_root() {
            eprintln!(
                "SKIPPED: this check needs root, to create throwaway unprivileged users (root itself ignores file modes)"
            );
            return None;
        }
        let missing: Vec<&str> = ["setpriv", "useradd", "groupadd", "userdel", "groupdel"]
            .into_iter()
            .filter(|t| find_tool(t).is_none())
            .collect();
        if !missing.is_empty() {
            eprintln!("SKIPPED: tools missing to create throwaway users: {missing:?}");
            return None;
        }
        let pid = std::process::id();
        let group = format!("cpdsg{tag}{pid}");
        let daemon = format!("cpdsd{tag}{pid}");
        let member = format!("cpdsm{tag}{pid}");
        let outsider = format!("cpdso{tag}{pid}");
        let _guard = USERS.lock().unwrap_or_else(|e| e.into_inner());
        // Leftovers of an interrupted run with the same pid.
        for u in [&daemon, &member, &outsider] {
            let _ = admin("userdel", &[u]);
            let _ = admin("groupdel", &[u]);
        }
        let _ = admin("groupdel", &[&group]);
        let mut acc = Accounts {
            group: group.clone(),
            gid: 0,
            daemon: daemon.clone(),
            daemon_uid: 0,
            member: member.clone(),
            member_uid: 0,
            outsider: outsider.clone(),
            setpriv: find_tool("setpriv").unwrap(),
        };
        let nologin = if Path::new("/usr/sbin/nologin").exists() {
            "/usr/sbin/nologin"
        } else {
            "/bin/false"
        };
        let base = ["--system", "--no-create-home", "--shell", nologin];
        let result = admin("groupadd", &["--system", &group])
            .and_then(|()| {
                let mut a = base.to_vec();
                a.extend(["--gid", &group, &daemon]);
                admin("useradd", &a)
            })
            .and_then(|()| {
                let mut a = base.to_vec();
                a.extend(["--user-group", "--groups", &group, &member]);
                admin("useradd", &a)
            })
            .and_then(|()| {
                let mut a = base.to_vec();
                a.extend(["--user-group", &outsider]);
                admin("useradd", &a)
            });
        drop(_guard);
        if let Err(e) = result {
            drop(acc);
            panic!("cannot create the throwaway accounts: {e}");
        }
        acc.gid = group_gid(&group).expect("gid of the new group");
        acc.daemon_uid = passwd_ids(&daemon).expect("uid of the daemon user").0;
        acc.member_uid = passwd_ids(&member).expect("uid of the member").0;
        Some(acc)
    }

    /// `setpriv … --` running as `user` with primary group `group` and its supplementary groups.
    fn setpriv_args(&self, user: &str, group: &str) -> Vec<String> {
        vec![
            self.setpriv.display().to_string(),
            format!("--reuid={user}"),
            format!("--regid={group}"),
            "--init-groups".into(),
            "--".into(),
        ]
    }

    fn command_as(&self, user: &str, group: &str, program: &Path) -> Command {
        let args = self.setpriv_args(user, group);
        let mut cmd = Command::new(&args[0]);
        scrub_env(&mut cmd);
        cmd.args(&args[1..]).arg(program).stdin(Stdio::null());
        cmd
    }

    /// `centreon-pagerduty ARGS -c CONFIG` as `user`.
    fn cli_as(&self, user: &str, group: &str, config: &Path, args: &[&str]) -> Out {
        let what = format!("{args:?} as {user}");
        let o = self
            .command_as(user, group, Path::new(BIN))
            .args(args)
            .arg("-c")
            .arg(config)
            .output()
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        Out::of(&what, &o)
    }

    fn as_daemon(&self, config: &Path, args: &[&str]) -> Out {
        self.cli_as(&self.daemon, &self.group, config, args)
    }
    fn as_member(&self, config: &Path, args: &[&str]) -> Out {
        self.cli_as(&self.member, &self.member, config, args)
    }
    fn as_outsider(&self, config: &Path, args: &[&str]) -> Out {
        self.cli_as(&self.outsider, &self.outsider, config, args)
    }

    /// The wrapper that starts the daemon as its user, with systemd's `UMask=0027`.
    fn daemon_wrapper(&self) -> Vec<String> {
        let mut w = vec![
            "/bin/sh".to_owned(),
            "-c".to_owned(),
            "umask 0027 && exec \"$@\"".to_owned(),
            "sh".to_owned(),
        ];
        w.extend(self.setpriv_args(&self.daemon, &self.group));
        w
    }

    /// Connects to `socket` as `user` from a helper process (this test binary, see
    /// [`helper_socket_client`]) and, when connected, GETs `path`. `Err(errno)` when the connect
    /// fails, else the HTTP status (0 when there was no answer).
    fn connect_as(&self, user: &str, group: &str, socket: &Path, path: &str) -> Result<u16, i32> {
        let exe = std::env::current_exe().expect("current_exe");
        let o = self
            .command_as(user, group, &exe)
            .args([
                "--exact",
                "helper_socket_client",
                "--include-ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("SECURITY_HELPER_SOCKET", socket)
            .env("SECURITY_HELPER_PATH", path)
            .output()
            .expect("run the helper");
        let text =
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        let line = text
            .lines()
            .find_map(|l| l.split_once("HELPER ").map(|(_, rest)| rest.trim()))
            .unwrap_or_else(|| panic!("no answer from the helper:\n{text}"));
        if let Some(errno) = line.strip_prefix("connect-error ") {
            return Err(errno.trim().parse().unwrap_or(-1));
        }
        Ok(line
            .strip_prefix("status ")
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0))
    }
}

impl Drop for Accounts {
    fn drop(&mut self) {
        let _guard = USERS.lock().unwrap_or_else(|e| e.into_inner());
        for u in [&self.daemon, &self.member, &self.outsider] {
            let _ = admin("userdel", &[u]);
        }
        for g in [&self.member, &self.outsider, &self.group] {
            let _ = admin("groupdel", &[g]);
        }
    }
}

/// Not a test on its own: the client process that [`Accounts::connect_as`] runs as another user.
#[test]
#[ignore = "helper process of the socket checks: they start it as another user"]
fn helper_socket_client() {
    let Some(socket) = std::env::var_os("SECURITY_HELPER_SOCKET") else {
        return;
    };
    let path = std::env::var("SECURITY_HELPER_PATH").unwrap_or_else(|_| "/v1/health".into());
    match UnixStream::connect(&socket) {
        Err(e) => println!("HELPER connect-error {}", e.raw_os_error().unwrap_or(-1)),
        Ok(stream) => {
            drop(stream);
            let status = unix_request(
                Path::new(&socket),
                "GET",
                &path,
                b"",
                Duration::from_secs(10),
            )
            .map_or(0, |r| r.status);
            println!("HELPER status {status}");
        }
    }
}

const EACCES: i32 = 13;

// ------------------------------------------------------------------------------------------------
// A site: the daemon running as its own unprivileged user, files laid out as the packages do

struct Site {
    // Field order = drop order: the daemon stops before its user is deleted.
    d: Daemon,
    mock: MockPagerDuty,
    /// A world-readable copy of the config, for the outsider (who cannot read the real one).
    outsider_config: PathBuf,
    acc: Accounts,
}

fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

impl Site {
    /// Config `root:GROUP 0640`; `run/` (the socket's directory) `USER:GROUP 0755` so that the
    /// socket's own mode is what keeps others out; `spool/` `USER:GROUP 0750`. Not started.
    fn prepare(tag: &str, config: impl FnOnce(Config) -> Config) -> Option<Site> {
        let acc = Accounts::create(tag)?;
        let mock = MockPagerDuty::start();
        let config = config(
            Config::new(&mock.url())
                .set_str("listen", "socket", "{DIR}/run/broker.sock")
                .set_str("listen", "socket_group", &acc.group),
        );
        let mut d = Daemon::prepare(config);
        let dir = d.dir.path().to_owned();
        d.socket = dir.join("run/broker.sock");
        chmod(&dir, 0o755);
        for (sub, mode) in [("run", 0o755), ("spool", 0o750)] {
            let p = dir.join(sub);
            std::fs::create_dir(&p).unwrap();
            chown(&p, acc.daemon_uid, acc.gid);
            chmod(&p, mode);
        }
        chown(&d.config_path, 0, acc.gid);
        chmod(&d.config_path, 0o640);
        let outsider_config = dir.join("outsider.toml");
        std::fs::copy(&d.config_path, &outsider_config).unwrap();
        chmod(&outsider_config, 0o644);
        Some(Site {
            d,
            mock,
            outsider_config,
            acc,
        })
    }

    fn start(tag: &str) -> Option<Site> {
        let mut s = Site::prepare(tag, |c| c)?;
        s.spawn();
        Some(s)
    }

    /// Starts the daemon as its user and waits for the socket.
    fn spawn(&mut self) {
        let wrapper = self.acc.daemon_wrapper();
        self.d.spawn_wrapped(&wrapper);
        self.d.wait_ready(WAIT);
    }

    fn stop(&mut self) {
        let status = self.d.sigterm(WAIT);
        assert!(
            status.is_some_and(|s| s.success()),
            "the daemon did not stop cleanly on SIGTERM: {status:?}\n{}",
            self.d.log_tail(40)
        );
    }

    fn root(&self, args: &[&str]) -> Out {
        Out::of(&format!("{args:?} as root"), &self.d.cli(args))
    }
    fn daemon_user(&self, args: &[&str]) -> Out {
        self.acc.as_daemon(&self.d.config_path, args)
    }
    fn member(&self, args: &[&str]) -> Out {
        self.acc.as_member(&self.d.config_path, args)
    }
    fn outsider(&self, args: &[&str]) -> Out {
        self.acc.as_outsider(&self.outsider_config, args)
    }

    fn status_json(&self) -> Value {
        self.root(&["status", "--json"]).expect(0).json()
    }

    fn dead_letters(&self) -> Vec<Value> {
        self.root(&["dead-letters", "list", "--json"])
            .expect(0)
            .json()["dead_letters"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn incident_keys(&self) -> Vec<String> {
        self.root(&["incidents", "--json"]).expect(0).json()["incidents"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|i| i["dedup_key"].as_str().map(str::to_owned))
            .collect()
    }

    /// Opens an incident for `s` (delivered) and returns when the daemon lists it.
    fn open_incident(&self, s: &mut Svc) {
        self.d
            .post_ok(&[s.first_ok(), s.critical("CRITICAL: security e2e")]);
        wait_delivered(&self.mock, &self.d, &s.dedup_key(), "trigger");
        let key = s.dedup_key();
        assert!(
            poll_until(WAIT, || self.incident_keys().contains(&key)),
            "no incident for {key}\n{}",
            self.d.log_tail(40)
        );
    }

    /// Makes PagerDuty refuse `s`'s trigger (a 400 that does not name the key): a dead letter.
    /// Returns its id.
    fn dead_letter(&self, s: &mut Svc) -> String {
        let key = s.dedup_key();
        self.mock.push_rule(
            Match::DedupAction(key.clone(), "trigger".into()),
            Reply::invalid_event("payload.summary refused by the security e2e mock"),
            Some(1),
        );
        self.d
            .post_ok(&[s.first_ok(), s.critical("CRITICAL: refused")]);
        let mut id = None;
        assert!(
            poll_until(WAIT, || {
                id = self
                    .dead_letters()
                    .iter()
                    .find(|l| l["dedup_key"].as_str() == Some(key.as_str()))
                    .and_then(|l| l["id"].as_i64());
                id.is_some()
            }),
            "no dead letter for {key}\n{}",
            self.d.log_tail(40)
        );
        id.unwrap().to_string()
    }
}

fn wait_delivered(mock: &MockPagerDuty, d: &Daemon, key: &str, action: &str) {
    let ok = mock.wait_until(WAIT, |reqs| {
        reqs.iter()
            .any(|r| r.delivered() && r.dedup_key() == Some(key) && r.action() == Some(action))
    });
    assert!(
        ok,
        "{action} of {key} not delivered\n--- mock ---\n{}\n--- daemon ---\n{}",
        mock.dump(),
        d.log_tail(40)
    );
}

// ------------------------------------------------------------------------------------------------
// 1. The socket: its group only

#[test]
fn socket_refuses_users_outside_its_group_and_serves_its_members() {
    let Some(site) = Site::start("a") else {
        return;
    };
    let acc = &site.acc;
    let sock = &site.d.socket;
    let shown = sock.display().to_string();

    // As the packages want it: the daemon's user, the socket's group, 0660.
    let meta = std::fs::symlink_metadata(sock).unwrap();
    assert_eq!(
        (meta.mode() & 0o7777, meta.uid(), meta.gid()),
        (0o660, acc.daemon_uid, acc.gid),
        "socket {shown}: want mode 0660, owner {} (the daemon's user), group {}",
        acc.daemon,
        acc.group
    );

    // The outsider: connect() itself is refused.
    assert_eq!(
        acc.connect_as(&acc.outsider, &acc.outsider, sock, "/v1/health"),
        Err(EACCES),
        "an outsider must get EACCES from connect()"
    );
    for args in [&["pause", "default"][..], &["status"], &["incidents"]] {
        let o = site.outsider(args).expect(1);
        assert!(
            o.stderr.contains(&shown)
                && o.stderr.contains("Permission denied")
                && o.stderr.contains(&acc.group)
                && o.stderr.contains(&format!("usermod -a -G {}", acc.group)),
            "the CLI must name the socket, the error and the group to join\n{}",
            o.show()
        );
    }
    let o = site.outsider(&["status", "--nagios"]);
    assert_eq!(o.code, Some(3), "UNKNOWN for an outsider\n{}", o.show());

    // The member: connects, reads.
    assert_eq!(
        acc.connect_as(&acc.member, &acc.member, sock, "/v1/status"),
        Ok(200),
        "a group member must be able to GET /v1/status"
    );
    assert_eq!(
        acc.connect_as(&acc.member, &acc.member, sock, "/metrics"),
        Ok(200)
    );
    let o = site.member(&["status"]).expect(0);
    assert!(
        !o.says_read_only() && o.stdout.contains("pending deliveries"),
        "answered by the daemon\n{}",
        o.show()
    );
    let j = site.member(&["status", "--json"]).expect(0).json();
    assert!(j.get("pending").is_some(), "{j:#}");
    site.member(&["incidents"]).expect(0);
    site.member(&["dead-letters", "list"]).expect(0);
}

// ------------------------------------------------------------------------------------------------
// 2. State changes: root or the daemon's user only

#[test]
fn state_changes_are_refused_to_group_members_and_accepted_from_the_daemon_user() {
    let Some(site) = Site::start("b") else {
        return;
    };
    let mut open = Svc::new(9100, 91001);
    let mut refused = Svc::new(9100, 91002);
    site.open_incident(&mut open);
    let letter = site.dead_letter(&mut refused);
    let open_key = open.dedup_key();
    let incidents_before = site.incident_keys();
    assert!(incidents_before.contains(&open_key));

    // A member of the group: refused, with the reason, and nothing changes.
    for args in [
        &["pause", "default"][..],
        &["resume", "default"],
        &["resolve", &open_key],
        &["resolve", "--stale", "0s"],
        &["dead-letters", "retry", &letter],
        &["dead-letters", "retry", "--all"],
        &["dead-letters", "retry", "--all", "--force"],
        &["dead-letters", "purge"],
    ] {
        let o = site.member(args).expect(1);
        assert!(
            o.stderr.contains("root") && o.stderr.contains("daemon's user"),
            "say that root or the daemon's user is needed\n{}",
            o.show()
        );
        assert!(
            !o.says_read_only(),
            "a state change must never fall back to the spool\n{}",
            o.show()
        );
    }
    let j = site.status_json();
    assert_eq!(j["paused"].as_array().map(Vec::len), Some(0), "{j:#}");
    assert_eq!(
        j["dead_letters"], 1,
        "a refused purge/retry changed them: {j:#}"
    );
    assert_eq!(
        site.incident_keys(),
        incidents_before,
        "a refused resolve resolved"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        site.mock
            .events_for(&open_key)
            .iter()
            .all(|r| r.action() != Some("resolve"))
            && site
                .mock
                .events_for(&refused.dedup_key())
                .iter()
                .filter(|r| r.action() == Some("trigger"))
                .count()
                == 1,
        "a refused request sent something\n{}",
        site.mock.dump()
    );

    // The daemon's own user: accepted.
    site.daemon_user(&["pause", "default"]).expect(0);
    let j = site.status_json();
    assert!(
        j["paused"]
            .as_array()
            .is_some_and(|p| p.iter().any(|k| k["route"] == "default")),
        "pause by the daemon's user not taken: {j:#}"
    );
    site.daemon_user(&["resume", "default"]).expect(0);
    let j = site.status_json();
    assert_eq!(j["paused"].as_array().map(Vec::len), Some(0), "{j:#}");

    let o = site
        .daemon_user(&["dead-letters", "retry", &letter])
        .expect(0);
    assert!(o.stdout.contains("1 dead letter"), "{}", o.show());
    assert!(
        site.mock
            .wait_until(WAIT, |reqs| reqs.iter().any(|r| r.delivered()
                && r.dedup_key() == Some(refused.dedup_key().as_str())
                && r.action() == Some("trigger"))),
        "the retried trigger was not delivered\n{}",
        site.mock.dump()
    );
    let mut again = Svc::new(9100, 91003);
    site.dead_letter(&mut again);
    site.daemon_user(&["dead-letters", "retry", "--all"])
        .expect(0);
    assert!(poll_until(WAIT, || site.dead_letters().is_empty()));
    let mut third = Svc::new(9100, 91004);
    site.dead_letter(&mut third);
    let o = site.daemon_user(&["dead-letters", "purge"]).expect(0);
    assert!(o.stdout.contains("1 dead letter"), "{}", o.show());
    assert!(site.dead_letters().is_empty());

    let o = site.daemon_user(&["resolve", &open_key]).expect(0);
    assert!(o.stdout.contains(&open_key), "{}", o.show());
    wait_delivered(&site.mock, &site.d, &open_key, "resolve");
    let mut stale = Svc::new(9100, 91005);
    site.open_incident(&mut stale);
    site.daemon_user(&["resolve", "--stale", "0s"]).expect(0);
    wait_delivered(&site.mock, &site.d, &stale.dedup_key(), "resolve");

    // And root, although the daemon runs as another user.
    site.root(&["pause", "default"]).expect(0);
    site.root(&["resume", "default"]).expect(0);
}

// ------------------------------------------------------------------------------------------------
// 3. The read-only spool fallback

/// What is compared of each file of the spool directory.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileState {
    len: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    uid: u32,
    gid: u32,
    mode: u32,
    /// FNV-1a 64 of the content.
    checksum: u64,
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Every entry of `dir` (and `.` itself: owner, mode, mtime — a created or deleted file changes
/// the directory's mtime).
fn snapshot(dir: &Path) -> BTreeMap<String, FileState> {
    let state = |p: &Path, content: bool| {
        let m = std::fs::symlink_metadata(p).unwrap();
        FileState {
            len: if content { m.len() } else { 0 },
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            ctime_ns: if content {
                i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec())
            } else {
                0
            },
            uid: m.uid(),
            gid: m.gid(),
            mode: m.mode(),
            checksum: if content {
                fnv1a(&std::fs::read(p).unwrap())
            } else {
                0
            },
        }
    };
    let mut out = BTreeMap::new();
    out.insert(".".to_owned(), state(dir, false));
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        out.insert(
            e.file_name().to_string_lossy().into_owned(),
            state(&e.path(), true),
        );
    }
    out
}

fn diff(before: &BTreeMap<String, FileState>, after: &BTreeMap<String, FileState>) -> Vec<String> {
    let mut out = Vec::new();
    for (name, b) in before {
        match after.get(name) {
            None => out.push(format!("{name}: deleted")),
            Some(a) if a != b => out.push(format!("{name}: {b:?}\n      -> {a:?}")),
            Some(_) => {}
        }
    }
    for (name, a) in after {
        if !before.contains_key(name) {
            out.push(format!("{name}: created {a:?}"));
        }
    }
    out
}

/// Runs every read-only command through `run`: each must succeed from the spool, say so, and show
/// what is there. The problems, one per failed command.
fn read_only_commands(run: &dyn Fn(&[&str]) -> Out, open_key: &str, letter: &str) -> Vec<String> {
    let cases: [(&[&str], i32, &str); 8] = [
        (&["status"], 0, "dead letters         1"),
        (&["status", "--json"], 0, "\"dead_letters\": 1"),
        // One dead letter: WARNING.
        (&["status", "--nagios"], 1, "dead_letters=1"),
        (&["incidents"], 0, open_key),
        (&["incidents", "--json"], 0, open_key),
        (&["dead-letters", "list"], 0, letter),
        (&["dead-letters", "list", "--json"], 0, letter),
        (
            &["dead-letters", "show", letter],
            0,
            open_key.split('_').next().unwrap_or(""),
        ),
    ];
    let mut problems = Vec::new();
    for (args, want, shows) in cases {
        let o = run(args);
        let said = o.stderr.contains("read-only") || o.stdout.contains("spool");
        if o.code != Some(want) || !said || !o.stdout.contains(shows) {
            problems.push(format!(
                "want exit {want}, a read-only notice and {shows:?} on stdout; got:\n{}",
                o.show()
            ));
        }
    }
    problems
}

/// A member of the socket's group (read access to the spool directory, no write access), with
/// the directory 0750 and then 0550 (writable by nobody), runs every read-only command while the
/// daemon is stopped (`kill`: by SIGKILL, which leaves `-wal` and `-shm` behind; else by
/// SIGTERM): they work, and the spool is byte for byte, mtime and owner the same. Then the daemon
/// starts again on it.
fn member_fallback(tag: &str, kill: bool) {
    let Some(mut site) = Site::start(tag) else {
        return;
    };
    let spool = site.d.spool_dir.clone();
    let mut open = Svc::new(9200, 92001);
    let mut refused = Svc::new(9200, 92002);
    site.open_incident(&mut open);
    let letter = site.dead_letter(&mut refused);
    let open_key = open.dedup_key();

    // The spool as the daemon leaves it (UMask=0027): the group reads, nobody else.
    let dir_meta = std::fs::metadata(&spool).unwrap();
    assert_eq!(dir_meta.mode() & 0o777, 0o750, "spool directory mode");

    let phase = if kill {
        site.d.sigkill();
        "killed by SIGKILL"
    } else {
        site.stop();
        "stopped by SIGTERM"
    };
    let files: Vec<String> = snapshot(&spool).into_keys().collect();
    eprintln!("daemon {phase}: spool files {files:?}");
    for (name, f) in snapshot(&spool) {
        assert!(
            f.mode & 0o002 == 0 && f.mode & 0o020 == 0,
            "daemon {phase}: {name} is writable by its group or others: {:o}",
            f.mode
        );
    }
    let mut report = Vec::new();
    for dir_mode in [0o750, 0o550] {
        chmod(&spool, dir_mode);
        let before = snapshot(&spool);
        let problems = read_only_commands(&|args: &[&str]| site.member(args), &open_key, &letter);
        let changed = diff(&before, &snapshot(&spool));
        let label = format!("daemon {phase}, spool dir {dir_mode:04o} holding {files:?}");
        for p in problems {
            report.push(format!("{label}: {p}"));
        }
        if !changed.is_empty() {
            report.push(format!(
                "{label}: the spool changed on disk:\n  {}",
                changed.join("\n  ")
            ));
        }
    }
    chmod(&spool, 0o750);

    // The daemon starts again on what the readers left and takes a batch.
    site.spawn();
    let mut after = Svc::new(9200, 92004);
    site.open_incident(&mut after);
    assert_eq!(site.status_json()["dead_letters"], 1);
    assert!(
        report.is_empty(),
        "{} problem(s) with the read-only fallback of a group member:\n\n{}",
        report.len(),
        report.join("\n\n")
    );
}

#[test]
fn read_only_fallback_for_group_members_after_a_crash() {
    member_fallback("c", true);
}

/// After a clean stop SQLite has removed `spool.db-wal` and `-shm`; a reader that cannot create
/// them (no write access to the directory) cannot open a WAL database read-only.
#[test]
fn read_only_fallback_for_group_members_after_a_clean_stop() {
    member_fallback("f", false);
}

/// Root (the operator) and the daemon's user reading the spool while the daemon is stopped: the
/// database is untouched, whatever SQLite leaves next to it (`-wal`, `-shm`) belongs to the
/// daemon's user, and the daemon starts again on it.
#[test]
fn read_only_fallback_as_root_or_the_daemon_user_leaves_the_spool_usable() {
    let Some(mut site) = Site::start("e") else {
        return;
    };
    let spool = site.d.spool_dir.clone();
    let mut open = Svc::new(9300, 93001);
    let mut refused = Svc::new(9300, 93002);
    site.open_incident(&mut open);
    let letter = site.dead_letter(&mut refused);
    let open_key = open.dedup_key();
    site.stop();

    let mut notes = Vec::new();
    for who in ["root", "daemon user"] {
        for dir_mode in [0o750, 0o550] {
            chmod(&spool, dir_mode);
            let before = snapshot(&spool);
            let run = |args: &[&str]| {
                if who == "root" {
                    site.root(args)
                } else {
                    site.daemon_user(args)
                }
            };
            let problems = read_only_commands(&run, &open_key, &letter);
            assert!(
                problems.is_empty(),
                "as {who}, spool dir {dir_mode:04o}:\n{}",
                problems.join("\n")
            );
            let after = snapshot(&spool);
            assert_eq!(
                before.get("spool.db"),
                after.get("spool.db"),
                "as {who}, spool dir {dir_mode:04o}: the read-only commands changed spool.db"
            );
            let changed = diff(&before, &after);
            if !changed.is_empty() {
                notes.push(format!(
                    "as {who}, spool dir {dir_mode:04o}:\n  {}",
                    changed.join("\n  ")
                ));
            }
            chmod(&spool, 0o750);
        }
    }
    if !notes.is_empty() {
        eprintln!(
            "note: SQLite's side files changed (not the database):\n{}",
            notes.join("\n")
        );
    }
    for (name, f) in snapshot(&spool) {
        assert_eq!(
            f.uid, site.acc.daemon_uid,
            "{name} in the spool is not owned by the daemon's user after read-only commands"
        );
    }
    site.spawn();
    let mut after = Svc::new(9300, 93003);
    site.open_incident(&mut after);
}

// ------------------------------------------------------------------------------------------------
// 4. Routing keys are never printed whole

/// 32 letters and digits, random-looking: none of its 8-character windows occurs by chance.
const SECRET: &str = "Qx7Vb2Nm9Lk4Jh6Gf1Ds8Ap3Zt5Wr0Ey";
const SECRET_MASKED: &str = "…r0Ey";
/// The key of a route read from a `routing_key_file`.
const FILE_SECRET: &str = "Hp3Tc8Ku1Yn6Wd0Rs4Gm7Vb2Xq9Le5Jz";
const FILE_SECRET_MASKED: &str = "…e5Jz";

/// Collects every text shown to someone and what of the keys it holds.
#[derive(Default)]
struct LeakCheck {
    checked: Vec<String>,
    leaks: Vec<String>,
}

impl LeakCheck {
    /// The whole key, or any 8 consecutive characters of it (the mask shows 4).
    fn scan(text: &str) -> Option<String> {
        for key in [SECRET, FILE_SECRET] {
            if text.contains(key) {
                return Some(format!("the whole key {key}"));
            }
            let chars: Vec<char> = key.chars().collect();
            for w in chars.windows(8) {
                let w: String = w.iter().collect();
                if text.contains(&w) {
                    return Some(format!("{w:?}, 8 characters of {key}"));
                }
            }
        }
        None
    }

    fn check(&mut self, label: &str, text: &str) {
        self.checked.push(label.to_owned());
        if let Some(what) = Self::scan(text) {
            let line = text
                .lines()
                .find(|l| Self::scan(l).is_some())
                .unwrap_or("(across lines)");
            self.leaks
                .push(format!("{label}: shows {what}\n      in: {line}"));
        }
    }

    fn out(&mut self, o: &Out) {
        self.check(&format!("{} stdout", o.what), &o.stdout);
        self.check(&format!("{} stderr", o.what), &o.stderr);
    }

    fn assert_clean(&self) {
        assert!(
            self.leaks.is_empty(),
            "a routing key is printed (more than `…` and its last 4 characters) in {} of {} outputs:\n  {}",
            self.leaks.len(),
            self.checked.len(),
            self.leaks.join("\n  ")
        );
        eprintln!(
            "{} outputs checked, no routing key in any",
            self.checked.len()
        );
    }
}

/// Routes `ops` (same key as `[pagerduty]`) and `files` (its key from a file).
fn key_routes(dir: &Path) -> String {
    format!(
        r#"
[[route]]
name = "ops"
routing_key = "{SECRET}"
hosts = ["ops-.*"]

[[route]]
name = "files"
routing_key_file = "{}"
hosts = ["files-.*"]
"#,
        dir.join("files.key").display()
    )
}

fn key_config(url: &str) -> Config {
    Config::new(url)
        .set_str("pagerduty", "routing_key", SECRET)
        .set_str("log", "level", "trace")
}

/// A daemon (any user) with the secret keys on three routes, the file key written 0600.
fn key_daemon(mock: &MockPagerDuty) -> Daemon {
    let d = Daemon::prepare(key_config(&mock.url()));
    let key_file = d.dir.path().join("files.key");
    std::fs::write(&key_file, format!("{FILE_SECRET}\n")).unwrap();
    chmod(&key_file, 0o600);
    d.write_config_text(&format!(
        "{}{}",
        key_config(&mock.url()).render(d.dir.path()),
        key_routes(d.dir.path())
    ));
    d
}

fn svc_on(host_prefix: &str, host_id: u64, service_id: u64) -> Svc {
    let mut s = Svc::new(host_id, service_id);
    s.host = format!("{host_prefix}-host-{host_id}");
    s
}

fn cli_out(d: &Daemon, args: &[&str]) -> Out {
    Out::of(&format!("{args:?}"), &d.cli(args))
}

fn cli_env_out(d: &Daemon, args: &[&str], env: &[(&str, &str)]) -> Out {
    Out::of(&format!("{args:?} with {env:?}"), &d.cli_env(args, env))
}

#[test]
fn routing_keys_never_appear_whole() {
    let mock = MockPagerDuty::start();
    let mut d = key_daemon(&mock);
    let mut leaks = LeakCheck::default();

    // Offline first: check-config and translate.
    let o = cli_out(&d, &["check-config"]).expect(0);
    assert!(
        o.stdout.contains(SECRET_MASKED) && o.stdout.contains(FILE_SECRET_MASKED),
        "the masked keys must be shown\n{}",
        o.show()
    );
    leaks.out(&o);
    // JSON: the effective values as configured (the file's key is not among them).
    let o = cli_out(&d, &["check-config", "--json"]).expect(0);
    assert_eq!(
        o.json()["pagerduty"]["routing_key"],
        SECRET_MASKED,
        "{}",
        o.show()
    );
    leaks.out(&o);
    let input = d.dir.path().join("translate.ndjson");
    let (mut a, mut b, mut c) = (
        svc_on("ops", 9400, 94001),
        svc_on("files", 9401, 94011),
        Svc::new(9402, 94021),
    );
    std::fs::write(
        &input,
        ndjson(&[
            a.first_ok(),
            a.critical("CRITICAL: ops"),
            b.first_ok(),
            b.critical("CRITICAL: files"),
            c.first_ok(),
            c.critical("CRITICAL: default"),
            a.recover(),
            "not json at all".to_owned(),
        ]),
    )
    .unwrap();
    let fixture = fixtures_dir().join("v2_service_lifecycle/shim.ndjson");
    let o = cli_out(
        &d,
        &[
            "translate",
            &input.display().to_string(),
            &fixture.display().to_string(),
        ],
    );
    assert!(
        o.stdout.contains(SECRET_MASKED) && o.stdout.contains(FILE_SECRET_MASKED),
        "translate must show the masked keys\n{}",
        o.show()
    );
    leaks.out(&o);

    // send-test against every kind of answer.
    let send_tests: [&[&str]; 6] = [
        &["send-test"],
        &["send-test", "--route", "ops"],
        &["send-test", "--route", "files"],
        &["send-test", "--all"],
        &["send-test", "--resolve"],
        &["send-test", "--all", "--resolve"],
    ];
    let answers: [(&str, Option<Reply>); 8] = [
        ("202", None),
        ("400 routing key", Some(Reply::invalid_routing_key())),
        (
            "400 other",
            Some(Reply::invalid_event("payload.severity is invalid")),
        ),
        ("429", Some(Reply::throttled())),
        (
            "500",
            Some(Reply::status(
                500,
                serde_json::json!({"status": "error", "message": "internal"}),
            )),
        ),
        (
            "401",
            Some(Reply::status(
                401,
                serde_json::json!({"status": "unauthorized"}),
            )),
        ),
        ("closed", Some(Reply::Close)),
        (
            "timeout",
            Some(Reply::delay(Duration::from_secs(3), Reply::Accept)),
        ),
    ];
    for (name, reply) in &answers {
        for args in send_tests {
            if *name == "timeout" && args.len() > 1 {
                continue; // 2 s each: once is enough
            }
            mock.reset_script();
            if let Some(r) = reply {
                mock.set_default(r.clone());
            }
            let o = cli_out(&d, args);
            let o = Out {
                what: format!("{} (PagerDuty: {name})", o.what),
                ..o
            };
            let want = i32::from(*name != "202");
            assert_eq!(o.code, Some(want), "{}", o.show());
            if *name == "202" && args == ["send-test"] {
                assert!(o.stdout.contains(SECRET_MASKED), "{}", o.show());
            }
            if *name == "400 routing key" && args == ["send-test"] {
                assert!(o.stderr.contains(SECRET_MASKED), "{}", o.show());
            }
            leaks.out(&o);
        }
    }
    mock.reset_script();
    let o = cli_env_out(
        &d,
        &["send-test", "--all"],
        &[(
            "CENTREON_PAGERDUTY_PAGERDUTY__URL",
            "http://127.0.0.1:9/v2/enqueue",
        )],
    )
    .expect(1);
    leaks.out(&o);
    let sent: Vec<String> = mock
        .requests()
        .iter()
        .filter_map(|r| r.routing_key().map(str::to_owned))
        .collect();
    assert!(
        sent.iter().any(|k| k == SECRET) && sent.iter().any(|k| k == FILE_SECRET),
        "the real keys must reach PagerDuty: {sent:?}"
    );

    // The daemon, with PagerDuty refusing some of it.
    mock.reset_script();
    let start = mock.count();
    d.spawn();
    d.wait_ready(WAIT);
    let refusal = "payload.summary refused by the security e2e mock";
    let mut svcs = [
        Svc::new(9410, 94101), // 400 naming the routing key: paused, probed, delivered
        Svc::new(9411, 94111), // 400 other: dead letter
        Svc::new(9412, 94121), // 429
        Svc::new(9413, 94131), // 500
        svc_on("ops", 9414, 94141), // closed without an answer
        svc_on("files", 9415, 94151), // 400 other: dead letter, the file's key
        svc_on("ops", 9416, 94161), // delivered
    ];
    let rules: [Option<Reply>; 7] = [
        Some(Reply::invalid_routing_key()),
        Some(Reply::invalid_event(refusal)),
        Some(Reply::throttled()),
        Some(Reply::status(500, serde_json::json!({"status": "error"}))),
        Some(Reply::Close),
        Some(Reply::invalid_event(refusal)),
        None,
    ];
    for (s, r) in svcs.iter().zip(&rules) {
        if let Some(r) = r {
            mock.push_rule(
                Match::DedupAction(s.dedup_key(), "trigger".into()),
                r.clone(),
                Some(1),
            );
        }
    }
    let mut lines = Vec::new();
    for s in &mut svcs {
        lines.push(s.first_ok());
        lines.push(s.critical("CRITICAL: keys"));
    }
    d.post_ok(&lines);
    // Every trigger ends up delivered, or dead-lettered.
    let dead: Vec<String> = [&svcs[1], &svcs[5]].iter().map(|s| s.dedup_key()).collect();
    let settled = || {
        let reqs = mock.requests();
        svcs.iter().all(|s| {
            let key = s.dedup_key();
            reqs[start..].iter().any(|r| {
                r.dedup_key() == Some(key.as_str())
                    && r.action() == Some("trigger")
                    && (r.delivered() || (dead.contains(&key) && r.status == Some(400)))
            })
        })
    };
    assert!(
        poll_until(WAIT, settled),
        "not every trigger settled\n{}\n{}",
        mock.dump(),
        d.log_tail(60)
    );
    let letters = || -> Vec<Value> {
        cli_out(&d, &["dead-letters", "list", "--json"])
            .expect(0)
            .json()["dead_letters"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    assert!(poll_until(WAIT, || letters().len() == 2), "{:?}", letters());

    // An operator pause: the paused key is shown, masked.
    cli_out(&d, &["pause", "ops"]).expect(0);
    let o = cli_out(&d, &["status"]).expect(0);
    assert!(
        o.stdout.contains(SECRET_MASKED),
        "status must show the paused key masked\n{}",
        o.show()
    );
    leaks.out(&o);
    let o = cli_out(&d, &["status", "--json"]).expect(0);
    assert!(o.stdout.contains(SECRET_MASKED), "{}", o.show());
    leaks.out(&o);
    leaks.out(&cli_out(&d, &["status", "--nagios"]));
    leaks.out(&cli_out(&d, &["resume", "ops"]).expect(0));

    let mut resolves = Vec::new();
    for s in &mut svcs {
        resolves.push(s.recover());
    }
    d.post_ok(&resolves);
    for s in &svcs {
        wait_delivered(&mock, &d, &s.dedup_key(), "resolve");
    }

    for args in [
        &["status"][..],
        &["status", "--json"],
        &["status", "--nagios"],
        &["incidents"],
        &["incidents", "--json"],
        &["dead-letters", "list"],
        &["dead-letters", "list", "--json"],
    ] {
        leaks.out(&cli_out(&d, args));
    }
    let ids: Vec<String> = letters()
        .iter()
        .filter_map(|l| l["id"].as_i64().map(|i| i.to_string()))
        .collect();
    let mut shown = String::new();
    for id in &ids {
        let o = cli_out(&d, &["dead-letters", "show", id]).expect(0);
        shown.push_str(&o.stdout);
        leaks.out(&o);
    }
    assert!(
        shown.contains(SECRET_MASKED) && shown.contains(FILE_SECRET_MASKED),
        "dead-letters show must show the masked keys:\n{shown}"
    );
    let mut paths = vec![
        "/metrics".to_owned(),
        "/v1/status".into(),
        "/v1/incidents".into(),
        "/v1/dead-letters".into(),
        "/v1/health".into(),
    ];
    paths.extend(ids.iter().map(|id| format!("/v1/dead-letters/{id}")));
    for p in &paths {
        let r = d.request("GET", p, b"").unwrap();
        assert_eq!(r.status, 200, "GET {p}: {}", r.text());
        leaks.check(&format!("GET {p}"), &r.text());
    }
    // The same after a restart (keys seen in the spool, not the config), then read-only.
    let status = d.sigterm(WAIT);
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    for args in [
        &["status", "--json"][..],
        &["incidents"],
        &["dead-letters", "list", "--json"],
        &["dead-letters", "show", &ids[0]],
    ] {
        let o = cli_out(&d, args);
        assert!(o.says_read_only(), "{}", o.show());
        leaks.out(&o);
    }

    let log = d.logs();
    assert!(
        log.contains(SECRET_MASKED),
        "the log should name the refused key by its masked form\n{log}"
    );
    leaks.check("the daemon's log (level trace)", &log);
    leaks.assert_clean();
}

/// Configuration errors with the key next to them, in the file or the environment.
#[test]
fn routing_keys_never_appear_in_configuration_errors() {
    let d = Daemon::prepare(Config::new("http://127.0.0.1:9/v2/enqueue"));
    let dir = d.dir.path().display().to_string();
    let tail = format!(
        "[listen]\nsocket = \"{dir}/broker.sock\"\nsocket_group = \"\"\n\n[spool]\ndir = \"{dir}/spool\"\n"
    );
    let bad_char = format!("{}-{}", &SECRET[..16], &SECRET[17..]);
    let cases: [(&str, String, i32); 15] = [
        ("a bad value next to the key in an inline table", format!("pagerduty = {{ routing_key = \"{SECRET}\", timeout = 10 }}\n"), 2),
        ("an unknown key next to the key in an inline table", format!("pagerduty = {{ routing_key = \"{SECRET}\", bogus = 1 }}\n"), 2),
        ("a syntax error on the key's line", format!("[pagerduty]\nrouting_key = \"{SECRET}\" x\n"), 2),
        ("the key unterminated", format!("[pagerduty]\nrouting_key = \"{SECRET}\n"), 2),
        ("the key unquoted", format!("[pagerduty]\nrouting_key = {SECRET}\n"), 2),
        ("the key in an array", format!("[pagerduty]\nrouting_key = [\"{SECRET}\"]\n"), 2),
        ("the key given twice", format!("[pagerduty]\nrouting_key = \"{SECRET}\"\nrouting_key = \"{SECRET}\"\n"), 2),
        ("a key and a key file", format!("[pagerduty]\nrouting_key = \"{SECRET}\"\nrouting_key_file = \"/nonexistent\"\n"), 2),
        ("a bad timeout on the next line", format!("[pagerduty]\nrouting_key = \"{SECRET}\"\ntimeout = \"soon\"\n"), 2),
        ("a key of 33 characters", format!("[pagerduty]\nrouting_key = \"{SECRET}X\"\n"), 0),
        ("a key with a bad character", format!("[pagerduty]\nrouting_key = \"{bad_char}\"\n"), 0),
        ("a route with a key and action drop", format!("[pagerduty]\nrouting_key = \"{SECRET}\"\n\n[[route]]\nname = \"x\"\nrouting_key = \"{SECRET}\"\naction = \"drop\"\n"), 2),
        ("a route with a bad regex next to its key", format!("[pagerduty]\nrouting_key = \"{SECRET}\"\n\n[[route]]\nname = \"x\"\nrouting_key = \"{SECRET}\"\nhosts = [\"(unclosed\"]\n"), 2),
        ("a route with an unknown key next to its key", format!("[pagerduty]\nrouting_key = \"{SECRET}\"\n\n[[route]]\nname = \"x\"\nrouting_key = \"{SECRET}\"\nhostz = [\"a\"]\n"), 2),
        ("a route key of the wrong type", format!("[pagerduty]\nrouting_key = \"{SECRET}\"\n\n[[route]]\nname = \"x\"\nrouting_key = {{ k = \"{SECRET}\" }}\n"), 2),
    ];
    let mut leaks = LeakCheck::default();
    for (what, text, want) in &cases {
        d.write_config_text(&format!("{text}\n{tail}"));
        for args in [
            &["check-config"][..],
            &["check-config", "--json"],
            &["status"],
            &["send-test"],
        ] {
            let o = cli_out(&d, args);
            let o = Out {
                what: format!("{} with {what}", o.what),
                ..o
            };
            if args[0] == "check-config" {
                assert_eq!(o.code, Some(*want), "{}", o.show());
            }
            leaks.out(&o);
        }
        if *want == 2 {
            let o = Out::of(
                &format!("run with {what}"),
                &run_bin(&["run", "-c", &d.config_path.display().to_string()], &[]),
            )
            .expect(2);
            leaks.out(&o);
        }
    }
    // From the environment.
    d.write_config_text(&format!(
        "[pagerduty]\nrouting_key = \"{SECRET}\"\n\n{tail}"
    ));
    let array = format!("[\"{SECRET}\"]");
    let table = format!("{{k = \"{SECRET}\"}}");
    let long = format!("{SECRET}X");
    let env_cases: [&[(&str, &str)]; 5] = [
        &[("CENTREON_PAGERDUTY_PAGERDUTY__ROUTING_KEY", &array)],
        &[("CENTREON_PAGERDUTY_PAGERDUTY__ROUTING_KEY", &table)],
        &[("CENTREON_PAGERDUTY_PAGERDUTY__ROUTING_KEY", &long)],
        &[
            ("CENTREON_PAGERDUTY_PAGERDUTY__ROUTING_KEY", SECRET),
            ("CENTREON_PAGERDUTY_PAGERDUTY__TIMEOUT", "soon"),
        ],
        &[
            ("CENTREON_PAGERDUTY_PAGERDUTY__ROUTING_KEY", SECRET),
            ("CENTREON_PAGERDUTY_PAGERDUTY__BOGUS", "1"),
        ],
    ];
    for env in env_cases {
        for args in [&["check-config"][..], &["check-config", "--json"]] {
            leaks.out(&cli_env_out(&d, args, env));
        }
    }
    leaks.assert_clean();
}

/// PagerDuty (or a proxy in front of it) may quote the key back in its error text: the daemon
/// stores and shows that text (dead letters, last error, log), so it must mask the key in it.
#[test]
fn routing_keys_quoted_back_by_pagerduty_are_masked() {
    let mock = MockPagerDuty::start();
    let mut d = key_daemon(&mock);
    // Names the routing key (a configuration error) only when `what` does.
    let quoted = |what: &str| format!("{what} (integration {SECRET})");
    let mut leaks = LeakCheck::default();

    mock.set_default(Reply::invalid_event(&quoted("payload.summary refused")));
    leaks.out(&cli_out(&d, &["send-test"]).expect(1));
    mock.set_default(Reply::status(
        400,
        serde_json::json!({"status": "invalid event", "message": "Event object is invalid", "errors": [quoted("invalid routing_key")]}),
    ));
    leaks.out(&cli_out(&d, &["send-test"]).expect(1));
    mock.set_default(Reply::status(
        500,
        serde_json::json!({"message": quoted("internal error")}),
    ));
    leaks.out(&cli_out(&d, &["send-test"]).expect(1));
    mock.reset_script();

    d.spawn();
    d.wait_ready(WAIT);
    let mut svcs = [
        Svc::new(9500, 95001),
        Svc::new(9501, 95011),
        Svc::new(9502, 95021),
    ];
    let replies = [
        Reply::status(
            400,
            serde_json::json!({"status": "invalid event", "message": "Event object is invalid", "errors": [quoted("invalid routing_key")]}),
        ),
        Reply::invalid_event(&quoted("payload.summary refused")),
        Reply::status(
            500,
            serde_json::json!({"message": quoted("internal error")}),
        ),
    ];
    for (s, r) in svcs.iter().zip(replies) {
        mock.push_rule(
            Match::DedupAction(s.dedup_key(), "trigger".into()),
            r,
            Some(1),
        );
    }
    let mut lines = Vec::new();
    for s in &mut svcs {
        lines.push(s.first_ok());
        lines.push(s.critical("CRITICAL: quoted"));
    }
    d.post_ok(&lines);
    wait_delivered(&mock, &d, &svcs[0].dedup_key(), "trigger");
    wait_delivered(&mock, &d, &svcs[2].dedup_key(), "trigger");
    let letters = || -> Vec<Value> {
        cli_out(&d, &["dead-letters", "list", "--json"])
            .expect(0)
            .json()["dead_letters"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    assert!(poll_until(WAIT, || letters().len() == 1), "{:?}", letters());
    let id = letters()[0]["id"].as_i64().unwrap().to_string();
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["status", "--nagios"],
        &["dead-letters", "list"],
        &["dead-letters", "list", "--json"],
        &["dead-letters", "show", &id],
    ] {
        leaks.out(&cli_out(&d, args));
    }
    for p in ["/v1/status", "/v1/dead-letters", "/metrics"] {
        leaks.check(
            &format!("GET {p}"),
            &d.request("GET", p, b"").unwrap().text(),
        );
    }
    d.sigterm(WAIT);
    leaks.check("the daemon's log", &d.logs());
    leaks.assert_clean();
}

/// An operator who pastes the key itself into `routing_key_file` must not see it echoed back as
/// a file name.
#[test]
fn a_key_pasted_into_routing_key_file_is_not_echoed() {
    let d = Daemon::prepare(
        Config::new("http://127.0.0.1:9/v2/enqueue")
            .unset("pagerduty", "routing_key")
            .set_str("pagerduty", "routing_key_file", SECRET),
    );
    let mut leaks = LeakCheck::default();
    for args in [
        &["check-config"][..],
        &["check-config", "--json"],
        &["send-test"],
    ] {
        let o = cli_out(&d, args);
        assert_eq!(o.code, Some(2), "{}", o.show());
        leaks.out(&o);
    }
    // Commands that send nothing do not need the key: they warn and go on (here: no daemon).
    let o = cli_out(&d, &["status"]);
    assert_ne!(o.code, Some(0), "{}", o.show());
    leaks.out(&o);
    let o = Out::of(
        "run",
        &run_bin(&["run", "-c", &d.config_path.display().to_string()], &[]),
    )
    .expect(2);
    leaks.out(&o);
    leaks.assert_clean();
}

// ------------------------------------------------------------------------------------------------
// 5. Routing key files: owner, mode, type

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

// ------------------------------------------------------------------------------------------------
// 6. Body, line and connection limits

const MIB: usize = 1 << 20;

/// A body of exactly `size` bytes: valid NDJSON lines (replays of one status, cheap to ingest),
/// padded with empty lines.
fn body_of(size: usize) -> Vec<u8> {
    let mut s = Svc::new(9600, 96001);
    let line = s.first_ok();
    let mut body = Vec::with_capacity(size);
    while body.len() + line.len() < size {
        body.extend_from_slice(line.as_bytes());
        body.push(b'\n');
    }
    body.resize(size, b'\n');
    body
}

/// `POST /v1/events` with a chunked body (no Content-Length to trust).
fn post_chunked(socket: &Path, body: &[u8]) -> std::io::Result<Response> {
    use std::io::{BufReader, Write as _};
    let stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.set_write_timeout(Some(Duration::from_secs(60)))?;
    let mut w = stream.try_clone()?;
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nHost: localhost\r\nUser-Agent: {SHIM_USER_AGENT}\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let mut write = || -> std::io::Result<()> {
        w.write_all(head.as_bytes())?;
        for chunk in body.chunks(256 * 1024) {
            w.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())?;
            w.write_all(chunk)?;
            w.write_all(b"\r\n")?;
        }
        w.write_all(b"0\r\n\r\n")?;
        w.flush()
    };
    // The daemon may answer 413 and stop reading: then its answer is the result.
    let write_err = write().err();
    let mut r = BufReader::new(stream);
    match common::http::read_message(&mut r, true) {
        Ok(Some(m)) => Ok(Response {
            status: m
                .start_line
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            headers: m.headers,
            body: m.body,
        }),
        Ok(None) => Err(write_err.unwrap_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed without an answer",
            )
        })),
        Err(e) => Err(write_err.unwrap_or(e)),
    }
}

/// `/v1/health` 200, and a trigger and a resolve for a fresh service both delivered.
fn assert_healthy(d: &Daemon, mock: &MockPagerDuty, id: u64) {
    let r = d.request("GET", "/v1/health", b"").expect("GET /v1/health");
    assert_eq!(r.status, 200, "{}", r.text());
    let mut s = [Svc::new(id, id * 10)];
    let lines = [s[0].first_ok(), s[0].critical("CRITICAL: health probe")];
    d.post_ok(&lines);
    let rec = s[0].recover();
    d.post_ok(&[rec]);
    expect_all_delivered(mock, d, &s, WAIT);
}

#[test]
fn body_limit_is_16_mib_exactly() {
    let mock = MockPagerDuty::start();
    let d = Daemon::start(Config::new(&mock.url()));

    let at_limit = body_of(16 * MIB);
    assert_eq!(at_limit.len(), 16 * MIB);
    let r = d.post(&at_limit).expect("POST of 16 MiB");
    assert_eq!(
        r.status,
        200,
        "a body of exactly 16 MiB is allowed: {}",
        r.text()
    );

    let over = body_of(16 * MIB + 1);
    assert_eq!(over.len(), 16 * MIB + 1);
    match d.post(&over) {
        Ok(r) => assert_eq!(
            r.status,
            413,
            "16 MiB + 1 with Content-Length: {}",
            r.text()
        ),
        Err(e) => panic!(
            "no answer to 16 MiB + 1 (want 413): {e}\n{}",
            d.log_tail(30)
        ),
    }
    assert_healthy(&d, &mock, 9601);

    // Chunked: the daemon cannot trust a length given up front.
    match post_chunked(&d.socket, &at_limit) {
        Ok(r) => assert_eq!(r.status, 200, "16 MiB chunked: {}", r.text()),
        Err(e) => panic!("no answer to 16 MiB chunked: {e}\n{}", d.log_tail(30)),
    }
    match post_chunked(&d.socket, &over) {
        Ok(r) => assert_eq!(r.status, 413, "16 MiB + 1 chunked: {}", r.text()),
        Err(e) => panic!(
            "no answer to 16 MiB + 1 chunked (want 413): {e}\n{}",
            d.log_tail(30)
        ),
    }
    assert_healthy(&d, &mock, 9602);
}

/// A HARD CRITICAL status line of exactly `size` bytes for `s` (its output padded).
fn critical_line_of(s: &mut Svc, size: usize) -> String {
    let probe = s.clone().critical("");
    let pad = size.checked_sub(probe.len()).expect("size too small");
    let line = s.critical(&"x".repeat(pad));
    assert_eq!(line.len(), size, "line size");
    line
}

#[test]
fn line_limit_is_1_mib_exactly_and_rejects_only_that_line() {
    let mock = MockPagerDuty::start();
    let d = Daemon::start(Config::new(&mock.url()));
    let mut before = Svc::new(9610, 96101);
    let mut at_limit = Svc::new(9611, 96111);
    let mut over = Svc::new(9612, 96121);
    let mut after = Svc::new(9613, 96131);
    d.post_ok(&[
        before.first_ok(),
        at_limit.first_ok(),
        over.first_ok(),
        after.first_ok(),
    ]);
    let rejected_before = cli_out(&d, &["status", "--json"]).expect(0).json()["rejected_lines"]
        .as_i64()
        .unwrap_or(-1);

    let lines = [
        before.critical("CRITICAL: before the long lines"),
        critical_line_of(&mut at_limit, MIB),
        critical_line_of(&mut over, MIB + 1),
        after.critical("CRITICAL: after the long lines"),
    ];
    let (accepted, ignored, rejected) = d.post_ok(&lines);
    assert_eq!(
        (accepted + ignored, rejected),
        (3, 1),
        "4 lines, only the one of 1 MiB + 1 rejected: accepted {accepted}, ignored {ignored}, rejected {rejected}"
    );
    for s in [&before, &at_limit, &after] {
        wait_delivered(&mock, &d, &s.dedup_key(), "trigger");
    }
    assert!(
        mock.events_for(&over.dedup_key()).is_empty(),
        "the rejected line must not page\n{}",
        mock.dump()
    );
    let j = cli_out(&d, &["status", "--json"]).expect(0).json();
    assert_eq!(
        j["rejected_lines"].as_i64(),
        Some(rejected_before + 1),
        "the rejected line is kept for inspection: {j:#}"
    );
    assert_healthy(&d, &mock, 9614);
}

/// Holds `n` connections that never send a byte; with `replenish`, reopens each one the daemon
/// closes, as fast as it can, until `stop`. Returns how many it reopened.
fn idle_flood(
    socket: PathBuf,
    n: usize,
    replenish: bool,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ready: std::sync::mpsc::Sender<usize>,
) -> std::thread::JoinHandle<usize> {
    use std::sync::atomic::Ordering;
    std::thread::spawn(move || {
        let open = |socket: &Path| {
            UnixStream::connect(socket).ok().inspect(|s| {
                let _ = s.set_nonblocking(true);
            })
        };
        let mut conns: Vec<Option<UnixStream>> = (0..n).map(|_| open(&socket)).collect();
        let _ = ready.send(conns.iter().flatten().count());
        let mut reopened = 0;
        while !stop.load(Ordering::SeqCst) {
            if replenish {
                for c in &mut conns {
                    let closed = match c {
                        None => true,
                        Some(s) => {
                            let mut buf = [0u8; 64];
                            match std::io::Read::read(s, &mut buf) {
                                Ok(_) => true,
                                Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
                            }
                        }
                    };
                    if closed {
                        *c = open(&socket);
                        reopened += 1;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        reopened
    })
}

/// Posts a batch every 50 ms until one is answered 200: how long that took, and how many tries.
fn time_to_200(d: &Daemon, id: u64, limit: Duration) -> Result<(Duration, usize), String> {
    let mut s = Svc::new(id, id * 10);
    let body = ndjson(&[s.first_ok(), s.critical("CRITICAL: during the flood")]);
    let t0 = std::time::Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let r = unix_request(
            &d.socket,
            "POST",
            "/v1/events",
            &body,
            Duration::from_secs(5),
        );
        if r.as_ref().is_ok_and(|r| r.status == 200) {
            return Ok((t0.elapsed(), attempts));
        }
        if t0.elapsed() > limit {
            return Err(format!(
                "no 200 after {:?} and {attempts} attempts; last: {:?}",
                t0.elapsed(),
                r.map(|r| r.status)
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// 1000 idle connections (the daemon serves 256 at a time), then a client that posts like the
/// shim; it must get a 200 within 10 s. The time is printed (`--nocapture`).
fn flood_case(replenish: bool) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let mock = MockPagerDuty::start();
    let d = Daemon::start(Config::new(&mock.url()));
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let flood = idle_flood(d.socket.clone(), 1000, replenish, stop.clone(), tx);
    let opened = rx.recv_timeout(WAIT).expect("the flood started");
    let kind = if replenish {
        "reopened as soon as closed"
    } else {
        "held"
    };
    let result = time_to_200(&d, 9700 + u64::from(replenish), Duration::from_secs(60));
    stop.store(true, Ordering::SeqCst);
    let reopened = flood.join().unwrap();
    match &result {
        Ok((took, attempts)) => eprintln!(
            "flood of {opened} idle connections ({kind}; {reopened} reopened): a legitimate client got 200 after {took:?} ({attempts} attempts)"
        ),
        Err(e) => eprintln!("flood of {opened} idle connections ({kind}): {e}"),
    }
    let (took, _) = result.unwrap_or_else(|e| panic!("{e}\n{}", d.log_tail(30)));
    assert!(
        took < Duration::from_secs(10),
        "a legitimate client waited {took:?} for a 200 behind {opened} idle connections ({kind})"
    );
    assert_healthy(&d, &mock, 9710 + u64::from(replenish));
}

/// The idle connections are dropped after the header timeout (5 s): then the client gets in.
#[test]
fn a_flood_of_idle_connections_does_not_lock_out_the_shim() {
    flood_case(false);
}

/// The attacker (any member of the socket's group) reopens every connection the daemon closes:
/// when the idle ones time out (header timeout, 5 s), the legitimate client races the flood for
/// the freed slots, and waits 5 s more each time it loses (seen: 5, 10, 15, 20, 30 s).
#[test]
fn a_sustained_flood_of_idle_connections_does_not_lock_out_the_shim() {
    flood_case(true);
}
