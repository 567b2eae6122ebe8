//! One raw Broker event line.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &[u8]| {
    let _ = broker::normalise_line(line);
});
