//! The fleet-wide block list (DESIGN.md §4, §9.2): a package version that failed its health checks
//! on any host is skipped by every later batch of every rollout until an operator clears it.
//!
//! The list is shared by all rollouts, so the controller keeps one and hands it to
//! [`crate::decide`]; `BlockVersion` commands add to it through [`BlockList::apply`].

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::host::{Action, Command};
use crate::model::{ExactVersion, HostId, RolloutId, Target};
use pw_model::PackageName;

/// One blocked package version and where it failed first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub package: PackageName,
    pub version: ExactVersion,
    pub reason: String,
    pub rollout: RolloutId,
    pub host: HostId,
    pub at: Timestamp,
}

impl Block {
    pub fn target(&self) -> Target {
        Target {
            package: self.package.clone(),
            version: self.version.clone(),
        }
    }

    fn is(&self, target: &Target) -> bool {
        self.package == target.package && self.version == target.version
    }
}

/// Blocked versions, sorted by package and version, one entry each.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockList {
    blocks: Vec<Block>,
}

impl BlockList {
    pub fn new() -> Self {
        Self::default()
    }

    /// Blocks one version; the first block of a version is kept (it names the first failure).
    /// Returns whether the version was newly blocked.
    pub fn insert(&mut self, block: Block) -> bool {
        let key = |b: &Block| (b.package.clone(), b.version.clone());
        match self.blocks.binary_search_by_key(&key(&block), key) {
            Ok(_) => false,
            Err(at) => {
                self.blocks.insert(at, block);
                true
            }
        }
    }

    /// Adds the versions of a `BlockVersion` command (other commands change nothing); returns
    /// how many were newly blocked. Applying a command twice is harmless.
    pub fn apply(&mut self, command: &Command, at: Timestamp) -> usize {
        let Action::BlockVersion { versions, reason } = &command.action else {
            return 0;
        };
        versions
            .iter()
            .filter(|t| {
                self.insert(Block {
                    package: t.package.clone(),
                    version: t.version.clone(),
                    reason: reason.clone(),
                    rollout: command.key.rollout.clone(),
                    host: command.key.host.clone(),
                    at,
                })
            })
            .count()
    }

    /// An operator clears a version; returns the removed block.
    pub fn clear(&mut self, target: &Target) -> Option<Block> {
        let index = self.blocks.iter().position(|b| b.is(target))?;
        Some(self.blocks.remove(index))
    }

    pub fn get(&self, target: &Target) -> Option<&Block> {
        self.blocks.iter().find(|b| b.is(target))
    }

    /// The blocked ones among `targets`.
    pub fn blocked<'a>(&'a self, targets: &'a [Target]) -> impl Iterator<Item = &'a Block> + 'a {
        targets.iter().filter_map(|t| self.get(t))
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Block> {
        self.blocks.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::{CommandKey, Step};

    fn target(package: &str, version: &str) -> Target {
        Target {
            package: PackageName::parse(package).unwrap(),
            version: ExactVersion::parse(version).unwrap(),
        }
    }

    fn block_command(versions: Vec<Target>) -> Command {
        Command {
            key: CommandKey {
                rollout: RolloutId("r1".into()),
                host: HostId("h1".into()),
                step: Step::BlockVersion,
                attempt: 1,
            },
            not_before: Timestamp::UNIX_EPOCH,
            action: Action::BlockVersion {
                versions,
                reason: "health check web failed".into(),
            },
        }
    }

    #[test]
    fn a_block_command_blocks_each_version_once() {
        let mut list = BlockList::new();
        let command = block_command(vec![target("nginx", "1.2"), target("libssl3", "3.0.1")]);
        assert_eq!(list.apply(&command, Timestamp::UNIX_EPOCH), 2);
        assert_eq!(list.apply(&command, Timestamp::UNIX_EPOCH), 0);
        assert!(list.get(&target("nginx", "1.2")).is_some());
        assert!(list.get(&target("nginx", "1.3")).is_none());
        let names: Vec<String> = list.iter().map(|b| b.target().to_string()).collect();
        assert_eq!(names, ["libssl3=3.0.1", "nginx=1.2"]);
    }

    #[test]
    fn clearing_unblocks_only_that_version() {
        let mut list = BlockList::new();
        list.apply(
            &block_command(vec![target("a", "1"), target("b", "1")]),
            Timestamp::UNIX_EPOCH,
        );
        assert!(list.clear(&target("a", "1")).is_some());
        assert!(list.clear(&target("a", "1")).is_none());
        let targets = [target("a", "1"), target("b", "1")];
        let blocked: Vec<_> = list.blocked(&targets).map(Block::target).collect();
        assert_eq!(blocked, [target("b", "1")]);
    }

    #[test]
    fn other_commands_block_nothing() {
        let mut list = BlockList::new();
        let mut command = block_command(vec![target("a", "1")]);
        command.action = Action::Page { reason: "x".into() };
        assert_eq!(list.apply(&command, Timestamp::UNIX_EPOCH), 0);
        assert!(list.is_empty());
    }
}
