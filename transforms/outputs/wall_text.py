"""Instants as facility wall-clock text with their UTC offset: ``2026-11-02T09:03:00-0500``.

``administrations.csv`` writes ``start`` / ``end`` this way (the format of
``strftime("%Y-%m-%dT%H:%M:%S%z")``, seconds truncated). The text of every
row has the same 24 characters for years 1000-9999, so it is assembled as a
table of ASCII digits by integer arithmetic (one numpy pass per field)
instead of formatting each timestamp; years outside that range go through
numpy's ISO formatting.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

#: Width of one text: ``YYYY-MM-DDTHH:MM:SS+HHMM``.
_WIDTH = 24
#: (first column, digits) of each number in the text, and the fixed characters between them.
_FIELDS = {"year": (0, 4), "month": (5, 2), "day": (8, 2), "hour": (11, 2), "minute": (14, 2),
           "second": (17, 2), "offset_hours": (20, 2), "offset_minutes": (22, 2)}
_FIXED = {4: "-", 7: "-", 10: "T", 13: ":", 16: ":"}
_SIGN_COLUMN = 19
#: ``00`` .. ``99`` as ASCII bytes, one row per number.
_TWO_DIGITS = np.array([[ord("0") + n // 10, ord("0") + n % 10] for n in range(100)], dtype=np.uint8)


def wall_time_text(stamps: pd.Series, facility_tz: str) -> pd.Series:
    """Instants as facility wall time with their UTC offset (``%Y-%m-%dT%H:%M:%S%z``).

    ``2026-11-02T14:03:00Z`` in ``America/New_York`` -> ``2026-11-02T09:03:00-0500``
    (seconds truncated, as ``strftime`` does). Missing -> missing (NaN).
    Returns object text aligned with ``stamps``.
    """
    cells = wall_time_cells(stamps, facility_tz)
    out = cells.to_numpy(zero_copy_only=False)
    out[cells.is_null().to_numpy(zero_copy_only=False)] = np.nan
    return pd.Series(out, index=stamps.index, dtype=object)


def wall_time_cells(stamps: pd.Series, facility_tz: str) -> pa.Array:
    """:func:`wall_time_text` as an Arrow ``large_string`` array (null where missing), in row order.

    Each distinct instant is formatted once and its text taken for every row
    holding it: the times of a run repeat (whole minutes of a few days).
    """
    codes, text = wall_time_codes(stamps, facility_tz)
    return time_cells(codes, text)


def wall_time_codes(stamps: pd.Series, facility_tz: str) -> tuple[np.ndarray, pa.Array]:
    """The distinct instants of ``stamps`` as wall-time text, and each row's position in it.

    Returns ``(codes, text)``: ``codes`` (int64, one per row, -1 where
    missing) index ``text`` (``large_string``, one per distinct instant);
    :func:`time_cells` of any rows' codes is their :func:`wall_time_cells`.
    """
    if isinstance(stamps.dtype, pd.DatetimeTZDtype):
        utc = stamps.dt.tz_convert("UTC")  # already instants: to_datetime would sample them one by one
    else:
        utc = pd.to_datetime(stamps, utc=True)
    codes, distinct = pd.factorize(utc)  # NaT -> -1
    return codes.astype(np.int64, copy=False), _instants_text(pd.Series(distinct), facility_tz)


def time_cells(codes: np.ndarray, text: pa.Array) -> pa.Array:
    """The text of each code (:func:`wall_time_codes`), null where it is -1."""
    missing = codes < 0
    return text.take(pa.array(codes, mask=missing) if missing.any() else pa.array(codes))


def _instants_text(utc: pd.Series, facility_tz: str) -> pa.Array:
    """The wall-time text of UTC instants (``datetime64[ns, UTC]``), null where missing, in row order."""
    wall = utc.dt.tz_convert(facility_tz).dt.tz_localize(None)
    offset_minutes = (wall - utc.dt.tz_localize(None)).to_numpy(dtype="timedelta64[m]").astype("int64")
    present = utc.notna().to_numpy()
    clock = wall.to_numpy(dtype="datetime64[s]")[present]
    minutes = offset_minutes[present]
    years = clock.astype("datetime64[Y]").astype("int64") + 1970
    if len(clock) and (years.min() < 1000 or years.max() > 9999):
        text = pa.array(_iso_text(clock, minutes), type=pa.large_string())
    else:
        text = _fixed_width_text(clock, minutes, years)
    if present.all():
        return text
    # Rows with a time take their text in order; the others are null.
    return text.take(pa.array(np.cumsum(present) - 1, mask=~present))


def _offset_text(minutes: int) -> str:
    """``-300`` -> ``-0500``."""
    return f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def _iso_text(clock: np.ndarray, minutes: np.ndarray) -> np.ndarray:
    """Any year: numpy's ISO text of the clock and each distinct offset formatted once."""
    distinct = {m: _offset_text(m) for m in pd.unique(minutes)}
    suffix = pd.Series(minutes).map(distinct).to_numpy(dtype=object)
    return np.datetime_as_string(clock, unit="s").astype(object) + suffix


def _fixed_width_text(clock: np.ndarray, minutes: np.ndarray, years: np.ndarray) -> pa.Array:
    """Years 1000-9999: the 24 ASCII characters of each text, two digits at a time from a table."""
    days = clock.astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    seconds_of_day = (clock - days).astype("int64")
    offset = np.abs(minutes)
    pairs = {  # every number as two-digit pairs (the year as two of them)
        "year": (years // 100, years % 100), "month": (months.astype("int64") % 12 + 1,),
        "day": ((days - months.astype("datetime64[D]")).astype("int64") + 1,),
        "hour": (seconds_of_day // 3600,), "minute": (seconds_of_day // 60 % 60,), "second": (seconds_of_day % 60,),
        "offset_hours": (offset // 60,), "offset_minutes": (offset % 60,),
    }
    # Built character position by character position (each a contiguous row), then turned into
    # one text per row by a single transposing copy.
    by_position = np.empty((_WIDTH, len(clock)), dtype=np.uint8)
    for name, (first, _digits) in _FIELDS.items():  # a handful of fields
        for k, pair in enumerate(pairs[name]):
            by_position[first + 2 * k] = _TWO_DIGITS[pair, 0]
            by_position[first + 2 * k + 1] = _TWO_DIGITS[pair, 1]
    for column, character in _FIXED.items():
        by_position[column] = ord(character)
    by_position[_SIGN_COLUMN] = np.where(minutes < 0, ord("-"), ord("+"))
    chars = np.ascontiguousarray(by_position.T)
    offsets = pa.py_buffer(np.arange(0, (len(clock) + 1) * _WIDTH, _WIDTH, dtype=np.int64))
    return pa.LargeStringArray.from_buffers(len(clock), offsets, pa.py_buffer(chars.tobytes()))
