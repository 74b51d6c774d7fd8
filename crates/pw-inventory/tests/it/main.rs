//! Integration tests of pw-inventory on real and realistic data (see tests/data/PROVENANCE.md).

mod changelog_real;
mod dpkg_real;
mod robustness;
mod rpm_fixture;

use std::io::Read;

/// Reads a file of `tests/data/`, gunzipping `.gz` files.
pub fn data(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    let raw = std::fs::read(&path).unwrap();
    if name.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        raw
    }
}
