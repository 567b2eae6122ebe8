//! How a state's fingerprint windows are stored: the 64-bit values packed little-endian and
//! base64-encoded in one JSON string (about 11 characters a value instead of 20 in decimal, and
//! no number formatting). Reading also takes the JSON array of numbers that states of version 1
//! hold.

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Serializer;
use std::fmt;

pub fn serialize<S: Serializer>(values: &[u64], s: S) -> Result<S::Ok, S::Error> {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    s.serialize_str(&STANDARD_NO_PAD.encode(bytes))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    d.deserialize_any(Packed)
}

struct Packed;

impl<'de> Visitor<'de> for Packed {
    type Value = Vec<u64>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("packed 64-bit values (base64) or an array of numbers")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Vec<u64>, E> {
        let bytes = STANDARD_NO_PAD.decode(s).map_err(E::custom)?;
        if bytes.len() % 8 != 0 {
            return Err(E::custom("packed values: not a multiple of 8 bytes"));
        }
        Ok(bytes
            .chunks_exact(8)
            .map(|c| {
                let mut v = [0u8; 8];
                v.copy_from_slice(c);
                u64::from_le_bytes(v)
            })
            .collect())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u64>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct W(#[serde(with = "super")] Vec<u64>);

    #[test]
    fn values_round_trip_and_version_1_arrays_are_read() {
        let w = W(vec![0, 1, u64::MAX, 12_188_877_713_584_270_418]);
        let json = serde_json::to_string(&w).unwrap();
        assert!(json.starts_with('"'), "{json}");
        assert_eq!(serde_json::from_str::<W>(&json).unwrap(), w);
        let v1 = "[0,1,18446744073709551615,12188877713584270418]";
        assert_eq!(serde_json::from_str::<W>(v1).unwrap(), w);
        assert_eq!(serde_json::from_str::<W>("\"\"").unwrap(), W(vec![]));
        assert!(serde_json::from_str::<W>("\"AAAA\"").is_err(), "3 bytes");
    }
}
