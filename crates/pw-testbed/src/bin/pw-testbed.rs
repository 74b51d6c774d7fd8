//! `pw-testbed build|sweep|clean`: prepare the end-to-end test bed ahead of the tests (CI warm-up),
//! remove leftovers of killed runs, or delete everything it cached (images and files).

use std::time::Instant;

use anyhow::{Context, bail};
use pw_testbed::docker::{docker, sweep_leftovers};
use pw_testbed::image::IMAGE_LABEL;
use pw_testbed::{ImageVariant, Testbed, testbed_dir};

const USAGE: &str = "usage: pw-testbed build [--python | --systemd | --postgres] | sweep | clean
  build   build (or find cached) the Debian 12 image and the fake apt repository
          (--python: the image variant with python3 and python3-apt, for peer-bench;
          --systemd: the variant with systemd and adduser, for the package test;
          --postgres: the variant with Debian's postgresql, for the backup provider test)
  sweep   remove test bed containers and networks whose test process is gone
  clean   sweep, remove every pw-testbed image and delete the cache directory
cache directory: $PW_TESTBED_DIR or /var/cache/patchwarden-testbed";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["build"] => build(ImageVariant::Base),
        ["build", "--python"] => build(ImageVariant::Python),
        ["build", "--systemd"] => build(ImageVariant::Systemd),
        ["build", "--postgres"] => build(ImageVariant::Postgres),
        ["sweep"] => {
            let (containers, networks) = sweep_leftovers()?;
            println!("removed {containers} container(s) and {networks} network(s)");
            Ok(())
        }
        ["clean"] => clean(),
        ["-h" | "--help" | "help"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => bail!("{USAGE}"),
    }
}

fn build(variant: ImageVariant) -> anyhow::Result<()> {
    let started = Instant::now();
    let testbed = Testbed::prepare_variant(variant)?;
    println!("cache:  {}", testbed.dir.display());
    println!(
        "rootfs: {} ({})",
        testbed.image.rootfs.tar.display(),
        if testbed.image.rootfs.built {
            "built now"
        } else {
            "cached"
        }
    );
    println!(
        "image:  {} ({})",
        testbed.image.tag,
        if testbed.image.imported {
            "imported now"
        } else {
            "cached"
        }
    );
    println!(
        "repo:   {} ({})",
        testbed.repo.root.display(),
        if testbed.repo.built {
            "built now"
        } else {
            "cached"
        }
    );
    println!("ready in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn clean() -> anyhow::Result<()> {
    let (containers, networks) = sweep_leftovers()?;
    println!("removed {containers} container(s) and {networks} network(s) of finished runs");
    // Every variant (base, python) carries the label.
    let images = docker([
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}}",
        "--filter",
        &format!("label={IMAGE_LABEL}"),
    ])?;
    for tag in images.stdout_text().lines().filter(|l| !l.is_empty()) {
        match docker(["rmi", tag]) {
            Ok(_) => println!("removed image {tag}"),
            Err(error) => eprintln!("kept image {tag} (in use?): {error:#}"),
        }
    }
    let dir = testbed_dir();
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        println!("removed {}", dir.display());
    }
    Ok(())
}
