//! The `Conffiles:` field of the dpkg status database (`/var/lib/dpkg/status`, or
//! `dpkg-query -s PKG…` output, same stanzas), read by the same deb822 reader as the installed
//! packages.
//!
//! Quirks: `Conffiles:` is a multi-line field whose continuation lines are ` PATH MD5` with an
//! optional trailing flag, `obsolete` (no longer shipped) or `remove-on-upgrade`. Every stanza
//! with a valid `Package:` counts, whatever its status (a `config-files` package keeps its
//! conffiles), and no other field is required.

use std::collections::BTreeMap;

use super::{Projection, Stanza, Text, check};
use crate::{InventoryError, excerpt};

/// One conffile of a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conffile {
    pub path: String,
    pub md5: String,
    /// No longer shipped by the package (`obsolete`).
    pub obsolete: bool,
}

/// Conffiles by package name, plus the stanzas or lines that could not be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conffiles {
    /// Only packages that have conffiles.
    pub packages: BTreeMap<String, Vec<Conffile>>,
    pub problems: Vec<InventoryError>,
}

/// Reads the conffiles of every stanza. Never panics.
pub fn parse_dpkg_conffiles(input: &[u8]) -> Conffiles {
    let mut out = Conffiles::default();
    super::read(input, &mut out);
    out
}

impl Projection for Conffiles {
    const CONFFILES: bool = true;

    fn stanza(&mut self, stanza: &mut Stanza, text: &Text<'_>) {
        if let Err(problem) = self.read(stanza, text) {
            self.problems.push(problem);
        }
    }
}

impl Conffiles {
    fn read(&mut self, stanza: &mut Stanza, text: &Text<'_>) -> Result<(), InventoryError> {
        if let Some(problem) = stanza.problem.take() {
            return Err(*problem);
        }
        let Some(package) = stanza.package else {
            return Err(InventoryError::MissingField {
                line: stanza.first_line,
                field: "Package",
                package: None,
            });
        };
        let name = text.get(package, "Package")?;
        check::name(name, package.line, "Package")?;
        let Some(value) = stanza.conffiles else {
            return Ok(());
        };
        let mut files = Vec::new();
        for (index, line) in text.get(value, "Conffiles")?.lines().enumerate() {
            let mut words = line.split_ascii_whitespace();
            let (path, md5, flag) = match (words.next(), words.next(), words.next()) {
                (None, ..) => continue,
                (Some(path), Some(md5), flag)
                    if path.starts_with('/') && words.next().is_none() =>
                {
                    (path, md5, flag)
                }
                _ => {
                    return Err(InventoryError::BadConffile {
                        line: value.line + index,
                        text: excerpt(line.as_bytes()),
                    });
                }
            };
            files.push(Conffile {
                path: path.to_owned(),
                md5: md5.to_owned(),
                obsolete: flag == Some("obsolete"),
            });
        }
        if !files.is_empty() {
            self.packages
                .entry(name.to_owned())
                .or_default()
                .extend(files);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = include_str!("../../tests/data/apt/dpkg-status-excerpt.txt");

    #[test]
    fn reads_conffiles_of_real_stanzas() {
        let conffiles = parse_dpkg_conffiles(STATUS.as_bytes());
        assert_eq!(conffiles.problems, []);
        let conffiles = conffiles.packages;
        assert_eq!(
            conffiles.keys().collect::<Vec<_>>(),
            ["openssl", "postgresql-common", "systemd"]
        );
        assert_eq!(
            conffiles["openssl"],
            [Conffile {
                path: "/etc/ssl/openssl.cnf".into(),
                md5: "fe1993ec22f6b8a46cb9706acd8fc68f".into(),
                obsolete: false
            }]
        );
        assert_eq!(conffiles["systemd"].len(), 7);
        assert!(!conffiles.contains_key("libssl3"));
    }

    #[test]
    fn marks_obsolete_conffiles() {
        let conffiles = parse_dpkg_conffiles(
            b"Package: foo\nConffiles:\n /etc/a 0123 obsolete\n /etc/b 4567\nDescription: x\n more\n",
        );
        assert_eq!(
            conffiles.packages["foo"]
                .iter()
                .map(|c| (c.path.as_str(), c.obsolete))
                .collect::<Vec<_>>(),
            [("/etc/a", true), ("/etc/b", false)]
        );
    }

    #[test]
    fn bad_stanzas_and_lines_are_problems_with_their_line() {
        let input = b"Package: a\r\nconffiles:\r\n /etc/a 01\r\n\r\nPackage: b\nConffiles:\n /etc/b\n\n\
            Package: c\nConffiles:\n /etc/c 1\nConffiles:\n\nPackage: d\nConffiles: \n /etc/d 2 obsolete\n";
        let conffiles = parse_dpkg_conffiles(input);
        assert_eq!(conffiles.packages.keys().collect::<Vec<_>>(), ["a", "d"]);
        let lines: Vec<_> = conffiles.problems.iter().map(|p| p.line()).collect();
        assert_eq!(lines, [Some(7), Some(12)], "{:?}", conffiles.problems);
    }

    #[test]
    fn every_truncation_is_handled() {
        for cut in 0..STATUS.len() {
            let _ = parse_dpkg_conffiles(&STATUS.as_bytes()[..cut]);
        }
    }
}
