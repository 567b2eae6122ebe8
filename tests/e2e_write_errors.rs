//! End-to-end: fsync and write failures on commit (DESIGN §4.5). A small LD_PRELOAD library,
//! built here with the system C compiler, makes `fsync`/`fdatasync`/`pwrite` fail with EIO
//! while a control file exists. A batch whose commit fails is answered 503 (the shim keeps
//! it), the spool's connection is reopened, the retry is committed, and every event is
//! delivered once: nothing answered 200 is lost.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const FAIL_LIB: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

static int failing(void) {
    const char *path = getenv("CPD_FAIL_IO_FILE");
    return path && access(path, F_OK) == 0;
}
int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = dlsym(RTLD_NEXT, "fsync");
    if (failing()) { errno = EIO; return -1; }
    return real(fd);
}
int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = dlsym(RTLD_NEXT, "fdatasync");
    if (failing()) { errno = EIO; return -1; }
    return real(fd);
}
ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) {
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real) real = dlsym(RTLD_NEXT, "pwrite64");
    if (failing()) { errno = EIO; return -1; }
    return real(fd, buf, n, off);
}
"#;

/// Build the library; `None` (the test is skipped) without a C compiler.
fn build_fail_lib(dir: &Path) -> Option<PathBuf> {
    let src = dir.join("fail_io.c");
    let lib = dir.join("libfail_io.so");
    std::fs::write(&src, FAIL_LIB).ok()?;
    let ok = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&lib)
        .arg(&src)
        .arg("-ldl")
        .status()
        .ok()?
        .success();
    ok.then_some(lib)
}

#[test]
fn a_failed_fsync_is_answered_503_the_connection_reopened_and_nothing_lost() {
    let build = tempfile::tempdir().unwrap();
    let Some(lib) = build_fail_lib(build.path()) else {
        eprintln!("skipped: no C compiler to build the I/O failure library");
        return;
    };
    let switch = build.path().join("fail-now");
    let mock = MockPagerDuty::start();
    let mut d = Daemon::prepare(Config::new(&mock.url()));
    d.spawn_wrapped(&[
        "env".into(),
        format!("LD_PRELOAD={}", lib.display()),
        format!("CPD_FAIL_IO_FILE={}", switch.display()),
    ]);
    d.wait_ready(WAIT);

    let mut svcs = services(6500, 30);
    let firsts: Vec<String> = svcs.iter_mut().map(Svc::first_ok).collect();
    d.post_ok(&firsts);
    let crits: Vec<String> = svcs
        .iter_mut()
        .map(|s| {
            let out = format!("CRITICAL: io test {}", s.dedup_key());
            s.critical(&out)
        })
        .collect();

    // The disk fails: the batch is refused, as many times as the shim tries.
    std::fs::write(&switch, b"").unwrap();
    for _ in 0..3 {
        let r = d.post_lines(&crits).unwrap();
        assert_eq!(
            r.status, 503,
            "a commit that could not be made to disk was accepted"
        );
    }
    // The disk works again: the shim's retry is committed and delivered.
    std::fs::remove_file(&switch).unwrap();
    assert!(
        poll_until(WAIT, || d.post_lines(&crits).is_ok_and(|r| r.status == 200)),
        "the retry was not accepted once the disk worked\n{}",
        d.log_tail(40)
    );
    expect_all_delivered(&mock, &d, &svcs, WAIT);
    for s in &svcs {
        let key = s.dedup_key();
        let n = mock
            .requests()
            .iter()
            .filter(|r| r.delivered() && r.dedup_key() == Some(key.as_str()))
            .count();
        assert_eq!(n, 1, "{key} delivered {n} times");
    }
    assert!(
        d.logs().contains("connection was reopened"),
        "the connection was not reopened\n{}",
        d.log_tail(40)
    );
}
