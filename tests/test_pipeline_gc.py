"""Extraction raises the GC threshold only while it runs, and gives the caller's setting back."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

import netdetect.capture.inputs as inputs
from netdetect.errors import CaptureError
from netdetect.pipeline import extract_files


def test_gc_threshold_is_raised_while_extracting_and_restored_after_a_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = gc.get_threshold()
    seen: list[tuple[int, int, int]] = []

    def failing_batches(paths: list[str], stats: dict | None = None) -> Iterator[object]:
        seen.append(gc.get_threshold())
        raise CaptureError("cut short", path=paths[0])
        yield  # a generator, like the real one

    monkeypatch.setattr(inputs, "iter_batches", failing_batches)
    with pytest.raises(CaptureError):
        extract_files(["x.pcap"])
    assert seen and seen[0][0] >= 20_000
    assert gc.get_threshold() == before
