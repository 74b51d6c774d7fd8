//! Inventory files: plain and gzip, and errors that name the file and the line.

use std::io::Write;
use std::path::{Path, PathBuf};

fn shared(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../pw-inventory/tests/data")
        .join(name)
}

#[test]
fn gzip_and_plain_files() {
    let gz = pw_host::read_dpkg_status_file(&shared("dpkg-status-debian12.txt.gz")).unwrap();
    assert_eq!(gz.packages.len(), 747);
    assert!(gz.problems.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("status");
    let mut text = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(
            std::fs::File::open(shared("dpkg-status-debian12.txt.gz")).unwrap(),
        ),
        &mut text,
    )
    .unwrap();
    std::fs::write(&plain, &text).unwrap();
    assert_eq!(
        pw_host::read_dpkg_status_file(&plain).unwrap().packages,
        gz.packages
    );
    let rpm = pw_host::read_rpm_qa_file(&shared("rpm-qa-almalinux9.tsv")).unwrap();
    assert_eq!(rpm.packages.len(), 384);
}

#[test]
fn problems_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rpm-qa.txt");
    std::fs::write(&path, "bash\t(none)\t5.1.8\t9.el9\tx86_64\nnot a package\n").unwrap();
    let inventory = pw_host::read_rpm_qa_file(&path).unwrap();
    assert_eq!(inventory.packages.len(), 1);
    let messages = inventory.problem_messages();
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].starts_with(&format!("{}: line 2: ", path.display())),
        "{messages:?}"
    );
}

#[test]
fn missing_and_truncated_gzip_files_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let e = pw_host::read_dpkg_status_file(&missing).unwrap_err();
    assert!(
        format!("{e:#}").contains(&missing.display().to_string()),
        "{e:#}"
    );
    let full = std::fs::read(shared("dpkg-status-debian12.txt.gz")).unwrap();
    let cut = dir.path().join("status.gz");
    std::fs::File::create(&cut)
        .unwrap()
        .write_all(&full[..full.len() / 2])
        .unwrap();
    let e = pw_host::read_dpkg_status_file(&cut).unwrap_err();
    let text = format!("{e:#}");
    assert!(text.contains(&cut.display().to_string()), "{text}");
    assert!(text.contains("corrupt or truncated gzip"), "{text}");
}

#[test]
fn os_release_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("os-release");
    std::fs::write(&path, "ID=\"almalinux\"\nVERSION_ID=\"9.4\"\n").unwrap();
    assert_eq!(
        pw_host::read_os_release_file(&path).unwrap().to_string(),
        "almalinux:9.4"
    );
    std::fs::write(&path, "ID=arch\n").unwrap();
    let e = pw_host::read_os_release_file(&path).unwrap_err();
    let text = format!("{e:#}");
    assert!(
        text.contains(&path.display().to_string()) && text.contains("unsupported"),
        "{text}"
    );
}

/// No silent zero: an inventory from which no package could be read is an error naming the file
/// and the reason, never an empty inventory.
#[test]
fn inventories_without_a_single_package_are_errors_naming_file_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 4] = [
        ("empty", b"", "it is empty"),
        ("hostname", b"myhost\n", "expected \"Field: value\""),
        (
            "removed",
            b"Package: gone\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1.0-1\n",
            "lists no installed package",
        ),
        ("garbled", b"\x00\xff\x13garbage\x00", "problem(s), the first: line 1"),
    ];
    for (name, bytes, reason) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let e = format!("{:#}", pw_host::read_dpkg_status_file(&path).unwrap_err());
        assert!(
            e.contains(&format!("no package could be read from {}", path.display())),
            "{e}"
        );
        assert!(e.contains(reason), "{name}: {e}");
        let e = format!("{:#}", pw_host::read_rpm_qa_file(&path).unwrap_err());
        assert!(e.contains(&path.display().to_string()), "{e}");
    }
}
