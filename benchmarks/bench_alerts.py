"""Alerts benchmark: how soon after the first spam line `relaywatch ingest --alerts` says it.

    python benchmarks/bench_alerts.py --seed 11 --scale 3
    python benchmarks/bench_alerts.py --logs sample_logs   # the bundled sample

Generates the sample generator's Postfix logs (``--seed``, ``--scale``; or takes a folder
laid out like ``sample_logs/``), then replays them as a mail server writes them: every
10 minutes of log time the new lines are appended to one ``mail.log`` and ``relaywatch ingest
--alerts`` runs, as the 10-minute timer does. Alerts go to a webhook on loopback. It prints
each message with its slice, and for each volume alert the first spam session of its account
(from the generator's truth file: the first session, in the day before the alert, sending to
more recipients than the account's usual hour the alert names) and the time from it to the
alert; then the time per slice and the job's peak RSS.
"""

from __future__ import annotations

import argparse
import gzip
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
ROTATED = ("mail.log.3.gz", "mail.log.2.gz", "mail.log.1", "mail.log")  # oldest first
SLICE = pd.Timedelta(minutes=10)
TZ = "America/New_York"  # the generator's zone


def log_lines(folder: Path) -> tuple[list[bytes], pd.Series]:
    """The Postfix lines oldest first, and each line's local time (RFC 3339 or classic)."""
    lines: list[bytes] = []
    for name in ROTATED:
        path = folder / "postfix" / name
        if path.exists():
            data = path.read_bytes()
            lines += (gzip.decompress(data) if name.endswith(".gz") else data).splitlines(True)

    def when(line: bytes) -> str:
        text = line[:32].decode("ascii", "replace")
        if text[:1].isdigit():
            return text[:10] + " " + text[11:19]
        return f"{YEAR} " + " ".join(text[:15].split())

    stamps = pd.to_datetime(pd.Series([when(x) for x in lines]), format="mixed", errors="coerce")
    return lines, stamps.ffill()


YEAR = 2003  # the generator's year


def config_text(folder: Path, hook: str) -> str:
    return f"""
logs = ["mail.log"]
customers = "{folder}/customers.csv"
asn_db = "{folder}/ipasn.dat"
as_names = "{folder}/asnames.json"
store = "store"
year = {YEAR}
timezone = "{TZ}"
enforcement_date = "2003-11-21"
local_domains = ["provider.example"]

[servers.mail1]
outbound_ip = "192.0.2.10"

[servers.mail2]
outbound_ip = "192.0.2.11"

[alerts]
webhook = "{hook}"
"""


def webhook() -> tuple[str, list[dict]]:
    received: list[dict] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/hook", received


def run_job(command: list[str], cwd: Path, env: dict) -> tuple[int, str, float]:
    """Run ``command``: its exit status, its stderr and its peak RSS in MiB (``wait4``)."""
    with tempfile.TemporaryFile() as errors:
        job = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(job.pid, 0)
        job.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        return job.returncode, errors.read().decode("utf-8", "replace"), usage.ru_maxrss / 1024


def first_spam(truth: pd.DataFrame, account: str, at: pd.Timestamp, usual: int):
    """The account's first session in the day before ``at`` above its usual hour."""
    mine = truth[
        (truth["sasl_username"] == account).to_numpy()
        & (truth["start"] > at - pd.Timedelta(days=1)).to_numpy()
        & (truth["start"] <= at).to_numpy()
        & (truth["recipients"] > usual).to_numpy()
    ]
    return None if mine.empty else mine["start"].min()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logs", type=Path, help="a folder laid out like sample_logs/")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--scale", type=float, default=3)
    parser.add_argument("--since", default="2003-11-25 12:00", help="first slice (local)")
    parser.add_argument("--until", default="2003-11-27 12:00", help="last slice (local)")
    parser.add_argument("--keep", type=Path, help="work folder, kept")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-alerts-"))
    work.mkdir(parents=True, exist_ok=True)
    folder = args.logs.resolve() if args.logs else work / "logs"
    if not args.logs:
        print(f"generating the logs (seed {args.seed}, scale {args.scale}) ...", flush=True)
        generator = [sys.executable, str(ROOT / "sample_logs" / "generate.py"), "--out"]
        generator += [str(folder), "--seed", str(args.seed), "--scale", str(args.scale)]
        subprocess.run([*generator, "--postfix-only"], check=True, capture_output=True)
    hook, received = webhook()
    replay = work / "replay"
    shutil.rmtree(replay, ignore_errors=True)  # a fresh server: no log, no store yet
    replay.mkdir()
    (replay / "relaywatch.toml").write_text(config_text(folder, hook), encoding="utf-8")
    lines, stamps = log_lines(folder)
    env = {**os.environ, "RELAYWATCH_CONFIG": str(replay / "relaywatch.toml")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "analyzer", "ingest", "--alerts"]  # no [dnsbl] zones
    done, took, peak = 0, [], 0.0
    for cut in pd.date_range(args.since, args.until, freq=SLICE):
        upto = int((stamps < cut).sum())
        with (replay / "mail.log").open("ab") as out:
            out.writelines(lines[done:upto])
        done, before, start = upto, len(received), time.monotonic()
        status, errors, rss = run_job(command, replay, env)
        took.append(time.monotonic() - start)
        peak = max(peak, rss)
        if status:
            sys.exit(f"ingest --alerts failed at {cut}: {errors}")
        for post in received[before:]:
            alert = post["alert"]
            print(f"{cut:%Y-%m-%d %H:%M} slice: {alert['kind']}: {alert['summary']}", flush=True)
    truth = pd.read_csv(folder / "truth" / "postfix_sessions.csv")
    truth["start"] = pd.to_datetime(truth["start"], utc=True, format="ISO8601")
    print("\nfrom the first spam session to the alert (log time):")
    for post in received:
        alert = post["alert"]
        if alert["rule"] != "volume" or alert["kind"] != "alert":
            continue
        at = pd.Timestamp(alert["at"])
        usual = int(
            re.search(r"busiest hour before: ([\d,]+)", alert["summary"])[1].replace(",", "")
        )
        first = first_spam(truth, alert["subject"], at, usual)
        if first is not None:
            local = first.tz_convert(TZ)
            print(f"  {alert['subject']}: first spam session {local:%Y-%m-%d %H:%M:%S}, alert "
                  f"at {at:%Y-%m-%d %H:%M:%S}: {(at - local).floor('s')}")  # fmt: skip
    print(
        f"\n{len(took)} slices of 10 minutes: `ingest --alerts` {sum(took) / len(took):.2f} s on "
        f"average, at most {max(took):.2f} s; peak RSS {peak:.0f} MiB; {len(received)} messages"
    )
    print(f"work folder: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
