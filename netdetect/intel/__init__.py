"""Threat intel: feed loaders, the pack format, the matcher (IntelStore) and batch event matching."""

from netdetect.intel.indicator import Indicator, normalize_name, refang
from netdetect.intel.loaders import LOADERS, LoadResult, PackInfo, load_path, sniff_format
from netdetect.intel.match import match_events
from netdetect.intel.store import IntelStore, Match, bundled_signatures_dir

__all__ = [
    "LOADERS",
    "Indicator",
    "IntelStore",
    "LoadResult",
    "Match",
    "PackInfo",
    "bundled_signatures_dir",
    "load_path",
    "match_events",
    "normalize_name",
    "refang",
    "sniff_format",
]
