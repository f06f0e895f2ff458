"""Time stamps: civil-date arithmetic against the standard library, RFC 3339 and classic forms."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from analyzer import stamps


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
