//! `[[route]]` selection: in order, first match wins, else the `[pagerduty]` route.

use crate::settings::{Criteria, Route, Settings, Target, DEFAULT_ROUTE};
use broker::{state_name, Context, StateCode};

/// What a route is matched against.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub is_host: bool,
    pub host: &'a str,
    pub service: Option<&'a str>,
    pub state: StateCode,
    pub context: &'a Context,
}

/// The chosen route: its name and target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen<'a> {
    pub name: &'a str,
    pub target: &'a Target,
}

pub fn choose<'a>(settings: &'a Settings, subject: &Subject<'_>) -> Chosen<'a> {
    settings
        .routes
        .iter()
        .find(|r| matches(&r.criteria, subject))
        .map(|Route { name, target, .. }| Chosen { name, target })
        .unwrap_or(Chosen {
            name: DEFAULT_ROUTE,
            target: &settings.default_target,
        })
}

fn matches(c: &Criteria, s: &Subject<'_>) -> bool {
    let any_name = |wanted: &[String], have: &[String]| {
        wanted.is_empty() || wanted.iter().any(|w| have.iter().any(|h| h == w))
    };
    any_name(&c.hostgroups, &s.context.hostgroups)
        && any_name(&c.servicegroups, &s.context.servicegroups)
        && (c.hosts.is_empty() || c.hosts.iter().any(|r| r.is_match(s.host)))
        && (c.services.is_empty()
            || s.service
                .is_some_and(|svc| c.services.iter().any(|r| r.is_match(svc))))
        && (c.pollers.is_empty()
            || s.context
                .poller
                .as_deref()
                .is_some_and(|p| c.pollers.iter().any(|w| w == p)))
        && (c.states.is_empty() || {
            let name = state_name(s.is_host, s.state);
            c.states.iter().any(|w| w.eq_ignore_ascii_case(name))
        })
        && c.host_severity_level_max
            .is_none_or(|max| s.context.host_severity.is_some_and(|v| v <= max))
        && c.service_severity_level_max
            .is_none_or(|max| !s.is_host && s.context.service_severity.is_some_and(|v| v <= max))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use crate::settings::anchored_regex;

    fn route(name: &str, criteria: Criteria) -> Route {
        Route {
            name: name.into(),
            target: Target::Key(Some(format!("key-{name}"))),
            criteria,
        }
    }

    #[test]
    fn first_match_wins_and_default_otherwise() {
        let settings = Settings {
            routes: vec![
                route(
                    "db",
                    Criteria {
                        hostgroups: vec!["Databases".into()],
                        ..Default::default()
                    },
                ),
                route(
                    "web",
                    Criteria {
                        hosts: vec![anchored_regex("srv-web-.*").unwrap()],
                        states: vec!["critical".into()],
                        ..Default::default()
                    },
                ),
            ],
            ..Default::default()
        };
        let ctx = Context {
            hostgroups: vec!["Databases".into()],
            ..Default::default()
        };
        let subject = |host, state, ctx| Subject {
            is_host: false,
            host,
            service: Some("HTTP"),
            state,
            context: ctx,
        };
        assert_eq!(choose(&settings, &subject("x", 2, &ctx)).name, "db");
        let none = Context::default();
        assert_eq!(
            choose(&settings, &subject("srv-web-01", 2, &none)).name,
            "web"
        );
        // Regexes are anchored: a prefix does not match.
        assert_eq!(
            choose(&settings, &subject("a-srv-web-01", 2, &none)).name,
            "default"
        );
        // AND across criteria: WARNING does not match the web route.
        assert_eq!(
            choose(&settings, &subject("srv-web-01", 1, &none)).name,
            "default"
        );
    }

    #[test]
    fn severity_level_max_needs_a_severity() {
        let settings = Settings {
            routes: vec![route(
                "vip",
                Criteria {
                    host_severity_level_max: Some(2),
                    ..Default::default()
                },
            )],
            ..Default::default()
        };
        let mut ctx = Context::default();
        fn s(ctx: &Context) -> Subject<'_> {
            Subject {
                is_host: true,
                host: "h",
                service: None,
                state: 1,
                context: ctx,
            }
        }
        assert_eq!(choose(&settings, &s(&ctx)).name, "default");
        ctx.host_severity = Some(1);
        assert_eq!(choose(&settings, &s(&ctx)).name, "vip");
    }
}
