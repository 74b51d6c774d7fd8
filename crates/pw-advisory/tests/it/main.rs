//! Integration tests of pw-advisory on the real feed samples in `tests/data/` (see
//! `tests/data/PROVENANCE.md`).

mod corrupt_input;
mod matching;
mod real_feeds;
mod real_matching;
mod status;

use std::io::Read;
use std::path::PathBuf;

/// The decompressed content of a file in `tests/data/`.
pub fn data(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if name.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        bytes
    }
}
