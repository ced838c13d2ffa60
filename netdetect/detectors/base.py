"""The detector interface: an analysis context in, one row per detected subject out.

A detector reads only the context (`netdetect.analysis.context.AnalysisContext`: tables, groups,
names, coverage, intel by group), never packets, so it runs unchanged on a capture, a sensor window,
a Parquet partition or tables built from Zeek logs. Findings are built once from every detector's
rows (`netdetect.findings`).

Two kinds of subject:
- connection groups (`groups` set): row i speaks of ctx.groups id groups[i]; several detectors may
  speak of one group, the finding shows each one's evidence and takes the best score;
- anything else (`subjects` set), e.g. (client, registered domain) for the DNS detectors: the rows
  carry their own identity.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from netdetect.registry import Registry

if TYPE_CHECKING:
    from netdetect.analysis.context import AnalysisContext

# Evidence columns with these names are lifted to the finding's top-level fields of the same name
# when the detector is the finding's main one.
TIMING_FIELDS = ("period_s", "jitter", "missed_share")


@dataclass
class Subjects:
    """Identity of rows that are not connection groups (one entry per row)."""

    client: np.ndarray  # S16 addresses (v4-mapped), like the tables'
    name: list[str | None]  # what the row is about, e.g. a registered domain
    first_seen: np.ndarray  # f8 epoch s
    last_seen: np.ndarray  # f8
    count: np.ndarray  # i8: events behind the row (lookups, connections)
    dns_names: list[list[str]] = field(default_factory=list)  # example names, for the finding
    dst_ips: list[list[str]] = field(default_factory=list)  # server addresses seen, most used first
    dst_port: list[int | None] = field(default_factory=list)
    times: list[np.ndarray] | None = None  # per row: event times (for plots), optional


@dataclass
class Detections:
    """One detector's result: per row a score in 0..1 and evidence columns (one value per row)."""

    detector: str
    kind: str
    score: np.ndarray  # f8
    groups: np.ndarray | None = None  # i8 ctx group ids, for connection-group subjects
    subjects: Subjects | None = None  # for any other subject
    evidence: dict[str, np.ndarray | list[Any]] = field(default_factory=dict)
    why: list[str] | None = None  # per row: one short clause a person can act on ("holds 1 connection 3h")
    # Per row, other ctx group ids that belong to the same subject (rotating C2: every address).
    members: list[np.ndarray] | None = None
    subscores: dict[str, np.ndarray] | None = None  # the beacon detector's historic sub-score columns

    def __len__(self) -> int:
        return int(self.score.size)

    def evidence_row(self, i: int) -> dict[str, Any]:
        """Evidence of row i as plain JSON-able values (non-finite numbers become None)."""
        out: dict[str, Any] = {"score": _plain(self.score[i])}
        for name, column in self.evidence.items():
            out[name] = _plain(column[i])
        return out

    @staticmethod
    def empty(detector: str, kind: str) -> Detections:
        return Detections(detector, kind, np.zeros(0), groups=np.zeros(0, np.int64))


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return round(v, 4) if np.isfinite(v) else None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class Detector(ABC):
    """One way a channel shows itself. Subclasses set `name` (registry key and the finding's
    `detector`), `kind` (the finding's kind when this detector is its main one) and `description`."""

    name: ClassVar[str]
    kind: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    def run(self, ctx: AnalysisContext) -> Detections:
        """Score what this detector looks for. Detectors run in registry order; `ctx.results` holds
        the detections of those that ran before (a detector may use them as evidence)."""


# Name -> module; detectors run in this order (later ones may read earlier ones' results). Each
# detector module adds its line here.
DETECTORS: Registry[Detector] = Registry(
    "detector",
    {
        "beacon": "netdetect.detectors.beacon",
        "heartbeat": "netdetect.detectors.heartbeat",
        "long_connection": "netdetect.detectors.long_connection",
    },
)
register = DETECTORS.register
