//! From bytes to normalized advisories in one call, with every problem located.

use crate::advisory::{Advisory, AdvisoryProblem};
use crate::parse::{OsvError, parse_osv_bytes};
use crate::position::Position;

/// Advisories read from one input, and the problems met.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdvisoryBatch {
    pub advisories: Vec<Advisory>,
    pub problems: Vec<FeedProblem>,
}

/// A problem reading a feed: the input could not be read there, or a record was read but part
/// of it was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedProblem {
    #[error(transparent)]
    Read(#[from] OsvError),
    #[error("{position}: {problem}")]
    Record {
        position: Position,
        problem: AdvisoryProblem,
    },
}

/// Reads OSV records in any accepted layout (see [`parse_osv_bytes`]) and normalizes them.
/// Never panics; partly bad input gives the advisories understood plus the problems.
pub fn parse_advisories(bytes: &[u8]) -> AdvisoryBatch {
    let batch = parse_osv_bytes(bytes);
    let mut problems: Vec<FeedProblem> =
        batch.problems.into_iter().map(FeedProblem::Read).collect();
    let mut advisories = Vec::with_capacity(batch.records.len());
    for located in &batch.records {
        let (advisory, record_problems) = Advisory::from_record(&located.record);
        problems.extend(
            record_problems
                .into_iter()
                .map(|problem| FeedProblem::Record {
                    position: located.position,
                    problem,
                }),
        );
        advisories.push(advisory);
    }
    problems.sort_by_key(|p| match p {
        FeedProblem::Read(e) => e.position(),
        FeedProblem::Record { position, .. } => Some(*position),
    });
    AdvisoryBatch {
        advisories,
        problems,
    }
}
