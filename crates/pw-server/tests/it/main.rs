//! pw-server integration tests: a real controller on 127.0.0.1 port 0, real SQLite files in
//! temporary directories, real TLS and mutual TLS.

mod auth;
mod authz_edges;
mod bad_reports;
mod change_reports;
mod changelog_evidence;
mod compliance;
mod console_audit;
mod console_findings;
mod console_hosts;
mod console_notifications;
mod console_plans;
mod console_rollouts;
mod console_support;
mod console_windows;
mod enrollment;
mod errors;
mod evidence;
mod fleet;
mod fleet_document;
mod intelligence;
mod labels;
mod limits;
mod login;
mod notifications;
mod openapi;
mod plan_rollouts;
mod plans_api;
mod reports;
mod restarts;
mod rollout_controls;
mod rollout_retry;
mod rollouts;
mod supervision;
mod support;
mod validation;
