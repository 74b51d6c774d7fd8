//! Shared vocabulary of patchwarden: operating-system releases, package names, priority tiers,
//! durations as operators write them, CVE id syntax, a finding's lifecycle (status, accepted
//! risk, counts per tier).
//! Pure: no I/O, no clock, no async runtime.

mod archive;
mod cve;
mod cvss;
mod duration;
mod finding;
mod inventory;
mod label;
mod lifecycle;
mod line_pattern;
mod os;
mod package;
mod text;
mod tier;
mod unit;

pub use archive::{MAX_ARCHIVE_DEBS, MAX_ARCHIVE_PATH, archive_path_problem, is_archive_deb_name};
pub use cve::is_cve_id;
pub use cvss::CvssVersion;
pub use duration::{DurationError, format_duration, parse_duration};
pub use finding::Finding;
pub use inventory::InstalledPackage;
pub use label::{
    LabelError, MAX_LABEL_LENGTH, MAX_LABELS, check_label, check_label_key, check_labels,
    parse_labels,
};
pub use lifecycle::AcceptedRisk;
pub use lifecycle::{
    AcceptanceError, FindingStatus, MAX_ACCEPTANCE, MAX_ACCEPTANCE_REASON_CHARS, TierTally,
    acceptance_covers, check_acceptance, finding_status,
};
pub use line_pattern::{LOG_ERROR_WORDS, LinePattern, MAX_PATTERN_LEN, PatternError};
pub use os::{OsFamily, OsRelease, OsReleaseError};
pub use package::{PackageName, PackageNameError};
pub use text::{
    HostnameError, MAX_AGENT_VERSION, MAX_HOSTNAME, MAX_NOTE, MAX_RESULT_MESSAGE, check_hostname,
    check_text, clip_text,
};
pub use tier::Tier;
pub use unit::is_service_unit;
