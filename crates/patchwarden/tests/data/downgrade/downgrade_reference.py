#!/usr/bin/python3
"""Independent reference for `patchwarden downgrade check` (crates/patchwarden/tests/downgrade_reference.rs).

Written from docs/downgrade.md and the OSV specification, without looking at the Rust code; the
only version comparison is Debian's own, python3-apt's apt_pkg.version_compare (libapt-pkg).

    downgrade_reference.py FEED.jsonl.gz VERSIONS.tsv.gz ROUNDS SEED

FEED: OSV records (one JSON object per line, gzip). VERSIONS: changelog entry versions, one row
`binary source version distribution date` per entry (gzip, a header line). Prints one JSON object:

    {"rounds": [{"status": TEXT, "targets": ["bin=ver", ...],
                 "expected": [{"binary", "package", "package_version", "ids", "fixed"}, ...]}],
     "not_lower": {"status": TEXT, "targets": [...]}}

Each round is one host (a dpkg status file, one stanza per binary) and one downgrade target per
binary, both real versions of the binary's changelog history: installed = a version above the
lowest, target = a lower one, chosen with random.Random(SEED, round). Every fourth binary or so is
written as a binNMU (installed `V+b1` built from source `V`, target `T+b3`): its source version at
the target is `T` (the `+bN` suffix is dropped). `expected` lists, per (binary, vulnerability),
the advisories affecting the source package at the target's source version none of which affects
it at the installed source version. Records naming the same CVE for one package are one
vulnerability; `fixed` is the highest of their fixes (None when one has none).

`not_lower` is one more host whose targets are equal to or higher than the installed versions:
every one of them must be refused as not a downgrade.
"""
import functools
import gzip
import json
import random
import re
import sys

import apt_pkg

apt_pkg.init_system()


def cmp(a, b):
    c = apt_pkg.version_compare(a, b)
    return (c > 0) - (c < 0)


def event(e):
    return next(iter(e.items()))


def sorted_events(events):
    order = {"introduced": 0, "last_affected": 1, "fixed": 2, "limit": 3}

    def key_cmp(x, y):
        (kx, vx), (ky, vy) = event(x), event(y)
        zx, zy = kx == "introduced" and vx == "0", ky == "introduced" and vy == "0"
        if zx or zy:
            c = zy - zx
        else:
            c = cmp(vx, vy)
        return c if c else order[kx] - order[ky]

    return sorted(events, key=functools.cmp_to_key(key_cmp))


def affected_in_range(version, events):
    """(affected, fix) of one ECOSYSTEM range: walk the sorted events."""
    events = [e for e in sorted_events(events) if "limit" not in e]
    state, at = False, None
    for i, e in enumerate(events):
        kind, value = event(e)
        if kind == "introduced" and (value == "0" or cmp(version, value) >= 0):
            state, at = True, i
        elif kind == "fixed" and cmp(version, value) >= 0:
            state, at = False, i
        elif kind == "last_affected" and cmp(version, value) > 0:
            state, at = False, i
    if not state:
        return False, None
    for e in events[at + 1:]:
        kind, value = event(e)
        if kind == "fixed":
            return True, value
        if kind == "last_affected":
            return True, None
    return True, None


def highest(a, b):
    if a is None or b is None:
        return None
    return a if cmp(a, b) >= 0 else b


def affected(entry, version):
    """(affected, fix) of one affected entry at `version`."""
    hit, fix = False, None
    for rng in entry.get("ranges", []):
        if rng.get("type") != "ECOSYSTEM":
            continue
        ok, f = affected_in_range(version, rng["events"])
        if ok:
            fix = f if not hit else highest(fix, f)
            hit = True
    if not hit and any(cmp(v, version) == 0 for v in entry.get("versions", [])):
        return True, None
    return hit, fix


def load_feed(path):
    by_source = {}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            if record.get("withdrawn"):
                continue
            for entry in record["affected"]:
                if entry["package"]["ecosystem"] == "Debian:12":
                    by_source.setdefault(entry["package"]["name"], []).append((record, entry))
    return by_source


def vulnerabilities(by_source, source, version):
    """{vulnerability key: (ids, fix)} affecting `source` at `version`."""
    out = {}
    for record, entry in by_source.get(source, []):
        hit, fix = affected(entry, version)
        if not hit:
            continue
        cves = sorted({a for a in record.get("aliases", []) if a.startswith("CVE-")})
        key = cves[0] if len(cves) == 1 else record["id"]
        if key in out:
            ids, old = out[key]
            out[key] = (ids | {record["id"]}, highest(old, fix))
        else:
            out[key] = ({record["id"]}, fix)
    return out


def histories(path):
    """(binary, source) -> its distinct versions, ascending."""
    seen = {}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        next(f)
        for line in f:
            binary, source, version = line.rstrip("\n").split("\t")[:3]
            seen.setdefault((binary, source), []).append(version)
    out = {}
    for key, versions in seen.items():
        distinct = []
        for v in sorted(versions, key=functools.cmp_to_key(cmp)):
            if not distinct or cmp(distinct[-1], v) != 0:
                distinct.append(v)
        if len(distinct) >= 2:
            out[key] = distinct
    return out


def strip_binnmu(version):
    return re.sub(r"(?<=.)\+b[0-9]+$", "", version)


def stanza(binary, version, source, source_version):
    text = f"Package: {binary}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\n"
    if source != binary or source_version != version:
        text += f"Source: {source}" + (f" ({source_version})" if source_version != version else "") + "\n"
    return text


def one_per_binary(pairs, round_no):
    """One (binary, source) per binary: a binary built from several sources takes turns."""
    by_binary = {}
    for binary, source in sorted(pairs):
        by_binary.setdefault(binary, []).append(source)
    return [(b, s[round_no % len(s)]) for b, s in sorted(by_binary.items())]


def downgrade_round(by_source, history, rng, round_no):
    stanzas, targets, expected = [], [], []
    for binary, source in one_per_binary(history, round_no):
        versions = history[(binary, source)]
        i = rng.randrange(1, len(versions))
        j = rng.randrange(0, i)
        installed_source, target_source = versions[i], versions[j]
        installed, target = installed_source, target_source
        if rng.random() < 0.25:
            installed, target = installed_source + "+b1", target_source + "+b3"
        assert strip_binnmu(target) == target_source and cmp(target, installed) < 0
        stanzas.append(stanza(binary, installed, source, installed_source))
        targets.append(f"{binary}={target}")
        now = vulnerabilities(by_source, source, installed_source)
        then = vulnerabilities(by_source, source, strip_binnmu(target))
        for key, (ids, fix) in sorted(then.items()):
            if key in now and now[key][0] & ids:
                continue
            expected.append({
                "binary": binary,
                "package": source,
                "package_version": target_source,
                "ids": sorted(ids),
                "fixed": fix,
            })
    return {"status": "\n".join(stanzas), "targets": targets, "expected": expected}


def not_lower_round(history, rng):
    stanzas, targets = [], []
    for binary, source in one_per_binary(history, 0):
        if rng.random() >= 0.3:
            continue
        versions = history[(binary, source)]
        i = rng.randrange(0, len(versions) - 1)
        j = rng.randrange(i, len(versions))
        assert cmp(versions[j], versions[i]) >= 0
        stanzas.append(stanza(binary, versions[i], source, versions[i]))
        targets.append(f"{binary}={versions[j]}")
    return {"status": "\n".join(stanzas), "targets": targets}


def main():
    feed, versions, rounds, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    by_source = load_feed(feed)
    history = histories(versions)
    out = {
        "rounds": [
            downgrade_round(by_source, history, random.Random(seed * 1000 + r), r)
            for r in range(rounds)
        ],
        "not_lower": not_lower_round(history, random.Random(seed * 1000 + 999)),
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
