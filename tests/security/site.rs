//! A site: the daemon running as its own unprivileged user, files laid out as the packages do.

use crate::common::*;
use crate::output::Out;
use crate::users::Accounts;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

pub(crate) struct Site {
    // Field order = drop order: the daemon stops before its user is deleted.
    pub(crate) d: Daemon,
    pub(crate) mock: MockPagerDuty,
    /// A world-readable copy of the config, for the outsider (who cannot read the real one).
    outsider_config: PathBuf,
    pub(crate) acc: Accounts,
}

pub(crate) fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
}

pub(crate) fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

impl Site {
    /// Config `root:GROUP 0640`; `run/` (the socket's directory) `USER:GROUP 0755` so that the
    /// socket's own mode is what keeps others out; `spool/` `USER:GROUP 0750`. Not started.
    pub(crate) fn prepare(tag: &str, config: impl FnOnce(Config) -> Config) -> Option<Site> {
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

    pub(crate) fn start(tag: &str) -> Option<Site> {
        let mut s = Site::prepare(tag, |c| c)?;
        s.spawn();
        Some(s)
    }

    /// Starts the daemon as its user and waits for the socket.
    pub(crate) fn spawn(&mut self) {
        let wrapper = self.acc.daemon_wrapper();
        self.d.spawn_wrapped(&wrapper);
        self.d.wait_ready(WAIT);
    }

    pub(crate) fn stop(&mut self) {
        let status = self.d.sigterm(WAIT);
        assert!(
            status.is_some_and(|s| s.success()),
            "the daemon did not stop cleanly on SIGTERM: {status:?}\n{}",
            self.d.log_tail(40)
        );
    }

    pub(crate) fn root(&self, args: &[&str]) -> Out {
        Out::of(&format!("{args:?} as root"), &self.d.cli(args))
    }
    pub(crate) fn daemon_user(&self, args: &[&str]) -> Out {
        self.acc.as_daemon(&self.d.config_path, args)
    }
    pub(crate) fn member(&self, args: &[&str]) -> Out {
        self.acc.as_member(&self.d.config_path, args)
    }
    pub(crate) fn outsider(&self, args: &[&str]) -> Out {
        self.acc.as_outsider(&self.outsider_config, args)
    }

    pub(crate) fn status_json(&self) -> Value {
        self.root(&["status", "--json"]).expect(0).json()
    }

    pub(crate) fn dead_letters(&self) -> Vec<Value> {
        self.root(&["dead-letters", "list", "--json"])
            .expect(0)
            .json()["dead_letters"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub(crate) fn incident_keys(&self) -> Vec<String> {
        self.root(&["incidents", "--json"]).expect(0).json()["incidents"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|i| i["dedup_key"].as_str().map(str::to_owned))
            .collect()
    }

    /// Opens an incident for `s` (delivered) and returns when the daemon lists it.
    pub(crate) fn open_incident(&self, s: &mut Svc) {
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
    pub(crate) fn dead_letter(&self, s: &mut Svc) -> String {
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

pub(crate) fn wait_delivered(mock: &MockPagerDuty, d: &Daemon, key: &str, action: &str) {
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
