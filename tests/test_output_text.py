"""Value shaping shared by all output formats."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netdetect.output.text import (
    display_width,
    eve_time,
    finite,
    human_duration,
    human_time,
    iso_utc,
    rounded,
    safe_text,
    truncate,
)

START = 1680084000.0  # 2023-03-29T10:00:00Z


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("msstorageboxes.com", "msstorageboxes.com"),
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        ("a\nb\rc\td", "a\\x0ab\\x0dc\\x09d"),
        ("evil\u202etxt.exe", "evil\\u202etxt.exe"),  # bidi override (Trojan Source)
        ("zero\u200bwidth", "zero\\u200bwidth"),
        ("back\\slash", "back\\\\slash"),
        ("nbsp\u00a0here", "nbsp\\xa0here"),
        ("caf\u00e9.example", "caf\u00e9.example"),  # printable non-ASCII stays readable
        ("\x9b31m", "\\x9b31m"),  # C1 CSI
        ("\ud800lone", "\\ud800lone"),  # lone surrogate (surrogateescape'd bytes)
        ("with space", "with space"),
    ],
)
def test_safe_text_escapes_invisible_and_control_characters(raw: str, shown: str) -> None:
    assert safe_text(raw) == shown


@given(st.text())
def test_safe_text_output_is_printable_and_reversible_in_length(raw: str) -> None:
    shown = safe_text(raw)
    assert shown.isprintable()
    assert "\x1b" not in shown
    assert len(shown) >= len(raw)


def test_times_are_utc_iso_with_milliseconds() -> None:
    assert iso_utc(START + 0.1234) == "2023-03-29T10:00:00.123Z"
    assert iso_utc(START + 59.9996) == "2023-03-29T10:01:00.000Z"  # rounding carries into the minute
    assert eve_time(START + 0.1234567) == "2023-03-29T10:00:00.123457+0000"
    assert iso_utc(float("nan")) is None
    assert iso_utc(float("inf")) is None
    assert iso_utc(1e20) is None  # beyond datetime's range
    assert iso_utc(None) is None
    assert eve_time(float("nan")) is None


def test_human_time_utc_and_local(monkeypatch: pytest.MonkeyPatch) -> None:
    assert human_time(START) == "2023-03-29 10:00:00Z"
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    import time

    time.tzset()
    try:
        assert human_time(START, local=True) == "2023-03-29 15:30:00+0530"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert human_time(float("nan")) == "-"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (float("nan"), "-"),
        (-1.0, "-"),
        (2.5, "2.5s"),
        (45, "45s"),
        (1830, "30m30s"),
        (90, "1m30s"),
        (3 * 3600 + 600, "3h10m"),
        (2 * 86400 + 3 * 3600, "2d03h"),
    ],
)
def test_human_duration(seconds: float | None, text: str) -> None:
    assert human_duration(seconds) == text


def test_finite_and_rounded_drop_nan_and_infinity() -> None:
    assert finite(float("nan")) is None
    assert finite(float("-inf")) is None
    assert finite("x") is None  # type: ignore[arg-type]
    assert finite(3) == 3.0
    assert rounded(0.123456, 3) == 0.123
    assert rounded(math.nan, 3) is None


def test_display_width_and_truncate_count_wide_glyphs() -> None:
    assert display_width("abc") == 3
    assert display_width("\u4e2d\u6587") == 4
    assert display_width("e\u0301") == 1  # combining accent takes no column
    assert truncate("abcdefghij", 5) == "abcd…"
    assert truncate("abc", 5) == "abc"
    assert display_width(truncate("\u4e2d" * 10, 7)) <= 7
