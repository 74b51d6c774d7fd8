//! `rpm -qa` output: the query format patchwarden runs, and plain NEVRA lines.
//!
//! patchwarden runs `rpm -qa --queryformat '%{NAME}\t%{EPOCH}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\n'`
//! ([`RPM_QA_ARGS`], passed as argv, never through a shell). `%{EPOCH}` prints `(none)` when the
//! package has no epoch, and `%{ARCH}` prints `(none)` for `gpg-pubkey` pseudo-packages. The
//! result's version is `[E:]V-R`, exactly what OSV RPM advisories use (`1:3.0.7-27.el9`).
//!
//! Plain lines as printed by `rpm -qa` (`kernel-core-5.14.0-427.13.1.el9_4.x86_64`) and by
//! `dnf`'s NEVRA form (`openssl-1:3.0.7-27.el9.x86_64`) are accepted too, one format per line.
//! Beware: plain `rpm -qa` omits the epoch, so such a line is read with epoch 0, which compares
//! lower than an advisory's `1:…` fixed version; use the query format for real inventories. The
//! architecture of a plain line is its last `.`-part when that is a known rpm architecture
//! (`x86_64`, `noarch`, …); otherwise (as for `gpg-pubkey-fd431d51-4ae0493b`) there is none.

use memchr::memchr;
use pw_model::{InstalledPackage, PackageName};
use pw_version::Scheme;

use crate::{Inventory, InventoryError, excerpt, valid_arch};

/// The `--queryformat` patchwarden uses (fields separated by tabs, one package per line).
pub const RPM_QUERYFORMAT: &str = "%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\n";

/// The argv after `rpm` for an inventory query.
pub const RPM_QA_ARGS: [&str; 3] = ["-qa", "--queryformat", RPM_QUERYFORMAT];

/// Architectures recognised at the end of a plain NEVRA line.
const KNOWN_ARCHES: &[&str] = &[
    "noarch",
    "x86_64",
    "i386",
    "i486",
    "i586",
    "i686",
    "athlon",
    "aarch64",
    "armv7hl",
    "armv7hnl",
    "armv6hl",
    "ppc64le",
    "ppc64",
    "ppc",
    "s390x",
    "s390",
    "riscv64",
    "loongarch64",
    "ia64",
    "src",
    "nosrc",
];

/// Parses `rpm -qa` output, query-format lines and plain NEVRA lines alike. Blank lines are
/// ignored; every malformed line is reported with its number and skipped. Never panics.
pub fn parse_rpm_qa(input: &[u8]) -> Inventory {
    let mut out = Inventory::default();
    let mut pos = 0;
    let mut line_no = 0;
    while pos < input.len() {
        let end = memchr(b'\n', &input[pos..]).map_or(input.len(), |i| pos + i);
        let raw = &input[pos..end];
        pos = end + 1;
        line_no += 1;
        let line = raw.trim_ascii();
        if line.is_empty() {
            continue;
        }
        let parsed = match std::str::from_utf8(line) {
            Err(_) => Err(bad(line_no, line, "not valid UTF-8")),
            Ok(text) if text.contains('\t') => parse_queryformat(text, line_no),
            Ok(text) => parse_nevra(text, line_no),
        };
        match parsed {
            Ok(package) => out.packages.push(package),
            Err(problem) => out.problems.push(problem),
        }
    }
    out
}

/// Writes a package as one query-format line (ending in `\n`) that [`parse_rpm_qa`] reads back
/// to the same value. An empty `arch` is written as `(none)`.
pub fn format_rpm_qa_line(package: &InstalledPackage) -> String {
    let (epoch, rest) = match package.version.split_once(':') {
        Some((epoch, rest)) => (epoch, rest),
        None => ("(none)", package.version.as_str()),
    };
    let (version, release) = rest.rsplit_once('-').unwrap_or((rest, ""));
    let arch = if package.arch.is_empty() {
        "(none)"
    } else {
        &package.arch
    };
    format!("{}\t{epoch}\t{version}\t{release}\t{arch}\n", package.name)
}

fn bad(line: usize, text: &[u8], problem: &'static str) -> InventoryError {
    InventoryError::BadRpmLine {
        line,
        text: excerpt(text),
        problem,
    }
}

fn parse_queryformat(text: &str, line: usize) -> Result<InstalledPackage, InventoryError> {
    let mut fields = text.split('\t');
    let mut next = || fields.next().map(str::trim);
    let (Some(name), Some(epoch), Some(version), Some(release), Some(arch), None) =
        (next(), next(), next(), next(), next(), next())
    else {
        return Err(bad(
            line,
            text.as_bytes(),
            "expected 5 tab-separated fields NAME EPOCH VERSION RELEASE ARCH",
        ));
    };
    let epoch = match epoch {
        "(none)" => None,
        digits if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => Some(digits),
        _ => {
            return Err(bad(
                line,
                text.as_bytes(),
                "EPOCH is not a number or (none)",
            ));
        }
    };
    let arch = match arch {
        "(none)" => "",
        arch => arch,
    };
    build(text, line, name, epoch, version, release, arch)
}

fn parse_nevra(text: &str, line: usize) -> Result<InstalledPackage, InventoryError> {
    let (rest, arch) = match text.rsplit_once('.') {
        Some((rest, arch)) if KNOWN_ARCHES.contains(&arch) => (rest, arch),
        _ => (text, ""),
    };
    let malformed = || {
        bad(
            line,
            text.as_bytes(),
            "not name-[epoch:]version-release[.arch]",
        )
    };
    let (rest, release) = rest.rsplit_once('-').ok_or_else(malformed)?;
    let (name, evr_version) = rest.rsplit_once('-').ok_or_else(malformed)?;
    let (epoch, version) = match evr_version.split_once(':') {
        Some((epoch, version)) => (Some(epoch), version),
        None => (None, evr_version),
    };
    build(text, line, name, epoch, version, release, arch)
}

fn build(
    text: &str,
    line: usize,
    name: &str,
    epoch: Option<&str>,
    version: &str,
    release: &str,
    arch: &str,
) -> Result<InstalledPackage, InventoryError> {
    PackageName::validate(name).map_err(|source| InventoryError::BadName {
        line,
        field: "NAME",
        source,
    })?;
    if version.contains('-') || release.contains('-') {
        return Err(bad(
            line,
            text.as_bytes(),
            "VERSION and RELEASE may not contain '-'",
        ));
    }
    let full = match epoch {
        Some(epoch) => format!("{epoch}:{version}-{release}"),
        None => format!("{version}-{release}"),
    };
    Scheme::Rpm
        .validate(&full)
        .map_err(|source| InventoryError::BadVersion {
            line,
            field: "EVR",
            source,
        })?;
    if !arch.is_empty() && !valid_arch(arch) {
        return Err(InventoryError::BadArch {
            line,
            value: arch.to_owned(),
        });
    }
    Ok(InstalledPackage {
        name: name.to_owned(),
        version: full,
        arch: arch.to_owned(),
        source: None,
        source_version: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(line: &str, expected: (&str, &str, &str)) {
        let inventory = parse_rpm_qa(line.as_bytes());
        assert_eq!(inventory.problems, vec![], "{line:?}");
        let p = &inventory.packages[0];
        assert_eq!(
            (p.name.as_str(), p.version.as_str(), p.arch.as_str()),
            expected,
            "{line:?}"
        );
    }

    fn problem(line: &str) -> InventoryError {
        let inventory = parse_rpm_qa(line.as_bytes());
        assert_eq!(inventory.packages, vec![], "{line:?}");
        assert_eq!(inventory.problems.len(), 1, "{line:?}");
        inventory.problems.into_iter().next().unwrap()
    }

    #[test]
    fn queryformat_lines() {
        check(
            "openssl-libs\t1\t3.0.7\t27.el9\tx86_64\n",
            ("openssl-libs", "1:3.0.7-27.el9", "x86_64"),
        );
        check(
            "kernel-core\t(none)\t5.14.0\t427.13.1.el9_4\tx86_64",
            ("kernel-core", "5.14.0-427.13.1.el9_4", "x86_64"),
        );
        check(
            "gpg-pubkey\t(none)\tfd431d51\t4ae0493b\t(none)\r\n",
            ("gpg-pubkey", "fd431d51-4ae0493b", ""),
        );
        check(
            "nodejs\t1\t18.19.0\t1.module+el8.9.0+21077+95a6e7d6\tx86_64",
            (
                "nodejs",
                "1:18.19.0-1.module+el8.9.0+21077+95a6e7d6",
                "x86_64",
            ),
        );
    }

    #[test]
    fn plain_nevra_lines() {
        check(
            "kernel-core-5.14.0-427.13.1.el9_4.x86_64",
            ("kernel-core", "5.14.0-427.13.1.el9_4", "x86_64"),
        );
        check(
            "openssl-1:3.0.7-27.el9.x86_64",
            ("openssl", "1:3.0.7-27.el9", "x86_64"),
        );
        check(
            "gpg-pubkey-fd431d51-4ae0493b",
            ("gpg-pubkey", "fd431d51-4ae0493b", ""),
        );
        check(
            "python3-libs-3.9.18-3.el9_4.3.noarch",
            ("python3-libs", "3.9.18-3.el9_4.3", "noarch"),
        );
        check(
            "tzdata-2024a-1.el9.noarch",
            ("tzdata", "2024a-1.el9", "noarch"),
        );
    }

    #[test]
    fn blank_lines_are_skipped_and_lines_are_counted() {
        let inventory = parse_rpm_qa(b"\n  \nbash-5.1.8-9.el9.x86_64\n\nnonsense\n");
        assert_eq!(inventory.packages.len(), 1);
        assert_eq!(inventory.problems.len(), 1);
        assert_eq!(inventory.problems[0].line(), Some(5));
    }

    #[test]
    fn malformed_lines() {
        for line in [
            "a\tb\tc",
            "a\t(none)\t1\t2\tx86_64\textra",
            "bash\tx\t5.1\t1\tx86_64",
            "bash\t\t5.1\t1\tx86_64",
            "bash-5.1",
            "bash",
            "bash\t(none)\t5-1\t1\tx86_64",
            "\u{ff}",
        ] {
            assert!(
                matches!(problem(line), InventoryError::BadRpmLine { line: 1, .. }),
                "{line:?}"
            );
        }
        assert!(matches!(
            problem("-bash\t(none)\t5.1\t1\tx86_64"),
            InventoryError::BadName { line: 1, .. }
        ));
        assert!(matches!(
            problem("bash\t(none)\t\t1\tx86_64"),
            InventoryError::BadVersion { line: 1, .. }
        ));
        assert!(matches!(
            problem("bash\t(none)\t5.1\t1\tX86 64"),
            InventoryError::BadArch { line: 1, .. }
        ));
        let raw = parse_rpm_qa(b"a\xff\t(none)\t1\t1\tx86_64\n");
        assert!(matches!(
            raw.problems.as_slice(),
            [InventoryError::BadRpmLine {
                problem: "not valid UTF-8",
                ..
            }]
        ));
    }

    #[test]
    fn format_round_trips() {
        for line in [
            "openssl-libs\t1\t3.0.7\t27.el9\tx86_64\n",
            "gpg-pubkey\t(none)\tfd431d51\t4ae0493b\t(none)\n",
            "kernel\t0\t5.14.0\t1.el9\tx86_64\n",
        ] {
            let p = parse_rpm_qa(line.as_bytes()).packages.remove(0);
            assert_eq!(format_rpm_qa_line(&p), line);
        }
    }
}
