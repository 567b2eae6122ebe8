//! The configuration loader, on arbitrary file text.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|text: &str| {
    let _ = centreon_pagerduty::config::load_str(
        Some(Path::new("/etc/centreon-pagerduty/centreon-pagerduty.toml")),
        text,
        &[],
        centreon_pagerduty::config::Purpose::Service,
    );
});
