//! The acknowledgement mirrored: once into Centreon (not an earlier episode's), its echo through
//! Broker sending PagerDuty nothing, a resolve in PagerDuty changing nothing, `status` showing it.

use crate::common::mock_centreon;
use crate::common::mock_pagerduty_rest::MockIncident;
use crate::common::*;
use crate::helpers::{
    acks_for, assert_no_secret, config, paged, start, wait_acks, wait_listings, Apis, Auth,
    CENTREON_TOKEN,
};
use serde_json::{json, Value};

#[test]
fn an_acknowledgement_in_pagerduty_is_set_once_in_centreon_and_its_echo_sends_nothing() {
    let events = MockPagerDuty::start();
    let apis = Apis::start();
    let d = start(config(&events, &apis, Auth::Token));
    let mut svc = Svc::new(5100, 51000);
    paged(&d, &events, &mut svc);

    // An earlier episode's incident of the key, still listed acknowledged (its resolve not
    // taken yet): not the current problem's acknowledgement.
    apis.pd.upsert_incident(
        MockIncident::acknowledged("POLD001", &svc.dedup_key(), "Old Ack").created_ago(3600),
    );
    wait_listings(&apis, 2);
    assert!(
        acks_for(&apis, &svc).is_empty(),
        "an earlier episode's acknowledgement was mirrored"
    );
    apis.pd.set_status("POLD001", "resolved");

    apis.acknowledge_incident("PT4KHLK", &svc.dedup_key(), "Jane Doe");
    assert!(
        wait_acks(&apis, &svc, 1),
        "no Centreon acknowledgement\n{}",
        d.log_tail(30)
    );
    let ack = &acks_for(&apis, &svc)[0];
    assert_eq!(
        ack,
        &json!({
            "acknowledgement": {
                "comment": "Acknowledged in PagerDuty by Jane Doe",
                "is_notify_contacts": false,
                "is_persistent_comment": true,
                "is_sticky": true,
                "with_services": false
            },
            "resources": [{"type": "service", "id": svc.service_id, "parent": {"id": svc.host_id}}]
        })
    );
    let request = apis
        .centreon
        .requests()
        .into_iter()
        .find(mock_centreon::Recorded::is_acknowledge)
        .unwrap();
    assert_eq!(request.request.header("x-auth-token"), Some(CENTREON_TOKEN));

    // Centreon reports the acknowledgement back through Broker: PagerDuty hears nothing of it.
    let echo = format!(
        r#"{{"_type":65537,"category":1,"element":1,"host_id":{},"service_id":{},"instance_id":1,"acknowledgement_type":1,"author":"pagerduty-sync","comment_data":"Acknowledged in PagerDuty by Jane Doe","entry_time":{},"notify_contacts":false,"persistent_comment":true,"state":2,"sticky":true,"_cache":{{"host_name":"{}","service_description":"{}"}}}}"#,
        svc.host_id,
        svc.service_id,
        svc.clock + 10,
        svc.host,
        svc.service
    );
    d.post_ok(&[echo]);
    wait_listings(&apis, 3);
    let key = svc.dedup_key();
    assert_eq!(
        events.delivered_actions(&key),
        vec!["trigger"],
        "the echo of the mirrored acknowledgement went to PagerDuty\n{}",
        d.log_tail(30)
    );
    assert_eq!(
        acks_for(&apis, &svc).len(),
        1,
        "acknowledged in Centreon once"
    );

    // A resolve in PagerDuty changes nothing in Centreon.
    apis.pd.set_status("PT4KHLK", "resolved");
    wait_listings(&apis, 2);
    assert_eq!(acks_for(&apis, &svc).len(), 1);

    let status = d.cli(&["status", "--json"]);
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["sync"]["mirrored"], json!(1), "{status:#}");
    assert_eq!(status["sync"]["pending"], json!(0), "{status:#}");
    assert!(
        status["sync"]["last_poll_ms"].as_i64().is_some(),
        "{status:#}"
    );
    let text = String::from_utf8_lossy(&d.cli(&["status"]).stdout).into_owned();
    assert!(text.contains("acknowledgement sync"), "{text}");
    apis.assert_no_violation();
    assert_no_secret(&d, &text);
}
