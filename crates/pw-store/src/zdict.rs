//! Compression against shared dictionaries (docs/design/decisions.md, "Finding texts against a
//! shared dictionary"): zstd with a dictionary built from real data, for stored values that are
//! small or much alike across hosts and have little in common within themselves.
//!
//! - Finding texts (migration 0040, [`TEXTS`]): ~400 bytes of JSON each that share their
//!   member names, reasons and summaries with other texts; alone one deflates to ~63 %.
//!
//! - Package lists of inventories ([`PACKAGES`], format tag 2 of `inventory_codec.rs`): hosts of
//!   one distribution share most of their packages; the dictionary is a real Debian 12
//!   machine's list.
//! - Ranked findings lists ([`LISTS`], format tag 2 of `findings_packed.rs`): a host's findings,
//!   each much like the finding texts; the texts' dictionary.
//!
//! A stored value names the dictionary it was compressed with (a column, or a byte after a
//! format tag), so a later dictionary is introduced by adding it to its family under the next
//! number and making it the family's current one: values already stored keep theirs. A
//! dictionary, once shipped, never changes nor goes (its bytes are what those values
//! decompress with).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::LazyLock;

use anyhow::Context;
use sqlx::Row;
use sqlx::any::AnyRow;
use zstd::dict::{DecoderDictionary, EncoderDictionary};

/// The largest value a stored frame may claim to hold (a bound on what a damaged row can make
/// the reader allocate).
const LARGEST: u64 = 64 << 20;

/// A family of dictionaries for one kind of value.
pub(crate) struct Family {
    /// What the values are, for errors.
    what: &'static str,
    /// The dictionary new values are compressed with.
    pub current: i64,
    /// The current dictionary prepared for compression at the family's level (once per process).
    encoder: LazyLock<EncoderDictionary<'static>>,
    /// Every dictionary prepared for decompression (once per process).
    decoders: LazyLock<HashMap<i64, DecoderDictionary<'static>>>,
}

/// Finding texts. Dictionary 1 (64 KiB): trained with zstd's dictionary builder
/// (`examples/train_text_dictionary.rs`) on texts a scan of real Debian 12 package lists
/// against the built-in OSV feed stored (docs/PERFORMANCE.md, "Finding texts against a shared
/// dictionary").
pub(crate) static TEXTS: Family = Family {
    what: "finding text",
    current: 1,
    // Level 3: each text is compressed once, when first stored, on the write path; higher
    // levels gained little on texts this short (the example's figures).
    encoder: LazyLock::new(|| EncoderDictionary::copy(numbered(TEXT_DICTIONARIES, 1), 3)),
    decoders: LazyLock::new(|| decoders(TEXT_DICTIONARIES)),
};

const TEXT_DICTIONARIES: &[(i64, &[u8])] = &[(1, TEXT_DICTIONARY_1)];
const TEXT_DICTIONARY_1: &[u8] = include_bytes!("../dictionaries/finding-texts-1.zdict");

/// Package lists in pw-protocol's canonical form. Dictionary 1: the canonical list of a real
/// Debian 12 machine's 747 packages (`examples/build_package_dictionary.rs`, from
/// pw-advisory's `dpkg-status-debian12.txt.gz`), used as raw content.
pub(crate) static PACKAGES: Family = Family {
    what: "package list",
    current: 1,
    // Level 6: a changed report's list is compressed on the ingest path (~90 KB, ~1.8 ms; level
    // 3 took ~0.5 ms and stored ~10 % more: docs/PERFORMANCE.md, "Integer EPSS and package
    // lists at zstd level 6"). Lists stored at another level read the same.
    encoder: LazyLock::new(|| EncoderDictionary::copy(numbered(PACKAGE_DICTIONARIES, 1), 6)),
    decoders: LazyLock::new(|| decoders(PACKAGE_DICTIONARIES)),
};

const PACKAGE_DICTIONARIES: &[(i64, &[u8])] =
    &[(1, include_bytes!("../dictionaries/packages-1.zdict"))];

/// Ranked findings lists (JSON arrays of findings). Dictionary 1: the finding texts' first.
pub(crate) static LISTS: Family = Family {
    what: "findings list",
    current: 1,
    // Level 1: a changed scan's list (~330 KB of JSON) is compressed on the write path.
    encoder: LazyLock::new(|| EncoderDictionary::copy(numbered(LIST_DICTIONARIES, 1), 1)),
    decoders: LazyLock::new(|| decoders(LIST_DICTIONARIES)),
};

const LIST_DICTIONARIES: &[(i64, &[u8])] = &[(1, TEXT_DICTIONARY_1)];

/// A value behind a format tag: `tag`, the dictionary's number (one byte), then the frame.
pub(crate) fn pack_tagged(
    family: &'static Family,
    tag: u8,
    bytes: &[u8],
) -> anyhow::Result<Vec<u8>> {
    let number = u8::try_from(family.current).context("a dictionary number above 255")?;
    let mut out = vec![tag, number];
    let packed = with_kept(&PACKERS, family, || Packer::new(family), |p| p.pack(bytes));
    out.extend(packed?);
    Ok(out)
}

/// What [`pack_tagged`] packed, without its tag (the caller read it).
pub(crate) fn unpack_tagged(family: &'static Family, after_tag: &[u8]) -> anyhow::Result<Vec<u8>> {
    let (&number, frame) = (after_tag.split_first())
        .with_context(|| format!("a stored {} names no dictionary", family.what))?;
    let unpack = |unpacker: &mut Unpacker| unpacker.unpack(i64::from(number), frame);
    with_kept(&UNPACKERS, family, || Ok(Unpacker::new(family)), unpack)
}

thread_local! {
    /// The thread's compression contexts, one a family ([`with_kept`]).
    static PACKERS: Kept<Packer> = const { RefCell::new(Vec::new()) };
    /// The thread's decompression contexts, one a family ([`with_kept`]).
    static UNPACKERS: Kept<Unpacker> = const { RefCell::new(Vec::new()) };
}

/// A thread's contexts of one kind, by the name of their family.
type Kept<C> = RefCell<Vec<(&'static str, C)>>;

/// `work` with the thread's context of `family` among `kept`, made (`make`) on the thread's
/// first use. A context made for each value cost more than some values' compression: zstd asks
/// the CPU what it supports when it makes one (`cpuid`, a trap to the hypervisor in a VM) and
/// clears its tables (docs/PERFORMANCE.md, "Feed import re-rank: lists packed beside the
/// writers' line"). Values packed with a kept context are those a new one packs.
fn with_kept<C: 'static, T>(
    kept: &'static std::thread::LocalKey<Kept<C>>,
    family: &'static Family,
    make: impl FnOnce() -> anyhow::Result<C>,
    work: impl FnOnce(&mut C) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    kept.with(|contexts| {
        let mut contexts = contexts.borrow_mut();
        let at = match contexts.iter().position(|(what, _)| *what == family.what) {
            Some(at) => at,
            None => {
                contexts.push((family.what, make()?));
                contexts.len() - 1
            }
        };
        work(&mut contexts[at].1)
    })
}

/// The bytes of dictionary `number` of `all` (a family's current one: present).
fn numbered(all: &'static [(i64, &'static [u8])], number: i64) -> &'static [u8] {
    let found = all.iter().find(|(n, _)| *n == number);
    found.expect("a family's current dictionary").1
}

fn decoders(all: &'static [(i64, &'static [u8])]) -> HashMap<i64, DecoderDictionary<'static>> {
    (all.iter())
        .map(|(n, bytes)| (*n, DecoderDictionary::copy(bytes)))
        .collect()
}

/// Compresses values with a family's current dictionary (one context for many values).
pub(crate) struct Packer(zstd::bulk::Compressor<'static>);

impl Packer {
    pub(crate) fn new(family: &'static Family) -> anyhow::Result<Packer> {
        let prepare = || format!("preparing to compress {}s", family.what);
        let mut compressor = zstd::bulk::Compressor::with_prepared_dictionary(&family.encoder)
            .with_context(prepare)?;
        // The stored value names its dictionary: the frame need not (4 bytes a value).
        compressor
            .set_parameter(zstd::zstd_safe::CParameter::DictIdFlag(false))
            .with_context(prepare)?;
        Ok(Packer(compressor))
    }

    /// `bytes` compressed with the family's current dictionary.
    pub(crate) fn pack(&mut self, bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
        self.0.compress(bytes).context("compressing")
    }
}

/// Decompresses values of a family (one context per dictionary for many values).
pub(crate) struct Unpacker {
    family: &'static Family,
    contexts: HashMap<i64, zstd::bulk::Decompressor<'static>>,
}

impl Unpacker {
    pub(crate) fn new(family: &'static Family) -> Unpacker {
        Unpacker {
            family,
            contexts: HashMap::new(),
        }
    }

    /// The bytes `packed` holds, compressed with the family's dictionary `number`.
    pub(crate) fn unpack(&mut self, number: i64, packed: &[u8]) -> anyhow::Result<Vec<u8>> {
        let what = self.family.what;
        let context = match self.contexts.entry(number) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                let prepared = (self.family.decoders.get(&number)).with_context(|| {
                    format!("a stored {what} names dictionary {number}, which this build lacks")
                })?;
                entry.insert(
                    zstd::bulk::Decompressor::with_prepared_dictionary(prepared)
                        .with_context(|| format!("preparing to decompress {what}s"))?,
                )
            }
        };
        let size = zstd::zstd_safe::get_frame_content_size(packed)
            .ok()
            .flatten()
            .filter(|size| *size <= LARGEST)
            .with_context(|| format!("a stored {what} is not a zstd frame of known size"))?;
        context
            .decompress(packed, size as usize)
            .with_context(|| format!("a stored {what} does not decompress"))
    }

    /// The text of a `finding_texts` row read with [`text_columns`]: packed (since 0040), or
    /// the JSON of before.
    pub(crate) fn text_of_row(&mut self, row: &AnyRow) -> anyhow::Result<String> {
        match row.try_get::<Option<Vec<u8>>, _>("text_packed")? {
            Some(packed) => {
                let number: Option<i64> = row.try_get("text_dictionary")?;
                let number = number.context("a packed finding text names no dictionary")?;
                String::from_utf8(self.unpack(number, &packed)?)
                    .context("a stored finding text is not UTF-8")
            }
            None => Ok(row.try_get("text")?),
        }
    }
}

/// The columns [`Unpacker::text_of_row`] reads, of the `finding_texts` row aliased `table`.
pub(crate) fn text_columns(table: &str) -> String {
    format!(
        "{table}.finding AS text, {table}.dictionary AS text_dictionary, \
         {table}.packed AS text_packed"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_keeps_a_context_a_family_and_packs_as_a_new_one() {
        let (list, packages) = (r#"[{"binary":"curl"}]"#, r#"[["curl","amd64","8.0"]]"#);
        for _ in 0..2 {
            for (family, text) in [(&LISTS, list), (&PACKAGES, packages), (&LISTS, packages)] {
                let packed = pack_tagged(family, 9, text.as_bytes()).unwrap();
                let fresh = Packer::new(family).unwrap().pack(text.as_bytes()).unwrap();
                assert_eq!(packed[..2], [9, family.current as u8]);
                assert_eq!(packed[2..], fresh);
                assert_eq!(
                    unpack_tagged(family, &packed[1..]).unwrap(),
                    text.as_bytes()
                );
            }
        }
        PACKERS.with(|packers| assert_eq!(packers.borrow().len(), 2));
        UNPACKERS.with(|unpackers| assert_eq!(unpackers.borrow().len(), 2));
        // A frame of one family does not read as another's.
        let packed = pack_tagged(&PACKAGES, 9, packages.as_bytes()).unwrap();
        assert_ne!(
            unpack_tagged(&TEXTS, &packed[1..]).ok(),
            Some(packages.into())
        );
    }

    #[test]
    fn values_come_back_exactly() {
        let texts = [
            String::new(),
            r#"{"binary":"libssl3","summary":"say \"deadline\":null — 中文 ✓","deadline":null}"#
                .to_owned(),
            "x".repeat(100_000),
        ];
        let mut packer = Packer::new(&TEXTS).unwrap();
        let mut unpacker = Unpacker::new(&TEXTS);
        for text in &texts {
            let packed = packer.pack(text.as_bytes()).unwrap();
            assert_eq!(
                unpacker.unpack(TEXTS.current, &packed).unwrap(),
                text.as_bytes()
            );
        }
        let packed = packer.pack(texts[1].as_bytes()).unwrap();
        let error = unpacker.unpack(TEXTS.current + 1, &packed).unwrap_err();
        assert!(error.to_string().contains("dictionary 2"), "{error}");
        assert!(unpacker.unpack(TEXTS.current, b"not zstd").is_err());
    }

    #[test]
    fn the_text_dictionary_does_the_work() {
        // A finding text as the scanner stores it: against the dictionary it takes a fraction
        // of what zstd makes of it alone.
        let text = r#"{"binary":"libc6-dev","installed":"2.36-9+deb12u13","package":"glibc","package_version":"2.36-9+deb12u13","advisory":"DEBCL-CVE-2026-4046","aliases":["CVE-2026-4046"],"fixed":"2.36-9+deb12u14","tier":"T3","deadline":null,"reasons":["distro severity medium"],"summary":"CVE-2026-4046 fixed in Debian changelog of glibc","published":"2026-03-12T10:00:00Z","cvss":null,"epss":null,"kev":false}"#;
        let packed = Packer::new(&TEXTS).unwrap().pack(text.as_bytes()).unwrap();
        let alone = zstd::bulk::compress(text.as_bytes(), 3).unwrap();
        assert!(
            packed.len() * 3 < alone.len(),
            "{} bytes with the dictionary, {} alone",
            packed.len(),
            alone.len()
        );
    }
}
