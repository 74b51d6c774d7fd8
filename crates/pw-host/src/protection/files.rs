//! File backups: `tar` of absolute paths into `<dir>/<name>/files.tar` (owners numeric,
//! permissions kept) and a SHA-256 manifest of every regular file (`manifest.sha256`, the
//! `sha256sum` format with absolute paths). Verified by extracting the archive into a scratch
//! directory (`<dir>/<name>/verify`, removed afterwards) and comparing every file's hash with the
//! manifest; the first mismatching file is named. [`restore`] extracts the archive over `/`,
//! removes files under the backed-up paths that the manifest does not list, and compares again.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, bail};

use super::{Budget, Taken, disk_size};
use crate::{Invocation, Runner};

const ARCHIVE: &str = "files.tar";
const MANIFEST: &str = "manifest.sha256";

/// Backs up `paths` into `<dir>/<name>` and verifies it by a restore into a scratch directory.
/// `Err` when the backup could not be taken at all; a mismatch is `Ok` with `verified: Err`.
pub fn backup(
    runner: &dyn Runner,
    budget: &Budget,
    paths: &[String],
    dir: &str,
    name: &str,
) -> anyhow::Result<Taken> {
    let location = format!("{}/{name}", dir.trim_end_matches('/'));
    let archive = format!("{location}/{ARCHIVE}");
    let started = Instant::now();
    budget.run_ok(runner, "mkdir", &["-p", "-m", "0700", "--", &location])?;
    let mut args = vec![
        "--create",
        "--file",
        archive.as_str(),
        "--numeric-owner",
        "-p",
        "--directory",
        "/",
        "--",
    ];
    args.extend(paths.iter().map(|p| p.trim_start_matches('/')));
    budget
        .run_ok(runner, "tar", &args)
        .with_context(|| format!("archiving {} into {archive}", paths.join(" ")))?;
    let manifest = hashes(runner, budget, paths, "")?;
    let text: String = manifest
        .iter()
        .map(|(path, hash)| format!("{hash}  {path}\n"))
        .collect();
    let manifest_path = format!("{location}/{MANIFEST}");
    runner.run_ok(
        &Invocation::new("tee", ["--", manifest_path.as_str()])
            .stdin(text)
            .timeout(budget.left()?),
    )?;
    let take = started.elapsed();
    let started = Instant::now();
    let verified = verify_with(runner, budget, &location, &manifest)?;
    Ok(Taken {
        size_bytes: disk_size(runner, budget, &location)?,
        location,
        take,
        verify: started.elapsed(),
        verified,
    })
}

/// Verifies the backup at `location` again (its archive restored into a scratch directory and
/// compared with its manifest): `Ok(Ok(what matched))`, or `Ok(Err(the first mismatch))`.
pub fn verify(
    runner: &dyn Runner,
    budget: &Budget,
    location: &str,
) -> anyhow::Result<Result<String, String>> {
    let manifest = read_manifest(runner, budget, location)?;
    verify_with(runner, budget, location, &manifest)
}

/// Extracts into `<location>/verify`, compares, and removes the scratch directory on every path.
fn verify_with(
    runner: &dyn Runner,
    budget: &Budget,
    location: &str,
    manifest: &BTreeMap<String, String>,
) -> anyhow::Result<Result<String, String>> {
    let archive = format!("{location}/{ARCHIVE}");
    let scratch = format!("{location}/verify");
    let verified = verify_in_scratch(runner, budget, &archive, &scratch, manifest);
    let cleaned = budget.run_ok(runner, "rm", &["-rf", "--", &scratch]);
    let verified = verified?;
    cleaned?;
    Ok(verified)
}

fn verify_in_scratch(
    runner: &dyn Runner,
    budget: &Budget,
    archive: &str,
    scratch: &str,
    manifest: &BTreeMap<String, String>,
) -> anyhow::Result<Result<String, String>> {
    budget.run_ok(runner, "mkdir", &["-p", "-m", "0700", "--", scratch])?;
    budget.run_ok(
        runner,
        "tar",
        &[
            "--extract",
            "--file",
            archive,
            "--numeric-owner",
            "-p",
            "--directory",
            scratch,
        ],
    )?;
    let restored = hashes(runner, budget, &[scratch.to_owned()], scratch)?;
    Ok(compare(manifest, &restored))
}

/// `sha256sum` of every regular file under `paths`, keyed by absolute path with `strip`
/// removed from its front (none for no paths).
fn hashes(
    runner: &dyn Runner,
    budget: &Budget,
    paths: &[String],
    strip: &str,
) -> anyhow::Result<BTreeMap<String, String>> {
    if paths.is_empty() {
        return Ok(BTreeMap::new());
    }
    let mut args: Vec<&str> = paths.iter().map(String::as_str).collect();
    args.extend(["-type", "f", "-exec", "sha256sum", "--", "{}", "+"]);
    let output = budget.run_ok(runner, "find", &args)?;
    let mut out = BTreeMap::new();
    for line in output.stdout_text().lines() {
        let Some((hash, path)) = line.split_once("  ") else {
            bail!("sha256sum printed {line:?}");
        };
        if hash.starts_with('\\') {
            bail!("cannot back up {path:?}: its name contains a backslash or newline");
        }
        let path = path.strip_prefix(strip).unwrap_or(path);
        out.insert(path.to_owned(), hash.to_owned());
    }
    Ok(out)
}

/// Every file of the manifest with the same hash, and nothing else: `Ok("N files match")`, or
/// `Err` naming the first file that differs, is missing or is extra.
pub fn compare(
    manifest: &BTreeMap<String, String>,
    found: &BTreeMap<String, String>,
) -> Result<String, String> {
    for (path, hash) in manifest {
        match found.get(path) {
            None => return Err(format!("{path}: missing after the restore")),
            Some(h) if h != hash => {
                return Err(format!(
                    "{path}: SHA-256 {h} differs from the manifest's {hash}"
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = found.keys().find(|p| !manifest.contains_key(*p)) {
        return Err(format!("{extra}: not in the manifest"));
    }
    Ok(format!("{} files match the manifest", manifest.len()))
}

/// Reads a backup's manifest.
fn read_manifest(
    runner: &dyn Runner,
    budget: &Budget,
    location: &str,
) -> anyhow::Result<BTreeMap<String, String>> {
    let text = budget
        .run_ok(runner, "cat", &["--", &format!("{location}/{MANIFEST}")])?
        .stdout_text();
    text.lines()
        .map(|line| {
            line.split_once("  ")
                .map(|(hash, path)| (path.to_owned(), hash.to_owned()))
                .with_context(|| format!("{location}/{MANIFEST}: bad line {line:?}"))
        })
        .collect()
}

/// Puts the backup at `location` back over `/`: extracts the archive, removes the files under
/// `paths` the manifest does not list (written after the backup), and compares with the
/// manifest. `Ok(what matched)`; `Err` when it could not be restored or does not match.
pub fn restore(
    runner: &dyn Runner,
    budget: &Budget,
    paths: &[String],
    location: &str,
) -> anyhow::Result<String> {
    let manifest = read_manifest(runner, budget, location)?;
    let archive = format!("{location}/{ARCHIVE}");
    budget.run_ok(
        runner,
        "tar",
        &[
            "--extract",
            "--file",
            &archive,
            "--numeric-owner",
            "-p",
            "--overwrite",
            "--directory",
            "/",
        ],
    )?;
    let existing: Vec<String> = paths
        .iter()
        .filter(|p| {
            budget.left().is_ok_and(|left| {
                runner
                    .run(&Invocation::new("test", ["-e", p.as_str()]).timeout(left))
                    .is_ok_and(|o| o.success())
            })
        })
        .cloned()
        .collect();
    let now = hashes(runner, budget, &existing, "")?;
    for extra in now.keys().filter(|p| !manifest.contains_key(*p)) {
        budget.run_ok(runner, "rm", &["-f", "--", extra])?;
    }
    let now = hashes(runner, budget, &existing, "")?;
    compare(&manifest, &now).map_err(|e| anyhow::anyhow!("after the restore: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_names_the_first_difference() {
        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(p, h)| ((*p).to_owned(), (*h).to_owned()))
                .collect()
        };
        let manifest = map(&[("/a", "1"), ("/b", "2")]);
        assert_eq!(
            compare(&manifest, &manifest).unwrap(),
            "2 files match the manifest"
        );
        let error = compare(&manifest, &map(&[("/a", "1"), ("/b", "3")])).unwrap_err();
        assert!(error.starts_with("/b: SHA-256 3 differs"), "{error}");
        let error = compare(&manifest, &map(&[("/b", "2")])).unwrap_err();
        assert_eq!(error, "/a: missing after the restore");
        let extra = map(&[("/a", "1"), ("/b", "2"), ("/c", "4")]);
        assert_eq!(
            compare(&manifest, &extra).unwrap_err(),
            "/c: not in the manifest"
        );
    }
}
