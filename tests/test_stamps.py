"""Time stamps: civil-date arithmetic against the standard library, RFC 3339 and classic forms."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from analyzer import schema as s
from analyzer.reading import stamps
from tests.conftest import parse_texts


def test_days_from_civil_agrees_with_the_standard_library():
    rng = np.random.default_rng(7)
    ordinals = rng.integers(
        dt.date(1900, 1, 1).toordinal(), dt.date(2100, 12, 31).toordinal(), 2000
    )
    dates = [dt.date.fromordinal(int(o)) for o in ordinals]
    got = stamps.days_from_civil(
        np.array([d.year for d in dates]),
        np.array([d.month for d in dates]),
        np.array([d.day for d in dates]),
    )
    assert (got == np.array([(d - dt.date(1970, 1, 1)).days for d in dates])).all()


@pytest.mark.parametrize(
    ("stamp", "utc"),
    [
        ("2003-11-21T09:15:02-05:00", "2003-11-21T14:15:02.000000"),
        ("2003-11-21T09:15:02.123456-05:00", "2003-11-21T14:15:02.123456"),  # rsyslog's usual
        ("2003-11-21T09:15:02.000001+05:30", "2003-11-21T03:45:02.000001"),  # usual shape too
        ("2003-13-21T09:15:02.123456-05:00", "NaT"),  # usual shape, no such month
        ("2003-11-21T09:15:02.5Z", "2003-11-21T09:15:02.500000"),
        ("2015-12-14T00:06:14+0000", "2015-12-14T00:06:14.000000"),
        ("2025-12-02T07:01:16.393264789+03:00", "2025-12-02T04:01:16.393264"),
        # no offset: wall clock in the configured zone (New York, EST)
        ("2003-11-21T09:15:02", "2003-11-21T14:15:02.000000"),
        ("2003-02-29T09:15:02Z", "NaT"),
        ("2003-11-21T25:15:02Z", "NaT"),
        # Exim's own stamp (read byte by byte): wall clock in the zone, the first of the
        # repeated autumn hour, a spring-forward gap shifted forward, no such day
        ("2003-11-21 09:15:02", "2003-11-21T14:15:02.000000"),
        ("2003-10-26 01:30:00", "2003-10-26T05:30:00.000000"),
        ("2004-04-04 02:30:00", "2004-04-04T07:00:00.000000"),
        ("2003-02-29 09:15:02", "NaT"),
    ],
)
def test_iso_times(stamp: str, utc: str):
    got = stamps.iso_times(pa.chunked_array([[stamp]]), "America/New_York")
    assert np.datetime_as_string(got[0], unit="us") == utc


def test_iso_times_of_mixed_shapes_in_one_array_equal_them_one_by_one():
    # the usual shape is read byte by byte, the others by the general path: merged in place
    texts = [
        "2003-11-21T09:15:02.123456-05:00",
        "2003-11-21T09:15:02Z",
        "2003-11-21T09:15:03.654321+01:00",
        "2003-11-21 09:15:02 -0500",  # Exim's own
        "2003-11-21T09:15:04.000000-05:00",
    ]
    together = stamps.iso_times(pa.chunked_array([texts]), "America/New_York")
    alone = [stamps.iso_times(pa.chunked_array([[t]]), "America/New_York")[0] for t in texts]
    assert [np.datetime_as_string(v, unit="us") for v in together] == [
        "2003-11-21T14:15:02.123456",
        "2003-11-21T09:15:02.000000",
        "2003-11-21T08:15:03.654321",
        "2003-11-21T14:15:02.000000",
        "2003-11-21T14:15:04.000000",
    ]
    assert list(together) == alone


def test_classic_times_and_the_repeated_autumn_hour():
    texts = [
        "Nov 21 09:15:02",
        "Oct 26 01:30:00",
        "Feb 29 10:00:00",
        "Xyz 21 09:15:02",
        "Nov  7 06:25:01.25",
    ]
    fields = stamps.classic_fields(pa.chunked_array([texts]))
    got = stamps.classic_times(fields, np.array([2003, 2003, 2003, 2003, 2003]), "America/New_York")
    assert [np.datetime_as_string(v, unit="s") for v in got] == [
        "2003-11-21T14:15:02",
        "2003-10-26T05:30:00",  # 01:30 happened twice; the first (EDT) is taken
        "NaT",
        "NaT",
        "2003-11-07T11:25:01",
    ]
    assert got[4].astype("datetime64[us]").astype(int) % 1_000_000 == 250_000


# Fast paths against their general paths (hypothesis): the numpy byte readings of the usual
# shapes must give exactly what the general code gives, for every row, in any arrow layout.
STAMPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ZONE = "America/New_York"  # not UTC: stamps without an offset take the localize path
_PAD = "<pad é>"  # bytes beside a slice, so reading past a string's end would show


@st.composite
def arrow_layouts(draw, values_strategy):
    """(values, the same values as arrow strings): string or large_string, sliced out of a
    longer array, or split into chunks (sliced too), some nulls with bytes behind them."""
    values = draw(values_strategy)
    kind = draw(st.sampled_from([pa.string(), pa.large_string()]))
    before, after = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    padded = [_PAD] * before + values + [_PAD] * after
    array = pa.array([v if v is not None else "" for v in padded], kind)
    # a null's slot may keep bytes in the data buffer: arrow allows it, readers must not see it
    rarely = st.integers(0, 4).map(lambda i: i == 0)
    hidden = draw(st.lists(rarely, min_size=len(padded), max_size=len(padded)))
    valid = [v is not None and not h for v, h in zip(padded, hidden, strict=True)]
    bitmap = pa.array(valid, pa.bool_()).buffers()[1]
    array = pa.Array.from_buffers(kind, len(padded), [bitmap, *array.buffers()[1:]])
    values = [
        v if ok else None
        for v, ok in zip(values, valid[before : before + len(values)], strict=True)
    ]
    if draw(st.booleans()):
        return values, array.slice(before, len(values))
    cuts = sorted(draw(st.lists(st.integers(0, len(values)), max_size=4)))
    bounds = [0, *cuts, len(values)]
    chunks = [array.slice(before + a, b - a) for a, b in zip(bounds, bounds[1:], strict=False)]
    if not values and draw(st.booleans()):
        chunks = []  # a chunked array of no chunks at all
    return values, pa.chunked_array(chunks, kind)


def _python_leading_bytes(values: list[str | None], width: int):
    """The reference: each string's UTF-8 bytes, cut or padded with 0 to ``width``."""
    rows = [
        list((v.encode() if v is not None else b"")[:width].ljust(width, b"\0")) for v in values
    ]
    lengths = [len(v.encode()) if v is not None else -1 for v in values]
    return np.array(rows, dtype=np.uint8).reshape(len(values), width), np.array(lengths)


@STAMPS
@given(
    layout=arrow_layouts(
        st.lists(
            st.one_of(st.none(), st.text(st.characters(codec="utf-8"), max_size=12)), max_size=12
        )
    ),
    width=st.integers(0, 40),
)
@example(layout=([], pa.chunked_array([], pa.string())), width=3)
@example(layout=([None, ""], pa.array([None, ""], pa.large_string())), width=1)
def test_leading_bytes_equal_a_python_reading_of_each_string(layout, width):
    values, strings = layout
    matrix, length = stamps.leading_bytes(strings, width)
    want_matrix, want_length = _python_leading_bytes(values, width)
    assert matrix.dtype == np.uint8 and matrix.shape == (len(values), width)
    np.testing.assert_array_equal(matrix, want_matrix)
    np.testing.assert_array_equal(length, want_length)


def _nn(low: int, high: int) -> st.SearchStrategy[str]:
    """Two digits: three times in four from the valid range and just past it (month 13, day
    31 in February, hour 25, second 60 and 61 are in reach), else anything; so most rows of
    the usual shape are real times, and the impossible ones are there too."""
    anywhere = st.integers(0, 3).flatmap(
        lambda pick: st.integers(0, 99) if pick == 0 else st.integers(low, high)
    )
    return anywhere.map("{:02d}".format)


def _digits(low: int, high: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=low, max_size=high)


_sign = st.sampled_from("+-")
_years = st.one_of(
    st.sampled_from([0, 1, 1969, 1970, 2000, 2003, 2024, 2100]), st.integers(0, 9999)
).map("{:04d}".format)
# the general path raises for an offset-less stamp in 9999 that New York puts into 10000
# (pandas cannot localize past datetime.MAXYEAR): keep offset-less years below it
_years_before_9999 = _years.map(lambda y: "9998" if y == "9999" else y)
_dates = st.builds("{}-{}-{}".format, _years_before_9999, _nn(0, 13), _nn(0, 32))
_times = st.builds("{}:{}:{}".format, _nn(0, 25), _nn(0, 61), _nn(0, 61))
_offsets = st.builds(
    "{}{}{}{}".format,
    _sign,
    _nn(0, 14),
    st.sampled_from(["", ":"]),
    st.one_of(st.sampled_from(["00", "30", "45"]), _nn(0, 99)),
)
# rsyslog's high-precision shape, exactly: the one the fast path reads
iso_usual = st.builds(
    "{}-{}-{}T{}.{}{}{}:{}".format,
    _years,
    _nn(0, 13),
    _nn(0, 32),
    _times,
    _digits(6, 6),
    _sign,
    _nn(0, 14),
    st.one_of(st.sampled_from(["00", "30", "45"]), _nn(0, 99)),
)
# everything else SYSLOG_HEADER_ISO and EXIM_HEADER let through, and a little garbage
iso_other = st.one_of(
    st.builds(  # RFC 3339: fraction and zone optional, Z, offsets with or without colon
        "{}T{}{}{}".format,
        _dates,
        _times,
        st.one_of(st.just(""), _digits(1, 9).map(".{}".format)),
        st.one_of(st.sampled_from(["", "Z"]), _offsets),
    ),
    st.builds(  # Exim: "2003-11-21 09:15:02[.123] [-0500]"
        "{} {}{}{}".format,
        _dates,
        _times,
        st.one_of(st.just(""), _digits(1, 6).map(".{}".format)),
        st.one_of(
            st.just(""), st.builds("{}{}{}".format, _sign, _nn(0, 14), _nn(0, 99)).map(" {}".format)
        ),
    ),
    st.builds(  # SYSLOG_HEADER_ISO's loose "T[0-9:.]+(?:Z|[+-][0-9:]+)?"
        "{}T{}{}".format,
        _dates,
        st.text("0123456789:.", min_size=1, max_size=20),
        st.one_of(
            st.sampled_from(["", "Z"]),
            st.builds("{}{}".format, _sign, st.text("0123456789:", min_size=1, max_size=7)),
        ),
    ),
    st.sampled_from(
        [
            None,
            "",
            "garbage",
            "2003-11-21",
            "2003-11-21T",
            "T09:15:02Z",
            "2003/11/21T09:15:02Z",
            "2003-11-21X09:15:02.123456+05:00",
            "2003-11-21T09:15:02.123456+05:00 ",
            " 2003-11-21T09:15:02.123456+05:00",
            "2003-11-21T09:15:02.123456Z+05:00",
        ]
    ),
)


def _mixed(usual, other) -> st.SearchStrategy[list]:
    """The usual shape and the others, interleaved in one array."""
    return st.tuples(st.lists(usual, max_size=10), st.lists(other, max_size=14)).flatmap(
        lambda parts: st.permutations(parts[0] + parts[1])
    )


# one of each: usual, no fraction, Z, +0000, Exim's own, usual again, nothing
_SHAPES = [
    "2003-11-21T09:15:02.123456-05:00",
    "2003-11-21T09:15:02",
    "2003-11-21T09:15:02.5Z",
    "2015-12-14T00:06:14+0000",
    "2003-11-21 09:15:02 -0500",
    "2003-11-21T09:15:04.000000+05:30",
    None,
]


# Exim's own stamps, read byte by byte: the repeated hour, a gap, no such day, hour 24
_EXIM = [
    "2003-10-26 01:30:00",
    "2004-04-04 02:30:00",
    "2003-02-29 09:15:02",
    "2003-11-21 24:00:00",
    "2003-11-21 09:15:02.5",
    "2003-11-21 09:15:02",
]


def _as_text(times: np.ndarray) -> list[str]:
    return list(np.datetime_as_string(times, unit="us"))  # NaT reads "NaT" on both sides


@STAMPS
@given(layout=arrow_layouts(_mixed(iso_usual, iso_other)))
@example(
    layout=(["2003-11-21T09:15:02.123456-05:00"], pa.array(["2003-11-21T09:15:02.123456-05:00"]))
)
@example(
    layout=(["2003-02-29T09:15:02.123456+14:00"], pa.array(["2003-02-29T09:15:02.123456+14:00"]))
)
@example(
    layout=(["2004-02-29T23:59:60.999999-00:30"], pa.array(["2004-02-29T23:59:60.999999-00:30"]))
)
@example(
    layout=(["9999-12-31T23:59:59.999999-99:99"], pa.array(["9999-12-31T23:59:59.999999-99:99"]))
)
@example(layout=(_SHAPES, pa.chunked_array([_SHAPES[:2], _SHAPES[2:]])))
@example(layout=(_EXIM, pa.chunked_array([_EXIM[:1], _EXIM[1:]])))
def test_iso_times_fast_path_equals_the_general_path(layout):
    _, strings = layout
    fast = stamps.iso_times(strings, ZONE)
    general = stamps._any_iso_times(strings, ZONE)
    assert fast.dtype == general.dtype == np.dtype("datetime64[us]")
    assert _as_text(fast) == _as_text(general)


_month_names = st.one_of(
    st.sampled_from(stamps.MONTHS),
    st.sampled_from(["nov", "NOV", "jAN", "Xyz", "Foo", "sep"]),
    st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=3, max_size=3),
)
_classic_days = st.one_of(st.integers(0, 39).map("{:2d}".format), _nn(0, 32))  # " 7" and "07"
# "Mmm dd hh:mm:ss": the one the fast path reads
classic_usual = st.builds("{} {} {}".format, _month_names, _classic_days, _times)
# everything else SYSLOG_HEADER_CLASSIC lets through ("[0-9:]{8}(?:\.[0-9]+)?"), and garbage
classic_other = st.one_of(
    st.builds(
        "{} {} {}{}".format,
        _month_names,
        _classic_days,
        st.one_of(_times, st.text("0123456789:", min_size=8, max_size=8)),
        st.one_of(st.just(""), _digits(1, 20).map(".{}".format)),
    ),
    st.sampled_from(
        [
            None,
            "",
            "Nov",
            "Nov 21",
            "Nov 21 09:15",
            "Nov 21 09:15:0",
            "Nov 21 09:15:02.",
            "Nov 21 09:15:02 ",
            "Nov 21 09:15:02 mail1",
            "Nov-21-09:15:02",
            "Nov 2109:15:02 ",
            "1ov 21 09:15:02",
            "Nov 2x 09:15:02",
            "Nov 21 09-15-02",
            "Nov 21 09:15:02.25",
        ]
    ),
)


@STAMPS
@given(layout=arrow_layouts(_mixed(classic_usual, classic_other)))
@example(
    layout=(
        ["Nov  7 06:25:01", "Nov 07 06:25:01"],
        pa.array(["Nov  7 06:25:01", "Nov 07 06:25:01"]),
    )
)
def test_classic_fields_fast_path_equals_the_general_path(layout):
    _, strings = layout
    fast = stamps.classic_fields(strings)
    general = stamps._any_classic_fields(strings)
    assert len(fast) == len(general) == 6
    for name, got, want in zip(
        ("month", "day", "hour", "minute", "second", "microsecond"), fast, general, strict=True
    ):
        np.testing.assert_array_equal(got, want, err_msg=name)


def test_classic_fields_dtypes_equal_the_general_path():
    # the month was int32 (pc.index_in) on the general path, int64 on the fast one
    strings = pa.chunked_array([["Nov 21 09:15:02"]])  # the usual shape: the fast path
    fast = stamps.classic_fields(strings)
    general = stamps._any_classic_fields(strings)
    assert [a.dtype for a in fast] == [a.dtype for a in general]


def test_a_zoneless_stamp_past_the_year_9999_is_no_time_not_a_crash():
    # New York's 9999-12-31 19:00 is 10000-01-01 in UTC: beyond Python's datetime, where
    # pandas localizes; it raised NotImplementedError and stopped the whole parse
    iso = stamps.iso_times(
        pa.chunked_array([["9999-12-31T19:00:00", "2003-11-21T09:15:02"]]), "America/New_York"
    )
    assert [np.datetime_as_string(v, unit="s") for v in iso] == ["NaT", "2003-11-21T14:15:02"]
    classic = stamps.classic_times(
        stamps.classic_fields(pa.chunked_array([["Dec 31 23:00:00"]])),
        np.array([9999]),
        "America/New_York",
    )
    assert np.isnat(classic[0])


def test_a_line_with_a_time_no_zone_can_show_is_malformed_and_its_neighbours_parse():
    # the second is UTC 10000-01-01 by its own offset: exports and pages convert every time
    # to the local zone, and that raised for it (a traceback from `export` and `ingest`)
    events = parse_texts(
        [
            "9999-12-31T23:59:59 mail1 postfix/smtpd[1]: connect from a.example[100.64.0.1]",
            "9999-12-31T23:59:59-05:00 mail1 postfix/smtpd[2]: connect from a.example[100.64.0.1]",
            "0001-01-01T00:00:00+05:00 mail1 postfix/smtpd[3]: connect from a.example[100.64.0.1]",
            "2003-11-21T09:15:02 mail1 postfix/smtpd[4]: connect from b.example[100.64.0.2]",
        ],
        timezone="America/New_York",
    ).sort_values(s.LINE_NO)
    assert events[s.EVENT].tolist() == [s.EV_MALFORMED] * 3 + [s.EV_CONNECT]
