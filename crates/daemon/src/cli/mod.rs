//! Command line (DESIGN §3.3). Exit codes: 0 ok, 1 failure, 2 usage or configuration error.

mod check_config;
mod client;
mod damage;
mod dead_letters;
mod incidents;
mod inject;
mod man;
mod pause;
mod resolve;
mod run;
mod send_test;
mod status;
mod translate;

use crate::config::{self, ConfigErrors, Loaded, Purpose};
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Pages people from Centreon: Centreon Broker events in, PagerDuty incidents out.
#[derive(Debug, Parser)]
#[command(name = "centreon-pagerduty", version, about)]
pub struct Cli {
    /// Configuration file [default: $CENTREON_PAGERDUTY_CONFIG, else
    /// /etc/centreon-pagerduty/centreon-pagerduty.toml]
    #[arg(short, long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon (systemd calls this).
    Run,
    /// Validate the configuration and show the effective values, secrets masked.
    CheckConfig {
        /// Machine output.
        #[arg(long)]
        json: bool,
    },
    /// Send a test event to PagerDuty now, with the daemon's HTTP settings (bypasses the spool).
    SendTest {
        /// Send the resolve of the test event instead.
        #[arg(long)]
        resolve: bool,
        /// Route to test (default: the [pagerduty] route, named "default").
        #[arg(long, conflicts_with = "all")]
        route: Option<String>,
        /// Test every route that has a routing key.
        #[arg(long)]
        all: bool,
        /// Test the [sync] APIs instead: list one page of PagerDuty's acknowledged incidents
        /// and make an authenticated call to Centreon; nothing is sent or acknowledged.
        #[arg(long, conflicts_with_all = ["resolve", "route", "all"])]
        sync: bool,
    },
    /// Queues, open incidents, paused keys, dead letters, last errors.
    Status {
        /// Machine output.
        #[arg(long, conflicts_with = "nagios")]
        json: bool,
        /// One Nagios/Centreon plugin line with perfdata; exit 0/1/2/3.
        #[arg(long)]
        nagios: bool,
        /// With --nagios: WARNING when the oldest pending delivery is older.
        #[arg(long, default_value = "5m", value_parser = parse_duration_secs)]
        warning_age: i64,
        /// With --nagios: CRITICAL when the oldest pending delivery is older.
        #[arg(long, default_value = "15m", value_parser = parse_duration_secs)]
        critical_age: i64,
    },
    /// List open incidents: key, route, opened, acked, last event.
    Incidents {
        /// Machine output.
        #[arg(long)]
        json: bool,
    },
    /// Send resolves now for open incidents.
    Resolve {
        /// Dedup keys of the incidents to resolve.
        #[arg(required_unless_present = "stale")]
        dedup_keys: Vec<String>,
        /// Resolve every incident with no event for this long (e.g. 7d).
        #[arg(long, value_parser = parse_duration_secs, conflicts_with = "dedup_keys")]
        stale: Option<i64>,
    },
    /// Hold deliveries of one route's routing key (events keep queueing).
    Pause {
        /// Route name ([[route]] name; the [pagerduty] route is "default").
        route: String,
    },
    /// Release deliveries of one route's routing key.
    Resume {
        /// Route name ([[route]] name; the [pagerduty] route is "default").
        route: String,
    },
    /// Events PagerDuty refused: list | show ID | retry ID|--all [--force] | purge.
    DeadLetters {
        #[command(subcommand)]
        action: DeadLettersAction,
    },
    /// The spool: acknowledge-damage clears the alarm of a damaged spool set aside.
    Spool {
        #[command(subcommand)]
        action: SpoolAction,
    },
    /// Post raw Broker events (NDJSON) to the daemon as the shim does.
    Inject {
        /// NDJSON file; `-` reads standard input.
        file: PathBuf,
    },
    /// Translate raw Broker events (NDJSON, files or stdin) into PagerDuty events (NDJSON),
    /// offline, through the same rules. Routing keys are masked.
    Translate {
        /// Input files; none or `-` reads standard input.
        files: Vec<PathBuf>,
    },
    /// Print the manual page, centreon-pagerduty(8), as roff: `centreon-pagerduty man | man -l -`.
    /// Hidden: the packages ship it, built by packaging/lib.sh.
    #[command(hide = true)]
    Man,
}

#[derive(Debug, Clone, Subcommand)]
pub enum DeadLettersAction {
    /// List dead letters, newest first.
    List {
        /// Machine output.
        #[arg(long)]
        json: bool,
    },
    /// Show one dead letter (routing key masked).
    Show {
        /// Dead letter id (see list).
        id: i64,
    },
    /// Queue dead letters again, behind what is pending for their key.
    Retry {
        /// Dead letter id (see list).
        #[arg(required_unless_present = "all")]
        id: Option<i64>,
        /// Retry every dead letter.
        #[arg(long, conflicts_with = "id")]
        all: bool,
        /// Retry even behind a newer event already delivered for the same key.
        #[arg(long)]
        force: bool,
    },
    /// Delete every dead letter.
    Purge,
}

#[derive(Debug, Clone, Subcommand)]
pub enum SpoolAction {
    /// The damage reported by status has been seen (the files set aside stay where they are).
    AcknowledgeDamage,
}

fn parse_duration_secs(s: &str) -> Result<i64, String> {
    crate::units::parse_duration(s).map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

pub const EXIT_FAILURE: u8 = 1;

pub const EXIT_CONFIG: u8 = 2;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Translate { ref files } => translate::command(cli.config.as_deref(), files),
        Command::Run => run::run(cli.config.as_deref()),
        Command::CheckConfig { json } => check_config::check_config(cli.config.as_deref(), json),
        Command::SendTest { sync: true, .. } => send_test::sync_command(cli.config.as_deref()),
        Command::SendTest {
            resolve,
            ref route,
            all,
            sync: false,
        } => send_test::command(cli.config.as_deref(), resolve, route.as_deref(), all),
        Command::Inject { ref file } => inject::command(cli.config.as_deref(), file),
        Command::Man => man::man(),
        ref other => operator(cli.config.as_deref(), other),
    }
}

fn env_vars() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// Load the configuration. Without `-c` and `$CENTREON_PAGERDUTY_CONFIG`, a missing packaged
/// file means defaults when `defaults_ok`.
fn load_config(
    cli: Option<&Path>,
    purpose: Purpose,
    defaults_ok: bool,
) -> Result<Loaded, ConfigErrors> {
    let explicit = cli.is_some() || std::env::var_os(config::CONFIG_ENV).is_some();
    let path = config::config_path(cli);
    let path = (explicit || !defaults_ok || path.exists()).then_some(path);
    config::load(path.as_deref(), &env_vars(), purpose)
}

fn runtime(builder: &mut tokio::runtime::Builder) -> Result<tokio::runtime::Runtime, ExitCode> {
    builder.enable_all().build().map_err(|e| {
        eprintln!("cannot start the runtime: {e}");
        ExitCode::from(EXIT_FAILURE)
    })
}

fn config_failure(errors: &ConfigErrors) -> ExitCode {
    eprintln!("{errors}");
    ExitCode::from(EXIT_CONFIG)
}

/// Commands that talk to the running daemon.
fn operator(config_path: Option<&Path>, command: &Command) -> ExitCode {
    let loaded = match load_config(config_path, Purpose::Offline, true) {
        Ok(l) => l,
        Err(e) => {
            if matches!(command, Command::Status { nagios: true, .. }) {
                println!(
                    "CENTREON-PAGERDUTY UNKNOWN - configuration error: {}",
                    e.0.first().map(ToString::to_string).unwrap_or_default()
                );
                return ExitCode::from(status::nagios::UNKNOWN);
            }
            return config_failure(&e);
        }
    };
    let target = client::Target::of(&loaded);
    match command {
        Command::Status {
            json,
            nagios,
            warning_age,
            critical_age,
        } => status::status(
            &target,
            *json,
            nagios.then_some(status::NagiosThresholds {
                warning_age: *warning_age,
                critical_age: *critical_age,
            }),
        ),
        Command::Incidents { json } => incidents::incidents(&target, *json),
        Command::Resolve { dedup_keys, stale } => resolve::resolve(&target, dedup_keys, *stale),
        Command::Pause { route } => pause::pause(&target, route, true),
        Command::Resume { route } => pause::pause(&target, route, false),
        Command::DeadLetters { action } => dead_letters::dead_letters(&target, action),
        Command::Spool {
            action: SpoolAction::AcknowledgeDamage,
        } => damage::acknowledge_damage(&target),
        _ => ExitCode::from(EXIT_CONFIG),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn man_page_documents_every_visible_command_in_section_8() {
        let mut page = Vec::new();
        man::man_page(&mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(page.contains("\n.TH CENTREON-PAGERDUTY 8 "), "{page}");
        assert_eq!(page.matches(".ds Aq").count(), 2, "one apostrophe preamble");
        for heading in ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS"] {
            assert!(page.contains(&format!("\n.SH {heading}\n")), "no {heading}");
        }
        for heading in ["EXIT STATUS", "ENVIRONMENT", "FILES", "SEE ALSO"] {
            assert!(
                page.contains(&format!("\n.SH \"{heading}\"\n"))
                    || page.contains(&format!("\n.SH {heading}\n")),
                "no {heading}"
            );
        }
        let mut cmd = Cli::command();
        cmd.build();
        let mut names = Vec::new();
        let documented = |s: &&clap::Command| !s.is_hide_set() && s.get_name() != "help";
        for sub in cmd.get_subcommands().filter(documented) {
            names.push(sub.get_name().to_owned());
            for subsub in sub.get_subcommands().filter(documented) {
                names.push(format!("{} {}", sub.get_name(), subsub.get_name()));
            }
        }
        assert!(names.contains(&"dead-letters retry".to_owned()));
        for name in names {
            assert!(
                page.contains(&format!("\n.SS \"centreon-pagerduty {name}\"\n")),
                "no .SS for {name}"
            );
        }
        assert!(
            !page.contains("pagerduty man\""),
            "the man command is hidden"
        );
        assert!(!page.contains(" help\""), "no help command");
    }

    #[test]
    fn man_command_is_hidden_from_help() {
        let help = Cli::command().render_help().to_string();
        assert!(help.contains("check-config"));
        assert!(
            !help.lines().any(|l| l.trim_start().starts_with("man ")),
            "{help}"
        );
    }
}
