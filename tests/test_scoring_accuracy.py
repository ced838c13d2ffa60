"""A small version of benchmarks/beacon_accuracy.py with asserted floors."""

from __future__ import annotations

import numpy as np
import pytest

from netdetect.scoring.evaluate import CorpusResult, evaluate, roc_auc
from netdetect.scoring.synthetic import BEACON_KINDS, ORDINARY_KINDS, labeled_corpus


@pytest.fixture(scope="module")
def result() -> CorpusResult:
    return evaluate(labeled_corpus(seed=2024, beacons_per_window=16, ordinary_per_window=32))


def test_corpus_covers_every_class(result: CorpusResult) -> None:
    kinds = set(result.kind)
    assert set(BEACON_KINDS) <= kinds and set(ORDINARY_KINDS) <= kinds
    levels = {lv for lv, lab in zip(result.level, result.label, strict=True) if lab}
    assert {"±1%", "±10%", "±30%", "±50%", "-30%", "-50%"} <= levels


def test_default_verdict_floors(result: CorpusResult) -> None:
    nd = result.netdetect
    assert nd.recall >= 0.9
    assert nd.false_positive_rate <= 0.02
    assert nd.precision >= 0.95
    assert nd.roc_auc >= 0.98
    assert result.period_within(0.1) >= 0.9


def test_beats_rita_formula(result: CorpusResult) -> None:
    nd, low, high = result.netdetect, result.rita_low, result.rita_high
    assert low.false_positive_rate >= 0.1  # RITA's 0.7 flags steady ordinary traffic ...
    assert nd.false_positive_rate < low.false_positive_rate / 5
    assert nd.recall > high.recall + 0.3  # ... and its 0.9 misses check-ins
    assert nd.roc_auc > low.roc_auc


def test_heavy_jitter_recall(result: CorpusResult) -> None:
    assert result.netdetect.recall_by["±50%"] >= 0.8
    assert result.netdetect.recall_by["-50%"] >= 0.8


def test_roc_auc_counts_ties_half() -> None:
    label = np.array([True, False, True, False])
    assert roc_auc(np.array([0.9, 0.1, 0.8, 0.2]), label) == 1.0
    assert roc_auc(np.array([0.1, 0.9, 0.2, 0.8]), label) == 0.0
    assert roc_auc(np.array([0.5, 0.5, 0.5, 0.5]), label) == 0.5
