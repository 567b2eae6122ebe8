//! An ingest body as the socket receives it: split into lines, each normalised.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    for line in centreon_pagerduty::ingest::lines(body) {
        let _ = centreon_pagerduty::ingest::parse_line(line);
    }
});
