//! The test bed as tests use it: [`Testbed`] (image + repository, prepared once per process) and
//! [`Fleet`] (N hosts on a fresh network with the repository configured and `apt-get update`
//! done). Dropping a fleet removes its containers, then its network.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::docker::{Host, Init, Mount, Network, sweep_leftovers};
use crate::image::{Image, ImageVariant, ensure_image};
use crate::repo::{SOURCES_PATH, Suite, TestRepo, ensure_repo};
use crate::testbed_dir;

/// The built image and repository, with how long preparing them took.
#[derive(Debug)]
pub struct Testbed {
    pub dir: PathBuf,
    pub image: Image,
    pub repo: TestRepo,
    /// Time spent in [`Testbed::prepare`] (building or finding the image and repo).
    pub prepared_in: Duration,
}

impl Testbed {
    /// Builds (or finds in the cache) the base image and the repository, and sweeps leftovers
    /// of killed runs. Fails with a clear message when docker or mmdebstrap is missing.
    pub fn prepare() -> anyhow::Result<Testbed> {
        Testbed::prepare_variant(ImageVariant::Base)
    }

    /// [`Testbed::prepare`] with the image of `variant`.
    pub fn prepare_variant(variant: ImageVariant) -> anyhow::Result<Testbed> {
        let started = Instant::now();
        let dir = testbed_dir();
        let image = ensure_image(&dir, variant)
            .with_context(|| format!("preparing the test bed image ({variant:?})"))?;
        let repo = ensure_repo(&dir).context("preparing the test bed apt repository")?;
        let (containers, networks) = sweep_leftovers()?;
        if containers + networks > 0 {
            eprintln!(
                "[pw-testbed] removed {containers} container(s) and {networks} network(s) left by killed runs"
            );
        }
        Ok(Testbed {
            dir,
            image,
            repo,
            prepared_in: started.elapsed(),
        })
    }

    /// One [`Testbed`] per process, prepared by the first caller (other threads wait). Panics
    /// with the reason when it cannot be prepared: end-to-end tests fail, never skip.
    pub fn shared() -> &'static Testbed {
        static SHARED: OnceLock<Result<Testbed, String>> = OnceLock::new();
        match SHARED.get_or_init(|| Testbed::prepare().map_err(|e| format!("{e:#}"))) {
            Ok(testbed) => testbed,
            Err(error) => panic!("the end-to-end test bed is not available: {error}"),
        }
    }

    /// `count` hosts on a new network, with the repository's `suites` as their only apt source
    /// and fresh package lists.
    pub fn fleet(&self, count: usize, suites: &[Suite]) -> anyhow::Result<Fleet> {
        self.fleet_with_mounts(count, suites, &[])
    }

    /// [`Testbed::fleet`] with extra read-only bind mounts in every host (the agent binary).
    pub fn fleet_with_mounts(
        &self,
        count: usize,
        suites: &[Suite],
        mounts: &[Mount],
    ) -> anyhow::Result<Fleet> {
        self.fleet_with_init(count, suites, mounts, Init::Tini)
    }

    /// [`Testbed::fleet_with_mounts`] with `init` as every host's PID 1 ([`Init::Systemd`]: a
    /// test bed prepared with [`ImageVariant::Systemd`](crate::ImageVariant::Systemd)).
    pub fn fleet_with_init(
        &self,
        count: usize,
        suites: &[Suite],
        mounts: &[Mount],
        init: Init,
    ) -> anyhow::Result<Fleet> {
        let network = Network::create()?;
        let sources = TestRepo::sources(suites);
        let results: Vec<anyhow::Result<Host>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..count)
                .map(|_| {
                    let network = &network;
                    let sources = &sources;
                    scope.spawn(move || self.start_host(network, sources, mounts, init))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("host setup panicked")))
                })
                .collect()
        });
        let mut hosts = Vec::with_capacity(count);
        let mut first_error = None;
        for result in results {
            match result {
                Ok(host) => hosts.push(host),
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        let fleet = Fleet { hosts, network };
        match first_error {
            // Dropping `fleet` removes the hosts that did start, then the network.
            Some(error) => Err(error.context("starting the fleet")),
            None => Ok(fleet),
        }
    }

    fn start_host(
        &self,
        network: &Network,
        sources: &str,
        mounts: &[Mount],
        init: Init,
    ) -> anyhow::Result<Host> {
        let host = Host::start_with(&self.image, network, &self.repo.root, mounts, init)?;
        host.write_file(SOURCES_PATH, sources.as_bytes())?;
        pw_host::apt::update(host.runner())
            .with_context(|| format!("apt-get update in {}", host.name))?;
        Ok(host)
    }
}

/// Host containers on their own network.
#[derive(Debug)]
pub struct Fleet {
    /// Declared before `network`: fields drop in order, and a network with containers attached
    /// cannot be removed.
    pub hosts: Vec<Host>,
    pub network: Network,
}

impl Fleet {
    /// Runs `work` on every host at once and returns the results in host order.
    pub fn each<T: Send>(
        &self,
        work: impl Fn(&Host) -> anyhow::Result<T> + Sync,
    ) -> Vec<anyhow::Result<T>> {
        std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .hosts
                .iter()
                .map(|host| {
                    let work = &work;
                    scope.spawn(move || work(host))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("host work panicked")))
                })
                .collect()
        })
    }
}
