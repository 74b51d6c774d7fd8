//! Every SQL text written straight into `sqlx::query…(…)` in pw-store numbers its values `$1`,
//! `$2`, …: PostgreSQL refuses SQLite's `?` (a query tested on SQLite only would pass with it).
//! SQL built from pieces keeps `?` and goes through `db::numbered` (console.rs).

use std::path::Path;

/// `(file, line, text)` of each string literal opened right after `sqlx::query(`,
/// `sqlx::query_scalar(`, `sqlx::query_as(` or `AssertSqlSafe(format!(`.
fn query_literals(file: &Path) -> Vec<(String, usize, String)> {
    let source = std::fs::read_to_string(file).unwrap();
    let openers = [
        "sqlx::query(",
        "sqlx::query_scalar(",
        "sqlx::query_as(",
        "AssertSqlSafe(format!(",
    ];
    let mut found = Vec::new();
    for opener in openers {
        for (at, _) in source.match_indices(opener) {
            let rest = source[at + opener.len()..].trim_start();
            let Some(body) = rest.strip_prefix('"') else {
                continue;
            };
            let end = body.find('"').unwrap_or(body.len());
            let line = source[..at].lines().count() + 1;
            found.push((file.display().to_string(), line, body[..end].to_owned()));
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn queries_number_their_values_for_postgresql() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let literals: Vec<_> = files.iter().flat_map(|f| query_literals(f)).collect();
    assert!(literals.len() > 100, "{} query texts found", literals.len());
    let with_marks: Vec<_> = literals
        .iter()
        .filter(|(_, _, text)| text.contains('?'))
        .map(|(file, line, text)| format!("{file}:{line}: {text}"))
        .collect();
    assert!(
        with_marks.is_empty(),
        "use $1, $2, … (PostgreSQL refuses ?):\n{}",
        with_marks.join("\n")
    );
}
