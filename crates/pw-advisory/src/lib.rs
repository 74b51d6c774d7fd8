//! OSV advisories, CISA KEV and EPSS parsed from bytes, and the matcher that turns installed
//! packages × advisories into matches. Pure: no file system, environment, clock, async or
//! network; every parser takes `&[u8]` and never panics.
//!
//! Quirks of the subject (details in `docs/matching.md`):
//! - Debian and Ubuntu advisories name **source** packages; RHEL-family ones name binary rpms.
//! - CVE ids hide in `aliases`, `upstream` or `related`, and behind prefixes (`UBUNTU-CVE-…`).
//! - Ubuntu `binaries` has two shapes; AlmaLinux severity is only a word in the summary.
//! - Versions compare with dpkg or rpm rules ([`pw_version`]); `introduced: "0"` means "from the
//!   beginning" in both schemes.

mod advisory;
mod debian_tracker;
mod epss;
mod feed;
mod ids;
mod index;
mod kev;
mod matcher;
mod osv;
mod parse;
mod position;
mod precedence;
mod range;
mod scoring;
mod severity;

pub use advisory::{Advisory, AdvisoryProblem, AffectedPackage, Event, ecosystem_scheme};
pub use debian_tracker::{
    DEBIAN_TRACKER_PREFIX, TrackerError, TrackerParse, debian_release_number,
    looks_like_debian_tracker, parse_debian_tracker,
};
pub use epss::{EpssError, EpssParse, EpssScore, EpssScores, parse_epss_csv};
pub use feed::{AdvisoryBatch, FeedProblem, parse_advisories};
pub use ids::{cve_of, is_cve_id};
pub use index::{AdvisoryIndex, IndexStats};
pub use kev::{KevCatalog, KevEntry, KevError, KevParse, RansomwareUse, parse_kev};
pub use matcher::{Match, MatchedAdvisory, Matcher};
pub use osv::{
    Binary, OsvAffected, OsvEvent, OsvPackage, OsvRange, OsvRecord, OsvReference, OsvSeverity,
};
pub use parse::{
    LocatedRecord, OsvBatch, OsvError, parse_osv_array, parse_osv_bytes, parse_osv_documents,
    parse_osv_jsonl, parse_osv_record,
};
pub use position::Position;
pub use precedence::{SourceRank, apply_precedence, source_rank};
pub use scoring::{CvssError, CvssScore, CvssVersion, score_vector};
pub use severity::{AdvisoryKind, DistroSeverity, SeverityLevel, SeveritySource};
