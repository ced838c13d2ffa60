"""Value shaping shared by every output format: safe text, UTC timestamps, finite numbers, durations.

Names in findings come from the wire (SNI, DNS, HTTP Host) and are attacker-controlled; anything
a human reads goes through `safe_text` so control characters, terminal escapes and bidi overrides
show up as visible escapes instead of acting on the reader's terminal or page.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal

import numpy as np

# Unicode categories that print nothing visible or act on the display: controls, format (bidi
# overrides, zero-width), surrogates, private use, unassigned, line/paragraph separators.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def safe_text(value: object) -> str:
    """Text with every invisible or display-controlling character shown as a backslash escape.

    A backslash itself becomes `\\\\`, so an escape in the output always means the raw character
    was there (a name containing the four characters `\\x1b` shows as `\\\\x1b`).
    """
    text = str(value)
    if text.isascii() and text.isprintable() and "\\" not in text:
        return text  # fast path: the common case of a plain host name
    out: list[str] = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == " ":
            out.append(ch)
        elif unicodedata.category(ch) in _HIDDEN_CATEGORIES or ch.isspace():
            out.append(_escape_char(ch))
        else:
            out.append(ch)
    return "".join(out)


def display_width(text: str) -> int:
    """Terminal columns taken by already-safe text: wide East Asian glyphs take 2, combining marks 0."""
    if text.isascii():
        return len(text)
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def truncate(text: str, width: int) -> str:
    """Cut already-safe text to at most `width` columns, marking the cut with an ellipsis."""
    if display_width(text) <= width:
        return text
    out: list[str] = []
    used = 0
    for ch in text:
        w = 0 if unicodedata.combining(ch) else (2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


def finite(value: float | int | None) -> float | None:
    """The value as a float, or None when missing, NaN or infinite (JSON has no NaN)."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def rounded(value: float | int | None, digits: int) -> float | None:
    number = finite(value)
    return None if number is None else round(number, digits)


def rounded_list(values: list[float] | list[int], digits: int) -> list[float | None]:
    """`rounded` over a list at numpy speed (histogram edges have dozens of values)."""
    if not values:
        return []
    try:
        array = np.asarray(values, dtype="f8")
    except (TypeError, ValueError):
        return [rounded(value, digits) for value in values]
    result: list[float | None] = np.round(array, digits).tolist()
    if not np.isfinite(array).all():
        result = [value if math.isfinite(value) else None for value in result]  # type: ignore[arg-type]
    return result


def _utc(ts: float | None) -> tuple[datetime, int] | None:
    """Epoch seconds -> (UTC datetime to the second, milliseconds), rounding to the millisecond."""
    number = finite(ts)
    if number is None:
        return None
    millis = round(number * 1000)
    seconds, ms = divmod(millis, 1000)
    try:
        return datetime.fromtimestamp(seconds, UTC), ms
    except (OverflowError, OSError, ValueError):
        return None


@lru_cache(maxsize=1 << 14)  # a finding's times repeat in its intel hits
def iso_utc(ts: float | None) -> str | None:
    """Epoch seconds -> `2023-03-29T10:00:00.123Z`; None for missing or unrepresentable times."""
    parts = _utc(ts)
    if parts is None:
        return None
    moment, ms = parts
    return f"{moment.isoformat()[:19]}.{ms:03d}Z"  # isoformat is C code; strftime formatting is ~5x slower


def eve_time(ts: float | None) -> str | None:
    """Epoch seconds in Suricata's EVE form, `2023-03-29T10:00:00.123456+0000` (UTC)."""
    number = finite(ts)
    if number is None:
        return None
    micros = round(number * 1_000_000)
    seconds, us = divmod(micros, 1_000_000)
    try:
        moment = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{us:06d}+0000"


def human_time(ts: float | None, *, local: bool = False) -> str:
    """A time for people: `2023-03-29 10:00:00Z`, or local time with its UTC offset."""
    parts = _utc(ts)
    if parts is None:
        return "-"
    moment = parts[0]
    if not local:
        return f"{moment:%Y-%m-%d %H:%M:%S}Z"
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S%z")


def human_duration(seconds: float | None) -> str:
    """`45s`, `30m05s`, `4h10m`, `2d03h`; `-` when unknown."""
    number = finite(seconds)
    if number is None or number < 0:
        return "-"
    if number < 10:
        return f"{number:.1f}s"
    whole = round(number)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def human_bytes(count: float | None) -> str:
    number = finite(count)
    if number is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(number) < 1000 or unit == "TB":
            return f"{number:.0f} {unit}" if unit == "B" else f"{number:.1f} {unit}"
        number /= 1000
    return f"{number:.1f} PB"  # unreachable; keeps type checkers content


# Column helpers: the scalar functions above over many values in a few numpy passes, giving exactly
# what the scalar function gives for each value (values numpy cannot handle exactly take the scalar
# path). Used to build the records of many findings at once.

_ISO_MAX_MS = 253402300800000  # 10000-01-01T00:00:00Z in milliseconds: four-digit years only
_EVE_MAX_US = 253402300800000000
_FLOAT_OR_NONE = frozenset({float, type(None)})


def finite_array(values: list) -> np.ndarray:
    """`finite` of each value as a float64 array, NaN where `finite` gives None."""
    if set(map(type, values)) <= _FLOAT_OR_NONE:
        array = np.array(values, dtype=np.float64) if values else np.zeros(0)
    else:
        array = np.array([finite(value) for value in values], dtype=np.float64)
    array[~np.isfinite(array)] = np.nan
    return array


def round_array(array: np.ndarray, digits: int) -> np.ndarray:
    """`round(value, digits)` (Python's: correctly rounded, half-even on the exact value) of each finite
    value, NaN where the value is not finite: `rounded` over a column, None read as NaN.

    numpy's own round scales, rounds to an integer and scales back, which differs from Python's round
    when the scaled value lands next to a tie. Here the scaled value y = x * 10**digits carries an error
    of at most half an ulp of y, so when no half-integer lies within |y| * 1e-15 of y, y and the exact
    x * 10**digits round to the same integer k, and k / 10**digits (one correctly rounded division) is
    the double nearest to the decimal k * 10**-digits: Python's result. Values near a tie, or too large
    for k to be exact, take Python's round."""
    scale = 10.0**digits
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = array * scale
        size = np.abs(scaled)
        safe = (size < 2.0**52) & (np.abs(scaled - np.floor(scaled) - 0.5) > size * 1e-15)
        out = np.rint(scaled) / scale
    finite_mask = np.isfinite(array)
    if not finite_mask.all():
        out[~finite_mask] = np.nan
        safe |= ~finite_mask
    if not safe.all():
        for i in np.flatnonzero(~safe).tolist():
            out.flat[i] = round(float(array.flat[i]), digits)
    return out


def round_many(array: np.ndarray, digits: int) -> list[float | None]:
    """`round_array` as a list, None for NaN."""
    return nan_to_none(round_array(array, digits))


def nan_to_none(array: np.ndarray) -> list:
    """The array as a list, None for NaN."""
    values = array.tolist()
    if np.isnan(array).any():
        return [None if value != value else value for value in values]
    return values


def iso_utc_many(values: list, array: np.ndarray | None = None) -> list[str | None]:
    """`iso_utc` of each value (`array`: their `finite_array`, when at hand)."""
    return _stamps_many(values, array, 1000.0, "ms", _ISO_MAX_MS, "Z", iso_utc)


def eve_time_many(values: list, array: np.ndarray | None = None) -> list[str | None]:
    """`eve_time` of each value (`array`: their `finite_array`, when at hand)."""
    return _stamps_many(values, array, 1_000_000.0, "us", _EVE_MAX_US, "+0000", eve_time)


def _stamps_many(
    values: list,
    array: np.ndarray | None,
    ticks_per_s: float,
    unit: Literal["ms", "us"],
    limit: int,
    suffix: str,
    scalar: Callable[[float | None], str | None],
) -> list[str | None]:
    """`scalar` of each value in one numpy pass, rounded to `unit`; values outside 0..limit ticks (and
    NaN) take `scalar` itself."""
    array = finite_array(values) if array is None else array
    with np.errstate(invalid="ignore", over="ignore"):
        ticks = np.rint(array * ticks_per_s)
        ok = (ticks >= 0) & (ticks < limit)
    stamps = np.where(ok, ticks, 0).astype(np.int64).astype(f"datetime64[{unit}]")
    text = np.datetime_as_string(stamps, unit=unit).tolist()
    out: list[str | None] = [t + suffix for t in text]
    if not ok.all():
        for i in np.flatnonzero(~ok).tolist():
            out[i] = scalar(values[i])
    return out
