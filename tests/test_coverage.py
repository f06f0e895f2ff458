"""Line accounting: every line in exactly one bucket, per source."""

from __future__ import annotations

import pandas as pd

from analyzer import schema as s
from analyzer.coverage import BUCKETS, bucket_counts, lines_table


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
