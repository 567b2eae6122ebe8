//! `centreon-pagerduty check-config`: validate the configuration and show the effective
//! values, secrets masked.

use super::*;
use crate::config::{self, Loaded, Purpose};
use std::path::Path;
use std::process::ExitCode;

pub(super) fn check_config(config_path: Option<&Path>, json: bool) -> ExitCode {
    let path = config::config_path(config_path);
    match config::load(Some(&path), &env_vars(), Purpose::Service) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("warning: {w}");
            }
            if json {
                let text = show_config(&loaded);
                let value: toml::Value =
                    toml::from_str(&text).unwrap_or(toml::Value::Boolean(false));
                println!(
                    "{}",
                    serde_json::to_string_pretty(&value).unwrap_or_default()
                );
            } else {
                println!(
                    "# {} is valid. Effective values (routing keys masked):",
                    path.display()
                );
                print!("{}", show_config(&loaded));
            }
            ExitCode::SUCCESS
        }
        Err(e) => config_failure(&e),
    }
}

/// `check-config`: the effective configuration with secrets masked.
pub(super) fn show_config(loaded: &Loaded) -> String {
    let mut c = loaded.config.clone();
    let mask = |s: &mut crate::config::Secret| {
        if !s.0.is_empty() {
            s.0 = pagerduty::mask_routing_key(&s.0);
        }
    };
    mask(&mut c.pagerduty.routing_key);
    for r in &mut c.route {
        if let Some(k) = r.routing_key.as_mut() {
            mask(k);
        }
    }
    let mut text = toml::to_string(&c).unwrap_or_default();
    for (route, key) in &loaded.keys {
        if let Some(k) = key {
            text.push_str(&format!(
                "# routing key of route {route}: {}\n",
                pagerduty::mask_routing_key(&k.0)
            ));
        }
    }
    text
}
