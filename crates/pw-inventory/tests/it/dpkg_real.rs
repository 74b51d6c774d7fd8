//! The real Debian 12 status file: counts and entries checked by hand with zcat/grep/awk.

use pw_inventory::{InstalledPackage, parse_dpkg_status};

use crate::data;

fn status() -> Vec<u8> {
    data("dpkg-status-debian12.txt.gz")
}

fn find<'a>(packages: &'a [InstalledPackage], name: &str) -> &'a InstalledPackage {
    packages.iter().find(|p| p.name == name).unwrap()
}

fn pkg(
    name: &str,
    version: &str,
    arch: &str,
    source: Option<&str>,
    source_version: Option<&str>,
) -> InstalledPackage {
    InstalledPackage {
        name: name.into(),
        version: version.into(),
        arch: arch.into(),
        source: source.map(Into::into),
        source_version: source_version.map(Into::into),
    }
}

#[test]
fn parses_all_747_installed_packages_cleanly() {
    let inventory = parse_dpkg_status(&status());
    assert_eq!(inventory.problems, vec![]);
    assert_eq!(inventory.packages.len(), 747);
    let differing_source = inventory
        .packages
        .iter()
        .filter(|p| p.source.is_some())
        .count();
    assert_eq!(differing_source, 593);
    let differing_source_version = inventory
        .packages
        .iter()
        .filter(|p| p.source_version.is_some())
        .count();
    assert_eq!(differing_source_version, 64);
    let all = inventory
        .packages
        .iter()
        .filter(|p| p.arch == "all")
        .count();
    let amd64 = inventory
        .packages
        .iter()
        .filter(|p| p.arch == "amd64")
        .count();
    assert_eq!((all, amd64), (169, 578));
    let with_epoch = inventory
        .packages
        .iter()
        .filter(|p| p.version.contains(':'))
        .count();
    assert_eq!(with_epoch, 105);
}

#[test]
fn known_entries() {
    let packages = parse_dpkg_status(&status()).packages;
    assert_eq!(packages[0], pkg("adduser", "3.134", "all", None, None));
    for expected in [
        pkg("dpkg", "1.21.23", "amd64", None, None),
        pkg(
            "libssl3",
            "3.0.19-1~deb12u2",
            "amd64",
            Some("openssl"),
            None,
        ),
        pkg("libc6", "2.36-9+deb12u14", "amd64", Some("glibc"), None),
        pkg("zlib1g", "1:1.2.13.dfsg-1", "amd64", Some("zlib"), None),
        // binNMU: same source name, source version without +b8
        pkg("bash", "5.2.15-2+b8", "amd64", None, Some("5.2.15-2")),
        // the source version differs only by the binary's epoch
        pkg(
            "bsdutils",
            "1:2.38.1-5+deb12u3",
            "amd64",
            Some("util-linux"),
            Some("2.38.1-5+deb12u3"),
        ),
        pkg(
            "cpp",
            "4:12.2.0-3",
            "amd64",
            Some("gcc-defaults"),
            Some("1.203"),
        ),
    ] {
        assert_eq!(find(&packages, &expected.name), &expected);
    }
    assert_eq!(find(&packages, "cpp").source_name(), "gcc-defaults");
}

#[test]
fn crlf_copy_parses_the_same() {
    let lf = status();
    let crlf: Vec<u8> = String::from_utf8(lf.clone())
        .unwrap()
        .replace('\n', "\r\n")
        .into_bytes();
    assert_eq!(parse_dpkg_status(&crlf), parse_dpkg_status(&lf));
}

#[test]
fn not_installed_stanzas_in_the_real_file_are_dropped() {
    let text = String::from_utf8(status()).unwrap();
    let edited = text
        .replacen(
            "Package: dpkg\nEssential: yes\nStatus: install ok installed",
            "Package: dpkg\nEssential: yes\nStatus: deinstall ok config-files",
            1,
        )
        .replacen(
            "Package: bash\nEssential: yes\nStatus: install ok installed",
            "Package: bash\nEssential: yes\nStatus: hold ok installed",
            1,
        );
    assert!(edited.contains("dpkg\nEssential: yes\nStatus: deinstall ok config-files"));
    assert!(edited.contains("bash\nEssential: yes\nStatus: hold ok installed"));
    let inventory = parse_dpkg_status(edited.as_bytes());
    assert!(inventory.is_clean());
    assert_eq!(inventory.packages.len(), 746);
    assert!(inventory.packages.iter().all(|p| p.name != "dpkg"));
    assert!(inventory.packages.iter().any(|p| p.name == "bash"));
}
