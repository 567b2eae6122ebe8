//! Hash maps and sets keyed by [`ResourceId`], with a hash made for two integers.
//!
//! The daemon looks a resource up in several maps for every event (its cached state, the
//! batch's touched and written sets, the replay log). The standard library's SipHash, keyed
//! against hash flooding, cost about 4 % of a steady batch. Resource ids come from Broker, not
//! from an untrusted peer, so a multiply-and-rotate hash (the one the Rust compiler uses for
//! its own tables) is enough; its last rotation brings the mixed high bits down to where the
//! table takes its bucket index.

use crate::event::ResourceId;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A map keyed by resource.
pub type IdMap<V> = HashMap<ResourceId, V, BuildHasherDefault<IdHasher>>;
/// A set of resources.
pub type IdSet = HashSet<ResourceId, BuildHasherDefault<IdHasher>>;

const SEED: u64 = 0xf135_7aea_2e62_a9c5;

/// The hasher of [`IdMap`] and [`IdSet`]. Fast for integers; not keyed.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(SEED);
    }

    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, BuildHasherDefault};

    #[test]
    fn a_map_finds_what_it_holds() {
        let mut map = IdMap::default();
        for h in 1..200u64 {
            for s in 0..50u64 {
                map.insert(ResourceId::service(h, s), h * 1000 + s);
            }
        }
        assert_eq!(map.len(), 199 * 50);
        assert_eq!(map.get(&ResourceId::service(7, 3)), Some(&7003));
        assert_eq!(map.get(&ResourceId::host(7)), Some(&7000));
        assert_eq!(map.get(&ResourceId::service(200, 0)), None);
    }

    #[test]
    fn nearby_ids_spread_over_the_high_and_low_bits() {
        let build = BuildHasherDefault::<IdHasher>::default();
        let hashes: Vec<u64> = (0..1024u64)
            .map(|s| build.hash_one(ResourceId::service(1000 + s / 10, 50_000 + s)))
            .collect();
        // hashbrown takes the bucket from the low bits and a tag from the top 7.
        let low: HashSet<u64> = hashes.iter().map(|h| h & 1023).collect();
        let top: HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        assert!(low.len() > 600, "{} distinct buckets of 1024", low.len());
        assert_eq!(top.len(), 128, "every tag used");
    }
}
