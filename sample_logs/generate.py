#!/usr/bin/env python3
"""Deterministic sample-data generator for relaywatch (standard library only).

The story
---------
provider.example runs two Postfix servers behind one MX and smarthost name:

* mail1 (192.0.2.10, Postfix 3.7): long queue ids, `disconnect from` lines with command
  statistics, failed-AUTH warnings ending in `, sasl_username=...`, local delivery by
  `postfix/virtual`.
* mail2 (192.0.2.11, Postfix 2.11): short hex queue ids, plain `disconnect from`, postscreen
  in front of its port-25 smtpd, local delivery by `postfix/lmtp` (Dovecot).

Both run `postfix/submission/smtpd` on port 587. From Friday 2003-11-21 00:00
America/New_York the provider relays only for SMTP AUTH: customers' office networks
lose relay-by-IP. Four weeks of central-syslog logs are written (Nov 7 06:25 .. Dec 5
06:25, rotated weekly at 06:25): two gzip files with classic stamps, two plain files with
RFC 3339 stamps.

Forty fictional customers follow scenarios (ready_early, always_auth, late_fixer,
never_fixer, mixed_device, inactive_*, cracked_account). Around them: inbound mail, an
AUTH-backend outage, brute force, relay/RBL/dictionary/policy/protocol/scan probes, and a
phished account (sales@bluebird-travel.example, Nov 25 evening, ~36 h) whose spam gets
both outbound IPs blocklisted. truth/ holds the expected classification of every session.

Two Exim servers of an acquired ISP log the same four weeks: mx3 (Exim 4.96, +pid
+smtp_connection and friends, rotated like the Postfix set) and mx4 (Exim 4.97, default log
selectors with log_timezone, one file, enforcement from 2003-11-24). Eight customers also send
through them. Their truth: truth/exim_sessions.csv (mx3 connections), truth/exim_units.csv (mx4
messages and refused-attempt clusters), truth/customers_all.csv (readiness counts with them).

All randomness comes from named streams of --seed, so runs are byte-for-byte repeatable;
--scale multiplies the traffic (not the customers).

This file is the command line and generate(); the code that tells the story and writes the
files is in samplegen/ next to it (its __init__ lists the modules).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# The generator's modules are the package samplegen/ next to this file. Tests and benchmarks load
# this file by its path (importlib, outside any package), so its folder need not be on sys.path:
# add it when missing (`python sample_logs/generate.py` already has it) and import samplegen as
# an ordinary package. That keeps the imports below plain ones that readers and linters follow,
# needs no install and does not depend on the working directory.
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from samplegen.exim import EXIM, ExWorld, exim_assign, exim_write
from samplegen.exim_traffic import (
    exim_customers,
    exim_edges,
    exim_inbound,
    exim_junk,
    exim_local,
    exim_probes,
)
from samplegen.postfix import World, assign_pids, write_logs
from samplegen.postfix_traffic import (
    content_spam,
    cracked_account,
    customer_traffic,
    edge_sessions,
    inbound_traffic,
    junk,
    noise,
    probe_traffic,
)
from samplegen.story import CUSTOMERS, ENFORCE, LOCAL, Customer
from samplegen.truth import SESSION_COLS, UNIT_COLS, exim_truth, truth_rows, write_csv, write_static


def exim_generate(out_dir: Path, w: World, customers) -> tuple:
    """Write the Exim logs and their truth; return (stats, session rows, unit rows)."""
    x = ExWorld(w, customers)
    exim_customers(x)
    exim_inbound(x)
    exim_probes(x)
    exim_edges(x)
    exim_local(x)
    for server in EXIM:
        x.queue_runs(server)
    exim_junk(x)
    exim_assign(x)
    lines = exim_write(x, out_dir)
    sessions, units = exim_truth(x)
    write_csv(
        out_dir / "truth" / "exim_sessions.csv",
        SESSION_COLS + ["period"],
        [[r[k] for k in SESSION_COLS + ["period"]] for r in sessions],
    )
    write_csv(
        out_dir / "truth" / "exim_units.csv", UNIT_COLS, [[r[k] for k in UNIT_COLS] for r in units]
    )
    by_class: dict = {}
    for name, rows in (("mx3", sessions), ("mx4", units)):
        for r in rows:
            key = f"{name} {r.get('kind', 'session')} {r['class']}/{r['reason']}"
            by_class[key] = by_class.get(key, 0) + 1
    stats = {
        "lines": lines,
        "total_lines": sum(lines.values()),
        "mx3_sessions": len(sessions),
        "mx3_cut": sum(r["cut"] for r in sessions),
        "mx4_units": len(units),
        "by_class": dict(sorted(by_class.items())),
    }
    return stats, sessions, units


def generate(out_dir: Path, seed: int = 2003, scale: float = 1.0, postfix_only=False) -> dict:
    """Write every sample file under out_dir; return line and session counts."""
    out_dir, w = Path(out_dir), World(seed, scale)
    rng, nxt = w.rng("customers"), {"198.18": 0xC6120100, "198.19": 0xC6130400}
    w.customers = customers = [Customer(row, rng, nxt) for row in CUSTOMERS]
    w.local_domains = {d for c in customers for d in c.domains} | {LOCAL}
    w.mailboxes = [m for c in customers for m in c.mailboxes]
    w.mailboxes += [f"support@{LOCAL}", f"postmaster@{LOCAL}"]
    customer_traffic(w, customers)
    cracked_account(w)
    inbound_traffic(w)
    probe_traffic(w)
    edge_sessions(w, customers)
    noise(w)
    junk(w)
    content_spam(w)
    assign_pids(w)
    lines = write_logs(w, out_dir, postfix_only)
    rows = truth_rows(w, customers)
    write_csv(
        out_dir / "truth" / "postfix_sessions.csv",
        SESSION_COLS,
        [[r[k] for k in SESSION_COLS] for r in rows],
    )
    counts = {c.cid: [0, 0, 0, 0] for c in customers}  # readiness: outbound and authenticated
    for r in rows:
        if r["customer_id"] and r["reason"] in ("submission", "relay", "relay_denied"):
            k = 0 if r["_ts"] < ENFORCE else 2
            counts[r["customer_id"]][k] += 1
            counts[r["customer_id"]][k + 1] += r["class"] == "authenticated"
    header = [
        "customer_id",
        "outbound_before",
        "authenticated_before",
        "outbound_after",
        "authenticated_after",
        "scenario",
    ]
    write_csv(
        out_dir / "truth" / "customers.csv",
        header,
        [[c.cid, *counts[c.cid], c.scenario] for c in customers],
    )
    write_static(out_dir, customers, postfix_only)
    by_class: dict = {}
    for r in rows:
        key = f"{r['class']}/{r['reason']}"
        by_class[key] = by_class.get(key, 0) + 1
    stats = {
        "lines": lines,
        "total_lines": sum(lines.values()),
        "sessions": len(rows),
        "by_class": dict(sorted(by_class.items())),
        "cut": sum(r["cut"] for r in rows),
        "split_across_files": sum(r["_files"] > 1 for r in rows),
    }
    if postfix_only:
        return stats
    stats["exim"], sessions, units = exim_generate(out_dir, w, customers)
    for r in sessions + units:  # Postfix sessions, mx3 sessions and mx4 units, per-server dates
        if r["customer_id"] and r["reason"] in ("submission", "relay", "relay_denied"):
            k = 0 if r["period"] == "before" else 2
            counts[r["customer_id"]][k] += 1
            counts[r["customer_id"]][k + 1] += r["class"] == "authenticated"
    write_csv(
        out_dir / "truth" / "customers_all.csv",
        header,
        [[c.cid, *counts[c.cid], c.scenario] for c in customers],
    )
    return stats


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="output folder (default: this script's folder, sample_logs/)",
    )
    ap.add_argument("--seed", type=int, default=2003)
    ap.add_argument(
        "--scale", type=float, default=1.0, help="multiply all traffic; 35 gives about 1M log lines"
    )
    ap.add_argument(
        "--postfix-only",
        action="store_true",
        help="only the Postfix logs, without CRON, Dovecot and malformed lines (no Exim servers)",
    )
    a = ap.parse_args()
    print(json.dumps(generate(a.out, a.seed, a.scale, a.postfix_only), indent=2))


if __name__ == "__main__":
    main()
