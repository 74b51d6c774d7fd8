//! Reading feed inputs from the file system: single files, directories (recursively, in name
//! order), gzip (`.gz`) and zip (`all.zip` as OSV publishes it), recognised by content.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Largest decompressed input accepted (protects against decompression bombs).
pub const MAX_INPUT_BYTES: u64 = 4 << 30;

/// One feed document: where it came from and its (decompressed) bytes.
#[derive(Debug, Clone)]
pub struct Input {
    /// File path, `path!entry` for zip members, or URL.
    pub origin: String,
    pub bytes: Vec<u8>,
    /// When the transport says the document was written (file modification time, HTTP
    /// `Last-Modified`). Only documents without dates of their own use it (the Debian
    /// Security Tracker's JSON); `None` means the import time.
    pub date: Option<jiff::Timestamp>,
    /// The kind the user named (`feeds import --format`); `None`: recognised by content.
    pub kind: Option<Kind>,
}

impl Input {
    /// A document recognised by content, without a transport date.
    pub fn new(origin: impl Into<String>, bytes: Vec<u8>) -> Input {
        Input {
            origin: origin.into(),
            bytes,
            date: None,
            kind: None,
        }
    }
}

/// What a document holds, decided from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// OSV records: one JSON object, a JSON array, or JSON lines.
    Osv,
    /// The CISA KEV catalog (JSON with `catalogVersion`).
    Kev,
    /// An EPSS CSV (optional `#model_version` line, then `cve,epss,percentile`).
    Epss,
    /// The Debian Security Tracker's JSON (package → CVE → per-release status).
    DebianTracker,
}

/// Reads every input under `paths` (files or directories).
pub fn read_paths(paths: &[PathBuf]) -> anyhow::Result<Vec<Input>> {
    let mut inputs = Vec::new();
    for path in paths {
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() {
            for file in walk(path)? {
                read_file(&file, &mut inputs)?;
            }
        } else {
            read_file(path, &mut inputs)?;
        }
    }
    Ok(inputs)
}

/// Files under `dir` whose names look like feed documents, sorted by path.
fn walk(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
            let path = entry.path();
            let kind = entry
                .file_type()
                .with_context(|| format!("cannot stat {}", path.display()))?;
            if kind.is_dir() {
                pending.push(path);
            } else if is_feed_name(&path) {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

fn is_feed_name(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let name = name.strip_suffix(".gz").unwrap_or(name);
    [".json", ".jsonl", ".csv", ".zip"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

fn read_file(path: &Path, inputs: &mut Vec<Input>) -> anyhow::Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let date = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| jiff::Timestamp::try_from(t).ok());
    let origin = path.display().to_string();
    let first = inputs.len();
    unpack(origin, bytes, inputs)?;
    for input in &mut inputs[first..] {
        input.date = date;
    }
    Ok(())
}

/// Decompresses gzip and expands zip archives; other bytes pass through.
pub fn unpack(origin: String, bytes: Vec<u8>, inputs: &mut Vec<Input>) -> anyhow::Result<()> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .take(MAX_INPUT_BYTES + 1)
            .read_to_end(&mut out)
            .with_context(|| format!("{origin}: corrupt or truncated gzip data"))?;
        if out.len() as u64 > MAX_INPUT_BYTES {
            bail!("{origin}: decompresses to more than {MAX_INPUT_BYTES} bytes");
        }
        inputs.push(Input::new(origin, out));
    } else if bytes.starts_with(b"PK\x03\x04") {
        unzip(&origin, &bytes, inputs)?;
    } else {
        inputs.push(Input::new(origin, bytes));
    }
    Ok(())
}

fn unzip(origin: &str, bytes: &[u8], inputs: &mut Vec<Input>) -> anyhow::Result<()> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .with_context(|| format!("{origin}: corrupt zip archive"))?;
    let mut total = 0u64;
    for index in 0..archive.len() {
        let mut entry = archive
            .by_index(index)
            .with_context(|| format!("{origin}: corrupt zip entry #{index}"))?;
        if entry.is_dir() || !entry.name().ends_with(".json") {
            continue;
        }
        let name = entry.name().to_owned();
        let mut out = Vec::new();
        (&mut entry)
            .take(MAX_INPUT_BYTES + 1)
            .read_to_end(&mut out)
            .with_context(|| format!("{origin}!{name}: corrupt zip data"))?;
        total += out.len() as u64;
        if total > MAX_INPUT_BYTES {
            bail!("{origin}: decompresses to more than {MAX_INPUT_BYTES} bytes");
        }
        inputs.push(Input::new(format!("{origin}!{name}"), out));
    }
    Ok(())
}

/// The document's kind: the one the user named, else recognised from its content.
pub fn classify(input: &Input) -> anyhow::Result<Kind> {
    if let Some(kind) = input.kind {
        return Ok(kind);
    }
    let start = input
        .bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(input.bytes.len());
    let head = &input.bytes[start..input.bytes.len().min(start + 4096)];
    if head.starts_with(b"#model_version") || head.starts_with(b"cve,epss") {
        return Ok(Kind::Epss);
    }
    if head.starts_with(b"{") || head.starts_with(b"[") {
        let is_kev = head.windows(16).any(|w| w == b"\"catalogVersion\"");
        return Ok(if is_kev {
            Kind::Kev
        } else if pw_advisory::looks_like_debian_tracker(head) {
            Kind::DebianTracker
        } else {
            Kind::Osv
        });
    }
    if head.is_empty() {
        bail!("{}: the file is empty", input.origin);
    }
    bail!(
        "{}: not an OSV (JSON/JSONL), CISA KEV (JSON), Debian Security Tracker (JSON) or EPSS \
         (CSV) document",
        input.origin
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(bytes: &[u8]) -> Input {
        Input::new("t", bytes.to_vec())
    }

    #[test]
    fn classifies_by_content() {
        assert_eq!(
            classify(&input(
                b"#model_version:v1,score_date:x\ncve,epss,percentile\n"
            ))
            .unwrap(),
            Kind::Epss
        );
        assert_eq!(
            classify(&input(b"cve,epss,percentile\n")).unwrap(),
            Kind::Epss
        );
        assert_eq!(
            classify(&input(b" {\"title\":\"x\",\"catalogVersion\":\"1\"}")).unwrap(),
            Kind::Kev
        );
        assert_eq!(
            classify(&input(b"{\"id\":\"DSA-1\"}\n{\"id\":\"DSA-2\"}")).unwrap(),
            Kind::Osv
        );
        assert_eq!(
            classify(&input(
                b"{\"less\": {\"CVE-2024-32487\": {\"releases\": {}}}}"
            ))
            .unwrap(),
            Kind::DebianTracker
        );
        let mut named = input(b"{\"id\":\"DSA-1\"}");
        named.kind = Some(Kind::DebianTracker);
        assert_eq!(classify(&named).unwrap(), Kind::DebianTracker);
        assert!(
            classify(&input(b"  "))
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
        assert!(
            classify(&input(b"<html>"))
                .unwrap_err()
                .to_string()
                .contains("not an OSV")
        );
    }

    #[test]
    fn truncated_gzip_is_an_error_naming_the_origin() {
        let mut out = Vec::new();
        let e = unpack("x.gz".into(), vec![0x1f, 0x8b, 8, 0, 0, 0], &mut out).unwrap_err();
        assert!(
            e.to_string().starts_with("x.gz: corrupt or truncated gzip"),
            "{e}"
        );
        assert!(out.is_empty());
    }
}
