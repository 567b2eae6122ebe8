//! Unit tests of the body encoding: JSON strings, their cutting, `write_details` within its room.

use super::*;
use serde_json::json;

fn details(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

fn encode(map: &Map<String, Value>, room: usize) -> (Vec<u8>, Value) {
    let mut out = Vec::new();
    write_details(&mut out, map, room);
    let parsed: Value = serde_json::from_slice(&out).unwrap();
    (out, parsed)
}

#[test]
fn json_strings_match_serde() {
    for s in [
        "",
        "plain",
        "quote\" back\\slash",
        "\u{0}\u{1}\u{1f}\n\r\t\u{8}\u{c}\u{7f}",
        "é日👍",
    ] {
        let mut ours = Vec::new();
        write_json_str(&mut ours, s);
        assert_eq!(ours, serde_json::to_vec(s).unwrap(), "{s:?}");
        assert_eq!(json_str_len(s), ours.len());
        assert_eq!(2 + s.chars().map(json_char_len).sum::<usize>(), ours.len());
    }
}

#[test]
fn cut_strings_fit() {
    for max in 5..40 {
        for s in [
            "abcdefghijklmnopqrstuvwxyz0123456789",
            "\u{1}\u{2}\u{3}\u{4}\u{5}\u{6}",
            "ééééééééééééééééé",
        ] {
            let v = cut_json_str(s, max);
            assert!(v.len() <= max, "{s:?} {max}");
            let back: String = serde_json::from_slice(&v).unwrap();
            assert!(back.ends_with('…'));
        }
    }
}

#[test]
fn small_details_untouched() {
    let m = details(json!({"a": 1, "b": "x", "c": [1, 2, {"d": null}], "_truncated": "mine"}));
    let (out, parsed) = encode(&m, 1000);
    assert_eq!(out, serde_json::to_vec(&m).unwrap());
    assert_eq!(parsed, Value::Object(m));
}

#[test]
fn largest_string_cut_to_fit_exactly() {
    let m = details(json!({"output": "o".repeat(1000), "small": "keep", "n": 42}));
    let (out, parsed) = encode(&m, 500);
    assert!(out.len() <= 500);
    assert!(out.len() >= 495, "uses the room: {}", out.len());
    assert_eq!(parsed["small"], "keep");
    assert_eq!(parsed["n"], 42);
    assert_eq!(parsed["_truncated"], true);
    let o = parsed["output"].as_str().unwrap();
    assert!(o.ends_with('…') && o.starts_with("ooo"));
}

#[test]
fn largest_object_replaced_by_marker() {
    let big: Map<String, Value> = (0..100).map(|i| (format!("m{i}"), json!(i))).collect();
    let m = details(json!({"metrics": big, "output": "short output"}));
    let (out, parsed) = encode(&m, 200);
    assert!(out.len() <= 200);
    assert_eq!(parsed["output"], "short output");
    assert!(parsed["metrics"]
        .as_str()
        .unwrap()
        .contains("bytes removed"));
    assert_eq!(parsed["_truncated"], true);
}

#[test]
fn keys_dropped_when_values_are_not_enough() {
    let m: Map<String, Value> = (0..1000)
        .map(|i| (format!("key{i:04}"), json!(i)))
        .collect();
    let (out, parsed) = encode(&m, 2000);
    assert!(out.len() <= 2000);
    let obj = parsed.as_object().unwrap();
    assert!(obj.len() > 50 && obj.len() < 1000);
    assert_eq!(obj["_truncated"], true);
}

#[test]
fn huge_key_dropped() {
    let mut m = Map::new();
    m.insert("k".repeat(10_000), json!(1));
    m.insert("ok".into(), json!("v"));
    let (out, parsed) = encode(&m, 1000);
    assert!(out.len() <= 1000);
    assert_eq!(parsed, json!({"ok": "v", "_truncated": true}));
}

#[test]
fn deep_values_replaced_even_when_small() {
    let mut deep = json!(1);
    for _ in 0..200 {
        deep = json!([deep]);
    }
    let mut shallow = json!(1);
    for _ in 0..MAX_DETAIL_DEPTH {
        shallow = json!([shallow]);
    }
    let mut m = Map::new();
    m.insert("deep".into(), deep);
    m.insert("shallow".into(), shallow.clone());
    let (_, parsed) = encode(&m, 100_000);
    assert_eq!(parsed["deep"], DEPTH_MARKER);
    assert_eq!(parsed["shallow"], shallow);
    assert_eq!(parsed["_truncated"], true);
    assert!(depth_exceeds(&m["deep"], MAX_DETAIL_DEPTH));
    assert!(!depth_exceeds(&shallow, MAX_DETAIL_DEPTH));
}

#[test]
fn tiny_room() {
    let m = details(json!({"a": "b".repeat(30)}));
    let (out, _) = encode(&m, 3);
    assert_eq!(out, b"{}");
    let (out, parsed) = encode(&m, 19);
    assert_eq!(parsed, json!({"_truncated": true}));
    assert_eq!(out.len(), 19);
}
