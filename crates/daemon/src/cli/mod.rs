//! Command line (DESIGN §3.3). Exit codes: 0 ok, 1 failure, 2 usage or configuration error.

mod commands;
mod inject;
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

#[derive(Debug, Subcommand)]
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

fn parse_duration_secs(s: &str) -> Result<i64, String> {
    crate::units::parse_duration(s).map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_CONFIG: u8 = 2;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Translate { ref files } => translate(cli.config.as_deref(), files),
        Command::Run => run(cli.config.as_deref()),
        Command::CheckConfig { json } => check_config(cli.config.as_deref(), json),
        Command::SendTest {
            resolve,
            ref route,
            all,
        } => send_test(cli.config.as_deref(), resolve, route.as_deref(), all),
        Command::Inject { ref file } => inject(cli.config.as_deref(), file),
        Command::Man => man(),
        ref other => operator(cli.config.as_deref(), other),
    }
}

fn man() -> ExitCode {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match man_page(&mut out).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cannot write the manual page: {e}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// DESCRIPTION of the manual page (`--help` keeps the one-line about).
const MAN_DESCRIPTION: &str = "\
centreon-pagerduty turns the events of Centreon Broker into PagerDuty incidents. A small Lua \
stream connector inside Centreon Broker (cbd) posts Broker's events to this daemon over a Unix \
socket; the daemon decides what pages (one state machine per host and service), stores it \
durably in its SQLite spool, and delivers it to the PagerDuty Events API v2 (trigger, \
acknowledge, resolve) with retries, pacing and dead letters.

systemd runs the daemon as centreon-pagerduty run. The other commands check the configuration, \
test the routing keys, and inspect or operate the running daemon through its socket.";

/// The manual page centreon-pagerduty(8), in roff, from the clap definitions above
/// (clap_mangen): name, synopsis, description and global options, then every command with its
/// own synopsis, description and options, then exit status, environment, files.
pub fn man_page(out: &mut dyn Write) -> std::io::Result<()> {
    use clap::CommandFactory;
    use clap_mangen::roff::{bold, roman, Inline, Roff};

    let mut cmd = Cli::command()
        .disable_help_subcommand(true)
        .subcommand_value_name("COMMAND")
        .long_about(MAN_DESCRIPTION);
    cmd.build();
    let man = clap_mangen::Man::new(cmd.clone())
        .title("CENTREON-PAGERDUTY")
        .section("8")
        .manual("System Manager's Manual");
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    page.extend_from_slice(b".SH COMMANDS\n");
    for sub in cmd.get_subcommands() {
        man_command(&mut page, sub)?;
    }

    let mut roff = Roff::new();
    let item = |roff: &mut Roff, tag: Inline, text: &str| {
        roff.control("TP", []).text([tag]).text([roman(text)]);
    };
    roff.control("SH", ["EXIT STATUS"]);
    item(&mut roff, bold("0"), "Success.");
    item(&mut roff, bold(EXIT_FAILURE.to_string()), "Failure.");
    item(
        &mut roff,
        bold(EXIT_CONFIG.to_string()),
        "Usage or configuration error.",
    );
    roff.control("PP", []).text([roman(
        "status --nagios exits as a Nagios plugin does: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
    )]);
    roff.control("SH", ["ENVIRONMENT"]);
    item(
        &mut roff,
        bold(config::CONFIG_ENV),
        "The configuration file, when -c is not given.",
    );
    item(
        &mut roff,
        bold(format!("{}<SECTION>__<KEY>", config::ENV_PREFIX)),
        &format!(
            "Overrides one key of the configuration file, e.g. {}PAGERDUTY__DRY_RUN=true. \
             Only variables containing __ are overrides.",
            config::ENV_PREFIX
        ),
    );
    roff.control("SH", ["FILES"]);
    item(
        &mut roff,
        bold(config::DEFAULT_CONFIG_PATH),
        "The configuration file (TOML).",
    );
    item(
        &mut roff,
        bold(config::ListenConfig::default().socket),
        "The socket the Broker stream connector posts events to, and through which the \
         commands talk to the daemon ([listen] socket).",
    );
    item(
        &mut roff,
        bold(config::SpoolConfig::default().dir),
        "The spool: pending deliveries, incident state, dead letters ([spool] dir).",
    );
    item(
        &mut roff,
        bold("/usr/share/centreon-broker/lua/centreon-pagerduty.lua"),
        "The Centreon Broker stream connector (Lua).",
    );
    roff.control("SH", ["SEE ALSO"]).text([
        bold("systemctl"),
        roman("(1), "),
        bold("/usr/share/doc/centreon-pagerduty/README.md"),
    ]);
    roff.to_writer(&mut page)?;
    man.render_version_section(&mut page)?;

    // Each rendered part starts with roff's two-line apostrophe preamble: keep the first only.
    let mut preamble_seen = [false, false];
    for line in String::from_utf8_lossy(&page).lines() {
        let preamble = [".ie \\n(.g .ds Aq", ".el .ds Aq"]
            .iter()
            .position(|p| line.starts_with(p));
        if let Some(i) = preamble {
            if std::mem::replace(&mut preamble_seen[i], true) {
                continue;
            }
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// One command of the COMMANDS section (`.SS centreon-pagerduty NAME`), then its own commands.
fn man_command(page: &mut Vec<u8>, cmd: &clap::Command) -> std::io::Result<()> {
    if cmd.is_hide_set() {
        return Ok(());
    }
    // The global options (-c) and -h are in OPTIONS already.
    let cmd = cmd.clone().subcommand_value_name("COMMAND").mut_args(|a| {
        if a.is_global_set() || a.get_id() == "help" {
            a.hide(true)
        } else {
            a
        }
    });
    let name = cmd.get_bin_name().unwrap_or_else(|| cmd.get_name());
    clap_mangen::roff::Roff::new()
        .control("SS", [name])
        .to_writer(page)?;
    let man = clap_mangen::Man::new(cmd.clone());
    let mut body = Vec::new();
    man.render_synopsis_section(&mut body)?;
    man.render_description_section(&mut body)?;
    man.render_options_section(&mut body)?;
    // Their .SH headings would end the COMMANDS section: paragraphs instead.
    for line in String::from_utf8_lossy(&body).lines() {
        if line.starts_with(".SH ") {
            writeln!(page, ".PP")?;
        } else {
            writeln!(page, "{line}")?;
        }
    }
    for sub in cmd.get_subcommands() {
        man_command(page, sub)?;
    }
    Ok(())
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

fn translate(config_path: Option<&Path>, files: &[PathBuf]) -> ExitCode {
    let loaded = match load_config(config_path, Purpose::Offline, true) {
        Ok(l) => l,
        Err(e) => return config_failure(&e),
    };
    let engine = rules::Engine::new(loaded.rules_settings());
    let mut store = rules::MemoryStore::default();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut err = std::io::stderr();
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    };
    let inputs: Vec<PathBuf> = if files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        files.to_vec()
    };
    let mut failed = false;
    for file in inputs {
        let result = if file.as_os_str() == "-" {
            let stdin = std::io::stdin();
            let mut input = stdin.lock();
            crate::cli::translate::translate(
                &engine, &mut store, "(stdin)", &mut input, &mut out, &mut err, &now,
            )
        } else {
            match std::fs::File::open(&file) {
                Ok(f) => {
                    let mut input = std::io::BufReader::new(f);
                    let name = file.display().to_string();
                    crate::cli::translate::translate(
                        &engine, &mut store, &name, &mut input, &mut out, &mut err, &now,
                    )
                }
                Err(e) => {
                    let _ = writeln!(err, "{}: cannot read: {e}", file.display());
                    failed = true;
                    continue;
                }
            }
        };
        if let Err(e) = result {
            let _ = writeln!(err, "{}: {e}", file.display());
            failed = true;
        }
    }
    if out.flush().is_err() {
        failed = true;
    }
    if failed {
        ExitCode::from(EXIT_FAILURE)
    } else {
        ExitCode::SUCCESS
    }
}

fn run(config_path: Option<&Path>) -> ExitCode {
    let loaded = match load_config(config_path, Purpose::Service, false) {
        Ok(l) => l,
        Err(e) => return config_failure(&e),
    };
    crate::logging::init(loaded.config.log.level);
    // Socket activation reads (and clears) the environment: before any thread starts.
    let activated = match listenfd::ListenFd::from_env().take_unix_listener(0) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("socket activation: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let runtime = match runtime(tokio::runtime::Builder::new_multi_thread().worker_threads(2)) {
        Ok(r) => r,
        Err(code) => return code,
    };
    match runtime.block_on(crate::service::run(loaded, activated)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(crate::service::RunError::Config(e)) => {
            tracing::error!("{e}");
            eprintln!("{e}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(crate::service::RunError::Other(e)) => {
            tracing::error!("{e:#}");
            eprintln!("{e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn inject(config_path: Option<&Path>, file: &Path) -> ExitCode {
    let loaded = match load_config(config_path, Purpose::Offline, true) {
        Ok(l) => l,
        Err(e) => return config_failure(&e),
    };
    let endpoint = crate::cli::commands::Target::of(&loaded).endpoint;
    let result = if file.as_os_str() == "-" {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        crate::cli::inject::inject(&endpoint, &mut input)
    } else {
        match std::fs::File::open(file) {
            Ok(f) => crate::cli::inject::inject(&endpoint, &mut std::io::BufReader::new(f)),
            Err(e) => {
                eprintln!("{}: cannot read: {e}", file.display());
                return ExitCode::from(EXIT_FAILURE);
            }
        }
    };
    match result {
        Ok(t) => {
            println!(
                "accepted {}, ignored {}, rejected {}",
                t.accepted, t.ignored, t.rejected
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn check_config(config_path: Option<&Path>, json: bool) -> ExitCode {
    let path = config::config_path(config_path);
    match config::load(Some(&path), &env_vars(), Purpose::Service) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("warning: {w}");
            }
            if json {
                let text = crate::cli::commands::show_config(&loaded);
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
                print!("{}", crate::cli::commands::show_config(&loaded));
            }
            ExitCode::SUCCESS
        }
        Err(e) => config_failure(&e),
    }
}

fn send_test(
    config_path: Option<&Path>,
    resolve: bool,
    route: Option<&str>,
    all: bool,
) -> ExitCode {
    let loaded = match load_config(config_path, Purpose::Service, false) {
        Ok(l) => l,
        Err(e) => return config_failure(&e),
    };
    // Dry run: the event is logged at info instead of being sent.
    crate::logging::init(if loaded.config.pagerduty.dry_run {
        config::LogLevel::Info
    } else {
        config::LogLevel::Warn
    });
    let runtime = match runtime(&mut tokio::runtime::Builder::new_current_thread()) {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(crate::cli::commands::send_test(
        &loaded, resolve, route, all,
    ))
}

/// Commands that talk to the running daemon.
fn operator(config_path: Option<&Path>, command: &Command) -> ExitCode {
    use crate::cli::commands::{self, DeadLetterCommand, NagiosThresholds, Target};
    let loaded = match load_config(config_path, Purpose::Offline, true) {
        Ok(l) => l,
        Err(e) => {
            if matches!(command, Command::Status { nagios: true, .. }) {
                println!(
                    "CENTREON-PAGERDUTY UNKNOWN - configuration error: {}",
                    e.0.first().map(ToString::to_string).unwrap_or_default()
                );
                return ExitCode::from(commands::nagios::UNKNOWN);
            }
            return config_failure(&e);
        }
    };
    let target = Target::of(&loaded);
    match command {
        Command::Status {
            json,
            nagios,
            warning_age,
            critical_age,
        } => commands::status(
            &target,
            *json,
            nagios.then_some(NagiosThresholds {
                warning_age: *warning_age,
                critical_age: *critical_age,
            }),
        ),
        Command::Incidents { json } => commands::incidents(&target, *json),
        Command::Resolve { dedup_keys, stale } => commands::resolve(&target, dedup_keys, *stale),
        Command::Pause { route } => commands::pause(&target, route, true),
        Command::Resume { route } => commands::pause(&target, route, false),
        Command::DeadLetters { action } => commands::dead_letters(
            &target,
            match action {
                DeadLettersAction::List { json } => DeadLetterCommand::List { json: *json },
                DeadLettersAction::Show { id } => DeadLetterCommand::Show { id: *id },
                DeadLettersAction::Retry { id, all, force } => DeadLetterCommand::Retry {
                    id: *id,
                    all: *all,
                    force: *force,
                },
                DeadLettersAction::Purge => DeadLetterCommand::Purge,
            },
        ),
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
        man_page(&mut page).unwrap();
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
