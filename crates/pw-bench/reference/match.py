#!/usr/bin/python3
"""Reference scan for the fleet benchmark: the same matching done with python3-apt.

Reads the hosts written by `fleet-bench --write-hosts DIR`, parses each dpkg status file,
matches installed packages (by source package and source version) against the Debian:12 OSV
records with apt_pkg.version_compare, and prints the number of matches and the time per host, split
into parsing the status text and matching (reading the files is not timed, as in fleet-bench).
Semantics are the subset the data needs: ECOSYSTEM ranges with introduced/fixed/last_affected
events and explicit versions lists; withdrawn records skipped.

usage: /usr/bin/python3 match.py HOSTS_DIR OSV_JSONL_GZ
"""
import gzip
import json
import os
import sys
import time

import apt_pkg

apt_pkg.init_system()
cmp = apt_pkg.version_compare


def load_advisories(path):
    by_package = {}
    with gzip.open(path, "rt") as f:
        for line in f:
            record = json.loads(line)
            if record.get("withdrawn"):
                continue
            for affected in record.get("affected", []):
                package = affected.get("package", {})
                if package.get("ecosystem") != "Debian:12":
                    continue
                by_package.setdefault(package["name"], []).append((record["id"], affected))
    return by_package


def is_affected(version, affected):
    if version in affected.get("versions", []):
        return True
    for r in affected.get("ranges", []):
        if r.get("type") != "ECOSYSTEM":
            continue
        events = []
        for e in r.get("events", []):
            for kind in ("introduced", "fixed", "last_affected"):
                if kind in e:
                    events.append((kind, e[kind]))
        state = False
        for kind, v in sorted(events, key=_event_key):
            if kind == "introduced" and (v == "0" or cmp(version, v) >= 0):
                state = True
            elif kind == "fixed" and cmp(version, v) >= 0:
                state = False
            elif kind == "last_affected" and cmp(version, v) > 0:
                state = False
        if state:
            return True
    return False


class _Key:
    def __init__(self, event):
        self.kind, self.v = event

    def __lt__(self, other):
        if self.v == "0" and self.kind == "introduced":
            return not (other.v == "0" and other.kind == "introduced")
        if other.v == "0" and other.kind == "introduced":
            return False
        c = cmp(self.v, other.v)
        if c != 0:
            return c < 0
        order = {"introduced": 0, "last_affected": 1, "fixed": 2}
        return order[self.kind] < order[other.kind]


def _event_key(event):
    return _Key(event)


def parse_status(text):
    packages = []
    for stanza in text.split("\n\n"):
        fields = {}
        for line in stanza.split("\n"):
            if line and not line[0].isspace() and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        status = fields.get("Status", "").split()
        if len(status) != 3 or status[2] not in ("installed", "triggers-pending", "triggers-awaited"):
            continue
        name, version = fields.get("Package"), fields.get("Version")
        source, source_version = name, version
        if "Source" in fields:
            parts = fields["Source"].split(" ", 1)
            source = parts[0]
            if len(parts) == 2:
                source_version = parts[1].strip("()")
        packages.append((name, version, source, source_version))
    return packages


def main():
    hosts_dir, osv = sys.argv[1], sys.argv[2]
    advisories = load_advisories(osv)
    files = sorted(os.listdir(hosts_dir))
    matches = 0
    parse_time = match_time = 0.0
    wall, cpu = time.perf_counter(), time.process_time()
    for name in files:
        with open(os.path.join(hosts_dir, name)) as f:
            text = f.read()
        started = time.perf_counter()
        packages = parse_status(text)
        parsed = time.perf_counter()
        for _binary, _version, source, source_version in packages:
            for _id, affected in advisories.get(source, ()):
                if is_affected(source_version, affected):
                    matches += 1
        matched = time.perf_counter()
        parse_time += parsed - started
        match_time += matched - parsed
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    n = len(files)
    print(
        f"hosts: {n}, matches: {matches}, per host: parse {parse_time / n * 1e6:.0f} µs"
        f" + match {match_time / n * 1e6:.0f} µs = {(parse_time + match_time) / n * 1e6:.0f} µs"
    )
    # Far less CPU than wall time means other processes took the CPU: the figures are inflated.
    print(f"host loop: {wall:.2f} s wall, {cpu:.2f} s on CPU")

if __name__ == "__main__":
    main()
