"""Accounts judged once by ``ingest`` and kept in the store: read back only for the same
commit, rules and ASN database, and for a question about the whole history or about the
history up to the last complete day (the nightly mail's), which later commits keep."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import shutil
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest

from analyzer import jobs
from analyzer.judgements.asn import load_lookup
from analyzer.judgements.customers import read_customers
from analyzer.settings.config import DEMO_CONFIG, load_settings
from analyzer.store import judged, tables
from analyzer.store.queries import Scope
from analyzer.store.views import StoreView
from tests.conftest import ingested_sample

LINE = (
    "2003-12-05T06:25:01.000000-05:00 mail1 postfix/submission/smtpd[24772]: "
    "disconnect from static-198-18-2-232.biz.provider.example[198.18.2.232]\n"
)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("judged") / "sample"
    ingested_sample(folder)
    return folder / DEMO_CONFIG.name


def open_store(config: Path) -> tuple[StoreView, object]:
    settings = load_settings(config, environ={})
    return StoreView.open(settings.store, settings, read_customers(settings.customers)), settings


def kept_files(view: StoreView) -> list[Path]:
    """The judgement of the whole history, then the day's."""
    found = sorted((view.root / "derived" / view.fingerprint / judged.JUDGED).iterdir())
    return sorted(found, key=lambda path: path.name.startswith(judged.DAY))


def last_complete_day(view: StoreView) -> dt.date:
    return tables.session_days(view)[1] - dt.timedelta(days=1)  # logs of 2003: not live


def judged_afresh(view: StoreView, settings, scope: Scope | None = None) -> pd.DataFrame:
    scope = scope or Scope()
    with mock.patch.object(view, "judged", return_value=None):
        lookup = load_lookup(settings.asn_db, settings.as_names)
        return tables.risk(view, scope, settings, jobs.live_dnsbl(settings, False), lookup).judged


def test_ingest_keeps_the_judgement_it_would_make_again(ingested: Path):
    view, settings = open_store(ingested)
    kept, day = kept_files(view)
    assert kept.name.startswith(view.manifest.committed + "-")
    assert day.name.startswith(f"day-{last_complete_day(view)}-")
    stored = view.judged(None)
    assert stored is not None and len(stored) > 10  # the sample's logins
    pd.testing.assert_frame_equal(stored, judged_afresh(view, settings))
    flags = set(stored["flags"].str.split(";").explode())
    assert {"volume_spike", "blocklist_bounces"} <= flags  # a real judgement, not a stub


def test_it_answers_only_questions_up_to_its_last_day_or_later(ingested: Path):
    view, _ = open_store(ingested)
    last = tables.session_days(view)[1]
    assert view.judged(last) is not None
    assert view.judged(last + dt.timedelta(days=30)) is not None
    assert view.judged(last - dt.timedelta(days=2)) is None  # a shorter history: judge again
    # ... but the one up to the day before the last is kept too: the nightly mail's question
    day = view.judged(last - dt.timedelta(days=1))
    assert day is not None and not day.equals(view.judged(None))


def test_the_nightly_mail_reads_the_days_judgement(ingested: Path):
    view, settings = open_store(ingested)
    day = last_complete_day(view)
    kept = view.judged(day)
    pd.testing.assert_frame_equal(kept, judged_afresh(view, settings, Scope(until=day)))
    # its question (the day, every server) reads no login or refusal of the history
    with mock.patch.object(tables, "account_bounces", side_effect=AssertionError("judged")):
        found = tables.risk(view, Scope(day, day), settings, jobs.live_dnsbl(settings, False), None)
    pd.testing.assert_frame_equal(found.judged, kept)


@pytest.fixture
def live(tmp_path: Path) -> Path:
    folder = tmp_path / "sample"
    ingested_sample(folder)
    return folder / DEMO_CONFIG.name


def appended(config: Path, *lines: str) -> mock.MagicMock:
    """Append ``lines`` to the sample's log and ingest them: the judgements asked meanwhile."""
    settings = load_settings(config, environ={})
    with open(settings.store.parent / "postfix" / "mail.log", "a") as log:
        log.writelines(lines)
    with mock.patch.object(tables, "risk", wraps=tables.risk) as judging:
        jobs.ingest_logs(settings)
    return judging


def test_a_commit_of_later_lines_keeps_the_days_judgement(live: Path):
    before, _ = open_store(live)
    day = last_complete_day(before)
    kept = before.judged(day)
    judging = appended(live, LINE)  # the day after
    after, _ = open_store(live)
    assert after.manifest.committed > before.manifest.committed
    assert before.judged(day) is None  # its commit is no longer the last
    pd.testing.assert_frame_equal(after.judged(day), kept)  # ... and still holds
    assert [call.args[1] for call in judging.call_args_list] == [Scope()]  # the whole only


def test_a_late_line_of_that_day_judges_it_again(live: Path):
    before, settings = open_store(live)
    day = last_complete_day(before)
    late = (
        f"{day}T22:10:00.000000-05:00 mail1 postfix/submission/smtpd[777]: connect from "
        "unknown[203.0.113.77]\n",
        f"{day}T22:10:02.000000-05:00 mail1 postfix/submission/smtpd[777]: warning: "
        "unknown[203.0.113.77]: SASL LOGIN authentication failed: authentication failure\n",
        f"{day}T22:10:03.000000-05:00 mail1 postfix/submission/smtpd[777]: disconnect from "
        "unknown[203.0.113.77]\n",
    )
    judging = appended(live, *late)
    after, _ = open_store(live)
    assert Scope(until=day) in [call.args[1] for call in judging.call_args_list]
    pd.testing.assert_frame_equal(
        after.judged(day), judged_afresh(after, settings, Scope(until=day))
    )


def test_a_question_about_some_servers_is_judged_afresh(ingested: Path):
    view, settings = open_store(ingested)
    one = Scope(servers=(view.servers()[0],))
    with mock.patch.object(view, "judged", wraps=view.judged) as asked:
        found = tables.risk(view, one, settings, jobs.live_dnsbl(settings, False), None)
    asked.assert_not_called()
    assert len(found.judged) < len(view.judged(None))  # one server's logins only


def test_another_asn_database_is_judged_afresh(ingested: Path, tmp_path: Path):
    view, settings = open_store(ingested)
    copy = tmp_path / "ipasn.dat"
    shutil.copy(settings.asn_db, copy)
    other = dataclasses.replace(settings, asn_db=copy)
    assert judged.judgement_key(other) != judged.judgement_key(settings)
    assert dataclasses.replace(view, settings=other).judged(None) is None
    os.utime(settings.asn_db, ns=(0, os.stat(settings.asn_db).st_mtime_ns + 10**9))
    assert view.judged(None) is None  # the database was updated in place


def test_a_damaged_judgement_is_judged_afresh(ingested: Path, caplog):
    view, settings = open_store(ingested)
    jobs.judge_accounts(settings)  # the ASN database may have changed: keep one for it
    kept, _ = kept_files(view)
    kept.write_bytes(b"PAR1 not parquet")
    with caplog.at_level(logging.WARNING):
        assert view.judged(None) is None
    assert "not reading the judged accounts" in caplog.text
    jobs.judge_accounts(settings)
    assert view.judged(None) is not None


def test_a_new_commit_replaces_the_judgement(ingested: Path):
    before, settings = open_store(ingested)
    jobs.judge_accounts(settings)
    with open(settings.store.parent / "postfix" / "mail.log", "a") as log:
        log.write(LINE)
    jobs.ingest_logs(settings)
    after, _ = open_store(ingested)
    assert after.manifest.committed > before.manifest.committed
    kept, _ = kept_files(after)
    assert kept.name.startswith(after.manifest.committed + "-")
    assert before.judged(None) is None  # its commit's judgement is gone
    assert after.judged(None) is not None


MIDNIGHT_CONFIG = """logs = ["postfix/mail.log"]
customers = "customers.csv"
asn_db = "ipasn.dat"
as_names = "asnames.json"
year = 2003
timezone = "America/New_York"
store = "store"
outbound_ips = ["192.0.2.10"]
local_domains = ["provider.example"]
[servers.mail1]
outbound_ip = "192.0.2.10"
"""
SUBMISSION = "mail1 postfix/submission/smtpd"


def test_a_session_open_across_midnight_judges_the_day_again(tmp_path: Path):
    # alice's session starts at 23:59:50 on the day and logs in after midnight, in the next
    # commit: no part of the day is written meanwhile, but what judging reads of the open
    # session changed, so the day's judgement must not be renewed
    for name in ("customers.csv", "ipasn.dat", "asnames.json"):
        shutil.copy(DEMO_CONFIG.parent / name, tmp_path / name)
    (tmp_path / "relaywatch.toml").write_text(MIDNIGHT_CONFIG)
    (tmp_path / "postfix").mkdir()
    day, next_day = "2003-12-04", "2003-12-05"
    log = tmp_path / "postfix" / "mail.log"
    log.write_text(
        f"{day}T10:00:00.000000-05:00 {SUBMISSION}[100]: connect from unknown[198.18.2.71]\n"
        f"{day}T10:00:01.000000-05:00 {SUBMISSION}[100]: AAAA1111: client=unknown"
        "[198.18.2.71], sasl_method=PLAIN, sasl_username=bob@northgate-ins.example\n"
        f"{day}T10:00:03.000000-05:00 {SUBMISSION}[100]: disconnect from unknown[198.18.2.71]"
        " ehlo=1 auth=1 mail=1 quit=1 commands=4\n"
        f"{day}T23:59:50.000000-05:00 {SUBMISSION}[200]: connect from unknown[203.0.113.9]\n"
        f"{next_day}T00:00:01.000000-05:00 mail1 postfix/smtpd[300]: connect from "
        "unknown[192.0.2.200]\n"
        f"{next_day}T00:00:02.000000-05:00 mail1 postfix/smtpd[300]: disconnect from "
        "unknown[192.0.2.200] ehlo=1 quit=1 commands=2\n"
    )
    jobs.ingest_logs(load_settings(tmp_path / "relaywatch.toml", environ={}))
    before, settings = open_store(tmp_path / "relaywatch.toml")
    kept = before.judged(dt.date.fromisoformat(day))
    assert kept["sasl_username"].tolist() == ["bob@northgate-ins.example"]
    judging = appended(
        tmp_path / "relaywatch.toml",
        f"{next_day}T00:00:05.000000-05:00 {SUBMISSION}[200]: BBBB2222: client=unknown"
        "[203.0.113.9], sasl_method=PLAIN, sasl_username=alice@northgate-ins.example\n",
    )
    after, _ = open_store(tmp_path / "relaywatch.toml")
    scope = Scope(until=dt.date.fromisoformat(day))
    assert scope in [call.args[1] for call in judging.call_args_list]
    served = after.judged(scope.until)
    pd.testing.assert_frame_equal(served, judged_afresh(after, settings, scope))
    assert "alice@northgate-ins.example" in set(served["sasl_username"])  # the open session


def test_a_judgement_kept_by_a_later_commit_is_not_renewed_by_an_earlier_one(ingested: Path):
    # two ingests judging at once: the one of the older commit must not stamp the newer
    # judgement as its own
    view, _ = open_store(ingested)
    day = last_complete_day(view)
    kept = kept_files(view)[1].read_bytes()
    older = dataclasses.replace(view.manifest, committed="000000-000001")
    assert not dataclasses.replace(view.judgements, manifest=older).renew_day(day)
    assert kept_files(view)[1].read_bytes() == kept


@pytest.mark.parametrize(
    ("zone", "day", "end"),
    [
        ("America/Santiago", "2023-09-02", "2023-09-03T04:00Z"),  # 00:00 does not exist
        ("America/Havana", "2023-11-04", "2023-11-05T04:00Z"),  # 00:00 happens twice
        ("America/New_York", "2003-12-04", "2003-12-05T05:00Z"),
    ],
)
def test_a_days_end_is_its_first_instant_after(zone: str, day: str, end: str):
    assert judged.day_end(dt.date.fromisoformat(day), zone) == pd.Timestamp(end)
