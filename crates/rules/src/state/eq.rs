//! Equality of resource states, by hand: what `engine::replay` compares before and after every
//! full status, to decide whether the state must be written.

use super::ResourceState;

/// Field by field, like a derived `PartialEq`, except that two empty lists are equal without
/// comparing their bytes. The engine compares a resource's state before and after every full
/// status to decide whether it must be written (`engine::replay`), and most of its lists are
/// empty. `==` on two empty `Vec<u64>` calls `memcmp` with the dangling pointer of an empty
/// `Vec` and a length of 0; on AMD EPYC, glibc's AVX-512 `memcmp` reads it with a masked load
/// that the CPU replays in microcode: about 80 ns, against 2 ns for a list of one (BENCHMARKS.md).
impl PartialEq for ResourceState {
    fn eq(&self, other: &Self) -> bool {
        // Destructured in full, so that a new field cannot be left out of the comparison.
        let Self {
            v,
            known,
            hard_state,
            hard_since,
            state,
            incident,
            owed,
            held,
            ack,
            downtime_depth,
            downtimes,
            in_downtime,
            flapping,
            notify,
            volatile,
            enabled,
            problem,
            last_check,
            recent,
            anchor,
            patches,
            ended_downtimes,
            seen_at,
            stale_before,
            stale_until,
            maybe_open,
            retained_unacked_hard,
        } = self;
        same_list(recent, &other.recent)
            && same_list(patches, &other.patches)
            && same_list(downtimes, &other.downtimes)
            && same_list(ended_downtimes, &other.ended_downtimes)
            && *v == other.v
            && *known == other.known
            && *hard_state == other.hard_state
            && *hard_since == other.hard_since
            && *state == other.state
            && *owed == other.owed
            && *held == other.held
            && *ack == other.ack
            && *downtime_depth == other.downtime_depth
            && *in_downtime == other.in_downtime
            && *flapping == other.flapping
            && *notify == other.notify
            && *volatile == other.volatile
            && *enabled == other.enabled
            && *last_check == other.last_check
            && *anchor == other.anchor
            && *seen_at == other.seen_at
            && *stale_before == other.stale_before
            && *stale_until == other.stale_until
            && *maybe_open == other.maybe_open
            && *retained_unacked_hard == other.retained_unacked_hard
            && *incident == other.incident
            && *problem == other.problem
    }
}

/// Two lists are equal; two empty ones without a call to `memcmp` (see `ResourceState`'s `eq`).
fn same_list(a: &[u64], b: &[u64]) -> bool {
    a.len() == b.len() && (a.is_empty() || a == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_equal_field_by_field_empty_lists_included() {
        let a = ResourceState::default();
        assert_eq!(a, ResourceState::default());
        let lists: [fn(&mut ResourceState) -> &mut Vec<u64>; 4] = [
            |s| &mut s.recent,
            |s| &mut s.patches,
            |s| &mut s.downtimes,
            |s| &mut s.ended_downtimes,
        ];
        for list in lists {
            let mut b = a.clone();
            list(&mut b).push(7);
            assert_ne!(a, b, "one list longer");
            let mut c = b.clone();
            list(&mut c)[0] = 8;
            assert_ne!(b, c, "same length, other content");
            assert_eq!(b, b.clone());
        }
        let mut d = a.clone();
        d.seen_at = Some(1);
        assert_ne!(a, d);
    }
}
