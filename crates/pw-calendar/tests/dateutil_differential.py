#!/usr/bin/env python3
"""Differential check of `patchwarden windows next` against python-dateutil (not run by cargo).

Generates random rules (FREQ DAILY/WEEKLY/MONTHLY/YEARLY with INTERVAL, BYDAY incl. ordinals,
BYSETPOS, BYMONTHDAY incl. negative, BYMONTH, BYHOUR, BYMINUTE, WKST, COUNT, UNTIL) in ten
zones with DST near the start times, computes the expected next 5 distinct UTC instants the way
tests/data/rrule-cases.jsonl was made (aware DTSTART, zoneinfo with fold=0), and compares them with
the binary's output. Needs python-dateutil and the system zoneinfo (or the `tzdata` package).

    python3 crates/pw-calendar/tests/dateutil_differential.py SEED COUNT [PATH-TO-patchwarden]

Mixed plain and ordinal BYDAY (`MO,2TU`) is not generated: dateutil intersects them, RFC 5545 and
pw-calendar take the union. Last run: seeds 1-3, 1,700 cases, 0 differences.
"""

import random
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

BIN = sys.argv[3] if len(sys.argv) > 3 else "target/debug/patchwarden"
ZONES = ["Europe/Berlin","Europe/London","America/New_York","America/Los_Angeles","Australia/Sydney","Asia/Shanghai","Asia/Kolkata","UTC","Australia/Lord_Howe","America/Sao_Paulo"]
DAYS = ["MO","TU","WE","TH","FR","SA","SU"]
rnd = random.Random(int(sys.argv[1]) if len(sys.argv) > 1 else 1)

def gen():
    freq = rnd.choice(["DAILY","WEEKLY","MONTHLY","YEARLY"])
    parts = [f"FREQ={freq}"]
    if rnd.random() < 0.3: parts.append(f"INTERVAL={rnd.randint(2,4)}")
    if freq in ("MONTHLY","YEARLY") and rnd.random() < 0.5:
        if rnd.random() < 0.5:
            parts.append("BYDAY=" + ",".join(f"{rnd.choice([1,2,3,4,-1,-2])}{d}" for d in rnd.sample(DAYS, rnd.randint(1,2))))
        else:
            parts.append("BYDAY=" + ",".join(rnd.sample(DAYS, rnd.randint(1,5))))
            if rnd.random() < 0.6: parts.append(f"BYSETPOS={rnd.choice([1,2,-1,-2,3])}")
    elif freq != "MONTHLY" and freq != "YEARLY" and rnd.random() < 0.6:
        parts.append("BYDAY=" + ",".join(rnd.sample(DAYS, rnd.randint(1,3))))
    if freq in ("MONTHLY","YEARLY","DAILY") and rnd.random() < 0.25:
        parts.append("BYMONTHDAY=" + ",".join(str(x) for x in rnd.sample([1,2,13,15,28,29,30,31,-1,-2,-7], rnd.randint(1,2))))
    if freq in ("YEARLY","DAILY","MONTHLY") and rnd.random() < 0.3:
        parts.append("BYMONTH=" + ",".join(str(x) for x in rnd.sample(range(1,13), rnd.randint(1,3))))
    if rnd.random() < 0.8: parts.append("BYHOUR=" + ",".join(str(x) for x in rnd.sample([0,1,2,3,4,22,23,12], rnd.randint(1,2))))
    if rnd.random() < 0.8: parts.append("BYMINUTE=" + ",".join(str(x) for x in rnd.sample([0,15,30,45,59], rnd.randint(1,2))))
    if freq == "WEEKLY" and rnd.random() < 0.3: parts.append(f"WKST={rnd.choice(DAYS)}")
    r = rnd.random()
    if r < 0.2: parts.append(f"COUNT={rnd.randint(1,30)}")
    elif r < 0.35:
        u = datetime(2025,1,1) + timedelta(hours=rnd.randint(0, 24*700))
        parts.append("UNTIL=" + u.strftime("%Y%m%dT%H%M%SZ"))
    rnd.shuffle(parts)
    return ";".join(parts)

def expected(rule, dtstart, tz, query):
    z = ZoneInfo(tz)
    rr = rrulestr(rule, dtstart=dtstart.replace(tzinfo=z))
    found = set()
    for n, occ in enumerate(rr):
        if n > 20000: break
        u = occ.astimezone(timezone.utc)
        if u >= query: found.add(u)
        if len(found) >= 5 and u > sorted(found)[4] + timedelta(days=3): break
    return [x.strftime("%Y-%m-%dT%H:%M:%SZ") for x in sorted(found)[:5]]

bad = 0
n = int(sys.argv[2]) if len(sys.argv) > 2 else 300
for i in range(n):
    rule = gen()
    tz = rnd.choice(ZONES)
    dtstart = datetime(2024,1,1, rnd.choice([0,1,2,3,22,23]), rnd.choice([0,30,45])) + timedelta(days=rnd.randint(0, 900))
    query = datetime(2024,6,1, tzinfo=timezone.utc) + timedelta(hours=rnd.randint(0, 24*900))
    try:
        exp = expected(rule, dtstart, tz, query)
    except Exception as e:
        continue
    p = subprocess.run([BIN,"windows","next","--rrule",rule,"--dtstart",dtstart.strftime("%Y-%m-%dT%H:%M:%S"),"--tz",tz,"--from",query.strftime("%Y-%m-%dT%H:%M:%SZ"),"--count","5"], capture_output=True, text=True)
    got = p.stdout.split()
    if p.returncode != 0:
        if exp: 
            bad += 1; print("ERR", rule, dtstart, tz, query, p.stderr.strip(), exp)
        continue
    if got != exp:
        bad += 1
        print("DIFF", rule, dtstart, tz, query.isoformat(), "\n  got", got, "\n  exp", exp)
print("cases", n, "bad", bad)
