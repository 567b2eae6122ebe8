//! Secret files: the daemon's routing-key-file rules, and masking.

#![allow(clippy::unwrap_used)] // test helpers may unwrap: a failing setup fails the test

use ack_sync::{read_login_file, read_secret_file, read_secret_lines, trusted_owners, SecretError};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const TOKEN: &str = "u+abcdEFGH1234ijkl9876";

fn write(dir: &Path, name: &str, text: &str, mode: u32) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

fn me() -> Vec<u32> {
    trusted_owners(None)
}

#[test]
fn mode_owner_and_type_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let ok = write(dir.path(), "ok", &format!("{TOKEN}\n"), 0o640);
    let s = read_secret_file(&ok, &me()).unwrap();
    assert_eq!(s.expose(), TOKEN);
    assert_eq!(format!("{s}"), "…9876");
    assert_eq!(format!("{s:?}"), "…9876");
    assert!(read_secret_file(&write(dir.path(), "strict", TOKEN, 0o400), &me()).is_ok());
    for mode in [0o644, 0o660, 0o604, 0o666] {
        let p = write(dir.path(), &format!("m{mode:o}"), TOKEN, mode);
        let e = read_secret_file(&p, &me()).unwrap_err();
        assert!(matches!(e, SecretError::BadMode { .. }), "{mode:o}: {e}");
        assert!(e.to_string().contains("chmod 0640"));
        assert!(!e.to_string().contains("abcd"));
    }
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&ok, &link).unwrap();
    assert!(matches!(
        read_secret_file(&link, &me()),
        Err(SecretError::NotRegular { .. })
    ));
    assert!(matches!(
        read_secret_file(dir.path(), &me()),
        Err(SecretError::NotRegular { .. })
    ));
    assert!(matches!(
        read_secret_file(&dir.path().join("missing"), &me()),
        Err(SecretError::Unreadable { .. })
    ));
    assert!(matches!(
        read_secret_file(&write(dir.path(), "empty", " \n", 0o600), &me()),
        Err(SecretError::Empty { .. })
    ));
    assert!(matches!(
        read_secret_file(&write(dir.path(), "big", &"x".repeat(5000), 0o600), &me()),
        Err(SecretError::TooLarge { .. })
    ));
    let e = read_secret_file(&write(dir.path(), "space", "abc def", 0o600), &me()).unwrap_err();
    assert!(matches!(e, SecretError::BadCharacter { position: 4, .. }));
    // Owned by a stranger (the tests run as root when they can chown).
    let stranger = write(dir.path(), "stranger", TOKEN, 0o600);
    if std::os::unix::fs::chown(&stranger, Some(54321), None).is_ok() {
        let e = read_secret_file(&stranger, &me()).unwrap_err();
        assert!(matches!(e, SecretError::BadOwner { uid: 54321, .. }), "{e}");
        assert!(read_secret_file(&stranger, &[54321]).is_ok());
    }
}

#[test]
fn several_secrets_one_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "hooks", "\n old1111 \n\nnew2222\n", 0o640);
    let s = read_secret_lines(&p, &me()).unwrap();
    assert_eq!(
        s.iter().map(|s| s.expose()).collect::<Vec<_>>(),
        ["old1111", "new2222"]
    );
}

#[test]
fn login_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "login",
        "pagerduty-sync:pa:ss word1234\n",
        0o640,
    );
    let c = read_login_file(&p, &me()).unwrap();
    assert_eq!(c.login(), "pagerduty-sync");
    assert_eq!(c.password().expose(), "pa:ss word1234");
    assert_eq!(format!("{c:?}"), "pagerduty-sync:…1234");
    for (name, text) in [
        ("nocolon", "justalogin\n"),
        ("nologin", ":pw\n"),
        ("nopw", "login:\n"),
        ("lines", "a:b\nc:d\n"),
    ] {
        let e = read_login_file(&write(dir.path(), name, text, 0o600), &me()).unwrap_err();
        assert!(matches!(e, SecretError::BadLoginFile { .. }), "{name}: {e}");
        assert!(!e.to_string().contains(":b"), "{e}");
    }
}
