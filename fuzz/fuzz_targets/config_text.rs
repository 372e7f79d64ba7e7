//! `config::parse_sweep` on arbitrary UTF-8 text (a config file as a user may write it).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        qnet_exp_fuzz::check_sweep(text, &[]);
    }
});
