//! Package-tool output parsed from bytes: installed-package inventories (the dpkg status file,
//! `rpm -qa` output, `/etc/os-release`), conffiles from the dpkg status file, apt's dependency
//! simulation and version availability ([`apt`]), dpkg's query tools ([`dpkg_query`]) and Debian
//! changelogs with the CVE ids their entries name ([`changelog`]), and what a host still needs
//! after a change — kernel, replaced libraries still mapped ([`restart`]). The
//! one home of every parser of package-tool output: the agent, the planner and the CLI call
//! these. Pure: input is `&[u8]`/`&str`, no I/O, no clock.
//!
//! Partly bad input is not a failure: the parsers return every package they understood plus a
//! list of [`InventoryError`]s, each with the 1-based line where the problem is. A malformed
//! dpkg stanza or rpm line is skipped as a whole, so an inventory never holds half a package.
//! No input makes these functions panic (they are fuzzed: `fuzz/fuzz_targets/`).
//!
//! Quirks of the subject:
//!
//! - **dpkg status** is deb822: stanzas separated by blank lines (a line of only spaces, tabs or
//!   `\r` counts as blank), `Field: value` lines, continuation lines starting with a space or tab,
//!   field names case-insensitive. Only fields patchwarden needs are decoded; the others
//!   (descriptions, conffiles, possibly not UTF-8) are skipped byte-wise.
//! - `Source:` is `name` or `name (version)`; dpkg writes the version only when it differs from
//!   the binary's (binNMUs `+bN`, or packages like `cpp` `4:12.2.0-3` from `gcc-defaults` `1.203`).
//! - **rpm**: plain `rpm -qa` (`%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}`) drops the epoch, so
//!   patchwarden queries with [`RPM_QUERYFORMAT`], where an absent epoch prints `(none)`.
//! - **os-release** values are shell-quoted; `ID_LIKE` lists the distributions a derivative
//!   follows.

pub mod apt;
pub mod changelog;
mod dpkg;
pub mod dpkg_query;
pub mod file_stat;
mod os_release;
pub mod restart;
mod rpm;

pub use dpkg::{
    Conffile, Conffiles, format_dpkg_stanza, is_installed_status, parse_dpkg_conffiles,
    parse_dpkg_status,
};
pub use os_release::parse_os_release;
pub use rpm::{RPM_QA_ARGS, RPM_QUERYFORMAT, format_rpm_qa_line, parse_rpm_qa};

pub use pw_model::InstalledPackage;

/// What a parser understood, plus every problem it skipped over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Installed packages, in input order.
    pub packages: Vec<InstalledPackage>,
    /// Skipped stanzas or lines, in input order.
    pub problems: Vec<InventoryError>,
}

impl Inventory {
    /// True when the input parsed without any problem.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One problem in an inventory input. `line` is 1-based; for a dpkg stanza problem it is the
/// line of the offending field (or the stanza's first line when a field is missing).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InventoryError {
    #[error("line {line}: expected \"Field: value\", found {text:?}")]
    BadFieldLine { line: usize, text: String },
    #[error("line {line}: continuation line {text:?} outside a field")]
    OrphanContinuation { line: usize, text: String },
    #[error("line {line}: stanza{} has no {field} field", for_package(.package))]
    MissingField {
        line: usize,
        field: &'static str,
        package: Option<String>,
    },
    #[error("line {line}: field {field} appears twice in one stanza")]
    DuplicateField { line: usize, field: &'static str },
    #[error("line {line}: field {field} is not valid UTF-8")]
    NotUtf8 { line: usize, field: &'static str },
    #[error(
        "line {line}: Status {value:?} is not \"want flag status\" with dpkg's words (e.g. \"install ok installed\")"
    )]
    BadStatus { line: usize, value: String },
    #[error("line {line}: {field}: {source}")]
    BadName {
        line: usize,
        field: &'static str,
        source: pw_model::PackageNameError,
    },
    #[error("line {line}: {field}: {source}")]
    BadVersion {
        line: usize,
        field: &'static str,
        source: pw_version::VersionError,
    },
    #[error("line {line}: architecture {value:?} is not lowercase letters, digits, '-' and '_'")]
    BadArch { line: usize, value: String },
    #[error("line {line}: Source {value:?} is not \"name\" or \"name (version)\"")]
    BadSource { line: usize, value: String },
    #[error("line {line}: conffile {text:?} is not \"/PATH MD5 [obsolete|remove-on-upgrade]\"")]
    BadConffile { line: usize, text: String },
    #[error("line {line}: rpm line {text:?}: {problem}")]
    BadRpmLine {
        line: usize,
        text: String,
        problem: &'static str,
    },
    #[error(
        "line {line}: changelog line {text:?} is neither \"source (version) distribution; urgency=…\" nor an indented line of an entry"
    )]
    BadChangelogLine { line: usize, text: String },
    #[error("line {line}: os-release line {text:?} is not KEY=value")]
    BadOsReleaseLine { line: usize, text: String },
    #[error("os-release has no {key}")]
    MissingOsReleaseKey { key: &'static str },
    #[error(
        "unsupported operating system ID={id:?} ID_LIKE={id_like:?} VERSION_ID={version_id:?}: patchwarden supports debian, ubuntu, almalinux, rocky, rhel (and RHEL rebuilds whose ID_LIKE names rhel)"
    )]
    UnsupportedOs {
        id: String,
        id_like: String,
        version_id: String,
    },
    #[error(transparent)]
    BadOsRelease(#[from] pw_model::OsReleaseError),
}

impl InventoryError {
    /// The 1-based line of the problem, when it has one.
    pub fn line(&self) -> Option<usize> {
        use InventoryError::*;
        match self {
            BadFieldLine { line, .. }
            | OrphanContinuation { line, .. }
            | MissingField { line, .. }
            | DuplicateField { line, .. }
            | NotUtf8 { line, .. }
            | BadStatus { line, .. }
            | BadName { line, .. }
            | BadVersion { line, .. }
            | BadArch { line, .. }
            | BadSource { line, .. }
            | BadConffile { line, .. }
            | BadRpmLine { line, .. }
            | BadChangelogLine { line, .. }
            | BadOsReleaseLine { line, .. } => Some(*line),
            MissingOsReleaseKey { .. } | UnsupportedOs { .. } | BadOsRelease(_) => None,
        }
    }
}

fn for_package(package: &Option<String>) -> String {
    match package {
        Some(name) => format!(" of {name}"),
        None => String::new(),
    }
}

/// Longest excerpt of an offending line kept in an error (input can be arbitrary bytes).
const EXCERPT: usize = 80;

/// A printable excerpt of raw input for error messages.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(EXCERPT)];
    String::from_utf8_lossy(cut).into_owned()
}

/// Validates an architecture name: `amd64`, `all`, `x86_64`, `noarch`, `arm64`, `i386`…
pub(crate) fn valid_arch(arch: &str) -> bool {
    !arch.is_empty()
        && arch.len() <= 32
        && arch
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}
