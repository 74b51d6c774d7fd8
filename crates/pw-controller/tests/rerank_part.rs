//! A feed import's re-rank of part of a host (`rerank_scan.rs`) gives what a full scan gives,
//! on SQLite and PostgreSQL (issue 15: feed import → every host re-ranked in ≤ 30 s). The same
//! fleet is built twice (`rerank_fleet`) — hosts with overlapping inventories, pending upgrades
//! with CVEs, a changelog naming a CVE (backported), two advisory imports — and after a third
//! import that moves a publication date (deadlines move), raises a score, drops a fix (findings
//! open), lowers one (findings close), withdraws an advisory that kept a changelog's record out
//! (its findings come back), adds one that leaves another out (its findings close) and moves a
//! merged advisory to another CVE (findings split and merge), one database re-ranks through the partial path (by advisory within the binaries the
//! import names, by binary where an upgrade is pending) and the other scans every host whole.
//! Every reader then answers the same on both: the ranked lists, each host's history, the fixed
//! episodes, the tier gauges, the console's hosts and updates, the deadline notices.

mod rerank_fleet;

use pw_controller::findings::Scanned;
use pw_store::{Backend, DeadlineNotice, HostFilter, PageRequest, Store, UpdateFilter};
use rerank_fleet::{HOSTS, Path, at, fleet};

const ALL: PageRequest = PageRequest {
    offset: 0,
    limit: 1000,
};

/// What every reader of findings answers, as text.
async fn readers(store: &Store) -> Vec<String> {
    let late = at("2026-12-01T00:00:00Z");
    let mut out = Vec::new();
    let mut lists = store.all_findings().await.unwrap();
    lists.sort_by(|a, b| a.host_id.cmp(&b.host_id));
    for row in lists {
        out.push(format!(
            "{} {} {} {}",
            row.host_id, row.computed_at, row.source, row.findings
        ));
    }
    let mut hosts = store.hosts().await.unwrap();
    hosts.sort_by(|a, b| a.id.cmp(&b.id));
    for host in hosts {
        out.push(format!("{} {:?}", host.id, host.tier_counts));
        out.push(format!(
            "{:?}",
            store.finding_history(&host.id).await.unwrap()
        ));
    }
    out.push(format!("{:?}", store.fixed_episodes().await.unwrap()));
    let mut open = store.open_episodes(None).await.unwrap();
    open.sort_by(|a, b| {
        (&a.host_id, &a.binary, &a.advisory).cmp(&(&b.host_id, &b.binary, &b.advisory))
    });
    out.push(format!("{open:?}"));
    out.push(format!("{:?}", store.open_tier_counts(late).await.unwrap()));
    let overdue = HostFilter {
        overdue_at: Some(late),
        ..HostFilter::default()
    };
    for filter in [HostFilter::default(), overdue] {
        let mut page = store.host_page(&filter, ALL).await.unwrap();
        // When the inventory arrived (the test's wall clock): not a finding.
        page.hosts
            .iter_mut()
            .for_each(|host| host.last_seen_at = None);
        out.push(format!("{page:?}"));
    }
    let updates = store
        .update_page(&UpdateFilter::default(), ALL)
        .await
        .unwrap();
    out.push(format!("{updates:?}"));
    let due = store.deadlines_due(DeadlineNotice::Overdue, None, late, 1000);
    out.push(format!("{:?}", due.await.unwrap()));
    out
}

async fn a_partial_rerank_answers_as_a_full_scan(backend: Backend, path: Path) {
    let (_part_dir, part, part_outcomes) = fleet(backend, path).await;
    let (_whole_dir, whole, whole_outcomes) = fleet(backend, Path::Whole).await;
    let reranked = |outcomes: &[Scanned]| {
        (outcomes.iter())
            .map(|o| match o {
                Scanned::Reranked(..) => "part",
                Scanned::Stored(..) => "whole",
                Scanned::Unchanged(_) => "unchanged",
                Scanned::Untouched => "untouched",
                Scanned::Dropped => "dropped",
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(reranked(&part_outcomes), ["part"; HOSTS]);
    assert_eq!(reranked(&whole_outcomes), ["whole"; HOSTS]);
    let (part, whole) = (readers(&part).await, readers(&whole).await);
    assert_eq!(part.len(), whole.len());
    for (part, whole) in part.iter().zip(&whole) {
        assert_eq!(part, whole);
    }
    // The import changed something on every host, in every way listed above.
    let all = part.join("\n");
    for expected in [
        "CVE-2026-0008",
        "\"fixed\":null",
        "backport",
        "\"advisory\":\"DEBCL-CVE-2026-0002\"",
        "\"advisory\":\"DEBIAN-CVE-2026-0004\",\"aliases\":[\"CVE-2026-0004\",\"DSA-9001\"]",
    ] {
        assert!(all.contains(expected), "{expected} in {all}");
    }
    let lists = (part.iter()).filter(|line| line.starts_with("host-"));
    assert!(lists.clone().count() >= HOSTS);
    for list in lists {
        assert!(
            !list.contains("\"advisory\":\"DEBCL-CVE-2026-0015\""),
            "{list}"
        );
    }
}

// The grouped path (`scan_group.rs`): the fleet's hosts (overlapping but different
// inventories, upgrades and histories) read, ranked and written in one group; a host given
// another's list, history or summaries answers differently from its whole scan.
mod sqlite {
    use super::Path;

    #[tokio::test]
    async fn a_partial_rerank_answers_as_a_full_scan() {
        super::a_partial_rerank_answers_as_a_full_scan(pw_store::Backend::Sqlite, Path::Part).await
    }

    #[tokio::test]
    async fn a_grouped_partial_rerank_answers_as_full_scans_one_by_one() {
        let backend = pw_store::Backend::Sqlite;
        super::a_partial_rerank_answers_as_a_full_scan(backend, Path::Grouped).await
    }
}

mod postgres {
    use super::Path;

    #[tokio::test]
    async fn a_partial_rerank_answers_as_a_full_scan() {
        let backend = pw_store::Backend::Postgres;
        super::a_partial_rerank_answers_as_a_full_scan(backend, Path::Part).await
    }

    #[tokio::test]
    async fn a_grouped_partial_rerank_answers_as_full_scans_one_by_one() {
        let backend = pw_store::Backend::Postgres;
        super::a_partial_rerank_answers_as_a_full_scan(backend, Path::Grouped).await
    }
}
