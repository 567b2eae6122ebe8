//! `centreon-pagerduty`: see `centreon-pagerduty --help`.

fn main() -> std::process::ExitCode {
    centreon_pagerduty::cli::main()
}
