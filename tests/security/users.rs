//! Throwaway users: the accounts of one test, created with groupadd/useradd, removed on drop.

use crate::common::*;
use crate::output::Out;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

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
pub(crate) fn passwd_ids(user: &str) -> Option<(u32, u32)> {
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
pub(crate) struct Accounts {
    pub(crate) group: String,
    pub(crate) gid: u32,
    pub(crate) daemon: String,
    pub(crate) daemon_uid: u32,
    pub(crate) member: String,
    pub(crate) member_uid: u32,
    pub(crate) outsider: String,
    setpriv: PathBuf,
}

impl Accounts {
    /// `None`, after saying SKIPPED, when this cannot be done here.
    pub(crate) fn create(tag: &str) -> Option<Accounts> {
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

    pub(crate) fn as_daemon(&self, config: &Path, args: &[&str]) -> Out {
        self.cli_as(&self.daemon, &self.group, config, args)
    }
    pub(crate) fn as_member(&self, config: &Path, args: &[&str]) -> Out {
        self.cli_as(&self.member, &self.member, config, args)
    }
    pub(crate) fn as_outsider(&self, config: &Path, args: &[&str]) -> Out {
        self.cli_as(&self.outsider, &self.outsider, config, args)
    }

    /// The wrapper that starts the daemon as its user, with systemd's `UMask=0027`.
    pub(crate) fn daemon_wrapper(&self) -> Vec<String> {
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
    /// [`helper_socket_client`](crate::helper_socket_client)) and, when connected, GETs
    /// `path`. `Err(errno)` when the connect fails, else the HTTP status (0 when there was no
    /// answer).
    pub(crate) fn connect_as(
        &self,
        user: &str,
        group: &str,
        socket: &Path,
        path: &str,
    ) -> Result<u16, i32> {
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

pub(crate) const EACCES: i32 = 13;
