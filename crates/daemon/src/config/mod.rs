//! The configuration file (DESIGN §3.2): TOML, `CENTREON_PAGERDUTY_<SECTION>__<KEY>`
//! environment overrides, strict keys and values.
//!
//! Errors are reported as `FILE:LINE:COL: KEY: message` (or `VAR: KEY: message` for an
//! environment override). One role per file:
//! - `schema`: the keys, their types and defaults (serde); nothing else;
//! - `load`: the three passes — a strict TOML pass over the file alone (syntax and type errors
//!   with their position), a figment pass that layers defaults, file and environment, then the
//!   semantic pass — and where each error is located;
//! - `validate`: the semantic checks of values that the rules do not use;
//! - `compile`: the rules' settings, built once from the schema (templates, regexes, state
//!   sets, routes); what cannot be built is an error there, never a silent default;
//! - `keys`: routing keys, inline or from files whose owner and mode are checked; masked;
//! - `sync`: `[sync]` (DESIGN §4.6), its checks and its secret files.

mod compile;
mod keys;
mod load;
mod schema;
mod sync;
mod validate;

pub use keys::{read_key_file, Secret, DAEMON_USER};
pub use load::{config_path, line_col, load, load_str, ConfigError, ConfigErrors};
pub use schema::*;
pub use sync::SyncSettings;

use std::path::PathBuf;

/// Packaged location of the configuration.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/centreon-pagerduty/centreon-pagerduty.toml";
/// Environment variable naming the configuration file.
pub const CONFIG_ENV: &str = "CENTREON_PAGERDUTY_CONFIG";
/// Prefix of environment overrides; only variables containing `__` are overrides.
pub const ENV_PREFIX: &str = "CENTREON_PAGERDUTY_";

/// What the configuration is loaded for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The daemon and the commands that talk to PagerDuty: a routing key is required unless
    /// `dry_run`.
    Service,
    /// `translate`: nothing is sent, routing keys may be missing.
    Offline,
}

/// A loaded, validated configuration.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// The file it came from (`None`: embedded defaults).
    pub path: Option<PathBuf>,
    /// Routing keys read from their files, by route name (`default` for `[pagerduty]`).
    pub keys: Vec<(String, Option<Secret>)>,
    /// Things worth saying that do not stop the daemon.
    pub warnings: Vec<String>,
    /// The rules' settings, compiled once at load.
    pub settings: rules::Settings,
    /// `[sync]`, checked and with its secrets read; `None` when off.
    pub sync: Option<SyncSettings>,
}

impl Loaded {
    /// The routing key of a route (`default` for `[pagerduty]`).
    pub fn key_of(&self, route: &str) -> Option<&Secret> {
        self.keys
            .iter()
            .find(|(n, _)| n == route)
            .and_then(|(_, k)| k.as_ref())
    }

    /// The compiled settings of the rules.
    pub fn rules_settings(&self) -> rules::Settings {
        self.settings.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::HumanDuration;
    use std::path::Path;

    const KEY: &str = "R0UT1NGKEY0000000000000000000001";

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Loaded, ConfigErrors> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        load_str(
            Some(Path::new("/etc/cp.toml")),
            text,
            &env,
            Purpose::Service,
        )
    }

    fn errors(text: &str, env: &[(&str, &str)]) -> Vec<String> {
        match load(text, env) {
            Ok(_) => panic!("expected errors"),
            Err(e) => e.0.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn defaults_with_a_key_are_valid() {
        let l = load(&format!("[pagerduty]\nrouting_key = \"{KEY}\"\n"), &[]).unwrap();
        assert_eq!(l.config.pagerduty.timeout, HumanDuration::secs(10));
        assert_eq!(
            l.config.pagerduty.endpoint(),
            "https://events.pagerduty.com/v2/enqueue"
        );
        assert_eq!(l.key_of("default").map(|k| k.0.as_str()), Some(KEY));
    }

    #[test]
    fn type_errors_carry_file_line_column_and_key() {
        let e = errors(
            &format!("[pagerduty]\nrouting_key = \"{KEY}\"\ntimeout = 10\n"),
            &[],
        );
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("/etc/cp.toml:3:11: pagerduty.timeout: "),
            "{}",
            e[0]
        );
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = errors(
            &format!("[pagerduty]\nrouting_key = \"{KEY}\"\ntimout = \"5s\"\n"),
            &[],
        );
        assert!(e[0].starts_with("/etc/cp.toml:3:1: pagerduty"), "{}", e[0]);
        assert!(e[0].contains("timout"), "{}", e[0]);
    }

    #[test]
    fn bad_duration_names_the_key() {
        let e = errors(
            &format!("[pagerduty]\nrouting_key = \"{KEY}\"\ntimeout = \"ten\"\n"),
            &[],
        );
        assert!(
            e[0].starts_with("/etc/cp.toml:3:11: pagerduty.timeout: "),
            "{}",
            e[0]
        );
    }

    #[test]
    fn the_removed_severity_minimum_names_its_replacement() {
        let e = errors(
            &format!(
                "[pagerduty]\nrouting_key = \"{KEY}\"\n\n[[route]]\nname = \"vip\"\n\
                 routing_key = \"{KEY}\"\nhost_severity_min = 2\nservice_severity_level_max = 0\n"
            ),
            &[],
        );
        assert!(
            e.iter().any(
                |l| l.starts_with("/etc/cp.toml:7:21: route[0].host_severity_min: ")
                    && l.contains("host_severity_level_max = 2")
            ),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|l| l.starts_with("/etc/cp.toml:8:30: route[0].service_severity_level_max: ")),
            "{e:?}"
        );
    }

    #[test]
    fn semantic_errors_are_all_reported_with_positions() {
        let e = errors(
            "[pagerduty]\nregion = \"eu\"\n\n[alerts]\nhost_states = [\"UP\"]\n\n[[route]]\nname = \"db\"\nhosts = [\"(\"]\n",
            &[],
        );
        assert!(
            e.iter()
                .any(|l| l
                    .starts_with("/etc/cp.toml: pagerduty.routing_key: a routing key is required")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|l| l.starts_with("/etc/cp.toml:5:15: alerts.host_states: ")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|l| l.starts_with("/etc/cp.toml:9:9: route[0].hosts: invalid regex")),
            "{e:?}"
        );
    }

    #[test]
    fn environment_overrides_need_a_double_underscore() {
        let l = load(
            "",
            &[
                ("CENTREON_PAGERDUTY_PAGERDUTY__ROUTING_KEY", KEY),
                ("CENTREON_PAGERDUTY_PAGERDUTY__TIMEOUT", "3s"),
                ("CENTREON_PAGERDUTY_CONFIG", "/nowhere"),
            ],
        )
        .unwrap();
        assert_eq!(l.config.pagerduty.timeout, HumanDuration::secs(3));
        let e = errors(
            "",
            &[
                ("CENTREON_PAGERDUTY_PAGERDUTY__ROUTING_KEY", KEY),
                ("CENTREON_PAGERDUTY_PAGERDUTY__TIMEOUT", "soon"),
            ],
        );
        assert!(
            e[0].starts_with("CENTREON_PAGERDUTY_PAGERDUTY__TIMEOUT: pagerduty.timeout: "),
            "{}",
            e[0]
        );
    }

    #[test]
    fn dry_run_needs_no_key() {
        let l = load("[pagerduty]\ndry_run = true\n", &[]).unwrap();
        assert!(l.warnings.iter().any(|w| w.contains("dry_run")));
        assert_eq!(l.key_of("default"), None);
    }

    #[test]
    fn routing_keys_never_appear_in_errors() {
        let bad = "R0UT1NGKEY000000000 00000000000012345";
        let e = errors(&format!("[pagerduty]\nrouting_key = \"{bad}\"\n"), &[]);
        assert!(
            e.iter().all(|l| !l.contains(bad) && !l.contains(KEY)),
            "{e:?}"
        );
        assert!(e[0].contains("position 20"), "{e:?}");
        // A key of another length is only a warning.
        let odd = "R0UT1NGKEY00000000000000000000012345";
        let l = load(&format!("[pagerduty]\nrouting_key = \"{odd}\"\n"), &[]).unwrap();
        assert!(
            l.warnings.iter().all(|w| !w.contains(odd)),
            "{:?}",
            l.warnings
        );
        assert!(
            l.warnings.iter().any(|w| w.contains("32")),
            "{:?}",
            l.warnings
        );
        assert_eq!(format!("{:?}", Secret(KEY.into())), "…0001");
    }

    #[test]
    fn key_file_checks_owner_and_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("routing.key");
        std::fs::write(&path, format!("{KEY}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_key_file(&path, &[]).unwrap_err();
        assert!(err.contains("chmod 0640"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(read_key_file(&path, &[]).unwrap().0, KEY);
    }

    #[test]
    fn routes_compile_into_settings() {
        let l = load(
            &format!("[pagerduty]\nrouting_key = \"{KEY}\"\n[[route]]\nname = \"quiet\"\naction = \"drop\"\nhostgroups = [\"Lab\"]\n"),
            &[],
        )
        .unwrap();
        let s = l.rules_settings();
        assert_eq!(s.routes.len(), 1);
        assert_eq!(s.routes[0].target, rules::settings::Target::Drop);
        assert_eq!(
            s.default_target,
            rules::settings::Target::Key(Some(KEY.into()))
        );
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("a\nbé=c", 5), (2, 3));
    }
}

#[cfg(test)]
mod packaged {
    use super::*;
    use std::path::Path;

    #[test]
    fn packaged_config_is_the_defaults_and_asks_for_a_key() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../config/centreon-pagerduty.toml"
        ));
        let l = load(Some(path), &[], Purpose::Offline).unwrap();
        assert_eq!(l.config.delivery.concurrency, 8);
        let e = load(Some(path), &[], Purpose::Service).unwrap_err();
        assert!(
            e.to_string()
                .contains("pagerduty.routing_key: a routing key is required"),
            "{e}"
        );
        let dev = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../config/dev.toml"
        ));
        assert!(
            load(Some(dev), &[], Purpose::Service)
                .unwrap()
                .config
                .pagerduty
                .dry_run
        );
    }
}
