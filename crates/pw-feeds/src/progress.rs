//! Progress reporting for long imports, as a narrow trait so the CLI can draw bars and tests
//! can stay silent.

/// Receives progress of a long operation, phase by phase.
pub trait Progress {
    /// A new phase with `total` steps begins.
    fn start(&self, phase: &str, total: u64);
    /// `steps` more steps are done.
    fn advance(&self, steps: u64);
    /// The phase is over.
    fn finish(&self);
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _phase: &str, _total: u64) {}
    fn advance(&self, _steps: u64) {}
    fn finish(&self) {}
}
