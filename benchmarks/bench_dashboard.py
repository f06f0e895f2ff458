#!/usr/bin/env python3
"""Dashboard benchmark: `relaywatch serve`'s time per page and interaction, and its memory.

Driven by a real headless Chromium (Debian's chromium and chromium-driver, with selenium).

Each store is given by ``--config`` (a relaywatch.toml whose store ``relaywatch ingest`` has
filled; it is ingested again first, as the cron job would, which reads what is new and
judges the accounts again when this relaywatch judges differently from the one that last
did; a config inside this repository, such as the bundled sample, is copied with its folder
into the work folder and ingested there: nothing is written into the repository) or by
``--scale`` (the sample generator's logs at that scale, ingested into the work folder).
Both may be repeated to compare stores in one run.

For each store it starts ``python -m analyzer serve --no-dns`` on a free port, times how long
until ``/`` answers HTTP 200, then visits every page and drives its controls: first load,
downloads (each "Download ..." button, until the file is written), the page's own controls
(customer drill-down, offenders grouping, sorting and paging, sessions search and paging),
and the shared filter bar (start date, a server, a class). For each interaction:

  server ms   the slowest ``_dash-update-component`` request it caused, from the browser's
              resource timing (responseStart - requestStart: the server's work)
  browser ms  from the action until the page is idle again (no request in flight, no
              component loading, for QUIET_S in a row; the quiet time is not counted)
  RSS MB      of the server's process tree right after; its peak is sampled every 50 ms

    python benchmarks/bench_dashboard.py --scale 1
    python benchmarks/bench_dashboard.py --config sample_logs/relaywatch.toml --rounds 2
    python benchmarks/bench_dashboard.py --config /srv/relaywatch.toml --json dash.json

This is a measurement, not a test: nothing asserts on time.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import psutil
from selenium import webdriver
from selenium.common.exceptions import (
    ElementClickInterceptedException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from dashboard import ids  # noqa: E402  (the component ids, as the pages name them)

PAGES = {
    "overview": "/",
    "relays": "/relays",
    "customers": "/customers",
    "offenders": "/offenders",
    "sessions": "/sessions",
    "risk": "/risk",
}
DOWNLOAD_BUTTONS = [value for name, value in vars(ids).items() if name.endswith("_BUTTON")]
POLL_S = 0.05
QUIET_S = 0.5  # ag-grid asks for rows on a timer and Dash chains callbacks: wait this long
NO_REQUEST_S = 1.5  # an action that asks nothing of the server (a page already in the grid)
CLASS_CHOICE = "spam probe"
SEARCH_TEXT = "198.18."  # the customers' office networks: many hits in every column searched

# Runs in every page before its own scripts: counts fetches in flight (Dash's requests) and
# keeps every resource timing entry (the default buffer of 250 fills up on a long page).
COUNT_FETCHES = """
(() => {
    performance.setResourceTimingBufferSize(100000);
    const state = (window.__bench = {inflight: 0, started: 0});
    const fetch = window.fetch;
    window.fetch = function (...args) {
        state.inflight += 1;
        state.started += 1;
        return fetch.apply(this, args).finally(() => { state.inflight -= 1; });
    };
})();
"""
PROBE = """
const state = window.__bench || {inflight: 0, started: 0};
const loading = document.querySelectorAll('[data-dash-is-loading="true"]').length;
const ready = arguments[0] ? document.querySelector(arguments[0]) !== null : true;
return [state.inflight, state.started, loading, ready, document.readyState];
"""
SERVER_TIMES = """
return performance.getEntriesByType('resource')
    .filter(e => e.name.includes('_dash-update-component') && e.requestStart > 0)
    .map(e => e.responseStart - e.requestStart);
"""


class InteractionTimeout(Exception):
    pass


@dataclass
class Interaction:
    round: int
    page: str
    action: str
    status: str = "ok"
    requests: int = 0
    server_ms: float | None = None
    browser_ms: float | None = None
    rss_mb: float | None = None


@dataclass
class StoreResult:
    label: str
    config: str
    ingest_s: float | None = None
    startup_s: float | None = None
    rss_start_mb: float | None = None
    rss_end_mb: float | None = None
    rss_peak_mb: float | None = None
    console_errors: list[str] = field(default_factory=list)
    interactions: list[Interaction] = field(default_factory=list)


def load_generator():
    spec = importlib.util.spec_from_file_location("generate", ROOT / "sample_logs" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ingest(config: Path) -> float:
    """Run ``relaywatch ingest`` into ``config``'s store; its wall seconds."""
    print(f"ingest --config {config} ...", flush=True)
    start = time.perf_counter()
    command = [sys.executable, "-m", "analyzer", "ingest", "--config", str(config)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"ingest failed ({done.returncode}): {' '.join(command)}\n{done.stderr}")
    print(f"  {done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ''}")
    print(f"  ingest took {seconds:.1f} s", flush=True)
    return seconds


def prepare_scale(work: Path, scale: float) -> tuple[Path, float]:
    """Sample logs at ``scale`` with the demo config beside them, ingested."""
    folder = work / f"scale-{scale:g}"
    if not (folder / "postfix" / "mail.log").is_file():  # --keep: reuse generated logs
        print(f"generating sample logs at scale {scale:g} in {folder} ...", flush=True)
        start = time.perf_counter()
        load_generator().generate(folder, seed=2003, scale=scale)
        print(f"  generated in {time.perf_counter() - start:.1f} s", flush=True)
    for name in ("relaywatch.toml", "customers.csv", "ipasn.dat", "asnames.json"):
        shutil.copy2(ROOT / "sample_logs" / name, folder / name)
    config = folder / "relaywatch.toml"
    return config, ingest(config)


def prepare_config(work: Path, config: Path) -> tuple[Path, float | None]:
    """A config outside the repository is ingested where it is (what is new, and the judged
    accounts brought up to date: a store is served between cron ingests); one inside (the
    sample) is copied with its folder and ingested there, so the benchmark never writes into
    the repository."""
    config = config.resolve()
    if not config.is_file():
        sys.exit(f"no such config: {config}")
    if not config.is_relative_to(ROOT):
        store = tomllib.loads(config.read_text(encoding="utf-8")).get("store")
        if not store or not (config.parent / store).exists():
            print(f"warning: {config} has no filled store: serve parses its logs at start")
            return config, None
        return config, ingest(config)
    copy = work / f"copy-{config.parent.name}"
    if not copy.exists():
        shutil.copytree(config.parent, copy, ignore=shutil.ignore_patterns("store", "__pycache__"))
    return copy / config.name, ingest(copy / config.name)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """``relaywatch serve`` as a subprocess, with its process tree's RSS sampled in a thread."""

    def __init__(self, config: Path, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self.peak = 0
        self._stop = threading.Event()
        command = [sys.executable, "-m", "analyzer", "serve", "--config", str(config)]
        command += ["--port", str(self.port), "--no-dns"]
        with open(log, "wb") as output:
            self.process = subprocess.Popen(command, cwd=ROOT, stdout=output, stderr=output)
        self.tree = psutil.Process(self.process.pid)
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def rss(self) -> int:
        """Bytes resident in the server and its children (helpers, if any)."""
        total = 0
        try:
            for member in [self.tree, *self.tree.children(recursive=True)]:
                try:
                    total += member.memory_info().rss
                except psutil.Error:
                    pass  # a child that just ended
        except psutil.Error:
            pass
        return total

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(POLL_S)

    def wait_until_answering(self, timeout: float) -> float:
        """Seconds from start until ``/`` answers 200."""
        start = time.perf_counter()
        while time.perf_counter() - start < timeout:
            self.check_alive()
            try:
                with urllib.request.urlopen(self.url + "/", timeout=5) as response:
                    if response.status == 200:
                        return time.perf_counter() - start
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(POLL_S)
        raise RuntimeError(f"serve did not answer within {timeout:.0f} s\n{self.log_tail()}")

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"serve exited with {self.process.returncode}\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(f"  serve| {line}" for line in text[-lines:])

    def stop(self) -> None:
        self._stop.set()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._sampler.join(2)


def start_browser(downloads: Path, timeout: float) -> webdriver.Chrome:
    chromedriver = shutil.which("chromedriver")
    if chromedriver is None:
        sys.exit("chromedriver not found on PATH (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1400,1000")
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": 0}
    )
    options.set_capability("goog:loggingPrefs", {"browser": "SEVERE"})
    # get() returns at DOMContentLoaded: wait_idle waits for the rest, under its own timeout
    options.page_load_strategy = "eager"
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.set_page_load_timeout(timeout)
    # headless Chromium ignores the download prefs unless told again over CDP
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": COUNT_FETCHES})
    return driver


def short_error(exc: Exception) -> str:
    text = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
    return f"error: {type(exc).__name__}: {text.strip().splitlines()[0][:120]}"


class Tour:
    """Drives one server's pages in one browser and records each interaction."""

    def __init__(self, server: Server, driver, downloads: Path, result: StoreResult, timeout):
        self.server, self.driver, self.downloads = server, driver, downloads
        self.result, self.timeout = result, timeout
        self.round, self.page = 1, ""

    # -- measuring -------------------------------------------------------------------------

    def probe(self, selector: str | None = None) -> tuple[int, int, int, bool]:
        inflight, started, loading, ready, state = self.driver.execute_script(PROBE, selector)
        return inflight, started, loading, bool(ready) and state == "complete"

    def wait_idle(self, start: float, started_before: int, ready=None) -> float:
        """Seconds from ``start`` until the page went idle and stayed so for QUIET_S:
        nothing in flight, nothing loading, ``ready()`` true."""
        idle_since, last_started = None, None
        while True:
            selector = ready if isinstance(ready, str) else None
            inflight, started, loading, page_ready = self.probe(selector)
            now = time.perf_counter()  # after the probe: it waits while the page renders
            done = page_ready and (ready() if callable(ready) else True)
            busy = inflight or loading or started != last_started or not done
            last_started = started
            if busy:
                idle_since = None
            elif idle_since is None:
                idle_since = now
            asked = started > started_before
            if idle_since is not None and now - idle_since >= QUIET_S:
                if asked or now - start >= NO_REQUEST_S or callable(ready):
                    return idle_since - start
            if (now if idle_since is None else idle_since) - start > self.timeout:
                raise InteractionTimeout  # (idle in time but still in its quiet wait: fine)
            time.sleep(POLL_S)

    def measure(self, action: str, act, prepare=None, ready=None, navigates=False) -> None:
        """Time ``act(prepare())`` (``prepare`` is not timed: opening a dropdown, finding a
        button) until idle; ``ready``: a selector or test that must also hold."""
        row = Interaction(self.round, self.page, action)
        try:
            target = prepare() if prepare else None
            started_before = 0
            if not navigates:
                self.driver.execute_script("performance.clearResourceTimings()")
                started_before = self.probe()[1]
            start = time.perf_counter()
            act(target)
            row.browser_ms = self.wait_idle(start, started_before, ready) * 1000
        except (InteractionTimeout, TimeoutException):
            row.status = "timeout"
        except Exception as exc:  # a control not found, a page without dates: say so, go on
            row.status = short_error(exc)
        self.server.check_alive()
        try:
            times = self.driver.execute_script(SERVER_TIMES)
            row.requests, row.server_ms = len(times), max(times, default=None)
        except WebDriverException:
            pass
        row.rss_mb = self.server.rss() / 2**20
        self.result.interactions.append(row)
        shown = f"{row.browser_ms:8.0f} ms" if row.status == "ok" else row.status
        print(f"  r{self.round} {self.page:<10} {action:<32} {shown}", flush=True)

    # -- actions ---------------------------------------------------------------------------

    def find(self, selector: str):
        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def click(self, element) -> None:
        try:
            element.click()
        except ElementClickInterceptedException:  # under the sticky filter bar: click anyway
            self.driver.execute_script("arguments[0].click()", element)

    def click_selector(self, action: str, selector: str) -> None:
        self.measure(action, self.click, lambda: self.find(selector))

    def choose_option(self, dropdown_id: str, wanted: str | None):
        """Open a Dash dropdown; its option showing ``wanted`` (None: the first)."""
        self.find(f"#{dropdown_id}").click()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            options = self.driver.find_elements(By.CSS_SELECTOR, "[role=option]")
            for option in options:
                if wanted is None or option.text == wanted:
                    return option
            time.sleep(POLL_S)
        raise WebDriverException(f"no option {wanted!r} in #{dropdown_id}")

    def pick(self, option) -> None:
        self.click(option)
        self.driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)

    def later_start_date(self):
        """The start input and the day halfway through the range it offers."""
        start = self.find(f"#{ids.FILTER_DATES}")
        end = self.find(".dash-datepicker-end-date")
        first = date.fromisoformat(start.get_attribute("value"))
        last = date.fromisoformat(end.get_attribute("value"))
        return start, date.fromordinal((first.toordinal() + last.toordinal()) // 2).isoformat()

    def type_date(self, target) -> None:
        element, day = target
        element.click()
        element.send_keys(Keys.CONTROL, "a")  # replace, never clear: an empty start filters
        element.send_keys(day, Keys.ENTER)
        self.driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)

    def downloaded(self) -> bool:
        names = [p.name for p in self.downloads.iterdir()]
        return bool(names) and not any(n.endswith((".crdownload", ".tmp")) for n in names)

    def download(self, button_id: str) -> None:
        def prepare():
            for leftover in self.downloads.iterdir():
                leftover.unlink()
            return self.find(f"#{button_id}")

        action = f"download {button_id.removesuffix('-button')}"
        self.measure(action, self.click, prepare, ready=self.downloaded)

    def grid_pages(self, grid_id: str) -> None:
        """The next page (usually in the block the grid holds) and the last (a new block)."""
        for label in ("Next Page", "Last Page"):
            selector = f"#{grid_id} .ag-paging-button[aria-label='{label}']"
            self.click_selector(label.lower(), selector)

    def sort_by(self, grid_id: str, column: str) -> None:
        selector = f"#{grid_id} .ag-header-cell[col-id={column}] .ag-header-cell-label"
        self.click_selector(f"sort by {column}", selector)

    # -- the tour --------------------------------------------------------------------------

    def visit(self, page: str, path: str) -> None:
        self.page = page
        self.measure(
            "load",
            lambda _: self.driver.get(self.server.url + path),
            ready=f"#{ids.FILTER_DATES}",
            navigates=True,
        )
        for button_id in DOWNLOAD_BUTTONS:
            if self.driver.find_elements(By.ID, button_id):
                self.download(button_id)
        if page == "customers":
            first_customer = f"#{ids.CUSTOMERS_TABLE} .ag-row[row-index='0'] .ag-cell[col-id=name]"
            self.click_selector("click a customer (drill-down)", first_customer)
        elif page == "offenders":
            self.grid_pages(ids.OFFENDERS_TABLE)
            self.sort_by(ids.OFFENDERS_TABLE, "probe_sessions")
            for by in ("network", "asn"):
                self.click_selector(f"group by {by}", f"#{ids.OFFENDERS_BY} input[value={by}]")
        elif page == "sessions":
            self.grid_pages(ids.SESSIONS_TABLE)
            self.sort_by(ids.SESSIONS_TABLE, "client_ip")
            self.measure(
                f"search {SEARCH_TEXT!r}",
                lambda box: box.send_keys(SEARCH_TEXT, Keys.ENTER),
                lambda: self.find(f"#{ids.SESSIONS_SEARCH}"),
            )
        self.measure("filter: later start date", self.type_date, self.later_start_date)
        self.measure(
            "filter: first server",
            self.pick,
            lambda: self.choose_option(ids.FILTER_SERVERS, None),
        )
        self.measure(
            f"filter: class {CLASS_CHOICE}",
            self.pick,
            lambda: self.choose_option(ids.FILTER_CLASSES, CLASS_CHOICE),
        )


def bench_store(label: str, config: Path, ingest_s, work: Path, args) -> StoreResult:
    result = StoreResult(label, str(config), ingest_s=ingest_s)
    downloads = Path(tempfile.mkdtemp(prefix="downloads-", dir=work))
    server = Server(config, work / f"serve-{len(list(work.glob('serve-*.log')))}.log")
    driver = None
    try:
        print(f"serve --config {config} on {server.url} ...", flush=True)
        result.startup_s = server.wait_until_answering(args.start_timeout)
        result.rss_start_mb = server.rss() / 2**20
        print(f"  answers HTTP after {result.startup_s:.2f} s", flush=True)
        driver = start_browser(downloads, args.timeout)
        tour = Tour(server, driver, downloads, result, args.timeout)
        for round_number in range(1, args.rounds + 1):
            tour.round = round_number
            for page, path in PAGES.items():
                try:
                    tour.visit(page, path)
                except WebDriverException as exc:  # the browser is stuck: on to the next page
                    failed = Interaction(round_number, page, "rest of the page", short_error(exc))
                    result.interactions.append(failed)
                    print(f"  r{round_number} {page:<10} {failed.status}", flush=True)
        result.rss_end_mb = server.rss() / 2**20
        try:
            logs = driver.get_log("browser")
            result.console_errors = [entry["message"][:300] for entry in logs]
        except WebDriverException:
            pass
    finally:
        if driver is not None:
            driver.quit()
        server.stop()
        result.rss_peak_mb = server.peak / 2**20
        shutil.rmtree(downloads, ignore_errors=True)
    return result


def number(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def report(result: StoreResult, rounds: int) -> None:
    print(f"\n### {result.label}\n\nconfig: {result.config}")
    if result.ingest_s is not None:
        print(f"ingest took {result.ingest_s:.1f} s")
    print(f"serve answers HTTP after {number(result.startup_s, 2)} s")
    print(
        f"RSS after start {number(result.rss_start_mb)} MB / after everything "
        f"{number(result.rss_end_mb)} MB / peak {number(result.rss_peak_mb)} MB\n"
    )
    print("| interaction | requests | server ms | browser ms | RSS MB after |")
    print("|---|--:|--:|--:|--:|")
    for row in result.interactions:
        name = f"{row.page}: {row.action}"
        if rounds > 1:
            name = f"round {row.round} {name}"
        browser = number(row.browser_ms) if row.status == "ok" else row.status
        server_ms = number(row.server_ms)
        print(f"| {name} | {row.requests} | {server_ms} | {browser} | {number(row.rss_mb)} |")
    if result.console_errors:
        print(f"\nbrowser console errors ({len(result.console_errors)}):")
        for message in result.console_errors[:10]:
            print(f"  {message}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config",
        dest="stores",
        action="append",
        metavar="PATH",
        type=lambda value: ("config", value),
        help="a relaywatch.toml whose store is filled (repeatable; one inside the repository "
        "is copied and ingested in the work folder)",
    )
    parser.add_argument(
        "--scale",
        dest="stores",
        action="append",
        metavar="N",
        type=lambda value: ("scale", float(value)),
        help="generate the sample logs at this scale and ingest them (repeatable)",
    )
    parser.add_argument("--keep", type=Path, metavar="DIR", help="work folder, kept")
    parser.add_argument("--rounds", type=int, default=1, help="tours of every page (default 1)")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds per interaction (default 120)"
    )
    parser.add_argument(
        "--start-timeout", type=float, default=1800.0, help="seconds for serve to answer"
    )
    parser.add_argument("--json", type=Path, help="also write the raw figures to this file")
    args = parser.parse_args()
    if not args.stores:
        parser.error("give at least one --config or --scale")

    work = Path(tempfile.mkdtemp(prefix="relaywatch-dash-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; work folder {work}"
    )
    results = []
    try:
        for kind, value in args.stores:
            if kind == "scale":
                config, ingest_s = prepare_scale(work, value)
                label = f"scale {value:g}"
            else:
                config, ingest_s = prepare_config(work, Path(value))
                label = f"config {value}"
            try:
                results.append(bench_store(label, config, ingest_s, work, args))
            except RuntimeError as exc:  # serve died or never answered: say why, go on
                print(f"{label}: {exc}", file=sys.stderr)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    for result in results:
        report(result, args.rounds)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
        print(f"\nraw figures: {args.json}")
    if len(results) < len(args.stores):
        sys.exit(1)


if __name__ == "__main__":
    main()
