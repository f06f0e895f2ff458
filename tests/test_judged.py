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
