//! Parsers for dpkg's view of configuration files: the `Conffiles:` field of
//! `/var/lib/dpkg/status` (or `dpkg-query -s`) and the output of `dpkg --verify`.
//!
//! Quirks: `Conffiles:` is a multi-line field whose continuation lines are ` PATH MD5` with an
//! optional trailing `obsolete` (or `remove-on-upgrade`); `dpkg --verify` prints one line per
//! problem as a 9-character check string (`??5??????`, `5` = content differs, or `missing  `),
//! a space, an attribute (`c` for a conffile), a space and the path.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// One conffile of an installed package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conffile {
    pub path: String,
    pub md5: String,
    /// No longer shipped by the package (`obsolete`).
    pub obsolete: bool,
}

/// Conffiles by package name from dpkg status stanzas.
pub fn parse_conffiles(status: &str) -> BTreeMap<String, Vec<Conffile>> {
    let mut out: BTreeMap<String, Vec<Conffile>> = BTreeMap::new();
    for stanza in status.split("\n\n") {
        let mut package: Option<&str> = None;
        let mut files = Vec::new();
        let mut in_conffiles = false;
        for line in stanza.lines() {
            if let Some(rest) = line.strip_prefix(' ') {
                if in_conffiles {
                    let mut words = rest.split_whitespace();
                    if let (Some(path), Some(md5)) = (words.next(), words.next()) {
                        let flag = words.next();
                        files.push(Conffile {
                            path: path.to_owned(),
                            md5: md5.to_owned(),
                            obsolete: flag == Some("obsolete"),
                        });
                    }
                }
                continue;
            }
            in_conffiles = false;
            if let Some(name) = line.strip_prefix("Package:") {
                package = Some(name.trim());
            } else if line.starts_with("Conffiles:") {
                in_conffiles = true;
            }
        }
        if let Some(name) = package
            && !files.is_empty()
        {
            out.entry(name.to_owned()).or_default().extend(files);
        }
    }
    out
}

/// Conffiles reported by `dpkg --verify` as changed or missing.
pub fn parse_verify(output: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in output.lines() {
        if line.len() < 13 || !line.is_char_boundary(9) || !line.is_char_boundary(12) {
            continue;
        }
        let (checks, rest) = line.split_at(9);
        let Some(path) = rest.strip_prefix(" c ") else {
            continue;
        };
        let changed = checks.as_bytes().get(2) == Some(&b'5') || checks.trim() == "missing";
        if changed && path.starts_with('/') {
            out.insert(path.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = include_str!("../tests/data/dpkg-status-excerpt.txt");
    const VERIFY: &str = include_str!("../tests/data/dpkg-verify.txt");

    #[test]
    fn reads_conffiles_of_real_stanzas() {
        let conffiles = parse_conffiles(STATUS);
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
        let conffiles = parse_conffiles(
            "Package: foo\nConffiles:\n /etc/a 0123 obsolete\n /etc/b 4567\nDescription: x\n more\n",
        );
        assert_eq!(
            conffiles["foo"]
                .iter()
                .map(|c| (c.path.as_str(), c.obsolete))
                .collect::<Vec<_>>(),
            [("/etc/a", true), ("/etc/b", false)]
        );
    }

    #[test]
    fn reads_changed_conffiles_from_dpkg_verify() {
        let real = parse_verify(VERIFY);
        assert_eq!(
            real.into_iter().collect::<Vec<_>>(),
            ["/etc/debuginfod/elfutils.urls"]
        );
        let synthetic = parse_verify(
            "??5?????? c /etc/nginx/nginx.conf\n??5??????   /usr/lib/x.pem\n????????? c /etc/ok\nshort\n",
        );
        assert_eq!(
            synthetic.into_iter().collect::<Vec<_>>(),
            ["/etc/nginx/nginx.conf"]
        );
    }
}
