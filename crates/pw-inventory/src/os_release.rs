//! `/etc/os-release` (os-release(5)) to a supported [`OsRelease`].
//!
//! Values are shell-like: unquoted, `"double"` (with `\"`, `\\`, `\$` and `` \` `` escapes) or
//! `'single'` quoted. Comments and lines that are not assignments are ignored, as systemd does,
//! unless they hold a key needed here with broken quoting, which is an error.
//!
//! Mapping: `ID` debian, ubuntu, almalinux, rocky, rhel map to their family; any other `ID` whose
//! `ID_LIKE` names `rhel` (CentOS Stream, EuroLinux, …) is treated as RHEL, since those rebuilds
//! track RHEL's major releases. Everything else (including Ubuntu derivatives, whose
//! `VERSION_ID` is not Ubuntu's) is unsupported. `VERSION_ID` is required: Debian testing and sid
//! have none and are unsupported.

use pw_model::{OsFamily, OsRelease};

use crate::InventoryError;

/// Reads the contents of an os-release file.
pub fn parse_os_release(input: &str) -> Result<OsRelease, InventoryError> {
    let mut id = None;
    let mut id_like = None;
    let mut version_id = None;
    for (index, line) in input.lines().enumerate() {
        let line = line.trim();
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        let slot = match key {
            "ID" => &mut id,
            "ID_LIKE" => &mut id_like,
            "VERSION_ID" => &mut version_id,
            _ => continue,
        };
        let value = unquote(raw).ok_or_else(|| InventoryError::BadOsReleaseLine {
            line: index + 1,
            text: crate::excerpt(line.as_bytes()),
        })?;
        *slot = Some(value);
    }
    let id = id
        .unwrap_or_else(|| "linux".to_owned())
        .to_ascii_lowercase();
    let id_like = id_like.unwrap_or_default();
    let family = match id.as_str() {
        "debian" => Some(OsFamily::Debian),
        "ubuntu" => Some(OsFamily::Ubuntu),
        "almalinux" => Some(OsFamily::AlmaLinux),
        "rocky" => Some(OsFamily::Rocky),
        "rhel" => Some(OsFamily::Rhel),
        _ if id_like.split_ascii_whitespace().any(|like| like == "rhel") => Some(OsFamily::Rhel),
        _ => None,
    };
    let Some(family) = family else {
        return Err(InventoryError::UnsupportedOs {
            id,
            id_like,
            version_id: version_id.unwrap_or_default(),
        });
    };
    let version_id = version_id.ok_or(InventoryError::MissingOsReleaseKey { key: "VERSION_ID" })?;
    Ok(OsRelease::parse(&format!(
        "{}:{version_id}",
        family.as_str()
    ))?)
}

/// The value of a shell-like assignment, `None` when its quoting is broken.
fn unquote(raw: &str) -> Option<String> {
    if let Some(inner) = raw.strip_prefix('\'') {
        let inner = inner.strip_suffix('\'')?;
        return (!inner.contains('\'')).then(|| inner.to_owned());
    }
    let Some(inner) = raw.strip_prefix('"') else {
        let plain = !raw.contains(['"', '\'', '\\', '`', '$', ' ']);
        return plain.then(|| raw.to_owned());
    };
    let mut value = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return chars.as_str().is_empty().then_some(value),
            '\\' => match chars.next()? {
                escaped @ ('"' | '\\' | '$' | '`') => value.push(escaped),
                other => {
                    value.push('\\');
                    value.push(other);
                }
            },
            other => value.push(other),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        match parse_os_release(input) {
            Ok(release) => assert_eq!(release.to_string(), expected, "{input}"),
            Err(e) => panic!("{input}: {e}"),
        }
    }

    #[test]
    fn real_files() {
        check(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n\
             VERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n",
            "debian:12",
        );
        check(
            "NAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nID=ubuntu\nID_LIKE=debian\n",
            "ubuntu:22.04",
        );
        check(
            "NAME=\"AlmaLinux\"\nVERSION=\"9.4 (Seafoam Ocelot)\"\nID=\"almalinux\"\n\
             ID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\n",
            "almalinux:9.4",
        );
        check(
            "NAME=\"Rocky Linux\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\n",
            "rocky:9.3",
        );
        check(
            "NAME=\"Red Hat Enterprise Linux\"\nID=\"rhel\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"8.10\"\n",
            "rhel:8.10",
        );
        check(
            "NAME=\"CentOS Stream\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"9\"\n",
            "rhel:9",
        );
        check(
            "# comment\n\nnot an assignment\nID='debian'\nVERSION_ID=12\n",
            "debian:12",
        );
    }

    #[test]
    fn unsupported_systems_are_named() {
        let e = parse_os_release("ID=linuxmint\nID_LIKE=\"ubuntu debian\"\nVERSION_ID=\"21.3\"\n")
            .unwrap_err();
        assert_eq!(
            e,
            InventoryError::UnsupportedOs {
                id: "linuxmint".into(),
                id_like: "ubuntu debian".into(),
                version_id: "21.3".into()
            }
        );
        assert!(e.to_string().contains("ID=\"linuxmint\""), "{e}");
        assert!(matches!(
            parse_os_release("NAME=x\n"),
            Err(InventoryError::UnsupportedOs { id, .. }) if id == "linux"
        ));
        assert_eq!(
            parse_os_release("ID=debian\nVERSION_CODENAME=trixie\n"),
            Err(InventoryError::MissingOsReleaseKey { key: "VERSION_ID" })
        );
        assert!(matches!(
            parse_os_release("ID=ubuntu\nVERSION_ID=22\n"),
            Err(InventoryError::BadOsRelease(_))
        ));
        assert!(matches!(
            parse_os_release("ID=debian\nVERSION_ID=\"12\n"),
            Err(InventoryError::BadOsReleaseLine { line: 2, .. })
        ));
    }

    #[test]
    fn quoting() {
        assert_eq!(
            unquote("\"a \\\"b\\\" \\$c\"").as_deref(),
            Some("a \"b\" $c")
        );
        assert_eq!(unquote("'x y'").as_deref(), Some("x y"));
        assert_eq!(unquote("plain").as_deref(), Some("plain"));
        assert_eq!(unquote("\"a\"b"), None);
        assert_eq!(unquote("'a"), None);
        assert_eq!(unquote("a b"), None);
        assert_eq!(unquote("\"a\\"), None);
    }
}
