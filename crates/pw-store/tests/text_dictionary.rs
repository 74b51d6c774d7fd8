//! Migration 0040 (finding texts compressed against a shared dictionary) on SQLite and
//! PostgreSQL: a database written at 0039 — texts as JSON, with quotes, escapes, non-ASCII
//! characters and a long summary, open on two hosts with their own deadlines, one closed — has
//! every text compressed at the store's first open and reads the same afterwards through every
//! reader of texts (per-host history, the fixed episodes, the deadline check, the console's
//! advisories, the accepted risks' search); the same findings again store no text, a new one
//! is stored compressed and reads back exactly, and a stored text never changes.

use pw_model::{Finding, Tier};
use pw_store::{
    Backend, CurrentFinding, DatabaseUrl, DeadlineNotice, HistoryChange, Recorded, Store,
};

#[macro_use]
mod common;

use common::at;
use common::finding_text as text;

fn finding(k: usize, deadline: Option<&str>) -> Finding {
    let advisory = format!("DEBIAN-CVE-2025-{:05}", 3000 + k);
    Finding {
        binary: format!("libfoo{k}"),
        installed: "1.2.3-1+deb12u1".into(),
        package: "foo".into(),
        package_version: "1.2.3-1+deb12u1".into(),
        advisory: advisory.clone(),
        aliases: vec![advisory.replace("DEBIAN-", "")],
        fixed: (k != 2).then(|| "1.2.3-1+deb12u2".into()),
        tier: [Tier::T0, Tier::T1, Tier::T2, Tier::T3][k % 4],
        deadline: deadline.map(at),
        reasons: vec![
            format!("a \"deadline\":null in reason {k}"),
            "back\\slash, tab\t, newline\n".into(),
        ],
        summary: match k {
            1 => "débordement de tampon — 缓冲区溢出 ✓".into(),
            3 => "long ".repeat(4000),
            _ => format!("problem {k}"),
        },
        published: Some(at("2025-06-01T00:00:00Z")),
        cvss: Some(7.5),
        epss: k.is_multiple_of(2).then_some(0.5),
        kev: k == 0,
    }
}

const D1: &str = "2026-02-01T00:00:00Z";
const D2: &str = "2026-02-11T12:30:00.5Z";

/// Open findings at 0039: (host 1 or 2, key, the finding with that host's deadline).
fn opens() -> Vec<(i64, usize, Finding)> {
    vec![
        (1, 0, finding(0, Some(D1))),
        (2, 0, finding(0, Some(D2))),
        (1, 1, finding(1, Some(D1))),
        (2, 2, finding(2, None)),
        (1, 3, finding(3, Some(D2))),
    ]
}

/// The episode closed on host 1: key 4, fixed on 2026-01-10.
fn closed() -> Finding {
    finding(4, Some(D1))
}

fn host_id(host: i64) -> String {
    format!("h{host}")
}

async fn database_at_0039(backend: Backend) -> (Option<tempfile::TempDir>, DatabaseUrl) {
    let (dir, url, pool) = common::unmigrated_database(backend).await;
    common::migrate_up_to(backend, &pool, 39).await;
    common::insert_finding_hosts(&pool, 2, "2026-01-20T00:00:00Z").await;
    let mut keys = Vec::new();
    for k in 0..5 {
        let f = finding(k, None);
        keys.push(common::insert_finding_key(&pool, &f).await);
    }
    let mut texts: Vec<(String, i64)> = Vec::new();
    for (host, k, f) in opens() {
        let id = match texts.iter().find(|(t, _)| *t == text(&f)) {
            Some((_, id)) => *id,
            None => {
                let id = common::insert_finding_text_0039(&pool, &f).await;
                texts.push((text(&f), id));
                id
            }
        };
        let open = (host, keys[k], "2026-01-02T00:00:00Z");
        common::insert_open_finding(&pool, open, &f, id).await;
    }
    // The per-host update summary the write path keeps (since 0026), which the console's
    // reads of an update's findings start from (since 0046).
    common::insert_update_hosts_0038(&pool).await;
    // The closed episode, in the plain JSON form of 0037's carried-over rows.
    let closed_text = common::insert_finding_text_0039(&pool, &closed()).await;
    let episode = serde_json::json!([[
        keys[4],
        1,
        "2026-01-02T00:00:00Z",
        "2026-01-09T00:00:00Z",
        "2026-01-10T00:00:00Z",
        null,
        0,
        D1,
        closed_text
    ]]);
    sqlx::query("INSERT INTO closed_findings (host_key, episodes) VALUES (1, $1)")
        .bind(serde_json::to_vec(&episode).unwrap())
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    (dir, url)
}

async fn scalar(store: &Store, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(store.pool())
        .await
        .unwrap()
}

async fn migration_0040_compresses_every_text_and_reads_the_same(backend: Backend) {
    let (_guard, url) = database_at_0039(backend).await;
    let store = Store::connect(&url).await.unwrap();
    let unpacked = "SELECT COUNT(*) FROM finding_texts
         WHERE packed IS NULL OR finding <> '' OR dictionary IS NULL";
    assert_eq!(
        scalar(&store, unpacked).await,
        0,
        "every text packed at open"
    );
    assert_eq!(
        scalar(&store, "SELECT COUNT(*) FROM finding_texts").await,
        5
    );
    let json: usize = (opens().iter().map(|o| text(&o.2)))
        .collect::<std::collections::BTreeSet<_>>()
        .iter()
        .map(String::len)
        .sum::<usize>()
        + text(&closed()).len();
    let packed = scalar(
        &store,
        "SELECT CAST(SUM(LENGTH(packed)) AS BIGINT) FROM finding_texts",
    )
    .await;
    assert!((packed as usize) * 10 < json, "{packed} bytes for {json}");

    for host in [1, 2] {
        let history = store.finding_history(&host_id(host)).await.unwrap();
        let mut got: Vec<String> = history.iter().map(|r| r.finding.clone()).collect();
        let mut want: Vec<String> = (opens().into_iter())
            .filter(|o| o.0 == host)
            .map(|o| serde_json::to_string(&o.2).unwrap())
            .collect();
        if host == 1 {
            want.push(serde_json::to_string(&closed()).unwrap());
        }
        got.sort();
        want.sort();
        assert_eq!(got, want, "the history of host {host}");
    }
    let fixed = store.fixed_episodes().await.unwrap();
    assert_eq!(fixed.len(), 1);
    assert_eq!(fixed[0].finding, serde_json::to_string(&closed()).unwrap());

    let due = (store.deadlines_due(
        DeadlineNotice::Overdue,
        None,
        at("2026-03-01T00:00:00Z"),
        10,
    ))
    .await
    .unwrap();
    let due: Vec<String> = due.into_iter().map(|d| d.finding).collect();
    let want: Vec<String> = [&opens()[0].2, &opens()[2].2, &opens()[4].2, &opens()[1].2]
        .iter()
        .map(|f| serde_json::to_string(f).unwrap())
        .collect();
    assert_eq!(due, want);

    let advisories = store
        .updates_advisories(&[("foo", Some("1.2.3-1+deb12u2")), ("foo", None)])
        .await
        .unwrap();
    let got: Vec<String> = advisories
        .iter()
        .flatten()
        .map(|a| a.finding.clone())
        .collect();
    let want: Vec<String> = [0, 1, 3, 2]
        .iter()
        .map(|&k| text(&finding(k, None)))
        .collect();
    assert_eq!(got, want);

    for (k, hosts) in [(0, 2), (1, 1), (3, 1)] {
        let alias = finding(k, None).aliases[0].to_ascii_lowercase();
        let naming = store.open_findings_naming(&alias, None).await.unwrap();
        let mut got: Vec<String> = naming.into_iter().map(|n| n.finding).collect();
        let mut want: Vec<String> = (opens().into_iter())
            .filter(|o| o.1 == k)
            .map(|o| serde_json::to_string(&o.2).unwrap())
            .collect();
        got.sort();
        want.sort();
        assert_eq!((got.len(), got), (hosts, want), "findings naming {alias}");
    }
    let advisory = finding(0, None).advisory;
    let naming = store.open_findings_naming(&advisory, Some("h2"));
    assert_eq!(naming.await.unwrap().len(), 1);
    // A name matches a whole JSON string, not a part of one.
    let part = store.open_findings_naming("CVE-2025-0300", None);
    assert!(part.await.unwrap().is_empty());

    written_texts(&store).await;
}

/// The same findings again store no text; a new one is stored compressed and reads back.
async fn written_texts(store: &Store) {
    let mut current: Vec<CurrentFinding> = (opens().into_iter())
        .filter(|o| o.0 == 1)
        .map(|o| CurrentFinding::of(&o.2).unwrap())
        .collect();
    let new = finding(5, Some(D2));
    current.push(CurrentFinding::of(&new).unwrap());
    let recorded = common::record_at(store, "h1", "2026-02-01T00:00:00Z", &current).await;
    let change = HistoryChange {
        kept: 3,
        opened: 1,
        ..Default::default()
    };
    assert_eq!(recorded, Recorded::Recorded(change));
    assert_eq!(scalar(store, "SELECT COUNT(*) FROM finding_texts").await, 6);
    let unpacked = "SELECT COUNT(*) FROM finding_texts WHERE packed IS NULL OR finding <> ''";
    assert_eq!(
        scalar(store, unpacked).await,
        0,
        "new texts are stored packed"
    );
    let history = store.finding_history("h1").await.unwrap();
    let row = history.iter().find(|r| r.advisory == new.advisory).unwrap();
    assert_eq!(row.finding, serde_json::to_string(&new).unwrap());
    assert_eq!(row.deadline, Some(at(D2)));

    let change = sqlx::query("UPDATE finding_texts SET packed = $1 WHERE advisory = $2")
        .bind(vec![0_u8; 8])
        .bind(&new.advisory)
        .execute(store.pool())
        .await;
    assert!(change.is_err(), "a stored text never changes");
    let change = sqlx::query("UPDATE finding_texts SET finding = 'x' WHERE advisory = $1")
        .bind(&new.advisory)
        .execute(store.pool())
        .await;
    assert!(change.is_err(), "a stored text never changes");
}

on_both_backends!(migration_0040_compresses_every_text_and_reads_the_same);
