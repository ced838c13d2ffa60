"""Accuracy of a score against labeled groups: recall, false positives, precision, ROC AUC."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from netdetect.scoring.score import ScoreTable, score_groups
from netdetect.testing.series import SyntheticSet


@dataclass(slots=True)
class Verdicts:
    name: str
    recall: float
    false_positive_rate: float
    precision: float
    roc_auc: float
    recall_by: dict[str, float]  # by jitter level
    false_positives_by: dict[str, int]  # by kind of ordinary traffic
    recall_by_kind: dict[str, float]  # by kind of check-in series


def roc_auc(score: np.ndarray, label: np.ndarray) -> float:
    """Probability that a random positive outranks a random negative (ties count half)."""
    pos, neg = int(label.sum()), int((~label).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    order = np.argsort(score, kind="stable")
    ranks = np.empty(score.size)
    sorted_scores = score[order]
    # average ranks over ties
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [score.size]])
    avg = (starts + ends - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, ends - starts)
    return float((ranks[label].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def verdicts(
    name: str, score: np.ndarray, flagged: np.ndarray, label: np.ndarray, level: list[str], kind: list[str]
) -> Verdicts:
    tp = int((flagged & label).sum())
    fp = int((flagged & ~label).sum())
    pos, neg = int(label.sum()), int((~label).sum())
    levels = sorted({lv for lv, lab in zip(level, label, strict=True) if lab})
    level_arr, kind_arr = np.array(level), np.array(kind)
    recall_by = {lv: float(flagged[label & (level_arr == lv)].mean()) for lv in levels}
    fp_by = {k: int((flagged & ~label & (kind_arr == k)).sum()) for k in sorted(set(kind_arr[~label]))}
    recall_by_kind = {k: float(flagged[label & (kind_arr == k)].mean()) for k in sorted(set(kind_arr[label]))}
    return Verdicts(
        name=name,
        recall=tp / pos if pos else float("nan"),
        false_positive_rate=fp / neg if neg else float("nan"),
        precision=tp / (tp + fp) if tp + fp else float("nan"),
        roc_auc=roc_auc(score, label),
        recall_by=recall_by,
        false_positives_by=fp_by,
        recall_by_kind=recall_by_kind,
    )


@dataclass(slots=True)
class CorpusResult:
    tables: list[ScoreTable]
    label: np.ndarray
    score: np.ndarray
    rita: np.ndarray
    period_est: np.ndarray
    period_true: np.ndarray
    level: list[str]
    kind: list[str]
    netdetect: Verdicts
    rita_low: Verdicts
    rita_high: Verdicts

    def period_within(self, tolerance: float = 0.1) -> float:
        """Share of detected beacons whose estimated period is within `tolerance` of the truth."""
        hit = self.label & (self.score >= self.tables[0].threshold)
        err = np.abs(self.period_est[hit] / self.period_true[hit] - 1.0)
        return float((err <= tolerance).mean()) if hit.any() else float("nan")


def evaluate(corpus: list[SyntheticSet]) -> CorpusResult:
    """Score every scenario and compare netdetect's verdict with RITA's formula at 0.7 and 0.9."""
    tables = [
        score_groups(s.group, s.ts, s.bytes_out, s.bytes_in, s.duration, s.n_groups, window=s.window)
        for s in corpus
    ]
    label = np.concatenate([s.label for s in corpus])
    score = np.concatenate([t.score for t in tables])
    beacon = np.concatenate([t.beacon for t in tables])
    rita = np.concatenate([t.subscores["rita_score"] for t in tables])
    level = [lv for s in corpus for lv in s.jitter_level]
    kind = [k for s in corpus for k in s.kind]
    return CorpusResult(
        tables=tables,
        label=label,
        score=score,
        rita=rita,
        period_est=np.concatenate([t.period_s for t in tables]),
        period_true=np.concatenate([s.period_s for s in corpus]),
        level=level,
        kind=kind,
        netdetect=verdicts("netdetect (default)", score, beacon, label, level, kind),
        rita_low=verdicts("RITA >= 0.7", rita, rita >= 0.7, label, level, kind),
        rita_high=verdicts("RITA >= 0.9", rita, rita >= 0.9, label, level, kind),
    )
