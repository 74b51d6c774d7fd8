//! Parse-speed benchmark on the real 747-stanza Debian 12 status file and the rpm fixture.
//! Run: `cargo bench -p pw-inventory`.

use std::io::Read;

fn main() {
    divan::main();
}

fn data(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    let raw = std::fs::read(path).unwrap();
    if !name.ends_with(".gz") {
        return raw;
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&raw[..])
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[divan::bench]
fn dpkg_status_debian12(bencher: divan::Bencher) {
    let input = data("dpkg-status-debian12.txt.gz");
    bencher
        .counter(divan::counter::BytesCount::of_slice(&input))
        .bench(|| pw_inventory::parse_dpkg_status(divan::black_box(&input)));
}

#[divan::bench]
fn rpm_qa_almalinux9(bencher: divan::Bencher) {
    let input = data("rpm-qa-almalinux9.tsv");
    bencher
        .counter(divan::counter::BytesCount::of_slice(&input))
        .bench(|| pw_inventory::parse_rpm_qa(divan::black_box(&input)));
}

/// The floor: only visiting every line end of the same file (what any line parser must do).
#[divan::bench]
fn dpkg_status_line_scan_floor(bencher: divan::Bencher) {
    let input = data("dpkg-status-debian12.txt.gz");
    bencher
        .counter(divan::counter::BytesCount::of_slice(&input))
        .bench(|| {
            memchr::memchr_iter(b'\n', divan::black_box(&input)).fold(0, |acc, end| acc ^ end)
        });
}
