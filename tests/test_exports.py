"""CSV exports: column order, ISO times, empty cells, formula neutralising, repeatable bytes."""

from __future__ import annotations

import csv
import io

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer import schema as s
from analyzer.outputs.exports import frame_to_csv, neutralise_formulas, to_iso
from dashboard.components import records


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


ATTACKER_TEXT = st.text(alphabet="=+-@;,\"\r\n\t 'ab1|!", max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(ATTACKER_TEXT, min_size=1, max_size=6))
def test_every_reader_gets_the_rows_back_and_no_formula(helos):
    """Attackers' HELOs with CR, LF, commas, quotes and formula prefixes: Python's csv and
    pandas read back every row whole and every value (but for the ``'`` neutralising a
    formula); read with ``;`` or tab as separator, no cell starts a formula."""
    frame = pd.DataFrame({s.HELO: pd.Series(helos, dtype="string"), s.MESSAGES: range(len(helos))})
    text = frame_to_csv(frame, [s.HELO, s.MESSAGES], "UTC")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(rows) == len(helos) + 1
    for index, ((helo, number), original) in enumerate(zip(rows[1:], helos, strict=True)):
        assert number == str(index)
        assert helo.replace("'", "") == original.replace("'", "")
        assert not helo.startswith(("=", "+", "-", "@", "\t", "\r"))
    # the dashboard's tables show the same cells, without a CSV round trip
    shown = records(frame[[s.HELO]], "UTC")
    assert [r[s.HELO] for r in shown] == [helo for helo, _ in rows[1:]]
    read = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    assert read[s.HELO].str.replace("'", "").tolist() == [h.replace("'", "") for h in helos]
    assert read[s.MESSAGES].tolist() == [str(n) for n in range(len(helos))]
    for separator in (";", "\t"):
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=separator):
            assert not [c for c in row if c.startswith(("=", "+", "@"))], row


def test_control_characters_are_written_as_escapes():
    frame = pd.DataFrame({s.HELO: pd.Series(["x\x00\x1by", "a\rb"]), s.MESSAGES: [1, 2]})
    text = frame_to_csv(frame, [s.HELO, s.MESSAGES], "UTC")
    assert text == 'helo,messages\nx\\x00\\ey,1\n"a\rb",2\n'
