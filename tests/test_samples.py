"""End to end on sample_logs/: the sessions export against the generator's ground truth."""

from __future__ import annotations

import hashlib
import importlib.util
import io
from pathlib import Path

import pandas as pd
import pytest

from analyzer import jobs
from analyzer import schema as s
from analyzer.exports import sessions_to_csv
from tests.conftest import SAMPLES

TRUTH = SAMPLES / "truth" / "postfix_sessions.csv"


@pytest.fixture(scope="module")
def analysis(demo_settings):
    return jobs.analyse_logs(demo_settings)


@pytest.fixture(scope="module")
def joined(analysis, demo_settings) -> pd.DataFrame:
    exported = pd.read_csv(
        io.StringIO(sessions_to_csv(analysis.sessions, demo_settings.timezone)),
        dtype=str,
        keep_default_na=False,
    )
    truth = pd.read_csv(TRUTH, dtype=str, keep_default_na=False)
    for frame in (exported, truth):
        frame["key_start"] = pd.to_datetime(frame["start"], utc=True, format="ISO8601").dt.floor(
            "s"
        )
    exported["pid"] = exported["session_id"].str.split("-").str[1]
    return truth.merge(
        exported,
        on=["server", "pid", "key_start"],
        how="outer",
        suffixes=("_truth", ""),
        indicator=True,
    )


def test_every_true_session_is_found_once(joined):
    assert (joined["_merge"] == "both").all(), joined[joined["_merge"] != "both"].head()


def test_class_reason_and_customer_agree_with_the_truth(joined):
    agree = (
        (joined["class"] == joined["class_truth"])
        & (joined["reason"] == joined["reason_truth"])
        & (joined["customer_id"] == joined["customer_id_truth"])
    )
    assert agree.mean() >= 0.995, joined.loc[~agree, ["session_id", "reason_truth", "reason"]].head(
        20
    )


def test_message_and_recipient_counts_agree(joined):
    assert (joined["messages"] == joined["messages_truth"]).mean() >= 0.995
    assert (joined["recipients"] == joined["recipients_truth"]).mean() >= 0.995


def test_every_reason_appears_in_the_samples(analysis):
    found = set(zip(analysis.sessions[s.CLASS], analysis.sessions[s.REASON], strict=True))
    assert found == {(k, r) for k, reasons in s.REASONS.items() for r in reasons}


def test_no_smtpd_or_postscreen_line_is_unmatched(demo_settings):
    events, *_ = jobs.check_patterns(demo_settings, ())
    unmatched = events[(events[s.EVENT] == s.EV_UNMATCHED).to_numpy()]
    daemons = set(unmatched[s.DAEMON].dropna())
    assert not daemons & {"smtpd", "postscreen"}, unmatched[s.RAW].head().tolist()
    # the generator's damaged lines are all counted, none lost
    assert (events[s.EVENT] == s.EV_MALFORMED).sum() >= 3
    assert len(events) == sum(1 for _ in _all_lines(demo_settings))


def _all_lines(settings):
    from analyzer.io.sources import iter_line_blocks

    for path in jobs.log_paths(settings):
        for block in iter_line_blocks(path):
            yield from range(len(block))


def test_export_is_repeatable_byte_for_byte(analysis, demo_settings):
    again = jobs.analyse_logs(demo_settings)
    first = sessions_to_csv(analysis.sessions, demo_settings.timezone)
    assert first == sessions_to_csv(again.sessions, demo_settings.timezone)


def test_the_generator_reproduces_the_committed_samples(tmp_path: Path):
    spec = importlib.util.spec_from_file_location("generate", SAMPLES / "generate.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    generator.generate(tmp_path)
    committed = sorted(
        p.relative_to(SAMPLES)
        for p in SAMPLES.rglob("*")
        if p.is_file() and p.suffix != ".py" and "store" not in p.parts and p.name != "README.md"
    )
    for relative in committed:
        fresh = tmp_path / relative
        assert fresh.is_file(), relative
        digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (SAMPLES / relative, fresh)]
        assert digest[0] == digest[1], f"{relative} differs from a fresh generation"
