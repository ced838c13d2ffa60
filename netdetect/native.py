"""The optional compiled core: its C modules, loaded when built, and the one switch between them and
the reference path.

Each C module speeds up one stage whose numpy/Python version stays in the code as the reference:
the same inputs give the same outputs on both (tests compare them on generated packets and the
corpus). Every stage asks `load(name)` when it chooses its path (a reader, a tracker, an extractor
when made; the header decoder per batch), so one switch decides for all of them:

- `NETDETECT_NATIVE=0` in the environment runs the reference path everywhere, for a comparison or
  when a build is suspected;
- `with reference_path():` does the same for what is chosen inside the block (tests make one of each
  path this way and compare them).

`NETDETECT_REQUIRE_NATIVE=1` (CI) makes a failed build an error (setup.py) and a module that is missing
or refused a test failure (tests/test_native_build.py, through `status()`).

A module built from other sources than the Python code it writes rows for (a table's columns changed,
the module not rebuilt) is refused by its layout check, loudly: a `NativeLayoutWarning` on stderr and an
entry in `problems()`, which the extraction counts in its decode errors and warnings.
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType

import numpy as np

MODULES = (
    "netdetect.capture._records",
    "netdetect.decode._headers",
    "netdetect._flows",
    "netdetect.decode._events",
)
# The check of each module that writes or reads Python-declared layouts: "module:function", imported
# when the C module is first loaded; the function returns what disagrees, or None.
CHECKS = {
    "netdetect.decode._events": "netdetect.tables.schema:layout_problem",
    "netdetect.decode._headers": "netdetect.decode.headers:layout_problem",
    "netdetect._flows": "netdetect.flows:layout_problem",
}

_ENV_OFF = os.environ.get("NETDETECT_NATIVE", "1") == "0"
_reference_depth = 0  # open `reference_path()` blocks
_built: dict[str, ModuleType | None] = {}
_problems: dict[str, str] = {}


class NativeLayoutWarning(RuntimeWarning):
    """A compiled module disagrees with the Python code's layouts and is not used."""


def enabled() -> bool:
    """Whether stages choosing their path now take the compiled one (where it is built)."""
    return not _ENV_OFF and not _reference_depth


@contextmanager
def reference_path() -> Iterator[None]:
    """Stages that choose their path inside the block take the reference path."""
    global _reference_depth
    _reference_depth += 1
    try:
        yield
    finally:
        _reference_depth -= 1


def built(name: str) -> ModuleType | None:
    """The compiled module `name` when it is built and passes its layout check, inside
    `reference_path()` too (tests that drive a C module directly use this); None otherwise, and
    always with NETDETECT_NATIVE=0 (as on an install without a C compiler)."""
    if _ENV_OFF:
        return None
    if name not in _built:
        _built[name] = _import_checked(name)
    return _built[name]


def load(name: str) -> ModuleType | None:
    """The compiled module `name` for a stage choosing its path now: None when the switch says
    reference, or when the module is not built or was refused."""
    return None if _reference_depth else built(name)


def problems() -> dict[str, str]:
    """Compiled modules refused by their layout check so far: name -> what disagrees."""
    return dict(_problems)


def _import_checked(name: str) -> ModuleType | None:
    try:
        module = importlib.import_module(name)
    except ImportError:
        return None
    target = CHECKS.get(name)
    if target is not None:
        path, _, attr = target.partition(":")
        check: Callable[[ModuleType], str | None] = getattr(importlib.import_module(path), attr)
        problem = check(module)
        if problem is not None:
            _problems[name] = problem
            warnings.warn(
                f"{name} was built from other sources than this netdetect ({problem}): it is not used, "
                "every stage it speeds up runs the reference path; rebuild it (setup.py build_ext)",
                NativeLayoutWarning,
                stacklevel=4,  # the stage that asked (through load and built)
            )
            return None
    return module


def column(values: np.ndarray, dtype: type) -> np.ndarray:
    """A column as the C modules read it through the buffer protocol: contiguous and aligned, in this
    dtype (no copy when it already is)."""
    return np.require(values, dtype, ("C", "A"))


def status() -> dict[str, bool]:
    """Which compiled modules this install has, built and accepted by their layout check (for
    `netdetect --version` and the CI check)."""
    return {name: built(name) is not None for name in MODULES}
