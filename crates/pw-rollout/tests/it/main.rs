//! Integration tests of pw-rollout through its public API: property tests over random event
//! sequences and random fleets, and the persisted schema.

mod fleet_props;
mod host_props;
mod schema;
mod support;
