"""`netdetect events` formats times in bulk; it must give exactly what datetime gives, one by one."""

from __future__ import annotations

import random

from netdetect.cli.events import iso, iso_many


def test_bulk_times_equal_datetime_formatting() -> None:
    rng = random.Random(7)
    stamps = [rng.uniform(0, 4.3e9) for _ in range(20000)]
    # Half-microsecond fractions (rounding ties), a carry into the next second, the epoch itself.
    stamps += [rng.randint(0, 2**32) + k / 1e6 + 5e-7 for k in range(2000)]
    stamps += [1741600800.9999996, 0.0, 1e-7, 5.0]
    assert iso_many(stamps) == [iso(ts) for ts in stamps]


def test_times_datetime_cannot_show_become_null() -> None:
    # A crafted pcapng timestamp can lie centuries away; the line gets null, not a traceback.
    odd = [-1.5, 253402300799.9999999, 1e19, float("inf"), float("nan")]
    assert iso_many(odd) == [iso(ts) for ts in odd]
    assert iso_many(odd)[1:] == [None, None, None, None]
    assert iso(-1.5) == "1969-12-31T23:59:58.500000Z"
