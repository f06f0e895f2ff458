"""CSV exports: column order, ISO times, empty cells, formula neutralising, repeatable bytes."""

from __future__ import annotations

import pandas as pd

from analyzer import schema as s
from analyzer.exports import frame_to_csv, neutralise_formulas, to_iso


def test_iso_times_carry_the_local_offset():
    times = pd.Series(pd.to_datetime(["2003-11-21T14:15:02Z", None], utc=True))
    assert to_iso(times, "America/New_York").tolist() == ["2003-11-21T09:15:02-05:00", ""]


def test_spreadsheet_formulas_are_neutralised():
    cells = pd.Series(["=cmd|' /C calc'!A0", "+1", "-x", "@SUM(1)", "\tx", "mail.example", None])
    assert neutralise_formulas(cells).tolist() == [
        "'=cmd|' /C calc'!A0",
        "'+1",
        "'-x",
        "'@SUM(1)",
        "'\tx",
        "mail.example",
        pd.NA,
    ]


def test_csv_has_empty_cells_integers_and_fixed_order():
    frame = pd.DataFrame(
        {
            s.START: pd.to_datetime(["2003-11-21T14:15:02Z"], utc=True),
            s.HELO: pd.Series([None], dtype="string"),
            s.MESSAGES: [3],
        }
    )
    text = frame_to_csv(frame, [s.MESSAGES, s.START, s.HELO], "UTC")
    assert text == "messages,start,helo\n3,2003-11-21T14:15:02+00:00,\n"
