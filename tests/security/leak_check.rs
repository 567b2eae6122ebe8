//! 4. Routing keys are never printed whole: the secret keys, and the check of every output.

use crate::output::Out;

/// 32 letters and digits, random-looking: none of its 8-character windows occurs by chance.
pub(crate) const SECRET: &str = "Qx7Vb2Nm9Lk4Jh6Gf1Ds8Ap3Zt5Wr0Ey";
pub(crate) const SECRET_MASKED: &str = "…r0Ey";
/// The key of a route read from a `routing_key_file`.
pub(crate) const FILE_SECRET: &str = "Hp3Tc8Ku1Yn6Wd0Rs4Gm7Vb2Xq9Le5Jz";
pub(crate) const FILE_SECRET_MASKED: &str = "…e5Jz";

/// Collects every text shown to someone and what of the keys it holds.
#[derive(Default)]
pub(crate) struct LeakCheck {
    checked: Vec<String>,
    leaks: Vec<String>,
}

impl LeakCheck {
    /// The whole key, or any 8 consecutive characters of it (the mask shows 4).
    pub(crate) fn scan(text: &str) -> Option<String> {
        for key in [SECRET, FILE_SECRET] {
            if text.contains(key) {
                return Some(format!("the whole key {key}"));
            }
            let chars: Vec<char> = key.chars().collect();
            for w in chars.windows(8) {
                let w: String = w.iter().collect();
                if text.contains(&w) {
                    return Some(format!("{w:?}, 8 characters of {key}"));
                }
            }
        }
        None
    }

    pub(crate) fn check(&mut self, label: &str, text: &str) {
        self.checked.push(label.to_owned());
        if let Some(what) = Self::scan(text) {
            let line = text
                .lines()
                .find(|l| Self::scan(l).is_some())
                .unwrap_or("(across lines)");
            self.leaks
                .push(format!("{label}: shows {what}\n      in: {line}"));
        }
    }

    pub(crate) fn out(&mut self, o: &Out) {
        self.check(&format!("{} stdout", o.what), &o.stdout);
        self.check(&format!("{} stderr", o.what), &o.stderr);
    }

    pub(crate) fn assert_clean(&self) {
        assert!(
            self.leaks.is_empty(),
            "a routing key is printed (more than `…` and its last 4 characters) in {} of {} outputs:\n  {}",
            self.leaks.len(),
            self.checked.len(),
            self.leaks.join("\n  ")
        );
        eprintln!(
            "{} outputs checked, no routing key in any",
            self.checked.len()
        );
    }
}
