//! Unit tests of the dpkg status reader (installed packages).

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
    let e = problem("Package: a\nStatus: install ok installed\nArchitecture: AMD 64\nVersion: 1\n");
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
