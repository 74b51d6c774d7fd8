//! Integration tests of pw-planner: whole plans from a small fleet with real apt evidence, the
//! Markdown snapshot, and property tests over random fleets and policies.

mod fixture;
mod plan;
mod properties;
