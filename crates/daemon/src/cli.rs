//! Command line (DESIGN §3.3). Exit codes: 0 ok, 1 failure, 2 usage or configuration error.

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
}

pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_CONFIG: u8 = 2;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Translate { ref files } => translate(cli.config.as_deref(), files),
        Command::Run => run(cli.config.as_deref()),
        Command::Inject { ref file } => inject(cli.config.as_deref(), file),
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
            crate::translate::translate(
                &engine, &mut store, "(stdin)", &mut input, &mut out, &mut err, &now,
            )
        } else {
            match std::fs::File::open(&file) {
                Ok(f) => {
                    let mut input = std::io::BufReader::new(f);
                    let name = file.display().to_string();
                    crate::translate::translate(
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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    match runtime.block_on(crate::run::run(loaded, activated)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(crate::run::RunError::Config(e)) => {
            tracing::error!("{e}");
            eprintln!("{e}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(crate::run::RunError::Other(e)) => {
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
    let socket = PathBuf::from(&loaded.config.listen.socket);
    let result = if file.as_os_str() == "-" {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        crate::inject::inject(&socket, &mut input)
    } else {
        match std::fs::File::open(file) {
            Ok(f) => crate::inject::inject(&socket, &mut std::io::BufReader::new(f)),
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
