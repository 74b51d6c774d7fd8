//! The parse of an agent's full inventory report (`POST /api/v1/agent/inventory`), as the
//! controller reads it: plain serde_json, and serde_json with the path to a refused value
//! tracked (`serde_path_to_error`, what axum's `Json` reads with; pw-server's `ApiJson` reads
//! with it only a body that plain serde_json refused). The report holds the packages of the real
//! 747-stanza Debian 12 status file in pw-inventory's test data, each listed twice under another
//! name to reach the 1,500 packages of pw-loadgen's hosts. Run: `cargo bench -p pw-protocol`.

use std::io::Read;

use pw_protocol::InventoryReport;

fn main() {
    divan::main();
}

/// A report body of ~1,500 packages.
fn report_body() -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../pw-inventory/tests/data/dpkg-status-debian12.txt.gz");
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut status = Vec::new();
    flate2::read::GzDecoder::new(&raw[..])
        .read_to_end(&mut status)
        .expect("the status file decompresses");
    let parsed = pw_inventory::parse_dpkg_status(&status);
    assert!(parsed.is_clean(), "{:?}", parsed.problems.first());
    let mut packages = parsed.packages.clone();
    packages.extend(parsed.packages.into_iter().map(|mut p| {
        p.name.push_str("-twin");
        p
    }));
    let report = serde_json::json!({
        "protocol_version": 1,
        "hostname": "web-01.example.org",
        "os": "debian:12",
        "packages": packages,
        "pending_updates": null,
        "reboot_required": false,
        "collected_at": "2026-12-07T12:00:00Z",
    });
    serde_json::to_vec(&report).expect("the report serializes")
}

#[divan::bench]
fn plain(bencher: divan::Bencher) {
    let body = report_body();
    bencher
        .counter(divan::counter::BytesCount::of_slice(&body))
        .bench(|| serde_json::from_slice::<InventoryReport>(divan::black_box(&body)).unwrap());
}

#[divan::bench]
fn path_tracked(bencher: divan::Bencher) {
    let body = report_body();
    bencher
        .counter(divan::counter::BytesCount::of_slice(&body))
        .bench(|| {
            let mut reader = serde_json::Deserializer::from_slice(divan::black_box(&body));
            let report: InventoryReport = serde_path_to_error::deserialize(&mut reader).unwrap();
            reader.end().unwrap();
            report
        });
}
