//! `feeds sync`: download the public OSV, KEV and EPSS files (or configured mirrors) and hand
//! them to the same import path as `feeds import`.

use std::time::Duration;

use anyhow::{Context, bail};

use crate::Progress;
use crate::source::{Input, unpack};

/// Where `feeds sync` downloads from. Every URL can be replaced (mirrors, air-gap proxies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSources {
    /// OSV exports: `all.zip` per ecosystem, or any gzip/JSON/JSONL file of OSV records.
    pub osv: Vec<String>,
    /// The CISA KEV catalog (JSON).
    pub kev: Option<String>,
    /// The daily EPSS CSV (gzip or plain).
    pub epss: Option<String>,
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
/// FIRST's daily EPSS scores.
pub const DEFAULT_EPSS_URL: &str = "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz";

impl Default for SyncSources {
    fn default() -> Self {
        SyncSources {
            osv: DEFAULT_OSV_URLS.iter().map(|u| u.to_string()).collect(),
            kev: Some(DEFAULT_KEV_URL.into()),
            epss: Some(DEFAULT_EPSS_URL.into()),
        }
    }
}

impl SyncSources {
    fn urls(&self) -> Vec<&str> {
        let mut urls: Vec<&str> = self.osv.iter().map(String::as_str).collect();
        urls.extend(self.kev.as_deref());
        urls.extend(self.epss.as_deref());
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
    for url in urls {
        let bytes = fetch(&client, url).await?;
        unpack(url.to_owned(), bytes, &mut inputs)?;
        progress.advance(1);
    }
    progress.finish();
    Ok(inputs)
}

async fn fetch(client: &reqwest::Client, url: &str) -> anyhow::Result<Vec<u8>> {
    let response = client.get(url).send().await.map_err(|error| {
        let hint = if error.is_connect() || error.is_timeout() {
            " — the machine looks offline or the host is unreachable; on air-gapped sites copy \
             the files over and use `patchwarden feeds import PATH…`, or point the sync at a \
             mirror with --osv-url/--kev-url/--epss-url"
        } else {
            ""
        };
        anyhow::anyhow!("cannot download {url}: {}{hint}", error_chain(&error))
    })?;
    let status = response.status();
    if !status.is_success() {
        bail!("cannot download {url}: the server answered {status}");
    }
    let bytes = response
        .bytes()
        .await
        .with_context(|| format!("download of {url} was interrupted"))?;
    Ok(bytes.to_vec())
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
