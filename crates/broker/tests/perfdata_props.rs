//! Property tests of the perfdata parser.

#![allow(clippy::unwrap_used)] // tests may unwrap

use broker::perfdata::{parse, parse_range, Metric};
use proptest::prelude::*;

fn check(metrics: &[Metric]) -> Result<(), TestCaseError> {
    for m in metrics {
        prop_assert!(m.value.is_finite(), "{:?}", m);
        prop_assert!(!m.label.is_empty(), "{:?}", m);
        prop_assert!(m.min.iter().all(|v| v.is_finite()));
        prop_assert!(m.max.iter().all(|v| v.is_finite()));
    }
    Ok(())
}

/// A metric rendered the way plugins print it, and what parsing it must give.
fn rendered_metric() -> impl Strategy<Value = (String, Metric)> {
    let label = prop_oneof![
        "[a-z_/][a-z0-9_./-]{0,12}".prop_map(|l| (l.clone(), l)),
        "[a-z' =/]{1,12}".prop_map(|l| (format!("'{}'", l.replace('\'', "''")), l)),
    ];
    let uom = prop::sample::select(vec!["", "s", "ms", "%", "B", "KB", "c", "o", "b/s"]);
    let threshold = prop::option::of(prop_oneof![
        (0u32..100_000).prop_map(|n| n.to_string()),
        (0u32..100, 100u32..200).prop_map(|(a, b)| format!("@{a}:{b}")),
        (0u32..100).prop_map(|a| format!("~:{a}")),
    ]);
    let bound = prop::option::of(-1_000_000i32..1_000_000);
    (
        label,
        -1_000_000_000i64..1_000_000_000,
        0u32..4,
        any::<bool>(),
        uom,
        (threshold.clone(), threshold, bound.clone(), bound),
    )
        .prop_map(
            |((text, label), mantissa, scale, comma, uom, (warn, crit, min, max))| {
                let value = mantissa as f64 / 10f64.powi(scale as i32);
                let mut number = format!("{:.*}", scale as usize, value);
                if comma {
                    number = number.replace('.', ",");
                }
                let opt = |o: &Option<String>| o.clone().unwrap_or_default();
                let optn = |o: &Option<i32>| o.map(|n| n.to_string()).unwrap_or_default();
                let text = format!(
                    "{text}={number}{uom};{};{};{};{}",
                    opt(&warn),
                    opt(&crit),
                    optn(&min),
                    optn(&max)
                );
                let metric = Metric {
                    label,
                    value: number.replace(',', ".").parse().unwrap_or(f64::NAN),
                    uom: uom.to_owned(),
                    warn,
                    crit,
                    min: min.map(f64::from),
                    max: max.map(f64::from),
                };
                (text, metric)
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_any_string(s in any::<String>()) {
        check(&parse(&s))?;
        let _ = parse_range(&s);
    }

    #[test]
    fn never_panics_on_perfdata_alphabet(s in "['= ;:@~,.\\-0-9a-z%]{0,200}") {
        check(&parse(&s))?;
        if let Some(r) = parse_range(&s) {
            if let (Some(a), Some(b)) = (r.start, r.end) {
                prop_assert!(a <= b);
            }
        }
    }

    #[test]
    fn rendered_metrics_parse_back(
        metrics in prop::collection::vec(rendered_metric(), 0..12),
        seps in prop::collection::vec(prop::sample::select(vec![" ", "  ", "\t", " \n "]), 12),
    ) {
        let mut text = String::new();
        for (i, (t, _)) in metrics.iter().enumerate() {
            text.push_str(seps[i]);
            text.push_str(t);
        }
        let expected: Vec<Metric> = metrics.into_iter().map(|(_, m)| m).collect();
        prop_assert_eq!(parse(&text), expected);
    }
}
