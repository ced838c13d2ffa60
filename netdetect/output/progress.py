"""A one-line progress bar on stderr for long scans: bytes read of total, rate and ETA."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

from netdetect.output.text import human_bytes

BAR_WIDTH = 30


def _clock_text(seconds: float) -> str:
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """`Progress(total_bytes, enabled).update(bytes_done)`, then `.close()` (or use as a context).

    Draws only when enabled and the stream is a terminal, so `--quiet`, pipes and CI logs stay
    clean. Redraws at most every `min_interval` seconds: updates per batch cost nothing.
    """

    def __init__(
        self,
        total_bytes: int | None,
        enabled: bool = True,
        *,
        stream: TextIO | None = None,
        min_interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.total = total_bytes if total_bytes and total_bytes > 0 else None
        self.enabled = enabled and _is_tty(self.stream)
        self.min_interval = min_interval
        self.clock = clock
        self.started = clock()
        self.last_draw: float | None = None
        self.done = 0
        self.drawn = False

    def update(self, bytes_done: int) -> None:
        self.done = max(0, int(bytes_done))
        if not self.enabled:
            return
        now = self.clock()
        if self.last_draw is not None and now - self.last_draw < self.min_interval:
            return
        self.last_draw = now
        self.stream.write("\r" + self.line(now) + "\x1b[K")
        self.stream.flush()
        self.drawn = True

    def line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        rate_text = f"{human_bytes(rate)}/s"
        if self.total is None:
            return f"read {human_bytes(self.done)}  {rate_text}"
        share = min(self.done / self.total, 1.0)
        filled = round(share * BAR_WIDTH)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        eta = "--:--" if rate <= 0 else _clock_text((self.total - min(self.done, self.total)) / rate)
        return (
            f"[{bar}] {share:4.0%}  {human_bytes(self.done)} / {human_bytes(self.total)}"
            f"  {rate_text}  ETA {eta}"
        )

    def close(self) -> None:
        """Erase the bar so the table that follows starts on a clean line."""
        if self.enabled and self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
        self.enabled = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or not a real file
        return False
