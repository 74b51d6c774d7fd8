//! Channels and routes as the fleet document declares them (pw-fleet validates the TOML): a
//! route sends the events it names, for the groups and tiers it names, to its channels.

use std::collections::BTreeSet;

use pw_model::Tier;
use serde::Serialize;

use crate::event::{Event, EventKind};
use crate::render::Language;
use crate::vendor::ChannelKind;

/// One `[[channels]]` entry. Secrets are never here: they are stored on the controller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Channel {
    pub name: String,
    pub kind: ChannelKind,
    /// `http(s)://…` for the chat robots and webhooks; `smtp://host:port` for email.
    pub url: String,
    pub language: Language,
    /// Email only: recipients; `owners` stands for the owners of the event's group.
    pub to: Vec<String>,
    /// Email only: the sender address.
    pub from: Option<String>,
}

/// One `[[routes]]` entry. Empty `groups` or `tiers` match every group or tier; a route with
/// `groups` matches only events concerning one of those groups, one with `tiers` only events with one of
/// those tiers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    pub events: BTreeSet<EventKind>,
    pub groups: Vec<String>,
    pub tiers: Vec<Tier>,
    /// Channel names (validated against `[[channels]]`).
    pub channels: Vec<String>,
}

impl Route {
    pub fn matches(&self, event: &Event) -> bool {
        self.events.contains(&event.kind())
            && (self.groups.is_empty() || event.groups.iter().any(|g| self.groups.contains(g)))
            && (self.tiers.is_empty() || event.tier.is_some_and(|t| self.tiers.contains(&t)))
    }
}

/// The channels an event goes to: every channel of every matching route, each once, in the
/// order of `channels`.
pub fn channels_for<'a>(
    channels: &'a [Channel],
    routes: &[Route],
    event: &Event,
) -> Vec<&'a Channel> {
    let wanted: BTreeSet<&str> = routes
        .iter()
        .filter(|route| route.matches(event))
        .flat_map(|route| route.channels.iter().map(String::as_str))
        .collect();
    channels
        .iter()
        .filter(|channel| wanted.contains(channel.name.as_str()))
        .collect()
}
