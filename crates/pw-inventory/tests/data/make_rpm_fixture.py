#!/usr/bin/env python3
"""Builds a realistic AlmaLinux 9 `rpm -qa` fixture from osv-almalinux.jsonl.gz.

Usage: python3 make_rpm_fixture.py ../../../../../shared/data/osv-almalinux.jsonl.gz
Writes rpm-qa-almalinux9.tsv (patchwarden's query format) and rpm-qa-almalinux9-plain.txt
(plain `rpm -qa` NEVRA lines, which carry no epoch) into the current directory.

For every binary package name of the AlmaLinux:9 ecosystem, the `fixed` version (not a module
build) of its first appearance in advisory-id order is taken as the "installed" version. Names are sampled
deterministically (sha1 of the name) plus a fixed list of base packages. Architectures are
not in OSV: `noarch` for names that are noarch on AlmaLinux (a short list), `x86_64` otherwise.
"""
import gzip, hashlib, json, sys

BASE = ["bash", "glibc", "openssl-libs", "openssh-server", "sudo", "kernel-core", "systemd",
        "curl", "libcurl", "tzdata", "python3", "python3-libs", "vim-minimal", "xz-libs",
        "rsync", "expat", "libxml2", "krb5-libs", "sqlite-libs", "zlib"]
NOARCH = {"tzdata", "python3-setuptools", "python3-pip", "ca-certificates", "linux-firmware",
          "kernel-doc", "python-unversioned-command", "tzdata-java", "publicsuffix-list-dafsa"}

first = {}
with gzip.open(sys.argv[1], "rt") as f:
    for line in f:
        record = json.loads(line)
        for affected in record.get("affected", []):
            if affected["package"]["ecosystem"] != "AlmaLinux:9":
                continue
            name = affected["package"]["name"]
            for r in affected.get("ranges", []):
                for event in r["events"]:
                    fixed = event.get("fixed")
                    if fixed and "module" not in fixed and name not in first:
                        first[name] = fixed

names = sorted(n for n in first
               if n in BASE or int(hashlib.sha1(n.encode()).hexdigest(), 16) % 8 == 0)
with open("rpm-qa-almalinux9.tsv", "w") as tsv, open("rpm-qa-almalinux9-plain.txt", "w") as plain:
    for name in names:
        evr = first[name]
        epoch, _, vr = evr.rpartition(":")
        version, _, release = vr.rpartition("-")
        arch = "noarch" if name in NOARCH else "x86_64"
        tsv.write(f"{name}\t{epoch or '(none)'}\t{version}\t{release}\t{arch}\n")
        plain.write(f"{name}-{version}-{release}.{arch}\n")
    tsv.write("gpg-pubkey\t(none)\tb86b3716\t61e69f29\t(none)\n")
    plain.write("gpg-pubkey-b86b3716-61e69f29\n")
