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
from analyzer.outputs.exports import sessions_to_csv
from tests.conftest import SAMPLES

TRUTH = SAMPLES / "truth" / "postfix_sessions.csv"


@pytest.fixture(scope="module")
def analysis(demo_settings):
    return jobs.analyse_logs(demo_settings)


@pytest.fixture(scope="module")
def exported(analysis, demo_settings) -> pd.DataFrame:
    table = pd.read_csv(
        io.StringIO(sessions_to_csv(analysis.sessions, demo_settings.timezone)),
        dtype=str,
        keep_default_na=False,
    )
    table["key_start"] = pd.to_datetime(table["start"], utc=True, format="ISO8601").dt.floor("s")
    table["pid"] = table["session_id"].str.split("-").str[1]
    return table


def join_truth(exported: pd.DataFrame, truth_file: str) -> pd.DataFrame:
    truth = pd.read_csv(SAMPLES / "truth" / truth_file, dtype=str, keep_default_na=False)
    truth["key_start"] = pd.to_datetime(truth["start"], utc=True, format="ISO8601").dt.floor("s")
    mine = exported[exported["server"].isin(set(truth["server"]))]
    return truth.merge(
        mine,
        on=["server", "pid", "key_start"],
        how="outer",
        suffixes=("_truth", ""),
        indicator=True,
    )


def agreement(joined: pd.DataFrame) -> pd.Series:
    return (
        (joined["class"] == joined["class_truth"])
        & (joined["reason"] == joined["reason_truth"])
        & (joined["customer_id"] == joined["customer_id_truth"])
    )


@pytest.fixture(scope="module")
def joined(exported) -> pd.DataFrame:
    return join_truth(exported, "postfix_sessions.csv")


def test_exim_sessions_with_pid_and_connection_logging_agree_with_the_truth(exported):
    joined = join_truth(exported, "exim_sessions.csv")
    assert agreement(joined).sum() / (joined["_merge"] != "right_only").sum() >= 0.995


def test_exim_default_logging_gives_the_right_class_per_message_and_attempt(exported):
    units = pd.read_csv(SAMPLES / "truth" / "exim_units.csv", dtype=str, keep_default_na=False)
    mx4 = exported[exported["server"].isin(set(units["server"]))]
    by_id = mx4.assign(message_id=mx4["session_id"].str.extract(r"^[^-]+-(\w{6}-\w{11}-\w{4})-")[0])
    messages = units[units["kind"] == "message"].merge(
        by_id, on="message_id", how="left", suffixes=("_truth", "")
    )
    attempts = units[units["kind"] == "attempt"]
    attempts = attempts.assign(
        key_start=pd.to_datetime(attempts["ts"], utc=True, format="ISO8601").dt.floor("s")
    )
    attempts = attempts.merge(
        by_id[by_id["message_id"].isna()],
        on=["client_ip", "key_start"],
        how="left",
        suffixes=("_truth", ""),
    )
    assert len(messages) > 100 and len(attempts) > 100
    assert agreement(messages).mean() >= 0.99, messages[~agreement(messages)].head()
    assert agreement(attempts).mean() >= 0.99, attempts[~agreement(attempts)].head()


def test_postfix_and_exim_make_one_table(exported):
    assert {"mail1", "mail2", "mx3", "mx4"} <= set(exported["server"])
    assert set(exported.loc[exported["server"].isin(["mx3", "mx4"]), "service"]) == {"exim"}


def test_every_true_session_is_found_once(joined):
    assert (joined["_merge"] == "both").all(), joined[joined["_merge"] != "both"].head()


def test_class_reason_and_customer_agree_with_the_truth(joined):
    agree = agreement(joined)
    assert agree.mean() >= 0.995, joined.loc[~agree, ["session_id", "reason_truth", "reason"]]


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
    # Exim lines no rule knows are only the generator's damaged ones (cut short or binary)
    exim = unmatched[(unmatched[s.DAEMON] == "exim").to_numpy()][s.RAW]
    damaged = exim.str.len().lt(80) | exim.str.contains("\ufffd|\x00|\x08", regex=True)
    assert damaged.all(), exim[~damaged].tolist()
    # the generator's damaged lines are all counted, none lost
    assert (events[s.EVENT] == s.EV_MALFORMED).sum() >= 3
    assert len(events) == sum(1 for _ in _all_lines(demo_settings))


def _all_lines(settings):
    from analyzer.reading.sources import iter_line_blocks

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
        if p.is_file()
        and p.suffix not in (".py", ".pyc")
        and not {"store", "__pycache__"} & set(p.parts)
        and p.name != "README.md"
    )
    for relative in committed:
        fresh = tmp_path / relative
        assert fresh.is_file(), relative
        digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (SAMPLES / relative, fresh)]
        assert digest[0] == digest[1], f"{relative} differs from a fresh generation"


ATTACK_EVENTS = (s.EV_REJECT, s.EV_SASL_FAIL, s.EV_LOST, s.EV_PROTOCOL)


def test_a_log_of_only_the_attack_lines_still_finds_every_attacker(analysis, demo_settings):
    """What a grep of the rejects, a forwarded excerpt or a log rotated mid-session holds:
    no connect lines, no accepted mail. Every attack line must count in a spam-probe session
    of its own client."""
    from analyzer.judgements.customers import read_customers
    from analyzer.judgements.pipeline import analyse
    from analyzer.reading.parse import StampOptions, parse_lines
    from analyzer.sessions.build import build_session_tables

    lines, sources = jobs.read_inputs(jobs.log_paths(demo_settings), demo_settings)
    options = StampOptions(demo_settings.timezone, demo_settings.year)
    events = parse_lines(lines, sources, options)
    probes = analysis.sessions[(analysis.sessions[s.CLASS] == s.SPAM_PROBE).to_numpy()]
    attackers = set(probes[s.CLIENT_IP].dropna())
    attack = events[
        events[s.EVENT].isin(ATTACK_EVENTS).to_numpy()
        & events[s.CLIENT_IP].isin(attackers).to_numpy()
    ]
    excerpt = lines.merge(attack[[s.SOURCE, s.LINE_NO]], on=[s.SOURCE, s.LINE_NO])
    excerpt = excerpt.sort_values([s.SOURCE, s.LINE_NO], ignore_index=True)
    assert len(excerpt) > 5000 and len(set(attack[s.CLIENT_IP])) > 300

    found = analyse(excerpt, sources, read_customers(demo_settings.customers), demo_settings)
    spam = found.sessions[(found.sessions[s.CLASS] == s.SPAM_PROBE).to_numpy()]
    assert set(spam[s.CLIENT_IP]) == set(attack[s.CLIENT_IP])
    # each attack line is a member of a spam-probe session of the client it names
    again = parse_lines(excerpt, sources, options)
    members = build_session_tables(again).members
    owner = again[[s.SEQ, s.CLIENT_IP, s.EVENT]].merge(members, on=s.SEQ, how="left")
    owner = owner[owner[s.EVENT].isin(ATTACK_EVENTS).to_numpy()]
    session = found.sessions.set_index(s.SESSION_ID)
    assert owner[s.SESSION_ID].notna().all()
    assert (session.loc[owner[s.SESSION_ID], s.CLASS] == s.SPAM_PROBE).all()
    assert (
        session.loc[owner[s.SESSION_ID], s.CLIENT_IP].to_numpy() == owner[s.CLIENT_IP].to_numpy()
    ).all()
