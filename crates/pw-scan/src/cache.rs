//! Classification remembered across hosts. A finding's tier, deadline, reasons, aliases,
//! summary and threat signals depend only on its merged advisories and the scan context (policy,
//! group, first sight, now), never on the host: hosts of a fleet share most of their advisory
//! sets, so a [`Classifier`] classifies each set once and then only copies it into findings.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use jiff::Timestamp;
use pw_advisory::Match;
use pw_model::{Finding, Tier};

use crate::{Intelligence, ScanContext, urgency};

/// What classifying one merged advisory set under one context gives: a finding without its
/// package fields and its advisory's summary (the match's, taken when the finding is made).
#[derive(Debug, Clone)]
pub(crate) struct Classified {
    pub(crate) advisory: String,
    pub(crate) aliases: Vec<String>,
    pub(crate) tier: Tier,
    pub(crate) deadline: Option<Timestamp>,
    pub(crate) reasons: Vec<String>,
    pub(crate) published: Option<Timestamp>,
    pub(crate) cvss: Option<f64>,
    pub(crate) epss: Option<f64>,
    pub(crate) kev: bool,
}

impl Classified {
    /// The finding of `m`, taking the classification.
    pub(crate) fn into_finding(self, m: &Match<'_>) -> Finding {
        Finding {
            binary: m.installed.name.clone(),
            installed: m.installed.version.clone(),
            package: m.package.to_owned(),
            package_version: m.package_version.to_owned(),
            advisory: self.advisory,
            aliases: self.aliases,
            fixed: m.fixed.map(str::to_owned),
            tier: self.tier,
            deadline: self.deadline,
            reasons: self.reasons,
            summary: m.advisory().summary.clone(),
            published: self.published,
            cvss: self.cvss,
            epss: self.epss,
            kev: self.kev,
        }
    }
}

/// Classifies matches into findings exactly like [`Intelligence::findings`] (same findings, same
/// order), remembering the classification of every merged advisory set for the context it was
/// made under. A context different from the previous call's (policy, group, first sight or
/// `now`) starts afresh. Memory grows with the distinct advisory sets seen, which the advisory
/// index bounds. One per thread: it is not shared.
pub struct Classifier<'i> {
    intelligence: &'i Intelligence,
    /// The context the remembered classifications were made under.
    context: Option<ContextKey>,
    /// Position in `classified` by the advisories of a match (their addresses in the index, in
    /// the match's order).
    known: HashMap<Box<[usize]>, usize, BuildHasherDefault<WordHasher>>,
    classified: Vec<Classified>,
    key: Vec<usize>,
    hits: u64,
    misses: u64,
}

/// What a classification depends on besides the advisories.
#[derive(PartialEq)]
struct ContextKey {
    policy: usize,
    group: Option<String>,
    first_seen: Option<Timestamp>,
    now: Timestamp,
}

impl<'i> Classifier<'i> {
    pub fn new(intelligence: &'i Intelligence) -> Self {
        Classifier {
            intelligence,
            context: None,
            known: HashMap::default(),
            classified: Vec::new(),
            key: Vec::new(),
            hits: 0,
            misses: 0,
        }
    }

    /// Classifies matches into findings, most urgent first.
    pub fn findings(&mut self, matches: &[Match<'_>], context: &ScanContext<'_>) -> Vec<Finding> {
        let key = ContextKey {
            policy: std::ptr::from_ref(context.policy) as usize,
            group: context.group.map(str::to_owned),
            first_seen: context.first_seen,
            now: context.now,
        };
        if self.context.as_ref() != Some(&key) {
            self.known.clear();
            self.classified.clear();
            self.context = Some(key);
        }
        // Ordered before the findings are built, so each (large) finding is written once.
        let mut order: Vec<(&Match<'_>, usize)> = matches
            .iter()
            .map(|m| (m, self.position(m, context)))
            .collect();
        let classified = &self.classified;
        order.sort_by(|&(a, i), &(b, j)| {
            let (x, y) = (&classified[i], &classified[j]);
            urgency(
                (x.tier, x.deadline, &a.installed.name, &x.advisory),
                (y.tier, y.deadline, &b.installed.name, &y.advisory),
            )
        });
        order
            .into_iter()
            .map(|(m, i)| classified[i].clone().into_finding(m))
            .collect()
    }

    /// How many matches were classified from memory, and how many afresh.
    pub fn stats(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }

    /// Where the classification of `m`'s advisories is in `classified`, made if new.
    fn position(&mut self, m: &Match<'_>, context: &ScanContext<'_>) -> usize {
        self.key.clear();
        self.key.extend(
            m.advisories
                .iter()
                .map(|a| std::ptr::from_ref(a.advisory) as usize),
        );
        if let Some(&position) = self.known.get(self.key.as_slice()) {
            self.hits += 1;
            return position;
        }
        self.misses += 1;
        let position = self.classified.len();
        self.classified.push(self.intelligence.classify(m, context));
        self.known
            .insert(self.key.clone().into_boxed_slice(), position);
        position
    }
}

/// A hasher for keys made of a few machine words (advisory addresses): multiply and rotate,
/// as in rustc's FxHasher. The addresses are not chosen by an adversary.
#[derive(Default)]
pub(crate) struct WordHasher(u64);

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, word: usize) {
        self.write_u64(word as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
