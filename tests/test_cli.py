"""The command line: exports, patterns check, and one clear line for each user mistake."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from analyzer.cli import cli
from analyzer.schema import SESSION_EXPORT_COLUMNS
from tests.conftest import as_nobody

LOG = """\
Nov 21 09:00:00 mail1 postfix/smtpd[100]: connect from office.acme.example[198.18.0.10]
Nov 21 09:00:01 mail1 postfix/smtpd[100]: NOQUEUE: reject: RCPT from office.acme.example[198.18.0.10]: 554 5.7.1 <x@aol.com>: Relay access denied; from=<a@acme.example> to=<x@aol.com> proto=ESMTP helo=<=cmd|calc>
Nov 21 09:00:02 mail1 postfix/smtpd[100]: disconnect from office.acme.example[198.18.0.10]
Nov 21 09:00:03 mail1 postfix/smtpd[100]: this is not a Postfix message
garbage
"""
CUSTOMERS = """\
customer_id,name,domains,networks,contact_email
acme,Acme,acme.example,198.18.0.0/28,it@acme.example
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "mail.log").write_text(LOG)
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    (tmp_path / "relaywatch.toml").write_text(
        'logs = ["mail.log"]\ncustomers = "customers.csv"\nyear = 2003\n'
        'timezone = "America/New_York"\nenforcement_date = "2003-11-21"\n'
    )
    return tmp_path


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_export_sessions_writes_the_spec_columns(workdir: Path):
    out = workdir / "sessions.csv"
    result = run("export", "sessions", "--config", str(workdir / "relaywatch.toml"), "-o", str(out))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert tuple(rows[0]) == SESSION_EXPORT_COLUMNS
    assert len(rows) == 1
    row = rows[0]
    assert (row["class"], row["reason"], row["customer_id"], row["period"]) == (
        "unauthenticated",
        "relay_denied",
        "acme",
        "after",
    )
    assert row["start"] == "2003-11-21T09:00:00-05:00"
    assert row["helo"] == "'=cmd|calc"  # neutralised for spreadsheets
    assert "2 line(s) unmatched or malformed" in result.stderr


def test_log_arguments_and_flags_override_the_config(workdir: Path):
    config = str(workdir / "relaywatch.toml")
    result = run(
        "export",
        "sessions",
        str(workdir / "mail.log"),
        "--config",
        config,
        "--enforcement",
        "2003-11-22",
    )
    assert ",before," in result.stdout
    result = run("export", "sessions", "--config", config, "--since", "2003-11-22")
    assert result.stdout.count("\n") == 1  # header only


def test_patterns_check_lists_rules_and_misses(workdir: Path):
    config = ["--config", str(workdir / "relaywatch.toml")]
    result = run("patterns", "check", str(workdir / "mail.log"), *config)
    assert result.exit_code == 0
    assert "smtpd_noqueue_reject" in result.stdout
    assert (
        "mail.log:4: Nov 21 09:00:03 mail1 postfix/smtpd[100]: this is not a Postfix message"
        in result.stdout
    )
    assert "mail.log:5: garbage" in result.stdout
    strict = CliRunner().invoke(
        cli, ["patterns", "check", str(workdir / "mail.log"), "--strict", *config]
    )
    assert strict.exit_code == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["export", "sessions", "/nonexistent/mail.log"],
            "log file not found: /nonexistent/mail.log",
        ),
        (
            ["export", "sessions", "--enforcement", "2003-02-30"],
            "--enforcement: '2003-02-30' is not a date",
        ),
        (["export", "sessions", "--since", "yesterday"], "--since: 'yesterday' is not a date"),
        (["export", "sessions", "--config", "/nonexistent.toml"], "config file not found"),
        (["export", "sessions", "--customers", "/nonexistent.csv"], "customers file not found"),
        (["export", "nonsense"], "Invalid value for 'KIND'"),
    ],
)
def test_user_mistakes_are_one_line_and_status_2(workdir: Path, args, message):
    config = [] if "--config" in args else ["--config", str(workdir / "relaywatch.toml")]
    result = CliRunner().invoke(cli, [*args, *config])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    if "KIND" not in message:
        assert len(result.stderr.strip().splitlines()) == 1


def test_a_bad_cidr_in_customers_names_the_customer(workdir: Path):
    (workdir / "customers.csv").write_text(CUSTOMERS.replace("198.18.0.0/28", "198.18.0.0/99"))
    result = CliRunner().invoke(
        cli, ["export", "sessions", "--config", str(workdir / "relaywatch.toml")]
    )
    assert result.exit_code == 2
    assert "customer acme: bad network '198.18.0.0/99'" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export", "nonsense"], "Invalid value for 'KIND': 'nonsense' is not one of"),
        (["export", "--bogus"], "No such option '--bogus'"),
        (["nope"], "No such command 'nope'"),
    ],
)
def test_usage_mistakes_are_one_line_and_status_2(args, message, capsys):
    from analyzer.cli import run_cli

    assert run_cli(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("relaywatch: error: ") and message in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ('logs = ["x.log"\n', "invalid TOML"),
        ('logz = ["x.log"]\n', "unknown key 'logz'"),
        ("[dashboard]\nport = 8050\nhots = 'x'\n", "unknown key 'hots'"),
    ],
)
def test_config_mistakes_are_one_line_and_status_2(tmp_path: Path, config, message):
    path = tmp_path / "relaywatch.toml"
    path.write_text(config, encoding="utf-8")
    result = CliRunner().invoke(cli, ["export", "sessions", "--config", str(path)])
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_customers_file_with_a_wrong_header_is_one_line(workdir: Path):
    (workdir / "customers.csv").write_text("id,name\nacme,Acme\n")
    result = CliRunner().invoke(
        cli, ["export", "sessions", "--config", str(workdir / "relaywatch.toml")]
    )
    assert result.exit_code == 2
    assert "customers file lacks column(s) customer_id" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_directory_given_as_log_is_one_line(workdir: Path):
    (workdir / "adir").mkdir()
    result = CliRunner().invoke(
        cli,
        ["export", "sessions", str(workdir / "adir"), "--config", str(workdir / "relaywatch.toml")],
    )
    assert result.exit_code == 2
    assert "adir" in result.stderr and "Traceback" not in result.stderr


def test_ingest_then_export_reads_the_store(workdir: Path) -> None:
    config, store = str(workdir / "relaywatch.toml"), str(workdir / "store")
    before = run("export", "sessions", "--config", config)
    first = run("ingest", "--config", config, "--store", store)
    assert first.exit_code == 0, first.output
    assert first.output.startswith(
        f"ingested 5 new lines from 1 file(s) (0 unchanged) into {store}"
    )
    assert "1 unmatched and 1 malformed lines" in first.output
    again = run("ingest", "--config", config, "--store", store)
    assert again.output.startswith("nothing new in 1 file(s)")
    (workdir / "mail.log").unlink()  # from now on only the store knows the sessions
    after = run("export", "sessions", "--config", config, "--store", store)
    assert after.exit_code == 0
    assert after.output == before.output


def test_ingest_without_a_store_is_one_line(workdir: Path) -> None:
    result = CliRunner().invoke(cli, ["ingest", "--config", str(workdir / "relaywatch.toml")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "relaywatch: error: no store: set `store` in the config or pass --store DIR"
    ]


def test_ingest_with_an_unreachable_dask_scheduler_is_one_line(workdir: Path) -> None:
    config, store = str(workdir / "relaywatch.toml"), str(workdir / "store")
    args = ["ingest", "--config", config, "--store", store, "--dask", "tcp://127.0.0.1:9"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in lines[0]


def read_as_nobody(path: Path) -> str:
    from analyzer.reading.sources import expand_logs

    return as_nobody(lambda: expand_logs([str(path)]))


def test_an_unreadable_log_is_one_line_even_for_root() -> None:
    import tempfile

    folder = Path(tempfile.mkdtemp())
    try:
        folder.chmod(0o755)
        log = folder / "mail.log"
        log.write_text(LOG)
        log.chmod(0)
        assert read_as_nobody(log) == f"log file is not readable: {log}"
        folder.chmod(0o700)  # now even the folder is closed to others
        assert read_as_nobody(log) == f"cannot read {log}: Permission denied"
    finally:
        folder.chmod(0o700)
        import shutil

        shutil.rmtree(folder)


def test_a_forged_far_future_stamp_is_a_malformed_line_for_export_and_ingest(workdir: Path):
    far = workdir / "far.log"
    far.write_text(
        "9999-12-31T23:59:59-05:00 mail1 postfix/smtpd[9]: connect from a.example[100.64.0.1]\n"
        + LOG
    )
    config = str(workdir / "relaywatch.toml")
    exported = run("export", "sessions", str(far), "--config", config, "-o", os.devnull)
    assert exported.exit_code == 0, exported.output
    assert "3 line(s) unmatched or malformed" in exported.stderr
    ingested = run("ingest", str(far), "--config", config, "--store", str(workdir / "store"))
    assert ingested.exit_code == 0, ingested.output
    assert "1 unmatched and 2 malformed lines" in ingested.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--port", "99999"], "99999 is not in the range 1<=x<=65535"),
        (["serve", "--port", "0"], "0 is not in the range 1<=x<=65535"),
        (
            ["export", "sessions", "--since", "2003-11-22", "--until", "2003-11-21"],
            "--since 2003-11-22 is after --until 2003-11-21: the period is empty",
        ),
        (
            ["report", "--since", "2003-11-22", "--until", "2003-11-21"],
            "--since 2003-11-22 is after --until 2003-11-21",
        ),
        (["init", "--dir", "/nonexistent-folder"], "folder /nonexistent-folder does not exist"),
        (["init", "--enforcement", "soon"], "--enforcement: 'soon' is not a date"),
    ],
)
def test_more_user_mistakes_are_one_line_and_status_2(workdir: Path, args, message, capsys):
    from analyzer.cli import run_cli  # as the console script runs: usage errors in one line

    config = [] if args[0] == "init" else ["--config", str(workdir / "relaywatch.toml")]
    assert run_cli([*args, *config]) == 2
    err = capsys.readouterr().err
    assert err.startswith("relaywatch: error: ") and message in err
    assert len(err.strip().splitlines()) == 1, err


def test_a_busy_port_is_found_before_the_analysis(workdir: Path, monkeypatch):
    import socket

    def no_analysis(*args, **kwargs):
        raise AssertionError("the analysis ran before the port was checked")

    monkeypatch.setattr("dashboard.app.create_app", no_analysis)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            cli, ["serve", "--port", str(port), "--config", str(workdir / "relaywatch.toml")]
        )
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"relaywatch: error: port {port} on 127.0.0.1 is in use (another `relaywatch serve`?): "
        "choose another with --port"
    ]


def test_a_folder_named_as_a_log_says_so(workdir: Path):
    result = CliRunner().invoke(
        cli, ["export", "sessions", str(workdir), "--config", str(workdir / "relaywatch.toml")]
    )
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"relaywatch: error: {workdir} is a folder, not a log file: name the files in it "
        f"(e.g. '{workdir / 'mail.log*'}')"
    ]


def test_an_eml_in_a_missing_folder_is_an_error_and_makes_no_folder(workdir: Path):
    target = workdir / "missing" / "summary.eml"
    result = CliRunner().invoke(
        cli,
        ["report", "--eml", str(target), "--no-dns", "--config", str(workdir / "relaywatch.toml")],
    )
    assert result.exit_code == 2
    assert f"cannot write {target}: folder {target.parent} does not exist" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not target.parent.exists()


def test_an_empty_log_gets_a_one_line_notice(workdir: Path):
    empty = workdir / "empty.log"
    empty.write_bytes(b"")
    result = run("export", "sessions", str(empty), "--config", str(workdir / "relaywatch.toml"))
    assert result.exit_code == 0
    assert result.stdout.count("\n") == 1  # the header
    assert f"relaywatch: empty log file(s), no lines to read: {empty}" in result.stderr
    store = str(workdir / "store")
    result = run(
        "ingest", str(empty), "--config", str(workdir / "relaywatch.toml"), "--store", store
    )
    assert result.exit_code == 0
    assert f"relaywatch: empty log file(s), no whole line to read yet: {empty}" in result.output


def test_a_file_that_is_not_an_mrt_dump_is_one_line(tmp_path: Path):
    import gzip

    text = tmp_path / "rib.txt"
    text.write_text("not an MRT dump\n")
    zipped = tmp_path / "rib.gz"
    zipped.write_bytes(gzip.compress(LOG.encode()))  # gzip, but of a mail log
    for source, message in ((text, "expected a RIB archive, .gz or .bz2"), (zipped, "")):
        result = CliRunner().invoke(
            cli, ["asn-db", "build", "-o", str(tmp_path / "ipasn.dat"), "--mrt", str(source)]
        )
        assert result.exit_code == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and f"{source} is not an MRT dump" in lines[0], lines
        assert message in lines[0]
        assert not (tmp_path / "ipasn.dat").exists()


def test_min_matched_fails_a_file_below_it_and_names_it(workdir: Path, capsys):
    from analyzer.cli import run_cli

    log = str(workdir / "mail.log")  # 5 lines: 3 matched, 1 unmatched, 1 malformed
    config = ["--config", str(workdir / "relaywatch.toml")]
    assert run_cli(["patterns", "check", log, "--min-matched", "60", *config]) == 0
    capsys.readouterr()
    assert run_cli(["patterns", "check", log, "--min-matched", "60.1", *config]) == 1
    err = capsys.readouterr().err
    assert (
        f"relaywatch: {log}: 60.0 % of 5 lines matched or ignored, below --min-matched 60.1" in err
    )


# --- what relaywatch writes is its owner's only (issue 17, E and F) -----------------------------


def tree_modes(root: Path) -> tuple[set[int], set[int]]:
    """(modes of the folders, modes of the files) under ``root``, itself included."""
    folders = {root.stat().st_mode & 0o7777}
    files = set()
    for path in root.rglob("*"):
        (folders if path.is_dir() else files).add(path.stat().st_mode & 0o7777)
    return folders, files


@pytest.mark.parametrize(
    ("setting", "folder", "file"), [("", 0o700, 0o600), ("file_mode = 0o640\n", 0o750, 0o640)]
)
def test_ingest_and_export_write_owner_only_files_unless_a_group_may_read(
    workdir: Path, setting: str, folder: int, file: int
):
    config = workdir / "relaywatch.toml"
    config.write_text(setting + config.read_text() + 'store = "store"\n')
    old = os.umask(0o022)  # the usual umask, whatever the test runner's
    try:
        assert run("ingest", "--config", str(config)).exit_code == 0
        out = workdir / "call-list.csv"
        assert run("export", "customers", "--config", str(config), "-o", str(out)).exit_code == 0
    finally:
        os.umask(old)
    assert tree_modes(workdir / "store") == ({folder}, {file})
    assert out.stat().st_mode & 0o777 == file
    out.chmod(0o644)  # written again: never more open than the setting
    assert run("export", "customers", "--config", str(config), "-o", str(out)).exit_code == 0
    assert out.stat().st_mode & 0o777 == 0o644 & file
    assert run("export", "customers", "--config", str(config), "-o", os.devnull).exit_code == 0
    assert Path(os.devnull).stat().st_mode & 0o777 == 0o666


def test_ingest_into_a_store_with_a_linked_folder_is_one_line_and_deletes_nothing(
    workdir: Path,
):
    config = workdir / "relaywatch.toml"
    config.write_text(config.read_text() + 'store = "store"\n')
    assert run("ingest", "--config", str(config)).exit_code == 0
    elsewhere = workdir / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "notes.parquet").write_text("someone else's")
    carry = workdir / "store" / "carry"
    if carry.exists():
        for leftover in carry.iterdir():
            leftover.unlink()
        carry.rmdir()
    carry.symlink_to(elsewhere)
    (workdir / "mail.log").write_text(LOG + LOG.replace("Nov 21", "Nov 22"))
    result = CliRunner().invoke(cli, ["ingest", "--config", str(config)])
    assert [p.name for p in elsewhere.iterdir()] == ["notes.parquet"]  # nothing deleted
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and f"{carry} is a symbolic link" in result.stderr
