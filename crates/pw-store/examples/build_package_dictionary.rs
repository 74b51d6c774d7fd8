//! Builds the dictionary of stored package lists (`src/zdict.rs`, family `PACKAGES`): the
//! canonical package list (pw-protocol's `InventoryContent::encode`) of a real Debian 12
//! machine, used by zstd as raw content (what a host's list shares with it costs a reference).
//!
//! ```sh
//! cargo run -p pw-store --example build_package_dictionary -- \
//!   crates/pw-advisory/tests/data/dpkg-status-debian12.txt.gz crates/pw-store/dictionaries/packages-1.zdict
//! ```

use std::io::Read;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, status, output] = args.as_slice() else {
        eprintln!("usage: build_package_dictionary DPKG_STATUS.gz OUT.zdict");
        std::process::exit(2);
    };
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(status).expect("opening the status file"))
        .read_to_end(&mut text)
        .expect("reading the status file");
    let inventory = pw_inventory::parse_dpkg_status(&text);
    assert!(inventory.problems.is_empty(), "{:?}", inventory.problems);
    let content = pw_protocol::InventoryContent::new(inventory.packages, None);
    let encoded = content.encode();
    std::fs::write(output, &encoded.packages_json).expect("writing the dictionary");
    println!(
        "{} packages, {} bytes",
        encoded.count,
        encoded.packages_json.len()
    );
}
