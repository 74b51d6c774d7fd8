//! Installed changelogs: real Debian 12 changelogs (pw-inventory's tests/data/changelog) laid
//! out in a doc tree with a doc-directory symlink, as dpkg installs them.

use std::path::Path;

use pw_host::changelogs::installed_history;
use pw_model::InstalledPackage;

fn package(name: &str, version: &str, source: Option<&str>) -> InstalledPackage {
    InstalledPackage {
        name: name.into(),
        version: version.into(),
        arch: "amd64".into(),
        source: source.map(Into::into),
        source_version: None,
    }
}

#[test]
fn history_per_package_through_symlinked_doc_dirs() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pw-inventory/tests/data/changelog");
    let root = tempfile::tempdir().unwrap();
    for name in ["less", "libssl3"] {
        let dir = root.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        std::fs::copy(
            data.join(format!("{name}.changelog.Debian.gz")),
            dir.join("changelog.Debian.gz"),
        )
        .unwrap();
    }
    // openssl's doc directory is a symlink to libssl3's, as for many -dev/-bin packages.
    std::os::unix::fs::symlink("libssl3", root.path().join("openssl")).unwrap();
    let packages = [
        package("less", "590-2.1~deb12u2", None),
        package("libssl3", "3.0.19-1~deb12u1", Some("openssl")),
        package("openssl", "3.0.19-1~deb12u2", None),
        package("libssl3-stale", "9.9-9", None),
        package("nodocs", "1.0", None),
    ];
    std::fs::create_dir(root.path().join("libssl3-stale")).unwrap();
    std::fs::copy(
        data.join("libssl3.changelog.Debian.gz"),
        root.path().join("libssl3-stale/changelog.Debian.gz"),
    )
    .unwrap();
    let history = installed_history(root.path(), &packages);
    assert!(history.cves["less"].contains("CVE-2024-32487"));
    // 3.0.19-1~deb12u1 does not have ~deb12u2's five CVEs; openssl (through the symlink) does.
    assert!(!history.cves["libssl3"].contains("CVE-2026-28387"));
    assert!(history.cves["openssl"].contains("CVE-2026-28387"));
    assert!(history.cves["libssl3"].contains("CVE-2025-15467"));
    assert_eq!(history.mismatched, ["libssl3-stale"]);
    assert_eq!(history.unreadable, 1);
    assert_eq!(history.cves.len(), 3);
}
