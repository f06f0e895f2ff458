#!/usr/bin/env python3
"""A logged-in admin's latency while a flood of bogus basic-auth logins hits the dashboard.

Starts the dashboard of the bundled demo on 127.0.0.1 with one user (a scrypt hash, as
`relaywatch hash-password` makes), in its own process, served like `relaywatch serve`
(Dash's threaded werkzeug server). Then, for each scenario, measures the admin's requests
(GET /, GET /_dash-layout, GET /_dash-dependencies, one callback POST, and a whole page load:
those plus every script and style sheet the page names) with valid credentials:

- ``no auth``: the same dashboard without users (the floor);
- ``auth``: with the user, no flood;
- ``flood 1 address``: while ``--connections`` connections (from 127.0.0.2) send requests
  with wrong credentials in a loop;
- ``flood 1 address, no credentials``: the same without an Authorization header (the
  cheapest refusal there is: what any flood of requests costs the server);
- ``flood N addresses``: the same connections spread over ``--addresses`` loopback
  addresses (127.0.x.y), so a per-address limit lets each of them try a few passwords.

    python benchmarks/bench_login_flood.py --connections 150 --rounds 20

Prints, per scenario, the median and 90th percentile of each request, the flood's requests
per second by HTTP status and the server's peak memory (VmHWM, Linux). This is a
measurement, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import http.client
import json
import multiprocessing
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOGIN, PASSWORD = "admin", "correct horse battery staple"


def basic(login: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


# --- the server ----------------------------------------------------------------------------------


def serve(port: int, with_users: bool) -> None:
    """The dashboard of the demo, as `relaywatch serve` runs it (never returns)."""
    import dataclasses

    from werkzeug.security import generate_password_hash

    from analyzer.settings.config import DEMO_CONFIG, load_settings
    from dashboard.app import create_app

    settings = load_settings(DEMO_CONFIG, environ={})
    users = {LOGIN: generate_password_hash(PASSWORD)} if with_users else {}
    settings = dataclasses.replace(
        settings, dashboard=dataclasses.replace(settings.dashboard, users=users)
    )
    app = create_app(settings, dns=False)
    app.run(host="127.0.0.1", port=port, debug=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(with_users: bool) -> tuple[subprocess.Popen, int]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), *([] if with_users else ["--no-auth"])],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server, port
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the dashboard did not start within 120 s")


def peak_memory_mb(pid: int) -> float:
    """The process's peak resident memory (Linux), MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- the admin -----------------------------------------------------------------------------------


def request(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Authorization": basic(LOGIN, PASSWORD)}
    if body is not None:
        headers["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


CALLBACK = json.dumps(
    {
        "output": "app-filters.data",
        "outputs": {"id": "app-filters", "property": "data"},
        "inputs": [
            {"id": "app-filter-dates", "property": "start_date", "value": None},
            {"id": "app-filter-dates", "property": "end_date", "value": None},
            {"id": "app-filter-servers", "property": "value", "value": []},
            {"id": "app-filter-classes", "property": "value", "value": []},
            {"id": "app-filter-customers", "property": "value", "value": []},
        ],
        "changedPropIds": [],
        "state": [],
    }
).encode()


def page_requests(port: int) -> list[tuple[str, str, bytes | None]]:
    """Every request of a page load: the page, its scripts and styles, layout, callbacks."""
    status, index = request(port, "GET", "/")
    if status != 200:
        raise SystemExit(f"GET / with the admin's credentials answered {status}")
    assets = re.findall(rb'<(?:script|link)[^>]+(?:src|href)="(/[^"]+)"', index)
    return [
        ("GET", "/", None),
        *[("GET", a.decode(), None) for a in assets],
        ("GET", "/_dash-layout", None),
        ("GET", "/_dash-dependencies", None),
        ("POST", "/_dash-update-component", CALLBACK),
    ]


def measure_admin(port: int, rounds: int) -> dict[str, list[float]]:
    """Seconds per request kind (and per whole page load) over ``rounds`` rounds."""
    page = page_requests(port)
    kinds = {
        "GET /": ("GET", "/", None),
        "GET /_dash-layout": ("GET", "/_dash-layout", None),
        "GET /_dash-dependencies": ("GET", "/_dash-dependencies", None),
        "POST callback": ("POST", "/_dash-update-component", CALLBACK),
    }
    times: dict[str, list[float]] = {name: [] for name in [*kinds, f"page ({len(page)} req.)"]}
    for _ in range(rounds):
        for name, (method, path, body) in kinds.items():
            started = time.perf_counter()
            status, _ = request(port, method, path, body)
            times[name].append(time.perf_counter() - started)
            if status != 200:
                raise SystemExit(f"{method} {path} answered {status} to the admin")
        started = time.perf_counter()
        for method, path, body in page:
            request(port, method, path, body)
        times[f"page ({len(page)} req.)"].append(time.perf_counter() - started)
    return times


# --- the flood -----------------------------------------------------------------------------------


async def _flood_connection(
    port: int, source: str, statuses: Counter, stop, credentials: bool
) -> None:
    header = b"Authorization: " + basic(LOGIN, "wrong password").encode() + b"\r\n"
    header = header if credentials else b""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, local_addr=(source, 0)
            )
            writer.write(
                b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + header + b"Connection: close\r\n\r\n"
            )
            await writer.drain()
            status_line = await reader.readline()
            await reader.read()
            writer.close()
            statuses[status_line.split(b" ")[1].decode() if status_line else "none"] += 1
        except (OSError, IndexError):
            statuses["error"] += 1
            await asyncio.sleep(0.05)


def flood(
    port: int, connections: int, addresses: int, stop, result, credentials: bool = True
) -> None:
    """``connections`` connections in a loop until ``stop`` is set; into ``result``: the
    responses by status, and the seconds it ran."""
    statuses: Counter = Counter()
    sources = (
        ["127.0.0.2"]
        if addresses <= 1
        else [f"127.0.{1 + i // 250}.{1 + i % 250}" for i in range(addresses)]
    )
    started = time.monotonic()

    async def run() -> None:
        await asyncio.gather(
            *(
                _flood_connection(port, sources[i % len(sources)], statuses, stop, credentials)
                for i in range(connections)
            )
        )

    asyncio.run(run())
    result.update(statuses)
    result["seconds"] = time.monotonic() - started


# --- the scenarios -------------------------------------------------------------------------------


def scenario(
    name: str, args, with_users: bool, addresses: int = 0, credentials: bool = True
) -> None:
    server, port = start_server(with_users)
    try:
        request(port, "GET", "/")  # the first request builds caches: not measured
        flooder, rate = None, "none"
        if addresses:
            manager = multiprocessing.Manager()
            result, stop = manager.dict(), manager.Event()
            flooder = multiprocessing.Process(
                target=flood,
                args=(port, args.connections, addresses, stop, result, credentials),
            )
            flooder.start()
            time.sleep(args.warmup)  # let the flood build up
        times = measure_admin(port, args.rounds)
        if flooder is not None:
            stop.set()
            flooder.join()
            counts = dict(result)
            seconds = counts.pop("seconds")
            rate = ", ".join(f"{k}: {v / seconds:.0f}/s" for k, v in sorted(counts.items()))
        print(f"\n{name}  (flood: {rate}; server peak RSS {peak_memory_mb(server.pid):.0f} MB)")
        for kind, values in times.items():
            ordered = sorted(values)
            p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
            print(f"  {kind:<26} median {statistics.median(values):7.3f} s   p90 {p90:7.3f} s")
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=150)
    parser.add_argument("--addresses", type=int, default=150, help="for the spread flood")
    parser.add_argument("--rounds", type=int, default=10, help="admin rounds per scenario")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of flood first")
    parser.add_argument(
        "--only",
        choices=["no-auth", "auth", "flood", "spread", "bare"],
        action="append",
        default=[],
    )
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--no-auth", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, not args.no_auth)
        return
    wanted = set(args.only) or {"no-auth", "auth", "flood", "bare", "spread"}
    print(
        f"{os.cpu_count()} CPUs; admin: {args.rounds} rounds; flood: {args.connections} connections"
    )
    if "no-auth" in wanted:
        scenario("no auth", args, with_users=False)
    if "auth" in wanted:
        scenario("auth", args, with_users=True)
    if "flood" in wanted:
        scenario(f"auth, flood of {args.connections} connections from 1 address", args, True, 1)
    if "bare" in wanted:
        scenario(
            f"auth, flood of {args.connections} connections from 1 address, no credentials",
            args,
            True,
            1,
            credentials=False,
        )
    if "spread" in wanted:
        scenario(
            f"auth, flood of {args.connections} connections from {args.addresses} addresses",
            args,
            True,
            args.addresses,
        )


if __name__ == "__main__":
    main()
