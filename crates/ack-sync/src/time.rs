//! RFC 3339 / ISO 8601 timestamps as PagerDuty writes them (`2020-10-02T18:45:22.169Z`,
//! `2015-11-06T11:12:51-05:00`), to Unix seconds. Total: any input gives a value or `None`.

/// Unix seconds of an RFC 3339 date-time (`YYYY-MM-DDTHH:MM:SS`, optional fraction, then `Z` or
/// `±HH:MM`; `t`/space accepted for `T`, `z` for `Z`). Fractions are dropped. `None` when the
/// text is not such a date-time or is out of range (years 0000–9999).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b.len() > 64 {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(range)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        part.iter()
            .try_fold(0i64, |acc, d| Some(acc * 10 + i64::from(d - b'0')))
    };
    let year = num(0..4)?;
    let month = num(5..7)?;
    let day = num(8..10)?;
    let hour = num(11..13)?;
    let minute = num(14..16)?;
    let second = num(17..19)?;
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    // 60: a leap second, counted as the next second's start.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() => {
            if b[i + 3] != b':' {
                return None;
            }
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's days_from_civil).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pagerduty_timestamps() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2020-10-02T18:45:22.169Z"),
            Some(1_601_664_322)
        );
        assert_eq!(
            parse_rfc3339("2015-11-06T11:12:51-05:00"),
            Some(1_446_826_371)
        );
        assert_eq!(
            parse_rfc3339("2015-11-06T16:12:51+00:00"),
            Some(1_446_826_371)
        );
        assert_eq!(parse_rfc3339("2024-02-29T00:00:00Z"), Some(1_709_164_800));
    }

    #[test]
    fn rejects_what_is_not_a_timestamp() {
        for s in [
            "",
            "2020-10-02",
            "2020-10-02T18:45:22",
            "2020-13-02T18:45:22Z",
            "2023-02-29T00:00:00Z",
            "2020-10-02T24:00:00Z",
            "2020-10-02T18:45:22.Z",
            "2020-10-02T18:45:22+0100",
            "2020-10-02T18:45:22Zjunk",
            "２０２０-10-02T18:45:22Z",
            "2020-10-02T18:45:22+01:60",
        ] {
            assert_eq!(parse_rfc3339(s), None, "{s:?}");
        }
    }
}
