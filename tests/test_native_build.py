"""The compiled core is present where the install was asked to build it (CI: NETDETECT_REQUIRE_NATIVE=1)."""

from __future__ import annotations

import os

import pytest

from netdetect import native


@pytest.mark.skipif(
    os.environ.get("NETDETECT_REQUIRE_NATIVE") != "1",
    reason="NETDETECT_REQUIRE_NATIVE is not set: an install without a C compiler runs the reference path",
)
def test_every_compiled_module_is_built_and_enabled() -> None:
    assert native.enabled(), "NETDETECT_NATIVE=0 is set"
    assert not native.problems(), native.problems()
    missing = [name for name, ok in native.status().items() if not ok]
    assert not missing, f"not built, or refused by their layout check: {missing}"
