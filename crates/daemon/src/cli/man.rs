//! `centreon-pagerduty man` (hidden): the manual page centreon-pagerduty(8), as roff, from
//! the clap definitions. The packages ship it.

use super::*;
use crate::config::{self};
use std::process::ExitCode;

pub(super) fn man() -> ExitCode {
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
pub(super) const MAN_DESCRIPTION: &str = "\
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
pub(super) fn man_page(out: &mut dyn Write) -> std::io::Result<()> {
    use clap::CommandFactory;
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

    trailer().to_writer(&mut page)?;
    man.render_version_section(&mut page)?;

    write_without_repeated_preambles(out, &page)
}

/// EXIT STATUS, ENVIRONMENT, FILES and SEE ALSO.
fn trailer() -> clap_mangen::roff::Roff {
    use clap_mangen::roff::{bold, roman, Inline, Roff};
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
    roff
}

/// Each rendered part starts with roff's two-line apostrophe preamble: keep the first only.
fn write_without_repeated_preambles(out: &mut dyn Write, page: &[u8]) -> std::io::Result<()> {
    let mut preamble_seen = [false, false];
    for line in String::from_utf8_lossy(page).lines() {
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
pub(super) fn man_command(page: &mut Vec<u8>, cmd: &clap::Command) -> std::io::Result<()> {
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
