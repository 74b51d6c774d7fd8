//! Every host's fleet group as a scheduler pass needs it, kept between passes (issue 15:
//! per-batch overhead at 10,000 hosts with a fleet document). A pass resolved every host of its
//! rollouts against the document twice, from every host's full row, and parsed the document's
//! TOML each time: 36–44 ms a pass at 1,000 hosts, most of a pass. Now the document is parsed
//! once per applied version, and a host's group is resolved once per distinct (host name,
//! labels) under that version. A pass reads the count of changes to the hosts' names and labels
//! (`Store::host_facts_epoch`, kept by triggers: migration 0051) and, only when it moved, each
//! host's name and labels (`Store::host_facts`), so a relabelled, renamed, enrolled or removed
//! host is resolved in the next pass — 10,000 hosts' rows read every pass were ~100 ms of it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use pw_fleet::{FleetDocument, HostFacts, Resolution};
use pw_store::Store;

/// The group name of a host in several groups at once.
pub(crate) const CONFLICT: &str = "conflict: ";

/// A host's fleet group under a document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Grouped {
    /// In exactly one group.
    Member(String),
    /// In several groups at once: held in `conflict: a, b` until the document is fixed.
    Conflict(String),
}

impl Grouped {
    /// The group's name as the gates know it.
    pub(crate) fn name(&self) -> &str {
        match self {
            Grouped::Member(group) | Grouped::Conflict(group) => group,
        }
    }
}

/// Every enrolled host's group by host id (`None`: in no group).
pub(crate) type HostGroups = HashMap<String, Option<Grouped>>;

/// The current document and every host's group under it.
pub(crate) struct FleetGroups {
    pub(crate) document: Arc<FleetDocument>,
    pub(crate) groups: Arc<HostGroups>,
}

/// What is kept between passes: the document of one version and the resolutions under it.
#[derive(Default)]
pub struct GroupMemo(Mutex<Option<Memo>>);

struct Memo {
    version: i64,
    document: Arc<FleetDocument>,
    /// By (host name, labels as stored).
    resolved: HashMap<(String, String), Option<Grouped>>,
    /// The hosts' groups at a facts epoch.
    hosts: Option<(i64, Arc<HostGroups>)>,
}

impl GroupMemo {
    /// The current document and every enrolled host's group; `None` without a document.
    pub(crate) async fn groups(&self, store: &Store) -> anyhow::Result<Option<FleetGroups>> {
        let Some(stored) = store.current_fleet().await? else {
            return Ok(None);
        };
        // Read before the facts: a change between the two reads shows in the next pass.
        let epoch = store.host_facts_epoch().await?;
        let current = |memo: &Memo| {
            (memo.version == stored.version)
                .then_some(memo.hosts.as_ref())
                .flatten()
                .filter(|(at, _)| *at == epoch)
                .map(|(_, groups)| groups.clone())
        };
        if let Some(memo) = self.0.lock().expect("fleet groups lock").as_ref()
            && let Some(groups) = current(memo)
        {
            let document = memo.document.clone();
            return Ok(Some(FleetGroups { document, groups }));
        }
        let facts = store.host_facts().await?;
        let mut memo = self.0.lock().expect("fleet groups lock");
        if memo.as_ref().is_none_or(|m| m.version != stored.version) {
            let document = crate::fleet::parse_stored(&stored)?;
            *memo = Some(Memo {
                version: stored.version,
                document: Arc::new(document),
                resolved: HashMap::new(),
                hosts: None,
            });
        }
        let memo = memo.as_mut().context("fleet groups memo")?;
        let mut groups = HashMap::with_capacity(facts.len());
        for (id, hostname, labels) in facts {
            let key = (hostname, labels);
            let grouped = match memo.resolved.get(&key) {
                Some(grouped) => grouped.clone(),
                None => {
                    let grouped = resolve(&memo.document, &key.0, &key.1)
                        .with_context(|| format!("the labels of host {id}"))?;
                    memo.resolved.insert(key, grouped.clone());
                    grouped
                }
            };
            groups.insert(id, grouped);
        }
        let groups = Arc::new(groups);
        memo.hosts = Some((epoch, groups.clone()));
        Ok(Some(FleetGroups {
            document: memo.document.clone(),
            groups,
        }))
    }
}

/// A host's group under `document` from its name and stored labels.
fn resolve(
    document: &FleetDocument,
    hostname: &str,
    labels: &str,
) -> anyhow::Result<Option<Grouped>> {
    let labels: BTreeMap<String, String> = serde_json::from_str(labels)?;
    let facts = HostFacts {
        hostname,
        labels: &labels,
    };
    Ok(match document.resolve(facts) {
        Resolution::Member { group, .. } => Some(Grouped::Member(group)),
        Resolution::Conflict { groups, .. } => Some(Grouped::Conflict(format!(
            "{CONFLICT}{}",
            groups.join(", ")
        ))),
        Resolution::Ungrouped => None,
    })
}
