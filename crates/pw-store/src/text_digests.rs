//! The digests of a computation's findings' texts (`finding_texts.rs`), worked out before its
//! write's turn in the writers' line, and the stored texts of a write's findings found by them.

use std::borrow::Cow;
use std::sync::LazyLock;

use anyhow::Context;
use foldhash::{HashMap, HashMapExt};

use crate::Store;
use crate::finding_texts::{
    NewText, StoredText, TextCache, TextDigest, digest_of_parts, read_ids, text_ids,
};
use crate::findings::{BackportedFinding, CurrentFinding, FindingsSnapshot};

/// The digests of a computation's findings' texts (`finding_texts.rs`'s `Prepared`), worked out before its write
/// (issue 15: a first scan's ~800 texts and digests, each worked out twice inside the write,
/// were ~4 ms of its ~15 ms turn in the writers' line); the controller works them out while it
/// ranks the host (`Computation::texts`). Those of `current`, then those of `backported`, in
/// order.
#[derive(Debug, Clone, Default)]
pub struct FindingTexts(Vec<TextDigest>);

impl FindingTexts {
    pub fn of(current: &[CurrentFinding], backported: &[BackportedFinding]) -> FindingTexts {
        let findings = current.iter().chain(backported.iter().map(|b| &b.finding));
        FindingTexts(findings.map(text_digest).collect())
    }
}

/// The digest of `finding`'s text (`finding_texts.rs`'s `Prepared::of`) without writing the text out: its JSON
/// hashed in three parts, with `"deadline":null` in place of its deadline member. The text is
/// stored only when it is new, so a first scan's ~800 findings need only their digests (each
/// text written out and the deadline searched for by its value was ~3 % of the controller's
/// CPU under pw-loadgen). A quote inside a JSON string is escaped, so the key followed by a
/// quote only ever matches the member itself (`finding_texts.rs`).
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

    /// The stored texts of `findings` by digest, from the cache, those looked up before the
    /// turn (`early`) or the database, storing those not stored yet ([`text_ids`]).
    pub(crate) async fn store<'f>(
        &self,
        tx: &mut sqlx::AnyConnection,
        (cache, early): (&TextCache, &EarlyTexts),
        learned: &mut HashMap<TextDigest, StoredText>,
        findings: impl Iterator<Item = &'f CurrentFinding>,
    ) -> anyhow::Result<WriteTexts<'_>> {
        let findings: HashMap<TextDigest, &CurrentFinding> = findings
            .map(|finding| (self.digest(finding), finding))
            .collect();
        let early = (&early.stored, &early.new);
        let stored = text_ids(tx, (cache, learned), &findings, early).await?;
        Ok(WriteTexts {
            digests: self,
            stored,
        })
    }
}

/// The texts of a group's findings this process has not seen, looked up and prepared before
/// the write's turn in the writers' line (issue 15: a text new to the process was read, written
/// out, parsed for its columns and compressed in the turn, ~2 ms of a first report's ~6 ms
/// there while a fleet's distinct package lists arrive). Those stored are committed, so stored
/// for good (a text's row never changes: `finding_texts.rs`); the others are ready to insert
/// in the turn, where a text another writer stored meanwhile is not stored again.
#[derive(Debug, Default)]
pub(crate) struct EarlyTexts {
    stored: HashMap<TextDigest, StoredText>,
    new: HashMap<TextDigest, NewText>,
}

impl EarlyTexts {
    /// The texts of `snapshots`' findings that `cache` does not know, read and prepared on a
    /// connection of `store`'s pool.
    pub(crate) async fn read(
        store: &Store,
        cache: &TextCache,
        snapshots: &[SnapshotTexts<'_>],
    ) -> anyhow::Result<EarlyTexts> {
        let mut findings: HashMap<TextDigest, &CurrentFinding> = HashMap::new();
        for texts in snapshots {
            let all = (texts.current.iter()).chain(texts.backported.iter().map(|b| &b.finding));
            for (finding, digest) in all.zip(texts.digests.iter()) {
                findings.entry(*digest).or_insert(finding);
            }
        }
        let unknown = cache.known(findings.keys(), &mut HashMap::new());
        let mut early = EarlyTexts::default();
        if unknown.is_empty() {
            return Ok(early);
        }
        let mut conn = (store.pool().acquire().await)
            .context("reading finding texts before a write's turn")?;
        read_ids(&mut conn, &unknown, &mut early.stored).await?;
        drop(conn);
        for digest in unknown
            .into_iter()
            .filter(|d| !early.stored.contains_key(*d))
        {
            early
                .new
                .insert(*digest, NewText::of(digest, findings[digest])?);
        }
        Ok(early)
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

    /// The texts a group's write names: read and prepared before its turn (none stored), one
    /// of them stored by another writer meanwhile (a process with a cache of its own), then
    /// the turn. That one is named as stored, not stored again; the other is stored from what
    /// was prepared. Read before a later turn, both are named from the read.
    async fn texts_looked_up_before_the_turn_are_named_as_stored(backend: crate::Backend) {
        let (_dir, store) = crate::data_steps_tests::empty_store(backend).await;
        let current = [finding("A1"), finding("A2")];
        let snapshot = snapshot(&current, &[]);
        let texts = SnapshotTexts::new(&snapshot, None);
        let (cache, all) = (TextCache::default(), std::slice::from_ref(&texts));
        let early = EarlyTexts::read(&store, &cache, all).await.unwrap();
        assert_eq!((early.stored.len(), early.new.len()), (0, 2));

        let mut tx = store.begin_immediate().await.unwrap();
        let (other, none) = (TextCache::default(), EarlyTexts::default());
        let (first, mut learned) = (current[..1].iter(), HashMap::new());
        let stored = texts.store(&mut tx, (&other, &none), &mut learned, first);
        let a1 = stored.await.unwrap().id(&current[0]).unwrap();
        tx.commit().await.unwrap();

        let mut tx = store.begin_immediate().await.unwrap();
        let mut learned = HashMap::new();
        let stored = texts.store(&mut tx, (&cache, &early), &mut learned, current.iter());
        let stored = stored.await.unwrap();
        let (one, two) = (
            stored.id(&current[0]).unwrap(),
            stored.id(&current[1]).unwrap(),
        );
        tx.commit().await.unwrap();
        assert_eq!(one, a1, "the text another writer stored is named");
        assert_ne!(two, a1);
        assert_eq!(learned.len(), 2, "both learned once committed");
        let count = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM finding_texts");
        assert_eq!(
            count.fetch_one(store.pool()).await.unwrap(),
            2,
            "none stored twice"
        );

        let early = EarlyTexts::read(&store, &cache, all).await.unwrap();
        assert!(early.new.is_empty(), "nothing left to store");
        let id = |at: usize| early.stored[&texts.digest(&current[at])].id;
        assert_eq!((id(0), id(1)), (one, two));
    }

    #[tokio::test]
    async fn sqlite_texts_looked_up_before_the_turn_are_named_as_stored() {
        texts_looked_up_before_the_turn_are_named_as_stored(crate::Backend::Sqlite).await
    }

    #[tokio::test]
    async fn postgres_texts_looked_up_before_the_turn_are_named_as_stored() {
        texts_looked_up_before_the_turn_are_named_as_stored(crate::Backend::Postgres).await
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
