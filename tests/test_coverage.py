"""Line accounting: every line in exactly one bucket, per source."""

from __future__ import annotations

import pandas as pd

from analyzer import schema as s
from analyzer.reading.coverage import BUCKETS, bucket_counts, lines_table


def test_bucket_counts_put_every_line_of_each_source_in_one_bucket():
    events = pd.DataFrame(
        {
            s.SOURCE: [2, 0, 2, 2, 0, 2, 0],
            s.EVENT: pd.array(
                [
                    s.EV_CONNECT,  # matched
                    s.EV_IGNORED,
                    s.EV_UNMATCHED,
                    s.EV_MALFORMED,
                    s.EV_DELIVERY,  # matched
                    s.EV_MALFORMED,
                    None,  # no event at all: counted as matched, never lost
                ],
                dtype="string[pyarrow]",
            ),
        }
    )
    counts = bucket_counts(events)
    assert list(counts.columns) == list(BUCKETS)
    assert counts.loc[0].tolist() == [2, 1, 0, 0]
    assert counts.loc[2].tolist() == [1, 0, 1, 2]
    assert counts.to_numpy().sum() == len(events)


def test_lines_table_names_files_without_lines_too():
    sources = pd.DataFrame({s.SOURCE: [0, 1], "path": ["a.log", "empty.log"]})
    events = pd.DataFrame({s.SOURCE: [0, 0], s.EVENT: [s.EV_CONNECT, s.EV_UNMATCHED]})
    table = lines_table(sources, bucket_counts(events))
    assert table[["path", "lines", "matched", "unmatched"]].values.tolist() == [
        ["a.log", 2, 1, 1],
        ["empty.log", 0, 0, 0],
    ]


def test_an_unmatched_line_names_the_nearest_rule_and_how_to_add_one():
    from analyzer.reading.coverage import HOW_TO_ADD, ignored_programs, render_check, rule_counts
    from analyzer.reading.parse import ALL_RULES, StampOptions, parse_lines
    from tests.conftest import lines_frame, sources_frame

    line = (
        "Nov 21 09:00:00 mail1 postfix/smtpd[100]: warning: unknown[203.0.113.4]: "
        "SASL CRAM-MD5 authentication went sideways: UGFzc3dvcmQ6"
    )
    sources = sources_frame()
    events = parse_lines(
        lines_frame([line]), sources, StampOptions("UTC", 2003), keep_all_text=True
    )
    assert events["event"].tolist() == ["unmatched"]
    text = render_check(
        events, rule_counts(events), ignored_programs(events), sources, rules=ALL_RULES
    )
    near = [ln for ln in text.splitlines() if "nearest rule:" in ln]
    assert len(near) == 1 and "nearest rule: smtpd_sasl" in near[0], near
    assert f"to match them: {HOW_TO_ADD}" in text
    # without rules to compare with (as before), no hint
    assert "nearest rule" not in render_check(
        events, rule_counts(events), ignored_programs(events), sources
    )


def test_only_the_first_lines_of_each_run_of_problems_are_sampled():
    from analyzer.reading.coverage import sample_runs

    problems = pd.DataFrame(
        {
            s.SOURCE: [0] * 6 + [1] * 3,
            s.LINE_NO: [1, 2, 3, 4, 9, 10, 5, 6, 7],  # runs: 1-4, 9-10 | 5-7 (another file)
        }
    )
    sampled = sample_runs(problems, per_run=2)
    assert sampled.values.tolist() == [[0, 1], [0, 2], [0, 9], [0, 10], [1, 5], [1, 6]]
    assert sample_runs(problems.iloc[:0], per_run=2).empty
