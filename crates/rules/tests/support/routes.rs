//! Routing settings: a route to a key, and the two keys of `routed_settings` (the Web
//! hostgroup's and the default).

use rules::settings::{Criteria, Route, Target};
use rules::Settings;

pub fn route(name: &str, key: &str, criteria: Criteria) -> Route {
    Route {
        name: name.into(),
        target: Target::Key(Some(key.into())),
        criteria,
    }
}

pub const KEY_DEFAULT: &str = "R0000000000000000000000000000def";
pub const KEY_WEB: &str = "R0000000000000000000000000000web";

pub fn routed_settings() -> Settings {
    Settings {
        routes: vec![route(
            "web",
            KEY_WEB,
            Criteria {
                hostgroups: vec!["Web".into()],
                ..Default::default()
            },
        )],
        default_target: Target::Key(Some(KEY_DEFAULT.into())),
        ..Settings::default()
    }
}
