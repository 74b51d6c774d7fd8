//! The line-by-line dpkg status parser as it was before the block scanner (test oracle only):
//! `parse_dpkg_status` must return exactly what this returns, problems and lines included.

use pw_model::{InstalledPackage, PackageName};
use pw_version::Scheme;

use super::is_installed_status;
use crate::{Inventory, InventoryError, excerpt, valid_arch};

/// Parses a dpkg status file (deb822). Returns the installed packages and one problem per
/// malformed stanza (that stanza is skipped). Never panics.
pub(super) fn parse_dpkg_status(input: &[u8]) -> Inventory {
    let mut out = Inventory::default();
    let mut stanza = Stanza::default();
    let mut start = 0;
    let mut line_no = 0;
    // One iterator over all newlines (cheaper than a memchr call per short line); the last line
    // may lack its newline.
    let ends = memchr::memchr_iter(b'\n', input).chain(std::iter::once(input.len()));
    for end in ends {
        if start > end || (end == input.len() && start == end) {
            break;
        }
        let mut line = &input[start..end];
        start = end + 1;
        line_no += 1;
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        match line.first() {
            None => stanza.finish(&mut out),
            Some(b' ' | b'\t') if is_blank(line) => stanza.finish(&mut out),
            Some(b' ' | b'\t') => {
                if stanza.first_line == 0 {
                    stanza.first_line = line_no;
                    stanza.fail(InventoryError::OrphanContinuation {
                        line: line_no,
                        text: excerpt(line),
                    });
                }
            }
            Some(_) => {
                if stanza.first_line == 0 {
                    stanza.first_line = line_no;
                }
                stanza.field(line, line_no);
            }
        }
    }
    stanza.finish(&mut out);
    out
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|&b| b == b' ' || b == b'\t')
}

/// A field value and the line it was on.
type Value<'a> = Option<(&'a [u8], usize)>;

/// The fields of the stanza being read, borrowed from the input.
#[derive(Default)]
struct Stanza<'a> {
    /// Line of the stanza's first line; 0 while no stanza is open.
    first_line: usize,
    package: Value<'a>,
    status: Value<'a>,
    version: Value<'a>,
    arch: Value<'a>,
    source: Value<'a>,
    /// The first problem found; the stanza is skipped when set.
    problem: Option<InventoryError>,
}

impl<'a> Stanza<'a> {
    fn fail(&mut self, problem: InventoryError) {
        if self.problem.is_none() {
            self.problem = Some(problem);
        }
    }

    fn field(&mut self, line: &'a [u8], line_no: usize) {
        // Field names are short: a plain loop beats a SIMD search set up per line.
        let Some(colon) = line.iter().position(|&b| b == b':').filter(|&c| c > 0) else {
            return self.fail(InventoryError::BadFieldLine {
                line: line_no,
                text: excerpt(line),
            });
        };
        let name = &line[..colon];
        let (slot, field) = match name.len() {
            6 if name.eq_ignore_ascii_case(b"Status") => (&mut self.status, "Status"),
            6 if name.eq_ignore_ascii_case(b"Source") => (&mut self.source, "Source"),
            7 if name.eq_ignore_ascii_case(b"Package") => (&mut self.package, "Package"),
            7 if name.eq_ignore_ascii_case(b"Version") => (&mut self.version, "Version"),
            12 if name.eq_ignore_ascii_case(b"Architecture") => (&mut self.arch, "Architecture"),
            _ => return,
        };
        if slot.is_some() {
            return self.fail(InventoryError::DuplicateField {
                line: line_no,
                field,
            });
        }
        *slot = Some((line[colon + 1..].trim_ascii(), line_no));
    }

    /// Closes the stanza (if one is open): keeps its package or records its problem.
    fn finish(&mut self, out: &mut Inventory) {
        if self.first_line == 0 {
            return;
        }
        let stanza = std::mem::take(self);
        match stanza.into_package() {
            Ok(Some(package)) => out.packages.push(package),
            Ok(None) => {}
            Err(problem) => out.problems.push(problem),
        }
    }

    /// The installed package of a complete stanza, `None` when it is not installed.
    fn into_package(self) -> Result<Option<InstalledPackage>, InventoryError> {
        if let Some(problem) = self.problem {
            return Err(problem);
        }
        let first_line = self.first_line;
        let (package, package_line) = self.package.ok_or(InventoryError::MissingField {
            line: first_line,
            field: "Package",
            package: None,
        })?;
        let name = text(package, package_line, "Package")?;
        PackageName::validate(name).map_err(|source| InventoryError::BadName {
            line: package_line,
            field: "Package",
            source,
        })?;
        let missing = |field| InventoryError::MissingField {
            line: first_line,
            field,
            package: Some(name.to_owned()),
        };
        let (status, status_line) = self.status.ok_or_else(|| missing("Status"))?;
        let status_text = text(status, status_line, "Status")?;
        match is_installed_status(status_text) {
            Some(true) => {}
            Some(false) => return Ok(None),
            None => {
                return Err(InventoryError::BadStatus {
                    line: status_line,
                    value: status_text.to_owned(),
                });
            }
        }
        let (version, version_line) = self.version.ok_or_else(|| missing("Version"))?;
        let version = text(version, version_line, "Version")?;
        validate_version(version, version_line, "Version")?;
        let (arch, arch_line) = self.arch.ok_or_else(|| missing("Architecture"))?;
        let arch = text(arch, arch_line, "Architecture")?;
        if !valid_arch(arch) {
            return Err(InventoryError::BadArch {
                line: arch_line,
                value: arch.to_owned(),
            });
        }
        let (source, source_version) = match self.source {
            Some((value, line)) => parse_source(text(value, line, "Source")?, line)?,
            None => (None, None),
        };
        Ok(Some(InstalledPackage {
            name: name.to_owned(),
            version: version.to_owned(),
            arch: arch.to_owned(),
            source: source.filter(|&s| s != name).map(str::to_owned),
            source_version: source_version.filter(|&v| v != version).map(str::to_owned),
        }))
    }
}

fn text<'a>(value: &'a [u8], line: usize, field: &'static str) -> Result<&'a str, InventoryError> {
    std::str::from_utf8(value).map_err(|_| InventoryError::NotUtf8 { line, field })
}

fn validate_version(version: &str, line: usize, field: &'static str) -> Result<(), InventoryError> {
    Scheme::Dpkg
        .validate(version)
        .map_err(|source| InventoryError::BadVersion {
            line,
            field,
            source,
        })
}

/// Splits `name` or `name (version)`, validating both parts.
fn parse_source(value: &str, line: usize) -> Result<(Option<&str>, Option<&str>), InventoryError> {
    let bad = || InventoryError::BadSource {
        line,
        value: value.to_owned(),
    };
    let (name, version) = match value.split_once(|c: char| c.is_ascii_whitespace()) {
        None => (value, None),
        Some((name, rest)) => {
            let inner = rest
                .trim_ascii()
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(bad)?
                .trim_ascii();
            (name, Some(inner))
        }
    };
    PackageName::validate(name).map_err(|source| InventoryError::BadName {
        line,
        field: "Source",
        source,
    })?;
    if let Some(version) = version {
        validate_version(version, line, "Source")?;
    }
    Ok((Some(name), version))
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use proptest::prelude::*;

    fn check(input: &[u8]) {
        assert_eq!(
            super::super::parse_dpkg_status(input),
            super::parse_dpkg_status(input),
            "input: {:?}",
            String::from_utf8_lossy(&input[..input.len().min(300)])
        );
    }

    fn real_status() -> Vec<u8> {
        let gz = include_bytes!("../../tests/data/dpkg-status-debian12.txt.gz");
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn real_file_its_crlf_copy_and_its_cuts() {
        let lf = real_status();
        check(&lf);
        let crlf = String::from_utf8(lf.clone()).unwrap().replace('\n', "\r\n");
        check(crlf.as_bytes());
        for cut in (0..lf.len()).step_by(7919) {
            check(&lf[..cut]);
            check(&lf[cut..]);
        }
    }

    #[test]
    fn invalid_utf8_before_between_and_inside_kept_values() {
        let stanza =
            "Package: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n\n";
        for at in 0..stanza.len() {
            for bad in [&b"\xff"[..], b"\xc3", b"\xe2\x82", b"\xc3\xa9"] {
                let mut input = stanza.as_bytes().to_vec();
                input.splice(at..at, bad.iter().copied());
                input.extend_from_slice(stanza.as_bytes());
                check(&input);
                check(&[stanza.as_bytes(), &input].concat());
            }
        }
    }

    /// Lines a status file is made of, odd ones included.
    fn line() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => Just("Package: a".to_owned()),
            2 => Just("Package: b".to_owned()),
            4 => Just("Status: install ok installed".to_owned()),
            1 => Just("Status: deinstall ok config-files".to_owned()),
            1 => Just("status:hold ok installed ".to_owned()),
            4 => Just("Architecture: amd64".to_owned()),
            4 => Just("Version: 1:2.0-1".to_owned()),
            1 => Just("Version: 1 0".to_owned()),
            2 => Just("Source: s (1.0-1)".to_owned()),
            1 => Just("Source: a".to_owned()),
            1 => Just("Source: s (1".to_owned()),
            3 => Just("Description: x".to_owned()),
            3 => Just(" continuation".to_owned()),
            1 => Just(" .".to_owned()),
            2 => Just(String::new()),
            1 => Just(" \t ".to_owned()),
            1 => Just("\r".to_owned()),
            1 => Just("no colon".to_owned()),
            1 => Just(":empty name".to_owned()),
            1 => Just("PACKAGE:c".to_owned()),
            2 => "[ -~\t\r]{0,12}",
            1 => "[A-Za-z-]{1,13}:[ -~]{0,20}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]
        #[test]
        fn same_as_the_reference(
            lines in proptest::collection::vec(line(), 0..40),
            crlf in any::<bool>(),
            last_newline in any::<bool>(),
        ) {
            let end = if crlf { "\r\n" } else { "\n" };
            let mut input = lines.join(end);
            if last_newline {
                input.push_str(end);
            }
            check(input.as_bytes());
        }

        #[test]
        fn same_as_the_reference_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            check(&bytes);
        }
    }
}
