//! The digests of a computation's findings' texts (`finding_texts.rs`), worked out before its
//! write's turn in the writers' line, and the stored texts of a write's findings found by them.

use std::borrow::Cow;
use std::sync::LazyLock;

use anyhow::Context;
use foldhash::HashMap;

use crate::finding_texts::{StoredText, TextCache, TextDigest, digest_of_parts, text_ids};
use crate::findings::{BackportedFinding, CurrentFinding, FindingsSnapshot};

/// The digests of a computation's findings' texts (`finding_texts.rs`' `Prepared`), worked out
/// before its write (issue 15: a first scan's ~800 texts and digests, each worked out twice
/// inside the write, were ~4 ms of its ~15 ms turn in the writers' line); the controller works
/// them out while it ranks the host (`Computation::texts`). Those of `current`, then those of
/// `backported`, in order.
#[derive(Debug, Clone, Default)]
pub struct FindingTexts(Vec<TextDigest>);

impl FindingTexts {
    pub fn of(current: &[CurrentFinding], backported: &[BackportedFinding]) -> FindingTexts {
        let findings = current.iter().chain(backported.iter().map(|b| &b.finding));
        FindingTexts(findings.map(text_digest).collect())
    }
}

/// The digest of `finding`'s text (`finding_texts.rs`' `Prepared::of`) without writing the text
/// out: its JSON hashed in three parts, with `"deadline":null` in place of its deadline member.
/// A text is stored only when it is new, so a first scan's ~800 findings need only their
/// digests (with each text written out and its deadline formatted and searched for by value,
/// `FindingTexts::of` was 6.0 % of the controller's CPU under pw-loadgen; hashed in parts,
/// 2.2 %). A quote inside a JSON string is escaped, so the key followed by a quote only ever
/// matches the member itself (`finding_texts.rs`).
pub(crate) fn text_digest(finding: &CurrentFinding) -> TextDigest {
    static MEMBER: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new(DEADLINE));
    let json = finding.json.as_bytes();
    let member = (finding.deadline.is_some())
        .then(|| MEMBER.find(json))
        .flatten()
        .and_then(|start| {
            let value = start + DEADLINE.len();
            let end = value + memchr::memchr(b'"', &json[value..])? + 1;
            Some((start, end))
        });
    match member {
        Some((start, end)) => digest_of_parts(&[&json[..start], NULL, &json[end..]]),
        None => digest_of_parts(&[json]),
    }
}

/// A deadline member's key and the quote opening its value; what replaces the member.
const DEADLINE: &[u8] = b"\"deadline\":\"";
const NULL: &[u8] = b"\"deadline\":null";

/// A snapshot's findings' text digests: given with the computation (when there is one for each
/// finding) or worked out from the snapshot, and found by a finding's place in the snapshot
/// (the write path holds references into its `current` and `backported`).
pub(crate) struct SnapshotTexts<'a> {
    current: &'a [CurrentFinding],
    backported: &'a [BackportedFinding],
    digests: Cow<'a, [TextDigest]>,
}

impl<'a> SnapshotTexts<'a> {
    pub(crate) fn new(
        snapshot: &FindingsSnapshot<'a>,
        given: Option<&'a FindingTexts>,
    ) -> SnapshotTexts<'a> {
        let (current, backported) = (snapshot.current, snapshot.backported);
        let digests = match given {
            Some(FindingTexts(given)) if given.len() == current.len() + backported.len() => {
                Cow::Borrowed(&given[..])
            }
            _ => Cow::Owned(FindingTexts::of(current, backported).0),
        };
        // The given digests are trusted (their texts are not worked out again unless stored
        // now): every test build checks they are the snapshot's.
        debug_assert!(
            matches!(digests, Cow::Owned(_))
                || digests[..] == FindingTexts::of(current, backported).0[..],
            "the texts' digests given are not the snapshot's"
        );
        SnapshotTexts {
            current,
            backported,
            digests,
        }
    }

    /// The digest of `finding`'s text: by its place, when it is one of the snapshot's findings
    /// (always, on the write path), else worked out.
    pub(crate) fn digest(&self, finding: &CurrentFinding) -> TextDigest {
        let in_backported = std::mem::offset_of!(BackportedFinding, finding);
        let place = place_of(self.current, finding, 0).or_else(|| {
            place_of(self.backported, finding, in_backported).map(|at| self.current.len() + at)
        });
        match place {
            Some(at) => self.digests[at],
            None => text_digest(finding),
        }
    }

    /// The stored texts of `findings` by digest, from the cache or the database, storing
    /// those not stored yet ([`text_ids`]).
    pub(crate) async fn store<'f>(
        &self,
        tx: &mut sqlx::AnyConnection,
        cache: (&TextCache, &mut HashMap<TextDigest, StoredText>),
        findings: impl Iterator<Item = &'f CurrentFinding>,
    ) -> anyhow::Result<WriteTexts<'_>> {
        let findings: HashMap<TextDigest, &CurrentFinding> = findings
            .map(|finding| (self.digest(finding), finding))
            .collect();
        let stored = text_ids(tx, cache, &findings).await?;
        Ok(WriteTexts {
            digests: self,
            stored,
        })
    }
}

/// The index of the item of `items` that holds `finding` at `offset` bytes from its start,
/// told by address: a reference into the slice is exactly there.
fn place_of<T>(items: &[T], finding: &CurrentFinding, offset: usize) -> Option<usize> {
    let size = std::mem::size_of::<T>().max(1);
    let start = items.as_ptr() as usize + offset;
    let from_start = (std::ptr::from_ref(finding) as usize).checked_sub(start)?;
    let at = from_start / size;
    (from_start % size == 0 && at < items.len()).then_some(at)
}

/// The stored texts of a write's findings ([`SnapshotTexts::store`]).
pub(crate) struct WriteTexts<'a> {
    digests: &'a SnapshotTexts<'a>,
    stored: HashMap<TextDigest, StoredText>,
}

impl WriteTexts<'_> {
    /// The stored text of `finding` (among those stored).
    pub(crate) fn stored(&self, finding: &CurrentFinding) -> anyhow::Result<StoredText> {
        (self.stored.get(&self.digests.digest(finding)).copied())
            .with_context(|| format!("no text stored for {} {}", finding.binary, finding.advisory))
    }

    /// The stored text id of `finding` (among those stored).
    pub(crate) fn id(&self, finding: &CurrentFinding) -> anyhow::Result<i64> {
        Ok(self.stored(finding)?.id)
    }
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;
    use crate::finding_texts::{Prepared, digest};

    fn finding(advisory: &str) -> CurrentFinding {
        CurrentFinding {
            binary: "curl".into(),
            advisory: advisory.into(),
            tier: 2,
            deadline: Some("2026-03-01T00:00:00Z".parse::<Timestamp>().unwrap()),
            json: format!(r#"{{"advisory":"{advisory}","deadline":"2026-03-01T00:00:00Z"}}"#),
        }
    }

    fn snapshot<'a>(
        current: &'a [CurrentFinding],
        backported: &'a [BackportedFinding],
    ) -> FindingsSnapshot<'a> {
        FindingsSnapshot {
            host_id: "h1",
            inventory_collected_at: Timestamp::UNIX_EPOCH,
            computed_at: Timestamp::UNIX_EPOCH,
            source: "",
            findings_json: "[]",
            tier_counts_json: "[0,0,0,0,0]",
            current,
            backported,
        }
    }

    #[test]
    fn a_finding_of_the_snapshot_is_found_by_its_place() {
        let current = [finding("A1"), finding("A2"), finding("A3")];
        let backported = [BackportedFinding {
            finding: finding("B1"),
            reason: "backport".into(),
        }];
        let given = FindingTexts::of(&current, &backported);
        let snapshot = snapshot(&current, &backported);
        let texts = SnapshotTexts::new(&snapshot, Some(&given));
        assert!(
            matches!(texts.digests, Cow::Borrowed(_)),
            "the given digests are used"
        );
        for finding in current.iter().chain([&backported[0].finding]) {
            assert_eq!(texts.digest(finding), Prepared::of(finding).digest);
        }
        // A finding elsewhere (a copy) is worked out; so are digests not one per finding.
        let copy = current[2].clone();
        assert_eq!(texts.digest(&copy), Prepared::of(&copy).digest);
        let short = FindingTexts(given.0[..2].to_vec());
        let texts = SnapshotTexts::new(&snapshot, Some(&short));
        assert!(matches!(texts.digests, Cow::Owned(_)));
        assert_eq!(texts.digest(&current[2]), Prepared::of(&current[2]).digest);
    }

    #[test]
    #[should_panic(expected = "the texts' digests given are not the snapshot's")]
    fn digests_of_another_snapshot_are_refused_in_test_builds() {
        let current = [finding("A1"), finding("A2")];
        let given = FindingTexts::of(&current, &[]);
        let swapped = [current[1].clone(), current[0].clone()];
        SnapshotTexts::new(&snapshot(&swapped, &[]), Some(&given));
    }

    #[test]
    fn a_digest_is_that_of_the_text_written_out() {
        let mut model = pw_model::Finding {
            binary: "libcurl4".into(),
            installed: "7.88.1-10+deb12u5".into(),
            package: "curl".into(),
            package_version: "7.88.1-10+deb12u5".into(),
            advisory: "DSA-5587-1".into(),
            aliases: vec!["CVE-2023-46218".into()],
            fixed: Some("7.88.1-10+deb12u6".into()),
            tier: pw_model::Tier::T1,
            deadline: Some("2026-03-01T12:30:00.5Z".parse().unwrap()),
            reasons: vec![r#"a summary naming "deadline":"x" in quotes"#.into()],
            summary: r#"{"deadline":"2020-01-01T00:00:00Z"}"#.into(),
            published: Some("2023-12-06T00:00:00Z".parse().unwrap()),
            cvss: Some(6.5),
            epss: Some(0.0012),
            kev: false,
        };
        let with = CurrentFinding::of(&model).unwrap();
        assert_eq!(text_digest(&with), Prepared::of(&with).digest);
        assert_ne!(
            text_digest(&with),
            digest(&with.json),
            "the deadline is left out"
        );
        model.deadline = None;
        let without = CurrentFinding::of(&model).unwrap();
        assert_eq!(text_digest(&without), Prepared::of(&without).digest);
        assert_eq!(
            text_digest(&with),
            text_digest(&without),
            "a text has no deadline"
        );
        // Only the member goes: the same finding with a different deadline has the same text.
        model.deadline = Some("2027-01-01T00:00:00Z".parse().unwrap());
        let later = CurrentFinding::of(&model).unwrap();
        assert_eq!(text_digest(&later), text_digest(&with));
        // A JSON without the member (a deadline given but not written) is its own text.
        let bare = CurrentFinding {
            json: r#"{"advisory":"A1"}"#.into(),
            ..with.clone()
        };
        assert_eq!(text_digest(&bare), digest(&bare.json));
    }

    #[test]
    fn a_place_is_told_only_for_a_reference_into_the_slice() {
        let items = [finding("A1"), finding("A2")];
        assert_eq!(place_of(&items, &items[1], 0), Some(1));
        assert_eq!(place_of(&items, &finding("A2"), 0), None);
        assert_eq!(
            place_of(&items[..1], &items[1], 0),
            None,
            "past the slice's end"
        );
        let empty: [CurrentFinding; 0] = [];
        assert_eq!(place_of(&empty, &items[0], 0), None);
    }
}
