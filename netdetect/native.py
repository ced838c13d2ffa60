"""The optional compiled core: its C modules, loaded when built, and a switch to run without them.

Each C module speeds up one stage whose numpy/Python version stays in the code as the reference:
the same inputs give the same outputs on both (tests compare them on generated packets and the
corpus). `NETDETECT_NATIVE=0` in the environment runs the reference path everywhere, for a
comparison or when a build is suspected.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import numpy as np

ENABLED = os.environ.get("NETDETECT_NATIVE", "1") != "0"
MODULES = (
    "netdetect.capture._records",
    "netdetect.decode._headers",
    "netdetect._flows",
    "netdetect.decode._events",
)


def load(name: str) -> ModuleType | None:
    """The compiled module `name`, or None when it is not built or the core is switched off."""
    if not ENABLED:
        return None
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def column(values: np.ndarray, dtype: type) -> np.ndarray:
    """A column as the C modules read it through the buffer protocol: contiguous and aligned, in this
    dtype (no copy when it already is)."""
    return np.require(values, dtype, ("C", "A"))


def status() -> dict[str, bool]:
    """Which compiled modules this install has (for `netdetect --version` and the CI check)."""
    found = {}
    for name in MODULES:
        try:
            importlib.import_module(name)
            found[name] = True
        except ImportError:
            found[name] = False
    return found
