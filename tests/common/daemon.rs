//! The daemon: the real `centreon-pagerduty run -c CONFIG` as a child process in a temporary
//! directory of its own (config, socket, spool, one log per start). Starts, restarts, signals,
//! requests over its socket, commands against its config, its logs; killed on drop, with the
//! end of its log printed when the test panics.

use super::{ndjson, post_events, scrub_env, unix_request, Config, Response, BIN, WAIT};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub socket: PathBuf,
    pub spool_dir: PathBuf,
    child: Option<Child>,
    starts: usize,
    logs: Vec<PathBuf>,
}

impl Daemon {
    /// Writes the config and starts `centreon-pagerduty run -c CONFIG`; waits for the socket.
    pub fn start(config: Config) -> Daemon {
        let mut d = Daemon::prepare(config);
        d.spawn();
        d.wait_ready(WAIT);
        d
    }

    /// Writes the config in a new temporary directory without starting anything.
    pub fn prepare(config: Config) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("cpd-e2e-")
            .tempdir()
            .expect("tempdir");
        let config_path = dir.path().join("centreon-pagerduty.toml");
        std::fs::write(&config_path, config.render(dir.path())).expect("write config");
        let socket = dir.path().join("broker.sock");
        let spool_dir = dir.path().join("spool");
        Daemon {
            dir,
            config_path,
            socket,
            spool_dir,
            child: None,
            starts: 0,
            logs: Vec::new(),
        }
    }

    /// Rewrites the config (takes effect at the next start).
    pub fn rewrite_config(&self, config: Config) {
        std::fs::write(&self.config_path, config.render(self.dir.path())).expect("write config");
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        scrub_env(&mut cmd);
        cmd
    }

    /// Starts the child (the socket may not be ready yet).
    pub fn spawn(&mut self) {
        let cmd = self.command();
        self.start_child(cmd, &BIN);
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Waits until the socket accepts a connection. Panics (with the log) if the daemon exits.
    pub fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    panic!(
                        "daemon exited before its socket was ready: {status}\n--- log ---\n{}",
                        self.log_tail(80)
                    );
                }
            }
            if UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "daemon socket {} not ready after {timeout:?}\n--- log ---\n{}",
                    self.socket.display(),
                    self.log_tail(80)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL and reap.
    pub fn sigkill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait up to `timeout` for the exit; SIGKILL after that (returns None then).
    pub fn sigterm(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Still running?
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// SIGKILL (if running), start again, wait for the socket.
    pub fn restart_after_kill(&mut self) {
        self.sigkill();
        self.spawn();
        self.wait_ready(WAIT);
    }

    pub fn post(&self, body: &[u8]) -> io::Result<Response> {
        post_events(&self.socket, body)
    }

    pub fn post_lines<L: AsRef<[u8]>>(&self, lines: &[L]) -> io::Result<Response> {
        self.post(&ndjson(lines))
    }

    /// Posts and insists on `200` with counts; panics with the log otherwise.
    pub fn post_ok<L: AsRef<[u8]>>(&self, lines: &[L]) -> (u64, u64, u64) {
        match self.post_lines(lines) {
            Ok(r) if r.status == 200 => r.counts().unwrap_or_else(|| {
                panic!(
                    "200 without {{accepted,ignored,rejected}}: {:?}\n--- log ---\n{}",
                    r.text(),
                    self.log_tail(40)
                )
            }),
            Ok(r) => panic!(
                "POST /v1/events answered {} {:?}\n--- log ---\n{}",
                r.status,
                r.text(),
                self.log_tail(40)
            ),
            Err(e) => panic!(
                "POST /v1/events failed: {e}\n--- log ---\n{}",
                self.log_tail(40)
            ),
        }
    }

    pub fn request(&self, method: &str, path: &str, body: &[u8]) -> io::Result<Response> {
        unix_request(&self.socket, method, path, body, Duration::from_secs(30))
    }

    /// Runs `centreon-pagerduty ARGS -c CONFIG` (a CLI command talking to this daemon).
    pub fn cli(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .arg("-c")
            .arg(&self.config_path)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {BIN} {args:?}: {e}"))
    }

    /// `centreon-pagerduty inject FILE -c CONFIG`.
    pub fn inject(&self, file: &Path) -> Output {
        self.cli(&["inject", &file.display().to_string()])
    }

    /// All logs (stdout+stderr) of every start, in order.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for (i, p) in self.logs.iter().enumerate() {
            let mut text = String::new();
            if let Ok(mut f) = File::open(p) {
                let mut bytes = Vec::new();
                let _ = f.read_to_end(&mut bytes);
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
            if self.logs.len() > 1 {
                let _ = writeln!(s, "=== start #{} ===", i + 1);
            }
            s.push_str(&text);
        }
        s
    }

    pub fn log_tail(&self, n: usize) -> String {
        let all = self.logs();
        let lines: Vec<&str> = all.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- daemon log ({}), last 150 lines ---\n{}",
                self.dir.path().display(),
                self.log_tail(150)
            );
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Operator commands (tests/e2e_commands/)

impl Daemon {
    /// `centreon-pagerduty ARGS -c CONFIG` with extra environment variables.
    pub fn cli_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.command()
            .args(args)
            .arg("-c")
            .arg(&self.config_path)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {BIN} {args:?}: {e}"))
    }

    /// Writes `text` verbatim as the config (takes effect at the next start or command).
    pub fn write_config_text(&self, text: &str) {
        std::fs::write(&self.config_path, text).expect("write config");
    }
}

// ------------------------------------------------------------------------------------------------
// Security checks (tests/security/)

impl Daemon {
    /// Starts the child through `wrapper` (e.g. `setpriv --reuid=U … --`), which must `exec` the
    /// binary so that the child's pid is the daemon's: `centreon-pagerduty run -c CONFIG` is
    /// appended to it. The socket may not be ready yet (see [`Daemon::wait_ready`]).
    pub fn spawn_wrapped(&mut self, wrapper: &[String]) {
        assert!(!wrapper.is_empty(), "empty wrapper");
        let mut cmd = Command::new(&wrapper[0]);
        scrub_env(&mut cmd);
        cmd.args(&wrapper[1..]).arg(BIN);
        self.start_child(cmd, &format_args!("{wrapper:?} {BIN}"));
    }

    /// `cmd run -c CONFIG`, its output into a new log of its own: the running child.
    fn start_child(&mut self, mut cmd: Command, what: &dyn std::fmt::Display) {
        assert!(self.child.is_none(), "daemon already running");
        self.starts += 1;
        let log = self.dir.path().join(format!("daemon.{}.log", self.starts));
        let stderr = File::create(&log).expect("create log");
        let stdout = stderr.try_clone().expect("clone log");
        let child = cmd
            .arg("run")
            .arg("-c")
            .arg(&self.config_path)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
        self.logs.push(log);
        self.child = Some(child);
    }

    /// Waits up to `timeout` for the child to exit by itself; its status, or None (still running).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let child = self.child.as_mut()?;
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
