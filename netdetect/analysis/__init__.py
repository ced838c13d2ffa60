"""From tables to findings: the context stage (context.py, names.py), the detectors
(netdetect.detectors), the findings (netdetect.findings); `analyze` runs them in turn (run.py)."""

from netdetect.analysis.context import (
    INTERNAL_DEFAULT,
    AnalysisContext,
    AnalysisOptions,
    Groups,
    build_context,
    in_networks,
    make_groups,
)
from netdetect.analysis.names import DnsChains, LatestBefore, attribute_names, latest_before
from netdetect.analysis.run import PLOT_DETAIL_TOP, analyze, run_detectors

__all__ = [
    "INTERNAL_DEFAULT",
    "PLOT_DETAIL_TOP",
    "AnalysisContext",
    "AnalysisOptions",
    "DnsChains",
    "Groups",
    "LatestBefore",
    "analyze",
    "attribute_names",
    "build_context",
    "in_networks",
    "latest_before",
    "make_groups",
    "run_detectors",
]
