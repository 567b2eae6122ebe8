//! Command outputs: a finished command's exit code and outputs, and the CLI run to get one.

use crate::common::*;
use serde_json::Value;
use std::process::Output;

/// A finished command: exit code and its two outputs.
pub(crate) struct Out {
    pub(crate) what: String,
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Out {
    pub(crate) fn of(what: &str, o: &Output) -> Out {
        Out {
            what: what.to_owned(),
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
    pub(crate) fn show(&self) -> String {
        format!(
            "{}: exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.what, self.code, self.stdout, self.stderr
        )
    }
    pub(crate) fn expect(self, want: i32) -> Out {
        assert_eq!(self.code, Some(want), "wrong exit code\n{}", self.show());
        self
    }
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.show()))
    }
    pub(crate) fn says_read_only(&self) -> bool {
        self.stderr.contains("read-only")
    }
    pub(crate) fn both(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

pub(crate) fn cli_out(d: &Daemon, args: &[&str]) -> Out {
    Out::of(&format!("{args:?}"), &d.cli(args))
}

pub(crate) fn cli_env_out(d: &Daemon, args: &[&str], env: &[(&str, &str)]) -> Out {
    Out::of(&format!("{args:?} with {env:?}"), &d.cli_env(args, env))
}
