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
    assert native.ENABLED, "NETDETECT_NATIVE=0 is set"
    missing = [name for name, built in native.status().items() if not built]
    assert not missing, f"not built: {missing}"
