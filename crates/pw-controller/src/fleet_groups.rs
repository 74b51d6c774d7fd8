//! Every host's fleet group as a scheduler pass needs it, kept between passes (issue 15:
//! per-batch overhead at 10,000 hosts with a fleet document). A pass resolved every host of its
//! rollouts against the document twice, from every host's full row, and parsed the document's
//! TOML each time: 36–44 ms a pass at 1,000 hosts, most of a pass. Now the document is parsed
//! once per applied version, and a host's group is resolved once per distinct (host name,
//! labels) under that version; a pass reads only each host's name and labels
//! (`Store::host_facts`), so a relabelled or renamed host is resolved again at once.

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

/// The current document and every host's group under it (`None` for a host in no group).
pub(crate) struct FleetGroups {
    pub(crate) document: Arc<FleetDocument>,
    pub(crate) groups: HashMap<String, Option<Grouped>>,
}

/// What is kept between passes: the document of one version and the resolutions under it.
#[derive(Default)]
pub struct GroupMemo(Mutex<Option<Memo>>);

struct Memo {
    version: i64,
    document: Arc<FleetDocument>,
    /// By (host name, labels as stored).
    resolved: HashMap<(String, String), Option<Grouped>>,
}

impl GroupMemo {
    /// The current document and every enrolled host's group; `None` without a document.
    pub(crate) async fn groups(&self, store: &Store) -> anyhow::Result<Option<FleetGroups>> {
        let Some(stored) = store.current_fleet().await? else {
            return Ok(None);
        };
        let facts = store.host_facts().await?;
        let mut memo = self.0.lock().expect("fleet groups lock");
        if memo.as_ref().is_none_or(|m| m.version != stored.version) {
            let document = pw_fleet::parse_fleet(&stored.document).map_err(|e| {
                let version = stored.version;
                anyhow::anyhow!("stored fleet document version {version} does not read: {e}")
            })?;
            *memo = Some(Memo {
                version: stored.version,
                document: Arc::new(document),
                resolved: HashMap::new(),
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
