"""Keeping the cyclic garbage collector out of the bulk stages.

Extraction, analysis and writing make many small acyclic objects (rows, findings, records); with tens
of thousands alive, each cyclic collection walks them all, while reference counting frees them anyway.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collections_paused() -> Iterator[None]:
    """No cyclic collection inside the block (the state before is restored, also after an error)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
