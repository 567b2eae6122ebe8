//! 3. The read-only spool fallback.

use crate::common::*;
use crate::output::Out;
use crate::site::{chmod, Site};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

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
