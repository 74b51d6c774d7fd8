//! Architecture guard: the pure domain crates stay pure. Fails when a domain crate (even
//! transitively) depends on an async runtime, a database, HTTP or file-system helper crates, or
//! when its source reaches for the file system, the environment, processes, sockets or the clock.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;

/// Crates that must stay free of I/O.
const DOMAIN: &[&str] = &[
    "pw-model",
    "pw-version",
    "pw-inventory",
    "pw-advisory",
    "pw-priority",
    "pw-calendar",
    "pw-planner",
    "pw-fleet",
    "pw-scan",
    "pw-rollout",
    "pw-protocol",
    "pw-report",
    "pw-notify",
];

/// Crates a domain crate must never pull in, directly or transitively.
const FORBIDDEN: &[&str] = &[
    "tokio",
    "async-std",
    "smol",
    "mio",
    "futures-executor",
    "sqlx",
    "sqlx-core",
    "rusqlite",
    "libsqlite3-sys",
    "postgres",
    "tokio-postgres",
    "diesel",
    "hyper",
    "axum",
    "tower",
    "reqwest",
    "ureq",
    "isahc",
    "curl",
    "h2",
    "rustls",
    "walkdir",
    "tempfile",
    "notify",
    "pw-store",
    "pw-feeds",
    "pw-host",
];

/// Source patterns that mean I/O or a clock read.
const FORBIDDEN_SOURCE: &[&str] = &[
    "std::fs",
    "std::env",
    "std::process",
    "std::net",
    "SystemTime::now",
    "Instant::now",
    "Timestamp::now",
    "Zoned::now",
    "Utc::now",
    "Local::now",
    "File::open",
];

fn metadata() -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1"])
        .current_dir(&root)
        .output()
        .expect("running cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON")
}

/// Names of every crate reachable from `root` through normal (non-dev, non-build) dependencies.
fn normal_closure(meta: &serde_json::Value, root: &str) -> BTreeSet<String> {
    let packages: HashMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let nodes: HashMap<&str, &serde_json::Value> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let root_id = packages
        .iter()
        .find(|(_, name)| **name == root)
        .map(|(id, _)| *id)
        .unwrap_or_else(|| panic!("{root} is not in the workspace"));
    let mut seen = BTreeSet::new();
    let mut stack = vec![root_id];
    while let Some(id) = stack.pop() {
        for dep in nodes[id]["deps"].as_array().unwrap() {
            let normal = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].is_null());
            let dep_id = dep["pkg"].as_str().unwrap();
            if normal && seen.insert(packages[dep_id].to_string()) {
                stack.push(dep_id);
            }
        }
    }
    seen
}

#[test]
fn domain_crates_depend_on_no_io_crates() {
    let meta = metadata();
    let mut violations = Vec::new();
    for domain in DOMAIN {
        let closure = normal_closure(&meta, domain);
        for bad in FORBIDDEN {
            if closure.contains(*bad) {
                violations.push(format!("{domain} depends on {bad}"));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_guard_sees_io_crates_in_edge_crates() {
    // The guard itself must be able to fail: an edge crate's closure does contain them.
    let closure = normal_closure(&metadata(), "pw-store");
    assert!(closure.contains("sqlx") && closure.contains("tokio"));
}

#[test]
fn domain_sources_do_no_io_and_read_no_clock() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut violations = Vec::new();
    for domain in DOMAIN {
        let mut pending = vec![crates.join(domain).join("src")];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    pending.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                // Unit tests inside `mod tests` may read fixtures; only non-test code counts.
                let code = text.split("#[cfg(test)]").next().unwrap_or("");
                for pattern in FORBIDDEN_SOURCE {
                    if code.contains(pattern) {
                        violations.push(format!("{}: uses {pattern}", path.display()));
                    }
                }
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}
