#!/usr/bin/python3
"""Independent reference for pw-advisory's real-data matching test.

Matches the installed packages of dpkg-status-debian12.txt.gz against the OSV records of
osv-debian12-changelogs.jsonl.gz with the OSV specification's range algorithm and Debian's own
version comparison (python3-apt's apt_pkg.version_compare, i.e. libapt-pkg), and writes one line
per (installed binary package, CVE):

    binary  source  source_version  CVE  advisory_ids(comma)  fixed

Rules (the same as docs/matching.md, written again here without looking at the Rust code):
* only stanzas whose Status is "install ok installed";
* the name matched is the Source: field's name (or the binary name), the version is the version
  in parentheses after Source: (or the binary's Version);
* ecosystem "Debian:12" only; per range, events sorted by version ("0" lowest), walked in order:
  introduced <= v -> affected, fixed <= v -> not, last_affected < v -> not;
* records naming the same CVE for one package are one line; fixed = the highest of their fixes.

With --changelog-versions, every row of debian12-changelog-versions.tsv.gz (10,307 historical
versions) is treated as an installed package (binary, source, version = source version) and one
line per row gives the number of CVEs matched:

    binary  source  version  cves

Run (python3-apt from Debian 12, 2.6.0, was used for the committed files):
    /usr/bin/python3 expected_debian12_matches.py > expected-debian12-matches.tsv
    /usr/bin/python3 expected_debian12_matches.py --changelog-versions | gzip -9 > expected-changelog-version-counts.tsv.gz
"""
import functools
import gzip
import json
import os
import sys

import apt_pkg

apt_pkg.init_system()
HERE = os.path.dirname(os.path.abspath(__file__))


def installed_packages():
    with gzip.open(os.path.join(HERE, "dpkg-status-debian12.txt.gz"), "rt", encoding="utf-8") as f:
        text = f.read()
    for stanza in text.split("\n\n"):
        fields = {}
        for line in stanza.split("\n"):
            if line and not line[0].isspace() and ":" in line:
                key, value = line.split(":", 1)
                fields[key] = value.strip()
        if fields.get("Status") != "install ok installed":
            continue
        binary, version = fields["Package"], fields["Version"]
        source, source_version = binary, version
        if "Source" in fields:
            parts = fields["Source"].split()
            source = parts[0]
            if len(parts) > 1:
                source_version = parts[1].strip("()")
        yield binary, source, source_version


def event_key(event):
    kind, value = next(iter(event.items()))
    return kind, value


def sort_events(events):
    rank = {"introduced": 0, "last_affected": 1, "fixed": 2, "limit": 3}

    def cmp(a, b):
        (ka, va), (kb, vb) = event_key(a), event_key(b)
        za, zb = (ka == "introduced" and va == "0"), (kb == "introduced" and vb == "0")
        if za or zb:
            c = (0 if za else 1) - (0 if zb else 1)
        else:
            c = apt_pkg.version_compare(va, vb)
        if c != 0:
            return -1 if c < 0 else 1
        return rank[ka] - rank[kb]

    return sorted(events, key=functools.cmp_to_key(cmp))


def range_fix(version, events):
    """(affected, fixed) for one range."""
    events = [e for e in sort_events(events) if "limit" not in e]
    affected, last = False, -1
    for i, e in enumerate(events):
        kind, value = event_key(e)
        if kind == "introduced" and (value == "0" or apt_pkg.version_compare(version, value) >= 0):
            affected, last = True, i
        elif kind == "fixed" and apt_pkg.version_compare(version, value) >= 0:
            affected, last = False, i
        elif kind == "last_affected" and apt_pkg.version_compare(version, value) > 0:
            affected, last = False, i
    if not affected:
        return False, None
    for e in events[last + 1:]:
        kind, value = event_key(e)
        if kind == "fixed":
            return True, value
        if kind == "last_affected":
            return True, None
    return True, None


def higher(a, b):
    if a is None or b is None:
        return None
    return a if apt_pkg.version_compare(a, b) >= 0 else b


def changelog_versions():
    with gzip.open(os.path.join(HERE, "debian12-changelog-versions.tsv.gz"), "rt", encoding="utf-8") as f:
        next(f)
        for line in f:
            binary, source, version = line.rstrip("\n").split("\t")[:3]
            yield binary, source, version


def main():
    records = []
    with gzip.open(os.path.join(HERE, "osv-debian12-changelogs.jsonl.gz"), "rt", encoding="utf-8") as f:
        for line in f:
            records.append(json.loads(line))
    by_source = {}
    for r in records:
        if r.get("withdrawn"):
            continue
        for a in r["affected"]:
            if a["package"]["ecosystem"] == "Debian:12":
                by_source.setdefault(a["package"]["name"], []).append((r, a))
    versions_mode = "--changelog-versions" in sys.argv[1:]
    inventory = changelog_versions() if versions_mode else installed_packages()
    out = []
    counts = []
    for binary, source, source_version in inventory:
        per_cve = {}
        for r, a in by_source.get(source, []):
            hit, fix, first = False, None, True
            for rng in a.get("ranges", []):
                if rng.get("type") != "ECOSYSTEM":
                    continue
                ok, f = range_fix(source_version, rng["events"])
                if ok:
                    fix = f if first else higher(fix, f)
                    hit, first = True, False
            if not hit and any(apt_pkg.version_compare(v, source_version) == 0 for v in a.get("versions", [])):
                hit, fix = True, None
            if not hit:
                continue
            cves = sorted(set(x for x in r.get("aliases", []) if x.startswith("CVE-")))
            key = cves[0] if len(cves) == 1 else r["id"]
            ids, old_fix, seen = per_cve.get(key, (set(), None, False))
            per_cve[key] = (ids | {r["id"]}, fix if not seen else higher(old_fix, fix), True)
        counts.append((binary, source, source_version, str(len(per_cve))))
        for cve, (ids, fix, _) in sorted(per_cve.items()):
            out.append((binary, source, source_version, cve, ",".join(sorted(ids)), fix or ""))
    w = sys.stdout
    if versions_mode:
        w.write("binary\tsource\tversion\tcves\n")
        for row in counts:
            w.write("\t".join(row) + "\n")
        return
    out.sort()
    w.write("binary\tsource\tsource_version\tcve\tadvisories\tfixed\n")
    for row in out:
        w.write("\t".join(row) + "\n")


if __name__ == "__main__":
    main()
