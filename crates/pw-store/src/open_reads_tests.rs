//! The reads of an update's or an advisory's open findings (the console's advisories and
//! packages of updates, its search of updates by advisory, the accepted risks' findings) read
//! each host's open episodes by the primary key, not the whole open set, on both backends: the
//! open set has no index by text since migration 0046. A host's open findings of some binaries
//! or keys (a feed import's re-rank: the first sights, the write's covered rows) are read by
//! host, and of some keys by key, the keys found first.

use crate::Backend;
use crate::console::{Bind, FIXES_ADVISORY, advisories_sql, binaries_sql};
use crate::data_steps_tests::{empty_store, plan};
use crate::findings::naming_sql;
use crate::findings_early::{COVERED_OPEN, COVERED_OPEN_BY_KEY};
use crate::findings_scope::{OPEN_OF_HOST, OPEN_OF_HOST_BY_KEY, of_binaries, of_keys};

/// `sql` with its numbered `$N` marks (up to `marks`) as `?`, for `query_with`.
fn unnumbered(mut sql: String, marks: usize) -> String {
    for n in (1..=marks).rev() {
        sql = sql.replace(&format!("${n}"), "?");
    }
    sql
}

/// The reads of a host's open findings of two binaries (walked by host) and of two keys (by
/// key), as the first sights read them (by host id) and as the write reads them (by host key).
fn covered_reads() -> Vec<(String, Vec<Bind>, &'static str)> {
    let text = |text: &str| Bind::Text(text.into());
    let mut reads = Vec::new();
    let columns = "SELECT k.advisory, o.first_seen, o.tier";
    for (by_binary, by_key, first) in [
        (OPEN_OF_HOST, OPEN_OF_HOST_BY_KEY, text("h1")),
        (COVERED_OPEN, COVERED_OPEN_BY_KEY, Bind::Int(1)),
    ] {
        let binaries = vec![first.clone(), text("curl"), text("bash")];
        let sql = of_binaries(&format!("{columns} {by_binary}"), 2);
        reads.push((unnumbered(sql, 3), binaries, BY_HOST));
        let keys = vec![
            first,
            text("curl"),
            text("CVE-1"),
            text("bash"),
            text("CVE-2"),
        ];
        let sql = of_keys(&format!("{columns} {by_key}"), 2);
        reads.push((unnumbered(sql, 5), keys, BY_KEY));
    }
    reads
}

const BY_HOST: &str = "SEARCH o USING PRIMARY KEY (host_key=?)";
const BY_KEY: &str = "SEARCH o USING PRIMARY KEY (host_key=? AND key_id=?)";

/// Every read, its binds, and what its plan reads the open set by on SQLite.
fn reads() -> Vec<(String, Vec<Bind>, &'static str)> {
    let updates = [("openssl", Some("3.0.13-1")), ("curl", None)];
    let (advisories, advisories_binds) = advisories_sql(&updates);
    let (binaries, binaries_binds) = binaries_sql(&updates);
    let (by_host, by_key) = (BY_HOST, BY_KEY);
    let alias = || Bind::Text("CVE-2024-0001".into());
    // Numbered `$N` marks in the accepted risks' statement: `?` for `query_with`.
    let naming = |on_host| unnumbered(naming_sql(2, on_host), 3);
    let covered = covered_reads().into_iter();
    let mut reads = vec![
        (advisories, advisories_binds, by_host),
        (binaries, binaries_binds, by_host),
        (
            format!("SELECT u.package FROM open_updates u WHERE {FIXES_ADVISORY}"),
            vec![alias(), alias(), alias()],
            by_key,
        ),
        // Each advisory's mark appears twice.
        (
            naming(false),
            vec![alias(), alias(), alias(), alias()],
            by_key,
        ),
        (
            naming(true),
            vec![alias(), alias(), alias(), alias(), Bind::Text("h1".into())],
            by_key,
        ),
    ];
    reads.extend(covered);
    reads
}

async fn reads_of_the_open_set_go_by_host(backend: Backend) {
    let (_dir, store) = empty_store(backend).await;
    for (sql, binds, sqlite_search) in reads() {
        let plan = plan(&store, &sql, binds).await;
        match backend {
            Backend::Sqlite => {
                assert!(plan.contains(sqlite_search), "{sql}\n{plan}");
                assert!(!plan.contains("SCAN o"), "{sql}\n{plan}");
            }
            Backend::Postgres => {
                assert!(plan.contains("open_episodes_pkey"), "{sql}\n{plan}");
                assert!(!plan.contains("Seq Scan on open_episodes"), "{sql}\n{plan}");
            }
        }
    }
}

#[tokio::test]
async fn sqlite_reads_of_the_open_set_go_by_host() {
    reads_of_the_open_set_go_by_host(Backend::Sqlite).await
}

#[tokio::test]
async fn postgres_reads_of_the_open_set_go_by_host() {
    reads_of_the_open_set_go_by_host(Backend::Postgres).await
}
