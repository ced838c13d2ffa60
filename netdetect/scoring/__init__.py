"""Beacon scoring: periodicity of each group's connections, with RITA-compatible sub-scores."""

from netdetect.scoring.histogram import interval_histogram, interval_histograms
from netdetect.scoring.score import DEFAULT_THRESHOLD, MIN_EVENTS, ScoreTable, score_groups

__all__ = [
    "DEFAULT_THRESHOLD",
    "MIN_EVENTS",
    "ScoreTable",
    "interval_histogram",
    "interval_histograms",
    "score_groups",
]
