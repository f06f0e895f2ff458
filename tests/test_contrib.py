"""contrib/: the systemd units, the sysusers file and the cron.d file run what they claim.

Where systemd's own tools are installed they judge the files (``systemd-analyze verify``,
``calendar``, ``timespan``; ``systemd-sysusers``); the checks that follow from reading the
files run everywhere.
"""

from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analyzer.cli import cli

PROJECT = Path(__file__).resolve().parent.parent
SYSTEMD = PROJECT / "contrib" / "systemd"
CRON_FILE = PROJECT / "contrib" / "cron.d" / "relaywatch"

EXECUTABLE = "/opt/relaywatch/venv/bin/relaywatch"
CONFIG = "/etc/relaywatch/relaywatch.toml"
STATE = "/var/lib/relaywatch"
SERVICES = {
    "relaywatch-ingest.service": ("ingest", "oneshot"),
    "relaywatch-report.service": ("report", "oneshot"),
    "relaywatch-dashboard.service": ("serve", "simple"),
}
TIMERS = {
    "relaywatch-ingest.timer": "relaywatch-ingest.service",
    "relaywatch-report.timer": "relaywatch-report.service",
}
UNITS = sorted([*SERVICES, *TIMERS])

ANALYZE = shutil.which("systemd-analyze")
SYSUSERS = shutil.which("systemd-sysusers")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(SYSTEMD / name, encoding="utf-8")
    return parser


def test_the_shipped_units_are_these_and_the_old_nightly_pair_is_gone():
    shipped = sorted(p.name for p in SYSTEMD.iterdir())
    assert shipped == sorted([*UNITS, "relaywatch.sysusers.conf"])


@pytest.mark.parametrize("name", list(SERVICES))
def test_each_service_runs_its_command_from_the_venv_as_relaywatch(name):
    command, kind = SERVICES[name]
    service = unit(name)["Service"]
    assert service["Type"] == kind
    assert service["ExecStart"].startswith(EXECUTABLE + " ")
    assert shlex.split(service["ExecStart"]) == [EXECUTABLE, command]
    assert command in cli.commands
    assert service["Environment"] == f"RELAYWATCH_CONFIG={CONFIG}"
    assert (service["User"], service["Group"]) == ("relaywatch", "relaywatch")
    assert service["SupplementaryGroups"] == "adm"  # reads /var/log/mail.log on Debian
    assert service["StateDirectory"] == "relaywatch"
    assert service["ProtectSystem"] == "strict"
    assert STATE in service["ReadWritePaths"].split()
    assert service["ProtectHome"] == "yes"


def test_the_report_waits_for_an_ingest_and_may_read_the_smtp_password():
    report = unit("relaywatch-report.service")
    assert "relaywatch-ingest.service" in report["Unit"]["After"].split()
    # `relaywatch report` ingests the new lines itself: no second ingest to start
    assert "relaywatch-ingest.service" not in report["Unit"].get("Wants", "").split()
    assert report["Service"]["EnvironmentFile"] == "-/etc/relaywatch/secrets.env"


def test_the_dashboard_restarts_on_failure_but_not_on_a_config_mistake():
    service = unit("relaywatch-dashboard.service")
    assert service["Service"]["Restart"] == "on-failure"
    assert service["Service"]["RestartPreventExitStatus"] == "2"
    assert service["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.parametrize("name", list(TIMERS))
def test_each_timer_starts_its_own_service(name):
    timer = unit(name)
    assert timer["Timer"]["Unit"] == TIMERS[name] == name.replace(".timer", ".service")
    assert (SYSTEMD / TIMERS[name]).is_file()
    assert timer["Install"]["WantedBy"] == "timers.target"


def timespan_seconds(text: str) -> float:
    if ANALYZE is None:
        number, suffix = re.fullmatch(r"(\d+)\s*(s|sec|min|m|h)?", text.strip()).groups()
        return int(number) * {"min": 60, "m": 60, "h": 3600}.get(suffix or "s", 1)
    done = subprocess.run(
        [ANALYZE, "timespan", text], capture_output=True, text=True, check=True, timeout=60
    )
    return int(re.search(r"μs: (\d+)", done.stdout).group(1)) / 1e6


def test_ingest_runs_every_10_minutes_from_boot_on():
    timer = unit("relaywatch-ingest.timer")["Timer"]
    assert timespan_seconds(timer["OnUnitActiveSec"]) == 600
    assert timespan_seconds(timer["OnBootSec"]) <= 600  # also elapses at once on enable --now


def test_the_report_runs_daily_at_0630_and_catches_up_after_downtime():
    timer = unit("relaywatch-report.timer")["Timer"]
    assert timer["OnCalendar"] == "*-*-* 06:30:00"
    assert timer["Persistent"] == "true"
    if ANALYZE is None:
        return
    done = subprocess.run(
        [ANALYZE, "calendar", "--iterations=3", timer["OnCalendar"]],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "TZ": "UTC"},
    )
    assert "Normalized form: *-*-* 06:30:00" in done.stdout
    elapses = re.findall(r"(?:Next elapse|Iter\. #\d): \w+ (\S+) (\S+)", done.stdout)
    assert [at for _, at in elapses] == ["06:30:00"] * 3
    assert len({day for day, _ in elapses}) == 3


# systemd-analyze verify --------------------------------------------------------------------


def installed_copy(tmp_path: Path) -> Path:
    """The units in tmp_path/units with ExecStart= pointing at tmp_path/opt/relaywatch/venv/
    bin/relaywatch: a link to the relaywatch this test runs with, as the documented install
    would put it. Only that path is changed."""
    script = Path(sys.executable).parent / "relaywatch"
    if not script.exists():
        script = Path(shutil.which("relaywatch") or "relaywatch")
    assert script.is_file() and os.access(script, os.X_OK), "relaywatch is not installed"
    mirror = tmp_path / EXECUTABLE.lstrip("/")
    mirror.parent.mkdir(parents=True)
    mirror.symlink_to(script)
    units = tmp_path / "units"
    units.mkdir()
    for name in UNITS:
        text = (SYSTEMD / name).read_text(encoding="utf-8")
        assert text.count(EXECUTABLE) == (1 if name in SERVICES else 0)
        (units / name).write_text(text.replace(EXECUTABLE, str(mirror)), encoding="utf-8")
    return units


def verify(units: Path) -> tuple[int, str]:
    """systemd-analyze verify on all units: its status and everything it printed. It warns
    about unknown keys and unparsable values on stderr but still exits 0, so both count."""
    done = subprocess.run(
        [ANALYZE, "verify", "--man=no", *UNITS],
        cwd=units,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, (done.stdout + done.stderr).strip()


@needs_analyze
def test_systemd_analyze_verify_accepts_the_units(tmp_path):
    # The user and group relaywatch need not exist here: verify does not look them up.
    assert verify(installed_copy(tmp_path)) == (0, "")


@needs_analyze
@pytest.mark.parametrize(
    ("name", "old", "new", "complaint"),
    [
        ("relaywatch-ingest.service", "{mirror}", EXECUTABLE, "is not executable"),
        ("relaywatch-report.service", "{mirror}", "relaywatch/bin/relaywatch", "absolute path"),
        ("relaywatch-ingest.service", "\nNice=", "\nNicety=", "Unknown key 'Nicety'"),
        ("relaywatch-report.service", "=strict", "=strickt", "Failed to parse"),
        ("relaywatch-report.timer", "06:30:00", "26:30:00", "Failed to parse calendar"),
    ],
)
def test_systemd_analyze_verify_catches_mistakes(tmp_path, name, old, new, complaint):
    """The check above has teeth: a missing or relative executable, a misspelt key, a bad
    value or a bad schedule each make it fail."""
    units = installed_copy(tmp_path)
    old = old.format(mirror=tmp_path / EXECUTABLE.lstrip("/"))
    text = (units / name).read_text(encoding="utf-8")
    assert old in text
    (units / name).write_text(text.replace(old, new, 1), encoding="utf-8")
    status, output = verify(units)
    assert status != 0 or output
    assert complaint in output


@pytest.mark.skipif(SYSUSERS is None, reason="systemd-sysusers is not installed")
def test_sysusers_makes_the_user_with_its_home_in_adm(tmp_path):
    conf = SYSTEMD / "relaywatch.sysusers.conf"
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "group").write_text("root:x:0:\nadm:x:4:\n", encoding="utf-8")
    (tmp_path / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n", encoding="utf-8")
    if os.geteuid() != 0:  # it cannot give the files to root: only check the syntax
        done = subprocess.run(
            [SYSUSERS, "--dry-run", f"--root={tmp_path}", conf], capture_output=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return
    subprocess.run([SYSUSERS, f"--root={tmp_path}", conf], check=True, timeout=60)
    users = (tmp_path / "etc" / "passwd").read_text(encoding="utf-8").splitlines()
    groups = (tmp_path / "etc" / "group").read_text(encoding="utf-8").splitlines()
    user = next(line.split(":") for line in users if line.startswith("relaywatch:"))
    assert user[5] == STATE
    assert any(line.startswith("relaywatch:") for line in groups)
    assert "adm:x:4:relaywatch" in groups


# cron.d --------------------------------------------------------------------------------


def cron_file() -> tuple[dict[str, str], list[tuple[list[str], str, str]]]:
    """The variables, and each job as (5 time fields, user, command)."""
    variables: dict[str, str] = {}
    jobs = []
    for line in CRON_FILE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if match := re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)", line):
            variables[match[1]] = match[2]
            continue
        fields = line.split(maxsplit=6)
        assert len(fields) == 7, f"not 5 time fields, a user and a command: {line}"
        jobs.append((fields[:5], fields[5], fields[6]))
    return variables, jobs


def job(command: str) -> tuple[list[str], str, str]:
    found = [j for j in cron_file()[1] if f"{EXECUTABLE} {command}" in j[2]]
    assert len(found) == 1
    return found[0]


def test_the_cron_file_can_be_dropped_into_etc_cron_d():
    # cron ignores files in /etc/cron.d whose names hold a dot; the last line needs its newline
    assert re.fullmatch(r"[A-Za-z0-9_-]+", CRON_FILE.name)
    assert CRON_FILE.read_bytes().endswith(b"\n")


def test_the_cron_file_sets_the_config_and_where_errors_go():
    variables, _ = cron_file()
    assert variables["RELAYWATCH_CONFIG"] == CONFIG
    assert variables["MAILTO"] == "root"
    assert variables["SHELL"] == "/bin/sh"
    assert all(part.startswith("/") for part in variables["PATH"].split(":"))


def test_each_cron_job_is_well_formed_with_absolute_paths():
    _, jobs = cron_file()
    assert len(jobs) == 2
    for times, user, command in jobs:
        assert all(re.fullmatch(r"[0-9*/,-]+", field) for field in times), times
        assert user == "relaywatch"
        assert command.startswith("/")
        assert "%" not in command  # cron would turn it into a newline
        subprocess.run(["sh", "-n", "-c", command], check=True, timeout=60)
        for part in re.split(r"\|\||\||&&|;", command):
            words = shlex.split(part)
            assert words[0].startswith(("/", "[", "echo")), part
            # relaywatch only ever by its full path
            for word, after in zip(words, words[1:], strict=False):
                if word.endswith("relaywatch") and after in cli.commands:
                    assert word == EXECUTABLE


def test_cron_ingests_every_10_minutes_and_reports_at_0630():
    times, _, command = job("ingest")
    assert times == ["*/10", "*", "*", "*", "*"]
    assert "flock -n /var/lib/relaywatch/cron.lock" in command
    times, _, command = job("report")
    assert times == ["30", "6", "*", "*", "*"]
    assert "flock -w 3600 -E 75 /var/lib/relaywatch/cron.lock" in command
    for command in ("ingest", "report"):
        assert command in cli.commands


@pytest.mark.skipif(not Path("/usr/bin/flock").exists(), reason="no /usr/bin/flock")
def test_cron_jobs_share_the_lock_skip_or_wait_and_say_why(tmp_path):
    """The two command lines as sh runs them, with the install paths mapped into tmp_path, a
    stand-in relaywatch that echoes its arguments and cat for logger."""
    stub = tmp_path / "relaywatch"
    stub.write_text('#!/bin/sh\necho "ran $*"\n', encoding="utf-8")
    stub.chmod(0o755)
    logger = tmp_path / "logger"
    logger.write_text("#!/bin/sh\nexec cat\n", encoding="utf-8")
    logger.chmod(0o755)
    lock = tmp_path / "cron.lock"

    def run(command: str) -> subprocess.CompletedProcess[str]:
        for old, new in (
            (EXECUTABLE, str(stub)),
            ("/var/lib/relaywatch/cron.lock", str(lock)),
            ("/usr/bin/logger", str(logger)),
            ("-w 3600", "-w 1"),
        ):
            command = command.replace(old, new)
        return subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=60)

    ingest, report = job("ingest")[2], job("report")[2]
    done = run(ingest)
    assert (done.stdout, done.stderr) == ("ran ingest\n", "")
    assert run(report).stdout == "ran report\n"
    holder = subprocess.Popen(["/usr/bin/flock", str(lock), "sleep", "30"])
    try:
        for _ in range(100):
            if subprocess.run(["/usr/bin/flock", "-n", str(lock), "true"]).returncode:
                break
            time.sleep(0.05)
        done = run(ingest)  # skipped without a word: nothing for cron to mail
        assert (done.stdout, done.stderr) == ("", "")
        done = run(report)  # waited (here 1 s), then says why it did not run
        assert done.stdout == ""
        assert "relaywatch report did not run" in done.stderr
    finally:
        holder.kill()
        holder.wait()
