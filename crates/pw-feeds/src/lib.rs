//! Feeds: read OSV, CISA KEV and EPSS documents from files, directories, archives, the embedded
//! snapshot or the network, parse them with pw-advisory, and load them into pw-store.
//!
//! Files are recognised by content, not by name: gzip and zip are unpacked; OSV may be one
//! record, an array or JSON lines; KEV is JSON with `catalogVersion`; EPSS is the daily CSV with or
//! without its `#model_version` comment line.

pub mod backports;
mod base;
mod import;
mod kev_rows;
mod load;
mod parsed;
mod progress;
pub mod snapshot;
mod source;
mod sync;

pub use base::{
    ecosystem_prefixes, load_for_release, load_from_open_store, snapshot_for, snapshot_source,
};
pub use import::{ImportReport, import};
pub use load::load_from_store;
pub use parsed::{Parsed, parse_inputs};
pub use progress::{Progress, Silent};
pub use source::{Input, Kind, MAX_INPUT_BYTES, classify, read_paths, unpack};
pub use sync::{
    DEFAULT_DEBIAN_TRACKER_URL, DEFAULT_EPSS_URL, DEFAULT_KEV_URL, DEFAULT_OSV_URLS, SyncSources,
    download,
};
