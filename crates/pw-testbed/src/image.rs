//! The Docker image of the test hosts: the cached rootfs tarball `docker import`ed into the local
//! engine (no registry exists) as `pw-testbed-debian12:<first 16 hex digits of the tarball's
//! SHA-256>`, with tini as entrypoint and `sleep infinity` as command. [`ImageVariant::Python`]
//! adds python3 and python3-apt (for Ansible's apt module in the peer benchmark) and is tagged
//! `pw-testbed-debian12-python:<hash>`; [`ImageVariant::Systemd`] adds systemd (not running) and
//! adduser for the package test (`pw-testbed-debian12-systemd:<hash>`);
//! [`ImageVariant::Postgres`] adds Debian's `postgresql` (cluster 15/main created, not running)
//! for the PostgreSQL backup provider's tests (`pw-testbed-debian12-postgres:<hash>`); the other
//! end-to-end tests use [`ImageVariant::Base`].

use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use pw_host::{Invocation, LocalRunner, Runner};

use crate::lock::DirLock;
use crate::rootfs::{Rootfs, ensure_rootfs, require_program};

/// Repository part of the image name.
pub const IMAGE_REPOSITORY: &str = "pw-testbed-debian12";
/// Label on the image (and on every container and network of the test bed).
pub const IMAGE_LABEL: &str = "io.patchwarden.testbed.image=1";

/// Which packages the image has beyond the base set (`iproute2 ca-certificates tini busybox procps`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ImageVariant {
    /// apt and dpkg, no python3: what the end-to-end tests run on.
    #[default]
    Base,
    /// Base plus `python3` and `python3-apt`, which Ansible's `apt` module needs on the target.
    Python,
    /// Base plus `systemd` (installed, not running: PID 1 stays tini) for `systemd-analyze
    /// verify` of installed units, and `adduser` for the maintainer scripts of the package test.
    Systemd,
    /// Base plus `postgresql` (Debian 12's PostgreSQL 15; start it with `pg_ctlcluster 15 main
    /// start`) for the PostgreSQL backup provider (docs/protection.md).
    Postgres,
}

impl ImageVariant {
    /// Packages added to the base set.
    pub fn extra_packages(self) -> &'static [&'static str] {
        match self {
            ImageVariant::Base => &[],
            ImageVariant::Python => &["python3", "python3-apt"],
            ImageVariant::Systemd => &["systemd", "adduser"],
            ImageVariant::Postgres => &["postgresql"],
        }
    }

    /// Repository part of the image name.
    pub fn repository(self) -> String {
        match self {
            ImageVariant::Base => IMAGE_REPOSITORY.to_owned(),
            ImageVariant::Python => format!("{IMAGE_REPOSITORY}-python"),
            ImageVariant::Systemd => format!("{IMAGE_REPOSITORY}-systemd"),
            ImageVariant::Postgres => format!("{IMAGE_REPOSITORY}-postgres"),
        }
    }
}

/// A local image ready for `docker run`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// `pw-testbed-debian12:<hash>` (or `pw-testbed-debian12-python:<hash>`).
    pub tag: String,
    pub rootfs: Rootfs,
    /// Whether this call imported it (false: it was already in the engine).
    pub imported: bool,
}

/// The image of `variant` for the current rootfs inputs: builds the rootfs if needed, imports it
/// if the engine does not have it yet. Fails loudly (with how to fix it) when docker or
/// mmdebstrap is missing.
pub fn ensure_image(dir: &Path, variant: ImageVariant) -> anyhow::Result<Image> {
    require_docker()?;
    let rootfs = ensure_rootfs(dir, variant.extra_packages())?;
    let tag = format!("{}:{}", variant.repository(), &rootfs.sha256[..16]);
    if image_exists(&tag)? {
        return Ok(Image {
            tag,
            rootfs,
            imported: false,
        });
    }
    let _lock = DirLock::acquire(&dir.join("image.lock"), Duration::from_secs(600))?;
    if image_exists(&tag)? {
        return Ok(Image {
            tag,
            rootfs,
            imported: false,
        });
    }
    let tar = rootfs.tar.display().to_string();
    let args = [
        "import",
        "--change",
        "ENTRYPOINT [\"/usr/bin/tini\", \"--\"]",
        "--change",
        "CMD [\"sleep\", \"infinity\"]",
        "--change",
        "ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8",
        "--change",
        &format!("LABEL {IMAGE_LABEL}"),
        &tar,
        &tag,
    ];
    let output =
        LocalRunner.run(&Invocation::new("docker", args).timeout(Duration::from_secs(600)))?;
    if !output.success() {
        bail!("docker import {tar} {tag} failed:\n{}", output.tail(20));
    }
    eprintln!(
        "[pw-testbed] imported {tag} in {:.1} s",
        output.elapsed.as_secs_f64()
    );
    Ok(Image {
        tag,
        rootfs,
        imported: true,
    })
}

/// Fails unless the docker CLI is installed and its daemon answers.
pub fn require_docker() -> anyhow::Result<()> {
    require_program("docker", "see docs/testbed.md: install docker.io")?;
    let output = LocalRunner.run(
        &Invocation::new("docker", ["version", "--format", "{{.Server.Version}}"])
            .timeout(Duration::from_secs(30)),
    )?;
    if !output.success() {
        bail!(
            "the Docker daemon is not reachable (`docker version` failed); the end-to-end tests need it:\n{}",
            output.tail(5)
        );
    }
    Ok(())
}

fn image_exists(tag: &str) -> anyhow::Result<bool> {
    let output = LocalRunner.run(
        &Invocation::new("docker", ["image", "inspect", "--format", "{{.Id}}", tag])
            .timeout(Duration::from_secs(60)),
    )?;
    Ok(output.success())
}
