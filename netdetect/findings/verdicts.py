"""Several detectors may speak of one connection group: per group, the main detector (best score; on
a tie the one that runs first) gives the finding's score and timing, and every one gives evidence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from netdetect.arrays import distinct_values
from netdetect.detectors.base import TIMING_FIELDS, Detections


@dataclass
class GroupVerdicts:
    """Columns over `gids` (sorted group ids that some detector scored), shaped like a ScoreTable so
    GroupFacts reads them the same way."""

    gids: np.ndarray
    score: np.ndarray
    beacon: np.ndarray  # score at or above the threshold
    period_s: np.ndarray
    jitter: np.ndarray
    missed_share: np.ndarray
    subscores: dict[str, np.ndarray]  # the beacon detector's columns (nan where it did not score)
    main: np.ndarray  # index into `detections` of each gid's main detector
    detections: list[Detections]
    positions: list[np.ndarray]  # per detection: the gid position of each of its rows

    def evidence(self, entries: np.ndarray) -> list[dict[str, dict[str, Any]]]:
        """Per entry (positions into gids), {detector: its evidence} of every detector that scored it."""
        out: list[dict[str, dict[str, Any]]] = [{} for _ in range(len(entries))]
        slot = np.full(len(self.gids), -1, np.int64)
        slot[entries] = np.arange(len(entries))
        for det, pos in zip(self.detections, self.positions, strict=True):
            rows = np.flatnonzero(slot[pos] >= 0)
            if not len(rows):
                continue
            targets = slot[pos[rows]].tolist()
            for target, record in zip(targets, evidence_records(det, rows), strict=True):
                out[target][det.detector] = record
        return out


def merge_group_detections(detections: list[Detections], threshold: float) -> GroupVerdicts:
    grouped = [d for d in detections if d.groups is not None and len(d)]
    gids = distinct_values(np.concatenate([d.groups for d in grouped])) if grouped else np.zeros(0, np.int64)
    n = len(gids)
    score = np.full(n, -np.inf)
    main = np.full(n, -1, np.int64)
    positions = []
    for k, d in enumerate(grouped):
        pos = np.searchsorted(gids, d.groups)
        positions.append(pos)
        better = d.score > score[pos]  # strictly: on a tie the earlier detector stays main
        score[pos[better]] = d.score[better]
        main[pos[better]] = k
    for k, d in enumerate(grouped):
        # A detector may claim a group outright (a strobe is not also a beacon, as in RITA): its row
        # carries the finding whatever the others scored; theirs stay as evidence.
        claims = d.evidence.get("supersedes_beacon")
        if claims is not None:
            mine = positions[k][np.asarray(claims, bool)]
            score[mine] = d.score[np.asarray(claims, bool)]
            main[mine] = k
    score = np.where(np.isfinite(score), score, 0.0)
    timing = {name: np.full(n, np.nan) for name in TIMING_FIELDS}
    subscores: dict[str, np.ndarray] = {}
    for k, (d, pos) in enumerate(zip(grouped, positions, strict=True)):
        mine = main[pos] == k
        for name in TIMING_FIELDS:
            column = d.evidence.get(name)
            if column is not None:
                timing[name][pos[mine]] = np.asarray(column, np.float64)[mine]
        if d.subscores is not None:
            for name, column in d.subscores.items():
                target = subscores.setdefault(name, np.full(n, np.nan))
                target[pos] = column
    return GroupVerdicts(
        gids,
        score,
        score >= threshold,
        timing["period_s"],
        timing["jitter"],
        timing["missed_share"],
        subscores,
        main,
        grouped,
        positions,
    )


def evidence_records(det: Detections, rows: np.ndarray) -> list[dict[str, Any]]:
    """The evidence of these rows as plain JSON-able dicts, a column at a time (numbers rounded to 4
    places, non-finite ones None)."""
    columns: dict[str, list[Any]] = {"score": _plain_column(det.score[rows])}
    sparse = set()  # text and list columns: a row without a value leaves the key out instead of null
    for name, column in det.evidence.items():
        if isinstance(column, np.ndarray) and column.dtype.kind in "fiub":
            columns[name] = _plain_column(column[rows])
        else:
            columns[name] = [_plain_value(column[i]) for i in rows.tolist()]
            sparse.add(name)
    if det.why is not None:
        columns["why"] = [det.why[i] for i in rows.tolist()]
        sparse.add("why")
    names = list(columns)
    records = [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]
    if sparse:
        for record in records:
            for name in sparse:
                if record[name] is None:
                    del record[name]
    return records


def _plain_column(values: np.ndarray) -> list[Any]:
    if values.dtype.kind == "f":
        out = np.round(values.astype(np.float64), 4).tolist()
        bad = ~np.isfinite(values)
        if bad.any():
            for i in np.flatnonzero(bad).tolist():
                out[i] = None
        return out
    return values.tolist()


def _plain_value(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return (
            _plain_column(value) if value.dtype.kind in "fiub" else [_plain_value(v) for v in value.tolist()]
        )
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return round(v, 4) if np.isfinite(v) else None
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain_value(v) for v in value]
    return value
