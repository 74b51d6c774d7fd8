//! The dpkg status file (`/var/lib/dpkg/status`): installed packages with their source package.
//!
//! What counts as installed: the third word of `Status:` (dpkg's package state) is `installed`,
//! `triggers-pending` or `triggers-awaited`. The last two are fully unpacked and configured
//! packages that only wait for trigger processing (common right after an `apt-get` run), so their
//! files and version are those on disk. The want and flag words do not matter: `hold ok installed`
//! and `install reinstreq installed` count. Not counted: `not-installed`, `config-files` (e.g.
//! `deinstall ok config-files`: only conffiles are left), `half-installed`, `unpacked` and
//! `half-configured` (`dpkg --audit` reports those; their version is not reliably what runs).
//!
//! Speed: the input is scanned line by line with `memchr`; fields other than Package, Status,
//! Version, Architecture and Source are skipped without decoding, and only the kept values of an
//! installed package are allocated.

use pw_model::{InstalledPackage, PackageName};
use pw_version::Scheme;

use crate::{Inventory, InventoryError, excerpt, valid_arch};

/// Parses a dpkg status file (deb822). Returns the installed packages and one problem per
/// malformed stanza (that stanza is skipped). Never panics.
pub fn parse_dpkg_status(input: &[u8]) -> Inventory {
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

/// Whether a `Status:` value (`want flag state`) means installed (see the module docs); `None`
/// when it is not three of dpkg's words.
pub fn is_installed_status(value: &str) -> Option<bool> {
    let mut words = value.split_ascii_whitespace();
    let (want, flag, state) = (words.next()?, words.next()?, words.next()?);
    if words.next().is_some() {
        return None;
    }
    let want_ok = matches!(want, "unknown" | "install" | "hold" | "deinstall" | "purge");
    let flag_ok = matches!(flag, "ok" | "reinstreq");
    if !want_ok || !flag_ok {
        return None;
    }
    match state {
        "installed" | "triggers-pending" | "triggers-awaited" => Some(true),
        "not-installed" | "config-files" | "half-installed" | "unpacked" | "half-configured" => {
            Some(false)
        }
        _ => None,
    }
}

/// Writes a package as a minimal installed dpkg status stanza (ending in a blank line) that
/// [`parse_dpkg_status`] reads back to the same value.
pub fn format_dpkg_stanza(package: &InstalledPackage) -> String {
    let mut text = format!(
        "Package: {}\nStatus: install ok installed\nArchitecture: {}\n",
        package.name, package.arch
    );
    match (&package.source, &package.source_version) {
        (_, Some(version)) => {
            text += &format!("Source: {} ({version})\n", package.source_name());
        }
        (Some(source), None) => text += &format!("Source: {source}\n"),
        (None, None) => {}
    }
    text += &format!("Version: {}\n\n", package.version);
    text
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
    use super::*;

    fn one(input: &str) -> InstalledPackage {
        let inventory = parse_dpkg_status(input.as_bytes());
        assert_eq!(inventory.problems, vec![], "input: {input}");
        assert_eq!(inventory.packages.len(), 1, "input: {input}");
        inventory.packages.into_iter().next().unwrap()
    }

    fn problem(input: &str) -> InventoryError {
        let inventory = parse_dpkg_status(input.as_bytes());
        assert_eq!(inventory.packages, vec![], "input: {input}");
        assert_eq!(inventory.problems.len(), 1, "input: {input}");
        inventory.problems.into_iter().next().unwrap()
    }

    const BASH: &str = "Package: bash\nEssential: yes\nStatus: install ok installed\n\
        Architecture: amd64\nSource: bash (5.2.15-2)\nVersion: 5.2.15-2+b8\n\
        Description: GNU Bourne Again SHell\n Bash is an sh-compatible command language.\n .\n more\n";

    #[test]
    fn binnmu_keeps_only_the_source_version() {
        let p = one(BASH);
        assert_eq!(
            (p.name.as_str(), p.version.as_str(), p.arch.as_str()),
            ("bash", "5.2.15-2+b8", "amd64")
        );
        assert_eq!(p.source, None);
        assert_eq!(p.source_version.as_deref(), Some("5.2.15-2"));
        assert_eq!((p.source_name(), p.source_version()), ("bash", "5.2.15-2"));
    }

    #[test]
    fn source_name_without_version() {
        let p = one(
            "Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\n\
             Source: openssl\nVersion: 3.0.17-1~deb12u2\n",
        );
        assert_eq!(p.source.as_deref(), Some("openssl"));
        assert_eq!(p.source_version, None);
    }

    #[test]
    fn source_equal_to_binary_is_dropped() {
        let p = one(
            "Package: x\nStatus: hold ok installed\nArchitecture: all\nSource: x (1.0-1)\nVersion: 1.0-1\n",
        );
        assert_eq!((p.source, p.source_version), (None, None));
    }

    #[test]
    fn status_words() {
        for (status, installed) in [
            ("install ok installed", Some(true)),
            ("hold ok installed", Some(true)),
            ("install reinstreq installed", Some(true)),
            ("install ok triggers-pending", Some(true)),
            ("install ok triggers-awaited", Some(true)),
            ("deinstall ok config-files", Some(false)),
            ("purge ok not-installed", Some(false)),
            ("install ok unpacked", Some(false)),
            ("install ok half-configured", Some(false)),
            ("install reinstreq half-installed", Some(false)),
            ("install ok", None),
            ("install ok installed extra", None),
            ("install bad installed", None),
            ("want ok installed", None),
            ("install ok installedd", None),
            ("", None),
        ] {
            assert_eq!(is_installed_status(status), installed, "{status:?}");
        }
    }

    #[test]
    fn not_installed_stanzas_are_skipped_silently() {
        let input = "Package: gone\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1.0\n\n\
                     Package: never\nStatus: purge ok not-installed\n\n";
        let inventory = parse_dpkg_status(input.as_bytes());
        assert_eq!(inventory, Inventory::default());
    }

    #[test]
    fn crlf_tabs_case_and_whitespace_only_separators() {
        let input = "package: a\r\nSTATUS: install ok installed\r\narchitecture:amd64\r\n\
                     version:\t1:2.0-1 \r\n \t\r\nPackage: b\r\nStatus: install ok installed\r\n\
                     Architecture: all\r\nVersion: 3\r\n";
        let inventory = parse_dpkg_status(input.as_bytes());
        assert_eq!(inventory.problems, vec![]);
        let names: Vec<_> = inventory
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.arch.as_str()))
            .collect();
        assert_eq!(names, [("a", "1:2.0-1", "amd64"), ("b", "3", "all")]);
    }

    #[test]
    fn problems_carry_lines_and_the_stanza_is_skipped() {
        let e = problem("Package: a\nStatus: install ok installed\nArchitecture: amd64\n");
        assert_eq!(
            e,
            InventoryError::MissingField {
                line: 1,
                field: "Version",
                package: Some("a".into())
            }
        );
        assert_eq!(e.to_string(), "line 1: stanza of a has no Version field");
        let e = problem(
            "\n\nPackage: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0 beta\n",
        );
        assert!(
            matches!(e, InventoryError::BadVersion { line: 6, .. }),
            "{e}"
        );
        let e = problem("Package: -a\nStatus: install ok installed\n");
        assert!(matches!(e, InventoryError::BadName { line: 1, .. }), "{e}");
        let e = problem("Package: a\nStatus: install ok\n");
        assert!(
            matches!(e, InventoryError::BadStatus { line: 2, .. }),
            "{e}"
        );
        let e = problem("Package: a\nPackage: b\n");
        assert!(
            matches!(
                e,
                InventoryError::DuplicateField {
                    line: 2,
                    field: "Package"
                }
            ),
            "{e}"
        );
        let e = problem("Status: install ok installed\nVersion: 1\n");
        assert!(
            matches!(
                e,
                InventoryError::MissingField {
                    line: 1,
                    field: "Package",
                    package: None
                }
            ),
            "{e}"
        );
        let e =
            problem("Package: a\nStatus: install ok installed\nArchitecture: AMD 64\nVersion: 1\n");
        assert!(matches!(e, InventoryError::BadArch { line: 3, .. }), "{e}");
        let e = problem("Package: a\nVersion\n");
        assert!(
            matches!(e, InventoryError::BadFieldLine { line: 2, .. }),
            "{e}"
        );
        let e = problem(" orphan\nPackage: a\n");
        assert!(
            matches!(e, InventoryError::OrphanContinuation { line: 1, .. }),
            "{e}"
        );
    }

    #[test]
    fn bad_sources() {
        let base = "Package: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n";
        for (source, expect_line) in [
            ("Source: b (1.0", 5),
            ("Source: b 1.0", 5),
            ("Source: b ()", 5),
            ("Source: b (1 0)", 5),
            ("Source: -b", 5),
        ] {
            let e = problem(&format!("{base}{source}\n"));
            assert_eq!(e.line(), Some(expect_line), "{source}: {e}");
        }
        let p = one(&format!("{base}Source: b  ( 1.0-1 )\n"));
        assert_eq!(
            (p.source.as_deref(), p.source_version.as_deref()),
            (Some("b"), Some("1.0-1"))
        );
    }

    #[test]
    fn not_utf8_only_matters_in_kept_fields() {
        let mut input = b"Package: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\nDescription: caf\xe9\n \xff\xfe\n".to_vec();
        assert_eq!(parse_dpkg_status(&input).packages.len(), 1);
        input.extend_from_slice(b"\nPackage: b\xe9\nStatus: install ok installed\n");
        let inventory = parse_dpkg_status(&input);
        assert_eq!(inventory.packages.len(), 1);
        assert_eq!(
            inventory.problems,
            [InventoryError::NotUtf8 {
                line: 8,
                field: "Package"
            }]
        );
    }

    #[test]
    fn good_stanzas_survive_bad_neighbours() {
        let input = format!("garbage line\n\n{BASH}\nPackage: b\nStatus: install ok installed\n");
        let inventory = parse_dpkg_status(input.as_bytes());
        assert_eq!(inventory.packages.len(), 1);
        let lines: Vec<_> = inventory.problems.iter().map(|p| p.line()).collect();
        assert_eq!(lines, [Some(1), Some(14)]);
    }

    #[test]
    fn every_truncation_of_a_stanza_is_handled() {
        let full = format!("{BASH}\n");
        for cut in 0..full.len() {
            let inventory = parse_dpkg_status(&full.as_bytes()[..cut]);
            assert!(inventory.packages.len() + inventory.problems.len() <= 1);
        }
    }

    #[test]
    fn format_round_trips() {
        for p in [
            one(BASH),
            one("Package: x\nStatus: install ok installed\nArchitecture: all\nVersion: 1\n"),
        ] {
            assert_eq!(one(&format_dpkg_stanza(&p)), p);
        }
    }
}
