//! Controller settings: raw (every field optional; from TOML, env or flags) → validated.
//! Only [`ServerSettings`] leaves start-up; every problem is reported at once.

use std::net::SocketAddr;
use std::path::PathBuf;

/// The default listen address: loopback only (operators still need tokens; agents need mTLS).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8420";

/// Settings as read from one source; later sources override earlier ones field by field.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServerSettings {
    /// Address and port to listen on (plain HTTP and TLS on the same port).
    pub listen: Option<String>,
    /// Directory holding the database, the CA and the agent of `up`.
    pub data_dir: Option<PathBuf>,
    /// Extra DNS names or IP addresses for the server certificate (agents connect to one).
    pub server_names: Option<Vec<String>>,
    /// Seconds an agent's command long-poll may wait (1–300, default 30).
    pub max_poll_wait_secs: Option<u64>,
    /// Seconds a client has to send a request's headers (and to start TLS) before the
    /// connection is closed (1–300, default 10).
    pub header_read_timeout_secs: Option<u64>,
    /// Open connections allowed from one IP address; more are closed at once (1–100000,
    /// default 256).
    pub max_connections_per_peer: Option<usize>,
    /// The console's address as people reach it, for links in notifications (default:
    /// `http://` and the listen address).
    pub public_url: Option<String>,
    /// Seconds before a failed notification is first retried; doubled each time, at most an
    /// hour apart, 10 attempts (1–3600, default 30).
    pub notify_retry_base_secs: Option<u64>,
    /// PEM certificates trusted for SMTP STARTTLS besides the system's (an internal mail CA).
    pub notify_ca_file: Option<PathBuf>,
    /// The database: `sqlite://PATH` (default: patchwarden.db in the data directory) or
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE`.
    pub database: Option<String>,
    /// The secret key file (64 hex digits) every controller on one database shares: the
    /// controller CA and the login CSRF key are kept in the database sealed with it
    /// (docs/server.md "Several controllers").
    pub secret_key_file: Option<PathBuf>,
}

/// Validated settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub server_names: Vec<String>,
    pub max_poll_wait_secs: u64,
    pub header_read_timeout_secs: u64,
    pub max_connections_per_peer: usize,
    pub public_url: Option<String>,
    pub notify_retry_base_secs: u64,
    pub notify_ca_file: Option<PathBuf>,
    pub database: pw_store::DatabaseUrl,
    pub secret_key_file: Option<PathBuf>,
}

impl ServerSettings {
    /// A controller on 127.0.0.1 (a free port) over a SQLite database in `data_dir`, with short
    /// waits: the integration tests' and the benchmarks' controller.
    pub fn loopback(data_dir: &std::path::Path) -> ServerSettings {
        ServerSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.to_owned(),
            server_names: vec![],
            max_poll_wait_secs: 5,
            header_read_timeout_secs: 10,
            max_connections_per_peer: 256,
            public_url: None,
            notify_retry_base_secs: 30,
            notify_ca_file: None,
            database: pw_store::DatabaseUrl::sqlite_file(&data_dir.join("patchwarden.db")),
            secret_key_file: None,
        }
    }
}

impl RawServerSettings {
    /// `other`'s fields win where set.
    pub fn merge(self, other: RawServerSettings) -> RawServerSettings {
        RawServerSettings {
            listen: other.listen.or(self.listen),
            data_dir: other.data_dir.or(self.data_dir),
            server_names: other.server_names.or(self.server_names),
            max_poll_wait_secs: other.max_poll_wait_secs.or(self.max_poll_wait_secs),
            header_read_timeout_secs: other
                .header_read_timeout_secs
                .or(self.header_read_timeout_secs),
            max_connections_per_peer: other
                .max_connections_per_peer
                .or(self.max_connections_per_peer),
            public_url: other.public_url.or(self.public_url),
            notify_retry_base_secs: other.notify_retry_base_secs.or(self.notify_retry_base_secs),
            notify_ca_file: other.notify_ca_file.or(self.notify_ca_file),
            database: other.database.or(self.database),
            secret_key_file: other.secret_key_file.or(self.secret_key_file),
        }
    }

    /// Applies defaults and checks every field; returns all problems, each with its key.
    pub fn validate(self, default_data_dir: PathBuf) -> Result<ServerSettings, Vec<String>> {
        let mut problems = Vec::new();
        let listen_text = self.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = listen_text.parse::<SocketAddr>().map_err(|_| {
            problems.push(format!(
                "listen: {listen_text:?} is not an address:port (e.g. 127.0.0.1:8420)"
            ))
        });
        let server_names = self.server_names.unwrap_or_default();
        for (i, name) in server_names.iter().enumerate() {
            let ok = name.parse::<std::net::IpAddr>().is_ok()
                || (!name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'));
            if !ok {
                problems.push(format!(
                    "server_names[{i}]: {name:?} is neither a DNS name nor an IP address"
                ));
            }
        }
        let max_poll_wait_secs = self.max_poll_wait_secs.unwrap_or(30);
        if !(1..=300).contains(&max_poll_wait_secs) {
            problems.push(format!(
                "max_poll_wait_secs: {max_poll_wait_secs} is outside 1–300"
            ));
        }
        let header_read_timeout_secs = self.header_read_timeout_secs.unwrap_or(10);
        if !(1..=300).contains(&header_read_timeout_secs) {
            problems.push(format!(
                "header_read_timeout_secs: {header_read_timeout_secs} is outside 1–300"
            ));
        }
        let max_connections_per_peer = self.max_connections_per_peer.unwrap_or(256);
        if !(1..=100_000).contains(&max_connections_per_peer) {
            problems.push(format!(
                "max_connections_per_peer: {max_connections_per_peer} is outside 1–100000"
            ));
        }
        let notify_retry_base_secs = self.notify_retry_base_secs.unwrap_or(30);
        if !(1..=3600).contains(&notify_retry_base_secs) {
            problems.push(format!(
                "notify_retry_base_secs: {notify_retry_base_secs} is outside 1–3600"
            ));
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            problems.push(format!(
                "public_url: {url:?} is not an http:// or https:// URL"
            ));
        }
        let data_dir = self.data_dir.unwrap_or(default_data_dir);
        if data_dir.as_os_str().is_empty() {
            problems.push("data_dir: must not be empty".to_owned());
        }
        let database = match self.database {
            None => Some(pw_store::DatabaseUrl::sqlite_file(
                &data_dir.join("patchwarden.db"),
            )),
            Some(text) => pw_store::DatabaseUrl::parse(&text)
                .map_err(|e| problems.push(format!("database: {e:#}")))
                .ok(),
        };
        match (listen, database) {
            (Ok(listen), Some(database)) if problems.is_empty() => Ok(ServerSettings {
                listen,
                data_dir,
                server_names,
                max_poll_wait_secs,
                header_read_timeout_secs,
                max_connections_per_peer,
                public_url: self.public_url,
                notify_retry_base_secs,
                notify_ca_file: self.notify_ca_file,
                database,
                secret_key_file: self.secret_key_file,
            }),
            _ => Err(problems),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_at_once() {
        let raw = RawServerSettings {
            listen: Some("nowhere".into()),
            data_dir: None,
            server_names: Some(vec!["ok.example".into(), "bad name!".into()]),
            max_poll_wait_secs: Some(0),
            ..Default::default()
        };
        let problems = raw.validate("/tmp/x".into()).unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("listen:"));
        assert!(problems[1].starts_with("server_names[1]:"));
        assert!(problems[2].starts_with("max_poll_wait_secs:"));
    }

    #[test]
    fn later_sources_win_and_defaults_fill_in() {
        let file = RawServerSettings {
            listen: Some("0.0.0.0:1".into()),
            max_poll_wait_secs: Some(10),
            ..Default::default()
        };
        let flags = RawServerSettings {
            listen: Some("127.0.0.1:2".into()),
            ..Default::default()
        };
        let settings = file.merge(flags).validate("/data".into()).unwrap();
        assert_eq!(settings.listen.port(), 2);
        assert_eq!(settings.max_poll_wait_secs, 10);
        assert_eq!(settings.data_dir, PathBuf::from("/data"));
        let default = pw_store::DatabaseUrl::sqlite_file("/data/patchwarden.db".as_ref());
        assert_eq!(settings.database, default);
    }

    #[test]
    fn a_bad_database_url_is_a_problem_named_without_its_password() {
        let raw = RawServerSettings {
            database: Some("postgress://pw:hunter2@db/x".into()),
            ..Default::default()
        };
        let problems = raw.validate("/tmp/x".into()).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("database: "), "{problems:?}");
        assert!(problems[0].contains("postgress://pw@db/x"), "{problems:?}");
        assert!(!problems[0].contains("hunter2"), "{problems:?}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let error = toml::from_str::<RawServerSettings>("lisen = \"x\"").unwrap_err();
        assert!(error.to_string().contains("unknown field"), "{error}");
    }
}
