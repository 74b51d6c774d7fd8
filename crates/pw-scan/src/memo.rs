//! Classifications remembered across hosts and scans (issue 15: a first report's CPU). What
//! classifying a match's merged advisories gives — tier, reasons, aliases, threat signals and
//! the tier's deadline rule — depends on those advisories, the intelligence's
//! signals, the policy and the host's group; only where the deadline starts depends on the
//! advisory's publication, the finding's first sight and `now` (`Deadline::starting`,
//! [`ScanContext::instant`]). An [`Intelligence`] remembers what it classified per policy and
//! group, so a fleet's hosts, which share most of their advisory sets, have each set classified
//! once until a feed import replaces the intelligence; every finding is then started at its own
//! first sight. [`Classifier`](crate::Classifier) remembers for one context and one first
//! sight; this memo for any first sight and `now`.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use pw_advisory::Match;
use pw_priority::{Deadline, PriorityPolicy};

use crate::cache::{Classified, WordHasher};
use crate::{Intelligence, ScanContext};

/// Policies (each with a group) remembered at once; a new one replaces the least recently used.
const CONTEXTS: usize = 16;

/// Advisory sets remembered by all of an intelligence's memos together (well under 1 KiB each:
/// tens of MiB at most); a memo that would pass it starts afresh.
const SETS: usize = 1 << 16;

/// A classification without its deadline's start: the tier's rule ([`Deadline::Within`] the
/// tier's duration, the next window, none) and everything else.
#[derive(Debug, Clone)]
pub(crate) struct Timeless {
    /// Its `deadline` is not set.
    pub(crate) classified: Classified,
    pub(crate) rule: Deadline,
}

impl Timeless {
    /// The classification of a finding first seen as `context` says (or never before, then
    /// `context.first_seen`), at `context.now`.
    pub(crate) fn at(&self, context: &ScanContext<'_>) -> Classified {
        let start = self
            .rule
            .starting(self.classified.published, context.first_seen);
        Classified {
            deadline: context.instant(start),
            ..self.classified.clone()
        }
    }
}

type Sets = HashMap<Box<[usize]>, Arc<Timeless>, BuildHasherDefault<WordHasher>>;

/// What one policy and group classified, by the advisories of a match (their addresses in the
/// intelligence's index, in the match's order).
pub(crate) struct Memo {
    policy: PriorityPolicy,
    group: Option<String>,
    sets: Mutex<Sets>,
    /// The sets all memos of the intelligence remember.
    total: Arc<AtomicUsize>,
}

impl Drop for Memo {
    fn drop(&mut self) {
        let sets = self.sets.get_mut().map_or(0, |sets| sets.len());
        self.total.fetch_sub(sets, Ordering::Relaxed);
    }
}

impl Memo {
    /// The classification of `m` under `context`, remembered or made (and remembered).
    pub(crate) fn classify(
        &self,
        intelligence: &Intelligence,
        m: &Match<'_>,
        context: &ScanContext<'_>,
    ) -> Classified {
        let key: Vec<usize> = (m.advisories.iter())
            .map(|a| std::ptr::from_ref(a.advisory) as usize)
            .collect();
        let known = (self.sets.lock().expect("classification memo"))
            .get(key.as_slice())
            .cloned();
        let timeless = match known {
            Some(timeless) => timeless,
            None => {
                let made = Arc::new(intelligence.timeless(m, context));
                let mut sets = self.sets.lock().expect("classification memo");
                if self.total.load(Ordering::Relaxed) >= SETS {
                    self.total.fetch_sub(sets.len(), Ordering::Relaxed);
                    sets.clear();
                }
                if sets.insert(key.into_boxed_slice(), made.clone()).is_none() {
                    self.total.fetch_add(1, Ordering::Relaxed);
                }
                made
            }
        };
        timeless.at(context)
    }
}

/// An intelligence's memos, most recently used first, and the sets they remember.
#[derive(Default)]
pub(crate) struct Memos {
    memos: Mutex<Vec<Arc<Memo>>>,
    total: Arc<AtomicUsize>,
}

impl Memos {
    /// The memo of `context`'s policy and group (a host's scan takes it once).
    pub(crate) fn of(&self, context: &ScanContext<'_>) -> Arc<Memo> {
        let mut memos = self.memos.lock().expect("classification memos");
        let group = context.group;
        let found =
            (memos.iter()).position(|m| m.group.as_deref() == group && &m.policy == context.policy);
        let memo = match found {
            Some(at) => memos.remove(at),
            None => Arc::new(Memo {
                policy: context.policy.clone(),
                group: group.map(str::to_owned),
                sets: Mutex::default(),
                total: self.total.clone(),
            }),
        };
        memos.insert(0, memo.clone());
        memos.truncate(CONTEXTS);
        memo
    }
}
