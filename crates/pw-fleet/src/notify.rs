//! Notification channels and routes of the fleet document (docs/notifications.md):
//!
//! ```toml
//! [[channels]]
//! name = "ops-dingtalk"
//! kind = "dingtalk"                    # webhook | dingtalk | feishu | wecom | slack | email
//! url = "https://oapi.dingtalk.com/robot/send?access_token={token}"
//! language = "zh-CN"                   # en (default) | zh-CN
//!
//! [[channels]]
//! name = "owners-mail"
//! kind = "email"
//! url = "smtp://mail.example.com:587"  # STARTTLS; smtp://user@host:587 logs in
//! from = "patchwarden@example.com"
//! to = ["owners", "noc@example.com"]   # owners: the event's group's owners
//!
//! [[routes]]
//! events = ["finding.new", "plan.needs_approval"]
//! groups = ["web-prod"]                # optional: only these groups' events
//! tiers = ["T0", "T1"]                 # optional: only events with these tiers
//! channels = ["ops-dingtalk"]
//! ```
//!
//! Secrets never live here: a key named like one (`secret`, `token`, `password`) or a URL with
//! a password is an error. The signing secret, the SMTP password and the `{token}` of a URL are
//! stored on the controller (`PUT /api/v1/notification-channels/{name}/secret`).

use std::collections::{BTreeMap, BTreeSet};

use pw_model::Tier;
use pw_notify::{Channel, ChannelKind, EventKind, Language, Route};

use crate::FleetError;
use crate::emergency::text as required;

const CHANNEL_KEYS: [&str; 6] = ["name", "kind", "url", "language", "to", "from"];
const ROUTE_KEYS: [&str; 4] = ["events", "groups", "tiers", "channels"];
const SECRET_KEYS: [&str; 4] = ["secret", "token", "password", "key"];

/// The URL placeholder replaced by the channel's stored token.
pub const TOKEN_PLACEHOLDER: &str = "{token}";

/// Reads `[[channels]]` and `[[routes]]`; `groups` are the document's group names.
pub(crate) fn parse_notifications(
    table: &toml::Table,
    groups: &BTreeMap<String, toml::Value>,
    errors: &mut Vec<FleetError>,
) -> (Vec<Channel>, Vec<Route>) {
    let mut channels = Vec::new();
    let declared_channels = list(table, "channels", errors);
    // Routes are checked against every declared name, valid channel or not: one bad channel
    // is one problem, not one more per route naming it.
    let names: BTreeSet<&str> = declared_channels
        .iter()
        .filter_map(|item| item.get("name").and_then(toml::Value::as_str))
        .collect();
    for (index, item) in declared_channels.iter().enumerate() {
        if let Some(channel) = channel(index, item, errors) {
            if channels.iter().any(|c: &Channel| c.name == channel.name) {
                errors.push(FleetError::new(
                    format!("channels[{index}].name"),
                    format!("{:?} names two channels", channel.name),
                ));
            } else {
                channels.push(channel);
            }
        }
    }
    let routes = list(table, "routes", errors)
        .iter()
        .enumerate()
        .filter_map(|(index, item)| route(index, item, groups, &names, errors))
        .collect();
    (channels, routes)
}

fn list(table: &toml::Table, key: &str, errors: &mut Vec<FleetError>) -> Vec<toml::Value> {
    match table.get(key) {
        None => Vec::new(),
        Some(toml::Value::Array(items)) => items.clone(),
        Some(other) => {
            errors.push(FleetError::new(
                key,
                format!(
                    "expected a list of tables ([[{key}]]), found {}",
                    other.type_str()
                ),
            ));
            Vec::new()
        }
    }
}

fn entry<'a>(
    path: &str,
    item: &'a toml::Value,
    keys: &[&str],
    errors: &mut Vec<FleetError>,
) -> Option<&'a toml::Table> {
    let Some(table) = item.as_table() else {
        errors.push(FleetError::new(
            path,
            format!("expected a table, found {}", item.type_str()),
        ));
        return None;
    };
    for key in table.keys().filter(|k| !keys.contains(&k.as_str())) {
        let message = if SECRET_KEYS.contains(&key.as_str()) {
            "secrets are not kept in the fleet document; store it on the controller with \
             PUT /api/v1/notification-channels/{name}/secret (docs/notifications.md)"
                .to_owned()
        } else {
            format!("unknown key; expected one of {}", keys.join(", "))
        };
        errors.push(FleetError::new(format!("{path}.{key}"), message));
    }
    Some(table)
}

/// An optional string: absent is `None`; present, it must be a non-empty string.
fn text(
    table: &toml::Table,
    path: &str,
    key: &str,
    what: &str,
    errors: &mut Vec<FleetError>,
) -> Option<String> {
    table
        .contains_key(key)
        .then(|| required(table, path, key, what, errors))?
}

fn strings(
    table: &toml::Table,
    path: &str,
    key: &str,
    errors: &mut Vec<FleetError>,
) -> Vec<(String, String)> {
    let key_path = format!("{path}.{key}");
    let Some(value) = table.get(key) else {
        return Vec::new();
    };
    let Some(items) = value.as_array() else {
        errors.push(FleetError::new(
            key_path,
            format!("expected a list of strings, found {}", value.type_str()),
        ));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (index, item) in items.iter().enumerate() {
        match item.as_str() {
            Some(text) => out.push((format!("{key_path}[{index}]"), text.to_owned())),
            None => errors.push(FleetError::new(
                format!("{key_path}[{index}]"),
                format!("expected a string, found {}", item.type_str()),
            )),
        }
    }
    out
}

/// A channel name: 1–63 lower-case letters, digits, `-`, `_` or `.`, starting with a letter or
/// digit (it is a path segment of the secret API).
pub fn valid_channel_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

fn channel(index: usize, item: &toml::Value, errors: &mut Vec<FleetError>) -> Option<Channel> {
    let path = format!("channels[{index}]");
    let before = errors.len();
    let table = entry(&path, item, &CHANNEL_KEYS, errors)?;
    let name = required(table, &path, "name", "a channel name", errors);
    if let Some(name) = &name
        && !valid_channel_name(name)
    {
        errors.push(FleetError::new(
            format!("{path}.name"),
            format!(
                "{name:?} is not a channel name: 1–63 lower-case letters, digits, '-', '_' or '.'"
            ),
        ));
    }
    let kind = required(table, &path, "kind", "a channel kind", errors).and_then(|kind| {
        kind.parse::<ChannelKind>()
            .map_err(|e| errors.push(FleetError::new(format!("{path}.kind"), e)))
            .ok()
    });
    let language = text(table, &path, "language", "en or zh-CN", errors)
        .map(|l| {
            l.parse::<Language>()
                .map_err(|e| errors.push(FleetError::new(format!("{path}.language"), e)))
                .unwrap_or_default()
        })
        .unwrap_or_default();
    let url = required(table, &path, "url", "the channel's URL", errors);
    if let (Some(url), Some(kind)) = (&url, kind)
        && let Err(message) = check_url(kind, url)
    {
        errors.push(FleetError::new(format!("{path}.url"), message));
    }
    let from = text(table, &path, "from", "the sender's address", errors);
    let to: Vec<String> = strings(table, &path, "to", errors)
        .into_iter()
        .filter_map(|(item_path, to)| {
            if to == "owners" || valid_address(&to) {
                Some(to)
            } else {
                errors.push(FleetError::new(
                    item_path,
                    format!("{to:?} is not an email address or \"owners\""),
                ));
                None
            }
        })
        .collect();
    if kind == Some(ChannelKind::Email) {
        if from.as_deref().is_none_or(|f| !valid_address(f)) {
            errors.push(FleetError::new(
                format!("{path}.from"),
                "an email channel needs a sender address (from = \"patchwarden@example.com\")",
            ));
        }
        if !table.contains_key("to") || to.is_empty() && errors.len() == before {
            errors.push(FleetError::new(
                format!("{path}.to"),
                "an email channel needs recipients (to = [\"owners\", \"noc@example.com\"])",
            ));
        }
    } else if kind.is_some() {
        for key in ["to", "from"]
            .into_iter()
            .filter(|k| table.contains_key(*k))
        {
            errors.push(FleetError::new(
                format!("{path}.{key}"),
                "only an email channel has recipients and a sender",
            ));
        }
    }
    if errors.len() > before {
        return None;
    }
    Some(Channel {
        name: name?,
        kind: kind?,
        url: url?,
        language,
        to,
        from,
    })
}

fn valid_address(text: &str) -> bool {
    text.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !text
                .chars()
                .any(|c| c.is_whitespace() || "<>,;\"".contains(c))
    })
}

/// What a channel's URL must look like: http(s) for the chat robots and webhooks, `smtp://` for
/// email; no password in it; at most one `{token}` (replaced by the stored token).
pub fn check_url(kind: ChannelKind, url: &str) -> Result<(), String> {
    if url.matches(TOKEN_PLACEHOLDER).count() > 1 {
        return Err(format!("{url:?} has {TOKEN_PLACEHOLDER} more than once"));
    }
    let filled = url.replace(TOKEN_PLACEHOLDER, "token");
    let parsed = url::Url::parse(&filled).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if parsed.password().is_some() {
        return Err(
            "a password in the URL is a secret: store it on the controller instead \
             (PUT /api/v1/notification-channels/{name}/secret)"
                .to_owned(),
        );
    }
    let schemes: &[&str] = if kind == ChannelKind::Email {
        &["smtp"]
    } else {
        &["http", "https"]
    };
    if !schemes.contains(&parsed.scheme()) || parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "{url:?} is not a {} URL with a host",
            schemes
                .iter()
                .map(|s| format!("{s}://"))
                .collect::<Vec<_>>()
                .join(" or ")
        ));
    }
    Ok(())
}

fn route(
    index: usize,
    item: &toml::Value,
    groups: &BTreeMap<String, toml::Value>,
    channels: &BTreeSet<&str>,
    errors: &mut Vec<FleetError>,
) -> Option<Route> {
    let path = format!("routes[{index}]");
    let before = errors.len();
    let table = entry(&path, item, &ROUTE_KEYS, errors)?;
    for key in ["events", "channels"] {
        if !table.contains_key(key) {
            errors.push(FleetError::new(
                format!("{path}.{key}"),
                format!("missing; a route names its {key}"),
            ));
        }
    }
    let mut events = BTreeSet::new();
    for (item_path, name) in strings(table, &path, "events", errors) {
        match name.parse::<EventKind>() {
            Ok(kind) => {
                events.insert(kind);
            }
            Err(e) => errors.push(FleetError::new(item_path, e)),
        }
    }
    let mut route_groups = Vec::new();
    for (item_path, name) in strings(table, &path, "groups", errors) {
        if groups.contains_key(&name) {
            route_groups.push(name);
        } else {
            errors.push(FleetError::new(
                item_path,
                format!("{name:?} is not a group of this document"),
            ));
        }
    }
    let mut tiers = Vec::new();
    for (item_path, name) in strings(table, &path, "tiers", errors) {
        match name.parse::<Tier>() {
            Ok(tier) => tiers.push(tier),
            Err(_) => errors.push(FleetError::new(
                item_path,
                format!("{name:?} is not a tier (T0 … T4)"),
            )),
        }
    }
    let mut route_channels = Vec::new();
    for (item_path, name) in strings(table, &path, "channels", errors) {
        if channels.contains(name.as_str()) {
            route_channels.push(name);
        } else {
            errors.push(FleetError::new(
                item_path,
                format!("{name:?} is not a channel of this document ([[channels]])"),
            ));
        }
    }
    if errors.len() == before && (events.is_empty() || route_channels.is_empty()) {
        errors.push(FleetError::new(
            path.as_str(),
            "a route names at least one event and one channel",
        ));
    }
    (errors.len() == before).then_some(Route {
        events,
        groups: route_groups,
        tiers,
        channels: route_channels,
    })
}
