"""One root exception that says where the problem was (file and line)."""

from __future__ import annotations


class NetdetectError(Exception):
    """Base of every error shown to the user as one line, without a traceback."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        return f"{where}{self.message}"


class CaptureError(NetdetectError):
    """A capture file cannot be opened or is not a capture."""


class IntelError(NetdetectError):
    """An intel or allowlist file (or one line of it) cannot be used."""


class UsageError(NetdetectError):
    """A bad option value."""
