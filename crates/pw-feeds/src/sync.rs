//! `feeds sync`: download the public OSV, KEV and EPSS files (or configured mirrors) and hand
//! them to the same import path as `feeds import`.

use std::time::Duration;

use anyhow::{Context, bail};

use crate::Progress;
use crate::source::{Input, Kind, unpack};

/// Where `feeds sync` downloads from. Every URL can be replaced (mirrors, air-gap proxies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSources {
    /// OSV exports: `all.zip` per ecosystem, or any gzip/JSON/JSONL file of OSV records.
    pub osv: Vec<String>,
    /// The CISA KEV catalog (JSON).
    pub kev: Option<String>,
    /// The daily EPSS CSV (gzip or plain).
    pub epss: Option<String>,
    /// The Debian Security Tracker's JSON export (per-release status and fixed versions).
    pub debian_tracker: Option<String>,
}

/// The public OSV bucket, one `all.zip` per ecosystem patchwarden matches.
pub const DEFAULT_OSV_URLS: &[&str] = &[
    "https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip",
    "https://osv-vulnerabilities.storage.googleapis.com/Ubuntu/all.zip",
    "https://osv-vulnerabilities.storage.googleapis.com/AlmaLinux/all.zip",
    "https://osv-vulnerabilities.storage.googleapis.com/Rocky%20Linux/all.zip",
];
/// CISA's Known Exploited Vulnerabilities catalog.
pub const DEFAULT_KEV_URL: &str =
    "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json";
/// The Debian Security Tracker's JSON export.
pub const DEFAULT_DEBIAN_TRACKER_URL: &str =
    "https://security-tracker.debian.org/tracker/data/json";
/// FIRST's daily EPSS scores.
pub const DEFAULT_EPSS_URL: &str = "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz";

impl Default for SyncSources {
    fn default() -> Self {
        SyncSources {
            osv: DEFAULT_OSV_URLS.iter().map(|u| u.to_string()).collect(),
            kev: Some(DEFAULT_KEV_URL.into()),
            epss: Some(DEFAULT_EPSS_URL.into()),
            debian_tracker: Some(DEFAULT_DEBIAN_TRACKER_URL.into()),
        }
    }
}

impl SyncSources {
    /// Every URL with the kind it must hold (`None`: recognised by content).
    fn urls(&self) -> Vec<(&str, Option<Kind>)> {
        let mut urls: Vec<(&str, Option<Kind>)> =
            self.osv.iter().map(|u| (u.as_str(), None)).collect();
        urls.extend(self.kev.as_deref().map(|u| (u, None)));
        urls.extend(self.epss.as_deref().map(|u| (u, None)));
        let tracker = self.debian_tracker.as_deref().filter(|u| !u.is_empty());
        urls.extend(tracker.map(|u| (u, Some(Kind::DebianTracker))));
        urls
    }
}

/// Downloads every source into memory (decompressed), failing on the first unreachable one
/// with a message that says what to do when the machine is offline.
pub async fn download(
    sources: &SyncSources,
    progress: &dyn Progress,
) -> anyhow::Result<Vec<Input>> {
    let urls = sources.urls();
    if urls.is_empty() {
        bail!("no feed URLs configured");
    }
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(900))
        .user_agent(concat!("patchwarden/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("setting up the HTTP client")?;
    progress.start("downloading", urls.len() as u64);
    let mut inputs = Vec::new();
    for (url, kind) in urls {
        let (bytes, last_modified) = fetch(&client, url).await?;
        let first = inputs.len();
        unpack(url.to_owned(), bytes, &mut inputs)?;
        for input in &mut inputs[first..] {
            input.kind = kind;
            input.date = last_modified;
        }
        progress.advance(1);
    }
    progress.finish();
    Ok(inputs)
}

/// The body and the `Last-Modified` date of `url`.
async fn fetch(
    client: &reqwest::Client,
    url: &str,
) -> anyhow::Result<(Vec<u8>, Option<jiff::Timestamp>)> {
    let response = client.get(url).send().await.map_err(|error| {
        let hint = if error.is_connect() || error.is_timeout() {
            " — the machine looks offline or the host is unreachable; on air-gapped sites copy \
             the files over and use `patchwarden feeds import PATH…`, or point the sync at a \
             mirror with --osv-url/--kev-url/--epss-url/--debian-tracker-url"
        } else {
            ""
        };
        anyhow::anyhow!("cannot download {url}: {}{hint}", error_chain(&error))
    })?;
    let status = response.status();
    if !status.is_success() {
        bail!("cannot download {url}: the server answered {status}");
    }
    let last_modified = response
        .headers()
        .get(reqwest::header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(http_date);
    let bytes = response
        .bytes()
        .await
        .with_context(|| format!("download of {url} was interrupted"))?;
    Ok((bytes.to_vec(), last_modified))
}

/// An HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`, RFC 9110's IMF-fixdate, an RFC 2822 form).
fn http_date(text: &str) -> Option<jiff::Timestamp> {
    jiff::fmt::rfc2822::parse(text)
        .ok()
        .map(|zoned| zoned.timestamp())
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_http_dates() {
        assert_eq!(
            http_date("Wed, 21 Oct 2015 07:28:00 GMT").map(|t| t.to_string()),
            Some("2015-10-21T07:28:00Z".to_owned())
        );
        assert_eq!(http_date("yesterday"), None);
    }

    #[test]
    fn the_tracker_url_is_read_as_the_tracker_and_an_empty_one_is_skipped() {
        let mut sources = SyncSources::default();
        let urls = sources.urls();
        assert_eq!(
            urls.last(),
            Some(&(DEFAULT_DEBIAN_TRACKER_URL, Some(Kind::DebianTracker)))
        );
        sources.debian_tracker = Some(String::new());
        assert!(sources.urls().iter().all(|(_, kind)| kind.is_none()));
    }
}
