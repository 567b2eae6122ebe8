//! Unit tests of the perfdata parser.

use super::*;

fn m(label: &str, value: f64, uom: &str) -> Metric {
    Metric {
        label: label.into(),
        value,
        uom: uom.into(),
        warn: None,
        crit: None,
        min: None,
        max: None,
    }
}

fn s(x: &str) -> Option<String> {
    Some(x.to_owned())
}

#[test]
fn ping_with_decimal_commas() {
    let got = parse(
        "rta=0,263ms;3000,000;5000,000;0; rtmax=0,263ms;;;; rtmin=0,263ms;;;; pl=0%;80;100;0;100",
    );
    assert_eq!(
        got,
        vec![
            Metric {
                warn: s("3000.000"),
                crit: s("5000.000"),
                min: Some(0.0),
                ..m("rta", 0.263, "ms")
            },
            m("rtmax", 0.263, "ms"),
            m("rtmin", 0.263, "ms"),
            Metric {
                warn: s("80"),
                crit: s("100"),
                min: Some(0.0),
                max: Some(100.0),
                ..m("pl", 0.0, "%")
            },
        ]
    );
}

#[test]
fn storage_in_octets() {
    assert_eq!(
        parse("used=41986296644o;48103633715;54116587930;0;60129542144 size=60129542144o"),
        vec![
            Metric {
                warn: s("48103633715"),
                crit: s("54116587930"),
                min: Some(0.0),
                max: Some(60_129_542_144.0),
                ..m("used", 41_986_296_644.0, "o")
            },
            m("size", 60_129_542_144.0, "o"),
        ]
    );
}

#[test]
fn quoted_labels() {
    assert_eq!(
        parse("'my disk /'=12MB;@10:20;~:30;0;100"),
        vec![Metric {
            warn: s("@10:20"),
            crit: s("~:30"),
            min: Some(0.0),
            max: Some(100.0),
            ..m("my disk /", 12.0, "MB")
        }]
    );
    assert_eq!(parse("'it''s'=1"), vec![m("it's", 1.0, "")]);
    assert_eq!(parse("'a = b'=2s"), vec![m("a = b", 2.0, "s")]);
    assert_eq!(parse("'''q'''=3"), vec![m("'q'", 3.0, "")]);
    assert_eq!(
        parse("'a b'=1 c=2 'd e'=3"),
        vec![m("a b", 1.0, ""), m("c", 2.0, ""), m("d e", 3.0, "")]
    );
    // Empty label, missing `=`, unterminated quote.
    assert_eq!(parse("''=1 x=2"), vec![m("x", 2.0, "")]);
    assert_eq!(parse("'a b' =1 x=2"), vec![m("x", 2.0, "")]);
    assert_eq!(parse("x=2 'never closed=1 y=3"), vec![m("x", 2.0, "")]);
}

#[test]
fn bad_metrics_skipped() {
    assert_eq!(parse("bad==; good=1"), vec![m("good", 1.0, "")]);
    assert_eq!(parse("x=U"), vec![]);
    assert_eq!(parse("x=U;;;; y=4"), vec![m("y", 4.0, "")]);
    assert_eq!(parse(""), vec![]);
    assert_eq!(parse("   \t\n "), vec![]);
    assert_eq!(parse("novalue= a=1"), vec![m("a", 1.0, "")]);
    assert_eq!(parse("noequals a=1"), vec![m("a", 1.0, "")]);
    assert_eq!(parse("=5 a=1"), vec![m("a", 1.0, "")]);
    assert_eq!(
        parse("a=1.2.3 b=1,000,000 c=ms d=- e=. f=5"),
        vec![m("f", 5.0, "")]
    );
    assert_eq!(
        parse("a=1e999 b=NaN c=inf d=infinity e=2"),
        vec![m("e", 2.0, "")]
    );
    assert_eq!(parse("a=1=2 b=3"), vec![m("b", 3.0, "")]);
}

#[test]
fn number_forms() {
    assert_eq!(
        parse("a=1e3 b=-5 c=+5 d=.5 e=5. f=2.5E-2s g=-,5 h=1e i=1e+2x"),
        vec![
            m("a", 1000.0, ""),
            m("b", -5.0, ""),
            m("c", 5.0, ""),
            m("d", 0.5, ""),
            m("e", 5.0, ""),
            m("f", 0.025, "s"),
            m("g", -0.5, ""),
            m("h", 1.0, "e"),
            m("i", 100.0, "x"),
        ]
    );
    let long = format!("x=0,{}1", "0".repeat(100));
    assert_eq!(parse(&long)[0].value, 1e-101);
}

#[test]
fn units() {
    let got = parse("a=1s b=2ms c=3% d=4B e=5KB f=6c g=7o h=8b/s i=9°C j=10us");
    let uoms: Vec<&str> = got.iter().map(|m| m.uom.as_str()).collect();
    assert_eq!(
        uoms,
        ["s", "ms", "%", "B", "KB", "c", "o", "b/s", "°C", "us"]
    );
}

#[test]
fn spacing_and_fields() {
    assert_eq!(
        parse("  a=1   b=2\t\tc=3\n"),
        vec![m("a", 1.0, ""), m("b", 2.0, ""), m("c", 3.0, "")]
    );
    // Missing trailing fields, extra fields, bad min/max kept as None.
    assert_eq!(
        parse("a=1;5 b=2;;;;;;;; c=3;1;2;zero;10KB"),
        vec![
            Metric {
                warn: s("5"),
                ..m("a", 1.0, "")
            },
            m("b", 2.0, ""),
            Metric {
                warn: s("1"),
                crit: s("2"),
                max: Some(10.0),
                ..m("c", 3.0, "")
            },
        ]
    );
    // A repeated label is returned twice (the caller decides; the last usually wins).
    assert_eq!(parse("a=1 a=2").len(), 2);
}

#[test]
fn ranges() {
    let r = |start, end, inside| Some(Range { start, end, inside });
    assert_eq!(parse_range("10"), r(Some(0.0), Some(10.0), false));
    assert_eq!(parse_range("10:"), r(Some(10.0), None, false));
    assert_eq!(parse_range("~:10"), r(None, Some(10.0), false));
    assert_eq!(parse_range("10:20"), r(Some(10.0), Some(20.0), false));
    assert_eq!(parse_range("@10:20"), r(Some(10.0), Some(20.0), true));
    assert_eq!(parse_range("~:"), r(None, None, false));
    assert_eq!(parse_range(":5"), r(Some(0.0), Some(5.0), false));
    assert_eq!(parse_range(":"), r(Some(0.0), None, false));
    assert_eq!(parse_range(" 3000,5 "), r(Some(0.0), Some(3000.5), false));
    assert_eq!(parse_range("-10:-5"), r(Some(-10.0), Some(-5.0), false));
    for bad in [
        "", "@", "~", "20:10", "a", "1:2:3", "10s", "1e999", "@~", "10:x",
    ] {
        assert_eq!(parse_range(bad), None, "{bad}");
    }
}

#[test]
fn range_alerts() {
    let check = |range: &str, value: f64| parse_range(range).unwrap().alerts(value);
    assert!(!check("10", 0.0) && !check("10", 10.0));
    assert!(check("10", -1.0) && check("10", 11.0));
    assert!(!check("10:", 1e9) && check("10:", 9.9));
    assert!(!check("~:10", -1e9) && check("~:10", 10.1));
    assert!(check("@10:20", 10.0) && check("@10:20", 20.0) && !check("@10:20", 21.0));
    assert!(!check("~:", 5.0) && check("@~:", 5.0));
}

#[test]
fn serialises_for_custom_details() {
    let json = serde_json::to_value(parse("'a b'=1ms;2;;0")).unwrap();
    assert_eq!(
        json,
        serde_json::json!([{
            "label": "a b", "value": 1.0, "uom": "ms", "warn": "2",
            "crit": null, "min": 0.0, "max": null
        }])
    );
}
