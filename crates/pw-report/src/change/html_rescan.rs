//! The downgrade's vulnerability re-scan in the change report's HTML: per host, the plan's
//! predicted advisories seen or not after the change, the ones seen and not predicted, and
//! those open before it (`rescan.rs` decides which is which).

use crate::change::html::parts::{at, row, section};
use crate::change::model::{AdvisoryLine, ChangeReport};
use crate::change::text::ChangeText;
use crate::html::parts::{DocSection, DocTable, headers, s};

pub(crate) fn rescan(report: &ChangeReport, t: &ChangeText) -> Option<DocSection> {
    let mut paragraphs = vec![t.rescan_note.to_owned()];
    let mut rows = Vec::new();
    for host in &report.hosts {
        let Some(v) = host
            .post_verify
            .as_ref()
            .and_then(|p| p.vulnerabilities.as_ref())
        else {
            continue;
        };
        paragraphs.push(format!(
            "{}: {} ({} {})",
            host.hostname,
            t.word(&v.status),
            t.scanned,
            at(Some(v.scanned_at))
        ));
        let lists: [(&str, &Vec<AdvisoryLine>); 4] = [
            ("predicted_and_seen", &v.predicted_and_seen),
            ("predicted_not_seen", &v.predicted_not_seen),
            ("seen_not_predicted", &v.seen_not_predicted),
            ("already_open", &v.already_open),
        ];
        for (code, lines) in lists {
            rows.extend(lines.iter().map(|l| {
                let mut r = row(vec![
                    s(host.hostname.clone()),
                    s(t.word(code)),
                    s(l.binary.clone()),
                    s(l.version.clone()),
                    s(l.advisory.clone()),
                    s(l.tier.clone()),
                ]);
                if code == "seen_not_predicted" {
                    r.class = "overdue".into();
                }
                r
            }));
        }
    }
    if paragraphs.len() == 1 {
        return None;
    }
    let table = DocTable {
        headers: headers(&[t.host, t.verdict, t.package, t.version, t.advisory, t.tier]),
        rows,
    };
    Some(section(
        "rescan",
        t.vulnerabilities,
        paragraphs,
        Some(table),
    ))
}
