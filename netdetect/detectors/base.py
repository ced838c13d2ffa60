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
    # What the detector left unexamined to bound its work, by reason (e.g. rotating: candidate sets
    # too large to be one channel), for the run summary: counted, never silent.
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.score.size)

    def evidence_row(self, i: int) -> dict[str, Any]:
        """Row i's evidence as the finding shows it (plain JSON values, `score` and `why` included)."""
        from netdetect.findings.verdicts import evidence_records

        return evidence_records(self, np.array([i]))[0]

    @staticmethod
    def empty(detector: str, kind: str) -> Detections:
        return Detections(detector, kind, np.zeros(0), groups=np.zeros(0, np.int64))


class Detector(ABC):
    """One way a channel shows itself. Subclasses set `name` (registry key and the finding's
    `detector`), `kind` (the finding's kind when this detector is its main one) and `description`."""

    name: ClassVar[str]
    kind: ClassVar[str]
    description: ClassVar[str]
    # Settings a user may change with `--set NAME.KEY=VALUE`, with their defaults (read them through
    # `self.setting(ctx, key)`).
    settings: ClassVar[dict[str, float]] = {}

    def setting(self, ctx: AnalysisContext, key: str) -> float:
        return float(ctx.options.setting(self.name, key, self.settings[key]))

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
        "strobe": "netdetect.detectors.strobe",
        "rotating": "netdetect.detectors.rotating",
        "dns_beacon": "netdetect.detectors.dns_beacon",
        "dns_tunnel": "netdetect.detectors.dns_tunnel",
    },
)
register = DETECTORS.register


def selected_detectors(names: tuple[str, ...] | list[str]) -> tuple[str, ...] | None:
    """The detectors asked for, in run order (None: all); an unknown name is a UsageError."""
    if not names:
        return None
    for name in names:
        DETECTORS.get(name)
    return tuple(name for name in DETECTORS.names() if name in names)


def parse_settings(items: tuple[str, ...] | list[str]) -> dict[str, dict[str, float]]:
    """`DETECTOR.KEY=VALUE` items as {detector: {key: value}}, each checked against the detector's
    declared settings (UsageError naming the item otherwise)."""
    from netdetect.errors import UsageError

    out: dict[str, dict[str, float]] = {}
    for item in items:
        target, eq, text = item.partition("=")
        name, dot, key = target.partition(".")
        if not eq or not dot:
            raise UsageError(f"--set {item!r}: expected DETECTOR.KEY=VALUE")
        cls = DETECTORS.get(name)
        if key not in cls.settings:
            known = ", ".join(sorted(cls.settings)) or "none"
            raise UsageError(f"--set {item!r}: {name} has no setting {key!r} (its settings: {known})")
        try:
            value = float(text)
        except ValueError:
            raise UsageError(f"--set {item!r}: {text!r} is not a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise UsageError(f"--set {item!r}: {text!r} is not a finite number")
        out.setdefault(name, {})[key] = value
    return out
