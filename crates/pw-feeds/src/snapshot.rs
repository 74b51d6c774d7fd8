//! The feed snapshot embedded in the binary (see `snapshot/PROVENANCE.md`): used by scans when
//! the database holds no advisories, so a fresh, offline machine still gets real findings.

use crate::source::{Input, unpack};

const FILES: &[(&str, &[u8])] = &[
    (
        "osv-debian12-changelogs.jsonl.gz",
        include_bytes!("../snapshot/osv-debian12-changelogs.jsonl.gz"),
    ),
    (
        "osv-ubuntu-sample.jsonl.gz",
        include_bytes!("../snapshot/osv-ubuntu-sample.jsonl.gz"),
    ),
    (
        "osv-almalinux.jsonl.gz",
        include_bytes!("../snapshot/osv-almalinux.jsonl.gz"),
    ),
    ("kev.json.gz", include_bytes!("../snapshot/kev.json.gz")),
    (
        "epss-sample.csv.gz",
        include_bytes!("../snapshot/epss-sample.csv.gz"),
    ),
];

/// The snapshot's documents, decompressed; origins read `snapshot:<file>`.
pub fn inputs() -> anyhow::Result<Vec<Input>> {
    let mut inputs = Vec::new();
    for (name, bytes) in FILES {
        unpack(format!("snapshot:{name}"), bytes.to_vec(), &mut inputs)?;
    }
    Ok(inputs)
}
