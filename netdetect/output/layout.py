"""How reports for people arrange findings: fleet-wide check-ins folded into one row, and long
connections that are only context in a section of their own. Machine formats keep one record per
finding (with `prevalence`); this is for the terminal table and the HTML report."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from netdetect.model import Finding
from netdetect.output.records import live_hits

FLEET_MIN_HOSTS = 3  # clients of one destination with the same detector and schedule before one row


@dataclass(slots=True)
class Fleet:
    """Findings of several clients about one destination (same detector and port), none with intel."""

    members: list[tuple[int, Finding]]  # (rank, finding), best first

    @property
    def rank(self) -> int:
        return self.members[0][0]

    @property
    def lead(self) -> Finding:
        return self.members[0][1]

    @property
    def clients(self) -> list[str]:
        return list(dict.fromkeys(f.src_ip for _, f in self.members))

    def median(self, name: str) -> float | None:
        values = [v for _, f in self.members if (v := getattr(f, name)) is not None and v == v]
        return statistics.median(values) if values else None

    def label(self) -> str:
        """`40 hosts, period 10m` (the period is the members' median)."""
        from netdetect.output.text import human_duration

        period = self.median("period_s")
        text = f"{len(self.clients)} hosts"
        return text + (f", period {human_duration(period)}" if period is not None else "")


Entry = tuple[int, Finding] | Fleet


def is_context(f: Finding) -> bool:
    """A long connection that nothing else raised: listed apart, as context."""
    return f.detector == "long_connection" and not f.beacon and not live_hits(f)


def arrange(findings: Sequence[Finding]) -> tuple[list[Entry], list[tuple[int, Finding]]]:
    """(entries of the main list in rank order: single findings and fleets; the context findings).
    Ranks are the findings' positions in the report (1-based), so they match the JSONL `rank`."""
    groups: dict[tuple, list[tuple[int, Finding]]] = {}
    context: list[tuple[int, Finding]] = []
    order: list[tuple[int, Finding] | tuple] = []
    for rank, f in enumerate(findings, start=1):
        if is_context(f):
            context.append((rank, f))
            continue
        if f.intel or f.allowlisted:  # an intel match or a suppressed row is never folded away
            order.append((rank, f))
            continue
        key = (f.detector, f.server_name or f.dst_ip or (f.dns_names[0] if f.dns_names else None), f.dst_port)
        if key[1] is None:
            order.append((rank, f))
            continue
        members = groups.get(key)
        if members is None:
            members = groups[key] = []
            order.append(key)
        members.append((rank, f))
    entries: list[Entry] = []
    for item in order:
        if isinstance(item[0], int):
            entries.append(item)  # type: ignore[arg-type]
            continue
        members = groups[item]  # type: ignore[index]
        if len({f.src_ip for _, f in members}) >= FLEET_MIN_HOSTS:
            entries.append(Fleet(members))
        else:
            entries.extend(members)
    entries.sort(key=lambda e: e.rank if isinstance(e, Fleet) else e[0])
    return entries, context
