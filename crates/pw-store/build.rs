//! Rebuilds pw-store when a migration is added or changed: `sqlx::migrate!` embeds the files of
//! `migrations/` at compile time, and cargo does not otherwise see them (an incremental build
//! would run the schema before the new file).

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
