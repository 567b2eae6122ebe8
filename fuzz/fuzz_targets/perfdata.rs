//! Nagios/Centreon performance data.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    for metric in broker::perfdata::parse(text) {
        assert!(metric.value.is_finite());
    }
});
