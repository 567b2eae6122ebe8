//! The stored form of a resource's state: version 2 packs the fingerprint windows and leaves
//! default fields out; a state stored by version 1 is read as it was written.

use rules::state::{StateError, STATE_VERSION};
use rules::ResourceState;

/// A steady OK service as version 1 stored it (taken from a soak run's spool).
const V1: &str = r#"{"v":1,"known":true,"hard_state":0,"hard_since":1796559112,"state":0,"incident":null,"owed":false,"held":null,"ack":null,"downtime_depth":0,"downtimes":[],"in_downtime":false,"flapping":false,"notify":true,"volatile":false,"enabled":true,"problem":null,"last_check":1796560152,"recent":[10469102353854731363,8801527416487582545,16856645269537328655,10016962707045547389,3727796864760021483,17344605703915443065,17893673238561297655,17603396818382558757,8775488672983200115,16877486289312579041,10810876084150908831,12683107671721237581,779344054709860411,8093361025731145097,8440400105289862535,14652338626943933813,13246762872378969219,12671588968695324273,15282150283546677935,884836723742129949,11950013921482651787,12564635225126914201,17064043702267844247,12960131597299756610,4108694067398248264,7913711219378188686,17455996026334484468,9127245724678070314,13294064354618032272,901168749595450070,12910563469293224476,12188877713584270418],"anchor":12188877713584270418,"seen_at":1796560152}"#;

#[test]
fn a_version_1_state_is_read_and_written_back_in_half_the_bytes() {
    let st = ResourceState::from_json(V1).unwrap();
    assert_eq!(st.recent.len(), 32);
    assert_eq!(st.recent[31], 12_188_877_713_584_270_418);
    assert_eq!(st.last_check, Some(1_796_560_152));
    assert!(st.known && st.notify && st.enabled && !st.flapping);
    let v2 = st.to_json();
    assert!(v2.starts_with(&format!("{{\"v\":{STATE_VERSION},")), "{v2}");
    assert!(v2.len() * 2 < V1.len(), "{} bytes: {v2}", v2.len());
    let mut back = ResourceState::from_json(&v2).unwrap();
    back.v = st.v;
    assert_eq!(back, st);
}

#[test]
fn default_fields_are_left_out_and_read_back_as_defaults() {
    let st = ResourceState::default();
    assert_eq!(st.to_json(), format!("{{\"v\":{STATE_VERSION}}}"));
    assert_eq!(ResourceState::from_json(&st.to_json()).unwrap(), st);
    let odd = ResourceState {
        notify: false,
        enabled: false,
        downtimes: vec![7],
        ended_downtimes: vec![u64::MAX],
        patches: vec![0],
        ..ResourceState::default()
    };
    assert_eq!(ResourceState::from_json(&odd.to_json()).unwrap(), odd);
}

#[test]
fn a_newer_state_is_refused() {
    let newer = format!("{{\"v\":{}}}", STATE_VERSION + 1);
    assert!(matches!(
        ResourceState::from_json(&newer),
        Err(StateError::TooNew { .. })
    ));
}
