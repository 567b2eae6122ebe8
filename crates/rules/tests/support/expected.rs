//! What PagerDuty should hear: the (dedup_key, action) pairs of an outcome, the two dedup keys
//! (`S`, `H`), the pair builders `trig`, `ack` and `res`, and an outcome's one trigger and its
//! payload.

use pagerduty::Action;
use rules::Outcome;

pub fn sent(o: &Outcome) -> Vec<(String, Action)> {
    o.outgoing
        .iter()
        .map(|o| (o.dedup_key.clone(), o.action))
        .collect()
}

pub const S: &str = "42_7";
pub const H: &str = "42_H";

pub fn trig(key: &str) -> (String, Action) {
    (key.into(), Action::Trigger)
}
pub fn ack(key: &str) -> (String, Action) {
    (key.into(), Action::Acknowledge)
}
pub fn res(key: &str) -> (String, Action) {
    (key.into(), Action::Resolve)
}

/// The one trigger of an outcome, read back from its body.
pub fn the_trigger(o: &Outcome) -> pagerduty::Event {
    let triggers: Vec<_> = o
        .outgoing
        .iter()
        .filter(|o| o.action == Action::Trigger)
        .collect();
    assert_eq!(triggers.len(), 1, "{:?}", sent(o));
    triggers[0].event().expect("a readable body")
}

pub fn payload(o: &Outcome) -> pagerduty::Payload {
    the_trigger(o).payload.expect("a trigger has a payload")
}
