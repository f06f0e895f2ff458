"""Syslog time stamps -> UTC, by integer arithmetic on fixed-position slices.

Classic stamps (``Nov 21 09:15:02``, maybe ``.123456``) have no year and no zone; RFC 3339
stamps (``2003-11-21T09:15:02.123456-05:00``) carry both, or only the first. Parsing a
million stamps with ``pd.to_datetime`` costs about a second; slicing fixed positions and
computing days from the civil date with numpy costs a few hundredths.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_US_PER_S = 1_000_000
# Exim writes "2003-11-21 09:15:02 -0500": the zone may follow a space.
_ISO_TAIL = r"^(?:\.(?P<fraction>[0-9]{1,9}))? ?(?P<zone>Z|[+-][0-9]{2}:?[0-9]{2})?$"
NAT = np.datetime64("NaT", "us")


def _number(stamps: pa.ChunkedArray, start: int, stop: int) -> np.ndarray:
    """Digits at [start, stop) as int64; -1 where they are not all digits."""
    part = pc.utf8_trim_whitespace(pc.utf8_slice_codeunits(stamps, start, stop))
    digits = pc.and_(pc.utf8_is_digit(part), pc.greater(pc.utf8_length(part), 0))
    value = pc.cast(pc.if_else(digits, part, pa.scalar(None, part.type)), pa.int64())
    return pc.fill_null(value, -1).to_numpy()


def _micro(fraction: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """ "5" -> 500000, "123456789" -> 123456, null -> 0."""
    padded = pc.utf8_rpad(pc.utf8_slice_codeunits(pc.fill_null(fraction, ""), 0, 6), 6, "0")
    return pc.cast(padded, pa.int64()).to_numpy()


def days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm)."""
    y = year - (month <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = (month + 9) % 12
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _valid(year, month, day, hour, minute, second) -> np.ndarray:
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    length = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(month, 1, 12) - 1]
    length = length + (leap & (month == 2))
    return (
        (month >= 1)
        & (month <= 12)
        & (day >= 1)
        & (day <= length)
        & (hour >= 0)
        & (hour < 24)
        & (minute >= 0)
        & (minute < 60)
        & (second >= 0)
        & (second < 61)
    )


def _epoch_us(year, month, day, hour, minute, second, micro) -> np.ndarray:
    """Wall-clock fields -> microseconds since the epoch (as if UTC); NaT where invalid."""
    ok = _valid(year, month, day, hour, minute, second)
    days = days_from_civil(year, np.clip(month, 1, 12), day)
    seconds = ((days * 24 + hour) * 60 + minute) * 60 + np.minimum(second, 59)
    out = (seconds * _US_PER_S + micro).astype("datetime64[us]")
    out[~ok] = NAT
    return out


# Times any time zone can show: pandas converts zones through Python's datetime, which ends
# with the year 9999 (a day of slack either side for the offset). A stamp outside (damaged
# or forged: "9999-12-31T23:59:59-05:00") is no time, or it would stop every page and export.
TIME_RANGE = (np.datetime64("0001-01-02", "us"), np.datetime64("9999-12-30", "us"))


def in_time_range(times: np.ndarray) -> np.ndarray:
    """True where ``times`` (``datetime64[us]``) lie in ``TIME_RANGE`` (NaT: false)."""
    return (times >= TIME_RANGE[0]) & (times <= TIME_RANGE[1])


def localize(wall: np.ndarray, timezone: str) -> np.ndarray:
    """Wall-clock times in ``timezone`` -> UTC (``datetime64[us]``, naive, UTC meant); NaT
    outside ``TIME_RANGE`` (a damaged or forged year must not stop a run).

    In the repeated autumn hour we cannot know which of the two was meant: the first wins.
    """
    if timezone in ("UTC", "Etc/UTC"):
        return wall
    inside = in_time_range(wall)
    utc = np.full(len(wall), NAT)
    if inside.any():
        index = pd.DatetimeIndex(wall[inside])
        aware = index.tz_localize(
            timezone, ambiguous=np.ones(len(index), dtype=bool), nonexistent="shift_forward"
        )
        utc[inside] = aware.tz_convert("UTC").tz_localize(None).to_numpy().astype("datetime64[us]")
    return utc


def leading_bytes(strings: pa.Array | pa.ChunkedArray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``width`` bytes of each string (rows x ``width``, 0 past its end or for
    nulls) and each string's length in bytes (-1 for nulls), read from the arrow buffers."""
    array = strings.combine_chunks() if isinstance(strings, pa.ChunkedArray) else strings
    n = len(array)
    offset_type = np.int64 if pa.types.is_large_string(array.type) else np.int32
    offsets = np.frombuffer(array.buffers()[1], dtype=offset_type)[
        array.offset : array.offset + n + 1
    ]
    data = array.buffers()[2]
    length = (offsets[1:] - offsets[:-1]).astype(np.int64)
    length[~array.is_valid().to_numpy(zero_copy_only=False)] = -1
    if data is None or n == 0 or len(data) == 0:
        return np.zeros((n, width), dtype=np.uint8), length
    body = np.frombuffer(data, dtype=np.uint8)
    where = offsets[:-1, None].astype(np.int64) + np.arange(width)
    np.minimum(where, len(body) - 1, out=where)
    matrix = body[where]
    if (length < width).any():  # past a string's end: 0, not the next string's bytes
        matrix *= np.arange(width) < length[:, None]
    return matrix, length


def _fits(matrix: np.ndarray, template: str) -> np.ndarray:
    """Rows whose bytes follow ``template``: "9" a digit, "+" a sign, "a" a letter, "_" a
    space or a digit (space-padded days), anything else itself."""
    ok = np.ones(len(matrix), dtype=bool)
    for column, want in enumerate(template):
        byte = matrix[:, column]
        if want == "9":
            ok &= (byte >= 48) & (byte <= 57)
        elif want == "+":
            ok &= (byte == 43) | (byte == 45)
        elif want == "a":
            ok &= ((byte >= 65) & (byte <= 90)) | ((byte >= 97) & (byte <= 122))
        elif want == "_":
            ok &= (byte == 32) | ((byte >= 48) & (byte <= 57))
        else:
            ok &= byte == ord(want)
    return ok


def _digits(matrix: np.ndarray, start: int, stop: int) -> np.ndarray:
    """The number in columns [start, stop) of rows known to hold digits there (or a leading
    space, read as 0)."""
    value = np.zeros(len(matrix), dtype=np.int64)
    for column in range(start, stop):
        value = value * 10 + np.maximum(matrix[:, column].astype(np.int64) - 48, 0)
    return value


# The usual shapes, read with numpy byte arithmetic; other shapes take the general path.
ISO_USUAL = "9999-99-99T99:99:99.999999+99:99"  # rsyslog's RFC 3339 high-precision stamps
EXIM_USUAL = "9999-99-99 99:99:99"  # Exim's own stamp, without log_timezone: wall clock
CLASSIC_USUAL = "aaa _9 99:99:99"  # "Nov  7 06:25:00"
_MONTH_CODES = np.array([(ord(m[0]) << 16) | (ord(m[1]) << 8) | ord(m[2]) for m in MONTHS])


def iso_times(stamps: pa.ChunkedArray | pa.Array, timezone: str) -> np.ndarray:
    """RFC 3339 (and Exim's "YYYY-MM-DD HH:MM:SS[ -0500]") stamps -> UTC; stamps without an
    offset are wall clock in ``timezone``."""
    matrix, length = leading_bytes(stamps, len(ISO_USUAL))
    usual = (length == len(ISO_USUAL)) & _fits(matrix, ISO_USUAL)
    exim = (length == len(EXIM_USUAL)) & _fits(matrix, EXIM_USUAL)
    if not (usual.any() or exim.any()):
        return _any_iso_times(stamps, timezone)
    out = np.full(len(matrix), NAT)
    if usual.any():
        rows = matrix[usual]
        wall = _epoch_us(*_date_and_time(rows), _digits(rows, 20, 26))
        sign = np.where(rows[:, 26] == ord("-"), -1, 1)
        offset_min = sign * (_digits(rows, 27, 29) * 60 + _digits(rows, 30, 32))
        out[usual] = wall - (offset_min * 60 * _US_PER_S).astype("timedelta64[us]")
    if exim.any():
        rows = matrix[exim]
        out[exim] = localize(_epoch_us(*_date_and_time(rows), 0), timezone)
    other = ~(usual | exim)
    if other.any():
        out[other] = _any_iso_times(_rows(stamps, other), timezone)
    return out


def _date_and_time(rows: np.ndarray) -> list[np.ndarray]:
    """Year, month, day, hour, minute, second of rows of bytes in "9999-99-99?99:99:99"."""
    return [_digits(rows, a, b) for a, b in ((0, 4), (5, 7), (8, 10), (11, 13), (14, 16), (17, 19))]


def _rows(strings: pa.Array | pa.ChunkedArray, mask: np.ndarray) -> pa.Array:
    return strings.filter(pa.array(mask))


def _any_iso_times(stamps: pa.ChunkedArray | pa.Array, timezone: str) -> np.ndarray:
    """``iso_times`` for any shape its pattern admits (fraction and zone optional)."""
    fields = [
        _number(stamps, a, b) for a, b in ((0, 4), (5, 7), (8, 10), (11, 13), (14, 16), (17, 19))
    ]
    tail = pc.extract_regex(pc.utf8_slice_codeunits(stamps, 19, 64), _ISO_TAIL)
    micro = _micro(pc.struct_field(tail, "fraction"))
    wall = _epoch_us(*fields, micro)
    wall[~tail.is_valid().to_numpy(zero_copy_only=False)] = NAT
    zone = pc.struct_field(tail, "zone")
    has_zone = pc.fill_null(pc.greater(pc.utf8_length(zone), 0), False).to_numpy(
        zero_copy_only=False
    )
    digits = pc.replace_substring(pc.replace_substring(zone, "Z", "+0000"), ":", "")
    sign = np.where(
        pc.fill_null(pc.starts_with(digits, "-"), False).to_numpy(zero_copy_only=False), -1, 1
    )
    offset_min = sign * (
        np.maximum(_number(digits, 1, 3), 0) * 60 + np.maximum(_number(digits, 3, 5), 0)
    )
    utc = wall - (offset_min * 60 * _US_PER_S).astype("timedelta64[us]")
    if (~has_zone).any():
        utc[~has_zone] = localize(wall[~has_zone], timezone)
    return utc


def classic_fields(stamps: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, ...]:
    """(month, day, hour, minute, second, microsecond) of classic stamps; month 0 if unknown."""
    matrix, length = leading_bytes(stamps, len(CLASSIC_USUAL))
    usual = (length == len(CLASSIC_USUAL)) & _fits(matrix, CLASSIC_USUAL)
    if not usual.any():
        return _any_classic_fields(stamps)
    rows = matrix[usual].astype(np.int64)
    code = (rows[:, 0] << 16) | (rows[:, 1] << 8) | rows[:, 2]
    month = np.zeros(len(rows), dtype=np.int64)
    for number, month_code in enumerate(_MONTH_CODES, start=1):
        month[code == month_code] = number
    parts = (
        month,
        *(_digits(rows, a, a + 2) for a in (4, 7, 10, 13)),
        np.zeros(len(rows), np.int64),
    )
    fields = tuple(np.zeros(len(matrix), dtype=np.int64) for _ in parts)
    for whole, part in zip(fields, parts, strict=True):
        whole[usual] = part
    if not usual.all():
        for whole, part in zip(fields, _any_classic_fields(_rows(stamps, ~usual)), strict=True):
            whole[~usual] = part
    return fields


def _any_classic_fields(stamps: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, ...]:
    """``classic_fields`` for any shape (fractions of a second, damaged fields, a day
    without its padding space: "Jul 2 12:24:48")."""
    stamps = pc.replace_substring_regex(
        stamps, r"^([A-Za-z]{3}) ([0-9]) ", r"\1  \2 ", max_replacements=1
    )
    names = pc.utf8_slice_codeunits(stamps, 0, 3)
    month = pc.fill_null(pc.index_in(names, pa.array(MONTHS)), -1).to_numpy().astype(np.int64) + 1
    day = _number(stamps, 4, 6)
    hour, minute, second = (_number(stamps, a, a + 2) for a in (7, 10, 13))
    fraction = pc.struct_field(
        pc.extract_regex(
            pc.utf8_slice_codeunits(stamps, 15, 32), r"^(?:\.(?P<fraction>[0-9]{1,9}))?$"
        ),
        "fraction",
    )
    return month, day, hour, minute, second, _micro(fraction)


def classic_times(fields: tuple[np.ndarray, ...], year: np.ndarray, timezone: str) -> np.ndarray:
    """Classic stamp fields and a year per line -> UTC (NaT where the date is impossible)."""
    month, day, hour, minute, second, micro = fields
    wall = _epoch_us(year, month, day, hour, minute, second, micro)
    ok = ~np.isnat(wall)
    utc = np.full(len(wall), NAT)
    if ok.any():
        utc[ok] = localize(wall[ok], timezone)
    return utc
