"""From tables to findings: the context stage, the detectors, the findings."""

from typing import Any

from netdetect.analysis import _old
from netdetect.analysis._old import (
    INTERNAL_DEFAULT,
    AnalysisOptions,
    analyze,
    attribute_names,
    latest_before,
)

__all__ = ["INTERNAL_DEFAULT", "AnalysisOptions", "analyze", "attribute_names", "latest_before"]


def __getattr__(name: str) -> Any:  # interim, while analysis is split into context/detectors/findings
    return getattr(_old, name)
