//! `{placeholder}` templates for dedup keys and links.

use thiserror::Error;

/// A placeholder a template may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    HostId,
    /// The service id, `H` for hosts (Centreon's own keys).
    ServiceId,
    Host,
    Service,
    Platform,
    Url,
}

impl Var {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "host_id" => Var::HostId,
            "service_id" => Var::ServiceId,
            "host" => Var::Host,
            "service" => Var::Service,
            "platform" => Var::Platform,
            "url" => Var::Url,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(Var),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TemplateError {
    #[error("unknown placeholder {{{0}}} (known: {{host_id}}, {{service_id}}, {{host}}, {{service}}, {{platform}}, {{url}})")]
    Unknown(String),
    #[error("unclosed '{{'")]
    Unclosed,
}

impl Template {
    pub fn parse(s: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = s;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or(TemplateError::Unclosed)?;
            let name = &after[..close];
            let var = Var::from_name(name).ok_or_else(|| TemplateError::Unknown(name.into()))?;
            parts.push(Part::Var(var));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Self { parts })
    }

    /// Render with `value` giving each placeholder's text.
    pub fn render(&self, mut value: impl FnMut(Var) -> String) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Var(v) => out.push_str(&value(*v)),
            }
        }
        out
    }

    pub fn uses(&self, var: Var) -> bool {
        self.parts.contains(&Part::Var(var))
    }
}

/// Percent-encode a value for a URL query (RFC 3986 unreserved characters kept).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn renders_placeholders() {
        let t = Template::parse("{host_id}_{service_id}").unwrap();
        let s = t.render(|v| match v {
            Var::HostId => "42".into(),
            Var::ServiceId => "H".into(),
            _ => String::new(),
        });
        assert_eq!(s, "42_H");
    }

    #[test]
    fn rejects_unknown_and_unclosed() {
        assert!(matches!(
            Template::parse("{nope}"),
            Err(TemplateError::Unknown(_))
        ));
        assert_eq!(Template::parse("{host"), Err(TemplateError::Unclosed));
    }

    #[test]
    fn url_encoding() {
        assert_eq!(url_encode("a b/é"), "a%20b%2F%C3%A9");
    }
}
