//! Fuzz the `stat --printf '%a\t%U\t%G\t%n\n'` parser (`pw_inventory::file_stat::parse_stat`):
//! every path returned is absolute, every mode octal digits, at most one entry per line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pw_inventory::file_stat::parse_stat;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = parse_stat(text);
    assert!(parsed.len() <= text.lines().count());
    for (path, mode) in &parsed {
        assert!(path.starts_with('/'), "{path:?}");
        assert!(!mode.mode.is_empty() && mode.mode.chars().all(|c| ('0'..='7').contains(&c)), "{mode:?}");
    }
});
