//! Architecture guard: the pure domain crates stay pure. Fails when a domain crate (even
//! transitively) depends on an async runtime, a database, HTTP or file-system helper crates, or
//! when its source (test modules cut out, everything after them kept) reaches for the file
//! system, the environment, processes, sockets, stdin or the clock; when an edge crate depends on
//! another edge crate without a reason listed here; and when a source file does not open with a
//! module doc. The source scanner tests itself on known-bad snippets, so the guard can fail.

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

/// Edge crates (I/O) and the workspace's tools; each direct dependency of one on another needs
/// its reason here (and every pair listed must exist, so the list stays true).
const EDGE_DEPS: &[(&str, &str, &str)] = &[
    (
        "pw-feeds",
        "pw-store",
        "imports feed documents into the store",
    ),
    (
        "pw-controller",
        "pw-store",
        "the use-cases are operations over the store",
    ),
    (
        "pw-controller",
        "pw-feeds",
        "scans load the stored intelligence",
    ),
    ("pw-server", "pw-controller", "routes call the use-cases"),
    (
        "pw-server",
        "pw-store",
        "sessions, tokens and reads the console pages",
    ),
    ("pw-agent", "pw-host", "the agent acts on its own host"),
    (
        "pw-testbed",
        "pw-host",
        "runs apt and checks inside test containers",
    ),
    (
        "pw-bench",
        "pw-server",
        "console-bench serves a real controller",
    ),
    ("pw-bench", "pw-store", "seeds the benchmark database"),
    ("pw-bench", "pw-feeds", "loads the real feeds"),
    (
        "pw-loadgen",
        "pw-agent",
        "simulated agents enroll like real ones",
    ),
    ("pw-loadgen", "pw-bench", "the synthetic fleet"),
    (
        "pw-testkit",
        "pw-controller",
        "the tests' clock is the controller's Clock",
    ),
];

/// Workspace crates that are neither domain crates nor the binary (which wires everything).
const EDGES: &[&str] = &[
    "pw-store",
    "pw-feeds",
    "pw-host",
    "pw-controller",
    "pw-server",
    "pw-agent",
    "pw-testbed",
    "pw-bench",
    "pw-loadgen",
    "pw-testkit",
];

#[test]
fn edge_crates_depend_on_other_edges_only_for_a_listed_reason() {
    let meta = metadata();
    let mut found = BTreeSet::new();
    for package in meta["packages"].as_array().unwrap() {
        let name = package["name"].as_str().unwrap();
        if !EDGES.contains(&name) {
            continue;
        }
        for dep in package["dependencies"].as_array().unwrap() {
            let dep_name = dep["name"].as_str().unwrap();
            if dep["kind"].is_null() && EDGES.contains(&dep_name) {
                found.insert((name.to_owned(), dep_name.to_owned()));
            }
        }
    }
    let listed: BTreeSet<(String, String)> = EDGE_DEPS
        .iter()
        .map(|(a, b, _)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    let unexplained: Vec<_> = found.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&found).collect();
    assert!(
        unexplained.is_empty() && stale.is_empty(),
        "edge → edge dependencies without a reason in EDGE_DEPS: {unexplained:?}; listed but gone: {stale:?}"
    );
}

/// The shared test kit is test code: a dev-dependency wherever it is used, never linked into a
/// library or binary (its real sockets, clocks and processes stay out of the product).
#[test]
fn the_test_kit_is_only_a_dev_dependency() {
    let meta = metadata();
    let mut users = Vec::new();
    let mut linked = Vec::new();
    for package in meta["packages"].as_array().unwrap() {
        for dep in package["dependencies"].as_array().unwrap() {
            if dep["name"] == "pw-testkit" {
                let name = package["name"].as_str().unwrap().to_owned();
                match dep["kind"].as_str() {
                    Some("dev") => users.push(name),
                    _ => linked.push(name),
                }
            }
        }
    }
    assert!(
        linked.is_empty(),
        "pw-testkit linked (not dev) by {linked:?}"
    );
    assert!(
        !users.is_empty(),
        "nothing uses pw-testkit: is the check still looking?"
    );
}

/// A source file that only holds tests (included with `#[cfg(test)] #[path = …] mod …;`).
fn is_test_file(path: &Path) -> bool {
    let name = path.file_name().unwrap().to_string_lossy();
    name == "tests.rs" || name.ends_with("_tests.rs")
}

/// The code of a source file without its `#[cfg(test)]` items: a gated `mod … { … }` is cut by
/// its braces, a gated one-line item (`mod tests;`, `use …;`) by its line; what follows a test
/// module is kept.
fn non_test_code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "#[cfg(test)]" {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        // Skip further attributes, then the item.
        let mut item = lines.next();
        while item.is_some_and(|l| l.trim_start().starts_with("#[")) {
            item = lines.next();
        }
        let Some(item) = item else { break };
        let mut depth = brace_delta(item);
        if depth <= 0 {
            continue;
        }
        for l in lines.by_ref() {
            depth += brace_delta(l);
            if depth <= 0 {
                break;
            }
        }
    }
    out
}

fn brace_delta(line: &str) -> i64 {
    line.chars().fold(0, |d, c| match c {
        '{' => d + 1,
        '}' => d - 1,
        _ => d,
    })
}

/// Every use of I/O or the clock in `code`, as `line N: pattern`.
fn source_violations(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (number, line) in code.lines().enumerate() {
        let line_no = number + 1;
        for pattern in FORBIDDEN_SOURCE {
            if line.contains(pattern) {
                found.push(format!("line {line_no}: {pattern}"));
            }
        }
        if line.contains("io::stdin") || line.contains("stdin()") {
            found.push(format!("line {line_no}: stdin"));
        }
    }
    // `use std::{env, fs}` and the like, over several lines too.
    let mut rest = code;
    while let Some(at) = rest.find("std::{") {
        let group = &rest[at + "std::{".len()..];
        let end = group.find('}').unwrap_or(group.len());
        let names = &group[..end];
        for name in names.split(',').map(str::trim) {
            let head = name.split("::").next().unwrap_or("");
            let stdin = name.starts_with("io::") && name.contains("stdin");
            if ["fs", "env", "process", "net"].contains(&head) || stdin {
                let line_no = code[..code.len() - rest.len() + at].lines().count().max(1);
                found.push(format!("line {line_no}: std::{{{name}}}"));
            }
        }
        rest = &group[end..];
    }
    found
}

#[test]
fn the_source_scanner_finds_what_it_must() {
    let sneaky = "use std::collections::HashMap;\n\
                  #[cfg(test)]\n\
                  mod tests {\n    fn fixture() { std::fs::read(\"x\"); }\n}\n\
                  use std::{\n    env,\n    fs::File,\n};\n\
                  fn input() { let _ = std::io::stdin(); }\n\
                  fn clock() -> jiff::Timestamp { jiff::Timestamp::now() }\n";
    let code = non_test_code(sneaky);
    assert!(!code.contains("fixture"), "{code}");
    assert!(
        code.contains("fn clock"),
        "code after a test module is checked: {code}"
    );
    let found = source_violations(&code);
    for expected in ["std::{env}", "std::{fs::File}", "stdin", "Timestamp::now"] {
        assert!(
            found.iter().any(|f| f.contains(expected)),
            "{expected}: {found:?}"
        );
    }
    let gated_line = "#[cfg(test)]\n#[path = \"x_tests.rs\"]\nmod tests;\nfn after() { std::env::var(\"X\"); }\n";
    let found = source_violations(&non_test_code(gated_line));
    assert_eq!(
        found,
        ["line 1: std::env"],
        "a one-line gated item is cut, what follows kept"
    );
    let clean = "use std::collections::{BTreeMap, HashSet};\nuse std::io::Read;\nfn f(now: jiff::Timestamp) {}\n";
    assert!(source_violations(&non_test_code(clean)).is_empty());
    assert!(
        is_test_file(Path::new("src/guard_tests.rs")) && !is_test_file(Path::new("src/guard.rs"))
    );
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut pending = vec![dir.to_path_buf()];
    let mut out = Vec::new();
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn domain_sources_do_no_io_and_read_no_clock() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut violations = Vec::new();
    for domain in DOMAIN {
        for path in sources(&crates.join(domain).join("src")) {
            if is_test_file(&path) {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for found in source_violations(&non_test_code(&text)) {
                violations.push(format!("{}: {found}", path.display()));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn every_source_file_opens_with_a_module_doc() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&crates).unwrap() {
        let src = entry.unwrap().path().join("src");
        if !src.is_dir() {
            continue;
        }
        for path in sources(&src) {
            let text = std::fs::read_to_string(&path).unwrap();
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            if !first.starts_with("//!") {
                missing.push(path.display().to_string());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "files without a `//!` module doc:\n{}",
        missing.join("\n")
    );
}
