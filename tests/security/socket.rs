//! 1. The socket: its group only.

use crate::site::Site;
use crate::users::EACCES;
use std::os::unix::fs::MetadataExt as _;

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
